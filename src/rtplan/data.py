"""Access to the bundled sample studies by name.

The sample phantoms live in the repository's ``sample_data/`` folder (see its README). Set
the environment variable ``RTPLAN_SAMPLE_DATA`` to use another copy.
"""

from __future__ import annotations

import os
from pathlib import Path

from rtplan.errors import RtplanError

__all__ = ["get_path", "names", "sample_data_root"]

_SAMPLES = ("thigh_sarcoma", "spine_metastasis")


def sample_data_root() -> Path:
    """The folder holding the sample studies.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    RtplanError
        If no sample data folder can be found.
    """
    env = os.environ.get("RTPLAN_SAMPLE_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "sample_data")  # source checkout
    candidates.append(Path(__file__).resolve().parent / "sample_data")  # bundled copy
    for c in candidates:
        if c.is_dir():
            return c
    raise RtplanError(
        "rtplan sample data not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); set RTPLAN_SAMPLE_DATA to the repository's sample_data folder"
    )


def names() -> tuple[str, ...]:
    """Names of the bundled sample studies."""
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
        The study folder (CT slices and RT Structure Set).

    Raises
    ------
    RtplanError
        If the name is unknown or its folder is missing.
    """
    if name not in _SAMPLES:
        raise RtplanError(f"unknown sample {name!r}; choose one of {', '.join(_SAMPLES)}")
    path = sample_data_root() / name
    if not path.is_dir():
        raise RtplanError(
            f"sample {name!r} missing at {path}; regenerate it with "
            "`python sample_data/make_phantoms.py`"
        )
    return path
