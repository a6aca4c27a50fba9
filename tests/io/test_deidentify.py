"""De-identification (PS3.15 Basic Profile): valid objects, references kept, no identifier."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest

import factories
import rtplan
from files.hostile_study import (
    BIRTH_DATE,
    IDENTIFIERS,
    NAME,
    PATIENT_ID,
    HostileStudy,
    make_hostile_study,
)
from rtplan.errors import DicomReadError, RtplanError, RtplanWarning
from rtplan.io import Deidentifier

SALT = "a test secret"


@dataclass(frozen=True)
class Run:
    original: HostileStudy
    result: rtplan.io.DeidentificationResult
    by_modality: dict[str, list[Path]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    original = make_hostile_study(tmp_path_factory.mktemp("deid") / "in")
    result = rtplan.io.deidentify(original.folder, original.folder.parent / "out", salt=SALT)
    by: dict[str, list[Path]] = {}
    for p in result.files:
        by.setdefault(p.name.split(".")[0], []).append(p)
    return Run(original=original, result=result, by_modality=by)


def _recode_rtdose_16bit(path: Path, out: Path) -> Path:
    """The same RT Dose stored as 16-bit (dciodvfy 1.00~20220618 aborts on 32-bit pixels)."""
    ds = pydicom.dcmread(path)
    values = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    scale = float(np.abs(values).max()) / 65535 * (1 + 1e-9)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.DoseGridScaling = rtplan.io.rtdose.ds_str(scale)
    ds.PixelData = np.rint(values / float(ds.DoseGridScaling)).astype("<u2").tobytes()
    ds.save_as(out, enforce_file_format=True)
    return out


def test_every_output_passes_dciodvfy(run: Run, tmp_path: Path) -> None:
    by = run.by_modality
    assert sorted(by) == ["CT", "OT", "PR", "RTDOSE", "RTPLAN", "RTSTRUCT"]
    assert len(by["CT"]) == 40
    assert len(by["RTDOSE"]) == 2
    checked = [by["CT"][0], by["CT"][-1], by["RTSTRUCT"][0], by["RTPLAN"][0], by["OT"][0]]
    checked.append(by["PR"][0])
    for path in by["RTDOSE"]:
        bits = pydicom.dcmread(path, stop_before_pixels=True).BitsAllocated
        checked.append(path if bits == 16 else _recode_rtdose_16bit(path, tmp_path / "rd16.dcm"))
    for path in checked:
        assert factories.dciodvfy(path) == [], path


def test_the_outputs_agree_as_one_patient_study_and_frame(run: Run, tmp_path: Path) -> None:
    """dcentvfy (dicom3tools) compares the Patient, Study, Series and Frame of Reference
    attributes of every output: the de-identified objects still belong together. The 32-bit
    RT Dose, on which this build of dicom3tools aborts, takes part recoded to 16 bits (the
    same attributes and UIDs)."""
    exe = shutil.which("dcentvfy")
    assert exe is not None, "dcentvfy not found: apt-get install dicom3tools"
    files = []
    for n, path in enumerate(run.result.files):
        bits = pydicom.dcmread(path, stop_before_pixels=True).get("BitsAllocated", 16)
        files.append(path if bits <= 16 else _recode_rtdose_16bit(path, tmp_path / f"{n}.dcm"))
    proc = subprocess.run(
        [exe, *map(str, files)], capture_output=True, text=True, check=False, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert "Assertion" not in out, out
    assert [ln for ln in out.splitlines() if ln.startswith("Error")] == [], out


def test_no_original_identifier_or_uid_survives_in_the_bytes(run: Run) -> None:
    blob = b"".join(p.read_bytes() for p in run.result.files).lower()
    for value in IDENTIFIERS:
        assert value.lower().encode() not in blob, value
    assert len(run.original.uids) > 50
    raw = b"".join(p.read_bytes() for p in run.result.files)
    leaked = [uid for uid in run.original.uids if uid.encode() in raw]
    assert leaked == []
    original_blob = b"".join(p.read_bytes() for p in run.original.folder.glob("*.dcm")).lower()
    assert NAME.split("^")[1].lower().encode() in original_blob  # the check can fail


def test_the_study_reads_back_whole_with_its_references(run: Run) -> None:
    before = rtplan.load_study(run.original.folder)
    after = rtplan.load_study(run.result.folder)
    assert after.ct.grid == before.ct.grid
    assert np.array_equal(after.ct.array, before.ct.array)
    renamed = {"Quokkamander GTV": "ROI1"}  # an ROI name holding the patient's name is cleaned
    assert [s.name for s in after.structures] == [
        renamed.get(s.name, s.name) for s in before.structures
    ]
    for a, b in zip(before.structures, after.structures, strict=True):
        assert a.volume_cc == pytest.approx(b.volume_cc)
    assert len(after.plans) == 1
    assert len(after.doses) == 2
    for dose in after.doses:
        match = after.plan_for(dose)
        assert match.plan is not None
        assert match.plan.uid == after.plans[0].uid
        after.check_dose(dose, source="de-identified dose")
    ss = pydicom.dcmread(run.by_modality["RTSTRUCT"][0])
    frame = ss.ReferencedFrameOfReferenceSequence[0]
    ct0 = pydicom.dcmread(run.by_modality["CT"][0], stop_before_pixels=True)
    assert frame.FrameOfReferenceUID == ct0.FrameOfReferenceUID
    series = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == ct0.SeriesInstanceUID
    ct_uids = {
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in run.by_modality["CT"]
    }
    contour_refs = {
        img.ReferencedSOPInstanceUID
        for roi in ss.ROIContourSequence
        for c in roi.get("ContourSequence", [])
        for img in c.get("ContourImageSequence", [])
    }
    assert contour_refs
    assert contour_refs <= ct_uids
    plan = pydicom.dcmread(run.by_modality["RTPLAN"][0])
    assert plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == ss.SOPInstanceUID
    pr = pydicom.dcmread(run.by_modality["PR"][0])
    refs = {
        i.ReferencedSOPInstanceUID for i in pr.ReferencedSeriesSequence[0].ReferencedImageSequence
    }
    assert refs == ct_uids
    assert {ct0.StudyInstanceUID} == {
        pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID for p in run.result.files
    }


def test_the_profile_is_recorded_and_applied(run: Run) -> None:
    for path in (run.by_modality["CT"][0], run.by_modality["RTPLAN"][0], run.by_modality["PR"][0]):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.PatientIdentityRemoved == "YES"
        codes = [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
        assert codes[0] == "113100"
        assert codes == ["113100", "113103"]  # Basic Profile, Clean Graphics: in every file
        assert list(ds.DeidentificationMethod) == [
            f"rtplan {rtplan.__version__}: PS3.15 E.1 Basic Profile",
            "Clean Graphics Option",
        ]
        assert ds.LongitudinalTemporalInformationModified == "REMOVED"
        assert str(ds.PatientName) == "ANONYMOUS"
        assert ds.PatientID.startswith("ANON")
        assert ds.PatientID != PATIENT_ID
        assert ds.PatientBirthDate == ds.StudyDate == ds.AccessionNumber == ""
        for gone in ("StudyDescription", "SeriesDescription", "InstitutionName",
                     "InstitutionAddress", "OtherPatientIDs", "StationName", "PatientAge",
                     "PatientWeight", "InstanceCreationDate"):  # fmt: skip
            assert gone not in ds, (path.name, gone)
        assert not [e for e in ds.iterall() if e.tag.is_private]
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    patients = {pydicom.dcmread(p, stop_before_pixels=True).PatientID for p in run.result.files}
    assert len(patients) == 1  # one pseudonym for the patient, in every object
    plan = pydicom.dcmread(run.by_modality["RTPLAN"][0])
    assert plan.RTPlanLabel == "RTPLAN"
    assert plan.RTPlanDate == "19000101"


def test_the_replacements_follow_the_salt(run: Run, tmp_path: Path) -> None:
    ct = run.original.files["CT"]
    again = rtplan.io.deidentify(ct, tmp_path / "again", salt=SALT)
    other = rtplan.io.deidentify(ct, tmp_path / "other", salt="another secret")
    same = pydicom.dcmread(again.files[0], stop_before_pixels=True)
    assert again.files[0].name in {p.name for p in run.by_modality["CT"]}
    assert other.files[0].name not in {p.name for p in run.by_modality["CT"]}
    assert pydicom.dcmread(other.files[0], stop_before_pixels=True).PatientID != same.PatientID
    assert "salt" not in repr(Deidentifier(salt=SALT))
    assert SALT not in repr(again)


def test_retain_patient_characteristics(run: Run, tmp_path: Path) -> None:
    done = rtplan.io.deidentify(
        run.original.files["CT"], tmp_path / "o", retain_patient_characteristics=True
    )
    ds = pydicom.dcmread(done.files[0], stop_before_pixels=True)
    assert (ds.PatientSex, ds.PatientAge, float(ds.PatientWeight)) == ("F", "068Y", 71.5)
    assert ds.PatientBirthDate == ""
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == [
        "113100",
        "113108",
        "113103",
    ]


def test_writers_join_a_deidentified_study(run: Run, tmp_path: Path) -> None:
    """A writer given the run's Deidentifier references the de-identified CT."""
    study = rtplan.load_study(run.original.folder)  # the identified originals
    dose = rtplan.Dose(array=np.full(study.ct.grid.shape, 2.0), grid=study.ct.grid)
    deid = run.result.deidentifier
    plan_uid = study.plans[0].uid
    out = rtplan.io.write_rtdose(
        dose, tmp_path / "RD.dcm", reference=study.ct, plan_sop_uid=plan_uid, deidentify=deid
    )
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    anon_ct = pydicom.dcmread(run.by_modality["CT"][0], stop_before_pixels=True)
    anon_plan = pydicom.dcmread(run.by_modality["RTPLAN"][0], stop_before_pixels=True)
    assert ds.FrameOfReferenceUID == anon_ct.FrameOfReferenceUID
    assert ds.StudyInstanceUID == anon_ct.StudyInstanceUID
    assert ds.PatientID == anon_ct.PatientID
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == anon_plan.SOPInstanceUID
    blob = out.read_bytes().lower()
    assert not [v for v in IDENTIFIERS if v.lower().encode() in blob]
    single = rtplan.io.write_rtdose(
        dose, tmp_path / "RD1.dcm", reference=study.ct, plan_sop_uid=plan_uid, deidentify=True
    )
    assert pydicom.dcmread(single, stop_before_pixels=True).PatientIdentityRemoved == "YES"


