"""The pencil-beam engine against the Geant4 Monte Carlo reference, in water, bone and lung.

Reference values: ``benchmarks/dose/mc`` (Geant4 11.4 through geant4_pybind; the 6X
spectrum, a point source 100 cm from the isocentre on the surface, perfectly absorbing
jaws; doses averaged over the central-axis bins, a third of the field wide; 1-sigma from
independent batches). The engine runs with the machine commissioned against that
reference (``6X-MC``, a point source). Water values are relative to the 10 x 10 cm² field
at 95-100 mm depth (depth doses and output factors at once); slab values are the
slab/homogeneous ratio of the central-axis dose averaged over a depth range (slabs in HU-0
tissue: 3 cm of cortical bone, 1525 HU, at 50-80 mm; 10 cm of lung, -749 HU, at 50-150 mm).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import rtplan
from rtplan.dose import PencilBeamLungWarning, load_machine, prepare_setup
from rtplan.dose._pencil_beam import PencilBeamEngine, lateral_density
from rtplan.testing import slab_phantom, water_phantom

# (field, bin from, bin to) -> (Monte Carlo value, sigma): water, relative to the 10 x 10
# field's 95-100 mm bin
WATER = {
    ("10x10", 45.0, 50.0): (1.2888, 0.0107),
    ("10x10", 195.0, 200.0): (0.5810, 0.0077),
    ("3x3", 45.0, 50.0): (1.2186, 0.0097),
    ("3x3", 95.0, 100.0): (0.8929, 0.0113),
    ("3x3", 195.0, 200.0): (0.4906, 0.0066),
}
# (slab, field, from, to) -> (slab / homogeneous, sigma)
SLABS = {
    ("lung", "3x3", 55.0, 145.0): (1.0403, 0.0033),
    ("lung", "3x3", 160.0, 250.0): (1.3683, 0.0053),
    ("lung", "10x10", 55.0, 145.0): (1.0864, 0.0036),
    ("lung", "10x10", 160.0, 250.0): (1.2849, 0.0046),
    ("bone", "10x10", 85.0, 150.0): (0.9288, 0.0036),
    ("bone", "10x10", 160.0, 250.0): (0.9184, 0.0039),
}
SLAB_HU = {"lung": (50.0, 150.0, -749.0), "bone": (50.0, 80.0, 1525.0)}
FIELD_MM = {"3x3": 30.0, "10x10": 100.0}


@functools.lru_cache(maxsize=16)
def _dose(phantom: str, field: str, lateral: bool = True) -> rtplan.Image:
    """Pencil-beam dose per unit fluence of a field on a phantom (machine 6X-MC)."""
    if phantom != "lung" and not lateral:  # the same dose (tested below)
        return _dose(phantom, field, True) if phantom != "water" else _water_unscaled(field)
    width = 200.0 if field == "3x3" else 240.0
    if phantom == "water":
        ct = water_phantom(width_mm=width, depth_mm=300.0, spacing_mm=2.5)
    else:
        slabs = [SLAB_HU[phantom]] if phantom in SLAB_HU else []
        ct = slab_phantom(slabs, width_mm=width, depth_mm=300.0, spacing_mm=2.5)
    setup = prepare_setup(ct, grid_mm=2.5)
    h = FIELD_MM[field] / 2.0
    beam = rtplan.Beam(energy="6X-MC", jaws_mm=(-h, h, -h, h))
    engine = PencilBeamEngine(lateral_scaling=lateral)
    if phantom == "lung":  # the beam crosses lung: the engine says how far to trust it
        match = "stretched laterally" if lateral else "5-17 % too high"
        with pytest.warns(PencilBeamLungWarning, match=match):
            dose = engine.beam_dose(beam, setup, load_machine("6X-MC"))
    else:
        dose = engine.beam_dose(beam, setup, load_machine("6X-MC"))
    return rtplan.Image(array=dose, grid=setup.grid)


@functools.lru_cache(maxsize=2)
def _water_unscaled(field: str) -> rtplan.Image:
    ct = water_phantom(width_mm=200.0, depth_mm=300.0, spacing_mm=2.5)
    setup = prepare_setup(ct, grid_mm=2.5)
    h = FIELD_MM[field] / 2.0
    beam = rtplan.Beam(energy="6X-MC", jaws_mm=(-h, h, -h, h))
    dose = PencilBeamEngine(lateral_scaling=False).beam_dose(beam, setup, load_machine("6X-MC"))
    return rtplan.Image(array=dose, grid=setup.grid)


def _cax(image: rtplan.Image, field: str, lo: float, hi: float) -> float:
    """Mean over the central-axis box (a third of the field wide) between two depths."""
    a = FIELD_MM[field] / 6.0
    xs = np.linspace(-a, a, 7)
    ys = np.arange(lo + 0.5, hi, 1.0)
    x, y, z = np.meshgrid(xs, ys, xs, indexing="ij")
    return float(np.mean(image.sample(np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1))))


def test_water_depth_doses_and_output_within_2_percent_of_monte_carlo():
    ref = _cax(_dose("water", "10x10"), "10x10", 95.0, 100.0)
    for (field, lo, hi), (mc, sigma) in WATER.items():
        value = _cax(_dose("water", field), field, lo, hi) / ref
        assert value == pytest.approx(mc, rel=0.02 + sigma / mc), (field, lo)


@pytest.mark.parametrize("key", [k for k in SLABS if k[0] == "bone"])
def test_behind_bone_within_2_percent_of_monte_carlo(key):
    kind, field, lo, hi = key
    mc, sigma = SLABS[key]
    ratio = _cax(_dose(kind, field), field, lo, hi) / _cax(_dose("tissue", field), field, lo, hi)
    assert ratio == pytest.approx(mc, rel=0.02 + sigma / mc)


@pytest.mark.parametrize("key", [k for k in SLABS if k[0] == "lung"])
def test_lateral_scaling_brings_lung_within_a_few_percent(key):
    kind, field, lo, hi = key
    mc, sigma = SLABS[key]

    def ratio(lateral: bool) -> float:
        het = _cax(_dose(kind, field, lateral), field, lo, hi)
        return het / _cax(_dose("tissue", field, lateral), field, lo, hi)

    # measured: -1.6 / +1.5 % (3 x 3, in / behind lung), -0.4 / +3.0 % (10 x 10)
    assert ratio(True) == pytest.approx(mc, rel=0.035 + sigma / mc)
    if lo < 150.0:  # inside the lung depth scaling alone overestimates (5-14 %)
        assert ratio(False) > mc * 1.03
        assert abs(ratio(True) / mc - 1.0) < abs(ratio(False) / mc - 1.0) - 0.02


def test_lateral_scaling_leaves_water_unchanged():
    a = _dose("water", "3x3", True).array
    b = _dose("water", "3x3", False).array
    np.testing.assert_array_equal(a, b)


def test_lateral_density_is_one_in_water_and_low_in_lung():
    ct = slab_phantom([SLAB_HU["lung"]], width_mm=60.0, depth_mm=200.0, spacing_mm=2.5)
    setup = prepare_setup(ct, grid_mm=2.5)
    rho = lateral_density(setup, 5.0)
    y = setup.grid.axis_mm(1)
    mid = rho[:, np.argmin(np.abs(y - 100.0)), :]
    skin = rho[:, 0, :]  # air in front of the skin does not count
    assert np.allclose(skin, 1.0, atol=1e-6)
    assert np.allclose(mid, float(setup.electron_density[0, np.argmin(np.abs(y - 100.0)), 0]),
                       rtol=1e-3)  # fmt: skip
    assert np.all((rho > 0.0) & (rho <= 1.0))


@functools.lru_cache(maxsize=4)
def _scaled_axis(rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Central-axis dose of a 10 x 10 cm² field with every length scaled by 1 / rho."""
    import dataclasses

    machine = dataclasses.replace(load_machine("6X-MC"), radial_ramp_per_cm=0.0)
    ct = water_phantom(
        width_mm=200.0 / rho, depth_mm=250.0 / rho, spacing_mm=2.5 / rho, density=rho
    )
    setup = prepare_setup(ct, grid_mm=2.5 / rho)
    h = 50.0 / rho
    beam = rtplan.Beam(sad_mm=1000.0 / rho, jaws_mm=(-h, h, -h, h))
    if rho < 0.9:  # lung-like density: the engine warns
        with pytest.warns(PencilBeamLungWarning, match="stretched laterally"):
            dose = PencilBeamEngine().beam_dose(beam, setup, machine)
    else:
        dose = PencilBeamEngine().beam_dose(beam, setup, machine)
    ijk = setup.grid.mm_to_index([0.0, 0.0, 0.0])
    i, k = round(float(ijk[0])), round(float(ijk[2]))
    return setup.grid.axis_mm(1) * rho, dose[k, :, i]


