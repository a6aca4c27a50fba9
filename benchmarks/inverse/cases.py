"""Inverse plans of the two sample studies: spine SBRT and a thigh sarcoma.

Usage (rtplan's own environment)::

    python benchmarks/inverse/cases.py spine --out /tmp/cases
    python benchmarks/inverse/cases.py thigh --out /tmp/cases

**Spine SBRT.** The vertebral-body PTV of ``rtplan.data.get_path("spine_metastasis")``
is planned with seven posterior 6 MV beams, 24 Gy in 2 fractions (the regimen of Sahgal
et al., Lancet Oncol. 22 (2021) 1023-1033). The cord limit is the 2-fraction point maximum
of Sahgal et al., Int. J. Radiat. Oncol. Biol. Phys. 110 (2021) 124-136 (HyTEC spinal cord SBRT:
17.0 Gy Pmax in 2 fractions for a 1-5 % risk of myelopathy), the point taken as 0.03 cc as
RTOG 0631 writes its cord limit ("14 Gy to < 0.03 cc" in one fraction; AAPM TG-101, Benedict
et al., Med. Phys. 37 (2010) 4078-4101, defines a point as 0.035 cc or less): the hard
constraint ``SpinalCord D0.03cc <= 17 Gy``; goals ``PTV D90 >= 24 Gy`` and
``SpinalCanal Dmax <= 20 Gy``. The refinement's correction and the delivered dose are
the collapsed cone's on the whole CT.

**Thigh sarcoma.** The PTV of ``rtplan.data.get_path("thigh_sarcoma")``, 50 Gy in 25
fractions (preoperative, as in O'Sullivan et al., Lancet 359 (2002) 2235-2241), seven
equispaced 6 MV beams. Femur limits of Dickie et al., Int. J. Radiat. Oncol. Biol. Phys.
75 (2009) 1119-1124 (fracture risk after limb-sparing surgery and radiotherapy):
``Femur V40Gy <= 64 %`` and ``Femur Dmean <= 37 Gy``; ``PTV D95 >= 47.5 Gy`` and
``PTV D2 <= 53.5 Gy`` (95 % and 107 % of the prescription). A longitudinal strip of skin
is spared, as RTOG 0630 asks of preoperative extremity plans (Wang et al., J. Clin. Oncol.
33 (2015) 2231-2238: keep a strip of skin and subcutaneous tissue out of the high dose so
that lymph drains): the sample has no such structure, so ``SkinStrip`` is built here — the
outer 5 mm of the body, 2 cm wide (arc length), on the side of the limb away from the PTV,
over the PTV's length plus 2 cm each end — with the goal ``SkinStrip V20Gy <= 50 %``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import rtplan
from rtplan.planning import InverseOptions, inverse_plan

CASES = {
    "spine": {
        "study": "spine_metastasis",
        "title": "Spine SBRT 24 Gy / 2 fx",
        "goals": ["PTV D90 >= 24 Gy", "SpinalCanal Dmax <= 20 Gy"],
        "constraints": ["SpinalCord D0.03cc <= 17 Gy"],
        "gantry": [100.0, 130.0, 155.0, 180.0, 205.0, 230.0, 260.0],
        "prescription_gy": 24.0,
        "fractions": 2,
        "grid_mm": 2.5,
        "organs": ["SpinalCord", "SpinalCanal"],
    },
    "thigh": {
        "study": "thigh_sarcoma",
        "title": "Thigh sarcoma 50 Gy / 25 fx",
        "goals": [
            "PTV D95 >= 47.5 Gy",
            "PTV D2 <= 53.5 Gy",
            "Femur V40Gy <= 64 %",
            "Femur Dmean <= 37 Gy",
            "SkinStrip V20Gy <= 50 %",
        ],
        "gantry": [0.0, 51.4, 102.9, 154.3, 205.7, 257.1, 308.6],
        "prescription_gy": 50.0,
        "fractions": 25,
        "grid_mm": 3.0,
        "constraints": [],
        "organs": ["Femur", "SkinStrip"],
    },
}


def skin_strip(study: Any, depth_mm: float = 5.0, width_mm: float = 20.0) -> Any:
    """The outer ``depth_mm`` of the body, ``width_mm`` wide, on the side away from the PTV."""
    import numpy as np

    from rtplan.structures import Structure

    ss, grid = study.structures, study.ct.grid
    body = ss["Body"].mask(grid)
    shell = body & ~ss["Body"].contract(depth_mm, grid).mask(grid)
    c = grid.centers_mm()
    cx, cy = ss["Body"].centroid_mm[:2]
    px, py = ss["PTV"].centroid_mm[:2]
    away = np.arctan2(cy - py, cx - px)
    off = np.angle(np.exp(1j * (np.arctan2(c[..., 1] - cy, c[..., 0] - cx) - away)))
    band = np.abs(off) * np.hypot(c[..., 0] - cx, c[..., 1] - cy) <= width_mm / 2
    lo, hi = ss["PTV"].bounds_mm()
    along = (c[..., 2] >= lo[2] - 20.0) & (c[..., 2] <= hi[2] + 20.0)
    return Structure.from_mask(shell & band & along, grid, name="SkinStrip", color=(255, 160, 0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--engine", default="collapsed-cone")
    parser.add_argument("--modulation-weight", type=float, default=None)
    parser.add_argument("--tag", default="", help="suffix of the output files")
    args = parser.parse_args()
    case: dict[str, Any] = CASES[args.case]
    args.out.mkdir(parents=True, exist_ok=True)
    study = rtplan.load_study(rtplan.data.get_path(case["study"]))
    if args.case == "thigh":
        study = dataclasses.replace(
            study, structures=study.structures.with_added(skin_strip(study))
        )
    extra = {} if args.modulation_weight is None else {"modulation_weight": args.modulation_weight}
    options = InverseOptions(grid_mm=case["grid_mm"], bixel_mm=5.0, engine=args.engine, **extra)
    load0 = float(Path("/proc/loadavg").read_text().split()[0])
    t0 = time.perf_counter()
    result = inverse_plan(study.ct, study.structures, case["goals"],
                          gantry_angles_deg=case["gantry"],
                          prescription_gy=case["prescription_gy"], fractions=case["fractions"],
                          target="PTV", options=options,
                          constraints=case["constraints"])  # fmt: skip
    wall = time.perf_counter() - t0
    report = {
        "case": f"{case['study']}: {case['title']}, {len(case['gantry'])} beams",
        "grid_mm": case["grid_mm"],
        "engine": args.engine,
        "modulation_weight": options.modulation_weight,
        "load_average_1min_before_after": [
            load0,
            float(Path("/proc/loadavg").read_text().split()[0]),
        ],
        "fluence_constraints": [str(c) for c in result.fluence.constraints],
        "refinement_constraints": [str(c) for c in result.refinement.constraints],
        "bixels": int(result.influence.matrix.shape[1]),
        "voxels": int(result.influence.matrix.shape[0]),
        "influence_mib": result.influence.nbytes / 2**20,
        "timings_s": result.timings,
        "total_s": wall,
        "segments": result.n_segments,
        "total_mu": result.plan.total_mu,
        "goals": [
            {
                "goal": c.goal,
                "optimised": c.optimized,
                "delivered": c.delivered,
                "passed": r.passed,
            }
            for c, r in zip(result.comparison, result.goals, strict=True)
        ],
    }
    name = f"{args.case}{args.tag}"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    _figure(args.out, name, case, result, study)


def _figure(out: Path, name: str, case: dict[str, Any], result, study) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for structure, colour in zip(["PTV", *case["organs"]], ["tab:red", "tab:blue", "tab:cyan"],
                                 strict=True):  # fmt: skip
        x, v = rtplan.dvh(result.plan_dose.dose, study.structures[structure]).curve()
        ax.plot(x, v, color=colour, label=structure)
    ax.axvline(case["prescription_gy"], color="grey", lw=0.5)
    ax.set_xlabel("dose (Gy)")
    ax.set_ylabel("volume (%)")
    ax.set_title(f"{case['title']}, {result.n_segments} segments "
                 f"({result.plan_dose.engine})")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{name}_dvh.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
