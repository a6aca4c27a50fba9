"""Collapsed-cone transport of released energy (Ahnesjö 1989).

A. Ahnesjö, "Collapsed cone convolution of radiant energy for photon dose calculation in
heterogeneous media", Med. Phys. 16 (1989) 577-592.

For each cone direction ``u``, every voxel lies on exactly one transport line: the grid
axis most parallel to ``u`` is stepped one voxel at a time, and the two transverse
coordinates advance by constant fractional shifts and are rounded to the nearest voxel.
Lines start on a lattice of integer transverse offsets, so at every step the map from
lines to voxels is a bijection, which also makes the lines of one direction independent
(they run in parallel without write conflicts).

Along a line, the energy released in the cone by each voxel (TERMA times the cone's
kernel fraction) is carried with the kernel's exponential terms,
``beyond(s) = sum_k A_k exp(-a_k s)``, in *radiological* distance ``s = eta * l``
(density scaling, O'Connor 1957). With ``P_k`` the energy per unit line area in flight and
``T`` the water-equivalent TERMA, exactly integrating a voxel of radiological thickness
``ds``::

    P_k' = P_k e^{-a_k ds} + A_k T (1 - e^{-a_k ds}) / a_k
    E    = sum_k P_k (1 - e^{-a_k ds}) + A_k T (ds - (1 - e^{-a_k ds}) / a_k)

and ``E / ds`` is the energy imparted per unit mass of water-equivalent medium; the
caller scales it by ``eta / rho`` for the dose to the medium.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan._jit import n_threads
from rtplan.dose._collapsed_cone_kernels import ETA_STEP, Tilt, transport_all
from rtplan.errors import DoseEngineError

if TYPE_CHECKING:
    from rtplan.dose._deposition import ConeKernel
    from rtplan.dose._protocol import ProgressCallback
    from rtplan.dose._setup import BeamFrame, DoseSetup
    from rtplan.dose.machines._model import BeamModel
    from rtplan.plan import Beam

__all__ = [
    "ETA_STEP",
    "CollapsedConeEngine",
    "quantise_density",
    "transport_all",
]

FloatArray = npt.NDArray[np.float64]


def quantise_density(eta: FloatArray) -> npt.NDArray[np.int32]:
    """Electron densities as indices of :data:`ETA_STEP` bins (nearest), for the tables.

    Parameters
    ----------
    eta : numpy.ndarray
        Relative electron densities (>= 0).

    Returns
    -------
    numpy.ndarray of int32
        ``round(eta / ETA_STEP)``.
    """
    return np.rint(np.asarray(eta) / ETA_STEP).astype(np.int32)


class CollapsedConeEngine:
    """Collapsed-cone convolution/superposition engine: the reference for heterogeneity.

    TERMA by exact ray tracing (:mod:`rtplan.dose._terma`), the machine's Monte Carlo
    point kernel collapsed into 12 polar cones times ``n_azimuth`` azimuthal lines (96 by
    default), transported with density scaling along each line. The transport gives the
    energy imparted per unit mass of water-equivalent medium, converted to dose to medium
    by ``eta / rho`` (:meth:`rtplan.dose.DoseSetup.medium_factor`; 0.93 in cortical bone,
    within 2 % of the Geant4 reference inside a bone slab, ``benchmarks/dose/mc``).

    Kernel tilting (``tilt=True``): each voxel's kernel is aligned with its
    own divergent ray, not with the central axis (Papanikolaou et al. 1993, Med. Phys. 20
    1327-1336; Liu, Mackie & McCullough 1997, Med. Phys. 24 1729-1741). The transport
    lines keep their directions; the energy a voxel sends along a line is scaled by the
    kernel's energy per solid angle at the line's angle to the voxel's ray over its value
    at the line's own cone (interpolated log-linearly between the cones), and each voxel's
    TERMA by the inverse of those factors' sum, so that it releases the same energy.
    Untilted kernels send the forward energy of the field's edges towards its centre: against
    the Geant4 reference a 20 x 20 cm² field read 2 % high at depth and its output 1.2 %
    high; tilted (and hardened) its depth dose is within 1 % and its output within 0.1 %
    (``benchmarks/dose/mc``).

    Beam hardening (``hardening=True``): the kernel is split into its primary
    part (the energy of the charged particles of the first interaction) and its scatter
    part, driven by the primary energy released, ``sum_E psi_E mu_E (E_tr / E)
    exp(-mu_E d)``, and by the rest of TERMA, both computed per spectrum bin in the TERMA
    pass (Ahnesjö 1989; Papanikolaou et al. 1993; Hoban 1995, Med. Phys. 22 2035-2044):
    the primary share rises 2.6 % by 10 cm and 4.8 % by 20 cm of water. Without it a
    3 x 3 cm² field loses 3 % at 20 cm relative to its maximum. With both, every depth
    dose of 3 x 3 to 20 x 20 cm² in water is within 2 % (local) of the Geant4 reference
    beyond the build-up, and the output factors within 1.3 % (hardening alone lifts the
    large fields as well: 20 x 20 cm² up to +3.5 %). Both are off by default until the
    machines' MU-check data and calibrations are rebuilt with them; with both a dose
    costs about 70 % more time (512 x 512 x 200 CT, 5 beams, 2.5 mm: 12 s -> 20 s on 2
    cores).

    Other approximations (Ahnesjö 1989): the kernel's shape is that of the spectrum
    released at the surface (only the primary/scatter balance hardens); each cone's energy
    travels along its axis line (the collapse).

    Parameters
    ----------
    n_azimuth : int
        Azimuthal directions per cone (at least 4; 12 cones x 4 = 48 directions).
    hardening : bool
        Drive the primary and scatter kernels apart (beam hardening with depth); needs a
        kernel file with its primary part (otherwise the whole kernel is used).
    tilt : bool
        Align each voxel's kernel with its own ray from the source.

    Raises
    ------
    DoseEngineError
        If ``n_azimuth`` is below 4.
    """

    name = "collapsed-cone"

    def __init__(self, n_azimuth: int = 8, *, hardening: bool = False, tilt: bool = False) -> None:
        if n_azimuth < 4:
            raise DoseEngineError(
                f"collapsed-cone needs at least 4 azimuthal directions per cone (48 lines), "
                f"got n_azimuth={n_azimuth}"
            )
        self.n_azimuth = int(n_azimuth)
        self.hardening = bool(hardening)
        self.tilt = bool(tilt)

    def beam_dose(
        self,
        beam: Beam,
        setup: DoseSetup,
        machine: BeamModel,
        *,
        progress: ProgressCallback | None = None,
    ) -> FloatArray:
        """Dose to medium of one beam per unit energy fluence (see :class:`DoseEngine`)."""
        from rtplan.dose._deposition import cone_kernel

        kernel = cone_kernel(machine)
        mu, share = machine_spectrum(machine)
        if self.hardening:
            primary_share = kernel.primary_share_of(machine.energy_mev)
        else:  # everything released drives the whole kernel
            primary_share = np.ones_like(mu)
        bf, primary, scatter = released_energy(beam, setup, machine, primary_share)
        eta = np.ascontiguousarray(setup.electron_density)
        spacing = setup.spacing_ijk_mm
        # the primary share of the energy released by the unattenuated spectrum, the
        # kernel's own mixture: there the two kernels add up to the whole kernel
        surface_share = float(np.sum(share * mu * primary_share) / np.sum(share * mu))
        dirs, whole, rate = kernel.directions(self.n_azimuth)
        if self.hardening:
            amp = kernel.component_amplitudes(self.n_azimuth, surface_share)
        else:
            amp = np.ascontiguousarray(np.stack([whole, np.zeros_like(whole)], axis=1))
        rot = np.stack([bf.ex, bf.ey, bf.axis], axis=1)  # kernel (x, y, z) -> grid frame
        dirs_grid = np.ascontiguousarray(dirs @ rot.T)
        level = quantise_density(eta)
        tilt = None
        if self.tilt:
            tilt, released = _tilt(kernel, self.n_azimuth, dirs_grid, bf.source, bf.axis,
                                   spacing, primary.shape)  # fmt: skip
            primary *= released
            scatter *= released
        if progress is not None:
            progress(0.1, f"collapsed cone: TERMA done, transporting along {len(dirs)} lines")
        dose = transport_all(
            primary, scatter, level, spacing, dirs_grid, amp, np.ascontiguousarray(rate),
            n_threads(), tilt,
        )  # fmt: skip
        if progress is not None:
            progress(0.9, "collapsed cone: transport done")
        return dose * setup.medium_factor(machine)


def machine_spectrum(machine: BeamModel) -> tuple[FloatArray, FloatArray]:
    """Attenuation coefficients of water (1/cm) and energy-fluence shares of the spectrum."""
    from rtplan.dose._physics import mu_rho_water_without_coherent

    return mu_rho_water_without_coherent(machine.energy_mev), machine.energy_fluence_share


def released_energy(
    beam: Beam, setup: DoseSetup, machine: BeamModel, primary_share: FloatArray
) -> tuple[BeamFrame, FloatArray, FloatArray]:
    """The beam's frame and the energy it releases in every voxel, split for the kernels.

    Parameters
    ----------
    beam : Beam
    setup : DoseSetup
    machine : BeamModel
    primary_share : numpy.ndarray, shape (n_e,)
        ``E_tr / E`` of each spectrum bin (ones: everything drives the whole kernel).

    Returns
    -------
    frame : BeamFrame
        The beam in the dose grid's frame.
    primary, scatter : numpy.ndarray, shape setup.grid.shape
        Primary energy released and the rest of TERMA (exact ray sums from the source).
    """
    from rtplan.dose._fluence import beam_fluence
    from rtplan.dose._terma_kernels import beam_geometry, terma

    bf = setup.beam_frame(beam)
    eta = np.ascontiguousarray(setup.electron_density)
    fmap = beam_fluence(beam, machine)
    depth, xi, yi, zz = beam_geometry(
        eta, setup.spacing_ijk_mm, bf.source, bf.axis, bf.ex, bf.ey, bf.sad_mm, setup.body
    )
    mu, share = machine_spectrum(machine)
    primary, scatter = terma(
        depth, xi, yi, zz, bf.sad_mm, fmap.values, fmap.x0_mm, fmap.y0_mm, fmap.spacing_mm,
        fmap.background, mu, share, primary_share,
    )  # fmt: skip
    return bf, primary, scatter


_TILT_POINTS = 1025
"""Cosines at which each direction's tilt factor is tabulated (evenly spaced, -1 to 1)."""


