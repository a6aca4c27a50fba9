"""Write an HTML review report of a study (plan, dose, goals, trajectory).

Write a self-contained HTML report: CT and structures; with a dose, the beams and their
independent MU check, DVH metrics and curves, clinical goals and isodose views; with
--needle-target, the ranked needle trajectories and their views. No patient identifiers.

The dose shown is the whole plan's: a per-fraction RT Dose is multiplied by the plan's
number of fractions (the report and the command's output say so); one whose number of
fractions is unknown, a dose of part of a plan or an ERROR dose is refused.

Exit status: 0 once the report is written, whatever the goals; with --fail-on-goals, 1
when a clinical goal failed or could not be evaluated (the report is written all the
same); 2 bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.cli._isodose import add_isodose_level_arguments, isodose_levels
from rtplan.cli._output import add_output_arguments
from rtplan.cli._parsing import (
    add_couch_reference_argument,
    add_needle_arguments,
    couch_reference_point,
)

if TYPE_CHECKING:
    from rtplan.dose import MuCheck
    from rtplan.evaluate import DVH, ClinicalGoal, GoalTable
    from rtplan.guidance import OverlayStyle, TrajectoryResult
    from rtplan.image import Dose
    from rtplan.io.study import Study
    from rtplan.plan import Plan

__all__ = ["add_arguments", "run"]

#: It takes a STUDY folder and the study options (rtplan.cli._parsing.study_options).
READS_STUDY = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan report``."""
    parser.add_argument("--dose", type=Path, help="RT Dose file (default: the study's first dose)")
    parser.add_argument(
        "--plan",
        type=Path,
        help="RT Plan file (default: the one the RT Dose references, in the study or next to "
        "the RT Dose file; else the study's only plan)",
    )
    parser.add_argument(
        "--goal",
        action="append",
        default=[],
        metavar="GOAL",
        help="clinical goal, e.g. 'PTV D95 >= 95 %%' (repeatable)",
    )
    parser.add_argument(
        "--prescription-gy", type=float, help="prescription for percent goals (default: the plan's)"
    )
    parser.add_argument(
        "--target", help="structure the views centre on (default: first PTV/CTV/GTV)"
    )
    parser.add_argument(
        "--needle-target", metavar="ROI", help="also plan needle trajectories to this structure"
    )
    add_needle_arguments(parser)
    add_isodose_level_arguments(parser)
    add_couch_reference_argument(parser)
    parser.add_argument(
        "--fail-on-goals",
        action="store_true",
        help="exit with status 1 when a clinical goal fails or cannot be evaluated (the "
        "report is written all the same); off by default: 0 once the report is written",
    )
    add_output_arguments(parser)
    parser.add_argument("--title", help="report title")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("report.html"),
        help="output HTML file (default: report.html; an existing file is replaced)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the report; status 0, or with ``--fail-on-goals`` 1 when a goal fails."""
    from rtplan.cli import _common as check
    from rtplan.cli._output import emit
    from rtplan.evaluate import parse_goal
    from rtplan.guidance import OverlayStyle

    check.check_positive(args.prescription_gy, "--prescription-gy", "Gy")
    check.check_positive(args.clearance_mm, "--clearance-mm", "mm")
    check.check_positive(args.max_length_mm, "--max-length-mm", "mm")
    parsed_goals = [parse_goal(text) for text in args.goal]
    levels, colors = isodose_levels(args)
    check.output_file(
        args.output,
        "-o",
        suffixes=(".html", ".htm"),
        inputs={"--dose": args.dose, "--plan": args.plan},
        folders=[args.study],
    )
    silent = args.json or args.quiet
    with contextlib.redirect_stdout(io.StringIO()) if silent else contextlib.nullcontext():
        status, doc = _write(
            args, parsed_goals, OverlayStyle(isodose_percent=levels, isodose_colors=colors)
        )
    if args.json:
        emit(args, [], doc)
    return status if args.fail_on_goals else 0


def _write(
    args: argparse.Namespace, parsed_goals: list[ClinicalGoal], style: OverlayStyle
) -> tuple[int, dict[str, Any]]:
    """Read, evaluate and write the report, printing as it goes.

    Returns the goals' exit status and the JSON document of ``--json``.
    """
    from rtplan.cli import _common as check
    from rtplan.report import review_report

    study = check.load_study(args)
    dose = _dose(args, study)
    plan = _plan(args, study, dose)
    couch_reference_point(args, study, plan, needs_plan=True)
    whole, basis = _whole_plan_dose(dose, plan)
    goals, dvhs = _goals(args, study, whole, plan, parsed_goals)
    checked = _mu_check(study, plan, dose)
    paths = _needle_paths(args, study)
    target = check.structure(study, args.target, "--target") if args.target else None
    with check.writing(args.output) as (tmp,):
        review_report(
            tmp,
            study,
            plan=plan,
            dose=whole,
            goals=goals,
            dvhs=dvhs,
            trajectories=paths,
            target=target,
            title=args.title,
            mu_check=checked,
            style=style,
            couch_reference=args.couch_reference,
        )
    print(f"report written to {args.output}")
    doc: dict[str, Any] = {
        "report": str(args.output),
        "dose": basis,
        "plan": None if plan is None else {"name": plan.name, "uid": plan.uid},
        "mu_check": [
            {
                "beam": b.beam,
                "mu": b.engine_mu,
                "check_mu": b.check_mu if b.passed is not None else None,
                "difference_percent": b.difference_percent if b.passed is not None else None,
                "status": b.status,
            }
            for b in (checked or [])
        ],
        "goals": [
            {
                "structure": g.goal.structure,
                "goal": g.goal.text,
                "measured": g.measured,
                "unit": g.goal.display_unit,
                "passed": g.passed,
                "note": g.note,
            }
            for g in (goals or [])
        ],
        "trajectories": 0 if paths is None else len(paths),
    }
    if goals is None:
        return 0, doc
    doc["goals_passed"] = goals.all_passed
    return check.print_goals(goals, "report"), doc


