"""Gamma index against closed forms.

For a reference ``D_r(x) = a + g . x`` and an evaluated ``D_e = alpha D_r + beta`` (both
linear, so trilinear interpolation is exact on any grid), the evaluated dose near ``x`` at
offset ``u`` differs from ``D_r(x)`` by ``delta + alpha g . u`` with
``delta = (alpha - 1) D_r(x) + beta``; minimising ``(diff / dD)**2 + |u|**2 / dta**2``
over ``u`` gives::

    gamma(x)**2 = delta**2 / (dD**2 + alpha**2 |g|**2 dta**2)

rtplan searches a lattice of step ``s = dta / interp_fraction``, so its gamma lies between
the continuous minimum and ``sqrt(gamma**2 + e)`` where ``e`` bounds the increase of the
quadratic form over the distance to the nearest lattice node (at most ``s sqrt(n) / 2`` in
``n`` dimensions): ``e = (alpha**2 |g|**2 / dD**2 + 1 / dta**2) n s**2 / 4``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import rtplan
from rtplan.errors import RtplanWarning
from rtplan.evaluate import EvaluationError, gamma


def _bounds(
    delta: np.ndarray,
    dd: np.ndarray | float,
    alpha: float,
    gnorm: float,
    dta: float,
    ndim: int,
    nfrac: int,
) -> tuple[np.ndarray, np.ndarray]:
    g2 = delta**2 / (dd**2 + alpha**2 * gnorm**2 * dta**2)
    s = dta / nfrac
    e = (alpha**2 * gnorm**2 / dd**2 + 1.0 / dta**2) * ndim * s * s / 4.0
    return np.sqrt(g2), np.sqrt(g2 + e)


def _check(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, cap: float = 2.0) -> None:
    ok = ~np.isnan(values)
    assert ok.any()
    v, lo, hi = values[ok], np.minimum(lo[ok], cap), np.minimum(hi[ok], cap)
    assert np.all(v >= lo - 1e-9), float(np.max(lo - v))
    assert np.all(v <= hi + 1e-9), float(np.max(v - hi))


def test_1d_ramp_shift_equals_continuous_minimum() -> None:
    x = np.arange(0.0, 80.0, 1.0)
    g, shift, dta = 0.8, 1.0, 3.0
    ref = 10 + g * x
    ev = 10 + g * (x - shift)
    r = gamma(ref, ev, 3, dta, 0, reference_axes_mm=[x], evaluated_axes_mm=[x], max_gamma=3)
    dd = 0.03 * ref.max()
    expected = shift / math.sqrt(dta**2 + (dd / g) ** 2)
    # the minimiser lies between lattice nodes (step 0.3 mm): the continuous search finds it
    s = dta / 10
    m = np.arange(-30, 31)
    lattice_only = np.sqrt(np.min(((g * (m * s - shift)) / dd) ** 2 + (m * s / dta) ** 2))
    assert lattice_only > expected * 1.005
    np.testing.assert_allclose(r.values[10:-10], expected, rtol=1e-9)
    assert r.pass_rate == 100.0
    assert r.values.shape == (80,)


def test_steep_gradient_local_gamma_is_found_between_lattice_nodes() -> None:
    """A 5 Gy/mm edge with a 0.3 Gy criterion: the match lies 0.42 mm away, off the lattice."""
    x = np.arange(-20.0, 20.1, 0.5)
    ref = 80.0 + 5.0 * x
    ev = 80.0 + 5.0 * (x - 0.42)
    r = gamma(
        ref, ev, 1, 3, 0, True, normalization_gy=30.0, reference_axes_mm=[x], evaluated_axes_mm=[x]
    )
    # local criterion 1 % of D_r; gamma = 0.42 / sqrt(9 + (0.01 D_r / 5)**2)
    inner = np.abs(x) < 10
    expected = 0.42 / np.sqrt(9 + (0.01 * ref / 5.0) ** 2)
    np.testing.assert_allclose(r.values[inner], expected[inner], rtol=1e-9)


@pytest.mark.parametrize("local", [False, True])
def test_2d_linear_fields_on_different_grids(local: bool) -> None:
    ax_r = [np.arange(-40.0, 40.1, 2.0), np.arange(-30.0, 30.1, 2.5)]
    ax_e = [np.arange(-50.0, 50.1, 1.5), np.arange(-45.0, 45.1, 1.0)]
    a, gvec = 40.0, np.array([0.6, -0.9])  # Gy/mm along array axes 0 and 1
    alpha, beta = 1.02, -0.3
    y, x = np.meshgrid(*ax_r, indexing="ij")
    ref = a + gvec[0] * y + gvec[1] * x
    ye, xe = np.meshgrid(*ax_e, indexing="ij")
    ev = alpha * (a + gvec[0] * ye + gvec[1] * xe) + beta
    dta, p = 2.0, 3.0
    r = gamma(ref, ev, p, dta, 0, local, reference_axes_mm=ax_r, evaluated_axes_mm=ax_e)
    delta = (alpha - 1) * ref + beta
    dd = p / 100 * (ref if local else ref.max())
    lo, hi = _bounds(delta, dd, alpha, float(np.linalg.norm(gvec)), dta, 2, 10)
    _check(r.values, lo, hi)
    assert r.local is local
    assert r.values.shape == ref.shape


def test_3d_images_rotated_and_finer_evaluated_grid() -> None:
    gr = rtplan.Grid(shape=(14, 16, 18), spacing_mm=(3.0, 2.5, 2.5), origin_mm=(-21, -19, -20))
    ang = math.radians(30)
    rot = np.array(
        [[math.cos(ang), -math.sin(ang), 0], [math.sin(ang), math.cos(ang), 0], [0, 0, 1]]
    )
    start = rot @ np.array([-40.0, -40.0, -40.0])  # corner, in the rotated axes
    ge = rtplan.Grid(
        shape=(41, 54, 45), spacing_mm=(2.0, 1.5, 1.8), origin_mm=tuple(start), direction=rot
    )
    a, gvec = 30.0, np.array([0.5, 0.3, -0.7])
    alpha, beta = 0.985, 0.4
    ref = rtplan.Dose(array=a + gr.centers_mm() @ gvec, grid=gr)
    ev = rtplan.Dose(array=alpha * (a + ge.centers_mm() @ gvec) + beta, grid=ge)
    r = gamma(ref, ev, 2.0, 2.0, 0.0)
    assert r.gamma_map.grid == gr
    assert r.gamma_map.array.shape == gr.shape
    delta = (alpha - 1) * ref.array + beta
    lo, hi = _bounds(delta, 0.02 * ref.array.max(), alpha, float(np.linalg.norm(gvec)), 2.0, 3, 10)
    _check(r.gamma_map.array, lo, hi)


def test_uniform_offset_gives_dose_difference_over_criterion_and_cap() -> None:
    ax = [np.arange(0.0, 30.0, 2.0)] * 3
    ref = np.full((15, 15, 15), 50.0)
    for offset, expected in ((0.75, 0.5), (1.5, 1.0), (2.1, 1.4), (4.0, 2.0), (30.0, 2.0)):
        r = gamma(ref, ref + offset, 3, 3, 10, reference_axes_mm=ax, evaluated_axes_mm=ax)
        np.testing.assert_allclose(r.values, expected, rtol=1e-12)
    r = gamma(ref, ref + 4.0, 3, 3, 10, max_gamma=5, reference_axes_mm=ax, evaluated_axes_mm=ax)
    np.testing.assert_allclose(r.values, 4.0 / 1.5, rtol=1e-12)
    assert r.pass_rate == 0.0
    assert r.n_passed == 0


def test_threshold_excludes_low_dose_points() -> None:
    x = np.arange(0.0, 100.0, 1.0)
    ref = np.linspace(0.0, 100.0, 100)
    r = gamma(ref, ref, 3, 3, 20, reference_axes_mm=[x], evaluated_axes_mm=[x])
    assert r.n_evaluated == int(np.count_nonzero(ref >= 20.0))
    assert np.all(np.isnan(r.values[ref < 20.0]))
    assert np.all(r.values[ref >= 20.0] == 0.0)
    # normalisation given explicitly: the threshold follows it
    r = gamma(
        ref, ref, 3, 3, 20, normalization_gy=50.0, reference_axes_mm=[x], evaluated_axes_mm=[x]
    )
    assert r.n_evaluated == int(np.count_nonzero(ref >= 10.0))
    assert r.normalization_gy == 50.0


def test_points_out_of_reach_are_left_out_with_warning() -> None:
    xr = np.arange(0.0, 60.0, 1.0)
    xe = np.arange(0.0, 30.0, 1.0)
    ref = np.full(60, 10.0)
    with pytest.warns(RtplanWarning, match=r"26 of 60 reference points .* further than 4 mm"):
        r = gamma(ref, np.full(30, 10.0), 3, 2, 10, reference_axes_mm=[xr], evaluated_axes_mm=[xe])
    assert r.n_evaluated == 34  # x <= 29 + 4 mm
    # beyond the evaluated grid gamma is the distance to its edge over 2 mm
    np.testing.assert_allclose(r.values[30:34], (xr[30:34] - 29.0) / 2.0, rtol=1e-12)
    assert r.pass_rate == pytest.approx(100.0 * 32 / 34)
    assert np.isnan(r.values[-1])


def test_stop_at_pass_keeps_the_pass_rate() -> None:
    rng = np.random.default_rng(5)
    ax = [np.arange(0.0, 60.0, 2.0)] * 2
    y, x = np.meshgrid(*ax, indexing="ij")
    ref = 60 * np.exp(-((x - 30) ** 2 + (y - 30) ** 2) / 300.0)
    ev = 1.04 * 60 * np.exp(-((x - 32) ** 2 + (y - 30.5) ** 2) / 300.0)
    ev = ev + rng.normal(0, 0.5, ev.shape)
    full = gamma(ref, ev, 2, 2, 10, reference_axes_mm=ax, evaluated_axes_mm=ax)
    fast = gamma(ref, ev, 2, 2, 10, stop_at_pass=True, reference_axes_mm=ax, evaluated_axes_mm=ax)
    assert 0 < full.pass_rate < 100
    assert fast.pass_rate == full.pass_rate
    passing = full.values <= 1
    assert np.all(fast.values[passing] <= 1)
    failing = full.values > 1
    np.testing.assert_array_equal(fast.values[failing], full.values[failing])


def test_decreasing_axes_are_handled() -> None:
    ax = [np.arange(0.0, 40.0, 2.0), np.arange(0.0, 30.0, 1.5)]
    y, x = np.meshgrid(*ax, indexing="ij")
    ref = 20 + 0.5 * x + 0.2 * y
    ev = 20 + 0.5 * (x - 1.0) + 0.2 * y
    r = gamma(ref, ev, 3, 3, 0, reference_axes_mm=ax, evaluated_axes_mm=ax)
    rev = [a[::-1] for a in ax]
    r2 = gamma(
        ref[::-1, ::-1], ev[::-1, ::-1], 3, 3, 0, reference_axes_mm=rev, evaluated_axes_mm=rev
    )
    np.testing.assert_allclose(r2.values[::-1, ::-1], r.values, rtol=1e-12)
    # the gamma map keeps the input order: voxel (0, 0) is at the given first coordinates
    assert r2.gamma_map.grid.index_to_mm([0, 0, 0]).tolist() == [ax[1][-1], ax[0][-1], 0.0]


def test_result_api() -> None:
    x = np.arange(0.0, 50.0, 1.0)
    ref = np.full(50, 60.0)
    r = gamma(ref, ref + 0.9, 3, 3, 10, reference_axes_mm=[x], evaluated_axes_mm=[x])
    assert r.mean_gamma == pytest.approx(0.5)
    assert r.percentile(50) == pytest.approx(0.5)
    assert "gamma 3 %/3 mm (global" in r.summary()
    assert "pass rate 100.00 %" in repr(r)
    assert r.gamma_map.units == "1"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dose_percent": 0}, "dose_percent"),
        ({"distance_mm": -1}, "distance_mm"),
        ({"threshold_percent": -5}, "threshold_percent"),
        ({"max_gamma": 0.5}, "max_gamma"),
        ({"interp_fraction": 2.5}, "interp_fraction"),
        ({"normalization_gy": 0.0}, "normalisation dose must be positive"),
    ],
)
def test_bad_criteria_raise(kwargs: dict[str, float], match: str) -> None:
    x = np.arange(5.0)
    with pytest.raises(EvaluationError, match=match):
        gamma(np.ones(5), np.ones(5), reference_axes_mm=[x], evaluated_axes_mm=[x], **kwargs)  # type: ignore[arg-type]


def test_bad_inputs_raise() -> None:
    x = np.arange(5.0)
    with pytest.raises(EvaluationError, match="needs its coordinates"):
        gamma(np.ones(5), np.ones(5))
    with pytest.raises(EvaluationError, match="evenly spaced"):
        gamma(np.ones(5), np.ones(5), reference_axes_mm=[[0, 1, 2, 4, 5]], evaluated_axes_mm=[x])
    with pytest.raises(EvaluationError, match="same dimensionality"):
        gamma(np.ones(5), np.ones((5, 5)), reference_axes_mm=[x], evaluated_axes_mm=[x, x])
    with pytest.raises(EvaluationError, match="must be finite"):
        gamma(
            np.ones(5), np.array([1, np.nan, 1, 1, 1]), reference_axes_mm=[x], evaluated_axes_mm=[x]
        )
    with pytest.raises(EvaluationError, match="4 coordinates for 5"):
        gamma(np.ones(5), np.ones(5), reference_axes_mm=[x[:4]], evaluated_axes_mm=[x])
    g = rtplan.Grid(shape=(2, 2, 2), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0))
    img = rtplan.Dose(array=np.ones((2, 2, 2)), grid=g)
    with pytest.raises(EvaluationError, match="only for numpy arrays"):
        gamma(img, img, reference_axes_mm=[x])


def test_cube_bound_is_below_every_dose_difference_in_its_box() -> None:
    """The pruning bound of a lattice cube never exceeds |D_e - D_r| anywhere in its box."""
    from rtplan._kernels import trilinear
    from rtplan.evaluate._gamma_kernels import _box_gap

    rng = np.random.default_rng(11)
    ev = np.cumsum(rng.normal(0.0, 1.0, (9, 11, 13)), axis=2) + 20.0  # rough, with gradients
    for _ in range(300):
        centre = rng.uniform(-1.0, [13.0, 11.0, 9.0])  # (i, j, k), partly beyond the edges
        half = rng.uniform(0.0, 1.5, 3) * (rng.random(3) > 0.1)
        dr = float(rng.uniform(ev.min() - 2.0, ev.max() + 2.0))
        gap = _box_gap(ev, *centre, *half, dr, trilinear(ev, *centre))
        assert gap <= abs(trilinear(ev, *centre) - dr)
        pts = centre + half * rng.uniform(-1.0, 1.0, (200, 3))
        corners = centre + half * np.array(
            [[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]
        )
        for x in np.concatenate([pts, corners]):
            assert abs(trilinear(ev, *x) - dr) >= gap


def test_cap_at_once_uses_the_dose_range_around_the_point() -> None:
    """A point is capped at once exactly when the filtered dose range keeps it max_gamma away."""
    from scipy import ndimage

    from rtplan.evaluate._gamma_kernels import _capped_at_once

    rng = np.random.default_rng(7)
    ev = rng.random((14, 17, 19)) + 1.0
    window = np.array([2, 3, 1])  # (k, j, i) voxels either side
    size = tuple(2 * window + 1)
    lo = ndimage.minimum_filter(ev, size=size, mode="nearest")
    hi = ndimage.maximum_filter(ev, size=size, mode="nearest")
    dd, cap2 = 0.1, 4.0
    seen = set()
    for _ in range(400):
        pos = rng.uniform(-2.0, [20.0, 18.0, 15.0])  # (i, j, k), partly off the grid
        dr = float(rng.choice([rng.uniform(0.4, 2.6), 2.0 + 0.2 * rng.random(), 0.8]))
        clipped = np.clip(pos, 0.0, np.array(ev.shape[::-1]) - 1.0)
        node = tuple(np.rint(clipped).astype(int)[::-1])
        here = ndimage.map_coordinates(ev, [[c] for c in clipped[::-1]], order=1)[0]
        need = abs(here - dr) > 0.3 * dd
        gap = max(0.0, lo[node] - dr, dr - hi[node])
        expected = bool(need and (gap / dd) ** 2 >= cap2)
        assert _capped_at_once(ev, *pos, dr, dd, 1.0 / dd, window, cap2) == expected
        seen.add(expected)
    assert seen == {False, True}
