"""What belongs to a study: the plan of a dose, its prescription, frame and space checks.

Which RT Plan an RT Dose was computed for, its prescription, and whether a dose or plan
read from elsewhere lies in the study's frame of reference and space.

These answer the questions behind :meth:`rtplan.io.Study.plan_for`,
:meth:`~rtplan.io.Study.prescription_for`, :meth:`~rtplan.io.Study.check_dose` and
:meth:`~rtplan.io.Study.check_plan`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from rtplan.errors import DicomReadError, PlanError

if TYPE_CHECKING:
    from rtplan.image import Dose, Image
    from rtplan.plan import Plan

__all__ = [
    "PlanMatch",
    "Prescription",
    "check_dose",
    "check_plan",
    "plan_file_next_to",
    "plan_for",
    "prescription_for",
]

logger = logging.getLogger(__name__)


class _StudyParts(Protocol):
    """What these questions read of a :class:`rtplan.io.Study` (the study module calls them)."""

    @property
    def path(self) -> Path | None: ...

    @property
    def ct(self) -> Image: ...

    @property
    def plans(self) -> Sequence[Plan]: ...


class PlanMatch(NamedTuple):
    """The RT Plan a dose references and where it was found.

    Parameters
    ----------
    plan : Plan or None
        None when the plan was not found.
    source : str
        ``"RT Plan <file>"``, or ``""`` when not found.
    """

    plan: Plan | None
    source: str


class Prescription(NamedTuple):
    """A prescription and where it came from.

    Parameters
    ----------
    dose_gy : float or None
        Prescribed dose, Gy; None when no prescription was found.
    fractions : int or None
        Number of fractions, when known.
    source : str
        Where it came from: ``"RT Plan <file>"``, ``"the study's RT Plan"``, or ``""``.
    """

    dose_gy: float | None
    fractions: int | None
    source: str


# ---------------------------------------------------------------------------- the plan
def plan_file_next_to(dose_path: str | os.PathLike[str], plan_uid: str) -> Path | None:
    """The RT Plan file in an RT Dose file's folder whose SOP Instance UID is ``plan_uid``.

    Parameters
    ----------
    dose_path : str or path-like
        The RT Dose file; the other files of its folder are looked at (headers only).
    plan_uid : str
        SOP Instance UID of the RT Plan.

    Returns
    -------
    pathlib.Path or None
        The first such file in name order; None when there is none. Files that are not
        DICOM are passed over.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> plan = rtplan.Plan(beams=[rtplan.Beam(mu=100.0)], patient_position="HFS")
    >>> dose = rtplan.Dose(array=np.zeros(ct.grid.shape), grid=ct.grid)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     rp = rtplan.io.write_rtplan(plan, Path(tmp, "RP.dcm"), reference=ct)
    ...     rd = rtplan.io.write_rtdose(dose, Path(tmp, "RD.dcm"), reference=ct,
    ...                                 plan_sop_uid=plan.uid)
    ...     rtplan.io.plan_file_next_to(rd, plan.uid) == rp
    True
    """
    import pydicom

    dose_file = Path(dose_path).resolve()
    for path in sorted(dose_file.parent.iterdir()):
        if not path.is_file() or path.resolve() == dose_file:
            continue
        try:
            ds = pydicom.dcmread(
                path, stop_before_pixels=True, specific_tags=["Modality", "SOPInstanceUID"]
            )
        except (OSError, pydicom.errors.InvalidDicomError):
            continue
        if ds.get("Modality") == "RTPLAN" and str(ds.get("SOPInstanceUID", "")) == plan_uid:
            return path
    return None


def plan_for(
    study: _StudyParts, dose: Dose, *, dose_path: str | os.PathLike[str] | None = None
) -> PlanMatch:
    """The RT Plan a dose references and where it was found: see :meth:`Study.plan_for`."""
    from rtplan.io.rtplan import read_rtplan

    uid = str(getattr(dose, "plan_uid", "") or "")
    if not uid:
        return PlanMatch(None, "")
    for plan in study.plans:
        if plan.extra.get("sop_instance_uid") == uid:
            return PlanMatch(plan, f"RT Plan {plan.extra.get('source', '')}")
    if dose_path is not None:
        found = plan_file_next_to(dose_path, uid)
        if found is not None:
            return PlanMatch(read_rtplan(found), f"RT Plan {found}")
    return PlanMatch(None, "")


def prescription_for(
    study: _StudyParts,
    dose: Dose,
    *,
    dose_path: str | os.PathLike[str] | None = None,
    plan: Plan | None = None,
) -> Prescription:
    """The prescription of a dose's plan and its source: see :meth:`Study.prescription_for`."""
    if plan is not None:
        where = f"RT Plan {plan.extra.get('source') or plan.name or plan.uid}"
        if plan.prescription_gy is None:
            raise PlanError(
                f"{where} holds no prescription (TargetPrescriptionDose); give the "
                "prescription dose explicitly (command line: --prescription-gy)"
            )
        return Prescription(float(plan.prescription_gy), plan.fractions, where)
    found, src = plan_for(study, dose, dose_path=dose_path)
    if found is not None and found.prescription_gy:
        return Prescription(float(found.prescription_gy), found.fractions, src)
    with_rx = [p for p in study.plans if p.prescription_gy]
    if len({float(p.prescription_gy or 0.0) for p in with_rx}) == 1:
        fxs = {p.fractions for p in with_rx}
        fx = fxs.pop() if len(fxs) == 1 else None
        return Prescription(float(with_rx[0].prescription_gy or 0.0), fx, "the study's RT Plan")
    return Prescription(None, None, "")


# ---------------------------------------------------------------------------- checks
def _frame_of(image: Image) -> str:
    return "" if image.series is None else str(image.series.frame_of_reference_uid)


def _check_frame(study: _StudyParts, frame: str, source: object, what: str) -> None:
    ct_frame = _frame_of(study.ct)
    if frame and ct_frame and frame != ct_frame:
        raise DicomReadError(
            f"{source}: the {what} is in frame of reference {frame}, not in the CT's of "
            f"{study.path} ({ct_frame}); it belongs to another study: give the {what} made "
            "on this CT"
        )


def _source_of(dose: Dose) -> object:
    files = dose.series.files if dose.series is not None else ()
    return files[0] if files else (dose.name or "the dose")


def check_dose(study: _StudyParts, dose: Dose, *, source: object = None) -> None:
    """Raise unless a dose fits the study's CT: see :meth:`Study.check_dose`."""
    where = _source_of(dose) if source is None else source
    _check_frame(study, _frame_of(dose), where, "RT Dose")
    if not dose.grid.overlaps(study.ct.grid):
        raise DicomReadError(
            f"{where}: the dose grid ({dose.grid.format_bounds()}) lies outside the CT of "
            f"{study.path} ({study.ct.grid.format_bounds()}); give the RT Dose computed on "
            "this CT"
        )


def check_plan(study: _StudyParts, plan: Plan, *, source: object = None) -> None:
    """Raise unless a plan is in the study's frame: see :meth:`Study.check_plan`."""
    where = (plan.extra.get("source") or plan.name or plan.uid) if source is None else source
    _check_frame(study, str(plan.extra.get("frame_of_reference_uid", "")), where, "RT Plan")
