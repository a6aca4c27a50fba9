"""What a read result is (its fingerprint), and what a file says, decoded independently.

A fingerprint is a flat ``{key: value}`` of what matters in a read result: geometry, HU,
dose values and meaning, structure contours, beam parameters. Two results are the same when
their fingerprints agree (:func:`differences`). The reference decoders (``reference_*``)
compute the fingerprint of a file straight from pydicom and the DICOM rules, without rtplan's
readers, for the simple layouts the clean corpus has; they raise on anything else. A changed
result is *faithful* when it equals the reference decoding of the mutated file and is
plausible (:func:`implausible`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

import rtplan

__all__ = [
    "Fingerprint",
    "differences",
    "fingerprint",
    "implausible",
    "reference_ct",
    "reference_dose",
    "reference_plan",
    "reference_structures",
    "reference_study",
]

Fingerprint = dict[str, Any]

_FRACTIONS_RE = re.compile(r"(?P<n>\d+)\s+fractions?", re.IGNORECASE)
_WATER_RE = re.compile(r"dose to water", re.IGNORECASE)
_NORMALIZATION_RE = re.compile(r"normali[sz]ation\s*[=:]\s*(?P<n>\w+)", re.IGNORECASE)


# ---------------------------------------------------------------------------- fingerprints
def _grid(fp: Fingerprint, key: str, grid: rtplan.Grid) -> None:
    fp[f"{key}.shape"] = np.asarray(grid.shape, dtype=np.float64)
    fp[f"{key}.origin"] = np.asarray(grid.origin_mm, dtype=np.float64)
    fp[f"{key}.spacing"] = np.asarray(grid.spacing_mm, dtype=np.float64)
    fp[f"{key}.direction"] = np.asarray(grid.direction, dtype=np.float64)


def _fp_ct(fp: Fingerprint, key: str, ct: rtplan.Image) -> None:
    _grid(fp, f"{key}.grid", ct.grid)
    fp[f"{key}.hu"] = np.asarray(ct.array, dtype=np.float32)
    fp[f"{key}.patient_position"] = (
        None if ct.patient_position is None else str(ct.patient_position)
    )
    fp[f"{key}.frame"] = ct.series.frame_of_reference_uid if ct.series else ""


def _fp_dose(fp: Fingerprint, key: str, dose: rtplan.Dose) -> None:
    _grid(fp, f"{key}.grid", dose.grid)
    fp[f"{key}.gy"] = np.asarray(dose.array, dtype=np.float64)
    fp[f"{key}.summation_type"] = str(dose.summation_type)
    fp[f"{key}.dose_type"] = str(dose.dose_type)
    fp[f"{key}.fractions"] = dose.fractions
    fp[f"{key}.plan_uid"] = dose.plan_uid
    fp[f"{key}.medium"] = str(dose.medium)


def _fp_structures(fp: Fingerprint, key: str, structures: Sequence[rtplan.Structure]) -> None:
    fp[f"{key}.count"] = len(structures)
    for n, s in enumerate(structures):
        k = f"{key}[{n}]"
        fp[f"{k}.name"] = s.name
        fp[f"{k}.number"] = s.number
        fp[f"{k}.type"] = s.interpreted_type
        fp[f"{k}.contours"] = len(s.contours)
        for m, c in enumerate(s.contours):
            fp[f"{k}.contour[{m}].type"] = str(c.geometric_type)
            fp[f"{k}.contour[{m}].points"] = np.asarray(c.points_mm, dtype=np.float64)


def _fp_plan(fp: Fingerprint, key: str, plan: rtplan.Plan) -> None:
    fp[f"{key}.uid"] = plan.uid
    fp[f"{key}.name"] = plan.name
    fp[f"{key}.prescription_gy"] = plan.prescription_gy
    fp[f"{key}.fractions"] = plan.fractions
    fp[f"{key}.normalization"] = str(plan.normalization)
    fp[f"{key}.target"] = plan.target_name
    fp[f"{key}.patient_position"] = (
        None if plan.patient_position is None else str(plan.patient_position)
    )
    fp[f"{key}.beams"] = len(plan.beams)
    for n, b in enumerate(plan.beams):
        k = f"{key}.beam[{n}]"
        fp[f"{k}.number"] = b.number
        fp[f"{k}.name"] = b.name
        fp[f"{k}.energy"] = b.energy
        fp[f"{k}.angles"] = np.array([b.gantry_deg, b.collimator_deg, b.couch_deg])
        fp[f"{k}.isocenter"] = np.asarray(b.isocenter_mm, dtype=np.float64)
        fp[f"{k}.sad"] = b.sad_mm
        fp[f"{k}.jaws"] = np.asarray(b.jaws_mm, dtype=np.float64)
        fp[f"{k}.mu"] = b.mu
        fp[f"{k}.mlc_boundaries"] = (
            None if b.mlc is None else np.asarray(b.mlc.leaf_boundaries_mm, dtype=np.float64)
        )
        fp[f"{k}.mlc_positions"] = (
            None if b.mlc is None else np.asarray(b.mlc.positions_mm, dtype=np.float64)
        )


def fingerprint(kind: str, result: Any) -> Fingerprint:
    """The fingerprint of what a reader returned.

    Parameters
    ----------
    kind : {"ct", "rtstruct", "rtdose", "rtplan", "study"}
    result : Image, StructureSet, Dose, Plan or Study

    Returns
    -------
    dict
    """
    fp: Fingerprint = {}
    if kind == "ct":
        _fp_ct(fp, "ct", result)
    elif kind == "rtstruct":
        _fp_structures(fp, "structures", list(result))
    elif kind == "rtdose":
        _fp_dose(fp, "dose", result)
    elif kind == "rtplan":
        _fp_plan(fp, "plan", result)
    else:
        _fp_ct(fp, "ct", result.ct)
        _fp_structures(fp, "structures", list(result.structures))
        fp["plans"] = len(result.plans)
        for n, plan in enumerate(result.plans):
            _fp_plan(fp, f"plans[{n}]", plan)
        fp["doses"] = len(result.doses)
        for n, dose in enumerate(result.doses):
            _fp_dose(fp, f"doses[{n}]", dose)
    return fp


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        return bool(np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True))
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-9, equal_nan=True))
    return bool(a == b)


def differences(a: Fingerprint, b: Fingerprint) -> list[str]:
    """The keys whose values differ (or that only one fingerprint has), sorted."""
    return sorted(k for k in set(a) | set(b) if k not in a or k not in b or not _same(a[k], b[k]))


_LIMITS = (  # key fragment, largest magnitude a genuine result holds
    (".hu", 1e5),
    (".gy", 1e4),
    (".points", 1e6),
    (".origin", 1e6),
    (".isocenter", 1e6),
    (".jaws", 1e3),
    (".spacing", 1e3),
    (".mu", 1e5),
    (".prescription_gy", 1e3),
)


def implausible(fp: Fingerprint) -> str | None:
    """Why a fingerprint cannot be a genuine result (non-finite or out-of-range values)."""
    for key, value in fp.items():
        if value is None or isinstance(value, str | bool):
            continue
        arr = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            return f"{key} holds non-finite values"
        for fragment, limit in _LIMITS:
            if fragment in key and arr.size and float(np.abs(arr).max()) > limit:
                return f"{key} reaches {float(np.abs(arr).max()):.4g} (limit {limit:g})"
        if key.endswith(".angles") and (np.any(arr < 0) or np.any(arr >= 360)):
            return f"{key} = {arr.tolist()} outside [0, 360)"
        if key.endswith(".spacing") and np.any(arr <= 0):
            return f"{key} = {arr.tolist()} not positive"
    return None


# ---------------------------------------------------------------------------- references
def _floats(ds: Any, keyword: str, count: int | None = None) -> np.ndarray:
    value = ds[keyword].value
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    arr = np.array([float(v) for v in items], dtype=np.float64)
    if count is not None and arr.size != count:
        raise ValueError(f"{keyword}: {arr.size} values")
    return arr


_CLASS_MODALITY = {
    "1.2.840.10008.5.1.4.1.1.2": "CT",
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.481.5": "RTPLAN",
    "1.2.840.10008.5.1.4.1.1.481.2": "RTDOSE",
}


def _modality(ds: Any) -> str:
    """The modality of a file as a reader takes it: by its SOP Class, else its Modality."""
    by_class = _CLASS_MODALITY.get(str(ds.get("SOPClassUID", "")).strip())
    return by_class or str(ds.get("Modality", "") or "").strip().upper()


def _frame(iop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row = iop[:3] / np.linalg.norm(iop[:3])
    col = iop[3:] - np.dot(iop[3:], row) * row
    col = col / np.linalg.norm(col)
    return row, col, np.cross(row, col)


def reference_ct(files: Sequence[Path]) -> Fingerprint:
    """The CT volume a set of slice files says, with pydicom and the DICOM rules."""
    slices = [pydicom.dcmread(f) for f in files]
    slices = [ds for ds in slices if _modality(ds) == "CT"]
    if len({str(ds.SeriesInstanceUID) for ds in slices}) != 1 or len(slices) < 2:
        raise ValueError("not one CT series of two slices or more")
    iop = _floats(slices[0], "ImageOrientationPatient", 6)
    if any(not np.allclose(_floats(ds, "ImageOrientationPatient", 6), iop) for ds in slices):
        raise ValueError("mixed orientations")
    row, col, normal = _frame(iop)
    pos = np.array([_floats(ds, "ImagePositionPatient", 3) for ds in slices])
    d = pos @ normal
    order = np.argsort(d, kind="stable")
    gaps = np.diff(d[order])
    if np.any(gaps <= 0) or np.ptp(gaps) > 1e-3 * abs(float(np.median(gaps))) + 0.01:
        raise ValueError("not uniformly spaced")
    ps = _floats(slices[0], "PixelSpacing", 2)
    hu = []
    for k in order:
        ds = slices[k]
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        hu.append(np.asarray(ds.pixel_array, dtype=np.float64) * slope + intercept)
    volume = np.asarray(hu, dtype=np.float32)
    grid = rtplan.Grid(
        shape=volume.shape,
        spacing_mm=((d[order][-1] - d[order][0]) / (len(d) - 1), float(ps[0]), float(ps[1])),
        origin_mm=tuple(pos[order[0]]),
        direction=np.stack([row, col, normal], axis=1),
    )
    fp: Fingerprint = {}
    _grid(fp, "ct.grid", grid)
    fp["ct.hu"] = volume
    positions = {str(ds.get("PatientPosition", "") or "").strip().upper() for ds in slices}
    if len(positions) != 1:
        raise ValueError("mixed patient positions")
    fp["ct.patient_position"] = positions.pop() or None
    frames = {str(ds.FrameOfReferenceUID) for ds in slices}
    if len(frames) != 1:
        raise ValueError("mixed frames")
    fp["ct.frame"] = frames.pop()
    return fp


def reference_dose(
    path: Path, plan_fractions: dict[int, int] | None = None, key: str = "dose"
) -> Fingerprint:
    """The dose an RT Dose file says (relative frame offsets, GY units)."""
    ds = pydicom.dcmread(path)
    if str(ds.DoseUnits).strip().upper() != "GY":
        raise ValueError("not GY")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    values = np.asarray(ds.pixel_array, dtype=np.float64).reshape(frames, ds.Rows, ds.Columns)
    values = values * float(ds.DoseGridScaling)
    ipp = _floats(ds, "ImagePositionPatient", 3)
    row, col, normal = _frame(_floats(ds, "ImageOrientationPatient", 6))
    ps = _floats(ds, "PixelSpacing", 2)
    offsets = _floats(ds, "GridFrameOffsetVector", frames) if frames > 1 else np.zeros(1)
    if offsets[0] != 0.0:
        raise ValueError("offsets not relative")
    if frames > 1:
        gaps = np.diff(offsets)
        if np.any(gaps <= 0) or np.ptp(gaps) > 1e-3:
            raise ValueError("not uniform")
        step = float(np.median(gaps))
    else:
        step = float(ds.SliceThickness)
    grid = rtplan.Grid(
        shape=values.shape,
        spacing_mm=(step, float(ps[0]), float(ps[1])),
        origin_mm=tuple(ipp),
        direction=np.stack([row, col, normal], axis=1),
    )
    fp: Fingerprint = {}
    _grid(fp, f"{key}.grid", grid)
    fp[f"{key}.gy"] = values
    fp[f"{key}.summation_type"] = str(ds.DoseSummationType).strip().upper()
    fp[f"{key}.dose_type"] = str(ds.DoseType).strip().upper()
    comment = str(ds.get("DoseComment", "") or "")
    m = _FRACTIONS_RE.search(comment)
    fractions = int(m.group("n")) if m else None
    refs = ds.get("ReferencedRTPlanSequence") or []
    fp[f"{key}.plan_uid"] = str(refs[0].ReferencedSOPInstanceUID) if refs else ""
    if plan_fractions is not None:
        group = None
        items = (refs[0].get("ReferencedFractionGroupSequence") or []) if refs else []
        for item in items[:1]:
            group = int(item.ReferencedFractionGroupNumber)
        fractions = plan_fractions.get(group, plan_fractions[0]) if group else plan_fractions[0]
    fp[f"{key}.fractions"] = fractions
    fp[f"{key}.medium"] = "water" if _WATER_RE.search(comment) else "medium"
    return fp


def _energy(b: Any, cp0: Any) -> str:
    mode = "X"
    for item in b.get("PrimaryFluenceModeSequence") or []:
        if str(item.get("FluenceMode", "")).upper() == "NON_STANDARD":
            mode = str(item.get("FluenceModeID", "") or "FFF").upper()
            mode = mode if mode in ("FFF", "SRS") else "X"
    return f"{float(cp0.NominalBeamEnergy):.12g}{mode}"


def _devices(cp0: Any) -> dict[str, np.ndarray]:
    return {
        str(item.RTBeamLimitingDeviceType).upper(): _floats(item, "LeafJawPositions")
        for item in cp0.BeamLimitingDevicePositionSequence
    }


def _beam(fp: Fingerprint, k: str, b: Any, mu: dict[int, float]) -> None:
    number = int(b.BeamNumber)
    cp0 = b.ControlPointSequence[0]
    devices = _devices(cp0)
    fp[f"{k}.number"] = number
    fp[f"{k}.name"] = str(b.get("BeamName", "") or "").strip() or f"Beam {number}"
    fp[f"{k}.energy"] = _energy(b, cp0)
    fp[f"{k}.angles"] = np.array(
        [float(cp0.GantryAngle), float(cp0.BeamLimitingDeviceAngle), float(cp0.PatientSupportAngle)]
    )
    fp[f"{k}.isocenter"] = _floats(cp0, "IsocenterPosition", 3)
    fp[f"{k}.sad"] = float(b.SourceAxisDistance)
    fp[f"{k}.jaws"] = np.concatenate([devices["ASYMX"], devices["ASYMY"]])
    fp[f"{k}.mu"] = mu.get(number)
    if "MLCX" in devices:
        bounds = {
            str(d.RTBeamLimitingDeviceType).upper(): _floats(d, "LeafPositionBoundaries")
            for d in b.BeamLimitingDeviceSequence
            if "LeafPositionBoundaries" in d
        }["MLCX"]
        fp[f"{k}.mlc_boundaries"] = bounds
        fp[f"{k}.mlc_positions"] = devices["MLCX"].reshape(2, -1)
    else:
        fp[f"{k}.mlc_boundaries"] = fp[f"{k}.mlc_positions"] = None


def reference_plan(path: Path, key: str = "plan") -> tuple[Fingerprint, dict[int, int]]:
    """The plan an RT Plan file says, and its fractions by fraction group (0: the first)."""
    ds = pydicom.dcmread(path)
    groups = list(ds.FractionGroupSequence)
    per_group = {int(g.FractionGroupNumber): int(g.NumberOfFractionsPlanned) for g in groups}
    per_group[0] = int(groups[0].NumberOfFractionsPlanned)
    mu = {
        int(rb.ReferencedBeamNumber): float(rb.BeamMeterset)
        for rb in groups[0].ReferencedBeamSequence
        if "BeamMeterset" in rb
    }
    fp: Fingerprint = {}
    fp[f"{key}.uid"] = str(ds.SOPInstanceUID)
    fp[f"{key}.name"] = str(ds.get("RTPlanName", "") or ds.get("RTPlanLabel", "") or "").strip()
    target = next(d for d in ds.DoseReferenceSequence if str(d.DoseReferenceType) == "TARGET")
    fp[f"{key}.prescription_gy"] = float(target.TargetPrescriptionDose)
    fp[f"{key}.target"] = str(target.get("DoseReferenceDescription", "") or "").strip()
    fp[f"{key}.fractions"] = per_group[0]
    m = _NORMALIZATION_RE.search(str(ds.get("RTPlanDescription", "") or ""))
    fp[f"{key}.normalization"] = m.group("n").lower() if m else "none"
    fp[f"{key}.patient_position"] = str(ds.PatientSetupSequence[0].PatientPosition).strip()
    beams = [
        b
        for b in ds.BeamSequence
        if str(b.get("TreatmentDeliveryType", "TREATMENT") or "TREATMENT") == "TREATMENT"
    ]
    fp[f"{key}.beams"] = len(beams)
    for n, b in enumerate(beams):
        _beam(fp, f"{key}.beam[{n}]", b, mu)
    return fp, per_group


def reference_structures(path: Path, grid: rtplan.Grid, key: str = "structures") -> Fingerprint:
    """The ROIs an RT Structure Set says, planar contours moved onto the CT's slices."""
    ds = pydicom.dcmread(path)
    rois = list(ds.StructureSetROISequence)
    types = {
        int(o.ReferencedROINumber): str(o.get("RTROIInterpretedType", "") or "").strip().upper()
        for o in ds.get("RTROIObservationsSequence") or []
    }
    contours: dict[int, list[tuple[str, np.ndarray]]] = {}
    for item in ds.ROIContourSequence:
        found = contours.setdefault(int(item.ReferencedROINumber), [])
        for c in item.get("ContourSequence") or []:
            pts = _floats(c, "ContourData").reshape(-1, 3)
            found.append((str(c.ContourGeometricType).strip().upper(), pts))
    normal = grid.direction[:, 2]
    dk = grid.spacing_mm[0]
    origin = np.asarray(grid.origin_mm)
    fp: Fingerprint = {f"{key}.count": len(rois)}
    for n, roi in enumerate(rois):
        k = f"{key}[{n}]"
        number = int(roi.ROINumber)
        fp[f"{k}.name"] = str(roi.ROIName).strip()
        fp[f"{k}.number"] = number
        fp[f"{k}.type"] = types.get(number, "")
        mine = contours.get(number, [])
        fp[f"{k}.contours"] = len(mine)
        for m, (gtype, pts) in enumerate(mine):
            kk = (pts - origin) @ normal / dk
            snapped = np.ceil(kk.mean() - 0.5 - 1e-9)
            moved = pts + ((snapped - kk) * dk)[:, np.newaxis] * normal[np.newaxis, :]
            fp[f"{k}.contour[{m}].type"] = gtype
            fp[f"{k}.contour[{m}].points"] = moved
    return fp


