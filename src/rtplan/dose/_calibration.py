"""The calibration of the dose engines: 1 MU = 1 cGy at d_max, 10 x 10 cm², SSD 100 cm.

Each engine computes the reference field: gantry 0, isocentre on the surface of a
24 x 24 x 20 cm water phantom (:func:`rtplan.testing.water_phantom`), jaws 10 x 10 cm at
the isocentre, 2.5 mm grid. The dose per unit energy fluence at the depth of maximum dose
on the central axis (a parabola through the three highest points) defines
``gy_per_mu_per_fluence = 0.01 / D_max``. The file also records the SHA-256 of the kernel
tables, so a calibration made with other kernels is noticed. The machine files hold the
calibration of the built-in engines (written by ``python -m tools.kernels.calibrate``, from
the repository root); other engines are calibrated at run time, on first use.
"""

from __future__ import annotations

import functools
import hashlib
import logging

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.dose._engine import get_engine
from rtplan.dose._protocol import DoseEngine
from rtplan.dose._setup import prepare_setup
from rtplan.dose.machines._model import BeamModel, load_machine
from rtplan.enum import Engine
from rtplan.plan import Beam

__all__ = [
    "REFERENCE_GRID_MM",
    "calibrate_engine",
    "engine_calibration",
    "kernel_digest",
    "reference_central_axis",
]

logger = logging.getLogger(__name__)

REFERENCE_GRID_MM = 2.5
REFERENCE_GY_PER_MU = 0.01

FloatArray = npt.NDArray[np.float64]


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
    from rtplan.testing import water_phantom

    ct = water_phantom(width_mm=240.0, depth_mm=200.0, spacing_mm=REFERENCE_GRID_MM)
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


def calibrate_engine(
    engine: Engine | str | DoseEngine, machine: str | BeamModel
) -> dict[str, float]:
    """Run the reference field and return the engine's calibration.

    Parameters
    ----------
    engine : Engine, str or DoseEngine
        Engine or its name.
    machine : str or BeamModel
        Machine or its name.

    Returns
    -------
    dict
        ``gy_per_mu_per_fluence``, ``d_max_mm`` and ``grid_mm``.
    """
    eng = get_engine(engine)
    mach = load_machine(machine) if isinstance(machine, str) else machine
    depth, dose = reference_central_axis(eng, mach)
    d_max, peak = _peak(depth, dose)
    logger.info(
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


@functools.lru_cache(maxsize=16)
def _stored_calibrations(machine_name: str) -> dict[str, dict[str, float]]:
    machine = load_machine(machine_name)
    data = machine.calibration()
    engines: dict[str, dict[str, float]] = data.get("engines", {})
    if engines and data.get("kernels_sha256") != kernel_digest(machine):
        warn(
            f"the calibration file of machine {machine_name} was made with other kernel "
            "tables; the engines are recalibrated now (in a source checkout, python -m "
            "tools.kernels.calibrate updates the file)"
        )
        return {}
    return engines


_RUNTIME_CALIBRATION: dict[tuple[str, str], float] = {}
"""Calibrations made in this session for engines the machine files do not hold."""


def engine_calibration(engine: Engine | str | DoseEngine, machine: BeamModel) -> float:
    """Gy per MU per unit engine output for an engine and machine.

    The machine's calibration file is used when it holds the engine; otherwise the engine
    is calibrated now on the reference field (and the result cached for the session).

    Parameters
    ----------
    engine : Engine, str or DoseEngine
        An engine or its name (see :func:`rtplan.dose.calculate`).
    machine : BeamModel
        Beam model of the machine.

    Returns
    -------
    float

    Examples
    --------
    >>> from rtplan.dose import engine_calibration, load_machine
    >>> 0.1 < engine_calibration("collapsed-cone", load_machine("6X")) < 1.0
    True
    """
    eng = get_engine(engine)
    entry = _stored_calibrations(machine.name).get(eng.name)
    if entry is not None:
        return float(entry["gy_per_mu_per_fluence"])
    key = (eng.name, machine.name)
    if key not in _RUNTIME_CALIBRATION:
        logger.info("calibrating dose engine %s for %s (not in the machine files)", *key)
        _RUNTIME_CALIBRATION[key] = calibrate_engine(eng, machine)["gy_per_mu_per_fluence"]
    return _RUNTIME_CALIBRATION[key]
