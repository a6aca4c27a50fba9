"""Straight needle trajectories from the skin to a target, ranked.

The search (:func:`plan_trajectory`):

1. **Target point(s)**: the target structure's centroid when it lies inside the structure,
   else its deepest voxel (largest distance to its surface); or points given in mm.
2. **Entry candidates**: every voxel of the body surface (voxels of the body mask with a
   6-neighbour outside it; faces cut by the image border are not skin) within
   ``max_length_mm`` of a target point. The body is the given EXTERNAL structure, or the
   automatic outline of :func:`rtplan.tissue.body_mask`.
3. **Hard constraints**, in this order: entry region, approach side, gantry tilt, length,
   the path must stay inside the body, and the clearance to every avoided structure or
   tissue class.
4. **Soft criteria**, weighted into one score (lower is better) and reported term by
   term: length, clearance to each avoided structure, out-of-plane angle, and for targets
   in bone the incidence angle on the cortex.
5. The best trajectories are returned, entries at least ``min_separation_mm`` apart.

Clearance guarantee
-------------------
Each avoided structure or tissue class is taken as its voxel mask on the CT grid (voxel
centres inside, as :meth:`rtplan.Structure.mask` rasterises it). The clearance of a path
is the smallest distance from the segment *entry -> target* to a voxel centre of that
mask. The search samples the exact Euclidean distance map
(:func:`scipy.ndimage.distance_transform_edt`, spacing in mm) every ``step_mm`` (at most
half the smallest voxel size) and accepts a path only if a *proven lower bound* of the
distance along the whole segment reaches the clearance asked: trilinear interpolation of
the squared distance minus its interpolation variance (``sum_a h_a² t_a (1 - t_a)``, at
most a quarter of the squared voxel diagonal: the conservative half-voxel bound) at each
sample, and minus ``step² / 4`` between samples (see :mod:`rtplan.guidance._kernels`).
Hence **no returned trajectory comes closer to a voxel of an avoided mask than the
clearance asked**, exactly, with no tolerance. With ``voxel_extent=True`` each voxel counts
as its whole box instead of its centre: the clearance asked is raised by half the voxel
diagonal, which makes the same statement true for the boxes.

The bound costs little: every candidate whose exact clearance exceeds the one asked by
two voxel half-diagonals is accepted (tested). Distance maps are computed on each
structure's bounding box padded by its clearance plus ``saturation_mm``; beyond that the
distance only enters the score, which saturates there.

Angles
------
* ``out_of_plane_deg``: angle between the needle and the patient's axial plane (the
  gantry tilt needed to see the whole needle in one slice), positive when the tip heads
  superior.
* ``in_plane_deg``: in the axial plane, the angle from the table's vertical (downward,
  towards the table top, from the Patient Position) to the needle's projection, positive
  towards the right of the axial image as :func:`rtplan.render_overlay` shows it
  (radiological convention: viewed from the patient's feet, patient as lying).
* ``cortex_incidence_deg`` (targets in bone): angle between the needle and the normal of
  the bone surface where the needle last enters bone before the target; 0° is
  perpendicular to the cortex (best: the bevel bites, the needle does not skid), 90° is
  tangential. The normal is the gradient of the signed distance map of bone (smoothed by
  a Gaussian of two voxels so that it follows the surface, not the voxel staircase),
  taken where the needle crosses the bone surface.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError, StructureError, TrajectoryError
from rtplan.grid import Grid
from rtplan.image import Image, PatientPosition
from rtplan.structures import Structure

__all__ = [
    "APPROACHES",
    "BONE_WINDOW_MM",
    "DEFAULT_WEIGHTS",
    "AccessibilityMap",
    "Trajectory",
    "TrajectoryResult",
    "plan_trajectory",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Weights of the soft criteria in the score (each term lies in [0, 1]).
DEFAULT_WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {"length": 1.0, "clearance": 1.0, "out_of_plane": 0.5, "cortex_incidence": 1.0}
)

# rejection reasons (codes 4 and 5+ are shared with the compiled kernel)
_TOO_LONG = 1
_OUTSIDE_ENTRY_REGION = 2
_TILT = 3
_LEAVES_BODY = 4
_APPROACH = 5
_CLEARANCE0 = 10

#: Sides an entry may be restricted to, relative to the target (LPS unit vectors).
APPROACHES: Mapping[str, tuple[float, float, float]] = types.MappingProxyType(
    {
        "left": (1.0, 0.0, 0.0),
        "right": (-1.0, 0.0, 0.0),
        "anterior": (0.0, -1.0, 0.0),
        "posterior": (0.0, 1.0, 0.0),
        "superior": (0.0, 0.0, 1.0),
        "inferior": (0.0, 0.0, -1.0),
    }
)

AvoidItem = Structure | Image | str

#: Bone within this distance (mm, per axis) of the target is used for the cortex incidence.
BONE_WINDOW_MM = 60.0


# ============================================================================ value types
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
        Needle angles (see :mod:`rtplan.guidance`), degrees.
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
        with p.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
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
        p.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
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


# ============================================================================ helpers
@dataclass(slots=True)
class _Box:
    """Index box ``lo <= (i, j, k) < hi`` of the CT grid."""

    lo: npt.NDArray[np.int64]
    hi: npt.NDArray[np.int64]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """Array slices (k, j, i)."""
        return (
            slice(int(self.lo[2]), int(self.hi[2])),
            slice(int(self.lo[1]), int(self.hi[1])),
            slice(int(self.lo[0]), int(self.hi[0])),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (nk, nj, ni)."""
        n = self.hi - self.lo
        return int(n[2]), int(n[1]), int(n[0])


