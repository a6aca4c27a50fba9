"""Tests of rtplan.io.read_ct on synthetic series written with pydicom."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLosslessSV1, RLELossless

import ct_factory
import rtplan
from rtplan.errors import (
    AmbiguousStudyError,
    DicomReadError,
    MissingDependencyError,
    RtplanWarning,
    SeriesGeometryError,
)
from rtplan.io import read_ct

SHAPE = (5, 6, 7)  # slices, rows, columns


@pytest.fixture
def volume() -> np.ndarray:
    return ct_factory.ramp_volume(SHAPE)


def _write(folder: Path, volume: np.ndarray, **kwargs: object) -> list[Path]:
    return ct_factory.write_series(folder, volume, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- basics
def test_reads_hu_geometry_and_provenance(tmp_path: Path, volume: np.ndarray) -> None:
    paths = _write(
        tmp_path,
        volume,
        origin_mm=(-10.0, 20.0, -30.0),
        slice_spacing_mm=2.5,
        pixel_spacing_mm=(1.5, 0.75),  # non-square: rows 1.5 mm apart, columns 0.75 mm
        slope=0.5,
        intercept=-1000.0,
    )
    ct = read_ct(tmp_path)
    assert isinstance(ct, rtplan.Image)
    assert ct.array.dtype == np.float32
    assert ct.units == "HU"
    # stored = rint((hu + 1000) / 0.5): half-HU resolution
    np.testing.assert_allclose(ct.array, volume, atol=0.25)
    g = ct.grid
    assert g.shape == SHAPE
    assert g.spacing_mm == pytest.approx((2.5, 1.5, 0.75))
    assert g.origin_mm == pytest.approx((-10.0, 20.0, -30.0))
    np.testing.assert_allclose(g.direction, np.eye(3), atol=1e-12)
    # the last column of the first row lies 6 columns x 0.75 mm along +x
    assert g.index_to_mm([6, 0, 0]) == pytest.approx([-10.0 + 4.5, 20.0, -30.0])
    assert g.index_to_mm([0, 5, 0]) == pytest.approx([-10.0, 20.0 + 7.5, -30.0])
    assert ct.patient_position is rtplan.PatientPosition.HFS
    info = ct.series
    assert info is not None
    first = pydicom.dcmread(paths[0])
    assert info.series_instance_uid == first.SeriesInstanceUID
    assert info.study_instance_uid == first.StudyInstanceUID
    assert info.frame_of_reference_uid == first.FrameOfReferenceUID
    assert info.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert info.modality == "CT"
    assert info.files == tuple(paths)
    assert info.sop_instance_uids == tuple(pydicom.dcmread(p).SOPInstanceUID for p in paths)
    assert info.patient["PatientID"] == "TEST001"
    assert info.patient["PatientName"] == "Test^Phantom"
    assert info.patient["StudyDate"] == "20260101"
    assert ct.name == "Synthetic CT"


def test_signed_pixels(tmp_path: Path, volume: np.ndarray) -> None:
    def signed(k: int, ds: pydicom.Dataset) -> None:
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = "0"
        ds.PixelData = volume[k].astype("<i2").tobytes()

    _write(tmp_path, volume, edit=signed)
    np.testing.assert_array_equal(read_ct(tmp_path).array, volume)


def test_sorted_by_position_not_instance_number_or_name(tmp_path: Path, volume: np.ndarray) -> None:
    # file names and instance numbers both run against the slice positions
    n = SHAPE[0]
    names = [f"IMG_{(7 * k + 3) % n}.dcm" for k in range(n)]
    numbers = [((3 * k) % n) + 1 for k in range(n)]
    paths = _write(
        tmp_path,
        volume,
        origin_mm=(0.0, 0.0, 40.0),
        slice_spacing_mm=-3.0,  # written head to feet
        names=names,
        instance_numbers=numbers,
    )
    ct = read_ct(tmp_path)
    assert ct.grid.origin_mm == pytest.approx((0.0, 0.0, 40.0 - 3.0 * (n - 1)))
    assert ct.grid.spacing_mm[0] == pytest.approx(3.0)
    np.testing.assert_array_equal(ct.array, volume[::-1])
    assert ct.series is not None
    assert ct.series.files == tuple(reversed(paths))


def test_list_of_files_and_single_file(tmp_path: Path, volume: np.ndarray) -> None:
    paths = _write(tmp_path / "ct", volume, slice_spacing_mm=2.0)
    ct = read_ct([str(p) for p in paths[1:4]])
    assert ct.grid.shape == (3, 6, 7)
    np.testing.assert_array_equal(ct.array, volume[1:4])
    one = read_ct(paths[2])
    assert one.grid.shape == (1, 6, 7)
    assert one.grid.spacing_mm[0] == pytest.approx(2.0)  # from SliceThickness
    assert one.grid.origin_mm[2] == pytest.approx(4.0)


def test_recursive_folder(tmp_path: Path, volume: np.ndarray) -> None:
    _write(tmp_path / "a" / "b", volume)
    assert read_ct(tmp_path).grid.shape == SHAPE


# ---------------------------------------------------------------------------- positions
def test_orientation_table_matches_pymedphys() -> None:
    orientation = pytest.importorskip("pymedphys._dicom.orientation")
    expected = {k: tuple(v) for k, v in orientation.IMAGE_ORIENTATION_MAP.items()}
    assert expected == ct_factory.SCANNER_ORIENTATIONS


@pytest.mark.parametrize("position", sorted(ct_factory.SCANNER_ORIENTATIONS))
def test_patient_positions_place_beads_at_their_lps_points(tmp_path: Path, position: str) -> None:
    orientation = ct_factory.SCANNER_ORIENTATIONS[position]
    pixel_spacing = (1.25, 0.8)  # rows, columns
    dz = 2.0
    shape = (6, 9, 11)
    # three beads with distinct HU at asymmetric voxels (k, j, i)
    beads = {(1, 2, 3): 1500.0, (4, 7, 1): 2500.0, (2, 5, 9): 3000.0}
    target = np.array([12.0, -34.0, 56.0])  # LPS of the first bead
    o = np.asarray(orientation, dtype=np.float64)
    normal = np.cross(o[:3], o[3:])
    (k0, j0, i0) = next(iter(beads))
    origin = target - (i0 * pixel_spacing[1] * o[:3] + j0 * pixel_spacing[0] * o[3:])
    origin = origin - k0 * dz * normal
    volume = np.full(shape, -1000.0)
    for (k, j, i), hu in beads.items():
        volume[k, j, i] = hu
    positions = ct_factory.uniform_positions(origin, orientation, dz, shape[0])
    _write(
        tmp_path,
        volume,
        positions_mm=positions,
        orientation=orientation,
        pixel_spacing_mm=pixel_spacing,
        slice_spacing_mm=dz,
        patient_position=position,
        instance_numbers=list(range(shape[0], 0, -1)),
    )
    ct = read_ct(tmp_path)
    assert ct.patient_position == rtplan.PatientPosition(position)
    assert ct.grid.spacing_mm == pytest.approx((dz, 1.25, 0.8))
    for (k, j, i), hu in beads.items():
        expected = ct_factory.voxel_lps(positions[k], orientation, pixel_spacing, i, j)
        found = np.argwhere(ct.array == hu)
        assert found.shape == (1, 3)
        kk, jj, ii = found[0]
        np.testing.assert_allclose(ct.grid.index_to_mm([ii, jj, kk]), expected, atol=1e-6)
        assert ct.sample(expected) == pytest.approx(hu)
    np.testing.assert_allclose(ct.grid.index_to_mm([i0, j0, k0]), target, atol=1e-6)
    # slices are stacked along the normal of the orientation
    np.testing.assert_allclose(ct.grid.slice_normal, normal, atol=1e-12)


# ---------------------------------------------------------------------------- rescale
@pytest.mark.parametrize("keyword", ["RescaleSlope", "RescaleIntercept"])
def test_missing_rescale_is_an_error_naming_the_file(
    tmp_path: Path, volume: np.ndarray, keyword: str
) -> None:
    def drop(k: int, ds: pydicom.Dataset) -> None:
        if k == 2:
            del ds[keyword]

    _write(tmp_path, volume, edit=drop)
    with pytest.raises(DicomReadError, match=rf"CT_0002\.dcm has no valid {keyword} \(0028,105"):
        read_ct(tmp_path)


def test_rescale_applied_per_slice(tmp_path: Path, volume: np.ndarray) -> None:
    def rescale(k: int, ds: pydicom.Dataset) -> None:
        if k == 3:  # same HU, stored with another slope and intercept
            stored = np.rint((volume[k] + 2048.0) / 2.0)
            ds.PixelData = stored.astype("<u2").tobytes()
            ds.RescaleSlope, ds.RescaleIntercept = "2", "-2048"

    _write(tmp_path, volume, edit=rescale)
    with pytest.warns(RtplanWarning) as record:
        ct = read_ct(tmp_path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert re.search(
        r"RescaleSlope \(0028,1053\) differs between slices: 1 on 4 slice\(s\), other values "
        r"on 1: CT_0003\.dcm \(2\); each slice was rescaled with its own value",
        messages[0],
    )
    assert "RescaleIntercept (0028,1052) differs" in messages[1]
    np.testing.assert_allclose(ct.array, volume, atol=1.0)


# ---------------------------------------------------------------------------- gaps
def test_missing_slice_names_both_neighbours(tmp_path: Path) -> None:
    vol = np.zeros((6, 4, 4))
    positions = ct_factory.uniform_positions((0, 0, 0), (1, 0, 0, 0, 1, 0), 2.0, 7)
    del positions[3]  # slice at z = 6 mm is missing
    _write(tmp_path, vol, positions_mm=positions)
    with pytest.raises(
        SeriesGeometryError,
        match=r"4\.000 mm between \S+CT_0002\.dcm and \S+CT_0003\.dcm.*spacing is 2\.000 mm"
        r".*allow_resample=True",
    ):
        read_ct(tmp_path)


def test_uneven_spacing_is_an_error(tmp_path: Path) -> None:
    vol = np.zeros((5, 4, 4))
    positions = [(0, 0, z) for z in (0.0, 2.0, 4.0, 6.0, 9.0)]
    _write(tmp_path, vol, positions_mm=positions)
    with pytest.raises(SeriesGeometryError, match=r"3\.000 mm between .*CT_0003.*CT_0004"):
        read_ct(tmp_path)


def test_allow_resample_interpolates_linearly_along_the_normal(tmp_path: Path) -> None:
    # HU = 10 * z + 3 * x: linear, so linear interpolation reproduces it exactly
    z_written = [0.0, 2.0, 4.0, 8.0, 10.0]
    x = np.arange(4, dtype=np.float64)
    vol = np.stack([np.broadcast_to(10.0 * z + 3.0 * x, (3, 4)) for z in z_written])
    positions = [(0.0, 0.0, z) for z in z_written]
    _write(tmp_path, vol, positions_mm=positions)
    with pytest.warns(RtplanWarning, match=r"4\.000 mm between .*resampled .* to 2\.000 mm"):
        ct = read_ct(tmp_path, allow_resample=True)
    assert ct.grid.shape == (6, 3, 4)
    assert ct.grid.spacing_mm[0] == pytest.approx(2.0)
    z = ct.grid.axis_mm(0)
    np.testing.assert_allclose(z, [0, 2, 4, 6, 8, 10])
    expected = 10.0 * z[:, None, None] + 3.0 * x[None, None, :]
    np.testing.assert_allclose(ct.array, np.broadcast_to(expected, (6, 3, 4)), atol=1e-3)
    assert ct.series is not None
    assert ct.series.sop_instance_uids == ()


def test_small_position_jitter_is_tolerated(tmp_path: Path) -> None:
    vol = np.zeros((4, 3, 3))
    positions = [(0, 0, z) for z in (0.0, 2.004, 3.998, 6.003)]
    _write(tmp_path, vol, positions_mm=positions)
    ct = read_ct(tmp_path)
    assert ct.grid.spacing_mm[0] == pytest.approx(2.001, abs=1e-3)


# ---------------------------------------------------------------------------- tilt
def test_gantry_tilt_tag_is_refused(tmp_path: Path, volume: np.ndarray) -> None:
    _write(tmp_path, volume, gantry_tilt_deg=15.0)
    with pytest.raises(SeriesGeometryError, match=r"gantry tilt of 15 degrees.*CT_0000"):
        read_ct(tmp_path)


def test_zero_gantry_tilt_is_fine(tmp_path: Path, volume: np.ndarray) -> None:
    _write(tmp_path, volume, gantry_tilt_deg=0.0)
    assert read_ct(tmp_path).grid.shape == SHAPE


def test_sheared_positions_are_refused(tmp_path: Path) -> None:
    # axial images whose positions drift in y as z advances: a tilted acquisition
    # written without GantryDetectorTilt
    vol = np.zeros((4, 3, 3))
    tilt = np.tan(np.radians(10.0))
    positions = [(0.0, 2.0 * k * tilt, 2.0 * k) for k in range(4)]
    _write(tmp_path, vol, positions_mm=positions)
    with pytest.raises(SeriesGeometryError, match=r"sheared.*about 10\.00 degrees"):
        read_ct(tmp_path)


# ---------------------------------------------------------------------------- duplicates
def test_duplicate_positions_are_reported(tmp_path: Path) -> None:
    vol = np.zeros((4, 3, 3))
    positions = [(0, 0, z) for z in (0.0, 2.0, 2.0, 4.0)]
    _write(tmp_path, vol, positions_mm=positions)
    with pytest.raises(
        SeriesGeometryError, match=r"two slices at the same position.*CT_0001.*CT_0002"
    ):
        read_ct(tmp_path)


def test_copied_file_is_ignored_with_a_warning(tmp_path: Path, volume: np.ndarray) -> None:
    paths = _write(tmp_path, volume)
    shutil.copy(paths[2], tmp_path / "copy_of_2.dcm")
    with pytest.warns(RtplanWarning, match=r"hold the same image.*copy is ignored"):
        ct = read_ct(tmp_path)
    np.testing.assert_array_equal(ct.array, volume)


# ---------------------------------------------------------------------------- consistency
def test_mixed_orientations_are_refused(tmp_path: Path) -> None:
    vol = np.zeros((4, 3, 3))

    def coronal(k: int, ds: pydicom.Dataset) -> None:
        if k == 3:
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]

    _write(tmp_path, vol, edit=coronal)
    with pytest.raises(
        SeriesGeometryError,
        match=r"mixes 2 image orientations.*3 file\(s\).*1 file\(s\), e\.g\. CT_0003",
    ):
        read_ct(tmp_path)


def test_mixed_sizes_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "a", np.zeros((2, 4, 4)), origin_mm=(0, 0, 0), series_uid="1.2.3.4")
    _write(
        tmp_path / "b",
        np.zeros((2, 4, 5)),
        origin_mm=(0, 0, 4),
        series_uid="1.2.3.4",
        frame_uid=ct_factory.uid("frame", tmp_path / "a"),
    )
    with pytest.raises(SeriesGeometryError, match=r"mixes image sizes.*4x4.*4x5"):
        read_ct(tmp_path)


def test_mixed_pixel_spacing_is_refused(tmp_path: Path) -> None:
    def spacing(k: int, ds: pydicom.Dataset) -> None:
        if k == 1:
            ds.PixelSpacing = ["0.9", "1"]

    _write(tmp_path, np.zeros((3, 4, 4)), edit=spacing)
    with pytest.raises(SeriesGeometryError, match=r"mixes pixel spacings.*\[0\.9, 1\.0\]"):
        read_ct(tmp_path)


def test_missing_position_is_an_error(tmp_path: Path) -> None:
    def drop(k: int, ds: pydicom.Dataset) -> None:
        if k == 1:
            del ds.ImagePositionPatient

    _write(tmp_path, np.zeros((3, 4, 4)), edit=drop)
    with pytest.raises(DicomReadError, match=r"CT_0001\.dcm has no valid ImagePositionPatient"):
        read_ct(tmp_path)


def test_missing_patient_position_warns(tmp_path: Path) -> None:
    _write(tmp_path, np.zeros((2, 3, 3)), patient_position="")
    with pytest.warns(RtplanWarning, match=r"no Patient Position \(0018,5100\)"):
        ct = read_ct(tmp_path)
    assert ct.patient_position is None


# ---------------------------------------------------------------------------- several series
def test_several_series_need_a_choice(tmp_path: Path) -> None:
    _write(tmp_path / "a", np.zeros((3, 4, 4)), series_uid="1.2.826.0.1.1", description="Thorax")
    _write(tmp_path / "b", np.ones((2, 4, 4)), series_uid="1.2.826.0.1.2", description="Pelvis")
    with pytest.raises(
        AmbiguousStudyError,
        match=r"2 CT series found.*series_uid=.*'1\.2\.826\.0\.1\.1' \(#1 'Thorax', 3 file"
        r".*'1\.2\.826\.0\.1\.2' \(#1 'Pelvis', 2 file",
    ):
        read_ct(tmp_path)
    ct = read_ct(tmp_path, series_uid="1.2.826.0.1.2")
    assert ct.grid.shape == (2, 4, 4)
    assert ct.name == "Pelvis"
    with pytest.raises(DicomReadError, match=r"no CT series with series_uid='9\.9'.*Thorax"):
        read_ct(tmp_path, series_uid="9.9")


def test_localizer_series_is_ignored(tmp_path: Path, volume: np.ndarray) -> None:
    def scout(k: int, ds: pydicom.Dataset) -> None:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]

    _write(tmp_path / "scout", np.zeros((1, 6, 7)), series_uid="1.2.826.0.9", edit=scout)
    _write(tmp_path / "axial", volume)
    assert read_ct(tmp_path).grid.shape == SHAPE
    assert read_ct(tmp_path, series_uid="1.2.826.0.9").grid.shape == (1, 6, 7)


# ---------------------------------------------------------------------------- other files
def test_non_ct_and_unreadable_files_are_skipped(tmp_path: Path, volume: np.ndarray) -> None:
    paths = _write(tmp_path, volume)
    (tmp_path / "README.txt").write_text("not DICOM\n")
    (tmp_path / "notes.json").write_text("{}")
    broken = tmp_path / "broken.dcm"
    data = paths[0].read_bytes()
    broken.write_bytes(data[:200])  # preamble, DICM and a truncated meta header
    ct_factory.write_rtstruct(tmp_path / "RS.dcm", paths)
    mr = pydicom.dcmread(paths[0])
    mr.Modality = "MR"
    mr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    mr.SeriesInstanceUID = "1.2.826.0.77"
    mr.save_as(tmp_path / "mr.dcm")
    # no preamble but starting like a DICOM data set (group 0008): tried, then skipped
    rng = np.random.default_rng(1)
    (tmp_path / "IM0001").write_bytes(b"\x08\x00" + rng.bytes(3000))
    with pytest.warns(RtplanWarning, match=r"skipping") as record:
        ct = read_ct(tmp_path)
    np.testing.assert_array_equal(ct.array, volume)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert any("IM0001" in m for m in messages)
    assert any("broken.dcm" in m for m in messages)


def test_truncated_pixel_data_is_an_error_naming_the_file(
    tmp_path: Path, volume: np.ndarray
) -> None:
    paths = _write(tmp_path, volume)
    data = paths[3].read_bytes()
    paths[3].write_bytes(data[:-20])
    with pytest.raises(
        DicomReadError,
        match=r"cannot decode the pixel data of CT slice \S+CT_0003\.dcm: the file is truncated, "
        r"copy or export it again: its last element PixelData \(7FE0,0010\) announces (\d+) "
        r"bytes but the file holds (\d+)",
    ) as info:
        read_ct(tmp_path)
    announced, held = map(
        int, re.findall(r"announces (\d+) bytes but the file holds (\d+)", str(info.value))[0]
    )
    assert announced == volume.shape[1] * volume.shape[2] * 2
    assert held == announced - 20
    # cut inside the header: the slice is skipped, saying why, and the gap is reported
    cut = data.index(b"\x20\x00\x0e\x00")  # before (0020,000E) Series Instance UID
    paths[3].write_bytes(data[:cut])
    with (
        pytest.warns(RtplanWarning, match=r"CT_0003\.dcm: a CT image without Series.*truncated"),
        pytest.raises(SeriesGeometryError, match=r"CT_0002\.dcm and .*CT_0004\.dcm"),
    ):
        read_ct(tmp_path)


def test_missing_pixel_data_is_an_error_naming_the_file(tmp_path: Path, volume: np.ndarray) -> None:
    paths = _write(tmp_path, volume)
    ds = pydicom.dcmread(paths[2])
    del ds.PixelData
    ds.save_as(paths[2])
    with pytest.raises(
        DicomReadError,
        match=r"CT_0002\.dcm: the CT slice has no Pixel Data \(7FE0,0010\): the file is",
    ):
        read_ct(tmp_path)


def test_empty_dcm_file_is_skipped_with_a_warning(tmp_path: Path, volume: np.ndarray) -> None:
    paths = _write(tmp_path, volume)
    paths[2].write_bytes(b"")  # an interrupted copy
    with (
        pytest.warns(RtplanWarning, match=r"skipping .*CT_0002\.dcm: named \.dcm but an empty"),
        pytest.raises(SeriesGeometryError, match=r"CT_0001\.dcm and .*CT_0003\.dcm"),
    ):
        read_ct(tmp_path)
    (tmp_path / "notes.txt").write_text("")  # other non-DICOM files stay quiet
    paths[2].unlink()
    with pytest.raises(SeriesGeometryError, match=r"CT_0001\.dcm and .*CT_0003\.dcm"):
        read_ct(tmp_path)


def test_no_ct_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DicomReadError, match=r"no CT image found in .*no DICOM file"):
        read_ct(tmp_path)
    paths = _write(tmp_path / "ct", np.zeros((2, 3, 3)))
    ct_factory.write_rtstruct(tmp_path / "RS.dcm", paths)
    with pytest.raises(DicomReadError, match=r"no CT image found.*found 1 RTSTRUCT"):
        read_ct([tmp_path / "RS.dcm"])


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DicomReadError, match=r"no such file or folder: .*nowhere"):
        read_ct(tmp_path / "nowhere")
    with pytest.raises(DicomReadError, match=r"1 listed file\(s\) do not exist.*gone\.dcm"):
        read_ct([tmp_path / "gone.dcm"])


def test_multiframe_ct_is_refused(tmp_path: Path) -> None:
    def frames(k: int, ds: pydicom.Dataset) -> None:
        ds.NumberOfFrames = 1 if k else 2
        if not k:
            ds.PixelData = ds.PixelData * 2

    _write(tmp_path, np.zeros((2, 3, 3)), edit=frames)
    with pytest.raises(DicomReadError, match=r"CT_0000\.dcm is multi-frame"):
        read_ct(tmp_path)


# ---------------------------------------------------------------------------- compression
def test_rle_lossless(tmp_path: Path, volume: np.ndarray) -> None:
    def rle(k: int, ds: pydicom.Dataset) -> None:
        ds.compress(RLELossless)

    _write(tmp_path, volume, edit=rle)
    assert pydicom.dcmread(tmp_path / "CT_0000.dcm").file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(read_ct(tmp_path).array, volume)


def test_jpeg_ls_lossless_when_a_codec_is_installed(tmp_path: Path, volume: np.ndarray) -> None:
    from pydicom.pixels.encoders import JPEGLSLosslessEncoder
    from pydicom.uid import JPEGLSLossless

    if not JPEGLSLosslessEncoder.is_available:
        pytest.skip("no JPEG-LS encoder installed (pyjpegls)")

    def jls(k: int, ds: pydicom.Dataset) -> None:
        ds.compress(JPEGLSLossless)

    _write(tmp_path, volume, edit=jls)
    np.testing.assert_array_equal(read_ct(tmp_path).array, volume)


def _jpeg_lossless_series(folder: Path) -> None:
    """Slices declared JPEG Lossless SV1 (the frames are placeholders, never decoded)."""

    def jpeg(k: int, ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
        ds["PixelData"].VR = "OB"

    _write(folder, np.zeros((2, 3, 3)), edit=jpeg)


def test_jpeg_lossless_without_decoder_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydicom.pixels.decoders.base import Decoder

    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    _jpeg_lossless_series(tmp_path)
    with pytest.raises(
        MissingDependencyError,
        match=r"CT_0000\.dcm is compressed with JPEG Lossless.*1\.2\.840\.10008\.1\.2\.4\.70"
        r".*install pylibjpeg and pylibjpeg-libjpeg: pip install 'rtplan\[compression\]'",
    ):
        read_ct(tmp_path)


def test_jpeg_lossless_in_this_environment(tmp_path: Path) -> None:
    from pydicom.pixels.decoders.base import get_decoder

    if get_decoder(JPEGLosslessSV1).is_available:
        pytest.skip("a JPEG Lossless decoder is installed here")
    _jpeg_lossless_series(tmp_path)
    with pytest.raises(MissingDependencyError, match=r"pylibjpeg-libjpeg"):
        read_ct(tmp_path)


def test_unknown_transfer_syntax(tmp_path: Path) -> None:
    def unknown(k: int, ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: not an image codec
        ds.PixelData = encapsulate([b"\x00\x00"])
        ds["PixelData"].VR = "OB"

    _write(tmp_path, np.zeros((1, 3, 3)), edit=unknown)
    with pytest.raises(DicomReadError, match=r"MPEG2.*which pydicom cannot decode"):
        read_ct(tmp_path)


# ---------------------------------------------------------------------------- sample data
@pytest.mark.parametrize("name", ["thigh_sarcoma", "spine_metastasis"])
def test_sample_data(name: str) -> None:
    from rtplan.data import get_path

    ct = read_ct(get_path(name))
    assert ct.units == "HU"
    assert ct.grid.shape[0] > 10
    assert ct.patient_position is not None
    # air outside the body and cortical bone inside
    assert float(ct.array.min()) <= -900.0
    assert float(ct.array.max()) >= 1000.0
    assert ct.series is not None
    assert len(ct.series.sop_instance_uids) == ct.grid.shape[0]
    # slices advance along the normal by the grid spacing
    positions = [
        pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient for f in ct.series.files
    ]
    z = np.array([float(p[2]) for p in positions])
    np.testing.assert_allclose(np.diff(z), ct.grid.spacing_mm[0], atol=1e-3)
