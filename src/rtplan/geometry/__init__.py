"""Target geometry: rasterisation, margins, booleans, distances, measures and surfaces.

All inputs and outputs are :class:`rtplan.Structure` objects in LPS mm. Operations on
structures run on a voxel lattice: the structure's own grid (its mask grid, or the image
grid its contours were drawn on), or ``grid=`` when given; results are mask structures
with contours regenerated, ready for RT-Struct.

* rasterisation: :func:`mask`, :func:`fractional_mask`, :func:`mask_to_contours`;
* margins: :func:`expand`, :func:`contract` (isotropic or per direction, see
  :class:`Margin`), :func:`crop` (inside another, with an inset), :func:`crop_away`;
* booleans: :func:`union`, :func:`intersection`, :func:`difference`,
  :func:`symmetric_difference`;
* contour (per-slice, shapely) operations: :func:`contour_buffer`, :func:`contour_union`,
  :func:`contour_intersection`, :func:`contour_difference`, :func:`repair_contours`;
* distances: :func:`min_distance`, :func:`directional_distance`,
  :func:`directional_distances`, :func:`overlaps`, :func:`target_organ_distances`;
* measures: :func:`measure`, :func:`surface_area_cm2`,
  :func:`equivalent_sphere_diameter_mm`, :func:`dice`, :func:`surface_distances`,
  :func:`ovh`;
* surfaces: :func:`mesh` (pyvista);
* boolean-array morphology with radii in mm (one exact Euclidean morphology, the
  method picked by the size of the ball): :func:`dilate_mask`, :func:`erode_mask`,
  :func:`open_mask`, :func:`close_mask`, :func:`boundary_mask`, :func:`fill_holes`
  (:func:`fill_holes_slicewise` and :func:`fill_holes_3d` are its two modes),
  :func:`label_holes`, :func:`largest_component`, :func:`remove_small_components`, and
  the exact Euclidean :func:`distance_map`.

The package is imported with :mod:`rtplan` (the :class:`~rtplan.Structure` facade refers to
it), so its names are loaded on first use: importing it costs nothing, and numba, scipy,
shapely and pyvista are imported by the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtplan.geometry import rasterize
    from rtplan.geometry._booleans import difference, intersection, symmetric_difference, union
    from rtplan.geometry._distance import (
        directional_distance,
        directional_distances,
        min_distance,
        overlaps,
        target_organ_distances,
    )
    from rtplan.geometry._margins import Margin, contract, crop, crop_away, expand
    from rtplan.geometry._measures import (
        StructureMeasures,
        SurfaceDistances,
        dice,
        equivalent_sphere_diameter_mm,
        measure,
        surface_area_cm2,
        surface_distances,
    )
    from rtplan.geometry._mesh import mesh
    from rtplan.geometry._morphology import (
        boundary_mask,
        close_mask,
        dilate_mask,
        distance_map,
        erode_mask,
        fill_holes,
        fill_holes_3d,
        fill_holes_slicewise,
        label_holes,
        largest_component,
        open_mask,
        remove_small_components,
    )
    from rtplan.geometry._ovh import OverlapVolumeHistogram, ovh
    from rtplan.geometry._polygons import (
        contour_buffer,
        contour_difference,
        contour_intersection,
        contour_union,
        repair_contours,
    )
    from rtplan.geometry.rasterize import fractional_mask, mask, mask_to_contours

# name -> module that defines it, imported on first use
_LAZY: dict[str, str] = {
    "Margin": "rtplan.geometry._margins",
    "OverlapVolumeHistogram": "rtplan.geometry._ovh",
    "StructureMeasures": "rtplan.geometry._measures",
    "SurfaceDistances": "rtplan.geometry._measures",
    "boundary_mask": "rtplan.geometry._morphology",
    "close_mask": "rtplan.geometry._morphology",
    "contour_buffer": "rtplan.geometry._polygons",
    "contour_difference": "rtplan.geometry._polygons",
    "contour_intersection": "rtplan.geometry._polygons",
    "contour_union": "rtplan.geometry._polygons",
    "contract": "rtplan.geometry._margins",
    "crop": "rtplan.geometry._margins",
    "crop_away": "rtplan.geometry._margins",
    "dice": "rtplan.geometry._measures",
    "difference": "rtplan.geometry._booleans",
    "dilate_mask": "rtplan.geometry._morphology",
    "directional_distance": "rtplan.geometry._distance",
    "directional_distances": "rtplan.geometry._distance",
    "distance_map": "rtplan.geometry._morphology",
    "equivalent_sphere_diameter_mm": "rtplan.geometry._measures",
    "erode_mask": "rtplan.geometry._morphology",
    "expand": "rtplan.geometry._margins",
    "fill_holes": "rtplan.geometry._morphology",
    "fill_holes_3d": "rtplan.geometry._morphology",
    "fill_holes_slicewise": "rtplan.geometry._morphology",
    "fractional_mask": "rtplan.geometry.rasterize",
    "intersection": "rtplan.geometry._booleans",
    "label_holes": "rtplan.geometry._morphology",
    "largest_component": "rtplan.geometry._morphology",
    "mask": "rtplan.geometry.rasterize",
    "mask_to_contours": "rtplan.geometry.rasterize",
    "measure": "rtplan.geometry._measures",
    "mesh": "rtplan.geometry._mesh",
    "min_distance": "rtplan.geometry._distance",
    "open_mask": "rtplan.geometry._morphology",
    "overlaps": "rtplan.geometry._distance",
    "ovh": "rtplan.geometry._ovh",
    "remove_small_components": "rtplan.geometry._morphology",
    "repair_contours": "rtplan.geometry._polygons",
    "surface_area_cm2": "rtplan.geometry._measures",
    "surface_distances": "rtplan.geometry._measures",
    "symmetric_difference": "rtplan.geometry._booleans",
    "target_organ_distances": "rtplan.geometry._distance",
    "union": "rtplan.geometry._booleans",
}
_SUBMODULES = ("rasterize",)

__all__ = [
    "Margin",
    "OverlapVolumeHistogram",
    "StructureMeasures",
    "SurfaceDistances",
    "boundary_mask",
    "close_mask",
    "contour_buffer",
    "contour_difference",
    "contour_intersection",
    "contour_union",
    "contract",
    "crop",
    "crop_away",
    "dice",
    "difference",
    "dilate_mask",
    "directional_distance",
    "directional_distances",
    "distance_map",
    "equivalent_sphere_diameter_mm",
    "erode_mask",
    "expand",
    "fill_holes",
    "fill_holes_3d",
    "fill_holes_slicewise",
    "fractional_mask",
    "intersection",
    "label_holes",
    "largest_component",
    "mask",
    "mask_to_contours",
    "measure",
    "mesh",
    "min_distance",
    "open_mask",
    "overlaps",
    "ovh",
    "rasterize",
    "remove_small_components",
    "repair_contours",
    "surface_area_cm2",
    "surface_distances",
    "symmetric_difference",
    "target_organ_distances",
    "union",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
