"""The dose-engine protocol and the registry of engines (built in and plugins).

An engine computes, for one beam, the dose to medium on the dose grid of a
:class:`~rtplan.dose.DoseSetup`, *per unit energy fluence* of the open field at the
isocentre plane (MeV/g per MeV/cm²). :func:`rtplan.compute_dose` turns that into Gy with
the machine's calibration of that engine (1 MU gives 1 cGy at d_max of a 10 x 10 cm² field
at SSD 100 cm in water), so an engine never deals with MU. An engine that is not
calibrated in the machine files is calibrated on first use on that reference field.

Plugins register engine classes (or factories) under the entry-point group
``rtplan.dose_engines``; they are imported only when asked for by name, and a plugin that
fails to import is reported with a :class:`rtplan.plugins.PluginWarning` and skipped::

    [project.entry-points."rtplan.dose_engines"]
    my-engine = "my_package.engine:MyEngine"
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from rtplan.errors import DoseEngineError

if TYPE_CHECKING:
    from rtplan.dose._setup import DoseSetup
    from rtplan.dose.machines._model import BeamModel
    from rtplan.plan import Beam

__all__ = [
    "ENTRY_POINT_GROUP",
    "DoseEngine",
    "ProgressCallback",
    "available_engines",
    "get_engine",
    "register_engine",
]

ENTRY_POINT_GROUP = "rtplan.dose_engines"

ProgressCallback = Callable[[float, str], None]
"""Called with the fraction done (0 to 1) and a short message."""


@runtime_checkable
class DoseEngine(Protocol):
    """What a dose engine provides.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"collapsed-cone"``.
    """

    name: str

    def beam_dose(
        self,
        beam: Beam,
        setup: DoseSetup,
        machine: BeamModel,
        *,
        progress: ProgressCallback | None = None,
    ) -> npt.NDArray[np.float64]:
        """Dose to medium of one beam per unit open-field energy fluence.

        Parameters
        ----------
        beam : Beam
            Geometry, jaws and MLC (its MU are ignored).
        setup : DoseSetup
            Dose grid, densities and patient position.
        machine : BeamModel
            Beam model of ``beam.energy``.
        progress : callable, optional
            Progress callback for this beam.

        Returns
        -------
        numpy.ndarray, shape setup.grid.shape, float64
            MeV/g per MeV/cm² of energy fluence at the isocentre plane; zero outside
            ``setup.body``.
        """
        ...


_BUILTIN: dict[str, Callable[[], DoseEngine]] = {}
_REGISTERED: dict[str, Callable[[], DoseEngine]] = {}
_INSTANCES: dict[str, DoseEngine] = {}
_LOCK = threading.Lock()


def _builtin_factories() -> dict[str, Callable[[], DoseEngine]]:
    if not _BUILTIN:
        from rtplan.dose._collapsed_cone import CollapsedConeEngine
        from rtplan.dose._pencil_beam import PencilBeamEngine

        _BUILTIN["collapsed-cone"] = CollapsedConeEngine
        _BUILTIN["pencil-beam"] = PencilBeamEngine
    return _BUILTIN


def register_engine(name: str, factory: Callable[[], DoseEngine]) -> None:
    """Register an engine under a name (overrides plugins and built-ins of that name).

    Parameters
    ----------
    name : str
        Name used in ``compute_dose(..., engine=name)`` (case-insensitive).
    factory : callable
        Returns an object satisfying :class:`DoseEngine` (a class works).
    """
    key = str(name).strip().lower()
    with _LOCK:
        _REGISTERED[key] = factory
        _INSTANCES.pop(key, None)


def available_engines() -> list[str]:
    """Names of the built-in, registered and plugin engines (plugins are not imported).

    Returns
    -------
    list of str
    """
    from rtplan import plugins

    names = set(_builtin_factories()) | set(_REGISTERED) | set(plugins.available(ENTRY_POINT_GROUP))
    return sorted(names)


def get_engine(engine: str | DoseEngine) -> DoseEngine:
    """An engine instance by name (instances are cached), or the engine itself.

    Parameters
    ----------
    engine : str or DoseEngine
        Registry name or an engine object.

    Returns
    -------
    DoseEngine

    Raises
    ------
    DoseEngineError
        If the name is unknown, its plugin is broken (a warning says why), or the object
        does not satisfy the protocol.
    """
    if not isinstance(engine, str):
        if not isinstance(engine, DoseEngine):
            raise DoseEngineError(
                f"{engine!r} is not a dose engine: it needs a 'name' and a 'beam_dose' method"
            )
        return engine
    name = engine.strip().lower()
    with _LOCK:
        if name in _INSTANCES:
            return _INSTANCES[name]
    factory = _REGISTERED.get(name) or _builtin_factories().get(name)
    if factory is None:
        from rtplan import plugins

        loaded = plugins.load(ENTRY_POINT_GROUP, name)
        if loaded is not None:
            factory = loaded
    if factory is None:
        raise DoseEngineError(
            f"unknown dose engine {engine!r}; available: {', '.join(available_engines())}"
        )
    try:
        instance = factory()
    except Exception as exc:
        raise DoseEngineError(f"dose engine {name!r} failed to start: {exc}") from exc
    if not isinstance(instance, DoseEngine):
        raise DoseEngineError(
            f"dose engine {name!r} does not provide 'name' and 'beam_dose(beam, setup, "
            "machine, progress=...)'"
        )
    with _LOCK:
        _INSTANCES[name] = instance
    return instance
