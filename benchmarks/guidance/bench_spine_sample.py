"""Needle trajectory search on the bundled ``spine_metastasis`` sample: first call and warm.

Usage::

    python benchmarks/guidance/bench_spine_sample.py [--repeats N] [--save results.npz]
    python benchmarks/guidance/bench_spine_sample.py --compare results.npz

Runs the README's search (GTV, avoiding the spinal canal and both kidneys by 3 mm, needle
at most 150 mm, posterior approach) on the sample study. The *first call* is the first
search in a fresh process (numba kernels loaded from their on-disk cache, lazy imports,
the structures' masks rasterised); *warm* is the best of ``--repeats`` further calls.

``--save`` writes every candidate's verdict and score and the returned paths to an
``.npz`` file; ``--compare`` checks that a run gives identical results (used to check
that a refactoring of the search changes nothing).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

import rtplan


def _search(study: Any) -> Any:
    s = study.structures
    return rtplan.plan_trajectory(
        study.ct,
        target=s["GTV"],
        avoid=[s["SpinalCanal"], s["Kidney_L"], s["Kidney_R"]],
        clearance_mm=3.0,
        max_length_mm=150.0,
        approach="posterior",
    )


def _arrays(res: Any) -> dict[str, np.ndarray]:
    acc = res.accessibility
    out = {
        "points_mm": acc.points_mm,
        "feasible": acc.feasible,
        "score": acc.score,
        "reason": acc.reason.astype(str),
        "entries_mm": np.array([t.entry_mm for t in res]),
        "targets_mm": np.array([t.target_mm for t in res]),
        "scores": np.array([t.score for t in res]),
        "incidence": np.array(
            [np.nan if t.cortex_incidence_deg is None else t.cortex_incidence_deg for t in res]
        ),
    }
    for name in res.avoided:
        out[f"clearance:{name}"] = np.array([t.clearance_mm[name] for t in res])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--save", type=Path, default=None)
    parser.add_argument("--compare", type=Path, default=None)
    args = parser.parse_args(argv)
    study = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    t0 = time.perf_counter()
    res = _search(study)
    first = time.perf_counter() - t0
    warm = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = _search(study)
        warm = min(warm, time.perf_counter() - t0)
    acc = res.accessibility
    print(
        f"python {platform.python_version()}, numba {numba.__version__} "
        f"({numba.get_num_threads()} threads), {platform.machine()}"
    )
    print(
        f"spine_metastasis: {acc.points_mm.shape[0]} candidates, {acc.n_feasible} feasible; "
        f"first call {first:.2f} s, warm {warm:.2f} s (best of {args.repeats})"
    )
    print(f"best: {res[0]!r}")
    arrays = _arrays(res)
    if args.save is not None:
        np.savez(args.save, **arrays)
    if args.compare is not None:
        ref = np.load(args.compare)
        bad = [
            k
            for k in sorted(set(ref.files) | set(arrays))
            if k not in ref.files
            or k not in arrays
            or not np.array_equal(ref[k], arrays[k], equal_nan=ref[k].dtype.kind == "f")
        ]
        print("identical to the reference" if not bad else f"DIFFERENT: {bad}")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
