"""Compiled kernels of the gamma search (numba): one reference point at a time, in threads.

The evaluated distribution is sampled with the shared trilinear kernels of
:mod:`rtplan._kernels`; the search itself (continuous refinement, lattice of cubes with
branch-and-bound pruning) is described in :mod:`rtplan.evaluate._gamma`. One call of
:func:`gamma_points` does all the per-point work, from the reference voxel's index to its
gamma, so that no array of the size of the points or of the volume is made around it.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange
from rtplan._kernels import trilinear, trilinear_gradient

__all__ = ["gamma_points"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Contiguous reference points handled by one thread in a row (neighbours share cache lines).
_CHUNK = 64
#: Relative slack of the pruning bounds, far above their rounding error: a cube is skipped
#: only when its bound exceeds the best value found by more than rounding could explain.
_SLACK = 1e-9


@njit(inline=True)
def _on_hull(
    xi: float, xj: float, xk: float, ni: int, nj: int, nk: int
) -> bool:  # pragma: no cover - compiled
    """Whether a continuous index lies on the evaluated grid's centre hull (1e-9 of slack)."""
    tol = 1e-9
    return -tol <= xi <= ni - 1 + tol and -tol <= xj <= nj - 1 + tol and -tol <= xk <= nk - 1 + tol


@njit()
def _refine(
    ev: FloatArray,
    ci: float,
    cj: float,
    ck: float,
    ui: float,
    uj: float,
    uk: float,
    sp: FloatArray,
    dr: float,
    inv: float,
    inv_dta2: float,
    r2max_mm: float,
    best: float,
) -> float:  # pragma: no cover - compiled
    """Continuous search from offset ``u`` (mm along i, j, k): Gauss-Newton on linearised dose.

    At each iterate the evaluated dose is replaced by its tangent plane and the quadratic
    gamma-squared of that model is minimised in closed form (Sherman-Morrison); every
    iterate is a real sample of the evaluated distribution, so the result is an attained
    value, never below the true minimum. Returns the smaller of ``best`` and the samples.
    """
    nk, nj, ni = ev.shape
    for _ in range(6):
        xi = ci + ui / sp[0]
        xj = cj + uj / sp[1]
        xk = ck + uk / sp[2]
        if not _on_hull(xi, xj, xk, ni, nj, nk):
            return best
        d, gi, gj, gk = trilinear_gradient(
            ev,
            min(max(xi, 0.0), ni - 1.0),
            min(max(xj, 0.0), nj - 1.0),
            min(max(xk, 0.0), nk - 1.0),
        )
        u2 = ui * ui + uj * uj + uk * uk
        delta = d - dr
        g2 = (delta * inv) ** 2 + u2 * inv_dta2
        if g2 < best:
            best = g2
        # gradient per mm; solve (inv² G Gᵀ + I / dta²) w = -inv² delta G - u / dta²
        ga = gi / sp[0]
        gb = gj / sp[1]
        gc = gk / sp[2]
        a2 = inv * inv
        bi = -a2 * delta * ga - ui * inv_dta2
        bj = -a2 * delta * gb - uj * inv_dta2
        bk = -a2 * delta * gc - uk * inv_dta2
        gg = ga * ga + gb * gb + gc * gc
        gb_dot = ga * bi + gb * bj + gc * bk
        scale = a2 / (inv_dta2 + a2 * gg)
        wi = (bi - scale * ga * gb_dot) / inv_dta2
        wj = (bj - scale * gb * gb_dot) / inv_dta2
        wk = (bk - scale * gc * gb_dot) / inv_dta2
        ui += wi
        uj += wj
        uk += wk
        n2 = ui * ui + uj * uj + uk * uk
        if n2 > r2max_mm:
            f = math.sqrt(r2max_mm / n2)
            ui *= f
            uj *= f
            uk *= f
        # keep the iterate on the evaluated grid's centre hull
        xi = min(max(ci + ui / sp[0], 0.0), ni - 1.0)
        xj = min(max(cj + uj / sp[1], 0.0), nj - 1.0)
        xk = min(max(ck + uk / sp[2], 0.0), nk - 1.0)
        ui = (xi - ci) * sp[0]
        uj = (xj - cj) * sp[1]
        uk = (xk - ck) * sp[2]
        if wi * wi + wj * wj + wk * wk < 1e-12:
            break
    return best


