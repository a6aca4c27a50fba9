"""The DICOM writer shell: what every object rtplan writes repeats, written once.

Every writer (RT Dose, RT Plan, RT Structure Set, Secondary Capture, presentation state)
builds its object on :func:`new_dataset` and writes it with :func:`save_dataset`:

* file meta (explicit VR little endian) and the SOP Common module, UTF-8 text;
* the Patient and General Study modules copied from the reference (the CT the object
  belongs to, its :class:`~rtplan.image.SeriesInfo`, or a pydicom dataset);
* a new series (General Series) and SOP Instance UID, and the reference's Frame of
  Reference;
* the stamp (:func:`stamp_dataset`): Manufacturer ``rtplan``, the software version and
  the instance creation date and time;
* an atomic save: the file is written to a temporary file in the target folder and
  renamed over the target only when complete, so a failed write leaves no partial file
  and the previous file, if any, untouched.

Integrators who write their own DICOM objects next to rtplan's use the same two calls
(exported as :func:`rtplan.io.new_dataset` and :func:`rtplan.io.save_dataset`).
"""

from __future__ import annotations

import datetime
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, TypedDict, Unpack

from rtplan._atomic import atomic_path
from rtplan._version import __version__
from rtplan.errors import DicomWriteError
from rtplan.image import Image, SeriesInfo
from rtplan.io._reader import PATIENT_STUDY_KEYWORDS, dataset_patient_study

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from rtplan.io.deidentify import Deidentifier

__all__ = [
    "MANUFACTURER",
    "Reference",
    "SeriesOptions",
    "ct_slice_datasets",
    "ds_str",
    "new_dataset",
    "new_uid",
    "reference_series",
    "save_dataset",
    "series_laterality",
    "set_laterality",
    "stamp_dataset",
]

logger = logging.getLogger(__name__)

#: Manufacturer and Manufacturer's Model Name of every object rtplan writes.
MANUFACTURER = "rtplan"

#: What a new object can take its patient, study and frame of reference from.
Reference: TypeAlias = "Image | SeriesInfo | Dataset"

_WHAT = {
    "RTDOSE": "an RT Dose",
    "RTPLAN": "an RT Plan",
    "RTSTRUCT": "an RT Structure Set",
    "OT": "a Secondary Capture",
    "PR": "a presentation state",
}
_PATIENT_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
_STUDY_TYPE2 = ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")


class SeriesOptions(TypedDict, total=False):
    """Where a new object goes in its study (keywords of the writers that take them).

    Attributes
    ----------
    series_description : str
        Series Description, at most 64 characters.
    series_instance_uid : str
        Join an existing series; new by default.
    series_number : int
        Series Number.
    instance_number : int
        Instance Number.
    """

    series_description: str
    series_instance_uid: str | None
    series_number: int
    instance_number: int


# ---------------------------------------------------------------------------- values
def ds_str(value: float) -> str:
    """Format a number as a DICOM Decimal String of at most 16 characters.

    The shortest round-tripping representation is used when it fits, so that positions
    written to DICOM read back as the same float wherever possible.

    Parameters
    ----------
    value : float
        A finite number.

    Returns
    -------
    str

    Raises
    ------
    DicomWriteError
        If the number is not finite.

    Examples
    --------
    >>> from rtplan.io._writer import ds_str
    >>> ds_str(1.5), ds_str(2.0), ds_str(1 / 3)
    ('1.5', '2', '0.33333333333333')
    """
    from pydicom.valuerep import format_number_as_ds

    v = float(value)
    if not math.isfinite(v):
        raise DicomWriteError(f"cannot write the non-finite number {v} as a DICOM DS value")
    if v == 0.0:
        return "0"
    short = repr(v)
    if short.endswith(".0"):
        short = short[:-2]
    if len(short) <= 16:
        return short
    return str(format_number_as_ds(v))


def new_uid() -> str:
    """A new DICOM UID (pydicom's root)."""
    from pydicom.uid import generate_uid

    return str(generate_uid())


def _what(modality: str) -> str:
    return _WHAT.get(modality.upper(), f"a {modality} object")


# ---------------------------------------------------------------------------- reference
def _from_dataset(ds: Dataset) -> SeriesInfo:
    return SeriesInfo(
        study_instance_uid=str(ds.get("StudyInstanceUID", "") or ""),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "") or ""),
        sop_class_uid=str(ds.get("SOPClassUID", "") or ""),
        sop_instance_uids=(str(ds.get("SOPInstanceUID", "") or ""),),
        modality=str(ds.get("Modality", "") or ""),
        patient=dataset_patient_study(ds),
    )


