"""Energy deposition kernels prepared for the engines, from a machine's Monte Carlo tables.

* :func:`cone_kernel` collapses the point spread kernel into cones (Ahnesjö 1989, Med.
  Phys. 16 577-592): for each cone of polar angles the fraction of released energy that
  travels beyond a radiological distance ``s`` is fitted by a sum of exponentials
  ``sum_k A_k exp(-a_k s)``, which lets the energy be transported recursively along the
  cone's lines. Nine rates, shared by all cones, are fixed on a ladder from 0.02 to 18 per
  cm; the amplitudes (of either sign) are found by weighted linear least squares over
  0-55 cm (relative weights down to 2 % of the cone's energy, four times heavier within
  the first centimetres where the primary electrons deposit their energy), with each
  cone's energy kept exactly (``sum_k A_k`` is the cone's share), so the fit is
  linear and deterministic. It keeps the first moment of the forward energy transport
  within 1 % of the Monte Carlo kernel's within 1, 3 and 40 cm. When the kernel file
  holds its primary part (the energy imparted by the charged particles of the first
  interaction), the primary and scatter kernels are fitted apart with the same rates, and
  the primary share ``E_tr / E`` of each spectrum bin is kept, so that the engine can
  drive them by the primary energy released and the rest of TERMA (beam hardening with
  depth: Ahnesjö 1989; Papanikolaou et al. 1993, Med. Phys. 20 1327-1336; Hoban 1995,
  Med. Phys. 22 2035-2044).
* :func:`pencil_kernel` turns the pencil-beam table into cumulative radial dose profiles
  ``C(z, rho)`` (energy per unit depth within radius ``rho`` of a thin beam) and decomposes
  them by singular value decomposition into a few depth weights times radial profiles
  (Bortfeld, Schlegel & Rhein 1993, Med. Phys. 20 311-318), so that a whole field is
  convolved with a handful of 2D kernels.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.dose.machines._model import BeamModel
from rtplan.dose.machines._tables import read_tables

__all__ = [
    "DEFAULT_ZENITH_EDGES_DEG",
    "ConeKernel",
    "PencilKernel",
    "cone_kernel",
    "electron_track_spectrum",
    "pencil_kernel",
]

FloatArray = npt.NDArray[np.float64]

DEFAULT_ZENITH_EDGES_DEG: tuple[float, ...] = (
    0.0, 6.0, 12.0, 18.0, 25.0, 33.0, 42.0, 52.0, 65.0, 80.0, 100.0, 130.0, 180.0,
)  # fmt: skip
"""Polar-angle edges of the cones, degrees from the beam direction (12 cones)."""

_RATES_PER_CM = np.array([0.02, 0.05, 0.12, 0.3, 0.7, 1.5, 3.0, 7.0, 18.0])
_FIT_RANGE_CM = 55.0


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ConeKernel:
    """A point kernel collapsed into cones and fitted by exponentials.

    Attributes
    ----------
    zenith_edges_deg : numpy.ndarray, shape (m + 1,)
        Polar-angle edges of the cones, degrees from the primary photon direction.
    zenith_axis_deg : numpy.ndarray, shape (m,)
        Axis of each cone: the angle bisecting its solid angle, degrees.
    fraction : numpy.ndarray, shape (m,)
        Share of the released energy imparted in each cone (within 60 cm).
    amplitude : numpy.ndarray, shape (m, k)
        ``A_k``, shares of released energy (zero for unused terms).
    rate_per_cm : numpy.ndarray, shape (m, k)
        ``a_k``, 1/cm of water-equivalent path.
    fit_error : float
        Largest error of the fitted cumulative kernel within 55 cm, as a share of all
        released energy.
    primary_amplitude : numpy.ndarray, shape (m, k)
        The part of ``amplitude`` imparted by the charged particles of the first
        interaction (the primary kernel, same rates); ``scatter_amplitude`` is the rest.
        When the kernel file has no primary part, the whole kernel is primary.
    scatter_amplitude : numpy.ndarray, shape (m, k)
        The part of ``amplitude`` imparted through scattered photons.
    spectrum_energy_mev : numpy.ndarray, shape (n,)
        Photon energies of :attr:`primary_share`, MeV.
    primary_share : numpy.ndarray, shape (n,)
        Share of a photon's energy that the charged particles of its first interaction
        receive, ``E_tr / E``, at those energies (1 when the file has no primary part).
    """

    zenith_edges_deg: FloatArray
    zenith_axis_deg: FloatArray
    fraction: FloatArray
    amplitude: FloatArray
    rate_per_cm: FloatArray
    fit_error: float
    primary_amplitude: FloatArray
    scatter_amplitude: FloatArray
    spectrum_energy_mev: FloatArray
    primary_share: FloatArray

    def directions(self, n_azimuth: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Transport directions and their exponential terms in the beam frame.

        Parameters
        ----------
        n_azimuth : int
            Azimuthal lines per cone.

        Returns
        -------
        directions : numpy.ndarray, shape (m * n_azimuth, 3)
            Unit vectors ``(x, y, z)`` with ``+z`` along the primary photons.
        amplitude, rate_per_cm : numpy.ndarray, shape (m * n_azimuth, k)
            Exponential terms of each direction (amplitudes split evenly in azimuth).
        """
        dirs = []
        amp = []
        rate = []
        for m, theta in enumerate(np.radians(self.zenith_axis_deg)):
            for n in range(n_azimuth):
                # stagger the azimuths of successive cones so lines do not pile up
                phi = 2.0 * math.pi * (n + 0.5 * (m % 2)) / n_azimuth
                dirs.append(
                    [math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi),
                     math.cos(theta)]
                )  # fmt: skip
                amp.append(self.amplitude[m] / n_azimuth)
                rate.append(self.rate_per_cm[m])
        return np.array(dirs), np.array(amp), np.array(rate)

    def component_amplitudes(self, n_azimuth: int, primary_share: float) -> FloatArray:
        """Amplitudes per unit primary and per unit scatter energy of each direction.

        Parameters
        ----------
        n_azimuth : int
            Azimuthal lines per cone (the directions of :meth:`directions`).
        primary_share : float
            Primary share of the energy released by the kernel's spectrum (``E_tr / E``
            averaged with the TERMA weights), between 0 and 1: the primary kernel is
            divided by it and the scatter kernel by its complement, so that energy
            released in that proportion imparts exactly the whole kernel.

        Returns
        -------
        numpy.ndarray, shape (m * n_azimuth, 2, k)
            ``[:, 0]`` per unit primary energy, ``[:, 1]`` per unit scatter energy (zero
            when the whole kernel is primary).

        Examples
        --------
        >>> from rtplan.dose import load_machine
        >>> from rtplan.dose._deposition import cone_kernel
        >>> ck = cone_kernel(load_machine("6X"))
        >>> ck.component_amplitudes(8, 0.5).shape
        (96, 2, 9)
        """

        def per_unit(amp: FloatArray, share: float) -> FloatArray:
            return amp / share if share > 1e-12 else np.zeros_like(amp)

        p = per_unit(self.primary_amplitude, primary_share)
        s = per_unit(self.scatter_amplitude, 1.0 - primary_share)
        per_cone = np.stack([p, s], axis=1) / n_azimuth  # (m, 2, k)
        return np.ascontiguousarray(np.repeat(per_cone, n_azimuth, axis=0))

    def primary_share_of(self, energy_mev: FloatArray) -> FloatArray:
        """The primary share ``E_tr / E`` at photon energies (linear in energy).

        Parameters
        ----------
        energy_mev : numpy.ndarray, shape (n,)

        Returns
        -------
        numpy.ndarray, shape (n,)
        """
        return np.asarray(
            np.interp(np.asarray(energy_mev, dtype=np.float64), self.spectrum_energy_mev,
                      self.primary_share)
        )  # fmt: skip


