"""Clinical goals: ``"PTV D95 >= 95 %"`` and the like, evaluated into a pass/fail table.

Grammar (case-insensitive, spaces optional around the operator)::

    <structure> <metric> <operator> <value> [<unit>]

* metric ``D<v>`` / ``D<v>%`` / ``D<v>cc``: the minimum dose to the hottest ``v`` percent
  (default) or ``v`` cm³ of the structure; ``Dmax``, ``Dmin``, ``Dmean``, ``Dmedian``.
  Its value is a dose in ``Gy`` (default), ``cGy`` or ``%`` (or ``%Rx``) of the
  prescription.
* metric ``V<x>Gy`` / ``V<x>cGy`` / ``V<x>%`` / ``V<x>%Rx``: the volume receiving at least
  ``x`` Gy (the default unit) or ``x`` percent of the prescription. Its value is a volume
  in ``%`` of the structure (default) or ``cc`` (cm³).
* operator ``<=``, ``<``, ``>=``, ``>`` (``≤`` and ``≥`` are accepted).

So ``%`` after a dose means percent of the prescription and ``%`` after a volume percent
of the structure; tables write the former ``%Rx`` (``"PTV D95% >= 95 %Rx"``), and so may
goals.

Examples: ``"PTV D95 >= 95 %"``, ``"PTV D95% >= 28.5 Gy"``, ``"SpinalCord D0.03cc <= 14
Gy"``, ``"Femur V20Gy <= 10 %"``, ``"Body Dmax <= 107 %Rx"``, ``"Bladder V40Gy <= 50 cc"``,
``"PTV V95%Rx >= 98 %"``.

The dose's meaning
------------------
Goals are limits on the whole plan's physical dose. :func:`dose_for_evaluation` decides,
for :func:`evaluate_goals` and the review report alike, what a :class:`~rtplan.Dose` may
stand for (DICOM DoseSummationType and DoseType, :attr:`rtplan.Dose.meaning`):

* a whole-plan dose (``PLAN``, ``MULTI_PLAN``, ``PLAN_OVERVIEW``), physical or effective,
  is evaluated as it is;
* a per-fraction dose (``FRACTION``, ``FRACTION_SESSION``) is converted to the plan total
  (:meth:`rtplan.Dose.total`) only when the number of fractions is known -- from the plan
  (``fractions=``) or the dose itself, the two never contradicting -- and refused
  otherwise: a dose of one fraction "passes" every organ limit of the plan;
* a dose of part of a plan (``BEAM``, ``BRACHY``, ``CONTROL_POINT``, ``RECORD``...) and an
  ``ERROR`` dose (a difference of doses) are refused.

What was evaluated, and any conversion, is stated in :attr:`GoalTable.dose_basis` (the
first line of :meth:`GoalTable.format_table`).
"""

from __future__ import annotations

import csv
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan._atomic import atomic_open
from rtplan._format import csv_number
from rtplan.errors import StructureError
from rtplan.evaluate._common import EvaluationError, check_dose
from rtplan.evaluate._dvh import dvh
from rtplan.evaluate._dvh_type import DVH
from rtplan.image import Dose, DoseSummationType, DoseType, Image
from rtplan.structures import Structure

