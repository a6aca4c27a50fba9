"""Margins, overlap-volume histograms and distances on a 512 x 512 x 200 grid, on one core.

Usage::

    python benchmarks/geometry/bench_geometry.py [--repeats N] [--no-peers]

Grid: 512 x 512 pixels of 0.9766 mm, 200 slices of 2.5 mm (a typical planning CT),
head-first supine. Structures are boolean masks on that grid:

* ``PTV``: an ellipsoid 110 x 80 x 95 mm (about 440 cm³), the target-sized case;
* ``Body``: an elliptic cylinder 380 x 260 mm over all 200 slices (38.8 L), the worst
  case (its bounding box is most of the grid);
* ``Rectum``: an elliptic tube 35 x 30 mm, 120 mm long, next to the PTV (for the OVH).

Timed (median of ``--repeats`` runs after one warm-up, numba and BLAS limited to one
thread):

* ``rtplan.geometry.expand(structure, 5.0)`` end to end: crop to the bounding box plus
  the margin, exact EDT, paste on the CT grid, contours regenerated
  (:func:`rtplan.geometry.mask_to_contours`), and the margin computation alone;
* an anisotropic margin (``{"L": 5, "R": 5, "A": 5, "P": 10, "S": 10, "I": 5}``, the
  octant-ellipsoid route);
* ``rtplan.ovh(rectum, ptv)`` and ``rtplan.ovh(body, ptv)``;
* ``rtplan.geometry.min_distance(ptv, rectum)`` on the masks (analytic gap 5 mm);
* peers: ``plastimatch dmap`` (Maurer EDT on the whole volume, then thresholded at 5 mm,
  the plastimatch way to grow a structure by a margin) and ``scipy.ndimage.binary_dilation``
  with a 5 mm ball (the morphological way), both on the same mask; their masks are
  compared with rtplan's.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from rtplan import Grid, Structure, geometry  # noqa: E402
from rtplan.geometry import _lattice as lat  # noqa: E402
from rtplan.geometry._margins import Margin, dilate_array  # noqa: E402

BoolArray = npt.NDArray[np.bool_]
SHAPE = (200, 512, 512)
ANISOTROPIC = {"L": 5.0, "R": 5.0, "A": 5.0, "P": 10.0, "S": 10.0, "I": 5.0}
SPACING = (2.5, 0.9766, 0.9766)


def ct_grid() -> Grid:
    origin = (-255.5 * SPACING[2], -255.5 * SPACING[1], -100.0 * SPACING[0])
    return Grid(shape=SHAPE, spacing_mm=SPACING, origin_mm=origin)


def masks(g: Grid) -> dict[str, BoolArray]:
    z = g.axis_mm(0)[:, None, None]
    y = g.axis_mm(1)[None, :, None]
    x = g.axis_mm(2)[None, None, :]
    ptv = ((x - 10) / 55) ** 2 + ((y + 5) / 40) ** 2 + ((z - 5) / 47.5) ** 2 <= 1.0
    body = np.broadcast_to((x / 190) ** 2 + (y / 130) ** 2 <= 1.0, SHAPE).copy()
    rectum = (((x - 10) / 17.5) ** 2 + ((y - 55) / 15) ** 2 <= 1.0) & (np.abs(z) <= 60)
    return {"PTV": ptv, "Body": body, "Rectum": np.asarray(rectum)}


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    result = fn()  # warm-up (numba compilation, caches)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def write_mha(path: Path, mask: BoolArray, g: Grid) -> None:
    header = (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        f"Offset = {g.origin_mm[0]} {g.origin_mm[1]} {g.origin_mm[2]}\n"
        "TransformMatrix = 1 0 0 0 1 0 0 0 1\n"
        f"ElementSpacing = {g.spacing_mm[2]} {g.spacing_mm[1]} {g.spacing_mm[0]}\n"
        f"DimSize = {g.shape[2]} {g.shape[1]} {g.shape[0]}\n"
        "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
    )
    path.write_bytes(header.encode() + mask.astype(np.uint8).tobytes())


def read_mha(path: Path, shape: tuple[int, int, int]) -> npt.NDArray[np.float32]:
    data = path.read_bytes()
    marker = b"ElementDataFile = LOCAL\n"
    head, raw = data.split(marker, 1)
    kind = "MET_FLOAT" if b"MET_FLOAT" in head else "MET_DOUBLE"
    dtype = np.float32 if kind == "MET_FLOAT" else np.float64
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.float32)


def plastimatch_margin(mask: BoolArray, g: Grid, margin_mm: float) -> tuple[float, BoolArray]:
    exe = shutil.which("plastimatch")
    if exe is None:
        raise RuntimeError("plastimatch not installed (apt-get install plastimatch)")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "m.mha", Path(tmp) / "d.mha"
        write_mha(src, mask, g)
        t = time.perf_counter()
        subprocess.run(
            [exe, "dmap", "--input", str(src), "--output", str(out), "--algorithm", "maurer"],
            check=True,
            capture_output=True,
        )
        dt = time.perf_counter() - t
        d = read_mha(out, mask.shape)
    # dmap: distance to the structure's boundary voxels (0 on them, positive outside)
    return dt, (d <= margin_mm + 1e-6) | mask


def scipy_ball_margin(mask: BoolArray, g: Grid, margin_mm: float) -> BoolArray:
    from scipy import ndimage

    n = [int(np.floor(margin_mm / s)) for s in g.spacing_mm]
    k, j, i = np.meshgrid(*(np.arange(-m, m + 1) for m in n), indexing="ij")
    sp = g.spacing_mm
    ball = (k * sp[0]) ** 2 + (j * sp[1]) ** 2 + (i * sp[2]) ** 2 <= margin_mm**2
    return np.asarray(ndimage.binary_dilation(mask, ball), dtype=bool)


def dice(a: BoolArray, b: BoolArray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-peers", action="store_true")
    args = p.parse_args(argv)
    g = ct_grid()
    m = masks(g)
    s = {name: Structure.from_mask(arr, g, name=name) for name, arr in m.items()}
    print(
        f"# rtplan geometry benchmark — {platform.processor() or platform.machine()}, "
        f"Python {sys.version.split()[0]}, one thread"
    )
    print(f"grid {SHAPE} voxels of {SPACING} mm")
    for name in ("PTV", "Body"):
        st = s[name]
        print(f"\n## 5 mm margin on {name} ({st.volume_cc:.0f} cm³)")
        t_total, grown = timed(lambda st=st: geometry.expand(st, 5.0), args.repeats)
        assert isinstance(grown, Structure)
        bounds = lat.index_bounds(st, g)
        assert bounds is not None
        box = lat.lattice_box(g, bounds[0] - 4, bounds[1] + 4)
        sub = lat.mask_on(st, box)
        axes = Margin.isotropic(5.0).along_axes(g)
        t_kernel, _ = timed(
            lambda sub=sub, sp=box.spacing_mm, axes=axes: dilate_array(sub, sp, axes),
            args.repeats,
        )
        t_aniso, _ = timed(lambda st=st: geometry.expand(st, ANISOTROPIC), args.repeats)
        print(f"rtplan expand, end to end (contours included): {t_total:.2f} s")
        print(f"rtplan margin computation only (box {box.shape}): {t_kernel:.2f} s")
        print(f"rtplan anisotropic expand (octant ellipsoid), end to end: {t_aniso:.2f} s")
        ours = grown.mask(g)
        if not args.no_peers:
            t_pl, theirs = plastimatch_margin(m[name], g, 5.0)
            raw = geometry.distance_map(m[name], g.spacing_mm) <= 5.0 + 1e-6  # no sub-voxel slack
            print(
                f"plastimatch dmap (maurer, whole volume) + threshold: {t_pl:.2f} s; "
                f"Dice with rtplan {dice(ours, theirs):.5f}, voxels only in rtplan "
                f"{np.count_nonzero(ours & ~theirs)}, only in plastimatch "
                f"{np.count_nonzero(theirs & ~ours)}; rtplan's distances thresholded "
                f"without the sub-voxel slack differ from plastimatch in "
                f"{np.count_nonzero(raw != theirs)} voxels"
            )
            t_sc, ball = timed(lambda name=name: scipy_ball_margin(m[name], g, 5.0), 1)
            assert isinstance(ball, np.ndarray)
            print(
                f"scipy binary_dilation with a 5 mm ball (whole volume): {t_sc:.2f} s; "
                f"Dice with rtplan {dice(ours, ball):.5f}"
            )
    print("\n## overlap-volume histograms")
    for organ in ("Rectum", "Body"):
        t_ovh, h = timed(lambda organ=organ: geometry.ovh(s[organ], s["PTV"]), args.repeats)
        assert isinstance(h, geometry.OverlapVolumeHistogram)
        print(
            f"rtplan ovh({organ}, PTV): {t_ovh:.2f} s ({len(h.distances_mm)} distances, "
            f"{h.overlap_percent:.1f} % overlap, 50 % within {h.distance_at(50):.1f} mm)"
        )
    print("\n## minimum distance between masks")
    # the PTV's posterior pole (y = -5 + 40) faces the rectum's anterior wall (y = 55 - 15)
    # at x = 10 mm, inside the rectum's z range: the analytic gap is 5 mm
    t_min, d = timed(lambda: geometry.min_distance(s["PTV"], s["Rectum"]), args.repeats)
    print(f"rtplan min_distance(PTV, Rectum): {t_min:.2f} s ({d:.3f} mm; analytic 5.000 mm)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
