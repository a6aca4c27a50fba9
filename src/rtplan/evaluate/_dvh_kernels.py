"""Compiled kernels of the DVH: histogram accumulation of sampled boxes (numba).

The sampling itself (which boxes, where) is planned in :mod:`rtplan.evaluate._dvh_sampling`;
the dose at a box and its gradient come from the shared trilinear kernels of
:mod:`rtplan._kernels`. A box's volume is spread uniformly over the dose range it spans
(:func:`_deposit`); histograms are kept as bin values plus a step array whose running sum
adds the inner bins of each spread, so a wide spread costs two writes.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange, twin
from rtplan._kernels import trilinear_cell

__all__ = [
    "accumulate_boxes",
    "accumulate_cells",
    "accumulate_cells_serial",
    "fill_spans",
    "min_max",
]

FloatArray = npt.NDArray[np.float64]
Vec3 = tuple[float, float, float]
Acc = tuple[float, float, float, float, float]


@njit(inline=True)
def _deposit(
    part: FloatArray, stp: FloatArray, lo: float, hi: float, weight: float
) -> None:  # pragma: no cover - compiled
    """Spread ``weight`` uniformly over ``[lo, hi]`` (in bin units) of a histogram."""
    nb = part.shape[0]
    if lo < 0.0:
        lo = 0.0
    if hi > nb:
        hi = float(nb)
    if lo > hi:
        lo = hi
    if hi - lo < 1e-3:  # a point mass
        b = int(0.5 * (lo + hi))
        b = min(max(b, 0), nb - 1)
        part[b] += weight
        return
    s = weight / (hi - lo)
    b0 = min(int(lo), nb - 1)
    part[b0] += (b0 + 1.0 - lo) * s
    stp[b0 + 1] += s
    b1 = min(int(hi), nb - 1)
    part[b1] -= (b1 + 1.0 - hi) * s
    stp[b1 + 1] -= s


@njit()
def accumulate_boxes(
    dose: FloatArray,
    pix_idx: FloatArray,
    pix_w: FloatArray,
    sl_idx: FloatArray,
    sl_dz: FloatArray,
    mu: FloatArray,
    mv: FloatArray,
    mn: FloatArray,
    hu: float,
    hv: float,
    e0: float,
    inv_bin: float,
    part: FloatArray,
    stp: FloatArray,
    stats: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Histogram the boxes (pixel x sub-slab) given as index-space sums.

    ``pix_idx`` (P, 3) and ``sl_idx`` (Z, 3) are continuous dose-grid indices (i, j, k)
    whose sums are the box centres; ``mu``, ``mv``, ``mn`` are the index displacements per
    mm along the box edges; ``stats`` accumulates (inside volume, outside volume,
    volume-weighted dose, lowest dose, highest dose).
    """
    u3 = (mu[0], mu[1], mu[2])
    v3 = (mv[0], mv[1], mv[2])
    n3 = (mn[0], mn[1], mn[2])
    w_in, w_out, wd, dmin, dmax = stats[0], stats[1], stats[2], stats[3], stats[4]
    for z in range(sl_idx.shape[0]):
        dz = sl_dz[z]
        for p in range(pix_idx.shape[0]):
            w = pix_w[p] * dz
            inside, d, gu, gv, gn, _, _ = _box_dose(
                dose,
                pix_idx[p, 0] + sl_idx[z, 0],
                pix_idx[p, 1] + sl_idx[z, 1],
                pix_idx[p, 2] + sl_idx[z, 2],
                u3,
                v3,
                n3,
            )
            if not inside:
                w_out += w
                continue
            width = math.sqrt((gu * hu) ** 2 + (gv * hv) ** 2 + (gn * dz) ** 2)
            # a box here may straddle dose cells (a dose voxel centred on a node), so its
            # spread is not clipped to the cell of its centre
            lo = d - 0.5 * width
            hi = d + 0.5 * width
            _deposit(part, stp, (lo - e0) * inv_bin, (hi - e0) * inv_bin, w)
            w_in += w
            wd += w * d
            dmin = min(dmin, lo)
            dmax = max(dmax, hi)
    stats[0], stats[1], stats[2], stats[3], stats[4] = w_in, w_out, wd, dmin, dmax


