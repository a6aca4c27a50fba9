from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import rtplan
from rtplan import Dose
from rtplan.dose import MonitorUnitWarning
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

    # the whole flow as `rtplan demo` runs it, with the faster engine on a coarser grid
    status = main(["demo", "-o", str(tmp_path), "--engine", "pencil-beam", "--grid-mm", "5"])
    out = capsys.readouterr().out
    assert status in (0, 1)
    assert "PTV D95 =" in out
    assert "MU" in out
    assert "Clinical goals" in out
    assert "spine_metastasis" in out
    assert "pencil-beam dose on a 5 mm grid" in out
    plan = rtplan.io.read_rtplan(tmp_path / "thigh_sarcoma" / "RP.dcm")
    dose = rtplan.io.read_rtdose(tmp_path / "thigh_sarcoma" / "RD.dcm")
    assert len(plan.beams) == 3
    assert all(b.mu is not None and b.mu > 0 for b in plan.beams)
    assert dose.plan_uid == plan.uid
    assert dciodvfy(tmp_path / "thigh_sarcoma" / "RP.dcm") == []
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


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (24843.78, "24844"),  # a body volume, not 2.484e+04
        (575.48, "575.5"),
        (24.0, "24"),
        (0.05664, "0.0566"),
        (-3.25, "-3.25"),
        (1.414e-12, "0"),  # round-off of a volume that is zero, not 1.414e-12
        (-1e-13, "0"),
        (0.0, "0"),
        (float("nan"), "nan"),
    ],
)
def test_table_numbers_never_use_exponents(value: float, text: str) -> None:
    from rtplan.report._html import number_text

    assert number_text(value) == text
    r = HtmlReport(title="t")
    r.table(["v"], [[value]])
    assert f"<td>{text}</td>" in r.render()


def test_dvh_legend_is_beside_the_curves(thigh_path: Path) -> None:
    """With a dozen structures the legend would hide the targets' curves (top right)."""
    import matplotlib.pyplot as plt

    from rtplan.report._review import _dvh_figure

    study = rtplan.load_study(thigh_path)
    ptv = study.structures["PTV"]
    grid = study.ct.grid.with_spacing(5.0)
    r = np.linalg.norm(grid.centers_mm() - ptv.centroid_mm, axis=-1)
    dose = Dose(array=np.clip(50.0 * (1.0 - (r - 40.0) / 60.0), 0.0, 50.0), grid=grid)
    shown = [s for s in study.structures if s.has_volume]
    dvhs = rtplan.evaluate.compute_dvhs(dose, shown)
    fig = _dvh_figure(dvhs, shown, 50.0)
    try:
        fig.canvas.draw()
        (ax,) = fig.axes
        legend = ax.get_legend()
        assert len(legend.get_texts()) == len(dvhs) + 1  # and the prescription line
        box = legend.get_window_extent()
        assert box.x0 >= ax.get_window_extent().x1  # entirely right of the axes
    finally:
        plt.close(fig)


def test_report_command_finds_the_plan_next_to_the_dose(
    tmp_path: Path, thigh_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``rtplan report STUDY --dose out/RD.dcm``: the prescription comes from the RT Plan the
    RT Dose references (``out/RP.dcm``, as ``rtplan dose -o out`` writes them)."""
    from pydicom.uid import generate_uid

    from rtplan.cli.main import main

    study = rtplan.load_study(thigh_path)
    ct, ptv = study.ct, study.structures["PTV"]
    grid = ct.grid.with_spacing(5.0)
    r = np.linalg.norm(grid.centers_mm() - ptv.centroid_mm, axis=-1)
    dose = Dose(array=np.clip(50.0 * (1.0 - (r - 40.0) / 60.0), 0.0, 50.0), grid=grid)
    uid = generate_uid()
    beam = rtplan.Beam(energy="6X", gantry_deg=0.0, isocenter_mm=ptv.centroid_mm, mu=100.0)
    plan = rtplan.Plan(beams=[beam], prescription_gy=50.0, fractions=25, name="Thigh")
    out = tmp_path / "out"
    rtplan.io.write_rtplan(plan, out / "RP.dcm", reference=ct, sop_instance_uid=uid)
    rd = rtplan.io.write_rtdose(dose, out / "RD.dcm", reference=ct, plan_sop_uid=uid)
    html_path = tmp_path / "r.html"
    args = ["report", str(thigh_path), "--dose", str(rd), "-o", str(html_path)]
    # the plan's 100 MU do not give this analytic dose: the independent MU check says so
    with pytest.warns(
        MonitorUnitWarning,
        match=r"beam 'Beam 1': 100\.0 MU per fraction in the plan, \d+\.\d MU by the independent "
        r"check: -\d\d\.\d % \(tolerance 5 %\); dose at the points: dose 'rtplan dose' at the "
        r"isocentre, 2\.\d+ Gy per fraction \(to water\)",
    ):
        assert main([*args, "--goal", "PTV D95 >= 95 %"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"PTV +D95% >= 95 %Rx +9\d\.\d\d %Rx +PASS", out)
    assert "dose: PHYSICAL dose, PLAN (25 fractions)" in out
    assert re.search(
        r"MU check, beam Beam 1: 100\.0 MU per fraction, check \d+\.\d MU, -\d\d\.\d % FAIL", out
    )
    html = html_path.read_text(encoding="utf-8")
    assert "Prescription 50 Gy in 25 fraction(s)" in html
    assert "Independent MU check" in html
    assert "Dose evaluated: PHYSICAL dose, PLAN (25 fractions)." in html


def test_report_command_goal_in_percent_without_a_prescription(
    tmp_path: Path, thigh_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dose with no RT Plan to be found: the error names the command-line options."""
    from pydicom.uid import generate_uid

    from rtplan.cli.main import main

    ct = rtplan.load_study(thigh_path).ct
    grid = ct.grid.with_spacing(5.0)
    dose = Dose(array=np.full(grid.shape, 2.0), grid=grid)
    # it references an RT Plan that is neither in the study nor next to it
    rd = rtplan.io.write_rtdose(
        dose, tmp_path / "RD.dcm", reference=ct, plan_sop_uid=generate_uid()
    )
    args = ["report", str(thigh_path), "--dose", str(rd), "-o", str(tmp_path / "r.html")]
    assert main([*args, "--goal", "PTV D95 >= 95 %"]) == 2
    err = capsys.readouterr().err
    assert "is in % of the prescription: give --prescription-gy or --plan" in err
    assert main([*args, "--goal", "PTV D95 >= 95 %", "--prescription-gy", "2"]) == 0
    assert re.search(r"PTV +D95% >= 95 %Rx +100\.00 %Rx +PASS", capsys.readouterr().out)


def test_report_and_trajectory_commands_share_the_needle_defaults() -> None:
    """The report's needle section shows the paths ``rtplan trajectory`` would rank first."""
    from rtplan.cli.main import build_parser

    parser = build_parser()
    report = parser.parse_args(["report", "study"])
    trajectory = parser.parse_args(["trajectory", "study", "--target", "GTV", "-o", "out"])
    assert report.clearance_mm == trajectory.clearance_mm == 5.0
    assert report.max_length_mm == trajectory.max_length_mm
