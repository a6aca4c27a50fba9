"""Exact Euclidean distance transform, separable (Felzenszwalb & Huttenlocher).

P. F. Felzenszwalb and D. P. Huttenlocher, "Distance transforms of sampled functions",
Theory of Computing 8 (2012) 415-428: the squared distance to the nearest feature voxel
is computed one axis at a time as the lower envelope of parabolas, in time linear in the
number of voxels. Same values as :func:`scipy.ndimage.distance_transform_edt` (tested),
without its feature-index arrays, so about three times faster and lighter on big boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["distance_to"]

FloatArray = npt.NDArray[np.float64]


@numba.njit(cache=True)
def _envelope(
    f: FloatArray, h2: float, out: FloatArray, v: npt.NDArray[np.int64], z: FloatArray
) -> None:
    """1D squared distance transform of ``f`` (``inf`` = no feature), sample spacing² h2."""
    n = f.shape[0]
    k = -1
    for q in range(n):
        fq = f[q]
        if fq == np.inf:
            continue
        s = 0.0
        while k >= 0:
            vk = v[k]
            s = ((fq + h2 * q * q) - (f[vk] + h2 * vk * vk)) / (2.0 * h2 * (q - vk))
            if s <= z[k]:
                k -= 1
            else:
                break
        if k < 0:
            k = 0
            v[0] = q
            z[0] = -np.inf
            z[1] = np.inf
        else:
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = np.inf
    if k < 0:
        for p in range(n):
            out[p] = np.inf
        return
    j = 0
    for p in range(n):
        while z[j + 1] < p:
            j += 1
        d = p - v[j]
        out[p] = h2 * d * d + f[v[j]]


@numba.njit(cache=True)
def _transform(g: FloatArray, h2: npt.NDArray[np.float64]) -> None:
    """In-place squared EDT of ``g`` (0 at features, inf elsewhere) along all three axes."""
    nk, nj, ni = g.shape
    n = max(nk, nj, ni)
    buf = np.empty(n)
    out = np.empty(n)
    v = np.empty(n, dtype=np.int64)
    z = np.empty(n + 1)
    for k in range(nk):  # axis 2 (columns)
        for j in range(nj):
            for i in range(ni):
                buf[i] = g[k, j, i]
            _envelope(buf[:ni], h2[2], out[:ni], v, z)
            for i in range(ni):
                g[k, j, i] = out[i]
    for k in range(nk):  # axis 1 (rows)
        for i in range(ni):
            for j in range(nj):
                buf[j] = g[k, j, i]
            _envelope(buf[:nj], h2[1], out[:nj], v, z)
            for j in range(nj):
                g[k, j, i] = out[j]
    for j in range(nj):  # axis 0 (slices)
        for i in range(ni):
            for k in range(nk):
                buf[k] = g[k, j, i]
            _envelope(buf[:nk], h2[0], out[:nk], v, z)
            for k in range(nk):
                g[k, j, i] = out[k]


def distance_to(features: npt.ArrayLike, spacing_mm: Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Distance (mm) from every voxel centre to the nearest feature voxel centre.

    Parameters
    ----------
    features : array_like of bool, shape (nk, nj, ni)
        The feature voxels (distance 0).
    spacing_mm : sequence of 3 float
        ``(dk, dj, di)``, mm.

    Returns
    -------
    numpy.ndarray of float64, same shape
        ``inf`` everywhere if there is no feature voxel.
    """
    m = np.asarray(features, dtype=bool)
    g = np.where(m, 0.0, np.inf)
    h2 = np.asarray(spacing_mm, dtype=np.float64) ** 2
    _transform(g, h2)
    np.sqrt(g, out=g)
    return g
