"""The HTML review report: study, plan, dose evaluation, overlays and needle trajectories."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan._format import csv_number, csv_quantity
from rtplan.report._html import HtmlReport, number_text
from rtplan.report._imrt import add_segments_section
from rtplan.report._tables import METRIC_TITLES

if TYPE_CHECKING:
    from rtplan.dose import MuCheck
    from rtplan.evaluate import DVH, GoalTable
    from rtplan.guidance import OverlayStyle, TrajectoryResult
    from rtplan.image import Dose
    from rtplan.io.study import Study
    from rtplan.plan import Plan
    from rtplan.structures import Structure

__all__ = [
    "add_dose_section",
    "add_mu_check_section",
    "add_study_section",
    "add_trajectory_section",
    "input_uids",
    "review_report",
]

logger = logging.getLogger(__name__)


def _by_quantity(value: Any, unit: str) -> Any:
    """A table cell with the precision of its quantity, as the CSV files write it.

    Doses to 0.01 Gy, percentages to 0.1 %, lengths to 0.1 mm and angles to 0.1° (below 1,
    significant figures; :func:`rtplan._format.csv_number`); ``-`` for a value that is
    not a finite number; other numbers (volumes, indices) are left to the table's 4
    significant figures. ``unit`` is a column key (``d95_gy``) or a unit (``%Rx``).
    """
    if isinstance(value, float) and csv_quantity(unit) in ("gy", "percent", "mm", "deg"):
        return csv_number(value, unit) or "-"
    return value


def add_study_section(report: HtmlReport, study: Study, *, title: str = "Study") -> None:
    """Add the patient position, the CT grid, the structure table and the reading warnings.

    Parameters
    ----------
    report : HtmlReport
        The report the section is added to.
    study : Study
        A loaded study (no patient identifiers are shown).
    title : str
        The section heading.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.report import HtmlReport, add_study_section
    >>> report = HtmlReport(title="thigh")
    >>> add_study_section(report, rtplan.load_study(rtplan.data.get_path("thigh_sarcoma")))
    >>> "<td>PTV</td>" in report.render()
    True
    """
    s = study.summary()
    ct = s["ct"]
    report.heading(title)
    size = ct.get("size", {})
    spacing = ct.get("spacing_mm", {})
    report.table(
        ["CT", "value"],
        [
            ["patient position", s.get("patient_position") or "unknown"],
            ["size (columns x rows x slices)", " x ".join(str(v) for v in size.values())],
            [
                "spacing (mm)",
                " x ".join(f"{float(v):.3g}" for v in spacing.values() if v is not None),
            ],
        ],
    )
    rows = [
        [
            st["name"],
            st.get("type") or "",
            st["volume_cc"] if st.get("volume_cc") is not None else "-",
            st.get("contours", ""),
        ]
        for st in s["structures"]
    ]
    if rows:
        report.table(["structure", "type", "volume (cm³)", "contours"], rows)
    if s["warnings"]:
        report.warnings(s["warnings"])


def input_uids(
    study: Study, *, plan: Plan | None = None, dose: Dose | None = None
) -> list[list[str]]:
    """The inputs of a review, ``[what, UID]`` rows: CT series, frame, RT objects, rtplan.

    Parameters
    ----------
    study : Study
    plan, dose : optional
        The RT Plan and RT Dose reviewed.

    Returns
    -------
    list of [str, str]
        ``"-"`` for a UID that is unknown.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.report import input_uids
    >>> rows = input_uids(rtplan.load_study(rtplan.data.get_path("thigh_sarcoma")))
    >>> [what for what, _ in rows]
    ['rtplan version', 'CT series', 'frame of reference', 'RT Structure Set']
    """
    from rtplan._version import __version__

    s = study.summary()
    ct = s.get("ct", {})
    rs = s.get("structure_set") or {}
    rows = [
        ["rtplan version", __version__],
        ["CT series", str(ct.get("series_instance_uid") or "-")],
        ["frame of reference", str(ct.get("frame_of_reference_uid") or "-")],
        ["RT Structure Set", str(rs.get("sop_instance_uid") or "-")],
    ]
    if plan is not None:
        rows.append(["RT Plan", str(plan.uid or "-")])
    if dose is not None:
        series = dose.series
        uids = series.sop_instance_uids if series is not None else ()
        rows.append(["RT Dose", str(uids[0]) if uids else "- (computed)"])
        if dose.plan_uid:
            rows.append(["RT Plan referenced by the RT Dose", dose.plan_uid])
    return rows


def _plot_color(rgb: Sequence[int]) -> npt.NDArray[np.float64]:
    """A structure colour made dark enough for a white plot (L* at most 70), same hue."""
    from skimage.color import lab2rgb

    from rtplan.guidance._palette import to_lab

    lab = to_lab(rgb)
    if lab[0] <= 70.0:
        return np.asarray(rgb, dtype=np.float64) / 255.0
    lab = lab.copy()
    lab[0] = 70.0
    out = lab2rgb(lab.reshape(1, 1, 3)).reshape(3)
    return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float64)


_LINE_STYLES = ("-", "--", "-.", ":")
_TARGETS = ("GTV", "CTV", "ITV", "PTV")


def _goal_marker(goal: Any, h: DVH, rx: float | None) -> tuple[float, float, str] | None:
    """Where a clinical goal sits on the cumulative DVH plot (dose Gy, volume %, marker)."""
    g = goal.goal
    marker = "^" if g.op in (">=", ">") else "v"
    vol = h.volume_cc
    if g.quantity == "D" and g.at is not None:
        dose = g.value * rx / 100.0 if g.unit == "%" and rx else g.value
        volume = g.at if g.at_unit == "%" else (100.0 * g.at / vol if vol > 0 else None)
        marker = ">" if g.op in (">=", ">") else "<"
        return None if volume is None or (g.unit == "%" and not rx) else (dose, volume, marker)
    if g.quantity == "V" and g.at is not None:
        dose = g.at * rx / 100.0 if g.at_unit == "%" and rx else g.at
        volume = g.value if g.unit == "%" else (100.0 * g.value / vol if vol > 0 else None)
        if volume is None or (g.at_unit == "%" and not rx):
            return None
        return dose, volume, marker
    if g.quantity in ("Dmax", "Dmin", "Dmean", "Dmedian"):
        dose = g.value * rx / 100.0 if g.unit == "%" and rx else g.value
        if g.unit == "%" and not rx:
            return None
        y = {"Dmax": 0.0, "Dmin": 100.0, "Dmean": 50.0, "Dmedian": 50.0}[g.quantity]
        return dose, y, ">" if g.op in (">=", ">") else "<"
    return None


def _dvh_figure(
    dvhs: dict[str, DVH],
    structures: Sequence[Structure],
    prescription_gy: float | None,
    goals: GoalTable | None = None,
) -> Any:
    """Cumulative DVHs: targets solid and thicker, organs in cycling line styles.

    Goals are triangles pointing the way the goal asks (filled: met, hollow: failed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_name = {s.name: s for s in structures}
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    n_other = 0
    for name, h in dvhs.items():
        if h.is_empty:
            continue
        d, v = h.curve("cumulative", volume_unit="%")
        s = by_name.get(name)
        color = _plot_color(s.color) if s is not None else np.array([0.3, 0.3, 0.3])
        target = s is not None and (
            s.interpreted_type.upper() in _TARGETS or name.upper().startswith(_TARGETS)
        )
        style = "-" if target else _LINE_STYLES[n_other % len(_LINE_STYLES)]
        n_other += 0 if target else 1
        ax.plot(d, v, color=color, lw=2.2 if target else 1.4, ls=style, label=name)
    if goals is not None:
        for g in goals:
            goal_dvh = dvhs.get(g.goal.structure)
            s = by_name.get(g.goal.structure)
            where = _goal_marker(g, goal_dvh, prescription_gy) if goal_dvh is not None else None
            if where is None:
                continue
            color = _plot_color(s.color) if s is not None else np.array([0.3, 0.3, 0.3])
            met = g.passed is not False
            ax.plot(
                [where[0]], [where[1]], marker=where[2], ms=9, ls="none",
                markerfacecolor=color if met else "white", markeredgecolor="k",
            )  # fmt: skip
    if prescription_gy:
        ax.axvline(prescription_gy, color="k", ls=":", lw=1, label="prescription")
    ax.set_xlabel("Dose (Gy)")
    ax.set_ylabel("Volume (%)")
    ax.set_ylim(0, 102)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    # beside the axes: inside, the legend hides the targets' curves (high dose, 100 %)
    n_entries = len(ax.get_legend_handles_labels()[1])
    ax.legend(
        fontsize=8,
        ncol=1 if n_entries <= 16 else 2,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
    )
    title = "Cumulative dose-volume histograms"
    if goals is not None and len(goals):
        title += "\n(goals: triangles pointing the way the goal asks; hollow = not met)"
    ax.set_title(title, fontsize=10)
    return fig


def add_dose_section(  # noqa: PLR0913 (keyword-only: the parts of one section)
    report: HtmlReport,
    ct: Any,
    dose: Dose,
    structures: Sequence[Structure],
    *,
    plan: Plan | None = None,
    goals: GoalTable | None = None,
    dvhs: dict[str, DVH] | None = None,
    focus: Structure | None = None,
    mu_check: MuCheck | None = None,
    style: OverlayStyle | None = None,
    couch_reference: str | Sequence[float] = "origin",
) -> dict[str, DVH]:
    """Add the beams, the DVH metrics and curves, the clinical goals and isodose views.

    With a plan: its beam table, a beam's eye view per beam and, for step-and-shoot
    beams, their segments and fluence (:func:`add_segments_section`).

    Structures whose colours clash with an isodose line drawn (CIEDE2000 below
    :data:`rtplan.guidance.MIN_DELTA_E`) or with each other are drawn, in the views and
    in the DVH plot, in the nearest distinct colour (:func:`rtplan.guidance.distinct_structures`);
    the section lists the changes.

    The dose evaluated is the whole plan's: a per-fraction dose is converted with the
    plan's number of fractions (or refused when it is unknown), a dose of part of a plan
    or an ``ERROR`` dose is refused (:func:`rtplan.evaluate.dose_for_evaluation`); the
    section states which dose it shows and any conversion.

    Parameters
    ----------
    report : HtmlReport
        The report the section is added to.
    ct : Image
        The CT the dose and the structures lie on (HU).
    dose : Dose
        The dose, Gy (see above for doses that are not the whole plan's).
    structures : sequence of Structure
        The structures evaluated and drawn (those with a volume).
    plan : Plan, optional
        Adds the beam table; its prescription gives the ``%Rx`` columns and isodoses.
    goals : GoalTable, optional
        Evaluated clinical goals, shown with their status.
    dvhs : dict of str to DVH, optional
        The DVHs of ``structures``, when already computed.
    focus : Structure, optional
        The structure the axial, coronal and sagittal views pass through (its centroid).
    mu_check : MuCheck, optional
        The independent MU check of the plan (:func:`rtplan.dose.mu_check`): its MU and
        difference join the beam table, its details a section of their own
        (:func:`add_mu_check_section`).
    style : OverlayStyle, optional
        How the views are drawn: isodose levels (``isodose_percent``) and colours
        (``isodose_colors``) above all; :class:`rtplan.guidance.OverlayStyle` defaults.
    couch_reference : str or sequence of 3 float
        The point the beam table's couch coordinates are measured from: LPS mm, or a
        description that :func:`couch_reference` reads (``"origin"``, the default;
        ``"isocenter"``; a point structure's name among ``structures``; ``"X,Y,Z"``).

    Returns
    -------
    dict of str to DVH
        The DVHs used (computed when not given, or given for another dose).

    Raises
    ------
    EvaluationError
        If the dose cannot stand for the whole plan (see above).
    RtplanError
        If ``couch_reference`` is not understood.

    Examples
    --------
    A water sphere of 35 mm radius on a 5 mm grid, a dose falling off from its centre:

    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.report import HtmlReport, add_dose_section
    >>> from rtplan.testing import cube_grid, sphere_contour_structure
    >>> grid = cube_grid(16, spacing=5.0)
    >>> r_mm = np.linalg.norm(grid.centers_mm(), axis=-1)
    >>> ct = rtplan.Image(array=np.where(r_mm < 35.0, 0.0, -1000.0), grid=grid)
    >>> gtv = sphere_contour_structure(grid, (5.0, 5.0, 0.0), 12.0, name="GTV")
    >>> dose = rtplan.Dose(array=np.clip(60.0 - r_mm, 0.0, 50.0), grid=grid)
    >>> report = HtmlReport(title="dose check")
    >>> dvhs = add_dose_section(report, ct, dose, [gtv], focus=gtv)
    >>> round(dvhs["GTV"].max_gy), report.render().count("data:image/png")  # DVH + 3 views
    (50, 4)
    """
    from rtplan import evaluate, guidance

    evaluated = evaluate.dose_for_evaluation(
        dose, fractions=plan.fractions if plan is not None else None, purpose="the review report"
    )
    dose = evaluated.dose  # type: ignore[assignment]
    rx = plan.prescription_gy if plan is not None else None
    style = style if style is not None else guidance.OverlayStyle()
    drawn = guidance.distinct_structures(
        list(structures),
        reserved=[guidance.isodose_color(p, style.colors) for p in style.isodose_percent],
    )
    if plan is not None:
        from rtplan.report._plancheck import resolve_couch_reference

        reference = resolve_couch_reference(couch_reference, plan=plan, structures=structures)
        _plan_table(report, plan, mu_check, ct, reference)
        _beams_eye_views(report, plan, drawn, ct)
        add_segments_section(report, plan)
    if mu_check is not None:
        add_mu_check_section(report, mu_check)
    report.heading("Dose evaluation")
    report.paragraph(
        f"Dose evaluated: {evaluated.basis}. Dose grid "
        f"{' x '.join(str(n) for n in dose.grid.shape_ijk)} voxels at "
        f"{' x '.join(f'{s:.3g}' for s in dose.grid.spacing_ijk_mm)} mm; maximum "
        f"{dose.max_gy:.2f} Gy; dose to {dose.medium}."
    )
    meaning = str(getattr(dose, "meaning", ""))
    if dvhs is not None and any(
        h.dose_meaning and h.dose_meaning != meaning for h in dvhs.values()
    ):
        dvhs = None  # DVHs of another dose (one fraction, before the conversion)
    if dvhs is None:
        dvhs = evaluate.compute_dvhs(dose, [s for s in structures if s.has_volume])
    rows = [evaluate.dose_metrics(h, rx) for h in dvhs.values()]
    if rows:
        keys = [k for k in METRIC_TITLES if k in rows[0] and k not in ("coverage_percent",)]
        report.table(
            [METRIC_TITLES[k] for k in keys],
            [[_by_quantity(r[k], k) for k in keys] for r in rows],
            scroll=True,
        )
        report.figure(_dvh_figure(dvhs, drawn, rx, goals), "Cumulative DVHs")
    if rx:
        _conformity_table(report, dose, drawn, rx, dvhs)
    if goals is not None:
        report.heading("Clinical goals")
        if goals.dose_basis:
            report.paragraph(f"Evaluated on: {goals.dose_basis}.")
        report.table(
            ["structure", "goal", "measured", "unit", "status", "note"],
            [
                [
                    g.goal.structure,
                    g.goal.text,
                    _by_quantity(g.measured, g.goal.display_unit),
                    g.goal.display_unit,
                    g.status,
                    g.note,
                ]
                for g in goals
            ],
            status_column=4,
        )
    centre = focus.centroid_mm if focus is not None else None
    for plane in ("axial", "coronal", "sagittal"):
        at = None
        if centre is not None:
            at = float(centre[{"axial": 2, "coronal": 1, "sagittal": 0}[plane]])
        layers = [_BeamAxes(plan)] if plan is not None and plane == "axial" else []
        rgb = guidance.render_overlay(
            ct,
            plane=plane,
            at_mm=at,
            dose=dose,
            prescription_gy=rx,
            structures=drawn,
            style=replace(style, layers=(*style.layers, *layers)),
        )
        caption = f"{plane} through {focus.name if focus else 'the centre'}"
        report.image(rgb, caption + (" with the beams' central axes" if layers else ""))
    changed = [
        f"{a.name} ({', '.join(map(str, a.color))} -> {', '.join(map(str, b.color))})"
        for a, b in zip(structures, drawn, strict=True)
        if a.color != b.color
    ]
    if changed:
        report.paragraph(
            "Drawn in another colour than the RT Structure Set's, too close to an isodose "
            f"line (CIEDE2000 < {guidance.MIN_DELTA_E:g}) or to another structure (< "
            f"{guidance.MIN_STRUCTURE_DELTA_E:g}): " + "; ".join(changed) + "."
        )
    return dvhs


class _BeamAxes:
    """An overlay layer: each beam's central axis from the skin side to the isocentre.

    Drawn dashed white with a black edge from the edge of the view (towards the source) to
    the isocentre, projected on the view's plane, and named near the edge; the part behind
    the isocentre is left out. Meant for axial views (the axes of beams without couch
    rotation run parallel to them); an axis crossing the plane is not drawn.

    Parameters
    ----------
    plan : Plan
        The beams (IEC 61217 angles) and the patient position.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def draw(self, canvas: Any, view: Any, ct: Any) -> None:
        """Draw the axes on ``canvas`` (see :class:`rtplan.guidance.OverlayLayer`)."""
        position = self.plan.patient_position or ct.patient_position or "HFS"
        rows, cols = view.shape
        reach = float(np.hypot(rows, cols)) * view.pixel_mm
        for beam in self.plan.beams:
            iso = np.asarray(beam.isocenter_mm, dtype=np.float64)
            axis = np.asarray(beam.direction(position), dtype=np.float64)
            ends, _ = view.to_pixel(np.stack([iso - reach * axis, iso]))
            if abs(float(axis @ view.normal)) > 0.1:
                continue  # the axis crosses the plane (a couch rotation): not drawn
            canvas.polyline(ends, (0, 0, 0), 3.0, dash_px=(8.0, 5.0))
            canvas.polyline(ends, (255, 255, 255), 1.0, dash_px=(8.0, 5.0))
            # the name where the axis enters the view
            t = np.linspace(0.0, 1.0, 200)
            pts = ends[0] + t[:, np.newaxis] * (ends[1] - ends[0])
            inside = (
                (pts[:, 0] >= 20)
                & (pts[:, 0] < cols - 20)
                & (pts[:, 1] >= 20)
                & (pts[:, 1] < rows - 20)
            )
            if inside.any():
                c, r = pts[int(np.argmax(inside))]
                canvas.text(
                    beam.name or str(beam.number), c, r, (255, 255, 255), size_px=11, anchor="cm"
                )


def _conformity_table(
    report: HtmlReport,
    dose: Dose,
    structures: Sequence[Structure],
    rx: float,
    dvhs: dict[str, DVH],
) -> None:
    """RTOG and Paddick conformity and the gradient index of each target (PTV first)."""
    from rtplan import evaluate
    from rtplan.report._tables import CONFORMITY_TITLES

    targets = [
        s
        for kind in ("PTV", "CTV", "GTV")
        for s in structures
        if s.has_volume and (s.interpreted_type.upper() == kind)
    ]
    if not targets:
        return
    body = next((s for s in structures if s.interpreted_type.upper() == "EXTERNAL"), None)
    rows = [evaluate.conformity_metrics(dose, t, rx, body=body, dvhs=dvhs) for t in targets]
    keys = [k for k in CONFORMITY_TITLES if k in rows[0]]
    report.heading("Conformity and dose fall-off")
    report.paragraph(
        f"Prescription isodose {rx:g} Gy"
        + (f", isodose volumes inside {body.name}" if body is not None else "")
        + ": RTOG CI = PIV/TV, Paddick CI = TV_PIV²/(TV·PIV), GI = PIV50%/PIV."
    )
    report.table(
        [CONFORMITY_TITLES[k] for k in keys],
        [[_by_quantity(r[k], k) for k in keys] for r in rows],
    )


def _beam_kinds(plan: Plan) -> str:
    """`` (all static)``, `` (all step-and-shoot)`` or `` (2 static, 3 step-and-shoot)``."""
    n_seg = sum(1 for b in plan.beams if b.segments)
    n_static = len(plan.beams) - n_seg
    if n_seg == 0:
        return " (all static)"
    if n_static == 0:
        return " (all step-and-shoot)"
    return f" ({n_static} static, {n_seg} step-and-shoot)"


def _plan_table(
    report: HtmlReport,
    plan: Plan,
    check: MuCheck | None,
    ct: Any,
    reference: tuple[tuple[float, float, float], str] = (
        (0.0, 0.0, 0.0),
        "the DICOM origin (0, 0, 0)",
    ),
) -> None:
    """The plan's prescription and its beams (with the MU check's MU when given).

    ``reference``: the couch coordinates' reference point (LPS mm) and its description
    (:func:`rtplan.report.couch_reference`).
    """
    from rtplan.report._plancheck import beam_geometry, couch_shift

    rx = plan.prescription_gy
    report.heading(f"Plan {plan.name}")
    report.paragraph(
        f"Prescription {number_text(rx) if rx is not None else '-'} Gy in {plan.fractions} "
        f"fraction(s); normalisation: {plan.normalization}; {len(plan.beams)} photon beam(s)"
        f"{_beam_kinds(plan)}; {number_text(plan.total_mu)} MU per fraction, "
        f"{number_text(plan.total_mu * plan.fractions)} MU in all. SSD and depth: along the "
        "central axis to the skin on the CT (first crossing of -500 HU). Jaws at the "
        "isocentre, IEC 61217 X1/X2/Y1/Y2 (negative X1/Y1 open past the axis). Couch: the "
        f"isocentre from {reference[1]} in IEC 61217 table axes, couch at 0° "
        "(lateral + to the right of an observer at the couch foot facing the gantry, "
        "vertical + up, longitudinal + towards the gantry); the table moves by the "
        "opposite to bring it to the machine isocentre."
    )
    head = [
        "beam", "machine", "energy", "gantry (°)", "collimator (°)", "couch (°)",
        "isocentre LPS (mm)", "couch lat/vert/long (mm)", "SSD (mm)", "depth (mm)",
        "X1 (mm)", "X2 (mm)", "Y1 (mm)", "Y2 (mm)", "MU / fraction", "MU total",
    ]  # fmt: skip
    position = plan.patient_position or ct.patient_position
    rows: list[list[Any]] = []
    for b in plan.beams:
        geo = beam_geometry(b, ct, position)
        rows.append(
            [
                b.name or str(b.number),
                b.machine or "-",
                b.energy,
                b.gantry_deg,
                b.collimator_deg,
                b.couch_deg,
                "({})".format(", ".join(f"{v:.1f}" for v in b.isocenter_mm)),
                couch_shift(b.isocenter_mm, position or "HFS", reference[0]).text,
                f"{geo.ssd_mm:.1f}" if geo.ssd_mm is not None else "-",
                f"{geo.depth_mm:.1f}" if geo.depth_mm is not None else "-",
                *(f"{v:.1f}" for v in b.jaws_mm),
                f"{b.mu:.1f}" if b.mu is not None else "-",
                f"{b.mu * plan.fractions:.1f}" if b.mu is not None else "-",
            ]
        )
    status = None
    if check is not None and len(check) == len(rows):
        head += ["check MU", "difference (%)", "MU check"]
        status = len(head) - 1
        for row, c in zip(rows, check, strict=True):
            ok = c.passed is not None
            row += [
                f"{c.check_mu:.1f}" if ok else "-",
                f"{c.difference_percent:+.1f}" if ok else "-",
            ]
            row.append(c.status)
    report.table(head, rows, status_column=status, scroll=True)


def _beams_eye_views(
    report: HtmlReport, plan: Plan, structures: Sequence[Structure], ct: Any
) -> None:
    """One beam's eye view per beam: the jaws and the MLC over the projected structures."""
    from rtplan.report._plancheck import beams_eye_view

    position = plan.patient_position or ct.patient_position or "HFS"
    for b in plan.beams:
        report.figure(
            beams_eye_view(b, structures, patient_position=position),
            f"Beam's eye view of {b.name or b.number}, seen from the source: structures "
            "projected to the isocentre plane, jaws (yellow), MLC leaves (grey); mm at the "
            "isocentre."
            + (
                f" Step-and-shoot beam: the leaves shown are the envelope of its "
                f"{len(b.segments)} segments."
                if b.segments
                else ""
            ),
        )


