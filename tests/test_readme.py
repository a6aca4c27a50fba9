"""The README's Python example runs as written, and its CLI synopsis matches the parsers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pydicom
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks()
    assert len(blocks) == 1, "the README has one Python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)

    # what the example promises: a plan that meets its prescription and a clear needle path
    h: Any = namespace["h"]
    assert abs(h.mean_gy - 50.0) < 0.5
    g: Any = namespace["g"]
    assert 0.0 < g.pass_rate <= 100.0
    paths: Any = namespace["paths"]
    assert paths
    assert paths[0].clearance_mm["SpinalCanal"] >= 3.0
    written = {p.name: pydicom.dcmread(p).Modality for p in (tmp_path / "out").iterdir()}
    assert written == {"RP.dcm": "RTPLAN", "RD.dcm": "RTDOSE", "RS.dcm": "RTSTRUCT"}


def _subcommands(parser: Any) -> Any:
    """The subparsers action of ``parser``, or None."""
    return next((a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"), None)


def test_readme_cli_synopsis_names_real_options() -> None:
    """Every ``--option`` in the README's command-line synopsis exists in that command."""
    from rtplan.cli.main import build_parser

    text = README.read_text(encoding="utf-8")
    synopsis = text.split("## Command line", 1)[1].split("```", 2)[1]
    parser = build_parser()
    sub = _subcommands(parser)
    current = None
    checked = 0
    for line in synopsis.splitlines():
        m = re.match(r"rtplan (\w+)(?: (\w+))?", line.strip())
        if m:
            current = sub.choices[m.group(1)]
            nested = _subcommands(current)
            if nested is not None and m.group(2) in nested.choices:  # rtplan library index
                current = nested.choices[m.group(2)]
        code = line.split("  ", 1)[0] if not line.startswith(" ") else line.strip()
        for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-o)\b", code):
            assert current is not None
            assert opt in current._option_string_actions, f"{current.prog} has no {opt}"
            checked += 1
    assert checked >= 25, checked
