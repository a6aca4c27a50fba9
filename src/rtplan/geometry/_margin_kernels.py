"""Compiled kernel of the per-direction margins: a truncated min-plus pass along one axis.

Used by :mod:`rtplan.geometry._margins` for margins that differ in opposite directions
(the squared scaled distance is separable, Saito & Toriwaki 1994: one pass per axis).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit

__all__ = ["pass3d"]

FloatArray = npt.NDArray[np.float64]


@njit()
def pass3d(f: FloatArray, axis: int, c: float, w_lo: int, w_hi: int) -> FloatArray:
    """One truncated min-plus pass along an axis of a 3D array.

    ``g[p] = min over t in [-w_hi, w_lo] of f[p + t e_axis] + c t²``: the source
    ``x = p + t`` may lie up to ``w_lo`` voxels above ``p`` (displacement ``p - x``
    negative) or ``w_hi`` below (displacement positive). Inner loops run along the
    contiguous last axis.
    """
    nk, nj, ni = f.shape
    g = f.copy()
    if axis == 2:
        for k in range(nk):
            for j in range(nj):
                for p in range(ni):
                    best = g[k, j, p]
                    for t in range(1, w_hi + 1):  # sources below p
                        q = p - t
                        if q < 0:
                            break
                        v = f[k, j, q] + c * t * t
                        if v < best:
                            best = v
                    for t in range(1, w_lo + 1):  # sources above p
                        q = p + t
                        if q >= ni:
                            break
                        v = f[k, j, q] + c * t * t
                        if v < best:
                            best = v
                    g[k, j, p] = best
    elif axis == 1:
        for k in range(nk):
            for j in range(nj):
                for t in range(-w_lo, w_hi + 1):
                    q = j - t
                    if t == 0 or q < 0 or q >= nj:
                        continue
                    ct = c * t * t
                    for i in range(ni):
                        v = f[k, q, i] + ct
                        if v < g[k, j, i]:
                            g[k, j, i] = v
    else:
        for k in range(nk):
            for t in range(-w_lo, w_hi + 1):
                q = k - t
                if t == 0 or q < 0 or q >= nk:
                    continue
                ct = c * t * t
                for j in range(nj):
                    for i in range(ni):
                        v = f[q, j, i] + ct
                        if v < g[k, j, i]:
                            g[k, j, i] = v
    return g
