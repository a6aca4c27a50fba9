"""Geant4 Monte Carlo reference doses for rtplan's engines (6 MV, SSD 100 cm, point source).

Usage (from the repository root, with rtplan-geant4 installed in the environment)::

    nice -n 19 .venv/bin/python benchmarks/dose/mc/run_reference.py --case all
    .venv/bin/python benchmarks/dose/mc/run_reference.py --list

Each case is simulated until the mean relative uncertainty (1 sigma, independent batches)
of its central-axis bins between 30 and 200 mm depth reaches ``--uncertainty`` percent
(default 1.0) for 5 mm bins (the water cases; 1.41 % for the 2.5 mm bins of the slab
cases, the same photons per mm of depth), or ``--max-histories``; its result is written to
``results/<case>.json`` (the thigh also to ``results/thigh_10x10.npz``). Cases with a
result are skipped (``--force`` reruns them), so an interrupted run resumes.

The source is rtplan's 6X beam model: its spectrum after the commissioning filtration
(energy-fluence shares turned into a photon-number spectrum), a point source at 100 cm and
a perfect jaw aperture (no focal spot, head scatter or transmission). Doses are dose to
medium per unit open-field energy fluence on the axis at the isocentre plane (MeV/g per
MeV/cm²), averaged over each bin (energy in the bin over its mass).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from phantoms import (
    CASES,
    SLABS,
    THIGH_GRID_MM,
    Bins,
    Case,
    case_beam,
    case_bins,
    case_ct,
    image_digest,
)
from rtplan_geant4 import (
    MaterialSpec,
    MeshSpec,
    MeshTally,
    SimulationSettings,
    SolidSpec,
    beam_source,
    simulate,
    simulate_beam,
    tissue_material,
)

import rtplan
from rtplan.dose import load_machine, prepare_setup

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
log = logging.getLogger("run_reference")
UNIT = "MeV/g per MeV/cm2 of open-field energy fluence on the axis at the isocentre plane"


def _materials(case: Case) -> tuple[list[MaterialSpec], list[SolidSpec]]:
    w, d = case.width_mm, 350.0
    if case.kind == "water":
        mats = [MaterialSpec(name="water", density_g_cm3=1.0, nist="G4_WATER")]
    else:
        mats = [tissue_material(0.0, "background")]
    solids = [
        SolidSpec(
            shape="box", centre_mm=(0.0, d / 2, 0.0), half_mm=(w / 2, d / 2, w / 2), material=0
        )
    ]
    if case.kind in SLABS:
        y0, y1, hu = SLABS[case.kind]
        mats.append(tissue_material(hu, case.kind))
        solids.append(
            SolidSpec(
                shape="box",
                centre_mm=(0.0, (y0 + y1) / 2, 0.0),
                half_mm=(w / 2, (y1 - y0) / 2, w / 2),
                material=1,
                parent=0,
            )
        )
    return mats, solids


def _density_at_depth(case: Case, mats: list[MaterialSpec], y: np.ndarray) -> np.ndarray:
    rho = np.full(y.shape, mats[0].density_g_cm3)
    if case.kind in SLABS:
        y0, y1, _ = SLABS[case.kind]
        rho[(y > y0) & (y < y1)] = mats[1].density_g_cm3
    return rho


def _mesh(b: Bins) -> MeshSpec:
    lo = np.array([b.x_edges[0], b.y_edges[0], b.z_edges[0]])
    hi = np.array([b.x_edges[-1], b.y_edges[-1], b.z_edges[-1]])
    c, h = (lo + hi) / 2, (hi - lo) / 2
    return MeshSpec(
        name=b.name,
        centre_mm=tuple(c.tolist()),
        half_mm=tuple(h.tolist()),
        bins=(len(b.x_edges) - 1, len(b.y_edges) - 1, len(b.z_edges) - 1),
    )


def _cax_measure(case: Case, bins: list[Bins], mats: list[MaterialSpec]):  # type: ignore[no-untyped-def]
    pdd = next(b for b in bins if b.name == "pdd")
    _, yc, _ = pdd.centres
    sel = yc <= 200.0

    def measure(tallies: dict[str, MeshTally]) -> float:
        t = tallies["pdd"]
        m, s = t.mean_mev[0, :, 0][sel], t.sigma_mev[0, :, 0][sel]
        if np.any(m <= 0):
            return float("inf")
        return float(100 * np.mean(s / m))

    return measure


def run_slab_case(case: Case, args: argparse.Namespace) -> dict:
    machine = load_machine("6X")
    beam = case_beam(case)
    r = beam.beam_to_patient("HFS")
    source = beam_source(
        beam,
        machine,
        source_mm=beam.source_mm("HFS"),
        axis=-r[:, 2],
        ex=r[:, 0],
        ey=r[:, 1],
        source_model=case.source,
    )
    mats, solids = _materials(case)
    bins = case_bins(case)
    settings = SimulationSettings(
        # the target holds for 5 mm bins; finer bins get the same photons per mm of depth
        uncertainty_percent=args.uncertainty * float(np.sqrt(5.0 / case.pdd_step_mm)),
        max_histories=args.max_histories,
        first_round_histories=args.first_round,
        batches=10,
        seed=case.seed,
        photons_per_event=10,
        cut_mm=0.1,
        processes=args.processes,
    )
    t0 = time.time()

    def progress(frac: float, msg: str) -> None:
        log.info("%s: %s (%.0f s)", case.name, msg, time.time() - t0)

    res = simulate(
        source=source,
        materials=mats,
        solids=solids,
        meshes=[_mesh(b) for b in bins],
        settings=settings,
        uncertainty=_cax_measure(case, bins, mats),
        progress=progress,
    )
    meshes = {}
    for b in bins:
        t = res.tallies[b.name]
        _, yc, _ = b.centres
        vol_cm3 = (
            np.diff(b.x_edges)[:, None, None]
            * np.diff(b.y_edges)[None, :, None]
            * np.diff(b.z_edges)[None, None, :]
            / 1000.0
        )
        mass = vol_cm3 * _density_at_depth(case, mats, yc)[None, :, None]
        scale = 1.0 / (mass * res.energy_fluence_per_photon)
        meshes[b.name] = {
            "x_edges_mm": b.x_edges.tolist(),
            "y_edges_mm": b.y_edges.tolist(),
            "z_edges_mm": b.z_edges.tolist(),
            "density_g_cm3": _density_at_depth(case, mats, yc).tolist(),
            "dose": (t.mean_mev * scale).tolist(),
            "sigma": (t.sigma_mev * scale).tolist(),
        }
    return {
        "case": {
            "name": case.name,
            "kind": case.kind,
            "field_mm": case.field_mm,
            "width_mm": case.width_mm,
            "seed": case.seed,
        },
        "materials": [m.to_json() for m in mats],
        "image_sha256": image_digest(case_ct(case)),
        "unit": UNIT,
        "meshes": meshes,
        **_run_summary(res, machine),
    }


def _run_summary(res, machine, source: str = "point") -> dict:  # type: ignore[no-untyped-def]
    return {
        "source": {
            "machine": machine.name,
            "model": source,
            "sad_mm": 1000.0,
            "spectrum": machine.spectrum_source[:120] + "...",
            "energy_fluence_per_photon_mev_cm2": res.energy_fluence_per_photon,
        },
        "geant4": {
            "geant4_pybind": version("geant4_pybind"),
            "geant4": "11.4.p01",
            "physics": "G4EmStandardPhysics_option3",
            "cut_mm": 0.1,
            "dataless": res.dataless,
            "removed_processes": list(res.removed_processes),
        },
        "photons": res.photons,
        "batches": len(res.batch_photons),
        "uncertainty_percent": res.uncertainty_percent,
        "cpu_seconds": res.cpu_seconds,
        "wall_seconds": res.wall_seconds,
        "rtplan": rtplan.__version__,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def run_thigh_case(case: Case, args: argparse.Namespace) -> dict:
    machine = load_machine("6X")
    ct = case_ct(case)
    setup = prepare_setup(ct, grid_mm=THIGH_GRID_MM)
    beam = case_beam(case)
    t0 = time.time()

    def progress(frac: float, msg: str) -> None:
        log.info("%s: %s (%.0f s)", case.name, msg, time.time() - t0)

    settings = SimulationSettings(
        uncertainty_percent=args.thigh_uncertainty,
        max_histories=args.max_histories,
        first_round_histories=args.first_round,
        batches=10,
        seed=case.seed,
        photons_per_event=10,
        cut_mm=0.1,
        processes=args.processes,
    )
    res = simulate_beam(
        beam, setup, machine, settings=settings, source_model="point", progress=progress
    )
    g = setup.grid
    np.savez_compressed(
        args.results / f"{case.name}.npz",
        dose=res.dose,
        sigma=res.sigma,
        density_g_cm3=res.density_g_cm3,
        shape=np.asarray(g.shape),
        spacing_mm=np.asarray(g.spacing_mm),
        origin_mm=np.asarray(g.origin_mm),
        direction=np.asarray(g.direction),
        ct_hu=np.asarray(ct.array),
        ct_spacing_mm=np.asarray(ct.grid.spacing_mm),
        ct_origin_mm=np.asarray(ct.grid.origin_mm),
    )
    return {
        "case": {
            "name": case.name,
            "kind": case.kind,
            "field_mm": case.field_mm,
            "grid_mm": THIGH_GRID_MM,
            "seed": case.seed,
        },
        "image_sha256": image_digest(ct),
        "unit": UNIT,
        "dose_file": f"{case.name}.npz",
        "mean_uncertainty_above_half_max_percent": res.relative_uncertainty_percent,
        **_run_summary(res.simulation, machine),
    }


def _markdown_status(cases: list[Case], results: Path) -> str:
    rows = [
        "| case | photons | batches | mean CAX sigma 30-200 mm | max | CPU (s) | wall (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        path = results / f"{c.name}.json"
        if not path.is_file():
            rows.append(f"| {c.name} | not run | | | | | |")
            continue
        r = json.loads(path.read_text())
        if c.kind == "thigh":
            sig = f"{r['mean_uncertainty_above_half_max_percent']:.1f} % (4 mm voxels > 50 %)"
            worst = ""
        else:
            m = r["meshes"]["pdd"]
            yc = 0.5 * (np.asarray(m["y_edges_mm"][1:]) + np.asarray(m["y_edges_mm"][:-1]))
            rel = np.asarray(m["sigma"])[0, :, 0] / np.asarray(m["dose"])[0, :, 0]
            rel = 100 * rel[yc <= 200.0]
            step = c.pdd_step_mm
            sig, worst = f"{rel.mean():.2f} % ({step:g} mm bins)", f"{rel.max():.2f} %"
        rows.append(
            f"| {c.name} | {r['photons'] / 1e6:.1f} M | {r['batches']} | {sig} | {worst} "
            f"| {r['cpu_seconds']:.0f} | {r['wall_seconds']:.0f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", default="all", help="case name, comma-separated names, or 'all'")
    p.add_argument("--list", action="store_true", help="list the cases and their status")
    p.add_argument("--markdown", action="store_true", help="with --list: a markdown table")
    p.add_argument("--force", action="store_true", help="rerun cases that have a result")
    p.add_argument("--uncertainty", type=float, default=1.0, help="target, percent (1 sigma)")
    p.add_argument(
        "--thigh-uncertainty",
        type=float,
        default=4.0,
        help="target for the thigh's 4 mm voxels above half the maximum",
    )
    p.add_argument("--max-histories", type=int, default=60_000_000)
    p.add_argument("--first-round", type=int, default=1_000_000)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.results.mkdir(exist_ok=True)
    ordered = sorted(CASES.values(), key=lambda c: c.priority)
    if args.list and args.markdown:
        print(_markdown_status(ordered, args.results))
        return 0
    if args.list:
        for c in ordered:
            path = args.results / f"{c.name}.json"
            state = "missing"
            if path.is_file():
                r = json.loads(path.read_text())
                state = (
                    f"{r['photons']:.3g} photons, {r['uncertainty_percent']:.2f} %, "
                    f"{r['cpu_seconds']:.0f} s CPU"
                )
            print(f"{c.priority:3d} {c.name:14s} {state}")
        return 0
    names = [c.name for c in ordered] if args.case == "all" else args.case.split(",")
    for name in names:
        case = CASES[name]
        path = args.results / f"{name}.json"
        if path.is_file() and not args.force:
            log.info("%s: done already (%s)", name, path.name)
            continue
        log.info("%s: starting", name)
        out = run_thigh_case(case, args) if case.kind == "thigh" else run_slab_case(case, args)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(out) + "\n", encoding="utf-8")
        tmp.replace(path)
        log.info(
            "%s: %d photons, %.2f %%, %.0f s CPU -> %s",
            name,
            out["photons"],
            out["uncertainty_percent"],
            out["cpu_seconds"],
            path.name,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
