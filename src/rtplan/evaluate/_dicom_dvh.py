"""DVHs stored in an RT Dose object (DVH Sequence, 3004,0050), read with pydicom.

Each DVH Sequence item holds ``DVHData`` = ``D1 V1 D2 V2 ... Dn Vn``: bin widths ``Dn``
(in ``DoseUnits`` after multiplication by ``DVHDoseScaling``) and volumes ``Vn`` (in
``DVHVolumeUnits``). For a CUMULATIVE DVH, ``Vn`` is the volume receiving at least the
dose at the start of bin ``n`` (``D1 + ... + D(n-1)``; ``V1`` is the whole volume), the
reading of dicompyler-core; for a DIFFERENTIAL DVH, ``Vn`` is the volume with a dose
inside bin ``n`` (or, in ``PER_U``, the volume per unit of ``DoseUnits``, which is
multiplied by the bin width in those units). The ROI is the
``ReferencedROINumber`` of ``DVHReferencedROISequence``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.errors import DicomReadError
from rtplan.evaluate._dvh_type import DVH
from rtplan.structures import StructureSet

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["read_dvhs"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def read_dvhs(
    source: str | Path | Dataset, *, structures: StructureSet | None = None
) -> dict[int, DVH]:
    """Read the DVHs of an RT Dose file's DVH Sequence.

    Parameters
    ----------
    source : str, Path or pydicom.Dataset
        An RT Dose file or dataset.
    structures : StructureSet, optional
        Used to name the DVHs (ROI Number -> ROI Name) and, for relative-volume DVHs, to
        give them an absolute volume (the structure's :attr:`~rtplan.Structure.volume_cc`).

    Returns
    -------
    dict of int to DVH
        Keyed by ROI Number, in sequence order; empty when the file holds no DVH.

    Raises
    ------
    DicomReadError
        If the file cannot be read or is not an RT Dose.

    Warns
    -----
    RtplanWarning
        For items that are skipped (no ROI reference, relative dose, malformed data).
    """
    import pydicom
    from pydicom.dataset import Dataset

    where = "dataset" if isinstance(source, Dataset) else str(source)
    if isinstance(source, Dataset):
        ds = source
    else:
        try:
            ds = pydicom.dcmread(source)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise DicomReadError(f"cannot read RT Dose {where}: {exc}") from exc
    modality = str(getattr(ds, "Modality", ""))
    if modality and modality != "RTDOSE":
        raise DicomReadError(
            f"{where} is a {modality} object, not RTDOSE; DVHs are stored in RT Dose files"
        )
    names: dict[int, str] = {}
    volumes: dict[int, float] = {}
    if structures is not None:
        for s in structures:
            names[s.number] = s.name
            if s.has_volume:
                volumes[s.number] = s.volume_cc
    out: dict[int, DVH] = {}
    for n, item in enumerate(getattr(ds, "DVHSequence", []) or []):
        label = f"{where}: DVHSequence item {n + 1}"
        refs = getattr(item, "DVHReferencedROISequence", None)
        if not refs or "ReferencedROINumber" not in refs[0]:
            warn(f"{label} names no ROI (DVHReferencedROISequence); skipped")
            continue
        roi = int(refs[0].ReferencedROINumber)
        try:
            h = _item_dvh(item, roi, names.get(roi, f"ROI {roi}"), volumes.get(roi), label)
        except ValueError as exc:
            warn(f"{label} (ROI {roi}): {exc}; skipped")
            continue
        if h is not None:
            out[roi] = h
    return out


def _item_dvh(
    item: Dataset, roi: int, name: str, structure_volume: float | None, label: str
) -> DVH | None:
    dvh_type = str(getattr(item, "DVHType", "CUMULATIVE")).upper()
    dose_units = str(getattr(item, "DoseUnits", "GY")).upper()
    vol_units = str(getattr(item, "DVHVolumeUnits", "CM3")).upper()
    scaling = float(getattr(item, "DVHDoseScaling", 1.0) or 1.0)
    data = np.asarray(getattr(item, "DVHData", []), dtype=np.float64)
    if data.size < 2 or data.size % 2:
        raise ValueError(f"DVHData holds {data.size} values (pairs of width and volume needed)")
    nbins = getattr(item, "DVHNumberOfBins", None)
    if nbins is not None and int(nbins) != data.size // 2:
        warn(
            f"{label}: DVHNumberOfBins {int(nbins)} but DVHData holds {data.size // 2} bins",
            stacklevel=4,
        )
    if dose_units == "GY":
        to_gy = 1.0
    elif dose_units == "CGY":
        to_gy = 0.01
    else:
        warn(
            f"{label} (ROI {roi}): DoseUnits {dose_units} (relative dose) not supported; skipped",
            stacklevel=4,
        )
        return None
    widths = data[0::2] * scaling * to_gy
    values = data[1::2]
    if np.any(widths <= 0):
        raise ValueError("DVHData has a bin width <= 0")
    edges = np.concatenate([[0.0], np.cumsum(widths)])
    if dvh_type == "CUMULATIVE":
        cum = np.concatenate([values, [0.0]])
        # cumulative volumes must not increase; tolerate rounding
        cum = np.minimum.accumulate(cum)
        diff = np.clip(cum[:-1] - cum[1:], 0.0, None)
        total = float(cum[0])
    elif dvh_type == "DIFFERENTIAL":
        # PER_U: volume per unit of DoseUnits; the bin width in DoseUnits is the stored
        # width times DVHDoseScaling
        diff = values * (widths / to_gy) if vol_units == "PER_U" else values.copy()
        total = float(diff.sum())
    else:
        raise ValueError(f"DVHType {dvh_type!r} is not CUMULATIVE or DIFFERENTIAL")
    if vol_units in ("CM3", "PER_U"):
        volume = total
    elif vol_units == "PERCENT":
        volume = structure_volume if structure_volume is not None else math.nan
    else:
        raise ValueError(f"DVHVolumeUnits {vol_units!r} not understood")
    if not np.any(diff > 0):
        diff = np.zeros_like(diff)
    kw: dict[str, float] = {}
    for key, attr in (
        ("min_gy", "DVHMinimumDose"),
        ("max_gy", "DVHMaximumDose"),
        ("mean_gy", "DVHMeanDose"),
    ):
        if attr in item and item[attr].value is not None:
            kw[key] = float(item[attr].value) * to_gy
    logger.debug("read %s DVH of ROI %d (%s), %d bins", dvh_type, roi, name, widths.size)
    return DVH(
        name=name,
        roi_number=roi,
        bin_edges_gy=edges,
        differential=diff,
        volume_cc=volume,
        source="RTDOSE",
        min_gy=kw.get("min_gy", math.nan),
        max_gy=kw.get("max_gy", math.nan),
        mean_gy=kw.get("mean_gy", math.nan),
    )
