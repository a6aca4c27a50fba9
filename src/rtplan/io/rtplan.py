"""DICOM RT Plan for static photon beams: read into :class:`rtplan.Plan`, write one back.

What is written (DICOM PS3.3 A.20, RT Plan IOD): one fraction group with the beams' MU,
one patient setup, the prescription as a SITE dose reference (TargetPrescriptionDose, Gy),
and per beam a STATIC photon beam with two control points (cumulative meterset weight 0
and 1) holding energy, gantry / collimator / couch angles (IEC 61217), isocentre, jaws
(ASYMX X1 X2, ASYMY Y1 Y2) and MLCX leaf positions (bank A, the X1 side, then bank B).

A step-and-shoot (static-MLC IMRT) beam, :attr:`rtplan.Beam.segments`, is written with two
control points per segment holding its MLCX positions at the cumulative meterset weights
before and after it (the leaves move between segments at equal weights, beam off); its
BeamType is DYNAMIC.

Reading is tolerant: missing optional parts are reported as warnings and defaults used.
Step-and-shoot beams are read into segments. Arcs (VMAT), dynamic MLC (leaves moving
while the beam is on), electrons, protons and ions, and brachytherapy are refused with a
:class:`~rtplan.errors.PlanError`: only static and step-and-shoot photon beams are
supported.
"""

from __future__ import annotations

import itertools
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
from rtplan.io._reader import (
    numbers,
    optional_integer,
    optional_number,
    optional_numbers,
    pydicom_warnings,
    read_dataset,
    tag_name,
    text,
)
from rtplan.io._writer import ds_str, new_dataset, new_uid, reference_series, save_dataset
from rtplan.io.deidentify import Deidentifier
from rtplan.plan import Beam, Mlc, Plan, Segment

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
_MAX_COORDINATE_MM = 1e6  # positions beyond a kilometre are corrupt values
_MAX_JAW_MM = 1000.0  # a jaw 1 m off axis at the isocentre plane is a corrupt value
_MIN_SAD_MM, _MAX_SAD_MM = 100.0, 10_000.0
MAX_PHOTON_MV = 50.0
"""NominalBeamEnergy above this (MV) is refused: no photon treatment beam is that hard."""
MAX_FRACTIONS = 100
"""NumberOfFractionsPlanned above this is refused (external beam courses stay below ~80)."""
MAX_PRESCRIPTION_GY = 1000.0
"""TargetPrescriptionDose above this (Gy) is refused."""
MAX_PLAUSIBLE_MU = 5000.0
"""A BeamMeterset above this (MU per fraction) is reported."""

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


def _step_and_shoot(b: Any, beam: Beam) -> Any:
    """The beam dataset with two control points per segment, leaves moved between.

    Segment ``s`` is delivered between control points ``2 s`` and ``2 s + 1``, which hold
    its leaf positions at the cumulative meterset weights before and after it; the leaves
    move to the next segment's positions with the beam off (equal weights). A beam without
    segments is returned as it is.
    """
    if not beam.segments:
        return b
    b.BeamType = "DYNAMIC"  # the leaves move between the segments
    cp0 = b.ControlPointSequence[0]
    cps = [cp0]
    cumulative = 0.0
    for n, seg in enumerate(beam.segments):
        leaves = np.asarray(seg.positions_mm, dtype=np.float64)
        mlc = _device_position("MLCX", [*leaves[0], *leaves[1]])
        start = cp0 if n == 0 else Dataset()
        if n > 0:
            start.ControlPointIndex = 2 * n
            start.CumulativeMetersetWeight = ds_str(cumulative)
            start.BeamLimitingDevicePositionSequence = DicomSequence([mlc])
            cps.append(start)
        else:
            start.BeamLimitingDevicePositionSequence[-1] = mlc
        cumulative = 1.0 if n == len(beam.segments) - 1 else cumulative + seg.weight
        end = Dataset()
        end.ControlPointIndex = 2 * n + 1
        end.CumulativeMetersetWeight = ds_str(cumulative)
        end.BeamLimitingDevicePositionSequence = DicomSequence(
            [_device_position("MLCX", [*leaves[0], *leaves[1]])]
        )
        cps.append(end)
    b.NumberOfControlPoints = len(cps)
    b.ControlPointSequence = DicomSequence(cps)
    return b


