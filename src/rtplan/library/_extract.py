"""One study in, its rows out: what a worker does with a :class:`StudyTask`.

:func:`process_study` reads the study's files (CT series, its RT Structure Set, RT Plans
and RT Doses), computes the registered features and the built-in per-structure, OVH and
dose tables, and returns a :class:`StudyResult`: plain rows, small, picklable, written by
the one process that owns the database. It never raises for a bad study: the study is
returned as failed with the reason, so one broken study never stops a library.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtplan.errors import RtplanError
from rtplan.library._errors import LibraryError
from rtplan.library._features import FeatureFunction, StudyContext
from rtplan.library._scan import HEADERS, StudyTask, salted_key
from rtplan.library._schema import unit_from_name

if TYPE_CHECKING:
    from rtplan.io._discovery import DicomHeader
    from rtplan.io.study import Study
    from rtplan.structures import Structure

__all__ = ["PERCENTS", "ExtractOptions", "StudyResult", "process_study"]

logger = logging.getLogger(__name__)

#: Volume percentages at which OVH distances and DVH doses are stored (0: the nearest
#: voxel / the maximum dose; 100: the farthest / the minimum).
PERCENTS = (0.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0)

#: Goals evaluated on every study with a dose and a prescription, unless others are given.
DEFAULT_GOALS = ("PTV D95% >= 95 %Rx", "PTV Dmax <= 107 %Rx")

_MAX_WARNINGS = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class ExtractOptions:
    """What every worker needs besides the task (sent with each task).

    Attributes
    ----------
    salt : str
        The library's salt for de-identified keys.
    features : mapping of str to callable
        The feature functions to run.
    keep_identifiers : bool
        Also return the patient's ID and name and the UIDs (``identifiers`` table).
    goals : tuple of str
        Clinical goals evaluated on studies with a dose (:func:`rtplan.evaluate.parse_goal`).
    """

    salt: str
    features: Mapping[str, FeatureFunction] = field(default_factory=dict)
    keep_identifiers: bool = False
    goals: tuple[str, ...] = DEFAULT_GOALS


@dataclass(kw_only=True, slots=True)
class StudyResult:
    """The rows of one study, as a worker returns them.

    Attributes
    ----------
    study_key, fingerprint, folder : str
        From the task.
    status : {"ok", "failed"}
    error : str
        Why the study failed (empty when ok).
    study : dict
        The ``studies`` row (without the bookkeeping columns the writer adds).
    rows : dict of str to list of tuple
        Rows per table (``structures``, ``features``, ``identifiers``, ``ovh``, ``dvh``,
        ``dose_metrics``, ``goals``), each without the leading ``study_key``.
    warnings : list of str
    seconds : float
        Time spent.
    """

    study_key: str
    fingerprint: str
    folder: str
    n_files: int
    status: str = "ok"
    error: str = ""
    study: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------------------- reading
def _headers(paths: Sequence[str]) -> list[DicomHeader]:
    from rtplan.io._discovery import read_header

    found = (HEADERS.take(p) or read_header(Path(p)) for p in paths)
    return [h for h in found if h is not None]


def _orphan_error(headers: Sequence[DicomHeader]) -> str:
    listed = ", ".join(f"{h.modality} {h.path.name}" for h in headers[:5])
    more = f" and {len(headers) - 5} more" if len(headers) > 5 else ""
    return (
        f"RT objects without their CT series: {listed}{more} in {headers[0].path.parent}; "
        "add the CT series they were drawn on"
    )


def _load(task: StudyTask, options: ExtractOptions) -> tuple[Study, DicomHeader]:
    """Read the study of a task; raise an RtplanError saying why it cannot be read."""
    import rtplan.io as rio
    from rtplan.io.ct import read_ct_series
    from rtplan.io.study import Study, select_study
    from rtplan.structures import StructureSet

    headers = _headers(task.paths)
    if not task.series_key:
        raise LibraryError(_orphan_error(headers) if headers else "no readable DICOM file")
    ct_uids = {
        h.series_uid
        for h in headers
        if h.modality == "CT" and salted_key(options.salt, h.series_uid) == task.series_key
    }
    if len(ct_uids) != 1:
        raise LibraryError(f"the CT series of {task.folder} changed while indexing; index again")
    series_uid = ct_uids.pop()
    sel = select_study(headers, series_uid=series_uid, source=task.folder)
    ct = read_ct_series(sel.ct)
    if sel.structure_set is None:
        frame = "" if ct.series is None else ct.series.frame_of_reference_uid
        structures = StructureSet(frame_of_reference_uid=frame)
    else:
        structures = rio.read_rtstruct(sel.structure_set.path, reference=ct)
    plans = []
    for h in sel.plans:
        try:
            plans.append(rio.read_rtplan(h.path))
        except RtplanError as exc:
            warnings.warn(f"skipping the RT Plan {h.path}: {exc}", stacklevel=2)
    doses = []
    for h in sel.doses:
        try:
            doses.append(rio.read_rtdose(h.path))
        except RtplanError as exc:
            warnings.warn(f"skipping the RT Dose {h.path}: {exc}", stacklevel=2)
    study = Study(
        ct=ct, structures=structures, plans=tuple(plans), doses=tuple(doses),
        path=Path(task.folder),
    )  # fmt: skip
    return study, sel.ct.headers[0]


# ---------------------------------------------------------------------------- patient
def _age_years(age: str, birth: str, study_date: str) -> float | None:
    """Age from Patient's Age (``"045Y"``, ``"006M"``...), else from the two dates."""
    text = age.strip().upper()
    if len(text) == 4 and text[:3].isdigit() and text[3] in "DWMY":
        per_year = {"D": 365.25, "W": 52.1775, "M": 12.0, "Y": 1.0}[text[3]]
        return round(int(text[:3]) / per_year, 2)
    try:
        born = datetime.datetime.strptime(birth.strip()[:8], "%Y%m%d")
        seen = datetime.datetime.strptime(study_date.strip()[:8], "%Y%m%d")
    except ValueError:
        return None
    return round((seen - born).days / 365.25, 2)


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _patient(path: Path) -> dict[str, Any]:
    """Patient characteristics of the CT's first file (and its identifiers)."""
    import pydicom

    keys = ["PatientAge", "PatientBirthDate", "StudyDate", "PatientSex", "PatientSize",
            "PatientWeight", "PatientID", "PatientName", "StudyInstanceUID",
            "SeriesInstanceUID"]  # fmt: skip
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=keys)
    text = {k: str(ds.get(k, "") or "").strip() for k in keys}
    sex = text["PatientSex"].upper()
    return {
        "age": _age_years(text["PatientAge"], text["PatientBirthDate"], text["StudyDate"]),
        "sex": sex if sex in ("M", "F", "O") else None,
        "size_m": _number(ds.get("PatientSize")),
        "weight_kg": _number(ds.get("PatientWeight")),
        **text,
    }


