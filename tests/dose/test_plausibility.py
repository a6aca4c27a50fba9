"""Plan plausibility at dose time: every finding warned or refused with its numbers."""

from __future__ import annotations

import numpy as np
import pytest

import rtplan
from rtplan.dose import PlanPlausibilityWarning, calculate
from rtplan.errors import PlanError
from rtplan.testing import cylinder_phantom, water_phantom
from rtplan.tissue import CalibrationRangeWarning


@pytest.fixture(scope="module")
def slab() -> rtplan.Image:
    """Water 100 mm wide and long (x, z from -52.5 to 52.5 mm), 100 mm deep (y 0 to 100)."""
    return water_phantom(width_mm=100.0, depth_mm=100.0, spacing_mm=5.0)


def plan_of(**beam: object) -> rtplan.Plan:
    return rtplan.Plan(beams=[rtplan.Beam(name="A", mu=100.0, **beam)])  # type: ignore[arg-type]


def test_isocentre_far_outside_the_ct_is_refused(slab: rtplan.Image) -> None:
    plan = plan_of(gantry_deg=90.0, isocenter_mm=(0.0, 300.0, 0.0))
    with pytest.raises(
        PlanError,
        match=r"plan 'rtplan': the isocentre \(0\.0, 300\.0, 0\.0\) mm of beam\(s\) 'A' lies "
        r"200 mm outside CT 'water phantom' \(x -52 to 52, y 0 to 100, z -52 to 52 mm\); a "
        r"plan for this CT has it within 100 mm: check the plan's frame of reference",
    ):
        calculate(plan, slab, engine="pencil-beam", grid_mm=5.0)


def test_isocentre_outside_the_ct_within_the_margin_is_warned(slab: rtplan.Image) -> None:
    """An isocentre 50 mm in front of the phantom (SSD 95 cm): computed, and said."""
    plan = plan_of(isocenter_mm=(0.0, -50.0, 0.0))
    with pytest.warns(
        PlanPlausibilityWarning,
        match=r"the isocentre \(0\.0, -50\.0, 0\.0\) mm of beam\(s\) 'A' lies 50 mm outside CT "
        r"'water phantom' \(x -52 to 52, y 0 to 100, z -52 to 52 mm\); the dose is computed "
        r"with the anatomy the CT holds",
    ):
        result = calculate(plan, slab, engine="pencil-beam", grid_mm=5.0)
    assert len(result.notes) == 1
    assert "50 mm outside CT" in result.notes[0]
    assert result.dose.max_gy > 0.5


def test_isocentre_near_the_end_slice_is_warned(slab: rtplan.Image) -> None:
    plan = plan_of(isocenter_mm=(0.0, 50.0, 46.0), jaws_mm=(-20, 20, -20, 20))
    with pytest.warns(
        PlanPlausibilityWarning,
        match=r"the isocentre \(0\.0, 50\.0, 46\.0\) mm of beam\(s\) 'A' lies 7 mm from the end "
        r"slice of CT 'water phantom' .*tissue beyond the scan is missing from the scatter",
    ):
        calculate(plan, slab, engine="pencil-beam", grid_mm=5.0)


@pytest.fixture(scope="module")
def half() -> rtplan.Image:
    """A water phantom whose right half (x > 0) is air."""
    ct = water_phantom(width_mm=200.0, depth_mm=100.0, spacing_mm=5.0)
    x = ct.grid.axis_mm(2)
    air = np.broadcast_to(x[np.newaxis, np.newaxis, :] >= 0.0, ct.grid.shape)
    return ct.with_array(np.where(air, 0.0, 1.0))


