"""Per-slice shapely operations, repair of invalid contours, and agreement with masks."""

from __future__ import annotations

import numpy as np
import pytest

from rtplan import Contour, Structure, geometry
from rtplan.errors import StructureError
from rtplan.testing import cube_grid
from rtplan.testing import sphere_contour_structure as sphere_contours


def planar(points: list[tuple[float, float]], z: float = 0.0) -> Contour:
    p = np.asarray(points, dtype=float)
    return Contour(points_mm=np.c_[p, np.full(len(p), z)])


def test_bow_tie_is_split_into_its_lobes() -> None:
    bow = planar([(0, 0), (10, 10), (10, 0), (0, 10)])  # crosses itself at (5, 5)
    s = Structure(name="Bow", contours=(bow,), slice_thickness_mm=1.0)
    fixed = geometry.repair_contours(s)
    assert len(fixed.contours) == 2
    import shapely

    polys = [shapely.Polygon(c.points_mm[:, :2]) for c in fixed.contours]
    assert all(p.is_valid for p in polys)
    assert sum(p.area for p in polys) == pytest.approx(50.0)


def test_keyhole_contour_becomes_ring_and_hole() -> None:
    # outer square 0..20, a channel at y = 10 from x = 0 to the inner square 5..15
    keyhole = planar(
        [(0, 0), (20, 0), (20, 20), (0, 20), (0, 10), (5, 10), (5, 15), (15, 15),
         (15, 5), (5, 5), (5, 10), (0, 10)]
    )  # fmt: skip
    s = Structure(name="Key", contours=(keyhole,), slice_thickness_mm=1.0)
    fixed = geometry.repair_contours(s)
    assert len(fixed.contours) == 2  # exterior and hole
    assert fixed.volume_cc * 1000 == pytest.approx(400.0 - 100.0)


def test_buffer_agrees_with_in_plane_mask_margin() -> None:
    g = cube_grid(60, 1.0, 0.25)
    s = sphere_contours(g, [0, 0, 0], 15.0, "GTV")
    by_contour = geometry.contour_buffer(s, 5.0)
    by_mask = geometry.expand(s, {"L": 5, "R": 5, "A": 5, "P": 5})
    a, b = by_contour.mask(g), by_mask.mask(g)
    assert geometry.dice(by_contour, by_mask, grid=g) > 0.99
    # they differ only on the boundary
    assert geometry.surface_distances(by_contour, by_mask, grid=g).hausdorff_mm <= 1.0
    assert np.count_nonzero(a ^ b) < 0.02 * np.count_nonzero(a)
    shrunk = geometry.contour_buffer(s, -5.0)
    assert shrunk.volume_cc < s.volume_cc


def test_union_and_difference_routes_agree() -> None:
    g = cube_grid(50, 1.0, 0.1)
    a = sphere_contours(g, [-4, 0, 0], 12.0, "A")
    b = sphere_contours(g, [6, 2, 3], 10.0, "B")
    for contour_op, mask_op in (
        (geometry.contour_union, geometry.union),
        (geometry.contour_difference, geometry.difference),
        (geometry.contour_intersection, geometry.intersection),
    ):
        c = contour_op(a, b)
        m = mask_op(a, b)
        assert c.mask_image is None
        assert geometry.dice(c, m, grid=g) > 0.995, contour_op.__name__
        np.testing.assert_allclose(c.volume_cc, m.volume_cc, rtol=0.02)


def test_planes_present_in_one_operand_only() -> None:
    a = Structure(
        name="A",
        contours=(planar([(0, 0), (10, 0), (10, 10), (0, 10)], 0.0),
                  planar([(0, 0), (10, 0), (10, 10), (0, 10)], 2.0)),
        slice_thickness_mm=2.0,
    )  # fmt: skip
    b = Structure(
        name="B",
        contours=(planar([(5, 0), (15, 0), (15, 10), (5, 10)], 2.0),
                  planar([(5, 0), (15, 0), (15, 10), (5, 10)], 4.0)),
        slice_thickness_mm=2.0,
    )  # fmt: skip
    assert geometry.contour_union(a, b).volume_cc * 1000 == pytest.approx((100 + 150 + 100) * 2)
    assert geometry.contour_intersection(a, b).volume_cc * 1000 == pytest.approx(50 * 2)
    assert geometry.contour_difference(a, b).volume_cc * 1000 == pytest.approx((100 + 50) * 2)


def test_contour_operations_need_contours() -> None:
    g = cube_grid(10, 1.0)
    m = Structure.from_mask(np.zeros(g.shape, bool), g, name="M")
    with pytest.raises(StructureError, match="no closed contours"):
        geometry.contour_buffer(m, 1.0)
