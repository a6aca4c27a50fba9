"""A dose keeps the UID of its plan, so `write_rtdose(dose, path, reference=ct)` is valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import rtplan
from rtplan import Beam, Dose, Plan


def test_dose_references_its_plan_through_a_round_trip(tmp_path: Path, thigh_path: Path) -> None:
    ct = rtplan.io.read_ct(thigh_path)
    plan = Plan(beams=[Beam(mu=100.0)], prescription_gy=2.0, patient_position="HFS")
    assert plan.uid
    assert plan.uid == plan.with_beams(plan.beams).uid
    grid = ct.grid.crop((0, 0, 0), (8, 8, 4))
    dose = Dose(
        array=np.linspace(0, 2, grid.size).reshape(grid.shape), grid=grid, plan_uid=plan.uid
    )
    plan_path = rtplan.io.write_rtplan(plan, tmp_path / "RP.dcm", reference=ct)
    dose_path = rtplan.io.write_rtdose(dose, tmp_path / "RD.dcm", reference=ct)
    back_plan = rtplan.io.read_rtplan(plan_path)
    back_dose = rtplan.io.read_rtdose(dose_path)
    assert back_plan.uid == plan.uid
    assert back_dose.plan_uid == plan.uid
