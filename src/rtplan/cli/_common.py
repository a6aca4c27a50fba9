"""Checks and lookups shared by the subcommands: study, inputs, outputs, numbers, goals.

Each check raises an :class:`rtplan.RtplanError` subclass whose one-line message names the
option, the file and what to do. The subcommands run them before any long computation,
so bad input never costs a dose calculation and never leaves a partial output. What
belongs to a study (the plan and prescription of a dose, whether a file is of the study's
frame of reference) is asked of :class:`rtplan.io.Study`; this module only names the
command-line option in the answer.

Outputs are written through :func:`writing`: into a staging folder next to the targets,
moved into place together only once all are complete, so an error or Ctrl-C leaves the
previous files (if any) as they were. An output never replaces a file that the command
read: an input given on the command line, or a file of the study folder.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rtplan.errors import DicomReadError, RtplanError, StructureError

if TYPE_CHECKING:
    from rtplan.evaluate import GoalTable
    from rtplan.image import Dose, Image
    from rtplan.io import Prescription
    from rtplan.io.study import Study
    from rtplan.plan import Plan
    from rtplan.structures import Structure

__all__ = [
    "check_dose_covers",
    "check_positive",
    "input_file",
    "isodose_prescription",
    "load_study",
    "output_file",
    "output_folder",
    "print_goals",
    "progress",
    "read_dose",
    "read_plan",
    "structure",
    "writing",
]

T = TypeVar("T")


# ---------------------------------------------------------------------------- numbers
def check_positive(value: float | None, option: str, unit: str = "") -> None:
    """Raise unless ``value`` (when given) is a finite number > 0.

    Raises
    ------
    RtplanError
        Naming the option, e.g. ``--grid-mm must be a positive number of mm, got 0``.
    """
    if value is None:
        return
    if not (math.isfinite(value) and value > 0):
        what = f"a positive number of {unit}" if unit else "a positive number"
        raise RtplanError(f"{option} must be {what}, got {value:g}")


# ---------------------------------------------------------------------------- inputs
def load_study(args: argparse.Namespace) -> Study:
    """:func:`rtplan.load_study` of the STUDY argument and the study options.

    Parameters
    ----------
    args : argparse.Namespace
        ``study``, ``series_uid``, ``structure_set_uid`` and ``allow_resample``, as
        :func:`rtplan.cli._parsing.study_options` parses them.

    Raises
    ------
    DicomReadError
        If the path is missing or is a file, or as :func:`rtplan.load_study`.
    """
    from rtplan.io.study import load_study as load

    p = Path(args.study)
    if not p.exists():
        raise DicomReadError(f"study folder {p} does not exist; give the folder of the CT")
    if not p.is_dir():
        raise DicomReadError(
            f"{p} is a file, not a study folder; give the folder that holds the CT and RT "
            f"Structure Set (e.g. {p.parent})"
        )
    return load(
        p,
        series_uid=args.series_uid,
        structure_set_uid=args.structure_set_uid,
        allow_resample=args.allow_resample,
    )


def _modality(path: Path) -> str | None:
    """The Modality of a DICOM file (``""`` if absent), or None if it is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None
    return str(ds.get("Modality", "") or "")


def input_file(path: Path, option: str, what: str) -> Path:
    """Check that an input file exists and is not a folder.

    Parameters
    ----------
    path : Path
    option : str
        How the command line names it: ``"--dose"``, ``"REF"``...
    what : str
        What it should hold: ``"RT Dose"``, ``"RT Plan"``...

    Raises
    ------
    DicomReadError
    """
    p = Path(path)
    if not p.exists():
        raise DicomReadError(f"{option} {p}: no such file")
    if p.is_dir():
        raise DicomReadError(f"{option} {p} is a folder; give the {what} file itself")
    return p


def _read(path: Path, option: str, modality: str, what: str, reader: Callable[[Path], T]) -> T:
    """Read a DICOM file given on the command line, naming the option in any error."""
    p = input_file(path, option, what)
    found = _modality(p)
    if found is None:
        raise DicomReadError(f"{option} {p} is not a DICOM file; give the {what} file")
    if not found:
        raise DicomReadError(
            f"{option} {p} is a DICOM file without Modality (truncated, or not an {what}); "
            f"give the {what} file"
        )
    if found != modality:
        raise DicomReadError(f"{option} {p} is a {found} file, not an {what}; give the {what}")
    try:
        return reader(p)
    except RtplanError as exc:
        raise type(exc)(f"{option} {exc}") from exc


def read_dose(path: Path, option: str, study: Study | None = None) -> Dose:
    """Read an RT Dose given on the command line; with ``study``, check it belongs to it.

    Raises
    ------
    DicomReadError
        If the file is missing or not an RT Dose, or (with ``study``) its frame of
        reference is not the CT's or its grid lies outside the CT
        (:meth:`rtplan.io.Study.check_dose`).
    """
    from rtplan.io import read_rtdose

    dose: Dose = _read(path, option, "RTDOSE", "RT Dose", read_rtdose)
    if study is not None:
        study.check_dose(dose, source=f"{option} {path}")
    return dose


