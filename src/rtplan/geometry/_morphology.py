"""Exact Euclidean morphology on boolean voxel arrays (radii in mm, anisotropic spacing).

A voxel is within distance ``r`` of a set when the Euclidean distance between voxel
centres, measured in mm with the grid spacing, is at most ``r``; dilation and erosion are
therefore those by the discrete ball ``{d : |d|_mm <= r}``. Each operation runs on the
bounding box of the set (plus the radius), never on the whole array, and picks one of
two exact methods by the size of the ball:

* small balls: the ball decomposed into rows along the column axis
  (:mod:`rtplan.geometry._ball`), one whole-box boolean operation per row;
* large balls: the exact Euclidean distance transform (:func:`distance_map`,
  Felzenszwalb & Huttenlocher 2012) thresholded at the radius, whose cost does not
  depend on the radius.

Both give the same voxels (they measure the squared distance with the same floating
point operations; tested on awkward shapes and anisotropic spacings), so the choice is
one of speed only (:data:`EDT_COST_IN_ROWS`). Hole filling labels the background once
on the bounding box instead of flooding the whole array. The references (the transform,
and structuring elements decomposed into line segments) are in :func:`dilate_mask`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError
from rtplan.geometry import _ball
from rtplan.geometry._edt_kernels import squared_edt
from rtplan.grid import IndexBox

__all__ = [
    "DIST_EPS_MM",
    "boundary_mask",
    "close_mask",
    "dilate_mask",
    "distance_map",
    "erode_mask",
    "fill_holes",
    "fill_holes_3d",
    "fill_holes_slicewise",
    "label_holes",
    "largest_component",
    "open_mask",
    "remove_small_components",
]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
Faces = npt.NDArray[np.bool_]  # (3, 2): per axis (k, j, i), low and high face

#: Slack on distance comparisons, mm: keeps ties (a centre exactly at the radius) inside.
DIST_EPS_MM = 1e-6

#: Cost of the distance transform per voxel, in whole-box boolean operations (measured on
#: a 200 x 274 x 398 box: about 70 ns against 0.15 ns per voxel and row). A ball whose
#: rows (plus three operations per column of half-width) cost more goes to the transform.
EDT_COST_IN_ROWS = 400


# --------------------------------------------------------------------------- inputs
def _spacing(spacing_mm: float | Sequence[float], ndim: int) -> FloatArray:
    try:
        sp = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (ndim,))
    except ValueError:
        raise GeometryError(
            f"spacing_mm must give one spacing per array axis ({ndim}), got {spacing_mm!r}"
        ) from None
    if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise GeometryError(f"spacing_mm must be positive, got {spacing_mm!r}")
    return np.array(sp)


#: Spacing given to the slice axis of a 2D mask: the ball never reaches along it.
_FLAT_MM = 1e30


def _volume(
    mask: npt.ArrayLike, spacing_mm: float | Sequence[float]
) -> tuple[BoolArray, FloatArray]:
    """A 2D or 3D mask as a 3D array (a 2D one is one slice) and its 3 spacings."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim not in (2, 3):
        raise GeometryError(f"morphology works on 2D or 3D masks, got shape {m.shape}")
    sp = _spacing(spacing_mm, m.ndim)
    if m.ndim == 2:
        return m[np.newaxis], np.concatenate([[_FLAT_MM], sp])
    return m, sp


def _radius(radius_mm: float) -> float:
    r = float(radius_mm)
    if not math.isfinite(r) or r < 0:
        raise GeometryError(f"radius_mm must be a finite number >= 0, got {radius_mm!r}")
    return r


def _prepare(
    mask: npt.ArrayLike, radius_mm: float, spacing_mm: float | Sequence[float]
) -> tuple[BoolArray, FloatArray, float, IndexBox] | None:
    """The 3D mask, its spacings, the radius and the set's box; None if nothing changes."""
    m, sp = _volume(mask, spacing_mm)
    r = _radius(radius_mm)
    box = IndexBox.from_mask(m)
    if r == 0 or box is None:
        return None
    return m, sp, r, box


