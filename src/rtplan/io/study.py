"""A study: one CT series with the RT objects that belong to it, found in a folder tree.

:func:`load_study` scans the folder once (headers only), groups the files by modality,
series and frame of reference, picks the CT series that the RT Structure Set references,
and attaches the RT Structure Set, RT Plans and RT Doses that share its frame of
reference. It never stacks two series: when the choice is ambiguous it raises
:class:`~rtplan.errors.AmbiguousStudyError` listing the candidates and the keyword that
chooses one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import UID

from rtplan._warn import warn
from rtplan.errors import AmbiguousStudyError, DicomReadError, RtplanError, RtplanWarning
from rtplan.image import Dose, Image
from rtplan.io import _discovery, _membership
from rtplan.io._discovery import DicomHeader, SeriesGroup
from rtplan.io._membership import PlanMatch, Prescription
from rtplan.io.ct import read_ct_series, select_ct_series
from rtplan.plan import Plan
from rtplan.structures import Structure, StructureSet

__all__ = ["Study", "StudySelection", "load_study", "select_study", "summarize_file"]

logger = logging.getLogger(__name__)

_LISTED = 10  # candidates shown in an error message


# ---------------------------------------------------------------------------- Study
@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Study:
    """A CT series and the RT objects that belong to it.

    Parameters
    ----------
    ct : Image
        The CT volume in HU.
    structures : StructureSet
        The RT Structure Set drawn on the CT (empty if the study has none).
    plans : tuple of Plan
        RT Plans sharing the CT's frame of reference.
    doses : tuple of Dose
        RT Doses sharing the CT's frame of reference.
    path : pathlib.Path or None
        The folder read.
    warnings : tuple of str
        The warnings emitted while reading, in order (also emitted as warnings).
    """

    ct: Image
    structures: StructureSet = field(default_factory=StructureSet)
    plans: tuple[Plan, ...] = ()
    doses: tuple[Dose, ...] = ()
    path: Path | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "plans", tuple(self.plans))
        object.__setattr__(self, "doses", tuple(self.doses))
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable description of the study (what ``rtplan info`` prints).

        Returns
        -------
        dict
            ``path``; ``patient`` (ID, name); ``patient_position``; ``ct`` (series UID,
            description, ``size`` in voxels, ``spacing_mm`` and ``extent_mm`` per axis
            column/row/slice, LPS ``bounds_mm`` of the voxel edges, HU range);
            ``structure_set``; ``structures`` (each with number, name, type,
            ``volume_cc``, LPS ``extent_mm``, number of contours); ``plans``; ``doses``;
            ``warnings``.

        Examples
        --------
        >>> import rtplan
        >>> summary = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma")).summary()
        >>> summary["patient_position"], summary["ct"]["size"]
        ('HFS', {'column': 128, 'row': 128, 'slice': 40})
        >>> ptv = summary["structures"][-1]
        >>> ptv["name"], ptv["volume_cc"], ptv["extent_mm"]
        ('PTV', 283.429, [79.6, 74.6, 87.0])
        """
        ss = self.structures
        patient = self.ct.series.patient if self.ct.series is not None else {}
        return {
            "path": None if self.path is None else str(self.path),
            "patient": {
                "id": str(patient.get("PatientID", "")),
                "name": str(patient.get("PatientName", "")),
            },
            "patient_position": _position(self.ct),
            "ct": image_summary(self.ct),
            "structure_set": {
                "label": ss.label,
                "sop_instance_uid": ss.sop_instance_uid,
                "frame_of_reference_uid": ss.frame_of_reference_uid,
                "source": None if ss.source is None else str(ss.source),
            },
            "structures": [structure_summary(s) for s in ss],
            "plans": [plan_summary(p) for p in self.plans],
            "doses": [dose_summary(d) for d in self.doses],
            "warnings": list(self.warnings),
        }

    def plan_for(self, dose: Dose, *, dose_path: str | os.PathLike[str] | None = None) -> PlanMatch:
        """The RT Plan a dose references (its ``plan_uid``), and where it was found.

        Looked for among the study's RT Plans, then, when ``dose_path`` is given, among
        the files next to the RT Dose file.

        Parameters
        ----------
        dose : Dose
            Its ``plan_uid`` is the SOP Instance UID of the RT Plan it references.
        dose_path : str or path-like, optional
            The RT Dose file, when the dose was read from outside the study.

        Returns
        -------
        PlanMatch
            ``(plan, source)``, e.g. ``(Plan(...), "RT Plan out/RP.dcm")``;
            ``(None, "")`` when the plan is not found.

        Raises
        ------
        DicomReadError, PlanError
            As :func:`rtplan.io.read_rtplan`, for a plan file found next to the dose.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> import rtplan
        >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
        >>> beam = rtplan.Beam(energy="6X", gantry_deg=90.0, mu=100.0,
        ...                    isocenter_mm=study.structures["PTV"].centroid_mm)
        >>> plan = rtplan.Plan(beams=[beam], prescription_gy=50.0, fractions=25)
        >>> dose = rtplan.Dose(array=np.zeros(study.ct.grid.shape), grid=study.ct.grid)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     rp = rtplan.io.write_rtplan(plan, Path(tmp, "RP.dcm"), reference=study.ct)
        ...     rd = rtplan.io.write_rtdose(dose, Path(tmp, "RD.dcm"), reference=study.ct,
        ...                                 plan_sop_uid=plan.uid)
        ...     found, source = study.plan_for(rtplan.io.read_rtdose(rd), dose_path=rd)
        ...     (found.prescription_gy, source == f"RT Plan {rp}")
        (50.0, True)
        """
        return _membership.plan_for(self, dose, dose_path=dose_path)

    def prescription_for(
        self,
        dose: Dose,
        *,
        dose_path: str | os.PathLike[str] | None = None,
        plan: Plan | None = None,
    ) -> Prescription:
        """The prescription of the plan a dose belongs to, and where it came from.

        In order: ``plan`` when given (it must hold a prescription); the RT Plan the dose
        references (:meth:`plan_for`), when it holds a prescription; the prescription
        all the study's RT Plans agree on. Plans that disagree give none: a prescription
        is never picked by chance.

        Parameters
        ----------
        dose : Dose
        dose_path : str or path-like, optional
            The RT Dose file, when the dose was read from outside the study.
        plan : Plan, optional
            A plan chosen explicitly (read from a file the user named).

        Returns
        -------
        Prescription
            ``(dose_gy, fractions, source)``; ``(None, None, "")`` when none is found.

        Raises
        ------
        PlanError
            If ``plan`` holds no prescription.

        Examples
        --------
        >>> import numpy as np
        >>> import rtplan
        >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
        >>> dose = rtplan.Dose(array=np.zeros(study.ct.grid.shape), grid=study.ct.grid)
        >>> study.prescription_for(dose)  # the sample study holds no RT Plan
        Prescription(dose_gy=None, fractions=None, source='')
        >>> plan = rtplan.Plan(prescription_gy=50.0, fractions=25, name="thigh")
        >>> study.prescription_for(dose, plan=plan)
        Prescription(dose_gy=50.0, fractions=25, source='RT Plan thigh')
        """
        return _membership.prescription_for(self, dose, dose_path=dose_path, plan=plan)

    def check_dose(self, dose: Dose, *, source: object = None) -> None:
        """Raise unless a dose lies in the CT's frame of reference and meets its grid.

        For a dose read from outside the study (a file the user named).

        Parameters
        ----------
        dose : Dose
        source : object, optional
            How messages name the dose; default the file it was read from.

        Raises
        ------
        DicomReadError
            ``"<source>: the RT Dose is in frame of reference <uid>, not in the CT's of
            <study> (<uid>); it belongs to another study: ..."`` when both frames are
            known and differ; ``"<source>: the dose grid (x ..., y ..., z ... mm) lies
            outside the CT of <study> (...); ..."`` when the grids share no point.

        Examples
        --------
        >>> import numpy as np
        >>> import rtplan
        >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
        >>> far = study.ct.grid.crop((0, 0, 0), (8, 8, 8))
        >>> far = rtplan.Grid(shape=far.shape, spacing_mm=far.spacing_mm,
        ...                   origin_mm=(0.0, 0.0, 5000.0))
        >>> study.check_dose(rtplan.Dose(array=np.zeros(far.shape), grid=far),
        ...                  source="RD.dcm")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rtplan.errors.DicomReadError: RD.dcm: the dose grid (...) lies outside the CT of ...
        """
        _membership.check_dose(self, dose, source=source)

    def check_plan(self, plan: Plan, *, source: object = None) -> None:
        """Raise unless a plan read from elsewhere is in the CT's frame of reference.

        A plan that names no frame of reference passes.

        Parameters
        ----------
        plan : Plan
            Its ``extra["frame_of_reference_uid"]`` (as :func:`rtplan.io.read_rtplan`
            fills it) is compared with the CT's.
        source : object, optional
            How messages name the plan; default the file it was read from.

        Raises
        ------
        DicomReadError
            ``"<source>: the RT Plan is in frame of reference <uid>, not in the CT's of
            <study> (<uid>); it belongs to another study: ..."``.

        Examples
        --------
        >>> import rtplan
        >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
        >>> plan = rtplan.Plan(extra={"frame_of_reference_uid": "1.2.3"})
        >>> study.check_plan(plan, source="RP.dcm")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rtplan.errors.DicomReadError: RP.dcm: the RT Plan is in frame of reference 1.2.3, ...
        """
        _membership.check_plan(self, plan, source=source)

    def __repr__(self) -> str:
        return (
            f"Study(ct={self.ct!r}, structures={len(self.structures)}, plans={len(self.plans)}, "
            f"doses={len(self.doses)}, warnings={len(self.warnings)})"
        )


