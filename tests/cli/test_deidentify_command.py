"""``rtplan deidentify IN OUT``."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

import rtplan
from files.hostile_study import IDENTIFIERS, NAME, make_hostile_study
from rtplan.cli.main import main


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hostile_study(tmp_path_factory.mktemp("cli_deid") / "in").folder


def test_deidentify_copies_the_study(
    hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (hostile / "notes.txt").write_text("not DICOM")
    salt = tmp_path / "salt.txt"
    salt.write_text("our secret\n")
    out = tmp_path / "anon"
    assert main(["deidentify", str(hostile), str(out), "--salt-file", str(salt)]) == 0
    printed = capsys.readouterr()
    assert f"de-identified 46 files into {out}" in printed.out
    assert "left out 1 files that are not DICOM" in printed.out
    text = (printed.out + printed.err).lower()
    assert not [v for v in IDENTIFIERS if v.lower() in text]
    study = rtplan.load_study(out)
    assert study.ct.series is not None
    assert study.ct.series.patient["PatientName"] == "ANONYMOUS"
    assert len(study.plans) == 1
    again = tmp_path / "again"
    assert main(["deidentify", str(hostile), str(again), "--salt-file", str(salt)]) == 0
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in out.iterdir())
    kept = tmp_path / "kept"
    ct = hostile / "CT_001.dcm"
    assert main(["deidentify", str(ct), str(kept), "--retain-patient-characteristics"]) == 0
    (one,) = kept.iterdir()
    assert pydicom.dcmread(one, stop_before_pixels=True).PatientAge == "068Y"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file or folder"),
        ("inside", "lies inside the input"),
        ("busy", "is not empty"),
        ("salt", "the first line is empty"),
    ],
)
def test_deidentify_bad_input_is_one_line(
    case: str, message: str, hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out, extra = hostile, tmp_path / "out", []
    if case == "missing":
        src = tmp_path / "nothing"
    elif case == "inside":
        out = hostile / "anon"
    elif case == "busy":
        out.mkdir()
        (out / "x").write_text("x")
    else:
        (tmp_path / "salt").write_text("\n")
        extra = ["--salt-file", str(tmp_path / "salt")]
    assert main(["deidentify", str(src), str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("rtplan deidentify: error: ")
    assert message in err[0]
    assert NAME not in err[0]
