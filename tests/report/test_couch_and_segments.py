"""Couch coordinates from a chosen reference point, and the step-and-shoot beams of a plan."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import rtplan
from rtplan.cli.main import main
from rtplan.errors import RtplanError
from rtplan.plan import Mlc, Segment
from rtplan.report import (
    HtmlReport,
    add_segments_section,
    couch_reference,
    couch_shift,
    review_page,
    review_report,
    segment_fluence,
)
from rtplan.structures import Contour

THIGH = rtplan.data.get_path("thigh_sarcoma")


def _marker(name: str = "Marker", points: int = 1) -> rtplan.Structure:
    pts = [(5.0 + n, -120.0, 40.0) for n in range(points)]
    return rtplan.Structure(
        name=name,
        contours=[Contour(points_mm=[p], geometric_type="POINT") for p in pts],
        interpreted_type="MARKER",
    )


def _imrt_plan(iso: tuple[float, float, float], fractions: int = 5) -> rtplan.Plan:
    """Two beams, 3 and 2 segments on a 40-pair MLC, and a static one."""
    mlc = Mlc.uniform(40, 5.0)
    n = mlc.n_pairs

    def shape(half_mm: float) -> np.ndarray:
        return np.array([[-half_mm] * n, [half_mm] * n])

    segs = (
        Segment(positions_mm=shape(40.0), weight=0.5),
        Segment(positions_mm=shape(20.0), weight=0.3),
        Segment(positions_mm=shape(10.0), weight=0.2),
    )
    jaws = (-40.0, 40.0, -40.0, 40.0)
    beams = [
        rtplan.Beam(name="G0", number=1, gantry_deg=0.0, isocenter_mm=iso, jaws_mm=jaws,
                    mu=120.0, mlc=mlc.with_positions(shape(40.0)), segments=segs),
        rtplan.Beam(name="G90", number=2, gantry_deg=90.0, isocenter_mm=iso, jaws_mm=jaws,
                    mu=80.0, mlc=mlc.with_positions(shape(40.0)),
                    segments=(Segment(positions_mm=shape(40.0), weight=0.75),
                              Segment(positions_mm=shape(20.0), weight=0.25))),
        rtplan.Beam(name="G180", number=3, gantry_deg=180.0, isocenter_mm=iso, jaws_mm=jaws,
                    mu=50.0),
    ]  # fmt: skip
    return rtplan.Plan(name="IMRT", beams=beams, prescription_gy=10.0, fractions=fractions)


@pytest.fixture(scope="module")
def thigh() -> rtplan.Study:
    return rtplan.load_study(THIGH)


@pytest.fixture(scope="module")
def written_plan(thigh: rtplan.Study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The step-and-shoot plan written as an RT Plan on the thigh CT."""
    iso = tuple(float(v) for v in thigh.structures["PTV"].centroid_mm)
    rp = tmp_path_factory.mktemp("rp") / "RP.dcm"
    rtplan.io.write_rtplan(_imrt_plan(iso), rp, reference=thigh.ct)  # type: ignore[arg-type]
    return rp


# ------------------------------------------------------------------ couch reference


def test_couch_reference_forms() -> None:
    plan = _imrt_plan((1.0, 2.0, 3.0))
    assert couch_reference(" 10 ,-20.5, 300 ")[0] == (10.0, -20.5, 300.0)
    assert couch_reference("origin") == ((0.0, 0.0, 0.0), "the DICOM origin (0, 0, 0)")
    point, label = couch_reference("Isocentre", plan=plan)
    assert point == (1.0, 2.0, 3.0)
    assert label == "the isocentre of beam G0 (1.0, 2.0, 3.0) mm"
    point, label = couch_reference("Marker", structures=[_marker()])
    assert point == (5.0, -120.0, 40.0)
    assert label.startswith("the point Marker (5.0, -120.0, 40.0)")


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("1,2", {}, "'1,2' is not 3 finite numbers"),
        ("1,2,nan", {}, "is not 3 finite numbers"),
        ("1,a,3", {}, "is not 3 finite numbers"),
        ("isocenter", {}, "needs a plan with beams"),
        ("Nowhere", {"structures": [_marker()]}, r"'Nowhere' is not understood.*Marker"),
        ("Marker", {"structures": [_marker(points=2)]}, "holds 2 POINT contours"),
    ],
)
def test_couch_reference_errors_name_the_value(text: str, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(RtplanError, match=message):
        couch_reference(text, **kwargs)


def test_report_measures_couch_from_the_reference(thigh: rtplan.Study, tmp_path: Path) -> None:
    iso = (10.0, 20.0, 30.0)
    plan = rtplan.Plan(
        beams=[rtplan.Beam(name="AP", isocenter_mm=iso, mu=100.0)], prescription_gy=2.0
    )
    html = review_report(
        tmp_path / "r.html", thigh, plan=plan, couch_reference=(5.0, 10.0, -20.0)
    ).read_text(encoding="utf-8")
    expected = couch_shift(iso, "HFS", (5.0, 10.0, -20.0)).text
    assert expected == "lat +5.0, vert -10.0, long +50.0"  # HFS: anterior is up
    assert expected in html
    assert "isocentre from the point (5.0, 10.0, -20.0) mm" in html


def test_page_shows_couch_frame_and_beams(thigh: rtplan.Study, tmp_path: Path) -> None:
    iso = tuple(float(v) for v in thigh.structures["PTV"].centroid_mm)
    plan = _imrt_plan(iso)  # type: ignore[arg-type]
    page = review_page(tmp_path / "p.html", thigh, plan=plan, couch_reference="isocenter")
    text = page.read_text(encoding="utf-8")
    found = re.search(r'id="rtplan-data">(.*?)</script>', text, re.S)
    assert found
    data = json.loads(found.group(1))
    assert data["couch"]["reference_mm"] == pytest.approx(iso)
    assert data["couch"]["label"].startswith("the isocentre of beam G0")
    # HFS: lateral = +x (patient's left), longitudinal = +z (head), vertical = -y (anterior)
    assert data["couch"]["matrix"] == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]
    assert [b["couch"] for b in data["beams"]] == ["lat +0.0, vert +0.0, long +0.0"] * 3
    assert [b["segments"] for b in data["beams"]] == [3, 2, 0]


