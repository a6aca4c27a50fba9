"""Reading and writing DICOM: CT series, RT Structure Set, RT Dose, RT Plan, captures.

Reading is tolerant (problems are reported as :class:`rtplan.RtplanWarning`), writing is
strict (what is written validates with dciodvfy and reads back in pydicom and rt-utils).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "Study": "rtplan.io.study",
    "load_study": "rtplan.io.study",
    "read_ct": "rtplan.io.ct",
    "read_rtstruct": "rtplan.io.rtstruct",
    "write_rtstruct": "rtplan.io.rtstruct",
    "read_rtdose": "rtplan.io.rtdose",
    "write_rtdose": "rtplan.io.rtdose",
    "read_rtplan": "rtplan.io.rtplan",
    "write_rtplan": "rtplan.io.rtplan",
    "write_secondary_capture": "rtplan.io.capture",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rtplan.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
