"""rtplan's dose engines against the Geant4 Monte Carlo reference.

Usage (after ``run_reference.py``; from the repository root)::

    nice -n 19 .venv/bin/python benchmarks/dose/mc/compare.py --readme
    .venv/bin/python benchmarks/dose/mc/compare.py --engines collapsed-cone --no-plots

For every reference case in ``results/`` it computes the same phantom (``phantoms.py``)
with each engine through ``rtplan.dose.calculate`` (the machine ``6X-MC``, the 6X spectrum
and kernels with the reference's point source, and a 2.5 mm dose grid by default;
``--machine 6X`` adds the clinical head model), averages the engine's dose to medium over
the Monte Carlo's scoring bins (trilinear values at 0.5 mm x 1 mm sub-points of each bin),
and prints the comparison table (markdown; also written to ``comparison.md`` and
``comparison.json``; with ``--readme`` into ``README.md``) and the plots (``plots/*.png``).
Normalisations are those of the table: depth doses in percent of their maximum (a
parabola through the bins within 5 mm of the highest), slab/homogeneous ratios at equal
depth, penumbra from profiles normalised to the central third, surface dose as
the 0-2.5 mm bins in percent of the maximum, out-of-field dose 2-5 cm outside the
geometric field edge at 10 cm depth in percent of the central dose.

A second table tests the acceptance criterion, 2 % (local) or 2 mm, bin by bin
(``composite_test``): depth doses from 5 mm depth on (water in percent of the maximum,
tissue, bone and lung slabs as absolute dose per unit fluence), profiles at 10 cm above
20 % of the centre, and the thigh by a 3D local gamma; with the pass rate the Monte Carlo's
noise alone allows and the failures beyond its 2 sigma (``README.md`` says how).

Monte Carlo uncertainties are 1 sigma (batch method); differences are the engine's value
minus (or over) the Monte Carlo's.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from phantoms import (
    CASES,
    FEMUR_CENTRE_MM,
    FEMUR_RADIUS_MM,
    SLABS,
    Bins,
    Case,
    case_beam,
    case_ct,
    image_digest,
)

import rtplan
from rtplan import Grid, Image
from rtplan.dose import calculate, engine_calibration, load_machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
HARDENING = "collapsed-cone-hardening"
"""Engine name for the collapsed cone with ``hardening=True`` (``--engines``)."""
log = logging.getLogger("compare")
RNG = np.random.default_rng(20250601)


# --------------------------------------------------------------------------- data
@dataclass
class Curve:
    """Values (and 1-sigma uncertainties) at bin centres, with the bin edges."""

    edges: np.ndarray
    value: np.ndarray
    sigma: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])


def load_mc(name: str, results: Path) -> dict | None:
    path = results / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def mesh_bins(mesh: dict, name: str) -> Bins:
    return Bins(
        name,
        np.asarray(mesh["x_edges_mm"]),
        np.asarray(mesh["y_edges_mm"]),
        np.asarray(mesh["z_edges_mm"]),
    )


def mc_depth_curve(mc: dict) -> Curve:
    """Central-axis depth dose: the 1 mm build-up bins, then the deeper bins."""
    parts = [mc["meshes"]["pdd_buildup"], mc["meshes"]["pdd"]]
    edges = np.concatenate([parts[0]["y_edges_mm"][:-1], parts[1]["y_edges_mm"]])
    value = np.concatenate([np.asarray(p["dose"])[0, :, 0] for p in parts])
    sigma = np.concatenate([np.asarray(p["sigma"])[0, :, 0] for p in parts])
    return Curve(np.asarray(edges, dtype=float), value, sigma)


def mc_profile(mc: dict, depth: int) -> Curve:
    m = mc["meshes"][f"profile_{depth}"]
    return Curve(
        np.asarray(m["x_edges_mm"]), np.asarray(m["dose"])[:, 0, 0], np.asarray(m["sigma"])[:, 0, 0]
    )


def bin_average(image: Image, bins: Bins) -> np.ndarray:
    """Mean of the trilinear image over each bin (sub-points 1 mm across, 0.5 mm deep)."""

    def sub(edges: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
        pts, owner = [], []
        for b, (lo, hi) in enumerate(itertools.pairwise(edges)):
            n = max(1, int(np.ceil((hi - lo) / step)))
            pts.append(lo + (np.arange(n) + 0.5) * (hi - lo) / n)
            owner.append(np.full(n, b))
        return np.concatenate(pts), np.concatenate(owner)

    xs, ox = sub(bins.x_edges, 1.0)
    ys, oy = sub(bins.y_edges, 0.5)
    zs, oz = sub(bins.z_edges, 1.0)
    out = np.zeros((len(bins.x_edges) - 1, len(bins.y_edges) - 1, len(bins.z_edges) - 1))
    count = np.zeros_like(out)
    for z, bz in zip(zs, oz, strict=True):  # one plane of sub-points at a time
        xx, yy = np.meshgrid(xs, ys, indexing="ij")
        pts = np.stack([xx.ravel(), yy.ravel(), np.full(xx.size, z)], axis=1)
        vals = image.sample(pts).reshape(xx.shape)
        np.add.at(out[:, :, bz], (ox[:, None], oy[None, :]), vals)
        np.add.at(count[:, :, bz], (ox[:, None], oy[None, :]), 1.0)
    return out / count


def engine_depth_curve(image: Image, mc: dict) -> Curve:
    parts = []
    for name in ("pdd_buildup", "pdd"):
        parts.append(bin_average(image, mesh_bins(mc["meshes"][name], name))[0, :, 0])
    ref = mc_depth_curve(mc)
    value = np.concatenate(parts)
    return Curve(ref.edges, value, np.zeros_like(value))


def engine_profile(image: Image, mc: dict, depth: int) -> Curve:
    name = f"profile_{depth}"
    value = bin_average(image, mesh_bins(mc["meshes"][name], name))[:, 0, 0]
    ref = mc_profile(mc, depth)
    return Curve(ref.edges, value, np.zeros_like(value))


def engine_fine_profile(image: Image, mc: dict, depth: int) -> Curve:
    """The engine's own (trilinear) profile at the depth, on the axis plane, 0.25 mm steps.

    Used for penumbrae, where averaging the engine's voxels again over 2 mm bins would
    widen its edge."""
    edges = np.asarray(mc["meshes"][f"profile_{depth}"]["x_edges_mm"])
    x = np.arange(edges[0], edges[-1] + 1e-9, 0.25)
    pts = np.stack([x, np.full(x.size, float(depth)), np.zeros(x.size)], axis=1)
    centres_edges = np.concatenate([[x[0] - 0.125], x + 0.125])
    return Curve(centres_edges, image.sample(pts), np.zeros(x.size))


def surface_voxel(image: Image, mc: dict) -> float:
    """Engine dose of its first voxel row (0-2.5 mm on a 2.5 mm grid) over the CAX area."""
    bins = mesh_bins(mc["meshes"]["pdd_buildup"], "pdd_buildup")
    y0 = float(image.grid.axis_mm(1)[0])
    xs = np.linspace(bins.x_edges[0], bins.x_edges[-1], 12)[1:-1]
    xx, zz = np.meshgrid(xs, xs)
    pts = np.stack([xx.ravel(), np.full(xx.size, y0), zz.ravel()], axis=1)
    return float(image.sample(pts).mean())


# --------------------------------------------------------------------------- metrics
def peak(curve: Curve, window_mm: float = 5.0) -> float:
    """Maximum of a depth curve: a parabola through the bins within the window of the top."""
    c = curve.centres
    i = int(np.argmax(curve.value))
    sel = np.abs(c - c[i]) <= window_mm
    if np.count_nonzero(sel) < 3:
        return float(curve.value[i])
    p = np.polyfit(c[sel], curve.value[sel], 2)
    if p[0] >= 0:
        return float(curve.value[i])
    x0 = float(np.clip(-p[1] / (2 * p[0]), c[sel].min(), c[sel].max()))
    return float(np.polyval(p, x0))


def at_depth(curve: Curve, depth: float) -> tuple[float, float]:
    v = float(np.interp(depth, curve.centres, curve.value))
    s = float(np.interp(depth, curve.centres, curve.sigma)) / np.sqrt(2.0)
    return v, s


def region_mean(curve: Curve, lo: float, hi: float) -> tuple[float, float]:
    sel = (curve.centres > lo) & (curve.centres < hi)
    n = np.count_nonzero(sel)
    return float(curve.value[sel].mean()), float(np.sqrt(np.sum(curve.sigma[sel] ** 2)) / n)


def pairs(values: np.ndarray) -> np.ndarray:
    """Means of consecutive pairs of bins (2.5 mm bins to 5 mm)."""
    n = values.size // 2 * 2
    return np.asarray(values[:n].reshape(-1, 2).mean(axis=1))


def ratio_curve(num: Curve, den: Curve) -> Curve:
    r = num.value / den.value
    s = r * np.hypot(num.sigma / num.value, den.sigma / den.value)
    return Curve(num.edges, r, s)


def penumbra_80_20(curve: Curve) -> float:
    """Mean 80-20 % width of both edges of a profile normalised to its central third."""
    x, v = curve.centres, curve.value
    inner = np.abs(x) < 0.3 * x.max()
    v = v / v[inner].mean()
    widths = []
    for side in (x > 0, x < 0):
        xs, vs = np.abs(x[side]), v[side]
        order = np.argsort(xs)
        xs, vs = xs[order], vs[order]

        def crossing(level: float, xs: np.ndarray = xs, vs: np.ndarray = vs) -> float:
            i = int(np.argmax(vs < level))  # first bin outward below the level
            return float(np.interp(level, [vs[i], vs[i - 1]], [xs[i], xs[i - 1]]))

        widths.append(crossing(0.2) - crossing(0.8))
    return float(np.mean(widths))


def penumbra_sigma(curve: Curve, n: int = 200) -> float:
    samples = [
        penumbra_80_20(
            Curve(
                curve.edges,
                curve.value + RNG.normal(0, 1, curve.value.size) * curve.sigma,
                curve.sigma,
            )
        )
        for _ in range(n)
    ]
    return float(np.std(samples))


def out_of_field(curve: Curve, field_edge_mm: float) -> tuple[float, float]:
    """Mean dose 20-40 mm outside the geometric edge, percent of the central third."""
    x = curve.centres
    centre = curve.value[np.abs(x) < field_edge_mm / 3].mean()
    sel = (np.abs(x) > field_edge_mm + 20.0) & (np.abs(x) < field_edge_mm + 40.0)
    v = curve.value[sel].mean() / centre * 100
    s = np.sqrt(np.sum(curve.sigma[sel] ** 2)) / np.count_nonzero(sel) / centre * 100
    return float(v), float(s)


# --------------------------------------------------------------------------- 2 %/2 mm
DOSE_PERCENT = 2.0
"""Dose criterion of the composite test: percent of the local Monte Carlo value."""
DISTANCE_MM = 2.0
"""Distance-to-agreement criterion, mm."""
FIRST_DEPTH_MM = 5.0
"""Depth bins are tested from here on (the first 5 mm of the build-up are excluded)."""
SEARCH_MM = 10.0
"""Distances to agreement are searched this far (to report them for failing bins)."""
PROFILE_LEVEL = 0.2
"""Profile bins are tested where the Monte Carlo is above this fraction of its centre."""
NOISE_SAMPLES = 200
"""Realisations of the Monte Carlo's noise for the pass rate a noise-free engine would get."""
CRITERION_TITLE = "2 %/2 mm (local dose difference or distance to agreement), beyond 5 mm depth"


