"""The registry of dose engines: built in, registered at run time, and plugins.

Engines satisfy :class:`~rtplan.dose.DoseEngine` (:mod:`rtplan.dose._protocol`) and
are asked for by name: an :class:`rtplan.enum.Engine` member or its string for the
built-in ones (imported on first use), any string for the others. An engine that is not
calibrated in the machine files is calibrated on first use on the reference field
(1 MU gives 1 cGy at d_max of a 10 x 10 cm² field at SSD 100 cm in water).

Plugins register engine classes (or factories) under the entry-point group
``rtplan.dose_engines``; they are imported only when asked for by name, and a plugin that
fails to import is reported with a :class:`rtplan.plugins.PluginWarning` and skipped::

    [project.entry-points."rtplan.dose_engines"]
    my-engine = "my_package.engine:MyEngine"
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rtplan.dose._protocol import DoseEngine, ProgressCallback
from rtplan.enum import Engine
from rtplan.errors import DoseEngineError

__all__ = [
    "ENTRY_POINT_GROUP",
    "DoseEngine",
    "ProgressCallback",
    "available_engines",
    "get_engine",
    "register_engine",
]

ENTRY_POINT_GROUP = "rtplan.dose_engines"

_BUILTIN: dict[str, Callable[[], DoseEngine]] = {}
_REGISTERED: dict[str, Callable[[], DoseEngine]] = {}
_INSTANCES: dict[str, DoseEngine] = {}
_LOCK = threading.Lock()


def _builtin_factories() -> dict[str, Callable[[], DoseEngine]]:
    if not _BUILTIN:
        from rtplan.dose._collapsed_cone import CollapsedConeEngine
        from rtplan.dose._pencil_beam import PencilBeamEngine

        _BUILTIN[Engine.COLLAPSED_CONE.value] = CollapsedConeEngine
        _BUILTIN[Engine.PENCIL_BEAM.value] = PencilBeamEngine
    return _BUILTIN


def _key(name: Engine | str) -> str:
    """Registry key of an engine name: a built-in's value (spelling forgiven), else lower case."""
    return str(Engine.lookup(name)).strip().lower()


def register_engine(name: Engine | str, factory: Callable[[], DoseEngine]) -> None:
    """Register an engine under a name (overrides plugins and built-ins of that name).

    Parameters
    ----------
    name : Engine or str
        Name used in ``compute_dose(..., engine=name)`` (case-insensitive).
    factory : callable
        Returns an object satisfying :class:`DoseEngine` (a class works).

    Examples
    --------
    >>> from rtplan.dose import get_engine, register_engine
    >>> from rtplan.dose._pencil_beam import PencilBeamEngine
    >>> register_engine("coarse-pencil", lambda: PencilBeamEngine(n_components=3))
    >>> get_engine("Coarse-Pencil").n_components
    3
    """
    key = _key(name)
    with _LOCK:
        _REGISTERED[key] = factory
        _INSTANCES.pop(key, None)


def available_engines() -> list[str]:
    """Names of the built-in, registered and plugin engines (plugins are not imported).

    Returns
    -------
    list of str

    Examples
    --------
    >>> from rtplan.dose import available_engines
    >>> {"collapsed-cone", "pencil-beam"} <= set(available_engines())
    True
    """
    from rtplan import plugins

    names = set(_builtin_factories()) | set(_REGISTERED) | set(plugins.available(ENTRY_POINT_GROUP))
    return sorted(names)


def get_engine(engine: Engine | str | DoseEngine) -> DoseEngine:
    """An engine instance by name (instances are cached), or the engine itself.

    Parameters
    ----------
    engine : Engine, str or DoseEngine
        A built-in engine (:class:`rtplan.enum.Engine` or its name, spelling forgiven), a
        registered or plugin engine's name, or an engine object.

    Returns
    -------
    DoseEngine

    Raises
    ------
    DoseEngineError
        If the name is unknown, its plugin is broken (a warning says why), or the object
        does not satisfy the protocol.

    Examples
    --------
    >>> from rtplan.dose import get_engine
    >>> from rtplan.enum import Engine
    >>> get_engine(Engine.COLLAPSED_CONE) is get_engine("Collapsed cone")
    True
    >>> get_engine("pencil-beam").name
    'pencil-beam'
    """
    if not isinstance(engine, str):
        if not isinstance(engine, DoseEngine):
            raise DoseEngineError(
                f"{engine!r} is not a dose engine: it needs a 'name' and a 'beam_dose' method"
            )
        return engine
    name = _key(engine)
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
            f"unknown dose engine {str(engine)!r}; available: {', '.join(available_engines())}"
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
