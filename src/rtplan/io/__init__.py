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
* the read limit: :func:`read_limits` caps the arrays a reader allocates from a file's
  declared sizes (default: the environment variable ``RTPLAN_MAX_ARRAY_BYTES``, else
  4 GiB), :func:`max_array_bytes` says the limit in force;
* rt-utils interchange: :func:`to_rtutils`, :func:`from_rtutils`;
* de-identification (DICOM PS3.15 Basic Profile): :func:`deidentify` copies a study,
  :class:`Deidentifier` is what the writers take as ``deidentify=``;
* atomic outputs, the one mechanism every writer uses, for files written next to
  rtplan's: :func:`atomic_path`, :func:`atomic_open` (one file, whole or not at all),
  :func:`atomic_folder` (a set of files, all or nothing).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# bound here, not lazily: importing the module rtplan.io.deidentify must not shadow the
# function of the same name (the module is light: pydicom is imported when it runs)
from rtplan.io.deidentify import DeidentificationResult, Deidentifier, deidentify

if TYPE_CHECKING:
    from rtplan._atomic import atomic_folder, atomic_open, atomic_path
    from rtplan.io._membership import PlanMatch, Prescription, plan_file_next_to
    from rtplan.io._reader import max_array_bytes, read_limits
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
    "atomic_folder": "rtplan._atomic",
    "atomic_open": "rtplan._atomic",
    "atomic_path": "rtplan._atomic",
    "DeidentificationResult": "rtplan.io.deidentify",
    "Deidentifier": "rtplan.io.deidentify",
    "MANUFACTURER": "rtplan.io._writer",
    "PlanMatch": "rtplan.io._membership",
    "Prescription": "rtplan.io._membership",
    "SeriesOptions": "rtplan.io._writer",
    "Study": "rtplan.io.study",
    "ct_slice_datasets": "rtplan.io._writer",
    "deidentify": "rtplan.io.deidentify",
    "from_rtutils": "rtplan.io.rtutils",
    "load_study": "rtplan.io.study",
    "max_array_bytes": "rtplan.io._reader",
    "new_dataset": "rtplan.io._writer",
    "plan_file_next_to": "rtplan.io._membership",
    "read_ct": "rtplan.io.ct",
    "read_limits": "rtplan.io._reader",
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
    "DeidentificationResult",
    "Deidentifier",
    "PlanMatch",
    "Prescription",
    "SeriesOptions",
    "Study",
    "atomic_folder",
    "atomic_open",
    "atomic_path",
    "ct_slice_datasets",
    "deidentify",
    "from_rtutils",
    "load_study",
    "max_array_bytes",
    "new_dataset",
    "plan_file_next_to",
    "read_ct",
    "read_limits",
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


__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
