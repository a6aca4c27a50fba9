"""Walking a folder tree, reading file headers once, and grouping files into studies.

The walk states every file (path, size, modification time); only new or changed files
have their header read (rtplan's header-only discovery, no pixel data). What is kept of a
header is what grouping needs, with every UID replaced by a salted hash: modality, SOP
instance, series, study, frame of reference, and whether a CT image is a localizer.

Grouping joins files that share a Study Instance UID or a Frame of Reference UID (an RT
Dose written in another study of the same frame still belongs with its CT). Each CT
series of such a group is one library study, with every RT object of the group (the
study reader picks those that belong to the series); a group without CT is recorded as a
failed study, so that orphan RT objects are reported rather than lost.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rtplan.io._discovery import DicomHeader

__all__ = [
    "FileRow",
    "FileStat",
    "StudyTask",
    "group_studies",
    "read_file_rows",
    "salted_key",
    "walk",
]

logger = logging.getLogger(__name__)

_RT_MODALITIES = ("RTSTRUCT", "RTPLAN", "RTDOSE")


def salted_key(salt: str, *parts: str) -> str:
    """A de-identified key: 20 hex digits of a salted BLAKE2b hash of ``parts``.

    Parameters
    ----------
    salt : str
        The library's secret salt (``meta`` table).
    *parts : str
        What to hash (a UID, a patient ID).

    Returns
    -------
    str
        Empty when every part is empty.

    Examples
    --------
    >>> k = salted_key("salt", "1.2.3")
    >>> len(k), k == salted_key("salt", "1.2.3"), k == salted_key("other", "1.2.3")
    (20, True, False)
    """
    if not any(parts):
        return ""
    h = hashlib.blake2b(digest_size=10, key=salt.encode()[:64])
    h.update("\x1f".join(parts).encode())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class FileStat:
    """A file as the walk saw it: absolute path, size (bytes), mtime (ns)."""

    path: str
    size_bytes: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class FileRow:
    """One row of the ``files`` table.

    ``status`` is ``"dicom"``, ``"not_dicom"`` (skipped quietly) or ``"unreadable"``
    (``reason`` says why). Keys are salted hashes of the UIDs.
    """

    path: str
    size_bytes: int
    mtime_ns: int
    status: str
    modality: str = ""
    sop_key: str = ""
    series_key: str = ""
    study_uid_key: str = ""
    frame_key: str = ""
    is_localizer: bool = False
    reason: str = ""

    def same_file(self, stat: FileStat) -> bool:
        """True if ``stat`` shows the file unchanged (size and modification time)."""
        return self.size_bytes == stat.size_bytes and self.mtime_ns == stat.mtime_ns


def walk(root: Path, *, exclude: Iterable[Path] = ()) -> Iterator[FileStat]:
    """Every file under ``root`` in path order, hidden files and folders skipped.

    Parameters
    ----------
    root : pathlib.Path
        An existing folder (absolute).
    exclude : iterable of pathlib.Path
        Files to leave out (the library database itself, when it lies under ``root``).

    Yields
    ------
    FileStat
    """
    skip = {str(p) for p in exclude}
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            logger.warning("cannot list %s: %s", folder, exc)
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.path)
            elif entry.is_file() and entry.path not in skip:
                st = entry.stat()
                yield FileStat(entry.path, int(st.st_size), int(st.st_mtime_ns))
        stack.extend(reversed(subfolders))


class HeaderCache:
    """Headers read by the scan, kept in this process for the study reader (bounded).

    A header is taken out when used, and found only while its file keeps the path, size
    and modification time it was read with; past ``max_entries`` the oldest are dropped
    (and read again when needed). A header takes about 27 KiB: 4096 of them about 110 MiB.
    Only a serial run keeps them (on Dask, another worker reads the study).
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, int, int], DicomHeader] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, stat: FileStat, header: DicomHeader) -> None:
        """Keep the header of a file as stated."""
        with self._lock:
            self._items[(stat.path, stat.size_bytes, stat.mtime_ns)] = header
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def take(self, path: str) -> DicomHeader | None:
        """The header of ``path`` if it was read and the file is unchanged, else None."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        with self._lock:
            return self._items.pop((path, int(st.st_size), int(st.st_mtime_ns)), None)


#: The headers of the last scans in this process.
HEADERS = HeaderCache()


def _row(stat: FileStat, salt: str, keep_header: bool) -> FileRow:
    from rtplan.io._discovery import read_header

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            header = read_header(Path(stat.path))
    except OSError as exc:
        return FileRow(stat.path, stat.size_bytes, stat.mtime_ns, "unreadable",
                       reason=f"{type(exc).__name__}: {exc}")  # fmt: skip
    if header is None:
        reason = "; ".join(str(w.message) for w in caught)
        status = "unreadable" if reason else "not_dicom"
        return FileRow(stat.path, stat.size_bytes, stat.mtime_ns, status, reason=reason)
    if keep_header:
        HEADERS.put(stat, header)
    return FileRow(
        stat.path,
        stat.size_bytes,
        stat.mtime_ns,
        "dicom",
        modality=header.modality,
        sop_key=salted_key(salt, header.sop_instance_uid),
        series_key=salted_key(salt, header.series_uid),
        study_uid_key=salted_key(salt, header.study_uid),
        frame_key=salted_key(salt, header.frame_uid),
        is_localizer=header.is_localizer,
    )


def read_file_rows(
    stats: Sequence[FileStat], salt: str, keep_headers: bool = True
) -> list[FileRow]:
    """Read the headers of files (no pixel data) into ``files`` rows.

    Runs in the indexing process or on a Dask worker.

    Parameters
    ----------
    stats : sequence of FileStat
    salt : str
    keep_headers : bool
        Keep the headers in this process for the study reader (:data:`HEADERS`): when
        this process reads the studies next (a serial run), not on a Dask worker.

    Returns
    -------
    list of FileRow
        In the order of ``stats``.
    """
    return [_row(s, salt, keep_headers) for s in stats]


@dataclass(frozen=True, slots=True)
class StudyTask:
    """The files of one library study, as sent to a worker.

    Attributes
    ----------
    study_key : str
        Salted hash of the CT series (and its study), or of the orphan RT objects.
    folder : str
        The folder holding the CT series (the common folder of the files for orphans).
    paths : tuple of str
        The CT series and every RT object of its group.
    series_key : str
        Salted hash of the CT Series Instance UID; empty for a group without CT.
    fingerprint : str
        Hash of the files' paths, sizes, modification times and SOP Instance UIDs: the
        study is indexed again when it changes.
    """

    study_key: str
    folder: str
    paths: tuple[str, ...]
    series_key: str
    fingerprint: str


class _Union:
    """Union-find over strings."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent.setdefault(x, x)
        while parent != x:
            grand = self.parent.setdefault(parent, parent)
            self.parent[x] = grand
            x, parent = parent, grand
        return x

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _fingerprint(rows: Sequence[FileRow]) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    for r in sorted(rows, key=lambda r: r.path):
        h.update(f"{r.path}\t{r.size_bytes}\t{r.mtime_ns}\t{r.sop_key}\n".encode())
    return h.hexdigest()


