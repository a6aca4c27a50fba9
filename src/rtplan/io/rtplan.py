"""DICOM RT Plan for static photon beams: read into :class:`rtplan.Plan`, write one back.

What is written (DICOM PS3.3 A.20, RT Plan IOD): one fraction group with the beams' MU,
one patient setup, the prescription as a SITE dose reference (TargetPrescriptionDose, Gy),
and per beam a STATIC photon beam with two control points (cumulative meterset weight 0
and 1) holding energy, gantry / collimator / couch angles (IEC 61217), isocentre, jaws
(ASYMX X1 X2, ASYMY Y1 Y2) and MLCX leaf positions (bank A, the X1 side, then bank B).

Reading is tolerant: missing optional parts are reported as warnings and defaults used.
Arcs (VMAT), dynamic or step-and-shoot MLC (IMRT), electrons, protons and ions, and
brachytherapy are refused with a :class:`~rtplan.errors.PlanError`: only static photon
beams are supported.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.errors import DicomReadError, DicomWriteError, PlanError
from rtplan.image import Image, PatientPosition
from rtplan.io.rtdose import (
    base_dataset,
    ds_str,
    new_uid,
    read_dataset,
    reference_series,
    save_dataset,
)
from rtplan.plan import Beam, Mlc, Plan

__all__ = ["read_rtplan", "write_rtplan"]

logger = logging.getLogger(__name__)

RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
RT_ION_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.8"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"

_ENERGY_RE = re.compile(
    r"^\s*(?P<mv>\d+(?:\.\d+)?)\s*(?:X|MV)?\s*[-_ ]?\s*(?P<mode>FFF|SRS)?\s*$", re.IGNORECASE
)
_NORMALIZATION_RE = re.compile(r"normali[sz]ation\s*[=:]\s*(?P<n>\w+)", re.IGNORECASE)
_ANGLE_TOL_DEG = 1e-3
_POSITION_TOL_MM = 1e-3

FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------- energy
def parse_energy(energy: str) -> tuple[float, str]:
    """Split an energy label into its nominal energy (MV) and fluence mode.

    Parameters
    ----------
    energy : str
        ``"6X"``, ``"10X"``, ``"6MV"``, ``"6FFF"``, ``"10X-FFF"``...

    Returns
    -------
    tuple of (float, str)
        Nominal energy in MV and ``"STANDARD"``, ``"FFF"`` or ``"SRS"``.

    Raises
    ------
    PlanError
        If the label is not of this form.
    """
    m = _ENERGY_RE.match(str(energy))
    if m is None:
        raise PlanError(
            f"beam energy {energy!r} is not a photon energy label such as '6X', '10X' or '6FFF'"
        )
    return float(m.group("mv")), (m.group("mode") or "STANDARD").upper()


def format_energy(mv: float, mode: str = "STANDARD") -> str:
    """The energy label rtplan uses: ``"6X"`` for 6 MV, ``"6FFF"`` flattening-filter free."""
    number = ds_str(mv)
    if mode.upper() in ("FFF", "SRS"):
        return f"{number}{mode.upper()}"
    return f"{number}X"


# ---------------------------------------------------------------------------- writing
def _number_beams(beams: Sequence[Beam]) -> list[int]:
    """Beam Numbers: the given ones, and the next free numbers for beams numbered 0."""
    given = [b.number for b in beams if b.number > 0]
    dup = sorted({n for n in given if given.count(n) > 1})
    if dup:
        raise DicomWriteError(
            f"Beam Number {dup[0]} is used by several beams; Beam Numbers must be unique "
            "(set number=0 to let the writer assign them)"
        )
    used = set(given)
    out: list[int] = []
    nxt = 1
    for b in beams:
        if b.number > 0:
            out.append(b.number)
            continue
        while nxt in used:
            nxt += 1
        used.add(nxt)
        out.append(nxt)
    return out


def _device(kind: str, n_pairs: int, boundaries: Sequence[float] | None = None) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RTBeamLimitingDeviceType = kind
    item.NumberOfLeafJawPairs = n_pairs
    if boundaries is not None:
        item.LeafPositionBoundaries = [ds_str(v) for v in boundaries]
    return item


def _device_position(kind: str, positions: Sequence[float]) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RTBeamLimitingDeviceType = kind
    item.LeafJawPositions = [ds_str(v) for v in positions]
    return item


def _beam_dataset(beam: Beam, number: int, setup_number: int) -> Any:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    mv, mode = parse_energy(beam.energy)
    label = beam.name or f"Beam {number}"
    if len(label) > 64:
        raise DicomWriteError(f"beam name {label!r} is longer than 64 characters (DICOM LO)")
    if len(beam.machine) > 16:
        raise DicomWriteError(
            f"beam {label!r}: machine name {beam.machine!r} is longer than 16 characters "
            "(DICOM SH Treatment Machine Name)"
        )
    b = Dataset()
    b.BeamNumber = number
    b.BeamName = label
    b.BeamType = "STATIC"
    b.RadiationType = "PHOTON"
    b.TreatmentMachineName = beam.machine
    b.PrimaryDosimeterUnit = "MU"
    b.SourceAxisDistance = ds_str(beam.sad_mm)
    fluence = Dataset()
    fluence.FluenceMode = "STANDARD" if mode == "STANDARD" else "NON_STANDARD"
    if mode != "STANDARD":
        fluence.FluenceModeID = mode
    b.PrimaryFluenceModeSequence = DicomSequence([fluence])
    devices = [_device("ASYMX", 1), _device("ASYMY", 1)]
    x1, x2, y1, y2 = beam.jaws_mm
    positions = [_device_position("ASYMX", (x1, x2)), _device_position("ASYMY", (y1, y2))]
    if beam.mlc is not None:
        devices.append(_device("MLCX", beam.mlc.n_pairs, beam.mlc.leaf_boundaries_mm))
        leaves = np.asarray(beam.mlc.positions_mm, dtype=np.float64)
        positions.append(_device_position("MLCX", [*leaves[0], *leaves[1]]))
    b.BeamLimitingDeviceSequence = DicomSequence(devices)
    b.ReferencedPatientSetupNumber = setup_number
    b.TreatmentDeliveryType = "TREATMENT"
    b.NumberOfWedges = 0
    b.NumberOfCompensators = 0
    b.NumberOfBoli = 0
    b.NumberOfBlocks = 0
    b.FinalCumulativeMetersetWeight = "1"
    b.NumberOfControlPoints = 2

    cp0 = Dataset()
    cp0.ControlPointIndex = 0
    cp0.NominalBeamEnergy = ds_str(mv)
    cp0.BeamLimitingDevicePositionSequence = DicomSequence(positions)
    cp0.GantryAngle = ds_str(beam.gantry_deg)
    cp0.GantryRotationDirection = "NONE"
    cp0.BeamLimitingDeviceAngle = ds_str(beam.collimator_deg)
    cp0.BeamLimitingDeviceRotationDirection = "NONE"
    cp0.PatientSupportAngle = ds_str(beam.couch_deg)
    cp0.PatientSupportRotationDirection = "NONE"
    cp0.TableTopEccentricAngle = "0"
    cp0.TableTopEccentricRotationDirection = "NONE"
    cp0.TableTopPitchAngle = 0.0
    cp0.TableTopPitchRotationDirection = "NONE"
    cp0.TableTopRollAngle = 0.0
    cp0.TableTopRollRotationDirection = "NONE"
    cp0.TableTopVerticalPosition = None
    cp0.TableTopLongitudinalPosition = None
    cp0.TableTopLateralPosition = None
    cp0.IsocenterPosition = [ds_str(v) for v in beam.isocenter_mm]
    cp0.CumulativeMetersetWeight = "0"
    cp1 = Dataset()
    cp1.ControlPointIndex = 1
    cp1.CumulativeMetersetWeight = "1"
    b.ControlPointSequence = DicomSequence([cp0, cp1])
    return b


def write_rtplan(
    plan: Plan,
    path: str | os.PathLike[str],
    *,
    reference: Image,
    structures_sop_uid: str | None = None,
    sop_instance_uid: str | None = None,
    series_description: str = "rtplan plan",
) -> Path:
    """Write a plan of static photon beams as a DICOM RT Plan.

    Parameters
    ----------
    plan : Plan
        The plan; beams numbered 0 get the next free Beam Numbers, in order.
    path : str or path-like
        Output file; its folder is created.
    reference : Image
        The planning CT: its Frame of Reference, Study and Patient are used, and its
        patient position when the plan has none.
    structures_sop_uid : str, optional
        SOP Instance UID of the RT Structure Set the plan was made on. When given the
        RT Plan Geometry is PATIENT and the structure set is referenced; otherwise it is
        TREATMENT_DEVICE (DICOM requires a structure set reference for PATIENT).
    sop_instance_uid : str, optional
        SOP Instance UID of the new RT Plan (e.g. made beforehand with
        ``pydicom.uid.generate_uid()`` so an RT Dose can reference it); new by default.
    series_description : str
        Series Description of the new series.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    DicomWriteError
        If the plan has no beams, no patient position is known, Beam Numbers repeat, or a
        name is too long for its DICOM attribute.
    PlanError
        If a beam energy is not a photon energy label such as ``"6X"``.

    Notes
    -----
    Beam weights are not part of an RT Plan: only MU are written (BeamMeterset). The
    normalisation mode is kept in RT Plan Description as ``normalization=<mode>``, and the
    target name as the dose reference's description.

    Examples
    --------
    >>> rtplan.io.write_rtplan(plan, "out/RP.dcm", reference=ct)  # doctest: +SKIP
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    if not isinstance(plan, Plan):
        raise DicomWriteError(f"write_rtplan needs an rtplan.Plan, got {type(plan).__name__}")
    if not plan.beams:
        raise DicomWriteError(f"plan {plan.name!r} has no beams; there is nothing to write")
    series = reference_series("an RT Plan", reference, None)
    position = plan.patient_position or reference.patient_position
    if position is None:
        raise DicomWriteError(
            f"plan {plan.name!r}: the patient position is unknown (neither the plan nor the "
            "reference CT has one); pass Plan(patient_position='HFS') or similar"
        )
    name = plan.name or "rtplan"
    if len(name) > 64:
        raise DicomWriteError(f"plan name {name!r} is longer than 64 characters (DICOM LO)")
    numbers = _number_beams(plan.beams)

    ds = base_dataset(
        sop_class_uid=RT_PLAN_STORAGE,
        modality="RTPLAN",
        series=series,
        series_description=series_description,
        sop_instance_uid=sop_instance_uid or plan.uid,
    )
    now = datetime.datetime.now()
    # RT General Plan
    ds.RTPlanLabel = name[:16]
    ds.RTPlanName = name
    ds.RTPlanDescription = f"normalization={plan.normalization}"
    ds.RTPlanDate = now.strftime("%Y%m%d")
    ds.RTPlanTime = now.strftime("%H%M%S")
    if structures_sop_uid:
        ds.RTPlanGeometry = "PATIENT"
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_STRUCTURE_SET_STORAGE
        ref.ReferencedSOPInstanceUID = structures_sop_uid
        ds.ReferencedStructureSetSequence = DicomSequence([ref])
    else:
        ds.RTPlanGeometry = "TREATMENT_DEVICE"
    # RT Prescription
    if plan.prescription_gy is not None:
        dref = Dataset()
        dref.DoseReferenceNumber = 1
        dref.DoseReferenceUID = new_uid()
        dref.DoseReferenceStructureType = "SITE"
        dref.DoseReferenceDescription = (plan.target_name or "target")[:64]
        dref.DoseReferenceType = "TARGET"
        dref.TargetPrescriptionDose = ds_str(plan.prescription_gy)
        ds.DoseReferenceSequence = DicomSequence([dref])
    # RT Patient Setup
    setup = Dataset()
    setup.PatientSetupNumber = 1
    setup.PatientPosition = str(PatientPosition(position))
    setup.SetupTechnique = "ISOCENTRIC"
    ds.PatientSetupSequence = DicomSequence([setup])
    # RT Fraction Scheme
    fg = Dataset()
    fg.FractionGroupNumber = 1
    fg.NumberOfFractionsPlanned = plan.fractions
    fg.NumberOfBeams = len(plan.beams)
    fg.NumberOfBrachyApplicationSetups = 0
    refs = []
    for beam, number in zip(plan.beams, numbers, strict=True):
        rb = Dataset()
        rb.ReferencedBeamNumber = number
        if beam.mu is not None:
            rb.BeamMeterset = ds_str(beam.mu)
        refs.append(rb)
    fg.ReferencedBeamSequence = DicomSequence(refs)
    ds.FractionGroupSequence = DicomSequence([fg])
    # RT Beams
    ds.BeamSequence = DicomSequence(
        [_beam_dataset(b, n, 1) for b, n in zip(plan.beams, numbers, strict=True)]
    )
    # Approval
    ds.ApprovalStatus = "UNAPPROVED"
    return save_dataset(ds, path)


