"""The same pipeline on a Dask cluster started here; a worker lost mid-study."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from rtplan import library
from rtplan.cli.main import main
from rtplan.library import StudyContext
from rtplan.library._scan import HEADERS

distributed = pytest.importorskip("distributed")


def _table(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


FEATURES = "SELECT s.folder, f.feature, round(f.value, 9) FROM features f JOIN studies s " \
    "USING (study_key) ORDER BY 1, 2"  # fmt: skip


def test_cluster_run_equals_the_serial_run(
    small_copy: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, db = small_copy
    serial = library.index(root, db, features=["target"])
    kept: list[str] = []  # headers a worker keeps (its threads are in this process here)
    monkeypatch.setattr(HEADERS, "put", lambda stat, header: kept.append(stat.path))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        # the command line, given the scheduler's address as a script would
        address = cluster.scheduler_address
        assert main(["library", "index", str(root), "--db", str(tmp_path / "dask.duckdb"),
                     "--scheduler", address, "--features", "target", "--json"]) == 0  # fmt: skip
    on_dask = json.loads(capsys.readouterr()[0])
    assert (on_dask["workers"], on_dask["scheduler"]) == (2, address)
    assert (on_dask["studies"], on_dask["added"]) == (serial.studies, serial.added) == (4, 4)
    assert _table(db, FEATURES) == _table(tmp_path / "dask.duckdb", FEATURES)
    assert kept == []  # a worker's memory does not grow with the headers it reads


def test_a_lost_worker_loses_and_duplicates_nothing(
    small_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    root, db = small_copy
    root = next(p for p in root.iterdir() if p.name.startswith("flat"))  # one study
    marker = tmp_path / "killed-once"

    def dies_once(ctx: StudyContext) -> dict[str, tuple[float | None, str]]:
        # the worker process dies in the middle of its first study; the study runs again
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return {"pid_count": (float(os.getpid()), "1")}

    library.register_feature("dies_once", dies_once)
    try:
        with (
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     dashboard_address=":0", memory_limit="1GiB") as cluster,
            distributed.Client(cluster) as client,
        ):  # fmt: skip
            summary = library.index(root, db, scheduler=client, features=["target", "dies_once"])
    finally:
        library.unregister_feature("dies_once")
    assert marker.exists()
    assert (summary.studies, summary.added, summary.failed) == (1, 1, 0)
    assert _table(db, "SELECT count(*), count(DISTINCT study_key) FROM studies") == [(1, 1)]
    rows = _table(db, "SELECT count(*) FROM features WHERE feature = 'dies_once.pid_count'")
    assert rows == [(1,)]
    killed = int(marker.read_text())
    pids = {int(r[0]) for r in _table(db, "SELECT value FROM features WHERE feature = "
                                          "'dies_once.pid_count'")}  # fmt: skip
    assert killed not in pids
