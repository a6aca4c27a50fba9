"""Compiled kernels of the needle-trajectory search (numba).

Everything here works in the continuous voxel-index space ``(i, j, k)`` of one working
grid; distances are in mm through the voxel spacing ``(di, dj, dk)``. Because grids are
orthonormal, index axes scaled by the spacing form a rotated copy of LPS, so lengths and
dot products computed here equal those in patient space.

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
float32 rounded *down*, so storage cannot break the bound either.

*Skipping* (sphere tracing): the distance ``D`` is 1-Lipschitz, so a sample with
``sqrt(LB) = d`` proves ``D >= e`` on the next ``d - e`` mm of the path. Past a map's *skip
distance* ``e`` (the clearance plus the score's saturation plus two voxel half-diagonals
``r``) the samples within reach are not looked up in that map. This changes no result:
bound 1 is also tight, ``LB >= D² - 2 D r - r²``, so a skipped sample would have given
``LB >= (clearance + saturation)²`` (no constraint, no score), and ``e² - s²/4`` is above
the clearance squared, so bound 2 still holds across skipped samples.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["CODE_CLEARANCE0", "CODE_FEASIBLE", "CODE_LEAVES_BODY", "search_segments"]

CODE_FEASIBLE = 0
CODE_LEAVES_BODY = 4
CODE_CLEARANCE0 = 10  # + index of the violated map

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True, inline="always")
def _axis(f: float, n: int) -> tuple[int, int, float]:
    """Lower corner, upper corner and fraction of a continuous index on an axis of n."""
    i0 = math.floor(f)
    if i0 >= n - 1:
        return n - 1, n - 1, 0.0
    if i0 < 0:
        return 0, 0, 0.0
    return i0, i0 + 1, f - i0


@numba.njit(cache=True)
def _lower_bound_d2(
    maps: npt.NDArray[np.float32],
    start: int,
    nk: int,
    nj: int,
    ni: int,
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
    """Bound 1 of the module docstring at working-grid index ``(x, y, z)``."""
    fx = x - ox
    fy = y - oy
    fz = z - oz
    eps = 1e-9
    if fx < -eps or fy < -eps or fz < -eps or fx > ni - 1 + eps:
        return sat2
    if fy > nj - 1 + eps or fz > nk - 1 + eps:
        return sat2
    i0, i1, tx = _axis(fx, ni)
    j0, j1, ty = _axis(fy, nj)
    k0, k1, tz = _axis(fz, nk)
    r00 = start + (k0 * nj + j0) * ni
    r01 = start + (k0 * nj + j1) * ni
    r10 = start + (k1 * nj + j0) * ni
    r11 = start + (k1 * nj + j1) * ni
    c00 = maps[r00 + i0] * (1.0 - tx) + maps[r00 + i1] * tx
    c01 = maps[r01 + i0] * (1.0 - tx) + maps[r01 + i1] * tx
    c10 = maps[r10 + i0] * (1.0 - tx) + maps[r10 + i1] * tx
    c11 = maps[r11 + i0] * (1.0 - tx) + maps[r11 + i1] * tx
    c0 = c00 * (1.0 - ty) + c01 * ty
    c1 = c10 * (1.0 - ty) + c11 * ty
    interp = float(c0 * (1.0 - tz) + c1 * tz)
    var = h2x * tx * (1.0 - tx) + h2y * ty * (1.0 - ty) + h2z * tz * (1.0 - tz)
    return interp - var


@numba.njit(cache=True)
def _nearest_is_zero(
    maps: npt.NDArray[np.float32],
    start: int,
    nk: int,
    nj: int,
    ni: int,
    ox: float,
    oy: float,
    oz: float,
    x: float,
    y: float,
    z: float,
) -> bool:
    """True when the voxel nearest to the point has ``D² == 0`` (it is inside the set)."""
    i = math.floor(x - ox + 0.5)
    j = math.floor(y - oy + 0.5)
    k = math.floor(z - oz + 0.5)
    if i < 0 or j < 0 or k < 0 or i >= ni or j >= nj or k >= nk:
        return False
    return bool(maps[start + (k * nj + j) * ni + i] == 0.0)


@numba.njit(cache=True)
def _interp(
    maps: npt.NDArray[np.float32],
    start: int,
    nk: int,
    nj: int,
    ni: int,
    x: float,
    y: float,
    z: float,
) -> float:
    """Trilinear value of a map at box index ``(x, y, z)``; NaN outside the box."""
    if x < 0 or y < 0 or z < 0 or x > ni - 1 or y > nj - 1 or z > nk - 1:
        return np.nan
    i0, i1, tx = _axis(x, ni)
    j0, j1, ty = _axis(y, nj)
    k0, k1, tz = _axis(z, nk)
    r00 = start + (k0 * nj + j0) * ni
    r01 = start + (k0 * nj + j1) * ni
    r10 = start + (k1 * nj + j0) * ni
    r11 = start + (k1 * nj + j1) * ni
    c00 = maps[r00 + i0] * (1.0 - tx) + maps[r00 + i1] * tx
    c01 = maps[r01 + i0] * (1.0 - tx) + maps[r01 + i1] * tx
    c10 = maps[r10 + i0] * (1.0 - tx) + maps[r10 + i1] * tx
    c11 = maps[r11 + i0] * (1.0 - tx) + maps[r11 + i1] * tx
    return float((c00 * (1.0 - ty) + c01 * ty) * (1.0 - tz) + (c10 * (1.0 - ty) + c11 * ty) * tz)


@numba.njit(cache=True)
def _gradient(
    maps: npt.NDArray[np.float32],
    start: int,
    nk: int,
    nj: int,
    ni: int,
    ox: float,
    oy: float,
    oz: float,
    x: float,
    y: float,
    z: float,
    out: FloatArray,
) -> bool:
    """Central-difference gradient (steps of one voxel) of a map, in index units.

    Equal to the trilinear interpolation of the grid's central differences; False when a
    neighbour falls outside the box.
    """
    fx = x - ox
    fy = y - oy
    fz = z - oz
    vals = np.empty(6)
    for a in range(3):
        for sgn in range(2):
            step = 1.0 if sgn == 0 else -1.0
            px = fx + (step if a == 0 else 0.0)
            py = fy + (step if a == 1 else 0.0)
            pz = fz + (step if a == 2 else 0.0)
            v = _interp(maps, start, nk, nj, ni, px, py, pz)
            if np.isnan(v):
                return False
            vals[2 * a + sgn] = v
    out[0] = 0.5 * (vals[0] - vals[1])
    out[1] = 0.5 * (vals[2] - vals[3])
    out[2] = 0.5 * (vals[4] - vals[5])
    return True


@numba.njit(parallel=True, cache=True)
def search_segments(
    starts: FloatArray,
    ends: FloatArray,
    spacing: FloatArray,
    step_mm: float,
    body: npt.NDArray[np.uint8],
    body_skip_mm: float,
    maps: npt.NDArray[np.float32],
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
    maps : numpy.ndarray of float32
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
    n = starts.shape[0]
    bk, bj, bi = body.shape
    h2x = spacing[0] * spacing[0]
    h2y = spacing[1] * spacing[1]
    h2z = spacing[2] * spacing[2]
    for c in numba.prange(n):
        incidence_deg[c] = np.nan
        if codes[c] != 0:
            continue
        vx = (ends[c, 0] - starts[c, 0]) * spacing[0]
        vy = (ends[c, 1] - starts[c, 1]) * spacing[1]
        vz = (ends[c, 2] - starts[c, 2]) * spacing[2]
        length = math.sqrt(vx * vx + vy * vy + vz * vz)
        n_steps = max(1, math.ceil(length / step_mm))
        s = length / n_steps
        allowance = 0.25 * s * s
        skip_until = np.empty(max(n_constraints, 1))
        for a in range(n_constraints):
            min_d2[c, a] = np.inf
            skip_until[a] = -1.0
        code = 0
        was_inside = False
        have_normal = False
        nx = 0.0
        ny = 0.0
        nz = 0.0
        grad = np.empty(3)
        prev_x = starts[c, 0]
        prev_y = starts[c, 1]
        prev_z = starts[c, 2]
        for m in range(n_steps + 1):
            t = m / n_steps
            x = starts[c, 0] + t * (ends[c, 0] - starts[c, 0])
            y = starts[c, 1] + t * (ends[c, 1] - starts[c, 1])
            z = starts[c, 2] + t * (ends[c, 2] - starts[c, 2])
            if t * length > body_skip_mm:
                ii = math.floor(x + 0.5)
                jj = math.floor(y + 0.5)
                kk = math.floor(z + 0.5)
                if ii < 0 or jj < 0 or kk < 0 or ii >= bi or jj >= bj or kk >= bk:
                    code = CODE_LEAVES_BODY
                    break
                if body[kk, jj, ii] == 0:
                    code = CODE_LEAVES_BODY
                    break
            depth = t * length
            for a in range(n_constraints):
                if depth <= skip_until[a]:
                    continue
                lb = _lower_bound_d2(
                    maps,
                    map_start[a],
                    map_shape[a, 0],
                    map_shape[a, 1],
                    map_shape[a, 2],
                    map_offset[a, 0],
                    map_offset[a, 1],
                    map_offset[a, 2],
                    map_sat2[a],
                    h2x,
                    h2y,
                    h2z,
                    x,
                    y,
                    z,
                )
                if lb < min_d2[c, a]:
                    min_d2[c, a] = lb
                if lb - allowance < map_req2[a]:
                    code = CODE_CLEARANCE0 + a
                    break
                d = math.sqrt(lb) if lb > 0.0 else 0.0
                if d > map_skip_mm[a]:
                    skip_until[a] = depth + (d - map_skip_mm[a])
            if code != 0:
                break
            if bone_map >= 0:
                b = bone_map
                inside = _nearest_is_zero(
                    maps,
                    map_start[b],
                    map_shape[b, 0],
                    map_shape[b, 1],
                    map_shape[b, 2],
                    map_offset[b, 0],
                    map_offset[b, 1],
                    map_offset[b, 2],
                    x,
                    y,
                    z,
                )
                if inside and not was_inside and m > 0:
                    nm = normal_map
                    ok = _gradient(
                        maps,
                        map_start[nm],
                        map_shape[nm, 0],
                        map_shape[nm, 1],
                        map_shape[nm, 2],
                        map_offset[nm, 0],
                        map_offset[nm, 1],
                        map_offset[nm, 2],
                        0.5 * (prev_x + x),
                        0.5 * (prev_y + y),
                        0.5 * (prev_z + z),
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
            prev_x = x
            prev_y = y
            prev_z = z
        codes[c] = code
        if code == 0 and have_normal and was_inside and length > 0.0:
            cosang = abs(nx * vx + ny * vy + nz * vz) / length
            cosang = min(1.0, cosang)
            incidence_deg[c] = math.degrees(math.acos(cosang))
