"""Target geometry: rasterisation, margins, booleans, distances, measures and surfaces.

All inputs and outputs are :class:`rtplan.Structure` objects in LPS mm.
"""

from __future__ import annotations

from rtplan.geometry import rasterize
from rtplan.geometry.rasterize import fractional_mask, mask, mask_to_contours

__all__ = ["fractional_mask", "mask", "mask_to_contours", "rasterize"]
