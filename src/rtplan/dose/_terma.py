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
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.dose._fluence import sample_fluence
from rtplan.dose._jit import njit, prange
from rtplan.dose._siddon import ray_cumulative, ray_sum

__all__ = [
    "FanTable",
    "beam_geometry",
    "beam_projection",
    "fan_depth_at",
    "fan_radiological_depth",
    "fan_table",
    "projection_ranges",
    "terma",
    "voxel_projection",
]

FloatArray = npt.NDArray[np.float64]


@njit()
def voxel_projection(
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    i: int,
    j: int,
    k: int,
) -> tuple[float, float, float]:
    """Isocentre-plane projection and axial distance of voxel ``(i, j, k)``.

    Parameters
    ----------
    spacing, source, axis, ex, ey, sad_mm
        As for :func:`beam_geometry`.
    i, j, k : int
        Voxel index.

    Returns
    -------
    x_iso_mm, y_iso_mm, z_mm : float
        ``z_mm`` is the distance from the source along the central axis; when it is at
        most 1 mm (the voxel is not in front of the source) the projection is ``(0, 0)``.
    """
    dx = i * spacing[0] - source[0]
    dy = j * spacing[1] - source[1]
    dz = k * spacing[2] - source[2]
    z = dx * axis[0] + dy * axis[1] + dz * axis[2]
    if z <= 1.0:
        return 0.0, 0.0, z
    x = (dx * ex[0] + dy * ex[1] + dz * ex[2]) * sad_mm / z
    y = (dx * ey[0] + dy * ey[1] + dz * ey[2]) * sad_mm / z
    return x, y, z


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
                x, y, z = voxel_projection(spacing, source, axis, ex, ey, sad_mm, i, j, k)
                if z <= 1.0:
                    continue
                zz[k, j, i] = z
                xi[k, j, i] = x
                yi[k, j, i] = y
                depth[k, j, i] = (
                    ray_sum(
                        eta, spacing, source[0], source[1], source[2],
                        i * spacing[0], j * spacing[1], k * spacing[2],
                    )
                    / 10.0
                )  # fmt: skip
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


