"""Compiled kernels shared across rtplan: trilinear sampling of a voxel volume.

A volume ``a`` has axes ``(k, j, i)`` (slice, row, column) and holds values at voxel
centres. A point is given by its *continuous index* ``(ci, cj, ck)``: ``ci = 2.5`` lies
halfway between the centres of columns 2 and 3. Between the outer voxel centres the value
is the trilinear interpolant of the 8 surrounding nodes; beyond them it is constant along
that axis (the edge value, as :meth:`rtplan.Image.sample` and
``scipy.ndimage.map_coordinates(order=1, mode="nearest")``), so its derivative along that
axis is zero there. An axis of one voxel is constant.

The interpolation is written in the form ``c0 + f (c1 - c0)`` along ``i``, then ``j``, then
``k``, in float64 whatever the volume's dtype; every caller (DVH, gamma, the needle search)
gets the same bits for the same point.

All functions are compiled with numba and inlined into their compiled callers (no call, no
reference counting of the array per sample); they are meant to be called from other
kernels, in loops over points. They do not check that the index is finite: a NaN index is
treated as lying below the first voxel centre.

Examples
--------
>>> import numpy as np
>>> from rtplan._kernels import trilinear, trilinear_cell, trilinear_gradient
>>> a = np.arange(24.0).reshape(2, 3, 4)  # a[k, j, i] = 12 k + 4 j + i
>>> float(trilinear(a, 1.5, 0.5, 0.25))
6.5
>>> [float(x) for x in trilinear_gradient(a, 1.5, 0.5, 0.25)]
[6.5, 1.0, 4.0, 12.0]
>>> float(trilinear(a, 9.0, -3.0, 0.0))  # beyond the outer centres: the edge value
3.0
>>> [float(x) for x in trilinear_cell(a, 1.5, 0.5, 0.25)[4:]]  # range of the cell's nodes
[1.0, 18.0]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit

__all__ = ["cell_axis", "trilinear", "trilinear_cell", "trilinear_gradient"]

#: A volume on voxel centres, axes (k, j, i); any real dtype.
Volume = npt.NDArray[np.floating]


@njit(inline=True)
def cell_axis(c: float, n: int) -> tuple[int, int, float, bool]:  # pragma: no cover - compiled
    """Interpolation nodes along one axis of ``n`` voxels at continuous index ``c``.

    Parameters
    ----------
    c : float
        Continuous index along the axis.
    n : int
        Number of voxels along the axis (at least 1).

    Returns
    -------
    lo, hi : int
        Lower and upper node (equal when ``n == 1``).
    frac : float
        Weight of ``hi``, in ``[0, 1]``: 0 below the first centre, 1 above the last.
    varies : bool
        True when ``c`` lies between the outer centres of an axis of several voxels (the
        interpolant varies along the axis there; elsewhere its derivative is zero).
    """
    if n == 1 or not c >= 0.0:
        return 0, min(1, n - 1), 0.0, False
    if c > n - 1:
        return n - 2, n - 1, 1.0, False
    lo = min(int(c), n - 2)
    return lo, lo + 1, c - lo, True


@njit(inline=True)
def trilinear(a: Volume, ci: float, cj: float, ck: float) -> float:  # pragma: no cover
    """Trilinear value of ``a`` at continuous index ``(ci, cj, ck)``.

    Parameters
    ----------
    a : numpy.ndarray, shape (nk, nj, ni)
        Values at voxel centres.
    ci, cj, ck : float
        Continuous index along columns, rows and slices.

    Returns
    -------
    float
        The interpolated value (the edge value beyond the outer centres).
    """
    value, _, _, _, _, _ = trilinear_cell(a, ci, cj, ck)
    return value


@njit(inline=True)
def trilinear_gradient(
    a: Volume, ci: float, cj: float, ck: float
) -> tuple[float, float, float, float]:  # pragma: no cover - compiled
    """Trilinear value of ``a`` and its gradient at continuous index ``(ci, cj, ck)``.

    The arguments are those of :func:`trilinear`.

    Returns
    -------
    value : float
        As :func:`trilinear`.
    di, dj, dk : float
        Derivatives per index step along columns, rows and slices (divide by the spacing
        for per-mm values); zero along an axis where the point lies beyond the outer
        centres. On a cell face the derivative is that of the cell above it.
    """
    value, di, dj, dk, _, _ = trilinear_cell(a, ci, cj, ck)
    return value, di, dj, dk


@njit(inline=True)
def trilinear_cell(
    a: Volume, ci: float, cj: float, ck: float
) -> tuple[float, float, float, float, float, float]:  # pragma: no cover - compiled
    """Value, gradient and value range of the trilinear cell at ``(ci, cj, ck)``.

    :func:`trilinear` and :func:`trilinear_gradient` return parts of this; what a caller
    leaves unused is not computed in its machine code. The arguments are those of
    :func:`trilinear`.

    Returns
    -------
    value, di, dj, dk : float
        As :func:`trilinear_gradient`.
    lowest, highest : float
        Lowest and highest of the 8 nodes of the cell: the interpolant of the cell never
        leaves this range.
    """
    nk, nj, ni = a.shape
    i0, i1, fi, vi = cell_axis(ci, ni)
    j0, j1, fj, vj = cell_axis(cj, nj)
    k0, k1, fk, vk = cell_axis(ck, nk)
    c000 = a[k0, j0, i0]
    c001 = a[k0, j0, i1]
    c010 = a[k0, j1, i0]
    c011 = a[k0, j1, i1]
    c100 = a[k1, j0, i0]
    c101 = a[k1, j0, i1]
    c110 = a[k1, j1, i0]
    c111 = a[k1, j1, i1]
    a00 = c000 + fi * (c001 - c000)
    a01 = c010 + fi * (c011 - c010)
    a10 = c100 + fi * (c101 - c100)
    a11 = c110 + fi * (c111 - c110)
    b0 = a00 + fj * (a01 - a00)
    b1 = a10 + fj * (a11 - a10)
    value = b0 + fk * (b1 - b0)
    dk = (b1 - b0) if vk else 0.0
    dj = ((1.0 - fk) * (a01 - a00) + fk * (a11 - a10)) if vj else 0.0
    if vi:
        di = (1.0 - fk) * ((1.0 - fj) * (c001 - c000) + fj * (c011 - c010)) + fk * (
            (1.0 - fj) * (c101 - c100) + fj * (c111 - c110)
        )
    else:
        di = 0.0
    lowest = min(min(min(c000, c001), min(c010, c011)), min(min(c100, c101), min(c110, c111)))
    highest = max(max(max(c000, c001), max(c010, c011)), max(max(c100, c101), max(c110, c111)))
    return (
        float(value), float(di), float(dj), float(dk), float(lowest), float(highest)
    )  # fmt: skip
