"""The end-to-end demonstration on the bundled sample studies (what ``rtplan demo`` runs).

1. ``thigh_sarcoma``: a 3-field conformal 6 MV plan on the PTV (50 Gy in 25 fractions),
   collapsed-cone dose, MU, DVH metrics, clinical goals; RT Plan and RT Dose written.
2. ``spine_metastasis``: a posterior (transpedicular-like) biopsy path to the vertebral
   metastasis that keeps clear of the spinal canal and kidneys; overlays, RT Struct with
   the needle, Secondary Capture and presentation state written.
3. An HTML review report per study.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
    """What the demo produced: readable lines and the files written."""

    lines: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    goals_passed: bool = False


def run_demo(
    output: str | Path,
    *,
    engine: str = "collapsed-cone",
    grid_mm: float = 2.5,
    echo: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the whole rtplan flow on the bundled sample studies.

    Parameters
    ----------
    output : str or Path
        Folder for the results (created).
    engine : str
        Dose engine of the thigh plan.
    grid_mm : float
        Dose grid spacing, mm.
    echo : callable, optional
        Receives each line of the running commentary (the CLI prints them).

    Returns
    -------
    DemoResult
    """
    import rtplan
    from rtplan import data, evaluate, guidance, io
    from rtplan.dose import calculate
    from rtplan.report._review import review_report

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult()

    def say(text: str = "") -> None:
        result.lines.append(text)
        if echo is not None:
            echo(text)
        else:
            logger.info(text)

    # ------------------------------------------------------------------ 1. thigh plan
    t0 = time.perf_counter()
    thigh = rtplan.load_study(data.get_path("thigh_sarcoma"))
    ct = thigh.ct
    ss = thigh.structures
    ptv = ss["PTV"]
    say(
        f"== thigh_sarcoma: {len(ss)} structures, PTV {ptv.volume_cc:.1f} cm³, "
        f"CT {' x '.join(str(n) for n in ct.grid.shape_ijk)} ({ct.patient_position})"
    )
    plan = rtplan.Plan.conformal(
        ptv,
        gantry_angles_deg=THIGH_GANTRY_DEG,
        energy="6X",
        prescription_gy=50.0,
        fractions=25,
        margin_mm=8.0,
        patient_position=ct.patient_position or "HFS",
        normalization="mean",
    )
    computed = calculate(plan, ct, engine=engine, grid_mm=grid_mm, target=ptv)
    plan, dose = computed.plan, computed.dose
    say(
        f"3-field 6X conformal plan, {engine} dose on a {grid_mm:g} mm grid "
        f"({time.perf_counter() - t0:.1f} s), 50 Gy in 25 fractions, PTV mean = prescription"
    )
    for b in plan.beams:
        say(
            f"  beam {b.name:<6} gantry {b.gantry_deg:5.1f}°  field "
            f"{b.field_size_mm[0]:.0f} x {b.field_size_mm[1]:.0f} mm  MU {b.mu:.1f} per fraction"
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
    tdir = out / "thigh_sarcoma"
    plan_path = io.write_rtplan(plan, tdir / "RTPLAN.dcm", reference=ct)
    dose_path = io.write_rtdose(dose, tdir / "RTDOSE.dcm", reference=ct, plan_sop_uid=plan.uid)
    metrics_rows = [evaluate.dose_metrics(x, plan.prescription_gy) for x in dvhs.values()]
    evaluate.write_metrics_csv(metrics_rows, tdir / "dvh_metrics.csv")
    evaluate.write_dvhs_csv(dvhs.values(), tdir / "dvh.csv")
    png = guidance.save_png(
        guidance.render_overlay(
            ct,
            plane="axial",
            at_mm=float(ptv.centroid_mm[2]),
            dose=dose,
            prescription_gy=plan.prescription_gy,
            structures=structures,
        ),
        tdir / "axial_dose.png",
    )
    report = review_report(
        tdir / "report.html",
        thigh,
        plan=plan,
        dose=dose,
        goals=goals,
        dvhs=dvhs,
        target=ptv,
        title="rtplan demo: thigh sarcoma, 3-field conformal plan",
    )
    result.files.update(
        {
            "thigh_rtplan": plan_path,
            "thigh_rtdose": dose_path,
            "thigh_axial": png,
            "thigh_report": report,
        }
    )

    # ------------------------------------------------------------------ 2. spine biopsy
    t1 = time.perf_counter()
    spine = rtplan.load_study(data.get_path("spine_metastasis"))
    sct, sss = spine.ct, spine.structures
    gtv = sss["GTV"]
    avoid = [sss["SpinalCanal"], sss["Kidney_L"], sss["Kidney_R"]]
    paths = rtplan.plan_trajectory(
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
    sdir = out / "spine_metastasis"
    written = guidance.export_plan(
        paths,
        sct,
        sdir / "trajectory",
        target=gtv,
        avoided=avoid,
        structures=[sss["Vertebra"]],
        n_overlays=1,
    )
    sreport = review_report(
        sdir / "report.html",
        spine,
        trajectories=paths,
        target=gtv,
        title="rtplan demo: vertebral biopsy trajectory",
    )
    result.files["spine_report"] = sreport
    for kind, files in written.items():
        for i, f in enumerate(files):
            result.files[f"spine_{kind}_{i}"] = f
    say("")
    say(f"Results in {out.resolve()}:")
    for key in ("thigh_rtplan", "thigh_rtdose", "thigh_report", "spine_report"):
        say(f"  {result.files[key].relative_to(out)}")
    say(f"  {sdir.name}/trajectory/ (ranked table, overlays, RT Struct, SC, GSPS)")
    return result
