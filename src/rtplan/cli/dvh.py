"""``rtplan dvh STUDY``: DVH metrics of every structure, as a table and CSV."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "goals_not_met", "referenced_plan", "referenced_prescription", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``dvh`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From :meth:`argparse.ArgumentParser.add_subparsers`.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dvh",
        help="DVH metrics of every structure of a study",
        description=(
            "Compute the dose-volume histogram of every structure of a study (CT + RT "
            "Structure Set) for an RT Dose, print the metrics table (volume, Dmin, Dmean, "
            "Dmax, D0.03cc, D2/D50/D95/D98%, HI and, with a prescription, V95/V100/V107% "
            "of it), the conformity and gradient indices of the targets and, when the RT "
            "Dose stores DVHs (DVH Sequence), how they differ from the computed ones; "
            "optionally write the table, curves and indices as CSV and evaluate clinical "
            "goals. The prescription comes from --prescription-gy, --plan, or the RT Plan "
            "the RT Dose references (in the study or next to the RT Dose file)."
        ),
    )
    parser.add_argument("study", type=Path, metavar="STUDY", help="study folder")
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
    parser.add_argument(
        "--goal",
        action="append",
        default=None,
        metavar="GOAL",
        help="clinical goal, e.g. 'PTV D95 >= 95 %%' (a dose in %% is of the prescription), "
        "'Femur V40Gy <= 64 %%' (a volume in %% is of the structure); repeatable; exit "
        "status 1 if one fails or cannot be evaluated (structure outside the dose)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Compute and print the DVH metrics; returns 1 if a clinical goal fails, else 0.

    Raises
    ------
    RtplanError
        On bad input (reported by :func:`rtplan.cli.main.main` with exit status 2).
    """
    from rtplan.cli import _common as check
    from rtplan.errors import RtplanError
    from rtplan.evaluate import (
        compute_dvhs,
        conformity_metrics,
        dose_metrics,
        evaluate_goals,
        format_conformity_table,
        format_metrics_table,
        parse_goal,
        write_dvhs_csv,
        write_dvhs_json,
        write_metrics_csv,
    )

    goals = [parse_goal(text) for text in args.goal or []]
    study = check.load_study(args.study)
    inputs = {"--dose": args.dose, "--plan": args.plan}
    outputs = {"-o": args.output, "--curves": args.curves, "--indices": args.indices}
    for option, path in outputs.items():
        if path is not None:
            check.output_file(path, option, inputs=inputs, folders=[args.study])
    written = [p.resolve() for p in outputs.values() if p is not None]
    if len(set(written)) < len(written):
        raise RtplanError("-o, --curves and --indices name the same file; give each its own")
    if args.dose is not None:
        dose = check.read_dose(args.dose, "--dose", study)
        where = str(args.dose)
    elif len(study.doses) == 1:
        dose = study.doses[0]
        where = f"the RT Dose of {args.study}"
    elif not study.doses:
        raise RtplanError(f"{args.study} holds no RT Dose; give one with --dose RTDOSE")
    else:
        raise RtplanError(
            f"{args.study} holds {len(study.doses)} RT Doses; choose one with --dose RTDOSE"
        )
    for goal in goals:
        check.structure(study, goal.structure, f"--goal {goal.text!r}")
    roi = [check.structure(study, n, "--roi").name for n in args.roi] if args.roi else None
    for name in args.target or []:
        check.structure(study, name, "--target")
    check.check_dose_covers(
        dose,
        [study.structures[n] for n in roi] if roi else study.structures,
        "--dose" if args.dose is not None else "the RT Dose in",
        args.dose if args.dose is not None else args.study,
    )
    rx, fractions, rx_source = _prescription(args, study, dose)
    for goal in goals:
        if goal.needs_prescription and rx is None:
            raise RtplanError(
                f"goal {goal.text!r} is in % of the prescription: give --prescription-gy or "
                "--plan (no RT Plan referenced by the RT Dose was found)"
            )
    if rx is None and (args.indices is not None or args.target):
        option = "--indices" if args.indices is not None else "--target"
        raise RtplanError(
            f"{option} needs a prescription: give --prescription-gy or --plan (no RT Plan "
            "referenced by the RT Dose was found)"
        )
    dvhs = compute_dvhs(dose, study.structures, names=roi, end_cap=args.end_cap)
    if not dvhs:
        raise RtplanError(f"{args.study}: no structure with a volume to evaluate")
    rows = [dose_metrics(h, rx) for h in dvhs.values()]
    title = f"DVH metrics of {where}" + (f" ({dose.name})" if dose.name else "")
    print(title)
    if rx is not None:
        fractions = fractions or dose.fractions
        fx = f" in {fractions} fractions" if fractions else ""
        print(f"prescription {rx:g} Gy{fx} (from {rx_source})")
    else:
        print("no prescription (give --prescription-gy or --plan for V95/V100/V107%Rx)")
    print(format_metrics_table(rows))
    if args.output is not None:
        with check.writing(args.output) as (tmp,):
            write_metrics_csv(rows, tmp)
        print(f"metrics written to {args.output}")
    if args.curves is not None:
        with check.writing(args.curves) as (tmp,):
            if args.curves.suffix.lower() == ".json":
                write_dvhs_json(dvhs.values(), tmp)
            else:
                write_dvhs_csv(dvhs.values(), tmp)
        print(f"DVH curves written to {args.curves}")
    _compare_stored(dose, study.structures, dvhs)
    targets = _targets(args, study.structures, dvhs)
    if rx is not None and targets:
        body = _body(study.structures)
        within = f"inside {body.name}" if body is not None else "over the whole dose grid"
        ci_rows = [
            conformity_metrics(dose, t, rx, body=body, dvhs=dvhs, end_cap=args.end_cap)
            for t in targets
        ]
        print()
        print(
            f"Conformity (RTOG PIV/TV, Paddick TV_PIV²/(TV PIV)) and gradient (PIV50%/PIV) "
            f"indices; isodose volumes {within}"
        )
        print(format_conformity_table(ci_rows))
        if args.indices is not None:
            with check.writing(args.indices) as (tmp,):
                write_metrics_csv(ci_rows, tmp)
            print(f"indices written to {args.indices}")
    elif args.indices is not None:
        raise RtplanError(f"{args.study}: no PTV for --indices; name the target with --target NAME")
    if goals:
        table = evaluate_goals(goals, dose, study.structures, rx, dvhs=dvhs)
        print()
        print(table.format_table())
        if not table.all_passed:
            print(f"rtplan dvh: {goals_not_met(table)}", file=sys.stderr)
            return 1
    return 0


