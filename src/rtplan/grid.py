"""Regular 3D grids in DICOM patient coordinates (LPS, millimetres).

Conventions (the same everywhere in rtplan):

* arrays on a grid have axes ``(slice, row, column) = (k, j, i)``;
* ``shape`` and ``spacing_mm`` are given in that array order;
* points are given as ``(N, 3)`` arrays; index points are ``(i, j, k)`` (column, row, slice)
  so that they line up with ``(x, y, z)`` patient points;
* ``origin_mm`` is the LPS position of the *centre* of voxel ``(i, j, k) = (0, 0, 0)``;
* ``direction`` is a 3x3 matrix whose columns are the LPS unit vectors along increasing
  ``i`` (DICOM row direction cosine), ``j`` (column direction cosine) and ``k`` (slice normal,
  the direction in which slices are stacked).

So ``xyz = origin_mm + direction @ (ijk * (di, dj, dk))``.

A box of voxels of an array (the bounding box of a mask, a crop) is an :class:`IndexBox`
in array order; :meth:`Grid.crop_to` gives the grid of such a box, and
:meth:`Grid.bounds_mm` / :meth:`Grid.overlaps` answer where a grid lies in the patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError

__all__ = ["Grid", "IndexBox"]

_ORTHO_TOL = 1e-4

FloatArray = npt.NDArray[np.float64]
Index3 = tuple[int, int, int]


def _as_points(points: npt.ArrayLike, what: str) -> tuple[FloatArray, bool]:
    arr = np.asarray(points, dtype=np.float64)
    single = arr.ndim == 1
    if single:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise GeometryError(f"{what} must have shape (N, 3) or (3,), got {np.shape(points)}")
    return arr, single


@dataclass(frozen=True, slots=True)
class IndexBox:
    """A box of voxels ``lower <= (k, j, i) < upper`` of an array, in array order.

    Parameters
    ----------
    lower : tuple of 3 int
        Index ``(k, j, i)`` of the box's first voxel (may be negative: a box can reach
        beyond an array, e.g. a margin's working box).
    upper : tuple of 3 int
        Exclusive upper index ``(k, j, i)``; ``upper >= lower`` (equal: an empty box).

    Raises
    ------
    GeometryError
        If a bound is not 3 integers or ``upper < lower``.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 5, 6), dtype=bool)
    >>> m[1:3, 2, 1:4] = True
    >>> box = IndexBox.from_mask(m)
    >>> box
    IndexBox(lower=(1, 2, 1), upper=(3, 3, 4))
    >>> box.shape, int(m[box.slices].sum())
    ((2, 1, 3), 6)
    >>> box.padded(1, within=m.shape)
    IndexBox(lower=(0, 1, 0), upper=(4, 4, 5))
    """

    lower: Index3
    upper: Index3

    def __post_init__(self) -> None:
        lo = tuple(int(v) for v in self.lower)
        hi = tuple(int(v) for v in self.upper)
        if len(lo) != 3 or len(hi) != 3 or any(b < a for a, b in zip(lo, hi, strict=True)):
            raise GeometryError(
                f"an index box needs 3 lower and 3 upper bounds with upper >= lower, got "
                f"{self.lower!r}..{self.upper!r}"
            )
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @classmethod
    def from_mask(cls, mask: npt.ArrayLike) -> IndexBox | None:
        """The bounding box of the nonzero voxels of a 3D array.

        Parameters
        ----------
        mask : array_like, shape (nk, nj, ni)
            Boolean (or any values: nonzero counts as set).

        Returns
        -------
        IndexBox or None
            ``None`` if no voxel is set.

        Raises
        ------
        GeometryError
            If the array is not 3D.
        """
        m = np.asarray(mask)
        if m.ndim != 3:
            raise GeometryError(f"a bounding box needs a 3D array, got shape {m.shape}")
        m = m.astype(bool, copy=False)
        # one pass over the whole array finds the slices; the rows and columns are then
        # looked for in the slab of those slices only
        lo: list[int] = []
        hi: list[int] = []
        for axis in range(3):
            other = tuple(a for a in range(3) if a != axis)
            nz = np.flatnonzero(m.any(axis=other))
            if nz.size == 0:
                return None
            lo.append(int(nz[0]))
            hi.append(int(nz[-1]) + 1)
            m = m[(slice(None),) * axis + (slice(lo[axis], hi[axis]),)]
        return cls((lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2]))

    @property
    def shape(self) -> Index3:
        """Number of voxels along each axis ``(nk, nj, ni)``."""
        lo, hi = self.lower, self.upper
        return (hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2])

    @property
    def size(self) -> int:
        """Number of voxels in the box."""
        n = self.shape
        return n[0] * n[1] * n[2]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as array slices ``(k, j, i)`` (for a box inside the array)."""
        lo, hi = self.lower, self.upper
        return (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))

    def padded(self, voxels: npt.ArrayLike, *, within: Sequence[int] | None = None) -> IndexBox:
        """The box grown by a number of voxels on every side, optionally clipped.

        Parameters
        ----------
        voxels : int or sequence of 3 int
            Voxels added before and after the box along each axis ``(k, j, i)``; negative
            values shrink it.
        within : sequence of 3 int, optional
            An array shape ``(nk, nj, ni)`` to clip the result to.

        Returns
        -------
        IndexBox
        """
        w = np.broadcast_to(np.asarray(voxels, dtype=np.int64), (3,))
        lo = np.asarray(self.lower, dtype=np.int64) - w
        hi = np.asarray(self.upper, dtype=np.int64) + w
        if within is not None:
            shape = np.asarray(within, dtype=np.int64)
            lo = np.clip(lo, 0, shape)
            hi = np.clip(hi, 0, shape)
        hi = np.maximum(hi, lo)
        return IndexBox((int(lo[0]), int(lo[1]), int(lo[2])), (int(hi[0]), int(hi[1]), int(hi[2])))

    def lower_ijk(self) -> Index3:
        """``lower`` in point order ``(i, j, k)``, as :meth:`Grid.crop` takes it."""
        return (self.lower[2], self.lower[1], self.lower[0])

    def upper_ijk(self) -> Index3:
        """``upper`` in point order ``(i, j, k)``."""
        return (self.upper[2], self.upper[1], self.upper[0])


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Grid:
    """A regular voxel grid placed in DICOM patient coordinates (LPS, mm).

    Parameters
    ----------
    shape : tuple of int
        Number of voxels ``(n_slices, n_rows, n_columns)`` = ``(nk, nj, ni)``.
    spacing_mm : tuple of float
        Voxel spacing in array order ``(dk, dj, di)``: slice spacing, row spacing (DICOM
        PixelSpacing[0]) and column spacing (PixelSpacing[1]), all positive, mm.
    origin_mm : tuple of float
        LPS position (mm) of the centre of voxel ``(0, 0, 0)``.
    direction : array_like, shape (3, 3), optional
        Columns are LPS unit vectors along increasing ``i``, ``j``, ``k``. Must be
        orthonormal. Defaults to the identity (axial, head-first-supine-like axes).

    Raises
    ------
    GeometryError
        If the shape, spacing, origin or direction is invalid.

    Examples
    --------
    >>> g = Grid(shape=(2, 3, 4), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-1.5, -1.0, 0.0))
    >>> g.index_to_mm([[3, 2, 1]]).tolist()
    [[1.5, 1.0, 2.0]]
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    direction: FloatArray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 3 or any(n < 1 for n in shape):
            raise GeometryError(f"Grid shape must be 3 positive integers, got {self.shape!r}")
        spacing = tuple(float(s) for s in self.spacing_mm)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise GeometryError(
                f"Grid spacing_mm must be 3 positive finite numbers, got {self.spacing_mm!r}"
            )
        origin = tuple(float(s) for s in self.origin_mm)
        if len(origin) != 3 or not all(np.isfinite(s) for s in origin):
            raise GeometryError(f"Grid origin_mm must be 3 finite numbers, got {self.origin_mm!r}")
        direction = np.array(self.direction, dtype=np.float64)
        if direction.shape != (3, 3) or not np.all(np.isfinite(direction)):
            raise GeometryError(f"Grid direction must be a finite 3x3 matrix, got {direction!r}")
        if not np.allclose(direction.T @ direction, np.eye(3), atol=_ORTHO_TOL):
            raise GeometryError(
                "Grid direction columns must be orthonormal unit vectors "
                f"(i, j, k axes in LPS), got {direction.tolist()}"
            )
        direction.setflags(write=False)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing_mm", spacing)
        object.__setattr__(self, "origin_mm", origin)
        object.__setattr__(self, "direction", direction)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_affine(cls, affine: npt.ArrayLike, shape: Sequence[int]) -> Grid:
        """Build a grid from a 4x4 affine mapping ``(i, j, k, 1)`` to LPS mm.

        Parameters
        ----------
        affine : array_like, shape (4, 4)
            Homogeneous matrix; its columns 0-2 are the step vectors of i, j, k.
        shape : sequence of int
            ``(nk, nj, ni)``.

        Returns
        -------
        Grid

        Raises
        ------
        GeometryError
            If the step vectors are not orthogonal or a step is zero.
        """
        a = np.asarray(affine, dtype=np.float64)
        if a.shape != (4, 4):
            raise GeometryError(f"affine must be 4x4, got {a.shape}")
        steps = a[:3, :3]
        norms = np.linalg.norm(steps, axis=0)
        if np.any(norms <= 0):
            raise GeometryError("affine has a zero-length axis")
        return cls(
            shape=(int(shape[0]), int(shape[1]), int(shape[2])),
            spacing_mm=(float(norms[2]), float(norms[1]), float(norms[0])),
            origin_mm=(float(a[0, 3]), float(a[1, 3]), float(a[2, 3])),
            direction=steps / norms,
        )

    @classmethod
    def covering(
        cls,
        lower_mm: npt.ArrayLike,
        upper_mm: npt.ArrayLike,
        spacing_mm: float | Sequence[float],
        *,
        direction: npt.ArrayLike | None = None,
    ) -> Grid:
        """Build the smallest grid whose voxel centres span a box.

        Parameters
        ----------
        lower_mm, upper_mm : array_like, shape (3,)
            Opposite corners of the box, in the grid's own axes (i, j, k) when
            ``direction`` is given, else in LPS (x, y, z).
        spacing_mm : float or sequence of 3 floats
            Isotropic spacing, or ``(dk, dj, di)``.
        direction : array_like, shape (3, 3), optional
            Axis directions; identity by default.

        Returns
        -------
        Grid
        """
        d = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64)
        lo = np.asarray(lower_mm, dtype=np.float64)
        hi = np.asarray(upper_mm, dtype=np.float64)
        if direction is not None:  # the corners are LPS: express them along the axes
            lo, hi = d.T @ lo, d.T @ hi
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        sp = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,))[::-1]  # (di,dj,dk)
        n = np.maximum(1, np.ceil((hi - lo) / sp - 1e-9).astype(int) + 1)
        centre = (lo + hi) / 2.0
        start = centre - (n - 1) * sp / 2.0
        origin = d @ start
        return cls(
            shape=(int(n[2]), int(n[1]), int(n[0])),
            spacing_mm=(float(sp[2]), float(sp[1]), float(sp[0])),
            origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
            direction=d,
        )

    # ------------------------------------------------------------------ properties
    @property
    def spacing_ijk_mm(self) -> FloatArray:
        """Spacing in point order ``(di, dj, dk)``, mm."""
        return np.array(self.spacing_mm[::-1], dtype=np.float64)

    @property
    def shape_ijk(self) -> tuple[int, int, int]:
        """Shape in point order ``(ni, nj, nk)``."""
        return (self.shape[2], self.shape[1], self.shape[0])

    @property
    def affine(self) -> FloatArray:
        """4x4 matrix mapping homogeneous ``(i, j, k, 1)`` to LPS mm."""
        a = np.eye(4)
        a[:3, :3] = self.direction * self.spacing_ijk_mm[np.newaxis, :]
        a[:3, 3] = self.origin_mm
        return a

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel, mm³."""
        return float(np.prod(self.spacing_mm))

    @property
    def size(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape))

    @property
    def extent_mm(self) -> FloatArray:
        """Length covered by the voxels (edge to edge) along ``(i, j, k)``, mm."""
        return np.asarray(self.shape_ijk, dtype=np.float64) * self.spacing_ijk_mm

    @property
    def slice_normal(self) -> FloatArray:
        """LPS unit vector along increasing slice index ``k``."""
        return np.array(self.direction[:, 2])

    @property
    def is_axis_aligned(self) -> bool:
        """True if the axes are the LPS axes in order (identity direction)."""
        return bool(np.allclose(self.direction, np.eye(3), atol=_ORTHO_TOL))

    # ------------------------------------------------------------------ conversions
    def index_to_mm(self, ijk: npt.ArrayLike) -> FloatArray:
        """Convert continuous voxel indices to LPS positions.

        Parameters
        ----------
        ijk : array_like, shape (N, 3) or (3,)
            Indices in ``(i, j, k)`` = (column, row, slice) order; integers are voxel centres.

        Returns
        -------
        numpy.ndarray, shape (N, 3) or (3,), float64
            LPS positions in mm.
        """
        pts, single = _as_points(ijk, "ijk")
        steps = (self.direction * self.spacing_ijk_mm[np.newaxis, :]).T
        out: FloatArray = pts @ steps + np.asarray(self.origin_mm)
        return out[0] if single else out

    def mm_to_index(self, xyz_mm: npt.ArrayLike) -> FloatArray:
        """Convert LPS positions to continuous voxel indices ``(i, j, k)``.

        Parameters
        ----------
        xyz_mm : array_like, shape (N, 3) or (3,)
            LPS positions in mm.

        Returns
        -------
        numpy.ndarray, shape (N, 3) or (3,), float64
            Continuous indices; round them to get the nearest voxel centre.
        """
        pts, single = _as_points(xyz_mm, "xyz_mm")
        out: FloatArray = ((pts - np.asarray(self.origin_mm)) @ self.direction) / (
            self.spacing_ijk_mm
        )
        return out[0] if single else out

    def contains_index(self, ijk: npt.ArrayLike, *, margin: float = 0.5) -> npt.NDArray[np.bool_]:
        """Whether continuous indices lie inside the grid (voxel edges, plus ``margin - 0.5``).

        Parameters
        ----------
        ijk : array_like, shape (N, 3)
            Continuous indices.
        margin : float
            Half-width around centres counted as inside, in voxels (0.5 = voxel edges).

        Returns
        -------
        numpy.ndarray of bool, shape (N,)
        """
        pts, _ = _as_points(ijk, "ijk")
        upper = np.asarray(self.shape_ijk, dtype=np.float64) - 1.0 + margin
        inside: npt.NDArray[np.bool_] = np.all((pts >= -margin) & (pts <= upper), axis=1)
        return inside

    def contains_mm(self, xyz_mm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether LPS points lie inside the grid's voxels (edges included).

        Parameters
        ----------
        xyz_mm : array_like, shape (N, 3)

        Returns
        -------
        numpy.ndarray of bool, shape (N,)
        """
        return self.contains_index(self.mm_to_index(xyz_mm))

    def axis_mm(self, axis: int) -> FloatArray:
        """Coordinates of voxel centres along one array axis, measured along that axis.

        Parameters
        ----------
        axis : {0, 1, 2}
            Array axis (0 = slice k, 1 = row j, 2 = column i).

        Returns
        -------
        numpy.ndarray, shape (shape[axis],)
            Position of each centre projected on the axis direction (mm); for an
            axis-aligned grid these are plain z, y, x coordinates.
        """
        if axis not in (0, 1, 2):
            raise GeometryError(f"axis must be 0, 1 or 2, got {axis}")
        col = 2 - axis
        start = float(np.dot(self.origin_mm, self.direction[:, col]))
        return np.asarray(start + np.arange(self.shape[axis]) * self.spacing_mm[axis], np.float64)

    def centers_mm(self) -> FloatArray:
        """LPS position of every voxel centre.

        Returns
        -------
        numpy.ndarray, shape (nk, nj, ni, 3)
            Uses ``size * 24`` bytes: meant for small grids.
        """
        k, j, i = np.meshgrid(*(np.arange(n) for n in self.shape), indexing="ij")
        ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)
        return self.index_to_mm(ijk).reshape((*self.shape, 3))

    def corners_mm(self) -> FloatArray:
        """LPS positions of the 8 outer voxel-edge corners of the grid, shape (8, 3)."""
        lo = -0.5
        hi = np.asarray(self.shape_ijk, dtype=np.float64) - 0.5
        corners = np.array(
            [[a, b, c] for a in (lo, hi[0]) for b in (lo, hi[1]) for c in (lo, hi[2])]
        )
        return self.index_to_mm(corners)

    # ------------------------------------------------------------------ transforms
    def with_spacing(self, spacing_mm: float | Sequence[float]) -> Grid:
        """Grid covering the same box (voxel edges) with another spacing, same direction.

        Parameters
        ----------
        spacing_mm : float or sequence of 3 floats
            Isotropic spacing or ``(dk, dj, di)``.

        Returns
        -------
        Grid
        """
        sp = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,))
        sp_ijk = sp[::-1]
        ext = self.extent_mm
        n = np.maximum(1, np.round(ext / sp_ijk).astype(int))
        start_edge = self.index_to_mm([-0.5, -0.5, -0.5])
        origin = start_edge + self.direction @ (sp_ijk / 2.0)
        # centre the new grid on the old box
        origin = origin + self.direction @ ((ext - n * sp_ijk) / 2.0)
        return Grid(
            shape=(int(n[2]), int(n[1]), int(n[0])),
            spacing_mm=(float(sp[0]), float(sp[1]), float(sp[2])),
            origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
            direction=self.direction,
        )

    def crop(self, lower_ijk: Sequence[int], upper_ijk: Sequence[int]) -> Grid:
        """Sub-grid of voxels ``lower <= (i, j, k) < upper`` (same spacing and direction).

        Parameters
        ----------
        lower_ijk, upper_ijk : sequence of 3 int
            Inclusive lower and exclusive upper index bounds, in ``(i, j, k)`` order.

        Returns
        -------
        Grid

        Raises
        ------
        GeometryError
            If the bounds select no voxel or leave the grid.

        Examples
        --------
        >>> g = Grid(shape=(3, 4, 5), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
        >>> sub = g.crop((2, 0, 1), (5, 2, 3))         # (i, j, k) bounds
        >>> sub.shape, sub.origin_mm
        ((2, 2, 3), (2.0, 0.0, 2.0))
        """
        lo = np.asarray(lower_ijk, dtype=int)
        hi = np.asarray(upper_ijk, dtype=int)
        if np.any(lo < 0) or np.any(hi > np.asarray(self.shape_ijk)) or np.any(hi <= lo):
            raise GeometryError(
                f"crop bounds {lo.tolist()}..{hi.tolist()} outside grid {self.shape_ijk}"
            )
        origin = self.index_to_mm(lo.astype(np.float64))
        n = hi - lo
        return Grid(
            shape=(int(n[2]), int(n[1]), int(n[0])),
            spacing_mm=self.spacing_mm,
            origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
            direction=self.direction,
        )

    def crop_to(self, box: IndexBox) -> Grid:
        """The grid of the voxels of an :class:`IndexBox` (same spacing and direction).

        Parameters
        ----------
        box : IndexBox
            A non-empty box inside the grid, in array order ``(k, j, i)``, e.g.
            :meth:`rtplan.Image.bounding_box` (padded with :meth:`IndexBox.padded`).

        Returns
        -------
        Grid
            ``array[box.slices]`` lies on it.

        Raises
        ------
        GeometryError
            If the box is empty or leaves the grid.

        Examples
        --------
        >>> g = Grid(shape=(3, 4, 5), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
        >>> sub = g.crop_to(IndexBox((1, 0, 2), (3, 2, 5)))
        >>> sub.shape, sub.origin_mm
        ((2, 2, 3), (2.0, 0.0, 2.0))
        """
        return self.crop(box.lower_ijk(), box.upper_ijk())

    def bounds_mm(self) -> tuple[FloatArray, FloatArray]:
        """Axis-aligned LPS box ``(lower, upper)`` of the grid's outer voxel edges, mm.

        Returns
        -------
        tuple of two numpy.ndarray, shape (3,)
            Lowest and highest x, y, z over the eight corners (an oblique grid's box
            holds more than the grid).

        Examples
        --------
        >>> g = Grid(shape=(3, 4, 5), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
        >>> [v.tolist() for v in g.bounds_mm()]
        [[-0.5, -0.5, -1.0], [4.5, 3.5, 5.0]]
        """
        corners = self.corners_mm()
        return corners.min(axis=0), corners.max(axis=0)

    def overlaps(self, other: Grid | tuple[npt.ArrayLike, npt.ArrayLike]) -> bool:
        """Whether the grid's LPS box (:meth:`bounds_mm`) meets another grid's, or a box.

        Parameters
        ----------
        other : Grid or tuple of two array_like, shape (3,)
            Another grid, or an LPS box ``(lower, upper)`` in mm such as
            :meth:`rtplan.Structure.bounds_mm`.

        Returns
        -------
        bool
            True when the boxes share at least a point (touching counts).

        Examples
        --------
        >>> a = Grid(shape=(1, 10, 10), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
        >>> b = Grid(shape=(1, 10, 10), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(20.0, 0.0, 0.0))
        >>> a.overlaps(b), a.overlaps(([5.0, 5.0, 0.0], [30.0, 30.0, 0.0]))
        (False, True)
        """
        lo, hi = self.bounds_mm()
        if isinstance(other, Grid):
            olo, ohi = other.bounds_mm()
        else:
            olo = np.asarray(other[0], dtype=np.float64)
            ohi = np.asarray(other[1], dtype=np.float64)
        return bool(np.all(lo <= ohi) and np.all(olo <= hi))

    def format_bounds(self) -> str:
        """The LPS box of :meth:`bounds_mm` as text, for messages.

        Returns
        -------
        str
            Like ``"x -10..10, y -5..5, z 0..30 mm"`` (whole millimetres).

        Examples
        --------
        >>> g = Grid(shape=(3, 4, 5), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-2.0, 0.0, 0.0))
        >>> g.format_bounds()
        'x -2..2, y 0..4, z -1..5 mm'
        """
        lo, hi = (np.round(v) + 0.0 for v in self.bounds_mm())  # + 0.0: no "-0"
        return ", ".join(f"{a} {lo[n]:.0f}..{hi[n]:.0f}" for n, a in enumerate("xyz")) + " mm"

    def isclose(self, other: object, *, atol_mm: float = 1e-3) -> bool:
        """Same shape, and same voxel positions within ``atol_mm``.

        Parameters
        ----------
        other : object
            Another grid.
        atol_mm : float
            Tolerance on positions and spacings, mm.

        Returns
        -------
        bool
        """
        if not isinstance(other, Grid) or self.shape != other.shape:
            return False
        return bool(
            np.allclose(self.spacing_mm, other.spacing_mm, atol=atol_mm)
            and np.allclose(self.origin_mm, other.origin_mm, atol=atol_mm)
            and np.allclose(self.direction, other.direction, atol=_ORTHO_TOL)
        )

    def __eq__(self, other: object) -> bool:
        return self.isclose(other)

    def __hash__(self) -> int:
        return hash(
            (
                self.shape,
                tuple(round(s, 3) for s in self.spacing_mm),
                tuple(round(s, 2) for s in self.origin_mm),
            )
        )

    def __repr__(self) -> str:
        d: dict[str, Any] = {
            "shape": self.shape,
            "spacing_mm": tuple(round(s, 4) for s in self.spacing_mm),
            "origin_mm": tuple(round(s, 3) for s in self.origin_mm),
        }
        body = ", ".join(f"{k}={v}" for k, v in d.items())
        if not self.is_axis_aligned:
            body += f", direction={np.round(self.direction, 4).tolist()}"
        return f"Grid({body})"
