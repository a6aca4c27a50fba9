"""The library database: its schema, versioned, and the migrations between versions.

One DuckDB file holds the library. The table ``schema_version`` lists every version
applied (number, description, time); :func:`connect` brings an older file up to
:data:`SCHEMA_VERSION` in order, each migration in its own transaction, and refuses a file
written by a newer rtplan. DuckDB lets one process write a file at a time: a second
writer gets :class:`~rtplan.library.LibraryLockedError` naming the process that holds it.

Version 1 held the index (``meta``, ``files``, ``studies``, ``structures``) and the
features without units; version 2 gave every feature its unit (filled in from the unit
suffix of the name for existing rows) and added ``identifiers`` (written only when asked),
``ovh``, ``dvh``, ``dose_metrics`` and ``goals`` (knowledge-based planning).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan._deps import import_optional
from rtplan.library._errors import LibraryError, LibraryLockedError, SchemaVersionError

if TYPE_CHECKING:
    import duckdb

__all__ = ["SCHEMA_VERSION", "TABLES", "connect", "schema_version", "unit_from_name"]

logger = logging.getLogger(__name__)

_V1 = (
    """CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, applied_at TIMESTAMP)""",
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE files (
        path VARCHAR PRIMARY KEY, size_bytes BIGINT, mtime_ns BIGINT, status VARCHAR,
        modality VARCHAR, sop_key VARCHAR, series_key VARCHAR, study_uid_key VARCHAR,
        frame_key VARCHAR, is_localizer BOOLEAN, reason VARCHAR)""",
    """CREATE TABLE studies (
        study_key VARCHAR PRIMARY KEY, folder VARCHAR, fingerprint VARCHAR, status VARCHAR,
        error VARCHAR, n_files INTEGER, patient_key VARCHAR, study_uid_key VARCHAR,
        patient_age_years DOUBLE, patient_sex VARCHAR, patient_size_m DOUBLE,
        patient_weight_kg DOUBLE, patient_position VARCHAR, ct_columns INTEGER,
        ct_rows INTEGER, ct_slices INTEGER, ct_spacing_column_mm DOUBLE,
        ct_spacing_row_mm DOUBLE, ct_spacing_slice_mm DOUBLE, n_structures INTEGER,
        n_plans INTEGER, n_doses INTEGER, target VARCHAR, target_site VARCHAR,
        prescription_gy DOUBLE, fractions INTEGER, warnings VARCHAR, seconds DOUBLE,
        indexed_at TIMESTAMP)""",
    """CREATE TABLE structures (
        study_key VARCHAR, name VARCHAR, roi_type VARCHAR, role VARCHAR, volume_cc DOUBLE,
        centroid_x_mm DOUBLE, centroid_y_mm DOUBLE, centroid_z_mm DOUBLE, mean_hu DOUBLE,
        nearest_bone VARCHAR, nearest_bone_distance_mm DOUBLE,
        PRIMARY KEY (study_key, name))""",
    """CREATE TABLE features (
        study_key VARCHAR, feature VARCHAR, value DOUBLE, PRIMARY KEY (study_key, feature))""",
)

#: Unit of a feature from the suffix of its name (version 2 fills in existing rows so).
_UNIT_SUFFIXES = (
    ("_cc", "cm3"),
    ("_mm", "mm"),
    ("_hu", "HU"),
    ("_g_cm3", "g/cm3"),
    ("_percent", "%"),
    ("_gy", "Gy"),
    ("_years", "a"),
    ("_count", "1"),
)

_V2 = (
    "ALTER TABLE features ADD COLUMN unit VARCHAR",
    "UPDATE features SET unit = CASE "
    + " ".join(f"WHEN feature LIKE '%{s}' THEN '{u}'" for s, u in _UNIT_SUFFIXES)
    + " ELSE '1' END",
    """CREATE TABLE identifiers (
        study_key VARCHAR PRIMARY KEY, patient_id VARCHAR, patient_name VARCHAR,
        study_instance_uid VARCHAR, series_instance_uid VARCHAR)""",
    """CREATE TABLE ovh (
        study_key VARCHAR, organ VARCHAR, target VARCHAR, percent DOUBLE, distance_mm DOUBLE,
        PRIMARY KEY (study_key, organ, target, percent))""",
    """CREATE TABLE dvh (
        study_key VARCHAR, structure VARCHAR, percent DOUBLE, dose_gy DOUBLE,
        PRIMARY KEY (study_key, structure, percent))""",
    """CREATE TABLE dose_metrics (
        study_key VARCHAR, structure VARCHAR, metric VARCHAR, value DOUBLE, unit VARCHAR,
        PRIMARY KEY (study_key, structure, metric))""",
    """CREATE TABLE goals (
        study_key VARCHAR, goal VARCHAR, structure VARCHAR, measured DOUBLE, unit VARCHAR,
        passed BOOLEAN, PRIMARY KEY (study_key, goal))""",
)

#: Version -> (description, statements).
MIGRATIONS: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("index of files and studies; structures; features", _V1),
    2: ("feature units; identifiers on request; OVH, DVH, dose metrics and goals", _V2),
}

