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
from rtplan.errors import DicomReadError, DicomWriteError, DoseError, GeometryError
from rtplan.grid import Grid
from rtplan.image import Dose, DoseMedium, DoseSummationType, DoseType, Image, SeriesInfo
from rtplan.io._reader import (
    check_array_bytes,
    dataset_patient_study,
    integer,
    numbers,
    optional_number,
    optional_numbers,
    pixel_values,
    pydicom_warnings,
    read_dataset,
    text,
)
from rtplan.io._writer import ds_str, new_dataset, reference_series, save_dataset
from rtplan.io.deidentify import Deidentifier
from rtplan.plan import Plan

__all__ = ["MAX_DOSE_GY", "read_rtdose", "write_rtdose"]

logger = logging.getLogger(__name__)

RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"

#: Summation types this writer can reference correctly (what the plan reference needs).
WRITABLE_SUMMATIONS = ("PLAN", "MULTI_PLAN", "FRACTION", "BEAM")

MAX_DOSE_GY = 1e4
"""Doses above this (Gy) are refused on reading: no treatment gives them, a corrupt
DoseGridScaling or Pixel Data does."""
_NEGLIGIBLE_GY = 1e-4  # a treatment dose whose maximum is below this is reported
_MAX_COORDINATE_MM = 1e6  # positions beyond a kilometre are corrupt values
_MIN_SPACING_MM, _MAX_SPACING_MM = 1e-3, 1e3
_OFFSET_TOL_MM = 1e-3  # frames whose gaps differ by less than this are uniform
_ABSOLUTE_TOL_MM = 0.01  # first offset equal to the IPP z within this: absolute offsets
_COMMENT_RE = re.compile(r"dose to (?P<medium>medium|water)", re.IGNORECASE)
_FRACTIONS_RE = re.compile(r"(?P<n>\d+)\s+fractions?", re.IGNORECASE)

FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------- reading
def _frame_offsets(
    ds: Any, n_frames: int, ipp: FloatArray, normal: FloatArray, p: Path
) -> FloatArray:
    """Offsets of the frames along ``normal`` from ImagePositionPatient, mm."""
    raw = optional_numbers(
        ds, "GridFrameOffsetVector", str(p), why="the frame positions are unknown"
    )
    if raw is None:
        if n_frames > 1:
            raise DicomReadError(
                f"{p}: multi-frame RT Dose ({n_frames} frames) lacks GridFrameOffsetVector "
                "(3004,000C); the frame positions are unknown"
            )
        return np.zeros(1)
    if raw.size != n_frames:
        raise DicomReadError(
            f"{p}: GridFrameOffsetVector (3004,000C) has {raw.size} values for {n_frames} "
            "frames (NumberOfFrames)"
        )
    if np.any(np.abs(raw) > _MAX_COORDINATE_MM):
        raise DicomReadError(
            f"{p}: GridFrameOffsetVector (3004,000C) holds offsets beyond "
            f"{_MAX_COORDINATE_MM:g} mm ({np.abs(raw).max():g} mm); the file is corrupt"
        )
    first = float(raw[0])
    if first == 0.0:
        return raw
    if abs(first - ipp[2]) <= _ABSOLUTE_TOL_MM and abs(abs(normal[2]) - 1.0) < 1e-4:
        logger.debug("%s: GridFrameOffsetVector holds absolute z coordinates", p)
        return np.asarray((raw - ipp[2]) * np.sign(normal[2]), dtype=np.float64)
    warn(
        f"{p}: GridFrameOffsetVector starts at {first} mm, neither 0 (offsets relative to "
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
    fractions = int(f.group("n")) if f is not None and 0 < int(f.group("n")) <= 10_000 else None
    return medium, fractions


def _open(p: Path) -> Any:
    """The RT Dose dataset of a file, refused when it is another object or has no grid."""
    ds = read_dataset(p, "RT Dose")
    sop_class = text(ds, "SOPClassUID")
    modality = text(ds, "Modality")
    if sop_class != RT_DOSE_STORAGE and modality != "RTDOSE":
        raise DicomReadError(
            f"{p}: not an RT Dose (SOP Class {sop_class or 'missing'}, Modality "
            f"{modality or 'missing'}); use the reader for that object"
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
    where = str(p)
    why = "the dose grid cannot be placed"
    ipp = numbers(ds, "ImagePositionPatient", where, count=3, why=why)
    if np.any(np.abs(ipp) > _MAX_COORDINATE_MM):
        raise DicomReadError(
            f"{p}: ImagePositionPatient (0020,0032) {ipp.tolist()} lies beyond "
            f"{_MAX_COORDINATE_MM:g} mm from the origin; the file is corrupt"
        )
    iop = numbers(ds, "ImageOrientationPatient", where, count=6, why=why)
    spacing = numbers(ds, "PixelSpacing", where, count=2, why=why)
    if np.any(spacing < _MIN_SPACING_MM) or np.any(spacing > _MAX_SPACING_MM):
        raise DicomReadError(
            f"{p}: PixelSpacing (0028,0030) {spacing.tolist()} mm is outside "
            f"{_MIN_SPACING_MM:g} to {_MAX_SPACING_MM:g} mm"
        )
    row, col = iop[:3], iop[3:]
    norms = np.array([np.linalg.norm(row), np.linalg.norm(col)])
    if np.any(norms < 1e-6):
        raise DicomReadError(f"{p}: ImageOrientationPatient has a zero vector {iop.tolist()}")
    row, col = row / norms[0], col / norms[1]
    if abs(float(row @ col)) > 1e-4:
        raise DicomReadError(
            f"{p}: ImageOrientationPatient row and column cosines are not orthogonal "
            f"({iop.tolist()})"
        )
    if np.any(np.abs(norms - 1.0) > 1e-3):
        warn(
            f"{p}: ImageOrientationPatient (0020,0037) {iop.tolist()} are not unit vectors "
            f"(lengths {norms.round(4).tolist()}); they were normalised"
        )
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    return _Plane(ipp=ipp, row=row, col=col, normal=normal, spacing=spacing)


def _stored_values(ds: Any, p: Path, n_frames: int) -> FloatArray:
    """The Pixel Data times DoseGridScaling, ``(frame, row, column)``."""
    pixels = pixel_values(ds, p, "RT Dose", frames=n_frames, bits_allowed=(16, 32))
    values = np.asarray(pixels, dtype=np.float64)
    scaling = optional_number(
        ds,
        "DoseGridScaling",
        str(p),
        check=lambda v: v > 0,
        expected="positive",
        why="the dose values cannot be scaled to Gy",
    )
    if scaling is None:
        warn(f"{p}: DoseGridScaling (3004,000E) is missing; stored values taken as doses (x1)")
        scaling = 1.0
    values *= scaling
    return values


def _to_gy(values: FloatArray, ds: Any, p: Path, reference_dose_gy: float | None) -> FloatArray:
    """The values in Gy, by DoseUnits (GY; RELATIVE with a reference dose; cGy)."""
    units = text(ds, "DoseUnits").upper()
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


def _check_magnitude(values: FloatArray, ds: Any, p: Path, dose_type: DoseType) -> None:
    """Refuse doses no treatment gives (a corrupt DoseGridScaling); report negligible ones."""
    if not values.size:
        return
    top = float(np.abs(values).max())
    scaling = text(ds, "DoseGridScaling") or "missing"
    if top > MAX_DOSE_GY:
        raise DicomReadError(
            f"{p}: the dose reaches {top:.4g} Gy, above the {MAX_DOSE_GY:g} Gy no treatment "
            f"gives: DoseGridScaling (3004,000E) {scaling} or the Pixel Data is corrupt"
        )
    if dose_type is not DoseType.ERROR and 0.0 < top < _NEGLIGIBLE_GY:
        warn(
            f"{p}: the maximum dose is {top:.3g} Gy, negligible for a treatment: check "
            f"DoseGridScaling (3004,000E) {scaling}; the values were kept as read"
        )


def _dose_kind(ds: Any, p: Path, values: FloatArray) -> tuple[DoseType, DoseSummationType]:
    """DoseType and DoseSummationType, refused when missing or unknown (and negative doses).

    Both are Type 1: without them what the values mean (a whole plan or one fraction, a
    physical dose or an error map) is unknown, and guessing would evaluate a fraction as
    a plan.
    """
    kinds: list[Any] = []
    for keyword, tag, vocabulary in (
        ("DoseType", "(3004,0004)", DoseType),
        ("DoseSummationType", "(3004,000A)", DoseSummationType),
    ):
        raw = text(ds, keyword)
        try:
            kinds.append(vocabulary(raw))
        except DoseError:
            choices = ", ".join(m.value for m in vocabulary)
            found = f"{raw[:40]!r}" if raw else "missing"
            raise DicomReadError(
                f"{p}: {keyword} {tag} is {found}, not one of {choices}; what the dose "
                "values mean is unknown, so they are not read: fix the file (the planning "
                "system that exported it knows its summation and dose type)"
            ) from None
    dose_type, summation = kinds
    if dose_type is not DoseType.ERROR and np.any(values < 0):
        warn(
            f"{p}: a {dose_type.value} dose holds negative values (minimum {values.min():.6g} "
            "Gy); kept as read"
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
        ``"error"`` (or resampling would exceed the read limit).
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
    n_new = math.ceil(extent / float(gaps.min()) - 1e-9)
    check_array_bytes(
        (n_new + 1) * values[0].size * 8, str(p), f"resampling the dose onto {n_new + 1} frames"
    )
    step = extent / n_new
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
        study_instance_uid=text(ds, "StudyInstanceUID"),
        series_instance_uid=text(ds, "SeriesInstanceUID"),
        frame_of_reference_uid=text(ds, "FrameOfReferenceUID"),
        sop_class_uid=text(ds, "SOPClassUID"),
        sop_instance_uids=(text(ds, "SOPInstanceUID"),),
        files=(p,),
        modality="RTDOSE",
        patient=dataset_patient_study(ds),
    )


def _single_frame_step(ds: Any, p: Path) -> float:
    """The thickness of a single-frame dose: SliceThickness, else 1 mm (reported)."""
    thickness = optional_number(
        ds, "SliceThickness", str(p), check=lambda v: v > 0, expected="positive"
    )
    if thickness is None:
        warn(
            f"{p}: a single-frame RT Dose without SliceThickness (0018,0050); its frame was "
            "taken as 1 mm thick (voxel volumes, DVHs)"
        )
        return 1.0
    return thickness


def _fractions(
    ds: Any, p: Path, comment_fractions: int | None, plan: Plan | None, plan_uid: str
) -> int | None:
    """The number of fractions: from the plan given (its fraction group), else DoseComment."""
    if plan is None:
        return comment_fractions
    if plan_uid and plan.uid != plan_uid:
        raise DicomReadError(
            f"{p}: the RT Dose references the RT Plan {plan_uid}, not the plan given "
            f"({plan.uid}); pass the plan it was computed for"
        )
    groups: dict[int, int] = plan.extra.get("fraction_groups") or {}
    group = _referenced_fraction_group(ds)
    fractions = groups.get(group, plan.fractions) if group is not None else plan.fractions
    if comment_fractions is not None and comment_fractions != fractions:
        warn(
            f"{p}: DoseComment says {comment_fractions} fractions but the plan "
            f"{plan.name!r} plans {fractions}; the plan's number was used"
        )
    return fractions


def _check_against_plan(dose: Dose, plan: Plan | None, p: Path) -> None:
    """Report a dose whose size contradicts its summation type, given its plan.

    A whole-plan dose whose maximum is what one fraction of the prescription gives (or a
    per-fraction dose as high as the whole prescription) is most likely labelled with the
    wrong DoseSummationType: evaluated as labelled, every dose limit would be off by the
    number of fractions.
    """
    kind = DoseSummationType(dose.summation_type)
    if plan is None or plan.prescription_gy is None or dose.dose_type != DoseType.PHYSICAL:
        return
    n = dose.fractions or plan.fractions
    rx, top = float(plan.prescription_gy), dose.max_gy
    if n < 3 or top <= 0:
        return
    if kind.is_total and top < 1.5 * rx / n:
        warn(
            f"{p}: this {kind.value} dose reaches {top:.4g} Gy, about what one fraction of "
            f"the plan's {rx:g} Gy in {n} fractions gives: it may be a per-fraction dose "
            "labelled as a whole-plan one; check its DoseSummationType (3004,000A)"
        )
    elif kind.is_per_fraction and top > 0.5 * rx:
        warn(
            f"{p}: this {kind.value} dose reaches {top:.4g} Gy, of the order of the plan's "
            f"whole {rx:g} Gy in {n} fractions: it may be a whole-plan dose labelled as one "
            "fraction; check its DoseSummationType (3004,000A)"
        )


def read_rtdose(
    path: str | os.PathLike[str],
    *,
    nonuniform: Literal["error", "resample"] = "error",
    reference_dose_gy: float | None = None,
    plan: Plan | None = None,
) -> Dose:
    """Read a DICOM RT Dose grid and what it means.

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
    plan : Plan, optional
        The RT Plan the dose references (:func:`rtplan.io.read_rtplan`): the dose's
        ``fractions`` are taken from it (the fraction group the dose references, else
        the plan's first). :func:`rtplan.load_study` passes the study's plan.

    Returns
    -------
    Dose
        Float64 array ``(frame, row, column)`` in Gy, frames ordered along the slice
        normal ``row x column``; ``summation_type`` and ``dose_type`` from
        DoseSummationType and DoseType; ``fractions`` from ``plan``, else from an rtplan
        DoseComment (``"...; 25 fractions"``), else None; ``series`` holds the UIDs and
        patient attributes; ``plan_uid`` the SOP Instance UID of the RT Plan it
        references.

    Raises
    ------
    DicomReadError
        If the file is not an RT Dose, holds no dose grid (DVH only), lacks or holds an
        invalid geometry tag, DoseType or DoseSummationType; its Image Pixel module
        disagrees with its Pixel Data; its DoseGridScaling is not a positive number or
        makes a dose above :data:`MAX_DOSE_GY`; its frames are unequally spaced (with
        ``nonuniform="error"``) or repeated; its dose is RELATIVE and no
        ``reference_dose_gy`` is given; or ``plan`` is not the plan it references.

    Warns
    -----
    RtplanWarning
        For a missing DoseGridScaling (1 assumed), cGy units (converted), negative or
        negligible doses, a single frame without SliceThickness, orientation cosines
        that are not unit vectors (normalised), a referenced plan without UID, or a
        GridFrameOffsetVector in neither convention.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> dose = rtplan.Dose(array=np.full(ct.grid.shape, 2.0), grid=ct.grid, fractions=25)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     rd = rtplan.io.write_rtdose(dose, Path(tmp, "RD.dcm"), reference=ct,
    ...                                 plan_sop_uid="1.2.826.0.1.3680043.10.1")
    ...     back = rtplan.io.read_rtdose(rd)
    >>> back.grid == ct.grid, round(back.max_gy, 6), back.plan_uid
    (True, 2.0, '1.2.826.0.1.3680043.10.1')
    >>> back.summation_type.value, back.dose_type.value, back.fractions
    ('PLAN', 'PHYSICAL', 25)
    """
    p = Path(path)
    if nonuniform not in ("error", "resample"):
        raise ValueError(f"nonuniform must be 'error' or 'resample', got {nonuniform!r}")
    with pydicom_warnings(p):
        return _read(p, nonuniform, reference_dose_gy, plan)


def _read(p: Path, nonuniform: str, reference_dose_gy: float | None, plan: Plan | None) -> Dose:
    """The body of :func:`read_rtdose`."""
    ds = _open(p)
    plane = _plane(ds, p)
    n_frames = integer(ds, "NumberOfFrames", str(p), default=1, minimum=1)
    offsets = _frame_offsets(ds, n_frames, plane.ipp, plane.normal, p)
    values = _to_gy(_stored_values(ds, p, n_frames), ds, p, reference_dose_gy)
    dose_type, summation = _dose_kind(ds, p, values)
    _check_magnitude(values, ds, p, dose_type)
    if n_frames > 1:
        values, offsets, step = _uniform_frames(values, offsets, p, nonuniform)
    else:
        step = _single_frame_step(ds, p)
    medium, comment_fractions = _parse_comment(text(ds, "DoseComment"))
    plan_uid = _referenced_plan_uid(ds, p)
    _check_references(ds, p, summation)
    dose = Dose(
        array=values,
        grid=_dose_grid(plane, float(offsets[0]), step, values.shape, p),
        name=text(ds, "SeriesDescription") or "RTDOSE",
        series=_series_info(ds, p),
        dose_type=dose_type,
        summation_type=summation,
        medium=medium,
        fractions=_fractions(ds, p, comment_fractions, plan, plan_uid),
        plan_uid=plan_uid,
    )
    _check_against_plan(dose, plan, p)
    return dose


def _referenced_plan_uid(ds: Any, p: Path) -> str:
    """SOP Instance UID of the first Referenced RT Plan, or an empty string."""
    seq = ds.get("ReferencedRTPlanSequence") or []
    for item in seq:
        uid = text(item, "ReferencedSOPInstanceUID")
        if uid:
            return uid
    if any("ReferencedSOPInstanceUID" not in item for item in seq):  # empty: a writer's habit
        warn(
            f"{p}: the ReferencedRTPlanSequence (300C,0002) names no ReferencedSOPInstanceUID "
            "(0008,1155); the RT Plan the dose belongs to is unknown"
        )
    return ""


_NEEDS_GROUP = frozenset(DoseSummationType) - {
    DoseSummationType.PLAN,
    DoseSummationType.MULTI_PLAN,
    DoseSummationType.PLAN_OVERVIEW,
    DoseSummationType.RECORD,
}


def _check_references(ds: Any, p: Path, summation: DoseSummationType) -> None:
    """Report a per-fraction or partial dose that names no fraction group.

    DICOM PS3.3 C.8.8.3: for FRACTION, BEAM, BRACHY, CONTROL_POINT and the session types,
    the referenced plan's item names the fraction group (Referenced Fraction Group
    Sequence). A dose without it may be a whole-plan dose whose summation type is wrong.
    (A dose that references no plan at all is read as such: its ``plan_uid`` is empty.)
    """
    plans = list(ds.get("ReferencedRTPlanSequence") or [])
    if summation not in _NEEDS_GROUP or not plans:
        return
    if not any(item.get("ReferencedFractionGroupSequence") for item in plans):
        warn(
            f"{p}: a {summation.value} dose must name its fraction group, but the "
            "ReferencedFractionGroupSequence (300C,0020) is missing or empty; check that the "
            "file is indeed a dose of part of the plan"
        )
    elif _referenced_fraction_group(ds) is None:
        warn(
            f"{p}: a {summation.value} dose must name its fraction group, but no item of the "
            "ReferencedFractionGroupSequence (300C,0020) holds a valid "
            "ReferencedFractionGroupNumber (300C,0022) (Type 1); the plan's first fraction "
            "group is assumed"
        )


def _referenced_fraction_group(ds: Any) -> int | None:
    """The Referenced Fraction Group Number of the first referenced plan, if any."""
    for item in ds.get("ReferencedRTPlanSequence") or []:
        for group in item.get("ReferencedFractionGroupSequence") or []:
            value = text(group, "ReferencedFractionGroupNumber")
            if value.isdigit():
                return int(value)
    return None


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
    dose_type = DoseType(dose.dose_type).value
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
    deidentify: bool | Deidentifier = False,
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
    deidentify : bool or rtplan.io.Deidentifier
        Write the object de-identified (DICOM PS3.15 Basic Profile); pass the
        :class:`~rtplan.io.Deidentifier` that de-identified the CT (and the other objects
        of the set) so that the references still match (see
        :func:`rtplan.io.save_dataset`).

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
    summation = DoseSummationType(dose.summation_type).value
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
    return save_dataset(ds, path, deidentify=deidentify)
