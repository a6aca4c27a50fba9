"""Distances: analytic sphere gaps, boxes along each direction, the info table."""

from __future__ import annotations

import numpy as np
import pytest
from geometry_shapes import box_mask, cube_grid, sphere_contours, sphere_mask

from rtplan import Grid, Structure, StructureSet, geometry
from rtplan.errors import GeometryError, StructureError


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sphere_gap_from_masks_within_one_voxel(seed: int) -> None:
    """Voxel masks only know each surface to half a voxel: the gap to one voxel."""
    rng = np.random.default_rng(10 + seed)
    g = cube_grid(70, 1.0, float(rng.uniform(-0.5, 0.5)))
    ca = np.array([-14.0, 0.0, 0.0]) + rng.uniform(-1, 1, 3)
    cb = np.array([15.0, 2.0, -1.0]) + rng.uniform(-1, 1, 3)
    a = sphere_mask(g, ca, 11.0, "A")
    b = sphere_mask(g, cb, 9.0, "B")
    gap = np.linalg.norm(cb - ca) - 20.0
    assert abs(geometry.min_distance(a, b) - gap) < 1.0


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
