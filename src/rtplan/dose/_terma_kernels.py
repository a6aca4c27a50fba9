"""Compiled kernels of the beam geometry and TERMA (numba): see :mod:`rtplan.dose._terma`.

Coordinates are the dose grid's own frame in mm: voxel ``(i, j, k)`` has its centre at
``(i di, j dj, k dk)``; arrays are indexed ``[k, j, i]``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange
from rtplan._kernels import trilinear
from rtplan.dose._siddon_kernels import ray_cumulative, ray_sum

__all__ = [
    "beam_geometry",
    "beam_projection",
    "fan_depth_at",
    "interpolate_fan",
    "projection_ranges",
    "sample_fluence",
    "terma",
    "trace_fan",
    "upstream_density",
    "voxel_projection",
]

FloatArray = npt.NDArray[np.float64]


@njit()
def sample_fluence(
    values: FloatArray, x0: float, y0: float, h: float, background: float, x: float, y: float
) -> float:
    """Bilinear value of a fluence map at ``(x, y)`` (``background`` outside)."""
    fx = (x - x0) / h
    fy = (y - y0) / h
    ny, nx = values.shape
    if fx < 0.0 or fy < 0.0 or fx > nx - 1 or fy > ny - 1:
        return background
    ix = min(int(fx), nx - 2)
    iy = min(int(fy), ny - 2)
    tx = fx - ix
    ty = fy - iy
    return float(
        (1.0 - ty) * ((1.0 - tx) * values[iy, ix] + tx * values[iy, ix + 1])
        + ty * ((1.0 - tx) * values[iy + 1, ix] + tx * values[iy + 1, ix + 1])
    )


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


@njit(inline=True)
def _project(
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    mask: npt.NDArray[np.bool_],
    i: int,
    j: int,
    k: int,
    xi: FloatArray,
    yi: FloatArray,
    zz: FloatArray,
) -> bool:  # pragma: no cover - compiled
    """Store the projection of voxel ``(i, j, k)`` of ``mask`` in front of the source.

    Returns whether it was stored (the voxel is in ``mask`` and more than 1 mm in front of
    the source along the axis); the arrays are left as they are otherwise.
    """
    if not mask[k, j, i]:
        return False
    x, y, z = voxel_projection(spacing, source, axis, ex, ey, sad_mm, i, j, k)
    if z <= 1.0:
        return False
    zz[k, j, i] = z
    xi[k, j, i] = x
    yi[k, j, i] = y
    return True


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
                if not _project(spacing, source, axis, ex, ey, sad_mm, mask, i, j, k, xi, yi, zz):
                    continue
                depth[k, j, i] = (
                    ray_sum(
                        eta, spacing, source[0], source[1], source[2],
                        i * spacing[0], j * spacing[1], k * spacing[2],
                    )
                    / 10.0
                )  # fmt: skip
    return depth, xi, yi, zz


_TERMA_STEP_CM = 0.005
"""Depth step of the released-energy table of :func:`terma`, cm of water."""


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
    primary_share: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Water-equivalent TERMA of a polyenergetic beam on every voxel, split for the kernels.

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
    primary_share : numpy.ndarray, shape (n_e,)
        Share of the energy released at each spectrum energy that the charged particles
        of the first interaction receive (``E_tr / E``).

    Returns
    -------
    primary, scatter : numpy.ndarray, shape (nk, nj, ni)
        The primary energy released, ``sum_E psi_E mu_E (E_tr / E) exp(-mu_E d)`` (kerma,
        radiative losses included), and the rest of TERMA (released to scattered
        photons), MeV/g per MeV/cm²; their sum is the TERMA.
    """
    nk, nj, ni = depth_cm.shape
    primary = np.zeros((nk, nj, ni))
    scatter = np.zeros((nk, nj, ni))
    # the released energy as a function of radiological depth alone, tabulated every
    # 0.005 cm and interpolated linearly (relative error below (mu h)^2 / 8 < 1e-7 for
    # mu < 0.5 / cm), instead of one exponential per spectrum bin and voxel
    ne = mu_per_cm.size
    n_tab = int(max(np.max(depth_cm), 0.0) / _TERMA_STEP_CM) + 2
    released_tab = np.zeros(n_tab)
    primary_tab = np.zeros(n_tab)
    for t in prange(n_tab):
        d = t * _TERMA_STEP_CM
        for e in range(ne):
            released = share[e] * mu_per_cm[e] * math.exp(-mu_per_cm[e] * d)
            released_tab[t] += released
            primary_tab[t] += released * primary_share[e]
    for k in prange(nk):
        for j in range(nj):
            for i in range(ni):
                z = z_mm[k, j, i]
                if z <= 0.0:
                    continue
                f = sample_fluence(fluence, fx0, fy0, fh, fbg, x_iso_mm[k, j, i], y_iso_mm[k, j, i])
                if f <= 0.0:
                    continue
                u = depth_cm[k, j, i] / _TERMA_STEP_CM
                t = min(int(u), n_tab - 2)
                w1 = u - t
                acc = released_tab[t] + w1 * (released_tab[t + 1] - released_tab[t])
                acc_primary = primary_tab[t] + w1 * (primary_tab[t + 1] - primary_tab[t])
                r = sad_mm / z
                w = f * r * r
                primary[k, j, i] = w * acc_primary
                scatter[k, j, i] = w * (acc - acc_primary)
    return primary, scatter


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
                _project(spacing, source, axis, ex, ey, sad_mm, mask, i, j, k, xi, yi, zz)
    return xi, yi, zz