@dataclass(slots=True)
class _Avoided:
    name: str
    required_mm: float
    mask_r: BoolArray  # on region R
    full_mask: BoolArray | None  # on the whole CT grid when available


def _window_box(grid: Grid, centres_ijk: FloatArray, radius_mm: float) -> _Box:
    r = radius_mm / grid.spacing_ijk_mm
    lo = np.floor(centres_ijk.min(axis=0) - r).astype(np.int64)
    hi = np.ceil(centres_ijk.max(axis=0) + r).astype(np.int64) + 1
    n = np.asarray(grid.shape_ijk, dtype=np.int64)
    return _Box(np.clip(lo, 0, n), np.clip(hi, 0, n))


def _pad_box(grid: Grid, box: _Box, pad_vox: npt.NDArray[np.int64]) -> _Box:
    n = np.asarray(grid.shape_ijk, dtype=np.int64)
    return _Box(np.clip(box.lo - pad_vox, 0, n), np.clip(box.hi + pad_vox, 0, n))


def _crop_image(ct: Image, box: _Box) -> Image:
    grid = ct.grid.crop(box.lo.tolist(), box.hi.tolist())
    return Image(
        array=np.asarray(ct.array[box.slices]),
        grid=grid,
        units=ct.units,
        name=ct.name,
        patient_position=ct.patient_position,
    )


def _mask_of(item: Structure | Image, grid: Grid, what: str) -> BoolArray:
    if isinstance(item, Structure):
        if not item.has_volume:
            raise StructureError(
                f"{what} {item.name!r} encloses no volume (no closed contours or mask)"
            )
        return np.asarray(item.mask(grid), dtype=bool)
    if item.grid.isclose(grid):
        return np.asarray(item.array) > 0.5
    resampled = item.resample(grid, order=0, fill_value=0)
    return np.asarray(resampled.array) > 0.5


def _float32_down(values: FloatArray) -> npt.NDArray[np.float32]:
    """Round to float32 towards minus infinity (keeps lower bounds valid)."""
    f = values.astype(np.float32)
    too_big = f.astype(np.float64) > values
    f[too_big] = np.nextafter(f[too_big], np.float32(-np.inf))
    return f


def _segment_point_distances(
    a: FloatArray, b: FloatArray, pts: FloatArray
) -> npt.NDArray[np.float64]:
    """Euclidean distances from points ``(N, 3)`` to the segment ``a``-``b`` (same frame)."""
    d = b - a
    dd = float(d @ d)
    if dd == 0.0:
        return np.asarray(np.linalg.norm(pts - a, axis=1))
    t = np.clip((pts - a) @ d / dd, 0.0, 1.0)
    proj = a + t[:, np.newaxis] * d
    return np.asarray(np.linalg.norm(pts - proj, axis=1))


def exact_clearance_mm(
    mask: BoolArray,
    grid: Grid,
    entry_mm: FloatArray,
    target_mm: FloatArray,
    *,
    hint_mm: float = 0.0,
) -> float:
    """Exact smallest distance from a segment to the voxel centres of a mask.

    Searches the voxels of growing boxes around the segment until the nearest centre is
    proven to lie inside the box searched.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape grid.shape
    grid : Grid
    entry_mm, target_mm : numpy.ndarray, shape (3,)
        Segment ends, LPS mm.
    hint_mm : float
        A guess of the distance (the first box searched reaches that far); any value
        gives the exact result, a good one saves passes.

    Returns
    -------
    float
        Distance in mm; ``inf`` for an empty mask.
    """
    sp = grid.spacing_ijk_mm
    ends = grid.mm_to_index(np.stack([entry_mm, target_mm]))
    a_s, b_s = ends[0] * sp, ends[1] * sp  # scaled index frame: a rotation of LPS
    n = np.asarray(grid.shape_ijk, dtype=np.int64)
    radius = max(float(np.max(sp)), float(hint_mm))
    while True:
        r = radius / sp
        lo = np.clip(np.floor(ends.min(axis=0) - r).astype(np.int64), 0, n)
        hi = np.clip(np.ceil(ends.max(axis=0) + r).astype(np.int64) + 1, 0, n)
        sub = mask[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]
        idx = np.argwhere(sub)
        covers_all = bool(np.all(lo == 0) and np.all(hi == n))
        if idx.size:
            pts = (idx[:, ::-1] + lo) * sp
            d = float(_segment_point_distances(a_s, b_s, pts).min())
            if d <= radius or covers_all:
                return d
            radius = d  # every centre closer than d lies in the box of radius d
            continue
        if covers_all:
            return math.inf
        radius *= 2.0


def _vertical_down_lps(position: PatientPosition) -> FloatArray:
    """LPS unit vector pointing down towards the table top (minus IEC fixed Z)."""
    to_iec = position.to_iec_fixed  # columns: L, P, S in IEC fixed
    up = to_iec.T @ np.array([0.0, 0.0, 1.0])
    return np.asarray(-up)


def axial_screen_axes(position: PatientPosition | None) -> tuple[FloatArray, FloatArray]:
    """LPS directions of the image right and image down of the radiological axial view.

    The axial image is viewed from the patient's feet with the patient as lying on the
    table: up on the screen is up in the room (IEC fixed +Z); for head-first positions
    the screen right is IEC fixed +X (an observer at the foot of the couch facing the
    gantry), for feet-first positions -X. For HFS and FFS the patient's left is on the
    image's right and anterior is up; for HFP and FFP the left is on the image's left
    and posterior is up.

    Parameters
    ----------
    position : PatientPosition or None
        None is taken as HFS.

    Returns
    -------
    right, down : numpy.ndarray, shape (3,)
        LPS unit vectors.
    """
    pos = PatientPosition.HFS if position is None else PatientPosition(position)
    to_iec = pos.to_iec_fixed
    x_iec = to_iec.T @ np.array([1.0, 0.0, 0.0])
    right = x_iec if pos.value.startswith("HF") else -x_iec
    down = _vertical_down_lps(pos)
    return np.asarray(right), np.asarray(down)