def write_rtplan(
    plan: Plan,
    path: str | os.PathLike[str],
    *,
    reference: Image,
    structures_sop_uid: str | None = None,
    sop_instance_uid: str | None = None,
    series_description: str = "rtplan plan",
    deidentify: bool | Deidentifier = False,
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
    deidentify : bool or rtplan.io.Deidentifier
        Write the object de-identified (DICOM PS3.15 Basic Profile); pass the
        :class:`~rtplan.io.Deidentifier` that de-identified the CT (and the other objects
        of the set) so that the references still match (see
        :func:`rtplan.io.save_dataset`).

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
        [
            _step_and_shoot(_beam_dataset(b, n, 1), b)
            for b, n in zip(plan.beams, numbers, strict=True)
        ]
    )
    ds.ApprovalStatus = "UNAPPROVED"
    return save_dataset(ds, path, deidentify=deidentify)


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
_ANGLES = (
    ("GantryAngle", "gantry angle (arc)"),
    ("BeamLimitingDeviceAngle", "collimator angle"),
    ("PatientSupportAngle", "couch angle"),
)


class _ControlPoints:
    """Control point values, checked, with DICOM inheritance (absent means unchanged)."""

    def __init__(self, cps: Sequence[Any], what: str) -> None:
        self.cps = list(cps)
        self.what = what

    def values(self, keyword: str, count: int = 1) -> list[FloatArray | None]:
        """The value of ``keyword`` at each control point (inherited), or None before any."""
        out: list[FloatArray | None] = []
        current: FloatArray | None = None
        for n, cp in enumerate(self.cps):
            where = f"{self.what}, control point {n}"
            value = optional_numbers(cp, keyword, where, count=count)
            if value is not None:
                current = value
            out.append(current)
        return out

    def first(self, keyword: str, count: int = 1) -> FloatArray | None:
        """The value at the first control point."""
        return self.values(keyword, count)[0]

    def devices(self) -> list[dict[str, FloatArray]]:
        """The jaw and leaf positions at each control point, by device type (inherited)."""
        out: list[dict[str, FloatArray]] = []
        current: dict[str, FloatArray] = {}
        for n, cp in enumerate(self.cps):
            current = dict(current)
            listed: set[str] = set()
            for m, item in enumerate(cp.get("BeamLimitingDevicePositionSequence") or []):
                where = f"{self.what}, control point {n}, device position {m + 1}"
                kind = text(item, "RTBeamLimitingDeviceType").upper()
                if not kind:
                    raise PlanError(
                        f"{where} lacks RTBeamLimitingDeviceType (300A,00B8) (Type 1); the "
                        "positions cannot be assigned to a jaw or MLC"
                    )
                if kind in listed:
                    raise PlanError(f"{where}: the device {kind} is listed twice")
                listed.add(kind)
                current[kind] = numbers(
                    item, "LeafJawPositions", where, why="the field shape is unknown"
                )
            out.append(current)
        return out


def _check_angles(cp: _ControlPoints) -> None:
    """Refuse machine angles outside [0, 360), as DICOM RT Plan requires them."""
    for keyword, _ in _ANGLES:
        for n, value in enumerate(cp.values(keyword)):
            if value is not None and not 0.0 <= float(value[0]) < 360.0:
                raise PlanError(
                    f"{cp.what}, control point {n}: {tag_name(keyword)} is {float(value[0]):g}, "
                    "outside [0, 360) degrees as DICOM RT Plan requires; the file is corrupt "
                    "or was not exported by a planning system"
                )


def _angle_same(values: Sequence[FloatArray | None]) -> bool:
    nums = [float(v[0]) % 360.0 for v in values if v is not None]
    if not nums:
        return True
    ref = nums[0]
    return all(abs((v - ref + 180.0) % 360.0 - 180.0) <= _ANGLE_TOL_DEG for v in nums)


