from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rtplan_mmgrid import MillimetreGrid

import rtplan
from rtplan import Grid, Image, plugins


@pytest.fixture
def ct() -> Image:
    g = Grid(shape=(3, 64, 64), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(-63.0, -63.0, -2.0))
    return Image(array=np.full(g.shape, 40.0), grid=g, units="HU", patient_position="HFS")


def test_grid_lines_fall_on_round_coordinates(ct: Image) -> None:
    plain = rtplan.render_overlay(
        ct, plane="axial", at_mm=0.0, labels=False, scale_bar=False, annotate=False
    )
    layer = MillimetreGrid(step_mm=20.0, label_every_mm=1000.0)
    rgb = rtplan.render_overlay(
        ct, plane="axial", at_mm=0.0, labels=False, scale_bar=False, annotate=False, layers=[layer]
    )
    view = rtplan.guidance.overlay_view(ct, plane="axial", at_mm=0.0)
    changed = np.any(rgb != plain, axis=2)
    # a vertical line where the column shows a round patient coordinate
    colrow, _ = view.to_pixel([[20.0, 0.0, 0.0]])
    c = round(float(colrow[0, 0]))
    assert changed[:, c].mean() > 0.9
    assert tuple(rgb[view.shape[0] // 2 + 7, c]) == layer.color
    # and nothing between two lines
    between, _ = view.to_pixel([[10.0, 5.0, 0.0]])
    assert not changed[view.shape[0] // 3, round(float(between[0, 0]))]


def test_layer_found_by_entry_point_name(ct: Image, monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint(
        name="mm-grid", value="rtplan_mmgrid:MillimetreGrid", group="rtplan.overlay_layers"
    )
    monkeypatch.setattr(plugins, "entry_points", lambda group: [ep] if group == ep.group else [])
    plugins.clear_cache()
    try:
        rgb = rtplan.render_overlay(ct, plane="axial", at_mm=0.0, layers=["mm-grid"])
        assert rgb.shape[2] == 3
        with pytest.raises(rtplan.errors.GeometryError, match="unknown overlay layer 'nope'"):
            rtplan.render_overlay(ct, plane="axial", at_mm=0.0, layers=["nope"])
    finally:
        plugins.clear_cache()
