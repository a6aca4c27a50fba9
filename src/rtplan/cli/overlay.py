"""Render a CT plane with structures, dose and a needle as PNG.

Render an axial, coronal, sagittal or needle-aligned CT plane with structure contours,
isodose lines or a dose colourwash, and a planned needle path (from the trajectories.json
that rtplan trajectory writes), with orientation letters and a scale bar; optionally also
write the image as a DICOM Secondary Capture in the CT's study.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.cli._isodose import add_isodose_level_arguments, isodose_levels
from rtplan.cli._output import add_output_arguments, emit
from rtplan.cli._parsing import add_isodose_arguments, vocabulary, window_or_width_level
from rtplan.enum import Plane, Window
from rtplan.errors import RtplanError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from rtplan.guidance import Trajectory, View
    from rtplan.io.study import Study
    from rtplan.structures import Structure

__all__ = ["add_arguments", "read_trajectory", "run", "target_first"]

#: It takes a STUDY folder and the study options (rtplan.cli._parsing.study_options).
READS_STUDY = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan overlay``."""
    parser.add_argument(
        "--plane",
        type=vocabulary(Plane),
        default=Plane.AXIAL,
        help=f"view plane: {', '.join(Plane.choices())} (default axial)",
    )
    parser.add_argument(
        "--at-mm",
        type=float,
        default=None,
        help="plane position: z (axial), y (coronal), x (sagittal) or offset (needle planes); "
        "default: through the needle's target, else the first PTV, CTV or GTV drawn",
    )
    parser.add_argument(
        "--structures",
        nargs="*",
        default=None,
        metavar="ROI",
        help="ROIs to draw (default: all with a volume)",
    )
    add_isodose_arguments(parser)
    add_isodose_level_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument(
        "--dose-display", choices=("lines", "wash", "both"), default="lines", help="dose style"
    )
    parser.add_argument(
        "--window",
        type=window_or_width_level,
        default=Window.SOFT_TISSUE,
        help=f"CT window: {', '.join(Window.choices())}, or WIDTH/LEVEL in HU, e.g. 350/50",
    )
    parser.add_argument(
        "--trajectory",
        type=Path,
        default=None,
        help="trajectories.json from `rtplan trajectory`",
    )
    parser.add_argument("--rank", type=int, default=1, help="which trajectory of the file (1)")
    parser.add_argument(
        "--tick-mm", type=float, default=10.0, help="depth tick spacing along the needle (10)"
    )
    parser.add_argument(
        "--layer",
        nargs="*",
        default=[],
        metavar="NAME",
        help="extra overlay layers installed as plugins (entry-point group "
        "rtplan.overlay_layers), e.g. mm-grid",
    )
    parser.add_argument("--fov-mm", type=float, default=None, help="square field of view, mm")
    parser.add_argument("--pixel-mm", type=float, default=None, help="pixel size, mm")
    parser.add_argument(
        "--display",
        choices=("radiological", "stored"),
        default="radiological",
        help="axial display convention (radiological: viewed from the feet)",
    )
    parser.add_argument(
        "--show-patient", action="store_true", help="burn the patient name and ID into the image"
    )
    parser.add_argument(
        "--dicom",
        type=Path,
        default=None,
        help="also write a Secondary Capture to this file (an existing file is replaced)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="PNG file to write (name ending in .png; an existing file is replaced)",
    )


