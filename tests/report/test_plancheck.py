"""Beam geometry on the CT (SSD, depth) and needle paths in a radiologist's terms."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rtplan
from rtplan.guidance import Trajectory
from rtplan.report import beam_geometry, needle_terms


def _box_ct(position: str = "HFS") -> rtplan.Image:
    """Water (0 HU) for -100 < x < 60, 0 < y < 150 (mm), air around; 5 mm voxels, z ±50."""
    grid = rtplan.Grid(
        shape=(21, 60, 50), spacing_mm=(5.0, 5.0, 5.0), origin_mm=(-147.5, -97.5, -50.0)
    )
    c = grid.centers_mm()
    inside = (c[..., 0] > -100) & (c[..., 0] < 60) & (c[..., 1] > 0) & (c[..., 1] < 150)
    return rtplan.Image(
        array=np.where(inside, 0.0, -1000.0), grid=grid, units="HU", patient_position=position
    )


@pytest.mark.parametrize(
    ("gantry_deg", "iso_mm", "ssd_mm"),
    [
        (0.0, (0.0, 80.0, 0.0), 920.0),  # anterior: surface y = 0
        (180.0, (0.0, 80.0, 0.0), 930.0),  # posterior: surface y = 150
        (90.0, (0.0, 80.0, 0.0), 940.0),  # from the patient's left: surface x = 60
        (270.0, (-20.0, 80.0, 0.0), 920.0),  # from the right: surface x = -100
        (45.0, (0.0, 40.0, 0.0), 1000.0 - 40.0 * math.sqrt(2.0)),  # through the corner edge
    ],
)
def test_ssd_and_depth_on_a_water_box(gantry_deg: float, iso_mm: tuple, ssd_mm: float) -> None:  # type: ignore[type-arg]
    g = beam_geometry(rtplan.Beam(gantry_deg=gantry_deg, isocenter_mm=iso_mm), _box_ct())
    assert g.ssd_mm == pytest.approx(ssd_mm, abs=1e-6)
    assert g.depth_mm == pytest.approx(1000.0 - ssd_mm, abs=1e-6)
    assert g.entry_mm is not None


def test_beam_missing_the_patient() -> None:
    beam = rtplan.Beam(gantry_deg=0.0, isocenter_mm=(500.0, 80.0, 0.0))
    g = beam_geometry(beam, _box_ct())
    assert (g.ssd_mm, g.depth_mm, g.entry_mm) == (None, None, None)


def _path(entry: tuple[float, float, float], target: tuple[float, float, float]) -> Trajectory:
    return Trajectory(
        entry_mm=np.array(entry),
        target_mm=np.array(target),
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0.0,
        out_of_plane_deg=0.0,
        tissue_fraction={},
    )


@pytest.mark.parametrize(
    ("entry", "position", "angle_deg", "side"),
    [
        ((-20.0, 0.0, 0.0), "HFS", 0.0, "midline"),  # straight down from the front (supine)
        ((60.0, 80.0, 0.0), "HFS", 90.0, "left"),  # horizontal, from the patient's left
        ((20.0, 40.0, 0.0), "HFS", 45.0, "left"),
        ((-60.0, 40.0, 0.0), "HFS", 45.0, "right"),
        ((-20.0, 150.0, 0.0), "HFS", 180.0, "midline"),  # from below the supine patient
        ((-20.0, 150.0, 0.0), "HFP", 0.0, "midline"),  # from above the prone patient
    ],
)
def test_angle_from_vertical_and_side(
    entry: tuple[float, float, float], position: str, angle_deg: float, side: str
) -> None:
    terms = needle_terms(_path(entry, (-20.0, 80.0, 0.0)), _box_ct(position))
    assert terms.angle_from_vertical_deg == pytest.approx(angle_deg, abs=1e-9)
    assert terms.entry_side == side
    assert terms.tilt_text == "none"


def test_tilt_entry_slice_midline_depth_needle() -> None:
    # 30° tilt: the tip 40 mm deeper and 40·tan 30° superior to the entry
    rise = 40.0 * math.tan(math.radians(30.0))
    terms = needle_terms(_path((0.0, 0.0, -10.0), (0.0, 40.0, -10.0 + rise)), _box_ct())
    assert terms.craniocaudal_deg == pytest.approx(30.0)
    assert terms.tilt_text == "30° to the head"
    # z = -10 lies on the slice centred at -10 (origin -50, 5 mm): the 9th
    assert (terms.entry_slice, terms.table_mm) == (9, -10.0)
    # midline half-way between the body's edges (voxel centres -97.5 and 57.5): x = -20
    assert terms.midline_offset_mm == pytest.approx(20.0)
    assert terms.midline_side == "left"
    assert terms.depth_mm == pytest.approx(40.0 / math.cos(math.radians(30.0)))
    assert terms.needle_text == "10 cm"


@pytest.mark.parametrize(
    ("depth_mm", "needle"),
    [(95.0, "10 cm"), (100.0, "15 cm"), (180.0, "20 cm"), (230.0, "> 20 cm")],
)
def test_standard_needle_length(depth_mm: float, needle: str) -> None:
    ct = _box_ct()
    terms = needle_terms(_path((0.0, 0.0, -40.0), (0.0, 0.0, -40.0 + depth_mm)), ct)
    assert terms.needle_text == needle
    assert terms.tilt_text == "90° to the head"


def test_beam_axes_drawn_from_the_source_side_to_the_isocentre() -> None:
    from rtplan.guidance import render_overlay
    from rtplan.report._review import _BeamAxes

    ct = _box_ct()
    iso = (-20.0, 80.0, 0.0)
    plan = rtplan.Plan(beams=[rtplan.Beam(name="AP", gantry_deg=0.0, isocenter_mm=iso)])
    quiet = {"annotate": False, "labels": False, "scale_bar": False}
    view = rtplan.guidance.overlay_view(ct, plane="axial", at_mm=0.0)
    rgb = render_overlay(ct, view=view, layers=[_BeamAxes(plan)], **quiet)
    colrow, _ = view.to_pixel(np.array(iso))
    col, row = round(float(colrow[0, 0])), round(float(colrow[0, 1]))
    white = np.all(rgb == 255, axis=-1)
    assert white[: row - 1, col].sum() > 0.4 * row  # dashed, anterior of the isocentre
    assert not white[row + 2 :, col].any()  # nothing behind it
    # a couch rotation takes the axis out of the axial plane: not drawn
    turned = rtplan.Plan(beams=[rtplan.Beam(gantry_deg=90.0, couch_deg=90.0, isocenter_mm=iso)])
    plain = render_overlay(ct, view=view, **quiet)
    np.testing.assert_array_equal(
        render_overlay(ct, view=view, layers=[_BeamAxes(turned)], **quiet), plain
    )


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        # supine, head to the gantry: the patient's left to the observer's right, posterior
        # down, the head towards the gantry
        ("HFS", (10.0, -20.0, 30.0)),
        # supine, feet to the gantry: left and head reversed, posterior still down
        ("FFS", (-10.0, -20.0, -30.0)),
        # prone, head to the gantry: left reversed, posterior up
        ("HFP", (-10.0, 20.0, 30.0)),
    ],
)
def test_couch_shift_in_table_axes(position: str, expected: tuple[float, float, float]) -> None:
    from rtplan.report._plancheck import couch_shift

    # the isocentre 10 mm left, 20 mm posterior, 30 mm superior of a setup point
    ref = (-5.0, 100.0, -250.0)
    iso = (ref[0] + 10.0, ref[1] + 20.0, ref[2] + 30.0)
    shift = couch_shift(iso, position, reference_mm=ref)
    assert (shift.lateral_mm, shift.vertical_mm, shift.longitudinal_mm) == pytest.approx(expected)
    assert shift.reference_mm == ref
    # from the DICOM origin by default
    assert couch_shift(iso, position).lateral_mm == pytest.approx(
        iso[0] * (1.0 if position == "HFS" else -1.0)
    )


def test_plan_table_lists_the_couch_shift() -> None:
    from rtplan.report import HtmlReport
    from rtplan.report._review import _plan_table

    plan = rtplan.Plan(
        beams=[rtplan.Beam(name="AP", isocenter_mm=(10.0, 20.0, 30.0), mu=100.0)],
        prescription_gy=2.0,
        fractions=1,
    )
    report = HtmlReport(title="couch")
    _plan_table(report, plan, None, _box_ct("FFS"))
    html = report.render()
    assert "couch lat/vert/long (mm)" in html
    assert "lat -10.0, vert -20.0, long -30.0" in html