# ---------------------------------------------------------------------------- summaries
def _r(value: float, digits: int = 3) -> float | None:
    v = float(value)
    return round(v, digits) if math.isfinite(v) else None


def _position(image: Image) -> str | None:
    return None if image.patient_position is None else image.patient_position.value


def _axes(values: Sequence[float] | np.ndarray[Any, Any]) -> dict[str, float | None]:
    """``(i, j, k)`` values as a column/row/slice mapping."""
    return {"column": _r(values[0]), "row": _r(values[1]), "slice": _r(values[2])}


def image_summary(image: Image) -> dict[str, Any]:
    """Grid and value summary of an image (CT or dose), JSON-serialisable.

    Parameters
    ----------
    image : Image

    Returns
    -------
    dict
        ``size`` (voxels), ``spacing_mm`` and ``extent_mm`` (edge to edge) per axis
        (column, row, slice); ``bounds_mm`` (LPS lower and upper corners of the voxel
        edges); ``origin_mm``; ``axis_aligned``; ``units``; ``value_range``.
    """
    g = image.grid
    lower, upper = g.bounds_mm()
    values = np.asarray(image.array)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    info = image.series
    return {
        "series_instance_uid": "" if info is None else info.series_instance_uid,
        "frame_of_reference_uid": "" if info is None else info.frame_of_reference_uid,
        "description": image.name,
        "units": image.units,
        "size": {"column": g.shape[2], "row": g.shape[1], "slice": g.shape[0]},
        "spacing_mm": _axes(g.spacing_ijk_mm),
        "extent_mm": _axes(g.extent_mm),
        "origin_mm": [_r(v) for v in g.origin_mm],
        "bounds_mm": {"lower": [_r(v) for v in lower], "upper": [_r(v) for v in upper]},
        "axis_aligned": g.is_axis_aligned,
        "direction": [[_r(v, 6) for v in row] for row in g.direction.tolist()],
        "value_range": (
            [_r(finite.min(), 2), _r(finite.max(), 2)] if finite.size else [None, None]
        ),
    }


