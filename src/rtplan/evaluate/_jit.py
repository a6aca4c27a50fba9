"""A typed front to :func:`numba.njit` for the compiled loops of :mod:`rtplan.evaluate`.

mypy keeps the Python signatures of the decorated functions, and the compilation options
live in one place: ``cache=True`` stores the machine code next to the module so that only
the first import of a fresh install compiles, ``nogil=True`` lets callers use threads, and
``error_model="numpy"`` drops the zero checks of Python division (the kernels guard their
divisions themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["njit", "prange"]

F = TypeVar("F", bound=Callable[..., Any])

prange = numba.prange


def njit(
    *, parallel: bool = False, inline: bool = False, fastmath: bool = False
) -> Callable[[F], F]:
    """Compile a function in nopython mode, cached on disk.

    Parameters
    ----------
    parallel : bool
        Enable :func:`numba.prange` loops (threads).
    inline : bool
        Inline the function into its compiled callers (numba IR inlining): for small
        helpers called per sample, where a call would cost reference counting of every
        array argument.

    Returns
    -------
    callable
        A decorator returning the compiled function with the same signature.
    """
    return cast(
        Callable[[F], F],
        numba.njit(
            cache=True,
            nogil=True,
            parallel=parallel,
            fastmath=fastmath,
            error_model="numpy",
            inline="always" if inline else "never",
        ),
    )
