"""Entry point of the ``rtplan`` command.

Each subcommand lives in ``rtplan.cli.<name>`` and defines ``COMMAND``,
``add_arguments(parser)`` and ``run(args) -> int`` (see :mod:`rtplan.cli._parsing`, which
registers them with the options they share). A new subcommand is one more name in
:data:`SUBCOMMANDS`.

:func:`main` imports only the subcommand it runs: the others are listed in the help with
the first paragraph of their module docstring, read from the source file without
importing the module, so ``rtplan --help`` starts no numerical library.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import tokenize
import traceback
import warnings
from collections.abc import Collection, Sequence

from rtplan._version import __version__
from rtplan.cli._parsing import add_subcommand
from rtplan.errors import RtplanError

__all__ = ["build_parser", "entry_point", "main"]

SUBCOMMANDS = (
    "info",
    "dose",
    "dvh",
    "structures",
    "optimize",
    "gamma",
    "trajectory",
    "overlay",
    "report",
    "review",
    "deidentify",
    "library",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    return _parser(SUBCOMMANDS)


def _parser(complete: Collection[str]) -> argparse.ArgumentParser:
    """The argument parser; the subcommands in ``complete`` with their options.

    The others are listed by name and summary only (what the top-level help shows), so
    their modules are not imported.
    """
    parser = argparse.ArgumentParser(
        prog="rtplan",
        description="Radiotherapy and image-guided procedure planning near bone and muscle.",
        epilog=(
            "Exit status: 0 success; 1 a check failed (a clinical goal, a gamma pass rate); "
            "2 bad input or usage, with a one-line 'rtplan COMMAND: error: ...'; 3 an "
            "internal error (please report it with the output of -v); 130 interrupted. "
            "Output files are written whole or not at all: an existing output is replaced, "
            "but never a file the command read (an input, a file of the study folder)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rtplan {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging (-vv: debug); on an error, also print the Python traceback",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        if name in complete:
            add_subcommand(sub, importlib.import_module(f"rtplan.cli.{name}"))
        else:
            summary, _, description = _docstring(name).partition("\n\n")
            sub.add_parser(name, help=summary.rstrip("."), description=description or summary)
    return parser


def _docstring(name: str) -> str:
    """The docstring of ``rtplan.cli.<name>``, read from its source without importing it."""
    module = f"rtplan.cli.{name}"
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec is not None else None
    if origin is not None and origin.endswith(".py"):
        with tokenize.open(origin) as source:
            for token in tokenize.generate_tokens(source.readline):
                if token.type == tokenize.STRING:
                    return inspect.cleandoc(str(ast.literal_eval(token.string)))
                if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
                    break
    # no source to read (a bytecode-only installation) or no docstring: import it
    return inspect.cleandoc(importlib.import_module(module).__doc__ or name)


def _command(argv: Sequence[str]) -> str:
    """The subcommand named in ``argv``: its first argument that is not an option, or ``""``.

    The options before the subcommand (``-h``, ``--version``, ``-v``) take no value.
    """
    return next((arg for arg in argv if not arg.startswith("-")), "")


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
        2 bad input or usage, 130 interrupted (Ctrl-C).

    Notes
    -----
    Bad input (an :class:`~rtplan.RtplanError`, or a file that cannot be read or written)
    ends with one line ``rtplan COMMAND: error: ...`` on stderr; with ``-v`` the traceback
    comes before it. Other exceptions (bugs) propagate; :func:`entry_point` reports them.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser({_command(argv)} & set(SUBCOMMANDS))
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(int(args.verbose), 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2

    prog = f"rtplan {args.command}"
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        try:
            return int(args.run(args))
        except RtplanError as exc:
            _report(prog, str(exc), exc, verbose=int(args.verbose))
            return 2
        except BrokenPipeError:
            raise  # a closed stdout: entry_point ends quietly
        except OSError as exc:
            # a file-system failure no precise check caught (disk full, a file removed
            # meanwhile, permissions changed): name the file and the cause
            where = f"{exc.filename}: " if exc.filename else ""
            _report(prog, f"{where}{exc.strerror or exc}", exc, verbose=int(args.verbose))
            return 2
        except KeyboardInterrupt:
            print(f"\n{prog}: interrupted", file=sys.stderr)
            return 130


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _report(prog: str, message: str, exc: BaseException, *, verbose: int) -> None:
    """Print ``PROG: error: MESSAGE`` (one line), after the traceback when verbose."""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"{prog}: error: {_one_line(message)}", file=sys.stderr)


def _verbose(argv: Sequence[str]) -> int:
    """How many -v ``argv`` holds (before or after the subcommand, up to ``--``)."""
    count = 0
    for arg in argv:
        if arg == "--":
            break
        if arg == "--verbose":
            count += 1
        elif arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) == {"v"}:
            count += len(arg) - 1
    return count


def entry_point() -> None:
    """Console-script entry point.

    Warnings print as one line each (``rtplan: warning: ...``, no source paths), and a closed
    output pipe (as with ``| head``) ends the program quietly. An unexpected exception (a
    bug) ends with one line ``rtplan: internal error: ...`` and status 3 (the traceback
    with ``-v``); Ctrl-C with ``rtplan: interrupted`` and status 130.
    """

    def show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        print(f"rtplan: warning: {_one_line(str(message))}", file=sys.stderr)

    warnings.showwarning = show
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at devnull so that does not fail
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    except KeyboardInterrupt:
        print("\nrtplan: interrupted", file=sys.stderr)
        status = 130
    except Exception as exc:
        if _verbose(sys.argv[1:]):
            traceback.print_exception(exc, file=sys.stderr)
        print(
            f"rtplan: internal error: {type(exc).__name__}: {_one_line(str(exc))} (a bug in "
            f"rtplan {__version__}: please report it with the output of the same command "
            "run with -v)",
            file=sys.stderr,
        )
        status = 3
    sys.exit(status)