@pytest.mark.parametrize("rho", [0.5, 0.3])
def test_lateral_scaling_obeys_oconnor_in_light_media(rho):
    # O'Connor's theorem (Phys. Med. Biol. 1 (1957) 352-369): with every length scaled by
    # 1 / rho the dose at corresponding points is the same. Depth scaling alone misses it
    # by up to 15 %; stretched kernels keep it within 1 % (measured 0.15 %).
    z_ref, d_ref = _scaled_axis(1.0)
    z, d = _scaled_axis(rho)
    depths = np.array([5.0, 15.0, 30.0, 50.0, 100.0, 150.0, 200.0])  # water-equivalent mm
    np.testing.assert_allclose(np.interp(depths, z, d), np.interp(depths, z_ref, d_ref), rtol=0.01)


def test_a_beam_beside_the_lung_does_not_warn():
    # lung 6 cm either side of the axis of a 3 x 3 cm² field: outside the field and its margin
    ct = slab_phantom(width_mm=200.0, depth_mm=150.0, spacing_mm=2.5)
    arr = np.array(ct.array)
    x = ct.grid.axis_mm(2)
    arr[:, :, np.abs(x) > 60.0] = -749
    ct = ct.with_array(arr)
    setup = prepare_setup(ct, grid_mm=2.5)
    engine = PencilBeamEngine()
    aside = rtplan.Beam(energy="6X-MC", jaws_mm=(-15.0, 15.0, -15.0, 15.0))
    engine.beam_dose(aside, setup, load_machine("6X-MC"))  # warnings are errors here
    across = rtplan.Beam(energy="6X-MC", jaws_mm=(-75.0, 75.0, -15.0, 15.0))
    with pytest.warns(PencilBeamLungWarning, match="crosses lung"):
        engine.beam_dose(across, setup, load_machine("6X-MC"))
