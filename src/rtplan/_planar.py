"""Planar contour stacks: group closed contours by plane, even-odd regions, slab volumes.

A stack of parallel planes, each with the region its closed contours enclose under the
even-odd rule (a contour inside another is a hole; CLOSEDPLANAR_XOR behaves the same).
Each plane stands for a slab of the structure's slice thickness centred on it.

This module sits below :mod:`rtplan.structures` (whose volumes and centroids it computes)
and takes contours by their shape (:class:`PlanarContour`: LPS points and a geometric type
that says whether it is closed), not by importing their class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

__all__ = [
    "PLANE_TOL_MM",
    "PlanarContour",
    "PlaneStack",
    "even_odd_region",
    "newell_normal",
    "plane_basis",
    "plane_stack",
    "stack_normal",
]

PLANE_TOL_MM = 0.05  # contours whose plane offsets differ less than this share a plane
FloatArray = npt.NDArray[np.float64]


class _GeometricType(Protocol):
    @property
    def is_closed(self) -> bool: ...


class PlanarContour(Protocol):
    """What the plane stacks need of a contour (:class:`rtplan.structures.Contour` has it)."""

    @property
    def points_mm(self) -> FloatArray:
        """LPS points, shape (N, 3), mm."""

    @property
    def geometric_type(self) -> _GeometricType:
        """Whether the contour is closed (``geometric_type.is_closed``)."""


def newell_normal(points: FloatArray) -> FloatArray:
    """Unit normal of a closed polygon by Newell's method (robust to concavity).

    Parameters
    ----------
    points : numpy.ndarray, shape (N, 3)

    Returns
    -------
    numpy.ndarray, shape (3,)
        Zero vector if the polygon is degenerate.
    """
    p = points
    q = np.roll(points, -1, axis=0)
    n = np.array(
        [
            np.sum((p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2])),
            np.sum((p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0])),
            np.sum((p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1])),
        ]
    )
    norm = float(np.linalg.norm(n))
    return n / norm if norm > 0 else n


def plane_basis(normal: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Two in-plane unit vectors ``(u, v)`` with ``u x v = normal``.

    For an axial plane (normal +z) these are +x and +y, so 2D coordinates are plain (x, y).
    """
    n = normal / np.linalg.norm(normal)
    ref = np.eye(3)[int(np.argmin(np.abs(n)))] if abs(n[2]) < 0.9 else np.array([1.0, 0, 0])
    u = ref - np.dot(ref, n) * n
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    return u, v


def _canonical(n: FloatArray) -> FloatArray:
    """Flip a normal so its largest component is positive (slices stack increasing)."""
    return n if n[int(np.argmax(np.abs(n)))] > 0 else -n


def stack_normal(contours: Sequence[PlanarContour]) -> FloatArray:
    """The common normal of a set of closed planar contours.

    Raises
    ------
    GeometryError
        If no contour spans an area.
    """
    best: FloatArray | None = None
    best_area = 0.0
    for c in contours:
        pts = c.points_mm
        q = np.roll(pts, -1, axis=0)
        area = 0.5 * float(np.linalg.norm(np.cross(pts, q).sum(axis=0)))
        if area > best_area:
            best_area, best = area, pts
    if best is None or best_area <= 0:
        raise GeometryError("closed contours span no area: cannot find their plane")
    return _canonical(newell_normal(best))


