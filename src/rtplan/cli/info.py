"""Describe a study folder or a DICOM file.

Print the summary of a study (a folder: CT grid, structures with volume and extent,
plans, doses, tissue composition, target-organ distances, warnings); STUDY may also be a
single DICOM file, which is described alone. --json prints the summary as JSON; -q prints
nothing (the exit status says whether it could be read; warnings go to stderr).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.cli._output import add_output_arguments

if TYPE_CHECKING:
    from rtplan.io.study import Study

__all__ = ["add_arguments", "anatomy_summary", "format_file", "format_study", "run"]

#: It takes a STUDY folder and the study options (rtplan.cli._parsing.study_options).
READS_STUDY = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan info``."""
    add_output_arguments(parser)
    parser.add_argument(
        "--show-identifiers",
        action="store_true",
        help="print the patient's name and ID (hidden by default)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the summary of ``args.study`` (a folder or one DICOM file); status 0."""
    from rtplan.cli._common import load_study
    from rtplan.io.study import summarize_file

    path: Path = args.study
    if path.is_dir():
        study = load_study(args)
        summary = study.summary()
        summary.update(anatomy_summary(study))
    else:
        summary = summarize_file(path)
    if not args.show_identifiers:  # no patient identifiers in the output unless asked
        summary["patient"] = {"name": None, "id": None, "hidden": True}
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:  # -q: only the exit status (and warnings on stderr)
        print(format_study(summary) if path.is_dir() else format_file(summary))
    return 0


def _patient_line(patient: dict[str, Any]) -> str:
    if patient.get("hidden"):
        return "Patient: (name and ID hidden; --show-identifiers shows them)"
    return f"Patient: {patient['name'] or '-'} (ID {patient['id'] or '-'})"


# ---------------------------------------------------------------------------- formatting
def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _triple(d: dict[str, Any], digits: int = 2, sep: str = " x ") -> str:
    return sep.join(_num(d[k], digits) for k in ("column", "row", "slice"))


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Columns of numbers (headers ending in a unit, ``#``, ``contours``) to the right."""
    from rtplan.report import text_table

    right = {i for i, h in enumerate(headers) if h.endswith(("cm³", "mm", "#", "contours"))}
    return text_table(headers, rows, right=right).splitlines()


def _image_lines(title: str, img: dict[str, Any]) -> list[str]:
    lo, hi = img["bounds_mm"]["lower"], img["bounds_mm"]["upper"]
    vr = img["value_range"]
    lines = [
        f"{title}: {img['description']!s}  (series {img['series_instance_uid'] or '-'})",
        f"  size        {_triple(img['size'], 0)} voxels (columns x rows x slices)",
        f"  spacing     {_triple(img['spacing_mm'], 3)} mm",
        f"  extent      {_triple(img['extent_mm'], 1)} mm",
        "  bounds      "
        + ", ".join(f"{a} {lo[n]:.1f}..{hi[n]:.1f}" for n, a in enumerate("xyz"))
        + " mm (LPS)",
        f"  values      {_num(vr[0])} .. {_num(vr[1])} {img['units']}",
    ]
    if not img["axis_aligned"]:
        lines.append(f"  direction   {img['direction']} (columns: i, j, k axes in LPS)")
    return lines


def _structure_lines(structures: list[dict[str, Any]]) -> list[str]:
    if not structures:
        return ["Structures: none"]
    rows = []
    for s in structures:
        extent = s["extent_mm"]
        rows.append(
            [
                str(s["number"]),
                s["name"],
                s["type"] or "-",
                _num(s["volume_cc"], 2),
                "-" if extent is None else " x ".join(f"{v:.1f}" for v in extent),
                str(s["contours"]),
                ", ".join(s["geometric_types"]) or "-",
            ]
        )
    header = ["#", "name", "type", "volume cm³", "extent x*y*z mm", "contours", "kind"]
    return [f"Structures ({len(structures)}):", *("  " + ln for ln in _table(header, rows))]


def _plan_line(plan: dict[str, Any]) -> str:
    mu = f", {_num(plan['total_mu'], 1)} MU" if "total_mu" in plan else ""
    return (
        f"Plan: {plan['name']}: {plan['beams']} beam(s), prescription "
        f"{_num(plan['prescription_gy'], 2)} Gy in {plan['fractions']} fraction(s){mu}"
    )


def _dose_lines(dose: dict[str, Any]) -> list[str]:
    return [
        *_image_lines("Dose", dose),
        f"  max         {_num(dose['max_gy'], 3)} Gy ({dose['dose_type']}, {dose['summation']})",
    ]


def _warning_lines(warnings: list[str]) -> list[str]:
    if not warnings:
        return ["Warnings: none"]
    return [f"Warnings ({len(warnings)}):", *(f"  - {w}" for w in warnings)]


def anatomy_summary(study: Study) -> dict[str, Any]:
    """Tissue composition inside the body and target-to-organ distances of a study.

    Parameters
    ----------
    study : Study

    Returns
    -------
    dict
        ``tissue_cc``: cm³ of each tissue class inside the body (the EXTERNAL structure
        when there is one, else the automatic body outline); ``target_organ_distances_mm``:
        ``{target: {organ: minimum distance in mm}}`` (0 where they overlap).
    """
    from rtplan import geometry, tissue

    externals = [s for s in study.structures.by_type("EXTERNAL") if s.has_volume]
    body = externals[0] if externals else None
    composition = tissue.composition(study.ct, body=body)
    distances = geometry.target_organ_distances(study.structures)
    return {
        "tissue_cc": {k: round(float(v), 3) for k, v in composition.items()},
        "tissue_region": body.name if body is not None else "automatic body outline",
        "target_organ_distances_mm": {
            t: {o: round(float(d), 2) for o, d in row.items()} for t, row in distances.items()
        },
    }


def _anatomy_lines(summary: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    tissue_cc = summary.get("tissue_cc")
    if tissue_cc:
        lines.append(f"Tissue composition inside {summary.get('tissue_region', 'the body')}:")
        total = sum(tissue_cc.values()) or 1.0
        rows = [
            [name.replace("_", " "), _num(cc, 1), _num(100.0 * cc / total, 1)]
            for name, cc in tissue_cc.items()
        ]
        lines += _table(["class", "cm³", "%"], rows)
    distances = summary.get("target_organ_distances_mm")
    if distances:
        organs = sorted({o for row in distances.values() for o in row})
        lines.append("Minimum distance from each target to each organ at risk (mm, 0 = overlap):")
        rows = [[t, *(_num(row.get(o), 1) for o in organs)] for t, row in distances.items()]
        lines += _table(["target", *organs], rows)
    return lines


def format_study(summary: dict[str, Any]) -> str:
    """Readable text of a study's summary (:meth:`rtplan.io.Study.summary`, anatomy added).

    Patient, CT, structures, plans, doses, tissue composition, distances and warnings.
    """
    patient = summary["patient"]
    lines = [
        f"Study: {summary['path']}",
        _patient_line(patient),
        f"Patient position: {summary['patient_position'] or 'unknown'}",
        *_image_lines("CT", summary["ct"]),
    ]
    ss = summary["structure_set"]
    if ss["sop_instance_uid"] or ss["label"]:
        lines.append(f"Structure set: {ss['label'] or '-'} ({ss['sop_instance_uid'] or '-'})")
    lines += _structure_lines(summary["structures"])
    for p in summary["plans"]:
        lines.append(_plan_line(p))
    for d in summary["doses"]:
        lines += _dose_lines(d)
    lines += _anatomy_lines(summary)
    lines += _warning_lines(summary["warnings"])
    return "\n".join(lines)


def format_file(summary: dict[str, Any]) -> str:
    """Readable text of one file's summary (:func:`rtplan.io.study.summarize_file`)."""
    patient = summary["patient"]
    lines = [
        f"File: {summary['path']}",
        f"Modality: {summary['modality'] or '-'} ({summary['sop_class'] or 'unknown SOP class'})",
        _patient_line(patient),
        f"SOP Instance UID: {summary['sop_instance_uid']}",
        f"Series Instance UID: {summary['series_instance_uid']}",
        f"Frame of Reference UID: {summary['frame_of_reference_uid'] or '-'}",
    ]
    if "ct" in summary:
        lines.append(f"Patient position: {summary['patient_position'] or 'unknown'}")
        lines += _image_lines("CT slice", summary["ct"])
    if "structures" in summary:
        lines += _structure_lines(summary["structures"])
    if "plan" in summary:
        lines.append(_plan_line(summary["plan"]))
    if "dose" in summary:
        lines += _dose_lines(summary["dose"])
    lines += _warning_lines(summary["warnings"])
    return "\n".join(lines)
