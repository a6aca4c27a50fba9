"""Structures (ROIs): contours in patient LPS mm, with masks computed on demand.

A :class:`Structure` is a value object. It holds what an RT Structure Set holds for one ROI
(number, name, colour, interpreted type, contours of any geometric type) and, for
structures derived on a voxel grid (margins, booleans, automatic segmentation), the exact
voxel mask they were computed as; contours are then regenerated from that mask so the
structure can be written to RT-Struct.

Geometry (rasterisation, margins, booleans, distances, meshes) lives in
:mod:`rtplan.geometry`. The methods of :class:`Structure` that do geometry are a declared
facade over it, as shapely's geometry methods delegate to its functional API: each is one
call, through the one module reference imported at the end of this module. The volume
and centroid of contours come from the plane stacks of :mod:`rtplan._planar`, a layer
below this one.
"""

from __future__ import annotations

import enum
import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan import _planar
from rtplan.errors import GeometryError, StructureError
from rtplan.grid import Grid
from rtplan.image import Image

if TYPE_CHECKING:
    import pyvista

__all__ = ["Contour", "ContourCheck", "ContourType", "Structure", "StructureSet", "check_contours"]

logger = logging.getLogger(__name__)


class ContourType(enum.StrEnum):
    """DICOM Contour Geometric Type (3006,0042)."""

    CLOSED_PLANAR = "CLOSED_PLANAR"
    CLOSEDPLANAR_XOR = "CLOSEDPLANAR_XOR"
    OPEN_PLANAR = "OPEN_PLANAR"
    OPEN_NONPLANAR = "OPEN_NONPLANAR"
    POINT = "POINT"

    @property
    def is_closed(self) -> bool:
        """True for area-enclosing contours (CLOSED_PLANAR, CLOSEDPLANAR_XOR)."""
        return self in (ContourType.CLOSED_PLANAR, ContourType.CLOSEDPLANAR_XOR)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Contour:
    """One DICOM contour: an ordered list of LPS points and its geometric type.

    Parameters
    ----------
    points_mm : array_like, shape (N, 3)
        LPS points, mm. Closed contours are implicitly closed (last point joins the first).
    geometric_type : ContourType or str
        ``CLOSED_PLANAR`` (default), ``CLOSEDPLANAR_XOR``, ``OPEN_PLANAR``,
        ``OPEN_NONPLANAR`` or ``POINT``.
    image_uid : str
        SOP Instance UID of the image the contour was drawn on (ContourImageSequence), if any.

    Raises
    ------
    GeometryError
        If the points are not finite ``(N, 3)``, a closed contour has fewer than 3 points,
        or a POINT contour has more than one point.
    """

    points_mm: npt.NDArray[np.float64]
    geometric_type: ContourType = ContourType.CLOSED_PLANAR
    image_uid: str = ""

    def __post_init__(self) -> None:
        pts = np.array(self.points_mm, dtype=np.float64).reshape(-1, 3)
        if pts.shape[0] == 0 or not np.all(np.isfinite(pts)):
            raise GeometryError("contour points must be a non-empty finite (N, 3) array")
        gtype = ContourType(self.geometric_type)
        if gtype.is_closed and pts.shape[0] < 3:
            raise GeometryError(f"a {gtype} contour needs at least 3 points, got {pts.shape[0]}")
        if gtype is ContourType.POINT and pts.shape[0] != 1:
            raise GeometryError(f"a POINT contour holds exactly 1 point, got {pts.shape[0]}")
        pts.setflags(write=False)
        object.__setattr__(self, "points_mm", pts)
        object.__setattr__(self, "geometric_type", gtype)

    @property
    def n_points(self) -> int:
        """Number of points."""
        return int(self.points_mm.shape[0])

    def __repr__(self) -> str:
        z = self.points_mm[:, 2]
        at = f"z {z[0]:.2f} mm" if np.ptp(z) < 1e-6 else f"z {z.min():.2f} to {z.max():.2f} mm"
        return f"Contour({self.geometric_type.value}, {self.n_points} points, {at})"


#: Two closed contours of one plane whose symmetric difference is at most this fraction of
#: the larger one's area are near duplicates (listed twice, they would cancel by even-odd).
NEAR_DUPLICATE_FRACTION = 0.02
_PLANAR_SPREAD_MM = 0.5  # a closed contour spreading more than this along its normal


