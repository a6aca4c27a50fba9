"""A millimetre reference grid in patient coordinates, as an rtplan overlay layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rtplan import Image
    from rtplan.guidance import Canvas, View

__all__ = ["MillimetreGrid"]


@dataclass(frozen=True)
class MillimetreGrid:
    """Lines of constant patient coordinate along the view's axes.

    Labels name the LPS axis closest to each view axis and the coordinate along it (exact
    for axial, coronal and sagittal views).

    Parameters
    ----------
    step_mm : float
        Spacing of the grid lines, mm.
    label_every_mm : float
        Lines at multiples of this are labelled with their coordinate.
    color : tuple of 3 int
        RGB of the lines.
    """

    step_mm: float = 10.0
    label_every_mm: float = 50.0
    color: tuple[int, int, int] = (90, 170, 90)

    def draw(self, canvas: Canvas, view: View, ct: Image) -> None:
        """Draw the grid on ``canvas`` for ``view`` (``ct`` is not needed)."""
        rows, cols = view.shape
        for axis, extent in ((view.right, cols), (view.down, rows)):
            m = int(np.argmax(np.abs(axis)))  # the LPS axis the labels name
            sign = 1.0 if axis[m] > 0 else -1.0
            start = float(view.origin_mm @ axis)
            end = start + (extent - 1) * view.pixel_mm
            lo, hi = sorted((start, end))
            first = np.ceil(lo / self.step_mm) * self.step_mm
            for u in np.arange(first, hi + 1e-9, self.step_mm):
                px = (u - start) / view.pixel_mm
                if axis is view.right:
                    pts = [(px, 0.0), (px, rows - 1.0)]
                else:
                    pts = [(0.0, px), (cols - 1.0, px)]
                canvas.polyline(np.asarray(pts), self.color, 1.0)
                if abs(u / self.label_every_mm - round(u / self.label_every_mm)) < 1e-6:
                    x, y = (px + 3, rows - 40) if axis is view.right else (cols - 70, px + 3)
                    label = f"{'xyz'[m]} {sign * u:.0f}"
                    canvas.text(label, x, y, self.color, size_px=10, anchor="lt")
