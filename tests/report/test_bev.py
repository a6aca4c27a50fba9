"""Beam's eye view: structure silhouettes projected from the source, jaws and leaves."""

from __future__ import annotations

import numpy as np
import pytest

import rtplan
from rtplan.plan import Mlc
from rtplan.report._plancheck import beams_eye_outline, beams_eye_view
from rtplan.structures import Contour

HALF_MM = (20.0, 30.0, 40.0)  # half sizes of the box along LPS x, y, z


def _box(centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> rtplan.Structure:
    """A 40 x 60 x 80 mm box: contours every 5 mm, slabs covering z = -40..40 exactly."""
    hx, hy, hz = HALF_MM
    cx, cy, cz = centre
    square = [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)]
    return rtplan.Structure(
        name="PTV",
        interpreted_type="PTV",
        color=(0, 255, 255),
        slice_thickness_mm=5.0,
        contours=[
            Contour(points_mm=[(cx + x, cy + y, cz + z) for x, y in square])
            for z in np.arange(-hz + 2.5, hz, 5.0)
        ],
    )


def _extent(rings: list[np.ndarray]) -> tuple[float, float]:  # type: ignore[type-arg]
    pts = np.vstack(rings)
    return float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1]))


@pytest.mark.parametrize("position", ["HFS", "FFS"])
def test_box_at_isocentre_projects_to_its_magnified_size(position: str) -> None:
    hx, hy, hz = HALF_MM
    # gantry 0: the source 1000 mm anterior; the box's widest outline is its near face,
    # 1000 - hy from the source, magnified by 1000 / (1000 - hy)
    rings = beams_eye_outline(rtplan.Beam(gantry_deg=0.0), _box(), position)
    assert len(rings) == 1
    mag = 1000.0 / (1000.0 - hy)
    assert _extent(rings) == pytest.approx((2 * hx * mag, 2 * hz * mag), abs=1e-6)
    # gantry 90: the source on the patient's left (HFS) or right (FFS), the near face
    # at 1000 - hx; X_b runs along the patient's y, Y_b along z
    rings = beams_eye_outline(rtplan.Beam(gantry_deg=90.0), _box(), position)
    mag = 1000.0 / (1000.0 - hx)
    assert _extent(rings) == pytest.approx((2 * hy * mag, 2 * hz * mag), abs=1e-6)


def test_outline_is_centred_and_follows_the_collimator() -> None:
    hx, hy, hz = HALF_MM
    mag = 1000.0 / (1000.0 - hy)
    rings = beams_eye_outline(rtplan.Beam(gantry_deg=0.0, collimator_deg=90.0), _box())
    pts = np.vstack(rings)
    # a quarter turn of the collimator swaps the box's sides in the view
    assert _extent(rings) == pytest.approx((2 * hz * mag, 2 * hx * mag), abs=1e-6)
    np.testing.assert_allclose(pts.min(axis=0) + pts.max(axis=0), 0.0, atol=1e-6)
    # a box 30 mm to the patient's left at gantry 0 (HFS: X_b is the patient's left)
    shifted = np.vstack(beams_eye_outline(rtplan.Beam(), _box((30.0, 0.0, 0.0))))
    # its far edge (x = 50) widest on the near face, its near edge (x = 10) on the far face
    assert shifted[:, 0].max() == pytest.approx(50.0 * mag)
    assert shifted[:, 0].min() == pytest.approx(10.0 * 1000.0 / (1000.0 + hy))


def test_structure_without_closed_contours_has_no_outline() -> None:
    marker = rtplan.Structure(
        name="m", contours=[Contour(points_mm=[(0, 0, 0)], geometric_type="POINT")]
    )
    assert beams_eye_outline(rtplan.Beam(), marker) == []


def test_view_draws_leaves_jaws_outline_and_names() -> None:
    from matplotlib.patches import Rectangle

    mlc = Mlc.uniform(20, 10.0)  # pairs from -100 to 100 mm
    pos = np.tile([[-25.0], [25.0]], (1, 20))
    beam = rtplan.Beam(
        name="AP", gantry_deg=0.0, collimator_deg=10.0, jaws_mm=(-30.0, 30.0, -40.0, 40.0),
        mlc=mlc.with_positions(pos),
    )  # fmt: skip
    fig = beams_eye_view(beam, [_box()], margin_mm=20.0)
    ax = fig.axes[0]
    assert ax.get_title() == "AP: gantry 0°, collimator 10°, couch 0°"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["PTV"]
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    jaws = [r for r in rects if not r.get_fill()]
    assert len(jaws) == 1
    assert (jaws[0].get_width(), jaws[0].get_height()) == (60.0, 80.0)
    # the view reaches 20 mm past the box's outline (wider than the jaws along Y_b); the
    # collimator turned by 10° tilts the box's 40 x 80 mm near face in the view
    y0, y1 = ax.get_ylim()
    mag = 1000.0 / (1000.0 - HALF_MM[1])
    c, s = np.cos(np.radians(10.0)), np.sin(np.radians(10.0))
    half_y = mag * (HALF_MM[0] * s + HALF_MM[2] * c)
    assert (y0, y1) == pytest.approx((-half_y - 20.0, half_y + 20.0))
    # both banks of each leaf pair overlapping the view, closed at ±25 mm
    in_view = sum(1 for k in range(20) if -100 + 10 * (k + 1) > y0 and -100 + 10 * k < y1)
    leaves = [r for r in rects if r.get_fill()]
    assert len(leaves) == 2 * in_view
    tips = sorted({round(r.get_x() + (r.get_width() if r.get_x() < 0 else 0.0), 6) for r in leaves})
    assert tips == [-25.0, 25.0]
    # the patient's left at the right edge, the head at the top (HFS, gantry 0, collimator 10)
    letters = {t.get_text() for t in ax.texts}
    assert {"L", "S", "50 mm"} <= letters
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_report_plan_section_has_one_view_per_beam() -> None:
    from rtplan.report import HtmlReport, add_dose_section
    from rtplan.testing import cube_grid

    grid = cube_grid(24, spacing=5.0)
    r_mm = np.linalg.norm(grid.centers_mm(), axis=-1)
    ct = rtplan.Image(array=np.where(r_mm < 55.0, 0.0, -1000.0), grid=grid)
    dose = rtplan.Dose(array=np.clip(60.0 - r_mm, 0.0, 50.0), grid=grid)
    beams = [rtplan.Beam(name=n, gantry_deg=g, mu=100.0) for n, g in (("AP", 0.0), ("LL", 90.0))]
    plan = rtplan.Plan(beams=beams, prescription_gy=50.0, fractions=25)
    report = HtmlReport(title="plan check")
    add_dose_section(report, ct, dose, [_box()], plan=plan)
    import html as html_text

    html = html_text.unescape(report.render())
    for name in ("AP", "LL"):
        assert f"<figcaption>Beam's eye view of {name}, seen from the source" in html
    # the two views, the DVH and the three planes
    assert html.count("data:image/png;base64,") == 6
