"""Analytic structures, doses and closed-form DVHs; DICOM written with pydicom alone.

Nothing here calls rtplan's DVH or gamma code: the closed forms are derived from the
geometry (circular slabs, cylinders, spheres) and the DICOM files are written directly with
pydicom, so that peer tools (dicompyler-core) read exactly what rtplan is given.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import rtplan

FloatArray = npt.NDArray[np.float64]
N_VERTICES = 360
RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


# ----------------------------------------------------------------------------- geometry
def ring(
    r: float, z: float, cx: float = 0.0, cy: float = 0.0, n: int = N_VERTICES
) -> rtplan.Contour:
    """A regular n-gon approximating a circle in the axial plane z (LPS mm)."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    pts = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t), np.full(n, float(z))])
    return rtplan.Contour(points_mm=pts)


def ngon_area(r: float, n: int = N_VERTICES) -> float:
    """Area of the regular n-gon inscribed in a circle of radius r."""
    return 0.5 * n * r * r * math.sin(2.0 * math.pi / n)


def sphere_radius_mm(volume_cc: float) -> float:
    return (3.0 * volume_cc * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)


class SphereStack:
    """A sphere contoured on axial planes ``centre_z + phase + k t`` (inside the sphere)."""

    def __init__(
        self,
        radius_mm: float,
        thickness_mm: float,
        phase_mm: float = 0.0,
        centre: Sequence[float] = (0.0, 0.0, 0.0),
        name: str = "Sphere",
    ) -> None:
        self.R = radius_mm
        self.t = thickness_mm
        self.c = np.asarray(centre, dtype=np.float64)
        k = np.arange(-200, 201)
        z = self.c[2] + phase_mm + k * thickness_mm
        self.z = z[np.abs(z - self.c[2]) < radius_mm - 1e-6]
        self.r = np.sqrt(radius_mm**2 - (self.z - self.c[2]) ** 2)
        self.structure = rtplan.Structure(
            name=name,
            contours=tuple(
                ring(r, z, self.c[0], self.c[1]) for r, z in zip(self.r, self.z, strict=True)
            ),
            slice_thickness_mm=thickness_mm,
        )

    def slabs(self, end_cap: str = "slab") -> tuple[FloatArray, FloatArray]:
        lo, hi = self.z - self.t / 2, self.z + self.t / 2
        if end_cap == "none":
            lo[0], hi[-1] = self.z[0], self.z[-1]
        return lo, hi

    def volume_mm3(self, end_cap: str = "slab") -> float:
        lo, hi = self.slabs(end_cap)
        return float(sum(ngon_area(r) * (b - a) for r, a, b in zip(self.r, lo, hi, strict=True)))

    def above_z(self, z_levels: FloatArray, end_cap: str = "slab") -> FloatArray:
        """Contoured volume (slab convention) with z >= each level, mm³ (closed form)."""
        lo, hi = self.slabs(end_cap)
        areas = np.array([ngon_area(r) for r in self.r])
        zl = np.asarray(z_levels, dtype=np.float64)[:, np.newaxis]
        return np.sum(areas * np.clip(hi - np.maximum(lo, zl), 0.0, None), axis=1)

    def above_x(self, x_levels: FloatArray, end_cap: str = "slab") -> FloatArray:
        """Contoured volume with x >= each level, mm³: circular segments times slab heights."""
        lo, hi = self.slabs(end_cap)
        t = np.asarray(x_levels, dtype=np.float64)[:, np.newaxis] - self.c[0]
        r = self.r[np.newaxis, :]
        tc = np.clip(t, -r, r)
        seg = r * r * np.arccos(tc / r) - tc * np.sqrt(r * r - tc * tc)
        seg *= ngon_area(1.0) / math.pi  # the n-gon's area, shared out like the circle's
        return np.sum(seg * (hi - lo), axis=1)

    def sphere_above_z(self, z_levels: FloatArray) -> FloatArray:
        """Continuous sphere volume with z >= level (spherical cap), mm³."""
        h = np.clip(self.c[2] + self.R - np.asarray(z_levels, dtype=np.float64), 0.0, 2 * self.R)
        return math.pi * h * h * (3 * self.R - h) / 3.0


