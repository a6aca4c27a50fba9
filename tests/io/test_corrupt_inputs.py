"""Broken and implausible inputs: each is refused or reported, with the message checked.

The clean files are the synthetic study of the fuzzer (:mod:`fuzz.corpus`: a CT written with
:mod:`rtplan.testing`, an RT Plan and RT Doses written with rtplan's writers); each test edits
one attribute with pydicom, as a broken export, a disk error or a hostile file would.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

import rtplan
from fuzz.corpus import Study, build_corpus
from rtplan.errors import DicomReadError, PlanError, RtplanError, RtplanWarning
from rtplan.testing import Roi, ellipse_points_mm, write_rtstruct

Edit = Callable[[Dataset], None]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return build_corpus(tmp_path_factory.mktemp("clean"), samples=False).study("synthetic")


def edited(source: Path, folder: Path, edit: Edit) -> Path:
    """A copy of ``source`` in ``folder`` with ``edit`` applied to its dataset."""
    ds = pydicom.dcmread(source)
    edit(ds)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / source.name
    ds.save_as(out)
    return out


def raw(keyword: str, vr: str, value: bytes) -> Callable[[Dataset], None]:
    """An edit that stores ``value`` as the raw bytes of ``keyword`` under ``vr``."""

    def edit(ds: Dataset) -> None:
        padded = value + (b" " if len(value) % 2 else b"")
        ds[Tag(keyword)] = RawDataElement(Tag(keyword), vr, len(padded), padded, 0, False, True)

    return edit


def setter(keyword: str, value: object) -> Edit:
    def edit(ds: Dataset) -> None:
        setattr(ds, keyword, value)

    return edit


def ct_copy(study: Study, folder: Path, k: int, edit: Edit) -> Path:
    """The study's CT in ``folder`` with slice ``k`` edited."""
    folder.mkdir(parents=True)
    for n, path in enumerate(study.ct):
        if n == k:
            edited(path, folder, edit)
        else:
            shutil.copy(path, folder / path.name)
    return folder


# ---------------------------------------------------------------------------- RT Dose
@pytest.mark.parametrize(
    ("value", "match"),
    [
        (b"NaN", r"DoseGridScaling \(3004,000E\) holds non-finite values"),
        (b"inf", r"DoseGridScaling \(3004,000E\) holds non-finite values"),
        (b"0", r"DoseGridScaling \(3004,000E\) is 0, which is not positive"),
        (b"-0.001", r"DoseGridScaling \(3004,000E\) is -0.001, which is not positive"),
        (b"1", r"the dose reaches 4\.295e\+09 Gy, above the 10000 Gy no treatment gives"),
        (b"abc", r"DoseGridScaling \(3004,000E\) is 'abc', not a number"),
    ],
)
def test_dose_grid_scaling_is_checked(
    study: Study, tmp_path: Path, value: bytes, match: str
) -> None:
    path = edited(study.rtdose[0], tmp_path, raw("DoseGridScaling", "DS", value))
    with pytest.raises(DicomReadError, match=rf"RD\.dcm: {match}"):
        rtplan.io.read_rtdose(path)


