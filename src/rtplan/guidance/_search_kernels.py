"""Compiled segment test of the needle-trajectory search (numba, through :mod:`rtplan._jit`).

Everything here works in the continuous voxel-index space ``(i, j, k)`` of one working
grid; distances are in mm through the voxel spacing ``(di, dj, dk)``. Because grids are
orthonormal, index axes scaled by the spacing form a rotated copy of LPS, so lengths and
dot products computed here equal those in patient space. Values between voxel centres
come from the shared trilinear kernel :func:`rtplan._kernels.trilinear`.

The clearance test relies on two exact lower bounds on the squared distance ``D²`` from a
point to a finite point set ``S`` (the inside voxel centres of an avoided structure). Write
``D²(p) = |p|² + g(p)`` with ``g(p) = min_s (|s|² - 2 p·s)``, a minimum of affine functions,
hence concave:

1. *Within a voxel cell* with trilinear weights ``w_c`` on the 8 corner centres ``q_c``:
   ``D²(p) >= sum_c w_c D²(q_c) - sum_a h_a² t_a (1 - t_a)``, where ``t_a`` is the fractional
   position along axis ``a`` and ``h_a`` the spacing (the concave part is under-estimated
   by its interpolant, the convex part ``|p|²`` over-estimated by exactly that variance).
2. *Along a straight piece* between two samples ``x0, x1`` a distance ``s`` apart:
   ``D²(x) >= min(D²(x0), D²(x1)) - s² / 4`` for every ``x`` between them (same argument
   in one dimension).

So with ``LB`` the first bound at each sample, ``min LB - s²/4 >= c²`` proves that no point
of the segment comes closer than ``c`` to ``S``. The squared distances are stored in
float64 (exact squares of the distance transform's values up to rounding), and the
interpolation runs in float64.

*Skipping* (sphere tracing): the distance ``D`` is 1-Lipschitz, so a sample with
``sqrt(LB) = d`` proves ``D >= e`` on the next ``d - e`` mm of the path. Past a map's *skip
distance* ``e`` (the clearance plus the score's saturation plus two voxel half-diagonals
``r``) the samples within reach are not looked up in that map. This changes no result:
bound 1 is also tight, ``LB >= D² - 2 D r - r²``, so a skipped sample would have given
``LB >= (clearance + saturation)²`` (no constraint, no score), and ``e² - s²/4`` is above
the clearance squared, so bound 2 still holds across skipped samples.

All maps travel as one flat float64 array (``maps``) with, per map, its start, its shape
``(nk, nj, ni)`` and the working-grid index ``(i, j, k)`` of its first voxel. Each path is
tested map by map: the body first, then each clearance map up to the earliest violation
found so far, so the verdict is the first constraint failed along the path (the body
before the maps at the same sample, a lower map index before a higher one).

*Compilation*: the search takes a few hundredths of a second but its compilation was the
largest of a new installation's first run, because every place where a kernel inlines the
trilinear kernel (numba IR inlining) costs half a second to a second of compilation. The trilinear
kernel is inlined once, into the per-sample loop (:func:`lower_bound_d2` in
:func:`_first_violation`); everything called once per path or per map (the walk along one
map, the map views, the incidence's central difference) is a call, and the loop over the
paths is serial (numba's parallel loops cost seconds of compilation to save milliseconds
here). The results are the same, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit
from rtplan._kernels import cell_axis, trilinear

__all__ = [
    "CODE_CLEARANCE0",
    "CODE_FEASIBLE",
    "CODE_LEAVES_BODY",
    "lower_bound_d2",
    "search_segments",
]

CODE_FEASIBLE = 0
CODE_LEAVES_BODY = 4
CODE_CLEARANCE0 = 10  # + index of the violated map

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@njit()
def _box(maps: FloatArray, start: int, shape: IntArray) -> FloatArray:
    """The map stored at ``start`` as a ``(nk, nj, ni)`` view."""
    return maps[start : start + shape[0] * shape[1] * shape[2]].reshape(
        (shape[0], shape[1], shape[2])
    )


@njit(inline=True)
def lower_bound_d2(
    a: FloatArray,
    ox: float,
    oy: float,
    oz: float,
    sat2: float,
    h2x: float,
    h2y: float,
    h2z: float,
    x: float,
    y: float,
    z: float,
) -> float:
    """Bound 1 of the module docstring at working-grid index ``(x, y, z)``.

    Parameters
    ----------
    a : numpy.ndarray, shape (nk, nj, ni)
        Squared distances at the voxel centres of the map's box, mm².
    ox, oy, oz : float
        Working-grid index ``(i, j, k)`` of the box's first voxel.
    sat2 : float
        A lower bound on ``D²`` beyond the box, returned there.
    h2x, h2y, h2z : float
        Squared voxel spacing ``(di², dj², dk²)``, mm².
    x, y, z : float
        The point, working-grid index ``(i, j, k)``.

    Returns
    -------
    float
        A lower bound on the squared distance from the point to the set, mm².
    """
    nk, nj, ni = a.shape
    fx = x - ox
    fy = y - oy
    fz = z - oz
    eps = 1e-9
    if fx < -eps or fy < -eps or fz < -eps or fx > ni - 1 + eps:
        return sat2
    if fy > nj - 1 + eps or fz > nk - 1 + eps:
        return sat2
    tx = cell_axis(fx, ni)[2]
    ty = cell_axis(fy, nj)[2]
    tz = cell_axis(fz, nk)[2]
    var = h2x * tx * (1.0 - tx) + h2y * ty * (1.0 - ty) + h2z * tz * (1.0 - tz)
    return trilinear(a, fx, fy, fz) - var


@njit()
def _nearest_is_zero(
    a: FloatArray, ox: float, oy: float, oz: float, x: float, y: float, z: float
) -> bool:
    """True when the voxel of map ``a`` nearest to the point has ``D² == 0`` (it is in the set)."""
    nk, nj, ni = a.shape
    i = math.floor(x - ox + 0.5)
    j = math.floor(y - oy + 0.5)
    k = math.floor(z - oz + 0.5)
    if i < 0 or j < 0 or k < 0 or i >= ni or j >= nj or k >= nk:
        return False
    return bool(a[k, j, i] == 0.0)


@njit()
def _sample(a: FloatArray, x: float, y: float, z: float) -> float:
    """:func:`rtplan._kernels.trilinear`, compiled once as a function of its own.

    For rare calls (a few per path): each place where a caller inlines the trilinear
    kernel costs half a second to a second of compilation; a call costs nothing
    noticeable there.
    """
    return trilinear(a, x, y, z)


@njit()
def _central_difference(a: FloatArray, x: float, y: float, z: float, out: FloatArray) -> bool:
    """Central-difference gradient (steps of one voxel) of map ``a`` at its index ``(x, y, z)``.

    In index units; equal to the trilinear interpolation of the grid's central
    differences. False when a neighbour falls outside the box.
    """
    nk, nj, ni = a.shape
    if x < 1.0 or y < 1.0 or z < 1.0 or x > ni - 2 or y > nj - 2 or z > nk - 2:
        return False
    out[0] = 0.5 * (_sample(a, x + 1.0, y, z) - _sample(a, x - 1.0, y, z))
    out[1] = 0.5 * (_sample(a, x, y + 1.0, z) - _sample(a, x, y - 1.0, z))
    out[2] = 0.5 * (_sample(a, x, y, z + 1.0) - _sample(a, x, y, z - 1.0))
    return True


@njit()
def _body_limit(
    body: npt.NDArray[np.uint8],
    sx: float,
    sy: float,
    sz: float,
    dx: float,
    dy: float,
    dz: float,
    n_steps: int,
    length: float,
    body_skip_mm: float,
) -> tuple[int, int]:
    """The first sample outside the body (past ``body_skip_mm``) and its code.

    ``(n_steps + 1, CODE_FEASIBLE)`` when every sample lies in the body.
    """
    bk, bj, bi = body.shape
    for m in range(n_steps + 1):
        t = m / n_steps
        if t * length > body_skip_mm:
            ii = math.floor(sx + t * dx + 0.5)
            jj = math.floor(sy + t * dy + 0.5)
            kk = math.floor(sz + t * dz + 0.5)
            if ii < 0 or jj < 0 or kk < 0 or ii >= bi or jj >= bj or kk >= bk:
                return m, CODE_LEAVES_BODY
            if body[kk, jj, ii] == 0:
                return m, CODE_LEAVES_BODY
    return n_steps + 1, CODE_FEASIBLE


@njit()
def _first_violation(
    a: FloatArray,
    ox: float,
    oy: float,
    oz: float,
    sat2: float,
    req2: float,
    skip_mm: float,
    h2: FloatArray,
    sx: float,
    sy: float,
    sz: float,
    dx: float,
    dy: float,
    dz: float,
    n_steps: int,
    length: float,
    limit: int,
) -> tuple[int, float]:
    """Walk samples ``0 .. limit - 1`` against one map (a call per path and map).

    Returns the first sample whose bound (less the allowance between samples) is below
    the clearance (``limit`` if none) and the smallest bound met, mm².
    """
    s = length / n_steps
    allowance = 0.25 * s * s
    lowest = np.inf
    skip_until = -1.0
    for m in range(limit):
        t = m / n_steps
        depth = t * length
        if depth <= skip_until:
            continue
        lb = lower_bound_d2(
            a, ox, oy, oz, sat2, h2[0], h2[1], h2[2], sx + t * dx, sy + t * dy, sz + t * dz
        )
        lowest = min(lowest, lb)
        if lb - allowance < req2:
            return m, lowest
        d = math.sqrt(lb) if lb > 0.0 else 0.0
        if d > skip_mm:
            skip_until = depth + (d - skip_mm)
    return limit, lowest


@njit()
def _incidence(
    bone: FloatArray,
    bone_offset: FloatArray,
    normal: FloatArray,
    normal_offset: FloatArray,
    spacing: FloatArray,
    start: FloatArray,
    end: FloatArray,
    n_steps: int,
) -> float:
    """Angle (degrees) between the path and the bone normal where it last enters bone.

    NaN when the path does not end in bone or no normal could be taken there.
    """
    was_inside = False
    have_normal = False
    nx = 0.0
    ny = 0.0
    nz = 0.0
    grad = np.empty(3)
    step = end - start
    prev = start.copy()
    for m in range(n_steps + 1):
        t = m / n_steps
        x = start[0] + t * step[0]
        y = start[1] + t * step[1]
        z = start[2] + t * step[2]
        inside = _nearest_is_zero(bone, bone_offset[0], bone_offset[1], bone_offset[2], x, y, z)
        if inside and not was_inside and m > 0:
            ok = _central_difference(
                normal,
                0.5 * (prev[0] + x) - normal_offset[0],
                0.5 * (prev[1] + y) - normal_offset[1],
                0.5 * (prev[2] + z) - normal_offset[2],
                grad,
            )
            gx = grad[0] / spacing[0]
            gy = grad[1] / spacing[1]
            gz = grad[2] / spacing[2]
            gn = math.sqrt(gx * gx + gy * gy + gz * gz)
            if ok and gn > 0.0:
                nx = gx / gn
                ny = gy / gn
                nz = gz / gn
                have_normal = True
        was_inside = inside
        prev[0] = x
        prev[1] = y
        prev[2] = z
    if not (have_normal and was_inside):
        return np.nan
    vx = step[0] * spacing[0]
    vy = step[1] * spacing[1]
    vz = step[2] * spacing[2]
    length = math.sqrt(vx * vx + vy * vy + vz * vz)
    cosang = min(1.0, abs(nx * vx + ny * vy + nz * vz) / length)
    return math.degrees(math.acos(cosang))


@njit()
def search_segments(
    starts: FloatArray,
    ends: FloatArray,
    spacing: FloatArray,
    step_mm: float,
    body: npt.NDArray[np.uint8],
    body_skip_mm: float,
    maps: FloatArray,
    map_start: IntArray,
    map_shape: IntArray,
    map_offset: FloatArray,
    map_sat2: FloatArray,
    map_req2: FloatArray,
    map_skip_mm: FloatArray,
    n_constraints: int,
    bone_map: int,
    normal_map: int,
    codes: npt.NDArray[np.int64],
    min_d2: FloatArray,
    incidence_deg: FloatArray,
) -> None:
    """Test straight segments against the body and the avoided distance maps.

    Parameters
    ----------
    starts, ends : numpy.ndarray, shape (N, 3)
        Segment ends (entry, target) in working-grid index coordinates ``(i, j, k)``.
    spacing : numpy.ndarray, shape (3,)
        ``(di, dj, dk)``, mm.
    step_mm : float
        Largest distance between consecutive samples.
    body : numpy.ndarray of uint8, shape (nk, nj, ni)
        1 inside the body; a sample whose nearest voxel is 0 ends the test with
        ``CODE_LEAVES_BODY`` (after the first ``body_skip_mm`` of the path).
    body_skip_mm : float
        Depth below the entry where the body test is not applied.
    maps : numpy.ndarray of float64
        All squared-distance boxes, flattened and concatenated.
    map_start, map_shape, map_offset : numpy.ndarray
        Per map: start in ``maps``, shape ``(nk, nj, ni)``, index offset ``(i, j, k)`` of the
        box's first voxel in the working grid.
    map_sat2 : numpy.ndarray, shape (A,)
        Lower bound on ``D²`` used outside each box.
    map_req2 : numpy.ndarray, shape (A,)
        Required ``D²`` (clearance squared) of the constraint maps.
    map_skip_mm : numpy.ndarray, shape (A,)
        Skip distance of each constraint map, mm (see the module docstring): at least
        ``max(clearance + saturation, r) + 2 r`` with ``r`` the voxel half-diagonal;
        ``inf`` disables skipping.
    n_constraints : int
        Maps ``0 .. n_constraints - 1`` are clearance constraints; later ones serve the
        cortex incidence only.
    bone_map : int
        Index of the squared-distance map whose zero set is bone; -1 for none.
    normal_map : int
        Index of a smooth signed distance map of bone whose gradient gives the cortex
        normal (used where the segment enters bone).
    codes : numpy.ndarray of int64, shape (N,)
        In: 0 for segments to test, anything else to skip. Out: 0 feasible,
        ``CODE_LEAVES_BODY``, or ``CODE_CLEARANCE0 + a`` for the first violated map ``a``.
    min_d2 : numpy.ndarray, shape (N, n_constraints)
        Out: smallest bound-1 value of ``D²`` over the samples, per constraint map (valid
        when feasible).
    incidence_deg : numpy.ndarray, shape (N,)
        Out: angle between the segment and the bone surface normal where the segment last
        enters bone, for segments that end in bone; NaN otherwise.
    """
    h2 = spacing * spacing
    for c in range(starts.shape[0]):
        incidence_deg[c] = np.nan
        for a in range(n_constraints):
            min_d2[c, a] = np.inf
        if codes[c] != 0:
            continue
        sx, sy, sz = starts[c, 0], starts[c, 1], starts[c, 2]
        dx, dy, dz = ends[c, 0] - sx, ends[c, 1] - sy, ends[c, 2] - sz
        vx = dx * spacing[0]
        vy = dy * spacing[1]
        vz = dz * spacing[2]
        length = math.sqrt(vx * vx + vy * vy + vz * vz)
        n_steps = max(1, math.ceil(length / step_mm))
        limit, code = _body_limit(body, sx, sy, sz, dx, dy, dz, n_steps, length, body_skip_mm)
        for a in range(n_constraints):
            first, lowest = _first_violation(
                _box(maps, map_start[a], map_shape[a]),
                map_offset[a, 0],
                map_offset[a, 1],
                map_offset[a, 2],
                map_sat2[a],
                map_req2[a],
                map_skip_mm[a],
                h2,
                sx,
                sy,
                sz,
                dx,
                dy,
                dz,
                n_steps,
                length,
                limit,
            )
            min_d2[c, a] = lowest
            if first < limit:
                limit = first
                code = CODE_CLEARANCE0 + a
        codes[c] = code
        if code == CODE_FEASIBLE and bone_map >= 0 and length > 0.0:
            incidence_deg[c] = _incidence(
                _box(maps, map_start[bone_map], map_shape[bone_map]),
                map_offset[bone_map],
                _box(maps, map_start[normal_map], map_shape[normal_map]),
                map_offset[normal_map],
                spacing,
                starts[c],
                ends[c],
                n_steps,
            )
