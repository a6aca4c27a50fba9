"""Plan a straight needle path to a target, avoiding structures.

Search straight needle paths from the skin to a target that keep a clearance from the
avoided structures, rank them, print the ranked table and write the table (CSV, JSON),
overlays (PNG), DICOM (RT Structure Set, Secondary Captures, presentation state) and a 3D
scene.

The table describes each path as a radiologist does: the angle from the room's vertical
on the axial image and the patient's side it comes from, the craniocaudal tilt (towards
the head or the feet), the skin entry as CT slice (1-based) and table position z with its
distance from the midline (half-way between the body's right and left edges on that
slice), the skin-to-target depth and the shortest standard needle (10, 15, 20 cm) longer
than it. --json prints the same as one JSON document.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rtplan.cli._output import add_output_arguments
from rtplan.cli._parsing import add_isodose_arguments, add_needle_arguments, vocabulary
from rtplan.enum import Window
from rtplan.errors import RtplanError, StructureError

if TYPE_CHECKING:
    from rtplan.guidance import Trajectory, TrajectoryResult
    from rtplan.image import Image
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
    add_output_arguments(parser)
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
    from rtplan.cli._output import emit
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
    body = _body(study, args.body)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.accessibility.counts().items()))
    n_files = sum(len(v) for v in written.values())
    emit(
        args,
        [
            format_table(result, ct=study.ct, body=body),
            f"\ncandidates: {counts}",
            f"wrote {n_files} files to {args.output}",
        ],
        {
            "trajectories": [_row(t, study.ct, body) for t in result],
            "candidates": result.accessibility.counts(),
            "avoided": list(result.avoided),
            "files": [str(f) for files in written.values() for f in files],
        },
    )
    return 0


def _row(t: Trajectory, ct: Image, body: Structure | None) -> dict[str, object]:
    """A path's table row and its radiologist's terms, for --json."""
    from dataclasses import asdict

    from rtplan.report import needle_terms

    return {**t.to_dict(), **asdict(needle_terms(t, ct, body=body))}


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


def format_table(
    result: TrajectoryResult, *, ct: Image | None = None, body: Structure | None = None
) -> str:
    """The ranked trajectories as a text table.

    Parameters
    ----------
    result : TrajectoryResult
    ct : Image, optional
        The CT searched: adds the radiologist's columns (:func:`rtplan.report.needle_terms`).
    body : Structure, optional
        The body outline whose centre line is the midline.

    Returns
    -------
    str
    """
    from rtplan.report import needle_terms, text_table

    header = ["rank", "length mm", "in-plane", "out-plane", "min clear mm", "cortex deg"]
    if ct is not None:
        header += ["from vertical", "tilt", "slice", "table z mm", "midline mm", "needle"]
    header += ["score", "entry (LPS mm)"]
    rows = []
    for t in result:
        cortex = "-" if t.cortex_incidence_deg is None else f"{t.cortex_incidence_deg:.1f}"
        e = t.entry_mm
        row = [
            str(t.rank),
            f"{t.length_mm:.1f}",
            f"{t.in_plane_deg:.1f}",
            f"{t.out_of_plane_deg:.1f}",
            f"{t.min_clearance_mm:.1f}",
            cortex,
        ]
        if ct is not None:
            w = needle_terms(t, ct, body=body)
            row += [
                f"{w.angle_from_vertical_deg:.0f}° {w.entry_side}",
                w.tilt_text,
                str(w.entry_slice),
                f"{w.table_mm:.1f}",
                f"{w.midline_offset_mm:.0f} {w.midline_side}",
                w.needle_text,
            ]
        row += [f"{t.score:.3f}", f"({e[0]:.1f}, {e[1]:.1f}, {e[2]:.1f})"]
        rows.append(row)
    return text_table(header, rows, right=set(range(len(header) - 1)))
