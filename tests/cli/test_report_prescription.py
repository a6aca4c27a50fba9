"""`rtplan report` takes the prescription of %-goals as `rtplan dvh` does, never by chance."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

import rtplan
from rtplan.cli.main import main
from rtplan.planning import conformal_plan


@pytest.fixture(scope="module")
def thigh() -> tuple[rtplan.Study, rtplan.Plan]:
    """The thigh study and a two-field conformal plan of its PTV with MU."""
    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    plan = conformal_plan(
        study.structures["PTV"],
        gantry_angles_deg=[0, 180],
        prescription_gy=50.0,
        fractions=25,
        patient_position=study.ct.patient_position or "HFS",
    )
    return study, plan.with_beams([b.with_mu(100.0) for b in plan.beams])


def _study_with_plans(
    tmp_path: Path, thigh: tuple[rtplan.Study, rtplan.Plan], prescriptions_gy: tuple[float, ...]
) -> tuple[Path, Path]:
    """A copy of the thigh study holding one RT Plan per prescription, and a uniform 50 Gy
    RT Dose (outside the study, on a 5 mm grid) that references none of them."""
    study, plan = thigh
    study_dir = tmp_path / "study"
    shutil.copytree(rtplan.data.get_path("thigh_sarcoma"), study_dir)
    for n, rx in enumerate(prescriptions_gy):
        each = replace(plan, prescription_gy=rx, uid=pydicom.uid.generate_uid())
        rtplan.io.write_rtplan(each, study_dir / f"RP_{n}.dcm", reference=study.ct)
    grid = study.ct.grid.with_spacing(5.0)
    dose = rtplan.Dose(array=np.full(grid.shape, 50.0), grid=grid)
    rd = tmp_path / "RD.dcm"
    rtplan.io.write_rtdose(dose, rd, reference=study.ct, plan_sop_uid=pydicom.uid.generate_uid())
    return study_dir, rd


def test_disagreeing_plans_give_no_prescription(
    tmp_path: Path, thigh: tuple[rtplan.Study, rtplan.Plan], capsys: pytest.CaptureFixture[str]
) -> None:
    study_dir, rd = _study_with_plans(tmp_path, thigh, (50.0, 60.0))
    out = tmp_path / "report.html"
    argv = ["report", str(study_dir), "--dose", str(rd), "--goal", "PTV D95 >= 95 %"]
    assert main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is in % of the prescription: give --prescription-gy" in err
    assert not out.exists()
    # naming it settles it
    assert main([*argv, "--prescription-gy", "50", "-o", str(out)]) == 0
    assert out.is_file()


def test_agreeing_plans_give_their_prescription(
    tmp_path: Path, thigh: tuple[rtplan.Study, rtplan.Plan]
) -> None:
    study_dir, rd = _study_with_plans(tmp_path, thigh, (50.0, 50.0))
    out = tmp_path / "report.html"
    argv = ["report", str(study_dir), "--dose", str(rd), "--goal", "PTV D95 >= 95 %"]
    assert main([*argv, "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "PASS" in html  # a uniform 50 Gy meets D95 >= 95 % of 50 Gy


def test_fraction_dose_is_reported_as_the_plan_total(
    tmp_path: Path, thigh: tuple[rtplan.Study, rtplan.Plan], capsys: pytest.CaptureFixture[str]
) -> None:
    """One fraction of 2 Gy whose RT Plan (25 fractions) is in the study: the goals and the
    report see 50 Gy and say so; the same fraction with no plan to be found is refused."""
    study, plan = thigh
    study_dir = tmp_path / "study"
    shutil.copytree(rtplan.data.get_path("thigh_sarcoma"), study_dir)
    uid = pydicom.uid.generate_uid()
    rtplan.io.write_rtplan(replace(plan, uid=uid), study_dir / "RP.dcm", reference=study.ct)
    grid = study.ct.grid.with_spacing(5.0)
    one = rtplan.Dose(array=np.full(grid.shape, 2.0), grid=grid, summation_type="FRACTION")
    rd = rtplan.io.write_rtdose(one, tmp_path / "RD.dcm", reference=study.ct, plan_sop_uid=uid)
    out = tmp_path / "report.html"
    argv = ["report", str(study_dir), "--dose", str(rd), "--goal", "PTV Dmax <= 45 Gy"]
    # 50 Gy over the plan: the limit fails; status 1 only when asked for
    with pytest.warns(rtplan.dose.MonitorUnitWarning):  # the plan's 100 MU are not this dose
        assert main([*argv, "--fail-on-goals", "-o", str(out)]) == 1
    text = capsys.readouterr().out
    basis = "PHYSICAL dose, PLAN (25 fractions); total: FRACTION dose multiplied by 25 fractions"
    assert f"dose: {basis}" in text
    assert "50.00 Gy  FAIL" in text
    html = out.read_text(encoding="utf-8")
    assert f"Dose evaluated: {basis}." in html
    # the fraction alone, its plan not in the study: refused, nothing written
    alone = tmp_path / "alone"
    shutil.copytree(rtplan.data.get_path("thigh_sarcoma"), alone)
    lost = tmp_path / "lost.html"
    assert main(["report", str(alone), "--dose", str(rd), "-o", str(lost)]) == 2
    err = capsys.readouterr().err
    assert "is a FRACTION dose (PHYSICAL dose, FRACTION (fractions unknown)): one fraction" in err
    assert "the review report convert it with the plan's number of fractions" in err
    assert not lost.exists()


def test_report_json_and_quiet(
    tmp_path: Path, thigh: tuple[rtplan.Study, rtplan.Plan], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    study_dir, rd = _study_with_plans(tmp_path, thigh, (50.0,))
    out = tmp_path / "report.html"
    argv = ["report", str(study_dir), "--dose", str(rd), "--goal", "PTV D95 >= 95 %"]
    argv += ["--goal", "PTV Dmax <= 45 Gy", "-o", str(out)]
    with pytest.warns(rtplan.dose.MonitorUnitWarning):  # the plan's 100 MU are not this dose
        status = main([*argv, "--json"])
    assert status == 0  # a goal fails: status 0 without --fail-on-goals
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["report"] == str(out)
    assert doc["goals_passed"] is False
    assert [(g["goal"], g["passed"]) for g in doc["goals"]] == [
        ("PTV D95 >= 95 %", True),
        ("PTV Dmax <= 45 Gy", False),
    ]
    assert doc["goals"][1]["measured"] == pytest.approx(50.0)
    assert "1 goal(s) failed" in captured.err
