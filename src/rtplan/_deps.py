"""One helper for optional dependencies, whose error names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from rtplan.errors import MissingDependencyError

__all__ = ["import_optional"]


def import_optional(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise an error that says how to install it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"pylibjpeg"``.
    extra : str
        The rtplan extra (``pip install rtplan[extra]``) or package that provides it.
    purpose : str
        What the caller wanted to do, for the message.

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    MissingDependencyError
        If the module cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the optional package {module!r}; "
            f"install it with: pip install 'rtplan[{extra}]'"
        ) from exc
