"""Fluence optimisation, segment-weight refinement and the inverse-planning flow.

:class:`DoseProblem` binds objectives (:mod:`rtplan.planning._objectives`) to the rows
of a dose matrix (bixels' or segments' dose per MU at the voxels that matter) and gives
the objective and its exact gradient, ``fractions A^T dF/dd``; :func:`optimize_weights`
minimises it with scipy's L-BFGS-B under bounds (deterministic: no random start, a
fixed iteration limit), keeping a convergence log.

:func:`inverse_plan` runs the whole flow:

1. bixels per beam and the pencil-beam influence matrix on the voxels of the goals'
   structures and of the normal tissue within ``nto_distance_mm`` of the target
   (:mod:`rtplan.planning._influence`);
2. fluence optimisation from a uniform start scaled to the prescription, the hard
   constraints enforced by the method of multipliers (:func:`optimize_weights`); goals
   not met with ``room_percent`` to spare (measured as the goal table measures them)
   are aimed further by their shortfall, their weight doubled, and the optimisation goes
   on from where it stopped (warm start), up to ``rounds`` times;
3. leaf sequencing of each beam's map into step-and-shoot segments
   (:mod:`rtplan.planning._sequencing`);
4. refinement of the segment MU (at least ``min_mu`` each), the same objectives, on
   each segment's dose as the sum of the bixels it opens (those it closes inside the
   jaws at the MLC's transmission); the engine's dose of the refined plan then corrects
   that model (its difference at the voxels held fixed) and the MU are refined again,
   and again from the engine's dose of the new plan while a goal is not met on it
   (up to ``corrections`` engine doses; ``engine_segments=True``:
   on one engine dose per segment instead, exact and slow);
5. the final dose of the plan on the whole CT from ``engine`` and the goals evaluated on
   it, beside the optimiser's own values (:attr:`InversePlan.comparison`), and the gamma
   index of the delivered dose against the optimiser's (:attr:`InversePlan.gamma`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan.enum import Engine, Normalization
from rtplan.errors import PlanError
from rtplan.image import PatientPosition
from rtplan.plan import Beam, Plan
from rtplan.planning._conformal import BeamTemplate
from rtplan.planning._influence import BeamBixels, InfluenceMatrix, beam_bixels, influence_matrix
from rtplan.planning._modulation import Modulation, leaf_differences
from rtplan.planning._objectives import Objective, objectives_from_goals
from rtplan.planning._sequencing import SequencedBeam, sequence_beam

if TYPE_CHECKING:
    import scipy.sparse

    from rtplan.dose import DoseEngine, DoseSetup, PlanDose
    from rtplan.evaluate import ClinicalGoal, GammaResult, GoalTable
    from rtplan.image import Image
    from rtplan.structures import Structure

__all__ = [
    "ConstraintResult",
    "DoseProblem",
    "GoalComparison",
    "InverseOptions",
    "InversePlan",
    "OptimizationResult",
    "inverse_plan",
    "optimize_weights",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_DENSE_ABOVE = 0.2
"""A sparse dose matrix fuller than this is multiplied dense."""
_DENSE_MAX_ENTRIES = 200_000_000
"""... when it has at most this many entries (800 MB in float32)."""

Rows = Any
"""Where an objective reads the dose: row indices, or a sparse sampling matrix."""

GOAL_WEIGHT = 10.0
"""Weight of the goals' objectives (the target's dose floor has 0.1, the normal tissue 0.3)."""

NTO_NAME = "NormalTissue"
"""Structure name of the normal-tissue objective's voxels."""

GAMMA_CRITERIA = ((3.0, 3.0), (2.0, 2.0))
"""(dose %, distance mm) of the gammas of the delivered dose against the optimiser's:
global, of the optimiser's maximum, points below 10 % of it left out."""
GAMMA_THRESHOLD_PERCENT = 10.0


class DoseProblem:
    """Weighted objectives on the doses ``fractions * (A @ x)`` at a set of voxels.

    Parameters
    ----------
    matrix : scipy.sparse matrix or numpy.ndarray, shape (n_voxels, n_variables)
        Dose per fraction per unit variable (Gy per MU).
    fractions : int
        Number of fractions: objectives see the whole plan's dose.
    terms : sequence of (Objective, rows)
        Each objective with where it reads the dose: the matrix rows of its structure's
        voxels (numpy.ndarray of int), or a sparse matrix (n_points, n_voxels) that
        interpolates the voxel doses at points filling the structure (as DVHs sample it).
    offset_gy : numpy.ndarray, shape (n_voxels,), optional
        Dose per fraction added at the voxels whatever the variables (a correction of
        the matrix's model by an engine's dose), Gy.
    regularizer : Modulation, optional
        A penalty of the variables themselves (the fluence's modulation, or the MU),
        added to the objective.

    Objectives made with ``hard=True`` are constraints, not terms of the objective:
    :meth:`value_and_gradient` leaves them out, :func:`optimize_weights` enforces them
    (:meth:`constraint_points` gives where they read the dose).

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.planning import DoseProblem, Objective
    >>> a = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> p = DoseProblem(a, 1, [(Objective(structure="T", kind="min", dose_gy=2.0),
    ...                        np.array([0, 1]))])
    >>> value, grad = p.value_and_gradient(np.array([1.0, 1.0]))
    >>> value, grad.tolist()  # voxel 0 lacks 1 Gy of 2: (1 / 2)^2 / 2
    (0.125, [-0.25, 0.0])
    """

    def __init__(
        self,
        matrix: scipy.sparse.spmatrix | FloatArray,
        fractions: int,
        terms: Sequence[tuple[Objective, Rows]],
        offset_gy: FloatArray | None = None,
        regularizer: Modulation | None = None,
    ) -> None:
        import scipy.sparse

        if scipy.sparse.issparse(matrix):
            sparse: Any = matrix
            size = sparse.shape[0] * sparse.shape[1]
            if sparse.nnz > _DENSE_ABOVE * size and size <= _DENSE_MAX_ENTRIES:
                # a matrix this full multiplies faster dense (BLAS) than sparse
                matrix = np.ascontiguousarray(sparse.toarray())
        self.matrix = matrix
        self.fractions = int(fractions)
        self.terms = list(terms)
        self._term_transposes = [
            scipy.sparse.csr_matrix(rows.T) if scipy.sparse.issparse(rows) else None
            for _, rows in self.terms
        ]
        self.hard = [k for k, (o, _) in enumerate(self.terms) if o.hard]
        self.regularizer = regularizer
        self.n_variables = int(matrix.shape[1])
        self.offset_gy = None if offset_gy is None else np.asarray(offset_gy, dtype=np.float64)
        # products in the matrix's own precision (float32 sparse: no upcast copy per call)
        self._dtype = matrix.dtype
        self._transpose = (
            scipy.sparse.csr_matrix(matrix.T) if scipy.sparse.issparse(matrix) else matrix.T
        )

    def dose(self, x: FloatArray) -> FloatArray:
        """Whole-plan dose at the voxels, Gy."""
        xs = np.asarray(x, dtype=self._dtype)
        d = np.asarray(self.matrix @ xs, dtype=np.float64)
        if self.offset_gy is not None:
            d = d + self.offset_gy
        return d * self.fractions

    def points(self, k: int, d: FloatArray) -> FloatArray:
        """The dose where term ``k`` reads it, from the voxel doses ``d`` (Gy)."""
        rows = self.terms[k][1]
        return np.asarray(d[rows]) if self._term_transposes[k] is None else np.asarray(rows @ d)

    def spread(self, k: int, g: FloatArray, size: int) -> FloatArray:
        """A gradient at term ``k``'s points as a gradient at the voxels (adjoint of points)."""
        rows_t = self._term_transposes[k]
        if rows_t is None:
            return np.bincount(self.terms[k][1], weights=g, minlength=size).astype(np.float64)
        return np.asarray(rows_t @ g)

    def voxel_value_and_gradient(self, d: FloatArray) -> tuple[float, FloatArray]:
        """The weighted objectives (hard ones left out) and their gradient at voxel doses."""
        grad_d = np.zeros_like(d)
        total = 0.0
        for k, (objective, _) in enumerate(self.terms):
            if objective.hard:
                continue
            value, g = objective.value_and_gradient(self.points(k, d))
            grad_d += self.spread(k, g, d.size)
            total += value
        return total, grad_d

    def pull_back(self, grad_d: FloatArray) -> FloatArray:
        """A gradient with respect to the voxel doses as one with respect to the variables."""
        gd = np.asarray(grad_d, dtype=self._dtype)
        return np.asarray(self._transpose @ gd, dtype=np.float64) * self.fractions

    def value_and_gradient(self, x: FloatArray) -> tuple[float, FloatArray]:
        """The objective and its gradient with respect to the variables (hard terms left out)."""
        xs = np.asarray(x, dtype=np.float64)
        total, grad_d = self.voxel_value_and_gradient(self.dose(xs))
        grad = self.pull_back(grad_d)
        if self.regularizer is not None:
            value, g = self.regularizer.value_and_gradient(xs)
            total += value
            grad = grad + g
        return total, grad

    def with_terms(self, terms: Sequence[tuple[Objective, Rows]]) -> DoseProblem:
        """The same dose matrix (and offset, and regulariser) with other objectives."""
        return DoseProblem(self.matrix, self.fractions, terms, self.offset_gy, self.regularizer)


