"""Engine protocol, registry, plugins, MU derivation and the public dose API."""

from __future__ import annotations

import itertools
from importlib.metadata import EntryPoint

import numpy as np
import pytest

import rtplan
from rtplan import plugins
from rtplan.dose import (
    DoseEngine,
    available_engines,
    calculate,
    dose_to_medium,
    dose_to_water,
    get_engine,
    load_machine,
    monitor_units,
    register_engine,
    stopping_power_ratios,
    water_to_medium_ratio,
)
from rtplan.dose._pencil_beam import PencilBeamEngine
from rtplan.errors import DoseEngineError, PlanError
from rtplan.testing import water_phantom


@pytest.fixture(scope="module")
def small_water() -> rtplan.Image:
    return water_phantom(width_mm=150.0, depth_mm=150.0, spacing_mm=5.0)


def _beam(**kw) -> rtplan.Beam:
    return rtplan.Beam(jaws_mm=(-40.0, 40.0, -40.0, 40.0), **kw)


def test_builtin_engines_satisfy_the_protocol():
    names = available_engines()
    assert {"collapsed-cone", "pencil-beam"} <= set(names)
    for name in ("collapsed-cone", "pencil-beam"):
        eng = get_engine(name)
        assert isinstance(eng, DoseEngine)
        assert eng.name == name
    assert get_engine("Pencil-Beam") is get_engine("pencil-beam")  # cached, case-insensitive


def test_unknown_engine_and_bad_objects_raise():
    with pytest.raises(DoseEngineError, match=r"unknown dose engine 'nope'.*collapsed-cone"):
        get_engine("nope")
    with pytest.raises(DoseEngineError, match="not a dose engine"):
        get_engine(object())  # type: ignore[arg-type]


class _DoubledPencilBeam:
    """A test engine: the pencil beam times two (calibration must undo the factor)."""

    name = "doubled-pencil-beam"

    def beam_dose(self, beam, setup, machine, *, progress=None):
        return 2.0 * PencilBeamEngine().beam_dose(beam, setup, machine, progress=progress)


def test_registered_engine_is_calibrated_on_first_use(small_water):
    register_engine("doubled-pencil-beam", _DoubledPencilBeam)
    plan = rtplan.Plan(beams=[_beam(mu=50.0)])
    a = rtplan.compute_dose(plan, small_water, engine="doubled-pencil-beam", grid_mm=5.0)
    b = rtplan.compute_dose(plan, small_water, engine="pencil-beam", grid_mm=5.0)
    # both are calibrated to 1 cGy/MU on the reference field, so the factor 2 cancels
    np.testing.assert_allclose(a.array, b.array, rtol=0.01, atol=1e-4)


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    eps = [
        EntryPoint(
            name="plugin-pb",
            value="rtplan.dose._pencil_beam:PencilBeamEngine",
            group="rtplan.dose_engines",
        ),
        EntryPoint(
            name="broken", value="rtplan_no_such_module:Engine", group="rtplan.dose_engines"
        ),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: [e for e in eps if e.group == group])
    plugins.clear_cache()
    yield
    plugins.clear_cache()


@pytest.mark.usefixtures("fake_plugins")
def test_plugins_are_listed_lazily_and_a_broken_one_only_warns():
    assert {"plugin-pb", "broken"} <= set(available_engines())  # listed without import
    assert isinstance(get_engine("plugin-pb"), PencilBeamEngine)
    with (
        pytest.warns(plugins.PluginWarning, match="broken"),
        pytest.raises(DoseEngineError, match="unknown dose engine"),
    ):
        get_engine("broken")


def test_mu_from_prescription_at_isocentre(small_water):
    iso = (0.0, 50.0, 0.0)
    plan = rtplan.Plan(
        beams=[_beam(isocenter_mm=iso, weight=1.0), _beam(isocenter_mm=iso, weight=0.5)],
        prescription_gy=20.0,
        fractions=10,
        normalization="isocenter",
    )
    result = calculate(plan, small_water, engine="pencil-beam", grid_mm=5.0)
    mu = [b.mu for b in result.plan.beams]
    assert mu[0] == pytest.approx(2.0 * mu[1])
    # the isocentre (5 cm deep, SSD 95) receives the prescription
    iso_dose = float(result.dose.sample(np.array(iso)))
    assert iso_dose == pytest.approx(20.0, rel=1e-3)
    # 2 Gy per fraction at 5 cm depth needs about 200 / PDD MU in total
    assert 200.0 < sum(mu) < 300.0
    assert result.dose.fractions == 10
    again = monitor_units(plan, small_water, engine="pencil-beam", grid_mm=5.0)
    assert [b.mu for b in again.beams] == pytest.approx(mu)