def test_negligible_dose_is_reported(study: Study, tmp_path: Path) -> None:
    path = edited(study.rtdose[0], tmp_path, raw("DoseGridScaling", "DS", b"1e-20"))
    with pytest.warns(RtplanWarning, match=r"the maximum dose is 4\.29e-11 Gy, negligible"):
        dose = rtplan.io.read_rtdose(path)
    assert dose.max_gy == pytest.approx(4.294967295e-11)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (raw("BitsAllocated", "US", b""), r"BitsAllocated \(0028,0100\) is missing"),
        (setter("BitsAllocated", 8), r"BitsAllocated \(0028,0100\) is 8; a RT Dose has 16 or 32"),
        (
            setter("BitsAllocated", 16),
            r"BitsStored \(0028,0101\) is 32, inconsistent with BitsAllocated \(0028,0100\) 16",
        ),
        (setter("BitsStored", 40), r"BitsStored \(0028,0101\) is 40, inconsistent with"),
        (setter("HighBit", 12), r"HighBit \(0028,0102\) is 12, inconsistent with BitsStored"),
        (
            setter("Rows", 11),
            r"Rows x Columns x Number of Frames \(11 x 12 x 4 at 32 bits\) announce 2112 bytes "
            r"of Pixel Data but the file holds 1920",
        ),
        (setter("NumberOfFrames", 5), r"GridFrameOffsetVector \(3004,000C\) has 4 values for 5"),
        (setter("PixelData", b""), r"the Pixel Data \(7FE0,0010\) of this RT Dose is empty"),
        (setter("Rows", 0), r"Rows \(0028,0010\) is 0, outside 1 to 65535"),
    ],
)
def test_pixel_module_is_checked_against_the_pixel_data(
    study: Study, tmp_path: Path, edit: Edit, match: str
) -> None:
    path = edited(study.rtdose[0], tmp_path, edit)
    with pytest.raises(DicomReadError, match=match):
        rtplan.io.read_rtdose(path)


def test_integer_string_that_overflows_is_left_out_and_named(study: Study, tmp_path: Path) -> None:
    path = edited(study.rtdose[0], tmp_path, raw("NumberOfFrames", "IS", b"-inf"))
    with (
        pytest.warns(RtplanWarning) as record,
        pytest.raises(
            DicomReadError, match=r"GridFrameOffsetVector \(3004,000C\) has 4 values for 1 frames"
        ),
    ):
        rtplan.io.read_rtdose(path)
    messages = [str(w.message) for w in record]
    assert any(
        "element NumberOfFrames (0028,0008) (cannot convert float infinity to integer) cannot "
        "be decoded and was left out" in m
        for m in messages
    ), messages


