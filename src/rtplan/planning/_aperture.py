"""Beam's-eye-view apertures of a target and the MLC leaf positions that cover them.

For each beam the target is projected divergently (from the source, through
:meth:`rtplan.Beam.project_to_isocenter_plane`) onto the isocentre plane. Every contour
plane of the target stands for a slab of the structure's slice thickness, i.e. a prism;
a central projection maps each planar face onto the polygon of its projected vertices and
the projection of a solid is the union of the projections of its faces, so the union of
the projected caps and side faces of all prisms is the exact beam's-eye-view silhouette
of the contoured volume (side faces matter where caps are seen edge-on, as for coplanar
beams and axial contours). Contours are first simplified by 0.01 mm.

The silhouette is grown by the margin (a round buffer in the isocentre plane). Each MLC
leaf pair is opened to the silhouette's extreme x within the pair's y band, so the leaves
cover the aperture across their whole width; pairs that miss the aperture are closed
(A = B) under the X1 jaw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan.errors import PlanError
from rtplan.image import PatientPosition
from rtplan.plan import Beam, Mlc

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from rtplan.structures import Contour, Structure

__all__ = ["Slab", "aperture", "fit_mlc", "open_area_mm2", "silhouette", "target_slabs"]

FloatArray = npt.NDArray[np.float64]

_BUFFER_QUAD_SEGS = 32  # arc resolution of the margin: error < margin * 1.2e-3
_MIN_OPEN_AREA_MM2 = 1e-9
_SIMPLIFY_MM = 0.01  # contour points closer than this to the simplified outline are dropped


@dataclass(frozen=True, slots=True)
class Slab:
    """One contour plane's region of a target as a prism: its rings at both faces.

    Parameters
    ----------
    near, far : list of numpy.ndarray, each shape (N, 3)
        The region's rings (exterior first, then holes) in LPS mm, at the slab's two
        faces (the contour plane offset by minus and plus half the slice thickness).
    """

    near: list[FloatArray]
    far: list[FloatArray]


def _closed_contours(target: Structure) -> tuple[tuple[Contour, ...], float | None]:
    """The target's closed contours (regenerated from its mask if it has none)."""
    if target.closed_contours:
        return target.closed_contours, target.slice_thickness_mm
    if target.mask_image is not None:
        from rtplan.geometry import mask_to_contours

        contours = tuple(mask_to_contours(target.mask_image))
        return contours, target.mask_image.grid.spacing_mm[0]
    raise PlanError(
        f"target {target.name!r} encloses no volume (no closed contours and no mask); a "
        "conformal plan needs a volumetric target"
    )


def target_slabs(target: Structure) -> list[Slab]:
    """The target as prisms: each contour plane's even-odd region extruded over its slab.

    Computed once per target and shared by the apertures of all its beams.

    Parameters
    ----------
    target : Structure
        Closed contours (or a mask) in LPS mm.

    Returns
    -------
    list of Slab

    Raises
    ------
    PlanError
        If the target encloses no volume.
    """
    import shapely
    from shapely.geometry import Polygon

    from rtplan import _planar

    contours, thickness = _closed_contours(target)
    stack = _planar.plane_stack(contours, thickness)
    half = stack.thickness_mm / 2.0
    out: list[Slab] = []
    for offset, region in zip(stack.offsets_mm, stack.regions, strict=True):
        simple = region.simplify(_SIMPLIFY_MM, preserve_topology=True)
        for part in shapely.get_parts(simple):
            if not isinstance(part, Polygon) or part.is_empty or part.area <= 0:
                continue
            rings = [np.asarray(part.exterior.coords)[:-1, :2]]
            rings += [np.asarray(r.coords)[:-1, :2] for r in part.interiors]
            out.append(
                Slab(
                    near=[stack.to_3d(r, float(offset - half)) for r in rings],
                    far=[stack.to_3d(r, float(offset + half)) for r in rings],
                )
            )
    if not out:
        raise PlanError(f"target {target.name!r}: its contours enclose no area")
    return out


