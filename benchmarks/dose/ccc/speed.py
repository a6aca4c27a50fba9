"""Collapsed-cone time on a clinical-size CT: 512 x 512 x 200, 5 beams, 2.5 mm dose grid.

Usage (from the repository root)::

    nice -n 10 .venv/bin/python benchmarks/dose/ccc/speed.py
    # another version of rtplan on the same CT, in the same run (its src/ on PYTHONPATH)
    nice -n 10 .venv/bin/python benchmarks/dose/ccc/speed.py --other-src /tmp/base/src

The CT is synthetic (fixed): 0.98 mm pixels, 2.5 mm slices (500 x 500 x 500 mm), an
elliptic trunk of soft tissue (HU 0; 400 x 260 mm) with two lungs (HU -750) over half its
length and a vertebral column (HU 700). Five coplanar 10 x 10 cm² beams (gantry 0, 72,
144, 216, 288 deg) on an isocentre at the trunk's centre. A warm-up call on a small
phantom compiles the kernels first (numba caches them), so the time is the calculation's.
Prints one JSON line per version: wall and process CPU seconds, dose-grid shape, threads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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

    return {
        "rtplan": os.path.dirname(rtplan.__file__),
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
    p.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.here:
        print(json.dumps(run_here()), flush=True)
        return 0
    runs = []
    if args.other_src:
        runs.append({**os.environ, "PYTHONPATH": args.other_src})
    runs.append(dict(os.environ))
    for env in runs:
        out = subprocess.run(
            [sys.executable, __file__, "--here"], env=env, check=True, capture_output=True,
            text=True,
        ).stdout  # fmt: skip
        print(out.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
