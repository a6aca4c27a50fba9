"""The isodose options that ``rtplan review``, ``rtplan report`` and ``rtplan overlay`` share.

``--isodose-percent 107 100 95 80 50 30`` (percent of the prescription) and
``--isodose-color PERCENT=COLOUR`` (repeatable; ``#rrggbb``, ``r,g,b`` or a name), over
the palette :data:`rtplan.guidance.ISODOSE_PALETTE`.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["add_isodose_level_arguments", "isodose_levels"]

RGB = tuple[int, int, int]


def _level_color(text: str) -> tuple[float, RGB]:
    from rtplan.guidance import parse_color

    pct, sep, color = text.partition("=")
    try:
        level = float(pct)
        if not sep or not (math.isfinite(level) and level > 0):
            raise ValueError(f"{pct!r} is not a positive percentage")
        return level, parse_color(color)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give PERCENT=COLOUR, e.g. 100=#ffff00 or 95=0,255,0 ({exc})"
        ) from None


def add_isodose_level_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--isodose-percent`` and ``--isodose-color``."""
    from rtplan.guidance import DEFAULT_ISODOSES

    parser.add_argument(
        "--isodose-percent",
        type=float,
        nargs="+",
        default=None,
        metavar="P",
        help="isodose lines, percent of the prescription (default "
        f"{' '.join(f'{p:g}' for p in DEFAULT_ISODOSES)})",
    )
    parser.add_argument(
        "--isodose-color",
        type=_level_color,
        action="append",
        default=[],
        metavar="PERCENT=COLOUR",
        help="colour of one isodose line: #rrggbb, r,g,b or a name (repeatable; default: "
        "107 pink, 100 yellow, 95 green, 80 sky blue, 50 blue, 30 violet)",
    )


def isodose_levels(args: argparse.Namespace) -> tuple[tuple[float, ...], dict[float, RGB]]:
    """The isodose levels and colours the options ask for (over the default palette).

    Raises
    ------
    RtplanError
        If a level is not a positive number of percent.
    """
    from rtplan.cli._common import check_positive
    from rtplan.guidance import DEFAULT_ISODOSES, ISODOSE_PALETTE

    for level in args.isodose_percent or []:
        check_positive(level, "--isodose-percent", "percent")
    colors = dict(ISODOSE_PALETTE)
    colors.update(dict(args.isodose_color))
    levels = args.isodose_percent or DEFAULT_ISODOSES
    levels = tuple(dict.fromkeys([*levels, *(p for p, _ in args.isodose_color)]))
    return tuple(sorted(levels, reverse=True)), colors
