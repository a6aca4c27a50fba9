"""Masks held on a box of a CT grid: the working form of the automatic segmentation.

The segmentation of :func:`rtplan.tissue.auto_structures` thresholds the CT once and then
works on masks that occupy a small part of the volume (the body about a quarter of a
clinical CT, the bones a few percent). Each step runs on the bounding box of the voxels
it can change, a :class:`BoxMask`: a box of the CT grid and the mask inside it, False
everywhere outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.grid import IndexBox

__all__ = ["BoxMask"]

BoolArray = npt.NDArray[np.bool_]
Index3 = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class BoxMask:
    """A boolean mask held on a box of a larger grid (False everywhere outside it).

    Parameters
    ----------
    lo : tuple of 3 int
        Index ``(k, j, i)`` of the box's first voxel in the full grid.
    array : numpy.ndarray of bool, shape (nk, nj, ni)
        The mask inside the box (may have a zero-length axis for an empty mask).
    full_shape : tuple of 3 int
        Shape of the full grid.
    """

    lo: Index3
    array: BoolArray
    full_shape: Index3

    @classmethod
    def empty(cls, full_shape: Sequence[int]) -> BoxMask:
        """An empty mask on a grid of ``full_shape``."""
        shape = (int(full_shape[0]), int(full_shape[1]), int(full_shape[2]))
        return cls((0, 0, 0), np.zeros((0, 0, 0), dtype=bool), shape)

    @classmethod
    def from_full(cls, mask: npt.ArrayLike) -> BoxMask:
        """The bounding box of a whole-grid mask and the mask inside it."""
        m = np.asarray(mask, dtype=bool)
        shape = (int(m.shape[0]), int(m.shape[1]), int(m.shape[2]))
        return cls((0, 0, 0), m, shape).shrink()

    @property
    def box(self) -> IndexBox:
        """The box in the full grid."""
        s = self.array.shape
        lo = self.lo
        return IndexBox(lo, (lo[0] + s[0], lo[1] + s[1], lo[2] + s[2]))

    @property
    def hi(self) -> Index3:
        """Exclusive upper index of the box in the full grid."""
        return self.box.upper

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as slices of the full grid."""
        return self.box.slices

    def is_empty(self) -> bool:
        """Whether no voxel is set."""
        return self.array.size == 0 or not bool(self.array.any())

    def at_edge(self) -> npt.NDArray[np.bool_]:
        """``(3, 2)`` flags: whether the low / high face of each axis is on the grid edge."""
        hi = self.hi
        return np.array(
            [[self.lo[a] == 0, hi[a] == self.full_shape[a]] for a in range(3)], dtype=bool
        )

    def shrink(self) -> BoxMask:
        """The same mask on the bounding box of its set voxels."""
        a = self.array
        bb = IndexBox.from_mask(a) if a.size else None
        if bb is None:
            return BoxMask.empty(self.full_shape)
        if bb.lower == (0, 0, 0) and bb.upper == a.shape:
            return self
        lo = (self.lo[0] + bb.lower[0], self.lo[1] + bb.lower[1], self.lo[2] + bb.lower[2])
        return BoxMask(lo, np.ascontiguousarray(a[bb.slices]), self.full_shape)

    def on(self, lo: Sequence[int], shape: Sequence[int]) -> BoolArray:
        """The mask on another box of the grid (``lo``, ``shape``), False outside this one."""
        out = np.zeros(tuple(int(n) for n in shape), dtype=bool)
        if self.array.size == 0:
            return out
        hi = self.hi
        src = []
        dst = []
        for a in range(3):
            a0 = max(self.lo[a], int(lo[a]))
            a1 = min(hi[a], int(lo[a]) + int(shape[a]))
            if a1 <= a0:
                return out
            src.append(slice(a0 - self.lo[a], a1 - self.lo[a]))
            dst.append(slice(a0 - int(lo[a]), a1 - int(lo[a])))
        out[tuple(dst)] = self.array[tuple(src)]
        return out

    def full(self) -> BoolArray:
        """The mask on the whole grid."""
        return self.on((0, 0, 0), self.full_shape)
