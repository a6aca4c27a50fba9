"""Run the whole rtplan command-line chain on a clinical-size study, timing every step.

A medical physicist's session on a 512 x 512 x 180 CT (see ``make_study.py``): study
summary, a 5-field conformal plan computed with the collapsed-cone and the pencil-beam
engines (default 2.5 mm grid), DVH metrics and clinical goals, gamma between the two
engines, a posterior biopsy path, axial/coronal/sagittal overlays, the HTML report, and the
Python API (``rtplan.load_study``, every structure's mask). Each step runs in its own
process under ``/usr/bin/time -v``: its wall time and peak memory (maximum resident set
size) are recorded.

Usage::

    .venv/bin/python benchmarks/e2e/run_e2e.py [--workdir /tmp/rtplan-e2e] [--reuse-study]
                                               [--cold] [--src SRC] [--label NAME]

``--cold`` gives numba an empty cache directory, so each step pays the compilation a first
run after installation pays; by default the cache next to the sources is used (warm).
``--src`` runs another rtplan source tree (e.g. an older commit extracted with
``git archive``) for before/after comparisons. Results go to ``WORKDIR/results-LABEL.json``
and are printed as a Markdown table; the logs of every step are in ``WORKDIR/logs``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RTPLAN = "from rtplan.cli.main import entry_point; entry_point()"
GANTRY = "0,72,144,216,288"
GOALS = ("PTV D95 >= 90 %", "SpinalCord D0.03cc <= 105 %", "Kidney_L Dmean <= 10 Gy")
AVOID = ("SpinalCanal", "Kidney_L", "Kidney_R")


@dataclass
class Step:
    """One timed command."""

    name: str
    command: str
    status: int
    ok: bool
    wall_s: float
    max_rss_mib: float
    log: str


def _parse_time_v(text: str) -> tuple[float, float]:
    """(wall seconds, max RSS MiB) from the report of ``/usr/bin/time -v``."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if wall is None or rss is None:
        raise RuntimeError("no /usr/bin/time -v report in the step's stderr")
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = 60.0 * seconds + float(part)
    return seconds, int(rss.group(1)) / 1024.0


def _run(name: str, argv: list[str], logs: Path, env: dict[str, str], ok: tuple[int, ...]) -> Step:
    """Run ``argv`` under ``/usr/bin/time -v``; its output goes to ``logs/<name>.log``."""
    log = logs / (re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") + ".log")
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *argv], capture_output=True, text=True, env=env, check=False
    )
    text = f"$ {' '.join(argv)}\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    log.write_text(text, encoding="utf-8")
    wall, rss = _parse_time_v(proc.stderr)
    if proc.returncode not in ok:
        print(f"\n  {name}: exit status {proc.returncode}, see {log}", file=sys.stderr)
    shown = " ".join(["rtplan", *argv[3:]] if argv[1:3] == ["-c", RTPLAN] else argv)
    return Step(name, shown, proc.returncode, proc.returncode in ok, wall, rss, str(log))


def _machine() -> dict[str, object]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found.group(1).strip() if found else ""
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"MemTotal:\s*(\d+) kB", meminfo.read_text())
        mem = f"{int(found.group(1)) / 2**20:.1f} GiB" if found else ""
    import numba
    import numpy

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "load_average": os.getloadavg(),
    }


