"""How the subcommands that print a table print it: text, JSON (``--json``) or nothing (``-q``).

``--json`` prints one JSON document on stdout instead of the text (NaN and infinities as
``null``), so a script reads the same numbers the table shows; ``-q/--quiet`` prints
nothing on stdout (errors and warnings still go to stderr). The exit status is the same
in all three forms.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["add_output_arguments", "emit", "jsonable"]


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` and ``-q/--quiet``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout instead of the text (NaN as null)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print nothing on stdout (errors still on stderr)",
    )


def jsonable(value: Any) -> Any:
    """``value`` with numpy numbers as Python numbers, NaN and infinities as None."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def emit(args: argparse.Namespace, lines: Sequence[str], doc: Mapping[str, Any]) -> None:
    """Print the text ``lines``, the JSON ``doc`` (``--json``) or nothing (``--quiet``)."""
    if getattr(args, "json", False):
        print(json.dumps(jsonable(doc), indent=2, allow_nan=False))
    elif not getattr(args, "quiet", False):
        for line in lines:
            print(line)
