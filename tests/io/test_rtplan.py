"""RT Plan: round trips, validation, peer readers, and tolerant reading of real-world plans.

Plans "from elsewhere" are built here with pydicom alone, following PS3.3 C.8.8.14 (RT
Beams, control point inheritance), C.8.8.13 (fraction scheme), C.8.8.10 (prescription) and
C.8.8.12 (patient setup), in the shapes TPSs write them (Elekta Agility without X jaws,
symmetric X/Y jaws, setup fields, wedges, VMAT and step-and-shoot IMRT).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import rtplan
from rtplan import Beam, Contour, Grid, Image, Mlc, Plan, Structure
from rtplan.errors import DicomReadError, DicomWriteError, PlanError, RtplanWarning
from rtplan.image import SeriesInfo

RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
GRID = Grid(shape=(4, 8, 8), spacing_mm=(2.5, 2.0, 2.0), origin_mm=(-7.0, -7.0, -3.75))


# ------------------------------------------------------------------ helpers
def reference_ct(position: str | None = "HFS") -> Image:
    series = SeriesInfo(
        study_instance_uid=generate_uid(),
        series_instance_uid=generate_uid(),
        frame_of_reference_uid=generate_uid(),
        modality="CT",
        patient={"PatientName": "Plan^Test", "PatientID": "P1"},
    )
    return Image(
        array=np.zeros(GRID.shape, dtype=np.int16),
        grid=GRID,
        units="HU",
        patient_position=position,
        series=series,
    )


def dciodvfy_errors(path: Path) -> list[str]:
    """Error lines of dciodvfy; fails if the validator itself crashed (no silent pass)."""
    proc = subprocess.run(
        ["dciodvfy", "-new", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), f"dciodvfy crashed (rc {proc.returncode}):\n{out}"
    assert "Assertion" not in out, out
    return [ln for ln in out.splitlines() if ln.startswith("Error")]


def dicompyler() -> Any:
    """dicompyler-core's DicomParser (with the pydicom 3 shim)."""
    import factories

    return factories.dicompyler_parser()


def mlc_beam() -> Beam:
    rng = np.random.default_rng(7)
    mlc = Mlc.uniform(40, 5.0)
    a = -rng.uniform(0.0, 40.0, 40)
    b = rng.uniform(0.0, 40.0, 40)
    a[:3] = b[:3] = -12.5  # closed pairs parked together
    return Beam(
        energy="6X",
        gantry_deg=33.333333333333336,
        collimator_deg=15.0,
        couch_deg=350.0,
        isocenter_mm=(1.25, -2.5, 30.125),
        sad_mm=1000.0,
        jaws_mm=(-41.5, 38.0, -95.0, 87.5),
        mlc=mlc.with_positions(np.vstack([a, b])),
        mu=123.456,
        name="RAO oblique",
        number=7,
        machine="TrueBeam1",
    )


def sample_plan() -> Plan:
    beams = [
        mlc_beam(),
        Beam(energy="10X", gantry_deg=180.0, mu=88.0, name="PA", machine="TrueBeam1"),
        Beam(energy="6FFF", gantry_deg=270.5, jaws_mm=(-30, 0, -20, 45), name="lat"),
    ]
    return Plan(
        beams=beams,
        prescription_gy=45.0,
        fractions=25,
        normalization="d95",
        target_name="PTV_45",
        name="Thigh sarcoma 3DCRT",
        patient_position="FFS",
    )


def assert_same_beam(a: Beam, b: Beam) -> None:
    assert (a.energy, a.name, a.machine) == (b.energy, b.name, b.machine)
    assert a.gantry_deg == pytest.approx(b.gantry_deg, abs=1e-9)
    assert a.collimator_deg == pytest.approx(b.collimator_deg, abs=1e-9)
    assert a.couch_deg == pytest.approx(b.couch_deg, abs=1e-9)
    np.testing.assert_allclose(a.isocenter_mm, b.isocenter_mm, atol=1e-9)
    np.testing.assert_allclose(a.jaws_mm, b.jaws_mm, atol=1e-9)
    assert a.sad_mm == b.sad_mm
    assert (a.mu is None) == (b.mu is None)
    if a.mu is not None:
        assert a.mu == pytest.approx(b.mu, abs=1e-9)
    assert (a.mlc is None) == (b.mlc is None)
    if a.mlc is not None and b.mlc is not None:
        np.testing.assert_allclose(a.mlc.leaf_boundaries_mm, b.mlc.leaf_boundaries_mm)
        np.testing.assert_allclose(a.mlc.positions_mm, b.mlc.positions_mm, atol=1e-9)