#: The schema this rtplan writes.
SCHEMA_VERSION = max(MIGRATIONS)

#: The tables of the current schema, each keyed by ``study_key`` except meta and files.
TABLES = (
    "schema_version",
    "meta",
    "files",
    "studies",
    "structures",
    "features",
    "identifiers",
    "ovh",
    "dvh",
    "dose_metrics",
    "goals",
)

#: The tables whose rows belong to one study (replaced together when it is indexed again).
STUDY_TABLES = (
    "structures",
    "features",
    "identifiers",
    "ovh",
    "dvh",
    "dose_metrics",
    "goals",
)


def unit_from_name(name: str) -> str:
    """The unit a feature name states by its suffix (``"1"`` when none).

    Parameters
    ----------
    name : str
        Feature name, e.g. ``"tissue.bone_cc"``.

    Returns
    -------
    str

    Examples
    --------
    >>> unit_from_name("tissue.bone_cc"), unit_from_name("tissue.muscle_mean_hu")
    ('cm3', 'HU')
    """
    for suffix, unit in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return "1"


def _duckdb() -> Any:
    return import_optional("duckdb", extra="library", purpose="the image library")


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of an open library (0 for an empty database).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection

    Returns
    -------
    int
    """
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    if "schema_version" not in tables:
        return 0 if not tables else -1
    rows = con.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def migrate(con: duckdb.DuckDBPyConnection, path: Path, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations from the database's version up to ``target``, in order.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A writable connection.
    path : pathlib.Path
        The file, for messages.
    target : int
        Version to reach.

    Returns
    -------
    int
        The version before.

    Raises
    ------
    SchemaVersionError
        If the database is newer than ``target``.
    LibraryError
        If the file is a DuckDB database that is not an rtplan library.
    """
    before = schema_version(con)
    if before < 0:
        raise LibraryError(
            f"{path} is a DuckDB database but not an rtplan library (no schema_version "
            "table); give a new file name to --db"
        )
    if before > target:
        raise SchemaVersionError(
            f"{path} holds library schema version {before}, newer than this rtplan's "
            f"{target}; upgrade rtplan to read it"
        )
    for version in range(before + 1, target + 1):
        description, statements = MIGRATIONS[version]
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                [version, description, datetime.now(UTC).replace(tzinfo=None)],
            )
            if version == 1:
                con.execute("INSERT INTO meta VALUES ('salt', ?)", [secrets.token_hex(16)])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        logger.info("%s: library schema migrated to version %d (%s)", path, version, description)
    return before


_LOCK_PID = re.compile(r"PID (\d+)")


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    duckdb = _duckdb()
    try:
        return duckdb.connect(str(path), read_only=read_only)  # type: ignore[no-any-return]
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = _LOCK_PID.search(text)
            who = f"process {pid.group(1)}" if pid else "another process"
            raise LibraryLockedError(
                f"{path}: the library is open for writing by {who} (an `rtplan library "
                "index` run?); wait for it to finish, or index into another --db"
            ) from None
        raise LibraryError(f"{path}: cannot open the library database: {text}") from None
    except duckdb.Error as exc:
        raise LibraryError(
            f"{path} is not a library database DuckDB can open ({exc}); give another --db"
        ) from None


def connect(
    db: str | Path, *, read_only: bool = False, create: bool = True
) -> duckdb.DuckDBPyConnection:
    """Open a library database, creating or migrating its schema as needed.

    Parameters
    ----------
    db : str or pathlib.Path
        The DuckDB file.
    read_only : bool
        Open for reading only (several readers may share a file no writer holds). An
        older schema is migrated first through a short writable connection.
    create : bool
        Create the file when it does not exist (ignored when ``read_only``).

    Returns
    -------
    duckdb.DuckDBPyConnection

    Raises
    ------
    LibraryError
        If the file does not exist (and is not to be created) or is not a library.
    LibraryLockedError
        If another process holds the file for writing.
    SchemaVersionError
        If the file was written by a newer rtplan.
    """
    path = Path(db)
    if not path.exists() and (read_only or not create):
        raise LibraryError(
            f"no library at {path}; build one with: rtplan library index FOLDER --db {path}"
        )
    if path.is_dir():
        raise LibraryError(f"{path} is a folder; --db takes a file (e.g. library.duckdb)")
    if read_only:
        con = _open(path, read_only=True)
        version = schema_version(con)
        if version == SCHEMA_VERSION:
            return con
        con.close()
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{path} holds library schema version {version}, newer than this rtplan's "
                f"{SCHEMA_VERSION}; upgrade rtplan to read it"
            )
        writable = _open(path, read_only=False)
        try:
            migrate(writable, path)
        finally:
            writable.close()
        return _open(path, read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only=False)
    try:
        migrate(con, path)
    except BaseException:
        con.close()
        raise
    return con


def meta_value(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """A value of the ``meta`` table, or ``None``."""
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
    return str(rows[0][0]) if rows else None


def transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], None]) -> None:
    """Run ``work`` in one transaction: all of it is committed, or none."""
    con.execute("BEGIN TRANSACTION")
    try:
        work()
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
