"""How the subcommands declare themselves, the options they share, and argument types.

A subcommand is a module ``rtplan.cli.<name>`` whose docstring is its help, as a Click
command's is: the first line (a sentence) is its line in ``rtplan --help``, the paragraphs
after it the description of ``rtplan <name> --help`` (plain text). It defines

* ``add_arguments(parser)``, which adds its own arguments;
* ``run(args) -> int``, which does the work and returns the exit status (0, or 1 when a
  check such as a clinical goal fails); bad input raises an :class:`rtplan.RtplanError`,
  which :func:`rtplan.cli.main.main` reports in one line with status 2;
* ``READS_STUDY = True`` when it takes a STUDY folder.

:func:`add_subcommand` registers such a module: its parser takes the
:func:`verbosity_options` of every subcommand and, for the subcommands that read a study,
the :func:`study_options` (the STUDY folder, the choice of CT series and structure set,
resampling), so these are spelt and documented once. :func:`add_needle_arguments` and
:func:`add_isodose_arguments` add the options that two subcommands share.
"""

from __future__ import annotations

import argparse
import inspect
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from rtplan.enum import Approach, Window
from rtplan.errors import RtplanError

if TYPE_CHECKING:
    from rtplan.io.study import Study
    from rtplan.plan import Plan

__all__ = [
    "add_couch_reference_argument",
    "add_isodose_arguments",
    "add_needle_arguments",
    "add_subcommand",
    "angle_deg",
    "angles_deg",
    "couch_reference_point",
    "couch_reference_text",
    "study_options",
    "verbosity_options",
    "vocabulary",
    "window_or_width_level",
]

V = TypeVar("V")


@cache
def verbosity_options() -> argparse.ArgumentParser:
    """The parent parser of every subcommand: ``-v`` after the subcommand name too.

    Returns
    -------
    argparse.ArgumentParser
        Without help; ``-v`` given here adds to none given before the subcommand (the
        attribute is only set when the option is used).
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more logging (-vv: debug); on an error, also print the Python traceback",
    )
    return parent


@cache
def study_options() -> argparse.ArgumentParser:
    """The parent parser of the subcommands that read a study.

    Returns
    -------
    argparse.ArgumentParser
        The positional ``STUDY`` (``args.study``, a Path) and the options that choose
        what is read from it (``args.series_uid``, ``args.structure_set_uid``,
        ``args.allow_resample``), passed to :func:`rtplan.load_study`.
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "study",
        type=Path,
        metavar="STUDY",
        help="study folder: a CT series and its RT Structure Set (RT Plans and RT Doses "
        "of the same frame of reference are read too)",
    )
    group = parent.add_argument_group("study options")
    group.add_argument(
        "--series-uid",
        default=None,
        metavar="UID",
        help="CT Series Instance UID, when the folder holds several CT series",
    )
    group.add_argument(
        "--structure-set-uid",
        default=None,
        metavar="UID",
        help="RT Structure Set SOP Instance UID, when the folder holds several",
    )
    group.add_argument(
        "--allow-resample",
        action="store_true",
        help="resample a CT with missing slices or uneven spacing instead of failing",
    )
    return parent


def add_subcommand(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], module: ModuleType
) -> None:
    """Register the subcommand that ``module`` defines (see the module docstring).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From :meth:`argparse.ArgumentParser.add_subparsers`.
    module : module
        ``rtplan.cli.<name>``: its docstring gives the help, it defines
        ``add_arguments(parser)`` and ``run(args)`` (looked up now, so a module attribute
        replaced before parsing is the one run) and, if it reads a study, ``READS_STUDY``.
    """
    name = module.__name__.rpartition(".")[2]
    summary, _, description = inspect.cleandoc(module.__doc__ or name).partition("\n\n")
    parents = [verbosity_options()]
    if getattr(module, "READS_STUDY", False):
        parents.append(study_options())
    parser = subparsers.add_parser(
        name,
        help=summary.rstrip("."),
        description=description or summary,
        parents=parents,
    )
    module.add_arguments(parser)
    parser.set_defaults(run=module.run)


def add_needle_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the needle options that ``rtplan trajectory`` and ``rtplan report`` share.

    ``--avoid`` (ROI names), ``--clearance-mm``, ``--max-length-mm`` and ``--approach``
    (sides, :class:`rtplan.enum.Approach`), with the same defaults in both, so that the
    report shows the paths ``rtplan trajectory`` would rank first.
    """
    parser.add_argument(
        "--avoid", nargs="*", default=[], metavar="ROI", help="structures the needle keeps clear of"
    )
    parser.add_argument(
        "--clearance-mm", type=float, default=5.0, help="clearance from avoided regions (5 mm)"
    )
    parser.add_argument(
        "--max-length-mm", type=float, default=150.0, help="longest needle path (150 mm)"
    )
    parser.add_argument(
        "--approach",
        nargs="*",
        type=vocabulary(Approach),
        default=None,
        metavar="SIDE",
        help=f"entry on these sides of the target: {', '.join(Approach.choices())}",
    )


def add_isodose_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the RT Dose to draw and the 100 % isodose level (overlay and trajectory views).

    ``--dose`` (a Path) and ``--prescription-gy``; without the latter the prescription of
    the plan the dose belongs to is used, else the dose maximum.
    """
    parser.add_argument("--dose", type=Path, default=None, help="RT Dose file to draw")
    parser.add_argument(
        "--prescription-gy",
        type=float,
        default=None,
        help="100 %% isodose (default: the prescription of the RT Plan the RT Dose "
        "references, in the study or next to the RT Dose file; else the dose maximum)",
    )


