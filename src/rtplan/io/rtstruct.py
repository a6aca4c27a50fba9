"""Reading and writing DICOM RT Structure Sets (RTSTRUCT).

Reading (:func:`read_rtstruct`) is tolerant: every ROI is keyed by its ROI Number (never
by list position) across the Structure Set ROI, ROI Contour and RT ROI Observations
sequences; contours of every geometric type are kept as such; what is odd (a missing
colour, an empty ROI, malformed contour data, contours off the CT) is reported as an
:class:`~rtplan.RtplanWarning` naming the ROI, and reading carries on where a sensible
reading exists. With a ``reference`` CT the frame of reference is checked (a mismatch is
an error) and planar contours are fitted to the CT's slices:

* a contour whose plane lies between two slices moves onto the nearest one, in the
  through-plane coordinate only (with a warning when it moves more than
  ``POSITION_TOL_MM``), and is linked to that slice's SOP Instance UID;
* a contour more than half a slice outside the CT's slice range is kept, reported, and
  left out of masks;
* a contour reaching outside the image in-plane is kept and reported; masks clip it.

Writing (:func:`write_rtstruct`) is strict: the shell comes from the writer shell shared
by every rtplan writer (patient and study from the CT, new UIDs, the stamp), the
Referenced Frame of Reference Sequence lists the CT series and every slice, and the ROIs
hold the contour points themselves (never contours re-derived from masks when a
structure has contours), each decimal string at most 16 characters and within 1e-5 mm
of the value written. The output validates with dciodvfy and reads back in pydicom and
rt-utils (:mod:`rtplan.io.rtutils` converts to and from rt-utils objects).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pydicom.charset
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import CTImageStorage, ImplicitVRLittleEndian, RTStructureSetStorage

from rtplan._warn import warn
from rtplan.errors import DicomReadError, DicomWriteError
from rtplan.grid import Grid
from rtplan.image import Image, SeriesInfo
from rtplan.io._reader import pydicom_warnings, read_dataset
from rtplan.io._writer import new_dataset, reference_series, save_dataset
from rtplan.io.deidentify import Deidentifier
from rtplan.structures import Contour, ContourType, Structure, StructureSet, check_contours

__all__ = ["DEFAULT_COLORS", "POSITION_TOL_MM", "read_rtstruct", "write_rtstruct"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

POSITION_TOL_MM = 0.01
"""Contours this close to a CT slice plane are on it (moved there without a warning), mm."""

DEFAULT_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (0, 200, 0),
    (0, 0, 255),
    (255, 200, 0),
    (255, 0, 255),
    (0, 220, 220),
    (255, 128, 0),
    (128, 0, 255),
    (128, 255, 0),
    (255, 20, 147),
    (0, 128, 255),
    (160, 82, 45),
)
"""Colours given, by ROI Number, to ROIs without a valid ROI Display Color."""

_TAG_CONTOUR_DATA = Tag(0x3006, 0x0050)
_DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"  # what RTReferencedStudySequence names
_PLANAR = (ContourType.CLOSED_PLANAR, ContourType.CLOSEDPLANAR_XOR, ContourType.OPEN_PLANAR)
_PARALLEL_TOL_MM = 0.5  # a planar contour spreading more than this across slices is oblique
_CS = re.compile(r"^[A-Z0-9_ ]{0,16}$")
_MAX_EXPLICIT_LENGTH = 0xFFFE  # longest value an Explicit VR DS element can hold, bytes
_MAX_ABS_MM = 1e9  # "%.10g" of larger values needs an exponent beyond 16 characters
_MAX_COORDINATE_MM = 1e6  # positions beyond a kilometre are corrupt values
_EXTRA_SET_KEYWORDS = (
    "StructureSetName",
    "StructureSetDescription",
    "StructureSetDate",
    "StructureSetTime",
    "InstanceNumber",
    "SeriesDescription",
    "SeriesNumber",
)
_EXTRA_OBSERVATION_KEYWORDS = ("ROIObservationLabel", "ROIObservationDescription", "ROIInterpreter")


# ============================================================================ reading
@dataclass(slots=True)
class _Roi:
    """What the three ROI sequences say about one ROI Number."""

    number: int
    name: str
    frame_uid: str = ""
    generation: str = ""
    description: str = ""
    color: tuple[int, int, int] | None = None
    interpreted_type: str = ""
    contours: list[Contour] = field(default_factory=list)
    observation: dict[str, str] = field(default_factory=dict)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _int(value: Any) -> int | None:
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None


def _load(path: Path) -> Dataset:
    if not path.is_file():
        raise DicomReadError(f"{path}: no such RTSTRUCT file")
    ds: Dataset = read_dataset(path, "RT Structure Set")
    _check_is_rtstruct(ds, str(path))
    return ds


def _check_is_rtstruct(ds: Dataset, where: str) -> None:
    sop_class = _text(ds, "SOPClassUID")
    modality = _text(ds, "Modality")
    if sop_class != RTStructureSetStorage and modality != "RTSTRUCT":
        raise DicomReadError(
            f"{where} is not an RT Structure Set (SOP Class {sop_class or 'missing'}, "
            f"Modality {modality or 'missing'}); pass the RTSTRUCT file of the study"
        )
    if "StructureSetROISequence" not in ds:
        raise DicomReadError(
            f"{where}: RTSTRUCT without Structure Set ROI Sequence (3006,0020); the file is "
            "incomplete and holds no ROI to read"
        )


def _contour_values(item: Dataset) -> FloatArray:
    """Contour Data (3006,0050) as floats, parsed straight from the raw decimal strings."""
    elem = item.get_item(_TAG_CONTOUR_DATA)
    if elem is None:
        raise ValueError("no Contour Data (3006,0050)")
    value = elem.value
    if isinstance(elem, RawDataElement):
        if elem.VR not in (None, "DS", "UN"):
            raise ValueError(f"Contour Data (3006,0050) has VR {elem.VR} where the standard has DS")
        if not value:
            raise ValueError("empty Contour Data (3006,0050)")
        text = bytes(value).rstrip(b"\x00 ")
        try:
            return np.array(text.split(b"\\")).astype(np.float64)
        except ValueError:
            raise ValueError("Contour Data (3006,0050) holds text that is not numbers") from None
    if value is None or value == "":
        raise ValueError("empty Contour Data (3006,0050)")
    if isinstance(value, str | bytes | float | int):
        value = [value]
    return np.asarray([float(v) for v in value], dtype=np.float64)


def _parse_contour(
    item: Dataset, roi: str, index: int, notes: list[str], short: list[int]
) -> list[Contour]:
    """The contours one Contour Sequence item stands for (empty when unusable).

    Closed contours of fewer than 3 points (a single pixel or a line, as mask-to-contour
    tools draw them) are skipped and their index added to ``short``, reported once per ROI.
    """
    where = f"ROI {roi!r}, contour {index + 1}"
    gtype_text = _text(item, "ContourGeometricType").upper()
    try:
        values = _contour_values(item)
    except ValueError as exc:
        notes.append(f"{where}: unreadable Contour Data ({exc}); contour skipped")
        return []
    if values.size % 3:
        notes.append(
            f"{where}: Contour Data holds {values.size} values, not a multiple of 3 "
            "(x, y, z triplets); contour skipped"
        )
        return []
    if not np.all(np.isfinite(values)):
        notes.append(f"{where}: Contour Data holds NaN or infinite values; contour skipped")
        return []
    if np.any(np.abs(values) > _MAX_COORDINATE_MM):
        notes.append(
            f"{where}: Contour Data holds coordinates beyond {_MAX_COORDINATE_MM:g} mm "
            f"({float(np.abs(values).max()):.4g} mm), far outside any patient; contour skipped"
        )
        return []
    points = values.reshape(-1, 3)
    declared = _int(item.get("NumberOfContourPoints"))
    if declared is not None and declared != points.shape[0]:
        notes.append(
            f"{where}: Number of Contour Points is {declared} but Contour Data holds "
            f"{points.shape[0]} points; the points are used"
        )
    image_uid = ""
    images = item.get("ContourImageSequence")
    if images:
        image_uid = _text(images[0], "ReferencedSOPInstanceUID")
    if not gtype_text:
        gtype = ContourType.POINT if points.shape[0] == 1 else ContourType.CLOSED_PLANAR
        notes.append(f"{where}: no Contour Geometric Type; read as {gtype.value}")
    else:
        try:
            gtype = ContourType(gtype_text)
        except ValueError:
            notes.append(f"{where}: unknown Contour Geometric Type {gtype_text!r}; skipped")
            return []
    if gtype is ContourType.POINT and points.shape[0] > 1:
        notes.append(f"{where}: a POINT contour with {points.shape[0]} points; read as that many")
        return [Contour(points_mm=p, geometric_type=gtype, image_uid=image_uid) for p in points]
    if gtype.is_closed and points.shape[0] < 3:
        short.append(index + 1)
        return []
    return [Contour(points_mm=points, geometric_type=gtype, image_uid=image_uid)]


def _color(value: Any) -> tuple[int, int, int] | None:
    if value is None:
        return None
    try:
        rgb = tuple(round(float(v)) for v in value)
    except (TypeError, ValueError):
        return None
    if len(rgb) != 3 or any(c < 0 or c > 255 for c in rgb):
        return None
    return (rgb[0], rgb[1], rgb[2])


def _parse_contours(item: Dataset, roi: _Roi, notes: list[str]) -> None:
    """Add the contours of one ROI Contour item to ``roi``."""
    short: list[int] = []
    for index, c_item in enumerate(item.get("ContourSequence") or []):
        roi.contours.extend(_parse_contour(c_item, roi.name, index, notes, short))
    if short:
        listed = ", ".join(map(str, short[:5])) + (" ..." if len(short) > 5 else "")
        notes.append(
            f"ROI {roi.name!r}: {len(short)} closed contour(s) with fewer than 3 points "
            f"(contour {listed}: a single pixel or a line enclosing no area); skipped"
        )


def _read_rois(
    ds: Dataset, path: str, notes: list[str], *, with_contours: bool = True
) -> dict[int, _Roi]:
    rois: dict[int, _Roi] = {}
    for pos, item in enumerate(ds.StructureSetROISequence):
        number = _int(item.get("ROINumber"))
        if number is None:
            notes.append(f"Structure Set ROI item {pos + 1} has no valid ROI Number; skipped")
            continue
        if number in rois:
            raise DicomReadError(
                f"{path}: ROI Number {number} is used by two ROIs ({rois[number].name!r} and "
                f"{_text(item, 'ROIName')!r}); ROI Numbers must be unique, fix the file"
            )
        name = _text(item, "ROIName")
        if not name:
            name = f"ROI-{number}"
            notes.append(f"ROI number {number} has no ROI Name; named {name!r}")
        rois[number] = _Roi(
            number=number,
            name=name,
            frame_uid=_text(item, "ReferencedFrameOfReferenceUID"),
            generation=_text(item, "ROIGenerationAlgorithm"),
            description=_text(item, "ROIDescription"),
        )
    missing_color: list[str] = []
    for pos, item in enumerate(ds.get("ROIContourSequence") or []):
        number = _int(item.get("ReferencedROINumber"))
        if number is None:
            notes.append(
                f"ROI Contour item {pos + 1} has no valid Referenced ROI Number (3006,0084) "
                "(Type 1): it names no ROI; its contours are skipped"
            )
            continue
        if number not in rois:
            notes.append(
                f"ROI Contour item {pos + 1} refers to ROI Number {number}, which no Structure "
                "Set ROI has; its contours are skipped"
            )
            continue
        roi = rois[number]
        roi.color = _color(item.get("ROIDisplayColor"))
        if roi.color is None:
            missing_color.append(roi.name)
        if with_contours:
            _parse_contours(item, roi, notes)
    for roi in rois.values():
        if roi.color is None:
            roi.color = DEFAULT_COLORS[(roi.number - 1) % len(DEFAULT_COLORS)]
    if missing_color:
        notes.append(
            f"no valid ROI Display Color for {', '.join(map(repr, missing_color))}; "
            "default colours used"
        )
    _read_observations(ds, rois, notes)
    return rois


def _read_observations(ds: Dataset, rois: dict[int, _Roi], notes: list[str]) -> None:
    """The RT ROI Interpreted Types (and kept observation attributes) of the ROIs."""
    if "RTROIObservationsSequence" not in ds:
        notes.append(
            "no RT ROI Observations Sequence (3006,0080); the ROIs' interpreted types (PTV, "
            "ORGAN, EXTERNAL...) are unknown"
        )
        return
    observed: set[int] = set()
    untyped: list[str] = []
    for item in ds.get("RTROIObservationsSequence") or []:
        number = _int(item.get("ReferencedROINumber"))
        if number is None or number not in rois:
            notes.append(f"RT ROI Observation refers to unknown ROI Number {number}; skipped")
            continue
        observed.add(number)
        if "RTROIInterpretedType" not in item:
            untyped.append(rois[number].name)
        rois[number].interpreted_type = _text(item, "RTROIInterpretedType").upper()
        obs = {k: _text(item, k) for k in _EXTRA_OBSERVATION_KEYWORDS if k in item}
        rois[number].observation = obs
    untyped += [r.name for n, r in rois.items() if n not in observed]
    if untyped:
        notes.append(
            f"no RT ROI Interpreted Type (3006,00A4) for {', '.join(map(repr, untyped))}; "
            "their interpreted types are unknown"
        )


def _set_frame_uids(ds: Dataset) -> list[str]:
    return [
        _text(item, "FrameOfReferenceUID")
        for item in ds.get("ReferencedFrameOfReferenceSequence") or []
        if _text(item, "FrameOfReferenceUID")
    ]


def _referenced_series_uid(ds: Dataset) -> str:
    for frame in ds.get("ReferencedFrameOfReferenceSequence") or []:
        for study in frame.get("RTReferencedStudySequence") or []:
            for series in study.get("RTReferencedSeriesSequence") or []:
                uid = _text(series, "SeriesInstanceUID")
                if uid:
                    return uid
    return ""


def _check_frame(
    path: str, rois: dict[int, _Roi], set_uids: list[str], reference: Image, notes: list[str]
) -> None:
    """Raise unless every ROI is in the reference CT's frame of reference."""
    ct_uid = reference.series.frame_of_reference_uid if reference.series else ""
    file_uid = ", ".join(
        sorted({r.frame_uid for r in rois.values() if r.frame_uid} | set(set_uids))
    )
    if not ct_uid:
        raise DicomReadError(
            f"{path}: cannot check the frame of reference: the reference image has no "
            f"FrameOfReferenceUID (the RTSTRUCT's is {file_uid or 'missing'}); read the CT "
            "with rtplan.io.read_ct, or read the RTSTRUCT without a reference"
        )
    fallback = set_uids[0] if len(set(set_uids)) == 1 else ""
    borrowed: list[str] = []
    for roi in rois.values():
        uid = roi.frame_uid or fallback
        if not uid:
            raise DicomReadError(
                f"{path}: ROI {roi.name!r} has no Referenced Frame of Reference UID "
                "(3006,0024) and the structure set names no single frame of reference, so "
                f"it cannot be matched to the CT's FrameOfReferenceUID {ct_uid}; fix the file"
            )
        if uid != ct_uid:
            raise DicomReadError(
                f"{path}: ROI {roi.name!r} is in frame of reference {uid}, but the reference "
                f"CT's FrameOfReferenceUID is {ct_uid}: the structure set belongs to another "
                "scan (or needs a registration); pass the CT series it was drawn on"
            )
        if not roi.frame_uid:
            borrowed.append(roi.name)
    if borrowed:
        notes.append(
            f"ROIs {', '.join(map(repr, borrowed))} have no Referenced Frame of Reference "
            f"UID; taken as the structure set's {fallback}, which matches the CT"
        )


