"""Beam geometry in the patient (IEC 61217 as DICOM RT Plan uses it).

IEC 61217 rotations are right-handed about the positive axis: gantry about Y_f (gantry 90
puts the source at +X_f), collimator about Z_g (counter-clockwise seen from the source),
patient support about Z_f (counter-clockwise seen from above). IEC fixed X_f points to the
right of an observer at the couch foot facing the gantry, Y_f to the gantry, Z_f up; so
for head-first supine (HFS) X_f is the patient's left (+x in LPS), Y_f superior, Z_f
anterior. For feet-first supine X_f is the patient's right; for head-first prone the
source at gantry 0 faces the patient's back.
"""

from __future__ import annotations

import numpy as np
import pytest

import rtplan
from rtplan.testing import water_phantom

GRID_MM = 5.0


def _cube(position: str) -> rtplan.Image:
    ct = water_phantom(width_mm=200.0, depth_mm=200.0, spacing_mm=GRID_MM)
    # centre the 200 mm cube on the origin (the phantom's surface is at y = 0)
    g = ct.grid
    origin = (g.origin_mm[0], g.origin_mm[1] - 100.0, g.origin_mm[2])
    grid = rtplan.Grid(shape=g.shape, spacing_mm=g.spacing_mm, origin_mm=origin)
    return rtplan.Image(array=ct.array, grid=grid, units="g/cm3", patient_position=position)


def _dose(position: str, engine: str = "pencil-beam", **beam_kw) -> rtplan.Dose:
    kw = {"jaws_mm": (-30.0, 30.0, -30.0, 30.0), "mu": 100.0, **beam_kw}
    plan = rtplan.Plan(beams=[rtplan.Beam(**kw)])
    return rtplan.compute_dose(plan, _cube(position), engine=engine, grid_mm=GRID_MM)


def _half_means(dose: rtplan.Dose, axis: str) -> tuple[float, float]:
    """Mean dose in the positive and negative halves (beyond 20 mm) along an LPS axis."""
    xyz = dose.grid.centers_mm()
    c = xyz[..., "xyz".index(axis)]
    arr = np.asarray(dose.array)
    return float(arr[c > 20.0].mean()), float(arr[c < -20.0].mean())


@pytest.mark.parametrize(
    ("position", "gantry", "axis", "entrance_positive"),
    [
        ("HFS", 90.0, "x", True),  # source on the patient's left (+x)
        ("HFS", 270.0, "x", False),
        ("HFS", 0.0, "y", False),  # anterior (-y) entrance
        ("FFS", 90.0, "x", False),  # feet first: X_f is the patient's right
        ("HFP", 0.0, "y", True),  # prone: the back (+y) faces the source
        ("HFP", 90.0, "x", False),  # prone: X_f is the patient's right
    ],
)
def test_beam_enters_on_the_expected_side(position, gantry, axis, entrance_positive):
    dose = _dose(position, gantry_deg=gantry)
    pos, neg = _half_means(dose, axis)
    entrance, exit_ = (pos, neg) if entrance_positive else (neg, pos)
    # 6 MV through 20 cm of water: the entrance half gets about 40 % more dose
    assert entrance > 1.25 * exit_


def test_collapsed_cone_uses_the_same_geometry():
    dose = _dose("HFS", engine="collapsed-cone", gantry_deg=90.0)
    pos, neg = _half_means(dose, "x")
    assert pos > 1.25 * neg


@pytest.mark.parametrize(
    ("position", "collimator", "axis", "side"),
    [
        ("HFS", 0.0, "x", +1),  # X2 jaw side = X_b = patient's left
        ("HFS", 90.0, "z", +1),  # collimator 90: X_b -> Y_f = superior
        ("HFS", 270.0, "z", -1),
        ("FFS", 0.0, "x", -1),  # feet first: X_b = patient's right
        ("HFP", 0.0, "x", -1),  # prone: X_b = patient's right
    ],
)
def test_collimator_rotation_moves_an_asymmetric_field(position, collimator, axis, side):
    # only the X2 half of the field is open: from 0 to +40 mm along X_b at the isocentre
    dose = _dose(position, collimator_deg=collimator, jaws_mm=(0.0, 40.0, -30.0, 30.0))
    pos, neg = _half_means(dose, axis)
    open_half, closed_half = (pos, neg) if side > 0 else (neg, pos)
    assert open_half > 3.0 * closed_half  # swapped sides would give a ratio below 0.3


def test_asymmetric_y_jaw_with_gantry_zero():
    # Y2 side open: Y_b = Y_f = superior for HFS
    dose = _dose("HFS", jaws_mm=(-30.0, 30.0, 0.0, 40.0))
    pos, neg = _half_means(dose, "z")
    assert pos > 3.0 * neg


def test_couch_rotation_turns_a_lateral_beam_to_the_feet():
    # HFS, gantry 90, couch 90 (counter-clockwise from above): the table turns the
    # patient's head to -X_f, so the source at +X_f faces the patient's feet (-z)
    dose = _dose("HFS", gantry_deg=90.0, couch_deg=90.0)
    pos_z, neg_z = _half_means(dose, "z")
    pos_x, neg_x = _half_means(dose, "x")
    assert neg_z > 1.25 * pos_z
    assert pos_x == pytest.approx(neg_x, rel=0.1)  # no longer lateral


def test_dose_does_not_depend_on_the_ct_axes_order():
    # the same water cube stored with its slice axis reversed (direction k = -z) and its
    # rows reversed (j = -y): the dose at the same patient points must not change
    ct = _cube("HFS")
    g = ct.grid
    flipped_dir = np.diag([1.0, -1.0, -1.0])
    far_corner = g.index_to_mm([0.0, g.shape[1] - 1.0, g.shape[0] - 1.0])
    flipped = rtplan.Image(
        array=ct.array[::-1, ::-1, :],
        grid=rtplan.Grid(
            shape=g.shape, spacing_mm=g.spacing_mm, origin_mm=tuple(far_corner),
            direction=flipped_dir,
        ),
        units="g/cm3",
        patient_position="HFS",
    )  # fmt: skip
    plan = rtplan.Plan(
        beams=[rtplan.Beam(gantry_deg=60.0, jaws_mm=(-20.0, 40.0, -30.0, 10.0), mu=100.0)]
    )
    a = rtplan.compute_dose(plan, ct, engine="pencil-beam", grid_mm=GRID_MM)
    b = rtplan.compute_dose(plan, flipped, engine="pencil-beam", grid_mm=GRID_MM)
    rng = np.random.default_rng(3)
    pts = rng.uniform(-80.0, 80.0, (200, 3))
    np.testing.assert_allclose(a.sample(pts), b.sample(pts), rtol=1e-3, atol=1e-4)
