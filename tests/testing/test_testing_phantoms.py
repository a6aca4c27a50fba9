"""rtplan.testing: phantom images and analytic shapes, against closed forms.

Areas and volumes are compared with their closed forms (regular n-gon, sphere, ellipse),
voxel counts with brute-force counts of voxel centres written out here.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rtplan.testing import (
    box_mask_structure,
    cube_grid,
    cylinder_phantom,
    ellipse_points_mm,
    polygon_area_mm2,
    slab_phantom,
    sphere_contour_structure,
    sphere_mask_structure,
    water_phantom,
)


# ---------------------------------------------------------------------------- phantoms
@pytest.mark.parametrize(("width", "depth", "spacing"), [(240, 200, 2.5), (100, 50, 5.0)])
def test_water_phantom_surface_and_centre(width: float, depth: float, spacing: float) -> None:
    ct = water_phantom(width_mm=width, depth_mm=depth, spacing_mm=spacing, density=1.2)
    g = ct.grid
    assert ct.units == "g/cm3"
    assert ct.patient_position == "HFS"
    assert np.all(ct.array == 1.2)
    y = g.axis_mm(1)
    assert y[0] - spacing / 2 == pytest.approx(0.0)  # the surface is the plane y = 0
    assert y[-1] + spacing / 2 == pytest.approx(depth)
    x, z = g.axis_mm(2), g.axis_mm(0)
    assert g.shape[0] % 2 == 1
    assert g.shape[2] % 2 == 1
    assert x[len(x) // 2] == pytest.approx(0.0)  # a voxel centre on the beam axis
    assert z[len(z) // 2] == pytest.approx(0.0)
    assert x[-1] - x[0] + spacing == pytest.approx(width, abs=spacing)


def test_slab_phantom_fills_the_depths_between() -> None:
    ct = slab_phantom([(30.0, 60.0, 1400.0), (50.0, 55.0, -750.0)], background_hu=10.0)
    y = ct.grid.axis_mm(1)
    column = ct.array[3, :, 7]
    assert ct.units == "HU"
    np.testing.assert_array_equal(column[(y > 50) & (y < 55)], -750)
    np.testing.assert_array_equal(column[((y > 30) & (y < 50)) | ((y > 55) & (y < 60))], 1400)
    np.testing.assert_array_equal(column[(y < 30) | (y > 60)], 10)
    assert np.all(ct.array == ct.array[:1, :, :1])  # uniform across x and z


def test_cylinder_phantom_structures_match_its_ct() -> None:
    p = cylinder_phantom("FFS")
    g, hu = p.ct.grid, p.ct.array
    assert p.ct.patient_position == "FFS"
    assert hu.dtype == np.int16
    c = g.centers_mm()
    x, y = c[..., 0], c[..., 1]
    np.testing.assert_array_equal(p.body.mask(g), (x / 52) ** 2 + (y / 42) ** 2 <= 1)
    np.testing.assert_array_equal(p.gtv.mask(g), hu == 50)
    np.testing.assert_array_equal(p.canal.mask(g), hu == 15)
    np.testing.assert_array_equal(p.bone.mask(g), np.isin(hu, [1200, 300, 50]))
    # the body is an elliptic cylinder through the whole grid: pi a b L within 1 %
    length = g.shape[0] * g.spacing_mm[0]
    assert p.body.volume_cc == pytest.approx(math.pi * 52 * 42 * length / 1000, rel=0.01)
    assert p.body.interpreted_type == "EXTERNAL"


# ---------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("n", [3, 8, 64, 360])
def test_ellipse_polygon_area_is_the_inscribed_ngon(n: int) -> None:
    pts = ellipse_points_mm((12.0, 5.0), -7.5, centre_mm=(3.0, -4.0), n=n, phase_rad=0.3)
    assert pts.shape == (n, 3)
    np.testing.assert_array_equal(pts[:, 2], -7.5)
    # an affine image of the regular n-gon inscribed in the unit circle
    assert polygon_area_mm2(pts) == pytest.approx(0.5 * n * 12.0 * 5.0 * math.sin(2 * math.pi / n))
    u = (pts[:, 0] - 3.0) / 12.0
    v = (pts[:, 1] + 4.0) / 5.0
    np.testing.assert_allclose(u * u + v * v, 1.0)
    assert polygon_area_mm2(pts[::-1]) < 0  # clockwise
    with pytest.raises(ValueError, match="3 or more vertices"):
        ellipse_points_mm((1.0, 1.0), 0.0, n=2)


def test_cube_grid_is_centred() -> None:
    g = cube_grid(5, spacing=2.0, offset=0.25)
    assert g.shape == (5, 5, 5)
    np.testing.assert_allclose(g.index_to_mm([2, 2, 2]), [0.25, 0.25, 0.25])


def test_sphere_mask_counts_the_voxel_centres_inside() -> None:
    g = cube_grid(16, spacing=1.5, offset=0.2)
    centre, r = np.array([1.0, -0.5, 2.0]), 6.0
    axis = g.axis_mm(0)  # the same coordinates along every axis
    brute = sum(
        1
        for x, y, z in itertools.product(axis, repeat=3)
        if (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= r * r
    )
    s = sphere_mask_structure(g, centre, r, "S")
    assert s.name == "S"
    assert int(s.mask(g).sum()) == brute
    assert s.volume_cc == pytest.approx(4 / 3 * math.pi * r**3 / 1000, rel=0.03)


def test_sphere_contours_are_the_slab_stack_of_the_sphere() -> None:
    g = cube_grid(40, spacing=1.0)
    r, n = 12.3, 180
    s = sphere_contour_structure(g, (0.0, 0.0, 0.4), r, n=n)
    z = np.array([c.points_mm[0, 2] for c in s.contours])
    assert np.all(np.abs(z - 0.4) < r)
    assert len(z) == int(np.sum(np.abs(g.axis_mm(0) - 0.4) < r))
    radii = np.sqrt(r * r - (z - 0.4) ** 2)
    stack_mm3 = np.sum(0.5 * n * radii**2 * math.sin(2 * math.pi / n)) * 1.0
    assert s.volume_cc == pytest.approx(stack_mm3 / 1000, rel=1e-9)
    assert s.volume_cc == pytest.approx(4 / 3 * math.pi * r**3 / 1000, rel=0.01)
    assert s.slice_thickness_mm == 1.0
    assert s.reference_grid == g


def test_box_mask_includes_centres_on_its_faces() -> None:
    g = cube_grid(10)  # centres at -4.5 ... 4.5
    s = box_mask_structure(g, (-2.5, -1.0, 0.5), (2.5, 1.0, 4.5), "B")
    # x: -2.5..2.5 -> 6 centres; y: -0.5, 0.5 -> 2; z: 0.5..4.5 -> 5
    assert int(s.mask(g).sum()) == 6 * 2 * 5
