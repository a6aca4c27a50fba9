"""Numbers as text, with the precision each quantity deserves (report tables and CSV files).

* :func:`number_text`: 4 significant figures, at most 4 decimals, never an exponent;
* :func:`csv_number`: a number for a CSV cell, by quantity: doses to 0.01 Gy (4
  significant figures below 1 Gy), volumes to 0.01 cm³ (3 significant figures below
  1 cm³), percentages to 0.1 % (3 significant figures below 1 %), lengths to 0.1 mm,
  angles to 0.1°, anything else as :func:`number_text` (4 significant figures); at most 6
  decimals, trailing zeros dropped (``60.00`` is written ``60``), round-off such as
  ``1e-15`` written ``0``, non-finite values as empty cells;
* :func:`csv_quantity`: the quantity of a column from the unit in its name
  (``mean_gy``, ``volume_cc``, ``v95_percent``, ``clearance_mm:Cord``, ``in_plane_deg``)
  or from a unit (``Gy``, ``%``, ``cm³``...).

The module sits below every package so that all the writers share it.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["csv_number", "csv_quantity", "number_text"]

#: quantity -> (significant figures below 1, decimals at and above 1, most decimals)
_RULES: dict[str, tuple[int, int, int]] = {
    "gy": (4, 2, 6),
    "cc": (3, 2, 6),
    "percent": (3, 1, 6),
    "mm": (1, 1, 1),
    "deg": (1, 1, 1),
}

_UNITS = {
    "gy": "gy",
    "cc": "cc",
    "cm3": "cc",
    "cm³": "cc",
    "%": "percent",
    "%rx": "percent",
    "percent": "percent",
    "mm": "mm",
    "deg": "deg",
    "°": "deg",
}


def _strip(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def number_text(value: float) -> str:
    """A number for a report table: 4 significant digits, at most 4 decimals, no exponent.

    ``24843.78`` -> ``"24844"`` (not ``"2.484e+04"``), ``575.48`` -> ``"575.5"``,
    ``0.05664`` -> ``"0.0566"``; round-off such as ``1.4e-12`` (a volume that should be
    zero) -> ``"0"``.

    Parameters
    ----------
    value : float
        Any real number; ``nan`` and ``inf`` are written as Python writes them.

    Returns
    -------
    str

    Examples
    --------
    >>> [number_text(v) for v in (24843.78, 575.48, 0.05664, 1.4e-12)]
    ['24844', '575.5', '0.0566', '0']
    """
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    decimals = min(max(3 - math.floor(math.log10(abs(value))), 0), 4)
    return _strip(f"{value:.{decimals}f}")


def csv_quantity(name: str) -> str | None:
    """The quantity of a CSV column (``"gy"``, ``"cc"``, ``"percent"``, ``"mm"``, ``"deg"``).

    Parameters
    ----------
    name : str
        A column name whose last ``_`` part before any ``:`` is its unit (``d95_gy``,
        ``clearance_mm:Cord``), or a unit (``"Gy"``, ``"%Rx"``, ``"cm³"``).

    Returns
    -------
    str or None
        None when no unit is recognised (indices, scores, counts...).

    Examples
    --------
    >>> [csv_quantity(n) for n in ("mean_gy", "clearance_mm:Cord", "%Rx", "hi", "cm³")]
    ['gy', 'mm', 'percent', None, 'cc']
    """
    text = name.split(":", 1)[0].strip().lower()
    if text in _UNITS:
        return _UNITS[text]
    return _UNITS.get(text.rsplit("_", 1)[-1]) if "_" in text else None


def csv_number(value: Any, quantity: str | None = None, *, step: float | None = None) -> str:
    """A number for a CSV cell, with the precision of its quantity.

    Parameters
    ----------
    value : float, int, str or None
        A number (``bool`` and ``int`` are written as integers), or a string (returned as
        it is); None and non-finite numbers give an empty cell.
    quantity : str, optional
        ``"gy"``, ``"cc"``, ``"percent"``, ``"mm"``, ``"deg"`` (see the module notes), or
        a column name or unit that :func:`csv_quantity` reads; else 4 significant figures
        (:func:`number_text`).
    step : float, optional
        A spacing the values must keep apart (a DVH's bin width): at least as many
        decimals as it needs.

    Returns
    -------
    str

    Examples
    --------
    >>> csv_number(60.01234, "gy"), csv_number(0.0123456, "gy"), csv_number(1e-15, "gy")
    ('60.01', '0.01235', '0')
    >>> csv_number(1234.567, "cc"), csv_number(0.012345, "volume_cc")
    ('1234.57', '0.0123')
    >>> csv_number(99.96, "%"), csv_number(5.43, "%"), csv_number(0.01234, "percent")
    ('100', '5.4', '0.0123')
    >>> csv_number(1.23456, "gy"), csv_number(12.34, "deg"), csv_number(-0.04, "mm")
    ('1.23', '12.3', '0')
    >>> csv_number(float("nan"), "mm"), csv_number(3), csv_number(0.123456)
    ('', '3', '0.1235')
    >>> csv_number(12.345, "gy", step=0.001)
    '12.345'
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int):
        return str(int(value))
    number = float(value)
    if not math.isfinite(number):
        return ""
    kind = csv_quantity(quantity) if quantity is not None else None
    if kind is None and step is None:
        return number_text(number)
    sig, least, most = _RULES.get(kind or "", (4, 0, 6))
    decimals = least  # the quantity's resolution; below 1, its significant figures
    if 0 < abs(number) < 1:
        decimals = max(least, sig - 1 - math.floor(math.log10(abs(number))))
    if step is not None and step > 0:
        decimals = max(decimals, -math.floor(math.log10(step) + 1e-9))
    return _strip(f"{number:.{min(decimals, most)}f}")
