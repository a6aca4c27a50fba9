"""L-BFGS-B (rtplan) against cvxpy + Clarabel on the same TG-119 fluence problem.

Usage (rtplan's environment, with the optional ``cvxpy`` and ``clarabel`` installed)::

    python benchmarks/inverse/solvers_tg119.py --data /tmp/inv --out /tmp/inv

``--data`` is the folder of ``prp_tg119_opt.py`` (pyRadPlan's TG119 CT and structures).
The influence matrix is rtplan's (5 mm bixels, 5 mm grid, five beams, the voxels of
:func:`rtplan.planning.inverse_plan`), built once and cached; ``--stride n`` keeps every
n-th voxel of each structure (a smaller problem, the same for both solvers). Each solver
runs in its own process (``--solver``); its memory is the resident set's peak increase
while it solves (sampled every 20 ms).

The convex problem (doses of the whole plan, 25 fractions; ``n_S``: voxels of S)::

    minimise   10/(n_PTV 50^2)  sum_PTV  max(0, 51.5 - d)^2      (underdose)
             + 10/(n_PTV 50^2)  sum_PTV  max(0, d - 53.35)^2     (overdose)
             + 10/(n_Core 25^2) sum_Core max(0, d - 24.25)^2     (core overdose)
             + 0.3/(n_N 50^2)   sum_N    max(0, d - L_N)^2        (normal tissue, falling limit)
    subject to d = 25 A x,  x >= 0,
               d <= 57.5 Gy on the PTV (max, hard),  mean_Core d <= 15 Gy (mean, hard)

It is the convex part of rtplan's TG-119 problem (its DVH goals are not convex, so they
are left out here). Both solvers get exactly this problem on the voxel doses; rtplan's
through :class:`rtplan.planning.DoseProblem` with hard constraints (method of
multipliers around L-BFGS-B), cvxpy through Clarabel (interior point). The objective is
evaluated by one function for both answers.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FRACTIONS = 25


def _problem(data: Path, cache: Path) -> dict[str, Any]:
    """The influence matrix and the structures' voxel rows (cached as an .npz)."""
    import scipy.sparse

    store = cache / "solvers_tg119_problem.npz"
    if store.exists():
        d = np.load(store)
        a = scipy.sparse.csr_matrix((d["data"], d["indices"], d["indptr"]), shape=d["shape"])
        return {"A": a, "ptv": d["ptv"], "core": d["core"], "nto": d["nto"],
                "nto_limit": d["nto_limit"]}  # fmt: skip
    from rtplan.dose import prepare_setup
    from rtplan.image import PatientPosition
    from rtplan.planning import InverseOptions, influence_matrix
    from rtplan.planning._optimize import NTO_NAME, _beams, _problem_setup

    sys.path.insert(0, str(Path(__file__).parent))
    from rtplan_tg119_opt import GANTRY, GOALS, _prp

    ct, structures, _, iso = _prp(data / "tg119_5mm.npz")
    opt = InverseOptions(grid_mm=5.0, bixel_mm=5.0, isocenter_mm=iso)
    setup = prepare_setup(ct, grid_mm=5.0)
    s, target, mask = _problem_setup(structures.values(), GOALS, None, 50.0, FRACTIONS, opt, setup)
    inf = influence_matrix(setup, _beams(target, GANTRY, opt, PatientPosition("HFS")), mask)
    position = np.full(setup.grid.size, -1)
    position[inf.voxels] = np.arange(inf.voxels.size)
    rows = {n: position[np.flatnonzero((s.structures[n].mask(setup.grid) & setup.body).ravel())]
            for n in ("PTV", "Core")}  # fmt: skip
    nto = next(o for o in s.objectives if o.structure == NTO_NAME)
    a = inf.matrix.tocsr()
    np.savez(store, data=a.data, indices=a.indices, indptr=a.indptr, shape=a.shape,
             ptv=rows["PTV"], core=rows["Core"], nto=s.rows[NTO_NAME],
             nto_limit=nto.limit_gy)  # fmt: skip
    return {"A": a, "ptv": rows["PTV"], "core": rows["Core"], "nto": s.rows[NTO_NAME],
            "nto_limit": nto.limit_gy}  # fmt: skip


