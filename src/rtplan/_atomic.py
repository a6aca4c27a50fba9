"""Atomic outputs: every file rtplan writes appears whole, or not at all.

One mechanism serves every writer of the library (DICOM objects, PNG, CSV, JSON, HTML, the
3D scene) and every multi-file export:

* **One file** (:func:`atomic_path`, :func:`atomic_open`): the content is written to a
  temporary file in the target's folder, flushed to disk (``fsync``) and renamed over the
  target (``os.replace``, atomic on POSIX and Windows). A reader sees the old file or the
  new one, never a partial one; an error or an interrupt removes the temporary file and
  leaves the target as it was.
* **A set of files** (:func:`atomic_folder`): the files are written into a staging folder
  inside the destination; once all are written the staging folder is renamed to mark the
  set *committed*, then each file is renamed into place and the files of an earlier set
  that the new one supersedes are removed. An error before the commit leaves nothing of
  the new set and the old set untouched. A process killed during the (millisecond) commit
  leaves a committed staging folder, which the next write into that folder completes
  (*rolls forward*), so the set is never left half old, half new.

Temporary files and staging folders are named ``.rtplan-<pid>-<token>.partial[.<name>]``
(``.commit`` once committed). A killed process (``SIGKILL``, power loss) can leave one
behind; each write into a folder first removes the ones of that naming pattern that are
stale: made before the current process started, by a process that no longer runs (on
POSIX; elsewhere, more than a day old). Nothing else in the folder is ever touched.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "FolderStage",
    "atomic_folder",
    "atomic_open",
    "atomic_path",
    "clean_stale",
    "is_temporary",
]

logger = logging.getLogger(__name__)

#: Names of our temporary files and staging folders.
_PATTERN = re.compile(
    r"^\.rtplan-(?P<pid>\d+)-(?P<token>[0-9a-f]{12})\.(?P<state>partial|commit)(?:\.(?P<name>.+))?$"
)
#: Inside a staging folder: the patterns superseded by nested exports, and what to remove.
_REPLACES = ".rtplan-replaces"
_REMOVE = ".rtplan-remove"
#: When this process started writing (the module is imported before the first write).
_STARTED = time.time()
#: Temporary files of another platform's process are stale after this long, seconds.
_STALE_AGE_S = 86400.0
_MAX_NAME = 200  # characters of the target's name kept in a temporary name


def _temp_name(state: str, name: str = "") -> str:
    token = secrets.token_hex(6)
    tail = f".{name[-_MAX_NAME:]}" if name else ""
    return f".rtplan-{os.getpid()}-{token}.{state}{tail}"


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """Whether a file or folder name is one of rtplan's temporary names.

    Examples
    --------
    >>> from rtplan._atomic import is_temporary
    >>> is_temporary(".rtplan-4242-0123456789ab.partial.RD.dcm"), is_temporary("RD.dcm")
    (True, False)
    """
    return _PATTERN.match(Path(path).name) is not None


# ---------------------------------------------------------------------------- stale files
def _running(pid: int) -> bool:
    """Whether a process ``pid`` runs (POSIX); True when it cannot be known."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, under another user
        return True
    return True


def _is_stale(entry: Path, pid: int) -> bool:
    try:
        mtime = entry.lstat().st_mtime
    except OSError:
        return False
    if os.name != "posix":
        return mtime < _STARTED - _STALE_AGE_S
    if pid == os.getpid():  # an earlier process that had our id; never one of ours
        return mtime < _STARTED - 1.0
    return mtime < _STARTED and not _running(pid)