def needle_angles(
    direction: FloatArray, position: PatientPosition | None
) -> tuple[FloatArray, FloatArray]:
    """In-plane and out-of-plane angles of needle directions (see module docstring).

    Parameters
    ----------
    direction : numpy.ndarray, shape (N, 3)
        Unit LPS vectors from entry to tip.
    position : PatientPosition or None
        Patient Position (None = HFS).

    Returns
    -------
    in_plane_deg, out_of_plane_deg : numpy.ndarray, shape (N,)
    """
    d = np.asarray(direction, dtype=np.float64).reshape(-1, 3)
    oop = np.degrees(np.arcsin(np.clip(d[:, 2], -1.0, 1.0)))
    right, down = axial_screen_axes(position)
    # both screen axes of an axial view lie in the axial plane
    ip = np.degrees(np.arctan2(d @ right, d @ down))
    return np.asarray(ip), np.asarray(oop)


def _tissue_fractions(
    ct: Image, entry: FloatArray, target: FloatArray, step: float
) -> dict[str, float]:
    from rtplan import tissue

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
    hu = _crop_image(ct, _Box(lo, hi)).sample(pts, order=1, fill_value=-1000.0)
    tiny = Grid(shape=(1, 1, n), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    labels = tissue.classify(
        Image(array=hu.reshape(1, 1, n), grid=tiny, units="HU"), warn_metal=False
    ).array.ravel()
    counts = np.bincount(labels, minlength=len(tissue.TissueClass) + 1)
    return {c.label: float(counts[c.value]) / n for c in tissue.TissueClass}


# ============================================================================ search
def _resolve_avoid(
    ct: Image,
    avoid: Sequence[AvoidItem],
    clearance_mm: float | Mapping[str, float],
    region: _Box,
    body_r: BoolArray,
    voxel_extent: bool,
) -> list[_Avoided]:
    from rtplan import tissue

    names: list[str] = []
    items: list[tuple[str, AvoidItem]] = []
    for n, item in enumerate(avoid):
        if isinstance(item, Structure):
            name = item.name
        elif isinstance(item, Image):
            name = item.name or f"mask{n + 1}"
        elif isinstance(item, str):
            name = item
        else:
            raise StructureError(
                f"avoid item {n} is a {type(item).__name__}; give a Structure, a boolean "
                "mask Image, or a tissue class name ('bone', 'cortical_bone', 'lung'...)"
            )
        if name in names:
            raise StructureError(f"avoided structure {name!r} is listed twice")
        names.append(name)
        items.append((name, item))
    if isinstance(clearance_mm, Mapping):
        missing = [n for n in names if n not in clearance_mm]
        if missing:
            raise StructureError(
                f"clearance_mm gives no clearance for {missing}; give one per avoided "
                f"structure ({names}) or a single number"
            )
        required = {key: float(clearance_mm[key]) for key in names}
    else:
        required = dict.fromkeys(names, float(clearance_mm))
    for key, c in required.items():
        if not math.isfinite(c) or c < 0:
            raise GeometryError(f"clearance for {key!r} must be a finite number >= 0 mm, got {c}")
    extra = 0.5 * float(np.linalg.norm(ct.grid.spacing_mm)) if voxel_extent else 0.0
    crop = None
    labels = None
    out: list[_Avoided] = []
    for name, item in items:
        full: BoolArray | None
        if isinstance(item, str):
            if crop is None:
                crop = _crop_image(ct, region)
            if item.strip().lower() == "bone":
                mask_r = tissue.bone_mask(crop, body_r) & body_r
            else:
                cls = tissue.TissueClass.parse(item)
                if labels is None:
                    labels = np.asarray(tissue.classify(crop, warn_metal=False).array)
                mask_r = (labels == cls.value) & body_r
            full = None
        else:
            full = _mask_of(item, ct.grid, "avoided structure")
            mask_r = full[region.slices]
        out.append(_Avoided(name, required[name] + extra, mask_r, full))
    return out


def _target_points(ct: Image, target: Structure | npt.ArrayLike) -> tuple[FloatArray, str]:
    if isinstance(target, Structure):
        if target.has_volume:
            mask = target.mask(ct.grid)
            if not mask.any():
                raise StructureError(
                    f"target {target.name!r} covers no voxel of the CT grid {ct.grid!r}"
                )
            c = np.asarray(target.centroid_mm, dtype=np.float64)
            ijk = np.rint(ct.grid.mm_to_index(c)).astype(np.int64)
            inside = bool(
                ct.grid.contains_index(ijk[np.newaxis].astype(np.float64))[0]
                and mask[ijk[2], ijk[1], ijk[0]]
            )
            if inside:
                return c[np.newaxis], target.name
            from scipy import ndimage

            depth = ndimage.distance_transform_edt(mask, sampling=ct.grid.spacing_mm)
            k, j, i = np.unravel_index(int(np.argmax(depth)), mask.shape)
            logger.info(
                "target %r: centroid outside the structure, using its deepest voxel",
                target.name,
            )
            return ct.grid.index_to_mm([[float(i), float(j), float(k)]]), target.name
        pts = target.points_mm
        if pts.shape[0] == 0:
            raise StructureError(f"target {target.name!r} has no volume and no point")
        return pts, target.name
    pts = np.asarray(target, dtype=np.float64)
    if pts.ndim == 1:
        pts = pts[np.newaxis]
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
        raise GeometryError(
            f"target must be a Structure or LPS point(s) of shape (3,) or (N, 3), got "
            f"shape {np.shape(target)}"
        )
    return pts, ""


def _surface(mask_ext: BoolArray) -> BoolArray:
    """Voxels of a mask with a 6-neighbour outside it.

    Beyond the array counts as inside: faces where the image cuts the body are not skin
    (and the faces of region R lie beyond the window W where entries are taken).
    """
    # erosion by the 6-neighbourhood with shifted views (beyond the array: inside); the
    # same as scipy.ndimage.binary_erosion(mask_ext, border_value=1), several times faster
    inner = mask_ext.copy()
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        inner[tuple(lo)] &= mask_ext[tuple(hi)]
        inner[tuple(hi)] &= mask_ext[tuple(lo)]
    return np.asarray(mask_ext & ~inner)


def plan_trajectory(
    ct: Image,
    target: Structure | npt.ArrayLike,
    *,
    avoid: Sequence[AvoidItem] = (),
    clearance_mm: float | Mapping[str, float] = 5.0,
    max_length_mm: float = 150.0,
    body: Structure | Image | None = None,
    entry_region: Structure | Image | None = None,
    approach: str | Sequence[str] | None = None,
    max_tilt_deg: float | None = None,
    target_mm: npt.ArrayLike | None = None,
    bone: Structure | Image | None = None,
    bone_target: bool | None = None,
    weights: Mapping[str, float] | None = None,
    saturation_mm: float = 20.0,
    step_mm: float | None = None,
    voxel_extent: bool = False,
    n_best: int = 10,
    min_separation_mm: float = 10.0,
) -> TrajectoryResult:
    """Search straight needle paths from the skin to a target, and rank them.

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
    clearance_mm : float or mapping of str to float
        Minimum distance to keep from each avoided item, mm: one number for all, or one
        per name.
    max_length_mm : float
        Longest needle path, mm.
    body : Structure or Image, optional
        The body outline (EXTERNAL); the automatic outline from HU when omitted.
    entry_region : Structure or Image, optional
        Skin entries must lie inside it (e.g. a drawn access window).
    approach : str or sequence of str, optional
        Side(s) of the target the entry must lie on, all at once: ``"posterior"``,
        ``"anterior"``, ``"left"``, ``"right"``, ``"superior"``, ``"inferior"`` (patient
        directions; ``("posterior", "left")`` is a left posterolateral approach). A prone
        vertebral biopsy is ``"posterior"``.
    max_tilt_deg : float, optional
        Largest angle between the needle and the axial plane (gantry tilt); 0 keeps the
        needle in one axial plane. Entries may move within their slice thickness to meet it.
    target_mm : array_like, shape (3,) or (N, 3), optional
        Target point(s) overriding the structure's centroid.
    bone : Structure or Image, optional
        Bone used for the cortex incidence angle of bone targets; the automatic bone of
        :func:`rtplan.tissue.bone_mask` when omitted. Only the bone within
        :data:`BONE_WINDOW_MM` of the target point(s) is used.
    bone_target : bool, optional
        Whether the target is in bone; by default, True when the first target point lies
        in ``bone`` (a lytic lesion inside the cortex counts: the automatic bone fills
        the marrow cavity).
    weights : mapping of str to float, optional
        Weights of the soft criteria (keys of :data:`DEFAULT_WEIGHTS`); missing keys keep
        their defaults.
    saturation_mm : float
        Clearance beyond the required one that earns no further credit, mm.
    step_mm : float, optional
        Sampling step along the paths; half the smallest voxel size by default (larger
        values are refused).
    voxel_extent : bool
        Count each avoided voxel as its whole box (adds half the voxel diagonal to the
        clearances), instead of its centre.
    n_best : int
        Number of trajectories to return.
    min_separation_mm : float
        Smallest distance between the entries of two returned trajectories (to the same
        target point), so that the list offers distinct approaches.

    Returns
    -------
    TrajectoryResult
        Sequence of :class:`Trajectory`, best first, plus the accessibility map.

    Raises
    ------
    GeometryError
        If a parameter is out of range or a target point lies outside the CT or the body.
    StructureError
        If a structure is empty, listed twice, or lacks a clearance.
    TrajectoryError
        If a target point is closer to an avoided structure than its clearance, or no
        candidate path is feasible (the message gives the count of rejections per reason).

    Examples
    --------
    >>> paths = plan_trajectory(ct, gtv, avoid=[canal, "bone"], clearance_mm=3)  # doctest: +SKIP
    >>> paths[0].entry_mm, paths[0].length_mm, paths[0].clearance_mm  # doctest: +SKIP
    """
    from rtplan import tissue
    from rtplan.guidance import _kernels

    grid = ct.grid
    sp = grid.spacing_ijk_mm  # (di, dj, dk)
    if not (math.isfinite(max_length_mm) and max_length_mm > 0):
        raise GeometryError(f"max_length_mm must be positive, got {max_length_mm}")
    if max_tilt_deg is not None and not (0.0 <= max_tilt_deg <= 90.0):
        raise GeometryError(f"max_tilt_deg must lie in [0, 90], got {max_tilt_deg}")
    if saturation_mm <= 0:
        raise GeometryError(f"saturation_mm must be positive, got {saturation_mm}")
    if n_best < 1:
        raise GeometryError(f"n_best must be >= 1, got {n_best}")
    max_step = 0.5 * float(sp.min())
    step = max_step if step_mm is None else float(step_mm)
    if not (0.0 < step <= max_step + 1e-12):
        raise GeometryError(
            f"step_mm must lie in (0, {max_step:g}] (half the smallest voxel size), got {step}"
        )
    w = dict(DEFAULT_WEIGHTS)
    if weights is not None:
        unknown = set(weights) - set(w)
        if unknown:
            raise GeometryError(
                f"unknown score weights {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}"
            )
        w.update({k: float(v) for k, v in weights.items()})

    targets, target_name = _target_points(ct, target)
    if target_mm is not None:
        targets = np.asarray(target_mm, dtype=np.float64).reshape(-1, 3)
    t_ijk = grid.mm_to_index(targets)
    if not np.all(grid.contains_index(t_ijk, margin=1e-6)):
        raise GeometryError(
            f"target point(s) {np.round(targets, 1).tolist()} lie outside the CT's voxel "
            "centres; check the target and the CT"
        )

    # ---- regions: W holds every candidate segment, R = W + the distance-map padding
    window = _window_box(grid, t_ijk, max_length_mm)
    extent_extra = 0.5 * float(np.linalg.norm(sp)) if voxel_extent else 0.0
    if isinstance(clearance_mm, Mapping):
        c_max = max((float(v) for v in clearance_mm.values()), default=0.0)
    else:
        c_max = float(clearance_mm)
    pad_mm = c_max + extent_extra + saturation_mm + 2.0 * float(sp.max())
    pad_vox = np.ceil(pad_mm / sp).astype(np.int64) + 1
    region = _pad_box(grid, window, pad_vox)
    r_shape = region.shape

    # ---- body on R (the automatic outline only where it is needed: around W, or on all
    # of R when tissue classes are avoided, since they are taken inside the body)
    if body is not None:
        body_r = _mask_of(body, grid, "body")[region.slices]
    else:
        needs_r = any(isinstance(a, str) for a in avoid)
        near = region if needs_r else _pad_box(grid, window, np.full(3, 2, dtype=np.int64))
        body_r = np.zeros(r_shape, dtype=bool)
        body_r[_sub_slices(near, region)] = tissue.body_mask(_crop_image(ct, near))
    if not body_r.any():
        raise GeometryError("the body mask is empty around the target: check the body and CT")
    t_r = t_ijk - region.lo
    t_vox = np.rint(t_r).astype(np.int64)
    if not np.all(body_r[t_vox[:, 2], t_vox[:, 1], t_vox[:, 0]]):
        raise GeometryError(
            f"target point(s) {np.round(targets, 1).tolist()} lie outside the body outline"
        )

    avoided = _resolve_avoid(ct, avoid, clearance_mm, region, body_r, voxel_extent)

    # ---- skin entry candidates inside W
    w_lo = window.lo - region.lo
    w_hi = window.hi - region.lo
    surface = _surface(body_r)
    in_w = np.zeros(r_shape, dtype=bool)
    in_w[w_lo[2] : w_hi[2], w_lo[1] : w_hi[1], w_lo[0] : w_hi[0]] = True
    kji = np.argwhere(surface & in_w)
    entries_r = kji[:, ::-1].astype(np.float64)
    n_e, n_t = entries_r.shape[0], targets.shape[0]
    if n_e == 0:
        raise TrajectoryError(
            f"no skin within {max_length_mm:g} mm of the target: raise max_length_mm or "
            "check the body outline"
        )
    starts = np.repeat(entries_r, n_t, axis=0)
    t_index = np.tile(np.arange(n_t, dtype=np.int64), n_e)
    ends = t_r[t_index]
    codes = np.zeros(starts.shape[0], dtype=np.int64)

    # entry region
    if entry_region is not None:
        er = _mask_of(entry_region, grid, "entry region")[region.slices]
        e_vox = np.rint(starts).astype(np.int64)
        ok = er[e_vox[:, 2], e_vox[:, 1], e_vox[:, 0]]
        codes[~ok] = _OUTSIDE_ENTRY_REGION
    # approach: the entry on the given side(s) of its target point
    if approach is not None:
        sides = [approach] if isinstance(approach, str) else list(approach)
        e_lps = grid.index_to_mm(starts + region.lo)
        t_lps = targets[t_index]
        ok = np.ones(starts.shape[0], dtype=bool)
        for side in sides:
            key = str(side).strip().lower()
            if key not in APPROACHES:
                raise GeometryError(
                    f"unknown approach {side!r}; choose among {', '.join(APPROACHES)}"
                )
            ok &= (e_lps - t_lps) @ np.asarray(APPROACHES[key]) > 0.0
        codes[(codes == 0) & ~ok] = _APPROACH
    # tilt: move the entry within its slice thickness towards the allowed cone
    if max_tilt_deg is not None:
        starts, tilt_ok = _apply_tilt(grid, region, starts, ends, max_tilt_deg)
        codes[(codes == 0) & ~tilt_ok] = _TILT
    vec_mm = (ends - starts) * sp
    lengths = np.linalg.norm(vec_mm, axis=1)
    codes[(codes == 0) & (lengths > max_length_mm)] = _TOO_LONG
    codes[(codes == 0) & (lengths <= 0)] = _TOO_LONG

    # ---- squared distance maps
    maps, m_start, m_shape, m_off, m_sat2, m_req2, present = _build_maps(avoided, sp, pad_vox)
    for a, av in enumerate(avoided):
        if not present[a]:
            continue
        d_t = [exact_clearance_mm(av.mask_r, _region_grid(grid, region), tp, tp) for tp in targets]
        worst = min(d_t)
        if worst < av.required_mm:
            raise TrajectoryError(
                f"the target point lies {worst:.1f} mm from avoided structure {av.name!r}, "
                f"closer than the {av.required_mm:.1f} mm clearance asked: no path can keep "
                "it; lower its clearance, remove it from avoid, or give target_mm"
            )

    # ---- bone target: bone within BONE_WINDOW_MM of the target point(s)
    n_constraints = m_start.shape[0]
    bone_idx = -1
    normal_idx = -1
    is_bone_target = False
    if bone_target is None or bone_target:
        near = _window_box(grid, t_ijk, BONE_WINDOW_MM)
        near = _Box(np.maximum(near.lo, region.lo), np.minimum(near.hi, region.hi))
        body_near = body_r[_sub_slices(near, region)]
        if bone is not None:
            bone_near = _mask_of(bone, grid, "bone")[near.slices] & body_near
        else:
            bone_near = tissue.bone_mask(_crop_image(ct, near), body_near) & body_near
        t_near = t_vox[0] - (near.lo - region.lo)
        in_bone = bool(bone_near[t_near[2], t_near[1], t_near[0]])
        is_bone_target = in_bone if bone_target is None else True
        if is_bone_target and bone_near.any():
            maps, m_start, m_shape, m_off, m_sat2, m_req2 = _append_bone_map(
                bone_near, near.lo - region.lo, sp, maps, m_start, m_shape, m_off, m_sat2, m_req2
            )
            bone_idx, normal_idx = n_constraints, n_constraints + 1

    # skip distances of the constraint maps (see rtplan.guidance._kernels): samples proven
    # farther than clearance + saturation (+ 2 half-diagonals) need no lookup
    r_half = 0.5 * float(np.linalg.norm(sp))
    skip_mm = np.full(m_start.shape[0], np.inf)
    for a in range(n_constraints):
        c_sat = math.sqrt(max(float(m_req2[a]), 0.0)) + saturation_mm
        skip_mm[a] = max(c_sat, r_half) + 2.0 * r_half
    body_u8 = np.ascontiguousarray(body_r, dtype=np.uint8)
    min_d2 = np.empty((starts.shape[0], n_constraints), dtype=np.float64)
    incidence = np.empty(starts.shape[0], dtype=np.float64)
    _kernels.search_segments(
        np.ascontiguousarray(starts),
        np.ascontiguousarray(ends),
        np.ascontiguousarray(sp),
        step,
        body_u8,
        float(sp.max()),
        maps,
        m_start,
        m_shape,
        m_off,
        m_sat2,
        m_req2,
        skip_mm,
        n_constraints,
        bone_idx,
        normal_idx,
        codes,
        min_d2,
        incidence,
    )
    feasible = codes == _kernels.CODE_FEASIBLE

    # ---- scores of the feasible candidates
    directions = vec_mm / np.where(lengths > 0, lengths, 1.0)[:, np.newaxis]
    dir_lps = directions @ grid.direction.T
    in_plane, out_plane = needle_angles(dir_lps, ct.patient_position)
    terms: dict[str, FloatArray] = {"length": lengths / max_length_mm}
    clear_terms = []
    for a, av in enumerate(avoided):
        if not present[a]:
            continue
        d = np.sqrt(np.maximum(min_d2[:, a], 0.0))
        term = np.clip(1.0 - (d - av.required_mm) / saturation_mm, 0.0, 1.0)
        terms[f"clearance:{av.name}"] = term
        clear_terms.append(term)
    terms["clearance"] = np.mean(clear_terms, axis=0) if clear_terms else np.zeros(starts.shape[0])
    terms["out_of_plane"] = np.abs(out_plane) / 90.0
    weighted = ["length", "clearance", "out_of_plane"]
    if bone_idx >= 0:
        terms["cortex_incidence"] = np.where(np.isnan(incidence), 1.0, incidence / 90.0)
        weighted.append("cortex_incidence")
    score = np.zeros(starts.shape[0])
    for k in weighted:
        score += w[k] * terms[k]
    score[~feasible] = np.nan

    names = [av.name for av in avoided]
    reason = _reason_strings(codes, names)
    access = AccessibilityMap(
        points_mm=_frozen_points(grid.index_to_mm(starts + region.lo), (-1, 3)),
        target_index=t_index,
        targets_mm=_frozen_points(targets, (-1, 3)),
        feasible=feasible,
        score=score,
        reason=reason,
        grid=grid,
    )
    params: dict[str, Any] = {
        "clearance_mm": {av.name: av.required_mm - extent_extra for av in avoided},
        "voxel_extent": voxel_extent,
        "max_length_mm": max_length_mm,
        "max_tilt_deg": max_tilt_deg,
        "approach": approach,
        "step_mm": step,
        "saturation_mm": saturation_mm,
        "weights": w,
        "bone_target": is_bone_target,
        "n_candidates": int(starts.shape[0]),
    }
    if not feasible.any():
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(access.counts().items()))
        raise TrajectoryError(
            f"no feasible trajectory to {target_name or 'the target'} among "
            f"{starts.shape[0]} candidates ({counts}); lower the clearances, raise "
            "max_length_mm or the tilt limit, or widen the entry region"
        )

    # ---- pick the best, distinct entries
    chosen = _pick(score, feasible, starts * sp, t_index, n_best, min_separation_mm)
    entries_mm = grid.index_to_mm(starts[chosen] + region.lo)
    # each avoided mask cropped to its voxels (the same voxel centres, smaller boxes to scan)
    tight = [
        _tight(av.full_mask, grid)
        if av.full_mask is not None
        else _tight(av.mask_r, _region_grid(grid, region))
        for av in avoided
    ]
    trajectories = []
    for rank, (c, e_mm) in enumerate(zip(chosen, entries_mm, strict=True), start=1):
        tgt = targets[t_index[c]]
        clearance: dict[str, float] = {}
        for a, av in enumerate(avoided):
            hint = math.sqrt(max(float(min_d2[c, a]), 0.0)) + float(np.linalg.norm(sp))
            hint = hint if math.isfinite(hint) else 0.0
            box = tight[a]
            if box is None:
                dist = math.inf
            else:
                dist = exact_clearance_mm(box[0], box[1], e_mm, tgt, hint_mm=hint)
            clearance[av.name] = dist - extent_extra
        inc = float(incidence[c]) if bone_idx >= 0 and not np.isnan(incidence[c]) else None
        trajectories.append(
            Trajectory(
                entry_mm=e_mm,
                target_mm=tgt,
                clearance_mm=clearance,
                required_clearance_mm={av.name: av.required_mm - extent_extra for av in avoided},
                in_plane_deg=float(in_plane[c]),
                out_of_plane_deg=float(out_plane[c]),
                tissue_fraction=_tissue_fractions(ct, e_mm, tgt, step),
                cortex_incidence_deg=inc,
                score=float(score[c]),
                score_terms={k: float(v[c]) for k, v in terms.items()},
                rank=rank,
                target_name=target_name,
            )
        )
    logger.info(
        "trajectory search: %d candidates, %d feasible, best score %.3f",
        starts.shape[0],
        int(feasible.sum()),
        trajectories[0].score,
    )
    return TrajectoryResult(
        trajectories=tuple(trajectories),
        accessibility=access,
        targets_mm=_frozen_points(targets, (-1, 3)),
        avoided=tuple(names),
        parameters=params,
    )


