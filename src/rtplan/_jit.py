"""The one front to numba for every compiled loop of rtplan.

Every compiled kernel (dose engines, DVH, gamma, rasterisation, margins, guidance search)
is decorated with :func:`njit` from here, so the compilation options live in one place and
mypy keeps the Python signatures:

* an on-disk cache: the machine code is stored next to the module (``__pycache__``, or
  under ``NUMBA_CACHE_DIR``), so only the first use in a fresh installation compiles, and
  that first compilation starts the background compilation of the other kernels
  (:mod:`rtplan._warmup`, which finds them in :data:`KERNELS`). Each data file is named
  after its signature and CPU, so that processes compiling at the same time never mix
  two signatures' code (:class:`_SignatureNamedFile`). numba recognises a stale cache by
  the source of the kernel's own module only: after editing this module or the shared
  kernels of :mod:`rtplan._kernels` (inlined into their callers), delete the
  ``*.nbi``/``*.nbc`` files under ``src/rtplan``
  (``find src/rtplan -name '*.nb[ic]' -delete``);
* ``nogil=True``: callers may run kernels in threads;
* ``error_model="numpy"``: division follows IEEE rules instead of raising
  ``ZeroDivisionError`` (the kernels guard their divisions themselves), which lets numba
  vectorise the loops.

:func:`twin` compiles one body twice, serial and threaded (``prange`` is ``range`` in the
serial one), for kernels whose caller picks by problem size.
"""

from __future__ import annotations

import functools
import hashlib
import types
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numba.core.caching
import numba.core.compiler
import numba.core.errors
import numba.core.sigutils

__all__ = ["KERNELS", "compile_signatures", "n_threads", "njit", "prange", "signature_text", "twin"]

F = TypeVar("F", bound=Callable[..., Any])

prange = numba.prange

#: Every kernel compiled through this module, by ``"module:qualname"`` of its Python function
#: (what :mod:`rtplan._warmup` compiles ahead of use).
KERNELS: dict[str, Any] = {}


def _register(dispatcher: Any) -> Any:
    """Give ``dispatcher`` its on-disk cache (:class:`_FunctionCache`) and list it."""
    fn = dispatcher.py_func
    dispatcher._cache = _FunctionCache(fn)
    KERNELS[f"{fn.__module__}:{fn.__qualname__}"] = dispatcher
    return dispatcher


class _SignatureNamedFile(numba.core.caching.IndexDataCacheFile):
    """numba's cache file pair, with each data file named after its signature and CPU.

    numba names a function's data files by a counter read from its index: two processes
    that compile two signatures of one function at the same time (the kernel warm-up and
    a command, two test workers) both pick number 1, and the index may then point one
    signature at the other's machine code. Named after the signature and the CPU, a data
    file only ever holds that signature's code; the index is written after the data, so it
    never names a file not yet written. Two writers of one index still race (one entry may
    be lost: compiled again on the next use), which is harmless.
    """

    def save(self, key: Any, data: Any) -> None:
        """Save the compiled ``data`` of the index ``key`` (signature, CPU, code hashes)."""
        sig, target = key[0], key[1]
        digest = hashlib.sha1(repr((str(sig), target)).encode()).hexdigest()[:16]
        name = self._data_name_pattern.replace("{number:d}", digest)
        self._save_data(name, data)  # type: ignore[no-untyped-call]
        overloads = self._load_index()  # type: ignore[no-untyped-call]
        overloads[key] = name
        self._save_index(overloads)  # type: ignore[no-untyped-call]


class _FunctionCache(numba.core.caching.FunctionCache):
    """numba's per-function cache with :class:`_SignatureNamedFile` as its files.

    A miss (a kernel about to be compiled in this process) starts the background
    compilation of the other kernels, once per installation (:func:`rtplan._warmup.start`),
    so that a script's or notebook's later calls find them compiled.
    """

    def __init__(self, py_func: Any) -> None:
        super().__init__(py_func)  # type: ignore[no-untyped-call]
        self._cache_file = _SignatureNamedFile(  # type: ignore[no-untyped-call]
            cache_path=self._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=self._impl.locator.get_source_stamp(),
        )

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        """The cached code of ``sig``, or ``None`` (then numba compiles it)."""
        found = super().load_overload(sig, target_context)  # type: ignore[no-untyped-call]
        if found is None:
            _start_warmup()
        return found


@functools.cache
def _start_warmup() -> None:
    """Start the background warm-up (at most once per process)."""
    from rtplan import _warmup

    _warmup.start()


def _options(*, parallel: bool, fastmath: bool, inline: bool = False) -> dict[str, Any]:
    """The compilation options of every rtplan kernel (see the module docstring)."""
    return {
        "nogil": True,
        "parallel": parallel,
        "fastmath": fastmath,
        "error_model": "numpy",
        "inline": "always" if inline else "never",
    }


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
    options = _options(parallel=parallel, fastmath=fastmath, inline=inline)

    def decorate(fn: F) -> F:
        dispatcher = numba.njit(**options)(fn)
        # functions typed at a prompt or in a doctest have no file to cache next to
        if not fn.__code__.co_filename.startswith("<"):
            _register(dispatcher)
        return cast(F, dispatcher)

    return decorate


