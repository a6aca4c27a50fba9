"""The collapsed cone against the Monte Carlo with its kernel tilted along each voxel's ray.

An experiment, not the engine's method (it is 50-100x slower: one transport per
direction). The engine aligns every voxel's kernel with the beam's central axis; a
kernel tilted along the voxel's own ray (the divergent primary photons' direction) sends
the energy of each transport direction ``u`` in proportion to the kernel's angular
energy density at the angle between ``u`` and that ray, not at the cone's own angle.
Here each direction's source is the TERMA times that ratio (the density per solid angle
``fraction / omega`` of the cones, interpolated log-linearly between their axes), divided
per voxel by the sum over the directions so that each voxel still releases its TERMA, and
each direction is transported alone. ``--hardening`` drives the primary and scatter
kernels apart (as ``CollapsedConeEngine(hardening=True)``).

Usage (from the repository root, about a minute)::

    .venv/bin/python benchmarks/dose/mc/tilt_experiment.py --output /tmp/tilt
    .venv/bin/python benchmarks/dose/mc/tilt_experiment.py --hardening --output /tmp/tilt_h

The table is ``compare.py``'s (collapsed cone only), in ``--output``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def tilted_beam_dose(hardening: bool) -> Any:
    """A collapsed-cone ``beam_dose`` with the kernel tilted along each voxel's ray."""
    from rtplan.dose._collapsed_cone import (
        machine_spectrum,
        quantise_density,
        released_energy,
        transport_all,
    )
    from rtplan.dose._deposition import cone_kernel

    def beam_dose(self, beam, setup, machine, *, progress=None):  # type: ignore[no-untyped-def]
        eta = np.ascontiguousarray(setup.electron_density)
        spacing = setup.spacing_ijk_mm
        kernel = cone_kernel(machine)
        mu, share = machine_spectrum(machine)
        p_share = kernel.primary_share_of(machine.energy_mev) if hardening else np.ones_like(mu)
        bf, primary, scatter = released_energy(beam, setup, machine, p_share)
        dirs, whole, rate = kernel.directions(self.n_azimuth)
        if hardening:
            surface = float(np.sum(share * mu * p_share) / np.sum(share * mu))
            amp = kernel.component_amplitudes(self.n_azimuth, surface)
        else:
            amp = np.stack([whole, np.zeros_like(whole)], axis=1)
        rot = np.stack([bf.ex, bf.ey, bf.axis], axis=1)
        dirs_grid = dirs @ rot.T
        # the kernel's energy per solid angle at each cone's axis
        edges = np.radians(kernel.zenith_edges_deg)
        omega = 2.0 * np.pi * (np.cos(edges[:-1]) - np.cos(edges[1:]))
        axes = np.radians(kernel.zenith_axis_deg)
        log_density = np.log(kernel.fraction / omega)
        cone = np.repeat(np.arange(axes.size), self.n_azimuth)
        # each voxel's ray (grid frame, unit)
        nk, nj, ni = primary.shape
        k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
        ray = [i * spacing[0] - bf.source[0], j * spacing[1] - bf.source[1],
               k * spacing[2] - bf.source[2]]  # fmt: skip
        length = np.sqrt(ray[0] ** 2 + ray[1] ** 2 + ray[2] ** 2)
        ray = [c / length for c in ray]

        def tilt(q: int) -> Any:
            u = dirs_grid[q]
            cos = np.clip(ray[0] * u[0] + ray[1] * u[1] + ray[2] * u[2], -1.0, 1.0)
            return np.exp(np.interp(np.arccos(cos), axes, log_density) - log_density[cone[q]])

        weights = kernel.fraction[cone] / self.n_azimuth
        released = np.zeros_like(primary)
        for q in range(len(dirs)):
            released += weights[q] * tilt(q)
        norm = kernel.fraction.sum() / released
        level = quantise_density(eta)
        dose = np.zeros_like(primary)
        for q in range(len(dirs)):
            f = tilt(q) * norm
            dose += transport_all(
                np.ascontiguousarray(primary * f), np.ascontiguousarray(scatter * f), level,
                spacing, np.ascontiguousarray(dirs_grid[q : q + 1]),
                np.ascontiguousarray(amp[q : q + 1]), np.ascontiguousarray(rate[q : q + 1]), 1,
            )  # fmt: skip
        return dose * setup.medium_factor(machine)

    return beam_dose


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hardening", action="store_true")
    p.add_argument("--output", type=Path, required=True, help="folder of the comparison")
    args, rest = p.parse_known_args(argv)
    import rtplan.dose._collapsed_cone as collapsed_cone

    collapsed_cone.CollapsedConeEngine.beam_dose = tilted_beam_dose(args.hardening)  # type: ignore[method-assign]
    args.output.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    import compare

    return int(
        compare.main(
            ["--engines", "collapsed-cone", "--no-plots", "--output", str(args.output), *rest]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