# ------------------------------------------------------------------ writing
def test_round_trip_keeps_every_beam_parameter(tmp_path: Path) -> None:
    plan = sample_plan()
    ct = reference_ct()
    path = rtplan.io.write_rtplan(plan, tmp_path / "RP.dcm", reference=ct)
    with pytest.warns(RtplanWarning, match="'lat' has no BeamMeterset"):
        back = rtplan.io.read_rtplan(path)
    assert len(back.beams) == 3
    for a, b in zip(back.beams, plan.beams, strict=True):
        assert_same_beam(a, b)
    # numbers: given ones kept, the others the next free ones in order
    assert [b.number for b in back.beams] == [7, 1, 2]
    assert back.prescription_gy == 45.0
    assert back.fractions == 25
    assert back.normalization == "d95"
    assert back.target_name == "PTV_45"
    assert back.name == "Thigh sarcoma 3DCRT"
    assert back.patient_position is rtplan.PatientPosition.FFS
    assert ct.series is not None
    assert back.extra["frame_of_reference_uid"] == ct.series.frame_of_reference_uid
    assert back.extra["plan_geometry"] == "TREATMENT_DEVICE"
    # written a second time, the plan reads back the same again
    again = rtplan.io.write_rtplan(back, tmp_path / "RP2.dcm", reference=ct)
    with pytest.warns(RtplanWarning, match="no BeamMeterset"):
        twice = rtplan.io.read_rtplan(again)
    for a, b in zip(twice.beams, back.beams, strict=True):
        assert_same_beam(a, b)
        assert a.number == b.number


def test_written_plan_structure(tmp_path: Path) -> None:
    ct = reference_ct()
    uid = generate_uid()
    path = rtplan.io.write_rtplan(
        sample_plan(),
        tmp_path / "RP.dcm",
        reference=ct,
        structures_sop_uid="1.2.3.4",
        sop_instance_uid=uid,
    )
    ds = pydicom.dcmread(path)
    assert ct.series is not None
    assert ds.SOPInstanceUID == uid
    assert (ds.Modality, ds.SOPClassUID) == ("RTPLAN", RT_PLAN)
    assert ds.FrameOfReferenceUID == ct.series.frame_of_reference_uid
    assert ds.StudyInstanceUID == ct.series.study_instance_uid
    assert ds.SeriesInstanceUID != ct.series.series_instance_uid
    assert (ds.RTPlanLabel, ds.RTPlanGeometry) == ("Thigh sarcoma 3D", "PATIENT")
    assert ds.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == "1.2.3.4"
    (dref,) = ds.DoseReferenceSequence
    assert (dref.DoseReferenceType, float(dref.TargetPrescriptionDose)) == ("TARGET", 45.0)
    assert ds.PatientSetupSequence[0].PatientPosition == "FFS"
    (fg,) = ds.FractionGroupSequence
    assert (fg.NumberOfFractionsPlanned, fg.NumberOfBeams) == (25, 3)
    metersets = {
        rb.ReferencedBeamNumber: rb.get("BeamMeterset") for rb in fg.ReferencedBeamSequence
    }
    assert float(metersets[7]) == pytest.approx(123.456)
    assert metersets[2] is None
    beam = ds.BeamSequence[0]
    assert (beam.BeamType, beam.RadiationType, beam.TreatmentMachineName) == (
        "STATIC",
        "PHOTON",
        "TrueBeam1",
    )
    assert [d.RTBeamLimitingDeviceType for d in beam.BeamLimitingDeviceSequence] == [
        "ASYMX",
        "ASYMY",
        "MLCX",
    ]
    assert len(beam.BeamLimitingDeviceSequence[2].LeafPositionBoundaries) == 41
    cp0, cp1 = beam.ControlPointSequence
    assert (float(cp0.CumulativeMetersetWeight), float(cp1.CumulativeMetersetWeight)) == (0, 1)
    assert float(beam.FinalCumulativeMetersetWeight) == 1.0
    assert float(cp0.NominalBeamEnergy) == 6.0
    positions = {
        p.RTBeamLimitingDeviceType: p.LeafJawPositions
        for p in cp0.BeamLimitingDevicePositionSequence
    }
    assert [float(v) for v in positions["ASYMX"]] == [-41.5, 38.0]
    assert [float(v) for v in positions["ASYMY"]] == [-95.0, 87.5]
    leaves = np.array([float(v) for v in positions["MLCX"]])
    assert leaves.size == 80
    np.testing.assert_allclose(leaves[:40], mlc_beam().mlc.positions_mm[0])  # type: ignore[union-attr]
    np.testing.assert_allclose(leaves[40:], mlc_beam().mlc.positions_mm[1])  # type: ignore[union-attr]
    fff = ds.BeamSequence[2].PrimaryFluenceModeSequence[0]
    assert (fff.FluenceMode, fff.FluenceModeID) == ("NON_STANDARD", "FFF")


