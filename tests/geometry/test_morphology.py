"""Array morphology with radii in mm, against brute-force balls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from rtplan import geometry
from rtplan.errors import GeometryError


def ball(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    n = [int(np.floor(radius_mm / s)) for s in spacing]
    k, j, i = np.meshgrid(*(np.arange(-m, m + 1) for m in n), indexing="ij")
    return (k * spacing[0]) ** 2 + (j * spacing[1]) ** 2 + (i * spacing[2]) ** 2 <= radius_mm**2


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8)])
def test_dilate_and_erode_equal_brute_force_ball(spacing: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(4)
    m = np.zeros((24, 40, 40), dtype=bool)
    m[8:16, 10:30, 12:26] = True
    m &= rng.random(m.shape) > 0.1
    se = ball(3.0, spacing)
    np.testing.assert_array_equal(
        geometry.dilate_mask(m, 3.0, spacing), ndimage.binary_dilation(m, se)
    )
    np.testing.assert_array_equal(
        geometry.erode_mask(m, 3.0, spacing), ndimage.binary_erosion(m, se, border_value=0)
    )
    assert np.array_equal(geometry.erode_mask(m, 0.0, spacing), m)
    with pytest.raises(GeometryError, match=">= 0"):
        geometry.dilate_mask(m, -1.0, spacing)


def test_erode_with_outside_as_set_ignores_array_edges() -> None:
    m = np.ones((10, 10, 10), dtype=bool)
    assert geometry.erode_mask(m, 2.0, (1, 1, 1), outside_is_set=True).all()
    assert not geometry.erode_mask(m, 2.0, (1, 1, 1))[0].any()


def test_open_close_fill_and_components() -> None:
    m = np.zeros((20, 30, 30), dtype=bool)
    m[5:15, 5:25, 5:25] = True
    m[10, 10:20, 27] = True  # a thin wire off the block
    m[8:12, 12:18, 12:18] = False  # a closed cavity
    opened = geometry.open_mask(m, 1.5, (1, 1, 1))
    assert not opened[10, 15, 27]
    assert geometry.fill_holes_3d(m)[10, 15, 15]
    assert geometry.fill_holes_slicewise(m)[10, 15, 15]
    # the cavity is 4 voxels thick along k: a 2.5 mm closing bridges it, 1 mm does not
    assert geometry.close_mask(m, 2.5, (1, 1, 1))[10, 15, 15]
    assert not geometry.close_mask(m, 1.0, (1, 1, 1))[10, 15, 15]
    two = np.zeros((5, 20, 20), dtype=bool)
    two[1:4, 2:5, 2:5] = True
    two[1:4, 10:18, 10:18] = True
    big = geometry.largest_component(two)
    assert big[2, 12, 12]
    assert not big[2, 3, 3]
    assert geometry.remove_small_components(two, 30)[2, 12, 12]
    assert not geometry.remove_small_components(two, 30)[2, 3, 3]
