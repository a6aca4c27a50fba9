"""How the subcommands are declared: help from their docstrings, the options they share."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import rtplan.cli
import rtplan.io.study
from rtplan.cli.main import SUBCOMMANDS, build_parser, main
from rtplan.enum import Approach, Plane, Window
from rtplan.errors import DicomReadError

#: The subcommands that read a study, with the arguments each needs besides STUDY.
STUDY_COMMANDS = {
    "info": [],
    "dose": ["--conformal", "--target", "PTV", "--prescription-gy", "50", "-o", "{out}/o"],
    "dvh": [],
    "trajectory": ["--target", "GTV", "-o", "{out}/t"],
    "overlay": ["-o", "{out}/v.png"],
    "report": ["-o", "{out}/r.html"],
}


def test_help_comes_from_the_module_docstrings(capsys: pytest.CaptureFixture[str]) -> None:
    top = " ".join(build_parser().format_help().split())
    for name in SUBCOMMANDS:
        doc = inspect.cleandoc(importlib.import_module(f"rtplan.cli.{name}").__doc__ or "")
        summary, _, description = doc.partition("\n\n")
        assert f"{name} {summary.rstrip('.')}" in top
        with pytest.raises(SystemExit):
            main([name, "--help"])
        own = "".join(capsys.readouterr().out.split())  # argparse wraps lines at hyphens too
        assert "".join(description.split()) in own


def test_the_study_options_are_shared_by_every_command_that_reads_a_study() -> None:
    parser = build_parser()
    for name, extra in STUDY_COMMANDS.items():
        argv = [name, "study", *extra, "--series-uid", "1.2.3", "--allow-resample"]
        args = parser.parse_args([a.format(out="out") for a in argv])
        assert args.study == Path("study"), name
        assert (args.series_uid, args.structure_set_uid, args.allow_resample) == (
            "1.2.3",
            None,
            True,
        ), name
    for name in set(SUBCOMMANDS) - set(STUDY_COMMANDS):
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--series-uid", "1.2.3"])


@pytest.mark.parametrize("name", list(STUDY_COMMANDS))
def test_the_study_options_reach_load_study(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: dict[str, object] = {}

    def load_study(folder: Path, **options: object) -> None:
        seen.update(options, folder=folder)
        raise DicomReadError("recorded")

    monkeypatch.setattr(rtplan.io.study, "load_study", load_study)
    argv = [name, str(tmp_path), *STUDY_COMMANDS[name], "--structure-set-uid", "9.8", "-v"]
    assert main([a.format(out=tmp_path) for a in argv]) == 2
    assert seen == {
        "folder": tmp_path,
        "series_uid": None,
        "structure_set_uid": "9.8",
        "allow_resample": False,
    }
    err = capsys.readouterr().err
    assert "Traceback" in err  # -v after the subcommand asks for the traceback
    assert err.strip().splitlines()[-1] == f"rtplan {name}: error: recorded"


@pytest.mark.parametrize(
    ("before", "after", "verbose"),
    [([], [], 0), (["-v"], [], 1), (["-vv"], [], 2), ([], ["-vv"], 2), (["-v"], ["-v"], 1)],
)
def test_verbosity_before_or_after_the_subcommand(
    before: list[str], after: list[str], verbose: int
) -> None:
    """``-v`` after the subcommand replaces a count given before it (argparse's rule)."""
    args = build_parser().parse_args([*before, "gamma", "a.dcm", "b.dcm", *after])
    assert args.verbose == verbose


def test_vocabularies_forgive_spelling_and_list_their_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    args = parser.parse_args(["overlay", "s", "--plane", "Coronal", "--window", "Bone", "-o", "v"])
    assert (args.plane, args.window) == (Plane.CORONAL, Window.BONE)
    assert parser.parse_args(["overlay", "s", "--window", "350/50", "-o", "v"]).window == (
        350.0,
        50.0,
    )
    argv = ["trajectory", "s", "--target", "G", "--approach", "Posterior", "left", "-o", "t"]
    assert parser.parse_args(argv).approach == [Approach.POSTERIOR, Approach.LEFT]
    with pytest.raises(SystemExit):
        parser.parse_args(["overlay", "s", "--plane", "transverse", "-o", "v"])
    err = capsys.readouterr().err
    assert "argument --plane: unknown plane 'transverse'; choose one of axial, coronal" in err
    with pytest.raises(SystemExit):
        parser.parse_args(["overlay", "s", "--window", "350/wide", "-o", "v"])
    assert "nor WIDTH/LEVEL in HU" in capsys.readouterr().err


def test_needle_defaults_are_those_of_the_library() -> None:
    """The report and ``rtplan trajectory`` rank paths under the library's own defaults."""
    from rtplan.guidance import TrajectoryConstraints

    defaults = TrajectoryConstraints()
    parser = build_parser()
    report = parser.parse_args(["report", "study"])
    trajectory = parser.parse_args(["trajectory", "study", "--target", "GTV", "-o", "out"])
    for args in (report, trajectory):
        assert args.clearance_mm == defaults.clearance_mm
        assert args.max_length_mm == defaults.max_length_mm
        assert args.avoid == []


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_subcommands_never_import_each_other() -> None:
    """Shared helpers live in the private modules of the package, not in a subcommand."""
    folder = Path(rtplan.cli.__file__).parent
    subcommands = {f"rtplan.cli.{name}" for name in SUBCOMMANDS}
    for path in sorted(folder.glob("*.py")):
        imported = _imported_modules(path) & subcommands
        assert not imported, f"{path.name} imports {sorted(imported)}"
        private = {
            m
            for m in _imported_modules(path)
            if "._" in m and not m.startswith(("rtplan.cli.", "rtplan._version"))
        }
        assert not private, f"{path.name} imports private modules {sorted(private)}"
