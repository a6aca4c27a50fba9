"""What a plan check and a procedure review read: beam geometry on the CT, needle terms.

* :func:`beam_geometry`: the source-to-skin distance (SSD) and the depth of the
  isocentre along the central axis, found on the CT;
* :func:`couch_shift`: the isocentre as a table shift from a reference point, in IEC
  61217 table axes; :func:`couch_reference` finds that point from its description
  (``"X,Y,Z"`` in LPS mm, ``"origin"``, ``"isocenter"`` or a point structure's name);
* :func:`beams_eye_outline`, :func:`beams_eye_view`: a beam's eye view of the jaws and
  MLC aperture over the structures projected from the source;
* :func:`needle_terms`: a needle path as radiologists describe it (angle from the
  vertical on the axial image and the side of entry, craniocaudal tilt, skin entry as
  table position and distance from the midline, skin-to-target depth, the standard
  needle that reaches).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from rtplan.guidance import Trajectory
    from rtplan.image import Image
    from rtplan.plan import Beam, Plan
    from rtplan.structures import Structure

__all__ = [
    "NEEDLE_LENGTHS_MM",
    "SKIN_HU",
    "BeamGeometry",
    "CouchShift",
    "NeedleTerms",
    "beam_geometry",
    "beams_eye_outline",
    "beams_eye_view",
    "couch_reference",
    "couch_shift",
    "needle_terms",
]

#: The skin is where the CT number, sampled trilinearly along a ray, first rises above
#: this level (half-way between air, -1000 HU, and water, 0 HU).
SKIN_HU = -500.0

#: Standard biopsy and ablation needle lengths, mm.
NEEDLE_LENGTHS_MM: tuple[float, ...] = (100.0, 150.0, 200.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class BeamGeometry:
    """Where a beam's central axis meets the patient.

    Parameters
    ----------
    ssd_mm : float or None
        Source-to-skin distance along the central axis, mm (None: the axis misses the
        patient on the CT).
    depth_mm : float or None
        Geometric depth of the isocentre below the skin along the axis, mm (negative when
        the isocentre lies outside the patient).
    entry_mm : tuple of 3 float or None
        LPS point where the axis enters the skin.
    """

    ssd_mm: float | None
    depth_mm: float | None
    entry_mm: tuple[float, float, float] | None


def beam_geometry(beam: Beam, ct: Image, patient_position: str | None = None) -> BeamGeometry:
    """SSD and isocentre depth of a beam on a CT.

    The central axis from the source (``beam.source_mm``) is sampled every 0.5 mm up to
    the isocentre plus 400 mm; the skin is the first crossing of :data:`SKIN_HU`, placed by
    linear interpolation between the samples around it.

    Parameters
    ----------
    beam : Beam
    ct : Image
        CT in HU (or a mass density image, ``units="g/cm3"``, whose skin is 0.5 g/cm³).
    patient_position : str, optional
        DICOM Patient Position; the CT's (else HFS) by default.

    Returns
    -------
    BeamGeometry

    Examples
    --------
    An anterior beam, isocentre 100 mm deep in water whose surface is y = 0:

    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.report import beam_geometry
    >>> grid = rtplan.Grid(shape=(21, 40, 21), spacing_mm=(10.0, 5.0, 10.0),
    ...                    origin_mm=(-100.0, -47.5, -100.0))
    >>> y_mm = grid.centers_mm()[..., 1]
    >>> ct = rtplan.Image(array=np.where(y_mm > 0, 0.0, -1000.0), grid=grid, units="HU")
    >>> g = beam_geometry(rtplan.Beam(isocenter_mm=(0.0, 100.0, 0.0)), ct)
    >>> round(g.ssd_mm, 3), round(g.depth_mm, 3)
    (900.0, 100.0)
    """
    position = patient_position or ct.patient_position or "HFS"
    source = np.asarray(beam.source_mm(position), dtype=np.float64)
    axis = np.asarray(beam.direction(position), dtype=np.float64)
    t = np.arange(0.0, beam.sad_mm + 400.0, 0.5)
    density = ct.units == "g/cm3"
    level = 0.5 if density else SKIN_HU
    hu = ct.sample(
        source + t[:, np.newaxis] * axis, order=1, fill_value=0.0 if density else -1000.0
    )
    above = np.flatnonzero(hu > level)
    if above.size == 0:
        return BeamGeometry(ssd_mm=None, depth_mm=None, entry_mm=None)
    n = int(above[0])
    if n == 0:
        ssd = 0.0
    else:
        h0, h1 = float(hu[n - 1]), float(hu[n])
        ssd = float(t[n - 1] + (t[n] - t[n - 1]) * (level - h0) / (h1 - h0))
    entry = source + ssd * axis
    return BeamGeometry(
        ssd_mm=ssd,
        depth_mm=float(beam.sad_mm - ssd),
        entry_mm=(float(entry[0]), float(entry[1]), float(entry[2])),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class NeedleTerms:
    """A needle path in the terms of an interventional radiologist.

    Conventions: the patient lies as in the CT's Patient Position; "vertical" is the
    room's vertical; the angle from vertical is measured on the axial image between the
    needle and a vertical line through its skin entry (0° straight down, 90°
    horizontal); the craniocaudal tilt is the angle between the needle and the axial
    plane, towards the head when the tip lies superior to the entry; the table position
    is the LPS z of the entry's axial slice.

    Parameters
    ----------
    angle_from_vertical_deg : float
        On the axial image, degrees (0-180).
    entry_side : str
        ``"left"``, ``"right"`` (the patient's side the needle comes from, relative to the
        target) or ``"midline"`` (within 1 mm).
    craniocaudal_deg : float
        Tilt out of the axial plane, degrees, positive towards the head.
    entry_slice : int
        1-based number of the CT slice nearest the skin entry.
    table_mm : float
        LPS z of that slice, mm.
    midline_offset_mm : float
        Distance of the entry from the midline, mm: the line half-way between the body's
        right and left edges on the entry slice.
    midline_side : str
        ``"left"``, ``"right"`` or ``"midline"``.
    depth_mm : float
        Skin-to-target depth along the needle, mm.
    needle_mm : float or None
        The shortest standard needle (:data:`NEEDLE_LENGTHS_MM`) longer than the depth;
        None when none is.
    """

    angle_from_vertical_deg: float
    entry_side: str
    craniocaudal_deg: float
    entry_slice: int
    table_mm: float
    midline_offset_mm: float
    midline_side: str
    depth_mm: float
    needle_mm: float | None

    @property
    def tilt_text(self) -> str:
        """``"12° to the head"``, ``"5° to the feet"`` or ``"none"``."""
        if abs(self.craniocaudal_deg) < 0.5:
            return "none"
        way = "head" if self.craniocaudal_deg > 0 else "feet"
        return f"{abs(self.craniocaudal_deg):.0f}° to the {way}"

    @property
    def needle_text(self) -> str:
        """``"15 cm"`` or ``"> 20 cm"``."""
        if self.needle_mm is None:
            return f"> {NEEDLE_LENGTHS_MM[-1] / 10:g} cm"
        return f"{self.needle_mm / 10:g} cm"


def _side(dx_mm: float) -> str:
    if abs(dx_mm) < 1.0:
        return "midline"
    return "left" if dx_mm > 0 else "right"  # LPS +x is the patient's left


def needle_terms(
    trajectory: Trajectory, ct: Image, *, body: Structure | None = None
) -> NeedleTerms:
    """Describe a needle path as radiologists do (see :class:`NeedleTerms`).

    Parameters
    ----------
    trajectory : Trajectory
        From :func:`rtplan.plan_trajectory`.
    ct : Image
        The CT (its Patient Position and slices; HU > :data:`SKIN_HU` is the body when no
        ``body`` is given).
    body : Structure, optional
        The body outline, whose centre on the entry slice is the midline.

    Returns
    -------
    NeedleTerms

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.report import needle_terms
    >>> from rtplan.testing import cylinder_phantom
    >>> limb = cylinder_phantom()
    >>> paths = rtplan.plan_trajectory(limb.ct, target=limb.gtv, avoid=[limb.canal],
    ...                                body=limb.body, max_length_mm=80.0)
    >>> terms = needle_terms(paths[0], limb.ct, body=limb.body)
    >>> terms.depth_mm == paths[0].length_mm, terms.needle_text
    (True, '10 cm')
    """
    from rtplan.guidance._orientation import axial_screen_axes

    d = np.asarray(trajectory.direction, dtype=np.float64)
    entry = np.asarray(trajectory.entry_mm, dtype=np.float64)
    target = np.asarray(trajectory.target_mm, dtype=np.float64)
    _right, down = axial_screen_axes(ct.patient_position)
    axial = np.array([d[0], d[1], 0.0])
    norm = float(np.linalg.norm(axial))
    if norm < 1e-9:
        from_vertical = 0.0  # along the body axis: no axial angle
    else:
        from_vertical = math.degrees(math.acos(float(np.clip(axial @ down / norm, -1.0, 1.0))))
    grid = ct.grid
    k = int(np.clip(np.rint(grid.mm_to_index(entry[np.newaxis])[0, 2]), 0, grid.shape[0] - 1))
    slice_z = float(grid.index_to_mm(np.array([[0.0, 0.0, float(k)]]))[0, 2])
    inside = body.mask(grid)[k] if body is not None else np.asarray(ct.array[k]) > SKIN_HU
    if inside.any():
        j, i = np.nonzero(inside)
        pts = grid.index_to_mm(np.stack([i, j, np.full_like(i, k)], axis=1).astype(np.float64))
        midline_x = 0.5 * (float(pts[:, 0].min()) + float(pts[:, 0].max()))
    else:
        midline_x = float(target[0])
    depth = float(trajectory.length_mm)
    fits = [n for n in NEEDLE_LENGTHS_MM if n > depth]
    return NeedleTerms(
        angle_from_vertical_deg=from_vertical,
        entry_side=_side(float(entry[0] - target[0])),
        craniocaudal_deg=math.degrees(math.asin(float(np.clip(d[2], -1.0, 1.0)))),
        entry_slice=k + 1,
        table_mm=slice_z,
        midline_offset_mm=abs(float(entry[0]) - midline_x),
        midline_side=_side(float(entry[0]) - midline_x),
        depth_mm=depth,
        needle_mm=fits[0] if fits else None,
    )


def _direction_letters(v: npt.NDArray[np.float64]) -> str:
    """Patient direction letters of an LPS vector: the axes above a third of its length."""
    out = ""
    for k in np.argsort(-np.abs(v)):
        if abs(float(v[k])) > 0.33:
            out += ("RL", "AP", "IS")[int(k)][int(v[k] > 0)]
    return out


def beams_eye_outline(
    beam: Beam, structure: Structure, patient_position: str = "HFS"
) -> list[npt.NDArray[np.float64]]:
    """The silhouette of a structure in a beam's eye view, at the isocentre plane.

    Each closed contour is projected from the source onto the isocentre plane
    (:meth:`rtplan.Beam.project_to_isocenter_plane`); the silhouette is the union of the
    projected polygons.

    Parameters
    ----------
    beam : Beam
    structure : Structure
        Its closed planar contours are projected.
    patient_position : str
        DICOM Patient Position of the CT.

    Returns
    -------
    list of numpy.ndarray, each shape (N, 2), float64
        The exterior rings of the silhouette, ``(x_b, y_b)`` in mm at the isocentre
        plane (IEC 61217 beam-limiting-device axes); empty when the structure has no
        closed contour or lies behind the source.

    Examples
    --------
    A 40 mm cube centred at the isocentre seen by an anterior beam: its near face,
    980 mm from the source, projects to 40 x 1000/980 mm.

    >>> import rtplan
    >>> from rtplan.report import beams_eye_outline
    >>> from rtplan.structures import Contour
    >>> square = [(-20.0, -20.0), (20.0, -20.0), (20.0, 20.0), (-20.0, 20.0)]
    >>> box = rtplan.Structure(name="box", contours=[
    ...     Contour(points_mm=[(x, y, z) for x, y in square]) for z in (-20.0, 0.0, 20.0)])
    >>> ring = beams_eye_outline(rtplan.Beam(gantry_deg=0.0), box)[0]
    >>> round(float(ring[:, 0].max() - ring[:, 0].min()), 2)
    40.82
    """
    import shapely

    contours = [c for c in structure.closed_contours if c.n_points >= 3]
    if not contours:
        return []
    z = np.unique(np.round([float(c.points_mm[:, 2].mean()) for c in contours], 3))
    gaps = np.diff(z)
    half = 0.5 * float(
        structure.slice_thickness_mm
        if structure.slice_thickness_mm is not None
        else (np.median(gaps) if gaps.size else 0.0)
    )
    faces: list[npt.NDArray[np.float64]] = []
    caps: list[Any] = []
    for c in contours:
        ring = np.asarray(
            shapely.LineString(c.points_mm[:, :2]).simplify(0.25).coords, dtype=np.float64
        )
        if ring.shape[0] < 3:
            continue
        zc = float(c.points_mm[:, 2].mean())
        ends = [
            beam.patient_to_beam(
                np.column_stack([ring, np.full(len(ring), zc + dz)]), patient_position
            )
            for dz in (-half, half)
        ]
        both = np.stack(ends)  # (2, N, 3): the contour at the slab's two faces
        depth = beam.sad_mm - both[..., 2]
        if np.any(depth <= 1.0):
            continue  # at or behind the source
        xy = both[..., :2] * (beam.sad_mm / depth)[..., np.newaxis]
        nxt = np.roll(np.arange(len(ring)), -1)
        # the slab's side faces (each contour edge swept through the slab) and its caps
        faces.append(np.stack([xy[0], xy[0, nxt], xy[1, nxt], xy[1]], axis=1))
        caps += [shapely.Polygon(xy[0]).buffer(0), shapely.Polygon(xy[1]).buffer(0)]
    if not faces:
        return []
    quads = shapely.buffer(shapely.polygons(np.concatenate(faces, axis=0)), 0.0)
    union = shapely.union_all([*quads, *caps])
    parts = getattr(union, "geoms", [union])
    return [np.asarray(p.exterior.coords, dtype=np.float64) for p in parts if not p.is_empty]


def beams_eye_view(
    beam: Beam,
    structures: Sequence[Structure],
    *,
    patient_position: str = "HFS",
    margin_mm: float = 20.0,
) -> Any:
    """A beam's eye view: the jaws and MLC aperture over the projected structures.

    Drawn as seen from the source, ``X_b`` to the right and ``Y_b`` up (IEC 61217
    beam-limiting-device axes; the collimator rotation turns the patient, not the field):
    each structure's silhouette (:func:`beams_eye_outline`) in its colour, the leaves
    (grey, from the field's edge to their tips) of the pairs within the jaws, the jaws
    (yellow), the central axis (cross), axes in mm at the isocentre, a 50 mm scale bar,
    the patient directions at the edges and the beam's name, gantry, collimator and
    couch angles.

    Parameters
    ----------
    beam : Beam
    structures : sequence of Structure
        Drawn when they have closed contours; an ``EXTERNAL`` structure is left out.
    patient_position : str
        DICOM Patient Position of the CT.
    margin_mm : float
        Shown around the jaws (and the targets), mm at the isocentre.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.report import beams_eye_view
    >>> fig = beams_eye_view(rtplan.Beam(name="AP", mlc=rtplan.plan.Mlc.uniform(20)), [])
    >>> fig.axes[0].get_title()
    'AP: gantry 0°, collimator 0°, couch 0°'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon as PolygonPatch
    from matplotlib.patches import Rectangle

    x1, x2, y1, y2 = beam.jaws_mm
    lo = np.array([x1, y1]) - margin_mm
    hi = np.array([x2, y2]) + margin_mm
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    ax.set_facecolor("black")
    drawn = []
    for s in structures:
        if s.interpreted_type.upper() == "EXTERNAL":
            continue
        rings = beams_eye_outline(beam, s, patient_position)
        if not rings:
            continue
        colour = (s.color[0] / 255.0, s.color[1] / 255.0, s.color[2] / 255.0)
        target = s.interpreted_type.upper() in ("PTV", "CTV", "GTV")
        for ring in rings:
            ax.add_patch(
                PolygonPatch(
                    ring, closed=True, fill=True, alpha=0.2 if target else 0.0, color=colour, lw=0
                )
            )
            ax.plot(ring[:, 0], ring[:, 1], color=colour, lw=1.4)
        drawn.append((s.name, colour))
        if target:
            pts = np.vstack(rings)
            lo = np.minimum(lo, pts.min(axis=0) - margin_mm)
            hi = np.maximum(hi, pts.max(axis=0) + margin_mm)
    mlc = beam.mlc
    if mlc is not None:
        bounds = np.asarray(mlc.leaf_boundaries_mm)
        pos = np.asarray(mlc.positions_mm)
        left, right = lo[0] - 1.0, hi[0] + 1.0
        for i in range(mlc.n_pairs):
            b0, b1 = float(bounds[i]), float(bounds[i + 1])
            if b1 <= lo[1] or b0 >= hi[1]:
                continue
            a, b = float(pos[0, i]), float(pos[1, i])
            for x0, x1_ in ((left, a), (b, right)):
                if x1_ > x0:
                    ax.add_patch(
                        Rectangle(
                            (x0, b0), x1_ - x0, b1 - b0, fc=(0.6, 0.6, 0.6), alpha=0.75,
                            ec=(0.3, 0.3, 0.3), lw=0.5,
                        )
                    )  # fmt: skip
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="yellow", lw=1.6))
    ax.plot([-6, 6], [0, 0], color="white", lw=0.8)
    ax.plot([0, 0], [-6, 6], color="white", lw=0.8)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("X_b (mm at isocentre)")
    ax.set_ylabel("Y_b (mm at isocentre)")
    # 50 mm scale bar, bottom left
    bx, by = lo[0] + 0.05 * (hi[0] - lo[0]), lo[1] + 0.05 * (hi[1] - lo[1])
    ax.plot([bx, bx + 50.0], [by, by], color="white", lw=2.5)
    ax.text(bx + 25.0, by + 0.015 * (hi[1] - lo[1]), "50 mm", color="white", ha="center",
            va="bottom", fontsize=8)  # fmt: skip
    r = beam.beam_to_patient(patient_position)
    mid = 0.5 * (lo + hi)
    for vec, (x, y), ha, va in (
        (r[:, 0], (hi[0], mid[1]), "right", "center"),
        (-r[:, 0], (lo[0], mid[1]), "left", "center"),
        (r[:, 1], (mid[0], hi[1]), "center", "top"),
        (-r[:, 1], (mid[0], lo[1]), "center", "bottom"),
    ):
        ax.text(x, y, _direction_letters(vec), color="white", ha=ha, va=va, fontsize=10,
                fontweight="bold")  # fmt: skip
    ax.set_title(
        f"{beam.name or beam.number}: gantry {beam.gantry_deg:g}°, collimator "
        f"{beam.collimator_deg:g}°, couch {beam.couch_deg:g}°"
    )
    if drawn:
        handles = [Line2D([], [], color=c, lw=2) for _, c in drawn]
        ax.legend(handles, [n for n, _ in drawn], loc="upper left", fontsize=7,
                  bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)  # fmt: skip
    fig.tight_layout()
    return fig


