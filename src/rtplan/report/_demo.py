"""The end-to-end demonstration on the bundled sample studies (what ``rtplan demo`` runs).

1. ``thigh_sarcoma``: a 3-field conformal 6 MV plan on the PTV (50 Gy in 25 fractions),
   collapsed-cone dose, MU and their independent check, DVH metrics, clinical goals; RT
   Plan and RT Dose written.
2. ``spine_metastasis``: a posterior (transpedicular-like) biopsy path to the vertebral
   metastasis that keeps clear of the spinal canal and kidneys; overlays, RT Struct with
   the needle, Secondary Capture and presentation state written.
3. An HTML review report and an interactive review page per study.

Files are named as ``rtplan dose`` names them: ``RP.dcm`` (RT Plan), ``RD.dcm`` (RT
Dose), ``report.html`` (the static report) and ``review.html`` (the interactive page).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rtplan.enum import Engine, Normalization

__all__ = ["DEMO_GOALS", "THIGH_GANTRY_DEG", "DemoResult", "run_demo"]

logger = logging.getLogger(__name__)

#: Beam angles of the thigh plan (IEC 61217, HFS): a right-anterior oblique (300°), a
#: left-anterior oblique (60°) and a posterior field (180°), a three-field arrangement that
#: covers the lateral sarcoma homogeneously while the femur and the medial neurovascular
#: bundle stay within their limits (chosen by comparing arrangements on this phantom).
THIGH_GANTRY_DEG = (300.0, 60.0, 180.0)

#: Clinical goals of the thigh plan (dose percentages are of the prescription). The femur
#: limits are the fracture-risk thresholds of Dickie et al., Int J Radiat Oncol Biol Phys
#: 75 (2009) 1119-1124 (V40Gy < 64 %, Dmean < 37 Gy) for lower-extremity sarcoma.
DEMO_GOALS = (
    "PTV D95 >= 95 %",
    "PTV D2 <= 107 %",
    "GTV D98 >= 98 %",
    "Femur V40Gy <= 64 %",
    "Femur Dmean <= 37 Gy",
    "NVBundle Dmax <= 105 %",
    "Body Dmax <= 110 %",
)


@dataclass
class DemoResult:
    """What the demo produced: readable lines and the files written.

    Parameters
    ----------
    lines : list of str
        The running commentary.
    files : dict of str to Path
        The files written, by key (``"thigh_rtplan"``, ``"thigh_report"``...).
    goals_passed : bool
        Whether every clinical goal of the thigh plan passed.
    echo : callable, optional
        Receives each line as it is said (logged at INFO level otherwise).
    """

    lines: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    goals_passed: bool = False
    echo: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def say(self, text: str = "") -> None:
        """Add a line of commentary."""
        self.lines.append(text)
        if self.echo is not None:
            self.echo(text)
        else:
            logger.info(text)


def run_demo(
    output: str | Path,
    *,
    engine: Engine | str = Engine.COLLAPSED_CONE,
    grid_mm: float = 2.5,
    echo: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the whole rtplan flow on the bundled sample studies.

    Parameters
    ----------
    output : str or Path
        Folder for the results (created): ``thigh_sarcoma/`` (RT Plan, RT Dose, DVH
        tables, an axial view, the report, the review page) and ``spine_metastasis/`` (the
        trajectory export, the report, the review page). All of it is written aside and
        moved into place together at the end: an interrupted demo leaves the results of an
        earlier one as they were.
    engine : Engine or str
        Dose engine of the thigh plan.
    grid_mm : float
        Dose grid spacing, mm.
    echo : callable, optional
        Receives each line of the running commentary (the CLI prints them); logged at
        INFO level otherwise.

    Returns
    -------
    DemoResult
        The commentary, the files written by key and whether every clinical goal passed.

    Examples
    --------
    >>> from rtplan.report import run_demo
    >>> result = run_demo("rtplan-demo")  # doctest: +SKIP
    >>> result.goals_passed, result.files["thigh_report"].name  # doctest: +SKIP
    (True, 'report.html')
    """
    from rtplan import _warmup
    from rtplan._atomic import atomic_folder

    # a new installation: the kernels the demo needs last compile in the background from
    # now on, while the studies load (no-op once done or with RTPLAN_WARMUP=0)
    _warmup.start()
    out = Path(output)
    result = DemoResult(echo=echo)
    # both studies' folders are one set: moved into place together once all is written
    with atomic_folder(out) as stage:
        _thigh_plan(result, stage.path / "thigh_sarcoma", engine=engine, grid_mm=grid_mm)
        _spine_biopsy(result, stage.path / "spine_metastasis")
    result.files = {key: stage.final(path) for key, path in result.files.items()}
    result.say("")
    result.say(f"Results in {out.resolve()}:")
    for key in (
        "thigh_rtplan",
        "thigh_rtdose",
        "thigh_report",
        "thigh_review",
        "spine_report",
        "spine_review",
    ):
        result.say(f"  {result.files[key].relative_to(out)}")
    result.say("  spine_metastasis/trajectory/ (ranked table, overlays, RT Struct, SC, GSPS)")
    return result