@pytest.mark.parametrize("structures_uid", [None, "1.2.826.0.1.3680043.8.498.77"])
def test_written_plan_validates(tmp_path: Path, structures_uid: str | None) -> None:
    path = rtplan.io.write_rtplan(
        sample_plan(),
        tmp_path / "RP.dcm",
        reference=reference_ct(),
        structures_sop_uid=structures_uid,
    )
    assert dciodvfy_errors(path) == []


@pytest.mark.peer
def test_dicompyler_reads_written_plan(tmp_path: Path) -> None:
    path = rtplan.io.write_rtplan(sample_plan(), tmp_path / "RP.dcm", reference=reference_ct())
    parser = dicompyler()(str(path))
    assert parser.GetSOPClassUID() == "rtplan"
    info = parser.GetPlan()
    assert info["label"] == "Thigh sarcoma 3D"
    assert info["rxdose"] == 4500  # cGy
    assert info["name"] == "PTV_45"
    assert info["brachy"] is False
    beams = parser.GetReferencedBeamsInFraction()
    assert {n: b["name"] for n, b in beams.items()} == {7: "RAO oblique", 1: "PA", 2: "lat"}
    assert parser.GetFrameOfReferenceUID() == pydicom.dcmread(path).FrameOfReferenceUID


def test_conformal_plan_round_trip(tmp_path: Path) -> None:
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    contours = tuple(
        Contour(points_mm=np.column_stack([20 * np.cos(t), 12 * np.sin(t), np.full(60, z)]))
        for z in np.arange(-20.0, 21.0, 2.5)
    )
    ptv = Structure(name="PTV", contours=contours, slice_thickness_mm=2.5)
    plan = Plan.conformal(ptv, gantry_angles_deg=[0, 120, 240], prescription_gy=30.0, fractions=10)
    path = rtplan.io.write_rtplan(plan, tmp_path / "RP.dcm", reference=reference_ct())
    assert dciodvfy_errors(path) == []
    with pytest.warns(RtplanWarning, match="no BeamMeterset"):
        back = rtplan.io.read_rtplan(path)
    assert [b.name for b in back.beams] == ["G000", "G120", "G240"]
    for a, b in zip(back.beams, plan.beams, strict=True):
        assert_same_beam(a, b)
    assert back.normalization == "mean"


def test_write_errors(tmp_path: Path) -> None:
    ct = reference_ct()
    with pytest.raises(DicomWriteError, match="has no beams"):
        rtplan.io.write_rtplan(Plan(), tmp_path / "a.dcm", reference=ct)
    with pytest.raises(DicomWriteError, match="patient position is unknown"):
        rtplan.io.write_rtplan(
            Plan(beams=[Beam()]), tmp_path / "a.dcm", reference=reference_ct(None)
        )
    with pytest.raises(DicomWriteError, match="Beam Number 3 is used by several"):
        rtplan.io.write_rtplan(
            Plan(beams=[Beam(number=3), Beam(number=3)]), tmp_path / "a.dcm", reference=ct
        )
    with pytest.raises(PlanError, match="not a photon energy label"):
        rtplan.io.write_rtplan(Plan(beams=[Beam(energy="12MeV")]), tmp_path / "a.dcm", reference=ct)
    with pytest.raises(DicomWriteError, match="longer than 16 characters"):
        rtplan.io.write_rtplan(
            Plan(beams=[Beam(machine="A" * 17)]), tmp_path / "a.dcm", reference=ct
        )
    bare = Image(array=np.zeros(GRID.shape), grid=GRID, patient_position="HFS")
    with pytest.raises(DicomWriteError, match="no frame of reference"):
        rtplan.io.write_rtplan(Plan(beams=[Beam()]), tmp_path / "a.dcm", reference=bare)
    assert not (tmp_path / "a.dcm").exists()


