"""Tests of ``rtplan dvh``."""

from __future__ import annotations

import csv
import json
import math
import re
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
        # written to 0.01 Gy and 0.01 cm³
        assert float(rows[name]["mean_gy"]) == pytest.approx(h.mean_gy, abs=0.005)
        assert float(rows[name]["d95_gy"]) == pytest.approx(h.D(95), abs=0.005)
        assert float(rows[name]["volume_cc"]) == pytest.approx(h.volume_cc, abs=0.005)
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
    err = capsys.readouterr().err
    assert "goal 'PTV D95 >= 95 %' is in % of the prescription: give --prescription-gy" in err
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


@pytest.fixture(scope="module")
def plan_and_dose(
    study: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """What ``rtplan dose -o OUT`` leaves: an RT Plan (20 Gy in 10) and the RT Dose citing it,
    in a folder outside the study."""
    folder, rd_study = study
    out = tmp_path_factory.mktemp("plan_out")
    ct = rtplan.io.read_ct(folder / "ct")
    beam = rtplan.Beam(energy="6X", gantry_deg=0.0, isocenter_mm=(0.0, 0.0, 0.0), mu=100.0)
    plan = rtplan.Plan(beams=[beam], prescription_gy=20.0, fractions=10)
    uid = generate_uid()
    rp = rtplan.io.write_rtplan(plan, out / "RP.dcm", reference=ct, sop_instance_uid=uid)
    dose = rtplan.io.read_rtdose(rd_study)
    rd = rtplan.io.write_rtdose(dose, out / "RD.dcm", reference=ct, plan_sop_uid=uid)
    return rp, rd


def test_prescription_from_the_plan_the_dose_references(
    study: tuple[Path, Path],
    plan_and_dose: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = study
    rp, rd = plan_and_dose
    indices = tmp_path / "ci.csv"
    assert main(["dvh", str(folder), "--dose", str(rd), "--indices", str(indices)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"DVH metrics of {rd}")
    assert lines[1] == "dose: PHYSICAL dose, PLAN (10 fractions)"
    assert lines[2] == f"prescription 20 Gy in 10 fractions (from RT Plan {rp})"
    assert "V100%Rx [%]" in lines[3]
    # conformity of the PTV: the 20 Gy isodose is the half-space z >= 0 of the dose grid
    # (voxel edges: x, y in [-25, 25] mm, z up to 17.5 mm); the PTV (r = 8 mm, z in [-10, 10]) lies
    # half inside it; no outline in this structure set, so the whole grid counts
    ptv = rtplan.dvh(rtplan.io.read_rtdose(rd), _structures(folder)["PTV"])
    tv = ptv.volume_cc
    piv = 50.0 * 50.0 * 17.5 / 1000.0
    with indices.open() as fh:
        row = next(csv.DictReader(fh))
    assert row["structure"] == "PTV"
    assert float(row["tv_cc"]) == pytest.approx(tv, abs=0.005)  # written to 0.01 cm³
    assert float(row["tv_piv_cc"]) == pytest.approx(tv / 2, rel=0.01)
    assert float(row["piv_cc"]) == pytest.approx(piv, rel=0.01)
    assert float(row["ci_rtog"]) == pytest.approx(piv / tv, rel=0.01)
    assert float(row["ci_paddick"]) == pytest.approx((tv / 2) ** 2 / (tv * piv), rel=0.02)
    assert "isodose volumes over the whole dose grid" in out
    header = next(line for line in lines if line.startswith("Target"))
    assert "Paddick CI" in header
    assert "PIV [cc]" in header
    # --plan and --prescription-gy take precedence, in that order
    assert main(["dvh", str(folder), "--dose", str(rd), "--plan", str(rp), "--roi", "PTV"]) == 0
    assert f"(from RT Plan {rp})" in capsys.readouterr().out
    code = main(
        ["dvh", str(folder), "--dose", str(rd), "--plan", str(rp), "--prescription-gy", "25"]
    )
    assert code == 0
    assert "prescription 25 Gy in 10 fractions (from --prescription-gy)" in capsys.readouterr().out


def test_conformity_of_a_chosen_target(
    study: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, rd = study
    code = main(
        ["dvh", str(folder), "--dose", str(rd), "--prescription-gy", "20", "--target", "cord"]
    )
    assert code == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("Cord ")]
    assert len(rows) == 2  # the metrics row and the conformity row
    assert main(["dvh", str(folder), "--dose", str(rd), "--target", "Cord"]) == 2
    assert "--target needs a prescription" in capsys.readouterr().err
    assert main(["dvh", str(folder), "--dose", str(rd)]) == 0
    assert "Target" not in capsys.readouterr().out  # no prescription: no indices
    code = main(
        ["dvh", str(folder), "--dose", str(rd), "--prescription-gy", "20", "--target", "Lung"]
    )
    assert code == 2
    assert "no structure named 'Lung'" in capsys.readouterr().err
    assert main(["dvh", str(folder), "--dose", str(rd), "--indices", "x.csv"]) == 2
    assert "--indices needs a prescription" in capsys.readouterr().err
    args = ["dvh", str(folder), "--dose", str(rd), "--prescription-gy", "20", "--roi", "Cord"]
    code = main([*args, "--indices", "x.csv"])
    assert code == 2
    assert "no PTV for --indices; name the target with --target NAME" in capsys.readouterr().err


def _structures(folder: Path) -> rtplan.StructureSet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rtplan.load_study(folder).structures


def test_dvhs_stored_in_the_rt_dose_are_compared(
    study: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DVH Sequence holding the closed-form DVH of the PTV (20 + 0.4 z Gy, z in [-10, 10])."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    folder, rd = study
    ptv_number = _structures(folder)["PTV"].number
    area_mm2 = 0.5 * 64 * 8.0**2 * math.sin(2 * math.pi / 64)  # the 64-gon of _ring
    edges = np.arange(0.0, 24.2, 0.1)  # Gy
    height = np.clip(10.0 - np.maximum((edges - 20.0) / 0.4, -10.0), 0.0, 20.0)
    cum_cc = area_mm2 * height / 1000.0
    item = Dataset()
    ref = Dataset()
    ref.ReferencedROINumber = ptv_number
    ref.DVHROIContributionType = "INCLUDED"
    item.DVHReferencedROISequence = DicomSequence([ref])
    item.DVHType = "CUMULATIVE"
    item.DoseUnits = "GY"
    item.DoseType = "PHYSICAL"
    item.DVHDoseScaling = 1.0
    item.DVHVolumeUnits = "CM3"
    item.DVHNumberOfBins = edges.size - 1
    item.DVHData = [
        float(v) for pair in zip(np.diff(edges), cum_cc[:-1], strict=True) for v in pair
    ]
    ds = pydicom.dcmread(rd)
    ds.DVHSequence = DicomSequence([item])
    with_dvh = tmp_path / "RD_dvh.dcm"
    ds.save_as(with_dvh, enforce_file_format=True)
    curves = tmp_path / "curves.json"
    assert main(["dvh", str(folder), "--dose", str(with_dvh), "--curves", str(curves)]) == 0
    out = capsys.readouterr().out
    assert f"DVHs stored in {with_dvh} (DVH Sequence) against those computed here:" in out
    row = next(line.split() for line in out.splitlines()[::-1] if line.startswith("PTV"))
    volume, stored, max_dv, d_mean, d95 = (float(v) for v in row[1:])
    assert stored == pytest.approx(area_mm2 * 20.0 / 1000.0, abs=0.005)
    assert volume == pytest.approx(stored, abs=0.01)
    assert max_dv < 0.5  # percent of the volume
    assert abs(d_mean) < 0.01
    assert abs(d95) < 0.02
    back = rtplan.evaluate.read_dvhs_json(curves)
    assert list(back) == ["PTV", "Cord"]
    assert back["PTV"].volume_cc == pytest.approx(volume, abs=0.005)


# ---------------------------------------------------------------------------- dose meaning
@pytest.fixture(scope="module")
def fraction_and_beam_doses(
    study: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, Path]:
    """The RT Plan (20 Gy in 10), one fraction of its dose (FRACTION) and one beam's (BEAM)."""
    folder, rd_study = study
    out = tmp_path_factory.mktemp("meaning")
    ct = rtplan.io.read_ct(folder / "ct")
    beam = rtplan.Beam(energy="6X", gantry_deg=0.0, isocenter_mm=(0.0, 0.0, 0.0), mu=100.0)
    plan = rtplan.Plan(beams=[beam], prescription_gy=20.0, fractions=10)
    uid = generate_uid()
    rp = rtplan.io.write_rtplan(plan, out / "RP.dcm", reference=ct, sop_instance_uid=uid)
    total = rtplan.io.read_rtdose(rd_study)
    one = total.with_array(np.asarray(total.array) / 10.0, summation_type="FRACTION")
    fx = rtplan.io.write_rtdose(one, out / "RD_fraction.dcm", reference=ct, plan_sop_uid=uid)
    part = total.with_array(total.array, summation_type="BEAM")
    bm = rtplan.io.write_rtdose(
        part, out / "RD_beam.dcm", reference=ct, plan_sop_uid=uid, beam_number=1
    )
    return rp, fx, bm


def test_fraction_dose_is_converted_with_the_plans_fractions(
    study: tuple[Path, Path],
    fraction_and_beam_doses: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One fraction of 10 (2 Gy at the PTV centre): the goals see the plan's 20 Gy."""
    folder, _ = study
    _, fx, _ = fraction_and_beam_doses
    argv = ["dvh", str(folder), "--dose", str(fx), "--roi", "PTV", "--goal", "PTV Dmax <= 21 Gy"]
    assert main(argv) == 1  # the plan total reaches 24 Gy (20 + 0.4 z, z up to 10 mm)
    out = capsys.readouterr().out
    basis = "PHYSICAL dose, PLAN (10 fractions); total: FRACTION dose multiplied by 10 fractions"
    assert f"dose: {basis}" in out.splitlines()
    assert out.count(f"dose: {basis}") == 2  # the metrics and the goal table
    assert re.search(r"PTV +Dmax <= 21 Gy +24\.0\d Gy +FAIL", out)


def test_fraction_dose_without_its_plan_is_refused_for_goals(
    study: tuple[Path, Path],
    fraction_and_beam_doses: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = study
    _, fx, _ = fraction_and_beam_doses
    alone = tmp_path / "RD.dcm"
    alone.write_bytes(fx.read_bytes())  # no RT Plan next to it: the fractions are unknown
    argv = ["dvh", str(folder), "--dose", str(alone), "--roi", "PTV"]
    assert main([*argv, "--goal", "PTV Dmax <= 21 Gy"]) == 2
    err = capsys.readouterr().err
    assert (
        "is a FRACTION dose (PHYSICAL dose, FRACTION (fractions unknown)): one fraction, not "
        in err
    )
    assert "give the plan (fractions=, or --plan RTPLAN)" in err
    # without goals: the DVH of what the file holds, said so, and no prescription
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "dose: PHYSICAL dose, FRACTION (fractions unknown); shown as it is, without the "
        "prescription" in out
    )
    # naming the plan converts it
    assert main([*argv, "--plan", str(fraction_and_beam_doses[0])]) == 0
    assert "total: FRACTION dose multiplied by 10 fractions" in capsys.readouterr().out


def test_beam_dose_is_shown_as_it_is_and_refused_for_goals(
    study: tuple[Path, Path],
    fraction_and_beam_doses: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = study
    _, _, bm = fraction_and_beam_doses
    argv = ["dvh", str(folder), "--dose", str(bm), "--roi", "PTV"]
    assert main([*argv, "--goal", "PTV Dmax <= 30 Gy"]) == 2
    err = capsys.readouterr().err
    assert (
        "is a BEAM dose (PHYSICAL dose, BEAM (10 fractions)): part of the plan, not the whole"
        in err
    )
    assert "clinical goals and indices need the PLAN dose" in err
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "dose: PHYSICAL dose, BEAM (10 fractions); shown as it is, without the prescription" in out
    )
    assert "V100%Rx" not in out


def test_json_output(
    study: tuple[Path, Path],
    fraction_and_beam_doses: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = study
    _, fx, _ = fraction_and_beam_doses
    argv = ["dvh", str(folder), "--dose", str(fx), "--json", "--goal", "PTV Dmax <= 25 Gy"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    basis = "PHYSICAL dose, PLAN (10 fractions); total: FRACTION dose multiplied by 10 fractions"
    assert doc["dose"] == {"file": str(fx), "evaluated": basis}
    assert doc["goals"]["dose"] == basis
    assert doc["goals"]["all_passed"] is True
    assert doc["goals"]["goals"][0]["result"] == "PASS"
    names = [row["structure"] for row in doc["metrics"]]
    assert names == ["PTV", "Cord"]
    assert doc["metrics"][0]["max_gy"] == pytest.approx(24.0, abs=0.1)


def test_quiet_prints_nothing_and_keeps_the_exit_status(
    study: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, rd = study
    table = tmp_path / "metrics.csv"
    argv = ["dvh", str(folder), "--dose", str(rd), "-q", "-o", str(table)]
    assert main([*argv, "--goal", "PTV Dmean <= 21 Gy"]) == 0
    assert capsys.readouterr().out == ""
    assert table.is_file()  # the files asked for are still written
    assert main([*argv, "--goal", "Cord Dmax <= 10 Gy"]) == 1
    assert capsys.readouterr().out == ""
