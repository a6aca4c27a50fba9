"""The long fuzz run: ``.venv/bin/python tests/fuzz/run.py --cases 5000 --seed 12``.

Builds the corpus (the synthetic study and the sample studies) in a temporary folder, runs
the cases in worker processes and prints the figures: files tried, outcomes per class, per
kind of file and per mutation operator, and every failure. Exits 1 if any case failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the fuzz package

from fuzz.corpus import Corpus, build_corpus
from fuzz.engine import Context, clean_fingerprints, run, run_case


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer and print its figures; 0 when no case failed."""
    parser = argparse.ArgumentParser(prog="tests/fuzz/run.py", description=__doc__)
    parser.add_argument("--cases", type=int, default=5000, help="mutated files to try")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    parser.add_argument(
        "--synthetic-only", action="store_true", help="leave out the sample studies"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--show", action="append", default=[], help="also list the cases of this outcome"
    )
    parser.add_argument(
        "--replay",
        type=int,
        nargs="+",
        metavar="INDEX",
        help="run only these cases of the seed, one after the other in this process, and "
        "print each outcome and its time (a hang on a loaded machine, a failure to debug)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rtplan-fuzz-") as tmp:
        corpus = build_corpus(Path(tmp), samples=not args.synthetic_only)
        if args.replay:
            return _replay(corpus, args.seed, args.replay, Path(tmp))
        step = max(1, args.cases // 20)

        def progress(done: int) -> None:
            if done % step == 0:
                print(f"  {done}/{args.cases} cases", file=sys.stderr, flush=True)

        summary = run(
            corpus,
            seed=args.seed,
            cases=args.cases,
            workers=args.workers,
            timeout_s=args.timeout,
            progress=progress,
        )
    print(summary.report())
    for outcome in args.show:
        for case in summary.outcomes:
            if case.outcome == outcome:
                print("  " + case.line())
    if args.json is not None:
        args.json.write_text(json.dumps(summary.as_dict(), indent=2))
    return 1 if summary.failures else 0


def _replay(corpus: Corpus, seed: int, indices: list[int], tmp: Path) -> int:
    """Run cases alone, in this process; 1 if one failed."""
    ctx = Context(corpus, clean_fingerprints(corpus))
    failed = False
    for index in indices:
        work = tmp / f"replay{index}"
        work.mkdir()
        start = time.perf_counter()
        outcome = run_case(ctx, seed, index, work)
        print(f"{time.perf_counter() - start:6.1f} s  {outcome.line()}")
        failed = failed or outcome.failed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