@njit(parallel=True)
def trace_fan(
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
    # table axes (y, x, z) play the volume axes (k, j, i); beyond the outer samples the
    # edge value; NaN when one of the 8 samples is NaN
    v = trilinear(table, (z - z0) / hz, (x_iso - x0) / h, (y_iso - y0) / h)
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
def interpolate_fan(
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


@njit(parallel=True)
def upstream_density(
    table: FloatArray,
    eta: FloatArray,
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    x0: float,
    y0: float,
    z0: float,
    h: float,
    hz: float,
    mask: npt.NDArray[np.bool_],
    length_cm: float,
) -> FloatArray:
    """Mean relative electron density over the last ``length_cm`` of each voxel's ray.

    For every voxel of ``mask``, the ray from the source is followed back (in steps of
    ``hz`` along the axis, through the fan table of :func:`trace_fan`, as
    :func:`fan_depth_at` reads it) until ``length_cm`` of radiological path is gathered, or
    the path ends (at the patient's skin or the grid's face); the result is that
    radiological path over its geometric length. Water gives 1 everywhere, also at the
    skin; a voxel 1 cm behind the start of a lung of density 0.26 still sees mostly the
    water above it.

    Parameters
    ----------
    table, x0, y0, z0, h, hz
        The fan table and its lattice (:class:`rtplan.dose._terma.FanTable`).
    eta, spacing, source, axis, ex, ey, sad_mm, mask
        As for :func:`beam_geometry`.
    length_cm : float
        Radiological length gathered, cm of water.

    Returns
    -------
    numpy.ndarray, shape mask.shape
        Density relative to water (1 outside ``mask`` and where no path precedes the voxel).
    """
    nk, nj, ni = mask.shape
    out = np.ones((nk, nj, ni))
    for k in prange(nk):
        for j in range(nj):
            for i in range(ni):
                if not mask[k, j, i]:
                    continue
                x_iso, y_iso, z = voxel_projection(spacing, source, axis, ex, ey, sad_mm, i, j, k)
                if z <= 1.0:
                    continue
                d = fan_depth_at(
                    table, eta, spacing, source, x0, y0, z0, h, hz, x_iso, y_iso, z, i, j, k
                )
                # path length per mm along the axis (the ray's obliquity)
                sec = math.sqrt(1.0 + (x_iso * x_iso + y_iso * y_iso) / (sad_mm * sad_mm))
                prev_d = d
                prev_z = z
                gathered = -1.0
                zz = z
                while zz - hz > z0:
                    zz -= hz
                    v = trilinear(table, (zz - z0) / hz, (x_iso - x0) / h, (y_iso - y0) / h)
                    if v != v or v <= 0.02:  # outside the grid, or before the skin
                        break
                    if d - v >= length_cm:  # the length is reached between zz and prev_z
                        f = (length_cm - (d - prev_d)) / max(prev_d - v, 1e-12)
                        gathered = length_cm / ((z - (prev_z - f * hz)) * sec / 10.0)
                        break
                    prev_d = v
                    prev_z = zz
                if gathered < 0.0:  # the whole path before the voxel, when it has one
                    geo = (z - prev_z) * sec / 10.0
                    gathered = (d - prev_d) / geo if geo > 1e-9 else 1.0
                out[k, j, i] = gathered
    return out
