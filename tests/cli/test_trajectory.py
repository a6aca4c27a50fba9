"""Tests of ``rtplan trajectory``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from rtplan.cli.main import main


def test_trajectory_command_writes_table_overlays_and_dicom(
    spine_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], dciodvfy
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "plan"
    status = main(
        [
            "trajectory",
            str(spine_path),
            "--target",
            "GTV",
            "--avoid",
            "SpinalCanal",
            "Kidney_L",
            "Kidney_R",
            "--clearance-mm",
            "3",
            "--clearance",
            "SpinalCanal=4",
            "--approach",
            "posterior",
            "--max-length-mm",
            "150",
            "--n-best",
            "5",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    text = capsys.readouterr().out
    assert "rank" in text
    assert "candidates:" in text
    doc = json.loads((out / "trajectories.json").read_text())
    rows = doc["trajectories"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["clearance_mm:SpinalCanal"] >= 4.0
    assert rows[0]["required_clearance_mm:Kidney_L"] == 3.0
    assert rows[0]["entry_y_mm"] > rows[0]["target_y_mm"]  # posterior approach
    assert (out / "trajectories.csv").read_text().count("\n") == 6
    pngs = sorted(p.name for p in (out / "overlays").glob("*.png"))
    assert pngs == [
        "accessibility.png",
        "rank1_axial.png",
        "rank1_coronal.png",
        "rank1_oblique.png",
        "rank1_oblique_orthogonal.png",
        "rank1_sagittal.png",
    ]
    dcm = sorted((out / "dicom").glob("*.dcm"))
    assert {p.name for p in dcm} >= {"RS_trajectory.dcm", "PR_needle.dcm", "SC_rank1_axial.dcm"}
    for p in dcm:
        assert dciodvfy(p) == [], p.name
    rs = pydicom.dcmread(out / "dicom" / "RS_trajectory.dcm")
    names = [r.ROIName for r in rs.StructureSetROISequence]
    assert names[:3] == ["NeedleEntry", "NeedleTarget", "NeedlePath"]
    assert "SpinalCanal_4mm" in names
    assert "GTV" in names
    entry = rs.ROIContourSequence[0].ContourSequence[0]
    assert entry.ContourGeometricType == "POINT"
    np.testing.assert_allclose(
        [float(v) for v in entry.ContourData],
        [rows[0]["entry_x_mm"], rows[0]["entry_y_mm"], rows[0]["entry_z_mm"]],
        atol=1e-6,
    )


def test_trajectory_command_reports_bad_input(
    spine_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["trajectory", str(spine_path), "--target", "Tumour", "-o", str(tmp_path / "x")])
    assert status == 2
    assert "no structure named 'Tumour'" in capsys.readouterr().err
    status = main(
        [
            "trajectory",
            str(spine_path),
            "--target",
            "GTV",
            "--avoid",
            "SpinalCanal",
            "--clearance",
            "Kidney_L=3",
            "-o",
            str(tmp_path / "y"),
        ]
    )
    assert status == 2
    assert "not avoided" in capsys.readouterr().err


def test_trajectory_to_the_flank_writes_a_valid_presentation_state(  # type: ignore[no-untyped-def]
    spine_path: Path, tmp_path: Path, dciodvfy
) -> None:
    """Avoiding only the canal, the best path enters at the flank, next to the image's edge:
    the GSPS keeps its entry circle and labels on the image (it used to fail there)."""
    out = tmp_path / "flank"
    args = ["trajectory", str(spine_path), "--target", "GTV", "--avoid", "SpinalCanal"]
    assert main([*args, "--approach", "posterior", "--n-best", "1", "-o", str(out)]) == 0
    row = json.loads((out / "trajectories.json").read_text())["trajectories"][0]
    assert abs(row["in_plane_deg"]) > 80  # a lateral route
    pr = out / "dicom" / "PR_needle.dcm"
    assert dciodvfy(pr) == []
    ds = pydicom.dcmread(pr)
    texts = [
        t.UnformattedTextValue
        for a in ds.GraphicAnnotationSequence
        for t in a.get("TextObjectSequence", [])
    ]
    assert "Entry" in texts


def test_trajectory_json_in_radiologist_terms(
    spine_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["trajectory", str(spine_path), "--target", "GTV", "--avoid", "SpinalCanal"]
    argv += ["--approach", "posterior", "--n-best", "2", "--n-overlays", "1", "--no-dicom"]
    assert main([*argv, "-o", str(tmp_path / "a"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (first, _) = doc["trajectories"]
    written = json.loads((tmp_path / "a" / "trajectories.json").read_text())["trajectories"][0]
    assert {k: first[k] for k in written} == pytest.approx(written)  # the file's row, and more
    d = np.array([first[f"target_{a}_mm"] - first[f"entry_{a}_mm"] for a in "xyz"])
    d /= np.linalg.norm(d)
    # supine patient (HFS): room down is LPS +y; the angle from vertical on the axial image
    axial = np.array([d[0], d[1]]) / np.hypot(d[0], d[1])
    assert first["angle_from_vertical_deg"] == pytest.approx(np.degrees(np.arccos(axial[1])))
    assert first["craniocaudal_deg"] == pytest.approx(np.degrees(np.arcsin(d[2])))
    assert first["depth_mm"] == pytest.approx(first["length_mm"])
    assert first["needle_mm"] == min(n for n in (100.0, 150.0, 200.0) if n > first["depth_mm"])
    assert first["entry_side"] == (
        "left" if first["entry_x_mm"] > first["target_x_mm"] else "right"
    )
    # the text table says the same in words
    assert main([*argv, "-o", str(tmp_path / "b")]) == 0
    text = capsys.readouterr().out
    assert f"{first['angle_from_vertical_deg']:.0f}° {first['entry_side']}" in text
    assert "needle" in text.splitlines()[0]
