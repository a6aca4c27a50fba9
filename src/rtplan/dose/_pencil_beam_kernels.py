"""Compiled kernel of the pencil-beam superposition (numba): see :mod:`rtplan.dose._pencil_beam`."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange
from rtplan.dose._terma_kernels import fan_depth_at, voxel_projection

__all__ = ["superpose"]

FloatArray = npt.NDArray[np.float64]


@njit(parallel=True)
def superpose(
    conv: npt.NDArray[np.float32],
    planes_mm: FloatArray,
    x0: float,
    y0: float,
    h: float,
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
    and the depth-weighted component convolutions summed there. ``conv[iy, ix, p, c]``
    holds component ``c`` convolved with the fluence on plane ``p`` (pixel ``(ix, iy)``
    centred at ``(x0 + ix h, y0 + iy h)`` on the isocentre plane): the planes and
    components of a pixel are contiguous, so a voxel reads four short runs of memory
    (bilinear in the plane, linear between the planes).
    """
    nk, nj, ni = mask.shape
    ny, nx, n_planes, n_comp = conv.shape
    nd = depth_table_cm.size
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
                # depth weights (linear in the table, exponential beyond it)
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
                # bilinear position in the convolution planes (clamped to their edges)
                fx = min(max((x_iso - x0) / h, 0.0), nx - 1.000001)
                fy = min(max((y_iso - y0) / h, 0.0), ny - 1.000001)
                ix = int(fx)
                iy = int(fy)
                tx = fx - ix
                ty = fy - iy
                acc = 0.0
                for oy in range(2):
                    wy = ty if oy else 1.0 - ty
                    for ox in range(2):
                        wxy = wy * (tx if ox else 1.0 - tx)
                        px = conv[iy + oy, ix + ox]
                        part = 0.0
                        for c in range(n_comp):
                            part += w[c] * (px[p0, c] * (1.0 - fz) + px[p1, c] * fz)
                        acc += wxy * part
                r = sad_mm / z
                out[k, j, i] = acc * r * r
    return out
