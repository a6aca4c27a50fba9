from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rtplan.cli.main import SUBCOMMANDS, build_parser, main


def test_every_subcommand_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    help_text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert name in help_text
    assert main([]) == 2  # no command: help, usage status


def test_closed_pipe_ends_quietly(thigh_path: Path) -> None:
    exe = shutil.which("rtplan", path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = subprocess.run(
        f"'{exe}' info '{thigh_path}' | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.stdout.startswith("Study:")
    assert "Traceback" not in proc.stderr


def test_warnings_are_one_readable_line(tmp_path: Path, thigh_path: Path) -> None:
    for f in sorted(thigh_path.glob("CT_*.dcm")):
        shutil.copy(f, tmp_path / f.name)  # a CT without its structure set
    exe = shutil.which("rtplan", path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = subprocess.run(
        [exe, "info", str(tmp_path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0
    assert "rtplan: warning: no RT Structure Set" in proc.stderr
    assert ".py:" not in proc.stderr  # no source paths


def _leaf_parsers() -> list[tuple[str, object]]:
    import argparse

    leaves = []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            leaves.append((name, parser))
        for action in subs:
            for child, sub in action.choices.items():
                walk(f"{name} {child}".strip(), sub)

    walk("", build_parser())
    return leaves


def test_every_command_takes_json_quiet_and_verbose() -> None:
    leaves = _leaf_parsers()
    assert len(leaves) >= len(SUBCOMMANDS)
    for name, parser in leaves:
        options = {s for a in parser._actions for s in a.option_strings}  # type: ignore[attr-defined]
        missing = {"--json", "-q", "--quiet", "-v", "--verbose"} - options
        assert not missing, f"rtplan {name} lacks {sorted(missing)}"