def _faces(outside_is_set: bool | npt.ArrayLike) -> Faces:
    flags = np.asarray(outside_is_set, dtype=bool)
    try:
        return np.array(np.broadcast_to(flags, (3, 2)))
    except ValueError:
        raise GeometryError(
            "outside_is_set must be a bool or a (3, 2) array of bools (per axis k, j, i: "
            f"low face, high face), got shape {flags.shape}"
        ) from None


# --------------------------------------------------------------------------- distances
def _squared_distance_to(features: BoolArray, sampling: FloatArray) -> FloatArray:
    g = np.where(features, 0.0, np.inf)
    squared_edt(g, np.asarray(sampling, dtype=np.float64) ** 2)
    return g


def distance_to_set(features: BoolArray, sampling: npt.ArrayLike) -> FloatArray:
    """Distance from every voxel centre to the nearest feature voxel centre (3D arrays).

    The unchecked core of :func:`distance_map`: ``features`` is a 3D boolean array and
    ``sampling`` its three spacings (in any unit; the result is in that unit).
    """
    g = _squared_distance_to(np.asarray(features, dtype=bool), np.asarray(sampling, np.float64))
    np.sqrt(g, out=g)
    return g


def distance_map(
    mask: npt.ArrayLike, spacing_mm: float | Sequence[float], *, signed: bool = False
) -> FloatArray:
    """Exact Euclidean distance from every voxel centre to the set, mm.

    Computed by the separable transform of Felzenszwalb & Huttenlocher [1]_: the same
    values as :func:`scipy.ndimage.distance_transform_edt` of ``~mask`` (tested), without
    its index arrays, several times faster on large volumes.

    Parameters
    ----------
    mask : array_like of bool, shape (nk, nj, ni) or (nj, ni)
        The set, in ``(slice, row, column)`` order.
    spacing_mm : float or sequence of float
        Voxel spacing per array axis (``(dk, dj, di)`` in 3D), mm.
    signed : bool
        False (default): 0 on the set, the distance to the nearest set voxel elsewhere.
        True: outside the set as before, and inside it minus the distance to the nearest
        voxel outside it (``distance_transform_edt(~m) - distance_transform_edt(m)``), so
        the surface lies between the last negative and the first positive values.

    Returns
    -------
    numpy.ndarray of float64, same shape
        ``inf`` where there is nothing to measure to (no set voxel; ``-inf`` inside a
        set that fills the array, when signed).

    Raises
    ------
    GeometryError
        If the array is not 2D or 3D or the spacing is not positive.

    References
    ----------
    .. [1] P. F. Felzenszwalb and D. P. Huttenlocher, "Distance transforms of sampled
       functions", Theory of Computing 8 (2012) 415-428.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import geometry
    >>> m = np.zeros((1, 1, 6), dtype=bool)
    >>> m[0, 0, 2:4] = True
    >>> geometry.distance_map(m, (2.5, 1.0, 1.5)).ravel().tolist()
    [3.0, 1.5, 0.0, 0.0, 1.5, 3.0]
    >>> geometry.distance_map(m, (2.5, 1.0, 1.5), signed=True).ravel().tolist()
    [3.0, 1.5, -1.5, -1.5, 1.5, 3.0]

    The depth of each voxel inside a structure, on the sample CT:

    >>> import rtplan
    >>> from rtplan.data import get_path
    >>> study = rtplan.load_study(get_path("thigh_sarcoma"))
    >>> ct = study.ct
    >>> gtv = study.structures["GTV"].mask(ct.grid)
    >>> depth = geometry.distance_map(~gtv, ct.grid.spacing_mm)
    >>> bool(depth[gtv].max() > 10.0)   # mm from the GTV's surface to its deepest voxel
    True
    """
    m3, sp = _volume(mask, spacing_mm)
    shape = np.asarray(mask).shape
    out = distance_to_set(m3, sp)
    if signed:
        inside = distance_to_set(~m3, sp)
        out = np.where(m3, -inside, out)
    return out.reshape(shape)


