"""The 2 %/2 mm composite test of ``benchmarks/dose/mc/compare.py`` on curves with known answers.

The curve is a smooth step, ``60 + 40 tanh((50 - x) / 5)``: flat at 100 and 20 on either
side of a steep fall at 50 mm. Shifted by ``s`` it takes the reference value exactly ``s``
away (it is monotonic), so every point's distance to agreement is ``s``; scaled by ``k`` its
local difference is ``k - 1`` everywhere.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

MC = Path(__file__).resolve().parents[2] / "benchmarks" / "dose" / "mc"
X = np.arange(0.0, 100.01, 0.5)


def step(x: np.ndarray) -> np.ndarray:
    return 60.0 + 40.0 * np.tanh((50.0 - x) / 5.0)


@pytest.fixture(scope="module")
def mc() -> ModuleType:
    sys.path.insert(0, str(MC))  # compare.py imports phantoms.py from its folder
    try:
        spec = importlib.util.spec_from_file_location("rtplan_mc_compare", MC / "compare.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(MC))
    return module


def test_shift_within_distance_passes_by_dta(mc: ModuleType) -> None:
    ref = step(X)
    res = mc.composite_test(X, ref, X, step(X - 1.5))  # the curve 1.5 mm deeper
    assert res.passed.all()
    steep = np.abs(res.local_percent) > 2.0  # passes there by distance alone
    assert 20 < np.count_nonzero(steep) < X.size
    inner = X < 98.0  # beyond, the shifted value lies outside the evaluated curve
    np.testing.assert_allclose(res.dta_mm[inner], 1.5, atol=0.02)
    assert res.worst() is None


def test_shift_beyond_distance_fails_where_steep(mc: ModuleType) -> None:
    ref = step(X)
    shifted = step(X - 2.5)
    res = mc.composite_test(X, ref, X, shifted)
    local = 100 * (shifted / ref - 1)
    np.testing.assert_allclose(res.local_percent, local, atol=1e-9)
    np.testing.assert_array_equal(res.passed, np.abs(local) <= 2.0)  # DTA 2.5 everywhere
    failing = X[~res.passed]
    assert failing.min() > 35.0
    assert failing.max() < 70.0  # the steep part only
    assert np.count_nonzero(~res.passed) > 20
    assert np.all(np.abs(res.dta_mm[X < 97.0] - 2.5) < 0.02)
    w = res.worst()
    assert w is not None
    assert not res.passed[w]
    assert res.dta_mm[w] == pytest.approx(2.5, abs=0.02)


def test_scale_within_dose_passes_everywhere(mc: ModuleType) -> None:
    ref = step(X)
    res = mc.composite_test(X, ref, X, 1.015 * ref)
    np.testing.assert_allclose(res.local_percent, 1.5, atol=1e-9)
    assert res.passed.all()
    assert res.pass_rate == 100.0


def test_scale_beyond_dose_fails_where_flat(mc: ModuleType) -> None:
    ref = step(X)
    res = mc.composite_test(X, ref, X, 1.03 * ref)
    np.testing.assert_allclose(res.local_percent, 3.0, atol=1e-9)
    steep = np.abs(np.gradient(ref, X)) > 2.0  # 2 % of 100 per mm: DTA under 1.5 mm
    flat = np.abs(np.gradient(ref, X)) < 0.05  # the plateaus: the value is > 2 mm away
    assert res.passed[steep].all()
    assert not res.passed[flat].any()
    assert np.count_nonzero(flat) > 100
    far = (X < 20.0) | (X > 80.0)  # no value within the 10 mm search
    assert np.isinf(res.dta_mm[far]).all()
    assert res.pass_rate < 50.0


def test_no_agreement_across_a_break(mc: ModuleType) -> None:
    # dose to medium drops by 10 % at a slab face (50 mm); the evaluated curve is 5 %
    # low inside the slab: linearly interpolated across the face it takes the slab's value
    # within 0.5 mm, which is no agreement of two doses in the same medium
    x = np.arange(0.25, 100.0, 0.5)
    ref = np.where(x < 50.0, 100.0, 90.0)
    ev = np.where(x < 50.0, 100.0, 85.5)
    across = mc.composite_test(x, ref, x, ev)
    inside = mc.composite_test(x, ref, x, ev, breaks_mm=(50.0,))
    face = (x > 50.0) & (x < 52.0)
    assert across.passed[face].all()
    assert not inside.passed[x > 50.0].any()
    assert inside.passed[x < 50.0].all()


def test_criterion_of_a_perfect_engine_and_a_low_one(mc: ModuleType) -> None:
    edges = np.concatenate([[0.0], np.arange(1.0, 100.5, 1.0)])
    x = 0.5 * (edges[1:] + edges[:-1])
    dose = 1.0 - 0.7 * np.exp(-x / 3.0) - x / 200.0  # a build-up, then 0.5 % per mm
    tested = edges[:-1] >= 5.0
    zero = np.zeros_like(dose)
    exact = mc.criterion(x, dose, zero, dose, tested, mc.absolute, seed="exact")
    assert exact["passes"]
    assert exact["n"] == np.count_nonzero(tested)
    assert exact["noise_only_pass_rate"] == 100.0
    assert exact["worst"] is None
    to_peak = mc.functools.partial(mc.to_peak, edges=edges)
    low = 0.97 * dose  # 3 % low: the maximum normalisation takes it out
    assert mc.criterion(x, dose, zero, low, tested, to_peak, seed="peak")["passes"]
    absolute = mc.criterion(x, dose, 0.02 * dose, low, tested, mc.absolute, seed="abs")
    assert not absolute["passes"]
    assert absolute["worst"]["local_percent"] == pytest.approx(-3.0)
    assert absolute["worst"]["sigma_percent"] == pytest.approx(2.0)
    assert absolute["n_failing_beyond_2sigma"] == 0  # 2 % + 2 sigma (6 %) covers 3 %
    assert 0.0 < absolute["noise_only_pass_rate"] < 100.0  # sigma 2 %: noise alone fails
