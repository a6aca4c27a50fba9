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
