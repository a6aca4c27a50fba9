"""The accessibility map unrolled: every skin entry candidate around the target, as RGB.

:func:`render_accessibility_map` draws the candidates of a search
(:class:`rtplan.guidance.AccessibilityMap`) on a cylinder around the target's axial axis,
cut open at a seam (behind the patient's back by default, or where no entry is feasible)
as the axial overlay shows it:

* **columns**: the azimuth of the entry seen from the target in the radiological axial
  view (:func:`rtplan.guidance.render_overlay`): 0° at the top of the axial image
  (anterior for a supine patient), positive clockwise, towards the image's right;
  the letters above name the patient direction at 0°, ±90° and 180°;
* **rows**: the CT slices, superior at the top;
* **colour**: the best score of the feasible entries in each cell (green best, red worst
  of the search), grey where every candidate is blocked, black where there is no skin
  within reach; the returned trajectories are ringed with their rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError
from rtplan.guidance._draw import RGB, Canvas
from rtplan.guidance._orientation import axial_screen_axes, direction_letters
from rtplan.guidance._trajectory import AccessibilityMap, Trajectory
from rtplan.image import PatientPosition

__all__ = ["BLOCKED_COLOR", "quiet_seam_deg", "render_accessibility_map", "score_color"]

FloatArray = npt.NDArray[np.float64]

#: Colour of skin cells where every candidate entry is infeasible.
BLOCKED_COLOR: RGB = (110, 110, 110)

_MARGIN_LEFT = 70
_MARGIN_TOP = 46
_MARGIN_BOTTOM = 92
_MARGIN_RIGHT = 16


def score_color(fraction: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Colour of a normalised score: 0 (best) green, 0.5 yellow, 1 (worst) red.

    Parameters
    ----------
    fraction : array_like
        ``(score - best) / (worst - best)`` in [0, 1].

    Returns
    -------
    numpy.ndarray of uint8, shape (..., 3)
    """
    f = np.clip(np.asarray(fraction, dtype=np.float64), 0.0, 1.0)
    red = np.clip(2.0 * f, 0.0, 1.0)
    green = np.clip(2.0 * (1.0 - f), 0.0, 1.0)
    rgb = np.stack([red, green, np.zeros_like(f)], axis=-1) * 230.0
    return np.asarray(np.rint(rgb), dtype=np.uint8)


