"""Hard constraints (method of multipliers) and the modulation penalty of inverse planning."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from _cshape import c_shape, write_study
from scipy.optimize import check_grad

import rtplan
from rtplan.cli.main import main
from rtplan.dose import prepare_setup
from rtplan.errors import PlanError
from rtplan.planning import (
    DoseProblem,
    Objective,
    beam_bixels,
    influence_matrix,
    objectives_from_goals,
    optimize_weights,
)
from rtplan.planning._modulation import Modulation, leaf_differences
from rtplan.planning._optimize import _Multipliers

TOL = 0.005  # the optimiser's default: 0.5 % of each limit


def _line_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 1D phantom: 40 voxels 2 mm apart, 12 bixels of Gaussian profile (sigma 4 mm).

    Target: voxels 0-19 (0-38 mm); organ: voxels 21-30 (42-60 mm), 4 mm from the target:
    the bixels that cover the target's edge reach into the organ.
    """
    x = np.arange(40) * 2.0
    centres = np.linspace(0.0, 44.0, 12)
    a = np.exp(-0.5 * ((x[:, None] - centres[None, :]) / 4.0) ** 2) * 0.01
    return a, np.arange(0, 20), np.arange(21, 31)


def _line_terms(organ: Objective) -> list[tuple[Objective, Any]]:
    _, target, oar = _line_problem()
    return [
        (Objective(structure="T", kind="min", dose_gy=50.0, weight=10.0), target),
        (Objective(structure="T", kind="max", dose_gy=53.0, weight=10.0), target),
        (organ, oar),
    ]


def _organ_dose(organ: Objective) -> tuple[np.ndarray, Any]:
    a, _, oar = _line_problem()
    res = optimize_weights(DoseProblem(a, 25, _line_terms(organ)), np.ones(12), max_iterations=300)
    return 25 * (a @ res.weights)[oar], res


@pytest.mark.parametrize(
    ("kind", "limit", "extra", "measure"),
    [
        ("max", 10.0, {}, lambda d: float(d.max())),
        ("mean_max", 3.0, {}, lambda d: float(d.mean())),
        # D20 <= level: the third hottest of 10 points (the two hottest may exceed it)
        ("dvh_max", 6.0, {"volume_percent": 20.0}, lambda d: float(np.sort(d)[-3])),
        ("geud_max", 8.0, {"a": 8.0}, lambda d: float(np.mean(d**8.0) ** 0.125)),
    ],
)
def test_a_hard_constraint_is_met_where_its_penalty_is_not(
    kind: str, limit: float, extra: dict[str, Any], measure: Any
) -> None:
    soft, _ = _organ_dose(Objective(structure="O", kind=kind, dose_gy=limit, weight=0.05, **extra))
    assert measure(soft) > 1.05 * limit  # the weighted penalty gives way to the target
    hard, res = _organ_dose(Objective(structure="O", kind=kind, dose_gy=limit, hard=True, **extra))
    assert res.feasible
    assert res.outer_iterations >= 1
    assert measure(hard) <= limit * (1.0 + TOL)
    (c,) = res.constraints
    assert c.satisfied
    assert c.value_gy == pytest.approx(measure(hard), rel=1e-9)
    assert c.limit_gy == limit


def test_a_lower_dvh_constraint_raises_the_dose_of_enough_points() -> None:
    """``T D80 >= 50 Gy`` as a hard constraint against an organ penalty that pulls down."""
    a, target, oar = _line_problem()
    terms = [
        (Objective(structure="T", kind="dvh_min", dose_gy=50.0, volume_percent=80.0, hard=True),
         target),
        (Objective(structure="O", kind="max", dose_gy=5.0, weight=100.0), oar),
        (Objective(structure="T", kind="min", dose_gy=30.0, weight=1.0), target),
    ]  # fmt: skip
    res = optimize_weights(DoseProblem(a, 25, terms), np.ones(12), max_iterations=300)
    d = 25 * (a @ res.weights)[target]
    assert res.feasible
    assert np.sort(d)[-16] >= 50.0 * (1.0 - TOL)  # 80 % of 20 points: the 16th hottest


