"""Plugin discovery through entry points, loaded lazily and cached.

Groups:

* ``rtplan.dose_engines`` -- dose engine classes (see :mod:`rtplan.dose`);
* ``rtplan.overlay_layers`` -- extra overlay layers for :func:`rtplan.render_overlay`.

A plugin that fails to import is reported with an :class:`PluginWarning` naming the
entry point and the error; it never crashes the host.
"""

from __future__ import annotations

import functools
import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from rtplan._warn import warn
from rtplan.errors import RtplanWarning

__all__ = ["GROUPS", "PluginWarning", "available", "clear_cache", "load", "load_all"]

logger = logging.getLogger(__name__)

GROUPS = ("rtplan.dose_engines", "rtplan.overlay_layers")


class PluginWarning(RtplanWarning):
    """A plugin could not be loaded; the host goes on without it."""


@functools.cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        if ep.name in found:
            warn(
                f"two plugins register {ep.name!r} in {group}: {found[ep.name].value} and "
                f"{ep.value}; using the first",
                PluginWarning,
            )
            continue
        found[ep.name] = ep
    return found


def available(group: str) -> list[str]:
    """Names registered in an entry-point group (without importing them).

    Parameters
    ----------
    group : str
        One of :data:`GROUPS`.

    Returns
    -------
    list of str
    """
    return sorted(_entry_points(group))


@functools.cache
def load(group: str, name: str) -> Any | None:
    """Import one plugin object, or ``None`` with a warning if it is broken or absent.

    Parameters
    ----------
    group : str
        Entry-point group.
    name : str
        Entry-point name.

    Returns
    -------
    object or None
        Whatever the entry point refers to (class, function...).
    """
    ep = _entry_points(group).get(name)
    if ep is None:
        return None
    try:
        obj = ep.load()
    except Exception as exc:  # a broken plugin must not break the host
        warn(
            f"plugin {name!r} ({ep.value}) in {group} failed to load: {type(exc).__name__}: {exc}",
            PluginWarning,
        )
        return None
    logger.debug("loaded plugin %s from %s", name, ep.value)
    return obj


def load_all(group: str) -> dict[str, Any]:
    """Every loadable plugin of a group, by name (broken ones warned about and skipped).

    Parameters
    ----------
    group : str
        The entry-point group, e.g. ``"rtplan.dose_engines"``.

    Returns
    -------
    dict of str to object
        The loaded objects by entry-point name.
    """
    out: dict[str, Any] = {}
    for name in available(group):
        obj = load(group, name)
        if obj is not None:
            out[name] = obj
    return out


def clear_cache() -> None:
    """Forget discovered entry points (after installing a plugin in a running session)."""
    _entry_points.cache_clear()
    load.cache_clear()
