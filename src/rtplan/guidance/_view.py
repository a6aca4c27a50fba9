"""The pixel grid of a 2D overlay: a plane through the CT, its orientation, its extent.

:func:`overlay_view` places a :class:`View` (a rectangular grid of square pixels on a plane
in patient space) for a :class:`rtplan.enum.Plane`:

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

Orientation letters at each edge (:func:`orientation_labels`) name the patient direction
that points to that edge (L, R, A, P, S, I; two letters for oblique directions, the
larger component first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.enum import Plane
from rtplan.errors import GeometryError
from rtplan.grid import Grid
from rtplan.guidance._orientation import axial_screen_axes, direction_letters
from rtplan.guidance._trajectory import Trajectory
from rtplan.image import Image
from rtplan.structures import Structure

__all__ = ["View", "orientation_labels", "overlay_view"]

FloatArray = npt.NDArray[np.float64]

_MIN_SIDE_PX = 512
_MIN_ASPECT = 0.5  # shorter side of a whole-CT view / longer side
_DISPLAYS = ("radiological", "stored")


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class View:
    """A rectangular pixel grid on a plane in patient space.

    Parameters
    ----------
    plane : Plane or str
        The kind of plane (stored as :class:`rtplan.enum.Plane`).
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

    plane: Plane
    origin_mm: FloatArray
    right: FloatArray
    down: FloatArray
    pixel_mm: float
    shape: tuple[int, int]
    thickness_mm: float
    at_mm: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "plane", Plane(self.plane))

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

    def source_slices(self, grid: Grid) -> list[int]:
        """Indices of the slices of ``grid`` the view's plane passes through.

        What a Secondary Capture of the view lists in its Source Image Sequence.

        Parameters
        ----------
        grid : Grid
            The CT grid.

        Returns
        -------
        list of int
            Consecutive slice indices ``k``, clipped to the grid.

        Examples
        --------
        >>> import numpy as np
        >>> from rtplan import Grid, Image
        >>> from rtplan.guidance import overlay_view
        >>> g = Grid(shape=(10, 8, 8), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
        >>> ct = Image(array=np.zeros(g.shape), grid=g, units="HU")
        >>> overlay_view(ct, plane="axial", at_mm=6.0).source_slices(g)
        [3]
        >>> len(overlay_view(ct, plane="coronal").source_slices(g))
        10
        """
        rows, cols = self.shape
        corners = self.to_mm([[0, 0], [cols - 1, 0], [0, rows - 1], [cols - 1, rows - 1]])
        k = grid.mm_to_index(corners)[:, 2]
        lo = max(0, int(np.floor(k.min() + 0.5)))
        hi = min(grid.shape[0] - 1, int(np.floor(k.max() + 0.5)))
        return list(range(lo, hi + 1))


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

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import Grid, Image
    >>> from rtplan.guidance import orientation_labels, overlay_view
    >>> g = Grid(shape=(4, 8, 8), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    >>> ct = Image(array=np.zeros(g.shape), grid=g, units="HU", patient_position="HFS")
    >>> orientation_labels(overlay_view(ct, plane="axial"))
    {'right': 'L', 'left': 'R', 'top': 'A', 'bottom': 'P'}
    """
    return {
        "right": direction_letters(view.right),
        "left": direction_letters(-view.right),
        "top": direction_letters(-view.down),
        "bottom": direction_letters(view.down),
    }


def _unit(v: npt.ArrayLike) -> FloatArray:
    a = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(a))
    if n < 1e-12:
        raise GeometryError("degenerate direction")
    return np.asarray(a / n)


def _patient_axes(ct: Image, plane: Plane, display: str) -> tuple[FloatArray, FloatArray, int]:
    """Screen right/down of the axial, coronal and sagittal planes, and the LPS axis of at_mm."""
    if plane == Plane.AXIAL:
        if display == "stored":
            return np.array(ct.grid.direction[:, 0]), np.array(ct.grid.direction[:, 1]), 2
        right, down = axial_screen_axes(ct.patient_position)
        return right, down, 2
    if plane == Plane.CORONAL:
        return np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0]), 1
    return np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]), 0


def _needle_axes(
    ct: Image, plane: Plane, trajectory: Trajectory | None
) -> tuple[FloatArray, FloatArray]:
    """Screen right/down of the two planes that contain the needle."""
    if trajectory is None:
        raise GeometryError(f"plane {plane.value!r} needs a trajectory to align with")
    n = trajectory.direction
    z = np.array([0.0, 0.0, 1.0])
    if abs(float(n @ z)) > 0.999:  # cranio-caudal needle: use the coronal-like plane
        m = _unit(np.array([0.0, 1.0, 0.0]) - (n[1]) * n)
    else:
        m = _unit(z - float(n @ z) * n)
    if plane == Plane.OBLIQUE:
        r0, _ = axial_screen_axes(ct.patient_position)
        right = r0 - float(r0 @ m) * m
        right = _unit(right) if np.linalg.norm(right) > 1e-6 else n
        down = np.cross(m, right)
        return right, _unit(down)
    m2 = _unit(np.cross(m, n))
    down = -z - float(-z @ m2) * m2
    down = _unit(down) if np.linalg.norm(down) > 1e-6 else _unit(np.cross(m2, n))
    right = np.cross(down, m2)
    return _unit(right), down


def _plane_point(
    ct: Image,
    axis: int | None,
    normal: FloatArray,
    at_mm: float | None,
    trajectory: Trajectory | None,
    structures: Sequence[Structure],
) -> tuple[FloatArray, FloatArray, float]:
    """The reference point, a point of the plane and the plane's position ``at``."""
    grid = ct.grid
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
        return ref, point, at
    at = 0.0 if at_mm is None else float(at_mm)
    assert trajectory is not None
    return ref, np.asarray(trajectory.target_mm) + at * normal, at


def _view_extent(
    grid: Grid,
    point: FloatArray,
    right: FloatArray,
    down: FloatArray,
    fov_mm: float | None,
    centre: FloatArray,
) -> tuple[float, float, float, float]:
    """Extent ``(u0, u1, v0, v1)`` of the view along right and down from ``point``, mm."""
    if fov_mm is not None:
        cu = float((centre - point) @ right)
        cv = float((centre - point) @ down)
        half = 0.5 * float(fov_mm)
        return cu - half, cu + half, cv - half, cv + half
    corners = grid.corners_mm()
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
    return u0 - pad_u, u1 + pad_u, v0 - pad_v, v1 + pad_v


def overlay_view(
    ct: Image,
    *,
    plane: Plane | str = Plane.AXIAL,
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
    plane : Plane or str
        ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"`` or
        ``"oblique_orthogonal"`` (the last two need ``trajectory``); see
        :class:`rtplan.enum.Plane`.
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
        Axial display convention (see :mod:`rtplan.guidance._view`).

    Returns
    -------
    View

    Raises
    ------
    GeometryError
        If the plane is unknown, an oblique plane has no trajectory, or the plane misses
        the CT.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.guidance import overlay_view
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> view = overlay_view(ct, plane="coronal", fov_mm=100.0)
    >>> view.plane, view.shape
    (<Plane.CORONAL: 'coronal'>, (512, 512))
    """
    plane = Plane(plane)
    if display not in _DISPLAYS:
        raise GeometryError(f"display must be 'radiological' or 'stored', got {display!r}")
    grid = ct.grid
    axis: int | None = None
    if plane.is_oblique:
        right, down = _needle_axes(ct, plane, trajectory)
    else:
        right, down, axis = _patient_axes(ct, plane, display)
    normal = np.cross(right, down)
    ref, point, at = _plane_point(ct, axis, normal, at_mm, trajectory, structures)
    # check that the plane cuts the CT
    corners = grid.corners_mm()
    side = (corners - point) @ normal
    if side.min() > 0 or side.max() < 0:
        raise GeometryError(
            f"the {plane.value} plane at {at:g} mm misses the CT (its extent along the normal "
            f"is {(corners @ normal).min():.1f} to {(corners @ normal).max():.1f} mm)"
        )
    if pixel_mm is not None and not float(pixel_mm) > 0:
        raise GeometryError(f"pixel_mm must be positive, got {pixel_mm}")
    if center_mm is not None:
        centre = np.asarray(center_mm, dtype=np.float64)
    elif trajectory is not None:
        centre = 0.5 * (trajectory.entry_mm + trajectory.target_mm)
    else:
        centre = ref
    u0, u1, v0, v1 = _view_extent(grid, point, right, down, fov_mm, centre)
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
