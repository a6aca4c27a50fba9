"""The collapsed cone against the Monte Carlo with its point kernel scored by Geant4.

Usage (from the repository root; the ``.npz`` files from ``tools.kernels.geant4_point_kernel``)::

    nice -n 19 .venv/bin/python -m tools.kernels.geant4_point_kernel 6X --histories 20000 \\
        --output /tmp/g4_kernel.npz
    nice -n 19 .venv/bin/python -m tools.kernels.geant4_point_kernel 6X --histories 20000 \\
        --depth-cm 20 --output /tmp/g4_kernel_20cm.npz
    .venv/bin/python benchmarks/dose/mc/kernel_swap.py /tmp/g4_kernel.npz all --output /tmp/swap
    .venv/bin/python benchmarks/dose/mc/kernel_swap.py /tmp/g4_kernel.npz depth \\
        --deep /tmp/g4_kernel_20cm.npz --depth-cm 20 --output /tmp/swap_depth

``all`` uses Geant4's whole kernel (its primary and scatter parts); ``scatter`` the
shipped primary kernel with Geant4's scatter kernel; ``depth`` two Geant4 kernels, the
surface spectrum's and the spectrum at ``--depth-cm`` (``--deep``), each voxel's TERMA
shared between them linearly in its radiological depth (all to the deep kernel from
``--depth-cm`` on): an experiment on kernel hardening, not the engine's method. The
kernel files are written next to the comparison and the engine is pointed at them for
this process only; the table is ``compare.py``'s (collapsed cone only), in ``--output``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def _kernel_file(scored: Path, part: str, folder: Path) -> Path:
    """A point-kernel file of the 6X machine with (part of) the Geant4 kernel in it."""
    from rtplan.dose import load_machine
    from rtplan.dose.machines._tables import read_tables, write_tables

    machine = load_machine("6X")
    shipped = read_tables(machine.directory / machine.point_kernel_file)
    g4 = np.load(scored)
    primary = g4["primary"].mean(axis=0)  # batches are each normalised per photon
    scatter = g4["scatter"].mean(axis=0)
    sections = dict(shipped)
    if part == "scatter":
        sections["kernel"] = shipped["kernel_primary"] + scatter
    else:
        sections["kernel"] = primary + scatter
        sections["kernel_primary"] = primary
    path = folder / f"point_kernel_{scored.stem}_{part}.txt"
    write_tables(path, [f"6X point kernel, {part} from {scored.name}"], sections)
    return path


def _two_kernel_beam_dose(surface: Any, deep: Any, depth_cm: float) -> Any:
    """A collapsed-cone ``beam_dose`` that mixes two cone kernels by radiological depth."""
    from rtplan._jit import n_threads
    from rtplan.dose._collapsed_cone import quantise_density, released_energy, transport_all
    from rtplan.dose._terma_kernels import beam_geometry

    def beam_dose(self, beam, setup, machine, *, progress=None):  # type: ignore[no-untyped-def]
        bf, total, _ = released_energy(beam, setup, machine, np.ones(machine.energy_mev.size))
        eta = np.ascontiguousarray(setup.electron_density)
        spacing = setup.spacing_ijk_mm
        depth = beam_geometry(
            eta, spacing, bf.source, bf.axis, bf.ex, bf.ey, bf.sad_mm, setup.body
        )[0]
        w = np.clip(depth / depth_cm, 0.0, 1.0)
        dirs, amp_surface, rate = surface.directions(self.n_azimuth)
        _, amp_deep, _ = deep.directions(self.n_azimuth)
        rot = np.stack([bf.ex, bf.ey, bf.axis], axis=1)
        dose = transport_all(
            np.ascontiguousarray(total * (1.0 - w)), np.ascontiguousarray(total * w),
            quantise_density(eta), spacing, np.ascontiguousarray(dirs @ rot.T),
            np.ascontiguousarray(np.stack([amp_surface, amp_deep], axis=1)),
            np.ascontiguousarray(rate), n_threads(),
        )  # fmt: skip
        return dose * setup.medium_factor(machine)

    return beam_dose


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("scored", type=Path, help=".npz of tools.kernels.geant4_point_kernel")
    p.add_argument("part", choices=("all", "scatter", "depth"))
    p.add_argument("--deep", type=Path, help="with depth: the kernel scored at --depth-cm")
    p.add_argument("--depth-cm", type=float, default=20.0)
    p.add_argument("--output", type=Path, required=True, help="folder of the comparison")
    args, rest = p.parse_known_args(argv)

    import rtplan.dose._collapsed_cone as collapsed_cone
    import rtplan.dose._deposition as deposition

    args.output.mkdir(parents=True, exist_ok=True)
    edges = tuple(float(e) for e in deposition.DEFAULT_ZENITH_EDGES_DEG)
    surface_file = _kernel_file(args.scored, "scatter" if args.part == "scatter" else "all",
                                args.output)  # fmt: skip
    if args.part == "depth":
        if args.deep is None:
            p.error("depth needs --deep")
        surface = deposition._cone_kernel_cached(str(surface_file), edges)
        deep = deposition._cone_kernel_cached(str(_kernel_file(args.deep, "all", args.output)),
                                              edges)  # fmt: skip
        collapsed_cone.CollapsedConeEngine.beam_dose = _two_kernel_beam_dose(  # type: ignore[method-assign]
            surface, deep, args.depth_cm
        )
    else:

        def geant4_kernel(machine: Any, zenith_edges_deg: Any = edges) -> Any:
            return deposition._cone_kernel_cached(str(surface_file), edges)

        deposition.cone_kernel = geant4_kernel  # type: ignore[assignment]
    sys.path.insert(0, str(HERE))
    import compare

    return int(
        compare.main(
            ["--engines", "collapsed-cone", "--no-plots", "--output", str(args.output), *rest]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
