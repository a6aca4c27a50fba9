"""How goals, DVHs and the evaluation treat what a dose means (DICOM DoseSummationType and
DoseType): a dose of one fraction, one beam or a dose difference never passes for the whole
plan's dose.

The reference figures are closed forms: a uniform dose over a cylinder, so every DVH metric
is the dose itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from evaluate_helpers import Cylinder, dose_grid

import rtplan
from rtplan.errors import DoseError
from rtplan.evaluate import (
    EvaluationError,
    compute_dvhs,
    dose_for_evaluation,
    evaluate_goals,
)

GOALS = ["PTV Dmax <= 52.5 Gy", "PTV D95 >= 95 %"]


@pytest.fixture(scope="module")
def ptv() -> rtplan.Structure:
    return Cylinder(10.0, -10.0, 8, 2.5, name="PTV").structure


def uniform(value_gy: float, **meaning: object) -> rtplan.Dose:
    g = dose_grid(2.5, (-25, -25, -25), (25, 25, 25))
    return rtplan.Dose(array=np.full(g.shape, value_gy), grid=g, name="RD", **meaning)  # type: ignore[arg-type]


def test_plan_dose_is_evaluated_as_it_is(ptv: rtplan.Structure) -> None:
    table = evaluate_goals(GOALS, uniform(50.0, fractions=25), [ptv], 50.0)
    assert table.dose_basis == "PHYSICAL dose, PLAN (25 fractions)"
    assert [r.measured for r in table] == pytest.approx([50.0, 100.0])
    assert table.all_passed


def test_fraction_dose_is_converted_with_the_plans_fractions(ptv: rtplan.Structure) -> None:
    """2.2 Gy per fraction over 25 fractions is 55 Gy: the 52.5 Gy limit fails. Evaluated as
    it is, the fraction would have passed it."""
    one = uniform(2.2, summation_type="FRACTION")
    table = evaluate_goals(GOALS, one, [ptv], 50.0, fractions=25)
    assert table.rows[0].measured == pytest.approx(55.0)
    assert table.rows[0].status == "FAIL"
    assert table.rows[1].measured == pytest.approx(110.0)
    assert table.dose_basis == (
        "PHYSICAL dose, PLAN (25 fractions); total: FRACTION dose multiplied by 25 fractions"
    )
    assert table.format_table().splitlines()[0] == f"dose: {table.dose_basis}"
    assert table.to_dict()["dose"] == table.dose_basis


def test_fraction_dose_knowing_its_fractions_is_converted(ptv: rtplan.Structure) -> None:
    one = uniform(
        2.2, summation_type="FRACTION", fractions=25
    )  # the reader sets them from the plan
    table = evaluate_goals(GOALS[:1], one, [ptv])
    assert table.rows[0].measured == pytest.approx(55.0)
    assert "multiplied by 25 fractions" in table.dose_basis


def test_fraction_dose_without_fractions_is_refused(ptv: rtplan.Structure) -> None:
    one = uniform(2.0, summation_type="FRACTION")
    with pytest.raises(
        EvaluationError,
        match=r"dose 'RD' is a FRACTION dose \(PHYSICAL dose, FRACTION \(fractions unknown\)\): "
        r"one fraction, not the whole plan's dose, so it would pass organ limits the plan "
        r"exceeds; clinical goals convert it with the plan's number of fractions: give the plan",
    ):
        evaluate_goals(GOALS[:1], one, [ptv])


def test_contradicting_fractions_are_refused(ptv: rtplan.Structure) -> None:
    one = uniform(2.0, summation_type="FRACTION", fractions=25)
    with pytest.raises(DoseError, match="belongs to a plan of 25 fractions, but total"):
        evaluate_goals(GOALS[:1], one, [ptv], fractions=30)
    # a whole-plan dose of another plan's fractions too
    with pytest.raises(DoseError, match="belongs to a plan of 25 fractions"):
        dose_for_evaluation(uniform(50.0, fractions=25), fractions=20)


@pytest.mark.parametrize("kind", ["BEAM", "BRACHY", "CONTROL_POINT", "BEAM_SESSION", "RECORD"])
def test_partial_doses_are_refused(ptv: rtplan.Structure, kind: str) -> None:
    part = uniform(20.0, summation_type=kind, fractions=25)
    with pytest.raises(
        EvaluationError,
        match=rf"dose 'RD' is a {kind} dose \(PHYSICAL dose, {kind} \(25 fractions\)\): part of "
        r"the plan, not the whole plan's dose, so it would pass organ limits the plan exceeds; "
        r"clinical goals need the PLAN dose \(or the sum of every part's dose\)",
    ):
        evaluate_goals(GOALS[:1], part, [ptv], fractions=25)


def test_error_dose_is_refused(ptv: rtplan.Structure) -> None:
    diff = uniform(-0.5, dose_type="ERROR")
    with pytest.raises(
        EvaluationError,
        match=r"dose 'RD' is an ERROR dose \(ERROR dose, PLAN \(fractions unknown\)\): a "
        r"difference between two doses, not an absorbed dose; clinical goals need the plan's "
        r"PHYSICAL dose",
    ):
        evaluate_goals(GOALS[:1], diff, [ptv])


def test_effective_dose_is_evaluated_and_named(ptv: rtplan.Structure) -> None:
    eqd2 = uniform(48.0, dose_type="EFFECTIVE", fractions=25)
    table = evaluate_goals(GOALS[:1], eqd2, [ptv])
    assert table.dose_basis == "EFFECTIVE dose, PLAN (25 fractions)"
    assert table.rows[0].measured == pytest.approx(48.0)


def test_dvh_of_a_fraction_carries_its_meaning(ptv: rtplan.Structure) -> None:
    """rtplan.dvh works on any dose (the DVH of what it holds) and says what that was."""
    one = uniform(2.0, summation_type="FRACTION", fractions=25)
    h = rtplan.dvh(one, ptv)
    assert h.max_gy == pytest.approx(2.0)
    assert h.dose_meaning == "PHYSICAL dose, FRACTION (25 fractions)"
    back = rtplan.evaluate.DVH.from_dict(h.to_dict())
    assert back.dose_meaning == h.dose_meaning
    beam = rtplan.dvh(uniform(1.0, summation_type="BEAM"), ptv)
    assert beam.dose_meaning == "PHYSICAL dose, BEAM (fractions unknown)"


def test_dvhs_of_the_fraction_are_not_reused_for_the_total(ptv: rtplan.Structure) -> None:
    one = uniform(2.0, summation_type="FRACTION", fractions=25)
    per_fraction = compute_dvhs(one, [ptv])
    table = evaluate_goals(["PTV Dmax <= 52.5 Gy"], one, [ptv], dvhs=per_fraction)
    assert table.rows[0].measured == pytest.approx(50.0)  # not the 2 Gy of the cached DVH


def test_plain_image_in_gy_is_taken_as_the_plan_dose(ptv: rtplan.Structure) -> None:
    g = dose_grid(2.5, (-25, -25, -25), (25, 25, 25))
    image = rtplan.Image(array=np.full(g.shape, 3.0), grid=g, units="Gy")
    evaluated = dose_for_evaluation(image)
    assert evaluated.dose is image
    assert not evaluated.converted
    assert evaluated.basis == "dose in Gy (an Image: taken as the plan's dose)"
