"""Optimise a step-and-shoot IMRT plan that meets clinical goals.

Optimise the fluence of one beam per gantry angle on a study (CT + RT Structure Set) to
meet the --goal objectives (e.g. 'PTV D95 >= 50 Gy', 'Core D10 <= 25 Gy', 'Femur V40Gy
<= 64 %', weighed against each other) and the --constraint hard constraints (e.g.
'SpinalCord D0.03cc <= 17 Gy': met by the optimised fluence within 0.5 % of the limit, or
the command stops with status 2 and says which cannot be met), sequence it into
step-and-shoot MLC segments, refine the segment MU, compute
the plan's dose on the whole CT with --engine and write RP.dcm (control points per
segment), RD.dcm and report.html (fluence maps, segments and MU per beam, the goals) into
the output folder. Prints the optimisation figures, the goals on the optimiser's and on
the delivered dose, the gamma of the delivered dose against the optimiser's, and the goal
table; exits with status 1 when a goal is not met (as rtplan dvh does).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.cli._output import add_output_arguments, emit
from rtplan.cli._parsing import angles_deg
from rtplan.enum import Engine

if TYPE_CHECKING:
    from rtplan.io.study import Study
    from rtplan.planning import ConstraintResult, InversePlan

__all__ = ["add_arguments", "run"]

#: It takes a STUDY folder and the study options (rtplan.cli._parsing.study_options).
READS_STUDY = True

#: Gantry angles when --gantry is not given: five equispaced beams.
DEFAULT_GANTRY_DEG = (0.0, 72.0, 144.0, 216.0, 288.0)

#: The files written into the output folder.
OUTPUT_NAMES = ("RP.dcm", "RD.dcm", "report.html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan optimize``."""
    parser.add_argument(
        "--goal",
        "--objective",
        dest="goal",
        action="append",
        default=[],
        metavar="GOAL",
        help="clinical goal, a weighted objective, e.g. 'PTV D95 >= 50 Gy' (a dose in %% is "
        "of the prescription); repeat for several",
    )
    parser.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="GOAL",
        help="hard constraint, in the goals' spelling, e.g. 'SpinalCord D0.03cc <= 17 Gy': "
        "the optimised fluence meets it within 0.5 %% of the limit; repeat for several",
    )
    parser.add_argument("--target", default=None, help="target structure (default: the "
                        "structure of the first '>=' goal)")  # fmt: skip
    parser.add_argument(
        "--gantry",
        type=angles_deg,
        default=None,
        metavar="DEG,DEG,...",
        help=f"gantry angles, 0 to 360 (default {','.join(f'{a:g}' for a in DEFAULT_GANTRY_DEG)})",
    )
    parser.add_argument("--prescription-gy", type=float, required=True, help="total dose, Gy")
    parser.add_argument("--fractions", type=int, default=1, help="number of fractions (1)")
    parser.add_argument("--energy", default="6X", help="beam energy (6X)")
    parser.add_argument(
        "--engine",
        default=Engine.PENCIL_BEAM.value,
        help=f"engine of the segment doses and the final dose: {', '.join(Engine.choices())} "
        "(default pencil-beam; collapsed-cone is the reference in heterogeneous tissue)",
    )
    parser.add_argument("--grid-mm", type=float, default=3.0, help="dose grid spacing, mm (3)")
    parser.add_argument("--bixel-mm", type=float, default=5.0, help="bixel width, mm (5)")
    parser.add_argument("--levels", type=int, default=10, help="intensity levels (10)")
    parser.add_argument(
        "--aim-percent", type=float, default=3.0,
        help="planning margin: the optimiser aims this far inside each goal, %% (3)",
    )  # fmt: skip
    parser.add_argument(
        "--room-percent", type=float, default=1.0,
        help="a goal counts as met between rounds only this far inside its limit, %% (1)",
    )  # fmt: skip
    parser.add_argument(
        "--modulation-weight", type=float, default=None, metavar="W",
        help="weight of the modulation penalty that lowers the MU (default: the library's)",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=6, help="optimisation rounds re-aiming unmet goals (6)"
    )
    parser.add_argument("--min-mu", type=float, default=2.0, help="least MU per segment (2)")
    parser.add_argument(
        "--iterations", type=int, default=60, help="L-BFGS-B iterations per round (60)"
    )
    parser.add_argument(
        "--cache", type=Path, default=None, metavar="FOLDER", help="cache of influence matrices"
    )
    add_output_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="folder for RP.dcm, RD.dcm and report.html (created if missing)",
    )


