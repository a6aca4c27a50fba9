"""Synthetic DICOM written with pydicom alone, for tests of rtplan's readers.

Nothing here uses rtplan's own writers, so round-trip tests cannot hide a shared bug.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

FIXED_DATE = datetime.date(2026, 1, 1)


def uid(*parts: object) -> str:
    """A deterministic UID from arbitrary parts."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def ct_dataset(
    pixels_hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    *,
    position_mm: Sequence[float],
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    pixel_spacing_mm: Sequence[float] = (1.0, 1.0),
    slice_thickness_mm: float = 1.0,
    patient_position: str = "HFS",
    series_uid: str,
    study_uid: str,
    frame_uid: str,
    instance: int = 1,
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    gantry_tilt_deg: float | None = None,
    patient_id: str = "TEST001",
) -> Dataset:
    """One CT Image Storage dataset (explicit VR little endian, 16-bit unsigned stored)."""
    sop_uid = uid(series_uid, instance, *position_mm)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "CT"
    ds.PatientName = "Test^Phantom"
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyDate = FIXED_DATE.strftime("%Y%m%d")
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance
    ds.Manufacturer = "rtplan-tests"
    ds.PositionReferenceIndicator = ""
    ds.Laterality = ""
    ds.PatientPosition = patient_position
    ds.ImagePositionPatient = [f"{v:.6g}" for v in position_mm]
    ds.ImageOrientationPatient = [f"{v:.8g}" for v in orientation]
    ds.PixelSpacing = [f"{v:.6g}" for v in pixel_spacing_mm]
    ds.SliceThickness = f"{slice_thickness_mm:.6g}"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.KVP = "120"
    ds.AcquisitionNumber = 1
    if gantry_tilt_deg is not None:
        ds.GantryDetectorTilt = f"{gantry_tilt_deg:.6g}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels_hu.shape[0]), int(pixels_hu.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    s = 1.0 if slope is None else slope
    b = -1024.0 if intercept is None else intercept
    stored = np.rint((np.asarray(pixels_hu, dtype=np.float64) - b) / s)
    ds.PixelData = np.clip(stored, 0, 65535).astype("<u2").tobytes()
    if slope is not None:
        ds.RescaleSlope = f"{slope:.6g}"
    if intercept is not None:
        ds.RescaleIntercept = f"{intercept:.6g}"
    ds.RescaleType = "HU"
    return ds


def write_ct_series(
    folder: Path,
    volume_hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    *,
    origin_mm: Sequence[float] = (0.0, 0.0, 0.0),
    spacing_mm: Sequence[float] = (2.0, 1.0, 1.0),
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    patient_position: str = "HFS",
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    shuffle_instance_numbers: bool = False,
    skip_slices: Sequence[int] = (),
    **kwargs: object,
) -> list[Path]:
    """Write a volume ``(slice, row, column)`` as one CT file per slice.

    ``origin_mm`` is the LPS centre of the first pixel of the first slice, ``spacing_mm``
    is ``(slice, row, column)``; slices advance along the normal row x column.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or uid("series", folder)
    study_uid = study_uid or uid("study", folder)
    frame_uid = frame_uid or uid("frame", folder)
    o = np.asarray(orientation, dtype=np.float64)
    normal = np.cross(o[:3], o[3:])
    paths = []
    n = volume_hu.shape[0]
    rng = np.random.default_rng(0)
    numbers = rng.permutation(n) + 1 if shuffle_instance_numbers else np.arange(n) + 1
    for k in range(n):
        if k in skip_slices:
            continue
        pos = np.asarray(origin_mm, dtype=np.float64) + k * spacing_mm[0] * normal
        ds = ct_dataset(
            volume_hu[k],
            position_mm=pos,
            orientation=orientation,
            pixel_spacing_mm=(spacing_mm[1], spacing_mm[2]),
            slice_thickness_mm=spacing_mm[0],
            patient_position=patient_position,
            series_uid=series_uid,
            study_uid=study_uid,
            frame_uid=frame_uid,
            instance=int(numbers[k]),
            **kwargs,  # type: ignore[arg-type]
        )
        path = folder / f"CT_{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def dciodvfy(path: Path) -> list[str]:
    """Run dciodvfy on a file and return its error lines (warnings excluded).

    Raises
    ------
    RuntimeError
        If dciodvfy is not installed (``apt-get install dicom3tools``).
    """
    exe = shutil.which("dciodvfy")
    if exe is None:
        raise RuntimeError("dciodvfy not found: apt-get install dicom3tools")
    proc = subprocess.run(
        [exe, "-new", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    out = proc.stdout + proc.stderr
    lines = out.splitlines()
    errors = [ln for ln in lines if ln.startswith("Error")]
    if proc.returncode not in (0, 1) or "Assertion" in out:
        # this dicom3tools build aborts on 32-bit pixel data: never count a crash as a pass
        errors.append(f"Error - dciodvfy crashed (exit {proc.returncode}) on {path}")
    return errors


def read(path: Path) -> Dataset:
    """pydicom read with the file meta enforced."""
    return pydicom.dcmread(path, force=False)


def dicompyler_parser():  # type: ignore[no-untyped-def]
    """dicompyler-core's DicomParser class, with the shim pydicom 3 needs.

    dicompyler-core 0.5.6 imports ``pydicom.dicomio.read_file``, which pydicom 3 removed
    (``pydicom.dcmread`` is the same function), and the deprecated
    ``pydicom.pixel_data_handlers``.
    """
    import warnings

    import pydicom.dicomio

    if not hasattr(pydicom.dicomio, "read_file"):
        pydicom.dicomio.read_file = pydicom.dcmread  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from dicompylercore import dicomparser

    return dicomparser.DicomParser


def dicompyler_dvhcalc():  # type: ignore[no-untyped-def]
    """dicompyler-core's ``dvhcalc`` module, with the pydicom 3 shim (see above)."""
    import warnings

    dicompyler_parser()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from dicompylercore import dvhcalc

    return dvhcalc