def structure_summary(structure: Structure) -> dict[str, Any]:
    """Summary of one structure: number, name, type, volume (cm³), extent (mm), contours.

    Parameters
    ----------
    structure : Structure

    Returns
    -------
    dict
        ``volume_cc`` is ``None`` for structures enclosing no volume; ``extent_mm`` is the
        LPS bounding-box size ``[x, y, z]`` (``None`` if empty). A structure whose
        measures fail is reported with an ``error`` entry instead.
    """
    out: dict[str, Any] = {
        "number": structure.number,
        "name": structure.name,
        "type": structure.interpreted_type,
        "color": list(structure.color),
        "contours": len(structure.contours),
        "geometric_types": sorted({c.geometric_type.value for c in structure.contours}),
        "volume_cc": None,
        "extent_mm": None,
    }
    try:
        if structure.has_volume:
            out["volume_cc"] = _r(structure.volume_cc)
        if not structure.is_empty:
            out["extent_mm"] = [_r(v, 2) for v in structure.extent_mm]
    except RtplanError as exc:
        out["error"] = str(exc)
    return out


def plan_summary(plan: Plan) -> dict[str, Any]:
    """Summary of a plan: name, beams, prescription, fractions, MU."""
    return {
        "name": plan.name,
        "beams": len(plan.beams),
        "prescription_gy": None if plan.prescription_gy is None else _r(plan.prescription_gy),
        "fractions": plan.fractions,
        "total_mu": _r(plan.total_mu, 2),
        "patient_position": None if plan.patient_position is None else plan.patient_position.value,
    }