def test_infeasible_constraints_are_reported_with_their_numbers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, target, _ = _line_problem()
    terms = [
        (Objective(structure="T", kind="min", dose_gy=50.0, hard=True), target),
        (Objective(structure="T", kind="mean_max", dose_gy=40.0, hard=True), target),
    ]
    with caplog.at_level("WARNING", logger="rtplan.planning._optimize"):
        res = optimize_weights(DoseProblem(a, 25, terms), np.ones(12), max_iterations=100)
    assert not res.feasible
    # a dose with every point >= 50 Gy has a mean >= 50 Gy: the two miss by 20 % together
    lo, mean = res.constraints
    total = lo.violation_percent / 100 * 50.0 + mean.violation_percent / 100 * 40.0
    assert total >= 10.0 * (1 - 0.02)
    assert mean.value_gy >= lo.value_gy
    assert "hard constraint not met" in caplog.text
    assert "beyond the limit" in str(mean if not mean.satisfied else lo)


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("max", {}),
        ("min", {}),
        ("mean_max", {}),
        ("mean_min", {}),
        ("geud_max", {"a": 6.0}),
        ("dvh_max", {"volume_percent": 30.0}),
        ("dvh_min", {"volume_percent": 70.0}),
        ("limit", {"limit_gy": np.linspace(20.0, 40.0, 30)}),
    ],
)
def test_constraint_gradient_matches_finite_differences(kind: str, extra: dict[str, Any]) -> None:
    rng = np.random.default_rng(11)
    d = rng.uniform(15.0, 45.0, 30)
    w = rng.uniform(0.5, 2.0, 30)
    o = Objective(structure="S", kind=kind, dose_gy=30.0, hard=True, **extra)
    sel = o.constraint_selection(d)
    g = o.constraint_values(d, sel)
    weights = np.where(np.isfinite(g), w[: g.size], 0.0)

    def f(v: np.ndarray) -> float:
        gv = o.constraint_values(v, sel)
        return float(np.sum(weights * np.where(np.isfinite(gv), gv, 0.0)))

    fd = np.array([(f(d + 1e-6 * e) - f(d - 1e-6 * e)) / 2e-6 for e in np.eye(d.size)])
    np.testing.assert_allclose(o.constraint_vjp(d, weights), fd, rtol=1e-5, atol=1e-9)


def test_augmented_lagrangian_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    a = scipy.sparse.csr_matrix(
        scipy.sparse.random(60, 12, density=0.4, random_state=rng, format="csr") * 0.02
    )
    sampler = scipy.sparse.random(30, 60, density=0.1, random_state=rng, format="csr")
    terms = [
        (Objective(structure="T", kind="min", dose_gy=2.0), np.arange(30)),
        (Objective(structure="O", kind="max", dose_gy=0.3, hard=True), sampler),
        (Objective(structure="T", kind="dvh_max", dose_gy=1.0, volume_percent=40.0, hard=True),
         np.arange(30)),
        (Objective(structure="N", kind="mean_max", dose_gy=0.4, hard=True), np.arange(30, 60)),
    ]  # fmt: skip
    problem = DoseProblem(a, 10, terms)
    x = rng.uniform(0.5, 2.0, 12)
    al = _Multipliers(problem)
    al.select(x)
    al.mu = 7.0
    al.lam = [rng.uniform(0.0, 1.0, lam.size) * np.isfinite(g)
              for lam, g in zip(al.lam, al.values(x), strict=True)]  # fmt: skip

    def f(v: np.ndarray) -> float:
        return problem.value_and_gradient(v)[0] + al.penalty_and_gradient(problem.dose(v))[0]

    def grad(v: np.ndarray) -> np.ndarray:
        _, gp = al.penalty_and_gradient(problem.dose(v))
        return problem.value_and_gradient(v)[1] + problem.pull_back(gp)

    assert al.penalty_and_gradient(problem.dose(x))[0] > 0
    scale = float(np.linalg.norm(grad(x)))
    assert check_grad(f, grad, x, epsilon=1e-7) < 1e-4 * scale


def test_hard_objectives_from_goals_and_their_selection() -> None:
    (o,) = objectives_from_goals(
        ["SpinalCord D0.03cc <= 17 Gy"], prescription_gy=24.0, volumes_cc={"SpinalCord": 6.0},
        hard=True,
    )  # fmt: skip
    assert (o.kind, o.hard, o.volume_percent) == ("dvh_max", True, pytest.approx(0.5))
    d = np.linspace(0.0, 20.0, 400)
    sel = o.constraint_selection(d)
    # 0.5 % of 400 points: the 2 hottest are released
    assert np.flatnonzero(~sel).tolist() == [398, 399]
    low = Objective(structure="T", kind="dvh_min", dose_gy=10.0, volume_percent=95.0, hard=True)
    assert int(low.constraint_selection(d).sum()) == 380


