"""3D-conformal plans: MLC apertures that follow the target's beam's-eye view.

For each beam the target is projected divergently (from the source, through
:meth:`rtplan.Beam.project_to_isocenter_plane`) onto the isocentre plane. Every contour
plane of the target stands for a slab of the structure's slice thickness, i.e. a prism;
a central projection maps each planar face onto the polygon of its projected vertices and
the projection of a solid is the union of the projections of its faces, so the union of
the projected caps and side faces of all prisms is the exact beam's-eye-view silhouette
of the contoured volume (side faces matter where caps are seen edge-on, as for coplanar
beams and axial contours). Contours are first simplified by 0.01 mm.

The silhouette is grown by the margin (a round buffer in the isocentre plane), the jaws
are set to its bounding box, and each MLC leaf pair is opened to the silhouette's extreme
x within the pair's y band, so the leaves cover the aperture across their whole width;
pairs that miss the aperture are closed (A = B) under the X1 jaw.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.errors import PlanError
from rtplan.image import PatientPosition
from rtplan.plan import Beam, Mlc, Plan

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from rtplan.structures import Contour, Structure

__all__ = ["aperture", "conformal_plan", "fit_mlc", "open_area_mm2"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

_BUFFER_QUAD_SEGS = 32  # arc resolution of the margin: error < margin * 1.2e-3
_MIN_OPEN_AREA_MM2 = 1e-9
_SIMPLIFY_MM = 0.01  # contour points closer than this to the simplified outline are dropped


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


@dataclass(frozen=True, slots=True)
class _Slab:
    """One contour plane's region as a prism: its rings (exterior first) at both faces."""

    near: list[FloatArray]  # rings (N, 3) at the face offset - thickness / 2, LPS mm
    far: list[FloatArray]  # the same rings at offset + thickness / 2


def _slabs(target: Structure) -> list[_Slab]:
    """The target as prisms: each contour plane's even-odd region extruded over its slab."""
    import shapely
    from shapely.geometry import Polygon

    from rtplan import _planar

    contours, thickness = _closed_contours(target)
    stack = _planar.plane_stack(contours, thickness)
    half = stack.thickness_mm / 2.0
    out: list[_Slab] = []
    for offset, region in zip(stack.offsets_mm, stack.regions, strict=True):
        simple = region.simplify(_SIMPLIFY_MM, preserve_topology=True)
        for part in shapely.get_parts(simple):
            if not isinstance(part, Polygon) or part.is_empty or part.area <= 0:
                continue
            rings = [np.asarray(part.exterior.coords)[:-1, :2]]
            rings += [np.asarray(r.coords)[:-1, :2] for r in part.interiors]
            out.append(
                _Slab(
                    near=[stack.to_3d(r, float(offset - half)) for r in rings],
                    far=[stack.to_3d(r, float(offset + half)) for r in rings],
                )
            )
    if not out:
        raise PlanError(f"target {target.name!r}: its contours enclose no area")
    return out