# ---------------------------------------------------------------------------- rows
def _f(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _role(ctx: StudyContext, s: Structure) -> str:
    if s in ctx.targets:
        return "target"
    if s.interpreted_type.upper() == "EXTERNAL":
        return "external"
    if s in ctx.bones:
        return "bone"
    return "organ" if s in ctx.organs else "other"


def _structure_rows(ctx: StudyContext) -> list[tuple[Any, ...]]:
    rows = []
    for s in ctx.study.structures:
        if not s.has_volume:
            continue
        role = _role(ctx, s)
        near = ctx.nearest_bone(s) if role in ("target", "organ") else None
        c = np.asarray(s.centroid_mm, dtype=np.float64)
        rows.append((
            s.name, s.interpreted_type, role, _f(s.volume_cc),
            _f(c[0]), _f(c[1]), _f(c[2]), _f(ctx.mean_hu(s)),
            None if near is None else near[0], None if near is None else _f(near[1]),
        ))  # fmt: skip
    return rows


def _ovh_rows(ctx: StudyContext) -> list[tuple[Any, ...]]:
    from rtplan.errors import StructureError
    from rtplan.geometry import ovh

    rows = []
    for target in ctx.targets:
        for organ in ctx.organs:
            try:
                h = ovh(organ, target)
            except StructureError as exc:
                logger.info("OVH %s to %s skipped: %s", organ.name, target.name, exc)
                continue
            for p in PERCENTS:
                d = h.min_distance_mm if p == 0.0 else h.distance_at(p)
                rows.append((organ.name, target.name, p, _f(d)))
    return rows


def _plan_dose(study: Study) -> tuple[Any, float | None, int | None] | None:
    """The whole-plan dose of a study and its prescription, or None."""
    from rtplan.evaluate import dose_for_evaluation

    for dose in study.doses:
        try:
            evaluated = dose_for_evaluation(dose)
        except RtplanError as exc:
            warnings.warn(f"dose not evaluated: {exc}", stacklevel=2)
            continue
        rx = study.prescription_for(dose)
        return evaluated.dose, rx.dose_gy, rx.fractions
    return None


def _dose_rows(ctx: StudyContext, goals: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    from rtplan.evaluate import compute_dvhs, dose_metrics, evaluate_goals

    found = _plan_dose(ctx.study)
    if found is None:
        return {}
    dose, rx, _ = found
    dvhs = compute_dvhs(dose, ctx.study.structures)
    dvh_rows, metric_rows = [], []
    for name, h in dvhs.items():
        if h.is_empty:
            continue
        for p in PERCENTS:
            value = h.max_gy if p == 0.0 else h.min_gy if p == 100.0 else h.D(p)
            dvh_rows.append((name, p, _f(value)))
        for metric, number in dose_metrics(h, rx).items():
            if metric != "structure":
                metric_rows.append((name, metric, _f(number), unit_from_name(metric)))
    goal_rows = []
    usable = [g for g in goals if rx is not None or "%" not in g.split(maxsplit=1)[-1]]
    if usable:
        table = evaluate_goals(usable, dose, ctx.study.structures, rx, dvhs=dvhs, missing="report")
        for r in table:
            goal_rows.append(
                (r.goal.text, r.goal.structure, _f(r.measured), r.goal.display_unit, r.passed)
            )
    return {"dvh": dvh_rows, "dose_metrics": metric_rows, "goals": goal_rows}


def _feature_rows(ctx: StudyContext, features: Mapping[str, FeatureFunction]) -> list[Any]:
    rows = []
    for name, function in features.items():
        try:
            values = function(ctx)
        except Exception as exc:  # a user's feature must not lose the study
            logger.debug("feature %s failed", name, exc_info=True)
            warnings.warn(f"feature {name!r} failed: {type(exc).__name__}: {exc}", stacklevel=2)
            continue
        for column, (value, unit) in values.items():
            rows.append((f"{name}.{column}", _f(value), str(unit)))
    return rows


def _study_row(ctx: StudyContext, patient: Mapping[str, Any], salt: str) -> dict[str, Any]:
    study = ctx.study
    g = study.ct.grid
    sp = g.spacing_ijk_mm
    target = ctx.target
    near = ctx.nearest_bone(target) if target is not None else None
    dose = _plan_dose(study)
    position = study.ct.patient_position
    return {
        "patient_key": salted_key(salt, patient["PatientID"]),
        "study_uid_key": salted_key(salt, patient["StudyInstanceUID"]),
        "patient_age_years": patient["age"],
        "patient_sex": patient["sex"],
        "patient_size_m": patient["size_m"],
        "patient_weight_kg": patient["weight_kg"],
        "patient_position": None if position is None else position.value,
        "ct_columns": g.shape[2],
        "ct_rows": g.shape[1],
        "ct_slices": g.shape[0],
        "ct_spacing_column_mm": float(sp[0]),
        "ct_spacing_row_mm": float(sp[1]),
        "ct_spacing_slice_mm": float(sp[2]),
        "n_structures": len(study.structures),
        "n_plans": len(study.plans),
        "n_doses": len(study.doses),
        "target": None if target is None else target.name,
        "target_site": None if near is None else near[0],
        "prescription_gy": None if dose is None else dose[1],
        "fractions": None if dose is None else dose[2],
    }


def _extract(task: StudyTask, options: ExtractOptions, result: StudyResult) -> None:
    study, first_ct = _load(task, options)
    patient = _patient(first_ct.path)
    ctx = StudyContext(study)
    result.study = _study_row(ctx, patient, options.salt)
    result.rows["structures"] = _structure_rows(ctx)
    result.rows["features"] = _feature_rows(ctx, options.features)
    result.rows["ovh"] = _ovh_rows(ctx)
    result.rows.update(_dose_rows(ctx, options.goals))
    if options.keep_identifiers:
        result.rows["identifiers"] = [
            (patient["PatientID"], patient["PatientName"], patient["StudyInstanceUID"],
             patient["SeriesInstanceUID"])
        ]  # fmt: skip


def process_study(task: StudyTask, options: ExtractOptions) -> StudyResult:
    """Read one study and compute its rows; a study that cannot be read is returned failed.

    Parameters
    ----------
    task : StudyTask
        Its files.
    options : ExtractOptions

    Returns
    -------
    StudyResult
        ``status="failed"`` and ``error`` set when the study cannot be read (the reason
        as rtplan's reader gives it; an unexpected error as ``"internal error: ..."``).
    """
    start = time.perf_counter()
    result = StudyResult(
        study_key=task.study_key,
        fingerprint=task.fingerprint,
        folder=task.folder,
        n_files=len(task.paths),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _extract(task, options, result)
        except RtplanError as exc:
            result.status, result.error = "failed", str(exc)
        except (OSError, MemoryError) as exc:
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug must not stop a library of thousands
            logger.warning("internal error on %s:\n%s", task.folder, traceback.format_exc())
            result.status = "failed"
            result.error = f"internal error: {type(exc).__name__}: {exc}"
    if result.status == "failed":
        result.rows = {}
    result.warnings = list(dict.fromkeys(str(w.message) for w in caught))[:_MAX_WARNINGS]
    result.seconds = time.perf_counter() - start
    return result


def warnings_json(messages: Sequence[str]) -> str:
    """The warnings of a study as stored (a JSON list)."""
    return json.dumps(list(messages))
