"""Where the first run's time goes: numba compilations of ``rtplan demo``, one row each.

Runs the demo in this process with numba's compile events recorded and prints, per
compiled function and signature, the wall time of its compilation excluding the
compilations it triggered (callees compiled on the way), largest first. Run it with an
empty ``NUMBA_CACHE_DIR`` to see what a new installation compiles::

    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/startup/compile_profile.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict

import numba.core.event as ev


class _Nested(ev.Listener):
    """Inclusive and exclusive compile times per (function, signature)."""

    def __init__(self) -> None:
        self.stack: list[list[object]] = []
        self.rows: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])

    def on_start(self, event: ev.Event) -> None:
        self.stack.append([event.data, time.perf_counter(), 0.0])

    def on_end(self, event: ev.Event) -> None:
        data, t0, child = self.stack.pop()
        took = time.perf_counter() - float(t0)  # type: ignore[arg-type]
        disp = data["dispatcher"]  # type: ignore[index]
        name = f"{disp.py_func.__module__}.{disp.py_func.__qualname__}"
        sig = ", ".join(str(a) for a in data["args"])  # type: ignore[index]
        row = self.rows[(name, sig)]
        row[0] += took
        row[1] += took - float(child)  # type: ignore[arg-type]
        row[2] += 1
        if self.stack:
            self.stack[-1][2] = float(self.stack[-1][2]) + took  # type: ignore[arg-type]


def main() -> None:
    """Run the demo, print the compilations."""
    listener = _Nested()
    ev.register("numba:compile", listener)
    from rtplan.report import run_demo

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(tmp)
    total = time.perf_counter() - t0
    rows = sorted(listener.rows.items(), key=lambda kv: -kv[1][1])
    excl = sum(r[1] for _, r in rows)
    print(f"demo {total:.1f} s, of which compiling {excl:.1f} s ({len(rows)} specialisations)")
    for (name, sig), (incl, ex, n) in rows:
        print(f"{ex:7.2f} s excl {incl:7.2f} s incl  x{n}  {name}({sig[:90]})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