# ---------------------------------------------------------------------------- reading
class _ControlPoints:
    """Control point values with DICOM inheritance (absent means unchanged)."""

    def __init__(self, cps: Sequence[Any]) -> None:
        self.cps = list(cps)

    def values(self, keyword: str) -> list[Any]:
        out: list[Any] = []
        current: Any = None
        for cp in self.cps:
            if keyword in cp and cp[keyword].value not in (None, ""):
                current = cp[keyword].value
            out.append(current)
        return out

    def devices(self) -> list[dict[str, FloatArray]]:
        out: list[dict[str, FloatArray]] = []
        current: dict[str, FloatArray] = {}
        for cp in self.cps:
            current = dict(current)
            for item in cp.get("BeamLimitingDevicePositionSequence", []) or []:
                kind = str(item.get("RTBeamLimitingDeviceType", "")).upper()
                current[kind] = np.array(
                    [float(v) for v in item.LeafJawPositions], dtype=np.float64
                )
            out.append(current)
        return out


def _angle_same(values: Sequence[Any]) -> bool:
    nums = [float(v) % 360.0 for v in values if v is not None]
    if not nums:
        return True
    ref = nums[0]
    return all(abs((v - ref + 180.0) % 360.0 - 180.0) <= _ANGLE_TOL_DEG for v in nums)


