"""First phase of the needle-path search: target points, search region, skin entries.

* **Target point(s)** (:func:`target_points`): the target structure's centroid when it
  lies inside the structure, else its deepest voxel (largest distance to its surface); or
  points given in mm.
* **Search region** (:func:`search_space`): the window ``W`` of every voxel within the
  needle length of a target point, and the region ``R`` = ``W`` padded by the largest
  clearance, the score's saturation distance and two voxels, on which the body and the
  avoided masks are taken. The body is the given EXTERNAL structure, or the automatic
  outline of :func:`rtplan.tissue.body_mask`.
* **Entry candidates** (:func:`candidate_paths`): every voxel of the body surface (body
  voxels with a 6-neighbour outside the body; faces cut by the image border are not skin)
  inside ``W``, paired with every target point.

Positions inside the search are continuous voxel indices ``(i, j, k)`` of region ``R``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan import geometry, tissue
from rtplan.errors import GeometryError, StructureError, TrajectoryError
from rtplan.grid import Grid, IndexBox
from rtplan.guidance._criteria import TrajectoryConstraints, TrajectoryRanking
from rtplan.image import Image
from rtplan.structures import Structure

__all__ = [
    "Candidates",
    "SearchSpace",
    "box_around",
    "candidate_paths",
    "mask_of",
    "relative_slices",
    "search_space",
    "target_points",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


# ============================================================================ boxes, masks
def box_around(grid: Grid, centres_ijk: FloatArray, radius_mm: float) -> IndexBox:
    """Voxels within ``radius_mm`` (per axis) of index points ``(N, 3)``, clipped to the grid."""
    r = radius_mm / grid.spacing_ijk_mm
    n = np.asarray(grid.shape_ijk, dtype=np.int64)
    lo = np.clip(np.floor(centres_ijk.min(axis=0) - r).astype(np.int64), 0, n)
    hi = np.clip(np.ceil(centres_ijk.max(axis=0) + r).astype(np.int64) + 1, 0, n)
    return IndexBox((int(lo[2]), int(lo[1]), int(lo[0])), (int(hi[2]), int(hi[1]), int(hi[0])))


def relative_slices(inner: IndexBox, outer: IndexBox) -> tuple[slice, slice, slice]:
    """Array slices ``(k, j, i)`` of box ``inner`` within an array covering box ``outer``."""
    lo = [a - b for a, b in zip(inner.lower, outer.lower, strict=True)]
    hi = [a - b for a, b in zip(inner.upper, outer.lower, strict=True)]
    return slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2])


def mask_of(item: Structure | Image, grid: Grid, what: str) -> BoolArray:
    """A structure or a mask image as a boolean array on ``grid`` (nearest voxel)."""
    if isinstance(item, Structure):
        if not item.has_volume:
            raise StructureError(
                f"{what} {item.name!r} encloses no volume (no closed contours or mask)"
            )
        return np.asarray(item.mask(grid), dtype=bool)
    if item.grid.isclose(grid):
        return np.asarray(item.array) > 0.5
    resampled = item.resample(grid, order=0, fill_value=0)
    return np.asarray(resampled.array) > 0.5


# ============================================================================ targets
def _deepest_point(ct: Image, target: Structure) -> FloatArray:
    mask = target.mask(ct.grid)
    if not mask.any():
        raise StructureError(f"target {target.name!r} covers no voxel of the CT grid {ct.grid!r}")
    c = np.asarray(target.centroid_mm, dtype=np.float64)
    ijk = np.rint(ct.grid.mm_to_index(c)).astype(np.int64)
    inside = bool(
        ct.grid.contains_index(ijk[np.newaxis].astype(np.float64))[0]
        and mask[ijk[2], ijk[1], ijk[0]]
    )
    if inside:
        return c[np.newaxis]
    depth = geometry.distance_map(~mask, ct.grid.spacing_mm)
    k, j, i = np.unravel_index(int(np.argmax(depth)), mask.shape)
    logger.info("target %r: centroid outside the structure, using its deepest voxel", target.name)
    return ct.grid.index_to_mm([[float(i), float(j), float(k)]])


def target_points(
    ct: Image, target: Structure | npt.ArrayLike, target_mm: npt.ArrayLike | None = None
) -> tuple[FloatArray, str]:
    """The point(s) a search aims at, LPS mm, and the target's name.

    Parameters
    ----------
    ct : Image
        The CT searched.
    target : Structure or array_like, shape (3,) or (N, 3)
        A structure (its centroid, or its deepest voxel when the centroid lies outside
        it; a structure of POINTs gives its points) or LPS points.
    target_mm : array_like, shape (3,) or (N, 3), optional
        Points overriding the structure's.

    Returns
    -------
    points_mm : numpy.ndarray, shape (T, 3)
    name : str
        The structure's name, ``""`` for points.

    Raises
    ------
    StructureError
        If the structure covers no voxel or has neither volume nor points.
    GeometryError
        If the points are malformed or lie outside the CT's voxel centres.
    """
    pts, name = _given_points(ct, target)
    if target_mm is not None:
        pts = np.asarray(target_mm, dtype=np.float64).reshape(-1, 3)
    if not np.all(ct.grid.contains_index(ct.grid.mm_to_index(pts), margin=1e-6)):
        raise GeometryError(
            f"target point(s) {np.round(pts, 1).tolist()} lie outside the CT's voxel "
            "centres; check the target and the CT"
        )
    return pts, name


def _given_points(ct: Image, target: Structure | npt.ArrayLike) -> tuple[FloatArray, str]:
    if isinstance(target, Structure):
        if target.has_volume:
            return _deepest_point(ct, target), target.name
        pts = target.points_mm
        if pts.shape[0] == 0:
            raise StructureError(f"target {target.name!r} has no volume and no point")
        return pts, target.name
    pts = np.asarray(target, dtype=np.float64)
    if pts.ndim == 1:
        pts = pts[np.newaxis]
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
        raise GeometryError(
            f"target must be a Structure or LPS point(s) of shape (3,) or (N, 3), got "
            f"shape {np.shape(target)}"
        )
    return pts, ""


# ============================================================================ region
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SearchSpace:
    """Where a search runs: the CT, the target points, the boxes ``W`` and ``R``, the body.

    Parameters
    ----------
    ct : Image
        The CT searched.
    targets_mm : numpy.ndarray, shape (T, 3)
        Target points, LPS mm.
    target_name : str
        Name of the target structure (``""`` for points).
    window : IndexBox
        ``W``: the voxels within the needle length of a target point.
    region : IndexBox
        ``R``: ``W`` padded by ``pad_ijk`` voxels, clipped to the CT.
    pad_ijk : numpy.ndarray of int64, shape (3,)
        Padding of ``R`` around ``W`` along ``(i, j, k)``, voxels: beyond it every avoided
        voxel is farther than its clearance plus the saturation distance.
    body : numpy.ndarray of bool, shape region.shape
        The body on ``R``.
    """

    ct: Image
    targets_mm: FloatArray
    target_name: str
    window: IndexBox
    region: IndexBox
    pad_ijk: IntArray
    body: BoolArray

    @property
    def grid(self) -> Grid:
        """The CT grid."""
        return self.ct.grid

    @property
    def region_grid(self) -> Grid:
        """The grid of ``R``."""
        return self.ct.grid.crop_to(self.region)

    @property
    def origin_ijk(self) -> IntArray:
        """CT index ``(i, j, k)`` of the first voxel of ``R``."""
        return np.asarray(self.region.lower_ijk(), dtype=np.int64)

    @property
    def targets_r(self) -> FloatArray:
        """Target points as continuous indices ``(i, j, k)`` of ``R``, shape (T, 3)."""
        return np.asarray(self.grid.mm_to_index(self.targets_mm) - self.origin_ijk)

    def to_mm(self, index_r: npt.ArrayLike) -> FloatArray:
        """LPS points of continuous indices ``(i, j, k)`` of ``R``."""
        return self.grid.index_to_mm(np.asarray(index_r, dtype=np.float64) + self.origin_ijk)


def _body_on_region(
    ct: Image, body: Structure | Image | None, window: IndexBox, region: IndexBox, whole: bool
) -> BoolArray:
    """The body on ``R``; the automatic outline only where needed (``W`` + 2, or all of R)."""
    if body is not None:
        return mask_of(body, ct.grid, "body")[region.slices]
    near = region if whole else window.padded(2, within=ct.grid.shape)
    out = np.zeros(region.shape, dtype=bool)
    out[relative_slices(near, region)] = tissue.body_mask(ct.crop_to(near))
    return out


def search_space(
    ct: Image,
    targets_mm: FloatArray,
    target_name: str,
    *,
    constraints: TrajectoryConstraints,
    ranking: TrajectoryRanking,
    body: Structure | Image | None = None,
    body_everywhere: bool = False,
) -> SearchSpace:
    """The boxes ``W`` and ``R`` of a search, with the body on ``R``.

    Parameters
    ----------
    ct : Image
    targets_mm : numpy.ndarray, shape (T, 3)
    target_name : str
    constraints : TrajectoryConstraints
        Sets the needle length (``W``) and the clearances (padding of ``R``).
    ranking : TrajectoryRanking
        Its saturation distance pads ``R``.
    body : Structure or Image, optional
        The body outline; the automatic one from HU when omitted.
    body_everywhere : bool
        Compute the automatic body on all of ``R`` (needed when tissue classes are
        avoided, since they are taken inside the body), not only around ``W``.

    Returns
    -------
    SearchSpace

    Raises
    ------
    GeometryError
        If the body is empty around the target or a target point lies outside it.
    """
    grid = ct.grid
    sp = grid.spacing_ijk_mm
    t_ijk = grid.mm_to_index(targets_mm)
    window = box_around(grid, t_ijk, constraints.max_length_mm)
    pad_mm = (
        constraints.max_clearance_mm
        + constraints.extent_mm(grid)
        + ranking.saturation_mm
        + 2.0 * float(sp.max())
    )
    pad_ijk = np.ceil(pad_mm / sp).astype(np.int64) + 1
    region = window.padded(pad_ijk[::-1].tolist(), within=grid.shape)
    body_r = _body_on_region(ct, body, window, region, body_everywhere)
    if not body_r.any():
        raise GeometryError("the body mask is empty around the target: check the body and CT")
    space = SearchSpace(
        ct=ct,
        targets_mm=targets_mm,
        target_name=target_name,
        window=window,
        region=region,
        pad_ijk=pad_ijk,
        body=body_r,
    )
    t_vox = np.rint(space.targets_r).astype(np.int64)
    if not np.all(body_r[t_vox[:, 2], t_vox[:, 1], t_vox[:, 0]]):
        raise GeometryError(
            f"target point(s) {np.round(targets_mm, 1).tolist()} lie outside the body outline"
        )
    return space


# ============================================================================ candidates
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Candidates:
    """Candidate paths: every skin entry paired with every target point.

    Parameters
    ----------
    starts : numpy.ndarray, shape (N, 3)
        Entries, continuous indices ``(i, j, k)`` of ``R`` (skin voxel centres, possibly
        moved within their slice by a tilt limit).
    ends : numpy.ndarray, shape (N, 3)
        Target points, indices of ``R``.
    target_index : numpy.ndarray of int64, shape (N,)
        Which target point each path aims at.
    codes : numpy.ndarray of int64, shape (N,)
        0 while a path passes every constraint tested so far, else the code of the first
        that failed (see :func:`rtplan.guidance._criteria.reason_strings`).
    """

    starts: FloatArray
    ends: FloatArray
    target_index: IntArray
    codes: IntArray

    @property
    def n(self) -> int:
        """Number of candidate paths."""
        return int(self.starts.shape[0])


def candidate_paths(space: SearchSpace, max_length_mm: float) -> Candidates:
    """Every body-surface voxel of ``W`` paired with every target point, all untested.

    Parameters
    ----------
    space : SearchSpace
    max_length_mm : float
        Only used in the error message.

    Returns
    -------
    Candidates
        Entries in ``(k, j, i)`` scan order of the skin voxels, each repeated for the
        target points; codes all 0.

    Raises
    ------
    TrajectoryError
        If there is no skin in ``W``.
    """
    surface = geometry.boundary_mask(space.body, outside_is_set=True)
    in_w = np.zeros(space.region.shape, dtype=bool)
    in_w[relative_slices(space.window, space.region)] = True
    kji = np.argwhere(surface & in_w)
    entries = kji[:, ::-1].astype(np.float64)
    targets_r = space.targets_r
    n_e, n_t = entries.shape[0], targets_r.shape[0]
    if n_e == 0:
        raise TrajectoryError(
            f"no skin within {max_length_mm:g} mm of the target: raise max_length_mm or "
            "check the body outline"
        )
    t_index = np.tile(np.arange(n_t, dtype=np.int64), n_e)
    return Candidates(
        starts=np.repeat(entries, n_t, axis=0),
        ends=targets_r[t_index],
        target_index=t_index,
        codes=np.zeros(n_e * n_t, dtype=np.int64),
    )