def _dose(args: argparse.Namespace, study: Study) -> Dose | None:
    """``--dose`` (checked against the study), else the study's first RT Dose, if any."""
    from rtplan.cli._common import check_dose_covers, read_dose

    if not args.dose:
        return study.doses[0] if study.doses else None
    dose = read_dose(args.dose, "--dose", study)
    check_dose_covers(dose, study.structures, "--dose", args.dose)
    return dose


def _plan(args: argparse.Namespace, study: Study, dose: Dose | None) -> Plan | None:
    """``--plan``, else the plan the dose belongs to, else the study's only plan.

    Of several plans none is picked silently.
    """
    from rtplan.cli._common import read_plan

    if args.plan:
        return read_plan(args.plan, "--plan", study)
    plan = study.plan_for(dose, dose_path=args.dose).plan if dose is not None else None
    if plan is None and len(study.plans) == 1:
        plan = study.plans[0]
    return plan


def _goals(
    args: argparse.Namespace,
    study: Study,
    dose: Dose | None,
    plan: Plan | None,
    parsed: list[ClinicalGoal],
) -> tuple[GoalTable | None, dict[str, DVH] | None]:
    """The evaluated goals and the DVHs computed for them (shown in the report too)."""
    from rtplan.cli._common import structure
    from rtplan.errors import RtplanError
    from rtplan.evaluate import compute_dvhs, evaluate_goals

    if not parsed:
        return None, None
    if dose is None:
        raise RtplanError("--goal needs a dose: give --dose RTDOSE")
    # as `rtplan dvh`: the given prescription, the plan's, or the one the study's plans agree on
    rx = args.prescription_gy or (plan.prescription_gy if plan is not None else None)
    if rx is None:
        rx = study.prescription_for(dose, dose_path=args.dose).dose_gy
    for goal in parsed:
        structure(study, goal.structure, f"--goal {goal.text!r}")
        if goal.needs_prescription and rx is None:
            raise RtplanError(
                f"goal {goal.text!r} is in % of the prescription: give --prescription-gy "
                "or --plan (no RT Plan referenced by the RT Dose was found)"
            )
    dvhs = compute_dvhs(dose, [s for s in study.structures if s.has_volume])
    return evaluate_goals(parsed, dose, study.structures, rx, dvhs=dvhs), dvhs


def _whole_plan_dose(dose: Dose | None, plan: Plan | None) -> tuple[Dose | None, str | None]:
    """The whole plan's dose the report shows (converted, or refused) and what it is.

    The basis is printed as a line ``dose: ...``.
    """
    from rtplan.evaluate import dose_for_evaluation

    if dose is None:
        return None, None
    evaluated = dose_for_evaluation(
        dose, fractions=plan.fractions if plan is not None else None, purpose="the review report"
    )
    print(f"dose: {evaluated.basis}")
    return evaluated.dose, evaluated.basis  # type: ignore[return-value]


def _mu_check(study: Study, plan: Plan | None, dose: Dose | None) -> MuCheck | None:
    """The plan's independent MU check against its dose (no engine is run), printed."""
    from rtplan.dose import mu_check
    from rtplan.errors import RtplanError

    if plan is None or dose is None:
        return None
    try:
        checked = mu_check(plan, study.ct, dose)
    except RtplanError as exc:
        print(f"MU check not made: {exc}")
        return None
    notes = {b.note for b in checked if b.passed is None}
    if len(notes) == 1 and all(b.passed is None for b in checked):
        print(f"MU check not made: {notes.pop()}")  # one reason for the whole plan
        return checked
    for b in checked:
        result = (
            f"check {b.check_mu:.1f} MU, {b.difference_percent:+.1f} % {b.status}"
            if b.passed is not None
            else f"not checked: {b.note}"
        )
        print(f"MU check, beam {b.beam}: {b.engine_mu:.1f} MU per fraction, {result}")
    return checked


def _needle_paths(args: argparse.Namespace, study: Study) -> TrajectoryResult | None:
    """The needle paths to ``--needle-target``, when asked."""
    from rtplan.cli._common import structure
    from rtplan.guidance import plan_trajectory

    if not args.needle_target:
        return None
    return plan_trajectory(
        study.ct,
        target=structure(study, args.needle_target, "--needle-target"),
        avoid=[structure(study, n, "--avoid") for n in args.avoid],
        clearance_mm=args.clearance_mm,
        max_length_mm=args.max_length_mm,
        approach=args.approach or None,
    )
