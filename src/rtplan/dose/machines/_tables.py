"""A plain-text format for kernel tables that diffs well and is written bit for bit.

A file holds comment lines (``# ...``) and named sections; a section starts with a line
``@ name`` and holds one row of numbers per line, written with ``%.6e``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rtplan.errors import DoseEngineError

__all__ = ["read_tables", "write_tables"]

FloatArray = npt.NDArray[np.float64]


def write_tables(path: Path, header: Sequence[str], sections: Mapping[str, npt.ArrayLike]) -> None:
    """Write named 1D/2D arrays as text.

    Parameters
    ----------
    path : pathlib.Path
        Output file.
    header : sequence of str
        Comment lines (without the leading ``#``).
    sections : mapping of str to array_like
        Arrays of 1 or 2 dimensions; a 1D array is written on one line.
    """
    lines = [f"# {h}".rstrip() for h in header]
    for name, value in sections.items():
        arr = np.atleast_2d(np.asarray(value, dtype=np.float64))
        lines.append(f"@ {name}")
        lines.extend(" ".join(f"{v:.6e}" for v in row) for row in arr)
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def read_tables(path: Path) -> dict[str, FloatArray]:
    """Read a file written by :func:`write_tables`.

    Parameters
    ----------
    path : pathlib.Path
        File to read.

    Returns
    -------
    dict of str to numpy.ndarray
        One 2D array per section (a one-line section has shape ``(1, n)``).

    Raises
    ------
    DoseEngineError
        If the file is missing or malformed.
    """
    try:
        text = path.read_text(encoding="ascii")
    except OSError as exc:
        raise DoseEngineError(
            f"kernel table {path} cannot be read ({exc}); reinstall rtplan, or regenerate it "
            "in a source checkout with python -m tools.kernels.make_kernels"
        ) from exc
    out: dict[str, list[list[float]]] = {}
    current: list[list[float]] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("@"):
            current = out.setdefault(s[1:].strip(), [])
            continue
        if current is None:
            raise DoseEngineError(f"{path}:{lineno}: numbers before the first '@ section'")
        try:
            current.append([float(v) for v in s.split()])
        except ValueError as exc:
            raise DoseEngineError(f"{path}:{lineno}: not a row of numbers") from exc
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}