@dataclass(frozen=True)
class Composite:
    """The 1D composite test at each reference point (pass: dose OR distance criterion).

    ``local_percent`` is evaluated / reference - 1 at the point (percent), ``dta_mm`` the
    distance to the nearest position where the evaluated curve equals the reference value
    (``inf`` if none within the search distance).
    """

    x_mm: np.ndarray
    local_percent: np.ndarray
    dta_mm: np.ndarray
    passed: np.ndarray
    dose_percent: float = DOSE_PERCENT
    distance_mm: float = DISTANCE_MM

    @property
    def n(self) -> int:
        return int(self.passed.size)

    @property
    def n_passed(self) -> int:
        return int(np.count_nonzero(self.passed))

    @property
    def pass_rate(self) -> float:
        return 100.0 * self.n_passed / self.n if self.n else float("nan")

    def worst(self) -> int | None:
        """Failing point that needs the largest widening of both criteria to pass.

        That is the largest ``min(|local| / dose_percent, dta / distance_mm)``; ``None``
        when every point passes.
        """
        fail = np.flatnonzero(~self.passed)
        if fail.size == 0:
            return None
        need = np.minimum(
            np.abs(self.local_percent[fail]) / self.dose_percent,
            self.dta_mm[fail] / self.distance_mm,
        )
        return int(fail[np.argmax(need)])


