"""Image library benchmark: index >= 1,000 synthetic studies, serially and on a local cluster.

    nice -n 19 .venv/bin/python benchmarks/library/bench_library.py --studies 1000 \
        --work /tmp/rtplan-library-bench

Steps (each printed as it finishes; the figures go to ``results.json`` in --work):

1. write the synthetic library (rtplan.library.synthetic_library, two processes);
2. serial rate: index a separate library of --serial studies in this process;
3. cluster rate: ``rtplan library index`` on every study with --workers 2 (a local Dask
   cluster), with its progress, sampling the resident memory of every worker process;
4. kill a worker: index a separate library of --kill-subset studies on a 2-worker cluster,
   SIGKILL one worker after a third of them, then count the studies (each exactly once?);
5. kill the whole run: index another such library in a child process, SIGKILL it after a
   third of the studies, run ``rtplan library index`` again: only the missing ones are indexed;
6. similar and stats on the full library; the population plot (population.png here);
7. peers: dicompyler-core + pandas DVH table of the planned studies, timed and compared.

Nothing here is committed but this script and its README; the data go to --work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
RTPLAN = [str(Path(sys.executable).with_name("rtplan"))]


def _write_chunk(args: tuple[str, int, int, bool]) -> int:
    from rtplan import library

    root, start, n, junk = args
    marker = Path(root) / ".chunks" / f"{start:06d}"
    if marker.exists():  # written by an earlier, interrupted run of this script
        return n
    done = len(library.synthetic_library(root, n, seed=2026, start=start, junk=junk))
    marker.parent.mkdir(exist_ok=True)
    marker.write_text(str(done))
    return done


def _load() -> list[float]:
    """Load averages (1, 5, 15 min): other work on the machine while a step runs."""
    return [round(x, 1) for x in os.getloadavg()]


def write_library(root: Path, n: int) -> float:
    if (root / ".complete").exists() and int((root / ".complete").read_text()) == n:
        print(f"library of {n} studies already at {root}")
        return 0.0
    start = time.perf_counter()
    chunks = [(str(root), s, min(50, n - s), s == 0) for s in range(0, n, 50)]
    with ProcessPoolExecutor(2) as pool:
        done = sum(pool.map(_write_chunk, chunks))
    (root / ".complete").write_text(str(n))
    seconds = time.perf_counter() - start
    print(f"wrote {done} studies in {seconds:.0f} s")
    return seconds


def _cli(*args: str) -> list[str]:
    return [*RTPLAN, "library", *args]


class MemorySampler(threading.Thread):
    """Peak resident memory and CPU time of a process and its children, every 0.5 s.

    ``peak`` holds the children (the Dask workers), ``cpu_s`` every process (the last CPU
    time seen, user + system): the CPU work, whatever else loads the machine.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.peak: dict[int, int] = {}
        self.cpu_s: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            try:
                for child in [self.root, *self.root.children(recursive=True)]:
                    try:
                        rss = child.memory_info().rss
                        t = child.cpu_times()
                    except psutil.Error:
                        continue
                    self.cpu_s[child.pid] = t.user + t.system
                    if child.pid != self.root.pid:
                        self.peak[child.pid] = max(self.peak.get(child.pid, 0), rss)
            except psutil.Error:
                pass
            self.stop.wait(0.5)


def small_library(work: Path, name: str, n: int, seed: int) -> Path:
    """A separate synthetic library of n studies (kept between runs of this script)."""
    from rtplan import library

    root = work / name
    if not (root / ".complete").exists():
        library.synthetic_library(root, n, seed=seed, junk=False)
        (root / ".complete").write_text(str(n))
    return root


def serial_rate(work: Path, n: int) -> dict[str, float]:
    """Index n studies in this process (the serial rate)."""
    from rtplan import library

    root = small_library(work, "serial", n, seed=11)
    db = work / "serial.duckdb"
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    library.index(root / "flat_00001", work / "warm.duckdb")  # imports and compiled kernels
    load = _load()
    start, cpu = time.perf_counter(), time.process_time()
    s = library.index(root, db)
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    n = s.added + s.failed
    rate = 60.0 * n / seconds
    print(f"serial: {s.studies} studies in {seconds:.0f} s = {rate:.1f} studies/min "
          f"(CPU {cpu_s:.0f} s = {cpu_s / n:.2f} s/study; load {load} -> {_load()})")  # fmt: skip
    return {"studies": s.studies, "seconds": seconds, "per_min": rate, "cpu_s": cpu_s,
            "cpu_s_per_study": cpu_s / n, "per_min_one_idle_core": 60.0 * n / cpu_s,
            "load_before": load, "load_after": _load()}  # fmt: skip