def render_accessibility_map(
    accessibility: AccessibilityMap,
    *,
    position: PatientPosition | str | None = None,
    trajectories: Sequence[Trajectory] = (),
    deg_per_px: float = 1.0,
    slice_px: int | None = None,
    seam_deg: float | None = None,
) -> npt.NDArray[np.uint8]:
    """Unroll the skin entry candidates around the target into an image.

    Parameters
    ----------
    accessibility : AccessibilityMap
        ``result.accessibility`` of :func:`rtplan.plan_trajectory`.
    position : PatientPosition or str, optional
        Patient Position of the CT (sets the axial view's orientation); HFS if None.
    trajectories : sequence of Trajectory
        Paths to ring on the map, labelled with their rank.
    deg_per_px : float
        Azimuth per pixel column, degrees. Skin voxels are further apart in azimuth than
        that far from the target; a cell with no candidate between two that have some (at
        most 3 columns apart) shows the nearer one, so the map has no false gaps.
    slice_px : int, optional
        Height of one CT slice, px; by default so that the map is about 360 px high.
    seam_deg : float or None
        Azimuth where the cylinder is cut open (the map's left and right edges), degrees.
        None (the default) puts it in the middle of the widest range of azimuths without
        a feasible entry (:func:`quiet_seam_deg`), where access is rarest, so that the
        feasible entries are not split between the two edges; 180 cuts behind a supine
        patient's back.

    Returns
    -------
    numpy.ndarray of uint8, shape (H, W, 3)
        RGB. The map's cells start at column 70 and row 46: azimuth ``a`` (degrees)
        covers column ``70 + floor(((a - seam) mod 360) / deg_per_px)``, and each slice
        ``slice_px`` rows, the most superior slice first.

    Raises
    ------
    GeometryError
        If ``deg_per_px`` or ``slice_px`` is not positive.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.guidance import render_accessibility_map
    >>> spine = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    >>> s = spine.structures
    >>> paths = rtplan.plan_trajectory(
    ...     spine.ct, s["GTV"], avoid=[s["SpinalCanal"]], clearance_mm=3.0, n_best=3
    ... )
    >>> rgb = render_accessibility_map(
    ...     paths.accessibility, position=spine.ct.patient_position, trajectories=list(paths)
    ... )
    >>> rgb.shape[2], rgb.dtype
    (3, dtype('uint8'))
    """
    if not deg_per_px > 0:
        raise GeometryError(f"deg_per_px must be positive, got {deg_per_px}")
    if slice_px is not None and slice_px < 1:
        raise GeometryError(f"slice_px must be >= 1, got {slice_px}")
    geo = _MapGeometry.build(accessibility, position, deg_per_px, slice_px, seam_deg)
    n_cols = geo.n_cols
    n_rows = geo.n_slices
    best = np.full((n_rows, n_cols), np.inf)
    seen = np.zeros((n_rows, n_cols), dtype=bool)
    row, col = geo.cell(
        accessibility.points_mm, accessibility.targets_mm[accessibility.target_index]
    )
    seen[row, col] = True
    ok = accessibility.feasible
    np.minimum.at(best, (row[ok], col[ok]), accessibility.score[ok])
    best, seen = _fill_gaps(best, seen, max_gap=3)
    h = n_rows * geo.slice_px
    width = _MARGIN_LEFT + n_cols + _MARGIN_RIGHT
    height = _MARGIN_TOP + h + _MARGIN_BOTTOM
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    cells = np.zeros((n_rows, n_cols, 3), dtype=np.uint8)
    cells[seen] = BLOCKED_COLOR
    feas = np.isfinite(best)
    lo = float(best[feas].min()) if feas.any() else 0.0
    hi = float(best[feas].max()) if feas.any() else 1.0
    frac = (best[feas] - lo) / (hi - lo) if hi > lo else np.zeros(int(feas.sum()))
    cells[feas] = score_color(frac)
    rgb[_MARGIN_TOP : _MARGIN_TOP + h, _MARGIN_LEFT : _MARGIN_LEFT + n_cols] = np.repeat(
        cells, geo.slice_px, axis=0
    )
    canvas = Canvas(rgb)
    _draw_axes(canvas, geo, h)
    _ring_paths(canvas, geo, trajectories)
    _draw_key(canvas, accessibility, lo, hi, _MARGIN_TOP + h + 30)
    return rgb


_GREY: RGB = (200, 200, 200)


def _draw_axes(canvas: Canvas, geo: _MapGeometry, h: int) -> None:
    """Azimuth ticks every 45 degrees with letters at 0, +-90, 180; the z of some slices."""
    first = math.ceil(geo.seam_deg / 45.0 - 1e-9)
    last = math.floor((geo.seam_deg + 360.0) / 45.0 + 1e-9)
    for m in range(first, last + 1):
        deg = 45 * m
        x = _MARGIN_LEFT + (deg - geo.seam_deg) / geo.deg_per_px
        label = 180 - (180 - deg) % 360  # in (-180, 180]; -180 at a left edge behind
        if label == 180 and m == first and x <= _MARGIN_LEFT + 1e-6:
            label = -180
        canvas.line((x, _MARGIN_TOP - 6), (x, _MARGIN_TOP - 1), _GREY, 1.0)
        canvas.line((x, _MARGIN_TOP + h), (x, _MARGIN_TOP + h + 5), _GREY, 1.0)
        canvas.text(f"{label:d}°", x, _MARGIN_TOP + h + 7, _GREY, size_px=10, anchor="ct")
        if deg % 90 == 0:
            canvas.text(
                geo.letter_at(float(deg)),
                x,
                _MARGIN_TOP - 8,
                (255, 255, 0),
                size_px=16,
                anchor="cb",
            )
    step = max(1, math.ceil(geo.n_slices / 8))
    for r in range(0, geo.n_slices, step):
        y = _MARGIN_TOP + (r + 0.5) * geo.slice_px
        canvas.text(f"z {geo.z_of_row(r):.0f}", _MARGIN_LEFT - 6, y, _GREY, size_px=10, anchor="rm")
    canvas.text(f"{geo.letter_up} up", 6, _MARGIN_TOP - 8, (255, 255, 0), size_px=12, anchor="lb")


