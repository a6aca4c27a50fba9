"""rtplan: radiotherapy and image-guided procedure planning near bone and muscle.

The curated public API. Every name is loaded on first use: ``import rtplan`` imports
nothing else (not even numpy), so ``rtplan --help`` and scripts that only need a part of
the package start at once; ``rtplan.Grid`` imports the grid module, ``rtplan.dvh`` the
evaluation layer, and so on.

>>> import rtplan
>>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rtplan._version import __version__

# name -> module that defines it, loaded lazily (keeps `import rtplan` light)
_LAZY: dict[str, str] = {
    "Beam": "rtplan.plan",
    "Contour": "rtplan.structures",
    "ContourType": "rtplan.structures",
    "Dose": "rtplan.image",
    "DoseMedium": "rtplan.image",
    "Grid": "rtplan.grid",
    "Image": "rtplan.image",
    "IndexBox": "rtplan.grid",
    "Mlc": "rtplan.plan",
    "PatientPosition": "rtplan.image",
    "Plan": "rtplan.plan",
    "RtplanError": "rtplan.errors",
    "RtplanWarning": "rtplan.errors",
    "Structure": "rtplan.structures",
    "StructureSet": "rtplan.structures",
    "Study": "rtplan.io.study",
    "load_study": "rtplan.io.study",
    "compute_dose": "rtplan.dose",
    "dvh": "rtplan.evaluate",
    "gamma": "rtplan.evaluate",
    "ovh": "rtplan.geometry",
    "plan_trajectory": "rtplan.guidance",
    "render_overlay": "rtplan.guidance",
}
_SUBMODULES = (
    "data",
    "dose",
    "enum",
    "errors",
    "evaluate",
    "geometry",
    "guidance",
    "io",
    "planning",
    "plugins",
    "report",
    "testing",
    "tissue",
    # the modules of the value types, attributes of the package before it was made lazy
    "grid",
    "image",
    "plan",
    "structures",
)

if TYPE_CHECKING:
    from rtplan import (
        data,
        dose,
        enum,
        errors,
        evaluate,
        geometry,
        guidance,
        io,
        planning,
        plugins,
        report,
        testing,
    )
    from rtplan import tissue as tissue
    from rtplan.errors import RtplanError, RtplanWarning
    from rtplan.grid import Grid, IndexBox
    from rtplan.image import Dose, DoseMedium, Image, PatientPosition
    from rtplan.plan import Beam, Mlc, Plan
    from rtplan.structures import Contour, ContourType, Structure, StructureSet

__all__ = [
    "Beam",
    "Contour",
    "ContourType",
    "Dose",
    "DoseMedium",
    "Grid",
    "Image",
    "IndexBox",
    "Mlc",
    "PatientPosition",
    "Plan",
    "RtplanError",
    "RtplanWarning",
    "Structure",
    "StructureSet",
    "Study",
    "__version__",
    "compute_dose",
    "data",
    "dose",
    "dvh",
    "enum",
    "errors",
    "evaluate",
    "gamma",
    "geometry",
    "guidance",
    "io",
    "load_study",
    "ovh",
    "plan_trajectory",
    "planning",
    "plugins",
    "render_overlay",
    "report",
    "testing",
    "tissue",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"rtplan.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'rtplan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
