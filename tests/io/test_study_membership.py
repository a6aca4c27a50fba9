"""Which plan a dose belongs to, its prescription, and the frame/space checks of a study."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

import rtplan
from rtplan.errors import DicomReadError, PlanError
from rtplan.io import PlanMatch, Prescription
from rtplan.io.study import Study


def _plan(study: Study, rx: float | None, fractions: int = 25, name: str = "thigh") -> rtplan.Plan:
    beam = rtplan.Beam(
        energy="6X",
        gantry_deg=90.0,
        mu=100.0,
        isocenter_mm=tuple(study.structures["PTV"].centroid_mm),
    )
    return rtplan.Plan(beams=[beam], prescription_gy=rx, fractions=fractions, name=name)


def _dose(study: Study) -> rtplan.Dose:
    """A whole-plan dose of the size the plans here prescribe (about 50 Gy)."""
    return rtplan.Dose(array=np.full(study.ct.grid.shape, 50.0), grid=study.ct.grid)


@pytest.fixture
def study_dir(tmp_path: Path, thigh_path: Path) -> Path:
    folder = tmp_path / "study"
    shutil.copytree(thigh_path, folder)
    return folder


# ---------------------------------------------------------------------------- plan_for
def test_plan_in_the_study_is_found_by_its_uid(study_dir: Path) -> None:
    base = rtplan.load_study(study_dir)
    plan = _plan(base, 50.0)
    rp = rtplan.io.write_rtplan(plan, study_dir / "RP.dcm", reference=base.ct)
    rtplan.io.write_rtplan(
        _plan(base, 60.0, name="other"), study_dir / "RP2.dcm", reference=base.ct
    )
    rtplan.io.write_rtdose(
        _dose(base), study_dir / "RD.dcm", reference=base.ct, plan_sop_uid=plan.uid
    )
    study = rtplan.load_study(study_dir)
    (dose,) = study.doses
    match = study.plan_for(dose)
    assert isinstance(match, PlanMatch)
    assert match.plan is not None
    assert match.plan.uid == plan.uid
    assert match.plan.prescription_gy == 50.0
    assert match.source == f"RT Plan {rp}"
    # the prescription is the referenced plan's, not the other plan's
    assert study.prescription_for(dose) == Prescription(50.0, 25, f"RT Plan {rp}")


def test_plan_next_to_a_dose_outside_the_study(study_dir: Path, tmp_path: Path) -> None:
    study = rtplan.load_study(study_dir)
    plan = _plan(study, 45.0, fractions=15)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("not DICOM")  # passed over
    rp = rtplan.io.write_rtplan(plan, elsewhere / "RP.dcm", reference=study.ct)
    rd = rtplan.io.write_rtdose(
        _dose(study), elsewhere / "RD.dcm", reference=study.ct, plan_sop_uid=plan.uid
    )
    dose = rtplan.io.read_rtdose(rd)
    assert study.plan_for(dose) == PlanMatch(None, "")  # not searched without the file
    found, source = study.plan_for(dose, dose_path=rd)
    assert found is not None
    assert found.uid == plan.uid
    assert source == f"RT Plan {rp}"
    rx = study.prescription_for(dose, dose_path=rd)
    assert rx == (45.0, 15, f"RT Plan {rp}")
    assert rtplan.io.plan_file_next_to(rd, "1.2.3.4") is None


def test_a_dose_without_plan_reference_has_no_plan(study_dir: Path) -> None:
    study = rtplan.load_study(study_dir)
    dose = _dose(study)
    assert dose.plan_uid == ""
    assert study.plan_for(dose) == (None, "")
    assert study.prescription_for(dose) == Prescription(None, None, "")


@pytest.mark.parametrize(
    ("prescriptions_gy", "expected"),
    [
        ((50.0, 50.0), Prescription(50.0, 25, "the study's RT Plan")),
        ((50.0, 60.0), Prescription(None, None, "")),  # never picked by chance
        ((50.0,), Prescription(50.0, 25, "the study's RT Plan")),
    ],
)
def test_study_plans_give_a_prescription_only_when_they_agree(
    study_dir: Path, tmp_path: Path, prescriptions_gy: tuple[float, ...], expected: Prescription
) -> None:
    base = rtplan.load_study(study_dir)
    for n, rx in enumerate(prescriptions_gy):
        rtplan.io.write_rtplan(_plan(base, rx), study_dir / f"RP_{n}.dcm", reference=base.ct)
    study = rtplan.load_study(study_dir)
    assert len(study.plans) == len(prescriptions_gy)
    rd = rtplan.io.write_rtdose(
        _dose(study),
        tmp_path / "RD.dcm",
        reference=study.ct,
        plan_sop_uid=pydicom.uid.generate_uid(),  # a plan nowhere to be found
    )
    assert study.prescription_for(rtplan.io.read_rtdose(rd), dose_path=rd) == expected


def test_agreeing_plans_with_different_fractions_give_no_fractions(study_dir: Path) -> None:
    base = rtplan.load_study(study_dir)
    rtplan.io.write_rtplan(_plan(base, 50.0, 25), study_dir / "RP_1.dcm", reference=base.ct)
    rtplan.io.write_rtplan(_plan(base, 50.0, 10), study_dir / "RP_2.dcm", reference=base.ct)
    study = rtplan.load_study(study_dir)
    assert study.prescription_for(_dose(study)) == (50.0, None, "the study's RT Plan")


def test_an_explicit_plan_wins_and_must_hold_a_prescription(study_dir: Path) -> None:
    study = rtplan.load_study(study_dir)
    rp = rtplan.io.write_rtplan(_plan(study, 36.0, 12), study_dir / "RP.dcm", reference=study.ct)
    chosen = rtplan.io.read_rtplan(rp)
    assert study.prescription_for(_dose(study), plan=chosen) == (36.0, 12, f"RT Plan {rp}")
    with pytest.raises(PlanError, match=r"RT Plan bare holds no prescription.*--prescription-gy"):
        study.prescription_for(_dose(study), plan=rtplan.Plan(name="bare"))


# ---------------------------------------------------------------------------- checks
def test_check_dose_and_plan_accept_this_studys_objects(study_dir: Path) -> None:
    study = rtplan.load_study(study_dir)
    plan = _plan(study, 50.0)
    rp = rtplan.io.write_rtplan(plan, study_dir / "RP.dcm", reference=study.ct)
    rd = rtplan.io.write_rtdose(
        _dose(study), study_dir / "RD.dcm", reference=study.ct, plan_sop_uid=plan.uid
    )
    study.check_dose(rtplan.io.read_rtdose(rd))
    study.check_plan(rtplan.io.read_rtplan(rp))
    study.check_plan(rtplan.Plan())  # no frame of reference named: nothing to check
    study.check_dose(_dose(study))  # no provenance: only the space is checked


def _other_frame(path: Path) -> Path:
    ds = pydicom.dcmread(path)
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.99"
    ds.save_as(path)
    return path


def test_check_dose_names_the_file_and_both_frames(study_dir: Path, tmp_path: Path) -> None:
    study = rtplan.load_study(study_dir)
    rd = rtplan.io.write_rtdose(
        _dose(study), tmp_path / "RD.dcm", reference=study.ct, plan_sop_uid="1.2.3"
    )
    dose = rtplan.io.read_rtdose(_other_frame(rd))
    ct_frame = study.ct.series.frame_of_reference_uid if study.ct.series else ""
    expected = (
        f"{rd}: the RT Dose is in frame of reference 1.2.826.0.1.3680043.10.99, not in the "
        f"CT's of {study_dir} ({ct_frame}); it belongs to another study: give the RT Dose "
        "made on this CT"
    )
    with pytest.raises(DicomReadError) as info:
        study.check_dose(dose)
    assert str(info.value) == expected
    with pytest.raises(DicomReadError, match=r"^--dose RD\.dcm: the RT Dose is in frame"):
        study.check_dose(dose, source="--dose RD.dcm")


def test_check_dose_refuses_a_grid_outside_the_ct(study_dir: Path) -> None:
    study = rtplan.load_study(study_dir)
    g = study.ct.grid
    far = rtplan.Grid(
        shape=(4, 5, 6),
        spacing_mm=g.spacing_mm,
        origin_mm=(g.origin_mm[0] + 900.0, g.origin_mm[1], g.origin_mm[2]),
    )
    with pytest.raises(
        DicomReadError,
        match=r"^RD: the dose grid \(x 71\d\.\.7\d\d, .*\) lies outside the CT of .*; give the "
        r"RT Dose computed on this CT$",
    ):
        study.check_dose(rtplan.Dose(array=np.zeros(far.shape), grid=far), source="RD")
    # touching the CT's outer voxel edge is inside
    edge = rtplan.Grid(
        shape=(1, 1, 1),
        spacing_mm=g.spacing_mm,
        origin_mm=tuple(g.corners_mm().max(axis=0) + 0.5 * np.array(g.spacing_ijk_mm)),
    )
    study.check_dose(rtplan.Dose(array=np.zeros(edge.shape), grid=edge))


def test_check_plan_names_the_file_and_both_frames(study_dir: Path, tmp_path: Path) -> None:
    study = rtplan.load_study(study_dir)
    rp = _other_frame(
        rtplan.io.write_rtplan(_plan(study, 50.0), tmp_path / "RP.dcm", reference=study.ct)
    )
    with pytest.raises(
        DicomReadError,
        match=rf"^{rp}: the RT Plan is in frame of reference 1\.2\.826\.0\.1\.3680043\.10\.99, "
        r"not in the CT's of .* it belongs to another study: give the RT Plan made on this CT$",
    ):
        study.check_plan(rtplan.io.read_rtplan(rp))
