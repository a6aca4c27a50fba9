"""Synthetic RT Structure Set, RT Dose and RT Plan objects written with pydicom."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import RTDoseStorage, RTPlanStorage, RTStructureSetStorage

from rtplan.image import Dose
from rtplan.structures import Structure
from rtplan.testing._ct import slice_normal
from rtplan.testing._dicom import FloatArray, _apply, _new_dataset, _pop_uids, _save, format_ds, uid

# "Detached Study Management": the SOP class the RT IODs name for a referenced study.
_STUDY_REFERENCE_CLASS = "1.2.840.10008.3.1.2.3.1"
# Attributes of the patient and study that an RT object copies from the CT it belongs to.
_COPIED_FROM_CT = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)
_ON_PLANE_MM = 1e-3  # a contour lies on a CT slice when within this distance of its plane

if TYPE_CHECKING:
    from os import PathLike


# --------------------------------------------------------------------------- RT Struct
@dataclass(frozen=True, kw_only=True, slots=True)
class Roi:
    """One ROI to write to an RT Structure Set: closed planar contours in LPS mm.

    Parameters
    ----------
    name : str
        ROI Name.
    contours : sequence of array_like, each (N, 3)
        Closed planar contours, LPS mm, vertices in order (not repeated at the end). Several
        contours on one plane combine by the even-odd rule (a hole runs inside an outline).
    interpreted_type : str
        RT ROI Interpreted Type (``"ORGAN"``, ``"PTV"``, ``"EXTERNAL"``, ...).
    color : tuple of 3 int
        ROI Display Color, RGB 0-255.
    description : str
        ROI Description; empty leaves it out.
    generation_algorithm : str
        ROI Generation Algorithm (``"MANUAL"``, ``"AUTOMATIC"``, ``"SEMIAUTOMATIC"``).

    Examples
    --------
    >>> from rtplan.testing import Roi, ellipse_points_mm
    >>> roi = Roi(name="GTV", interpreted_type="GTV",
    ...           contours=[ellipse_points_mm((5.0, 5.0), z) for z in (0.0, 2.0)])
    >>> len(roi.contours), roi.contours[0].shape
    (2, (64, 3))
    """

    name: str
    contours: tuple[FloatArray, ...] = field(default=(), repr=False)
    interpreted_type: str = "ORGAN"
    color: tuple[int, int, int] = (255, 0, 0)
    description: str = ""
    generation_algorithm: str = "MANUAL"

    def __post_init__(self) -> None:
        contours = []
        for c in self.contours:
            arr = np.array(c, dtype=np.float64).reshape(-1, 3)
            if len(arr) < 3:
                raise ValueError(f"ROI {self.name!r}: a closed contour needs 3 or more points")
            arr.flags.writeable = False
            contours.append(arr)
        object.__setattr__(self, "contours", tuple(contours))

    @classmethod
    def from_structure(cls, structure: Structure) -> Roi:
        """The closed contours, name, type and colour of an :class:`rtplan.Structure`.

        Parameters
        ----------
        structure : rtplan.Structure

        Returns
        -------
        Roi
        """
        return cls(
            name=structure.name,
            contours=tuple(c.points_mm for c in structure.closed_contours),
            interpreted_type=structure.interpreted_type or "ORGAN",
            color=structure.color,
            description=structure.description,
            generation_algorithm=structure.generation or "MANUAL",
        )


RoiLike = Roi | tuple[str, str, Sequence[npt.ArrayLike]]


def _as_roi(roi: RoiLike) -> Roi:
    if isinstance(roi, Roi):
        return roi
    name, kind, contours = roi
    points = tuple(np.asarray(c, dtype=np.float64) for c in contours)
    return Roi(name=name, interpreted_type=kind, contours=points)


def _read_headers(ct: Sequence[str | PathLike[str] | Dataset]) -> list[Dataset]:
    return [
        item if isinstance(item, Dataset) else pydicom.dcmread(item, stop_before_pixels=True)
        for item in ct
    ]


def _image_reference(ct: Dataset) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = ct.SOPClassUID
    ref.ReferencedSOPInstanceUID = ct.SOPInstanceUID
    return ref


def _frame_reference(cts: Sequence[Dataset], frame_uid: str, series_uid: str) -> Dataset:
    """Referenced Frame of Reference item: frame, study, series and every image."""
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_uid
    if cts:
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        series.ContourImageSequence = DicomSequence([_image_reference(ct) for ct in cts])
        study = Dataset()
        study.ReferencedSOPClassUID = _STUDY_REFERENCE_CLASS
        study.ReferencedSOPInstanceUID = cts[0].StudyInstanceUID
        study.RTReferencedSeriesSequence = DicomSequence([series])
        frame.RTReferencedStudySequence = DicomSequence([study])
    return frame


def _slice_finder(cts: Sequence[Dataset]) -> Callable[[FloatArray], Dataset | None]:
    """A function giving the CT slice whose plane holds a contour (or None)."""
    if not cts:
        return lambda points: None
    normal = slice_normal([float(v) for v in cts[0].ImageOrientationPatient])
    heights = np.array([np.dot([float(v) for v in ct.ImagePositionPatient], normal) for ct in cts])

    def find(points: FloatArray) -> Dataset | None:
        h = points @ normal
        k = int(np.argmin(np.abs(heights - h.mean())))
        on_plane = np.all(np.abs(h - heights[k]) <= _ON_PLANE_MM)
        return cts[k] if on_plane else None

    return find


def _roi_items(
    number: int,
    roi: Roi,
    frame_uid: str,
    decimals: int,
    find: Callable[[FloatArray], Dataset | None],
) -> tuple[Dataset, Dataset, Dataset]:
    """The Structure Set ROI, ROI Contour and RT ROI Observations items of one ROI."""
    item = Dataset()
    item.ROINumber = number
    item.ReferencedFrameOfReferenceUID = frame_uid
    item.ROIName = roi.name
    if roi.description:
        item.ROIDescription = roi.description
    item.ROIGenerationAlgorithm = roi.generation_algorithm
    contours: list[Dataset] = []
    for points in roi.contours:
        c = Dataset()
        image = find(points)
        if image is not None:
            c.ContourImageSequence = DicomSequence([_image_reference(image)])
        c.ContourGeometricType = "CLOSED_PLANAR"
        c.NumberOfContourPoints = len(points)
        c.ContourData = [format_ds(v, decimals) for v in points.ravel()]
        c.ContourNumber = len(contours) + 1
        contours.append(c)
    rc = Dataset()
    rc.ROIDisplayColor = list(roi.color)
    rc.ReferencedROINumber = number
    rc.ContourSequence = DicomSequence(contours)
    obs = Dataset()
    obs.ObservationNumber = number
    obs.ReferencedROINumber = number
    obs.ROIObservationLabel = roi.name
    obs.RTROIInterpretedType = roi.interpreted_type
    obs.ROIInterpreter = ""
    return item, rc, obs


def write_rtstruct(
    path: str | PathLike[str],
    ct: Sequence[str | PathLike[str] | Dataset] | None,
    *,
    rois: Sequence[RoiLike] = (),
    label: str = "RS",
    frame_uid: str | None = None,
    referenced_series_uid: str | None = None,
    contour_decimals: int = 6,
    attributes: Mapping[str, object] | None = None,
) -> Path:
    """Write an RT Structure Set on a CT series, with pydicom.

    Patient and study are copied from the CT; every CT image is referenced, and a contour
    that lies on a CT slice's plane references that image.

    Parameters
    ----------
    path : path-like
        Output file.
    ct : sequence of path-like or pydicom.dataset.Dataset, or None
        The CT slices (files or datasets, in the order they are to be referenced). ``None``
        writes a structure set that references no images (``frame_uid`` is then needed).
    rois : sequence of Roi or (name, interpreted type, contours)
        The ROIs, numbered from 1 in this order.
    label : str
        Structure Set Label.
    frame_uid : str, optional
        Frame of Reference of the contours; default the CT's.
    referenced_series_uid : str, optional
        Series Instance UID referenced; default the CT's (another one makes a dangling
        reference, for tests of readers).
    contour_decimals : int
        Decimals of the contour coordinates (mm); trailing zeros are dropped.
    attributes : mapping of str to object, optional
        DICOM keywords and values set after the defaults (``None`` removes one).
        ``SOPInstanceUID`` and ``SeriesInstanceUID`` (absent or ``None``) default to
        :func:`uid` of ``"rtstruct"`` / ``"rtstruct-series"`` and the path.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If there is neither a CT nor a ``frame_uid``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.testing import ellipse_points_mm, write_ct_series, write_rtstruct
    >>> tmp = Path(tempfile.mkdtemp())
    >>> cts = write_ct_series(tmp / "ct", np.zeros((5, 20, 20)))
    >>> square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    >>> rs = write_rtstruct(tmp / "RS.dcm", cts, rois=[
    ...     ("GTV", "GTV", [np.column_stack([square, np.full(4, z)]) for z in (2.0, 4.0)])])
    >>> study = rtplan.load_study(tmp)
    >>> round(study.structures["GTV"].volume_cc, 3)
    0.4
    >>> import shutil; shutil.rmtree(tmp)
    """
    path = Path(path)
    cts = _read_headers(ct) if ct is not None else []
    if not cts and frame_uid is None:
        raise ValueError("write_rtstruct needs the CT or a frame_uid")
    attributes = dict(attributes or {})
    uids = _pop_uids(
        attributes,
        {
            "SOPInstanceUID": uid("rtstruct", path),
            "SeriesInstanceUID": uid("rtstruct-series", path),
        },
    )
    ds = _new_dataset(RTStructureSetStorage, uids["SOPInstanceUID"], "RTSTRUCT")
    if cts:
        for keyword in _COPIED_FROM_CT:
            if keyword in cts[0]:
                setattr(ds, keyword, cts[0].data_element(keyword).value)  # type: ignore[union-attr]
    else:
        ds.StudyInstanceUID = uid("study", frame_uid)
    frame = frame_uid or str(cts[0].FrameOfReferenceUID)
    ds.FrameOfReferenceUID = frame
    ds.PositionReferenceIndicator = ""
    ds.SeriesInstanceUID = uids["SeriesInstanceUID"]
    ds.SeriesNumber = 2
    ds.OperatorsName = ""
    ds.StructureSetLabel = label
    ds.StructureSetDate = ds.StudyDate
    ds.StructureSetTime = ds.StudyTime
    series_uid = referenced_series_uid or (str(cts[0].SeriesInstanceUID) if cts else "")
    ds.ReferencedFrameOfReferenceSequence = DicomSequence(
        [_frame_reference(cts, frame, series_uid)]
    )
    find = _slice_finder(cts)
    items = [
        _roi_items(n, _as_roi(r), frame, contour_decimals, find)
        for n, r in enumerate(rois, start=1)
    ]
    ds.StructureSetROISequence = DicomSequence([i[0] for i in items])
    ds.ROIContourSequence = DicomSequence([i[1] for i in items])
    ds.RTROIObservationsSequence = DicomSequence([i[2] for i in items])
    _apply(ds, attributes)
    return _save(ds, path)


# --------------------------------------------------------------------------- RT Dose, Plan
def _dose_frame(dose: Dose) -> tuple[list[str], list[str]]:
    """Image Orientation (Patient) and Grid Frame Offset Vector of a dose grid."""
    g = dose.grid
    d = np.asarray(g.direction, dtype=np.float64)
    if not np.allclose(np.cross(d[:, 0], d[:, 1]), d[:, 2], atol=1e-6):
        raise ValueError("an RT Dose stacks its frames along row x column; this grid does not")
    orientation = [format_ds(v, 8) for v in (*d[:, 0], *d[:, 1])]
    offsets = [format_ds(k * g.spacing_mm[0]) for k in range(g.shape[0])]
    return orientation, offsets


def rtdose_dataset(
    dose: Dose,
    *,
    frame_uid: str = "1.2.3.4.5.6",
    scaling_gy: float | None = None,
    dvh_items: Sequence[Dataset] = (),
    attributes: Mapping[str, object] | None = None,
) -> Dataset:
    """An RT Dose dataset (32-bit unsigned, one frame per slice) of a dose, with pydicom.

    Parameters
    ----------
    dose : rtplan.Dose
        Dose in Gy on its grid (frames stacked along the grid's slice normal, which must be
        row x column).
    frame_uid : str
        Frame of Reference UID.
    scaling_gy : float, optional
        Dose Grid Scaling (Gy per stored unit); default ``max / 2**31``.
    dvh_items : sequence of pydicom.dataset.Dataset
        Items of a DVH Sequence to include.
    attributes : mapping of str to object, optional
        DICOM keywords and values set after the defaults (``None`` removes one; a UID that
        is ``None`` keeps its default).

    Returns
    -------
    pydicom.dataset.Dataset
        With its file meta, ready for ``save_as``.

    Raises
    ------
    ValueError
        If the grid's slice normal is not row x column.

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.testing import rtdose_dataset
    >>> grid = rtplan.Grid(shape=(2, 3, 4), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
    >>> dose = rtplan.Dose(array=np.arange(24.0).reshape(2, 3, 4) * 0.1, grid=grid)
    >>> ds = rtdose_dataset(dose, scaling_gy=0.001)
    >>> int(ds.pixel_array.max()), ds.GridFrameOffsetVector
    (2300, [0, 2])
    """
    g = dose.grid
    arr = np.asarray(dose.array, dtype=np.float64)
    scale = float(scaling_gy) if scaling_gy is not None else max(float(arr.max()), 1e-12) / 2**31
    scale_text = f"{scale:.10g}"  # the values are encoded with the scaling as written
    scale = float(scale_text)
    orientation, offsets = _dose_frame(dose)
    digest = hashlib.sha1(arr.tobytes()).hexdigest()  # a name for the UIDs, not security
    attributes = dict(attributes or {})
    uids = _pop_uids(
        attributes,
        {
            "SOPInstanceUID": uid("rtdose", frame_uid, digest),
            "StudyInstanceUID": uid("study", frame_uid),
            "SeriesInstanceUID": uid("rtdose-series", frame_uid, digest),
        },
    )
    ds = _new_dataset(RTDoseStorage, uids["SOPInstanceUID"], "RTDOSE")
    ds.StudyInstanceUID = uids["StudyInstanceUID"]
    ds.SeriesInstanceUID = uids["SeriesInstanceUID"]
    ds.SeriesNumber = 3
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [format_ds(v) for v in g.origin_mm]
    ds.ImageOrientationPatient = orientation
    ds.PixelSpacing = [format_ds(g.spacing_mm[1]), format_ds(g.spacing_mm[2])]
    ds.SliceThickness = format_ds(g.spacing_mm[0])
    ds.GridFrameOffsetVector = offsets
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
    ds.DoseGridScaling = scale_text
    stored = np.rint(np.clip(arr, 0.0, None) / scale)
    ds.PixelData = np.clip(stored, 0, 2**32 - 1).astype("<u4").tobytes()
    if dvh_items:
        ds.DVHSequence = DicomSequence(list(dvh_items))
    _apply(ds, attributes)
    return ds


def write_rtdose(
    path: str | PathLike[str],
    dose: Dose,
    *,
    frame_uid: str = "1.2.3.4.5.6",
    scaling_gy: float | None = None,
    attributes: Mapping[str, object] | None = None,
) -> Path:
    """Write an RT Dose file of a dose (see :func:`rtdose_dataset`), with pydicom.

    Parameters
    ----------
    path : path-like
        Output file.
    dose : rtplan.Dose
        Dose in Gy on its grid.
    frame_uid : str
        Frame of Reference UID.
    scaling_gy : float, optional
        Dose Grid Scaling (Gy per stored unit); default ``max / 2**31``.
    attributes : mapping of str to object, optional
        DICOM keywords and values set after the defaults (``None`` removes one; a UID that
        is ``None`` keeps its default).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.testing import write_rtdose
    >>> grid = rtplan.Grid(shape=(3, 4, 5), spacing_mm=(2.5, 2.0, 2.0), origin_mm=(0, 0, 0))
    >>> dose = rtplan.Dose(array=np.full(grid.shape, 2.0), grid=grid)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> rd = write_rtdose(Path(tmp.name) / "RD.dcm", dose, scaling_gy=0.001)
    >>> back = rtplan.io.read_rtdose(rd)
    >>> float(back.array.max()), back.grid.shape
    (2.0, (3, 4, 5))
    >>> tmp.cleanup()
    """
    ds = rtdose_dataset(dose, frame_uid=frame_uid, scaling_gy=scaling_gy, attributes=attributes)
    return _save(ds, Path(path))


def write_rtplan_header(
    path: str | PathLike[str],
    *,
    study_uid: str,
    frame_uid: str | None,
    structure_set_uid: str | None = None,
    attributes: Mapping[str, object] | None = None,
) -> Path:
    """Write the header of an RT Plan: what study discovery reads, no beams.

    Parameters
    ----------
    path : path-like
        Output file.
    study_uid : str
        Study Instance UID.
    frame_uid : str or None
        Frame of Reference UID; ``None`` leaves it out.
    structure_set_uid : str, optional
        SOP Instance UID of the RT Structure Set the plan references.
    attributes : mapping of str to object, optional
        DICOM keywords and values set after the defaults (``None`` removes one; a UID that
        is ``None`` keeps its default).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pydicom
    >>> from rtplan.testing import write_rtplan_header
    >>> tmp = tempfile.TemporaryDirectory()
    >>> rp = write_rtplan_header(Path(tmp.name) / "RP.dcm", study_uid="1.2.3", frame_uid="1.2.4")
    >>> pydicom.dcmread(rp).Modality
    'RTPLAN'
    >>> tmp.cleanup()
    """
    path = Path(path)
    attributes = dict(attributes or {})
    uids = _pop_uids(
        attributes,
        {"SOPInstanceUID": uid("rtplan", path), "SeriesInstanceUID": uid("plan-series", path)},
    )
    ds = _new_dataset(RTPlanStorage, uids["SOPInstanceUID"], "RTPLAN")
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = uids["SeriesInstanceUID"]
    ds.SeriesNumber = 2
    ds.RTPlanLabel = "PLAN"
    if frame_uid is not None:
        ds.FrameOfReferenceUID = frame_uid
    if structure_set_uid is not None:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RTStructureSetStorage
        ref.ReferencedSOPInstanceUID = structure_set_uid
        ds.ReferencedStructureSetSequence = DicomSequence([ref])
    _apply(ds, attributes)
    return _save(ds, path)