def test_beam_missing_the_patient_is_refused(half: rtplan.Image) -> None:
    plan = plan_of(isocenter_mm=(60.0, 50.0, 0.0), jaws_mm=(-20, 20, -20, 20))
    with pytest.raises(
        PlanError,
        match=r"plan 'rtplan': beam 'A' \(gantry 0°, couch 0°, isocentre \(60\.0, 50\.0, 0\.0\) "
        r"mm, field 40 x 40 mm\) misses the patient: no part of the body lies in its field; "
        r"check the isocentre, the angles and the patient position",
    ):
        calculate(plan, half, engine="pencil-beam", grid_mm=5.0)


def test_central_axis_missing_the_body_is_warned(half: rtplan.Image) -> None:
    plan = plan_of(isocenter_mm=(20.0, 50.0, 0.0))  # 10 x 10 cm²: x from -30 to 70 mm
    with pytest.warns(
        PlanPlausibilityWarning,
        match=r"the central axis of beam 'A' \(gantry 0°, .*\) does not pass through the body "
        r"\(its field covers \d+ cm³ of it\): its MU and an isocentre normalisation mean little",
    ):
        result = calculate(plan, half, engine="pencil-beam", grid_mm=5.0)
    assert "does not pass through the body" in result.notes[0]


def test_absurd_mu_from_a_prescription_are_warned(slab: rtplan.Image) -> None:
    """60 Gy in one fraction at 5 cm depth: thousands of MU in one beam."""
    beam = rtplan.Beam(name="A", isocenter_mm=(0.0, 50.0, 0.0))
    plan = rtplan.Plan(beams=[beam], prescription_gy=60.0, normalization="isocenter")
    with pytest.warns(
        PlanPlausibilityWarning,
        match=r"MU derived from the prescription look implausible: beam 'A' \d{4}\.\d MU per "
        r"fraction; \d{4} MU for 60 Gy per fraction \(1\d\d MU/Gy\) with normalisation "
        r"isocenter \(60 Gy in 1 fractions\): check the prescription and the normalisation",
    ):
        result = calculate(plan, slab, engine="pencil-beam", grid_mm=5.0)
    assert float(result.plan.beams[0].mu or 0) > 5000.0
    assert result.notes[0].startswith("MU derived from the prescription look implausible")


def test_normal_plans_have_no_findings(slab: rtplan.Image) -> None:
    beam = rtplan.Beam(name="A", isocenter_mm=(0.0, 50.0, 0.0))
    plan = rtplan.Plan(beams=[beam], prescription_gy=2.0, normalization="isocenter")
    assert calculate(plan, slab, engine="pencil-beam", grid_mm=5.0).notes == ()


def test_metal_beyond_the_calibration_curve_is_reported() -> None:
    """A 4000 HU rod (0.25 cm³) in the limb phantom: the volume and the density it was given
    (the curve's end, 2.8 g/cm³) are warned and kept in the dose result."""
    limb = cylinder_phantom()
    hu = np.array(limb.ct.array, dtype=np.float64)
    c = limb.ct.grid.centers_mm()
    rod = (np.hypot(c[..., 0] - 30.0, c[..., 1]) <= 2.0) & (np.abs(c[..., 2]) < 10.0)
    ct = limb.ct.with_array(np.where(rod, 4000.0, hu))
    n = int(rod.sum())
    cc = n * ct.grid.voxel_volume_mm3 / 1000.0
    plan = plan_of(isocenter_mm=(0.0, 0.0, 0.0), jaws_mm=(-30, 30, -30, 30))
    with pytest.warns(
        CalibrationRangeWarning,
        match=rf"\(0 below, {n} above\) and were clipped to its ends: {cc:.3g} cm³ above "
        r"3000 HU \(metal, implant or artefact\) computed as 2\.8 g/cm³, relative electron "
        r"density 2\.\d+",
    ):
        result = calculate(plan, ct, engine="pencil-beam", grid_mm=2.5)
    (note,) = result.notes
    assert note.startswith(f"CT '': {cc:.3g} cm³ ({n} voxels) above 3000 HU, beyond calibration ")
    assert "computed as 2.8 g/cm³" in note
