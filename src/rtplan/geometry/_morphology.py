"""Exact Euclidean morphology on boolean voxel arrays (radii in mm, anisotropic spacing).

A voxel is within distance ``r`` of a set when the Euclidean distance between voxel
centres, measured in mm with the grid spacing, is at most ``r``; dilation and erosion are
therefore those by the discrete ball ``{d : |d|_mm <= r}``. They are computed with an
exact Euclidean distance transform (separable, Felzenszwalb & Huttenlocher 2012; the same
values as :func:`scipy.ndimage.distance_transform_edt`) on the bounding box of the set,
never by repeated one-voxel dilation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError

__all__ = [
    "bounding_box",
    "close_mask",
    "dilate_mask",
    "erode_mask",
    "fill_holes_3d",
    "fill_holes_slicewise",
    "largest_component",
    "open_mask",
    "remove_small_components",
]

BoolArray = npt.NDArray[np.bool_]

#: Slack on distance comparisons, mm: keeps ties (a centre exactly at the margin) inside.
DIST_EPS_MM = 1e-6


def _spacing(spacing_mm: Sequence[float], ndim: int) -> npt.NDArray[np.float64]:
    sp = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (ndim,))
    if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise GeometryError(f"spacing_mm must be positive, got {spacing_mm!r}")
    return np.array(sp)


def bounding_box(mask: BoolArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]] | None:
    """Inclusive-lower, exclusive-upper index bounds of the True voxels (array axis order).

    Parameters
    ----------
    mask : numpy.ndarray of bool

    Returns
    -------
    tuple of two numpy.ndarray of int, shape (ndim,), or None
        ``None`` if the mask is empty.
    """
    lo = []
    hi = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        nz = np.flatnonzero(mask.any(axis=other))
        if nz.size == 0:
            return None
        lo.append(nz[0])
        hi.append(nz[-1] + 1)
    return np.asarray(lo, dtype=np.intp), np.asarray(hi, dtype=np.intp)


def _distance_outside(
    mask: BoolArray, sampling: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Distance (mm) of every voxel centre to the nearest True voxel centre (0 on the set)."""
    from rtplan.geometry._edt import distance_to

    return distance_to(mask, tuple(float(v) for v in sampling))


def dilate_mask(mask: npt.ArrayLike, radius_mm: float, spacing_mm: Sequence[float]) -> BoolArray:
    """Voxels within ``radius_mm`` of the set (exact Euclidean dilation).

    Parameters
    ----------
    mask : array_like of bool, shape (nk, nj, ni)
        The set, in ``(slice, row, column)`` order. The result is clipped to the array;
        pad the array first if the dilation must grow beyond it.
    radius_mm : float
        Dilation radius, mm, >= 0.
    spacing_mm : sequence of float
        Voxel spacing ``(dk, dj, di)``, mm.

    Returns
    -------
    numpy.ndarray of bool, same shape

    Raises
    ------
    GeometryError
        If the radius is negative or the spacing invalid.
    """
    m = np.asarray(mask, dtype=bool)
    sp = _spacing(spacing_mm, m.ndim)
    if radius_mm < 0 or not np.isfinite(radius_mm):
        raise GeometryError(f"radius_mm must be >= 0, got {radius_mm}")
    box = bounding_box(m)
    if radius_mm == 0 or box is None:
        return m.copy()
    w = np.ceil(radius_mm / sp).astype(np.intp)
    lo = np.maximum(box[0] - w, 0)
    hi = np.minimum(box[1] + w, np.asarray(m.shape))
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    out = np.zeros_like(m)
    out[sl] = _distance_outside(m[sl], sp) <= radius_mm + DIST_EPS_MM
    return out


