"""rtplan side of the inverse-planning benchmark on the TG-119 C-shape.

Usage (rtplan's own environment)::

    python benchmarks/inverse/rtplan_tg119_opt.py --grid-mm 5 --data /tmp/inv   # pyRadPlan's
    python benchmarks/inverse/rtplan_tg119_opt.py --grid-mm 5 --synthetic --out /tmp/inv

With ``--data`` it reads the TG119 CT, structures, isocentre and pyRadPlan's optimised dose
exported by ``prp_tg119_opt.py``; with ``--synthetic`` it builds a TG-119-like C-shape in
water (core radius 10 mm, a 5 mm gap, target outer radius 37 mm, 80 mm long). Same five
6 MV beams (gantry 0, 72, 144, 216, 288 deg), 5 mm bixels, the same dose-grid spacing.

It runs :func:`rtplan.planning.inverse_plan` with the published TG-119 C-shape goals
(PTV D95 >= 50 Gy, PTV D10 <= 55 Gy, Core D10 <= 25 Gy, 25 fractions), times each stage
(influence matrix and fluence optimisation together are what pyRadPlan's
``calc_dose_influence`` + ``fluence_optimization`` do), records the influence matrix's
memory and the tracemalloc peak, recomputes the delivered plan with the collapsed cone,
evaluates the goals with :func:`rtplan.evaluate.evaluate_goals` on every dose (rtplan's
optimised, delivered pencil-beam and collapsed-cone doses, and pyRadPlan's), and draws
the DVHs, the fluence maps and the segment count per beam.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np

import rtplan
from rtplan.evaluate import evaluate_goals
from rtplan.planning import InverseOptions, inverse_plan

GOALS = ["PTV D95 >= 50 Gy", "PTV D10 <= 55 Gy", "Core D10 <= 25 Gy"]
GANTRY = [0.0, 72.0, 144.0, 216.0, 288.0]


def _synthetic(grid_mm: float) -> tuple[rtplan.Image, dict[str, rtplan.Structure], None, None]:
    n = round(200.0 / grid_mm) // 2 * 2 + 1
    nz = round(120.0 / grid_mm) // 2 * 2 + 1
    half, half_z = (n - 1) / 2 * grid_mm, (nz - 1) / 2 * grid_mm
    grid = rtplan.Grid(shape=(nz, n, n), spacing_mm=(grid_mm,) * 3,
                       origin_mm=(-half, -half, -half_z))  # fmt: skip
    c = grid.centers_mm()
    x, y, z = c[..., 0], c[..., 1], c[..., 2]
    r = np.hypot(x, y)
    body = r <= 100.0
    along = np.abs(z) <= 40.0
    core = (r <= 10.0) & along
    target = (r >= 15.0) & (r <= 37.0) & ~((np.abs(x) <= 10.0) & (y < 0)) & along
    ct = rtplan.Image(array=np.where(body, 0, -1000).astype(np.int16), grid=grid, units="HU",
                      patient_position="HFS")  # fmt: skip
    structures = {
        "PTV": rtplan.Structure.from_mask(target, grid, name="PTV"),
        "Core": rtplan.Structure.from_mask(core, grid, name="Core"),
    }
    return ct, structures, None, None


def _prp(path: Path) -> tuple[rtplan.Image, dict[str, rtplan.Structure], rtplan.Dose, tuple]:
    d = np.load(path)
    sx, sy, sz = (float(v) for v in d["spacing_xyz"])
    grid = rtplan.Grid(shape=d["hu"].shape, spacing_mm=(sz, sy, sx),
                       origin_mm=tuple(float(v) for v in d["origin_xyz"]))  # fmt: skip
    ct = rtplan.Image(array=d["hu"], grid=grid, units="HU", patient_position="HFS")
    structures = {
        "PTV": rtplan.Structure.from_mask(d["outer_target"], grid, name="PTV"),
        "Core": rtplan.Structure.from_mask(d["core"], grid, name="Core"),
    }
    prp = rtplan.Dose(array=d["prp_dose"].astype(np.float64), grid=grid, fractions=25)
    return ct, structures, prp, tuple(float(v) for v in d["isocenter"])


def _load() -> float:
    """The machine's 1-minute load average (other jobs share its cores)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _measured(dose: rtplan.Dose, structures: dict[str, rtplan.Structure]) -> list[float]:
    return [float(r.measured) for r in evaluate_goals(GOALS, dose, structures.values(), 50.0)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid-mm", type=float, default=5.0)
    parser.add_argument("--data", type=Path, default=None, help="folder of prp_tg119_opt.py")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--levels", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--engine", default="pencil-beam", help="segment correction, final dose")
    parser.add_argument("--aim-percent", type=float, default=3.0)
    parser.add_argument("--modulation-weight", type=float, default=None)
    parser.add_argument("--room-percent", type=float, default=None)
    parser.add_argument("--beams", type=int, default=5, help="equispaced beams (5, 7, 9)")
    args = parser.parse_args()
    gantry = [360.0 * k / args.beams for k in range(args.beams)]
    g = args.grid_mm
    if args.synthetic:
        ct, structures, prp, iso = _synthetic(g)
        out = args.out
    else:
        ct, structures, prp, iso = _prp(args.data / f"tg119_{g:g}mm.npz")
        out = args.data
        if args.beams != 5:
            prp = None  # the peer's plan has five beams
    out.mkdir(parents=True, exist_ok=True)
    extra = {} if args.modulation_weight is None else {"modulation_weight": args.modulation_weight}
    if args.room_percent is not None:
        extra["room_percent"] = args.room_percent
    options = InverseOptions(grid_mm=g, bixel_mm=5.0, isocenter_mm=iso,
                             max_iterations=args.iterations, levels=args.levels,
                             rounds=args.rounds, aim_percent=args.aim_percent,
                             engine=args.engine, **extra)  # fmt: skip
    inverse_plan(
        ct,
        structures.values(),
        GOALS,
        gantry_angles_deg=GANTRY[:1],
        prescription_gy=50.0,
        fractions=25,
        options=InverseOptions(grid_mm=g, max_iterations=2, rounds=1),
    )  # warm-up (jit)
    load0 = _load()
    tracemalloc.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    result = inverse_plan(ct, structures.values(), GOALS, gantry_angles_deg=gantry,
                          prescription_gy=50.0, fractions=25, options=options)  # fmt: skip
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t = time.perf_counter()
    ccc = rtplan.compute_dose(result.plan, ct, engine="collapsed-cone", grid_mm=g)
    t_ccc = time.perf_counter() - t
    inf = result.influence
    report = {
        "grid_mm": g,
        "beams": args.beams,
        "modulation_weight": options.modulation_weight,
        "aim_percent": options.aim_percent,
        "room_percent": options.room_percent,
        "phantom": "synthetic TG-119-like" if args.synthetic else "pyRadPlan TG119",
        "bixels": int(inf.matrix.shape[1]),
        "voxels": int(inf.matrix.shape[0]),
        "influence_nnz": int(inf.matrix.nnz),
        "influence_mib": inf.nbytes / 2**20,
        "dropped_fraction": inf.dropped_fraction,
        "timings_s": result.timings,
        "influence_plus_fluence_s": result.timings["influence"] + result.timings["fluence"],
        "influence_plus_fluence_cpu_s": result.timings["influence_cpu"]
        + result.timings["fluence_cpu"],
        "load_average_1min_before_after": [load0, _load()],
        "total_s": wall,
        "cpu_s": cpu,
        "tracemalloc_peak_mib": traced / 2**20,
        "fluence_iterations": result.fluence.iterations,
        "segments": result.n_segments,
        "segments_per_beam": [len(b.segments) for b in result.plan.beams],
        "total_mu": result.plan.total_mu,
        "collapsed_cone_s": t_ccc,
        "goals": GOALS,
        "rtplan_optimised": [c.optimized for c in result.comparison],
        "engine": args.engine,
        f"rtplan_delivered_{args.engine.replace('-', '_')}": [
            c.delivered for c in result.comparison
        ],
        "rtplan_delivered_collapsed_cone": _measured(ccc, structures),
    }
    if prp is not None:
        report["pyradplan_optimised"] = _measured(prp, structures)
        peer = json.loads((args.data / f"prp_opt_{g:g}mm.json").read_text())
        report["speedup_influence_plus_fluence_wall"] = (
            peer["total_s"] / report["influence_plus_fluence_s"]
        )
        report["speedup_influence_plus_fluence_cpu"] = (
            peer["cpu_s"] / report["influence_plus_fluence_cpu_s"]
        )
    (out / f"rtplan_opt_{g:g}mm{_suffix(args)}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    _figures(out, g, result, ccc, prp, structures, _suffix(args))


def _tag(beams: int) -> str:
    """Suffix of the output files: none for the five beams of the peer comparison."""
    return "" if beams == 5 else f"_{beams}beams"


def _suffix(args: argparse.Namespace) -> str:
    """Suffix of the output files: beams other than five, a room other than the default."""
    room = "" if args.room_percent is None else f"_room{args.room_percent:g}"
    return _tag(args.beams) + room


def _figures(out: Path, g: float, result, ccc, prp, structures, tag: str) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    doses = {f"rtplan delivered ({result.plan_dose.engine})": result.plan_dose.dose,
             "rtplan delivered (collapsed cone)": ccc}  # fmt: skip
    if prp is not None:
        doses["pyRadPlan optimised"] = prp
    styles = ["-", "--", ":"]
    for (label, dose), style in zip(doses.items(), styles, strict=False):
        for name, colour in (("PTV", "tab:red"), ("Core", "tab:blue")):
            h = rtplan.dvh(dose, structures[name])
            x, v = h.curve()
            ax.plot(x, v, style, color=colour, label=f"{name}: {label}")
    ax.axvline(50.0, color="grey", lw=0.5)
    ax.axvline(25.0, color="grey", lw=0.5)
    ax.set_xlabel("dose (Gy)")
    ax.set_ylabel("volume (%)")
    ax.set_title(f"TG-119 C-shape, {len(result.plan.beams)} beams, {g:g} mm grid")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"dvh_{g:g}mm{tag}.png", dpi=120)
    plt.close(fig)
    fig, axes = plt.subplots(1, len(result.sequenced), figsize=(3 * len(result.sequenced), 3))
    for ax, seq in zip(np.atleast_1d(axes), result.sequenced, strict=True):
        im = ax.imshow(seq.delivered, origin="lower", cmap="viridis")
        ax.set_title(f"{seq.beam.name}: {seq.n_segments} seg.", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.7, label="MU")
    fig.tight_layout()
    fig.savefig(out / f"fluence_{g:g}mm{tag}.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
