"""Compiled kernels of the exact Euclidean distance transform (Felzenszwalb & Huttenlocher).

P. F. Felzenszwalb and D. P. Huttenlocher, "Distance transforms of sampled functions",
Theory of Computing 8 (2012) 415-428: the squared distance to the nearest feature voxel
is computed one axis at a time as the lower envelope of parabolas, in time linear in the
number of voxels. The public entry point is :func:`rtplan.geometry.distance_map`.

The squared distance is summed in a fixed order, columns first, then rows, then slices
(``h0 dk² + (h1 dj² + h2 di²)``); the ball-row morphology of
:mod:`rtplan.geometry._ball` sums it in the same order, so both give the same voxels.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit

__all__ = ["squared_edt"]

FloatArray = npt.NDArray[np.float64]


@njit()
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


@njit()
def _lines(
    g: FloatArray,
    h2: float,
    buf: FloatArray,
    out: FloatArray,
    v: npt.NDArray[np.int64],
    z: FloatArray,
) -> None:
    """In-place 1D transform of every line of a 3D array (a view) along its last axis."""
    na, nb, n = g.shape
    for a in range(na):
        for b in range(nb):
            for p in range(n):
                buf[p] = g[a, b, p]
            _envelope(buf[:n], h2, out[:n], v, z)
            for p in range(n):
                g[a, b, p] = out[p]


@njit()
def squared_edt(g: FloatArray, h2: FloatArray) -> None:
    """In-place squared EDT of ``g`` (0 at features, inf elsewhere) along the three axes.

    Parameters
    ----------
    g : numpy.ndarray of float64, shape (nk, nj, ni)
        0 on the feature voxels, ``inf`` elsewhere; overwritten with the squared
        distance to the nearest feature voxel centre.
    h2 : numpy.ndarray of float64, shape (3,)
        Squared spacing ``(dk², dj², di²)``.
    """
    n = max(g.shape[0], g.shape[1], g.shape[2])
    buf = np.empty(n)
    out = np.empty(n)
    v = np.empty(n, dtype=np.int64)
    z = np.empty(n + 1)
    _lines(g, h2[2], buf, out, v, z)  # columns
    _lines(g.transpose((0, 2, 1)), h2[1], buf, out, v, z)  # rows, slice by slice
    _lines(g.transpose((1, 2, 0)), h2[0], buf, out, v, z)  # slices, row by row