# ------------------------------------------------------------------ segments


def test_segment_fluence_clipped_by_the_jaws() -> None:
    """A leaf pair half inside the Y jaws and leaves past the X jaws: exact open widths."""
    mlc = Mlc.uniform(4, 10.0)  # pairs -20..-10, -10..0, 0..10, 10..20
    wide = np.array([[-30.0] * 4, [30.0] * 4])
    narrow = np.array([[-2.5] * 4, [7.5] * 4])
    beam = rtplan.Beam(
        jaws_mm=(-10.0, 10.0, -15.0, 20.0),
        mu=200.0,
        mlc=mlc,
        segments=(Segment(positions_mm=wide, weight=0.5), Segment(positions_mm=narrow, weight=0.5)),
    )
    f = segment_fluence(beam, spacing_mm=5.0)
    np.testing.assert_allclose(f.y_edges_mm, [-15.0, -10.0, 0.0, 10.0, 20.0])
    np.testing.assert_allclose(f.x_edges_mm, [-10.0, -5.0, 0.0, 5.0, 10.0])
    # 100 MU everywhere in the jaws; the narrow segment adds 100 MU over [-2.5, 7.5]
    row = [100.0, 150.0, 200.0, 150.0]
    np.testing.assert_allclose(f.mu, [row] * 4)
    assert f.segment_mu == (100.0, 100.0)
    # MU x open area: the map integrates to the sum of segment MU x aperture area
    area = np.outer(np.diff(f.y_edges_mm), np.diff(f.x_edges_mm))
    assert float((f.mu * area).sum()) == pytest.approx(100.0 * 20 * 35 + 100.0 * 10 * 35)


def test_segment_fluence_rejects_bad_spacing() -> None:
    with pytest.raises(ValueError, match="spacing_mm must be a positive"):
        segment_fluence(rtplan.Beam(), spacing_mm=0.0)


def test_segments_section_lists_beams_and_draws_their_fluence() -> None:
    plan = _imrt_plan((0.0, 0.0, 0.0), fractions=4)
    report = HtmlReport(title="imrt")
    add_segments_section(report, plan)
    html = report.render()
    assert "Step-and-shoot beams (IMRT)" in html
    assert "2 of 3 beam(s) deliver 5 MLC segments" in html
    # G0: 120 MU/fraction, 480 in all, 3 segments of 60, 36, 24 MU
    assert (
        "<td>G0</td><td>0.0</td><td>120.0</td><td>480.0</td><td>3</td><td>24.0</td><td>60.0</td>"
        in html.replace("\n", "")
    )
    assert html.count("data:image/png") == 2  # one fluence map per step-and-shoot beam
    empty = HtmlReport(title="static")
    add_segments_section(empty, rtplan.Plan(beams=[rtplan.Beam(mu=10.0)]))
    assert "Step-and-shoot" not in empty.render()


# ------------------------------------------------------------------ command line


