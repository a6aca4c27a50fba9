"""Regenerate the dose kernels of a machine by Monte Carlo, bit for bit.

Usage, from the repository root::

    python -m tools.kernels.make_kernels 6X          # rewrite the kernel files
    python -m tools.kernels.make_kernels 6X --check  # regenerate and compare

Two tables are produced from the machine's spectrum (``<machine>.json`` in
``src/rtplan/dose/machines``) with the transport of :mod:`tools.kernels._montecarlo`:

* ``<machine>_point_kernel.txt``: the polyenergetic point spread kernel (Ahnesjö, Andreo &
  Brahme 1987, Acta Oncol. 26 49-56; Mackie, Bielajew, Rogers & Battista 1988, Phys. Med.
  Biol. 33 1-20): fraction of the energy released (TERMA) at a photon interaction that is
  imparted in each (radius, polar angle) bin in infinite water, the spectrum weighted by
  each energy's share of TERMA, ``phi(E) E mu(E)``. The part imparted by the charged
  particles of the first interaction (the primary kernel) is also written, and so is the
  primary share ``E_tr / E`` of each spectrum bin: with them the collapsed cone can follow
  the hardening of the beam with depth (``CollapsedConeEngine(hardening=True)``: primary
  and scatter kernels driven by collision kerma and scatter TERMA, Ahnesjö 1989; Hoban
  1995, Med. Phys. 22 2035-2044). It also holds the
  electron track-length spectrum used for the stopping-power ratios of
  :func:`rtplan.dose.dose_to_water`.
* ``<machine>_pencil_kernel.txt``: the pencil-beam kernel (Mohan & Chui 1987, Med. Phys.
  14 70-77): energy imparted per unit incident energy in (depth, radius) rings of
  semi-infinite water irradiated by an infinitely thin beam of the spectrum.

The generator is seeded from the machine file; each of 64 chunks of histories has its own
random stream, so the files do not depend on the number of threads. With the default
number of histories it runs in a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rtplan.dose._physics import mu_rho_water_without_coherent
from rtplan.dose.machines._model import MACHINE_DIR
from rtplan.dose.machines._tables import write_tables

__all__ = ["GENERATOR_VERSION", "generate", "main", "pencil_kernel_grid", "point_kernel_grid"]

_log = logging.getLogger(__name__)

GENERATOR_VERSION = 1

FloatArray = npt.NDArray[np.float64]


def point_kernel_grid() -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bins of the point kernel.

    Returns
    -------
    r_edges_cm : numpy.ndarray
        0, then 72 logarithmic edges from 0.005 to 60 cm.
    theta_edges_deg : numpy.ndarray
        1-degree polar-angle bins, 0 to 180.
    track_edges_mev : numpy.ndarray
        60 logarithmic electron-energy bins from 0.01 to 10 MeV.
    """
    r = np.concatenate([[0.0], np.geomspace(0.005, 60.0, 72)])
    theta = np.arange(0.0, 181.0, 1.0)
    track = np.geomspace(0.01, 10.0, 61)
    return r, theta, track


def pencil_kernel_grid() -> tuple[FloatArray, FloatArray]:
    """Bins of the pencil kernel.

    Returns
    -------
    z_edges_cm : numpy.ndarray
        1 mm depth bins to 6 cm, then 2.5 mm bins to 45 cm.
    rho_edges_cm : numpy.ndarray
        0, then 60 logarithmic edges from 0.005 to 40 cm.
    """
    z = np.concatenate([np.arange(0.0, 6.0, 0.1), np.arange(6.0, 45.0001, 0.25)])
    rho = np.concatenate([[0.0], np.geomspace(0.005, 40.0, 60)])
    return z, rho


def _spectrum_bins(machine: dict[str, object]) -> tuple[FloatArray, FloatArray, FloatArray]:
    spec = machine["spectrum"]
    comm = machine.get("commissioning", {})
    assert isinstance(spec, dict)
    assert isinstance(comm, dict)
    mid = np.asarray(spec["energy_mev"], dtype=np.float64)
    phi = np.asarray(spec["fluence_per_mev"], dtype=np.float64)
    filt = float(comm.get("extra_filtration_water_cm", 0.0))
    phi = phi * np.exp(-mu_rho_water_without_coherent(mid) * filt)
    half = 0.5 * float(spec["bin_width_mev"])
    return mid - half, mid + half, phi


