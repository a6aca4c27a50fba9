"""Plan a straight needle path to a target, avoiding structures.

Search straight needle paths from the skin to a target that keep a clearance from the
avoided structures, rank them, print the ranked table and write the table (CSV, JSON),
overlays (PNG), DICOM (RT Structure Set, Secondary Captures, presentation state) and a 3D
scene.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rtplan.cli._parsing import add_isodose_arguments, add_needle_arguments, vocabulary
from rtplan.enum import Window
from rtplan.errors import RtplanError, StructureError

if TYPE_CHECKING:
    from rtplan.guidance import TrajectoryResult
    from rtplan.io.study import Study
    from rtplan.structures import Structure

__all__ = ["add_arguments", "format_table", "run"]

#: It takes a STUDY folder and the study options (rtplan.cli._parsing.study_options).
READS_STUDY = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan trajectory``."""
    parser.add_argument("--target", required=True, help="target ROI name (e.g. GTV)")
    parser.add_argument(
        "--target-mm",
        type=float,
        nargs=3,
        metavar=("X", "Y", "Z"),
        default=None,
        help="aim at this LPS point (mm) instead of the target's centroid",
    )
    add_needle_arguments(parser)
    parser.add_argument(
        "--avoid-bone",
        action="store_true",
        help="also avoid bone (automatic bone segmentation from HU)",
    )
    parser.add_argument(
        "--avoid-class",
        nargs="*",
        default=[],
        metavar="CLASS",
        help="tissue classes to avoid inside the body (lung, air, cortical_bone, ...)",
    )
    parser.add_argument(
        "--clearance",
        nargs="*",
        default=[],
        metavar="NAME=MM",
        help="per-structure clearance overriding --clearance-mm, e.g. SpinalCanal=8",
    )
    parser.add_argument(
        "--max-tilt-deg",
        type=float,
        default=None,
        help="largest angle to the axial plane (gantry tilt); 0 = in-plane only",
    )
    parser.add_argument("--entry-region", default=None, metavar="ROI", help="allowed skin ROI")
    parser.add_argument(
        "--body", default=None, metavar="ROI", help="body ROI (default: the EXTERNAL ROI)"
    )
    parser.add_argument(
        "--voxel-extent",
        action="store_true",
        help="count avoided voxels as boxes (adds half a voxel diagonal to the clearance)",
    )
    parser.add_argument("--n-best", type=int, default=10, help="trajectories to report (10)")
    parser.add_argument(
        "--n-overlays", type=int, default=1, help="best trajectories to render and export (1)"
    )
    add_isodose_arguments(parser)
    parser.add_argument(
        "--window",
        type=vocabulary(Window),
        default=Window.SOFT_TISSUE,
        help=f"CT window of the overlays: {', '.join(Window.choices())}",
    )
    parser.add_argument("--no-dicom", action="store_true", help="do not write DICOM objects")
    parser.add_argument("--scene", action="store_true", help="also write the 3D scene")
    parser.add_argument(
        "--show-patient", action="store_true", help="burn the patient name and ID into images"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output folder (created if missing; files of an earlier run there are replaced)",
    )


def _body(study: Study, name: str | None) -> Structure | None:
    """The named body ROI, else the study's only EXTERNAL ROI, else None (automatic)."""
    if name is not None:
        from rtplan.cli._common import structure

        return structure(study, name, "--body")
    external = study.structures.by_type("EXTERNAL")
    return external[0] if len(external) == 1 else None


def _clearances(args: argparse.Namespace, names: list[str]) -> float | dict[str, float]:
    if not args.clearance:
        return float(args.clearance_mm)
    out = dict.fromkeys(names, float(args.clearance_mm))
    for item in args.clearance:
        name, sep, value = str(item).partition("=")
        if not sep:
            raise RtplanError(f"--clearance takes NAME=MM items, got {item!r}")
        if name not in out:
            raise StructureError(f"--clearance names {name!r}, which is not avoided ({names})")
        try:
            out[name] = float(value)
        except ValueError:
            raise RtplanError(f"--clearance {item!r}: {value!r} is not a number") from None
    return out


