"""Overlap-volume histograms: monotonic to 100 %, analytic shells, equal to margins."""

from __future__ import annotations

import numpy as np
import pytest

import rtplan
from rtplan import Structure, geometry
from rtplan.errors import StructureError
from rtplan.testing import box_mask_structure as box_mask
from rtplan.testing import cube_grid
from rtplan.testing import sphere_mask_structure as sphere_mask


def test_ovh_is_monotonic_and_reaches_100() -> None:
    """Acceptance: OVH non-decreasing, 100 % at the farthest organ voxel."""
    g = cube_grid(60, 1.0)
    target = sphere_mask(g, [0, 0, 0], 10.0, "PTV")
    organ = box_mask(g, [-5, 5, -20], [5, 25, 20], "Cord")  # partly inside the PTV
    h = rtplan.ovh(organ, target)
    assert np.all(np.diff(h.percent) >= 0)
    assert np.all(np.diff(h.distances_mm) > 0)
    assert h.percent[-1] == 100.0
    assert h.volume_percent_at(1e6) == 100.0
    assert h.volume_percent_at(-1e6) == 0.0
    overlap = (
        100.0 * np.count_nonzero(organ.mask(g) & target.mask(g)) / np.count_nonzero(organ.mask(g))
    )
    assert h.overlap_percent == pytest.approx(overlap)
    assert h.min_distance_mm < 0  # part of the organ is inside the target
    assert h.distance_at(100.0) == h.distances_mm[-1]
    assert h.organ == "Cord"
    assert h.target == "PTV"


def test_ovh_equals_overlap_with_expanded_and_contracted_target() -> None:
    g = cube_grid(70, 1.0, 0.2)
    target = sphere_mask(g, [0, 0, 0], 12.0, "PTV")
    organ = sphere_mask(g, [14, 3, 0], 9.0, "Rectum")
    h = geometry.ovh(organ, target)
    m_org = organ.mask(g)
    for r in (1.0, 2.5, 4.0, 7.0, 12.0):
        grown = geometry.expand(target, r).mask(g)
        expected = 100.0 * np.count_nonzero(m_org & grown) / np.count_nonzero(m_org)
        assert h.volume_percent_at(r) == pytest.approx(expected, abs=1e-9), r
    for r in (1.0, 3.0):
        shrunk = geometry.contract(target, r).mask(g)
        inside = 100.0 * np.count_nonzero(m_org & shrunk) / np.count_nonzero(m_org)
        # OVH(-r) counts voxels at least r deep, contraction those deeper than r
        assert h.volume_percent_at(-r) == pytest.approx(inside, abs=0.5)


def test_ovh_of_a_concentric_sphere_follows_the_cube_law() -> None:
    """Organ: sphere R = 24 around a target sphere r = 8. OVH(d) = ((8 + d) / 24)^3."""
    g = cube_grid(64, 1.0, 0.37)
    target = sphere_mask(g, [0, 0, 0], 8.0, "T")
    organ = sphere_mask(g, [0, 0, 0], 24.0, "O")
    h = geometry.ovh(organ, target)
    for d in (2.0, 5.0, 10.0):
        assert h.volume_percent_at(d) == pytest.approx(100.0 * ((8.0 + d) / 24.0) ** 3, rel=0.03)
    assert h.distance_at(50.0) == pytest.approx(24.0 * 0.5 ** (1 / 3) - 8.0, abs=0.5)


def test_ovh_of_empty_organ_raises() -> None:
    g = cube_grid(20, 1.0)
    target = sphere_mask(g, [0, 0, 0], 5.0, "T")
    empty = Structure.from_mask(np.zeros(g.shape, bool), g, name="None")
    with pytest.raises(StructureError, match="'None' is empty"):
        geometry.ovh(empty, target)
