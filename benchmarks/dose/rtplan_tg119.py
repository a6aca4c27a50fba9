"""rtplan side of the dose benchmark, on the TG119 phantom exported by ``prp_tg119.py``.

Usage (rtplan's own environment)::

    python benchmarks/dose/rtplan_tg119.py --grid-mm 5 --data /tmp/bench

Same CT (TG119 of pyRadPlan, HU), same 5 coplanar 6 MV beams (gantry 0, 72, 144, 216,
288 deg, isocentre of pyRadPlan's plan), apertures shaped to the target ("OuterTarget")
with 5 mm MLC leaves and a 5 mm margin (pyRadPlan's 5 mm bixels cover the target's
projection), same dose-grid spacing. For each rtplan engine it times ``compute_dose``
(wall clock, and process CPU time of all threads) after one warm-up run that compiles the
numba kernels and loads the machine data, as pyRadPlan's timing excludes its imports (the
minimum of ``--repeat`` runs, the machine being shared), and records the peak memory of a
further run (untimed, as tracemalloc slows it): the peak RSS above the RSS before it, and
the tracemalloc peak. It also compares the shape of the dose with pyRadPlan's
uniform-fluence dose (both normalised to their mean over the target).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

import rtplan


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1]) / 1024.0
    return float("nan")


def _rss_mib() -> float:
    """Resident set size now, after handing freed heap memory back to the system.

    Also restarts the kernel's peak (VmHWM) from here, so that the peak of the next
    calculation is measured from pages it really adds (not ones reused from earlier runs).
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc: release free heap pages
    with contextlib.suppress(OSError):  # reset VmHWM (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


def _peak_rss_mib() -> float:
    """Peak resident set size since the last :func:`_rss_mib` (or of the process)."""
    hwm = _status_mib("VmHWM")
    if hwm == hwm:  # not NaN
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid-mm", type=float, default=5.0)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--engines", default="pencil-beam,collapsed-cone")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (the minimum counts)")
    args = parser.parse_args()
    d = np.load(args.data / "tg119.npz")
    sx, sy, sz = (float(v) for v in d["spacing_xyz"])
    grid = rtplan.Grid(
        shape=d["hu"].shape, spacing_mm=(sz, sy, sx), origin_mm=tuple(d["origin_xyz"])
    )
    ct = rtplan.Image(array=d["hu"], grid=grid, units="HU", patient_position="HFS")
    target = rtplan.Structure.from_mask(d["outer_target"], grid, name="OuterTarget")
    plan = rtplan.Plan.conformal(
        target,
        gantry_angles_deg=[float(g) for g in d["gantry"]],
        prescription_gy=1.0,
        margin_mm=5.0,
        isocenter_mm=[float(v) for v in d["isocenter"]],
        normalization="mean",
    )
    mask_ct = d["outer_target"]
    prp = d["prp_dose"].astype(float)
    prp /= prp[mask_ct].mean()
    body = d["body"]
    reports = []
    for engine in args.engines.split(","):
        rtplan.compute_dose(plan, ct, engine=engine, grid_mm=args.grid_mm, target=target)
        times = []
        cpu = []
        for _ in range(args.repeat):
            c0 = time.process_time()
            t0 = time.perf_counter()
            rtplan.compute_dose(plan, ct, engine=engine, grid_mm=args.grid_mm, target=target)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        rss0 = _rss_mib()
        tracemalloc.start()
        dose = rtplan.compute_dose(plan, ct, engine=engine, grid_mm=args.grid_mm, target=target)
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak = _peak_rss_mib()
        elapsed = min(times)
        ours = dose.resample(grid, order=1, fill_value=0.0).array.astype(float)
        ours /= ours[mask_ct].mean()
        high = body & ((ours > 0.5) | (prp > 0.5))
        report = {
            "tool": f"rtplan {rtplan.__version__} {engine}",
            "grid_mm": args.grid_mm,
            "dose_grid_shape": list(dose.grid.shape),
            "beams": len(plan.beams),
            "total_s": elapsed,
            "all_runs_s": times,
            "cpu_s": min(cpu),
            "all_runs_cpu_s": cpu,
            "peak_rss_increase_mib": max(0.0, peak - rss0),
            "tracemalloc_peak_mib": traced / 2**20,
            "mean_abs_diff_vs_pyradplan_above_50pct": float(np.mean(np.abs(ours - prp)[high])),
        }
        reports.append(report)
        print(json.dumps(report, indent=2))
    out = args.data / f"rtplan_{args.grid_mm:g}mm.json"
    out.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
