"""Geant4 engine: geometry, normalisation and reproducibility on tiny water phantoms.

Each simulation runs a few ten thousand photons on a coarse grid, so the checks use
averages over many voxels and tolerances of several standard deviations.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rtplan_geant4 import Geant4Engine, SimulationSettings, simulate_beam

import rtplan
from rtplan import Grid, Image
from rtplan.dose import engine_calibration, load_machine, prepare_setup

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("geant4_pybind") is None,
    reason="geant4_pybind is not installed (pip install geant4_pybind)",
)


def water_box(
    size_mm: tuple[float, float, float], voxel_mm: float, *, density: float = 1.0, y0: float = 0.0
) -> Image:
    """Water density image: x and z centred on 0, y (depth) from ``y0``; size (x, y, z)."""
    nx, ny, nz = (round(s / voxel_mm) for s in size_mm)
    grid = Grid(
        shape=(nz, ny, nx),
        spacing_mm=(voxel_mm, voxel_mm, voxel_mm),
        origin_mm=(-(nx - 1) * voxel_mm / 2, y0 + voxel_mm / 2, -(nz - 1) * voxel_mm / 2),
    )
    return Image(
        array=np.full(grid.shape, density), grid=grid, units="g/cm3", patient_position="HFS"
    )


def run(beam: rtplan.Beam, ct: Image, voxel_mm: float, photons: int, seed: int = 1):  # type: ignore[no-untyped-def]
    setup = prepare_setup(ct, grid_mm=voxel_mm)
    settings = SimulationSettings(histories=photons, batches=4, seed=seed, photons_per_event=10)
    result = simulate_beam(beam, setup, load_machine("6X"), settings=settings, source_model="point")
    return setup, result


def _axis_centres(setup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    g = setup.grid  # identity direction: array axes (k, j, i) are along z, y, x
    return g.axis_mm(2), g.axis_mm(1), g.axis_mm(0)


# IEC 61217, head-first supine: the source is anterior (-y) at gantry 0, on the patient's
# left (+x) at 90, posterior (+y) at 180, on the right (-x) at 270.
@pytest.mark.parametrize(
    ("gantry", "towards_source"),
    [(0.0, (0, -1, 0)), (90.0, (1, 0, 0)), (180.0, (0, 1, 0)), (270.0, (-1, 0, 0))],
)
def test_beam_enters_from_the_iec_side(gantry: float, towards_source: tuple[int, int, int]) -> None:
    ct = water_box((80.0, 80.0, 80.0), 8.0, y0=-40.0)  # a cube centred on the isocentre
    beam = rtplan.Beam(gantry_deg=gantry, jaws_mm=(-20.0, 20.0, -20.0, 20.0))
    setup, res = run(beam, ct, 8.0, 20_000)
    x, y, z = _axis_centres(setup)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    u = np.asarray(towards_source, dtype=float)
    along = xx * u[0] + yy * u[1] + zz * u[2]
    across = np.sqrt(np.maximum(xx**2 + yy**2 + zz**2 - along**2, 0.0))
    d = res.dose
    inside = across < 20.0
    upstream = d[inside & (along > 8.0)].mean()
    downstream = d[inside & (along < -8.0)].mean()
    assert upstream > 1.1 * downstream  # attenuation along the beam
    assert d[across > 32.0].mean() < 0.2 * d[inside].mean()  # field stays 4 x 4 cm


def _half_max_crossing(x: np.ndarray, profile: np.ndarray, start: int, step: int) -> float:
    """Walk from ``start`` in steps of ``step`` to the first value below 0.5: interpolate."""
    i = start
    while profile[i + step] >= 0.5:
        i += step
    a, b = profile[i], profile[i + step]
    return float(x[i] + (a - 0.5) / (a - b) * (x[i + step] - x[i]))


def test_field_edges_are_where_the_jaws_project() -> None:
    ct = water_box((120.0, 50.0, 30.0), 2.0)
    beam = rtplan.Beam(jaws_mm=(-20.0, 40.0, -15.0, 15.0))  # X1 on the right, X2 on the left
    setup, res = run(beam, ct, 2.0, 60_000)
    x, y, z = _axis_centres(setup)
    rows = (y > 5.0) & (y < 45.0)
    profile = res.dose[np.abs(z) < 12.0][:, rows, :].mean(axis=(0, 1))
    profile = profile / profile[(x > -10) & (x < 30)].mean()
    scale = (1000.0 + y[rows].mean()) / 1000.0  # divergence to the mean depth
    centre = int(np.argmin(np.abs(x - 10.0)))
    assert _half_max_crossing(x, profile, centre, -1) == pytest.approx(-20.0 * scale, abs=1.0)
    assert _half_max_crossing(x, profile, centre, 1) == pytest.approx(40.0 * scale, abs=1.0)


def test_fluence_is_normalised_at_the_isocentre_plane_by_the_inverse_square() -> None:
    """The same source, fan of rays and phantom, described once with the isocentre on the
    surface (SAD 1000 mm) and once with it 200 mm in front (SAD 800 mm, jaws scaled by 0.8):
    the photons are the same, the unit fluence at the isocentre plane is (1000 / 800)^2
    larger in the second, so the dose per unit fluence is 0.64 times the first."""
    ct = water_box((60.0, 60.0, 60.0), 6.0)
    _, far = run(rtplan.Beam(jaws_mm=(-20.0, 20.0, -20.0, 20.0)), ct, 6.0, 20_000)
    near_beam = rtplan.Beam(
        sad_mm=800.0, isocenter_mm=(0.0, -200.0, 0.0), jaws_mm=(-16.0, 16.0, -16.0, 16.0)
    )
    _, near = run(near_beam, ct, 6.0, 20_000)
    ratio = near.dose.sum() / far.dose.sum()
    assert ratio == pytest.approx(0.64, rel=0.01)


def test_dose_to_medium_scales_with_density_as_oconnor_says() -> None:
    """O'Connor's theorem: a phantom of density 2 with every length halved (source distance
    and field included) has the same dose per unit fluence at corresponding points; the dose
    uses each voxel's mass, which is 1/4 of the corresponding water voxel's."""
    full = water_box((120.0, 100.0, 120.0), 4.0)
    half = water_box((60.0, 50.0, 60.0), 2.0, density=2.0)
    _, res_a = run(rtplan.Beam(jaws_mm=(-30.0, 30.0, -30.0, 30.0)), full, 4.0, 60_000)
    _, res_b = run(
        rtplan.Beam(sad_mm=500.0, jaws_mm=(-15.0, 15.0, -15.0, 15.0)), half, 2.0, 60_000, seed=2
    )
    # central 8 x 8 columns, depth 20-60 mm (water) and 10-30 mm (density 2); sigma ~2 %
    a = res_a.dose[11:19, 5:15, 11:19].mean()
    b = res_b.dose[11:19, 5:15, 11:19].mean()
    assert b / a == pytest.approx(1.0, abs=0.06)
    assert res_b.density_g_cm3.max() == pytest.approx(2.0)


def test_same_seed_same_dose_other_seed_other_dose() -> None:
    ct = water_box((40.0, 40.0, 40.0), 10.0)
    beam = rtplan.Beam(jaws_mm=(-10.0, 10.0, -10.0, 10.0))
    _, r1 = run(beam, ct, 10.0, 4_000, seed=7)
    _, r2 = run(beam, ct, 10.0, 4_000, seed=7)
    _, r3 = run(beam, ct, 10.0, 4_000, seed=8)
    assert np.array_equal(r1.dose, r2.dose)
    assert np.array_equal(r1.sigma, r2.sigma)
    assert not np.array_equal(r1.dose, r3.dose)
    assert r1.simulation.photons == 4_000
    assert np.all(r1.sigma[r1.dose > 0] > 0)


def test_compute_dose_calibrates_and_scales_the_engine_output() -> None:
    engine = Geant4Engine(histories=20_000, batches=4, seed=3)
    ct = water_box((60.0, 60.0, 60.0), 5.0)
    plan = rtplan.Plan(beams=[rtplan.Beam(jaws_mm=(-15.0, 15.0, -15.0, 15.0), mu=100.0)])
    dose = rtplan.compute_dose(plan, ct, engine=engine, grid_mm=5.0)
    # the engine was calibrated on first use (the reference field); the same seed gives the
    # same beam dose again
    machine = load_machine("6X")
    gy_per_mu = engine_calibration(engine, machine)
    raw = engine.beam_dose(plan.beams[0], prepare_setup(ct, grid_mm=5.0), machine)
    assert gy_per_mu > 0
    assert np.allclose(dose.array, 100.0 * raw * gy_per_mu, rtol=1e-5, atol=1e-7)
    assert dose.medium.value == "medium"


@pytest.mark.skipif(
    not any(ep.name == "geant4" for ep in entry_points(group="rtplan.dose_engines")),
    reason="rtplan-geant4 is not installed (pip install ./plugins/rtplan-geant4)",
)
def test_entry_point_gives_the_engine() -> None:
    assert "geant4" in rtplan.dose.available_engines()
    engine = rtplan.dose.get_engine("geant4")
    assert isinstance(engine, Geant4Engine)
    assert isinstance(engine, rtplan.dose.DoseEngine)
