"""Exact, crop-aware building blocks of the automatic segmentation in :mod:`rtplan.tissue`.

The segmentation of :func:`rtplan.tissue.auto_structures` thresholds the CT once and then
works on masks that occupy a small part of the volume (the body about a quarter of a
clinical CT, the bones a few percent). Each step here runs on the bounding box of the
voxels it can change (a :class:`BoxMask`: a box of the CT grid and the mask inside it),
and gives the same voxels as the whole-volume operation it replaces:

* ball erosion and dilation (:func:`erode`, :func:`dilate`) decompose the Euclidean
  ball ``{d : |d|_mm <= r}`` of :mod:`rtplan.geometry._morphology` into rows along the
  column axis, ``(dk, dj)`` with half-width ``w``: the erosion is the intersection, over
  the rows, of the 1D erosion of the mask's rows by ``w`` shifted by ``(dk, dj)`` (the
  dilation the union): a whole-array boolean operation per row of the ball (13 rows for
  3 mm on a 0.98 x 0.98 x 2.5 mm grid) and two per column of its half-width, instead of
  a distance transform;
* hole filling (:func:`background_components`) labels the background once (scipy's
  ``label``) and keeps the components that touch the box faces, which is what
  ``binary_fill_holes`` computes by flooding from the array border (a background voxel
  on a face of the box is connected to the array border, through the background
  outside the box or directly); slice-by-slice filling is one labelling with an
  in-plane structuring element instead of a loop over slices;
* connected components are labelled once per mask, on its box
  (:func:`largest_component` and :func:`remove_small_components` are those of
  :mod:`rtplan.geometry._morphology`, re-exported here).

Lengths are in mm; arrays are ``(slice, row, column)`` = ``(k, j, i)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.geometry._morphology import (
    DIST_EPS_MM,
    bounding_box,
    largest_component,
    remove_small_components,
)

__all__ = [
    "BoxMask",
    "background_components",
    "ball_rows",
    "dilate",
    "erode",
    "fill_holes",
    "label_faces",
    "largest_component",
    "remove_small_components",
]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Index3 = tuple[int, int, int]


# --------------------------------------------------------------------------- boxes
@dataclass(frozen=True, slots=True)
class BoxMask:
    """A boolean mask held on a box of a larger grid (False everywhere outside it).

    Parameters
    ----------
    lo : tuple of 3 int
        Index ``(k, j, i)`` of the box's first voxel in the full grid.
    array : numpy.ndarray of bool, shape (nk, nj, ni)
        The mask inside the box (may have a zero-length axis for an empty mask).
    full_shape : tuple of 3 int
        Shape of the full grid.
    """

    lo: Index3
    array: BoolArray
    full_shape: Index3

    @classmethod
    def empty(cls, full_shape: Sequence[int]) -> BoxMask:
        """An empty mask on a grid of ``full_shape``."""
        shape = (int(full_shape[0]), int(full_shape[1]), int(full_shape[2]))
        return cls((0, 0, 0), np.zeros((0, 0, 0), dtype=bool), shape)

    @classmethod
    def from_full(cls, mask: npt.ArrayLike) -> BoxMask:
        """The bounding box of a whole-grid mask and the mask inside it."""
        m = np.asarray(mask, dtype=bool)
        shape = (int(m.shape[0]), int(m.shape[1]), int(m.shape[2]))
        return cls((0, 0, 0), m, shape).shrink()

    @property
    def hi(self) -> Index3:
        """Exclusive upper index of the box in the full grid."""
        s = self.array.shape
        return (self.lo[0] + s[0], self.lo[1] + s[1], self.lo[2] + s[2])

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as slices of the full grid."""
        hi = self.hi
        return (
            slice(self.lo[0], hi[0]),
            slice(self.lo[1], hi[1]),
            slice(self.lo[2], hi[2]),
        )

    def is_empty(self) -> bool:
        """Whether no voxel is set."""
        return self.array.size == 0 or not bool(self.array.any())

    def at_edge(self) -> npt.NDArray[np.bool_]:
        """``(3, 2)`` flags: whether the low / high face of each axis is on the grid edge."""
        hi = self.hi
        return np.array(
            [[self.lo[a] == 0, hi[a] == self.full_shape[a]] for a in range(3)], dtype=bool
        )

    def shrink(self) -> BoxMask:
        """The same mask on the bounding box of its set voxels."""
        a = self.array
        bb = bounding_box(a)
        if bb is None:
            return BoxMask.empty(self.full_shape)
        lo = [int(v) for v in bb[0]]
        hi = [int(v) for v in bb[1]]
        if lo == [0, 0, 0] and hi == list(a.shape):
            return self
        sub = a[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        return BoxMask(
            (self.lo[0] + lo[0], self.lo[1] + lo[1], self.lo[2] + lo[2]),
            np.ascontiguousarray(sub),
            self.full_shape,
        )

    def on(self, lo: Sequence[int], shape: Sequence[int]) -> BoolArray:
        """The mask on another box of the grid (``lo``, ``shape``), False outside this one."""
        out = np.zeros(tuple(int(n) for n in shape), dtype=bool)
        if self.array.size == 0:
            return out
        hi = self.hi
        src = []
        dst = []
        for a in range(3):
            a0 = max(self.lo[a], int(lo[a]))
            a1 = min(hi[a], int(lo[a]) + int(shape[a]))
            if a1 <= a0:
                return out
            src.append(slice(a0 - self.lo[a], a1 - self.lo[a]))
            dst.append(slice(a0 - int(lo[a]), a1 - int(lo[a])))
        out[tuple(dst)] = self.array[tuple(src)]
        return out

    def full(self) -> BoolArray:
        """The mask on the whole grid."""
        return self.on((0, 0, 0), self.full_shape)


# --------------------------------------------------------------------------- morphology
def ball_rows(radius_mm: float, spacing_mm: Sequence[float]) -> IntArray:
    """The discrete ball ``{d : |d|_mm <= radius_mm}`` as rows along the column axis.

    Membership uses the squared distance in the order the exact distance transform of
    :mod:`rtplan.geometry._edt` sums it (columns, then rows, then slices) and the same
    tolerance (``DIST_EPS_MM``), so the ball is the one of
    :func:`rtplan.geometry._morphology.erode_mask` and ``dilate_mask``.

    Parameters
    ----------
    radius_mm : float
        Ball radius, mm, >= 0.
    spacing_mm : sequence of 3 float
        ``(dk, dj, di)``, mm.

    Returns
    -------
    numpy.ndarray of int64, shape (n, 3)
        One row ``(dk, dj, w)`` per ``(dk, dj)`` the ball meets: it covers columns
        ``-w .. w``. The central row comes first, then the others by decreasing ``w``.
    """
    sp = np.asarray(spacing_mm, dtype=np.float64)
    h2 = sp**2
    limit = radius_mm + DIST_EPS_MM
    wk = np.ceil(radius_mm / sp).astype(np.int64)
    rows: list[tuple[int, int, int]] = []
    for dk in range(-int(wk[0]), int(wk[0]) + 1):
        for dj in range(-int(wk[1]), int(wk[1]) + 1):
            w = -1
            for di in range(int(wk[2]) + 1):
                d2 = h2[0] * dk * dk + (h2[1] * dj * dj + h2[2] * di * di)
                if np.sqrt(d2) <= limit:
                    w = di
                else:
                    break
            if w >= 0:
                rows.append((dk, dj, w))
    rows.sort(key=lambda r: (r[0] != 0 or r[1] != 0, -r[2], r[0], r[1]))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _column_levels(
    mask: BoolArray, rows: IntArray, *, erode: bool, unset_beyond: tuple[bool, bool]
) -> Iterator[tuple[BoolArray, list[tuple[int, int]]]]:
    """1D erosion (or dilation) of every row of voxels along the column axis.

    Yields, for each half-width ``w`` of the ball's rows in increasing order, the mask
    eroded (dilated) by ``w`` columns and the ``(dk, dj)`` of the ball's rows of that
    half-width; only one level is held at a time. ``unset_beyond``: whether an unset
    voxel lies just beyond the first / last column (erosion only; for dilation nothing
    beyond the box is set).
    """
    by_width: dict[int, list[tuple[int, int]]] = {}
    for dk, dj, w in rows.tolist():
        by_width.setdefault(int(w), []).append((int(dk), int(dj)))
    level = mask
    w = 0
    for target in sorted(by_width):
        while w < target:
            nxt = level.copy()
            if erode:
                nxt[:, :, 1:] &= level[:, :, :-1]
                nxt[:, :, :-1] &= level[:, :, 1:]
                if unset_beyond[0]:
                    nxt[:, :, 0] = False
                if unset_beyond[1]:
                    nxt[:, :, -1] = False
            else:
                nxt[:, :, 1:] |= level[:, :, :-1]
                nxt[:, :, :-1] |= level[:, :, 1:]
            level = nxt
            w += 1
        yield level, by_width[target]


def _overlap(n: int, d: int) -> tuple[slice, slice]:
    """Target and source ranges of a shift by ``d`` along an axis of length ``n``."""
    lo, hi = max(0, -d), min(n, n - d)
    return slice(lo, max(lo, hi)), slice(lo + d, max(lo, hi) + d)


def erode(
    mask: BoolArray,
    rows: IntArray,
    *,
    outside_set: bool = False,
    at_edge: npt.NDArray[np.bool_] | None = None,
) -> BoolArray:
    """Erosion of a box's mask by the ball ``rows`` (:func:`ball_rows`).

    A voxel stays when every row ``(dk, dj, w)`` of its ball is set over columns
    ``-w .. w``: the 1D erosion of the rows by ``w``, shifted by ``(dk, dj)``.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (nk, nj, ni)
        The mask on a box of the grid; False beyond the box inside the grid.
    rows : numpy.ndarray of int64, shape (n, 3)
    outside_set : bool
        Whether the space beyond the *grid* counts as set (``erode_mask(...,
        outside_is_set=True)``); beyond the box but inside the grid is always unset.
    at_edge : numpy.ndarray of bool, shape (3, 2), optional
        Which faces of the box lie on the grid edge (:meth:`BoxMask.at_edge`); needed
        with ``outside_set``. Without it no face is on the edge.

    Returns
    -------
    numpy.ndarray of bool, same shape
        The voxels whose whole ball lies in the set.
    """
    m = np.asarray(mask, dtype=bool)
    if m.size == 0:
        return m.copy()
    edge = np.zeros((3, 2), dtype=bool) if at_edge is None else np.asarray(at_edge, bool)
    beyond_set = outside_set & edge  # per face: what lies beyond it is set
    nk, nj, _ = m.shape
    out = m.copy()
    kk = np.arange(nk)[:, None]
    jj = np.arange(nj)[None, :]
    unset_beyond = (not beyond_set[2, 0], not beyond_set[2, 1])
    for level, shifts in _column_levels(m, rows, erode=True, unset_beyond=unset_beyond):
        for dk, dj in shifts:
            tk, sk = _overlap(nk, dk)
            tj, sj = _overlap(nj, dj)
            out[tk, tj] &= level[sk, sj]
            if dk == 0 and dj == 0:
                continue
            # rows of the ball beyond the box: set only beyond a grid edge whose outside
            # counts as set
            k2, j2 = kk + dk, jj + dj
            beyond_box = (k2 < 0) | (k2 >= nk) | (j2 < 0) | (j2 >= nj)
            beyond_grid = (
                ((k2 < 0) & beyond_set[0, 0])
                | ((k2 >= nk) & beyond_set[0, 1])
                | ((j2 < 0) & beyond_set[1, 0])
                | ((j2 >= nj) & beyond_set[1, 1])
            )
            out[beyond_box & ~beyond_grid] = False
    return out


def dilate(mask: BoolArray, rows: IntArray) -> BoolArray:
    """Dilation of a box's mask by the ball ``rows``, clipped to the box.

    A voxel is set when a row ``(dk, dj, w)`` of its ball holds a set voxel within
    columns ``-w .. w``: the 1D dilation of the rows by ``w``, shifted by ``(dk, dj)``.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (nk, nj, ni)
    rows : numpy.ndarray of int64, shape (n, 3)

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    m = np.asarray(mask, dtype=bool)
    out = np.zeros(m.shape, dtype=bool)
    if m.size == 0:
        return out
    nk, nj, _ = m.shape
    for level, shifts in _column_levels(m, rows, erode=False, unset_beyond=(True, True)):
        for dk, dj in shifts:
            tk, sk = _overlap(nk, dk)
            tj, sj = _overlap(nj, dj)
            out[tk, tj] |= level[sk, sj]
    return out


# --------------------------------------------------------------------------- components
def _structure(planar: bool) -> BoolArray:
    """Face connectivity in 3D, or within each slice only (``planar``)."""
    from scipy import ndimage

    s = np.asarray(ndimage.generate_binary_structure(3, 1), dtype=bool)
    if planar:
        s[0] = False
        s[2] = False
    return s


def label_faces(labels: npt.NDArray[np.int32], planar: bool) -> npt.NDArray[np.int32]:
    """The labels found on the faces of the box (only the in-plane faces if ``planar``)."""
    parts = [
        labels[:, 0, :].ravel(),
        labels[:, -1, :].ravel(),
        labels[:, :, 0].ravel(),
        labels[:, :, -1].ravel(),
    ]
    if not planar:
        parts += [labels[0].ravel(), labels[-1].ravel()]
    return np.unique(np.concatenate(parts))


def background_components(
    mask: BoolArray, *, planar: bool
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """Label the background of a box's mask and flag the components open to the outside.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (nk, nj, ni)
        A mask on a box that contains all its set voxels.
    planar : bool
        Label each slice on its own (4-connected, holes of the slices) instead of in 3D
        (6-connected, cavities).

    Returns
    -------
    labels : numpy.ndarray of int32, same shape
        Background components (0 on the mask).
    outside : numpy.ndarray of bool, shape (n + 1,)
        ``outside[l]``: component ``l`` touches a face of the box (in-plane faces when
        ``planar``), hence the grid border. ``outside[0]`` is True (the mask itself).
        The others are the holes that ``binary_fill_holes`` fills.
    """
    from scipy import ndimage

    labels, n = ndimage.label(~mask, structure=_structure(planar))
    outside = np.zeros(int(n) + 1, dtype=bool)
    outside[0] = True
    if labels.size:
        outside[label_faces(labels, planar)] = True
    return labels, outside


def fill_holes(mask: BoolArray, *, planar: bool) -> BoolArray:
    """``binary_fill_holes`` of a box's mask, slice by slice (``planar``) or in 3D.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (nk, nj, ni)
        A mask on a box that contains all its set voxels.
    planar : bool
        Fill the holes of every slice (``fill_holes_slicewise``) instead of the 3D
        cavities (``fill_holes_3d``).

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    if mask.size == 0:
        return mask.copy()
    labels, outside = background_components(mask, planar=planar)
    return np.asarray(mask | np.logical_not(outside)[labels], dtype=bool)
