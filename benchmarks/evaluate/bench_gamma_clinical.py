"""3D gamma on clinical-size engine doses: rtplan against pymedphys, fresh process and warm.

The dose pairs are those of :mod:`clinical_doses` (a five-field 6 MV plan on a 512 x 512 x
180 CT, 2.5 mm dose grid of 125 x 86 x 180 voxels): collapsed cone against pencil beam
(same grid), and collapsed cone against a shifted, 2 % hotter collapsed cone on a 4 mm
grid. Neither pair was made for, or used to tune, the gamma code.

Each tool runs in its own fresh interpreter per case: "fresh" is the wall time from the
data being loaded to the pass rate (the tool's imports, compiled-code loading and the gamma
call; ``import_s`` and ``first_call_s`` split it), "warm" the best of ``--repeat`` further
calls in that process (3 for both tools by default). ``speed_up_warm`` divides pymedphys'
warm time by rtplan's, ``speed_up_fresh`` the fresh times. Global gamma normalised to
the reference maximum, lower cutoff 10 % of it on the reference, ``max_gamma=2``,
pymedphys at its default ``interp_fraction=10``.

Usage::

    python benchmarks/evaluate/bench_gamma_clinical.py /tmp/rtplan-gamma/doses.npz \
        [--criteria 2,2 3,3] [--pairs cc:pb cc:cc_shift_4mm] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

_CHILD = r"""
import sys, time, json
t_start = float(sys.argv[1])
tool, path, ref_name, ev_name, dp, dta, repeat = sys.argv[2:9]
dp, dta, repeat = float(dp), float(dta), int(repeat)
import numpy as np
d = np.load(path)
def volume(name):
    # increasing axes for both tools (pymedphys needs them): flip decreasing ones
    arr, axes = d[name], [d[f"{name}_{a}"] for a in "zyx"]
    for k, ax in enumerate(axes):
        if ax.size > 1 and ax[-1] < ax[0]:
            arr, axes[k] = np.flip(arr, axis=k), ax[::-1]
    return np.ascontiguousarray(arr), tuple(np.ascontiguousarray(a) for a in axes)
(ref, ref_axes), (ev, ev_axes) = volume(ref_name), volume(ev_name)
t_data = time.time()
if tool == "rtplan":
    from rtplan.evaluate import gamma
    def run():
        r = gamma(ref, ev, dp, dta, 10, reference_axes_mm=ref_axes, evaluated_axes_mm=ev_axes,
                  max_gamma=2.0)
        return r.pass_rate, r.values
else:
    import pymedphys
    def run():
        g = pymedphys.gamma(ref_axes, ref, ev_axes, ev, dp, dta, lower_percent_dose_cutoff=10,
                            interp_fraction=10, max_gamma=2.0)
        valid = ~np.isnan(g)
        return float(100.0 * np.count_nonzero(g[valid] <= 1) / np.count_nonzero(valid)), g
t0 = time.time()
rate, values = run()
t1 = time.time()
warm = []
for _ in range(repeat):
    s = time.perf_counter()
    run()
    warm.append(time.perf_counter() - s)
np.save(sys.argv[9], values)
print(json.dumps({"pass_rate": rate, "fresh_s": t1 - t_data, "import_s": t0 - t_data,
                  "first_call_s": t1 - t0, "warm_s": min(warm) if warm else None,
                  "data_load_s": t_data - t_start}))
"""


def _child(
    tool: str, args: argparse.Namespace, ref: str, ev: str, crit: str, out: Path
) -> dict[str, float]:
    dp, dta = crit.split(",")
    repeat = str(args.repeat if tool == "rtplan" else args.repeat_pymedphys)
    cmd = [sys.executable, "-c", _CHILD, repr(time.time()), tool, str(args.doses), ref, ev]
    cmd += [dp, dta, repeat, str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ.copy())
    if done.returncode:
        raise SystemExit(f"{tool} failed:\n{done.stderr}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {key: float(value) for key, value in row.items() if value is not None}


def main() -> None:
    """Run every pair and criterion, print one JSON row each and write them all."""
    import numpy as np

    ap = argparse.ArgumentParser()
    ap.add_argument("doses", type=Path)
    ap.add_argument("--criteria", nargs="+", default=["2,2", "3,3"])
    ap.add_argument("--pairs", nargs="+", default=["cc:pb", "cc:cc_shift_4mm"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--repeat-pymedphys", type=int, default=3)
    ap.add_argument("--tools", nargs="+", default=["rtplan", "pymedphys"])
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("results_gamma_clinical.json")
    )
    args = ap.parse_args()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "rtplan-gamma-bench"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for pair in args.pairs:
        ref, ev = pair.split(":")
        for crit in args.criteria:
            row: dict[str, object] = {"pair": pair, "criterion": crit.replace(",", "%/") + "mm"}
            maps, res = {}, {}
            for tool in args.tools:
                out = work / f"{tool}_{ref}_{ev}_{crit.replace(',', '_')}.npy"
                res[tool] = _child(tool, args, ref, ev, crit, out)
                maps[tool] = np.load(out)
                row.update({f"{tool}_{key}": value for key, value in res[tool].items()})
            if len(maps) == 2:
                a, b = maps["rtplan"], maps["pymedphys"]
                ours, theirs = res["rtplan"], res["pymedphys"]
                both = ~np.isnan(a) & ~np.isnan(b)
                row["points"] = int(np.count_nonzero(both))
                row["difference_pp"] = ours["pass_rate"] - theirs["pass_rate"]
                row["classified_differently"] = int(
                    np.count_nonzero((a[both] <= 1) != (b[both] <= 1))
                )
                row["speed_up_fresh"] = theirs["fresh_s"] / ours["fresh_s"]
                row["speed_up_warm"] = theirs["warm_s"] / ours["warm_s"]
            row["load_average"] = os.getloadavg()[0]
            row["cpu_count"] = os.cpu_count()
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