@pytest.mark.parametrize(
    ("label", "mv", "mode"),
    [
        ("6X", 6.0, "STANDARD"),
        ("10X", 10.0, "STANDARD"),
        ("6MV", 6.0, "STANDARD"),
        ("6FFF", 6.0, "FFF"),
        ("10X-FFF", 10.0, "FFF"),
        ("18x", 18.0, "STANDARD"),
    ],
)
def test_energy_labels(label: str, mv: float, mode: str) -> None:
    from rtplan.io.rtplan import format_energy, parse_energy

    assert parse_energy(label) == (mv, mode)
    assert parse_energy(format_energy(mv, mode)) == (mv, mode)


# ------------------------------------------------------------------ reading plans from elsewhere
def cp_devices(**devices: list[float]) -> DicomSequence:
    items = []
    for kind, values in devices.items():
        item = Dataset()
        item.RTBeamLimitingDeviceType = kind
        item.LeafJawPositions = [str(v) for v in values]
        items.append(item)
    return DicomSequence(items)


def foreign_beam(
    number: int,
    *,
    radiation: str = "PHOTON",
    delivery: str = "TREATMENT",
    gantry: list[float] | None = None,
    leaves: list[list[float]] | None = None,
    jaws: dict[str, list[float]] | None = None,
    wedges: int = 0,
    with_iso: bool = True,
    with_sad: bool = True,
) -> Dataset:
    """A beam as TPSs write it: geometry in control point 0, later ones only what changes."""
    n_pairs = 4
    bounds = [-10.0, -5.0, 0.0, 5.0, 10.0]
    gantry = gantry or [90.0, None]  # type: ignore[list-item]
    leaves = leaves or [[-5, -6, -7, -8, 5, 6, 7, 8]]
    jaws = {"ASYMX": [-10.0, 10.0], "ASYMY": [-10.0, 10.0]} if jaws is None else jaws
    b = Dataset()
    b.BeamNumber = number
    b.BeamName = f"F{number}"
    b.BeamType = "STATIC" if len(gantry) == 2 else "DYNAMIC"
    b.RadiationType = radiation
    b.TreatmentMachineName = "Agility"
    if with_sad:
        b.SourceAxisDistance = "1000"
    devs = []
    for kind in [*jaws, "MLCX"]:
        d = Dataset()
        d.RTBeamLimitingDeviceType = kind
        d.NumberOfLeafJawPairs = n_pairs if kind == "MLCX" else 1
        if kind == "MLCX":
            d.LeafPositionBoundaries = [str(v) for v in bounds]
        devs.append(d)
    b.BeamLimitingDeviceSequence = DicomSequence(devs)
    b.TreatmentDeliveryType = delivery
    b.NumberOfWedges = wedges
    b.NumberOfCompensators = b.NumberOfBoli = b.NumberOfBlocks = 0
    cps = []
    for i, g in enumerate(gantry):
        cp = Dataset()
        cp.ControlPointIndex = i
        cp.CumulativeMetersetWeight = f"{i / (len(gantry) - 1):.6g}"
        if i == 0:
            cp.NominalBeamEnergy = "6"
            cp.BeamLimitingDeviceAngle = "0"
            cp.PatientSupportAngle = "0"
            if with_iso:
                cp.IsocenterPosition = ["1.5", "2.5", "-3.5"]
            cp.BeamLimitingDevicePositionSequence = cp_devices(**jaws, MLCX=leaves[0])
        elif i < len(leaves):
            cp.BeamLimitingDevicePositionSequence = cp_devices(MLCX=leaves[i])
        if g is not None:
            cp.GantryAngle = str(g)
        cps.append(cp)
    b.ControlPointSequence = DicomSequence(cps)
    b.NumberOfControlPoints = len(cps)
    return b


