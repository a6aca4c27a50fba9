"""2D overlays: pixels where the geometry says, orientation letters, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtplan import Dose, Grid, Image, Structure
from rtplan.errors import GeometryError
from rtplan.guidance import (
    Trajectory,
    View,
    orientation_labels,
    overlay_view,
    render_overlay,
    save_png,
)
from rtplan.guidance._draw import text_bitmap
from rtplan.guidance._overlay import ISODOSE_COLORS, NEEDLE_COLOR
from rtplan.testing import CylinderPhantom as Phantom


def _ct(position: str, direction: np.ndarray | None = None) -> Image:
    """A 60 x 60 mm square body with a bright marker on the patient's left (x > 0)."""
    d = np.eye(3) if direction is None else direction
    g = Grid(shape=(5, 60, 60), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0, 0, 0), direction=d)
    # centre the grid on the LPS origin whatever its direction
    centre = g.index_to_mm((np.asarray(g.shape_ijk) - 1) / 2.0)
    g = Grid(shape=g.shape, spacing_mm=g.spacing_mm, origin_mm=tuple(-centre), direction=d)
    c = g.centers_mm()
    hu = np.where((np.abs(c[..., 0]) < 25) & (np.abs(c[..., 1]) < 25), 40.0, -1000.0)
    hu[(np.abs(c[..., 0] - 15) < 4) & (np.abs(c[..., 1]) < 4)] = 2000.0  # left marker
    hu[(np.abs(c[..., 0]) < 4) & (np.abs(c[..., 1] + 15) < 4)] = 1000.0  # anterior marker
    return Image(array=hu, grid=g, units="HU", patient_position=position)


def _bright(rgb: np.ndarray, view: View, level: int = 250) -> np.ndarray:
    rows, cols = view.shape
    img = rgb[:rows, :cols].astype(int)
    return (img[..., 0] >= level) & (img[..., 1] >= level) & (img[..., 2] >= level)


def _centroid(mask: np.ndarray) -> np.ndarray:
    rr, cc = np.nonzero(mask)
    return np.array([cc.mean(), rr.mean()])


FFS_STORED = np.array([[-1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0]])  # IOP (-1,0,0,0,1,0)
HFP_STORED = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])  # IOP (-1,0,0,0,-1,0)
FFP_STORED = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # IOP (1,0,0,0,-1,0)


