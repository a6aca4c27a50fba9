"""The bundled sample phantoms: files, reproducibility, HU, geometry, structures.

The studies ship inside the package (``src/rtplan/data/``); their generator
``sample_data/make_phantoms.py`` stays in the repository. These tests read the DICOM with
pydicom only (not through rtplan) and compare with the generator's ground truth, with
closed-form volumes written out here, and with rt-utils.
"""

from __future__ import annotations

import filecmp
import fnmatch
import math
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

import numpy as np
import pydicom
import pytest

import rtplan.data
from rtplan.errors import RtplanError

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "sample_data" / "make_phantoms.py"
SAMPLE_DATA = ROOT / "src" / "rtplan" / "data"  # the studies ship inside the package
PHANTOMS = ("thigh_sarcoma", "spine_metastasis")

THIGH_ROIS = {
    "Body": "EXTERNAL",
    "Femur": "ORGAN",
    "FemurCortex": "ORGAN",
    "Muscle": "ORGAN",
    "Quadriceps": "ORGAN",
    "Hamstrings": "ORGAN",
    "Adductors": "ORGAN",
    "NVBundle": "ORGAN",
    "GTV": "GTV",
    "CTV": "CTV",
    "PTV": "PTV",
}
SPINE_ROIS = {
    "Body": "EXTERNAL",
    "Vertebra": "ORGAN",
    "SpinalCanal": "ORGAN",
    "SpinalCord": "ORGAN",
    "Kidney_L": "ORGAN",
    "Kidney_R": "ORGAN",
    "Psoas_L": "ORGAN",
    "Psoas_R": "ORGAN",
    "ErectorSpinae_L": "ORGAN",
    "ErectorSpinae_R": "ORGAN",
    "Muscle": "ORGAN",
    "GTV": "GTV",
    "PTV": "PTV",
}
EXPECTED_ROIS = {"thigh_sarcoma": THIGH_ROIS, "spine_metastasis": SPINE_ROIS}

# Plausible CT numbers (HU) of each tissue class: the mean of every tissue must fall inside.
HU_RANGES = {
    "air": (-1024.0, -950.0),
    "skin": (-120.0, -30.0),
    "fat": (-150.0, -50.0),
    "muscle": (20.0, 60.0),
    "soft_tissue": (0.0, 100.0),
    "fluid": (-5.0, 25.0),
    "cancellous_bone": (150.0, 400.0),
    "cortical_bone": (1200.0, 1500.0),
}


@pytest.fixture(scope="module")
def mp(phantoms: ModuleType) -> ModuleType:
    """The generator script (``sample_data/make_phantoms.py``), imported as a module."""
    assert Path(phantoms.__file__) == GENERATOR
    return phantoms


def _read_series(name: str) -> list[pydicom.Dataset]:
    cts = [pydicom.dcmread(p) for p in sorted((SAMPLE_DATA / name).glob("CT_*.dcm"))]
    return sorted(cts, key=lambda d: float(d.ImagePositionPatient[2]))


@pytest.fixture(scope="module")
def series() -> dict[str, list[pydicom.Dataset]]:
    return {name: _read_series(name) for name in PHANTOMS}


@pytest.fixture(scope="module")
def rtstructs() -> dict[str, pydicom.Dataset]:
    return {name: pydicom.dcmread(SAMPLE_DATA / name / "RS.dcm") for name in PHANTOMS}


def _hu(cts: list[pydicom.Dataset]) -> np.ndarray:
    return np.stack(
        [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in cts]
    )


def _contours_by_roi(rs: pydicom.Dataset) -> dict[str, list[np.ndarray]]:
    names = {int(r.ROINumber): r.ROIName for r in rs.StructureSetROISequence}
    out = {}
    for rc in rs.ROIContourSequence:
        out[names[int(rc.ReferencedROINumber)]] = [
            np.asarray(c.ContourData, dtype=float).reshape(-1, 3) for c in rc.ContourSequence
        ]
    return out


