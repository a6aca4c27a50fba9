"""Compiled kernels of the collapsed-cone transport (numba).

The method and its equations are in :mod:`rtplan.dose._collapsed_cone`.

The transport sweeps planes: for one direction, the grid axis most parallel to it (``a``)
is stepped one plane at a time, and every transport line crosses each plane once. Because
the lines start on a lattice of integer transverse offsets, all of them move by the same
integer shift from one plane to the next, so the energy in flight is an array over the
line lattice whose window onto the plane moves with that shift. Each plane is then read
and written row by row in memory order (the arrays are first transposed so that ``a`` is
the slowest axis), instead of one voxel per plane along each line; the arithmetic and the
order of every line's recurrence are those of a line-by-line walk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange

__all__ = ["ETA_STEP", "Tilt", "transport_all"]

FloatArray = npt.NDArray[np.float64]

ETA_STEP = 1.0e-3
"""Resolution of the electron density in the transport tables (relative to water)."""

# per major axis a (0: i, 1: j, 2: k of the direction's grid frame (x_i, y_j, z_k)):
# the order of the (k, j, i) array axes that puts a first and the other two in memory order,
# and the transverse axes (b, c) of the direction in that order
_ORDER = {0: (2, 0, 1), 1: (1, 0, 2), 2: (0, 1, 2)}
_TRANSVERSE = {0: (2, 1), 1: (2, 0), 2: (1, 0)}


@njit()
def _tables(
    n_levels: int, step_cm: float, amplitude: FloatArray, rate_per_cm: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Transport tables of one direction, per density level.

    ``tab[q, m]`` holds ``exp(-a ds)``, then ``f A`` for the primary and the scatter
    amplitude of term ``m`` (``f = (1 - exp(-a ds)) / a``, the energy a voxel's own source
    sends on); ``own[q]`` the energy a unit primary and a unit scatter source leave in their
    own voxel, ``sum_m (ds - f) A``; ``inv_ds[q]`` is ``1 / ds`` (0 where ``ds`` vanishes).
    """
    n_terms = rate_per_cm.size
    tab = np.empty((n_levels, n_terms, 3))
    own = np.zeros((n_levels, 2))
    inv_ds = np.zeros(n_levels)
    for q in range(n_levels):
        d = q * ETA_STEP * step_cm
        if d > 0.0:
            inv_ds[q] = 1.0 / d
        for m in range(n_terms):
            e = math.exp(-rate_per_cm[m] * d)
            f = (1.0 - e) / rate_per_cm[m]
            tab[q, m, 0] = e
            tab[q, m, 1] = f * amplitude[0, m]
            tab[q, m, 2] = f * amplitude[1, m]
            own[q, 0] += (d - f) * amplitude[0, m]
            own[q, 1] += (d - f) * amplitude[1, m]
    return tab, own, inv_ds


