"""Tests of ``rtplan info``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import ct_factory
from rtplan.cli.main import main

SQUARE = np.array([[-5, -5, 0], [5, -5, 0], [5, 5, 0], [-5, 5, 0]], dtype=float)


def _study(folder: Path, *, series_uid: str = "1.2.826.0.1.1") -> list[Path]:
    """A 4-slice CT (2 mm) with a 10 x 10 mm square ROI on the middle two slices."""
    vol = np.full((4, 20, 20), -1000.0)
    vol[:, 5:15, 5:15] = 40.0
    paths = ct_factory.write_series(
        folder / "ct",
        vol,
        origin_mm=(9.5, -9.5, 0.0),  # FFS rows run towards -x
        slice_spacing_mm=2.0,
        series_uid=series_uid,
        patient_position="FFS",
        orientation=ct_factory.SCANNER_ORIENTATIONS["FFS"],
    )
    return paths


def _with_structures(folder: Path) -> list[Path]:
    paths = _study(folder)
    # FFS: slices stack towards the feet (normal -z): z = 0, -2, -4, -6
    contours = [np.add(SQUARE, (0.0, 0.0, z)) for z in (-2.0, -4.0)]
    ct_factory.write_rtstruct(
        folder / "RS.dcm", paths, rois=[("GTV", "GTV", contours)], label="Contours"
    )
    return paths


def test_info_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _with_structures(tmp_path)
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Patient position: FFS" in out
    assert "size        20 x 20 x 4 voxels (columns x rows x slices)" in out
    assert "spacing     1.000 x 1.000 x 2.000 mm" in out
    assert "extent      20.0 x 20.0 x 8.0 mm" in out
    assert "x -10.0..10.0, y -10.0..10.0, z -7.0..1.0" in out
    assert "values      -1000.0 .. 40.0 HU" in out
    assert "Structure set: Contours" in out
    gtv = next(line for line in out.splitlines() if "GTV" in line)
    # two 10 x 10 mm planes, 2 mm slabs: 0.40 cm³
    assert gtv.split()[:4] == ["1", "GTV", "GTV", "0.40"]
    assert "10.0 x 10.0 x 2.0" in gtv
    assert "Warnings: none" in out


def test_info_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _with_structures(tmp_path)
    assert main(["info", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patient_position"] == "FFS"
    assert summary["ct"]["size"] == {"column": 20, "row": 20, "slice": 4}
    assert summary["ct"]["direction"] == [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]]
    (gtv,) = summary["structures"]
    assert gtv["name"] == "GTV"
    assert gtv["volume_cc"] == pytest.approx(0.4)
    assert gtv["extent_mm"] == [10.0, 10.0, 2.0]
    assert gtv["contours"] == 2


def test_info_without_structures_lists_the_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _study(tmp_path)
    with pytest.warns(UserWarning, match="no RT Structure Set"):
        assert main(["info", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["structures"] == []
    assert len(summary["warnings"]) == 1
    assert "no RT Structure Set" in summary["warnings"][0]


def test_info_single_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _with_structures(tmp_path)
    assert main(["info", str(paths[0])]) == 0
    out = capsys.readouterr().out
    assert "Modality: CT (CT Image Storage)" in out
    assert "size        20 x 20 x 1 voxels" in out
    assert main(["info", str(tmp_path / "RS.dcm"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["modality"] == "RTSTRUCT"
    assert [s["name"] for s in summary["structures"]] == ["GTV"]
    assert main(["info", str(tmp_path / "RS.dcm")]) == 0
    assert "GTV" in capsys.readouterr().out


def test_info_single_dose_and_plan_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pydicom

    import rtplan

    paths = _study(tmp_path / "ct")
    ct0 = pydicom.dcmread(paths[0])
    rd = ct_factory.write_rtdose(
        tmp_path / "RD.dcm", study_uid=ct0.StudyInstanceUID, frame_uid=ct0.FrameOfReferenceUID
    )
    assert main(["info", str(rd)]) == 0
    out = capsys.readouterr().out
    assert "Modality: RTDOSE (RT Dose Storage)" in out
    assert "size        4 x 3 x 2 voxels (columns x rows x slices)" in out
    assert "spacing     2.000 x 2.000 x 2.000 mm" in out
    # stored 0..2300 in steps of 100, 0.001 Gy each: 2.3 Gy at most
    assert "max         2.300 Gy (PHYSICAL, PLAN)" in out
    ct = rtplan.io.read_ct(tmp_path / "ct")
    beams = [rtplan.Beam(energy="6X", gantry_deg=g, mu=50.0) for g in (90.0, 270.0)]
    plan = rtplan.Plan(beams=beams, prescription_gy=20.0, fractions=5, name="Lateral pair")
    rp = rtplan.io.write_rtplan(plan, tmp_path / "RP.dcm", reference=ct)
    assert main(["info", str(rp), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["modality"] == "RTPLAN"
    assert summary["plan"]["beams"] == 2
    assert summary["plan"]["prescription_gy"] == 20.0
    assert summary["plan"]["fractions"] == 5
    assert summary["plan"]["total_mu"] == 100.0
    assert summary["plan"]["patient_position"] == "FFS"  # from the CT
    assert main(["info", str(rp)]) == 0
    assert "Plan: Lateral pair: 2 beam(s), prescription 20.00 Gy in 5 fraction(s)" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("missing", r"no such file: .*absent"),
        ("text", r"notes\.txt is not a DICOM file"),
        ("ambiguous", r"2 CT series found.*--series-uid"),
        ("empty", r"no CT image found in .*: no DICOM file there"),
    ],
)
def test_info_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str, message: str
) -> None:
    target = tmp_path / "absent"
    if make == "text":
        target = tmp_path / "notes.txt"
        target.write_text("hello")
    elif make == "ambiguous":
        _study(tmp_path / "a", series_uid="1.2.826.0.1.1")
        _study(tmp_path / "b", series_uid="1.2.826.0.1.2")
        target = tmp_path
    elif make == "empty":
        target = tmp_path / "empty"
        target.mkdir()
    assert main(["info", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("rtplan info: error: ")
    assert re.search(message, lines[0])


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [ln for ln in captured.err.strip().splitlines() if ln.startswith("rtplan info: ")]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_info_truncated_slice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _with_structures(tmp_path)
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[:-300])  # the copy stopped inside the pixel data
    line = _one_line_error(capsys, ["info", str(tmp_path)])
    assert re.search(r"error: cannot decode the pixel data of CT slice \S+CT_0001\.dcm", line)
    assert "the file is truncated, copy or export it again" in line
    line = _one_line_error(capsys, ["info", str(paths[1])])
    assert "CT_0001.dcm" in line
    assert "truncated" in line


def test_info_missing_image_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pydicom

    paths = _with_structures(tmp_path)
    ds = pydicom.dcmread(paths[2])
    del ds.ImagePositionPatient
    ds.save_as(paths[2])
    line = _one_line_error(capsys, ["info", str(tmp_path)])
    assert re.search(
        r"CT slice \S+CT_0002\.dcm has no valid ImagePositionPatient \(0020,0032\)", line
    )


def test_info_structure_set_of_another_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _study(tmp_path)
    ct_factory.write_rtstruct(
        tmp_path / "RS.dcm",
        paths,
        rois=[("GTV", "GTV", [np.add(SQUARE, (0.0, 0.0, -2.0))])],
        frame_uid="1.2.826.0.1.99",
    )
    line = _one_line_error(capsys, ["info", str(tmp_path)])
    assert "RS.dcm" in line
    assert "1.2.826.0.1.99" in line  # the structure set's frame of reference ...
    import pydicom

    ct_frame = str(pydicom.dcmread(paths[0]).FrameOfReferenceUID)
    assert ct_frame in line  # ... and the CT's


def test_info_folder_with_two_studies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, series_uid in (("a", "1.2.826.0.1.1"), ("b", "1.2.826.0.1.2")):
        paths = _study(tmp_path / name, series_uid=series_uid)
        contours = [np.add(SQUARE, (0.0, 0.0, -2.0))]
        ct_factory.write_rtstruct(
            tmp_path / name / "RS.dcm", paths, rois=[("GTV", "GTV", contours)], label=name.upper()
        )
    line = _one_line_error(capsys, ["info", str(tmp_path)])
    assert "2 RT Structure Sets found" in line
    assert "--structure-set-uid" in line
    # each candidate is named with its file, so the user can tell them apart
    assert str(tmp_path / "a" / "RS.dcm") in line
    assert str(tmp_path / "b" / "RS.dcm") in line
    uids = re.findall(r"structure_set_uid='([0-9.]+)'", line)
    assert len(uids) == 2
    assert main(["info", str(tmp_path), "--structure-set-uid", uids[1], "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["structure_set"]["label"] == "B"
    assert summary["ct"]["series_instance_uid"] == "1.2.826.0.1.2"


def test_info_series_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _study(tmp_path / "a", series_uid="1.2.826.0.1.1")
    _study(tmp_path / "b", series_uid="1.2.826.0.1.2")
    with pytest.warns(UserWarning, match="no RT Structure Set"):
        code = main(["info", str(tmp_path), "--series-uid", "1.2.826.0.1.2", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ct"]["series_instance_uid"] == "1.2.826.0.1.2"


def test_info_on_sample_data(capsys: pytest.CaptureFixture[str]) -> None:
    from rtplan.data import get_path

    assert main(["info", str(get_path("thigh_sarcoma")), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ct"]["units"] == "HU"
    assert len(summary["structures"]) > 3


def test_info_reports_tissue_composition_and_target_distances(
    spine_path: Path, capsys: pytest.CaptureFixture[str], phantoms
) -> None:
    """Tissue cm³ inside the body and target -> organ distances (mm)."""
    assert main(["info", str(spine_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    tissue = out["tissue_cc"]
    assert out["tissue_region"] == "Body"
    body_cc = next(s["volume_cc"] for s in out["structures"] if s["name"] == "Body")
    assert sum(tissue.values()) == pytest.approx(body_cc, rel=0.02)
    truth = phantoms.ANALYTIC_VOLUMES_CC["spine_metastasis"]
    assert truth["Kidney_L"] < tissue["soft_tissue"]
    assert tissue["cortical_bone"] > 0
    assert tissue["cancellous_bone"] > 0
    distances = out["target_organ_distances_mm"]
    assert distances["GTV"]["Vertebra"] == 0.0  # the metastasis lies in the vertebral body
    # the PTV keeps 6.0 mm from the canal by construction; masks on 2.3 mm pixels: +-1 voxel
    assert distances["PTV"]["SpinalCanal"] == pytest.approx(6.0, abs=2.4)
    assert distances["GTV"]["SpinalCanal"] > distances["PTV"]["SpinalCanal"]
    main(["info", str(spine_path)])
    text = capsys.readouterr().out
    assert "Tissue composition inside Body" in text
    assert "Minimum distance from each target to each organ at risk" in text


def test_info_quiet_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _with_structures(tmp_path)
    assert main(["info", str(tmp_path), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["info", str(tmp_path / "absent"), "-q"]) == 2
    assert capsys.readouterr().err.startswith("rtplan info: error: ")