@dataclass(frozen=True, slots=True)
class ContourCheck:
    """What :func:`check_contours` kept and what it found.

    Parameters
    ----------
    contours : tuple of Contour
        The contours, duplicates removed and self-crossing rings replaced by their lobes.
    problems : tuple of str
        One sentence per problem found, naming the contour (1-based, in the order given)
        and its plane.
    """

    contours: tuple[Contour, ...]
    problems: tuple[str, ...] = ()


def _signed_area(uv: npt.NDArray[np.float64]) -> float:
    x, y = uv[:, 0], uv[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _contour_normal(contours: Sequence[Contour]) -> npt.NDArray[np.float64] | None:
    """The normal shared by closed contours: area-weighted, or the points' best-fit plane."""
    total = np.zeros(3)
    for c in contours:
        p = c.points_mm
        total += np.cross(p, np.roll(p, -1, axis=0)).sum(axis=0)
    if np.linalg.norm(total) > 1e-9:
        return np.asarray(total / np.linalg.norm(total), dtype=np.float64)
    pts = np.vstack([c.points_mm for c in contours])
    if pts.shape[0] < 3:
        return None
    _, sing, vt = np.linalg.svd(pts - pts.mean(axis=0))
    if sing[1] < 1e-9:  # all points on a line
        return None
    return np.asarray(vt[2], dtype=np.float64)


def _plane_text(offset: float, normal: npt.NDArray[np.float64]) -> str:
    if abs(abs(float(normal[2])) - 1.0) < 1e-6:
        return f"z = {offset * float(np.sign(normal[2])):g} mm"
    return f"the plane {offset:g} mm along {np.round(normal, 3).tolist()}"


def _lobes(contour: Contour, ring: Any, u: Any, v: Any, offset: float) -> list[Contour]:
    """The rings of the even-odd reading of a self-crossing contour, as contours."""
    import shapely
    from shapely.geometry import Polygon

    fixed = shapely.make_valid(Polygon(ring), method="linework")
    polygons = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, Polygon)]
    out: list[Contour] = []
    normal = np.cross(u, v)
    for poly in polygons:
        for r in (poly.exterior, *poly.interiors):
            uv = np.asarray(r.coords, dtype=np.float64)[:-1]
            if uv.shape[0] >= 3 and abs(_signed_area(uv)) > 0.0:
                pts = uv[:, :1] * u + uv[:, 1:2] * v + offset * normal
                out.append(
                    Contour(
                        points_mm=pts,
                        geometric_type=contour.geometric_type,
                        image_uid=contour.image_uid,
                    )
                )
    return out


def _same_ring(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], tol: float) -> bool:
    """Whether two point rings are the same polygon (any start point or direction)."""
    if a.shape != b.shape:
        return False
    start = np.flatnonzero(np.all(np.abs(b - a[0]) <= tol, axis=1))
    for k in start:
        for ring in (np.roll(b, -k, axis=0), np.roll(b[::-1], -(b.shape[0] - 1 - k), axis=0)):
            if np.all(np.abs(ring - a) <= tol):
                return True
    return False