class Cylinder:
    """An axial cylinder from z0 to z1 contoured at slab centres (exact slab representation)."""

    def __init__(
        self,
        radius_mm: float,
        z0: float,
        n_planes: int,
        thickness_mm: float,
        cx: float = 0.0,
        cy: float = 0.0,
        name: str = "Cylinder",
    ) -> None:
        self.r, self.z0, self.t = radius_mm, z0, thickness_mm
        self.z1 = z0 + n_planes * thickness_mm
        zs = z0 + thickness_mm * (np.arange(n_planes) + 0.5)
        self.structure = rtplan.Structure(
            name=name,
            contours=tuple(ring(radius_mm, z, cx, cy) for z in zs),
            slice_thickness_mm=thickness_mm,
        )

    @property
    def area_mm2(self) -> float:
        return ngon_area(self.r)

    @property
    def volume_mm3(self) -> float:
        return self.area_mm2 * (self.z1 - self.z0)

    def above_z(self, z_levels: FloatArray) -> FloatArray:
        zl = np.asarray(z_levels, dtype=np.float64)
        return self.area_mm2 * np.clip(self.z1 - np.maximum(self.z0, zl), 0.0, None)


def dose_grid(
    spacing_mm: float | Sequence[float],
    lower_mm: Sequence[float],
    upper_mm: Sequence[float],
    offset_mm: Sequence[float] = (0.37, -0.61, 0.23),
) -> rtplan.Grid:
    """A grid covering a box, shifted by a sub-voxel offset so nothing aligns by chance."""
    g = rtplan.Grid.covering(lower_mm, upper_mm, spacing_mm)
    o = np.asarray(g.origin_mm) + np.asarray(offset_mm)
    return rtplan.Grid(shape=g.shape, spacing_mm=g.spacing_mm, origin_mm=tuple(o))


def linear_dose(grid: rtplan.Grid, a_gy: float, gradient_gy_per_mm: Sequence[float]) -> rtplan.Dose:
    """D(x) = a + g . x at the voxel centres (trilinear interpolation is then exact)."""
    xyz = grid.centers_mm()
    arr = a_gy + xyz @ np.asarray(gradient_gy_per_mm, dtype=np.float64)
    return rtplan.Dose(array=arr, grid=grid, name="linear")


# ----------------------------------------------------------------------------- DICOM
def _meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _common(ds: Dataset, modality: str, frame_uid: str) -> None:
    ds.PatientName = "Test^Evaluate"
    ds.PatientID = "EVAL001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["study", frame_uid])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["series", modality, frame_uid])
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.Modality = modality
    ds.Manufacturer = "rtplan-tests"


def write_rtstruct(
    path: Path, structures: Sequence[rtplan.Structure], frame_uid: str = "1.2.3.4.5.6"
) -> Path:
    """A minimal RT Structure Set holding the structures' closed contours as they are."""
    sop = generate_uid(entropy_srcs=["rtstruct", str(path)])
    ds = Dataset()
    ds.file_meta = _meta(RT_STRUCT_STORAGE, sop)
    ds.SOPClassUID = RT_STRUCT_STORAGE
    ds.SOPInstanceUID = sop
    _common(ds, "RTSTRUCT", frame_uid)
    ds.StructureSetLabel = "evaluate"
    ds.StructureSetDate = "20260101"
    ds.StructureSetTime = "120000"
    rois, contours, obs = [], [], []
    for n, s in enumerate(structures, start=1):
        roi = Dataset()
        roi.ROINumber = n
        roi.ReferencedFrameOfReferenceUID = frame_uid
        roi.ROIName = s.name
        roi.ROIGenerationAlgorithm = "MANUAL"
        rois.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = n
        rc.ROIDisplayColor = list(s.color)
        items = []
        for c in s.closed_contours:
            item = Dataset()
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = c.n_points
            item.ContourData = [f"{v:.6f}" for v in c.points_mm.ravel()]
            items.append(item)
        rc.ContourSequence = DicomSequence(items)
        contours.append(rc)
        o = Dataset()
        o.ObservationNumber = n
        o.ReferencedROINumber = n
        o.RTROIInterpretedType = "ORGAN"
        o.ROIInterpreter = ""
        obs.append(o)
    ds.StructureSetROISequence = DicomSequence(rois)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.RTROIObservationsSequence = DicomSequence(obs)
    ds.save_as(path, enforce_file_format=True)
    return path


