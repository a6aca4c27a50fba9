"""Public names report the package that documents them, not the private module behind it.

A public package (``rtplan.dose``) keeps its implementation in private modules
(``rtplan.dose._compute``) and curates its names in ``__all__``. :func:`publish`, called
on the last line of the package's ``__init__``, sets the ``__module__`` of the functions
and classes it exports to the package, as numpy does (``numpy._utils.set_module``):
``help(rtplan.dose.compute_dose)`` then reads "in module rtplan.dose", pickles refer to
``rtplan.dose.MuCheck`` (which stays importable), and Sphinx documents each name once,
where users import it.

Only functions (also behind ``functools`` wrappers such as ``lru_cache``) and classes
defined in a private module below the package are changed: a name re-exported from
another public package keeps its home there, and objects that are not plain functions or
classes (numba dispatchers, constants, type aliases) are left as they are.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["publish"]


def _public_part(module_name: str) -> str | None:
    """``"rtplan.dose"`` for ``"rtplan.dose._compute"``; None for a public module."""
    parts = module_name.split(".")
    private = [n for n, part in enumerate(parts) if part.startswith("_")]
    return ".".join(parts[: private[0]]) if private else None


def _rehome(value: Any, package: str) -> bool:
    """Set ``value.__module__`` to ``package`` when a private module below it defines it.

    "Below": the private module's public ancestor is the package or a package above it
    (``rtplan._atomic`` for ``rtplan.io``), not a sibling (``rtplan.guidance._x`` stays
    for ``rtplan.guidance`` to publish). Returns whether the value is published there.
    """
    plain = inspect.unwrap(value) if callable(value) else value
    if not (inspect.isfunction(plain) or isinstance(value, type)):
        return False  # numba dispatchers, constants, aliases: left alone
    home = getattr(value, "__module__", None)
    if home == package:
        return True
    above = _public_part(home) if isinstance(home, str) else None
    if above is not None and (package == above or package.startswith(f"{above}.")):
        value.__module__ = package
        return True
    return False


def _doctests(name: str, value: Any) -> dict[str, Any]:
    """The objects whose doctests the package runs for a published name.

    :mod:`doctest` takes the functions and classes of a module by their ``__module__``,
    and a class's methods by theirs (still the private module): the methods are listed
    explicitly (the module's ``__test__``) so that their examples keep running.
    """
    found: dict[str, Any] = (
        {name: value} if inspect.isroutine(value) or isinstance(value, type) else {}
    )
    if isinstance(value, type):
        for attr, member in vars(value).items():
            func = member.fget if isinstance(member, property) else member
            func = getattr(func, "__func__", func)  # staticmethod, classmethod
            if inspect.isfunction(func) and func.__qualname__.startswith(f"{value.__qualname__}."):
                found[f"{name}.{attr}"] = func
    return found


def publish(module_name: str, names: Iterable[str]) -> None:
    """Make the public names of a package report the package as their module.

    Call it last in the package's ``__init__``: ``publish(__name__, __all__)``. In a lazy
    package (one whose names are loaded by a module ``__getattr__``), the names already
    loaded are changed at once and the others when they are first loaded.

    Parameters
    ----------
    module_name : str
        The public package, e.g. ``"rtplan.dose"``; it must be imported (in
        :data:`sys.modules`).
    names : iterable of str
        The names it exports (its ``__all__``).

    Examples
    --------
    >>> import rtplan.report
    >>> rtplan.report.review_report.__module__
    'rtplan.report'
    """
    module = sys.modules[module_name]
    wanted = frozenset(names)
    namespace = vars(module)
    lazy: Callable[[str], Any] | None = namespace.get("__getattr__")
    # in a lazy package, ``__test__`` is answered by ``__getattr__`` (loading every name)
    tests: dict[str, Any] = (
        namespace.pop("__test__", {}) if lazy else namespace.setdefault("__test__", {})
    )
    for name in sorted(wanted & set(namespace)):
        if _rehome(namespace[name], module_name):
            tests.update(_doctests(name, namespace[name]))
    if lazy is None or getattr(lazy, "__rtplan_published__", False):
        return

    def __getattr__(name: str) -> Any:
        assert lazy is not None
        if name == "__test__":  # doctest asks: load every name, so all their examples run
            for each in sorted(wanted):
                getattr(module, each)
            return tests
        value = lazy(name)
        if name in wanted and _rehome(value, module_name):
            tests.update(_doctests(name, value))
        return value

    __getattr__.__doc__ = lazy.__doc__
    __getattr__.__rtplan_published__ = True  # type: ignore[attr-defined]
    namespace["__getattr__"] = __getattr__
