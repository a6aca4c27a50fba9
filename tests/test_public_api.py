"""The public API as DESIGN.md writes it, run on the bundled sample study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rtplan


def test_design_api_walkthrough(tmp_path: Path) -> None:
    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    ct = study.ct
    assert isinstance(ct, rtplan.Image)
    assert ct.array.shape == ct.grid.shape
    ijk = np.array([[3.0, 4.0, 5.0]])
    np.testing.assert_allclose(ct.grid.mm_to_index(ct.grid.index_to_mm(ijk)), ijk)
    assert ct.sample(ct.grid.index_to_mm(ijk)).shape == (1,)

    ptv = study.structures["PTV"]
    assert ptv.mask(ct.grid).any()
    assert ptv.volume_cc > 0
    assert ptv.centroid_mm.shape == (3,)
    ring = ptv.expand(10.0) - ptv
    assert ring.volume_cc > 0
    assert ptv.distance_to(study.structures["Femur"]) >= 0.0
    h_ovh = rtplan.ovh(study.structures["Femur"], ptv)
    assert h_ovh is not None
    assert ptv.mesh().n_points > 0

    assert float(np.nanmean(rtplan.tissue.density(ct).array)) > 0
    auto = rtplan.tissue.auto_structures(ct)
    assert {"Body", "Bone", "Muscle"} <= set(auto)

    beam = rtplan.Beam(
        energy="6X",
        gantry_deg=0.0,
        collimator_deg=0.0,
        couch_deg=0.0,
        isocenter_mm=tuple(ptv.centroid_mm),
        sad_mm=1000.0,
        jaws_mm=(-50.0, 50.0, -50.0, 50.0),
        mu=100.0,
    )
    plan = rtplan.Plan(beams=[beam], prescription_gy=30.0, fractions=10)
    dose = rtplan.compute_dose(plan, ct, engine="pencil-beam")
    assert isinstance(dose, rtplan.Dose)
    assert dose.max_gy > 0
    plan = rtplan.Plan.conformal(
        ptv, gantry_angles_deg=[0, 120, 240], energy="6X", prescription_gy=30.0, fractions=10
    )
    assert len(plan.beams) == 3

    h = rtplan.dvh(dose, ptv)
    assert h.volume_cc == pytest.approx(ptv.volume_cc, rel=0.02)
    assert 0 <= h.D(95) <= h.mean_gy <= dose.max_gy + 1e-9
    assert 0 <= h.V(20.0) <= 100
    g = rtplan.gamma(dose, dose, dose_percent=3, distance_mm=2, threshold_percent=10)
    assert g.pass_rate == pytest.approx(100.0)

    out = rtplan.io.write_rtdose(dose, tmp_path / "rtdose.dcm", reference=ct)
    assert rtplan.io.read_rtdose(out).max_gy == pytest.approx(dose.max_gy, rel=1e-6)
    rtplan.io.write_rtplan(plan, tmp_path / "rtplan.dcm", reference=ct)
    rtplan.io.write_rtstruct(study.structures, tmp_path / "rtstruct.dcm", reference=ct)


def test_design_api_guidance_walkthrough() -> None:
    study = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    ct, s = study.ct, study.structures
    gtv, cord, bone = s["GTV"], s["SpinalCord"], s["Kidney_L"]
    paths = rtplan.plan_trajectory(ct, target=gtv, avoid=[cord, bone], max_length_mm=150)
    assert paths[0].length_mm <= 150
    assert min(paths[0].clearance_mm.values()) >= 0
    assert paths[0].entry_mm.shape == (3,)
    assert paths[0].target_mm.shape == (3,)
    z = float(paths[0].target_mm[2])
    rgb = rtplan.render_overlay(ct, plane="axial", at_mm=z, structures=[gtv], trajectory=paths[0])
    assert rgb.dtype == np.uint8
    assert rgb.ndim == 3
