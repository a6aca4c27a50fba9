"""Tissue classes: HU boundaries and the labelling of a CT (see :mod:`rtplan.tissue`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.errors import RtplanWarning
from rtplan.image import Image
from rtplan.tissue._calibration import CalibrationError, check_hu

__all__ = ["MetalWarning", "TissueClass", "TissueThresholds", "class_labels", "classify"]

FloatArray = npt.NDArray[np.float64]


class MetalWarning(RtplanWarning):
    """The CT holds voxels in the metal range (implants, fixation, dental fillings)."""


class TissueClass(enum.IntEnum):
    """Tissue classes of :func:`classify`; the values are the labels of its image."""

    AIR = 1
    LUNG = 2
    ADIPOSE = 3
    SOFT_TISSUE = 4
    CANCELLOUS_BONE = 5
    CORTICAL_BONE = 6
    METAL = 7

    @property
    def label(self) -> str:
        """Lower-case name used in reports (``"soft_tissue"``...)."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: TissueClass | str | int) -> TissueClass:
        """Normalise a class given as a member, its name (any case) or its label value."""
        if isinstance(value, TissueClass):
            return value
        if isinstance(value, str):
            key = value.strip().upper().replace(" ", "_")
            if key == "MUSCLE":
                return cls.SOFT_TISSUE
            try:
                return cls[key]
            except KeyError:
                raise CalibrationError(
                    f"unknown tissue class {value!r}; choose one of "
                    f"{', '.join(m.label for m in cls)}"
                ) from None
        return cls(int(value))


@dataclass(frozen=True, kw_only=True, slots=True)
class TissueThresholds:
    """Lower HU bound of each tissue class (a voxel takes the highest class it reaches).

    ===============  ==============================  =================================
    class            HU range (defaults)             source
    ===============  ==============================  =================================
    AIR              HU < -950
    LUNG             -950 <= HU < -190
    ADIPOSE          -190 <= HU < -29                [Mitsiopoulos1998]_
    SOFT_TISSUE      -29 <= HU < 150 (muscle)        [Mitsiopoulos1998]_
    CANCELLOUS_BONE  150 <= HU < 850                 [Misch1990]_ (D4-D3 bone)
    CORTICAL_BONE    850 <= HU < 3000                [Misch1990]_ (D2-D1 bone)
    METAL            HU >= 3000                      above the densest bone and the
                                                     top of [Schneider2000]_
    ===============  ==============================  =================================

    Parameters
    ----------
    lung_min_hu, adipose_min_hu, soft_tissue_min_hu, cancellous_bone_min_hu,
    cortical_bone_min_hu, metal_min_hu : float
        Class boundaries, HU, strictly increasing.

    Raises
    ------
    CalibrationError
        If the boundaries are not strictly increasing.

    Examples
    --------
    >>> t = TissueThresholds(metal_min_hu=2500.0)   # a scanner with an extended HU scale
    """

    lung_min_hu: float = -950.0
    adipose_min_hu: float = -190.0
    soft_tissue_min_hu: float = -29.0
    cancellous_bone_min_hu: float = 150.0
    cortical_bone_min_hu: float = 850.0
    metal_min_hu: float = 3000.0

    def __post_init__(self) -> None:
        b = self.bounds
        if not np.all(np.isfinite(b)) or np.any(np.diff(b) <= 0):
            raise CalibrationError(
                f"tissue thresholds must increase strictly from lung to metal, got {b.tolist()}"
            )

    @property
    def bounds(self) -> FloatArray:
        """The six boundaries, HU, in class order (lung ... metal)."""
        return np.array(
            [
                self.lung_min_hu,
                self.adipose_min_hu,
                self.soft_tissue_min_hu,
                self.cancellous_bone_min_hu,
                self.cortical_bone_min_hu,
                self.metal_min_hu,
            ],
            dtype=np.float64,
        )

    def range_of(self, tissue: TissueClass | str) -> tuple[float, float]:
        """``[low, high)`` HU range of a class (``-inf`` / ``inf`` at the ends)."""
        t = TissueClass.parse(tissue)
        edges = np.concatenate([[-np.inf], self.bounds, [np.inf]])
        return float(edges[t.value - 1]), float(edges[t.value])


def class_labels(hu: npt.NDArray[Any], thresholds: TissueThresholds) -> npt.NDArray[np.uint8]:
    """The :class:`TissueClass` value of every voxel, slice by slice (uint8)."""
    out = np.empty(hu.shape, dtype=np.uint8)
    bounds = thresholds.bounds
    for k in range(hu.shape[0]):
        out[k] = np.searchsorted(bounds, np.asarray(hu[k], np.float64), side="right") + 1
    return out


def classify(
    ct: Image, thresholds: TissueThresholds | None = None, *, warn_metal: bool = True
) -> Image:
    """Label every voxel with its :class:`TissueClass`.

    Parameters
    ----------
    ct : Image
        CT in HU.
    thresholds : TissueThresholds, optional
        HU boundaries; the documented defaults when omitted.
    warn_metal : bool
        Warn when metal voxels are found (default True).

    Returns
    -------
    Image
        uint8 labels (the :class:`TissueClass` values 1-7) on the CT grid, ``units="1"``.

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU.

    Warns
    -----
    MetalWarning
        When voxels reach the metal threshold: their number and volume are reported, and
        the dose near them should be reviewed (metal artefacts corrupt the HU nearby).

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import Grid, Image, tissue
    >>> g = Grid(shape=(1, 1, 4), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0))
    >>> ct = Image(array=np.array([[[-1000, -100, 40, 1200]]]), grid=g, units="HU")
    >>> [tissue.TissueClass(v).label for v in tissue.classify(ct).array.ravel()]
    ['air', 'adipose', 'soft_tissue', 'cortical_bone']
    """
    check_hu(ct, "classify()")
    t = TissueThresholds() if thresholds is None else thresholds
    labels = class_labels(ct.array, t)
    if warn_metal:
        n_metal = int(np.count_nonzero(labels == TissueClass.METAL))
        if n_metal:
            cc = n_metal * ct.grid.voxel_volume_mm3 / 1000.0
            warn(
                f"CT {ct.name!r}: {n_metal} voxels ({cc:.3g} cm³) at or above "
                f"{t.metal_min_hu:g} HU are classed as metal (implant or artefact); "
                "HU and densities near them are unreliable",
                MetalWarning,
            )
    return ct.with_array(labels, units="1", name="tissue classes")