def add_mu_check_section(report: HtmlReport, check: MuCheck) -> None:
    """Add the independent MU check: per beam the MU, the check's, and the hand calculation.

    Parameters
    ----------
    report : HtmlReport
        The report the section is added to.
    check : MuCheck
        From :func:`rtplan.dose.mu_check`; its plausibility notes are shown as warnings.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.dose import mu_check
    >>> from rtplan.report import HtmlReport, add_mu_check_section
    >>> from rtplan.testing import water_phantom
    >>> ct = water_phantom(width_mm=200, depth_mm=200, spacing_mm=5.0)
    >>> beam = rtplan.Beam(name="AP", isocenter_mm=(0.0, 100.0, 0.0), mu=253.0)
    >>> plan = rtplan.Plan(beams=[beam], prescription_gy=2.0, normalization="isocenter")
    >>> report = HtmlReport(title="MU check")
    >>> add_mu_check_section(report, mu_check(plan, ct))
    >>> html = report.render()
    >>> "Independent MU check" in html, '<td class="pass">PASS</td>' in html
    (True, True)
    """
    report.heading("Independent MU check")
    report.paragraph(
        "Hand calculation of each beam (output factors Sc and Sp of the equivalent square, "
        "TMR at the effective depth along the ray through the CT, inverse square, off-axis "
        f"ratio), independent of the dose engines; tolerance {check.tolerance_percent:g} %. "
        f"Dose at the points: {check.basis}."
    )
    notes = {b.note for b in check}
    if all(b.passed is None for b in check) and len(notes) == 1:
        # one reason for the whole plan (a modulated plan): said once, not per beam
        report.paragraph(f"Not made: {notes.pop()}.")
        report.table(
            ["beam", "MU / fraction", "result"],
            [[b.beam, f"{b.engine_mu:.1f}", b.status] for b in check],
            status_column=2,
        )
        report.warnings(list(check.notes))
        return
    rows = []
    for b in check:
        c = b.calculation
        rows.append(
            [
                b.beam,
                f"{b.engine_mu:.1f}",
                f"{b.check_mu:.1f}" if c is not None else "-",
                f"{b.difference_percent:+.1f}" if b.passed is not None else "-",
                b.status,
                "-" if c is None else "({:.0f}, {:.0f}, {:.0f})".format(*c.point_mm),
                "-" if c is None else f"{c.depth_mm:.1f}",
                "-" if c is None else f"{c.effective_depth_mm:.1f}",
                "-" if c is None else f"{c.equivalent_square_mm:.1f}",
                "-" if c is None else f"{c.collimator_scatter:.3f}",
                "-" if c is None else f"{c.phantom_scatter:.3f}",
                "-" if c is None else f"{c.tmr:.3f}",
                "-" if c is None else f"{c.inverse_square:.3f}",
                "-" if c is None else f"{c.off_axis_ratio:.3f}",
                b.note,
            ]
        )
    report.table(
        [
            "beam",
            "MU / fraction",
            "check MU",
            "difference (%)",
            "result",
            "point LPS (mm)",
            "depth (mm)",
            "effective depth (mm)",
            "equivalent square (mm)",
            "Sc",
            "Sp",
            "TMR",
            "inverse square",
            "off-axis ratio",
            "note",
        ],
        rows,
        status_column=4,
        scroll=True,
    )
    failed = [b for b in check if b.passed is False]
    report.warnings(
        [
            f"beam {b.beam}: {b.engine_mu:.1f} MU in the plan, {b.check_mu:.1f} MU by the "
            f"independent check ({b.difference_percent:+.1f} %, tolerance "
            f"{check.tolerance_percent:g} %)"
            for b in failed
        ]
        + list(check.notes)
    )


