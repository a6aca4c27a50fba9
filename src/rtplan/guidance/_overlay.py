"""2D guidance overlays: a CT plane with structures, dose and the needle, as RGB.

The plane and its pixel grid are a :class:`~rtplan.guidance.View` (see
:mod:`rtplan.guidance._view` for the display conventions of each plane).

Planes and window presets are the vocabularies :class:`rtplan.enum.Plane` and
:class:`rtplan.enum.Window` (their string values are accepted everywhere). How an overlay
is drawn (line width, needle ticks, annotations, isodose levels and colours, extra layers)
is an :class:`OverlayStyle`.

Isodose colours (percent of prescription) are the palette of
:mod:`rtplan.guidance._palette`: 107 % pink, 100 % yellow, 95 % green, 80 % sky blue,
50 % blue, 30 % violet. Structures whose colours come closer than
:data:`~rtplan.guidance.MIN_DELTA_E` (CIEDE2000) to an isodose line drawn with them, to the
needle, or to another structure are drawn in the nearest distinct colour
(:func:`~rtplan.guidance.distinct_structures`), unless ``recolor_structures=False``.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol, TypedDict, Unpack, runtime_checkable

import numpy as np
import numpy.typing as npt

from rtplan.enum import Plane, Window
from rtplan.errors import GeometryError
from rtplan.guidance._draw import RGB, Canvas, text_bitmap
from rtplan.guidance._palette import (
    DEFAULT_ISODOSES,
    ISODOSE_PALETTE,
    NEEDLE_COLOR,
    distinct_structures,
    isodose_color,
)
from rtplan.guidance._trajectory import AccessibilityMap, Trajectory
from rtplan.guidance._view import View, orientation_labels, overlay_view
from rtplan.image import Dose, Image
from rtplan.structures import Structure

__all__ = [
    "ISODOSE_COLORS",
    "WINDOWS",
    "OverlayLayer",
    "OverlayOptions",
    "OverlayStyle",
    "overlay_layer",
    "patient_lines",
    "plane_caption",
    "render_overlay",
    "save_png",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: CT window presets: name -> (width, level), HU (the values of :class:`rtplan.enum.Window`).
WINDOWS: Mapping[str, tuple[float, float]] = types.MappingProxyType(
    {w.value: (w.width_hu, w.level_hu) for w in Window}
)

#: Isodose line colours by percent of prescription (:data:`rtplan.guidance.ISODOSE_PALETTE`).
ISODOSE_COLORS: Mapping[float, RGB] = ISODOSE_PALETTE

_PANEL_PX = 120
_DOSE_DISPLAYS = ("lines", "wash", "both")
_CAPTIONS = {
    Plane.AXIAL: "Axial z {:.1f} mm",
    Plane.CORONAL: "Coronal y {:.1f} mm",
    Plane.SAGITTAL: "Sagittal x {:.1f} mm",
    Plane.OBLIQUE: "Needle plane {:+.1f} mm",
    Plane.OBLIQUE_ORTHOGONAL: "Needle plane (orth.) {:+.1f} mm",
}


# ============================================================================ layers
def _window(window: Window | str | tuple[float, float]) -> tuple[float, float, str]:
    if isinstance(window, str):
        try:
            preset = Window(window)
        except GeometryError as exc:
            raise GeometryError(f"{exc}, or give (width, level) in HU") from None
        return preset.width_hu, preset.level_hu, preset.value
    w, lvl = float(window[0]), float(window[1])
    if w <= 0:
        raise GeometryError(f"window width must be positive, got {w}")
    return w, lvl, "custom"


def _gray(ct: Image, view: View, width: float, level: float) -> npt.NDArray[np.uint8]:
    pts = view.pixel_centres_mm().reshape(-1, 3)
    hu = ct.sample(pts, order=1, fill_value=np.nan).reshape(view.shape)
    g = (hu - (level - width / 2.0)) / width
    g = np.where(np.isnan(g), 0.0, np.clip(g, 0.0, 1.0))
    return np.asarray(np.rint(g * 255.0).astype(np.uint8))


def _contours_2d(values: FloatArray, level: float) -> list[FloatArray]:
    """Iso-lines of a 2D array as lists of ``(column, row)`` points."""
    from skimage import measure

    if not np.isfinite(values).any() or values.max() < level or values.min() > level:
        return []
    v = np.where(np.isfinite(values), values, -np.inf if level > 0 else np.inf)
    v = np.where(np.isinf(v), np.nanmin(values) - 1.0, v)
    lines = measure.find_contours(v, level)  # type: ignore[no-untyped-call]
    return [np.asarray(c[:, ::-1], dtype=np.float64) for c in lines]


def _structure_lines(s: Structure, ct: Image, view: View) -> list[tuple[FloatArray, bool]]:
    """Polylines of a structure in the view: (points, closed)."""
    grid = ct.grid
    axial_like = (
        view.plane == "axial" and abs(abs(float(view.normal @ grid.slice_normal)) - 1) < 1e-6
    )
    closed = s.closed_contours
    if axial_like and closed and s.mask_image is None:
        half = 0.5 * (s.slice_thickness_mm or grid.spacing_mm[0])
        plane_pt = view.origin_mm
        offs = np.array(
            [float((c.points_mm.mean(axis=0) - plane_pt) @ view.normal) for c in closed]
        )
        if offs.size == 0:
            return []
        nearest = offs[int(np.argmin(np.abs(offs)))]
        if abs(nearest) > half + 1e-6:
            return []
        out = []
        for c, o in zip(closed, offs, strict=True):
            if abs(o - nearest) <= 0.05:
                cr, _ = view.to_pixel(c.points_mm)
                out.append((cr, True))
        return out
    if not s.has_volume:
        return []
    # the boolean mask as it is: sampling converts only the block the plane crosses
    img = Image(array=s.mask(grid), grid=grid, units="1")
    vals = img.sample(view.pixel_centres_mm().reshape(-1, 3), order=1, fill_value=0.0)
    return [(line, False) for line in _contours_2d(vals.reshape(view.shape), 0.5)]


def _jet(values: FloatArray) -> FloatArray:
    import matplotlib

    cmap = matplotlib.colormaps["jet"]
    rgba = np.asarray(cmap(np.clip(values, 0.0, 1.0)), dtype=np.float64)
    return np.asarray(rgba[..., :3] * 255.0)


def _draw_trajectory(canvas: Canvas, view: View, traj: Trajectory, tick_mm: float) -> None:
    ends, depth = view.to_pixel(np.stack([traj.entry_mm, traj.target_mm]))
    half = 0.5 * view.thickness_mm
    d0, d1 = float(depth[0]), float(depth[1])
    # parameter range of the segment inside the slab |depth| <= half
    if abs(d1 - d0) < 1e-12:
        t0, t1 = (0.0, 1.0) if abs(d0) <= half else (1.0, 0.0)
    else:
        ta = (-half - d0) / (d1 - d0)
        tb = (half - d0) / (d1 - d0)
        t0, t1 = max(0.0, min(ta, tb)), min(1.0, max(ta, tb))
    p0, p1 = ends[0], ends[1]
    # the whole projected path, dashed, then the part inside the slab, solid
    canvas.polyline(np.stack([p0, p1]), (0, 0, 0), 3.0, dash_px=(6.0, 4.0))
    canvas.polyline(np.stack([p0, p1]), NEEDLE_COLOR, 1.0, dash_px=(6.0, 4.0))
    if t1 > t0:
        q0 = p0 + t0 * (p1 - p0)
        q1 = p0 + t1 * (p1 - p0)
        canvas.polyline(np.stack([q0, q1]), (0, 0, 0), 5.0)
        canvas.polyline(np.stack([q0, q1]), NEEDLE_COLOR, 3.0)
    # depth ticks every tick_mm (longer every 5th), on the in-slab part
    seg = p1 - p0
    seg_len = float(np.hypot(seg[0], seg[1]))
    if seg_len > 1e-6 and tick_mm > 0:
        perp = np.array([-seg[1], seg[0]]) / seg_len
        for n, dmm in enumerate(traj.depth_marks_mm(tick_mm), start=1):
            t = dmm / traj.length_mm
            if not (t0 - 1e-9 <= t <= t1 + 1e-9):
                continue
            c = p0 + t * seg
            size = 7.0 if n % 5 == 0 else 4.0
            canvas.line(c - size * perp, c + size * perp, NEEDLE_COLOR, 2.0)
    # entry: ring; target: cross. Filled when inside the slab, thin when projected.
    in0 = abs(d0) <= half
    in1 = abs(d1) <= half
    canvas.circle(p0, 6.0, (0, 0, 0), 4.0 if in0 else 3.0)
    canvas.circle(p0, 6.0, NEEDLE_COLOR, 2.0 if in0 else 1.0)
    w = 2.0 if in1 else 1.0
    for sgn in (1.0, -1.0):
        a = p1 + np.array([-6.0, -6.0 * sgn])
        b = p1 + np.array([6.0, 6.0 * sgn])
        canvas.line(a, b, (0, 0, 0), w + 2.0)
    for sgn in (1.0, -1.0):
        a = p1 + np.array([-6.0, -6.0 * sgn])
        b = p1 + np.array([6.0, 6.0 * sgn])
        canvas.line(a, b, (255, 60, 60), w)


def _draw_accessibility(canvas: Canvas, view: View, acc: AccessibilityMap) -> None:
    cr, depth = view.to_pixel(acc.points_mm)
    near = np.abs(depth) <= 0.5 * view.thickness_mm
    if not near.any():
        return
    feas = acc.feasible & near
    infeas = ~acc.feasible & near
    canvas.stamp(cr[infeas], (90, 90, 90), 3.0)
    if feas.any():
        s = acc.score[feas]
        lo, hi = float(np.min(s)), float(np.max(s))
        frac = (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)
        order = np.argsort(-frac)  # best drawn last
        pts = cr[feas][order]
        for p, f in zip(pts, frac[order], strict=True):
            col = (round(255 * f), round(255 * (1 - f)), 0)
            canvas.stamp(p[np.newaxis], col, 3.0)
    _accessibility_key(canvas, feasible=bool(feas.any()), blocked=bool(infeas.any()))


#: What the dots along the skin mean, as drawn by :func:`_draw_accessibility`.
ACCESSIBILITY_KEY: tuple[tuple[str, RGB], ...] = (
    ("best entry", (0, 255, 0)),
    ("worst feasible", (255, 0, 0)),
    ("blocked", (90, 90, 90)),
)


def _accessibility_key(canvas: Canvas, *, feasible: bool, blocked: bool) -> None:
    """Name the skin dots in a box at the bottom left, above the scale bar."""
    entries = list(ACCESSIBILITY_KEY[:2]) if feasible else []
    if blocked:
        entries.append(ACCESSIBILITY_KEY[2])
    if not entries:
        return
    title = "skin entry candidates"
    step = 13
    width = (
        max(
            [text_bitmap(title, 10).shape[1]]
            + [text_bitmap(name, 10).shape[1] + 14 for name, _ in entries]
        )
        + 12
    )
    x0, y1 = 6, canvas.height - 34
    y0 = y1 - step * (len(entries) + 1) - 4
    canvas.rect(x0, y0, x0 + width, y1, (24, 24, 24))
    canvas.text(title, x0 + 6, y0 + 3, (230, 230, 230), size_px=10, halo=None)
    for n, (name, color) in enumerate(entries, start=1):
        y = y0 + 3 + n * step
        canvas.stamp(np.array([[x0 + 10, y + 5]], dtype=np.float64), color, 7.0)
        canvas.text(name, x0 + 18, y, (230, 230, 230), size_px=10, halo=None)


def _scale_bar(canvas: Canvas, view: View, rows: int, cols: int) -> None:
    target_mm = cols * view.pixel_mm / 5.0
    nice = [1, 2, 5, 10, 20, 50, 100, 200, 500]
    length = max([n for n in nice if n <= target_mm], default=1)
    px = length / view.pixel_mm
    x0, y0 = 12.0, rows - 14.0
    canvas.line((x0, y0), (x0 + px, y0), (0, 0, 0), 5.0)
    canvas.line((x0, y0), (x0 + px, y0), (255, 255, 255), 3.0)
    for x in (x0, x0 + px):
        canvas.line((x, y0 - 5), (x, y0 + 1), (255, 255, 255), 2.0)
    canvas.text(f"{length:g} mm", x0 + px / 2, y0 - 7, (255, 255, 255), size_px=12, anchor="cb")


@runtime_checkable
class OverlayLayer(Protocol):
    """An extra overlay layer (built in code or installed as a plugin).

    ``draw`` paints on the image part of the overlay with the :class:`Canvas` primitives
    (``polyline``, ``text``, ``blend``...), using ``view.to_pixel`` to place LPS points.
    """

    def draw(self, canvas: Canvas, view: View, ct: Image) -> None:
        """Draw the layer on ``canvas`` for the plane ``view`` of ``ct``."""
        ...


def overlay_layer(layer: str | OverlayLayer) -> OverlayLayer:
    """Resolve an overlay layer: an object with ``draw``, or a plugin name.

    Plugins register a class (instantiated without arguments) or an object under the
    entry-point group ``rtplan.overlay_layers``; they are imported on first use and a
    broken plugin is reported with a warning.

    Parameters
    ----------
    layer : str or OverlayLayer

    Returns
    -------
    OverlayLayer

    Raises
    ------
    GeometryError
        If the name is not an installed layer or the object has no ``draw`` method.

    Examples
    --------
    A layer that frames the image part of an overlay:

    >>> import numpy as np
    >>> from rtplan import Grid, Image
    >>> from rtplan.guidance import overlay_layer, render_overlay
    >>> class Frame:
    ...     def draw(self, canvas, view, ct):
    ...         rows, cols = view.shape
    ...         corners = [(0, 0), (cols - 1, 0), (cols - 1, rows - 1), (0, rows - 1)]
    ...         canvas.polyline(np.array(corners, float), (255, 0, 0), 1.0, closed=True)
    >>> layer = overlay_layer(Frame())
    >>> g = Grid(shape=(3, 64, 64), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(-63.0, -63.0, -2.0))
    >>> ct = Image(array=np.full(g.shape, 40.0), grid=g, units="HU")
    >>> rgb = render_overlay(ct, plane="axial", annotate=False, layers=[layer])
    >>> rgb[0, 0].tolist()
    [255, 0, 0]
    """
    if not isinstance(layer, str):
        if not isinstance(layer, OverlayLayer):
            raise GeometryError(
                f"{layer!r} is not an overlay layer: it needs draw(canvas, view, ct)"
            )
        return layer
    from rtplan import plugins

    loaded = plugins.load("rtplan.overlay_layers", layer)
    if loaded is None:
        available = ", ".join(plugins.available("rtplan.overlay_layers")) or "none installed"
        raise GeometryError(f"unknown overlay layer {layer!r}; available: {available}")
    obj = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(obj, OverlayLayer):
        raise GeometryError(f"overlay layer plugin {layer!r} has no draw(canvas, view, ct) method")
    return obj


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class OverlayStyle:
    """How :func:`render_overlay` draws: lines, needle ticks, annotations, dose, layers.

    Parameters
    ----------
    line_width : float
        Width of structure and isodose lines, px.
    tick_mm : float
        Depth tick spacing along the needle, mm (longer ticks every 5th; 0 for none).
    labels : bool
        Draw the orientation letters at the edges and, on overlays without a dose (whose
        side panel names them), a legend of the structures the plane cuts (bottom right).
    scale_bar : bool
        Draw the scale bar.
    annotate : bool
        Draw the plane/window caption (and the needle length).
    show_patient : bool
        Burn in the patient's name and ID (from ``ct.series``); off by default.
    isodose_percent : sequence of float
        Isodose levels, percent of prescription.
    isodose_colors : mapping of float to RGB, optional
        Colours by percent (the nearest level's colour is used); by default
        :data:`~rtplan.guidance.ISODOSE_PALETTE`: 107 % pink, 100 % yellow, 95 % green,
        80 % sky blue, 50 % blue, 30 % violet.
    recolor_structures : bool
        Draw structures whose colours clash (CIEDE2000 below
        :data:`~rtplan.guidance.MIN_DELTA_E`) with an isodose line shown, the needle or
        an earlier structure in the nearest distinct colour
        (:func:`~rtplan.guidance.distinct_structures`); on by default.
    dose_display : {"lines", "wash", "both"}
        Isodose lines, a colourwash with a colour bar, or both.
    wash_min_percent : float
        Doses below this percent of prescription are not washed.
    wash_alpha : float
        Opacity of the colourwash, in [0, 1].
    layers : sequence of str or OverlayLayer
        Extra layers drawn over the image before the annotations: objects with a
        ``draw(canvas, view, ct)`` method, or names of layers installed as plugins in the
        entry-point group ``rtplan.overlay_layers`` (see :func:`overlay_layer`).

    Raises
    ------
    GeometryError
        If ``dose_display`` is unknown or a number out of range.

    Examples
    --------
    >>> from rtplan.guidance import OverlayStyle
    >>> quiet = OverlayStyle(labels=False, scale_bar=False, annotate=False)
    >>> quiet.isodose_percent
    (107.0, 100.0, 95.0, 80.0, 50.0, 30.0)
    """

    line_width: float = 2.0
    tick_mm: float = 10.0
    labels: bool = True
    scale_bar: bool = True
    annotate: bool = True
    show_patient: bool = False
    isodose_percent: Sequence[float] = DEFAULT_ISODOSES
    isodose_colors: Mapping[float, RGB] | None = None
    recolor_structures: bool = True
    dose_display: str = "lines"
    wash_min_percent: float = 10.0
    wash_alpha: float = 0.45
    layers: Sequence[str | OverlayLayer] = ()

    def __post_init__(self) -> None:
        if self.dose_display not in _DOSE_DISPLAYS:
            raise GeometryError(
                f"dose_display must be 'lines', 'wash' or 'both', got {self.dose_display!r}"
            )
        if not self.line_width > 0:
            raise GeometryError(f"line_width must be positive, got {self.line_width}")
        if not self.tick_mm >= 0:
            raise GeometryError(f"tick_mm must be >= 0, got {self.tick_mm}")
        if not 0.0 <= self.wash_alpha <= 1.0:
            raise GeometryError(f"wash_alpha must lie in [0, 1], got {self.wash_alpha}")
        object.__setattr__(self, "isodose_percent", tuple(float(p) for p in self.isodose_percent))
        object.__setattr__(self, "layers", tuple(self.layers))

    @property
    def colors(self) -> Mapping[float, RGB]:
        """The isodose colours in use."""
        return ISODOSE_COLORS if self.isodose_colors is None else self.isodose_colors


class OverlayOptions(TypedDict, total=False):
    """Keywords of :func:`render_overlay` beyond its parameters.

    The fields of :class:`OverlayStyle`, the view geometry of :func:`overlay_view`
    (used when no ``view`` is given), and ``accessibility``.
    """

    accessibility: AccessibilityMap | None
    pixel_mm: float | None
    fov_mm: float | None
    center_mm: npt.ArrayLike | None
    thickness_mm: float | None
    display: str
    line_width: float
    tick_mm: float
    labels: bool
    scale_bar: bool
    annotate: bool
    show_patient: bool
    isodose_percent: Sequence[float]
    isodose_colors: Mapping[float, RGB] | None
    recolor_structures: bool
    dose_display: str
    wash_min_percent: float
    wash_alpha: float
    layers: Sequence[str | OverlayLayer]


_STYLE_FIELDS = frozenset(f.name for f in fields(OverlayStyle))
_VIEW_FIELDS = frozenset({"pixel_mm", "fov_mm", "center_mm", "thickness_mm", "display"})


def _split_options(
    style: OverlayStyle | None, options: Mapping[str, Any]
) -> tuple[OverlayStyle, dict[str, Any], AccessibilityMap | None]:
    """The style with its keyword fields applied, the view keywords, the accessibility map."""
    unknown = sorted(set(options) - _STYLE_FIELDS - _VIEW_FIELDS - {"accessibility"})
    if unknown:
        raise TypeError(f"render_overlay() got unexpected keyword argument(s) {unknown}")
    base = style if style is not None else OverlayStyle()
    changes = {k: v for k, v in options.items() if k in _STYLE_FIELDS}
    view_kw = {k: v for k, v in options.items() if k in _VIEW_FIELDS}
    accessibility: AccessibilityMap | None = options.get("accessibility")
    return (replace(base, **changes) if changes else base), view_kw, accessibility


def _dose_on_view(
    dose: Image, view: View, prescription_gy: float | None
) -> tuple[FloatArray, float]:
    """The dose on the view's pixels, Gy, and the 100 % level."""
    if not (isinstance(dose, Dose) or dose.units == "Gy"):
        raise GeometryError(f"dose image {dose.name!r} has units {dose.units!r}, not Gy")
    values = dose.sample(view.pixel_centres_mm().reshape(-1, 3), order=1, fill_value=0.0)
    dmax = float(np.max(dose.array)) if dose.array.size else 0.0
    rx = float(prescription_gy) if prescription_gy is not None else dmax
    if prescription_gy is None:
        logger.info("render_overlay: no prescription given; 100 %% = dose maximum %.3g Gy", dmax)
    if rx <= 0:
        raise GeometryError("the prescription (or dose maximum) must be positive")
    return values.reshape(view.shape), rx


def _draw_structures(
    canvas: Canvas, view: View, ct: Image, structures: Sequence[Structure], width: float
) -> list[tuple[str, RGB]]:
    """Contours of the structures the plane cuts; their names and colours for the legend."""
    in_view: list[tuple[str, RGB]] = []
    for s in structures:
        lines = _structure_lines(s, ct, view)
        if lines:
            in_view.append((s.name, s.color))
        for pts, closed in lines:
            canvas.polyline(pts, s.color, width, closed=closed)
    return in_view


def _draw_isodoses(canvas: Canvas, dose: FloatArray, rx: float, style: OverlayStyle) -> None:
    for pct in sorted(style.isodose_percent):
        col = isodose_color(pct, style.colors)
        for line in _contours_2d(dose, rx * pct / 100.0):
            canvas.polyline(line, col, style.line_width)


def _reserved_colors(style: OverlayStyle, dose: bool, trajectory: Trajectory | None) -> list[RGB]:
    """The colours structures must stay away from: isodose lines shown, the needle."""
    reserved = []
    if dose and style.dose_display in ("lines", "both"):
        reserved += [isodose_color(p, style.colors) for p in style.isodose_percent]
    if trajectory is not None:
        reserved.append(NEEDLE_COLOR)
    return reserved


def _annotate(
    canvas: Canvas,
    view: View,
    ct: Image,
    style: OverlayStyle,
    window: tuple[float, float, str],
    trajectory: Trajectory | None,
) -> None:
    """Orientation letters, scale bar, captions and patient lines, as the style asks."""
    rows, cols = view.shape
    boxes: list[tuple[int, int, int, int]] = []  # the captions' text boxes
    if style.annotate:
        width, level, name = window
        boxes.append(canvas.text(plane_caption(view, ct), 6, 6, (255, 255, 255), size_px=11))
        boxes.append(
            canvas.text(f"W{width:g} L{level:g} ({name})", 6, 22, (200, 200, 200), size_px=11)
        )
        if trajectory is not None:
            text = f"needle {trajectory.length_mm:.1f} mm, ticks {style.tick_mm:g} mm"
            boxes.append(canvas.text(text, 6, 37, NEEDLE_COLOR, size_px=11))
    if style.labels:
        lab = orientation_labels(view)
        canvas.text(lab["right"], cols - 6, rows / 2, (255, 255, 0), size_px=18, anchor="rm")
        canvas.text(lab["left"], 6, rows / 2, (255, 255, 0), size_px=18, anchor="lm")
        # the top letter goes below the captions where a long caption reaches the middle
        half = text_bitmap(lab["top"], 18).shape[1] / 2 + 4
        top = max(
            [6] + [b[3] + 4 for b in boxes if b[0] < cols / 2 + half and b[2] > cols / 2 - half]
        )
        canvas.text(lab["top"], cols / 2, top, (255, 255, 0), size_px=18, anchor="ct")
        canvas.text(lab["bottom"], cols / 2, rows - 6, (255, 255, 0), size_px=18, anchor="cb")
    if style.scale_bar:
        _scale_bar(canvas, view, rows, cols)
    if style.show_patient and ct.series is not None:
        # top right, below the row of the orientation letter, one item a line
        for n, who in enumerate(patient_lines(ct.series.patient)):
            canvas.text(who, cols - 6, 30 + 15 * n, (255, 255, 255), size_px=12, anchor="rt")


def plane_caption(view: View, ct: Image) -> str:
    """The caption naming the plane an overlay shows, and the CT slice(s) it comes from.

    An axial plane parallel to the CT slices names the slice it lies on (1-based), or the
    two slices it is interpolated between when it lies between slice centres (by more than
    5 % of the spacing); other planes are resampled from many slices and say only where
    they lie.

    Parameters
    ----------
    view : View
    ct : Image

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import Grid, Image
    >>> from rtplan.guidance import overlay_view, plane_caption
    >>> g = Grid(shape=(10, 8, 8), spacing_mm=(2.5, 1.0, 1.0), origin_mm=(0.0, 0.0, -321.5))
    >>> ct = Image(array=np.zeros(g.shape), grid=g, units="HU")
    >>> plane_caption(overlay_view(ct, plane="axial", at_mm=-319.0), ct)
    'Axial z -319.0 mm (slice 2)'
    >>> plane_caption(overlay_view(ct, plane="axial", at_mm=-318.0), ct)
    'Axial z -318.0 mm (interpolated, slices 2-3)'
    """
    text = _CAPTIONS[view.plane].format(view.at_mm)
    grid = ct.grid
    if view.plane != Plane.AXIAL or abs(abs(float(view.normal @ grid.slice_normal)) - 1) > 1e-6:
        return text
    k = float(grid.mm_to_index(view.origin_mm[np.newaxis])[0, 2])
    nearest = round(k)
    if abs(k - nearest) <= 0.05:
        return f"{text} (slice {nearest + 1})"
    lo = int(np.floor(k))
    return f"{text} (interpolated, slices {lo + 1}-{lo + 2})"


def render_overlay(  # noqa: PLR0913 (the overlay's parts, keyword-only, as a viewer names them)
    ct: Image,
    *,
    plane: Plane | str = Plane.AXIAL,
    at_mm: float | None = None,
    view: View | None = None,
    window: Window | str | tuple[float, float] = Window.SOFT_TISSUE,
    dose: Image | None = None,
    prescription_gy: float | None = None,
    structures: Sequence[Structure] = (),
    trajectory: Trajectory | None = None,
    style: OverlayStyle | None = None,
    path: str | Path | None = None,
    **options: Unpack[OverlayOptions],
) -> npt.NDArray[np.uint8]:
    """Render a CT plane with structures, dose and a needle trajectory (and save it).

    Parameters
    ----------
    ct : Image
        CT in HU.
    plane : Plane or str
        ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"`` (the plane containing
        the needle closest to axial) or ``"oblique_orthogonal"``; see
        :class:`rtplan.enum.Plane`.
    at_mm : float, optional
        Plane position (see :func:`overlay_view`).
    view : View, optional
        A view from :func:`overlay_view`; overrides ``plane``, ``at_mm`` and the view
        geometry keywords.
    window : Window, str or (float, float)
        A preset of :class:`rtplan.enum.Window`: ``"soft_tissue"`` (W400/L40), ``"bone"``
        (W2000/L500), ``"bone_narrow"`` (W1500/L300), ``"lung"`` (W1500/L-600); or
        ``(width, level)`` in HU.
    dose : Image, optional
        Dose in Gy on any grid.
    prescription_gy : float, optional
        100 % of the isodose levels; the dose maximum when omitted (the legend then
        reads "Dmax", not "Rx").
    structures : sequence of Structure
        Drawn as contours in their ROI colours.
    trajectory : Trajectory, optional
        The needle: solid inside the slab, dashed where projected, entry ring, target
        cross, depth ticks every ``tick_mm`` (longer every 5th).
    style : OverlayStyle, optional
        How to draw; the defaults of :class:`OverlayStyle` when omitted.
    path : str or Path, optional
        Also save the image there as PNG (atomically, as :func:`save_png`): one call
        renders and saves.
    **options
        Any field of :class:`OverlayStyle` (``line_width``, ``tick_mm``, ``labels``,
        ``scale_bar``, ``annotate``, ``show_patient``, ``isodose_percent``,
        ``isodose_colors``, ``recolor_structures``, ``dose_display``,
        ``wash_min_percent``, ``wash_alpha``, ``layers``), replacing that field of
        ``style``; the view geometry of :func:`overlay_view` (``pixel_mm``, ``fov_mm``,
        ``center_mm``, ``thickness_mm``, ``display``); and ``accessibility``, an
        :class:`AccessibilityMap` whose skin entry candidates within the slab are drawn
        green (best) to red (worst feasible), grey when infeasible.

    Returns
    -------
    numpy.ndarray of uint8, shape (H, W, 3)
        RGB. The CT plane fills the top-left ``view.shape`` pixels; a panel on the right
        holds the isodose legend or colour bar when a dose is shown.

    Raises
    ------
    GeometryError
        If the plane, window or a dose option is invalid.
    TypeError
        If a keyword is neither a parameter nor an option.

    Examples
    --------
    >>> import rtplan
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> gtv = study.structures["GTV"]
    >>> rgb = rtplan.render_overlay(
    ...     study.ct, plane="axial", at_mm=float(gtv.centroid_mm[2]), structures=[gtv],
    ...     window="bone", fov_mm=120.0,
    ... )
    >>> rgb.shape, rgb.dtype
    ((512, 512, 3), dtype('uint8'))
    """
    style, view_kw, accessibility = _split_options(style, options)
    if view is None:
        view = overlay_view(
            ct, plane=plane, at_mm=at_mm, trajectory=trajectory, structures=structures, **view_kw
        )
    shown_window = _window(window)
    rows, cols = view.shape
    rgb = np.zeros((rows, cols + (_PANEL_PX if dose is not None else 0), 3), dtype=np.uint8)
    rgb[:, :cols] = _gray(ct, view, shown_window[0], shown_window[1])[..., np.newaxis]
    image_part = Canvas(rgb[:, :cols])  # drawing clipped to the image
    dvals, rx = _dose_on_view(dose, view, prescription_gy) if dose is not None else (None, 0.0)
    if dvals is not None and style.dose_display in ("wash", "both"):
        alpha = np.where(dvals >= rx * style.wash_min_percent / 100.0, style.wash_alpha, 0.0)
        image_part.blend(_jet(dvals / (rx * 1.1)), alpha)
    if style.recolor_structures:
        structures = distinct_structures(
            structures, reserved=_reserved_colors(style, dvals is not None, trajectory)
        )
    in_view = _draw_structures(image_part, view, ct, structures, style.line_width)
    if accessibility is not None:
        _draw_accessibility(image_part, view, accessibility)
    if dvals is not None and style.dose_display in ("lines", "both"):
        _draw_isodoses(image_part, dvals, rx, style)
    if trajectory is not None:
        _draw_trajectory(image_part, view, trajectory, style.tick_mm)
    for layer in style.layers:
        overlay_layer(layer).draw(image_part, view, ct)
    _annotate(image_part, view, ct, style, shown_window, trajectory)
    if dvals is None and in_view and style.labels:
        _inset_legend(image_part, in_view)
    if dvals is not None:
        _dose_panel(
            Canvas(rgb),
            cols,
            rows,
            rx,
            style,
            rx_label="Rx" if prescription_gy is not None else "Dmax",
            structures=in_view,
        )
    if path is not None:
        save_png(rgb, path)
    return rgb


def patient_lines(patient: Mapping[str, object]) -> list[str]:
    """The identifying lines burned in with ``show_patient``: name, ID, birth date.

    The DICOM Person Name ``Family^Given^Middle^Prefix^Suffix`` is shown as
    ``Family, Given Middle``; empty items are left out.

    Parameters
    ----------
    patient : mapping
        DICOM keywords to values (:attr:`rtplan.image.SeriesInfo.patient`).

    Returns
    -------
    list of str
    """
    lines = []
    name = str(patient.get("PatientName", "") or "").split("=")[0]  # alphabetic group
    parts = [part.strip() for part in name.split("^")]
    family, given = parts[0], " ".join(x for x in parts[1:3] if x)
    shown = ", ".join(x for x in (family, given) if x)
    if shown:
        lines.append(shown)
    pid = str(patient.get("PatientID", "") or "").strip()
    if pid:
        lines.append(f"ID {pid}")
    birth = str(patient.get("PatientBirthDate", "") or "").strip()
    if len(birth) == 8 and birth.isdigit():
        lines.append(f"born {birth[:4]}-{birth[4:6]}-{birth[6:]}")
    return lines


def _dose_panel(
    canvas: Canvas,
    x0: int,
    rows: int,
    rx: float,
    style: OverlayStyle,
    *,
    rx_label: str = "Rx",
    structures: Sequence[tuple[str, RGB]] = (),
) -> None:
    canvas.rect(x0, 0, x0 + _PANEL_PX, rows, (24, 24, 24))
    mode = style.dose_display
    y = 8
    # "Dmax" when no prescription was given: the levels are then percent of the maximum
    canvas.text(f"{rx_label} {rx:.3g} Gy", x0 + 8, y, (255, 255, 255), size_px=12)
    y += 20
    if mode in ("lines", "both"):
        for pct in sorted(style.isodose_percent, reverse=True):
            col = isodose_color(pct, style.colors)
            canvas.rect(x0 + 8, y + 3, x0 + 22, y + 11, col)
            canvas.text(
                f"{pct:g}% {rx * pct / 100:.3g} Gy", x0 + 26, y, (230, 230, 230), size_px=11
            )
            y += 16
    if structures:
        # Structure colours often match isodose colours (a red GTV, a red 107 % line): name
        # them, with a line swatch (isodoses have filled squares).
        y = _structure_legend(
            canvas, x0, y + 6, rows - 16 - (140 if mode != "lines" else 0), structures
        )
    if mode in ("wash", "both"):
        _colour_bar(canvas, x0, y + 10, rows - 16, rx, style.wash_min_percent)


def _colour_bar(canvas: Canvas, x0: int, top: int, bottom: int, rx: float, wash_min: float) -> None:
    """The colourwash scale from ``top`` to ``bottom``: 110 % of prescription down to 0."""
    if bottom - top < 20:
        return
    h = bottom - top
    vals = np.linspace(1.1, 0.0, h)  # fraction of 110 % of prescription, top to bottom
    bar = _jet(vals / 1.1)
    for i in range(h):
        shade = bar[i] if vals[i] * 100.0 >= wash_min else np.array([40.0, 40.0, 40.0])
        canvas.rgb[top + i, x0 + 8 : x0 + 24] = np.rint(shade).astype(np.uint8)
    for pct in (110, 100, 75, 50, 25, 0):
        yy = top + (1.0 - pct / 110.0) * (h - 1)
        canvas.line((x0 + 24, yy), (x0 + 29, yy), (230, 230, 230), 1.0)
        canvas.text(
            f"{rx * pct / 100:.3g} Gy", x0 + 32, yy, (230, 230, 230), size_px=10, anchor="lm"
        )


def _structure_legend(
    canvas: Canvas, x0: int, y: int, bottom: int, structures: Sequence[tuple[str, RGB]]
) -> int:
    """List ``(name, colour)`` items from row ``y`` down to ``bottom``; the next free row."""
    step = 14
    fit = (bottom - y - 16) // step
    if fit < 1:
        return y
    canvas.text("Structures", x0 + 8, y, (255, 255, 255), size_px=11)
    y += 16
    more = len(structures) - fit + 1 if len(structures) > fit else 0
    room = _PANEL_PX - 26 - 4
    for name, color in list(structures)[: fit - 1 if more else fit]:
        label = name
        while len(label) > 1 and text_bitmap(label, 10).shape[1] > room:
            label = label[:-2] + "…"
        canvas.line((x0 + 8, y + 6), (x0 + 22, y + 6), color, 2.0)
        canvas.text(label, x0 + 26, y, (230, 230, 230), size_px=10)
        y += step
    if more:
        canvas.text(f"+{more} more", x0 + 26, y, (200, 200, 200), size_px=10)
        y += step
    return y


def _inset_legend(canvas: Canvas, structures: Sequence[tuple[str, RGB]]) -> None:
    """The structures the plane cuts, named in their colours, in a box at the bottom right.

    Overlays with a dose have the legend in their side panel; this is for those without.
    """
    step = 14
    room = max(0, (canvas.height - 60) // step)
    if room < 1:
        return
    shown = list(structures)[:room]
    width = max(text_bitmap(name, 10).shape[1] for name, _ in shown) + 34
    x0 = canvas.width - width - 6
    y0 = canvas.height - 28 - step * len(shown)
    canvas.rect(x0, y0, x0 + width, y0 + step * len(shown) + 6, (24, 24, 24))
    y = y0 + 3
    for name, color in shown:
        canvas.line((x0 + 6, y + 6), (x0 + 20, y + 6), color, 2.0)
        canvas.text(name, x0 + 26, y, (230, 230, 230), size_px=10, halo=None)
        y += step


def save_png(rgb: npt.ArrayLike, path: str | Path) -> Path:
    """Save an RGB uint8 image as PNG (no timestamp or machine-specific metadata).

    The file is written atomically (a temporary file in the same folder, renamed over
    ``path`` when complete): an interrupted save leaves an earlier file as it was.

    Parameters
    ----------
    rgb : array_like of uint8, shape (H, W, 3)
    path : str or Path

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    GeometryError
        If the array is not (H, W, 3) uint8.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from rtplan.guidance import save_png
    >>> rgb = np.zeros((32, 48, 3), dtype=np.uint8)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_png(rgb, Path(folder) / "overlay.png")
    ...     path.read_bytes()[1:4]
    b'PNG'
    """
    from PIL import Image as PILImage

    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise GeometryError(f"save_png needs an (H, W, 3) uint8 array, got {arr.shape} {arr.dtype}")
    from rtplan._atomic import atomic_path

    p = Path(path)
    with atomic_path(p) as tmp:  # whole or not at all: never a partial PNG over a good one
        PILImage.fromarray(np.ascontiguousarray(arr), mode="RGB").save(tmp, format="PNG")
    return p
