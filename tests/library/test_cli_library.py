"""``rtplan library index|similar|stats|export``: what scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtplan import library
from rtplan.cli.library import ProgressBar
from rtplan.cli.main import main
from rtplan.library import Progress, SyntheticStudy


def test_index_json_and_progress_lines(
    small_copy: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = small_copy
    assert main(["library", "index", str(root), "--db", str(db), "--features", "target",
                 "--json"]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["studies"], summary["added"], summary["skipped"], summary["failed"]) == (
        4, 4, 0, 0,
    )  # fmt: skip
    assert "index: 4/4 studies" in err  # plain lines, stderr is not a terminal
    assert main(["library", "index", str(root), "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr()[0])["skipped"] == 4


def test_similar_stats_and_export(
    synthetic: tuple[Path, list[SyntheticStudy]],
    indexed: tuple[Path, library.IndexSummary],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, studies = synthetic
    db, _ = indexed
    query = next(s for s in studies if s.folder.name.startswith("flat"))
    assert main(["library", "similar", str(query.folder), "--db", str(db), "-k", "2",
                 "--json"]) == 0  # fmt: skip
    cases = json.loads(capsys.readouterr()[0])
    assert len(cases) == 2
    assert {"path", "distance", "drivers"} <= set(cases[0])
    report = tmp_path / "report.html"
    assert main(["library", "stats", "--db", str(db), "--by", "sex,age", "-o", str(report),
                 "--json"]) == 0  # fmt: skip
    stats = json.loads(capsys.readouterr()[0])
    assert stats["by"] == ["sex", "age"]
    assert stats["rows"]
    assert report.is_file()
    assert main(["library", "export", "--db", str(db), "-o", str(tmp_path / "pq")]) == 0
    assert (tmp_path / "pq" / "features_wide.parquet").is_file()


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["library", "stats", "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr()[1].strip()
    assert err == (
        f"rtplan library: error: no library at {tmp_path / 'none.duckdb'}; build one with: "
        f"rtplan library index FOLDER --db {tmp_path / 'none.duckdb'}"
    )


def test_progress_bar_on_a_terminal_redraws_one_line() -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = ProgressBar(out)
    for done in (1, 2):
        bar(Progress(phase="index", done=done, total=2, elapsed_s=float(done)))
    text = out.getvalue()
    assert text.count("\r[") == 2
    assert text.endswith("\n")
    assert "[" + "#" * 28 + "]" in text
