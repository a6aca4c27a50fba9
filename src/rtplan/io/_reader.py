"""What every DICOM reader repeats: reading a file with clear errors, truncation, identity.

Errors name the file and what it should hold; a file cut short inside its last element
(pydicom reads what is there and says nothing) is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rtplan.errors import DicomReadError

__all__ = [
    "PATIENT_STUDY_KEYWORDS",
    "check_not_truncated",
    "dataset_patient_study",
    "read_dataset",
]

#: Patient and study attributes kept from a read object (``SeriesInfo.patient``) and
#: copied into the objects written from it.
PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)


def dataset_patient_study(ds: Any) -> dict[str, Any]:
    """Patient and study attributes of a read dataset, for :class:`SeriesInfo.patient`.

    Parameters
    ----------
    ds : pydicom.Dataset

    Returns
    -------
    dict of str to str
        Every :data:`PATIENT_STUDY_KEYWORDS` entry, ``""`` where absent or empty.
    """
    return {key: str(ds.get(key, "") or "") for key in PATIENT_STUDY_KEYWORDS}


def read_dataset(path: Path, what: str) -> Any:
    """``pydicom.dcmread`` with errors turned into :class:`DicomReadError` naming the file.

    Parameters
    ----------
    path : Path
    what : str
        What the file should hold (``"RT Dose"``), for messages.

    Returns
    -------
    pydicom.Dataset

    Raises
    ------
    DicomReadError
        If the file cannot be read as DICOM, or is truncated.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise DicomReadError(f"{path}: cannot be read as DICOM {what} ({exc})") from exc
    check_not_truncated(ds, path, what)
    return ds


def check_not_truncated(ds: Any, path: Path, what: str) -> None:
    """Raise if the file ends inside its last element (pydicom reads what is there).

    Raises
    ------
    DicomReadError
        Naming the element, the bytes it announces and the bytes the file holds.
    """
    from pydicom.dataelem import RawDataElement

    if not len(ds):
        return
    tag = list(ds.keys())[-1]
    raw = ds.get_item(tag)
    if (
        isinstance(raw, RawDataElement)
        and raw.length != 0xFFFFFFFF
        and isinstance(raw.value, bytes)
        and len(raw.value) < raw.length
    ):
        raise DicomReadError(
            f"{path}: the file is truncated: its last element {tag} announces {raw.length} "
            f"bytes but holds {len(raw.value)}; copy or export the {what} again"
        )