def composite_test(
    x_ref: np.ndarray,
    ref: np.ndarray,
    x_ev: np.ndarray,
    ev: np.ndarray,
    *,
    dose_percent: float | np.ndarray = DOSE_PERCENT,
    distance_mm: float = DISTANCE_MM,
    search_mm: float = SEARCH_MM,
    breaks_mm: tuple[float, ...] = (),
) -> Composite:
    """Local dose difference OR distance to agreement, point by point along a curve.

    The standard 1D composite test (e.g. Van Dyk et al. 1993, Int J Radiat Oncol Biol Phys
    26:261; Low et al. 1998, Med Phys 25:656): a reference point passes if the evaluated
    curve there is within ``dose_percent`` of the reference value (local), or if the
    evaluated curve, interpolated linearly between its points (increasing ``x_ev``), takes
    the reference value within ``distance_mm`` of the point. ``breaks_mm`` are positions
    the interpolation does not cross (faces of a slab, where dose to medium jumps): the
    distance to agreement is searched only on segments between points on the reference
    point's side of them. ``dose_percent`` may be an array (one value per reference point).
    """
    x_ref, ref = np.asarray(x_ref, dtype=float), np.asarray(ref, dtype=float)
    x_ev, ev = np.asarray(x_ev, dtype=float), np.asarray(ev, dtype=float)
    local = 100.0 * (np.interp(x_ref, x_ev, ev) / ref - 1.0)
    g = ev[None, :] - ref[:, None]  # evaluated minus reference value, per node
    g0, g1 = g[:, :-1], g[:, 1:]
    xa, xb = x_ev[None, :-1], x_ev[None, 1:]
    flat = (g0 == 0) & (g1 == 0)  # the segment equals the value: nearest point of it
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.where(flat, np.clip(x_ref[:, None], xa, xb), xa + g0 / (g0 - g1) * (xb - xa))
    region = np.searchsorted(np.asarray(breaks_mm, dtype=float), x_ev, side="right")
    region_ref = np.searchsorted(np.asarray(breaks_mm, dtype=float), x_ref, side="right")
    usable = (region[None, :-1] == region_ref[:, None]) & (region[None, 1:] == region_ref[:, None])
    hit = (g0 * g1 <= 0) & usable
    dta = np.where(hit, np.abs(root - x_ref[:, None]), np.inf).min(axis=1, initial=np.inf)
    dta[dta > search_mm] = np.inf
    tol = 1e-9  # values on the criterion pass
    passed = (np.abs(local) <= np.asarray(dose_percent) + tol) | (dta <= distance_mm + tol)
    return Composite(x_ref, local, dta, passed, float(np.min(dose_percent)), distance_mm)


