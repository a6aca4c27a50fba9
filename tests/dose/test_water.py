"""Acceptance in water against published 6 MV data.

Reference values: percentage depth doses of typical 6 MV beams, 10 x 10 cm2 at SSD 100 cm:
86 % at 5 cm, 67 % at 10 cm, 40 % at 20 cm, d_max 12-18 mm (British Journal of Radiology
Supplement 25, 1996); 1 MU = 1 cGy at d_max for this field (the calibration convention of
the beam model); profiles flat within 3 % over the central 80 % and an 80-20 % penumbra of
4-9 mm at 10 cm depth; output factors and PDD(10) rising with field size (phantom and head
scatter); inverse-square law for the primary beam.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("engine", ["collapsed-cone", "pencil-beam"])
def test_depth_dose_10x10_matches_published_6mv(water_run, engine):
    run = water_run(engine, 100.0)
    d_max_mm, _ = run.d_max()
    assert 12.0 <= d_max_mm <= 18.0
    assert run.pdd(50.0) == pytest.approx(86.0, abs=2.0)
    assert run.pdd(100.0) == pytest.approx(67.0, abs=2.0)
    assert run.pdd(200.0) == pytest.approx(40.0, abs=2.0)


@pytest.mark.parametrize("engine", ["collapsed-cone", "pencil-beam"])
def test_one_mu_gives_one_cgy_at_dmax(water_run, engine):
    # The calibration is made on a 24 cm wide, 20 cm deep phantom; this one is 20 x 25 cm.
    _, gy_per_mu = water_run(engine, 100.0).d_max()
    assert gy_per_mu * 100.0 == pytest.approx(1.00, abs=0.02)


def test_output_and_pdd_rise_with_field_size(water_run):
    runs = [
        water_run("collapsed-cone", 50.0),
        water_run("collapsed-cone", 100.0),
        water_run("collapsed-cone", 200.0, width_mm=300.0),
    ]
    outputs = [r.d_max()[1] for r in runs]
    pdd10 = [r.pdd(100.0) for r in runs]
    assert outputs[0] < outputs[1] < outputs[2]
    assert pdd10[0] < pdd10[1] < pdd10[2]
    # typical 6 MV total scatter factors: about 0.94-0.97 (5 x 5) and 1.04-1.08 (20 x 20)
    assert 0.92 < outputs[0] / outputs[1] < 0.98
    assert 1.03 < outputs[2] / outputs[1] < 1.09


def test_inverse_square_ssd_90_vs_100(water_run):
    near = water_run("collapsed-cone", 100.0, ssd_mm=900.0)
    far = water_run("collapsed-cone", 100.0, ssd_mm=1000.0)
    for depth in (30.0, 50.0, 100.0, 150.0, 200.0):
        expected = ((1000.0 + depth) / (900.0 + depth)) ** 2
        ratio = near.at_depth(depth) / far.at_depth(depth)
        assert ratio == pytest.approx(expected, rel=0.02), depth


@pytest.mark.parametrize("engine", ["collapsed-cone", "pencil-beam"])
def test_profile_at_10cm_flat_with_realistic_penumbra(water_run, engine):
    run = water_run(engine, 100.0)
    x, p = run.profile(100.0)
    p = p / np.interp(0.0, x, p)
    width = 100.0 * 1100.0 / 1000.0  # field width at 10 cm depth, SSD 100
    central = np.abs(x) <= 0.4 * width
    assert np.max(np.abs(p[central] - 1.0)) <= 0.03
    fine = np.linspace(0.0, x.max(), 40001)
    for side in (1.0, -1.0):
        prof = np.interp(fine, side * x[:: int(side)], p[:: int(side)])
        x80 = fine[np.argmax(prof < 0.8)]
        x50 = fine[np.argmax(prof < 0.5)]
        x20 = fine[np.argmax(prof < 0.2)]
        assert 4.0 <= x20 - x80 <= 9.0
        assert x50 == pytest.approx(0.5 * width, abs=1.5)  # 50 % at the geometric edge


def test_engines_agree_in_water(water_run):
    cc = water_run("collapsed-cone", 100.0)
    pb = water_run("pencil-beam", 100.0)
    for depth in (20.0, 50.0, 100.0, 150.0, 200.0):
        assert pb.at_depth(depth) == pytest.approx(cc.at_depth(depth), rel=0.02), depth
    x, a = cc.profile(100.0)
    _, b = pb.profile(100.0)
    inside = np.abs(x) <= 45.0
    np.testing.assert_allclose(b[inside], a[inside], rtol=0.02)


def test_dose_is_zero_outside_the_body_and_finite(water_run):
    run = water_run("collapsed-cone", 100.0)
    arr = np.asarray(run.dose.array)
    assert np.all(np.isfinite(arr))
    assert np.all(arr >= 0.0)
    assert run.dose.units == "Gy"
    assert run.dose.grid.spacing_mm == (2.5, 2.5, 2.5)
