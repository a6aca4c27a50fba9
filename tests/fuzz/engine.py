"""Running fuzz cases: seeded case plans, worker processes with limits, outcome classes.

Case ``i`` of seed ``s`` is fully determined by ``(s, i)``: which kind of read, which clean
file, which mutation. Cases run in worker processes (forked, so that the corpus and the clean
fingerprints are shared) whose address space may grow by at most :data:`MEMORY_LIMIT_BYTES`;
a case running longer than the timeout kills its worker and is a ``hang``.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import signal
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

import rtplan
from fuzz import oracle
from fuzz.corpus import KINDS, Corpus, Source
from fuzz.mutate import Mutation, mutate
from rtplan.errors import RtplanError, RtplanWarning

__all__ = [
    "FAILURES",
    "MEMORY_LIMIT_BYTES",
    "Outcome",
    "Summary",
    "clean_fingerprints",
    "run",
    "run_case",
]

MEMORY_LIMIT_BYTES = 4 * 1024**3
"""How much a worker's address space may grow while it runs cases."""
FAILURES = ("raw", "silent", "foreign-warning", "hang", "memory", "crash")
OUTCOMES = ("error", "warned", "unchanged", "faithful", *FAILURES)
_KIND_WEIGHTS = (0.25, 0.2, 0.2, 0.2, 0.15)