@dataclass(slots=True)
class _Fit:
    """What fitting one ROI's contours to the CT found, for its warnings."""

    moved_mm: float = 0.0
    n_moved: int = 0
    outside: list[str] = field(default_factory=list)
    n_clipped: int = 0
    clipped_mm: float = 0.0
    n_oblique: int = 0
    merged: list[int] = field(default_factory=list)


def _fit_to_reference(roi: _Roi, reference: Image, notes: list[str]) -> list[Contour]:
    """Snap planar contours onto the CT slices, relink their images, report the rest."""
    grid = reference.grid
    dk = grid.spacing_mm[0]
    nk = grid.shape[0]
    normal = grid.slice_normal
    uids = reference.series.sop_instance_uids if reference.series else ()
    if len(uids) != nk:
        uids = ()
    fit = _Fit()
    planes_on_slice: dict[int, list[float]] = {}
    out: list[Contour] = []
    for c in roi.contours:
        if c.geometric_type not in _PLANAR:
            out.append(c)
            continue
        ijk = grid.mm_to_index(c.points_mm)
        kk = ijk[:, 2]
        if float(kk.max() - kk.min()) * dk > _PARALLEL_TOL_MM:
            fit.n_oblique += int(c.geometric_type.is_closed)  # open ones make no masks
            out.append(c)
            continue
        k_mean = float(kk.mean())
        k_snap = math.ceil(k_mean - 0.5 - 1e-9)
        if k_snap < 0 or k_snap > nk - 1:
            centre = np.round(c.points_mm.mean(axis=0), 1)
            fit.outside.append(f"({centre[0]:g}, {centre[1]:g}, {centre[2]:g})")
            out.append(c)
            continue
        shift = (k_snap - kk) * dk
        points = c.points_mm
        if np.any(shift != 0.0):
            points = c.points_mm + shift[:, np.newaxis] * normal[np.newaxis, :]
        moved = float(np.max(np.abs(shift)))
        if moved > POSITION_TOL_MM:
            fit.n_moved += 1
            fit.moved_mm = max(fit.moved_mm, moved)
        planes = planes_on_slice.setdefault(k_snap, [])
        if c.geometric_type.is_closed and all(abs(p - k_mean) * dk > 0.05 for p in planes):
            planes.append(k_mean)
        edge_hi = np.asarray(grid.shape_ijk[:2], dtype=np.float64) - 0.5
        beyond = np.maximum(-0.5 - ijk[:, :2], ijk[:, :2] - edge_hi).max(axis=0)  # (i, j)
        if np.any(beyond > 1e-6):
            fit.n_clipped += 1
            beyond_mm = float(np.max(beyond * grid.spacing_ijk_mm[:2]))
            fit.clipped_mm = max(fit.clipped_mm, beyond_mm)
        out.append(
            Contour(
                points_mm=points,
                geometric_type=c.geometric_type,
                image_uid=uids[k_snap] if uids else c.image_uid,
            )
        )
    fit.merged = sorted(k for k, p in planes_on_slice.items() if len(p) > 1)
    _report_fit(roi.name, fit, grid, notes)
    return out


