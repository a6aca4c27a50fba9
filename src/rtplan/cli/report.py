"""``rtplan report STUDY -o report.html``: an HTML review report of a study."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtplan.image import Dose

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``rtplan report``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write an HTML review report of a study (plan, dose, goals, trajectory)",
        description=(
            "Write a self-contained HTML report: CT and structures; with a dose, the beams, "
            "DVH metrics and curves, clinical goals and isodose views; with --needle-target, "
            "the ranked needle trajectories and their views. No patient identifiers."
        ),
    )
    p.add_argument("study", type=Path, help="study folder (CT + RT Struct, optional RT Plan/Dose)")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("report.html"),
        help="output HTML file (default: report.html; an existing file is replaced)",
    )
    p.add_argument("--dose", type=Path, help="RT Dose file (default: the study's first dose)")
    p.add_argument(
        "--plan",
        type=Path,
        help="RT Plan file (default: the one the RT Dose references, in the study or next to "
        "the RT Dose file; else the study's first plan)",
    )
    p.add_argument(
        "--goal",
        action="append",
        default=[],
        metavar="GOAL",
        help="clinical goal, e.g. 'PTV D95 >= 95 %%' (repeatable)",
    )
    p.add_argument(
        "--prescription-gy", type=float, help="prescription for percent goals (default: the plan's)"
    )
    p.add_argument("--target", help="structure the views centre on (default: first PTV/CTV/GTV)")
    p.add_argument(
        "--needle-target", metavar="ROI", help="also plan needle trajectories to this structure"
    )
    p.add_argument(
        "--avoid", nargs="*", default=[], metavar="ROI", help="structures the needle keeps clear of"
    )
    p.add_argument(
        "--clearance-mm",
        type=float,
        default=5.0,
        help="needle clearance, mm (default 5, as rtplan trajectory)",
    )
    p.add_argument(
        "--approach",
        help="needle approach side, e.g. posterior, left (see rtplan trajectory --help)",
    )
    p.add_argument("--max-length-mm", type=float, default=150.0, help="needle length, mm")
    p.add_argument("--title", help="report title")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Write the report; 0 on success, 1 when a clinical goal fails."""
    import sys

    import rtplan
    from rtplan import evaluate
    from rtplan.cli import _common as check
    from rtplan.errors import RtplanError
    from rtplan.report import review_report

    check.check_positive(args.prescription_gy, "--prescription-gy", "Gy")
    check.check_positive(args.clearance_mm, "--clearance-mm", "mm")
    check.check_positive(args.max_length_mm, "--max-length-mm", "mm")
    parsed_goals = [evaluate.parse_goal(text) for text in args.goal]
    check.output_file(
        args.output,
        "-o",
        suffixes=(".html", ".htm"),
        inputs={"--dose": args.dose, "--plan": args.plan},
        folders=[args.study],
    )
    study = check.load_study(args.study)
    ss = study.structures
    dose: Dose | None
    if args.dose:
        dose = check.read_dose(args.dose, "--dose", study)
        check.check_dose_covers(dose, ss, "--dose", args.dose)
    else:
        dose = study.doses[0] if study.doses else None
    plan = check.read_plan(args.plan, "--plan", study) if args.plan else None
    if plan is None and dose is not None:
        # the RT Plan the RT Dose references, in the study or next to the RT Dose file
        from rtplan.cli.dvh import referenced_plan

        plan, _ = referenced_plan(study, dose, args.dose)
    if plan is None and len(study.plans) == 1:
        plan = study.plans[0]  # the study's only plan; of several, none is picked silently
    goals = None
    dvhs = None
    rx = args.prescription_gy or (plan.prescription_gy if plan is not None else None)
    if rx is None and dose is not None:
        # as `rtplan dvh`: the prescription the study's RT Plans agree on
        from rtplan.cli.dvh import referenced_prescription

        rx, _, _ = referenced_prescription(study, dose, args.dose)
    if parsed_goals:
        if dose is None:
            raise RtplanError("--goal needs a dose: give --dose RTDOSE")
        for goal in parsed_goals:
            check.structure(study, goal.structure, f"--goal {goal.text!r}")
            if goal.needs_prescription and rx is None:
                raise RtplanError(
                    f"goal {goal.text!r} is in % of the prescription: give --prescription-gy "
                    "or --plan (no RT Plan referenced by the RT Dose was found)"
                )
        # the DVHs of the report's dose section, computed once for both
        dvhs = evaluate.compute_dvhs(dose, [s for s in ss if s.has_volume])
        goals = evaluate.evaluate_goals(parsed_goals, dose, ss, rx, dvhs=dvhs)
    paths = None
    if args.needle_target:
        paths = rtplan.plan_trajectory(
            study.ct,
            target=check.structure(study, args.needle_target, "--needle-target"),
            avoid=[check.structure(study, n, "--avoid") for n in args.avoid],
            clearance_mm=args.clearance_mm,
            max_length_mm=args.max_length_mm,
            approach=args.approach,
        )
    target = check.structure(study, args.target, "--target") if args.target else None
    with check.writing(args.output) as (tmp,):
        review_report(
            tmp,
            study,
            plan=plan,
            dose=dose,
            goals=goals,
            dvhs=dvhs,
            trajectories=paths,
            target=target,
            title=args.title,
        )
    out = args.output
    print(f"report written to {out}")
    if goals is not None:
        print(goals.format_table())
        if not goals.all_passed:
            from rtplan.cli.dvh import goals_not_met

            print(f"rtplan report: {goals_not_met(goals)}", file=sys.stderr)
            return 1
    return 0
