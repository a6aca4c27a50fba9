"""Text tables: the dose-metric and conformity tables, and the fixed-width layout they share.

The rows are those of :func:`rtplan.evaluate.dose_metrics` and
:func:`rtplan.evaluate.conformity_metrics` (keys that carry their units); the titles
here put the units in brackets. The command line prints these tables and the HTML report
shows the same columns.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

__all__ = [
    "CONFORMITY_TITLES",
    "METRIC_TITLES",
    "format_conformity_table",
    "format_metrics_table",
    "text_table",
]

#: Column titles (with units) of :func:`rtplan.evaluate.dose_metrics`, in table order.
METRIC_TITLES: dict[str, str] = {
    "structure": "Structure",
    "volume_cc": "Volume [cc]",
    "coverage_percent": "In dose [%]",
    "min_gy": "Dmin [Gy]",
    "mean_gy": "Dmean [Gy]",
    "max_gy": "Dmax [Gy]",
    "d0_03cc_gy": "D0.03cc [Gy]",
    "d2_gy": "D2% [Gy]",
    "d50_gy": "D50% [Gy]",
    "d95_gy": "D95% [Gy]",
    "d98_gy": "D98% [Gy]",
    "hi": "HI",
    "v95_percent": "V95%Rx [%]",
    "v100_percent": "V100%Rx [%]",
    "v107_percent": "V107%Rx [%]",
}

#: Column titles (with units) of :func:`rtplan.evaluate.conformity_metrics`, in table order.
CONFORMITY_TITLES: dict[str, str] = {
    "structure": "Target",
    "prescription_gy": "Rx [Gy]",
    "tv_cc": "TV [cc]",
    "piv_cc": "PIV [cc]",
    "tv_piv_cc": "TV_PIV [cc]",
    "piv50_cc": "PIV50% [cc]",
    "ci_rtog": "RTOG CI",
    "ci_paddick": "Paddick CI",
    "gi": "GI",
}


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] | None = None
) -> str:
    """Lay cells out in fixed-width columns: a header, a rule of dashes, one line per row.

    Parameters
    ----------
    header : sequence of str
        Column titles.
    rows : sequence of sequences of str
        The cells, already formatted, as many per row as titles.
    right : collection of int, optional
        Indices of the right-aligned columns (numbers); every column but the first by
        default.

    Returns
    -------
    str
        Lines joined by newlines, columns separated by two blanks, no trailing blanks.

    Examples
    --------
    >>> print(text_table(["ROI", "cm³"], [["PTV", "212.4"], ["Femur", "96.0"]]))
    ROI      cm³
    -----  -----
    PTV    212.4
    Femur   96.0
    """
    aligned = set(range(1, len(header))) if right is None else set(right)
    cells = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[c]) for r in cells) for c in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if c in aligned else cell.ljust(width)
            for c, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def _number(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if not math.isfinite(value):
        return "-"
    return f"{value:.2f}" if abs(value) < 1e5 else f"{value:.4g}"


def _metric_table(
    rows: Sequence[Mapping[str, float | str]], titles: Mapping[str, str], empty: str
) -> str:
    if not rows:
        return empty
    keys = [k for k in titles if k in rows[0]]
    return text_table(
        [titles[k] for k in keys], [[_number(r.get(k, math.nan)) for k in keys] for r in rows]
    )


def format_metrics_table(rows: Sequence[Mapping[str, float | str]]) -> str:
    """Render :func:`rtplan.evaluate.dose_metrics` rows as a fixed-width text table.

    Parameters
    ----------
    rows : sequence of dict
        All rows should have the same keys (with or without the prescription columns).

    Returns
    -------
    str
        Header (titles of :data:`METRIC_TITLES`), rule and one line per structure; ``-``
        marks undefined values; ``"(no structures)"`` without rows.

    Examples
    --------
    >>> row = {"structure": "PTV", "volume_cc": 212.43, "mean_gy": 50.02,
    ...        "d0_03cc_gy": float("nan")}
    >>> print(format_metrics_table([row]))
    Structure  Volume [cc]  Dmean [Gy]  D0.03cc [Gy]
    ---------  -----------  ----------  ------------
    PTV             212.43       50.02             -
    """
    return _metric_table(rows, METRIC_TITLES, "(no structures)")


def format_conformity_table(rows: Sequence[Mapping[str, float | str]]) -> str:
    """Render :func:`rtplan.evaluate.conformity_metrics` rows as a fixed-width text table.

    Parameters
    ----------
    rows : sequence of dict

    Returns
    -------
    str
        Header (titles of :data:`CONFORMITY_TITLES`), rule and one line per target;
        ``-`` marks undefined indices; ``"(no targets)"`` without rows.

    Examples
    --------
    >>> row = {"structure": "PTV", "prescription_gy": 50.0, "ci_rtog": 1.21,
    ...        "ci_paddick": 0.78, "gi": float("nan")}
    >>> print(format_conformity_table([row]))
    Target  Rx [Gy]  RTOG CI  Paddick CI  GI
    ------  -------  -------  ----------  --
    PTV       50.00     1.21        0.78   -
    """
    return _metric_table(rows, CONFORMITY_TITLES, "(no targets)")
