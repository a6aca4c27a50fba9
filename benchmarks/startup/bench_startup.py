"""Start-up costs of rtplan, each measured in fresh interpreters.

What a user waits for before any work is done:

* ``import``: ``import rtplan``;
* ``help``: ``rtplan --help`` (the console script's code path);
* ``dvh``: the first DVH in a process (the sample thigh CT and its PTV, an analytic dose
  on the CT grid), against a second DVH in the same process;
* ``dose``: the first collapsed-cone and pencil-beam calls (a 3-field plan on the sample
  thigh CT, 2.5 mm grid) with an empty numba cache, as in a new installation (and the
  background warm-up off: this measures the compilation), then again in a second process
  once the cache holds the compiled code;
* ``demo``: ``rtplan demo`` in a fresh virtual environment that holds only the wheel built
  from this tree (its dependencies are taken from the running interpreter's environment
  through a ``.pth`` file, so nothing is downloaded): first run (which starts the
  background compilation), second run, and a third once that compilation has finished.

Every figure is the wall time and the CPU time (user + system, children included) of a
fresh process. The machine's load average is recorded with each: on a shared machine the
wall times follow the load, the CPU times much less.

Usage::

    python benchmarks/startup/bench_startup.py [--src DIR] [--only import help dvh dose demo]
        [--repeat 5] [--out results.json]

``--src`` measures another checkout's ``src`` folder with the same interpreter (for a
before/after comparison: ``git archive HEAD | tar -x -C /tmp/head``); ``demo`` always builds
the wheel of this tree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HELP = """
import sys
from rtplan.cli.main import entry_point
sys.argv = ["rtplan", "--help"]
entry_point()
"""

DVH = """
import time
c0, t0 = time.process_time(), time.perf_counter()
import numpy as np
import rtplan
study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
ct, ptv = study.ct, study.structures["PTV"]
k, j, i = np.indices(ct.grid.shape, dtype=np.float64)
c = np.array(ct.grid.shape) / 2.0
array = 50.0 * np.exp(-((k - c[0]) ** 2 / 400 + (j - c[1]) ** 2 / 900 + (i - c[2]) ** 2 / 900))
dose = rtplan.Dose(array=array, grid=ct.grid)
c1, t1 = time.process_time(), time.perf_counter()
h = rtplan.dvh(dose, ptv)
c2, t2 = time.process_time(), time.perf_counter()
h = rtplan.dvh(dose, ptv)
c3, t3 = time.process_time(), time.perf_counter()
print({"setup_s": t1 - t0, "first_dvh_s": t2 - t1, "second_dvh_s": t3 - t2,
       "setup_cpu_s": c1 - c0, "first_dvh_cpu_s": c2 - c1, "second_dvh_cpu_s": c3 - c2,
       "d95_gy": float(h.D(95))})
"""

DOSE = """
import time
t0 = time.perf_counter()
import rtplan
study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
ct, ptv = study.ct, study.structures["PTV"]
plan = rtplan.Plan.conformal(ptv, gantry_angles_deg=[300, 60, 180], energy="6X",
                             prescription_gy=50.0, fractions=25)
t1 = time.perf_counter()
out = {"setup_s": t1 - t0}
for engine in ENGINES:
    s, c = time.perf_counter(), time.process_time()
    d = rtplan.compute_dose(plan, ct, engine=engine, grid_mm=2.5)
    out[engine + "_s"] = time.perf_counter() - s
    out[engine + "_cpu_s"] = time.process_time() - c
    out[engine + "_max_gy"] = float(d.array.max())
