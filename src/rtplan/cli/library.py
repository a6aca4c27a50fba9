"""Index a folder of studies into a library; find similar cases; population statistics.

rtplan library index ROOT --db PATH [--workers N | --scheduler ADDR] [--json]: walk ROOT,
group its DICOM files into studies and record them, with their features, in the DuckDB
file PATH (unchanged studies are skipped; a run that was stopped finishes what is
missing). rtplan library similar STUDY --db PATH [-k K] [--goals] [--json]: the K most
similar studies of the library, and with --goals the organ goals their plans suggest.
rtplan library stats --db PATH --by sex,age [-o report.html] [--csv F] [--json]: tissue
features by group. rtplan library export --db PATH -o FOLDER: every table as Parquet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rtplan.cli._output import add_output_arguments, emit
from rtplan.cli._parsing import verbosity_options

if TYPE_CHECKING:
    from rtplan.library import IndexSummary, Progress

__all__ = ["ProgressBar", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the subcommands of ``rtplan library``."""
    sub = parser.add_subparsers(dest="library_command", metavar="ACTION", required=True)
    db_help = "the library database (a DuckDB file)"

    p = sub.add_parser("index", parents=[verbosity_options()], help="index a folder of studies")
    p.add_argument("root", type=Path, metavar="ROOT", help="folder of DICOM files (any layout)")
    p.add_argument(
        "--db", type=Path, required=True, metavar="PATH", help=db_help + "; created if needed"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of a local Dask cluster",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="a running Dask scheduler, tcp://host:8786",
    )
    p.add_argument("--memory-limit", default="2GiB", help="memory per local worker (2GiB)")
    p.add_argument(
        "--features", default=None, help="comma-separated features to compute (default all)"
    )
    p.add_argument(
        "--keep-identifiers",
        action="store_true",
        help="also store patient IDs, names and UIDs (not stored by default)",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="try again unchanged studies that failed"
    )
    add_output_arguments(p)
    p.set_defaults(library_run=_index)

    p = sub.add_parser("similar", parents=[verbosity_options()], help="find similar studies")
    p.add_argument("study", metavar="STUDY", help="a study folder (indexed or not) or study key")
    p.add_argument("--db", type=Path, required=True, metavar="PATH", help=db_help)
    p.add_argument("-k", type=int, default=5, metavar="K", help="number of cases (5)")
    p.add_argument(
        "--goals", action="store_true", help="also the organ goals similar plans achieved"
    )
    p.add_argument(
        "--prescription-gy", type=float, default=None, help="prescription of the new plan"
    )
    add_output_arguments(p)
    p.set_defaults(library_run=_similar)

    p = sub.add_parser("stats", parents=[verbosity_options()], help="population statistics")
    p.add_argument("--db", type=Path, required=True, metavar="PATH", help=db_help)
    p.add_argument("--by", default="sex,age", help="groupings: sex, age, site, position")
    p.add_argument("--features", default=None, help="comma-separated features")
    p.add_argument("-o", "--output", type=Path, default=None, help="HTML report to write")
    p.add_argument("--csv", type=Path, default=None, help="write the table as CSV")
    p.add_argument("--parquet", type=Path, default=None, help="write the table as Parquet")
    add_output_arguments(p)
    p.set_defaults(library_run=_stats)

    p = sub.add_parser("export", parents=[verbosity_options()], help="export as Parquet")
    p.add_argument("--db", type=Path, required=True, metavar="PATH", help=db_help)
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the files")
    add_output_arguments(p)
    p.set_defaults(library_run=_export)


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; status 0."""
    return int(args.library_run(args))


# ---------------------------------------------------------------------------- progress
class ProgressBar:
    """Progress of an index run on a stream: a bar on a terminal, plain lines otherwise.

    Parameters
    ----------
    stream : file object
        Usually ``sys.stderr``.
    every_s : float
        Seconds between plain lines (not on a terminal).
    """

    def __init__(self, stream: TextIO, every_s: float = 10.0) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every_s = every_s
        self.last = -1e9
        self.phase = ""

    def __call__(self, p: Progress) -> None:
        """Show ``p`` (a plain line at most every ``every_s`` seconds off a terminal)."""
        now = time.monotonic()
        final = p.done >= p.total
        if p.phase != self.phase:
            self.phase = p.phase
            self.last = -1e9
        if not self.tty and not final and now - self.last < self.every_s:
            return
        self.last = now
        what = "files" if p.phase == "scan" else "studies"
        rate = 60.0 * p.done / p.elapsed_s if p.elapsed_s > 0 else 0.0
        left = (p.total - p.done) / (rate / 60.0) if rate > 0 else 0.0
        failed = f", {p.failed} failed" if p.failed else ""
        text = (
            f"{p.phase}: {p.done}/{p.total} {what} ({rate:.0f}/min{failed}, "
            f"{_clock(p.elapsed_s)} elapsed, {_clock(left)} left)"
        )
        if self.tty:
            width = 28
            filled = int(width * p.done / p.total) if p.total else width
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


# ---------------------------------------------------------------------------- actions
def _format_summary(s: IndexSummary) -> str:
    lines = [
        f"Library {s.db}: {s.studies} readable studies ({s.failed_total} unreadable)",
        f"Indexed {s.root}: {s.added} added, {s.skipped} unchanged, {s.failed} failed, "
        f"{s.removed} removed; {s.files} files ({s.unreadable_files} unreadable)",
        f"{s.seconds:.1f} s on {s.workers} worker(s)"
        + (f" at {s.scheduler}" if s.scheduler else ""),
    ]
    if s.failed:
        lines.append(
            "Why studies failed: SELECT folder, error FROM studies WHERE status = 'failed' "
            "(duckdb " + s.db + ")"
        )
    return "\n".join(lines)


def _index(args: argparse.Namespace) -> int:
    from rtplan.library import index

    summary = index(
        args.root,
        args.db,
        workers=args.workers,
        scheduler=args.scheduler,
        features=_names(args.features),
        keep_identifiers=args.keep_identifiers,
        retry_failed=args.retry_failed,
        memory_limit=args.memory_limit,
        progress=ProgressBar(sys.stderr),
    )
    emit(args, [_format_summary(summary)], summary.to_dict())
    return 0


def _similar(args: argparse.Namespace) -> int:
    from rtplan.library import Library, predict_goals, similar

    with Library(args.db) as lib:
        cases = similar(args.study, lib, k=args.k)
        goals = (
            predict_goals(args.study, lib, prescription_gy=args.prescription_gy)
            if args.goals
            else None
        )
    if args.json or args.quiet:
        out: Any = [c.to_dict() for c in cases]
        if goals is not None:
            out = {"cases": out, "goals": goals.to_dict()}
        emit(args, [], out)
        return 0
    from rtplan.report import text_table

    rows = [
        [str(i + 1), f"{c.distance:.2f}", c.site or "-", _num(c.target_volume_cc),
         "yes" if c.has_dose else "no", ", ".join(d.feature for d in c.drivers[:3]), c.folder]
        for i, c in enumerate(cases)
    ]  # fmt: skip
    print(f"The {len(cases)} studies of {args.db} most similar to {args.study}:")
    print(
        text_table(
            ["#", "distance", "site", "target cm³", "dose", "driven by", "folder"],
            rows,
            right={0, 1, 3},
        )
    )
    if goals is not None:
        print("Organ goals achieved by similar plans (Wu et al. 2009):")
        print("\n".join(goals.goals) if goals.goals else "(no prior plan qualifies)")
    return 0


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _stats(args: argparse.Namespace) -> int:
    from rtplan.library import (
        DEFAULT_STATS_FEATURES,
        population_stats,
        write_population_report,
    )

    features = _names(args.features) or list(DEFAULT_STATS_FEATURES)
    stats = population_stats(args.db, by=_names(args.by) or [], features=features)
    if args.output is not None:
        write_population_report(stats, args.output)
    if args.csv is not None:
        stats.to_csv(args.csv)
    if args.parquet is not None:
        stats.to_parquet(args.parquet)
    if args.json or args.quiet:
        emit(args, [], stats.to_dict())
        return 0
    from rtplan.report import text_table

    cols = [*stats.by, "feature", "unit", "n", "mean", "sd", "median"]
    rows = [[_cell(r.get(c)) for c in cols] for r in stats.rows]
    print(text_table(cols, rows, right={len(stats.by) + 2, len(stats.by) + 3,
                                        len(stats.by) + 4, len(stats.by) + 5}))  # fmt: skip
    if args.output is not None:
        print(f"report: {args.output}")
    return 0


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _export(args: argparse.Namespace) -> int:
    from rtplan.library import open_library

    with open_library(args.db) as lib:
        paths = lib.export_parquet(args.output)
    emit(args, [str(p) for p in paths], {"files": [str(p) for p in paths]})
    return 0
