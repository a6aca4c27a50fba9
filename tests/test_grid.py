from __future__ import annotations

import numpy as np
import pytest

from rtplan import Grid
from rtplan.errors import GeometryError


def oblique_direction() -> np.ndarray:
    a, b = np.radians(30.0), np.radians(20.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


@pytest.fixture
def grid() -> Grid:
    return Grid(
        shape=(5, 6, 7),
        spacing_mm=(3.0, 0.8, 1.2),
        origin_mm=(-10.0, 20.0, 5.0),
        direction=oblique_direction(),
    )


def test_index_to_mm_follows_definition(grid: Grid) -> None:
    ijk = np.array([[2.0, 3.0, 4.0]])
    expected = np.asarray(grid.origin_mm) + grid.direction @ (ijk[0] * np.array([1.2, 0.8, 3.0]))
    np.testing.assert_allclose(grid.index_to_mm(ijk)[0], expected)


def test_round_trip_index_mm(grid: Grid) -> None:
    rng = np.random.default_rng(1)
    ijk = rng.uniform(-1, 8, size=(50, 3))
    np.testing.assert_allclose(grid.mm_to_index(grid.index_to_mm(ijk)), ijk, atol=1e-9)


def test_single_point_shape(grid: Grid) -> None:
    assert grid.index_to_mm([0, 0, 0]).shape == (3,)
    np.testing.assert_allclose(grid.index_to_mm([0, 0, 0]), grid.origin_mm)


def test_affine_matches_index_to_mm(grid: Grid) -> None:
    ijk = np.array([1.0, 2.0, 3.0, 1.0])
    np.testing.assert_allclose((grid.affine @ ijk)[:3], grid.index_to_mm(ijk[:3]))
    g2 = Grid.from_affine(grid.affine, grid.shape)
    assert g2 == grid


def test_axis_order_conventions() -> None:
    g = Grid(shape=(2, 3, 4), spacing_mm=(5.0, 2.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    assert g.shape_ijk == (4, 3, 2)
    np.testing.assert_allclose(g.spacing_ijk_mm, [1.0, 2.0, 5.0])
    # one step along the column index i moves along +x by the column spacing
    np.testing.assert_allclose(g.index_to_mm([1, 0, 0]), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(g.index_to_mm([0, 1, 0]), [0.0, 2.0, 0.0])
    np.testing.assert_allclose(g.index_to_mm([0, 0, 1]), [0.0, 0.0, 5.0])
    np.testing.assert_allclose(g.extent_mm, [4.0, 6.0, 10.0])
    assert g.voxel_volume_mm3 == pytest.approx(10.0)
    np.testing.assert_allclose(g.axis_mm(0), [0.0, 5.0])


def test_centers_and_corners(grid: Grid) -> None:
    c = grid.centers_mm()
    assert c.shape == (*grid.shape, 3)
    np.testing.assert_allclose(c[4, 5, 6], grid.index_to_mm([6, 5, 4]))
    corners = grid.corners_mm()
    assert corners.shape == (8, 3)
    assert grid.contains_mm(corners * 0.999 + 0.001 * np.mean(corners, axis=0)).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (0, 2, 2)}, "shape"),
        ({"spacing_mm": (1.0, -1.0, 1.0)}, "spacing"),
        ({"spacing_mm": (1.0, np.nan, 1.0)}, "spacing"),
        ({"origin_mm": (0.0, np.inf, 0.0)}, "origin"),
        ({"direction": np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0]])}, "orthonormal"),
        ({"direction": np.eye(3) * 2}, "orthonormal"),
    ],
)
def test_invalid_geometry_raises(kwargs: dict, match: str) -> None:
    base = {"shape": (2, 2, 2), "spacing_mm": (1.0, 1.0, 1.0), "origin_mm": (0.0, 0.0, 0.0)}
    base.update(kwargs)
    with pytest.raises(GeometryError, match=match):
        Grid(**base)


def test_frozen(grid: Grid) -> None:
    with pytest.raises(AttributeError):
        grid.shape = (1, 1, 1)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        grid.direction[0, 0] = 2.0


def test_covering_box_and_with_spacing() -> None:
    g = Grid.covering((-10, -20, -5), (10, 20, 5), 2.5)
    assert g.shape == (5, 17, 9)
    np.testing.assert_allclose(g.index_to_mm([0, 0, 0]), [-10, -20, -5])
    np.testing.assert_allclose(g.index_to_mm([8, 16, 4]), [10, 20, 5])
    fine = g.with_spacing(1.25)
    np.testing.assert_allclose(fine.extent_mm, g.extent_mm)
    np.testing.assert_allclose(fine.corners_mm().min(axis=0), g.corners_mm().min(axis=0))


