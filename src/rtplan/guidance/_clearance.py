"""Clearance to avoided structures: their masks, distance maps, and exact distances.

Each avoided structure or tissue class is taken as its voxel mask on the CT grid (voxel
centres inside, as :meth:`rtplan.Structure.mask` rasterises it). The clearance of a path
is the smallest distance from the segment *entry -> target* to a voxel centre of that
mask.

* :func:`resolve_avoided`: the avoided items as masks on the search region ``R``, with the
  clearance each must keep.
* :func:`distance_maps`: the squared exact Euclidean distance to each mask
  (:func:`rtplan.geometry.distance_map`, spacing in mm) on the mask's bounding box padded
  by the search padding, flattened for the compiled segment test
  (:mod:`rtplan.guidance._search_kernels`), which turns them into a *proven lower bound* of
  the distance along whole segments; :func:`with_bone_maps` adds the maps of bone near
  the target used for the cortex incidence.
* :func:`exact_clearance_mm`: the exact distance from a segment to a mask's voxel centres,
  reported for the returned paths.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from rtplan import geometry, tissue
from rtplan.errors import StructureError, TrajectoryError
from rtplan.grid import Grid, IndexBox
from rtplan.guidance._candidates import SearchSpace, mask_of
from rtplan.guidance._criteria import TrajectoryConstraints
from rtplan.image import Image
from rtplan.structures import Structure

__all__ = [
    "AvoidItem",
    "Avoided",
    "DistanceMaps",
    "distance_maps",
    "exact_clearance_mm",
    "resolve_avoided",
    "with_bone_maps",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: What may be avoided: a structure, a boolean mask image, or a tissue class name.
AvoidItem = Structure | Image | str


# ============================================================================ exact distances
def _segment_point_distances(a: FloatArray, b: FloatArray, pts: FloatArray) -> FloatArray:
    """Euclidean distances from points ``(N, 3)`` to the segment ``a``-``b`` (same frame)."""
    d = b - a
    dd = float(d @ d)
    if dd == 0.0:
        return np.asarray(np.linalg.norm(pts - a, axis=1))
    t = np.clip((pts - a) @ d / dd, 0.0, 1.0)
    proj = a + t[:, np.newaxis] * d
    return np.asarray(np.linalg.norm(pts - proj, axis=1))


def exact_clearance_mm(
    mask: BoolArray,
    grid: Grid,
    entry_mm: npt.ArrayLike,
    target_mm: npt.ArrayLike,
    *,
    hint_mm: float = 0.0,
) -> float:
    """Exact smallest distance from a segment to the voxel centres of a mask.

    Searches the voxels of growing boxes around the segment until the nearest centre is
    proven to lie inside the box searched.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape grid.shape
        The voxels, axes ``(k, j, i)``.
    grid : Grid
        The mask's grid.
    entry_mm, target_mm : array_like, shape (3,)
        Segment ends, LPS mm.
    hint_mm : float
        A guess of the distance (the first box searched reaches that far); any value
        gives the exact result, a good one saves passes.

    Returns
    -------
    float
        Distance in mm; ``inf`` for an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import Grid
    >>> from rtplan.guidance import exact_clearance_mm
    >>> g = Grid(shape=(1, 5, 5), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    >>> mask = np.zeros(g.shape, dtype=bool)
    >>> mask[0, 4, 1] = True  # the voxel centred at (1, 4, 0) mm
    >>> exact_clearance_mm(mask, g, [0.0, 0.0, 0.0], [4.0, 0.0, 0.0])
    4.0
    """
    sp = grid.spacing_ijk_mm
    ends = grid.mm_to_index(np.stack([np.asarray(entry_mm), np.asarray(target_mm)]))
    a_s, b_s = ends[0] * sp, ends[1] * sp  # scaled index frame: a rotation of LPS
    n = np.asarray(grid.shape_ijk, dtype=np.int64)
    radius = max(float(np.max(sp)), float(hint_mm))
    while True:
        r = radius / sp
        lo = np.clip(np.floor(ends.min(axis=0) - r).astype(np.int64), 0, n)
        hi = np.clip(np.ceil(ends.max(axis=0) + r).astype(np.int64) + 1, 0, n)
        sub = mask[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]
        idx = np.argwhere(sub)
        covers_all = bool(np.all(lo == 0) and np.all(hi == n))
        if idx.size:
            pts = (idx[:, ::-1] + lo) * sp
            d = float(_segment_point_distances(a_s, b_s, pts).min())
            if d <= radius or covers_all:
                return d
            radius = d  # every centre closer than d lies in the box of radius d
            continue
        if covers_all:
            return math.inf
        radius *= 2.0


def tight_mask(mask: BoolArray, grid: Grid) -> tuple[BoolArray, Grid] | None:
    """A mask cropped to the bounding box of its voxels, with its grid; None if empty."""
    box = IndexBox.from_mask(mask)
    if box is None:
        return None
    return mask[box.slices], grid.crop_to(box)


# ============================================================================ avoided items
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Avoided:
    """One avoided structure or tissue class of a search.

    Parameters
    ----------
    name : str
        Its name in the results (``clearance_mm`` keys, ``"clearance:<name>"`` verdicts).
    required_mm : float
        Clearance the search must prove, mm (with the voxel extent added when asked).
    mask_r : numpy.ndarray of bool
        The mask on the search region ``R``.
    full_mask : numpy.ndarray of bool or None
        The mask on the whole CT grid, when it is known there (structures, images).
    """

    name: str
    required_mm: float
    mask_r: BoolArray
    full_mask: BoolArray | None

    def tight(self, space: SearchSpace) -> tuple[BoolArray, Grid] | None:
        """The mask cropped to its voxels with its grid (all of it, not only ``R``)."""
        if self.full_mask is not None:
            return tight_mask(self.full_mask, space.grid)
        return tight_mask(self.mask_r, space.region_grid)


def _avoid_names(avoid: Sequence[AvoidItem]) -> list[str]:
    names: list[str] = []
    for n, item in enumerate(avoid):
        if isinstance(item, Structure):
            name = item.name
        elif isinstance(item, Image):
            name = item.name or f"mask{n + 1}"
        elif isinstance(item, str):
            name = item
        else:
            raise StructureError(
                f"avoid item {n} is a {type(item).__name__}; give a Structure, a boolean "
                "mask Image, or a tissue class name ('bone', 'cortical_bone', 'lung'...)"
            )
        if name in names:
            raise StructureError(f"avoided structure {name!r} is listed twice")
        names.append(name)
    return names


class _TissueMasks:
    """Tissue-class masks on ``R``, inside the body; the classification is done once."""

    def __init__(self, space: SearchSpace) -> None:
        self.crop = space.ct.crop_to(space.region)
        self.body = space.body
        self._labels: npt.NDArray[np.integer] | None = None

    def mask(self, name: str) -> BoolArray:
        if name.strip().lower() == "bone":
            return np.asarray(tissue.bone_mask(self.crop, self.body) & self.body)
        cls = tissue.TissueClass.parse(name)
        if self._labels is None:
            self._labels = np.asarray(tissue.classify(self.crop, warn_metal=False).array)
        return np.asarray((self._labels == cls.value) & self.body)


def resolve_avoided(
    space: SearchSpace, avoid: Sequence[AvoidItem], constraints: TrajectoryConstraints
) -> list[Avoided]:
    """The avoided items as masks on the search region, with their required clearances.

    Parameters
    ----------
    space : SearchSpace
    avoid : sequence of Structure, Image or str
        Structures, boolean mask images on any grid, or tissue classes inside the body:
        ``"bone"`` (:func:`rtplan.tissue.bone_mask`, marrow included) or a
        :class:`rtplan.tissue.TissueClass` name.
    constraints : TrajectoryConstraints
        The clearances (and whether voxels count as boxes).

    Returns
    -------
    list of Avoided
        In the order of ``avoid``.

    Raises
    ------
    StructureError
        If an item is of the wrong type, listed twice, empty, or lacks a clearance.
    """
    names = _avoid_names(avoid)
    required = constraints.clearances_mm(names)
    extra = constraints.extent_mm(space.grid)
    tissues: _TissueMasks | None = None
    out: list[Avoided] = []
    for name, item in zip(names, avoid, strict=True):
        full: BoolArray | None = None
        if isinstance(item, str):
            tissues = tissues or _TissueMasks(space)
            mask_r = tissues.mask(item)
        else:
            full = mask_of(item, space.grid, "avoided structure")
            mask_r = full[space.region.slices]
        out.append(
            Avoided(name=name, required_mm=required[name] + extra, mask_r=mask_r, full_mask=full)
        )
    return out


def check_targets_clear(space: SearchSpace, avoided: Sequence[Avoided]) -> None:
    """Refuse a search whose target point lies closer to an avoided item than its clearance.

    Raises
    ------
    TrajectoryError
        Naming the item, the distance and the clearance.
    """
    region_grid = space.region_grid
    for av in avoided:
        if not av.mask_r.any():
            continue
        worst = min(exact_clearance_mm(av.mask_r, region_grid, tp, tp) for tp in space.targets_mm)
        if worst < av.required_mm:
            raise TrajectoryError(
                f"the target point lies {worst:.1f} mm from avoided structure {av.name!r}, "
                f"closer than the {av.required_mm:.1f} mm clearance asked: no path can keep "
                "it; lower its clearance, remove it from avoid, or give target_mm"
            )


# ============================================================================ distance maps
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class DistanceMaps:
    """Squared-distance boxes for the compiled segment test, flattened and concatenated.

    Maps ``0 .. n_constraints - 1`` belong to the avoided items (in their order; an item
    absent from ``R`` has an empty box that never binds); an optional pair after them
    serves the cortex incidence: the squared distance to bone (``bone_map``) and a smooth
    signed distance to it (``normal_map``).

    Parameters
    ----------
    maps : numpy.ndarray of float64, shape (M,)
    start : numpy.ndarray of int64, shape (A,)
        Start of each map in ``maps``.
    shape : numpy.ndarray of int64, shape (A, 3)
        ``(nk, nj, ni)`` of each map.
    offset : numpy.ndarray, shape (A, 3)
        Index ``(i, j, k)`` of each map's first voxel in ``R``.
    sat2 : numpy.ndarray, shape (A,)
        Lower bound on the squared distance outside each box, mm².
    req2 : numpy.ndarray, shape (A,)
        Squared clearance of each constraint map, mm² (-1 for none).
    present : tuple of bool
        Per avoided item, whether it has voxels in ``R``.
    bone_map, normal_map : int
        Indices of the bone maps, -1 when absent.
    """

    maps: FloatArray
    start: IntArray
    shape: IntArray
    offset: FloatArray
    sat2: FloatArray
    req2: FloatArray
    present: tuple[bool, ...]
    bone_map: int = -1
    normal_map: int = -1

    @property
    def n_constraints(self) -> int:
        """Number of constraint maps (one per avoided item)."""
        return len(self.present)


def _padded_box(mask: BoolArray, pad_kji: npt.ArrayLike) -> IndexBox | None:
    box = IndexBox.from_mask(mask)
    return None if box is None else box.padded(np.asarray(pad_kji).tolist(), within=mask.shape)


def distance_maps(avoided: Sequence[Avoided], space: SearchSpace) -> DistanceMaps:
    """Squared exact distance to each avoided mask on its bounding box padded by the search padding.

    Outside a box every voxel of its mask is farther than the padding, which bounds the
    distance there (``sat2``).

    Parameters
    ----------
    avoided : sequence of Avoided
    space : SearchSpace

    Returns
    -------
    DistanceMaps
        Without bone maps.
    """
    sp = space.grid.spacing_ijk_mm
    chunks: list[FloatArray] = []
    start: list[int] = []
    shape: list[tuple[int, int, int]] = []
    offset: list[tuple[float, float, float]] = []
    sat2: list[float] = []
    req2: list[float] = []
    present: list[bool] = []
    pos = 0
    for av in avoided:
        box = _padded_box(av.mask_r, space.pad_ijk[::-1])
        present.append(box is not None)
        if box is None:
            logger.info("avoided %r: absent near the target, no constraint", av.name)
            # an empty box that always returns the saturation value and never binds
            start.append(0)
            shape.append((0, 0, 0))
            offset.append((0.0, 0.0, 0.0))
            sat2.append(math.inf)
            req2.append(-1.0)
            continue
        d = geometry.distance_map(av.mask_r[box.slices], tuple(sp[::-1]))
        chunks.append((d * d).ravel())
        start.append(pos)
        pos += d.size
        shape.append(box.shape)
        offset.append(box.lower_ijk())
        sat2.append(float(np.min(space.pad_ijk * sp)) ** 2)
        req2.append(av.required_mm**2)
    return DistanceMaps(
        maps=np.ascontiguousarray(np.concatenate(chunks) if chunks else np.zeros(1)),
        start=np.asarray(start, dtype=np.int64).reshape(-1),
        shape=np.asarray(shape, dtype=np.int64).reshape(-1, 3),
        offset=np.asarray(offset, dtype=np.float64).reshape(-1, 3),
        sat2=np.asarray(sat2, dtype=np.float64).reshape(-1),
        req2=np.asarray(req2, dtype=np.float64).reshape(-1),
        present=tuple(present),
    )


def with_bone_maps(
    maps: DistanceMaps, bone: BoolArray, offset_ijk: IntArray, spacing_ijk_mm: FloatArray
) -> DistanceMaps:
    """Add two maps of bone: squared distance (inside test) and smooth signed distance.

    The gradient of the second is the cortex normal. The signed distance (outside minus
    inside distance, mm) is smoothed with a Gaussian of two voxels, so that its gradient
    follows the surface rather than the voxel staircase (on a voxelised 12 mm sphere the
    normal is then within 2 degrees of the radius).

    Parameters
    ----------
    maps : DistanceMaps
    bone : numpy.ndarray of bool
        Bone near the target, on a box of ``R`` (not empty).
    offset_ijk : numpy.ndarray of int64, shape (3,)
        Index ``(i, j, k)`` in ``R`` of the first voxel of ``bone``.
    spacing_ijk_mm : numpy.ndarray, shape (3,)
        Voxel spacing ``(di, dj, dk)``, mm.

    Returns
    -------
    DistanceMaps
    """
    from scipy import ndimage

    box = _padded_box(bone, 4)
    assert box is not None
    signed = geometry.distance_map(bone[box.slices], tuple(spacing_ijk_mm[::-1]), signed=True)
    outside = np.maximum(signed, 0.0)
    d2 = outside * outside
    sdf = np.asarray(ndimage.gaussian_filter(signed, sigma=2.0), dtype=np.float64)
    first = maps.maps.size
    off = np.asarray(box.lower_ijk(), dtype=np.float64) + offset_ijk
    n = maps.start.size
    return replace(
        maps,
        maps=np.ascontiguousarray(np.concatenate([maps.maps, d2.ravel(), sdf.ravel()])),
        start=np.append(maps.start, [first, first + d2.size]).astype(np.int64),
        shape=np.vstack([maps.shape, [d2.shape, sdf.shape]]).astype(np.int64),
        offset=np.vstack([maps.offset, [off, off]]),
        sat2=np.append(maps.sat2, [math.inf, math.inf]),
        req2=np.append(maps.req2, [-1.0, -1.0]),
        bone_map=n,
        normal_map=n + 1,
    )
