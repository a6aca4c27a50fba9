"""Compiled kernel of the pencil-beam superposition (numba): see :mod:`rtplan.dose._pencil_beam`."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange
from rtplan.dose._terma_kernels import fan_depth_at, voxel_projection

__all__ = ["superpose"]

FloatArray = npt.NDArray[np.float64]


@njit(inline=True)
def _depth_weights(
    d: float,
    depth_table_cm: FloatArray,
    weight_table: FloatArray,
    attenuation_per_cm: float,
    w: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Depth weights at radiological depth ``d`` (linear in the table, exponential beyond)."""
    nd = depth_table_cm.size
    n_comp = w.size
    if d <= depth_table_cm[0]:
        for c in range(n_comp):
            w[c] = weight_table[0, c]
    elif d >= depth_table_cm[nd - 1]:
        att = math.exp(-attenuation_per_cm * (d - depth_table_cm[nd - 1]))
        for c in range(n_comp):
            w[c] = weight_table[nd - 1, c] * att
    else:
        q = np.searchsorted(depth_table_cm, d) - 1
        f = (d - depth_table_cm[q]) / (depth_table_cm[q + 1] - depth_table_cm[q])
        for c in range(n_comp):
            w[c] = weight_table[q, c] * (1.0 - f) + weight_table[q + 1, c] * f


@njit(inline=True)
def _level_value(
    conv: npt.NDArray[np.float32],
    meta: FloatArray,
    level: int,
    n_planes: int,
    n_comp: int,
    p0: int,
    p1: int,
    fz: float,
    w: FloatArray,
    x_iso: float,
    y_iso: float,
) -> float:  # pragma: no cover - compiled
    """Depth-weighted sum of the components of one density level at an isocentre-plane point.

    Level ``level`` occupies ``conv[offset : offset + ny * nx * n_planes * n_comp]`` laid out
    as ``(ny, nx, n_planes, n_comp)``; ``meta[level] = (offset, ny, nx, x0, y0, h)``.
    Bilinear in the plane (clamped to the level's edges), linear between planes ``p0, p1``.
    """
    off = int(meta[level, 0])
    ny = int(meta[level, 1])
    nx = int(meta[level, 2])
    h = meta[level, 5]
    fx = min(max((x_iso - meta[level, 3]) / h, 0.0), nx - 1.000001)
    fy = min(max((y_iso - meta[level, 4]) / h, 0.0), ny - 1.000001)
    ix = int(fx)
    iy = int(fy)
    tx = fx - ix
    ty = fy - iy
    stride_x = n_planes * n_comp
    stride_y = nx * stride_x
    acc = 0.0
    for oy in range(2):
        wy = ty if oy else 1.0 - ty
        for ox in range(2):
            wxy = wy * (tx if ox else 1.0 - tx)
            base = off + (iy + oy) * stride_y + (ix + ox) * stride_x
            part = 0.0
            for c in range(n_comp):
                a = conv[base + p0 * n_comp + c]
                b = conv[base + p1 * n_comp + c]
                part += w[c] * (a * (1.0 - fz) + b * fz)
            acc += wxy * part
    return acc


@njit(inline=True)
def _family_value(
    conv: npt.NDArray[np.float32],
    meta: FloatArray,
    level_density: FloatArray,
    lo: int,
    hi: int,
    rho: float,
    n_planes: int,
    n_comp: int,
    p0: int,
    p1: int,
    fz: float,
    w: FloatArray,
    x_iso: float,
    y_iso: float,
) -> float:  # pragma: no cover - compiled
    """Value of a family of levels ``lo..hi-1`` at lateral density ``rho`` (linear between)."""
    lv = lo
    fl = 0.0
    if hi - lo > 1:
        if rho <= level_density[hi - 1]:
            lv = hi - 1
        else:
            while lv < hi - 1 and rho < level_density[lv + 1]:
                lv += 1
            if lv < hi - 1 and rho < level_density[lv]:
                fl = (level_density[lv] - rho) / (level_density[lv] - level_density[lv + 1])
    acc = _level_value(conv, meta, lv, n_planes, n_comp, p0, p1, fz, w, x_iso, y_iso)
    if fl > 0.0:
        other = _level_value(conv, meta, lv + 1, n_planes, n_comp, p0, p1, fz, w, x_iso, y_iso)
        acc = acc * (1.0 - fl) + other * fl
    return acc