def reference_series(
    what: str,
    reference: Reference | None,
    fallback: SeriesInfo | None = None,
    *,
    frame_of_reference: bool = True,
) -> SeriesInfo:
    """The series whose patient, study and frame of reference a new object joins.

    Parameters
    ----------
    what : str
        The object written (``"an RT Dose"``, or the file), for messages.
    reference : Image, SeriesInfo or pydicom.Dataset, optional
        The CT (as read by :func:`rtplan.io.read_ct`), its ``series``, or a dataset.
    fallback : SeriesInfo, optional
        Used when ``reference`` is None (e.g. the provenance of a dose read from DICOM).
    frame_of_reference : bool
        Whether the object needs a Frame of Reference UID (all but captures).

    Returns
    -------
    SeriesInfo

    Raises
    ------
    DicomWriteError
        If neither gives a study (and a frame of reference, when needed).
    """
    if isinstance(reference, Image):
        series = reference.series
    elif isinstance(reference, SeriesInfo) or reference is None:
        series = reference if reference is not None else fallback
    else:
        series = _from_dataset(reference)
    if (
        series is None
        or not series.study_instance_uid
        or (frame_of_reference and not series.frame_of_reference_uid)
    ):
        frame = " and no frame of reference" if frame_of_reference else ""
        raise DicomWriteError(
            f"cannot write {what}: the reference carries no DICOM study{frame} to attach it "
            "to; pass reference=ct where ct was read with rtplan.io.read_ct or "
            "rtplan.load_study (its series gives the patient, study and frame of reference)"
        )
    return series


# ---------------------------------------------------------------------------- building
def stamp_dataset(ds: Dataset, *, now: datetime.datetime | None = None) -> None:
    """Mark a dataset as made by rtplan now (General Equipment, instance creation).

    Sets Manufacturer and Manufacturer's Model Name (``rtplan``), Software Versions
    (:data:`rtplan.__version__`), Instance Creation Date and Time.

    Parameters
    ----------
    ds : pydicom.Dataset
        Changed in place.
    now : datetime.datetime, optional
        The creation time; the current time by default.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> import rtplan
    >>> ds = Dataset()
    >>> rtplan.io.stamp_dataset(ds)
    >>> ds.Manufacturer, ds.SoftwareVersions == rtplan.__version__
    ('rtplan', True)
    """
    when = now or datetime.datetime.now()
    ds.InstanceCreationDate = when.strftime("%Y%m%d")
    ds.InstanceCreationTime = when.strftime("%H%M%S")
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER
    ds.SoftwareVersions = __version__


def _patient_study(ds: Dataset, series: SeriesInfo) -> None:
    """Patient and General Study modules: the Type 2 attributes always, others if known."""
    known = {key: str(series.patient.get(key) or "") for key in PATIENT_STUDY_KEYWORDS}
    for key in (*_PATIENT_TYPE2, *_STUDY_TYPE2):
        setattr(ds, key, known[key])
    if known["StudyDescription"]:
        ds.StudyDescription = known["StudyDescription"][:64]
    ds.StudyInstanceUID = series.study_instance_uid


def _series_module(ds: Dataset, what: str, options: SeriesOptions) -> None:
    description = options.get("series_description", "")
    if len(description) > 64:
        raise DicomWriteError(
            f"cannot write {what}: series_description exceeds 64 characters "
            f"({len(description)}); shorten it"
        )
    ds.SeriesInstanceUID = options.get("series_instance_uid") or new_uid()
    ds.SeriesNumber = int(options.get("series_number", 1))
    if description:
        ds.SeriesDescription = description
    ds.SeriesDate = ds.InstanceCreationDate
    ds.SeriesTime = ds.InstanceCreationTime
    ds.OperatorsName = ""
    if options.get("instance_number") is not None:
        ds.InstanceNumber = int(options["instance_number"])


