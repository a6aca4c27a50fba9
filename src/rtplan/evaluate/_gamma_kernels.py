"""Compiled kernels of the gamma search (numba): one reference point at a time, in threads.

The evaluated distribution is sampled with the shared trilinear kernels of
:mod:`rtplan._kernels`; the search itself (continuous refinement, lattice of cubes with
branch-and-bound pruning) is described in :mod:`rtplan.evaluate._gamma`.
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


@njit()
def _one_point(
    ev: FloatArray,
    ci: float,
    cj: float,
    ck: float,
    dr: float,
    inv: float,
    lb0: float,
    lp: float,
    cell_start: IntArray,
    cell_centre: FloatArray,
    cell_r2: FloatArray,
    cell_rho: FloatArray,
    fine_off: FloatArray,
    fine_r2: FloatArray,
    sp: FloatArray,
    inv_dta2: float,
    r2max_mm: float,
    stop_at_pass: bool,
) -> float:  # pragma: no cover - compiled
    """Smallest gamma squared around one reference point (inf: no evaluated sample).

    First a continuous search from the point itself (:func:`_refine`), then the lattice,
    visited cube by cube in order of distance with branch-and-bound pruning, then a
    continuous search from the best lattice node.
    """
    nk, nj, ni = ev.shape
    best = _refine(ev, ci, cj, ck, 0.0, 0.0, 0.0, sp, dr, inv, inv_dta2, r2max_mm, np.inf)
    best_f = -1
    for c in range(cell_r2.shape[0]):
        r2 = cell_r2[c]
        if r2 + lb0 >= best:
            break
        if stop_at_pass and best <= 1.0:
            break
        xi = ci + cell_centre[c, 0]
        xj = cj + cell_centre[c, 1]
        xk = ck + cell_centre[c, 2]
        if _on_hull(xi, xj, xk, ni, nj, nk):
            dc = trilinear(ev, xi, xj, xk)
            dd = abs(dc - dr) - lp * cell_rho[c]
            if dd > 0.0 and (dd * inv) ** 2 + r2 >= best:
                continue
        for f in range(cell_start[c], cell_start[c + 1]):
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
    return best


@njit(parallel=True)
def gamma_points(
    ev: FloatArray,
    pos: FloatArray,
    dref: FloatArray,
    inv_dd: FloatArray,
    dlb: FloatArray,
    lip: FloatArray,
    reach: FloatArray,
    cell_start: IntArray,
    cell_centre: FloatArray,
    cell_r2: FloatArray,
    cell_rho: FloatArray,
    fine_off: FloatArray,
    fine_r2: FloatArray,
    sp: FloatArray,
    inv_dta2: float,
    r2max_mm: float,
    cap2: float,
    stop_at_pass: bool,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Gamma squared of each reference point, capped at ``cap2`` (``inf``: out of reach).

    ``pos`` (N, 3): evaluated-grid indices (i, j, k) of the reference points; ``inv_dd``:
    1 / dose criterion (Gy); ``dlb``: lower bound of |D_e - D_r| over the search sphere;
    ``lip``: upper bound of the evaluated dose gradient there (Gy/mm); ``reach``: whether
    the sphere meets the evaluated grid. Points are dealt to threads in a strided order so
    that slow regions are shared.
    """
    n = pos.shape[0]
    nblk = min(n, 4096)
    for b in prange(nblk):
        for p in range(b, n, nblk):
            if reach[p] < 0.5:
                out[p] = np.inf
                continue
            inv = inv_dd[p]
            lb0 = (dlb[p] * inv) ** 2
            if lb0 >= cap2:
                out[p] = cap2
                continue
            best = _one_point(
                ev,
                pos[p, 0],
                pos[p, 1],
                pos[p, 2],
                dref[p],
                inv,
                lb0,
                lip[p],
                cell_start,
                cell_centre,
                cell_r2,
                cell_rho,
                fine_off,
                fine_r2,
                sp,
                inv_dta2,
                r2max_mm,
                stop_at_pass,
            )
            out[p] = min(best, cap2) if best < np.inf else np.inf
