"""Write the beam data of the independent monitor-unit check: a virtual water tank.

Usage, from the repository root::

    python -m tools.mu_check.make_beam_data 6X   # rewrite src/rtplan/dose/machines/6X_mu_check.txt

What a clinic measures to commission a hand-calculation (AAPM TG-71, Gibbons et al. 2014),
made on rtplan's machine model:

* central-axis dose per MU of square fields (3 to 30 cm at the surface) at SSD 100 cm in
  water, every 2.5 mm to 30 cm depth: the collapsed-cone engine's dose in a water tank
  that extends 6 cm beyond the field on each side (the measurement of the depth doses and
  of the total scatter factors, normalised by the engine calibration of 1 MU = 1 cGy at
  d_max for 10 x 10 cm² at SSD 100 cm);
* in-air output ratios (collimator scatter factors) of square collimator openings, from the
  machine's two-source head model (``6X.json``: focal and extra-focal Gaussian sources,
  jaw transmission), on the central axis: what a mini-phantom measures;
* off-axis ratios: the dose at the centre of a 10 x 10 cm² field moved off the axis by
  asymmetric jaws (3 to 12 cm at the isocentre plane), relative to the same field on the
  axis, at six depths -- what the check needs at the centre of an off-axis aperture (a
  large field's profile would understate it: its axis dose holds the scatter of its horns);
* the backscatter deficit of thin slabs: central-axis dose in slabs 10, 15 and 20 cm thick
  relative to the 31 cm tank, by the thickness of water behind the point (5, 10 and 20 cm
  fields), what a limb or a head lacks behind the calculation point.

The table is data, like measured data in a clinic: the check reads it and never calls an
engine, so its algorithm (equivalent square, TMR from the depth doses, inverse square,
effective depth by its own ray sum) stays independent of the engines' algorithms.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

import rtplan
from rtplan.dose.machines._model import BeamModel, load_machine
from rtplan.dose.machines._tables import write_tables
from rtplan.testing import water_phantom

__all__ = ["main", "sc_in_air", "tank_run"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

FIELDS_MM = (30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 120.0, 150.0, 200.0, 250.0, 300.0)
SC_FIELDS_MM = (20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 120.0, 150.0, 200.0, 250.0, 300.0, 400.0)
OAR_DEPTHS_MM = (15.0, 50.0, 100.0, 150.0, 200.0, 250.0)
OAR_RADII_MM = (0.0, 30.0, 60.0, 90.0, 120.0)
BACKSCATTER_FIELDS_MM = (50.0, 100.0, 200.0)
BACKSCATTER_SLABS_MM = (100.0, 150.0, 200.0)
BACKSCATTER_MM = tuple(float(b) for b in range(0, 151, 5))
GRID_MM = 2.5
DEPTH_MM = 310.0
SSD_MM = 1000.0


def sc_in_air(machine: BeamModel, field_mm: float) -> float:
    """Relative energy fluence on the axis behind a square opening (not normalised).

    The focal source (share ``1 - f_e``) and the extra-focal source (share ``f_e``) are
    Gaussians at the isocentre plane; the fraction of each seen through a centred square of
    side ``s`` from the axis is ``erf(s / (2 sqrt(2) sigma))**2``; the jaws transmit ``t``.
    """
    t = machine.jaw_transmission

    def seen(sigma: float) -> float:
        return float(math.erf(field_mm / (2.0 * math.sqrt(2.0) * sigma)) ** 2)

    f_e = machine.extra_focal_fraction
    focal = t + (1.0 - t) * seen(machine.focal_sigma_mm)
    extra = t + (1.0 - t) * seen(machine.extra_focal_sigma_mm)
    return (1.0 - f_e) * focal + f_e * extra


def tank_run(
    field_mm: float, engine: str, depth_mm: float = DEPTH_MM, offset_mm: float = 0.0
) -> tuple[FloatArray, FloatArray, rtplan.Dose]:
    """Depths (mm) and dose per MU (Gy/MU) along the fan line through the field's centre.

    A square field at SSD 100 cm, its centre ``offset_mm`` off the axis along x at the
    isocentre plane (asymmetric jaws).
    """
    width = max(240.0, (field_mm + 2 * offset_mm) * (SSD_MM + DEPTH_MM) / SSD_MM + 120.0)
    width = 10.0 * math.ceil(width / 10.0)
    ct = water_phantom(width_mm=width, depth_mm=depth_mm, spacing_mm=GRID_MM)
    h = 0.5 * field_mm
    beam = rtplan.Beam(
        energy="6X",
        gantry_deg=0.0,
        isocenter_mm=(0.0, 0.0, 0.0),
        jaws_mm=(offset_mm - h, offset_mm + h, -h, h),
        mu=100.0,
    )
    dose = rtplan.compute_dose(rtplan.Plan(beams=[beam]), ct, engine=engine, grid_mm=GRID_MM)
    g = dose.grid
    depth = np.asarray(g.axis_mm(1), dtype=np.float64)
    x = np.asarray(g.axis_mm(2), dtype=np.float64)
    k = round(float(g.mm_to_index([0.0, 0.0, 0.0])[2]))
    arr = np.asarray(dose.array[k], dtype=np.float64)  # (depth, x)
    on_line = offset_mm * (SSD_MM + depth) / SSD_MM
    values = np.array([np.interp(on_line[j], x, arr[j]) for j in range(depth.size)])
    return depth, values / 100.0, dose


def off_axis(engine: str, on_axis: tuple[FloatArray, FloatArray]) -> FloatArray:
    """Off-axis ratios (depth rows, radius columns) of a 10 x 10 cm² field moved off axis."""
    depth, axis = on_axis
    columns = [np.ones(len(OAR_DEPTHS_MM))]
    for r in OAR_RADII_MM[1:]:
        d_off, moved, _ = tank_run(100.0, engine, offset_mm=r)
        columns.append(
            np.interp(OAR_DEPTHS_MM, d_off, moved) / np.interp(OAR_DEPTHS_MM, depth, axis)
        )
        logger.info("off axis %g mm: %s", r, np.round(columns[-1], 4))
    return np.asarray(columns).T


def backscatter(engine: str, full: dict[float, tuple[FloatArray, FloatArray]]) -> FloatArray:
    """Dose in thin slabs over dose in the tank, by water thickness behind the point.

    Rows: ``BACKSCATTER_FIELDS_MM``; columns: ``BACKSCATTER_MM``. Each slab gives the ratio
    at the depths ``slab - b`` (at least 20 mm deep); the slabs are averaged.
    """
    rows = []
    for f in BACKSCATTER_FIELDS_MM:
        depth, tank = full[f]
        ratios = []
        for slab in BACKSCATTER_SLABS_MM:
            d_slab, thin, _ = tank_run(f, engine, depth_mm=slab)
            d = slab - np.asarray(BACKSCATTER_MM)
            ok = d >= 20.0
            r = np.full(d.shape, np.nan)
            r[ok] = np.interp(d[ok], d_slab, thin) / np.interp(d[ok], depth, tank)
            ratios.append(r)
            logger.info("slab %g mm, field %g mm: %s", slab, f, np.round(r, 4))
        rows.append(np.nanmean(np.asarray(ratios), axis=0))
    return np.asarray(rows)


def file_header(machine_name: str, engine: str) -> list[str]:
    """The comment lines at the top of the beam-data file."""
    return [
        f"Beam data of machine {machine_name} for the independent MU check "
        "(rtplan.dose._mu_check), written by python -m tools.mu_check.make_beam_data.",
        f"Virtual water tank: {engine} engine, {GRID_MM} mm grid, SSD {SSD_MM / 10:g} cm, "
        "calibration 1 MU = 1 cGy at d_max (10 x 10 cm2, SSD 100 cm).",
        "depth_mm: depths of the voxel centres; field_mm: square field sides at the surface;",
        "dose_gy_per_mu: central-axis dose per MU (rows: fields, columns: depths);",
        "sc_field_mm, sc: in-air output ratio (collimator scatter) of square openings at the",
        "isocentre, relative to 10 x 10 cm2, from the machine's two-source head model;",
        "oar_depth_mm, oar_radius_mm, oar: dose at the centre of a 10 x 10 cm2 field moved off",
        "axis (radius at the isocentre plane) over the field on axis (rows: depths, columns:",
        "radii);",
        "backscatter_field_mm, backscatter_mm, backscatter: central-axis dose in slabs 10, 15",
        "and 20 cm thick over that in the tank, by the water behind the point (mean of slabs).",
    ]


def beam_data(machine_name: str, engine: str) -> tuple[list[str], dict[str, FloatArray]]:
    """The header lines and sections of the beam-data file."""
    machine = load_machine(machine_name)
    profiles = []
    full = {}
    for f in FIELDS_MM:
        depth, per_mu, _ = tank_run(f, engine)
        logger.info("%g mm: d_max dose %.5f Gy/MU", f, per_mu.max())
        profiles.append(per_mu)
        full[f] = (depth, per_mu)
    sc_raw = np.array([sc_in_air(machine, s) for s in SC_FIELDS_MM])
    sc = sc_raw / sc_in_air(machine, 100.0)
    header = file_header(machine.name, engine)
    sections = {
        "depth_mm": depth,
        "field_mm": np.asarray(FIELDS_MM),
        "dose_gy_per_mu": np.asarray(profiles),
        "sc_field_mm": np.asarray(SC_FIELDS_MM),
        "sc": sc,
        "oar_depth_mm": np.asarray(OAR_DEPTHS_MM),
        "oar_radius_mm": np.asarray(OAR_RADII_MM),
        "oar": off_axis(engine, full[100.0]),
        "backscatter_field_mm": np.asarray(BACKSCATTER_FIELDS_MM),
        "backscatter_mm": np.asarray(BACKSCATTER_MM),
        "backscatter": backscatter(engine, full),
    }
    return header, sections


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the virtual water tank and write the beam-data file.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        0 on success.
    """
    parser = argparse.ArgumentParser(prog="python -m tools.mu_check.make_beam_data")
    parser.add_argument("machine", nargs="?", default="6X")
    parser.add_argument("--engine", default="collapsed-cone")
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    machine = load_machine(args.machine)
    out = args.output or machine.directory / f"{machine.name}_mu_check.txt"
    header, sections = beam_data(args.machine, args.engine)
    write_tables(out, header, sections)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