@njit(inline=True)
def _box_dose(
    dose: FloatArray,
    ci: float,
    cj: float,
    ck: float,
    mu: Vec3,
    mv: Vec3,
    mn: Vec3,
) -> tuple[bool, float, float, float, float, float, float]:  # pragma: no cover - compiled
    """Trilinear dose at dose index (ci, cj, ck) and its gradient along u, v, n (Gy/mm).

    Returns (inside the dose grid's voxels, dose, du, dv, dn, lowest, highest); outside the
    grid the values are zero. Along an axis where the point lies beyond the outer voxel
    centres the dose is constant (as :meth:`rtplan.Image.sample`), so its derivative is
    zero. ``lowest`` and ``highest`` are the extreme dose values of the 8 grid nodes around
    the point: the trilinear dose of that cell never leaves this range, so a box's dose
    spread is clipped to it (a spread never reaches beyond the dose the grid holds).
    """
    nk, nj, ni = dose.shape
    if ci < -0.5 or ci > ni - 0.5 or cj < -0.5 or cj > nj - 0.5 or ck < -0.5 or ck > nk - 0.5:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    d, gi, gj, gk, lowest, highest = trilinear_cell(dose, ci, cj, ck)
    gu = gi * mu[0] + gj * mu[1] + gk * mu[2]
    gv = gi * mv[0] + gj * mv[1] + gk * mv[2]
    gn = gi * mn[0] + gj * mn[1] + gk * mn[2]
    return True, d, gu, gv, gn, lowest, highest


@njit(inline=True)
def _sample_pixel(
    dose: FloatArray,
    frac: npt.NDArray[np.float32],
    q: int,
    j: int,
    i: int,
    f: float,
    zc: float,
    dz: float,
    base0: Vec3,
    mu: Vec3,
    mv: Vec3,
    mn: Vec3,
    hu: float,
    hv: float,
) -> tuple[bool, float, float, float, float]:  # pragma: no cover - compiled
    """Dose and dose spread of the box of one pixel of one plane.

    The box is pixel ``(j, i)`` of plane ``frac[q]`` (inside fraction ``f``), centred at
    ``zc`` mm along the normal and ``dz`` thick. A pixel only partly inside the contours is
    sampled at the estimated centroid of its inside part, which lies ``(1 - f) L / 2`` from
    the pixel centre towards the inside (the direction of increasing fraction; ``L`` is the
    pixel's extent along it: the exact offset for an edge parallel to a pixel side), and
    its dose is spread over the extent of the inside part (``f L`` across the edge, the
    pixel's extent along it). Returns (inside the dose grid, dose, spread width, lowest and
    highest dose of the surrounding grid nodes).
    """
    nv = frac.shape[1]
    nu = frac.shape[2]
    ci = base0[0] + zc * mn[0] + i * hu * mu[0] + j * hv * mv[0]
    cj = base0[1] + zc * mn[1] + i * hu * mu[1] + j * hv * mv[1]
    ck = base0[2] + zc * mn[2] + i * hu * mu[2] + j * hv * mv[2]
    nu_ = 0.0
    nv_ = 0.0
    ext_n = 0.0
    ext_t = 0.0
    if f < 0.999:
        gx = (frac[q, j, min(i + 1, nu - 1)] - frac[q, j, max(i - 1, 0)]) / hu
        gy = (frac[q, min(j + 1, nv - 1), i] - frac[q, max(j - 1, 0), i]) / hv
        norm = math.sqrt(gx * gx + gy * gy)
        if norm > 0.0:
            nu_ = gx / norm
            nv_ = gy / norm
            ext_n = hu * abs(nu_) + hv * abs(nv_)
            ext_t = hu * abs(nv_) + hv * abs(nu_)
            shift = 0.5 * (1.0 - f) * ext_n
            ci += shift * (nu_ * mu[0] + nv_ * mv[0])
            cj += shift * (nu_ * mu[1] + nv_ * mv[1])
            ck += shift * (nu_ * mu[2] + nv_ * mv[2])
    inside, d, gu, gv, gn, lowest, highest = _box_dose(dose, ci, cj, ck, mu, mv, mn)
    if not inside:
        return False, 0.0, 0.0, 0.0, 0.0
    if ext_n > 0.0:
        g_across = gu * nu_ + gv * nv_
        g_along = gv * nu_ - gu * nv_
        width = math.sqrt((g_across * f * ext_n) ** 2 + (g_along * ext_t) ** 2 + (gn * dz) ** 2)
    else:
        width = math.sqrt((gu * hu) ** 2 + (gv * hv) ** 2 + (gn * dz) ** 2)
    return True, d, width, lowest, highest