@njit()
def _sweep_direction(
    primary: FloatArray,
    scatter: FloatArray,
    level: npt.NDArray[np.int32],
    dose: FloatArray,
    n_levels: int,
    step_cm: float,
    shift_b: float,
    shift_c: float,
    forward: bool,
    amplitude: FloatArray,
    rate_per_cm: FloatArray,
    use_scatter: bool,
    inv_distance: FloatArray,
    tilt_table: FloatArray,
    tilt_step: FloatArray,
    use_tilt: bool,
) -> None:
    """Add the energy transported along one cone direction to ``dose`` (in place, serial).

    Parameters
    ----------
    primary, scatter : numpy.ndarray, shape (na, nb, nc)
        Water-equivalent primary energy released (kerma) and the rest of TERMA, with the
        direction's major axis first (``scatter`` is not read unless ``use_scatter``).
    level : numpy.ndarray of int32, shape (na, nb, nc)
        Relative electron density quantised by ``quantise_density`` (radiological
        scaling of path lengths).
    dose : numpy.ndarray, shape (na, nb, nc)
        Accumulator of imparted energy per unit mass of water-equivalent medium.
    n_levels : int
        ``level.max() + 1``.
    step_cm : float
        Geometric path length of the line through one plane, cm.
    shift_b, shift_c : float
        Transverse advance of the line per plane, in voxels of ``b`` and ``c``.
    forward : bool
        Whether the direction runs towards increasing ``a``.
    amplitude : numpy.ndarray, shape (2, n_terms)
        Amplitudes of this direction's share of the primary and the scatter kernel (per
        unit primary and per unit scatter energy).
    rate_per_cm : numpy.ndarray, shape (n_terms,)
        Their common rates.
    use_scatter : bool
        Whether the scatter kernel is driven apart (beam hardening).
    inv_distance : numpy.ndarray, shape (na, nb, nc)
        ``1 / |x - s|`` of each voxel from the source, 1/mm (read if ``use_tilt``).
    tilt_table : numpy.ndarray, shape (n_tilt,)
        The kernel's energy in this direction relative to an untilted kernel, at cosines
        ``-1 ... 1`` (evenly spaced) of the angle between the direction and a voxel's ray.
    tilt_step : numpy.ndarray, shape (4,)
        ``(d_a u_a, d_b u_b, d_c u_c, s . u)``: the direction's cosine with a voxel's
        ray is ``(ia t0 + ib t1 + ic t2 - t3) * inv_distance``.
    use_tilt : bool
        Whether each voxel's kernel is tilted along its own ray.
    """
    na, nb, nc = primary.shape
    n_tilt = tilt_table.size
    half = 0.5 * (n_tilt - 1)
    n_terms = rate_per_cm.size
    tab, own, inv_ds = _tables(n_levels, step_cm, amplitude, rate_per_cm)
    # line (b0, c0) crosses plane t at (b0 + db(t), c0 + dc(t)), db(t) = round(t shift_b)
    db_end = math.floor((na - 1) * shift_b + 0.5)
    dc_end = math.floor((na - 1) * shift_c + 0.5)
    lo_b = min(0, -db_end)
    lo_c = min(0, -dc_end)
    flux = np.zeros((nb + abs(db_end), nc + abs(dc_end), n_terms))
    for t in range(na):
        ia = t if forward else na - 1 - t
        off_b = -math.floor(t * shift_b + 0.5) - lo_b
        off_c = -math.floor(t * shift_c + 0.5) - lo_c
        for ib in range(nb):
            f_row = flux[ib + off_b]
            q_row = level[ia, ib]
            p_row = primary[ia, ib]
            s_row = scatter[ia, ib] if use_scatter else p_row
            d_row = dose[ia, ib]
            i_row = inv_distance[ia, ib] if use_tilt else p_row
            along = ia * tilt_step[0] + ib * tilt_step[1] - tilt_step[3]
            for ic in range(nc):
                fl = f_row[ic + off_c]
                q = q_row[ic]
                deposit = 0.0
                if q > 0:
                    tq = tab[q]
                    tp = p_row[ic]
                    weight = 1.0
                    if use_tilt:  # the kernel turned along this voxel's ray
                        x = ((along + ic * tilt_step[2]) * i_row[ic] + 1.0) * half
                        x = min(max(x, 0.0), n_tilt - 1.0)
                        k = min(int(x), n_tilt - 2)
                        weight = tilt_table[k] + (x - k) * (tilt_table[k + 1] - tilt_table[k])
                        tp *= weight
                    # the energy in flight that stops here, p (1 - e), plus what the
                    # voxel's own sources leave in it
                    if use_scatter:
                        ts = s_row[ic] * weight
                        for m in range(n_terms):
                            p = fl[m]
                            pe = p * tq[m, 0]
                            fl[m] = pe + tp * tq[m, 1] + ts * tq[m, 2]
                            deposit += p - pe
                        deposit += tp * own[q, 0] + ts * own[q, 1]
                    else:
                        for m in range(n_terms):
                            p = fl[m]
                            pe = p * tq[m, 0]
                            fl[m] = pe + tp * tq[m, 1]
                            deposit += p - pe
                        deposit += tp * own[q, 0]
                    d_row[ic] += deposit * inv_ds[q]
                else:
                    # vanishing density: the energy passes through; the limit of E / ds
                    for m in range(n_terms):
                        deposit += fl[m] * rate_per_cm[m]
                    d_row[ic] += deposit


@njit(parallel=True)
def _sweep_group(
    primary: FloatArray,
    scatter: FloatArray,
    level: npt.NDArray[np.int32],
    n_levels: int,
    step_cm: FloatArray,
    shift_b: FloatArray,
    shift_c: FloatArray,
    forward: npt.NDArray[np.bool_],
    amplitude: FloatArray,
    rate_per_cm: FloatArray,
    use_scatter: bool,
    inv_distance: FloatArray,
    tilt_table: FloatArray,
    tilt_step: FloatArray,
    use_tilt: bool,
    n_buffers: int,
) -> FloatArray:
    """Transport along directions that share a major axis; one parallel region.

    Directions are dealt round-robin to ``n_buffers`` accumulators (one per thread), each
    filled serially, and summed in a fixed order: the result does not depend on the
    scheduling, and the threads meet only once (robust on a busy machine, where a thread
    that waits for the other at every direction would lose its core's share).
    """
    na, nb, nc = primary.shape
    buffers = np.zeros((n_buffers, na, nb, nc))
    n_dir = step_cm.size
    for b in prange(n_buffers):
        for q in range(b, n_dir, n_buffers):
            _sweep_direction(
                primary, scatter, level, buffers[b], n_levels, step_cm[q], shift_b[q],
                shift_c[q], forward[q], amplitude[q], rate_per_cm[q], use_scatter,
                inv_distance, tilt_table[q], tilt_step[q], use_tilt,
            )  # fmt: skip
    out: FloatArray = buffers[0].copy()
    for b in range(1, n_buffers):
        out += buffers[b]
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Tilt:
    """What the transport needs to tilt each voxel's kernel along its own ray.

    Attributes
    ----------
    inv_distance : numpy.ndarray, shape (nk, nj, ni)
        ``1 / |x - s|``, 1/mm, of each voxel centre ``x = (i di, j dj, k dk)`` from the
        source ``s`` (grid frame).
    source_mm : numpy.ndarray, shape (3,)
        The source, grid frame.
    tables : numpy.ndarray, shape (n_dir, n_tilt)
        Per direction, the kernel's energy sent along it relative to an untilted kernel,
        at evenly spaced cosines ``-1 ... 1`` of its angle with a voxel's ray.
    """

    inv_distance: FloatArray
    source_mm: FloatArray
    tables: FloatArray