def foreign_plan(
    path: Path,
    beams: list[Dataset],
    *,
    mu: dict[int, float] | None = None,
    prescription: float | None = 50.0,
    fractions: int | None = 25,
    position: str | None = "HFS",
    sop_class: str = RT_PLAN,
) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTPLAN"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.RTPlanLabel = "foreign"
    ds.BeamSequence = DicomSequence(beams)
    if prescription is not None:
        dref = Dataset()
        dref.DoseReferenceNumber = 1
        dref.DoseReferenceStructureType = "SITE"
        dref.DoseReferenceType = "TARGET"
        dref.DoseReferenceDescription = "PTV"
        dref.TargetPrescriptionDose = str(prescription)
        ds.DoseReferenceSequence = DicomSequence([dref])
    if position is not None:
        setup = Dataset()
        setup.PatientSetupNumber = 1
        setup.PatientPosition = position
        ds.PatientSetupSequence = DicomSequence([setup])
    fg = Dataset()
    fg.FractionGroupNumber = 1
    if fractions is not None:
        fg.NumberOfFractionsPlanned = fractions
    fg.NumberOfBeams = len(beams)
    refs = []
    for number, value in (mu or {}).items():
        rb = Dataset()
        rb.ReferencedBeamNumber = number
        rb.BeamMeterset = str(value)
        refs.append(rb)
    fg.ReferencedBeamSequence = DicomSequence(refs)
    ds.FractionGroupSequence = DicomSequence([fg])
    ds.save_as(path, enforce_file_format=True)
    return path


def test_read_foreign_static_plan(tmp_path: Path) -> None:
    path = foreign_plan(
        tmp_path / "rp.dcm",
        [foreign_beam(1), foreign_beam(2, gantry=[270.0, None, None])],
        mu={1: 100.0, 2: 150.5},
    )
    plan = rtplan.io.read_rtplan(path)
    first, second = plan.beams
    assert (first.gantry_deg, first.energy, first.machine, first.mu) == (
        90.0,
        "6X",
        "Agility",
        100.0,
    )
    assert first.isocenter_mm == (1.5, 2.5, -3.5)
    assert first.jaws_mm == (-10.0, 10.0, -10.0, 10.0)
    assert first.mlc is not None
    np.testing.assert_array_equal(first.mlc.positions_mm, [[-5, -6, -7, -8], [5, 6, 7, 8]])
    # three control points that change nothing are a static beam
    assert (second.gantry_deg, second.mu) == (270.0, 150.5)
    assert (plan.prescription_gy, plan.fractions, plan.target_name) == (50.0, 25, "PTV")
    assert plan.patient_position is rtplan.PatientPosition.HFS


def test_read_tolerates_missing_parts(tmp_path: Path) -> None:
    beam = foreign_beam(1, with_iso=False, with_sad=False, jaws={"ASYMY": [-7.5, 9.0]}, wedges=1)
    path = foreign_plan(
        tmp_path / "rp.dcm", [beam], prescription=None, fractions=None, position=None
    )
    with pytest.warns(RtplanWarning) as record:
        plan = rtplan.io.read_rtplan(path)
    messages = "\n".join(str(w.message) for w in record)
    for expected in (
        "no IsocenterPosition",
        "no SourceAxisDistance; 1000 mm assumed",
        "has no X jaws",
        "1 wedges; rtplan's beam model ignores them",
        "no BeamMeterset",
        "NumberOfFractionsPlanned is missing",
        "no TARGET dose reference",
        "no PatientPosition",
    ):
        assert expected in messages
    (b,) = plan.beams
    assert b.isocenter_mm == (0.0, 0.0, 0.0)
    assert b.jaws_mm == (-8.0, 8.0, -7.5, 9.0)  # X from the open leaves (Agility: no X jaws)
    assert (b.mu, plan.prescription_gy, plan.fractions, plan.patient_position) == (
        None,
        None,
        1,
        None,
    )


def test_read_symmetric_jaws_and_setup_beams(tmp_path: Path) -> None:
    sym = foreign_beam(1, jaws={"X": [-40.0, 40.0], "Y": [-30.0, 30.0]})
    setup = foreign_beam(2, delivery="SETUP")
    path = foreign_plan(tmp_path / "rp.dcm", [sym, setup], mu={1: 50.0})
    plan = rtplan.io.read_rtplan(path)
    (b,) = plan.beams
    assert b.jaws_mm == (-40.0, 40.0, -30.0, 30.0)


