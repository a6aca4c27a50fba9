"""Run the pyRadPlan and rtplan dose benchmarks one after the other and print the table.

Usage::

    python benchmarks/dose/run.py --prp-python /tmp/prp-venv/bin/python --grids 5,3

pyRadPlan runs in its own interpreter (``--prp-python``), rtplan in this one; both sides
write JSON into ``--out`` and this script prints the Markdown table of the README
(times and peak memory, and their ratios to pyRadPlan's pencil beam).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prp-python", required=True, help="python of pyRadPlan's venv")
    parser.add_argument("--grids", default="5,3", help="dose grid spacings, mm")
    parser.add_argument("--out", type=Path, default=Path("/tmp/rtplan-dose-bench"))
    args = parser.parse_args()
    rows = []
    for g in (float(v) for v in args.grids.split(",")):
        out = args.out / f"grid{g:g}"
        subprocess.run(
            [
                args.prp_python,
                str(HERE / "prp_tg119.py"),
                "--grid-mm",
                str(g),
                "--out",
                str(out),
                "--repeat",
                "2" if g >= 5 else "1",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                sys.executable,
                str(HERE / "rtplan_tg119.py"),
                "--grid-mm",
                str(g),
                "--data",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        prp = json.loads((out / f"prp_{g:g}mm.json").read_text())
        ours = json.loads((out / f"rtplan_{g:g}mm.json").read_text())
        rows.append((g, prp, ours))
    print(
        "| grid | engine | time (s) | pyRadPlan PB time / time | CPU time (s) "
        "| pyRadPlan PB CPU / CPU | peak RSS increase (MiB) | pyRadPlan PB memory / memory "
        "| mean abs. dose difference vs pyRadPlan |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for g, prp, ours in rows:
        print(
            f"| {g:g} mm | pyRadPlan pencil beam ({prp['bixels']} bixels) | "
            f"{prp['total_s']:.1f} | 1 | {prp['cpu_s']:.1f} | 1 | "
            f"{prp['peak_rss_increase_mib']:.0f} | 1 | - |"
        )
        for r in ours:
            print(
                f"| {g:g} mm | {r['tool']} | {r['total_s']:.2f} | "
                f"{prp['total_s'] / r['total_s']:.1f} | {r['cpu_s']:.2f} | "
                f"{prp['cpu_s'] / r['cpu_s']:.1f} | {r['peak_rss_increase_mib']:.0f} | "
                f"{prp['peak_rss_increase_mib'] / max(r['peak_rss_increase_mib'], 1.0):.1f} | "
                f"{100 * r['mean_abs_diff_vs_pyradplan_above_50pct']:.1f} % |"
            )
        load = os.getloadavg()
        print(f"<!-- load average after the {g:g} mm runs: {load[0]:.1f} -->")


if __name__ == "__main__":
    main()
