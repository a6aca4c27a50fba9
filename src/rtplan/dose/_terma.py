"""Ray geometry of a beam over the dose grid, and the TERMA it releases.

For every voxel centre ``p`` the divergent ray from the source ``s`` gives

* the radiological depth ``d = sum(l_i eta_i)`` along ``s -> p`` (Siddon, :mod:`._siddon`),
  with ``eta`` the electron density relative to water;
* the projection of ``p`` on the isocentre plane, ``(x_b, y_b) = SAD (p - s).e / z``, where
  ``z = (p - s).w`` is the distance along the central axis ``w``;
* the TERMA (total energy released per unit mass) of a water-equivalent medium,

  ``T(p) = F(x_b, y_b) (SAD / z)^2 sum_E psi_E mu_E exp(-mu_E d)``

  where ``F`` is the relative fluence map (:mod:`._fluence`), ``psi_E`` the energy-fluence
  share of spectrum bin ``E`` and ``mu_E`` the attenuation coefficient of water without
  coherent scattering. Beam hardening with depth is thereby exact; the attenuation of
  other media is scaled by their electron density (Compton dominance at MV energies).

``T`` is in MeV/g per MeV/cm² of open-field energy fluence at the isocentre plane.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan.dose._fluence import sample_fluence
from rtplan.dose._jit import njit, prange
from rtplan.dose._siddon import ray_sum

__all__ = ["beam_geometry", "terma"]

FloatArray = npt.NDArray[np.float64]


@njit(parallel=True)
def beam_geometry(
    eta: FloatArray,
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    mask: npt.NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Radiological depth, isocentre-plane projection and axial distance of every voxel.

    Parameters
    ----------
    eta : numpy.ndarray, shape (nk, nj, ni)
        Relative electron density.
    spacing : numpy.ndarray, shape (3,)
        ``(di, dj, dk)``, mm.
    source, axis, ex, ey : numpy.ndarray, shape (3,)
        Source position (mm) and the unit vectors of the central axis (source to
        isocentre) and of ``x_b`` and ``y_b``, all in the grid frame.
    sad_mm : float
        Source-axis distance.
    mask : numpy.ndarray of bool, shape (nk, nj, ni)
        Voxels to compute (others get zeros).

    Returns
    -------
    depth_cm, x_iso_mm, y_iso_mm, z_mm : numpy.ndarray, shape (nk, nj, ni)
        Radiological depth (cm of water), projection on the isocentre plane (mm) and
        distance from the source along the central axis (mm).
    """
    nk, nj, ni = eta.shape
    depth = np.zeros((nk, nj, ni))
    xi = np.zeros((nk, nj, ni))
    yi = np.zeros((nk, nj, ni))
    zz = np.zeros((nk, nj, ni))
    for k in prange(nk):
        for j in range(nj):
            for i in range(ni):
                if not mask[k, j, i]:
                    continue
                px = i * spacing[0]
                py = j * spacing[1]
                pz = k * spacing[2]
                dx = px - source[0]
                dy = py - source[1]
                dz = pz - source[2]
                z = dx * axis[0] + dy * axis[1] + dz * axis[2]
                if z <= 1.0:
                    continue
                zz[k, j, i] = z
                xi[k, j, i] = (dx * ex[0] + dy * ex[1] + dz * ex[2]) * sad_mm / z
                yi[k, j, i] = (dx * ey[0] + dy * ey[1] + dz * ey[2]) * sad_mm / z
                depth[k, j, i] = (
                    ray_sum(eta, spacing, source[0], source[1], source[2], px, py, pz) / 10.0
                )
    return depth, xi, yi, zz


@njit(parallel=True)
def terma(
    depth_cm: FloatArray,
    x_iso_mm: FloatArray,
    y_iso_mm: FloatArray,
    z_mm: FloatArray,
    sad_mm: float,
    fluence: FloatArray,
    fx0: float,
    fy0: float,
    fh: float,
    fbg: float,
    mu_per_cm: FloatArray,
    share: FloatArray,
) -> FloatArray:
    """Water-equivalent TERMA of a polyenergetic beam on every voxel.

    Parameters
    ----------
    depth_cm, x_iso_mm, y_iso_mm, z_mm : numpy.ndarray, shape (nk, nj, ni)
        From :func:`beam_geometry` (``z_mm == 0`` marks voxels not computed).
    sad_mm : float
        Source-axis distance.
    fluence : numpy.ndarray, shape (ny, nx)
        Relative fluence map; ``fx0, fy0, fh, fbg`` its origin, pixel size and background.
    mu_per_cm : numpy.ndarray, shape (n_e,)
        Linear attenuation coefficients of water at the spectrum energies, 1/cm.
    share : numpy.ndarray, shape (n_e,)
        Energy-fluence share of each spectrum bin.

    Returns
    -------
    numpy.ndarray, shape (nk, nj, ni)
        TERMA, MeV/g per MeV/cm².
    """
    nk, nj, ni = depth_cm.shape
    out = np.zeros((nk, nj, ni))
    ne = mu_per_cm.size
    for k in prange(nk):
        for j in range(nj):
            for i in range(ni):
                z = z_mm[k, j, i]
                if z <= 0.0:
                    continue
                f = sample_fluence(fluence, fx0, fy0, fh, fbg, x_iso_mm[k, j, i], y_iso_mm[k, j, i])
                if f <= 0.0:
                    continue
                d = depth_cm[k, j, i]
                acc = 0.0
                for e in range(ne):
                    acc += share[e] * mu_per_cm[e] * math.exp(-mu_per_cm[e] * d)
                r = sad_mm / z
                out[k, j, i] = f * r * r * acc
    return out
