"""Run the whole flow on the bundled sample studies.

Plan and compute a 3-field conformal plan on thigh_sarcoma (MU, DVH metrics, clinical
goals, RT Plan and RT Dose) and a biopsy trajectory to the vertebral metastasis of
spine_metastasis (overlays and DICOM), with an HTML report each. Exits with status 0 when
every clinical goal of the thigh plan is met and 1 when one is not (all files are written
either way).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rtplan.cli._output import add_output_arguments, emit
from rtplan.enum import Engine

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan demo``."""
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("rtplan-demo"),
        help="output folder (default: ./rtplan-demo; files of an earlier demo are replaced)",
    )
    parser.add_argument(
        "--engine",
        default=Engine.COLLAPSED_CONE.value,
        help=f"dose engine: {', '.join(Engine.choices())} (the first is the default)",
    )
    parser.add_argument("--grid-mm", type=float, default=2.5, help="dose grid spacing, mm")
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the demo, printing its commentary; 0 when every clinical goal passes, else 1.

    With ``--json`` the commentary is replaced by the files written and whether the goals
    passed; ``-q`` prints nothing.
    """
    from rtplan.cli._common import check_positive, output_folder
    from rtplan.report import run_demo

    check_positive(args.grid_mm, "--grid-mm", "mm")
    output_folder(args.output, "-o")
    plain = not (args.json or args.quiet)
    echo = print if plain else None
    result = run_demo(args.output, engine=args.engine, grid_mm=args.grid_mm, echo=echo)
    if not plain:
        doc = {
            "goals_passed": result.goals_passed,
            "files": {key: str(path) for key, path in result.files.items()},
        }
        emit(args, [], doc)
    return 0 if result.goals_passed else 1