class _SerialPipeline(numba.core.compiler.Compiler):
    """numba's parallel pipeline for a body without parallel loops, without its warning.

    Loop nests compiled through the parallel pipeline (array analysis, simplification) run
    about 1.5 times faster than through the plain one (measured on the DVH histogram
    kernel), even where nothing runs in parallel; numba then warns that it found nothing to
    parallelise, which is the point here.
    """

    def compile_extra(self, func: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.core.errors.NumbaPerformanceWarning)
            return super().compile_extra(func)  # type: ignore[no-untyped-call]


def twin(*, fastmath: bool = False) -> Callable[[F], tuple[F, F]]:
    """Compile one body as a serial and a threaded kernel.

    The body names :data:`prange` (by that name) for its outer loop. The threaded kernel
    runs it in threads; the serial one reads it as ``range`` and runs in the calling thread,
    compiled through numba's parallel pipeline all the same, which optimises loop nests
    better than the plain one. Each twin has its own on-disk cache entry (numba keys its
    cache by the function's qualified name, not by the compilation options); the serial
    one is named ``<name>_serial``.

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
    >>> serial.py_func.__name__, parallel.py_func.__name__
    ('total_serial', 'total')
    >>> float(serial(np.ones(10)))
    10.0
    """

    def decorate(fn: F) -> tuple[F, F]:
        code = fn.__code__
        names = tuple("range" if n == "prange" else n for n in code.co_names)
        serial_fn = types.FunctionType(
            code.replace(co_names=names),
            fn.__globals__,
            f"{fn.__name__}_serial",
            fn.__defaults__,
            fn.__closure__,
        )
        serial_fn.__qualname__ = f"{fn.__qualname__}_serial"
        serial_fn.__doc__ = fn.__doc__
        serial_fn.__module__ = fn.__module__
        serial = numba.njit(
            pipeline_class=_SerialPipeline, **_options(parallel=True, fastmath=fastmath)
        )(serial_fn)
        if not code.co_filename.startswith("<"):
            _register(serial)
        parallel = njit(parallel=True, fastmath=fastmath)(fn)
        return cast(F, serial), parallel

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


def signature_text(args: tuple[Any, ...]) -> str | None:
    """A compiled signature as numba's signature syntax, ``None`` if not expressible.

    Arrays are written ``float64[:, ::1]`` (C order), ``float64[:, :]`` (any layout) or
    ``float64[::1, :]`` (Fortran order); scalars by their numba names; homogeneous tuples
    as ``UniTuple(float64, 3)``. Read-only arrays and other types give ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from numba import typeof
    >>> from rtplan._jit import signature_text
    >>> signature_text((typeof(np.zeros((2, 3))), typeof(1.5), typeof(True)))
    '(float64[:, ::1], float64, boolean)'
    """
    parts = [_type_text(t) for t in args]
    if any(p is None for p in parts):
        return None
    return "(" + ", ".join(str(p) for p in parts) + ("," if len(parts) == 1 else "") + ")"


def _type_text(t: Any) -> str | None:
    types = numba.types
    if isinstance(t, types.Array):
        dtype = _type_text(t.dtype)
        if dtype is None or not t.mutable or t.layout not in "CAF":
            return None
        dims = [":"] * t.ndim
        if t.layout == "C":
            dims[-1] = "::1"
        elif t.layout == "F":
            dims[0] = "::1"
        return f"{dtype}[{', '.join(dims)}]"
    if isinstance(t, types.Boolean):
        return "boolean"
    if isinstance(t, types.Integer | types.Float):
        return str(t)
    if isinstance(t, types.UniTuple):
        inner = _type_text(t.dtype)
        return None if inner is None else f"UniTuple({inner}, {t.count})"
    return None


def compile_signatures(signatures: dict[str, list[str]]) -> int:
    """Compile (or load from the on-disk cache) kernels for the given signatures.

    Parameters
    ----------
    signatures : dict of str to list of str
        ``"module:qualname"`` of a kernel to its signatures in :func:`signature_text`
        syntax; kernels or signatures that no longer exist are skipped.

    Returns
    -------
    int
        The number of signatures compiled or loaded.
    """
    import importlib

    done = 0
    for key, sigs in signatures.items():
        module = key.partition(":")[0]
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        dispatcher = KERNELS.get(key)
        if dispatcher is None:
            continue
        for sig in sigs:
            try:
                # as a tuple of types, the cache key of a call (a string is a key of its own)
                args, _ = numba.core.sigutils.normalize_signature(sig)  # type: ignore[no-untyped-call]
                dispatcher.compile(tuple(args))
            except (numba.core.errors.TypingError, TypeError, NameError, SyntaxError):
                continue  # a kernel whose signature changed since the list was made
            done += 1
    return done
