"""Synthetic CT series and RT object headers for the CT reader and study discovery tests.

Written with pydicom alone (through ``factories.ct_dataset``), never with rtplan's writers.
Voxel positions are computed here with the DICOM formula of PS3.3 C.7.6.2.1.1
(``P = IPP + i * PixelSpacing[1] * row_cosine + j * PixelSpacing[0] * column_cosine``),
independently of :class:`rtplan.Grid`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

import factories
from factories import uid

#: Image Orientation (Patient) that a CT scanner writes for each Patient Position: the
#: scanner's image axes are fixed to the gantry (rows run horizontally, columns point to
#: the floor), so the patient directions they map to follow from the position definitions
#: of DICOM PS3.3 C.7.3.1.1.2 (head/feet first; supine: face up; prone: face down;
#: decubitus left/right: that side down). The same table is in pymedphys
#: (``pymedphys._dicom.orientation.IMAGE_ORIENTATION_MAP``), checked in test_ct.py.
SCANNER_ORIENTATIONS: dict[str, tuple[int, int, int, int, int, int]] = {
    "HFS": (1, 0, 0, 0, 1, 0),
    "HFP": (-1, 0, 0, 0, -1, 0),
    "FFS": (-1, 0, 0, 0, 1, 0),
    "FFP": (1, 0, 0, 0, -1, 0),
    "HFDL": (0, -1, 0, 1, 0, 0),
    "HFDR": (0, 1, 0, -1, 0, 0),
    "FFDL": (0, 1, 0, 1, 0, 0),
    "FFDR": (0, -1, 0, -1, 0, 0),
}

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"

Edit = Callable[[int, Dataset], None]


def normal_of(orientation: Sequence[float]) -> npt.NDArray[np.float64]:
    o = np.asarray(orientation, dtype=np.float64)
    return np.cross(o[:3], o[3:])


def voxel_lps(
    ipp: Sequence[float],
    orientation: Sequence[float],
    pixel_spacing_mm: Sequence[float],
    i: float,
    j: float,
) -> npt.NDArray[np.float64]:
    """LPS centre of pixel (column i, row j) of a slice, by PS3.3 C.7.6.2.1.1."""
    o = np.asarray(orientation, dtype=np.float64)
    return (
        np.asarray(ipp, dtype=np.float64)
        + i * pixel_spacing_mm[1] * o[:3]
        + j * pixel_spacing_mm[0] * o[3:]
    )


def uniform_positions(
    origin_mm: Sequence[float], orientation: Sequence[float], spacing_mm: float, n: int
) -> list[npt.NDArray[np.float64]]:
    """IPP of n slices stacked along the normal from ``origin_mm``."""
    normal = normal_of(orientation)
    return [np.asarray(origin_mm, dtype=np.float64) + k * spacing_mm * normal for k in range(n)]


def write_series(
    folder: Path,
    volume_hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    *,
    positions_mm: Sequence[Sequence[float]] | None = None,
    origin_mm: Sequence[float] = (0.0, 0.0, 0.0),
    slice_spacing_mm: float = 2.0,
    pixel_spacing_mm: Sequence[float] = (1.0, 1.0),
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    patient_position: str = "HFS",
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    names: Sequence[str] | None = None,
    instance_numbers: Sequence[int] | None = None,
    description: str = "Synthetic CT",
    edit: Edit | None = None,
    **ct_kwargs: object,
) -> list[Path]:
    """Write one CT file per slice of ``volume_hu`` (slice, row, column).

    ``positions_mm`` gives each slice's IPP (default: uniform stacking along the normal
    from ``origin_mm``); ``names`` the file names; ``edit(k, ds)`` may change each dataset
    before it is saved. Returns the paths in slice order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    n = volume_hu.shape[0]
    series_uid = series_uid or uid("series", folder)
    study_uid = study_uid or uid("study", folder)
    frame_uid = frame_uid or uid("frame", folder)
    if positions_mm is None:
        positions_mm = uniform_positions(origin_mm, orientation, slice_spacing_mm, n)
    paths = []
    for k in range(n):
        ds = factories.ct_dataset(
            volume_hu[k],
            position_mm=[float(v) for v in positions_mm[k]],
            orientation=orientation,
            pixel_spacing_mm=pixel_spacing_mm,
            slice_thickness_mm=slice_spacing_mm,
            patient_position=patient_position,
            series_uid=series_uid,
            study_uid=study_uid,
            frame_uid=frame_uid,
            instance=int(instance_numbers[k]) if instance_numbers is not None else k + 1,
            **ct_kwargs,  # type: ignore[arg-type]
        )
        ds.SeriesDescription = description
        if edit is not None:
            edit(k, ds)
        path = folder / (names[k] if names is not None else f"CT_{k:04d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def ramp_volume(shape: tuple[int, int, int], seed: int = 0) -> npt.NDArray[np.float64]:
    """Integer HU values, distinct per voxel pattern, reproducible."""
    rng = np.random.default_rng(seed)
    return rng.integers(-1000, 2000, size=shape).astype(np.float64)


def _base(modality: str, sop_class: str, sop_uid: str, study_uid: str, series_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.PatientName = "Test^Phantom"
    ds.PatientID = "TEST001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyDate = factories.FIXED_DATE.strftime("%Y%m%d")
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 2
    ds.Manufacturer = "rtplan-tests"
    return ds


def write_rtstruct(
    path: Path,
    ct_paths: Sequence[Path],
    *,
    rois: Sequence[tuple[str, str, Sequence[npt.ArrayLike]]] = (),
    label: str = "RS",
    sop_uid: str | None = None,
    series_uid: str | None = None,
    referenced_series_uid: str | None = None,
    frame_uid: str | None = None,
) -> Path:
    """An RT Structure Set on a CT series (read from ``ct_paths``).

    ``rois`` holds ``(name, interpreted_type, [contour points (N, 3) LPS mm, ...])``;
    ``referenced_series_uid`` and ``frame_uid`` override what is referenced.
    """
    cts = [factories.read(p) for p in ct_paths]
    ct0 = cts[0]
    sop_uid = sop_uid or uid("rtstruct", path)
    ds = _base(
        "RTSTRUCT",
        RT_STRUCTURE_SET_STORAGE,
        sop_uid,
        str(ct0.StudyInstanceUID),
        series_uid or uid("rtstruct-series", path),
    )
    frame = frame_uid or str(ct0.FrameOfReferenceUID)
    ds.StructureSetLabel = label
    ds.StructureSetDate = ds.StudyDate
    ds.StructureSetTime = "120000"
    images = []
    for ct in cts:
        item = Dataset()
        item.ReferencedSOPClassUID = CTImageStorage
        item.ReferencedSOPInstanceUID = ct.SOPInstanceUID
        images.append(item)
    series = Dataset()
    series.SeriesInstanceUID = referenced_series_uid or str(ct0.SeriesInstanceUID)
    series.ContourImageSequence = DicomSequence(images)
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = ct0.StudyInstanceUID
    study.RTReferencedSeriesSequence = DicomSequence([series])
    ref_frame = Dataset()
    ref_frame.FrameOfReferenceUID = frame
    ref_frame.RTReferencedStudySequence = DicomSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref_frame])
    roi_items, contour_items, obs_items = [], [], []
    for number, (name, kind, contours) in enumerate(rois, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "MANUAL"
        roi_items.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ROIDisplayColor = [255, 0, 0]
        seq = []
        for pts in contours:
            arr = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(arr)
            c.ContourData = [f"{v:.6g}" for v in arr.ravel()]
            seq.append(c)
        rc.ContourSequence = DicomSequence(seq)
        contour_items.append(rc)
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = kind
        obs.ROIInterpreter = ""
        obs_items.append(obs)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    ds.RTROIObservationsSequence = DicomSequence(obs_items)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_rtplan(
    path: Path, *, study_uid: str, frame_uid: str | None, structure_set_uid: str | None = None
) -> Path:
    """The header of an RT Plan (what discovery reads): frame and structure set references."""
    ds = _base("RTPLAN", RT_PLAN_STORAGE, uid("rtplan", path), study_uid, uid("plan-series", path))
    ds.RTPlanLabel = "PLAN"
    if frame_uid is not None:
        ds.FrameOfReferenceUID = frame_uid
    if structure_set_uid is not None:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_STRUCTURE_SET_STORAGE
        ref.ReferencedSOPInstanceUID = structure_set_uid
        ds.ReferencedStructureSetSequence = DicomSequence([ref])
    ds.save_as(path, enforce_file_format=True)
    return path


def write_rtdose(path: Path, *, study_uid: str, frame_uid: str) -> Path:
    """A small valid RT Dose (2 frames of 3x4 voxels, 0.001 Gy per stored unit)."""
    ds = _base("RTDOSE", RT_DOSE_STORAGE, uid("rtdose", path), study_uid, uid("dose-series", path))
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = ["0", "0", "0"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = ["2", "2"]
    ds.SliceThickness = ""
    ds.GridFrameOffsetVector = ["0", "2"]
    ds.FrameIncrementPointer = 0x3004000C
    ds.NumberOfFrames = 2
    ds.Rows, ds.Columns = 3, 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 32
    ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.DoseGridScaling = "0.001"
    values = np.arange(24, dtype="<u4").reshape(2, 3, 4) * 100
    ds.PixelData = values.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
