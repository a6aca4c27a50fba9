"""Score the point spread kernel of a machine with Geant4, to check the generator's kernel.

Usage, from the repository root (needs ``geant4_pybind``, e.g. through
``pip install ./plugins/rtplan-geant4``)::

    nice -n 19 .venv/bin/python -m tools.kernels.geant4_point_kernel 6X --histories 200000
    .venv/bin/python -m tools.kernels.geant4_point_kernel 6X --compare out.npz

The kernel of :mod:`tools.kernels.make_kernels` is the energy imparted around a photon's
*first interaction*, forced at the origin. Geant4 cannot force an interaction, but in an
infinite homogeneous medium the kernel is the same wherever the interaction happens, so
here each primary photon starts at the centre of a water sphere of 1.5 m radius and every
energy deposit of its event is scored relative to the point of its first interaction (read
by a stepping action): radius and polar angle from the photon's direction, on the
generator's bins (:func:`tools.kernels.make_kernels.point_kernel_grid`). Deposits by the
charged particles set in motion at that interaction and by their descendants are the
*primary* kernel, as in the generator. Photon energies are drawn as the generator draws
them: spectrum bins by their TERMA share, uniform within a bin.

Physics: ``G4EmStandardPhysics_option3``, 0.1 mm production cut, and, without Geant4's data
sets, the data-less reduction of ``rtplan_geant4`` (no photoelectric effect, Rayleigh
scattering or bremsstrahlung): the physics of ``benchmarks/dose/mc``.

``--compare`` prints, per cone of the collapsed-cone engine and for the primary and the
scatter parts, the energy imparted within radii of 0.25-40 cm by both kernels (shares of
the released energy, with the Geant4 kernel's statistical uncertainty from 10 batches).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["compare", "main", "score"]

_log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

_RADII_CM = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0)

#: Points along each step's chord over which its energy deposit is spread.
_CHORD_POINTS = 4
_CHORD_FRACTIONS = tuple((i + 0.5) / _CHORD_POINTS for i in range(_CHORD_POINTS))

#: Electron steps short against the kernel's bins near the interaction: at most 5 % of the
#: residual range (down to 20 um) and a multiple-scattering range factor of 0.02 (Geant4's
#: defaults, 20 % and 0.04, make steps of 2 mm at 2 MeV, whose chords would put the energy
#: too far forward in the sub-millimetre bins).
_FINE_STEPS = ("/process/eLoss/StepFunction 0.05 0.02 mm", "/process/msc/RangeFactor 0.02")


def _spectrum(
    machine_name: str, depth_cm: float = 0.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Spectrum bin edges and TERMA shares, as :func:`make_kernels.generate` uses them.

    With ``depth_cm`` the shares are those of the TERMA at that depth of water, each bin
    attenuated by ``exp(-mu d)`` (the hardened spectrum that releases energy there).
    """
    from rtplan.dose._physics import mu_rho_water_without_coherent
    from rtplan.dose.machines._model import MACHINE_DIR
    from tools.kernels.make_kernels import _spectrum_bins

    machine = json.loads((MACHINE_DIR / f"{machine_name}.json").read_text(encoding="utf-8"))
    lo, hi, phi = _spectrum_bins(machine)
    mid = 0.5 * (lo + hi)
    mu = mu_rho_water_without_coherent(mid)
    share = phi * (hi - lo) * mid * mu * np.exp(-mu * depth_cm)
    return lo, hi, share / share.sum()


def _geant4_environment() -> None:
    """Point Geant4's data variables at empty folders when no data set is installed."""
    from rtplan_geant4._data import worker_environment

    env, _ = worker_environment("auto")
    for key, value in env.items():
        if key.startswith("G4") or key == "GEANT4_DATA_DIR":
            os.environ[key] = value


