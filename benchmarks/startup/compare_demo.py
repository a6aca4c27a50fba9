"""Whether two ``rtplan demo`` output folders hold the same results, bit for bit.

Compares the dose grid of the thigh plan (``RD.dcm``), its DVH tables, the ranked needle
trajectories (table and JSON, less the fields that name times, UIDs or paths) and every
overlay image. Used to check that a change of compilation (inlining, serial loops, the
warm-up's order) changed no result::

    python benchmarks/startup/compare_demo.py OUT_BEFORE OUT_AFTER

Exits with 1 if anything differs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

TABLES = (
    "thigh_sarcoma/dvh.csv",
    "thigh_sarcoma/dvh_metrics.csv",
    "spine_metastasis/trajectory/trajectories.csv",
)
RUN_DEPENDENT = ("time", "uid", "date", "path", "file")


def _without_run_fields(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {
            k: _without_run_fields(v)
            for k, v in doc.items()
            if not any(word in k.lower() for word in RUN_DEPENDENT)
        }
    if isinstance(doc, list):
        return [_without_run_fields(v) for v in doc]
    return doc


def _dose_bytes(path: Path) -> tuple[bytes, str]:
    import pydicom

    ds = pydicom.dcmread(path)
    grid = ds.pixel_array * float(ds.DoseGridScaling)
    return grid.tobytes(), f"{grid.shape}, max {grid.max():.3f} Gy"


def compare(a: Path, b: Path) -> list[tuple[str, bool]]:
    """``(what, identical)`` for each compared result of folders ``a`` and ``b``."""
    rows = []
    dose_a, shown = _dose_bytes(a / "thigh_sarcoma" / "RD.dcm")
    dose_b, _ = _dose_bytes(b / "thigh_sarcoma" / "RD.dcm")
    rows.append((f"thigh_sarcoma/RD.dcm dose grid ({shown})", dose_a == dose_b))
    for name in TABLES:
        rows.append((name, (a / name).read_text() == (b / name).read_text()))
    name = "spine_metastasis/trajectory/trajectories.json"
    docs = [_without_run_fields(json.loads((x / name).read_text())) for x in (a, b)]
    rows.append((f"{name} (less times, UIDs, paths)", docs[0] == docs[1]))
    for png in sorted(a.rglob("*.png")):
        rel = png.relative_to(a)
        digests = [hashlib.sha1((x / rel).read_bytes()).hexdigest() for x in (a, b)]
        rows.append((str(rel), digests[0] == digests[1]))
    return rows


def main() -> int:
    """Print one line per result; 0 if all are identical."""
    a, b = (Path(p) for p in sys.argv[1:3])
    rows = compare(a, b)
    for what, same in rows:
        print(f"{'identical' if same else 'DIFFERENT'}  {what}")
    return 0 if all(same for _, same in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