def test_transfer_syntax_that_is_not_one_is_refused(study: Study, tmp_path: Path) -> None:
    def edit(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = "1.2.3.4.5"

    path = edited(study.rtdose[0], tmp_path, edit)
    with pytest.raises(
        DicomReadError,
        match=r"RD\.dcm: TransferSyntaxUID \(0002,0010\) is '1\.2\.3\.4\.5', not a DICOM "
        r"transfer syntax",
    ):
        rtplan.io.read_rtdose(path)


def test_decimal_string_that_is_not_a_number_names_the_tag(study: Study, tmp_path: Path) -> None:
    path = edited(study.rtdose[0], tmp_path, raw("ImagePositionPatient", "DS", b"-22\\abc\\-6"))
    with pytest.raises(
        DicomReadError,
        match=r"RD\.dcm: ImagePositionPatient \(0020,0032\) is .*abc.*, not a number",
    ):
        rtplan.io.read_rtdose(path)


def test_element_with_the_wrong_vr_is_left_out_and_named(study: Study, tmp_path: Path) -> None:
    path = edited(study.rtdose[0], tmp_path, raw("PixelSpacing", "US", b"\x04\x00\x04\x00"))
    with (
        pytest.warns(
            RtplanWarning,
            match=r"element PixelSpacing \(0028,0030\) \(VR US where the standard has DS\) "
            r"cannot be decoded and was left out",
        ),
        pytest.raises(DicomReadError, match=r"PixelSpacing \(0028,0030\) is missing"),
    ):
        rtplan.io.read_rtdose(path)


def test_read_limit_is_checked_before_allocating(
    study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        rtplan.io.read_limits(max_array_bytes=2048),
        pytest.raises(
            DicomReadError,
            match=r"RD\.dcm: reading this file needs 3\.2 KiB, above the read limit of 2\.0 KiB; "
            r"if the object is genuine raise the limit with rtplan\.io\.read_limits",
        ),
    ):
        rtplan.io.read_rtdose(study.rtdose[0])
    monkeypatch.setenv("RTPLAN_MAX_ARRAY_BYTES", "3500")
    assert rtplan.io.max_array_bytes() == 3500
    with pytest.raises(
        DicomReadError,
        match=r"a 4 x 10 x 12 RT Dose needs 3\.8 KiB, above the read limit of 3\.4 KiB",
    ):
        rtplan.io.read_rtdose(study.rtdose[0])
    with rtplan.io.read_limits(max_array_bytes=10**9):  # the block's limit wins
        assert rtplan.io.read_rtdose(study.rtdose[0]).max_gy > 0
    monkeypatch.setenv("RTPLAN_MAX_ARRAY_BYTES", "lots")
    with pytest.raises(RtplanError, match=r"RTPLAN_MAX_ARRAY_BYTES='lots' must be a positive"):
        rtplan.io.read_rtdose(study.rtdose[0])
    with (
        pytest.raises(RtplanError, match="max_array_bytes must be positive"),
        rtplan.io.read_limits(max_array_bytes=0),
    ):
        pass


def test_fraction_dose_without_fraction_group_is_reported(study: Study, tmp_path: Path) -> None:
    path = edited(study.rtdose[0], tmp_path, setter("DoseSummationType", "FRACTION"))
    with pytest.warns(
        RtplanWarning,
        match=r"a FRACTION dose must name its fraction group, but the "
        r"ReferencedFractionGroupSequence \(300C,0020\) is missing",
    ):
        dose = rtplan.io.read_rtdose(path)
    assert dose.summation_type == "FRACTION"


def test_fraction_group_item_without_its_number_is_reported(study: Study, tmp_path: Path) -> None:
    def edit(ds: Dataset) -> None:
        del ds.ReferencedRTPlanSequence[0].ReferencedFractionGroupSequence[0][
            "ReferencedFractionGroupNumber"
        ]

    path = edited(study.rtdose[1], tmp_path, edit)  # the per-fraction dose
    with pytest.warns(
        RtplanWarning,
        match=r"RD_fraction\.dcm: a FRACTION dose must name its fraction group, but no item of "
        r"the ReferencedFractionGroupSequence \(300C,0020\) holds a valid "
        r"ReferencedFractionGroupNumber \(300C,0022\) \(Type 1\); the plan's first fraction "
        r"group is assumed",
    ):
        dose = rtplan.io.read_rtdose(path)
    assert dose.summation_type == "FRACTION"
    assert dose.plan_uid


# ---------------------------------------------------------------------------- dose meaning
def test_fractions_come_from_the_plan_the_dose_references(study: Study, tmp_path: Path) -> None:
    assert study.rtplan is not None
    plan = rtplan.io.read_rtplan(study.rtplan)
    one = rtplan.io.read_rtdose(study.rtdose[1], plan=plan)
    assert (one.summation_type, one.fractions) == ("FRACTION", 25)
    np.testing.assert_allclose(one.total().array, one.array * 25)
    # a plan of 20 fractions: its number wins over rtplan's DoseComment, and is said
    shorter = edited(
        study.rtplan,
        tmp_path,
        lambda ds: setattr(ds.FractionGroupSequence[0], "NumberOfFractionsPlanned", 20),
    )
    with pytest.warns(
        RtplanWarning, match=r"DoseComment says 25 fractions but the plan 'fuzz' plans 20"
    ):
        dose = rtplan.io.read_rtdose(study.rtdose[0], plan=rtplan.io.read_rtplan(shorter))
    assert dose.fractions == 20
    other = rtplan.Plan(fractions=25, name="other")
    with pytest.raises(DicomReadError, match=r"references the RT Plan .*, not the plan given"):
        rtplan.io.read_rtdose(study.rtdose[0], plan=other)


def test_dose_labelled_against_its_size_is_reported(study: Study, tmp_path: Path) -> None:
    assert study.rtplan is not None
    plan = rtplan.io.read_rtplan(study.rtplan)
    per_fraction_labelled_plan = edited(
        study.rtdose[1], tmp_path / "a", setter("DoseSummationType", "PLAN")
    )
    with pytest.warns(
        RtplanWarning,
        match=r"this PLAN dose reaches 2\.06\d* Gy, about what one fraction of the plan's 50 Gy "
        r"in 25 fractions gives: it may be a per-fraction dose",
    ):
        rtplan.io.read_rtdose(per_fraction_labelled_plan, plan=plan)
    whole_labelled_fraction = edited(
        study.rtdose[0], tmp_path / "b", setter("DoseSummationType", "FRACTION")
    )
    with pytest.warns(RtplanWarning) as record:
        rtplan.io.read_rtdose(whole_labelled_fraction, plan=plan)
    assert any(
        re.search(
            r"this FRACTION dose reaches 51\.54 Gy, of the order of the plan's whole",
            str(w.message),
        )
        for w in record
    )


def test_load_study_fills_fractions_from_the_plan(study: Study, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    shutil.copytree(study.folder, folder)
    loaded = rtplan.load_study(folder)
    assert [(d.summation_type, d.fractions) for d in loaded.doses] == [
        ("PLAN", 25),
        ("FRACTION", 25),
    ]
    assert loaded.doses[0].plan_uid == loaded.plans[0].uid


# ---------------------------------------------------------------------------- CT
@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            raw("RescaleSlope", "DS", b"NaN"),
            r"RescaleSlope \(0028,1053\) nan: HU cannot be computed",
        ),
        (raw("RescaleSlope", "DS", b"inf"), r"RescaleSlope \(0028,1053\) inf: HU cannot be"),
        (raw("RescaleSlope", "DS", b"0"), r"has RescaleSlope 0: HU cannot be computed"),
        (
            raw("RescaleSlope", "DS", b"-1"),
            r"RescaleSlope \(0028,1053\) -1, outside 0\.001 to 1000",
        ),
        (raw("RescaleSlope", "DS", b"1e6"), r"RescaleSlope \(0028,1053\) 1e\+06, outside 0\.001"),
        (
            raw("RescaleIntercept", "DS", b"-1e9"),
            r"RescaleIntercept \(0028,1052\) -1e\+09, beyond \+/-100000 HU",
        ),
        (raw("RescaleIntercept", "DS", b"abc"), r"no valid RescaleIntercept \(0028,1052\)"),
        (setter("BitsStored", 17), r"BitsStored \(0028,0101\) is 17, inconsistent"),
        (
            setter("PixelData", b"\x00\x00"),
            r"announce 1152 bytes of Pixel Data but the file holds 2",
        ),
    ],
)
def test_ct_slice_with_a_broken_rescale_or_pixel_module_is_refused(
    study: Study, tmp_path: Path, edit: Edit, match: str
) -> None:
    folder = ct_copy(study, tmp_path / "ct", 2, edit)
    with pytest.raises(DicomReadError, match=rf"CT_0002\.dcm.*{match}"):
        rtplan.io.read_ct(folder)


