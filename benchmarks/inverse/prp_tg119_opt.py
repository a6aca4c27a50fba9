"""pyRadPlan side of the inverse-planning benchmark: fluence optimisation on its TG119 phantom.

Run with pyRadPlan's own interpreter (pyRadPlan is *not* a dependency of rtplan)::

    python3 -m venv /tmp/prp-venv
    /tmp/prp-venv/bin/pip install pyradplan "pydantic<2.14" "numpy<2.4"
    /tmp/prp-venv/bin/python benchmarks/inverse/prp_tg119_opt.py --grid-mm 5 --out /tmp/inv

Five coplanar 6 MV beams (gantry 0, 72, 144, 216, 288 deg), 5 mm bixels, the dose grid of
``--grid-mm``. It times (wall clock and process CPU) ``calc_dose_influence`` (pencil beam)
and ``fluence_optimization`` with TG-119-style objectives in matRad's spelling: target
squared deviation from 50 Gy (priority 1000), core squared overdosing above 25 Gy (300),
body squared overdosing above 30 Gy (100) -- the objectives matRad's TG119 examples use
(doses of the whole plan, 25 fractions) -- and records the peak memory (RSS above the start,
tracemalloc). It exports the CT, the structures, the isocentre and the optimised dose
(whole plan, Gy) for ``rtplan_tg119_opt.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np

GANTRY = [0.0, 72.0, 144.0, 216.0, 288.0]
FRACTIONS = 25


def _rss_mib() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024.0
    return float("nan")


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid-mm", type=float, default=5.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import SimpleITK as sitk
    from pyRadPlan import (
        PhotonPlan,
        calc_dose_influence,
        fluence_optimization,
        generate_stf,
        load_tg119,
    )
    from pyRadPlan.optimization.objectives import SquaredDeviation, SquaredOverdosing

    ct, cst = load_tg119()
    pln = PhotonPlan(machine="Generic")
    pln.num_of_fractions = FRACTIONS
    pln.prop_stf = {
        "gantry_angles": GANTRY,
        "couch_angles": [0.0] * len(GANTRY),
        "bixel_width": 5.0,
    }
    g = args.grid_mm
    pln.prop_dose_calc = {"dose_grid": {"resolution": {"x": g, "y": g, "z": g}}}
    pln.prop_opt = {"solver": "scipy"}
    names = [v.name for v in cst.vois]
    target = cst.vois[names.index("OuterTarget")]
    core = cst.vois[names.index("Core")]
    body = cst.vois[names.index("BODY")]
    target.objectives = [SquaredDeviation(priority=1000.0, d_ref=50.0)]
    core.objectives = [SquaredOverdosing(priority=300.0, d_max=25.0)]
    body.objectives = [SquaredOverdosing(priority=100.0, d_max=30.0)]

    stf = generate_stf(ct, cst, pln)
    load0 = float(Path("/proc/loadavg").read_text().split()[0])
    rss0 = _rss_mib()
    tracemalloc.start()
    c0 = time.process_time()
    t0 = time.perf_counter()
    dij = calc_dose_influence(ct, cst, stf, pln)
    t_dij = time.perf_counter() - t0
    t1 = time.perf_counter()
    fluence = fluence_optimization(ct, cst, stf, dij, pln)
    t_opt = time.perf_counter() - t1
    cpu = time.process_time() - c0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _peak_mib()
    result = dij.compute_result_ct_grid(np.asarray(fluence))
    dose = result["physical_dose"]
    dose_arr = sitk.GetArrayFromImage(dose) if not isinstance(dose, np.ndarray) else dose
    hu = sitk.GetArrayFromImage(ct.cube_hu)
    masks = {v.name: sitk.GetArrayFromImage(v.mask).astype(bool) for v in cst.vois}
    n_bixels = int(sum(b.total_number_of_bixels for b in stf.beams))
    np.savez_compressed(
        args.out / f"tg119_{g:g}mm.npz",
        hu=hu.astype(np.int16),
        spacing_xyz=np.array(ct.cube_hu.GetSpacing()),
        origin_xyz=np.array(ct.cube_hu.GetOrigin()),
        outer_target=masks["OuterTarget"],
        core=masks["Core"],
        body=masks["BODY"],
        prp_dose=np.asarray(dose_arr, dtype=np.float32),
        prp_fluence=np.asarray(fluence, dtype=np.float64),
        isocenter=np.array([float(x) for x in stf.beams[0].iso_center]),
        gantry=np.array(GANTRY),
    )
    report = {
        "tool": "pyRadPlan photon pencil beam (svdpb), Generic machine, scipy optimiser",
        "grid_mm": g,
        "beams": len(GANTRY),
        "bixels": n_bixels,
        "dose_influence_s": t_dij,
        "optimisation_s": t_opt,
        "total_s": t_dij + t_opt,
        "cpu_s": cpu,
        "load_average_1min_before_after": [
            load0,
            float(Path("/proc/loadavg").read_text().split()[0]),
        ],
        "peak_rss_increase_mib": peak - rss0,
        "tracemalloc_peak_mib": traced_peak / 2**20,
        "dose_max_gy": float(np.max(dose_arr)),
    }
    (args.out / f"prp_opt_{g:g}mm.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
