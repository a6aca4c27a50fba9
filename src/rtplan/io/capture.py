r"""DICOM Secondary Capture images of rendered overlays (RGB, for PACS review).

A Secondary Capture Image Storage object (SOP Class 1.2.840.10008.5.1.4.1.1.7) holding an
8-bit RGB image, in the study and for the patient of the CT it was rendered from, in a new
series. It carries:

* **Patient Orientation** (0020,0020): the patient directions of the image's rows
  (towards increasing column) and columns (towards increasing row), e.g. ``L\\P`` for a
  radiological axial view of a supine patient, ``L\\F`` for a coronal view;
* **Burned In Annotation** (0028,0301): ``YES`` only when the pixels show enough text to
  identify the patient (rtplan burns no identifier unless asked), else ``NO``;
* **Source Image Sequence** (0008,2112): the CT slices the image was derived from, when
  given, with the derivation described in Derivation Description (0008,2111);
* **Image Type** ``DERIVED\\SECONDARY`` and Conversion Type ``WSD`` (workstation);
* **Laterality** (0020,0060) and **Body Part Examined** (0018,0015) from the CT (``R``
  for a right thigh), so that the capture files with the right limb; Laterality is left
  out for a named unpaired part (the spine) and empty when unknown
  (:func:`series_laterality`).
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rtplan.errors import DicomWriteError
from rtplan.image import Image

__all__ = ["SECONDARY_CAPTURE_SOP_CLASS", "series_laterality", "write_secondary_capture"]

logger = logging.getLogger(__name__)

#: Secondary Capture Image Storage.
SECONDARY_CAPTURE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"

_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_ORIENTATION = re.compile(r"^[LRAPHF]{1,3}$")
_PATIENT_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
_STUDY_KEYS = ("StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")


def _text(value: object) -> str:
    return "" if value is None else str(value)


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


def write_secondary_capture(
    rgb: npt.ArrayLike,
    path: str | Path,
    *,
    reference: Image,
    patient_orientation: Sequence[str],
    series_description: str = "rtplan guidance",
    series_instance_uid: str | None = None,
    series_number: int = 900,
    instance_number: int = 1,
    source_slices: Sequence[int] = (),
    derivation_description: str = "",
    pixel_spacing_mm: float | None = None,
    burned_in_annotation: bool = False,
) -> Path:
    """Write an RGB image as a DICOM Secondary Capture in the CT's study.

    Parameters
    ----------
    rgb : array_like of uint8, shape (rows, columns, 3)
        The image, e.g. from :func:`rtplan.render_overlay`.
    path : str or Path
        Output file; its folder is created.
    reference : Image
        The CT the image shows, read from DICOM: its ``series`` gives the patient, the
        study and the UIDs of the slices.
    patient_orientation : sequence of 2 str
        Patient directions of the rows and the columns (``("L", "P")``); letters among
        L, R, A, P, H, F (at most 3 each, the main direction first); S and I are written
        as H and F, as DICOM requires. See :func:`rtplan.guidance.orientation_labels`.
    series_description : str
        Series Description (at most 64 characters).
    series_instance_uid : str, optional
        Join an existing series (several captures in one series); new by default.
    series_number, instance_number : int
        Series Number and Instance Number.
    source_slices : sequence of int
        Indices (k) of the CT slices the image derives from; referenced in the Source
        Image Sequence.
    derivation_description : str
        How the image was made (at most 1024 characters).
    pixel_spacing_mm : float, optional
        Size of a pixel at the patient, mm, written as Nominal Scanned Pixel Spacing
        (square pixels) so viewers can measure on it.
    burned_in_annotation : bool
        True when the pixels show text identifying the patient (name, ID, date).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    DicomWriteError
        If the image is not (rows, columns, 3) uint8, the orientation letters are invalid,
        a text is too long, a slice index is out of range, or the reference CT carries no
        DICOM provenance.

    Examples
    --------
    >>> rgb = rtplan.render_overlay(ct, plane="axial")  # doctest: +SKIP
    >>> write_secondary_capture(rgb, "out/SC.dcm", reference=ct,
    ...                         patient_orientation=("L", "P"))  # doctest: +SKIP
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    import rtplan

    out = Path(path)
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or arr.size == 0:
        raise DicomWriteError(
            f"cannot write {out}: a Secondary Capture needs an (rows, columns, 3) uint8 RGB "
            f"array, got shape {arr.shape} and dtype {arr.dtype}"
        )
    if arr.shape[0] > 65535 or arr.shape[1] > 65535:
        raise DicomWriteError(f"cannot write {out}: image {arr.shape[:2]} exceeds 65535 pixels")
    series = reference.series
    if series is None or not series.study_instance_uid:
        raise DicomWriteError(
            f"cannot write {out}: the reference CT carries no DICOM study; pass the CT as "
            "read by rtplan.io.read_ct or rtplan.load_study"
        )
    # DICOM writes head/foot as H/F (PS3.3 C.7.6.1.1.1); S/I are accepted and converted
    orient = [
        str(v).strip().upper().replace("S", "H").replace("I", "F") for v in patient_orientation
    ]
    if len(orient) != 2 or not all(_ORIENTATION.match(v) for v in orient):
        raise DicomWriteError(
            f"cannot write {out}: patient_orientation must be 2 strings of 1-3 letters among "
            f"L, R, A, P, S, I (e.g. ('L', 'P')), got {list(patient_orientation)!r}"
        )
    if len(series_description) > 64:
        raise DicomWriteError(f"cannot write {out}: series_description exceeds 64 characters")
    if len(derivation_description) > 1024:
        raise DicomWriteError(f"cannot write {out}: derivation_description exceeds 1024 characters")
    n_slices = len(series.sop_instance_uids)
    bad = [k for k in source_slices if not 0 <= int(k) < n_slices]
    if bad:
        raise DicomWriteError(
            f"cannot write {out}: source slices {bad} are not among the CT's {n_slices} slices"
        )
    if pixel_spacing_mm is not None and not float(pixel_spacing_mm) > 0:
        raise DicomWriteError(f"cannot write {out}: pixel_spacing_mm must be positive")

    now = datetime.datetime.now()
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = SECONDARY_CAPTURE_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    # Patient, General Study
    for key in _PATIENT_KEYS + _STUDY_KEYS:
        setattr(ds, key, _text(series.patient.get(key)))
    if series.patient.get("StudyDescription"):
        ds.StudyDescription = _text(series.patient["StudyDescription"])[:64]
    ds.StudyInstanceUID = series.study_instance_uid
    # General Series
    ds.Modality = "OT"
    ds.SeriesInstanceUID = series_instance_uid or generate_uid()
    ds.SeriesNumber = int(series_number)
    ds.SeriesDescription = series_description
    laterality, body_part = series_laterality(reference)
    if laterality is not None:  # Type 2C: absent for an unpaired part (the spine)
        ds.Laterality = laterality
    if body_part:
        ds.BodyPartExamined = body_part
    ds.SeriesDate = now.strftime("%Y%m%d")
    ds.SeriesTime = now.strftime("%H%M%S")
    # General Equipment, SC Equipment
    ds.Manufacturer = "rtplan"
    ds.ManufacturerModelName = "rtplan"
    ds.SoftwareVersions = rtplan.__version__
    ds.ConversionType = "WSD"
    ds.SecondaryCaptureDeviceManufacturer = "rtplan"
    ds.SecondaryCaptureDeviceManufacturerModelName = "rtplan"
    ds.SecondaryCaptureDeviceSoftwareVersions = rtplan.__version__
    # General Image
    ds.InstanceNumber = int(instance_number)
    ds.PatientOrientation = orient
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.RecognizableVisualFeatures = "NO"
    if derivation_description:
        ds.DerivationDescription = derivation_description
    if source_slices:
        items = []
        sop_class = series.sop_class_uid or _CT_IMAGE_STORAGE
        for k in source_slices:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = series.sop_instance_uids[int(k)]
            items.append(item)
        ds.SourceImageSequence = DicomSequence(items)
    # SC Image
    ds.DateOfSecondaryCapture = now.strftime("%Y%m%d")
    ds.TimeOfSecondaryCapture = now.strftime("%H%M%S")
    if pixel_spacing_mm is not None:
        px = f"{float(pixel_spacing_mm):.8g}"
        ds.NominalScannedPixelSpacing = [px, px]
    # Image Pixel
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = int(arr.shape[0])
    ds.Columns = int(arr.shape[1])
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    data = np.ascontiguousarray(arr).tobytes()
    ds.PixelData = data + b"\0" if len(data) % 2 else data

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        ds.save_as(out, enforce_file_format=True)
    except (ValueError, OSError) as exc:
        raise DicomWriteError(f"cannot write {out}: {exc}") from exc
    logger.info("wrote Secondary Capture %s (%dx%d)", out, arr.shape[1], arr.shape[0])
    return out
