from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import rtplan
from rtplan import Dose
from rtplan.report import HtmlReport, review_report


def test_html_report_builder_escapes_and_embeds(tmp_path: Path) -> None:
    r = HtmlReport(title="T <1>", subtitle="s & t")
    r.heading("Goals")
    r.table(["a", "status"], [["x<y", "PASS"], ["z", "FAIL"]], status_column=1)
    r.image(np.zeros((4, 5, 3), dtype=np.uint8), "img")
    r.warnings(["careful <b>"])
    html = r.save(tmp_path / "r.html").read_text(encoding="utf-8")
    assert "T &lt;1&gt;" in html
    assert "x&lt;y" in html
    assert '<td class="pass">PASS</td>' in html
    assert '<td class="fail">FAIL</td>' in html
    assert html.count("data:image/png;base64,") == 1
    assert "careful &lt;b&gt;" in html


def test_review_report_of_a_dose_has_metrics_goals_and_views(
    tmp_path: Path, thigh_path: Path
) -> None:
    study = rtplan.load_study(thigh_path)
    ct, ss = study.ct, study.structures
    ptv = ss["PTV"]
    # an analytic dose: 50 Gy inside the PTV's bounding sphere falling off linearly
    grid = ct.grid.with_spacing(4.0)
    r = np.linalg.norm(grid.centers_mm() - ptv.centroid_mm, axis=-1)
    dose = Dose(array=np.clip(50.0 * (1.0 - (r - 40.0) / 60.0), 0.0, 50.0), grid=grid)
    goals = rtplan.evaluate.evaluate_goals(
        ["PTV D95 >= 95 %", "Femur Dmax <= 10 Gy"], dose, ss, 50.0
    )
    out = review_report(tmp_path / "report.html", study, dose=dose, goals=goals, target=ptv)
    html = out.read_text(encoding="utf-8")
    assert "Dose evaluation" in html
    assert "Clinical goals" in html
    assert re.search(r"<td>PTV</td>", html)
    assert html.count("data:image/png;base64,") == 4  # DVH plot + 3 planes
    assert "FAIL" in html  # the femur goal fails on this dose
    patient = study.ct.series.patient if study.ct.series else {}
    assert str(patient.get("PatientName", "zzz")) not in html  # no identifiers
    assert str(patient.get("PatientID", "zzz")) not in html


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str], dciodvfy) -> None:  # type: ignore[no-untyped-def]
    from rtplan.cli.main import main

    status = main(["demo", "-o", str(tmp_path)])
    out = capsys.readouterr().out
    assert status in (0, 1)
    assert "PTV D95 =" in out
    assert "MU" in out
    assert "Clinical goals" in out
    assert "spine_metastasis" in out
    plan = rtplan.io.read_rtplan(tmp_path / "thigh_sarcoma" / "RTPLAN.dcm")
    dose = rtplan.io.read_rtdose(tmp_path / "thigh_sarcoma" / "RTDOSE.dcm")
    assert len(plan.beams) == 3
    assert all(b.mu is not None and b.mu > 0 for b in plan.beams)
    assert dose.plan_uid == plan.uid
    assert dciodvfy(tmp_path / "thigh_sarcoma" / "RTPLAN.dcm") == []
    assert (tmp_path / "thigh_sarcoma" / "report.html").stat().st_size > 10_000
    assert (tmp_path / "spine_metastasis" / "report.html").stat().st_size > 10_000
    assert (tmp_path / "spine_metastasis" / "trajectory" / "dicom" / "RS_trajectory.dcm").exists()


def test_report_command_with_needle_paths(
    tmp_path: Path, spine_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtplan.cli.main import main

    out = tmp_path / "spine.html"
    status = main(
        [
            "report",
            str(spine_path),
            "--needle-target",
            "GTV",
            "--avoid",
            "SpinalCanal",
            "Kidney_L",
            "Kidney_R",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    html = out.read_text(encoding="utf-8")
    assert "Needle trajectories to GTV" in html
    assert "SpinalCanal" in html
    assert html.count("data:image/png;base64,") == 4  # best path in three views + skin map
    assert "report written to" in capsys.readouterr().out


def test_report_command_goal_without_dose_is_a_clear_error(
    tmp_path: Path, thigh_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtplan.cli.main import main

    assert (
        main(
            ["report", str(thigh_path), "--goal", "PTV D95 >= 95 %", "-o", str(tmp_path / "r.html")]
        )
        == 2
    )
    assert "--goal needs a dose" in capsys.readouterr().err