def dose_summary(dose: Dose) -> dict[str, Any]:
    """Summary of a dose: grid, maximum (Gy), type, summation, fractions."""
    out = image_summary(dose)
    out.update(
        {
            "max_gy": _r(dose.max_gy, 4),
            "dose_type": str(dose.dose_type),
            "summation": str(dose.summation_type),
            "summation_type": str(dose.summation_type),
            "fractions": dose.fractions,
        }
    )
    return out


# ---------------------------------------------------------------------------- warnings
def _module_of(filename: str) -> str | None:
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == filename:
            return name
    return None


@contextlib.contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """Record the warnings raised in the block, then emit them again on success.

    Yields
    ------
    list of str
        Filled, on exit, with the messages (rtplan warnings as they are, others prefixed
        by their category), without duplicates, in order.
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield messages
        except BaseException:
            for w in caught:
                logger.warning("%s: %s", w.category.__name__, w.message)
            raise
    seen: set[str] = set()
    modules: dict[str, str | None] = {}
    for w in caught:
        text = str(w.message)
        if not issubclass(w.category, RtplanWarning):
            text = f"{w.category.__name__}: {text}"
        if text not in seen:
            seen.add(text)
            messages.append(text)
        if w.filename not in modules:
            modules[w.filename] = _module_of(w.filename)
        warnings.warn_explicit(
            w.message, w.category, w.filename, w.lineno, module=modules[w.filename]
        )


# ---------------------------------------------------------------------------- selection
@dataclass(frozen=True, slots=True)
class StudySelection:
    """The files :func:`load_study` reads: one CT series and the RT objects attached to it.

    Parameters
    ----------
    ct : SeriesGroup
        The CT series.
    structure_set : DicomHeader or None
        The RT Structure Set, if any.
    plans, doses : tuple of DicomHeader
        RT Plans and RT Doses belonging to the CT's frame of reference.
    """

    ct: SeriesGroup
    structure_set: DicomHeader | None
    plans: tuple[DicomHeader, ...] = ()
    doses: tuple[DicomHeader, ...] = ()


def _referenced_series(rs: DicomHeader) -> list[str]:
    """Series UIDs an RT Structure Set references (frame -> study -> series)."""
    out: list[str] = []
    for frame in rs.get("ReferencedFrameOfReferenceSequence") or []:
        for study in frame.get("RTReferencedStudySequence") or []:
            for series in study.get("RTReferencedSeriesSequence") or []:
                uid = str(series.get("SeriesInstanceUID", "")).strip()
                if uid and uid not in out:
                    out.append(uid)
    return out


def _rs_line(rs: DicomHeader) -> str:
    label = rs.text("StructureSetLabel") or rs.text("StructureSetName") or "(no label)"
    n_roi = len(rs.get("StructureSetROISequence") or [])
    date = rs.text("StructureSetDate")
    refs = ", ".join(_referenced_series(rs)) or "none"
    when = f", {date}" if date else ""
    return (
        f"structure_set_uid={rs.sop_instance_uid!r} ({label!r}{when}, {n_roi} ROI(s), "
        f"file {rs.path}, references CT series {refs})"
    )


def _listing(lines: Sequence[str]) -> str:
    shown = "; ".join(lines[:_LISTED])
    return shown + (f"; and {len(lines) - _LISTED} more" if len(lines) > _LISTED else "")


def _series_listing(groups: Sequence[SeriesGroup]) -> str:
    text = _discovery.format_series_table(groups[:_LISTED])
    return text + (f"; and {len(groups) - _LISTED} more" if len(groups) > _LISTED else "")


def _ct_for_structure_set(
    rs: DicomHeader, groups: Sequence[SeriesGroup], where: str
) -> SeriesGroup:
    refs = _referenced_series(rs)
    present = [g for g in groups if g.series_uid in refs]
    if len(present) == 1:
        return present[0]
    if len(present) > 1:
        raise AmbiguousStudyError(
            f"the RT Structure Set {rs.path} references {len(present)} CT series{where}; "
            "choose one with series_uid=...: " + _series_listing(present)
        )
    usable = [g for g in groups if not g.is_localizer] or list(groups)
    same_frame = [g for g in usable if rs.frame_uid and rs.frame_uid in g.frame_uids]
    refs_text = ", ".join(refs) if refs else "no series"
    if len(same_frame) == 1:
        if refs:
            warn(
                f"the RT Structure Set {rs.path} references CT series {refs_text}, which is "
                f"not{where}; using CT series {same_frame[0].series_uid}, which shares its "
                f"frame of reference {rs.frame_uid}"
            )
        return same_frame[0]
    if len(same_frame) > 1:
        raise AmbiguousStudyError(
            f"the RT Structure Set {rs.path} references {refs_text} and {len(same_frame)} CT "
            f"series{where} share its frame of reference; choose one with series_uid=...: "
            + _series_listing(same_frame)
        )
    raise DicomReadError(
        f"the RT Structure Set {rs.path} references CT series {refs_text} (frame of "
        f"reference {rs.frame_uid or 'missing'}), and no CT series{where} matches; CT series "
        "found: " + _series_listing(list(groups))
    )


def _belongs(rs: DicomHeader, group: SeriesGroup) -> bool:
    refs = _referenced_series(rs)
    if refs:
        return group.series_uid in refs
    return bool(rs.frame_uid) and rs.frame_uid in group.frame_uids


def select_study(
    headers: Sequence[DicomHeader],
    *,
    series_uid: str | None = None,
    structure_set_uid: str | None = None,
    source: str = "",
) -> StudySelection:
    """Choose the CT series, RT Structure Set, RT Plans and RT Doses of a study.

    Parameters
    ----------
    headers : sequence of DicomHeader
        The scanned files (:func:`rtplan.io._discovery.scan`).
    series_uid : str, optional
        Series Instance UID of the CT series.
    structure_set_uid : str, optional
        SOP Instance UID of the RT Structure Set (its Series Instance UID is accepted
        when the series holds one structure set).
    source : str
        What was scanned, for messages.

    Returns
    -------
    StudySelection

    Raises
    ------
    AmbiguousStudyError
        If several CT series or several structure sets qualify and none was chosen.
    DicomReadError
        If there is no CT, a chosen UID is not found, or the chosen structure set does
        not belong to the chosen CT series (different frame of reference).
    """
    scan = _Scan.of(headers, source)
    if structure_set_uid is not None:
        rs: DicomHeader | None = _chosen_structure_set(scan, structure_set_uid)
        assert rs is not None
        ct = _ct_of_chosen_structure_set(scan, rs, series_uid)
    elif series_uid is not None:
        ct = select_ct_series(headers, series_uid=series_uid, source=source)
        rs = _structure_set_of_series(scan, ct, series_uid)
    else:
        rs = _only_structure_set(scan)
        ct = (
            select_ct_series(headers, source=source)
            if rs is None
            else _ct_for_structure_set(rs, scan.groups, scan.where)
        )
    _report_left_out(headers, ct)
    return StudySelection(
        ct=ct,
        structure_set=rs,
        plans=_attached_plans(headers, ct, rs),
        doses=_attached_doses(headers, ct),
    )


def _report_left_out(headers: Sequence[DicomHeader], ct: SeriesGroup) -> None:
    """Warn about images that look like part of the chosen CT but are not read with it."""
    chosen = set(ct.paths)
    frames = set(ct.frame_uids)
    odd = [h for h in headers if h.series_uid == ct.series_uid and h.path not in chosen]
    for h in odd:
        warn(
            f"{h.path} has the Series Instance UID of the CT series {ct.series_uid} but "
            f"Modality {h.modality or 'missing'!r}; it was left out of the CT volume"
        )
    others = [
        g
        for g in _discovery.group_series(h for h in headers if h.modality == "CT").values()
        if g.series_uid != ct.series_uid and not g.is_localizer and frames & set(g.frame_uids)
    ]
    for g in others:
        warn(
            f"CT series {g.series_uid} ({len(g)} file(s), e.g. {g.paths[0]}) shares the frame "
            f"of reference of the CT series {ct.series_uid} that was read; it was not used "
            "(choose it with series_uid=...)"
        )


@dataclass(frozen=True, slots=True)
class _Scan:
    """The scanned headers, as the selection steps look at them."""

    headers: Sequence[DicomHeader]
    groups: list[SeriesGroup]  # the CT series
    structure_sets: list[DicomHeader]
    source: str
    where: str  # " in <source>", for messages

    @classmethod
    def of(cls, headers: Sequence[DicomHeader], source: str) -> _Scan:
        ct_headers = [h for h in headers if h.modality == "CT"]
        if not ct_headers:
            select_ct_series(headers, source=source)  # raises the "no CT" error
        return cls(
            headers=headers,
            groups=list(_discovery.group_series(ct_headers).values()),
            structure_sets=[h for h in headers if h.modality == "RTSTRUCT"],
            source=source,
            where=f" in {source}" if source else "",
        )


def _chosen_structure_set(scan: _Scan, structure_set_uid: str) -> DicomHeader:
    """The structure set chosen by its SOP Instance UID (or the UID of its series)."""
    matches = [
        h for h in scan.structure_sets if structure_set_uid in (h.sop_instance_uid, h.series_uid)
    ]
    if not matches:
        found = _listing([_rs_line(h) for h in scan.structure_sets]) or "none"
        raise DicomReadError(
            f"no RT Structure Set with structure_set_uid={structure_set_uid!r}{scan.where}; "
            f"structure sets found: {found}"
        )
    if len(matches) > 1:
        raise AmbiguousStudyError(
            f"{len(matches)} RT Structure Sets in series {structure_set_uid}{scan.where}; "
            "choose one by its SOP Instance UID with structure_set_uid=...: "
            + _listing([_rs_line(h) for h in matches])
        )
    return matches[0]


def _ct_of_chosen_structure_set(
    scan: _Scan, rs: DicomHeader, series_uid: str | None
) -> SeriesGroup:
    """The CT series of a chosen structure set: the one chosen too, or the one it references.

    Raises
    ------
    DicomReadError
        If the chosen CT series is in another frame of reference than the structure set.
    """
    if series_uid is None:
        return _ct_for_structure_set(rs, scan.groups, scan.where)
    ct = select_ct_series(scan.headers, series_uid=series_uid, source=scan.source)
    if _belongs(rs, ct):
        return ct
    if rs.frame_uid and rs.frame_uid in ct.frame_uids:
        warn(
            f"the RT Structure Set {rs.path} references CT series "
            f"{', '.join(_referenced_series(rs))}, not the chosen {series_uid}; "
            "both share a frame of reference, so the contours are used as drawn"
        )
        return ct
    raise DicomReadError(
        f"the RT Structure Set {rs.path} (frame of reference "
        f"{rs.frame_uid or 'missing'}) does not belong to CT series "
        f"{series_uid} (frame of reference {', '.join(ct.frame_uids)}); "
        "choose matching series_uid and structure_set_uid"
    )


def _structure_set_of_series(scan: _Scan, ct: SeriesGroup, series_uid: str) -> DicomHeader | None:
    """The one structure set drawn on a chosen CT series, or None."""
    mine = [h for h in scan.structure_sets if _belongs(h, ct)]
    if len(mine) > 1:
        raise AmbiguousStudyError(
            f"{len(mine)} RT Structure Sets belong to CT series {series_uid}{scan.where}; "
            "choose one with structure_set_uid=...: " + _listing([_rs_line(h) for h in mine])
        )
    return mine[0] if mine else None


def _only_structure_set(scan: _Scan) -> DicomHeader | None:
    """The one structure set that belongs to a CT series of the scan, or None.

    Structure sets that belong to no CT series are reported and ignored.
    """
    usable = [
        h
        for h in scan.structure_sets
        if any(_belongs(h, g) for g in scan.groups)
        or (h.frame_uid and any(h.frame_uid in g.frame_uids for g in scan.groups))
    ]
    for h in scan.structure_sets:
        if h not in usable:
            warn(
                f"ignoring the RT Structure Set {h.path}: it references CT series "
                f"{', '.join(_referenced_series(h)) or 'none'} and frame of reference "
                f"{h.frame_uid or 'none'}, which no CT series{scan.where} has"
            )
    if len(usable) > 1:
        raise AmbiguousStudyError(
            f"{len(usable)} RT Structure Sets found{scan.where}; choose one with "
            "structure_set_uid=... (command line: --structure-set-uid): "
            + _listing([_rs_line(h) for h in usable])
        )
    return usable[0] if usable else None


def _attached_plans(
    headers: Sequence[DicomHeader], ct: SeriesGroup, rs: DicomHeader | None
) -> tuple[DicomHeader, ...]:
    """RT Plans in the CT's frame, on its structure set, or (naming neither) in its study."""
    frames = set(ct.frame_uids)
    study_uids = {h.study_uid for h in ct.headers}
    plans: list[DicomHeader] = []
    for h in (h for h in headers if h.modality == "RTPLAN"):
        refs_rs = [
            str(item.get("ReferencedSOPInstanceUID", ""))
            for item in h.get("ReferencedStructureSetSequence") or []
        ]
        if h.frame_uid in frames or (rs is not None and rs.sop_instance_uid in refs_rs):
            plans.append(h)
        elif not h.frame_uid and not refs_rs and h.study_uid in study_uids:
            logger.info("attaching RT Plan %s by its Study Instance UID", h.path)
            plans.append(h)
        else:
            warn(
                f"not attaching the RT Plan {h.path}: its frame of reference "
                f"{h.frame_uid or 'none'} is not the CT's ({', '.join(sorted(frames))})"
            )
    return tuple(plans)


