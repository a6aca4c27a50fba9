"""Ray geometry of a beam over the dose grid, and the TERMA it releases.

For every voxel centre ``p`` the divergent ray from the source ``s`` gives

* the radiological depth ``d = sum(l_i eta_i)`` along ``s -> p`` (Siddon, :mod:`._siddon_kernels`),
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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.dose._terma_kernels import interpolate_fan, trace_fan

__all__ = ["FanTable", "fan_radiological_depth", "fan_table"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class FanTable:
    """Cumulative radiological paths along a fan of rays (see :func:`fan_table`).

    Attributes
    ----------
    table : numpy.ndarray, shape (ny, nx, nz)
        Radiological path (cm of water) from the source to sample ``iz`` of the ray through
        isocentre-plane point ``(x0 + ix pitch, y0 + iy pitch)``; sample ``iz`` lies at
        axial distance ``z0 + iz hz``. NaN where the sample lies outside the grid (there
        the voxels get their own exact ray).
    x0_mm, y0_mm, z0_mm, pitch_mm, hz_mm : float
        Lattice origin and steps.
    """

    table: FloatArray
    x0_mm: float
    y0_mm: float
    z0_mm: float
    pitch_mm: float
    hz_mm: float


def fan_table(
    eta: FloatArray,
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    ranges: FloatArray,
) -> FanTable:
    """Trace the fan of rays covering the voxels whose projections span ``ranges``.

    Parameters
    ----------
    eta : numpy.ndarray, shape (nk, nj, ni)
        Relative electron density.
    spacing, source, axis, ex, ey : numpy.ndarray, shape (3,)
        As for :func:`beam_geometry`.
    sad_mm : float
        Source-axis distance.
    ranges : numpy.ndarray, shape (7,)
        From :func:`projection_ranges` (``n`` must be positive).

    Returns
    -------
    FanTable
    """
    h = float(min(spacing))
    _, x_lo, x_hi, y_lo, y_hi, z_lo, z_hi = (float(v) for v in ranges)
    # lattice pitch: one voxel at the farthest voxel from the source, finer nearer to it
    pitch = h * sad_mm / z_hi
    xs = np.arange(x_lo - pitch, x_hi + 2.0 * pitch, pitch)
    ys = np.arange(y_lo - pitch, y_hi + 2.0 * pitch, pitch)
    hz = h
    zs = np.arange(z_lo - hz, z_hi + 2.0 * hz, hz)
    table, inside = trace_fan(eta, spacing, source, axis, ex, ey, sad_mm, xs, ys, zs)
    table[~inside] = np.nan
    return FanTable(
        table=table, x0_mm=float(xs[0]), y0_mm=float(ys[0]),
        z0_mm=float(zs[0]), pitch_mm=pitch, hz_mm=hz,
    )  # fmt: skip


def fan_radiological_depth(
    eta: FloatArray,
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    x_iso_mm: FloatArray,
    y_iso_mm: FloatArray,
    z_mm: FloatArray,
) -> FloatArray:
    """Radiological depths from a fan of exactly traced rays, interpolated to the voxels.

    Rays from the source through a lattice of isocentre-plane points (pitch: the voxel
    size) are traced exactly (Siddon) once, with the cumulative radiological path recorded
    every voxel size along the axis (:func:`fan_table`, one traversal per ray); each
    voxel's depth is interpolated trilinearly in that table; voxels next to a ray sample
    that lies outside the grid (at the grid's faces) get their own exact ray instead. This
    costs one ray per beam's-eye-view pixel instead of one per voxel; the interpolation
    smooths density edges over about one voxel (used by the pencil-beam engine; TERMA for
    the collapsed cone uses one exact ray per voxel).

    Parameters
    ----------
    eta : numpy.ndarray, shape (nk, nj, ni)
        Relative electron density.
    spacing, source, axis, ex, ey : numpy.ndarray, shape (3,)
        As for :func:`beam_geometry`.
    sad_mm : float
        Source-axis distance.
    x_iso_mm, y_iso_mm, z_mm : numpy.ndarray, shape (nk, nj, ni)
        From :func:`beam_projection` (``z_mm == 0`` marks voxels not computed).

    Returns
    -------
    numpy.ndarray, shape (nk, nj, ni)
        Radiological depth, cm of water.
    """
    used = z_mm > 0
    if not np.any(used):
        return np.zeros_like(z_mm)
    ranges = np.array(
        [float(np.count_nonzero(used)), x_iso_mm[used].min(), x_iso_mm[used].max(),
         y_iso_mm[used].min(), y_iso_mm[used].max(), z_mm[used].min(), z_mm[used].max()]
    )  # fmt: skip
    fan = fan_table(eta, spacing, source, axis, ex, ey, sad_mm, ranges)
    depth = interpolate_fan(
        fan.table, eta, spacing, source, fan.x0_mm, fan.y0_mm, fan.z0_mm,
        fan.pitch_mm, fan.hz_mm, x_iso_mm, y_iso_mm, z_mm,
    )  # fmt: skip
    return np.asarray(depth)
