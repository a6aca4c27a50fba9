"""Reading and writing DICOM: CT series, RT Structure Set, RT Dose, RT Plan, captures.

Reading is tolerant (problems are reported as :class:`rtplan.RtplanWarning`), writing is
strict (what is written validates with dciodvfy and reads back in pydicom and rt-utils).

* one reader and one writer per object: :func:`read_ct`, :func:`read_rtstruct` /
  :func:`write_rtstruct`, :func:`read_rtdose` / :func:`write_rtdose`,
  :func:`read_rtplan` / :func:`write_rtplan`, :func:`write_secondary_capture`;
* a study (:func:`load_study`, :class:`Study`): the CT series of a folder and the RT
  objects that belong to it, and the questions about them (which plan a dose belongs
  to, its prescription: :meth:`Study.plan_for`, :meth:`Study.prescription_for`);
* the writer shell every writer is built on, for integrators who write their own
  objects into the same study: :func:`new_dataset`, :func:`save_dataset`,
  :func:`stamp_dataset`, :func:`ct_slice_datasets`, :func:`series_laterality`,
  :func:`set_laterality`;
* rt-utils interchange: :func:`to_rtutils`, :func:`from_rtutils`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtplan.io._membership import PlanMatch, Prescription, plan_file_next_to
    from rtplan.io._writer import (
        MANUFACTURER,
        SeriesOptions,
        ct_slice_datasets,
        new_dataset,
        save_dataset,
        series_laterality,
        set_laterality,
        stamp_dataset,
    )
    from rtplan.io.capture import write_secondary_capture
    from rtplan.io.ct import read_ct
    from rtplan.io.rtdose import read_rtdose, write_rtdose
    from rtplan.io.rtplan import read_rtplan, write_rtplan
    from rtplan.io.rtstruct import read_rtstruct, write_rtstruct
    from rtplan.io.rtutils import from_rtutils, to_rtutils
    from rtplan.io.study import Study, load_study

_LAZY: dict[str, str] = {
    "MANUFACTURER": "rtplan.io._writer",
    "PlanMatch": "rtplan.io._membership",
    "Prescription": "rtplan.io._membership",
    "SeriesOptions": "rtplan.io._writer",
    "Study": "rtplan.io.study",
    "ct_slice_datasets": "rtplan.io._writer",
    "from_rtutils": "rtplan.io.rtutils",
    "load_study": "rtplan.io.study",
    "new_dataset": "rtplan.io._writer",
    "plan_file_next_to": "rtplan.io._membership",
    "read_ct": "rtplan.io.ct",
    "read_rtdose": "rtplan.io.rtdose",
    "read_rtplan": "rtplan.io.rtplan",
    "read_rtstruct": "rtplan.io.rtstruct",
    "save_dataset": "rtplan.io._writer",
    "series_laterality": "rtplan.io._writer",
    "set_laterality": "rtplan.io._writer",
    "stamp_dataset": "rtplan.io._writer",
    "to_rtutils": "rtplan.io.rtutils",
    "write_rtdose": "rtplan.io.rtdose",
    "write_rtplan": "rtplan.io.rtplan",
    "write_rtstruct": "rtplan.io.rtstruct",
    "write_secondary_capture": "rtplan.io.capture",
}

__all__ = [
    "MANUFACTURER",
    "PlanMatch",
    "Prescription",
    "SeriesOptions",
    "Study",
    "ct_slice_datasets",
    "from_rtutils",
    "load_study",
    "new_dataset",
    "plan_file_next_to",
    "read_ct",
    "read_rtdose",
    "read_rtplan",
    "read_rtstruct",
    "save_dataset",
    "series_laterality",
    "set_laterality",
    "stamp_dataset",
    "to_rtutils",
    "write_rtdose",
    "write_rtplan",
    "write_rtstruct",
    "write_secondary_capture",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rtplan.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