def criterion(
    x: np.ndarray,
    mc: np.ndarray,
    mc_sigma: np.ndarray,
    engine: np.ndarray,
    tested: np.ndarray,
    normalise: Callable[[np.ndarray], np.ndarray],
    *,
    seed: str,
    breaks_mm: tuple[float, ...] = (),
    regions: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The composite 2 %/2 mm test of an engine's curve against the Monte Carlo's.

    Both curves are normalised with ``normalise`` (of the whole curve), the Monte Carlo
    bins where ``tested`` holds are tested. Also: the failing bins that fail by more than
    the Monte Carlo's 2 sigma (dose criterion widened to 2 % + 2 sigma local), and the pass
    rate the engine's own curve gets against ``NOISE_SAMPLES`` copies of itself with the
    Monte Carlo's noise added (what a noise-free engine equal to the truth would score).
    """
    ref, ev = normalise(mc), normalise(engine)
    xs = x[tested]
    res = composite_test(xs, ref[tested], x, ev, breaks_mm=breaks_mm)
    rel = mc_sigma / mc
    sig = 100.0 * rel[tested]
    wide = composite_test(
        xs, ref[tested], x, ev, dose_percent=DOSE_PERCENT + 2.0 * sig, breaks_mm=breaks_mm
    )
    rng = np.random.default_rng(list(seed.encode()))
    noise = [
        composite_test(
            xs,
            normalise(engine * (1.0 + rel * rng.standard_normal(x.size)))[tested],
            x,
            ev,
            breaks_mm=breaks_mm,
        ).pass_rate
        for _ in range(NOISE_SAMPLES)
    ]

    def row(i: int) -> dict[str, float | bool | None]:
        d = float(res.dta_mm[i])
        return {
            "x_mm": round(float(xs[i]), 3),
            "local_percent": round(float(res.local_percent[i]), 2),
            "sigma_percent": round(float(sig[i]), 2),
            "dta_mm": round(d, 2) if np.isfinite(d) else None,
            "beyond_2sigma": not bool(wide.passed[i]),
        }

    worst = res.worst()
    out: dict[str, Any] = {
        "n": res.n,
        "n_passed": res.n_passed,
        "pass_rate": res.pass_rate,
        "passes": res.n_passed == res.n,
        "n_failing_beyond_2sigma": wide.n - wide.n_passed,
        "noise_only_pass_rate": float(np.mean(noise)),
        "mc_sigma_percent_median": float(np.median(sig)),
        "worst": None if worst is None else row(worst),
        "failing": [row(int(i)) for i in np.flatnonzero(~res.passed)],
    }
    if regions:
        out["regions"] = {
            name: {
                "n": int(np.count_nonzero(inside := (xs > lo) & (xs < hi))),
                "n_passed": int(np.count_nonzero(res.passed[inside])),
            }
            for name, (lo, hi) in regions.items()
        }
    return out


def criterion_cell(c: dict[str, Any]) -> str:
    """One table cell: pass/fail, pass rate, noise-alone rate, failures by region, worst."""
    verdict = "**pass**" if c["passes"] else "fail"
    text = (
        f"{verdict} {c['pass_rate']:.0f} % ({c['n_passed']}/{c['n']}; "
        f"noise alone {c['noise_only_pass_rate']:.0f} %)"
    )
    if c["passes"]:
        return text
    text += f", {c['n_failing_beyond_2sigma']} beyond 2σ"
    if "regions" in c:
        parts = [f"{k} {v['n'] - v['n_passed']}/{v['n']}" for k, v in c["regions"].items()]
        text += "; failing: " + ", ".join(parts)
    w = c["worst"]
    dta = f"{w['dta_mm']:.1f} mm" if w["dta_mm"] is not None else f"> {SEARCH_MM:g} mm"
    return (
        f"{text}; worst {w['x_mm']:.1f} mm: {w['local_percent']:+.1f} ± "
        f"{w['sigma_percent']:.1f} %, DTA {dta}"
    )


# --------------------------------------------------------------------------- engines
def engine_dose(case: Case, engine: str, grid_mm: float, machine: str) -> tuple[Image, float]:
    """Engine dose to medium per unit open-field energy fluence (as the Monte Carlo's)."""
    ct = case_ct(case)
    beam = dataclasses.replace(case_beam(case), energy=machine).with_mu(1.0)
    eng: object = engine
    if engine == HARDENING:  # the collapsed cone with its primary/scatter kernel split
        from rtplan.dose._collapsed_cone import CollapsedConeEngine

        eng = CollapsedConeEngine(hardening=True)
    t0 = time.perf_counter()
    res = calculate(rtplan.Plan(beams=[beam]), ct, engine=eng, grid_mm=grid_mm)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    per_fluence = res.beam_gy_per_mu[0] / engine_calibration(eng, load_machine(machine))  # type: ignore[arg-type]
    return Image(array=per_fluence, grid=res.setup.grid, units="MeV/g per MeV/cm2"), seconds


def thigh_mc(results: Path) -> tuple[Image, Image, np.ndarray] | None:
    path = results / "thigh_10x10.npz"
    if not path.is_file():
        return None
    d = np.load(path)
    grid = Grid(
        shape=tuple(int(v) for v in d["shape"]),
        spacing_mm=tuple(float(v) for v in d["spacing_mm"]),
        origin_mm=tuple(float(v) for v in d["origin_mm"]),
        direction=np.asarray(d["direction"]),
    )
    return Image(array=d["dose"], grid=grid), Image(array=d["sigma"], grid=grid), d["density_g_cm3"]


# --------------------------------------------------------------------------- report
def pct(engine: float, ref: float) -> str:
    return f"{100 * (engine / ref - 1):+.1f} %"


def pts(engine: float, ref: float) -> str:
    return f"{engine - ref:+.1f} pt"


class Report:
    def __init__(self, engines: list[str]) -> None:
        self.engines = engines
        self.rows: list[list[str]] = []
        self.criterion_rows: list[list[str]] = []
        self.data: dict = {"criterion": {}}

    def add(self, label: str, mc: str, cells: list[str]) -> None:
        self.rows.append([label, mc, *cells])

    def markdown(self) -> str:
        head = ["case (6 MV, SSD 100)", "Monte Carlo", *self.engines]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)

    def add_criterion(self, label: str, mc: str, cells: list[str]) -> None:
        self.criterion_rows.append([label, mc, *cells])

    def criterion_markdown(self) -> str:
        """The 2 %/2 mm (local) composite test, one row per case (markdown)."""
        head = ["case (6 MV, SSD 100), 2 %/2 mm local", "Monte Carlo bins", *self.engines]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.criterion_rows]
        return "\n".join(lines)


