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

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from rtplan._warn import warn
from rtplan.errors import DicomReadError, DicomWriteError, PlanError
from rtplan.image import Image, PatientPosition
from rtplan.io._reader import read_dataset
from rtplan.io._writer import ds_str, new_dataset, new_uid, reference_series, save_dataset
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
    item = Dataset()
    item.RTBeamLimitingDeviceType = kind
    item.NumberOfLeafJawPairs = n_pairs
    if boundaries is not None:
        item.LeafPositionBoundaries = [ds_str(v) for v in boundaries]
    return item


def _device_position(kind: str, positions: Sequence[float]) -> Any:
    item = Dataset()
    item.RTBeamLimitingDeviceType = kind
    item.LeafJawPositions = [ds_str(v) for v in positions]
    return item


def _beam_dataset(beam: Beam, number: int, setup_number: int) -> Any:
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
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pydicom
    >>> import rtplan
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> plan = rtplan.Plan.conformal(study.structures["PTV"], gantry_angles_deg=[0, 120, 240],
    ...                              energy="6X", prescription_gy=50.0, fractions=25)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     rp = rtplan.io.write_rtplan(plan, Path(tmp, "RP.dcm"), reference=study.ct)
    ...     ds = pydicom.dcmread(rp)
    >>> ds.Modality, len(ds.BeamSequence), ds.DoseReferenceSequence[0].TargetPrescriptionDose
    ('RTPLAN', 3, '50')
    """
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

    ds = new_dataset(
        sop_class_uid=RT_PLAN_STORAGE,
        modality="RTPLAN",
        reference=series,
        series_description=series_description,
        sop_instance_uid=sop_instance_uid or plan.uid,
    )
    _general_plan(ds, plan, name, structures_sop_uid)
    if plan.prescription_gy is not None:
        ds.DoseReferenceSequence = _dose_references(plan)
    _patient_setup(ds, PatientPosition(position))
    _fraction_scheme(ds, plan, numbers)
    ds.BeamSequence = DicomSequence(
        [_beam_dataset(b, n, 1) for b, n in zip(plan.beams, numbers, strict=True)]
    )
    ds.ApprovalStatus = "UNAPPROVED"
    return save_dataset(ds, path)


def _general_plan(ds: Any, plan: Plan, name: str, structures_sop_uid: str | None) -> None:
    """RT General Plan: label, name, normalisation, date, geometry and structure set."""
    ds.RTPlanLabel = name[:16]
    ds.RTPlanName = name
    ds.RTPlanDescription = f"normalization={plan.normalization}"
    ds.RTPlanDate = ds.InstanceCreationDate
    ds.RTPlanTime = ds.InstanceCreationTime
    if structures_sop_uid:
        ds.RTPlanGeometry = "PATIENT"
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_STRUCTURE_SET_STORAGE
        ref.ReferencedSOPInstanceUID = structures_sop_uid
        ds.ReferencedStructureSetSequence = DicomSequence([ref])
    else:
        ds.RTPlanGeometry = "TREATMENT_DEVICE"


def _dose_references(plan: Plan) -> Any:
    """RT Prescription: the prescription as one SITE dose reference of the target."""
    dref = Dataset()
    dref.DoseReferenceNumber = 1
    dref.DoseReferenceUID = new_uid()
    dref.DoseReferenceStructureType = "SITE"
    dref.DoseReferenceDescription = (plan.target_name or "target")[:64]
    dref.DoseReferenceType = "TARGET"
    dref.TargetPrescriptionDose = ds_str(float(plan.prescription_gy or 0.0))
    return DicomSequence([dref])


def _patient_setup(ds: Any, position: PatientPosition) -> None:
    """RT Patient Setup: one isocentric setup in the patient position."""
    setup = Dataset()
    setup.PatientSetupNumber = 1
    setup.PatientPosition = str(position)
    setup.SetupTechnique = "ISOCENTRIC"
    ds.PatientSetupSequence = DicomSequence([setup])


def _fraction_scheme(ds: Any, plan: Plan, numbers: Sequence[int]) -> None:
    """RT Fraction Scheme: one fraction group with the beams' MU."""
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


def _static_geometry(b: Any, what: str) -> tuple[_ControlPoints, list[dict[str, FloatArray]]]:
    """The control points of a beam, refused unless it is a static photon beam."""
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
    devices = cp.devices()
    moving = [
        label
        for keyword, label in (
            ("GantryAngle", "gantry angle (arc)"),
            ("BeamLimitingDeviceAngle", "collimator angle"),
            ("PatientSupportAngle", "couch angle"),
        )
        if not _angle_same(cp.values(keyword))
    ]
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
    return cp, devices