@pytest.mark.parametrize(
    ("position", "direction", "display", "right", "top", "marker_side"),
    [
        ("HFS", None, "radiological", "L", "A", "right"),
        ("FFS", FFS_STORED, "radiological", "L", "A", "right"),
        ("FFS", FFS_STORED, "stored", "R", "A", "left"),
        ("HFP", HFP_STORED, "radiological", "R", "P", "left"),
        ("FFP", FFP_STORED, "radiological", "R", "P", "left"),
    ],
)
def test_axial_orientation_labels_and_anatomy(
    position: str,
    direction: np.ndarray | None,
    display: str,
    right: str,
    top: str,
    marker_side: str,
) -> None:
    ct = _ct(position, direction)
    view = overlay_view(ct, plane="axial", at_mm=0.0, display=display)
    labels = orientation_labels(view)
    assert labels["right"] == right
    assert labels["top"] == top
    opposite = {"L": "R", "R": "L", "A": "P", "P": "A"}
    assert labels["left"] == opposite[right]
    assert labels["bottom"] == opposite[top]
    # the patient's left marker (2000 HU, white in the bone window) is on the right side
    rgb = render_overlay(
        ct, view=view, window="bone", labels=False, scale_bar=False, annotate=False
    )
    white = _bright(rgb, view)
    col = _centroid(white)[0]
    cols = view.shape[1]
    assert (col > cols / 2) == (marker_side == "right")
    # and the letter drawn at the middle of the right edge is the expected one
    rgb = render_overlay(ct, view=view, window="bone", scale_bar=False, annotate=False)
    rows = view.shape[0]
    box = rgb[rows // 2 - 15 : rows // 2 + 15, cols - 30 : cols, :].astype(float)
    coverage = (box[..., 1] - box[..., 2]) / 255.0  # yellow text over grey or its black halo
    ink = coverage > 0.5
    rr, cc = np.nonzero(ink)
    glyph = ink[rr.min() : rr.max() + 1, cc.min() : cc.max() + 1]
    scores = {}
    for letter in ("L", "R", "A", "P"):
        ref = text_bitmap(letter, 18) > 0.5
        h = max(ref.shape[0], glyph.shape[0])
        w = max(ref.shape[1], glyph.shape[1])
        a = np.zeros((h, w), bool)
        b = np.zeros((h, w), bool)
        a[: ref.shape[0], : ref.shape[1]] = ref
        b[: glyph.shape[0], : glyph.shape[1]] = glyph
        scores[letter] = float((a & b).sum() / (a | b).sum())
    assert max(scores, key=scores.get) == right  # type: ignore[arg-type]


def test_coronal_and_sagittal_labels() -> None:
    ct = _ct("HFS")
    cor = overlay_view(ct, plane="coronal", at_mm=0.0)
    assert orientation_labels(cor) == {"right": "L", "left": "R", "top": "S", "bottom": "I"}
    sag = overlay_view(ct, plane="sagittal", at_mm=0.0)
    assert orientation_labels(sag) == {"right": "P", "left": "A", "top": "S", "bottom": "I"}
    # the anterior marker appears on the sagittal image's left half
    rgb = render_overlay(
        ct, view=sag, window="soft_tissue", labels=False, scale_bar=False, annotate=False
    )
    white = _bright(rgb, sag)
    assert white.any()
    assert _centroid(white)[0] < sag.shape[1] / 2


def test_isodose_line_lies_on_the_analytic_circle(phantom: Phantom) -> None:
    """Gaussian dose: its 50 % line (of the 40 Gy maximum) is a circle of known radius."""
    ct = phantom.ct
    g = ct.grid
    c = g.centers_mm()
    sigma = 12.0
    d = 40.0 * np.exp(-(c[..., 0] ** 2 + c[..., 1] ** 2) / (2 * sigma**2))
    dose = Dose(array=d, grid=g)
    view = overlay_view(ct, plane="axial", at_mm=1.25, pixel_mm=0.25)
    rgb = render_overlay(
        ct,
        view=view,
        dose=dose,
        prescription_gy=40.0,
        isodose_percent=[50.0],
        labels=False,
        scale_bar=False,
        annotate=False,
        line_width=1.0,
    )
    rows, cols = view.shape
    col = np.array(ISODOSE_COLORS[50.0])
    hit = np.all(rgb[:rows, :cols] == col, axis=-1)
    rr, cc = np.nonzero(hit)
    pts = view.to_mm(np.stack([cc, rr], axis=1))
    radius = sigma * np.sqrt(2 * np.log(2.0))  # analytic radius of the 50 % line
    r = np.hypot(pts[:, 0], pts[:, 1])
    # the line is drawn within half a pixel of the analytic circle, plus the
    # linear-interpolation error of the dose between 1 mm voxels
    assert np.abs(r - radius).max() < 0.25 + 0.15
    angles = np.arctan2(pts[:, 1], pts[:, 0])
    assert np.histogram(angles, bins=36, range=(-np.pi, np.pi))[0].min() > 0  # all around
    assert len(rr) > 2 * np.pi * radius / 0.25 * 0.9  # a closed, connected line


def test_trajectory_pixels_along_the_projected_line(phantom: Phantom) -> None:
    ct = phantom.ct
    t = Trajectory(
        entry_mm=[-40.0, -20.0, 1.25],
        target_mm=[-2.0, 3.0, 1.25],
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0,
        out_of_plane_deg=0,
        tissue_fraction={},
    )
    view = overlay_view(ct, plane="axial", trajectory=t, pixel_mm=0.5)
    assert view.at_mm == pytest.approx(1.25)
    rgb = render_overlay(ct, view=view, trajectory=t, labels=False, scale_bar=False, annotate=False)
    rows, cols = view.shape
    cyan = np.all(rgb[:rows, :cols] == np.array(NEEDLE_COLOR), axis=-1)
    rr, cc = np.nonzero(cyan)
    pts = np.stack([cc, rr], axis=1).astype(float)
    ends, depth = view.to_pixel(np.stack([t.entry_mm, t.target_mm]))
    assert np.all(np.abs(depth) < 1e-9)
    a, b = ends
    d = b - a
    s = np.clip((pts - a) @ d / (d @ d), 0, 1)
    dist = np.linalg.norm(pts - (a + s[:, None] * d), axis=1)
    # every needle pixel lies on the segment (3 px wide) or on the markers and ticks
    marker = (np.linalg.norm(pts - a, axis=1) <= 8.0) | (np.linalg.norm(pts - b, axis=1) <= 9.0)
    tick = dist <= 8.0
    assert np.all(marker | tick)
    on_line = dist <= 1.5
    # the line is covered from end to end (the red target cross sits on the last 9 px)
    covered = np.histogram(s[on_line], bins=40, range=(0, 1 - 9.0 / np.hypot(*d)))[0]
    assert covered.min() > 0
    # ticks every 10 mm: count the tick pixels beyond the line, grouped along s
    off = (dist > 2.5) & (dist <= 8.0) & ~marker
    marks = np.unique(np.round(s[off] * t.length_mm / 10.0))
    assert set(marks.astype(int)) >= {1, 2, 3, 4}


def test_out_of_slab_needle_is_dashed(phantom: Phantom) -> None:
    ct = phantom.ct
    t = Trajectory(
        entry_mm=[-40.0, -20.0, 20.0],
        target_mm=[-2.0, 3.0, 1.25],
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0,
        out_of_plane_deg=0,
        tissue_fraction={},
    )
    view = overlay_view(ct, plane="axial", at_mm=-10.0, pixel_mm=0.5)  # misses the needle
    rgb = render_overlay(ct, view=view, trajectory=t, labels=False, scale_bar=False, annotate=False)
    rows, cols = view.shape
    cyan = np.all(rgb[:rows, :cols] == np.array(NEEDLE_COLOR), axis=-1)
    ends, _ = view.to_pixel(np.stack([t.entry_mm, t.target_mm]))
    a, b = ends
    n = 200
    samples = a + np.linspace(0.1, 0.9, n)[:, None] * (b - a)
    on = cyan[np.rint(samples[:, 1]).astype(int), np.rint(samples[:, 0]).astype(int)]
    assert 0.3 < on.mean() < 0.9  # dashes: partly drawn


def test_scale_bar_length(phantom: Phantom) -> None:
    ct = phantom.ct
    view = overlay_view(ct, plane="axial", at_mm=1.25, pixel_mm=0.2)
    rgb = render_overlay(ct, view=view, labels=False, annotate=False)
    rows, cols = view.shape
    row = rgb[rows - 14, :cols]
    white = np.all(row == 255, axis=-1)
    idx = np.flatnonzero(white)
    length_mm = (idx.max() - idx.min()) * view.pixel_mm
    # the bar is a round length near a fifth of the width, drawn 3 px wide with end caps
    assert length_mm == pytest.approx(20.0, abs=4 * view.pixel_mm)


def test_other_planes_and_structures(phantom: Phantom) -> None:
    ct = phantom.ct
    t = Trajectory(
        entry_mm=[-40.0, -20.0, 10.0],
        target_mm=[-2.0, 3.0, 1.25],
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0,
        out_of_plane_deg=0,
        tissue_fraction={},
    )
    for plane in ("coronal", "sagittal", "oblique", "oblique_orthogonal"):
        view = overlay_view(ct, plane=plane, trajectory=t)
        rgb = render_overlay(ct, view=view, structures=[phantom.canal, phantom.gtv], trajectory=t)
        assert rgb.shape[:2] == view.shape
        assert rgb.dtype == np.uint8
        if plane.startswith("oblique"):
            # the needle lies in both needle planes
            _, depth = view.to_pixel(np.stack([t.entry_mm, t.target_mm]))
            assert np.all(np.abs(depth) < 1e-9)
            labels = orientation_labels(view)
            assert all(1 <= len(v) <= 2 for v in labels.values())
    # a structure's contour on an axial plane is drawn in its colour where its edge is
    view = overlay_view(ct, plane="axial", at_mm=1.25, pixel_mm=0.5)
    rgb = render_overlay(
        ct,
        view=view,
        structures=[phantom.canal],
        labels=False,
        scale_bar=False,
        annotate=False,
        line_width=1.0,
    )
    rows, cols = view.shape
    hit = np.all(rgb[:rows, :cols] == np.array(phantom.canal.color), axis=-1)
    rr, cc = np.nonzero(hit)
    pts = view.to_mm(np.stack([cc, rr], axis=1))
    r = np.hypot(pts[:, 0], pts[:, 1] - 27.0)
    # the mask's contour runs midway between voxel centres: within a voxel of r = 6
    assert np.abs(r - 6.0).max() <= 1.0


def test_dose_wash_and_colour_bar(phantom: Phantom) -> None:
    ct = phantom.ct
    c = ct.grid.centers_mm()
    dose = Dose(array=30.0 * np.exp(-(c[..., 0] ** 2 + c[..., 1] ** 2) / 400.0), grid=ct.grid)
    view = overlay_view(ct, plane="axial", at_mm=1.25)
    plain = render_overlay(ct, view=view)
    wash = render_overlay(ct, view=view, dose=dose, prescription_gy=30.0, dose_display="both")
    rows, cols = view.shape
    assert wash.shape == (rows, cols + 120, 3)
    centre = view.to_pixel([0.0, 0.0, 1.25])[0][0].round().astype(int)
    assert not np.array_equal(wash[centre[1], centre[0]], plain[centre[1], centre[0]])
    corner = (5, cols - 60)  # far from the dose: unchanged
    assert np.array_equal(wash[corner], plain[corner])
    panel = wash[:, cols:]
    assert len(np.unique(panel.reshape(-1, 3), axis=0)) > 50  # the colour bar's gradient


def test_dose_legend_names_the_100_percent_level_and_the_structures(phantom: Phantom) -> None:
    """The panel says "Rx" only for a prescription ("Dmax" otherwise) and names, in their
    colours, the structures the plane cuts (their colours may equal isodose colours)."""
    from dataclasses import replace

    from rtplan.guidance._draw import Canvas

    ct = phantom.ct
    c = ct.grid.centers_mm()
    dose = Dose(array=30.0 * np.exp(-(c[..., 0] ** 2 + c[..., 1] ** 2) / 400.0), grid=ct.grid)
    canal = replace(phantom.canal, color=(120, 60, 20))  # a colour far from every isodose line
    gtv = replace(phantom.gtv, color=(201, 97, 13))  # a sphere of 5 mm about z = 0
    view = overlay_view(ct, plane="axial", at_mm=1.25)
    rows, cols = view.shape

    def title(text: str) -> np.ndarray:
        ref = np.zeros((40, 120, 3), dtype=np.uint8)
        Canvas(ref).rect(0, 0, 120, 40, (24, 24, 24))
        Canvas(ref).text(text, 8, 8, (255, 255, 255), size_px=12)
        return ref[:24]

    with_rx = render_overlay(ct, view=view, dose=dose, prescription_gy=24.0, structures=[canal])
    without = render_overlay(ct, view=view, dose=dose, structures=[canal])
    np.testing.assert_array_equal(with_rx[:24, cols:], title("Rx 24 Gy"))
    np.testing.assert_array_equal(without[:24, cols:], title("Dmax 30 Gy"))
    for rgb in (with_rx, without):
        assert np.all(rgb[:rows, :cols] == canal.color, axis=-1).any()  # the contour
        assert np.all(rgb[:, cols:] == canal.color, axis=-1).sum() > 10  # its legend swatch

    # the GTV is in the legend on a plane through it, not on one 20 mm away
    near = render_overlay(ct, view=view, dose=dose, structures=[canal, gtv])
    far_view = overlay_view(ct, plane="axial", at_mm=21.25)
    far = render_overlay(ct, view=far_view, dose=dose, structures=[canal, gtv])
    assert np.all(near[:, cols:] == gtv.color, axis=-1).sum() > 10
    assert not np.all(far[:, far_view.shape[1] :] == gtv.color, axis=-1).any()
    assert np.all(far[:, far_view.shape[1] :] == canal.color, axis=-1).sum() > 10


def test_deterministic_no_identifiers_and_png(phantom: Phantom, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from PIL import Image as PILImage

    from rtplan.image import SeriesInfo

    ct = phantom.ct
    a = render_overlay(ct, plane="axial", at_mm=1.25, structures=[phantom.gtv])
    b = render_overlay(ct, plane="axial", at_mm=1.25, structures=[phantom.gtv])
    assert np.array_equal(a, b)
    named = replace(ct, series=SeriesInfo(patient={"PatientName": "Doe^Jane", "PatientID": "X1"}))
    c = render_overlay(named, plane="axial", at_mm=1.25, structures=[phantom.gtv])
    assert np.array_equal(a, c)  # identifiers are not burned in by default
    d = render_overlay(
        named, plane="axial", at_mm=1.25, structures=[phantom.gtv], show_patient=True
    )
    assert not np.array_equal(a, d)
    p = save_png(a, tmp_path / "x" / "a.png")
    assert np.array_equal(np.asarray(PILImage.open(p).convert("RGB")), a)
    assert p.read_bytes() == save_png(b, tmp_path / "b.png").read_bytes()


def test_overlay_errors(phantom: Phantom) -> None:
    ct = phantom.ct
    with pytest.raises(GeometryError, match="unknown plane"):
        render_overlay(ct, plane="transverse")
    with pytest.raises(GeometryError, match="needs a trajectory"):
        render_overlay(ct, plane="oblique")
    with pytest.raises(GeometryError, match="misses the CT"):
        render_overlay(ct, plane="axial", at_mm=500.0)
    with pytest.raises(GeometryError, match="unknown window"):
        render_overlay(ct, window="brain")
    with pytest.raises(GeometryError, match="units"):
        render_overlay(ct, dose=ct)
    with pytest.raises(GeometryError, match="uint8"):
        save_png(np.zeros((4, 4)), "x.png")
    assert isinstance(phantom.gtv, Structure)


def test_patient_lines_and_their_place(phantom: Phantom) -> None:
    """Asked-for identifiers are readable and leave the orientation letters untouched."""
    from dataclasses import replace

    from rtplan.guidance._overlay import patient_lines
    from rtplan.image import SeriesInfo

    who = {"PatientName": "Doe^Jane^Q", "PatientID": "X1", "PatientBirthDate": "19700101"}
    assert patient_lines(who) == ["Doe, Jane Q", "ID X1", "born 1970-01-01"]
    assert patient_lines({"PatientName": "", "PatientID": ""}) == []
    named = replace(phantom.ct, series=SeriesInfo(patient=who))
    view = overlay_view(named, plane="axial", at_mm=1.25, pixel_mm=0.25)
    plain = render_overlay(named, view=view)
    shown = render_overlay(named, view=view, show_patient=True)
    cols = view.shape[1]
    changed = np.any(plain != shown, axis=2)
    assert changed.any()
    # the top letter's box (centred, rows 0-26) and the caption (left) are untouched
    assert not changed[:27, cols // 2 - 20 : cols // 2 + 20].any()
    assert not changed[:, : cols // 2].any()
    rr, cc = np.nonzero(changed)
    assert rr.min() >= 27
    assert cc.min() > cols // 2


def test_thin_ct_is_padded_so_annotations_miss_the_anatomy() -> None:
    ct = _ct("HFS")  # 60 x 60 mm, 10 mm long
    view = overlay_view(ct, plane="coronal", at_mm=0.0)
    rows, cols = view.shape
    assert rows >= cols // 2  # at least half as high as wide
    rgb = render_overlay(ct, view=view, labels=False, scale_bar=False, annotate=False)
    centres = view.pixel_centres_mm()
    outside = np.abs(centres[..., 2]) > 5.5  # beyond the CT's slices: black padding
    assert outside[:5].all()
    assert outside[-5:].all()
    assert np.all(rgb[:rows][outside] == 0)


def test_accessibility_map_unrolled(phantom: Phantom) -> None:
    """Behind the canal the skin is blocked; in front of the target it is the best."""
    from rtplan.guidance import plan_trajectory, render_accessibility_map
    from rtplan.guidance._access import BLOCKED_COLOR

    target = [-2.0, 3.0, 1.25]  # slice k = 12, level with the canal (x = 0, y = 27)
    res = plan_trajectory(
        phantom.ct, target, avoid=[phantom.canal], clearance_mm=3.0, body=phantom.body
    )
    rgb = render_accessibility_map(
        res.accessibility, position="HFS", trajectories=list(res), seam_deg=180.0
    )
    slice_px = round(360 / 24)
    row = 46 + (23 - 12) * slice_px + slice_px // 2  # superior first: slice 23 on top
    col = {deg: 70 + int((deg + 180) // 1.0) for deg in (-179, 0, 2, 178)}
    # straight behind (posterior = 180 deg for HFS): the needle would cross the canal
    for deg in (-179, 178):
        assert tuple(rgb[row, col[deg]]) == BLOCKED_COLOR
    # straight in front: feasible, green (good score)
    front = rgb[row, col[2]].astype(int)
    assert front[1] > 150
    assert front[1] > front[0]
    assert rgb.shape == (46 + 24 * slice_px + 92, 70 + 360 + 16, 3)  # key on two lines
    # the letters over the azimuth axis follow the axial view of the Patient Position
    from rtplan.guidance._access import _MapGeometry

    for position, letters in (("HFS", "PRALP"), ("FFS", "PRALP"), ("HFP", "ALPRA")):
        geo = _MapGeometry.build(res.accessibility, position, 1.0, None)
        assert "".join(geo.letter_at(a) for a in (-180.0, -90.0, 0.0, 90.0, 180.0)) == letters


@pytest.mark.parametrize(
    ("window", "width", "level"),
    [
        ("soft_tissue", 400.0, 40.0),
        ("bone", 2000.0, 500.0),
        ("bone_narrow", 1500.0, 300.0),
        ("lung", 1500.0, -600.0),
        ((350.0, 50.0), 350.0, 50.0),
    ],
)
def test_window_presets_map_hu_to_grey(window, width: float, level: float) -> None:  # type: ignore[no-untyped-def]
    """Grey = 255 (HU - (L - W/2)) / W, clipped: checked on a ramp of HU values."""
    g = Grid(shape=(3, 8, 64), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0.0, 0.0, -2.0))
    hu_row = np.linspace(-1200.0, 1800.0, 64)
    ct = Image(array=np.broadcast_to(hu_row, g.shape).copy(), grid=g, units="HU")
    view = overlay_view(ct, plane="axial", at_mm=0.0, pixel_mm=1.0)
    rgb = render_overlay(
        ct, view=view, window=window, labels=False, scale_bar=False, annotate=False
    )
    r = view.shape[0] // 2  # a row across the ramp (the thin image is padded above, below)
    grey = rgb[r, : view.shape[1], 0].astype(float)
    hu = ct.sample(view.pixel_centres_mm()[r], order=1)
    assert np.all(np.isfinite(hu))
    expected = np.clip((hu - (level - width / 2.0)) / width, 0.0, 1.0) * 255.0
    np.testing.assert_allclose(grey, expected, atol=0.5 + 1e-9)
    assert np.all(rgb[r, : view.shape[1], 0] == rgb[r, : view.shape[1], 2])  # grey


def test_needle_planes_contain_the_needle_at_the_least_tilt(phantom: Phantom) -> None:
    """The oblique plane holds the needle and is tilted from axial by the needle's own
    out-of-plane angle (no plane holding the needle is tilted less); the orthogonal one
    holds it too, is perpendicular to the first, and has superior up."""
    tilt = 20.0
    d = np.array([math.cos(math.radians(tilt)) * 0.6, math.cos(math.radians(tilt)) * 0.8, 0.0])
    d[2] = math.sin(math.radians(tilt))
    target = np.array([-2.0, 3.0, 1.25])
    t = Trajectory(
        entry_mm=target - 40.0 * d,
        target_mm=target,
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0,
        out_of_plane_deg=tilt,
        tissue_fraction={},
    )
    obl = overlay_view(phantom.ct, plane="oblique", trajectory=t)
    orth = overlay_view(phantom.ct, plane="oblique_orthogonal", trajectory=t)
    for view in (obl, orth):
        assert abs(float(view.normal @ d)) < 1e-9
    angle = math.degrees(math.acos(abs(float(obl.normal[2]))))
    assert angle == pytest.approx(tilt, abs=1e-6)
    assert abs(float(obl.normal @ orth.normal)) < 1e-9
    assert orth.down[2] < 0  # superior up
    assert orientation_labels(orth)["top"].startswith("S")


# ----------------------------------------------------------------------------- style, vocabularies
def test_style_object_and_keywords_draw_the_same(phantom: Phantom) -> None:
    from rtplan.guidance import OverlayStyle

    ct = phantom.ct
    view = overlay_view(ct, plane="axial", at_mm=1.25)
    kw = render_overlay(ct, view=view, structures=[phantom.gtv], labels=False, line_width=3.0)
    obj = render_overlay(
        ct, view=view, structures=[phantom.gtv], style=OverlayStyle(labels=False, line_width=3.0)
    )
    np.testing.assert_array_equal(kw, obj)
    # a keyword replaces that field of the style given
    mixed = render_overlay(
        ct,
        view=view,
        structures=[phantom.gtv],
        style=OverlayStyle(labels=True, line_width=3.0),
        labels=False,
    )
    np.testing.assert_array_equal(kw, mixed)
    assert not np.array_equal(kw, render_overlay(ct, view=view, structures=[phantom.gtv]))
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['colour'\]"):
        render_overlay(ct, view=view, colour="red")  # type: ignore[call-arg]
    with pytest.raises(GeometryError, match="dose_display must be"):
        OverlayStyle(dose_display="contours")
    with pytest.raises(GeometryError, match="wash_alpha"):
        OverlayStyle(wash_alpha=2.0)


def test_planes_and_windows_as_members_or_strings(phantom: Phantom) -> None:
    from rtplan.enum import Plane, Window

    ct = phantom.ct
    a = render_overlay(ct, plane="Axial", at_mm=1.25, window="Bone Narrow")
    b = render_overlay(ct, plane=Plane.AXIAL, at_mm=1.25, window=Window.BONE_NARROW)
    c = render_overlay(ct, plane="axial", at_mm=1.25, window=(1500.0, 300.0), annotate=False)
    np.testing.assert_array_equal(a, b)
    # the caption differs ("bone_narrow" vs "custom"), the grey levels do not
    rows = overlay_view(ct, plane="axial", at_mm=1.25).shape[0]
    np.testing.assert_array_equal(a[40:rows, :], c[40:rows, :])
    assert overlay_view(ct, plane="sagittal").plane is Plane.SAGITTAL
    with pytest.raises(GeometryError, match=r"unknown window 'brain'.*\(width, level\) in HU"):
        render_overlay(ct, window="brain")


def test_source_slices_of_views(phantom: Phantom) -> None:
    ct = phantom.ct
    g = ct.grid  # 24 slices of 2.5 mm from z = -28.75 mm
    assert overlay_view(ct, plane="axial", at_mm=1.25).source_slices(g) == [12]
    assert overlay_view(ct, plane="coronal").source_slices(g) == list(range(24))
    needle = Trajectory(
        entry_mm=[-40.0, 0.0, -10.0],
        target_mm=[0.0, 3.0, 5.0],
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0.0,
        out_of_plane_deg=0.0,
        tissue_fraction={},
    )
    ks = overlay_view(ct, plane="oblique", trajectory=needle, fov_mm=40.0).source_slices(g)
    assert ks == list(range(ks[0], ks[-1] + 1))
    k_entry, k_target = (g.mm_to_index([needle.entry_mm, needle.target_mm])[:, 2] + 0.5) // 1
    assert ks[0] <= k_entry
    assert ks[-1] >= k_target


def test_captions_letters_and_legend_never_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rtplan.guidance._draw import Canvas

    boxes: list[tuple[str, tuple[int, int, int, int]]] = []
    real = Canvas.text

    def recording(self: Canvas, text: str, *args: object, **kwargs: object) -> tuple[int, ...]:
        box = real(self, text, *args, **kwargs)  # type: ignore[arg-type]
        boxes.append((text, box))
        return box

    monkeypatch.setattr(Canvas, "text", recording)
    ct = _ct("HFS")
    # a small view: the caption, long with its interpolated slices, reaches the middle
    view = overlay_view(ct, plane="axial", at_mm=1.0, display="radiological")
    render_overlay(ct, view=view, window="bone")
    caption = next(b for t, b in boxes if t.startswith("Axial"))
    assert caption[2] > view.shape[1] / 2 - 10  # the case this test is about
    for n, (text_a, a) in enumerate(boxes):
        for text_b, b in boxes[n + 1 :]:
            disjoint = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert disjoint, f"{text_a!r} {a} overlaps {text_b!r} {b}"


def test_render_overlay_saves_the_png_in_the_same_call(tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "view.png"
    ct = _ct("HFS")
    rgb = render_overlay(ct, plane="axial", at_mm=0.0, path=out)
    from PIL import Image as PILImage

    with PILImage.open(out) as png:
        assert np.array_equal(np.asarray(png.convert("RGB")), rgb)
