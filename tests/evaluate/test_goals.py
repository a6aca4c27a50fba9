"""Clinical goals: parsing and evaluation against closed-form DVHs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from evaluate_helpers import Cylinder, dose_grid, linear_dose

import rtplan
from rtplan.errors import StructureError
from rtplan.evaluate import EvaluationError, evaluate_goals, parse_goal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PTV D95 >= 95 %", ("PTV", "D", 95.0, "%", ">=", 95.0, "%")),
        ("PTV D95% >= 28.5 Gy", ("PTV", "D", 95.0, "%", ">=", 28.5, "Gy")),
        ("SpinalCord D0.03cc <= 14 Gy", ("SpinalCord", "D", 0.03, "cc", "<=", 14.0, "Gy")),
        ("Femur V20Gy <= 10 %", ("Femur", "V", 20.0, "Gy", "<=", 10.0, "%")),
        ("Body Dmax <= 107 %", ("Body", "Dmax", None, "", "<=", 107.0, "%")),
        ("Femur L V2000cGy<5cc", ("Femur L", "V", 20.0, "Gy", "<", 5.0, "cc")),
        ("ptv v95% ≥ 98", ("ptv", "V", 95.0, "%", ">=", 98.0, "%")),
        ("Rectum Dmean < 3000 cGy", ("Rectum", "Dmean", None, "", "<", 30.0, "Gy")),
        ("Bladder D2cm3 <= 60", ("Bladder", "D", 2.0, "cc", "<=", 60.0, "Gy")),
        ("Body Dmax <= 107 %Rx", ("Body", "Dmax", None, "", "<=", 107.0, "%")),
        ("PTV V95% Rx >= 98 %", ("PTV", "V", 95.0, "%", ">=", 98.0, "%")),
        ("PTV D98 >= 90 % rx", ("PTV", "D", 98.0, "%", ">=", 90.0, "%")),
    ],
)
def test_parse(text: str, expected: tuple[object, ...]) -> None:
    g = parse_goal(text)
    assert (g.structure, g.quantity, g.at, g.at_unit, g.op, g.value, g.unit) == expected


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("PTV D95 >= 95 %", "PTV D95% >= 95 %Rx"),
        ("PTV V95% >= 98", "PTV V95%Rx >= 98 %"),
        ("Femur V40Gy <= 64 %", "Femur V40Gy <= 64 %"),
        ("SpinalCord D0.03cc <= 1400 cGy", "SpinalCord D0.03cc <= 14 Gy"),
        ("Body Dmax<=110%", "Body Dmax <= 110 %Rx"),
    ],
)
def test_goal_text_is_unambiguous_and_reads_back(text: str, shown: str) -> None:
    """A goal prints '%Rx' for a percent of the prescription, and its text parses back."""
    g = parse_goal(text)
    assert str(g) == shown
    back = parse_goal(shown)
    assert (back.structure, back.quantity, back.at, back.at_unit, back.op, back.value) == (
        g.structure,
        g.quantity,
        g.at,
        g.at_unit,
        g.op,
        g.value,
    )
    assert back.unit == g.unit


def test_demo_goals_parse_as_intended() -> None:
    """The goals of ``rtplan demo`` (thigh sarcoma, 50 Gy): what each text must mean."""
    from rtplan.report._demo import DEMO_GOALS

    intended = {
        # text: (structure, quantity, at, at_unit, op, limit, unit, relative to Rx)
        "PTV D95 >= 95 %": ("PTV", "D", 95.0, "%", ">=", 95.0, "%", True),
        "PTV D2 <= 107 %": ("PTV", "D", 2.0, "%", "<=", 107.0, "%", True),
        "GTV D98 >= 98 %": ("GTV", "D", 98.0, "%", ">=", 98.0, "%", True),
        "Femur V40Gy <= 64 %": ("Femur", "V", 40.0, "Gy", "<=", 64.0, "%", False),
        "Femur Dmean <= 37 Gy": ("Femur", "Dmean", None, "", "<=", 37.0, "Gy", False),
        "NVBundle Dmax <= 105 %": ("NVBundle", "Dmax", None, "", "<=", 105.0, "%", True),
        "Body Dmax <= 110 %": ("Body", "Dmax", None, "", "<=", 110.0, "%", True),
    }
    assert set(DEMO_GOALS) == set(intended)
    for text in DEMO_GOALS:
        g = parse_goal(text)
        got = (g.structure, g.quantity, g.at, g.at_unit, g.op, g.value, g.unit)
        assert (*got, g.needs_prescription) == intended[text], text


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("PTV D95", "cannot read the goal"),
        ("D95 >= 95 %", "cannot read the goal"),
        ("PTV X95 >= 95 %", "cannot read the goal"),
        ("PTV V20Gy <= 10 Gy", "a volume limit is in '%' or 'cc'"),
        ("PTV D95 >= 5 cc", "a dose limit is in 'Gy' or '%'"),
        ("PTV V20Gy <= 10 %Rx", "a volume limit is in '%' or 'cc', not '%rx'"),
    ],
)
def test_parse_errors(text: str, match: str) -> None:
    with pytest.raises(EvaluationError, match=match):
        parse_goal(text)


@pytest.fixture(scope="module")
def case() -> tuple[rtplan.Dose, rtplan.StructureSet]:
    """A 20 mm cylinder in a dose ramp 20 + 0.5 z Gy: everything has a closed form."""
    ptv = Cylinder(10.0, -10.0, 8, 2.5, name="PTV").structure  # 6.28 cm³
    oar = Cylinder(3.0, -10.0, 8, 2.5, cx=14.0, name="SpinalCord").structure
    g = dose_grid(2.5, (-25, -25, -25), (25, 25, 25))
    dose = linear_dose(g, 20.0, (0.0, 0.0, 0.5))
    return dose, rtplan.StructureSet(structures=(ptv, oar))


def test_evaluate_against_closed_form(case: tuple[rtplan.Dose, rtplan.StructureSet]) -> None:
    dose, ss = case
    rx = 20.0
    # ramp over z in [-10, 10]: D(v %) = 20 + 0.5 (10 - 20 v / 100); V(L) = (10 - (L-20)/0.5) / 20
    table = evaluate_goals(
        [
            "PTV D95 >= 80 %",  # D95 = 15.5 Gy = 77.5 % of 20 Gy: fails
            "PTV D50% >= 19.9 Gy",  # D50 = 20 Gy: passes
            "PTV Dmax <= 130 %",  # 25 Gy = 125 %: passes
            "PTV V22Gy <= 30.5 %",  # (10 - 4) / 20 = 30 %: passes
            "SpinalCord D0.03cc <= 24 Gy",  # 25 - 0.5 * 0.03 cm³ / (pi 9 mm²) * 1000 > 24: fails
            "SpinalCord Dmean < 20.5 Gy",  # 20 Gy: passes
            "Lung V20Gy <= 30 %",  # missing: N/A when asked to report
        ],
        dose,
        ss,
        rx,
        missing="report",
    )
    rows = list(table)
    measured = [r.measured for r in rows]
    assert measured[0] == pytest.approx(77.5, abs=0.1)
    assert measured[1] == pytest.approx(20.0, abs=0.02)
    assert measured[2] == pytest.approx(125.0, abs=0.1)
    assert measured[3] == pytest.approx(30.0, abs=0.2)
    assert measured[4] == pytest.approx(25 - 0.5 * 30 / (math.pi * 9), abs=0.05)
    assert measured[5] == pytest.approx(20.0, abs=0.01)
    assert math.isnan(measured[6])
    assert [r.status for r in rows] == ["FAIL", "PASS", "PASS", "PASS", "FAIL", "PASS", "N/A"]
    assert rows[6].note == "no such structure"
    assert table.n_failed == 2
    assert not table.all_passed
    text = table.format_table()
    lines = text.splitlines()
    # the first line says what dose was evaluated (a whole-plan physical dose here)
    assert lines[0] == "dose: PHYSICAL dose, PLAN (fractions unknown)"
    assert table.dose_basis == "PHYSICAL dose, PLAN (fractions unknown)"
    assert lines[1].split() == ["Structure", "Goal", "Measured", "Result"]
    assert "D95% >= 80 %Rx" in lines[3]
    assert "77.50 %Rx" in lines[3]
    assert "V22Gy <= 30.5 %" in lines[6]
    assert lines[3].rstrip().endswith("FAIL")
    assert "N/A (no such structure)" in lines[9]
    assert lines[-1] == "4 of 7 goals met"


def test_goal_on_missing_structure_is_an_error_naming_it(
    case: tuple[rtplan.Dose, rtplan.StructureSet],
) -> None:
    dose, ss = case
    with pytest.raises(StructureError, match=r"'Lung'.*available: PTV, SpinalCord") as info:
        evaluate_goals(["PTV D95 >= 15 Gy", "Lung V20Gy <= 30 %"], dose, ss, 20.0)
    assert "'Lung V20Gy <= 30 %'" in str(info.value)
    with pytest.raises(StructureError, match=r"'SpinalCrd' \(did you mean 'SpinalCord'\?\)"):
        evaluate_goals(["SpinalCrd Dmax <= 45 Gy"], dose, ss)
    with pytest.raises(EvaluationError, match="missing='skip'"):
        evaluate_goals(["PTV D95 >= 15 Gy"], dose, ss, missing="skip")


def test_goal_table_csv(tmp_path: Path, case: tuple[rtplan.Dose, rtplan.StructureSet]) -> None:
    dose, ss = case
    table = evaluate_goals(["PTV D95 >= 15 Gy"], dose, ss)
    assert table.all_passed
    p = table.to_csv(tmp_path / "goals.csv")
    with p.open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["result"] == "PASS"
    assert float(rows[0]["measured"]) == pytest.approx(15.5, abs=0.02)


def test_relative_goal_needs_prescription(case: tuple[rtplan.Dose, rtplan.StructureSet]) -> None:
    dose, ss = case
    with pytest.raises(EvaluationError, match="relative to the prescription"):
        evaluate_goals(["PTV D95 >= 95 %"], dose, ss)
    # V in percent of the prescription too
    with pytest.raises(EvaluationError, match="relative to the prescription"):
        evaluate_goals(["PTV V95% >= 95 %"], dose, ss)


def test_reuses_given_dvhs(case: tuple[rtplan.Dose, rtplan.StructureSet]) -> None:
    dose, ss = case
    fake = rtplan.evaluate.DVH(
        name="PTV", bin_edges_gy=np.array([0.0, 1.0]), differential=np.array([1.0]), volume_cc=1.0
    )
    table = evaluate_goals(["PTV Dmax <= 2 Gy"], dose, ss, dvhs={"PTV": fake})
    assert table.rows[0].measured == pytest.approx(1.0)