def test_mean_normalisation_needs_a_target(small_water):
    plan = rtplan.Plan(beams=[_beam()], prescription_gy=2.0, normalization="mean")
    with pytest.raises(PlanError, match="needs the target"):
        rtplan.compute_dose(plan, small_water, engine="pencil-beam", grid_mm=5.0)
    no_rx = rtplan.Plan(beams=[_beam()])
    with pytest.raises(PlanError, match="without MU"):
        rtplan.compute_dose(no_rx, small_water, engine="pencil-beam", grid_mm=5.0)
    with pytest.raises(PlanError, match="no beams"):
        rtplan.compute_dose(rtplan.Plan(), small_water)


def test_unknown_energy_and_bad_images(small_water):
    plan = rtplan.Plan(beams=[_beam(energy="25X", mu=10.0)])
    with pytest.raises(DoseEngineError, match="no beam model for energy '25X'"):
        rtplan.compute_dose(plan, small_water, engine="pencil-beam", grid_mm=5.0)
    mask = small_water.with_array(np.ones(small_water.shape), units="1")
    with pytest.raises(DoseEngineError, match="units '1'"):
        rtplan.compute_dose(rtplan.Plan(beams=[_beam(mu=1.0)]), mask)
    air = small_water.with_array(np.zeros(small_water.shape))
    with pytest.raises(DoseEngineError, match="no patient"):
        rtplan.compute_dose(rtplan.Plan(beams=[_beam(mu=1.0)]), air)


def test_progress_is_reported_and_monotonic(small_water):
    seen: list[float] = []
    plan = rtplan.Plan(beams=[_beam(mu=10.0), _beam(mu=10.0, gantry_deg=90.0)])
    rtplan.compute_dose(
        plan, small_water, engine="collapsed-cone", grid_mm=5.0,
        progress=lambda f, msg: seen.append(f),
    )  # fmt: skip
    assert seen[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in itertools.pairwise(seen))
    assert len(seen) > 4


def test_stopping_power_ratios_match_siebers_2000():
    r = stopping_power_ratios("6X")
    # Siebers et al. 2000: D_w exceeds D_m by about 1 % in soft tissue, over 10 % in bone
    assert r["muscle"] == pytest.approx(1.01, abs=0.01)
    assert 1.08 < r["cortical_bone"] < 1.14
    s = water_to_medium_ratio([0.25, 1.03, 1.4, 1.85, 2.2], "6X")
    assert s[0] == s[1] == pytest.approx(r["soft_tissue"])
    assert s[1] < s[2] < s[3] == pytest.approx(r["cortical_bone"])
    assert s[4] == pytest.approx(r["cortical_bone"])


def test_dose_to_water_round_trip(small_water):
    hu = small_water.with_array(np.full(small_water.shape, 1400, dtype=np.int16), units="HU")
    dose = rtplan.compute_dose(
        rtplan.Plan(beams=[_beam(mu=100.0)]), hu, engine="pencil-beam", grid_mm=5.0
    )
    assert dose.medium is rtplan.DoseMedium.MEDIUM
    water = dose_to_water(dose, hu)
    assert water.medium is rtplan.DoseMedium.WATER
    inside = np.asarray(dose.array) > 0.1 * dose.max_gy
    ratio = np.asarray(water.array)[inside] / np.asarray(dose.array)[inside]
    assert np.allclose(ratio, stopping_power_ratios("6X")["cortical_bone"], rtol=0.01)
    back = dose_to_medium(water, hu)
    np.testing.assert_allclose(back.array, dose.array, rtol=1e-5, atol=1e-7)
    with pytest.raises(DoseEngineError, match="already dose to water"):
        dose_to_water(water, hu)
    # density images are water: no conversion
    dw = rtplan.compute_dose(rtplan.Plan(beams=[_beam(mu=1.0)]), small_water, engine="pencil-beam",
                             grid_mm=5.0)  # fmt: skip
    np.testing.assert_allclose(dose_to_water(dw, small_water).array, dw.array)


