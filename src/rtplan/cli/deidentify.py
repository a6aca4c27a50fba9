"""Copy DICOM files de-identified (DICOM PS3.15 Basic Application Confidentiality Profile).

Copy a DICOM file or folder (CT, RT Structure Set, RT Plan, RT Dose, captures,
presentation states) into a new or empty folder with the patient's identity removed:
names, IDs, dates, institution and private elements removed or replaced, UIDs replaced
consistently so that the copies still reference one another (rtplan.load_study reads them
as one study). The copies are named by modality and new UID, written all together or not
at all. Images with burned-in annotation are not copied (a warning names them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rtplan.cli._output import add_output_arguments, emit

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan deidentify``."""
    parser.add_argument("input", type=Path, metavar="IN", help="DICOM file or folder")
    parser.add_argument(
        "output", type=Path, metavar="OUT", help="new or empty folder for the copies"
    )
    parser.add_argument(
        "--salt-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file whose first line is the secret key of the UID and ID replacements (the "
        "same key gives the same replacements, e.g. for later files of the same patients); "
        "a random key by default",
    )
    parser.add_argument(
        "--retain-patient-characteristics",
        action="store_true",
        help="keep sex, age, size and weight (Retain Patient Characteristics Option)",
    )
    add_output_arguments(parser)


def _salt(path: Path | None) -> str | None:
    from rtplan.errors import RtplanError

    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RtplanError(f"--salt-file {path}: cannot be read ({exc})") from None
    salt = lines[0].strip() if lines else ""
    if not salt:
        raise RtplanError(f"--salt-file {path}: the first line is empty; write the key there")
    return salt


def run(args: argparse.Namespace) -> int:
    """De-identify IN into OUT and say how many files were copied; status 0."""
    from rtplan.io import deidentify

    done = deidentify(
        args.input,
        args.output,
        salt=_salt(args.salt_file),
        retain_patient_characteristics=args.retain_patient_characteristics,
    )
    not_dicom = sum(1 for _, why in done.skipped if why == "not a DICOM file")
    left_out = len(done.skipped) - not_dicom
    lines = [f"de-identified {len(done.files)} files into {done.folder}"]
    if not_dicom:
        lines.append(f"left out {not_dicom} files that are not DICOM")
    if left_out:
        lines.append(f"not copied: {left_out} DICOM files (see the warnings above)")
    doc = {
        "folder": str(done.folder),
        "files": len(done.files),
        "not_dicom": not_dicom,
        "not_copied": [
            {"file": str(path), "why": why}
            for path, why in done.skipped
            if why != "not a DICOM file"
        ],
    }
    emit(args, lines, doc)
    return 0