def _check_meterset_weights(b: Any, cp: _ControlPoints) -> None:
    """Cumulative meterset weights: from 0, never decreasing, ending at the final weight."""
    what = cp.what
    final = optional_number(b, "FinalCumulativeMetersetWeight", what)
    weights = [
        optional_number(item, "CumulativeMetersetWeight", f"{what}, control point {n}")
        for n, item in enumerate(cp.cps)
    ]
    known = [w for w in weights if w is not None]
    if final is not None and final <= 0:
        raise PlanError(
            f"{what}: {tag_name('FinalCumulativeMetersetWeight')} is {final:g}; it must be "
            "positive (the beam delivers its MU over its control points)"
        )
    if not known:
        return
    if weights[0] not in (None, 0.0):
        raise PlanError(
            f"{what}: the first control point's {tag_name('CumulativeMetersetWeight')} is "
            f"{weights[0]:g}, not 0"
        )
    if any(b_ < a - 1e-9 for a, b_ in itertools.pairwise(known)):
        raise PlanError(
            f"{what}: the control points' CumulativeMetersetWeight decrease ({known}); they "
            "must grow from 0 to the final weight"
        )
    last = weights[-1]
    if final is not None and last is not None and abs(last - final) > 1e-6 * max(1.0, final):
        raise PlanError(
            f"{what}: the last control point's CumulativeMetersetWeight {last:g} disagrees with "
            f"the beam's {tag_name('FinalCumulativeMetersetWeight')} {final:g}; the MU of the "
            "beam cannot be trusted"
        )


def _static_geometry(b: Any, what: str) -> tuple[_ControlPoints, list[dict[str, FloatArray]]]:
    """The control points of a beam, refused unless it is a static photon beam."""
    radiation = text(b, "RadiationType").upper()
    if radiation != "PHOTON":
        raise PlanError(
            f"{what} has RadiationType {radiation or 'missing'}; rtplan supports static "
            "photon beams only"
        )
    cps = b.get("ControlPointSequence") or []
    if len(cps) == 0:
        raise PlanError(f"{what} has no control points; its geometry is unknown")
    declared = optional_integer(b, "NumberOfControlPoints", what)
    if declared is not None and declared != len(cps):
        raise PlanError(
            f"{what}: {tag_name('NumberOfControlPoints')} is {declared} but the "
            f"ControlPointSequence holds {len(cps)}; the file is corrupt"
        )
    cp = _ControlPoints(cps, what)
    _check_angles(cp)
    _check_meterset_weights(b, cp)
    devices = cp.devices()
    moving = [label for keyword, label in _ANGLES if not _angle_same(cp.values(keyword))]
    kinds = set().union(*(d.keys() for d in devices))
    stepped = _step_and_shoot_segments(b, cp, devices) is not None
    for kind in sorted(kinds):
        if kind == "MLCX" and stepped:
            continue  # step-and-shoot: the leaves move only with the beam off
        arrays = [d[kind] for d in devices if kind in d]
        if any(a.shape != arrays[0].shape for a in arrays) or any(
            float(np.max(np.abs(a - arrays[0]))) > _POSITION_TOL_MM for a in arrays
        ):
            moving.append(f"{kind} positions")
    if moving:
        beam_type = text(b, "BeamType")
        raise PlanError(
            f"{what} is dynamic ({beam_type or 'BeamType missing'}, {len(cps)} control points "
            f"with changing {', '.join(moving)}: VMAT, IMRT or an arc); rtplan supports static "
            "photon beams only"
        )
    return cp, devices


def _step_and_shoot_segments(
    b: Any, cp: _ControlPoints, devices: list[dict[str, FloatArray]]
) -> list[tuple[FloatArray, float]] | None:
    """Segments ``(MLCX positions, share of the MU)`` of a step-and-shoot beam, else None.

    A beam is step-and-shoot when its MLCX positions change between control points only
    where the cumulative meterset weight does not (the beam is off while the leaves move);
    each control-point interval that delivers MU is a segment.
    """
    if len(cp.cps) < 3 or any("MLCX" not in d for d in devices):
        return None
    weights = [optional_number(item, "CumulativeMetersetWeight", cp.what) for item in cp.cps]
    if any(w is None for w in weights):
        return None
    w = np.asarray(weights, dtype=np.float64)
    final = float(w[-1])
    if final <= 0:
        return None
    out: list[tuple[FloatArray, float]] = []
    for n in range(len(w) - 1):
        a, c = devices[n]["MLCX"], devices[n + 1]["MLCX"]
        same = a.shape == c.shape and float(np.max(np.abs(a - c))) <= _POSITION_TOL_MM
        if w[n + 1] - w[n] > 1e-9:
            if not same:
                return None  # leaves moving while the beam is on: dynamic MLC
            out.append((a, float((w[n + 1] - w[n]) / final)))
    return out if len(out) > 0 else None


