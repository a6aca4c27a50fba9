"""The ``rtplan dose`` subcommand on the bundled thigh phantom."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from rtplan.cli.main import main


def test_conformal_plan_writes_rtplan_and_rtdose(thigh_path, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(
        [
            "dose", str(thigh_path), "--conformal", "--target", "PTV",
            "--gantry", "0,120,240", "--prescription-gy", "30", "--fractions", "10",
            "--engine", "pencil-beam", "--grid-mm", "5", "-o", str(out),
        ]
    )  # fmt: skip
    assert status == 0
    text = capsys.readouterr().out
    assert "PTV: D95" in text
    assert text.count("MU per fraction") == 3
    rp = pydicom.dcmread(out / "RP.dcm")
    rd = pydicom.dcmread(out / "RD.dcm")
    ct = pydicom.dcmread(thigh_path / "CT_001.dcm")
    assert rd.FrameOfReferenceUID == ct.FrameOfReferenceUID == rp.FrameOfReferenceUID
    assert rd.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == rp.SOPInstanceUID
    mu = [float(b.BeamMeterset) for b in rp.FractionGroupSequence[0].ReferencedBeamSequence]
    assert len(mu) == 3
    assert all(m > 50.0 for m in mu)
    dose = rd.pixel_array * float(rd.DoseGridScaling)
    assert 30.0 < dose.max() < 36.0  # mean normalised to 30 Gy: a small hot spot above it

    # the written plan computes again from the file, with its MU, to the same dose
    again = tmp_path / "again"
    assert main(
        ["dose", str(thigh_path), "--plan", str(out / "RP.dcm"), "--engine", "pencil-beam",
         "--grid-mm", "5", "-o", str(again)]
    ) == 0  # fmt: skip
    rd2 = pydicom.dcmread(again / "RD.dcm")
    dose2 = rd2.pixel_array * float(rd2.DoseGridScaling)
    np.testing.assert_allclose(dose2, dose, atol=0.002 * dose.max())


def test_bad_arguments_report_errors(thigh_path, tmp_path, capsys):
    status = main(["dose", str(thigh_path), "--conformal", "-o", str(tmp_path)])
    assert status == 2
    assert "needs --target" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dose", str(thigh_path), "--gantry", "a,b", "--conformal", "-o", str(tmp_path)])


def test_output_is_found_again_by_load_study(thigh_path, tmp_path, capsys):
    import shutil

    import rtplan

    folder = tmp_path / "study"
    shutil.copytree(thigh_path, folder)
    before = rtplan.load_study(folder)
    assert (before.plans, before.doses) == ((), ())
    assert main(
        ["dose", str(folder), "--conformal", "--target", "PTV", "--gantry", "0,180",
         "--prescription-gy", "20", "--fractions", "5", "--engine", "pencil-beam",
         "--grid-mm", "5", "-o", str(folder)]
    ) == 0  # fmt: skip
    capsys.readouterr()
    study = rtplan.load_study(folder)
    (plan,) = study.plans
    (dose,) = study.doses
    # the RT Dose references the RT Plan, both in the CT's frame, with the study's RT Struct
    assert dose.plan_uid == plan.uid
    assert plan.extra["referenced_structure_set_uid"] == study.structures.sop_instance_uid
    assert [b.gantry_deg for b in plan.beams] == [0.0, 180.0]
    assert all(b.mu is not None and b.mu > 0 for b in plan.beams)
    assert (plan.prescription_gy, plan.fractions, plan.target_name) == (20.0, 5, "PTV")
    assert dose.fractions == 5
    # mean normalisation: the PTV receives 20 Gy on average (dose read back from the file)
    values = np.asarray(dose.array)[study.structures["PTV"].mask(dose.grid)]
    assert float(values.mean()) == pytest.approx(20.0, rel=0.01)
