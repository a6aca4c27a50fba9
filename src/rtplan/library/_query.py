"""Reading a library: SQL, the wide feature table, Parquet export."""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rtplan.library._errors import LibraryError
from rtplan.library._schema import TABLES, connect

if TYPE_CHECKING:
    import pyarrow

__all__ = ["Library", "open_library"]

logger = logging.getLogger(__name__)

_STUDY_COLUMNS = (
    "study_key", "folder", "patient_key", "patient_age_years", "patient_sex",
    "patient_size_m", "patient_weight_kg", "patient_position", "target", "target_site",
    "prescription_gy", "fractions", "n_structures", "n_plans", "n_doses",
)  # fmt: skip


class Library:
    """An open library database (read-only by default), for SQL and exports.

    Parameters
    ----------
    db : str or pathlib.Path
        The DuckDB file written by :func:`rtplan.library.index`.
    read_only : bool
        Open for reading only (the default; several readers may share the file while no
        index run writes it).

    Raises
    ------
    LibraryError, LibraryLockedError, SchemaVersionError
        As :func:`rtplan.library.open_library`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan import library
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = library.synthetic_library(tmp / "dicom", 1, junk=False, plan_every=0)
    >>> _ = library.index(tmp / "dicom", tmp / "lib.duckdb")
    >>> with library.open_library(tmp / "lib.duckdb") as lib:
    ...     rows = lib.query("SELECT count(*) AS n FROM studies WHERE status = 'ok'")
    ...     wide = lib.features()
    >>> rows[0]["n"], wide.num_rows, "tissue.bone_cc" in wide.column_names
    (1, 1, True)
    >>> import shutil; shutil.rmtree(tmp)
    """

    def __init__(self, db: str | Path, *, read_only: bool = True) -> None:
        self.path = Path(db)
        self.con = connect(self.path, read_only=read_only, create=False)

    def close(self) -> None:
        """Close the database."""
        self.con.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Run SQL on the library; rows as dicts.

        Parameters
        ----------
        sql : str
            DuckDB SQL (tables: see the library's schema documentation).
        params : list, optional
            Values of the ``?`` placeholders.

        Returns
        -------
        list of dict

        Raises
        ------
        LibraryError
            If the SQL fails (the message names the database).
        """
        import duckdb

        try:
            cursor = self.con.execute(sql, params or [])
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as exc:
            raise LibraryError(f"{self.path}: {exc}") from None

    def table(self, sql: str, params: list[Any] | None = None) -> pyarrow.Table:
        """Run SQL on the library; the result as a :class:`pyarrow.Table`."""
        import duckdb

        try:
            return self.con.sql(sql, params=params or None).to_arrow_table()
        except duckdb.Error as exc:
            raise LibraryError(f"{self.path}: {exc}") from None

    def features(self) -> pyarrow.Table:
        """One row per readable study: patient, site and one column per feature.

        Returns
        -------
        pyarrow.Table
            The ``studies`` columns that describe the patient and the plan, then every
            feature as a column named as stored (its unit is the suffix of its name and
            is listed in the ``features`` table).
        """
        names = [
            r["feature"] for r in self.query("SELECT DISTINCT feature FROM features ORDER BY 1")
        ]
        cols = ", ".join(f"s.{c}" for c in _STUDY_COLUMNS)
        if not names:
            return self.table(
                f"SELECT {cols} FROM studies s WHERE s.status = 'ok' ORDER BY s.folder"
            )
        picks = ", ".join(
            f"max(f.value) FILTER (WHERE f.feature = '{n.replace(chr(39), chr(39) * 2)}') "
            f'AS "{n}"'
            for n in names
        )
        return self.table(
            f"SELECT {cols}, {picks} FROM studies s LEFT JOIN features f USING (study_key) "
            f"WHERE s.status = 'ok' GROUP BY ALL ORDER BY s.folder, s.study_key"
        )

    def export_parquet(self, folder: str | Path) -> list[Path]:
        """Write every table, and the wide feature table, as Parquet files.

        Parameters
        ----------
        folder : str or pathlib.Path
            Created if needed; one ``<table>.parquet`` per table and
            ``features_wide.parquet``.

        Returns
        -------
        list of pathlib.Path
        """
        import pyarrow.parquet as pq

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in TABLES:
            if name == "meta":  # the salt stays in the database
                continue
            path = out / f"{name}.parquet"
            pq.write_table(self.table(f"SELECT * FROM {name}"), path)
            written.append(path)
        path = out / "features_wide.parquet"
        pq.write_table(self.features(), path)
        written.append(path)
        logger.info("%s: %d Parquet files written to %s", self.path, len(written), out)
        return written


def open_library(db: str | Path, *, read_only: bool = True) -> Library:
    """Open a library database for SQL and exports.

    Parameters
    ----------
    db : str or pathlib.Path
    read_only : bool

    Returns
    -------
    Library

    Raises
    ------
    LibraryError
        If there is no library at ``db``.
    LibraryLockedError
        If an index run holds the file.
    SchemaVersionError
        If a newer rtplan wrote it.
    """
    return Library(db, read_only=read_only)
