"""Deterministic raster drawing on RGB uint8 arrays (no antialiasing except text).

Pixel coordinates are continuous ``(column, row)`` with pixel centres at integers, the
same convention as :class:`rtplan.guidance.View`. Lines are drawn by stamping a disc of
the line width at sample points at most a quarter pixel apart, so a pixel is painted
exactly when its centre lies within half the width of the segment (up to that sampling).
Text is rendered with FreeType through matplotlib's bundled DejaVu Sans font, so the
output depends only on the matplotlib version, never on the machine's fonts.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["Canvas", "text_bitmap"]

RGB = tuple[int, int, int]
FloatArray = npt.NDArray[np.float64]


@functools.cache
def _disc_offsets(width: float) -> npt.NDArray[np.int64]:
    r = max(0.5, width / 2.0)
    n = math.ceil(r)
    dj, di = np.mgrid[-n : n + 1, -n : n + 1]
    keep = di**2 + dj**2 <= r * r + 1e-9
    return np.stack([di[keep], dj[keep]], axis=1).astype(np.int64)


@functools.cache
def _font_path(bold: bool) -> str:
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)


@functools.cache
def text_bitmap(text: str, size_px: int = 14, *, bold: bool = True) -> npt.NDArray[np.float64]:
    """Coverage (0-1) of a line of text, shape (rows, columns), tightly cropped.

    Parameters
    ----------
    text : str
        One line.
    size_px : int
        Font size in pixels (em height).
    bold : bool
        DejaVu Sans Bold (default) or regular.

    Returns
    -------
    numpy.ndarray of float64
        Glyph coverage; an empty (0, 0) array for blank text.
    """
    from matplotlib.ft2font import FT2Font, LoadFlags

    if not text.strip():
        return np.zeros((0, 0))
    font = FT2Font(_font_path(bold))
    font.set_size(float(size_px), 72.0)
    font.set_text(text, 0.0, flags=LoadFlags.FORCE_AUTOHINT)
    font.draw_glyphs_to_bitmap(antialiased=True)
    img = np.asarray(font.get_image(), dtype=np.float64) / 255.0
    rows = np.flatnonzero(img.any(axis=1))
    cols = np.flatnonzero(img.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 0))
    out = img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    out.setflags(write=False)
    return out


class Canvas:
    """An RGB image being drawn on.

    Parameters
    ----------
    rgb : numpy.ndarray of uint8, shape (H, W, 3)
        Drawn on in place.
    """

    def __init__(self, rgb: npt.NDArray[np.uint8]) -> None:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("canvas needs an (H, W, 3) uint8 array")
        self.rgb = rgb

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.rgb.shape[1])

    # ------------------------------------------------------------------ pixels
    def _paint(self, cols: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], color: RGB) -> None:
        ok = (cols >= 0) & (rows >= 0) & (cols < self.width) & (rows < self.height)
        self.rgb[rows[ok], cols[ok]] = np.asarray(color, dtype=np.uint8)

    def stamp(self, points: FloatArray, color: RGB, width: float) -> None:
        """Paint a disc of diameter ``width`` px at each ``(column, row)`` point."""
        pts = np.rint(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(np.int64)
        if pts.size == 0:
            return
        offs = _disc_offsets(float(width))
        allp = (pts[:, np.newaxis, :] + offs[np.newaxis, :, :]).reshape(-1, 2)
        self._paint(allp[:, 0], allp[:, 1], color)

    # ------------------------------------------------------------------ lines
    def polyline(
        self,
        points: npt.ArrayLike,
        color: RGB,
        width: float = 1.0,
        *,
        closed: bool = False,
        dash_px: tuple[float, float] | None = None,
    ) -> None:
        """Draw connected segments through ``(column, row)`` points.

        Parameters
        ----------
        points : array_like, shape (N, 2)
        color : tuple of 3 int
        width : float
            Line width, px.
        closed : bool
            Join the last point to the first.
        dash_px : tuple of float, optional
            ``(on, off)`` lengths of a dash pattern along the line, px.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if pts.shape[0] == 0:
            return
        if closed and pts.shape[0] > 2:
            pts = np.vstack([pts, pts[:1]])
        if pts.shape[0] == 1:
            self.stamp(pts, color, width)
            return
        seg = np.diff(pts, axis=0)
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        total = float(cum[-1])
        n = max(2, math.ceil(total * 4.0) + 1)
        s = np.linspace(0.0, total, n)
        if dash_px is not None:
            on, off = dash_px
            s = s[np.mod(s, on + off) < on]
        xs = np.interp(s, cum, pts[:, 0])
        ys = np.interp(s, cum, pts[:, 1])
        self.stamp(np.stack([xs, ys], axis=1), color, width)

    def line(
        self, p0: Sequence[float], p1: Sequence[float], color: RGB, width: float = 1.0
    ) -> None:
        """Draw one segment between two ``(column, row)`` points."""
        self.polyline(np.array([p0, p1], dtype=np.float64), color, width)

    def circle(
        self, centre: Sequence[float], radius: float, color: RGB, width: float = 1.0
    ) -> None:
        """Draw a circle outline."""
        n = max(16, math.ceil(2 * math.pi * radius * 2))
        a = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
        pts = np.stack([centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)], axis=1)
        self.polyline(pts, color, width, closed=True)

    def disc(self, centre: Sequence[float], radius: float, color: RGB) -> None:
        """Fill a disc."""
        self.stamp(np.array([centre], dtype=np.float64), color, 2.0 * radius)

    def rect(self, col0: int, row0: int, col1: int, row1: int, color: RGB) -> None:
        """Fill the pixels ``col0 <= c < col1``, ``row0 <= r < row1``."""
        c0, c1 = max(0, col0), min(self.width, col1)
        r0, r1 = max(0, row0), min(self.height, row1)
        if c1 > c0 and r1 > r0:
            self.rgb[r0:r1, c0:c1] = np.asarray(color, dtype=np.uint8)

    # ------------------------------------------------------------------ blending
    def blend(self, color_rgb: npt.NDArray[np.float64], alpha: npt.NDArray[np.float64]) -> None:
        """Alpha-blend an (H, W, 3) colour layer with per-pixel alpha (H, W) in [0, 1]."""
        a = np.clip(alpha, 0.0, 1.0)[..., np.newaxis]
        out = self.rgb.astype(np.float64) * (1.0 - a) + color_rgb * a
        self.rgb[...] = np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def _blend_at(
        self, coverage: npt.NDArray[np.float64], col0: int, row0: int, color: RGB
    ) -> None:
        h, w = coverage.shape
        c0, r0 = max(0, col0), max(0, row0)
        c1, r1 = min(self.width, col0 + w), min(self.height, row0 + h)
        if c1 <= c0 or r1 <= r0:
            return
        cov = coverage[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0][..., np.newaxis]
        region = self.rgb[r0:r1, c0:c1].astype(np.float64)
        col = np.asarray(color, dtype=np.float64)
        self.rgb[r0:r1, c0:c1] = np.clip(np.rint(region * (1 - cov) + col * cov), 0, 255).astype(
            np.uint8
        )

    # ------------------------------------------------------------------ text
    def text(
        self,
        text: str,
        col: float,
        row: float,
        color: RGB = (255, 255, 255),
        *,
        size_px: int = 14,
        anchor: str = "lt",
        halo: RGB | None = (0, 0, 0),
        bold: bool = True,
    ) -> tuple[int, int, int, int]:
        """Draw a line of text.

        Parameters
        ----------
        text : str
        col, row : float
            Anchor position, px.
        color : tuple of 3 int
        size_px : int
            Font size, px.
        anchor : str
            Two letters: horizontal ``l``/``c``/``r`` then vertical ``t``/``m``/``b`` of the
            text's box placed at the anchor.
        halo : tuple of 3 int or None
            Colour of a one-pixel outline that keeps the text readable on any background.
        bold : bool
            Bold face.

        Returns
        -------
        tuple of int
            The text box ``(col0, row0, col1, row1)`` (exclusive upper bounds), halo excluded.
        """
        cov = text_bitmap(text, size_px, bold=bold)
        if cov.size == 0:
            return (int(col), int(row), int(col), int(row))
        h, w = cov.shape
        hx = {"l": 0.0, "c": 0.5, "r": 1.0}[anchor[0]]
        vy = {"t": 0.0, "m": 0.5, "b": 1.0}[anchor[1]]
        col0 = round(col - hx * w)
        row0 = round(row - vy * h)
        if halo is not None:
            from scipy import ndimage

            padded = np.pad(cov, 1)
            grown = ndimage.maximum_filter(padded, size=3)
            self._blend_at(np.clip(grown * 1.5, 0.0, 1.0), col0 - 1, row0 - 1, halo)
        self._blend_at(cov, col0, row0, color)
        return (col0, row0, col0 + w, row0 + h)
