"""The RT Plan that ``rtplan optimize`` writes, read back by pydicom and dicompyler-core."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from typing import Any

import numpy as np
import pydicom
import pytest
from _cshape import c_shape, write_study

import factories
import rtplan.planning
from rtplan.cli.main import main
from rtplan.planning import InversePlan

GOALS = ["PTV D95 >= 50 Gy", "Core D10 <= 35 Gy"]
GANTRY = (0.0, 120.0, 240.0)
MIN_MU = 3.0
OPTIONS = ["--prescription-gy", "50", "--fractions", "25", "--engine", "pencil-beam",
           "--grid-mm", "5", "--levels", "3", "--iterations", "20", "--rounds", "2",
           "--min-mu", str(MIN_MU), "--gantry", ",".join(f"{a:g}" for a in GANTRY)]  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A three-beam IMRT plan of the C-shape written by ``rtplan optimize``, and the plan."""
    folder = tmp_path_factory.mktemp("cshape_dicom")
    study = write_study(folder / "study", c_shape(width_mm=100.0, length_mm=15.0, gap_mm=10.0))
    out = folder / "out"
    made: list[InversePlan] = []
    original = rtplan.planning.inverse_plan

    def recording(*args: Any, **kwargs: Any) -> InversePlan:
        made.append(original(*args, **kwargs))
        return made[-1]

    goals = itertools.chain.from_iterable(("--goal", g) for g in GOALS)
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buffer):
        mp.setattr(rtplan.planning, "inverse_plan", recording)
        main(["optimize", str(study), *goals, *OPTIONS, "--json", "-o", str(out)])
    return {"rp": out / "RP.dcm", "doc": json.loads(buffer.getvalue()), "plan": made[0].plan}


def test_pydicom_reads_beams_control_points_and_mu(written: dict[str, Any]) -> None:
    plan = written["plan"]
    ds = pydicom.dcmread(written["rp"])
    assert ds.SOPClassUID == pydicom.uid.RTPlanStorage
    fg = ds.FractionGroupSequence[0]
    assert int(fg.NumberOfFractionsPlanned) == 25
    assert int(fg.NumberOfBeams) == len(ds.BeamSequence) == len(plan.beams) == len(GANTRY)
    meterset = {int(r.ReferencedBeamNumber): float(r.BeamMeterset)
                for r in fg.ReferencedBeamSequence}  # fmt: skip
    for item, beam, meta in zip(ds.BeamSequence, plan.beams, written["doc"]["beams"], strict=True):
        assert item.BeamName == beam.name == meta["name"]
        mu = meterset[int(item.BeamNumber)]
        assert mu == pytest.approx(beam.mu, rel=1e-9)
        assert mu == pytest.approx(meta["mu"], rel=1e-9)
        cps = item.ControlPointSequence
        assert int(item.NumberOfControlPoints) == len(cps) == 2 * len(beam.segments)
        assert float(cps[0].GantryAngle) == pytest.approx(beam.gantry_deg)
        assert [int(cp.ControlPointIndex) for cp in cps] == list(range(len(cps)))
        weights = np.array([float(cp.CumulativeMetersetWeight) for cp in cps])
        assert weights[0] == 0.0
        assert weights[-1] == pytest.approx(float(item.FinalCumulativeMetersetWeight))
        assert np.all(np.diff(weights) >= 0.0)
        # step and shoot: the beam is off while the leaves move (odd -> even pairs)
        np.testing.assert_allclose(weights[2::2], weights[1:-1:2], atol=1e-12)
        segment_mu = mu * np.diff(weights)[0::2] / weights[-1]
        np.testing.assert_allclose(segment_mu, [beam.mu * s.weight for s in beam.segments])
        assert segment_mu.min() >= MIN_MU - 1e-6  # the machine's least MU per segment
        assert segment_mu.sum() == pytest.approx(mu)
        for k, seg in enumerate(beam.segments):
            for cp in (cps[2 * k], cps[2 * k + 1]):
                mlc = next(d for d in cp.BeamLimitingDevicePositionSequence
                           if d.RTBeamLimitingDeviceType == "MLCX")  # fmt: skip
                leaves = np.array([float(v) for v in mlc.LeafJawPositions]).reshape(2, -1)
                np.testing.assert_allclose(leaves, seg.positions_mm, atol=1e-3)
                assert np.all(leaves[0] <= leaves[1])  # no leaf pair overlaps
        assert len({cp_mlc_key(cps[2 * k]) for k in range(len(beam.segments))}) > 1


def cp_mlc_key(cp: Any) -> tuple[float, ...]:
    """A control point's MLC leaf positions, hashable."""
    mlc = next(d for d in cp.BeamLimitingDevicePositionSequence
               if d.RTBeamLimitingDeviceType == "MLCX")  # fmt: skip
    return tuple(round(float(v), 3) for v in mlc.LeafJawPositions)


@pytest.mark.peer
def test_dicompyler_reads_the_imrt_plan(written: dict[str, Any]) -> None:
    plan = written["plan"]
    parser = factories.dicompyler_parser()(str(written["rp"]))  # type: ignore[no-untyped-call]
    assert parser.GetSOPClassUID() == "rtplan"
    info = parser.GetPlan()
    assert info["label"] == plan.name[:16]
    assert info["rxdose"] == 5000  # cGy
    assert info["name"] == "PTV"
    assert info["brachy"] is False
    beams = parser.GetReferencedBeamsInFraction()
    assert [b["name"] for _, b in sorted(beams.items())] == [b.name for b in plan.beams]
    # dicompyler-core keeps the pydicom dataset: the same control points and MU
    ds = parser.ds
    assert [len(b.ControlPointSequence) for b in ds.BeamSequence] == [
        2 * len(b.segments) for b in plan.beams
    ]
    total = sum(float(r.BeamMeterset) for r in ds.FractionGroupSequence[0].ReferencedBeamSequence)
    assert total == pytest.approx(plan.total_mu, rel=1e-9)


def test_rt_plan_is_valid_dicom(written: dict[str, Any]) -> None:
    assert factories.dciodvfy(written["rp"]) == []