@pytest.mark.parametrize(
    ("beam", "match"),
    [
        (foreign_beam(1, radiation="ELECTRON"), "RadiationType ELECTRON"),
        (  # VMAT: the gantry turns and the leaves move
            foreign_beam(
                1,
                gantry=[180.0, 200.0, 220.0],
                leaves=[
                    [-5, -6, -7, -8, 5, 6, 7, 8],
                    [-4, -6, -7, -8, 5, 6, 7, 9],
                    [-3] * 4 + [4] * 4,
                ],
            ),
            r"dynamic .*gantry angle \(arc\).*MLCX positions",
        ),
        (  # step-and-shoot IMRT: fixed gantry, segments of different leaf positions
            foreign_beam(
                1,
                gantry=[0.0, None, None, None],
                leaves=[
                    [-5] * 4 + [5] * 4,
                    [-5] * 4 + [5] * 4,
                    [-2] * 4 + [3] * 4,
                    [-2] * 4 + [3] * 4,
                ],
            ),
            r"4 control points with changing MLCX positions",
        ),
    ],
    ids=["electron", "vmat", "step-and-shoot"],
)
def test_read_refuses_non_static_photon_beams(tmp_path: Path, beam: Dataset, match: str) -> None:
    path = foreign_plan(tmp_path / "rp.dcm", [beam], mu={1: 100.0})
    with pytest.raises(PlanError, match=match) as info:
        rtplan.io.read_rtplan(path)
    assert "static photon beams only" in str(info.value)


def test_read_refuses_other_objects(tmp_path: Path) -> None:
    ion = foreign_plan(
        tmp_path / "ion.dcm", [foreign_beam(1)], sop_class="1.2.840.10008.5.1.4.1.1.481.8"
    )
    with pytest.raises(PlanError, match="RT Ion Plan"):
        rtplan.io.read_rtplan(ion)
    ds = pydicom.dcmread(ion)
    ds.SOPClassUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.2", "CT"
    ds.save_as(tmp_path / "ct.dcm")
    with pytest.raises(DicomReadError, match="not an RT Plan"):
        rtplan.io.read_rtplan(tmp_path / "ct.dcm")
    ds = pydicom.dcmread(foreign_plan(tmp_path / "brachy.dcm", [foreign_beam(1)]))
    del ds.BeamSequence
    ds.ApplicationSetupSequence = DicomSequence([Dataset()])
    ds.save_as(tmp_path / "brachy.dcm")
    with pytest.raises(PlanError, match="brachytherapy"):
        rtplan.io.read_rtplan(tmp_path / "brachy.dcm")


# ------------------------------------------------------------------ the whole flow
def test_plan_and_dose_join_the_sample_study(tmp_path: Path, thigh_path: Path) -> None:
    import shutil

    study = rtplan.load_study(thigh_path)
    ptv = study.structures["PTV"]
    plan = Plan.conformal(
        ptv,
        gantry_angles_deg=[0, 120, 240],
        prescription_gy=30.0,
        fractions=10,
        patient_position=study.ct.patient_position or "HFS",
    )
    folder = tmp_path / "study"
    shutil.copytree(thigh_path, folder)
    uid = generate_uid()
    plan_path = rtplan.io.write_rtplan(
        plan.with_beams([b.with_mu(100.0) for b in plan.beams]),
        folder / "RP.dcm",
        reference=study.ct,
        structures_sop_uid=study.structures.sop_instance_uid,
        sop_instance_uid=uid,
    )
    assert dciodvfy_errors(plan_path) == []
    grid = study.ct.grid.with_spacing(5.0)
    centres = grid.centers_mm()
    d = 30.0 * np.exp(-np.sum((centres - ptv.centroid_mm) ** 2, axis=-1) / (2 * 40.0**2))
    rtplan.io.write_rtdose(
        rtplan.Dose(array=d, grid=grid), folder / "RD.dcm", reference=study.ct, plan_sop_uid=uid
    )
    again = rtplan.load_study(folder)
    (read_plan,) = again.plans
    (read_dose,) = again.doses
    assert read_plan.extra["sop_instance_uid"] == uid
    assert read_plan.extra["referenced_structure_set_uid"] == study.structures.sop_instance_uid
    assert [b.mu for b in read_plan.beams] == [100.0, 100.0, 100.0]
    assert read_dose.grid.isclose(grid, atol_mm=1e-6)
    assert float(np.max(np.abs(read_dose.array - d))) < 1e-6
