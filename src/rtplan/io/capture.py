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
  (:func:`rtplan.io.series_laterality`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Unpack

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from rtplan._version import __version__
from rtplan.errors import DicomWriteError
from rtplan.image import Image, SeriesInfo
from rtplan.io._writer import (
    MANUFACTURER,
    SeriesOptions,
    new_dataset,
    reference_series,
    save_dataset,
    series_laterality,
    set_laterality,
)

__all__ = ["SECONDARY_CAPTURE_SOP_CLASS", "series_laterality", "write_secondary_capture"]

logger = logging.getLogger(__name__)

#: Secondary Capture Image Storage.
SECONDARY_CAPTURE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"

_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_ORIENTATION = re.compile(r"^[LRAPHF]{1,3}$")


def write_secondary_capture(
    rgb: npt.ArrayLike,
    path: str | Path,
    *,
    reference: Image,
    patient_orientation: Sequence[str],
    source_slices: Sequence[int] = (),
    derivation_description: str = "",
    pixel_spacing_mm: float | None = None,
    burned_in_annotation: bool = False,
    **series: Unpack[SeriesOptions],
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
    **series
        Where the capture goes (:class:`rtplan.io.SeriesOptions`):
        ``series_description`` (at most 64 characters, default ``"rtplan guidance"``),
        ``series_instance_uid`` (join an existing series, so several captures form one;
        new by default), ``series_number`` (900) and ``instance_number`` (1).

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
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pydicom
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> rgb = np.zeros((64, 80, 3), dtype=np.uint8)
    >>> rgb[20:40, 30:50] = (255, 0, 0)  # rendered with rtplan.render_overlay in practice
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sc = rtplan.io.write_secondary_capture(
    ...         rgb, Path(tmp, "SC.dcm"), reference=ct, patient_orientation=("L", "P"),
    ...         source_slices=[20], series_description="axial review")
    ...     ds = pydicom.dcmread(sc)
    >>> ds.Modality, ds.SeriesDescription, ds.Laterality, ds.pixel_array.shape
    ('OT', 'axial review', 'R', (64, 80, 3))
    """
    out = Path(path)
    arr = _checked_image(rgb, out)
    orient = _orientation(patient_orientation, out)
    if len(derivation_description) > 1024:
        raise DicomWriteError(f"cannot write {out}: derivation_description exceeds 1024 characters")
    if pixel_spacing_mm is not None and not float(pixel_spacing_mm) > 0:
        raise DicomWriteError(f"cannot write {out}: pixel_spacing_mm must be positive")
    info = reference_series(str(out), reference, frame_of_reference=False)
    n_slices = len(info.sop_instance_uids)
    bad = [k for k in source_slices if not 0 <= int(k) < n_slices]
    if bad:
        raise DicomWriteError(
            f"cannot write {out}: source slices {bad} are not among the CT's {n_slices} slices"
        )
    placement: SeriesOptions = {
        "series_description": "rtplan guidance",
        "series_number": 900,
        "instance_number": 1,
        **series,
    }
    ds = new_dataset(
        sop_class_uid=SECONDARY_CAPTURE_SOP_CLASS,
        modality="OT",
        reference=info,
        frame_of_reference=False,
        **placement,
    )
    set_laterality(ds, reference)
    # SC Equipment
    ds.ConversionType = "WSD"
    ds.SecondaryCaptureDeviceManufacturer = MANUFACTURER
    ds.SecondaryCaptureDeviceManufacturerModelName = MANUFACTURER
    ds.SecondaryCaptureDeviceSoftwareVersions = __version__
    # General Image
    ds.PatientOrientation = orient
    ds.ContentDate = ds.InstanceCreationDate
    ds.ContentTime = ds.InstanceCreationTime
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.RecognizableVisualFeatures = "NO"
    if derivation_description:
        ds.DerivationDescription = derivation_description
    if source_slices:
        ds.SourceImageSequence = _source_images(info, source_slices)
    # SC Image
    ds.DateOfSecondaryCapture = ds.InstanceCreationDate
    ds.TimeOfSecondaryCapture = ds.InstanceCreationTime
    if pixel_spacing_mm is not None:
        px = f"{float(pixel_spacing_mm):.8g}"
        ds.NominalScannedPixelSpacing = [px, px]
    _rgb_pixels(ds, arr)
    save_dataset(ds, out)
    logger.info("wrote Secondary Capture %s (%dx%d)", out, arr.shape[1], arr.shape[0])
    return out


def _checked_image(rgb: npt.ArrayLike, out: Path) -> npt.NDArray[np.uint8]:
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or arr.size == 0:
        raise DicomWriteError(
            f"cannot write {out}: a Secondary Capture needs an (rows, columns, 3) uint8 RGB "
            f"array, got shape {arr.shape} and dtype {arr.dtype}"
        )
    if arr.shape[0] > 65535 or arr.shape[1] > 65535:
        raise DicomWriteError(f"cannot write {out}: image {arr.shape[:2]} exceeds 65535 pixels")
    return arr


def _orientation(patient_orientation: Sequence[str], out: Path) -> list[str]:
    """Patient Orientation letters; S and I become H and F (PS3.3 C.7.6.1.1.1)."""
    orient = [
        str(v).strip().upper().replace("S", "H").replace("I", "F") for v in patient_orientation
    ]
    if len(orient) != 2 or not all(_ORIENTATION.match(v) for v in orient):
        raise DicomWriteError(
            f"cannot write {out}: patient_orientation must be 2 strings of 1-3 letters among "
            f"L, R, A, P, S, I (e.g. ('L', 'P')), got {list(patient_orientation)!r}"
        )
    return orient


def _source_images(info: SeriesInfo, source_slices: Sequence[int]) -> DicomSequence:
    sop_class = info.sop_class_uid or _CT_IMAGE_STORAGE
    items = []
    for k in source_slices:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = info.sop_instance_uids[int(k)]
        items.append(item)
    return DicomSequence(items)


def _rgb_pixels(ds: Dataset, arr: npt.NDArray[np.uint8]) -> None:
    """Image Pixel module of an 8-bit RGB image (colour-by-pixel)."""
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
