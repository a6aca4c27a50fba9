"""Gamma pass rates against pymedphys.gamma on the same inputs and conventions.

Conventions matched: the normalisation dose is the reference maximum (pymedphys'
``global_normalisation`` default), the lower cutoff applies to the reference dose as a
percentage of it (``lower_percent_dose_cutoff``), ``max_gamma`` caps the search, points
without a value are left out of the pass rate.

pymedphys samples each search sphere on shells of points ``distance / interp_fraction``
apart, so its gamma is an upper bound of the continuous minimum and its pass rate converges
from below as ``interp_fraction`` grows; rtplan refines each point's minimum continuously
between lattice nodes. Where pymedphys has converged at its default ``interp_fraction=10``
(3 %/3 mm and 2 %/2 mm here) the pass rates agree within 0.2 percentage points; at
1 %/1 mm across a steep penumbra pymedphys needs ``interp_fraction=40`` to get there.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from rtplan.evaluate import gamma

pymedphys = pytest.importorskip("pymedphys")

pytestmark = pytest.mark.peer


def _field(
    axes: list[np.ndarray], shift: tuple[float, ...], scale: float, hot: float
) -> np.ndarray:
    """A flattened field with 5 mm erf penumbrae, a low-dose halo and a hot spot."""
    grids = np.meshgrid(*axes, indexing="ij")
    c = [g - s for g, s in zip(grids, shift, strict=True)]
    prof = np.ones_like(c[0])
    for k, half in zip(c, (22, 30, 26)[-len(c) :], strict=True):
        prof = prof * 0.5 * (erf((half - np.abs(k)) / 5) + 1)
    r2 = sum(k * k for k in c)
    spot = hot * np.exp(-sum((k - 5) ** 2 for k in c) / 60)
    return (
        60 * scale * (prof * (0.92 + 0.08 * np.cos(c[-1] / 12)) + 0.06 * np.exp(-r2 / 3000) + spot)
    )


AX2 = [np.arange(-50, 50.1, 1.0), np.arange(-60, 60.1, 1.0)]
AXE2 = [np.arange(-55, 55.1, 0.8), np.arange(-65, 65.1, 0.8)]  # finer, larger grid


@pytest.fixture(scope="module")
def plane() -> tuple[np.ndarray, np.ndarray]:
    ref = _field(AX2, (0.0, 0.0), 1.0, 0.0)
    ev = _field(AXE2, (0.8, -0.6), 1.02, 0.03)
    return ref, ev


def _pmp_rate(
    ref: np.ndarray,
    ev: np.ndarray,
    axes: list[np.ndarray],
    axes_e: list[np.ndarray],
    dp: float,
    dta: float,
    local: bool,
    interp_fraction: int = 10,
) -> float:
    g = pymedphys.gamma(
        tuple(axes),
        ref,
        tuple(axes_e),
        ev,
        dp,
        dta,
        lower_percent_dose_cutoff=10,
        interp_fraction=interp_fraction,
        max_gamma=2,
        local_gamma=local,
    )
    valid = ~np.isnan(g)
    return float(100.0 * np.count_nonzero(g[valid] <= 1) / np.count_nonzero(valid))


@pytest.mark.parametrize(
    ("dp", "dta", "local"), [(3, 3, False), (2, 2, False), (3, 3, True), (2, 2, True)]
)
def test_2d_pass_rate_matches_pymedphys(
    plane: tuple[np.ndarray, np.ndarray], dp: float, dta: float, local: bool
) -> None:
    ref, ev = plane
    ours = gamma(ref, ev, dp, dta, 10, local, reference_axes_mm=AX2, evaluated_axes_mm=AXE2)
    theirs = _pmp_rate(ref, ev, AX2, AXE2, dp, dta, local)
    assert 60.0 < ours.pass_rate < 99.9  # a discriminating comparison
    assert abs(ours.pass_rate - theirs) <= 0.2


def test_2d_tight_criterion_pymedphys_converges_to_rtplan(
    plane: tuple[np.ndarray, np.ndarray],
) -> None:
    ref, ev = plane
    ours = gamma(ref, ev, 1, 1, 10, reference_axes_mm=AX2, evaluated_axes_mm=AXE2).pass_rate
    rates = [_pmp_rate(ref, ev, AX2, AXE2, 1, 1, False, n) for n in (10, 20, 40)]
    # pymedphys' sampled minimum only decreases as its sampling gets finer ...
    assert rates[0] <= rates[1] <= rates[2]
    # ... towards rtplan's continuous minimum, which it never beats
    assert rates[2] <= ours + 0.01
    assert ours - rates[2] <= 0.2
    assert ours - rates[0] > 0.2  # the default sampling alone is not enough here


@pytest.mark.slow
def test_3d_pass_rate_matches_pymedphys() -> None:
    ax = [np.arange(-40, 40.1, 2.5), np.arange(-50, 50.1, 2.5), np.arange(-45, 45.1, 2.5)]
    axe = [np.arange(-44, 44.1, 2.0), np.arange(-54, 54.1, 2.0), np.arange(-50, 50.1, 2.0)]
    ref = _field(ax, (0.0, 0.0, 0.0), 1.0, 0.0)
    ev = _field(axe, (0.8, -0.6, 0.5), 1.02, 0.03)
    for dp, dta in ((3, 3), (2, 2)):
        ours = gamma(ref, ev, dp, dta, 10, reference_axes_mm=ax, evaluated_axes_mm=axe)
        theirs = _pmp_rate(ref, ev, ax, axe, dp, dta, False)
        assert 90.0 < ours.pass_rate < 99.9
        assert abs(ours.pass_rate - theirs) <= 0.2


def _crossing_beams(
    axes: list[np.ndarray], shift: tuple[float, float, float], scale: float, turn_deg: float
) -> np.ndarray:
    """Three beams crossing at 120 degrees: erf-edged, attenuated with depth (axes z, y, x)."""
    z, y, x = (g - s for g, s in zip(np.meshgrid(*axes, indexing="ij"), shift, strict=True))
    total = np.zeros_like(x)
    for gantry in (0.0, 120.0, 240.0):
        t = np.radians(gantry + turn_deg)
        depth = 80.0 + np.cos(t) * y + np.sin(t) * x
        across = -np.sin(t) * y + np.cos(t) * x
        edges = (erf((24 - np.abs(across)) / 4.5) + 1) * (erf((28 - np.abs(z)) / 4.5) + 1)
        total += np.exp(-0.0045 * depth) * 0.25 * edges
    return 20.0 * scale * total


@pytest.mark.slow
def test_3d_crossing_beams_pass_rate_matches_pymedphys() -> None:
    """A field the gamma code was not developed on: a rotated, shifted, hotter evaluation."""
    ax = [np.arange(-10, 10.1, 2.5), np.arange(-50, 50.1, 2.5), np.arange(-50, 50.1, 2.5)]
    axe = [np.arange(-15, 15.1, 3.0), np.arange(-57, 57.1, 3.0), np.arange(-57, 57.1, 3.0)]
    ref = _crossing_beams(ax, (0.0, 0.0, 0.0), 1.0, 0.0)
    ev = _crossing_beams(axe, (1.0, -0.8, 0.6), 1.025, 1.5)
    for dp, dta in ((3, 2), (2, 2)):
        ours = gamma(ref, ev, dp, dta, 10, reference_axes_mm=ax, evaluated_axes_mm=axe)
        theirs = _pmp_rate(ref, ev, ax, axe, dp, dta, False)
        assert 80.0 < ours.pass_rate < 99.9
        assert abs(ours.pass_rate - theirs) <= 0.2
