"""Margins: analytic volumes, the exact discrete Minkowski sum of a box, round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtplan import Grid, Structure, geometry
from rtplan.errors import GeometryError, StructureError
from rtplan.geometry import Margin
from rtplan.geometry._margins import subvoxel_slack
from rtplan.testing import box_mask_structure as box_mask
from rtplan.testing import cube_grid
from rtplan.testing import sphere_contour_structure as sphere_contours
from rtplan.testing import sphere_mask_structure as sphere_mask


def sphere_volume_cc(r: float) -> float:
    return 4.0 / 3.0 * math.pi * r**3 / 1000.0


@pytest.mark.parametrize("offset", [0.0, 0.5, 0.23])
def test_sphere_expansion_matches_analytic_volume(offset: float) -> None:
    """Acceptance: r = 20 mm sphere + 5 mm on a 1 mm grid within 1 % of 4/3 pi 25^3."""
    g = cube_grid(64, 1.0, offset)
    s = sphere_mask(g, [0.0, 0.0, 0.0], 20.0, "S")
    e = geometry.expand(s, 5.0)
    assert e.volume_cc == pytest.approx(sphere_volume_cc(25.0), rel=0.01)
    k = geometry.contract(s, 5.0)
    assert k.volume_cc == pytest.approx(sphere_volume_cc(15.0), rel=0.015)


def test_contour_sphere_expansion_on_reference_grid() -> None:
    g = cube_grid(64, 1.0, 0.1)
    s = sphere_contours(g, [1.0, -2.0, 0.5], 20.0, "CTV")
    e = s.expand(5.0)
    assert e.volume_cc == pytest.approx(sphere_volume_cc(25.0), rel=0.01)
    assert e.grid == g  # reported on the structure's own grid
    assert e.name == "CTV+5mm"
    np.testing.assert_allclose(e.centroid_mm, [1.0, -2.0, 0.5], atol=0.05)


def test_anisotropic_spacing_expansion() -> None:
    g = Grid(shape=(30, 80, 80), spacing_mm=(3.0, 1.0, 1.0), origin_mm=(-39.5, -39.5, -43.5))
    s = sphere_mask(g, [0.0, 0.0, 0.0], 25.0, "S")
    e = geometry.expand(s, 10.0)
    assert e.volume_cc == pytest.approx(sphere_volume_cc(35.0), rel=0.02)


def discrete_minkowski_box(grid: Grid, lo: np.ndarray, hi: np.ndarray, m: Margin) -> np.ndarray:
    """Brute-force reference: voxel centres within the octant ellipsoid of the centre box.

    ``lo``/``hi`` are the extreme voxel centres of the box; the displacement from the
    nearest box point (a clamp) is scaled by the margin on its side; the threshold is
    the same sub-voxel slack the implementation documents.
    """
    c = grid.centers_mm().reshape(-1, 3)
    d = c - np.clip(c, lo, hi)  # displacement from the box, LPS
    neg = np.array([m.right_mm, m.anterior_mm, m.inferior_mm])
    pos = np.array([m.left_mm, m.posterior_mm, m.superior_mm])
    spacing_xyz = np.array(grid.spacing_mm[::-1])
    inside = np.zeros(len(c), dtype=bool)
    for sx in (-1, 1):
        for sy in (-1, 1):
            for sz in (-1, 1):
                sign = np.array([sx, sy, sz])
                semi = np.where(sign > 0, pos, neg)
                # closed octant: a zero component belongs to both signs
                match = np.all((d == 0) | (np.sign(d) == sign), axis=1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    q = np.where(d == 0, 0.0, d / semi)  # zero margin: unreachable
                norm = np.sqrt(np.sum(q * q, axis=1))
                slack = subvoxel_slack(spacing_xyz, semi)
                inside |= match & (norm <= 1.0 + slack + 1e-9)
    return inside.reshape(grid.shape)


def test_anisotropic_margin_on_a_box_is_the_analytic_box() -> None:
    """Acceptance: every face moves by its own margin; the rounded edges are the octant
    ellipsoid's, voxel for voxel."""
    g = Grid(shape=(46, 60, 70), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(-34.5, -29.5, -22.5))
    b = box_mask(g, [-10.0, -8.0, -6.0], [10.0, 8.0, 6.0], "Box")
    m = Margin.parse({"L": 3, "R": 5, "A": 2, "P": 7, "S": 4, "I": 1})
    e = geometry.expand(b, m)
    lo, hi = e.bounds_mm()
    b_lo, b_hi = b.bounds_mm()
    np.testing.assert_allclose(lo, b_lo - np.array([5, 2, 1]))  # right, anterior, inferior
    np.testing.assert_allclose(hi, b_hi + np.array([3, 7, 4]))  # left, posterior, superior
    centres_lo = np.array([-9.5, -7.5, -5.5])
    centres_hi = np.array([9.5, 7.5, 5.5])
    ref = discrete_minkowski_box(g, centres_lo, centres_hi, m)
    np.testing.assert_array_equal(e.mask(g), ref)
    # contraction by the same margin gives the box back
    back = geometry.contract(e, m)
    np.testing.assert_array_equal(back.mask(g), b.mask(g))


