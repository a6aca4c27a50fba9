"""Write ``src/rtplan/_kernel_signatures.py``: the kernel signatures rtplan's flows compile.

Runs the demo (collapsed cone, DVH, rasterisation, margins, needle search), a pencil-beam
dose, a 3D gamma, and lists every kernel signature compiled or loaded on the way. The
warm-up (:mod:`rtplan._warmup`) compiles that list ahead of use, in the list's order.

The order follows a first ``rtplan demo``, which starts the warm-up as it starts: the
demo's kernels in the order the demo first needs them, by *group* (an entry kernel and
the kernels compiled with it), except that the leading groups, up to a third of the demo's
compilation time, come last: the command compiles those itself (nothing can be ready
before it needs them) while the warm-up compiles the next ones and stays ahead of it.
Then the kernels the demo does not use. To see the order and the times, the script
compiles everything in an empty numba cache of its own (a few minutes). Rerun it after
changing a kernel's arguments (a signature it no longer matches is skipped, and then
compiled on first use as before)::

    python benchmarks/startup/record_signatures.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "src" / "rtplan" / "_kernel_signatures.py"

HEADER = '''# ruff: noqa: E501
"""Kernel signatures compiled ahead of use by :mod:`rtplan._warmup` (generated file).

Written by ``benchmarks/startup/record_signatures.py`` from the signatures that the demo, a
pencil-beam dose and a 3D gamma compile: ``"module:qualname"`` of each kernel to its
signatures in numba's syntax.
"""

from __future__ import annotations

SIGNATURES: dict[str, list[str]] = '''


def main() -> None:
    """Run the flows and write the list."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache  # before numba is imported: compile everything
        os.environ["RTPLAN_WARMUP"] = "0"
        _record()


def _record() -> None:
    import numpy as np

    import rtplan
    from rtplan._jit import KERNELS, signature_text
    from rtplan.report import run_demo

    groups = _compile_groups()
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(tmp)
    demo_order = _warm_up_order([(list(keys), cpu) for keys, cpu in groups])
    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    plan = rtplan.Plan.conformal(
        study.structures["PTV"], gantry_angles_deg=[0, 120, 240], energy="6X",
        prescription_gy=50.0, fractions=25,
    )  # fmt: skip
    pb = rtplan.compute_dose(plan, study.ct, engine="pencil-beam", grid_mm=5.0)
    ax = [np.arange(-20.0, 20.1, 2.5)] * 3
    ref = np.exp(-sum(g**2 for g in np.meshgrid(*ax, indexing="ij")) / 200.0)
    rtplan.gamma(ref, np.roll(ref, 1), 2, 2, 10, reference_axes_mm=ax, evaluated_axes_mm=ax)
    rtplan.gamma(pb, pb, 3, 3, 10)
    out: dict[str, list[str]] = {}
    rank = {key: i for i, key in enumerate(demo_order)}
    for key in sorted(KERNELS, key=lambda k: (rank.get(k, len(rank)), k)):
        texts = [signature_text(tuple(s)) for s in KERNELS[key].signatures]
        kept = sorted({t for t in texts if t is not None})
        if kept:
            out[key] = kept
    lines = ["{"]
    for key, sigs in out.items():
        lines.append(f'    "{key}": [')
        lines.extend(f'        "{sig}",' for sig in sigs)
        lines.append("    ],")
    lines.append("}")
    TARGET.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"{sum(len(v) for v in out.values())} signatures of {len(out)} kernels -> {TARGET}")


def _warm_up_order(groups: list[tuple[list[str], float]]) -> list[str]:
    """The demo's kernels in warm-up order (module docstring) from its compile groups."""
    total = sum(cpu for _, cpu in groups)
    lead, spent = 1, groups[0][1] if groups else 0.0
    while lead < len(groups) and spent + groups[lead][1] <= total / 3.0:
        spent += groups[lead][1]
        lead += 1
    order: list[str] = []
    for keys, _ in groups[lead:] + groups[:lead]:
        order.extend(k for k in keys if k not in order)
    return order


def _compile_groups() -> list[tuple[list[str], float]]:
    """A list that fills with the compile groups in order: (kernels, CPU seconds).

    A group is an entry kernel whose compilation starts outside any other (an rtplan
    kernel called from Python), with the rtplan kernels first compiled during it.
    """
    import time

    import numba.core.event as ev

    groups: list[tuple[list[str], float]] = []
    seen: set[str] = set()
    depth = [0, 0.0]

    class Listener(ev.Listener):
        def on_start(self, event: Any) -> None:
            fn = event.data["dispatcher"].py_func
            key = f"{fn.__module__}:{fn.__qualname__}"
            if depth[0] == 0:
                groups.append(([], 0.0))
                depth[1] = time.process_time()
            depth[0] += 1
            if key.startswith("rtplan.") and key not in seen:
                seen.add(key)
                groups[-1][0].append(key)

        def on_end(self, event: Any) -> None:
            depth[0] -= 1
            if depth[0] == 0:
                keys, _ = groups[-1]
                groups[-1] = (keys, time.process_time() - float(depth[1]))
                if not keys:
                    groups.pop()

    ev.register("numba:compile", Listener())  # type: ignore[no-untyped-call]
    return groups


if __name__ == "__main__":
    main()
