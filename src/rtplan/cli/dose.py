"""``rtplan dose STUDY``: compute a plan's dose and write RT Dose and RT Plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.cli._common import angle_deg, angles_deg

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``dose`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From :meth:`argparse.ArgumentParser.add_subparsers`.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dose",
        help="compute the dose of a plan (RT Plan or 3D-conformal) on a study",
        description=(
            "Compute the photon dose of a plan on a study's CT and write an RT Plan (with "
            "the monitor units) and an RT Dose in the CT's frame of reference. The plan is "
            "read from an RT Plan file or built 3D-conformally around a target. The dose "
            "is the plan total (all fractions) in Gy, dose to medium unless --dose-to water."
        ),
    )
    parser.add_argument("study", type=Path, metavar="STUDY", help="study folder (CT + RTSTRUCT)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--plan", type=Path, metavar="RTPLAN", help="RT Plan file to compute")
    source.add_argument(
        "--conformal", action="store_true", help="build a 3D-conformal plan around --target"
    )
    parser.add_argument("--target", default=None, help="target structure name (e.g. PTV)")
    parser.add_argument(
        "--gantry",
        type=angles_deg,
        default=None,
        metavar="DEG,DEG,...",
        help="gantry angles of the conformal beams, 0 to 360 (default 0,120,240)",
    )
    parser.add_argument(
        "--collimator", type=angle_deg, default=None, help="collimator angle, deg (default 0)"
    )
    parser.add_argument("--couch", type=angle_deg, default=None, help="couch angle, deg (0)")
    parser.add_argument(
        "--margin-mm",
        type=float,
        default=None,
        help="aperture margin around the target, mm (default 7)",
    )
    parser.add_argument("--energy", default=None, help="beam energy / model (default 6X)")
    parser.add_argument("--prescription-gy", type=float, default=None, help="total dose, Gy")
    parser.add_argument("--fractions", type=int, default=None, help="number of fractions")
    parser.add_argument(
        "--normalization",
        choices=("mean", "d95", "isocenter"),
        default=None,
        help="prescription point: target mean, target D95 or isocentre (default mean)",
    )
    parser.add_argument(
        "--engine",
        default="collapsed-cone",
        help="dose engine: collapsed-cone (default), pencil-beam, or one installed as a plugin",
    )
    parser.add_argument(
        "--grid-mm", type=float, default=2.5, help="dose grid spacing, mm (default 2.5)"
    )
    parser.add_argument(
        "--dose-to", choices=("medium", "water"), default="medium", help="dose reported"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="folder for RP.dcm and RD.dcm (created if missing; RP.dcm and RD.dcm already "
        "there are replaced, unless the command read them)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Build or read the plan, compute the dose, write the files and print a summary.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of :func:`add_parser`.

    Returns
    -------
    int
        0 on success, 2 on bad input.

    Raises
    ------
    rtplan.RtplanError
        On unreadable input or impossible plans (``main`` reports it and returns 2).
    """
    from dataclasses import replace

    import numpy as np
    from pydicom.uid import generate_uid

    import rtplan
    from rtplan import dose as rdose
    from rtplan.cli import _common as check
    from rtplan.errors import PlanError
    from rtplan.evaluate import dvh as rdvh

    check.check_positive(args.prescription_gy, "--prescription-gy", "Gy")
    check.check_positive(args.grid_mm, "--grid-mm", "mm")
    if args.fractions is not None and args.fractions < 1:
        raise PlanError(f"--fractions must be a whole number >= 1, got {args.fractions}")
    if args.margin_mm is not None and not np.isfinite(args.margin_mm):
        raise PlanError(f"--margin-mm must be a finite number of mm, got {args.margin_mm}")
    study = check.load_study(args.study)
    out = check.output_folder(
        args.output,
        "-o",
        names=("RP.dcm", "RD.dcm"),
        inputs={"--plan": args.plan},
        folders=[args.study],
    )
    target: Structure | None
    if args.conformal:
        if not args.target:
            raise PlanError("--conformal needs --target (the structure to conform to)")
        if args.prescription_gy is None:
            raise PlanError("--conformal needs --prescription-gy")
        target = check.structure(study, args.target, "--target")
        plan = rtplan.Plan.conformal(
            target,
            gantry_angles_deg=args.gantry if args.gantry is not None else [0.0, 120.0, 240.0],
            energy=args.energy or "6X",
            prescription_gy=args.prescription_gy,
            fractions=args.fractions if args.fractions is not None else 1,
            margin_mm=args.margin_mm if args.margin_mm is not None else 7.0,
            collimator_deg=args.collimator or 0.0,
            couch_deg=args.couch or 0.0,
            patient_position=study.ct.patient_position or "HFS",
            normalization=args.normalization or "mean",
        )
    else:
        check.reject_with_plan(
            args,
            {
                "gantry": "--gantry",
                "collimator": "--collimator",
                "couch": "--couch",
                "margin_mm": "--margin-mm",
                "energy": "--energy",
            },
        )
        plan = check.read_plan(args.plan, "--plan", study)
        changes: dict[str, Any] = {}
        if args.prescription_gy is not None:
            changes["prescription_gy"] = args.prescription_gy
        if args.fractions is not None:
            changes["fractions"] = args.fractions
        if args.normalization is not None:
            changes["normalization"] = args.normalization
        target = check.structure(study, args.target, "--target") if args.target else None
        if target is not None:
            changes["target_name"] = target.name
        if changes:
            plan = replace(plan, **changes)
            if args.prescription_gy is not None or args.normalization is not None:
                plan = plan.with_beams([b.replace(mu=None) for b in plan.beams])
    if target is None and plan.target_name:
        target = check.structure(study, plan.target_name, f"the target of --plan {args.plan}")

    def progress(fraction: float, message: str) -> None:
        print(f"\r{100.0 * fraction:5.1f} % {message:<60}", end="", file=sys.stderr)

    result = rdose.calculate(
        plan, study.ct, engine=args.engine, grid_mm=args.grid_mm, target=target,
        progress=progress,
    )  # fmt: skip
    print(file=sys.stderr)
    dose = result.dose
    if args.dose_to == "water":
        dose = rdose.dose_to_water(dose, study.ct, energy=plan.beams[0].energy)

    plan_uid = str(generate_uid())
    # both files whole or neither: written aside, renamed over RP.dcm / RD.dcm at the end
    with check.writing(out / "RP.dcm", out / "RD.dcm") as (rp, rd):
        rtplan.io.write_rtplan(
            result.plan,
            rp,
            reference=study.ct,
            structures_sop_uid=study.structures.sop_instance_uid or None,
            sop_instance_uid=plan_uid,
        )
        rtplan.io.write_rtdose(dose, rd, reference=study.ct, plan_sop_uid=plan_uid)

    print(f"engine {result.engine}, grid {args.grid_mm} mm, dose to {args.dose_to}")
    for i, beam in enumerate(result.plan.beams, start=1):
        print(
            f"beam {i} {beam.name or ''}: gantry {beam.gantry_deg:.1f} deg, "
            f"{beam.energy}, {beam.mu or 0.0:.1f} MU per fraction"
        )
    arr = np.asarray(dose.array)
    print(f"Dmax {float(arr.max()):.2f} Gy")
    if target is not None:  # check.structure: it has a volume
        # the DVH `rtplan dvh` computes (partial volumes), so both commands agree
        h = rdvh(dose, target)
        if not h.is_empty:
            print(
                f"{target.name}: D95 {h.D(95):.2f} Gy, mean {h.mean_gy:.2f} Gy, "
                f"Dmax {h.max_gy:.2f} Gy"
            )
    print(f"wrote {out / 'RP.dcm'} and {out / 'RD.dcm'}")
    return 0
