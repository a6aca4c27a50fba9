"""The schema: versions, the migration from version 1, refusals."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from rtplan.library import SCHEMA_VERSION, LibraryError, SchemaVersionError, open_library
from rtplan.library._schema import connect, migrate, schema_version


def test_migration_from_version_1_keeps_rows_and_fills_units(tmp_path: Path) -> None:
    db = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, db, target=1)
    con.execute("INSERT INTO studies (study_key, folder, status) VALUES ('k1', '/x', 'ok')")
    con.execute(
        "INSERT INTO features VALUES ('k1', 'tissue.bone_cc', 12.5), "
        "('k1', 'tissue.bone_mean_hu', 700.0), ('k1', 'target.count', 1.0)"
    )
    assert schema_version(con) == 1
    con.close()

    con = connect(db)
    try:
        assert schema_version(con) == SCHEMA_VERSION == 2
        versions = con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
        assert versions == [(1,), (2,)]
        units = dict(con.execute("SELECT feature, unit FROM features").fetchall())
        assert units == {"tissue.bone_cc": "cm3", "tissue.bone_mean_hu": "HU", "target.count": "1"}
        assert con.execute("SELECT count(*) FROM ovh").fetchall() == [(0,)]
        assert con.execute("SELECT folder FROM studies").fetchall() == [("/x",)]
    finally:
        con.close()


def test_read_only_open_migrates_an_old_library(tmp_path: Path) -> None:
    db = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, db, target=1)
    con.close()
    with open_library(db) as lib:
        assert lib.query("SELECT max(version) AS v FROM schema_version") == [{"v": 2}]


def test_newer_and_foreign_databases_are_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.duckdb"
    con = connect(newer)
    con.execute("INSERT INTO schema_version VALUES (99, 'future', NULL)")
    con.close()
    with pytest.raises(SchemaVersionError, match=rf"{newer} holds library schema version 99"):
        connect(newer)
    foreign = tmp_path / "other.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with pytest.raises(LibraryError, match="not an rtplan library"):
        connect(foreign)
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database")
    with pytest.raises(LibraryError, match=str(junk)):
        connect(junk)
