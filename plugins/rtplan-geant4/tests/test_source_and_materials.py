"""Source sampling, normalisation, materials and data-set handling (no Geant4 needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rtplan_geant4 import (
    SourceComponent,
    SourceSpec,
    aperture_rectangles,
    beam_source,
    hu_from_density,
    tissue_material,
    voxel_materials,
)
from rtplan_geant4._data import DataMode, find_data_sets, worker_environment

import rtplan
from rtplan.dose import load_machine
from rtplan.tissue import SCHNEIDER_2000, schneider_z_over_a_ratio


def _source(rects: np.ndarray, values: np.ndarray, *components: SourceComponent) -> SourceSpec:
    return SourceSpec(
        position_mm=np.array([0.0, -1000.0, 0.0]),
        axis=np.array([0.0, 1.0, 0.0]),
        ex=np.array([1.0, 0.0, 0.0]),
        ey=np.array([0.0, 0.0, 1.0]),
        sad_mm=1000.0,
        energies_mev=np.array([1.0, 2.0, 4.0]),
        energy_fluence_share=np.array([0.25, 0.25, 0.5]),
        rects=rects,
        transmission=values,
        components=components or (SourceComponent(weight=1.0),),
    )


def _aim(src: SourceSpec, n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    e, pos, d = src.sample(np.random.default_rng(seed), n)
    t = src.sad_mm / (d @ src.axis)  # distance to the isocentre plane along each ray
    p = pos + d * t[:, None]
    return e, np.stack([p @ src.ex, p @ src.ey], axis=1)


def test_point_source_fills_the_jaws_uniformly_and_normalises_to_the_opening() -> None:
    rects, values = aperture_rectangles((-20.0, 40.0, -10.0, 30.0))
    assert rects.shape == (1, 4)
    src = _source(rects, values)
    e, xy = _aim(src, 40000)
    assert xy[:, 0].min() >= -20.0 - 1e-9
    assert xy[:, 0].max() <= 40.0 + 1e-9
    assert xy[:, 1].min() >= -10.0 - 1e-9
    assert xy[:, 1].max() <= 30.0 + 1e-9
    # uniform: each half of the opening gets half of the photons (binomial sigma 0.25 %)
    assert abs(np.mean(xy[:, 0] < 10.0) - 0.5) < 0.01
    # photon-number spectrum: share / E normalised -> (0.25, 0.125, 0.125) / 0.5
    assert np.allclose(src.photon_probabilities, [0.5, 0.25, 0.25])
    assert np.mean(e == 1.0) == pytest.approx(0.5, abs=0.01)
    mean_e = 0.5 * 1 + 0.25 * 2 + 0.25 * 4
    assert src.energy_fluence_per_photon() == pytest.approx(mean_e / (60 * 40 / 100.0))


def test_mlc_opening_and_transmission_tiles() -> None:
    bounds = [-20.0, -10.0, 0.0, 10.0, 20.0]
    pos = np.array([[-5.0, -15.0, 0.0, 0.0], [5.0, 15.0, 0.0, 10.0]])
    rects, values = aperture_rectangles(
        (-30.0, 30.0, -15.0, 15.0), leaf_boundaries_mm=bounds, leaf_positions_mm=pos
    )
    area = float(np.sum((rects[:, 1] - rects[:, 0]) * (rects[:, 3] - rects[:, 2])))
    # leaf rows clipped to Y jaws [-15, 15]: 5 mm x 10, 10 mm x 30, 10 mm x 0, 5 mm x 10
    assert area == pytest.approx(5 * 10 + 10 * 30 + 0 + 5 * 10)
    assert np.all(values == 1.0)
    rects_t, values_t = aperture_rectangles(
        (-30.0, 30.0, -15.0, 15.0),
        leaf_boundaries_mm=bounds,
        leaf_positions_mm=pos,
        jaw_transmission=0.01,
        mlc_transmission=0.02,
        half_width_mm=100.0,
    )
    total = float(np.sum((rects_t[:, 1] - rects_t[:, 0]) * (rects_t[:, 3] - rects_t[:, 2])))
    assert total == pytest.approx(200.0 * 200.0)  # the whole square is tiled
    assert set(np.round(values_t, 6)) == {1.0, 0.01, 0.02, 0.0002}


def test_machine_source_is_one_on_the_axis_of_a_large_field() -> None:
    machine = load_machine("6X")
    beam = rtplan.Beam(jaws_mm=(-150.0, 150.0, -150.0, 150.0))
    src = beam_source(
        beam, machine, source_mm=[0, -1000, 0], axis=[0, 1, 0], ex=[1, 0, 0], ey=[0, 0, 1]
    )
    _, xy = _aim(src, 1_000_000, seed=5)
    # photons per mm² near the axis times integral(F) / N = F: 1 on the axis of a large open
    # field, here averaged over a disc of 15 mm where the primary's ramp adds 1.2 %
    r = 15.0
    near = np.count_nonzero(np.hypot(xy[:, 0], xy[:, 1]) < r)
    f0 = near / (np.pi * r * r) * src.fluence_integral_mm2() / xy.shape[0]
    expected = 0.92 * (1 + 0.012 * 1.0) + 0.08
    assert f0 == pytest.approx(expected, abs=0.025)  # Poisson sigma 0.8 %


def test_tissue_materials_follow_the_schneider_tables() -> None:
    bone = tissue_material(1525.0)
    assert bone.elements is not None
    # ICRP cortical bone (Schneider's densest bin): H 3.4, C 15.5, O 43.5, P 10.3, Ca 22.5 %
    assert bone.density_g_cm3 == pytest.approx(1.92, abs=0.002)
    for symbol, percent in {"H": 3.4, "C": 15.5, "O": 43.5, "P": 10.3, "Ca": 22.5}.items():
        assert 100 * bone.elements[symbol] == pytest.approx(percent, abs=1e-6)
    lung = tissue_material(-749.0)
    assert lung.density_g_cm3 == pytest.approx(0.26, abs=0.001)
    hu = np.array([-1000.0, -749.0, -100.0, 0.0, 40.0, 300.0, 1000.0, 1525.0])
    rho = np.array([SCHNEIDER_2000.density_at(h) for h in hu])
    eta = rho * schneider_z_over_a_ratio(hu)
    assert np.allclose(hu_from_density(rho, eta), hu, atol=1e-6)


def test_voxel_materials_are_bounded_and_keep_the_mean_density() -> None:
    rng = np.random.default_rng(11)
    rho = rng.uniform(0.2, 1.9, size=(20, 20, 20))
    mats = voxel_materials(rho, rho, water_composition=True, max_materials=40)
    assert len(mats.materials) <= 40
    assert all(m.nist == "G4_WATER" for m in mats.materials)
    # each material has the mean density of its voxels: the total mass is kept
    assert mats.voxel_density_g_cm3.sum() == pytest.approx(rho.sum(), rel=1e-9)
    assert np.max(np.abs(mats.voxel_density_g_cm3 / rho - 1)) <= mats.relative_bin_width


def test_data_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for var in ("G4LEDATA", "GEANT4_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    env, dataless = worker_environment("auto")
    assert dataless
    assert Path(env["G4LEDATA"]).is_dir()
    assert (Path(env["G4ENSDFSTATEDATA"]) / "ENSDFSTATE.dat").is_file()
    with pytest.raises(FileNotFoundError, match="GEANT4_DATA_DIR"):
        worker_environment(DataMode.FULL)
    emlow = tmp_path / "data" / "G4EMLOW8.8"
    emlow.mkdir(parents=True)
    (emlow / "README").write_text("x")
    monkeypatch.setenv("GEANT4_DATA_DIR", str(tmp_path / "data"))
    assert find_data_sets() == emlow
    env, dataless = worker_environment("auto")
    assert not dataless
    assert env["GEANT4_DATA_DIR"] == str(tmp_path / "data")
    _, dataless = worker_environment("dataless")
    assert dataless
