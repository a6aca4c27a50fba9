"""Write an interactive HTML review page of a study.

Write one self-contained HTML file that opens in any browser without a server or
network: axial, coronal and sagittal views scrolled with the mouse wheel, window/level
presets, structures and isodose lines switched on and off, needle paths (with their
description in a radiologist's terms), and the CT number, dose and LPS position under the
cursor. Structure colours that clash with the isodose lines are
drawn in the nearest distinct colour. No patient identifiers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]

#: It takes a STUDY folder and the study options (rtplan.cli._parsing.study_options).
READS_STUDY = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan review``."""
    from rtplan.cli._isodose import add_isodose_level_arguments
    from rtplan.cli._output import add_output_arguments
    from rtplan.cli._parsing import add_couch_reference_argument

    add_output_arguments(parser)
    parser.add_argument("--dose", type=Path, help="RT Dose file (default: the study's first dose)")
    parser.add_argument(
        "--plan",
        type=Path,
        help="RT Plan file (default: the one the RT Dose references; its prescription is "
        "the 100 %% isodose)",
    )
    parser.add_argument(
        "--prescription-gy", type=float, help="100 %% isodose (default: the plan's, else Dmax)"
    )
    parser.add_argument(
        "--trajectory",
        type=Path,
        metavar="DIR",
        help="output folder of 'rtplan trajectory' (its trajectories.json): draw the needle paths",
    )
    add_isodose_level_arguments(parser)
    add_couch_reference_argument(parser)
    parser.add_argument("--title", help="page title")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("review.html"),
        help="output HTML file (default: review.html; an existing file is replaced)",
    )


def _trajectories(folder: Path | None) -> list[dict[str, Any]]:
    """The rows of ``trajectories.json`` in ``folder``."""
    from rtplan.errors import RtplanError

    if folder is None:
        return []
    path = folder / "trajectories.json" if folder.is_dir() else folder
    if not path.is_file():
        raise RtplanError(
            f"--trajectory {folder}: no trajectories.json there; give the output folder of "
            "'rtplan trajectory'"
        )
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["trajectories"]
        for row in rows:
            [float(row[f"{end}_{a}_mm"]) for end in ("entry", "target") for a in "xyz"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RtplanError(
            f"--trajectory {path}: not a trajectory table written by 'rtplan trajectory' "
            f"({type(exc).__name__}: {exc})"
        ) from None
    return list(rows)


def run(args: argparse.Namespace) -> int:
    """Write the page; status 0."""
    from rtplan.cli import _common as check
    from rtplan.cli._isodose import isodose_levels
    from rtplan.cli._output import emit
    from rtplan.cli._parsing import couch_reference_point
    from rtplan.report import review_page

    check.check_positive(args.prescription_gy, "--prescription-gy", "Gy")
    levels, colors = isodose_levels(args)
    check.output_file(
        args.output,
        "-o",
        suffixes=(".html", ".htm"),
        inputs={"--dose": args.dose, "--plan": args.plan},
        folders=[args.study],
    )
    rows = _trajectories(args.trajectory)
    study = check.load_study(args)
    dose = None
    if args.dose:
        dose = check.read_dose(args.dose, "--dose", study)
    elif study.doses:
        dose = study.doses[0]
    plan = check.read_plan(args.plan, "--plan", study) if args.plan else None
    if plan is None and dose is not None:
        plan = study.plan_for(dose, dose_path=args.dose).plan
    couch_reference_point(args, study, plan, needs_plan=False)
    with check.writing(args.output) as (tmp,):
        review_page(
            tmp,
            study,
            dose=dose,
            plan=plan,
            prescription_gy=args.prescription_gy,
            trajectories=rows,
            isodose_percent=levels,
            isodose_colors=colors,
            title=args.title,
            couch_reference=args.couch_reference,
        )
    doc = {
        "html": str(args.output),
        "dose": None if dose is None else dose.name,
        "plan": None if plan is None else plan.name,
        "trajectories": len(rows),
    }
    emit(args, [f"review page written to {args.output}"], doc)
    return 0
