"""Entry point of the ``rtplan`` command.

Each subcommand lives in ``rtplan.cli.<name>`` and defines ``add_parser(subparsers)``
(which registers its parser with ``set_defaults(run=run)``) and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from rtplan import __version__
from rtplan.errors import RtplanError

__all__ = ["build_parser", "entry_point", "main"]

SUBCOMMANDS = ("info", "dose", "dvh", "gamma", "trajectory", "overlay", "report", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="rtplan",
        description="Radiotherapy and image-guided procedure planning near bone and muscle.",
    )
    parser.add_argument("--version", action="version", version=f"rtplan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"rtplan.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit status: 0 success, 1 a check failed (e.g. gamma below threshold),
        2 bad input or usage.
    """
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    level = logging.WARNING - 10 * min(int(args.verbose), 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        try:
            return int(args.run(args))
        except RtplanError as exc:
            print(f"rtplan {args.command}: error: {exc}", file=sys.stderr)
            return 2


def entry_point() -> None:
    """Console-script entry point.

    Warnings print as one line each (``rtplan: warning: ...``, no source paths), and a closed
    output pipe (as with ``| head``) ends the program quietly.
    """

    def show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        print(f"rtplan: warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at devnull so that does not fail
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    sys.exit(status)