print(out)
"""


def _env(src: Path | None, **extra: str) -> dict[str, str]:
    env = os.environ.copy()
    env["RTPLAN_WARMUP"] = "0"  # measured here: this process alone
    if src is not None:
        env["PYTHONPATH"] = str(src)
    env.update(extra)
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, object]:
    """Run ``cmd`` once: wall and CPU seconds, and its last stdout line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{cmd[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stdout.strip().splitlines()
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "load": round(os.getloadavg()[0], 2),
        "last": lines[-1] if lines else "",
    }


def _repeat(cmd: list[str], env: dict[str, str], n: int) -> dict[str, object]:
    runs = [_run(cmd, env) for _ in range(n)]
    walls = [float(r["wall_s"]) for r in runs]  # type: ignore[arg-type]
    cpus = [float(r["cpu_s"]) for r in runs]  # type: ignore[arg-type]
    return {
        "wall_median_s": round(statistics.median(walls), 3),
        "wall_min_s": round(min(walls), 3),
        "cpu_median_s": round(statistics.median(cpus), 3),
        "load": [r["load"] for r in runs],
        "runs": n,
    }


def bench_import(src: Path | None, n: int) -> dict[str, object]:
    """``import rtplan``."""
    return _repeat([sys.executable, "-c", "import rtplan"], _env(src), n)


def bench_help(src: Path | None, n: int) -> dict[str, object]:
    """``rtplan --help`` through the console script's entry point."""
    return _repeat([sys.executable, "-c", HELP], _env(src), n)


def bench_dvh(src: Path | None, n: int) -> dict[str, object]:
    """First and second DVH in a fresh process (numba cache as it is)."""
    out = []
    for _ in range(n):
        row = _run([sys.executable, "-c", DVH], _env(src))
        row.update(eval(str(row.pop("last"))))  # our own child's dict
        out.append(row)
    return {"runs": out}


def bench_dose(src: Path | None, engines: list[str]) -> dict[str, object]:
    """First dose calls with an empty numba cache, then with the cache filled."""
    code = DOSE.replace("ENGINES", repr(engines))
    with tempfile.TemporaryDirectory() as cache:
        # the compilation itself is measured here: no background warm-up
        env = _env(src, NUMBA_CACHE_DIR=cache)
        cold = _run([sys.executable, "-c", code], env)
        warm = _run([sys.executable, "-c", code], env)
    for row in (cold, warm):
        row.update(eval(str(row.pop("last"))))  # our own child's dict
    return {"empty_cache": cold, "filled_cache": warm}


def bench_demo(keep: Path | None) -> dict[str, object]:
    """``rtplan demo`` twice in a fresh environment holding only the wheel of this tree."""
    tmp = Path(tempfile.mkdtemp(prefix="rtplan-startup-"))
    try:
        dist = tmp / "dist"
        build = _run(
            [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
            _env(None),
        )
        shutil.rmtree(ROOT / "build", ignore_errors=True)
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # the wheel alone, by the new environment's own pip (never this environment's: with
        # --prefix it would uninstall this environment's rtplan)
        wheel = next(dist.glob("*.whl"))
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-index", str(wheel)],
            check=True,
        )  # fmt: skip
        # then its dependencies from this interpreter's environment, after its own packages
        site = next(venv.glob("lib/python*/site-packages"))
        deps = [p for p in sys.path if p.endswith("site-packages")]
        (site / "zz_dependencies.pth").write_text("\n".join(deps) + "\n")
        env = _env(None)
        env.pop("RTPLAN_WARMUP")  # a newcomer's environment
        env.pop("PYTHONPATH", None)
        env.pop("RTPLAN_SAMPLE_DATA", None)
        env.pop("NUMBA_CACHE_DIR", None)
        rtplan = str(venv / "bin" / "rtplan")
        where = _run(
            [str(venv / "bin" / "python"), "-c", "import rtplan; print(rtplan.__file__)"], env
        )
        if not str(where["last"]).startswith(str(venv)):
            raise SystemExit(f"the fresh environment imports rtplan from {where['last']}")
        out: dict[str, object] = {"wheel_build_s": build["wall_s"], "rtplan": where["last"]}
        out["help"] = _run([rtplan, "--help"], env)
        for name in ("first", "second"):
            row = _run([rtplan, "demo", "-o", str(tmp / name)], env, cwd=tmp)
            out[name] = row
        # the background compilation the first command started: wait for its marker
        pycache = Path(str(where["last"])).parent / "__pycache__"
        t0 = time.perf_counter()
        while not list(pycache.glob("rtplan-kernels-*.done")) and time.perf_counter() - t0 < 900:
            time.sleep(2.0)
        markers = list(pycache.glob("rtplan-kernels-*.done"))
        out["warm_up"] = markers[0].read_text().strip() if markers else "not finished"
        out["warm_up_done_after_second_s"] = round(time.perf_counter() - t0, 1)
        out["third"] = _run([rtplan, "demo", "-o", str(tmp / "third")], env, cwd=tmp)
        if keep is not None:
            shutil.copytree(venv, keep, symlinks=True, dirs_exist_ok=True)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _shown(path: Path) -> str:
    """``path`` relative to the repository root when inside it (no machine paths kept)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return path.name


def main() -> None:
    """Run the chosen measurements, print and write them as JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", type=Path, help="a checkout's src folder to measure instead")
    ap.add_argument("--only", nargs="+", default=["import", "help", "dvh", "dose", "demo"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--engines", nargs="+", default=["collapsed-cone", "pencil-beam"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    src = args.src.resolve() if args.src else None
    results: dict[str, object] = {
        # the source measured, relative to the repository when it lies inside it
        "src": _shown(src or ROOT / "src"),
        "python": sys.version.split()[0],
        "cores": os.cpu_count(),
    }
    steps = {
        "import": lambda: bench_import(src, args.repeat),
        "help": lambda: bench_help(src, args.repeat),
        "dvh": lambda: bench_dvh(src, min(args.repeat, 3)),
        "dose": lambda: bench_dose(src, args.engines),
        "demo": lambda: bench_demo(None),
    }
    for name in args.only:
        results[name] = steps[name]()
        print(name, json.dumps(results[name]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
