"""3D-conformal apertures checked against the analytic divergent projection of simple solids.

A sphere of radius R seen from a point source at distance D from its centre casts a cone of
half-angle asin(R / D); on the isocentre plane (distance SAD from the source, normal to the
central axis) a sphere centred on the axis therefore projects to a circle of radius
``SAD * R / sqrt(D**2 - R**2)``. For a sphere displaced sideways by ``s`` in the isocentre
plane the extremes along the displacement come from the two tangent planes through the
source containing the perpendicular axis: ``x = SAD * t`` with
``(SAD**2 - R**2) t**2 - 2 s SAD t + (s**2 - R**2) = 0``, while the perpendicular half-width
stays ``SAD * R / sqrt(SAD**2 - R**2)``. A box projects exactly through its face nearest
the source: half-width ``a * SAD / (SAD - b)`` for a half-width ``a`` at distance ``b``
towards the source.

Contoured targets stand for slabs of their slice thickness, so their extent along the
slice normal is stepped: checks along that axis allow for it (stated where used).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import rtplan
from rtplan import Beam, Contour, Grid, Mlc, Plan, Structure
from rtplan.errors import PlanError, RtplanWarning
from rtplan.planning import BeamTemplate, aperture, conformal_plan, fit_mlc, open_area_mm2
from rtplan.testing import sphere_contour_structure

SAD = 1000.0
LEAF = 5.0


def sphere(
    radius_mm: float, centre_mm: tuple[float, float, float], slice_mm: float = 1.0
) -> Structure:
    """Axial circular contours of a sphere, one per slice plane through its centre."""
    n = 2 * int(np.ceil(radius_mm / slice_mm)) + 1
    planes = Grid(
        shape=(n, 1, 1),
        spacing_mm=(slice_mm, 1.0, 1.0),
        origin_mm=(0.0, 0.0, centre_mm[2] - (n // 2) * slice_mm),
    )
    return sphere_contour_structure(planes, centre_mm, radius_mm, name="PTV")


def box(half_mm: tuple[float, float, float], centre_mm: tuple[float, float, float]) -> Structure:
    """A rectangular box as axial contours on 2 mm slices whose slabs end at its faces."""
    a, b, c = half_mm
    cx, cy, cz = centre_mm
    n = round(2 * c / 2.0)
    zs = cz - c + 1.0 + 2.0 * np.arange(n)
    square = np.array([[-a, -b], [a, -b], [a, b], [-a, b]]) + np.array([cx, cy])
    contours = [Contour(points_mm=np.column_stack([square, np.full(4, z)])) for z in zs]
    return Structure(name="box", contours=tuple(contours), slice_thickness_mm=2.0)


def projected_radius(radius: float, distance: float) -> float:
    return SAD * radius / np.sqrt(distance**2 - radius**2)


def leaf_chord(boundaries: np.ndarray, i: int, rho: float) -> float:
    """Half-chord of a centred circle of radius rho at the band point nearest its centre."""
    lo, hi = boundaries[i], boundaries[i + 1]
    y = 0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))
    return float(np.sqrt(max(rho**2 - y**2, 0.0)))


@pytest.fixture(scope="module")
def ball() -> Structure:
    return sphere(25.0, (10.0, -20.0, 35.0))


@pytest.fixture(scope="module")
def ball_plan(ball: Structure) -> Plan:
    return conformal_plan(
        ball,
        gantry_angles_deg=[0, 90, 180, 270],
        energy="6X",
        prescription_gy=30.0,
        fractions=10,
        margin_mm=7.0,
        isocenter_mm=None,
        patient_position="HFS",
        normalization="mean",
        template=BeamTemplate(sad_mm=SAD, mlc=Mlc.uniform(60, LEAF)),
    )


# ------------------------------------------------------------------ sphere on axis
def test_plan_metadata(ball: Structure, ball_plan: Plan) -> None:
    assert [b.name for b in ball_plan.beams] == ["G000", "G090", "G180", "G270"]
    assert [b.number for b in ball_plan.beams] == [1, 2, 3, 4]
    assert {b.weight for b in ball_plan.beams} == {1.0}
    assert all(b.mu is None for b in ball_plan.beams)
    assert (ball_plan.prescription_gy, ball_plan.fractions) == (30.0, 10)
    assert (ball_plan.normalization, ball_plan.target_name) == ("mean", "PTV")
    assert ball_plan.patient_position is rtplan.PatientPosition.HFS
    for b in ball_plan.beams:
        np.testing.assert_allclose(b.isocenter_mm, ball.centroid_mm, atol=1e-6)
        np.testing.assert_allclose(b.isocenter_mm, (10.0, -20.0, 35.0), atol=1e-3)
        assert (b.energy, b.sad_mm) == ("6X", SAD)
        assert b.mlc is not None


def test_sphere_jaws_match_projected_radius(ball_plan: Plan) -> None:
    rho = projected_radius(25.0, SAD) + 7.0
    for b in ball_plan.beams:
        x1, x2, y1, y2 = b.jaws_mm
        # X_b lies in the axial plane for these gantry angles: exact contours
        assert -x1 == pytest.approx(rho, abs=0.5), b.name
        assert x2 == pytest.approx(rho, abs=0.5), b.name
        # Y_b is the slice normal: slabs of 1 mm, within half a leaf width
        assert -y1 == pytest.approx(rho, abs=LEAF / 2), b.name
        assert y2 == pytest.approx(rho, abs=LEAF / 2), b.name


def test_sphere_leaves_follow_the_projected_circle(ball_plan: Plan) -> None:
    rho = projected_radius(25.0, SAD) + 7.0
    for b in ball_plan.beams:
        assert b.mlc is not None
        bounds = np.asarray(b.mlc.leaf_boundaries_mm)
        a_bank, b_bank = b.mlc.positions_mm
        centre = int(np.searchsorted(bounds, 0.0))  # pair whose lower edge is y = 0
        assert b_bank[centre] == pytest.approx(rho, abs=0.5)
        assert a_bank[centre] == pytest.approx(-rho, abs=0.5)
        open_ = np.flatnonzero(b_bank - a_bank > 0)
        for i in range(b.mlc.n_pairs):
            y_in = 0.0 if bounds[i] <= 0 <= bounds[i + 1] else min(abs(bounds[i : i + 2]))
            if y_in < 0.6 * rho:
                # away from the poles the slab steps (1 mm) move the edge < 0.4 mm
                chord = leaf_chord(bounds, i, rho)
                assert b_bank[i] == pytest.approx(chord, abs=0.5), (b.name, i)
                assert a_bank[i] == pytest.approx(-chord, abs=0.5), (b.name, i)
            elif y_in > rho + 1.0:
                assert a_bank[i] == b_bank[i] == b.jaws_mm[0], (b.name, i)  # parked under X1
        # the open leaf pairs cover the jaw opening along Y, by less than one leaf
        lo, hi = bounds[open_[0]], bounds[open_[-1] + 1]
        assert lo <= b.jaws_mm[2] < lo + LEAF
        assert hi - LEAF < b.jaws_mm[3] <= hi


def test_leaves_never_cross_and_pairs_cover_the_aperture(ball: Structure) -> None:
    beam = Beam(gantry_deg=30.0, collimator_deg=15.0, couch_deg=10.0, isocenter_mm=(10, -20, 35))
    region = aperture(ball, beam, margin_mm=5.0)
    mlc, open_pairs = fit_mlc(
        region, rtplan.Mlc.uniform(60, LEAF), region.bounds[::2] + region.bounds[1::2]
    )
    p = mlc.positions_mm
    assert np.all(p[0] <= p[1])
    from shapely.geometry import box as sbox

    b = mlc.leaf_boundaries_mm
    for i in open_pairs:
        band = region.intersection(sbox(-500, b[i], 500, b[i + 1]))
        # every point of the aperture inside the band is between the leaves
        assert band.bounds[0] >= p[0, i] - 1e-9
        assert band.bounds[2] <= p[1, i] + 1e-9


# ------------------------------------------------------------------ off-axis targets
def test_off_axis_sphere_gantry_0() -> None:
    # sphere 30 mm to the patient's left of the isocentre, HFS gantry 0 (X_b = left)
    radius, shift, margin = 20.0, 30.0, 5.0
    target = sphere(radius, (30.0, 0.0, 0.0))
    plan = conformal_plan(
        target,
        gantry_angles_deg=[0.0],
        energy="6X",
        prescription_gy=20.0,
        fractions=5,
        margin_mm=margin,
        isocenter_mm=(0.0, 0.0, 0.0),
        patient_position="HFS",
        normalization="mean",
        template=BeamTemplate(sad_mm=SAD, mlc=Mlc.uniform(60, LEAF)),
    )
    (beam,) = plan.beams
    roots = np.roots([SAD**2 - radius**2, -2 * shift * SAD, shift**2 - radius**2])
    x_lo, x_hi = sorted(SAD * roots)
    assert beam.jaws_mm[0] == pytest.approx(x_lo - margin, abs=0.5)
    assert beam.jaws_mm[1] == pytest.approx(x_hi + margin, abs=0.5)
    half_y = projected_radius(radius, SAD) + margin
    assert beam.jaws_mm[2] == pytest.approx(-half_y, abs=LEAF / 2)
    assert beam.jaws_mm[3] == pytest.approx(half_y, abs=LEAF / 2)
    assert beam.isocenter_mm == (0.0, 0.0, 0.0)


def test_off_axis_sphere_on_the_central_axis_is_magnified() -> None:
    # the same sphere seen from the left (gantry 90): on the axis, 30 mm nearer the source
    radius, margin = 20.0, 5.0
    target = sphere(radius, (30.0, 0.0, 0.0))
    beam = Beam(gantry_deg=90.0, isocenter_mm=(0.0, 0.0, 0.0))
    region = aperture(target, beam, margin_mm=margin)
    minx, _, maxx, _ = region.bounds
    expected = projected_radius(radius, SAD - 30.0) + margin
    assert maxx == pytest.approx(expected, abs=0.5)
    assert minx == pytest.approx(-expected, abs=0.5)
    assert expected > projected_radius(radius, SAD) + margin + 0.5  # magnification is seen
    # opposite beam: the sphere is 30 mm further from the source, smaller
    far = aperture(target, Beam(gantry_deg=270.0), margin_mm=margin).bounds
    assert far[2] == pytest.approx(projected_radius(radius, SAD + 30.0) + margin, abs=0.5)


def test_box_projects_through_its_nearest_face() -> None:
    # exact: a box's silhouette is its face nearest the source, magnified
    a, b, c, margin = 20.0, 15.0, 30.0, 4.0
    target = box((a, b, c), (0.0, 0.0, 0.0))
    region = aperture(target, Beam(gantry_deg=0.0), margin_mm=0.0)
    mag = SAD / (SAD - b)
    np.testing.assert_allclose(region.bounds, [-a * mag, -c * mag, a * mag, c * mag], atol=1e-9)
    grown = aperture(target, Beam(gantry_deg=0.0), margin_mm=margin)
    np.testing.assert_allclose(
        grown.bounds,
        [-a * mag - margin, -c * mag - margin, a * mag + margin, c * mag + margin],
        atol=1e-9,
    )
    # the lateral beam sees the a-faces nearest
    lateral = aperture(target, Beam(gantry_deg=90.0), margin_mm=0.0)
    mag90 = SAD / (SAD - a)
    np.testing.assert_allclose(lateral.bounds, [-b * mag90, -c * mag90, b * mag90, c * mag90])


def test_mask_target_gives_voxel_edges() -> None:
    grid = Grid(shape=(20, 40, 40), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-19.5, -19.5, -19.0))
    m = np.zeros(grid.shape, dtype=bool)
    m[5:15, 10:30, 12:28] = True  # x: -7.5..8.5 edges -8..8, y: -10..10, z: -10..10
    target = Structure.from_mask(m, grid, name="vox")
    region = aperture(target, Beam(gantry_deg=0.0, isocenter_mm=(0.0, 0.0, 0.0)))
    # the front face is at y = -10 (anterior, towards the source); the contours run midway
    # between inside and outside voxel centres, which cuts each in-plane voxel corner by
    # half a voxel, so the x extreme (x = 8) sits half a voxel behind it, at y = -9.5
    mag_front, mag_corner = SAD / (SAD - 10.0), SAD / (SAD - 9.5)
    np.testing.assert_allclose(
        region.bounds,
        [-8 * mag_corner, -10 * mag_front, 8 * mag_corner, 10 * mag_front],
        atol=1e-6,
    )


# ------------------------------------------------------------------ margins and rotations
def test_aperture_area_grows_with_margin(ball: Structure) -> None:
    areas, open_areas = [], []
    for margin in (0.0, 3.0, 7.0, 12.0):
        plan = conformal_plan(
            ball, gantry_angles_deg=[45.0], prescription_gy=10.0, margin_mm=margin
        )
        (beam,) = plan.beams
        areas.append(aperture(ball, beam, margin_mm=margin).area)
        open_areas.append(open_area_mm2(beam))
    assert all(b > a for a, b in itertools.pairwise(areas))
    assert all(b > a for a, b in itertools.pairwise(open_areas))
    # the leaves open at least the aperture (they cover it) and less than one extra leaf row
    rho0 = projected_radius(25.0, SAD)
    assert areas[0] == pytest.approx(np.pi * rho0**2, rel=0.02)


def test_collimator_turns_an_elongated_aperture() -> None:
    # a cylinder 80 mm long along the patient axis, radius 15 mm
    n, r = 80, 15.0
    t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    contours = [
        Contour(points_mm=np.column_stack([r * np.cos(t), r * np.sin(t), np.full(90, z)]))
        for z in np.arange(-n / 2 + 1, n / 2, 2.0)
    ]
    rod = Structure(name="rod", contours=tuple(contours), slice_thickness_mm=2.0)
    straight = conformal_plan(rod, gantry_angles_deg=[0], prescription_gy=10.0, margin_mm=0.0)
    turned = conformal_plan(
        rod,
        gantry_angles_deg=[0],
        prescription_gy=10.0,
        margin_mm=0.0,
        template=BeamTemplate(collimator_deg=90.0),
    )
    sx, sy = straight.beams[0].field_size_mm
    tx, ty = turned.beams[0].field_size_mm
    assert sy > 2.5 * sx
    assert tx > 2.5 * ty
    assert (tx, ty) == pytest.approx((sy, sx), abs=0.5)
    # at collimator 90 the X2 jaw points to the head (superior)
    assert turned.beams[0].jaws_mm[1] == pytest.approx(n / 2 * SAD / (SAD - r), abs=0.5)


def test_couch_angle_names_and_warnings(ball: Structure) -> None:
    plan = conformal_plan(
        ball,
        gantry_angles_deg=[90, 90],
        template=BeamTemplate(couch_deg=270.0),
        prescription_gy=5.0,
        margin_mm=2.0,
    )
    assert [b.name for b in plan.beams] == ["G090T270", "G090T270-2"]
    assert {b.couch_deg for b in plan.beams} == {270.0}
    with pytest.warns(RtplanWarning, match="beyond the MLC"):
        conformal_plan(
            ball,
            gantry_angles_deg=[0],
            prescription_gy=5.0,
            template=BeamTemplate(mlc=Mlc.uniform(4, LEAF)),
        )


def test_template_leaves_and_sad_reach_every_beam(ball: Structure) -> None:
    leaves = Mlc.uniform(40, 10.0)
    plan = conformal_plan(
        ball,
        gantry_angles_deg=[0, 180],
        prescription_gy=5.0,
        template=BeamTemplate(collimator_deg=-15.0, sad_mm=800.0, mlc=leaves),
    )
    for b in plan.beams:
        assert b.mlc is not None
        assert b.mlc.leaf_boundaries_mm == leaves.leaf_boundaries_mm
        assert (b.sad_mm, b.collimator_deg) == (800.0, 345.0)
    # a shorter SAD magnifies the sphere more on the isocentre plane
    assert plan.beams[0].field_size_mm[0] == pytest.approx(
        2 * (800.0 * 25.0 / np.sqrt(800.0**2 - 25.0**2) + 7.0), abs=0.5
    )


def test_conformal_errors(ball: Structure) -> None:
    with pytest.raises(PlanError, match="at least one gantry angle"):
        conformal_plan(ball, gantry_angles_deg=[], prescription_gy=5.0)
    with pytest.raises(PlanError, match="strictly increasing"):
        BeamTemplate(mlc=Mlc.uniform(60, 0.0))
    with pytest.raises(PlanError, match="sad_mm must be positive"):
        BeamTemplate(sad_mm=0.0)
    with pytest.raises(PlanError, match="couch_deg must be finite"):
        BeamTemplate(couch_deg=float("nan"))
    with pytest.raises(PlanError, match=r"aperture .* is empty"):
        conformal_plan(ball, gantry_angles_deg=[0], prescription_gy=5.0, margin_mm=-60.0)
    with pytest.raises(PlanError, match="unknown normalization 'max'"):
        conformal_plan(ball, gantry_angles_deg=[0], prescription_gy=5.0, normalization="max")
    marker = Structure(
        name="marker", contours=(Contour(points_mm=[[0, 0, 0]], geometric_type="POINT"),)
    )
    with pytest.raises(PlanError, match="encloses no volume"):
        conformal_plan(marker, gantry_angles_deg=[0], prescription_gy=5.0, isocenter_mm=(0, 0, 0))