def check_contours(
    contours: Sequence[Contour], *, normal: npt.ArrayLike | None = None
) -> ContourCheck:
    """Find the closed contours that would be read wrongly, and mend what can be mended.

    Two defects of exported structure sets change an ROI silently under the even-odd rule
    that combines the closed contours of a plane:

    * a contour listed twice on a plane (exactly, or within
      :data:`NEAR_DUPLICATE_FRACTION` of its area) cancels itself into a hole or an
      empty slice: one copy is kept;
    * a contour that crosses itself (a "bow tie") encloses an area that depends on the
      reader: it is replaced by the rings of its even-odd reading (the lobes, a polygon
      with holes) and reported with the area read, so that every rtplan function
      (masks, volumes, margins) sees the same region. A ring that only touches itself (a
      keyhole drawing a hole) encloses the same area either way and is kept as drawn.

    Parameters
    ----------
    contours : sequence of Contour
        The contours of one structure; only closed planar ones are checked, the others
        are kept as they are.
    normal : array_like, shape (3,), optional
        The normal of the contour planes (a CT's slice normal); found from the contours
        if omitted.

    Returns
    -------
    ContourCheck
        The contours kept, in order, and one sentence per problem.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.structures import Contour, check_contours
    >>> square = Contour(points_mm=[[0, 0, 5], [10, 0, 5], [10, 10, 5], [0, 10, 5]])
    >>> bow_tie = Contour(points_mm=[[0, 20, 5], [10, 30, 5], [10, 20, 5], [0, 30, 5]])
    >>> checked = check_contours([square, square, bow_tie])
    >>> len(checked.contours)  # one square, two lobes of the bow tie
    3
    >>> for problem in checked.problems:
    ...     print(problem.split(";")[0])
    contour 2 repeats contour 1 on z = 5 mm (exactly)
    contour 3 crosses itself on z = 5 mm (a bow tie)
    """
    closed = [n for n, c in enumerate(contours) if c.geometric_type is ContourType.CLOSED_PLANAR]
    if not closed:
        return ContourCheck(contours=tuple(contours))
    n_vec = (
        _contour_normal([contours[n] for n in closed])
        if normal is None
        else np.asarray(normal, dtype=np.float64)
    )
    if n_vec is None:
        return ContourCheck(contours=tuple(contours))
    n_vec = n_vec / np.linalg.norm(n_vec)
    u, v = _planar.plane_basis(n_vec)
    problems: list[tuple[int, str]] = []
    replaced: dict[int, list[Contour]] = {}
    planes: dict[int, tuple[float, npt.NDArray[np.float64]]] = {}
    for n in closed:
        pts = contours[n].points_mm
        d = pts @ n_vec
        if float(d.max() - d.min()) > _PLANAR_SPREAD_MM:
            continue  # not in a plane of this normal: left to the readers' checks
        offset = float(d.mean())
        uv = np.stack([pts @ u, pts @ v], axis=1)
        planes[n] = (offset, uv)
        lobes = _crossing_lobes(contours[n], uv, u, v, offset)
        if lobes is not None:
            area = sum(
                abs(_signed_area(np.stack([c.points_mm @ u, c.points_mm @ v], 1))) for c in lobes
            )
            problems.append(
                (
                    n,
                    f"contour {n + 1} crosses itself on {_plane_text(offset, n_vec)} (a bow tie); "
                    f"read as its {len(lobes)} lobe(s), {area:.4g} mm2 in all",
                )
            )
            replaced[n] = lobes
    dropped = _duplicates(planes, n_vec, problems)
    kept: list[Contour] = []
    for n, c in enumerate(contours):
        if n in dropped:
            continue
        kept.extend(replaced.get(n, [c]))
    return ContourCheck(contours=tuple(kept), problems=tuple(t for _, t in sorted(problems)))


def _crossing_lobes(
    contour: Contour, uv: npt.NDArray[np.float64], u: Any, v: Any, offset: float
) -> list[Contour] | None:
    """The lobes of a ring that crosses itself; None for simple or self-touching rings."""
    import shapely
    from shapely.geometry import LinearRing, Polygon

    if uv.shape[0] < 4:
        return None
    ring = LinearRing(uv)
    if ring.is_simple:
        return None
    drawn = abs(_signed_area(uv))
    fixed = shapely.make_valid(Polygon(uv), method="linework")
    if abs(fixed.area - drawn) <= 1e-6 * max(fixed.area, 1e-12):
        return None  # touches itself (a keyhole): the same region by any reading
    return _lobes(contour, uv, u, v, offset)


