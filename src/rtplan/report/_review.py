"""The HTML review report: study, plan, dose evaluation, overlays and needle trajectories."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtplan.report._html import HtmlReport
from rtplan.report._tables import METRIC_TITLES

if TYPE_CHECKING:
    from rtplan.dose import MuCheck
    from rtplan.evaluate import DVH, GoalTable
    from rtplan.guidance import TrajectoryResult
    from rtplan.image import Dose
    from rtplan.io.study import Study
    from rtplan.plan import Plan
    from rtplan.structures import Structure

__all__ = [
    "add_dose_section",
    "add_mu_check_section",
    "add_study_section",
    "add_trajectory_section",
    "review_report",
]

logger = logging.getLogger(__name__)


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


def _dvh_figure(
    dvhs: dict[str, DVH], structures: Sequence[Structure], prescription_gy: float | None
) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt

    colors = {s.name: np.asarray(s.color) / 255.0 for s in structures}
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for name, h in dvhs.items():
        if h.is_empty:
            continue
        d, v = h.curve("cumulative", volume_unit="%")
        color = colors.get(name, np.array([0.3, 0.3, 0.3]))
        # ROI colours chosen for a dark CT (pale yellow, white) vanish on the white plot:
        # those curves get a grey edge
        light = float(np.dot(color[:3], [0.2126, 0.7152, 0.0722])) > 0.8
        effects = [pe.Stroke(linewidth=2.6, foreground="0.35"), pe.Normal()] if light else None
        ax.plot(d, v, color=color, lw=1.6, label=name, path_effects=effects)
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
    ax.set_title("Cumulative dose-volume histograms")
    return fig


def add_dose_section(
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
) -> dict[str, DVH]:
    """Add the beams, the DVH metrics and curves, the clinical goals and isodose views.

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

    Returns
    -------
    dict of str to DVH
        The DVHs used (computed when not given, or given for another dose).

    Raises
    ------
    EvaluationError
        If the dose cannot stand for the whole plan (see above).

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
    if plan is not None:
        _plan_table(report, plan, mu_check)
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
            [METRIC_TITLES[k] for k in keys], [[r[k] for k in keys] for r in rows], scroll=True
        )
        report.figure(_dvh_figure(dvhs, structures, rx), "Cumulative DVHs")
    if goals is not None:
        report.heading("Clinical goals")
        if goals.dose_basis:
            report.paragraph(f"Evaluated on: {goals.dose_basis}.")
        report.table(
            ["structure", "goal", "measured", "unit", "status", "note"],
            [
                [g.goal.structure, g.goal.text, g.measured, g.goal.display_unit, g.status, g.note]
                for g in goals
            ],
            status_column=4,
        )
    centre = focus.centroid_mm if focus is not None else None
    for plane in ("axial", "coronal", "sagittal"):
        at = None
        if centre is not None:
            at = float(centre[{"axial": 2, "coronal": 1, "sagittal": 0}[plane]])
        rgb = guidance.render_overlay(
            ct,
            plane=plane,
            at_mm=at,
            dose=dose,
            prescription_gy=rx,
            structures=list(structures),
        )
        report.image(rgb, f"{plane} through {focus.name if focus else 'the centre'}")
    return dvhs


def _plan_table(report: HtmlReport, plan: Plan, check: MuCheck | None) -> None:
    """The plan's prescription and its beams (with the MU check's MU when given)."""
    rx = plan.prescription_gy
    report.heading(f"Plan {plan.name}")
    report.paragraph(
        f"Prescription {rx if rx is not None else '-'} Gy in {plan.fractions} fraction(s); "
        f"normalisation: {plan.normalization}; {len(plan.beams)} static photon beam(s)."
    )
    head = ["beam", "energy", "gantry (°)", "collimator (°)", "couch (°)", "field X x Y (mm)"]
    head.append("MU / fraction")
    rows: list[list[Any]] = [
        [
            b.name or str(b.number),
            b.energy,
            b.gantry_deg,
            b.collimator_deg,
            b.couch_deg,
            "{:.0f} x {:.0f}".format(*b.field_size_mm),
            b.mu if b.mu is not None else "-",
        ]
        for b in plan.beams
    ]
    if check is not None and len(check) == len(rows):
        head += ["check MU", "difference (%)", "MU check"]
        for row, c in zip(rows, check, strict=True):
            ok = c.passed is not None
            row += [c.check_mu if ok else "-", f"{c.difference_percent:+.1f}" if ok else "-"]
            row.append(c.status)
    report.table(head, rows, status_column=9 if len(head) > 7 else None)


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
    rows = []
    for b in check:
        c = b.calculation
        rows.append(
            [
                b.beam,
                b.engine_mu,
                b.check_mu if c is not None else "-",
                f"{b.difference_percent:+.1f}" if b.passed is not None else "-",
                b.status,
                "-" if c is None else "({:.0f}, {:.0f}, {:.0f})".format(*c.point_mm),
                "-" if c is None else c.depth_mm,
                "-" if c is None else c.effective_depth_mm,
                "-" if c is None else c.equivalent_square_mm,
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
    n: int = 3,
) -> None:
    """Add the ranked needle paths, views along the best one and the skin accessibility map.

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
    n : int
        Number of ranked paths in the table.

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
    >>> report.render().count("data:image/png")  # three views and the accessibility map
    4
    """
    from rtplan import guidance

    report.heading(f"Needle trajectories to {target.name if target else 'the target'}")
    report.paragraph(
        f"{len(result)} feasible path(s) ranked by score; avoided: "
        f"{', '.join(result.avoided) or 'nothing'}. Clearances are minimum distances from the "
        "needle axis to each avoided structure's voxels."
    )
    rows = []
    for t in list(result)[:n]:
        clear = ", ".join(f"{k} {v:.1f}" for k, v in t.clearance_mm.items())
        tissue = ", ".join(f"{k} {100 * v:.0f}%" for k, v in t.tissue_fraction.items() if v > 0)
        rows.append(
            [
                t.rank,
                "({:.1f}, {:.1f}, {:.1f})".format(*t.entry_mm),
                f"{t.length_mm:.1f}",
                f"{t.in_plane_deg:.1f}",
                f"{t.out_of_plane_deg:.1f}",
                clear,
                tissue,
                f"{t.score:.3f}",
            ]
        )
    report.table(
        [
            "rank",
            "entry LPS (mm)",
            "length (mm)",
            "in-plane (°)",
            "out-of-plane (°)",
            "clearance (mm)",
            "path tissue",
            "score",
        ],
        rows,
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
        result.accessibility, position=ct.patient_position, trajectories=list(result)[:n]
    )
    report.image(access, "skin accessibility: feasible entries by score (grey: blocked)")


def review_report(
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
    ss = study.structures
    if target is None:
        for kind in ("PTV", "CTV", "GTV"):
            found = [s for s in ss.by_type(kind) if s.has_volume]
            if found:
                target = found[0]
                break
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
        )
    if trajectories is not None and len(trajectories):
        avoided = [ss[n] for n in trajectories.avoided if n in ss]
        needle_target = ss.get(trajectories[0].target_name) or target
        add_trajectory_section(
            report, study.ct, trajectories, target=needle_target, structures=avoided
        )
    out = report.save(path)
    logger.info("review report written to %s", out)
    return out
