"""pyRadPlan side of the dose benchmark: photon pencil beam on its bundled TG119 phantom.

Run with pyRadPlan's own interpreter (pyRadPlan is *not* a dependency of rtplan)::

    python3 -m venv /tmp/prp-venv
    /tmp/prp-venv/bin/pip install "pyradplan==0.5.0" "pydantic<2.14" "numpy<2.4"
    /tmp/prp-venv/bin/python benchmarks/dose/prp_tg119.py --grid-mm 5 --out /tmp/bench

It times (wall clock and process CPU time) ``calc_dose_influence`` (the pencil-beam
engine: one dose column per 5 mm bixel of every beam; the minimum of ``--repeat`` runs,
the first one traced for memory) for 5 coplanar beams (gantry 0, 72, 144, 216, 288 deg)
on the TG119 CT, and the uniform-fluence dose ``dij @ 1``; it records the peak memory of
the calculation (peak RSS above the RSS before it, and the tracemalloc peak), and exports
the CT, the target and the uniform-fluence dose for ``rtplan_tg119.py``.
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

GANTRY = [0.0, 72.0, 144.0, 216.0, 288.0]


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
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=1, help="extra timed runs (minimum counts)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import SimpleITK as sitk
    from pyRadPlan import PhotonPlan, calc_dose_influence, generate_stf, load_tg119

    ct, cst = load_tg119()
    pln = PhotonPlan(machine="Generic")
    pln.prop_stf = {
        "gantry_angles": GANTRY,
        "couch_angles": [0.0] * len(GANTRY),
        "bixel_width": 5.0,
    }
    g = args.grid_mm
    pln.prop_dose_calc = {"dose_grid": {"resolution": {"x": g, "y": g, "z": g}}}
    stf = generate_stf(ct, cst, pln)

    rss0 = _rss_mib()
    tracemalloc.start()
    c0 = time.process_time()
    t0 = time.perf_counter()
    dij = calc_dose_influence(ct, cst, stf, pln)
    t_dij = time.perf_counter() - t0
    n_bixels = int(sum(b.total_number_of_bixels for b in stf.beams))
    t0 = time.perf_counter()
    result = dij.compute_result_ct_grid(np.ones(n_bixels))
    t_result = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = _peak_rss_mib()
    runs = [t_dij + t_result]
    cpu = [time.process_time() - c0]
    for _ in range(args.repeat - 1):  # untraced runs: tracemalloc slows the first one
        c0 = time.process_time()
        t0 = time.perf_counter()
        again = calc_dose_influence(ct, cst, stf, pln)
        again.compute_result_ct_grid(np.ones(n_bixels))
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del again

    dose = result["physical_dose"]
    dose_arr = sitk.GetArrayFromImage(dose) if not isinstance(dose, np.ndarray) else dose
    hu = sitk.GetArrayFromImage(ct.cube_hu)
    masks = {v.name: sitk.GetArrayFromImage(v.mask).astype(bool) for v in cst.vois}
    iso = [float(x) for x in stf.beams[0].iso_center]
    np.savez_compressed(
        args.out / "tg119.npz",
        hu=hu.astype(np.int16),
        spacing_xyz=np.array(ct.cube_hu.GetSpacing()),
        origin_xyz=np.array(ct.cube_hu.GetOrigin()),
        outer_target=masks["OuterTarget"],
        core=masks["Core"],
        body=masks["BODY"],
        prp_dose=np.asarray(dose_arr, dtype=np.float32),
        isocenter=np.array(iso),
        gantry=np.array(GANTRY),
    )
    report = {
        "tool": "pyRadPlan 0.5.0 photon pencil beam (svdpb), Generic machine",
        "grid_mm": g,
        "beams": len(GANTRY),
        "bixels": n_bixels,
        "dose_influence_s": t_dij,
        "uniform_dose_s": t_result,
        "total_s": min(runs),
        "all_runs_s": runs,
        "cpu_s": min(cpu),
        "all_runs_cpu_s": cpu,
        "peak_rss_increase_mib": peak_rss - rss0,
        "tracemalloc_peak_mib": traced_peak / 2**20,
        "ct_shape_zyx": list(hu.shape),
    }
    (args.out / f"prp_{g:g}mm.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