def run(args: argparse.Namespace) -> int:
    """Optimise, write RP.dcm, RD.dcm and report.html; status 1 if a goal is not met, else 0."""
    from rtplan.cli import _common as check
    from rtplan.errors import PlanError
    from rtplan.evaluate import parse_goal
    from rtplan.planning import InverseOptions, inverse_plan

    check.check_positive(args.prescription_gy, "--prescription-gy", "Gy")
    check.check_positive(args.grid_mm, "--grid-mm", "mm")
    check.check_positive(args.bixel_mm, "--bixel-mm", "mm")
    if args.fractions < 1:
        raise PlanError(f"--fractions must be a whole number >= 1, got {args.fractions}")
    goals = [parse_goal(text) for text in args.goal]
    constraints = [parse_goal(text) for text in args.constraint]
    if not goals and not constraints:
        raise PlanError("give at least one --goal (e.g. --goal 'PTV D95 >= 50 Gy')")
    study = check.load_study(args)
    for name in dict.fromkeys(g.structure for g in goals):
        check.structure(study, name, "--goal")
    for name in dict.fromkeys(g.structure for g in constraints):
        check.structure(study, name, "--constraint")
    out = check.output_folder(args.output, "-o", names=OUTPUT_NAMES, folders=[args.study])

    extra = {} if args.modulation_weight is None else {"modulation_weight": args.modulation_weight}
    options = InverseOptions(
        energy=args.energy, bixel_mm=args.bixel_mm, grid_mm=args.grid_mm, levels=args.levels,
        min_mu=args.min_mu, max_iterations=args.iterations, engine=args.engine,
        aim_percent=args.aim_percent, room_percent=args.room_percent, rounds=args.rounds,
        cache_dir=str(args.cache) if args.cache is not None else None, **extra,
    )  # fmt: skip
    with check.progress(quiet=args.quiet or args.json) as progress:
        result = inverse_plan(
            study.ct, study.structures, goals,
            gantry_angles_deg=args.gantry if args.gantry is not None else DEFAULT_GANTRY_DEG,
            prescription_gy=args.prescription_gy, fractions=args.fractions, target=args.target,
            options=options, progress=progress, constraints=constraints,
        )  # fmt: skip
    _write(out, result, study)
    _write_report(out / "report.html", result, args.study)
    if args.json or args.quiet:
        emit(args, [], _summary_dict(result, out))
        return 0 if result.goals.all_passed else 1
    _print_summary(result)
    print(f"wrote {', '.join(str(out / name) for name in OUTPUT_NAMES)}")
    return check.print_goals(result.goals, "optimize")


def _write(out: Path, result: InversePlan, study: Study) -> None:
    """RP.dcm and RD.dcm, both whole or neither."""
    from pydicom.uid import generate_uid

    from rtplan import io
    from rtplan.cli._common import writing

    plan_uid = str(generate_uid())
    with writing(out / "RP.dcm", out / "RD.dcm") as (rp, rd):
        io.write_rtplan(
            result.plan,
            rp,
            reference=study.ct,
            structures_sop_uid=study.structures.sop_instance_uid or None,
            sop_instance_uid=plan_uid,
        )
        io.write_rtdose(result.plan_dose.dose, rd, reference=study.ct, plan_sop_uid=plan_uid)


