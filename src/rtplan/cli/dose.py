"""Compute the dose of a plan (RT Plan or 3D-conformal) on a study.

Compute the photon dose of a plan on a study's CT and write an RT Plan (with the monitor
units) and an RT Dose in the CT's frame of reference. The plan is read from an RT Plan
file or built 3D-conformally around a target. The dose is the plan total (all fractions)
in Gy, dose to medium unless --dose-to water. Each beam's MU are shown beside those of an
independent hand calculation (output factors, TMR at the effective depth, inverse square),
with a warning above 5 %; --json prints it all as JSON, -q nothing (but errors). Progress
goes to stderr: one updating line on a terminal, plain lines in a log or pipe.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.cli._output import add_output_arguments
from rtplan.cli._parsing import angle_deg, angles_deg
from rtplan.enum import Engine, Normalization
from rtplan.image import DoseMedium

if TYPE_CHECKING:
    from rtplan.dose import MuCheck, PlanDose
    from rtplan.image import Dose
    from rtplan.io.study import Study
    from rtplan.plan import Plan
    from rtplan.structures import Structure

__all__ = ["add_arguments", "run"]

#: It takes a STUDY folder and the study options (rtplan.cli._parsing.study_options).
READS_STUDY = True


#: The options that shape a conformal plan only (attribute: flag).
CONFORMAL_ONLY = {
    "gantry": "--gantry",
    "collimator": "--collimator",
    "couch": "--couch",
    "margin_mm": "--margin-mm",
    "energy": "--energy",
}

#: What a conformal plan takes when an option is not given.
DEFAULT_GANTRY_DEG = (0.0, 120.0, 240.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan dose``."""
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
        help="gantry angles of the conformal beams, 0 to 360 (default "
        f"{','.join(f'{a:g}' for a in DEFAULT_GANTRY_DEG)})",
    )
    parser.add_argument(
        "--collimator", type=angle_deg, default=None, help="collimator angle, deg (default 0)"
    )
    parser.add_argument("--couch", type=angle_deg, default=None, help="couch angle, deg (0)")
    parser.add_argument(
        "--margin-mm", type=float, default=None, help="aperture margin around the target, mm (7)"
    )
    parser.add_argument("--energy", default=None, help="beam energy / model (default 6X)")
    parser.add_argument("--prescription-gy", type=float, default=None, help="total dose, Gy")
    parser.add_argument("--fractions", type=int, default=None, help="number of fractions")
    parser.add_argument(
        "--normalization",
        choices=[n.value for n in Normalization if n is not Normalization.NONE],
        default=None,
        help="prescription point: target mean, target D95 or isocentre (default mean)",
    )
    parser.add_argument(
        "--engine",
        default=Engine.COLLAPSED_CONE.value,
        help=f"dose engine: {', '.join(Engine.choices())} (the first is the default), or one "
        "installed as a plugin",
    )
    parser.add_argument("--grid-mm", type=float, default=2.5, help="dose grid spacing, mm (2.5)")
    parser.add_argument(
        "--dose-to", choices=DoseMedium, type=DoseMedium, default="medium", help="dose reported"
    )
    add_output_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="folder for RP.dcm and RD.dcm (created if missing; RP.dcm and RD.dcm already "
        "there are replaced, unless the command read them)",
    )


def run(args: argparse.Namespace) -> int:
    """Build or read the plan, compute the dose, write RP.dcm and RD.dcm; status 0."""
    from rtplan import dose as rdose
    from rtplan.cli import _common as check

    _check_numbers(args)
    study = check.load_study(args)
    out = check.output_folder(
        args.output,
        "-o",
        names=("RP.dcm", "RD.dcm"),
        inputs={"--plan": args.plan},
        folders=[args.study],
    )
    plan, target = _conformal(args, study) if args.conformal else _from_file(args, study)

    with check.progress(quiet=args.quiet) as progress:
        result = rdose.calculate(
            plan, study.ct, engine=args.engine, grid_mm=args.grid_mm, target=target,
            progress=progress,
        )  # fmt: skip
    checked = rdose.mu_check(result.plan, study.ct, result, target=target)
    dose = result.dose
    if args.dose_to is DoseMedium.WATER:
        dose = rdose.dose_to_water(dose, study.ct, energy=plan.beams[0].energy)
    _write(out, result.plan, dose, study)
    if args.json:
        _json_summary(args, result, dose, target, checked, out)
        return 0
    if args.quiet:
        return 0
    _summary(args, result, dose, target, checked)
    print(f"wrote {out / 'RP.dcm'} and {out / 'RD.dcm'}")
    return 0


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse impossible numbers before any work."""
    import math

    from rtplan.cli._common import check_positive
    from rtplan.errors import PlanError

    check_positive(args.prescription_gy, "--prescription-gy", "Gy")
    check_positive(args.grid_mm, "--grid-mm", "mm")
    if args.fractions is not None and args.fractions < 1:
        raise PlanError(f"--fractions must be a whole number >= 1, got {args.fractions}")
    if args.margin_mm is not None and not math.isfinite(args.margin_mm):
        raise PlanError(f"--margin-mm must be a finite number of mm, got {args.margin_mm}")


def _conformal(args: argparse.Namespace, study: Study) -> tuple[Plan, Structure]:
    """The 3D-conformal plan around ``--target``, with the options' defaults."""
    from rtplan.cli._common import structure
    from rtplan.errors import PlanError
    from rtplan.planning import BeamTemplate, conformal_plan

    if not args.target:
        raise PlanError("--conformal needs --target (the structure to conform to)")
    if args.prescription_gy is None:
        raise PlanError("--conformal needs --prescription-gy")
    target = structure(study, args.target, "--target")
    plan = conformal_plan(
        target,
        gantry_angles_deg=args.gantry if args.gantry is not None else DEFAULT_GANTRY_DEG,
        energy=args.energy or "6X",
        prescription_gy=args.prescription_gy,
        fractions=args.fractions if args.fractions is not None else 1,
        margin_mm=args.margin_mm if args.margin_mm is not None else 7.0,
        patient_position=study.ct.patient_position or "HFS",
        normalization=args.normalization or Normalization.MEAN,
        template=BeamTemplate(collimator_deg=args.collimator or 0.0, couch_deg=args.couch or 0.0),
    )
    return plan, target