def test_symmetric_ellipsoidal_margin_on_box_faces() -> None:
    g = cube_grid(60, 1.0)
    b = box_mask(g, [-10, -8, -6], [10, 8, 6], "Box")
    e = geometry.expand(b, (3.0, 6.0, 2.0))  # LR, AP, SI
    lo, hi = e.bounds_mm()
    b_lo, b_hi = b.bounds_mm()
    np.testing.assert_allclose(lo, b_lo - np.array([3, 6, 2]))
    np.testing.assert_allclose(hi, b_hi + np.array([3, 6, 2]))
    ref = discrete_minkowski_box(
        g, np.array([-9.5, -7.5, -5.5]), np.array([9.5, 7.5, 5.5]), Margin.parse((3, 6, 2))
    )
    np.testing.assert_array_equal(e.mask(g), ref)


def test_margin_directions_follow_the_grid_direction() -> None:
    """A feet-first prone grid (x and z flipped) still moves the left face by L."""
    d = np.diag([-1.0, 1.0, -1.0])
    g = Grid(
        shape=(40, 40, 40), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(19.5, -19.5, 19.5), direction=d
    )
    b = box_mask(g, [-5, -5, -5], [5, 5, 5], "Box")
    e = geometry.expand(b, {"L": 4, "S": 2})
    lo, hi = e.bounds_mm()
    b_lo, b_hi = b.bounds_mm()
    np.testing.assert_allclose(lo, b_lo)
    np.testing.assert_allclose(hi, b_hi + np.array([4, 0, 2]))


def test_contract_then_expand_convex_shape_within_one_voxel() -> None:
    """Acceptance: opening a convex shape by 5 mm returns it within one voxel."""
    g = cube_grid(70, 1.0, 0.3)
    c = g.centers_mm()
    q = (c[..., 0] / 25.0) ** 2 + (c[..., 1] / 18.0) ** 2 + (c[..., 2] / 15.0) ** 2
    s = Structure.from_mask(q <= 1.0, g, name="Ellipsoid")
    back = geometry.expand(geometry.contract(s, 5.0), 5.0)
    d = geometry.surface_distances(s, back)
    assert d.hausdorff_mm <= 1.0
    assert back.volume_cc == pytest.approx(s.volume_cc, rel=0.02)


def test_expansion_grows_the_grid_when_needed() -> None:
    g = Grid(shape=(20, 20, 20), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-9.5, -9.5, -19.0))
    s = sphere_mask(g, [0, 0, 0], 8.0, "S")
    e = geometry.expand(s, 6.0)
    assert e.grid is g  # reported on the input's grid...
    assert e.mask_image is not None
    held = e.mask_image.grid  # ...but held on the input's lattice, reaching beyond it
    assert held.corners_mm().min(axis=0)[0] < g.corners_mm().min(axis=0)[0]
    assert geometry.rasterize.mask(e, held).sum() == pytest.approx(
        e.volume_cc * 1000.0 / g.voxel_volume_mm3
    )
    lo, _ = e.bounds_mm()
    assert lo[0] == pytest.approx(-14.0)  # centres to -7.5 (edge -8), margin 6


def test_result_contours_rasterise_back_to_the_mask() -> None:
    g = cube_grid(50, 1.0)
    s = sphere_mask(g, [0, 0, 0], 12.0, "GTV")
    e = s.expand({"LR": 3, "AP": 5, "SI": 7})
    again = Structure(name="x", contours=e.contours, slice_thickness_mm=1.0)
    np.testing.assert_array_equal(again.mask(g), e.mask(g))
    assert e.generation == "AUTOMATIC"