def _attached_doses(headers: Sequence[DicomHeader], ct: SeriesGroup) -> tuple[DicomHeader, ...]:
    """RT Doses in the CT's frame of reference (the others are reported)."""
    frames = set(ct.frame_uids)
    doses: list[DicomHeader] = []
    for h in (h for h in headers if h.modality == "RTDOSE"):
        if h.frame_uid in frames:
            doses.append(h)
        else:
            warn(
                f"not attaching the RT Dose {h.path}: its frame of reference "
                f"{h.frame_uid or 'none'} is not the CT's ({', '.join(sorted(frames))})"
            )
    return tuple(doses)


# ---------------------------------------------------------------------------- loading
def load_study(
    folder: str | Path,
    *,
    series_uid: str | None = None,
    structure_set_uid: str | None = None,
    allow_resample: bool = False,
) -> Study:
    """Load the CT series of a folder tree and the RT objects that belong to it.

    The folder is scanned once (headers only). The CT series is the one the RT Structure
    Set references (ReferencedFrameOfReferenceSequence > RTReferencedStudySequence >
    RTReferencedSeriesSequence); RT Plans and RT Doses sharing the CT's frame of
    reference are attached. A study without RT Structure Set gets an empty
    :class:`~rtplan.StructureSet` and a warning. An RT Plan or RT Dose that cannot be read
    is skipped with a warning; errors in the CT or the structure set are raised. A dose
    that references one of the plans takes its number of fractions from it.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder searched recursively.
    series_uid : str, optional
        Series Instance UID of the CT series, when several qualify.
    structure_set_uid : str, optional
        SOP Instance UID of the RT Structure Set, when several qualify.
    allow_resample : bool
        Passed to the CT reader: resample uneven slice spacing instead of raising.

    Returns
    -------
    Study
        Its ``warnings`` hold every warning emitted while reading (they are also
        emitted).

    Raises
    ------
    AmbiguousStudyError
        If several CT series or structure sets qualify; the message lists them and the
        keyword to choose.
    DicomReadError, SeriesGeometryError, MissingDependencyError
        If the folder has no CT, or the CT or structure set cannot be read.

    Examples
    --------
    >>> import rtplan
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> study  # doctest: +ELLIPSIS
    Study(ct=Image(...), structures=11, plans=0, doses=0, warnings=0)
    >>> study.structures.names[-3:]
    ['GTV', 'CTV', 'PTV']
    """
    import rtplan.io as rio

    root = Path(folder)
    if not root.is_dir():
        what = "a file" if root.is_file() else "missing"
        raise DicomReadError(
            f"load_study needs a folder, {root} is {what}; read single objects with "
            "rtplan.io.read_ct / read_rtstruct / read_rtdose / read_rtplan"
        )
    with collect_warnings() as messages:
        headers = _discovery.scan(root)
        sel = select_study(
            headers, series_uid=series_uid, structure_set_uid=structure_set_uid, source=str(root)
        )
        ct = read_ct_series(sel.ct, allow_resample=allow_resample)
        if sel.structure_set is None:
            warn(
                f"no RT Structure Set for CT series {sel.ct.series_uid} in {root}; the study "
                "has no structures"
            )
            structures = StructureSet(frame_of_reference_uid=_frame(ct))
        else:
            structures = rio.read_rtstruct(sel.structure_set.path, reference=ct)
        plans = []
        for h in sel.plans:
            try:
                plans.append(rio.read_rtplan(h.path))
            except RtplanError as exc:
                warn(f"skipping the RT Plan {h.path}: {exc}")
        by_uid = {p.uid: p for p in plans}
        doses = []
        for h in sel.doses:
            try:
                doses.append(rio.read_rtdose(h.path, plan=by_uid.get(_referenced_plan(h))))
            except RtplanError as exc:
                warn(f"skipping the RT Dose {h.path}: {exc}")
    return Study(
        ct=ct,
        structures=structures,
        plans=tuple(plans),
        doses=tuple(doses),
        path=root,
        warnings=tuple(messages),
    )