def _tight(mask: BoolArray, grid: Grid) -> tuple[BoolArray, Grid] | None:
    """A mask cropped to the bounding box of its voxels, with its grid; None if empty."""
    from rtplan.geometry import _morphology as morph

    bb = morph.bounding_box(mask)
    if bb is None:
        return None
    lo, hi = bb
    sub = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    return sub, grid.crop(
        [int(lo[2]), int(lo[1]), int(lo[0])], [int(hi[2]), int(hi[1]), int(hi[0])]
    )


def _sub_slices(inner: _Box, outer: _Box) -> tuple[slice, slice, slice]:
    """Array slices (k, j, i) of box ``inner`` within an array covering box ``outer``."""
    lo = inner.lo - outer.lo
    hi = inner.hi - outer.lo
    return (
        slice(int(lo[2]), int(hi[2])),
        slice(int(lo[1]), int(hi[1])),
        slice(int(lo[0]), int(hi[0])),
    )


def _region_grid(grid: Grid, region: _Box) -> Grid:
    return grid.crop(region.lo.tolist(), region.hi.tolist())


def _apply_tilt(
    grid: Grid, region: _Box, starts: FloatArray, ends: FloatArray, max_tilt_deg: float
) -> tuple[FloatArray, BoolArray]:
    """Move entries along the slice normal (at most half a slice) to meet a tilt limit."""
    sp = grid.spacing_ijk_mm
    normal = grid.slice_normal
    aligned = abs(abs(float(normal[2])) - 1.0) < 1e-6
    tan_max = math.tan(math.radians(max_tilt_deg)) if max_tilt_deg < 90 else math.inf
    s_mm = grid.index_to_mm(starts + region.lo)
    e_mm = grid.index_to_mm(ends + region.lo)
    dz = e_mm[:, 2] - s_mm[:, 2]
    r = np.linalg.norm((e_mm - s_mm)[:, :2], axis=1)
    allowed = r * tan_max
    if not aligned:
        return starts, np.abs(dz) <= allowed + 1e-9
    # new entry z in [target_z - allowed, target_z + allowed], within half a slice
    z_new = np.clip(s_mm[:, 2], e_mm[:, 2] - allowed, e_mm[:, 2] + allowed)
    shift = z_new - s_mm[:, 2]
    ok = np.abs(shift) <= 0.5 * sp[2] + 1e-9
    moved = starts.copy()
    moved[ok, 2] += shift[ok] / (sp[2] * float(normal[2]))
    return moved, ok


