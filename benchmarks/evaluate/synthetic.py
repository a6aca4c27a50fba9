"""A real-size synthetic pelvis/thigh study for the evaluation benchmarks.

CT 512 x 512 x 100 (0.977 mm pixels, 2.5 mm slices), an RT Structure Set of analytic shapes
contoured on every CT slice they cross (body outline, targets, femurs, bladder, rectum,
nerve, two small nodes), and an RT Dose of about 200 x 130 x 100 voxels (2.5 mm) from a
five-field conformal model. Everything is written with pydicom alone, so the peers read the
same files rtplan reads. The evaluated dose for the gamma benchmark is the same model with
a 1 mm isocentre shift, +1.5 % output and a slightly different attenuation.

Run ``python benchmarks/evaluate/synthetic.py OUTDIR`` to write the study.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from scipy.special import erf

FloatArray = npt.NDArray[np.float64]
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCT = "1.2.840.10008.5.1.4.1.1.481.3"

CT_SHAPE = (100, 512, 512)  # slices, rows, columns
CT_PIXEL_MM = 500.0 / 512
CT_SLICE_MM = 2.5
CT_ORIGIN = (-250.0 + CT_PIXEL_MM / 2, -250.0 + CT_PIXEL_MM / 2, -125.0)
DOSE_SHAPE = (100, 130, 200)
DOSE_SPACING = 2.5
DOSE_ORIGIN = (-248.75, -161.25, -124.5)
FRAME = generate_uid(entropy_srcs=["rtplan-benchmark-frame"])
STUDY = generate_uid(entropy_srcs=["rtplan-benchmark-study"])


@dataclass(frozen=True)
class Shape:
    """An analytic ROI: elliptic cross-sections ``(cx, cy, ax, ay)`` as a function of z."""

    name: str
    kind: str  # "ellipsoid", "cylinder", "body"
    centre: tuple[float, float, float]
    axes: tuple[float, float, float]  # semi-axes x, y, z (half-length for cylinders)

    def section(self, z: float) -> tuple[float, float, float, float] | None:
        cx, cy, cz = self.centre
        ax, ay, az = self.axes
        u = (z - cz) / az
        if abs(u) >= 1.0:
            return None
        if self.kind == "ellipsoid":
            f = math.sqrt(1.0 - u * u)
            return cx, cy, ax * f, ay * f
        if self.kind == "body":  # slight taper along z
            f = 1.0 - 0.08 * u * u
            return cx, cy, ax * f, ay * f
        return cx, cy, ax, ay


SHAPES = (
    Shape("Body", "body", (0.0, 0.0, 0.0), (190.0, 130.0, 120.0)),
    Shape("PTV", "ellipsoid", (30.0, 10.0, 0.0), (40.0, 35.0, 45.0)),
    Shape("CTV", "ellipsoid", (30.0, 10.0, 0.0), (33.0, 28.0, 38.0)),
    Shape("GTV", "ellipsoid", (32.0, 12.0, 2.0), (15.0, 15.0, 15.0)),
    Shape("Femur_L", "cylinder", (95.0, 15.0, -72.5), (14.0, 16.0, 52.5)),
    Shape("Femur_R", "cylinder", (-95.0, 15.0, -72.5), (14.0, 16.0, 52.5)),
    Shape("Bladder", "ellipsoid", (-25.0, -45.0, 40.0), (30.0, 25.0, 25.0)),
    Shape("Rectum", "cylinder", (-5.0, 60.0, -10.0), (14.0, 14.0, 50.0)),
    Shape("Nerve", "cylinder", (70.0, 45.0, 0.0), (4.0, 4.0, 50.0)),
    Shape("Node_1", "ellipsoid", (55.0, -20.0, 30.0), (5.0, 5.0, 5.0)),
    Shape("Node_2", "ellipsoid", (-60.0, 20.0, -20.0), (7.0, 7.0, 7.0)),
)


def ct_slice_z() -> FloatArray:
    return CT_ORIGIN[2] + CT_SLICE_MM * np.arange(CT_SHAPE[0])


def polygons(shape: Shape, n_vertices: int = 180) -> list[tuple[float, FloatArray]]:
    """The contour of each CT slice the shape crosses: (z, (N, 3) LPS points)."""
    t = np.linspace(0.0, 2.0 * np.pi, n_vertices, endpoint=False)
    out = []
    for z in ct_slice_z():
        sec = shape.section(float(z))
        if sec is None:
            continue
        cx, cy, ax, ay = sec
        pts = np.column_stack([cx + ax * np.cos(t), cy + ay * np.sin(t), np.full(t.size, z)])
        out.append((float(z), pts))
    return out


def dose_axes() -> tuple[FloatArray, FloatArray, FloatArray]:
    """Voxel-centre coordinates of the dose grid: z, y, x (array axis order)."""
    return tuple(  # type: ignore[return-value]
        DOSE_ORIGIN[2 - a] + DOSE_SPACING * np.arange(DOSE_SHAPE[a]) for a in range(3)
    )


def dose_model(
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    output: float = 1.0,
    mu_per_mm: float = 0.0045,
) -> FloatArray:
    """Five-field conformal dose on the dose grid, Gy (array axes z, y, x)."""
    z, y, x = dose_axes()
    Z, Y, X = np.meshgrid(z - shift_mm[2], y - shift_mm[1], x - shift_mm[0], indexing="ij")
    body = SHAPES[0]
    u = Z / body.axes[2]
    taper = 1.0 - 0.08 * u * u
    inside = (X / (body.axes[0] * taper)) ** 2 + (Y / (body.axes[1] * taper)) ** 2 <= 1.0
    ptv = SHAPES[1]
    dx, dy, dz = X - ptv.centre[0], Y - ptv.centre[1], Z - ptv.centre[2]
    dose = np.zeros(X.shape)
    for ang in (0.0, 72.0, 144.0, 216.0, 288.0):
        a = math.radians(ang)
        along = dx * math.sin(a) - dy * math.cos(a)  # depth direction from the source side
        across = dx * math.cos(a) + dy * math.sin(a)
        half_w = 47.0  # PTV half width plus margin
        half_z = ptv.axes[2] + 7.0
        prof = (
            0.25
            * (erf((half_w - np.abs(across)) / 4.0) + 1)
            * (erf((half_z - np.abs(dz)) / 4.0) + 1)
        )
        depth = np.clip(along + 160.0, 0.0, None)
        dose += prof * np.exp(-mu_per_mm * depth)
    dose = dose / dose[inside].max() * 64.0 * output
    dose[~inside] = 0.0
    return dose


# ----------------------------------------------------------------------------- DICOM
def _meta(sop_class: str, sop: str) -> FileMetaDataset:
    m = FileMetaDataset()
    m.MediaStorageSOPClassUID = sop_class
    m.MediaStorageSOPInstanceUID = sop
    m.TransferSyntaxUID = ExplicitVRLittleEndian
    return m


def _patient(ds: Dataset, modality: str, series: str) -> None:
    ds.PatientName = "Benchmark^Pelvis"
    ds.PatientID = "BENCH001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = FRAME
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Modality = modality
    ds.Manufacturer = "rtplan-benchmark"
    ds.SeriesNumber = 1


def write_ct(folder: Path) -> list[str]:
    series = generate_uid(entropy_srcs=["rtplan-benchmark-ct"])
    _, rows, cols = CT_SHAPE
    xs = CT_ORIGIN[0] + CT_PIXEL_MM * np.arange(cols)
    ys = CT_ORIGIN[1] + CT_PIXEL_MM * np.arange(rows)
    Y, X = np.meshgrid(ys, xs, indexing="ij")
    uids = []
    for k, z in enumerate(ct_slice_z()):
        hu = np.full((rows, cols), -1000.0)
        sec = SHAPES[0].section(float(z))
        if sec is not None:
            cx, cy, ax, ay = sec
            hu[((X - cx) / ax) ** 2 + ((Y - cy) / ay) ** 2 <= 1] = 20.0
        for femur in SHAPES[4:6]:
            sec = femur.section(float(z))
            if sec is not None:
                cx, cy, ax, ay = sec
                hu[((X - cx) / ax) ** 2 + ((Y - cy) / ay) ** 2 <= 1] = 700.0
        sop = generate_uid(entropy_srcs=["rtplan-benchmark-ct", str(k)])
        ds = Dataset()
        ds.file_meta = _meta(CTImageStorage, sop)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        _patient(ds, "CT", series)
        ds.InstanceNumber = k + 1
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = [f"{CT_ORIGIN[0]:.6f}", f"{CT_ORIGIN[1]:.6f}", f"{z:.6f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = [f"{CT_PIXEL_MM:.8f}", f"{CT_PIXEL_MM:.8f}"]
        ds.SliceThickness = f"{CT_SLICE_MM}"
        ds.PositionReferenceIndicator = ""
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.PixelData = np.clip(hu + 1024, 0, 65535).astype("<u2").tobytes()
        ds.save_as(folder / f"CT_{k:03d}.dcm", enforce_file_format=True)
        uids.append(sop)
    return uids


def write_rtstruct(path: Path, ct_uids: list[str]) -> Path:
    sop = generate_uid(entropy_srcs=["rtplan-benchmark-rtstruct"])
    ds = Dataset()
    ds.file_meta = _meta(RT_STRUCT, sop)
    ds.SOPClassUID = RT_STRUCT
    ds.SOPInstanceUID = sop
    _patient(ds, "RTSTRUCT", generate_uid(entropy_srcs=["rtplan-benchmark-rs"]))
    ds.StructureSetLabel = "benchmark"
    ds.StructureSetDate = "20260101"
    ds.StructureSetTime = "120000"
    ref_series = Dataset()
    ref_series.SeriesInstanceUID = generate_uid(entropy_srcs=["rtplan-benchmark-ct"])
    images = []
    for uid in ct_uids:
        im = Dataset()
        im.ReferencedSOPClassUID = CTImageStorage
        im.ReferencedSOPInstanceUID = uid
        images.append(im)
    ref_series.ContourImageSequence = DicomSequence(images)
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref_study.ReferencedSOPInstanceUID = STUDY
    ref_study.RTReferencedSeriesSequence = DicomSequence([ref_series])
    frame = Dataset()
    frame.FrameOfReferenceUID = FRAME
    frame.RTReferencedStudySequence = DicomSequence([ref_study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])
    z_to_uid = dict(zip(np.round(ct_slice_z(), 3), ct_uids, strict=True))
    rois, contours, obs = [], [], []
    for n, shape in enumerate(SHAPES, start=1):
        roi = Dataset()
        roi.ROINumber = n
        roi.ReferencedFrameOfReferenceUID = FRAME
        roi.ROIName = shape.name
        roi.ROIGenerationAlgorithm = "MANUAL"
        rois.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = n
        rc.ROIDisplayColor = [(37 * n) % 256, (91 * n) % 256, (53 * n) % 256]
        items = []
        for z, pts in polygons(shape, 256 if shape.kind == "body" else 120):
            item = Dataset()
            ci = Dataset()
            ci.ReferencedSOPClassUID = CTImageStorage
            ci.ReferencedSOPInstanceUID = z_to_uid[round(z, 3)]
            item.ContourImageSequence = DicomSequence([ci])
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = pts.shape[0]
            item.ContourData = [f"{v:.4f}" for v in pts.ravel()]
            items.append(item)
        rc.ContourSequence = DicomSequence(items)
        contours.append(rc)
        o = Dataset()
        o.ObservationNumber = n
        o.ReferencedROINumber = n
        o.RTROIInterpretedType = {"Body": "EXTERNAL", "PTV": "PTV", "CTV": "CTV", "GTV": "GTV"}.get(
            shape.name, "ORGAN"
        )
        o.ROIInterpreter = ""
        obs.append(o)
    ds.StructureSetROISequence = DicomSequence(rois)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.RTROIObservationsSequence = DicomSequence(obs)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_rtdose(path: Path, dose: FloatArray, label: str) -> Path:
    sop = generate_uid(entropy_srcs=["rtplan-benchmark-rtdose", label])
    ds = Dataset()
    ds.file_meta = _meta(RT_DOSE, sop)
    ds.SOPClassUID = RT_DOSE
    ds.SOPInstanceUID = sop
    _patient(ds, "RTDOSE", generate_uid(entropy_srcs=["rtplan-benchmark-rd", label]))
    ds.PatientPosition = "HFS"
    ds.ImagePositionPatient = [f"{v:.6f}" for v in DOSE_ORIGIN]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [f"{DOSE_SPACING}", f"{DOSE_SPACING}"]
    ds.SliceThickness = f"{DOSE_SPACING}"
    ds.GridFrameOffsetVector = [f"{k * DOSE_SPACING:.4f}" for k in range(DOSE_SHAPE[0])]
    ds.FrameIncrementPointer = (0x3004, 0x000C)
    ds.NumberOfFrames = DOSE_SHAPE[0]
    ds.Rows, ds.Columns = DOSE_SHAPE[1], DOSE_SHAPE[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 32
    ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    scale = float(dose.max()) / 2.0**31
    ds.DoseGridScaling = f"{scale:.10e}"
    ds.PixelData = np.rint(dose / scale).astype("<u4").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_study(folder: Path) -> dict[str, Path]:
    """Write CT, RTSTRUCT, reference RTDOSE and evaluated RTDOSE; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    ct = folder / "ct"
    ct.mkdir(exist_ok=True)
    uids = write_ct(ct)
    rs = write_rtstruct(ct / "RS.dcm", uids)
    ref = write_rtdose(ct / "RD_plan.dcm", dose_model(), "plan")
    other = folder / "evaluated"
    other.mkdir(exist_ok=True)
    ev = write_rtdose(
        other / "RD_eval.dcm", dose_model((1.0, -0.5, 0.5), 1.015, 0.0047), "evaluated"
    )
    return {"study": ct, "rtstruct": rs, "rtdose": ref, "evaluated": ev}


if __name__ == "__main__":
    out = write_study(Path(sys.argv[1] if len(sys.argv) > 1 else "bench_study"))
    for k, v in out.items():
        print(k, v)
