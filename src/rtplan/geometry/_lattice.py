"""Working grids for geometry: lattices, bounding boxes, masks and fields on sub-boxes.

A *lattice* is the infinite voxel lattice of a :class:`~rtplan.Grid` (its spacing,
direction and the phase of its origin). Geometry runs on a *box*: a finite grid on that
lattice, possibly reaching beyond the original grid, just large enough for the operation
(bounding box of the inputs plus the margin). Results are pasted back on the structure's
own grid, extended where they grow beyond it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError, StructureError
from rtplan.grid import Grid, IndexBox
from rtplan.image import Image

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = [
    "IntArray",
    "extend_to",
    "field_on",
    "index_bounds",
    "lattice_box",
    "make_result",
    "mask_on",
    "offset_on",
    "paste",
    "same_lattice",
    "working_lattice",
]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_INDEX_TOL = 1e-3  # voxels: origins closer than this to a lattice point are on it
DEFAULT_IN_PLANE_MM = 1.0  # spacing of the lattice made for contours without a grid


def offset_on(lattice: Grid, other: Grid) -> IntArray | None:
    """Integer ``(i, j, k)`` index of ``other``'s first voxel on ``lattice``, if aligned.

    Parameters
    ----------
    lattice, other : Grid

    Returns
    -------
    numpy.ndarray of int64, shape (3,), or None
        ``None`` unless both grids have the same spacing and direction and ``other``'s
        voxel centres fall on ``lattice``'s.
    """
    if not np.allclose(lattice.spacing_mm, other.spacing_mm, rtol=1e-6, atol=1e-6):
        return None
    if not np.allclose(lattice.direction, other.direction, atol=1e-6):
        return None
    idx = lattice.mm_to_index(np.asarray(other.origin_mm))
    r = np.rint(idx)
    if np.any(np.abs(idx - r) > _INDEX_TOL):
        return None
    return r.astype(np.int64)


def same_lattice(a: Grid, b: Grid) -> bool:
    """Whether two grids share spacing, direction and voxel-centre positions."""
    return offset_on(a, b) is not None


def lattice_box(lattice: Grid, lower_ijk: npt.ArrayLike, upper_ijk: npt.ArrayLike) -> Grid:
    """The grid of lattice voxels ``lower <= (i, j, k) < upper`` (may leave ``lattice``).

    Parameters
    ----------
    lattice : Grid
    lower_ijk, upper_ijk : array_like of int, shape (3,)
        Index bounds in ``(i, j, k)`` order; upper exclusive.

    Returns
    -------
    Grid
    """
    lo = np.asarray(lower_ijk, dtype=np.int64)
    hi = np.asarray(upper_ijk, dtype=np.int64)
    n = np.maximum(hi - lo, 1)
    origin = lattice.index_to_mm(lo.astype(np.float64))
    return Grid(
        shape=(int(n[2]), int(n[1]), int(n[0])),
        spacing_mm=lattice.spacing_mm,
        origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=lattice.direction,
    )


def _contour_lattice(structure: Structure) -> Grid:
    """A lattice for a contour structure without a grid: slices on its contour planes."""
    from rtplan import _planar

    if not structure.closed_contours:
        raise StructureError(
            f"structure {structure.name!r} has no grid and no closed contours; pass grid=..."
        )
    stack = _planar.plane_stack(structure.closed_contours, structure.slice_thickness_mm)
    dk = stack.thickness_mm if stack.thickness_mm > 0 else DEFAULT_IN_PLANE_MM
    direction = np.stack([stack.u, stack.v, stack.normal], axis=1)
    # voxel edges on whole millimetres in-plane: round-number contour vertices then never
    # sit exactly on a voxel centre
    half = 0.5 * DEFAULT_IN_PLANE_MM
    origin = stack.normal * float(stack.offsets_mm[0]) + half * (stack.u + stack.v)
    logger.info(
        "structure %r has no grid: using %.3g mm in-plane and %.3g mm slices on its planes",
        structure.name,
        DEFAULT_IN_PLANE_MM,
        dk,
    )
    return Grid(
        shape=(1, 1, 1),
        spacing_mm=(dk, DEFAULT_IN_PLANE_MM, DEFAULT_IN_PLANE_MM),
        origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=direction,
    )


def working_lattice(*structures: Structure, grid: Grid | None = None) -> Grid:
    """The grid whose lattice an operation runs on.

    ``grid`` if given, else the first structure's :attr:`~rtplan.Structure.grid` (its
    mask grid or reference grid), else the next one's, else a lattice made on the first
    structure's contour planes (1 mm in-plane, the slice thickness across).

    Parameters
    ----------
    *structures : Structure
    grid : Grid, optional

    Returns
    -------
    Grid
    """
    if grid is not None:
        return grid
    for s in structures:
        if s.grid is not None:
            return s.grid
    for s in structures:
        if s.closed_contours:
            return _contour_lattice(s)
    names = ", ".join(repr(s.name) for s in structures)
    raise StructureError(f"structures {names} enclose no volume (no mask, no closed contours)")


def index_bounds(structure: Structure, lattice: Grid) -> tuple[IntArray, IntArray] | None:
    """Lattice index box ``[lower, upper)`` holding every voxel centre inside ``structure``.

    Parameters
    ----------
    structure : Structure
    lattice : Grid

    Returns
    -------
    tuple of two numpy.ndarray of int64, shape (3,), or None
        ``(i, j, k)`` bounds; ``None`` for a structure without volume.

    Raises
    ------
    GeometryError
        If contours are not parallel to the lattice's slices.
    """
    m = structure.mask_image
    if m is not None:
        bb = m.bounding_box()
        if bb is None:
            return None
        lo_kji = np.asarray(bb.lower, dtype=np.int64)
        hi_kji = np.asarray(bb.upper, dtype=np.int64) - 1
        off = offset_on(lattice, m.grid)
        if off is not None:
            return off + lo_kji[::-1], off + hi_kji[::-1] + 1
        corners = np.array(
            [[a, b, c] for a in (lo_kji[2], hi_kji[2]) for b in (lo_kji[1], hi_kji[1])
             for c in (lo_kji[0], hi_kji[0])],
            dtype=np.float64,
        )  # fmt: skip
        pts = lattice.mm_to_index(m.grid.index_to_mm(corners))
        pad = np.asarray(m.grid.spacing_ijk_mm) / np.asarray(lattice.spacing_ijk_mm)
        lo = np.floor(pts.min(axis=0) - pad).astype(np.int64)
        hi = np.ceil(pts.max(axis=0) + pad).astype(np.int64) + 1
        return lo, hi
    closed = structure.closed_contours
    if not closed:
        return None
    pts = lattice.mm_to_index(np.vstack([c.points_mm for c in closed]))
    lo = np.floor(pts.min(axis=0)).astype(np.int64)
    hi = np.ceil(pts.max(axis=0)).astype(np.int64) + 1
    # each plane stands for a slab of the slice thickness
    if structure.slice_thickness_mm:
        half = 0.5 * structure.slice_thickness_mm / lattice.spacing_mm[0]
    else:
        from rtplan.geometry.rasterize import slice_polygons

        _, _, half = slice_polygons(closed, lattice, None, structure.name)
    lo[2] = int(np.floor(pts[:, 2].min() - half))
    hi[2] = int(np.ceil(pts[:, 2].max() + half)) + 1
    return lo, hi


def paste(src: BoolArray, src_grid: Grid, box: Grid) -> BoolArray | None:
    """Copy a mask on an aligned grid into ``box`` (zeros elsewhere); ``None`` if unaligned."""
    off = offset_on(box, src_grid)
    if off is None:
        return None
    out = np.zeros(box.shape, dtype=bool)
    o = off[::-1]  # (k, j, i) offset of src in box
    dst_lo = np.maximum(o, 0)
    dst_hi = np.minimum(o + np.asarray(src.shape), np.asarray(box.shape))
    if np.any(dst_hi <= dst_lo):
        return out
    src_lo = dst_lo - o
    src_hi = dst_hi - o
    out[tuple(slice(int(a), int(b)) for a, b in zip(dst_lo, dst_hi, strict=True))] = src[
        tuple(slice(int(a), int(b)) for a, b in zip(src_lo, src_hi, strict=True))
    ]
    return out


def mask_on(structure: Structure, box: Grid) -> BoolArray:
    """Centre-inside mask of ``structure`` on ``box`` (exact copy when aligned).

    Parameters
    ----------
    structure : Structure
    box : Grid

    Returns
    -------
    numpy.ndarray of bool, shape box.shape
    """
    m = structure.mask_image
    if m is not None:
        pasted = paste(np.asarray(m.array, dtype=bool), m.grid, box)
        if pasted is not None:
            return pasted
    return np.asarray(structure.mask(box), dtype=bool)


def field_on(structure: Structure, box: Grid) -> npt.NDArray[np.float32]:
    """Inside fraction of each voxel of ``box``: partial volumes for contours, 0/1 for masks.

    Its 0.5 level set is the structure's surface: exact for contours (up to the
    sub-sampling), midway between inside and outside voxel centres for masks.

    Parameters
    ----------
    structure : Structure
    box : Grid

    Returns
    -------
    numpy.ndarray of float32 in [0, 1], shape box.shape
    """
    if structure.mask_image is not None:
        return mask_on(structure, box).astype(np.float32)
    return np.asarray(structure.fractional_mask(box), dtype=np.float32)


def extend_to(grid: Grid, lower_ijk: IntArray, upper_ijk: IntArray) -> tuple[Grid, IntArray]:
    """``grid`` grown (never shrunk) to hold lattice indices ``[lower, upper)``.

    Returns
    -------
    tuple of (Grid, numpy.ndarray of int64)
        The grid (``grid`` itself when nothing is added) and the ``(i, j, k)`` index of
        its first voxel on the original grid.
    """
    lo = np.minimum(lower_ijk, 0)
    hi = np.maximum(upper_ijk, np.asarray(grid.shape_ijk, dtype=np.int64))
    if np.all(lo == 0) and np.all(hi == np.asarray(grid.shape_ijk)):
        return grid, np.zeros(3, dtype=np.int64)
    return lattice_box(grid, lo, hi), lo


def make_result(
    mask: BoolArray,
    box: Grid,
    target: Grid | None,
    *,
    name: str,
    like: Structure,
    description: str,
) -> Structure:
    """Structure from a mask computed on ``box``, placed on ``target``'s lattice grid.

    The mask is kept cropped to its bounding box plus one voxel, on ``target``'s lattice
    (it may reach beyond ``target``); ``target`` becomes the structure's reference grid.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape box.shape
    box : Grid
        The grid ``mask`` lives on, on ``target``'s lattice.
    target : Grid or None
        The grid results are reported on (the input structure's grid).
    name : str
        ROI name (cut to the 64 characters DICOM allows).
    like : Structure
        Colour and interpreted type come from it.
    description : str
        ROI description (the operation).

    Returns
    -------
    Structure
    """
    from rtplan.structures import Structure

    bb = IndexBox.from_mask(mask)
    if target is not None and offset_on(target, box) is None:
        raise GeometryError("internal: result box is not on the target grid's lattice")
    if bb is None:  # empty result: keep one voxel's worth of grid, nothing inside
        out_grid = target if target is not None else box
        out = np.zeros(out_grid.shape, dtype=bool)
    else:
        # keep only the bounding box plus one voxel (on the target's lattice): a margin
        # of a PTV on a 512 x 512 x 200 CT holds 0.5 MB instead of 52 MB
        kept = bb.padded(1, within=mask.shape)
        out = mask[kept.slices]
        out_grid = lattice_box(box, kept.lower_ijk(), kept.upper_ijk())
    img = Image(array=out, grid=out_grid, units="1", name=name[:64])
    return Structure.from_mask(
        img,
        name=name[:64],
        color=like.color,
        interpreted_type=like.interpreted_type,
        description=description,
        reference_grid=target if target is not None else out_grid,
    )
