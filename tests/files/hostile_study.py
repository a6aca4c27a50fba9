"""A study whose headers carry distinctive identifiers (and hostile text), for privacy tests.

The thigh_sarcoma sample is copied with its Patient, Study and equipment identifiers set
to distinctive values, private elements, other patient IDs, an institution and hostile
texts (``../``, ``/``, NUL, very long strings) in descriptions and one ROI name; an RT
Plan, an RT Dose (16 and 32 bit), a Secondary Capture and a presentation state are then
written with rtplan's writers, so that every object kind references the others.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom

import rtplan
from rtplan.guidance import Trajectory, render_overlay, write_presentation_state
from rtplan.io.capture import write_secondary_capture

NAME = "Zyxwvutsrq^Quokkamander"
PATIENT_ID = "PID-7731-XQZ"
BIRTH_DATE = "19551231"
ACCESSION = "ACC88812345"
INSTITUTION = "Sankt Hostilius Spital"
PHYSICIAN = "Drwhovian^Hostile"
OTHER_ID = "OTHER-ID-4455"
HOSTILE_TEXT = "../../etc/passwd/\0" + "x" * 60
#: The name given to the Femur ROI: path separators, parent references, long.
HOSTILE_ROI = "../../Femur/../" + "y" * 44
#: The identifying values of the patient's attributes (outputs never show them unless asked);
#: the given name is also planted in an ROI name and the structure set label, free texts that
#: outputs show as they are (de-identification cleans them).
PATIENT_FIELDS = (
    "Zyxwvutsrq",
    PATIENT_ID,
    BIRTH_DATE,
    "1955-12-31",
    ACCESSION,
    "Hostilius",
    "Drwhovian",
    OTHER_ID,
)
#: Every identifying value planted (UIDs of the originals are checked separately).
IDENTIFIERS = (
    "Zyxwvutsrq",
    "Quokkamander",
    PATIENT_ID,
    BIRTH_DATE,
    ACCESSION,
    "Hostilius",
    "Drwhovian",
    OTHER_ID,
)


@dataclass(frozen=True)
class HostileStudy:
    """The folder and what was written into it."""

    folder: Path
    files: dict[str, Path]
    uids: frozenset[str]  # every UID of the originals that is not a standard one


def _plant(ds: pydicom.Dataset) -> None:
    ds.PatientName = NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = "F"
    ds.PatientAge = "068Y"
    ds.PatientWeight = "71.5"
    ds.AccessionNumber = ACCESSION
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = "1 Hostilius Street"
    ds.ReferringPhysicianName = PHYSICIAN
    ds.OtherPatientIDs = OTHER_ID
    ds.StudyDescription = "scan of " + NAME + "\0/../" + "z" * 20
    ds.SeriesDescription = HOSTILE_TEXT[:64].replace("\0", "")
    ds.StationName = "HOSTILIUSCT1"
    block = ds.private_block(0x0011, "HOSTILE PRIVATE", create=True)
    block.add_new(0x01, "LO", NAME.replace("^", " "))


def _plant_rois(ds: pydicom.Dataset) -> None:
    """One ROI name and the set label carry the patient's name."""
    ds.StructureSetROISequence[0].ROIName = "Quokkamander GTV"
    for roi in ds.StructureSetROISequence:
        if roi.ROIName == "Femur":
            roi.ROIName = HOSTILE_ROI
    ds.StructureSetLabel = "Quokkamander"
    for obs in ds.get("RTROIObservationsSequence", []):
        obs.ROIInterpreter = PHYSICIAN


def _collect_uids(folder: Path) -> frozenset[str]:
    from pydicom.uid import UID

    out: set[str] = set()
    for path in folder.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        for elem in ds.iterall():
            if elem.VR == "UI" and elem.value:
                values = elem.value if elem.VM > 1 else [elem.value]
                out.update(str(v) for v in values if UID(str(v)).name == str(v))
    return frozenset(out)


def make_hostile_study(out: Path) -> HostileStudy:
    """Write the hostile study into ``out`` (created)."""
    from pydicom.uid import generate_uid

    out.mkdir(parents=True, exist_ok=True)
    for src in sorted(rtplan.data.get_path("thigh_sarcoma").glob("*.dcm")):
        ds = pydicom.dcmread(src)
        _plant(ds)
        if ds.Modality == "RTSTRUCT":
            _plant_rois(ds)
        ds.save_as(out / src.name, enforce_file_format=True)
    study = rtplan.load_study(out)
    ct, ss = study.ct, study.structures
    ptv = ss["PTV"]
    files = {"RS": Path(ss.source) if ss.source else out / "RS.dcm"}
    plan = rtplan.Plan.conformal(
        ptv, gantry_angles_deg=[0, 120, 240], energy="6X", prescription_gy=30.0, fractions=10
    )
    plan = replace(plan, beams=[replace(b, mu=100.0) for b in plan.beams])
    plan_uid = str(generate_uid())
    files["RP"] = rtplan.io.write_rtplan(
        plan, out / "RP.dcm", reference=ct, structures_sop_uid=ss.sop_instance_uid,
        sop_instance_uid=plan_uid,
    )  # fmt: skip
    grid = ct.grid.with_spacing(6.0)
    r2 = np.sum((grid.centers_mm() - ptv.centroid_mm) ** 2, axis=-1)
    dose = rtplan.Dose(array=0.4 + 32.6 * np.exp(-r2 / (2 * 35.0**2)), grid=grid)
    files["RD32"] = rtplan.io.write_rtdose(
        dose, out / "RD.dcm", reference=ct, plan_sop_uid=plan_uid
    )
    files["RD16"] = rtplan.io.write_rtdose(
        dose, out / "RD16.dcm", reference=ct, plan_sop_uid=plan_uid, bits_allocated=16
    )
    k = 20
    z_mm = float(ct.grid.index_to_mm([0.0, 0.0, float(k)])[2])
    rgb = render_overlay(ct, plane="axial", at_mm=z_mm, structures=[ptv])
    files["SC"] = write_secondary_capture(
        rgb, out / "SC.dcm", reference=ct, patient_orientation=("L", "P"), source_slices=[k]
    )
    target = np.asarray(ss["GTV"].centroid_mm, dtype=np.float64)
    needle = Trajectory(
        entry_mm=target + np.array([-60.0, 5.0, 10.0]), target_mm=target, clearance_mm={},
        required_clearance_mm={}, in_plane_deg=0.0, out_of_plane_deg=0.0, tissue_fraction={},
    )  # fmt: skip
    files["PR"] = write_presentation_state(needle, ct, out / "PR.dcm")
    files["CT"] = out / "CT_001.dcm"
    return HostileStudy(folder=out, files=files, uids=_collect_uids(out))


def copy_study(study: HostileStudy, out: Path) -> Path:
    """A copy of the study folder (tests that change it keep the original)."""
    shutil.copytree(study.folder, out)
    return out