def _warn_modifiers(b: Any, what: str) -> None:
    for attr, label in (
        ("NumberOfWedges", "wedges"),
        ("NumberOfCompensators", "compensators"),
        ("NumberOfBoli", "boli"),
        ("NumberOfBlocks", "blocks"),
    ):
        count = optional_integer(b, attr, what, minimum=0)
        if count:
            warn(
                f"{what} has {count} {label}; rtplan's beam model ignores them, so "
                "doses computed for this beam will differ from the TPS"
            )


def _mlc(b: Any, pos: dict[str, FloatArray], what: str) -> Mlc | None:
    """The MLCX (boundaries at the beam level, positions in control point 0), if any."""
    if "MLCY" in pos:
        raise PlanError(f"{what} has an MLCY (leaves moving along Y); only MLCX is supported")
    if "MLCX" not in pos:
        return None
    definitions = {
        text(d, "RTBeamLimitingDeviceType").upper(): d
        for d in (b.get("BeamLimitingDeviceSequence") or [])
    }
    d = definitions.get("MLCX")
    if d is None or "LeafPositionBoundaries" not in d:
        raise PlanError(
            f"{what}: MLCX positions are given but its LeafPositionBoundaries "
            "(BeamLimitingDeviceSequence) are missing; the leaves cannot be placed"
        )
    bounds = numbers(d, "LeafPositionBoundaries", f"{what}, MLCX")
    leaves = pos["MLCX"]
    n = len(bounds) - 1
    pairs = optional_integer(d, "NumberOfLeafJawPairs", f"{what}, MLCX")
    if pairs is not None and pairs != n:
        raise PlanError(
            f"{what}: the MLCX has {tag_name('NumberOfLeafJawPairs')} {pairs} but "
            f"{len(bounds)} LeafPositionBoundaries ({n} pairs)"
        )
    if leaves.size != 2 * n:
        raise PlanError(
            f"{what}: {leaves.size} MLCX leaf positions for {n} leaf pairs (need {2 * n})"
        )
    try:
        return Mlc(leaf_boundaries_mm=tuple(bounds.tolist()), positions_mm=leaves.reshape(2, n))
    except PlanError as exc:
        raise PlanError(f"{what}: {exc}") from None


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
    jaws = (float(x[0]), float(x[1]), float(y[0]), float(y[1]))
    if max(abs(v) for v in jaws) > _MAX_JAW_MM:
        raise PlanError(
            f"{what}: jaw positions (X1, X2, Y1, Y2) = {jaws} mm reach beyond "
            f"{_MAX_JAW_MM:g} mm from the axis; the file is corrupt"
        )
    return jaws


def _isocenter(cp: _ControlPoints, what: str) -> tuple[float, float, float]:
    value = cp.first("IsocenterPosition", 3)
    if value is None:
        warn(f"{what} has no IsocenterPosition; the isocentre was put at the origin (0, 0, 0)")
        return (0.0, 0.0, 0.0)
    if np.any(np.abs(value) > _MAX_COORDINATE_MM):
        raise PlanError(
            f"{what}: {tag_name('IsocenterPosition')} {value.tolist()} lies beyond "
            f"{_MAX_COORDINATE_MM:g} mm from the origin; the file is corrupt"
        )
    return (float(value[0]), float(value[1]), float(value[2]))


def _sad_mm(b: Any, what: str) -> float:
    sad = optional_number(
        b,
        "SourceAxisDistance",
        what,
        check=lambda v: _MIN_SAD_MM <= v <= _MAX_SAD_MM,
        expected=f"a source-axis distance ({_MIN_SAD_MM:g} to {_MAX_SAD_MM:g} mm)",
    )
    if sad is None:
        warn(f"{what} has no SourceAxisDistance; 1000 mm assumed")
        return 1000.0
    return sad