def _strided(p: dict[str, Any], stride: int) -> dict[str, Any]:
    """Every ``stride``-th voxel of each structure (the same smaller problem for both)."""
    if stride == 1:
        return p
    keep = {k: p[k][::stride] for k in ("ptv", "core", "nto")}
    rows = np.unique(np.concatenate(list(keep.values())))
    where = np.full(p["A"].shape[0], -1)
    where[rows] = np.arange(rows.size)
    return {"A": p["A"][rows], "ptv": where[keep["ptv"]], "core": where[keep["core"]],
            "nto": where[keep["nto"]], "nto_limit": p["nto_limit"][::stride]}  # fmt: skip


def _objective(p: dict[str, Any], x: np.ndarray) -> float:
    d = FRACTIONS * (p["A"] @ x.astype(np.float32)).astype(np.float64)

    def sq(v: np.ndarray) -> float:
        return float(np.dot(v, v))

    dp, dc, dn = d[p["ptv"]], d[p["core"]], d[p["nto"]]
    return (
        10 / (dp.size * 2500) * sq(np.maximum(0, 51.5 - dp))
        + 10 / (dp.size * 2500) * sq(np.maximum(0, dp - 53.35))
        + 10 / (dc.size * 625) * sq(np.maximum(0, dc - 24.25))
        + 0.3 / (dn.size * 2500) * sq(np.maximum(0, dn - p["nto_limit"]))
    )


def _figures(p: dict[str, Any], x: np.ndarray) -> dict[str, float]:
    d = FRACTIONS * (p["A"] @ x.astype(np.float32)).astype(np.float64)
    dp, dc = d[p["ptv"]], d[p["core"]]
    return {
        "objective": _objective(p, x),
        "ptv_d95_gy": float(np.percentile(dp, 5)),
        "ptv_d10_gy": float(np.percentile(dp, 90)),
        "ptv_max_gy": float(dp.max()),
        "core_d10_gy": float(np.percentile(dc, 90)),
        "core_mean_gy": float(dc.mean()),
        "total_bixel_mu": float(x.sum()),
    }


def _lbfgsb(p: dict[str, Any]) -> np.ndarray:
    from rtplan.planning import DoseProblem, Objective, optimize_weights

    terms = [
        (Objective(structure="PTV", kind="min", dose_gy=51.5, weight=10 * 51.5**2 / 2500),
         p["ptv"]),
        (Objective(structure="PTV", kind="max", dose_gy=53.35, weight=10 * 53.35**2 / 2500),
         p["ptv"]),
        (Objective(structure="Core", kind="max", dose_gy=24.25, weight=10 * 24.25**2 / 625),
         p["core"]),
        (Objective(structure="N", kind="limit", dose_gy=50.0, weight=0.3,
                   limit_gy=p["nto_limit"]), p["nto"]),
        (Objective(structure="PTV", kind="max", dose_gy=57.5, hard=True), p["ptv"]),
        (Objective(structure="Core", kind="mean_max", dose_gy=15.0, hard=True), p["core"]),
    ]  # fmt: skip
    problem = DoseProblem(p["A"], FRACTIONS, terms)
    x0 = np.ones(p["A"].shape[1])
    mean = float(np.mean(problem.dose(x0)[p["ptv"]]))
    # run to convergence: L-BFGS-B stops when a step lowers the objective by less than
    # 1e-12 of its start (the float32 products' precision), at most 5000 iterations
    res = optimize_weights(problem, x0 * 50.0 / mean, max_iterations=5000, tolerance=1e-12)
    log = {"iterations": res.iterations, "outer": res.outer_iterations,
           "constraints": [str(c) for c in res.constraints]}  # fmt: skip
    print(json.dumps(log), file=sys.stderr)
    return res.weights