@dataclass(frozen=True, slots=True)
class PlaneStack:
    """Even-odd regions of closed contours, plane by plane.

    Attributes
    ----------
    normal, u, v : numpy.ndarray, shape (3,)
        Plane normal and in-plane basis (LPS).
    offsets_mm : numpy.ndarray, shape (P,)
        Signed distance of each plane from the LPS origin along ``normal``, increasing.
    regions : list of shapely geometries
        The enclosed region of each plane in ``(u, v)`` coordinates, mm.
    thickness_mm : float
        Slab thickness each plane stands for.
    """

    normal: FloatArray
    u: FloatArray
    v: FloatArray
    offsets_mm: FloatArray
    regions: list[BaseGeometry]
    thickness_mm: float

    def areas_mm2(self) -> FloatArray:
        """Enclosed area of each plane, mm²."""
        return np.array([r.area for r in self.regions], dtype=np.float64)

    def volume_mm3(self) -> float:
        """Sum of plane areas times the slab thickness, mm³."""
        return float(self.areas_mm2().sum() * self.thickness_mm)

    def centroid(self) -> FloatArray:
        """Area-weighted centroid of the slabs, LPS mm.

        Raises
        ------
        GeometryError
            If the stack encloses no area.
        """
        areas = self.areas_mm2()
        total = float(areas.sum())
        if total <= 0:
            raise GeometryError("contours enclose no area: no centroid")
        acc = np.zeros(3)
        for area, off, reg in zip(areas, self.offsets_mm, self.regions, strict=True):
            if area <= 0:
                continue
            c = reg.centroid
            acc += area * (c.x * self.u + c.y * self.v + off * self.normal)
        return acc / total

    def to_2d(self, points: FloatArray) -> FloatArray:
        """Project LPS points on the plane basis, shape (N, 2)."""
        return np.stack([points @ self.u, points @ self.v], axis=1)

    def to_3d(self, uv: FloatArray, offset_mm: float) -> FloatArray:
        """Lift ``(u, v)`` points of the plane at ``offset_mm`` to LPS, shape (N, 3)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        return (
            uv[:, :1] * self.u[np.newaxis]
            + uv[:, 1:2] * self.v[np.newaxis]
            + offset_mm * self.normal[np.newaxis]
        )


def even_odd_region(polygons_2d: Sequence[FloatArray]) -> BaseGeometry:
    """The even-odd region of several 2D rings (holes and islands), as one shapely geometry."""
    import shapely
    from shapely.geometry import Polygon

    region: BaseGeometry = Polygon()
    for ring in polygons_2d:
        if ring.shape[0] < 3:
            continue
        poly = shapely.make_valid(Polygon(ring))
        region = shapely.symmetric_difference(region, poly)
    return region


def plane_stack(
    contours: Sequence[PlanarContour],
    slice_thickness_mm: float | None = None,
    *,
    normal: FloatArray | None = None,
) -> PlaneStack:
    """Group closed contours into planes and build each plane's even-odd region.

    Parameters
    ----------
    contours : sequence of PlanarContour
        Closed planar contours, all parallel.
    slice_thickness_mm : float, optional
        Slab thickness per plane; default the median gap between planes (0 for one plane).
    normal : numpy.ndarray, shape (3,), optional
        Plane normal to use (e.g. a grid's slice normal); found from the contours if omitted.

    Returns
    -------
    PlaneStack

    Raises
    ------
    GeometryError
        If a contour is not planar or not parallel to the others.
    """
    closed = [c for c in contours if c.geometric_type.is_closed]
    if not closed:
        raise GeometryError("no closed contours")
    n = stack_normal(closed) if normal is None else np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    u, v = plane_basis(n)
    offs = []
    for c in closed:
        d = c.points_mm @ n
        if float(d.max() - d.min()) > 0.5:
            raise GeometryError(
                f"a contour is not planar or not parallel to the others (spread "
                f"{float(d.max() - d.min()):.2f} mm along the normal {np.round(n, 3).tolist()})"
            )
        offs.append(float(d.mean()))
    order = np.argsort(offs)
    groups: list[tuple[float, list[FloatArray]]] = []
    for idx in order:
        off = offs[idx]
        pts2d = np.stack([closed[idx].points_mm @ u, closed[idx].points_mm @ v], axis=1)
        if groups and abs(off - groups[-1][0]) <= PLANE_TOL_MM:
            groups[-1][1].append(pts2d)
        else:
            groups.append((off, [pts2d]))
    offsets = np.array([g[0] for g in groups])
    if slice_thickness_mm is None:
        thickness = float(np.median(np.diff(offsets))) if len(offsets) > 1 else 0.0
    else:
        thickness = float(slice_thickness_mm)
    regions = [even_odd_region(g[1]) for g in groups]
    return PlaneStack(
        normal=n, u=u, v=v, offsets_mm=offsets, regions=regions, thickness_mm=thickness
    )