def _fit_exponentials(r: FloatArray, beyond: FloatArray) -> FloatArray:
    sel = r <= _FIT_RANGE_CM
    weight = (1.0 + 3.0 * np.exp(-r[sel] / 2.0)) / (
        beyond[sel] + 0.02 * max(float(beyond[0]), 1e-12)
    )
    design = np.exp(-np.outer(r[sel], _RATES_PER_CM)) * weight[:, np.newaxis]
    rhs = beyond[sel] * weight
    # the cone's energy is kept exactly: sum_k A_k = beyond(0), as a row outweighing the
    # others a thousandfold (without it the fit of the steep first millimetre leaves the
    # forward cones up to 2 % more energy than the kernel releases into them)
    big = 1.0e3 * float(weight.max())
    design = np.vstack([design, np.full(_RATES_PER_CM.size, big)])
    rhs = np.append(rhs, big * beyond[0])
    coef = np.linalg.lstsq(design, rhs, rcond=None)[0]
    return np.asarray(coef)


def _cone_beyond(kernel: FloatArray, cone_of: npt.NDArray[np.intp], m: int) -> FloatArray:
    """Energy imparted beyond each radius edge within cone ``m``."""
    per_r = kernel[:, cone_of == m].sum(axis=1)
    return np.concatenate([np.cumsum(per_r[::-1])[::-1], [0.0]])


