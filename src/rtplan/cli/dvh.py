"""DVH metrics of every structure of a study.

Compute the dose-volume histogram of every structure of a study (CT + RT Structure Set)
for an RT Dose, print the metrics table (volume, Dmin, Dmean, Dmax, D0.03cc,
D2/D50/D95/D98%, HI and, with a prescription, V95/V100/V107% of it), the conformity and
gradient indices of the targets and, when the RT Dose stores DVHs (DVH Sequence), how
they differ from the computed ones; optionally write the table, curves and indices as CSV
and evaluate clinical goals. The prescription comes from --prescription-gy, --plan, or the
RT Plan the RT Dose references (in the study or next to the RT Dose file).

The dose evaluated is the whole plan's: a per-fraction RT Dose is multiplied by the
plan's number of fractions (and the output says so); one whose number of fractions is
unknown, a dose of part of a plan (one beam...) or an ERROR dose is shown as it is, without
the prescription, and refused for goals and indices. --json prints it all as JSON; -q
prints nothing on stdout (the exit status still says whether the goals were met).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.cli._output import add_output_arguments

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from rtplan.evaluate import DVH, ClinicalGoal
    from rtplan.image import Dose
    from rtplan.io import Prescription
    from rtplan.io.study import Study
    from rtplan.structures import Structure, StructureSet

__all__ = ["add_arguments", "run"]

#: It takes a STUDY folder and the study options (rtplan.cli._parsing.study_options).
READS_STUDY = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan dvh``."""
    parser.add_argument(
        "--dose",
        type=Path,
        default=None,
        metavar="RTDOSE",
        help="RT Dose file (default: the study's only RT Dose)",
    )
    parser.add_argument(
        "--roi", action="append", default=None, metavar="NAME", help="only this ROI (repeatable)"
    )
    parser.add_argument(
        "--prescription-gy",
        type=float,
        default=None,
        help="prescription dose (default: from the RT Plan, if one is found)",
    )
    parser.add_argument(
        "--plan",
        type=Path,
        default=None,
        metavar="RTPLAN",
        help="RT Plan giving the prescription (default: the RT Plan the RT Dose references, "
        "in the study or next to the RT Dose file)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=None,
        metavar="NAME",
        help="target for the conformity and gradient indices (repeatable; default: the PTVs)",
    )
    parser.add_argument(
        "--end-cap",
        choices=("slab", "none"),
        default="slab",
        help="how far a structure extends beyond its end contours (default: half a slice)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="write the metrics table as CSV (an existing file is replaced)",
    )
    parser.add_argument(
        "--curves",
        type=Path,
        default=None,
        help="write the DVH curves as CSV, or as JSON when the name ends in .json (an "
        "existing file is replaced)",
    )
    parser.add_argument(
        "--indices",
        type=Path,
        default=None,
        metavar="CSV",
        help="write the conformity and gradient indices as CSV (an existing file is replaced)",
    )
    add_output_arguments(parser)
    parser.add_argument(
        "--goal",
        action="append",
        default=None,
        metavar="GOAL",
        help="clinical goal, e.g. 'PTV D95 >= 95 %%' (a dose in %% is of the prescription), "
        "'Femur V40Gy <= 64 %%' (a volume in %% is of the structure); repeatable; exit "
        "status 1 if one fails or cannot be evaluated (structure outside the dose)",
    )


def run(args: argparse.Namespace) -> int:
    """Compute and print the DVH metrics; status 1 if a clinical goal fails, else 0."""
    from rtplan.cli import _common as check
    from rtplan.evaluate import compute_dvhs, evaluate_goals, parse_goal

    goals = [parse_goal(text) for text in args.goal or []]
    study = check.load_study(args)
    _check_outputs(args)
    dose, where = _dose(args, study)
    roi = _check_structures(args, study, goals)
    check.check_dose_covers(
        dose,
        [study.structures[n] for n in roi] if roi else study.structures,
        "--dose" if args.dose is not None else "the RT Dose in",
        args.dose if args.dose is not None else args.study,
    )
    rx = _prescription(args, study, dose)
    dose, basis, rx = _evaluated(args, dose, rx, goals)
    _check_prescription_needed(args, goals, rx.dose_gy)
    dvhs = compute_dvhs(dose, study.structures, names=roi, end_cap=args.end_cap)
    if not dvhs:
        from rtplan.errors import RtplanError

        raise RtplanError(f"{args.study}: no structure with a volume to evaluate")
    doc: dict[str, Any] = {"dose": {"file": where, "evaluated": basis}}
    doc["metrics"] = _metrics(args, dose, where, rx, dvhs, basis)
    if not (args.json or args.quiet):
        _compare_stored(dose, study.structures, dvhs)
    doc["indices"] = _indices(args, dose, study.structures, rx.dose_gy, dvhs)
    table = evaluate_goals(goals, dose, study.structures, rx.dose_gy, dvhs=dvhs) if goals else None
    if args.json:
        doc["goals"] = table.to_dict() if table is not None else None
        print(json.dumps(_json_ready(doc), indent=2))
    if table is None:
        return 0
    if args.json or args.quiet:
        return 0 if table.all_passed else 1
    print()
    return check.print_goals(table, "dvh")


