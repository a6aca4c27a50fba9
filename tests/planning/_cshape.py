"""A TG-119-like C-shape phantom (AAPM TG-119, Ezzell et al. 2009) for inverse planning tests.

A water box with a C-shaped target around a cylindrical core along z, as TG-119's
"C-shape" case: core radius 10 mm, target from 15 mm (a 5 mm gap) to 37 mm from the core's
axis, open on the anterior side (-y) over the 20 mm-wide band in front of the core; both
span ``length_mm`` along z. The structures are closed contours on the CT slices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import rtplan
from rtplan.image import Image
from rtplan.structures import Contour, Structure
from rtplan.testing import Roi, SeriesGeometry, write_ct_series, write_rtstruct


@dataclass(frozen=True)
class CShape:
    ct: Image
    target: Structure
    core: Structure
    centre_mm: tuple[float, float, float]


def _polygons(
    centre: tuple[float, float], inner_mm: float, outer_mm: float, core_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    from shapely.geometry import Point, box

    cx, cy = centre
    ring = Point(cx, cy).buffer(outer_mm, quad_segs=16) - Point(cx, cy).buffer(
        inner_mm, quad_segs=16
    )
    c_shape = ring - box(cx - core_mm, cy - outer_mm - 1.0, cx + core_mm, cy)
    core = Point(cx, cy).buffer(core_mm, quad_segs=16)
    return np.asarray(c_shape.exterior.coords)[:-1], np.asarray(core.exterior.coords)[:-1]


def c_shape(
    *,
    spacing_mm: float = 5.0,
    width_mm: float = 120.0,
    length_mm: float = 20.0,
    gap_mm: float = 5.0,
) -> CShape:
    """The phantom as an HU image (0 HU water box) and contour structures.

    ``gap_mm`` is the distance between the core and the target (TG-119: 5 mm).
    """
    n = round(width_mm / spacing_mm) // 2 * 2 + 1
    half = (n - 1) / 2 * spacing_mm
    n_z = round((length_mm + 30.0) / spacing_mm) // 2 * 2 + 1
    half_z = (n_z - 1) / 2 * spacing_mm
    grid = rtplan.Grid(
        shape=(n_z, n, n),
        spacing_mm=(spacing_mm, spacing_mm, spacing_mm),
        origin_mm=(-half, -half, -half_z),
    )
    ct = Image(
        array=np.zeros(grid.shape, dtype=np.int16),
        grid=grid,
        units="HU",
        patient_position="HFS",  # type: ignore[arg-type]
    )
    outline, core_outline = _polygons((0.0, 0.0), 10.0 + gap_mm, 37.0, 10.0)
    zs = grid.axis_mm(2)
    zs = zs[np.abs(zs) <= 0.5 * length_mm]

    def contours(points: np.ndarray) -> tuple[Contour, ...]:
        return tuple(
            Contour(points_mm=np.column_stack([points, np.full(len(points), z)])) for z in zs
        )

    return CShape(
        ct=ct,
        target=Structure(name="PTV", contours=contours(outline), slice_thickness_mm=spacing_mm),
        core=Structure(name="Core", contours=contours(core_outline), slice_thickness_mm=spacing_mm),
        centre_mm=(0.0, 0.0, 0.0),
    )


def write_study(folder: Path, phantom: CShape) -> Path:
    """The phantom as a DICOM study: CT series and RT Structure Set."""
    g = phantom.ct.grid
    ct_paths = write_ct_series(
        folder / "CT",
        np.asarray(phantom.ct.array),
        SeriesGeometry(origin_mm=g.origin_mm, spacing_mm=g.spacing_mm),
    )
    write_rtstruct(
        folder / "RS.dcm",
        ct_paths,
        rois=[Roi.from_structure(phantom.target), Roi.from_structure(phantom.core)],
    )
    return folder
