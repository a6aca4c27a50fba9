"""Synthetic CT series, RT objects, phantoms and shapes for tests, benchmarks and sample data.

As :mod:`numpy.testing` and :mod:`xarray.testing` do for their libraries, this module holds the
builders that rtplan's tests, its benchmarks and the generator of its sample studies share,
so that users can also check their own scripts on data whose geometry is known exactly.

* DICOM: :func:`write_ct_series` (any patient position, orientation, spacing, slice order or
  gaps), :func:`write_rtstruct`, :func:`write_rtdose` / :func:`rtdose_dataset`,
  :func:`write_rtplan_header`; deterministic UIDs (:func:`uid`).
* Phantoms as :class:`rtplan.Image`: :func:`water_phantom`, :func:`slab_phantom`,
  :func:`cylinder_phantom`.
* Shapes: :func:`ellipse_points_mm`, :func:`polygon_area_mm2`, :func:`cube_grid`,
  :func:`sphere_contour_structure`, :func:`sphere_mask_structure`,
  :func:`box_mask_structure`.

Everything that writes DICOM uses pydicom directly, never rtplan's writers
(:mod:`rtplan.io`), so that a test of a reader cannot hide a bug it shares with a writer;
pixel positions are computed with the formula of DICOM PS3.3 C.7.6.2.1.1
(:func:`pixel_centre_mm`), not with :class:`rtplan.Grid`. The files are byte-reproducible:
UIDs derive from names, dates are fixed and the file meta names this module as the
implementation. Nothing here checks its input for clinical sense: tests write deliberately
broken series (gaps, shears, duplicate positions) with it.

Conventions: DICOM patient coordinates (LPS), millimetres; arrays are ``(slice, row,
column) = (k, j, i)``; positions are voxel centres; ``PixelSpacing`` is ``(row, column)``.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> import rtplan
>>> from rtplan.testing import SeriesGeometry, write_ct_series
>>> tmp = tempfile.TemporaryDirectory()
>>> hu = np.zeros((3, 4, 5))
>>> paths = write_ct_series(Path(tmp.name), hu, SeriesGeometry(spacing_mm=(2.5, 1.0, 1.0)))
>>> rtplan.io.read_ct(Path(tmp.name)).grid.shape
(3, 4, 5)
>>> tmp.cleanup()
"""

from __future__ import annotations

from rtplan.testing._ct import (
    SCANNER_ORIENTATIONS,
    PixelEncoding,
    SeriesGeometry,
    pixel_centre_mm,
    slice_normal,
    write_ct_series,
)
from rtplan.testing._dicom import format_ds, uid
from rtplan.testing._phantoms import CylinderPhantom, cylinder_phantom, slab_phantom, water_phantom
from rtplan.testing._rt import (
    Roi,
    rtdose_dataset,
    write_rtdose,
    write_rtplan_header,
    write_rtstruct,
)
from rtplan.testing._shapes import (
    box_mask_structure,
    cube_grid,
    ellipse_points_mm,
    polygon_area_mm2,
    sphere_contour_structure,
    sphere_mask_structure,
)

__all__ = [
    "SCANNER_ORIENTATIONS",
    "CylinderPhantom",
    "PixelEncoding",
    "Roi",
    "SeriesGeometry",
    "box_mask_structure",
    "cube_grid",
    "cylinder_phantom",
    "ellipse_points_mm",
    "format_ds",
    "pixel_centre_mm",
    "polygon_area_mm2",
    "rtdose_dataset",
    "slab_phantom",
    "slice_normal",
    "sphere_contour_structure",
    "sphere_mask_structure",
    "uid",
    "water_phantom",
    "write_ct_series",
    "write_rtdose",
    "write_rtplan_header",
    "write_rtstruct",
]

__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
