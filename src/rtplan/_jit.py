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
* while the background compilation runs, a kernel signature is compiled by one process
  only: each compiling process holds a claim file next to the cache entry
  (:class:`_Claims`); a command that needs a signature the background process is
  compiling waits for it (without using a core) and loads it from the cache, and the
  background process skips what a command is compiling;
* ``nogil=True``: callers may run kernels in threads;
* ``error_model="numpy"``: division follows IEEE rules instead of raising
  ``ZeroDivisionError`` (the kernels guard their divisions themselves), which lets numba
  vectorise the loops.

:func:`twin` compiles one body twice, serial and threaded (``prange`` is ``range`` in the
serial one), for kernels whose caller picks by problem size.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import os
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numba
import numba.core.caching
import numba.core.compiler
import numba.core.errors
import numba.core.sigutils

__all__ = ["KERNELS", "compile_signatures", "n_threads", "njit", "prange", "signature_text", "twin"]

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger(__name__)

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
        name = self._data_name_pattern.replace("{number:d}", _digest(key[0], key[1]))
        self._save_data(name, data)  # type: ignore[no-untyped-call]
        overloads = self._load_index()  # type: ignore[no-untyped-call]
        overloads[key] = name
        self._save_index(overloads)  # type: ignore[no-untyped-call]


def _digest(sig: Any, target: Any) -> str:
    """A file-name-safe digest of a signature and the CPU it is compiled for."""
    return hashlib.sha1(repr((str(sig), target)).encode()).hexdigest()[:16]


class _FunctionCache(numba.core.caching.FunctionCache):
    """numba's per-function cache with :class:`_SignatureNamedFile` as its files.

    A miss (a kernel about to be compiled in this process) starts the background
    compilation of the other kernels, once per installation (:func:`rtplan._warmup.start`),
    so that a script's or notebook's later calls find them compiled. While it runs, a miss
    of a signature that the background process is compiling waits for its result
    (:class:`_Claims`).
    """

    def __init__(self, py_func: Any) -> None:
        super().__init__(py_func)  # type: ignore[no-untyped-call]
        self._cache_file = _SignatureNamedFile(  # type: ignore[no-untyped-call]
            cache_path=self._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=self._impl.locator.get_source_stamp(),
        )

    def claim_path(self, sig: Any, codegen: Any) -> Path:
        """The claim file of signature ``sig`` (a tuple of numba types) for ``codegen``'s CPU."""
        digest = _digest(sig, codegen.magic_tuple())
        return Path(self._cache_path) / f"{self._impl.filename_base}.{digest}.compiling"

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        """The cached code of ``sig``, or ``None`` (then numba compiles it)."""
        found = self._load_cached(sig, target_context)
        if found is not None or not (_CLAIMS.background or _start_warmup()):
            return found
        claim = self.claim_path(sig, target_context.codegen())
        if _CLAIMS.wait(claim):  # the background process compiled it meanwhile
            found = self._load_cached(sig, target_context)
            if found is not None:
                return found
        _CLAIMS.take(claim)
        return None

    def _load_cached(self, sig: Any, target_context: Any) -> Any:
        """The cached code of ``sig`` as numba's ``load_overload`` reads it, without refreshing.

        Before reading a cache entry numba refreshes its target context: it imports every
        typing and lowering registry of the target, 0.3-0.5 s in a fresh process, most of
        it ``scipy.linalg`` (which the BLAS check of ``numba.np.linalg`` imports). Cached
        machine code needs only the symbols that its linking resolves: numba's runtime
        (NRT) and the hash secret that ``numba.cpython.hashing`` registers on import;
        numba's own globals are registered when its target context is made, the thread
        pool's by the parallel kernels' reload hooks. A compilation (a cache miss)
        refreshes the context itself.
        """
        import numba.cpython.hashing  # noqa: F401  (registers the hash-secret symbols)
        from numba.core.runtime import nrt

        nrt.rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)  # type: ignore[no-untyped-call]
        return None  # an I/O error the guard swallowed

    def save_overload(self, sig: Any, data: Any) -> None:
        """Store the compiled ``data`` of ``sig``, then give up this process's claim on it."""
        super().save_overload(sig, data)  # type: ignore[no-untyped-call]
        if _CLAIMS.held:
            _CLAIMS.release(self.claim_path(sig, data.library.codegen))


