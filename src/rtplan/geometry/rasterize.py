"""Contours <-> voxel masks, with sub-voxel accuracy.

Rasterisation works in the grid's continuous index space: contour points are mapped with
:meth:`rtplan.Grid.mm_to_index` (never rounded), each grid slice takes the nearest contour
plane within half the structure's slice thickness, and the plane's closed contours are
filled together by an exact scan-line even-odd rule:

* :func:`mask`: a voxel is inside when its centre is (half-open rule on edges);
* :func:`fractional_mask`: the inside fraction of each voxel, exact along each of
  ``subsamples`` sub-rows per row and averaged over ``subsamples`` sub-slices.

rt-utils, by comparison, rounds contour vertices to pixel indices and fills with OpenCV
(``cv2.fillPoly``), which includes boundary pixels; its masks are therefore slightly larger
than the exact centre-inside masks made here (tested in ``tests/geometry``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numba
import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError
from rtplan.grid import Grid
from rtplan.image import Image

if TYPE_CHECKING:
    from rtplan.structures import Contour, Structure

__all__ = ["fractional_mask", "mask", "mask_to_contours", "slice_polygons"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


# ----------------------------------------------------------------------------- kernels
@numba.njit(cache=True)
def _crossings(
    xs: FloatArray, ys: FloatArray, starts: npt.NDArray[np.int64], y: float, buf: FloatArray
) -> int:
    """X positions where the horizontal line at ``y`` crosses the rings (half-open rule)."""
    cnt = 0
    for r in range(starts.shape[0] - 1):
        a, b = starts[r], starts[r + 1]
        for e in range(a, b):
            f = e + 1 if e + 1 < b else a
            y0, y1 = ys[e], ys[f]
            if (y0 <= y < y1) or (y1 <= y < y0):
                buf[cnt] = xs[e] + (y - y0) * (xs[f] - xs[e]) / (y1 - y0)
                cnt += 1
    buf[:cnt].sort()
    return cnt


@numba.njit(cache=True)
def _fill_centres(
    xs: FloatArray, ys: FloatArray, starts: npt.NDArray[np.int64], out: npt.NDArray[np.bool_]
) -> None:
    """Set ``out[j, i]`` where pixel centre ``(i, j)`` is inside (even-odd)."""
    nj, ni = out.shape
    buf = np.empty(xs.shape[0] + 1)
    j0 = max(0, int(np.ceil(ys.min())))
    j1 = min(nj - 1, int(np.floor(ys.max())))
    for j in range(j0, j1 + 1):
        cnt = _crossings(xs, ys, starts, float(j), buf)
        for p in range(0, cnt - 1, 2):
            i0 = max(0, int(np.ceil(buf[p])))
            i1 = min(ni - 1, int(np.ceil(buf[p + 1])) - 1)
            for i in range(i0, i1 + 1):
                out[j, i] = True


@numba.njit(cache=True)
def _fill_fraction(
    xs: FloatArray,
    ys: FloatArray,
    starts: npt.NDArray[np.int64],
    nsub: int,
    weight: float,
    out: npt.NDArray[np.float32],
) -> None:
    """Add ``weight`` times the inside fraction of each pixel to ``out[j, i]``."""
    nj, ni = out.shape
    buf = np.empty(xs.shape[0] + 1)
    w = weight / nsub
    j0 = max(0, int(np.floor(ys.min() + 0.5)))
    j1 = min(nj - 1, int(np.floor(ys.max() + 0.5)))
    lo, hi = -0.5, ni - 0.5
    for j in range(j0, j1 + 1):
        for s in range(nsub):
            y = j - 0.5 + (s + 0.5) / nsub
            cnt = _crossings(xs, ys, starts, y, buf)
            for p in range(0, cnt - 1, 2):
                xa = max(lo, buf[p])
                xb = min(hi, buf[p + 1])
                if xb <= xa:
                    continue
                ia = min(ni - 1, int(np.floor(xa + 0.5)))
                ib = min(ni - 1, int(np.floor(xb + 0.5)))
                if ia == ib:
                    out[j, ia] += (xb - xa) * w
                else:
                    out[j, ia] += (ia + 0.5 - xa) * w
                    for i in range(ia + 1, ib):
                        out[j, i] += w
                    out[j, ib] += (xb - (ib - 0.5)) * w


# ----------------------------------------------------------------------------- planes
def _pack(rings: list[FloatArray]) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    xs = np.concatenate([r[:, 0] for r in rings])
    ys = np.concatenate([r[:, 1] for r in rings])
    starts = np.cumsum([0] + [r.shape[0] for r in rings]).astype(np.int64)
    return xs, ys, starts


def slice_polygons(
    contours: tuple[Contour, ...], grid: Grid, slice_thickness_mm: float | None, name: str = ""
) -> tuple[FloatArray, list[list[FloatArray]], float]:
    """Closed contours in grid index space, grouped by plane.

    Parameters
    ----------
    contours : tuple of Contour
        Any contours; only closed ones are used.
    grid : Grid
        The grid whose index space the rings are expressed in.
    slice_thickness_mm : float or None
        Slab thickness of each plane (median plane gap when ``None``).
    name : str
        Structure name for messages.

    Returns
    -------
    plane_k : numpy.ndarray, shape (P,)
        Continuous slice index of each plane, increasing.
    rings : list of list of numpy.ndarray
        For each plane, its rings as ``(N, 2)`` arrays of continuous ``(i, j)`` indices.
    half_thickness_k : float
        Half the slab thickness in slice-index units.

    Raises
    ------
    GeometryError
        If a contour is not parallel to the grid's slices.
    """
    closed = [c for c in contours if c.geometric_type.is_closed]
    dk = grid.spacing_mm[0]
    items: list[tuple[float, FloatArray]] = []
    for c in closed:
        ijk = grid.mm_to_index(c.points_mm)
        spread_mm = float(ijk[:, 2].max() - ijk[:, 2].min()) * dk
        if spread_mm > 0.5:
            raise GeometryError(
                f"structure {name!r}: a contour is not parallel to the grid slices "
                f"(it spans {spread_mm:.2f} mm across slices); resample the structure on a "
                "grid with the contours' orientation"
            )
        items.append((float(ijk[:, 2].mean()), ijk[:, :2]))
    items.sort(key=lambda t: t[0])
    plane_k: list[float] = []
    rings: list[list[FloatArray]] = []
    tol_k = 0.05 / dk
    for k, ring in items:
        if plane_k and abs(k - plane_k[-1]) <= tol_k:
            rings[-1].append(ring)
        else:
            plane_k.append(k)
            rings.append([ring])
    pk = np.asarray(plane_k, dtype=np.float64)
    if slice_thickness_mm is not None and slice_thickness_mm > 0:
        half = 0.5 * slice_thickness_mm / dk
    elif pk.size > 1:
        half = 0.5 * float(np.median(np.diff(pk)))
    else:
        half = 0.5
    return pk, rings, half


def _nearest_plane(plane_k: FloatArray, k: float, half: float) -> int:
    if plane_k.size == 0:
        return -1
    p = int(np.argmin(np.abs(plane_k - k)))
    return p if abs(plane_k[p] - k) <= half + 1e-6 else -1


def mask(structure: Structure, grid: Grid) -> npt.NDArray[np.bool_]:
    """Voxels of ``grid`` whose centres lie inside ``structure``.

    Parameters
    ----------
    structure : Structure
        Contours (even-odd per plane) or a structure holding a voxel mask.
    grid : Grid
        Target grid, slices parallel to the contour planes.

    Returns
    -------
    numpy.ndarray of bool, shape grid.shape

    Raises
    ------
    GeometryError
        If contours are not parallel to the grid slices.
    """
    if structure.mask_image is not None:
        m = structure.mask_image
        if m.grid.isclose(grid):
            return np.array(m.array, dtype=bool)
        return np.asarray(m.resample(grid, order=0, fill_value=0).array, dtype=bool)
    out = np.zeros(grid.shape, dtype=bool)
    if not structure.closed_contours:
        return out
    plane_k, rings, half = slice_polygons(
        structure.closed_contours, grid, structure.slice_thickness_mm, structure.name
    )
    packed = [_pack(r) for r in rings]
    for k in range(grid.shape[0]):
        p = _nearest_plane(plane_k, float(k), half)
        if p >= 0:
            xs, ys, starts = packed[p]
            _fill_centres(xs, ys, starts, out[k])
    return out


def fractional_mask(
    structure: Structure, grid: Grid, *, subsamples: int = 8
) -> npt.NDArray[np.float32]:
    """Fraction of each voxel of ``grid`` inside ``structure`` (partial volume).

    In-plane coverage is exact along ``subsamples`` sub-rows per voxel row; through-plane
    coverage averages ``subsamples`` sub-slices, each taking the nearest contour plane
    within half the structure's slice thickness (so a structure ends half a slice
    thickness beyond its first and last contour).

    Parameters
    ----------
    structure : Structure
        Contours or a mask structure (a mask is resampled by supersampling).
    grid : Grid
        Target grid.
    subsamples : int
        Sub-rows and sub-slices per voxel, >= 1.

    Returns
    -------
    numpy.ndarray of float32 in [0, 1], shape grid.shape
    """
    if subsamples < 1:
        raise GeometryError(f"subsamples must be >= 1, got {subsamples}")
    if structure.mask_image is not None:
        m = structure.mask_image
        if m.grid.isclose(grid):
            return np.asarray(m.array, dtype=np.float32)
        return _supersample_mask(m, grid, subsamples)
    out = np.zeros(grid.shape, dtype=np.float32)
    if not structure.closed_contours:
        return out
    plane_k, rings, half = slice_polygons(
        structure.closed_contours, grid, structure.slice_thickness_mm, structure.name
    )
    packed = [_pack(r) for r in rings]
    for k in range(grid.shape[0]):
        # which plane each sub-slice takes; identical sub-slices are filled once
        weights: dict[int, int] = {}
        for s in range(subsamples):
            kk = k - 0.5 + (s + 0.5) / subsamples
            p = _nearest_plane(plane_k, kk, half)
            if p >= 0:
                weights[p] = weights.get(p, 0) + 1
        for p, count in weights.items():
            xs, ys, starts = packed[p]
            _fill_fraction(xs, ys, starts, subsamples, count / subsamples, out[k])
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _supersample_mask(m: Image, grid: Grid, n: int) -> npt.NDArray[np.float32]:
    """Fraction of each target voxel covered by a voxel mask (nearest-neighbour supersampling)."""
    out = np.zeros(grid.shape, dtype=np.float32)
    offs = (np.arange(n) + 0.5) / n - 0.5
    nj, ni = grid.shape[1], grid.shape[2]
    jj, ii = np.meshgrid(
        np.arange(nj, dtype=np.float64), np.arange(ni, dtype=np.float64), indexing="ij"
    )
    src = np.asarray(m.array, dtype=np.float64)
    for k in range(grid.shape[0]):
        acc = np.zeros((nj, ni))
        for dz in offs:
            for dy in offs:
                for dx in offs:
                    ijk = np.stack(
                        [(ii + dx).ravel(), (jj + dy).ravel(), np.full(ii.size, k + dz)], axis=1
                    )
                    s_ijk = m.grid.mm_to_index(grid.index_to_mm(ijk))
                    r = np.rint(s_ijk).astype(np.int64)
                    ok = np.all((r >= 0) & (r < np.asarray(m.grid.shape_ijk)), axis=1)
                    v = np.zeros(ijk.shape[0])
                    v[ok] = src[r[ok, 2], r[ok, 1], r[ok, 0]]
                    acc += v.reshape(nj, ni)
        out[k] = acc / n**3
    return out


def _drop_collinear(ring: FloatArray, tol: float = 1e-9) -> FloatArray:
    """Remove vertices lying on the straight line through their neighbours."""
    if ring.shape[0] <= 3:
        return ring
    prev = np.roll(ring, 1, axis=0)
    nxt = np.roll(ring, -1, axis=0)
    cross = (ring[:, 0] - prev[:, 0]) * (nxt[:, 1] - prev[:, 1]) - (ring[:, 1] - prev[:, 1]) * (
        nxt[:, 0] - prev[:, 0]
    )
    keep = np.abs(cross) > tol
    return ring[keep] if np.count_nonzero(keep) >= 3 else ring


def mask_to_contours(mask_image: Image) -> list[Contour]:
    """Closed planar contours tracing a boolean mask, slice by slice.

    Each boundary runs midway between inside and outside voxel centres (marching squares
    at level 0.5), so rasterising the contours with :func:`mask` on the same grid gives
    the mask back. Holes come out as separate rings inside their outer ring (even-odd).

    Parameters
    ----------
    mask_image : Image
        Boolean mask on its grid.

    Returns
    -------
    list of Contour
        CLOSED_PLANAR contours in LPS mm.
    """
    from skimage import measure

    from rtplan.structures import Contour, ContourType

    arr = np.asarray(mask_image.array, dtype=bool)
    grid = mask_image.grid
    out: list[Contour] = []
    for k in np.flatnonzero(arr.reshape(arr.shape[0], -1).any(axis=1)):
        padded = np.pad(arr[k].astype(np.float64), 1)
        for c in measure.find_contours(padded, 0.5):  # type: ignore[no-untyped-call]
            rc = c - 1.0  # undo padding; columns are (row j, column i)
            if np.allclose(rc[0], rc[-1]):
                rc = rc[:-1]
            ring = _drop_collinear(rc[:, ::-1])
            if ring.shape[0] < 3:
                continue
            ijk = np.column_stack([ring, np.full(ring.shape[0], float(k))])
            out.append(
                Contour(points_mm=grid.index_to_mm(ijk), geometric_type=ContourType.CLOSED_PLANAR)
            )
    return out