# --------------------------------------------------------------------------- the ball
def _rows_cost(limit: float, sampling: FloatArray) -> float:
    """Whole-box boolean operations of the row method for the ball of radius ``limit``."""
    # rows: the lattice points of the ball's (k, j) ellipse; columns: its half-width
    area = math.pi * limit * limit / float(sampling[0] * sampling[1])
    per_axis = 2.0 * limit / sampling[:2] + 1.0
    rows = min(area + float(per_axis.sum()), float(np.prod(per_axis)))
    return rows + 3.0 * limit / float(sampling[2])


def _reach(limit: float, sampling: FloatArray) -> npt.NDArray[np.int64]:
    """Voxels the ball reaches along each axis (one more than needed, against rounding)."""
    return np.floor(limit / sampling).astype(np.int64) + 1


def uses_rows(limit: float, sampling: npt.ArrayLike) -> bool:
    """Whether the ball ``{|d| <= limit}`` is applied by rows (else by the distance transform)."""
    return _rows_cost(limit, np.asarray(sampling, dtype=np.float64)) <= EDT_COST_IN_ROWS


def _by_rows(method: str | None, limit: float, sampling: FloatArray) -> bool:
    if method is None:
        return uses_rows(limit, sampling)
    if method not in ("rows", "edt"):
        raise GeometryError(f"morphology method must be 'rows' or 'edt', got {method!r}")
    return method == "rows"


def ball_dilate(
    mask: BoolArray, sampling: FloatArray, limit: float, *, method: str | None = None
) -> BoolArray:
    """Dilation of a 3D mask by ``{d : |d| <= limit}``, clipped to the array.

    ``limit`` is in the unit of ``sampling`` and holds any tolerance. ``method``:
    ``"rows"`` or ``"edt"``; by default picked by :func:`uses_rows`. Both give the same
    voxels.
    """
    if not mask.any():
        return mask.copy()
    if _by_rows(method, limit, sampling):
        return _ball.dilate_rows(mask, _ball.ball_rows(limit, sampling))
    d2 = _squared_distance_to(mask, sampling)
    return np.asarray(np.sqrt(d2, out=d2) <= limit, dtype=bool)


def ball_erode(
    mask: BoolArray,
    sampling: FloatArray,
    limit: float,
    beyond_set: Faces,
    *,
    method: str | None = None,
) -> BoolArray:
    """Erosion of a 3D mask by ``{d : |d| <= limit}``.

    ``beyond_set[a, side]``: whether what lies beyond that face of the array counts as
    set (``side`` 0 the low face, 1 the high face of axis ``a``). ``method`` as for
    :func:`ball_dilate`.
    """
    if _by_rows(method, limit, sampling):
        return _ball.erode_rows(mask, _ball.ball_rows(limit, sampling), beyond_set)
    # one unset voxel beyond each face whose outside is unset; nothing beyond the others
    pad = [(0 if beyond_set[a, 0] else 1, 0 if beyond_set[a, 1] else 1) for a in range(3)]
    outside = ~np.pad(mask, pad, constant_values=False)
    if not outside.any():
        return mask.copy()
    d2 = _squared_distance_to(outside, sampling)
    kept = np.sqrt(d2, out=d2) > limit
    inner = tuple(slice(p[0], p[0] + n) for p, n in zip(pad, mask.shape, strict=True))
    return np.asarray(kept[inner], dtype=bool)


