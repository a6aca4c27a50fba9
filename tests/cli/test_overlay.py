"""Tests of ``rtplan overlay``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage

from rtplan.cli.main import main


def test_overlay_command_renders_a_plane(
    thigh_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], dciodvfy
) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "axial.png"
    sc = tmp_path / "sc.dcm"
    status = main(
        [
            "overlay",
            str(thigh_path),
            "--plane",
            "axial",
            "--at-mm",
            "-644",
            "--structures",
            "GTV",
            "Femur",
            "NVBundle",
            "--window",
            "bone",
            "-o",
            str(png),
            "--dicom",
            str(sc),
        ]
    )
    assert status == 0
    assert "wrote" in capsys.readouterr().out
    img = np.asarray(PILImage.open(png).convert("RGB"))
    assert img.ndim == 3
    assert min(img.shape[:2]) >= 128
    assert dciodvfy(sc) == []
    ds = pydicom.dcmread(sc)
    assert list(ds.PatientOrientation) == ["L", "P"]
    np.testing.assert_array_equal(ds.pixel_array, img)


def test_overlay_command_draws_a_planned_trajectory(spine_path: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    assert (
        main(
            [
                "trajectory",
                str(spine_path),
                "--target",
                "GTV",
                "--avoid",
                "SpinalCanal",
                "--approach",
                "posterior",
                "--clearance-mm",
                "3",
                "--no-dicom",
                "-o",
                str(plan),
            ]
        )
        == 0
    )
    a = tmp_path / "with.png"
    b = tmp_path / "without.png"
    args = ["overlay", str(spine_path), "--plane", "oblique", "--structures", "GTV"]
    assert main([*args, "--trajectory", str(plan / "trajectories.json"), "-o", str(a)]) == 0
    assert main(["overlay", str(spine_path), "--structures", "GTV", "-o", str(b)]) == 0
    img = np.asarray(PILImage.open(a).convert("RGB"))
    cyan = np.all(img == [0, 255, 255], axis=-1)
    assert cyan.sum() > 100  # the needle is drawn


def test_overlay_command_errors(spine_path: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert (
        main(["overlay", str(spine_path), "--plane", "oblique", "-o", str(tmp_path / "x.png")]) == 2
    )
    assert "needs a trajectory" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    status = main(
        ["overlay", str(spine_path), "--trajectory", str(bad), "-o", str(tmp_path / "y.png")]
    )
    assert status == 2
    assert "not a trajectories.json" in capsys.readouterr().err
