"""The command line under bad input: one clear error line, a non-zero status, no traceback,
and no partial or wrong output.

Every case builds its bad input from the sample studies and an RT Plan / RT Dose pair of
the thigh study, written once for the module as ``rtplan dose`` writes them. A case
asserts the exit status, that stderr ends with exactly one ``rtplan COMMAND: error: ...``
line naming the file or option and the problem, that no traceback was printed, and that
the outputs it named do not exist (or, for inputs an output would have replaced, that they
are byte-for-byte unchanged).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest

from rtplan.cli.main import main
from rtplan.dose import MonitorUnitWarning
from rtplan.errors import RtplanWarning

EMPTY_PTV = r"ROI\(s\) 'PTV' have no contours"

# ---------------------------------------------------------------------------- fixtures


def _run(argv: list[str]) -> int:
    """``main(argv)``, with argparse's usage errors (SystemExit) turned into their status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _error_line(err: str, command: str) -> str:
    """The one error line that ends stderr; fails on a traceback or a second error line."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines, "nothing on stderr"
    errors = [ln for ln in lines if ": error:" in ln]
    assert len(errors) == 1, err
    assert lines[-1] == errors[0], err
    assert lines[-1].startswith(f"rtplan {command}: error: "), err
    return lines[-1]


def _empty_ptv(folder: Path) -> None:
    """Remove the contours of the PTV from the RT Struct of a study copy."""
    ds = pydicom.dcmread(folder / "RS.dcm")
    names = {r.ROINumber: r.ROIName for r in ds.StructureSetROISequence}
    for rc in ds.ROIContourSequence:
        if names[rc.ReferencedROINumber] == "PTV":
            del rc.ContourSequence
    ds.save_as(folder / "RS.dcm")


def _truncate(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])  # a copy that stopped half-way
    return dst


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Bad inputs, by name (see the comments), as strings for the argument lists."""
    import rtplan
    from rtplan.data import get_path
    from rtplan.dose import hand_calculation
    from rtplan.planning import conformal_plan

    thigh, spine = get_path("thigh_sarcoma"), get_path("spine_metastasis")
    root = tmp_path_factory.mktemp("bad_input")
    study = rtplan.load_study(thigh)
    # RP.dcm + RD.dcm of the thigh as `rtplan dose` writes them: a conformal plan (its
    # prescription, MU and target) and a dose on a 5 mm grid that references it (an
    # analytic dose: these cases are about the files, not the dose calculation). The MU
    # are those of the hand calculation for 4 Gy per fraction at the isocentre, half from
    # each beam, and the dose is 20 Gy there: plan, dose and MU agree, so the MU check of
    # `rtplan dose` and `rtplan report` passes on them.
    pair = root / "pair"
    pair.mkdir()
    ptv = study.structures["PTV"]
    plan = conformal_plan(
        ptv, gantry_angles_deg=[0, 180], prescription_gy=20.0, fractions=5,
        patient_position="HFS", normalization="isocenter",
    )  # fmt: skip
    plan = plan.with_beams(
        [b.with_mu(2.0 / hand_calculation(b, study.ct).gy_per_mu) for b in plan.beams]
    )
    grid = study.ct.grid.with_spacing(5.0)
    r_mm = np.linalg.norm(grid.centers_mm() - plan.beams[0].isocenter_mm, axis=-1)
    dose = rtplan.Dose(array=np.clip(20.0 - 0.2 * r_mm, 0.0, None), grid=grid)
    rp = rtplan.io.write_rtplan(
        plan,
        pair / "RP.dcm",
        reference=study.ct,
        structures_sop_uid=study.structures.sop_instance_uid or None,
    )
    rd = rtplan.io.write_rtdose(dose, pair / "RD.dcm", reference=study.ct, plan_sop_uid=plan.uid)

    other = root / "other_frame"  # the same pair, but in another frame of reference
    other.mkdir()
    for src in (rp, rd):
        ds = pydicom.dcmread(src)
        ds.FrameOfReferenceUID = pydicom.uid.generate_uid()
        ds.save_as(other / src.name)

    shifted = root / "shifted"  # same frame, grid moved 1 m away from the CT
    shifted.mkdir()
    ds = pydicom.dcmread(rd)
    ds.ImagePositionPatient = [float(v) + 1000.0 for v in ds.ImagePositionPatient]
    ds.save_as(shifted / "RD.dcm")

    corner = root / "corner"  # same frame, a small grid in a corner of the CT, off the ROIs
    corner.mkdir()
    lo = study.ct.grid.corners_mm().min(axis=0)
    grid = rtplan.Grid(shape=(2, 3, 3), spacing_mm=(2.0, 2.0, 2.0), origin_mm=tuple(lo + 2.0))
    small = rtplan.Dose(array=np.ones(grid.shape), grid=grid)
    rtplan.io.write_rtdose(
        small, corner / "RD.dcm", reference=study.ct, plan_sop_uid=pydicom.uid.generate_uid()
    )
    nv_lo, _ = study.structures["NVBundle"].bounds_mm()
    assert (nv_lo > grid.corners_mm().max(axis=0)).any()  # the grid misses NVBundle

    empty, nondicom = root / "empty", root / "nondicom"
    empty.mkdir()
    nondicom.mkdir()
    (nondicom / "notes.txt").write_text("not DICOM\n")
    (nondicom / "table.csv").write_text("a,b\n1,2\n")

    bad_ct = root / "bad_ct"  # a study whose CT slice 20 stopped half-way
    shutil.copytree(thigh, bad_ct)
    _truncate(thigh / "CT_020.dcm", bad_ct / "CT_020.dcm")
    bad_rs = root / "bad_rs"  # a study whose RT Struct stopped half-way
    shutil.copytree(thigh, bad_rs)
    _truncate(thigh / "RS.dcm", bad_rs / "RS.dcm")
    empty_ptv = root / "empty_ptv"  # a study whose PTV has no contours
    shutil.copytree(thigh, empty_ptv)
    _empty_ptv(empty_ptv)

    return {
        "T": str(thigh),
        "S": str(spine),
        "CT": str(thigh / "CT_001.dcm"),
        "RS": str(thigh / "RS.dcm"),
        "pair": str(pair),
        "RP": str(rp),
        "RD": str(rd),
        "RP_other": str(other / "RP.dcm"),
        "RD_other": str(other / "RD.dcm"),
        "RD_shifted": str(shifted / "RD.dcm"),
        "RD_corner": str(corner / "RD.dcm"),
        "RP_trunc": str(_truncate(rp, root / "RP_trunc.dcm")),
        "RD_trunc": str(_truncate(rd, root / "RD_trunc.dcm")),
        "empty": str(empty),
        "nondicom": str(nondicom),
        "bad_ct": str(bad_ct),
        "bad_rs": str(bad_rs),
        "empty_ptv": str(empty_ptv),
    }