@njit(inline=True)
def _emit(
    dose: FloatArray,
    frac: npt.NDArray[np.float32],
    q: int,
    j: int,
    i: int,
    f: float,
    za: float,
    zb: float,
    base0: Vec3,
    mu: Vec3,
    mv: Vec3,
    mn: Vec3,
    hu: float,
    hv: float,
    e0: float,
    inv_bin: float,
    part: FloatArray,
    stp: FloatArray,
    acc: Acc,
) -> Acc:  # pragma: no cover - compiled
    """Sample the box of pixel ``(j, i)`` of plane ``frac[q]`` from ``za`` to ``zb`` mm.

    ``acc`` = (inside volume, outside volume, volume-weighted dose, lowest dose, highest
    dose); returns it updated.
    """
    dz = zb - za
    w = f * hu * hv * dz
    inside, d, width, lowest, highest = _sample_pixel(
        dose, frac, q, j, i, f, 0.5 * (za + zb), dz, base0, mu, mv, mn, hu, hv
    )
    if not inside:
        return acc[0], acc[1] + w, acc[2], acc[3], acc[4]
    # the box lies in one dose cell (it is cut at the dose planes, and its pixel at dose
    # nodes when the lattice is aligned), where the trilinear dose stays within the cell's
    # node values: the spread never reaches beyond them (no Dmax above the grid's maximum)
    lo = max(d - 0.5 * width, lowest)
    hi = min(d + 0.5 * width, highest)
    _deposit(part, stp, (lo - e0) * inv_bin, (hi - e0) * inv_bin, w)
    return acc[0] + w, acc[1], acc[2] + w * d, min(acc[3], lo), max(acc[4], hi)