def _read_beam(
    b: Any,
    path: Path,
    meterset: dict[int, float],
) -> Beam:
    number = int(b.get("BeamNumber", 0) or 0)
    name = str(b.get("BeamName", "") or "") or f"Beam {number}"
    what = f"{path}: beam {number} {name!r}"
    radiation = str(b.get("RadiationType", "") or "").upper()
    if radiation != "PHOTON":
        raise PlanError(
            f"{what} has RadiationType {radiation or 'missing'}; rtplan supports static "
            "photon beams only"
        )
    cps = b.get("ControlPointSequence") or []
    if len(cps) == 0:
        raise PlanError(f"{what} has no control points; its geometry is unknown")
    cp = _ControlPoints(cps)
    gantry = cp.values("GantryAngle")
    coll = cp.values("BeamLimitingDeviceAngle")
    couch = cp.values("PatientSupportAngle")
    devices = cp.devices()
    moving = []
    if not _angle_same(gantry):
        moving.append("gantry angle (arc)")
    if not _angle_same(coll):
        moving.append("collimator angle")
    if not _angle_same(couch):
        moving.append("couch angle")
    kinds = set().union(*(d.keys() for d in devices))
    for kind in sorted(kinds):
        arrays = [d[kind] for d in devices if kind in d]
        if any(a.shape != arrays[0].shape for a in arrays) or any(
            float(np.max(np.abs(a - arrays[0]))) > _POSITION_TOL_MM for a in arrays
        ):
            moving.append(f"{kind} positions")
    if moving:
        beam_type = str(b.get("BeamType", "") or "")
        raise PlanError(
            f"{what} is dynamic ({beam_type or 'BeamType missing'}, {len(cps)} control points "
            f"with changing {', '.join(moving)}: VMAT, IMRT or an arc); rtplan supports static "
            "photon beams only"
        )
    for attr, label in (
        ("NumberOfWedges", "wedges"),
        ("NumberOfCompensators", "compensators"),
        ("NumberOfBoli", "boli"),
        ("NumberOfBlocks", "blocks"),
    ):
        if int(b.get(attr, 0) or 0) > 0:
            warn(
                f"{what} has {b.get(attr)} {label}; rtplan's beam model ignores them, so "
                "doses computed for this beam will differ from the TPS"
            )

    # beam limiting devices (boundaries at the beam level, positions in control point 0)
    definitions = {
        str(d.get("RTBeamLimitingDeviceType", "")).upper(): d
        for d in (b.get("BeamLimitingDeviceSequence") or [])
    }
    pos = devices[0]
    if "MLCY" in pos:
        raise PlanError(f"{what} has an MLCY (leaves moving along Y); only MLCX is supported")
    mlc: Mlc | None = None
    if "MLCX" in pos:
        d = definitions.get("MLCX")
        if d is None or "LeafPositionBoundaries" not in d:
            raise PlanError(
                f"{what}: MLCX positions are given but its LeafPositionBoundaries "
                "(BeamLimitingDeviceSequence) are missing; the leaves cannot be placed"
            )
        bounds = [float(v) for v in d.LeafPositionBoundaries]
        leaves = pos["MLCX"]
        n = len(bounds) - 1
        if leaves.size != 2 * n:
            raise PlanError(
                f"{what}: {leaves.size} MLCX leaf positions for {n} leaf pairs (need {2 * n})"
            )
        mlc = Mlc(leaf_boundaries_mm=tuple(bounds), positions_mm=leaves.reshape(2, n))
    x = pos.get("ASYMX", pos.get("X"))
    y = pos.get("ASYMY", pos.get("Y"))
    if (x is None or y is None) and mlc is None:
        raise PlanError(f"{what} has neither jaw positions nor an MLC; its field is unknown")
    if x is None or y is None:
        assert mlc is not None
        p = np.asarray(mlc.positions_mm)
        open_pairs = np.flatnonzero(p[1] - p[0] > _POSITION_TOL_MM)
        if open_pairs.size == 0:
            raise PlanError(f"{what}: all MLC leaf pairs are closed and no jaws are given")
        if x is None:
            x = np.array([p[0, open_pairs].min(), p[1, open_pairs].max()])
            warn(f"{what} has no X jaws; X1/X2 set to the open MLC leaves' extent {x.tolist()}")
        if y is None:
            b_ = mlc.leaf_boundaries_mm
            y = np.array([b_[open_pairs[0]], b_[open_pairs[-1] + 1]])
            warn(f"{what} has no Y jaws; Y1/Y2 set to the open MLC leaf pairs' extent {y.tolist()}")
    if x.size != 2 or y.size != 2:
        raise PlanError(f"{what}: jaw positions must be 2 values each, got X {x}, Y {y}")

    iso_values = cp.values("IsocenterPosition")[0]
    iso: tuple[float, float, float] = (0.0, 0.0, 0.0)
    if iso_values is None:
        warn(f"{what} has no IsocenterPosition; the isocentre was put at the origin (0, 0, 0)")
    elif len(iso_values) != 3:
        raise PlanError(f"{what}: IsocenterPosition must have 3 values, got {list(iso_values)}")
    else:
        iso = (float(iso_values[0]), float(iso_values[1]), float(iso_values[2]))
    sad = b.get("SourceAxisDistance")
    if sad in (None, ""):
        warn(f"{what} has no SourceAxisDistance; 1000 mm assumed")
        sad_mm = 1000.0
    else:
        sad_mm = float(sad)
    energy_value = cp.values("NominalBeamEnergy")[0]
    mode = "STANDARD"
    for item in b.get("PrimaryFluenceModeSequence") or []:
        if str(item.get("FluenceMode", "")).upper() == "NON_STANDARD":
            mode = str(item.get("FluenceModeID", "") or "FFF").upper()
    if energy_value is None:
        warn(f"{what} has no NominalBeamEnergy; its energy was left empty")
        energy = ""
    else:
        energy = format_energy(float(energy_value), mode)
    mu = meterset.get(number)
    if mu is None:
        warn(f"{what} has no BeamMeterset in the fraction group; its MU are unknown (None)")

    def first(values: list[Any], label: str) -> float:
        if values[0] is None:
            warn(f"{what} has no {label} in its first control point; 0 assumed")
            return 0.0
        return float(values[0])

    return Beam(
        energy=energy,
        gantry_deg=first(gantry, "GantryAngle"),
        collimator_deg=first(coll, "BeamLimitingDeviceAngle"),
        couch_deg=first(couch, "PatientSupportAngle"),
        isocenter_mm=iso,
        sad_mm=sad_mm,
        jaws_mm=(float(x[0]), float(x[1]), float(y[0]), float(y[1])),
        mlc=mlc,
        mu=mu,
        name=name,
        number=number,
        machine=str(b.get("TreatmentMachineName", "") or ""),
    )