def compare(args: argparse.Namespace) -> Report:
    results: Path = args.results
    engines: list[str] = args.engines
    rep = Report(engines)
    mcs = {n: load_mc(n, results) for n in CASES}
    for n, mc in mcs.items():
        if mc is not None and mc["image_sha256"] != image_digest(case_ct(CASES[n])):
            raise SystemExit(f"{n}: the phantom changed since the Monte Carlo ran; rerun it")
    doses: dict[tuple[str, str], Image] = {}
    timing: dict[str, float] = {}

    digests: dict[str, str] = {}

    def dose(name: str, engine: str) -> Image:
        if name not in digests:  # cases on the same phantom and field share the engine's dose
            digests[name] = image_digest(case_ct(CASES[name]))
        key = (digests[name], CASES[name].field_mm, engine)
        if key not in doses:
            log.info("%s with %s (%s)", name, engine, args.machine)
            grid = 4.0 if CASES[name].kind == "thigh" else args.grid_mm
            doses[key], timing[f"{engine} {name}"] = engine_dose(
                CASES[name], engine, grid, args.machine
            )
        return doses[key]

    curves: dict[str, dict[str, Curve]] = {}
    for name, mc in mcs.items():
        if mc is None or CASES[name].kind == "thigh":
            continue
        curves[name] = {"mc": mc_depth_curve(mc)}
        for e in engines:
            curves[name][e] = engine_depth_curve(dose(name, e), mc)

    def norm(c: Curve) -> Curve:
        p = peak(c)
        return Curve(c.edges, 100 * c.value / p, 100 * c.sigma / p)

    # bone slab
    for field in ("10x10", "3x3"):
        b, t = f"bone_{field}", f"tissue_{field}"
        if b in curves and t in curves:
            r = {k: ratio_curve(curves[b][k], curves[t][k]) for k in curves[b]}
            m, s = region_mean(r["mc"], 55.0, 75.0)
            rep.add(
                f"inside cortical bone, {field} (slab/homogeneous, 55-75 mm)",
                f"{m:.3f} ± {s:.3f}",
                [pct(region_mean(r[e], 55.0, 75.0)[0], m) for e in engines],
            )
            first = (r["mc"].centres > 50) & (r["mc"].centres < 55)
            lo, hi = r["mc"].value[first].min(), r["mc"].value[first].max()
            cells = []
            for e in engines:
                d = 100 * (r[e].value[first] / r["mc"].value[first] - 1)
                cells.append(f"{d.min():+.1f} to {d.max():+.1f} %")
            rep.add(f"first 5 mm of bone, {field}", f"{lo:.3f}-{hi:.3f}", cells)
            m2, s2 = region_mean(r["mc"], 85.0, 150.0)
            rep.add(
                f"behind bone, {field} (85-150 mm)",
                f"{m2:.3f} ± {s2:.3f}",
                [pct(region_mean(r[e], 85.0, 150.0)[0], m2) for e in engines],
            )
            rep.data[f"bone_ratio_{field}"] = {k: v.value.tolist() for k, v in r.items()}
            rep.data["ratio_depth_mm"] = r["mc"].centres.tolist()
    # lung slab
    for field in ("3x3", "10x10"):
        b, t = f"lung_{field}", f"tissue_{field}"
        if b in curves and t in curves:
            r = {k: ratio_curve(curves[b][k], curves[t][k]) for k in curves[b]}
            for label, lo, hi in (("proximal", 55.0, 100.0), ("distal", 100.0, 150.0)):
                m, s_ = region_mean(r["mc"], lo, hi)
                inside = (r["mc"].centres > lo) & (r["mc"].centres < hi)
                cells = []
                for e in engines:  # the largest difference over 5 mm (two-bin) means
                    d = 100 * (pairs(r[e].value[inside]) / pairs(r["mc"].value[inside]) - 1)
                    worst = d[np.argmax(np.abs(d))]
                    cells.append(f"{pct(region_mean(r[e], lo, hi)[0], m)} (up to {worst:+.1f} %)")
                span = f"{r['mc'].value[inside].min():.3f}-{r['mc'].value[inside].max():.3f}"
                rep.add(
                    f"inside lung, {label} ({lo:.0f}-{hi:.0f} mm), {field} (slab/homogeneous)",
                    f"{m:.3f} ± {s_:.3f} ({span})",
                    cells,
                )
            m3, s3 = region_mean(r["mc"], 160.0, 250.0)
            rep.add(
                f"behind lung, {field} (160-250 mm)",
                f"{m3:.3f} ± {s3:.3f}",
                [pct(region_mean(r[e], 160.0, 250.0)[0], m3) for e in engines],
            )
            rep.data[f"lung_ratio_{field}"] = {k: v.value.tolist() for k, v in r.items()}
    # water depth doses
    for name in ("water_3x3", "water_5x5", "water_10x10", "water_20x20", "water_30x30"):
        if name not in curves:
            continue
        n = {k: norm(c) for k, c in curves[name].items()}
        depths = (50.0, 100.0, 150.0, 200.0)
        mcv = [at_depth(n["mc"], d) for d in depths]
        cells = []
        for e in engines:
            ev = [at_depth(n[e], d)[0] for d in depths]
            dp = [f"{a - b[0]:+.1f}" for a, b in zip(ev, mcv, strict=True)]
            loc = [f"{100 * (a / b[0] - 1):+.0f}" for a, b in zip(ev, mcv, strict=True)]
            cells.append(f"{' / '.join(dp)} pt ({' / '.join(loc)} % local)")
        field = name.split("_")[1]
        rep.add(
            f"{field} in water, PDD 5/10/15/20 cm",
            " / ".join(f"{v:.1f}" for v, _ in mcv) + f" (± {max(s for _, s in mcv):.1f})",
            cells,
        )
        rep.data[f"pdd_{name}"] = {k: v.value.tolist() for k, v in n.items()}
        rep.data[f"pdd_{name}_depth_mm"] = n["mc"].centres.tolist()
        if name == "water_10x10":
            c = n["mc"]
            sel = c.centres < 3.0
            w = np.array([1.0, 1.0, 0.5])  # 0-1, 1-2 and half of 2-3 mm
            surf = {
                "mc": (
                    float(np.sum(c.value[sel] * w) / w.sum()),
                    float(np.sqrt(np.sum((c.sigma[sel] * w) ** 2)) / w.sum()),
                )
            }
            for e in engines:  # the engine's first 2.5 mm voxel, as its own value
                first = surface_voxel(dose(name, e), mcs[name])
                surf[e] = (100 * first / peak(curves[name][e]), 0.0)
            rep.add(
                "surface (0-2.5 mm; engines: their first 2.5 mm voxel), 10 x 10",
                f"{surf['mc'][0]:.1f} ± {surf['mc'][1]:.1f} %",
                [f"{surf[e][0]:.1f} %" for e in engines],
            )
    # profiles
    mc10 = mcs.get("water_10x10")
    if mc10 is not None:
        prof = {"mc": mc_profile(mc10, 100)}
        for e in engines:
            prof[e] = engine_profile(dose("water_10x10", e), mc10, 100)
        p = penumbra_80_20(prof["mc"])
        fine = {e: engine_fine_profile(dose("water_10x10", e), mc10, 100) for e in engines}
        rep.add(
            "80-20 % penumbra at 10 cm, 10 x 10",
            f"{p:.1f} ± {penumbra_sigma(prof['mc']):.1f} mm",
            [f"{penumbra_80_20(fine[e]):.1f} mm" for e in engines],
        )
        edge = 50.0 * 1.1
        o, so = out_of_field(prof["mc"], edge)
        rep.add(
            "out of field (2-4 cm outside, 10 cm deep), 10 x 10",
            f"{o:.2f} ± {so:.2f} % of central",
            [pts(out_of_field(prof[e], edge)[0], o) for e in engines],
        )
    mcm = mcs.get("water_10x10_machine")
    if mcm is not None:
        prof = {"mc": mc_profile(mcm, 100)}
        for e in engines:
            prof[e] = engine_profile(dose("water_10x10", e), mcm, 100)
        p = penumbra_80_20(prof["mc"])
        fine = {e: engine_fine_profile(dose("water_10x10", e), mcm, 100) for e in engines}
        rep.add(
            "80-20 % penumbra at 10 cm, 10 x 10, MC with rtplan's source model",
            f"{p:.1f} ± {penumbra_sigma(prof['mc']):.1f} mm",
            [f"{penumbra_80_20(fine[e]):.1f} mm" for e in engines],
        )
        o, so = out_of_field(prof["mc"], 55.0)
        rep.add(
            "out of field (2-4 cm outside, 10 cm deep), 10 x 10, MC with rtplan's source model",
            f"{o:.2f} ± {so:.2f} % of central",
            [pts(out_of_field(prof[e], 55.0)[0], o) for e in engines],
        )
    for name in ("water_3x3", "water_20x20"):
        mc = mcs.get(name)
        if mc is None:
            continue
        prof = {"mc": mc_profile(mc, 100)}
        for e in engines:
            prof[e] = engine_profile(dose(name, e), mc, 100)
        p = penumbra_80_20(prof["mc"])
        field = name.split("_")[1]
        fine = {e: engine_fine_profile(dose(name, e), mc, 100) for e in engines}
        rep.add(
            f"80-20 % penumbra at 10 cm, {field}",
            f"{p:.1f} ± {penumbra_sigma(prof['mc']):.1f} mm",
            [f"{penumbra_80_20(fine[e]):.1f} mm" for e in engines],
        )
    # output per unit fluence at 10 cm, relative to 10 x 10
    if "water_10x10" in curves:
        ref = {k: at_depth(c, 100.0)[0] for k, c in curves["water_10x10"].items()}
        for name in ("water_3x3", "water_5x5", "water_20x20", "water_30x30"):
            if name not in curves:
                continue
            v = {k: at_depth(c, 100.0) for k, c in curves[name].items()}
            of = v["mc"][0] / ref["mc"]
            sof = of * np.hypot(
                v["mc"][1] / v["mc"][0], at_depth(curves["water_10x10"]["mc"], 100.0)[1] / ref["mc"]
            )
            rep.add(
                f"output at 10 cm per unit fluence, {name.split('_')[1]} / 10 x 10",
                f"{of:.3f} ± {sof:.3f}",
                [pct(v[e][0] / ref[e], of) for e in engines],
            )
    # thigh
    th = thigh_mc(results)
    if th is not None:
        mc_img, mc_sig, rho = th
        hi = mc_img.array > 0.5 * mc_img.array.max()
        bone = hi & (rho > 1.7)
        soft = hi & (rho > 1.0) & (rho < 1.1)
        x = mc_img.grid.axis_mm(2)[None, None, :]
        y = mc_img.grid.axis_mm(1)[None, :, None]
        fx, fy = FEMUR_CENTRE_MM
        shadow = soft & (np.abs(x - fx) < FEMUR_RADIUS_MM - 4.0) & (y > fy + FEMUR_RADIUS_MM + 8)
        cells = []
        for e in engines:
            ev = dose("thigh_10x10", e)
            if ev.grid.shape != mc_img.grid.shape:
                raise SystemExit("thigh: engine and Monte Carlo dose grids differ")
            ratio = ev.array / np.where(mc_img.array > 0, mc_img.array, np.nan)
            k = np.nanmean(ratio[soft])  # engines and MC normalised in the muscle
            cells.append(
                f"bone {100 * (np.nanmean(ratio[bone]) / k - 1):+.1f} %, behind bone "
                f"{100 * (np.nanmean(ratio[shadow]) / k - 1):+.1f} %, muscle spread "
                f"{100 * np.nanstd(ratio[soft] / k):.1f} %"
            )
        unc = 100 * np.mean(mc_sig.array[hi] / mc_img.array[hi])
        rep.add(
            "thigh + femur, 10 x 10 (4 mm voxels above 50 %, engine/MC normalised in muscle)",
            f"σ {unc:.1f} % per voxel",
            cells,
        )
    depth_criteria(rep, curves)
    profile_criteria(rep, mcs, dose)
    thigh_criteria(rep, results, dose)
    rep.data["engine_seconds"] = timing
    rep.data["curves"] = {
        n: {
            k: {"edges": c.edges.tolist(), "value": c.value.tolist(), "sigma": c.sigma.tolist()}
            for k, c in cs.items()
        }
        for n, cs in curves.items()
    }
    if not args.no_plots:
        plots(curves, mcs, dose, engines, norm, args.output / "plots")
    return rep