def _build_maps(
    avoided: list[_Avoided], sp: FloatArray, pad_vox: npt.NDArray[np.int64]
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    FloatArray,
    FloatArray,
    FloatArray,
    list[bool],
]:
    """Squared-distance boxes of the avoided masks on region R (see the module docstring)."""
    from scipy import ndimage

    from rtplan.geometry import _morphology as morph

    chunks: list[npt.NDArray[np.float32]] = []
    starts: list[int] = []
    shapes: list[tuple[int, int, int]] = []
    offs: list[tuple[float, float, float]] = []
    sat2: list[float] = []
    req2: list[float] = []
    present: list[bool] = []
    pos = 0
    for av in avoided:
        bb = morph.bounding_box(av.mask_r)
        if bb is None:
            present.append(False)
            logger.info("avoided %r: absent near the target, no constraint", av.name)
            continue
        present.append(True)
        lo_kji, hi_kji = bb
        pad_kji = pad_vox[::-1]
        shape_r = np.asarray(av.mask_r.shape)
        lo = np.clip(lo_kji - pad_kji, 0, shape_r)
        hi = np.clip(hi_kji + pad_kji, 0, shape_r)
        sub = av.mask_r[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        d = ndimage.distance_transform_edt(~sub, sampling=tuple(sp[::-1]))
        d2 = _float32_down(np.asarray(d, dtype=np.float64) ** 2)
        chunks.append(d2.ravel())
        starts.append(pos)
        pos += d2.size
        shapes.append((int(d2.shape[0]), int(d2.shape[1]), int(d2.shape[2])))
        offs.append((float(lo[2]), float(lo[1]), float(lo[0])))
        # outside the box every voxel of the mask is farther than the padding
        sat2.append(float(np.min(pad_vox * sp)) ** 2)
        req2.append(av.required_mm**2)
    # keep the per-map arrays aligned with `avoided` (absent maps get an empty box that
    # always returns the saturation value and never binds)
    m_start = []
    m_shape = []
    m_off = []
    m_sat2 = []
    m_req2 = []
    it = iter(range(len(starts)))
    for p in present:
        if p:
            n = next(it)
            m_start.append(starts[n])
            m_shape.append(shapes[n])
            m_off.append(offs[n])
            m_sat2.append(sat2[n])
            m_req2.append(req2[n])
        else:
            m_start.append(0)
            m_shape.append((0, 0, 0))
            m_off.append((0.0, 0.0, 0.0))
            m_sat2.append(math.inf)
            m_req2.append(-1.0)
    maps = np.concatenate(chunks) if chunks else np.zeros(1, dtype=np.float32)
    return (
        np.ascontiguousarray(maps, dtype=np.float32),
        np.asarray(m_start, dtype=np.int64).reshape(-1),
        np.asarray(m_shape, dtype=np.int64).reshape(-1, 3),
        np.asarray(m_off, dtype=np.float64).reshape(-1, 3),
        np.asarray(m_sat2, dtype=np.float64).reshape(-1),
        np.asarray(m_req2, dtype=np.float64).reshape(-1),
        present,
    )


def _append_bone_map(
    bone_r: BoolArray,
    offset_ijk: npt.NDArray[np.int64],
    sp: FloatArray,
    maps: npt.NDArray[np.float32],
    m_start: npt.NDArray[np.int64],
    m_shape: npt.NDArray[np.int64],
    m_off: FloatArray,
    m_sat2: FloatArray,
    m_req2: FloatArray,
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    FloatArray,
    FloatArray,
    FloatArray,
]:
    """Add two maps of bone: squared distance (inside test) and smooth signed distance.

    The gradient of the second is the cortex normal.
    The signed distance (outside minus inside distance, mm) is smoothed with a Gaussian of
    two voxels, so that its gradient follows the surface rather than the voxel staircase
    (on a voxelised 12 mm sphere the normal is then within 2 degrees of the radius).
    """
    from scipy import ndimage

    from rtplan.geometry import _morphology as morph

    bb = morph.bounding_box(bone_r)
    assert bb is not None
    lo, hi = bb
    shape_r = np.asarray(bone_r.shape)
    lo = np.clip(lo - 4, 0, shape_r)
    hi = np.clip(hi + 4, 0, shape_r)
    sub = bone_r[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    sampling = tuple(sp[::-1])
    outside = np.asarray(ndimage.distance_transform_edt(~sub, sampling=sampling))
    inside = np.asarray(ndimage.distance_transform_edt(sub, sampling=sampling))
    d2 = _float32_down(outside**2)
    sdf = ndimage.gaussian_filter(outside - inside, sigma=2.0).astype(np.float32)
    start = maps.size
    maps = np.ascontiguousarray(np.concatenate([maps, d2.ravel(), sdf.ravel()]), dtype=np.float32)
    off = [float(lo[2] + offset_ijk[0]), float(lo[1] + offset_ijk[1]), float(lo[0] + offset_ijk[2])]
    return (
        maps,
        np.append(m_start, [start, start + d2.size]).astype(np.int64),
        np.vstack([m_shape, [d2.shape, sdf.shape]]).astype(np.int64),
        np.vstack([m_off, [off, off]]),
        np.append(m_sat2, [math.inf, math.inf]),
        np.append(m_req2, [-1.0, -1.0]),
    )


def _reason_strings(codes: npt.NDArray[np.int64], names: list[str]) -> npt.NDArray[np.str_]:
    labels = {
        0: "feasible",
        _TOO_LONG: "too_long",
        _OUTSIDE_ENTRY_REGION: "outside_entry_region",
        _TILT: "tilt",
        _LEAVES_BODY: "leaves_body",
        _APPROACH: "approach",
    }
    for a, n in enumerate(names):
        labels[_CLEARANCE0 + a] = f"clearance:{n}"
    uniq, inv = np.unique(codes, return_inverse=True)
    table = np.array([labels.get(int(u), f"code{int(u)}") for u in uniq])
    return np.asarray(table[inv])


def _pick(
    score: FloatArray,
    feasible: BoolArray,
    starts_mm: FloatArray,
    t_index: npt.NDArray[np.int64],
    n_best: int,
    min_separation_mm: float,
) -> list[int]:
    """Greedy best-first selection with a minimum entry separation per target point."""
    idx = np.flatnonzero(feasible)
    order = idx[np.argsort(score[idx], kind="stable")]
    chosen: list[int] = []
    for c in order:
        if len(chosen) >= n_best:
            break
        ok = True
        for p in chosen:
            if t_index[p] == t_index[c] and (
                float(np.linalg.norm(starts_mm[p] - starts_mm[c])) < min_separation_mm
            ):
                ok = False
                break
        if ok:
            chosen.append(int(c))
    return chosen