# ---------------------------------------------------------------------------- the dose
def _evaluated(
    args: argparse.Namespace, dose: Dose, rx: Prescription, goals: list[ClinicalGoal]
) -> tuple[Dose, str, Prescription]:
    """The whole plan's dose, what it is, and the prescription that goes with it.

    A per-fraction dose is converted with the plan's fractions; a dose that cannot stand
    for the whole plan is refused when goals or indices ask for it, and otherwise shown as
    it is without the prescription (its DVHs say what it holds).
    """
    from rtplan.evaluate import EvaluationError, dose_for_evaluation
    from rtplan.io import Prescription

    wants_plan = bool(goals) or args.indices is not None or bool(args.target)
    purpose = "clinical goals and indices" if wants_plan else "prescription-relative figures"
    try:
        evaluated = dose_for_evaluation(dose, fractions=rx.fractions, purpose=purpose)
    except EvaluationError:
        if wants_plan:
            raise
        kept = Prescription(None, rx.fractions, rx.source)
        if dose.fractions is None and rx.fractions is not None:
            dose = dose.with_array(dose.array, fractions=rx.fractions)
        return dose, f"{dose.meaning}; shown as it is, without the prescription", kept
    return evaluated.dose, evaluated.basis, rx  # type: ignore[return-value]


def _json_ready(value: Any) -> Any:
    """``value`` with NaN and infinite floats as ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


# ---------------------------------------------------------------------------- checks
def _check_outputs(args: argparse.Namespace) -> None:
    """The CSV/JSON outputs: writable, none an input, no two the same."""
    from rtplan.cli._common import output_file
    from rtplan.errors import RtplanError

    inputs = {"--dose": args.dose, "--plan": args.plan}
    outputs = {"-o": args.output, "--curves": args.curves, "--indices": args.indices}
    for option, path in outputs.items():
        if path is not None:
            output_file(path, option, inputs=inputs, folders=[args.study])
    written = [p.resolve() for p in outputs.values() if p is not None]
    if len(set(written)) < len(written):
        raise RtplanError("-o, --curves and --indices name the same file; give each its own")


def _dose(args: argparse.Namespace, study: Study) -> tuple[Dose, str]:
    """The ``--dose`` file, else the study's only RT Dose; and how to name it."""
    from rtplan.cli._common import read_dose
    from rtplan.errors import RtplanError

    if args.dose is not None:
        return read_dose(args.dose, "--dose", study), str(args.dose)
    if len(study.doses) == 1:
        return study.doses[0], f"the RT Dose of {args.study}"
    if not study.doses:
        raise RtplanError(f"{args.study} holds no RT Dose; give one with --dose RTDOSE")
    raise RtplanError(
        f"{args.study} holds {len(study.doses)} RT Doses; choose one with --dose RTDOSE"
    )


def _check_structures(
    args: argparse.Namespace, study: Study, goals: Iterable[ClinicalGoal]
) -> list[str] | None:
    """The structures the options name exist and have a volume; the ``--roi`` names."""
    from rtplan.cli._common import structure

    for goal in goals:
        structure(study, goal.structure, f"--goal {goal.text!r}")
    for name in args.target or []:
        structure(study, name, "--target")
    return [structure(study, n, "--roi").name for n in args.roi] if args.roi else None


def _prescription(args: argparse.Namespace, study: Study, dose: Dose) -> Prescription:
    """The prescription and where it comes from.

    In order: ``--prescription-gy`` (with the fractions of ``--plan``, if given);
    ``--plan``; the plan the RT Dose belongs to (:meth:`rtplan.io.Study.prescription_for`).
    """
    from rtplan.cli._common import check_positive, read_plan
    from rtplan.io import Prescription

    plan = read_plan(args.plan, "--plan", study) if args.plan is not None else None
    if args.prescription_gy is not None:
        check_positive(args.prescription_gy, "--prescription-gy", "Gy")
        fractions = plan.fractions if plan is not None else None
        return Prescription(float(args.prescription_gy), fractions, "--prescription-gy")
    return study.prescription_for(dose, dose_path=args.dose, plan=plan)


def _check_prescription_needed(
    args: argparse.Namespace, goals: Iterable[ClinicalGoal], rx: float | None
) -> None:
    """Refuse the options that need a prescription when none was found."""
    from rtplan.errors import RtplanError

    if rx is not None:
        return
    for goal in goals:
        if goal.needs_prescription:
            raise RtplanError(
                f"goal {goal.text!r} is in % of the prescription: give --prescription-gy or "
                "--plan (no RT Plan referenced by the RT Dose was found)"
            )
    if args.indices is not None or args.target:
        option = "--indices" if args.indices is not None else "--target"
        raise RtplanError(
            f"{option} needs a prescription: give --prescription-gy or --plan (no RT Plan "
            "referenced by the RT Dose was found)"
        )