def _tilt(
    kernel: ConeKernel,
    n_azimuth: int,
    directions: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    spacing: FloatArray,
    shape: tuple[int, ...],
) -> tuple[Tilt, FloatArray]:
    """The kernel tilted along each voxel's ray: the transport's tables and the TERMA scale.

    A kernel aligned with a voxel's own ray instead of the central axis sends, along a
    fixed transport direction ``u``, the energy of its cone at the angle between ``u`` and
    that ray. The factor is the kernel's energy per solid angle there (the cones'
    ``fraction / omega``, interpolated log-linearly between their axes) over its value at
    the direction's own cone. Summed over the directions these factors do not add up to
    one exactly (the directions are discrete): each voxel's TERMA is divided by that sum,
    a function of the angle between its ray and the central axis, so that it releases
    the same energy tilted or not.

    Returns
    -------
    tilt : Tilt
        For :func:`transport_all`.
    released : numpy.ndarray, shape ``shape``
        The factor of each voxel's TERMA.
    """
    edges = np.radians(kernel.zenith_edges_deg)
    omega = 2.0 * np.pi * (np.cos(edges[:-1]) - np.cos(edges[1:]))
    axes = np.radians(kernel.zenith_axis_deg)
    log_density = np.log(np.maximum(kernel.fraction, 1e-300) / omega)
    cone = np.repeat(np.arange(axes.size), n_azimuth)
    cosines = np.linspace(-1.0, 1.0, _TILT_POINTS)
    at = np.interp(np.arccos(cosines), axes, log_density)
    tables = np.exp(at[np.newaxis, :] - log_density[cone][:, np.newaxis])
    # each voxel's ray from the source (grid frame), and its angle with the central axis
    nk, nj, ni = shape
    x = np.arange(ni) * spacing[0] - source[0]
    y = np.arange(nj) * spacing[1] - source[1]
    z = np.arange(nk) * spacing[2] - source[2]
    dist2 = z[:, None, None] ** 2 + y[None, :, None] ** 2 + x[None, None, :] ** 2
    inv_distance = 1.0 / np.sqrt(dist2)
    cos_axis = (
        z[:, None, None] * axis[2] + y[None, :, None] * axis[1] + x[None, None, :] * axis[0]
    ) * inv_distance
    # the sum of the factors over the directions, for rays at angle alpha from the axis
    # (the mean over 8 azimuths of the ray), tabulated and interpolated
    weights = kernel.fraction[cone] / n_azimuth
    perp = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    perp /= np.linalg.norm(perp)
    perp2 = np.cross(axis, perp)
    alpha = np.linspace(0.0, float(np.arccos(np.clip(cos_axis.min(), -1.0, 1.0))) + 1e-6, 65)
    total = np.zeros_like(alpha)
    for phi in np.arange(8) * (np.pi / 4.0):
        rays = (np.cos(alpha)[:, None] * axis
                + np.sin(alpha)[:, None] * (np.cos(phi) * perp + np.sin(phi) * perp2))  # fmt: skip
        c = np.clip(rays @ directions.T, -1.0, 1.0)  # (n_alpha, n_dir)
        factor = np.exp(np.interp(np.arccos(c), axes, log_density) - log_density[cone])
        total += factor @ weights / 8.0
    norm = kernel.fraction.sum() / total
    released = np.interp(np.arccos(np.clip(cos_axis, -1.0, 1.0)), alpha, norm)
    return Tilt(
        inv_distance=inv_distance, source_mm=np.asarray(source, float), tables=tables
    ), released