def reference_study(folder: Path) -> Fingerprint:
    """A study folder as its files say: the CT, its structure set, the plans, the doses."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    headers = [(p, pydicom.dcmread(p, stop_before_pixels=True)) for p in files]
    by = {
        m: [p for p, ds in headers if _modality(ds) == m]
        for m in ("CT", "RTSTRUCT", "RTPLAN", "RTDOSE")
    }
    fp = reference_ct(by["CT"])
    grid = rtplan.Grid(
        shape=tuple(int(v) for v in fp["ct.grid.shape"]),
        spacing_mm=tuple(fp["ct.grid.spacing"]),
        origin_mm=tuple(fp["ct.grid.origin"]),
        direction=fp["ct.grid.direction"],
    )
    if len(by["RTSTRUCT"]) != 1:
        raise ValueError("not one structure set")
    fp.update(reference_structures(by["RTSTRUCT"][0], grid))
    fp["plans"] = len(by["RTPLAN"])
    fractions: dict[str, dict[int, int]] = {}
    for n, path in enumerate(by["RTPLAN"]):
        plan_fp, per_group = reference_plan(path, f"plans[{n}]")
        fp.update(plan_fp)
        fractions[plan_fp[f"plans[{n}].uid"]] = per_group
    fp["doses"] = len(by["RTDOSE"])
    for n, path in enumerate(by["RTDOSE"]):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        refs = ds.get("ReferencedRTPlanSequence") or []
        uid = str(refs[0].ReferencedSOPInstanceUID) if refs else ""
        fp.update(reference_dose(path, fractions.get(uid), f"doses[{n}]"))
    return fp