def _major_axis(v: FloatArray) -> int:
    """The grid axis most parallel to ``v`` (the first of equals), ``0..2``."""
    a = 0
    if abs(v[1]) > abs(v[a]):
        a = 1
    if abs(v[2]) > abs(v[a]):
        a = 2
    return a


def transport_all(
    primary: FloatArray,
    scatter: FloatArray,
    level: npt.NDArray[np.int32],
    spacing_mm: FloatArray,
    directions: FloatArray,
    amplitude: FloatArray,
    rate_per_cm: FloatArray,
    n_threads: int,
    tilt: Tilt | None = None,
) -> FloatArray:
    """Transport along every direction, grouped by the grid axis each one follows.

    Parameters
    ----------
    primary, scatter : numpy.ndarray, shape (nk, nj, ni)
        Primary energy released (kerma) and the rest of TERMA, water-equivalent.
    level : numpy.ndarray of int32, shape (nk, nj, ni)
        Quantised relative electron density.
    spacing_mm : numpy.ndarray, shape (3,)
        ``(di, dj, dk)``.
    directions : numpy.ndarray, shape (n, 3)
        Unit transport directions in the grid frame ``(x_i, y_j, z_k)``.
    amplitude : numpy.ndarray, shape (n, 2, n_terms)
        Per direction, the amplitudes of the primary and the scatter kernel.
    rate_per_cm : numpy.ndarray, shape (n, n_terms)
        Their common rates.
    n_threads : int
        Number of accumulators, one per thread.
    tilt : Tilt, optional
        Tilt each voxel's kernel along its own ray (see :class:`Tilt`).

    Returns
    -------
    numpy.ndarray, shape (nk, nj, ni)
        Imparted energy per unit mass of water-equivalent medium.
    """
    v = np.asarray(directions, dtype=np.float64) / np.asarray(spacing_mm, dtype=np.float64)
    major = np.array([_major_axis(row) for row in v], dtype=np.intp)
    use_scatter = bool(np.any(amplitude[:, 1] != 0.0))
    n_levels = int(level.max()) + 1
    dose = np.zeros(primary.shape)
    n_dir = v.shape[0]
    sp = np.asarray(spacing_mm, dtype=np.float64)
    unit = np.asarray(directions, dtype=np.float64)
    if tilt is not None:
        tables = np.ascontiguousarray(tilt.tables, dtype=np.float64)
        source_dot = unit @ np.asarray(tilt.source_mm, dtype=np.float64)
    else:
        tables = np.ones((n_dir, 2))
        source_dot = np.zeros(n_dir)
    for a in (0, 1, 2):
        sel = np.flatnonzero(major == a)
        if sel.size == 0:
            continue
        b, c = _TRANSVERSE[a]
        order = _ORDER[a]
        va = np.abs(v[sel, a])
        p_t = np.ascontiguousarray(primary.transpose(order))
        s_t = np.ascontiguousarray(scatter.transpose(order)) if use_scatter else p_t
        q_t = np.ascontiguousarray(level.transpose(order))
        if tilt is not None:
            d_t = np.ascontiguousarray(tilt.inv_distance.transpose(order), dtype=np.float64)
        else:
            d_t = p_t
        step = np.ascontiguousarray(
            np.stack([sp[a] * unit[sel, a], sp[b] * unit[sel, b], sp[c] * unit[sel, c],
                      source_dot[sel]], axis=1)
        )  # fmt: skip
        part = _sweep_group(
            p_t, s_t, q_t, n_levels, np.ascontiguousarray(0.1 / va),
            np.ascontiguousarray(v[sel, b] / va), np.ascontiguousarray(v[sel, c] / va),
            np.ascontiguousarray(v[sel, a] > 0), np.ascontiguousarray(amplitude[sel]),
            np.ascontiguousarray(rate_per_cm[sel]), use_scatter, d_t,
            np.ascontiguousarray(tables[sel]), step, tilt is not None, max(1, int(n_threads)),
        )  # fmt: skip
        dose += part.transpose(np.argsort(order))
    return dose