def _ring_paths(canvas: Canvas, geo: _MapGeometry, trajectories: Sequence[Trajectory]) -> None:
    """Ring each returned path's entry, labelled with its rank."""
    for t in trajectories:
        t_row, _ = geo.cell(t.entry_mm[np.newaxis], t.target_mm[np.newaxis])
        az = geo.azimuth_deg(t.entry_mm[np.newaxis], t.target_mm[np.newaxis])
        centre = (
            _MARGIN_LEFT + float(geo.column_of(az)[0]),
            _MARGIN_TOP + (float(t_row[0]) + 0.5) * geo.slice_px,
        )
        canvas.circle(centre, 6.0, (0, 0, 0), 4.0)
        canvas.circle(centre, 6.0, (0, 255, 255), 2.0)
        if t.rank:
            canvas.text(
                str(t.rank), centre[0] + 8, centre[1] - 8, (0, 255, 255), size_px=11, anchor="lb"
            )


def _draw_key(
    canvas: Canvas, accessibility: AccessibilityMap, lo: float, hi: float, key_y: int
) -> None:
    """The caption, the score colour bar from ``lo`` to ``hi`` and the grey/black key."""
    canvas.text(
        "Skin entries around the target (0° = top of the axial image)",
        6,
        4,
        (255, 255, 255),
        size_px=11,
        anchor="lt",
    )
    bar = score_color(np.linspace(0.0, 1.0, 200))
    for i, shade in enumerate(bar):
        color: RGB = (int(shade[0]), int(shade[1]), int(shade[2]))
        canvas.rect(_MARGIN_LEFT + i, key_y, _MARGIN_LEFT + i + 1, key_y + 10, color)
    canvas.text(f"best {lo:.2f}", _MARGIN_LEFT, key_y + 12, _GREY, size_px=10, anchor="lt")
    canvas.text(f"worst {hi:.2f}", _MARGIN_LEFT + 200, key_y + 12, _GREY, size_px=10, anchor="rt")
    canvas.rect(_MARGIN_LEFT, key_y + 28, _MARGIN_LEFT + 14, key_y + 38, BLOCKED_COLOR)
    counts = accessibility.counts()
    n_all = sum(counts.values())
    canvas.text(
        f"blocked ({n_all - counts.get('feasible', 0)} of {n_all} candidates)",
        _MARGIN_LEFT + 18,
        key_y + 33,
        _GREY,
        size_px=10,
        anchor="lm",
    )
    canvas.rect(_MARGIN_LEFT, key_y + 44, _MARGIN_LEFT + 14, key_y + 54, _GREY)
    canvas.rect(_MARGIN_LEFT + 1, key_y + 45, _MARGIN_LEFT + 13, key_y + 53, (0, 0, 0))
    canvas.text(
        "no skin within reach", _MARGIN_LEFT + 18, key_y + 49, _GREY, size_px=10, anchor="lm"
    )


