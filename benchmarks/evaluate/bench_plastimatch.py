"""rtplan against plastimatch: the DVH of every ROI and 3D gamma, on the same files.

The study is the real-size synthetic one of :mod:`synthetic` (RT Structure Set of 11
ROIs contoured on 2.5 mm CT slices, RT Doses of 100 x 130 x 200 voxels of 2.5 mm). Both
tools read the same DICOM files.

DVH
    * plastimatch: ``plastimatch dvh --input DIR`` on a folder holding only the RTSTRUCT
      and the plan RTDOSE (it does not use a CT for the DVH; leaving the CT out saves it
      scanning 100 files), 0.01 Gy bins, voxel counts. One process computes every ROI; its
      time includes reading both files, rasterising (512 x 512 per contour plane) and
      resampling the dose onto the raster.
    * rtplan, two times: the DVHs alone (``rtplan.dvh`` for each ROI, the files read
      beforehand, as in ``bench_dvh.py``) and end to end (``read_rtstruct`` +
      ``read_rtdose`` + the DVHs), which is what the plastimatch process does.
    * Accuracy: volume, mean dose and D95 of each against the independent reference of
      ``bench_dvh.py`` (read from ``results_dvh.json``, which the same deterministic study
      produced, or recomputed with ``--truth``).

Gamma
    * plastimatch: ``plastimatch gamma REF EVAL --dose-tolerance 0.03 --dta-tolerance 3
      --analysis-threshold 0.1 --ref-only-threshold --gamma-max 2`` (global, normalised to
      the reference maximum), with ``--interp-search`` (the setting whose pass rates agree
      with rtplan's; see ``tests/evaluate/test_plastimatch_peer.py``) and without it (the
      voxel-centre lattice only, fast but biased). Its time includes reading both files.
    * rtplan: ``rtplan.gamma(ref, ev, 3, 3, 10, max_gamma=2)`` on the doses read with
      ``read_rtdose`` (reading timed apart), full map and ``stop_at_pass=True``.

Timings are the best of ``--repeat`` runs (plastimatch with ``--interp-search``: one run).
CPU times count all threads (rtplan's kernels use 2) and, for plastimatch, the child
process. The load average of the machine is recorded before and after.

Usage: ``python benchmarks/evaluate/bench_plastimatch.py [--study DIR]
[--out results_plastimatch.json] [--repeat 3] [--criteria 3,3 2,2] [--truth]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[2] / "tests"))
import synthetic

from plastimatch_helpers import dvh_args, read_dvh, read_gamma_report

BIN_GY = 0.01


def plastimatch_exe() -> str:
    exe = shutil.which("plastimatch")
    if exe is None:
        raise SystemExit(
            "plastimatch is not installed (Debian/Ubuntu: apt-get install plastimatch)"
        )
    return exe


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_plastimatch(args: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one plastimatch run, and its log."""
    c0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [plastimatch_exe(), *args], capture_output=True, text=True, check=False, timeout=3600
    )
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if done.returncode != 0:
        raise RuntimeError(f"plastimatch {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr}")
    return wall, cpu, done.stdout


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall-clock and best CPU time (this process, all threads) of ``repeat`` calls."""
    best, best_cpu, out = math.inf, math.inf, None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, out


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ----------------------------------------------------------------------------- DVH
def plastimatch_dvh(folder: Path, max_dose_gy: float) -> tuple[float, float, dict[str, Any]]:
    """Run ``plastimatch dvh`` on a folder; per ROI volume (cm³), mean and D95 (Gy)."""
    wall, cpu, log = run_plastimatch(dvh_args(folder, max_dose_gy, BIN_GY))
    dvhs, spacing = read_dvh(folder, log, BIN_GY)
    out: dict[str, Any] = {"raster_spacing_mm": spacing}
    for name, pm in dvhs.items():
        out[name] = {"volume_cc": pm.volume_cc, "mean_gy": pm.mean_gy, "d95_gy": pm.D(95)}
    return wall, cpu, out


def dvh_truth(paths: dict[str, Path], use_saved: bool) -> dict[str, dict[str, float]]:
    """The independent reference of bench_dvh.py (volume, mean, D95 per ROI)."""
    saved = Path(__file__).with_name("results_dvh.json")
    if use_saved and saved.exists():
        rows = json.loads(saved.read_text())["rows"]
        return {r["roi"]: r["truth"] for r in rows}
    import bench_dvh
    import pydicom
    from scipy.interpolate import RegularGridInterpolator

    rs = pydicom.dcmread(paths["rtstruct"])
    rd = pydicom.dcmread(paths["rtdose"])
    arr = rd.pixel_array.astype(np.float64) * float(rd.DoseGridScaling)
    interp = RegularGridInterpolator(
        synthetic.dose_axes(), arr, bounds_error=False, fill_value=None
    )
    rng = np.random.default_rng(20260101)  # the seed of bench_dvh.py
    out = {}
    for name, planes in bench_dvh.roi_planes(rs).values():
        t = bench_dvh.truth(planes, interp, rng)
        out[name] = {k: v for k, v in t.items() if k != "sorted"}
    return out


def bench_dvh(paths: dict[str, Path], repeat: int, use_saved_truth: bool) -> dict[str, Any]:
    import rtplan
    from rtplan.evaluate import dvh

    def read_all() -> tuple[Any, Any]:
        return rtplan.io.read_rtstruct(paths["rtstruct"]), rtplan.io.read_rtdose(paths["rtdose"])

    structures, dose = read_all()
    dvh(dose, list(structures)[-1])  # compile or load the kernels

    def dvhs(structures: Any = structures, dose: Any = dose) -> dict[str, Any]:
        return {s.name: dvh(dose, s) for s in structures}

    def end_to_end() -> dict[str, Any]:
        ss, d = read_all()
        return dvhs(ss, d)

    t_calc, c_calc, ours = best_of(dvhs, repeat)
    t_all, c_all, _ = best_of(end_to_end, repeat)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(paths["rtstruct"], folder / "RS.dcm")
        shutil.copy(paths["rtdose"], folder / "RD.dcm")
        runs = [plastimatch_dvh(folder, float(np.max(dose.array))) for _ in range(repeat)]
    t_pm = min(r[0] for r in runs)
    c_pm = min(r[1] for r in runs)
    theirs = runs[0][2]
    truth = dvh_truth(paths, use_saved_truth)
    rows = []
    for name, h in ours.items():
        tv, pm = truth[name], theirs[name]
        row = {
            "roi": name,
            "truth": tv,
            "rtplan": {"volume_cc": h.volume_cc, "mean_gy": h.mean_gy, "d95_gy": h.D95},
            "plastimatch": pm,
        }
        rows.append(row)
        line = f"{name:8s} {tv['volume_cc']:9.3f} cc |"
        for tool in ("rtplan", "plastimatch"):
            r = row[tool]
            line += (
                f" {tool:11s} dV {100 * (r['volume_cc'] / tv['volume_cc'] - 1):+6.2f}%"
                f" dMean {r['mean_gy'] - tv['mean_gy']:+6.3f} Gy"
                f" dD95 {r['d95_gy'] - tv['d95_gy']:+6.3f} Gy |"
            )
        print(line, flush=True)
    result = {
        "rows": rows,
        "raster_spacing_mm": theirs["raster_spacing_mm"],
        "rtplan_dvh_s": t_calc,
        "rtplan_dvh_cpu_s": c_calc,
        "rtplan_read_and_dvh_s": t_all,
        "rtplan_read_and_dvh_cpu_s": c_all,
        "plastimatch_s": t_pm,
        "plastimatch_cpu_s": c_pm,
    }
    print(
        f"DVH, {len(rows)} ROIs: rtplan {t_calc:.3f} s ({t_all:.3f} s with reading), "
        f"plastimatch {t_pm:.2f} s: {t_pm / t_calc:.0f}x ({t_pm / t_all:.1f}x end to end)",
        flush=True,
    )
    return result


# ----------------------------------------------------------------------------- gamma
def plastimatch_gamma(
    ref: Path, ev: Path, dp: float, dta: float, interp: bool, folder: Path
) -> tuple[float, float, dict[str, float]]:
    text = folder / "gamma.txt"
    args = [
        "gamma",
        "--dose-tolerance",
        f"{dp / 100:g}",
        "--dta-tolerance",
        f"{dta:g}",
        "--analysis-threshold",
        "0.1",
        "--ref-only-threshold",
        "--gamma-max",
        "2",
        "--output-text",
        str(text),
        str(ref),
        str(ev),
    ]
    if interp:
        args.insert(1, "--interp-search")
    wall, cpu, _ = run_plastimatch(args)
    n, passed = read_gamma_report(text)
    return wall, cpu, {"points": n, "pass_rate": 100.0 * passed / n}


def bench_gamma(paths: dict[str, Path], criteria: list[str], repeat: int) -> list[dict[str, Any]]:
    import rtplan
    from rtplan.evaluate import gamma

    t0 = time.perf_counter()
    ref = rtplan.io.read_rtdose(paths["rtdose"])
    ev = rtplan.io.read_rtdose(paths["evaluated"])
    t_read = time.perf_counter() - t0
    warm = (slice(40, 60), slice(55, 75), slice(90, 110))  # compile or load the kernels
    axes = synthetic.dose_axes()
    sub = [a[s] for a, s in zip(axes, warm, strict=True)]
    gamma(ref.array[warm], ev.array[warm], 3, 3, 10, reference_axes_mm=sub, evaluated_axes_mm=sub)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for crit in criteria:
            dp, dta = (float(x) for x in crit.split(","))
            t_full, c_full, res = best_of(
                lambda dp=dp, dta=dta: gamma(ref, ev, dp, dta, 10, max_gamma=2.0), repeat
            )
            t_quick, c_quick, quick = best_of(
                lambda dp=dp, dta=dta: gamma(
                    ref, ev, dp, dta, 10, max_gamma=2.0, stop_at_pass=True
                ),
                repeat,
            )
            assert quick.pass_rate == res.pass_rate
            lattice = [
                plastimatch_gamma(paths["rtdose"], paths["evaluated"], dp, dta, False, Path(tmp))
                for _ in range(repeat)
            ]
            t_lat = min(r[0] for r in lattice)
            c_lat = min(r[1] for r in lattice)
            t_int, c_int, interp = plastimatch_gamma(
                paths["rtdose"], paths["evaluated"], dp, dta, True, Path(tmp)
            )
            row = {
                "criterion": f"{dp:g}%/{dta:g}mm",
                "points": res.n_evaluated,
                "rtplan_pass_rate": res.pass_rate,
                "plastimatch_interp_search_pass_rate": interp["pass_rate"],
                "plastimatch_lattice_pass_rate": lattice[0][2]["pass_rate"],
                "plastimatch_points": interp["points"],
                "difference_pp": interp["pass_rate"] - res.pass_rate,
                "rtplan_s": t_full,
                "rtplan_cpu_s": c_full,
                "rtplan_stop_at_pass_s": t_quick,
                "rtplan_stop_at_pass_cpu_s": c_quick,
                "rtplan_read_rtdose_x2_s": t_read,
                "plastimatch_interp_search_s": t_int,
                "plastimatch_interp_search_cpu_s": c_int,
                "plastimatch_lattice_s": t_lat,
                "plastimatch_lattice_cpu_s": c_lat,
                "ratio_interp_search": t_int / t_full,
                "ratio_interp_search_stop_at_pass": t_int / t_quick,
                "ratio_lattice": t_lat / t_full,
                "load_average": load(),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", type=Path, default=None)
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("results_plastimatch.json")
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--criteria", nargs="+", default=["3,3", "2,2"])
    ap.add_argument(
        "--truth",
        action="store_true",
        help="recompute the DVH reference instead of reading it from results_dvh.json",
    )
    args = ap.parse_args()
    version = subprocess.run(
        [plastimatch_exe(), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    load_before = load()
    print(f"{version}; load average {load_before}", flush=True)
    tmp = None
    if args.study is None:
        tmp = tempfile.TemporaryDirectory()
        paths = synthetic.write_study(Path(tmp.name))
    else:
        paths = {
            "study": args.study / "ct",
            "rtstruct": args.study / "ct" / "RS.dcm",
            "rtdose": args.study / "ct" / "RD_plan.dcm",
            "evaluated": args.study / "evaluated" / "RD_eval.dcm",
        }
    dvh_result = bench_dvh(paths, args.repeat, not args.truth)
    gamma_rows = bench_gamma(paths, args.criteria, args.repeat)
    result = {
        "plastimatch": version,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load(),
        "dvh": dvh_result,
        "gamma": gamma_rows,
    }
    args.out.write_text(json.dumps(result, indent=1))
    print("ratios (plastimatch time / rtplan time, wall):")
    print(
        f"  DVH, all ROIs: {dvh_result['plastimatch_s'] / dvh_result['rtplan_dvh_s']:.0f}x "
        f"({dvh_result['plastimatch_s'] / dvh_result['rtplan_read_and_dvh_s']:.1f}x end to end)"
    )
    for r in gamma_rows:
        print(
            f"  gamma {r['criterion']}: interp-search {r['ratio_interp_search']:.0f}x "
            f"({r['ratio_interp_search_stop_at_pass']:.0f}x with stop_at_pass), "
            f"lattice only {r['ratio_lattice']:.1f}x"
        )
    print(f"load average before {load_before}, after {result['load_average_after']}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