def run(args: argparse.Namespace) -> int:
    """Plan the paths (none feasible is bad input), print and write them; status 0."""
    from rtplan.cli import _common as check
    from rtplan.guidance import ExportOptions, export_plan, plan_trajectory

    check.check_positive(args.prescription_gy, "--prescription-gy", "Gy")
    for option, value in (("--n-best", args.n_best), ("--n-overlays", args.n_overlays)):
        if value < 1:
            raise RtplanError(f"{option} must be a whole number >= 1, got {value}")
    study = check.load_study(args)
    check.output_folder(args.output, "-o", inputs={"--dose": args.dose}, folders=[args.study])
    target = _target(args, study)
    avoided = [check.structure(study, n, "--avoid") for n in args.avoid]
    avoid: list[Structure | str] = [*avoided, *(["bone"] if args.avoid_bone else [])]
    avoid.extend(args.avoid_class)
    entry = (
        check.structure(study, args.entry_region, "--entry-region") if args.entry_region else None
    )
    dose = check.read_dose(args.dose, "--dose", study) if args.dose is not None else None
    result = plan_trajectory(
        study.ct,
        target,
        avoid=avoid,
        clearance_mm=_clearances(args, [a if isinstance(a, str) else a.name for a in avoid]),
        max_length_mm=args.max_length_mm,
        body=_body(study, args.body),
        entry_region=entry,
        approach=args.approach or None,
        max_tilt_deg=args.max_tilt_deg,
        target_mm=args.target_mm,
        voxel_extent=args.voxel_extent,
        n_best=args.n_best,
    )
    rx = args.prescription_gy
    if dose is not None:
        rx = check.isodose_prescription(study, dose, args.dose, rx)
    written = export_plan(
        result,
        study.ct,
        args.output,
        target=target,
        avoided=avoided,
        dose=dose,
        prescription_gy=rx,
        options=ExportOptions(
            window=args.window,
            n_overlays=args.n_overlays,
            dicom=not args.no_dicom,
            scene=args.scene,
            show_patient=args.show_patient,
        ),
    )
    print(format_table(result))
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.accessibility.counts().items()))
    print(f"\ncandidates: {counts}")
    print(f"wrote {sum(len(v) for v in written.values())} files to {args.output}")
    return 0


def _target(args: argparse.Namespace, study: Study) -> Structure:
    """The ``--target``: a volume or a point (POI); with ``--target-mm`` any structure."""
    from rtplan.cli._common import structure

    target = structure(study, args.target, "--target", need_volume=False)
    if target.is_empty and args.target_mm is None:
        raise StructureError(
            f"--target: structure {target.name!r} in {study.structures.source} is empty (no "
            "contours or points); choose another target, or aim with --target-mm X Y Z"
        )
    return target


def format_table(result: TrajectoryResult) -> str:
    """The ranked trajectories as a text table."""
    header = (
        f"{'rank':>4}  {'length mm':>9}  {'in-plane':>8}  {'out-plane':>9}  "
        f"{'min clear mm':>12}  {'cortex deg':>10}  {'score':>6}  entry (LPS mm)"
    )
    lines = [header, "-" * len(header)]
    for t in result:
        cortex = "-" if t.cortex_incidence_deg is None else f"{t.cortex_incidence_deg:.1f}"
        e = t.entry_mm
        lines.append(
            f"{t.rank:>4}  {t.length_mm:>9.1f}  {t.in_plane_deg:>8.1f}  "
            f"{t.out_of_plane_deg:>9.1f}  {t.min_clearance_mm:>12.1f}  {cortex:>10}  "
            f"{t.score:>6.3f}  ({e[0]:.1f}, {e[1]:.1f}, {e[2]:.1f})"
        )
    return "\n".join(lines)
