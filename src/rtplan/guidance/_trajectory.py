"""The results of a needle-trajectory search: paths, the accessibility map, the ranking.

* :class:`Trajectory`: one straight needle path in LPS mm, with its clearances, angles,
  tissue fractions and score;
* :class:`AccessibilityMap`: every skin entry candidate of a search with its verdict;
* :class:`TrajectoryResult`: the ranked paths (a sequence, best first) with the map and
  the search settings, writable as CSV and JSON.

:func:`rtplan.plan_trajectory` builds them; they are plain frozen values that can also be
built by hand (a planned path read back from a report, a path drawn by a radiologist).
"""

from __future__ import annotations

import csv
import json
import math
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from rtplan._atomic import atomic_open
from rtplan._format import csv_number
from rtplan.errors import GeometryError
from rtplan.grid import Grid
from rtplan.image import Image

__all__ = ["AccessibilityMap", "Trajectory", "TrajectoryResult"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _frozen_points(a: npt.ArrayLike, shape: tuple[int, ...]) -> FloatArray:
    arr = np.array(a, dtype=np.float64).reshape(shape)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Trajectory:
    """One straight needle path, in patient LPS millimetres.

    Parameters
    ----------
    entry_mm, target_mm : numpy.ndarray, shape (3,)
        Skin entry point and needle tip, LPS mm.
    clearance_mm : mapping of str to float
        Smallest distance from the segment to each avoided structure (to its voxel
        centres on the CT grid, exact), mm; ``inf`` when the structure is absent.
    required_clearance_mm : mapping of str to float
        The clearance asked for each avoided structure, mm.
    in_plane_deg, out_of_plane_deg : float
        Needle angles (see :func:`rtplan.guidance.needle_angles`), degrees.
    tissue_fraction : mapping of str to float
        Share of the path length in each tissue class of :class:`rtplan.tissue.TissueClass`
        (``"soft_tissue"``, ``"cancellous_bone"``, ``"cortical_bone"``...), summing to 1.
    cortex_incidence_deg : float or None
        For targets in bone, angle between the needle and the bone surface normal where it
        enters the bone (0° = perpendicular to the cortex); None otherwise.
    score : float
        Weighted sum of the soft criteria, lower is better.
    score_terms : mapping of str to float
        Each soft criterion in [0, 1] before weighting: ``length``, ``clearance`` (mean of
        the per-structure terms ``clearance:<name>``), ``out_of_plane``, and for bone
        targets ``cortex_incidence``.
    rank : int
        1 for the best path.
    target_name : str
        Name of the target structure, if any.

    Examples
    --------
    >>> from rtplan.guidance import Trajectory
    >>> t = Trajectory(
    ...     entry_mm=[0.0, 0.0, 0.0],
    ...     target_mm=[0.0, 30.0, 40.0],
    ...     clearance_mm={"SpinalCanal": 4.5},
    ...     required_clearance_mm={"SpinalCanal": 3.0},
    ...     in_plane_deg=0.0,
    ...     out_of_plane_deg=53.13,
    ...     tissue_fraction={"soft_tissue": 1.0},
    ... )
    >>> t.length_mm, t.min_clearance_mm
    (50.0, 4.5)
    >>> t.point_at(25.0).tolist()
    [0.0, 15.0, 20.0]
    """

    entry_mm: FloatArray
    target_mm: FloatArray
    clearance_mm: Mapping[str, float]
    required_clearance_mm: Mapping[str, float]
    in_plane_deg: float
    out_of_plane_deg: float
    tissue_fraction: Mapping[str, float]
    cortex_incidence_deg: float | None = None
    score: float = 0.0
    score_terms: Mapping[str, float] = field(default_factory=dict)
    rank: int = 0
    target_name: str = ""

    def __post_init__(self) -> None:
        entry = _frozen_points(self.entry_mm, (3,))
        target = _frozen_points(self.target_mm, (3,))
        if not (np.all(np.isfinite(entry)) and np.all(np.isfinite(target))):
            raise GeometryError("trajectory entry and target must be finite LPS points")
        if float(np.linalg.norm(target - entry)) <= 0.0:
            raise GeometryError("trajectory entry and target coincide")
        object.__setattr__(self, "entry_mm", entry)
        object.__setattr__(self, "target_mm", target)
        for name in ("clearance_mm", "required_clearance_mm", "tissue_fraction", "score_terms"):
            value = {str(k): float(v) for k, v in dict(getattr(self, name)).items()}
            object.__setattr__(self, name, types.MappingProxyType(value))

    @property
    def length_mm(self) -> float:
        """Needle length from entry to target, mm."""
        return float(np.linalg.norm(self.target_mm - self.entry_mm))

    @property
    def direction(self) -> FloatArray:
        """Unit LPS vector from entry to target."""
        return np.asarray((self.target_mm - self.entry_mm) / self.length_mm)

    @property
    def min_clearance_mm(self) -> float:
        """Smallest clearance over the avoided structures, mm (``inf`` if none)."""
        return min(self.clearance_mm.values(), default=math.inf)

    def point_at(self, depth_mm: npt.ArrayLike) -> FloatArray:
        """LPS points at given depths from the entry along the needle.

        Parameters
        ----------
        depth_mm : float or array_like, shape (N,)
            Depth below the entry, mm.

        Returns
        -------
        numpy.ndarray, shape (3,) or (N, 3)
        """
        d = np.asarray(depth_mm, dtype=np.float64)
        pts = self.entry_mm + d[..., np.newaxis] * self.direction
        return np.asarray(pts)

    def depth_marks_mm(self, step_mm: float = 10.0) -> FloatArray:
        """Depths of the tick marks every ``step_mm`` from the entry (excluding 0), mm."""
        if step_mm <= 0:
            raise GeometryError(f"tick step must be positive, got {step_mm}")
        n = math.floor(self.length_mm / step_mm + 1e-9)
        return np.arange(1, n + 1, dtype=np.float64) * step_mm

    def to_dict(self) -> dict[str, Any]:
        """Flat, JSON-ready summary (the numbers a radiologist checks)."""
        out: dict[str, Any] = {
            "rank": self.rank,
            "target_name": self.target_name,
            "entry_x_mm": float(self.entry_mm[0]),
            "entry_y_mm": float(self.entry_mm[1]),
            "entry_z_mm": float(self.entry_mm[2]),
            "target_x_mm": float(self.target_mm[0]),
            "target_y_mm": float(self.target_mm[1]),
            "target_z_mm": float(self.target_mm[2]),
            "length_mm": self.length_mm,
            "in_plane_deg": self.in_plane_deg,
            "out_of_plane_deg": self.out_of_plane_deg,
            "min_clearance_mm": self.min_clearance_mm,
            "cortex_incidence_deg": self.cortex_incidence_deg,
            "score": self.score,
        }
        for k, v in self.clearance_mm.items():
            out[f"clearance_mm:{k}"] = v
        for k, v in self.required_clearance_mm.items():
            out[f"required_clearance_mm:{k}"] = v
        for k, v in self.tissue_fraction.items():
            out[f"tissue_fraction:{k}"] = v
        for k, v in self.score_terms.items():
            out[f"term:{k}"] = v
        return out

    def __repr__(self) -> str:
        return (
            f"Trajectory(rank={self.rank}, length_mm={self.length_mm:.1f}, "
            f"min_clearance_mm={self.min_clearance_mm:.1f}, "
            f"in_plane_deg={self.in_plane_deg:.1f}, "
            f"out_of_plane_deg={self.out_of_plane_deg:.1f}, score={self.score:.3f})"
        )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class AccessibilityMap:
    """Every skin entry candidate of a search, with its verdict and score.

    Parameters
    ----------
    points_mm : numpy.ndarray, shape (N, 3)
        Candidate entry points (centres of body-surface voxels, moved within their slice
        when a tilt limit applies), LPS mm.
    target_index : numpy.ndarray of int, shape (N,)
        Which target point each row aims at (index into ``targets_mm``).
    targets_mm : numpy.ndarray, shape (T, 3)
        The target points, LPS mm.
    feasible : numpy.ndarray of bool, shape (N,)
        True when every hard constraint holds.
    score : numpy.ndarray, shape (N,)
        Score of feasible rows (lower is better), NaN for the others.
    reason : numpy.ndarray of str, shape (N,)
        ``"feasible"`` or the first constraint that failed (``"too_long"``,
        ``"outside_entry_region"``, ``"tilt"``, ``"leaves_body"``, ``"clearance:<name>"``).
    grid : Grid
        The CT grid, for :meth:`to_image`.
    """

    points_mm: FloatArray
    target_index: npt.NDArray[np.int64]
    targets_mm: FloatArray
    feasible: BoolArray
    score: FloatArray
    reason: npt.NDArray[np.str_]
    grid: Grid

    def __post_init__(self) -> None:
        object.__setattr__(self, "points_mm", _frozen_points(self.points_mm, (-1, 3)))
        object.__setattr__(self, "targets_mm", _frozen_points(self.targets_mm, (-1, 3)))

    @property
    def n_feasible(self) -> int:
        """Number of feasible rows."""
        return int(np.count_nonzero(self.feasible))

    def counts(self) -> dict[str, int]:
        """Number of candidates per verdict (``"feasible"`` or the failed constraint)."""
        names, n = np.unique(self.reason, return_counts=True)
        return {str(a): int(b) for a, b in zip(names, n, strict=True)}

    def __repr__(self) -> str:
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts().items()))
        return (
            f"AccessibilityMap({self.points_mm.shape[0]} skin candidates, "
            f"{len(self.targets_mm)} target point(s): {verdicts})"
        )

    def to_image(self, *, statistic: str = "min") -> Image:
        """The accessibility map as a volume on the CT grid.

        Parameters
        ----------
        statistic : {"min", "feasible"}
            ``"min"``: the best (lowest) score of each entry voxel over the target points,
            NaN where no path from it is feasible or off the skin; ``"feasible"``: 1.0
            where some path is feasible, 0.0 at infeasible skin voxels, NaN elsewhere.

        Returns
        -------
        Image
            float32 on the CT grid, name ``"accessibility"``.
        """
        if statistic not in ("min", "feasible"):
            raise GeometryError(f"statistic must be 'min' or 'feasible', got {statistic!r}")
        out = np.full(self.grid.shape, np.nan, dtype=np.float32)
        ijk = np.rint(self.grid.mm_to_index(self.points_mm)).astype(np.int64)
        ijk = np.clip(ijk, 0, np.asarray(self.grid.shape_ijk) - 1)
        flat = np.ravel_multi_index((ijk[:, 2], ijk[:, 1], ijk[:, 0]), self.grid.shape)
        view = out.reshape(-1)
        if statistic == "feasible":
            view[flat] = 0.0
            view[flat[self.feasible]] = 1.0
        else:
            ok = self.feasible
            order = np.argsort(-self.score[ok])  # write the best last
            view[flat[ok][order]] = self.score[ok][order]
        return Image(array=out, grid=self.grid, units="1", name="accessibility")


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TrajectoryResult(Sequence[Trajectory]):
    """The ranked trajectories of a search, with its accessibility map.

    Behaves as a sequence of :class:`Trajectory`, best first (``result[0]``).

    Parameters
    ----------
    trajectories : tuple of Trajectory
        Ranked, best first.
    accessibility : AccessibilityMap
        All candidates with verdicts and scores.
    targets_mm : numpy.ndarray, shape (T, 3)
        The target points searched.
    avoided : tuple of str
        Names of the avoided structures and tissue classes.
    parameters : mapping
        The search settings, for reports.
    """

    trajectories: tuple[Trajectory, ...]
    accessibility: AccessibilityMap
    targets_mm: FloatArray
    avoided: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets_mm", _frozen_points(self.targets_mm, (-1, 3)))

    @overload
    def __getitem__(self, index: int) -> Trajectory: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Trajectory]: ...

    def __getitem__(self, index: int | slice) -> Trajectory | Sequence[Trajectory]:
        return self.trajectories[index]

    def __len__(self) -> int:
        return len(self.trajectories)

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self.trajectories)

    @property
    def best(self) -> Trajectory:
        """The best trajectory."""
        return self.trajectories[0]

    def table(self) -> list[dict[str, Any]]:
        """One flat dict per trajectory (see :meth:`Trajectory.to_dict`), best first."""
        return [t.to_dict() for t in self.trajectories]

    def to_csv(self, path: str | Path) -> Path:
        """Write the ranked table as CSV (one row per trajectory).

        Lengths and positions to 0.1 mm, angles to 0.1°, scores and fractions with 4
        significant figures (:func:`rtplan._format.csv_number`), missing values empty.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
        """
        p = Path(path)
        rows = self.table()
        columns: list[str] = []
        for r in rows:
            columns.extend(c for c in r if c not in columns)
        with atomic_open(p, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: csv_number(v, k) for k, v in r.items()})
        return p

    def to_json(self, path: str | Path) -> Path:
        """Write the ranked table, the search settings and the verdict counts as JSON.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
        """
        p = Path(path)
        doc = {
            "targets_mm": self.targets_mm.tolist(),
            "avoided": list(self.avoided),
            "parameters": _jsonable(dict(self.parameters)),
            "candidates": self.accessibility.counts(),
            "trajectories": _jsonable(self.table()),
        }
        text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
        with atomic_open(p) as fh:
            fh.write(text)
        return p

    def __repr__(self) -> str:
        return (
            f"TrajectoryResult({len(self)} trajectories, "
            f"{self.accessibility.n_feasible} feasible of {self.accessibility.points_mm.shape[0]} "
            "candidates)"
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(value, np.integer):
        return int(value)
    return value
