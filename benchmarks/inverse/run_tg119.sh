#!/bin/sh
# pyRadPlan then rtplan on the TG-119 C-shape, back to back on the same machine (its load
# average is recorded by each), results in OUT (default /tmp/inv).
# Usage: sh benchmarks/inverse/run_tg119.sh [OUT]   (from the repository root)
set -e
out="${1:-/tmp/inv}"
mkdir -p "$out"
/tmp/prp-venv/bin/python benchmarks/inverse/prp_tg119_opt.py --grid-mm 5 --out "$out" \
    > "$out/prp_log.txt" 2>&1
.venv/bin/python benchmarks/inverse/rtplan_tg119_opt.py --grid-mm 5 --data "$out" \
    --engine collapsed-cone \
    > "$out/rtplan_log.txt" 2>&1
cat "$out/prp_opt_5mm.json" "$out/rtplan_opt_5mm.json"