# ---------------------------------------------------------------------------- output
def _metrics(
    args: argparse.Namespace,
    dose: Dose,
    where: str,
    rx: Prescription,
    dvhs: Mapping[str, DVH],
    basis: str,
) -> list[dict[str, float | str]]:
    """Print the metrics table (unless --json); write it and the curves when asked."""
    from rtplan.cli._common import writing
    from rtplan.evaluate import dose_metrics, write_dvhs_csv, write_dvhs_json, write_metrics_csv
    from rtplan.report import format_metrics_table

    rows = [dose_metrics(h, rx.dose_gy) for h in dvhs.values()]
    say = (lambda *_: None) if args.json or args.quiet else print
    say(f"DVH metrics of {where}" + (f" ({dose.name})" if dose.name else ""))
    say(f"dose: {basis}")
    if rx.dose_gy is not None:
        fractions = rx.fractions or dose.fractions
        fx = f" in {fractions} fractions" if fractions else ""
        say(f"prescription {rx.dose_gy:g} Gy{fx} (from {rx.source})")
    else:
        say("no prescription (give --prescription-gy or --plan for V95/V100/V107%Rx)")
    say(format_metrics_table(rows))
    if args.output is not None:
        with writing(args.output) as (tmp,):
            write_metrics_csv(rows, tmp)
        say(f"metrics written to {args.output}")
    if args.curves is not None:
        write = write_dvhs_json if args.curves.suffix.lower() == ".json" else write_dvhs_csv
        with writing(args.curves) as (tmp,):
            write(dvhs.values(), tmp)
        say(f"DVH curves written to {args.curves}")
    return rows


def _indices(
    args: argparse.Namespace,
    dose: Dose,
    structures: StructureSet,
    rx: float | None,
    dvhs: Mapping[str, DVH],
) -> list[dict[str, float | str]]:
    """Print (unless --json) and write the conformity and gradient indices of the targets."""
    from rtplan.cli._common import writing
    from rtplan.errors import RtplanError
    from rtplan.evaluate import conformity_metrics, write_metrics_csv
    from rtplan.report import format_conformity_table

    targets = _targets(args, structures, dvhs)
    if rx is None or not targets:
        if args.indices is not None:
            raise RtplanError(
                f"{args.study}: no PTV for --indices; name the target with --target NAME"
            )
        return []
    body = _body(structures)
    rows = [
        conformity_metrics(dose, t, rx, body=body, dvhs=dvhs, end_cap=args.end_cap) for t in targets
    ]
    within = f"inside {body.name}" if body is not None else "over the whole dose grid"
    say = (lambda *_: None) if args.json or args.quiet else print
    say()
    say(
        "Conformity (RTOG PIV/TV, Paddick TV_PIV²/(TV PIV)) and gradient (PIV50%/PIV) "
        f"indices; isodose volumes {within}"
    )
    say(format_conformity_table(rows))
    if args.indices is not None:
        with writing(args.indices) as (tmp,):
            write_metrics_csv(rows, tmp)
        say(f"indices written to {args.indices}")
    return rows


def _compare_stored(dose: Dose, structures: StructureSet, dvhs: Mapping[str, DVH]) -> None:
    """Print how the DVHs stored in the RT Dose file (DVH Sequence) differ from ours."""
    from rtplan.evaluate import read_dvhs
    from rtplan.report import text_table

    files: tuple[Path, ...] = tuple(dose.series.files) if dose.series is not None else ()
    if len(files) != 1:
        return
    stored = read_dvhs(files[0], structures=structures)
    pairs = [(dvhs[h.name], h) for h in stored.values() if h.name in dvhs and not h.is_empty]
    if not pairs:
        return
    rows = [
        [
            ours.name,
            f"{ours.volume_cc:.2f}",
            "-" if math.isnan(theirs.volume_cc) else f"{theirs.volume_cc:.2f}",
            f"{ours.max_difference(theirs):.2f}",
            f"{theirs.mean_gy - ours.mean_gy:+.3f}",
            f"{theirs.D95 - ours.D95:+.3f}",
        ]
        for ours, theirs in pairs
    ]
    head = ["Structure", "Volume [cc]", "stored [cc]", "max dV [%]", "dDmean [Gy]", "dD95% [Gy]"]
    print()
    print(f"DVHs stored in {files[0]} (DVH Sequence) against those computed here:")
    print(text_table(head, rows))
    print("max dV: largest difference of the cumulative DVHs, % of the volume; d: stored - ours")


def _targets(
    args: argparse.Namespace, structures: StructureSet, dvhs: Mapping[str, DVH]
) -> list[Structure]:
    """Structures for the conformity indices: ``--target``, else the PTVs evaluated."""
    if args.target:
        return [structures[name] for name in args.target]  # StructureError names the choices
    return [
        s
        for s in structures
        if s.name in dvhs
        and (s.interpreted_type.upper() == "PTV" or s.name.upper().startswith("PTV"))
    ]


def _body(structures: StructureSet) -> Structure | None:
    """The patient outline: the EXTERNAL structure, else one named Body or External."""
    for s in structures:
        if s.interpreted_type.upper() == "EXTERNAL" and s.has_volume:
            return s
    for s in structures:
        if s.name.casefold() in ("body", "external", "outline") and s.has_volume:
            return s
    return None
