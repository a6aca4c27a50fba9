"""Exact radiological path lengths through a voxel grid (Siddon's algorithm).

R. L. Siddon, "Fast calculation of the exact radiological path for a three-dimensional CT
array", Med. Phys. 12 (1985) 252-255, in the incremental form of F. Jacobs, E. Sundermann,
B. De Sutter, M. Christiaens and I. Lemahieu, "A fast algorithm to calculate the exact
radiological path through a pixel or voxel space", J. Comput. Inf. Technol. 6 (1998)
89-94: the ray is followed from voxel to voxel by comparing the parametric distances to
the next plane along each axis, and each traversed voxel contributes its intersection
length times its value.

Coordinates are the grid's own frame in mm: voxel ``(i, j, k)`` has its centre at
``(i di, j dj, k dk)``; arrays are indexed ``[k, j, i]``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange

__all__ = ["radiological_path", "ray_cumulative", "ray_sum"]

FloatArray = npt.NDArray[np.float64]


@njit()
def _grid_span(
    shape: tuple[int, int, int],
    spacing: FloatArray,
    sx: float,
    sy: float,
    sz: float,
    dx: float,
    dy: float,
    dz: float,
) -> tuple[float, float]:
    """Ray parameters ``(a_min, a_max)`` in ``[0, 1]`` where ``s + a d`` is in the grid box.

    The box is bounded by the outer voxel edges; ``a_min >= a_max`` when the ray misses it.
    """
    nk, nj, ni = shape
    a_min = 0.0
    a_max = 1.0
    for s0, d, h, n in (
        (sx, dx, spacing[0], ni),
        (sy, dy, spacing[1], nj),
        (sz, dz, spacing[2], nk),
    ):
        lo = -0.5 * h
        hi = (n - 0.5) * h
        if d != 0.0:
            a0 = (lo - s0) / d
            a1 = (hi - s0) / d
            a_min = max(a_min, min(a0, a1))
            a_max = min(a_max, max(a0, a1))
        elif s0 < lo or s0 > hi:
            return 1.0, 0.0
    return a_min, a_max


@njit()
def _axis_start(
    s0: float, d: float, h: float, n: int, a_in: float
) -> tuple[int, int, float, float]:
    """Along one axis: entry voxel, index step, next plane crossing and crossing increment.

    ``a_in`` is a ray parameter just past the entry into the grid; the crossing and its
    increment are ray parameters (infinite when the ray is parallel to the planes).
    """
    i = min(max(math.floor((s0 + a_in * d) / h + 0.5), 0), n - 1)
    if d > 0.0:
        return i, 1, ((i + 0.5) * h - s0) / d, h / d
    if d < 0.0:
        return i, -1, ((i - 0.5) * h - s0) / d, -h / d
    return i, 0, np.inf, np.inf


@njit()
def ray_sum(
    values: FloatArray,
    spacing: FloatArray,
    sx: float,
    sy: float,
    sz: float,
    px: float,
    py: float,
    pz: float,
) -> float:
    """Line integral of ``values`` from ``s`` to ``p`` (grid frame, mm).

    Parameters
    ----------
    values : numpy.ndarray, shape (nk, nj, ni)
        Voxel values (e.g. relative electron density).
    spacing : numpy.ndarray, shape (3,)
        ``(di, dj, dk)``, mm.
    sx, sy, sz, px, py, pz : float
        Start and end points in the grid frame, mm.

    Returns
    -------
    float
        ``sum(length_mm * value)`` over the voxels the segment crosses.
    """
    nk, nj, ni = values.shape
    dx = px - sx
    dy = py - sy
    dz = pz - sz
    length = math.sqrt(dx * dx + dy * dy + dz * dz)
    if length <= 0.0:
        return 0.0
    a_min, a_max = _grid_span(values.shape, spacing, sx, sy, sz, dx, dy, dz)
    if a_min >= a_max:
        return 0.0
    a_in = a_min + 1e-9 * (a_max - a_min)
    ix, stx, nxt_x, inc_x = _axis_start(sx, dx, spacing[0], ni, a_in)
    iy, sty, nxt_y, inc_y = _axis_start(sy, dy, spacing[1], nj, a_in)
    iz, stz, nxt_z, inc_z = _axis_start(sz, dz, spacing[2], nk, a_in)
    total = 0.0
    a_cur = a_min
    while a_cur < a_max:
        if nxt_x <= nxt_y and nxt_x <= nxt_z:
            a_new = min(nxt_x, a_max)
            total += (a_new - a_cur) * values[iz, iy, ix]
            ix += stx
            nxt_x += inc_x
            if ix < 0 or ix >= ni:
                break
        elif nxt_y <= nxt_z:
            a_new = min(nxt_y, a_max)
            total += (a_new - a_cur) * values[iz, iy, ix]
            iy += sty
            nxt_y += inc_y
            if iy < 0 or iy >= nj:
                break
        else:
            a_new = min(nxt_z, a_max)
            total += (a_new - a_cur) * values[iz, iy, ix]
            iz += stz
            nxt_z += inc_z
            if iz < 0 or iz >= nk:
                break
        a_cur = a_new
    return total * length


@njit()
def ray_cumulative(
    values: FloatArray,
    spacing: FloatArray,
    sx: float,
    sy: float,
    sz: float,
    px: float,
    py: float,
    pz: float,
    checkpoints: FloatArray,
    out: FloatArray,
) -> None:
    """Line integrals of ``values`` from ``s`` to several points of one ray, in one pass.

    The ray from ``s`` to ``p`` is followed once (same traversal as :func:`ray_sum`) and
    the running integral is recorded each time the ray parameter passes a checkpoint, so
    ``out[n]`` equals ``ray_sum`` from ``s`` to ``s + checkpoints[n] (p - s)`` (up to
    rounding) at the cost of a single ray.

    Parameters
    ----------
    values : numpy.ndarray, shape (nk, nj, ni)
        Voxel values.
    spacing : numpy.ndarray, shape (3,)
        ``(di, dj, dk)``, mm.
    sx, sy, sz, px, py, pz : float
        Start and end points of the ray in the grid frame, mm.
    checkpoints : numpy.ndarray, shape (n,)
        Non-decreasing ray parameters in ``[0, 1]`` (0 at ``s``, 1 at ``p``).
    out : numpy.ndarray, shape (n,)
        Receives ``sum(length_mm * value)`` from ``s`` to each checkpoint.
    """
    nk, nj, ni = values.shape
    n_cp = checkpoints.size
    dx = px - sx
    dy = py - sy
    dz = pz - sz
    length = math.sqrt(dx * dx + dy * dy + dz * dz)
    for q in range(n_cp):
        out[q] = 0.0
    if length <= 0.0:
        return
    a_min, a_max = _grid_span(values.shape, spacing, sx, sy, sz, dx, dy, dz)
    if a_min >= a_max:
        return
    a_in = a_min + 1e-9 * (a_max - a_min)
    ix, stx, nxt_x, inc_x = _axis_start(sx, dx, spacing[0], ni, a_in)
    iy, sty, nxt_y, inc_y = _axis_start(sy, dy, spacing[1], nj, a_in)
    iz, stz, nxt_z, inc_z = _axis_start(sz, dz, spacing[2], nk, a_in)
    q = 0
    while q < n_cp and checkpoints[q] <= a_min:
        q += 1  # checkpoints before the grid: nothing traversed yet
    total = 0.0
    a_cur = a_min
    while a_cur < a_max and q < n_cp:
        if nxt_x <= nxt_y and nxt_x <= nxt_z:
            axis = 0
            a_new = nxt_x
        elif nxt_y <= nxt_z:
            axis = 1
            a_new = nxt_y
        else:
            axis = 2
            a_new = nxt_z
        a_new = min(a_new, a_max)
        v = values[iz, iy, ix]
        # checkpoints inside this voxel's segment
        while q < n_cp and checkpoints[q] <= a_new:
            out[q] = (total + (checkpoints[q] - a_cur) * v) * length
            q += 1
        total += (a_new - a_cur) * v
        a_cur = a_new
        if axis == 0:
            ix += stx
            nxt_x += inc_x
            if ix < 0 or ix >= ni:
                break
        elif axis == 1:
            iy += sty
            nxt_y += inc_y
            if iy < 0 or iy >= nj:
                break
        else:
            iz += stz
            nxt_z += inc_z
            if iz < 0 or iz >= nk:
                break
    while q < n_cp:
        out[q] = total * length  # checkpoints beyond the grid
        q += 1


@njit(parallel=True)
def radiological_path(
    values: FloatArray, spacing: FloatArray, source: FloatArray, points: FloatArray
) -> FloatArray:
    """Line integrals from one source to many points, in parallel.

    Parameters
    ----------
    values : numpy.ndarray, shape (nk, nj, ni)
    spacing : numpy.ndarray, shape (3,)
        ``(di, dj, dk)``, mm.
    source : numpy.ndarray, shape (3,)
        Grid-frame position of the source, mm.
    points : numpy.ndarray, shape (n, 3)
        Grid-frame end points, mm.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``sum(length_mm * value)`` along each segment.
    """
    out = np.empty(points.shape[0])
    for q in prange(points.shape[0]):
        out[q] = ray_sum(
            values, spacing, source[0], source[1], source[2],
            points[q, 0], points[q, 1], points[q, 2],
        )  # fmt: skip
    return out
