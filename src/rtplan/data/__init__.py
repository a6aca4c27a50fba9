"""The bundled sample studies, found by name.

Two synthetic musculoskeletal phantoms ship inside the package (as pydicom ships its
examples), so they are there after ``pip install`` of the wheel as well as in a source
checkout:

``thigh_sarcoma``
    Right thigh, soft-tissue sarcoma abutting the femur: 40 CT slices of 128 x 128 pixels
    and an RT Structure Set with 11 ROIs (Body, Femur, FemurCortex, Muscle, Quadriceps,
    Hamstrings, Adductors, NVBundle, GTV, CTV, PTV).
``spine_metastasis``
    Lumbar spine L2-L4, lytic metastasis in L3: 36 CT slices of 144 x 144 pixels and an RT
    Structure Set with 13 ROIs (Body, Vertebra, SpinalCanal, SpinalCord, kidneys, psoas and
    erector spinae muscles, Muscle, GTV, PTV).

Both are head-first supine, in LPS millimetres, and are written with pydicom directly by the
generator in the repository's ``sample_data/`` folder (its README gives the anatomy, the
tissue CT numbers and the exact ROI volumes). Set the environment variable
``RTPLAN_SAMPLE_DATA`` to a folder holding ``thigh_sarcoma/`` and ``spine_metastasis/`` to
use another copy.

Examples
--------
>>> import rtplan
>>> rtplan.data.names()
('thigh_sarcoma', 'spine_metastasis')
>>> path = rtplan.data.get_path("thigh_sarcoma")
>>> sorted(p.name for p in path.glob("*.dcm"))[:2]
['CT_001.dcm', 'CT_002.dcm']
>>> (path / "RS.dcm").is_file()
True
"""

from __future__ import annotations

import os
from pathlib import Path

from rtplan.errors import RtplanError

__all__ = ["get_path", "names", "sample_data_root"]

_SAMPLES = ("thigh_sarcoma", "spine_metastasis")
_ENV = "RTPLAN_SAMPLE_DATA"


def sample_data_root() -> Path:
    """The folder holding the sample studies.

    The folder named by the environment variable ``RTPLAN_SAMPLE_DATA`` if it is set,
    otherwise the package's own copy (``rtplan/data/``).

    Returns
    -------
    pathlib.Path
        A folder with one sub-folder per sample study.

    Raises
    ------
    RtplanError
        If ``RTPLAN_SAMPLE_DATA`` names a folder that does not exist.

    Examples
    --------
    >>> from rtplan.data import sample_data_root
    >>> (sample_data_root() / "spine_metastasis").is_dir()
    True
    """
    env = os.environ.get(_ENV)
    if env:
        root = Path(env)
        if not root.is_dir():
            raise RtplanError(
                f"{_ENV}={env!r} is not a folder; point it at a folder holding "
                f"{' and '.join(_SAMPLES)}, or unset it to use the copy inside rtplan"
            )
        return root
    return Path(__file__).resolve().parent


def names() -> tuple[str, ...]:
    """Names of the bundled sample studies.

    Returns
    -------
    tuple of str
        ``("thigh_sarcoma", "spine_metastasis")``.
    """
    return _SAMPLES


def get_path(name: str) -> Path:
    """Path of a bundled sample study.

    Parameters
    ----------
    name : str
        ``"thigh_sarcoma"`` or ``"spine_metastasis"``.

    Returns
    -------
    pathlib.Path
        The study folder: one CT file per slice (``CT_001.dcm`` ...) and the RT Structure
        Set ``RS.dcm``; give it to :func:`rtplan.load_study`.

    Raises
    ------
    RtplanError
        If the name is unknown or its folder is missing.

    Examples
    --------
    >>> import rtplan
    >>> study = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    >>> study.ct.grid.shape
    (36, 144, 144)
    >>> "GTV" in study.structures.names
    True
    """
    if name not in _SAMPLES:
        raise RtplanError(f"unknown sample {name!r}; choose one of {', '.join(_SAMPLES)}")
    path = sample_data_root() / name
    if not path.is_dir() or not any(path.glob("*.dcm")):
        raise RtplanError(
            f"sample {name!r} missing at {path}; reinstall rtplan, or in a source checkout "
            "regenerate it with `python sample_data/make_phantoms.py`"
        )
    return path
