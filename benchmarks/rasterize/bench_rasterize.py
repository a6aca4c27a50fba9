"""Rasterising every ROI of a 512 x 512 x 100 study: rtplan side by side with rt-utils.

Usage::

    python benchmarks/rasterize/bench_rasterize.py [--workdir DIR] [--repeats N]

The study is generated on first use (about 52 MB in ``--workdir``, default a folder in the
system temporary directory) with pydicom by :mod:`rtplan.testing`, so both tools read files
neither wrote: a CT series (512 x 512 pixels of 0.9766 mm, 100 slices of 3 mm, head-first
supine) and an RT Structure Set with 10 ROIs of realistic pelvic sizes, from the external
contour (about 19 L, 1000 vertices per slice) down to a 20 cm3 GTV, with irregular (smooth
random) outlines, a hollow bladder wall and two femurs.

Timed, after one warm-up run (numba compilation and caches, the first rt-utils call):

* rt-utils 1.2.7: ``RTStruct.get_roi_mask_by_name`` for every ROI, on an ``RTStruct``
  made by ``RTStructBuilder.create_from`` (loading the series is not timed);
* rtplan: ``Structure.mask(ct.grid)`` for every ROI of ``read_rtstruct(rs, reference=ct)``
  (reading is not timed), with numba's default threads and with one thread; and
  ``Structure.fractional_mask`` (8 x 8 sub-samples) for information.

The masks are also compared (voxel counts, Dice) to show the convention difference:
rt-utils rounds vertices to pixel indices and fills the outline inclusively.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

logger = logging.getLogger("bench_rasterize")

SHAPE = (100, 512, 512)  # slices, rows, columns
PIXEL_MM = 500.0 / 512.0
SLICE_MM = 3.0
ORIGIN_MM = (-250.0 + PIXEL_MM / 2, -250.0 + PIXEL_MM / 2, -150.0)
FloatArray = npt.NDArray[np.float64]


# ----------------------------------------------------------------------------- study
def _write_ct(folder: Path) -> list[Path]:
    """The CT series: water-like muscle (40 HU) in an elliptic body, air around, HFS."""
    from rtplan.testing import SeriesGeometry, write_ct_series

    yy, xx = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    x = ORIGIN_MM[0] + xx * PIXEL_MM
    y = ORIGIN_MM[1] + yy * PIXEL_MM
    body = (x / 170.0) ** 2 + (y / 120.0) ** 2 <= 1.0
    hu = np.broadcast_to(np.where(body, 40, -1024).astype(np.int16), SHAPE)
    geometry = SeriesGeometry(origin_mm=ORIGIN_MM, spacing_mm=(SLICE_MM, PIXEL_MM, PIXEL_MM))
    return write_ct_series(
        folder,
        hu,
        geometry,
        file_names=[f"CT_{k:03d}.dcm" for k in range(SHAPE[0])],
        attributes={"PatientName": "Bench^Pelvis", "PatientID": "BENCH001"},
    )


def _outline(
    rng: np.random.Generator, a: float, b: float, n: int, wobble: float
) -> Callable[[float, float, float], FloatArray]:
    """A smooth irregular closed outline: an ellipse whose radius varies by a few Fourier modes."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    modes = [(m, rng.normal(scale=wobble / m), rng.uniform(0, 2 * np.pi)) for m in range(2, 7)]
    r = 1.0 + sum(amp * np.cos(m * t + ph) for m, amp, ph in modes)

    def at(cx: float, cy: float, scale: float) -> FloatArray:
        return np.column_stack([cx + scale * a * r * np.cos(t), cy + scale * b * r * np.sin(t)])

    return at