def _from_file(args: argparse.Namespace, study: Study) -> tuple[Plan, Structure | None]:
    """The ``--plan`` file, with the prescription options applied, and its target."""
    from dataclasses import replace

    from rtplan.cli._common import read_plan, structure
    from rtplan.errors import PlanError

    given = [flag for attr, flag in CONFORMAL_ONLY.items() if getattr(args, attr) is not None]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise PlanError(
            f"{', '.join(given)} {verb} only to --conformal plans; the beams come from "
            f"--plan {args.plan}: edit the plan, or use --conformal"
        )
    plan = read_plan(args.plan, "--plan", study)
    target = structure(study, args.target, "--target") if args.target else None
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("prescription_gy", args.prescription_gy),
            ("fractions", args.fractions),
            ("normalization", args.normalization),
            ("target_name", target.name if target is not None else None),
        )
        if value is not None
    }
    if changes:
        plan = replace(plan, **changes)
    if args.prescription_gy is not None or args.normalization is not None:
        plan = plan.with_beams([b.replace(mu=None) for b in plan.beams])  # MU derived anew
    if target is None and plan.target_name:
        target = structure(study, plan.target_name, f"the target of --plan {args.plan}")
    return plan, target


def _write(out: Path, plan: Plan, dose: Dose, study: Study) -> None:
    """RP.dcm and RD.dcm, both whole or neither: written aside, renamed at the end."""
    from pydicom.uid import generate_uid

    from rtplan import io
    from rtplan.cli._common import writing

    plan_uid = str(generate_uid())
    with writing(out / "RP.dcm", out / "RD.dcm") as (rp, rd):
        io.write_rtplan(
            plan,
            rp,
            reference=study.ct,
            structures_sop_uid=study.structures.sop_instance_uid or None,
            sop_instance_uid=plan_uid,
        )
        io.write_rtdose(dose, rd, reference=study.ct, plan_sop_uid=plan_uid)


def _check_text(row: Any) -> str:
    """The MU check of one beam, for the beam's line."""
    if row.passed is None:
        return f"independent check not made: {row.note}"
    c = row.calculation
    return (
        f"independent check {row.check_mu:.1f} MU, {row.difference_percent:+.1f} % "
        f"{row.status}; d_eff {c.effective_depth_mm:.0f} mm, equivalent square "
        f"{c.equivalent_square_mm / 10.0:.1f} cm"
    )


def _summary(
    args: argparse.Namespace,
    result: PlanDose,
    dose: Dose,
    target: Structure | None,
    check: MuCheck,
) -> None:
    """Engine, beams with their MU and the MU check, the maximum and the target's DVH."""
    print(f"engine {result.engine}, grid {args.grid_mm} mm, dose to {args.dose_to}")
    for i, (beam, row) in enumerate(zip(result.plan.beams, check, strict=True), start=1):
        print(
            f"beam {i} {beam.name or ''}: gantry {beam.gantry_deg:.1f} deg, "
            f"{beam.energy}, {beam.mu or 0.0:.1f} MU per fraction ({_check_text(row)})"
        )
    print(f"MU check (tolerance {check.tolerance_percent:g} %): {check.basis}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"Dmax {dose.max_gy:.2f} Gy")
    figures = _target_figures(dose, target)
    if figures and target is not None:
        print(
            f"{target.name}: D95 {figures['D95_gy']:.2f} Gy, mean {figures['mean_gy']:.2f} Gy, "
            f"Dmax {figures['max_gy']:.2f} Gy"
        )


def _target_figures(dose: Dose, target: Structure | None) -> dict[str, float]:
    """D95, mean and maximum of the target (the DVH `rtplan dvh` computes), if any."""
    from rtplan.evaluate import dvh

    if target is None:  # looked up with a volume
        return {}
    h = dvh(dose, target)
    if h.is_empty:
        return {}
    return {"D95_gy": h.D(95), "mean_gy": h.mean_gy, "max_gy": h.max_gy}


def _json_summary(
    args: argparse.Namespace,
    result: PlanDose,
    dose: Dose,
    target: Structure | None,
    check: MuCheck,
    out: Path,
) -> None:
    """The summary as one JSON document on stdout."""
    import json

    plan = result.plan
    doc = {
        "engine": result.engine,
        "grid_mm": args.grid_mm,
        "dose_to": str(args.dose_to),
        "dose": dose.meaning,
        "prescription_gy": plan.prescription_gy,
        "fractions": plan.fractions,
        "normalization": str(plan.normalization),
        "beams": [
            {
                "number": i,
                "name": b.name,
                "energy": b.energy,
                "gantry_deg": b.gantry_deg,
                "mu_per_fraction": round(float(b.mu or 0.0), 2),
            }
            for i, b in enumerate(plan.beams, start=1)
        ],
        "mu_check": check.to_dict(),
        "notes": list(result.notes),
        "dmax_gy": round(dose.max_gy, 4),
        "target": {"name": target.name, **_target_figures(dose, target)} if target else None,
        "files": {"rtplan": str(out / "RP.dcm"), "rtdose": str(out / "RD.dcm")},
    }
    print(json.dumps(doc, indent=2))
