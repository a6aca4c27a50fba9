"""Indexing a folder tree into a library: scan, group, extract (serially or on Dask), write.

The process that calls :func:`index` owns the database: it walks the tree, reads the
headers of new or changed files, groups files into studies, and hands each study that is
new or changed to a worker (this process, or a Dask worker); workers return rows and this
process alone writes them, every study replaced whole in a transaction (its old rows
deleted, its new rows inserted, keyed by study), so a study is never written twice and a
study processed again after a lost worker replaces itself. Results are committed in small
batches: a run killed at any moment keeps everything committed, and the next run skips it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan._deps import import_optional
from rtplan.library._errors import LibraryError
from rtplan.library._extract import (
    DEFAULT_GOALS,
    ExtractOptions,
    StudyResult,
    process_study,
    warnings_json,
)
from rtplan.library._features import resolve_features
from rtplan.library._scan import (
    FileRow,
    StudyTask,
    group_studies,
    read_file_rows,
    walk,
)
from rtplan.library._schema import STUDY_TABLES, connect, meta_value, transaction

if TYPE_CHECKING:
    import duckdb

__all__ = ["IndexSummary", "Progress", "index"]

logger = logging.getLogger(__name__)

_HEADER_CHUNK = 256  # files per header-reading task
_COMMIT_EVERY = 25  # studies per transaction ...
_COMMIT_SECONDS = 2.0  # ... or fewer, when this long has passed since the last commit
_FILE_COLUMNS = (
    "path", "size_bytes", "mtime_ns", "status", "modality", "sop_key", "series_key",
    "study_uid_key", "frame_key", "is_localizer", "reason",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress:
    """Where an index run stands, as given to the ``progress`` callback.

    Attributes
    ----------
    phase : {"scan", "index"}
        Reading file headers, or indexing studies.
    done, total : int
        Files (scan) or studies (index) done and to do in this run.
    failed : int
        Studies of this run that could not be read.
    elapsed_s : float
        Seconds since the phase began.
    folder : str
        The study just finished (index phase).
    """

    phase: str
    done: int
    total: int
    failed: int = 0
    elapsed_s: float = 0.0
    folder: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexSummary:
    """What an index run did.

    Attributes
    ----------
    db, root : str
        The database and the folder indexed.
    studies : int
        Readable studies in the library after the run (all roots).
    added : int
        Studies indexed in this run (new or changed) and readable.
    skipped : int
        Studies unchanged since they were indexed (path, size, modification time and SOP
        Instance UID of every file).
    failed : int
        Studies of this run that could not be read (their reasons are in ``studies``).
    failed_total : int
        Studies of the library recorded as unreadable.
    removed : int
        Studies whose files are gone from the folder, removed from the library.
    files : int
        Files under the folder; ``unreadable_files`` of them are broken DICOM.
    unreadable_files : int
    seconds : float
    workers : int
        Processes that extracted features (1: serial).
    scheduler : str or None
        The Dask scheduler used, if any.
    """

    db: str
    root: str
    studies: int
    added: int
    skipped: int
    failed: int
    failed_total: int
    removed: int
    files: int
    unreadable_files: int
    seconds: float
    workers: int
    scheduler: str | None

    def to_dict(self) -> dict[str, Any]:
        """The summary as a JSON-serialisable dict (what ``--json`` prints)."""
        return asdict(self)


# ---------------------------------------------------------------------------- executors
class _Serial:
    """Runs tasks in this process."""

    workers = 1
    address: str | None = None

    def map(
        self, function: Callable[..., Any], items: Sequence[Any], *args: Any
    ) -> Iterator[tuple[Any, Any]]:
        for item in items:
            yield item, function(item, *args)


class _Dask:
    """Runs tasks on a Dask cluster, a bounded window of them in flight."""

    def __init__(self, client: Any) -> None:
        self.client = client
        info = client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})))
        self.address = str(info.get("address", "")) or None
        self.nonce = uuid.uuid4().hex[:8]

    def map(
        self, function: Callable[..., Any], items: Sequence[Any], *args: Any
    ) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        # the arguments travel with each task (scattered data would be lost with a worker)
        shared = list(args)
        window = 4 * self.workers + 2
        pending = iter(enumerate(items))
        owner: dict[str, Any] = {}
        name = getattr(function, "__name__", "task")

        def submit(n: int, item: Any) -> Any:
            future = self.client.submit(
                function, item, *shared, key=f"rtplan-{name}-{self.nonce}-{n}", pure=False
            )
            owner[future.key] = item
            return future

        first = [submit(n, it) for n, it in _take(pending, window)]
        queue = as_completed(first, with_results=True, raise_errors=False)  # type: ignore[no-untyped-call]
        for future, value in queue:
            item = owner.pop(future.key)
            future.release()
            yield item, value
            for n, it in _take(pending, 1):
                queue.add(submit(n, it))  # type: ignore[no-untyped-call]


def _take(it: Iterator[tuple[int, Any]], n: int) -> list[tuple[int, Any]]:
    out = []
    for _ in range(n):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out


@contextlib.contextmanager
def _executor(
    workers: int | None, scheduler: str | Any, memory_limit: str | None
) -> Iterator[_Serial | _Dask]:
    if scheduler is not None and not isinstance(scheduler, str):  # a distributed.Client
        yield _Dask(scheduler)
        return
    if scheduler is None and (workers is None or workers <= 1):
        yield _Serial()
        return
    distributed = import_optional(
        "distributed", extra="library", purpose="indexing on a Dask cluster"
    )
    if scheduler is not None:
        try:
            own = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise LibraryError(
                f"cannot reach the Dask scheduler at {scheduler}: {exc}; start it (dask "
                "scheduler) or leave out --scheduler to index on this machine"
            ) from None
        with own:
            yield _Dask(own)
        return
    dask = import_optional("dask", extra="library", purpose="indexing on a Dask cluster")
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    # Workers hold no data worth spilling: a worker over the limit is restarted by its
    # nanny (its study runs again) rather than paused, which would stall the run for good.
    memory = {"distributed.worker.memory.pause": False, "distributed.worker.memory.spill": False}
    try:
        with dask.config.set(memory):
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                memory_limit=memory_limit, dashboard_address=":0", env=env,
            )  # fmt: skip
        with cluster:
            with distributed.Client(cluster) as own:
                yield _Dask(own)
            # workers slow to stop are killed by their nanny on close: not worth a warning
            quiet.setLevel(logging.ERROR)
    finally:
        quiet.setLevel(level)


# ---------------------------------------------------------------------------- database
def _arrow_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    import pyarrow as pa

    types = {
        "VARCHAR": pa.string(), "DOUBLE": pa.float64(), "INTEGER": pa.int32(),
        "BIGINT": pa.int64(), "BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"),
    }  # fmt: skip
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return {str(name): types[str(kind)] for name, kind in rows}


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list[Any]], types: dict[str, Any]
) -> None:
    """Insert columns (by name) into a table through Arrow; existing keys are replaced."""
    import pyarrow as pa

    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0:
        return
    batch = pa.table({c: pa.array(v, type=types[c]) for c, v in columns.items()})
    view = f"_rtplan_batch_{table}"
    con.register(view, batch)
    try:
        con.execute(f"INSERT OR REPLACE INTO {table} BY NAME SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _delete_studies(
    con: duckdb.DuckDBPyConnection, keys: Sequence[str], tables: Iterable[str]
) -> None:
    import pyarrow as pa

    con.register("_rtplan_keys", pa.table({"study_key": pa.array(list(keys), pa.string())}))
    try:
        for table in tables:
            con.execute(
                f"DELETE FROM {table} WHERE study_key IN (SELECT study_key FROM _rtplan_keys)"
            )
    finally:
        con.unregister("_rtplan_keys")


_CHILD_COLUMNS: dict[str, tuple[str, ...]] = {
    "structures": ("name", "roi_type", "role", "volume_cc", "centroid_x_mm", "centroid_y_mm",
                   "centroid_z_mm", "mean_hu", "nearest_bone", "nearest_bone_distance_mm"),
    "features": ("feature", "value", "unit"),
    "identifiers": ("patient_id", "patient_name", "study_instance_uid", "series_instance_uid"),
    "ovh": ("organ", "target", "percent", "distance_mm"),
    "dvh": ("structure", "percent", "dose_gy"),
    "dose_metrics": ("structure", "metric", "value", "unit"),
    "goals": ("goal", "structure", "measured", "unit", "passed"),
}  # fmt: skip


class _Writer:
    """The one writer: batches study results and replaces each study whole."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.batch_size = max(1, _COMMIT_EVERY)
        self.pending: list[StudyResult] = []
        self.last = time.monotonic()
        self.types = {t: _arrow_types(con, t) for t in ("studies", *STUDY_TABLES)}
        self.written = 0

    def add(self, result: StudyResult) -> None:
        self.pending.append(result)
        if len(self.pending) >= self.batch_size or time.monotonic() - self.last > _COMMIT_SECONDS:
            self.flush()

    def _study_columns(self, now: datetime) -> dict[str, list[Any]]:
        columns: dict[str, list[Any]] = {c: [] for c in self.types["studies"]}
        for r in self.pending:
            row = {
                **r.study, "study_key": r.study_key, "folder": r.folder,
                "fingerprint": r.fingerprint, "status": r.status, "error": r.error or None,
                "n_files": r.n_files, "warnings": warnings_json(r.warnings),
                "seconds": r.seconds, "indexed_at": now,
            }  # fmt: skip
            for c in columns:
                columns[c].append(row.get(c))
        return columns

    def _write(self) -> None:
        keys = [r.study_key for r in self.pending]
        _delete_studies(self.con, keys, (*STUDY_TABLES, "studies"))
        now = datetime.now(UTC).replace(tzinfo=None)
        _insert(self.con, "studies", self._study_columns(now), self.types["studies"])
        for table, names in _CHILD_COLUMNS.items():
            columns: dict[str, list[Any]] = {c: [] for c in ("study_key", *names)}
            for r in self.pending:
                for row in r.rows.get(table, []):
                    columns["study_key"].append(r.study_key)
                    for c, v in zip(names, row, strict=True):
                        columns[c].append(v)
            _insert(self.con, table, columns, self.types[table])

    def flush(self) -> None:
        if self.pending:
            transaction(self.con, self._write)
            self.written += len(self.pending)
            self.pending.clear()
        self.last = time.monotonic()