def _fill_gaps(
    best: FloatArray, seen: npt.NDArray[np.bool_], max_gap: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Fill empty cells of a row (circular) that lie in a gap of at most ``max_gap`` cells.

    Each takes the value of the nearest filled cell (the left one on a tie).
    """
    out_best = best.copy()
    out_seen = seen.copy()
    for shift in range(1, max_gap + 1):
        for sign in (1, -1):
            # the filled cell `shift` away on one side, and some filled cell on the other
            # side close enough that the gap is at most max_gap wide
            src_seen = np.roll(seen, sign * shift, axis=1)
            src_best = np.roll(best, sign * shift, axis=1)
            other = np.zeros_like(seen)
            for d in range(1, max_gap + 2 - shift):
                other |= np.roll(seen, -sign * d, axis=1)
            take = ~out_seen & src_seen & other
            out_best[take] = src_best[take]
            out_seen[take] = True
    return out_best, out_seen


def quiet_seam_deg(azimuths_deg: npt.ArrayLike) -> float:
    """Where to cut the unrolled map open: the middle of the widest empty azimuth range.

    Parameters
    ----------
    azimuths_deg : array_like, shape (N,)
        Azimuths of the feasible entries, degrees (any turn).

    Returns
    -------
    float
        Degrees in (-180, 180], a whole number: the centre of the longest run of 1°
        sectors (circular) holding no azimuth; 180 when there is none or every sector
        holds one.

    Examples
    --------
    Entries spread 150° either side of straight behind: the seam goes in front.

    >>> from rtplan.guidance._access import quiet_seam_deg
    >>> quiet_seam_deg([150.0, 170.0, -170.0, -150.0])
    0.0
    """
    a = np.asarray(azimuths_deg, dtype=np.float64).ravel()
    if a.size == 0:
        return 180.0
    occupied = np.zeros(360, dtype=bool)
    occupied[np.floor(a % 360.0).astype(np.int64) % 360] = True
    if occupied.all():
        return 180.0
    start = int(np.flatnonzero(occupied)[0])
    ring = np.roll(occupied, -start)  # begins with an occupied sector: runs do not wrap
    best_len, best_mid, run = 0, 180.0, 0
    for i in range(360):
        if ring[i]:
            run = 0
            continue
        run += 1
        if run > best_len:
            best_len = run
            best_mid = start + i - (run - 1) / 2.0 + 0.5  # the run's centre, degrees
    seam = float(round(best_mid)) % 360.0
    return seam - 360.0 if seam > 180.0 else seam


class _MapGeometry:
    """Where a skin point goes on the unrolled map."""

    def __init__(
        self,
        acc: AccessibilityMap,
        right: FloatArray,
        up: FloatArray,
        deg_per_px: float,
        slice_px: int | None,
        seam_deg: float = 180.0,
    ) -> None:
        self.acc = acc
        self.seam_deg = float(seam_deg) % 360.0 - (
            360.0 if float(seam_deg) % 360.0 > 180.0 else 0.0
        )
        self.right = right
        self.up = up
        self.deg_per_px = deg_per_px
        self.n_cols = math.ceil(360.0 / deg_per_px)
        k = acc.grid.mm_to_index(acc.points_mm)[:, 2]
        self.k_lo = int(np.floor(k.min() + 0.5)) if k.size else 0
        self.k_hi = int(np.floor(k.max() + 0.5)) if k.size else 0
        normal = acc.grid.slice_normal
        # superior at the top: rows run against the slice index when k heads superior
        self.k_down = -1 if float(normal[2]) > 0 else 1
        self.n_slices = self.k_hi - self.k_lo + 1
        # by default the map is about 360 px high
        default_px = max(1, round(360 / self.n_slices))
        self.slice_px = int(slice_px) if slice_px is not None else default_px
        self.letter_up = "S"

    @classmethod
    def build(
        cls,
        acc: AccessibilityMap,
        position: PatientPosition | str | None,
        deg_per_px: float,
        slice_px: int | None,
        seam_deg: float | None = 180.0,
    ) -> _MapGeometry:
        pos = None if position is None else PatientPosition(position)
        right, down = axial_screen_axes(pos)
        geo = cls(acc, np.asarray(right), np.asarray(-down), deg_per_px, slice_px)
        if seam_deg is None:
            ok = acc.feasible
            az = geo.azimuth_deg(acc.points_mm[ok], acc.targets_mm[acc.target_index[ok]])
            seam_deg = quiet_seam_deg(az)
        return cls(acc, geo.right, geo.up, deg_per_px, slice_px, seam_deg)

    def azimuth_deg(self, points_mm: FloatArray, targets_mm: FloatArray) -> FloatArray:
        v = np.asarray(points_mm) - np.asarray(targets_mm)
        return np.asarray(np.degrees(np.arctan2(v @ self.right, v @ self.up)))

    def column_of(self, azimuth_deg: float | FloatArray) -> FloatArray:
        a = np.asarray(azimuth_deg, dtype=np.float64)
        return np.atleast_1d(((a - self.seam_deg) % 360.0) / self.deg_per_px)

    def cell(
        self, points_mm: FloatArray, targets_mm: FloatArray
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        az = self.azimuth_deg(points_mm, targets_mm)
        col = np.clip(np.floor(self.column_of(az)).astype(np.int64), 0, self.n_cols - 1)
        k = np.floor(self.acc.grid.mm_to_index(points_mm)[:, 2] + 0.5).astype(np.int64)
        row = (self.k_hi - k) if self.k_down < 0 else (k - self.k_lo)
        return np.clip(row, 0, self.n_slices - 1), col

    def z_of_row(self, row: int) -> float:
        k = self.k_hi - row if self.k_down < 0 else self.k_lo + row
        return float(self.acc.grid.index_to_mm([0.0, 0.0, float(k)])[2])

    def letter_at(self, azimuth_deg: float) -> str:
        a = math.radians(azimuth_deg)
        return direction_letters(math.cos(a) * self.up + math.sin(a) * self.right, most=1)
