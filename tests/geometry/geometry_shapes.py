"""Analytic test shapes on voxel grids, as masks and as contours."""

from __future__ import annotations

import numpy as np

from rtplan import Contour, Grid, Structure


def cube_grid(n: int = 60, spacing: float = 1.0, offset: float = 0.0) -> Grid:
    """An n^3 grid centred near the origin (centres at half-integers for offset 0)."""
    start = -(n - 1) * spacing / 2.0 + offset
    return Grid(shape=(n, n, n), spacing_mm=(spacing,) * 3, origin_mm=(start, start, start))


def sphere_mask(
    grid: Grid, centre: np.ndarray | list[float], radius: float, name: str
) -> Structure:
    """Centre-inside voxel sphere as a mask structure."""
    c = grid.centers_mm()
    inside = np.linalg.norm(c - np.asarray(centre, dtype=float), axis=-1) <= radius
    return Structure.from_mask(inside, grid, name=name)


def sphere_contours(
    grid: Grid, centre: np.ndarray | list[float], radius: float, name: str, n: int = 180
) -> Structure:
    """Exact circles on every slice plane of the grid (slices stand for their slabs)."""
    ctr = np.asarray(centre, dtype=float)
    contours = []
    for z in grid.axis_mm(0):
        dz = z - ctr[2]
        if abs(dz) >= radius:
            continue
        r = np.sqrt(radius * radius - dz * dz)
        t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
        pts = np.c_[ctr[0] + r * np.cos(t), ctr[1] + r * np.sin(t), np.full(n, z)]
        contours.append(Contour(points_mm=pts))
    return Structure(
        name=name,
        contours=tuple(contours),
        slice_thickness_mm=grid.spacing_mm[0],
        reference_grid=grid,
    )


def box_mask(grid: Grid, lower: list[float], upper: list[float], name: str) -> Structure:
    """Voxels whose centres lie in the axis-aligned box [lower, upper] (LPS mm)."""
    c = grid.centers_mm()
    inside = np.all((c >= np.asarray(lower)) & (c <= np.asarray(upper)), axis=-1)
    return Structure.from_mask(inside, grid, name=name)