def add_trajectory_section(
    report: HtmlReport,
    ct: Any,
    result: TrajectoryResult,
    *,
    target: Structure | None = None,
    structures: Sequence[Structure] = (),
    n: int | None = None,
    body: Structure | None = None,
) -> None:
    """Add the needle paths in a radiologist's terms, views along the best one, the skin map.

    Each path is described as in :func:`needle_terms`: the angle from the vertical on the
    axial image and the side it comes from, the craniocaudal tilt, the skin entry as CT
    slice, table position and distance from the midline, the skin-to-target depth and the
    standard needle (10, 15 or 20 cm) that reaches; then its clearances and score.

    Parameters
    ----------
    report : HtmlReport
        The report the section is added to.
    ct : Image
        The CT searched (HU).
    result : TrajectoryResult
        From :func:`rtplan.plan_trajectory`.
    target : Structure, optional
        The needle's target, drawn in the views.
    structures : sequence of Structure
        Other structures to draw (the avoided ones).
    n : int, optional
        Number of ranked paths in the table; all by default.
    body : Structure, optional
        The body outline whose centre line is the midline (else the CT above -500 HU).

    Examples
    --------
    A biopsy path to a target in the bone of a limb phantom, clear of its canal:

    >>> import rtplan
    >>> from rtplan.report import HtmlReport, add_trajectory_section
    >>> from rtplan.testing import cylinder_phantom
    >>> limb = cylinder_phantom()
    >>> paths = rtplan.plan_trajectory(limb.ct, target=limb.gtv, avoid=[limb.canal],
    ...                                body=limb.body, max_length_mm=80.0)
    >>> report = HtmlReport(title="biopsy")
    >>> add_trajectory_section(report, limb.ct, paths, target=limb.gtv, structures=[limb.canal])
    >>> html = report.render()
    >>> html.count("data:image/png"), "from vertical" in html  # three views, the skin map
    (4, True)
    """
    from rtplan import guidance
    from rtplan.report._plancheck import needle_terms

    shown = list(result) if n is None else list(result)[:n]
    report.heading(f"Needle trajectories to {target.name if target else 'the target'}")
    report.paragraph(
        f"{len(result)} feasible path(s) ranked by score{_among(result)}; avoided: "
        f"{', '.join(result.avoided) or 'nothing'}. Conventions: patient as in the CT "
        f"({ct.patient_position or 'HFS'}); the angle is measured on the axial image from "
        "the room's vertical (0° straight down, 90° horizontal), from the patient's side "
        "named; the tilt is out of the axial plane towards the head or the feet; the entry "
        "is on the CT slice named (1-based) at the table position z, at the distance given "
        "from the midline (half-way between the body's right and left edges on that "
        "slice); the depth runs from the skin to the target along the needle; the needle "
        "is the shortest standard length (10, 15, 20 cm) longer than the depth. Clearances "
        "are minimum distances from the needle axis to each avoided structure's voxels."
    )
    rows = []
    for t in shown:
        w = needle_terms(t, ct, body=body)
        clear = ", ".join(f"{k} {v:.1f}" for k, v in t.clearance_mm.items())
        rows.append(
            [
                t.rank,
                f"{w.angle_from_vertical_deg:.0f}° from {w.entry_side}",
                w.tilt_text,
                w.entry_slice,
                f"{w.table_mm:.1f}",
                f"{w.midline_offset_mm:.0f} {w.midline_side}",
                f"{w.depth_mm:.0f}",
                w.needle_text,
                "({:.1f}, {:.1f}, {:.1f})".format(*t.entry_mm),
                clear,
                f"{t.score:.3f}",
            ]
        )
    report.table(
        [
            "rank",
            "angle from vertical",
            "craniocaudal tilt",
            "entry slice",
            "table z (mm)",
            "from midline (mm)",
            "skin to target (mm)",
            "needle",
            "entry LPS (mm)",
            "clearance (mm)",
            "score",
        ],
        rows,
        scroll=True,
    )
    best = result[0]
    drawn = ([target] if target is not None else []) + list(structures)
    for plane in ("oblique", "oblique_orthogonal", "axial"):
        at = float(best.target_mm[2]) if plane == "axial" else None
        rgb = guidance.render_overlay(
            ct,
            plane=plane,
            at_mm=at,
            window="bone" if plane != "axial" else "soft_tissue",
            structures=drawn,
            trajectory=best,
        )
        report.image(rgb, f"best path, {plane.replace('_', ' ')} view")
    access = guidance.render_accessibility_map(
        result.accessibility,
        position=ct.patient_position,
        trajectories=shown[:3],
        seam_deg=None,
    )
    report.image(
        access,
        "skin accessibility: feasible entries by score (grey: blocked), cut open where no "
        "entry is feasible",
    )