def test_ct_slice_whose_hu_leave_any_scale_is_refused(study: Study, tmp_path: Path) -> None:
    folder = ct_copy(study, tmp_path / "ct", 2, raw("RescaleSlope", "DS", b"500"))
    with (
        pytest.warns(
            RtplanWarning,
            match=r"RescaleSlope \(0028,1053\) differs between slices: 1 on 5 slice\(s\), other "
            r"values on 1: CT_0002\.dcm \(500\)",
        ),
        pytest.raises(
            DicomReadError,
            match=r"CT_0002\.dcm: its values reach \d+ to \d+ HU \(RescaleSlope 500, "
            r"RescaleIntercept -1024\), beyond \+/-100000 HU; the rescale or the pixel data",
        ),
    ):
        rtplan.io.read_ct(folder)


def test_ct_read_limit(study: Study) -> None:
    with (
        rtplan.io.read_limits(max_array_bytes=10_000),
        pytest.raises(
            DicomReadError,
            match=r"the volume of 6 x 24 x 24 float32 values needs 13\.5 KiB, above the "
            r"read limit of 9\.8 KiB",
        ),
    ):
        rtplan.io.read_ct(list(study.ct))


def test_ct_slice_filed_under_another_modality_is_read_as_ct(study: Study, tmp_path: Path) -> None:
    folder = ct_copy(study, tmp_path / "ct", 5, setter("Modality", "MR"))
    with pytest.warns(
        RtplanWarning,
        match=r"CT_0005\.dcm: Modality \(0008,0060\) is 'MR' but the SOP Class UID "
        r"1\.2\.840\.10008\.5\.1\.4\.1\.1\.2 is that of a CT object; the file was read as CT",
    ):
        ct = rtplan.io.read_ct(folder)
    assert ct.shape[0] == 6