def run_chain(workdir: Path, *, reuse_study: bool, cold: bool, src: Path | None) -> list[Step]:
    """Make the study (unless reused) and run every step; returns them in order."""
    python = sys.executable
    study = workdir / "study"
    out = workdir / "out"
    logs = workdir / "logs"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    if cold:
        cache = workdir / "numba-cache-cold"
        shutil.rmtree(cache, ignore_errors=True)
        env["NUMBA_CACHE_DIR"] = str(cache)

    def rtplan(*args: str) -> list[str]:
        return [python, "-c", RTPLAN, *args]

    steps: list[Step] = []

    def step(name: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> None:
        print(f"{name} ...", end=" ", flush=True)
        s = _run(name, argv, logs, env, ok)
        print(f"{s.wall_s:.1f} s, {s.max_rss_mib:.0f} MiB, exit {s.status}", flush=True)
        steps.append(s)

    if not (reuse_study and (study / "RS.dcm").exists()):
        step("make study", [python, str(HERE / "make_study.py"), str(study)])
    cc, pb = out / "cc", out / "pb"
    rd = str(cc / "RD.dcm")
    traj = out / "trajectory"
    plan = ["--conformal", "--target", "PTV", "--gantry", GANTRY]
    rx = ["--prescription-gy", "24", "--fractions", "3"]
    goals = [a for g in GOALS for a in ("--goal", g)]
    needle = ["--avoid", *AVOID, "--approach", "posterior"]
    step("info", rtplan("info", str(study)))
    step("dose collapsed-cone", rtplan("dose", str(study), *plan, *rx, "-o", str(cc)))
    pencil = ["--engine", "pencil-beam", "-o", str(pb)]
    step("dose pencil-beam", rtplan("dose", str(study), *plan, *rx, *pencil))
    curves = ["-o", str(out / "metrics.csv"), "--curves", str(out / "dvh.json")]
    step("dvh", rtplan("dvh", str(study), "--dose", rd, *goals, *curves), ok=(0, 1))
    step("gamma 3%/2mm", rtplan("gamma", rd, str(pb / "RD.dcm")))
    paths = ["--target", "GTV", *needle, "--dose", rd, "-o", str(traj)]
    step("trajectory", rtplan("trajectory", str(study), *paths))
    for plane in ("axial", "coronal", "sagittal"):
        view = ["--plane", plane, "--dose", rd, "--trajectory", str(traj / "trajectories.json")]
        png = ["-o", str(out / f"overlay_{plane}.png")]
        step(f"overlay {plane}", rtplan("overlay", str(study), *view, *png))
    report = ["--dose", rd, *goals, "--needle-target", "GTV", *needle]
    html = ["-o", str(out / "report.html")]
    step("report", rtplan("report", str(study), *report, *html), ok=(0, 1))
    step("python API", [python, str(Path(__file__).resolve()), "--api", str(study)])
    return steps


def api_steps(study: Path) -> None:
    """``rtplan.load_study`` and every structure's mask on the CT grid, timed in-process."""
    import rtplan

    t0 = time.perf_counter()
    s = rtplan.load_study(study)
    t1 = time.perf_counter()
    voxels = 0
    for structure in s.structures:
        voxels += int(structure.mask(s.ct.grid).sum())
    t2 = time.perf_counter()
    body = s.structures.by_type("EXTERNAL")[0]
    body.fractional_mask(s.ct.grid)
    t3 = time.perf_counter()
    print(
        json.dumps(
            {
                "load_study_s": round(t1 - t0, 3),
                "masks_s": round(t2 - t1, 3),
                "n_structures": len(s.structures),
                "mask_voxels": voxels,
                "body_fractional_mask_s": round(t3 - t2, 3),
            }
        )
    )


def markdown(steps: list[Step]) -> str:
    """The steps as a Markdown table."""
    lines = ["| step | wall (s) | peak RSS (MiB) | exit |", "|---|---:|---:|---:|"]
    for s in steps:
        lines.append(f"| {s.name} | {s.wall_s:.1f} | {s.max_rss_mib:.0f} | {s.status} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rtplan-e2e"))
    parser.add_argument("--reuse-study", action="store_true", help="keep WORKDIR/study")
    parser.add_argument("--cold", action="store_true", help="empty numba cache (first run)")
    parser.add_argument("--src", type=Path, default=None, help="rtplan source tree to run")
    parser.add_argument("--label", default=None, help="name of the results file")
    parser.add_argument("--api", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.api is not None:
        api_steps(args.api)
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    machine = _machine()
    steps = run_chain(args.workdir, reuse_study=args.reuse_study, cold=args.cold, src=args.src)
    label = args.label or ("cold" if args.cold else "warm")
    api_log = Path(steps[-1].log).read_text(encoding="utf-8").split("--- stderr")[0]
    api = json.loads(api_log.strip().splitlines()[-1]) if steps[-1].status == 0 else {}
    result = {
        "label": label,
        "machine": machine,
        "load_average_after": os.getloadavg(),
        "src": str(args.src) if args.src else "installed rtplan",
        "steps": [asdict(s) for s in steps],
        "api": api,
    }
    path = args.workdir / f"results-{label}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print()
    print(markdown(steps))
    print(f"\nPython API: {api}")
    print(f"machine: {machine}")
    print(f"results: {path}")
    return 0 if all(s.ok for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