def _write_report(path: Path, result: InversePlan, study_folder: Path) -> None:
    """The review report of the plan: its IMRT section (fluence, segments, MU, goals)."""
    from rtplan.report import HtmlReport, add_imrt_section

    report = HtmlReport(title=result.plan.name, subtitle=f"Study folder: {study_folder.name}")
    add_imrt_section(report, result)
    report.save(path)


def _summary_dict(result: InversePlan, out: Path) -> dict[str, Any]:
    inf = result.influence
    return {
        "beams": [
            {"name": b.name, "gantry_deg": b.gantry_deg, "mu": b.mu, "segments": len(b.segments)}
            for b in result.plan.beams
        ],
        "total_mu": result.plan.total_mu,
        "bixels": int(inf.matrix.shape[1]),
        "voxels": int(inf.matrix.shape[0]),
        "influence_nnz": int(inf.matrix.nnz),
        "influence_mib": inf.nbytes / 2**20,
        "dropped_fraction": inf.dropped_fraction,
        "fluence_iterations": result.fluence.iterations,
        "refinement_iterations": result.refinement.iterations,
        "constraints": {
            "goals": [c.text for c in result.constraint_goals],
            "fluence": [_constraint_dict(c) for c in result.fluence.constraints],
            "refinement": [_constraint_dict(c) for c in result.refinement.constraints],
        },
        "timings_s": result.timings,
        "comparison": [
            {
                "goal": c.goal,
                "optimized": c.optimized,
                "delivered": c.delivered,
                "difference_percent": c.difference_percent,
            }
            for c in result.comparison
        ],
        "gamma": [
            {
                "dose_percent": g.dose_percent,
                "distance_mm": g.distance_mm,
                "threshold_percent": g.threshold_percent,
                "normalization_gy": g.normalization_gy,
                "pass_rate": g.pass_rate,
                "mean_gamma": g.mean_gamma,
                "n_evaluated": g.n_evaluated,
                "n_passed": g.n_passed,
            }
            for g in result.gamma
        ],
        "goals": result.goals.to_dict(),
        "files": [str(out / name) for name in OUTPUT_NAMES],
    }


def _constraint_dict(c: ConstraintResult) -> dict[str, Any]:
    return {
        "goal": c.goal,
        "structure": c.structure,
        "kind": c.kind,
        "limit_gy": c.limit_gy,
        "value_gy": c.value_gy,
        "violation_percent": c.violation_percent,
        "satisfied": c.satisfied,
    }


def _print_summary(result: InversePlan) -> None:
    inf = result.influence
    t = result.timings
    print(
        f"influence matrix: {inf.matrix.shape[1]} bixels x {inf.matrix.shape[0]} voxels, "
        f"{inf.matrix.nnz} entries ({inf.nbytes / 2**20:.1f} MiB, "
        f"{100 * inf.dropped_fraction:.2f} % of the dose dropped), {t['influence']:.1f} s"
    )
    print(
        f"fluence: {result.fluence.iterations} iterations ({t['fluence']:.1f} s); segments: "
        f"{result.n_segments}, refined in {result.refinement.iterations} iterations "
        f"({t['refinement']:.1f} s); final dose {t['final_dose']:.1f} s"
    )
    for b in result.plan.beams:
        print(f"  {b.name}: gantry {b.gantry_deg:g} deg, {b.mu or 0:.1f} MU, "
              f"{len(b.segments)} segments")  # fmt: skip
    print(f"total {result.plan.total_mu:.1f} MU per fraction")
    for stage, found in (("fluence", result.fluence), ("segment MU", result.refinement)):
        for held in found.constraints:
            print(f"hard constraint ({stage}, held at {held.limit_gy:.4g} Gy): {held}")
    print("goal                            optimised  delivered  difference")
    for c in result.comparison:
        print(f"{c.goal:<30} {c.optimized:10.2f} {c.delivered:10.2f} "
              f"{c.difference_percent:+9.2f} %")  # fmt: skip
    for g in result.gamma:
        print(f"delivered against optimised dose: {g.summary()}")
    print()
