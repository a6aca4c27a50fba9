"""Exact radiological path lengths (Siddon / Jacobs) against analytic values."""

from __future__ import annotations

import numpy as np
import pytest

from rtplan.dose._siddon_kernels import radiological_path, ray_cumulative, ray_sum

SPACING = np.array([1.0, 2.0, 3.0])  # (di, dj, dk)


def _brute_force(values, s, p, n=200_000):
    t = (np.arange(n) + 0.5) / n
    pts = s[None, :] + t[:, None] * (p - s)[None, :]
    ijk = np.floor(pts / SPACING + 0.5).astype(int)
    nk, nj, ni = values.shape
    ok = np.all((ijk >= 0) & (ijk < np.array([ni, nj, nk])), axis=1)
    return values[ijk[ok, 2], ijk[ok, 1], ijk[ok, 0]].sum() * np.linalg.norm(p - s) / n


def test_uniform_grid_gives_geometric_length_inside_the_box():
    values = np.ones((7, 9, 11))
    # a ray along x through the whole box: length = 11 voxels * 1 mm
    assert ray_sum(values, SPACING, -50.0, 8.0, 9.0, 60.0, 8.0, 9.0) == pytest.approx(11.0)
    # oblique ray from far outside to a voxel centre: only the part inside counts
    s = np.array([-100.0, -100.0, -100.0])
    p = np.array([5.0, 8.0, 9.0])
    direction = (p - s) / np.linalg.norm(p - s)
    entry_t = max((-0.5 * SPACING - s) / direction)  # last of the three entry planes
    assert ray_sum(values, SPACING, *s, *p) == pytest.approx(np.linalg.norm(p - s) - entry_t)


def test_random_rays_match_fine_sampling():
    rng = np.random.default_rng(1234)
    values = rng.random((7, 9, 11))
    for _ in range(20):
        s = rng.uniform(-40.0, 50.0, 3)
        p = rng.uniform([-1.0, -1.0, -1.0], [11.0, 18.0, 21.0])
        assert ray_sum(values, SPACING, *s, *p) == pytest.approx(
            _brute_force(values, s, p), rel=2e-4, abs=1e-3
        )


def test_ray_missing_the_grid_and_zero_length():
    values = np.ones((3, 3, 3))
    assert ray_sum(values, SPACING, -10.0, -10.0, -10.0, -5.0, -20.0, -10.0) == 0.0
    assert ray_sum(values, SPACING, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0) == 0.0


def test_parallel_version_equals_serial():
    rng = np.random.default_rng(5)
    values = rng.random((5, 6, 7))
    pts = rng.uniform(0.0, 10.0, (50, 3))
    src = np.array([3.0, -200.0, 4.0])
    out = radiological_path(values, SPACING, src, pts)
    ref = [ray_sum(values, SPACING, *src, *q) for q in pts]
    np.testing.assert_allclose(out, ref)


def test_one_pass_cumulative_path_equals_separate_rays():
    rng = np.random.default_rng(77)
    values = rng.random((7, 9, 11))
    # checkpoints before the grid, inside it, at its far face and beyond it
    cps = np.array([0.0, 0.05, 0.2, 0.2, 0.37, 0.5, 0.81, 0.9, 1.0])
    out = np.empty(cps.size)
    for _ in range(20):
        s = rng.uniform(-40.0, 50.0, 3)
        p = rng.uniform(-20.0, 40.0, 3)
        ray_cumulative(values, SPACING, *s, *p, cps, out)
        ref = [ray_sum(values, SPACING, *s, *(s + c * (p - s))) for c in cps]
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-9)
    # a ray that misses the grid records zeros
    ray_cumulative(values, SPACING, -10.0, -10.0, -10.0, -5.0, -20.0, -10.0, cps, out)
    assert not np.any(out)


def test_fan_depths_match_exact_rays_away_from_edges():
    from rtplan.dose._terma import fan_radiological_depth
    from rtplan.dose._terma_kernels import beam_geometry, beam_projection

    # water with a 2 cm bone-like slab (electron density 1.7), 4 mm voxels
    eta = np.ones((30, 40, 30))
    eta[:, 15:20, :] = 1.7
    sp = np.array([4.0, 4.0, 4.0])
    mask = np.ones(eta.shape, dtype=bool)
    src = np.array([58.0, -1000.0, 58.0])
    axis = np.array([0.0, 1.0, 0.0])
    ex = np.array([1.0, 0.0, 0.0])
    ey = np.array([0.0, 0.0, 1.0])
    exact, xi, yi, zz = beam_geometry(eta, sp, src, axis, ex, ey, 1000.0, mask)
    xi2, yi2, zz2 = beam_projection(sp, src, axis, ex, ey, 1000.0, mask)
    np.testing.assert_allclose(xi2, xi)
    np.testing.assert_allclose(yi2, yi)
    np.testing.assert_allclose(zz2, zz)
    fan = fan_radiological_depth(eta, sp, src, axis, ex, ey, 1000.0, xi2, yi2, zz2)
    # the slab's faces are smoothed over about one voxel; elsewhere the depths agree
    away = np.ones(eta.shape[1], dtype=bool)
    away[13:22] = False
    assert np.max(np.abs(fan - exact)[:, away, :]) < 0.02  # cm
    assert np.max(np.abs(fan - exact)) < 0.4 * 0.7  # at most one voxel of the density step