def _report_fit(name: str, fit: _Fit, grid: Grid, notes: list[str]) -> None:
    if fit.n_moved:
        notes.append(
            f"ROI {name!r}: {fit.n_moved} contour(s) lie between CT slices (up to "
            f"{fit.moved_mm:.3g} mm off); moved onto the nearest slice along its normal"
        )
    if fit.outside:
        first, last = grid.index_to_mm([[0, 0, 0], [0, 0, grid.shape[0] - 1]]) @ grid.slice_normal
        notes.append(
            f"ROI {name!r}: {len(fit.outside)} contour(s) lie more than half a slice outside "
            f"the CT's slices (centred at {', '.join(fit.outside[:5])}"
            f"{' ...' if len(fit.outside) > 5 else ''} mm; the CT's slices run from "
            f"{first:g} to {last:g} mm along the slice normal); they are kept but left "
            "out of masks"
        )
    if fit.n_clipped:
        notes.append(
            f"ROI {name!r}: {fit.n_clipped} contour(s) extend up to {fit.clipped_mm:.3g} mm "
            "beyond the CT image in-plane; masks on the CT grid are clipped to the image"
        )
    if fit.n_oblique:
        notes.append(
            f"ROI {name!r}: {fit.n_oblique} planar contour(s) are not parallel to the CT "
            "slices; kept as read, but masks on the CT grid cannot be made from them"
        )
    if fit.merged:
        notes.append(
            f"ROI {name!r}: contours from different planes fall on the same CT slice(s) "
            f"{fit.merged[:5]}; they are combined there by the even-odd rule"
        )


