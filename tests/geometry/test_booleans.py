"""Booleans: inclusion-exclusion, operands on different grids, operators."""

from __future__ import annotations

import numpy as np
import pytest

from rtplan import Grid, Structure, geometry
from rtplan.testing import cube_grid
from rtplan.testing import sphere_contour_structure as sphere_contours
from rtplan.testing import sphere_mask_structure as sphere_mask


def test_inclusion_exclusion_on_one_grid() -> None:
    g = cube_grid(50, 1.0)
    a = sphere_mask(g, [-5, 0, 0], 12.0, "A")
    b = sphere_mask(g, [6, 1, 0], 10.0, "B")
    ma, mb = a.mask(g), b.mask(g)
    u, i, d, x = a | b, a & b, a - b, geometry.symmetric_difference(a, b)
    np.testing.assert_array_equal(u.mask(g), ma | mb)
    np.testing.assert_array_equal(i.mask(g), ma & mb)
    np.testing.assert_array_equal(d.mask(g), ma & ~mb)
    np.testing.assert_array_equal(x.mask(g), ma ^ mb)
    assert u.volume_cc == pytest.approx(a.volume_cc + b.volume_cc - i.volume_cc)
    assert (u.name, i.name, d.name) == ("A|B", "A&B", "A-B")
    assert u.grid == g


def test_operands_on_different_grids_are_resampled_on_the_first() -> None:
    g1 = cube_grid(50, 1.0)
    g2 = Grid(shape=(25, 60, 60), spacing_mm=(2.0, 0.8, 0.8), origin_mm=(-23.6, -23.6, -24.0))
    a = sphere_mask(g1, [0, 0, 0], 12.0, "A")
    b_contours = sphere_contours(g2, [8, 0, 0], 10.0, "B")
    u = geometry.union(a, b_contours)
    assert u.grid == g1
    # b is rasterised from its contours on a's grid (centre-inside, 2 mm slabs)
    np.testing.assert_array_equal(u.mask(g1), a.mask(g1) | b_contours.mask(g1))
    c = g1.centers_mm()
    b_on_g1 = np.linalg.norm(c - [8, 0, 0], axis=-1) <= 10.0
    assert np.mean(u.mask(g1) == (a.mask(g1) | b_on_g1)) > 0.998  # slab edges differ
    # a mask on another grid is resampled (nearest voxel centre)
    b_mask = sphere_mask(g2, [8, 0, 0], 10.0, "Bm")
    d = geometry.difference(a, b_mask)
    assert d.volume_cc == pytest.approx(
        a.volume_cc - np.count_nonzero(a.mask(g1) & b_on_g1) / 1000.0, rel=0.05
    )


def test_disjoint_intersection_is_empty_and_union_spans_both() -> None:
    g = cube_grid(60, 1.0)
    a = sphere_mask(g, [-18, 0, 0], 8.0, "A")
    b = sphere_mask(g, [18, 0, 0], 8.0, "B")
    assert (a & b).is_empty
    u = a | b
    lo, hi = u.bounds_mm()
    assert lo[0] == pytest.approx(-26.0)
    assert hi[0] == pytest.approx(26.0)
    assert len({round(float(np.mean(c.points_mm[:, 0])) > 0) for c in u.contours}) == 2


def test_contour_structures_without_grid_get_a_lattice_on_their_planes() -> None:
    g = cube_grid(40, 1.0)
    a = sphere_contours(g, [0, 0, 0], 10.0, "A")
    a = Structure(name="A", contours=a.contours, slice_thickness_mm=1.0)  # no grid
    b = Structure(
        name="B",
        contours=sphere_contours(g, [5, 0, 0], 8.0, "B").contours,
        slice_thickness_mm=1.0,
    )
    u = a | b
    assert u.grid is not None
    assert u.grid.spacing_mm == (1.0, 1.0, 1.0)  # 1 mm in plane, the slab thickness across
    va = np.count_nonzero(a.mask(u.grid))
    vb = np.count_nonzero(b.mask(u.grid))
    vab = np.count_nonzero((a & b).mask(u.grid))
    assert u.volume_cc == pytest.approx((va + vb - vab) / 1000.0)
    assert u.volume_cc == pytest.approx(geometry.union(a, b, grid=g).volume_cc, rel=0.01)
