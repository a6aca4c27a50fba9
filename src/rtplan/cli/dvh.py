"""``rtplan dvh STUDY``: DVH metrics of every structure, as a table and CSV."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


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
            "Dmax, D0.03cc, D2/D50/D95/D98 %%, HI and, with a prescription, V95/V100/V107 %%) "
            "and optionally write it as CSV, with the curves and clinical goals."
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
        help="prescription dose (default: the study's RT Plan, if any)",
    )
    parser.add_argument(
        "--end-cap",
        choices=("slab", "none"),
        default="slab",
        help="how far a structure extends beyond its end contours (default: half a slice)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="write the metrics table as CSV"
    )
    parser.add_argument(
        "--curves", type=Path, default=None, help="write the cumulative DVH curves as CSV"
    )
    parser.add_argument(
        "--goal",
        action="append",
        default=None,
        metavar="GOAL",
        help="clinical goal, e.g. 'PTV D95 >= 95 %%' (repeatable); exit status 1 if one fails",
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
    from rtplan.errors import RtplanError
    from rtplan.evaluate import (
        compute_dvhs,
        dose_metrics,
        evaluate_goals,
        format_metrics_table,
        write_dvhs_csv,
        write_metrics_csv,
    )
    from rtplan.io import load_study, read_rtdose

    study = load_study(args.study)
    if args.dose is not None:
        dose = read_rtdose(args.dose)
    elif len(study.doses) == 1:
        dose = study.doses[0]
    elif not study.doses:
        raise RtplanError(f"{args.study} holds no RT Dose; give one with --dose RTDOSE")
    else:
        raise RtplanError(
            f"{args.study} holds {len(study.doses)} RT Doses; choose one with --dose RTDOSE"
        )
    rx = args.prescription_gy
    if rx is None:
        rxs = [p.prescription_gy for p in study.plans if p.prescription_gy]
        rx = rxs[0] if rxs else None
    dvhs = compute_dvhs(dose, study.structures, names=args.roi, end_cap=args.end_cap)
    if not dvhs:
        raise RtplanError(f"{args.study}: no structure with a volume to evaluate")
    rows = [dose_metrics(h, rx) for h in dvhs.values()]
    title = f"DVH metrics, dose {dose.name or (args.dose or 'of the study')}"
    if rx is not None and math.isfinite(rx):
        title += f", prescription {rx:g} Gy"
    print(title)
    print(format_metrics_table(rows))
    if args.output is not None:
        write_metrics_csv(rows, args.output)
        print(f"metrics written to {args.output}")
    if args.curves is not None:
        write_dvhs_csv(dvhs.values(), args.curves)
        print(f"DVH curves written to {args.curves}")
    if args.goal:
        table = evaluate_goals(args.goal, dose, study.structures, rx, dvhs=dvhs)
        print()
        print(table.format_table())
        if table.n_failed:
            print(f"rtplan dvh: {table.n_failed} goal(s) failed", file=sys.stderr)
            return 1
    return 0