def _among(result: TrajectoryResult) -> str:
    """``" (the best of 2075 feasible skin entries, 10 mm apart or more ...)"``, or ``""``."""
    access = getattr(result, "accessibility", None)
    if access is None:
        return ""
    n_feasible = access.n_feasible
    if n_feasible <= len(result):
        return ""
    gap = result.parameters.get("min_separation_mm") if result.parameters else None
    apart = f", their entries {gap:g} mm apart or more" if isinstance(gap, int | float) else ""
    return (
        f" (the best of {n_feasible} feasible skin entries among {len(access.feasible)} "
        f"candidates{apart}; the skin accessibility map below shows them all)"
    )


def review_report(  # noqa: PLR0913 (keyword-only: the parts of one report)
    path: str | Path,
    study: Study,
    *,
    plan: Plan | None = None,
    dose: Dose | None = None,
    goals: GoalTable | None = None,
    dvhs: dict[str, DVH] | None = None,
    trajectories: TrajectoryResult | None = None,
    target: Structure | None = None,
    title: str | None = None,
    mu_check: MuCheck | None = None,
    style: OverlayStyle | None = None,
    couch_reference: str | Sequence[float] = "origin",
) -> Path:
    """Write a self-contained HTML review report of a study.

    Parameters
    ----------
    path : str or Path
        Output ``.html`` file.
    study : Study
        The loaded study.
    plan, dose : optional
        A plan (beams, MU) and its dose: adds DVH metrics, DVH plot, goals and isodoses.
        A plan alone adds its beam table, beam's eye views and step-and-shoot segments.
    goals : GoalTable, optional
        Evaluated clinical goals.
    dvhs : dict of str to DVH, optional
        The DVHs of the study's structures with a volume for ``dose``, when already
        computed (e.g. for the goals); computed when not given.
    trajectories : TrajectoryResult, optional
        Needle paths: adds the ranked table and overlays of the best path.
    target : Structure, optional
        The structure the views centre on (the first PTV/GTV by default).
    title : str, optional
        Report title.
    mu_check : MuCheck, optional
        The plan's independent MU check (:func:`rtplan.dose.mu_check`), shown beside the
        beams and in a section of its own.
    style : OverlayStyle, optional
        How the isodose views are drawn (``isodose_percent``, ``isodose_colors``...).
    couch_reference : str or sequence of 3 float
        The reference point of the beams' couch coordinates (see
        :func:`add_dose_section`): the DICOM origin by default.

    Returns
    -------
    Path
        The file written. No patient identifiers are included.

    Raises
    ------
    EvaluationError
        If the dose cannot stand for the whole plan: a per-fraction dose without a known
        number of fractions (give the plan), a dose of part of a plan, an ``ERROR`` dose.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import rtplan
    >>> from rtplan.report import review_report
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     html = review_report(Path(tmp, "report.html"), study).read_text(encoding="utf-8")
    >>> "<td>Femur</td>" in html, "Dose evaluation" in html  # no dose: the study alone
    (True, False)
    """
    report = HtmlReport(
        title=title or "rtplan review report",
        subtitle=f"Study folder: {study.path.name if study.path else '-'}",
    )
    add_study_section(report, study)
    report.table(["input", "UID"], input_uids(study, plan=plan, dose=dose))
    ss = study.structures
    if target is None:
        for kind in ("PTV", "CTV", "GTV"):
            found = [s for s in ss.by_type(kind) if s.has_volume]
            if found:
                target = found[0]
                break
    if dose is None and plan is not None:  # the plan alone: beams, views, segments
        from rtplan import guidance
        from rtplan.report._plancheck import resolve_couch_reference

        reference = resolve_couch_reference(couch_reference, plan=plan, structures=ss)
        drawn = guidance.distinct_structures([s for s in ss if s.has_volume])
        _plan_table(report, plan, None, study.ct, reference)
        _beams_eye_views(report, plan, drawn, study.ct)
        add_segments_section(report, plan)
    if dose is not None:
        shown = [s for s in ss if s.has_volume]
        add_dose_section(
            report,
            study.ct,
            dose,
            shown,
            plan=plan,
            goals=goals,
            dvhs=dvhs,
            focus=target,
            mu_check=mu_check,
            style=style,
            couch_reference=couch_reference,
        )
    if trajectories is not None and len(trajectories):
        avoided = [ss[n] for n in trajectories.avoided if n in ss]
        needle_target = ss.get(trajectories[0].target_name) or target
        body = next((s for s in ss if s.interpreted_type.upper() == "EXTERNAL"), None)
        add_trajectory_section(
            report, study.ct, trajectories, target=needle_target, structures=avoided, body=body
        )
    out = report.save(path)
    logger.info("review report written to %s", out)
    return out
