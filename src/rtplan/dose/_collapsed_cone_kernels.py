"""Compiled kernels of the collapsed-cone transport (numba).

The method and its equations are in :mod:`rtplan.dose._collapsed_cone`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange

__all__ = ["ETA_STEP", "transport_all"]

FloatArray = npt.NDArray[np.float64]

ETA_STEP = 1.0e-3
"""Resolution of the electron density in the transport tables (relative to water)."""


@njit()
def _tables(
    n_levels: int, step_cm: float, rate_per_cm: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per density level: ``ds``, ``exp(-a ds)``, ``f = (1 - exp) / a`` and ``ds - f``."""
    n_terms = rate_per_cm.size
    ds = np.empty(n_levels)
    ex = np.empty((n_levels, n_terms))
    rel = np.empty((n_levels, n_terms))
    own = np.empty((n_levels, n_terms))
    for q in range(n_levels):
        d = q * ETA_STEP * step_cm
        ds[q] = d
        for t in range(n_terms):
            e = math.exp(-rate_per_cm[t] * d)
            f = (1.0 - e) / rate_per_cm[t]
            ex[q, t] = e
            rel[q, t] = f
            own[q, t] = d - f
    return ds, ex, rel, own


@njit()
def _transport_core(
    primary: FloatArray,
    scatter: FloatArray,
    level: npt.NDArray[np.int32],
    dose: FloatArray,
    spacing_mm: FloatArray,
    direction: FloatArray,
    amplitude: FloatArray,
    rate_per_cm: FloatArray,
) -> None:
    """Add the energy transported along one cone direction to ``dose`` (in place, serial).

    Parameters
    ----------
    primary, scatter : numpy.ndarray, shape (nk, nj, ni)
        Water-equivalent primary energy released (kerma) and the rest of TERMA.
    level : numpy.ndarray of int32, shape (nk, nj, ni)
        Relative electron density quantised by :func:`quantise_density` (radiological
        scaling of path lengths).
    dose : numpy.ndarray, shape (nk, nj, ni)
        Accumulator of imparted energy per unit mass of water-equivalent medium.
    spacing_mm : numpy.ndarray, shape (3,)
        ``(di, dj, dk)``.
    direction : numpy.ndarray, shape (3,)
        Unit transport direction in the grid frame ``(x_i, y_j, z_k)``.
    amplitude : numpy.ndarray, shape (2, n_terms)
        Amplitudes of this direction's share of the primary and the scatter kernel (per
        unit primary and per unit scatter energy).
    rate_per_cm : numpy.ndarray, shape (n_terms,)
        Their common rates.
    """
    nk, nj, ni = primary.shape
    n = (ni, nj, nk)
    v = (
        direction[0] / spacing_mm[0],
        direction[1] / spacing_mm[1],
        direction[2] / spacing_mm[2],
    )
    a = 0
    if abs(v[1]) > abs(v[a]):
        a = 1
    if abs(v[2]) > abs(v[a]):
        a = 2
    # transverse axes: c is the one with the smaller memory stride, so that consecutive
    # lines (handled by the same thread) touch neighbouring memory
    if a == 0:
        b, c = 2, 1
    elif a == 1:
        b, c = 2, 0
    else:
        b, c = 1, 0
    va = abs(v[a])
    sb = v[b] / va
    sc = v[c] / va
    forward = v[a] > 0
    step_cm = 0.1 / va
    n_levels = int(level.max()) + 1
    ds_t, ex_t, rel_t, own_t = _tables(n_levels, step_cm, rate_per_cm)
    na = n[a]
    nb = n[b]
    nc = n[c]
    lo_b = math.floor(min(0.0, -(na - 1) * sb)) - 1
    hi_b = math.ceil(max(nb - 1.0, nb - 1.0 - (na - 1) * sb)) + 1
    lo_c = math.floor(min(0.0, -(na - 1) * sc)) - 1
    hi_c = math.ceil(max(nc - 1.0, nc - 1.0 - (na - 1) * sc)) + 1
    n_lb = hi_b - lo_b + 1
    n_lc = hi_c - lo_c + 1
    n_terms = rate_per_cm.size
    amp_p = amplitude[0]
    amp_s = amplitude[1]
    for line in range(n_lb * n_lc):
        b0 = lo_b + line // n_lc
        c0 = lo_c + line % n_lc
        flux = np.zeros(n_terms)
        entered = False
        idx = np.empty(3, dtype=np.int64)
        for t in range(na):
            ia = t if forward else na - 1 - t
            ib = math.floor(b0 + t * sb + 0.5)
            ic = math.floor(c0 + t * sc + 0.5)
            if ib < 0 or ib >= nb or ic < 0 or ic >= nc:
                if entered:
                    break
                continue
            entered = True
            idx[a] = ia
            idx[b] = ib
            idx[c] = ic
            i = idx[0]
            j = idx[1]
            k = idx[2]
            q = level[k, j, i]
            tp = primary[k, j, i]
            ts = scatter[k, j, i]
            deposit = 0.0
            if q > 0:
                for m in range(n_terms):
                    src = tp * amp_p[m] + ts * amp_s[m]
                    e = ex_t[q, m]
                    p_prev = flux[m]
                    flux[m] = p_prev * e + src * rel_t[q, m]
                    deposit += p_prev * (1.0 - e) + src * own_t[q, m]
                dose[k, j, i] += deposit / ds_t[q]
            else:
                # vanishing density: the energy passes through; the limit of E / ds
                for m in range(n_terms):
                    deposit += flux[m] * rate_per_cm[m]
                dose[k, j, i] += deposit


@njit(parallel=True)
def transport_all(
    primary: FloatArray,
    scatter: FloatArray,
    level: npt.NDArray[np.int32],
    spacing_mm: FloatArray,
    directions: FloatArray,
    amplitude: FloatArray,
    rate_per_cm: FloatArray,
    n_buffers: int,
) -> FloatArray:
    """Transport along every direction; one parallel region for the whole beam.

    Directions are dealt round-robin to ``n_buffers`` accumulators (one per thread), each
    filled serially, and summed in a fixed order: the result does not depend on the
    scheduling, and the threads meet only once (robust on a busy machine).

    Parameters
    ----------
    primary, scatter : numpy.ndarray, shape (nk, nj, ni)
        Primary energy released (kerma) and the rest of TERMA, water-equivalent.
    level : numpy.ndarray of int32, shape (nk, nj, ni)
    spacing_mm : numpy.ndarray, shape (3,)
    directions : numpy.ndarray, shape (n, 3)
        Unit transport directions in the grid frame.
    amplitude : numpy.ndarray, shape (n, 2, n_terms)
        Per direction, the amplitudes of the primary and the scatter kernel (see
        :func:`_transport_core`).
    rate_per_cm : numpy.ndarray, shape (n, n_terms)
        Their common rates.
    n_buffers : int
        Number of accumulators (threads).

    Returns
    -------
    numpy.ndarray, shape (nk, nj, ni)
        Imparted energy per unit mass of water-equivalent medium.
    """
    nk, nj, ni = primary.shape
    buffers = np.zeros((n_buffers, nk, nj, ni))
    n_dir = directions.shape[0]
    for b in prange(n_buffers):
        for q in range(b, n_dir, n_buffers):
            _transport_core(
                primary, scatter, level, buffers[b], spacing_mm, directions[q], amplitude[q],
                rate_per_cm[q],
            )  # fmt: skip
    dose = np.zeros((nk, nj, ni))
    for b in range(n_buffers):
        dose += buffers[b]
    return dose
