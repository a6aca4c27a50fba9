"""The dots along the skin of an axial overlay come with a key that names them."""

from __future__ import annotations

import numpy as np

import rtplan
from rtplan.guidance import render_overlay
from rtplan.guidance._overlay import ACCESSIBILITY_KEY


def test_skin_candidates_are_explained() -> None:
    spine = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    s = spine.structures
    paths = rtplan.plan_trajectory(
        spine.ct, s["GTV"], avoid=[s["SpinalCanal"]], clearance_mm=3.0, n_best=1
    )
    kwargs = {"plane": "axial", "trajectory": paths[0], "structures": [s["GTV"]]}
    plain = render_overlay(spine.ct, **kwargs)
    keyed = render_overlay(spine.ct, accessibility=paths.accessibility, **kwargs)
    rows = keyed.shape[0]
    # the key's box sits at the bottom left, above the scale bar, on its dark fill
    box = keyed[rows - 37 : rows - 35, 8:20]
    assert np.all(box == 24)
    assert not np.all(plain[rows - 37 : rows - 35, 8:20] == 24)
    # one dot per kind of candidate, in the colours the skin dots are drawn with
    region = keyed[rows - 100 : rows - 34, 6:30].reshape(-1, 3)
    for _, color in ACCESSIBILITY_KEY:
        assert (region == color).all(axis=1).any(), color
