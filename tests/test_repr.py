"""Objects print as short summaries with their units, not as dumps of their arrays."""

from __future__ import annotations

import numpy as np
import pytest

import rtplan
from rtplan.geometry import surface_distances


@pytest.fixture(scope="module")
def spine() -> rtplan.io.Study:
    return rtplan.load_study(rtplan.data.get_path("spine_metastasis"))


def test_plan_beam_mlc_repr(spine: rtplan.io.Study) -> None:
    ptv = spine.structures["PTV"]
    plan = rtplan.Plan.conformal(
        ptv, gantry_angles_deg=[0, 120, 240], energy="6X", prescription_gy=30.0, fractions=10
    )
    text = repr(plan)
    assert text.startswith("Plan(")
    assert "3 beams, 30 Gy in 10 fractions" in text
    assert text.count("Beam(") == 3
    assert "gantry 120°" in text
    assert len(text) < 1200
    assert "array(" not in text
    mlc = repr(plan.beams[0].mlc)
    assert mlc.startswith("Mlc(60 leaf pairs")
    assert "array(" not in mlc

    single = rtplan.Plan(
        beams=[rtplan.Beam(energy="6X", gantry_deg=90.0, jaws_mm=(-50, 50, -50, 50), mu=100.0)],
        prescription_gy=None,
        fractions=1,
    )
    assert "1 beam, no prescription, 1 fraction," in repr(single)
    assert "[100 x 100 mm]" in repr(single.beams[0])
    assert "MU 100.0" in repr(single.beams[0])


def test_geometry_result_reprs(spine: rtplan.io.Study) -> None:
    s = spine.structures
    h = rtplan.ovh(s["SpinalCanal"], s["GTV"])
    text = repr(h)
    assert "organ='SpinalCanal'" in text
    assert f"{len(h.distances_mm)} points" in text
    assert "array(" not in text
    sd = repr(surface_distances(s["GTV"], s["SpinalCanal"]))
    assert sd.startswith("SurfaceDistances(hausdorff_mm=")
    assert "array(" not in sd
    contour = s["GTV"].contours[0]
    assert repr(contour) == (
        f"Contour(CLOSED_PLANAR, {contour.n_points} points, z {contour.points_mm[0, 2]:.2f} mm)"
    )


def test_accessibility_repr(spine: rtplan.io.Study) -> None:
    s = spine.structures
    result = rtplan.plan_trajectory(
        spine.ct, target=s["GTV"], avoid=[s["SpinalCanal"]], max_length_mm=150.0
    )
    acc = result.accessibility
    text = repr(acc)
    assert text.startswith(f"AccessibilityMap({acc.points_mm.shape[0]} skin candidates")
    assert f"feasible {int(np.count_nonzero(acc.feasible))}" in text
    assert "array(" not in text
