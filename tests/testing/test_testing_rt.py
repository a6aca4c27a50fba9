"""rtplan.testing: RT Structure Set, RT Dose and RT Plan headers, read back by peers.

The structure set is read with pydicom and rasterised by rt-utils (a peer that places
contours through the CT's own geometry); the dose is read with pydicom and checked against
the dose values within half a scaling step; dciodvfy checks the structure set.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

import rtplan
from rtplan.testing import (
    Roi,
    ellipse_points_mm,
    rtdose_dataset,
    write_ct_series,
    write_rtdose,
    write_rtplan_header,
    write_rtstruct,
)

SQUARE_XY = np.array([[2.0, 3.0], [7.0, 3.0], [7.0, 8.0], [2.0, 8.0]])


def _square(z: float) -> np.ndarray:
    return np.column_stack([SQUARE_XY, np.full(4, z)])


@pytest.fixture
def ct_paths(tmp_path: Path) -> list[Path]:
    """A 20 x 20 x 4 HFS series, 1 mm pixels from (0, 0), slices at z = 0, 2, 4, 6 mm."""
    return write_ct_series(
        tmp_path / "ct",
        np.zeros((4, 20, 20)),
        attributes={"PatientName": "Peer^Check", "StudyDescription": "square"},
    )


def test_rtstruct_references_and_contours(tmp_path: Path, ct_paths: list[Path]) -> None:
    off_plane = _square(3.0)
    rs = write_rtstruct(
        tmp_path / "RS.dcm",
        ct_paths,
        rois=[
            ("GTV", "GTV", [_square(2.0), _square(4.0), off_plane]),
            Roi(name="Ring", color=(0, 0, 255), description="a circle",
                contours=[ellipse_points_mm((3.0, 3.0), 2.0, centre_mm=(10.0, 10.0))]),
            ("Empty", "ORGAN", []),
        ],
        label="Check",
    )  # fmt: skip
    ds = pydicom.dcmread(rs)
    cts = [pydicom.dcmread(p, stop_before_pixels=True) for p in ct_paths]
    assert ds.SOPClassUID == pydicom.uid.RTStructureSetStorage
    assert ds.StructureSetLabel == "Check"
    # patient and study from the CT
    assert ds.PatientName == "Peer^Check"
    assert ds.StudyDescription == "square"
    assert ds.StudyInstanceUID == cts[0].StudyInstanceUID
    assert ds.StructureSetDate == cts[0].StudyDate
    frame = ds.ReferencedFrameOfReferenceSequence[0]
    assert frame.FrameOfReferenceUID == ds.FrameOfReferenceUID == cts[0].FrameOfReferenceUID
    series = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == cts[0].SeriesInstanceUID
    assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == [
        c.SOPInstanceUID for c in cts
    ]
    rois = [(r.ROINumber, r.ROIName) for r in ds.StructureSetROISequence]
    assert rois == [(1, "GTV"), (2, "Ring"), (3, "Empty")]
    assert ds.StructureSetROISequence[1].ROIDescription == "a circle"
    assert "ROIDescription" not in ds.StructureSetROISequence[0]
    types = [o.RTROIInterpretedType for o in ds.RTROIObservationsSequence]
    assert types == ["GTV", "ORGAN", "ORGAN"]
    gtv, ring, empty = ds.ROIContourSequence
    assert list(ring.ROIDisplayColor) == [0, 0, 255]
    assert len(empty.ContourSequence) == 0
    on2, on4, off = gtv.ContourSequence
    np.testing.assert_array_equal(np.reshape(on2.ContourData, (-1, 3)), _square(2.0))
    assert [c.ContourNumber for c in gtv.ContourSequence] == [1, 2, 3]
    # a contour on a slice's plane references that slice; one between slices none
    assert on2.ContourImageSequence[0].ReferencedSOPInstanceUID == cts[1].SOPInstanceUID
    assert on4.ContourImageSequence[0].ReferencedSOPInstanceUID == cts[2].SOPInstanceUID
    assert "ContourImageSequence" not in off
    np.testing.assert_allclose(
        np.reshape(ring.ContourSequence[0].ContourData, (-1, 3)),
        ellipse_points_mm((3.0, 3.0), 2.0, centre_mm=(10.0, 10.0)),
        atol=5e-7,
    )


def test_rt_utils_rasterises_the_contours_where_they_are(
    tmp_path: Path, ct_paths: list[Path]
) -> None:
    rt_utils = pytest.importorskip("rt_utils")
    rs = write_rtstruct(tmp_path / "RS.dcm", ct_paths, rois=[("GTV", "GTV", [_square(2.0)])])
    rtu = rt_utils.RTStructBuilder.create_from(str(ct_paths[0].parent), str(rs))
    mask = rtu.get_roi_mask_by_name("GTV")  # (rows, columns, slices)
    expected = np.zeros((20, 20, 4), dtype=bool)
    expected[3:9, 2:8, 1] = True  # rt-utils fills the outline inclusively: x 2..7, y 3..8
    np.testing.assert_array_equal(mask, expected)


def test_rtstruct_without_ct_and_with_overrides(tmp_path: Path, ct_paths: list[Path]) -> None:
    with pytest.raises(ValueError, match="needs the CT or a frame_uid"):
        write_rtstruct(tmp_path / "x.dcm", None)
    loose = write_rtstruct(tmp_path / "loose.dcm", None, frame_uid="1.2.3.4.5.6",
                           rois=[("A", "ORGAN", [_square(0.0)])])  # fmt: skip
    ds = pydicom.dcmread(loose)
    assert ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == "1.2.3.4.5.6"
    assert "RTReferencedStudySequence" not in ds.ReferencedFrameOfReferenceSequence[0]
    dangling = write_rtstruct(
        tmp_path / "dangling.dcm",
        ct_paths,
        referenced_series_uid="1.2.826.0.99",
        attributes={"SOPInstanceUID": "1.2.826.0.5.1", "SeriesInstanceUID": None},
    )
    ds = pydicom.dcmread(dangling)
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID == "1.2.826.0.5.1"
    assert ds.SeriesInstanceUID  # None keeps the default UID
    series = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    assert series.RTReferencedSeriesSequence[0].SeriesInstanceUID == "1.2.826.0.99"


def test_roi_from_structure_keeps_its_closed_contours() -> None:
    s = rtplan.Structure(
        name="PTV",
        interpreted_type="PTV",
        color=(1, 2, 3),
        contours=(rtplan.Contour(points_mm=_square(0.0)),),
    )
    roi = Roi.from_structure(s)
    assert (roi.name, roi.interpreted_type, roi.color) == ("PTV", "PTV", (1, 2, 3))
    np.testing.assert_array_equal(roi.contours[0], _square(0.0))
    assert not roi.contours[0].flags.writeable
    with pytest.raises(ValueError, match="3 or more points"):
        Roi(name="Line", contours=[[[0, 0, 0], [1, 0, 0]]])


def test_rtstruct_passes_dciodvfy(tmp_path: Path, ct_paths: list[Path]) -> None:
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    rs = write_rtstruct(tmp_path / "RS.dcm", ct_paths, rois=[("GTV", "GTV", [_square(2.0)])])
    out = subprocess.run(
        [exe, "-new", str(rs)], capture_output=True, text=True, check=False, timeout=60
    )
    report = out.stdout + out.stderr
    assert [ln for ln in report.splitlines() if ln.startswith(("Error", "Warn"))] == []


# ---------------------------------------------------------------------------- RT Dose
def test_rtdose_values_geometry_and_scaling(tmp_path: Path) -> None:
    grid = rtplan.Grid(shape=(3, 4, 5), spacing_mm=(2.5, 2.0, 1.5), origin_mm=(-3, 4.5, -10))
    dose = rtplan.Dose(array=np.random.default_rng(5).uniform(0, 60, grid.shape), grid=grid)
    path = write_rtdose(tmp_path / "RD.dcm", dose, frame_uid="1.2.3")
    ds = pydicom.dcmread(path)
    scale = float(ds.DoseGridScaling)
    assert scale == pytest.approx(float(dose.array.max()) / 2**31, rel=1e-9)
    values = ds.pixel_array.astype(float) * scale
    assert np.abs(values - dose.array).max() <= scale / 2 * (1 + 1e-9)
    assert [float(v) for v in ds.ImagePositionPatient] == [-3.0, 4.5, -10.0]
    assert [float(v) for v in ds.PixelSpacing] == [2.0, 1.5]
    assert [float(v) for v in ds.GridFrameOffsetVector] == [0.0, 2.5, 5.0]
    assert (ds.NumberOfFrames, ds.Rows, ds.Columns) == (3, 4, 5)
    assert ds.FrameOfReferenceUID == "1.2.3"
    assert (ds.DoseUnits, ds.DoseType, ds.DoseSummationType) == ("GY", "PHYSICAL", "PLAN")


def test_rtdose_of_a_rotated_grid_and_dvh_items() -> None:
    c, s = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
    direction = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    grid = rtplan.Grid(shape=(2, 2, 2), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0),
                       direction=direction)  # fmt: skip
    dose = rtplan.Dose(array=np.ones(grid.shape), grid=grid)
    item = pydicom.Dataset()
    item.DVHType = "CUMULATIVE"
    ds = rtdose_dataset(dose, scaling_gy=0.5, dvh_items=[item])
    np.testing.assert_allclose([float(v) for v in ds.ImageOrientationPatient],
                               [c, s, 0.0, -s, c, 0.0], atol=1e-8)  # fmt: skip
    assert ds.DVHSequence[0].DVHType == "CUMULATIVE"
    assert ds.pixel_array.max() == 2
    mirrored = rtplan.Grid(shape=(2, 2, 2), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0),
                           direction=np.diag([1.0, 1.0, -1.0]))  # fmt: skip
    with pytest.raises(ValueError, match="row x column"):
        rtdose_dataset(rtplan.Dose(array=np.ones(mirrored.shape), grid=mirrored))


def test_rtplan_header_references(tmp_path: Path) -> None:
    rp = write_rtplan_header(
        tmp_path / "RP.dcm", study_uid="1.2.1", frame_uid=None, structure_set_uid="1.2.5"
    )
    ds = pydicom.dcmread(rp)
    assert (ds.Modality, ds.StudyInstanceUID) == ("RTPLAN", "1.2.1")
    assert "FrameOfReferenceUID" not in ds
    ref = ds.ReferencedStructureSetSequence[0]
    assert ref.ReferencedSOPClassUID == pydicom.uid.RTStructureSetStorage
    assert ref.ReferencedSOPInstanceUID == "1.2.5"
