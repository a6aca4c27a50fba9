"""2D guidance overlays: a CT plane with structures, dose and the needle, as RGB.

Display conventions
-------------------
* **axial** (default ``display="radiological"``): viewed from the patient's feet, with the
  patient as lying on the table (up on the screen is up in the room). For HFS and FFS the
  patient's left is on the image's right and anterior at the top; for HFP and FFP the
  left is on the image's left and posterior at the top. ``display="stored"`` shows the CT
  slice as stored instead (rows and columns of the DICOM pixel data).
* **coronal**: viewed from the front, patient's left on the image's right, superior up.
* **sagittal**: viewed from the patient's left, anterior on the image's left, superior up.
* **oblique**: the plane containing the needle that is closest to the axial plane, shown
  like the axial view tilted onto it; **oblique_orthogonal**: the plane containing the
  needle perpendicular to that one, superior up, needle running left to right.

Orientation letters at each edge name the patient direction that points to that edge
(L, R, A, P, S, I; two letters for oblique directions, the larger component first).

Isodose colours (percent of prescription) follow the customary scheme: 107 % red, 100 %
yellow, 95 % green, 80 % sky blue, 50 % blue, 30 % violet.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError
from rtplan.guidance._draw import RGB, Canvas, text_bitmap
from rtplan.guidance._trajectory import AccessibilityMap, Trajectory, axial_screen_axes
from rtplan.image import Dose, Image
from rtplan.structures import Structure

__all__ = [
    "ISODOSE_COLORS",
    "PLANES",
    "WINDOWS",
    "OverlayLayer",
    "View",
    "orientation_labels",
    "overlay_layer",
    "overlay_view",
    "render_overlay",
    "save_png",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: CT window presets: name -> (width, level), HU.
WINDOWS: Mapping[str, tuple[float, float]] = {
    "soft_tissue": (400.0, 40.0),
    "bone": (2000.0, 500.0),
    "bone_narrow": (1500.0, 300.0),
    "lung": (1500.0, -600.0),
}

#: Customary isodose line colours by percent of prescription.
ISODOSE_COLORS: Mapping[float, RGB] = {
    110.0: (255, 0, 255),
    107.0: (255, 0, 0),
    105.0: (255, 128, 0),
    100.0: (255, 255, 0),
    95.0: (0, 255, 0),
    90.0: (0, 200, 120),
    80.0: (0, 170, 255),
    70.0: (0, 110, 255),
    50.0: (0, 0, 255),
    30.0: (160, 0, 255),
    20.0: (120, 60, 200),
    10.0: (90, 90, 160),
}

DEFAULT_ISODOSES = (107.0, 100.0, 95.0, 80.0, 50.0, 30.0)

PLANES = ("axial", "coronal", "sagittal", "oblique", "oblique_orthogonal")

NEEDLE_COLOR: RGB = (0, 255, 255)
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) per LPS axis
_PANEL_PX = 120
_MIN_SIDE_PX = 512
_MIN_ASPECT = 0.5  # shorter side of a whole-CT view / longer side


# ============================================================================ geometry
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class View:
    """A rectangular pixel grid on a plane in patient space.

    Parameters
    ----------
    plane : str
        One of :data:`PLANES`.
    origin_mm : numpy.ndarray, shape (3,)
        LPS centre of the top-left pixel (row 0, column 0).
    right, down : numpy.ndarray, shape (3,)
        LPS unit vectors along increasing column and increasing row.
    pixel_mm : float
        Pixel size, mm (square pixels).
    shape : tuple of int
        ``(rows, columns)`` of the image part (an overlay may add a panel on the right).
    thickness_mm : float
        Slab thickness: points within half of it from the plane count as in the slice.
    at_mm : float
        Position of the plane: LPS z for axial, y for coronal, x for sagittal, the offset
        from the needle along the normal for oblique planes.
    """

    plane: str
    origin_mm: FloatArray
    right: FloatArray
    down: FloatArray
    pixel_mm: float
    shape: tuple[int, int]
    thickness_mm: float
    at_mm: float

    @property
    def normal(self) -> FloatArray:
        """Unit normal ``right x down`` (LPS)."""
        return np.asarray(np.cross(self.right, self.down))

    def to_pixel(self, points_mm: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Project LPS points on the view.

        Parameters
        ----------
        points_mm : array_like, shape (N, 3) or (3,)

        Returns
        -------
        colrow : numpy.ndarray, shape (N, 2)
            Continuous ``(column, row)`` pixel coordinates (pixel centres at integers).
        depth_mm : numpy.ndarray, shape (N,)
            Signed distance from the plane along :attr:`normal`, mm.
        """
        p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3) - self.origin_mm
        col = p @ self.right / self.pixel_mm
        row = p @ self.down / self.pixel_mm
        return np.stack([col, row], axis=1), np.asarray(p @ self.normal)

    def to_mm(self, colrow: npt.ArrayLike) -> FloatArray:
        """LPS points of continuous ``(column, row)`` pixel coordinates, shape (N, 3)."""
        cr = np.asarray(colrow, dtype=np.float64).reshape(-1, 2)
        return np.asarray(
            self.origin_mm
            + cr[:, :1] * self.pixel_mm * self.right
            + cr[:, 1:2] * self.pixel_mm * self.down
        )

    def pixel_centres_mm(self) -> FloatArray:
        """LPS centre of every pixel, shape (rows, columns, 3)."""
        rows, cols = self.shape
        r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        pts = self.to_mm(np.stack([c.ravel(), r.ravel()], axis=1))
        return pts.reshape(rows, cols, 3)