# ------------------------------------------------------------------------ a sample study
@pytest.fixture(scope="module")
def spine() -> dict[str, Any]:
    """The spine sample's fluence problem: 3 posterior beams, 5 mm grid and bixels."""
    study = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    setup = prepare_setup(study.ct, grid_mm=5.0)
    ptv = study.structures["PTV"]
    cord = study.structures["SpinalCord"]
    iso = ptv.centroid_mm
    bixels = [
        beam_bixels(ptv, rtplan.Beam(gantry_deg=g, isocenter_mm=iso,
                                     mlc=rtplan.Mlc.uniform(40, 5.0), number=n), margin_mm=5.0)
        for n, g in enumerate((150.0, 180.0, 210.0), start=1)
    ]  # fmt: skip
    masks = {s.name: s.mask(setup.grid) & setup.body for s in (ptv, cord)}
    inf = influence_matrix(setup, bixels, masks["PTV"] | masks["SpinalCord"])
    position = np.full(setup.grid.size, -1)
    position[inf.voxels] = np.arange(inf.voxels.size)
    rows = {n: position[np.flatnonzero(m.ravel())] for n, m in masks.items()}
    return {"inf": inf, "rows": rows}


def _spine_cord_max(spine: dict[str, Any], hard: bool) -> tuple[float, Any]:
    inf, rows = spine["inf"], spine["rows"]
    terms = [
        (Objective(structure="PTV", kind="min", dose_gy=24.0, weight=10.0), rows["PTV"]),
        (Objective(structure="PTV", kind="max", dose_gy=26.0, weight=10.0), rows["PTV"]),
        (Objective(structure="SpinalCord", kind="max", dose_gy=4.0, weight=0.1, hard=hard),
         rows["SpinalCord"]),
    ]  # fmt: skip
    res = optimize_weights(DoseProblem(inf.matrix, 2, terms), np.full(inf.matrix.shape[1], 50.0),
                           max_iterations=150)  # fmt: skip
    d = inf.dose(res.weights) * 2
    return float(d[rows["SpinalCord"]].max()), res


def test_the_cord_limit_of_the_spine_sample_is_met_only_as_a_hard_constraint(
    spine: dict[str, Any],
) -> None:
    soft, _ = _spine_cord_max(spine, hard=False)
    assert soft > 4.0 * 1.05
    hard, res = _spine_cord_max(spine, hard=True)
    assert res.feasible
    assert hard <= 4.0 * (1.0 + TOL)
    ptv = spine["inf"].dose(res.weights)[spine["rows"]["PTV"]] * 2
    assert np.median(ptv) > 20.0  # the target keeps most of its dose


# ------------------------------------------------------------------------ modulation
def test_leaf_differences_give_twice_the_sweep_mu() -> None:
    """Half the total variation of a row from closed to closed is its sweep's MU."""
    from rtplan.planning import BeamBixels, sequence_beam

    rng = np.random.default_rng(5)
    rows, cols = np.meshgrid(np.arange(3, 7), np.arange(-4, 4), indexing="ij")
    bix = BeamBixels(beam=rtplan.Beam(mlc=rtplan.Mlc.uniform(10, 5.0)), rows=rows.ravel(),
                     cols=cols.ravel(), size_mm=5.0)  # fmt: skip
    w = rng.integers(0, 6, bix.n).astype(float) * 2.0  # whole levels of 2 MU
    fmap = w.reshape(4, 8)
    padded = np.pad(fmap, ((0, 0), (1, 1)))
    tv_rows = np.abs(np.diff(padded, axis=1)).sum(axis=1)
    assert float(np.abs(leaf_differences([bix]) @ w).sum()) == pytest.approx(tv_rows.sum())
    seq = sequence_beam(bix, w, levels=int(w.max() / 2.0), min_mu=2.0)
    assert seq is not None
    assert seq.beam.mu == pytest.approx(0.5 * tv_rows.max())


