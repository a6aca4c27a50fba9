"""Objectives of inverse planning, from the clinical goals' own spelling.

Each :class:`Objective` is a penalty of the dose ``d`` (Gy, the whole plan) at the voxels
of one structure, normalised by its dose level ``D`` so that weights compare across
structures (``n``: the structure's voxels):

* ``"min"``: ``sum max(0, D - d)^2 / (n D^2)`` (squared underdose);
* ``"max"``: ``sum max(0, d - D)^2 / (n D^2)`` (squared overdose);
* ``"mean_min"`` / ``"mean_max"``: ``max(0, D - mean d)^2 / D^2`` and the converse;
* ``"dvh_min"`` (``D_v >= D``) / ``"dvh_max"`` (``D_v <= D``): the dose-volume penalty of
  Wu & Mohan (Med. Phys. 27 (2000) 701-711): while the constraint is violated, the voxels
  between ``D`` and the current ``D_v`` are pushed towards ``D`` (squared), the others are
  free;
* ``"geud_max"``: ``max(0, gEUD_a(d) - D)^2 / D^2`` with ``gEUD_a = (mean d^a)^(1/a)``
  (Niemierko 1999);
* ``"limit"``: squared overdose above a limit that differs per voxel (the normal-tissue
  objective: a limit that falls off with the distance from the target).

Every penalty is piecewise smooth and its gradient with respect to ``d`` is exact
(:meth:`Objective.value_and_gradient`); the DVH penalties hold their voxel selection
fixed within one evaluation, as is usual.

Hard constraints
----------------
An objective made with ``hard=True`` is not a penalty but a constraint that the
optimiser must meet (:func:`rtplan.planning.optimize_weights`, by the method of
multipliers). Its values are the constraint functions ``g <= 0``, relative to the level
``D`` so that one tolerance (a share of the limit) serves every constraint
(:meth:`Objective.constraint_values`):

* ``"max"`` / ``"limit"``: ``d_i / D_i - 1`` at every point; ``"min"``: ``1 - d_i / D``;
* ``"mean_max"`` / ``"mean_min"``: ``mean d / D - 1`` and ``1 - mean d / D``;
* ``"geud_max"``: ``gEUD_a(d) / D - 1`` (convex for ``a >= 1``);
* ``"dvh_max"`` (``D_v <= D``): ``d_i / D - 1`` at every point but the ``floor(v n / 100)``
  hottest; ``"dvh_min"`` (``D_v >= D``): ``1 - d_i / D`` at the ``ceil(v n / 100)``
  hottest points. A dose-volume constraint is not convex (which points may exceed the
  level is part of the answer); this is its usual convex restriction at the current dose
  (the active-voxel linearisation): the selection
  (:meth:`Objective.constraint_selection`) is made from the dose of the last outer
  iteration and held fixed while the fluence is optimised, then made again. Meeting the
  restricted constraint meets the dose-volume constraint; a selection from a poor start
  can make the restriction stricter than needed, never looser.

:func:`objectives_from_goals` turns goals written as for :func:`rtplan.evaluate.parse_goal`
(``"PTV D95 >= 50 Gy"``, ``"Core D10 <= 25 Gy"``, ``"Femur V40Gy <= 64 %"``,
``"SpinalCord Dmax <= 14 Gy"``) into objectives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from rtplan.errors import PlanError
from rtplan.evaluate._goals import ClinicalGoal, parse_goal

__all__ = ["KINDS", "Objective", "objectives_from_goals"]

FloatArray = npt.NDArray[np.float64]

KINDS = ("min", "max", "mean_min", "mean_max", "dvh_min", "dvh_max", "geud_max", "limit")
"""The kinds of :class:`Objective`."""


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Objective:
    """A weighted dose penalty on one structure.

    Parameters
    ----------
    structure : str
        Structure name.
    kind : str
        One of :data:`KINDS` (see the module notes).
    dose_gy : float
        Dose level ``D`` of the whole plan, Gy (the reference of ``"limit"``).
    volume_percent : float, optional
        ``v`` of the DVH penalties, percent of the structure.
    weight : float
        Relative weight.
    a : float
        gEUD exponent (``"geud_max"``).
    limit_gy : numpy.ndarray, optional
        Per-voxel limit of ``"limit"``, Gy, one value per voxel of the structure.
    goal : ClinicalGoal, optional
        The goal the objective stands for.
    hard : bool
        A hard constraint (met by the optimiser within its tolerance, or reported
        infeasible) instead of a weighted penalty; its weight is then unused.

    Raises
    ------
    PlanError
        If the kind is unknown, the dose or weight is not positive, or a DVH penalty has no
        volume in [0, 100] %.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.planning import Objective
    >>> o = Objective(structure="PTV", kind="min", dose_gy=50.0)
    >>> value, grad = o.value_and_gradient(np.array([40.0, 50.0, 60.0]))
    >>> round(value, 6), round(float(grad[0]), 6), bool(grad[1:].any())  # (10 / 50)^2 / 3
    (0.013333, -0.002667, False)
    """

    structure: str
    kind: str
    dose_gy: float
    volume_percent: float | None = None
    weight: float = 1.0
    a: float = 8.0
    limit_gy: FloatArray | None = None
    goal: ClinicalGoal | None = None
    hard: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PlanError(f"objective kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not (math.isfinite(self.dose_gy) and self.dose_gy > 0):
            raise PlanError(
                f"objective on {self.structure!r}: dose_gy must be positive, got {self.dose_gy}"
            )
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise PlanError(
                f"objective on {self.structure!r}: weight must be >= 0, got {self.weight}"
            )
        if self.kind.startswith("dvh") and not (
            self.volume_percent is not None and 0.0 <= self.volume_percent <= 100.0
        ):
            raise PlanError(
                f"objective on {self.structure!r}: a DVH penalty needs volume_percent in "
                f"[0, 100], got {self.volume_percent}"
            )
        if self.kind == "limit" and self.limit_gy is None:
            raise PlanError(f"objective on {self.structure!r}: 'limit' needs limit_gy")

    @property
    def upper(self) -> bool:
        """Whether the objective limits the dose from above (``max``, ``dvh_max``...)."""
        return self.kind not in ("min", "mean_min", "dvh_min")

    def constraint_selection(self, dose_gy: FloatArray) -> npt.NDArray[np.bool_]:
        """The points a hard constraint holds at a dose (its active-voxel selection).

        Every point, except for the DVH kinds: ``"dvh_max"`` releases the
        ``floor(v n / 100)`` hottest points, ``"dvh_min"`` holds the ``ceil(v n / 100)``
        hottest (ties broken by position, so the choice is deterministic).

        Parameters
        ----------
        dose_gy : numpy.ndarray, shape (n,)
            Dose at the structure's points, Gy.

        Returns
        -------
        numpy.ndarray of bool, shape (n,)
        """
        d = np.asarray(dose_gy, dtype=np.float64)
        sel = np.ones(d.size, dtype=bool)
        if not self.kind.startswith("dvh") or d.size == 0:
            return sel
        assert self.volume_percent is not None
        share = self.volume_percent * d.size / 100.0
        order = np.argsort(-d, kind="stable")  # hottest first
        if self.kind == "dvh_max":
            sel[order[: math.floor(share + 1e-9)]] = False
            return sel
        sel[:] = False
        sel[order[: max(1, math.ceil(share - 1e-9))]] = True
        return sel

    def constraint_values(
        self, dose_gy: FloatArray, selection: npt.NDArray[np.bool_] | None = None
    ) -> FloatArray:
        """The constraint functions ``g`` (met where ``g <= 0``), relative to the level.

        Parameters
        ----------
        dose_gy : numpy.ndarray, shape (n,)
            Dose at the structure's points, Gy.
        selection : numpy.ndarray of bool, shape (n,), optional
            The points held (:meth:`constraint_selection` of this dose by default).

        Returns
        -------
        numpy.ndarray, shape (m,)
            One value per held point (``"max"``, ``"min"``, ``"limit"``, DVH kinds: the
            points outside the selection give ``-inf``, so that they never bind), or one
            value (the mean and gEUD kinds).

        Examples
        --------
        >>> import numpy as np
        >>> from rtplan.planning import Objective
        >>> o = Objective(structure="Cord", kind="max", dose_gy=14.0, hard=True)
        >>> o.constraint_values(np.array([7.0, 14.7])).round(3).tolist()  # 5 % over at one
        [-0.5, 0.05]
        """
        d = np.asarray(dose_gy, dtype=np.float64)
        ref = self.dose_gy
        if self.kind in ("mean_min", "mean_max"):
            rel = float(d.mean()) / ref - 1.0 if d.size else -1.0
            return np.array([rel if self.kind == "mean_max" else -rel])
        if self.kind == "geud_max":
            geud = float(np.mean(np.maximum(d, 1e-12) ** self.a)) ** (1.0 / self.a)
            return np.array([geud / ref - 1.0 if d.size else -1.0])
        level: FloatArray | float = ref
        if self.kind == "limit":
            assert self.limit_gy is not None
            level = self.limit_gy
        g = d / level - 1.0 if self.upper else 1.0 - d / level
        sel = self.constraint_selection(d) if selection is None else selection
        return np.asarray(np.where(sel, g, -np.inf))

    def constraint_vjp(self, dose_gy: FloatArray, weights: FloatArray) -> FloatArray:
        """``sum_i w_i grad g_i`` with respect to the dose, for :meth:`constraint_values`.

        Parameters
        ----------
        dose_gy : numpy.ndarray, shape (n,)
            Dose at the structure's points, Gy.
        weights : numpy.ndarray, shape (m,)
            One weight per constraint value (zero where a point is not held).

        Returns
        -------
        numpy.ndarray, shape (n,)
        """
        d = np.asarray(dose_gy, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        ref = self.dose_gy
        if self.kind in ("mean_min", "mean_max"):
            sign = 1.0 if self.kind == "mean_max" else -1.0
            return np.full(d.size, sign * float(w[0]) / (ref * max(d.size, 1)))
        if self.kind == "geud_max":
            a = self.a
            dm = np.maximum(d, 1e-12)
            mean_pow = float(np.mean(dm**a))
            geud = mean_pow ** (1.0 / a)
            return np.asarray(float(w[0]) * geud / mean_pow * dm ** (a - 1.0) / (d.size * ref))
        level: FloatArray | float = ref
        if self.kind == "limit":
            assert self.limit_gy is not None
            level = self.limit_gy
        sign = 1.0 if self.upper else -1.0
        return np.asarray(sign * w / level)

    def with_weight(self, weight: float) -> Objective:
        """A copy with another weight."""
        return replace(self, weight=float(weight))

    def value_and_gradient(self, dose_gy: FloatArray) -> tuple[float, FloatArray]:
        """The weighted penalty and its gradient with respect to the voxel doses.

        Parameters
        ----------
        dose_gy : numpy.ndarray, shape (n,)
            Dose of the whole plan at the structure's voxels, Gy.

        Returns
        -------
        value : float
        gradient : numpy.ndarray, shape (n,)
        """
        d = np.asarray(dose_gy, dtype=np.float64)
        n = max(d.size, 1)
        ref = self.dose_gy
        scale = self.weight / (ref * ref)
        grad = np.zeros_like(d)
        if d.size == 0 or self.weight == 0.0:
            return 0.0, grad
        if self.kind in ("min", "max", "limit"):
            level: FloatArray | float = ref
            if self.kind == "limit":
                assert self.limit_gy is not None
                level = self.limit_gy
            diff = d - level if self.kind != "min" else level - d
            diff = np.maximum(diff, 0.0)
            sign = -1.0 if self.kind == "min" else 1.0
            grad = sign * 2.0 * scale * diff / n
            return float(scale * np.dot(diff, diff) / n), np.asarray(grad)
        if self.kind in ("mean_min", "mean_max"):
            excess = float(d.mean()) - ref
            if self.kind == "mean_min":
                excess = -excess
            if excess <= 0:
                return 0.0, grad
            sign = -1.0 if self.kind == "mean_min" else 1.0
            grad[:] = sign * 2.0 * scale * excess / n
            return scale * excess * excess, grad
        if self.kind == "geud_max":
            return self._geud(d, scale)
        return self._dvh(d, scale, n)

    def _geud(self, d: FloatArray, scale: float) -> tuple[float, FloatArray]:
        a = self.a
        dm = np.maximum(d, 1e-12)
        mean_pow = float(np.mean(dm**a))
        geud = mean_pow ** (1.0 / a)
        excess = geud - self.dose_gy
        if excess <= 0:
            return 0.0, np.zeros_like(d)
        dgeud = geud / mean_pow * dm ** (a - 1.0) / d.size
        return scale * excess * excess, np.asarray(2.0 * scale * excess * dgeud)

    def _dvh(self, d: FloatArray, scale: float, n: int) -> tuple[float, FloatArray]:
        assert self.volume_percent is not None
        ref = self.dose_gy
        current = float(np.percentile(d, 100.0 - self.volume_percent))
        grad = np.zeros_like(d)
        if self.kind == "dvh_min":
            if current >= ref:
                return 0.0, grad
            sel = (d < ref) & (d >= current)
            diff = np.where(sel, ref - d, 0.0)
            return float(scale * np.dot(diff, diff) / n), np.asarray(-2.0 * scale * diff / n)
        if current <= ref:
            return 0.0, grad
        sel = (d > ref) & (d <= current)
        diff = np.where(sel, d - ref, 0.0)
        return float(scale * np.dot(diff, diff) / n), np.asarray(2.0 * scale * diff / n)


def _dose_gy(goal: ClinicalGoal, value: float, prescription_gy: float | None) -> float:
    """A dose of the goal in Gy (``%`` is of the prescription)."""
    unit = goal.at_unit if goal.quantity == "V" else goal.unit
    if unit == "%":
        if prescription_gy is None:
            raise PlanError(f"goal {goal.text!r} is relative to the prescription; give one")
        return value * prescription_gy / 100.0
    return value


def _volume_percent(goal: ClinicalGoal, value: float, unit: str, volume_cc: float) -> float:
    """A volume of the goal in percent of the structure (``cc`` converted)."""
    if unit == "cc":
        if volume_cc <= 0:
            raise PlanError(f"goal {goal.text!r}: the structure has no volume")
        return float(np.clip(100.0 * value / volume_cc, 0.0, 100.0))
    return value


def _from_goal(
    goal: ClinicalGoal, prescription_gy: float | None, volume_cc: float, weight: float, hard: bool
) -> Objective:
    upper = goal.op in ("<=", "<")
    common = {"structure": goal.structure, "weight": weight, "goal": goal, "hard": hard}
    if goal.quantity == "V":
        assert goal.at is not None
        dose = _dose_gy(goal, goal.at, prescription_gy)
        vol = _volume_percent(goal, goal.value, goal.unit, volume_cc)
        kind = "dvh_max" if upper else "dvh_min"
        return Objective(kind=kind, dose_gy=dose, volume_percent=vol, **common)  # type: ignore[arg-type]
    dose = _dose_gy(goal, goal.value, prescription_gy)
    if goal.quantity in ("D", "Dmedian"):
        at = 50.0 if goal.quantity == "Dmedian" else goal.at
        assert at is not None
        vol = _volume_percent(goal, at, goal.at_unit, volume_cc)
        kind = "dvh_max" if upper else "dvh_min"
        return Objective(kind=kind, dose_gy=dose, volume_percent=vol, **common)  # type: ignore[arg-type]
    if goal.quantity == "Dmean":
        return Objective(kind="mean_max" if upper else "mean_min", dose_gy=dose, **common)  # type: ignore[arg-type]
    if goal.quantity == "Dmax" and upper:
        return Objective(kind="max", dose_gy=dose, **common)  # type: ignore[arg-type]
    if goal.quantity == "Dmin" and not upper:
        return Objective(kind="min", dose_gy=dose, **common)  # type: ignore[arg-type]
    raise PlanError(
        f"goal {goal.text!r} asks for a {'largest' if goal.quantity == 'Dmax' else 'smallest'} "
        f"dose {'below' if upper else 'above'} a level, which no optimiser aims at; write it "
        "as a dose-volume goal (e.g. 'PTV D2% >= 50 Gy')"
    )


def objectives_from_goals(
    goals: Iterable[ClinicalGoal | str],
    *,
    prescription_gy: float | None,
    volumes_cc: dict[str, float] | None = None,
    weight: float = 1.0,
    hard: bool = False,
) -> list[Objective]:
    """Objectives (or hard constraints) that stand for clinical goals.

    ``D<v> >= D`` and ``V<D> >= v`` become ``"dvh_min"``, their ``<=`` forms ``"dvh_max"``;
    ``Dmax <=`` is ``"max"``, ``Dmin >=`` is ``"min"``, ``Dmean`` the mean penalties;
    volumes in cc are converted with the structures' volumes.

    Parameters
    ----------
    goals : iterable of ClinicalGoal or str
        Goals, or their texts (:func:`rtplan.evaluate.parse_goal`).
    prescription_gy : float or None
        Total prescription, for goals in percent of it.
    volumes_cc : dict of str to float, optional
        Structure volumes, cm³, for goals with volumes in cc.
    weight : float
        Weight of every objective.
    hard : bool
        Make hard constraints (``Objective.hard``) instead of weighted objectives.

    Returns
    -------
    list of Objective

    Raises
    ------
    PlanError
        If a goal is relative to a missing prescription or cannot be optimised for.

    Examples
    --------
    >>> from rtplan.planning import objectives_from_goals
    >>> objs = objectives_from_goals(["PTV D95 >= 50 Gy", "Core D10 <= 25 Gy",
    ...                               "Cord Dmax <= 90 %"], prescription_gy=50.0)
    >>> [(o.structure, o.kind, o.dose_gy, o.volume_percent) for o in objs]
    [('PTV', 'dvh_min', 50.0, 95.0), ('Core', 'dvh_max', 25.0, 10.0), ('Cord', 'max', 45.0, None)]
    >>> [o.hard for o in objectives_from_goals(["Cord D0.03cc <= 17 Gy"], prescription_gy=None,
    ...                                        volumes_cc={"Cord": 3.0}, hard=True)]
    [True]
    """
    out = []
    vols = volumes_cc or {}
    for g in goals:
        goal = parse_goal(g) if isinstance(g, str) else g
        out.append(_from_goal(goal, prescription_gy, vols.get(goal.structure, 0.0), weight, hard))
    return out
