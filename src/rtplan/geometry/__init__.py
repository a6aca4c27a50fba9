"""Target geometry: rasterisation, margins, booleans, distances, measures and surfaces.

All inputs and outputs are :class:`rtplan.Structure` objects in LPS mm.
"""

from __future__ import annotations

from rtplan.geometry import rasterize
from rtplan.geometry._booleans import difference, intersection, symmetric_difference, union
from rtplan.geometry._margins import Margin, contract, crop, crop_away, expand
from rtplan.geometry._morphology import (
    close_mask,
    dilate_mask,
    erode_mask,
    fill_holes_3d,
    fill_holes_slicewise,
    largest_component,
    open_mask,
    remove_small_components,
)
from rtplan.geometry.rasterize import fractional_mask, mask, mask_to_contours

__all__ = [
    "Margin",
    "close_mask",
    "contract",
    "crop",
    "crop_away",
    "difference",
    "dilate_mask",
    "erode_mask",
    "expand",
    "fill_holes_3d",
    "fill_holes_slicewise",
    "fractional_mask",
    "intersection",
    "largest_component",
    "mask",
    "mask_to_contours",
    "open_mask",
    "rasterize",
    "remove_small_components",
    "symmetric_difference",
    "union",
]
