"""The overlap-volume histogram (OVH) of an organ with respect to a target.

Kazhdan et al., "A shape relationship descriptor for radiation therapy planning", MICCAI
2009, and Wu et al., Med. Phys. 36 (2009) 5497: ``OVH(r)`` is the percentage of the
organ's volume within signed distance ``r`` of the target (negative inside the target).
Here the distance of a voxel is the smallest isotropic margin of :func:`expand` whose
expansion of the target takes it in (or, inside the target, the largest contraction that
keeps it), so that exactly ``OVH(r) = |organ ∩ expand(target, r)| / |organ|``: the curve
answers "how much of the organ would a margin of r mm hit?".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan.errors import StructureError
from rtplan.geometry import _lattice as lat
from rtplan.geometry._margins import LATTICE_GAP_FACTOR
from rtplan.geometry._morphology import DIST_EPS_MM, distance_to_set
from rtplan.grid import Grid

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = ["OverlapVolumeHistogram", "margin_for_distance", "ovh"]

FloatArray = npt.NDArray[np.float64]


def margin_for_distance(distance_mm: npt.ArrayLike, grid: Grid) -> FloatArray:
    """Smallest isotropic margin whose expansion reaches voxel centres ``distance_mm`` away.

    Inverts the threshold ``r + min(c sqrt(V / r), h_min / 2)`` used by
    :func:`~rtplan.geometry.expand` (see :func:`~rtplan.geometry._margins.subvoxel_slack`).

    Parameters
    ----------
    distance_mm : array_like
        Centre-to-centre distances, mm, >= 0.
    grid : Grid
        Supplies the voxel volume ``V`` and finest spacing ``h_min``.

    Returns
    -------
    numpy.ndarray of float64, same shape
    """
    d = np.asarray(distance_mm, dtype=np.float64)
    v = grid.voxel_volume_mm3
    half = 0.5 * min(grid.spacing_mm)

    def threshold(r: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore"):
            slack = np.minimum(LATTICE_GAP_FACTOR * np.sqrt(v / np.maximum(r, 1e-300)), half)
        return np.asarray(r + slack + DIST_EPS_MM, dtype=np.float64)

    lo = np.zeros_like(d)
    hi = np.maximum(d, 0.0)
    for _ in range(60):  # bisection on the increasing threshold
        mid = 0.5 * (lo + hi)
        reach = threshold(mid) >= d
        hi = np.where(reach, mid, hi)
        lo = np.where(reach, lo, mid)
    return np.asarray(np.where(d <= 0, 0.0, hi), dtype=np.float64)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class OverlapVolumeHistogram:
    """An overlap-volume histogram: organ volume within each signed distance of a target.

    Attributes
    ----------
    organ, target : str
        Structure names.
    organ_volume_cc : float
        Organ volume, cm³ (on the grid used).
    distances_mm : numpy.ndarray, shape (n,)
        Increasing signed distances (negative inside the target), mm.
    percent : numpy.ndarray, shape (n,)
        Percentage of the organ volume at signed distance <= ``distances_mm[i]``;
        non-decreasing, last value 100.
    """

    organ: str
    target: str
    organ_volume_cc: float
    distances_mm: FloatArray
    percent: FloatArray

    def volume_percent_at(self, distance_mm: npt.ArrayLike) -> FloatArray:
        """Percentage of the organ within signed distance ``distance_mm`` of the target.

        Parameters
        ----------
        distance_mm : array_like
            mm (negative inside the target).

        Returns
        -------
        numpy.ndarray of float64, same shape
        """
        r = np.asarray(distance_mm, dtype=np.float64)
        i = np.searchsorted(self.distances_mm, r, side="right")
        table = np.concatenate([[0.0], self.percent])
        return np.asarray(table[i], dtype=np.float64)

    def distance_at(self, percent: float) -> float:
        """Smallest signed distance (mm) within which ``percent`` of the organ lies.

        Parameters
        ----------
        percent : float
            In (0, 100].

        Returns
        -------
        float
        """
        p = float(np.clip(percent, 0.0, 100.0))
        i = int(np.searchsorted(self.percent, p - 1e-9, side="left"))
        return float(self.distances_mm[min(i, len(self.distances_mm) - 1)])

    @property
    def overlap_percent(self) -> float:
        """Percentage of the organ inside the target (``OVH(0)``)."""
        return float(self.volume_percent_at(0.0))

    @property
    def min_distance_mm(self) -> float:
        """Signed distance of the organ voxel nearest the target (first point), mm."""
        return float(self.distances_mm[0])

    def __repr__(self) -> str:
        return (
            f"OverlapVolumeHistogram(organ={self.organ!r}, target={self.target!r}, "
            f"organ_volume_cc={self.organ_volume_cc:.4g}, overlap {self.overlap_percent:.1f} %, "
            f"distances {self.distances_mm[0]:.1f} to {self.distances_mm[-1]:.1f} mm, "
            f"{len(self.distances_mm)} points)"
        )


def ovh(organ: Structure, target: Structure, *, grid: Grid | None = None) -> OverlapVolumeHistogram:
    """Overlap-volume histogram of ``organ`` with respect to ``target``.

    Parameters
    ----------
    organ : Structure
        The organ at risk.
    target : Structure
        The target (PTV).
    grid : Grid, optional
        Grid to compute on; the organ's (or the target's) by default.

    Returns
    -------
    OverlapVolumeHistogram
        ``percent`` is non-decreasing and reaches 100 at the organ voxel farthest from
        the target.

    Raises
    ------
    StructureError
        If either structure is empty.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.data import get_path
    >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
    >>> h = rtplan.geometry.ovh(rois["Femur"], rois["PTV"])
    >>> round(float(h.volume_percent_at(5.0)))  # % of the femur within 5 mm of the PTV
    28
    """
    lattice = lat.working_lattice(organ, target, grid=grid)
    bo = lat.index_bounds(organ, lattice)
    bt = lat.index_bounds(target, lattice)
    if bo is None or bt is None:
        empty = organ.name if bo is None else target.name
        raise StructureError(f"structure {empty!r} is empty: no overlap-volume histogram")
    box = lat.lattice_box(lattice, np.minimum(bo[0], bt[0]) - 1, np.maximum(bo[1], bt[1]) + 1)
    mo = lat.mask_on(organ, box)
    mt = lat.mask_on(target, box)
    if not mo.any():
        raise StructureError(f"structure {organ.name!r} covers no voxel centre on its grid")
    if not mt.any():
        raise StructureError(f"structure {target.name!r} covers no voxel centre on its grid")
    sp = box.spacing_mm
    signed = np.empty(int(np.count_nonzero(mo)), dtype=np.float64)
    outside = mo & ~mt
    inside = mo & mt
    order_out = outside[mo]
    if outside.any():
        d_out = distance_to_set(mt, sp)
        signed[order_out] = d_out[outside]
    if inside.any():
        # distance to the nearest voxel outside the target, on the target's box only
        lo_t, hi_t = bt[0] - 1, bt[1] + 1
        tbox = lat.lattice_box(lattice, lo_t, hi_t)
        mt_t = lat.mask_on(target, tbox)
        d_in_t = distance_to_set(~mt_t, sp)
        off = (lo_t - (np.minimum(bo[0], bt[0]) - 1))[::-1]  # tbox origin in box, (k, j, i)
        d_in = np.zeros(box.shape)
        sl = tuple(slice(int(o), int(o) + n) for o, n in zip(off, tbox.shape, strict=True))
        d_in[sl] = d_in_t
        signed[~order_out] = -d_in[inside]
    # distances -> the margins that reach them (outside) or keep them (inside)
    # distinct distances to the micrometre, counted in O(n)
    keys = np.rint(signed * 1000.0).astype(np.int64)
    kmin = int(keys.min())
    counts_all = np.bincount(keys - kmin)
    present = np.flatnonzero(counts_all)
    counts = counts_all[present]
    raw = (present + kmin) / 1000.0
    values = np.sign(raw) * margin_for_distance(np.abs(raw), lattice)
    percent = 100.0 * np.cumsum(counts) / counts.sum()
    percent[-1] = 100.0
    return OverlapVolumeHistogram(
        organ=organ.name,
        target=target.name,
        organ_volume_cc=float(np.count_nonzero(mo) * lattice.voxel_volume_mm3 / 1000.0),
        distances_mm=values,
        percent=percent,
    )
