"""Beam, Mlc and Plan: validation, and IEC 61217 geometry checked against the DICOM standard.

References for the expected directions:

* DICOM PS3.3 C.8.8.25.6 / IEC 61217: IEC FIXED has Y towards the gantry, Z up and X to
  the right of an observer at the foot of the couch facing the gantry; every rotation is
  right-handed about its positive axis (PS3.3 C.36.1.1.5: "All rotations are defined in a
  right-handed coordinate system"); the gantry rotates about Y_f, the collimator (beam
  limiting device) about Z_g, the patient support about Z_f.
* DICOM patient coordinates (PS3.3 C.7.6.2.1.1): x to the patient's left, y posterior,
  z superior.
* PS3.3 C.8.8.25.6.3 (seated treatment): "If IEC GANTRY angle is 90 deg, IEC PATIENT SUPPORT
  angle is 270 deg for the position where the patient looks into the beam port" -- the
  patient's forward axis (+Y of the table top) turns onto the gantry-90 source at couch 270.
* Clinical convention that follows from these: for a head-first-supine patient gantry 90
  is a left lateral field; for feet-first-supine and head-first-prone it is a right lateral.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rtplan import Beam, Mlc, PatientPosition, Plan
from rtplan.errors import PlanError
from rtplan.plan import rotation_x, rotation_y, rotation_z

SAD = 1000.0
LEFT, RIGHT = np.array([1.0, 0, 0]), np.array([-1.0, 0, 0])
POSTERIOR, ANTERIOR = np.array([0, 1.0, 0]), np.array([0, -1.0, 0])
SUPERIOR, INFERIOR = np.array([0, 0, 1.0]), np.array([0, 0, -1.0])


def source_direction(beam: Beam, position: str) -> np.ndarray:
    """Unit vector from the isocentre to the source, LPS."""
    v = beam.source_mm(position) - np.asarray(beam.isocenter_mm)
    assert np.linalg.norm(v) == pytest.approx(beam.sad_mm)
    return v / np.linalg.norm(v)


def field_centre_offset(beam: Beam, position: str) -> np.ndarray:
    """LPS vector from the isocentre to the centre of the jaw opening at the isocentre plane."""
    x1, x2, y1, y2 = beam.jaws_mm
    r = beam.beam_to_patient(position)
    return np.asarray(r @ np.array([(x1 + x2) / 2, (y1 + y2) / 2, 0.0]))


# ------------------------------------------------------------------ rotations
def test_rotations_are_right_handed() -> None:
    x, y, z = np.eye(3)
    np.testing.assert_allclose(rotation_z(90) @ x, y, atol=1e-12)
    np.testing.assert_allclose(rotation_x(90) @ y, z, atol=1e-12)
    np.testing.assert_allclose(rotation_y(90) @ z, x, atol=1e-12)


@pytest.mark.parametrize("position", list(PatientPosition))
def test_patient_position_is_a_proper_rotation(position: PatientPosition) -> None:
    p = position.to_iec_fixed
    np.testing.assert_allclose(p.T @ p, np.eye(3), atol=1e-12)
    assert np.linalg.det(p) == pytest.approx(1.0)
    # every lying position keeps the head-foot axis along the couch (Y_f) and first head in
    sup = p[:, 2]
    assert abs(sup[1]) == pytest.approx(1.0)
    assert sup[1] == (1.0 if position.value.startswith("HF") else -1.0)


def test_patient_positions_are_related_by_table_roll() -> None:
    # HFS -> HFDL -> HFP -> HFDR are successive 90 degree rolls about the couch axis Y_f
    # (right-handed: clockwise seen from the foot of the couch)
    roll = rotation_y(90)
    chain = ["HFS", "HFDL", "HFP", "HFDR", "HFS"]
    for a, b in itertools.pairwise(chain):
        np.testing.assert_allclose(
            roll @ PatientPosition(a).to_iec_fixed, PatientPosition(b).to_iec_fixed, atol=1e-12
        )
    # feet first is head first turned 180 degrees about the vertical
    for hf, ff in (("HFS", "FFS"), ("HFP", "FFP"), ("HFDL", "FFDL"), ("HFDR", "FFDR")):
        np.testing.assert_allclose(
            rotation_z(180) @ PatientPosition(hf).to_iec_fixed,
            PatientPosition(ff).to_iec_fixed,
            atol=1e-12,
        )


# ------------------------------------------------------------------ gantry
@pytest.mark.parametrize(
    ("position", "gantry", "expected"),
    [
        ("HFS", 0, ANTERIOR),
        ("HFS", 90, LEFT),
        ("HFS", 180, POSTERIOR),
        ("HFS", 270, RIGHT),
        ("FFS", 0, ANTERIOR),
        ("FFS", 90, RIGHT),
        ("FFS", 270, LEFT),
        ("HFP", 0, POSTERIOR),
        ("HFP", 90, RIGHT),
        ("HFP", 270, LEFT),
        ("FFP", 0, POSTERIOR),
        ("FFP", 90, LEFT),
        # decubitus left: lying on the left side, the right side faces up
        ("HFDL", 0, RIGHT),
        ("HFDL", 90, ANTERIOR),
        ("HFDR", 0, LEFT),
        ("HFDR", 90, POSTERIOR),
        ("FFDL", 0, RIGHT),
        ("FFDR", 0, LEFT),
    ],
)
def test_gantry_source_side(position: str, gantry: float, expected: np.ndarray) -> None:
    beam = Beam(gantry_deg=gantry, isocenter_mm=(12.0, -30.0, 55.0))
    np.testing.assert_allclose(source_direction(beam, position), expected, atol=1e-12)
    np.testing.assert_allclose(beam.direction(position), -expected, atol=1e-12)


def test_gantry_45_hfs_is_between_anterior_and_left() -> None:
    d = source_direction(Beam(gantry_deg=45.0), "HFS")
    np.testing.assert_allclose(d, (LEFT + ANTERIOR) / np.sqrt(2), atol=1e-12)


@pytest.mark.parametrize("position", list(PatientPosition))
@pytest.mark.parametrize(("gantry", "coll", "couch"), [(0, 0, 0), (33, 71, 12), (270, 300, 345)])
def test_beam_to_patient_is_a_proper_rotation(
    position: PatientPosition, gantry: float, coll: float, couch: float
) -> None:
    beam = Beam(gantry_deg=gantry, collimator_deg=coll, couch_deg=couch)
    r = beam.beam_to_patient(position)
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    pts = np.array([[10.0, -4.0, 7.0], [0.0, 0.0, 0.0], [-50.0, 20.0, 33.0]])
    back = beam.patient_to_beam(pts, position) @ r.T + np.asarray(beam.isocenter_mm)
    np.testing.assert_allclose(back, pts, atol=1e-9)


# ------------------------------------------------------------------ jaws and collimator
def test_jaw_axes_at_zero_angles_hfs() -> None:
    # X2 (positive X_b = X_f) to the patient's left; Y2 (towards the gantry) superior
    x2_only = Beam(jaws_mm=(0.0, 40.0, -20.0, 20.0))
    y2_only = Beam(jaws_mm=(-20.0, 20.0, 0.0, 40.0))
    np.testing.assert_allclose(field_centre_offset(x2_only, "HFS"), 20 * LEFT, atol=1e-9)
    np.testing.assert_allclose(field_centre_offset(y2_only, "HFS"), 20 * SUPERIOR, atol=1e-9)


@pytest.mark.parametrize(
    ("coll", "expected"),
    [(0, LEFT), (90, SUPERIOR), (180, RIGHT), (270, INFERIOR)],
)
def test_collimator_rotation_moves_asymmetric_field(coll: float, expected: np.ndarray) -> None:
    # HFS gantry 0, field opened on the X2 side only. The collimator turns right-handed
    # about Z_g (towards the source): counter-clockwise seen from the source looking down,
    # so X_b turns from the patient's left (+X_f) towards the gantry (+Y_f, superior).
    beam = Beam(collimator_deg=coll, jaws_mm=(0.0, 40.0, -30.0, 30.0))
    np.testing.assert_allclose(field_centre_offset(beam, "HFS"), 20 * expected, atol=1e-9)


def test_collimator_on_lateral_beam() -> None:
    # HFS gantry 90 (source on the left): X_b points down (posterior), collimator 90
    # turns it to the gantry (superior)
    beam0 = Beam(gantry_deg=90, jaws_mm=(0.0, 40.0, -30.0, 30.0))
    beam90 = Beam(gantry_deg=90, collimator_deg=90, jaws_mm=(0.0, 40.0, -30.0, 30.0))
    np.testing.assert_allclose(field_centre_offset(beam0, "HFS"), 20 * POSTERIOR, atol=1e-9)
    np.testing.assert_allclose(field_centre_offset(beam90, "HFS"), 20 * SUPERIOR, atol=1e-9)


def test_asymmetric_field_projects_inside_its_jaws() -> None:
    # a patient point in the open half of the field lands between X1 and X2
    beam = Beam(gantry_deg=30.0, collimator_deg=20.0, couch_deg=10.0, jaws_mm=(0.0, 40, -30, 30))
    offset = field_centre_offset(beam, "HFS")
    xy = beam.project_to_isocenter_plane(np.asarray(beam.isocenter_mm) + offset, "HFS")
    np.testing.assert_allclose(xy, [[20.0, 0.0]], atol=1e-9)


# ------------------------------------------------------------------ couch
def test_couch_rotation_turns_field_about_vertical() -> None:
    # couch 90: the table turns counter-clockwise seen from above, the patient's head
    # (+Y_f at couch 0) goes to -X_f, so the X2 side (+X_f) now lies towards the feet
    beam = Beam(couch_deg=90.0, jaws_mm=(0.0, 40.0, -30.0, 30.0))
    np.testing.assert_allclose(field_centre_offset(beam, "HFS"), 20 * INFERIOR, atol=1e-9)
    np.testing.assert_allclose(source_direction(beam, "HFS"), ANTERIOR, atol=1e-12)
    beam270 = Beam(couch_deg=270.0, jaws_mm=(0.0, 40.0, -30.0, 30.0))
    np.testing.assert_allclose(field_centre_offset(beam270, "HFS"), 20 * SUPERIOR, atol=1e-9)


def test_couch_270_gantry_90_looks_along_the_patient_axis() -> None:
    # DICOM PS3.3 C.8.8.25.6.3: at gantry 90 and patient support 270 the table top's
    # forward axis (+Y_s, the head of a HFS patient) faces the source
    beam = Beam(gantry_deg=90.0, couch_deg=270.0)
    np.testing.assert_allclose(source_direction(beam, "HFS"), SUPERIOR, atol=1e-12)
    beam = Beam(gantry_deg=90.0, couch_deg=90.0)
    np.testing.assert_allclose(source_direction(beam, "HFS"), INFERIOR, atol=1e-12)


# ------------------------------------------------------------------ projection
def test_projection_is_divergent() -> None:
    beam = Beam(gantry_deg=0.0, isocenter_mm=(5.0, 5.0, 5.0))
    iso = np.asarray(beam.isocenter_mm)
    # HFS gantry 0: source anterior, X_b = left (+x), Y_b = superior (+z), depth = +y
    on_plane = iso + np.array([[10.0, 0.0, -20.0]])
    np.testing.assert_allclose(beam.project_to_isocenter_plane(on_plane), [[10.0, -20.0]])
    deeper = iso + np.array([[10.0, 100.0, -20.0]])  # 100 mm further from the source
    np.testing.assert_allclose(
        beam.project_to_isocenter_plane(deeper), [[10.0 * SAD / 1100, -20.0 * SAD / 1100]]
    )
    nearer = iso + np.array([[10.0, -200.0, 0.0]])
    np.testing.assert_allclose(beam.project_to_isocenter_plane(nearer), [[10.0 * SAD / 800, 0]])
    with pytest.raises(PlanError, match="behind the source"):
        beam.project_to_isocenter_plane(iso + np.array([[0.0, -SAD - 1.0, 0.0]]))


# ------------------------------------------------------------------ validation
def test_angles_are_normalised() -> None:
    beam = Beam(gantry_deg=-90.0, collimator_deg=360.0, couch_deg=-360.0)
    assert (beam.gantry_deg, beam.collimator_deg, beam.couch_deg) == (270.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("attr", "value", "meant"),
    [("gantry_deg", 400.0, "40"), ("collimator_deg", -370.0, "350"), ("couch_deg", 720.0, "0")],
)
def test_angles_beyond_one_turn_are_refused(attr: str, value: float, meant: str) -> None:
    with pytest.raises(
        PlanError,
        match=rf"beam 'B': {attr} {value:g} is beyond one turn .*; write {meant} if that angle",
    ):
        Beam(name="B", **{attr: value})


@pytest.mark.parametrize("energy", ["0X", "600X", "75MV", "0.0FFF"])
def test_nonsensical_energies_are_refused(energy: str) -> None:
    with pytest.raises(PlanError, match=rf"energy '{energy}' is not a photon beam energy"):
        Beam(energy=energy)
    assert Beam(energy="Cobalt").energy == "Cobalt"  # a machine's own beam-model name


@pytest.mark.parametrize(
    ("fractions", "match"),
    [
        (0, r"fractions must be >= 1, got 0"),
        (250, r"fractions must be at most 100, got 250: no course"),
        (2.5, r"fractions must be a whole number, got 2\.5"),
        (True, r"fractions must be a whole number, got True"),
    ],
)
def test_absurd_fraction_counts_are_refused(fractions: object, match: str) -> None:
    with pytest.raises(PlanError, match=match):
        Plan(fractions=fractions)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"gantry_deg": float("nan")}, "gantry_deg must be finite"),
        ({"couch_deg": float("inf")}, "couch_deg must be finite"),
        ({"jaws_mm": (10.0, -10.0, -5.0, 5.0)}, "leave no opening"),
        ({"jaws_mm": (-10.0, 10.0, 5.0, 5.0)}, "leave no opening"),
        ({"jaws_mm": (-10.0, 10.0, 5.0)}, r"\(X1, X2, Y1, Y2\)"),
        ({"isocenter_mm": (0.0, float("nan"), 0.0)}, "isocenter_mm"),
        ({"sad_mm": 0.0}, "sad_mm must be positive"),
        ({"mu": -1.0}, "mu must be >= 0"),
        ({"weight": -0.5}, "weight must be >= 0"),
    ],
)
def test_beam_validation(changes: dict[str, object], match: str) -> None:
    with pytest.raises(PlanError, match=match):
        Beam(name="b", **changes)  # type: ignore[arg-type]


def test_beam_replace_validates_again() -> None:
    beam = Beam(name="b")
    assert beam.with_mu(120.0).mu == 120.0
    assert beam.field_size_mm == (100.0, 100.0)
    with pytest.raises(PlanError, match="leave no opening"):
        beam.replace(jaws_mm=(5.0, -5.0, -5.0, 5.0))


def test_mlc_uniform_and_validation() -> None:
    mlc = Mlc.uniform(60, 5.0)
    assert mlc.n_pairs == 60
    assert mlc.leaf_boundaries_mm[0] == -150.0
    assert mlc.leaf_boundaries_mm[-1] == 150.0
    assert np.all(mlc.positions_mm == 0.0)
    moved = mlc.with_positions(np.vstack([np.full(60, -10.0), np.full(60, 10.0)]))
    assert moved.positions_mm[1, 7] == 10.0
    with pytest.raises(ValueError, match="read-only"):
        moved.positions_mm[0, 0] = 3.0
    with pytest.raises(PlanError, match="strictly increasing"):
        Mlc(leaf_boundaries_mm=(0.0, 5.0, 5.0), positions_mm=np.zeros((2, 2)))
    with pytest.raises(PlanError, match=r"shape \(2, 2\)"):
        Mlc(leaf_boundaries_mm=(0.0, 5.0, 10.0), positions_mm=np.zeros((2, 3)))
    with pytest.raises(PlanError, match=r"leaf pair 2: bank A at 4\.0 mm is beyond bank B"):
        Mlc(leaf_boundaries_mm=(0.0, 5.0, 10.0), positions_mm=[[0.0, 4.0], [1.0, 3.0]])
    with pytest.raises(PlanError, match="transmission"):
        Mlc(leaf_boundaries_mm=(0.0, 5.0), positions_mm=np.zeros((2, 1)), transmission=1.0)


def test_plan_validation_and_properties() -> None:
    beams = [Beam(name="a", mu=100.0), Beam(name="b", mu=50.0), Beam(name="c")]
    plan = Plan(beams=beams, prescription_gy=30.0, fractions=10, normalization="D95")
    assert plan.normalization == "d95"
    assert plan.dose_per_fraction_gy == pytest.approx(3.0)
    assert plan.total_mu == pytest.approx(150.0)
    assert isinstance(plan.beams, tuple)
    assert plan.with_beams(beams[:1]).beams == (beams[0],)
    assert Plan(patient_position="FFS").patient_position is PatientPosition.FFS
    with pytest.raises(PlanError, match="prescription_gy must be positive"):
        Plan(prescription_gy=0.0)
    with pytest.raises(PlanError, match="fractions must be >= 1"):
        Plan(fractions=0)
    with pytest.raises(PlanError, match="unknown normalization 'max'; choose one of none, mean"):
        Plan(normalization="max")
    with pytest.raises(PlanError, match="Beam objects"):
        Plan(beams=["not a beam"])  # type: ignore[list-item]
