"""DICOM plumbing shared by the writers of :mod:`rtplan.testing`: UIDs, DS, file meta."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

FloatArray = npt.NDArray[np.float64]

#: Patient and study of every dataset written here, unless ``attributes`` say otherwise.
PATIENT_NAME = "Test^Phantom"
PATIENT_ID = "TEST001"
STUDY_DATE = "20260101"
STUDY_TIME = "120000"
MANUFACTURER = "rtplan.testing"
_IMPLEMENTATION_VERSION = "RTPLAN_TESTING"


# --------------------------------------------------------------------------- identifiers
def uid(*parts: object) -> UID:
    """A UID that depends only on ``parts``: ``2.25.<int>`` from a name-based UUID.

    The UUID is version 5 (SHA-1, ISO/IEC 9834-8) of the parts' ``str`` joined by ``/``,
    so the same parts give the same UID on every machine and run. (pydicom's
    ``generate_uid(prefix=None, entropy_srcs=...)`` cannot do this: without a prefix it
    ignores the entropy sources and returns a random UUID.)

    Parameters
    ----------
    *parts : object
        Anything with a stable ``str``: names, numbers, paths.

    Returns
    -------
    pydicom.uid.UID
        A valid UID of at most 44 characters.

    Examples
    --------
    >>> from rtplan.testing import uid
    >>> uid("frame", "study 1") == uid("frame", "study 1")
    True
    >>> uid("frame", "study 1").startswith("2.25.")
    True
    >>> uid("frame", "study 1") == uid("frame", "study 2")
    False
    """
    name = "/".join(str(p) for p in parts)
    return UID(f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, name).int}")


def format_ds(value: float, decimals: int = 6) -> str:
    """A Decimal String (DS) with at most ``decimals`` decimals and no trailing zeros.

    Parameters
    ----------
    value : float
        The number.
    decimals : int
        Most decimals kept (rounded half to even, as Python's format does).

    Returns
    -------
    str
        ``"0"`` for zero (also ``-0``); pydicom's 16-character form if the text would be
        longer than DS allows.

    Examples
    --------
    >>> from rtplan.testing import format_ds
    >>> format_ds(-181.595), format_ds(3.0), format_ds(-0.0000001), format_ds(2 / 3)
    ('-181.595', '3', '0', '0.666667')
    """
    text = f"{float(value):.{decimals}f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        return "0"
    if len(text) > 16:  # DS holds at most 16 characters
        return str(pydicom.valuerep.format_number_as_ds(float(value)))
    return text


def _apply(ds: Dataset, attributes: Mapping[str, object] | None) -> None:
    """Set (or, for ``None``, delete) attributes by keyword; group 0002 goes to the meta."""
    for keyword, value in (attributes or {}).items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"{keyword!r} is not a DICOM keyword (see pydicom's dictionary)")
        target = ds.file_meta if tag >> 16 == 0x0002 else ds
        if value is None:
            if keyword in target:
                delattr(target, keyword)
        else:
            setattr(target, keyword, value)


def _pop_uids(attributes: dict[str, object], defaults: Mapping[str, str]) -> dict[str, str]:
    """Take the UIDs out of ``attributes``; one that is absent or ``None`` gets its default."""
    return {key: str(attributes.pop(key, None) or value) for key, value in defaults.items()}


def _new_dataset(sop_class: str, sop_uid: str, modality: str) -> Dataset:
    """SOP common, patient, study and equipment defaults, with their file meta."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = uid("rtplan.testing", "implementation")
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = STUDY_TIME
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Manufacturer = MANUFACTURER
    return ds


def _save(ds: Dataset, path: Path) -> Path:
    """Keep the meta's SOP instance in step with the dataset's, then write the file."""
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.save_as(path, enforce_file_format=True)
    return path