@njit(inline=True)
def _block(c: float, h: float, n: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """First and last voxel centre of the cells that ``[c - h, c + h]`` meets (clipped)."""
    lo = min(max(math.floor(c - h - 1e-9), 0), n - 1)
    hi = min(max(math.floor(c + h + 1e-9) + 1, 0), n - 1)
    return lo, hi


@njit(inline=True)
def _box_gap(
    ev: FloatArray,
    xi: float,
    xj: float,
    xk: float,
    hi_: float,
    hj: float,
    hk: float,
    dr: float,
    dc: float,
) -> float:  # pragma: no cover - compiled
    """A lower bound of ``|D_e - dr|`` over the box ``|x - c| <= h`` (continuous indices).

    ``dc`` is the evaluated dose at the centre ``c``. The interpolant on the cells the box
    meets lies between the lowest and highest of their voxel centres, and differs from
    ``dc`` by at most the sum over axes of the largest difference between neighbouring
    centres along the axis (its largest derivative on those cells) times the half-width.
    The larger of the two bounds is returned, less a relative slack of :data:`_SLACK`;
    it never exceeds ``|dc - dr|``.
    """
    nk, nj, ni = ev.shape
    i0, i1 = _block(xi, hi_, ni)
    j0, j1 = _block(xj, hj, nj)
    k0, k1 = _block(xk, hk, nk)
    low = float(ev[k0, j0, i0])
    high = low
    di = 0.0
    dj = 0.0
    dk = 0.0
    for k in range(k0, k1 + 1):
        for j in range(j0, j1 + 1):
            for i in range(i0, i1 + 1):
                v = ev[k, j, i]
                low = min(low, v)
                high = max(high, v)
                if i < i1:
                    di = max(di, abs(ev[k, j, i + 1] - v))
                if j < j1:
                    dj = max(dj, abs(ev[k, j + 1, i] - v))
                if k < k1:
                    dk = max(dk, abs(ev[k + 1, j, i] - v))
    spread = di * hi_ + dj * hj + dk * hk
    gap = max(max(low - dr, dr - high), abs(dc - dr) - spread)
    return gap - _SLACK * (abs(dr) + abs(low) + abs(high) + spread)


@njit()
def _capped_at_once(
    ev: FloatArray,
    ci: float,
    cj: float,
    ck: float,
    dr: float,
    dd: float,
    inv: float,
    window: IntArray,
    cap2: float,
) -> bool:  # pragma: no cover - compiled
    """Whether every evaluated dose around the point differs from ``dr`` by ``max_gamma`` dD.

    Only for a point whose evaluated dose where it lies (the trilinear interpolant at the
    point clipped to the grid, weights multiplied axis by axis and summed corner by
    corner) is further than 0.3 dD from ``dr``: then the smallest and largest evaluated
    dose over ``window`` (k, j, i) voxels either side of the nearest voxel bound the dose
    difference anywhere in the search sphere, and gamma is ``max_gamma`` when that bound
    reaches it, whether or not the search finds a sample.
    """
    nk, nj, ni = ev.shape
    p = (min(max(ci, 0.0), ni - 1.0), min(max(cj, 0.0), nj - 1.0), min(max(ck, 0.0), nk - 1.0))
    n = (ni, nj, nk)
    lo = [0, 0, 0]
    hi = [0, 0, 0]
    frac = [0.0, 0.0, 0.0]
    for a in range(3):
        lo[a] = min(math.floor(p[a]), max(n[a] - 2, 0))
        frac[a] = p[a] - lo[a]
        hi[a] = min(lo[a] + 1, n[a] - 1)
    value = 0.0
    for corner in range(8):
        w = 1.0
        idx = [0, 0, 0]
        for a in range(3):
            if (corner >> a) & 1:
                w = w * frac[a]
                idx[a] = hi[a]
            else:
                w = w * (1.0 - frac[a])
                idx[a] = lo[a]
        value += w * ev[idx[2], idx[1], idx[0]]
    if not abs(value - dr) > 0.3 * dd:
        return False
    node = (int(np.rint(p[2])), int(np.rint(p[1])), int(np.rint(p[0])))  # (k, j, i)
    shape = (nk, nj, ni)
    start = [0, 0, 0]
    stop = [0, 0, 0]
    for a in range(3):
        start[a] = max(0, node[a] - window[a])
        stop[a] = min(shape[a], node[a] + window[a] + 1)
    low = float(ev[start[0], start[1], start[2]])
    high = low
    for k in range(start[0], stop[0]):
        for j in range(start[1], stop[1]):
            for i in range(start[2], stop[2]):
                low = min(low, ev[k, j, i])
                high = max(high, ev[k, j, i])
    gap = max(0.0, max(low - dr, dr - high))
    return bool((gap * inv) ** 2 >= cap2)


@njit()
def _one_point(
    ev: FloatArray,
    ci: float,
    cj: float,
    ck: float,
    dr: float,
    dd: float,
    cell_start: IntArray,
    cell_centre: FloatArray,
    cell_r2: FloatArray,
    half: FloatArray,
    fine_off: FloatArray,
    fine_r2: FloatArray,
    window: IntArray,
    sp: FloatArray,
    inv_dta2: float,
    r2max_mm: float,
    cap2: float,
    stop_at_pass: bool,
) -> float:  # pragma: no cover - compiled
    """Smallest gamma squared around one reference point, capped (inf: no evaluated sample).

    First a continuous search from the point itself (:func:`_refine`), then the lattice,
    visited cube by cube in order of distance with branch-and-bound pruning
    (:func:`_box_gap`), then a continuous search from the best lattice node. A point whose
    first search leaves gamma at ``max_gamma`` or more is first checked against the dose
    range around it (:func:`_capped_at_once`).
    """
    nk, nj, ni = ev.shape
    inv = 1.0 / dd
    best = _refine(ev, ci, cj, ck, 0.0, 0.0, 0.0, sp, dr, inv, inv_dta2, r2max_mm, np.inf)
    if best >= cap2 * (1.0 - _SLACK) and _capped_at_once(ev, ci, cj, ck, dr, dd, inv, window, cap2):
        return cap2
    best_f = -1
    for c in range(cell_r2.shape[0]):
        r2 = cell_r2[c]
        if r2 >= best:
            break
        if stop_at_pass and best <= 1.0:
            break
        first = cell_start[c]
        xi = ci + cell_centre[c, 0]
        xj = cj + cell_centre[c, 1]
        xk = ck + cell_centre[c, 2]
        if c == 0:
            # the first node is the point itself, sampled by the first continuous search
            first += 1
        else:
            # the bound never exceeds the centre's dose difference: read the cube's voxels
            # only when that could prune it
            dc = trilinear(ev, xi, xj, xk)
            if ((dc - dr) * inv) ** 2 + r2 >= best:
                gap = _box_gap(ev, xi, xj, xk, half[0], half[1], half[2], dr, dc)
                if gap > 0.0 and (gap * inv) ** 2 + r2 >= best:
                    continue
        for f in range(first, cell_start[c + 1]):
            rf2 = fine_r2[f]
            if rf2 >= best:
                break
            xi = ci + fine_off[f, 0]
            xj = cj + fine_off[f, 1]
            xk = ck + fine_off[f, 2]
            if not _on_hull(xi, xj, xk, ni, nj, nk):
                continue
            d = trilinear(ev, xi, xj, xk)  # the edge value within the hull's slack
            g2 = ((d - dr) * inv) ** 2 + rf2
            if g2 < best:
                best = g2
                best_f = f
    if best_f >= 0 and not (stop_at_pass and best <= 1.0):
        best = _refine(
            ev,
            ci,
            cj,
            ck,
            fine_off[best_f, 0] * sp[0],
            fine_off[best_f, 1] * sp[1],
            fine_off[best_f, 2] * sp[2],
            sp,
            dr,
            inv,
            inv_dta2,
            r2max_mm,
            best,
        )
    return min(best, cap2) if best < np.inf else np.inf


@njit(inline=True)
def _axis_gap(c: float, n: int, s: float) -> float:  # pragma: no cover - compiled
    """Distance (mm) from continuous index ``c`` to ``[0, n - 1]`` (nan: off an inactive axis)."""
    if n == 1 and abs(c) > 1e-6:
        return np.nan
    return (max(0.0, -c) + max(0.0, c - (n - 1.0))) * s


@njit(inline=True)
def _reaches(
    ci: float, cj: float, ck: float, ni: int, nj: int, nk: int, sp: FloatArray, radius: float
) -> bool:  # pragma: no cover - compiled
    """Whether the search sphere meets the evaluated grid's centre hull (inactive axes: at 0)."""
    gi = _axis_gap(ci, ni, sp[0])
    gj = _axis_gap(cj, nj, sp[1])
    gk = _axis_gap(ck, nk, sp[2])
    return math.sqrt(gi * gi + gj * gj + gk * gk) <= radius + 1e-9


@njit(parallel=True)
def gamma_points(
    ev: FloatArray,
    ref: FloatArray,
    sel: IntArray,
    to_ev: FloatArray,
    dose_fraction: float,
    norm: float,
    local: bool,
    cell_start: IntArray,
    cell_centre: FloatArray,
    cell_r2: FloatArray,
    half: FloatArray,
    fine_off: FloatArray,
    fine_r2: FloatArray,
    window: IntArray,
    sp: FloatArray,
    inv_dta2: float,
    radius: float,
    cap2: float,
    stop_at_pass: bool,
    nslot: int,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Gamma squared of the reference voxels ``sel``, capped at ``cap2`` (inf: out of reach).

    ``ref`` (k, j, i): the reference dose; ``sel``: flat indices of its voxels to evaluate;
    ``to_ev`` (3, 4): the affine map from reference (i, j, k) to evaluated-grid continuous
    indices; the dose criterion is ``dose_fraction`` times the reference dose (``local``)
    or ``norm``. The lattice (``cell_*``, ``fine_*``; ``half``: a cube's half-width in
    evaluated indices) is that of :func:`rtplan.evaluate._gamma._lattice`; ``window``
    (k, j, i voxels) reaches the search radius around a voxel. Runs of :data:`_CHUNK`
    contiguous points are dealt in turn to ``nslot`` slots, which the threads share, so
    that slow regions are shared and neighbouring points share cache lines.
    """
    n = sel.shape[0]
    nj_r, ni_r = ref.shape[1], ref.shape[2]
    nk, nj, ni = ev.shape
    r2max_mm = radius * radius
    nchunk = (n + _CHUNK - 1) // _CHUNK
    nslot = max(1, min(nchunk, nslot))
    for s in prange(nslot):
        for chunk in range(s, nchunk, nslot):
            for p in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
                flat = sel[p]
                k = flat // (nj_r * ni_r)
                j = (flat // ni_r) % nj_r
                i = flat % ni_r
                fi = float(i)
                fj = float(j)
                fk = float(k)
                ci = to_ev[0, 0] * fi + to_ev[0, 1] * fj + to_ev[0, 2] * fk + to_ev[0, 3]
                cj = to_ev[1, 0] * fi + to_ev[1, 1] * fj + to_ev[1, 2] * fk + to_ev[1, 3]
                ck = to_ev[2, 0] * fi + to_ev[2, 1] * fj + to_ev[2, 2] * fk + to_ev[2, 3]
                if not _reaches(ci, cj, ck, ni, nj, nk, sp, radius):
                    out[p] = np.inf
                    continue
                dr = ref[k, j, i]
                dd = dose_fraction * (dr if local else norm)
                out[p] = _one_point(
                    ev,
                    ci,
                    cj,
                    ck,
                    dr,
                    dd,
                    cell_start,
                    cell_centre,
                    cell_r2,
                    half,
                    fine_off,
                    fine_r2,
                    window,
                    sp,
                    inv_dta2,
                    r2max_mm,
                    cap2,
                    stop_at_pass,
                )
