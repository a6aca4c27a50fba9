"""Tests of rtplan.tissue: calibration, tissue classes, automatic structures."""

from __future__ import annotations

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


# ----------------------------------------------------------------------------- exactness
# auto_structures works on bounding boxes (rtplan.tissue._boxmask) with the morphology of
# rtplan.geometry. These tests compare it, voxel for voxel, with the straightforward
# whole-volume definition below: the geometry morphology on the whole volume, scipy's
# binary_fill_holes, loops over slices.
def _voxel_count(volume_cc: float, grid: Grid) -> int:
    return max(1, round(volume_cc * 1000.0 / grid.voxel_volume_mm3))


def reference_body(ct: Image, p: SegmentationParameters) -> np.ndarray:
    from rtplan import geometry as morph

    hu, sp = np.asarray(ct.array), ct.grid.spacing_mm
    above = hu > p.body_threshold_hu
    if p.couch_removal_mm > 0:
        core = morph.erode_mask(above, p.couch_removal_mm, sp, outside_is_set=True)
        core = morph.largest_component(core)
        body = morph.dilate_mask(core, p.couch_removal_mm, sp) & above
        thin_dense = above & ~core & (hu >= p.couch_min_hu)
        labels, _ = ndimage.label(thin_dense)
        ids = np.unique(labels[above & ~body & thin_dense])
        body &= ~np.isin(labels, ids[ids > 0])
        body = morph.largest_component(body)
    else:
        body = morph.largest_component(above)
    return morph.fill_holes_3d(morph.fill_holes_slicewise(body))


def reference_bone(ct: Image, body: np.ndarray, p: SegmentationParameters) -> np.ndarray:
    from rtplan import geometry as morph

    hu, sp, t = np.asarray(ct.array), ct.grid.spacing_mm, p.thresholds
    bone = (hu >= t.cancellous_bone_min_hu) & (hu < t.metal_min_hu) & body
    bone = morph.remove_small_components(bone, _voxel_count(p.min_bone_cc, ct.grid))
    if p.bone_closing_mm > 0:
        bone = morph.close_mask(bone, p.bone_closing_mm, sp) & body
    pixel_mm2 = sp[1] * sp[2]
    for k in range(bone.shape[0]):
        holes = ndimage.binary_fill_holes(bone[k]) & ~bone[k]
        labels, n = ndimage.label(holes)
        for lab in range(1, n + 1):
            hole = labels == lab
            area_mm2 = np.count_nonzero(hole) * pixel_mm2
            median = np.median(hu[k][hole].astype(np.float64))
            marrow_like = not (p.canal_hu[0] <= median < p.canal_hu[1])
            if area_mm2 < p.marrow_small_hole_mm2 or (
                marrow_like and area_mm2 <= p.marrow_max_hole_mm2
            ):
                bone[k] |= hole
    labels, n = ndimage.label(morph.fill_holes_3d(bone) & ~bone)
    for lab in range(1, n + 1):
        cavity = labels == lab
        if np.count_nonzero(cavity) <= _voxel_count(p.max_cavity_cc, ct.grid):
            bone |= cavity
    return bone