def _energy(b: Any, cp: _ControlPoints, what: str) -> str:
    """The energy label from NominalBeamEnergy and the fluence mode (FFF, SRS)."""
    mode = "STANDARD"
    for item in b.get("PrimaryFluenceModeSequence") or []:
        if text(item, "FluenceMode").upper() == "NON_STANDARD":
            mode = text(item, "FluenceModeID", "FFF").upper()
    value = cp.first("NominalBeamEnergy")
    if value is None:
        warn(f"{what} has no NominalBeamEnergy; its energy was left empty")
        return ""
    mv = float(value[0])
    if not 0.0 < mv <= MAX_PHOTON_MV:
        raise PlanError(
            f"{what}: {tag_name('NominalBeamEnergy')} is {mv:g} MV, not a photon beam energy "
            f"(0 to {MAX_PHOTON_MV:g} MV); the file is corrupt"
        )
    if mode not in ("FFF", "SRS"):
        mode = "STANDARD"
    return format_energy(mv, mode)


def _first_angle(cp: _ControlPoints, keyword: str, what: str) -> float:
    value = cp.first(keyword)
    if value is None:
        warn(f"{what} has no {keyword} in its first control point; 0 assumed")
        return 0.0
    return float(value[0])


def _beam_number(b: Any, p: Path, index: int) -> int:
    number = optional_integer(b, "BeamNumber", f"{p}: beam {index + 1}", minimum=1)
    if number is None:
        raise PlanError(
            f"{p}: beam {index + 1} of the BeamSequence lacks {tag_name('BeamNumber')} "
            "(Type 1); its MU and dose cannot be matched to it"
        )
    return number


def _read_beam(b: Any, number: int, path: Path, meterset: dict[int, float]) -> Beam:
    """One treatment beam of the Beam Sequence as a :class:`Beam`."""
    name = text(b, "BeamName") or f"Beam {number}"
    what = f"{path}: beam {number} {name!r}"
    cp, devices = _static_geometry(b, what)
    _warn_modifiers(b, what)
    stepped = _step_and_shoot_segments(b, cp, devices)
    if stepped is not None:  # the MLC holds the segments' envelope (or the one shape)
        envelope = np.stack([shape for shape, _ in stepped])
        half = envelope.shape[1] // 2
        first = dict(devices[0])
        first["MLCX"] = np.concatenate([envelope[:, :half].min(axis=0),
                                        envelope[:, half:].max(axis=0)])  # fmt: skip
        devices = [first, *devices[1:]]
    mlc = _mlc(b, devices[0], what)
    jaws = _jaws(devices[0], mlc, what)
    iso = _isocenter(cp, what)
    sad_mm = _sad_mm(b, what)
    energy = _energy(b, cp, what)
    mu = meterset.get(number)
    if mu is None:
        warn(f"{what} has no BeamMeterset in the fraction group; its MU are unknown (None)")
    elif mu == 0.0:
        warn(f"{what} has a BeamMeterset of 0 MU: it delivers no dose")
    elif mu > MAX_PLAUSIBLE_MU:
        warn(
            f"{what} has a BeamMeterset of {mu:g} MU per fraction, above the "
            f"{MAX_PLAUSIBLE_MU:g} MU a static photon beam plausibly needs; check the plan"
        )
    try:
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
            machine=text(b, "TreatmentMachineName"),
            segments=_segments(stepped, mlc, what),
        )
    except PlanError as exc:
        raise PlanError(f"{what}: {exc}") from None


def _segments(
    stepped: list[tuple[FloatArray, float]] | None, mlc: Mlc | None, what: str
) -> tuple[Segment, ...]:
    """The :class:`Segment` objects of a step-and-shoot beam (none for a static beam)."""
    if stepped is None or mlc is None:
        return ()
    if len(stepped) == 1:
        return ()  # one shape delivers all the MU: a static beam
    out = []
    for positions, share in stepped:
        if positions.size != 2 * mlc.n_pairs:
            raise PlanError(f"{what}: a control point has {positions.size} MLCX positions")
        out.append(Segment(positions_mm=positions.reshape(2, mlc.n_pairs), weight=share))
    return tuple(out)


