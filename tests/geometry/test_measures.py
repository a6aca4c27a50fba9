"""Measures: sphere volume, area and diameter; Dice and surface distances, vs scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtplan import geometry
from rtplan.testing import box_mask_structure as box_mask
from rtplan.testing import cube_grid
from rtplan.testing import sphere_contour_structure as sphere_contours
from rtplan.testing import sphere_mask_structure as sphere_mask


def test_measure_sphere() -> None:
    g = cube_grid(50, 1.0, 0.3)
    s = sphere_contours(g, [2.0, -1.0, 3.0], 15.0, "S")
    m = geometry.measure(s)
    assert m.volume_cc == pytest.approx(4 / 3 * math.pi * 15**3 / 1000, rel=0.01)
    np.testing.assert_allclose(m.centroid_mm, [2.0, -1.0, 3.0], atol=0.05)
    np.testing.assert_allclose(m.extent_mm, [30.0, 30.0, 30.0], atol=1.01)
    assert m.surface_area_cm2 == pytest.approx(4 * math.pi * 15**2 / 100, rel=0.03)
    assert m.equivalent_sphere_diameter_mm == pytest.approx(30.0, rel=0.005)


def test_measure_box() -> None:
    g = cube_grid(50, 1.0)
    b = box_mask(g, [-20, -15, -12], [20, 15, 12], "B")  # 40 x 30 x 24 mm, edges on whole mm
    m = geometry.measure(b)
    assert m.volume_cc == pytest.approx(28.8)
    np.testing.assert_allclose(m.extent_mm, [40.0, 30.0, 24.0])
    np.testing.assert_allclose(m.lower_mm, [-20.0, -15.0, -12.0])
    # the smooth mesh rounds the edges: a little under 2(ab + bc + ca)
    area = 2 * (40 * 30 + 30 * 24 + 24 * 40) / 100
    assert area * 0.95 < m.surface_area_cm2 < area


def test_dice_and_surface_distances_of_concentric_spheres() -> None:
    g = cube_grid(60, 1.0, 0.25)
    a = sphere_mask(g, [0, 0, 0], 15.0, "A")
    b = sphere_mask(g, [0, 0, 0], 20.0, "B")
    assert geometry.dice(a, a) == 1.0
    assert geometry.dice(a, b) == pytest.approx(2 * 15**3 / (15**3 + 20**3), rel=0.01)
    d = geometry.surface_distances(a, b)
    assert d.hausdorff_mm == pytest.approx(5.0, abs=1.0)
    assert d.mean_surface_distance_mm == pytest.approx(5.0, abs=0.5)
    assert d.hausdorff95_mm <= d.hausdorff_mm
    assert d.hausdorff95_mm == pytest.approx(5.0, abs=1.0)


def test_hausdorff_matches_scikit_image() -> None:
    from scipy import ndimage
    from skimage.metrics import hausdorff_distance

    g = cube_grid(48, 1.0)
    a = sphere_mask(g, [-3, 0, 0], 12.0, "A")
    b = box_mask(g, [-8, -10, -6], [14, 9, 7], "B")
    ma, mb = a.mask(g), b.mask(g)
    face = ndimage.generate_binary_structure(3, 1)
    sa = ma & ~ndimage.binary_erosion(ma, face)
    sb = mb & ~ndimage.binary_erosion(mb, face)
    ref = hausdorff_distance(sa, sb)
    assert geometry.surface_distances(a, b).hausdorff_mm == pytest.approx(ref)


def test_dice_on_different_grids() -> None:
    g1 = cube_grid(40, 1.0)
    g2 = cube_grid(20, 2.0, 0.3)  # b's slab edges fall between a's slices
    a = sphere_contours(g1, [0, 0, 0], 12.0, "A")
    b = sphere_contours(g2, [0, 0, 0], 12.0, "B")
    assert geometry.dice(a, b) > 0.95  # same sphere; b's 2 mm slabs differ at the poles