def _prism_polygons(
    slabs: Sequence[Slab], beam: Beam, patient_position: PatientPosition | str
) -> list[BaseGeometry]:
    """Projected caps and side faces of every prism (their union is the silhouette).

    A central projection maps each planar face onto the polygon of its projected
    vertices, and the projection of a solid is the union of the projections of its
    faces; side faces are needed where the caps are seen edge-on (coplanar beams).
    """
    import shapely
    from shapely.geometry import Polygon

    parts: list[BaseGeometry] = []
    quads: list[FloatArray] = []
    for slab in slabs:
        near = [beam.project_to_isocenter_plane(r, patient_position) for r in slab.near]
        far = [beam.project_to_isocenter_plane(r, patient_position) for r in slab.far]
        for cap in (near, far):
            poly = Polygon(cap[0], cap[1:])
            parts.append(poly if poly.is_valid else shapely.make_valid(poly))
        for a, b in zip(near, far, strict=True):
            a1, b1 = np.roll(a, -1, axis=0), np.roll(b, -1, axis=0)
            quads.append(np.stack([a, a1, b1, b], axis=1))  # (N, 4, 2)
    q = np.concatenate(quads, axis=0)
    x, y = q[..., 0], q[..., 1]
    signed = 0.5 * np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1)
    q = q[np.abs(signed) > 1e-9]  # side faces seen edge-on add nothing
    parts.extend(shapely.polygons(q))
    return parts


def aperture(
    target: Structure,
    beam: Beam,
    *,
    margin_mm: float = 0.0,
    patient_position: PatientPosition | str = "HFS",
) -> BaseGeometry:
    """The target's divergent beam's-eye-view silhouette at the isocentre plane, plus a margin.

    Parameters
    ----------
    target : Structure
        Closed contours (or a mask) in LPS mm; each contour plane stands for a slab of the
        structure's slice thickness.
    beam : Beam
        Gantry, collimator and couch angles, isocentre and SAD define the projection.
    margin_mm : float
        Margin added around the silhouette in the isocentre plane, mm (round corners).
    patient_position : PatientPosition or str
        Patient position of the CT the target was drawn on.

    Returns
    -------
    shapely geometry
        Polygon (or MultiPolygon) in beam-limiting-device coordinates ``(x_b, y_b)``, mm
        at the isocentre plane.

    Raises
    ------
    PlanError
        If the target has no volume, lies at or behind the source, or the aperture is
        empty after a negative margin.

    Examples
    --------
    A 20 mm cube at the isocentre seen from gantry 0: its face nearest the source, 10 mm
    nearer than the isocentre, is magnified by 1000 / 990.

    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.planning import aperture
    >>> square = np.array([[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    >>> cube = rtplan.Structure(name="cube", slice_thickness_mm=2.0, contours=tuple(
    ...     rtplan.Contour(points_mm=np.column_stack([square, np.full(4, z)]))
    ...     for z in np.arange(-9.0, 10.0, 2.0)))
    >>> region = aperture(cube, rtplan.Beam(gantry_deg=0.0), margin_mm=0.0)
    >>> [round(v, 2) for v in region.bounds]
    [-10.1, -10.1, 10.1, 10.1]
    """
    return silhouette(target_slabs(target), target.name, beam, margin_mm, patient_position)


def silhouette(
    slabs: Sequence[Slab],
    name: str,
    beam: Beam,
    margin_mm: float,
    patient_position: PatientPosition | str,
) -> BaseGeometry:
    """:func:`aperture` of a target already cut into slabs (:func:`target_slabs`).

    Raises
    ------
    PlanError
        If the aperture is empty (``name`` is the target's, for the message).
    """
    import shapely

    region = shapely.union_all(_prism_polygons(slabs, beam, patient_position))
    if margin_mm != 0.0:
        region = region.buffer(float(margin_mm), quad_segs=_BUFFER_QUAD_SEGS)
    if region.is_empty or region.area <= 0:
        raise PlanError(
            f"beam {beam.name!r}: the aperture of {name!r} is empty (margin {margin_mm} mm); "
            "use a larger margin"
        )
    return region


