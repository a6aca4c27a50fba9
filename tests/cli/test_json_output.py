"""``--json`` and ``-q`` on the commands that write files: overlay, review, deidentify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest

from rtplan.cli.main import main


def test_overlay_json_names_what_it_wrote(
    spine_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png, sc = tmp_path / "axial.png", tmp_path / "sc.dcm"
    argv = ["overlay", str(spine_path), "--structures", "GTV", "-o", str(png)]
    assert main([*argv, "--dicom", str(sc), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["png"] == str(png)
    assert doc["dicom"] == str(sc)
    assert doc["width_px"] > 100
    assert doc["height_px"] > 100
    assert pydicom.dcmread(sc).Modality == "OT"
    assert main([*argv, "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert png.stat().st_size > 0


def test_review_json(spine_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "review.html"
    assert main(["review", str(spine_path), "-o", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"html": str(out), "dose": None, "plan": None, "trajectories": 0}
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_deidentify_json_counts_the_files(
    thigh_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    shutil.copytree(thigh_path, source)
    (source / "notes.txt").write_text("not DICOM")
    dicom_files = sum(1 for p in source.iterdir() if p.suffix == ".dcm")
    out = tmp_path / "anon"
    assert main(["deidentify", str(source), str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["folder"] == str(out)
    assert doc["files"] == dicom_files == len(list(out.iterdir()))
    assert doc["not_dicom"] == 1
    assert doc["not_copied"] == []
    assert main(["deidentify", str(source), str(tmp_path / "anon2"), "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_demo_json_lists_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's flow is tested end to end elsewhere; here: what --json and -q print."""
    import rtplan.report
    from rtplan.report._demo import DemoResult

    def fake_demo(folder: Path, **kwargs: object) -> DemoResult:
        assert kwargs["echo"] is None  # no commentary mixed into the JSON
        result = DemoResult(goals_passed=True)
        result.files["thigh_rtplan"] = Path(folder) / "thigh_sarcoma" / "RP.dcm"
        result.say("planned")
        return result

    monkeypatch.setattr(rtplan.report, "run_demo", fake_demo)
    assert main(["demo", "-o", str(tmp_path / "demo"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "goals_passed": True,
        "files": {"thigh_rtplan": str(tmp_path / "demo" / "thigh_sarcoma" / "RP.dcm")},
    }
    assert main(["demo", "-o", str(tmp_path / "demo"), "-q"]) == 0
    assert capsys.readouterr().out == ""