Reader = Callable[[Source, Path], Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one case did."""

    index: int
    kind: str
    study: str
    file: str
    operator: str
    detail: str
    outcome: str
    message: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """True for the outcomes the fuzzer must never see."""
        return self.outcome in FAILURES

    def line(self) -> str:
        """One line for a report."""
        return (
            f"case {self.index} [{self.kind} {self.study}/{self.file}] {self.operator}: "
            f"{self.detail} -> {self.outcome}: {self.message}"
        )


@dataclass(slots=True)
class Summary:
    """The figures of a run."""

    seed: int
    cases: int
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self, by: str = "outcome") -> Counter[Any]:
        """Cases per outcome (``by="outcome"``), or per (``by``, outcome) pair."""
        if by == "outcome":
            return Counter(o.outcome for o in self.outcomes)
        return Counter((getattr(o, by), o.outcome) for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        """The cases that failed, in order."""
        return [o for o in self.outcomes if o.failed]

    def report(self) -> str:
        """The figures as text: files tried, outcomes per class, per kind and per operator."""
        counts = self.counts()
        lines = [
            f"fuzz run: seed {self.seed}, {len(self.outcomes)} mutated files tried in "
            f"{self.seconds:.1f} s",
            "outcomes: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in OUTCOMES),
        ]
        for by, names in (
            ("kind", KINDS),
            ("operator", sorted({o.operator for o in self.outcomes})),
        ):
            table = self.counts(by)
            for name in names:
                row = {k: table.get((name, k), 0) for k in OUTCOMES}
                total = sum(row.values())
                shown = ", ".join(f"{k} {v}" for k, v in row.items() if v)
                lines.append(f"  {by} {name}: {total} ({shown})")
        failures = self.failures
        lines.append(f"failures: {len(failures)}")
        lines.extend("  " + f.line() for f in failures[:50])
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable figures and failures."""
        return {
            "seed": self.seed,
            "cases": len(self.outcomes),
            "seconds": round(self.seconds, 1),
            "outcomes": dict(self.counts()),
            "failures": [asdict(f) for f in self.failures],
        }


# ---------------------------------------------------------------------------- cases
def plan_case(corpus: Corpus, seed: int, index: int) -> tuple[Source, np.random.Generator]:
    """The clean file case ``index`` of ``seed`` mutates, and its generator."""
    rng = np.random.default_rng([seed, index])
    kinds = [k for k in KINDS if corpus.sources[k]]
    weights = np.array([_KIND_WEIGHTS[KINDS.index(k)] for k in kinds])
    kind = str(rng.choice(kinds, p=weights / weights.sum()))
    studies = sorted({s.study for s in corpus.sources[kind]})
    study = studies[int(rng.integers(0, len(studies)))]
    candidates = [s for s in corpus.sources[kind] if s.study == study]
    if kind == "study":  # one CT slice stands for the series, beside each RT object
        slices = [s for s in candidates if s.path in corpus.study(study).ct]
        others = [s for s in candidates if s.path not in corpus.study(study).ct]
        candidates = [*others, slices[int(rng.integers(0, len(slices)))]]
    return candidates[int(rng.integers(0, len(candidates)))], rng


def _donors(corpus: Corpus, source: Source) -> list[Path]:
    """Files whose values a ``swap`` may copy: the same kind of file elsewhere first."""
    same = [
        s.path
        for s in corpus.sources["ct" if source.path.name.startswith("CT") else source.kind]
        if s.path != source.path
    ]
    if source.kind == "study" or not same:
        same = [p for st in corpus.studies.values() for p in st.files if p != source.path][::7]
    return same


def _stage(corpus: Corpus, source: Source, mutation: Mutation, work: Path) -> Path:
    """Write the input of a case: the mutated file, with links to its clean companions."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    st = corpus.study(source.study)
    companions: tuple[Path, ...] = ()
    if source.kind == "ct":
        companions = st.ct_run
    elif source.kind == "study":
        companions = st.files
    for path in companions:
        if path != source.path:
            (work / path.name).symlink_to(path)
    target = work / source.path.name
    target.write_bytes(mutation.data)
    return work if source.kind in ("ct", "study") else target


class Context:
    """What a worker needs: the corpus, the clean results and the clean CTs."""

    def __init__(self, corpus: Corpus, clean: dict[tuple[str, str], oracle.Fingerprint]) -> None:
        self.corpus = corpus
        self.clean = clean
        self.cts: dict[str, rtplan.Image] = {}

    def reference_ct(self, study: str) -> rtplan.Image:
        """The clean CT of a study (read once per worker)."""
        if study not in self.cts:
            self.cts[study] = rtplan.io.read_ct(list(self.corpus.study(study).ct))
        return self.cts[study]

    def read(self, source: Source, target: Path) -> Any:
        """Read a case's input the way its kind is read."""
        if source.kind == "ct":
            return rtplan.io.read_ct(target)
        if source.kind == "rtstruct":
            return rtplan.io.read_rtstruct(target, reference=self.reference_ct(source.study))
        if source.kind == "rtdose":
            return rtplan.io.read_rtdose(target)
        if source.kind == "rtplan":
            return rtplan.io.read_rtplan(target)
        return rtplan.load_study(target)

    def reference(self, source: Source, target: Path) -> oracle.Fingerprint:
        """The fingerprint the oracle decodes from a case's input."""
        if source.kind == "ct":
            return oracle.reference_ct(sorted(target.iterdir()))
        if source.kind == "rtstruct":
            grid = self.reference_ct(source.study).grid
            return oracle.reference_structures(target, grid)
        if source.kind == "rtdose":
            return oracle.reference_dose(target)
        if source.kind == "rtplan":
            return oracle.reference_plan(target)[0]
        return oracle.reference_study(target)

    def clean_key(self, source: Source) -> tuple[str, str]:
        """The key of the clean fingerprint a case compares with."""
        if source.kind in ("rtdose", "rtplan"):
            return (source.kind, str(source.path))
        return (source.kind, source.study)


def clean_fingerprints(corpus: Corpus) -> dict[tuple[str, str], oracle.Fingerprint]:
    """Read every clean input once: its fingerprint, refusing any warning.

    Raises
    ------
    AssertionError
        If a clean input reads with a warning (the outcome classes would mean nothing).
    """
    ctx = Context(corpus, {})
    out: dict[tuple[str, str], oracle.Fingerprint] = {}
    for kind in KINDS:
        seen: set[tuple[str, str]] = set()
        for source in corpus.sources[kind]:
            key = ctx.clean_key(source)
            if key in seen:
                continue
            seen.add(key)
            st = corpus.study(source.study)
            target: Path
            if kind == "ct":
                target = corpus.root / ".clean" / st.name
                if not target.exists():
                    target.mkdir(parents=True)
                    for p in st.ct_run:
                        (target / p.name).symlink_to(p)
            elif kind == "study":
                target = st.folder
            else:
                target = source.path
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = ctx.read(source, target)
            assert not caught, f"clean {kind} {target} warns: {[str(w.message) for w in caught]}"
            out[key] = oracle.fingerprint(kind, result)
    return out


def _classify(
    ctx: Context, source: Source, target: Path, result: Any, caught: Sequence[Any]
) -> tuple[str, str]:
    foreign = [w for w in caught if not issubclass(w.category, RtplanWarning)]
    if foreign:
        w = foreign[0]
        return "foreign-warning", f"{w.category.__name__}: {w.message}"
    fp = oracle.fingerprint(source.kind, result)
    changed = oracle.differences(ctx.clean[ctx.clean_key(source)], fp)
    if not changed:
        return "unchanged", f"{len(caught)} warning(s)" if caught else ""
    if caught:
        return "warned", str(caught[0].message)[:300]
    bad = oracle.implausible(fp)
    if bad is not None:
        return "silent", f"changed {changed[:4]} without warning, implausibly: {bad}"
    try:
        reference = ctx.reference(source, target)
    except Exception as exc:  # the oracle cannot decode the file: not confirmed faithful
        return "silent", (
            f"changed {changed[:4]} without warning; the oracle cannot decode the file "
            f"({type(exc).__name__}: {exc})"
        )
    mismatch = oracle.differences(reference, fp)
    if mismatch:
        return (
            "silent",
            f"changed {changed[:4]} without warning; the file says otherwise at {mismatch[:4]}",
        )
    return "faithful", f"changed {changed[:4]} as the file says"


def run_case(ctx: Context, seed: int, index: int, work: Path) -> Outcome:
    """Plan, stage, read and classify case ``index`` of ``seed``."""
    source, rng = plan_case(ctx.corpus, seed, index)
    mutation = mutate(source.path.read_bytes(), rng, _donors(ctx.corpus, source))
    target = _stage(ctx.corpus, source, mutation, work)
    start = time.perf_counter()
    message = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ctx.read(source, target)
        except RtplanError as exc:
            outcome, message = "error", f"{type(exc).__name__}: {exc}"[:300]
        except MemoryError as exc:
            outcome, message = "memory", f"MemoryError: {exc}"
        except Exception as exc:  # any other type is what the fuzzer looks for
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            outcome = "raw"
            message = f"{type(exc).__name__}: {exc} (at {Path(tb.filename).name}:{tb.lineno})"
        else:
            outcome, message = _classify(ctx, source, target, result, caught)
    return Outcome(
        index=index,
        kind=source.kind,
        study=source.study,
        file=source.path.name,
        operator=mutation.operator,
        detail=mutation.detail[:200],
        outcome=outcome,
        message=message[:500],
        seconds=time.perf_counter() - start,
    )


# ---------------------------------------------------------------------------- workers
def _limit_memory() -> None:
    """Let this process's address space grow by at most MEMORY_LIMIT_BYTES."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[0])
    now = pages * os.sysconf("SC_PAGE_SIZE")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = now + MEMORY_LIMIT_BYTES
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _worker(conn: Connection, ctx: Context, seed: int, work: Path) -> None:
    _limit_memory()
    while True:
        index = conn.recv()
        if index is None:
            return
        try:
            outcome = run_case(ctx, seed, index, work)
        except MemoryError:
            outcome = Outcome(index, "?", "?", "?", "?", "", "memory", "MemoryError in the harness")
        conn.send(outcome)


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    index: int | None = None
    deadline: float = 0.0


def _start(ctx: Context, seed: int, work: Path) -> _Slot:
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_worker, args=(child, ctx, seed, work), daemon=True
    )
    process.start()
    child.close()
    return _Slot(process, parent)


def _stop(slot: _Slot, *, gracefully: bool = False) -> None:
    if gracefully and slot.process.is_alive():
        slot.conn.send(None)
        slot.process.join(timeout=5)
    if slot.process.pid is not None and slot.process.is_alive():
        os.kill(slot.process.pid, signal.SIGKILL)
    slot.process.join(timeout=10)
    slot.conn.close()


def run(
    corpus: Corpus,
    *,
    seed: int,
    cases: int,
    workers: int = 2,
    timeout_s: float = 30.0,
    progress: Callable[[int], None] | None = None,
    context_type: type[Context] = Context,
) -> Summary:
    """Run cases ``0 .. cases - 1`` of ``seed`` over the corpus.

    Parameters
    ----------
    corpus : Corpus
    seed : int
    cases : int
        The number of mutated files to try.
    workers : int
        Worker processes.
    timeout_s : float
        A case running longer is a ``hang`` (its worker is killed and replaced).
    progress : callable, optional
        Called with the number of cases done, after each.
    context_type : type
        The :class:`Context` the workers read with (the fuzzer's own tests give one that
        misbehaves).

    Returns
    -------
    Summary
    """
    start = time.perf_counter()
    ctx = context_type(corpus, clean_fingerprints(corpus))
    for study in corpus.studies:  # read once here, shared by the forked workers
        ctx.reference_ct(study)
    pending = list(range(cases))[::-1]
    slots = [_start(ctx, seed, corpus.root / f".work{n}") for n in range(workers)]
    summary = Summary(seed=seed, cases=cases, seconds=0.0)
    try:
        while pending or any(s.index is not None for s in slots):
            for slot in slots:
                if slot.index is None and pending:
                    slot.index = pending.pop()
                    slot.deadline = time.monotonic() + timeout_s
                    slot.conn.send(slot.index)
            busy = [s for s in slots if s.index is not None]
            soonest = min(s.deadline for s in busy)
            ready = wait([s.conn for s in busy], timeout=max(0.0, soonest - time.monotonic()))
            for n, slot in enumerate(slots):
                if slot.index is None:
                    continue
                lost = ""
                if slot.conn in ready:
                    try:
                        summary.outcomes.append(slot.conn.recv())
                        slot.index = None
                    except EOFError:
                        lost = "crash"
                elif time.monotonic() > slot.deadline:
                    lost = "hang"
                if lost:
                    source, _ = plan_case(corpus, seed, slot.index)
                    summary.outcomes.append(
                        Outcome(
                            slot.index,
                            source.kind,
                            source.study,
                            source.path.name,
                            "?",
                            "",
                            lost,
                            "the worker died" if lost == "crash" else f"over {timeout_s:g} s",
                        )
                    )
                    _stop(slot)
                    slots[n] = _start(ctx, seed, corpus.root / f".work{n}")
                elif slot.index is None and progress is not None:
                    progress(len(summary.outcomes))
    finally:
        for slot in slots:
            _stop(slot, gracefully=slot.index is None)
    summary.outcomes.sort(key=lambda o: o.index)
    summary.seconds = time.perf_counter() - start
    return summary
