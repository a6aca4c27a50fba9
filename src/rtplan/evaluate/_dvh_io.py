"""DVH files: the CSV table and the JSON records.

The formats are written from what any DVH shows (its curves, or its dictionary) and read
back as dictionaries; :class:`rtplan.evaluate.DVH` builds itself from those
(:meth:`~rtplan.evaluate.DVH.from_dict`).

* CSV (long format): one row per structure and bin edge, columns ``structure``,
  ``dose_gy`` (bin edge), ``cumulative_cc``, ``cumulative_percent``, ``differential_cc``
  and ``differential_percent`` (volume of the bin starting at that edge; empty on the last
  edge), numbers with 6 significant digits.
* JSON: one DVH dictionary, or a list of them (see :meth:`~rtplan.evaluate.DVH.to_dict`).

Files are written atomically (a temporary file renamed over the target when complete).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from rtplan._atomic import atomic_open
from rtplan._format import csv_number
from rtplan.evaluate._common import EvaluationError

if TYPE_CHECKING:
    import pandas  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "CSV_COLUMNS",
    "Curves",
    "Record",
    "dvhs_to_pandas",
    "read_records",
    "write_dvhs_csv",
    "write_dvhs_json",
    "write_json",
]

FloatArray = npt.NDArray[np.float64]

#: Columns of the CSV table.
CSV_COLUMNS = (
    "structure",
    "dose_gy",
    "cumulative_cc",
    "cumulative_percent",
    "differential_cc",
    "differential_percent",
)


class Curves(Protocol):
    """What the CSV table is written from (a :class:`~rtplan.evaluate.DVH`)."""

    @property
    def name(self) -> str: ...

    @property
    def bin_edges_gy(self) -> FloatArray: ...

    @property
    def cumulative_cc(self) -> FloatArray: ...

    @property
    def cumulative_percent(self) -> FloatArray: ...

    @property
    def differential_cc(self) -> FloatArray: ...

    @property
    def differential_percent(self) -> FloatArray: ...


class Record(Protocol):
    """What a JSON record is written from (a :class:`~rtplan.evaluate.DVH`)."""

    def to_dict(self) -> dict[str, Any]: ...


def dvhs_to_pandas(dvhs: Iterable[Curves]) -> pandas.DataFrame:
    """Several DVHs as one pandas DataFrame, in the long format of :func:`write_dvhs_csv`.

    Parameters
    ----------
    dvhs : iterable of DVH

    Returns
    -------
    pandas.DataFrame
        One row per structure and bin edge; columns :data:`CSV_COLUMNS` (``structure``,
        ``dose_gy``, ``cumulative_cc``, ``cumulative_percent``, ``differential_cc``,
        ``differential_percent``), float64 but ``structure``; the differential columns
        hold the bin starting at that edge (NaN on the last edge).

    Raises
    ------
    MissingDependencyError
        If pandas is not installed (the message says how to install it).

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.evaluate import DVH
    >>> h = DVH(name="PTV", bin_edges_gy=np.array([0.0, 1.0, 2.0]),
    ...         differential=np.array([0.25, 0.75]), volume_cc=8.0)
    >>> from rtplan.evaluate import dvhs_to_pandas
    >>> print(dvhs_to_pandas([h])[["structure", "dose_gy", "cumulative_cc"]].to_string())
      structure  dose_gy  cumulative_cc
    0       PTV      0.0            8.0
    1       PTV      1.0            6.0
    2       PTV      2.0            0.0
    """
    from rtplan._deps import import_optional

    pd = import_optional("pandas", extra="pandas", purpose="a DVH as a DataFrame")
    columns: dict[str, list[Any]] = {c: [] for c in CSV_COLUMNS}
    for h in dvhs:
        n = h.bin_edges_gy.size
        pad = np.full(1, np.nan)
        columns["structure"] += [h.name] * n
        columns["dose_gy"] += list(np.asarray(h.bin_edges_gy, dtype=np.float64))
        columns["cumulative_cc"] += list(h.cumulative_cc)
        columns["cumulative_percent"] += list(h.cumulative_percent)
        columns["differential_cc"] += list(np.concatenate([h.differential_cc, pad]))
        columns["differential_percent"] += list(np.concatenate([h.differential_percent, pad]))
    frame = pd.DataFrame(columns, columns=list(CSV_COLUMNS))
    numeric = list(CSV_COLUMNS[1:])
    frame[numeric] = frame[numeric].astype("float64")
    return frame


def write_dvhs_csv(dvhs: Iterable[Curves], path: str | Path) -> Path:
    """Write several DVHs to one CSV file (long format, one row per structure and bin edge).

    Doses to 0.01 Gy (finer when the bins are narrower), volumes to 0.01 cm³ and
    percentages to 0.1 % (3 significant figures below 1), as
    :func:`rtplan._format.csv_number` writes them; the last edge has no differential.

    Parameters
    ----------
    dvhs : iterable of DVH
    path : str or Path

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from rtplan.evaluate import DVH, write_dvhs_csv
    >>> h = DVH(name="PTV", bin_edges_gy=np.array([0.0, 1.0, 2.0]),
    ...         differential=np.array([0.25, 0.75]), volume_cc=8.0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     text = write_dvhs_csv([h], pathlib.Path(tmp, "dvh.csv")).read_text()
    >>> print(text.strip())
    structure,dose_gy,cumulative_cc,cumulative_percent,differential_cc,differential_percent
    PTV,0,8,100,2,25
    PTV,1,6,75,6,75
    PTV,2,0,0,,
    """
    p = Path(path)
    with atomic_open(p, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for h in dvhs:
            cum_cc, cum_pc = h.cumulative_cc, h.cumulative_percent
            dif_cc, dif_pc = h.differential_cc, h.differential_percent
            widths = np.diff(np.asarray(h.bin_edges_gy, dtype=np.float64))
            step = float(widths.min()) if widths.size else None  # edges stay distinct
            for b, e in enumerate(h.bin_edges_gy):
                last = b == dif_cc.size
                w.writerow(
                    [
                        h.name,
                        csv_number(float(e), "gy", step=step),
                        csv_number(float(cum_cc[b]), "cc"),
                        csv_number(float(cum_pc[b]), "percent"),
                        "" if last else csv_number(float(dif_cc[b]), "cc"),
                        "" if last else csv_number(float(dif_pc[b]), "percent"),
                    ]
                )
    return p


def write_dvhs_json(dvhs: Iterable[Record], path: str | Path) -> Path:
    """Write several DVHs to one JSON file: a list of :meth:`DVH.to_dict` objects.

    Parameters
    ----------
    dvhs : iterable of DVH
    path : str or Path

    Returns
    -------
    Path

    See Also
    --------
    read_dvhs_json

    Examples
    --------
    >>> import json, numpy as np, tempfile, pathlib
    >>> from rtplan.evaluate import DVH, write_dvhs_json
    >>> h = DVH(name="PTV", bin_edges_gy=np.array([0.0, 1.0, 2.0]),
    ...         differential=np.array([0.25, 0.75]), volume_cc=8.0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     records = json.loads(write_dvhs_json([h], pathlib.Path(tmp, "d.json")).read_text())
    >>> records[0]["name"], records[0]["differential_fraction"]
    ('PTV', [0.25, 0.75])
    """
    return write_json([h.to_dict() for h in dvhs], path)


def write_json(data: dict[str, Any] | list[dict[str, Any]], path: str | Path) -> Path:
    """Write one DVH dictionary or a list of them (atomically); returns the path."""
    p = Path(path)
    with atomic_open(p) as fh:
        fh.write(json.dumps(data, indent=1))
    return p


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The DVH dictionaries of a JSON file (one, or a list of them), in file order.

    Raises
    ------
    EvaluationError
        If the file cannot be read or holds no DVH dictionaries.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"cannot read DVHs from {p}: {exc}") from exc
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise EvaluationError(f"{p} holds no DVH objects (write it with write_dvhs_json)")
    return items