# ---------------------------------------------------------------------------- RT Plan
def _beam_cp0(keyword: str, value: bytes, vr: str = "DS") -> Edit:
    def edit(ds: Dataset) -> None:
        raw(keyword, vr, value)(ds.BeamSequence[1].ControlPointSequence[0])

    return edit


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (
            _beam_cp0("GantryAngle", b"400"),
            PlanError,
            r"beam 2 'LAT', control point 0: GantryAngle \(300A,011E\) is 400, outside \[0, 360\)",
        ),
        (
            _beam_cp0("PatientSupportAngle", b"-10"),
            PlanError,
            r"PatientSupportAngle \(300A,0122\) is -10, outside \[0, 360\)",
        ),
        (
            _beam_cp0("NominalBeamEnergy", b"0"),
            PlanError,
            r"NominalBeamEnergy \(300A,0114\) is 0 MV, not a photon beam energy \(0 to 50 MV\)",
        ),
        (
            _beam_cp0("NominalBeamEnergy", b"150"),
            PlanError,
            r"NominalBeamEnergy \(300A,0114\) is 150 MV, not a photon beam energy",
        ),
        (
            _beam_cp0("GantryAngle", b"ninety"),
            DicomReadError,
            r"control point 0: GantryAngle \(300A,011E\) is 'ninety', not a number",
        ),
        (
            lambda ds: setattr(ds.BeamSequence[0], "FinalCumulativeMetersetWeight", "2"),
            PlanError,
            r"beam 1 'AP': the last control point's CumulativeMetersetWeight 1 disagrees with the "
            r"beam's FinalCumulativeMetersetWeight \(300A,010E\) 2",
        ),
        (
            lambda ds: setattr(
                ds.BeamSequence[0].ControlPointSequence[0], "CumulativeMetersetWeight", "0.5"
            ),
            PlanError,
            r"the first control point's CumulativeMetersetWeight \(300A,0134\) is 0\.5, not 0",
        ),
        (
            lambda ds: setattr(ds.BeamSequence[0], "NumberOfControlPoints", 3),
            PlanError,
            r"NumberOfControlPoints \(300A,0110\) is 3 but the ControlPointSequence holds 2",
        ),
        (
            lambda ds: setattr(ds.FractionGroupSequence[0], "NumberOfFractionsPlanned", 500),
            PlanError,
            r"NumberOfFractionsPlanned \(300A,0078\) is 500; a plan delivers 1 to 100 fractions",
        ),
        (
            lambda ds: setattr(ds.FractionGroupSequence[0], "NumberOfFractionsPlanned", 0),
            PlanError,
            r"NumberOfFractionsPlanned \(300A,0078\) is 0; a plan delivers 1 to 100",
        ),
        (
            lambda ds: setattr(
                ds.FractionGroupSequence[0].ReferencedBeamSequence[0], "BeamMeterset", "-5"
            ),
            DicomReadError,
            r"BeamMeterset \(300A,0086\) is -5, which is not 0 or more MU",
        ),
        (
            lambda ds: delattr(
                ds.FractionGroupSequence[0].ReferencedBeamSequence[1], "ReferencedBeamNumber"
            ),
            PlanError,
            r"ReferencedBeamSequence item 2 lacks ReferencedBeamNumber \(300C,0006\) \(Type 1\)",
        ),
        (
            lambda ds: setattr(ds.BeamSequence[1], "BeamNumber", 1),
            PlanError,
            r"BeamNumber \(300A,00C0\) 1 is used by two beams of the BeamSequence",
        ),
        (
            lambda ds: setattr(ds.DoseReferenceSequence[0], "TargetPrescriptionDose", "5000"),
            PlanError,
            r"TargetPrescriptionDose \(300A,0026\) is 5000 Gy, above the 1000 Gy",
        ),
    ],
)
def test_implausible_or_broken_plans_are_refused(
    study: Study, tmp_path: Path, edit: Edit, error: type[Exception], match: str
) -> None:
    assert study.rtplan is not None
    path = edited(study.rtplan, tmp_path, edit)
    with pytest.raises(error, match=rf"RP\.dcm.*{match}"):
        rtplan.io.read_rtplan(path)


