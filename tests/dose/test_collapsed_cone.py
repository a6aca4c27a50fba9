"""The collapsed-cone engine against the Geant4 Monte Carlo reference, in water, bone and lung.

Reference values: ``benchmarks/dose/mc`` (Geant4 11.4 through geant4_pybind; the 6X
spectrum, a point source 100 cm from the isocentre on the surface, perfectly absorbing
jaws; dose to medium averaged over the central-axis bins, a third of the field wide;
1-sigma from independent batches). The engine runs with the machine of that reference
(``6X-MC``, a point source). Water values are relative to the 10 x 10 cm² field at
95-100 mm depth (depth doses and output factors at once); slab values are the
slab/homogeneous ratio of the central-axis dose averaged over a depth range (slabs in HU-0
tissue: 3 cm of cortical bone, 1525 HU, at 50-80 mm; 10 cm of lung, -749 HU, at 50-150 mm),
which tests the dose-to-medium conversion (``eta / rho``) inside the bone.

The target is 2 % of the Monte Carlo value (plus its 1-sigma). The cases that do not meet
it yet are marked: their measured difference is a regression bound, and the target itself
is an expected failure (strict: it fails loudly once the engine meets it).

The slab phantoms are narrower (120 mm for 3 x 3 cm², 160 mm for 10 x 10 cm²) and all are
shallower (260 mm) than the Monte Carlo's, which changes the slab/homogeneous ratios by
0.1 % at most (measured against phantoms as wide as the Monte Carlo's), to keep the test
fast.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import rtplan
from rtplan.dose import get_engine, load_machine, prepare_setup
from rtplan.dose._collapsed_cone import CollapsedConeEngine
from rtplan.testing import slab_phantom, water_phantom

TARGET = 0.02

# (field, bin from, bin to) -> (Monte Carlo value, sigma): water, relative to the 10 x 10
# field's 95-100 mm bin
WATER = {
    ("10x10", 9.0, 10.0): (1.4357, 0.0177),
    ("10x10", 45.0, 50.0): (1.2888, 0.0148),
    ("10x10", 195.0, 200.0): (0.5810, 0.0089),
    ("3x3", 5.0, 6.0): (1.2129, 0.0197),
    ("3x3", 45.0, 50.0): (1.2186, 0.0137),
    ("3x3", 95.0, 100.0): (0.8929, 0.0133),
    ("3x3", 195.0, 200.0): (0.4906, 0.0076),
}
# (slab, field, from, to) -> (slab / homogeneous, sigma)
SLABS = {
    ("bone", "10x10", 50.0, 55.0): (0.9689, 0.0121),
    ("bone", "10x10", 55.0, 75.0): (0.9348, 0.0057),
    ("bone", "10x10", 85.0, 150.0): (0.9288, 0.0036),
    ("lung", "3x3", 55.0, 100.0): (0.9709, 0.0040),
    ("lung", "3x3", 100.0, 150.0): (1.1129, 0.0049),
    ("lung", "3x3", 125.0, 150.0): (1.1306, 0.0070),
    ("lung", "3x3", 160.0, 250.0): (1.3683, 0.0053),
    ("lung", "10x10", 55.0, 145.0): (1.0864, 0.0036),
    ("lung", "10x10", 160.0, 250.0): (1.2849, 0.0046),
}
# cases not yet within the target: the largest relative difference measured, as a bound
NOT_YET = {
    # measured -5.6 %: the kernel is not hardened with depth (hardening=True gives -3.7 %,
    # as it also raises the 10 x 10 cm2 normalisation field by 1.9 %)
    ("3x3", 195.0, 200.0): 0.05,
}
SLAB_HU = {"lung": (50.0, 150.0, -749.0), "bone": (50.0, 80.0, 1525.0)}
FIELD_MM = {"3x3": 30.0, "10x10": 100.0}


@functools.lru_cache(maxsize=8)
def _dose(phantom: str, field: str) -> rtplan.Image:
    """Collapsed-cone dose per unit fluence of a field on a phantom (machine 6X-MC)."""
    if phantom == "water":  # as wide as the Monte Carlo's: the output factors need it
        width = 200.0 if field == "3x3" else 240.0
        ct = water_phantom(width_mm=width, depth_mm=260.0, spacing_mm=2.5)
    else:
        width = 120.0 if field == "3x3" else 160.0
        slabs = [SLAB_HU[phantom]] if phantom in SLAB_HU else []
        ct = slab_phantom(slabs, width_mm=width, depth_mm=260.0, spacing_mm=2.5)
    setup = prepare_setup(ct, grid_mm=2.5)
    h = FIELD_MM[field] / 2.0
    beam = rtplan.Beam(energy="6X-MC", jaws_mm=(-h, h, -h, h))
    dose = get_engine("collapsed-cone").beam_dose(beam, setup, load_machine("6X-MC"))
    return rtplan.Image(array=dose, grid=setup.grid)


def _cax(image: rtplan.Image, field: str, lo: float, hi: float) -> float:
    """Mean over the central-axis box (a third of the field wide) between two depths."""
    a = FIELD_MM[field] / 6.0
    xs = np.linspace(-a, a, 7)
    ys = np.arange(lo + 0.25, hi, 0.5)
    x, y, z = np.meshgrid(xs, ys, xs, indexing="ij")
    return float(np.mean(image.sample(np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1))))


def _water(key: tuple[str, float, float]) -> float:
    field, lo, hi = key
    ref = _cax(_dose("water", "10x10"), "10x10", 95.0, 100.0)
    return _cax(_dose("water", field), field, lo, hi) / ref


def _slab(key: tuple[str, str, float, float]) -> float:
    kind, field, lo, hi = key
    return _cax(_dose(kind, field), field, lo, hi) / _cax(_dose("tissue", field), field, lo, hi)


def _target(key: tuple[object, ...]) -> list[object]:
    marks = [pytest.mark.xfail(strict=True, reason="not yet within 2 %")] if key in NOT_YET else []
    return [pytest.param(key, marks=marks, id="-".join(str(k) for k in key))]


@pytest.mark.parametrize("key", [p for k in WATER for p in _target(k)])
def test_water_within_2_percent_of_monte_carlo(key):
    mc, sigma = WATER[key]
    assert _water(key) == pytest.approx(mc, rel=TARGET + sigma / mc)


@pytest.mark.parametrize("key", list(NOT_YET), ids=lambda k: "-".join(str(v) for v in k))
def test_cases_not_yet_within_target_do_not_regress(key):
    if key in WATER:
        (mc, sigma), value = WATER[key], _water(key)
    else:
        (mc, sigma), value = SLABS[key], _slab(key)
    assert value == pytest.approx(mc, rel=NOT_YET[key] + sigma / mc)


@pytest.mark.parametrize("key", [p for k in SLABS for p in _target(k)])
def test_bone_and_lung_slabs_within_2_percent_of_monte_carlo(key):
    mc, sigma = SLABS[key]
    assert _slab(key) == pytest.approx(mc, rel=TARGET + sigma / mc)


def test_dose_to_medium_in_bone_is_below_dose_to_water():
    # inside cortical bone (mass density 1.92, electron density 1.78 relative to water) the
    # dose to medium is eta / rho = 0.93 of the energy per water-equivalent mass the kernels
    # deposit (Ahnesjö 1989); the Monte Carlo's slab/homogeneous ratio (0.935) shows it, and
    # a dose-to-medium conversion by 1 / s_w,m (0.898) would fall 4 % below it
    setup = prepare_setup(slab_phantom([SLAB_HU["bone"]], width_mm=40.0, depth_mm=100.0))
    y = setup.grid.axis_mm(1)
    factor = setup.medium_factor()[:, (y > 55.0) & (y < 75.0), :]
    rho = setup.density_g_cm3[:, (y > 55.0) & (y < 75.0), :]
    assert float(rho.mean()) == pytest.approx(1.92, abs=0.01)
    assert float(factor.mean()) == pytest.approx(0.93, abs=0.01)


def test_primary_share_of_the_kernel_is_the_energy_transfer_fraction():
    # the share of a photon's energy given to the charged particles of its first
    # interaction is E_tr / E = mu_tr / mu, which exceeds mu_en / mu (Hubbell & Seltzer,
    # NISTIR 5632) only by the radiative yield g (below 1.5 % at 6 MeV in water)
    from rtplan.dose._deposition import cone_kernel
    from rtplan.dose._physics import mu_en_rho_water, mu_rho_water_without_coherent

    energy = np.array([0.5, 1.0, 2.0, 4.0, 6.0])
    share = cone_kernel(load_machine("6X")).primary_share_of(energy)
    ratio = share / (mu_en_rho_water(energy) / mu_rho_water_without_coherent(energy))
    assert np.all(ratio > 0.99)
    assert np.all(ratio < 1.02)


def test_primary_and_scatter_kernels_add_up_to_the_whole_kernel():
    from rtplan.dose._deposition import cone_kernel

    ck = cone_kernel(load_machine("6X"))
    # every cone's fitted kernel holds exactly the energy the Monte Carlo kernel puts in it
    np.testing.assert_allclose(ck.amplitude.sum(axis=1), ck.fraction, rtol=1e-4)
    _dirs, whole, _rate = ck.directions(8)
    share = 0.525
    parts = ck.component_amplitudes(8, share)
    np.testing.assert_allclose(share * parts[:, 0] + (1 - share) * parts[:, 1], whole, atol=1e-12)

    # the primary electrons impart their energy within 2 cm (CSDA range of 6 MeV electrons
    # in water: 3.0 cm, mean energy below 2 MeV), the scattered photons mostly beyond
    def beyond(amp, r_cm):
        return float((amp * np.exp(-ck.rate_per_cm * r_cm)).sum() / amp.sum())

    assert beyond(ck.primary_amplitude, 2.0) < 0.01
    assert beyond(ck.scatter_amplitude, 2.0) > 0.9


@functools.lru_cache(maxsize=2)
def _hardened_3x3() -> rtplan.Image:
    ct = water_phantom(width_mm=160.0, depth_mm=260.0, spacing_mm=2.5)
    setup = prepare_setup(ct, grid_mm=2.5)
    beam = rtplan.Beam(energy="6X-MC", jaws_mm=(-15.0, 15.0, -15.0, 15.0))
    engine = CollapsedConeEngine(hardening=True)
    dose = engine.beam_dose(beam, setup, load_machine("6X-MC"))
    return rtplan.Image(array=dose, grid=setup.grid)


def test_hardening_brings_the_small_field_depth_dose_within_2_percent():
    # 3 x 3 cm2 at 195-200 mm over 45-50 mm: Monte Carlo 0.4026 +- 0.0068; the whole
    # kernel of the surface spectrum gives 3.9 % less
    (mc_deep, s_deep), (mc_ref, s_ref) = WATER[("3x3", 195.0, 200.0)], WATER[("3x3", 45.0, 50.0)]
    mc = mc_deep / mc_ref
    sigma = mc * math.hypot(s_deep / mc_deep, s_ref / mc_ref)
    img = _hardened_3x3()
    value = _cax(img, "3x3", 195.0, 200.0) / _cax(img, "3x3", 45.0, 50.0)
    assert value == pytest.approx(mc, rel=TARGET + sigma / mc)


def _field_dose(field_mm: float, tilt: bool) -> tuple[float, float]:
    """Energy imparted in a water tank (all voxels) and the central-axis dose at 15-20 cm."""
    ct = water_phantom(width_mm=field_mm + 160.0, depth_mm=260.0, spacing_mm=5.0)
    setup = prepare_setup(ct, grid_mm=5.0)
    h = field_mm / 2.0
    beam = rtplan.Beam(energy="6X-MC", jaws_mm=(-h, h, -h, h))
    dose = CollapsedConeEngine(tilt=tilt).beam_dose(beam, setup, load_machine("6X-MC"))
    img = rtplan.Image(array=dose, grid=setup.grid)
    return float(dose.sum()), _cax(img, "10x10", 150.0, 200.0)


def test_tilted_kernel_keeps_the_energy_and_lowers_the_broad_field_at_depth():
    """Tilting turns each voxel's kernel, it releases the same energy: the energy imparted
    in the tank agrees within 0.5 %; on the axis of a 20 x 20 cm² field at 15-20 cm the
    field edges' forward scatter no longer points to the centre (measured 4 % less on this
    5 mm grid)."""
    total_tilted, deep_tilted = _field_dose(200.0, tilt=True)
    total_aligned, deep_aligned = _field_dose(200.0, tilt=False)
    assert total_tilted == pytest.approx(total_aligned, rel=0.005)
    assert 0.94 < deep_tilted / deep_aligned < 0.98


@functools.lru_cache(maxsize=4)
def _tilted_hardened(field: str) -> rtplan.Image:
    width = 200.0 if field == "3x3" else 240.0
    ct = water_phantom(width_mm=width, depth_mm=260.0, spacing_mm=2.5)
    setup = prepare_setup(ct, grid_mm=2.5)
    h = FIELD_MM[field] / 2.0
    beam = rtplan.Beam(energy="6X-MC", jaws_mm=(-h, h, -h, h))
    engine = CollapsedConeEngine(hardening=True, tilt=True)
    dose = engine.beam_dose(beam, setup, load_machine("6X-MC"))
    return rtplan.Image(array=dose, grid=setup.grid)


@pytest.mark.parametrize("key", list(WATER), ids=lambda k: "-".join(str(v) for v in k))
def test_tilted_and_hardened_water_within_2_percent_of_monte_carlo(key):
    """With the kernel tilted and hardened every stored water case is within the target,
    the 3 x 3 cm² field at 20 cm (5.6 % low by default) included."""
    mc, sigma = WATER[key]
    field, lo, hi = key
    ref = _cax(_tilted_hardened("10x10"), "10x10", 95.0, 100.0)
    value = _cax(_tilted_hardened(field), field, lo, hi) / ref
    assert value == pytest.approx(mc, rel=TARGET + sigma / mc)
