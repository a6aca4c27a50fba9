"""The command line on mutated inputs: exit 0 or 2, never 3 ("internal error").

A seeded sample of the fuzzer's mutations (:mod:`fuzz.mutate`: bit flips, truncation,
deleted elements, wrong VRs, bad numbers, emptied or duplicated sequences, swapped values)
of the files of its small synthetic study, each given to one of the commands that read
them: ``info`` (folder, file, ``--json``), ``dvh``, ``gamma``, ``overlay``, ``dose``,
``report`` and ``deidentify``. Every run must end with status 0, or 2 and one
``rtplan COMMAND: error: ...`` line; a traceback or status 3 fails the case, which is
printed with its seed and index so that it replays alone.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from fuzz.corpus import Corpus, build_corpus
from fuzz.mutate import mutate
from rtplan.cli.main import main

SEED = 20261208
CASES = 48

#: Command lines, with {study} (the case's copy of the study), {file} (the mutated file),
#: {RD}, {RP} (the case's dose and plan) and {out} (a fresh output folder). Which file is
#: mutated: "any" file of the study, or the one named.
COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("any", ("info", "{study}")),
    ("any", ("info", "{study}", "--json")),
    ("any", ("info", "{file}")),
    ("RD", ("dvh", "{study}", "--dose", "{RD}", "-o", "{out}/dvh.csv")),
    ("RS", ("dvh", "{study}", "--dose", "{RD}", "--roi", "PTV")),
    ("RD", ("gamma", "{RD}", "{RD0}")),
    ("any", ("overlay", "{study}", "--structures", "PTV", "-o", "{out}/o.png")),
    ("RD", ("overlay", "{study}", "--dose", "{RD}", "-o", "{out}/o.png")),
    ("RP", ("dose", "{study}", "--plan", "{RP}", "--engine", "pencil-beam", "--grid-mm", "4",
            "-o", "{out}/dose")),
    ("RS", ("dose", "{study}", "--conformal", "--target", "PTV", "--prescription-gy", "2",
            "--engine", "pencil-beam", "--grid-mm", "4", "-o", "{out}/dose")),
    ("any", ("report", "{study}", "--dose", "{RD}", "--plan", "{RP}", "-o", "{out}/r.html")),
    ("any", ("deidentify", "{study}", "{out}/anon")),
)  # fmt: skip


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage errors
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("cli_fuzz"), samples=False)


def test_no_command_exits_3_on_mutated_files(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = corpus.study("synthetic")
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for index in range(CASES):
        rng = np.random.default_rng([SEED, index])
        which, template = COMMANDS[index % len(COMMANDS)]
        case = tmp_path / f"case{index}"
        study = case / "study"
        shutil.copytree(clean.folder, study)
        names = {"RD": "RD.dcm", "RP": "RP.dcm", "RS": "RS.dcm"}
        if which == "any":
            files = sorted(p.name for p in study.iterdir())
            victim = study / files[int(rng.integers(len(files)))]
        else:
            victim = study / names[which]
        donors = [p for p in clean.files if p.name != victim.name]
        mutation = mutate(victim.read_bytes(), rng, donors)
        victim.write_bytes(mutation.data)
        values = {
            "study": str(study),
            "file": str(victim),
            "RD": str(study / "RD.dcm"),
            "RD0": str(clean.folder / "RD.dcm"),
            "RP": str(study / "RP.dcm"),
            "out": str(case / "out"),
        }
        argv = [part.format(**values) for part in template]
        with warnings.catch_warnings(record=True):
            status = _run(argv)
        err = capsys.readouterr().err
        statuses[status] = statuses.get(status, 0) + 1
        what = f"case {index} (seed {SEED}): {victim.name} {mutation.operator} {mutation.detail}"
        errors = [ln for ln in err.splitlines() if ": error:" in ln]
        if status not in (0, 2) or "Traceback" in err:
            failures.append(f"{what}: rtplan {' '.join(template)} -> {status}: {err[-400:]}")
        elif status == 2 and not (
            len(errors) == 1 and errors[0].startswith(f"rtplan {argv[0]}: error: ")
        ):
            failures.append(f"{what}: status 2 without one error line: {err[-400:]}")
        shutil.rmtree(case)
    assert failures == [], "\n".join(failures)
    assert statuses.get(0, 0) > 0, statuses  # both occur: mutations that do not matter,
    assert statuses.get(2, 0) > 0, statuses  # and mutations refused in one line
