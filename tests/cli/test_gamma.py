"""Tests of ``rtplan gamma``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

import ct_factory
import rtplan
from rtplan.cli.main import main


@pytest.fixture(scope="module")
def doses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A reference dose ramp, the same ramp 1 mm further along x, and a warped copy."""
    folder = tmp_path_factory.mktemp("gamma")
    ct_factory.write_series(
        folder / "ct",
        np.zeros((8, 16, 16)),
        origin_mm=(-15, -15, -7),
        slice_spacing_mm=2.0,
        pixel_spacing_mm=(2.0, 2.0),
    )
    ct = rtplan.io.read_ct(folder / "ct")
    g = rtplan.Grid(shape=(8, 16, 16), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(-15, -15, -7))
    x = g.centers_mm()[..., 0]
    paths = []
    for name, arr in (
        ("ref", 30.0 + 0.5 * x),
        ("shift", 30.0 + 0.5 * (x - 1.0)),
        ("hot", 30.0 + 0.5 * x + 0.006 * (x + 15.0) ** 2),
    ):
        d = rtplan.Dose(array=arr, grid=g)
        paths.append(
            rtplan.io.write_rtdose(
                d, folder / f"{name}.dcm", reference=ct, plan_sop_uid=generate_uid()
            )
        )
    return paths[0], paths[1], paths[2]


def test_prints_pass_rate(
    doses: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ref, shift, _ = doses
    assert main(["gamma", str(ref), str(shift), "--dose-percent", "3", "--distance-mm", "2"]) == 0
    out = capsys.readouterr().out
    assert "pass rate: 100.00 %" in out
    lines = out.splitlines()
    assert lines[0] == f"reference {ref}: 16x16x8 voxels of 2x2x2 mm, maximum 37.5 Gy"
    assert lines[1] == f"evaluated {shift}: 16x16x8 voxels of 2x2x2 mm, maximum 37 Gy"
    assert lines[3].startswith("gamma > 1 at 0 points; 95th percentile ")
    api = rtplan.gamma(rtplan.io.read_rtdose(ref), rtplan.io.read_rtdose(shift), 3, 2)
    assert f"mean gamma {api.mean_gamma:.3f}" in out
    # away from the grid edges: 3 % of the 37.5 Gy maximum, 0.5 Gy/mm, 1 mm shift
    expected = 1.0 / math.sqrt(4.0 + (0.03 * 37.5 / 0.5) ** 2)
    np.testing.assert_allclose(api.gamma_map.array[:, :, 3:-3], expected, rtol=1e-6)


def test_threshold_exit_status_and_local(
    doses: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ref, _, hot = doses
    api = rtplan.gamma(rtplan.io.read_rtdose(ref), rtplan.io.read_rtdose(hot), 3, 3, 10, local=True)
    assert 0 < api.pass_rate < 100
    code = main(
        [
            "gamma",
            str(ref),
            str(hot),
            "--dose-percent",
            "3",
            "--distance-mm",
            "3",
            "--local",
            "--pass-threshold",
            "99",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert f"pass rate: {api.pass_rate:.2f} %" in captured.out
    assert "(local," in captured.out
    assert "is below 99 %" in captured.err
    assert main(["gamma", str(ref), str(hot), "--local", "--pass-threshold", "0"]) == 0
    capsys.readouterr()


def test_bad_criteria_exit_2(
    doses: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ref, shift, _ = doses
    assert main(["gamma", str(ref), str(shift), "--distance-mm", "0"]) == 2
    assert "--distance-mm must be a positive number, got 0" in capsys.readouterr().err
    assert main(["gamma", str(ref), str(shift), "--dose-percent", "-3"]) == 2
    assert "--dose-percent must be a positive number, got -3" in capsys.readouterr().err


def test_json_and_quiet(doses: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    import json

    ref, _, hot = doses
    argv = ["gamma", str(ref), str(hot), "--pass-threshold", "99.9"]
    status = main([*argv, "--json"])
    doc = json.loads(capsys.readouterr().out)
    api = rtplan.gamma(rtplan.io.read_rtdose(ref), rtplan.io.read_rtdose(hot), 3, 2)
    assert doc["pass_rate_percent"] == pytest.approx(api.pass_rate)
    assert doc["n_evaluated"] == api.n_evaluated
    assert doc["passed"] is (api.pass_rate >= 99.9)
    assert status == (0 if doc["passed"] else 1)  # the same status as the text form
    assert main([*argv, "-q"]) == status
    assert capsys.readouterr().out == ""
