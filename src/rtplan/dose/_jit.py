"""A typed front to :func:`numba.njit` shared by the dose engines' hot loops.

Every compiled kernel of :mod:`rtplan.dose` is decorated with :func:`njit` from here, so
that mypy keeps the Python signatures and the compilation options stay in one place
(``cache=True`` writes the machine code next to the module, which keeps the second and later
imports fast; ``nogil=True`` lets several beams run in threads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["n_threads", "njit", "prange"]

F = TypeVar("F", bound=Callable[..., Any])

prange = numba.prange


def njit(*, parallel: bool = False, fastmath: bool = False) -> Callable[[F], F]:
    """Compile a function in nopython mode, cached on disk.

    Parameters
    ----------
    parallel : bool
        Enable :func:`numba.prange` loops (threads).
    fastmath : bool
        Allow reassociation of floating-point operations (never used where bit-for-bit
        reproducibility matters, e.g. the Monte Carlo kernel generator).

    Returns
    -------
    callable
        A decorator returning the compiled function with the same signature.
    """
    return cast(
        Callable[[F], F],
        numba.njit(cache=True, nogil=True, parallel=parallel, fastmath=fastmath),
    )


def n_threads() -> int:
    """Number of threads numba's parallel loops use (``NUMBA_NUM_THREADS``)."""
    return int(numba.get_num_threads())