@pytest.mark.parametrize(
    ("mu", "match"),
    [
        ("0", r"beam 1 'AP' has a BeamMeterset of 0 MU: it delivers no dose"),
        ("7000", r"beam 1 'AP' has a BeamMeterset of 7000 MU per fraction, above the 5000 MU"),
    ],
)
def test_zero_and_huge_mu_are_reported(study: Study, tmp_path: Path, mu: str, match: str) -> None:
    assert study.rtplan is not None
    path = edited(
        study.rtplan,
        tmp_path,
        lambda ds: setattr(
            ds.FractionGroupSequence[0].ReferencedBeamSequence[0], "BeamMeterset", mu
        ),
    )
    with pytest.warns(RtplanWarning, match=match):
        plan = rtplan.io.read_rtplan(path)
    assert plan.beams[0].mu == float(mu)


def test_plan_without_uid_gets_a_new_one_with_a_warning(study: Study, tmp_path: Path) -> None:
    assert study.rtplan is not None
    path = edited(study.rtplan, tmp_path, lambda ds: delattr(ds, "SOPInstanceUID"))
    with pytest.warns(RtplanWarning) as record:
        plan = rtplan.io.read_rtplan(path)
    messages = [str(w.message) for w in record]
    assert any(
        f"the RT Plan has no SOPInstanceUID (0008,0018) (Type 1): RT Doses cannot name it; it "
        f"was given the new UID {plan.uid}" in m
        for m in messages
    ), messages


def test_sop_instance_uid_differing_from_the_file_meta_is_reported(
    study: Study, tmp_path: Path
) -> None:
    assert study.rtplan is not None
    path = edited(study.rtplan, tmp_path, setter("SOPInstanceUID", "1.2.3.4"))
    with pytest.warns(
        RtplanWarning,
        match=r"RP\.dcm: SOPInstanceUID \(0008,0018\) 1\.2\.3\.4 differs from the file meta's "
        r"MediaStorageSOPInstanceUID \(0002,0003\)",
    ):
        assert rtplan.io.read_rtplan(path).uid == "1.2.3.4"


def test_unreadable_plan_in_a_study_is_skipped_with_a_warning(study: Study, tmp_path: Path) -> None:
    assert study.rtplan is not None
    folder = tmp_path / "study"
    shutil.copytree(study.folder, folder)
    edited(study.rtplan, folder, _beam_cp0("GantryAngle", b"ninety"))
    with pytest.warns(
        RtplanWarning, match=r"skipping the RT Plan .*RP\.dcm: .*'ninety', not a number"
    ):
        loaded = rtplan.load_study(folder)
    assert loaded.plans == ()
    assert len(loaded.doses) == 2  # the doses are still read, without the plan's fractions


# ---------------------------------------------------------------------------- RT Struct
def _rs(study: Study, tmp_path: Path, rois: list[Roi], **kw: object) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_rtstruct(tmp_path / "RS.dcm", list(study.ct), rois=rois, **kw)  # type: ignore[arg-type]


Z = -7.5 + 3.0 * np.arange(6)  # the synthetic CT's slices