def _letter(v: FloatArray) -> str:
    """Patient direction letter (L, R, P, A, S, I) of the main component of an LPS vector."""
    a = int(np.argmax(np.abs(v)))
    return _LETTERS[a][1 if v[a] > 0 else 0]


def _letters(v: FloatArray) -> str:
    comps = sorted(range(3), key=lambda a: -abs(float(v[a])))
    out = ""
    for a in comps[:2]:
        if abs(float(v[a])) >= 0.3 or not out:
            out += _LETTERS[a][1 if v[a] > 0 else 0]
    return out


def orientation_labels(view: View) -> dict[str, str]:
    """Patient direction letters at each edge of a view.

    Parameters
    ----------
    view : View

    Returns
    -------
    dict
        Keys ``"right"``, ``"left"``, ``"top"``, ``"bottom"``; values such as ``"L"`` or
        ``"LA"`` (larger component first).
    """
    return {
        "right": _letters(view.right),
        "left": _letters(-view.right),
        "top": _letters(-view.down),
        "bottom": _letters(view.down),
    }


def _unit(v: npt.ArrayLike) -> FloatArray:
    a = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(a))
    if n < 1e-12:
        raise GeometryError("degenerate direction")
    return np.asarray(a / n)


def _plane_axes(
    ct: Image, plane: str, trajectory: Trajectory | None, display: str
) -> tuple[FloatArray, FloatArray, int | None]:
    """Screen right/down vectors and the LPS axis ``at_mm`` refers to (None: oblique)."""
    pos = ct.patient_position
    if plane == "axial":
        if display == "stored":
            return np.array(ct.grid.direction[:, 0]), np.array(ct.grid.direction[:, 1]), 2
        right, down = axial_screen_axes(pos)
        return right, down, 2
    if plane == "coronal":
        return np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0]), 1
    if plane == "sagittal":
        return np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]), 0
    if trajectory is None:
        raise GeometryError(f"plane {plane!r} needs a trajectory to align with")
    n = trajectory.direction
    z = np.array([0.0, 0.0, 1.0])
    if abs(float(n @ z)) > 0.999:  # cranio-caudal needle: use the coronal-like plane
        m = _unit(np.array([0.0, 1.0, 0.0]) - (n[1]) * n)
    else:
        m = _unit(z - float(n @ z) * n)
    r0, _ = axial_screen_axes(pos)
    if plane == "oblique":
        right = r0 - float(r0 @ m) * m
        right = _unit(right) if np.linalg.norm(right) > 1e-6 else n
        down = np.cross(m, right)
        return right, _unit(down), None
    if plane == "oblique_orthogonal":
        m2 = _unit(np.cross(m, n))
        down = -z - float(-z @ m2) * m2
        down = _unit(down) if np.linalg.norm(down) > 1e-6 else _unit(np.cross(m2, n))
        right = np.cross(down, m2)
        return _unit(right), down, None
    raise GeometryError(f"unknown plane {plane!r}; choose one of {', '.join(PLANES)}")