def cluster_rate(root: Path, work: Path) -> dict[str, object]:
    db = work / "library.duckdb"
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    load = _load()
    start = time.perf_counter()
    child = subprocess.Popen(
        _cli("index", str(root), "--db", str(db), "--workers", "2", "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    sampler = MemorySampler(child.pid)
    sampler.start()
    out, err = child.communicate()
    sampler.stop.set()
    seconds = time.perf_counter() - start
    (work / "cluster_progress.txt").write_text(err)
    summary = json.loads(out)
    rate = 60.0 * (summary["added"] + summary["failed"]) / seconds
    peaks = sorted(sampler.peak.values(), reverse=True)
    n = summary["added"] + summary["failed"]
    cpu_s = sum(sampler.cpu_s.values())
    print(f"cluster (2 workers): {summary['studies']} studies in {seconds:.0f} s = "
          f"{rate:.1f} studies/min; peak RSS of the largest processes: "
          f"{[round(p / 2**20) for p in peaks[:3]]} MiB; CPU {cpu_s:.0f} s = "
          f"{cpu_s / n:.2f} s/study; load {load} -> {_load()}")  # fmt: skip
    print("progress (last lines):\n" + "\n".join(err.strip().splitlines()[-3:]))
    return {"summary": summary, "seconds": seconds, "per_min": rate,
            "peak_rss_mib": [round(p / 2**20) for p in peaks[:4]], "cpu_s": cpu_s,
            "cpu_s_per_study": cpu_s / n, "per_min_two_idle_cores": 120.0 * n / cpu_s,
            "load_before": load, "load_after": _load()}  # fmt: skip


def kill_worker(work: Path, n: int) -> dict[str, object]:
    """SIGKILL one worker process of a 2-worker cluster a third of the way through."""
    import distributed

    from rtplan import library

    root = small_library(work, "kill_worker", n, seed=12)
    db = work / "kill_worker.duckdb"
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    killed: list[int] = []
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                                 memory_limit="2GiB") as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        pids = list(client.run(os.getpid).values())

        def progress(p: library.Progress) -> None:
            if p.phase == "index" and not killed and p.done >= p.total // 3:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        start = time.perf_counter()
        s = library.index(root, db, scheduler=client, progress=progress)
        seconds = time.perf_counter() - start
    with library.open_library(db) as lib:
        rows = lib.query("SELECT count(*) AS n, count(DISTINCT study_key) AS distinct_keys, "
                         "count(*) FILTER (WHERE status = 'ok') AS ok FROM studies")[0]  # fmt: skip
    print(f"kill a worker: pid {killed} killed; {rows} in {seconds:.0f} s; {s.to_dict()}")
    return {"killed": killed, "rows": rows, "summary": s.to_dict(), "seconds": seconds}


def kill_run(work: Path, n: int) -> dict[str, object]:
    """SIGKILL a whole (serial) index run a third of the way; run it again."""
    from rtplan import library

    root = small_library(work, "kill_run", n, seed=13)
    db = work / "kill_run.duckdb"
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    # the run prints each study as it is received; it is killed a third of the way through
    script = (
        "import sys\nfrom rtplan import library\n"
        "def show(p):\n    if p.phase == 'index':\n        print(p.done, p.total, flush=True)\n"
        "library.index(sys.argv[1], sys.argv[2], progress=show)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(root), str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    seen = total = 0
    for line in child.stdout:
        m = re.match(r"(\d+) (\d+)", line)
        if m:
            seen, total = int(m.group(1)), int(m.group(2))
            if seen >= total // 3:
                child.send_signal(signal.SIGKILL)
                break
    child.wait()
    with library.open_library(db) as lib:
        kept = lib.query("SELECT count(*) AS n FROM studies")[0]["n"]
    start = time.perf_counter()
    again = subprocess.run(_cli("index", str(root), "--db", str(db), "--json"),
                           capture_output=True, text=True, check=True)  # fmt: skip
    summary = json.loads(again.stdout)
    with library.open_library(db) as lib:
        rows = lib.query("SELECT count(*) AS n, count(DISTINCT study_key) AS d FROM studies")[0]
    seconds = time.perf_counter() - start
    result = {"progress_at_kill": seen, "total": total, "committed_at_kill": kept,
              "rerun": summary, "rerun_seconds": seconds, "rows": rows}  # fmt: skip
    print(
        f"kill the run: killed at {seen}/{total}, {kept} committed; re-run added "
        f"{summary['added']} + failed {summary['failed']}, skipped {summary['skipped']}; {rows}"
    )
    return result


def queries(root: Path, work: Path) -> dict[str, object]:
    from rtplan import library

    db = work / "library.duckdb"
    folders = sorted({p.parent for p in root.rglob("*_CT_000.dcm")})
    folder = folders[min(7, len(folders) - 1)]
    start = time.perf_counter()
    cases = library.similar(folder, db, k=5)
    t_similar = time.perf_counter() - start
    start = time.perf_counter()
    kbp = library.predict_goals(folder, db, prescription_gy=50.0)
    t_kbp = time.perf_counter() - start
    start = time.perf_counter()
    stats = library.population_stats(db, by=["sex", "age"])
    t_stats = time.perf_counter() - start
    library.write_population_report(stats, work / "population.html")
    library.write_population_png(stats, HERE / "population.png")
    print(f"similar {t_similar:.2f} s, predict_goals {t_kbp:.2f} s, stats {t_stats:.2f} s")
    print("goals:", kbp.goals)
    return {"similar_s": t_similar, "predict_goals_s": t_kbp, "stats_s": t_stats,
            "cases": [c.to_dict() for c in cases][:2], "goals": list(kbp.goals)}  # fmt: skip


def peers(root: Path, work: Path, limit: int) -> dict[str, object]:
    """dicompyler-core + pandas: a DVH table of the planned studies; agreement with ours."""
    import pandas as pd
    import pydicom.dicomio

    if not hasattr(pydicom.dicomio, "read_file"):  # dicompyler-core 0.5.6 on pydicom 3
        pydicom.dicomio.read_file = pydicom.dcmread
    from dicompylercore import dicomparser, dvhcalc

    from rtplan import library

    plans = sorted(root.rglob("*_RD.dcm"))[:limit]
    rows = []
    start = time.perf_counter()
    for rd in plans:
        tag = rd.name[:6]
        rs = rd.with_name(f"{tag}_RS.dcm")
        structures = dicomparser.DicomParser(str(rs)).GetStructures()
        for number, roi in structures.items():
            h = dvhcalc.get_dvh(str(rs), str(rd), number)
            rows.append({"folder": str(rd.parent), "tag": tag, "structure": roi["name"],
                         "mean_gy": float(h.mean), "max_gy": float(h.max),
                         "volume_cc": float(h.volume)})  # fmt: skip
    table = pd.DataFrame(rows)
    seconds = time.perf_counter() - start
    with library.open_library(work / "library.duckdb") as lib:
        ours = pd.DataFrame(lib.query(
            "SELECT s.folder, m.structure, m.value AS ours_mean_gy FROM dose_metrics m "
            "JOIN studies s USING (study_key) WHERE m.metric = 'mean_gy'"))  # fmt: skip
    merged = table.merge(ours, on=["folder", "structure"])
    diff = (merged["ours_mean_gy"] - merged["mean_gy"]).abs()
    result = {
        "plans": len(plans), "structures": len(table), "seconds": seconds,
        "per_plan_s": seconds / max(len(plans), 1), "compared": len(merged),
        "mean_dose_abs_diff_gy_median": float(diff.median()) if len(diff) else None,
        "mean_dose_abs_diff_gy_p95": float(diff.quantile(0.95)) if len(diff) else None,
    }  # fmt: skip
    print(f"dicompyler-core + pandas: {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--serial", type=int, default=60, help="studies for the serial rate")
    parser.add_argument("--kill-subset", type=int, default=40)
    parser.add_argument("--peer-plans", type=int, default=40)
    parser.add_argument("--work", type=Path, default=Path("/tmp/rtplan-library-bench"))
    parser.add_argument("--only", default=None, help="comma-separated steps")
    args = parser.parse_args()
    work = args.work
    root = work / "dicom"
    work.mkdir(parents=True, exist_ok=True)
    results_path = work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    steps = args.only.split(",") if args.only else [
        "write", "serial", "cluster", "queries", "peers", "kill_worker", "kill_run"]  # fmt: skip
    for step in steps:
        if step == "write":
            results["write_s"] = write_library(root, args.studies) or results.get("write_s")
        elif step == "serial":
            results["serial"] = serial_rate(work, args.serial)
        elif step == "cluster":
            results["cluster"] = cluster_rate(root, work)
        elif step == "queries":
            results["queries"] = queries(root, work)
        elif step == "peers":
            results["peers"] = peers(root, work, args.peer_plans)
        elif step == "kill_worker":
            results["kill_worker"] = kill_worker(work, args.kill_subset)
        elif step == "kill_run":
            results["kill_run"] = kill_run(work, args.kill_subset)
        results_path.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