@dataclass(frozen=True, kw_only=True, slots=True)
class CouchShift:
    """The isocentre as a table shift from a reference point (IEC 61217 table axes).

    Convention: the displacement of the isocentre from the reference point, along the
    IEC 61217 fixed axes with the couch at 0° (the table's axes): **lateral** along X
    (positive to the right of an observer at the foot of the couch facing the gantry),
    **longitudinal** along Y (positive towards the gantry), **vertical** along Z
    (positive up). The patient position decides which way the patient's axes point:
    for HFS the patient's left is +lateral, anterior +vertical and the head
    +longitudinal; for FFS left is -lateral, the head -longitudinal; for HFP left is
    -lateral, anterior -vertical. With the reference point set on the machine's
    isocentre (lasers), the table moves by the opposite of this displacement to bring
    the plan's isocentre there.

    Parameters
    ----------
    lateral_mm, vertical_mm, longitudinal_mm : float
        The displacement, mm.
    reference_mm : tuple of 3 float
        The reference point, LPS mm.
    """

    lateral_mm: float
    vertical_mm: float
    longitudinal_mm: float
    reference_mm: tuple[float, float, float]

    @property
    def text(self) -> str:
        """``"lat +10.0, vert -20.0, long +30.0"`` (mm)."""
        return (
            f"lat {self.lateral_mm:+.1f}, vert {self.vertical_mm:+.1f}, "
            f"long {self.longitudinal_mm:+.1f}"
        )