def test_contour_listed_twice_is_kept_once(study: Study, tmp_path: Path) -> None:
    ct = rtplan.io.read_ct(list(study.ct))
    circle = ellipse_points_mm((8.0, 8.0), Z[2], n=32)
    once = rtplan.io.read_rtstruct(
        _rs(study, tmp_path / "a", [Roi(name="GTV", contours=(circle,))]), reference=ct
    )
    path = _rs(study, tmp_path / "b", [Roi(name="GTV", contours=(circle, circle))])
    with pytest.warns(
        RtplanWarning,
        match=r"RS\.dcm: ROI 'GTV': contour 2 repeats contour 1 on z = -1\.5 mm \(exactly\); one "
        r"copy kept \(two would cancel by the even-odd rule\)",
    ):
        twice = rtplan.io.read_rtstruct(path, reference=ct)
    assert len(twice["GTV"].contours) == 1
    assert twice["GTV"].volume_cc == pytest.approx(once["GTV"].volume_cc)
    assert twice["GTV"].volume_cc > 0
    near = circle + np.random.default_rng(5).normal(0.0, 0.01, circle.shape) * [1, 1, 0]
    path = _rs(study, tmp_path / "c", [Roi(name="GTV", contours=(circle, near[::-1]))])
    with pytest.warns(RtplanWarning, match=r"contour 2 repeats contour 1 .*within 2% of its area"):
        nearly = rtplan.io.read_rtstruct(path, reference=ct)
    assert nearly["GTV"].volume_cc == pytest.approx(once["GTV"].volume_cc)


def test_bow_tie_contour_is_read_as_its_lobes_naming_roi_slice_and_file(
    study: Study, tmp_path: Path
) -> None:
    ct = rtplan.io.read_ct(list(study.ct))
    bow = np.array([[-10, -10, Z[3]], [10, 10, Z[3]], [10, -10, Z[3]], [-10, 10, Z[3]]], float)
    path = _rs(study, tmp_path, [Roi(name="Bad", contours=(bow,))])
    with pytest.warns(
        RtplanWarning,
        match=r"RS\.dcm: ROI 'Bad': contour 1 crosses itself on z = 1\.5 mm \(a bow tie\); read "
        r"as its 2 lobe\(s\), 200 mm2 in all",
    ):
        ss = rtplan.io.read_rtstruct(path, reference=ct)
    assert len(ss["Bad"].contours) == 2
    assert ss["Bad"].volume_cc == pytest.approx(200.0 * 3.0 / 1000.0)
    assert int(ss["Bad"].mask(ct.grid).sum()) > 0


def test_keyhole_contour_is_read_as_drawn(study: Study, tmp_path: Path) -> None:
    ct = rtplan.io.read_ct(list(study.ct))
    z = Z[3]
    keyhole = np.array(
        [
            [-10, -10],
            [10, -10],
            [10, 10],
            [-10, 10],
            [-10, 0],
            [-4, 0],
            [-4, 4],
            [4, 4],
            [4, -4],
            [-4, -4],
            [-4, 0],
            [-10, 0],
        ],
        dtype=float,
    )
    pts = np.column_stack([keyhole, np.full(len(keyhole), z)])
    path = _rs(study, tmp_path, [Roi(name="Ring", contours=(pts,))])
    ss = rtplan.io.read_rtstruct(path, reference=ct)  # no warning: warnings are errors
    assert ss["Ring"].volume_cc == pytest.approx((400.0 - 64.0) * 3.0 / 1000.0)


def test_contour_far_outside_any_patient_is_skipped_and_reported(
    study: Study, tmp_path: Path
) -> None:
    far = ellipse_points_mm((5.0, 5.0), Z[2], centre_mm=(3e7, 0.0), n=8)
    path = _rs(study, tmp_path, [Roi(name="Far", contours=(far,))])
    with pytest.warns(RtplanWarning) as record:
        ss = rtplan.io.read_rtstruct(path)
    messages = " | ".join(str(w.message) for w in record)
    assert re.search(
        r"ROI 'Far', contour 1: Contour Data holds coordinates beyond 1e\+06 mm \(3e\+07 mm\), "
        r"far outside any patient; contour skipped",
        messages,
    ), messages
    assert ss["Far"].contours == ()


