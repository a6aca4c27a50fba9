"""Checks shared by the subcommands: input paths, frames of reference, outputs, numbers.

Each check raises an :class:`rtplan.RtplanError` subclass whose one-line message names the
option, the file and what to do. The subcommands run them before any long computation,
so bad input never costs a dose calculation and never leaves a partial output.

Outputs are written through :func:`writing`: to a temporary file next to the target,
renamed over it only once complete, so an error or Ctrl-C leaves the previous file (if
any) as it was. An output never replaces a file that the command read: an input given
on the command line, or a file of the study folder.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.errors import DicomReadError, PlanError, RtplanError, StructureError

if TYPE_CHECKING:
    from rtplan.image import Dose, Image
    from rtplan.io.study import Study
    from rtplan.plan import Plan
    from rtplan.structures import Structure

__all__ = [
    "angle_deg",
    "angles_deg",
    "boxes_overlap",
    "check_dose_covers",
    "check_positive",
    "format_box",
    "frame_uid",
    "grid_box",
    "input_file",
    "load_study",
    "output_file",
    "output_folder",
    "read_dose",
    "read_plan",
    "reject_with_plan",
    "structure",
    "writing",
]


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


def angle_deg(text: str) -> float:
    """``argparse`` type of one machine angle: a number of degrees in [-360, 360].

    Negative angles count back from 360 (-30 is 330), as IEC 61217 angles wrap.
    """
    import argparse

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
    """``argparse`` type of comma-separated machine angles (each as :func:`angle_deg`)."""
    import argparse

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


# ---------------------------------------------------------------------------- inputs
def load_study(path: Path, **options: Any) -> Study:
    """:func:`rtplan.load_study` of the STUDY argument, with command-line messages.

    Raises
    ------
    DicomReadError
        If the path is missing or is a file, or as :func:`rtplan.load_study`.
    """
    from rtplan.io.study import load_study as load

    p = Path(path)
    if not p.exists():
        raise DicomReadError(f"study folder {p} does not exist; give the folder of the CT")
    if not p.is_dir():
        raise DicomReadError(
            f"{p} is a file, not a study folder; give the folder that holds the CT and RT "
            f"Structure Set (e.g. {p.parent})"
        )
    return load(p, **options)


def _modality(path: Path) -> str | None:
    """The Modality of a DICOM file (``""`` if absent), or None if it is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None
    return str(ds.get("Modality", "") or "")


def _expect(path: Path, option: str, modality: str, what: str) -> None:
    """Raise if the file is not DICOM, or is DICOM of another modality."""
    found = _modality(path)
    if found is None:
        raise DicomReadError(f"{option} {path} is not a DICOM file; give the {what} file")
    if not found:
        raise DicomReadError(
            f"{option} {path} is a DICOM file without Modality (truncated, or not an {what}); "
            f"give the {what} file"
        )
    if found != modality:
        raise DicomReadError(f"{option} {path} is a {found} file, not an {what}; give the {what}")


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


def frame_uid(image: Image) -> str:
    """The Frame of Reference UID of an image (CT, dose), ``""`` when unknown."""
    return "" if image.series is None else str(image.series.frame_of_reference_uid)


def _check_frame(frame: str, study: Study, option: str, path: Path, what: str) -> None:
    ct_frame = frame_uid(study.ct)
    if frame and ct_frame and frame != ct_frame:
        raise DicomReadError(
            f"{option} {path}: the {what} is in frame of reference {frame}, not in the CT's "
            f"of {study.path} ({ct_frame}); it belongs to another study: give the {what} made "
            "on this CT"
        )


def grid_box(image_grid: Any) -> tuple[Any, Any]:
    """The LPS bounding box ``(lower, upper)`` of a grid's outer voxel edges, mm."""
    corners = image_grid.corners_mm()
    return corners.min(axis=0), corners.max(axis=0)


