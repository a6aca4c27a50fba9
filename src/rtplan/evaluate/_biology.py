"""Plan sums and linear-quadratic dose conversions (BED, EQD2), voxel by voxel.

For a physical dose ``D`` delivered in ``n`` equal fractions of ``d = D / n`` and a tissue
with ratio ``alpha/beta`` (Gy), the linear-quadratic model (Fowler 1989, Br J Radiol
62:679) gives::

    BED  = D (1 + d / (alpha/beta))
    EQD2 = D (d + alpha/beta) / (2 + alpha/beta)      (= BED / (1 + 2 / (alpha/beta)))

Default alpha/beta ratios, by tissue class (:data:`ALPHA_BETA_GY`):

* ``tumour``: 10 Gy, early-responding tissue and most carcinomas (Fowler 1989; Joiner &
  van der Kogel, *Basic Clinical Radiobiology*, 4th ed., 2009, ch. 8);
* ``late``: 3 Gy, late-responding normal tissue (same sources);
* ``spinal_cord``: 2 Gy, spinal cord myelopathy (QUANTEC, Kirkpatrick et al. 2010,
  IJROBP 76(3 Suppl):S42-S49).

Sarcomas and some other tumours have lower ratios (about 4-5 Gy): pass your own values.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.evaluate._common import EvaluationError, check_dose, finite_positive
from rtplan.grid import Grid
from rtplan.image import Dose, DoseMedium, DoseSummationType, Image
from rtplan.structures import Structure

__all__ = [
    "ALPHA_BETA_GY",
    "alpha_beta_map",
    "bed",
    "default_alpha_beta",
    "eqd2",
    "plan_sum",
]

logger = logging.getLogger(__name__)

#: Default alpha/beta ratios in Gy by tissue class (sources in the module notes).
ALPHA_BETA_GY: Mapping[str, float] = {"tumour": 10.0, "late": 3.0, "spinal_cord": 2.0}

_TARGET_PREFIXES = ("PTV", "CTV", "GTV", "ITV")


def default_alpha_beta(structure: Structure) -> float:
    """Default alpha/beta (Gy) of a structure from its type and name.

    Targets (interpreted type PTV, CTV, GTV or ITV, or a name starting with one of them)
    get the tumour value, structures whose name contains ``cord`` the spinal-cord value,
    everything else the late-responding value (see :data:`ALPHA_BETA_GY`).

    Parameters
    ----------
    structure : rtplan.Structure

    Returns
    -------
    float
    """
    kind = structure.interpreted_type.upper()
    name = structure.name.upper().replace(" ", "").replace("_", "")
    if kind in _TARGET_PREFIXES or name.startswith(_TARGET_PREFIXES):
        return ALPHA_BETA_GY["tumour"]
    if "CORD" in name:
        return ALPHA_BETA_GY["spinal_cord"]
    return ALPHA_BETA_GY["late"]


def alpha_beta_map(
    grid: Grid,
    structures: Iterable[Structure],
    *,
    alpha_beta_gy: Mapping[str, float] | None = None,
    default_gy: float = ALPHA_BETA_GY["late"],
) -> Image:
    """An image of alpha/beta values on a grid, structure by structure.

    Parameters
    ----------
    grid : Grid
        Usually the dose grid.
    structures : iterable of Structure
        Painted in order onto the grid (voxel centres inside each structure); where
        structures overlap, the later one wins. Structures without volume are ignored.
    alpha_beta_gy : mapping of str to float, optional
        Values by structure name (case-insensitive); structures not listed get
        :func:`default_alpha_beta`.
    default_gy : float
        Value outside every structure.

    Returns
    -------
    Image
        Float64, units ``"Gy"``, name ``"alpha/beta"``.

    Raises
    ------
    EvaluationError
        If a value is not positive.
    """
    given = {
        k.casefold(): finite_positive(v, f"alpha/beta of {k!r}")
        for k, v in (alpha_beta_gy or {}).items()
    }
    out = np.full(grid.shape, finite_positive(default_gy, "default_gy"))
    for s in structures:
        if not s.has_volume:
            continue
        ab = given.get(s.name.casefold(), default_alpha_beta(s))
        out[s.mask(grid)] = ab
        logger.debug("alpha/beta %.3g Gy for %s", ab, s.name)
    return Image(array=out, grid=grid, units="Gy", name="alpha/beta")


def _ab_array(dose: Image, alpha_beta_gy: float | Image) -> npt.NDArray[np.float64]:
    if isinstance(alpha_beta_gy, Image):
        img = alpha_beta_gy
        if not img.grid.isclose(dose.grid):
            img = img.resample(dose.grid, order=0, fill_value=math.nan)
        ab = np.asarray(img.array, dtype=np.float64)
        if np.any(~np.isfinite(ab)) or np.any(ab <= 0):
            raise EvaluationError(
                "alpha/beta image must be positive and cover the dose grid "
                "(build it with alpha_beta_map on the dose grid)"
            )
        return ab
    return np.full(dose.grid.shape, finite_positive(alpha_beta_gy, "alpha_beta_gy"))


def _fractions(dose: Image, fractions: int | None) -> int:
    n = fractions if fractions is not None else getattr(dose, "fractions", None)
    if n is None:
        raise EvaluationError(
            f"dose {dose.name!r}: the number of fractions is unknown; pass fractions="
        )
    if int(n) != n or int(n) < 1:
        raise EvaluationError(f"fractions must be an integer >= 1, got {n!r}")
    return int(n)


def _as_dose(dose: Image, array: npt.NDArray[np.float64], name: str, n: int) -> Dose:
    if isinstance(dose, Dose):
        return replace(dose, array=array, dose_type="EFFECTIVE", name=name, fractions=n)
    return Dose(array=array, grid=dose.grid, dose_type="EFFECTIVE", name=name, fractions=n)


def bed(dose: Image, alpha_beta_gy: float | Image = 3.0, fractions: int | None = None) -> Dose:
    """Biologically effective dose ``D (1 + d / (alpha/beta))``, voxel by voxel.

    Parameters
    ----------
    dose : rtplan.Dose
        Total physical dose, Gy.
    alpha_beta_gy : float or Image
        One ratio, or an image of ratios (see :func:`alpha_beta_map`), Gy.
    fractions : int, optional
        Number of equal fractions; defaults to ``dose.fractions``.

    Returns
    -------
    rtplan.Dose
        BED in Gy, ``dose_type="EFFECTIVE"``.

    Raises
    ------
    EvaluationError
        If the fractions are unknown or a ratio is not positive.
    """
    dose = check_dose(dose)
    n = _fractions(dose, fractions)
    ab = _ab_array(dose, alpha_beta_gy)
    d_total = np.asarray(dose.array, dtype=np.float64)
    out = d_total * (1.0 + (d_total / n) / ab)
    return _as_dose(dose, out, f"BED {dose.name}".strip(), n)


def eqd2(dose: Image, alpha_beta_gy: float | Image = 3.0, fractions: int | None = None) -> Dose:
    """Equivalent dose in 2 Gy fractions ``D (d + alpha/beta) / (2 + alpha/beta)``.

    Parameters
    ----------
    dose : rtplan.Dose
        Total physical dose, Gy.
    alpha_beta_gy : float or Image
        One ratio, or an image of ratios (see :func:`alpha_beta_map`), Gy.
    fractions : int, optional
        Number of equal fractions; defaults to ``dose.fractions``.

    Returns
    -------
    rtplan.Dose
        EQD2 in Gy, ``dose_type="EFFECTIVE"``.

    Raises
    ------
    EvaluationError
        If the fractions are unknown or a ratio is not positive.

    Examples
    --------
    >>> import numpy as np, rtplan
    >>> g = rtplan.Grid(shape=(1, 1, 1), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0))
    >>> d = rtplan.Dose(array=np.full((1, 1, 1), 30.0), grid=g)
    >>> float(eqd2(d, 10.0, fractions=10).array[0, 0, 0])  # 10 x 3 Gy, alpha/beta 10 Gy
    32.5
    """
    dose = check_dose(dose)
    n = _fractions(dose, fractions)
    ab = _ab_array(dose, alpha_beta_gy)
    d_total = np.asarray(dose.array, dtype=np.float64)
    out = d_total * ((d_total / n) + ab) / (2.0 + ab)
    return _as_dose(dose, out, f"EQD2 {dose.name}".strip(), n)


def _sum_type(items: list[Any]) -> DoseSummationType:
    """The summation type of a sum: the rule of ``Dose.__add__`` over several doses."""
    kinds = [
        DoseSummationType(d.summation_type) if isinstance(d, Dose) else DoseSummationType.PLAN
        for d in items
    ]
    if all(k.is_total for k in kinds):
        return DoseSummationType.MULTI_PLAN if len(kinds) > 1 else kinds[0]
    if len(set(kinds)) == 1:
        return kinds[0]
    names = ", ".join(sorted({k.value for k in kinds}))
    raise EvaluationError(
        f"plan_sum cannot add doses of different summation types ({names}); convert them "
        "first with Dose.total(fractions) or Dose.per_fraction(fractions)"
    )


def plan_sum(doses: Sequence[Image], grid: Grid | None = None) -> Dose:
    """Sum of dose distributions on a common grid (trilinear resampling).

    Parameters
    ----------
    doses : sequence of rtplan.Dose
        At least one; each is resampled onto ``grid`` (zero outside its own grid).
    grid : Grid, optional
        The common grid; the first dose's grid by default.

    Returns
    -------
    rtplan.Dose
        ``summation="MULTI_PLAN"`` (``"PLAN"`` for a single dose), ``fractions`` kept only
        when all doses agree.

    Raises
    ------
    EvaluationError
        If ``doses`` is empty or holds something other than doses in Gy.

    Warns
    -----
    RtplanWarning
        When part of a dose (above 1 % of its maximum) lies outside the common grid and is
        lost from the sum.
    """
    items = [check_dose(d, f"doses[{n}]") for n, d in enumerate(doses)]
    if not items:
        raise EvaluationError("plan_sum needs at least one dose")
    target = grid if grid is not None else items[0].grid
    total = np.zeros(target.shape, dtype=np.float64)
    for n, d in enumerate(items):
        _warn_outside(d, target, n)
        total += np.asarray(d.resample(target, order=1, fill_value=0.0).array, dtype=np.float64)
    fx = {getattr(d, "fractions", None) for d in items}
    fractions = fx.pop() if len(fx) == 1 else None
    first = items[0]
    medium = first.medium if isinstance(first, Dose) else DoseMedium.MEDIUM
    return Dose(
        array=total,
        grid=target,
        name="plan sum",
        dose_type="PHYSICAL",
        summation_type=_sum_type(items),
        medium=medium,
        fractions=fractions,
        patient_position=first.patient_position,
        series=first.series,
    )


def _warn_outside(dose: Image, target: Grid, n: int) -> None:
    arr = np.asarray(dose.array, dtype=np.float64)
    peak = float(arr.max()) if arr.size else 0.0
    if peak <= 0 or dose.grid.isclose(target):
        return
    k, j, i = np.nonzero(arr > 0.01 * peak)
    ijk = np.column_stack([i, j, k]).astype(np.float64)
    inside = target.contains_mm(dose.grid.index_to_mm(ijk))
    if not np.all(inside):
        lost = float(arr[k[~inside], j[~inside], i[~inside]].max())
        warn(
            f"plan_sum: dose {n} ({dose.name or 'unnamed'}) reaches {lost:.3g} Gy outside the "
            "common grid; that part is not in the sum (pass a larger grid=)",
            stacklevel=4,
        )
