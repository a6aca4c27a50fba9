"""Shared pieces of :mod:`rtplan.evaluate`: its error class and small validators."""

from __future__ import annotations

import math
from typing import Literal

from rtplan.errors import EvaluationError
from rtplan.image import Image

__all__ = ["EvaluationError", "VolumeUnit", "check_dose", "volume_unit"]

VolumeUnit = Literal["%", "cc"]


def volume_unit(unit: str) -> VolumeUnit:
    """Normalise a volume unit: ``"%"`` (percent of the structure) or ``"cc"`` (cm³).

    Parameters
    ----------
    unit : str
        ``"%"``, ``"percent"``, ``"cc"``, ``"cm3"`` or ``"cm³"`` (any case).

    Returns
    -------
    {"%", "cc"}

    Raises
    ------
    EvaluationError
        For any other unit.
    """
    u = unit.strip().lower()
    if u in ("%", "percent", "pct"):
        return "%"
    if u in ("cc", "cm3", "cm³", "ml"):
        return "cc"
    raise EvaluationError(f"volume unit must be '%' or 'cc', got {unit!r}")


def check_dose(dose: object, what: str = "dose") -> Image:
    """Check that ``dose`` is an rtplan Image in Gy and return it.

    Raises
    ------
    EvaluationError
        If it is not an :class:`~rtplan.Image` (or :class:`~rtplan.Dose`) in Gy.
    """
    if not isinstance(dose, Image):
        raise EvaluationError(
            f"{what} must be an rtplan.Dose (or Image in Gy), got {type(dose).__name__}; "
            "read RT-Dose files with rtplan.io.read_rtdose"
        )
    if dose.units != "Gy":
        raise EvaluationError(
            f"{what} {dose.name!r} has units {dose.units!r}; a dose in Gy is needed"
        )
    return dose


def finite_positive(value: float, name: str) -> float:
    """``float(value)`` if finite and > 0, else :class:`EvaluationError`."""
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise EvaluationError(f"{name} must be a positive number, got {value!r}")
    return v
