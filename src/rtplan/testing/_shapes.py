"""Analytic shapes as polygons, grids and structures."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rtplan.grid import Grid
from rtplan.structures import Contour, Structure
from rtplan.testing._dicom import FloatArray


# --------------------------------------------------------------------------- shapes
def ellipse_points_mm(
    semi_axes_mm: tuple[float, float],
    z_mm: float,
    *,
    centre_mm: tuple[float, float] = (0.0, 0.0),
    n: int = 64,
    phase_rad: float = 0.0,
) -> FloatArray:
    """Vertices of a polygon inscribed in an axial ellipse, counter-clockwise in x-y.

    Parameters
    ----------
    semi_axes_mm : tuple of 2 float
        Semi-axes along x and y, mm (equal: a circle).
    z_mm : float
        The axial plane, LPS mm.
    centre_mm : tuple of 2 float
        Centre ``(x, y)``, LPS mm.
    n : int
        Number of vertices (at least 3), at equal steps of the parametric angle.
    phase_rad : float
        Parametric angle of the first vertex.

    Returns
    -------
    numpy.ndarray of float64, shape (n, 3)
        ``(x, y, z)`` in LPS mm; the polygon's area is
        ``polygon_area_mm2 = n/2 a b sin(2 pi / n)``.

    Examples
    --------
    >>> import math
    >>> from rtplan.testing import ellipse_points_mm, polygon_area_mm2
    >>> pts = ellipse_points_mm((10.0, 10.0), 5.0, n=360)
    >>> pts.shape, float(pts[0, 2])
    ((360, 3), 5.0)
    >>> round(polygon_area_mm2(pts) / (math.pi * 100.0), 5)
    0.99995
    """
    if n < 3:
        raise ValueError(f"a polygon needs 3 or more vertices, got n={n}")
    t = phase_rad + np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    a, b = semi_axes_mm
    return np.column_stack(
        [centre_mm[0] + a * np.cos(t), centre_mm[1] + b * np.sin(t), np.full(n, float(z_mm))]
    )


def polygon_area_mm2(points_mm: npt.ArrayLike) -> float:
    """Signed area of a closed polygon in the x-y plane (shoelace), mm².

    Parameters
    ----------
    points_mm : array_like, shape (N, 2) or (N, 3)
        Vertices in order (not repeated at the end); z is ignored.

    Returns
    -------
    float
        Positive for counter-clockwise vertices (x towards y), negative for clockwise.

    Examples
    --------
    >>> from rtplan.testing import polygon_area_mm2
    >>> polygon_area_mm2([[0, 0], [4, 0], [4, 3], [0, 3]])
    12.0
    >>> polygon_area_mm2([[0, 0], [0, 3], [4, 3], [4, 0]])
    -12.0
    """
    p = np.asarray(points_mm, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def cube_grid(n: int = 60, spacing: float = 1.0, offset: float = 0.0) -> Grid:
    """An ``n³`` axis-aligned grid centred on the origin, shifted by ``offset`` mm.

    Parameters
    ----------
    n : int
        Voxels along each axis.
    spacing : float
        Voxel size, mm.
    offset : float
        Shift of the grid along x, y and z, mm (0: for even ``n`` the voxel centres sit at
        half-integer multiples of ``spacing``).

    Returns
    -------
    rtplan.Grid

    Examples
    --------
    >>> from rtplan.testing import cube_grid
    >>> g = cube_grid(4, spacing=2.0)
    >>> g.shape, g.origin_mm
    ((4, 4, 4), (-3.0, -3.0, -3.0))
    """
    start = -(n - 1) * spacing / 2.0 + offset
    return Grid(shape=(n, n, n), spacing_mm=(spacing,) * 3, origin_mm=(start, start, start))


def sphere_mask_structure(
    grid: Grid, centre_mm: npt.ArrayLike, radius_mm: float, name: str = "Sphere"
) -> Structure:
    """A sphere as a mask structure: the voxels whose centres lie inside (or on) it.

    Parameters
    ----------
    grid : rtplan.Grid
        The grid of the mask.
    centre_mm : array_like, shape (3,)
        Centre, LPS mm.
    radius_mm : float
        Radius, mm.
    name : str
        Structure name.

    Returns
    -------
    rtplan.Structure

    Examples
    --------
    >>> from rtplan.testing import cube_grid, sphere_mask_structure
    >>> s = sphere_mask_structure(cube_grid(20), (0.0, 0.0, 0.0), 5.0)
    >>> int(s.mask(cube_grid(20)).sum())  # of 4/3 pi 5³ = 523.6 mm³ in 1 mm voxels
    552
    """
    c = grid.centers_mm()
    inside = np.linalg.norm(c - np.asarray(centre_mm, dtype=np.float64), axis=-1) <= radius_mm
    return Structure.from_mask(inside, grid, name=name)


def sphere_contour_structure(
    grid: Grid, centre_mm: npt.ArrayLike, radius_mm: float, name: str = "Sphere", n: int = 180
) -> Structure:
    """A sphere contoured with an ``n``-gon on every slice plane of a grid that cuts it.

    Each slice's contour stands for the slab of the grid's slice spacing around it.

    Parameters
    ----------
    grid : rtplan.Grid
        An axial grid: its slice positions (``axis_mm(0)``) are the contour planes.
    centre_mm : array_like, shape (3,)
        Centre, LPS mm.
    radius_mm : float
        Radius, mm.
    name : str
        Structure name.
    n : int
        Vertices per contour.

    Returns
    -------
    rtplan.Structure
        With ``slice_thickness_mm`` the grid's slice spacing and the grid as reference.

    Examples
    --------
    >>> from rtplan.testing import cube_grid, sphere_contour_structure
    >>> s = sphere_contour_structure(cube_grid(30), (0.0, 0.0, 0.0), 10.0)
    >>> len(s.contours), round(s.volume_cc, 2)  # 4/3 pi 10³ mm³ = 4.19 cm³
    (20, 4.19)
    """
    ctr = np.asarray(centre_mm, dtype=np.float64)
    contours = []
    for z in grid.axis_mm(0):
        dz = float(z - ctr[2])
        if abs(dz) >= radius_mm:
            continue
        r = math.sqrt(radius_mm * radius_mm - dz * dz)
        pts = ellipse_points_mm((r, r), float(z), centre_mm=(ctr[0], ctr[1]), n=n)
        contours.append(Contour(points_mm=pts))
    return Structure(
        name=name,
        contours=tuple(contours),
        slice_thickness_mm=grid.spacing_mm[0],
        reference_grid=grid,
    )


def box_mask_structure(
    grid: Grid, lower_mm: npt.ArrayLike, upper_mm: npt.ArrayLike, name: str = "Box"
) -> Structure:
    """Voxels whose centres lie in the axis-aligned box ``[lower, upper]``, as a structure.

    Parameters
    ----------
    grid : rtplan.Grid
        The grid of the mask.
    lower_mm, upper_mm : array_like, shape (3,)
        Opposite corners ``(x, y, z)``, LPS mm (inclusive).
    name : str
        Structure name.

    Returns
    -------
    rtplan.Structure

    Examples
    --------
    >>> from rtplan.testing import box_mask_structure, cube_grid
    >>> g = cube_grid(10)
    >>> int(box_mask_structure(g, (-2, -2, -2), (2, 2, 2)).mask(g).sum())
    64
    """
    c = grid.centers_mm()
    lo = np.asarray(lower_mm, dtype=np.float64)
    hi = np.asarray(upper_mm, dtype=np.float64)
    inside = np.all((c >= lo) & (c <= hi), axis=-1)
    return Structure.from_mask(inside, grid, name=name)