@njit(parallel=True)
def superpose(
    conv: npt.NDArray[np.float32],
    meta: FloatArray,
    level_density: FloatArray,
    family_first: npt.NDArray[np.int64],
    lateral_density: FloatArray,
    n_comp: int,
    planes_mm: FloatArray,
    depth_table_cm: FloatArray,
    weight_table: FloatArray,
    attenuation_per_cm: float,
    fan: FloatArray,
    fan_origin: FloatArray,
    fan_steps: FloatArray,
    eta: FloatArray,
    spacing: FloatArray,
    source: FloatArray,
    axis: FloatArray,
    ex: FloatArray,
    ey: FloatArray,
    sad_mm: float,
    mask: npt.NDArray[np.bool_],
) -> FloatArray:
    """Dose of every voxel of ``mask``: projection, radiological depth, superposition.

    Each voxel is projected on the isocentre plane (:func:`._terma_kernels.voxel_projection`),
    its radiological depth interpolated in the fan table (:func:`._terma_kernels.fan_depth_at`),
    and the depth-weighted component convolutions summed there. The convolutions come in
    families (parts of the kernel, e.g. short and long range; family ``f`` holds levels
    ``family_first[f]`` to ``family_first[f + 1] - 1``), each family in density levels
    (``level_density``, decreasing from 1 within a family): a level holds its part
    laterally stretched by ``1 / level_density``, on its own pixels (``meta``, see
    :func:`_level_value`). A voxel takes, for each family, the linear interpolation between
    the two levels that bracket its lateral density ``lateral_density[f, k, j, i]`` (an
    array of shape ``(n_families, 1, 1, 1)`` serves when every family has one level).
    """
    nk, nj, ni = mask.shape
    n_planes = planes_mm.size
    n_fam = family_first.size - 1
    out = np.zeros((nk, nj, ni))
    for k in prange(nk):
        w = np.empty(n_comp)
        for j in range(nj):
            for i in range(ni):
                if not mask[k, j, i]:
                    continue
                x_iso, y_iso, z = voxel_projection(spacing, source, axis, ex, ey, sad_mm, i, j, k)
                if z <= 1.0:
                    continue
                d = fan_depth_at(
                    fan, eta, spacing, source, fan_origin[0], fan_origin[1],
                    fan_origin[2], fan_steps[0], fan_steps[1], x_iso, y_iso, z, i, j, k,
                )  # fmt: skip
                _depth_weights(d, depth_table_cm, weight_table, attenuation_per_cm, w)
                # planes bracketing z
                if z <= planes_mm[0]:
                    p0 = 0
                    fz = 0.0
                elif z >= planes_mm[n_planes - 1]:
                    p0 = n_planes - 2 if n_planes > 1 else 0
                    fz = 1.0 if n_planes > 1 else 0.0
                else:
                    p0 = int(np.searchsorted(planes_mm, z)) - 1
                    fz = (z - planes_mm[p0]) / (planes_mm[p0 + 1] - planes_mm[p0])
                p1 = min(p0 + 1, n_planes - 1)
                acc = 0.0
                for f in range(n_fam):
                    lo = family_first[f]
                    hi = family_first[f + 1]
                    rho = lateral_density[f, k, j, i] if hi - lo > 1 else 1.0
                    acc += _family_value(
                        conv, meta, level_density, lo, hi, rho, n_planes, n_comp,
                        p0, p1, fz, w, x_iso, y_iso,
                    )  # fmt: skip
                r = sad_mm / z
                out[k, j, i] = acc * r * r
    return out
