"""Indexing: what is recorded, de-identification, incremental runs, resume, the lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pydicom
import pytest

from rtplan import library
from rtplan.library import LibraryError, LibraryLockedError, Progress, SyntheticStudy


def _rows(db: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_summary_counts_studies_failures_and_junk(
    synthetic: tuple[Path, list[SyntheticStudy]], indexed: tuple[Path, library.IndexSummary]
) -> None:
    _, studies = synthetic
    db, summary = indexed
    readable = [s for s in studies if not s.broken]
    assert summary.studies == len(readable)
    assert summary.added == len(readable)
    # the truncated CT and the structure set without CT
    assert summary.failed == 2
    assert summary.unreadable_files == 2  # empty.dcm and notes.dcm; README.txt is not DICOM
    errors = dict(_rows(db, "SELECT folder, error FROM studies WHERE status = 'failed'"))
    broken = next(s for s in studies if s.broken)
    assert "truncated" in errors[str(broken.folder)]
    orphan = next(e for f, e in errors.items() if f.endswith("junk"))
    assert "without their CT series" in orphan
    reasons = dict(_rows(db, "SELECT path, reason FROM files WHERE status = 'unreadable'"))
    assert any("empty file" in r for r in reasons.values())


def test_patient_and_grid_match_what_was_written(
    synthetic: tuple[Path, list[SyntheticStudy]], indexed: tuple[Path, library.IndexSummary]
) -> None:
    _, studies = synthetic
    db, _ = indexed
    rows = _rows(
        db,
        "SELECT folder, patient_age_years, patient_sex, patient_size_m, patient_weight_kg, "
        "patient_position, ct_spacing_slice_mm, n_plans, n_doses, target_site, prescription_gy "
        "FROM studies WHERE status = 'ok'",
    )
    by_folder: dict[str, list[tuple[object, ...]]] = {}
    for r in rows:
        by_folder.setdefault(str(r[0]), []).append(r[1:])
    for s in (s for s in studies if not s.broken):
        candidates = by_folder[str(s.folder)]  # two studies may share a folder
        match = [c for c in candidates if c[0] == s.age_years and c[1] == s.sex]
        assert len(match) == 1, (s.name, candidates)
        _age, _sex, size, weight, position, dz, n_plans, n_doses, site, rx = match[0]
        assert size == pytest.approx(s.height_m)
        assert weight == pytest.approx(s.weight_kg)
        assert (position, dz) == ("HFS", 3.0)
        assert (n_plans, n_doses) == ((1, 1) if s.planned else (0, 0))
        assert site == s.bone
        assert rx == (s.prescription_gy if s.planned else None)


def test_no_patient_identifier_is_stored(
    synthetic: tuple[Path, list[SyntheticStudy]], indexed: tuple[Path, library.IndexSummary]
) -> None:
    _, studies = synthetic
    db, _ = indexed
    ds = pydicom.dcmread(next(studies[0].folder.glob("*_CT_000.dcm")))
    secrets = {
        str(ds.PatientID), str(ds.PatientName), str(ds.StudyInstanceUID),
        str(ds.SeriesInstanceUID), str(ds.FrameOfReferenceUID), str(ds.SOPInstanceUID),
    }  # fmt: skip
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        assert con.execute("SELECT count(*) FROM identifiers").fetchall() == [(0,)]
        for table in tables:
            # paths are kept as found (folder names may hold an ID: they are the user's)
            cursor = con.execute(
                f"SELECT * EXCLUDE (path) FROM {table}"
                if table == "files"
                else f"SELECT * EXCLUDE (folder) FROM {table}"
                if table == "studies"
                else f"SELECT * FROM {table}"
            )
            text = " ".join(str(v) for row in cursor.fetchall() for v in row)  # fmt: skip
            for secret in secrets:
                assert secret not in text, (table, secret)
    finally:
        con.close()


def test_identifiers_only_when_asked(small_copy: tuple[Path, Path]) -> None:
    root, db = small_copy
    library.index(root, db, keep_identifiers=True, features=["target"])
    ids = _rows(db, "SELECT patient_id, patient_name FROM identifiers ORDER BY 1")
    assert len(ids) == 4
    assert all(str(i[0]).startswith("SYN") and "Synthetic" in str(i[1]) for i in ids)


def test_rerun_skips_unchanged_and_follows_changes(
    small: tuple[Path, list[SyntheticStudy]], small_copy: tuple[Path, Path]
) -> None:
    root, db = small_copy
    first = library.index(root, db, features=["target"])
    assert (first.studies, first.added, first.skipped) == (4, 4, 0)
    again = library.index(root, db, features=["target"])
    assert (again.studies, again.added, again.skipped, again.removed) == (4, 0, 4, 0)

    # a file touched (new mtime): only its study is indexed again
    _, studies = small
    touched = next((root / studies[1].folder.relative_to(small[0])).glob("*_RS.dcm"))
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = library.index(root, db, features=["target"])
    assert (third.added, third.skipped) == (1, 3)

    # a study's files removed: its rows go
    gone = root / studies[3].folder.relative_to(small[0])
    for f in gone.glob(f"s{3:05d}_*"):
        f.unlink()
    fourth = library.index(root, db, features=["target"])
    assert (fourth.studies, fourth.removed, fourth.skipped) == (3, 1, 3)
    keys = _rows(db, "SELECT study_key, count(*) FROM studies GROUP BY 1 HAVING count(*) > 1")
    assert keys == []
    assert _rows(db, "SELECT count(*) FROM features WHERE study_key NOT IN "
                     "(SELECT study_key FROM studies)") == [(0,)]  # fmt: skip


def test_interrupted_run_resumes_without_duplicates(small_copy: tuple[Path, Path]) -> None:
    root, db = small_copy
    seen: list[Progress] = []

    def stop_after_two(p: Progress) -> None:
        if p.phase == "index":
            seen.append(p)
            if p.done == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        library.index(root, db, features=["target"], progress=stop_after_two)
    kept = _rows(db, "SELECT count(*) FROM studies")[0][0]
    assert kept == 2  # what was received before the interruption is committed
    resumed = library.index(root, db, features=["target"])
    assert (resumed.studies, resumed.added, resumed.skipped) == (4, 2, 2)
    assert _rows(db, "SELECT count(*), count(DISTINCT study_key) FROM studies") == [(4, 4)]
    assert (
        _rows(db, "SELECT count(*), count(DISTINCT (study_key, feature)) FROM features")[0][0]
        == _rows(db, "SELECT count(DISTINCT (study_key, feature)) FROM features")[0][0]
    )


_KILLED_RUN = """
import os, signal, sys
from rtplan import library
from rtplan.library import _index