# --------------------------------------------------------------------------- public
def dilate_mask(
    mask: npt.ArrayLike, radius_mm: float, spacing_mm: float | Sequence[float]
) -> BoolArray:
    """Voxels within ``radius_mm`` of the set (exact Euclidean dilation by a ball).

    The ball is ``{d : |d|_mm <= radius_mm}`` between voxel centres, with the grid's
    (possibly anisotropic) spacing. Small balls are applied row by row, large ones by
    thresholding :func:`distance_map` [1]_ [2]_; the voxels are the same either way.

    Parameters
    ----------
    mask : array_like of bool, shape (nk, nj, ni) or (nj, ni)
        The set, in ``(slice, row, column)`` order. The result is clipped to the array;
        pad the array first if the dilation must grow beyond it.
    radius_mm : float
        Dilation radius, mm, >= 0.
    spacing_mm : float or sequence of float
        Voxel spacing per array axis (``(dk, dj, di)`` in 3D), mm.

    Returns
    -------
    numpy.ndarray of bool, same shape

    Raises
    ------
    GeometryError
        If the radius is negative, the spacing invalid or the array not 2D or 3D.

    References
    ----------
    .. [1] P. F. Felzenszwalb and D. P. Huttenlocher, "Distance transforms of sampled
       functions", Theory of Computing 8 (2012) 415-428.
    .. [2] R. van den Boomgaard and R. van Balen, "Methods for fast morphological image
       transforms using bitmapped binary images", CVGIP: Graphical Models and Image
       Processing 54 (1992) 252-258.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import geometry
    >>> m = np.zeros((5, 7), dtype=bool)
    >>> m[2, 3] = True
    >>> geometry.dilate_mask(m, 2.0, (2.0, 1.0)).astype(int)
    array([[0, 0, 0, 0, 0, 0, 0],
           [0, 0, 0, 1, 0, 0, 0],
           [0, 1, 1, 1, 1, 1, 0],
           [0, 0, 0, 1, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0]])

    A 5 mm margin around the sample study's GTV, on the CT grid:

    >>> import rtplan
    >>> from rtplan.data import get_path
    >>> study = rtplan.load_study(get_path("thigh_sarcoma"))
    >>> gtv = study.structures["GTV"].mask(study.ct.grid)
    >>> ptv = geometry.dilate_mask(gtv, 5.0, study.ct.grid.spacing_mm)
    >>> bool(ptv.sum() > gtv.sum() and (ptv | gtv).sum() == ptv.sum())
    True
    """
    ready = _prepare(mask, radius_mm, spacing_mm)
    if ready is None:
        return np.asarray(mask, dtype=bool).copy()
    m, sp, r, box = ready
    work = box.padded(_reach(r + DIST_EPS_MM, sp), within=m.shape)
    out = np.zeros_like(m)
    out[work.slices] = ball_dilate(m[work.slices], sp, r + DIST_EPS_MM)
    return out.reshape(np.shape(mask))


def erode_mask(
    mask: npt.ArrayLike,
    radius_mm: float,
    spacing_mm: float | Sequence[float],
    *,
    outside_is_set: bool | npt.ArrayLike = False,
) -> BoolArray:
    """Voxels of the set farther than ``radius_mm`` from every voxel outside it.

    The erosion by the ball of :func:`dilate_mask` (a voxel stays when its whole ball
    lies in the set); the method is picked the same way.

    Parameters
    ----------
    mask, spacing_mm
        As for :func:`dilate_mask`.
    radius_mm : float
        Erosion radius, mm, >= 0.
    outside_is_set : bool or array_like of bool, shape (3, 2)
        How to treat the space beyond the array: ``False`` (default) counts it as
        outside the set, so the set is eroded from the array edges too; ``True`` counts
        it as inside (the array is a crop of a larger set, e.g. a body cut by the ends
        of the scan). Per face: ``outside_is_set[a, 0]`` for the low face of axis ``a``
        (``k, j, i``), ``[a, 1]`` for the high one (a 3D mask only).

    Returns
    -------
    numpy.ndarray of bool
        The eroded set, the shape of ``mask``.

    Raises
    ------
    GeometryError
        As :func:`dilate_mask`.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.geometry import erode_mask
    >>> m = np.ones((5, 5), dtype=bool)
    >>> erode_mask(m, 1.0, 1.0).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])

    With unit spacing and radius 1, the ball is the six face neighbours: the voxels of a
    set with a face neighbour outside it are ``m & ~erode_mask(m, 1.0, 1.0)``; with
    ``outside_is_set=True`` the faces where the array cuts the set do not count:

    >>> int(erode_mask(m, 1.0, 1.0, outside_is_set=True).sum())
    25
    """
    faces = _faces(outside_is_set)
    ready = _prepare(mask, radius_mm, spacing_mm)
    if ready is None:
        return np.asarray(mask, dtype=bool).copy()
    m, sp, r, box = ready
    # beyond the set's bounding box the array is unset; beyond the array, as told
    on_edge = np.array(
        [[box.lower[a] == 0, box.upper[a] == m.shape[a]] for a in range(3)], dtype=bool
    )
    out = np.zeros_like(m)
    out[box.slices] = ball_erode(m[box.slices], sp, r + DIST_EPS_MM, faces & on_edge)
    return out.reshape(np.shape(mask))