def _open_plan(p: Path) -> Any:
    """The RT Plan dataset, refused for ion and brachytherapy plans and other objects."""
    ds = read_dataset(p, "RT Plan")
    sop_class = text(ds, "SOPClassUID")
    if sop_class == RT_ION_PLAN_STORAGE or "IonBeamSequence" in ds:
        raise PlanError(
            f"{p}: an RT Ion Plan (protons or ions); rtplan supports static photon beams only"
        )
    if sop_class != RT_PLAN_STORAGE and text(ds, "Modality") != "RTPLAN":
        raise DicomReadError(
            f"{p}: not an RT Plan (SOP Class {sop_class or 'missing'}, Modality "
            f"{text(ds, 'Modality', 'missing')})"
        )
    if "BeamSequence" not in ds:
        if "ApplicationSetupSequence" in ds:
            raise PlanError(f"{p}: a brachytherapy plan; rtplan supports static photon beams only")
        raise PlanError(f"{p}: the RT Plan has no BeamSequence; there are no beams to read")
    return ds


def _group_fractions(fg: Any, where: str) -> int | None:
    """NumberOfFractionsPlanned of a fraction group, checked; None when missing."""
    planned = optional_integer(fg, "NumberOfFractionsPlanned", where)
    if planned is not None and not 1 <= planned <= MAX_FRACTIONS:
        raise PlanError(
            f"{where}: {tag_name('NumberOfFractionsPlanned')} is {planned}; a plan delivers 1 "
            f"to {MAX_FRACTIONS} fractions, so the value is corrupt"
        )
    return planned


def _beam_metersets(fg: Any, where: str) -> dict[int, float]:
    """MU per referenced beam number of a fraction group, refused when contradictory."""
    meterset: dict[int, float] = {}
    for n, rb in enumerate(fg.get("ReferencedBeamSequence") or []):
        item = f"{where}, ReferencedBeamSequence item {n + 1}"
        number = optional_integer(rb, "ReferencedBeamNumber", item)
        if number is None:
            raise PlanError(
                f"{item} lacks {tag_name('ReferencedBeamNumber')} (Type 1); the MU it holds "
                "cannot be matched to a beam"
            )
        mu = optional_number(
            rb, "BeamMeterset", item, check=lambda v: v >= 0, expected="0 or more MU"
        )
        if mu is None:
            continue
        if number in meterset and meterset[number] != mu:
            raise PlanError(
                f"{where}: beam {number} is given {meterset[number]:g} and {mu:g} MU by two "
                "ReferencedBeamSequence items; the MU cannot be trusted"
            )
        meterset[number] = mu
    return meterset


def _fractions_and_mu(ds: Any, p: Path) -> tuple[int, dict[int, float], dict[int, int]]:
    """Fractions planned and MU per beam number (first fraction group), fractions per group."""
    groups = list(ds.get("FractionGroupSequence") or [])
    if not groups:
        warn(f"{p}: no FractionGroupSequence; 1 fraction assumed and MU unknown")
        return 1, {}, {}
    if len(groups) > 1:
        warn(f"{p}: {len(groups)} fraction groups; only the first is read")
    per_group: dict[int, int] = {}
    for n, fg in enumerate(groups):
        where = f"{p}: fraction group {n + 1}"
        number = optional_integer(fg, "FractionGroupNumber", where)
        planned = _group_fractions(fg, where)
        if number is not None and planned is not None:
            per_group[number] = planned
    where = f"{p}: fraction group 1"
    fractions = _group_fractions(groups[0], where)
    if fractions is None:
        warn(f"{p}: NumberOfFractionsPlanned is missing; 1 fraction assumed")
        fractions = 1
    return fractions, _beam_metersets(groups[0], where), per_group