# ---------------------------------------------------------------------------- scanning
def _known_files(con: duckdb.DuckDBPyConnection, root: Path) -> dict[str, FileRow]:
    prefix = str(root).rstrip(os.sep) + os.sep
    rows = con.execute(
        f"SELECT {', '.join(_FILE_COLUMNS)} FROM files WHERE starts_with(path, ?)", [prefix]
    ).fetchall()
    return {
        r[0]: FileRow(
            r[0],
            int(r[1]),
            int(r[2]),
            str(r[3]),
            r[4] or "",
            r[5] or "",
            r[6] or "",
            r[7] or "",
            r[8] or "",
            bool(r[9]),
            r[10] or "",
        )
        for r in rows
    }


def _store_files(
    con: duckdb.DuckDBPyConnection, rows: Sequence[FileRow], types: dict[str, Any]
) -> None:
    columns: dict[str, list[Any]] = {c: [getattr(r, c) for r in rows] for c in _FILE_COLUMNS}
    transaction(con, lambda: _insert(con, "files", columns, types))


def _scan(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    salt: str,
    executor: _Serial | _Dask,
    exclude: Sequence[Path],
    progress: Callable[[Progress], None] | None,
) -> list[FileRow]:
    """Walk the tree; read the headers of new or changed files; store them; forget the gone."""
    start = time.monotonic()
    known = _known_files(con, root)
    stats = list(walk(root, exclude=exclude))
    seen = {s.path for s in stats}
    gone = [p for p in known if p not in seen]
    if gone:
        import pyarrow as pa

        con.register("_rtplan_gone", pa.table({"path": pa.array(gone, pa.string())}))
        con.execute("DELETE FROM files WHERE path IN (SELECT path FROM _rtplan_gone)")
        con.unregister("_rtplan_gone")
    fresh = [s for s in stats if s.path not in known or not known[s.path].same_file(s)]
    rows = {s.path: known[s.path] for s in stats if s.path in known}
    chunks = [fresh[i : i + _HEADER_CHUNK] for i in range(0, len(fresh), _HEADER_CHUNK)]
    types = _arrow_types(con, "files")
    keep = isinstance(executor, _Serial)  # the headers are used again in this process
    done = 0
    for chunk, result in executor.map(read_file_rows, chunks, salt, keep):
        if isinstance(result, BaseException):  # a lost worker: read them here
            result = read_file_rows(chunk, salt, keep)
        _store_files(con, result, types)
        rows.update((r.path, r) for r in result)
        done += len(chunk)
        if progress is not None:
            progress(Progress(phase="scan", done=done, total=len(fresh),
                              elapsed_s=time.monotonic() - start))  # fmt: skip
    logger.info("%s: %d files, %d new or changed, %d gone", root, len(stats), len(fresh), len(gone))
    return [rows[s.path] for s in stats]