def _thigh_plan(result: DemoResult, folder: Path, *, engine: Engine | str, grid_mm: float) -> None:
    """A 3-field conformal plan of the thigh sarcoma: dose, MU, DVHs, goals, files."""
    from rtplan import data, evaluate, guidance, io, planning
    from rtplan.dose import calculate, mu_check
    from rtplan.report._page import review_page
    from rtplan.report._review import review_report

    say = result.say
    t0 = time.perf_counter()
    thigh = io.load_study(data.get_path("thigh_sarcoma"))
    ct, ss = thigh.ct, thigh.structures
    ptv = ss["PTV"]
    say(
        f"== thigh_sarcoma: {len(ss)} structures, PTV {ptv.volume_cc:.1f} cm³, "
        f"CT {' x '.join(str(n) for n in ct.grid.shape_ijk)} ({ct.patient_position})"
    )
    plan = planning.conformal_plan(
        ptv,
        gantry_angles_deg=THIGH_GANTRY_DEG,
        energy="6X",
        prescription_gy=50.0,
        fractions=25,
        margin_mm=8.0,
        patient_position=ct.patient_position or "HFS",
        normalization=Normalization.MEAN,
    )
    computed = calculate(plan, ct, engine=engine, grid_mm=grid_mm, target=ptv)
    plan, dose = computed.plan, computed.dose
    say(
        f"3-field 6X conformal plan, {engine} dose on a {grid_mm:g} mm grid "
        f"({time.perf_counter() - t0:.1f} s), 50 Gy in 25 fractions, PTV mean = prescription"
    )
    check = mu_check(plan, ct, computed, target=ptv)
    for b, c in zip(plan.beams, check, strict=True):
        say(
            f"  beam {b.name:<6} gantry {b.gantry_deg:5.1f}°  field "
            f"{b.field_size_mm[0]:.0f} x {b.field_size_mm[1]:.0f} mm  MU {b.mu:.1f} per fraction"
            f"  (independent check {c.check_mu:.1f} MU, {c.difference_percent:+.1f} %, {c.status})"
        )
    structures = [s for s in ss if s.has_volume]
    dvhs = evaluate.compute_dvhs(dose, structures)
    h = dvhs["PTV"]
    say(f"PTV D95 = {h.D(95):.2f} Gy, Dmax = {h.max_gy:.2f} Gy, Dmean = {h.mean_gy:.2f} Gy")
    goals = evaluate.evaluate_goals(DEMO_GOALS, dose, ss, plan.prescription_gy, dvhs=dvhs)
    result.goals_passed = goals.all_passed
    say("Clinical goals:")
    for line in goals.format_table().splitlines():
        say("  " + line)
    result.files["thigh_rtplan"] = io.write_rtplan(plan, folder / "RP.dcm", reference=ct)
    result.files["thigh_rtdose"] = io.write_rtdose(
        dose, folder / "RD.dcm", reference=ct, plan_sop_uid=plan.uid
    )
    metrics_rows = [evaluate.dose_metrics(x, plan.prescription_gy) for x in dvhs.values()]
    evaluate.write_metrics_csv(metrics_rows, folder / "dvh_metrics.csv")
    evaluate.write_dvhs_csv(dvhs.values(), folder / "dvh.csv")
    result.files["thigh_axial"] = guidance.save_png(
        guidance.render_overlay(
            ct,
            plane="axial",
            at_mm=float(ptv.centroid_mm[2]),
            dose=dose,
            prescription_gy=plan.prescription_gy,
            structures=structures,
        ),
        folder / "axial_dose.png",
    )
    result.files["thigh_report"] = review_report(
        folder / "report.html",
        thigh,
        plan=plan,
        dose=dose,
        goals=goals,
        dvhs=dvhs,
        target=ptv,
        title="rtplan demo: thigh sarcoma, 3-field conformal plan",
        mu_check=check,
    )
    result.files["thigh_review"] = review_page(
        folder / "review.html",
        thigh,
        dose=dose,
        plan=plan,
        title="rtplan demo: thigh sarcoma, 3-field conformal plan",
    )


def _spine_biopsy(result: DemoResult, folder: Path) -> None:
    """A posterior biopsy path to the vertebral metastasis: export and report."""
    from rtplan import data, guidance, io
    from rtplan.report._page import review_page
    from rtplan.report._review import review_report

    say = result.say
    t1 = time.perf_counter()
    spine = io.load_study(data.get_path("spine_metastasis"))
    sct, sss = spine.ct, spine.structures
    gtv = sss["GTV"]
    avoid = [sss["SpinalCanal"], sss["Kidney_L"], sss["Kidney_R"]]
    paths = guidance.plan_trajectory(
        sct,
        target=gtv,
        avoid=avoid,
        clearance_mm=3.0,
        max_length_mm=150.0,
        body=sss["Body"],
        approach="posterior",
    )
    best = paths[0]
    say("")
    say(
        f"== spine_metastasis: biopsy of the vertebral metastasis (GTV {gtv.volume_cc:.1f} cm³), "
        f"{len(paths)} feasible posterior paths ({time.perf_counter() - t1:.1f} s)"
    )
    say(
        "  best: entry ({:.1f}, {:.1f}, {:.1f}) mm LPS, length {:.1f} mm, ".format(
            *best.entry_mm, best.length_mm
        )
        + f"out-of-plane {best.out_of_plane_deg:.1f}°"
    )
    say("  clearance: " + ", ".join(f"{k} {v:.1f} mm" for k, v in best.clearance_mm.items()))
    say(
        "  path tissue: "
        + ", ".join(f"{k} {100 * v:.0f} %" for k, v in best.tissue_fraction.items() if v > 0)
    )
    written = guidance.export_plan(
        paths,
        sct,
        folder / "trajectory",
        target=gtv,
        avoided=avoid,
        structures=[sss["Vertebra"]],
        n_overlays=1,
    )
    result.files["spine_report"] = review_report(
        folder / "report.html",
        spine,
        trajectories=paths,
        target=gtv,
        title="rtplan demo: vertebral biopsy trajectory",
    )
    result.files["spine_review"] = review_page(
        folder / "review.html",
        spine,
        trajectories=list(paths),
        title="rtplan demo: vertebral biopsy trajectory",
    )
    for kind, files in written.items():
        for i, f in enumerate(files):
            result.files[f"spine_{kind}_{i}"] = f
