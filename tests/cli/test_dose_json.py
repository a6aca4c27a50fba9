"""``rtplan dose`` output forms: -q, --json with -q, and progress on a terminal or a log."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rtplan.cli import _common
from rtplan.cli.main import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with _common.progress(step_percent=25.0) as progress:
        for k in range(11):  # 0, 10, ..., 100 % of one message, then a new message
            progress(k / 10, "beam 1 of 2")
        progress(1.0, "beam 2 of 2")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    # a line per 25 % of one message (0, 30, 60, 90 %), the end, and each new message
    assert lines == [
        "  0.0 % beam 1 of 2",
        " 30.0 % beam 1 of 2",
        " 60.0 % beam 1 of 2",
        " 90.0 % beam 1 of 2",
        "100.0 % beam 1 of 2",
        "100.0 % beam 2 of 2",
    ]


def test_progress_rewrites_one_line_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = _Terminal()
    monkeypatch.setattr("sys.stderr", tty)

    def failing_engine() -> None:
        with _common.progress() as progress:
            progress(0.5, "beam 1 of 2")
            raise RuntimeError("the engine failed")

    with pytest.raises(RuntimeError, match="the engine failed"):
        failing_engine()
    text = tty.getvalue()
    assert text.startswith("\r 50.0 % beam 1 of 2")
    assert text.endswith("\n")  # the line is ended before the error is reported


def test_quiet_progress_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = _Terminal()
    monkeypatch.setattr("sys.stderr", tty)
    with _common.progress(quiet=True) as progress:
        progress(0.5, "beam 1 of 2")
    assert tty.getvalue() == ""


def _dose_args(thigh_path: Path, out: Path) -> list[str]:
    return [
        "dose", str(thigh_path), "--conformal", "--target", "PTV", "--gantry", "90",
        "--prescription-gy", "50", "--fractions", "25", "--engine", "pencil-beam",
        "--grid-mm", "6", "-o", str(out),
    ]  # fmt: skip


def test_dose_quiet_prints_nothing_and_still_writes(
    thigh_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main([*_dose_args(thigh_path, out), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "%" not in captured.err  # no progress either
    assert (out / "RP.dcm").is_file()
    assert (out / "RD.dcm").is_file()


def test_dose_json_has_the_mu_table_and_plain_progress(
    thigh_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main([*_dose_args(thigh_path, out), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    (beam,) = doc["beams"]
    (row,) = doc["mu_check"]["beams"]
    assert row["beam"] == beam["name"]
    assert row["engine_mu"] == pytest.approx(beam["mu_per_fraction"], abs=0.01)
    assert abs(row["difference_percent"]) <= doc["mu_check"]["tolerance_percent"]
    # stderr is captured (not a terminal): progress lines without carriage returns
    assert "\r" not in captured.err
    assert "100.0 % beam 1/1: done" in captured.err.splitlines()


def test_dose_json_and_quiet_exclude_each_other(
    thigh_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*_dose_args(thigh_path, tmp_path / "out"), "--json", "-q"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "not allowed with argument" in err
    assert not (tmp_path / "out").exists()
