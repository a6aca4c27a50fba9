"""``rtplan overlay STUDY --plane axial --at-mm Z -o file.png``: render any CT view.

Draws a CT plane with structures, an RT Dose (isodose lines or colourwash) and a planned
needle (from the ``trajectories.json`` that ``rtplan trajectory`` writes), with
orientation letters and a scale bar (:func:`rtplan.render_overlay`). Optionally also
writes the image as a DICOM Secondary Capture in the CT's study.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from rtplan.errors import RtplanError

__all__ = ["add_parser", "isodose_prescription", "read_trajectory", "run", "target_first"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``overlay`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From :meth:`argparse.ArgumentParser.add_subparsers`.

    Returns
    -------
    argparse.ArgumentParser
    """
    from rtplan.guidance import PLANES, WINDOWS

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "overlay",
        help="render a CT plane with structures, dose and a needle as PNG",
        description=(
            "Render an axial, coronal, sagittal or needle-aligned CT plane with structure "
            "contours, isodose lines or a dose colourwash, and a planned needle path."
        ),
    )
    parser.add_argument("study", type=Path, metavar="STUDY", help="study folder (CT + RTSTRUCT)")
    parser.add_argument("--plane", choices=PLANES, default="axial", help="view plane (axial)")
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
    parser.add_argument("--dose", type=Path, default=None, help="RT Dose file")
    parser.add_argument(
        "--prescription-gy",
        type=float,
        default=None,
        help="100 %% isodose (default: the prescription of the RT Plan the RT Dose "
        "references, in the study or next to the RT Dose file; else the dose maximum)",
    )
    parser.add_argument(
        "--isodose-percent",
        type=float,
        nargs="*",
        default=None,
        help="isodose levels in percent of prescription (107 100 95 80 50 30)",
    )
    parser.add_argument(
        "--dose-display", choices=("lines", "wash", "both"), default="lines", help="dose style"
    )
    parser.add_argument(
        "--window", default="soft_tissue", help=f"one of {', '.join(WINDOWS)} or W/L, e.g. 350/50"
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
    parser.set_defaults(run=run)
    return parser


def read_trajectory(path: Path, rank: int) -> Any:
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


def isodose_prescription(
    study: Any, dose: Any, dose_path: Path | None, prescription_gy: float | None
) -> float | None:
    """The 100 % isodose level: ``prescription_gy``, else the referenced RT Plan's.

    Prints where the level comes from, or that the isodoses will be percentages of the
    dose maximum because no prescription was found.

    Parameters
    ----------
    study : rtplan.io.Study
    dose : rtplan.Dose
    dose_path : Path, optional
        The RT Dose file (an RT Plan next to it is looked at).
    prescription_gy : float, optional
        Given on the command line (checked positive by the caller); returned as it is.

    Returns
    -------
    float or None
        None when no prescription was found (the overlay then uses the dose maximum).
    """
    from rtplan.cli.dvh import referenced_prescription

    if prescription_gy is not None:
        return float(prescription_gy)
    rx, _, source = referenced_prescription(study, dose, dose_path)
    if rx is not None:
        print(f"isodoses in % of the prescription {rx:g} Gy (from {source})")
    else:
        dmax = float(dose.array.max()) if dose.array.size else 0.0
        print(
            f"no prescription found (no RT Plan referenced by the RT Dose): isodoses in % of "
            f"the dose maximum {dmax:.3g} Gy; give --prescription-gy for % of the prescription"
        )
    return rx


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


def _window(text: str) -> str | tuple[float, float]:
    if "/" in text:
        w, _, lvl = text.partition("/")
        try:
            return float(w), float(lvl)
        except ValueError:
            raise RtplanError(f"--window {text!r}: give a preset name or WIDTH/LEVEL") from None
    return text


def run(args: argparse.Namespace) -> int:
    """Render and save the overlay; returns 0.

    Raises
    ------
    RtplanError
        On bad input (exit status 2 via the main entry point).
    """
    from rtplan.cli import _common as check
    from rtplan.cli.trajectory import load
    from rtplan.guidance import (
        WINDOWS,
        orientation_labels,
        overlay_view,
        render_overlay,
        save_png,
    )
    from rtplan.guidance._export import source_slices

    window = _window(args.window)
    if isinstance(window, str) and window.strip().lower().replace(" ", "_") not in WINDOWS:
        raise RtplanError(
            f"--window {args.window!r}: choose one of {', '.join(WINDOWS)} or give WIDTH/LEVEL "
            "in HU, e.g. 350/50"
        )
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
    study = load(args.study)
    ct = study.ct
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}.get(args.plane)
    if args.at_mm is not None and axis is not None:
        lo, hi = check.grid_box(ct.grid)
        if not lo[axis] <= args.at_mm <= hi[axis]:
            raise RtplanError(
                f"--at-mm {args.at_mm:g}: the {args.plane} plane misses the CT of {args.study} "
                f"({'xyz'[axis]} from {lo[axis]:.1f} to {hi[axis]:.1f} mm, LPS); give a "
                "position in that range"
            )
    if args.structures is None:
        structures = [s for s in study.structures if s.has_volume]
    else:
        structures = []
        for name in args.structures:
            s = check.structure(study, name, "--structures", need_volume=False)
            if s.is_empty:
                raise RtplanError(
                    f"--structures: structure {s.name!r} in {study.structures.source} is empty "
                    "(no contours): nothing to draw"
                )
            structures.append(s)
    traj = None
    if args.trajectory:
        traj = read_trajectory(check.input_file(args.trajectory, "--trajectory", "JSON"), args.rank)
    dose = None
    rx = args.prescription_gy
    if args.dose is not None:
        dose = check.read_dose(args.dose, "--dose", study)
        rx = isodose_prescription(study, dose, args.dose, rx)
    view = overlay_view(
        ct,
        plane=args.plane,
        at_mm=args.at_mm,
        trajectory=traj,
        structures=target_first(structures),
        pixel_mm=args.pixel_mm,
        fov_mm=args.fov_mm,
        display=args.display,
    )
    extra: dict[str, Any] = {}
    if args.isodose_percent:
        extra["isodose_percent"] = args.isodose_percent
    rgb = render_overlay(
        ct,
        view=view,
        window=window,
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
    path = args.output
    print(f"wrote {path} ({rgb.shape[1]}x{rgb.shape[0]})")
    if args.dicom is not None:
        from rtplan.io.capture import write_secondary_capture

        lab = orientation_labels(view)
        with check.writing(args.dicom) as (tmp,):
            write_secondary_capture(
                rgb,
                tmp,
                reference=ct,
                patient_orientation=(lab["right"], lab["bottom"]),
                source_slices=source_slices(view, ct),
                derivation_description=f"rtplan overlay: CT {view.plane} plane",
                pixel_spacing_mm=view.pixel_mm,
                burned_in_annotation=args.show_patient,
            )
        print(f"wrote {args.dicom}")
    return 0