def test_missing_observations_leave_types_unknown_with_a_warning(
    study: Study, tmp_path: Path
) -> None:
    path = edited(study.rtstruct, tmp_path, lambda ds: delattr(ds, "RTROIObservationsSequence"))
    with pytest.warns(RtplanWarning, match=r"no RT ROI Observations Sequence \(3006,0080\)"):
        ss = rtplan.io.read_rtstruct(path)
    assert {s.interpreted_type for s in ss} == {""}


def _rs_item(sequence: str, keyword: str, vr: str | None = None, value: bytes = b"") -> Edit:
    """Delete ``keyword`` from the PTV's item of ``sequence`` (the 2nd), or store raw bytes."""

    def edit(ds: Dataset) -> None:
        item = ds[sequence][1]
        if sequence == "ROIContourSequence" and keyword in ("ContourData", "ContourGeometricType"):
            item = item.ContourSequence[0]
        if vr is None:
            delattr(item, keyword)
        else:
            raw(keyword, vr, value)(item)

    return edit


@pytest.mark.parametrize(
    ("edit", "match", "names"),
    [
        (
            _rs_item("StructureSetROISequence", "ROINumber"),
            r"Structure Set ROI item 2 has no valid ROI Number; skipped",
            ["Body", "Ring"],
        ),
        (
            _rs_item("StructureSetROISequence", "ROINumber", "IS", b"two"),
            r"Structure Set ROI item 2 has no valid ROI Number; skipped",
            ["Body", "Ring"],
        ),
        (
            _rs_item("ROIContourSequence", "ReferencedROINumber"),
            r"ROI Contour item 2 has no valid Referenced ROI Number \(3006,0084\) \(Type 1\): it "
            r"names no ROI; its contours are skipped",
            ["Body", "PTV", "Ring"],
        ),
        (
            _rs_item("ROIContourSequence", "ReferencedROINumber", "FD", b"\x00" * 8),
            r"ReferencedROINumber \(3006,0084\) \(VR FD where the standard has IS\) cannot be "
            r"decoded and was left out",
            ["Body", "PTV", "Ring"],
        ),
        (
            _rs_item("StructureSetROISequence", "ROIName"),
            r"ROI number 2 has no ROI Name; named 'ROI-2'",
            ["Body", "ROI-2", "Ring"],
        ),
        (
            _rs_item("ROIContourSequence", "ContourData"),
            r"ROI 'PTV', contour 1: unreadable Contour Data \(no Contour Data \(3006,0050\)\); "
            r"contour skipped",
            ["Body", "PTV", "Ring"],
        ),
        (
            _rs_item("ROIContourSequence", "ContourData", "US", b"\x01\x00\x02\x00"),
            r"ROI 'PTV', contour 1: unreadable Contour Data \(Contour Data \(3006,0050\) has VR "
            r"US where the standard has DS\); contour skipped",
            ["Body", "PTV", "Ring"],
        ),
        (
            _rs_item("ROIContourSequence", "ContourData", "DS", b"1.5\\x\\2"),
            r"ROI 'PTV', contour 1: unreadable Contour Data \(Contour Data \(3006,0050\) holds "
            r"text that is not numbers\); contour skipped",
            ["Body", "PTV", "Ring"],
        ),
    ],
)
def test_rtstruct_item_without_a_type_1_element_or_with_a_bad_one_is_reported(
    study: Study, tmp_path: Path, edit: Edit, match: str, names: list[str]
) -> None:
    """Missing or undecodable Type 1 elements inside the RT Struct's sequences: the item
    is skipped (or named) with a warning naming the file, item and tag; never an exception."""
    ct = rtplan.io.read_ct(list(study.ct))
    path = edited(study.rtstruct, tmp_path, edit)
    with pytest.warns(RtplanWarning) as record:
        ss = rtplan.io.read_rtstruct(path, reference=ct)
    messages = " | ".join(str(w.message) for w in record)
    assert re.search(match, messages), messages
    assert "RS.dcm" in messages
    assert [s.name for s in ss] == names