def boundary_mask(
    mask: npt.ArrayLike, *, outside_is_set: bool | npt.ArrayLike = False
) -> BoolArray:
    """The voxels of the set with a face neighbour outside it (its one-voxel surface layer).

    ``mask & ~erode_mask(mask, 1.0, 1.0, ...)``: with unit spacing the ball of radius 1
    is the face neighbourhood (6 neighbours in 3D, 4 in 2D), whatever the grid spacing.

    Parameters
    ----------
    mask : array_like of bool, 2D or 3D
    outside_is_set : bool or array_like of bool, shape (3, 2)
        Whether beyond the array counts as set (see :func:`erode_mask`): with True, the
        faces where the array cuts the set (the body at the ends of a scan) are not
        surface.

    Returns
    -------
    numpy.ndarray of bool
        The surface layer, the shape of ``mask``.

    Examples
    --------
    A band three voxels wide, cut by the array's first and last rows:

    >>> import numpy as np
    >>> from rtplan.geometry import boundary_mask
    >>> m = np.zeros((4, 5), dtype=bool)
    >>> m[:, 1:4] = True
    >>> boundary_mask(m).astype(int)
    array([[0, 1, 1, 1, 0],
           [0, 1, 0, 1, 0],
           [0, 1, 0, 1, 0],
           [0, 1, 1, 1, 0]])
    >>> boundary_mask(m, outside_is_set=True).astype(int)
    array([[0, 1, 0, 1, 0],
           [0, 1, 0, 1, 0],
           [0, 1, 0, 1, 0],
           [0, 1, 0, 1, 0]])
    """
    m = np.asarray(mask, dtype=bool)
    inner = erode_mask(m, 1.0, 1.0, outside_is_set=outside_is_set)
    return np.asarray(m & ~inner, dtype=bool)


def open_mask(
    mask: npt.ArrayLike, radius_mm: float, spacing_mm: float | Sequence[float]
) -> BoolArray:
    """Morphological opening by a ball: removes parts thinner than ``2 * radius_mm``.

    Erosion then dilation (:func:`erode_mask`, :func:`dilate_mask`; the array edges
    erode), kept inside the set.

    Parameters
    ----------
    mask, spacing_mm
        As for :func:`dilate_mask`.
    radius_mm : float
        Parts thinner than twice this are removed, mm, >= 0.

    Returns
    -------
    numpy.ndarray of bool
        The opened set, the shape of ``mask``.

    See Also
    --------
    erode_mask, dilate_mask : its two steps.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.geometry import open_mask
    >>> m = np.zeros((7, 12), dtype=bool)
    >>> m[1:6, 1:6] = True
    >>> m[3, 6:11] = True          # a one-voxel wire
    >>> opened = open_mask(m, 1.0, 1.0)
    >>> bool(opened[3, 8]), bool(opened[3, 3])
    (False, True)
    """
    eroded = erode_mask(mask, radius_mm, spacing_mm)
    opened = dilate_mask(eroded, radius_mm, spacing_mm) & np.asarray(mask, dtype=bool)
    return np.asarray(opened, dtype=bool)


