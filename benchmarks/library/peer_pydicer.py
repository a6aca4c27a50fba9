"""pydicer on a synthetic library: index, convert to NIfTI, first-order radiomics, DVHs.

pydicer is not a dependency of rtplan: run this with a separate environment, e.g.

    python -m venv /tmp/peervenv
    /tmp/peervenv/bin/pip install numpy setuptools wheel versioneer
    /tmp/peervenv/bin/pip install --no-build-isolation pyradiomics
    /tmp/peervenv/bin/pip install pydicer
    /tmp/peervenv/bin/python benchmarks/library/peer_pydicer.py DICOM_FOLDER WORK_FOLDER

It prints the wall and CPU seconds of each step and what came out (JSON); a step that
fails is reported with its error, not raised.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main() -> None:
    from pydicer import PyDicer

    source, work = Path(sys.argv[1]), Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tool = PyDicer(work)
    tool.add_input(source)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("preprocess", tool.preprocess),
        ("convert", tool.convert.convert),
        ("radiomics", tool.analyse.compute_radiomics),
        ("dvh", tool.analyse.compute_dvh),
    ]
    times: dict[str, dict[str, Any]] = {}
    for name, step in steps:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            step()
            result = "ok"
        except Exception as exc:  # what the peer cannot do is a result here
            result = f"{type(exc).__name__}: {exc}"[:300]
        times[name] = {
            "wall_s": round(time.perf_counter() - wall, 1),
            "cpu_s": round(time.process_time() - cpu, 1),
            "result": result,
        }
    converted = tool.read_converted_data()
    quarantined = tool.read_quarantined_data()
    out = {
        "files": len(tool.read_preprocessed_data()),
        "converted": converted["modality"].value_counts().to_dict(),
        "patients": int(converted["patient_id"].nunique()),
        "quarantined": quarantined.groupby("error").size().to_dict(),
        "dvh_rows": len(tool.analyse.get_all_dvhs_for_dataset()),
        "radiomics_rows": len(tool.analyse.get_all_computed_radiomics_for_dataset()),
    }
    print(json.dumps({"steps": times, "out": out}, indent=1, default=str))


if __name__ == "__main__":
    main()
