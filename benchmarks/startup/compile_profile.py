"""Where the first run's time goes: numba compilations of ``rtplan demo``, one row each.

Runs ``rtplan demo`` (its command-line entry, as a user does: it starts the background
warm-up of a new installation unless ``RTPLAN_WARMUP=0``) in this process with numba's
compile events recorded and prints, per
compiled function and signature, the wall and CPU time of its compilation excluding the
compilations it triggered (callees compiled on the way), largest first, then the whole
process's wall and CPU time. Run it with an empty ``NUMBA_CACHE_DIR`` to see what a new
installation compiles, and again with the same folder for the warm figures::

    NUMBA_CACHE_DIR=$(mktemp -d) RTPLAN_WARMUP=0 python benchmarks/startup/compile_profile.py

``--json FILE`` writes the rows and totals; ``--keep DIR`` keeps the demo's output folder
(to compare the results of two versions).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numba.core.event as ev


class _Nested(ev.Listener):
    """Inclusive and exclusive compile times (wall, CPU) per (function, signature)."""

    def __init__(self) -> None:
        self.stack: list[list[float | object]] = []
        # wall incl, wall excl, cpu incl, cpu excl, count
        self.rows: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 5)

    def on_start(self, event: ev.Event) -> None:
        self.stack.append([event.data, time.perf_counter(), time.process_time(), 0.0, 0.0])

    def on_end(self, event: ev.Event) -> None:
        data, t0, c0, child_wall, child_cpu = self.stack.pop()
        took = time.perf_counter() - float(t0)  # type: ignore[arg-type]
        cpu = time.process_time() - float(c0)  # type: ignore[arg-type]
        disp = data["dispatcher"]  # type: ignore[index]
        name = f"{disp.py_func.__module__}.{disp.py_func.__qualname__}"
        sig = ", ".join(str(a) for a in data["args"])  # type: ignore[index]
        row = self.rows[(name, sig)]
        row[0] += took
        row[1] += took - float(child_wall)  # type: ignore[arg-type]
        row[2] += cpu
        row[3] += cpu - float(child_cpu)  # type: ignore[arg-type]
        row[4] += 1
        if self.stack:
            self.stack[-1][3] = float(self.stack[-1][3]) + took  # type: ignore[arg-type]
            self.stack[-1][4] = float(self.stack[-1][4]) + cpu  # type: ignore[arg-type]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Run the demo, print the compilations."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", type=Path, help="write the rows and totals here")
    ap.add_argument("--keep", type=Path, help="keep the demo's output in this folder")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), _cpu_s()
    listener = _Nested()
    ev.register("numba:compile", listener)  # type: ignore[no-untyped-call]
    from rtplan.cli.main import main as rtplan

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep if args.keep is not None else Path(tmp) / "demo"
        rtplan(["demo", "-q", "-o", str(out)])
    total, cpu = time.perf_counter() - t0, _cpu_s() - c0
    from rtplan import _jit

    # (an older tree, measured with --src-like PYTHONPATH, has no claims: nan)
    waited = float(getattr(getattr(_jit, "_CLAIMS", None), "waited_s", float("nan")))
    rows = sorted(listener.rows.items(), key=lambda kv: -kv[1][3])
    excl = sum(r[1] for _, r in rows)
    excl_cpu = sum(r[3] for _, r in rows)
    compiled = [(k, r) for k, r in rows if r[3] > 0.05]
    print(
        f"demo {total:.1f} s wall, {cpu:.1f} s CPU (load {load0:.1f} -> "
        f"{os.getloadavg()[0]:.1f}); compiling {excl:.1f} s wall, {excl_cpu:.1f} s CPU "
        f"({len(rows)} specialisations, {len(compiled)} above 0.05 s CPU); "
        f"waited {waited:.1f} s for the background warm-up"
    )
    for (name, sig), (_, ex, incl_cpu, ex_cpu, n) in rows:
        print(
            f"{ex_cpu:7.2f} s CPU excl {incl_cpu:7.2f} incl {ex:7.2f} wall x{n:.0f}  "
            f"{name}({sig[:80]})"
        )
    if args.json is not None:
        doc = {
            "wall_s": round(total, 2),
            "cpu_s": round(cpu, 2),
            "load_start": round(load0, 2),
            "load_end": round(os.getloadavg()[0], 2),
            "compile_wall_s": round(excl, 2),
            "compile_cpu_s": round(excl_cpu, 2),
            "waited_for_warm_up_s": round(waited, 2),
            "rows": [
                {
                    "function": name,
                    "signature": sig,
                    "cpu_excl_s": round(r[3], 3),
                    "cpu_incl_s": round(r[2], 3),
                    "wall_excl_s": round(r[1], 3),
                }
                for (name, sig), r in rows
                if r[3] > 0.005
            ],
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
