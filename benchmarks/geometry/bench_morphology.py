"""The one morphology: both of its methods, side by side, and the switch between them.

Usage::

    python benchmarks/geometry/bench_morphology.py [--repeats N] [--radii 1,3,5,10,20,30]

On a 512 x 512 x 200 planning-CT grid (0.9766 mm pixels, 2.5 mm slices), on one core
(numba and BLAS limited to one thread), for the PTV-sized ellipsoid and the body-sized
elliptic cylinder of ``bench_geometry.py``:

* dilation and erosion by a ball of each radius, by rows (the ball decomposed into runs
  along the column axis) and by the exact Euclidean distance transform thresholded at the
  radius, on the same box (the set's bounding box plus the radius); the two results are
  compared voxel for voxel;
* the method :func:`rtplan.geometry.dilate_mask` picks, and the time of the public call
  (cropping included);
* ``scipy.ndimage.binary_dilation`` with the same ball, for the smaller radii (its cost
  grows with the ball's volume).

Times are medians of ``--repeats`` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from rtplan import geometry  # noqa: E402
from rtplan.geometry import _morphology as morph  # noqa: E402
from rtplan.grid import IndexBox  # noqa: E402

BoolArray = npt.NDArray[np.bool_]
SHAPE = (200, 512, 512)
SPACING = (2.5, 0.9766, 0.9766)
SCIPY_MAX_RADIUS_MM = 5.0


def masks() -> dict[str, BoolArray]:
    z = ((np.arange(SHAPE[0]) - 100.0) * SPACING[0])[:, None, None]
    y = ((np.arange(SHAPE[1]) - 255.5) * SPACING[1])[None, :, None]
    x = ((np.arange(SHAPE[2]) - 255.5) * SPACING[2])[None, None, :]
    ptv = ((x - 10) / 55) ** 2 + ((y + 5) / 40) ** 2 + ((z - 5) / 47.5) ** 2 <= 1.0
    body = np.broadcast_to((x / 190) ** 2 + (y / 130) ** 2 <= 1.0, SHAPE).copy()
    return {"PTV": np.asarray(ptv), "Body": body}


def timed(fn: Callable[[], BoolArray], repeats: int) -> tuple[float, BoolArray]:
    result = fn()  # warm-up (numba compilation, caches)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def ball(radius_mm: float) -> BoolArray:
    n = [int(np.floor(radius_mm / s + 1e-9)) for s in SPACING]
    k, j, i = np.meshgrid(*(np.arange(-m, m + 1) for m in n), indexing="ij")
    d = np.sqrt((k * SPACING[0]) ** 2 + (j * SPACING[1]) ** 2 + (i * SPACING[2]) ** 2)
    return np.asarray(d <= radius_mm + morph.DIST_EPS_MM)


def case(name: str, m: BoolArray, r: float, repeats: int) -> list[tuple[str, bool]]:
    """Table rows of one mask and radius: dilation and erosion, both methods."""
    from functools import partial

    from scipy import ndimage

    sp = np.asarray(SPACING)
    limit = r + morph.DIST_EPS_MM
    bb = IndexBox.from_mask(m)
    assert bb is not None
    box = bb.padded(np.floor(limit / sp).astype(np.int64) + 1, within=m.shape)
    sub = np.ascontiguousarray(m[box.slices])
    picked = "rows" if morph.uses_rows(limit, sp) else "EDT"
    unset = np.zeros((3, 2), dtype=bool)
    rows: list[tuple[str, bool]] = []
    for op in ("dilate", "erode"):
        if op == "dilate":
            core = partial(morph.ball_dilate, sub, sp, limit)
            public = partial(geometry.dilate_mask, m, r, SPACING)
        else:
            core = partial(morph.ball_erode, sub, sp, limit, unset)
            public = partial(geometry.erode_mask, m, r, SPACING)
        t_rows, by_rows = timed(partial(core, method="rows"), repeats)
        t_edt, by_edt = timed(partial(core, method="edt"), repeats)
        t_pub, _ = timed(public, repeats)
        same = bool(np.array_equal(by_rows, by_edt))
        scipy_cell = "—"
        if op == "dilate" and r <= SCIPY_MAX_RADIUS_MM and name == "PTV":
            t0 = time.perf_counter()
            ref = ndimage.binary_dilation(sub, ball(r))
            scipy_cell = f"{time.perf_counter() - t0:.2f} s"
            same = same and bool(np.array_equal(ref, by_rows))
        rows.append(
            (
                f"| {name} | {r:g} | {op} | {t_rows:.3f} s | {t_edt:.3f} s | {picked} "
                f"| {t_pub:.3f} s | {scipy_cell} | {'yes' if same else 'NO'} |",
                same,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--radii", default="1,3,5,10,20,30")
    args = parser.parse_args(argv)
    radii = [float(r) for r in args.radii.split(",")]
    print(f"# {platform.machine()}, Python {platform.python_version()}, one thread")
    print("| mask | radius mm | op | rows | EDT | picked | public call | scipy | same voxels |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, m in masks().items():
        for r in radii:
            for line, same in case(name, m, r, args.repeats):
                print(line, flush=True)
                if not same:
                    print("the two methods differ", file=sys.stderr)
                    return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