class _Claims:
    """The kernel compilations this process has claimed, and the wait for the warm-up's.

    A claim is a file ``<cache entry>.<signature digest>.compiling`` holding the role of
    the process (``warmup`` or ``command``) and its id, created exclusively when the
    process starts compiling that signature and removed once the code is in the cache.
    Only a command waits, and only for the warm-up's claims; the warm-up never waits (it
    compiles a callee that a command has claimed, and skips an entry kernel a command has
    claimed), so no two processes ever wait for each other. A claim whose process is gone
    is ignored. A process that did not claim anything never touches the files: claims
    are taken only while a warm-up runs (or by the warm-up itself).
    """

    #: The longest a command waits for one signature (then it compiles it itself).
    wait_s = 300.0

    def __init__(self) -> None:
        self.background = False  # set in the warm-up process (compile_signatures)
        self.held: set[Path] = set()
        self.waited_s = 0.0  # time this process spent waiting for the warm-up (benchmarks)

    @staticmethod
    def holder(claim: Path) -> tuple[str, int] | None:
        """The live process holding ``claim``, as ``(role, pid)``; None if none."""
        try:
            role, _, pid_text = claim.read_text().partition(" ")
            pid = int(pid_text)
            if time.time() - claim.stat().st_mtime > 2 * _Claims.wait_s:
                return None  # left behind by a process whose id was reused since
            os.kill(pid, 0)
        except (OSError, ValueError):  # no claim, not written yet, or its process is gone
            return None
        return role, pid

    def wait(self, claim: Path) -> bool:
        """In a command: wait while the warm-up compiles ``claim``; True if it did."""
        holder = None if self.background else self.holder(claim)
        if holder is None or holder[0] != "warmup":
            return False
        logger.info("waiting for the background compilation of %s", claim.name)
        start = time.monotonic()
        try:
            while time.monotonic() < start + self.wait_s:
                time.sleep(0.01)
                if not claim.exists():
                    return True
                if self.holder(claim) is None:
                    return False
            return False
        finally:
            self.waited_s += time.monotonic() - start

    def take(self, claim: Path) -> None:
        """Claim a signature this process is about to compile (if nobody holds it)."""
        role = "warmup" if self.background else "command"
        # written aside, then linked: a claim is never seen without its holder
        written = claim.with_name(f"{claim.name}.{os.getpid()}")
        try:
            claim.parent.mkdir(parents=True, exist_ok=True)
            if claim.exists() and self.holder(claim) is None:
                claim.unlink(missing_ok=True)  # left by a process that ended while compiling
            written.write_text(f"{role} {os.getpid()}")
            os.link(written, claim)
        except OSError:  # held by another process, or a read-only cache: compile all the same
            return
        finally:
            written.unlink(missing_ok=True)
        self.held.add(claim)

    def release(self, claim: Path) -> None:
        """Give up ``claim`` if this process holds it (its code is in the cache now)."""
        if claim in self.held:
            self.held.discard(claim)
            claim.unlink(missing_ok=True)

    def release_all(self) -> None:
        """Give up every claim of this process (after a failed compilation, at exit)."""
        while self.held:
            self.held.pop().unlink(missing_ok=True)


_CLAIMS = _Claims()
atexit.register(_CLAIMS.release_all)


@functools.cache
def _start_warmup() -> bool:
    """Start the background warm-up (at most once per process); whether one runs now."""
    from rtplan import _warmup

    return _warmup.start() or _warmup.running()


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


def compile_signatures(signatures: dict[str, list[str]], *, background: bool = False) -> int:
    """Compile (or load from the on-disk cache) kernels for the given signatures.

    Parameters
    ----------
    signatures : dict of str to list of str
        ``"module:qualname"`` of a kernel to its signatures in :func:`signature_text`
        syntax, in the order to compile them; kernels or signatures that no longer exist
        are skipped.
    background : bool
        This process is the background warm-up (:mod:`rtplan._warmup`): it claims what
        it compiles, so that a command needing it waits for it instead of compiling it
        too, and it skips a signature that a command is compiling.

    Returns
    -------
    int
        The number of signatures compiled or loaded (not those left to a command).
    """
    previous = _CLAIMS.background
    _CLAIMS.background = background or previous
    try:
        return _compile_listed(signatures, background=background)
    finally:
        _CLAIMS.background = previous


def _compile_listed(signatures: dict[str, list[str]], *, background: bool) -> int:
    """:func:`compile_signatures` (the claims' role already set)."""
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
                if background and _claimed_by_a_command(dispatcher, tuple(args)):
                    continue
                dispatcher.compile(tuple(args))
            except (numba.core.errors.TypingError, TypeError, NameError, SyntaxError):
                continue  # a kernel whose signature changed since the list was made
            finally:
                _CLAIMS.release_all()  # what a failed compilation left claimed
            done += 1
    return done


def _claimed_by_a_command(dispatcher: Any, args: tuple[Any, ...]) -> bool:
    """Whether a command is compiling signature ``args`` of ``dispatcher`` now."""
    if args in dispatcher.overloads:
        return False
    cache = dispatcher._cache
    if not isinstance(cache, _FunctionCache):
        return False
    holder = _Claims.holder(cache.claim_path(args, dispatcher.targetctx.codegen()))
    return holder is not None and holder[0] == "command"