def overlay_view(
    ct: Image,
    *,
    plane: str = "axial",
    at_mm: float | None = None,
    trajectory: Trajectory | None = None,
    structures: Sequence[Structure] = (),
    pixel_mm: float | None = None,
    fov_mm: float | None = None,
    center_mm: npt.ArrayLike | None = None,
    thickness_mm: float | None = None,
    display: str = "radiological",
) -> View:
    """The pixel grid a :func:`render_overlay` call draws on.

    Parameters
    ----------
    ct : Image
        The CT.
    plane : str
        ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"`` or
        ``"oblique_orthogonal"`` (the last two need ``trajectory``).
    at_mm : float, optional
        Plane position: LPS z (axial), y (coronal), x (sagittal), or the offset from the
        needle along the normal (oblique). Default: through the trajectory's target, else
        the first structure's centroid, else the CT centre.
    trajectory : Trajectory, optional
        The needle (sets the default position and the oblique planes).
    structures : sequence of Structure
        Used for the default position.
    pixel_mm : float, optional
        Pixel size; by default the CT's smallest spacing, or less so that the longer side
        of the image has at least 512 pixels.
    fov_mm : float, optional
        Show a square of this size centred on ``center_mm`` (default the needle's midpoint
        or the first structure's centroid) instead of the whole CT. The whole CT's
        section is padded (black) so that its shorter side is at least half the longer.
    center_mm : array_like, shape (3,), optional
        Centre of the field of view.
    thickness_mm : float, optional
        Slab thickness; the CT slice spacing by default.
    display : {"radiological", "stored"}
        Axial display convention (see the module docstring).

    Returns
    -------
    View

    Raises
    ------
    GeometryError
        If the plane is unknown, an oblique plane has no trajectory, or the plane misses
        the CT.
    """
    if plane not in PLANES:
        raise GeometryError(f"unknown plane {plane!r}; choose one of {', '.join(PLANES)}")
    if display not in ("radiological", "stored"):
        raise GeometryError(f"display must be 'radiological' or 'stored', got {display!r}")
    grid = ct.grid
    right, down, axis = _plane_axes(ct, plane, trajectory, display)
    normal = np.cross(right, down)
    if trajectory is not None:
        ref = np.asarray(trajectory.target_mm)
    elif structures:
        ref = np.asarray(structures[0].centroid_mm)
    else:
        ref = np.asarray(grid.index_to_mm((np.asarray(grid.shape_ijk) - 1) / 2.0))
    if axis is not None:
        at = float(ref[axis]) if at_mm is None else float(at_mm)
        point = ref.copy()
        point[axis] = at
    else:
        at = 0.0 if at_mm is None else float(at_mm)
        assert trajectory is not None
        point = np.asarray(trajectory.target_mm) + at * normal
    # check that the plane cuts the CT
    corners = grid.corners_mm()
    side = (corners - point) @ normal
    if side.min() > 0 or side.max() < 0:
        raise GeometryError(
            f"the {plane} plane at {at:g} mm misses the CT (its extent along the normal is "
            f"{(corners @ normal).min():.1f} to {(corners @ normal).max():.1f} mm)"
        )
    if pixel_mm is not None and not float(pixel_mm) > 0:
        raise GeometryError(f"pixel_mm must be positive, got {pixel_mm}")
    if fov_mm is not None:
        if center_mm is not None:
            centre = np.asarray(center_mm, dtype=np.float64)
        elif trajectory is not None:
            centre = 0.5 * (trajectory.entry_mm + trajectory.target_mm)
        else:
            centre = ref
        cu = float((centre - point) @ right)
        cv = float((centre - point) @ down)
        half = 0.5 * float(fov_mm)
        u0, u1, v0, v1 = cu - half, cu + half, cv - half, cv + half
    else:
        u = (corners - point) @ right
        v = (corners - point) @ down
        # voxel-edge corners; keep pixel centres within the voxel-centre hull
        inset = 0.5 * float(min(grid.spacing_mm))
        u0, u1 = float(u.min()) + inset, float(u.max()) - inset
        v0, v1 = float(v.min()) + inset, float(v.max()) - inset
        # a thin slab of CT (a short scan seen from the side) is padded with black to at
        # least half as high as wide, so the captions and letters do not cover anatomy
        pad_u = max(0.0, _MIN_ASPECT * (v1 - v0) - (u1 - u0)) / 2.0
        pad_v = max(0.0, _MIN_ASPECT * (u1 - u0) - (v1 - v0)) / 2.0
        u0, u1, v0, v1 = u0 - pad_u, u1 + pad_u, v0 - pad_v, v1 + pad_v
    if pixel_mm is None:  # the CT's resolution, or finer so that the image spans 512 px
        px = min(float(min(grid.spacing_mm)), max(u1 - u0, v1 - v0) / (_MIN_SIDE_PX - 1))
    else:
        px = float(pixel_mm)
    cols = max(1, math.floor((u1 - u0) / px + 1e-9) + 1)
    rows = max(1, math.floor((v1 - v0) / px + 1e-9) + 1)
    if rows * cols > 4096 * 4096:
        raise GeometryError(f"a {rows}x{cols} overlay is too large; raise pixel_mm or give fov_mm")
    origin = point + u0 * right + v0 * down
    thick = float(grid.spacing_mm[0]) if thickness_mm is None else float(thickness_mm)
    return View(
        plane=plane,
        origin_mm=np.asarray(origin),
        right=np.asarray(right, dtype=np.float64),
        down=np.asarray(down, dtype=np.float64),
        pixel_mm=px,
        shape=(rows, cols),
        thickness_mm=thick,
        at_mm=at,
    )


