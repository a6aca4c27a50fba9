"""Inverse planning end to end on a TG-119-like C-shape: ``rtplan optimize``, DICOM, goals."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from _cshape import c_shape, write_study

import factories
import rtplan
from rtplan.cli.main import main
from rtplan.evaluate import evaluate_goals

GOALS = ["PTV D95 >= 50 Gy", "PTV D10 <= 60 Gy", "Core D10 <= 35 Gy"]
OPTIONS = ["--prescription-gy", "50", "--fractions", "25", "--engine", "pencil-beam",
           "--grid-mm", "5", "--levels", "3", "--iterations", "40"]  # fmt: skip


@pytest.fixture(scope="module")
def optimized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of ``rtplan optimize --json`` on the phantom, with its outputs."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("cshape")
    phantom = c_shape(width_mm=120.0, length_mm=20.0, gap_mm=10.0)
    study = write_study(folder / "study", phantom)
    out = folder / "out"
    goals = itertools.chain.from_iterable(("--goal", g) for g in GOALS)
    argv = ["optimize", str(study), *goals, *OPTIONS, "--json", "-o", str(out)]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(argv)
    return {"status": status, "doc": json.loads(buffer.getvalue()), "out": out, "study": study}


def test_goals_are_met_and_the_command_says_so(optimized: dict[str, Any]) -> None:
    doc = optimized["doc"]
    assert optimized["status"] == 0
    assert [row["result"] for row in doc["goals"]["goals"]] == ["PASS"] * 3
    assert doc["goals"]["all_passed"] is True
    assert doc["total_mu"] > 0
    assert all(b["segments"] >= 2 for b in doc["beams"])
    # the optimiser's dose and the delivered (sequenced, engine-computed) dose agree
    for row in doc["comparison"]:
        assert abs(row["difference_percent"]) < 5.0, row
    assert 0.0 <= doc["dropped_fraction"] < 0.01


def test_the_core_goal_needs_modulation(optimized: dict[str, Any]) -> None:
    """A 3D-conformal plan with the same beams gives the core far more than 35 Gy."""
    study = rtplan.load_study(optimized["study"])
    plan = rtplan.Plan.conformal(
        study.structures["PTV"], gantry_angles_deg=[0, 72, 144, 216, 288],
        prescription_gy=50.0, fractions=25, normalization="d95", margin_mm=0.0,
    )  # fmt: skip
    dose = rtplan.compute_dose(plan, study.ct, engine="pencil-beam", grid_mm=5.0)
    table = evaluate_goals(["Core D10 <= 35 Gy"], dose, study.structures, 50.0)
    assert next(iter(table)).measured > 45.0


def test_rt_plan_has_a_control_point_pair_per_segment_and_is_valid(
    optimized: dict[str, Any],
) -> None:
    rp = optimized["out"] / "RP.dcm"
    assert factories.dciodvfy(rp) == []
    ds = pydicom.dcmread(rp)
    for beam, meta in zip(ds.BeamSequence, optimized["doc"]["beams"], strict=True):
        cps = beam.ControlPointSequence
        assert beam.BeamType == "DYNAMIC"
        assert len(cps) == 2 * meta["segments"] == beam.NumberOfControlPoints
        weights = [float(cp.CumulativeMetersetWeight) for cp in cps]
        assert weights[0] == 0.0
        assert weights[-1] == 1.0
        assert all(b >= a for a, b in itertools.pairwise(weights))
        # the leaves move only between segments, with the beam off
        for n in range(1, len(cps) - 1, 2):
            assert weights[n] == weights[n + 1]


def test_plan_reads_back_and_recomputes_the_same_dose(optimized: dict[str, Any]) -> None:
    out = optimized["out"]
    study = rtplan.load_study(optimized["study"])
    plan = rtplan.io.read_rtplan(out / "RP.dcm")
    assert all(len(b.segments) >= 2 for b in plan.beams)
    assert all(sum(s.weight for s in b.segments) == pytest.approx(1.0) for b in plan.beams)
    stored = rtplan.io.read_rtdose(out / "RD.dcm")
    again = rtplan.compute_dose(plan, study.ct, engine="pencil-beam", grid_mm=5.0)
    np.testing.assert_allclose(
        again.sample(stored.grid.centers_mm().reshape(-1, 3)),
        np.asarray(stored.array, dtype=np.float64).ravel(),
        atol=1e-3 * stored.max_gy,
    )


def test_a_goal_not_met_exits_with_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_study(tmp_path / "study", c_shape(width_mm=100.0, length_mm=10.0, gap_mm=10.0))
    status = main(["optimize", str(study), "--goal", "PTV D95 >= 50 Gy", "--goal",
                   "Core Dmax <= 1 Gy", "--gantry", "0,180", "--prescription-gy", "50",
                   "--engine", "pencil-beam", "--grid-mm", "5", "--levels", "2",
                   "--iterations", "10", "-o", str(tmp_path / "out")])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 1
    assert "FAIL" in captured.out
    assert "rtplan optimize: 1 goal(s) failed" in captured.err
    assert (tmp_path / "out" / "RP.dcm").is_file()


def test_dose_of_the_imrt_plan_reports_the_mu_check_not_applicable(
    optimized: dict[str, Any], tmp_path: Path
) -> None:
    """``rtplan dose --plan RP.dcm``: no false MU warning on step-and-shoot beams.

    The one-field hand calculation on the segments' envelope would ask for several times
    fewer MU than a modulated beam needs; each segmented beam is reported not checked
    (warnings are errors here, so a MonitorUnitWarning would fail the command).
    """
    import contextlib
    import dataclasses
    import io
    import warnings

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["dose", str(optimized["study"]), "--plan",
                       str(optimized["out"] / "RP.dcm"), "--engine", "pencil-beam",
                       "--grid-mm", "5", "--json", "-o", str(tmp_path / "again")])  # fmt: skip
    assert status == 0
    rows = json.loads(buffer.getvalue())["mu_check"]["beams"]
    assert len(rows) == len(optimized["doc"]["beams"])
    for row in rows:
        assert row["status"] == "N/A", row
        assert "not applicable" in row["note"]
        assert "segments" in row["note"]
    # a beam of one shape is still checked
    plan = rtplan.io.read_rtplan(optimized["out"] / "RP.dcm")
    study = rtplan.load_study(optimized["study"])
    beam = plan.beams[0]
    assert beam.mlc is not None
    single = beam.replace(segments=(), mlc=beam.mlc.with_positions(beam.segments[0].positions_mm))
    one = dataclasses.replace(plan, beams=(single,))
    with warnings.catch_warnings():  # one small segment alone may well fail the check
        warnings.simplefilter("ignore", rtplan.dose.MonitorUnitWarning)
        check = rtplan.dose.mu_check(one, study.ct, engine="pencil-beam", grid_mm=5.0)
    assert [b.status for b in check.beams] in (["PASS"], ["FAIL"])
