"""Last phases of the needle-path search: score the feasible paths, pick distinct ones.

* :func:`bone_near_target`: for targets in bone, the bone around the target whose cortex
  the needle should meet head-on (the ``cortex_incidence`` criterion);
* :func:`score_paths`: the soft criteria of :class:`rtplan.guidance.TrajectoryRanking`,
  term by term, and their weighted sum (lower is better);
* :func:`pick_distinct`: best first, entries at least ``min_separation_mm`` apart;
* :func:`build_trajectories`: the returned :class:`rtplan.guidance.Trajectory` objects,
  with the *exact* clearance of each (not the bound the search proved), the needle angles
  and the tissues along the path.

Cortex incidence: the angle between the needle and the normal of the bone surface where
the needle last enters bone before the target; 0° is perpendicular to the cortex (best:
the bevel bites, the needle does not skid), 90° is tangential. The normal is the gradient
of the signed distance map of bone (smoothed by a Gaussian of two voxels so that it
follows the surface, not the voxel staircase), taken where the needle crosses the bone
surface.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan import tissue
from rtplan.grid import Grid, IndexBox
from rtplan.guidance._candidates import (
    Candidates,
    SearchSpace,
    box_around,
    mask_of,
    relative_slices,
)
from rtplan.guidance._clearance import Avoided, exact_clearance_mm
from rtplan.guidance._criteria import TrajectoryConstraints, TrajectoryRanking
from rtplan.guidance._feasibility import SegmentCheck
from rtplan.guidance._orientation import needle_angles
from rtplan.guidance._trajectory import Trajectory
from rtplan.image import Image
from rtplan.structures import Structure

__all__ = [
    "BONE_WINDOW_MM",
    "BoneNearTarget",
    "Scores",
    "bone_near_target",
    "build_trajectories",
    "pick_distinct",
    "score_paths",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: Bone within this distance (mm, per axis) of the target is used for the cortex incidence.
BONE_WINDOW_MM = 60.0


# ============================================================================ bone target
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BoneNearTarget:
    """Bone around the target point(s), for the cortex incidence.

    Parameters
    ----------
    is_bone_target : bool
        Whether the target counts as in bone.
    mask : numpy.ndarray of bool or None
        Bone within :data:`BONE_WINDOW_MM` of the target point(s), on a box of ``R``;
        None when the incidence is not scored (no bone target, or no bone near it).
    offset_ijk : numpy.ndarray of int64, shape (3,)
        Index ``(i, j, k)`` in ``R`` of the first voxel of ``mask``.
    """

    is_bone_target: bool
    mask: BoolArray | None
    offset_ijk: IntArray


def bone_near_target(
    space: SearchSpace, bone: Structure | Image | None, bone_target: bool | None
) -> BoneNearTarget:
    """Whether the target is in bone, and the bone near it.

    Parameters
    ----------
    space : SearchSpace
    bone : Structure or Image, optional
        The bone; the automatic bone of :func:`rtplan.tissue.bone_mask` (marrow cavity
        filled) inside the body when omitted.
    bone_target : bool, optional
        Force the answer; by default, True when the first target point lies in bone.

    Returns
    -------
    BoneNearTarget
    """
    none = np.zeros(3, dtype=np.int64)
    if bone_target is False:
        return BoneNearTarget(is_bone_target=False, mask=None, offset_ijk=none)
    grid = space.grid
    near = box_around(grid, grid.mm_to_index(space.targets_mm), BONE_WINDOW_MM)
    lo = np.maximum(near.lower, space.region.lower)
    hi = np.minimum(near.upper, space.region.upper)
    near = IndexBox((int(lo[0]), int(lo[1]), int(lo[2])), (int(hi[0]), int(hi[1]), int(hi[2])))
    offset_kji = np.asarray(near.lower, dtype=np.int64) - np.asarray(space.region.lower)
    body_near = space.body[relative_slices(near, space.region)]
    if bone is not None:
        bone_near = mask_of(bone, grid, "bone")[near.slices] & body_near
    else:
        bone_near = tissue.bone_mask(space.ct.crop_to(near), body_near) & body_near
    t = np.rint(space.targets_r[0]).astype(np.int64) - offset_kji[::-1]
    is_bone = True if bone_target else bool(bone_near[t[2], t[1], t[0]])
    mask = bone_near if is_bone and bone_near.any() else None
    return BoneNearTarget(is_bone_target=is_bone, mask=mask, offset_ijk=offset_kji[::-1].copy())


# ============================================================================ scores
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Scores:
    """Soft criteria and score of every candidate path.

    Parameters
    ----------
    terms : dict of str to numpy.ndarray, shape (N,)
        Each criterion in [0, 1] before weighting: ``length``, ``clearance:<name>`` per
        avoided item present near the target, ``clearance`` (their mean),
        ``out_of_plane``, and ``cortex_incidence`` when scored.
    score : numpy.ndarray, shape (N,)
        Weighted sum (lower is better); NaN for infeasible paths.
    in_plane_deg, out_of_plane_deg : numpy.ndarray, shape (N,)
        Needle angles (see :func:`rtplan.guidance.needle_angles`).
    """

    terms: dict[str, FloatArray]
    score: FloatArray
    in_plane_deg: FloatArray
    out_of_plane_deg: FloatArray


def score_paths(
    space: SearchSpace,
    candidates: Candidates,
    check: SegmentCheck,
    avoided: Sequence[Avoided],
    *,
    constraints: TrajectoryConstraints,
    ranking: TrajectoryRanking,
    incidence: bool,
) -> Scores:
    """The soft criteria of each path and their weighted sum.

    Parameters
    ----------
    space : SearchSpace
    candidates : Candidates
        The paths (entries after the tilt limit).
    check : SegmentCheck
        Verdicts, distance bounds and cortex incidences of the segment test.
    avoided : sequence of Avoided
        The avoided items; those absent near the target earn no clearance term.
    constraints : TrajectoryConstraints
        The longest needle (the length term is the length over it).
    ranking : TrajectoryRanking
        Weights and saturation distance.
    incidence : bool
        Whether the cortex incidence is scored.

    Returns
    -------
    Scores
    """
    grid = space.grid
    vec_mm = (candidates.ends - candidates.starts) * grid.spacing_ijk_mm
    lengths = np.linalg.norm(vec_mm, axis=1)
    directions = vec_mm / np.where(lengths > 0, lengths, 1.0)[:, np.newaxis]
    in_plane, out_plane = needle_angles(directions @ grid.direction.T, space.ct.patient_position)
    terms: dict[str, FloatArray] = {"length": lengths / constraints.max_length_mm}
    clear_terms = []
    for a, av in enumerate(avoided):
        if not av.mask_r.any():
            continue
        d = np.sqrt(np.maximum(check.min_d2[:, a], 0.0))
        term = np.clip(1.0 - (d - av.required_mm) / ranking.saturation_mm, 0.0, 1.0)
        terms[f"clearance:{av.name}"] = term
        clear_terms.append(term)
    terms["clearance"] = np.mean(clear_terms, axis=0) if clear_terms else np.zeros(candidates.n)
    terms["out_of_plane"] = np.abs(out_plane) / 90.0
    weighted = ["length", "clearance", "out_of_plane"]
    if incidence:
        inc = check.incidence_deg
        terms["cortex_incidence"] = np.where(np.isnan(inc), 1.0, inc / 90.0)
        weighted.append("cortex_incidence")
    score = np.zeros(candidates.n)
    for k in weighted:
        score += ranking.weight[k] * terms[k]
    score[~check.feasible] = np.nan
    return Scores(terms=terms, score=score, in_plane_deg=in_plane, out_of_plane_deg=out_plane)


# ============================================================================ selection
def pick_distinct(
    score: FloatArray,
    feasible: BoolArray,
    starts_mm: FloatArray,
    target_index: IntArray,
    *,
    n_best: int,
    min_separation_mm: float,
) -> list[int]:
    """Greedy best-first selection with a minimum entry separation per target point.

    Parameters
    ----------
    score : numpy.ndarray, shape (N,)
        Lower is better; ties keep the candidates' order.
    feasible : numpy.ndarray of bool, shape (N,)
    starts_mm : numpy.ndarray, shape (N, 3)
        Entries in any orthonormal mm frame.
    target_index : numpy.ndarray of int, shape (N,)
    n_best : int
    min_separation_mm : float

    Returns
    -------
    list of int
        Indices of the chosen candidates, best first.
    """
    idx = np.flatnonzero(feasible)
    order = idx[np.argsort(score[idx], kind="stable")]
    chosen: list[int] = []
    for c in order:
        if len(chosen) >= n_best:
            break
        if all(
            target_index[p] != target_index[c]
            or float(np.linalg.norm(starts_mm[p] - starts_mm[c])) >= min_separation_mm
            for p in chosen
        ):
            chosen.append(int(c))
    return chosen


def _tissue_fractions(
    ct: Image, entry: FloatArray, target: FloatArray, step: float
) -> dict[str, float]:
    """Share of the path length in each tissue class (classified from trilinear HU)."""
    length = float(np.linalg.norm(target - entry))
    n = max(2, math.ceil(length / step) + 1)
    # midpoints of n equal pieces: each stands for the same length
    t = (np.arange(n) + 0.5) / n
    pts = entry + t[:, np.newaxis] * (target - entry)
    # sample a crop around the segment: Image.sample converts the whole array to float
    grid = ct.grid
    ijk = grid.mm_to_index(np.stack([entry, target]))
    n_img = np.asarray(grid.shape_ijk, dtype=np.int64)
    lo = np.clip(np.floor(ijk.min(axis=0)).astype(np.int64) - 1, 0, n_img)
    hi = np.clip(np.ceil(ijk.max(axis=0)).astype(np.int64) + 2, 0, n_img)
    box = IndexBox((int(lo[2]), int(lo[1]), int(lo[0])), (int(hi[2]), int(hi[1]), int(hi[0])))
    hu = ct.crop_to(box).sample(pts, order=1, fill_value=-1000.0)
    tiny = Grid(shape=(1, 1, n), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    labels = tissue.classify(
        Image(array=hu.reshape(1, 1, n), grid=tiny, units="HU"), warn_metal=False
    ).array.ravel()
    counts = np.bincount(labels, minlength=len(tissue.TissueClass) + 1)
    return {c.label: float(counts[c.value]) / n for c in tissue.TissueClass}


def build_trajectories(
    space: SearchSpace,
    candidates: Candidates,
    chosen: Sequence[int],
    *,
    check: SegmentCheck,
    scores: Scores,
    avoided: Sequence[Avoided],
    constraints: TrajectoryConstraints,
) -> list[Trajectory]:
    """The chosen paths as :class:`~rtplan.guidance.Trajectory`, ranked in the given order.

    Each clearance reported is the exact distance to the item's voxel centres (on the
    whole CT grid when the item is a structure or image), minus the voxel extent when
    voxels count as boxes.

    Parameters
    ----------
    space : SearchSpace
    candidates : Candidates
    chosen : sequence of int
        Candidate indices, best first.
    check : SegmentCheck
    scores : Scores
    avoided : sequence of Avoided
    constraints : TrajectoryConstraints

    Returns
    -------
    list of Trajectory
    """
    grid = space.grid
    extent = constraints.extent_mm(grid)
    diagonal = float(np.linalg.norm(grid.spacing_ijk_mm))
    step = constraints.step_for(grid)
    entries_mm = space.to_mm(candidates.starts[list(chosen)])
    tight = [av.tight(space) for av in avoided]
    required = {av.name: av.required_mm - extent for av in avoided}
    out = []
    for rank, (c, e_mm) in enumerate(zip(chosen, entries_mm, strict=True), start=1):
        tgt = space.targets_mm[candidates.target_index[c]]
        clearance: dict[str, float] = {}
        for a, av in enumerate(avoided):
            hint = math.sqrt(max(float(check.min_d2[c, a]), 0.0)) + diagonal
            box = tight[a]
            dist = math.inf
            if box is not None:
                hint = hint if math.isfinite(hint) else 0.0
                dist = exact_clearance_mm(box[0], box[1], e_mm, tgt, hint_mm=hint)
            clearance[av.name] = dist - extent
        inc = float(check.incidence_deg[c])
        out.append(
            Trajectory(
                entry_mm=e_mm,
                target_mm=tgt,
                clearance_mm=clearance,
                required_clearance_mm=required,
                in_plane_deg=float(scores.in_plane_deg[c]),
                out_of_plane_deg=float(scores.out_of_plane_deg[c]),
                tissue_fraction=_tissue_fractions(space.ct, e_mm, tgt, step),
                cortex_incidence_deg=None
                if "cortex_incidence" not in scores.terms or math.isnan(inc)
                else inc,
                score=float(scores.score[c]),
                score_terms={k: float(v[c]) for k, v in scores.terms.items()},
                rank=rank,
                target_name=space.target_name,
            )
        )
    return out