def _common_folder(paths: Sequence[str]) -> str:
    return os.path.commonpath([os.path.dirname(p) for p in paths])


def _components(rows: Sequence[FileRow]) -> dict[str, list[FileRow]]:
    union = _Union()
    for r in rows:
        node = f"s:{r.study_uid_key}" if r.study_uid_key else f"f:{r.path}"
        union.find(node)
        if r.frame_key:
            union.join(node, f"r:{r.frame_key}")
    groups: dict[str, list[FileRow]] = {}
    for r in rows:
        node = f"s:{r.study_uid_key}" if r.study_uid_key else f"f:{r.path}"
        groups.setdefault(union.find(node), []).append(r)
    return groups


def group_studies(rows: Iterable[FileRow], salt: str) -> list[StudyTask]:
    """Group the DICOM files of a walk into library studies.

    Parameters
    ----------
    rows : iterable of FileRow
        Rows of any status (only ``"dicom"`` ones are grouped).
    salt : str

    Returns
    -------
    list of StudyTask
        Sorted by folder, then key.
    """
    dicom = [r for r in rows if r.status == "dicom"]
    tasks: list[StudyTask] = []
    for members in _components(dicom).values():
        ct = [r for r in members if r.modality == "CT"]
        rt = [r for r in members if r.modality in _RT_MODALITIES]
        series: dict[str, list[FileRow]] = {}
        for r in ct:
            series.setdefault(r.series_key, []).append(r)
        wanted = {k: v for k, v in series.items() if not all(r.is_localizer for r in v)}
        for key, files in (wanted or series).items():
            group = [*files, *rt]
            study_key = salted_key(salt, files[0].study_uid_key, key)
            tasks.append(
                StudyTask(
                    study_key=study_key,
                    folder=_common_folder([r.path for r in files]),
                    paths=tuple(sorted(r.path for r in group)),
                    series_key=key,
                    fingerprint=_fingerprint(group),
                )
            )
        if not series and rt:
            orphan_key = salted_key(salt, "orphan", *sorted(r.sop_key for r in rt))
            tasks.append(
                StudyTask(
                    study_key=orphan_key,
                    folder=_common_folder([r.path for r in rt]),
                    paths=tuple(sorted(r.path for r in rt)),
                    series_key="",
                    fingerprint=_fingerprint(rt),
                )
            )
    return sorted(tasks, key=lambda t: (t.folder, t.study_key))
