"""Per-slice contour operations with shapely, for users who work on contours.

Each operand's closed contours are grouped by plane and turned into the plane's even-odd
region (a contour inside another is a hole, as DICOM RT-Struct readers interpret them),
repaired with ``shapely.make_valid(method="structure")`` (self-intersecting "bow-tie"
rings split into their lobes, keyhole contours become a polygon with a hole, zero-width
slivers dropped). Operations run plane by plane; results are structures made of contours
only (no mask), one closed contour per exterior and per hole.

The voxel route (:func:`rtplan.geometry.union`, :func:`~rtplan.geometry.expand`...)
and this contour route agree to within the voxel size (tested).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan import _planar
from rtplan.errors import GeometryError, StructureError

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from rtplan.structures import Contour, Structure

__all__ = [
    "contour_buffer",
    "contour_difference",
    "contour_intersection",
    "contour_union",
    "plane_regions",
    "repair_contours",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def _valid_polygons(geom: BaseGeometry) -> BaseGeometry:
    """Polygonal part of a geometry, made valid (lines and points dropped)."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    polys: list[Polygon] = []
    for g in getattr(fixed, "geoms", [fixed]):
        if isinstance(g, Polygon) and not g.is_empty:
            polys.append(g)
        elif isinstance(g, MultiPolygon):
            polys.extend(p for p in g.geoms if not p.is_empty)
    if not polys:
        return Polygon()
    return shapely.union_all(polys) if len(polys) > 1 else polys[0]


def _region(rings: Sequence[FloatArray]) -> BaseGeometry:
    """Even-odd region of rings, each repaired first."""
    import shapely
    from shapely.geometry import Polygon

    region: BaseGeometry = Polygon()
    for ring in rings:
        if ring.shape[0] < 3:
            continue
        poly = _valid_polygons(Polygon(ring))
        region = shapely.symmetric_difference(region, poly)
    return _valid_polygons(region)


def _robust_normal(structure: Structure) -> FloatArray:
    """Plane normal that survives self-intersecting rings (whose signed area may vanish).

    The slice normal of the structure's grid when it has one; else the area-weighted
    normal of its rings; else, when every ring encloses zero signed area (bow ties), the
    normal of the widest triangle spanned by a ring's points.
    """
    if structure.grid is not None:
        return np.asarray(structure.grid.slice_normal, dtype=np.float64)
    try:
        return _planar.stack_normal(structure.closed_contours)
    except GeometryError:
        pass
    best = np.zeros(3)
    for c in structure.closed_contours:
        p = c.points_mm
        far = p[int(np.argmax(np.linalg.norm(p - p[0], axis=1)))] - p[0]
        cross = np.cross(far, p - p[0])
        k = int(np.argmax(np.linalg.norm(cross, axis=1)))
        if np.linalg.norm(cross[k]) > np.linalg.norm(best):
            best = cross[k]
    norm = float(np.linalg.norm(best))
    if norm == 0:
        raise GeometryError(f"structure {structure.name!r}: contours are degenerate (collinear)")
    n = best / norm
    return n if n[int(np.argmax(np.abs(n)))] > 0 else -n


def plane_regions(
    structure: Structure, normal: FloatArray | None = None
) -> tuple[_planar.PlaneStack, list[BaseGeometry]]:
    """The repaired even-odd region of each contour plane of a structure.

    Parameters
    ----------
    structure : Structure
        With closed contours.
    normal : numpy.ndarray, shape (3,), optional
        Plane normal to use (to match another structure's planes).

    Returns
    -------
    stack : PlaneStack
        Planes (normal, in-plane basis, offsets, slab thickness).
    regions : list of shapely geometries
        One per plane, in ``(u, v)`` plane coordinates, mm.

    Raises
    ------
    StructureError
        If the structure has no closed contours.
    """
    if not structure.closed_contours:
        raise StructureError(
            f"structure {structure.name!r} has no closed contours; contour operations need "
            "contours (use the voxel route, e.g. rtplan.geometry.union, for masks)"
        )
    if normal is None:
        normal = _robust_normal(structure)
    stack = _planar.plane_stack(
        structure.closed_contours, structure.slice_thickness_mm, normal=normal
    )
    regions: list[BaseGeometry] = []
    closed = structure.closed_contours
    offs = np.array([float(np.mean(c.points_mm @ stack.normal)) for c in closed])
    for off in stack.offsets_mm:
        rings = [
            stack.to_2d(c.points_mm)
            for c, o in zip(closed, offs, strict=True)
            if abs(o - off) <= _planar.PLANE_TOL_MM
        ]
        regions.append(_region(rings))
    return stack, regions


def _to_contours(
    region: BaseGeometry, stack: _planar.PlaneStack, offset_mm: float
) -> list[Contour]:
    from shapely.geometry import Polygon

    from rtplan.structures import Contour, ContourType

    out: list[Contour] = []
    for poly in getattr(region, "geoms", [region]):
        if not isinstance(poly, Polygon) or poly.is_empty:
            continue
        for ring in (poly.exterior, *poly.interiors):
            uv = np.asarray(ring.coords, dtype=np.float64)[:-1]
            if uv.shape[0] < 3:
                continue
            out.append(
                Contour(
                    points_mm=stack.to_3d(uv, offset_mm),
                    geometric_type=ContourType.CLOSED_PLANAR,
                )
            )
    return out