def _duplicates(
    planes: dict[int, tuple[float, npt.NDArray[np.float64]]],
    normal: npt.NDArray[np.float64],
    problems: list[tuple[int, str]],
) -> set[int]:
    """Indices of closed contours that repeat an earlier one of their plane."""
    from shapely.geometry import Polygon

    dropped: set[int] = set()
    order = sorted(planes)
    for i, a in enumerate(order):
        if a in dropped:
            continue
        off_a, uv_a = planes[a]
        for b in order[i + 1 :]:
            off_b, uv_b = planes[b]
            if b in dropped or abs(off_a - off_b) > _planar.PLANE_TOL_MM:
                continue
            lo = np.maximum(uv_a.min(axis=0), uv_b.min(axis=0))
            hi = np.minimum(uv_a.max(axis=0), uv_b.max(axis=0))
            if np.any(lo > hi):
                continue
            area_a, area_b = abs(_signed_area(uv_a)), abs(_signed_area(uv_b))
            if abs(area_a - area_b) > NEAR_DUPLICATE_FRACTION * max(area_a, area_b):
                continue  # their symmetric difference is at least this large
            if _same_ring(uv_a, uv_b, 1e-6):
                how = "exactly"
            else:
                pa, pb = Polygon(uv_a).buffer(0), Polygon(uv_b).buffer(0)
                big = max(pa.area, pb.area)
                if big <= 0 or pa.symmetric_difference(pb).area > NEAR_DUPLICATE_FRACTION * big:
                    continue
                how = f"within {NEAR_DUPLICATE_FRACTION:.0%} of its area"
            dropped.add(b)
            problems.append(
                (
                    b,
                    f"contour {b + 1} repeats contour {a + 1} on {_plane_text(off_a, normal)} "
                    f"({how}); one copy kept (two would cancel by the even-odd rule)",
                )
            )
    return dropped


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Structure:
    """A region of interest in patient coordinates.

    Parameters
    ----------
    name : str
        ROI Name.
    number : int
        ROI Number (0 when not yet assigned; writers number them).
    color : tuple of 3 int
        ROI Display Color, 0-255 RGB.
    interpreted_type : str
        RT ROI Interpreted Type (``"PTV"``, ``"GTV"``, ``"ORGAN"``, ``"EXTERNAL"``,
        ``"AVOIDANCE"``, ``"MARKER"``...), empty if unknown.
    contours : tuple of Contour
        All contours, of any geometric type.
    mask_image : Image or None
        Exact boolean voxel mask, for structures computed on a grid.
    slice_thickness_mm : float or None
        Thickness of the slab each contour plane stands for (usually the CT slice spacing);
        when ``None`` the median gap between contour planes is used.
    reference_grid : Grid or None
        The image grid the contours were drawn on (set by readers from the CT); geometry
        operations on contour structures default to it.
    generation : str
        ROI Generation Algorithm: ``"MANUAL"``, ``"AUTOMATIC"`` or ``"SEMIAUTOMATIC"``.
    description : str
        Free text.
    """

    name: str
    number: int = 0
    color: tuple[int, int, int] = (255, 0, 0)
    interpreted_type: str = ""
    contours: tuple[Contour, ...] = ()
    mask_image: Image | None = None
    slice_thickness_mm: float | None = None
    reference_grid: Grid | None = None
    generation: str = "MANUAL"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise StructureError("a structure needs a non-empty name")
        color = tuple(int(c) for c in self.color)
        if len(color) != 3 or any(c < 0 or c > 255 for c in color):
            raise StructureError(f"structure {self.name!r}: colour must be 3 ints 0-255")
        object.__setattr__(self, "color", color)
        object.__setattr__(self, "contours", tuple(self.contours))
        if self.mask_image is not None:
            m = self.mask_image
            if m.array.dtype != np.bool_:
                object.__setattr__(self, "mask_image", m.with_array(m.array > 0.5, units="1"))

    # ------------------------------------------------------------------ content
    @property
    def closed_contours(self) -> tuple[Contour, ...]:
        """The area-enclosing contours (CLOSED_PLANAR and CLOSEDPLANAR_XOR)."""
        return tuple(c for c in self.contours if c.geometric_type.is_closed)

    @property
    def points_mm(self) -> npt.NDArray[np.float64]:
        """Positions of the POINT contours, shape (N, 3), LPS mm."""
        pts = [c.points_mm[0] for c in self.contours if c.geometric_type is ContourType.POINT]
        return np.array(pts, dtype=np.float64).reshape(-1, 3)

    @property
    def is_empty(self) -> bool:
        """True if the structure encloses no volume and holds no point or line."""
        if self.mask_image is not None:
            return not bool(np.any(self.mask_image.array))
        return len(self.contours) == 0

    @property
    def has_volume(self) -> bool:
        """True if the structure encloses a volume (closed contours or a mask)."""
        if self.mask_image is not None:
            return bool(np.any(self.mask_image.array))
        return len(self.closed_contours) > 0

    def _require_volume(self, what: str) -> None:
        if not self.has_volume:
            raise StructureError(
                f"structure {self.name!r} encloses no volume (no closed contours); "
                f"{what} needs a volumetric ROI"
            )

    # ------------------------------------------------------------------ masks
    def mask(self, grid: Grid) -> npt.NDArray[np.bool_]:
        """Boolean mask of the voxels whose centres lie inside the structure.

        Contours are rasterised with sub-voxel accuracy (even-odd rule per plane; no
        rounding of contour points to voxel centres). Each grid slice takes the contour
        plane nearest to it, within half the structure's slice thickness.

        Parameters
        ----------
        grid : Grid
            Target grid; its slices must be parallel to the contour planes.

        Returns
        -------
        numpy.ndarray of bool, shape grid.shape

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> study = rtplan.load_study(get_path("thigh_sarcoma"))
        >>> m = study.structures["GTV"].mask(study.ct.grid)
        >>> m.shape == study.ct.shape, m.dtype
        (True, dtype('bool'))
        """
        return geometry.mask(self, grid)

    def fractional_mask(self, grid: Grid, *, subsamples: int = 8) -> npt.NDArray[np.float32]:
        """Fraction of each voxel inside the structure (partial-volume mask).

        Parameters
        ----------
        grid : Grid
            Target grid.
        subsamples : int
            Sub-rows per voxel row and sub-slices per voxel slice; coverage along each
            sub-row is exact.

        Returns
        -------
        numpy.ndarray of float32 in [0, 1], shape grid.shape

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> study = rtplan.load_study(get_path("thigh_sarcoma"))
        >>> f = study.structures["GTV"].fractional_mask(study.ct.grid)
        >>> bool(f.min() >= 0.0 and f.max() <= 1.0)
        True
        """
        return geometry.fractional_mask(self, grid, subsamples=subsamples)

    # ------------------------------------------------------------------ measures
    @property
    def volume_cc(self) -> float:
        """Enclosed volume, cm³.

        For contours: the area of each plane (even-odd) times its slab thickness. For
        structures computed on a grid: the number of voxels times the voxel volume.
        """
        if self.mask_image is not None:
            m = self.mask_image
            return float(np.count_nonzero(m.array)) * m.grid.voxel_volume_mm3 / 1000.0
        if not self.closed_contours:
            return 0.0
        stack = _planar.plane_stack(self.closed_contours, self.slice_thickness_mm)
        return stack.volume_mm3() / 1000.0

    @property
    def centroid_mm(self) -> npt.NDArray[np.float64]:
        """Centre of mass of the enclosed volume (or of the points), LPS mm, shape (3,)."""
        if self.mask_image is not None:
            m = self.mask_image
            idx = np.argwhere(m.array)
            if idx.size == 0:
                raise StructureError(f"structure {self.name!r} is empty: no centroid")
            return np.asarray(m.grid.index_to_mm(idx[:, ::-1].mean(axis=0)))
        if self.closed_contours:
            return _planar.plane_stack(self.closed_contours, self.slice_thickness_mm).centroid()
        if self.contours:
            pts: npt.NDArray[np.float64] = np.vstack([c.points_mm for c in self.contours])
            return np.asarray(pts.mean(axis=0), dtype=np.float64)
        raise StructureError(f"structure {self.name!r} is empty: no centroid")

    def bounds_mm(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Axis-aligned LPS bounding box ``(lower, upper)``, mm (contour points or voxels).

        Returns
        -------
        tuple of two numpy.ndarray, shape (3,)

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> study = rtplan.load_study(get_path("thigh_sarcoma"))
        >>> lo, hi = study.structures["GTV"].bounds_mm()
        >>> bool((hi > lo).all()), study.ct.grid.overlaps((lo, hi))
        (True, True)
        """
        if self.mask_image is not None:
            m = self.mask_image
            idx = np.argwhere(m.array)
            if idx.size == 0:
                raise StructureError(f"structure {self.name!r} is empty: no bounds")
            lo_i, hi_i = idx.min(axis=0)[::-1] - 0.5, idx.max(axis=0)[::-1] + 0.5
            corners = np.array(
                [
                    [a, b, c]
                    for a in (lo_i[0], hi_i[0])
                    for b in (lo_i[1], hi_i[1])
                    for c in (lo_i[2], hi_i[2])
                ]
            )
            pts = m.grid.index_to_mm(corners)
        elif self.contours:
            pts = np.vstack([c.points_mm for c in self.contours])
        else:
            raise StructureError(f"structure {self.name!r} is empty: no bounds")
        return pts.min(axis=0), pts.max(axis=0)

    @property
    def extent_mm(self) -> npt.NDArray[np.float64]:
        """Size of the LPS bounding box along x, y, z, mm."""
        lo, hi = self.bounds_mm()
        return hi - lo

    # ------------------------------------------------------------------ derived
    @property
    def grid(self) -> Grid | None:
        """The grid geometry operations use by default: the reference grid, else the mask's."""
        if self.reference_grid is not None:
            return self.reference_grid
        if self.mask_image is not None:
            return self.mask_image.grid
        return None

    def renamed(self, name: str, **changes: Any) -> Structure:
        """A copy with another name (and optionally other fields: colour, type...)."""
        return replace(self, name=name, **changes)

    @classmethod
    def from_mask(
        cls,
        mask: Image | npt.ArrayLike,
        grid: Grid | None = None,
        *,
        name: str,
        color: tuple[int, int, int] = (255, 0, 0),
        interpreted_type: str = "",
        generation: str = "AUTOMATIC",
        description: str = "",
        reference_grid: Grid | None = None,
    ) -> Structure:
        """Build a structure from a voxel mask; contours are regenerated from it.

        Parameters
        ----------
        mask : Image or array_like of bool, shape grid.shape
            The voxels inside the structure.
        grid : Grid, optional
            Needed when ``mask`` is a plain array.
        name, color, interpreted_type, generation, description
            ROI attributes.
        reference_grid : Grid, optional
            The image grid the structure belongs to (e.g. the CT's, when ``mask`` is
            cropped to the structure's bounding box); the mask's grid by default.

        Returns
        -------
        Structure
            Holding the exact mask and its contours (one polygon per connected boundary
            per slice, running midway between inside and outside voxel centres).
        """
        if isinstance(mask, Image):
            img = mask.with_array(np.asarray(mask.array) > 0.5, units="1", name=name)
        else:
            if grid is None:
                raise GeometryError("Structure.from_mask needs a grid for a plain array mask")
            img = Image(array=np.asarray(mask) > 0.5, grid=grid, units="1", name=name)
        contours = geometry.mask_to_contours(img)
        return cls(
            name=name,
            color=color,
            interpreted_type=interpreted_type,
            contours=tuple(contours),
            mask_image=img,
            slice_thickness_mm=img.grid.spacing_mm[0],
            reference_grid=img.grid if reference_grid is None else reference_grid,
            generation=generation,
            description=description,
        )

    # ---- the geometry facade: one call each into rtplan.geometry -------------------
    def expand(
        self,
        margin_mm: float | Sequence[float] | Mapping[str, float],
        grid: Grid | None = None,
    ) -> Structure:
        """Grow by a margin (mm), isotropic or per direction: :func:`rtplan.geometry.expand`.

        Parameters
        ----------
        margin_mm : float, sequence or mapping
            Isotropic mm, ``(LR, AP, SI)``, six values or ``{"L": 5, ...}``.
        grid : Grid, optional
            Grid to compute on; the structure's own by default.

        Returns
        -------
        Structure

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> gtv = rtplan.load_study(get_path("thigh_sarcoma")).structures["GTV"]
        >>> ring = gtv.expand(10.0) - gtv
        >>> ring.name, round(ring.volume_cc)
        ('GTV+10mm-GTV', 113)
        """
        return geometry.expand(self, margin_mm, grid=grid)

    def contract(
        self,
        margin_mm: float | Sequence[float] | Mapping[str, float],
        grid: Grid | None = None,
    ) -> Structure:
        """Shrink by a margin (mm): :func:`rtplan.geometry.contract`.

        Parameters
        ----------
        margin_mm : float, sequence or mapping
            As for :meth:`expand`.
        grid : Grid, optional
            Grid to compute on; the structure's own by default.

        Returns
        -------
        Structure

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> ctv = rtplan.load_study(get_path("thigh_sarcoma")).structures["CTV"]
        >>> inner = ctv.contract(3.0)
        >>> inner.name, round(inner.volume_cc)
        ('CTV-3mm', 130)
        """
        return geometry.contract(self, margin_mm, grid=grid)

    def __or__(self, other: Structure) -> Structure:
        return geometry.union(self, other)

    def __and__(self, other: Structure) -> Structure:
        return geometry.intersection(self, other)

    def __sub__(self, other: Structure) -> Structure:
        return geometry.difference(self, other)

    def distance_to(self, other: Structure) -> float:
        """Minimum surface-to-surface distance to another structure, mm.

        Delegates to :func:`rtplan.geometry.min_distance`.

        Parameters
        ----------
        other : Structure

        Returns
        -------
        float
            mm; 0 if they overlap.

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
        >>> round(rois["GTV"].distance_to(rois["Femur"]), 1)
        2.9
        """
        return float(geometry.min_distance(self, other))

    def mesh(self, **kwargs: Any) -> pyvista.PolyData:
        """Smooth closed surface in LPS mm (pyvista PolyData): :func:`rtplan.geometry.mesh`.

        Parameters
        ----------
        **kwargs
            Options of :func:`rtplan.geometry.mesh`.

        Returns
        -------
        pyvista.PolyData

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> femur = rtplan.load_study(get_path("thigh_sarcoma")).structures["Femur"]
        >>> femur.mesh().n_cells > 0
        True
        """
        return geometry.mesh(self, **kwargs)

    def __repr__(self) -> str:
        kind = "mask" if self.mask_image is not None else f"{len(self.contours)} contours"
        return (
            f"Structure(name={self.name!r}, number={self.number}, "
            f"type={self.interpreted_type!r}, {kind})"
        )


def _did_you_mean(name: object, names: Sequence[str]) -> str:
    """``" (did you mean 'PTV'?)"`` for the names closest to a misspelt one, else ``""``."""
    import difflib

    if not isinstance(name, str) or not names:
        return ""
    folded = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(name.strip().casefold(), list(folded), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(folded[c]) for c in close) + "?)"


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class StructureSet:
    """An ordered collection of structures sharing one frame of reference.

    A set is a value: it never changes. Build a new one and assign it, e.g.
    ``ss = ss.with_structure(ptv.expand(5.0), name="PTV_5")``, :meth:`with_added` or
    :meth:`without`; ``ss[name] = s`` raises a TypeError that says so.

    Parameters
    ----------
    structures : tuple of Structure
        In the order they were read or added; names need not be unique but lookups by a
        duplicated name raise :class:`~rtplan.errors.StructureError`.
    frame_of_reference_uid : str
        Frame of Reference UID of the contours.
    label : str
        Structure Set Label.
    referenced_series_uid : str
        Series Instance UID of the image series the contours were drawn on.
    source : Path or None
        File read from, if any.
    sop_instance_uid : str
        SOP Instance UID of the RT Structure Set read, if any.
    """

    structures: tuple[Structure, ...] = ()
    frame_of_reference_uid: str = ""
    label: str = ""
    referenced_series_uid: str = ""
    source: Path | None = None
    sop_instance_uid: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "structures", tuple(self.structures))

    @property
    def names(self) -> list[str]:
        """ROI names in order."""
        return [s.name for s in self.structures]

    def __len__(self) -> int:
        return len(self.structures)

    def __iter__(self) -> Iterator[Structure]:
        return iter(self.structures)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except StructureError:
            return False
        return True

    def __getitem__(self, name: str) -> Structure:
        """Look a structure up by name (exact, then case-insensitive if unique)."""
        exact = [s for s in self.structures if s.name == name]
        if not exact and isinstance(name, str):
            exact = [s for s in self.structures if s.name.casefold() == name.casefold()]
        if len(exact) == 1:
            return exact[0]
        where = f" in {self.source}" if self.source else ""
        if not exact:
            raise StructureError(
                f"no structure named {name!r}{where}{_did_you_mean(name, self.names)}; "
                f"available: {', '.join(self.names)}"
            )
        raise StructureError(
            f"{len(exact)} structures named {name!r}{where}; use by_number() with one of "
            f"{[s.number for s in exact]}"
        )

    def get(self, name: str, default: Structure | None = None) -> Structure | None:
        """The structure named ``name``, or ``default``."""
        try:
            return self[name]
        except StructureError:
            return default

    def by_number(self, number: int) -> Structure:
        """Look a structure up by ROI Number."""
        for s in self.structures:
            if s.number == number:
                return s
        raise StructureError(f"no ROI number {number}; numbers: {[s.number for s in self]}")

    def by_type(self, interpreted_type: str) -> list[Structure]:
        """All structures of one RT ROI Interpreted Type (case-insensitive)."""
        t = interpreted_type.upper()
        return [s for s in self.structures if s.interpreted_type.upper() == t]

    def with_structures(self, structures: Iterable[Structure]) -> StructureSet:
        """A copy holding other structures, same frame of reference and metadata."""
        return replace(self, structures=tuple(structures))

    def with_added(self, *structures: Structure) -> StructureSet:
        """A new set with structures appended; this set is unchanged.

        Unnumbered structures (and those whose ROI number is taken) get the next free ROI
        numbers. Names are kept as they are: use :meth:`with_structure` to replace a
        structure of the same name.

        Parameters
        ----------
        *structures : Structure
            Appended in order.

        Returns
        -------
        StructureSet
            A new set; assign it (``ss = ss.with_added(ptv5)``), as with ``str.replace``.

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> ss = rtplan.load_study(get_path("thigh_sarcoma")).structures
        >>> ss2 = ss.with_added(ss["GTV"].expand(5.0))
        >>> len(ss2) - len(ss), ss2.names[-1]
        (1, 'GTV+5mm')
        """
        used = {s.number for s in self.structures if s.number > 0}
        nxt = max(used, default=0) + 1
        added: list[Structure] = []
        for s in structures:
            if s.number <= 0 or s.number in used:
                s = replace(s, number=nxt)
            used.add(s.number)
            nxt = max(used) + 1
            added.append(s)
        return replace(self, structures=self.structures + tuple(added))

    def with_structure(self, structure: Structure, *, name: str | None = None) -> StructureSet:
        """A new set holding ``structure`` under ``name``; this set is unchanged.

        A structure of the same name (exact, then case-insensitive) is replaced where it
        stands and its ROI number is kept when ``structure`` has none of its own; otherwise
        the structure is appended with the next free ROI number.

        Parameters
        ----------
        structure : Structure
        name : str, optional
            The ROI name to store it under; the structure's own name by default.

        Returns
        -------
        StructureSet
            A new set: ``ss = ss.with_structure(ptv.expand(5.0), name="PTV_5")``.

        Raises
        ------
        StructureError
            If ``name`` is empty or several structures carry it.

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> ss = rtplan.load_study(get_path("thigh_sarcoma")).structures
        >>> ss = ss.with_structure(ss["GTV"].expand(5.0), name="GTV_5")
        >>> ss.names[-1], round(ss["GTV_5"].volume_cc) > round(ss["GTV"].volume_cc)
        ('GTV_5', True)
        """
        name = structure.name if name is None else name
        if not name.strip():
            raise StructureError("a structure needs a non-empty ROI name to join a set")
        if name != structure.name:
            structure = structure.renamed(name)
        matches = [s for s in self.structures if s.name == name] or [
            s for s in self.structures if s.name.casefold() == name.casefold()
        ]
        if len(matches) > 1:
            raise StructureError(
                f"{len(matches)} structures named {name!r}; remove all but one with without()"
            )
        if not matches:
            return self.with_added(structure)
        old = matches[0]
        if structure.number <= 0:
            structure = replace(structure, number=old.number)
        return replace(
            self, structures=tuple(structure if s is old else s for s in self.structures)
        )

    def without(self, name: str) -> StructureSet:
        """A new set without the structure named ``name``; this set is unchanged.

        Raises
        ------
        StructureError
            If no structure (or several) carry that name; the message lists the names.
        """
        target = self[name]
        return replace(self, structures=tuple(s for s in self.structures if s is not target))

    def add(self, *structures: Structure) -> StructureSet:
        """Deprecated name of :meth:`with_added` (it returns a new set, this one is unchanged).

        Warns
        -----
        DeprecationWarning
            Always: ``ss.add(s)`` alone loses ``s``; write ``ss = ss.with_added(s)``.
        """
        warnings.warn(
            "StructureSet.add returns a new set and leaves this one unchanged: write "
            "ss = ss.with_added(...) or ss = ss.with_structure(s, name=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.with_added(*structures)

    def remove(self, name: str) -> StructureSet:
        """Deprecated name of :meth:`without` (it returns a new set, this one is unchanged).

        Warns
        -----
        DeprecationWarning
            Always: write ``ss = ss.without(name)``.
        """
        warnings.warn(
            "StructureSet.remove returns a new set and leaves this one unchanged: write "
            "ss = ss.without(name)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.without(name)

    def __setitem__(self, name: str, structure: Structure) -> None:
        raise TypeError(
            f"a StructureSet cannot be changed in place (it is shared by its Study); "
            f"write ss = ss.with_structure(structure, name={name!r})"
        )

    def __repr__(self) -> str:
        return f"StructureSet({len(self)} structures: {', '.join(self.names)})"


# The declared facade: Structure's geometry methods above delegate to rtplan.geometry,
# which builds on this module (it takes Structure and Contour from here). The reference
# is bound last, once everything geometry needs from this module is defined, so that the
# two can be imported in either order. This is the one import of a higher layer here.
from rtplan import geometry  # noqa: E402
