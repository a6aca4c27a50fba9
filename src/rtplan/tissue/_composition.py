"""Tissue composition: the volume of each tissue class inside the body."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan.image import Image
from rtplan.tissue._calibration import CalibrationError, check_hu
from rtplan.tissue._classes import TissueClass, TissueThresholds, class_labels
from rtplan.tissue._segmentation import SegmentationParameters, body_mask

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = ["composition"]


def composition(
    ct: Image,
    body: Structure | npt.NDArray[np.bool_] | None = None,
    thresholds: TissueThresholds | None = None,
) -> dict[str, float]:
    """Volume of each tissue class inside the body, cm³.

    Parameters
    ----------
    ct : Image
        CT in HU.
    body : Structure or numpy.ndarray of bool, optional
        The region to count in (an EXTERNAL structure or a mask on the CT grid); the
        automatic body outline when omitted.
    thresholds : TissueThresholds, optional
        Class boundaries.

    Returns
    -------
    dict of str to float
        ``{class label: cm³}`` for every :class:`TissueClass`, in class order
        (``"air"``, ``"lung"``, ``"adipose"``, ``"soft_tissue"``, ``"cancellous_bone"``,
        ``"cortical_bone"``, ``"metal"``).

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.data import get_path
    >>> ct = rtplan.io.read_ct(get_path("thigh_sarcoma"))
    >>> cc = rtplan.tissue.composition(ct)  # inside the automatic body outline
    >>> {label: round(v) for label, v in cc.items() if v > 0}
    {'adipose': 762, 'soft_tissue': 1272, 'cancellous_bone': 30, 'cortical_bone': 44}
    """
    check_hu(ct, "composition()")
    t = TissueThresholds() if thresholds is None else thresholds
    if body is None:
        region = body_mask(ct, SegmentationParameters(thresholds=t))
    elif isinstance(body, np.ndarray):
        region = np.asarray(body, dtype=bool)
        if region.shape != ct.shape:
            raise CalibrationError(
                f"composition(): body mask shape {region.shape} differs from the CT {ct.shape}"
            )
    else:
        region = body.mask(ct.grid)
    labels = class_labels(np.asarray(ct.array)[region][np.newaxis], t)
    counts = np.bincount(labels.ravel(), minlength=len(TissueClass) + 1)
    v = ct.grid.voxel_volume_mm3 / 1000.0
    return {c.label: float(counts[c.value]) * v for c in TissueClass}