def _treatment_beams(ds: Any, p: Path, meterset: dict[int, float]) -> list[Beam]:
    beams = []
    seen: set[int] = set()
    for index, b in enumerate(ds.BeamSequence):
        number = _beam_number(b, p, index)
        if number in seen:
            raise PlanError(
                f"{p}: {tag_name('BeamNumber')} {number} is used by two beams of the "
                "BeamSequence; Beam Numbers must be unique, the file is corrupt"
            )
        seen.add(number)
        delivery = text(b, "TreatmentDeliveryType", "TREATMENT").upper()
        if delivery != "TREATMENT":
            logger.info(
                "%s: beam %s (%s) is a %s beam, not read", p, number, text(b, "BeamName"), delivery
            )
            continue
        beams.append(_read_beam(b, number, p, meterset))
    if not beams:
        raise PlanError(f"{p}: the RT Plan has no treatment beams")
    unknown = sorted(set(meterset) - seen)
    if unknown:
        warn(
            f"{p}: the fraction group gives MU to beam number(s) {unknown}, which the "
            "BeamSequence does not hold; those MU were ignored"
        )
    return beams


def _prescription(ds: Any, p: Path) -> tuple[float | None, str]:
    """The first TARGET TargetPrescriptionDose (Gy) and its description."""
    prescription: float | None = None
    target_name = ""
    found: list[float] = []
    for n, item in enumerate(ds.get("DoseReferenceSequence") or []):
        where = f"{p}: DoseReferenceSequence item {n + 1}"
        value = optional_number(item, "TargetPrescriptionDose", where)
        if text(item, "DoseReferenceType").upper() != "TARGET" or value is None:
            continue
        if value > MAX_PRESCRIPTION_GY:
            raise PlanError(
                f"{where}: {tag_name('TargetPrescriptionDose')} is {value:g} Gy, above the "
                f"{MAX_PRESCRIPTION_GY:g} Gy any course prescribes; the file is corrupt"
            )
        found.append(value)
        if prescription is None:
            prescription = value
            target_name = text(item, "DoseReferenceDescription")
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
        text(item, "PatientPosition")
        for item in ds.get("PatientSetupSequence") or []
        if text(item, "PatientPosition")
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
    m = _NORMALIZATION_RE.search(text(ds, "RTPlanDescription"))
    if m is not None and m.group("n").lower() in ("none", "mean", "d95", "isocenter"):
        return m.group("n").lower()
    return "none"


def _plan_uid(ds: Any, p: Path) -> str:
    """The plan's SOP Instance UID; a new one, reported, when the file has none."""
    uid = text(ds, "SOPInstanceUID")
    if uid:
        return uid
    uid = Plan().uid
    warn(
        f"{p}: the RT Plan has no {tag_name('SOPInstanceUID')} (Type 1): RT Doses cannot "
        f"name it; it was given the new UID {uid}"
    )
    return uid


def _identity(ds: Any, p: Path, fraction_groups: dict[int, int]) -> dict[str, Any]:
    """UIDs, references and source of the plan (``Plan.extra``)."""
    refs = ds.get("ReferencedStructureSetSequence") or []
    return {
        "sop_instance_uid": text(ds, "SOPInstanceUID"),
        "series_instance_uid": text(ds, "SeriesInstanceUID"),
        "study_instance_uid": text(ds, "StudyInstanceUID"),
        "frame_of_reference_uid": text(ds, "FrameOfReferenceUID"),
        "referenced_structure_set_uid": text(refs[0], "ReferencedSOPInstanceUID")
        if len(refs)
        else "",
        "plan_geometry": text(ds, "RTPlanGeometry"),
        "fraction_groups": fraction_groups,
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
    with pydicom_warnings(p):
        return _read(p)


def _read(p: Path) -> Plan:
    """The body of :func:`read_rtplan`."""
    ds = _open_plan(p)
    fractions, meterset, fraction_groups = _fractions_and_mu(ds, p)
    beams = _treatment_beams(ds, p, meterset)
    prescription, target_name = _prescription(ds, p)
    return Plan(
        beams=tuple(beams),
        prescription_gy=prescription,
        fractions=fractions,
        normalization=_normalization(ds),
        target_name=target_name,
        name=text(ds, "RTPlanName") or text(ds, "RTPlanLabel"),
        patient_position=_patient_position(ds, p),
        uid=_plan_uid(ds, p),
        extra=_identity(ds, p, fraction_groups),
    )
