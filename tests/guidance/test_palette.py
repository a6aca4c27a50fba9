"""The isodose palette and distinct structure colours (CIEDE2000 on CIE L*a*b*)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import rtplan
from rtplan.guidance import (
    DEFAULT_ISODOSES,
    ISODOSE_PALETTE,
    MIN_DELTA_E,
    MIN_STRUCTURE_DELTA_E,
    NEEDLE_COLOR,
    delta_e,
    distinct_structure_colors,
    distinct_structures,
    render_overlay,
)
from rtplan.guidance._palette import parse_color, to_lab


def test_lab_and_delta_e_against_published_values() -> None:
    # sRGB primaries in CIE L*a*b* (D65), as tabulated by Lindbloom's calculator
    assert to_lab((255, 0, 0)) == pytest.approx([53.24, 80.09, 67.20], abs=0.02)
    assert to_lab((0, 0, 255)) == pytest.approx([32.30, 79.19, -107.86], abs=0.02)
    # Sharma, Wu and Dalal (2005), test pair 1 of the CIEDE2000 data set: 2.0425
    from skimage.color import deltaE_ciede2000

    pair = deltaE_ciede2000(np.array([50.0, 2.6772, -79.7751]), np.array([50.0, 0.0, -82.7485]))
    assert float(pair) == pytest.approx(2.0425, abs=1e-4)
    assert float(delta_e((10, 20, 30), (10, 20, 30))) == 0.0


def test_default_isodoses_are_distinct_and_visible() -> None:
    colors = [ISODOSE_PALETTE[p] for p in DEFAULT_ISODOSES]
    gaps = [float(delta_e(a, b)) for a, b in itertools.combinations(colors, 2)]
    assert min(gaps) > 23.0
    # bright enough to be seen on a dark CT, and hot to cold as the dose falls
    assert min(float(to_lab(c)[0]) for c in colors) >= 40.0
    assert ISODOSE_PALETTE[100.0] == (255, 255, 0)


@pytest.mark.parametrize("name", ["thigh_sarcoma", "spine_metastasis"])
def test_sample_structures_never_clash(name: str) -> None:
    study = rtplan.load_study(rtplan.data.get_path(name))
    reserved = [ISODOSE_PALETTE[p] for p in DEFAULT_ISODOSES] + [NEEDLE_COLOR]
    shown = distinct_structures(list(study.structures), reserved=reserved)
    for s in shown:
        assert float(np.min(delta_e(s.color, reserved))) >= MIN_DELTA_E, s.name
    for a, b in itertools.combinations(shown, 2):
        assert float(delta_e(a.color, b.color)) >= MIN_STRUCTURE_DELTA_E, (a.name, b.name)
    # targets keep their RT Structure Set colours (GTV red, PTV cyan are not reserved)
    assert shown[[s.name for s in shown].index("GTV")].color == (255, 0, 0)
    # distinct colours stay put: the order of the other structures keeps the first
    kept = [s.name for s, orig in zip(shown, study.structures, strict=True) if s is orig]
    assert "GTV" in kept


def test_recolouring_keeps_distinct_colours_and_is_idempotent() -> None:
    colors = {"GTV": (255, 0, 0), "Cord": (255, 255, 0), "Body": (0, 200, 0)}
    out = distinct_structure_colors(colors, reserved=[(0, 0, 255)])
    assert out == colors
    reserved = [ISODOSE_PALETTE[p] for p in DEFAULT_ISODOSES]
    once = distinct_structure_colors(colors, reserved=reserved)
    assert once["Cord"] != (255, 255, 0)  # the 100 % yellow
    assert once["Body"] != (0, 200, 0)  # next to the 95 % green
    assert distinct_structure_colors(once, reserved=reserved) == once


def test_overlay_draws_recoloured_structures() -> None:
    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    grid = study.ct.grid
    gtv = study.structures["GTV"]
    body = study.structures["Body"]
    r_mm = np.linalg.norm(grid.centers_mm() - gtv.centroid_mm, axis=-1)
    dose = rtplan.Dose(array=np.where(r_mm < 30.0, 50.0, 20.0), grid=grid)
    kw = {"plane": "axial", "at_mm": float(gtv.centroid_mm[2]), "annotate": False}
    rgb = render_overlay(study.ct, dose=dose, prescription_gy=50.0, structures=[body], **kw)
    image = rgb[:, : rgb.shape[1] - 120].reshape(-1, 3)
    # the body's own green (95 % line's neighbour) is not drawn; its new colour is
    assert not np.all(image == body.color, axis=1).any()
    (new,) = distinct_structures([body], reserved=[ISODOSE_PALETTE[p] for p in DEFAULT_ISODOSES])
    assert np.all(image == new.color, axis=1).sum() > 100
    plain = render_overlay(
        study.ct, dose=dose, prescription_gy=50.0, structures=[body], recolor_structures=False, **kw
    )
    assert np.all(plain[:, : rgb.shape[1] - 120].reshape(-1, 3) == body.color, axis=1).sum() > 100


@pytest.mark.parametrize(
    ("text", "rgb"),
    [("#00FF80", (0, 255, 128)), (" 1, 2 ,3", (1, 2, 3)), ("Yellow", (255, 255, 0))],
)
def test_parse_color(text: str, rgb: tuple[int, int, int]) -> None:
    assert parse_color(text) == rgb


@pytest.mark.parametrize("text", ["#12345", "1,2", "256,0,0", "mauve"])
def test_parse_color_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="give #rrggbb"):
        parse_color(text)