def read_plan(path: Path, option: str, study: Study | None = None) -> Plan:
    """Read an RT Plan given on the command line; with ``study``, check its frame.

    Raises
    ------
    DicomReadError
        If the file is missing or not an RT Plan, or (with ``study``) its frame of
        reference is not the CT's (:meth:`rtplan.io.Study.check_plan`).
    PlanError
        As :func:`rtplan.io.read_rtplan`.
    """
    from rtplan.io import read_rtplan

    plan: Plan = _read(path, option, "RTPLAN", "RT Plan", read_rtplan)
    if study is not None:
        study.check_plan(plan, source=f"{option} {path}")
    return plan


def check_dose_covers(dose: Image, structures: Iterable[Structure], option: str, path: Any) -> None:
    """Raise if the dose grid meets none of the structures (with a volume) at all.

    Structures partly outside the grid are left to the DVH, which warns about them.

    Raises
    ------
    RtplanError
    """
    with_volume = [s for s in structures if s.has_volume]
    if with_volume and not any(dose.grid.overlaps(s.bounds_mm()) for s in with_volume):
        raise RtplanError(
            f"{option} {path}: the dose grid ({dose.grid.format_bounds()}) covers none of "
            "the structures; give the RT Dose of this study's plan (or one computed on a "
            "grid that covers the targets)"
        )


def structure(study: Study, name: str, option: str, *, need_volume: bool = True) -> Structure:
    """Look a structure up for an option, naming the option when it is missing or empty.

    Raises
    ------
    StructureError
        ``--target: no structure named 'PTVV' in RS.dcm (did you mean 'PTV'?); ...``, or
        that the structure has no volume (with ``need_volume``).
    """
    try:
        s = study.structures[name]
    except StructureError as exc:
        raise StructureError(f"{option}: {exc}") from None
    if need_volume and not s.has_volume:
        where = f" in {study.structures.source}" if study.structures.source else ""
        raise StructureError(
            f"{option}: structure {s.name!r}{where} is empty (no closed contours); choose a "
            "structure with a volume"
        )
    return s


def isodose_prescription(
    study: Study, dose: Dose, dose_path: Path | None, prescription_gy: float | None
) -> float | None:
    """The 100 % isodose level: ``prescription_gy``, else that of the dose's plan.

    Prints where the level comes from, or that the isodoses will be percentages of the
    dose maximum because no prescription was found.

    Parameters
    ----------
    study : rtplan.io.Study
    dose : rtplan.Dose
    dose_path : Path, optional
        The RT Dose file (an RT Plan next to it is looked at).
    prescription_gy : float, optional
        Given on the command line (checked positive by the caller); returned as it is.

    Returns
    -------
    float or None
        None when no prescription was found (the overlay then uses the dose maximum).
    """
    if prescription_gy is not None:
        return float(prescription_gy)
    found: Prescription = study.prescription_for(dose, dose_path=dose_path)
    if found.dose_gy is not None:
        print(f"isodoses in % of the prescription {found.dose_gy:g} Gy (from {found.source})")
    else:
        dmax = float(dose.array.max()) if dose.array.size else 0.0
        print(
            f"no prescription found (no RT Plan referenced by the RT Dose): isodoses in % of "
            f"the dose maximum {dmax:.3g} Gy; give --prescription-gy for % of the prescription"
        )
    return found.dose_gy