def _warn_modifiers(b: Any, what: str) -> None:
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


def _mlc(b: Any, pos: dict[str, FloatArray], what: str) -> Mlc | None:
    """The MLCX (boundaries at the beam level, positions in control point 0), if any."""
    if "MLCY" in pos:
        raise PlanError(f"{what} has an MLCY (leaves moving along Y); only MLCX is supported")
    if "MLCX" not in pos:
        return None
    definitions = {
        str(d.get("RTBeamLimitingDeviceType", "")).upper(): d
        for d in (b.get("BeamLimitingDeviceSequence") or [])
    }
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
    return Mlc(leaf_boundaries_mm=tuple(bounds), positions_mm=leaves.reshape(2, n))


def _jaws(
    pos: dict[str, FloatArray], mlc: Mlc | None, what: str
) -> tuple[float, float, float, float]:
    """X1, X2, Y1, Y2: the jaws, or the open MLC leaves' extent where jaws are missing."""
    x = pos.get("ASYMX", pos.get("X"))
    y = pos.get("ASYMY", pos.get("Y"))
    if x is None or y is None:
        if mlc is None:
            raise PlanError(f"{what} has neither jaw positions nor an MLC; its field is unknown")
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
    return float(x[0]), float(x[1]), float(y[0]), float(y[1])