def test_report_of_an_imrt_plan_read_back(written_plan: Path, tmp_path: Path) -> None:
    plan = rtplan.io.read_rtplan(written_plan)
    assert [len(b.segments) for b in plan.beams] == [3, 2, 0]
    out = tmp_path / "report.html"
    argv = ["report", str(THIGH), "--plan", str(written_plan), "--couch-reference",
            "isocenter", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    html = out.read_text(encoding="utf-8")
    assert "Step-and-shoot beams (IMRT)" in html
    assert "2 of 3 beam(s) deliver 5 MLC segments" in html
    assert "fluence of its 3 segments" in html
    assert "fluence of its 2 segments" in html
    assert "3 photon beam(s) (1 static, 2 step-and-shoot)" in html
    assert "isocentre from the isocentre of beam G0" in html
    assert html.count("lat +0.0, vert +0.0, long +0.0") == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1,2", "argument --couch-reference: '1,2' is not X,Y,Z"),
        ("Nowhere", "--couch-reference 'Nowhere': couch reference 'Nowhere' is not understood"),
    ],
)
def test_report_couch_reference_errors(
    written_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    argv = ["report", str(THIGH), "--plan", str(written_plan), "--couch-reference", value,
            "-o", str(tmp_path / "r.html")]  # fmt: skip
    if "argument" in message:  # refused by argparse, before the study is read
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
    else:
        assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_report_couch_reference_needs_a_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", str(THIGH), "--couch-reference", "0,0,0", "-o", str(tmp_path / "r.html")]
    assert main(argv) == 2
    assert "--couch-reference '0,0,0': couch coordinates are shown for a plan's beams" in (
        capsys.readouterr().err
    )


def test_review_takes_the_couch_reference(written_plan: Path, tmp_path: Path) -> None:
    out = tmp_path / "review.html"
    argv = ["review", str(THIGH), "--plan", str(written_plan), "--couch-reference",
            "0,-100,50", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    found = re.search(r'id="rtplan-data">(.*?)</script>', out.read_text(encoding="utf-8"), re.S)
    assert found
    data = json.loads(found.group(1))
    assert data["couch"]["reference_mm"] == [0.0, -100.0, 50.0]
    assert len(data["beams"]) == 3


def test_trajectory_section_says_how_many_entries_are_feasible() -> None:
    from rtplan.report import add_trajectory_section
    from rtplan.testing import cylinder_phantom

    limb = cylinder_phantom()
    paths = rtplan.plan_trajectory(
        limb.ct, target=limb.gtv, avoid=[limb.canal], body=limb.body, max_length_mm=80.0
    )
    report = HtmlReport(title="biopsy")
    add_trajectory_section(report, limb.ct, paths, target=limb.gtv)
    html = report.render()
    n_feasible = paths.accessibility.n_feasible
    assert n_feasible > len(paths)
    assert (
        f"{len(paths)} feasible path(s) ranked by score (the best of {n_feasible} feasible "
        f"skin entries among {paths.accessibility.feasible.size} candidates" in html
    )
    assert html.count("<tr>") - 1 == len(paths)  # every ranked path has its row


def test_mu_check_of_a_modulated_plan_is_said_once(written_plan: Path) -> None:
    """No beam is checked (step-and-shoot): the reason once, no red N/A, no empty columns."""
    from rtplan.dose import mu_check
    from rtplan.report import add_mu_check_section

    study = rtplan.load_study(THIGH)
    plan = rtplan.io.read_rtplan(written_plan)
    iso = plan.beams[0].isocenter_mm
    grid = study.ct.grid.with_spacing(5.0)
    r_mm = np.linalg.norm(grid.centers_mm() - np.asarray(iso), axis=-1)
    dose = rtplan.Dose(array=np.where(r_mm < 30.0, 2.0, 0.5), grid=grid)
    checked = mu_check(plan, study.ct, dose)
    assert all(b.passed is None for b in checked)
    report = HtmlReport(title="mu")
    add_mu_check_section(report, checked)
    html = report.render()
    assert html.count("Not made: ") == 1
    assert "<td>N/A</td>" in html
    assert 'class="fail"' not in html
    assert "<th>effective depth (mm)</th>" not in html


def test_segments_section_warns_when_no_leaf_lies_in_the_jaws() -> None:
    """A beam whose Y jaws miss every leaf pair: a warning, the rest of the report stays."""
    open_ = Segment(positions_mm=np.array([[-5.0] * 4, [5.0] * 4]), weight=1.0)
    beam = rtplan.Beam(name="X", jaws_mm=(-10.0, 10.0, 20.0, 40.0), mu=10.0,
                       mlc=Mlc.uniform(4, 5.0), segments=(open_,))  # fmt: skip
    with pytest.raises(RtplanError, match="no leaf pair lies within the Y jaws"):
        segment_fluence(beam)
    report = HtmlReport(title="x")
    add_segments_section(report, rtplan.Plan(beams=[beam]))
    html = report.render()
    assert "no fluence map: beam &#x27;X&#x27;: no leaf pair lies within the Y jaws" in html
    assert "data:image/png" not in html
