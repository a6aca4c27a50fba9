"""``rtplan dose STUDY``: compute a plan's dose and write RT Dose and RT Plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def _angles(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated angles in degrees, e.g. 0,120,240; got {text!r}"
        ) from exc


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
        type=_angles,
        default=[0.0, 120.0, 240.0],
        metavar="DEG,DEG,...",
        help="gantry angles of the conformal beams (default 0,120,240)",
    )
    parser.add_argument("--collimator", type=float, default=0.0, help="collimator angle, deg")
    parser.add_argument("--couch", type=float, default=0.0, help="couch angle, deg")
    parser.add_argument(
        "--margin-mm",
        type=float,
        default=7.0,
        help="aperture margin around the target, mm (default 7)",
    )
    parser.add_argument("--energy", default="6X", help="beam energy / model (default 6X)")
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
        "-o", "--output", type=Path, required=True, help="folder for RP.dcm and RD.dcm"
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
    from rtplan.errors import PlanError
    from rtplan.evaluate import dvh as rdvh

    study = rtplan.load_study(args.study)
    if args.conformal:
        if not args.target:
            raise PlanError("--conformal needs --target (the structure to conform to)")
        if args.prescription_gy is None:
            raise PlanError("--conformal needs --prescription-gy")
        plan = rtplan.Plan.conformal(
            study.structures[args.target],
            gantry_angles_deg=args.gantry,
            energy=args.energy,
            prescription_gy=args.prescription_gy,
            fractions=args.fractions or 1,
            margin_mm=args.margin_mm,
            collimator_deg=args.collimator,
            couch_deg=args.couch,
            patient_position=study.ct.patient_position or "HFS",
            normalization=args.normalization or "mean",
        )
    else:
        plan = rtplan.io.read_rtplan(args.plan)
        changes: dict[str, Any] = {}
        if args.prescription_gy is not None:
            changes["prescription_gy"] = args.prescription_gy
        if args.fractions is not None:
            changes["fractions"] = args.fractions
        if args.normalization is not None:
            changes["normalization"] = args.normalization
        if args.target:
            changes["target_name"] = args.target
        if changes:
            plan = replace(plan, **changes)
            if args.prescription_gy is not None or args.normalization is not None:
                plan = plan.with_beams([b.replace(mu=None) for b in plan.beams])
    target_name = args.target or plan.target_name
    target = study.structures[target_name] if target_name else None

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

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    plan_uid = str(generate_uid())
    rtplan.io.write_rtplan(
        result.plan,
        out / "RP.dcm",
        reference=study.ct,
        structures_sop_uid=study.structures.sop_instance_uid or None,
        sop_instance_uid=plan_uid,
    )
    rtplan.io.write_rtdose(dose, out / "RD.dcm", reference=study.ct, plan_sop_uid=plan_uid)

    print(f"engine {result.engine}, grid {args.grid_mm} mm, dose to {args.dose_to}")
    for i, beam in enumerate(result.plan.beams, start=1):
        print(
            f"beam {i} {beam.name or ''}: gantry {beam.gantry_deg:.1f} deg, "
            f"{beam.energy}, {beam.mu or 0.0:.1f} MU per fraction"
        )
    arr = np.asarray(dose.array)
    print(f"Dmax {float(arr.max()):.2f} Gy")
    if target is not None and target.has_volume:
        # the DVH `rtplan dvh` computes (partial volumes), so both commands agree
        h = rdvh(dose, target)
        if not h.is_empty:
            print(
                f"{target.name}: D95 {h.D(95):.2f} Gy, mean {h.mean_gy:.2f} Gy, "
                f"Dmax {h.max_gy:.2f} Gy"
            )
    print(f"wrote {out / 'RP.dcm'} and {out / 'RD.dcm'}")
    return 0
