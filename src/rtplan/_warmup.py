"""Compile rtplan's kernels once per installation, in the background, ahead of their use.

numba compiles a kernel on its first call and stores the machine code in its on-disk cache
(next to the module, or under ``NUMBA_CACHE_DIR``), keyed on the CPU it runs on; every
later process loads it in milliseconds. A new installation therefore compiles, once, for
about a minute of CPU. :func:`start` moves most of it off the user's path: the first
kernel that a process must compile (a script, a notebook; ``rtplan demo`` starts it as it
starts) starts a detached process that compiles the signatures listed in
:mod:`rtplan._kernel_signatures` on the other cores, while the process itself goes on.
The list follows a first ``rtplan demo``: the kernels it needs first (its first dose
calculation) come last, as the command compiles them itself before anything could be
ready; the warm-up starts with the next ones, in the order the demo needs them, and stays
ahead of the command. A signature is compiled by one of them only: the command waits for
(and then loads) what the warm-up is compiling at that moment, and the warm-up skips what
the command is compiling (claim files, :mod:`rtplan._jit`). A marker file records that
the warm-up ran, so it runs once per installation.

Nothing is shipped pre-compiled: the code is compiled on the machine that runs it, by the
same numba, so a CPU or a numba version of another machine cannot make it wrong; a
signature that no longer matches its kernel is skipped and compiled on first use.

``RTPLAN_WARMUP=0`` turns it off; ``python -m rtplan._warmup`` runs it in the foreground,
an installation step for images and CI.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rtplan._version import __version__

__all__ = ["marker_path", "run", "running", "start"]

logger = logging.getLogger(__name__)

#: A lock older than this (seconds) belongs to a warm-up that died: it is taken over.
_STALE_S = 1800.0

#: The warm-up process started by this process where it has no ``posix_spawn`` (Windows).
_STARTED: list[object] = []


def marker_path() -> Path:
    """The file that says the kernels of this installation were compiled.

    It lives with the numba cache of this installation (``NUMBA_CACHE_DIR`` if set, else
    the package's ``__pycache__`` when writable, else the user's cache folder) and its name
    holds the versions of rtplan, numba and Python.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        numba_version = version("numba")
    except PackageNotFoundError:
        numba_version = "none"
    package = Path(__file__).resolve().parent
    tag = "|".join((__version__, numba_version, sys.version, str(package)))
    name = f"rtplan-kernels-{hashlib.sha1(tag.encode()).hexdigest()[:16]}.done"
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        return Path(configured) / name
    pycache = package / "__pycache__"
    if os.access(pycache if pycache.exists() else package, os.W_OK):
        return pycache / name
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rtplan" / name


def start() -> bool:
    """Start the background warm-up if this installation has not had it; never wait.

    Returns
    -------
    bool
        Whether a warm-up process was started (not when turned off with
        ``RTPLAN_WARMUP=0``, under pytest, when it ran before or runs now, or when no
        process could be started).
    """
    if not _enabled():
        return False
    try:
        marker = marker_path()
        if marker.exists():
            return False
        lock = marker.with_suffix(".lock")
        if not _take(lock):
            return False
        _spawn([sys.executable, "-m", "rtplan._warmup", "--lock", str(lock)])
    except OSError as exc:  # a read-only cache, no process slots: compile on first use
        logger.debug("kernel warm-up not started: %s", exc)
        return False
    logger.info("compiling the numerical kernels in the background (once per installation)")
    return True


def _spawn(cmd: list[str]) -> None:
    """Start ``cmd`` detached, and keep no handle on it.

    In its own session (neither Ctrl-C nor the end of the command stops it), without a
    terminal; no :class:`subprocess.Popen` is kept (one dropped while its process runs
    warns, at the end of the command, that the process is still running).
    """
    if hasattr(os, "posix_spawn"):
        actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        os.posix_spawn(cmd[0], cmd, os.environ, file_actions=actions, setsid=True)
        return
    devnull = subprocess.DEVNULL
    child = subprocess.Popen(cmd, stdin=devnull, stdout=devnull, stderr=devnull)
    _STARTED.append(child)  # kept until this process ends, for the same reason


def running() -> bool:
    """Whether a warm-up of this installation runs now (its lock is held and recent).

    False where the warm-up is turned off for this process (as for :func:`start`).
    """
    if not _enabled():
        return False
    try:
        lock = marker_path().with_suffix(".lock")
        return time.time() - lock.stat().st_mtime < _STALE_S
    except OSError:
        return False


def _enabled() -> bool:
    """False with ``RTPLAN_WARMUP=0`` and under pytest."""
    # a test run compiles what it uses; a background compile would compete for its cores
    return os.environ.get("RTPLAN_WARMUP", "1") != "0" and "PYTEST_CURRENT_TEST" not in os.environ


def _take(lock: Path) -> bool:
    """Create ``lock`` exclusively (taking over a stale one); False if another holds it."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime < _STALE_S:
                    return False
                lock.unlink()
            except FileNotFoundError:
                pass
            continue
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        return True
    return False


def run(workers: int | None = None, *, part: tuple[int, int] = (0, 1)) -> int:
    """Compile (or load) the listed kernel signatures in this process and ``workers - 1`` more.

    Parameters
    ----------
    workers : int, optional
        Processes that share the list; by default one per core but one, kept for the
        command that started the warm-up (at least one).
    part : (int, int)
        ``(i, n)``: compile only every ``n``-th kernel from the ``i``-th (a worker's share).

    Returns
    -------
    int
        Signatures compiled or loaded by this process.
    """
    from rtplan._kernel_signatures import SIGNATURES

    index, count = part
    if workers is None:
        workers = max(1, (os.cpu_count() or 1) - 1)
    children = []
    if count == 1 and workers > 1:
        count = workers
        for i in range(1, workers):
            cmd = [sys.executable, "-m", "rtplan._warmup", "--part", f"{i}/{workers}"]
            children.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))
    # in the list's order (see the module docstring)
    keys = list(SIGNATURES)[index::count]
    from rtplan._jit import compile_signatures

    done = compile_signatures({key: SIGNATURES[key] for key in keys}, background=True)
    for child in children:
        child.wait()
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rtplan._warmup [--workers N]``: compile, then return."""
    ap = argparse.ArgumentParser(prog="python -m rtplan._warmup", description=__doc__)
    ap.add_argument("--workers", type=int, help="processes (default: cores - 1)")
    ap.add_argument("--lock", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--part", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ["RTPLAN_WARMUP"] = "0"  # its own compilations start no other warm-up
    if args.part:
        i, n = (int(x) for x in args.part.split("/"))
        run(1, part=(i, n))  # a worker
        return 0
    # at the command's priority: the command waits for what the warm-up is compiling, so a
    # warm-up slowed down by other processes would slow the command down too
    t0 = time.perf_counter()
    outcome = "failed"
    try:
        outcome = f"{run(args.workers)} kernel signatures"
    finally:
        # written whatever happened: a warm-up that fails is not retried by every command
        # (what it did not compile is compiled on first use)
        marker = marker_path()
        if Path(__file__).exists():  # not for an installation removed meanwhile
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{outcome} in {time.perf_counter() - t0:.1f} s\n")
        if args.lock is not None:
            args.lock.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
