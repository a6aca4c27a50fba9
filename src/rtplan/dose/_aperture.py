"""A beam's open aperture at the isocentre plane, as rectangles: area, outline, membership.

The jaws and the MLC leave a union of rectangles, one per open leaf row (and the jaws
alone beyond the leaves). Its area is exact; its perimeter is drawn through the middle of
each leaf end, the outline a planner drew the leaves to (the staircase of the leaf ends
would make a round field's perimeter 4/pi too long, and its equivalent square as much too
small). Transmission through closed leaves and jaws is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.plan import Beam

__all__ = ["Aperture", "aperture"]

Rect = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Aperture:
    """The open aperture: rectangles ``(x0, x1, y0, y1)`` along ``X_b``, ``Y_b``, mm.

    Attributes
    ----------
    rects : tuple of (float, float, float, float)
        Open rectangles at the isocentre plane, by increasing ``y``.
    area_mm2 : float
        Open area, mm².
    perimeter_mm : float
        Outline through the middles of the leaf ends, mm.
    """

    rects: tuple[Rect, ...]
    area_mm2: float
    perimeter_mm: float

    @property
    def equivalent_square_mm(self) -> float:
        """Side of the equivalent square, ``4 A / P`` (Sterling et al. 1964), mm."""
        return 4.0 * self.area_mm2 / self.perimeter_mm if self.perimeter_mm > 0 else 0.0

    def contains(self, xy_mm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether points ``(x_b, y_b)`` at the isocentre plane lie in the aperture.

        Parameters
        ----------
        xy_mm : array_like, shape (N, 2)

        Returns
        -------
        numpy.ndarray of bool, shape (N,)
        """
        p = np.asarray(xy_mm, dtype=np.float64).reshape(-1, 2)
        inside = np.zeros(len(p), dtype=bool)
        for x0, x1, y0, y1 in self.rects:
            inside |= (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
        return inside


def _open_rows(beam: Beam) -> list[Rect]:
    """The open rectangles of the jaws and MLC, by leaf row (increasing ``y``)."""
    x1, x2, y1, y2 = beam.jaws_mm
    if beam.mlc is None:
        return [(x1, x2, y1, y2)]
    bounds = beam.mlc.leaf_boundaries_mm
    pos = beam.mlc.positions_mm
    rows = []
    if y1 < bounds[0]:  # beyond the leaves, the jaws alone
        rows.append((x1, x2, y1, min(y2, bounds[0])))
    for i in range(beam.mlc.n_pairs):
        lo, hi = max(bounds[i], y1), min(bounds[i + 1], y2)
        a, b = max(float(pos[0, i]), x1), min(float(pos[1, i]), x2)
        if hi > lo and b - a > 0.5:
            rows.append((a, b, lo, hi))
    if y2 > bounds[-1]:
        rows.append((x1, x2, max(y1, bounds[-1]), y2))
    return rows


def _run_perimeter(run: Sequence[Rect]) -> float:
    """Perimeter of a run of touching leaf rows, the sides through the leaf-end middles."""
    left = [(run[0][0], run[0][2])] + [(r[0], 0.5 * (r[2] + r[3])) for r in run]
    left.append((run[-1][0], run[-1][3]))
    right = [(run[0][1], run[0][2])] + [(r[1], 0.5 * (r[2] + r[3])) for r in run]
    right.append((run[-1][1], run[-1][3]))
    ring = np.asarray(left + right[::-1] + [left[0]])
    return float(np.sum(np.hypot(*np.diff(ring, axis=0).T)))


def aperture(beam: Beam) -> Aperture:
    """The open aperture of a beam's jaws and MLC at the isocentre plane.

    Parameters
    ----------
    beam : Beam

    Returns
    -------
    Aperture
        Separate openings (leaf rows that do not touch) each add their own outline.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.dose._aperture import aperture
    >>> a = aperture(rtplan.Beam(jaws_mm=(-50.0, 50.0, -100.0, 100.0)))  # 10 x 20 cm²
    >>> a.area_mm2, a.perimeter_mm, round(a.equivalent_square_mm, 1)
    (20000.0, 600.0, 133.3)
    """
    rows = _open_rows(beam)
    area = sum((r[1] - r[0]) * (r[3] - r[2]) for r in rows)
    perimeter = 0.0
    run: list[Rect] = []
    for r in rows:
        if run and (abs(r[2] - run[-1][3]) > 1e-6 or r[0] >= run[-1][1] or r[1] <= run[-1][0]):
            perimeter += _run_perimeter(run)
            run = []
        run.append(r)
    if run:
        perimeter += _run_perimeter(run)
    return Aperture(rects=tuple(rows), area_mm2=float(area), perimeter_mm=perimeter)
