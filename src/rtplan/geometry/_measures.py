"""Measures of one structure and agreement measures between two.

* :func:`measure`: volume, centroid, bounding box and extent, surface area (of the smooth
  mesh), equivalent sphere diameter.
* :func:`dice` and :func:`surface_distances` (Hausdorff, 95th-percentile Hausdorff and
  mean surface distance) compare two delineations on a common grid, the way contouring
  studies do: surfaces are the boundary voxels of each mask (inside voxels with a face
  neighbour outside), distances are exact Euclidean distances in mm between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan.errors import StructureError
from rtplan.geometry import _lattice as lat
from rtplan.grid import Grid

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = [
    "StructureMeasures",
    "SurfaceDistances",
    "dice",
    "equivalent_sphere_diameter_mm",
    "measure",
    "surface_area_cm2",
    "surface_distances",
]

FloatArray = npt.NDArray[np.float64]


def equivalent_sphere_diameter_mm(structure: Structure) -> float:
    """Diameter of the sphere with the structure's volume, mm.

    Parameters
    ----------
    structure : Structure

    Returns
    -------
    float
    """
    return float((6.0 * structure.volume_cc * 1000.0 / math.pi) ** (1.0 / 3.0))


def surface_area_cm2(structure: Structure, **mesh_kwargs: Any) -> float:
    """Area of the structure's smooth surface (:func:`rtplan.geometry.mesh`), cm².

    Parameters
    ----------
    structure : Structure
    **mesh_kwargs
        Passed to :func:`~rtplan.geometry.mesh`.

    Returns
    -------
    float
    """
    from rtplan.geometry._mesh import mesh

    return float(mesh(structure, **mesh_kwargs).area) / 100.0


@dataclass(frozen=True, kw_only=True, slots=True)
class StructureMeasures:
    """Size and position of one structure.

    Attributes
    ----------
    name : str
    volume_cc : float
        Enclosed volume, cm³.
    centroid_mm : tuple of float
        Centre of mass, LPS mm.
    lower_mm, upper_mm : tuple of float
        Axis-aligned LPS bounding box, mm.
    extent_mm : tuple of float
        Bounding-box size along x, y, z (left-right, anterior-posterior,
        inferior-superior), mm.
    surface_area_cm2 : float
        Area of the smooth surface mesh, cm².
    equivalent_sphere_diameter_mm : float
        Diameter of the sphere of the same volume, mm.
    """

    name: str
    volume_cc: float
    centroid_mm: tuple[float, float, float]
    lower_mm: tuple[float, float, float]
    upper_mm: tuple[float, float, float]
    extent_mm: tuple[float, float, float]
    surface_area_cm2: float
    equivalent_sphere_diameter_mm: float


def _t3(a: npt.ArrayLike) -> tuple[float, float, float]:
    v = np.asarray(a, dtype=np.float64).reshape(3)
    return float(v[0]), float(v[1]), float(v[2])


def measure(structure: Structure) -> StructureMeasures:
    """Volume, centroid, bounding box, surface area and equivalent sphere diameter.

    Parameters
    ----------
    structure : Structure
        A structure with volume.

    Returns
    -------
    StructureMeasures

    Raises
    ------
    StructureError
        If the structure encloses no volume.
    """
    if not structure.has_volume:
        raise StructureError(f"structure {structure.name!r} encloses no volume: nothing to measure")
    lo, hi = structure.bounds_mm()
    return StructureMeasures(
        name=structure.name,
        volume_cc=float(structure.volume_cc),
        centroid_mm=_t3(structure.centroid_mm),
        lower_mm=_t3(lo),
        upper_mm=_t3(hi),
        extent_mm=_t3(np.asarray(hi) - np.asarray(lo)),
        surface_area_cm2=surface_area_cm2(structure),
        equivalent_sphere_diameter_mm=equivalent_sphere_diameter_mm(structure),
    )


def _pair_masks(
    a: Structure, b: Structure, grid: Grid | None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], Grid]:
    lattice = lat.working_lattice(a, b, grid=grid)
    ba = lat.index_bounds(a, lattice)
    bb = lat.index_bounds(b, lattice)
    if ba is None or bb is None:
        empty = a.name if ba is None else b.name
        raise StructureError(f"structure {empty!r} is empty: nothing to compare")
    lo = np.minimum(ba[0], bb[0]) - 1
    hi = np.maximum(ba[1], bb[1]) + 1
    box = lat.lattice_box(lattice, lo, hi)
    return lat.mask_on(a, box), lat.mask_on(b, box), box


def dice(a: Structure, b: Structure, *, grid: Grid | None = None) -> float:
    """Dice similarity coefficient ``2 |A ∩ B| / (|A| + |B|)`` on a common grid.

    Parameters
    ----------
    a, b : Structure
    grid : Grid, optional
        Grid to rasterise on; ``a``'s by default.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    StructureError
        If either structure is empty.
    """
    ma, mb, _ = _pair_masks(a, b, grid)
    na, nb = np.count_nonzero(ma), np.count_nonzero(mb)
    if na + nb == 0:
        raise StructureError(f"structures {a.name!r} and {b.name!r} cover no voxel")
    return float(2.0 * np.count_nonzero(ma & mb) / (na + nb))


@dataclass(frozen=True, kw_only=True, slots=True)
class SurfaceDistances:
    """Distances between the surfaces of two structures, mm.

    Attributes
    ----------
    hausdorff_mm : float
        Largest distance from a surface point of either structure to the other surface.
    hausdorff95_mm : float
        The larger of the two directed 95th-percentile distances.
    mean_surface_distance_mm : float
        Mean of all surface-to-surface distances, both directions pooled (average
        symmetric surface distance).
    a_to_b_mm, b_to_a_mm : numpy.ndarray
        The directed distances of each boundary voxel, mm.
    """

    hausdorff_mm: float
    hausdorff95_mm: float
    mean_surface_distance_mm: float
    a_to_b_mm: FloatArray
    b_to_a_mm: FloatArray

    def __repr__(self) -> str:
        return (
            f"SurfaceDistances(hausdorff_mm={self.hausdorff_mm:.2f}, "
            f"hausdorff95_mm={self.hausdorff95_mm:.2f}, "
            f"mean_surface_distance_mm={self.mean_surface_distance_mm:.2f}, "
            f"{self.a_to_b_mm.size} + {self.b_to_a_mm.size} surface voxels)"
        )


def surface_distances(
    a: Structure, b: Structure, *, grid: Grid | None = None, percentile: float = 95.0
) -> SurfaceDistances:
    """Hausdorff, percentile Hausdorff and mean surface distance between two structures.

    Parameters
    ----------
    a, b : Structure
    grid : Grid, optional
        Grid to rasterise on; ``a``'s by default.
    percentile : float
        Percentile of the robust Hausdorff distance (95 by default).

    Returns
    -------
    SurfaceDistances

    Raises
    ------
    StructureError
        If either structure is empty.
    """
    from rtplan.geometry._morphology import boundary_mask, distance_to_set

    ma, mb, box = _pair_masks(a, b, grid)
    if not ma.any() or not mb.any():
        raise StructureError(f"structures {a.name!r} and {b.name!r}: one covers no voxel")
    sa, sb = boundary_mask(ma), boundary_mask(mb)
    sp = box.spacing_mm
    to_b = distance_to_set(sb, sp)
    to_a = distance_to_set(sa, sp)
    dab = to_b[sa]
    dba = to_a[sb]
    return SurfaceDistances(
        hausdorff_mm=float(max(dab.max(), dba.max())),
        hausdorff95_mm=float(max(np.percentile(dab, percentile), np.percentile(dba, percentile))),
        mean_surface_distance_mm=float((dab.sum() + dba.sum()) / (dab.size + dba.size)),
        a_to_b_mm=dab,
        b_to_a_mm=dba,
    )
