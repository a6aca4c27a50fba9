"""The CT series and RT object builders of :mod:`rtplan.testing`, with the test signatures.

Written with pydicom alone (never with rtplan's writers). Voxel positions are computed with
the DICOM formula of PS3.3 C.7.6.2.1.1 (:func:`rtplan.testing.pixel_centre_mm`),
independently of :class:`rtplan.Grid`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

import rtplan
from rtplan import testing
from rtplan.testing import SCANNER_ORIENTATIONS, uid
from rtplan.testing import pixel_centre_mm as voxel_lps

__all__ = [
    "SCANNER_ORIENTATIONS",
    "ramp_volume",
    "uid",
    "uniform_positions",
    "voxel_lps",
    "write_rtdose",
    "write_rtplan",
    "write_rtstruct",
    "write_series",
]

Edit = Callable[[int, Dataset], None]


def uniform_positions(
    origin_mm: Sequence[float], orientation: Sequence[float], spacing_mm: float, n: int
) -> list[npt.NDArray[np.float64]]:
    """IPP of n slices stacked along the normal from ``origin_mm`` (a list, to edit)."""
    geometry = testing.SeriesGeometry(
        origin_mm=tuple(float(v) for v in origin_mm),  # type: ignore[arg-type]
        spacing_mm=(float(spacing_mm), 1.0, 1.0),
        orientation=tuple(orientation),
    )
    return list(geometry.slice_positions_mm(n))


def write_series(
    folder: Path,
    volume_hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    *,
    positions_mm: Sequence[Sequence[float]] | None = None,
    origin_mm: Sequence[float] = (0.0, 0.0, 0.0),
    slice_spacing_mm: float = 2.0,
    pixel_spacing_mm: Sequence[float] = (1.0, 1.0),
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    patient_position: str = "HFS",
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    names: Sequence[str] | None = None,
    instance_numbers: Sequence[int] | None = None,
    description: str = "Synthetic CT",
    edit: Edit | None = None,
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    gantry_tilt_deg: float | None = None,
) -> list[Path]:
    """:func:`rtplan.testing.write_ct_series` with separate slice and pixel spacings.

    ``positions_mm`` gives each slice's IPP (default: uniform stacking along the normal
    from ``origin_mm``); ``names`` the file names; ``edit(k, ds)`` may change each dataset
    before it is saved. Returns the paths in slice order.
    """
    geometry = testing.SeriesGeometry(
        origin_mm=tuple(float(v) for v in origin_mm),  # type: ignore[arg-type]
        spacing_mm=(
            float(slice_spacing_mm),
            float(pixel_spacing_mm[0]),
            float(pixel_spacing_mm[1]),
        ),
        orientation=tuple(orientation),
        patient_position=patient_position,
        positions_mm=None
        if positions_mm is None
        else tuple(tuple(float(v) for v in p) for p in positions_mm),  # type: ignore[misc]
    )
    attributes: dict[str, Any] = {
        "StudyInstanceUID": study_uid,
        "SeriesInstanceUID": series_uid,
        "FrameOfReferenceUID": frame_uid,
        "SeriesDescription": description,
    }
    if gantry_tilt_deg is not None:
        attributes["GantryDetectorTilt"] = testing.format_ds(gantry_tilt_deg)
    return testing.write_ct_series(
        folder,
        volume_hu,
        geometry,
        encoding=testing.PixelEncoding(rescale_slope=slope, rescale_intercept=intercept),
        instance_numbers=instance_numbers,
        file_names=names,
        attributes=attributes,
        edit=edit,
    )


def ramp_volume(shape: tuple[int, int, int], seed: int = 0) -> npt.NDArray[np.float64]:
    """Integer HU values, distinct per voxel pattern, reproducible."""
    rng = np.random.default_rng(seed)
    return rng.integers(-1000, 2000, size=shape).astype(np.float64)


def write_rtstruct(
    path: Path,
    ct_paths: Sequence[Path],
    *,
    rois: Sequence[tuple[str, str, Sequence[npt.ArrayLike]]] = (),
    label: str = "RS",
    sop_uid: str | None = None,
    series_uid: str | None = None,
    referenced_series_uid: str | None = None,
    frame_uid: str | None = None,
) -> Path:
    """:func:`rtplan.testing.write_rtstruct` with its UIDs as keywords."""
    return testing.write_rtstruct(
        path,
        ct_paths,
        rois=rois,
        label=label,
        frame_uid=frame_uid,
        referenced_series_uid=referenced_series_uid,
        attributes={"SOPInstanceUID": sop_uid, "SeriesInstanceUID": series_uid},
    )


def write_rtplan(
    path: Path, *, study_uid: str, frame_uid: str | None, structure_set_uid: str | None = None
) -> Path:
    """The header of an RT Plan (what discovery reads): frame and structure set references."""
    return testing.write_rtplan_header(
        path, study_uid=study_uid, frame_uid=frame_uid, structure_set_uid=structure_set_uid
    )


def write_rtdose(path: Path, *, study_uid: str, frame_uid: str) -> Path:
    """A small valid RT Dose: 2 frames of 3x4 voxels of 2 mm, 0 to 2.3 Gy in 0.1 Gy steps."""
    grid = rtplan.Grid(shape=(2, 3, 4), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0.0, 0.0, 0.0))
    dose = rtplan.Dose(array=np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 0.1, grid=grid)
    return testing.write_rtdose(
        path,
        dose,
        frame_uid=frame_uid,
        scaling_gy=0.001,
        attributes={"StudyInstanceUID": study_uid, "SOPInstanceUID": uid("rtdose", path)},
    )
