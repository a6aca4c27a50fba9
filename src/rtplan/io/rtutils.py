"""Interchange with rt-utils: rtplan structure sets to and from ``rt_utils.RTStruct``.

Many pipelines build their RT Structure Sets with rt-utils from voxel masks
(``RTStructBuilder.create_new(ct_folder)``, then ``add_roi(mask=...)``) or read masks
out of one (``get_roi_mask_by_name``). :func:`from_rtutils` turns such an object into a
:class:`~rtplan.StructureSet` on the CT (ROI numbers, names, colours, types kept), and
:func:`to_rtutils` turns rtplan structures into an ``RTStruct`` that holds rtplan's
contours exactly (not re-derived from masks), ready for ``get_roi_mask_by_name``,
``add_roi`` and ``save``.

rt-utils' conventions, which the conversions keep and the tests check:

* its masks are ``(row, column, slice)`` arrays, slices ordered along the slice normal
  as rtplan's ``k``: ``mask.transpose(2, 0, 1)`` is rtplan's ``(k, j, i)`` order;
* contours it draws from a mask run through the centres of the mask's boundary pixels,
  and its mask of a contour fills the polygon of the vertices rounded to pixel centres,
  outline included. So rt-utils' mask of an rtplan contour holds rtplan's mask (pixel
  centres inside) less at most its boundary ring, and stays within one pixel of it;
  rtplan's mask of an rt-utils contour holds the mask rt-utils started from less at most
  its boundary ring (``from_masks=True`` keeps rt-utils' masks voxel for voxel instead);
* its mask arrays assume square images (Rows = Columns), and it numbers an ROI added
  with ``add_roi`` one more than the number of ROIs: give rtplan structures numbers
  1..n before :func:`to_rtutils` when ROIs will be added to the result.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtplan.errors import DicomReadError
from rtplan.image import Image
from rtplan.io._writer import ct_slice_datasets
from rtplan.io.ct import read_ct
from rtplan.io.rtstruct import _dataset_to_structure_set, _structure_set_to_dataset
from rtplan.structures import Structure, StructureSet

if TYPE_CHECKING:
    from rt_utils import RTStruct

__all__ = ["from_rtutils", "to_rtutils"]

logger = logging.getLogger(__name__)

_SOURCE = "rt-utils RTStruct"


def to_rtutils(
    structures: StructureSet | Iterable[Structure],
    reference: Image | str | os.PathLike[str],
    *,
    label: str | None = None,
) -> RTStruct:
    """An rt-utils ``RTStruct`` holding rtplan structures on their CT.

    The RT Structure Set is the one :func:`rtplan.io.write_rtstruct` writes (the same
    contours, ROI numbers, names, colours, types and observations), handed to rt-utils
    with the CT slices instead of being saved.

    Parameters
    ----------
    structures : StructureSet or iterable of Structure
        What to convert (as for :func:`rtplan.io.write_rtstruct`).
    reference : Image or path
        The CT: as read by :func:`rtplan.io.read_ct` or :func:`rtplan.load_study` (its
        files are read for rt-utils), or the CT folder.
    label : str, optional
        Structure Set Label (at most 16 characters); default the set's, or ``"rtplan"``.

    Returns
    -------
    rt_utils.RTStruct
        Its ``series_data`` are the CT slices in rtplan's ``k`` order (rt-utils' order);
        its ``ds`` the RT Structure Set.

    Raises
    ------
    DicomWriteError
        As :func:`rtplan.io.write_rtstruct`, or if the CT files cannot be read.
    DicomReadError
        If ``reference`` is a folder without a readable CT series.

    Examples
    --------
    >>> import rtplan
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> rts = rtplan.io.to_rtutils(study.structures, study.ct)
    >>> rts.get_roi_names() == study.structures.names
    True
    >>> mask = rts.get_roi_mask_by_name("PTV").transpose(2, 0, 1)  # rt-utils (j, i, k)
    >>> ours = study.structures["PTV"].mask(study.ct.grid)
    >>> bool((mask | ours).sum() - (mask & ours).sum() < 0.2 * ours.sum())  # boundary only
    True
    """
    import pydicom
    from rt_utils import RTStruct

    ct = reference if isinstance(reference, Image) else read_ct(reference)
    what = "an rt-utils RTStruct"
    ds = _structure_set_to_dataset(structures, reference=ct, label=label, target=what)
    series_data = ct_slice_datasets(ct, what=what, pixels=True)  # as rt-utils loads them
    buffer = io.BytesIO()  # as a file would hold it: rt-utils reads what pydicom reads back
    ds.save_as(buffer, enforce_file_format=True)
    return RTStruct(series_data, pydicom.dcmread(io.BytesIO(buffer.getvalue())))


def _reference_of(rtstruct: Any) -> Image | None:
    """The CT rt-utils holds, read by rtplan from its files (None when not from files)."""
    files = [getattr(ds, "filename", None) for ds in rtstruct.series_data]
    if not files or not all(isinstance(f, str) and Path(f).is_file() for f in files):
        return None
    return read_ct([Path(str(f)) for f in files])


def _rtutils_mask(rtstruct: Any, s: Structure, ct: Image) -> np.ndarray[Any, Any]:
    """The mask rt-utils makes of one ROI (as ``get_roi_mask_by_name``), ``(k, j, i)``."""
    from rt_utils import image_helper

    shape = ct.grid.shape
    if shape[1] != shape[2]:
        raise DicomReadError(
            f"from_rtutils(..., from_masks=True): rt-utils makes masks of square images "
            f"only, the CT is {shape[1]} x {shape[2]}; read the contours (from_masks=False)"
        )
    item = next(
        (
            rc
            for rc in rtstruct.ds.get("ROIContourSequence") or []
            if str(rc.get("ReferencedROINumber", "")) == str(s.number)
        ),
        None,
    )
    contours = (item.get("ContourSequence") or []) if item is not None else []
    if not contours:
        return np.zeros(shape, dtype=bool)
    if any(
        c.get("ContourGeometricType") != "CLOSED_PLANAR" or not c.get("ContourImageSequence")
        for c in contours
    ):
        raise DicomReadError(
            f"from_rtutils(..., from_masks=True): ROI {s.name!r} holds contours rt-utils "
            "makes no mask of (not CLOSED_PLANAR, or no Contour Image Sequence); read the "
            "contours (from_masks=False)"
        )
    mask = image_helper.create_series_mask_from_contour_sequence(rtstruct.series_data, contours)
    return np.asarray(mask, dtype=bool).transpose(2, 0, 1)


def from_rtutils(
    rtstruct: RTStruct,
    *,
    reference: Image | None = None,
    from_masks: bool = False,
) -> StructureSet:
    """A structure set from an rt-utils ``RTStruct`` (e.g. one built from masks).

    Parameters
    ----------
    rtstruct : rt_utils.RTStruct
        From ``RTStructBuilder.create_new`` / ``create_from`` (ROIs added with
        ``add_roi``), or :func:`to_rtutils`.
    reference : Image, optional
        The CT the ROIs are drawn on (as read by :func:`rtplan.io.read_ct`); by default
        the CT files rt-utils read. The frame of reference is checked and contours are
        fitted to its slices, as :func:`rtplan.io.read_rtstruct` does.
    from_masks : bool
        False (default): each ROI from the contours rt-utils wrote, as any RT Structure
        Set reader sees them. True: each ROI as the voxel mask rt-utils makes of it
        (``get_roi_mask_by_name``), contoured exactly on the CT grid, so that its mask
        equals rt-utils' voxel for voxel (closed planar ROIs, square images).

    Returns
    -------
    StructureSet
        ROI numbers, names, colours, types, generation algorithms and descriptions as
        rt-utils holds them; ``source`` is None.

    Raises
    ------
    DicomReadError
        As :func:`rtplan.io.read_rtstruct` (an ROI in another frame of reference than
        the CT), or with ``from_masks`` on a CT that is not square.

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> rts = rtplan.io.to_rtutils([], ct)  # or rt_utils.RTStructBuilder.create_new(folder)
    >>> box = np.zeros(ct.grid.shape, dtype=bool)
    >>> box[10:20, 40:60, 50:80] = True  # (k, j, i): 10 slices, 20 rows, 30 columns
    >>> rts.add_roi(mask=box.transpose(1, 2, 0), name="Box", color=[0, 255, 0])
    >>> ss = rtplan.io.from_rtutils(rts, reference=ct, from_masks=True)
    >>> ss["Box"].number, ss["Box"].color, bool((ss["Box"].mask(ct.grid) == box).all())
    (1, (0, 255, 0), True)
    >>> contours = rtplan.io.from_rtutils(rts, reference=ct)  # rt-utils' contours as drawn
    >>> bool((contours["Box"].mask(ct.grid) & ~box).any())  # never outside rt-utils' mask
    False
    """
    ct = reference if reference is not None else _reference_of(rtstruct)
    ss = _dataset_to_structure_set(
        rtstruct.ds, reference=ct, source=_SOURCE, contours=not from_masks
    )
    if not from_masks:
        return ss
    if ct is None:
        raise DicomReadError(
            "from_rtutils(..., from_masks=True) needs the CT: pass reference=ct (the CT "
            "rt-utils holds was not read from files)"
        )
    structures = []
    for s in ss:
        exact = Structure.from_mask(
            _rtutils_mask(rtstruct, s, ct),
            ct.grid,
            name=s.name,
            color=s.color,
            interpreted_type=s.interpreted_type,
            generation=s.generation,
            description=s.description,
        )
        structures.append(replace(exact, number=s.number))
    return replace(ss, structures=tuple(structures))
