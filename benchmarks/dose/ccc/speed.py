"""Collapsed-cone time on a clinical-size CT: 512 x 512 x 200, 5 beams, 2.5 mm dose grid.

Usage (from the repository root)::

    nice -n 10 .venv/bin/python benchmarks/dose/ccc/speed.py
    # another version of rtplan on the same CT, in the same run (its src/ on PYTHONPATH),
    # the two alternated three times
    nice -n 10 .venv/bin/python benchmarks/dose/ccc/speed.py --other-src /tmp/base/src \
        --repeat 3 --out benchmarks/dose/ccc/results_speed.json

The CT is synthetic (fixed): 0.98 mm pixels, 2.5 mm slices (500 x 500 x 500 mm), an
elliptic trunk of soft tissue (HU 0; 400 x 260 mm) with two lungs (HU -750) over half its
length and a vertebral column (HU 700). Five coplanar 10 x 10 cm² beams (gantry 0, 72,
144, 216, 288 deg) on an isocentre at the trunk's centre. A warm-up call on a small
phantom compiles the kernels first (numba caches them), so the time is the calculation's.
Prints one JSON line per version: wall and process CPU seconds, dose-grid shape, threads;
with ``--other-src``, a last line with the largest difference between the two doses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def clinical_ct():  # type: ignore[no-untyped-def]
    import rtplan
    from rtplan import Grid

    nk, nj, ni = 200, 512, 512
    grid = Grid(
        shape=(nk, nj, ni),
        spacing_mm=(2.5, 0.98, 0.98),
        origin_mm=(-250.0, -180.0, -250.0),
    )
    x = grid.axis_mm(2)[np.newaxis, :]
    y = grid.axis_mm(1)[:, np.newaxis]
    trunk = (x / 200.0) ** 2 + ((y - 70.0) / 130.0) ** 2 <= 1.0
    lungs = (((np.abs(x) - 90.0) / 60.0) ** 2 + ((y - 50.0) / 80.0) ** 2 <= 1.0) & trunk
    spine = (x / 20.0) ** 2 + ((y - 160.0) / 20.0) ** 2 <= 1.0
    hu = np.full((nk, nj, ni), -1000, dtype=np.int16)
    hu[:, trunk] = 0
    hu[nk // 4 : 3 * nk // 4, lungs] = -750
    hu[:, spine] = 700
    return rtplan.Image(array=hu, grid=grid, units="HU", patient_position="HFS")


def run_here() -> dict[str, object]:
    import rtplan
    from rtplan.testing import water_phantom

    small = water_phantom(width_mm=60.0, depth_mm=60.0, spacing_mm=5.0)
    beams = [
        rtplan.Beam(name=f"G{g:03d}", gantry_deg=float(g), jaws_mm=(-50, 50, -50, 50), mu=100.0,
                    isocenter_mm=(0.0, 70.0, 0.0))
        for g in (0, 72, 144, 216, 288)
    ]  # fmt: skip
    warm = rtplan.Plan(beams=[rtplan.Beam(jaws_mm=(-10, 10, -10, 10), mu=10.0)])
    rtplan.compute_dose(warm, small, engine="collapsed-cone", grid_mm=5.0)
    ct = clinical_ct()
    w0, c0 = time.perf_counter(), time.process_time()
    dose = rtplan.compute_dose(rtplan.Plan(beams=beams), ct, engine="collapsed-cone", grid_mm=2.5)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    import numba

    saved = os.environ.get("RTPLAN_BENCH_DOSE")
    if saved:  # the dose itself, for the comparison of the versions
        np.save(saved, dose.array)

    return {
        "rtplan": os.environ.get("RTPLAN_BENCH_VERSION", "this tree"),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "dose_grid": list(dose.grid.shape),
        "threads": numba.get_num_threads(),
        "max_gy": round(float(dose.array.max()), 4),
        "load_1min": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--other-src", help="src/ folder of another rtplan version, timed first")
    p.add_argument("--repeat", type=int, default=1, help="alternate the versions this many times")
    p.add_argument("--out", help="also write the runs to this JSON file")
    p.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.here:
        print(json.dumps(run_here()), flush=True)
        return 0
    runs = []
    if args.other_src:
        runs.append(
            {**os.environ, "PYTHONPATH": args.other_src, "RTPLAN_BENCH_VERSION": args.other_src}
        )
    runs.append(dict(os.environ))
    results = []
    doses = []
    for _ in range(args.repeat):
        for n, env in enumerate(runs):
            doses.append(f"{tempfile.gettempdir()}/rtplan-ccc-speed-{os.getpid()}-{n}.npy")
            env = {**env, "RTPLAN_BENCH_DOSE": doses[-1]}
            out = subprocess.run(
                [sys.executable, __file__, "--here"], env=env, check=True, capture_output=True,
                text=True,
            ).stdout  # fmt: skip
            line = out.strip().splitlines()[-1]
            results.append(json.loads(line))
            print(line, flush=True)
    if len(runs) == 2:  # the same dose from both versions?
        a, b = np.load(doses[0]), np.load(doses[1])
        top = float(np.max(np.abs(a)))
        high = np.abs(a) >= 0.1 * top
        diff = {
            "max_abs_difference_percent_of_max": round(
                100.0 * float(np.max(np.abs(b - a))) / top, 6
            ),
            "max_local_difference_percent_above_10_percent": round(
                100.0 * float(np.max(np.abs(b - a)[high] / np.abs(a)[high])), 6
            ),
        }
        results.append(diff)
        print(json.dumps(diff), flush=True)
    for path in set(doses):
        os.unlink(path)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