def new_dataset(
    *,
    sop_class_uid: str,
    modality: str,
    reference: Reference,
    sop_instance_uid: str | None = None,
    frame_of_reference: bool = True,
    **series: Unpack[SeriesOptions],
) -> Dataset:
    """A new DICOM object in the patient, study and frame of reference of ``reference``.

    Holds the file meta (explicit VR little endian), SOP Common (UTF-8 text), Patient,
    General Study, General Series (a new series unless one is given), Frame of Reference
    and General Equipment modules, stamped by :func:`stamp_dataset`. The caller adds the
    modules of its object and writes it with :func:`save_dataset`.

    Parameters
    ----------
    sop_class_uid : str
        SOP Class of the object.
    modality : str
        Its Modality (``"RTDOSE"``, ``"OT"``, ...).
    reference : Image, SeriesInfo or pydicom.Dataset
        What the object belongs to: the CT as read by :func:`rtplan.io.read_ct` (or
        :func:`rtplan.load_study`), its ``series``, or a dataset of that study.
    sop_instance_uid : str, optional
        SOP Instance UID; new by default.
    frame_of_reference : bool
        Write the Frame of Reference module (False for objects without one, such as a
        Secondary Capture).
    **series
        :class:`SeriesOptions`: ``series_description`` (at most 64 characters),
        ``series_instance_uid`` (join an existing series), ``series_number`` (1),
        ``instance_number`` (none by default).

    Returns
    -------
    pydicom.Dataset
        With ``file_meta``.

    Raises
    ------
    DicomWriteError
        If the reference gives no study (or no frame of reference when one is needed),
        or the series description is too long.

    Examples
    --------
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> ds = rtplan.io.new_dataset(
    ...     sop_class_uid="1.2.840.10008.5.1.4.1.1.7", modality="OT", reference=ct,
    ...     frame_of_reference=False, series_description="my capture")
    >>> ds.StudyInstanceUID == ct.series.study_instance_uid, ds.Manufacturer
    (True, 'rtplan')
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    unknown = set(series) - set(SeriesOptions.__annotations__)
    if unknown:
        raise TypeError(f"new_dataset() got unexpected keyword arguments {sorted(unknown)}")
    what = _what(modality)
    info = reference_series(what, reference, frame_of_reference=frame_of_reference)
    sop_uid = sop_instance_uid or new_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    stamp_dataset(ds)
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_uid
    _patient_study(ds, info)
    ds.Modality = modality
    _series_module(ds, what, series)
    if frame_of_reference:
        ds.FrameOfReferenceUID = info.frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
    return ds


# ---------------------------------------------------------------------------- CT slices
def ct_slice_datasets(ct: Image, *, what: str, pixels: bool = False) -> list[Dataset]:
    """The CT's slice files as pydicom datasets, in array (``k``) order.

    For objects that reference or embed the CT's slices (a presentation state references
    each image it annotates; rt-utils holds the slices).

    Parameters
    ----------
    ct : Image
        The CT as read by :func:`rtplan.io.read_ct` or :func:`rtplan.load_study`, one
        file per slice.
    what : str
        The object being written, for messages (``"out/PR.dcm"``).
    pixels : bool
        Read the pixel data too (headers only by default).

    Returns
    -------
    list of pydicom.Dataset

    Raises
    ------
    DicomWriteError
        If the CT was not read from one DICOM file per slice, a file is unreadable, or a
        file no longer holds the slice that was read from it.

    Examples
    --------
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> slices = rtplan.io.ct_slice_datasets(ct, what="a capture")
    >>> len(slices), slices[0].SOPInstanceUID == ct.series.sop_instance_uids[0]
    (40, True)
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    series = ct.series
    if series is None or not series.files or len(series.files) != ct.grid.shape[0]:
        raise DicomWriteError(
            f"cannot write {what}: it references the CT files; pass the CT as read from "
            "DICOM (rtplan.io.read_ct or rtplan.load_study), one file per slice"
        )
    datasets: list[Dataset] = []
    for path, uid in zip(series.files, series.sop_instance_uids, strict=True):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=not pixels)
        except (InvalidDicomError, OSError, ValueError) as exc:
            raise DicomWriteError(
                f"cannot write {what}: CT file {path} is unreadable ({exc})"
            ) from exc
        if str(ds.get("SOPInstanceUID", "")) != uid:
            raise DicomWriteError(
                f"cannot write {what}: CT file {path} no longer holds slice {uid}; reload the CT"
            )
        datasets.append(ds)
    return datasets