def test_modulation_gradient_and_effect() -> None:
    rng = np.random.default_rng(2)
    a, _, _ = _line_problem()
    from rtplan.planning import BeamBixels

    bix = BeamBixels(beam=rtplan.Beam(mlc=rtplan.Mlc.uniform(4, 5.0)), rows=np.full(12, 1),
                     cols=np.arange(12), size_mm=5.0)  # fmt: skip
    m = Modulation(operator=leaf_differences([bix]), reference=np.ones(12), weight=0.3)
    x = rng.uniform(0.5, 3.0, 12)
    assert check_grad(lambda v: m.value_and_gradient(v)[0],
                      lambda v: m.value_and_gradient(v)[1], x, epsilon=1e-7) < 1e-5  # fmt: skip
    assert m.index(np.ones(12)) == pytest.approx(1.0)
    terms = _line_terms(Objective(structure="O", kind="max", dose_gy=20.0, weight=3.0))
    plain = optimize_weights(DoseProblem(a, 25, terms), np.ones(12), max_iterations=300)
    smooth = optimize_weights(DoseProblem(a, 25, terms, regularizer=m), np.ones(12),
                              max_iterations=300)  # fmt: skip
    assert m.index(smooth.weights) < 0.9 * m.index(plain.weights)
    with pytest.raises(PlanError, match="no variation"):
        Modulation(operator=leaf_differences([bix]), reference=np.zeros(12), weight=1.0)


# ------------------------------------------------------------------------ the command
def _optimize(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    study = write_study(tmp_path / "study", c_shape(width_mm=100.0, length_mm=10.0, gap_mm=10.0))
    argv = ["optimize", str(study), "--goal", "PTV D95 >= 50 Gy", "--gantry", "0,120,240",
            "--prescription-gy", "50", "--fractions", "25", "--engine", "pencil-beam",
            "--grid-mm", "5", "--levels", "4", "--iterations", "40", "--rounds", "1",
            *extra, "--json", "-o", str(tmp_path / "out")]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    text = out.getvalue()
    return status, (json.loads(text) if text.strip() else None), err.getvalue()


def test_the_command_meets_a_hard_constraint_the_goal_would_not(tmp_path: Path) -> None:
    """One round: the goal's penalty alone (not re-aimed) gives way to the target."""
    _, soft, _ = _optimize(tmp_path / "soft", "--goal", "Core Dmax <= 22 Gy")
    assert soft is not None
    assert soft["comparison"][1]["optimized"] > 22.0 * 1.03
    _, doc, _ = _optimize(tmp_path / "hard", "--constraint", "Core Dmax <= 22 Gy")
    assert doc is not None
    (c,) = doc["constraints"]["fluence"]
    assert c["satisfied"] is True
    assert c["value_gy"] <= 22.0
    assert doc["constraints"]["goals"] == ["Core Dmax <= 22 Gy"]
    # measured as the goal table measures it: on the optimised fluence, and on the delivered
    # plan (sequenced, its MU refined on the engine's dose) within the engine's 3 %
    assert doc["comparison"][1]["optimized"] <= 22.0
    assert doc["comparison"][1]["delivered"] <= 22.0 * 1.03


def test_the_command_reports_infeasible_constraints(tmp_path: Path) -> None:
    status, doc, err = _optimize(tmp_path, "--constraint", "PTV Dmin >= 50 Gy",
                                 "--constraint", "PTV Dmean <= 40 Gy")  # fmt: skip
    assert status == 2  # the constraints contradict each other: bad input
    assert doc is None
    assert "no fluence meets the hard constraints" in err
    assert "PTV Dmean <= 40 Gy" in err
    assert "beyond the limit" in err


def test_engine_correction_is_exact_at_its_weights_and_for_scaled_plans() -> None:
    """The corrected segment model equals the engine's dose where it was made, and when
    every MU is scaled (a ratio per voxel, not a fixed difference)."""
    from rtplan.planning._optimize import _corrected

    rng = np.random.default_rng(4)
    model = rng.uniform(0.0, 1.0, (50, 6))
    truth = model * rng.uniform(0.9, 1.1, (50, 1))  # the engine: 10 % off per voxel
    w = rng.uniform(1.0, 3.0, 6)
    matrix, offset = _corrected(model, w, truth @ w)
    np.testing.assert_allclose(matrix @ w + offset, truth @ w, rtol=1e-12)
    strong = model @ w >= 0.1 * (model @ w).max()
    np.testing.assert_allclose((matrix @ (2 * w) + offset)[strong], (truth @ (2 * w))[strong])
    # a fixed difference alone would be off by the engine's 10 % of the added dose
    fixed = model @ (2 * w) + (truth @ w - model @ w)
    assert np.abs(fixed - truth @ (2 * w))[strong].max() > 0.05
