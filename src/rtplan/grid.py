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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError

__all__ = ["Grid"]

_ORTHO_TOL = 1e-4

FloatArray = npt.NDArray[np.float64]


def _as_points(points: npt.ArrayLike, what: str) -> tuple[FloatArray, bool]:
    arr = np.asarray(points, dtype=np.float64)
    single = arr.ndim == 1
    if single:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise GeometryError(f"{what} must have shape (N, 3) or (3,), got {np.shape(points)}")
    return arr, single


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
