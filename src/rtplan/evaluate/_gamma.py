"""The gamma index (Low et al. 1998, Med Phys 25:656) between two dose distributions.

For each reference point ``r`` with dose ``D_r`` above the threshold, gamma is the smallest
value over evaluated positions ``e`` of::

    sqrt( ((D_e(e) - D_r) / dD)**2 + (|e - r| / dta)**2 )

with ``dD = dose_percent`` of the normalisation dose (global) or of ``D_r`` (local) and
``dta = distance_mm``. The evaluated distribution is interpolated trilinearly
(bilinearly, linearly for 2D and 1D data) and gamma is its continuous minimum within the
radius ``max_gamma * distance_mm``, found in three steps per point:

1. a continuous search from the point itself: the evaluated dose is replaced by its tangent
   plane and the closed-form minimum of that model is sampled, repeatedly (Gauss-Newton);
   in a linear dose this lands on the exact minimum at once;
2. a global search on a cubic lattice of step ``distance_mm / interp_fraction`` aligned with
   the evaluated grid's axes (the "sub-voxel search" of Wendling et al. 2007, Med Phys
   34:1647, which recommends a tenth of the distance criterion), which catches minima the
   first step cannot reach;
3. the continuous search again, from the best lattice node.

Every value is a sample of the evaluated distribution, so gamma is never below the true
minimum; the continuous steps remove the error of sampling alone, which in steep gradients
with tight criteria (a 6 Gy/mm penumbra at 1 %/1 mm) is many times the dose criterion per
lattice step. pymedphys.gamma samples spherical shells only, so its gamma is larger there
and its pass rate converges to rtplan's from below as its ``interp_fraction`` grows.

The lattice search is fast:

* lattice nodes are visited in order of distance, grouped in small cubes; a cube whose
  nearest node is further than the best gamma found so far ends the search, so a point
  stops as soon as gamma is proven (with ``stop_at_pass=True``, as soon as gamma <= 1 is
  found, which leaves the pass rate unchanged);
* a cube is skipped when no evaluated dose in its box can beat the best gamma found so
  far: the bound is the larger of the gap between ``D_r`` and the range of the voxel
  centres that the box meets, and the difference at the cube's centre less their
  largest neighbour differences times the cube's half-width (the voxels are read only
  when the centre's difference alone could skip the cube);
* a point whose first continuous search leaves it at ``max_gamma`` or more, and whose
  evaluated dose where it lies differs from ``D_r`` by more than 0.3 ``dD``, gets
  ``max_gamma`` at once when every evaluated voxel of a window that covers its search
  sphere differs from ``D_r`` by at least ``max_gamma * dD``;
* the whole search of a point, from its voxel index to its gamma, is one compiled loop,
  with runs of neighbouring points dealt to the threads in turn.

Skipping cubes only skips work: the gamma map is that of the search without it.

Positions outside the evaluated grid's voxel centres are not searched.

Conventions (those of pymedphys.gamma, so pass rates compare directly): the normalisation
dose defaults to the maximum of the reference; the lower dose threshold is
``threshold_percent`` of the normalisation dose and applies to the reference dose
(points with ``D_r >= threshold`` are evaluated); gamma is capped at ``max_gamma``; points
whose search sphere holds no evaluated position are left out (``nan``). The pass rate is
the percentage of evaluated points with gamma <= 1.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan._jit import n_threads
from rtplan._warn import warn
from rtplan.evaluate._common import EvaluationError, finite_positive
from rtplan.evaluate._gamma_kernels import gamma_points
from rtplan.grid import Grid
from rtplan.image import Image

__all__ = ["GammaResult", "gamma"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_CUBE = 3  # fine lattice nodes per cube edge (odd)
_MAX_LATTICE = 4_000_000


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class GammaResult:
    """The outcome of :func:`gamma`.

    Attributes
    ----------
    gamma_map : rtplan.Image
        Gamma on the reference grid (``nan`` where not evaluated: below the threshold or
        out of reach of the evaluated grid), capped at ``max_gamma``.
    pass_rate : float
        Percent of evaluated points with gamma <= 1 (``nan`` if none was evaluated).
    n_evaluated, n_passed : int
        Points evaluated and points passing.
    dose_percent, distance_mm, threshold_percent, max_gamma : float
        Criteria used.
    local : bool
        Local (True) or global (False) dose difference.
    normalization_gy : float
        Dose the percentages refer to (global gamma and threshold).
    interp_fraction : int
        Search-lattice step is ``distance_mm / interp_fraction``.
    shape : tuple of int
        Shape of the reference as given (1D, 2D or 3D); :attr:`values` has this shape.
    """

    gamma_map: Image
    pass_rate: float
    n_evaluated: int
    n_passed: int
    dose_percent: float
    distance_mm: float
    threshold_percent: float
    local: bool
    normalization_gy: float
    max_gamma: float
    interp_fraction: int
    shape: tuple[int, ...]

    @property
    def values(self) -> FloatArray:
        """Gamma values with the shape of the reference as given (``nan`` = not evaluated)."""
        return np.asarray(self.gamma_map.array).reshape(self.shape)

    @property
    def mean_gamma(self) -> float:
        """Mean gamma over evaluated points."""
        v = self.gamma_map.array
        return float(np.nanmean(v)) if self.n_evaluated else math.nan

    def percentile(self, q: float) -> float:
        """Percentile ``q`` (0-100) of gamma over evaluated points."""
        v = self.gamma_map.array
        return float(np.nanpercentile(v, q)) if self.n_evaluated else math.nan

    def summary(self) -> str:
        """One line: criteria and pass rate."""
        kind = "local" if self.local else "global"
        return (
            f"gamma {self.dose_percent:g} %/{self.distance_mm:g} mm ({kind}, threshold "
            f"{self.threshold_percent:g} % of {self.normalization_gy:.4g} Gy): pass rate "
            f"{self.pass_rate:.2f} % ({self.n_passed}/{self.n_evaluated} points), "
            f"mean gamma {self.mean_gamma:.3f}"
        )

    def __repr__(self) -> str:
        return f"GammaResult({self.summary()})"


# ----------------------------------------------------------------------------- inputs
def _regular_axis(axis: npt.ArrayLike, n: int, what: str) -> tuple[float, float, bool]:
    a = np.asarray(axis, dtype=np.float64).ravel()
    if a.size != n:
        raise EvaluationError(f"{what}: an axis has {a.size} coordinates for {n} samples")
    if not np.all(np.isfinite(a)):
        raise EvaluationError(f"{what}: axis coordinates must be finite")
    if n == 1:
        return float(a[0]), 1.0, False
    d = np.diff(a)
    step = float(d.mean())
    if step == 0 or np.any(np.abs(d - step) > 1e-4 * abs(step) + 1e-6):
        raise EvaluationError(
            f"{what}: axis coordinates must be evenly spaced and strictly monotonic (mm)"
        )
    if step < 0:
        return float(a[-1]), -step, True
    return float(a[0]), step, False


def _as_volume(
    obj: Image | npt.ArrayLike, axes_mm: Sequence[npt.ArrayLike] | None, what: str
) -> tuple[FloatArray, Grid, tuple[int, ...]]:
    """A 3D float64 array (k, j, i) and its grid, plus the shape as given."""
    if isinstance(obj, Image):
        if axes_mm is not None:
            raise EvaluationError(f"{what}: axes_mm is only for numpy arrays (an Image has a grid)")
        arr = np.asarray(obj.array, dtype=np.float64)
        grid, shape = obj.grid, tuple(obj.grid.shape)
    else:
        arr = np.asarray(obj, dtype=np.float64)
        if arr.ndim not in (1, 2, 3):
            raise EvaluationError(f"{what}: a 1D, 2D or 3D array is needed, got {arr.ndim}D")
        if axes_mm is None or len(axes_mm) != arr.ndim:
            raise EvaluationError(
                f"{what}: a numpy array needs its coordinates: {arr.ndim} axes in mm, one per "
                "array axis (as for pymedphys.gamma)"
            )
        shape = arr.shape
        starts, steps = [], []
        for d, ax in enumerate(axes_mm):
            s0, st, flip = _regular_axis(ax, arr.shape[d], what)
            if flip:
                arr = np.flip(arr, axis=d)
            starts.append(s0)
            steps.append(st)
        pad = 3 - arr.ndim
        arr = arr.reshape((1,) * pad + arr.shape)
        starts = [0.0] * pad + starts
        steps = [1.0] * pad + steps
        grid = Grid(
            shape=(arr.shape[0], arr.shape[1], arr.shape[2]),
            spacing_mm=(steps[0], steps[1], steps[2]),
            origin_mm=(starts[2], starts[1], starts[0]),
        )
        # a decreasing axis was reversed above; gamma() flips its map back
    if not np.all(np.isfinite(arr)):
        raise EvaluationError(f"{what}: dose values must be finite")
    return np.ascontiguousarray(arr), grid, shape


def _flips(obj: Image | npt.ArrayLike, axes_mm: Sequence[npt.ArrayLike] | None) -> list[int]:
    if isinstance(obj, Image) or axes_mm is None:
        return []
    out = []
    for d, ax in enumerate(axes_mm):
        a = np.asarray(ax, dtype=np.float64).ravel()
        if a.size > 1 and a[-1] < a[0]:
            out.append(d)
    return out


# ----------------------------------------------------------------------------- lattice
@dataclass(frozen=True, slots=True)
class _Lattice:
    cell_start: IntArray
    cell_centre: FloatArray
    cell_r2: FloatArray
    half: FloatArray
    fine_off: FloatArray
    fine_r2: FloatArray
    rho_max_mm: float
    nmax2: float


@functools.lru_cache(maxsize=8)
def _lattice(
    step_mm: float,
    radius_mm: float,
    dta_mm: float,
    active: tuple[bool, bool, bool],
    spacing_ijk: tuple[float, float, float],
) -> _Lattice:
    """Search offsets within ``radius_mm`` on a cubic lattice, grouped in cubes, sorted.

    The same criteria and grid spacing give the same lattice, which is kept (its arrays
    are never written to).
    """
    nmax = math.floor(radius_mm / step_mm + 1e-9)
    rng = [np.arange(-nmax, nmax + 1) if a else np.zeros(1, dtype=np.int64) for a in active]
    count = np.prod([r.size for r in rng])
    if count > 8 * _MAX_LATTICE:
        raise EvaluationError(
            f"the gamma search lattice would hold about {count} points; lower max_gamma or "
            "interp_fraction"
        )
    ni, nj, nk = np.meshgrid(*rng, indexing="ij")
    n = np.stack([ni.ravel(), nj.ravel(), nk.ravel()], axis=1)
    r2_steps = (n**2).sum(axis=1)
    keep = r2_steps * step_mm**2 <= radius_mm**2 * (1 + 1e-12)
    n = n[keep]
    r2_steps = r2_steps[keep]
    if n.shape[0] > _MAX_LATTICE:
        raise EvaluationError(
            f"the gamma search lattice holds {n.shape[0]} points; lower max_gamma or "
            "interp_fraction"
        )
    half = _CUBE // 2
    q = np.floor((n + half) / _CUBE).astype(np.int64)  # cube of each node
    centre_n = q * _CUBE
    rho_steps = np.sqrt(((n - centre_n) ** 2).sum(axis=1))
    # cube id (cubes numbered in the lexicographic order of their indices), then order
    # cubes by their nearest node
    width = int(q.max() - q.min()) + 1 if q.size else 1
    key = ((q[:, 0] - q.min()) * width + (q[:, 1] - q.min())) * width + (q[:, 2] - q.min())
    _, cube_id = np.unique(key, return_inverse=True)
    cube_id = cube_id.ravel()
    ncube = int(cube_id.max()) + 1
    cube_rmin = np.full(ncube, np.inf)
    np.minimum.at(cube_rmin, cube_id, r2_steps.astype(np.float64))
    cube_rho = np.zeros(ncube)
    np.maximum.at(cube_rho, cube_id, rho_steps)
    cube_centre = np.zeros((ncube, 3), dtype=np.int64)
    cube_centre[cube_id] = centre_n
    cube_order = np.lexsort((np.arange(ncube), cube_rmin))
    rank = np.empty(ncube, dtype=np.int64)
    rank[cube_order] = np.arange(ncube)
    node_order = np.lexsort((np.arange(n.shape[0]), r2_steps, rank[cube_id]))
    n = n[node_order]
    r2_steps = r2_steps[node_order]
    counts = np.bincount(rank[cube_id], minlength=ncube)
    to_index = step_mm / np.asarray(spacing_ijk)  # lattice step in index units per axis
    return _Lattice(
        cell_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        cell_centre=np.ascontiguousarray(cube_centre[cube_order] * to_index),
        cell_r2=np.ascontiguousarray(cube_rmin[cube_order] * step_mm**2 / dta_mm**2),
        # a cube's nodes lie within _CUBE // 2 steps of its centre along each axis
        half=np.where(np.asarray(active), (_CUBE // 2) * to_index, 0.0),
        fine_off=np.ascontiguousarray(n * to_index),
        fine_r2=np.ascontiguousarray(r2_steps * step_mm**2 / dta_mm**2),
        rho_max_mm=float(cube_rho.max() * step_mm) if ncube else 0.0,
        nmax2=float(r2_steps.max()) if r2_steps.size else 0.0,
    )


# ----------------------------------------------------------------------------- gamma
def gamma(
    reference: Image | npt.ArrayLike,
    evaluated: Image | npt.ArrayLike,
    dose_percent: float = 3.0,
    distance_mm: float = 2.0,
    threshold_percent: float = 10.0,
    local: bool = False,
    *,
    normalization_gy: float | None = None,
    max_gamma: float = 2.0,
    interp_fraction: int = 10,
    stop_at_pass: bool = False,
    **axes_mm: Sequence[npt.ArrayLike],
) -> GammaResult:
    """Gamma index of an evaluated dose distribution against a reference.

    Parameters
    ----------
    reference, evaluated : rtplan.Dose, rtplan.Image or numpy.ndarray
        The distributions to compare, 1D, 2D or 3D. Images carry their grids, which may
        differ in spacing, extent and orientation; numpy arrays need their coordinates in
        ``reference_axes_mm`` / ``evaluated_axes_mm`` (one evenly spaced axis per array
        axis, mm, as for pymedphys.gamma). Both must be in the same unit (Gy or relative).
    dose_percent : float
        Dose-difference criterion, percent of the normalisation dose (global) or of the
        local reference dose (``local=True``).
    distance_mm : float
        Distance-to-agreement criterion, mm.
    threshold_percent : float
        Reference points below this percentage of the normalisation dose are not
        evaluated.
    local : bool
        Local instead of global dose difference.
    normalization_gy : float, optional
        Dose the percentages refer to; the reference maximum by default (as pymedphys).
    max_gamma : float
        Gamma is searched up to ``max_gamma * distance_mm`` and capped at this value (>= 1).
    interp_fraction : int
        Search-lattice step is ``distance_mm / interp_fraction`` (10 as in pymedphys).
    stop_at_pass : bool
        Stop each point's search once gamma <= 1 is found: faster, same pass rate, but the
        map then holds, for passing points, a value <= 1 rather than the minimum.
    **axes_mm : sequence of array_like
        ``reference_axes_mm=`` and ``evaluated_axes_mm=``: the coordinates of numpy-array
        inputs (keyword only; no other name is accepted).

    Returns
    -------
    GammaResult
        ``pass_rate`` (percent) and ``gamma_map`` (an Image on the reference grid).

    Raises
    ------
    EvaluationError
        For invalid criteria, non-finite doses, missing or uneven coordinates, or an
        evaluated distribution of another dimensionality.
    TypeError
        For a keyword argument other than those above.

    Warns
    -----
    RtplanWarning
        When reference points above the threshold lie out of reach of the evaluated grid.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(-50.0, 50.5, 1.0)
    >>> ref = 100 * np.exp(-(x / 30) ** 2)
    >>> res = gamma(ref, np.roll(ref, 1), 3, 3, 10, reference_axes_mm=[x],
    ...             evaluated_axes_mm=[x])
    >>> float(res.pass_rate)
    100.0
    """
    unknown = sorted(set(axes_mm) - {"reference_axes_mm", "evaluated_axes_mm"})
    if unknown:
        raise TypeError(f"gamma() got an unexpected keyword argument {unknown[0]!r}")
    crit = _Criteria.checked(
        dose_percent, distance_mm, threshold_percent, max_gamma, interp_fraction, local=local
    )
    ref_axes = axes_mm.get("reference_axes_mm")
    ref, g_ref, shape = _as_volume(reference, ref_axes, "reference")
    ev, g_ev, shape_ev = _as_volume(evaluated, axes_mm.get("evaluated_axes_mm"), "evaluated")
    if (
        not isinstance(reference, Image)
        and not isinstance(evaluated, Image)
        and len(shape) != len(shape_ev)
    ):
        raise EvaluationError(
            f"reference is {len(shape)}D but evaluated is {len(shape_ev)}D; compare "
            "distributions of the same dimensionality"
        )
    norm = float(np.max(ref)) if normalization_gy is None else float(normalization_gy)
    if not (math.isfinite(norm) and norm > 0):
        raise EvaluationError(
            f"normalisation dose must be positive, got {norm!r} (reference maximum when "
            "normalization_gy is not given)"
        )
    cutoff = crit.threshold_percent / 100.0 * norm
    sel = np.flatnonzero((ref >= cutoff).ravel() & (ref.ravel() > 0 if local else True))
    g = _search(ref, g_ref, ev, g_ev, sel, crit, norm, stop_at_pass=stop_at_pass)
    full = np.full(ref.size, np.nan)
    full[sel] = g
    gmap3 = full.reshape(ref.shape)
    flips = _flips(reference, ref_axes)
    if flips:  # back to the orientation of the reference as given
        as_given = gmap3.reshape(shape)
        as_given = np.flip(as_given, axis=tuple(flips))
        gmap3 = np.ascontiguousarray(as_given).reshape(ref.shape)
        g_ref = _grid_as_given(g_ref, ref_axes, shape)
    evaluated_n = int(np.count_nonzero(~np.isnan(g)))
    passed = int(np.count_nonzero(g <= 1.0))
    rate = 100.0 * passed / evaluated_n if evaluated_n else math.nan
    logger.info(
        "gamma %g%%/%gmm: %d points, pass rate %.2f%%",
        crit.dose_percent, crit.distance_mm, evaluated_n, rate,
    )  # fmt: skip
    return GammaResult(
        gamma_map=Image(array=gmap3, grid=g_ref, units="1", name="gamma"),
        pass_rate=rate,
        n_evaluated=evaluated_n,
        n_passed=passed,
        dose_percent=crit.dose_percent,
        distance_mm=crit.distance_mm,
        threshold_percent=crit.threshold_percent,
        local=crit.local,
        normalization_gy=norm,
        max_gamma=crit.max_gamma,
        interp_fraction=crit.interp_fraction,
        shape=tuple(int(s) for s in shape),
    )


@dataclass(frozen=True, slots=True)
class _Criteria:
    """The checked criteria and search settings of one gamma evaluation."""

    dose_percent: float
    distance_mm: float
    threshold_percent: float
    max_gamma: float
    interp_fraction: int
    local: bool

    @classmethod
    def checked(
        cls,
        dose_percent: float,
        distance_mm: float,
        threshold_percent: float,
        max_gamma: float,
        interp_fraction: int,
        *,
        local: bool,
    ) -> _Criteria:
        """Validate the arguments of :func:`gamma`.

        Raises
        ------
        EvaluationError
            For a criterion out of its range.
        """
        dp = finite_positive(dose_percent, "dose_percent")
        dta = finite_positive(distance_mm, "distance_mm")
        thr = float(threshold_percent)
        if not (math.isfinite(thr) and thr >= 0):
            raise EvaluationError(f"threshold_percent must be >= 0, got {threshold_percent!r}")
        cap = float(max_gamma)
        if not (math.isfinite(cap) and cap >= 1.0):
            raise EvaluationError(f"max_gamma must be a finite number >= 1, got {max_gamma!r}")
        if int(interp_fraction) != interp_fraction or int(interp_fraction) < 1:
            raise EvaluationError(
                f"interp_fraction must be an integer >= 1, got {interp_fraction!r}"
            )
        return cls(dp, dta, thr, cap, int(interp_fraction), bool(local))


def _search(
    ref: FloatArray,
    g_ref: Grid,
    ev: FloatArray,
    g_ev: Grid,
    sel: IntArray,
    crit: _Criteria,
    norm: float,
    *,
    stop_at_pass: bool,
) -> FloatArray:
    """Gamma of the reference points ``sel`` (flat indices), ``nan`` where out of reach."""
    dta = crit.distance_mm
    # reference (i, j, k) -> evaluated-grid continuous indices, by one affine map
    to_ev = np.ascontiguousarray((np.linalg.inv(g_ev.affine) @ g_ref.affine)[:3])
    sp_ev = np.ascontiguousarray(g_ev.spacing_ijk_mm, dtype=np.float64)
    active = tuple(bool(n > 1) for n in g_ev.shape_ijk)
    radius = crit.max_gamma * dta
    lat = _lattice(
        dta / crit.interp_fraction,
        radius,
        dta,
        (active[0], active[1], active[2]),
        (float(sp_ev[0]), float(sp_ev[1]), float(sp_ev[2])),
    )
    # voxels (k, j, i) either side of a point that the dose bounds of its search reach
    reach_mm = radius + lat.rho_max_mm
    window = np.array(
        [
            math.ceil(reach_mm / s) + 2 if n > 1 else 0
            for s, n in zip(sp_ev[::-1], ev.shape, strict=True)
        ],
        dtype=np.int64,
    )
    out = np.empty(sel.size)
    if sel.size:
        gamma_points(
            ev,
            ref,
            np.ascontiguousarray(sel, dtype=np.int64),
            to_ev,
            crit.dose_percent / 100.0,
            norm,
            crit.local,
            lat.cell_start,
            lat.cell_centre,
            lat.cell_r2,
            lat.half,
            lat.fine_off,
            lat.fine_r2,
            window,
            sp_ev,
            1.0 / dta**2,
            radius,
            crit.max_gamma * crit.max_gamma,
            bool(stop_at_pass),
            4 * n_threads(),
            out,
        )
    g = np.sqrt(out)
    g[~np.isfinite(g)] = np.nan
    unreached = int(np.count_nonzero(np.isnan(g)))
    if unreached:
        warn(
            f"gamma: {unreached} of {sel.size} reference points above the threshold lie "
            f"further than {radius:g} mm (max_gamma x distance_mm) from the evaluated grid "
            "and were left out of the pass rate"
        )
    return np.asarray(g)


def _grid_as_given(
    grid: Grid, axes_mm: Sequence[npt.ArrayLike] | None, shape: tuple[int, ...]
) -> Grid:
    """Grid of a numpy input in its given axis order, with negative steps as directions."""
    assert axes_mm is not None
    pad = 3 - len(shape)
    origin: list[float] = [0.0] * pad
    signs: list[float] = [1.0] * pad
    steps: list[float] = [1.0] * pad
    for ax in axes_mm:
        a = np.asarray(ax, dtype=np.float64).ravel()
        origin.append(float(a[0]))
        if a.size > 1:
            signs.append(1.0 if a[1] > a[0] else -1.0)
            steps.append(abs(float(a[1] - a[0])))
        else:
            signs.append(1.0)
            steps.append(1.0)
    direction = np.diag([signs[2], signs[1], signs[0]])
    kw: dict[str, Any] = {"direction": direction}
    return Grid(
        shape=grid.shape,
        spacing_mm=(steps[0], steps[1], steps[2]),
        origin_mm=(origin[2], origin[1], origin[0]),
        **kw,
    )