def read_rtstruct(path: str | Path, reference: Image | None = None) -> StructureSet:
    """Read a DICOM RT Structure Set.

    Parameters
    ----------
    path : str or Path
        The RTSTRUCT file.
    reference : Image, optional
        The CT the contours were drawn on (as read by :func:`rtplan.io.read_ct`). When
        given, the frame of reference is checked, every structure gets
        ``slice_thickness_mm`` (the CT slice spacing) and ``reference_grid`` (the CT
        grid), planar contours between slices move onto the nearest slice (through-plane
        only) and are linked to its SOP Instance UID, and contours off the CT are
        reported (see the module notes).

    Returns
    -------
    StructureSet
        One :class:`~rtplan.Structure` per Structure Set ROI, in file order, with its
        ROI Number, name, colour, RT ROI Interpreted Type, generation algorithm,
        description and contours (every geometric type kept, points in LPS mm).
        ``extra`` keeps the set's other attributes (``StructureSetName``,
        ``StructureSetDate``...), the observation attributes per ROI Number
        (``"roi_observations"``) and the warnings issued (``"warnings"``), so that
        :func:`write_rtstruct` loses nothing that was read.

    Raises
    ------
    DicomReadError
        If the file is missing, not DICOM, not an RTSTRUCT, has no Structure Set ROI
        Sequence or duplicated ROI Numbers; or, with ``reference``, if an ROI's frame of
        reference differs from the CT's or either is missing (the message names both
        UIDs and the file).

    Warns
    -----
    RtplanWarning
        For empty ROIs (naming them), missing colours, malformed contour data (the
        contour is skipped), contours between or beyond the CT slices, or partly outside
        the image.

    Examples
    --------
    >>> import rtplan
    >>> folder = rtplan.data.get_path("thigh_sarcoma")
    >>> ct = rtplan.io.read_ct(folder)
    >>> ss = rtplan.io.read_rtstruct(folder / "RS.dcm", reference=ct)
    >>> ss.names[:3], round(ss["PTV"].volume_cc, 1)
    (['Body', 'Femur', 'FemurCortex'], 283.4)
    """
    p = Path(path)
    with pydicom_warnings(p):
        return _dataset_to_structure_set(_load(p), reference=reference, source=p)


