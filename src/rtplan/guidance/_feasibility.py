"""Second phase of the needle-path search: the hard constraints, cheapest first.

1. :func:`apply_path_constraints`: the entry region, the approach side, the gantry tilt
   (an entry may move within its slice thickness to meet it) and the needle length, from
   the two ends of each path alone;
2. :func:`check_segments`: along each remaining path, sampled every ``step_mm``, the path
   must stay inside the body and keep its clearance to every avoided item; the clearance
   is accepted only where a *proven lower bound* of the distance along the whole segment
   reaches it (see :mod:`rtplan.guidance._search_kernels`), so no returned path comes
   closer to an avoided voxel centre than asked, exactly. The same pass measures, for
   targets in bone, the needle's incidence on the cortex.

The first constraint a path fails is its verdict (:func:`rtplan.guidance._criteria.reason_strings`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from rtplan.guidance import _search_kernels
from rtplan.guidance._candidates import Candidates, SearchSpace, mask_of
from rtplan.guidance._clearance import DistanceMaps
from rtplan.guidance._criteria import (
    APPROACH,
    OUTSIDE_ENTRY_REGION,
    TILT,
    TOO_LONG,
    TrajectoryConstraints,
)

__all__ = ["SegmentCheck", "apply_path_constraints", "check_segments"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _apply_tilt(
    space: SearchSpace, starts: FloatArray, ends: FloatArray, max_tilt_deg: float
) -> tuple[FloatArray, BoolArray]:
    """Move entries along the slice normal (at most half a slice) to meet a tilt limit."""
    grid = space.grid
    sp = grid.spacing_ijk_mm
    normal = grid.slice_normal
    aligned = abs(abs(float(normal[2])) - 1.0) < 1e-6
    tan_max = math.tan(math.radians(max_tilt_deg)) if max_tilt_deg < 90 else math.inf
    s_mm = space.to_mm(starts)
    e_mm = space.to_mm(ends)
    dz = e_mm[:, 2] - s_mm[:, 2]
    r = np.linalg.norm((e_mm - s_mm)[:, :2], axis=1)
    allowed = r * tan_max
    if not aligned:
        return starts, np.asarray(np.abs(dz) <= allowed + 1e-9)
    # new entry z in [target_z - allowed, target_z + allowed], within half a slice
    z_new = np.clip(s_mm[:, 2], e_mm[:, 2] - allowed, e_mm[:, 2] + allowed)
    shift = z_new - s_mm[:, 2]
    ok = np.abs(shift) <= 0.5 * sp[2] + 1e-9
    moved = starts.copy()
    moved[ok, 2] += shift[ok] / (sp[2] * float(normal[2]))
    return moved, ok


def apply_path_constraints(
    space: SearchSpace, candidates: Candidates, constraints: TrajectoryConstraints
) -> Candidates:
    """Entry region, approach side, tilt and length, in this order.

    Parameters
    ----------
    space : SearchSpace
    candidates : Candidates
        All untested (codes 0).
    constraints : TrajectoryConstraints

    Returns
    -------
    Candidates
        With the entries moved by the tilt limit and the codes of the first constraint
        each path fails (0 where it passes all four).
    """
    starts, ends = candidates.starts, candidates.ends
    codes = candidates.codes.copy()
    if constraints.entry_region is not None:
        region = mask_of(constraints.entry_region, space.grid, "entry region")
        e_vox = np.rint(starts).astype(np.int64)
        ok = region[space.region.slices][e_vox[:, 2], e_vox[:, 1], e_vox[:, 0]]
        codes[~ok] = OUTSIDE_ENTRY_REGION
    if constraints.sides:
        # the entry on the given side(s) of its target point
        offset = space.to_mm(starts) - space.targets_mm[candidates.target_index]
        ok = np.ones(candidates.n, dtype=bool)
        for side in constraints.sides:
            ok &= offset @ np.asarray(side.direction) > 0.0
        codes[(codes == 0) & ~ok] = APPROACH
    if constraints.max_tilt_deg is not None:
        starts, tilt_ok = _apply_tilt(space, starts, ends, constraints.max_tilt_deg)
        codes[(codes == 0) & ~tilt_ok] = TILT
    lengths = np.linalg.norm((ends - starts) * space.grid.spacing_ijk_mm, axis=1)
    codes[(codes == 0) & (lengths > constraints.max_length_mm)] = TOO_LONG
    codes[(codes == 0) & (lengths <= 0)] = TOO_LONG
    return replace(candidates, starts=starts, codes=codes)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SegmentCheck:
    """What the compiled segment test found for each candidate path.

    Parameters
    ----------
    codes : numpy.ndarray of int64, shape (N,)
        Final verdict codes (0 feasible).
    min_d2 : numpy.ndarray, shape (N, A)
        Smallest proven lower bound of the squared distance to each avoided item, mm²
        (valid for feasible paths).
    incidence_deg : numpy.ndarray, shape (N,)
        Angle to the cortex normal where the path enters bone; NaN where not measured.
    """

    codes: npt.NDArray[np.int64]
    min_d2: FloatArray
    incidence_deg: FloatArray

    @property
    def feasible(self) -> BoolArray:
        """True for the paths that pass every hard constraint."""
        return np.asarray(self.codes == _search_kernels.CODE_FEASIBLE)


def check_segments(
    space: SearchSpace,
    candidates: Candidates,
    maps: DistanceMaps,
    *,
    step_mm: float,
    saturation_mm: float,
) -> SegmentCheck:
    """Body and clearance along each path still feasible, by the compiled segment test.

    Parameters
    ----------
    space : SearchSpace
    candidates : Candidates
        After :func:`apply_path_constraints` (paths with a code are not tested).
    maps : DistanceMaps
        The squared-distance maps (and the bone maps for the cortex incidence).
    step_mm : float
        Sampling step, mm (at most half the smallest voxel size).
    saturation_mm : float
        The score's saturation distance: beyond the clearance plus it (plus two voxel
        half-diagonals) a map is skipped (see :mod:`rtplan.guidance._search_kernels`).

    Returns
    -------
    SegmentCheck
    """
    sp = np.ascontiguousarray(space.grid.spacing_ijk_mm)
    n_constraints = maps.n_constraints
    # samples proven farther than clearance + saturation (+ 2 half-diagonals) need no lookup
    r_half = 0.5 * float(np.linalg.norm(sp))
    skip_mm = np.full(maps.start.shape[0], np.inf)
    for a in range(n_constraints):
        c_sat = math.sqrt(max(float(maps.req2[a]), 0.0)) + saturation_mm
        skip_mm[a] = max(c_sat, r_half) + 2.0 * r_half
    codes = candidates.codes.copy()
    min_d2 = np.empty((candidates.n, n_constraints), dtype=np.float64)
    incidence = np.empty(candidates.n, dtype=np.float64)
    _search_kernels.search_segments(
        np.ascontiguousarray(candidates.starts),
        np.ascontiguousarray(candidates.ends),
        sp,
        step_mm,
        np.ascontiguousarray(space.body, dtype=np.uint8),
        float(sp.max()),
        maps.maps,
        maps.start,
        maps.shape,
        maps.offset,
        maps.sat2,
        maps.req2,
        skip_mm,
        n_constraints,
        maps.bone_map,
        maps.normal_map,
        codes,
        min_d2,
        incidence,
    )
    return SegmentCheck(codes=codes, min_d2=min_d2, incidence_deg=incidence)
