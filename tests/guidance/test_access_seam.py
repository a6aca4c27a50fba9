"""Where the unrolled accessibility map is cut open: away from the feasible entries."""

from __future__ import annotations

import numpy as np
import pytest

import rtplan
from rtplan.guidance import render_accessibility_map
from rtplan.guidance._access import BLOCKED_COLOR, _MapGeometry, quiet_seam_deg


@pytest.mark.parametrize(
    ("azimuths", "seam"),
    [
        ([150.0, 170.0, -170.0, -150.0], 0.0),  # a posterior cluster: cut in front
        (np.linspace(-40.0, 40.0, 81), 180.0),  # an anterior cluster: cut behind
        ([-100.0, -60.0, 60.0, 80.0], 170.0),  # two clusters: the wider gap (80..260)
        (np.linspace(380.0, 400.0, 5), -150.0),  # azimuths past one turn: 20..40
        ([], 180.0),  # no feasible entry
        (np.arange(0.0, 360.0, 1.0), 180.0),  # every sector holds one
    ],
)
def test_quiet_seam_in_the_middle_of_the_widest_gap(azimuths: list[float], seam: float) -> None:
    assert quiet_seam_deg(azimuths) == pytest.approx(seam, abs=1.0)


@pytest.fixture(scope="module")
def spine_search() -> tuple[rtplan.guidance.AccessibilityMap, str, list]:  # type: ignore[type-arg]
    spine = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    s = spine.structures
    paths = rtplan.plan_trajectory(
        spine.ct, s["GTV"], avoid=[s["SpinalCanal"]], clearance_mm=3.0, n_best=3
    )
    return paths.accessibility, spine.ct.patient_position or "HFS", list(paths)


def test_spine_map_keeps_every_feasible_cluster_whole(spine_search) -> None:  # type: ignore[no-untyped-def]
    acc, position, paths = spine_search
    geo = _MapGeometry.build(acc, position, 1.0, None, None)
    ok = acc.feasible
    az = geo.azimuth_deg(acc.points_mm[ok], acc.targets_mm[acc.target_index[ok]])
    # the seam lies in the widest azimuth range holding no feasible entry
    gap = (az - geo.seam_deg + 180.0) % 360.0 - 180.0
    assert np.abs(gap).min() > 5.0
    assert geo.seam_deg == quiet_seam_deg(az)
    # so no feasible cell touches the map's left or right edge
    rgb = render_accessibility_map(acc, position=position, trajectories=paths, seam_deg=None)
    rows = slice(46, 46 + geo.n_slices * geo.slice_px)
    for col in (70, 70 + geo.n_cols - 1):
        edge = rgb[rows, col].astype(int)
        blocked_or_empty = np.all(edge == BLOCKED_COLOR, axis=1) | np.all(edge == 0, axis=1)
        assert blocked_or_empty.all()
    # the azimuth labels run on from the seam: 0° (anterior, supine) keeps its column
    zero_col = 70 + int((0.0 - geo.seam_deg) % 360.0)
    assert geo.letter_at(0.0) == "A"
    assert 70 <= zero_col < 70 + geo.n_cols


def test_fixed_seam_behind(spine_search) -> None:  # type: ignore[no-untyped-def]
    acc, position, _ = spine_search
    geo = _MapGeometry.build(acc, position, 1.0, None, 180.0)
    assert geo.seam_deg == 180.0
    np.testing.assert_allclose(geo.column_of(np.array([-179.5, 0.0, 179.5])), [0.5, 180.0, 359.5])


def _feasible_at_edges(rgb: np.ndarray, geo: _MapGeometry) -> list[bool]:  # type: ignore[type-arg]
    """Whether the map's first and last columns hold a feasible (score-coloured) cell."""
    rows = slice(46, 46 + geo.n_slices * geo.slice_px)
    out = []
    for col in (70, 70 + geo.n_cols - 1):
        edge = rgb[rows, col].astype(int)
        out.append(
            bool((~(np.all(edge == BLOCKED_COLOR, axis=1) | np.all(edge == 0, axis=1))).any())
        )
    return out


def test_posterior_cluster_is_split_behind_and_whole_with_the_quiet_seam(spine_search) -> None:  # type: ignore[no-untyped-def]
    """Every entry behind the spine feasible, none elsewhere (as for a paraspinal target):
    the posterior seam cuts that cluster in two, the quiet seam goes in front."""
    from dataclasses import replace

    acc, position, _ = spine_search
    geo = _MapGeometry.build(acc, position, 1.0, None)
    az = geo.azimuth_deg(acc.points_mm, acc.targets_mm[acc.target_index])
    back = np.abs(az) > 140.0
    score = np.where(np.isfinite(acc.score), acc.score, 1.0)
    behind = replace(acc, feasible=back, score=score)
    assert behind.feasible.sum() > 100
    split = render_accessibility_map(behind, position=position, seam_deg=180.0)
    assert _feasible_at_edges(split, geo) == [True, True]
    quiet = _MapGeometry.build(behind, position, 1.0, None, None)
    assert abs(quiet.seam_deg) < 40.0  # in front (0° = anterior for this supine patient)
    whole = render_accessibility_map(behind, position=position)  # the default: quiet seam
    assert _feasible_at_edges(whole, quiet) == [False, False]