def couch_shift(
    isocenter_mm: Sequence[float],
    patient_position: str = "HFS",
    reference_mm: Sequence[float] = (0.0, 0.0, 0.0),
) -> CouchShift:
    """The isocentre as a table shift from a reference point (see :class:`CouchShift`).

    Parameters
    ----------
    isocenter_mm : sequence of 3 float
        The isocentre, LPS mm.
    patient_position : str
        DICOM Patient Position of the CT (HFS, HFP, FFS, FFP, HFDL, HFDR, FFDL, FFDR).
    reference_mm : sequence of 3 float
        The reference point, LPS mm: the DICOM origin (0, 0, 0) by default, else a setup
        point (the CT's marker or laser point).

    Returns
    -------
    CouchShift

    Examples
    --------
    A supine, head-first patient; the isocentre 10 mm to the patient's left, 20 mm
    posterior and 30 mm superior of the setup point:

    >>> from rtplan.report import couch_shift
    >>> couch_shift((10.0, 20.0, 30.0)).text
    'lat +10.0, vert -20.0, long +30.0'
    >>> couch_shift((10.0, 20.0, 30.0), "FFS").text
    'lat -10.0, vert -20.0, long -30.0'
    """
    from rtplan.image import PatientPosition

    ref = np.asarray(reference_mm, dtype=np.float64).reshape(3)
    d = PatientPosition(patient_position).to_iec_fixed @ (
        np.asarray(isocenter_mm, dtype=np.float64).reshape(3) - ref
    )
    return CouchShift(
        lateral_mm=float(d[0]) + 0.0,
        vertical_mm=float(d[2]) + 0.0,
        longitudinal_mm=float(d[1]) + 0.0,
        reference_mm=(float(ref[0]), float(ref[1]), float(ref[2])),
    )