def _referenced_plan(h: DicomHeader) -> str:
    """The SOP Instance UID of the RT Plan an RT Dose header references first, or ""."""
    for item in h.get("ReferencedRTPlanSequence") or []:
        uid = str(item.get("ReferencedSOPInstanceUID", "") or "").strip()
        if uid:
            return uid
    return ""


def _frame(image: Image) -> str:
    return "" if image.series is None else image.series.frame_of_reference_uid


def summarize_file(path: str | Path) -> dict[str, Any]:
    """Describe one DICOM file: its identity and, for CT and RT objects, their content.

    Parameters
    ----------
    path : str or pathlib.Path
        A DICOM file.

    Returns
    -------
    dict
        JSON-serialisable: ``path``, ``modality``, ``sop_class``, UIDs, ``patient``, and
        by modality ``ct`` (an image summary of the slice), ``structures``, ``plan``
        or ``dose``; ``warnings``.

    Raises
    ------
    DicomReadError
        If the file does not exist or is not DICOM.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.io.study import summarize_file
    >>> info = summarize_file(rtplan.data.get_path("thigh_sarcoma") / "RS.dcm")
    >>> info["modality"], info["sop_class"], len(info["structures"])
    ('RTSTRUCT', 'RT Structure Set Storage', 11)
    """
    import rtplan.io as rio

    p = Path(path)
    if not p.is_file():
        raise DicomReadError(f"no such file: {p}")
    with collect_warnings() as messages:
        header = _discovery.read_header(p)
        if header is None:
            raise DicomReadError(f"{p} is not a DICOM file (or cannot be read as one)")
        sop_class = header.sop_class_uid
        out: dict[str, Any] = {
            "path": str(p),
            "modality": header.modality,
            "sop_class": UID(sop_class).name if sop_class else "",
            "sop_instance_uid": header.sop_instance_uid,
            "series_instance_uid": header.series_uid,
            "study_instance_uid": header.study_uid,
            "frame_of_reference_uid": header.frame_uid,
            "patient": {"id": header.text("PatientID"), "name": header.text("PatientName")},
        }
        if header.modality == "CT":
            group = SeriesGroup(series_uid=header.series_uid, modality="CT", headers=(header,))
            image = read_ct_series(group)
            out["patient_position"] = _position(image)
            out["ct"] = image_summary(image)
        elif header.modality == "RTSTRUCT":
            ss = rio.read_rtstruct(p)
            out["structure_set"] = {
                "label": ss.label,
                "referenced_series": ss.referenced_series_uid,
            }
            out["structures"] = [structure_summary(s) for s in ss]
        elif header.modality == "RTPLAN":
            out["plan"] = plan_summary(rio.read_rtplan(p))
        elif header.modality == "RTDOSE":
            out["dose"] = dose_summary(rio.read_rtdose(p))
    out["warnings"] = list(messages)
    return out