def _todo(
    con: duckdb.DuckDBPyConnection, tasks: Sequence[StudyTask], retry_failed: bool
) -> tuple[list[StudyTask], int]:
    stored = {
        str(k): (str(f), str(s))
        for k, f, s in con.execute("SELECT study_key, fingerprint, status FROM studies").fetchall()
    }
    todo = []
    for t in tasks:
        old = stored.get(t.study_key)
        if old is not None and old[0] == t.fingerprint and (old[1] == "ok" or not retry_failed):
            continue
        todo.append(t)
    return todo, len(tasks) - len(todo)


def _remove_missing(con: duckdb.DuckDBPyConnection, root: Path, present: set[str]) -> int:
    prefix = str(root).rstrip(os.sep) + os.sep
    rows = con.execute(
        "SELECT study_key FROM studies WHERE folder = ? OR starts_with(folder, ?)",
        [str(root), prefix],
    ).fetchall()
    gone = [str(r[0]) for r in rows if str(r[0]) not in present]
    if gone:
        transaction(con, lambda: _delete_studies(con, gone, (*STUDY_TABLES, "studies")))
    return len(gone)


def _lost(task: StudyTask, error: BaseException) -> StudyResult:
    """The result of a study whose worker died every time it was tried."""
    return StudyResult(
        study_key=task.study_key,
        fingerprint=task.fingerprint,
        folder=task.folder,
        n_files=len(task.paths),
        status="failed",
        error=(
            f"the worker indexing it was lost every time it was tried ({type(error).__name__}: "
            f"{error}); out of memory? raise --memory-limit, or index it alone"
        ),
    )