# ---------------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class Case:
    """``argv`` (``{name}`` fields from :func:`paths`, ``{out}`` a fresh folder), the
    words the error line must match (a regular expression), the outputs that must not
    exist afterwards, the exit status (2: bad input or usage) and the warning expected
    while reading, if any."""

    argv: tuple[str, ...]
    words: str
    absent: tuple[str, ...] = ()
    status: int = 2
    warns: str | None = None


CONFORMAL = ("--conformal", "--target", "PTV", "--prescription-gy", "50")

CASES: dict[str, Case] = {
    # ------------------------------------------------------------------ paths
    "info-missing-path": Case(("info", "{out}/absent"), r"no such file: \S+absent"),
    "info-empty-folder": Case(("info", "{empty}"), r"no CT image found in \S+empty"),
    "info-non-dicom-folder": Case(("info", "{nondicom}"), r"nondicom: no DICOM file"),
    "info-non-dicom-file": Case(
        ("info", "{nondicom}/notes.txt"), r"notes\.txt is not a DICOM file"
    ),
    "info-truncated-ct": Case(("info", "{bad_ct}"), r"CT_020\.dcm.*truncated"),
    "info-truncated-rtstruct": Case(("info", "{bad_rs}"), r"RS\.dcm: the file is truncated"),
    "dose-missing-study": Case(
        ("dose", "{out}/absent", *CONFORMAL, "-o", "{out}/o"),
        r"study folder \S+absent does not exist",
        ("{out}/o",),
    ),
    "dose-file-as-study": Case(
        ("dose", "{CT}", *CONFORMAL, "-o", "{out}/o"),
        r"CT_001\.dcm is a file, not a study folder",
        ("{out}/o",),
    ),
    "dose-empty-study": Case(
        ("dose", "{empty}", *CONFORMAL, "-o", "{out}/o"), r"no CT image found", ("{out}/o",)
    ),
    "dose-folder-as-plan": Case(
        ("dose", "{T}", "--plan", "{pair}", "-o", "{out}/o"),
        r"--plan \S+pair is a folder; give the RT Plan file",
        ("{out}/o",),
    ),
    "dose-ct-as-plan": Case(
        ("dose", "{T}", "--plan", "{CT}", "-o", "{out}/o"),
        r"--plan \S+CT_001\.dcm is a CT file, not an RT Plan",
        ("{out}/o",),
    ),
    "dose-truncated-plan": Case(
        ("dose", "{T}", "--plan", "{RP_trunc}", "-o", "{out}/o"),
        r"--plan \S+RP_trunc\.dcm: the file is truncated",
        ("{out}/o",),
    ),
    "dose-plan-of-another-frame": Case(
        ("dose", "{T}", "--plan", "{RP_other}", "-o", "{out}/o"),
        r"--plan \S+RP\.dcm: the RT Plan is in frame of reference .* another study",
        ("{out}/o",),
    ),
    "dose-plan-of-another-study": Case(
        ("dose", "{S}", "--plan", "{RP}", "-o", "{out}/o"),
        r"--plan \S+RP\.dcm: .*not in the CT's of \S+spine_metastasis",
        ("{out}/o",),
    ),
    "dose-target-misspelt": Case(
        (
            "dose",
            "{T}",
            "--conformal",
            "--target",
            "PTVV",
            "--prescription-gy",
            "50",
            "-o",
            "{out}/o",
        ),
        r"--target: no structure named 'PTVV' in \S+RS\.dcm \(did you mean 'PTV'\?\)",
        ("{out}/o",),
    ),
    "dose-target-empty": Case(
        ("dose", "{empty_ptv}", *CONFORMAL, "-o", "{out}/o"),
        r"--target: structure 'PTV' in \S+RS\.dcm is empty",
        ("{out}/o",),
        warns=EMPTY_PTV,
    ),
    "dose-gantry-not-a-number": Case(
        ("dose", "{T}", *CONFORMAL, "--gantry", "abc", "-o", "{out}/o"),
        r"argument --gantry: 'abc' is not a number of degrees",
        ("{out}/o",),
    ),
    "dose-gantry-out-of-range": Case(
        ("dose", "{T}", *CONFORMAL, "--gantry", "0,400", "-o", "{out}/o"),
        r"argument --gantry: angle 400 is out of range: give 0 to 360",
        ("{out}/o",),
    ),
    "dose-gantry-nan": Case(
        ("dose", "{T}", *CONFORMAL, "--gantry", "nan", "-o", "{out}/o"),
        r"argument --gantry: angle nan is out of range",
        ("{out}/o",),
    ),
    "dose-couch-out-of-range": Case(
        ("dose", "{T}", *CONFORMAL, "--couch", "720", "-o", "{out}/o"),
        r"argument --couch: angle 720 is out of range",
        ("{out}/o",),
    ),
    "dose-grid-zero": Case(
        ("dose", "{T}", *CONFORMAL, "--grid-mm", "0", "-o", "{out}/o"),
        r"--grid-mm must be a positive number of mm, got 0",
        ("{out}/o",),
    ),
    "dose-grid-negative": Case(
        ("dose", "{T}", *CONFORMAL, "--grid-mm=-2.5", "-o", "{out}/o"),
        r"--grid-mm must be a positive number of mm, got -2\.5",
        ("{out}/o",),
    ),
    "dose-prescription-zero": Case(
        (
            "dose",
            "{T}",
            "--conformal",
            "--target",
            "PTV",
            "--prescription-gy",
            "0",
            "-o",
            "{out}/o",
        ),
        r"--prescription-gy must be a positive number of Gy, got 0",
        ("{out}/o",),
    ),
    "dose-prescription-negative": Case(
        ("dose", "{T}", "--conformal", "--target", "PTV", "--prescription-gy=-50", "-o", "{out}/o"),
        r"--prescription-gy must be a positive number of Gy, got -50",
        ("{out}/o",),
    ),
    "dose-fractions-zero": Case(
        ("dose", "{T}", *CONFORMAL, "--fractions", "0", "-o", "{out}/o"),
        r"--fractions must be a whole number >= 1, got 0",
        ("{out}/o",),
    ),
    "dose-fractions-negative": Case(
        ("dose", "{T}", *CONFORMAL, "--fractions=-3", "-o", "{out}/o"),
        r"--fractions must be a whole number >= 1, got -3",
        ("{out}/o",),
    ),
    "dose-gantry-ignored-with-plan": Case(
        ("dose", "{T}", "--plan", "{RP}", "--gantry", "90", "-o", "{out}/o"),
        r"--gantry applies only to --conformal plans; the beams come from --plan",
        ("{out}/o",),
    ),
    "dose-output-is-a-file": Case(
        ("dose", "{T}", *CONFORMAL, "-o", "{nondicom}/notes.txt"),
        r"-o \S+notes\.txt is a file; give a folder",
    ),
    "dose-output-under-a-file": Case(
        ("dose", "{T}", *CONFORMAL, "-o", "{nondicom}/notes.txt/plan"),
        r"-o \S+plan: cannot create the folder \S+plan, as \S+notes\.txt is a file",
    ),
    # ------------------------------------------------------------------ dvh
    "dvh-folder-as-dose": Case(
        ("dvh", "{T}", "--dose", "{pair}"), r"--dose \S+pair is a folder; give the RT Dose file"
    ),
    "dvh-plan-as-dose": Case(
        ("dvh", "{T}", "--dose", "{RP}"), r"--dose \S+RP\.dcm is a RTPLAN file, not an RT Dose"
    ),
    "dvh-truncated-dose": Case(
        ("dvh", "{T}", "--dose", "{RD_trunc}"), r"--dose \S+RD_trunc\.dcm: the file is truncated"
    ),
    "dvh-dose-of-another-frame": Case(
        ("dvh", "{T}", "--dose", "{RD_other}", "-o", "{out}/m.csv"),
        r"--dose \S+RD\.dcm: the RT Dose is in frame of reference .* another study",
        ("{out}/m.csv",),
    ),
    "dvh-dose-of-another-study": Case(
        ("dvh", "{S}", "--dose", "{RD}"), r"--dose \S+RD\.dcm: .*not in the CT's of \S+spine"
    ),
    "dvh-plan-of-another-frame": Case(
        ("dvh", "{T}", "--dose", "{RD}", "--plan", "{RP_other}"),
        r"--plan \S+RP\.dcm: the RT Plan is in frame of reference",
    ),
    "dvh-dose-outside-the-ct": Case(
        ("dvh", "{T}", "--dose", "{RD_shifted}"),
        r"--dose \S+RD\.dcm: the dose grid \(x 8\d\d\.\.\d+, .*\) lies outside the CT",
    ),
    "dvh-dose-misses-the-structures": Case(
        ("dvh", "{T}", "--dose", "{RD_corner}", "--roi", "NVBundle", "-o", "{out}/m.csv"),
        r"--dose \S+RD\.dcm: the dose grid .* covers none of the structures",
        ("{out}/m.csv",),
    ),
    "dvh-goal-misspelt-structure": Case(
        ("dvh", "{T}", "--dose", "{RD}", "--goal", "PTVV D95 >= 95 %"),
        r"--goal 'PTVV D95 >= 95 %': no structure named 'PTVV' .*\(did you mean 'PTV'\?\)",
    ),
    "dvh-goal-empty-structure": Case(
        ("dvh", "{empty_ptv}", "--dose", "{RD}", "--goal", "PTV D95 >= 95 %"),
        r"--goal 'PTV D95 >= 95 %': structure 'PTV' .* is empty",
        warns=EMPTY_PTV,
    ),
    "dvh-goal-malformed": Case(
        ("dvh", "{T}", "--dose", "{RD}", "--goal", "PTV D95 95"),
        r"cannot read the goal 'PTV D95 95'; write '<structure> <metric> <op> <value> <unit>'",
    ),
    "dvh-goal-unknown-metric": Case(
        ("dvh", "{T}", "--dose", "{RD}", "--goal", "PTV Dxx >= 95 %"),
        r"cannot read the goal 'PTV Dxx >= 95 %'",
    ),
    "dvh-goal-volume-over-100-percent": Case(
        ("dvh", "{T}", "--dose", "{RD}", "--goal", "PTV D150 >= 95 %"),
        r"goal 'PTV D150 >= 95 %': D150% asks for the dose to 150 % of the structure",
    ),
    "dvh-goal-limit-over-100-percent": Case(
        ("dvh", "{T}", "--dose", "{RD}", "--goal", "Femur V40Gy <= 164 %"),
        r"goal 'Femur V40Gy <= 164 %': a volume limit of 164 % .* outside 0 to 100 %",
    ),
    "dvh-roi-misspelt": Case(
        ("dvh", "{T}", "--dose", "{RD}", "--roi", "Femr"),
        r"--roi: no structure named 'Femr' .*\(did you mean 'Femur'.*\?\)",
    ),
    "dvh-target-empty": Case(
        ("dvh", "{empty_ptv}", "--dose", "{RD}", "--target", "PTV"),
        r"--target: structure 'PTV' .* is empty",
        warns=EMPTY_PTV,
    ),
    "dvh-prescription-zero": Case(
        ("dvh", "{T}", "--dose", "{RD}", "--prescription-gy", "0"),
        r"--prescription-gy must be a positive number of Gy, got 0",
    ),
    "dvh-output-is-a-folder": Case(
        ("dvh", "{T}", "--dose", "{RD}", "-o", "{out}"), r"-o \S+ is a folder; give a file name"
    ),
    "dvh-output-under-a-file": Case(
        ("dvh", "{T}", "--dose", "{RD}", "-o", "{nondicom}/notes.txt/m.csv"),
        r"-o \S+m\.csv: cannot create the folder \S+notes\.txt, as \S+ is a file",
    ),
    "dvh-outputs-clash": Case(
        ("dvh", "{T}", "--dose", "{RD}", "-o", "{out}/m.csv", "--curves", "{out}/m.csv"),
        r"-o, --curves and --indices name the same file",
        ("{out}/m.csv",),
    ),
    # ------------------------------------------------------------------ gamma
    "gamma-ct-as-reference": Case(
        ("gamma", "{CT}", "{RD}"), r"REF \S+CT_001\.dcm is a CT file, not an RT Dose"
    ),
    "gamma-rtstruct-as-evaluated": Case(
        ("gamma", "{RD}", "{RS}"), r"EVAL \S+RS\.dcm is a RTSTRUCT file, not an RT Dose"
    ),
    "gamma-folder-as-reference": Case(
        ("gamma", "{T}", "{RD}"), r"REF \S+thigh_sarcoma is a folder; give the RT Dose file"
    ),
    "gamma-missing-evaluated": Case(
        ("gamma", "{RD}", "{out}/absent.dcm"), r"EVAL \S+absent\.dcm: no such file"
    ),
    "gamma-truncated-evaluated": Case(
        ("gamma", "{RD}", "{RD_trunc}"), r"EVAL \S+RD_trunc\.dcm: the file is truncated"
    ),
    "gamma-another-frame": Case(
        ("gamma", "{RD}", "{RD_other}"),
        r"EVAL \S+RD\.dcm is in frame of reference \S+, REF \S+RD\.dcm in \S+: their "
        r"coordinates do not match",
    ),
    "gamma-grids-apart": Case(
        ("gamma", "{RD}", "{RD_shifted}"),
        r"the grids of REF \S+RD\.dcm .* and EVAL \S+RD\.dcm .* do not overlap",
    ),
    "gamma-threshold-over-100": Case(
        ("gamma", "{RD}", "{RD}", "--threshold-percent", "150"),
        r"--threshold-percent must be from 0 to below 100",
    ),
    # ------------------------------------------------------------------ trajectory
    "trajectory-target-misspelt": Case(
        ("trajectory", "{S}", "--target", "GVT", "-o", "{out}/t"),
        r"--target: no structure named 'GVT' .*\(did you mean 'GTV'.*\?\)",
        ("{out}/t",),
    ),
    "trajectory-avoid-misspelt": Case(
        ("trajectory", "{S}", "--target", "GTV", "--avoid", "SpinalCanl", "-o", "{out}/t"),
        r"--avoid: no structure named 'SpinalCanl' .*\(did you mean 'SpinalCanal'",
        ("{out}/t",),
    ),
    "trajectory-target-empty": Case(
        ("trajectory", "{empty_ptv}", "--target", "PTV", "-o", "{out}/t"),
        r"--target: structure 'PTV' .* is empty .* --target-mm",
        ("{out}/t",),
        warns=EMPTY_PTV,
    ),
    "trajectory-dose-of-another-study": Case(
        ("trajectory", "{S}", "--target", "GTV", "--dose", "{RD}", "-o", "{out}/t"),
        r"--dose \S+RD\.dcm: the RT Dose is in frame of reference",
        ("{out}/t",),
    ),
    "trajectory-unknown-window": Case(
        ("trajectory", "{S}", "--target", "GTV", "--window", "brain", "-o", "{out}/t"),
        r"argument --window: unknown window 'brain'; choose one of soft_tissue",
        ("{out}/t",),
    ),
    "trajectory-output-is-a-file": Case(
        ("trajectory", "{S}", "--target", "GTV", "-o", "{nondicom}/notes.txt"),
        r"-o \S+notes\.txt is a file; give a folder",
    ),
    # ------------------------------------------------------------------ overlay
    "overlay-at-mm-outside-the-ct": Case(
        ("overlay", "{T}", "--at-mm", "5000", "-o", "{out}/v.png"),
        r"--at-mm 5000: the axial plane misses the CT .*\(z from -710\.5 to -590\.5 mm",
        ("{out}/v.png",),
    ),
    "overlay-coronal-outside-the-ct": Case(
        ("overlay", "{T}", "--plane", "coronal", "--at-mm=-300", "-o", "{out}/v.png"),
        r"--at-mm -300: the coronal plane misses the CT",
        ("{out}/v.png",),
    ),
    "overlay-output-not-png": Case(
        ("overlay", "{T}", "-o", "{out}/v.jpg"),
        r"-o \S+v\.jpg: the file name must end in \.png",
        ("{out}/v.jpg",),
    ),
    "overlay-output-is-a-folder": Case(
        ("overlay", "{T}", "-o", "{out}"), r"-o \S+ is a folder; give a file name"
    ),
    "overlay-structure-misspelt": Case(
        ("overlay", "{T}", "--structures", "Femur", "ptvv", "-o", "{out}/v.png"),
        r"--structures: no structure named 'ptvv' .*\(did you mean 'PTV'",
        ("{out}/v.png",),
    ),
    "overlay-dose-of-another-frame": Case(
        ("overlay", "{T}", "--dose", "{RD_other}", "-o", "{out}/v.png"),
        r"--dose \S+RD\.dcm: the RT Dose is in frame of reference",
        ("{out}/v.png",),
    ),
    "overlay-negative-fov": Case(
        ("overlay", "{T}", "--fov-mm=-10", "-o", "{out}/v.png"),
        r"--fov-mm must be a positive number of mm, got -10",
        ("{out}/v.png",),
    ),
    "overlay-negative-isodose": Case(
        ("overlay", "{T}", "--dose", "{RD}", "--isodose-percent", "95", "-5", "-o", "{out}/v.png"),
        r"--isodose-percent must be a positive number of percent, got -5",
        ("{out}/v.png",),
    ),
    "overlay-missing-trajectory": Case(
        ("overlay", "{S}", "--trajectory", "{out}/trajectories.json", "-o", "{out}/v.png"),
        r"--trajectory \S+trajectories\.json: no such file",
        ("{out}/v.png",),
    ),
    "overlay-png-and-dicom-clash": Case(
        ("overlay", "{T}", "-o", "{out}/v.png", "--dicom", "{out}/v.png"),
        r"-o and --dicom name the same file",
        ("{out}/v.png",),
    ),
    # ------------------------------------------------------------------ report
    "report-goal-misspelt-structure": Case(
        ("report", "{T}", "--dose", "{RD}", "--goal", "PTVV D95 >= 95 %", "-o", "{out}/r.html"),
        r"--goal 'PTVV D95 >= 95 %': no structure named 'PTVV'",
        ("{out}/r.html",),
    ),
    "report-plan-of-another-frame": Case(
        ("report", "{T}", "--dose", "{RD}", "--plan", "{RP_other}", "-o", "{out}/r.html"),
        r"--plan \S+RP\.dcm: the RT Plan is in frame of reference",
        ("{out}/r.html",),
    ),
    "report-prescription-zero": Case(
        ("report", "{T}", "--dose", "{RD}", "--prescription-gy", "0", "-o", "{out}/r.html"),
        r"--prescription-gy must be a positive number of Gy, got 0",
        ("{out}/r.html",),
    ),
    "report-needle-target-misspelt": Case(
        ("report", "{S}", "--needle-target", "gtvv", "-o", "{out}/r.html"),
        r"--needle-target: no structure named 'gtvv' .*\(did you mean 'GTV'",
        ("{out}/r.html",),
    ),
    "report-output-is-a-folder": Case(
        ("report", "{T}", "-o", "{out}"), r"-o \S+ is a folder; give a file name"
    ),
    # ------------------------------------------------------------------ demo
    "demo-output-is-a-file": Case(
        ("demo", "-o", "{nondicom}/notes.txt"), r"-o \S+notes\.txt is a file; give a folder"
    ),
    "demo-grid-zero": Case(
        ("demo", "--grid-mm", "0", "-o", "{out}/demo"),
        r"--grid-mm must be a positive number of mm, got 0",
        ("{out}/demo",),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line(
    name: str, paths: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    fields = {**paths, "out": str(tmp_path)}
    argv = [a.format(**fields) for a in case.argv]
    if case.warns is None:
        assert _run(argv) == case.status
    else:
        with pytest.warns(RtplanWarning, match=case.warns):
            assert _run(argv) == case.status
    line = _error_line(capsys.readouterr().err, argv[0])
    assert re.search(case.words, line), line
    for out in case.absent:
        assert not Path(out.format(**fields)).exists(), out
    assert not list(tmp_path.rglob("*.partial*"))


# ---------------------------------------------------------------------------- outputs
def _copy(src: str, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_output_never_replaces_an_input(
    paths: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Writing never loses what was read: the --plan, the --dose, a file of the study."""
    pair = _copy(paths["pair"], tmp_path / "pair")
    study = _copy(paths["T"], tmp_path / "study")
    shutil.copy(pair / "RP.dcm", study / "RP.dcm")  # a plan kept with the study
    before = _snapshot(pair), _snapshot(study)

    cases = [
        (["dose", str(study), "--plan", str(pair / "RP.dcm"), "-o", str(pair)],
         r"-o \S+RP\.dcm is the input --plan: writing it would replace what was read"),
        (["dose", str(study), *CONFORMAL, "-o", str(study)],
         r"-o \S+study/RP\.dcm would replace a file of the study folder"),
        (["dvh", str(study), "--dose", str(pair / "RD.dcm"), "-o", str(pair / "RD.dcm")],
         r"-o \S+RD\.dcm is the input --dose"),
        (["dvh", str(study), "--dose", str(pair / "RD.dcm"), "--curves", str(study / "RS.dcm")],
         r"--curves \S+RS\.dcm would replace a file of the study folder"),
        (["overlay", str(study), "-o", str(tmp_path / "v.png"), "--dicom",
          str(study / "CT_002.dcm")],
         r"--dicom \S+CT_002\.dcm would replace a file of the study folder"),
        (["report", str(study), "--dose", str(pair / "RD.dcm"), "-o", str(study / "r.html"),
          "--plan", str(pair / "RP.dcm")], None),  # a new file in the study folder is fine
    ]  # fmt: skip
    for argv, words in cases[:-1]:
        assert _run(argv) == 2, argv
        line = _error_line(capsys.readouterr().err, argv[0])
        assert words is not None
        assert re.search(words, line), line
    assert (_snapshot(pair), _snapshot(study)) == before
    assert not (tmp_path / "v.png").exists()

    argv, _ = cases[-1]
    with warnings.catch_warnings(record=True) as caught:
        assert _run(argv) == 0
    assert not [w for w in caught if issubclass(w.category, MonitorUnitWarning)]
    capsys.readouterr()
    assert (study / "r.html").stat().st_size > 0
    assert _run(argv) == 2  # now that the study folder holds it, it is not replaced
    assert "would replace a file of the study folder" in capsys.readouterr().err


def test_existing_output_is_replaced_whole_and_documented(
    paths: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtplan.cli.main import build_parser

    png = tmp_path / "v.png"
    png.write_bytes(b"an older file")
    assert _run(["overlay", paths["T"], "--structures", "PTV", "-o", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["v.png"]  # no temporary file left
    capsys.readouterr()
    assert "an existing output is replaced" in " ".join(build_parser().format_help().split())
    for name in ("dose", "dvh", "trajectory", "overlay", "report", "demo"):
        assert _run([name, "--help"]) == 0
        assert "replaced" in capsys.readouterr().out, name


def test_unwritable_output_folder_fails_before_the_work(
    paths: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for folder in (locked, Path("/sys"), Path("/proc")):  # root writes in a 0o555 folder
            try:
                with tempfile.TemporaryFile(dir=folder):
                    pass
            except OSError:
                break
        else:
            pytest.skip("no folder this user cannot write in")
        for argv in (
            ["dose", paths["T"], *CONFORMAL, "-o", str(folder / "plan")],
            ["dvh", paths["T"], "--dose", paths["RD"], "-o", str(folder / "m.csv")],
        ):
            assert _run(argv) == 2
            line = _error_line(capsys.readouterr().err, argv[0])
            assert re.search(r"-o \S+: cannot write in \S+ \(.+\); choose an output", line)
    finally:
        locked.chmod(0o755)


def test_failed_write_keeps_the_previous_files(
    paths: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RP.dcm and RD.dcm are written whole or not at all: a failure while writing RD.dcm
    (here a full disk) leaves the pair of the previous run as it was."""
    import rtplan.io

    out = _copy(paths["pair"], tmp_path / "out")
    before = _snapshot(out)

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device", str(out / "RD.dcm"))

    monkeypatch.setattr(rtplan.io, "write_rtdose", disk_full)
    argv = ["dose", paths["T"], "--plan", paths["RP"], "--engine", "pencil-beam",
            "--grid-mm", "5", "-o", str(out)]  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        assert _run(argv) == 2
    # the plan's MU meet its prescription: the independent check agrees with the engine
    assert not [w for w in caught if issubclass(w.category, MonitorUnitWarning)]
    line = _error_line(capsys.readouterr().err, "dose")
    assert re.search(r"error: \S+RD\.dcm: No space left on device$", line), line
    assert _snapshot(out) == before


# ---------------------------------------------------------------------------- interrupts
# The child runs `rtplan dose` with its progress callback made to wait, once the first beam
# is under way, until the signal arrives: Ctrl-C then always lands mid-calculation, however
# fast the machine is (the dose cannot finish first).
_WAIT_FOR_CTRL_C = """
import signal, sys, time
# as at a terminal: a shell that starts a job in the background hands it SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
import rtplan.dose
from rtplan.cli.main import entry_point

real = rtplan.dose.calculate

def calculate(*args, progress=None, **kwargs):
    def waiting(fraction, message):
        progress(fraction, message)
        sys.stderr.flush()
        while True:  # the dose is under way: wait here for Ctrl-C
            time.sleep(0.05)

    return real(*args, progress=waiting, **kwargs)

rtplan.dose.calculate = calculate
sys.argv = ["rtplan", *sys.argv[1:]]
entry_point()
"""


def test_ctrl_c_during_dose_ends_with_one_line_and_130(
    paths: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    argv = ["dose", paths["T"], *CONFORMAL, "--engine", "pencil-beam", "--grid-mm", "5",
            "-o", str(out)]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", _WAIT_FOR_CTRL_C, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = ""
    while "% beam" not in seen:  # the dose calculation is under way, and waits
        char = proc.stderr.read(1)
        assert char, f"rtplan dose ended before its progress: {seen}"
        seen += char
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130
    err = seen + rest
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "rtplan dose: interrupted"
    assert not out.exists()


def test_ctrl_c_while_writing_leaves_no_partial_file(
    paths: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rtplan.io

    real = rtplan.io.write_rtdose

    def interrupted(dose: object, path: Path, **kwargs: object) -> None:
        real(dose, path, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(rtplan.io, "write_rtdose", interrupted)
    out = tmp_path / "out"
    argv = ["dose", paths["T"], "--plan", paths["RP"], "--engine", "pencil-beam",
            "--grid-mm", "5", "-o", str(out)]  # fmt: skip
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "rtplan dose: interrupted"
    assert list(out.iterdir()) == []  # neither RP.dcm nor RD.dcm, nor a temporary file


# ---------------------------------------------------------------------------- -v and bugs
def test_verbose_prints_the_traceback_before_the_error_line(
    paths: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["-v", "dvh", paths["T"], "--dose", paths["RD"], "--roi", "Femr"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("rtplan dvh: error: --roi: no structure")


@pytest.mark.parametrize("verbose", [False, True])
def test_a_bug_is_one_line_with_status_3(
    verbose: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import rtplan.cli.gamma
    from rtplan.cli.main import entry_point

    def broken(args: object) -> int:
        raise ValueError("cannot convert float NaN to integer")

    monkeypatch.setattr(rtplan.cli.gamma, "run", broken)
    argv = ["rtplan", *(["-v"] if verbose else []), "gamma", "a.dcm", "b.dcm"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exc:
        entry_point()
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert ("Traceback" in err) is verbose
    last = err.strip().splitlines()[-1]
    assert last.startswith("rtplan: internal error: ValueError: cannot convert float NaN")
    assert "report it" in last
    if not verbose:
        assert len(err.strip().splitlines()) == 1


def test_a_failed_command_creates_nothing(
    paths: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checks run before anything is written: no default output folder appears."""
    monkeypatch.chdir(tmp_path)
    assert _run(["demo", "--grid-mm", "0"]) == 2  # default -o rtplan-demo
    assert _run(["report", paths["T"], "--prescription-gy", "0"]) == 2  # default report.html
    assert _run(["dose", paths["T"], *CONFORMAL, "--gantry", "500", "-o", "plan"]) == 2
    capsys.readouterr()
    assert os.listdir(tmp_path) == []


def test_error_during_the_dose_starts_its_own_line(
    paths: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The progress line ends before the error line (a beam whose energy has no model)."""
    import rtplan.dose
    from rtplan.errors import DoseEngineError

    def failing(*_: object, progress: object = None, **__: object) -> None:
        assert callable(progress)
        progress(0.25, "beam 1/2: ray tracing done")
        raise DoseEngineError("no beam model for energy '10X'; available: 6X")

    monkeypatch.setattr(rtplan.dose, "calculate", failing)
    argv = ["dose", paths["T"], *CONFORMAL, "-o", str(tmp_path / "out")]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    line = _error_line(err, "dose")
    assert line == "rtplan dose: error: no beam model for energy '10X'; available: 6X"
    assert "ray tracing done" in err
    assert not (tmp_path / "out").exists()
