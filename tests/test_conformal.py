"""``Plan.conformal``: the value type's way to the conformal planner of ``rtplan.planning``."""

from __future__ import annotations

import numpy as np
import pytest

import rtplan
from rtplan import Contour, Plan, Structure
from rtplan.planning import BeamTemplate, conformal_plan


@pytest.fixture(scope="module")
def cube() -> Structure:
    """A 40 mm cube centred at (5, -10, 20) mm, as axial contours on 2 mm slices."""
    square = np.array([[-20.0, -20.0], [20.0, -20.0], [20.0, 20.0], [-20.0, 20.0]])
    square += np.array([5.0, -10.0])
    contours = tuple(
        Contour(points_mm=np.column_stack([square, np.full(4, z)]))
        for z in np.arange(1.0, 40.0, 2.0)
    )
    return Structure(name="PTV", contours=contours, slice_thickness_mm=2.0)


def _beams(plan: Plan) -> list[tuple[object, ...]]:
    return [
        (b.name, b.gantry_deg, b.couch_deg, b.isocenter_mm, b.jaws_mm, b.mlc.positions_mm.tolist())
        for b in plan.beams
        if b.mlc is not None
    ]


def test_the_documented_call_builds_the_planning_result(cube: Structure) -> None:
    """The call of the README and the design (keywords as written there)."""
    plan = rtplan.Plan.conformal(
        cube,
        gantry_angles_deg=[0, 120, 240],
        energy="6X",
        prescription_gy=30.0,
        fractions=10,
        patient_position="HFS",
    )
    direct = conformal_plan(
        cube, gantry_angles_deg=[0, 120, 240], prescription_gy=30.0, fractions=10
    )
    assert _beams(plan) == _beams(direct)
    assert len(_beams(plan)) == 3
    assert (plan.prescription_gy, plan.fractions, plan.normalization) == (30.0, 10, "mean")
    assert plan.target is cube
    assert plan.patient_position is rtplan.PatientPosition.HFS


def test_every_option_reaches_the_planner(cube: Structure) -> None:
    options = {
        "gantry_angles_deg": [90.0],
        "energy": "6X",
        "prescription_gy": 20.0,
        "fractions": 5,
        "margin_mm": 3.0,
        "isocenter_mm": (0.0, 0.0, 0.0),
        "patient_position": "FFS",
        "normalization": "isocenter",
        "template": BeamTemplate(couch_deg=10.0),
    }
    plan = Plan.conformal(cube, **options)
    (beam,) = plan.beams
    assert (beam.name, beam.couch_deg, beam.isocenter_mm) == ("G090T010", 10.0, (0.0, 0.0, 0.0))
    assert (plan.normalization, plan.patient_position) == ("isocenter", "FFS")
    assert _beams(plan) == _beams(conformal_plan(cube, **options))


def test_an_unknown_option_is_refused(cube: Structure) -> None:
    with pytest.raises(TypeError, match="couch_deg"):
        Plan.conformal(cube, gantry_angles_deg=[0], prescription_gy=5.0, couch_deg=90.0)
