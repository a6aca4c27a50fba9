"""The bounded fuzz run of the test suite, and tests of the fuzzer itself.

The bounded run mutates the files of the synthetic study (:mod:`fuzz.corpus`) in 250
seeded cases; the long run over the sample studies too is ``tests/fuzz/run.py`` (see the
package docstring). A failure prints the case, which replays alone with its seed and index.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

import rtplan
from fuzz import engine, oracle
from fuzz.corpus import Corpus, Source, build_corpus
from fuzz.mutate import OPERATORS, mutate

SEED = 20261207
BOUNDED_CASES = 250


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("fuzz"), samples=False)


def test_bounded_run_has_no_raw_exception_and_no_silent_change(corpus: Corpus) -> None:
    summary = engine.run(corpus, seed=SEED, cases=BOUNDED_CASES, workers=2, timeout_s=30.0)
    assert len(summary.outcomes) == BOUNDED_CASES
    assert summary.failures == [], summary.report()
    counts = summary.counts()
    # the run means something: every class of harmless outcome occurs
    for outcome in ("error", "warned", "unchanged", "faithful"):
        assert counts[outcome] > 0, summary.report()
    assert {o.kind for o in summary.outcomes} == {"ct", "rtstruct", "rtdose", "rtplan", "study"}


def test_cases_are_reproducible(corpus: Corpus) -> None:
    for index in (0, 7, 123):
        first, rng1 = engine.plan_case(corpus, SEED, index)
        second, rng2 = engine.plan_case(corpus, SEED, index)
        assert first == second
        data = first.path.read_bytes()
        donors = engine._donors(corpus, first)
        assert mutate(data, rng1, donors) == mutate(data, rng2, donors)


def test_every_operator_mutates(corpus: Corpus) -> None:
    source = corpus.sources["rtplan"][0]
    data = source.path.read_bytes()
    seen: dict[str, bytes] = {}
    for n in range(200):
        m = mutate(data, np.random.default_rng([1, n]), engine._donors(corpus, source))
        seen.setdefault(m.operator, m.data)
    assert set(seen) == set(OPERATORS)
    assert all(d != data for d in seen.values())


# ---------------------------------------------------------------------------- the oracle
def _context(corpus: Corpus) -> engine.Context:
    return engine.Context(corpus, engine.clean_fingerprints(corpus))


def _dose_source(corpus: Corpus) -> Source:
    return next(s for s in corpus.sources["rtdose"] if s.path.name == "RD.dcm")


def test_a_changed_result_without_warning_is_silent(corpus: Corpus) -> None:
    ctx = _context(corpus)
    source = _dose_source(corpus)
    dose = rtplan.io.read_rtdose(source.path)
    outcome, message = engine._classify(ctx, source, source.path, dose.scaled(1.1), [])
    assert outcome == "silent"
    assert "the file says otherwise at ['dose.gy']" in message


def test_what_the_file_says_is_faithful(corpus: Corpus, tmp_path: Path) -> None:
    ctx = _context(corpus)
    source = _dose_source(corpus)
    ds = pydicom.dcmread(source.path)
    stored = ds.pixel_array.copy()
    stored[1, 2, 3] //= 2  # one voxel halved: a genuine file could say so
    ds.PixelData = stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    edited = tmp_path / "RD.dcm"
    ds.save_as(edited)
    dose = rtplan.io.read_rtdose(edited)
    assert engine._classify(ctx, source, edited, dose, [])[0] == "faithful"
    # the same change with a non-finite value is not plausible, whatever the file says
    broken = dose.with_array(np.where(dose.array > 1e9, 0.0, np.inf))
    outcome, message = engine._classify(ctx, source, edited, broken, [])
    assert (outcome, "implausibly" in message) == ("silent", True)


def test_the_oracle_agrees_with_the_readers_on_clean_files(corpus: Corpus) -> None:
    ctx = _context(corpus)
    study = corpus.study("synthetic")
    for kind, path in (("rtdose", study.rtdose[0]), ("rtdose", study.rtdose[1])):
        source = Source(kind, study.name, path)
        assert (
            oracle.differences(ctx.reference(source, path), ctx.clean[ctx.clean_key(source)]) == []
        )
    plan = Source("rtplan", study.name, study.rtplan or study.folder)
    assert oracle.differences(ctx.reference(plan, plan.path), ctx.clean[ctx.clean_key(plan)]) == []
    rs = Source("rtstruct", study.name, study.rtstruct)
    assert oracle.differences(ctx.reference(rs, rs.path), ctx.clean[ctx.clean_key(rs)]) == []
    whole = Source("study", study.name, study.rtstruct)
    assert (
        oracle.differences(ctx.reference(whole, study.folder), ctx.clean[("study", study.name)])
        == []
    )


# ---------------------------------------------------------------------------- the limits
class _Misbehaving(engine.Context):
    """A context whose reads fail in the ways the fuzzer must catch."""

    how = ""

    def read(self, source: Source, target: Path) -> Any:
        if self.how == "raw":
            raise KeyError("a raw exception")
        if self.how == "hang":
            time.sleep(3600)
        if self.how == "memory":
            return np.ones(2**30, dtype=np.float64)  # 8 GiB
        return super().read(source, target)


@pytest.mark.parametrize("how", ["raw", "hang", "memory"])
def test_failures_are_classified(corpus: Corpus, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Misbehaving, "how", how)
    summary = engine.run(
        corpus, seed=SEED, cases=2, workers=1, timeout_s=2.0, context_type=_Misbehaving
    )
    assert [o.outcome for o in summary.outcomes] == [how, how]
    assert all(o.failed for o in summary.outcomes)