# ---------------------------------------------------------------------------- laterality
def series_laterality(reference: Image) -> tuple[str | None, str]:
    """Laterality and Body Part Examined for objects derived from a CT series.

    Laterality (0020,0060) is Type 2C in the General Series module: a value for a paired
    body part, empty when unknown, absent for an unpaired part. Read from the header of
    the CT's first file: the CT's ``R`` or ``L`` is kept; a CT that names its body part
    but has no Laterality gives None (leave it out: an unpaired part such as the spine);
    anything else gives ``""`` (unknown).

    Parameters
    ----------
    reference : Image
        A CT read from DICOM.

    Returns
    -------
    laterality : str or None
        ``"R"``, ``"L"``, ``""`` or None (leave the attribute out).
    body_part : str
        Body Part Examined (e.g. ``"THIGH"``), or ``""``.

    Examples
    --------
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> rtplan.io.series_laterality(ct)
    ('R', 'THIGH')
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    series = reference.series
    if series is None or not series.files:
        return "", ""
    try:
        ds = pydicom.dcmread(
            series.files[0],
            stop_before_pixels=True,
            specific_tags=["Laterality", "BodyPartExamined"],
        )
    except (InvalidDicomError, OSError, ValueError):
        logger.info("could not read Laterality from %s", series.files[0])
        return "", ""
    lat = str(ds.get("Laterality", "") or "").strip().upper()
    part = str(ds.get("BodyPartExamined", "") or "").strip().upper()[:16]
    if lat in ("R", "L"):
        return lat, part
    if part and "Laterality" not in ds:
        return None, part
    return "", part


def set_laterality(ds: Dataset, reference: Image) -> None:
    """Copy the CT's Laterality and Body Part Examined into a derived object.

    As :func:`series_laterality` gives them: Laterality is set (``"R"``, ``"L"`` or
    empty) or removed (an unpaired part); Body Part Examined is set when known.

    Parameters
    ----------
    ds : pydicom.Dataset
        Changed in place.
    reference : Image
        The CT read from DICOM.

    Examples
    --------
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> ds = rtplan.io.new_dataset(sop_class_uid="1.2.840.10008.5.1.4.1.1.7", modality="OT",
    ...                            reference=ct, frame_of_reference=False)
    >>> rtplan.io.set_laterality(ds, ct)
    >>> ds.Laterality, ds.BodyPartExamined
    ('R', 'THIGH')
    """
    laterality, body_part = series_laterality(reference)
    if laterality is None:
        if "Laterality" in ds:
            del ds.Laterality
    else:
        ds.Laterality = laterality
    if body_part:
        ds.BodyPartExamined = body_part


# ---------------------------------------------------------------------------- saving
def save_dataset(
    ds: Dataset,
    path: str | os.PathLike[str],
    *,
    deidentify: bool | Deidentifier = False,
) -> Path:
    """Write a dataset with its file meta, atomically; create the parent folder.

    The file is written to a temporary file in the same folder, then renamed over
    ``path``: a reader never sees a partial file, and a failed write leaves no temporary
    file and ``path`` as it was (:func:`rtplan._atomic.atomic_path`). The transfer syntax
    of ``ds.file_meta`` is used.

    Parameters
    ----------
    ds : pydicom.Dataset
        With ``file_meta`` (as :func:`new_dataset` makes it).
    path : str or path-like
        The file to write; replaced when it exists.
    deidentify : bool or Deidentifier
        De-identify the dataset (in place) before writing it, with the DICOM PS3.15 Basic
        Profile (:class:`rtplan.io.Deidentifier`). Give one :class:`~rtplan.io.Deidentifier`
        to every writer of a set (and to :func:`rtplan.io.deidentify` for the CT) so that
        their UIDs are replaced alike and the objects still reference one another;
        ``True`` uses a new one (random salt) for this object alone.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    DicomWriteError
        If the dataset cannot be encoded or the file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pydicom
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> ds = rtplan.io.new_dataset(
    ...     sop_class_uid="1.2.840.10008.5.1.4.1.1.7", modality="OT", reference=ct,
    ...     frame_of_reference=False)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = rtplan.io.save_dataset(ds, Path(tmp, "sub", "OT.dcm"))
    ...     back = pydicom.dcmread(out)
    ...     files = sorted(p.name for p in out.parent.iterdir())  # no temporary file left
    >>> back.SOPInstanceUID == ds.SOPInstanceUID, files
    (True, ['OT.dcm'])
    """
    out = Path(path)
    if deidentify is not False:
        from rtplan.io.deidentify import Deidentifier

        (deidentify if isinstance(deidentify, Deidentifier) else Deidentifier()).apply(ds)
    meta = getattr(ds, "file_meta", None)
    syntax = None if meta is None else meta.get("TransferSyntaxUID")
    if syntax is None:
        raise DicomWriteError(
            f"cannot write {out}: the dataset has no file meta with a Transfer Syntax UID; "
            "make it with rtplan.io.new_dataset"
        )
    try:
        with atomic_path(out) as tmp, open(tmp, "xb") as fh:
            ds.save_as(
                fh,
                implicit_vr=syntax.is_implicit_VR,
                little_endian=syntax.is_little_endian,
                enforce_file_format=True,
            )
    except (ValueError, TypeError, OSError, AttributeError) as exc:
        raise DicomWriteError(f"cannot write {out}: {exc}") from exc
    logger.info("wrote %s %s", ds.get("Modality", "DICOM"), out)
    return out
