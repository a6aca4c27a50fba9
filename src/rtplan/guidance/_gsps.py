"""A needle trajectory as a Grayscale Softcopy Presentation State (GSPS) on the CT.

PACS viewers apply a GSPS to the CT series it references: here a graphic layer
``NEEDLE`` holding, on each CT slice the needle crosses, a POLYLINE of the part of the
needle within that slice's thickness (projected onto it), a CIRCLE at the skin entry and
a POINT at the target on their slices with text labels, and a window (VOI LUT) for the
whole series. Built with :mod:`highdicom.pr`; graphic coordinates are in PIXEL units,
``(column, row)`` with ``(0, 0)`` at the top-left corner of the top-left pixel, so the
centre of pixel ``(i, j)`` is ``(i + 0.5, j + 0.5)``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

import rtplan.io
from rtplan._version import __version__
from rtplan.errors import DicomWriteError
from rtplan.guidance._markers import slice_pieces
from rtplan.guidance._overlay import WINDOWS
from rtplan.guidance._trajectory import Trajectory
from rtplan.image import Image

__all__ = ["write_presentation_state"]

logger = logging.getLogger(__name__)

_CIRCLE_RADIUS_PX = 6.0


def write_presentation_state(
    trajectory: Trajectory,
    ct: Image,
    path: str | Path,
    *,
    window: str | tuple[float, float] = "soft_tissue",
    label: str = "NEEDLE PLAN",
    series_number: int = 901,
) -> Path:
    """Write a GSPS that draws the needle on every CT slice it crosses.

    Parameters
    ----------
    trajectory : Trajectory
        The needle path.
    ct : Image
        The CT as read from DICOM (one file per slice; the files are read for their
        headers).
    path : str or Path
        Output file.
    window : str or (float, float)
        Window preset name (see :data:`rtplan.guidance.WINDOWS`) or ``(width, level)``
        in HU, applied to the whole series.
    label : str
        Content Label (at most 16 of A-Z, 0-9, space, underscore).
    series_number : int
        Series Number of the new presentation-state series.

    Returns
    -------
    Path

    Raises
    ------
    DicomWriteError
        If the CT was not read from DICOM files, a file is unreadable, the window or label
        is invalid, or the needle crosses no slice of the CT.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pydicom
    >>> import rtplan
    >>> from rtplan.guidance import Trajectory, write_presentation_state
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> target = np.asarray(study.structures["GTV"].centroid_mm)
    >>> needle = Trajectory(entry_mm=target + [-60.0, 5.0, 10.0], target_mm=target,
    ...                     clearance_mm={}, required_clearance_mm={}, in_plane_deg=0.0,
    ...                     out_of_plane_deg=0.0, tissue_fraction={})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     pr = write_presentation_state(needle, study.ct, Path(tmp, "PR.dcm"))
    ...     ds = pydicom.dcmread(pr)
    >>> ds.Modality, ds.Manufacturer, ds.GraphicLayerSequence[0].GraphicLayer
    ('PR', 'rtplan', 'NEEDLE')
    """
    import highdicom as hd
    from pydicom.uid import generate_uid

    out = Path(path)
    if isinstance(window, str):
        if window not in WINDOWS:
            raise DicomWriteError(
                f"cannot write {out}: unknown window {window!r}; choose one of {list(WINDOWS)}"
            )
        width, level = WINDOWS[window]
    else:
        width, level = float(window[0]), float(window[1])
    if width <= 0:
        raise DicomWriteError(f"cannot write {out}: window width must be positive")
    headers = rtplan.io.ct_slice_datasets(ct, what=str(out))
    pieces = slice_pieces(trajectory, ct)
    k_entry = int(np.rint(ct.grid.mm_to_index(trajectory.entry_mm)[2]))
    k_target = int(np.rint(ct.grid.mm_to_index(trajectory.target_mm)[2]))
    if not pieces and not (0 <= k_entry < len(headers) or 0 <= k_target < len(headers)):
        raise DicomWriteError(f"cannot write {out}: the needle crosses no slice of the CT")

    cols, rows = ct.grid.shape_ijk[0], ct.grid.shape_ijk[1]
    size = np.array([float(cols), float(rows)])
    layer = hd.pr.GraphicLayer(
        layer_name="NEEDLE",
        order=1,
        description="planned needle trajectory (rtplan)",
        display_color=hd.color.CIELabColor(91.1, -48.1, -14.1),  # cyan
    )
    by_slice: dict[int, tuple[list[Any], list[Any]]] = {}
    for p in pieces:
        data = p.ijk[:, :2] + 0.5
        obj = hd.pr.GraphicObject(
            graphic_type=hd.pr.GraphicTypeValues.POLYLINE,
            graphic_data=np.asarray(data, dtype=np.float64),
            units=hd.pr.AnnotationUnitsValues.PIXEL,
        )
        by_slice.setdefault(p.k, ([], []))[0].append(obj)
    for point, k, kind in (
        (trajectory.entry_mm, k_entry, "entry"),
        (trajectory.target_mm, k_target, "target"),
    ):
        if not 0 <= k < len(headers):
            continue
        ij = ct.grid.mm_to_index(point)[:2] + 0.5
        # marks and labels towards the image centre, so they stay on the image (PIXEL
        # coordinates must lie within 0..Columns, 0..Rows)
        inward = np.where(ij < 0.5 * size, 1.0, -1.0)
        graphics, texts = by_slice.setdefault(k, ([], []))
        if kind == "entry":
            graphics.append(
                hd.pr.GraphicObject(
                    graphic_type=hd.pr.GraphicTypeValues.CIRCLE,
                    graphic_data=np.stack(
                        [ij, ij + np.array([inward[0] * _CIRCLE_RADIUS_PX, 0.0])]
                    ),
                    units=hd.pr.AnnotationUnitsValues.PIXEL,
                )
            )
            text = "Entry"
        else:
            graphics.append(
                hd.pr.GraphicObject(
                    graphic_type=hd.pr.GraphicTypeValues.POINT,
                    graphic_data=np.array([ij]),
                    units=hd.pr.AnnotationUnitsValues.PIXEL,
                )
            )
            text = f"Target ({trajectory.length_mm:.1f} mm)"
        anchor = np.clip(ij + np.array([8.0 * inward[0], -8.0]), 0.0, size)
        texts.append(
            hd.pr.TextObject(
                text_value=text,
                units=hd.pr.AnnotationUnitsValues.PIXEL,
                anchor_point=(float(anchor[0]), float(anchor[1])),
                anchor_point_visible=False,
            )
        )
    try:
        annotations = [
            hd.pr.GraphicAnnotation(
                referenced_images=[headers[k]],
                graphic_layer=layer,
                graphic_objects=g or None,
                text_objects=t or None,
            )
            for k, (g, t) in sorted(by_slice.items())
        ]
        gsps = hd.pr.GrayscaleSoftcopyPresentationState(
            referenced_images=headers,
            series_instance_uid=generate_uid(),
            series_number=int(series_number),
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer=rtplan.io.MANUFACTURER,
            manufacturer_model_name=rtplan.io.MANUFACTURER,
            software_versions=__version__,
            device_serial_number=rtplan.io.MANUFACTURER,
            content_label=label,
            content_description=(
                f"needle {trajectory.length_mm:.1f} mm, in-plane "
                f"{trajectory.in_plane_deg:.1f} deg, out-of-plane "
                f"{trajectory.out_of_plane_deg:.1f} deg"
            )[:64],
            graphic_annotations=annotations,
            graphic_layers=[layer],
            voi_lut_transformations=[
                hd.pr.SoftcopyVOILUTTransformation(window_center=level, window_width=width)
            ],
        )
    except (ValueError, TypeError) as exc:
        raise DicomWriteError(f"cannot write {out}: {exc}") from exc
    # General Series, Type 2C: as the CT (R/L for a limb, absent for the spine, else empty)
    rtplan.io.set_laterality(gsps, ct)
    rtplan.io.stamp_dataset(gsps)
    rtplan.io.save_dataset(gsps, out)
    logger.info("wrote GSPS %s: needle on %d slices", out, len(annotations))
    return out