def _isocenter(value: Any, what: str) -> tuple[float, float, float]:
    if value is None:
        warn(f"{what} has no IsocenterPosition; the isocentre was put at the origin (0, 0, 0)")
        return (0.0, 0.0, 0.0)
    if len(value) != 3:
        raise PlanError(f"{what}: IsocenterPosition must have 3 values, got {list(value)}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _sad_mm(b: Any, what: str) -> float:
    sad = b.get("SourceAxisDistance")
    if sad in (None, ""):
        warn(f"{what} has no SourceAxisDistance; 1000 mm assumed")
        return 1000.0
    return float(sad)


def _energy(b: Any, value: Any, what: str) -> str:
    """The energy label from NominalBeamEnergy and the fluence mode (FFF, SRS)."""
    mode = "STANDARD"
    for item in b.get("PrimaryFluenceModeSequence") or []:
        if str(item.get("FluenceMode", "")).upper() == "NON_STANDARD":
            mode = str(item.get("FluenceModeID", "") or "FFF").upper()
    if value is None:
        warn(f"{what} has no NominalBeamEnergy; its energy was left empty")
        return ""
    return format_energy(float(value), mode)


def _first_angle(cp: _ControlPoints, keyword: str, what: str) -> float:
    value = cp.values(keyword)[0]
    if value is None:
        warn(f"{what} has no {keyword} in its first control point; 0 assumed")
        return 0.0
    return float(value)


def _read_beam(b: Any, path: Path, meterset: dict[int, float]) -> Beam:
    """One treatment beam of the Beam Sequence as a :class:`Beam`."""
    number = int(b.get("BeamNumber", 0) or 0)
    name = str(b.get("BeamName", "") or "") or f"Beam {number}"
    what = f"{path}: beam {number} {name!r}"
    cp, devices = _static_geometry(b, what)
    _warn_modifiers(b, what)
    mlc = _mlc(b, devices[0], what)
    jaws = _jaws(devices[0], mlc, what)
    iso = _isocenter(cp.values("IsocenterPosition")[0], what)
    sad_mm = _sad_mm(b, what)
    energy = _energy(b, cp.values("NominalBeamEnergy")[0], what)
    mu = meterset.get(number)
    if mu is None:
        warn(f"{what} has no BeamMeterset in the fraction group; its MU are unknown (None)")
    return Beam(
        energy=energy,
        gantry_deg=_first_angle(cp, "GantryAngle", what),
        collimator_deg=_first_angle(cp, "BeamLimitingDeviceAngle", what),
        couch_deg=_first_angle(cp, "PatientSupportAngle", what),
        isocenter_mm=iso,
        sad_mm=sad_mm,
        jaws_mm=jaws,
        mlc=mlc,
        mu=mu,
        name=name,
        number=number,
        machine=str(b.get("TreatmentMachineName", "") or ""),
    )


def _open_plan(p: Path) -> Any:
    """The RT Plan dataset, refused for ion and brachytherapy plans and other objects."""
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
    return ds


def _fractions_and_mu(ds: Any, p: Path) -> tuple[int, dict[int, float]]:
    """Fractions planned and MU per beam number, from the first fraction group."""
    groups = ds.get("FractionGroupSequence") or []
    if not groups:
        warn(f"{p}: no FractionGroupSequence; 1 fraction assumed and MU unknown")
        return 1, {}
    if len(groups) > 1:
        warn(f"{p}: {len(groups)} fraction groups; only the first is read")
    fg = groups[0]
    fractions = 1
    planned = fg.get("NumberOfFractionsPlanned")
    if planned in (None, "") or int(planned) < 1:
        warn(f"{p}: NumberOfFractionsPlanned is missing; 1 fraction assumed")
    else:
        fractions = int(planned)
    meterset: dict[int, float] = {}
    for rb in fg.get("ReferencedBeamSequence") or []:
        mu = rb.get("BeamMeterset")
        if mu not in (None, ""):
            meterset[int(rb.ReferencedBeamNumber)] = float(mu)
    return fractions, meterset


def _treatment_beams(ds: Any, p: Path, meterset: dict[int, float]) -> list[Beam]:
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
    return beams


def _prescription(ds: Any, p: Path) -> tuple[float | None, str]:
    """The first TARGET TargetPrescriptionDose (Gy) and its description."""
    prescription: float | None = None
    target_name = ""
    found: list[float] = []
    for item in ds.get("DoseReferenceSequence") or []:
        value = item.get("TargetPrescriptionDose")
        if str(item.get("DoseReferenceType", "")).upper() != "TARGET" or value in (None, ""):
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
    return prescription, target_name


def _patient_position(ds: Any, p: Path) -> PatientPosition | None:
    found = [
        str(item.get("PatientPosition", "") or "")
        for item in ds.get("PatientSetupSequence") or []
        if item.get("PatientPosition")
    ]
    if not found:
        warn(f"{p}: no PatientPosition in the PatientSetupSequence; the CT's will be used")
        return None
    chosen = found[0]
    if len(set(found)) > 1:
        warn(
            f"{p}: several patient positions {sorted(set(found))} in the setup "
            f"sequence; the first, {chosen}, was used for every beam"
        )
    try:
        return PatientPosition(chosen)
    except ValueError:
        warn(f"{p}: unknown PatientPosition {chosen!r}; the CT's will be used")
        return None


def _normalization(ds: Any) -> str:
    m = _NORMALIZATION_RE.search(str(ds.get("RTPlanDescription", "") or ""))
    if m is not None and m.group("n").lower() in ("none", "mean", "d95", "isocenter"):
        return m.group("n").lower()
    return "none"


def _identity(ds: Any, p: Path) -> dict[str, Any]:
    """UIDs, references and source of the plan (``Plan.extra``)."""
    refs = ds.get("ReferencedStructureSetSequence") or []
    return {
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
        "study_instance_uid": str(ds.get("StudyInstanceUID", "")),
        "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
        "referenced_structure_set_uid": str(refs[0].ReferencedSOPInstanceUID) if refs else "",
        "plan_geometry": str(ds.get("RTPlanGeometry", "")),
        "source": str(p),
    }


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

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import rtplan
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> beam = rtplan.Beam(energy="6X", gantry_deg=270.0, mu=120.0,
    ...                    isocenter_mm=study.structures["PTV"].centroid_mm)
    >>> plan = rtplan.Plan(beams=[beam], prescription_gy=50.0, fractions=25)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     rp = rtplan.io.write_rtplan(plan, Path(tmp, "RP.dcm"), reference=study.ct)
    ...     back = rtplan.io.read_rtplan(rp)
    >>> back.beams[0].gantry_deg, back.beams[0].mu, back.prescription_gy, back.fractions
    (270.0, 120.0, 50.0, 25)
    >>> back.uid == plan.uid
    True
    """
    p = Path(path)
    ds = _open_plan(p)
    fractions, meterset = _fractions_and_mu(ds, p)
    beams = _treatment_beams(ds, p, meterset)
    prescription, target_name = _prescription(ds, p)
    return Plan(
        beams=tuple(beams),
        prescription_gy=prescription,
        fractions=fractions,
        normalization=_normalization(ds),
        target_name=target_name,
        name=str(ds.get("RTPlanName", "") or ds.get("RTPlanLabel", "") or ""),
        patient_position=_patient_position(ds, p),
        uid=str(ds.get("SOPInstanceUID", "") or "") or Plan().uid,
        extra=_identity(ds, p),
    )
