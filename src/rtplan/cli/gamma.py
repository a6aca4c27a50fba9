"""Gamma index of an RT Dose against a reference RT Dose.

Compare an evaluated RT Dose with a reference RT Dose (grids may differ) by the gamma
index and print the pass rate (--json: as one JSON document). Percentages refer to the
reference maximum unless --normalization-gy is given; reference points below the
threshold are not evaluated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rtplan.cli._output import add_output_arguments

if TYPE_CHECKING:
    from rtplan.image import Dose

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan gamma``."""
    parser.add_argument("reference", type=Path, metavar="REF", help="reference RT Dose")
    parser.add_argument("evaluated", type=Path, metavar="EVAL", help="evaluated RT Dose")
    parser.add_argument("--dose-percent", type=float, default=3.0, help="default 3")
    parser.add_argument("--distance-mm", type=float, default=2.0, help="default 2")
    parser.add_argument(
        "--threshold-percent", type=float, default=10.0, help="lower dose cutoff, default 10"
    )
    parser.add_argument("--local", action="store_true", help="local dose difference")
    parser.add_argument("--normalization-gy", type=float, default=None)
    parser.add_argument("--max-gamma", type=float, default=2.0, help="search cap, default 2")
    parser.add_argument(
        "--interp-fraction",
        type=int,
        default=10,
        help="search step = distance / this (default 10)",
    )
    parser.add_argument(
        "--pass-threshold",
        type=float,
        default=None,
        metavar="PERCENT",
        help="exit with status 1 when the pass rate is below this",
    )
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Print the gamma pass rate; status 1 below ``--pass-threshold``, else 0."""
    import numpy as np

    from rtplan.cli import _common as check
    from rtplan.cli._output import emit
    from rtplan.errors import EvaluationError
    from rtplan.evaluate import gamma

    if args.pass_threshold is not None and not 0.0 <= args.pass_threshold <= 100.0:
        raise EvaluationError(
            f"--pass-threshold is a pass rate in percent, 0 to 100; got {args.pass_threshold:g}"
        )
    check.check_positive(args.dose_percent, "--dose-percent")
    check.check_positive(args.distance_mm, "--distance-mm")
    if not 0.0 <= args.threshold_percent < 100.0:
        raise EvaluationError(
            f"--threshold-percent must be from 0 to below 100 (% of the normalisation dose), "
            f"got {args.threshold_percent:g}"
        )
    ref = check.read_dose(args.reference, "REF")
    ev = check.read_dose(args.evaluated, "EVAL")
    _check_comparable(ref, ev, args)
    res = gamma(
        ref,
        ev,
        dose_percent=args.dose_percent,
        distance_mm=args.distance_mm,
        threshold_percent=args.threshold_percent,
        local=args.local,
        normalization_gy=args.normalization_gy,
        max_gamma=args.max_gamma,
        interp_fraction=args.interp_fraction,
        stop_at_pass=False,
    )
    if res.n_evaluated == 0:
        raise EvaluationError(
            f"no point of REF {args.reference} above the threshold "
            f"({res.threshold_percent:g} % of {res.normalization_gy:.4g} Gy) lies within "
            f"{res.max_gamma * res.distance_mm:g} mm of the grid of EVAL {args.evaluated}: "
            "nothing to compare; check that both doses are of the same plan, or lower "
            "--threshold-percent"
        )
    gmax = float(np.nanmax(res.values))
    lines = [
        f"reference {args.reference}: {_describe(ref)}",
        f"evaluated {args.evaluated}: {_describe(ev)}",
        res.summary(),
        f"gamma > 1 at {res.n_evaluated - res.n_passed} points; "
        f"95th percentile {res.percentile(95):.3f}, maximum {gmax:.3f}"
        f" (capped at {res.max_gamma:g})",
        f"pass rate: {res.pass_rate:.2f} %",
    ]
    passed = args.pass_threshold is None or res.pass_rate >= args.pass_threshold
    emit(
        args,
        lines,
        {
            "reference": str(args.reference),
            "evaluated": str(args.evaluated),
            "dose_percent": args.dose_percent,
            "distance_mm": args.distance_mm,
            "threshold_percent": res.threshold_percent,
            "local": bool(args.local),
            "normalization_gy": res.normalization_gy,
            "n_evaluated": res.n_evaluated,
            "n_passed": res.n_passed,
            "pass_rate_percent": res.pass_rate,
            "gamma_p95": res.percentile(95),
            "gamma_max": gmax,
            "max_gamma": res.max_gamma,
            "pass_threshold_percent": args.pass_threshold,
            "passed": passed,
        },
    )
    if args.pass_threshold is not None and not res.pass_rate >= args.pass_threshold:
        print(
            f"rtplan gamma: pass rate {res.pass_rate:.2f} % is below {args.pass_threshold:g} %",
            file=sys.stderr,
        )
        return 1
    return 0


def _check_comparable(ref: Dose, ev: Dose, args: argparse.Namespace) -> None:
    """Raise if the two doses are in different frames of reference or do not overlap."""
    from rtplan.errors import EvaluationError

    ref_frame, ev_frame = _frame_uid(ref), _frame_uid(ev)
    if ref_frame and ev_frame and ref_frame != ev_frame:
        raise EvaluationError(
            f"EVAL {args.evaluated} is in frame of reference {ev_frame}, REF "
            f"{args.reference} in {ref_frame}: their coordinates do not match (another "
            "study or patient); compare two doses computed on the same CT"
        )
    if not ref.grid.overlaps(ev.grid):
        raise EvaluationError(
            f"the grids of REF {args.reference} ({ref.grid.format_bounds()}) and EVAL "
            f"{args.evaluated} ({ev.grid.format_bounds()}) do not overlap: nothing to compare"
        )


def _frame_uid(dose: Dose) -> str:
    """The Frame of Reference UID of a dose, ``""`` when unknown."""
    return "" if dose.series is None else str(dose.series.frame_of_reference_uid)


def _describe(dose: Dose) -> str:
    """Grid and maximum of a dose, one line."""
    import numpy as np

    g = dose.grid
    nk, nj, ni = g.shape
    sp = "x".join(f"{v:g}" for v in g.spacing_ijk_mm)
    return f"{ni}x{nj}x{nk} voxels of {sp} mm, maximum {float(np.max(dose.array)):.4g} Gy"