def _dataset_to_structure_set(
    ds: Dataset,
    *,
    reference: Image | None = None,
    source: Path | str = "RTSTRUCT",
    contours: bool = True,
) -> StructureSet:
    """Read an RT Structure Set already in memory, as :func:`read_rtstruct` reads a file.

    Parameters
    ----------
    ds : pydicom.Dataset
        The RT Structure Set.
    reference : Image, optional
        As for :func:`read_rtstruct`.
    source : Path or str
        The file it came from (kept as ``StructureSet.source``), or a name for messages.
    contours : bool
        False: the ROIs without their contours (their attributes only), nothing said
        about contours.

    Returns
    -------
    StructureSet

    Raises
    ------
    DicomReadError
        As :func:`read_rtstruct`.
    """
    p = Path(source) if isinstance(source, Path) else None
    where = str(source)
    _check_is_rtstruct(ds, where)
    notes: list[str] = []
    rois = _read_rois(ds, where, notes, with_contours=contours)
    set_uids = _set_frame_uids(ds)
    if reference is not None:
        _check_frame(where, rois, set_uids, reference, notes)
    else:
        no_frame = [r.name for r in rois.values() if not r.frame_uid]
        if no_frame and not set_uids:
            notes.append(
                f"ROIs {', '.join(map(repr, no_frame))} name no frame of reference; their "
                "coordinates cannot be checked against a CT"
            )
    roi_uids = {r.frame_uid for r in rois.values() if r.frame_uid}
    frame_uid = roi_uids.pop() if len(roi_uids) == 1 else (set_uids[0] if set_uids else "")
    structures = _structures(rois, reference, notes if contours else [])
    _note_other_series(ds, reference, notes)
    extra: dict[str, Any] = {k: _text(ds, k) for k in _EXTRA_SET_KEYWORDS if k in ds}
    extra["roi_observations"] = {r.number: r.observation for r in rois.values() if r.observation}
    name = p.name if p is not None else where
    extra["warnings"] = [f"{name}: {n}" for n in notes]
    for note in notes:
        warn(f"{where}: {note}", stacklevel=4)  # at the caller of read_rtstruct
    logger.info("read %s: %d ROIs, frame of reference %s", where, len(structures), frame_uid)
    return StructureSet(
        structures=tuple(structures),
        frame_of_reference_uid=frame_uid,
        label=_text(ds, "StructureSetLabel"),
        referenced_series_uid=_referenced_series_uid(ds),
        source=p,
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        extra=extra,
    )


def _structures(
    rois: dict[int, _Roi], reference: Image | None, notes: list[str]
) -> list[Structure]:
    """One Structure per ROI, its planar contours fitted to the reference CT's slices."""
    structures: list[Structure] = []
    empty: list[str] = []
    for roi in rois.values():
        checked = check_contours(
            roi.contours, normal=reference.grid.slice_normal if reference is not None else None
        )
        notes.extend(f"ROI {roi.name!r}: {problem}" for problem in checked.problems)
        roi.contours = list(checked.contours)
        contours = roi.contours
        if reference is not None and contours:
            contours = _fit_to_reference(roi, reference, notes)
        if not contours:
            empty.append(roi.name)
        assert roi.color is not None
        structures.append(
            Structure(
                name=roi.name,
                number=roi.number,
                color=roi.color,
                interpreted_type=roi.interpreted_type,
                contours=tuple(contours),
                slice_thickness_mm=reference.grid.spacing_mm[0] if reference else None,
                reference_grid=reference.grid if reference else None,
                generation=roi.generation,
                description=roi.description,
            )
        )
    if empty:
        notes.append(f"ROI(s) {', '.join(map(repr, empty))} have no contours (empty)")
    return structures


