"""Calibrate the dose engines of a machine: 1 MU = 1 cGy at d_max, 10 x 10 cm², SSD 100 cm.

Usage::

    python -m rtplan.dose.machines.calibrate 6X     # rewrite 6X_calibration.json

Each engine computes the reference field (gantry 0, isocentre on the surface of a
24 x 24 x 20 cm water phantom, jaws 10 x 10 cm at the isocentre, 2.5 mm grid); the dose
per unit energy fluence at the depth of maximum dose on the central axis (a parabola through
the three highest points) defines ``gy_per_mu_per_fluence = 0.01 / D_max``. The file also
records the SHA-256 of the kernel tables, so a calibration made with other kernels is
noticed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan.dose._engine import DoseEngine, get_engine
from rtplan.dose.machines._model import BeamModel, load_machine

__all__ = [
    "REFERENCE_GRID_MM",
    "calibrate_engine",
    "kernel_digest",
    "main",
    "reference_central_axis",
    "water_phantom",
]

_log = logging.getLogger(__name__)

REFERENCE_GRID_MM = 2.5
REFERENCE_GY_PER_MU = 0.01

FloatArray = npt.NDArray[np.float64]


def water_phantom(
    *,
    width_mm: float = 240.0,
    depth_mm: float = 200.0,
    spacing_mm: float = REFERENCE_GRID_MM,
    density: float = 1.0,
) -> Any:
    """A water box whose anterior surface is the plane ``y = 0`` (HFS, LPS mm).

    Parameters
    ----------
    width_mm : float
        Lateral (x) and longitudinal (z) size, centred on 0.
    depth_mm : float
        Size along ``+y`` (posterior) from the surface.
    spacing_mm : float
        Voxel size; an odd number of voxels puts a voxel centre on ``x = z = 0``.
    density : float
        Mass density, g/cm³ (water composition).

    Returns
    -------
    rtplan.Image
        Density image (``units="g/cm3"``) with patient position HFS.
    """
    from rtplan.grid import Grid
    from rtplan.image import Image, PatientPosition

    n_lat = round(width_mm / spacing_mm) // 2 * 2 + 1
    n_dep = round(depth_mm / spacing_mm)
    half = (n_lat - 1) / 2 * spacing_mm
    grid = Grid(
        shape=(n_lat, n_dep, n_lat),
        spacing_mm=(spacing_mm, spacing_mm, spacing_mm),
        origin_mm=(-half, 0.5 * spacing_mm, -half),
    )
    return Image(
        array=np.full(grid.shape, density, dtype=np.float64),
        grid=grid,
        units="g/cm3",
        name="water phantom",
        patient_position=PatientPosition.HFS,
    )


def reference_central_axis(
    engine: DoseEngine, machine: BeamModel, *, field_mm: float = 100.0
) -> tuple[FloatArray, FloatArray]:
    """Central-axis dose per unit fluence of a square field at SSD = SAD in water.

    Parameters
    ----------
    engine : DoseEngine
    machine : BeamModel
    field_mm : float
        Side of the square field at the isocentre (on the surface).

    Returns
    -------
    depth_mm, dose : numpy.ndarray
        Depths of the voxel centres and the engine's dose per unit fluence there.
    """
    from rtplan.dose._setup import prepare_setup
    from rtplan.plan import Beam

    ct = water_phantom()
    setup = prepare_setup(ct, grid_mm=REFERENCE_GRID_MM)
    h = field_mm / 2.0
    beam = Beam(
        energy=machine.name,
        gantry_deg=0.0,
        isocenter_mm=(0.0, 0.0, 0.0),
        sad_mm=machine.sad_mm,
        jaws_mm=(-h, h, -h, h),
    )
    dose = engine.beam_dose(beam, setup, machine)
    ijk = setup.grid.mm_to_index([0.0, 0.0, 0.0])
    i = round(float(ijk[0]))
    k = round(float(ijk[2]))
    depth = setup.grid.axis_mm(1)
    return depth, np.asarray(dose[k, :, i], dtype=np.float64)


def _peak(depth: FloatArray, dose: FloatArray) -> tuple[float, float]:
    i = int(np.argmax(dose))
    if 0 < i < dose.size - 1:
        y0, y1, y2 = dose[i - 1], dose[i], dose[i + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            off = 0.5 * (y0 - y2) / den
            h = depth[1] - depth[0]
            return float(depth[i] + off * h), float(y1 - 0.25 * (y0 - y2) * off)
    return float(depth[i]), float(dose[i])


def calibrate_engine(engine: str | DoseEngine, machine: str | BeamModel) -> dict[str, float]:
    """Run the reference field and return the engine's calibration.

    Parameters
    ----------
    engine : str or DoseEngine
    machine : str or BeamModel

    Returns
    -------
    dict
        ``gy_per_mu_per_fluence``, ``d_max_mm`` and ``grid_mm``.
    """
    eng = get_engine(engine)
    mach = load_machine(machine) if isinstance(machine, str) else machine
    depth, dose = reference_central_axis(eng, mach)
    d_max, peak = _peak(depth, dose)
    _log.info(
        "%s / %s: d_max %.1f mm, peak %.5g per unit fluence", eng.name, mach.name, d_max, peak
    )
    return {
        "gy_per_mu_per_fluence": REFERENCE_GY_PER_MU / peak,
        "d_max_mm": d_max,
        "grid_mm": REFERENCE_GRID_MM,
    }


def kernel_digest(machine: BeamModel) -> dict[str, str]:
    """SHA-256 of a machine's kernel tables, by file name."""
    out = {}
    for name in (machine.point_kernel_file, machine.pencil_kernel_file):
        path = machine.directory / name
        out[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: calibrate the built-in engines of a machine and write the file.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        0 on success.
    """
    parser = argparse.ArgumentParser(prog="python -m rtplan.dose.machines.calibrate")
    parser.add_argument("machine", nargs="?", default="6X")
    parser.add_argument(
        "--engines", default="collapsed-cone,pencil-beam", help="comma-separated engine names"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mach = load_machine(args.machine)
    engines = {name: calibrate_engine(name, mach) for name in args.engines.split(",")}
    data = {
        "machine": mach.name,
        "reference": "10 x 10 cm2 at SSD 100 cm in water, 1 MU = 0.01 Gy at d_max",
        "kernels_sha256": kernel_digest(mach),
        "engines": engines,
    }
    path = mach.directory / mach.calibration_file
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