_index._COMMIT_EVERY = 1  # each study committed as it comes, so the kill point is exact

def show(p):
    if p.phase == "index" and p.done == 2:  # the process kills itself, nothing runs after
        os.kill(os.getpid(), signal.SIGKILL)

library.index(sys.argv[1], sys.argv[2], features=["target"], progress=show)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_run_is_finished_by_the_next(small_copy: tuple[Path, Path]) -> None:
    root, db = small_copy
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(root), str(db)], capture_output=True, text=True
    )
    assert child.returncode == -9, child.stderr
    # what was committed before the kill survives it (DuckDB replays its write-ahead log)
    assert _rows(db, "SELECT count(*) FROM studies") == [(2,)]
    resumed = library.index(root, db, features=["target"])
    assert (resumed.studies, resumed.added, resumed.skipped, resumed.failed) == (4, 2, 2, 0)
    assert _rows(db, "SELECT count(*), count(DISTINCT study_key) FROM studies") == [(4, 4)]
    assert _rows(db, "SELECT count(*) FROM features WHERE study_key NOT IN "
                     "(SELECT study_key FROM studies)") == [(0,)]  # fmt: skip


def test_second_writer_gets_a_clear_error(small_copy: tuple[Path, Path]) -> None:
    root, db = small_copy
    library.index(root, db, features=["target"])
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(
            LibraryLockedError,
            match=rf"{db}: the library is open for writing by process {holder.pid}",
        ):
            library.index(root, db, features=["target"])
        with pytest.raises(LibraryLockedError, match="open for writing"):
            library.open_library(db)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    assert library.index(root, db, features=["target"]).skipped == 4


def test_bad_arguments_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="is not a folder"):
        library.index(tmp_path / "absent", tmp_path / "lib.duckdb")
    with pytest.raises(LibraryError, match="workers must be 1 or more"):
        library.index(tmp_path, tmp_path / "lib.duckdb", workers=0)
    with pytest.raises(LibraryError, match="unknown feature"):
        library.index(tmp_path, tmp_path / "lib.duckdb", features=["nope"])
    with pytest.raises(LibraryError, match="no library at"):
        library.open_library(tmp_path / "absent.duckdb")
