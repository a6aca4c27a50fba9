"""Geant4 data sets: find real ones, or prepare the data-less mode.

Geant4 reads cross-section tables (G4EMLOW and others) from the folders named by
``GEANT4_DATA_DIR`` and the ``G4*DATA`` variables. geant4_pybind asks interactively to
download them when none is configured, which fails in a batch job or without network. The
data-less mode points every variable at an empty folder (with an empty
``ENSDFSTATE.dat``), so Geant4 starts; the worker then removes the processes that would
read the missing tables (:mod:`rtplan_geant4._worker`).

The variables must be set before ``geant4_pybind`` is imported, so the simulation always
runs in a child process whose environment is built here.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DATASET_VARIABLES", "DataMode", "find_data_sets", "worker_environment"]

#: Environment variable of each Geant4 11.4 data set.
DATASET_VARIABLES = (
    "G4NEUTRONHPDATA",
    "G4LEDATA",
    "G4LEVELGAMMADATA",
    "G4RADIOACTIVEDATA",
    "G4PARTICLEXSDATA",
    "G4PIIDATA",
    "G4REALSURFACEDATA",
    "G4SAIDXSDATA",
    "G4ABLADATA",
    "G4INCLDATA",
    "G4ENSDFSTATEDATA",
    "G4CHANNELINGDATA",
    "G4NUDEXLIBDATA",
    "G4URRPTDATA",
)


class DataMode(enum.StrEnum):
    """Which physics the simulation runs with.

    ``AUTO`` uses the full data sets when they are found (:func:`find_data_sets`) and the
    data-less physics otherwise; ``FULL`` requires them; ``DATALESS`` never reads them.
    """

    AUTO = "auto"
    FULL = "full"
    DATALESS = "dataless"


def _has_content(path: Path) -> bool:
    try:
        return path.is_dir() and any(path.iterdir())
    except OSError:
        return False


def find_data_sets(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder holding the electromagnetic data set G4EMLOW, if there is one.

    Looks at ``G4LEDATA``, then ``GEANT4_DATA_DIR/G4EMLOW*``, then the folder where
    geant4_pybind stores the data sets it downloads (``~/.geant4_pybind``).

    Parameters
    ----------
    environ : mapping, optional
        Environment to read (``os.environ`` by default).

    Returns
    -------
    pathlib.Path or None
        The G4EMLOW folder, or None when no non-empty one exists.
    """
    env = os.environ if environ is None else environ
    if "G4LEDATA" in env and _has_content(Path(env["G4LEDATA"])):
        return Path(env["G4LEDATA"])
    roots = []
    if "GEANT4_DATA_DIR" in env:
        roots.append(Path(env["GEANT4_DATA_DIR"]))
    roots.append(Path.home() / ".geant4_pybind")
    for root in roots:
        if root.is_dir():
            for candidate in sorted(root.glob("G4EMLOW*")):
                if _has_content(candidate):
                    return candidate
    return None


def _empty_data_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(base) / "rtplan-geant4" / "no-data"
    for var in DATASET_VARIABLES:
        (root / var).mkdir(parents=True, exist_ok=True)
    (root / "G4ENSDFSTATEDATA" / "ENSDFSTATE.dat").touch()
    return root


def worker_environment(mode: DataMode | str = DataMode.AUTO) -> tuple[dict[str, str], bool]:
    """The environment of a simulation process and whether it runs data-less.

    Parameters
    ----------
    mode : DataMode or str
        ``"auto"``, ``"full"`` or ``"dataless"``.

    Returns
    -------
    env : dict
        A copy of ``os.environ`` with the Geant4 data variables set as needed.
    dataless : bool
        True when the data-less physics must be used.

    Raises
    ------
    FileNotFoundError
        If ``mode`` is ``"full"`` and no data sets are found.
    """
    mode = DataMode(mode)
    env = dict(os.environ)
    found = find_data_sets(env)
    if mode is DataMode.FULL and found is None:
        raise FileNotFoundError(
            "Geant4 data sets were asked for (data_mode='full') but none were found: set "
            "GEANT4_DATA_DIR to the folder holding G4EMLOW8.8 and the other data sets, or "
            "use data_mode='dataless'"
        )
    if found is not None and mode is not DataMode.DATALESS:
        return env, False
    root = _empty_data_root()
    env["GEANT4_DATA_DIR"] = str(root)
    for var in DATASET_VARIABLES:
        env[var] = str(root / var)
    return env, True