def boxes_overlap(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    """Whether two ``(lower, upper)`` boxes share at least a point."""
    return bool((a[0] <= b[1]).all() and (b[0] <= a[1]).all())


def format_box(box: tuple[Any, Any]) -> str:
    """``"x -10..10, y -5..5, z 0..30 mm"``."""
    lo, hi = box
    return ", ".join(f"{a} {lo[i]:.0f}..{hi[i]:.0f}" for i, a in enumerate("xyz")) + " mm"


def read_dose(path: Path, option: str, study: Study | None = None) -> Dose:
    """Read an RT Dose given on the command line; with ``study``, check it belongs to it.

    Raises
    ------
    DicomReadError
        If the file is missing or not an RT Dose, or (with ``study``) its frame of
        reference is not the CT's or its grid lies outside the CT.
    """
    from rtplan.io import read_rtdose

    p = input_file(path, option, "RT Dose")
    _expect(p, option, "RTDOSE", "RT Dose")
    try:
        dose: Dose = read_rtdose(p)
    except RtplanError as exc:
        raise type(exc)(f"{option} {exc}") from exc
    if study is not None:
        _check_frame(frame_uid(dose), study, option, p, "RT Dose")
        dose_box, ct_box = grid_box(dose.grid), grid_box(study.ct.grid)
        if not boxes_overlap(dose_box, ct_box):
            raise DicomReadError(
                f"{option} {p}: the dose grid ({format_box(dose_box)}) lies outside the CT of "
                f"{study.path} ({format_box(ct_box)}); give the RT Dose computed on this CT"
            )
    return dose


def check_dose_covers(dose: Image, structures: Iterable[Structure], option: str, path: Any) -> None:
    """Raise if the dose grid meets none of the structures (with a volume) at all.

    Structures partly outside the grid are left to the DVH, which warns about them.

    Raises
    ------
    RtplanError
    """
    with_volume = [s for s in structures if s.has_volume]
    if not with_volume:
        return
    dose_box = grid_box(dose.grid)
    if not any(boxes_overlap(s.bounds_mm(), dose_box) for s in with_volume):
        raise RtplanError(
            f"{option} {path}: the dose grid ({format_box(dose_box)}) covers none of the "
            "structures; give the RT Dose of this study's plan (or one computed on a grid "
            "that covers the targets)"
        )


def read_plan(path: Path, option: str, study: Study | None = None) -> Plan:
    """Read an RT Plan given on the command line; with ``study``, check its frame.

    Raises
    ------
    DicomReadError
        If the file is missing or not an RT Plan, or (with ``study``) its frame of
        reference is not the CT's.
    PlanError
        As :func:`rtplan.io.read_rtplan`.
    """
    from rtplan.io import read_rtplan

    p = input_file(path, option, "RT Plan")
    _expect(p, option, "RTPLAN", "RT Plan")
    try:
        plan: Plan = read_rtplan(p)
    except RtplanError as exc:
        raise type(exc)(f"{option} {exc}") from exc
    if study is not None:
        _check_frame(str(plan.extra.get("frame_of_reference_uid", "")), study, option, p, "RT Plan")
    return plan


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
    """Temporary paths to write ``paths`` to, renamed over them when the block succeeds.

    The temporary files sit next to their targets (same folder, same suffix); on an error
    or interrupt they are removed and the targets are left untouched. Parent folders are
    created.

    Yields
    ------
    tuple of Path
        One temporary path per target, in order.
    """
    temps = []
    for p in paths:
        p = Path(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        temps.append(p.with_name(f".{p.stem}.{os.getpid()}.partial{p.suffix}"))
    with ExitStack() as cleanup:
        for t in temps:
            cleanup.callback(t.unlink, missing_ok=True)
        yield tuple(temps)
        for t, p in zip(temps, paths, strict=True):
            os.replace(t, p)


def reject_with_plan(args: Any, options: Mapping[str, str]) -> None:
    """Raise if options that only shape a conformal plan were given with ``--plan``.

    Raises
    ------
    PlanError
    """
    given = [flag for attr, flag in options.items() if getattr(args, attr, None) is not None]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise PlanError(
            f"{', '.join(given)} {verb} only to --conformal plans; the beams come from "
            f"--plan {args.plan}: edit the plan, or use --conformal"
        )
