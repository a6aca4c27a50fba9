"""The review report shows the whole plan's dose, says which dose that was, and shows the
independent MU check beside the beams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rtplan
from rtplan import Dose
from rtplan.dose import mu_check
from rtplan.evaluate import EvaluationError
from rtplan.report import HtmlReport, add_mu_check_section, review_report
from rtplan.testing import water_phantom


@pytest.fixture(scope="module")
def thigh(thigh_path: Path) -> tuple[rtplan.Study, rtplan.Structure, rtplan.Grid, np.ndarray]:
    study = rtplan.load_study(thigh_path)
    ptv = study.structures["PTV"]
    grid = study.ct.grid.with_spacing(5.0)
    r = np.linalg.norm(grid.centers_mm() - ptv.centroid_mm, axis=-1)
    per_fraction = np.clip(2.0 * (1.0 - (r - 40.0) / 60.0), 0.0, 2.0)  # 2 Gy in the PTV
    return study, ptv, grid, per_fraction


def _plan(ptv: rtplan.Structure) -> rtplan.Plan:
    beam = rtplan.Beam(name="AP", isocenter_mm=ptv.centroid_mm, mu=100.0)
    return rtplan.Plan(beams=[beam], prescription_gy=50.0, fractions=25, name="Thigh")


def test_fraction_dose_is_shown_as_the_plan_total(tmp_path: Path, thigh) -> None:  # type: ignore[no-untyped-def]
    study, ptv, grid, per_fraction = thigh
    one = Dose(array=per_fraction, grid=grid, summation_type="FRACTION", name="fx")
    html = review_report(
        tmp_path / "r.html", study, plan=_plan(ptv), dose=one, target=ptv
    ).read_text(encoding="utf-8")
    assert (
        "Dose evaluated: PHYSICAL dose, PLAN (25 fractions); total: FRACTION dose multiplied by "
        "25 fractions." in html
    )
    assert "maximum 50.00 Gy" in html  # 25 x 2 Gy, not the 2 Gy of the fraction


def test_fraction_dose_without_the_plan_is_refused(tmp_path: Path, thigh) -> None:  # type: ignore[no-untyped-def]
    study, ptv, grid, per_fraction = thigh
    one = Dose(array=per_fraction, grid=grid, summation_type="FRACTION", name="fx")
    with pytest.raises(
        EvaluationError,
        match=r"dose 'fx' is a FRACTION dose \(PHYSICAL dose, FRACTION \(fractions unknown\)\): "
        r"one fraction, not the whole plan's dose, so it would pass organ limits the plan "
        r"exceeds; the review report convert it with the plan's number of fractions",
    ):
        review_report(tmp_path / "r.html", study, dose=one, target=ptv)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(("kind", "what"), [("BEAM", "summation_type"), ("ERROR", "dose_type")])
def test_partial_and_error_doses_are_refused(tmp_path: Path, thigh, kind: str, what: str) -> None:  # type: ignore[no-untyped-def]
    study, ptv, grid, per_fraction = thigh
    dose = Dose(array=per_fraction, grid=grid, name="part", **{what: kind})  # type: ignore[arg-type]
    with pytest.raises(EvaluationError, match=rf"dose 'part' is an? {kind} dose"):
        review_report(tmp_path / "r.html", study, plan=_plan(ptv), dose=dose, target=ptv)


def test_goals_say_which_dose_they_evaluated(tmp_path: Path, thigh) -> None:  # type: ignore[no-untyped-def]
    study, ptv, grid, per_fraction = thigh
    one = Dose(array=per_fraction, grid=grid, summation_type="FRACTION", fractions=25)
    goals = rtplan.evaluate.evaluate_goals(["PTV D95 >= 95 %"], one, study.structures, 50.0)
    html = review_report(
        tmp_path / "r.html", study, plan=_plan(ptv), dose=one, goals=goals, target=ptv
    ).read_text(encoding="utf-8")
    assert f"Evaluated on: {goals.dose_basis}." in html
    assert "total: FRACTION dose multiplied by 25 fractions" in goals.dose_basis


def test_mu_check_beside_the_beams_and_in_its_section() -> None:
    """A plan normalised at the isocentre of a water slab, with 1.2 times the MU it needs:
    the beam table shows the check's MU and FAIL, the section the factors and a warning."""
    ct = water_phantom(width_mm=200.0, depth_mm=200.0, spacing_mm=5.0)
    beam = rtplan.Beam(name="AP", isocenter_mm=(0.0, 100.0, 0.0), mu=1.2 * 253.0)
    plan = rtplan.Plan(beams=[beam], prescription_gy=2.0, normalization="isocenter")
    with pytest.warns(rtplan.dose.MonitorUnitWarning, match=r"beam 'AP': 303\.6 MU"):
        check = mu_check(plan, ct)
    report = HtmlReport(title="check")
    add_mu_check_section(report, check)
    html = report.render()
    assert "<h2>Independent MU check</h2>" in html
    assert "Dose at the points: the prescription at the isocentre, 2 Gy per fraction" in html
    assert '<td class="fail">FAIL</td>' in html
    assert "beam AP: 303.6 MU in the plan, " in html
    assert "(+2" in html  # about +20 %
    for header in ("effective depth (mm)", "equivalent square (mm)", "TMR", "Sc", "Sp"):
        assert f"<th>{header}</th>" in html