def add_couch_reference_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--couch-reference``, the point couch coordinates are measured from.

    Shared by ``rtplan report`` (the beam table) and ``rtplan review`` (the cursor and the
    beams); read by :func:`rtplan.report.couch_reference` once the study is loaded.
    """
    parser.add_argument(
        "--couch-reference",
        type=couch_reference_text,
        default="origin",
        metavar="POINT",
        help="reference point of the couch coordinates (IEC 61217 table axes): X,Y,Z in "
        "LPS mm (e.g. 0,-150,30), 'origin' (the DICOM origin, default), 'isocenter' (the "
        "first beam's) or the name of a point structure (a setup marker)",
    )


def couch_reference_point(
    args: argparse.Namespace, study: Study, plan: Plan | None, *, needs_plan: bool
) -> tuple[float, float, float]:
    """The ``--couch-reference`` point (LPS mm), or an error naming the option and value.

    With ``needs_plan``, a reference other than the default needs a plan (the couch
    coordinates are those of its beams).

    Raises
    ------
    RtplanError
        ``--couch-reference 'Marker': ...``: the value is not understood, or names a
        structure that is not one point, or needs a plan that is not there.
    """
    from rtplan.errors import RtplanError
    from rtplan.report import couch_reference

    text = args.couch_reference
    if needs_plan and plan is None and text != "origin":
        raise RtplanError(
            f"--couch-reference {text!r}: couch coordinates are shown for a plan's beams and "
            "no plan was found: give --plan RTPLAN (and --dose)"
        )
    try:
        point, _ = couch_reference(text, plan=plan, structures=study.structures)
    except RtplanError as exc:
        raise RtplanError(f"--couch-reference {text!r}: {exc}") from None
    return point


# ---------------------------------------------------------------------------- value types
def couch_reference_text(text: str) -> str:
    """``argparse`` type of ``--couch-reference``: ``X,Y,Z`` checked now, a name later.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is empty, or has commas but is not 3 finite numbers.

    Examples
    --------
    >>> couch_reference_text(" 0, -150 ,30"), couch_reference_text("isocenter")
    ('0, -150 ,30', 'isocenter')
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: give X,Y,Z in LPS mm or a point's name")
    if "," in text:
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not X,Y,Z: give 3 finite numbers of mm (LPS), e.g. 0,-150,30"
            )
    return text.strip()


def angle_deg(text: str) -> float:
    """``argparse`` type of one machine angle: a number of degrees in [-360, 360].

    Negative angles count back from 360 (-30 is 330), as IEC 61217 angles wrap.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a number or is out of range.

    Examples
    --------
    >>> angle_deg("-30"), angle_deg("90")
    (-30.0, 90.0)
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of degrees") from None
    if not (math.isfinite(value) and -360.0 <= value <= 360.0):
        raise argparse.ArgumentTypeError(
            f"angle {text} is out of range: give 0 to 360 degrees (IEC 61217; -30 means 330)"
        )
    return value


def angles_deg(text: str) -> list[float]:
    """``argparse`` type of comma-separated machine angles (each as :func:`angle_deg`).

    Raises
    ------
    argparse.ArgumentTypeError
        If an item is not an angle, or there is none.

    Examples
    --------
    >>> angles_deg("0,120, 240")
    [0.0, 120.0, 240.0]
    """
    values = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            values.append(angle_deg(item.strip()))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(
                f"{exc}; give comma-separated angles, e.g. 0,120,240"
            ) from None
    if not values:
        raise argparse.ArgumentTypeError(
            f"no angle in {text!r}; give comma-separated angles in degrees, e.g. 0,120,240"
        )
    return values


def vocabulary(parse: Callable[[str], V]) -> Callable[[str], V]:
    """``argparse`` type of a word of a vocabulary of :mod:`rtplan.enum` (spelling forgiven).

    Parameters
    ----------
    parse : callable
        The Enum, e.g. :class:`rtplan.enum.Plane`.

    Returns
    -------
    callable
        Turns the word into the member; an unknown word becomes an argparse error whose
        message lists the choices.

    Examples
    --------
    >>> from rtplan.enum import Plane
    >>> vocabulary(Plane)("Coronal")
    <Plane.CORONAL: 'coronal'>
    """

    def word(text: str) -> V:
        try:
            return parse(text)
        except RtplanError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    word.__name__ = getattr(parse, "__name__", "word")
    return word


def window_or_width_level(text: str) -> Window | tuple[float, float]:
    """``argparse`` type of a CT window: a preset name or ``WIDTH/LEVEL`` in HU.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is neither.

    Examples
    --------
    >>> window_or_width_level("bone"), window_or_width_level("350/50")
    (<Window.BONE: 'bone'>, (350.0, 50.0))
    """
    if "/" not in text:
        return vocabulary(Window)(text)
    width, _, level = text.partition("/")
    try:
        return float(width), float(level)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a window preset ({', '.join(Window.choices())}) nor "
            "WIDTH/LEVEL in HU, e.g. 350/50"
        ) from None