def _prism_polygons(
    slabs: Sequence[_Slab], beam: Beam, patient_position: PatientPosition | str
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
    """
    return _aperture(_slabs(target), target.name, beam, margin_mm, patient_position)


def _aperture(
    slabs: Sequence[_Slab],
    name: str,
    beam: Beam,
    margin_mm: float,
    patient_position: PatientPosition | str,
) -> BaseGeometry:
    import shapely

    silhouette = shapely.union_all(_prism_polygons(slabs, beam, patient_position))
    if margin_mm != 0.0:
        silhouette = silhouette.buffer(float(margin_mm), quad_segs=_BUFFER_QUAD_SEGS)
    if silhouette.is_empty or silhouette.area <= 0:
        raise PlanError(
            f"beam {beam.name!r}: the aperture of {name!r} is empty (margin {margin_mm} mm); "
            "use a larger margin"
        )
    return silhouette


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


def _beam_name(gantry_deg: float, couch_deg: float, used: set[str]) -> str:
    base = f"G{round(gantry_deg) % 360:03d}"
    if round(couch_deg) % 360 != 0:
        base += f"T{round(couch_deg) % 360:03d}"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def conformal_plan(
    target: Structure,
    *,
    gantry_angles_deg: Sequence[float],
    energy: str = "6X",
    prescription_gy: float,
    fractions: int = 1,
    margin_mm: float = 7.0,
    collimator_deg: float = 0.0,
    couch_deg: float = 0.0,
    isocenter_mm: Sequence[float] | None = None,
    leaf_width_mm: float = 5.0,
    n_leaf_pairs: int = 60,
    patient_position: PatientPosition | str = "HFS",
    normalization: str = "mean",
    sad_mm: float = 1000.0,
) -> Plan:
    """Build a 3D-conformal photon plan around a target.

    Parameters
    ----------
    target : Structure
        The planning target (closed contours or a mask), LPS mm.
    gantry_angles_deg : sequence of float
        One beam per gantry angle (IEC 61217, degrees).
    energy : str
        Beam energy label, e.g. ``"6X"``.
    prescription_gy : float
        Total prescribed dose, Gy.
    fractions : int
        Number of fractions.
    margin_mm : float
        Beam's-eye-view margin around the target's projection at the isocentre plane
        (covers the penumbra), mm.
    collimator_deg, couch_deg : float
        Collimator and couch angles of every beam, degrees.
    isocenter_mm : sequence of 3 float, optional
        Isocentre in LPS mm; the target's centroid by default.
    leaf_width_mm : float
        Width of each MLC leaf at the isocentre plane, mm.
    n_leaf_pairs : int
        Number of leaf pairs, centred on the beam axis.
    patient_position : PatientPosition or str
        Patient position of the CT.
    normalization : {"mean", "d95", "isocenter", "none"}
        How the dose engine scales MU to the prescription.
    sad_mm : float
        Source-axis distance, mm.

    Returns
    -------
    Plan
        Beams named ``"G000"``, ``"G090"``... (``"G090T270"`` with a couch angle),
        numbered from 1, equal weights, MU not set (the dose engine computes them).

    Raises
    ------
    PlanError
        If no gantry angle is given, the MLC is invalid, the target has no volume or
        its aperture is empty.

    Warns
    -----
    RtplanWarning
        If an aperture reaches beyond the MLC (the jaws then shape that part alone).

    Examples
    --------
    >>> plan = rtplan.Plan.conformal(ptv, gantry_angles_deg=[0, 120, 240],
    ...                              prescription_gy=30.0, fractions=10)  # doctest: +SKIP
    """
    angles = [float(a) for a in gantry_angles_deg]
    if not angles:
        raise PlanError("a conformal plan needs at least one gantry angle")
    if not (math.isfinite(leaf_width_mm) and leaf_width_mm > 0) or int(n_leaf_pairs) < 1:
        raise PlanError(
            f"leaf_width_mm must be positive and n_leaf_pairs >= 1, got {leaf_width_mm}, "
            f"{n_leaf_pairs}"
        )
    if not math.isfinite(margin_mm):
        raise PlanError(f"margin_mm must be finite, got {margin_mm}")
    position = PatientPosition(patient_position)
    if isocenter_mm is None:
        iso_arr = np.asarray(target.centroid_mm, dtype=np.float64)
    else:
        iso_arr = np.asarray([float(v) for v in isocenter_mm], dtype=np.float64)
        if iso_arr.shape != (3,):
            raise PlanError(f"isocenter_mm must be 3 numbers, got {isocenter_mm!r}")
    iso = (float(iso_arr[0]), float(iso_arr[1]), float(iso_arr[2]))
    slabs = _slabs(target)
    mlc0 = Mlc.uniform(int(n_leaf_pairs), float(leaf_width_mm))
    mlc_y = (mlc0.leaf_boundaries_mm[0], mlc0.leaf_boundaries_mm[-1])

    beams: list[Beam] = []
    used: set[str] = set()
    for number, gantry in enumerate(angles, start=1):
        name = _beam_name(gantry, couch_deg, used)
        probe = Beam(
            energy=energy,
            gantry_deg=gantry,
            collimator_deg=collimator_deg,
            couch_deg=couch_deg,
            isocenter_mm=iso,
            sad_mm=sad_mm,
            name=name,
            number=number,
        )
        region = _aperture(slabs, target.name, probe, margin_mm, position)
        minx, miny, maxx, maxy = region.bounds
        jaws = (float(minx), float(maxx), float(miny), float(maxy))
        if miny < mlc_y[0] or maxy > mlc_y[1]:
            warn(
                f"beam {name}: the aperture of {target.name!r} spans y {miny:.1f}..{maxy:.1f} mm, "
                f"beyond the MLC ({mlc_y[0]:.1f}..{mlc_y[1]:.1f} mm); the jaws alone shape the "
                "rest"
            )
        mlc, open_pairs = fit_mlc(region, mlc0, jaws)
        logger.debug(
            "beam %s: jaws %s, %d open leaf pairs", name, np.round(jaws, 2), len(open_pairs)
        )
        beams.append(probe.replace(jaws_mm=jaws, mlc=mlc, weight=1.0, mu=None))
    return Plan(
        beams=tuple(beams),
        prescription_gy=float(prescription_gy),
        fractions=int(fractions),
        normalization=normalization,
        target_name=target.name,
        target=target,
        name=f"3DCRT {target.name}"[:64],
        patient_position=position,
    )


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
    """
    x1, x2, y1, y2 = beam.jaws_mm
    if beam.mlc is None:
        return (x2 - x1) * (y2 - y1)
    b = np.asarray(beam.mlc.leaf_boundaries_mm)
    width = np.clip(np.minimum(b[1:], y2) - np.maximum(b[:-1], y1), 0.0, None)
    p = np.asarray(beam.mlc.positions_mm)
    opening = np.clip(np.minimum(p[1], x2) - np.maximum(p[0], x1), 0.0, None)
    return float(np.sum(width * opening))