def close_mask(
    mask: npt.ArrayLike, radius_mm: float, spacing_mm: float | Sequence[float]
) -> BoolArray:
    """Morphological closing by a ball: bridges gaps narrower than ``2 * radius_mm``.

    Dilation then erosion in unbounded space (the array edges do not bias it); the
    closing of a set lies within its bounding box, so the result has the array's shape.

    Parameters
    ----------
    radius_mm : float
        Gaps narrower than twice this are bridged, mm, >= 0.
    mask, spacing_mm
        As for :func:`dilate_mask`.

    Returns
    -------
    numpy.ndarray of bool, the shape of ``mask``
        The set with its narrow gaps and dents filled; :func:`fill_holes` fills enclosed
        holes whatever their size.

    Examples
    --------
    Two squares with a one-voxel gap between them:

    >>> from rtplan.geometry import close_mask
    >>> import numpy as np
    >>> squares = np.zeros((5, 9), dtype=bool)
    >>> squares[1:4, [1, 2, 3, 5, 6, 7]] = True
    >>> bool(close_mask(squares, 1.0, 1.0)[2, 4])
    True
    """
    ready = _prepare(mask, radius_mm, spacing_mm)
    if ready is None:
        return np.asarray(mask, dtype=bool).copy()
    m, sp, r, box = ready
    limit = r + DIST_EPS_MM
    reach = _reach(limit, sp)
    # the bounding box grown by the ball (it may leave the array), the set in its middle
    x = np.zeros(box.padded(reach).shape, dtype=np.bool_)
    core = tuple(slice(int(p), int(p) + n) for p, n in zip(reach, box.shape, strict=True))
    x[core] = m[box.slices]
    unset = np.zeros((3, 2), dtype=bool)
    closed = ball_erode(ball_dilate(x, sp, limit), sp, limit, unset)
    out = m.copy()
    out[box.slices] |= closed[core]
    return out.reshape(np.shape(mask))


# --------------------------------------------------------------------------- holes
def _structure(ndim: int, planar: bool) -> BoolArray:
    """Face connectivity, or within each slice only (``planar``, axis 0 is the slices)."""
    from scipy import ndimage

    s = np.asarray(ndimage.generate_binary_structure(ndim, 1), dtype=bool)
    if planar and ndim == 3:
        s[0] = False
        s[2] = False
    return s


def _open_labels(labels: npt.NDArray[np.int32], planar: bool) -> npt.NDArray[np.int32]:
    """The labels found on the faces of the array (the in-plane faces when ``planar``)."""
    if labels.ndim == 2:
        parts = [labels[0], labels[-1], labels[:, 0], labels[:, -1]]
    else:
        parts = [labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]]
        if not planar:
            parts += [labels[0], labels[-1]]
    return np.unique(np.concatenate([p.ravel() for p in parts]))