def _single_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS limited to one thread while the optimiser runs.

    Each iteration makes a few small products (a dense matrix-vector product of a few
    milliseconds, L-BFGS-B's updates): BLAS threads waking for each cost more than they
    save, many times more on a shared machine, and one thread keeps the sums' order, so
    the results are the same on every machine. Without threadpoolctl, BLAS is left as it is.
    """
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn's stack
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(limits=1, user_api="blas")
    return limits


@dataclass(frozen=True, kw_only=True, slots=True)
class ConstraintResult:
    """A hard constraint as the optimiser left it.

    Attributes
    ----------
    structure : str
    kind : str
        The objective's kind (``"max"``, ``"dvh_max"``...).
    limit_gy : float
        The level the constraint holds, Gy (for ``"limit"``: the reference dose; the
        values are then relative to each point's own limit).
    value_gy : float
        The constrained quantity at the result, Gy: the largest dose of a ``"max"``, the
        smallest of a ``"min"``, the mean, the gEUD, or ``D_v`` of the DVH kinds (the
        dose of the point that the DVH selection holds at the level).
    violation_percent : float
        How far it is beyond the limit, percent of the limit (0 when met).
    satisfied : bool
        Met within the optimiser's tolerance.
    goal : str
        The goal's text, or ``""``.
    """

    structure: str
    kind: str
    limit_gy: float
    value_gy: float
    violation_percent: float
    satisfied: bool
    goal: str = ""

    def __str__(self) -> str:
        name = self.goal or f"{self.structure} {self.kind} {self.limit_gy:.4g} Gy"
        state = "met" if self.satisfied else f"{self.violation_percent:.2f} % beyond the limit"
        return f"{name}: {self.value_gy:.4g} Gy ({state})"


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class OptimizationResult:
    """The outcome of :func:`optimize_weights`.

    Attributes
    ----------
    weights : numpy.ndarray, shape (n_variables,)
        Optimal variables (MU per fraction).
    objective : float
        Objective at ``weights`` (the weighted objectives and the regulariser; the hard
        constraints are not part of it).
    iterations : int
        L-BFGS-B iterations (all outer iterations together).
    history : tuple of (int, float)
        Convergence log: (iteration, objective) after each iteration.
    converged : bool
        Whether L-BFGS-B met its tolerance before the iteration limit (its last run).
    message : str
        L-BFGS-B's message.
    seconds : float
        Wall time.
    constraints : tuple of ConstraintResult
        The hard constraints at the result (empty without any).
    outer_iterations : int
        Outer iterations of the method of multipliers (0 without hard constraints).
    multipliers : tuple of numpy.ndarray
        The Lagrange multipliers of the hard constraints at the result, one array per hard
        term (a warm start for a next optimisation of the same terms).
    """

    weights: FloatArray
    objective: float
    iterations: int
    history: tuple[tuple[int, float], ...]
    converged: bool
    message: str
    seconds: float
    constraints: tuple[ConstraintResult, ...] = ()
    outer_iterations: int = 0
    multipliers: tuple[FloatArray, ...] = ()

    @property
    def feasible(self) -> bool:
        """Whether every hard constraint is met within the tolerance (True without any)."""
        return all(c.satisfied for c in self.constraints)


CONSTRAINT_TOLERANCE = 0.005
"""Default tolerance of the hard constraints: 0.5 % of each limit."""

_PENALTY_START = 100.0
"""First penalty parameter of the method of multipliers (constraints are relative)."""
_PENALTY_GROWTH = 10.0
_PENALTY_MAX = 1e10
_MAX_OUTER = 14


class _Multipliers:
    """The augmented Lagrangian of a problem's hard constraints (Powell-Hestenes-Rockafellar).

    For constraints ``g_i(x) <= 0``, multipliers ``lambda_i >= 0`` and a penalty ``mu``::

        L(x) = f(x) + sum_i (max(0, lambda_i + mu g_i)^2 - lambda_i^2) / (2 mu)

    with gradient ``grad f + sum_i max(0, lambda_i + mu g_i) grad g_i``; after each inner
    minimisation ``lambda_i <- max(0, lambda_i + mu g_i)`` (Nocedal & Wright, Numerical
    Optimization, 2nd ed., 17.4). The DVH constraints' selections are held fixed within
    an inner minimisation.
    """

    def __init__(self, problem: DoseProblem, start: Sequence[FloatArray] = ()) -> None:
        self.problem = problem
        self.hard = problem.hard
        self.mu = _PENALTY_START
        self.selections: list[npt.NDArray[np.bool_]] = []
        self.lam: list[FloatArray] = [np.asarray(a, dtype=np.float64).copy() for a in start]

    def select(self, x: FloatArray) -> None:
        """The DVH selections at ``x``; multipliers of released points are dropped."""
        d = self.problem.dose(x)
        self.selections = []
        for n, k in enumerate(self.hard):
            objective = self.problem.terms[k][0]
            pts = self.problem.points(k, d)
            sel = objective.constraint_selection(pts)
            self.selections.append(sel)
            size = 1 if objective.kind in ("mean_min", "mean_max", "geud_max") else pts.size
            if len(self.lam) <= n:
                self.lam.append(np.zeros(size))
            elif self.lam[n].size != size:
                self.lam[n] = np.zeros(size)
            if size == pts.size:
                self.lam[n][~sel] = 0.0

    def values(self, x: FloatArray, *, fresh: bool = False) -> list[FloatArray]:
        """The constraint values at ``x`` (with the held selections, or fresh ones)."""
        d = self.problem.dose(x)
        out = []
        for n, k in enumerate(self.hard):
            objective = self.problem.terms[k][0]
            sel = None if fresh else self.selections[n]
            out.append(objective.constraint_values(self.problem.points(k, d), sel))
        return out

    def penalty_and_gradient(self, d: FloatArray) -> tuple[float, FloatArray]:
        """The multipliers' terms of ``L`` and their gradient at the voxel doses ``d``."""
        total = 0.0
        grad_d = np.zeros_like(d)
        for n, k in enumerate(self.hard):
            objective = self.problem.terms[k][0]
            pts = self.problem.points(k, d)
            g = objective.constraint_values(pts, self.selections[n])
            lam = self.lam[n]
            with np.errstate(invalid="ignore"):
                t = np.where(np.isfinite(g), np.maximum(0.0, lam + self.mu * g), 0.0)
            total += float(np.sum(t * t - lam * lam)) / (2.0 * self.mu)
            if np.any(t > 0):
                grad_d += self.problem.spread(k, objective.constraint_vjp(pts, t), d.size)
        return total, grad_d

    def update(self, x: FloatArray) -> float:
        """The multipliers' step at ``x``; returns the largest violation (relative)."""
        worst = 0.0
        for n, g in enumerate(self.values(x)):
            finite = np.isfinite(g)
            self.lam[n] = np.where(finite, np.maximum(0.0, self.lam[n] + self.mu * g), 0.0)
            if np.any(finite):
                worst = max(worst, float(np.max(g[finite])))
        return worst

    def violation(self, x: FloatArray) -> float:
        """The largest violation at ``x`` with fresh DVH selections (relative)."""
        worst = -math.inf
        for g in self.values(x, fresh=True):
            finite = g[np.isfinite(g)]
            if finite.size:
                worst = max(worst, float(np.max(finite)))
        return worst

    def report(self, x: FloatArray, tolerance: float) -> tuple[ConstraintResult, ...]:
        """Each hard constraint at ``x``, with fresh DVH selections."""
        out = []
        for k, g in zip(self.hard, self.values(x, fresh=True), strict=True):
            objective = self.problem.terms[k][0]
            finite = g[np.isfinite(g)]
            worst = float(np.max(finite)) if finite.size else -1.0
            ref = objective.dose_gy
            value = ref * (1.0 + worst) if objective.upper else ref * (1.0 - worst)
            out.append(
                ConstraintResult(
                    structure=objective.structure,
                    kind=objective.kind,
                    limit_gy=ref,
                    value_gy=value,
                    violation_percent=100.0 * max(worst, 0.0),
                    satisfied=worst <= tolerance,
                    goal=objective.goal.text if objective.goal is not None else "",
                )
            )
        return tuple(out)


def _outer_loop(
    al: _Multipliers,
    run: Callable[[FloatArray], Any],
    x: FloatArray,
    constraint_tolerance: float,
    label: str,
) -> tuple[FloatArray, int, int, Any]:
    """The method of multipliers' outer iterations: (x, iterations, outer iterations, last run)."""
    previous = math.inf
    nit = 0
    outer = 0
    res: Any = None
    for outer in range(1, _MAX_OUTER + 1):
        al.select(x)
        res = run(x)
        x = np.asarray(res.x, dtype=np.float64)
        nit += int(res.nit)
        worst = al.update(x)
        logger.info(
            "%s optimisation: outer iteration %d, penalty %.3g, largest constraint "
            "violation %.3g %%", label, outer, al.mu, 100.0 * max(worst, 0.0),
        )  # fmt: skip
        if worst <= constraint_tolerance and al.violation(x) <= constraint_tolerance:
            break  # met, also with the DVH selections made again
        if worst > 0.25 * previous:
            al.mu = min(al.mu * _PENALTY_GROWTH, _PENALTY_MAX)
        previous = worst
    return x, nit, outer, res


def optimize_weights(
    problem: DoseProblem,
    x0: npt.ArrayLike,
    *,
    lower: float | npt.ArrayLike = 0.0,
    upper: float | None = None,
    max_iterations: int = 200,
    tolerance: float = 1e-7,
    constraint_tolerance: float = CONSTRAINT_TOLERANCE,
    multipliers: Sequence[FloatArray] = (),
    label: str = "fluence",
) -> OptimizationResult:
    """Minimise a :class:`DoseProblem` with L-BFGS-B and analytic gradients.

    Hard constraints (objectives made with ``hard=True``) are enforced by the method of
    multipliers (augmented Lagrangian) around L-BFGS-B: each outer iteration minimises
    the objective plus the constraints' multiplier terms (their DVH selections held
    fixed), then updates the multipliers, raises the penalty tenfold when the largest
    violation has not fallen to a quarter, and makes the DVH selections again; it stops
    when every constraint is within ``constraint_tolerance`` of its limit. If they are
    not after the outer iterations, the result says so (:attr:`OptimizationResult.feasible`,
    :attr:`OptimizationResult.constraints`, with the values reached) and a warning is logged.

    Parameters
    ----------
    problem : DoseProblem
    x0 : array_like, shape (n_variables,)
        Start (a warm start: an earlier result's weights).
    lower : float or array_like
        Lower bound of the variables (0: no negative fluence; a segment's least MU).
    upper : float, optional
        Upper bound.
    max_iterations : int
        Iteration limit (per outer iteration when there are hard constraints).
    tolerance : float
        Relative reduction of the objective at which L-BFGS-B stops (``ftol``).
    constraint_tolerance : float
        A hard constraint is met when it is at most this share of its limit beyond it
        (0.005: 0.5 %).
    multipliers : sequence of numpy.ndarray
        Multipliers to start from (an earlier result's, for the same hard terms).
    label : str
        Name in the log lines.

    Returns
    -------
    OptimizationResult

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.planning import DoseProblem, Objective, optimize_weights
    >>> a = np.array([[1.0, 0.5], [0.5, 1.0]])
    >>> terms = [(Objective(structure="T", kind="min", dose_gy=3.0), np.array([0, 1])),
    ...          (Objective(structure="T", kind="max", dose_gy=3.0), np.array([0, 1]))]
    >>> res = optimize_weights(DoseProblem(a, 1, terms), np.zeros(2))
    >>> np.round(a @ res.weights, 3).tolist()
    [3.0, 3.0]

    A hard limit of 2.5 on the second voxel, which the penalties alone would exceed:

    >>> hard = terms + [(Objective(structure="O", kind="max", dose_gy=2.5, hard=True),
    ...                  np.array([1]))]
    >>> res = optimize_weights(DoseProblem(a, 1, hard), np.zeros(2))
    >>> res.feasible, bool((a @ res.weights)[1] <= 2.5 * 1.005)
    (True, True)
    """
    from scipy.optimize import minimize

    n = problem.n_variables
    lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,))
    x_start = np.maximum(np.asarray(x0, dtype=np.float64), lo)
    if upper is not None:
        x_start = np.minimum(x_start, upper)
    bounds = [(float(a), upper) for a in lo]
    history: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    last = {"f": math.nan}

    # L-BFGS-B's stopping test is relative to max(|f|, 1): the objective is scaled to
    # 1 at the start so that the tolerance means the same for every problem
    with _single_blas_thread():
        f0, _ = problem.value_and_gradient(x_start)
    scale = 1.0 / f0 if f0 > 0 else 1.0
    al = _Multipliers(problem, multipliers) if problem.hard else None

    def fun(x: FloatArray) -> tuple[float, FloatArray]:
        xs = np.asarray(x, dtype=np.float64)
        d = problem.dose(xs)
        f, grad_d = problem.voxel_value_and_gradient(d)
        last["f"] = f
        value = f * scale
        if al is not None:
            p, grad_p = al.penalty_and_gradient(d)
            value += p
            grad_d = grad_d * scale + grad_p
        else:
            grad_d = grad_d * scale
        grad = problem.pull_back(grad_d)
        if problem.regularizer is not None:
            r, g = problem.regularizer.value_and_gradient(xs)
            last["f"] += r
            value += r * scale
            grad = grad + g * scale
        return value, grad

    def callback(xk: FloatArray) -> None:
        history.append((len(history) + 1, float(last["f"])))
        if len(history) % 25 == 0:
            logger.info("%s optimisation: iteration %d, objective %.6g", label, *history[-1])

    def run(x: FloatArray) -> Any:
        return minimize(fun, x, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
                        options={"maxiter": int(max_iterations), "ftol": tolerance,
                                 "gtol": 1e-12})  # fmt: skip

    with _single_blas_thread():
        if al is None:
            res = run(x_start)
            x, nit, outer = np.asarray(res.x, dtype=np.float64), int(res.nit), 0
        else:
            x, nit, outer, res = _outer_loop(al, run, x_start, constraint_tolerance, label)
        final, _ = problem.value_and_gradient(x)
        report = al.report(x, constraint_tolerance) if al is not None else ()
    seconds = time.perf_counter() - t0
    logger.info(
        "%s optimisation: %d iterations, objective %.6g, %s (%.2f s)",
        label, nit, final, res.message, seconds,
    )  # fmt: skip
    for c in report:
        if not c.satisfied:
            logger.warning("%s optimisation: hard constraint not met: %s", label, c)
    return OptimizationResult(
        weights=x,
        objective=float(final),
        iterations=nit,
        history=tuple(history),
        converged=bool(res.success),
        message=str(res.message),
        seconds=seconds,
        constraints=report,
        outer_iterations=outer,
        multipliers=tuple(al.lam) if al is not None else (),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class GoalComparison:
    """One goal measured on the optimiser's dose and on the delivered plan's.

    Values are in the goal's unit, measured by :func:`rtplan.evaluate.evaluate_goals` on
    both doses (the optimiser's is known at the voxels of the structures and of the normal
    tissue around the target), so that they compare like with like.

    Attributes
    ----------
    goal : str
    optimized : float
        On the fluence optimiser's dose (bixels, before sequencing).
    delivered : float
        On the final dose of the sequenced plan from the engine.
    """

    goal: str
    optimized: float
    delivered: float

    @property
    def difference_percent(self) -> float:
        """``100 (delivered - optimized) / optimized`` (NaN when optimized is 0)."""
        if self.optimized == 0:
            return math.nan
        return 100.0 * (self.delivered - self.optimized) / abs(self.optimized)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class InversePlan:
    """The result of :func:`inverse_plan`.

    Attributes
    ----------
    plan : Plan
        The step-and-shoot plan: MU per fraction set, segments per beam.
    plan_dose : PlanDose
        Its dose on the whole CT from the final engine (``plan_dose.dose``, Gy).
    goals : GoalTable
        The clinical goals evaluated on that dose.
    influence : InfluenceMatrix
        Bixels and their dose-influence matrix.
    fluence : OptimizationResult
        The fluence optimisation (bixel MU), its last round.
    refinement : OptimizationResult
        The segment-MU refinement.
    sequenced : tuple of SequencedBeam
        Each beam's fluence map and segments.
    objectives : tuple of Objective
        The objectives as last aimed (dose levels and weights after the rounds).
    comparison : tuple of GoalComparison
        Each goal on the optimiser's and on the delivered dose.
    gamma : tuple of GammaResult
        The delivered dose (evaluated) against the optimiser's dose of the optimal fluence
        (reference: known at the voxels of the structures and of the normal tissue around
        the target, zero elsewhere), global 3 %/3 mm then 2 %/2 mm, points below 10 % of
        the optimiser's maximum left out.
    timings : dict of str to float
        Wall seconds per stage (``"influence"``, ``"fluence"``, ``"sequencing"``,
        ``"refinement"``, ``"final_dose"``, ``"gamma"``), and the process's CPU seconds of
        each (``"influence_cpu"``...: all its threads).
    constraint_goals : tuple of ClinicalGoal
        The hard constraints as goals (also in :attr:`goals`, after the goals); how the
        optimiser met them: ``fluence.constraints`` and ``refinement.constraints``.
    """

    plan: Plan
    plan_dose: PlanDose
    goals: GoalTable
    influence: InfluenceMatrix
    fluence: OptimizationResult
    refinement: OptimizationResult
    sequenced: tuple[SequencedBeam, ...]
    objectives: tuple[Objective, ...]
    comparison: tuple[GoalComparison, ...]
    gamma: tuple[GammaResult, ...]
    timings: dict[str, float]
    constraint_goals: tuple[ClinicalGoal, ...] = ()

    @property
    def n_segments(self) -> int:
        """Segments of the plan."""
        return sum(len(b.segments) for b in self.plan.beams)


def _lookup(structures: Iterable[Structure], name: str) -> Structure:
    items = list(structures)
    for s in items:
        if s.name == name:
            return s
    for s in items:
        if s.name.lower() == name.lower():
            return s
    raise PlanError(
        f"no structure named {name!r} for the goals; there are "
        f"{', '.join(repr(s.name) for s in items) or 'none'}"
    )


def _nto_limits(
    setup: DoseSetup, target_mask: npt.NDArray[np.bool_], distance_mm: float, rx: float
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Normal tissue near the target and its dose limit, falling off with the distance.

    The limit is ``rx (0.4 + 0.65 exp(-r / 15 mm))``: 105 % at the target's edge, 73 % at
    1 cm, 50 % at 3 cm.
    """
    from rtplan.geometry import distance_map

    dist = distance_map(target_mask, setup.grid.spacing_mm)
    region = setup.body & ~target_mask & (dist <= distance_mm)
    limit = rx * (0.4 + 0.65 * np.exp(-dist / 15.0))
    return region, np.asarray(limit)


def _aims(objectives: Sequence[Objective], aim_percent: float) -> list[Objective]:
    """The objectives aimed ``aim_percent`` inside their limits (a planning margin)."""
    out = []
    for o in objectives:
        if o.goal is None or o.kind == "limit" or o.hard:
            out.append(o)
            continue
        lower_bound = o.kind in ("min", "mean_min", "dvh_min")
        factor = 1.0 + aim_percent / 100.0 if lower_bound else 1.0 - aim_percent / 100.0
        out.append(dataclasses.replace(o, dose_gy=o.dose_gy * factor))
    return out


@dataclass(frozen=True, kw_only=True, slots=True)
class _Setup:
    """What the stages share."""

    structures: dict[str, Structure]
    rows: dict[str, Rows]
    goals: list[ClinicalGoal]
    objectives: list[Objective]
    fractions: int
    rx: float
    voxel_cc: float
    room_percent: float = 0.0
    nodes: dict[str, IntArray] = dataclasses.field(default_factory=dict)

    def rows_of(self, o: Objective) -> Rows:
        """Where an objective reads the dose.

        A hard upper limit reads it at every dose voxel that the structure's DVH sampling
        interpolates from (the nodes of the cells it meets): the DVH's largest dose lies
        within the range of those nodes, so meeting the limit there meets it on the DVH.
        Everything else reads the sampled points (:func:`_sampling_matrix`).
        """
        if o.hard and o.upper and o.structure in self.nodes:
            return self.nodes[o.structure]
        return self.rows[o.structure]


def _engine_segments(
    sequenced: Sequence[SequencedBeam], setup: DoseSetup, voxels: IntArray, engine: DoseEngine
) -> FloatArray:
    """Each segment's dose per MU at the voxels from the engine: (n_voxels, n_segments).

    What the engine warns about a beam (e.g. the pencil beam in lung) it warns again for
    the final dose of the plan; here, once per segment, it is left out.
    """
    import warnings

    from rtplan.dose import engine_calibration, load_machine
    from rtplan.errors import RtplanWarning

    cols = []
    for seq in sequenced:
        machine = load_machine(seq.beam.energy)
        cal = engine_calibration(engine, machine)
        assert seq.beam.mlc is not None
        for seg in seq.beam.segments:
            single = seq.beam.replace(
                segments=(), mlc=seq.beam.mlc.with_positions(seg.positions_mm), mu=None
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RtplanWarning)
                raw = engine.beam_dose(single, setup, machine)
            cols.append(np.asarray(raw, dtype=np.float64).ravel()[voxels] * cal)
    return np.stack(cols, axis=1)


def _influence_segments(sequenced: Sequence[SequencedBeam], inf: InfluenceMatrix) -> FloatArray:
    """Each segment's dose per MU at the voxels from the bixels it opens: (n_voxels, n_segments).

    A segment opens whole bixels (the leaves stop on the bixel columns); the bixels it
    keeps closed inside its beam's jaws get the MLC's transmission. One sparse product
    gives every segment's column, instead of one engine run per segment.
    """
    import scipy.sparse

    offsets = inf.offsets
    by_number = {bix.beam.number: b for b, bix in enumerate(inf.bixels)}
    blocks_r: list[IntArray] = []
    blocks_c: list[IntArray] = []
    blocks_v: list[FloatArray] = []
    column = 0
    for seq in sequenced:
        b = by_number[seq.beam.number]
        bix = inf.bixels[b]
        assert seq.beam.mlc is not None
        _, pairs, first_col = bix.fluence_map(np.zeros(bix.n))
        r = bix.rows - int(pairs[0])
        c = bix.cols - first_col
        x1, x2, y1, y2 = seq.beam.jaws_mm
        inside = (bix.x_mm > x1) & (bix.x_mm < x2) & (bix.y_mm > y1) & (bix.y_mm < y2)
        t = float(seq.beam.mlc.transmission)
        for k in range(seq.n_segments):
            opened = seq.openings[k][r, c]
            value = np.where(opened, 1.0, np.where(inside, t, 0.0))
            keep = np.flatnonzero(value > 0)
            blocks_r.append(offsets[b] + keep)
            blocks_c.append(np.full(keep.size, column, dtype=np.int64))
            blocks_v.append(value[keep])
            column += 1
    shares = scipy.sparse.csc_matrix(
        (np.concatenate(blocks_v), (np.concatenate(blocks_r), np.concatenate(blocks_c))),
        shape=(inf.matrix.shape[1], column),
    )
    return np.asarray((inf.matrix @ shares.astype(np.float64)).toarray(), dtype=np.float64)


def _problem_setup(
    structures: Iterable[Structure],
    goals: Sequence[ClinicalGoal | str],
    target_name: str | None,
    prescription_gy: float,
    fractions: int,
    opt: InverseOptions,
    setup: DoseSetup,
    constraints: Sequence[ClinicalGoal | str] = (),
) -> tuple[_Setup, Structure, npt.NDArray[np.bool_]]:
    """Structures, their voxels on the dose grid, the goals and their objectives.

    The goals come first, then the hard constraints (their objectives in the same order).
    """
    from rtplan.evaluate import parse_goal

    soft = [parse_goal(g) if isinstance(g, str) else g for g in goals]
    hard = [parse_goal(g) if isinstance(g, str) else g for g in constraints]
    parsed = soft + hard
    if not parsed:
        raise PlanError("inverse planning needs at least one goal, e.g. 'PTV D95 >= 50 Gy'")
    items = list(structures)
    names = list(dict.fromkeys(g.structure for g in parsed))
    if target_name is None:
        lower = [g.structure for g in parsed if g.op in (">=", ">")]
        if not lower:
            raise PlanError("no goal asks for a dose >= a level; name the target (target=...)")
        target_name = lower[0]
    target = _lookup(items, target_name)
    found = {n: _lookup(items, n) for n in names}
    found[target.name] = target
    masks = {n: s.mask(setup.grid) & setup.body for n, s in found.items()}
    for n, m in masks.items():
        if not np.any(m):
            raise PlanError(f"structure {n!r} covers no voxel of the dose grid in the body")
    target_mask = masks[target.name]
    union = np.zeros(setup.grid.shape, dtype=bool)
    reach = 1.01 * float(max(setup.grid.spacing_mm))
    for m in masks.values():  # with the voxels around, which the DVH sampling reads
        union |= _near(m, setup, reach)
    nto_region, nto_limit = _nto_limits(setup, target_mask, opt.nto_distance_mm, prescription_gy)
    if opt.nto_weight > 0:
        union |= nto_region
    voxels = np.flatnonzero(union.ravel())
    position = np.full(union.size, -1, dtype=np.int64)
    position[voxels] = np.arange(voxels.size)
    rows: dict[str, Rows] = {n: _sampling_matrix(found[n], setup, position) for n in masks}
    voxel_cc = float(np.prod(setup.grid.spacing_mm)) / 1000.0
    volumes = {n: float(found[n].volume_cc) for n in rows}
    objectives = objectives_from_goals(
        soft, prescription_gy=prescription_gy, volumes_cc=volumes, weight=GOAL_WEIGHT
    )
    tol = opt.constraint_tolerance
    objectives += [  # held inside the limit by the tolerance: within it, still met
        dataclasses.replace(o, dose_gy=o.dose_gy * ((1.0 - tol) if o.upper else (1.0 + tol)))
        for o in objectives_from_goals(
            hard, prescription_gy=prescription_gy, volumes_cc=volumes, hard=True
        )
    ]
    objectives = [o if o.structure in rows else _renamed(o, found) for o in objectives]
    objectives.append(Objective(structure=target.name, kind="min", dose_gy=prescription_gy,
                                weight=0.1))  # fmt: skip
    if opt.nto_weight > 0 and np.any(nto_region):
        nto_flat = np.flatnonzero(nto_region.ravel())
        rows[NTO_NAME] = position[nto_flat]
        objectives.append(
            Objective(structure=NTO_NAME, kind="limit", dose_gy=prescription_gy,
                      weight=opt.nto_weight, limit_gy=nto_limit.ravel()[nto_flat])
        )  # fmt: skip
    nodes = {n: np.unique(m.indices).astype(np.int64) for n, m in rows.items() if n in masks}
    return (
        _Setup(structures=found, rows=rows, goals=parsed, objectives=objectives,
               fractions=fractions, rx=prescription_gy, voxel_cc=voxel_cc,
               room_percent=opt.room_percent, nodes=nodes),
        target,
        union,
    )  # fmt: skip


def _near(
    mask: npt.NDArray[np.bool_], setup: DoseSetup, distance_mm: float
) -> npt.NDArray[np.bool_]:
    """The mask grown by a distance, within the body."""
    from rtplan.geometry import distance_map

    return np.asarray((distance_map(mask, setup.grid.spacing_mm) <= distance_mm) & setup.body)


def _sampling_matrix(
    structure: Structure, setup: DoseSetup, position: IntArray, sub: int = 3
) -> scipy.sparse.csr_matrix:
    """Trilinear interpolation of the row doses at sub-voxel points filling a structure.

    Each dose voxel around the structure is cut into ``sub**3`` sub-voxels; those whose
    centres lie in the structure are the points (equal volumes), as the DVHs of
    :func:`rtplan.dvh` sample a structure. Corners outside the rows (``position < 0``)
    are left out and the weights of the others renormalised.
    """
    import scipy.sparse

    from rtplan.grid import Grid, IndexBox

    grid = setup.grid
    coarse = structure.mask(grid)
    box = IndexBox.from_mask(coarse)
    if box is None:
        raise PlanError(f"structure {structure.name!r} covers no voxel of the dose grid")
    box = box.padded(1, within=grid.shape)
    lo = np.asarray(box.lower)
    hi = np.asarray(box.upper)
    dk, dj, di = (float(v) / sub for v in grid.spacing_mm)
    ox, oy, oz = (float(v) for v in grid.index_to_mm((lo - 0.5 + 0.5 / sub)[::-1].astype(float)))
    nk, nj, ni = (int(v) for v in (hi - lo) * sub)
    fine = Grid(
        shape=(nk, nj, ni),
        spacing_mm=(dk, dj, di),
        origin_mm=(ox, oy, oz),
        direction=grid.direction,
    )
    kji = np.nonzero(structure.mask(fine))
    points = fine.index_to_mm(np.stack(kji[::-1], axis=1).astype(np.float64))
    ijk = grid.mm_to_index(points)
    n_i, n_j, n_k = grid.shape_ijk
    base = np.floor(ijk).astype(np.int64)
    frac = ijk - base
    rows_i, cols_i, vals_i = [], [], []
    for corner in itertools.product((0, 1), repeat=3):
        c = base + np.asarray(corner)
        w = np.prod(np.where(np.asarray(corner) == 1, frac, 1.0 - frac), axis=1)
        ok = np.all((c >= 0) & (c < np.array([n_i, n_j, n_k])), axis=1)
        flat = np.where(ok, (c[:, 2] * n_j + c[:, 1]) * n_i + c[:, 0], 0)
        col = np.where(ok, position[flat], -1)
        keep = (col >= 0) & (w > 0)
        rows_i.append(np.flatnonzero(keep))
        cols_i.append(col[keep])
        vals_i.append(w[keep])
    r = np.concatenate(rows_i)
    m = scipy.sparse.csr_matrix(
        (np.concatenate(vals_i), (r, np.concatenate(cols_i))),
        shape=(points.shape[0], int(position.max()) + 1),
    )
    norm = np.asarray(m.sum(axis=1)).ravel()
    m = scipy.sparse.diags(np.where(norm > 0, 1.0 / np.maximum(norm, 1e-12), 0.0)) @ m
    return scipy.sparse.csr_matrix(m)


def _renamed(o: Objective, found: dict[str, Structure]) -> Objective:
    """An objective named by the structure's own spelling (goals match case-insensitively)."""
    for n in found:
        if n.lower() == o.structure.lower():
            return dataclasses.replace(o, structure=n)
    return o


def _official(s: _Setup, d: FloatArray, voxels: IntArray, setup: DoseSetup) -> list[float]:
    """The goals measured as :func:`rtplan.evaluate.evaluate_goals` does, on voxel doses.

    The voxels are those of the structures and the normal tissue around the target, so
    the sub-voxel sampling of the DVHs near the structures reads optimised doses.
    """
    from rtplan.evaluate import evaluate_goals
    from rtplan.image import Dose

    arr = np.zeros(setup.grid.shape)
    arr.ravel()[voxels] = d
    dose = Dose(array=arr, grid=setup.grid, fractions=s.fractions)
    table = evaluate_goals(s.goals, dose, list(s.structures.values()), s.rx)
    return [float(r.measured) for r in table]


def _shifted(
    o: Objective, goal: ClinicalGoal, measured: float, rx: float, room_percent: float
) -> Objective:
    """The objective aimed further by the goal's shortfall (doses), or 2 % (volumes).

    The shortfall is to the goal's limit with ``room_percent`` of it to spare.
    """
    lower_bound = goal.op in (">=", ">")
    if goal.quantity == "V" or not math.isfinite(measured):
        step = 0.02 * o.dose_gy
    else:
        room = abs(goal.value) * room_percent / 100.0
        gap = abs(goal.value + (room if lower_bound else -room) - measured)
        step = gap * rx / 100.0 if goal.unit == "%" else gap
        step = max(step, 0.005 * o.dose_gy)
    dose = o.dose_gy + step if lower_bound else max(o.dose_gy - step, 1e-3 * o.dose_gy)
    return dataclasses.replace(o, dose_gy=dose, weight=2.0 * o.weight)


def _start(inf: InfluenceMatrix, s: _Setup) -> FloatArray:
    """Uniform bixel weights giving the target a mean dose of the prescription."""
    target_rows = s.rows[next(o.structure for o in s.objectives if o.kind == "min" and
                              o.goal is None)]  # fmt: skip
    x = np.ones(inf.matrix.shape[1])
    mean_target = float(np.mean(target_rows @ inf.dose(x))) * s.fractions
    return x * (s.rx / mean_target if mean_target > 0 else 1.0)


def _all_met(s: _Setup, d: FloatArray, inf: InfluenceMatrix) -> bool:
    """Whether every goal and hard constraint is met on a dose (whole plan, at the voxels)."""
    with _single_blas_thread():
        measured = _official(s, d, inf.voxels, inf.setup)
    return all(g.check(m) is True for g, m in zip(s.goals, measured, strict=True))


def _met_with_room(goal: ClinicalGoal, measured: float, room_percent: float) -> bool:
    """Whether a measured value meets the goal with ``room_percent`` of its limit to spare."""
    if goal.check(measured) is not True:
        return False
    room = abs(goal.value) * room_percent / 100.0
    if goal.op in ("<=", "<"):
        return measured <= goal.value - room
    return measured >= goal.value + room


def _rounds(  # noqa: PLR0913 (the stage's problem, its start and its settings)
    matrix: scipy.sparse.spmatrix | FloatArray,
    x0: FloatArray,
    s: _Setup,
    aimed: list[Objective],
    inf: InfluenceMatrix,
    *,
    lower: float,
    rounds: int,
    max_iterations: int,
    label: str,
    offset_gy: FloatArray | None = None,
    regularizer: Modulation | None = None,
    constraint_tolerance: float = CONSTRAINT_TOLERANCE,
) -> tuple[OptimizationResult, list[Objective]]:
    """Optimisation rounds; between rounds, unmet goals are aimed further and weighed more.

    Goals are measured as the final evaluation measures them (:func:`_official`); a goal
    not met with ``s.room_percent`` of its limit to spare has its objective's dose level
    moved by the shortfall and its weight doubled, and the next round starts from the last
    weights and multipliers (warm start). Hard constraints are enforced in every round
    (:func:`optimize_weights`), never re-aimed.
    """
    aimed = list(aimed)
    x = x0
    result: OptimizationResult | None = None
    best: tuple[tuple[int, int, float], OptimizationResult, list[Objective]] | None = None
    multipliers: tuple[FloatArray, ...] = ()
    for r in range(max(1, rounds)):
        problem = DoseProblem(matrix, s.fractions, [(o, s.rows_of(o)) for o in aimed],
                              offset_gy, regularizer)  # fmt: skip
        result = optimize_weights(
            problem, x, lower=lower, max_iterations=max_iterations,
            constraint_tolerance=constraint_tolerance, multipliers=multipliers,
            label=f"{label} round {r + 1}",
        )  # fmt: skip
        x = result.weights
        multipliers = result.multipliers
        with _single_blas_thread():
            measured = _official(s, problem.dose(x), inf.voxels, inf.setup)
        unmet = [i for i, (g, m) in enumerate(zip(s.goals, measured, strict=True))
                 if not aimed[i].hard and not _met_with_room(g, m, s.room_percent)]  # fmt: skip
        logger.info(
            "%s round %d: %s", label, r + 1,
            ", ".join(f"{g.text}: {m:.4g}" for g, m in zip(s.goals, measured, strict=True)),
        )  # fmt: skip
        score = _score(s, aimed, measured, result)
        if best is None or score <= best[0]:
            best = (score, result, list(aimed))
        if not unmet or r == rounds - 1:
            break
        for i in unmet:
            aimed[i] = _shifted(aimed[i], s.goals[i], measured[i], s.rx, s.room_percent)
    assert best is not None
    if best[1] is not result:
        logger.info("%s: the best round's result is kept (%s)", label, best[0])
    return best[1], best[2]


def _score(
    s: _Setup, aimed: Sequence[Objective], measured: Sequence[float], result: OptimizationResult
) -> tuple[int, int, float]:
    """How far a round is from the goals (lower is better).

    Hard constraints not met, then goals not met, then the goals' shortfalls to their
    limits with ``room_percent`` to spare (relative, summed).
    """
    failed = 0
    shortfall = 0.0
    for g, m, o in zip(s.goals, measured, aimed, strict=False):
        if o.hard:
            continue
        if g.check(m) is not True:
            failed += 1
        if not math.isfinite(m) or g.value == 0:
            continue
        room = abs(g.value) * s.room_percent / 100.0
        if g.op in ("<=", "<"):
            shortfall += max(0.0, m - (g.value - room)) / abs(g.value)
        else:
            shortfall += max(0.0, (g.value + room) - m) / abs(g.value)
    infeasible = sum(not c.satisfied for c in result.constraints)
    return infeasible, failed, shortfall


@dataclass(frozen=True, kw_only=True, slots=True)
class InverseOptions:
    """How :func:`inverse_plan` builds, optimises and sequences the plan.

    Parameters
    ----------
    energy : str
        Beam energy.
    isocenter_mm : tuple of 3 float, optional
        Isocentre, LPS mm (the target's centroid by default).
    template : BeamTemplate, optional
        Collimator, couch, SAD and the MLC (default 60 pairs of 5 mm leaves).
    bixel_mm : float
        Bixel width along the leaves, mm.
    margin_mm : float
        Bixels cover the target's beam's-eye view plus this margin, mm.
    grid_mm : float
        Dose grid spacing of the optimisation and of the final dose, mm.
    threshold : float
        Influence entries below this share of their bixel's largest are dropped.
    nto_weight : float
        Weight of the normal-tissue objective (0: none).
    nto_distance_mm : float
        Normal tissue within this distance of the target is in the objective, mm.
    aim_percent : float
        The optimiser aims this much inside each goal's limit (planning margin), %: a
        dose floor 3 % higher, a dose ceiling 3 % lower. Sequencing into a few intensity
        levels and the engine's dose of the segments lose part of the optimum's margin
        (on TG-119, 0.4-0.9 % of the PTV D95); the margin keeps the delivered plan within
        the goals.
    room_percent : float
        A goal counts as met between rounds only with this share of its limit to spare,
        % (1: a PTV D95 >= 50 Gy goal needs 50.5 Gy, a core D10 <= 25 Gy goal 24.75 Gy),
        so that the delivered plan keeps its goals through a change of the engine's dose
        of that size.
    modulation_weight : float
        Weight of the modulation penalty (:mod:`rtplan.planning._modulation`): the total
        variation of the fluence along the leaves in the fluence optimisation, the total
        MU in the segment refinement, each relative to the start's. It lowers the MU and
        the segment count of a plan for a little of its dose objectives (0: none).
    constraint_tolerance : float
        Hard constraints are met within this share of their limit (0.005: 0.5 %); they
        are held that much inside their limits, so that the limits themselves are met.
    rounds : int
        Optimisation rounds of the fluence and of the segment MU (between rounds, unmet
        goals are aimed further by their shortfall and weighed twice as much).
    corrections : int
        Most engine doses of the whole plan that correct the segment-MU refinement's model
        (the first always; another while a goal is not met on the engine's dose of the
        refined plan).
    max_iterations : int
        L-BFGS-B iterations per round.
    levels : int
        Intensity levels of the leaf sequencing.
    min_mu : float
        Least MU per segment.
    min_gap_mm : float
        Least gap of a closed leaf pair, mm.
    engine : Engine, str or DoseEngine
        Engine of the segment doses and of the final dose (``"pencil-beam"`` by default;
        ``"collapsed-cone"`` for the reference in heterogeneous tissue).
    engine_segments : bool
        Refine the segment MU on one engine dose per segment (exact, slow) instead of on
        the bixels each segment opens (with the MLC's transmission) corrected once by the
        engine's dose of the whole plan (by default).
    cache_dir : str, optional
        Folder caching the influence matrix per beam.

    Raises
    ------
    PlanError
        If a size, count or weight is out of range.
    """

    energy: str = "6X"
    isocenter_mm: tuple[float, float, float] | None = None
    template: BeamTemplate | None = None
    bixel_mm: float = 5.0
    margin_mm: float = 5.0
    grid_mm: float = 3.0
    threshold: float = 1e-4
    nto_weight: float = 0.3
    nto_distance_mm: float = 30.0
    aim_percent: float = 3.0
    room_percent: float = 1.0
    modulation_weight: float = 0.001
    constraint_tolerance: float = CONSTRAINT_TOLERANCE
    rounds: int = 6
    corrections: int = 2
    max_iterations: int = 60
    levels: int = 10
    min_mu: float = 2.0
    min_gap_mm: float = 0.5
    engine: Engine | str | DoseEngine = Engine.PENCIL_BEAM
    engine_segments: bool = False
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("bixel_mm", "grid_mm"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise PlanError(f"{name} must be positive, got {value}")
        for name in ("margin_mm", "nto_weight", "nto_distance_mm", "min_mu", "min_gap_mm",
                     "room_percent", "modulation_weight", "constraint_tolerance"):  # fmt: skip
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value >= 0):
                raise PlanError(f"{name} must be >= 0, got {value}")
        if self.rounds < 1 or self.max_iterations < 1 or self.levels < 1 or self.corrections < 1:
            raise PlanError("rounds, corrections, max_iterations and levels must be at least 1")


def inverse_plan(
    ct: Image,
    structures: Iterable[Structure],
    goals: Sequence[ClinicalGoal | str],
    *,
    gantry_angles_deg: Sequence[float],
    prescription_gy: float,
    fractions: int = 1,
    target: str | None = None,
    options: InverseOptions | None = None,
    progress: Callable[[float, str], None] | None = None,
    constraints: Sequence[ClinicalGoal | str] = (),
) -> InversePlan:
    """Optimise a step-and-shoot IMRT plan that meets clinical goals.

    Parameters
    ----------
    ct : Image
        CT in HU (or a mass-density image).
    structures : iterable of Structure
        The study's structures (a :class:`~rtplan.StructureSet` works); the goals name them.
    goals : sequence of str or ClinicalGoal
        Clinical goals (``"PTV D95 >= 50 Gy"``, ``"Core D10 <= 25 Gy"``...), each an
        objective (:func:`rtplan.planning.objectives_from_goals`).
    gantry_angles_deg : sequence of float
        One beam per angle (IEC 61217).
    prescription_gy : float
        Total prescription, Gy.
    fractions : int
        Number of fractions.
    target : str, optional
        Target structure: bixels cover it, the normal tissue is measured from it; the
        structure of the first ``>=`` goal by default.
    options : InverseOptions, optional
        Beams, bixels, dose grid, objectives' weights, optimiser, sequencing and engine.
    progress : callable, optional
        ``progress(fraction, message)``.
    constraints : sequence of str or ClinicalGoal
        Hard constraints, written as goals (``"SpinalCord D0.03cc <= 17 Gy"``): the
        optimised fluence meets each within ``options.constraint_tolerance`` of its limit
        (they are held that far inside it), and so does the segment refinement, on its
        engine-corrected dose, when the least segment MU allow it. They are evaluated
        with the goals (:attr:`InversePlan.goals`, after the goals).

    Returns
    -------
    InversePlan

    Raises
    ------
    PlanError
        If a goal names a missing structure or cannot be optimised, or a structure misses
        the dose grid, or no fluence meets the hard constraints (the message gives each
        constraint's value reached and its limit).

    Examples
    --------
    A 2 cm cube in water, two opposed beams (coarse and quick: 10 mm grid and bixels):

    >>> import numpy as np
    >>> from rtplan.planning import InverseOptions, inverse_plan
    >>> from rtplan.testing import box_mask_structure, water_phantom
    >>> ct = water_phantom(width_mm=100, depth_mm=100, spacing_mm=10.0)
    >>> ptv = box_mask_structure(ct.grid, (-10, 40, -10), (10, 60, 10), name="PTV")
    >>> result = inverse_plan(ct, [ptv], ["PTV D95 >= 1.9 Gy", "PTV Dmax <= 2.3 Gy"],
    ...                       gantry_angles_deg=[90, 270], prescription_gy=2.0,
    ...                       options=InverseOptions(grid_mm=10.0, bixel_mm=10.0,
    ...                                              max_iterations=30))
    >>> result.goals.all_passed, [len(b.segments) > 0 for b in result.plan.beams]
    (True, [True, True])
    """
    from rtplan.dose import get_engine, prepare_setup

    opt = options if options is not None else InverseOptions()
    timings: dict[str, float] = {}
    eng = get_engine(opt.engine)
    position = PatientPosition(ct.patient_position or "HFS")
    setup = prepare_setup(ct, grid_mm=opt.grid_mm, patient_position=position)
    s, target_structure, voxel_mask = _problem_setup(
        structures, goals, target, prescription_gy, fractions, opt, setup, constraints
    )
    bixels = _beams(target_structure, gantry_angles_deg, opt, position)
    _say(progress, 0.05, f"influence matrix of {sum(b.n for b in bixels)} bixels")
    t0 = time.perf_counter()
    c0 = time.process_time()
    inf = influence_matrix(
        setup, bixels, voxel_mask, threshold=opt.threshold, cache_dir=opt.cache_dir
    )
    if inf.voxels.size != int(np.count_nonzero(voxel_mask)):
        raise PlanError("the influence matrix's voxels differ from the objectives' voxels")
    timings["influence"] = time.perf_counter() - t0
    timings["influence_cpu"] = time.process_time() - c0
    _say(progress, 0.3, f"fluence optimisation ({inf.matrix.nnz} entries, "
                        f"{100 * inf.dropped_fraction:.2f} % of the dose dropped)")  # fmt: skip
    t0 = time.perf_counter()
    c0 = time.process_time()
    x_start = _start(inf, s)
    smooth = None
    if opt.modulation_weight > 0:
        smooth = Modulation(operator=leaf_differences(inf.bixels), reference=x_start,
                            weight=opt.modulation_weight)  # fmt: skip
    fluence, aimed = _rounds(
        inf.matrix, x_start, s, _aims(s.objectives, opt.aim_percent), inf,
        lower=0.0, rounds=opt.rounds, max_iterations=opt.max_iterations, label="fluence",
        regularizer=smooth, constraint_tolerance=opt.constraint_tolerance,
    )  # fmt: skip
    if not fluence.feasible:
        raise PlanError(
            "no fluence meets the hard constraints: "
            + "; ".join(str(c) for c in fluence.constraints if not c.satisfied)
            + f" (tolerance {100 * opt.constraint_tolerance:g} % of each limit); relax a "
            "constraint or make it a goal"
        )
    timings["fluence"] = time.perf_counter() - t0
    timings["fluence_cpu"] = time.process_time() - c0
    _say(progress, 0.5, "leaf sequencing")
    t0 = time.perf_counter()
    c0 = time.process_time()
    sequenced = _sequence(inf, fluence, opt)
    timings["sequencing"] = time.perf_counter() - t0
    timings["sequencing_cpu"] = time.process_time() - c0
    _say(progress, 0.6, f"segment refinement ({sum(q.n_segments for q in sequenced)} segments)")
    t0 = time.perf_counter()
    c0 = time.process_time()
    plan, refinement, aimed = _refine(ct, s, inf, sequenced, aimed, opt, eng, setup,
                                      target_structure, position)  # fmt: skip
    timings["refinement"] = time.perf_counter() - t0
    timings["refinement_cpu"] = time.process_time() - c0
    _say(progress, 0.8, f"final dose ({eng.name})")
    return _finish(plan, ct, s, inf, fluence, refinement, sequenced, aimed, timings, opt, eng,
                   target_structure, progress)  # fmt: skip


def _corrected(
    matrix: FloatArray, weights: FloatArray, engine_gy: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The segments' dose model corrected by the engine's dose of the plan at ``weights``.

    Where the model gives the voxel a tenth of its largest dose or more, its row is scaled
    by the engine's dose over the model's (clipped to [0.5, 2]); elsewhere (low doses, where
    a ratio is ill-defined) the difference is added as a fixed dose. The corrected model
    equals the engine's dose at ``weights`` and, unlike a fixed difference alone, follows
    the engine when the MU of the refinement move far from them (a scaled plan is exact).

    Returns
    -------
    matrix : numpy.ndarray, shape (n_voxels, n_segments)
    offset_gy : numpy.ndarray, shape (n_voxels,)
    """
    model = np.asarray(matrix @ weights, dtype=np.float64)
    strong = model >= 0.1 * float(model.max()) if model.size else model > 0
    ratio = np.ones_like(model)
    ratio[strong] = np.clip(engine_gy[strong] / model[strong], 0.5, 2.0)
    scaled = np.asarray(matrix * ratio[:, None], dtype=np.float64)
    return scaled, engine_gy - scaled @ weights


def _refine(
    ct: Image,
    s: _Setup,
    inf: InfluenceMatrix,
    sequenced: list[SequencedBeam],
    aimed: list[Objective],
    opt: InverseOptions,
    eng: DoseEngine,
    setup: DoseSetup,
    target_structure: Structure,
    position: PatientPosition,
) -> tuple[Plan, OptimizationResult, list[Objective]]:
    """The segment-MU refinement, corrected by the engine's dose of the plan."""
    seg_mu0 = np.concatenate([q.segment_mu for q in sequenced])
    if opt.engine_segments:
        seg_matrix = _engine_segments(sequenced, setup, inf.voxels, eng)
    else:
        seg_matrix = _influence_segments(sequenced, inf)
    total_mu = None
    if opt.modulation_weight > 0:
        total_mu = Modulation(operator=np.ones((1, seg_mu0.size)), reference=seg_mu0,
                              weight=opt.modulation_weight)  # fmt: skip
    refinement, aimed = _rounds(
        seg_matrix, seg_mu0, s, aimed, inf, lower=opt.min_mu, rounds=opt.rounds,
        max_iterations=opt.max_iterations, label="segment refinement",
        regularizer=total_mu, constraint_tolerance=opt.constraint_tolerance,
    )  # fmt: skip
    plan = _final_plan(sequenced, refinement.weights, s.rx, s.fractions,
                       target_structure, position)  # fmt: skip
    if not opt.engine_segments:
        # the engine's dose of this plan corrects the bixels' model (penumbrae, scatter,
        # transmission): the difference is held fixed while the segment MU are refined again
        import warnings

        from rtplan.dose import calculate
        from rtplan.errors import RtplanWarning

        # the correction is exact at the MU it was made for: when the refined MU move far
        # from them, the engine's dose of the new plan corrects the model again
        for correction in range(opt.corrections):
            with warnings.catch_warnings():  # what the engine warns, the final dose warns again
                warnings.simplefilter("ignore", RtplanWarning)
                first = calculate(plan, ct, engine=eng, grid_mm=opt.grid_mm,
                                  target=target_structure)  # fmt: skip
            engine_gy = np.asarray(first.dose.array, dtype=np.float64).ravel()[inf.voxels]
            if correction > 0 and _all_met(s, engine_gy, inf):
                break
            corrected, offset = _corrected(seg_matrix, refinement.weights,
                                           engine_gy / s.fractions)  # fmt: skip
            refinement, aimed = _rounds(
                corrected, refinement.weights, s, aimed, inf, lower=opt.min_mu,
                rounds=opt.rounds, max_iterations=opt.max_iterations,
                label=f"segment refinement (engine correction {correction + 1})",
                offset_gy=offset, regularizer=total_mu,
                constraint_tolerance=opt.constraint_tolerance,
            )  # fmt: skip
            plan = _final_plan(sequenced, refinement.weights, s.rx, s.fractions,
                               target_structure, position)  # fmt: skip
    return plan, refinement, aimed


def _say(progress: Callable[[float, str], None] | None, fraction: float, message: str) -> None:
    logger.info(message)
    if progress is not None:
        progress(fraction, message)


def _beams(
    target: Structure,
    gantry_angles_deg: Sequence[float],
    opt: InverseOptions,
    position: PatientPosition,
) -> list[BeamBixels]:
    """One beam per gantry angle at the isocentre, and its bixels."""
    if not len(gantry_angles_deg):
        raise PlanError("inverse planning needs at least one gantry angle")
    tpl = opt.template if opt.template is not None else BeamTemplate()
    c = opt.isocenter_mm if opt.isocenter_mm is not None else target.centroid_mm
    iso = (float(c[0]), float(c[1]), float(c[2]))
    out = []
    for n, gantry in enumerate(gantry_angles_deg, start=1):
        beam = Beam(energy=opt.energy, gantry_deg=float(gantry), collimator_deg=tpl.collimator_deg,
                    couch_deg=tpl.couch_deg, isocenter_mm=iso, sad_mm=tpl.sad_mm, mlc=tpl.mlc,
                    name=f"IMRT G{float(gantry) % 360:03.0f}", number=n)  # fmt: skip
        out.append(beam_bixels(target, beam, bixel_mm=opt.bixel_mm, margin_mm=opt.margin_mm,
                               patient_position=str(position)))  # fmt: skip
    return out


def _sequence(
    inf: InfluenceMatrix, fluence: OptimizationResult, opt: InverseOptions
) -> list[SequencedBeam]:
    """Each beam's optimal map as segments (beams whose map is below the least MU dropped)."""
    offsets = inf.offsets
    out = []
    for b, bix in enumerate(inf.bixels):
        seq = sequence_beam(bix, fluence.weights[offsets[b] : offsets[b + 1]], levels=opt.levels,
                            min_mu=opt.min_mu, min_gap_mm=opt.min_gap_mm)  # fmt: skip
        if seq is not None:
            out.append(seq)
    if not out:
        raise PlanError("the optimal fluence is below the least segment MU in every beam")
    return out


def _finish(  # noqa: PLR0913 (the stages' results, gathered into the InversePlan)
    plan: Plan,
    ct: Image,
    s: _Setup,
    inf: InfluenceMatrix,
    fluence: OptimizationResult,
    refinement: OptimizationResult,
    sequenced: list[SequencedBeam],
    aimed: list[Objective],
    timings: dict[str, float],
    opt: InverseOptions,
    eng: DoseEngine,
    target: Structure,
    progress: Callable[[float, str], None] | None,
) -> InversePlan:
    """The final dose on the whole CT, the goals on it, and the comparison."""
    from rtplan.dose import calculate
    from rtplan.evaluate import evaluate_goals

    t0 = time.perf_counter()
    c0 = time.process_time()
    result = calculate(plan, ct, engine=eng, grid_mm=opt.grid_mm, target=target)
    timings["final_dose"] = time.perf_counter() - t0
    timings["final_dose_cpu"] = time.process_time() - c0
    if result.dose.grid.shape != inf.setup.grid.shape:
        raise PlanError("the final dose grid differs from the optimisation's")
    table = evaluate_goals(s.goals, result.dose, list(s.structures.values()), s.rx)
    _say(progress, 0.95, "gamma of the delivered dose against the optimiser's")
    t0 = time.perf_counter()
    c0 = time.process_time()
    gammas = _gammas(s, inf, fluence, result.dose)
    timings["gamma"] = time.perf_counter() - t0
    timings["gamma_cpu"] = time.process_time() - c0
    _say(progress, 1.0, "done")
    return InversePlan(
        plan=result.plan,
        plan_dose=result,
        goals=table,
        influence=inf,
        fluence=fluence,
        refinement=refinement,
        sequenced=tuple(sequenced),
        objectives=tuple(aimed),
        comparison=_compare(s, inf, fluence, table),
        gamma=gammas,
        timings=timings,
        constraint_goals=tuple(g for g, o in zip(s.goals, s.objectives, strict=False) if o.hard),
    )


def _final_plan(
    sequenced: Sequence[SequencedBeam],
    seg_mu: FloatArray,
    prescription_gy: float,
    fractions: int,
    target: Structure,
    position: PatientPosition,
) -> Plan:
    """Beams with their refined segment MU: shares and beam MU."""
    from rtplan.plan import Segment

    beams = []
    start = 0
    for seq in sequenced:
        mu = seg_mu[start : start + seq.n_segments]
        start += seq.n_segments
        total = float(mu.sum())
        shares = mu / total
        segs = [Segment(positions_mm=g.positions_mm, weight=float(w))
                for g, w in zip(seq.beam.segments, shares, strict=True)]  # fmt: skip
        if len(segs) > 1:
            last = 1.0 - math.fsum(g.weight for g in segs[:-1])
            segs[-1] = Segment(positions_mm=segs[-1].positions_mm, weight=last)
        beams.append(seq.beam.replace(segments=tuple(segs), mu=total))
    return Plan(
        beams=tuple(beams),
        prescription_gy=float(prescription_gy),
        fractions=int(fractions),
        normalization=Normalization.NONE,
        target_name=target.name,
        target=target,
        name=f"IMRT {target.name}"[:64],
        patient_position=position,
    )


def _compare(
    s: _Setup, inf: InfluenceMatrix, fluence: OptimizationResult, table: GoalTable
) -> tuple[GoalComparison, ...]:
    """Each goal on the optimiser's dose and on the delivered dose, measured alike."""
    optimized = _official(s, inf.dose(fluence.weights) * s.fractions, inf.voxels, inf.setup)
    return tuple(
        GoalComparison(goal=g.text, optimized=o, delivered=float(r.measured))
        for g, o, r in zip(s.goals, optimized, table, strict=True)
    )


def _gammas(
    s: _Setup, inf: InfluenceMatrix, fluence: OptimizationResult, delivered: Image
) -> tuple[GammaResult, ...]:
    """The delivered dose against the optimiser's, for each of :data:`GAMMA_CRITERIA`.

    The optimiser's dose is known at its voxels only: the reference is zero elsewhere,
    below the threshold, so that only those voxels are evaluated, each searched for on
    the delivered dose of the whole grid.
    """
    from rtplan.evaluate import gamma
    from rtplan.image import Dose

    arr = np.zeros(inf.setup.grid.shape)
    arr.ravel()[inf.voxels] = inf.dose(fluence.weights) * s.fractions
    optimized = Dose(array=arr, grid=inf.setup.grid, fractions=s.fractions)
    out = []
    for dose_percent, distance_mm in GAMMA_CRITERIA:
        g = gamma(optimized, delivered, dose_percent, distance_mm, GAMMA_THRESHOLD_PERCENT)
        logger.info("delivered against optimised dose: %s", g.summary())
        out.append(g)
    return tuple(out)