def _check_arguments(root: Path, workers: int | None, scheduler: object) -> None:
    if not root.is_dir():
        raise LibraryError(f"{root} is not a folder; index a folder of DICOM files")
    if workers is not None and workers < 1:
        raise LibraryError(f"workers must be 1 or more, got {workers}")
    if workers is not None and workers > 1 and scheduler is not None:
        raise LibraryError("give either workers (a local cluster) or a scheduler address, not both")


def _run(
    con: duckdb.DuckDBPyConnection,
    executor: _Serial | _Dask,
    todo: Sequence[StudyTask],
    options: ExtractOptions,
    progress: Callable[[Progress], None] | None,
) -> tuple[int, int]:
    writer = _Writer(con)
    added = failed = 0
    start = time.monotonic()
    try:
        for task, result in executor.map(process_study, todo, options):
            if isinstance(result, BaseException):
                result = _lost(task, result)
            writer.add(result)
            added += result.status == "ok"
            failed += result.status != "ok"
            if progress is not None:
                progress(Progress(phase="index", done=added + failed, total=len(todo),
                                  failed=failed, elapsed_s=time.monotonic() - start,
                                  folder=task.folder))  # fmt: skip
    finally:
        writer.flush()  # what was received is kept, even on Ctrl-C
    return added, failed