def rtdose_dataset(
    dose: rtplan.Dose, frame_uid: str = "1.2.3.4.5.6", dvh_items: Sequence[Dataset] = ()
) -> Dataset:
    """An RT Dose dataset (32-bit unsigned, axial, head-first) with optional DVH items."""
    g = dose.grid
    if not g.is_axis_aligned:
        raise ValueError("test RT Dose writer handles axis-aligned grids only")
    arr = np.asarray(dose.array, dtype=np.float64)
    scale = max(float(arr.max()), 1e-12) / 2.0**31
    sop = generate_uid(entropy_srcs=["rtdose", str(id(dose)), frame_uid])
    ds = Dataset()
    ds.file_meta = _meta(RT_DOSE_STORAGE, sop)
    ds.SOPClassUID = RT_DOSE_STORAGE
    ds.SOPInstanceUID = sop
    _common(ds, "RTDOSE", frame_uid)
    ds.PatientPosition = "HFS"
    ds.ImagePositionPatient = [f"{v:.6f}" for v in g.origin_mm]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [f"{g.spacing_mm[1]:.6f}", f"{g.spacing_mm[2]:.6f}"]
    ds.SliceThickness = f"{g.spacing_mm[0]:.6f}"
    ds.GridFrameOffsetVector = [f"{k * g.spacing_mm[0]:.6f}" for k in range(g.shape[0])]
    ds.FrameIncrementPointer = (0x3004, 0x000C)
    ds.NumberOfFrames = g.shape[0]
    ds.Rows, ds.Columns = g.shape[1], g.shape[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 32
    ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.DoseGridScaling = f"{scale:.10e}"
    ds.PixelData = np.rint(np.clip(arr, 0, None) / scale).astype("<u4").tobytes()
    if dvh_items:
        ds.DVHSequence = DicomSequence(list(dvh_items))
    return ds


def write_rtdose(path: Path, dose: rtplan.Dose, frame_uid: str = "1.2.3.4.5.6") -> Path:
    rtdose_dataset(dose, frame_uid).save_as(path, enforce_file_format=True)
    return path


def dvh_item(
    roi_number: int,
    widths: Sequence[float],
    volumes: Sequence[float],
    *,
    dvh_type: str = "CUMULATIVE",
    dose_units: str = "GY",
    volume_units: str = "CM3",
    scaling: float = 1.0,
    extra: dict[str, float] | None = None,
) -> Dataset:
    """One DVH Sequence item."""
    item = Dataset()
    ref = Dataset()
    ref.ReferencedROINumber = roi_number
    ref.DVHROIContributionType = "INCLUDED"
    item.DVHReferencedROISequence = DicomSequence([ref])
    item.DVHType = dvh_type
    item.DoseUnits = dose_units
    item.DoseType = "PHYSICAL"
    item.DVHDoseScaling = scaling
    item.DVHVolumeUnits = volume_units
    item.DVHNumberOfBins = len(widths)
    item.DVHData = [v for pair in zip(widths, volumes, strict=True) for v in pair]
    for k, v in (extra or {}).items():
        setattr(item, k, v)
    return item


def import_dicompyler() -> tuple[ModuleType, ModuleType]:
    """dicompylercore.dvhcalc and .dvh, with the pydicom 3 shim it needs.

    dicompyler-core 0.5.6 imports ``pydicom.dicomio.read_file``, which pydicom 3 removed
    (``pydicom.dcmread`` is the same function).
    """
    import pydicom.dicomio

    if not hasattr(pydicom.dicomio, "read_file"):
        pydicom.dicomio.read_file = pydicom.dcmread  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pydicom.pixel_data_handlers
        from dicompylercore import dvh as dvh_mod
        from dicompylercore import dvhcalc

    return dvhcalc, dvh_mod


def read(path: Path) -> Dataset:
    return pydicom.dcmread(path)