def _signed_area_mm2(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


# Files and reproducibility ----------------------------------------------------------------


def test_get_path_finds_the_studies_inside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTPLAN_SAMPLE_DATA", raising=False)
    assert rtplan.data.names() == PHANTOMS
    assert rtplan.data.sample_data_root() == Path(rtplan.data.__file__).resolve().parent
    assert rtplan.data.sample_data_root() == SAMPLE_DATA
    for name in PHANTOMS:
        assert rtplan.data.get_path(name) == SAMPLE_DATA / name


def test_the_wheel_ships_every_study_file() -> None:
    """The package data of pyproject.toml matches every file of the studies."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["rtplan"]
    package = ROOT / "src" / "rtplan"
    for path in SAMPLE_DATA.rglob("*.dcm"):
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative
    # and no pattern names a folder that is not there
    for pattern in patterns:
        assert list(package.glob(pattern)), pattern


def test_sample_data_override_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "thigh_sarcoma").mkdir()
    shutil.copy(SAMPLE_DATA / "thigh_sarcoma" / "RS.dcm", tmp_path / "thigh_sarcoma")
    monkeypatch.setenv("RTPLAN_SAMPLE_DATA", str(tmp_path))
    assert rtplan.data.get_path("thigh_sarcoma") == tmp_path / "thigh_sarcoma"
    with pytest.raises(RtplanError, match=r"sample 'spine_metastasis' missing at .*reinstall"):
        rtplan.data.get_path("spine_metastasis")
    with pytest.raises(RtplanError, match=r"unknown sample 'knee'; choose one of thigh_sarcoma"):
        rtplan.data.get_path("knee")
    monkeypatch.setenv("RTPLAN_SAMPLE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(RtplanError, match=r"RTPLAN_SAMPLE_DATA=.*nowhere.* is not a folder"):
        rtplan.data.get_path("thigh_sarcoma")


@pytest.mark.parametrize("name", PHANTOMS)
def test_files_exist(mp: ModuleType, name: str) -> None:
    grid = mp.build(name).grid
    folder = SAMPLE_DATA / name
    assert sorted(p.name for p in folder.glob("*.dcm")) == sorted(
        [f"CT_{i:03d}.dcm" for i in range(1, grid.slices + 1)] + ["RS.dcm"]
    )
    assert (ROOT / "sample_data" / "README.md").is_file()


def test_total_size_within_budget() -> None:
    """The studies ship in every wheel: together they stay within 4 MiB."""
    files = [p for name in PHANTOMS for p in (SAMPLE_DATA / name).iterdir()]
    assert all(p.suffix == ".dcm" for p in files)
    total = sum(p.stat().st_size for p in files)
    assert total <= 4 * 1024 * 1024


def test_regenerates_byte_identical(mp: ModuleType, tmp_path: Path) -> None:
    assert mp.main(["--output", str(tmp_path)]) == 0
    for name in PHANTOMS:
        committed = sorted(p.name for p in (SAMPLE_DATA / name).glob("*.dcm"))
        regenerated = sorted(p.name for p in (tmp_path / name).glob("*.dcm"))
        assert regenerated == committed
        match, mismatch, errors = filecmp.cmpfiles(
            SAMPLE_DATA / name, tmp_path / name, committed, shallow=False
        )
        assert (mismatch, errors) == ([], []), f"{name}: regenerated files differ"
        assert len(match) == len(committed)


def test_uids_are_unique_and_valid(series: dict, rtstructs: dict) -> None:
    sop_uids = [d.SOPInstanceUID for cts in series.values() for d in cts]
    sop_uids += [rs.SOPInstanceUID for rs in rtstructs.values()]
    assert len(set(sop_uids)) == len(sop_uids)
    for uid in sop_uids:
        assert uid.is_valid
        assert uid.startswith("2.25.")
    studies = {name: cts[0].StudyInstanceUID for name, cts in series.items()}
    assert len(set(studies.values())) == len(PHANTOMS)


# CT geometry and pixel data ---------------------------------------------------------------


@pytest.mark.parametrize("name", PHANTOMS)
def test_ct_geometry(mp: ModuleType, series: dict, name: str) -> None:
    grid = mp.build(name).grid
    cts = series[name]
    assert len(cts) == grid.slices
    z = np.array([float(d.ImagePositionPatient[2]) for d in cts])
    np.testing.assert_allclose(z, grid.z_mm(), atol=1e-9)
    np.testing.assert_allclose(np.diff(z), grid.slice_spacing_mm, atol=1e-9)
    # InstanceNumber counts from the most superior slice: it must not be used to sort.
    assert [int(d.InstanceNumber) for d in cts] == list(range(grid.slices, 0, -1))
    for d in cts:
        assert d.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert d.SOPClassUID == pydicom.uid.CTImageStorage
        assert d.Modality == "CT"
        assert d.PatientPosition == "HFS"
        assert [float(v) for v in d.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in d.ImagePositionPatient[:2]] == pytest.approx(
            grid.first_voxel_mm[:2], abs=1e-9
        )
        assert [float(v) for v in d.PixelSpacing] == [grid.pixel_spacing_mm] * 2
        assert (d.Rows, d.Columns) == (grid.rows, grid.columns)
        assert float(d.SliceThickness) == grid.slice_spacing_mm
        assert (d.BitsAllocated, d.BitsStored, d.HighBit, d.PixelRepresentation) == (16, 12, 11, 0)
        assert (float(d.RescaleSlope), float(d.RescaleIntercept)) == (1.0, -1024.0)
        assert d.FrameOfReferenceUID == cts[0].FrameOfReferenceUID
        assert d.SeriesInstanceUID == cts[0].SeriesInstanceUID


@pytest.mark.parametrize("name", PHANTOMS)
def test_hu_matches_generator(mp: ModuleType, series: dict, name: str) -> None:
    hu = _hu(series[name])
    np.testing.assert_array_equal(hu, mp.hu_volume(name))


@pytest.mark.parametrize("name", PHANTOMS)
def test_hu_per_tissue(mp: ModuleType, series: dict, name: str) -> None:
    hu = _hu(series[name])
    labels, names = mp.thigh_labels() if name == "thigh_sarcoma" else mp.spine_labels()
    assert labels.shape == hu.shape
    assert labels.dtype == np.uint8
    for value, tissue in names.items():
        voxels = hu[labels == value]
        info = mp.TISSUES[tissue]
        lo, hi = HU_RANGES[info.tissue_class]
        assert lo <= voxels.mean() <= hi, f"{name}/{tissue}: mean {voxels.mean():.1f} HU"
        if info.hu > -1000.0:  # air is clipped at -1024 HU
            # seeded Gaussian noise of 8 HU around the nominal value
            assert voxels.mean() == pytest.approx(
                info.hu, abs=4 * 8.0 / math.sqrt(voxels.size) + 0.5
            )
            if voxels.size > 1000:
                assert 7.5 <= voxels.std() <= 8.5


def test_tissue_labels(mp: ModuleType) -> None:
    labels, names = mp.thigh_labels()
    assert labels.shape == (40, 128, 128)
    assert set(names.values()) == {
        "air", "skin", "fat", "muscle_quadriceps", "muscle_hamstrings", "muscle_adductors",
        "cortical_bone", "marrow", "sarcoma", "neurovascular_bundle",
    }  # fmt: skip
    labels, names = mp.spine_labels()
    assert labels.shape == (36, 144, 144)
    assert {
        "cortical_bone", "cancellous_bone", "metastasis", "disc", "csf", "spinal_cord",
        "kidney", "muscle_psoas", "muscle_erector_spinae", "bowel_gas",
    } <= set(names.values())  # fmt: skip
    # the arrays handed out are copies: the cached phantom cannot be altered through them
    labels[:] = 0
    assert mp.spine_labels()[0].any()


# Structures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHANTOMS)
def test_rtstruct_rois(series: dict, rtstructs: dict, name: str) -> None:
    rs = rtstructs[name]
    assert rs.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert rs.SOPClassUID == pydicom.uid.RTStructureSetStorage
    rois = {int(r.ROINumber): r.ROIName for r in rs.StructureSetROISequence}
    types = {
        rois[int(o.ReferencedROINumber)]: o.RTROIInterpretedType
        for o in rs.RTROIObservationsSequence
    }
    assert types == EXPECTED_ROIS[name]
    colors = {
        rois[int(rc.ReferencedROINumber)]: list(rc.ROIDisplayColor) for rc in rs.ROIContourSequence
    }
    assert colors["GTV"] == [255, 0, 0]
    cts = series[name]
    frame = rs.ReferencedFrameOfReferenceSequence[0]
    assert frame.FrameOfReferenceUID == cts[0].FrameOfReferenceUID
    refs = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert refs.SeriesInstanceUID == cts[0].SeriesInstanceUID
    assert {r.ReferencedSOPInstanceUID for r in refs.ContourImageSequence} == {
        d.SOPInstanceUID for d in cts
    }
    z_of = {d.SOPInstanceUID: float(d.ImagePositionPatient[2]) for d in cts}
    for rc in rs.ROIContourSequence:
        assert len(rc.ContourSequence) > 0
        for c in rc.ContourSequence:
            assert c.ContourGeometricType == "CLOSED_PLANAR"
            points = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
            assert len(points) == int(c.NumberOfContourPoints) >= 3
            (ref,) = c.ContourImageSequence
            assert np.all(points[:, 2] == z_of[ref.ReferencedSOPInstanceUID])


@pytest.mark.parametrize("name", PHANTOMS)
def test_roi_masks_cover_their_tissues(mp: ModuleType, name: str) -> None:
    phantom = mp.build(name)
    masks = mp.roi_masks(name)
    assert set(masks) == set(EXPECTED_ROIS[name])
    x_local = phantom.grid.x_mm() - phantom.origin_mm[0]
    for roi, (tissues, side) in mp.ROI_TISSUES[name].items():
        expected = np.isin(phantom.labels, [mp.TISSUES[t].label for t in tissues])
        if side is not None:
            expected &= (x_local > 0) if side == "L" else (x_local < 0)
        np.testing.assert_array_equal(masks[roi], expected, err_msg=f"{name}/{roi}")
        assert masks[roi].any()


def test_thigh_geometry(mp: ModuleType, rtstructs: dict) -> None:
    masks = mp.roi_masks("thigh_sarcoma")
    contours = _contours_by_roi(rtstructs["thigh_sarcoma"])
    # The cortex is an annulus on every slice: outer contour CCW, marrow hole CW.
    per_slice: dict[float, list[float]] = {}
    for c in contours["FemurCortex"]:
        per_slice.setdefault(c[0, 2], []).append(_signed_area_mm2(c))
    assert len(per_slice) == 40
    for areas in per_slice.values():
        assert len(areas) == 2
        assert max(areas) == pytest.approx(math.pi * 14**2, rel=0.01)
        assert min(areas) == pytest.approx(-math.pi * 9**2, rel=0.01)
    assert not np.any(masks["FemurCortex"] & ~masks["Femur"])
    assert (masks["Femur"] & ~masks["FemurCortex"]).sum() > 0.3 * masks["Femur"].sum()
    # Compartments tile the muscle; tumour and NV bundle are outside it and apart.
    parts = masks["Quadriceps"].astype(int) + masks["Hamstrings"] + masks["Adductors"]
    assert parts.max() == 1
    np.testing.assert_array_equal(parts.astype(bool), masks["Muscle"])
    assert not np.any(masks["GTV"] & (masks["Muscle"] | masks["Femur"] | masks["NVBundle"]))
    gtv = np.vstack(contours["GTV"])
    nvb = np.vstack(contours["NVBundle"])
    gap = np.min(np.linalg.norm(gtv[:, None, :] - nvb[None, :, :], axis=2))
    assert gap >= 10.0
    # Right thigh: the femur lies medial (+x) and posterior (+y) of the body's centre.
    body_x = np.mean([c[:, 0].mean() for c in contours["Body"]])
    body_y = np.mean([c[:, 1].mean() for c in contours["Body"]])
    femur_x = np.mean([c[:, 0].mean() for c in contours["Femur"]])
    femur_y = np.mean([c[:, 1].mean() for c in contours["Femur"]])
    assert femur_x > body_x
    assert femur_y > body_y


def test_spine_geometry(mp: ModuleType, rtstructs: dict) -> None:
    masks = mp.roi_masks("spine_metastasis")
    contours = _contours_by_roi(rtstructs["spine_metastasis"])
    # Patient left is +x in LPS.
    left = np.vstack(contours["Kidney_L"])[:, 0].mean()
    right = np.vstack(contours["Kidney_R"])[:, 0].mean()
    midline = np.vstack(contours["SpinalCanal"])[:, 0].mean()
    assert left > midline + 50.0
    assert right < midline - 50.0
    assert np.vstack(contours["Psoas_L"])[:, 0].mean() > midline
    # The neural arch closes around the canal: Vertebra has holes (clockwise contours).
    holes = [c for c in contours["Vertebra"] if _signed_area_mm2(c) < 0]
    assert holes
    assert not np.any(masks["Vertebra"] & masks["SpinalCanal"])
    # The lesion replaces cancellous bone inside the vertebra; the PTV spares the canal.
    assert not np.any(masks["GTV"] & ~masks["Vertebra"])
    assert not np.any(masks["PTV"] & masks["SpinalCanal"])
    ptv = np.vstack(contours["PTV"])
    canal = np.vstack(contours["SpinalCanal"])
    assert np.min(np.linalg.norm(ptv[:, None, :] - canal[None, :, :], axis=2)) > 3.0
    assert not np.any(masks["SpinalCord"] & ~masks["SpinalCanal"])


# Volumes ----------------------------------------------------------------------------------


def _closed_form_volumes_cc() -> dict[str, dict[str, float]]:
    """The closed forms of sample_data/README.md, written out independently (cm3)."""

    def taper_integral(a: float, b: float, tau: float, z0: float, z1: float) -> float:
        return a * b * ((1 + tau * z1) ** 3 - (1 + tau * z0) ** 3) / (3 * tau)

    def clipped_ellipsoid(a: float, b: float, c: float, u0: float, u1: float) -> float:
        u0, u1 = max(u0, -c), min(u1, c)
        return math.pi * a * b * ((u1 - u0) - (u1**3 - u0**3) / (3 * c * c))

    def segment(a: float, b: float, h: float) -> float:
        u = h / b
        return a * b * (math.pi / 2 + math.asin(u) + u * math.sqrt(1 - u * u))

    def ellipsoid(a: float, b: float, c: float) -> float:
        return 4 / 3 * math.pi * a * b * c

    h_thigh, z0, z1 = 120.0, -60.5, 59.5
    # fascia (80 s - 15)(70 s - 15) = 5600 s^2 - 2250 s + 225
    s1 = ((1 + 0.001 * z1) ** 2 - (1 + 0.001 * z0) ** 2) / (2 * 0.001)
    fascia = math.pi * (taper_integral(80, 70, 0.001, z0, z1) - 2250 * s1 + 225 * h_thigh)
    thigh = {
        "Body": math.pi * taper_integral(80, 70, 0.001, z0, z1),
        "Femur": math.pi * 14**2 * h_thigh,
        "FemurCortex": math.pi * (14**2 - 9**2) * h_thigh,
        "NVBundle": math.pi * 5**2 * h_thigh,
        "GTV": ellipsoid(25, 20, 30),
        "CTV": ellipsoid(35, 30, 40),
        "PTV": ellipsoid(41, 36, 46),
    }
    thigh["Muscle"] = fascia - thigh["Femur"] - thigh["NVBundle"] - thigh["GTV"]
    h_spine, z0, z1 = 90.0, -45.25, 44.75
    gamma = math.gamma(4 / 3) ** 2 / math.gamma(5 / 3)
    psoas = math.pi * taper_integral(15, 14, -0.004, z0, z1)
    erector = math.pi * 25 * 22 * h_spine
    wall = (segment(140, 105, 15) - segment(128, 93, 15)) * h_spine
    spine = {
        "Body": h_spine * (math.pi * 155 * 120 / 2 + 2 * 155 * 95 * gamma),
        "SpinalCanal": math.pi * 11 * 8.5 * h_spine,
        "SpinalCord": math.pi * 5 * 4 * h_spine,
        "Kidney_L": clipped_ellipsoid(28, 17, 50, z0 - 12, z1 - 12),
        "Kidney_R": clipped_ellipsoid(28, 17, 50, z0 + 3, z1 + 3),
        "Psoas_L": psoas,
        "Psoas_R": psoas,
        "ErectorSpinae_L": erector,
        "ErectorSpinae_R": erector,
        "Muscle": 2 * psoas + 2 * erector + wall,
        "GTV": ellipsoid(10, 10, 10),
        "PTV": ellipsoid(15, 15, 15),
    }
    return {
        "thigh_sarcoma": {k: v / 1000 for k, v in thigh.items()},
        "spine_metastasis": {k: v / 1000 for k, v in spine.items()},
    }


@pytest.mark.parametrize("name", PHANTOMS)
def test_analytic_volumes(mp: ModuleType, rtstructs: dict, name: str) -> None:
    expected = _closed_form_volumes_cc()[name]
    assert set(mp.ANALYTIC_VOLUMES_CC[name]) == set(expected)
    for roi, volume in expected.items():
        assert mp.ANALYTIC_VOLUMES_CC[name][roi] == pytest.approx(volume, rel=1e-9), roi
    grid = mp.build(name).grid
    masks = mp.roi_masks(name)
    contours = _contours_by_roi(rtstructs[name])
    voxel_cc = grid.pixel_spacing_mm**2 * grid.slice_spacing_mm / 1000
    for roi, stack in mp.SLICE_STACK_VOLUMES_CC[name].items():
        # slab-by-slab integration of the exact sections: the midpoint rule
        assert stack == pytest.approx(expected[roi], rel=0.01), roi
        # the written polygons are inscribed in the exact sections, within 0.6 %
        polygons = sum(_signed_area_mm2(c) for c in contours[roi]) * grid.slice_spacing_mm / 1000
        assert 0.994 * stack <= polygons <= stack, roi
        # counting voxel centres approximates the same volume
        voxels = masks[roi].sum() * voxel_cc
        assert voxels == pytest.approx(stack, rel=0.06), roi


# Peers ------------------------------------------------------------------------------------


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Grow a (slice, row, column) mask by one voxel in-plane (8-neighbourhood)."""
    out = mask.copy()
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    rows, cols = mask.shape[1:]
    for dj in (-1, 0, 1):
        for di in (-1, 0, 1):
            out |= padded[:, 1 + dj : 1 + dj + rows, 1 + di : 1 + di + cols]
    return out


@pytest.mark.peer
@pytest.mark.parametrize("name", PHANTOMS)
def test_rt_utils_reads_every_roi(mp: ModuleType, name: str) -> None:
    rt_utils = pytest.importorskip("rt_utils")
    rt = rt_utils.RTStructBuilder.create_from(
        dicom_series_path=str(SAMPLE_DATA / name), rt_struct_path=str(SAMPLE_DATA / name / "RS.dcm")
    )
    assert sorted(rt.get_roi_names()) == sorted(EXPECTED_ROIS[name])
    truth = mp.roi_masks(name)
    for roi in EXPECTED_ROIS[name]:
        # rt-utils returns (row, column, slice) for square images, slices sorted by z
        mask = np.transpose(rt.get_roi_mask_by_name(roi), (2, 0, 1)).astype(bool)
        assert mask.shape == truth[roi].shape
        # rt-utils rounds vertices to whole pixels and fills boundary pixels: its mask holds
        # the true one (bar a few rounded-off voxels) and stays within one voxel of it, two
        # at the sharp corners of the compartments.
        missed = np.count_nonzero(truth[roi] & ~mask)
        assert missed <= 0.002 * truth[roi].sum() + 3, roi
        near = _dilate(truth[roi])
        assert np.count_nonzero(mask & ~near) <= 2, roi
        assert not np.any(mask & ~_dilate(near)), roi
        dice = 2 * np.count_nonzero(mask & truth[roi]) / (mask.sum() + truth[roi].sum())
        assert dice >= 0.7, roi


@pytest.mark.parametrize("name", PHANTOMS)
def test_dciodvfy_finds_no_error(name: str) -> None:
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    folder = SAMPLE_DATA / name
    files = sorted(folder.glob("CT_*.dcm"))
    for path in (files[0], files[len(files) // 2], files[-1], folder / "RS.dcm"):
        result = subprocess.run(
            [dciodvfy, str(path)], capture_output=True, text=True, check=False, timeout=60
        )
        report = result.stdout + result.stderr
        errors = [line for line in report.splitlines() if line.startswith("Error")]
        assert errors == [], f"{path.name}: {errors}"
        warnings = [
            line
            for line in report.splitlines()
            if line.startswith("Warning") and "DICOMDIR" not in line
        ]
        assert warnings == [], f"{path.name}: {warnings}"