def test_machine_files_describe_the_beam():
    m = load_machine("6x")
    assert m.name == "6X"
    assert m.sad_mm == 1000.0
    assert m.energy_fluence_share.sum() == pytest.approx(1.0)
    assert 1.7 < m.mean_energy_mev < 2.3  # hardened Varian 6 MV spectrum
    assert "Sheikh-Bagheri" in m.spectrum_source


def test_monte_carlo_machine_is_6x_with_the_reference_source(tmp_path, monkeypatch):
    # 6X-MC: the 6X beam as the Geant4 reference simulates it (benchmarks/dose/mc): the same
    # spectrum and kernels from its base machine file, a point source and opaque jaws
    assert {"6X", "6X-MC"} <= set(rtplan.dose.available_machines())
    ref, clinical = load_machine("6x-mc"), load_machine("6X")
    np.testing.assert_array_equal(ref.energy_fluence_share, clinical.energy_fluence_share)
    assert ref.point_kernel_file == clinical.point_kernel_file
    assert ref.pencil_kernel_file == clinical.pencil_kernel_file
    assert ref.calibration_file == "6X-MC_calibration.json"
    assert ref.focal_sigma_mm < 0.5 < clinical.focal_sigma_mm
    assert ref.extra_focal_fraction < 0.01 < clinical.extra_focal_fraction
    assert ref.jaw_transmission < 0.001 < clinical.jaw_transmission
    assert "engines" in ref.calibration()
    assert ref.calibration()["machine"] == "6X-MC"
    # a machine file naming a base holds only what differs; a loop of bases is refused
    from rtplan.dose.machines import _model

    for name in ("6X.json", "6X_point_kernel.txt", "6X_pencil_kernel.txt"):
        (tmp_path / name).write_bytes((_model.MACHINE_DIR / name).read_bytes())
    (tmp_path / "7X.json").write_text('{"name": "7X", "base": "6X", "transmission": {"jaw": 0.01}}')
    (tmp_path / "8X.json").write_text('{"name": "8X", "base": "9X"}')
    (tmp_path / "9X.json").write_text('{"name": "9X", "base": "8X"}')
    monkeypatch.setattr(_model, "MACHINE_DIR", tmp_path)
    m7 = _model._build("7X", tmp_path / "7X.json")
    assert (m7.jaw_transmission, m7.mlc_transmission) == (0.01, clinical.mlc_transmission)
    assert m7.focal_sigma_mm == clinical.focal_sigma_mm
    with pytest.raises(DoseEngineError, match="loop"):
        _model._build("8X", tmp_path / "8X.json")


def test_conformal_plan_carries_its_target_and_the_dose_its_plan_uid(small_water):
    # a 4 x 4 x 4 cm cube 5 cm deep in water, built as a mask on the phantom's own grid
    centres = small_water.grid.centers_mm()
    cube = np.all(np.abs(centres - np.array([0.0, 50.0, 0.0])) <= 20.0, axis=-1)
    target = rtplan.Structure.from_mask(cube, small_water.grid, name="PTV")
    plan = rtplan.Plan.conformal(
        target, gantry_angles_deg=[0, 90, 270], prescription_gy=20.0, fractions=5
    )
    assert plan.target is target
    result = calculate(plan, small_water, engine="pencil-beam", grid_mm=5.0)  # no target=
    dose = result.dose
    # the dose names the plan it belongs to (Referenced RT Plan when written)
    assert dose.plan_uid == plan.uid == result.plan.uid
    assert dose.fractions == 5
    # "mean" normalisation on the carried target: its mean dose (as the DVH measures it,
    # partial volumes and trilinear dose) is the prescription
    assert rtplan.dvh(dose, target).mean_gy == pytest.approx(20.0, rel=1e-3)
    mask = target.mask(dose.grid)
    assert float(np.asarray(dose.array)[mask].mean()) == pytest.approx(20.0, rel=5e-3)
    assert all(b.mu is not None and b.mu > 0 for b in result.plan.beams)
    # the same through the public one-liner
    again = rtplan.compute_dose(plan, small_water, engine="pencil-beam", grid_mm=5.0)
    np.testing.assert_allclose(again.array, dose.array)