def _classes(g4: Any, state: dict[str, Any]) -> tuple[type, type]:
    """Geant4 user classes: a water sphere, the photon gun and the kernel tally."""
    r_edges = state["r_edges"]
    t_edges = state["theta_edges"]

    class Detector(g4.G4VUserDetectorConstruction):  # type: ignore[misc]
        def Construct(self) -> Any:
            water = g4.G4NistManager.Instance().FindOrBuildMaterial("G4_WATER")
            solid = g4.G4Orb("water", 1.5 * g4.m)
            logical = g4.G4LogicalVolume(solid, water, "water")
            state["keep"] += [solid, logical]
            return g4.G4PVPlacement(None, g4.G4ThreeVector(), logical, "water", None, False, 0)

    class Gun(g4.G4VUserPrimaryGeneratorAction):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.gun = g4.G4ParticleGun(1)
            self.gun.SetParticleDefinition(g4.G4Gamma.Definition())
            self.gun.SetParticlePosition(g4.G4ThreeVector(0.0, 0.0, 0.0))
            self.gun.SetParticleMomentumDirection(g4.G4ThreeVector(0.0, 0.0, 1.0))

        def GeneratePrimaries(self, event: Any) -> None:
            rng = state["rng"]
            i = int(np.searchsorted(state["cdf"], rng.random() * state["cdf"][-1]))
            e = state["lo"][i] + (state["hi"][i] - state["lo"][i]) * rng.random()
            state["energy"] = e
            state["origin"] = None
            state["primary_tracks"] = set()
            self.gun.SetParticleEnergy(e * g4.MeV)
            self.gun.GeneratePrimaryVertex(event)

    class Tracking(g4.G4UserTrackingAction):  # type: ignore[misc]
        def PreUserTrackingAction(self, track: Any) -> None:
            tid = track.GetTrackID()
            parent = track.GetParentID()
            charged = track.GetDefinition().GetPDGCharge() != 0.0
            origin = state["origin"]
            if not charged or origin is None:
                return
            if parent == 1:
                v = track.GetVertexPosition()
                if (v.x, v.y, v.z) == origin:
                    state["primary_tracks"].add(tid)
            elif parent in state["primary_tracks"]:
                state["primary_tracks"].add(tid)

    class Stepping(g4.G4UserSteppingAction):  # type: ignore[misc]
        def UserSteppingAction(self, step: Any) -> None:
            track = step.GetTrack()
            post = step.GetPostStepPoint()
            if state["origin"] is None and track.GetTrackID() == 1:
                proc = post.GetProcessDefinedStep()
                if proc is not None and proc.GetProcessName() != "Transportation":
                    p = post.GetPosition()
                    state["origin"] = (p.x, p.y, p.z)
                    if state["primary_only"]:  # no scattered photons: the primary kernel
                        track.SetTrackStatus(g4.G4TrackStatus.fStopAndKill)
            edep = step.GetTotalEnergyDeposit()
            if edep <= 0.0 or state["origin"] is None:
                return
            a = step.GetPreStepPoint().GetPosition()
            b = post.GetPosition()
            ox, oy, oz = state["origin"]
            which = "primary" if track.GetTrackID() in state["primary_tracks"] else "scatter"
            tally = state[which][state["batch"]]
            share = edep / g4.MeV / state["energy"] / _CHORD_POINTS
            for f in _CHORD_FRACTIONS:  # the deposit spread along the step's chord
                x = (a.x + f * (b.x - a.x) - ox) / g4.cm
                y = (a.y + f * (b.y - a.y) - oy) / g4.cm
                z = (a.z + f * (b.z - a.z) - oz) / g4.cm
                r = math.sqrt(x * x + y * y + z * z)
                ir = int(np.searchsorted(r_edges, r, side="right")) - 1
                if ir < 0 or ir >= r_edges.size - 1:
                    continue
                theta = math.degrees(math.acos(max(-1.0, min(1.0, z / r)))) if r > 0 else 0.0
                it = min(int(np.searchsorted(t_edges, theta, side="right")) - 1, t_edges.size - 2)
                tally[ir, it] += share

    class Actions(g4.G4VUserActionInitialization):  # type: ignore[misc]
        def Build(self) -> None:
            for action in (Gun(), Tracking(), Stepping()):
                state["keep"].append(action)
                self.SetUserAction(action)

    return Detector, Actions


