"""Distances: analytic sphere gaps, boxes along each direction, the info table."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from rtplan import Grid, Image, Structure, StructureSet, geometry
from rtplan.errors import GeometryError, StructureError
from rtplan.testing import box_mask_structure as box_mask
from rtplan.testing import cube_grid
from rtplan.testing import sphere_contour_structure as sphere_contours
from rtplan.testing import sphere_mask_structure as sphere_mask


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sphere_gap_from_contours_within_half_a_voxel(seed: int) -> None:
    """Acceptance: the distance between two spheres is the analytic gap within h/2."""
    rng = np.random.default_rng(seed)
    off = rng.uniform(-0.5, 0.5, 3)
    g = Grid(
        shape=(56, 64, 96), spacing_mm=(1.0, 1.0, 1.0), origin_mm=tuple(off - [47.5, 31.5, 27.5])
    )
    ca = np.array([-15.0, 0.0, 0.0]) + rng.uniform(-1, 1, 3)
    cb = np.array([16.0, 3.0, 2.0]) + rng.uniform(-1, 1, 3)
    gap = np.linalg.norm(cb - ca) - 12.0 - 10.0
    a = sphere_contours(g, ca, 12.0, "A")
    b = sphere_contours(g, cb, 10.0, "B")
    d = geometry.min_distance(a, b)
    assert abs(d - gap) <= 0.5
    assert a.distance_to(b) == pytest.approx(d)


def random_sphere_pair(
    seed: int, spacing_mm: tuple[float, float, float]
) -> tuple[Structure, Structure, float]:
    """Two centre-inside voxel spheres: random radii, direction, gap (mm) and grid phase,
    on a grid centred between them that holds both whole."""
    rng = np.random.default_rng(seed)
    ra, rb = rng.uniform(6.0, 14.0), rng.uniform(4.0, 12.0)
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    gap = rng.uniform(1.0, 8.0)
    ca = np.zeros(3)
    cb = ca + u * (ra + rb + gap)
    half = np.linalg.norm(cb - ca) / 2.0 + max(ra, rb) + 3.0 * max(spacing_mm)
    n = [int(np.ceil(2.0 * half / s)) for s in spacing_mm]  # (k, j, i)
    phase = rng.uniform(-0.5, 0.5, 3) * np.asarray(spacing_mm)[::-1]
    start = (ca + cb) / 2.0 - half + phase
    g = Grid(shape=(n[0], n[1], n[2]), spacing_mm=spacing_mm, origin_mm=tuple(start))
    centres = g.centers_mm()

    def ball(c: np.ndarray, r: float, name: str) -> Structure:  # a mask, no contours
        inside = np.linalg.norm(centres - c, axis=-1) <= r
        return Structure(name=name, mask_image=Image(array=inside, grid=g, units="1"))

    return ball(ca, ra, "A"), ball(cb, rb, "B"), gap


def test_sphere_gap_from_masks_within_half_a_voxel() -> None:
    """Acceptance, for voxel masks (margins, booleans, automatic structures). A mask only
    says between which voxel centres its surface runs; the sub-voxel field estimates it.
    On random pairs the gap is the analytic gap within h/2 but for rare tips that the
    mask leaves a whole voxel uncertain; the staircase alone misses h/2 for one in five."""
    errors = []
    for seed in range(12):
        a, b, gap = random_sphere_pair(seed, (1.0, 1.0, 1.0))
        errors.append(geometry.min_distance(a, b) - gap)
    e = np.abs(np.asarray(errors))
    assert np.mean(e <= 0.5) >= 11 / 12
    assert e.max() <= 0.6
    assert abs(np.mean(errors)) <= 0.1  # no bias


@pytest.mark.parametrize("seed", range(3))
def test_sphere_gap_from_masks_on_ct_like_voxels(seed: int) -> None:
    """2.5 mm slices of 0.98 mm pixels: within half a voxel along its longest side."""
    a, b, gap = random_sphere_pair(100 + seed, (2.5, 0.98, 0.98))
    assert abs(geometry.min_distance(a, b) - gap) <= 0.5 * 2.5


def test_subvoxel_field_keeps_voxel_centres_on_their_side() -> None:
    from rtplan.geometry._distance import subvoxel_field

    rng = np.random.default_rng(3)
    mask = np.zeros((20, 22, 24), dtype=bool)
    mask[3:17, 3:19, 3:21] = rng.random((14, 16, 18)) > 0.4
    field = subvoxel_field(mask, (2.0, 0.9, 1.1))
    assert field.dtype == np.float32
    np.testing.assert_array_equal(field >= 0.5, mask)
    assert np.all((field >= 0.0) & (field <= 1.0))
    # a flat face stays midway: the profile across a half-space is symmetric about 0.5
    half = np.zeros((9, 9, 12), dtype=bool)
    half[:, :, :6] = True
    prof = subvoxel_field(half, (1.0, 1.0, 1.0))[4, 4]
    assert prof[5] + prof[6] == pytest.approx(1.0, abs=1e-6)


def test_directional_distance_between_mask_spheres() -> None:
    """Moving sphere a along u until it touches b: t = w.u - sqrt((w.u)^2 - |w|^2 + R^2)
    with w the centre offset and R the sum of the radii."""
    g = cube_grid(72, 1.0, 0.31)
    ca, cb = np.array([-16.0, -3.0, 1.0]), np.array([14.0, 4.0, -2.0])
    ra, rb = 10.0, 8.0
    a, b = sphere_mask(g, ca, ra, "A"), sphere_mask(g, cb, rb, "B")
    w = cb - ca
    for direction in ([1.0, 0.0, 0.0], [1.0, 0.3, -0.2], [1.0, 0.0, 0.4]):
        u = np.asarray(direction) / np.linalg.norm(direction)
        wu = float(w @ u)
        t = wu - np.sqrt(wu * wu - float(w @ w) + (ra + rb) ** 2)
        assert geometry.directional_distance(a, b, direction) == pytest.approx(t, abs=0.5)
    assert geometry.directional_distance(a, b, "R") == np.inf


def test_overlapping_structures_are_zero_apart() -> None:
    g = cube_grid(40, 1.0)
    a = sphere_mask(g, [0, 0, 0], 10.0, "A")
    b = sphere_mask(g, [12, 0, 0], 5.0, "B")
    assert geometry.overlaps(a, b)
    assert geometry.min_distance(a, b) == 0.0
    assert geometry.directional_distance(a, b, "L") == 0.0


def test_directional_distances_between_boxes() -> None:
    g = Grid(shape=(40, 50, 80), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(-39.5, -24.5, -19.5))
    a = box_mask(g, [-30, -10, -5], [-10, 10, 5], "A")  # centres -29.5..-10.5: edge -10
    b = box_mask(g, [5, 0, -5], [15, 20, 5], "B")  # centres 5.5..14.5: edge 5
    dirs = geometry.directional_distances(a, b)
    assert dirs["L"] == pytest.approx(15.0, abs=0.05)  # +x: from -10 to 5
    assert dirs["R"] == np.inf
    assert dirs["A"] == np.inf
    assert dirs["S"] == np.inf
    # b is not reached moving a straight posteriorly, but along an oblique direction yes
    v = geometry.directional_distance(a, b, [1.0, 1.0, 0.0])
    assert v == pytest.approx(15.0 * np.sqrt(2.0), abs=0.1)
    assert geometry.min_distance(a, b) == pytest.approx(15.0, abs=0.05)
    with pytest.raises(GeometryError, match="unknown direction"):
        geometry.directional_distance(a, b, "up")


def test_empty_structure_distance_raises() -> None:
    g = cube_grid(20, 1.0)
    a = sphere_mask(g, [0, 0, 0], 5.0, "A")
    empty = Structure.from_mask(np.zeros(g.shape, bool), g, name="Empty")
    with pytest.raises(StructureError, match="'Empty' is empty"):
        geometry.min_distance(a, empty)


def test_target_organ_distance_table() -> None:
    g = cube_grid(60, 1.0)
    ptv = sphere_mask(g, [0, 0, 0], 10.0, "PTV").renamed("PTV", interpreted_type="PTV")
    cord = box_mask(g, [-3, 20, -25], [3, 26, 25], "Cord").renamed("Cord", interpreted_type="ORGAN")
    femur = sphere_mask(g, [-22, 0, 0], 6.0, "Femur").renamed("Femur", interpreted_type="ORGAN")
    body = box_mask(g, [-28, -28, -28], [28, 28, 28], "Body").renamed(
        "Body", interpreted_type="EXTERNAL"
    )
    table = geometry.target_organ_distances(StructureSet(structures=(ptv, cord, femur, body)))
    assert list(table) == ["PTV"]
    assert set(table["PTV"]) == {"Cord", "Femur"}
    assert table["PTV"]["Cord"] == pytest.approx(10.0, abs=0.5)  # 19.5 - 10 (midway)
    assert table["PTV"]["Femur"] == pytest.approx(6.0, abs=1.0)


def test_target_organ_distances_on_the_spine_phantom(
    spine_path: Path, phantoms: ModuleType
) -> None:
    """What `rtplan info` prints, against the phantom's analytic anatomy: the GTV and PTV
    are spheres, the spinal canal and cord upright elliptic cylinders, so the gap is the
    in-plane distance from the sphere centre to the ellipse minus the radius."""
    import rtplan

    study = rtplan.load_study(spine_path)
    table = geometry.target_organ_distances(
        study.structures, targets=["GTV", "PTV"], organs=["SpinalCanal", "SpinalCord", "Vertebra"]
    )
    anatomy = phantoms._spine_anatomy()
    t = np.linspace(0.0, 2.0 * np.pi, 200_001)
    pixel_mm = study.ct.grid.spacing_mm[1]
    for target in ("GTV", "PTV"):
        sphere = anatomy[target.lower()]
        a, b, c = sphere.semi_axes_mm
        assert a == b == c
        for organ, solid in (("SpinalCanal", "canal"), ("SpinalCord", "cord")):
            cyl = anatomy[solid]
            assert cyl.shift_per_mm == (0.0, 0.0)
            assert cyl.taper_per_mm == 0.0
            assert cyl.angle_deg == 0.0
            ex = cyl.centre_mm[0] + cyl.semi_axes_mm[0] * np.cos(t)
            ey = cyl.centre_mm[1] + cyl.semi_axes_mm[1] * np.sin(t)
            gap = np.hypot(ex - sphere.centre_mm[0], ey - sphere.centre_mm[1]).min() - a
            assert table[target][organ] == pytest.approx(gap, abs=0.5 * pixel_mm), (target, organ)
    assert table["GTV"]["Vertebra"] == 0.0  # the metastasis lies in the vertebral body


def test_target_femur_distances_on_the_thigh_phantom(
    thigh_path: Path, phantoms: ModuleType
) -> None:
    """The sarcoma (a rotated ellipsoid) lies about 3 mm from the femur (an oblique
    circular cylinder); the CTV and PTV reach into it. Reference: the in-plane gap from
    points of the analytic ellipsoid to the cylinder's section, scaled by the cosine of
    the shaft's slope (the gap measured square to the shaft)."""
    import rtplan

    study = rtplan.load_study(thigh_path)
    table = geometry.target_organ_distances(
        study.structures, targets=["GTV", "CTV", "PTV"], organs=["Femur"]
    )
    anatomy = phantoms._thigh_anatomy()
    femur, gtv = anatomy["femur"], anatomy["gtv"]
    assert femur.semi_axes_mm[0] == femur.semi_axes_mm[1]
    assert femur.taper_per_mm == 0.0
    a, b, c = gtv.semi_axes_mm
    th = np.deg2rad(gtv.angle_deg)
    u, v = np.meshgrid(np.linspace(0.0, 2.0 * np.pi, 1441), np.linspace(0.0, np.pi, 721))
    x0, y0 = a * np.cos(u) * np.sin(v), b * np.sin(u) * np.sin(v)
    x = gtv.centre_mm[0] + x0 * np.cos(th) - y0 * np.sin(th)
    y = gtv.centre_mm[1] + x0 * np.sin(th) + y0 * np.cos(th)
    dz = gtv.centre_mm[2] + c * np.cos(v) - femur.centre_mm[2]
    cx = femur.centre_mm[0] + femur.shift_per_mm[0] * dz
    cy = femur.centre_mm[1] + femur.shift_per_mm[1] * dz
    in_plane = float((np.hypot(x - cx, y - cy) - femur.semi_axes_mm[0]).min())
    gap = in_plane / np.hypot(1.0, np.hypot(*femur.shift_per_mm))
    assert gap == pytest.approx(2.9, abs=0.1)  # "3 mm from the cortex on its central slice"
    assert table["GTV"]["Femur"] == pytest.approx(gap, abs=0.5 * study.ct.grid.spacing_mm[1])
    assert table["CTV"]["Femur"] == 0.0
    assert table["PTV"]["Femur"] == 0.0
