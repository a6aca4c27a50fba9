"""Write ``src/rtplan/_kernel_signatures.py``: the kernel signatures rtplan's flows compile.

Runs the demo (collapsed cone, DVH, rasterisation, margins, needle search), a pencil-beam
dose, a 3D gamma, and lists every kernel signature compiled or loaded on the way. The
warm-up (:mod:`rtplan._warmup`) compiles that list ahead of use. Rerun it after changing a
kernel's arguments (a signature it no longer matches is skipped, and then compiled on
first use as before)::

    python benchmarks/startup/record_signatures.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

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
    import numpy as np

    import rtplan
    from rtplan._jit import KERNELS, signature_text
    from rtplan.report import run_demo

    with tempfile.TemporaryDirectory() as tmp:
        run_demo(tmp)
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
    for key, dispatcher in sorted(KERNELS.items()):
        sigs = [signature_text(tuple(s)) for s in dispatcher.signatures]
        kept = sorted({s for s in sigs if s is not None})
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


if __name__ == "__main__":
    main()
