"""Tests of rtplan.tissue: calibration, tissue classes, automatic structures."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import ndimage

from rtplan import Grid, Image, Structure, tissue
from rtplan.tissue import (
    SCHNEIDER_2000,
    CalibrationCurve,
    CalibrationError,
    CalibrationRangeWarning,
    MetalWarning,
    SegmentationParameters,
    TissueClass,
    TissueThresholds,
)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def ct_of(values: np.ndarray, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Image:
    arr = np.asarray(values, dtype=np.float32).reshape(1, 1, -1) if np.ndim(values) == 1 else values
    g = Grid(shape=arr.shape, spacing_mm=spacing, origin_mm=(0.0, 0.0, 0.0))
    return Image(array=arr, grid=g, units="HU", name="test CT")


# ----------------------------------------------------------------------------- calibration
def test_default_curve_reproduces_schneider_2000_nodes() -> None:
    # Schneider, Bortfeld & Schlegel (2000) HU -> density table (GATE distribution)
    table = {-1000: 0.00121, -98: 0.93, 14: 1.03, 100: 1.1199, 101: 1.0762, 1600: 1.9642}
    got = SCHNEIDER_2000.density_at(list(table))
    np.testing.assert_allclose(got, list(table.values()), rtol=1e-9)
    # linear between nodes: the bone line halfway between 101 and 1600 HU
    assert float(SCHNEIDER_2000.density_at(850.5)) == pytest.approx((1.0762 + 1.9642) / 2)


def test_water_electrons_per_gram() -> None:
    # Z/A of water, NIST ESTAR: 0.55508 mol/g
    assert abs(tissue.WATER_Z_OVER_A - 0.55508) < 5e-5


@pytest.mark.parametrize(
    ("rho", "rho_e"),
    [
        (0.95, 0.951),  # ICRU 44 adipose tissue
        (1.05, 1.040),  # ICRU 44 skeletal muscle
        (1.92, 1.781),  # ICRU 44 cortical bone
    ],
)
def test_electron_density_matches_icru44_tissues(rho: float, rho_e: float) -> None:
    # the HU at which the default curve gives the ICRU 44 mass density...
    hu = np.linspace(-1050.0, 3000.0, 405_001)
    d = SCHNEIDER_2000.density_at(hu)
    h = hu[int(np.argmin(np.abs(d - rho)))]
    # ...must give the ICRU 44 relative electron density of that tissue
    assert float(SCHNEIDER_2000.electron_density_at(h)) == pytest.approx(rho_e, rel=0.01)


def test_density_and_electron_density_images() -> None:
    ct = ct_of(np.array([-1000.0, -98.0, 0.0, 1600.0]))
    rho = tissue.density(ct)
    assert rho.units == "g/cm3"
    assert rho.array.dtype == np.float32
    assert rho.grid is ct.grid
    np.testing.assert_allclose(
        rho.array.ravel(), SCHNEIDER_2000.density_at([-1000, -98, 0, 1600]), rtol=1e-6
    )
    red = tissue.electron_density(ct)
    assert red.units == "1"
    expected = SCHNEIDER_2000.density_at([0.0]) * tissue.schneider_z_over_a_ratio([0.0])
    assert red.array.ravel()[2] == pytest.approx(float(expected[0]), rel=1e-6)


def test_out_of_range_values_are_clipped_and_counted() -> None:
    ct = ct_of(np.array([-3024.0, -2000.0, -1024.0, 0.0, 3000.0, 4095.0]))
    with pytest.warns(CalibrationRangeWarning, match=r"3 of 6 voxels .*2 below, 1 above"):
        rho = tissue.density(ct)
    assert rho.array.ravel()[0] == pytest.approx(0.00121, rel=1e-5)
    assert rho.array.ravel()[-1] == pytest.approx(2.8, rel=1e-6)
    with pytest.warns(CalibrationRangeWarning, match="3 of 6"):
        tissue.electron_density(ct)


def test_ct_units_are_checked() -> None:
    img = ct_of(np.array([1.0, 2.0]))
    rho = tissue.density(img)
    with pytest.raises(CalibrationError, match="needs a CT in HU"):
        tissue.density(rho)
    with pytest.raises(CalibrationError, match="needs a CT in HU"):
        tissue.classify(rho)


def test_user_curve_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "scanner.csv"
    path.write_text(
        "# CIRS phantom, 120 kV\nHU,Density,electron_density\n1000,1.6,1.5\n-1000,0.001,0.001\n"
        "0,1.0,1.0\n",
        encoding="utf-8",
    )
    curve = CalibrationCurve.from_csv(path)
    assert curve.name == "scanner.csv"
    assert curve.hu == (-1000.0, 0.0, 1000.0)
    ct = ct_of(np.array([-500.0, 500.0]))
    np.testing.assert_allclose(tissue.density(ct, curve).array.ravel(), [0.5005, 1.3], rtol=1e-6)
    np.testing.assert_allclose(
        tissue.electron_density(ct, curve).array.ravel(), [0.5005, 1.25], rtol=1e-6
    )


def test_user_curve_without_electron_column_uses_schneider_composition(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("hu,density\n-1000,0.0012\n1500,1.9\n", encoding="utf-8")
    curve = CalibrationCurve.from_csv(path, name="two-point")
    assert curve.electron_density is None
    h = np.array([40.0, 1200.0])
    np.testing.assert_allclose(
        curve.electron_density_at(h),
        curve.density_at(h) * tissue.schneider_z_over_a_ratio(h),
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("hu,rho\n0,1\n1,2\n", "no column 'density'"),
        ("hu,density\n0,1\nabc,2\n", "row 3"),
        ("hu,density\n0,1\n0,2\n", "strictly increasing"),
        ("hu,density\n0,1\n", "at least 2 nodes"),
        ("", "empty"),
    ],
)
def test_bad_csv_curves(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalibrationError, match=match):
        CalibrationCurve.from_csv(path)


def test_missing_csv_file(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="cannot read"):
        CalibrationCurve.from_csv(tmp_path / "none.csv")


def test_curve_validation() -> None:
    with pytest.raises(CalibrationError, match=">= 0"):
        CalibrationCurve(hu=[0, 1], density_g_cm3=[-1, 1])
    with pytest.raises(CalibrationError, match="one electron density"):
        CalibrationCurve(hu=[0, 1], density_g_cm3=[1, 1], electron_density=[1])


# ----------------------------------------------------------------------------- classes
def test_classify_uses_documented_boundaries() -> None:
    hu = np.array([-1000, -951, -950, -191, -190, -30, -29, 149, 150, 849, 850, 2999])
    ct = ct_of(hu.astype(np.float32))
    labels = tissue.classify(ct).array.ravel()
    c = TissueClass
    expected = [
        c.AIR, c.AIR, c.LUNG, c.LUNG, c.ADIPOSE, c.ADIPOSE, c.SOFT_TISSUE, c.SOFT_TISSUE,
        c.CANCELLOUS_BONE, c.CANCELLOUS_BONE, c.CORTICAL_BONE, c.CORTICAL_BONE,
    ]  # fmt: skip
    assert labels.tolist() == [int(e) for e in expected]
    assert tissue.classify(ct).array.dtype == np.uint8


def test_metal_is_flagged() -> None:
    ct = ct_of(np.array([0.0, 3000.0, 3071.0, 1500.0]), spacing=(2.0, 1.0, 1.0))
    with pytest.warns(MetalWarning, match=r"2 voxels \(0\.004 cm³\)"):
        labels = tissue.classify(ct).array.ravel()
    assert labels.tolist() == [4, 7, 7, 6]


def test_thresholds_can_be_overridden() -> None:
    ct = ct_of(np.array([2600.0, 100.0]))
    t = TissueThresholds(metal_min_hu=2500.0, cancellous_bone_min_hu=90.0)
    with pytest.warns(MetalWarning):
        labels = tissue.classify(ct, thresholds=t).array.ravel()
    assert labels.tolist() == [TissueClass.METAL, TissueClass.CANCELLOUS_BONE]
    assert t.range_of("muscle") == (-29.0, 90.0)
    with pytest.raises(CalibrationError, match="increase strictly"):
        TissueThresholds(cancellous_bone_min_hu=900.0)


def test_tissue_class_parsing() -> None:
    assert TissueClass.parse("cortical bone") is TissueClass.CORTICAL_BONE
    assert TissueClass.parse("Muscle") is TissueClass.SOFT_TISSUE
    assert TissueClass.parse(7) is TissueClass.METAL
    assert TissueClass.SOFT_TISSUE.label == "soft_tissue"
    with pytest.raises(CalibrationError, match="unknown tissue class 'tendon'"):
        TissueClass.parse("tendon")


# ----------------------------------------------------------------------------- synthetic anatomy
def synthetic_limb(
    *, marrow_hu: float, couch: bool = True, seed: int = 0
) -> tuple[Image, dict[str, np.ndarray]]:
    """An elliptic limb: skin/fat, muscle, a femur-like tube with marrow, on a couch top."""
    g = Grid(shape=(30, 120, 130), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-64.5, -59.5, 0.0))
    c = g.centers_mm()
    x, y = c[..., 0], c[..., 1]
    hu = np.full(g.shape, -1000.0)
    body = np.hypot(x / 55.0, y / 48.0) < 1.0
    muscle = np.hypot(x / 47.0, y / 40.0) < 1.0
    femur = np.hypot(x - 8.0, y - 5.0) < 14.0
    marrow = np.hypot(x - 8.0, y - 5.0) < 9.0
    hu[body] = -100.0
    hu[muscle] = 45.0
    hu[femur] = 1400.0
    hu[marrow] = marrow_hu
    if couch:  # carbon-fibre top touching the back, wider than the limb
        top = (y > 48.0) & (y < 51.0) & (np.abs(x) < 62.0)
        hu[top] = 300.0
    hu += np.random.default_rng(seed).normal(0.0, 8.0, g.shape)
    truth = {"Body": body, "Bone": femur, "Muscle": muscle & ~femur}
    return Image(array=hu.astype(np.float32), grid=g, units="HU", name="limb"), truth


@pytest.mark.parametrize("marrow_hu", [250.0, -80.0], ids=["red-marrow", "fatty-marrow"])
def test_auto_structures_on_synthetic_limb(marrow_hu: float) -> None:
    ct, truth = synthetic_limb(marrow_hu=marrow_hu)
    s = tissue.auto_structures(ct)
    assert set(s) == {"Body", "Bone", "Muscle"}
    for name, t in truth.items():
        assert dice(s[name].mask(ct.grid), t) > 0.99, name
    # the couch top is not body
    couch = (ct.array > 200) & ~truth["Bone"]
    assert not np.any(s["Body"].mask(ct.grid) & couch)
    assert s["Body"].interpreted_type == "EXTERNAL"
    assert s["Bone"].interpreted_type == "ORGAN"
    assert s["Bone"].color == (241, 214, 145)
    assert s["Muscle"].generation == "AUTOMATIC"


def test_spinal_canal_is_not_filled_but_enclosed_lesion_is() -> None:
    """A vertebra-like ring around a soft-tissue canal, and a lesion enclosed in 3D."""
    g = Grid(shape=(24, 90, 90), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-44.5, -44.5, 0.0))
    c = g.centers_mm()
    x, y, z = c[..., 0], c[..., 1], c[..., 2]
    hu = np.full(g.shape, -100.0)  # fat inside a body filling the grid's interior
    hu[np.abs(x) > 42] = -1000.0
    ring = (np.hypot(x, y - 10) < 16.0) & (np.hypot(x, y - 10) >= 10.0)
    canal = np.hypot(x, y - 10) < 10.0
    vbody = (np.hypot(x, (y + 20) / 0.8) < 14.0) & (z > 6) & (z < 40)
    lesion = np.hypot(np.hypot(x, y + 20), z - 23) < 6.0
    hu[ring] = 1200.0
    hu[canal] = 15.0  # CSF
    hu[vbody] = 250.0
    hu[lesion] = 50.0
    hu += np.random.default_rng(1).normal(0.0, 8.0, g.shape)
    ct = Image(array=hu.astype(np.float32), grid=g, units="HU")
    bone = tissue.bone_mask(ct)
    assert not np.any(bone & canal)
    assert np.all(bone[lesion])
    assert dice(bone, ring | vbody) > 0.99
    # larger holes than marrow_max_hole_mm2 stay open, even with fatty content
    p = SegmentationParameters(marrow_max_hole_mm2=100.0, canal_hu=(-200.0, -150.0))
    assert not np.any(tissue.bone_mask(ct, params=p) & canal)


def test_auto_structures_contours_rasterise_back() -> None:
    ct, _ = synthetic_limb(marrow_hu=250.0, couch=False)
    bone = tissue.auto_structures(ct)["Bone"]
    again = Structure(name="Bone", contours=bone.contours, slice_thickness_mm=2.0)
    np.testing.assert_array_equal(again.mask(ct.grid), bone.mask(ct.grid))


def test_composition_adds_up() -> None:
    ct, truth = synthetic_limb(marrow_hu=250.0, couch=False)
    comp = tissue.composition(ct)
    assert list(comp) == [c.label for c in TissueClass]
    voxel_cc = ct.grid.voxel_volume_mm3 / 1000.0
    assert sum(comp.values()) == pytest.approx(np.count_nonzero(truth["Body"]) * voxel_cc)
    assert comp["soft_tissue"] == pytest.approx(
        np.count_nonzero(truth["Muscle"]) * voxel_cc, rel=0.01
    )
    # an explicit region: the bone only
    bone_only = tissue.composition(ct, body=truth["Bone"])
    assert bone_only["cortical_bone"] + bone_only["cancellous_bone"] == pytest.approx(
        np.count_nonzero(truth["Bone"]) * voxel_cc
    )
    with pytest.raises(CalibrationError, match="differs from the CT"):
        tissue.composition(ct, body=np.ones((2, 2, 2), dtype=bool))


# ----------------------------------------------------------------------------- sample phantoms
def _make_phantoms() -> ModuleType:
    from rtplan.data import sample_data_root

    path = sample_data_root() / "make_phantoms.py"
    spec = importlib.util.spec_from_file_location("make_phantoms", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_phantoms", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("sample", "bone_roi"), [("thigh_sarcoma", "Femur"), ("spine_metastasis", "Vertebra")]
)
def test_auto_bone_and_muscle_on_sample_phantoms(
    sample: str, bone_roi: str, tmp_path: Path, dciodvfy: Callable[[Path], list[str]]
) -> None:
    from rtplan.data import get_path
    from rtplan.io import read_ct, read_rtstruct, write_rtstruct

    ct = read_ct(get_path(sample))
    truth = _make_phantoms().roi_masks(sample)
    s = tissue.auto_structures(ct)
    assert dice(s["Body"].mask(ct.grid), truth["Body"]) > 0.99
    assert dice(s["Bone"].mask(ct.grid), truth[bone_roi]) > 0.95
    assert dice(s["Muscle"].mask(ct.grid), truth["Muscle"]) > 0.95
    # writable to RT-Struct: valid DICOM, read back as contours holding the same voxels
    out = write_rtstruct(list(s.values()), tmp_path / "RS_auto.dcm", reference=ct)
    assert dciodvfy(out) == []
    back = read_rtstruct(out, reference=ct)
    assert back.names == ["Body", "Bone", "Muscle"]
    assert [r.interpreted_type for r in back] == ["EXTERNAL", "ORGAN", "ORGAN"]
    for name, structure in s.items():
        m = structure.mask(ct.grid)
        np.testing.assert_array_equal(back[name].mask(ct.grid), m, err_msg=name)
        layer_cc = np.count_nonzero(m & ~ndimage.binary_erosion(m)) * ct.grid.voxel_volume_mm3
        assert abs(back[name].volume_cc - structure.volume_cc) < layer_cc / 1000.0, name


#: Tissue class of each phantom tissue type, by its nominal HU (make_phantoms.TISSUES):
#: skin (-70 HU) falls in the adipose window, CSF (10 HU) in the soft-tissue one.
PHANTOM_CLASS = {
    "air": "air",
    "skin": "adipose",
    "fat": "adipose",
    "muscle": "soft_tissue",
    "soft_tissue": "soft_tissue",
    "fluid": "soft_tissue",
    "cancellous_bone": "cancellous_bone",
    "cortical_bone": "cortical_bone",
}


@pytest.mark.parametrize("sample", ["thigh_sarcoma", "spine_metastasis"])
def test_composition_on_sample_phantoms_matches_their_tissue_labels(
    sample: str,
    phantoms: ModuleType,
) -> None:
    """What `rtplan info` prints: cm³ of each class inside the Body ROI, here against the
    phantom's own tissue labels (the noise, SD 8 HU, stays far from every boundary)."""
    import rtplan

    study = rtplan.load_study(rtplan.data.get_path(sample))
    ct, body = study.ct, study.structures["Body"]
    comp = tissue.composition(ct, body=body)
    mp = phantoms
    labels = mp.build(sample).labels
    inside = body.mask(ct.grid)
    voxel_cc = ct.grid.voxel_volume_mm3 / 1000.0
    expected = dict.fromkeys(comp, 0.0)
    for t in mp.TISSUES.values():
        expected[PHANTOM_CLASS[t.tissue_class]] += (
            np.count_nonzero((labels == t.label) & inside) * voxel_cc
        )
    assert comp == pytest.approx(expected, abs=2 * voxel_cc)
    assert sum(comp.values()) == pytest.approx(body.volume_cc, rel=0.01)
    assert comp["cortical_bone"] > 0
    assert comp["cancellous_bone"] > 0
    assert comp["metal"] == 0.0