def test_burned_in_images_and_other_files_are_left_out(run: Run, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    sc = pydicom.dcmread(run.original.files["SC"])
    sc.BurnedInAnnotation = "YES"
    sc.save_as(src / "SC_burned.dcm", enforce_file_format=True)
    (src / "README.txt").write_text("notes")
    ct = pydicom.dcmread(run.original.files["CT"])
    ct.save_as(src / "CT.dcm", enforce_file_format=True)
    with pytest.warns(RtplanWarning, match=r"SC_burned\.dcm: not de-identified: .*burned-in"):
        done = rtplan.io.deidentify(src, tmp_path / "out")
    assert [p.name.split(".")[0] for p in done.files] == ["CT"]
    assert sorted((p.name, why[:12]) for p, why in done.skipped) == [
        ("README.txt", "not a DICOM "),
        ("SC_burned.dcm", "its pixels s"),
    ]


def test_bad_folders_are_refused(run: Run, tmp_path: Path) -> None:
    with pytest.raises(DicomReadError, match="no such file or folder"):
        rtplan.io.deidentify(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(RtplanError, match="lies inside the input"):
        rtplan.io.deidentify(run.original.folder, run.original.folder / "anon")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.dcm").write_text("someone's")
    with pytest.raises(RtplanError, match=r"busy is not empty"):
        rtplan.io.deidentify(run.original.files["CT"], busy)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DicomReadError, match="no DICOM object to de-identify"):
        rtplan.io.deidentify(empty, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_the_birth_date_is_gone_even_from_kept_texts(tmp_path: Path) -> None:
    ds = pydicom.dcmread(rtplan.data.get_path("thigh_sarcoma") / "CT_001.dcm")
    ds.PatientBirthDate = BIRTH_DATE
    ds.ImageComments = f"born {BIRTH_DATE}"  # removed by the table (X)
    ds.ContrastBolusAgent = f"agent {BIRTH_DATE}"  # Z/D
    ds.BodyPartExamined = "THIGH"
    ds.PerformedProcedureStepDescription = "x"
    ds.add_new(0x00181030, "LO", f"protocol for {NAME.split('^')[0]}")  # ProtocolName, X/D
    ds.add_new(0x00189004, "CS", "RESEARCH")  # Content Qualification, kept
    ds.add_new(0x00400254, "LO", "kept?")  # Performed Procedure Step Description, X
    Deidentifier(salt="s").apply(ds)
    text = str(ds).lower()
    assert BIRTH_DATE not in text
    assert "zyxwvutsrq" not in text
    assert ds.ContentQualification == "RESEARCH"
    assert ds.BodyPartExamined == "THIGH"
