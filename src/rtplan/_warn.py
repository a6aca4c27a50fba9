"""The one way rtplan warns: an :class:`~rtplan.errors.RtplanWarning` (or subclass)."""

from __future__ import annotations

import warnings

from rtplan.errors import RtplanWarning

__all__ = ["warn"]


def warn(
    message: str, category: type[RtplanWarning] = RtplanWarning, *, stacklevel: int = 3
) -> None:
    """Warn with an rtplan warning class; tolerant readers use this to report problems.

    Parameters
    ----------
    message : str
        What is wrong, naming the file or object, and what was done about it.
    category : type
        A subclass of :class:`~rtplan.errors.RtplanWarning`.
    stacklevel : int
        Passed to :func:`warnings.warn`.
    """
    warnings.warn(message, category, stacklevel=stacklevel)
