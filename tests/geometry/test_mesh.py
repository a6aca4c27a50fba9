"""Surfaces: closed, outward, in LPS mm for any grid direction; volume and area."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtplan import Grid, Structure, geometry
from rtplan.errors import GeometryError, StructureError
from rtplan.testing import cube_grid
from rtplan.testing import sphere_contour_structure as sphere_contours

DIRECTIONS = {
    "axial": np.eye(3),
    "feet-first-prone": np.diag([-1.0, 1.0, -1.0]),
    "coronal": np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]),
    "left-handed": np.array([[0.0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]]),
    "oblique": np.array(
        [[np.cos(0.4), -np.sin(0.4), 0], [np.sin(0.4), np.cos(0.4), 0], [0, 0, 1.0]]
    ),
}


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_sphere_mesh_in_lps_for_any_direction(name: str) -> None:
    d = DIRECTIONS[name]
    centre = np.array([12.0, -7.0, 30.0])
    origin = centre - d @ np.full(3, 24.5)
    g = Grid(shape=(50, 50, 50), spacing_mm=(1.0, 1.0, 1.0), origin_mm=origin, direction=d)
    inside = np.linalg.norm(g.centers_mm() - centre, axis=-1) <= 18.0
    s = Structure.from_mask(inside, g, name="S")
    surf = s.mesh()
    assert surf.n_open_edges == 0
    assert surf.is_manifold
    assert surf.volume / 1000.0 == pytest.approx(4 / 3 * math.pi * 18**3 / 1000, rel=0.01)
    assert surf.area == pytest.approx(4 * math.pi * 18**2, rel=0.03)
    np.testing.assert_allclose(surf.points.mean(axis=0), centre, atol=0.1)
    radii = np.linalg.norm(surf.points - centre, axis=1)
    assert np.all(np.abs(radii - 18.0) < 1.0)
    outward = np.einsum("ij,ij->i", surf.point_normals, surf.points - centre)
    assert np.all(outward > 0)


def test_contour_structure_mesh_and_options() -> None:
    g = cube_grid(40, 1.0, 0.2)
    s = sphere_contours(g, [0, 0, 0], 14.0, "CTV")
    raw = geometry.mesh(s, smoothing_iterations=0)
    smooth = geometry.mesh(s)
    light = geometry.mesh(s, decimate=0.5)
    assert raw.n_open_edges == smooth.n_open_edges == light.n_open_edges == 0
    assert light.n_cells < 0.6 * smooth.n_cells
    vol = 4 / 3 * math.pi * 14**3
    assert smooth.volume == pytest.approx(vol, rel=0.015)
    with pytest.raises(GeometryError, match="pass_band"):
        geometry.mesh(s, pass_band=0.0)


def test_empty_structure_has_no_mesh() -> None:
    g = cube_grid(10, 1.0)
    empty = Structure.from_mask(np.zeros(g.shape, bool), g, name="E")
    with pytest.raises(StructureError, match="'E' is empty"):
        geometry.mesh(empty)
