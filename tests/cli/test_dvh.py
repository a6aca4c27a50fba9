"""Tests of ``rtplan dvh``."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

import ct_factory
import rtplan
from rtplan.cli.main import main


def _ring(r: float, z: float, cx: float = 0.0, n: int = 64) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), r * np.sin(t), np.full(n, z)])


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """CT 12 slices of 2.5 mm, a PTV and an organ, and a dose ramping along z."""
    folder = tmp_path_factory.mktemp("dvh_study")
    vol = np.full((12, 40, 40), 0.0)
    paths = ct_factory.write_series(
        folder / "ct", vol, origin_mm=(-19.5, -19.5, -13.75), slice_spacing_mm=2.5
    )
    zs = -13.75 + 2.5 * np.arange(12)
    ptv = [_ring(8.0, z) for z in zs[2:10]]
    oar = [_ring(3.0, z, cx=13.0) for z in zs[3:9]]
    ct_factory.write_rtstruct(
        folder / "RS.dcm", paths, rois=[("PTV", "PTV", ptv), ("Cord", "ORGAN", oar)]
    )
    ct = rtplan.io.read_ct(folder / "ct")
    g = rtplan.Grid(
        shape=(14, 20, 20), spacing_mm=(2.5, 2.5, 2.5), origin_mm=(-23.75, -23.75, -16.25)
    )
    z = g.centers_mm()[..., 2]
    dose = rtplan.Dose(array=20.0 + 0.4 * z, grid=g)
    rd = rtplan.io.write_rtdose(
        dose, folder / "dose" / "RD.dcm", reference=ct, plan_sop_uid=generate_uid()
    )
    return folder, rd


def test_prints_table_and_writes_csv(
    study: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, rd = study
    out_csv = tmp_path / "metrics.csv"
    curves = tmp_path / "curves.csv"
    code = main(
        [
            "dvh",
            str(folder),
            "--dose",
            str(rd),
            "-o",
            str(out_csv),
            "--curves",
            str(curves),
            "--prescription-gy",
            "20",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "prescription 20 Gy" in out
    header = next(line for line in out.splitlines() if line.startswith("Structure"))
    assert "D95% [Gy]" in header
    assert "V100%Rx [%]" in header
    # the CSV holds what the API computes for the same objects
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = rtplan.load_study(folder)
    dose = rtplan.io.read_rtdose(rd)
    with out_csv.open() as fh:
        rows = {r["structure"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"PTV", "Cord"}
    for name in ("PTV", "Cord"):
        h = rtplan.dvh(dose, st.structures[name])
        assert float(rows[name]["mean_gy"]) == pytest.approx(h.mean_gy, rel=1e-5)
        assert float(rows[name]["d95_gy"]) == pytest.approx(h.D(95), rel=1e-5)
        assert float(rows[name]["volume_cc"]) == pytest.approx(h.volume_cc, rel=1e-5)
    # PTV over z in [-10, 10]: mean 20 Gy, half the volume above the prescription
    assert float(rows["PTV"]["mean_gy"]) == pytest.approx(20.0, abs=0.01)
    assert float(rows["PTV"]["v100_percent"]) == pytest.approx(50.0, abs=0.5)
    with curves.open() as fh:
        names = {r["structure"] for r in csv.DictReader(fh)}
    assert names == {"PTV", "Cord"}


def test_goals_and_exit_status(
    study: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, rd = study
    assert (
        main(
            [
                "dvh",
                str(folder),
                "--dose",
                str(rd),
                "--roi",
                "PTV",
                "--goal",
                "PTV D95 >= 15 Gy",
                "--goal",
                "PTV Dmean <= 21 Gy",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2 of 2 goals met" in out
    assert "Cord" not in out
    assert main(["dvh", str(folder), "--dose", str(rd), "--goal", "Cord Dmax <= 10 Gy"]) == 1
    captured = capsys.readouterr()
    assert "1 goal(s) failed" in captured.err


def test_bad_input_exits_2(
    study: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, rd = study
    assert main(["dvh", str(folder), "--dose", str(rd), "--goal", "PTV D95 maybe 3"]) == 2
    assert "cannot read the goal" in capsys.readouterr().err
    assert main(["dvh", str(folder), "--dose", str(rd), "--goal", "PTV D95 >= 95 %"]) == 2
    assert "pass prescription_gy" in capsys.readouterr().err
    assert main(["dvh", str(folder), "--dose", str(rd), "--roi", "Lung"]) == 2
    assert "no structure named 'Lung'" in capsys.readouterr().err


def test_dose_of_the_study_is_used_by_default(
    study: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = study
    assert main(["dvh", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "prescription" not in out.splitlines()[0]
    assert any(line.startswith("PTV") for line in out.splitlines())
