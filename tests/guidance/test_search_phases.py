"""The phases of the needle-path search, each on its own: criteria, candidates, filters, ranking."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import ndimage

from rtplan import Grid, Image
from rtplan.enum import Approach
from rtplan.errors import GeometryError, StructureError
from rtplan.guidance import TrajectoryConstraints, TrajectoryRanking, plan_trajectory
from rtplan.guidance._candidates import candidate_paths, search_space, target_points
from rtplan.guidance._criteria import APPROACH, TILT, TOO_LONG, reason_strings
from rtplan.guidance._feasibility import apply_path_constraints
from rtplan.guidance._ranking import pick_distinct
from rtplan.testing import CylinderPhantom as Phantom


# ----------------------------------------------------------------------------- criteria
def test_constraints_normalise_and_check() -> None:
    c = TrajectoryConstraints(approach=("Posterior", Approach.LEFT), clearance_mm={"A": 2})
    assert c.sides == (Approach.POSTERIOR, Approach.LEFT)
    assert c.clearances_mm(["A"]) == {"A": 2.0}
    assert c.max_clearance_mm == 2.0
    with pytest.raises(StructureError, match=r"no clearance for \['B'\]"):
        c.clearances_mm(["A", "B"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.max_length_mm = 10.0  # type: ignore[misc]
    with pytest.raises(GeometryError, match="unknown approach 'up'"):
        TrajectoryConstraints(approach="up")
    with pytest.raises(GeometryError, match="max_length_mm"):
        TrajectoryConstraints(max_length_mm=0.0)
    with pytest.raises(GeometryError, match=r"max_tilt_deg must lie in \[0, 90\]"):
        TrajectoryConstraints(max_tilt_deg=95.0)
    with pytest.raises(GeometryError, match="clearance for 'A'"):
        TrajectoryConstraints(clearance_mm={"A": -1.0})
    g = Grid(shape=(4, 4, 4), spacing_mm=(2.0, 0.8, 1.0), origin_mm=(0, 0, 0))
    assert TrajectoryConstraints().step_for(g) == pytest.approx(0.4)
    assert TrajectoryConstraints(voxel_extent=True).extent_mm(g) == pytest.approx(
        0.5 * math.sqrt(2.0**2 + 0.8**2 + 1.0**2)
    )
    with pytest.raises(GeometryError, match=r"step_mm must lie in \(0, 0.4\]"):
        TrajectoryConstraints(step_mm=0.5).step_for(g)


def test_ranking_weights_complete_and_checked() -> None:
    r = TrajectoryRanking(weights={"length": 3.0})
    assert dict(r.weight) == {
        "length": 3.0,
        "clearance": 1.0,
        "out_of_plane": 0.5,
        "cortex_incidence": 1.0,
    }
    with pytest.raises(GeometryError, match="unknown score weights"):
        TrajectoryRanking(weights={"speed": 1.0})
    with pytest.raises(GeometryError, match="n_best"):
        TrajectoryRanking(n_best=0)


def test_keywords_and_objects_give_the_same_search(phantom: Phantom) -> None:
    kw = plan_trajectory(
        phantom.ct,
        phantom.gtv,
        avoid=[phantom.canal],
        body=phantom.body,
        clearance_mm=3.0,
        approach="posterior",
        n_best=3,
    )
    obj = plan_trajectory(
        phantom.ct,
        phantom.gtv,
        avoid=[phantom.canal],
        body=phantom.body,
        constraints=TrajectoryConstraints(clearance_mm=3.0, approach=Approach.POSTERIOR),
        ranking=TrajectoryRanking(n_best=3),
    )
    assert [t.to_dict() for t in kw] == [t.to_dict() for t in obj]
    np.testing.assert_array_equal(kw.accessibility.reason, obj.accessibility.reason)
    # a keyword replaces that field of the object given
    mixed = plan_trajectory(
        phantom.ct,
        phantom.gtv,
        avoid=[phantom.canal],
        body=phantom.body,
        constraints=TrajectoryConstraints(clearance_mm=3.0, approach="anterior"),
        approach="posterior",
        n_best=3,
    )
    assert [t.to_dict() for t in mixed] == [t.to_dict() for t in kw]
    with pytest.raises(TypeError, match="unexpected keyword"):
        plan_trajectory(phantom.ct, phantom.gtv, body=phantom.body, clearence_mm=3.0)  # type: ignore[call-arg]


def test_reason_strings() -> None:
    codes = np.array([0, TOO_LONG, 10, 11, APPROACH, TILT, 4], dtype=np.int64)
    assert reason_strings(codes, ["A", "B"]).tolist() == [
        "feasible",
        "too_long",
        "clearance:A",
        "clearance:B",
        "approach",
        "tilt",
        "leaves_body",
    ]


# ----------------------------------------------------------------------------- candidates
def _blob_space(seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    g = Grid(shape=(12, 30, 26), spacing_mm=(2.0, 1.0, 1.5), origin_mm=(0.0, 0.0, 0.0))
    body = ndimage.binary_dilation(rng.random(g.shape) < 0.03, iterations=3)
    body[4:8, 12:18, 10:16] = True
    ct = Image(array=np.where(body, 40.0, -1000.0), grid=g, units="HU")
    target = g.index_to_mm([[13.0, 15.0, 6.0]])
    return ct, Image(array=body, grid=g, units="1"), target, body


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidates_are_the_six_neighbour_skin_within_reach(seed: int) -> None:
    ct, body_img, target, body = _blob_space(seed)
    targets, name = target_points(ct, target)
    assert name == ""
    c = TrajectoryConstraints(max_length_mm=12.0)
    space = search_space(
        ct, targets, name, constraints=c, ranking=TrajectoryRanking(), body=body_img
    )
    cand = candidate_paths(space, c.max_length_mm)
    # the skin: body voxels with a face neighbour outside the body (not beyond the image)
    skin = body & ~ndimage.binary_erosion(body, border_value=1)
    t_ijk = ct.grid.mm_to_index(targets)[0]
    reach = 12.0 / ct.grid.spacing_ijk_mm
    lo = np.clip(np.floor(t_ijk - reach), 0, None).astype(int)
    hi = np.ceil(t_ijk + reach).astype(int) + 1
    window = np.zeros_like(skin)
    window[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]] = True
    expected = {tuple(v) for v in np.argwhere(skin & window)[:, ::-1].tolist()}
    got = {tuple(v) for v in np.rint(cand.starts + space.origin_ijk).astype(int).tolist()}
    assert got == expected
    assert np.all(cand.codes == 0)
    np.testing.assert_allclose(space.to_mm(cand.ends), np.repeat(targets, cand.n, axis=0))


def test_path_constraints_codes(phantom: Phantom) -> None:
    ct = phantom.ct
    targets, name = target_points(ct, phantom.gtv)
    c = TrajectoryConstraints(max_length_mm=45.0, approach="posterior", max_tilt_deg=0.0)
    space = search_space(
        ct, targets, name, constraints=c, ranking=TrajectoryRanking(), body=phantom.body
    )
    cand = apply_path_constraints(space, candidate_paths(space, c.max_length_mm), c)
    entries = space.to_mm(cand.starts)
    anterior = entries[:, 1] <= targets[0, 1]
    assert np.all(cand.codes[anterior] == APPROACH)  # the approach is tested first
    ok = cand.codes == 0
    assert ok.any()
    lengths = np.linalg.norm(entries - targets[0], axis=1)
    assert np.all(lengths[ok] <= 45.0)
    assert np.all(lengths[cand.codes == TOO_LONG] > 45.0)
    # tilt 0: the passing entries were moved onto the target's axial plane
    np.testing.assert_allclose(entries[ok, 2], targets[0, 2], atol=1e-9)
    assert np.all(cand.codes[~anterior & (cand.codes != 0)] != APPROACH)


# ----------------------------------------------------------------------------- ranking
def test_pick_distinct_keeps_entries_apart() -> None:
    score = np.array([0.1, 0.2, 0.3, 0.4, np.nan, 0.05])
    feasible = np.array([True, True, True, True, False, True])
    starts = np.array([[0, 0, 0], [1, 0, 0], [20, 0, 0], [40, 0, 0], [60, 0, 0], [30, 0, 0.0]])
    t_index = np.array([0, 0, 0, 0, 0, 1])
    chosen = pick_distinct(score, feasible, starts, t_index, n_best=10, min_separation_mm=10.0)
    # 5 (best, another target point), 0, not 1 (1 mm from 0), 2, 3
    assert chosen == [5, 0, 2, 3]
    assert pick_distinct(score, feasible, starts, t_index, n_best=2, min_separation_mm=0.5) == [
        5,
        0,
    ]