@njit(parallel=True)
def beam_projection(
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    mask: npt.NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Isocentre-plane projection and axial distance of every voxel (no ray tracing).

    Parameters
    ----------
    spacing, source, axis, ex, ey, sad_mm, mask
        As for :func:`beam_geometry`.

    Returns
    -------
    x_iso_mm, y_iso_mm, z_mm : numpy.ndarray, shape mask.shape
        Zero where ``mask`` is False or the voxel is not in front of the source.
    """
    nk, nj, ni = mask.shape
    xi = np.zeros((nk, nj, ni))
    yi = np.zeros((nk, nj, ni))
    zz = np.zeros((nk, nj, ni))
    for k in prange(nk):
        for j in range(nj):
            for i in range(ni):
                if not mask[k, j, i]:
                    continue
                x, y, z = voxel_projection(spacing, source, axis, ex, ey, sad_mm, i, j, k)
                if z <= 1.0:
                    continue
                zz[k, j, i] = z
                xi[k, j, i] = x
                yi[k, j, i] = y
    return xi, yi, zz


@njit(parallel=True)
def _fan_table(
    eta: FloatArray,
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    xs: FloatArray,
    ys: FloatArray,
    zs: FloatArray,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    nk, nj, ni = eta.shape
    table = np.zeros((ys.size, xs.size, zs.size))
    inside = np.zeros((ys.size, xs.size, zs.size), dtype=np.bool_)
    nz = zs.size
    for q in prange(ys.size * xs.size):
        iy = q // xs.size
        ix = q % xs.size
        # unit ray through (x, y) on the isocentre plane
        ux = sad_mm * axis[0] + xs[ix] * ex[0] + ys[iy] * ey[0]
        uy = sad_mm * axis[1] + xs[ix] * ex[1] + ys[iy] * ey[1]
        uz = sad_mm * axis[2] + xs[ix] * ex[2] + ys[iy] * ey[2]
        norm = math.sqrt(ux * ux + uy * uy + uz * uz)
        ux /= norm
        uy /= norm
        uz /= norm
        cos_t = ux * axis[0] + uy * axis[1] + uz * axis[2]
        # one traversal of the ray to its last sample, recording the path at every sample
        t_end = zs[nz - 1] / cos_t
        checkpoints = np.empty(nz)
        for iz in range(nz):
            checkpoints[iz] = zs[iz] / zs[nz - 1]
            t = zs[iz] / cos_t
            bx = source[0] + t * ux
            by = source[1] + t * uy
            bz = source[2] + t * uz
            inside[iy, ix, iz] = (
                -0.5 * spacing[0] <= bx <= (ni - 0.5) * spacing[0]
                and -0.5 * spacing[1] <= by <= (nj - 0.5) * spacing[1]
                and -0.5 * spacing[2] <= bz <= (nk - 0.5) * spacing[2]
            )
        path = np.empty(nz)
        ray_cumulative(
            eta, spacing, source[0], source[1], source[2],
            source[0] + t_end * ux, source[1] + t_end * uy, source[2] + t_end * uz,
            checkpoints, path,
        )  # fmt: skip
        for iz in range(nz):
            table[iy, ix, iz] = path[iz] / 10.0
    return table, inside


@njit()
def fan_depth_at(
    table: FloatArray,
    eta: FloatArray,
    spacing: FloatArray,
    source: FloatArray,
    x0: float,
    y0: float,
    z0: float,
    h: float,
    hz: float,
    x_iso: float,
    y_iso: float,
    z: float,
    i: int,
    j: int,
    k: int,
) -> float:
    """Radiological depth (cm) of voxel ``(i, j, k)`` from a fan table.

    Trilinear in ``table`` (:attr:`FanTable.table`, NaN at samples outside the grid) at the
    voxel's projection ``(x_iso, y_iso)`` and axial distance ``z``; when one of the eight
    samples lies outside the grid, the voxel's own exact ray instead (see
    :func:`fan_radiological_depth`).
    """
    ny, nx, nz = table.shape
    fx = min(max((x_iso - x0) / h, 0.0), nx - 1.000001)
    fy = min(max((y_iso - y0) / h, 0.0), ny - 1.000001)
    fz = min(max((z - z0) / hz, 0.0), nz - 1.000001)
    a = int(fx)
    b = int(fy)
    c = int(fz)
    tx = fx - a
    ty = fy - b
    tz = fz - c
    v = 0.0
    for db in range(2):
        wy = ty if db else 1.0 - ty
        for da in range(2):
            wx = tx if da else 1.0 - tx
            v += (
                wy
                * wx
                * (table[b + db, a + da, c] * (1.0 - tz) + table[b + db, a + da, c + 1] * tz)
            )
    if v != v:  # a sample outside the grid (NaN): trace this voxel's own ray
        return (
            ray_sum(
                eta, spacing, source[0], source[1], source[2],
                i * spacing[0], j * spacing[1], k * spacing[2],
            )
            / 10.0
        )  # fmt: skip
    return v


@njit(parallel=True)
def _interpolate_fan(
    table: FloatArray,
    eta: FloatArray,
    spacing: FloatArray,
    source: FloatArray,
    x0: float,
    y0: float,
    z0: float,
    h: float,
    hz: float,
    x_iso: FloatArray,
    y_iso: FloatArray,
    z_mm: FloatArray,
) -> FloatArray:
    nk, nj, ni = z_mm.shape
    out = np.zeros((nk, nj, ni))
    for k in prange(nk):
        for j in range(nj):
            for i in range(ni):
                z = z_mm[k, j, i]
                if z <= 0.0:
                    continue
                out[k, j, i] = fan_depth_at(
                    table, eta, spacing, source, x0, y0, z0, h, hz,
                    x_iso[k, j, i], y_iso[k, j, i], z, i, j, k,
                )  # fmt: skip
    return out


@njit()
def projection_ranges(
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    mask: npt.NDArray[np.bool_],
) -> FloatArray:
    """Extent of the voxels' projections, as :func:`beam_projection` would give them.

    Parameters
    ----------
    spacing, source, axis, ex, ey, sad_mm, mask
        As for :func:`beam_geometry`.

    Returns
    -------
    numpy.ndarray, shape (7,)
        ``(n, x_min, x_max, y_min, y_max, z_min, z_max)`` over the ``n`` voxels of
        ``mask`` in front of the source (mm; the extremes are 0 when ``n`` is 0).
    """
    nk, nj, ni = mask.shape
    out = np.zeros(7)
    n = 0
    for k in range(nk):
        for j in range(nj):
            for i in range(ni):
                if not mask[k, j, i]:
                    continue
                x, y, z = voxel_projection(spacing, source, axis, ex, ey, sad_mm, i, j, k)
                if z <= 1.0:
                    continue
                if n == 0:
                    out[1] = out[2] = x
                    out[3] = out[4] = y
                    out[5] = out[6] = z
                else:
                    out[1] = min(out[1], x)
                    out[2] = max(out[2], x)
                    out[3] = min(out[3], y)
                    out[4] = max(out[4], y)
                    out[5] = min(out[5], z)
                    out[6] = max(out[6], z)
                n += 1
    out[0] = n
    return out


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
    table, inside = _fan_table(eta, spacing, source, axis, ex, ey, sad_mm, xs, ys, zs)
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
    depth = _interpolate_fan(
        fan.table, eta, spacing, source, fan.x0_mm, fan.y0_mm, fan.z0_mm,
        fan.pitch_mm, fan.hz_mm, x_iso_mm, y_iso_mm, z_mm,
    )  # fmt: skip
    return np.asarray(depth)
