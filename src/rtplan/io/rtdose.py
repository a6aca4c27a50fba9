"""DICOM RT Dose: read a dose grid into :class:`rtplan.Dose`, write one as an RT Dose IOD.

Geometry (DICOM PS3.3 C.7.6.2 and C.8.8.3.2):

* ImagePositionPatient is the centre of the first voxel of the first frame;
  ImageOrientationPatient gives the row (``i``) and column (``j``) direction cosines and
  PixelSpacing is ``(row spacing, column spacing)`` = ``(dj, di)``;
* GridFrameOffsetVector places the frames along the normal ``row x column``. When its
  first value is 0 the values are offsets from the first frame (*relative*); otherwise
  they are absolute z coordinates, which DICOM allows only for axial frames (*absolute*).

The reader returns frames sorted along the normal, so the grid's ``k`` axis is the normal
and its spacing is positive. The writer always uses the relative convention, places
ImagePositionPatient at the centre of voxel ``(0, 0, 0)`` and stores the dose as 32-bit
unsigned integers scaled by a DoseGridScaling chosen so that the maximum dose uses the
whole integer range: the round trip is exact within ``DoseGridScaling / 2``.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.errors import DicomReadError, DicomWriteError, GeometryError
from rtplan.grid import Grid
from rtplan.image import Dose, DoseMedium, Image, SeriesInfo
from rtplan.io._reader import dataset_patient_study, read_dataset
from rtplan.io._writer import ds_str, new_dataset, reference_series, save_dataset

__all__ = ["read_rtdose", "write_rtdose"]

logger = logging.getLogger(__name__)

RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"

DOSE_TYPES = ("PHYSICAL", "EFFECTIVE", "ERROR")
SUMMATION_TYPES = (
    "PLAN",
    "MULTI_PLAN",
    "PLAN_OVERVIEW",
    "FRACTION",
    "BEAM",
    "BRACHY",
    "FRACTION_SESSION",
    "BEAM_SESSION",
    "BRACHY_SESSION",
    "CONTROL_POINT",
    "RECORD",
)
#: Summation types this writer can reference correctly (what the plan reference needs).
WRITABLE_SUMMATIONS = ("PLAN", "MULTI_PLAN", "FRACTION", "BEAM")

_OFFSET_TOL_MM = 1e-3  # frames whose gaps differ by less than this are uniform
_ABSOLUTE_TOL_MM = 0.01  # first offset equal to the IPP z within this: absolute offsets
_COMMENT_RE = re.compile(r"dose to (?P<medium>medium|water)", re.IGNORECASE)
_FRACTIONS_RE = re.compile(r"(?P<n>\d+)\s+fractions?", re.IGNORECASE)

FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------- reading
def _floats(ds: Any, keyword: str, n: int | None, path: Path) -> FloatArray:
    value = ds.get(keyword)
    if value is None or (hasattr(value, "__len__") and len(value) == 0):
        raise DicomReadError(f"{path}: RT Dose lacks {keyword}; the dose grid cannot be placed")
    arr = np.atleast_1d(np.asarray([float(v) for v in np.atleast_1d(value)], dtype=np.float64))
    if n is not None and arr.size != n:
        raise DicomReadError(f"{path}: {keyword} must have {n} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise DicomReadError(f"{path}: {keyword} holds non-finite values {arr.tolist()}")
    return arr


def _frame_offsets(
    ds: Any, n_frames: int, ipp: FloatArray, normal: FloatArray, path: Path
) -> FloatArray:
    """Offsets of the frames along ``normal`` from ImagePositionPatient, mm."""
    if "GridFrameOffsetVector" not in ds or ds.GridFrameOffsetVector in (None, ""):
        if n_frames > 1:
            raise DicomReadError(
                f"{path}: multi-frame RT Dose ({n_frames} frames) lacks GridFrameOffsetVector "
                "(3004,000C); the frame positions are unknown"
            )
        return np.zeros(1)
    raw = _floats(ds, "GridFrameOffsetVector", None, path)
    if raw.size != n_frames:
        raise DicomReadError(
            f"{path}: GridFrameOffsetVector has {raw.size} values for {n_frames} frames"
        )
    first = float(raw[0])
    if first == 0.0:
        return raw
    if abs(first - ipp[2]) <= _ABSOLUTE_TOL_MM and abs(abs(normal[2]) - 1.0) < 1e-4:
        logger.debug("%s: GridFrameOffsetVector holds absolute z coordinates", path)
        return np.asarray((raw - ipp[2]) * np.sign(normal[2]), dtype=np.float64)
    warn(
        f"{path}: GridFrameOffsetVector starts at {first} mm, neither 0 (offsets relative to "
        f"the first frame) nor the ImagePositionPatient z {ipp[2]} mm (absolute z); the "
        "frames were placed relative to the first frame, at ImagePositionPatient"
    )
    return np.asarray(raw - first, dtype=np.float64)


def _resample_frames(values: FloatArray, offsets: FloatArray, step: float) -> FloatArray:
    """Linear interpolation of frames at ``offsets`` onto a uniform ``step`` along axis 0."""
    n = round((offsets[-1] - offsets[0]) / step) + 1
    new = offsets[0] + step * np.arange(n)
    idx = np.clip(np.searchsorted(offsets, new, side="right") - 1, 0, offsets.size - 2)
    w = (new - offsets[idx]) / (offsets[idx + 1] - offsets[idx])
    w = np.clip(w, 0.0, 1.0)[:, np.newaxis, np.newaxis]
    out: FloatArray = (1.0 - w) * values[idx] + w * values[idx + 1]
    return out


def _parse_comment(comment: str) -> tuple[DoseMedium, int | None]:
    medium = DoseMedium.MEDIUM
    m = _COMMENT_RE.search(comment)
    if m is not None and m.group("medium").lower() == "water":
        medium = DoseMedium.WATER
    f = _FRACTIONS_RE.search(comment)
    fractions = int(f.group("n")) if f is not None and int(f.group("n")) > 0 else None
    return medium, fractions


def _open(p: Path) -> Any:
    """The RT Dose dataset of a file, refused when it is another object or has no grid."""
    ds = read_dataset(p, "RT Dose")
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class != RT_DOSE_STORAGE and ds.get("Modality") != "RTDOSE":
        raise DicomReadError(
            f"{p}: not an RT Dose (SOP Class {sop_class or 'missing'}, Modality "
            f"{ds.get('Modality', 'missing')}); use the reader for that object"
        )
    if "PixelData" not in ds:
        raise DicomReadError(
            f"{p}: this RT Dose holds no dose grid (no Pixel Data; DVHs only); there is no "
            "dose volume to read"
        )
    return ds


@dataclass(frozen=True, slots=True)
class _Plane:
    """The in-plane geometry of the frames: first voxel centre, axes, pixel spacing."""

    ipp: FloatArray
    row: FloatArray
    col: FloatArray
    normal: FloatArray
    spacing: FloatArray  # (row spacing, column spacing), mm


def _plane(ds: Any, p: Path) -> _Plane:
    """ImagePositionPatient, ImageOrientationPatient and PixelSpacing, checked."""
    ipp = _floats(ds, "ImagePositionPatient", 3, p)
    iop = _floats(ds, "ImageOrientationPatient", 6, p)
    spacing = _floats(ds, "PixelSpacing", 2, p)
    if np.any(spacing <= 0):
        raise DicomReadError(f"{p}: PixelSpacing must be positive, got {spacing.tolist()}")
    row, col = iop[:3], iop[3:]
    if np.linalg.norm(row) == 0 or np.linalg.norm(col) == 0:
        raise DicomReadError(f"{p}: ImageOrientationPatient has a zero vector {iop.tolist()}")
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    if abs(float(row @ col)) > 1e-4:
        raise DicomReadError(
            f"{p}: ImageOrientationPatient row and column cosines are not orthogonal "
            f"({iop.tolist()})"
        )
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    return _Plane(ipp=ipp, row=row, col=col, normal=normal, spacing=spacing)


def _stored_values(ds: Any, p: Path, n_frames: int) -> FloatArray:
    """The Pixel Data times DoseGridScaling, ``(frame, row, column)``."""
    try:
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises several types for undecodable pixel data
        raise DicomReadError(f"{p}: the dose Pixel Data cannot be decoded ({exc})") from exc
    bits = int(ds.get("BitsAllocated", 0))
    if bits not in (16, 32):
        warn(f"{p}: BitsAllocated is {bits}; RT Dose allows 16 or 32; values read as stored")
    values = np.asarray(pixels, dtype=np.float64).reshape(n_frames, int(ds.Rows), int(ds.Columns))
    if "DoseGridScaling" in ds and ds.DoseGridScaling not in (None, ""):
        scaling = float(ds.DoseGridScaling)
    else:
        warn(f"{p}: DoseGridScaling (3004,000E) is missing; stored values taken as doses (x1)")
        scaling = 1.0
    values *= scaling
    return values


def _to_gy(values: FloatArray, ds: Any, p: Path, reference_dose_gy: float | None) -> FloatArray:
    """The values in Gy, by DoseUnits (GY; RELATIVE with a reference dose; cGy)."""
    units = str(ds.get("DoseUnits", "") or "").upper()
    if units == "RELATIVE":
        if reference_dose_gy is None:
            raise DicomReadError(
                f"{p}: DoseUnits is RELATIVE; relative dose cannot be converted to Gy without "
                "a reference; pass reference_dose_gy=<Gy that a value of 1 stands for>"
            )
        return values * float(reference_dose_gy)
    if units == "CGY":
        warn(f"{p}: DoseUnits 'CGY' is not a DICOM value (GY or RELATIVE); converted cGy to Gy")
        return values / 100.0
    if units != "GY":
        warn(f"{p}: DoseUnits is {units or 'missing'!r}; the values were taken as Gy")
    return values


def _dose_kind(ds: Any, p: Path, values: FloatArray) -> tuple[str, str]:
    """DoseType and DoseSummationType, unknown ones reported (and negative doses)."""
    dose_type = str(ds.get("DoseType", "") or "").upper()
    if dose_type not in DOSE_TYPES:
        warn(
            f"{p}: DoseType {dose_type or 'missing'!r} is not one of {', '.join(DOSE_TYPES)}; "
            "PHYSICAL assumed"
        )
        dose_type = "PHYSICAL"
    summation = str(ds.get("DoseSummationType", "") or "").upper()
    if summation not in SUMMATION_TYPES:
        warn(
            f"{p}: DoseSummationType {summation or 'missing'!r} is unknown; kept as "
            f"{summation or 'PLAN'!r}"
        )
        summation = summation or "PLAN"
    if dose_type != "ERROR" and np.any(values < 0):
        warn(
            f"{p}: a {dose_type} dose holds negative values (minimum {values.min():.6g} Gy); "
            "kept as read"
        )
    return dose_type, summation


def _uniform_frames(
    values: FloatArray, offsets: FloatArray, p: Path, nonuniform: str
) -> tuple[FloatArray, FloatArray, float]:
    """Frames sorted along the normal and equally spaced: ``(values, offsets, step)``.

    Raises
    ------
    DicomReadError
        If two frames share an offset, or the gaps differ and ``nonuniform`` is
        ``"error"``.
    """
    order = np.argsort(offsets, kind="stable")
    offsets, values = offsets[order], values[order]
    if not np.all(order == np.arange(order.size)):
        logger.debug("%s: frames reordered along the slice normal", p)
    gaps = np.diff(offsets)
    if np.any(gaps <= _OFFSET_TOL_MM):
        dup = int(np.argmax(gaps <= _OFFSET_TOL_MM))
        raise DicomReadError(
            f"{p}: two dose frames lie at the same offset {offsets[dup]:.4g} mm "
            "(GridFrameOffsetVector repeats a value)"
        )
    step = float(np.median(gaps))
    if float(gaps.max() - gaps.min()) <= _OFFSET_TOL_MM:
        return values, offsets, step
    worst = int(np.argmax(np.abs(gaps - step)))
    message = (
        f"{p}: dose frames are not equally spaced: gaps from {gaps.min():.4g} to "
        f"{gaps.max():.4g} mm (frames {worst} and {worst + 1} are {gaps[worst]:.4g} "
        "mm apart)"
    )
    if nonuniform == "error":
        raise DicomReadError(
            message + "; pass nonuniform='resample' to interpolate onto uniform frames"
        )
    extent = float(offsets[-1] - offsets[0])
    step = extent / math.ceil(extent / float(gaps.min()) - 1e-9)
    values = _resample_frames(values, offsets, step)
    logger.info("%s; resampled to %d frames %.4g mm apart", message, values.shape[0], step)
    return values, offsets, step


def _dose_grid(
    plane: _Plane, first_offset: float, step: float, shape: tuple[int, ...], p: Path
) -> Grid:
    origin = plane.ipp + first_offset * plane.normal
    try:
        return Grid(
            shape=(int(shape[0]), int(shape[1]), int(shape[2])),
            spacing_mm=(step, float(plane.spacing[0]), float(plane.spacing[1])),
            origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
            direction=np.stack([plane.row, plane.col, plane.normal], axis=1),
        )
    except GeometryError as exc:
        raise DicomReadError(f"{p}: invalid dose grid geometry ({exc})") from exc


def _series_info(ds: Any, p: Path) -> SeriesInfo:
    return SeriesInfo(
        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        sop_instance_uids=(str(ds.get("SOPInstanceUID", "")),),
        files=(p,),
        modality="RTDOSE",
        patient=dataset_patient_study(ds),
    )


def read_rtdose(
    path: str | os.PathLike[str],
    *,
    nonuniform: Literal["error", "resample"] = "error",
    reference_dose_gy: float | None = None,
) -> Dose:
    """Read a DICOM RT Dose grid.

    Parameters
    ----------
    path : str or path-like
        The RT Dose file.
    nonuniform : {"error", "resample"}
        What to do when the frames are not equally spaced: raise (default), or
        interpolate linearly onto equally spaced frames from the first to the last, at
        most the smallest gap apart.
    reference_dose_gy : float, optional
        Dose in Gy that a RELATIVE value of 1 stands for; needed to read a dose whose
        DoseUnits is RELATIVE (it is multiplied by this value).

    Returns
    -------
    Dose
        Float64 array ``(frame, row, column)`` in Gy, frames ordered along the slice
        normal ``row x column``; ``dose_type`` and ``summation`` hold DoseType and
        DoseSummationType; ``series`` holds the UIDs and patient attributes;
        ``plan_uid`` the SOP Instance UID of the RT Plan it references.

    Raises
    ------
    DicomReadError
        If the file is not an RT Dose, holds no dose grid (DVH only), lacks a geometry
        tag, its frames are unequally spaced (with ``nonuniform="error"``) or repeated,
        or its dose is RELATIVE and no ``reference_dose_gy`` is given.

    Warns
    -----
    RtplanWarning
        For a missing DoseGridScaling (1 assumed), cGy units (converted), an unknown
        DoseType or DoseSummationType (kept), or a GridFrameOffsetVector in neither
        convention.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> dose = rtplan.Dose(array=np.full(ct.grid.shape, 2.0), grid=ct.grid)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     rd = rtplan.io.write_rtdose(dose, Path(tmp, "RD.dcm"), reference=ct,
    ...                                 plan_sop_uid="1.2.826.0.1.3680043.10.1")
    ...     back = rtplan.io.read_rtdose(rd)
    >>> back.grid == ct.grid, round(back.max_gy, 6), back.plan_uid
    (True, 2.0, '1.2.826.0.1.3680043.10.1')
    """
    p = Path(path)
    if nonuniform not in ("error", "resample"):
        raise ValueError(f"nonuniform must be 'error' or 'resample', got {nonuniform!r}")
    ds = _open(p)
    plane = _plane(ds, p)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    offsets = _frame_offsets(ds, n_frames, plane.ipp, plane.normal, p)
    values = _to_gy(_stored_values(ds, p, n_frames), ds, p, reference_dose_gy)
    dose_type, summation = _dose_kind(ds, p, values)
    if n_frames > 1:
        values, offsets, step = _uniform_frames(values, offsets, p, nonuniform)
    else:
        thickness = ds.get("SliceThickness")
        step = float(thickness) if thickness not in (None, "") and float(thickness) > 0 else 1.0
    medium, fractions = _parse_comment(str(ds.get("DoseComment", "") or ""))
    return Dose(
        array=values,
        grid=_dose_grid(plane, float(offsets[0]), step, values.shape, p),
        name=str(ds.get("SeriesDescription", "") or "RTDOSE"),
        series=_series_info(ds, p),
        dose_type=dose_type,
        summation=summation,
        medium=medium,
        fractions=fractions,
        plan_uid=_referenced_plan_uid(ds),
    )


def _referenced_plan_uid(ds: Any) -> str:
    """SOP Instance UID of the first Referenced RT Plan, or an empty string."""
    seq = ds.get("ReferencedRTPlanSequence") or []
    for item in seq:
        uid = str(item.get("ReferencedSOPInstanceUID", "") or "")
        if uid:
            return uid
    return ""


# ---------------------------------------------------------------------------- writing
def _scaling(max_abs_gy: float, int_max: int) -> float:
    """The smallest DoseGridScaling (a DS value) mapping ``max_abs_gy`` to at most ``int_max``."""
    if max_abs_gy <= 0:
        return 1.0
    target = max_abs_gy / int_max
    for bump in (0.0, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6):
        s = float(ds_str(target * (1.0 + bump)))
        if s > 0 and round(max_abs_gy / s) <= int_max:
            return s
    raise DicomWriteError(f"no DoseGridScaling fits a maximum dose of {max_abs_gy} Gy")


def _checked_values(dose: Dose) -> tuple[FloatArray, str]:
    """The dose values and DoseType, refused when they cannot be written."""
    values = np.asarray(dose.array, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise DicomWriteError(
            f"dose {dose.name!r} holds {int(np.count_nonzero(~np.isfinite(values)))} NaN or "
            "infinite values; fill them (e.g. with 0) before writing"
        )
    dose_type = str(dose.dose_type).upper()
    if dose_type not in DOSE_TYPES:
        raise DicomWriteError(
            f"dose {dose.name!r}: DoseType {dose.dose_type!r} is not one of {DOSE_TYPES}"
        )
    vmin = float(values.min()) if values.size else 0.0
    if vmin < 0 and dose_type != "ERROR":
        raise DicomWriteError(
            f"dose {dose.name!r} has negative values (minimum {vmin:.6g} Gy); a {dose_type} "
            "dose cannot be negative: fix the computation or clip it explicitly with "
            "dose.with_array(numpy.clip(dose.array, 0, None)) before writing"
        )
    return values, dose_type


def _plan_uids(
    dose: Dose, summation: str, plan_sop_uid: str | Sequence[str] | None, beam_number: int | None
) -> list[str]:
    """The RT Plans to reference, checked against what the summation type requires."""
    if summation not in WRITABLE_SUMMATIONS:
        raise DicomWriteError(
            f"dose {dose.name!r}: DoseSummationType {summation!r} cannot be written by rtplan "
            f"(supported: {', '.join(WRITABLE_SUMMATIONS)})"
        )
    plan_uids = [plan_sop_uid] if isinstance(plan_sop_uid, str) else list(plan_sop_uid or [])
    if not plan_uids and dose.plan_uid:
        plan_uids = [dose.plan_uid]
    if not plan_uids:
        raise DicomWriteError(
            f"dose {dose.name!r}: DoseSummationType {summation} requires a Referenced RT Plan "
            "Sequence (DICOM PS3.3 C.8.8.3); pass plan_sop_uid= the SOP Instance UID of the "
            "RT Plan (e.g. the one rtplan.io.write_rtplan wrote)"
        )
    if summation != "MULTI_PLAN" and len(plan_uids) > 1:
        raise DicomWriteError(
            f"dose {dose.name!r}: {len(plan_uids)} plans referenced for a {summation} dose; "
            "only MULTI_PLAN may reference several"
        )
    if summation == "BEAM" and beam_number is None:
        raise DicomWriteError(f"dose {dose.name!r}: a BEAM dose needs beam_number=")
    return plan_uids


def _offsets_along_normal(dose: Dose) -> FloatArray:
    """GridFrameOffsetVector: the slices' offsets along ``row x column``, mm."""
    grid = dose.grid
    row, col, kdir = grid.direction[:, 0], grid.direction[:, 1], grid.direction[:, 2]
    along = float(kdir @ np.cross(row, col))
    if abs(abs(along) - 1.0) > 1e-6:
        raise DicomWriteError(
            f"dose {dose.name!r}: its slices are not stacked along the normal of its rows and "
            "columns; resample it onto a grid with orthogonal axes"
        )
    return np.asarray(np.sign(along) * grid.spacing_mm[0] * np.arange(grid.shape[0]))


