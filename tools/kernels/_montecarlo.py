# ruff: noqa: NPY002  -- numba reaches its per-thread generators through np.random.*
"""A small coupled photon-electron Monte Carlo in water, used to generate dose kernels.

It is deliberately simple but physical, and fully reproducible: every chunk of histories
seeds its own (thread-local) Mersenne Twister with ``seed + chunk``, tallies into its own
array, and the chunks are summed in order, so the result does not depend on how many
threads ran it.

Photon physics (water, unit density):

* total attenuation ``mu/rho`` from Hubbell & Seltzer (NISTIR 5632) less coherent
  scattering (XCOM), which neither deposits energy nor deflects MV photons appreciably;
  see :mod:`rtplan.dose._physics`;
* incoherent scattering (XCOM below 1 MeV, Klein-Nishina above), with the scattering angle
  sampled from the Klein-Nishina distribution by the Butcher & Messel (1960)
  decomposition used by EGS4 (Nelson, Hirayama & Rogers 1985, SLAC-265); the recoil
  electron direction follows from momentum conservation;
* photoelectric absorption (XCOM), energy deposited locally;
* pair production, the remainder of ``mu`` above 1.022 MeV: kinetic energy shared
  uniformly, particles emitted at the characteristic angle ``m c^2 / E``; the positron
  annihilates at rest into two 0.511 MeV photons;
* photons below 10 keV are absorbed locally.

Electron physics: continuous slowing down along condensed-history steps of 10 % of the
residual CSDA range (ESTAR total stopping power and range, Berger et al., NIST SRD 124),
energy loss from the range table, radiative losses deposited locally (their yield is below
3 % at 6 MeV), Gaussian multiple scattering with the Highland (1975) width using the
residual range for the logarithmic term, water radiation length 36.08 g/cm2 (PDG); electrons
below 20 keV (residual range 9 um) deposit their energy where they stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange
from rtplan.dose._physics import (
    ELECTRON_MASS_MEV,
    ESTAR_WATER,
    NIST_WATER,
    loglog_interp,
    mu_rho_water_without_coherent,
    photon_partials_water,
)

__all__ = [
    "PhysicsTables",
    "PointKernelParts",
    "run_pencil_kernel",
    "run_point_kernel",
    "run_point_kernel_parts",
]

FloatArray = npt.NDArray[np.float64]

_E_MIN = 1.0e-3  # MeV, low end of the log-energy lookup grid
_E_MAX = 25.0  # MeV
_N_E = 1024
_PHOTON_CUTOFF = 0.010  # MeV
_ELECTRON_CUTOFF = 0.020  # MeV
_STEP_FRACTION = 0.10  # of the residual CSDA range
_MAX_STEP_CM = 0.2
_X0_CM = 36.08  # radiation length of water, g/cm2 / (1 g/cm3)
_STACK = 64


class PhysicsTables:
    """Lookup tables on a uniform log-energy grid, ready for the compiled transport.

    Attributes
    ----------
    log_e0, dlog_e : float
        ``ln(E_min)`` and the step of the grid.
    mu_total, mu_compton, mu_photo : numpy.ndarray
        Linear attenuation coefficients of water (1/cm) at the grid energies: total
        without coherent scattering, incoherent, photoelectric.
    e_grid, csda_range : numpy.ndarray
        Electron kinetic energies (MeV) and CSDA ranges (cm) at the grid energies, for the
        range-energy relation.
    """

    def __init__(self) -> None:
        log_e = np.linspace(math.log(_E_MIN), math.log(_E_MAX), _N_E)
        e = np.exp(log_e)
        self.log_e0 = float(log_e[0])
        self.dlog_e = float(log_e[1] - log_e[0])
        e_photon = np.clip(e, NIST_WATER[0, 0], NIST_WATER[-1, 0])
        self.mu_total: FloatArray = mu_rho_water_without_coherent(e_photon)
        inc, pe = photon_partials_water(e_photon)
        self.mu_compton: FloatArray = np.minimum(inc, self.mu_total)
        self.mu_photo: FloatArray = np.minimum(pe, self.mu_total - self.mu_compton)
        # CSDA range below 10 keV: R ~ T^1.75 continuation of the ESTAR table
        e_el = ESTAR_WATER[:, 0]
        r_el = ESTAR_WATER[:, 3]
        slope = math.log(r_el[1] / r_el[0]) / math.log(e_el[1] / e_el[0])
        rng = loglog_interp(np.clip(e, e_el[0], e_el[-1]), e_el, r_el)
        low = e < e_el[0]
        rng[low] = r_el[0] * (e[low] / e_el[0]) ** slope
        self.e_grid: FloatArray = e
        self.csda_range: FloatArray = rng


@njit()
def _lookup(table: FloatArray, log_e0: float, dlog_e: float, energy: float) -> float:
    x = (math.log(energy) - log_e0) / dlog_e
    i = int(x)
    if i < 0:
        return float(table[0])
    if i >= table.size - 1:
        return float(table[-1])
    f = x - i
    return float(table[i] * (1.0 - f) + table[i + 1] * f)


@njit()
def _energy_from_range(e_grid: FloatArray, csda_range: FloatArray, r: float) -> float:
    if r <= csda_range[0]:
        return float(e_grid[0] * (r / csda_range[0]))
    i = np.searchsorted(csda_range, r) - 1
    if i >= csda_range.size - 1:
        return float(e_grid[-1])
    # log-log interpolation of T(R)
    lr0 = math.log(csda_range[i])
    lr1 = math.log(csda_range[i + 1])
    f = (math.log(r) - lr0) / (lr1 - lr0)
    return float(math.exp(math.log(e_grid[i]) * (1.0 - f) + math.log(e_grid[i + 1]) * f))


@njit()
def _rotate(u: float, v: float, w: float, cos_t: float, phi: float) -> tuple[float, float, float]:
    sin_t = math.sqrt(max(0.0, 1.0 - cos_t * cos_t))
    cp = math.cos(phi)
    sp = math.sin(phi)
    s2 = 1.0 - w * w
    if s2 > 1e-10:
        s = math.sqrt(s2)
        un = u * cos_t + sin_t * (u * w * cp - v * sp) / s
        vn = v * cos_t + sin_t * (v * w * cp + u * sp) / s
        wn = w * cos_t - sin_t * cp * s
    else:
        un = sin_t * cp
        vn = sin_t * sp
        wn = cos_t if w > 0 else -cos_t
    norm = math.sqrt(un * un + vn * vn + wn * wn)
    return un / norm, vn / norm, wn / norm


@njit()
def _sample_compton(k: float) -> tuple[float, float]:
    """Return (epsilon = E'/E, cos theta) for a photon of energy k (units of m c^2)."""
    eps0 = 1.0 / (1.0 + 2.0 * k)
    eps0sq = eps0 * eps0
    alpha1 = -math.log(eps0)
    alpha2 = 0.5 * (1.0 - eps0sq)
    while True:
        if alpha1 / (alpha1 + alpha2) > np.random.random():
            eps = math.exp(-alpha1 * np.random.random())
            epssq = eps * eps
        else:
            epssq = eps0sq + (1.0 - eps0sq) * np.random.random()
            eps = math.sqrt(epssq)
        onecost = (1.0 - eps) / (eps * k)
        sint2 = onecost * (2.0 - onecost)
        greject = 1.0 - eps * sint2 / (1.0 + epssq)
        if greject >= np.random.random():
            return eps, 1.0 - onecost


@njit()
def _sample_energy(cdf: FloatArray, e_lo: FloatArray, e_hi: FloatArray) -> tuple[int, float]:
    """A spectrum bin (by its cumulative weights) and an energy uniform within it."""
    i = np.searchsorted(cdf, np.random.random() * cdf[-1])
    if i >= cdf.size:
        i = cdf.size - 1
    return i, float(e_lo[i] + (e_hi[i] - e_lo[i]) * np.random.random())


@njit()
def _deposit(
    mode: int,
    tally: FloatArray,
    edges_a: FloatArray,
    edges_b: FloatArray,
    x: float,
    y: float,
    z: float,
    energy: float,
) -> None:
    if energy <= 0.0:
        return
    if mode == 0:  # spherical (r, theta) about the origin, theta from +z
        r = math.sqrt(x * x + y * y + z * z)
        ia = np.searchsorted(edges_a, r, side="right") - 1
        if ia < 0 or ia >= edges_a.size - 1:
            return
        if r > 0.0:
            c = min(1.0, max(-1.0, z / r))
            theta = math.degrees(math.acos(c))
        else:
            theta = 0.0
        ib = int(np.searchsorted(edges_b, theta, side="right")) - 1
        if ib >= edges_b.size - 1:
            ib = edges_b.size - 2
        tally[ia, ib] += energy
    else:  # cylindrical (depth z, radius rho) for a pencil along +z
        ia = np.searchsorted(edges_a, z, side="right") - 1
        if ia < 0 or ia >= edges_a.size - 1:
            return
        rho = math.sqrt(x * x + y * y)
        ib = int(np.searchsorted(edges_b, rho, side="right")) - 1
        if ib < 0 or ib >= edges_b.size - 1:
            return
        tally[ia, ib] += energy


@njit()
def _push(
    st_type: npt.NDArray[np.int64],
    st: FloatArray,
    n: int,
    ptype: int,
    e: float,
    x: float,
    y: float,
    z: float,
    u: float,
    v: float,
    w: float,
    primary: float,
) -> int:
    st_type[n] = ptype
    st[n, 0] = e
    st[n, 1] = x
    st[n, 2] = y
    st[n, 3] = z
    st[n, 4] = u
    st[n, 5] = v
    st[n, 6] = w
    st[n, 7] = primary
    return n + 1


@njit()
def _history(
    mode: int,
    energy0: float,
    scale: float,
    mu_total: FloatArray,
    mu_compton: FloatArray,
    mu_photo: FloatArray,
    log_e0: float,
    dlog_e: float,
    e_grid: FloatArray,
    csda_range: FloatArray,
    tally: FloatArray,
    tally_primary: FloatArray,
    edges_a: FloatArray,
    edges_b: FloatArray,
    track: FloatArray,
    track_edges: FloatArray,
    kill_radius: float,
) -> float:
    """Transport one primary photon (along +z from the origin) and its whole shower.

    Deposited energies are multiplied by ``scale`` before they are tallied. In mode 0 (point
    kernel) the primary's first interaction is forced at the origin, and the energy of the
    charged particles it sets in motion (the *primary* energy of the kernel: Compton
    electron, pair, photoelectric absorption) goes to ``tally_primary``, everything else
    (the energy carried on by scattered, annihilation and bremsstrahlung-free secondary
    photons) to ``tally``; in mode 1 (pencil beam) the primary enters semi-infinite water
    at the origin, particles reaching ``z < 0`` escape, and everything goes to ``tally``.

    Returns
    -------
    float
        The primary energy imparted (times ``scale``; 0 in mode 1).
    """
    st_type = np.zeros(_STACK, dtype=np.int64)
    st = np.zeros((_STACK, 8))
    n = _push(st_type, st, 0, 0, energy0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    primary_energy = 0.0
    first = True
    mc2 = ELECTRON_MASS_MEV
    while n > 0:
        n -= 1
        ptype = st_type[n]
        e = st[n, 0]
        x = st[n, 1]
        y = st[n, 2]
        z = st[n, 3]
        u = st[n, 4]
        v = st[n, 5]
        w = st[n, 6]
        from_primary = st[n, 7] > 0.5
        out = tally_primary if from_primary else tally
        forced = first and mode == 0
        first = False
        if ptype == 0:
            # ---------------------------------------------------------------- photon
            while True:
                if e < _PHOTON_CUTOFF:
                    _deposit(mode, tally, edges_a, edges_b, x, y, z, e * scale)
                    break
                mut = _lookup(mu_total, log_e0, dlog_e, e)
                # the products of the forced first interaction are the kernel's primary
                tag = 1.0 if forced else 0.0
                out = tally_primary if forced else tally
                if forced:
                    forced = False
                else:
                    d = -math.log(1.0 - np.random.random()) / mut
                    x += u * d
                    y += v * d
                    z += w * d
                    if mode == 1 and z < 0.0:
                        break
                    if x * x + y * y + z * z > kill_radius * kill_radius:
                        break
                muc = _lookup(mu_compton, log_e0, dlog_e, e)
                mup = _lookup(mu_photo, log_e0, dlog_e, e)
                r = np.random.random() * mut
                if r < muc:
                    eps, cost = _sample_compton(e / mc2)
                    phi = 2.0 * math.pi * np.random.random()
                    e1 = eps * e
                    nu, nv, nw = _rotate(u, v, w, cost, phi)
                    # recoil electron along p - p'
                    px = e * u - e1 * nu
                    py = e * v - e1 * nv
                    pz = e * w - e1 * nw
                    pn = math.sqrt(px * px + py * py + pz * pz)
                    t_el = e - e1
                    if pn > 0.0 and n < _STACK:
                        n = _push(st_type, st, n, 1, t_el, x, y, z, px / pn, py / pn, pz / pn, tag)
                    else:
                        _deposit(mode, out, edges_a, edges_b, x, y, z, t_el * scale)
                        primary_energy += tag * t_el * scale
                    e = e1
                    u, v, w = nu, nv, nw
                elif r >= muc + mup and e > 2.0 * mc2:
                    # pair production: electron (1) and positron (2)
                    t_tot = e - 2.0 * mc2
                    frac = np.random.random()
                    for q in range(2):
                        t_q = t_tot * frac if q == 0 else t_tot * (1.0 - frac)
                        g = (t_q + mc2) / mc2
                        cost = math.cos(min(math.pi, 1.0 / g))
                        phi = 2.0 * math.pi * np.random.random()
                        nu, nv, nw = _rotate(u, v, w, cost, phi)
                        if n < _STACK:
                            n = _push(st_type, st, n, 1 + q, t_q, x, y, z, nu, nv, nw, tag)
                        else:
                            _deposit(mode, out, edges_a, edges_b, x, y, z, t_q * scale)
                            primary_energy += tag * t_q * scale
                    break
                else:
                    _deposit(mode, out, edges_a, edges_b, x, y, z, e * scale)
                    primary_energy += tag * e * scale
                    break
        else:
            # -------------------------------------------------------------- electron
            t = e
            escaped = False
            while t > _ELECTRON_CUTOFF:
                rng = _lookup(csda_range, log_e0, dlog_e, t)
                step = min(_STEP_FRACTION * rng, _MAX_STEP_CM)
                t_after = _energy_from_range(e_grid, csda_range, rng - step)
                if t_after < 0.5 * _ELECTRON_CUTOFF:
                    t_after = 0.0
                t_mid = 0.5 * (t + t_after)
                xm = x + 0.5 * step * u
                ym = y + 0.5 * step * v
                zm = z + 0.5 * step * w
                if mode == 1 and zm < 0.0:
                    escaped = True
                    break
                _deposit(mode, out, edges_a, edges_b, xm, ym, zm, (t - t_after) * scale)
                if from_primary:
                    primary_energy += (t - t_after) * scale
                if mode == 0 and t_mid > track_edges[0]:
                    it = np.searchsorted(track_edges, t_mid, side="right") - 1
                    if it < track.size:
                        track[it] += step * scale
                x += step * u
                y += step * v
                z += step * w
                t = t_after
                if t <= 0.0:
                    break
                # Highland (1975) width; the log term uses the residual range
                pc = math.sqrt(t_mid * (t_mid + 2.0 * mc2))
                beta = pc / (t_mid + mc2)
                lr = math.log(max(rng, 1e-6) / _X0_CM)
                theta0 = 13.6 / (pc * beta) * math.sqrt(step / _X0_CM)
                theta0 *= max(0.2, 1.0 + 0.038 * lr)
                tx = theta0 * np.random.standard_normal()
                ty = theta0 * np.random.standard_normal()
                theta = min(math.pi, math.sqrt(tx * tx + ty * ty))
                phi = math.atan2(ty, tx)
                u, v, w = _rotate(u, v, w, math.cos(theta), phi)
            if escaped:
                continue
            if t > 0.0:
                _deposit(mode, out, edges_a, edges_b, x, y, z, t * scale)
                if from_primary:
                    primary_energy += t * scale
            if ptype == 2:
                if n + 2 <= _STACK:
                    # annihilation at rest: two 0.511 MeV photons back to back, isotropic
                    cost = 2.0 * np.random.random() - 1.0
                    sint = math.sqrt(max(0.0, 1.0 - cost * cost))
                    phi = 2.0 * math.pi * np.random.random()
                    cu = sint * math.cos(phi)
                    cv = sint * math.sin(phi)
                    n = _push(st_type, st, n, 0, mc2, x, y, z, cu, cv, cost, 0.0)
                    n = _push(st_type, st, n, 0, mc2, x, y, z, -cu, -cv, -cost, 0.0)
                else:
                    _deposit(mode, tally, edges_a, edges_b, x, y, z, 2.0 * mc2 * scale)
    return primary_energy


@njit(parallel=True)
def _run_chunks(
    mode: int,
    n_chunks: int,
    per_chunk: int,
    seed: int,
    cdf: FloatArray,
    e_lo: FloatArray,
    e_hi: FloatArray,
    mu_total: FloatArray,
    mu_compton: FloatArray,
    mu_photo: FloatArray,
    log_e0: float,
    dlog_e: float,
    e_grid: FloatArray,
    csda_range: FloatArray,
    edges_a: FloatArray,
    edges_b: FloatArray,
    track_edges: FloatArray,
    kill_radius: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    shape = (n_chunks, edges_a.size - 1, edges_b.size - 1)
    tallies = np.zeros(shape)
    primary = np.zeros(shape if mode == 0 else (n_chunks, 1, 1))
    tracks = np.zeros((n_chunks, track_edges.size - 1))
    norm = np.zeros(n_chunks)
    bin_primary = np.zeros((n_chunks, cdf.size))
    bin_count = np.zeros((n_chunks, cdf.size))
    for c in prange(n_chunks):
        np.random.seed(seed + c)
        for _ in range(per_chunk):
            ib, e0 = _sample_energy(cdf, e_lo, e_hi)
            # point kernel: each history tallies fractions of its own energy
            scale = 1.0 / e0 if mode == 0 else 1.0
            bin_primary[c, ib] += _history(
                mode, e0, scale, mu_total, mu_compton, mu_photo, log_e0, dlog_e, e_grid, csda_range,
                tallies[c], primary[c], edges_a, edges_b, tracks[c], track_edges, kill_radius,
            )  # fmt: skip
            bin_count[c, ib] += 1.0
            norm[c] += 1.0 if mode == 0 else e0
    return tallies, primary, tracks, norm, bin_primary, bin_count


def _sum_chunks(a: FloatArray) -> FloatArray:
    out = np.zeros(a.shape[1:])
    for c in range(a.shape[0]):  # fixed order: bit-for-bit reproducible
        out += a[c]
    return out


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class PointKernelParts:
    """A point kernel split into its primary and scattered-photon parts.

    Attributes
    ----------
    primary : numpy.ndarray, shape (n_r, n_theta)
        Mean fraction of the primary photon's energy imparted in each bin by the charged
        particles of its first interaction (Compton electron, electron-positron pair,
        photoelectron): the primary kernel of Ahnesjö (1989) and Mackie et al. (1988).
    scatter : numpy.ndarray, shape (n_r, n_theta)
        The rest: energy imparted through scattered, annihilation and lower-energy photons.
    track : numpy.ndarray, shape (n_track,)
        Electron track length per primary (cm) in each energy bin.
    primary_fraction : numpy.ndarray, shape (n_bins,)
        For each spectrum bin, the mean share of a photon's energy imparted as primary
        energy, ``E_tr / E`` (radiative losses are imparted locally by this transport), at
        any distance; NaN for a bin with no history.
    """

    primary: FloatArray
    scatter: FloatArray
    track: FloatArray
    primary_fraction: FloatArray

    @property
    def total(self) -> FloatArray:
        """The whole kernel, ``primary + scatter``."""
        return np.asarray(self.primary + self.scatter)


def run_point_kernel(
    *,
    energy_lo_mev: FloatArray,
    energy_hi_mev: FloatArray,
    weights: FloatArray,
    r_edges_cm: FloatArray,
    theta_edges_deg: FloatArray,
    track_edges_mev: FloatArray,
    histories: int,
    seed: int,
    n_chunks: int = 64,
) -> tuple[FloatArray, FloatArray]:
    """Point spread kernel: energy imparted around a photon interaction in infinite water.

    The first interaction of each primary photon (direction +z) is forced at the origin.

    Parameters
    ----------
    energy_lo_mev, energy_hi_mev : numpy.ndarray, shape (n,)
        Energy bins of the primary photons, MeV.
    weights : numpy.ndarray, shape (n,)
        Probability of each bin (for a polyenergetic kernel: the bin's share of TERMA).
    r_edges_cm : numpy.ndarray
        Radial bin edges, cm, starting at 0.
    theta_edges_deg : numpy.ndarray
        Polar-angle bin edges, degrees, 0 to 180.
    track_edges_mev : numpy.ndarray
        Energy bins for the electron track-length (fluence) spectrum.
    histories : int
        Number of primary photons (rounded up to a multiple of ``n_chunks``).
    seed : int
        Base seed.
    n_chunks : int
        Independent reproducible streams.

    Returns
    -------
    kernel : numpy.ndarray, shape (n_r, n_theta)
        Mean fraction of the primary photon's energy imparted in each bin.
    track : numpy.ndarray, shape (n_track,)
        Electron track length per primary (cm) in each energy bin.
    """
    parts = run_point_kernel_parts(
        energy_lo_mev=energy_lo_mev,
        energy_hi_mev=energy_hi_mev,
        weights=weights,
        r_edges_cm=r_edges_cm,
        theta_edges_deg=theta_edges_deg,
        track_edges_mev=track_edges_mev,
        histories=histories,
        seed=seed,
        n_chunks=n_chunks,
    )
    return parts.total, parts.track


def run_point_kernel_parts(
    *,
    energy_lo_mev: FloatArray,
    energy_hi_mev: FloatArray,
    weights: FloatArray,
    r_edges_cm: FloatArray,
    theta_edges_deg: FloatArray,
    track_edges_mev: FloatArray,
    histories: int,
    seed: int,
    n_chunks: int = 64,
) -> PointKernelParts:
    """Point spread kernel split into primary and scatter (see :func:`run_point_kernel`).

    The same histories as :func:`run_point_kernel` (same seed, same random numbers); the
    energy of the charged particles set in motion by the forced first interaction is
    tallied apart, and so is its share per spectrum bin.

    Returns
    -------
    PointKernelParts
    """
    tables = PhysicsTables()
    per = -(-histories // n_chunks)
    tallies, primary, tracks, norm, bin_primary, bin_count = _run_chunks(
        0, n_chunks, per, seed, np.cumsum(weights), energy_lo_mev, energy_hi_mev,
        tables.mu_total, tables.mu_compton, tables.mu_photo, tables.log_e0, tables.dlog_e,
        tables.e_grid, tables.csda_range, r_edges_cm, theta_edges_deg, track_edges_mev, 200.0,
    )  # fmt: skip
    total = float(np.sum(norm))
    counts = _sum_chunks(bin_count[:, np.newaxis, :])[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = _sum_chunks(bin_primary[:, np.newaxis, :])[0] / counts
    return PointKernelParts(
        primary=_sum_chunks(primary) / total,
        scatter=_sum_chunks(tallies) / total,
        track=_sum_chunks(tracks[:, np.newaxis, :])[0] / total,
        primary_fraction=np.where(counts > 0, fraction, np.nan),
    )


def run_pencil_kernel(
    *,
    energy_lo_mev: FloatArray,
    energy_hi_mev: FloatArray,
    weights: FloatArray,
    z_edges_cm: FloatArray,
    rho_edges_cm: FloatArray,
    histories: int,
    seed: int,
    n_chunks: int = 64,
) -> FloatArray:
    """Pencil-beam kernel: energy imparted in semi-infinite water by a thin beam along +z.

    Parameters
    ----------
    energy_lo_mev, energy_hi_mev : numpy.ndarray, shape (n,)
        Energy bins of the incident photons, MeV.
    weights : numpy.ndarray, shape (n,)
        Photon-number probability of each bin.
    z_edges_cm, rho_edges_cm : numpy.ndarray
        Depth and radius bin edges, cm.
    histories : int
        Number of incident photons (rounded up to a multiple of ``n_chunks``).
    seed : int
        Base seed.
    n_chunks : int
        Independent reproducible streams.

    Returns
    -------
    numpy.ndarray, shape (n_z, n_rho)
        Energy imparted in each (depth, radius) ring per unit incident energy.
    """
    tables = PhysicsTables()
    per = -(-histories // n_chunks)
    dummy = np.array([0.0, 1.0])
    tallies, _, _, norm, _, _ = _run_chunks(
        1, n_chunks, per, seed, np.cumsum(weights), energy_lo_mev, energy_hi_mev,
        tables.mu_total, tables.mu_compton, tables.mu_photo, tables.log_e0, tables.dlog_e,
        tables.e_grid, tables.csda_range, z_edges_cm, rho_edges_cm, dummy, 200.0,
    )  # fmt: skip
    return _sum_chunks(tallies) / float(np.sum(norm))