#: The names :func:`couch_reference` takes besides coordinates and point structures.
COUCH_REFERENCE_NAMES = ("origin", "isocenter", "isocentre")


def couch_reference(
    text: str,
    *,
    plan: Plan | None = None,
    structures: Iterable[Structure] | None = None,
) -> tuple[tuple[float, float, float], str]:
    """The reference point of :func:`couch_shift` from its description.

    Parameters
    ----------
    text : str
        ``"X,Y,Z"``: LPS coordinates, mm (three finite numbers; spaces allowed);
        ``"origin"``: the DICOM origin (0, 0, 0); ``"isocenter"`` (or ``"isocentre"``):
        the plan's first beam's isocentre (each beam's shift is then its offset from it);
        else the name of a structure holding exactly one POINT contour (a setup marker
        or a localisation point of the RT Structure Set).
    plan : Plan, optional
        Needed for ``"isocenter"``.
    structures : iterable of Structure, optional
        Searched for a point structure of that name (a StructureSet, a list).

    Returns
    -------
    point_mm : tuple of 3 float
        The point, LPS mm.
    label : str
        How reports name it: ``"the DICOM origin (0, 0, 0)"``, ``"the point (x, y, z)
        mm"``, ``"the isocentre of beam 1 (x, y, z) mm"``, ``"the point Marker (x, y, z)
        mm"``.

    Raises
    ------
    RtplanError
        If the text is none of these (naming the text and what is accepted), the plan is
        missing for ``"isocenter"``, or the structure is absent or not one point.

    Examples
    --------
    >>> from rtplan.report import couch_reference
    >>> couch_reference("10, -20.5, 300")
    ((10.0, -20.5, 300.0), 'the point (10.0, -20.5, 300.0) mm')
    >>> couch_reference("origin")[1]
    'the DICOM origin (0, 0, 0)'
    """
    from rtplan.errors import RtplanError

    spec = text.strip()
    accepted = (
        "give X,Y,Z in LPS mm (e.g. 0,-150,30), 'origin', 'isocenter' or the name of a "
        "point structure"
    )
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) > 1:
        try:
            xyz = [float(p) for p in parts]
        except ValueError:
            xyz = []
        if len(xyz) != 3 or not all(math.isfinite(v) for v in xyz):
            raise RtplanError(f"couch reference {text!r} is not 3 finite numbers: {accepted}")
        point = (xyz[0] + 0.0, xyz[1] + 0.0, xyz[2] + 0.0)
        return point, "the point ({:.1f}, {:.1f}, {:.1f}) mm".format(*point)
    word = spec.lower()
    if word == "origin":
        return (0.0, 0.0, 0.0), "the DICOM origin (0, 0, 0)"
    if word in ("isocenter", "isocentre"):
        if plan is None or not plan.beams:
            raise RtplanError(
                f"couch reference {text!r} needs a plan with beams: give the plan, or {accepted}"
            )
        beam = plan.beams[0]
        iso = tuple(float(v) for v in beam.isocenter_mm)
        name = beam.name or str(beam.number)
        return (
            iso[0],
            iso[1],
            iso[2],
        ), "the isocentre of beam {} ({:.1f}, {:.1f}, {:.1f}) mm".format(name, *iso)
    candidates = list(structures or ())
    found = next((s for s in candidates if s.name == spec), None) if spec else None
    if found is None:
        known = [s.name for s in candidates if len(s.points_mm) == 1]
        raise RtplanError(
            f"couch reference {text!r} is not understood: {accepted}"
            + (f" (point structures: {', '.join(known)})" if known else "")
        )
    points = found.points_mm
    if len(points) != 1:
        raise RtplanError(
            f"couch reference {text!r}: structure {found.name!r} holds {len(points)} POINT "
            f"contours, not one; {accepted}"
        )
    xyz = [float(v) for v in points[0]]
    return (xyz[0], xyz[1], xyz[2]), "the point {} ({:.1f}, {:.1f}, {:.1f}) mm".format(
        found.name, *xyz
    )


def resolve_couch_reference(
    reference: str | Sequence[float],
    *,
    plan: Plan | None = None,
    structures: Iterable[Structure] | None = None,
) -> tuple[tuple[float, float, float], str]:
    """:func:`couch_reference` of a description, or a point given as 3 numbers (LPS mm)."""
    if isinstance(reference, str):
        return couch_reference(reference, plan=plan, structures=structures)
    return couch_reference(",".join(repr(float(v)) for v in reference))