def clean_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the stale temporary files and staging folders of killed rtplan runs.

    Only names of rtplan's pattern (``.rtplan-<pid>-<token>.partial...``) directly in
    ``folder`` are considered, and only those made before this process started by a
    process that no longer runs. A staging folder that was committed is completed (its
    files moved into place) rather than removed.

    Parameters
    ----------
    folder : str or path-like

    Returns
    -------
    list of Path
        What was removed or completed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan._atomic import clean_stale
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "keep.txt").write_text("mine")
    ...     clean_stale(tmp), sorted(p.name for p in Path(tmp).iterdir())
    ([], ['keep.txt'])
    """
    base = Path(folder)
    done: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return done
    for entry in entries:
        m = _PATTERN.match(entry.name)
        if m is None or not _is_stale(entry, int(m["pid"])):
            continue
        try:
            if m["state"] == "commit" and entry.is_dir() and m["name"] is None:
                _roll_forward(entry, base)
                logger.info("completed the interrupted export %s in %s", entry.name, base)
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as exc:  # another process cleans it meanwhile, or no permission
            logger.debug("could not clean %s: %s", entry, exc)
            continue
        done.append(entry)
    return done


# ---------------------------------------------------------------------------- fsync
def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make renames in ``path`` durable (POSIX; a no-op where folders cannot be synced)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # EINVAL: this file system does not sync folders
        pass
    finally:
        os.close(fd)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing: list[Path] = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def _remove_empty(created: Iterable[Path]) -> None:
    for p in reversed(list(created)):
        try:
            p.rmdir()
        except OSError:  # not empty (someone else wrote there): keep it
            return


# ---------------------------------------------------------------------------- one file
@contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[Path]:
    """A temporary path to write ``path`` through; renamed over it when the block succeeds.

    The temporary file sits in the target's folder (so the rename is atomic) and ends with
    the target's name (so writers that choose the format by suffix see the right one).
    Missing parent folders are created (and removed again if the block fails).

    Parameters
    ----------
    path : str or path-like
        The file to write; replaced when it exists.
    durable : bool
        ``fsync`` the file before the rename and the folder after it, so that a power
        loss cannot leave an empty file under the target's name.

    Yields
    ------
    Path
        Where the block writes the content.

    Raises
    ------
    FileNotFoundError
        If the block wrote nothing at the temporary path.
    OSError
        As the file system raises it (the target named): a folder where the file goes,
        no space left, no permission.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan._atomic import atomic_path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with atomic_path(Path(tmp, "sub", "a.txt")) as part:
    ...         _ = part.write_text("whole")
    ...     sorted(p.name for p in Path(tmp, "sub").iterdir())
    ['a.txt']
    """
    out = Path(path)
    created = _make_parents(out.parent)
    clean_stale(out.parent)
    tmp = out.parent / _temp_name("partial", out.name)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(errno.ENOENT, "nothing was written for", str(out))
        if out.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder stands where the file goes", str(out))
        if durable:
            _fsync_file(tmp)
        os.replace(tmp, out)
    except BaseException:
        _unlink(tmp)
        _remove_empty(created)
        raise
    if durable:
        _fsync_dir(out.parent)


def _unlink(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove the temporary %s: %s", path, exc)


@contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = None,
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing through a temporary file (see :func:`atomic_path`).

    Parameters
    ----------
    path : str or path-like
    mode : {"w", "wb"}
        Text or binary.
    encoding, newline : str, optional
        As :func:`open` (text mode); UTF-8 by default.

    Yields
    ------
    file object

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan._atomic import atomic_open
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with atomic_open(Path(tmp, "t.csv"), newline="") as fh:
    ...         _ = fh.write("a,b")
    ...     Path(tmp, "t.csv").read_text()
    'a,b'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes new files only (mode 'w' or 'wb'), got {mode!r}")
    with atomic_path(path) as tmp:
        if mode == "wb":
            with open(tmp, "xb") as fh:
                yield fh
        else:
            with open(tmp, "x", encoding=encoding or "utf-8", newline=newline) as fh:
                yield fh


# ---------------------------------------------------------------------------- a set of files
@dataclass(frozen=True, kw_only=True, slots=True)
class FolderStage:
    """Where the files of an all-or-nothing export are written (:func:`atomic_folder`).

    Parameters
    ----------
    path : Path
        The staging folder: write the new set here, laid out as in ``dest``.
    dest : Path
        The destination folder.
    nested : bool
        True when ``dest`` lies inside another stage: the files are written in place and
        the enclosing export commits them.
    """

    path: Path
    dest: Path
    nested: bool = False
    replaces: tuple[str, ...] = field(default=())

    def final(self, path: str | os.PathLike[str]) -> Path:
        """Where a file written under :attr:`path` ends up once the set is committed."""
        return self.dest / Path(path).relative_to(self.path)


def _enclosing_stage(folder: Path) -> Path | None:
    """The staging folder that ``folder`` lies in (a nested export), if any."""
    for p in (folder, *folder.parents):
        m = _PATTERN.match(p.name)
        if m is not None and m["state"] == "partial" and m["name"] is None and p.is_dir():
            return p
    return None


def _register(stage: Path, prefix: Path, patterns: Iterable[str]) -> None:
    """Record in the enclosing ``stage`` the patterns a nested export supersedes."""
    lines = [str(prefix / p) if str(prefix) != "." else p for p in patterns]
    if lines:
        with open(stage / _REPLACES, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in lines))


def _staged_files(stage: Path) -> list[Path]:
    """The files of the new set, relative to the stage (our bookkeeping files left out)."""
    files = []
    for p in sorted(stage.rglob("*")):
        rel = p.relative_to(stage)
        if p.is_dir() and not p.is_symlink():
            continue
        if any(_PATTERN.match(part) or part.startswith(".rtplan-") for part in rel.parts):
            continue
        files.append(rel)
    return files


def _superseded(dest: Path, patterns: Iterable[str], new: set[Path]) -> list[str]:
    """Files of ``dest`` matched by ``patterns`` that the new set does not replace."""
    old: set[str] = set()
    for pattern in patterns:
        for p in dest.glob(pattern):
            rel = p.relative_to(dest)
            if any(part.startswith(".rtplan-") for part in rel.parts):
                continue
            if rel not in new and (p.is_file() or p.is_symlink()):
                old.add(rel.as_posix())
    return sorted(old)


def _preflight(dest: Path, files: Iterable[Path]) -> None:
    """Raise before the commit if a file of the set cannot take its place."""
    for rel in files:
        target = dest / rel
        if target.is_dir() and not target.is_symlink():
            raise IsADirectoryError(
                errno.EISDIR, "a folder stands where the file goes", str(target)
            )
        for parent in rel.parents:
            above = dest / parent
            if str(parent) != "." and above.exists() and not above.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, "a file stands where a folder goes", str(above)
                )


def _commit(stage: Path, dest: Path, patterns: Iterable[str]) -> None:
    files = _staged_files(stage)
    _preflight(dest, files)
    remove = _superseded(dest, patterns, set(files))
    (stage / _REMOVE).write_text(json.dumps(remove), encoding="utf-8")
    for rel in files:
        _fsync_file(stage / rel)
    committed = stage.with_name(stage.name.replace(".partial", ".commit", 1))
    os.rename(stage, committed)  # the commit point
    _fsync_dir(dest)
    _roll_forward(committed, dest)


def _roll_forward(committed: Path, dest: Path) -> None:
    """Move the files of a committed stage into place, remove what they supersede."""
    remove_list = committed / _REMOVE
    remove = json.loads(remove_list.read_text(encoding="utf-8")) if remove_list.exists() else []
    for rel in _staged_files(committed):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(committed / rel, target)
    for rel in remove:
        target = dest / rel
        if target.is_file() or target.is_symlink():
            target.unlink(missing_ok=True)
    shutil.rmtree(committed)
    _fsync_dir(dest)


@contextmanager
def atomic_folder(
    dest: str | os.PathLike[str], *, replaces: Iterable[str] = ()
) -> Iterator[FolderStage]:
    """Write a set of files into ``dest`` all together, or not at all.

    The block writes the new set under ``stage.path`` (laid out as in ``dest``); when it
    succeeds the set is committed: each file replaces its namesake in ``dest`` and the
    files of ``dest`` matched by ``replaces`` that the new set does not hold (the rest of
    an earlier set) are removed. Other files of ``dest`` are left alone. When the block
    fails, nothing of the new set appears: the staging folder is removed (``dest`` itself,
    created if missing, is left as it was, or empty).

    Inside the block of another :func:`atomic_folder` whose stage holds ``dest``, the
    files are written in place and the enclosing export commits them (with ``replaces``).

    Parameters
    ----------
    dest : str or path-like
        The destination folder (created).
    replaces : iterable of str
        Glob patterns, relative to ``dest``, of the files an earlier set of this export
        may have left (``"overlays/rank*.png"``): removed at the commit unless rewritten.

    Yields
    ------
    FolderStage
        ``stage.path`` to write into; ``stage.final(p)`` maps a staged file to its place.

    Raises
    ------
    OSError
        As the file system raises it, naming the file: a folder stands where a file of
        the set goes, no space left, no permission. Nothing of the new set is then in
        place.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan._atomic import atomic_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with atomic_folder(Path(tmp, "out")) as stage:
    ...         _ = (stage.path / "a.csv").write_text("1")
    ...         _ = (stage.path / "b.csv").write_text("2")
    ...         before = sorted(p.name for p in Path(tmp, "out").iterdir() if p.is_file())
    ...     after = sorted(p.name for p in Path(tmp, "out").iterdir())
    >>> before, after
    ([], ['a.csv', 'b.csv'])
    """
    target = Path(dest)
    patterns = tuple(replaces)
    outer = _enclosing_stage(target)
    if outer is not None:
        target.mkdir(parents=True, exist_ok=True)
        _register(outer, target.relative_to(outer), patterns)
        yield FolderStage(path=target, dest=target, nested=True, replaces=patterns)
        return
    target.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    stage = target / _temp_name("partial")
    stage.mkdir()
    try:
        yield FolderStage(path=stage, dest=target, replaces=patterns)
        extra = stage / _REPLACES
        nested = extra.read_text(encoding="utf-8").split() if extra.exists() else []
        _commit(stage, target, (*patterns, *nested))
    except BaseException:
        _unlink(stage)
        raise
