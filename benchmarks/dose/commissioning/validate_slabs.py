"""The commissioned beam model behind and inside bone and lung, against the Geant4 reference.

Usage (from the repository root, after ``benchmarks/dose/mc/run_reference.py``)::

    nice -n 19 .venv/bin/python benchmarks/dose/commissioning/validate_slabs.py

For each slab case of ``benchmarks/dose/mc`` (bone 3 cm at 50-80 mm, lung 10 cm at
50-150 mm, in HU-0 tissue; 3 x 3 and 10 x 10 cm², SSD 100 cm, point source) it computes the
central-axis dose of the slab phantom and of the homogeneous one with each engine and the
machine commissioned against the Monte Carlo (``6X-MC``: a point source, as the reference),
and compares the slab/homogeneous ratio with the Monte Carlo's over the regions of
``benchmarks/dose/mc/compare.py`` (the same bins, phantoms and metrics: the phantoms and
helpers are imported from there). The pencil beam is run with and without its lateral
kernel scaling in low-density tissue. Writes ``slabs.md`` and ``slabs.json`` here.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MC = HERE.parent / "mc"
sys.path.insert(0, str(MC))

import compare as mc_compare  # noqa: E402  (benchmarks/dose/mc/compare.py)
import numpy as np  # noqa: E402
from phantoms import CASES, case_beam, case_ct  # noqa: E402

from rtplan import Image  # noqa: E402
from rtplan.dose import get_engine, load_machine, prepare_setup  # noqa: E402
from rtplan.dose._pencil_beam import PencilBeamEngine  # noqa: E402

log = logging.getLogger("validate_slabs")

REGIONS = {
    "bone": {
        "inside bone (55-75 mm)": (55.0, 75.0),
        "behind bone (85-150 mm)": (85.0, 150.0),
        "far behind bone (160-250 mm)": (160.0, 250.0),
    },
    "lung": {
        "proximal lung (55-75 mm)": (55.0, 75.0),
        "inside lung (55-145 mm)": (55.0, 145.0),
        "distal lung (125-150 mm)": (125.0, 150.0),
        "behind lung (160-250 mm)": (160.0, 250.0),
    },
}

ENGINES = {
    "collapsed-cone": lambda: get_engine("collapsed-cone"),
    "pencil-beam": lambda: get_engine("pencil-beam"),
    "pencil-beam (depth scaling only)": lambda: PencilBeamEngine(lateral_scaling=False),
}


def depth_curve(name: str, engine: str, machine: str) -> mc_compare.Curve:
    case = CASES[name]
    mc = mc_compare.load_mc(name, mc_compare.RESULTS)
    setup = prepare_setup(case_ct(case), grid_mm=2.5)
    t0 = time.perf_counter()
    dose = ENGINES[engine]().beam_dose(case_beam(case), setup, load_machine(machine))
    log.info("%s with %s: %.1f s", name, engine, time.perf_counter() - t0)
    return mc_compare.engine_depth_curve(Image(array=dose, grid=setup.grid), mc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--machine", default="6X-MC")
    p.add_argument("--engines", default=",".join(ENGINES))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    engines = args.engines.split(",")
    rows = []
    data: dict[str, dict[str, object]] = {}
    for kind, regions in REGIONS.items():
        for field in ("3x3", "10x10"):
            slab, flat = f"{kind}_{field}", f"tissue_{field}"
            mcs = {n: mc_compare.load_mc(n, mc_compare.RESULTS) for n in (slab, flat)}
            if any(v is None for v in mcs.values()):
                log.info("%s: no Monte Carlo result yet, skipped", slab)
                continue
            ref = mc_compare.ratio_curve(
                mc_compare.mc_depth_curve(mcs[slab]), mc_compare.mc_depth_curve(mcs[flat])
            )
            ratios = {
                e: mc_compare.ratio_curve(
                    depth_curve(slab, e, args.machine), depth_curve(flat, e, args.machine)
                )
                for e in engines
            }
            for label, (lo, hi) in regions.items():
                m, s = mc_compare.region_mean(ref, lo, hi)
                sel = (ref.centres > lo) & (ref.centres < hi)
                cells = []
                for e in engines:
                    # 10 mm running means (4 bins), whose Monte Carlo sigma is about 1 %
                    r4 = np.convolve(ratios[e].value[sel], np.ones(4) / 4, mode="valid")
                    m4 = np.convolve(ref.value[sel], np.ones(4) / 4, mode="valid")
                    local = 100 * (r4 / m4 - 1)
                    mean = 100 * (mc_compare.region_mean(ratios[e], lo, hi)[0] / m - 1)
                    cells.append(f"{mean:+.1f} % ({local.min():+.0f} to {local.max():+.0f})")
                rows.append(f"| {field} {label} | {m:.3f} ± {s:.3f} | " + " | ".join(cells) + " |")
            data[slab] = {
                "depth_mm": ref.centres.tolist(),
                "mc": ref.value.tolist(),
                "mc_sigma": ref.sigma.tolist(),
                **{e: r.value.tolist() for e, r in ratios.items()},
            }
    head = "| region (slab / homogeneous, central axis) | Monte Carlo ± σ | " + " | ".join(engines)
    table = "\n".join(
        [
            f"Machine {args.machine}; engine − Monte Carlo: mean over the region (range of "
            "its 10 mm running means, whose own Monte Carlo σ is about 1 %).",
            "",
            head + " |",
            "|" + "---|" * (len(engines) + 2),
            *rows,
        ]
    )
    print(table)
    (HERE / "slabs.md").write_text(table + "\n", encoding="utf-8")
    readme = HERE / "README.md"
    start, end = "<!-- slabs:start -->", "<!-- slabs:end -->"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        readme.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
    (HERE / "slabs.json").write_text(json.dumps(data) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