def _rebuild(
    like: Structure,
    stack: _planar.PlaneStack,
    offsets: Sequence[float],
    regions: Sequence[BaseGeometry],
    name: str,
) -> Structure:
    contours: list[Contour] = []
    for off, reg in zip(offsets, regions, strict=True):
        contours.extend(_to_contours(reg, stack, off))
    return replace(
        like,
        name=name[:64],
        number=0,
        contours=tuple(contours),
        mask_image=None,
        slice_thickness_mm=stack.thickness_mm or like.slice_thickness_mm,
        generation="SEMIAUTOMATIC",
    )


def repair_contours(structure: Structure, *, name: str | None = None) -> Structure:
    """Valid contours with the same even-odd region, plane by plane.

    Self-intersecting rings are split into their lobes (each lobe's area is kept, as
    the even-odd rule counts it), keyhole contours become an outer contour plus a hole
    contour, zero-area slivers and duplicate points are dropped.

    Parameters
    ----------
    structure : Structure
        With closed contours.
    name : str, optional
        Default: the structure's name.

    Returns
    -------
    Structure
        Contours only (no mask), valid polygons one ring each.
    """
    stack, regions = plane_regions(structure)
    return _rebuild(structure, stack, list(stack.offsets_mm), regions, name or structure.name)


def contour_buffer(
    structure: Structure, distance_mm: float, *, quad_segs: int = 16, name: str | None = None
) -> Structure:
    """Grow (or, negative, shrink) every plane's region by ``distance_mm`` in its plane.

    A 2D margin: nothing is added above or below the existing planes.

    Parameters
    ----------
    structure : Structure
        With closed contours.
    distance_mm : float
        In-plane margin, mm; negative shrinks.
    quad_segs : int
        Segments per quarter circle of the round joins.
    name : str, optional
        Default like ``"PTV buffer 5mm"``.

    Returns
    -------
    Structure
        Contours only.
    """
    if not np.isfinite(distance_mm):
        raise GeometryError(f"distance_mm must be finite, got {distance_mm}")
    stack, regions = plane_regions(structure)
    grown = [_valid_polygons(r.buffer(distance_mm, quad_segs=quad_segs)) for r in regions]
    label = name or f"{structure.name} buffer {distance_mm:g}mm"
    return _rebuild(structure, stack, list(stack.offsets_mm), grown, label)


def _pairwise(
    a: Structure,
    b: Structure,
    op: Callable[[BaseGeometry, BaseGeometry], BaseGeometry],
    keep_a_only: bool,
    keep_b_only: bool,
    name: str,
) -> Structure:
    from shapely.geometry import Polygon

    sa, ra = plane_regions(a)
    sb, rb = plane_regions(b, normal=sa.normal)
    # express b's regions in a's plane basis (same normal, possibly rotated basis)
    if not (np.allclose(sa.u, sb.u) and np.allclose(sa.v, sb.v)):
        raise GeometryError(
            f"contours of {a.name!r} and {b.name!r} lie in differently oriented planes"
        )
    tol = _planar.PLANE_TOL_MM
    offsets: list[float] = []
    regions: list[BaseGeometry] = []
    used_b: set[int] = set()
    for off, reg in zip(sa.offsets_mm, ra, strict=True):
        j = int(np.argmin(np.abs(sb.offsets_mm - off)))
        if abs(float(sb.offsets_mm[j]) - off) <= tol:
            used_b.add(j)
            regions.append(_valid_polygons(op(reg, rb[j])))
        elif keep_a_only:
            regions.append(reg)
        else:
            regions.append(Polygon())
        offsets.append(float(off))
    if keep_b_only:
        for j, (off, reg) in enumerate(zip(sb.offsets_mm, rb, strict=True)):
            if j not in used_b:
                offsets.append(float(off))
                regions.append(reg)
    return _rebuild(a, sa, offsets, regions, name)


def contour_union(a: Structure, b: Structure, *, name: str | None = None) -> Structure:
    """Plane-by-plane union of two contour structures (planes of either are kept).

    Parameters
    ----------
    a, b : Structure
        With closed contours in parallel planes.
    name : str, optional
        Default ``"a|b"``.

    Returns
    -------
    Structure
        Contours only.
    """
    import shapely

    return _pairwise(a, b, shapely.union, True, True, name or f"{a.name}|{b.name}")


def contour_intersection(a: Structure, b: Structure, *, name: str | None = None) -> Structure:
    """Plane-by-plane intersection (planes present in both only).

    Parameters
    ----------
    a, b : Structure
    name : str, optional
        Default ``"a&b"``.

    Returns
    -------
    Structure
    """
    import shapely

    return _pairwise(a, b, shapely.intersection, False, False, name or f"{a.name}&{b.name}")


def contour_difference(a: Structure, b: Structure, *, name: str | None = None) -> Structure:
    """Plane-by-plane difference ``a - b`` (``a``'s planes).

    Parameters
    ----------
    a, b : Structure
    name : str, optional
        Default ``"a-b"``.

    Returns
    -------
    Structure
    """
    import shapely

    return _pairwise(a, b, shapely.difference, True, False, name or f"{a.name}-{b.name}")
