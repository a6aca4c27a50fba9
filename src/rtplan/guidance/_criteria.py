"""The criteria of a needle-path search: hard constraints and the ranking of what passes.

* :class:`TrajectoryConstraints`: what every returned path meets (clearance to the avoided
  structures, needle length, entry region, approach side, gantry tilt);
* :class:`TrajectoryRanking`: how feasible paths are scored and how many distinct ones
  are returned.

Both are frozen values checked on construction, so a bad setting fails before any search;
:func:`rtplan.plan_trajectory` takes them whole (``constraints=``, ``ranking=``) or field by
field as keywords. The rejection codes of the search and their names in
:attr:`rtplan.guidance.AccessibilityMap.reason` live here too.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.enum import Approach
from rtplan.errors import GeometryError, StructureError
from rtplan.grid import Grid
from rtplan.guidance._search_kernels import CODE_CLEARANCE0, CODE_FEASIBLE, CODE_LEAVES_BODY
from rtplan.image import Image
from rtplan.structures import Structure

__all__ = [
    "DEFAULT_WEIGHTS",
    "TrajectoryConstraints",
    "TrajectoryRanking",
    "reason_strings",
]

#: Weights of the soft criteria in the score (each term lies in [0, 1]).
DEFAULT_WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {"length": 1.0, "clearance": 1.0, "out_of_plane": 0.5, "cortex_incidence": 1.0}
)

# rejection codes (CODE_LEAVES_BODY and CODE_CLEARANCE0 + a come from the compiled test)
TOO_LONG = 1
OUTSIDE_ENTRY_REGION = 2
TILT = 3
APPROACH = 5

_REASONS = {
    CODE_FEASIBLE: "feasible",
    TOO_LONG: "too_long",
    OUTSIDE_ENTRY_REGION: "outside_entry_region",
    TILT: "tilt",
    CODE_LEAVES_BODY: "leaves_body",
    APPROACH: "approach",
}


def reason_strings(codes: npt.NDArray[np.int64], names: Sequence[str]) -> npt.NDArray[np.str_]:
    """Verdict names of rejection codes: ``"feasible"``, ``"too_long"``, ``"clearance:<name>"``...

    Parameters
    ----------
    codes : numpy.ndarray of int64, shape (N,)
        Codes of the search (0 feasible).
    names : sequence of str
        Names of the avoided structures, in the order of their clearance codes.

    Returns
    -------
    numpy.ndarray of str, shape (N,)
    """
    labels = dict(_REASONS)
    for a, n in enumerate(names):
        labels[CODE_CLEARANCE0 + a] = f"clearance:{n}"
    uniq, inv = np.unique(codes, return_inverse=True)
    table = np.array([labels.get(int(u), f"code{int(u)}") for u in uniq])
    return np.asarray(table[inv])


def _approaches(approach: str | Sequence[str] | None) -> tuple[Approach, ...]:
    if approach is None:
        return ()
    if isinstance(approach, str):
        return (Approach(approach),)
    return tuple(Approach(side) for side in approach)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TrajectoryConstraints:
    """Hard constraints of a needle-path search: every returned path meets all of them.

    Parameters
    ----------
    clearance_mm : float or mapping of str to float
        Minimum distance to keep from each avoided item, mm: one number for all, or one
        per name. Stored as given (a mapping becomes read-only).
    max_length_mm : float
        Longest needle path, mm.
    approach : str, Approach or sequence of them, optional
        Side(s) of the target the entry must lie on, all at once (see
        :class:`rtplan.enum.Approach`; ``("posterior", "left")`` is a left posterolateral
        approach). Stored as a tuple of :class:`~rtplan.enum.Approach`, empty for none.
    max_tilt_deg : float, optional
        Largest angle between the needle and the axial plane (gantry tilt), degrees in
        [0, 90]; 0 keeps the needle in one axial plane. Entries may move within their
        slice thickness to meet it.
    entry_region : Structure or Image, optional
        Skin entries must lie inside it (e.g. a drawn access window).
    voxel_extent : bool
        Count each avoided voxel as its whole box (adds half the voxel diagonal to the
        clearances), instead of its centre.
    step_mm : float, optional
        Sampling step along the paths; half the smallest voxel size by default (larger
        values are refused, see :meth:`step_for`).

    Raises
    ------
    GeometryError
        If a length, angle, clearance or step is out of range or the approach unknown.

    Examples
    --------
    >>> from rtplan.guidance import TrajectoryConstraints
    >>> c = TrajectoryConstraints(clearance_mm=3.0, approach="Posterior", max_tilt_deg=15)
    >>> c.approach
    (<Approach.POSTERIOR: 'posterior'>,)
    >>> c.clearances_mm(["SpinalCanal", "Kidney_L"])
    {'SpinalCanal': 3.0, 'Kidney_L': 3.0}
    """

    clearance_mm: float | Mapping[str, float] = 5.0
    max_length_mm: float = 150.0
    approach: str | Sequence[str] | None = ()
    max_tilt_deg: float | None = None
    entry_region: Structure | Image | None = None
    voxel_extent: bool = False
    step_mm: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_length_mm) and self.max_length_mm > 0):
            raise GeometryError(f"max_length_mm must be positive, got {self.max_length_mm}")
        if self.max_tilt_deg is not None and not (0.0 <= self.max_tilt_deg <= 90.0):
            raise GeometryError(f"max_tilt_deg must lie in [0, 90], got {self.max_tilt_deg}")
        if self.step_mm is not None and not float(self.step_mm) > 0.0:
            raise GeometryError(f"step_mm must be positive, got {self.step_mm}")
        if isinstance(self.clearance_mm, Mapping):
            clearances = {str(k): float(v) for k, v in self.clearance_mm.items()}
            object.__setattr__(self, "clearance_mm", types.MappingProxyType(clearances))
        else:
            clearances = {"": float(self.clearance_mm)}
            object.__setattr__(self, "clearance_mm", float(self.clearance_mm))
        for key, c in clearances.items():
            if not math.isfinite(c) or c < 0:
                what = f"clearance for {key!r}" if key else "clearance_mm"
                raise GeometryError(f"{what} must be a finite number >= 0 mm, got {c}")
        object.__setattr__(self, "approach", _approaches(self.approach))

    @property
    def sides(self) -> tuple[Approach, ...]:
        """The approach sides, as :class:`~rtplan.enum.Approach` (empty: any side)."""
        return _approaches(self.approach)

    @property
    def max_clearance_mm(self) -> float:
        """The largest clearance asked, mm (0 for an empty mapping)."""
        if isinstance(self.clearance_mm, Mapping):
            return max(self.clearance_mm.values(), default=0.0)
        return float(self.clearance_mm)

    def clearances_mm(self, names: Sequence[str]) -> dict[str, float]:
        """The clearance asked for each avoided name, mm.

        Raises
        ------
        StructureError
            If ``clearance_mm`` is a mapping that lacks one of ``names``.
        """
        if not isinstance(self.clearance_mm, Mapping):
            return dict.fromkeys(names, float(self.clearance_mm))
        missing = [n for n in names if n not in self.clearance_mm]
        if missing:
            raise StructureError(
                f"clearance_mm gives no clearance for {missing}; give one per avoided "
                f"structure ({list(names)}) or a single number"
            )
        return {n: float(self.clearance_mm[n]) for n in names}

    def extent_mm(self, grid: Grid) -> float:
        """What :attr:`voxel_extent` adds to every clearance on ``grid``, mm."""
        return 0.5 * float(np.linalg.norm(grid.spacing_ijk_mm)) if self.voxel_extent else 0.0

    def step_for(self, grid: Grid) -> float:
        """The sampling step on ``grid``, mm: :attr:`step_mm`, or half the smallest voxel.

        Raises
        ------
        GeometryError
            If :attr:`step_mm` exceeds half the smallest voxel size.
        """
        max_step = 0.5 * float(grid.spacing_ijk_mm.min())
        step = max_step if self.step_mm is None else float(self.step_mm)
        if not step <= max_step + 1e-12:
            raise GeometryError(
                f"step_mm must lie in (0, {max_step:g}] (half the smallest voxel size), got {step}"
            )
        return step


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TrajectoryRanking:
    """How feasible needle paths are scored and which of them are returned.

    The score (lower is better) is the weighted sum of soft criteria, each in [0, 1]:
    ``length`` (over the longest allowed), ``clearance`` (mean over the avoided items of
    ``1 - (clearance - required) / saturation_mm``, clipped), ``out_of_plane`` (tilt over
    90°) and, for targets in bone, ``cortex_incidence`` (angle to the cortex normal over
    90°).

    Parameters
    ----------
    weights : mapping of str to float, optional
        Weights of the soft criteria (keys of :data:`DEFAULT_WEIGHTS`); missing keys keep
        their defaults. Stored complete and read-only.
    saturation_mm : float
        Clearance beyond the required one that earns no further credit, mm.
    n_best : int
        Number of trajectories to return.
    min_separation_mm : float
        Smallest distance between the entries of two returned trajectories (to the same
        target point), so that the list offers distinct approaches.

    Raises
    ------
    GeometryError
        If a weight name is unknown, or a number out of range.

    Examples
    --------
    >>> from rtplan.guidance import TrajectoryRanking
    >>> dict(TrajectoryRanking(weights={"out_of_plane": 2.0}).weights)
    {'length': 1.0, 'clearance': 1.0, 'out_of_plane': 2.0, 'cortex_incidence': 1.0}
    """

    weights: Mapping[str, float] | None = None
    saturation_mm: float = 20.0
    n_best: int = 10
    min_separation_mm: float = 10.0

    def __post_init__(self) -> None:
        if not self.saturation_mm > 0:
            raise GeometryError(f"saturation_mm must be positive, got {self.saturation_mm}")
        if self.n_best < 1:
            raise GeometryError(f"n_best must be >= 1, got {self.n_best}")
        w = dict(DEFAULT_WEIGHTS)
        if self.weights is not None:
            unknown = set(self.weights) - set(w)
            if unknown:
                raise GeometryError(
                    f"unknown score weights {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}"
                )
            w.update({k: float(v) for k, v in self.weights.items()})
        object.__setattr__(self, "weights", types.MappingProxyType(w))

    @property
    def weight(self) -> Mapping[str, float]:
        """The complete weights (every key of :data:`DEFAULT_WEIGHTS`)."""
        assert self.weights is not None  # completed on construction
        return self.weights