def _rois(z_mm: FloatArray) -> list[tuple[str, str, list[tuple[float, list[FloatArray]]]]]:
    """(name, type, [(z, [rings])]) for 10 pelvic ROIs."""
    rng = np.random.default_rng(2026)
    zc = float(np.mean(z_mm))
    rois: list[tuple[str, str, list[tuple[float, list[FloatArray]]]]] = []

    def ellipsoid(
        name: str, kind: str, a: float, b: float, c: float, centre: tuple[float, float, float],
        n: int, hollow: float = 0.0,
    ) -> None:  # fmt: skip
        outer = _outline(rng, a, b, n, 0.04)
        inner = _outline(rng, a * hollow, b * hollow, n // 2, 0.02) if hollow else None
        planes = []
        for z in z_mm:
            u = (z - centre[2]) / c
            if abs(u) >= 0.98:
                continue
            s = float(np.sqrt(1.0 - u * u))
            rings = [outer(centre[0], centre[1], s)]
            if inner is not None and abs(u) < 0.8:
                rings.append(inner(centre[0], centre[1], s))
            planes.append((float(z), rings))
        rois.append((name, kind, planes))

    def cylinder(
        name: str, kind: str, a: float, b: float, centre: tuple[float, float],
        z_range: tuple[float, float], n: int, drift: tuple[float, float] = (0.0, 0.0),
    ) -> None:  # fmt: skip
        ring = _outline(rng, a, b, n, 0.05)
        planes = []
        for z in z_mm:
            if z_range[0] <= z <= z_range[1]:
                d = z - zc
                rings = [ring(centre[0] + drift[0] * d, centre[1] + drift[1] * d, 1.0)]
                planes.append((float(z), rings))
        rois.append((name, kind, planes))

    z0, z1 = float(z_mm[0]), float(z_mm[-1])
    cylinder("Body", "EXTERNAL", 168.0, 118.0, (0.0, 0.0), (z0, z1), 1000)
    cylinder("Femur_L", "ORGAN", 16.0, 15.0, (95.0, 10.0), (z0, zc + 60), 120, (0.15, 0.0))
    cylinder("Femur_R", "ORGAN", 16.0, 15.0, (-95.0, 10.0), (z0, zc + 60), 120, (-0.15, 0.0))
    ellipsoid("Bladder", "ORGAN", 45.0, 35.0, 35.0, (0.0, -35.0, zc + 15), 240, hollow=0.8)
    cylinder("Rectum", "ORGAN", 18.0, 16.0, (0.0, 55.0), (zc - 60, zc + 40), 140, (0.0, 0.1))
    cylinder("Muscle_L", "ORGAN", 40.0, 70.0, (110.0, 20.0), (z0, z1), 300)
    cylinder("Muscle_R", "ORGAN", 40.0, 70.0, (-110.0, 20.0), (z0, z1), 300)
    ellipsoid("PTV", "PTV", 48.0, 42.0, 45.0, (0.0, 5.0, zc), 260)
    ellipsoid("CTV", "CTV", 40.0, 34.0, 37.0, (0.0, 5.0, zc), 220)
    ellipsoid("GTV", "GTV", 18.0, 15.0, 17.0, (2.0, 8.0, zc + 3), 120)
    return rois


def make_study(workdir: Path) -> tuple[Path, Path]:
    """Write the CT series and RTSTRUCT once, with pydicom; return (ct folder, rtstruct path)."""
    from rtplan.testing import Roi, SeriesGeometry, write_rtstruct

    ct_dir = workdir / "ct"
    rs = workdir / "RS_bench.dcm"
    if rs.is_file() and len(list(ct_dir.glob("CT_*.dcm"))) == SHAPE[0]:
        return ct_dir, rs
    logger.info("writing the benchmark study to %s", workdir)
    files = _write_ct(ct_dir)
    z = SeriesGeometry(origin_mm=ORIGIN_MM, spacing_mm=(SLICE_MM, 1, 1)).slice_positions_mm(
        SHAPE[0]
    )[:, 2]
    rois = [
        Roi(
            name=name,
            interpreted_type=kind,
            contours=tuple(
                np.column_stack([ring, np.full(len(ring), zz)])
                for zz, rings in planes
                for ring in rings
            ),
        )
        for name, kind, planes in _rois(z)
    ]
    write_rtstruct(rs, files, rois=rois, label="BENCH")
    return ct_dir, rs


# ----------------------------------------------------------------------------- timing
def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, min) wall time of ``fn`` over ``repeats`` runs, seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "rtplan-bench-rasterize"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import numba
    import rt_utils
    from rt_utils import RTStructBuilder
    from scipy import ndimage

    import rtplan
    from rtplan.io import read_ct, read_rtstruct

    t0 = time.perf_counter()
    ct_dir, rs = make_study(args.workdir)
    print(f"study ready in {time.perf_counter() - t0:.1f} s: {ct_dir} + {rs.name}")

    t0 = time.perf_counter()
    ct = read_ct(ct_dir)
    t_ct = time.perf_counter() - t0
    t0 = time.perf_counter()
    ss = read_rtstruct(rs, reference=ct)
    t_rs = time.perf_counter() - t0
    t0 = time.perf_counter()
    rtu = RTStructBuilder.create_from(str(ct_dir), str(rs))
    t_rtu_load = time.perf_counter() - t0
    names = ss.names
    n_vertices = sum(c.n_points for s in ss for c in s.contours)
    n_contours = sum(len(s.contours) for s in ss)
    print(f"grid {ct.grid.shape}, {len(names)} ROIs, {n_contours} contours, {n_vertices} vertices")
    print(f"setup (not timed below): rtplan read_ct {t_ct:.2f} s, read_rtstruct {t_rs:.2f} s; ")
    print(f"                         rt-utils create_from {t_rtu_load:.2f} s")

    # cold: the first call in this process (numba loads or compiles its kernels)
    t0 = time.perf_counter()
    ours = {s.name: s.mask(ct.grid) for s in ss}
    t_cold = time.perf_counter() - t0
    theirs = {n: rtu.get_roi_mask_by_name(n).transpose(2, 0, 1) for n in names}  # warm-up

    def run_rtutils() -> None:
        for n in names:
            rtu.get_roi_mask_by_name(n)

    def run_rtplan() -> None:
        for s in ss:
            s.mask(ct.grid)

    def run_fractional() -> None:
        for s in ss:
            s.fractional_mask(ct.grid)

    threads = numba.get_num_threads()
    rtu_med, rtu_min = _time(run_rtutils, args.repeats)
    ours_med, ours_min = _time(run_rtplan, args.repeats)
    numba.set_num_threads(1)
    one_med, one_min = _time(run_rtplan, args.repeats)
    numba.set_num_threads(threads)
    run_fractional()
    frac_med, frac_min = _time(run_fractional, max(1, args.repeats // 2))

    print()
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    print(f"rtplan {rtplan.__version__}, rt-utils {getattr(rt_utils, '__version__', '1.2.7')}")
    print(f"machine: {platform.machine()}, numba threads: {threads}")
    print()
    print("| what (all 10 ROIs) | median s | min s | rt-utils / this |")
    print("|---|---|---|---|")
    rows = [
        ("rt-utils `get_roi_mask_by_name`", rtu_med, rtu_min),
        (f"rtplan `Structure.mask`, up to {threads} threads", ours_med, ours_min),
        ("rtplan `Structure.mask`, 1 thread", one_med, one_min),
        (f"rtplan `Structure.fractional_mask` (8x8), up to {threads} threads", frac_med, frac_min),
    ]
    for label, med, mn in rows:
        print(f"| {label} | {med:.3f} | {mn:.3f} | {rtu_med / med:.1f} |")
    print(f"| rtplan `Structure.mask`, first call (numba cache load) | {t_cold:.3f} | | |")
    print()
    print("| ROI | rtplan voxels | rt-utils voxels | rt-utils excess | Dice |")
    print("|---|---|---|---|---|")
    ring = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool)
    for n in names:
        a, b = ours[n], theirs[n]
        dice = 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))
        inner_ok = bool(np.all(b[ndimage.binary_erosion(a, ring)]))
        excess = 100.0 * (np.count_nonzero(b) / np.count_nonzero(a) - 1.0)
        print(
            f"| {n} | {np.count_nonzero(a)} | {np.count_nonzero(b)} | {excess:+.1f} % | "
            f"{dice:.4f}{'' if inner_ok else ' (interior differs!)'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