def _to_integers(
    values: FloatArray, bits_allocated: int, signed: bool, name: str
) -> tuple[npt.NDArray[Any], float]:
    """Integers of ``bits_allocated`` bits and the DoseGridScaling they are scaled by."""
    if bits_allocated not in (16, 32):
        raise DicomWriteError(f"bits_allocated must be 16 or 32, got {bits_allocated!r}")
    bits = int(bits_allocated)
    int_max = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    max_abs = float(np.abs(values).max()) if values.size else 0.0
    scaling = _scaling(max_abs, int_max)
    stored = np.rint(values / scaling)
    if stored.max(initial=0) > int_max or stored.min(initial=0) < -int_max:
        raise DicomWriteError(f"dose {name!r}: scaled values overflow {bits} bits")
    return stored.astype(f"<{'i' if signed else 'u'}{bits // 8}"), scaling


def _referenced_plans(plan_uids: Sequence[str], summation: str, beam_number: int | None) -> Any:
    """The Referenced RT Plan Sequence (with fraction group and beam where needed)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    refs = []
    for uid in plan_uids:
        item = Dataset()
        item.ReferencedSOPClassUID = RT_PLAN_STORAGE
        item.ReferencedSOPInstanceUID = uid
        if summation in ("FRACTION", "BEAM"):
            fg = Dataset()
            fg.ReferencedFractionGroupNumber = 1
            if summation == "BEAM":
                beam = Dataset()
                beam.ReferencedBeamNumber = int(beam_number or 0)
                fg.ReferencedBeamSequence = DicomSequence([beam])
            item.ReferencedFractionGroupSequence = DicomSequence([fg])
        refs.append(item)
    return DicomSequence(refs)


def _image_modules(ds: Any, grid: Grid, stored: npt.NDArray[Any]) -> None:
    """Image Plane, Image Pixel and Multi-frame modules; the Pixel Data."""
    row, col = grid.direction[:, 0], grid.direction[:, 1]
    bits = stored.dtype.itemsize * 8
    ds.ContentDate = ds.InstanceCreationDate
    ds.ContentTime = ds.InstanceCreationTime
    ds.ImagePositionPatient = [ds_str(v) for v in grid.origin_mm]
    ds.ImageOrientationPatient = [ds_str(v) for v in (*row, *col)]
    ds.PixelSpacing = [ds_str(grid.spacing_mm[1]), ds_str(grid.spacing_mm[2])]
    ds.SliceThickness = ds_str(grid.spacing_mm[0])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = grid.shape[1], grid.shape[2]
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    ds.NumberOfFrames = grid.shape[0]
    ds.FrameIncrementPointer = 0x3004000C
    ds.PixelData = stored.tobytes()


def write_rtdose(
    dose: Dose,
    path: str | os.PathLike[str],
    *,
    reference: Image | None = None,
    plan_sop_uid: str | Sequence[str] | None = None,
    beam_number: int | None = None,
    bits_allocated: Literal[16, 32] = 32,
    series_description: str = "rtplan dose",
) -> Path:
    """Write a dose as a DICOM RT Dose (multi-frame, integers scaled to the full range).

    Parameters
    ----------
    dose : Dose
        Dose in Gy on any grid (any orientation); the frames are the grid's slices and
        ImagePositionPatient is the centre of voxel ``(0, 0, 0)``.
    path : str or path-like
        Output file; its folder is created.
    reference : Image, optional
        The CT the dose belongs to: its Frame of Reference, Study and Patient are used.
        Defaults to the provenance of ``dose`` itself (a dose read from DICOM).
    plan_sop_uid : str or sequence of str, optional
        SOP Instance UID of the RT Plan (several for MULTI_PLAN) written to the
        ReferencedRTPlanSequence, which DICOM requires for the summation types PLAN,
        MULTI_PLAN, FRACTION and BEAM.
    beam_number : int, optional
        The plan's Beam Number, required for a BEAM dose.
    bits_allocated : {32, 16}
        Integer size of the stored values: 32 (default, resolution about max / 4.3e9) or
        16 (max / 65535), for systems that read only 16-bit dose.
    series_description : str
        Series Description of the new series.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    DicomWriteError
        If the dose holds NaN or negative values (a PHYSICAL or EFFECTIVE dose), no frame
        of reference is known, the summation type needs a plan (or beam) reference that
        was not given, or its slices are not along the normal of its rows and columns.

    Notes
    -----
    The stored integers are ``round(dose / DoseGridScaling)``; DoseGridScaling is the
    smallest DS value that keeps the maximum dose within the unsigned integer range
    (2**32 - 1 for 32 bits), so nothing is clipped and each voxel is within
    ``DoseGridScaling / 2`` of the original. A dose of type ERROR may be negative and is
    stored as signed integers.

    Both sizes are valid DICOM. The Debian dicom3tools validator (``dciodvfy``,
    1.00~20220618) aborts on any 32-bit Pixel Data, so the tests validate 32-bit files
    with their values re-encoded as 16-bit (every other attribute as written) and 16-bit
    files as written (``tests/io/test_written_objects_validate.py``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pydicom
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> dose = rtplan.Dose(array=np.full(ct.grid.shape, 2.0), grid=ct.grid)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     rd = rtplan.io.write_rtdose(dose, Path(tmp, "RD.dcm"), reference=ct,
    ...                                 plan_sop_uid="1.2.826.0.1.3680043.10.1")
    ...     ds = pydicom.dcmread(rd, stop_before_pixels=True)
    >>> ds.Modality, ds.DoseUnits, ds.FrameOfReferenceUID == ct.series.frame_of_reference_uid
    ('RTDOSE', 'GY', True)
    """
    if not isinstance(dose, Dose):
        raise DicomWriteError(f"write_rtdose needs an rtplan.Dose, got {type(dose).__name__}")
    series = reference_series("an RT Dose", reference, dose.series)
    values, dose_type = _checked_values(dose)
    summation = str(dose.summation).upper()
    plan_uids = _plan_uids(dose, summation, plan_sop_uid, beam_number)
    offsets = _offsets_along_normal(dose)
    stored, scaling = _to_integers(values, bits_allocated, dose_type == "ERROR", dose.name)

    ds = new_dataset(
        sop_class_uid=RT_DOSE_STORAGE,
        modality="RTDOSE",
        reference=series,
        series_description=series_description,
        instance_number=1,
    )
    _image_modules(ds, dose.grid, stored)
    # RT Dose
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    ds.DoseSummationType = summation
    medium = "water" if dose.medium is DoseMedium.WATER else "medium"
    comment = f"dose to {medium}"
    if dose.fractions:
        comment += f"; {int(dose.fractions)} fractions"
    ds.DoseComment = comment
    ds.GridFrameOffsetVector = [ds_str(v) for v in offsets]
    ds.DoseGridScaling = ds_str(scaling)
    ds.ReferencedRTPlanSequence = _referenced_plans(plan_uids, summation, beam_number)
    return save_dataset(ds, path)