def read_trajectory(path: Path, rank: int) -> Trajectory:
    """Read one trajectory from a ``trajectories.json`` written by ``rtplan trajectory``.

    Returns
    -------
    rtplan.guidance.Trajectory

    Raises
    ------
    RtplanError
        If the file cannot be read or holds no trajectory of that rank.
    """
    import numpy as np

    from rtplan.guidance import Trajectory

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = {int(r["rank"]): r for r in doc["trajectories"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RtplanError(
            f"{path}: not a trajectories.json written by `rtplan trajectory` ({exc})"
        ) from exc
    if rank not in rows:
        raise RtplanError(f"{path}: no trajectory of rank {rank}; ranks: {sorted(rows)}")
    r = rows[rank]

    def prefixed(prefix: str) -> dict[str, float]:
        out = {}
        for k, v in r.items():
            if k.startswith(prefix):
                out[k[len(prefix) :]] = float("inf") if v == "inf" else float(v)
        return out

    inc = r.get("cortex_incidence_deg")
    return Trajectory(
        entry_mm=np.array([r["entry_x_mm"], r["entry_y_mm"], r["entry_z_mm"]], dtype=float),
        target_mm=np.array([r["target_x_mm"], r["target_y_mm"], r["target_z_mm"]], dtype=float),
        clearance_mm=prefixed("clearance_mm:"),
        required_clearance_mm=prefixed("required_clearance_mm:"),
        in_plane_deg=float(r["in_plane_deg"]),
        out_of_plane_deg=float(r["out_of_plane_deg"]),
        tissue_fraction=prefixed("tissue_fraction:"),
        cortex_incidence_deg=None if inc is None else float(inc),
        score=float(r["score"]),
        score_terms=prefixed("term:"),
        rank=rank,
        target_name=str(r.get("target_name", "")),
    )


def target_first(structures: list[Any]) -> list[Any]:
    """The structures with the first PTV (else CTV, else GTV) moved to the front.

    :func:`rtplan.guidance.overlay_view` centres its default plane on the first structure's
    centroid; without this it would be the body outline's, which may miss the target.
    """
    for kind in ("PTV", "CTV", "GTV"):
        for s in structures:
            if s.interpreted_type.upper() == kind and s.has_volume:
                return [s, *(o for o in structures if o is not s)]
    return list(structures)


def run(args: argparse.Namespace) -> int:
    """Render the view, write the PNG (and the Secondary Capture); status 0."""
    from rtplan.cli import _common as check
    from rtplan.guidance import overlay_view, render_overlay, save_png

    _check_options(args)
    study = check.load_study(args)
    _check_plane(args, study)
    structures = _structures(args, study)
    traj = None
    if args.trajectory:
        traj = read_trajectory(check.input_file(args.trajectory, "--trajectory", "JSON"), args.rank)
    dose = None
    rx = args.prescription_gy
    if args.dose is not None:
        dose = check.read_dose(args.dose, "--dose", study)
        rx = check.isodose_prescription(study, dose, args.dose, rx)
    view = overlay_view(
        study.ct,
        plane=args.plane,
        at_mm=args.at_mm,
        trajectory=traj,
        structures=target_first(structures),
        pixel_mm=args.pixel_mm,
        fov_mm=args.fov_mm,
        display=args.display,
    )
    levels, colors = isodose_levels(args)
    extra: dict[str, Any] = {"isodose_percent": levels, "isodose_colors": colors}
    rgb = render_overlay(
        study.ct,
        view=view,
        window=args.window,
        dose=dose,
        prescription_gy=rx,
        dose_display=args.dose_display,
        structures=structures,
        trajectory=traj,
        tick_mm=args.tick_mm,
        show_patient=args.show_patient,
        layers=args.layer,
        **extra,
    )
    with check.writing(args.output) as (tmp,):
        save_png(rgb, tmp)
    lines = [f"wrote {args.output} ({rgb.shape[1]}x{rgb.shape[0]})"]
    doc: dict[str, Any] = {
        "png": str(args.output),
        "width_px": int(rgb.shape[1]),
        "height_px": int(rgb.shape[0]),
        "dicom": None,
    }
    if args.dicom is not None:
        _write_capture(args, rgb, view, study)
        lines.append(f"wrote {args.dicom}")
        doc["dicom"] = str(args.dicom)
    emit(args, lines, doc)
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Numbers and outputs, before the study is read."""
    from rtplan.cli import _common as check

    check.check_positive(args.prescription_gy, "--prescription-gy", "Gy")
    check.check_positive(args.fov_mm, "--fov-mm", "mm")
    check.check_positive(args.tick_mm, "--tick-mm", "mm")
    for level in args.isodose_percent or []:
        check.check_positive(level, "--isodose-percent", "percent")
    if args.at_mm is not None and not math.isfinite(args.at_mm):
        raise RtplanError(f"--at-mm must be a finite number of mm, got {args.at_mm}")
    inputs = {"--dose": args.dose, "--trajectory": args.trajectory}
    check.output_file(args.output, "-o", suffixes=(".png",), inputs=inputs, folders=[args.study])
    if args.dicom is not None:
        check.output_file(args.dicom, "--dicom", inputs=inputs, folders=[args.study])
        if args.dicom.resolve() == args.output.resolve():
            raise RtplanError("-o and --dicom name the same file; give each its own")


def _check_plane(args: argparse.Namespace, study: Study) -> None:
    """An axial, coronal or sagittal plane at ``--at-mm`` must cut the CT."""
    axis = {Plane.SAGITTAL: 0, Plane.CORONAL: 1, Plane.AXIAL: 2}.get(args.plane)
    if args.at_mm is None or axis is None:
        return
    lo, hi = study.ct.grid.bounds_mm()
    if not lo[axis] <= args.at_mm <= hi[axis]:
        raise RtplanError(
            f"--at-mm {args.at_mm:g}: the {args.plane} plane misses the CT of {args.study} "
            f"({'xyz'[axis]} from {lo[axis]:.1f} to {hi[axis]:.1f} mm, LPS); give a "
            "position in that range"
        )


def _structures(args: argparse.Namespace, study: Study) -> list[Structure]:
    """The ``--structures`` (each with contours), else every structure with a volume."""
    from rtplan.cli._common import structure

    if args.structures is None:
        return [s for s in study.structures if s.has_volume]
    found = []
    for name in args.structures:
        s = structure(study, name, "--structures", need_volume=False)
        if s.is_empty:
            raise RtplanError(
                f"--structures: structure {s.name!r} in {study.structures.source} is empty "
                "(no contours): nothing to draw"
            )
        found.append(s)
    return found


def _write_capture(
    args: argparse.Namespace, rgb: npt.NDArray[np.uint8], view: View, study: Study
) -> None:
    """The overlay as a DICOM Secondary Capture in the CT's study (``--dicom``)."""
    from rtplan.cli._common import writing
    from rtplan.guidance import orientation_labels
    from rtplan.io.capture import write_secondary_capture

    labels = orientation_labels(view)
    with writing(args.dicom) as (tmp,):
        write_secondary_capture(
            rgb,
            tmp,
            reference=study.ct,
            patient_orientation=(labels["right"], labels["bottom"]),
            source_slices=view.source_slices(study.ct.grid),
            derivation_description=f"rtplan overlay: CT {view.plane} plane",
            pixel_spacing_mm=view.pixel_mm,
            burned_in_annotation=args.show_patient,
        )