def generate(
    machine_name: str,
    out_dir: Path,
    *,
    point_histories: int | None = None,
    pencil_histories: int | None = None,
) -> list[Path]:
    """Run the Monte Carlo and write the kernel tables of a machine.

    Parameters
    ----------
    machine_name : str
        Machine file stem, e.g. ``"6X"``.
    out_dir : pathlib.Path
        Folder to write into.
    point_histories, pencil_histories : int, optional
        Override the numbers of histories of the machine file (for quick tests; files made
        so differ from the shipped ones).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from tools.kernels._montecarlo import run_pencil_kernel, run_point_kernel_parts

    machine = json.loads((MACHINE_DIR / f"{machine_name}.json").read_text(encoding="utf-8"))
    kern = machine["kernels"]
    seed = int(kern["seed"])
    n_point = int(point_histories or kern["point_histories"])
    n_pencil = int(pencil_histories or kern["pencil_histories"])
    lo, hi, phi = _spectrum_bins(machine)
    mid = 0.5 * (lo + hi)
    width = hi - lo
    number = phi * width  # photons per bin
    terma_share = number * mid * mu_rho_water_without_coherent(mid)
    terma_share /= terma_share.sum()
    number_share = number / number.sum()

    written: list[Path] = []
    r_edges, theta_edges, track_edges = point_kernel_grid()
    t0 = time.perf_counter()
    parts = run_point_kernel_parts(
        energy_lo_mev=lo,
        energy_hi_mev=hi,
        weights=terma_share,
        r_edges_cm=r_edges,
        theta_edges_deg=theta_edges,
        track_edges_mev=track_edges,
        histories=n_point,
        seed=seed,
    )
    _log.info("point kernel: %d histories in %.1f s", n_point, time.perf_counter() - t0)
    header = [
        f"rtplan point spread kernel of machine {machine_name} in water",
        f"generator tools.kernels.make_kernels version {GENERATOR_VERSION}",
        f"seed {seed}, histories {n_point}, 64 chunks",
        "kernel: fraction of the energy released at the origin (primary along +z)",
        "imparted in each bin; rows r_edges_cm, columns theta_edges_deg",
        "kernel_primary: the part of kernel imparted by the charged particles of the",
        "first interaction (the rest travels on as photons: the scatter kernel)",
        "track: electron track length (cm per MeV released) in each track_edges_mev bin",
        "primary_fraction: per spectrum bin (mid energies spectrum_energy_mev), the share of",
        "a photon's energy imparted as primary energy (E_tr / E)",
        "spectrum weights: TERMA share phi(E) E mu(E) of each spectrum bin",
    ]
    path = out_dir / str(kern["point_file"])
    write_tables(
        path,
        header,
        {
            "r_edges_cm": r_edges,
            "theta_edges_deg": theta_edges,
            "track_edges_mev": track_edges,
            "kernel": parts.total,
            "kernel_primary": parts.primary,
            "track": parts.track,
            "spectrum_energy_mev": mid,
            "primary_fraction": parts.primary_fraction,
        },
    )
    written.append(path)

    z_edges, rho_edges = pencil_kernel_grid()
    t0 = time.perf_counter()
    pencil = run_pencil_kernel(
        energy_lo_mev=lo,
        energy_hi_mev=hi,
        weights=number_share,
        z_edges_cm=z_edges,
        rho_edges_cm=rho_edges,
        histories=n_pencil,
        seed=seed + 1000,
    )
    _log.info("pencil kernel: %d histories in %.1f s", n_pencil, time.perf_counter() - t0)
    header = [
        f"rtplan pencil-beam kernel of machine {machine_name} in semi-infinite water",
        f"generator tools.kernels.make_kernels version {GENERATOR_VERSION}",
        f"seed {seed + 1000}, histories {n_pencil}, 64 chunks",
        "kernel: energy imparted in each (depth, radius) ring per unit incident energy;",
        "rows z_edges_cm, columns rho_edges_cm",
    ]
    path = out_dir / str(kern["pencil_file"])
    write_tables(path, header, {"z_edges_cm": z_edges, "rho_edges_cm": rho_edges, "kernel": pencil})
    written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the generator.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        0 on success; 1 if ``--check`` found a difference.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.kernels.make_kernels", description=__doc__.split("\n")[0]
    )
    parser.add_argument("machine", nargs="?", default="6X", help="machine name (default 6X)")
    parser.add_argument(
        "--check", action="store_true", help="regenerate in a temporary folder and compare"
    )
    parser.add_argument("--output", type=Path, default=None, help="folder to write into")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            files = generate(args.machine, Path(tmp))
            same = True
            for f in files:
                ref = MACHINE_DIR / f.name
                equal = ref.is_file() and ref.read_bytes() == f.read_bytes()
                same &= equal
                print(f"{f.name}: {'identical' if equal else 'DIFFERS'}")
            return 0 if same else 1
    out = args.output or MACHINE_DIR
    for f in generate(args.machine, out):
        print(f"wrote {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