def _note_other_series(ds: Dataset, reference: Image | None, notes: list[str]) -> None:
    """Note a structure set drawn on another series of the reference's frame of reference."""
    if reference is None or reference.series is None:
        return
    series_uid = _referenced_series_uid(ds)
    ct_series = reference.series.series_instance_uid
    if series_uid and ct_series and series_uid != ct_series:
        notes.append(
            f"the structure set references series {series_uid}, the reference CT is "
            f"series {ct_series} (same frame of reference): contours are used as placed "
            "in patient coordinates"
        )


# ============================================================================ writing
def _format_ds(values: FloatArray) -> bytes:
    """Decimal strings of at most 16 characters (10 significant digits), backslash-joined."""
    tidy = np.where(np.abs(values) < 1e-9, 0.0, values)  # no 3-digit exponents, no "-0"
    text = "\\".join([f"{v:.10g}" for v in tidy.tolist()]).encode("ascii")
    return text + b" " if len(text) % 2 else text


def _contour_data_element(points: FloatArray) -> RawDataElement:
    raw = _format_ds(points.ravel())
    return RawDataElement(_TAG_CONTOUR_DATA, "DS", len(raw), raw, 0, False, True, True, False)


def _referenced_frame(series: SeriesInfo) -> DicomSequence:
    """Referenced Frame of Reference Sequence: the CT's frame, study, series and slices.

    Every CT slice is listed in the Contour Image Sequence of the referenced series, in
    array order, as TPSs and rt-utils expect.
    """
    sop_class = series.sop_class_uid or CTImageStorage
    images = []
    for uid in series.sop_instance_uids:
        image = Dataset()
        image.ReferencedSOPClassUID = sop_class
        image.ReferencedSOPInstanceUID = uid
        images.append(image)
    ref_series = Dataset()
    ref_series.SeriesInstanceUID = series.series_instance_uid
    ref_series.ContourImageSequence = DicomSequence(images)
    study = Dataset()
    study.ReferencedSOPClassUID = _DETACHED_STUDY_MANAGEMENT
    study.ReferencedSOPInstanceUID = series.study_instance_uid
    study.RTReferencedSeriesSequence = DicomSequence([ref_series])
    frame = Dataset()
    frame.FrameOfReferenceUID = series.frame_of_reference_uid
    frame.RTReferencedStudySequence = DicomSequence([study])
    return DicomSequence([frame])


def _shell(series: SeriesInfo, label: str, extra: dict[str, Any]) -> Dataset:
    """The RT Structure Set without ROIs: patient, study, series, frame, structure set."""
    ds = new_dataset(
        sop_class_uid=RTStructureSetStorage,
        modality="RTSTRUCT",
        reference=series,
        series_description=str(extra.get("SeriesDescription") or "rtplan structures"),
        instance_number=1,
    )
    ds.StructureSetLabel = label
    for keyword in ("StructureSetName", "StructureSetDescription"):
        if extra.get(keyword):
            setattr(ds, keyword, str(extra[keyword]))
    ds.StructureSetDate = str(extra.get("StructureSetDate") or ds.InstanceCreationDate)
    ds.StructureSetTime = str(extra.get("StructureSetTime") or ds.InstanceCreationTime)
    ds.ReferencedFrameOfReferenceSequence = _referenced_frame(series)
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


@dataclass(frozen=True, slots=True)
class _SliceIndex:
    """Find the CT slice a contour lies on."""

    grid: Grid
    uids: tuple[str, ...]
    sop_class: str

    def slice_of(self, contour: Contour) -> int | None:
        if contour.geometric_type is ContourType.POINT and contour.image_uid in self.uids:
            return self.uids.index(contour.image_uid)
        if contour.geometric_type not in (*_PLANAR, ContourType.POINT):
            return None
        kk = self.grid.mm_to_index(contour.points_mm)[:, 2]
        dk = self.grid.spacing_mm[0]
        if float(kk.max() - kk.min()) * dk > _PARALLEL_TOL_MM:
            return None
        k = math.ceil(float(kk.mean()) - 0.5 - 1e-9)
        return k if 0 <= k < len(self.uids) else None

    def image_item(self, k: int) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID = self.sop_class
        item.ReferencedSOPInstanceUID = self.uids[k]
        return item


def _check_text(value: str, what: str, roi: str, max_len: int) -> str:
    if len(value) > max_len or "\\" in value or any(ord(ch) < 32 for ch in value):
        raise DicomWriteError(
            f"ROI {roi!r}: {what} {value!r} cannot be written (at most {max_len} characters, "
            "no backslash or control characters); rename it"
        )
    return value


def _check_cs(value: str, what: str, roi: str) -> str:
    text = value.strip().upper()
    if not _CS.match(text):
        raise DicomWriteError(
            f"ROI {roi!r}: {what} {value!r} is not a DICOM code string (at most 16 of "
            "A-Z, 0-9, space and underscore); use e.g. 'PTV', 'ORGAN', 'MANUAL'"
        )
    return text