def to_peak(value: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """A depth curve in percent of its maximum (``peak``), as the table's depth doses."""
    return np.asarray(100.0 * value / peak(Curve(edges, value, np.zeros_like(value))))


def to_centre(value: np.ndarray, central: np.ndarray) -> np.ndarray:
    """A profile in percent of its mean over the central bins."""
    return np.asarray(100.0 * value / value[central].mean())


def absolute(value: np.ndarray) -> np.ndarray:
    """Dose per unit fluence as it is."""
    return value


def depth_criteria(rep: Report, curves: dict[str, dict[str, Curve]]) -> None:
    """2 %/2 mm along the central axis from 5 mm depth on, water, tissue and slab cases."""
    names = [f"water_{f}" for f in ("3x3", "5x5", "10x10", "20x20")]
    names += [f"{k}_{f}" for k in ("tissue", "bone", "lung") for f in ("3x3", "10x10")]
    for name in names:
        if name not in curves:
            continue
        kind = CASES[name].kind
        mc = curves[name]["mc"]
        x = mc.centres
        tested = mc.edges[:-1] >= FIRST_DEPTH_MM - 1e-9
        regions = {"5-30 mm": (0.0, 30.0), "30-300 mm": (30.0, np.inf)}
        breaks: tuple[float, ...] = ()
        normalise: Callable[[np.ndarray], np.ndarray]
        if kind == "water":
            normalise = functools.partial(to_peak, edges=mc.edges)
            what = "percent of the maximum"
        else:
            normalise = absolute
            what = "dose per unit fluence (absolute)"
        if kind in SLABS:
            y0, y1, _ = SLABS[kind]
            breaks = (y0, y1)
            regions = {
                "5-30 mm": (0.0, 30.0),
                f"30-{y0:.0f} mm": (30.0, y0),
                kind: (y0, y1),
                "behind": (y1, np.inf),
            }
        res = {
            e: criterion(
                x,
                mc.value,
                mc.sigma,
                curves[name][e].value,
                tested,
                normalise,
                seed=f"{name} {e}",
                breaks_mm=breaks,
                regions=regions,
            )
            for e in rep.engines
        }
        first = res[rep.engines[0]]
        field = name.split("_")[1]
        label = {
            "water": f"{field} in water, depth dose (% of maximum), 5-300 mm",
            "tissue": f"{field}, homogeneous HU 0, depth dose per unit fluence, 5-300 mm",
        }.get(kind, f"{kind} slab, {field}, depth dose per unit fluence, 5-300 mm")
        rep.add_criterion(
            label,
            f"{first['n']} bins, σ {first['mc_sigma_percent_median']:.1f} %",
            [criterion_cell(res[e]) for e in rep.engines],
        )
        rep.data["criterion"][f"depth_{name}"] = {
            "normalisation": what,
            "first_depth_mm": FIRST_DEPTH_MM,
            "breaks_mm": list(breaks),
            **res,
        }
        if kind != "water":  # for comparison: both in percent of their own maximum
            rep.data["criterion"][f"depth_{name}"]["percent_of_maximum"] = {
                e: criterion(
                    x,
                    mc.value,
                    mc.sigma,
                    curves[name][e].value,
                    tested,
                    functools.partial(to_peak, edges=mc.edges),
                    seed=f"{name} {e} maximum",
                    breaks_mm=breaks,
                    regions=regions,
                )
                for e in rep.engines
            }


def profile_criteria(
    rep: Report, mcs: dict[str, dict[str, Any] | None], dose: Callable[..., Image]
) -> None:
    """2 %/2 mm across the profiles at 10 cm depth, bins above 20 % of the centre."""
    for name in ("water_3x3", "water_5x5", "water_10x10", "water_20x20"):
        mc = mcs.get(name)
        if mc is None or "profile_100" not in mc["meshes"]:
            continue
        ref = mc_profile(mc, 100)
        x = ref.centres
        central = np.abs(x) < CASES[name].field_mm / 6.0
        tested = ref.value >= PROFILE_LEVEL * ref.value[central].mean()
        normalise = functools.partial(to_centre, central=central)
        res = {
            e: criterion(
                x,
                ref.value,
                ref.sigma,
                engine_profile(dose(name, e), mc, 100).value,
                tested,
                normalise,
                seed=f"{name} profile {e}",
            )
            for e in rep.engines
        }
        first = res[rep.engines[0]]
        rep.add_criterion(
            f"{name.split('_')[1]} in water, profile at 10 cm (% of centre), bins above 20 %",
            f"{first['n']} bins, σ {first['mc_sigma_percent_median']:.1f} %",
            [criterion_cell(res[e]) for e in rep.engines],
        )
        rep.data["criterion"][f"profile_100_{name}"] = {
            "normalisation": "percent of the central third's mean",
            "level": PROFILE_LEVEL,
            **res,
        }


def thigh_criteria(rep: Report, results: Path, dose: Callable[..., Image]) -> None:
    """3D gamma 2 %/2 mm (local) above half the Monte Carlo's maximum, thigh + femur."""
    from rtplan.evaluate import gamma

    th = thigh_mc(results)
    if th is None:
        return
    mc_img, mc_sig, rho = th
    hi = mc_img.array >= 0.5 * mc_img.array.max()
    bone = hi & (rho > 1.7)
    soft = hi & (rho > 1.0) & (rho < 1.1)
    rel = np.where(mc_img.array > 0, mc_sig.array / np.where(mc_img.array > 0, mc_img.array, 1), 0)
    rng = np.random.default_rng(list(b"thigh"))
    cells, data = [], {}
    for e in rep.engines:
        ev = dose("thigh_10x10", e)
        k = np.nanmean(ev.array[soft] / mc_img.array[soft])  # normalised in muscle
        scaled = Image(array=ev.array / k, grid=ev.grid)
        out: dict[str, Any] = {"muscle_normalisation": float(k)}
        for kind, local in (("local", True), ("global", False)):
            g = gamma(mc_img, scaled, DOSE_PERCENT, DISTANCE_MM, 50.0, local=local)
            v = g.values
            noisy = Image(
                array=scaled.array * (1.0 + rel * rng.standard_normal(rel.shape)), grid=mc_img.grid
            )
            gn = gamma(noisy, scaled, DOSE_PERCENT, DISTANCE_MM, 50.0, local=local)
            out[kind] = {
                "n": g.n_evaluated,
                "pass_rate": g.pass_rate,
                "noise_only_pass_rate": gn.pass_rate,
                "bone_pass_rate": float(100 * np.mean(v[bone & ~np.isnan(v)] <= 1.0)),
                "muscle_pass_rate": float(100 * np.mean(v[soft & ~np.isnan(v)] <= 1.0)),
                "gamma_p95": g.percentile(95),
            }
        loc = out["local"]
        cells.append(
            f"{'**pass**' if loc['pass_rate'] == 100 else 'fail'} {loc['pass_rate']:.0f} % "
            f"(noise alone {loc['noise_only_pass_rate']:.0f} %; bone {loc['bone_pass_rate']:.0f} "
            f"%, muscle {loc['muscle_pass_rate']:.0f} %; γ95 {loc['gamma_p95']:.2f}); "
            f"global 2 %/2 mm {out['global']['pass_rate']:.0f} %"
        )
        data[e] = out
    rep.add_criterion(
        "thigh + femur, 3D gamma 2 %/2 mm local, 4 mm voxels above 50 % (normalised in muscle)",
        f"{data[rep.engines[0]]['local']['n']} voxels, σ {100 * np.median(rel[hi]):.1f} %",
        cells,
    )
    rep.data["criterion"]["gamma_thigh_10x10"] = data


# --------------------------------------------------------------------------- plots
def plots(curves, mcs, dose, engines, norm, folder: Path) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(exist_ok=True)
    colours = {"collapsed-cone": "tab:blue", "pencil-beam": "tab:orange"}
    water = [
        n
        for n in ("water_3x3", "water_5x5", "water_10x10", "water_20x20", "water_30x30")
        if n in curves
    ]
    if water:
        fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
        styles = {"collapsed-cone": "-", "pencil-beam": "--"}
        for n, colour in zip(
            water, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"), strict=False
        ):
            nc = {k: norm(c) for k, c in curves[n].items()}
            mc = nc["mc"]
            ax[0].errorbar(
                mc.centres,
                mc.value,
                yerr=mc.sigma,
                fmt=".",
                ms=3,
                color=colour,
                label=f"Geant4 {n.split('_')[1]}",
            )
            for e in engines:
                ls = styles.get(e, ":")
                ax[0].plot(nc[e].centres, nc[e].value, ls, lw=1, color=colour)
                ax[1].plot(
                    mc.centres,
                    nc[e].value - mc.value,
                    ls,
                    lw=1,
                    color=colour,
                    label=f"{e} {n.split('_')[1]}",
                )
        ax[0].set(
            xlabel="depth (mm)",
            ylabel="PDD (%)",
            title="water, SSD 100: Geant4 (dots), collapsed cone (-), pencil beam (--)",
        )
        ax[1].axhline(0, color="k", lw=0.5)
        ax[1].set(xlabel="depth (mm)", ylabel="engine - Geant4 (points)", ylim=(-6, 6))
        ax[0].legend(fontsize=7)
        ax[1].legend(fontsize=6, ncol=2)
        fig.tight_layout()
        fig.savefig(folder / "pdd_water.png", dpi=110)
        plt.close(fig)
    for kind in ("bone", "lung"):
        names = [f for f in ("10x10", "3x3") if f"{kind}_{f}" in curves and f"tissue_{f}" in curves]
        if not names:
            continue
        fig, ax = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
        for a, f in zip(ax[0], names, strict=True):
            r = {
                k: ratio_curve(curves[f"{kind}_{f}"][k], curves[f"tissue_{f}"][k])
                for k in curves[f"{kind}_{f}"]
            }
            a.errorbar(
                r["mc"].centres,
                r["mc"].value,
                yerr=r["mc"].sigma,
                fmt=".",
                ms=3,
                color="k",
                label="Geant4",
            )
            for e in engines:
                a.plot(r[e].centres, r[e].value, "-", color=colours.get(e), label=e)
            y0, y1, _ = SLABS[kind]
            a.axvspan(y0, y1, color="0.9")
            a.set(
                xlabel="depth (mm)",
                ylabel=f"{kind} slab / homogeneous",
                title=f"{kind}, {f}",
                xlim=(0, 300),
            )
            a.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / f"{kind}_slab.png", dpi=110)
        plt.close(fig)
    for n in ("water_10x10", "water_3x3"):
        mc = mcs.get(n)
        if mc is None:
            continue
        fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
        for a, d in zip(ax, (50, 100, 200), strict=True):
            p = mc_profile(mc, d)
            c = p.value[np.abs(p.centres) < CASES[n].field_mm / 6].mean()
            a.errorbar(
                p.centres,
                100 * p.value / c,
                yerr=100 * p.sigma / c,
                fmt=".",
                ms=3,
                color="k",
                label="Geant4",
            )
            for e in engines:
                q = engine_profile(dose(n, e), mc, d)
                ce = q.value[np.abs(q.centres) < CASES[n].field_mm / 6].mean()
                a.plot(q.centres, 100 * q.value / ce, "-", color=colours.get(e), label=e)
            a.set(xlabel="x (mm)", ylabel="% of central", title=f"{n}, {d} mm deep")
            a.set_yscale("log")
            a.set_ylim(0.3, 130)
            a.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / f"profiles_{n}.png", dpi=110)
        plt.close(fig)


