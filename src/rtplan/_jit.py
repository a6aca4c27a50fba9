"""The one front to numba for every compiled loop of rtplan.

Every compiled kernel (dose engines, DVH, gamma, rasterisation, margins, guidance search)
is decorated with :func:`njit` from here, so the compilation options live in one place and
mypy keeps the Python signatures:

* ``cache=True``: the machine code is stored next to the module (``__pycache__``), so only
  the first use in a fresh installation compiles;
* ``nogil=True``: callers may run kernels in threads;
* ``error_model="numpy"``: division follows IEEE rules instead of raising
  ``ZeroDivisionError`` (the kernels guard their divisions themselves), which lets numba
  vectorise the loops.

:func:`twin` compiles one body twice, serial and threaded (``prange`` is ``range`` in the
serial one), for kernels whose caller picks by problem size.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["n_threads", "njit", "prange", "twin"]

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
    fastmath : bool
        Allow reassociation of floating-point operations (never where bit-for-bit
        reproducibility matters).

    Returns
    -------
    callable
        A decorator returning the compiled function with the same signature.
    """
    options: dict[str, Any] = {
        "nogil": True,
        "parallel": parallel,
        "fastmath": fastmath,
        "error_model": "numpy",
        "inline": "always" if inline else "never",
    }

    def decorate(fn: F) -> F:
        # functions typed at a prompt or in a doctest have no file to cache next to
        cache = not fn.__code__.co_filename.startswith("<")
        return cast(F, numba.njit(cache=cache, **options)(fn))

    return decorate


def twin(*, fastmath: bool = False) -> Callable[[F], tuple[F, F]]:
    """Compile one body as a serial and a threaded kernel.

    The body uses :data:`prange` for its outer loop; the serial kernel runs it as ``range``.
    Each twin has its own on-disk cache entry (numba keys its cache by the function's
    qualified name, not by the compilation options).

    Parameters
    ----------
    fastmath : bool
        As for :func:`njit`.

    Returns
    -------
    callable
        A decorator returning ``(serial, parallel)``.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan._jit import prange, twin
    >>> @twin()
    ... def total(a):
    ...     s = 0.0
    ...     for i in prange(a.shape[0]):
    ...         s += a[i]
    ...     return s
    >>> serial, parallel = total
    >>> float(serial(np.ones(10))), float(parallel(np.ones(10)))
    (10.0, 10.0)
    """

    def decorate(fn: F) -> tuple[F, F]:
        serial_fn = types.FunctionType(
            fn.__code__, fn.__globals__, f"{fn.__name__}_serial", fn.__defaults__, fn.__closure__
        )
        serial_fn.__qualname__ = f"{fn.__qualname__}_serial"
        serial_fn.__doc__ = fn.__doc__
        serial_fn.__module__ = fn.__module__
        serial = njit(parallel=False, fastmath=fastmath)(cast(F, serial_fn))
        parallel = njit(parallel=True, fastmath=fastmath)(fn)
        return serial, parallel

    return decorate


def n_threads() -> int:
    """Number of threads numba's parallel loops use (``NUMBA_NUM_THREADS``).

    Examples
    --------
    >>> from rtplan._jit import n_threads
    >>> n_threads() >= 1
    True
    """
    return int(numba.get_num_threads())
