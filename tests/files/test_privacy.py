"""No patient identifier in overlays, reports, logs, warnings or CLI output unless asked."""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import rtplan
from files.hostile_study import NAME, PATIENT_FIELDS, HostileStudy
from rtplan.cli.main import main


def _found(text: str) -> list[str]:
    low = text.lower()
    return [v for v in PATIENT_FIELDS if v.lower() in low]


def test_no_identifier_is_burned_into_an_overlay_unless_asked(hostile: HostileStudy) -> None:
    study = rtplan.load_study(hostile.folder)
    ct = study.ct
    assert ct.series is not None
    assert ct.series.patient["PatientName"] == NAME
    other = replace(ct, series=replace(ct.series, patient={
        **ct.series.patient, "PatientName": "Other^Person", "PatientID": "X1",
        "PatientBirthDate": "20000101"}))  # fmt: skip
    ptv = study.structures["PTV"]
    z = float(ptv.centroid_mm[2])
    a = rtplan.render_overlay(ct, plane="axial", at_mm=z, structures=[ptv])
    b = rtplan.render_overlay(other, plane="axial", at_mm=z, structures=[ptv])
    assert np.array_equal(a, b)  # the name changes no pixel: nothing of it is drawn
    shown = rtplan.render_overlay(ct, plane="axial", at_mm=z, structures=[ptv], show_patient=True)
    shown_other = rtplan.render_overlay(
        other, plane="axial", at_mm=z, structures=[ptv], show_patient=True
    )
    assert not np.array_equal(shown, a)  # asked: the identifiers are drawn
    assert not np.array_equal(shown, shown_other)


def test_report_logs_and_warnings_carry_no_identifier(
    hostile: HostileStudy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from rtplan.report import review_report

    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        study = rtplan.load_study(hostile.folder)
        dose = study.doses[0]
        out = review_report(tmp_path / "report.html", study, dose=dose, plan=study.plans[0])
        rtplan.io.write_rtdose(dose, tmp_path / "RD.dcm", reference=study.ct, plan_sop_uid="1.2.3")
    html = out.read_text(encoding="utf-8")
    assert "<html" in html
    assert _found(html) == []
    assert _found("\n".join(r.getMessage() for r in caplog.records)) == []
    assert _found("\n".join(str(w.message) for w in seen)) == []


def test_cli_output_carries_no_identifier_unless_asked(
    hostile: HostileStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["info", str(hostile.folder)], ["info", str(hostile.folder), "--json"],
                 ["info", str(hostile.files["RP"])]):  # fmt: skip
        assert main(argv) == 0
        out = capsys.readouterr()
        assert _found(out.out + out.err) == [], argv
    assert main(["info", str(hostile.folder), "--show-identifiers"]) == 0
    assert NAME in capsys.readouterr().out
    png = tmp_path / "o.png"
    assert main(["overlay", str(hostile.folder), "-o", str(png)]) == 0
    out = capsys.readouterr()
    assert _found(out.out + out.err) == []
    # nor in the file: no text chunk (PNG metadata) names the patient
    assert png.read_bytes().startswith(b"\x89PNG")
    assert _found(png.read_bytes().decode("latin-1")) == []
