"""Clinical-size dose pairs for the gamma benchmark, computed by rtplan's engines.

The CT is the 512 x 512 x 180 lumbar-spine study of ``benchmarks/e2e`` (0.977 mm pixels,
2.5 mm slices; ``benchmarks/e2e/make_study.py``), the plan the five-field conformal 6 MV
plan of the end-to-end benchmark (gantry 0, 72, 144, 216 and 288 degrees on the PTV,
24 Gy in 3 fractions). Neither the plan nor the doses were designed for the gamma code:

* ``cc``: the reference, collapsed cone on the default 2.5 mm dose grid;
* ``pb``: the same plan through the pencil beam on the same grid (two engines that differ
  in the penumbra, behind bone and at depth);
* ``cc_shift_4mm``: collapsed cone with the isocentre moved 1 mm left and 1 mm posterior
  and 2 % more MU per beam, on a 4 mm dose grid (a lower-resolution evaluated grid whose
  voxel centres do not coincide with the reference's).

Usage::

    python benchmarks/e2e/make_study.py /tmp/rtplan-gamma/study
    python benchmarks/evaluate/clinical_doses.py /tmp/rtplan-gamma/study /tmp/rtplan-gamma/doses.npz

The file holds, per dose, the array (k, j, i) in Gy and its three axes in mm (slice, row
and column coordinates, LPS; the CT is axial HFS, so they are z, y, x).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

GANTRY_DEG = (0.0, 72.0, 144.0, 216.0, 288.0)


def axes_mm(dose: object) -> list[np.ndarray]:
    """Coordinates (mm) of the slice, row and column axes: z, y, x of an axial HFS grid."""
    grid = dose.grid  # type: ignore[attr-defined]
    if not np.allclose(np.asarray(grid.direction, dtype=float), np.eye(3)):
        raise SystemExit("the benchmark needs a dose grid with identity direction cosines")
    nk, nj, ni = grid.shape
    out = []
    for axis, n in ((2, nk), (1, nj), (0, ni)):  # (i, j, k) column of index_to_mm
        idx = np.zeros((n, 3))
        idx[:, axis] = np.arange(n)
        out.append(np.asarray(grid.index_to_mm(idx))[:, axis])
    return out


def main() -> None:
    import rtplan
    from rtplan.dose import calculate

    study_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    study = rtplan.load_study(study_dir)
    ct, ptv = study.ct, study.structures["PTV"]
    plan = rtplan.Plan.conformal(
        ptv, gantry_angles_deg=list(GANTRY_DEG), energy="6X", prescription_gy=24.0, fractions=3
    )
    doses = {}
    t0 = time.perf_counter()
    reference = calculate(plan, ct, engine="collapsed-cone")
    doses["cc"] = reference.dose
    print(f"cc: {reference.dose.grid.shape} in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    doses["pb"] = rtplan.compute_dose(plan, ct, engine="pencil-beam")
    print(f"pb: {doses['pb'].grid.shape} in {time.perf_counter() - t0:.1f} s", flush=True)
    # the reference plan's MU + 2 %, isocentre 1 mm to the patient's left (+x) and posterior (+y)
    beams = [
        dataclasses.replace(
            b,
            mu=1.02 * float(b.mu),
            isocenter_mm=tuple(float(v) for v in np.add(b.isocenter_mm, (1.0, 1.0, 0.0))),
        )
        for b in reference.plan.beams
    ]
    shifted = dataclasses.replace(reference.plan, beams=beams)
    t0 = time.perf_counter()
    doses["cc_shift_4mm"] = rtplan.compute_dose(shifted, ct, engine="collapsed-cone", grid_mm=4.0)
    print(f"cc_shift_4mm: {doses['cc_shift_4mm'].grid.shape} in {time.perf_counter() - t0:.1f} s")
    arrays: dict[str, np.ndarray] = {}
    for name, dose in doses.items():
        arrays[name] = np.asarray(dose.array, dtype=np.float64)
        for a, ax in zip("zyx", axes_mm(dose), strict=True):
            arrays[f"{name}_{a}"] = ax
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