def read_rtplan(path: str | os.PathLike[str]) -> Plan:
    """Read a DICOM RT Plan of static photon beams.

    Parameters
    ----------
    path : str or path-like
        The RT Plan file.

    Returns
    -------
    Plan
        Treatment beams in file order (setup beams are skipped), MU from the first
        fraction group, prescription from the first TARGET dose reference with a
        TargetPrescriptionDose, fractions, patient position from the patient setup.
        ``extra`` holds ``sop_instance_uid``, ``series_instance_uid``,
        ``study_instance_uid``, ``frame_of_reference_uid``,
        ``referenced_structure_set_uid``, ``plan_geometry`` and ``source``.

    Raises
    ------
    DicomReadError
        If the file is not an RT Plan.
    PlanError
        If a beam is not a static photon beam (arc, dynamic or step-and-shoot MLC,
        electrons, ions, brachytherapy), or its geometry cannot be read.

    Warns
    -----
    RtplanWarning
        For each missing optional part (MU, prescription, fractions, isocentre, SAD,
        jaws, patient position) and each beam modifier that rtplan ignores (wedges,
        blocks, compensators, boli).
    """
    p = Path(path)
    ds = read_dataset(p, "RT Plan")
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class == RT_ION_PLAN_STORAGE or "IonBeamSequence" in ds:
        raise PlanError(
            f"{p}: an RT Ion Plan (protons or ions); rtplan supports static photon beams only"
        )
    if sop_class != RT_PLAN_STORAGE and ds.get("Modality") != "RTPLAN":
        raise DicomReadError(
            f"{p}: not an RT Plan (SOP Class {sop_class or 'missing'}, Modality "
            f"{ds.get('Modality', 'missing')})"
        )
    if "BeamSequence" not in ds:
        if "ApplicationSetupSequence" in ds:
            raise PlanError(f"{p}: a brachytherapy plan; rtplan supports static photon beams only")
        raise PlanError(f"{p}: the RT Plan has no BeamSequence; there are no beams to read")

    # fraction group: fractions and MU
    fractions = 1
    meterset: dict[int, float] = {}
    groups = ds.get("FractionGroupSequence") or []
    if not groups:
        warn(f"{p}: no FractionGroupSequence; 1 fraction assumed and MU unknown")
    else:
        if len(groups) > 1:
            warn(f"{p}: {len(groups)} fraction groups; only the first is read")
        fg = groups[0]
        planned = fg.get("NumberOfFractionsPlanned")
        if planned in (None, "") or int(planned) < 1:
            warn(f"{p}: NumberOfFractionsPlanned is missing; 1 fraction assumed")
        else:
            fractions = int(planned)
        for rb in fg.get("ReferencedBeamSequence") or []:
            mu = rb.get("BeamMeterset")
            if mu not in (None, ""):
                meterset[int(rb.ReferencedBeamNumber)] = float(mu)

    beams = []
    for b in ds.BeamSequence:
        delivery = str(b.get("TreatmentDeliveryType", "TREATMENT") or "TREATMENT").upper()
        if delivery != "TREATMENT":
            logger.info(
                "%s: beam %s (%s) is a %s beam, not read",
                p,
                b.get("BeamNumber"),
                b.get("BeamName", ""),
                delivery,
            )
            continue
        beams.append(_read_beam(b, p, meterset))
    if not beams:
        raise PlanError(f"{p}: the RT Plan has no treatment beams")

    # prescription
    prescription: float | None = None
    target_name = ""
    found: list[float] = []
    for item in ds.get("DoseReferenceSequence") or []:
        if str(item.get("DoseReferenceType", "")).upper() != "TARGET":
            continue
        value = item.get("TargetPrescriptionDose")
        if value in (None, ""):
            continue
        found.append(float(value))
        if prescription is None:
            prescription = float(value)
            target_name = str(item.get("DoseReferenceDescription", "") or "")
    if prescription is None:
        warn(f"{p}: no TARGET dose reference with a TargetPrescriptionDose; prescription unknown")
    elif len(set(found)) > 1:
        warn(
            f"{p}: {len(found)} target prescriptions {found} Gy; the first, {prescription} Gy, "
            "was used"
        )
    if prescription is not None and prescription <= 0:
        warn(f"{p}: TargetPrescriptionDose {prescription} Gy is not positive; ignored")
        prescription = None

    # patient position
    position: PatientPosition | None = None
    found_positions = [
        str(item.get("PatientPosition", "") or "")
        for item in ds.get("PatientSetupSequence") or []
        if item.get("PatientPosition")
    ]
    if not found_positions:
        warn(f"{p}: no PatientPosition in the PatientSetupSequence; the CT's will be used")
    else:
        chosen = found_positions[0]
        if len(set(found_positions)) > 1:
            warn(
                f"{p}: several patient positions {sorted(set(found_positions))} in the setup "
                f"sequence; the first, {chosen}, was used for every beam"
            )
        try:
            position = PatientPosition(chosen)
        except ValueError:
            warn(f"{p}: unknown PatientPosition {chosen!r}; the CT's will be used")

    normalization = "none"
    m = _NORMALIZATION_RE.search(str(ds.get("RTPlanDescription", "") or ""))
    if m is not None and m.group("n").lower() in ("none", "mean", "d95", "isocenter"):
        normalization = m.group("n").lower()
    refs = ds.get("ReferencedStructureSetSequence") or []
    extra: dict[str, Any] = {
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
        "study_instance_uid": str(ds.get("StudyInstanceUID", "")),
        "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
        "referenced_structure_set_uid": str(refs[0].ReferencedSOPInstanceUID) if refs else "",
        "plan_geometry": str(ds.get("RTPlanGeometry", "")),
        "source": str(p),
    }
    return Plan(
        beams=tuple(beams),
        prescription_gy=prescription,
        fractions=fractions,
        normalization=normalization,
        target_name=target_name,
        name=str(ds.get("RTPlanName", "") or ds.get("RTPlanLabel", "") or ""),
        patient_position=position,
        uid=str(ds.get("SOPInstanceUID", "") or "") or Plan().uid,
        extra=extra,
    )
