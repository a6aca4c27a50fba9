"""RT Structure Set reading and writing.

The RTSTRUCT files read here are written with pydicom alone (``_write_rs``), and the
reference CT is built from its files with pydicom too (``ct_image_from_files``), so the
reader is tested against DICOM it did not produce. Written files are checked with
dciodvfy, pydicom and rt-utils.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.charset
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage
from scipy import ndimage

import factories
from rtplan import Contour, ContourType, Grid, Image, RtplanWarning, Structure, StructureSet
from rtplan.errors import DicomReadError, DicomWriteError
from rtplan.image import SeriesInfo
from rtplan.io import read_rtstruct, write_rtstruct
from rtplan.io.rtstruct import DEFAULT_COLORS

# --------------------------------------------------------------------------- helpers
CT_SHAPE = (10, 40, 48)  # slices, rows, columns
CT_SPACING = (2.5, 1.0, 1.0)
CT_ORIGIN = (-24.0, -20.0, 0.0)  # slice z = 0, 2.5, ..., 22.5 mm


def ct_image_from_files(paths: Sequence[Path]) -> Image:
    """A CT Image built with pydicom alone: slices sorted along the normal, HU, SeriesInfo."""
    headers = [pydicom.dcmread(p) for p in paths]
    iop = np.array(headers[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    dist = [float(np.dot(normal, np.array(h.ImagePositionPatient, dtype=float))) for h in headers]
    order = np.argsort(dist)
    headers = [headers[i] for i in order]
    files = tuple(Path(paths[i]) for i in order)
    dk = dist[order[1]] - dist[order[0]] if len(headers) > 1 else float(headers[0].SliceThickness)
    ps = [float(v) for v in headers[0].PixelSpacing]
    volume = np.stack(
        [h.pixel_array * float(h.RescaleSlope) + float(h.RescaleIntercept) for h in headers]
    )
    first = np.array(headers[0].ImagePositionPatient, dtype=float)
    grid = Grid(
        shape=volume.shape,
        spacing_mm=(dk, ps[0], ps[1]),
        origin_mm=(float(first[0]), float(first[1]), float(first[2])),
        direction=np.column_stack([iop[:3], iop[3:], normal]),
    )
    h0 = headers[0]
    info = SeriesInfo(
        study_instance_uid=h0.StudyInstanceUID,
        series_instance_uid=h0.SeriesInstanceUID,
        frame_of_reference_uid=h0.FrameOfReferenceUID,
        sop_class_uid=h0.SOPClassUID,
        sop_instance_uids=tuple(h.SOPInstanceUID for h in headers),
        files=files,
        modality="CT",
        patient={"PatientName": str(h0.PatientName), "PatientID": h0.PatientID},
    )
    return Image(array=volume, grid=grid, units="HU", series=info)


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> Image:
    folder = tmp_path_factory.mktemp("ct")
    files = factories.write_ct_series(
        folder,
        np.zeros(CT_SHAPE),
        origin_mm=CT_ORIGIN,
        spacing_mm=CT_SPACING,
        shuffle_instance_numbers=True,
    )
    return ct_image_from_files(files)


@pytest.fixture(scope="module")
def ct_square(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """Rows == Columns: rt-utils makes its masks (Columns, Rows) and fills them (row, column)."""
    folder = tmp_path_factory.mktemp("ct_square")
    files = factories.write_ct_series(
        folder, np.zeros((10, 48, 48)), origin_mm=(-24.0, -24.0, 0.0), spacing_mm=CT_SPACING
    )
    return ct_image_from_files(files)


def ellipse(
    a: float, b: float, z: float, *, cx: float = 0.0, cy: float = 0.0, n: int = 64
) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.column_stack([cx + a * np.cos(t), cy + b * np.sin(t), np.full(n, z)])


def slice_z(k: int) -> float:
    return CT_ORIGIN[2] + k * CT_SPACING[0]


def _raw_contour_data(text: bytes) -> RawDataElement:
    if len(text) % 2:
        text += b" "
    return RawDataElement(Tag(0x30060050), "DS", len(text), text, 0, False, True, True, False)


def _write_rs(
    path: Path,
    ct: Image,
    rois: Sequence[dict[str, Any]],
    *,
    contour_order: Sequence[int] | None = None,
    observation_order: Sequence[int] | None = None,
    set_frame_uid: str | None = "ct",
    extra: dict[str, str] | None = None,
) -> Path:
    """An RTSTRUCT written with pydicom alone.

    Each ROI dict has ``number``, ``name`` and optionally ``color`` (``None`` omits it),
    ``type``, ``frame_uid`` (``"ct"``, a UID, or ``None`` to omit), ``generation`` and
    ``contours``: a list of ``(geometric type, points (N, 3) or raw bytes, image uid)``.
    """
    assert ct.series is not None
    ct_frame = ct.series.frame_of_reference_uid
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTStructureSetStorage
    meta.MediaStorageSOPInstanceUID = factories.uid("rs", path)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RTStructureSetStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.PatientName = "Test^Phantom"
    ds.PatientID = "TEST001"
    ds.StudyInstanceUID = ct.series.study_instance_uid
    ds.SeriesInstanceUID = factories.uid("rs series", path)
    ds.StructureSetLabel = "TESTSET"
    ds.StructureSetDate = "20260101"
    ds.StructureSetTime = "120000"
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    if set_frame_uid is not None:
        frame = Dataset()
        frame.FrameOfReferenceUID = ct_frame if set_frame_uid == "ct" else set_frame_uid
        series = Dataset()
        series.SeriesInstanceUID = ct.series.series_instance_uid
        study = Dataset()
        study.RTReferencedSeriesSequence = DicomSequence([series])
        frame.RTReferencedStudySequence = DicomSequence([study])
        ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])
    set_rois, contours, observations = {}, {}, {}
    for roi in rois:
        number = roi["number"]
        item = Dataset()
        item.ROINumber = number
        frame_uid = roi.get("frame_uid", "ct")
        if frame_uid is not None:
            item.ReferencedFrameOfReferenceUID = ct_frame if frame_uid == "ct" else frame_uid
        item.ROIName = roi["name"]
        item.ROIGenerationAlgorithm = roi.get("generation", "MANUAL")
        set_rois[number] = item
        rc = Dataset()
        if roi.get("color", (255, 0, 0)) is not None:
            rc.ROIDisplayColor = list(roi.get("color", (255, 0, 0)))
        rc.ReferencedROINumber = number
        items = []
        for gtype, points, image_uid in roi.get("contours", []):
            c = Dataset()
            if image_uid:
                img = Dataset()
                img.ReferencedSOPClassUID = ct.series.sop_class_uid
                img.ReferencedSOPInstanceUID = image_uid
                c.ContourImageSequence = DicomSequence([img])
            if gtype:
                c.ContourGeometricType = gtype
            if isinstance(points, bytes):
                c.NumberOfContourPoints = points.count(b"\\") // 3 + 1
                c[0x30060050] = _raw_contour_data(points)
                c.set_original_encoding(False, True, pydicom.charset.default_encoding)
            else:
                c.NumberOfContourPoints = len(points)
                c.ContourData = [f"{v:.6f}" for v in np.ravel(points)]
            items.append(c)
        if items:
            rc.ContourSequence = DicomSequence(items)
        contours[number] = rc
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = roi.get("type", "ORGAN")
        obs.ROIInterpreter = ""
        if "label" in roi:
            obs.ROIObservationLabel = roi["label"]
        observations[number] = obs
    numbers = [r["number"] for r in rois]
    ds.StructureSetROISequence = DicomSequence([set_rois[n] for n in numbers])
    ds.ROIContourSequence = DicomSequence([contours[n] for n in (contour_order or numbers)])
    ds.RTROIObservationsSequence = DicomSequence(
        [observations[n] for n in (observation_order or numbers)]
    )
    ds.save_as(path, enforce_file_format=True)
    return path


def cylinder(a: float, b: float, ks: Sequence[int], **kw: Any) -> list[tuple[str, Any, str]]:
    return [("CLOSED_PLANAR", ellipse(a, b, slice_z(k), **kw), "") for k in ks]


# --------------------------------------------------------------------------- reading
def test_rois_are_keyed_by_number_not_position(tmp_path: Path, ct: Image) -> None:
    rois = [
        {"number": 5, "name": "PTV", "color": (255, 0, 0), "type": "PTV",
         "contours": cylinder(10, 8, [2, 3, 4])},
        {"number": 2, "name": "Femur", "color": (0, 255, 0), "type": "ORGAN",
         "generation": "AUTOMATIC", "contours": cylinder(4, 4, [1, 2])},
        {"number": 9, "name": "GTV", "color": (0, 0, 255), "type": "GTV",
         "contours": cylinder(3, 3, [3])},
    ]  # fmt: skip
    path = _write_rs(
        tmp_path / "rs.dcm", ct, rois, contour_order=[9, 5, 2], observation_order=[2, 9, 5]
    )
    ss = read_rtstruct(path)
    assert ss.names == ["PTV", "Femur", "GTV"]
    assert [s.number for s in ss] == [5, 2, 9]
    assert ss["PTV"].color == (255, 0, 0)
    assert ss["PTV"].interpreted_type == "PTV"
    assert ss["Femur"].color == (0, 255, 0)
    assert ss["Femur"].interpreted_type == "ORGAN"
    assert ss["Femur"].generation == "AUTOMATIC"
    assert ss.by_number(9).color == (0, 0, 255)
    assert ss["GTV"].interpreted_type == "GTV"
    assert [len(s.contours) for s in ss] == [3, 2, 1]
    assert ss["GTV"].contours[0].points_mm[0, 2] == pytest.approx(slice_z(3))
    assert ss.frame_of_reference_uid == ct.series.frame_of_reference_uid  # type: ignore[union-attr]
    assert ss.referenced_series_uid == ct.series.series_instance_uid  # type: ignore[union-attr]
    assert ss.label == "TESTSET"
    assert ss.source == path
    assert ss.extra["StructureSetDate"] == "20260101"


def test_every_geometric_type_is_kept(tmp_path: Path, ct: Image) -> None:
    z = slice_z(4)
    rois = [
        {"number": 1, "name": "Closed", "contours": [("CLOSED_PLANAR", ellipse(5, 5, z), "")]},
        {"number": 2, "name": "Xor", "contours": [
            ("CLOSEDPLANAR_XOR", ellipse(9, 9, z), ""),
            ("CLOSEDPLANAR_XOR", ellipse(4, 4, z), ""),
        ]},
        {"number": 3, "name": "Marker", "type": "MARKER",
         "contours": [("POINT", [[1.25, -2.5, z]], "")]},
        {"number": 4, "name": "Line", "contours": [("OPEN_PLANAR", ellipse(6, 3, z)[:10], "")]},
        {"number": 5, "name": "Wire", "contours": [
            ("OPEN_NONPLANAR", [[0.0, 0.0, 0.0], [1.0, 2.0, 5.0], [3.0, 1.0, 10.0]], ""),
        ]},
    ]  # fmt: skip
    ss = read_rtstruct(_write_rs(tmp_path / "rs.dcm", ct, rois), reference=ct)
    types = {s.name: [c.geometric_type for c in s.contours] for s in ss}
    assert types == {
        "Closed": [ContourType.CLOSED_PLANAR],
        "Xor": [ContourType.CLOSEDPLANAR_XOR] * 2,
        "Marker": [ContourType.POINT],
        "Line": [ContourType.OPEN_PLANAR],
        "Wire": [ContourType.OPEN_NONPLANAR],
    }
    np.testing.assert_allclose(ss["Marker"].points_mm, [[1.25, -2.5, z]])
    assert ss["Wire"].contours[0].n_points == 3
    # XOR of a disc and a smaller one inside is a ring: mask area = ring area
    ring = ss["Xor"].mask(ct.grid).sum()
    assert ring == pytest.approx(np.pi * (81 - 16), rel=0.03)
    assert not ss["Line"].has_volume
    assert not ss["Marker"].has_volume


def test_holes_and_islands_on_one_slice(tmp_path: Path, ct: Image) -> None:
    z = slice_z(5)
    contours = [
        ("CLOSED_PLANAR", ellipse(12, 10, z, cx=-6), ""),  # outer
        ("CLOSED_PLANAR", ellipse(5, 4, z, cx=-6), ""),  # hole, same orientation
        ("CLOSED_PLANAR", ellipse(3, 3, z, cx=14, cy=8), ""),  # island
    ]
    ss = read_rtstruct(
        _write_rs(tmp_path / "rs.dcm", ct, [{"number": 1, "name": "R", "contours": contours}]),
        reference=ct,
    )
    m = ss["R"].mask(ct.grid)[5]
    x = CT_ORIGIN[0] + np.arange(CT_SHAPE[2])
    y = CT_ORIGIN[1] + np.arange(CT_SHAPE[1])
    xx, yy = np.meshgrid(x, y)
    # the 64-gons deviate from their ellipses by < 1.5 % of the radius: test away from edges
    r_out = ((xx + 6) / 12) ** 2 + (yy / 10) ** 2
    r_hole = ((xx + 6) / 5) ** 2 + (yy / 4) ** 2
    r_isl = ((xx - 14) / 3) ** 2 + ((yy - 8) / 3) ** 2
    assert np.all(m[(r_out < 0.95) & (r_hole > 1.05)])
    assert not np.any(m[r_hole < 0.95])
    assert np.all(m[r_isl < 0.9])
    assert not np.any(m[(r_out > 1.05) & (r_isl > 1.1)])


def test_empty_roi_is_kept_with_a_warning(tmp_path: Path, ct: Image) -> None:
    rois = [
        {"number": 1, "name": "Body", "contours": cylinder(15, 12, [0, 1])},
        {"number": 2, "name": "Nothing"},
    ]
    with pytest.warns(RtplanWarning, match=r"'Nothing' have no contours"):
        ss = read_rtstruct(_write_rs(tmp_path / "rs.dcm", ct, rois))
    assert ss.names == ["Body", "Nothing"]
    assert ss["Nothing"].is_empty
    assert not ss["Nothing"].mask(ct.grid).any()
    assert any("Nothing" in w for w in ss.extra["warnings"])


def test_missing_colour_gets_a_default_with_a_warning(tmp_path: Path, ct: Image) -> None:
    rois = [
        {"number": 3, "name": "NoColour", "color": None, "contours": cylinder(5, 5, [2])},
        {"number": 4, "name": "Coloured", "color": (1, 2, 3), "contours": cylinder(5, 5, [3])},
    ]
    with pytest.warns(RtplanWarning, match=r"ROI Display Color for 'NoColour'; default"):
        ss = read_rtstruct(_write_rs(tmp_path / "rs.dcm", ct, rois))
    assert ss["NoColour"].color == DEFAULT_COLORS[2]
    assert ss["Coloured"].color == (1, 2, 3)


def test_reference_sets_thickness_grid_and_slice_uids(tmp_path: Path, ct: Image) -> None:
    rois = [{"number": 1, "name": "PTV", "contours": cylinder(8, 6, [2, 3, 4])}]
    ss = read_rtstruct(_write_rs(tmp_path / "rs.dcm", ct, rois), reference=ct)
    s = ss["PTV"]
    assert s.slice_thickness_mm == CT_SPACING[0]
    assert s.reference_grid is not None
    assert s.reference_grid.isclose(ct.grid)
    assert ct.series is not None
    assert [c.image_uid for c in s.contours] == [ct.series.sop_instance_uids[k] for k in (2, 3, 4)]
    without = read_rtstruct(tmp_path / "rs.dcm")["PTV"]
    assert without.slice_thickness_mm is None
    assert without.reference_grid is None


def test_contour_between_slices_moves_to_the_nearest_slice(tmp_path: Path, ct: Image) -> None:
    off = ellipse(6, 5, slice_z(3) + 0.9)  # 0.9 mm above slice 3, 1.6 mm below slice 4
    on = ellipse(6, 5, slice_z(6))
    rois = [
        {"number": 1, "name": "Shifted", "contours": [
            ("CLOSED_PLANAR", off, ""), ("CLOSED_PLANAR", on, ""),
        ]},
    ]  # fmt: skip
    path = _write_rs(tmp_path / "rs.dcm", ct, rois)
    with pytest.warns(RtplanWarning, match=r"'Shifted': 1 contour\(s\) lie between CT slices"):
        s = read_rtstruct(path, reference=ct)["Shifted"]
    moved = s.contours[0].points_mm
    np.testing.assert_allclose(moved[:, :2], off[:, :2], atol=1e-6)  # in-plane unchanged
    np.testing.assert_allclose(moved[:, 2], slice_z(3), atol=1e-9)
    assert ct.series is not None
    assert s.contours[0].image_uid == ct.series.sop_instance_uids[3]
    m = s.mask(ct.grid)
    assert m[3].any()
    assert m[6].any()
    assert not m[4].any()
    assert not m[2].any()


def test_contour_beyond_the_ct_is_reported_and_left_out_of_masks(tmp_path: Path, ct: Image) -> None:
    z_beyond = slice_z(CT_SHAPE[0] - 1) + 1.5  # more than half a slice past the last one
    rois = [
        {"number": 1, "name": "Long", "contours": [
            ("CLOSED_PLANAR", ellipse(6, 5, slice_z(8)), ""),
            ("CLOSED_PLANAR", ellipse(6, 5, z_beyond), ""),
        ]},
    ]  # fmt: skip
    path = _write_rs(tmp_path / "rs.dcm", ct, rois)
    with pytest.warns(RtplanWarning, match=r"'Long': 1 contour\(s\) lie more than half a slice"):
        s = read_rtstruct(path, reference=ct)["Long"]
    assert len(s.contours) == 2  # kept for writing back
    assert s.contours[1].points_mm[0, 2] == pytest.approx(z_beyond)
    m = s.mask(ct.grid)
    assert m[8].sum() == m.sum() > 0


def test_contour_outside_the_image_is_clipped_with_a_warning(tmp_path: Path, ct: Image) -> None:
    big = ellipse(30, 10, slice_z(2), cx=-10)  # x from -40 to 20: beyond the -24.5 mm edge
    rois = [{"number": 1, "name": "Wide", "contours": [("CLOSED_PLANAR", big, "")]}]
    path = _write_rs(tmp_path / "rs.dcm", ct, rois)
    with pytest.warns(RtplanWarning, match=r"'Wide': 1 contour\(s\) extend up to 15.5 mm beyond"):
        s = read_rtstruct(path, reference=ct)["Wide"]
    m = s.mask(ct.grid)[2]
    assert m[:, 0].any()  # reaches the image edge, clipped there
    x = CT_ORIGIN[0] + np.arange(CT_SHAPE[2])
    y = CT_ORIGIN[1] + np.arange(CT_SHAPE[1])
    xx, yy = np.meshgrid(x, y)
    r = ((xx + 10) / 30) ** 2 + (yy / 10) ** 2
    assert np.all(m[r < 0.97])
    assert not np.any(m[r > 1.03])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"1.0\\2.0\\3.0\\4.0\\5.0\\6.0\\7.0", r"holds 7 values, not a multiple of 3"),
        (b"1.0\\2.0\\3.0\\nan\\5.0\\3.0\\7.0\\1.0\\3.0", r"NaN or infinite"),
        (b"1.0\\2.0\\3.0\\abc\\5.0\\3.0\\7.0\\1.0\\3.0", r"unreadable Contour Data"),
    ],
)
def test_malformed_contour_data_is_skipped_naming_the_roi(
    tmp_path: Path, ct: Image, data: bytes, message: str
) -> None:
    rois = [
        {"number": 1, "name": "Bad", "contours": [
            ("CLOSED_PLANAR", data, ""), ("CLOSED_PLANAR", ellipse(4, 4, slice_z(3)), ""),
        ]},
    ]  # fmt: skip
    path = _write_rs(tmp_path / "rs.dcm", ct, rois)
    with pytest.warns(RtplanWarning, match=r"ROI 'Bad', contour 1: .*" + message):
        s = read_rtstruct(path)["Bad"]
    assert len(s.contours) == 1
    assert s.contours[0].points_mm[0, 2] == slice_z(3)


def test_unknown_geometric_type_and_stray_roi_contour_warn(tmp_path: Path, ct: Image) -> None:
    rois = [
        {"number": 1, "name": "Odd", "contours": [
            ("SPLINE", ellipse(4, 4, slice_z(3)), ""), ("", ellipse(4, 4, slice_z(4)), ""),
        ]},
    ]  # fmt: skip
    path = _write_rs(tmp_path / "rs.dcm", ct, rois)
    ds = pydicom.dcmread(path)
    stray = Dataset()
    stray.ReferencedROINumber = 77
    stray.ROIDisplayColor = [1, 1, 1]
    ds.ROIContourSequence.append(stray)
    ds.save_as(path)
    with pytest.warns(RtplanWarning) as record:
        s = read_rtstruct(path)["Odd"]
    text = " | ".join(str(w.message) for w in record)
    assert "unknown Contour Geometric Type 'SPLINE'" in text
    assert "no Contour Geometric Type; read as CLOSED_PLANAR" in text
    assert "ROI Number 77, which no Structure Set ROI has" in text
    assert [c.geometric_type for c in s.contours] == [ContourType.CLOSED_PLANAR]


def test_wrong_frame_of_reference_is_an_error_naming_both_uids(tmp_path: Path, ct: Image) -> None:
    other = "1.2.826.0.1.3680043.8.498.1"
    rois = [{"number": 1, "name": "PTV", "frame_uid": other, "contours": cylinder(5, 5, [2])}]
    path = _write_rs(tmp_path / "rs.dcm", ct, rois, set_frame_uid=other)
    assert ct.series is not None
    ct_uid = ct.series.frame_of_reference_uid
    with pytest.raises(DicomReadError, match=rf"rs\.dcm.*'PTV'.*{other}.*{ct_uid}"):
        read_rtstruct(path, reference=ct)
    assert read_rtstruct(path).frame_of_reference_uid == other  # no reference: no check


def test_missing_frame_of_reference_is_an_error(tmp_path: Path, ct: Image) -> None:
    rois = [{"number": 1, "name": "PTV", "frame_uid": None, "contours": cylinder(5, 5, [2])}]
    path = _write_rs(tmp_path / "rs.dcm", ct, rois, set_frame_uid=None)
    assert ct.series is not None
    with pytest.raises(
        DicomReadError, match=rf"rs\.dcm.*'PTV'.*{ct.series.frame_of_reference_uid}"
    ):
        read_rtstruct(path, reference=ct)
    # the CT side missing: the reference has no frame of reference to compare with
    bare = Image(array=ct.array, grid=ct.grid)
    path2 = _write_rs(tmp_path / "rs2.dcm", ct, [{**rois[0], "frame_uid": "ct"}])
    with pytest.raises(DicomReadError, match=r"rs2\.dcm.*reference image has no Frame"):
        read_rtstruct(path2, reference=bare)


def test_roi_without_frame_borrows_the_sets_one(tmp_path: Path, ct: Image) -> None:
    rois = [{"number": 1, "name": "PTV", "frame_uid": None, "contours": cylinder(5, 5, [2])}]
    path = _write_rs(tmp_path / "rs.dcm", ct, rois)
    with pytest.warns(RtplanWarning, match=r"'PTV'.*no Referenced Frame of Reference UID"):
        ss = read_rtstruct(path, reference=ct)
    assert ss["PTV"].contours


def test_duplicate_roi_numbers_are_an_error(tmp_path: Path, ct: Image) -> None:
    rois = [
        {"number": 1, "name": "A", "contours": cylinder(5, 5, [2])},
        {"number": 2, "name": "B", "contours": cylinder(5, 5, [3])},
    ]
    path = _write_rs(tmp_path / "rs.dcm", ct, rois)
    ds = pydicom.dcmread(path)
    ds.StructureSetROISequence[1].ROINumber = 1
    ds.save_as(path)
    with pytest.raises(DicomReadError, match=r"ROI Number 1 is used by two ROIs \('A' and 'B'\)"):
        read_rtstruct(path)


def test_not_an_rtstruct(tmp_path: Path, ct: Image) -> None:
    assert ct.series is not None
    with pytest.raises(DicomReadError, match=r"is not an RT Structure Set .*Modality CT"):
        read_rtstruct(ct.series.files[0])
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(DicomReadError, match=r"junk\.dcm: cannot be read as DICOM RT Structure"):
        read_rtstruct(junk)
    with pytest.raises(DicomReadError, match=r"missing\.dcm: no such RTSTRUCT file"):
        read_rtstruct(tmp_path / "missing.dcm")


# --------------------------------------------------------------------------- writing
def _study_set(ct: Image) -> list[Structure]:
    """Structures of every kind, with awkward coordinates, numbers and colours."""
    z = [slice_z(k) for k in range(CT_SHAPE[0])]
    rng = np.random.default_rng(7)
    ptv = tuple(
        Contour(points_mm=ellipse(11.123456789, 7.987654321, z[k], cx=0.3333333, cy=-1.7777777))
        for k in range(2, 7)
    )
    ring = (
        Contour(points_mm=ellipse(15, 14, z[4], n=180)),
        Contour(points_mm=ellipse(6, 5, z[4], n=90)),
        Contour(points_mm=ellipse(3, 3, z[4], cx=19.0, cy=15.0, n=30)),
    )
    xor = (
        Contour(points_mm=ellipse(9, 9, z[1]), geometric_type="CLOSEDPLANAR_XOR"),
        Contour(points_mm=ellipse(4, 4, z[1]), geometric_type="CLOSEDPLANAR_XOR"),
    )
    noisy = ellipse(10, 10, z[5], n=50)
    noisy[:, :2] += rng.normal(scale=0.5, size=(50, 2)) * 1.000001
    markers = (
        Contour(points_mm=[[1.0000001, -2.123456789012, z[3]]], geometric_type="POINT"),
        Contour(points_mm=[[-123.456789012345, 0.000012345678, 1e-12]], geometric_type="POINT"),
    )
    line = (Contour(points_mm=ellipse(6, 3, z[7])[:12], geometric_type="OPEN_PLANAR"),)
    wire = (
        Contour(
            points_mm=[[0.0, 0.0, 0.0], [1.5, 2.25, 5.0], [3.0, 1.0, 10.0]],
            geometric_type="OPEN_NONPLANAR",
        ),
    )
    return [
        Structure(name="PTV", number=12, color=(250, 10, 10), interpreted_type="PTV",
                  contours=ptv, description="planning target"),
        Structure(name="Ring", number=3, color=(0, 128, 255), interpreted_type="ORGAN",
                  contours=ring, generation="AUTOMATIC"),
        Structure(name="Xor", number=4, color=(5, 6, 7), contours=xor),
        Structure(name="Noisy", number=5, color=(9, 9, 9), interpreted_type="AVOIDANCE",
                  contours=(Contour(points_mm=noisy),)),
        Structure(name="Markers", number=6, color=(255, 255, 0), interpreted_type="MARKER",
                  contours=markers),
        Structure(name="Line", number=7, color=(0, 255, 0), contours=line),
        Structure(name="Wire", number=8, color=(0, 0, 255), contours=wire),
        Structure(name="Empty", number=9, color=(100, 100, 100), interpreted_type="ORGAN"),
    ]  # fmt: skip


def _dciodvfy_errors(dciodvfy: Any, path: Path) -> list[str]:
    """dciodvfy's errors, less its not knowing CLOSEDPLANAR_XOR.

    CLOSEDPLANAR_XOR is a Contour Geometric Type of the current standard (PS3.3 2024c,
    C.8.8.6.3); the Debian dicom3tools (2022-06) predates it and reports it as an
    unrecognised enumerated value. Every other error counts.
    """
    xor = "ContourGeometricType(3006,0042)[1]> - Unrecognized enumerated value = <CLOSEDPLANAR_XOR>"
    return [e for e in dciodvfy(path) if not e.endswith(xor)]


def _assert_same(a: Structure, b: Structure, *, atol_mm: float = 1e-5) -> None:
    assert (a.number, a.name, a.color, a.interpreted_type, a.generation, a.description) == (
        b.number, b.name, b.color, b.interpreted_type, b.generation, b.description
    )  # fmt: skip
    assert len(a.contours) == len(b.contours)
    for ca, cb in zip(a.contours, b.contours, strict=True):
        assert ca.geometric_type is cb.geometric_type
        assert ca.points_mm.shape == cb.points_mm.shape
        np.testing.assert_allclose(ca.points_mm, cb.points_mm, rtol=0, atol=atol_mm)


def test_write_read_round_trip_keeps_everything(tmp_path: Path, ct: Image, dciodvfy: Any) -> None:
    structures = [replace(s, generation=s.generation or "MANUAL") for s in _study_set(ct)]
    out = write_rtstruct(structures, tmp_path / "out" / "RS.dcm", reference=ct, label="ROUNDTRIP")
    assert out == tmp_path / "out" / "RS.dcm"
    assert out.is_file()
    assert _dciodvfy_errors(dciodvfy, out) == []
    with pytest.warns(RtplanWarning, match=r"'Empty' have no contours"):
        back = read_rtstruct(out)
    assert back.names == [s.name for s in structures]
    for a, b in zip(structures, back, strict=True):
        _assert_same(a, b)
    assert back.label == "ROUNDTRIP"
    assert ct.series is not None
    assert back.frame_of_reference_uid == ct.series.frame_of_reference_uid
    # read -> write -> read keeps what was read, including the set's extra attributes
    with pytest.warns(RtplanWarning, match=r"'Empty' have no contours"):
        first = read_rtstruct(out, reference=ct)
    first = replace(first, extra={**first.extra, "StructureSetName": "Thigh plan"})
    out2 = write_rtstruct(first, tmp_path / "RS2.dcm", reference=ct)
    with pytest.warns(RtplanWarning, match=r"'Empty' have no contours"):
        second = read_rtstruct(out2, reference=ct)
    for a, b in zip(first, second, strict=True):
        _assert_same(a, b)
        assert [c.image_uid for c in a.contours] == [c.image_uid for c in b.contours]
    assert second.label == "ROUNDTRIP"
    assert second.extra["StructureSetName"] == "Thigh plan"
    assert _dciodvfy_errors(dciodvfy, out2) == []
    no_xor = [s for s in structures if s.name != "Xor"]
    assert dciodvfy(write_rtstruct(no_xor, tmp_path / "RS3.dcm", reference=ct)) == []


def test_written_file_is_valid_dicom_with_new_uids(tmp_path: Path, ct: Image) -> None:
    out = write_rtstruct(_study_set(ct), tmp_path / "RS.dcm", reference=ct)
    ds = pydicom.dcmread(out)
    assert ct.series is not None
    assert ds.SOPClassUID == RTStructureSetStorage
    assert ds.Modality == "RTSTRUCT"
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SeriesInstanceUID != ct.series.series_instance_uid
    assert ds.StudyInstanceUID == ct.series.study_instance_uid
    assert ds.FrameOfReferenceUID == ct.series.frame_of_reference_uid
    assert ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == (
        ct.series.frame_of_reference_uid
    )
    assert {r.ReferencedFrameOfReferenceUID for r in ds.StructureSetROISequence} == {
        ct.series.frame_of_reference_uid
    }
    assert ds.PatientID == "TEST001"
    again = write_rtstruct(_study_set(ct), tmp_path / "RS2.dcm", reference=ct)
    ds2 = pydicom.dcmread(again)
    assert ds2.SOPInstanceUID != ds.SOPInstanceUID
    assert ds2.SeriesInstanceUID != ds.SeriesInstanceUID
    # Contour Image Sequence: each planar contour references the CT slice it lies on, each
    # point the slice whose slab holds it (rt-utils needs one to make a mask of the ROI)
    uid_z = {u: slice_z(k) for k, u in enumerate(ct.series.sop_instance_uids)}
    n_checked = n_points = 0
    for rc in ds.ROIContourSequence:
        for c in rc.get("ContourSequence", []):
            values = [float(v) for v in c.ContourData]
            assert len(values) == 3 * int(c.NumberOfContourPoints)
            if c.ContourGeometricType in ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR", "OPEN_PLANAR"):
                (img,) = c.ContourImageSequence
                assert img.ReferencedSOPClassUID == ct.series.sop_class_uid
                assert uid_z[img.ReferencedSOPInstanceUID] == pytest.approx(values[2])
                n_checked += 1
            elif c.ContourGeometricType == "POINT":
                (img,) = c.ContourImageSequence
                assert abs(uid_z[img.ReferencedSOPInstanceUID] - values[2]) <= CT_SPACING[0] / 2
                n_points += 1
            else:
                assert c.ContourGeometricType == "OPEN_NONPLANAR"
                assert "ContourImageSequence" not in c
    assert n_checked == 5 + 3 + 2 + 1 + 1
    assert n_points == 2
    # a point more than half a slice outside the CT references no image
    far = Contour(points_mm=[[0.0, 0.0, slice_z(-2)]], geometric_type="POINT")
    out = write_rtstruct(
        [Structure(name="Far", interpreted_type="MARKER", contours=(far,))],
        tmp_path / "RS3.dcm",
        reference=ct,
    )
    (c,) = pydicom.dcmread(out).ROIContourSequence[0].ContourSequence
    assert "ContourImageSequence" not in c
    colours = {
        int(rc.ReferencedROINumber): list(rc.ROIDisplayColor) for rc in ds.ROIContourSequence
    }
    assert colours[12] == [250, 10, 10]
    assert colours[3] == [0, 128, 255]
    types = {
        int(o.ReferencedROINumber): o.RTROIInterpretedType for o in ds.RTROIObservationsSequence
    }
    assert types[12] == "PTV"
    assert types[6] == "MARKER"
    assert types[4] == ""


def test_decimal_strings_are_short_and_precise(tmp_path: Path, ct: Image) -> None:
    out = write_rtstruct(_study_set(ct), tmp_path / "RS.dcm", reference=ct)
    raw = pydicom.dcmread(out)
    worst = 0.0
    structures = {s.number: s for s in _study_set(ct)}
    for rc in raw.ROIContourSequence:
        written = structures[int(rc.ReferencedROINumber)].contours
        for c, original in zip(rc.get("ContourSequence", []), written, strict=True):
            text = c.get_item(0x30060050).value.decode().strip()
            strings = text.split("\\")
            assert max(len(s) for s in strings) <= 16
            values = np.array([float(s) for s in strings]).reshape(-1, 3)
            worst = max(worst, float(np.abs(values - original.points_mm).max()))
    assert worst < 1e-5


def test_rt_utils_reads_the_written_file(tmp_path: Path, ct_square: Image) -> None:
    from rt_utils import RTStructBuilder

    ct = ct_square
    structures = _study_set(ct)
    out = write_rtstruct(structures, tmp_path / "RS.dcm", reference=ct)
    assert ct.series is not None
    rtu = RTStructBuilder.create_from(str(ct.series.files[0].parent), str(out))
    assert rtu.get_roi_names() == [s.name for s in structures]
    for name in ("PTV", "Ring", "Noisy"):
        theirs = rtu.get_roi_mask_by_name(name).transpose(2, 0, 1)  # (row, col, slice) -> ours
        ours = next(s for s in structures if s.name == name).mask(ct.grid)
        # rt-utils fills the rounded outline inclusively: it holds our mask minus its
        # boundary ring, and stays within one pixel of it
        eroded = ndimage.binary_erosion(ours, ndimage.generate_binary_structure(3, 1)[1:2])
        dilated = ndimage.binary_dilation(ours, np.ones((1, 3, 3), dtype=bool))
        assert np.all(theirs[eroded])
        assert not np.any(theirs & ~dilated)
        assert theirs.sum() > ours.sum()
    # rt-utils cannot make a mask of an ROI without Contour Sequence (Type 3, and it may
    # not be present with zero items), so the empty ROI is only listed above


def test_mask_only_structure_is_contoured_exactly(tmp_path: Path, ct: Image) -> None:
    rng = np.random.default_rng(11)
    blob = ndimage.binary_opening(
        ndimage.gaussian_filter(rng.random(CT_SHAPE), 1.5) > 0.52, iterations=1
    )
    blob[:, :3, :] = False
    blob[0] = blob[-1] = False
    s = Structure.from_mask(blob, ct.grid, name="Auto", interpreted_type="ORGAN")
    mask_only = replace(s, contours=())
    out = write_rtstruct([mask_only], tmp_path / "RS.dcm", reference=ct)
    back = read_rtstruct(out, reference=ct)["Auto"]
    assert back.generation == "AUTOMATIC"
    np.testing.assert_array_equal(back.mask(ct.grid), blob)


def test_numbers_are_made_unique(tmp_path: Path, ct: Image) -> None:
    c = (Contour(points_mm=ellipse(4, 4, slice_z(2))),)
    structures = [
        Structure(name="A", number=2, contours=c),
        Structure(name="B", number=0, contours=c),
        Structure(name="C", number=2, contours=c),
        Structure(name="D", number=1, contours=c),
    ]
    back = read_rtstruct(write_rtstruct(structures, tmp_path / "RS.dcm", reference=ct))
    assert [(s.name, s.number) for s in back] == [("A", 2), ("B", 3), ("C", 4), ("D", 1)]


def test_structure_set_input_keeps_label_and_observations(tmp_path: Path, ct: Image) -> None:
    rois = [
        {"number": 4, "name": "GTV", "type": "GTV", "label": "gross",
         "contours": cylinder(5, 4, [2, 3])},
    ]  # fmt: skip
    path = _write_rs(
        tmp_path / "in.dcm", ct, rois, extra={"StructureSetDescription": "sarcoma, thigh"}
    )
    ss = read_rtstruct(path, reference=ct)
    out = write_rtstruct(ss, tmp_path / "out.dcm", reference=ct)
    ds = pydicom.dcmread(out)
    assert ds.StructureSetLabel == "TESTSET"
    assert ds.StructureSetDescription == "sarcoma, thigh"
    assert ds.StructureSetDate == "20260101"
    assert ds.RTROIObservationsSequence[0].ROIObservationLabel == "gross"
    assert read_rtstruct(out).extra["roi_observations"] == {
        4: {"ROIObservationLabel": "gross", "ROIInterpreter": ""}
    }


def test_write_errors(tmp_path: Path, ct: Image) -> None:
    c = (Contour(points_mm=ellipse(4, 4, slice_z(2))),)
    good = Structure(name="A", contours=c)
    with pytest.raises(
        DicomWriteError,
        match=r"x\.dcm: the reference carries no DICOM study and no frame of reference",
    ):
        write_rtstruct([good], tmp_path / "x.dcm", reference=Image(array=ct.array, grid=ct.grid))
    assert ct.series is not None
    resampled = replace(ct, series=replace(ct.series, sop_instance_uids=()))
    with pytest.raises(DicomWriteError, match=r"0 SOP Instance UIDs for 10 slices"):
        write_rtstruct([good], tmp_path / "x.dcm", reference=resampled)
    other = StructureSet(structures=(good,), frame_of_reference_uid="1.2.3.4")
    with pytest.raises(
        DicomWriteError, match=r"frame of reference 1\.2\.3\.4 .* is [12]\.[\d.]+; write it against"
    ):
        write_rtstruct(other, tmp_path / "x.dcm", reference=ct)
    with pytest.raises(DicomWriteError, match=r"Label 'much too long a label'"):
        write_rtstruct([good], tmp_path / "x.dcm", reference=ct, label="much too long a label")
    with pytest.raises(DicomWriteError, match=r"ROI 'A': RT ROI Interpreted Type 'ptv-1'"):
        write_rtstruct([replace(good, interpreted_type="ptv-1")], tmp_path / "x.dcm", reference=ct)
    with pytest.raises(DicomWriteError, match=r"ROI Name .* \(at most 64 characters"):
        write_rtstruct([replace(good, name="N" * 65)], tmp_path / "x.dcm", reference=ct)
    assert not (tmp_path / "x.dcm").exists()


def test_written_contours_keep_all_digits_that_matter(tmp_path: Path, ct: Image) -> None:
    """A contour 1e-4 mm off its slice is written as is, and still references that slice."""
    z = slice_z(5) + 1e-4
    pts = ellipse(5.00001, 4.99999, z)
    out = write_rtstruct(
        [Structure(name="Fine", contours=(Contour(points_mm=pts),))],
        tmp_path / "RS.dcm",
        reference=ct,
    )
    c = pydicom.dcmread(out).ROIContourSequence[0].ContourSequence[0]
    np.testing.assert_allclose(np.array(c.ContourData, dtype=float).reshape(-1, 3), pts, atol=1e-9)
    assert ct.series is not None
    assert c.ContourImageSequence[0].ReferencedSOPInstanceUID == ct.series.sop_instance_uids[5]
    assert math.isclose(float(c.ContourData[2]), z, abs_tol=1e-9)


def test_contours_from_two_planes_on_one_slice_are_reported(tmp_path: Path, ct: Image) -> None:
    rois = [
        {"number": 1, "name": "Twice", "contours": [
            ("CLOSED_PLANAR", ellipse(8, 8, slice_z(4) - 0.6), ""),
            ("CLOSED_PLANAR", ellipse(4, 4, slice_z(4) + 0.7), ""),
        ]},
    ]  # fmt: skip
    path = _write_rs(tmp_path / "rs.dcm", ct, rois)
    with pytest.warns(RtplanWarning) as record:
        s = read_rtstruct(path, reference=ct)["Twice"]
    text = " | ".join(str(w.message) for w in record)
    assert "'Twice': 2 contour(s) lie between CT slices (up to 0.7 mm off)" in text
    assert "'Twice': contours from different planes fall on the same CT slice(s) [4]" in text
    assert all(w.filename == __file__ for w in record)  # reported at the caller
    m = s.mask(ct.grid)[4]
    assert m.sum() == pytest.approx(np.pi * (64 - 16), rel=0.05)  # even-odd: a ring


def test_reads_an_rtstruct_written_by_rt_utils(tmp_path: Path, ct_square: Image) -> None:
    """rt-utils contours run through the centres of the mask's boundary pixels, so under
    the half-open centre rule the mask read back lies between the original mask less
    its boundary ring and the original mask."""
    from rt_utils import RTStructBuilder

    assert ct_square.series is not None
    rng = np.random.default_rng(5)
    blob = ndimage.gaussian_filter(rng.random((10, 48, 48)), 2.0) > 0.51
    blob[:, :2] = blob[:, -2:] = False
    blob[:, :, :2] = blob[:, :, -2:] = False
    # no one-pixel islands: rt-utils writes those as 1- or 2-point CLOSED_PLANAR contours,
    # which enclose nothing and are skipped with a warning
    blob = ndimage.binary_opening(blob, np.ones((1, 3, 3), dtype=bool))
    # rt-utils 1.2.7 sets attributes pydicom 3 deprecates
    with pytest.warns(DeprecationWarning, match="will be removed in v4.0"):
        rtu = RTStructBuilder.create_new(str(ct_square.series.files[0].parent))
    rtu.add_roi(mask=blob.transpose(1, 2, 0), color=[10, 200, 30], name="Blob")
    rtu.save(str(tmp_path / "rtu.dcm"))
    ss = read_rtstruct(tmp_path / "rtu.dcm", reference=ct_square)
    s = ss["Blob"]
    assert (s.number, s.color, s.interpreted_type) == (1, (10, 200, 30), "")
    assert ss.frame_of_reference_uid == ct_square.series.frame_of_reference_uid
    m = s.mask(ct_square.grid)
    cross = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool)
    assert np.all(m[ndimage.binary_erosion(blob, cross)])
    assert not np.any(m & ~blob)


def test_very_long_contours_are_written_in_implicit_vr(
    tmp_path: Path, ct: Image, dciodvfy: Any
) -> None:
    """Explicit VR DS lengths stop at 65534 bytes; 8000 points need about 250 kB."""
    pts = ellipse(15.123456, 11.654321, slice_z(3), n=8000)
    s = Structure(name="Fine", interpreted_type="ORGAN", contours=(Contour(points_mm=pts),))
    out = write_rtstruct([s], tmp_path / "RS.dcm", reference=ct)
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian
    c = ds.ROIContourSequence[0].ContourSequence[0]
    assert int(c.NumberOfContourPoints) == 8000
    assert dciodvfy(out) == []
    back = read_rtstruct(out, reference=ct)["Fine"]
    np.testing.assert_allclose(back.contours[0].points_mm, pts, atol=1e-5)