def _cone_fits(
    r_edges: FloatArray,
    kernel: FloatArray,
    primary: FloatArray | None,
    cone_of: npt.NDArray[np.intp],
    n_cones: int,
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """Per cone: fraction, whole-kernel and primary amplitudes, largest fit error."""
    amplitude = np.zeros((n_cones, _RATES_PER_CM.size))
    amp_primary = np.zeros_like(amplitude)
    fractions = np.zeros(n_cones)
    worst = 0.0
    sel = r_edges <= _FIT_RANGE_CM
    design = np.exp(-np.outer(r_edges[sel], _RATES_PER_CM))
    for m in range(n_cones):
        beyond = _cone_beyond(kernel, cone_of, m)
        fractions[m] = beyond[0]
        amplitude[m] = _fit_exponentials(r_edges, beyond)
        # the primary part is fitted on its own; the scatter part is the rest of the whole
        # kernel's fit, so that the two add up to exactly the whole kernel
        if primary is None:
            amp_primary[m] = amplitude[m]
        else:
            amp_primary[m] = _fit_exponentials(r_edges, _cone_beyond(primary, cone_of, m))
        worst = max(worst, float(np.max(np.abs(design @ amplitude[m] - beyond[sel]))))
    return fractions, amplitude, amp_primary, worst


@functools.lru_cache(maxsize=8)
def _cone_kernel_cached(point_file: str, zenith_edges_deg: tuple[float, ...]) -> ConeKernel:
    from pathlib import Path

    t = read_tables(Path(point_file))
    r_edges = t["r_edges_cm"][0]
    theta_edges = t["theta_edges_deg"][0]
    primary = t.get("kernel_primary")
    edges = np.asarray(zenith_edges_deg, dtype=np.float64)
    centres = 0.5 * (theta_edges[1:] + theta_edges[:-1])
    cone_of = np.clip(np.searchsorted(edges, centres, side="right") - 1, 0, edges.size - 2)
    n_cones = edges.size - 1
    fractions, amplitude, amp_primary, worst = _cone_fits(
        r_edges, t["kernel"], primary, cone_of, n_cones
    )
    c1 = np.cos(np.radians(edges[:-1]))
    c2 = np.cos(np.radians(edges[1:]))
    axis = np.degrees(np.arccos(0.5 * (c1 + c2)))
    if primary is None:
        energies, share = np.array([0.0, 1.0e3]), np.ones(2)
    else:
        energies = t["spectrum_energy_mev"][0]
        share = t["primary_fraction"][0]
        ok = np.isfinite(share)
        energies, share = energies[ok], share[ok]
    return ConeKernel(
        zenith_edges_deg=edges,
        zenith_axis_deg=axis,
        fraction=fractions,
        amplitude=amplitude,
        rate_per_cm=np.tile(_RATES_PER_CM, (n_cones, 1)),
        fit_error=worst,
        primary_amplitude=amp_primary,
        scatter_amplitude=amplitude - amp_primary,
        spectrum_energy_mev=energies,
        primary_share=share,
    )


def cone_kernel(
    machine: BeamModel, zenith_edges_deg: tuple[float, ...] = DEFAULT_ZENITH_EDGES_DEG
) -> ConeKernel:
    """Collapse a machine's point kernel into cones and fit each by exponentials.

    Parameters
    ----------
    machine : BeamModel
        The beam model whose point kernel file is used.
    zenith_edges_deg : tuple of float
        Polar-angle edges of the cones, degrees, from 0 to 180.

    Returns
    -------
    ConeKernel
    """
    path = machine.directory / machine.point_kernel_file
    return _cone_kernel_cached(str(path), tuple(float(e) for e in zenith_edges_deg))


def electron_track_spectrum(machine: BeamModel) -> tuple[FloatArray, FloatArray]:
    """Electron fluence spectrum (track length per energy bin) under equilibrium.

    Parameters
    ----------
    machine : BeamModel

    Returns
    -------
    energy_edges_mev : numpy.ndarray, shape (n + 1,)
    track_length : numpy.ndarray, shape (n,)
        Track length (cm per MeV released) in each bin.
    """
    t = read_tables(machine.directory / machine.point_kernel_file)
    return t["track_edges_mev"][0], t["track"][0]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class PencilKernel:
    """A pencil-beam kernel decomposed as ``C(z, rho) = sum_k w_k(z) c_k(rho)``.

    Attributes
    ----------
    depth_cm : numpy.ndarray, shape (nz,)
        Depths of the depth weights (bin centres), cm of water.
    rho_cm : numpy.ndarray, shape (nr,)
        Radii of the cumulative radial profiles, cm (first is 0).
    weights : numpy.ndarray, shape (nz, k)
        Depth weights ``w_k(z)``.
    profiles : numpy.ndarray, shape (k, nr)
        Cumulative radial profiles ``c_k(rho)``: energy within ``rho`` per unit depth and
        unit incident energy, 1/cm, once multiplied by the weights.
    attenuation_per_cm : float
        Effective attenuation used beyond the deepest tabulated depth.
    """

    depth_cm: FloatArray
    rho_cm: FloatArray
    weights: FloatArray
    profiles: FloatArray
    attenuation_per_cm: float

    def weights_at(self, depth_cm: FloatArray) -> FloatArray:
        """Depth weights at radiological depths (linear, exponential beyond the table).

        Parameters
        ----------
        depth_cm : numpy.ndarray, shape (n,)

        Returns
        -------
        numpy.ndarray, shape (n, k)
        """
        d = np.asarray(depth_cm, dtype=np.float64)
        out = np.empty((d.size, self.weights.shape[1]))
        dc = np.clip(d, self.depth_cm[0], self.depth_cm[-1])
        for k in range(self.weights.shape[1]):
            out[:, k] = np.interp(dc, self.depth_cm, self.weights[:, k])
        # above the first tabulated depth the first weights hold; beyond the last one the
        # weights fall with the effective attenuation of the deepest 10 cm
        deep = d > self.depth_cm[-1]
        out[deep] *= np.exp(-self.attenuation_per_cm * (d[deep] - self.depth_cm[-1]))[:, np.newaxis]
        return out

    def pixel_kernels(self, spacing_cm: float, half_width: int) -> FloatArray:
        """Each radial component integrated over the pixels of a square grid.

        Parameters
        ----------
        spacing_cm : float
            Pixel size, cm.
        half_width : int
            The grid spans ``2 * half_width + 1`` pixels a side, centred on the pencil.

        Returns
        -------
        numpy.ndarray, shape (k, 2 h + 1, 2 h + 1)
            Energy per unit depth imparted in each pixel column (per unit weight).
        """
        quad = self.pixel_kernel_quadrant(spacing_cm, half_width)
        rows = np.concatenate([quad[:, :0:-1], quad], axis=1)
        return np.ascontiguousarray(np.concatenate([rows[:, :, :0:-1], rows], axis=2))

    def pixel_kernel_quadrant(self, spacing_cm: float, half_width: int) -> FloatArray:
        """One quadrant of :meth:`pixel_kernels` (the kernels are symmetric in x and y).

        Parameters
        ----------
        spacing_cm : float
            Pixel size, cm.
        half_width : int
            Largest pixel offset from the pencil.

        Returns
        -------
        numpy.ndarray, shape (k, h + 1, h + 1)
            ``pixel_kernels(...)[:, h:, h:]``: pixel offsets ``0..h`` along both axes.
        """
        h = spacing_cm
        n_comp = self.profiles.shape[0]
        q_idx = np.arange(half_width + 1)
        q_rho = np.hypot(*np.meshgrid(q_idx * h, q_idx * h, indexing="ij"))
        # far pixels: areal density at the pixel centre times the pixel area; the
        # cumulative profile is linear in rho between its nodes, so the areal density is
        # slope / (2 pi rho) there (zero beyond the table)
        seg = np.searchsorted(self.rho_cm, q_rho, side="right") - 1
        slopes = np.diff(self.profiles, axis=1) / np.diff(self.rho_cm)  # (k, nr - 1)
        slopes = np.concatenate([slopes, np.zeros((n_comp, 1))], axis=1)  # beyond: 0
        with np.errstate(divide="ignore", invalid="ignore"):
            quad = slopes[:, seg] * (h * h / (2.0 * np.pi)) / q_rho
        # near pixels (within 3 pixels of the pencil): 8 x 8 sub-pixels each
        near = min(3, half_width)
        n_sub = 8
        sub = (np.arange(n_sub) + 0.5) / n_sub - 0.5
        loc = np.arange(0, near + 1)
        offs = (loc[:, np.newaxis] + sub[np.newaxis, :]).ravel() * h
        sx, sy = np.meshgrid(offs, offs, indexing="ij")
        srho = np.hypot(sx, sy)
        delta = 0.5 * h / n_sub
        area = np.pi * ((srho + delta) ** 2 - np.maximum(srho - delta, 0.0) ** 2)
        hi = _interp_rows(srho + delta, self.rho_cm, self.profiles)
        lo = _interp_rows(np.maximum(srho - delta, 0.0), self.rho_cm, self.profiles)
        dens_sub = (hi - lo) / area * (h / n_sub) ** 2
        block = dens_sub.reshape(n_comp, loc.size, n_sub, loc.size, n_sub).sum(axis=(2, 4))
        # the pencil's own pixel: the energy within the disc of equal area
        block[:, 0, 0] = _interp_rows(np.array([h / math.sqrt(math.pi)]), self.rho_cm,
                                      self.profiles)[:, 0]  # fmt: skip
        quad[:, : near + 1, : near + 1] = block
        return np.asarray(quad)


def _interp_rows(x: npt.ArrayLike, xp: FloatArray, fp: FloatArray) -> FloatArray:
    """:func:`numpy.interp` of every row of ``fp`` at ``x`` (shape ``(rows,) + x.shape``)."""
    xa = np.asarray(x, dtype=np.float64)
    flat = xa.ravel()
    i = np.clip(np.searchsorted(xp, flat, side="right") - 1, 0, xp.size - 2)
    t = np.clip((flat - xp[i]) / (xp[i + 1] - xp[i]), 0.0, 1.0)
    out = fp[:, i] * (1.0 - t) + fp[:, i + 1] * t
    return np.asarray(out.reshape((fp.shape[0], *xa.shape)))


@functools.lru_cache(maxsize=8)
def _pencil_kernel_cached(pencil_file: str, n_components: int) -> PencilKernel:
    from pathlib import Path

    t = read_tables(Path(pencil_file))
    z_edges = t["z_edges_cm"][0]
    rho_edges = t["rho_edges_cm"][0]
    k = t["kernel"]
    dz = np.diff(z_edges)
    cum = np.concatenate([np.zeros((k.shape[0], 1)), np.cumsum(k, axis=1)], axis=1)
    cum /= dz[:, np.newaxis]
    u, s, vt = np.linalg.svd(cum, full_matrices=False)
    n = min(n_components, s.size)
    weights = u[:, :n] * s[:n]
    profiles = vt[:n]
    # make the leading profile positive (sign of an SVD is arbitrary)
    for i in range(n):
        if profiles[i, -1] < 0:
            profiles[i] *= -1.0
            weights[:, i] *= -1.0
    z = 0.5 * (z_edges[1:] + z_edges[:-1])
    total = cum[:, -1]
    deep = z > z[-1] - 10.0
    slope = -np.polyfit(z[deep], np.log(total[deep]), 1)[0]
    return PencilKernel(
        depth_cm=z,
        rho_cm=rho_edges,
        weights=weights,
        profiles=profiles,
        attenuation_per_cm=float(slope),
    )


def pencil_kernel(machine: BeamModel, n_components: int = 6) -> PencilKernel:
    """Load and decompose a machine's pencil-beam kernel.

    Parameters
    ----------
    machine : BeamModel
    n_components : int
        Number of singular components kept.

    Returns
    -------
    PencilKernel
    """
    path = machine.directory / machine.pencil_kernel_file
    return _pencil_kernel_cached(str(path), int(n_components))