if TYPE_CHECKING:
    import pandas  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "ClinicalGoal",
    "EvaluationDose",
    "GoalResult",
    "GoalTable",
    "dose_for_evaluation",
    "evaluate_goals",
    "parse_goal",
]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
_NUM = r"\d+(?:\.\d*)?|\.\d+"
_GOAL_RE = re.compile(
    rf"""^\s*(?P<roi>.+?)\s+
    (?P<metric>D(?:max|min|mean|median)
              |D(?P<dv>{_NUM})\s*(?P<dvu>%|cc|cm3|cm³)?
              |V(?P<vd>{_NUM})\s*(?P<vdu>cGy|Gy|%\s*Rx|%)?)
    \s*(?P<op><=|>=|<|>|≤|≥)\s*
    (?P<value>[-+]?(?:{_NUM}))\s*(?P<unit>cGy|Gy|%\s*Rx|%|cc|cm3|cm³)?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClinicalGoal:
    """One dose-volume constraint on one structure.

    Attributes
    ----------
    structure : str
        Structure name (matched case-insensitively when not found exactly).
    quantity : {"D", "V", "Dmax", "Dmin", "Dmean", "Dmedian"}
        ``D``: dose at a volume; ``V``: volume at a dose; the others: dose statistics.
    at : float or None
        Volume (for ``D``) or dose level (for ``V``).
    at_unit : str
        ``"%"`` or ``"cc"`` for ``D``; ``"Gy"`` or ``"%"`` (of prescription) for ``V``.
    op : {"<=", "<", ">=", ">"}
    value : float
        Limit.
    unit : str
        ``"Gy"`` or ``"%"`` (of prescription) for doses; ``"%"`` or ``"cc"`` for volumes.
    text : str
        The goal as written.
    """

    structure: str
    quantity: str
    at: float | None
    at_unit: str
    op: str
    value: float
    unit: str
    text: str

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise EvaluationError(f"goal {self.text!r}: operator must be one of {list(_OPS)}")
        if self.quantity not in ("D", "V", "Dmax", "Dmin", "Dmean", "Dmedian"):
            raise EvaluationError(f"goal {self.text!r}: unknown quantity {self.quantity!r}")

    @property
    def needs_prescription(self) -> bool:
        """True when the goal is relative to the prescription dose."""
        return (self.quantity == "V" and self.at_unit == "%") or (
            self.quantity != "V" and self.unit == "%"
        )

    @property
    def metric(self) -> str:
        """The metric as written in tables: ``D95%``, ``D0.03cc``, ``V20Gy``, ``V95%Rx``..."""
        if self.quantity == "V":
            return f"V{self.at:g}{'%Rx' if self.at_unit == '%' else self.at_unit}"
        if self.quantity == "D":
            return f"D{self.at:g}{self.at_unit}"
        return self.quantity

    @property
    def display_unit(self) -> str:
        """The unit of :attr:`value` as tables write it (``%Rx``: percent of the prescription)."""
        return "%Rx" if self.quantity != "V" and self.unit == "%" else self.unit

    def measure(self, h: DVH, prescription_gy: float | None = None) -> float:
        """The goal's quantity for a DVH, in the goal's unit (:attr:`unit`).

        Raises
        ------
        EvaluationError
            If the goal is relative to the prescription and none is given.
        """
        rx = prescription_gy
        if self.needs_prescription and (rx is None or not rx > 0):
            raise EvaluationError(
                f"goal {self.text!r} is relative to the prescription; pass prescription_gy"
            )
        if self.quantity == "V":
            assert self.at is not None
            return h.V(self.at, volume_unit=self.unit, dose_unit=self.at_unit, prescription_gy=rx)
        if self.quantity == "D":
            assert self.at is not None
            gy = h.D(self.at, volume_unit=self.at_unit)
        else:
            gy = {
                "Dmax": h.max_gy,
                "Dmin": h.min_gy,
                "Dmean": h.mean_gy,
                "Dmedian": h.D50,
            }[self.quantity]
        if self.unit == "%":
            assert rx is not None
            return 100.0 * gy / rx
        return gy

    def check(self, measured: float) -> bool | None:
        """Whether a measured value meets the goal (``None`` when it is undefined)."""
        if not math.isfinite(measured):
            return None
        return bool(_OPS[self.op](measured, self.value))

    def __str__(self) -> str:
        return f"{self.structure} {self.metric} {self.op} {self.value:g} {self.display_unit}"


def parse_goal(text: str) -> ClinicalGoal:
    """Parse a clinical goal written as text (see the module notes for the grammar).

    Parameters
    ----------
    text : str
        E.g. ``"PTV D95 >= 95 %"`` or ``"SpinalCord D0.03cc <= 14 Gy"``.

    Returns
    -------
    ClinicalGoal

    Raises
    ------
    EvaluationError
        If the text does not follow the grammar, its units do not fit the metric, or a
        percentage of the structure's volume lies outside 0 to 100 %.

    Examples
    --------
    >>> g = parse_goal("Femur V20Gy <= 10 %")
    >>> (g.structure, g.quantity, g.at, g.at_unit, g.op, g.value, g.unit)
    ('Femur', 'V', 20.0, 'Gy', '<=', 10.0, '%')
    """
    m = _GOAL_RE.match(text)
    if m is None:
        raise EvaluationError(
            f"cannot read the goal {text!r}; write '<structure> <metric> <op> <value> <unit>', "
            "e.g. 'PTV D95% >= 95 %', 'SpinalCord D0.03cc <= 14 Gy', 'Femur V20Gy <= 10 %'"
        )
    op = {"≤": "<=", "≥": ">="}.get(m["op"], m["op"])
    value = float(m["value"])
    unit = _unit(m["unit"])
    metric = m["metric"]
    if m["dv"] is not None:
        quantity, at = "D", float(m["dv"])
        at_unit = (m["dvu"] or "%").lower().replace("cm3", "cc").replace("cm³", "cc")
    elif m["vd"] is not None:
        quantity, at = "V", float(m["vd"])
        vdu = _unit(m["vdu"] or "Gy")
        at_unit = "%" if vdu in ("%", "%rx") else "Gy"
        if vdu == "cgy":
            at /= 100.0
    else:
        quantity, at, at_unit = "D" + metric[1:].lower(), None, ""
    if quantity == "D" and at is not None and at_unit == "%" and not 0.0 <= at <= 100.0:
        raise EvaluationError(
            f"goal {text!r}: D{at:g}% asks for the dose to {at:g} % of the structure; give a "
            "volume from 0 to 100 % (or in cc, e.g. D2cc)"
        )
    if quantity == "V":
        unit = unit or "%"
        if unit not in ("%", "cc"):
            raise EvaluationError(f"goal {text!r}: a volume limit is in '%' or 'cc', not {unit!r}")
        if unit == "%" and not 0.0 <= value <= 100.0:
            raise EvaluationError(
                f"goal {text!r}: a volume limit of {value:g} % of the structure is outside "
                "0 to 100 %; check the number (or give it in cc)"
            )
    else:
        unit = unit or "gy"
        if unit not in ("gy", "cgy", "%", "%rx"):
            raise EvaluationError(
                f"goal {text!r}: a dose limit is in 'Gy' or '%' (of the prescription), not {unit!r}"
            )
        if unit == "cgy":
            value, unit = value / 100.0, "gy"
        unit = "Gy" if unit == "gy" else "%"
    return ClinicalGoal(
        structure=m["roi"].strip(),
        quantity=quantity,
        at=at,
        at_unit=at_unit,
        op=op,
        value=value,
        unit=unit,
        text=text.strip(),
    )


def _unit(text: str | None) -> str:
    """A unit as written, normalised: ``gy``, ``cgy``, ``%``, ``%rx``, ``cc`` (or ``""``)."""
    u = re.sub(r"\s+", "", text or "").lower()
    return u.replace("cm3", "cc").replace("cm³", "cc")


@dataclass(frozen=True, kw_only=True, slots=True)
class GoalResult:
    """One row of a goal table.

    Attributes
    ----------
    goal : ClinicalGoal
    measured : float
        In the goal's unit; ``nan`` when it could not be measured.
    passed : bool or None
        ``None`` when the goal could not be evaluated (see ``note``).
    note : str
        Why a goal was not evaluated (missing structure, empty DVH...).
    """

    goal: ClinicalGoal
    measured: float
    passed: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        """``"PASS"``, ``"FAIL"`` or ``"N/A"``."""
        return "N/A" if self.passed is None else ("PASS" if self.passed else "FAIL")


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class EvaluationDose:
    """The dose that goals and reports evaluate, and what it is.

    Attributes
    ----------
    dose : rtplan.Dose or rtplan.Image
        The whole plan's dose (converted from a per-fraction dose when ``converted``).
    basis : str
        What was evaluated, in words, with any conversion: e.g. ``"PHYSICAL dose, PLAN
        (25 fractions); total: FRACTION dose multiplied by 25 fractions"``.
    converted : bool
        True when a per-fraction dose was multiplied by the number of fractions.
    """

    dose: Image
    basis: str
    converted: bool = False


def _refusal(dose: Dose, purpose: str) -> str | None:
    """Why ``purpose`` cannot use ``dose`` (or ``None`` when it can, maybe converted)."""
    kind = DoseSummationType(dose.summation_type)
    name = f"dose {dose.name!r}" if dose.name else "the dose"
    if DoseType(dose.dose_type) is DoseType.ERROR:
        return (
            f"{name} is an ERROR dose ({dose.meaning}): a difference between two doses, not an "
            f"absorbed dose; {purpose} need the plan's PHYSICAL dose"
        )
    if kind.is_partial:
        return (
            f"{name} is a {kind.value} dose ({dose.meaning}): part of the plan, not the whole "
            f"plan's dose, so it would pass organ limits the plan exceeds; {purpose} need the "
            "PLAN dose (or the sum of every part's dose)"
        )
    if kind.is_per_fraction and dose.fractions is None:
        return (
            f"{name} is a {kind.value} dose ({dose.meaning}): one fraction, not the whole "
            f"plan's dose, so it would pass organ limits the plan exceeds; {purpose} convert it "
            "with the plan's number of fractions: give the plan (fractions=, or --plan RTPLAN)"
        )
    return None


def dose_for_evaluation(
    dose: Image, *, fractions: int | None = None, purpose: str = "clinical goals"
) -> EvaluationDose:
    """The whole plan's dose for goals and reports: as it is, converted, or refused.

    See the module notes: whole-plan doses pass; a per-fraction dose is multiplied by the
    plan's number of fractions when it is known; partial and ``ERROR`` doses are refused.

    Parameters
    ----------
    dose : rtplan.Dose or rtplan.Image
        A dose in Gy; a plain :class:`~rtplan.Image` carries no DICOM meaning and is taken
        as the whole plan's physical dose.
    fractions : int, optional
        The plan's number of fractions (e.g. ``plan.fractions``); the dose's own
        :attr:`~rtplan.Dose.fractions` when not given. When both are known they must agree.
    purpose : str
        What the dose is for, in messages (``"clinical goals"``, ``"the review report"``).

    Returns
    -------
    EvaluationDose

    Raises
    ------
    EvaluationError
        If the dose is an ``ERROR`` dose, part of a plan, or per fraction with the number
        of fractions unknown (the message says which, and how to convert).
    DoseError
        If ``fractions`` contradicts the dose's own number of fractions.
    StructureError
        With ``missing="raise"``, if a goal names a structure that is not in
        ``structures`` (the message lists the goals concerned and the names available).

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.evaluate import dose_for_evaluation
    >>> g = rtplan.Grid(shape=(1, 1, 1), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
    >>> one = rtplan.Dose(array=np.full(g.shape, 2.0), grid=g, summation_type="FRACTION")
    >>> e = dose_for_evaluation(one, fractions=25)
    >>> float(e.dose.array[0, 0, 0]), e.converted
    (50.0, True)
    >>> e.basis
    'PHYSICAL dose, PLAN (25 fractions); total: FRACTION dose multiplied by 25 fractions'
    >>> dose_for_evaluation(one)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rtplan.errors.EvaluationError: the dose is a FRACTION dose (...): one fraction, not the ...
    """
    dose = check_dose(dose)
    if not isinstance(dose, Dose):
        return EvaluationDose(dose=dose, basis="dose in Gy (an Image: taken as the plan's dose)")
    if fractions is not None and dose.fractions is None:
        dose = dose.with_array(dose.array, fractions=fractions)
    why = _refusal(dose, purpose)
    if why is not None:
        raise EvaluationError(why)
    if DoseSummationType(dose.summation_type).is_per_fraction:
        total = dose.total(fractions)
        return EvaluationDose(dose=total, basis=total.meaning, converted=True)
    if fractions is not None:
        dose.total(fractions)  # a whole-plan dose of other fractions is refused (DoseError)
    return EvaluationDose(dose=dose, basis=dose.meaning)


@dataclass(frozen=True, slots=True)
class GoalTable:
    """The evaluated goals, in the order given.

    Attributes
    ----------
    rows : tuple of GoalResult
    dose_basis : str
        The dose the goals were evaluated on, and any conversion made
        (:attr:`EvaluationDose.basis`).
    """

    rows: tuple[GoalResult, ...]
    dose_basis: str = ""

    def __iter__(self) -> Iterator[GoalResult]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def all_passed(self) -> bool:
        """True when every goal was evaluated and passed."""
        return all(r.passed is True for r in self.rows)

    @property
    def n_failed(self) -> int:
        """Goals evaluated and failed."""
        return sum(1 for r in self.rows if r.passed is False)

    def format_table(self) -> str:
        """Fixed-width text: the dose evaluated, then structure, goal, measured value, result."""
        head = ["Structure", "Goal", "Measured", "Result"]
        cells = [head]
        for r in self.rows:
            g = r.goal
            meas = "-" if not math.isfinite(r.measured) else f"{r.measured:.2f} {g.display_unit}"
            goal = f"{g.metric} {g.op} {g.value:g} {g.display_unit}"
            status = r.status + (f" ({r.note})" if r.note else "")
            cells.append([g.structure, goal, meas, status])
        widths = [max(len(row[c]) for row in cells) for c in range(4)]
        lines = [f"dose: {self.dose_basis}"] if self.dose_basis else []
        for n, row in enumerate(cells):
            lines.append(
                "  ".join(
                    row[c].rjust(widths[c]) if c == 2 else row[c].ljust(widths[c]) for c in range(4)
                ).rstrip()
            )
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        passed = sum(1 for r in self.rows if r.passed)
        lines.append(f"{passed} of {len(self.rows)} goals met")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The table as plain JSON-ready values: the dose evaluated and one entry per goal."""
        return {
            "dose": self.dose_basis,
            "all_passed": self.all_passed,
            "goals": [
                {
                    "structure": r.goal.structure,
                    "goal": r.goal.text,
                    "measured": round(r.measured, 4) if math.isfinite(r.measured) else None,
                    "unit": r.goal.display_unit,
                    "result": r.status,
                    "note": r.note,
                }
                for r in self.rows
            ],
        }

    def to_pandas(self) -> pandas.DataFrame:
        """The table as a pandas DataFrame, one row per goal, in the order given.

        Returns
        -------
        pandas.DataFrame
            Columns ``structure``, ``goal``, ``measured`` (float64, NaN when not
            measured), ``unit``, ``result`` (``PASS``, ``FAIL``, ``N/A``), ``passed``
            (True, False or None) and ``note``; ``attrs["dose"]`` holds
            :attr:`dose_basis`.

        Raises
        ------
        MissingDependencyError
            If pandas is not installed (the message says how to install it).

        Examples
        --------
        >>> import numpy as np, rtplan
        >>> from rtplan.evaluate import evaluate_goals
        >>> from rtplan.testing import cube_grid, sphere_contour_structure
        >>> g = cube_grid(20, spacing=2.5)
        >>> dose = rtplan.Dose(array=np.full(g.shape, 29.0), grid=g)
        >>> ptv = sphere_contour_structure(g, (0.0, 0.0, 0.0), 10.0, name="PTV")
        >>> frame = evaluate_goals(["PTV Dmax <= 29.5 Gy"], dose, [ptv]).to_pandas()
        >>> frame.loc[0, "measured"], frame.loc[0, "result"]
        (np.float64(29.0), 'PASS')
        """
        from rtplan._deps import import_optional

        pd = import_optional("pandas", extra="pandas", purpose="a goal table as a DataFrame")
        frame = pd.DataFrame(
            {
                "structure": [r.goal.structure for r in self.rows],
                "goal": [r.goal.text for r in self.rows],
                "measured": pd.Series([r.measured for r in self.rows], dtype="float64"),
                "unit": [r.goal.display_unit for r in self.rows],
                "result": [r.status for r in self.rows],
                "passed": pd.Series([r.passed for r in self.rows], dtype="object"),
                "note": [r.note for r in self.rows],
            }
        )
        frame.attrs["dose"] = self.dose_basis
        return frame

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (structure, goal, measured, unit, result, note).

        The unit is :attr:`ClinicalGoal.display_unit` (``%Rx`` for percent of the
        prescription); the measured value has the precision of its unit
        (:func:`rtplan._format.csv_number`: 0.01 Gy, 0.01 cm³, 0.1 %), empty when it
        could not be evaluated.

        Parameters
        ----------
        path : str or Path
            The CSV file (written atomically).

        Returns
        -------
        Path
        """
        p = Path(path)
        with atomic_open(p, newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["structure", "goal", "measured", "unit", "result", "note"])
            for r in self.rows:
                meas = csv_number(r.measured, r.goal.display_unit)
                w.writerow(
                    [r.goal.structure, r.goal.text, meas, r.goal.display_unit, r.status, r.note]
                )
        return p


def _check_goal_structures(
    goals: Sequence[ClinicalGoal],
    exact: Mapping[str, Structure],
    folded: Mapping[str, list[Structure]],
) -> None:
    """Raise a StructureError naming the goals whose structure is not in the set."""
    import difflib

    absent = [
        g
        for g in goals
        if g.structure not in exact and len(folded.get(g.structure.casefold(), [])) != 1
    ]
    if not absent:
        return
    names = sorted({g.structure for g in absent})
    hints = []
    for n in names:
        close = difflib.get_close_matches(n, list(exact), n=2, cutoff=0.6)
        hints.append(
            f"{n!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")
        )
    which = "; ".join(repr(g.text) for g in absent)
    raise StructureError(
        f"goal(s) {which} name structure(s) not in the set: {', '.join(hints)}; "
        f"available: {', '.join(exact) or '(none)'}"
    )


def evaluate_goals(
    goals: Iterable[ClinicalGoal | str],
    dose: Image,
    structures: Iterable[Structure],
    prescription_gy: float | None = None,
    *,
    dvhs: Mapping[str, DVH] | None = None,
    fractions: int | None = None,
    missing: str = "raise",
    **dvh_options: Any,
) -> GoalTable:
    """Evaluate clinical goals into a pass/fail table, on the whole plan's dose.

    Parameters
    ----------
    goals : iterable of ClinicalGoal or str
        Goals, or texts for :func:`parse_goal`.
    dose : rtplan.Dose
        Dose in Gy. A per-fraction dose is converted to the plan total when the number of
        fractions is known, and refused otherwise; a dose of part of a plan (one beam...)
        or an ``ERROR`` dose is refused (see :func:`dose_for_evaluation`).
    structures : StructureSet or iterable of Structure
        Looked up by name (exact, then case-insensitive).
    prescription_gy : float, optional
        Total prescription of the plan; needed by goals in percent of the prescription.
    dvhs : mapping of str to DVH, optional
        Already computed DVHs by structure name (reused instead of recomputed), of the dose
        the goals evaluate (one whose :attr:`~rtplan.evaluate.DVH.dose_meaning` names another
        dose, e.g. the fraction before its conversion, is computed again).
    fractions : int, optional
        The plan's number of fractions, to convert a per-fraction dose (the dose's own by
        default).
    missing : {"raise", "report"}
        What a goal on a structure the set does not hold does: ``"raise"`` (default) a
        :class:`~rtplan.errors.StructureError` naming it and the structures available;
        ``"report"`` a row with ``passed=None`` and the note ``"no such structure"`` (for
        goals applied to many studies, as a library does).
    **dvh_options
        Passed to :func:`rtplan.evaluate.dvh`.

    Returns
    -------
    GoalTable
        An empty structure gives a row with ``passed=None`` and a note;
        :attr:`GoalTable.dose_basis` says what dose was evaluated and any conversion.

    Raises
    ------
    EvaluationError
        If a goal text cannot be parsed, a relative goal has no prescription, or the dose
        cannot stand for the whole plan (the message says why and how to convert it).
    DoseError
        If ``fractions`` contradicts the dose's own number of fractions.
    StructureError
        With ``missing="raise"``, if a goal names a structure that is not in
        ``structures`` (the message lists the goals concerned and the names available).

    Examples
    --------
    >>> import numpy as np, rtplan
    >>> from rtplan.evaluate import evaluate_goals
    >>> from rtplan.testing import cube_grid, sphere_contour_structure
    >>> g = cube_grid(20, spacing=2.5)
    >>> dose = rtplan.Dose(array=np.full(g.shape, 29.0), grid=g)
    >>> ptv = sphere_contour_structure(g, (0.0, 0.0, 0.0), 10.0, name="PTV")
    >>> table = evaluate_goals(["PTV D95 >= 95 %", "PTV Dmax <= 29.5 Gy"], dose, [ptv], 30.0)
    >>> print(table.format_table())
    dose: PHYSICAL dose, PLAN (fractions unknown)
    Structure  Goal              Measured  Result
    ---------  ---------------  ---------  ------
    PTV        D95% >= 95 %Rx   96.67 %Rx  PASS
    PTV        Dmax <= 29.5 Gy   29.00 Gy  PASS
    2 of 2 goals met

    The same dose as one fraction of 15: converted, and the table says so:

    >>> one = rtplan.Dose(array=np.full(g.shape, 2.0), grid=g, summation_type="FRACTION")
    >>> table = evaluate_goals(["PTV Dmax <= 29.5 Gy"], one, [ptv], fractions=15)
    >>> print(table.format_table())
    dose: PHYSICAL dose, PLAN (15 fractions); total: FRACTION dose multiplied by 15 fractions
    Structure  Goal             Measured  Result
    ---------  ---------------  --------  ------
    PTV        Dmax <= 29.5 Gy  30.00 Gy  FAIL
    0 of 1 goals met
    """
    evaluated = dose_for_evaluation(dose, fractions=fractions)
    dose = evaluated.dose
    parsed = [g if isinstance(g, ClinicalGoal) else parse_goal(g) for g in goals]
    if prescription_gy is None:
        for g in parsed:
            if g.needs_prescription:
                raise EvaluationError(
                    f"goal {g.text!r} is relative to the prescription; pass prescription_gy"
                )
    if missing not in ("raise", "report"):
        raise EvaluationError(f"missing={missing!r}: use 'raise' or 'report'")
    items: Sequence[Structure] = list(structures)
    exact = {s.name: s for s in items}
    folded: dict[str, list[Structure]] = {}
    for item in items:
        folded.setdefault(item.name.casefold(), []).append(item)
    if missing == "raise":
        _check_goal_structures(parsed, exact, folded)
    meaning = str(getattr(dose, "meaning", ""))
    # a DVH computed on another dose (one fraction, before the conversion) is computed again
    cache = {
        k: h for k, h in (dvhs or {}).items() if not (h.dose_meaning and h.dose_meaning != meaning)
    }
    rows: list[GoalResult] = []
    for g in parsed:
        s: Structure | None = exact.get(g.structure)
        if s is None and len(folded.get(g.structure.casefold(), [])) == 1:
            s = folded[g.structure.casefold()][0]
        if s is None:
            rows.append(
                GoalResult(goal=g, measured=math.nan, passed=None, note="no such structure")
            )
            continue
        h = cache.get(s.name)
        if h is None:
            h = dvh(dose, s, **dvh_options)
            cache[s.name] = h
        if h.is_empty:
            rows.append(GoalResult(goal=g, measured=math.nan, passed=None, note="empty DVH"))
            continue
        value = g.measure(h, prescription_gy)
        passed = g.check(value)
        rows.append(
            GoalResult(
                goal=g,
                measured=value,
                passed=passed,
                note="" if passed is not None else "undefined for this structure",
            )
        )
    return GoalTable(tuple(rows), dose_basis=evaluated.basis)