def erode_mask(
    mask: npt.ArrayLike,
    radius_mm: float,
    spacing_mm: Sequence[float],
    *,
    outside_is_set: bool = False,
) -> BoolArray:
    """Voxels of the set farther than ``radius_mm`` from every voxel outside it.

    Parameters
    ----------
    mask : array_like of bool, shape (nk, nj, ni)
    radius_mm : float
        Erosion radius, mm, >= 0.
    spacing_mm : sequence of float
        ``(dk, dj, di)``, mm.
    outside_is_set : bool
        How to treat the space beyond the array: ``False`` (default) counts it as outside
        the set, so the set is eroded from the array edges too; ``True`` counts it as
        inside (use when the array is a crop of a larger set).

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    m = np.asarray(mask, dtype=bool)
    sp = _spacing(spacing_mm, m.ndim)
    if radius_mm < 0 or not np.isfinite(radius_mm):
        raise GeometryError(f"radius_mm must be >= 0, got {radius_mm}")
    box = bounding_box(m)
    if radius_mm == 0 or box is None:
        return m.copy()
    if outside_is_set:
        # beyond the array counts as the set: the EDT of the crop sees only the
        # complement voxels inside the array, which is what is wanted
        w = np.ceil(radius_mm / sp).astype(np.intp) + 1
        lo = np.maximum(box[0] - w, 0)
        hi = np.minimum(box[1] + w, np.asarray(m.shape))
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        sub = m[sl]
        out = np.zeros_like(m)
        if sub.all():
            out[sl] = True
            return out
        dist = _distance_outside(~sub, sp)
        out[sl] = dist > radius_mm + DIST_EPS_MM
        return out
    lo, hi = box
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    padded = np.pad(m[sl], 1, constant_values=False)
    dist = _distance_outside(~padded, sp)
    out = np.zeros_like(m)
    out[sl] = (dist > radius_mm + DIST_EPS_MM)[(slice(1, -1),) * m.ndim]
    return out


def open_mask(mask: npt.ArrayLike, radius_mm: float, spacing_mm: Sequence[float]) -> BoolArray:
    """Morphological opening by a ball: removes parts thinner than ``2 * radius_mm``.

    Parameters
    ----------
    mask : array_like of bool
    radius_mm : float
    spacing_mm : sequence of float

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    eroded = erode_mask(mask, radius_mm, spacing_mm)
    opened: BoolArray = dilate_mask(eroded, radius_mm, spacing_mm) & np.asarray(mask, dtype=bool)
    return opened


def close_mask(mask: npt.ArrayLike, radius_mm: float, spacing_mm: Sequence[float]) -> BoolArray:
    """Morphological closing by a ball: bridges gaps narrower than ``2 * radius_mm``.

    The array is padded internally, so the closing is not biased by the array edges.

    Parameters
    ----------
    mask : array_like of bool
    radius_mm : float
    spacing_mm : sequence of float

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    m = np.asarray(mask, dtype=bool)
    sp = _spacing(spacing_mm, m.ndim)
    w = np.ceil(radius_mm / sp).astype(np.intp) + 1
    widths = [(int(a), int(a)) for a in w]
    padded = np.pad(m, widths)
    sp_t = tuple(float(v) for v in sp)
    closed = erode_mask(dilate_mask(padded, radius_mm, sp_t), radius_mm, sp_t)
    inner = tuple(slice(int(a), int(a) + n) for a, n in zip(w, m.shape, strict=True))
    return np.asarray(closed[inner] | m, dtype=bool)


def largest_component(mask: npt.ArrayLike, *, connectivity: int = 1) -> BoolArray:
    """The largest connected component (face-connected by default).

    Parameters
    ----------
    mask : array_like of bool
    connectivity : int
        1 for face neighbours, ``ndim`` for all neighbours.

    Returns
    -------
    numpy.ndarray of bool, same shape (all False for an empty mask)
    """
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(m.ndim, connectivity)
    labels, n = ndimage.label(m, structure=structure)
    if n == 0:
        return np.zeros_like(m)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return np.asarray(labels == int(np.argmax(counts)), dtype=bool)


def remove_small_components(
    mask: npt.ArrayLike, min_voxels: int, *, connectivity: int = 1
) -> BoolArray:
    """Drop connected components with fewer than ``min_voxels`` voxels.

    Parameters
    ----------
    mask : array_like of bool
    min_voxels : int
    connectivity : int

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    if min_voxels <= 1:
        return m.copy()
    structure = ndimage.generate_binary_structure(m.ndim, connectivity)
    labels, n = ndimage.label(m, structure=structure)
    if n == 0:
        return m.copy()
    counts = np.bincount(labels.ravel())
    keep = counts >= min_voxels
    keep[0] = False
    return np.asarray(keep[labels], dtype=bool)


def fill_holes_slicewise(mask: npt.ArrayLike, axis: int = 0) -> BoolArray:
    """Fill the holes of every 2D slice along ``axis`` (regions not connected to the edge).

    Parameters
    ----------
    mask : array_like of bool, 3D
    axis : int
        Slicing axis (0 = the grid's slices).

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    from scipy import ndimage

    m = np.moveaxis(np.asarray(mask, dtype=bool), axis, 0)
    out = np.empty_like(m)
    for k in range(m.shape[0]):
        out[k] = ndimage.binary_fill_holes(m[k]) if m[k].any() else m[k]
    return np.ascontiguousarray(np.moveaxis(out, 0, axis))


def fill_holes_3d(mask: npt.ArrayLike) -> BoolArray:
    """Fill the 3D cavities of a mask (background not face-connected to the array edge).

    Parameters
    ----------
    mask : array_like of bool

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    from scipy import ndimage

    filled: BoolArray = np.asarray(
        ndimage.binary_fill_holes(np.asarray(mask, dtype=bool)), dtype=bool
    )
    return filled