def label_holes(
    mask: npt.ArrayLike, *, planar: bool = False, axis: int = 0
) -> tuple[npt.NDArray[np.int32], int]:
    """Label the holes of a mask: background regions not connected to the array border.

    Parameters
    ----------
    mask : array_like of bool, shape (nk, nj, ni) or (nj, ni)
    planar : bool
        False (default): cavities, face-connected in 3D (6-connected). True: the holes of
        each 2D slice along ``axis`` on its own (4-connected within the slice).
    axis : int
        The slicing axis when ``planar`` (0 = the grid's slices).

    Returns
    -------
    labels : numpy.ndarray of int32, same shape
        ``1 .. n`` on the holes, 0 on the set and on the background open to the border.
    n : int
        Number of holes (with ``planar``, the holes of all slices together).

    Raises
    ------
    GeometryError
        If the array is not 2D or 3D.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import geometry
    >>> ring = np.zeros((5, 5), dtype=bool)
    >>> ring[1:4, 1:4] = True
    >>> ring[2, 2] = False
    >>> labels, n = geometry.label_holes(ring)
    >>> n, int(labels[2, 2]), int(labels[0, 0])
    (1, 1, 0)
    """
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    if m.ndim not in (2, 3):
        raise GeometryError(f"hole labelling works on 2D or 3D masks, got shape {m.shape}")
    planar = planar and m.ndim == 3
    if planar:
        m = np.moveaxis(m, axis, 0)
    labels_out = np.zeros(m.shape, dtype=np.int32)
    box = IndexBox.from_mask(m if m.ndim == 3 else m[np.newaxis])
    if box is None:
        return (np.moveaxis(labels_out, 0, axis) if planar else labels_out), 0
    # background voxels on a face of the set's box are connected to the array border
    # (through the background around the box, or directly): label the box only
    sub = m[box.slices] if m.ndim == 3 else m[box.slices[1:]]
    labels, n = ndimage.label(~sub, structure=_structure(m.ndim, planar))
    is_hole = np.ones(int(n) + 1, dtype=bool)
    is_hole[0] = False
    is_hole[_open_labels(labels, planar)] = False
    renumber = np.zeros(int(n) + 1, dtype=np.int32)
    renumber[is_hole] = np.arange(1, int(np.count_nonzero(is_hole)) + 1, dtype=np.int32)
    if m.ndim == 3:
        labels_out[box.slices] = renumber[labels]
    else:
        labels_out[box.slices[1:]] = renumber[labels]
    if planar:
        labels_out = np.ascontiguousarray(np.moveaxis(labels_out, 0, axis))
    return labels_out, int(np.count_nonzero(is_hole))


def fill_holes(mask: npt.ArrayLike, *, planar: bool = False, axis: int = 0) -> BoolArray:
    """The mask with its holes filled (see :func:`label_holes`).

    The same voxels as :func:`scipy.ndimage.binary_fill_holes` (on each slice when
    ``planar``), computed by one labelling of the background on the set's bounding box
    instead of a flood from the array border.

    Parameters
    ----------
    mask : array_like of bool, shape (nk, nj, ni) or (nj, ni)
    planar : bool
        False (default): fill the 3D cavities. True: fill the holes of every 2D slice
        along ``axis`` (a ring in a slice is filled even when open along the slices).
    axis : int
        The slicing axis when ``planar``.

    Returns
    -------
    numpy.ndarray of bool, same shape

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import geometry
    >>> tube = np.zeros((3, 5, 5), dtype=bool)
    >>> tube[:, 1:4, 1:4] = True
    >>> tube[:, 2, 2] = False          # a canal open at both ends
    >>> bool(geometry.fill_holes(tube)[1, 2, 2])
    False
    >>> bool(geometry.fill_holes(tube, planar=True)[1, 2, 2])
    True
    """
    labels, n = label_holes(mask, planar=planar, axis=axis)
    m = np.asarray(mask, dtype=bool)
    if n == 0:
        return m.copy()
    return np.asarray(m | (labels > 0), dtype=bool)


def fill_holes_slicewise(mask: npt.ArrayLike, axis: int = 0) -> BoolArray:
    """Fill the holes of every 2D slice along ``axis``: ``fill_holes(mask, planar=True)``.

    Parameters
    ----------
    mask : array_like of bool, 3D
    axis : int
        Slicing axis (0 = the grid's slices).

    Returns
    -------
    numpy.ndarray of bool
        The filled mask.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.geometry import fill_holes_slicewise
    >>> tube = np.zeros((3, 5, 5), dtype=bool)
    >>> tube[:, 1:4, 1:4] = True
    >>> tube[:, 2, 2] = False
    >>> bool(fill_holes_slicewise(tube)[1, 2, 2])
    True
    """
    return fill_holes(mask, planar=True, axis=axis)


def fill_holes_3d(mask: npt.ArrayLike) -> BoolArray:
    """Fill the 3D cavities of a mask: ``fill_holes(mask)``.

    Parameters
    ----------
    mask : array_like of bool, 2D or 3D

    Returns
    -------
    numpy.ndarray of bool
        The mask and its cavities.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.geometry import fill_holes_3d
    >>> cube = np.ones((3, 3, 3), dtype=bool)
    >>> cube[1, 1, 1] = False          # a closed cavity
    >>> bool(fill_holes_3d(cube).all())
    True
    """
    return fill_holes(mask)


