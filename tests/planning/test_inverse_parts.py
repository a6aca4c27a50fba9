"""Inverse planning parts: objectives' gradients, the optimiser, leaf sequencing, beamlets."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from scipy.optimize import check_grad

import rtplan
from rtplan.dose import engine_calibration, get_engine, load_machine, prepare_setup
from rtplan.errors import PlanError
from rtplan.plan import Segment
from rtplan.planning import (
    BeamBixels,
    DoseProblem,
    Objective,
    beam_bixels,
    influence_matrix,
    objectives_from_goals,
    optimize_weights,
    sequence_beam,
    sweep_row,
)
from rtplan.testing import box_mask_structure, water_phantom


# ---------------------------------------------------------------------------- objectives
@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("min", {}),
        ("max", {}),
        ("mean_min", {}),
        ("mean_max", {}),
        ("dvh_min", {"volume_percent": 90.0}),
        ("dvh_max", {"volume_percent": 20.0}),
        ("geud_max", {"a": 4.0}),
    ],
)
def test_objective_gradient_matches_finite_differences(kind: str, extra: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    d = rng.uniform(30.0, 60.0, size=50)
    level = {"mean_min": 55.0, "mean_max": 35.0, "geud_max": 40.0}.get(kind, 45.0)
    o = Objective(structure="S", kind=kind, dose_gy=level, weight=2.0, **extra)
    value, grad = o.value_and_gradient(d)
    assert value > 0
    eps = 1e-6
    fd = np.array(
        [
            (o.value_and_gradient(d + eps * e)[0] - o.value_and_gradient(d - eps * e)[0])
            / (2 * eps)
            for e in np.eye(d.size)
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-10)


def test_objectives_vanish_when_met() -> None:
    d = np.full(10, 50.0)
    for kind, volume in [("min", None), ("max", None), ("dvh_min", 95.0)]:
        o = Objective(structure="S", kind=kind, dose_gy=50.0, volume_percent=volume)
        value, grad = o.value_and_gradient(d)
        assert value == 0.0
        assert not grad.any()


def test_dvh_max_penalises_only_voxels_between_limit_and_current_dose() -> None:
    # D20 <= 40: the hottest 20 % (2 voxels) may exceed 40 Gy; the 3rd and 4th hottest
    # are those pushed down
    d = np.array([10.0, 20, 30, 35, 38, 39, 45, 48, 55, 60])
    o = Objective(structure="S", kind="dvh_max", dose_gy=40.0, volume_percent=20.0)
    _, grad = o.value_and_gradient(d)
    assert np.flatnonzero(grad).tolist() == [6, 7]


def test_goals_become_objectives_with_units() -> None:
    objs = objectives_from_goals(
        ["PTV D95 >= 95 %", "Femur V40Gy <= 64 %", "Cord D0.5cc <= 14 Gy", "Bowel Dmean <= 20 Gy"],
        prescription_gy=50.0,
        volumes_cc={"Cord": 5.0},
    )
    got = [(o.kind, o.dose_gy, o.volume_percent) for o in objs]
    assert got == [
        ("dvh_min", 47.5, 95.0),
        ("dvh_max", 40.0, 64.0),
        ("dvh_max", 14.0, 10.0),
        ("mean_max", 20.0, None),
    ]
    with pytest.raises(PlanError, match="no optimiser aims at"):
        objectives_from_goals(["PTV Dmax >= 50 Gy"], prescription_gy=50.0)
    with pytest.raises(PlanError, match="relative to the prescription"):
        objectives_from_goals(["PTV D95 >= 95 %"], prescription_gy=None)


# ---------------------------------------------------------------------------- optimiser
def _random_problem(seed: int) -> tuple[DoseProblem, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = scipy.sparse.random(60, 12, density=0.4, random_state=rng, format="csr") * 0.02
    a = scipy.sparse.csr_matrix(a, dtype=np.float64)
    sampler = scipy.sparse.random(30, 60, density=0.1, random_state=rng, format="csr")
    terms = [
        (Objective(structure="T", kind="min", dose_gy=2.0), np.arange(0, 30)),
        (
            Objective(structure="T", kind="dvh_max", dose_gy=2.2, volume_percent=10.0),
            np.arange(0, 30),
        ),
        (Objective(structure="O", kind="max", dose_gy=0.5, weight=3.0), sampler),
        (
            Objective(structure="N", kind="limit", dose_gy=1.0, limit_gy=np.linspace(0.2, 1.0, 30)),
            np.arange(30, 60),
        ),
    ]
    return DoseProblem(a, 10, terms), rng.uniform(0.5, 2.0, 12)


def test_problem_gradient_matches_finite_differences() -> None:
    problem, x = _random_problem(3)

    def f(v: np.ndarray) -> float:
        return problem.value_and_gradient(v)[0]

    def g(v: np.ndarray) -> np.ndarray:
        return problem.value_and_gradient(v)[1]

    scale = float(np.linalg.norm(g(x)))
    assert scale > 0
    assert check_grad(f, g, x, epsilon=1e-7) < 1e-4 * scale


def test_optimiser_is_deterministic_bounded_and_logged() -> None:
    problem, x = _random_problem(5)
    a = optimize_weights(problem, x, lower=0.1, max_iterations=50)
    b = optimize_weights(problem, x, lower=0.1, max_iterations=50)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.weights.min() >= 0.1
    assert a.objective < problem.value_and_gradient(x)[0]
    values = [v for _, v in a.history]
    assert len(values) == a.iterations
    assert all(v2 <= v1 + 1e-12 for v1, v2 in itertools.pairwise(values))


def test_optimiser_reaches_the_analytic_optimum() -> None:
    # two voxels, two beamlets: the doses 3 Gy at both are reached exactly
    a = np.array([[1.0, 0.5], [0.25, 1.0]])
    obj = [(Objective(structure="T", kind="min", dose_gy=3.0), np.array([0, 1])),
           (Objective(structure="T", kind="max", dose_gy=3.0), np.array([0, 1]))]  # fmt: skip
    res = optimize_weights(DoseProblem(a, 1, obj), np.zeros(2))
    np.testing.assert_allclose(res.weights, np.linalg.solve(a, [3.0, 3.0]), rtol=1e-4)


# ---------------------------------------------------------------------------- sequencing
def test_sweep_row_is_exact_and_minimal() -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        profile = rng.integers(0, 6, size=rng.integers(1, 15))
        openings = sweep_row(profile)
        covered = np.zeros(profile.size, dtype=np.int64)
        for left, right in openings:
            assert 0 <= left < right <= profile.size
            covered[left:right] += 1
        np.testing.assert_array_equal(covered, profile)
        rises = np.maximum(np.diff(np.concatenate([[0], profile])), 0).sum()
        assert len(openings) == rises  # the least number of unit openings


def _bixels(rows: int, cols: int) -> BeamBixels:
    rr, cc = np.meshgrid(np.arange(rows) + 8, np.arange(cols) - cols // 2, indexing="ij")
    return BeamBixels(
        beam=rtplan.Beam(mlc=rtplan.Mlc.uniform(20, 5.0)),
        rows=rr.ravel().astype(np.int64),
        cols=cc.ravel().astype(np.int64),
        size_mm=5.0,
    )


def test_sequencing_reproduces_the_quantised_fluence_within_machine_limits() -> None:
    rng = np.random.default_rng(2)
    bix = _bixels(4, 7)
    weights = rng.uniform(0.0, 40.0, bix.n)
    seq = sequence_beam(bix, weights, levels=6, min_mu=3.0, min_gap_mm=0.5)
    assert seq is not None
    fmap, _, _ = bix.fluence_map(weights)
    np.testing.assert_allclose(seq.delivered, seq.delta_mu * np.rint(fmap / seq.delta_mu))
    assert np.abs(seq.delivered - fmap).max() <= 0.5 * seq.delta_mu + 1e-9
    assert seq.segment_mu.min() >= 3.0
    beam = seq.beam
    assert beam.mu == pytest.approx(seq.segment_mu.sum())
    assert sum(s.weight for s in beam.segments) == pytest.approx(1.0)
    # the leaves open exactly the bixels of each segment, on the bixel edges
    edges_x = (np.arange(7) - 3) * 5.0
    for seg, opened in zip(beam.segments, seq.openings, strict=True):
        pos = seg.positions_mm
        for r in range(4):
            a, b = pos[0, r + 8], pos[1, r + 8]
            if opened[r].any():
                inside = (edges_x >= a - 1e-9) & (edges_x + 5.0 <= b + 1e-9)
                np.testing.assert_array_equal(inside, opened[r])
            else:
                assert b - a == pytest.approx(0.5)  # closed: the minimum gap
                assert b <= beam.jaws_mm[0]  # parked under the X1 jaw
        closed_rows = [p for p in range(20) if p not in range(8, 12)]
        np.testing.assert_allclose(pos[1, closed_rows] - pos[0, closed_rows], 0.5)


def test_sequencing_keeps_the_least_mu_per_segment() -> None:
    bix = _bixels(1, 3)
    seq = sequence_beam(bix, [1.0, 9.0, 4.0], levels=10, min_mu=3.0)
    assert seq is not None
    assert seq.delta_mu == pytest.approx(3.0)  # 9 MU in 3 levels of 3 MU
    assert seq.segment_mu.min() >= 3.0
    assert sequence_beam(bix, [0.5, 1.0, 0.2], levels=5, min_mu=2.0) is None


def test_segments_are_validated() -> None:
    mlc = rtplan.Mlc.uniform(2, 5.0)
    seg = Segment(positions_mm=np.array([[-5.0, -5.0], [5.0, 5.0]]), weight=0.5)
    with pytest.raises(PlanError, match=r"sum to 0\.5"):
        rtplan.Beam(mlc=mlc, segments=(seg,))
    with pytest.raises(PlanError, match="no Mlc"):
        rtplan.Beam(segments=(seg, seg))
    with pytest.raises(PlanError, match="bank A"):
        Segment(positions_mm=np.array([[5.0], [-5.0]]), weight=1.0)


def test_step_and_shoot_fluence_is_the_weighted_sum_of_its_segments() -> None:
    from rtplan.dose._fluence import beam_fluence

    machine = load_machine("6X")
    mlc = rtplan.Mlc.uniform(10, 5.0)
    p1 = np.array([[-10.0] * 10, [10.0] * 10])
    p2 = np.array([[-20.0] * 10, [0.0] * 10])
    beam = rtplan.Beam(jaws_mm=(-20.0, 20.0, -20.0, 20.0), mlc=mlc,
                       segments=(Segment(positions_mm=p1, weight=0.3),
                                 Segment(positions_mm=p2, weight=0.7)))  # fmt: skip
    f = beam_fluence(beam, machine).values
    f1 = beam_fluence(beam.replace(segments=(), mlc=mlc.with_positions(p1)), machine).values
    f2 = beam_fluence(beam.replace(segments=(), mlc=mlc.with_positions(p2)), machine).values
    np.testing.assert_allclose(f, 0.3 * f1 + 0.7 * f2, atol=1e-12)


# ---------------------------------------------------------------------------- beamlets
@pytest.fixture(scope="module")
def water() -> tuple[rtplan.Image, rtplan.Structure]:
    ct = water_phantom(width_mm=120, depth_mm=120, spacing_mm=5.0)
    box = box_mask_structure(ct.grid, (-15.0, 45.0, -15.0), (15.0, 75.0, 15.0), name="PTV")
    return ct, box


def test_bixels_cover_the_target_projection(water: tuple[rtplan.Image, rtplan.Structure]) -> None:
    _, target = water
    beam = rtplan.Beam(isocenter_mm=(0.0, 60.0, 0.0), mlc=rtplan.Mlc.uniform(40, 5.0))
    bix = beam_bixels(target, beam, bixel_mm=5.0, margin_mm=0.0)
    # the box's voxels span 35 mm (its voxel centres +-15 mm, half a voxel more each side),
    # magnified at the face nearer the source: 8 columns and 8 leaf pairs
    assert sorted(set(bix.cols.tolist())) == list(range(-4, 4))
    assert bix.n == 64
    with pytest.raises(PlanError, match="needs an MLC"):
        beam_bixels(target, beam.replace(mlc=None))


@pytest.mark.parametrize("gantry", [0.0, 60.0])
def test_bixel_doses_add_up_to_the_engine_dose_of_the_open_field(
    water: tuple[rtplan.Image, rtplan.Structure], gantry: float
) -> None:
    ct, target = water
    setup = prepare_setup(ct, grid_mm=5.0)
    beam = rtplan.Beam(isocenter_mm=(0.0, 60.0, 0.0), gantry_deg=gantry,
                       mlc=rtplan.Mlc.uniform(40, 5.0))  # fmt: skip
    bix = beam_bixels(target, beam, margin_mm=0.0)
    inf = influence_matrix(setup, [bix], setup.body, threshold=0.0)
    assert inf.matrix.dtype == np.float32
    assert inf.dropped_fraction == 0.0
    summed = np.zeros(setup.grid.shape)
    summed.ravel()[inf.voxels] = inf.dose(np.ones(bix.n))
    # the same field as one rectangle: every bixel open, through the engine
    x0, x1 = bix.x_mm.min() - 2.5, bix.x_mm.max() + 2.5
    y0, y1 = bix.y_mm.min() - 2.5, bix.y_mm.max() + 2.5
    engine = get_engine("pencil-beam")
    machine = load_machine("6X")
    open_field = beam.replace(jaws_mm=(x0, x1, y0, y1), mlc=None)
    reference = engine.beam_dose(open_field, setup, machine) * engine_calibration(engine, machine)
    inside = target.mask(setup.grid)
    ratio = summed[inside] / reference[inside]
    # the open field adds the jaws' 0.5 % transmission outside the field
    assert 0.98 < ratio.mean() < 1.005
    assert ratio.min() > 0.97
    assert ratio.max() < 1.03


def test_threshold_drops_entries_and_reports_their_share(
    water: tuple[rtplan.Image, rtplan.Structure], tmp_path: Path
) -> None:
    ct, target = water
    setup = prepare_setup(ct, grid_mm=5.0)
    beam = rtplan.Beam(isocenter_mm=(0.0, 60.0, 0.0), mlc=rtplan.Mlc.uniform(40, 5.0))
    bix = beam_bixels(target, beam, margin_mm=0.0)
    full = influence_matrix(setup, [bix], setup.body, threshold=0.0)
    cut = influence_matrix(setup, [bix], setup.body, threshold=0.01, cache_dir=tmp_path)
    assert cut.matrix.nnz < full.matrix.nnz
    total = float(full.matrix.sum())
    assert cut.dropped_fraction == pytest.approx(1.0 - float(cut.matrix.sum()) / total, rel=1e-3)
    assert 0.0 < cut.dropped_fraction < 0.5
    cached = influence_matrix(setup, [bix], setup.body, threshold=0.01, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    assert (cached.matrix != cut.matrix).nnz == 0
    assert cached.dropped_fraction == cut.dropped_fraction


def test_segment_doses_from_the_bixels_match_the_engine(
    water: tuple[rtplan.Image, rtplan.Structure],
) -> None:
    """A sequenced segment's dose as its open bixels' (closed ones at the MLC transmission)
    against the engine's dose of the same MLC shape."""
    from rtplan.planning._optimize import _engine_segments, _influence_segments

    ct, target = water
    setup = prepare_setup(ct, grid_mm=5.0)
    beam = rtplan.Beam(isocenter_mm=(0.0, 60.0, 0.0), mlc=rtplan.Mlc.uniform(40, 5.0))
    bix = beam_bixels(target, beam, margin_mm=0.0)
    inf = influence_matrix(setup, [bix], setup.body, threshold=0.0)
    # a wedge-like map: three segments of growing width
    weights = 10.0 + 10.0 * (bix.cols - bix.cols.min())
    seq = sequence_beam(bix, weights, levels=3, min_mu=1.0)
    assert seq is not None
    assert seq.n_segments >= 2
    ours = _influence_segments([seq], inf)
    engine = _engine_segments([seq], setup, inf.voxels, get_engine("pencil-beam"))
    inside = np.flatnonzero(target.mask(setup.grid).ravel()[inf.voxels])
    total_ours = ours @ seq.segment_mu
    total_engine = engine @ seq.segment_mu
    ratio = total_ours[inside] / total_engine[inside]
    assert 0.97 < ratio.mean() < 1.03
    # each segment's dose inside its own opening, and the leaf transmission under the leaves
    for k in range(seq.n_segments):
        hot = inside[engine[inside, k] > 0.5 * engine[inside, k].max()]
        assert np.median(ours[hot, k] / engine[hot, k]) == pytest.approx(1.0, abs=0.04)
    # under the closed leaves of the narrowest segment: transmission and scatter only
    k = int(np.argmin(seq.openings.sum(axis=(1, 2))))
    cold = inside[engine[inside, k] < 0.2 * engine[inside, k].max()]
    assert cold.size > 0
    assert 0.5 < float(np.median(ours[cold, k] / engine[cold, k])) < 1.5


def test_problem_offset_adds_a_fixed_dose_and_keeps_the_gradient() -> None:
    problem, x = _random_problem(7)
    offset = np.linspace(0.0, 0.05, problem.matrix.shape[0])
    shifted = DoseProblem(problem.matrix, problem.fractions, problem.terms, offset)
    np.testing.assert_allclose(shifted.dose(x), problem.dose(x) + problem.fractions * offset)

    def f(v: np.ndarray) -> float:
        return shifted.value_and_gradient(v)[0]

    def g(v: np.ndarray) -> np.ndarray:
        return shifted.value_and_gradient(v)[1]

    scale = float(np.linalg.norm(g(x)))
    assert scale > 0
    assert check_grad(f, g, x, epsilon=1e-7) < 1e-4 * scale
    assert shifted.with_terms(problem.terms).offset_gy is shifted.offset_gy