def index(
    root: str | Path,
    db: str | Path = "library.duckdb",
    *,
    workers: int | None = None,
    scheduler: str | Any = None,
    features: list[str] | None = None,
    goals: Sequence[str] = DEFAULT_GOALS,
    keep_identifiers: bool = False,
    retry_failed: bool = False,
    memory_limit: str = "2GiB",
    progress: Callable[[Progress], None] | None = None,
) -> IndexSummary:
    """Index a folder tree of DICOM files into a library database.

    Walks ``root`` (any layout, any mix of patients, non-DICOM files skipped), groups the
    files into studies (one per CT series, with its RT objects), and records for each
    study its patient's age, sex, height and weight (never names or IDs: patients and
    studies are keyed by salted hashes), the patient position, CT grid, structures,
    plans, doses, the features, and why a study or a file could not be read. Studies
    whose files are unchanged (path, size, modification time, SOP Instance UID) are
    skipped, so a run killed at any point is finished by running it again.

    Parameters
    ----------
    root : str or pathlib.Path
        Folder to index (recursively; hidden files and folders are skipped).
    db : str or pathlib.Path
        The library database (DuckDB file), created if needed.
    workers : int, optional
        Extract features on a local Dask cluster of this many worker processes (needs
        ``rtplan[library]``); 1 or ``None``: in this process.
    scheduler : str or distributed.Client, optional
        Address of a running Dask scheduler (``tcp://host:8786``) to run on instead, or a
        client of a cluster you started (it is left running).
    features : list of str, optional
        Features to compute (:func:`available_features`); all by default.
    goals : sequence of str
        Clinical goals evaluated on studies with a dose and a prescription.
    keep_identifiers : bool
        Also store patient IDs, names and UIDs (table ``identifiers``). Off by default.
    retry_failed : bool
        Try again the unchanged studies that failed before.
    memory_limit : str
        Memory of each local Dask worker (``"2GiB"``); a worker over it is restarted and
        its study tried again.
    progress : callable, optional
        Called with a :class:`Progress` after each chunk of headers and each study.

    Returns
    -------
    IndexSummary

    Raises
    ------
    LibraryError
        If ``root`` is not a folder, the arguments conflict, or the scheduler cannot be
        reached.
    LibraryLockedError
        If another process is writing the same database.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan import library
    >>> tmp = Path(tempfile.mkdtemp())
    >>> studies = library.synthetic_library(tmp / "dicom", 1, junk=False, plan_every=0)
    >>> summary = library.index(tmp / "dicom", tmp / "lib.duckdb")
    >>> summary.studies, summary.added, summary.failed
    (1, 1, 0)
    >>> library.index(tmp / "dicom", tmp / "lib.duckdb").skipped
    1
    >>> import shutil; shutil.rmtree(tmp)
    """
    start = time.monotonic()
    base = Path(root).resolve()
    _check_arguments(base, workers, scheduler)
    db_path = Path(db).resolve()
    functions = resolve_features(features)
    con = connect(db_path)
    try:
        salt = meta_value(con, "salt") or ""
        options = ExtractOptions(
            salt=salt, features=functions, keep_identifiers=keep_identifiers, goals=tuple(goals)
        )
        exclude = [db_path, db_path.with_name(db_path.name + ".wal")]
        with _executor(workers, scheduler, memory_limit) as executor:
            rows = _scan(con, base, salt, executor, exclude, progress)
            tasks = group_studies(rows, salt)
            removed = _remove_missing(con, base, {t.study_key for t in tasks})
            todo, skipped = _todo(con, tasks, retry_failed)
            logger.info("%s: %d studies, %d to index", base, len(tasks), len(todo))
            added, failed = _run(con, executor, todo, options, progress)
            n_workers, address = executor.workers, executor.address
        counts = con.execute(
            "SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status <> 'ok') "
            "FROM studies"
        ).fetchall()[0]
    finally:
        con.close()
    return IndexSummary(
        db=str(db_path),
        root=str(base),
        studies=int(counts[0]),
        added=added,
        skipped=skipped,
        failed=failed,
        failed_total=int(counts[1]),
        removed=removed,
        files=len(rows),
        unreadable_files=sum(r.status == "unreadable" for r in rows),
        seconds=round(time.monotonic() - start, 3),
        workers=n_workers,
        scheduler=address if isinstance(executor, _Dask) else None,
    )
