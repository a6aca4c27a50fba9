"""Needle trajectory search over the whole skin of a 512 x 512 x 200 CT.

Usage::

    python benchmarks/guidance/bench_trajectory.py [--repeats N] [--threads N]

A synthetic lumbar CT is built in memory: 512 x 512 pixels of 0.9766 mm, 200 slices of
2.5 mm (500 mm long), head-first supine; an elliptic body 340 x 250 mm, a vertebral body
with cortex and a ring of posterior elements around a spinal canal running the whole
length, two kidneys, a target (r = 10 mm) in the vertebral body. Masks are given as
images on the CT grid (what a caller holds after reading an RT Structure Set and
rasterising it; that is not timed).

Timed, after one warm-up call (numba compilation):

* ``bone target``: target in the vertebral body; avoid the canal and both kidneys with
  5 mm; no approach restriction, so every skin voxel within 150 mm is a candidate; the
  cortex incidence is computed (bone map from a given bone mask).
* ``soft-tissue target``: a paraspinal target; avoid canal, kidneys and bone (5 mm), the
  bone mask covering the whole vertebral column.
* ``automatic body``: the bone-target search with the body outline computed from HU
  (:func:`rtplan.tissue.body_mask` on the searched region) instead of given.
* ``whole skin``: the bone-target search with a needle length (600 mm) that reaches every
  point of the CT, so that every skin voxel of the 512 x 512 x 200 CT is a candidate path,
  tested over its whole length (up to 300 mm).

Each row reports the candidates tested (skin voxels within reach), the feasible ones and
the wall time (best of ``--repeats``).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from rtplan import Grid, Image
from rtplan.guidance import plan_trajectory


def phantom() -> dict[str, Any]:
    """The synthetic lumbar CT and its masks."""
    g = Grid(
        shape=(200, 512, 512),
        spacing_mm=(2.5, 0.9765625, 0.9765625),
        origin_mm=(-249.51171875, -249.51171875, -248.75),
    )
    x = g.axis_mm(2)[None, None, :]
    y = g.axis_mm(1)[None, :, None]
    z = g.axis_mm(0)[:, None, None]
    shape = g.shape
    body = np.broadcast_to((x / 170.0) ** 2 + ((y - 10) / 125.0) ** 2 <= 1, shape)
    vb = np.broadcast_to((x / 22.5) ** 2 + ((y - 20) / 17.5) ** 2 <= 1, shape)
    vb_core = np.broadcast_to((x / 19.5) ** 2 + ((y - 20) / 14.5) ** 2 <= 1, shape)
    ring = np.broadcast_to(
        ((x / 20.0) ** 2 + ((y - 52) / 18.0) ** 2 <= 1)
        & ~((x / 11.0) ** 2 + ((y - 52) / 8.5) ** 2 <= 1),
        shape,
    )
    canal = np.broadcast_to((x / 11.0) ** 2 + ((y - 52) / 8.5) ** 2 <= 1, shape)
    kid_l = ((x - 80) / 28.0) ** 2 + ((y - 60) / 17.0) ** 2 + ((z - 10) / 50.0) ** 2 <= 1
    kid_r = ((x + 80) / 28.0) ** 2 + ((y - 60) / 17.0) ** 2 + ((z + 5) / 50.0) ** 2 <= 1
    gtv = (x - 5) ** 2 + (y - 18) ** 2 + z**2 <= 10.0**2
    hu = np.full(shape, -1000, dtype=np.int16)
    hu[body] = 40
    hu[vb | ring] = 1200
    hu[vb_core] = 250
    hu[canal] = 15
    hu[kid_l | kid_r] = 30
    hu[gtv] = 50

    def img(mask: np.ndarray, name: str) -> Image:
        return Image(array=np.ascontiguousarray(mask), grid=g, units="1", name=name)

    return {
        "ct": Image(array=hu, grid=g, units="HU", patient_position="HFS"),
        "body": img(body, "Body"),
        "bone": img(vb | ring, "Bone"),
        "canal": img(canal, "SpinalCanal"),
        "kidney_l": img(kid_l, "Kidney_L"),
        "kidney_r": img(kid_r, "Kidney_R"),
        "gtv_mm": np.array([5.0, 18.0, 0.0]),
        "paraspinal_mm": np.array([-45.0, 60.0, 0.0]),
    }


def _skin_voxels(body: np.ndarray) -> int:
    """Body voxels with a 6-neighbour outside the body (the image's end faces excluded)."""
    from scipy import ndimage

    return int(np.count_nonzero(body & ~ndimage.binary_erosion(body, border_value=1)))


def _best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="numba threads")
    args = parser.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
    t0 = time.perf_counter()
    p = phantom()
    print(f"phantom built in {time.perf_counter() - t0:.1f} s; CT {p['ct'].grid}")
    avoid = [p["canal"], p["kidney_l"], p["kidney_r"]]
    cases: dict[str, Callable[[], Any]] = {
        "bone target": lambda: plan_trajectory(
            p["ct"], p["gtv_mm"], avoid=avoid, clearance_mm=5.0, body=p["body"], bone=p["bone"]
        ),
        "soft-tissue target": lambda: plan_trajectory(
            p["ct"],
            p["paraspinal_mm"],
            avoid=[*avoid, p["bone"]],
            clearance_mm=5.0,
            body=p["body"],
        ),
        "automatic body": lambda: plan_trajectory(
            p["ct"], p["gtv_mm"], avoid=avoid, clearance_mm=5.0, bone=p["bone"]
        ),
        "whole skin": lambda: plan_trajectory(
            p["ct"],
            p["gtv_mm"],
            avoid=avoid,
            clearance_mm=5.0,
            body=p["body"],
            bone=p["bone"],
            max_length_mm=600.0,
        ),
    }
    skin = _skin_voxels(np.asarray(p["body"].array))
    print(f"skin voxels of the CT (body voxels with a 6-neighbour outside): {skin}")
    cases["bone target"]()  # warm-up: numba compilation and caches
    print(
        f"python {platform.python_version()}, numba {numba.__version__} "
        f"({numba.get_num_threads()} threads), {platform.machine()}"
    )
    print(f"{'case':<20} {'candidates':>10} {'feasible':>9} {'best s':>7}")
    for name, fn in cases.items():
        seconds, res = _best_of(fn, args.repeats)
        acc = res.accessibility
        print(
            f"{name:<20} {acc.points_mm.shape[0]:>10} {acc.n_feasible:>9} {seconds:>7.2f}"
            f"   best: {res[0]!r}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