def test_crop(grid: Grid) -> None:
    sub = grid.crop((1, 2, 3), (4, 5, 5))
    assert sub.shape == (2, 3, 3)
    np.testing.assert_allclose(sub.index_to_mm([0, 0, 0]), grid.index_to_mm([1, 2, 3]))
    with pytest.raises(GeometryError, match="outside"):
        grid.crop((0, 0, 0), (8, 1, 1))


def test_equality_and_hash(grid: Grid) -> None:
    other = Grid(
        shape=grid.shape,
        spacing_mm=grid.spacing_mm,
        origin_mm=tuple(o + 1e-5 for o in grid.origin_mm),
        direction=grid.direction,
    )
    assert other == grid
    assert not grid.isclose(Grid(shape=grid.shape, spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0)))


# ---------------------------------------------------------------------------- boxes
def test_index_box_of_a_mask_and_its_padding() -> None:
    from rtplan.grid import IndexBox

    m = np.zeros((6, 7, 8), dtype=bool)
    m[2, 3:5, 1] = True
    m[4, 3, 6] = True
    box = IndexBox.from_mask(m)
    assert box == IndexBox((2, 3, 1), (5, 5, 7))
    assert box.shape == (3, 2, 6)
    assert box.size == 36
    assert m[box.slices].sum() == m.sum()
    # padding clips to the array, and may be per axis
    assert box.padded(3, within=m.shape) == IndexBox((0, 0, 0), (6, 7, 8))
    assert box.padded((0, 1, 2)) == IndexBox((2, 2, -1), (5, 6, 9))
    assert box.lower_ijk() == (1, 3, 2)
    assert box.upper_ijk() == (7, 5, 5)
    assert IndexBox.from_mask(np.zeros((2, 2, 2))) is None
    with pytest.raises(GeometryError, match="3D"):
        IndexBox.from_mask(np.ones((2, 2)))
    with pytest.raises(GeometryError, match="upper >= lower"):
        IndexBox((0, 0, 2), (1, 1, 1))


def test_crop_to_places_the_box_voxels_where_the_grid_had_them(grid: Grid) -> None:
    from rtplan.grid import IndexBox

    box = IndexBox((1, 2, 3), (4, 6, 7))
    sub = grid.crop_to(box)
    assert sub.shape == box.shape
    kji = np.array([[0, 0, 0], [2, 3, 3], [1, 2, 0]])
    ijk_sub = kji[:, ::-1].astype(float)
    ijk_full = ijk_sub + np.asarray(box.lower_ijk(), dtype=float)
    np.testing.assert_allclose(sub.index_to_mm(ijk_sub), grid.index_to_mm(ijk_full), atol=1e-9)
    with pytest.raises(GeometryError, match="outside grid"):
        grid.crop_to(IndexBox((0, 0, 0), (6, 1, 1)))


def test_bounds_and_overlaps_of_grids() -> None:
    a = Grid(shape=(4, 10, 20), spacing_mm=(2.5, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    lo, hi = a.bounds_mm()
    np.testing.assert_allclose(lo, [-0.5, -0.5, -1.25])
    np.testing.assert_allclose(hi, [19.5, 9.5, 8.75])
    assert a.format_bounds() == "x 0..20, y 0..10, z -1..9 mm"
    touching = Grid(shape=(1, 1, 1), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(20.0, 0.0, 0.0))
    apart = Grid(shape=(1, 1, 1), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(20.6, 0.0, 0.0))
    assert a.overlaps(touching)
    assert touching.overlaps(a)
    assert not a.overlaps(apart)
    assert not apart.overlaps(a)
    # a structure's (lower, upper) LPS box
    assert a.overlaps((np.array([5.0, 5.0, 5.0]), np.array([50.0, 50.0, 50.0])))
    assert not a.overlaps(([0.0, 0.0, 9.0], [1.0, 1.0, 10.0]))


def test_bounds_of_an_oblique_grid_hold_its_corners(grid: Grid) -> None:
    lo, hi = grid.bounds_mm()
    corners = grid.corners_mm()
    assert np.all(corners >= lo - 1e-9)
    assert np.all(corners <= hi + 1e-9)
    np.testing.assert_allclose(lo, corners.min(axis=0))