def fit_mlc(region: BaseGeometry, mlc: Mlc, jaws_mm: Sequence[float]) -> tuple[Mlc, list[int]]:
    """Open each leaf pair to cover ``region`` across its width.

    Parameters
    ----------
    region : shapely geometry
        The aperture at the isocentre plane, ``(x_b, y_b)`` mm.
    mlc : Mlc
        Leaf boundaries (positions are replaced).
    jaws_mm : sequence of 4 float
        ``(X1, X2, Y1, Y2)``; closed pairs are parked at X1, under the jaw.

    Returns
    -------
    tuple of (Mlc, list of int)
        The MLC with bank A at the smallest and bank B at the largest x of the region
        within each pair's y band, and the indices of the open pairs.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> from rtplan import Mlc
    >>> from rtplan.planning import fit_mlc
    >>> mlc, open_pairs = fit_mlc(Point(0.0, 0.0).buffer(8.0), Mlc.uniform(4, 5.0),
    ...                           (-8.0, 8.0, -8.0, 8.0))
    >>> open_pairs
    [0, 1, 2, 3]
    >>> mlc.positions_mm.round(2).tolist()  # the outer pairs open to the chord at y = 5
    [[-6.24, -8.0, -8.0, -6.24], [6.24, 8.0, 8.0, 6.24]]
    """
    from shapely.geometry import box

    x1, x2 = float(jaws_mm[0]), float(jaws_mm[1])
    minx, _, maxx, _ = region.bounds
    lo, hi = min(minx, x1) - 1.0, max(maxx, x2) + 1.0
    bounds = mlc.leaf_boundaries_mm
    positions = np.full((2, mlc.n_pairs), x1, dtype=np.float64)
    open_pairs: list[int] = []
    for i in range(mlc.n_pairs):
        band = region.intersection(box(lo, bounds[i], hi, bounds[i + 1]))
        if band.is_empty or band.area <= _MIN_OPEN_AREA_MM2:
            continue
        bx0, _, bx1, _ = band.bounds
        positions[0, i], positions[1, i] = bx0, bx1
        open_pairs.append(i)
    return mlc.with_positions(positions), open_pairs


def open_area_mm2(beam: Beam) -> float:
    """Area of the field opened by jaws and leaves at the isocentre plane, mm².

    Parameters
    ----------
    beam : Beam

    Returns
    -------
    float
        The jaw rectangle's area without an MLC; otherwise the sum over leaf pairs of
        the leaf opening clipped to the jaws times the pair's width inside the Y jaws.

    Examples
    --------
    >>> from rtplan import Beam, Mlc
    >>> from rtplan.planning import open_area_mm2
    >>> open_area_mm2(Beam(jaws_mm=(-50.0, 50.0, -50.0, 50.0)))
    10000.0
    >>> leaves = Mlc.uniform(20, 5.0).with_positions([[-10.0] * 20, [10.0] * 20])
    >>> open_area_mm2(Beam(jaws_mm=(-50.0, 50.0, -50.0, 50.0), mlc=leaves))
    2000.0
    """
    x1, x2, y1, y2 = beam.jaws_mm
    if beam.mlc is None:
        return (x2 - x1) * (y2 - y1)
    b = np.asarray(beam.mlc.leaf_boundaries_mm)
    width = np.clip(np.minimum(b[1:], y2) - np.maximum(b[:-1], y1), 0.0, None)
    p = np.asarray(beam.mlc.positions_mm)
    opening = np.clip(np.minimum(p[1], x2) - np.maximum(p[0], x1), 0.0, None)
    return float(np.sum(width * opening))