@njit(inline=True)
def _stack_cell(
    dose: FloatArray,
    frac: npt.NDArray[np.float32],
    span: npt.NDArray[np.int64],
    piece_slot: npt.NDArray[np.int64],
    piece_z0: FloatArray,
    piece_z1: FloatArray,
    s0: int,
    s1: int,
    base0: Vec3,
    mu: Vec3,
    mv: Vec3,
    mn: Vec3,
    hu: float,
    hv: float,
    e0: float,
    inv_bin: float,
    part: FloatArray,
    stp: FloatArray,
    acc_arr: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Histogram one cell: pieces ``s0:s1`` (consecutive in z, one per contour plane part).

    For each pixel, consecutive pieces with the same inside fraction are merged into one
    box (inside a cell the dose is linear along the normal, so one sample per run is exact).
    ``span[q, j]`` and ``span[q, nv + j]`` bound the columns of row ``j`` of plane ``q``
    holding any inside fraction.
    """
    nv = frac.shape[1]
    acc = (acc_arr[0], acc_arr[1], acc_arr[2], acc_arr[3], acc_arr[4])
    n = s1 - s0
    run_q = np.empty(n, dtype=np.int64)
    run_f = np.empty(n)
    run_a = np.empty(n)
    run_b = np.empty(n)
    contiguous = True
    for t in range(s0 + 1, s1):
        if abs(piece_z0[t] - piece_z1[t - 1]) > 1e-9:
            contiguous = False
    q0 = piece_slot[s0]
    za = piece_z0[s0]
    zb = piece_z1[s1 - 1]
    for j in range(nv):
        ilo = span[piece_slot[s0], j]
        ihi = span[piece_slot[s0], nv + j]
        for t in range(s0 + 1, s1):
            ilo = min(ilo, span[piece_slot[t], j])
            ihi = max(ihi, span[piece_slot[t], nv + j])
        for i in range(ilo, ihi):
            f0 = frac[q0, j, i]
            same = contiguous
            if same:
                for t in range(s0 + 1, s1):
                    if frac[piece_slot[t], j, i] != f0:
                        same = False
                        break
            if same:
                # one box over the whole cell (the interior of a structure)
                run_q[0] = q0
                run_f[0] = f0
                run_a[0] = za
                run_b[0] = zb
                nrun = 1
            else:
                # runs of equal inside fraction over touching pieces
                nrun = 0
                for t in range(s0, s1):
                    q = piece_slot[t]
                    f = frac[q, j, i]
                    if (
                        nrun > 0
                        and f == run_f[nrun - 1]
                        and abs(piece_z0[t] - run_b[nrun - 1]) < 1e-9
                    ):
                        run_b[nrun - 1] = piece_z1[t]
                    else:
                        run_q[nrun] = q
                        run_f[nrun] = f
                        run_a[nrun] = piece_z0[t]
                        run_b[nrun] = piece_z1[t]
                        nrun += 1
            for r in range(nrun):
                if run_f[r] > 0.0:
                    acc = _emit(
                        dose,
                        frac,
                        run_q[r],
                        j,
                        i,
                        run_f[r],
                        run_a[r],
                        run_b[r],
                        base0,
                        mu,
                        mv,
                        mn,
                        hu,
                        hv,
                        e0,
                        inv_bin,
                        part,
                        stp,
                        acc,
                    )
    acc_arr[0], acc_arr[1], acc_arr[2], acc_arr[3], acc_arr[4] = acc


def _accumulate_cells(
    dose: FloatArray,
    frac: npt.NDArray[np.float32],
    span: npt.NDArray[np.int64],
    cell_start: npt.NDArray[np.int64],
    piece_slot: npt.NDArray[np.int64],
    piece_z0: FloatArray,
    piece_z1: FloatArray,
    base0: FloatArray,
    mu: FloatArray,
    mv: FloatArray,
    mn: FloatArray,
    hu: float,
    hv: float,
    e0: float,
    inv_bin: float,
    parts: FloatArray,
    stps: FloatArray,
    accs: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Histogram every cell of a contour stack, chunk by chunk.

    Cell ``c`` holds the pieces ``cell_start[c]:cell_start[c + 1]``; piece ``t`` is the part
    ``[piece_z0[t], piece_z1[t]]`` (mm along the normal) of the slab of the plane whose
    in-plane fractions are ``frac[piece_slot[t]]``; pixel ``(j, i)`` is centred at dose
    index ``base0 + z mn + i hu mu + j hv mv``. Chunk ``k`` takes cells ``k, k + K, ...``
    into its own rows ``parts[k]``, ``stps[k]``, ``accs[k]``; the chunks run in threads in
    :func:`accumulate_cells`, one after the other in :func:`accumulate_cells_serial`.
    """
    b3 = (base0[0], base0[1], base0[2])
    u3 = (mu[0], mu[1], mu[2])
    v3 = (mv[0], mv[1], mv[2])
    n3 = (mn[0], mn[1], mn[2])
    nchunk = parts.shape[0]
    ncell = cell_start.shape[0] - 1
    for k in prange(nchunk):
        for c in range(k, ncell, nchunk):
            _stack_cell(
                dose,
                frac,
                span,
                piece_slot,
                piece_z0,
                piece_z1,
                cell_start[c],
                cell_start[c + 1],
                b3,
                u3,
                v3,
                n3,
                hu,
                hv,
                e0,
                inv_bin,
                parts[k],
                stps[k],
                accs[k],
            )


accumulate_cells_serial, accumulate_cells = twin()(_accumulate_cells)


@njit()
def fill_spans(
    frac: npt.NDArray[np.float32], out: npt.NDArray[np.int64]
) -> None:  # pragma: no cover - compiled
    """Columns ``[lo, hi)`` of each row of ``frac`` (S, nv, nu) holding any inside fraction.

    ``out[q, j]`` receives ``lo`` and ``out[q, nv + j]`` receives ``hi`` of row ``j`` of
    plane ``q``; empty rows are left as they are.
    """
    ns, nv, nu = frac.shape
    for q in range(ns):
        for j in range(nv):
            lo = 0
            while lo < nu and frac[q, j, lo] <= 0.0:
                lo += 1
            if lo == nu:
                continue
            hi = nu
            while frac[q, j, hi - 1] <= 0.0:
                hi -= 1
            out[q, j] = lo
            out[q, nv + j] = hi


@njit()
def min_max(a: FloatArray) -> tuple[float, float]:  # pragma: no cover - compiled
    """Smallest and largest value of a 3D array (0, 0 when empty)."""
    if a.size == 0:
        return 0.0, 0.0
    lo = a[0, 0, 0]
    hi = lo
    for k in range(a.shape[0]):
        for j in range(a.shape[1]):
            for i in range(a.shape[2]):
                v = a[k, j, i]
                lo = min(lo, v)
                hi = max(hi, v)
    return lo, hi