def print_goals(table: GoalTable, command: str) -> int:
    """Print a goal table; on stderr, how many goals failed or could not be evaluated.

    Parameters
    ----------
    table : rtplan.evaluate.GoalTable
    command : str
        The subcommand, for the stderr line (``"rtplan dvh: 2 goal(s) failed"``).

    Returns
    -------
    int
        The exit status: 0 when every goal passed, else 1.
    """
    print(table.format_table())
    if table.all_passed:
        return 0
    undefined = sum(1 for r in table if r.passed is None)
    parts = []
    if table.n_failed:
        parts.append(f"{table.n_failed} goal(s) failed")
    if undefined:
        parts.append(f"{undefined} could not be evaluated (see the table)")
    print(f"rtplan {command}: {', '.join(parts)}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------- outputs
def _protect(
    path: Path, option: str, inputs: Mapping[str, Path | None], folders: Iterable[Path | None]
) -> None:
    """Raise if writing ``path`` would replace an input file or a file of a study folder."""
    target = path.resolve()
    for label, given in inputs.items():
        if given is not None and Path(given).exists() and Path(given).resolve() == target:
            raise RtplanError(
                f"{option} {path} is the input {label}: writing it would replace what was "
                "read; choose another output name"
            )
    if not path.exists():
        return
    for folder in folders:
        if folder is not None and target.is_relative_to(Path(folder).resolve()):
            raise RtplanError(
                f"{option} {path} would replace a file of the study folder {folder}; write "
                "the output elsewhere or under a new name"
            )


def _check_writable(folder: Path, option: str, path: Path) -> None:
    """Raise unless ``folder`` exists or can be created, and a file can be made in it."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RtplanError(
            f"{option} {path}: cannot create the folder {folder}, as {existing} is a file"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise RtplanError(
            f"{option} {path}: cannot write in {existing} ({exc.strerror or exc}); choose an "
            "output in a folder you can write to"
        ) from None


def output_file(
    path: Path,
    option: str,
    *,
    suffixes: tuple[str, ...] = (),
    inputs: Mapping[str, Path | None] | None = None,
    folders: Iterable[Path | None] = (),
) -> Path:
    """Check an output file before the work: not a folder, not an input, writable.

    A missing parent folder is created when the file is written; an existing file that
    is not an input is replaced (atomically, see :func:`writing`).

    Parameters
    ----------
    path : Path
    option : str
        The option naming it (``-o``, ``--curves``...).
    suffixes : tuple of str
        Allowed file name endings (lower case, e.g. ``(".png",)``); any when empty.
    inputs : mapping of str to Path, optional
        The command's input files by option, never to be replaced.
    folders : iterable of Path
        Study folders: an existing file inside them is never replaced.

    Raises
    ------
    RtplanError
    """
    p = Path(path)
    if p.is_dir():
        raise RtplanError(f"{option} {p} is a folder; give a file name in it")
    if suffixes and p.suffix.lower() not in suffixes:
        raise RtplanError(
            f"{option} {p}: the file name must end in {' or '.join(suffixes)} (the format written)"
        )
    _protect(p, option, inputs or {}, folders)
    _check_writable(p.parent, option, p)
    return p


def output_folder(
    path: Path,
    option: str,
    *,
    names: Iterable[str] = (),
    inputs: Mapping[str, Path | None] | None = None,
    folders: Iterable[Path | None] = (),
) -> Path:
    """Check an output folder before the work: not a file, writable, no input replaced.

    Parameters
    ----------
    path : Path
    option : str
    names : iterable of str
        The files the command writes in it (checked as :func:`output_file` does).
    inputs, folders
        As :func:`output_file`.

    Raises
    ------
    RtplanError
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise RtplanError(f"{option} {p} is a file; give a folder (it is created if missing)")
    folders = list(folders)
    for name in names:
        _protect(p / name, option, inputs or {}, folders)
    _check_writable(p, option, p)
    return p


@contextmanager
def writing(*paths: Path) -> Iterator[tuple[Path, ...]]:
    """Paths to write ``paths`` through: they replace the targets together when the block ends.

    The files are written into a staging folder next to their targets and moved into
    place together once the block succeeds (:func:`rtplan.io.atomic_folder`); on an
    error or interrupt nothing of them appears and the targets are left as they were.
    Parent folders are created (and removed again on failure if they were new).

    Yields
    ------
    tuple of Path
        One path per target, in order, each with the target's name.
    """
    from rtplan.io import atomic_folder

    targets = [Path(p) for p in paths]
    with ExitStack() as stack:
        stages = {
            folder: stack.enter_context(atomic_folder(folder))
            for folder in dict.fromkeys(p.parent for p in targets)
        }
        yield tuple(stages[p.parent].path / p.name for p in targets)


# ---------------------------------------------------------------------------- progress
class _Progress:
    """The progress callback of :func:`progress`."""

    def __init__(self, stream: Any, *, quiet: bool, step_percent: float) -> None:
        self.stream = stream
        self.quiet = quiet
        self.step = step_percent
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = False
        self.last: tuple[float, str] | None = None

    def __call__(self, fraction: float, message: str) -> None:
        if self.quiet:
            return
        percent = 100.0 * min(max(float(fraction), 0.0), 1.0)
        if self.tty:
            print(f"\r{percent:5.1f} % {message:<60}", end="", file=self.stream, flush=True)
            self.shown = True
            return
        # plain lines for logs and pipes: one per new message or per step_percent
        if self.last is not None:
            last_percent, last_message = self.last
            if message == last_message and percent < last_percent + self.step and percent < 100:
                return
        print(f"{percent:5.1f} % {message}", file=self.stream, flush=True)
        self.last = (percent, message)

    def close(self) -> None:
        if self.shown:
            print(file=self.stream)  # end the updating line, also before an error line
            self.shown = False


@contextmanager
def progress(*, quiet: bool = False, step_percent: float = 10.0) -> Iterator[_Progress]:
    """A ``progress(fraction, message)`` callback writing to stderr.

    On a terminal it rewrites one line in place; otherwise (a log file, a pipe, a CI job)
    it writes plain lines, one when the message changes or the fraction has moved by
    ``step_percent``, so that no carriage returns end up in the log. ``quiet`` writes
    nothing. The updating line is ended when the block ends, also on an error.

    Yields
    ------
    callable
        ``progress(fraction, message)`` with ``fraction`` in [0, 1].
    """
    reporter = _Progress(sys.stderr, quiet=quiet, step_percent=step_percent)
    try:
        yield reporter
    finally:
        reporter.close()