def _numbered(structures: Sequence[Structure]) -> list[Structure]:
    """Keep positive unique ROI Numbers, give the others the next free numbers."""
    used: set[int] = set()
    keep: list[bool] = []
    for s in structures:
        ok = s.number > 0 and s.number not in used
        keep.append(ok)
        if ok:
            used.add(s.number)
    out: list[Structure] = []
    nxt = 1
    for s, ok in zip(structures, keep, strict=True):
        if ok:
            out.append(s)
            continue
        while nxt in used:
            nxt += 1
        used.add(nxt)
        logger.info("ROI %r numbered %d (was %d)", s.name, nxt, s.number)
        out.append(replace(s, number=nxt))
    return out


def _contours_to_write(s: Structure) -> tuple[Contour, ...]:
    if s.contours:
        return s.contours
    if s.mask_image is not None and np.any(s.mask_image.array):
        from rtplan.geometry.rasterize import mask_to_contours

        return tuple(mask_to_contours(s.mask_image))
    return ()


def _raw_length(item: Dataset) -> int:
    elem = item.get_item(_TAG_CONTOUR_DATA)
    return len(elem.value) if isinstance(elem, RawDataElement) else 0


def _contour_item(c: Contour, index: _SliceIndex, roi: str) -> Dataset:
    pts = c.points_mm
    if c.geometric_type.is_closed and pts.shape[0] > 3 and np.array_equal(pts[0], pts[-1]):
        pts = pts[:-1]  # DICOM: a closed contour does not repeat its first point
    if np.any(np.abs(pts) >= _MAX_ABS_MM):
        raise DicomWriteError(
            f"ROI {roi!r}: contour coordinates beyond {_MAX_ABS_MM:g} mm cannot be written "
            "as DICOM decimal strings; check the structure's units (mm)"
        )
    item = Dataset()
    k = index.slice_of(c)
    if k is not None:
        item.ContourImageSequence = DicomSequence([index.image_item(k)])
    item.ContourGeometricType = c.geometric_type.value
    item.NumberOfContourPoints = int(pts.shape[0])
    item[_TAG_CONTOUR_DATA] = _contour_data_element(pts)
    return item


def write_rtstruct(
    structures: StructureSet | Iterable[Structure],
    path: str | Path,
    *,
    reference: Image,
    label: str | None = None,
    deidentify: bool | Deidentifier = False,
) -> Path:
    """Write structures as a DICOM RT Structure Set referencing a CT series.

    Parameters
    ----------
    structures : StructureSet or iterable of Structure
        What to write. Each structure's contours are written exactly as they are (every
        geometric type); a structure with only a voxel mask is contoured first
        (:func:`rtplan.geometry.mask_to_contours`); an empty one is written as an ROI
        without contours. ROI Numbers are kept when positive and unique, others get the
        next free numbers. A StructureSet's ``extra`` (as :func:`read_rtstruct` fills
        it) supplies the structure set name, description, date and ROI observation
        labels.
    path : str or Path
        Output file; its folder is created if needed.
    reference : Image
        The CT the structures belong to, read from DICOM (its ``series`` gives the
        study, frame of reference and per-slice SOP Instance UIDs).
    label : str, optional
        Structure Set Label (at most 16 characters); default the set's label, or
        ``"rtplan"``.
    deidentify : bool or rtplan.io.Deidentifier
        Write the object de-identified (DICOM PS3.15 Basic Profile); pass the
        :class:`~rtplan.io.Deidentifier` that de-identified the CT (and the other objects
        of the set) so that the references still match (see
        :func:`rtplan.io.save_dataset`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    DicomWriteError
        If the reference has no DICOM provenance (frame of reference, per-slice UIDs),
        the structure set is in another frame of reference, or a name, label or type
        cannot be written as DICOM.

    Notes
    -----
    New Series and SOP Instance UIDs are generated; the frame of reference is the CT's.
    Each planar contour references the CT slice it lies on (the nearest, within half a
    slice) in its Contour Image Sequence, as rt-utils needs to read it back; so does each
    POINT contour (the slice it was drawn on when that is one of the CT's, else the
    nearest). OPEN_NONPLANAR contours, and points more than half a slice outside the CT,
    reference no image.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import rtplan
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> ring = (study.structures["PTV"].expand(5.0) - study.structures["PTV"]).renamed("Ring")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     rs = rtplan.io.write_rtstruct([study.structures["PTV"], ring],
    ...                                   Path(tmp, "RS.dcm"), reference=study.ct)
    ...     back = rtplan.io.read_rtstruct(rs, reference=study.ct)
    >>> back.names
    ['PTV', 'Ring']
    >>> abs(back["PTV"].volume_cc - study.structures["PTV"].volume_cc) < 1e-6
    True
    """
    out_path = Path(path)
    ds = _structure_set_to_dataset(
        structures, reference=reference, label=label, target=str(out_path)
    )
    save_dataset(ds, out_path, deidentify=deidentify)
    logger.info("wrote %s: %d ROIs", out_path, len(ds.StructureSetROISequence))
    return out_path


