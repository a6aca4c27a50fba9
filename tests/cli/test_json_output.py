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
