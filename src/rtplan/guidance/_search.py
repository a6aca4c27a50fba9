"""Straight needle trajectories from the skin to a target, ranked: :func:`plan_trajectory`.

The search runs in phases, each in its own module and testable on its own:

1. **Candidates** (:mod:`rtplan.guidance._candidates`): the target point(s), the search
   region, and every skin voxel within ``max_length_mm`` of a target point, paired with it.
2. **Hard constraints** (:mod:`rtplan.guidance._feasibility`), in this order: entry region,
   approach side, gantry tilt, length; then, along each path, the body and the clearance
   to every avoided structure or tissue class (:mod:`rtplan.guidance._clearance`).
3. **Scoring** (:mod:`rtplan.guidance._ranking`): length, clearance to each avoided
   structure, out-of-plane angle, and for targets in bone the incidence angle on the
   cortex, weighted into one score (lower is better) and reported term by term.
4. **Ranking**: the best paths, entries at least ``min_separation_mm`` apart, with their
   exact clearances.

What is asked of the paths lives in :class:`~rtplan.guidance.TrajectoryConstraints` and
:class:`~rtplan.guidance.TrajectoryRanking`.

Clearance guarantee
-------------------
Each avoided structure or tissue class is taken as its voxel mask on the CT grid (voxel
centres inside, as :meth:`rtplan.Structure.mask` rasterises it). The clearance of a path
is the smallest distance from the segment *entry -> target* to a voxel centre of that
mask. The search samples the exact Euclidean distance map
(:func:`rtplan.geometry.distance_map`, spacing in mm) every ``step_mm`` (at most half the
smallest voxel size) and accepts a path only if a *proven lower bound* of the distance
along the whole segment reaches the clearance asked: trilinear interpolation of the
squared distance minus its interpolation variance (``sum_a h_a² t_a (1 - t_a)``, at most a
quarter of the squared voxel diagonal: the conservative half-voxel bound) at each sample,
and minus ``step² / 4`` between samples (see :mod:`rtplan.guidance._search_kernels`).
Hence **no returned trajectory comes closer to a voxel of an avoided mask than the
clearance asked**, exactly, with no tolerance. With ``voxel_extent=True`` each voxel counts
as its whole box instead of its centre: the clearance asked is raised by half the voxel
diagonal, which makes the same statement true for the boxes.

The bound costs little: every candidate whose exact clearance exceeds the one asked by
two voxel half-diagonals is accepted (tested). Distance maps are computed on each
structure's bounding box padded by its clearance plus ``saturation_mm``; beyond that the
distance only enters the score, which saturates there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any, TypedDict, Unpack

import numpy.typing as npt

from rtplan.errors import TrajectoryError
from rtplan.guidance._candidates import candidate_paths, search_space, target_points
from rtplan.guidance._clearance import (
    AvoidItem,
    check_targets_clear,
    distance_maps,
    resolve_avoided,
    with_bone_maps,
)
from rtplan.guidance._criteria import TrajectoryConstraints, TrajectoryRanking, reason_strings
from rtplan.guidance._feasibility import apply_path_constraints, check_segments
from rtplan.guidance._ranking import (
    bone_near_target,
    build_trajectories,
    pick_distinct,
    score_paths,
)
from rtplan.guidance._trajectory import AccessibilityMap, TrajectoryResult
from rtplan.image import Image
from rtplan.structures import Structure

__all__ = ["TrajectorySettings", "plan_trajectory"]

logger = logging.getLogger(__name__)


class TrajectorySettings(TypedDict, total=False):
    """The fields of :class:`TrajectoryConstraints` and :class:`TrajectoryRanking` as keywords."""

    clearance_mm: float | Mapping[str, float]
    max_length_mm: float
    approach: str | Sequence[str] | None
    max_tilt_deg: float | None
    entry_region: Structure | Image | None
    voxel_extent: bool
    step_mm: float | None
    weights: Mapping[str, float] | None
    saturation_mm: float
    n_best: int
    min_separation_mm: float


_CONSTRAINT_FIELDS = frozenset(f.name for f in fields(TrajectoryConstraints))
_RANKING_FIELDS = frozenset(f.name for f in fields(TrajectoryRanking))


def _criteria(
    constraints: TrajectoryConstraints | None,
    ranking: TrajectoryRanking | None,
    settings: Mapping[str, Any],
) -> tuple[TrajectoryConstraints, TrajectoryRanking]:
    """The criteria objects with the keyword settings applied over them."""
    unknown = sorted(set(settings) - _CONSTRAINT_FIELDS - _RANKING_FIELDS)
    if unknown:
        raise TypeError(f"plan_trajectory() got unexpected keyword argument(s) {unknown}")
    c = constraints if constraints is not None else TrajectoryConstraints()
    r = ranking if ranking is not None else TrajectoryRanking()
    c_set = {k: v for k, v in settings.items() if k in _CONSTRAINT_FIELDS}
    r_set = {k: v for k, v in settings.items() if k in _RANKING_FIELDS}
    return (replace(c, **c_set) if c_set else c), (replace(r, **r_set) if r_set else r)


def plan_trajectory(
    ct: Image,
    target: Structure | npt.ArrayLike,
    *,
    avoid: Sequence[AvoidItem] = (),
    body: Structure | Image | None = None,
    bone: Structure | Image | None = None,
    bone_target: bool | None = None,
    target_mm: npt.ArrayLike | None = None,
    constraints: TrajectoryConstraints | None = None,
    ranking: TrajectoryRanking | None = None,
    **settings: Unpack[TrajectorySettings],
) -> TrajectoryResult:
    """Search straight needle paths from the skin to a target, and rank them.

    Every body-surface voxel within ``max_length_mm`` of a target point is a candidate
    entry; the hard constraints (:class:`TrajectoryConstraints`) reject candidates, the
    soft criteria (:class:`TrajectoryRanking`) score the others, and the best distinct
    paths are returned.

    Parameters
    ----------
    ct : Image
        CT in HU (its Patient Position sets the in-plane angle's vertical; HFS if unknown).
    target : Structure or array_like, shape (3,) or (N, 3)
        The target structure (aimed at its centroid, or its deepest voxel when the
        centroid falls outside it), or target point(s) in LPS mm.
    avoid : sequence of Structure, Image or str
        Structures (organs, canal, neurovascular bundles), boolean mask images on any
        grid, or tissue classes inside the body: ``"bone"`` (the automatic bone of
        :func:`rtplan.tissue.bone_mask`, marrow included) or a
        :class:`rtplan.tissue.TissueClass` name (``"cortical_bone"``, ``"lung"``...).
    body : Structure or Image, optional
        The body outline (EXTERNAL); the automatic outline from HU when omitted.
    bone : Structure or Image, optional
        Bone used for the cortex incidence angle of bone targets; the automatic bone of
        :func:`rtplan.tissue.bone_mask` when omitted. Only the bone within 60 mm (per
        axis) of the target point(s) is used.
    bone_target : bool, optional
        Whether the target is in bone; by default, True when the first target point lies
        in ``bone`` (a lytic lesion inside the cortex counts: the automatic bone fills
        the marrow cavity).
    target_mm : array_like, shape (3,) or (N, 3), optional
        Target point(s) overriding the structure's centroid.
    constraints : TrajectoryConstraints, optional
        The hard constraints; the defaults of :class:`TrajectoryConstraints` (5 mm
        clearance, 150 mm needle) when omitted.
    ranking : TrajectoryRanking, optional
        Score weights and how many paths to return; the defaults of
        :class:`TrajectoryRanking` when omitted.
    **settings
        Any field of :class:`TrajectoryConstraints` (``clearance_mm``, ``max_length_mm``,
        ``approach``, ``max_tilt_deg``, ``entry_region``, ``voxel_extent``, ``step_mm``)
        or :class:`TrajectoryRanking` (``weights``, ``saturation_mm``, ``n_best``,
        ``min_separation_mm``), as a keyword; it replaces that field of ``constraints``
        or ``ranking``.

    Returns
    -------
    TrajectoryResult
        Sequence of :class:`Trajectory`, best first, plus the accessibility map.

    Raises
    ------
    GeometryError
        If a setting is out of range or a target point lies outside the CT or the body.
    StructureError
        If a structure is empty, listed twice, or lacks a clearance.
    TrajectoryError
        If a target point is closer to an avoided structure than its clearance, or no
        candidate path is feasible (the message gives the count of rejections per reason).
    TypeError
        If a keyword is neither a parameter nor a setting.

    Notes
    -----
    Clearance guarantee: each avoided item is taken as its voxel mask on the CT grid, and
    the clearance of a path is the smallest distance from the segment *entry -> target* to
    a voxel centre of that mask. A path is accepted only if a proven lower bound of that
    distance along the whole segment (from the exact Euclidean distance map, sampled at
    most every half voxel, with the interpolation and sampling errors bounded) reaches the
    clearance asked, so **no returned path comes closer to an avoided voxel centre than
    asked**, exactly; with ``voxel_extent=True`` the same holds for the voxels' boxes.
    Every candidate whose exact clearance exceeds the one asked by two voxel
    half-diagonals is accepted. The clearances reported are exact.

    Cortex incidence (targets in bone): the angle between the needle and the normal of the
    bone surface where the needle last enters bone; 0° is perpendicular to the cortex.

    Examples
    --------
    A transpedicular biopsy of the sample spine metastasis, prone, from behind:

    >>> import rtplan
    >>> spine = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    >>> s = spine.structures
    >>> paths = rtplan.plan_trajectory(
    ...     spine.ct,
    ...     target=s["GTV"],
    ...     avoid=[s["SpinalCanal"], s["Kidney_L"], s["Kidney_R"]],
    ...     clearance_mm=3.0,
    ...     max_length_mm=150.0,
    ...     approach="posterior",
    ... )
    >>> best = paths[0]
    >>> bool(best.length_mm <= 150.0 and best.clearance_mm["SpinalCanal"] >= 3.0)
    True
    >>> bool(best.entry_mm[1] > best.target_mm[1])  # the entry lies posterior (+y)
    True
    """
    constraints, ranking = _criteria(constraints, ranking, settings)
    grid = ct.grid
    step = constraints.step_for(grid)
    targets, target_name = target_points(ct, target, target_mm)
    space = search_space(
        ct,
        targets,
        target_name,
        constraints=constraints,
        ranking=ranking,
        body=body,
        body_everywhere=any(isinstance(a, str) for a in avoid),
    )
    avoided = resolve_avoided(space, avoid, constraints)
    candidates = candidate_paths(space, constraints.max_length_mm)
    candidates = apply_path_constraints(space, candidates, constraints)
    check_targets_clear(space, avoided)
    maps = distance_maps(avoided, space)
    bone_near = bone_near_target(space, bone, bone_target)
    if bone_near.mask is not None:
        maps = with_bone_maps(maps, bone_near.mask, bone_near.offset_ijk, grid.spacing_ijk_mm)
    check = check_segments(
        space, candidates, maps, step_mm=step, saturation_mm=ranking.saturation_mm
    )
    scores = score_paths(
        space,
        candidates,
        check,
        avoided,
        constraints=constraints,
        ranking=ranking,
        incidence=bone_near.mask is not None,
    )
    names = [av.name for av in avoided]
    access = AccessibilityMap(
        points_mm=space.to_mm(candidates.starts),
        target_index=candidates.target_index,
        targets_mm=targets,
        feasible=check.feasible,
        score=scores.score,
        reason=reason_strings(check.codes, names),
        grid=grid,
    )
    if not check.feasible.any():
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(access.counts().items()))
        raise TrajectoryError(
            f"no feasible trajectory to {target_name or 'the target'} among "
            f"{candidates.n} candidates ({counts}); lower the clearances, raise "
            "max_length_mm or the tilt limit, or widen the entry region"
        )
    chosen = pick_distinct(
        scores.score,
        check.feasible,
        candidates.starts * grid.spacing_ijk_mm,
        candidates.target_index,
        n_best=ranking.n_best,
        min_separation_mm=ranking.min_separation_mm,
    )
    trajectories = build_trajectories(
        space,
        candidates,
        chosen,
        check=check,
        scores=scores,
        avoided=avoided,
        constraints=constraints,
    )
    logger.info(
        "trajectory search: %d candidates, %d feasible, best score %.3f",
        candidates.n,
        int(check.feasible.sum()),
        trajectories[0].score,
    )
    sides = [side.value for side in constraints.sides]
    parameters: dict[str, Any] = {
        "clearance_mm": {av.name: av.required_mm - constraints.extent_mm(grid) for av in avoided},
        "voxel_extent": constraints.voxel_extent,
        "max_length_mm": constraints.max_length_mm,
        "max_tilt_deg": constraints.max_tilt_deg,
        "approach": (sides[0] if len(sides) == 1 else sides) if sides else None,
        "step_mm": step,
        "saturation_mm": ranking.saturation_mm,
        "weights": dict(ranking.weight),
        "bone_target": bone_near.is_bone_target,
        "n_candidates": candidates.n,
    }
    return TrajectoryResult(
        trajectories=tuple(trajectories),
        accessibility=access,
        targets_mm=targets,
        avoided=tuple(names),
        parameters=parameters,
    )