def _structure_set_to_dataset(
    structures: StructureSet | Iterable[Structure],
    *,
    reference: Image,
    label: str | None = None,
    target: str = "an RT Structure Set",
) -> Dataset:
    """The RT Structure Set dataset :func:`write_rtstruct` writes (see it), not saved.

    ``target`` names what is made in messages (the file, by default "an RT Structure
    Set").
    """
    sset = structures if isinstance(structures, StructureSet) else None
    items = list(sset.structures if sset is not None else structures)
    series = _checked_reference(reference, sset, target)
    set_label = label if label is not None else (sset.label if sset and sset.label else "rtplan")
    if len(set_label) > 16 or not set_label.strip() or "\\" in set_label:
        raise DicomWriteError(
            f"cannot write {target}: Structure Set Label {set_label!r} must be 1 to 16 "
            "characters without backslash; pass a shorter label="
        )
    extra: dict[str, Any] = dict(sset.extra) if sset is not None else {}
    observations: dict[int, dict[str, str]] = extra.get("roi_observations") or {}
    index = _SliceIndex(
        grid=reference.grid,
        uids=tuple(series.sop_instance_uids),
        sop_class=series.sop_class_uid or CTImageStorage,
    )
    rois = [
        _roi_items(s, series.frame_of_reference_uid, index, observations.get(s.number, {}))
        for s in _numbered(items)
    ]
    ds = _shell(series, set_label, extra)
    ds.StructureSetROISequence = DicomSequence([r.roi for r in rois])
    ds.ROIContourSequence = DicomSequence([r.contour for r in rois])
    ds.RTROIObservationsSequence = DicomSequence([r.observation for r in rois])
    _encode_contours(ds, [c for r in rois for c in r.contour_items], target)
    return ds


def _checked_reference(reference: Image, sset: StructureSet | None, target: str) -> SeriesInfo:
    """The CT series the structures are written against, checked against them."""
    series = reference_series(target, reference)
    if len(series.sop_instance_uids) != reference.grid.shape[0]:
        raise DicomWriteError(
            f"cannot write {target}: the reference CT has {len(series.sop_instance_uids)} "
            f"SOP Instance UIDs for {reference.grid.shape[0]} slices (resampled?); contours "
            "must reference the CT slices as read from DICOM"
        )
    ct_frame = series.frame_of_reference_uid
    if sset is not None and sset.frame_of_reference_uid not in ("", ct_frame):
        raise DicomWriteError(
            f"cannot write {target}: the structure set is in frame of reference "
            f"{sset.frame_of_reference_uid} but the reference CT's FrameOfReferenceUID is "
            f"{ct_frame}; write it against the CT it was drawn on"
        )
    return series


@dataclass(frozen=True, slots=True)
class _RoiItems:
    """The items one structure adds to the three ROI sequences."""

    roi: Dataset
    contour: Dataset
    observation: Dataset
    contour_items: tuple[Dataset, ...]


def _roi_items(s: Structure, frame_uid: str, index: _SliceIndex, kept: dict[str, str]) -> _RoiItems:
    """Structure Set ROI, ROI Contour and RT ROI Observations items of one structure."""
    name = _check_text(s.name.strip(), "ROI Name", s.name, 64)
    rtype = _check_cs(s.interpreted_type, "RT ROI Interpreted Type", s.name)
    generation = _check_cs(s.generation, "ROI Generation Algorithm", s.name)
    roi = Dataset()
    roi.ROINumber = s.number
    roi.ReferencedFrameOfReferenceUID = frame_uid
    roi.ROIName = name
    if s.description:
        roi.ROIDescription = _check_text(s.description, "ROI Description", s.name, 1024)
    roi.ROIGenerationAlgorithm = generation

    rc = Dataset()
    rc.ROIDisplayColor = list(s.color)
    c_items = tuple(_contour_item(c, index, s.name) for c in _contours_to_write(s))
    if c_items:  # Type 3, but 1-n items when present: an empty ROI has none
        rc.ContourSequence = DicomSequence(c_items)
    rc.ReferencedROINumber = s.number

    obs = Dataset()
    obs.ObservationNumber = s.number
    obs.ReferencedROINumber = s.number
    for keyword in _EXTRA_OBSERVATION_KEYWORDS:
        if kept.get(keyword):
            setattr(obs, keyword, kept[keyword])
    obs.RTROIInterpretedType = rtype
    if "ROIInterpreter" not in obs:
        obs.ROIInterpreter = ""
    return _RoiItems(roi=roi, contour=rc, observation=obs, contour_items=c_items)


def _encode_contours(ds: Dataset, contour_items: Sequence[Dataset], target: str) -> None:
    """Choose the transfer syntax the Contour Data fit in, and keep them as encoded.

    Explicit VR gives DS values a 2-byte length: a Contour Data longer than 65534 bytes
    (about 6000 points) needs Implicit VR Little Endian (PS3.3 C.8.8.6, note).
    """
    longest = max((_raw_length(it) for it in contour_items), default=0)
    implicit = longest > _MAX_EXPLICIT_LENGTH
    if implicit:
        logger.info("%s: a Contour Data of %d bytes: Implicit VR Little Endian", target, longest)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    for item in contour_items:  # the raw Contour Data is encoded as written: keep it raw
        item.set_original_encoding(implicit, True, pydicom.charset.default_encoding)