# --------------------------------------------------------------------------- components
def _component_sizes(
    m: BoolArray, connectivity: int
) -> tuple[IndexBox | None, npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Labels of the connected components on the set's bounding box, and their sizes."""
    from scipy import ndimage

    box = IndexBox.from_mask(m if m.ndim == 3 else m[np.newaxis])
    if box is None:
        return None, np.zeros((0,), dtype=np.int32), np.zeros(1, dtype=np.int64)
    sub = m[box.slices] if m.ndim == 3 else m[box.slices[1:]]
    structure = ndimage.generate_binary_structure(m.ndim, connectivity)
    labels, _ = ndimage.label(sub, structure=structure)
    return box, labels, np.bincount(labels.ravel())


def _paste(m: BoolArray, box: IndexBox, sub: BoolArray) -> BoolArray:
    out = np.zeros_like(m)
    if m.ndim == 3:
        out[box.slices] = sub
    else:
        out[box.slices[1:]] = sub
    return out


def largest_component(mask: npt.ArrayLike, *, connectivity: int = 1) -> BoolArray:
    """The largest connected component (face-connected by default).

    Parameters
    ----------
    mask : array_like of bool, 2D or 3D
    connectivity : int
        1 for face neighbours, ``ndim`` for all neighbours.

    Returns
    -------
    numpy.ndarray of bool
        The component, the shape of ``mask`` (all False for an empty mask).

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.geometry import largest_component
    >>> m = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]], dtype=bool)
    >>> largest_component(m).astype(int)
    array([[0, 0, 0, 1],
           [0, 0, 0, 1],
           [0, 0, 0, 1],
           [0, 0, 0, 1]])
    """
    m = np.asarray(mask, dtype=bool)
    box, labels, counts = _component_sizes(m, connectivity)
    if box is None:
        return np.zeros_like(m)
    counts[0] = 0
    return _paste(m, box, labels == int(np.argmax(counts)))


def remove_small_components(
    mask: npt.ArrayLike, min_voxels: int, *, connectivity: int = 1
) -> BoolArray:
    """Drop connected components with fewer than ``min_voxels`` voxels.

    Parameters
    ----------
    mask : array_like of bool, 2D or 3D
    min_voxels : int
        Smallest component kept, voxels.
    connectivity : int
        As for :func:`largest_component`.

    Returns
    -------
    numpy.ndarray of bool, the shape of ``mask``
        The components of ``min_voxels`` voxels or more.

    Examples
    --------
    The one-voxel component goes, the three-voxel one stays:

    >>> import numpy as np
    >>> from rtplan.geometry import remove_small_components
    >>> m = np.array([[1, 1, 0, 1], [1, 0, 0, 0]], dtype=bool)
    >>> remove_small_components(m, 2).astype(int)
    array([[1, 1, 0, 0],
           [1, 0, 0, 0]])
    """
    m = np.asarray(mask, dtype=bool)
    if min_voxels <= 1:
        return m.copy()
    box, labels, counts = _component_sizes(m, connectivity)
    if box is None:
        return m.copy()
    keep = counts >= min_voxels
    keep[0] = False
    return _paste(m, box, keep[labels])


def bounding_box(mask: BoolArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]] | None:
    """Inclusive-lower, exclusive-upper index bounds of the True voxels (array order).

    Kept for the callers that have not moved to :meth:`rtplan.grid.IndexBox.from_mask` /
    :meth:`rtplan.Image.bounding_box`, which return an :class:`~rtplan.grid.IndexBox`.

    Parameters
    ----------
    mask : numpy.ndarray of bool, 3D

    Returns
    -------
    tuple of two numpy.ndarray of int, shape (3,), or None
        ``None`` if the mask is empty.
    """
    box = IndexBox.from_mask(mask)
    if box is None:
        return None
    return np.asarray(box.lower, dtype=np.intp), np.asarray(box.upper, dtype=np.intp)