def goals_not_met(table: Any) -> str:
    """``"2 goal(s) failed, 1 could not be evaluated (see the table)"``."""
    undefined = sum(1 for r in table if r.passed is None)
    parts = []
    if table.n_failed:
        parts.append(f"{table.n_failed} goal(s) failed")
    if undefined:
        parts.append(f"{undefined} could not be evaluated (see the table)")
    return ", ".join(parts)


def _compare_stored(dose: Any, structures: Any, dvhs: dict[str, Any]) -> None:
    """Print how the DVHs stored in the RT Dose file (DVH Sequence) differ from ours."""
    from rtplan.evaluate import read_dvhs

    files: tuple[Path, ...] = tuple(dose.series.files) if dose.series is not None else ()
    if len(files) != 1:
        return
    stored = read_dvhs(files[0], structures=structures)
    pairs = [(dvhs[h.name], h) for h in stored.values() if h.name in dvhs and not h.is_empty]
    if not pairs:
        return
    print()
    print(f"DVHs stored in {files[0]} (DVH Sequence) against those computed here:")
    head = ["Structure", "Volume [cc]", "stored [cc]", "max dV [%]", "dDmean [Gy]", "dD95% [Gy]"]
    rows = [head]
    for ours, theirs in pairs:
        vol = "-" if math.isnan(theirs.volume_cc) else f"{theirs.volume_cc:.2f}"
        rows.append(
            [
                ours.name,
                f"{ours.volume_cc:.2f}",
                vol,
                f"{ours.max_difference(theirs):.2f}",
                f"{theirs.mean_gy - ours.mean_gy:+.3f}",
                f"{theirs.D95 - ours.D95:+.3f}",
            ]
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [r[c].rjust(widths[c]) for c in range(1, len(r))]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("max dV: largest difference of the cumulative DVHs, % of the volume; d: stored - ours")


def _prescription(
    args: argparse.Namespace, study: Any, dose: Any
) -> tuple[float | None, int | None, str]:
    """The prescription dose (Gy), the fractions if known, and where they come from.

    In order: ``--prescription-gy``; ``--plan``; the study's RT Plan that the RT Dose
    references; an RT Plan file next to the RT Dose file that it references; the study's
    only prescription.
    """
    from rtplan.cli._common import read_plan
    from rtplan.errors import RtplanError

    if args.prescription_gy is not None:
        if not (math.isfinite(args.prescription_gy) and args.prescription_gy > 0):
            raise RtplanError(f"--prescription-gy must be positive, got {args.prescription_gy}")
        fx = read_plan(args.plan, "--plan", study).fractions if args.plan is not None else None
        return float(args.prescription_gy), fx, "--prescription-gy"
    if args.plan is not None:
        plan = read_plan(args.plan, "--plan", study)
        if plan.prescription_gy is None:
            raise RtplanError(
                f"{args.plan} holds no prescription (TargetPrescriptionDose); give "
                "--prescription-gy"
            )
        return float(plan.prescription_gy), plan.fractions, f"RT Plan {args.plan}"
    return referenced_prescription(study, dose, args.dose)


def referenced_plan(study: Any, dose: Any, dose_path: Path | None) -> tuple[Any, str]:
    """The RT Plan an RT Dose references (its ``plan_uid``), and where it was found.

    Looked for among the study's RT Plans, then among the files next to the RT Dose file.

    Parameters
    ----------
    study : rtplan.io.Study
    dose : rtplan.Dose
        Its ``plan_uid`` is the SOP Instance UID of the RT Plan it references.
    dose_path : Path, optional
        The RT Dose file, when it was read from outside the study.

    Returns
    -------
    tuple
        ``(plan, source)``: an :class:`rtplan.Plan` and a description such as
        ``"RT Plan out/RP.dcm"``; ``(None, "")`` when the plan is not found.
    """
    from rtplan.io import read_rtplan

    uid = str(getattr(dose, "plan_uid", "") or "")
    if not uid:
        return None, ""
    for plan in study.plans:
        if plan.extra.get("sop_instance_uid") == uid:
            return plan, f"RT Plan {plan.extra.get('source', '')}"
    if dose_path is not None:
        found = _plan_file_next_to(dose_path, uid)
        if found is not None:
            return read_rtplan(found), f"RT Plan {found}"
    return None, ""


def referenced_prescription(
    study: Any, dose: Any, dose_path: Path | None
) -> tuple[float | None, int | None, str]:
    """The prescription (Gy), fractions and source of the RT Plan an RT Dose belongs to.

    In order: the RT Plan that the RT Dose references (:func:`referenced_plan`), when it
    holds a prescription; the study's only prescription.

    Parameters
    ----------
    study : rtplan.io.Study
    dose : rtplan.Dose
    dose_path : Path, optional
        The RT Dose file, when it was read from outside the study.

    Returns
    -------
    tuple
        ``(prescription_gy, fractions, source)``; ``(None, None, "")`` when none is found.
    """
    plan, src = referenced_plan(study, dose, dose_path)
    if plan is not None and plan.prescription_gy:
        return float(plan.prescription_gy), plan.fractions, src
    with_rx = [p for p in study.plans if p.prescription_gy]
    if len({float(p.prescription_gy) for p in with_rx}) == 1:
        fxs = {p.fractions for p in with_rx}
        fx = fxs.pop() if len(fxs) == 1 else None
        return float(with_rx[0].prescription_gy), fx, "the study's RT Plan"
    return None, None, ""


def _plan_file_next_to(dose_path: Path, plan_uid: str) -> Path | None:
    """The RT Plan file in the RT Dose's folder whose SOP Instance UID is ``plan_uid``."""
    import pydicom

    folder = Path(dose_path).resolve().parent
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.resolve() == Path(dose_path).resolve():
            continue
        try:
            ds = pydicom.dcmread(
                path, stop_before_pixels=True, specific_tags=["Modality", "SOPInstanceUID"]
            )
        except (OSError, pydicom.errors.InvalidDicomError):
            continue
        if ds.get("Modality") == "RTPLAN" and str(ds.get("SOPInstanceUID", "")) == plan_uid:
            return path
    return None


def _targets(args: argparse.Namespace, structures: Any, dvhs: dict[str, Any]) -> list[Any]:
    """Structures for the conformity indices: ``--target``, else the PTVs evaluated."""
    if args.target:
        return [structures[name] for name in args.target]  # StructureError names the choices
    return [
        s
        for s in structures
        if s.name in dvhs
        and (s.interpreted_type.upper() == "PTV" or s.name.upper().startswith("PTV"))
    ]


def _body(structures: Any) -> Any:
    """The patient outline: the EXTERNAL structure, else one named Body or External."""
    for s in structures:
        if s.interpreted_type.upper() == "EXTERNAL" and s.has_volume:
            return s
    for s in structures:
        if s.name.casefold() in ("body", "external", "outline") and s.has_volume:
            return s
    return None
