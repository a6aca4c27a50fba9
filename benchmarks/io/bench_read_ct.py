"""Time ``rtplan.io.read_ct`` against a plain pydicom loop on the same series.

The plain loop is what a script without rtplan does: read every file, sort by the
z of ImagePositionPatient, stack ``pixel_array * slope + intercept``. rtplan does more
(a header-only discovery pass, geometry checks along the slice normal, float32 HU), so the
question is what that costs.

Run: ``.venv/bin/python benchmarks/io/bench_read_ct.py [--slices 200] [--size 512]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom

from rtplan.io import read_ct
from rtplan.testing import SeriesGeometry, write_ct_series


def plain_pydicom(folder: Path) -> np.ndarray:
    datasets = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack(
        [
            ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            for ds in datasets
        ]
    )


def best_of(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    volume = rng.integers(-1000, 2000, size=(args.slices, args.size, args.size)).astype(float)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_ct_series(folder, volume, SeriesGeometry(spacing_mm=(2.5, 0.9, 0.9)))
        ours = read_ct(folder)
        ref = plain_pydicom(folder)
        assert np.array_equal(ours.array, ref), "rtplan and plain pydicom disagree"
        t_ours = best_of(lambda: read_ct(folder), args.repeat)
        t_ref = best_of(lambda: plain_pydicom(folder), args.repeat)
    mb = volume.size * 2 / 2**20
    print(f"series: {args.slices} slices of {args.size}x{args.size} ({mb:.0f} MiB stored)")
    print(f"plain pydicom loop : {t_ref:6.3f} s")
    print(f"rtplan.io.read_ct  : {t_ours:6.3f} s  ({t_ours / t_ref:.2f}x)")


if __name__ == "__main__":
    main()