def _clarabel(p: dict[str, Any]) -> np.ndarray:
    import cvxpy as cp

    a = p["A"].astype(np.float64)
    n = a.shape[1]
    x = cp.Variable(n, nonneg=True)
    d_ptv = FRACTIONS * (a[p["ptv"]] @ x)
    d_core = FRACTIONS * (a[p["core"]] @ x)
    d_nto = FRACTIONS * (a[p["nto"]] @ x)
    n_p, n_c, n_n = len(p["ptv"]), len(p["core"]), len(p["nto"])
    objective = (
        10 / (n_p * 2500) * cp.sum_squares(cp.pos(51.5 - d_ptv))
        + 10 / (n_p * 2500) * cp.sum_squares(cp.pos(d_ptv - 53.35))
        + 10 / (n_c * 625) * cp.sum_squares(cp.pos(d_core - 24.25))
        + 0.3 / (n_n * 2500) * cp.sum_squares(cp.pos(d_nto - p["nto_limit"]))
    )
    problem = cp.Problem(cp.Minimize(objective), [d_ptv <= 57.5, cp.sum(d_core) / n_c <= 15.0])
    problem.solve(solver=cp.CLARABEL, verbose=False)
    print(json.dumps({"status": problem.status, "solver_s": problem.solver_stats.solve_time,
                      "iterations": problem.solver_stats.num_iters}), file=sys.stderr)  # fmt: skip
    return np.maximum(np.asarray(x.value, dtype=np.float64), 0.0)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    return float("nan")


def _one(solver: str, data: Path, cache: Path, stride: int) -> None:
    import gc
    import threading

    p = _strided(_problem(data, cache), stride)
    gc.collect()
    rss0 = _rss_mib()
    peak = [rss0]
    done = threading.Event()

    def watch() -> None:  # the resident memory while the solver runs, every 20 ms
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss_mib())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0, c0 = time.perf_counter(), time.process_time()
    x = _lbfgsb(p) if solver == "lbfgsb" else _clarabel(p)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done.set()
    watcher.join()
    out = {"solver": solver, "wall_s": wall, "cpu_s": cpu, "rss_before_mib": rss0,
           "rss_peak_increase_mib": peak[0] - rss0,
           "max_rss_process_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "matrix": list(p["A"].shape), "nnz": int(p["A"].nnz), **_figures(p, x)}  # fmt: skip
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--solver", choices=["lbfgsb", "clarabel"], default=None)
    parser.add_argument(
        "--only",
        choices=["lbfgsb", "clarabel"],
        default=None,
        help="run one of the two (the other's row is kept from the last run)",
    )
    parser.add_argument("--timeout-s", type=float, default=1800.0)
    parser.add_argument("--stride", type=int, default=1, help="every n-th voxel (1: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.solver is not None:
        _one(args.solver, args.data, args.out, args.stride)
        return
    _problem(args.data, args.out)  # built (and cached) outside the timed runs
    tag = "" if args.stride == 1 else f"_stride{args.stride}"
    result = args.out / f"solvers_tg119_5mm{tag}.json"
    kept = json.loads(result.read_text()) if args.only and result.exists() else []
    rows = [r for r in kept if r["solver"] != args.only]
    for solver in ("lbfgsb", "clarabel") if args.only is None else (args.only,):
        load = float(Path("/proc/loadavg").read_text().split()[0])
        cmd = [sys.executable, __file__, "--solver", solver, "--data", str(args.data),
               "--out", str(args.out), "--stride", str(args.stride)]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout_s,
                                  check=True)  # fmt: skip
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["log"] = done.stderr.strip().splitlines()[-1:]
        except subprocess.TimeoutExpired:
            row = {"solver": solver, "timed_out_s": args.timeout_s}
        row["load_average_1min_before"] = load
        rows.append(row)
        print(json.dumps(row, indent=2))
    rows.sort(key=lambda r: r["solver"] != "lbfgsb")
    result.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