def case_table(results: Path) -> str:
    """The reference cases' statistics (markdown): photons, batches, uncertainty, CPU time."""
    lines = [
        "| case | photons | batches | mean σ, central axis 30-200 mm | CPU time | physics |",
        "|---|---|---|---|---|---|",
    ]
    for name in CASES:
        mc = load_mc(name, results)
        if mc is None:
            continue
        g4 = mc["geant4"]
        physics = f"{g4['physics']}, cut {g4['cut_mm']:g} mm" + (
            ", data-less" if g4.get("dataless") else ""
        )
        lines.append(
            f"| `{name}` | {mc['photons']:.3g} | {mc['batches']} | "
            f"{mc['uncertainty_percent']:.2f} % | {mc['cpu_seconds'] / 60:.0f} min | {physics} |"
        )
    return "\n".join(lines)


def update_readme(path: Path, key: str, text: str) -> None:
    """Replace the README's block between ``<!-- key:start -->`` and ``<!-- key:end -->``."""
    readme = path.read_text(encoding="utf-8")
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    if start not in readme or end not in readme:
        log.warning("%s has no %s block: not updated", path, key)
        return
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text.strip()}\n{end}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--engines", default="collapsed-cone,pencil-beam")
    p.add_argument("--grid-mm", type=float, default=2.5)
    p.add_argument(
        "--machine",
        default="6X-MC",
        help="beam model of the engines: 6X-MC (the reference's point source, default) or 6X",
    )
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--output", type=Path, default=HERE, help="folder of comparison.md/.json")
    p.add_argument(
        "--readme",
        action="store_true",
        help="also write the case table and this comparison into README.md (its blocks "
        "'cases' and 'comparison_<machine>')",
    )
    args = p.parse_args(argv)
    args.engines = args.engines.split(",")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rep = compare(args)
    table = rep.markdown()
    crit = rep.criterion_markdown()
    print(f"{table}\n\n{crit}")
    stamp = time.strftime("%Y-%m-%d")
    (args.output / "comparison.md").write_text(
        f"# rtplan {rtplan.__version__} against Geant4 ({stamp})\n\n{table}\n\n"
        f"## {CRITERION_TITLE}\n\n{crit}\n",
        encoding="utf-8",
    )
    (args.output / "comparison.json").write_text(json.dumps(rep.data) + "\n", encoding="utf-8")
    if args.readme:
        update_readme(HERE / "README.md", "cases", case_table(args.results))
        update_readme(HERE / "README.md", f"comparison_{args.machine}", table)
        update_readme(HERE / "README.md", f"criterion_{args.machine}", crit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