def test_crop_to_body_with_inset() -> None:
    g = cube_grid(60, 1.0)
    body = box_mask(g, [-25, -25, -25], [10, 25, 25], "Body")
    ptv = sphere_mask(g, [0, 0, 0], 15.0, "PTV")
    cropped = geometry.crop(ptv, to=body, inset_mm=3.0)
    m = cropped.mask(g)
    c = g.centers_mm()
    # the body's left face is the plane x = 10.5 (midway); kept voxels are >= 3 mm inside
    assert c[m][:, 0].max() <= 10.0 - 3.0 + 1e-9
    expected = ptv.mask(g) & (c[..., 0] <= 7.0 + 1e-9)
    np.testing.assert_array_equal(m, expected)
    assert cropped.name == "PTV crop Body 3mm"


def test_crop_away_with_gap() -> None:
    g = cube_grid(60, 1.0)
    ptv = sphere_mask(g, [0, 0, 0], 15.0, "PTV")
    cord = box_mask(g, [-3, 12, -25], [3, 20, 25], "Cord")
    out = geometry.crop_away(ptv, cord, gap_mm=2.0)
    dist = geometry.min_distance(out, cord)
    assert dist >= 2.0 - 0.5
    assert not geometry.overlaps(out, cord)
    assert out.volume_cc < ptv.volume_cc


def test_margin_parsing() -> None:
    assert Margin.parse(5).is_isotropic
    m = Margin.parse({"lr": 2, "Anterior": 3, "I": 1})
    assert (m.left_mm, m.right_mm, m.anterior_mm, m.posterior_mm, m.inferior_mm) == (
        2,
        2,
        3,
        0,
        1,
    )
    six = Margin.parse([1, 2, 3, 4, 5, 6])
    assert (six.right_mm, six.posterior_mm, six.superior_mm) == (2, 4, 5)
    assert Margin.parse([1, 2, 3]).superior_mm == 3
    assert six.reflected().left_mm == 2
    with pytest.raises(GeometryError, match="unknown margin direction 'up'"):
        Margin.parse({"up": 3})
    with pytest.raises(GeometryError, match=">= 0"):
        Margin.parse(-1.0)
    with pytest.raises(GeometryError, match=r"3 .* or 6"):
        Margin.parse([1, 2])


def test_anisotropic_margin_on_oblique_grid_is_refused() -> None:
    a = np.deg2rad(20.0)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    g = Grid(shape=(20, 20, 20), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0), direction=rot)
    s = Structure.from_mask(np.pad(np.ones((6, 6, 6), bool), 7), g, name="S")
    with pytest.raises(GeometryError, match="oblique"):
        geometry.expand(s, {"L": 3})
    assert geometry.expand(s, 2.0).volume_cc > s.volume_cc  # isotropic is fine


def test_empty_structures() -> None:
    g = cube_grid(10, 1.0)
    empty = Structure.from_mask(np.zeros(g.shape, bool), g, name="Nothing")
    e = geometry.expand(empty, 5.0)
    assert e.is_empty
    assert e.name == "Nothing+5mm"
    with pytest.raises(StructureError, match="enclose no volume"):
        geometry.expand(Structure(name="Bare"), 5.0)


@pytest.mark.parametrize(
    "semi",
    [
        np.full(3, 4.0),  # isotropic
        np.array([5.0, 3.0, 7.0]),  # centred ellipsoid
        np.array([12.0, 9.0, 15.0]),  # large
    ],
)
def test_distance_transform_and_octant_routes_give_the_same_voxels(semi: np.ndarray) -> None:
    from scipy import ndimage

    from rtplan.geometry import _margins

    rng = np.random.default_rng(7)
    mask = np.zeros((30, 50, 54), dtype=bool)
    mask[10:20, 18:32, 20:34] = rng.random((10, 14, 14)) > 0.6
    sp = np.array([2.0, 0.9, 1.1])
    by_edt = _margins._dilate_centred(mask, sp, semi)
    by_passes = _margins._dilate_octants(mask, sp, np.stack([semi, semi], axis=1))
    np.testing.assert_array_equal(by_edt, by_passes)
    assert np.count_nonzero(by_edt) > np.count_nonzero(mask)
    # and the separable EDT is scipy's
    np.testing.assert_allclose(
        geometry.distance_map(mask, sp),
        ndimage.distance_transform_edt(~mask, sampling=sp),
        atol=1e-9,
    )