# ============================================================================ layers
def _window(window: str | tuple[float, float]) -> tuple[float, float, str]:
    if isinstance(window, str):
        key = window.strip().lower().replace(" ", "_")
        if key not in WINDOWS:
            raise GeometryError(
                f"unknown window {window!r}; choose one of {', '.join(WINDOWS)} or give "
                "(width, level) in HU"
            )
        w, lvl = WINDOWS[key]
        return w, lvl, key
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


def _isodose_color(pct: float, colors: Mapping[float, RGB]) -> RGB:
    if pct in colors:
        return colors[pct]
    keys = np.array(sorted(colors), dtype=np.float64)
    return colors[float(keys[int(np.argmin(np.abs(keys - pct)))])]


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


def render_overlay(
    ct: Image,
    *,
    plane: str = "axial",
    at_mm: float | None = None,
    view: View | None = None,
    window: str | tuple[float, float] = "soft_tissue",
    dose: Image | None = None,
    prescription_gy: float | None = None,
    isodose_percent: Sequence[float] = DEFAULT_ISODOSES,
    isodose_colors: Mapping[float, RGB] | None = None,
    dose_display: str = "lines",
    wash_min_percent: float = 10.0,
    wash_alpha: float = 0.45,
    structures: Sequence[Structure] = (),
    trajectory: Trajectory | None = None,
    accessibility: AccessibilityMap | None = None,
    tick_mm: float = 10.0,
    pixel_mm: float | None = None,
    fov_mm: float | None = None,
    center_mm: npt.ArrayLike | None = None,
    thickness_mm: float | None = None,
    display: str = "radiological",
    line_width: float = 2.0,
    labels: bool = True,
    scale_bar: bool = True,
    annotate: bool = True,
    show_patient: bool = False,
    layers: Sequence[str | OverlayLayer] = (),
) -> npt.NDArray[np.uint8]:
    """Render a CT plane with structures, dose and a needle trajectory.

    Parameters
    ----------
    ct : Image
        CT in HU.
    plane : str
        ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"`` (the plane containing
        the needle closest to axial) or ``"oblique_orthogonal"``.
    at_mm : float, optional
        Plane position (see :func:`overlay_view`).
    view : View, optional
        A view from :func:`overlay_view`; overrides the geometric arguments.
    window : str or (float, float)
        ``"soft_tissue"`` (W400/L40), ``"bone"`` (W2000/L500), ``"bone_narrow"``
        (W1500/L300), ``"lung"`` (W1500/L-600), or ``(width, level)`` in HU.
    dose : Image, optional
        Dose in Gy on any grid.
    prescription_gy : float, optional
        100 % of the isodose levels; the dose maximum when omitted (the legend then
        reads "Dmax", not "Rx").
    isodose_percent : sequence of float
        Isodose levels, percent of prescription.
    isodose_colors : mapping, optional
        Colours by percent; :data:`ISODOSE_COLORS` (nearest level) by default.
    dose_display : {"lines", "wash", "both"}
        Isodose lines, a colourwash with a colour bar, or both.
    wash_min_percent : float
        Doses below this percent of prescription are not washed.
    wash_alpha : float
        Opacity of the colourwash.
    structures : sequence of Structure
        Drawn as contours in their ROI colours.
    trajectory : Trajectory, optional
        The needle: solid inside the slab, dashed where projected, entry ring, target
        cross, depth ticks every ``tick_mm`` (longer every 5th).
    accessibility : AccessibilityMap, optional
        Skin entry candidates within the slab: green (best) to red (worst feasible),
        grey when infeasible.
    tick_mm : float
        Depth tick spacing along the needle, mm.
    pixel_mm, fov_mm, center_mm, thickness_mm, display
        View geometry (see :func:`overlay_view`).
    line_width : float
        Width of structure and isodose lines, px.
    labels, scale_bar, annotate : bool
        Draw the orientation letters, the scale bar, and the plane/window caption.
    show_patient : bool
        Burn in the patient's name and ID (from ``ct.series``); off by default.
    layers : sequence of str or OverlayLayer
        Extra layers drawn over the image before the annotations: objects with a
        ``draw(canvas, view, ct)`` method, or names of layers installed as plugins in the
        entry-point group ``rtplan.overlay_layers`` (see :func:`overlay_layer`).

    Returns
    -------
    numpy.ndarray of uint8, shape (H, W, 3)
        RGB. The CT plane fills the top-left ``view.shape`` pixels; a panel on the right
        holds the isodose legend or colour bar when a dose is shown.

    Raises
    ------
    GeometryError
        If the plane, window or a dose option is invalid.

    Examples
    --------
    >>> rgb = render_overlay(ct, plane="axial", at_mm=12.5, structures=[ptv])  # doctest: +SKIP
    >>> save_png(rgb, "axial.png")  # doctest: +SKIP
    """
    if dose_display not in ("lines", "wash", "both"):
        raise GeometryError(f"dose_display must be 'lines', 'wash' or 'both', got {dose_display!r}")
    if view is None:
        view = overlay_view(
            ct,
            plane=plane,
            at_mm=at_mm,
            trajectory=trajectory,
            structures=structures,
            pixel_mm=pixel_mm,
            fov_mm=fov_mm,
            center_mm=center_mm,
            thickness_mm=thickness_mm,
            display=display,
        )
    width, level, wname = _window(window)
    rows, cols = view.shape
    panel = _PANEL_PX if dose is not None else 0
    rgb = np.zeros((rows, cols + panel, 3), dtype=np.uint8)
    gray = _gray(ct, view, width, level)
    rgb[:, :cols] = gray[..., np.newaxis]
    canvas = Canvas(rgb)
    image_part = Canvas(rgb[:, :cols])  # drawing clipped to the image

    # ---- dose
    rx = None
    dvals = None
    if dose is not None:
        if not (isinstance(dose, Dose) or dose.units == "Gy"):
            raise GeometryError(f"dose image {dose.name!r} has units {dose.units!r}, not Gy")
        dvals = dose.sample(view.pixel_centres_mm().reshape(-1, 3), order=1, fill_value=0.0)
        dvals = dvals.reshape(view.shape)
        dmax = float(np.max(dose.array)) if dose.array.size else 0.0
        rx = float(prescription_gy) if prescription_gy is not None else dmax
        if prescription_gy is None:
            logger.info(
                "render_overlay: no prescription given; 100 %% = dose maximum %.3g Gy", dmax
            )
        if rx <= 0:
            raise GeometryError("the prescription (or dose maximum) must be positive")
        if dose_display in ("wash", "both"):
            frac = dvals / (rx * 1.1)
            alpha = np.where(dvals >= rx * wash_min_percent / 100.0, wash_alpha, 0.0)
            image_part.blend(_jet(frac), alpha)

    # ---- accessibility, structures, isodoses, needle
    in_view: list[tuple[str, RGB]] = []  # for the legend: structures this plane cuts
    for s in structures:
        lines = _structure_lines(s, ct, view)
        if lines:
            in_view.append((s.name, s.color))
        for pts, closed in lines:
            image_part.polyline(pts, s.color, line_width, closed=closed)
    if accessibility is not None:
        _draw_accessibility(image_part, view, accessibility)
    colors = ISODOSE_COLORS if isodose_colors is None else isodose_colors
    if dvals is not None and rx is not None and dose_display in ("lines", "both"):
        for pct in sorted(isodose_percent):
            col = _isodose_color(float(pct), colors)
            for line in _contours_2d(dvals, rx * float(pct) / 100.0):
                image_part.polyline(line, col, line_width)
    if trajectory is not None:
        _draw_trajectory(image_part, view, trajectory, tick_mm)
    for layer in layers:
        overlay_layer(layer).draw(image_part, view, ct)

    # ---- annotations
    if labels:
        lab = orientation_labels(view)
        image_part.text(lab["right"], cols - 6, rows / 2, (255, 255, 0), size_px=18, anchor="rm")
        image_part.text(lab["left"], 6, rows / 2, (255, 255, 0), size_px=18, anchor="lm")
        image_part.text(lab["top"], cols / 2, 6, (255, 255, 0), size_px=18, anchor="ct")
        image_part.text(lab["bottom"], cols / 2, rows - 6, (255, 255, 0), size_px=18, anchor="cb")
    if scale_bar:
        _scale_bar(image_part, view, rows, cols)
    if annotate:
        caption = {
            "axial": f"Axial z {view.at_mm:.1f} mm",
            "coronal": f"Coronal y {view.at_mm:.1f} mm",
            "sagittal": f"Sagittal x {view.at_mm:.1f} mm",
            "oblique": f"Needle plane {view.at_mm:+.1f} mm",
            "oblique_orthogonal": f"Needle plane (orth.) {view.at_mm:+.1f} mm",
        }[view.plane]
        image_part.text(caption, 6, 6, (255, 255, 255), size_px=11)
        image_part.text(f"W{width:g} L{level:g} ({wname})", 6, 22, (200, 200, 200), size_px=11)
        if trajectory is not None:
            image_part.text(
                f"needle {trajectory.length_mm:.1f} mm, ticks {tick_mm:g} mm",
                6,
                37,
                NEEDLE_COLOR,
                size_px=11,
            )
    if show_patient and ct.series is not None:
        # top right, below the row of the orientation letter, one item a line
        for n, who in enumerate(patient_lines(ct.series.patient)):
            image_part.text(who, cols - 6, 30 + 15 * n, (255, 255, 255), size_px=12, anchor="rt")
    if dose is not None and rx is not None:
        _dose_panel(
            canvas,
            cols,
            rows,
            rx,
            isodose_percent,
            colors,
            dose_display,
            wash_min_percent,
            rx_label="Rx" if prescription_gy is not None else "Dmax",
            structures=in_view,
        )
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
    levels: Sequence[float],
    colors: Mapping[float, RGB],
    mode: str,
    wash_min: float,
    *,
    rx_label: str = "Rx",
    structures: Sequence[tuple[str, RGB]] = (),
) -> None:
    canvas.rect(x0, 0, x0 + _PANEL_PX, rows, (24, 24, 24))
    y = 8
    # "Dmax" when no prescription was given: the levels are then percent of the maximum
    canvas.text(f"{rx_label} {rx:.3g} Gy", x0 + 8, y, (255, 255, 255), size_px=12)
    y += 20
    if mode in ("lines", "both"):
        for pct in sorted(levels, reverse=True):
            col = _isodose_color(float(pct), colors)
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
        top = y + 10
        bottom = rows - 16
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


def save_png(rgb: npt.ArrayLike, path: str | Path) -> Path:
    """Save an RGB uint8 image as PNG (no timestamp or machine-specific metadata).

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
    """
    from PIL import Image as PILImage

    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise GeometryError(f"save_png needs an (H, W, 3) uint8 array, got {arr.shape} {arr.dtype}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.ascontiguousarray(arr), mode="RGB").save(p, format="PNG")
    return p
