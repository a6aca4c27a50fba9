"""rtplan.testing: UIDs, decimal strings and CT series, checked against the DICOM standard.

The files are read back with pydicom alone; positions are checked against the matrix form
of DICOM PS3.3 equation C.7.6.2.1-1, the orientations against pymedphys' table, and the
files against dciodvfy.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pydicom
import pytest

from rtplan import testing
from rtplan.testing import PixelEncoding, SeriesGeometry, format_ds, uid, write_ct_series


# ---------------------------------------------------------------------------- identifiers
def test_uid_is_a_name_based_uuid_under_2_25() -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_OID, "series/folder/3").int
    assert uid("series", "folder", 3) == f"2.25.{expected}"
    assert uid("series", Path("folder"), 3) == uid("series", "folder", 3)
    assert uid("a", "b") != uid("a", "c")
    value = uid("frame of reference", "x" * 200)
    assert value.is_valid
    assert len(value) <= 64
    assert re.fullmatch(r"2\.25\.[1-9][0-9]*", value)


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (-181.595, 6, "-181.595"),
        (3.0, 6, "3"),
        (-0.0, 6, "0"),
        (-1e-9, 6, "0"),
        (2.0 / 3.0, 6, "0.666667"),
        (0.70710678118, 8, "0.70710678"),
        (-1024, 6, "-1024"),
        (12.25, 1, "12.2"),  # half to even, as Python rounds
    ],
)
def test_format_ds(value: float, decimals: int, text: str) -> None:
    assert format_ds(value, decimals) == text


def test_format_ds_stays_within_16_characters() -> None:
    text = format_ds(-123456789012.123456)
    assert len(text) <= 16
    assert float(text) == pytest.approx(-123456789012.123456, rel=1e-12)


# ---------------------------------------------------------------------------- geometry
def test_scanner_orientations_match_pymedphys() -> None:
    orientation = pytest.importorskip("pymedphys._dicom.orientation")
    expected = {k: tuple(v) for k, v in orientation.IMAGE_ORIENTATION_MAP.items()}
    assert dict(testing.SCANNER_ORIENTATIONS) == expected


def _affine(position: np.ndarray, orientation: tuple[float, ...], spacing: tuple[float, float]):  # type: ignore[no-untyped-def]
    """The 4x4 matrix of PS3.3 equation C.7.6.2.1-1 (columns: i, j, unused, position)."""
    x = np.asarray(orientation[:3], dtype=float)  # row direction cosine
    y = np.asarray(orientation[3:], dtype=float)  # column direction cosine
    di, dj = spacing[1], spacing[0]  # column spacing, row spacing
    m = np.zeros((4, 4))
    m[:3, 0], m[:3, 1], m[:3, 3], m[3, 3] = x * di, y * dj, position, 1.0
    return m


@pytest.mark.parametrize("position", sorted(testing.SCANNER_ORIENTATIONS))
def test_pixel_centre_follows_the_standard_matrix(position: str) -> None:
    orientation = testing.SCANNER_ORIENTATIONS[position]
    ipp = np.array([12.5, -30.0, 7.0])
    m = _affine(ipp, orientation, (1.25, 0.8))
    for i, j in [(0, 0), (3, 1), (10, 7)]:
        expected = (m @ np.array([i, j, 0.0, 1.0]))[:3]
        got = testing.pixel_centre_mm(ipp, orientation, (1.25, 0.8), i, j)
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_slice_normal_is_right_handed() -> None:
    for orientation in testing.SCANNER_ORIENTATIONS.values():
        o = np.asarray(orientation, dtype=float)
        n = testing.slice_normal(orientation)
        assert np.linalg.det(np.stack([o[:3], o[3:], n])) == pytest.approx(1.0)


def test_series_geometry_stacks_along_the_normal_or_takes_positions() -> None:
    g = SeriesGeometry.for_patient_position(
        "FFS", origin_mm=(1.0, 2.0, 3.0), spacing_mm=(2.5, 1, 1)
    )
    np.testing.assert_allclose(
        g.slice_positions_mm(3), [[1, 2, 3], [1, 2, 0.5], [1, 2, -2.0]], atol=1e-12
    )
    sheared = SeriesGeometry(positions_mm=((0, 0, 0), (0, 1, 2)))
    np.testing.assert_array_equal(sheared.slice_positions_mm(2), [[0, 0, 0], [0, 1, 2]])
    with pytest.raises(ValueError, match="2 positions for 3 slices"):
        sheared.slice_positions_mm(3)
    with pytest.raises(ValueError, match="6 direction cosines"):
        SeriesGeometry(orientation=(1, 0, 0))


# ---------------------------------------------------------------------------- CT series
@pytest.mark.parametrize("position", sorted(testing.SCANNER_ORIENTATIONS))
def test_ct_series_puts_each_voxel_where_the_standard_says(tmp_path: Path, position: str) -> None:
    rng = np.random.default_rng(7)
    hu = rng.integers(-1000, 3000, size=(4, 5, 6)).astype(float)
    geometry = SeriesGeometry.for_patient_position(
        position, origin_mm=(-20.0, 15.5, 100.0), spacing_mm=(2.5, 1.25, 0.8)
    )
    paths = write_ct_series(tmp_path, hu, geometry)
    assert [p.name for p in paths] == [f"CT_{k:04d}.dcm" for k in range(4)]
    normal = testing.slice_normal(geometry.orientation)
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert ds.PatientPosition == position
        assert ds.InstanceNumber == k + 1
        assert [float(v) for v in ds.ImageOrientationPatient] == list(geometry.orientation)
        assert [float(v) for v in ds.PixelSpacing] == [1.25, 0.8]
        assert (ds.Rows, ds.Columns) == (5, 6)
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        np.testing.assert_allclose(ipp, np.array([-20.0, 15.5, 100.0]) + 2.5 * k * normal)
        values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(values, hu[k])
        # the last pixel of the slice, by the matrix of PS3.3
        m = _affine(ipp, geometry.orientation, (1.25, 0.8))
        corner = (m @ np.array([5.0, 4.0, 0.0, 1.0]))[:3]
        np.testing.assert_allclose(
            testing.pixel_centre_mm(ipp, ds.ImageOrientationPatient, ds.PixelSpacing, 5, 4),
            corner,
        )
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    assert len({h.SOPInstanceUID for h in headers}) == 4
    assert (
        len({(h.StudyInstanceUID, h.SeriesInstanceUID, h.FrameOfReferenceUID) for h in headers})
        == 1
    )
    assert headers[0].FrameOfReferenceUID == uid("frame", tmp_path)


def test_ct_series_reads_back_in_rtplan(tmp_path: Path) -> None:
    import rtplan

    hu = np.arange(3 * 4 * 5, dtype=float).reshape(3, 4, 5) * 10.0 - 500.0
    geometry = SeriesGeometry(origin_mm=(-2.0, 4.0, -10.0), spacing_mm=(-3.0, 1.5, 0.75))
    write_ct_series(tmp_path, hu, geometry)
    ct = rtplan.io.read_ct(tmp_path)
    np.testing.assert_array_equal(ct.array, hu[::-1])  # written head to feet
    assert ct.grid.spacing_mm == pytest.approx((3.0, 1.5, 0.75))
    assert ct.grid.origin_mm == pytest.approx((-2.0, 4.0, -16.0))


def test_pixel_encoding_rounds_and_clips(tmp_path: Path) -> None:
    enc = PixelEncoding(rescale_slope=0.5, rescale_intercept=-1000.0, bits_stored=12)
    np.testing.assert_array_equal(enc.encode([-1200.0, -1000.0, 0.3, 1047.4]), [0, 0, 2001, 4095])
    (path,) = write_ct_series(tmp_path, np.full((1, 2, 2), 40.0), encoding=enc)
    ds = pydicom.dcmread(path)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 12, 11, 0)
    assert (ds.RescaleSlope, ds.RescaleIntercept) == (0.5, -1000.0)
    assert ds.pixel_array.tolist() == [[2080, 2080], [2080, 2080]]
    (bare,) = write_ct_series(
        tmp_path / "bare",
        np.zeros((1, 2, 2)),
        encoding=PixelEncoding(rescale_slope=None, rescale_intercept=None),
    )
    ds = pydicom.dcmread(bare)
    assert "RescaleSlope" not in ds
    assert "RescaleIntercept" not in ds
    with pytest.raises(ValueError, match="bits_stored"):
        PixelEncoding(bits_stored=17)


def test_per_slice_numbers_names_uids_attributes_and_edit(tmp_path: Path) -> None:
    seen = []

    def edit(k: int, ds: pydicom.Dataset) -> None:
        seen.append(k)
        ds.SliceLocation = str(10 * k)

    paths = write_ct_series(
        tmp_path,
        np.zeros((3, 2, 2)),
        instance_numbers=[3, 2, 1],
        file_names=["c.dcm", "b.dcm", "a.dcm"],
        sop_instance_uids=["1.2.3.1", "1.2.3.2", "1.2.3.3"],
        attributes={
            "SeriesInstanceUID": "1.2.9",
            "PatientName": "Other^Name",
            "Laterality": None,
            "BodyPartExamined": "THIGH",
            "ImplementationVersionName": "MY_TOOL",
        },
        edit=edit,
    )
    assert seen == [0, 1, 2]
    assert [p.name for p in paths] == ["c.dcm", "b.dcm", "a.dcm"]
    ds = pydicom.dcmread(paths[0])
    assert ds.InstanceNumber == 3
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID == "1.2.3.1"
    assert ds.SeriesInstanceUID == "1.2.9"
    assert ds.PatientName == "Other^Name"
    assert "Laterality" not in ds
    assert ds.BodyPartExamined == "THIGH"
    assert ds.file_meta.ImplementationVersionName == "MY_TOOL"
    assert pydicom.dcmread(paths[2]).SliceLocation == 20.0
    with pytest.raises(ValueError, match="file_names holds 2 values for 3 slices"):
        write_ct_series(tmp_path / "x", np.zeros((3, 2, 2)), file_names=["a", "b"])
    with pytest.raises(ValueError, match="'SliceLocations' is not a DICOM keyword"):
        write_ct_series(tmp_path / "y", np.zeros((1, 2, 2)), attributes={"SliceLocations": 1})
    with pytest.raises(ValueError, match=r"shape \(slices, rows, columns\)"):
        write_ct_series(tmp_path / "z", np.zeros((2, 2)))


def test_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    hu = np.random.default_rng(3).normal(0.0, 100.0, size=(2, 3, 4))
    uids = {
        "StudyInstanceUID": "1.2.1",
        "SeriesInstanceUID": "1.2.2",
        "FrameOfReferenceUID": "1.2.3",
    }
    a = write_ct_series(tmp_path / "a", hu, attributes=uids)
    b = write_ct_series(tmp_path / "b", hu, attributes=uids)
    for pa, pb in zip(a, b, strict=True):
        assert filecmp.cmp(pa, pb, shallow=False)
    # the implementation is this module, not the pydicom version that wrote the file
    meta = pydicom.dcmread(a[0]).file_meta
    assert meta.ImplementationClassUID == uid("rtplan.testing", "implementation")


def _dciodvfy(path: Path) -> list[str]:
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    out = subprocess.run(
        [exe, "-new", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    return [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith(("Error", "Warn"))]


def test_ct_slice_passes_dciodvfy(tmp_path: Path) -> None:
    (default,) = write_ct_series(tmp_path / "a", np.zeros((1, 4, 4)))
    # without a body part, Laterality is required (type 2C): empty is allowed, with a warning
    assert [ln for ln in _dciodvfy(default) if ln.startswith("Error")] == []
    (pelvis,) = write_ct_series(
        tmp_path / "b",
        np.zeros((1, 4, 4)),
        attributes={"Laterality": None, "BodyPartExamined": "PELVIS"},
    )
    assert _dciodvfy(pelvis) == []