def reference_muscle(
    ct: Image, body: np.ndarray, bone: np.ndarray, p: SegmentationParameters
) -> np.ndarray:
    from rtplan import geometry as morph

    hu, sp, t = np.asarray(ct.array), ct.grid.spacing_mm, p.thresholds
    soft = (hu >= t.soft_tissue_min_hu) & (hu < t.cancellous_bone_min_hu) & body & ~bone
    soft &= ~morph.fill_holes_slicewise(bone)
    gap = int(np.floor(p.joint_gap_mm / sp[0] + 1e-9))
    for k in range(bone.shape[0]):
        before = bone[max(0, k - gap) : k].any(axis=0)
        after = bone[k + 1 : k + 1 + gap].any(axis=0)
        soft[k] &= ~(before & after)
    if p.muscle_smoothing_mm > 0:
        sigma = [p.muscle_smoothing_mm / s for s in sp]
        weights = soft.astype(np.float32)
        num = ndimage.gaussian_filter(np.where(soft, hu, 0).astype(np.float32), sigma, truncate=3)
        den = ndimage.gaussian_filter(weights, sigma, truncate=3.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            local = np.where(soft & (den > 1e-6), num / np.maximum(den, 1e-6), np.nan)
    else:
        local = np.where(soft, hu, np.nan).astype(np.float32)
    soft &= (local >= p.muscle_hu[0]) & (local <= p.muscle_hu[1])
    if p.muscle_opening_mm > 0:
        soft = morph.open_mask(soft, p.muscle_opening_mm, sp)
    return morph.remove_small_components(soft, _voxel_count(p.min_muscle_cc, ct.grid))


def awkward_ct(dtype: type = np.float32) -> Image:
    """A small CT with the cases that a crop-based segmentation could get wrong.

    The main body runs through the first and last slices, reaches the first column and
    lies on a couch top that leaves the volume; a second, smaller body lies apart. Air:
    one enclosed pocket, a channel open to the first slice only (a hole in each slice,
    not in 3D) and a slot open to the first column. A long bone with fatty and red
    marrow through every slice, metal in its cortex; a ring around a canal; vertebral
    bodies with discs between them and a lesion enclosed in 3D; a bone whose flat face,
    on the bones' bounding box, has a notch that a closing fills; a metal voxel in muscle;
    muscle reaching the volume's edges; kidney-like tissue below the muscle window.
    """
    g = Grid(shape=(18, 66, 78), spacing_mm=(2.5, 0.9, 0.9), origin_mm=(-34.65, -29.25, 0.0))
    c = g.centers_mm()
    x, y, z = c[..., 0], c[..., 1], c[..., 2]
    hu = np.full(g.shape, -1000.0)
    hu[np.hypot((x + 8.0) / 28.0, y / 24.0) < 1.0] = -100.0  # main body (fat)
    hu[np.hypot((x + 8.0) / 23.0, y / 19.0) < 1.0] = 45.0  # muscle
    hu[(y > 24.0) & (y < 27.5) & (x < 22.0)] = 300.0  # couch top against the back
    hu[np.hypot(x - 28.0, y + 20.0) < 5.0] = 40.0  # second body
    hu[np.hypot(x + 3.0, y - 12.0) < 3.5] = -1000.0  # enclosed air
    hu[(np.hypot(x + 20.0, y + 6.0) < 2.5) & (z < 12.0)] = -1000.0  # open to slice 0
    hu[(np.abs(y + 14.0) < 1.5) & (x < -22.0)] = -1000.0  # open to column 0
    hu[np.hypot((x + 4.0) / 6.0, (y + 8.0) / 4.0) < 1.0] = 20.0  # kidney-like
    femur = np.hypot(x + 16.0, y - 4.0)
    hu[femur < 7.0] = 1400.0
    hu[femur < 4.5] = np.where(z < 20.0, -80.0, 250.0)[femur < 4.5]  # fatty, red marrow
    ring = np.hypot(x - 8.0, y - 10.0)
    hu[(ring >= 4.5) & (ring < 7.5)] = 1200.0
    hu[ring < 4.5] = 15.0  # canal (CSF)
    vertebra = np.hypot(x - 8.0, y + 3.0)
    hu[(vertebra < 5.5) & (z > 2.0) & (z < 40.0) & (z % 12.5 < 8.0)] = 250.0  # discs between
    hu[np.hypot(vertebra, z - 17.0) < 2.6] = 50.0  # lesion
    rib = (x > 3.0) & (x < 10.0) & (y > -17.5) & (y < -13.0) & (z > 7.0) & (z < 36.0)
    hu[rib] = 1300.0  # its face y = -17.5 bounds all bone, notched by one voxel
    hu[rib & (np.abs(x - 6.5) < 0.45) & (y < -16.6)] = 45.0
    hu += np.random.default_rng(7).normal(0.0, 8.0, g.shape)
    hu[(np.abs(x + 9.5) < 1.0) & (np.abs(y - 4.0) < 0.5) & (np.abs(z - 23.75) < 1.5)] = 3500.0
    hu[4, 30, 20] = 4000.0  # metal in muscle
    return Image(array=hu.astype(dtype), grid=g, units="HU", name="awkward")


def _at(grid: Grid, x: float, y: float, z: float) -> tuple[int, int, int]:
    i, j, k = np.rint(grid.mm_to_index(np.array([[x, y, z]]))[0]).astype(int)
    return int(k), int(j), int(i)


def test_awkward_ct_holds_its_cases() -> None:
    ct = awkward_ct()
    g, hu = ct.grid, ct.array
    body = reference_body(ct, SegmentationParameters())
    bone = reference_bone(ct, body, SegmentationParameters())
    muscle = reference_muscle(ct, body, bone, SegmentationParameters())
    assert body[0].any()  # through the first and last slices
    assert body[-1].any()
    assert body[:, :, 0].any()  # to the first column
    assert hu[_at(g, 28.0, -20.0, 10.0)] > 0  # the second body...
    assert not body[:, 7:13, 65:70].any()  # ...is left out
    assert not body[_at(g, 0.0, 26.0, 10.0)]  # couch
    assert body[_at(g, -3.0, 12.0, 10.0)]  # enclosed air filled
    assert body[_at(g, -20.0, -6.0, 0.0)]  # the channel open to slice 0 too
    assert not body[_at(g, -30.0, -14.0, 10.0)]  # the slot open to column 0 not
    femur_centre = _at(g, -16.0, 4.0, 0.0)
    assert bone[:, femur_centre[1], femur_centre[2]].all()  # fatty and red marrow
    assert not bone[_at(g, 8.0, 10.0, 10.0)]  # canal
    assert bone[_at(g, 8.0, -3.0, 17.0)]  # lesion
    assert np.count_nonzero(hu >= 3000) == 7  # metal: 6 voxels in the cortex, 1 in muscle
    assert not muscle[hu >= 3000].any()
    assert not bone[4, 30, 20]


@pytest.mark.parametrize(
    "params",
    [
        SegmentationParameters(),
        SegmentationParameters(
            couch_removal_mm=0.0,
            bone_closing_mm=0.0,
            muscle_opening_mm=0.0,
            muscle_smoothing_mm=0.0,
            min_bone_cc=0.0,
            min_muscle_cc=0.0,
        ),
        SegmentationParameters(
            couch_removal_mm=4.6,
            bone_closing_mm=2.2,
            muscle_opening_mm=2.7,
            muscle_smoothing_mm=4.0,
            joint_gap_mm=6.0,
            max_cavity_cc=0.02,
        ),
    ],
    ids=["defaults", "no-morphology", "large-radii"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_segmentation_equals_whole_volume_reference(
    params: SegmentationParameters, dtype: type
) -> None:
    ct = awkward_ct(dtype)
    body = reference_body(ct, params)
    bone = reference_bone(ct, body, params)
    muscle = reference_muscle(ct, body, bone, params)
    assert 0 < np.count_nonzero(bone) < np.count_nonzero(muscle) < np.count_nonzero(body)
    np.testing.assert_array_equal(tissue.body_mask(ct, params), body)
    np.testing.assert_array_equal(tissue.bone_mask(ct, params=params), bone)
    np.testing.assert_array_equal(tissue.muscle_mask(ct, params=params), muscle)
    s = tissue.auto_structures(ct, params)
    for name, ref in (("Body", body), ("Bone", bone), ("Muscle", muscle)):
        np.testing.assert_array_equal(s[name].mask(ct.grid), ref, err_msg=name)
    # masks given by the caller (here not the automatic ones) are used as they are
    other_body = ndimage.binary_erosion(body, iterations=2)
    other_bone = reference_bone(ct, other_body, params)
    np.testing.assert_array_equal(tissue.bone_mask(ct, other_body, params), other_bone)
    np.testing.assert_array_equal(
        tissue.muscle_mask(ct, other_body, other_bone, params),
        reference_muscle(ct, other_body, other_bone, params),
    )


def test_given_masks_must_be_on_the_ct_grid() -> None:
    ct = awkward_ct()
    with pytest.raises(CalibrationError, match="differs from the CT"):
        tissue.bone_mask(ct, np.ones((1, *ct.shape[1:]), dtype=bool))
    with pytest.raises(CalibrationError, match="differs from the CT"):
        tissue.muscle_mask(ct, bone=np.ones((2, 2, 2), dtype=bool))


def _blobs(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Smooth random blobs that touch the array's faces, with holes and thin parts."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), 1.5)
    return np.asarray(field > 0.02, dtype=bool)


@pytest.mark.parametrize(
    ("radius_mm", "spacing_mm"),
    [
        (3.0, (2.5, 0.9765625, 0.9765625)),  # the default couch removal on a clinical grid
        (1.0, (1.0, 1.0, 1.0)),  # ball boundary exactly on voxel centres
        (2.2, (2.0, 0.7, 1.3)),
        (0.4, (1.0, 1.0, 1.0)),  # a single voxel
    ],
)
def test_morphology_on_boxes_equals_whole_volume_morphology(
    radius_mm: float, spacing_mm: tuple[float, float, float]
) -> None:
    """The segmentation's steps on a mask's box: the faces where the box meets the grid's
    edge are told apart from those inside the grid."""
    from rtplan import geometry
    from rtplan.tissue._boxmask import BoxMask

    for seed in range(3):
        full = np.zeros((14, 36, 40), dtype=bool)
        full[:, 3:, 5:37] = _blobs((14, 33, 32), seed)  # touches slices 0, 13 and row 35
        box = BoxMask.from_full(full)
        for outside_set in (False, True):
            faces = box.at_edge() & outside_set
            eroded = geometry.erode_mask(box.array, radius_mm, spacing_mm, outside_is_set=faces)
            want = geometry.erode_mask(full, radius_mm, spacing_mm, outside_is_set=outside_set)
            got = BoxMask(box.lo, eroded, box.full_shape).full()
            np.testing.assert_array_equal(got, want, err_msg=f"erosion {seed} {outside_set}")
        for planar in (True, False):
            filled = BoxMask(box.lo, geometry.fill_holes(box.array, planar=planar), full.shape)
            np.testing.assert_array_equal(
                filled.full(), geometry.fill_holes(full, planar=planar), err_msg=f"{planar}"
            )
        closed = BoxMask(box.lo, geometry.close_mask(box.array, radius_mm, spacing_mm), full.shape)
        np.testing.assert_array_equal(
            closed.full(), geometry.close_mask(full, radius_mm, spacing_mm), err_msg="closing"
        )


def test_box_masks_hold_the_whole_grid_mask() -> None:
    from rtplan.grid import IndexBox
    from rtplan.tissue._boxmask import BoxMask

    m = np.zeros((6, 12, 12), dtype=bool)
    m[1:3, 1:3, 1:3] = True
    m[3:5, 8:10, 8:10] = True
    m[0, 11, 11] = True
    box = BoxMask.from_full(m)
    assert box.box == IndexBox((0, 1, 1), (5, 12, 12))
    assert box.lo == (0, 1, 1)
    assert box.hi == (5, 12, 12)
    np.testing.assert_array_equal(box.full(), m)
    np.testing.assert_array_equal(box.at_edge(), [[True, False], [False, True], [False, True]])
    # another box of the grid: the overlap copied, False elsewhere
    np.testing.assert_array_equal(box.on((2, 0, 0), (2, 4, 4)), m[2:4, 0:4, 0:4])
    assert not box.on((5, 0, 0), (1, 12, 12)).any()
    part = BoxMask(box.lo, box.array & (np.arange(5)[:, None, None] >= 3), box.full_shape)
    assert part.shrink().box == IndexBox((3, 8, 8), (5, 10, 10))
    empty = np.zeros((3, 4, 5), dtype=bool)
    assert BoxMask.from_full(empty).is_empty()
    assert BoxMask.from_full(empty).full().shape == (3, 4, 5)
    assert BoxMask.empty((3, 4, 5)).shrink().is_empty()


# ----------------------------------------------------------------------------- sample phantoms
@pytest.mark.parametrize(
    ("sample", "bone_roi"), [("thigh_sarcoma", "Femur"), ("spine_metastasis", "Vertebra")]
)
def test_auto_bone_and_muscle_on_sample_phantoms(
    sample: str,
    bone_roi: str,
    tmp_path: Path,
    dciodvfy: Callable[[Path], list[str]],
    phantoms: ModuleType,
) -> None:
    from rtplan.data import get_path
    from rtplan.io import read_ct, read_rtstruct, write_rtstruct

    ct = read_ct(get_path(sample))
    truth = phantoms.roi_masks(sample)
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