def score(
    machine_name: str,
    histories: int,
    seed: int,
    batches: int = 10,
    *,
    primary_only: bool = False,
    depth_cm: float = 0.0,
) -> dict[str, Any]:
    """Run Geant4 and tally the point kernel in ``batches`` independent batches.

    Parameters
    ----------
    machine_name : str
        Machine file stem, e.g. ``"6X"``.
    histories : int
        Primary photons (split evenly over the batches).
    seed : int
        Seed of the photon energies and of Geant4's engine.
    batches : int
        Independent batches, for the uncertainty.
    primary_only : bool
        Stop each photon at its first interaction: the primary kernel only (much faster;
        the scatter tally is then empty).
    depth_cm : float
        Draw the photons from the spectrum that releases energy at this depth of water
        (the kernel of the hardened beam); 0 for the machine's kernel.

    Returns
    -------
    dict
        ``primary`` and ``scatter``: arrays ``(batches, n_r, n_theta)`` of the mean share
        of the photon's energy imparted in each bin; the bin edges; ``seconds``.
    """
    from tools.kernels.make_kernels import point_kernel_grid

    _geant4_environment()
    import geant4_pybind as g4  # type: ignore[import-not-found]
    from rtplan_geant4._worker import _remove_data_processes

    r_edges, t_edges, _ = point_kernel_grid()
    lo, hi, share = _spectrum(machine_name, depth_cm)
    per = -(-histories // batches)
    shape = (batches, r_edges.size - 1, t_edges.size - 1)
    state: dict[str, Any] = {
        "r_edges": r_edges, "theta_edges": t_edges, "lo": lo, "hi": hi,
        "cdf": np.cumsum(share), "rng": np.random.default_rng(seed), "keep": [],
        "primary": np.zeros(shape), "scatter": np.zeros(shape), "batch": 0, "origin": None,
        "primary_tracks": set(), "energy": 1.0, "primary_only": primary_only,
    }  # fmt: skip
    rm = g4.G4RunManagerFactory.CreateRunManager(g4.G4RunManagerType.Serial)
    detector_cls, actions_cls = _classes(g4, state)
    detector, actions = detector_cls(), actions_cls()
    physics = g4.G4VModularPhysicsList()
    physics.RegisterPhysics(g4.G4EmStandardPhysics_option3())
    physics.SetDefaultCutValue(0.1 * g4.mm)
    rm.SetUserInitialization(detector)
    rm.SetUserInitialization(physics)
    rm.SetUserInitialization(actions)
    ui = g4.G4UImanager.GetUIpointer()
    from rtplan_geant4._data import find_data_sets

    dataless = find_data_sets() is None
    commands = ["/control/verbose 0", "/run/verbose 0", "/event/verbose 0", "/tracking/verbose 0"]
    commands += list(_FINE_STEPS)
    if dataless:
        commands += ["/process/em/fluo false", "/process/em/auger false",
                     "/process/em/pixe false", "/process/em/UseGeneralProcess false"]  # fmt: skip
    for cmd in commands:
        ui.ApplyCommand(cmd)
    rm.Initialize()
    removed = _remove_data_processes(g4) if dataless else []
    t0 = time.perf_counter()
    for b in range(batches):
        state["batch"] = b
        ui.ApplyCommand(f"/random/setSeeds {seed + 7 * b + 1} {seed + 13 * b + 5}")
        rm.BeamOn(per)
        _log.info("batch %d/%d: %d photons (%.0f s)", b + 1, batches, per, time.perf_counter() - t0)
    return {
        "primary": state["primary"] / per,
        "scatter": state["scatter"] / per,
        "r_edges_cm": r_edges,
        "theta_edges_deg": t_edges,
        "histories": per * batches,
        "seconds": time.perf_counter() - t0,
        "dataless": dataless,
        "removed": ",".join(removed),
        "depth_cm": depth_cm,
    }


def compare(result: dict[str, Any], kernel_file: Path) -> str:
    """The generator's kernel against a Geant4 kernel, cone by cone (markdown).

    Parameters
    ----------
    result : dict
        From :func:`score` (or its ``.npz``).
    kernel_file : pathlib.Path
        A point kernel file of :mod:`tools.kernels.make_kernels`.

    Returns
    -------
    str
        A markdown table.
    """
    from rtplan.dose._deposition import DEFAULT_ZENITH_EDGES_DEG
    from rtplan.dose.machines._tables import read_tables

    t = read_tables(kernel_file)
    r = np.asarray(t["r_edges_cm"][0])
    th = np.asarray(t["theta_edges_deg"][0])
    ours = {"primary": t["kernel_primary"], "scatter": t["kernel"] - t["kernel_primary"]}
    edges = np.asarray(DEFAULT_ZENITH_EDGES_DEG)
    cone = np.clip(np.searchsorted(edges, 0.5 * (th[1:] + th[:-1]), side="right") - 1, 0, 11)
    rows = ["| part | cone (deg) | " + " | ".join(f"< {x:g} cm" for x in _RADII_CM) + " |",
            "|---|---|" + "---|" * len(_RADII_CM)]  # fmt: skip
    idx = [int(np.searchsorted(r[1:], x - 1e-9)) for x in _RADII_CM]
    for part in ("primary", "scatter"):
        g = np.asarray(result[part])
        for c in range(edges.size - 1):
            o_cum = np.cumsum(ours[part][:, cone == c].sum(axis=1))
            g_cum = np.cumsum(g[:, :, cone == c].sum(axis=2), axis=1)  # (batches, n_r)
            cells = []
            for i in idx:
                mean = float(g_cum[:, i].mean())
                sig = float(g_cum[:, i].std(ddof=1) / math.sqrt(g.shape[0]))
                cells.append(f"{o_cum[i]:.4f} / {mean:.4f}±{sig:.4f}")
            rows.append(f"| {part} | {edges[c]:g}-{edges[c + 1]:g} | " + " | ".join(cells) + " |")
        o_all = np.cumsum(ours[part].sum(axis=1))
        g_all = np.cumsum(g.sum(axis=2), axis=1)
        cells = [f"{o_all[i]:.4f} / {g_all[:, i].mean():.4f}" for i in idx]
        rows.append(f"| {part} | all | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module docstring).

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        0 on success.
    """
    p = argparse.ArgumentParser(prog="python -m tools.kernels.geant4_point_kernel")
    p.add_argument("machine", nargs="?", default="6X")
    p.add_argument("--histories", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=20250602)
    p.add_argument("--output", type=Path, default=Path("geant4_point_kernel.npz"))
    p.add_argument("--compare", type=Path, default=None, help="compare a saved result")
    p.add_argument("--kernel", type=Path, default=None, help="kernel file (default: shipped)")
    p.add_argument("--primary-only", action="store_true", help="score the primary kernel only")
    p.add_argument(
        "--depth-cm", type=float, default=0.0, help="the spectrum hardened by this depth of water"
    )
    args = p.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.compare is not None:
        result = dict(np.load(args.compare))
    else:
        result = score(
            args.machine, args.histories, args.seed, primary_only=args.primary_only,
            depth_cm=args.depth_cm,
        )  # fmt: skip
        np.savez_compressed(args.output, **result)
        print(f"wrote {args.output} ({result['histories']} photons, {result['seconds']:.0f} s)")
    from rtplan.dose.machines._model import load_machine

    m = load_machine(args.machine)
    kernel = args.kernel or m.directory / m.point_kernel_file
    print("ours / Geant4: share of the released energy imparted within each radius")
    print(compare(result, kernel))
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # leave without running Geant4's static destructors, which crash at exit after a run
    # (the Monte Carlo engine's worker leaves the same way)
    os._exit(status)
