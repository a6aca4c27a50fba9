"""The Geant4 simulation process: ``python -m rtplan_geant4._worker JOB_DIR``.

It reads ``JOB_DIR/job.json`` (written by :mod:`rtplan_geant4._job`), builds the geometry,
the physics and the scoring meshes once, then runs one batch of histories for every
command line read from standard input (a JSON object ``{"batch", "events", "seeds",
"out"}``) and answers each with one JSON line on its standard output. Each batch writes,
per scoring mesh, the energy deposited in every bin (MeV) to ``out`` (a ``.npz`` file).

Geant4 writes its own messages to ``JOB_DIR/geant4-<pid>.log``. The process imports only
numpy and geant4_pybind (the environment, with the data-set variables, is set by the
parent), and leaves through ``os._exit`` so that Geant4's static destructors cannot crash
it after its results are written.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from rtplan_geant4._source import SourceSpec

#: Processes that read G4EMLOW (photoelectric effect, Rayleigh scattering,
#: Seltzer-Berger bremsstrahlung); removed in the data-less mode.
DATA_PROCESSES = ("phot", "Rayl", "eBrem")

#: Photons simulated in one Geant4 event (one Python call per event).
_BUFFER = 20000


def _cpp_pointer(obj: Any, pattern: tuple[int, ...]) -> int:
    """Address of the C++ object behind a pybind11 instance.

    pybind11 keeps the value pointer in the instance right after the Python object header,
    either directly (simple layout) or in a separately allocated array (smart holders, as
    geant4_pybind uses). The candidate whose memory holds ``pattern`` (consecutive 64-bit
    words) is the object.
    """
    slot = ctypes.c_uint64.from_address(id(obj) + 16).value
    candidates = [slot]
    if slot:
        candidates.append(ctypes.c_uint64.from_address(slot).value)
    want = np.asarray(pattern, dtype=np.uint64)
    for addr in candidates:
        if not addr:
            continue
        words = np.frombuffer(ctypes.string_at(addr, 256), dtype=np.uint64)
        for i in range(words.size - want.size + 1):
            if np.array_equal(words[i : i + want.size], want):
                return int(addr)
    raise RuntimeError("cannot locate the C++ object of a G4PhantomParameterisation")


def attach_material_indices(param: Any, indices: npt.NDArray[np.uintp]) -> None:
    """Give a G4PhantomParameterisation its voxel material indices.

    geant4_pybind exposes ``SetMaterialIndices(size_t*)`` with an integer argument, which
    stores a pointer to a temporary. This finds the member it writes (the only word that
    changes) and stores the address of ``indices`` there instead; the caller keeps
    ``indices`` alive. The result is checked through ``GetMaterialIndex``.

    Parameters
    ----------
    param : geant4_pybind.G4PhantomParameterisation
        With ``SetNoVoxels`` already called.
    indices : numpy.ndarray of uintp, C-contiguous
        Material index of each voxel, x fastest (copy number order).
    """
    nx, ny, nz = param.GetNoVoxelsX(), param.GetNoVoxelsY(), param.GetNoVoxelsZ()
    addr = _cpp_pointer(param, (nx, ny, nz, nx * ny))
    before = np.frombuffer(ctypes.string_at(addr, 256), dtype=np.uint64).copy()
    param.SetMaterialIndices(1)
    after = np.frombuffer(ctypes.string_at(addr, 256), dtype=np.uint64)
    changed = np.nonzero(before != after)[0]
    if changed.size != 1:
        raise RuntimeError("cannot locate the material-index member of G4PhantomParameterisation")
    ctypes.c_uint64.from_address(addr + 8 * int(changed[0])).value = indices.ctypes.data
    n = indices.size
    for copy in {0, 1, n // 3, n // 2, n - 1}:
        if param.GetMaterialIndex(copy) != int(indices[copy]):
            raise RuntimeError("the voxel material indices were not attached correctly")


class _Simulation:
    """Geometry, physics, source and meshes of one job, built once."""

    def __init__(self, job_dir: Path, job: dict[str, Any], g4: Any) -> None:
        self.g4 = g4
        self.job_dir = job_dir
        self.job = job
        self.keep: list[Any] = []  # Geant4 objects Python must not collect
        self.source = SourceSpec.from_json(job["source"])
        self.photons_per_event = int(job.get("photons_per_event", 1))
        self.rng = np.random.default_rng(0)
        self.buffer: tuple[npt.NDArray[np.float64], ...] = ()
        self.cursor = 0
        self.meshes = job["meshes"]

    # ------------------------------------------------------------------ geometry
    def materials(self) -> list[Any]:
        g4 = self.g4
        nist = g4.G4NistManager.Instance()
        out = []
        for m in self.job["materials"]:
            density = float(m["density_g_cm3"]) * g4.g / g4.cm3
            if "nist" in m:
                mat = nist.BuildMaterialWithNewDensity(m["name"], m["nist"], density)
            else:
                elements = m["elements"]
                mat = g4.G4Material(m["name"], density, len(elements))
                for symbol, fraction in elements.items():
                    mat.AddElementByMassFraction(nist.FindOrBuildElement(symbol), float(fraction))
            if m.get("mean_excitation_ev"):
                mat.GetIonisation().SetMeanExcitationEnergy(float(m["mean_excitation_ev"]) * g4.eV)
            out.append(mat)
        self.keep.extend(out)
        return out

    def construct(self) -> Any:
        g4 = self.g4
        mats = self.materials()
        vacuum = g4.G4NistManager.Instance().FindOrBuildMaterial("G4_Galactic")
        half = [float(h) * g4.mm for h in self.job["world_half_mm"]]
        world_s = g4.G4Box("World", *half)
        world_l = g4.G4LogicalVolume(world_s, vacuum, "World")
        world_p = g4.G4PVPlacement(None, g4.G4ThreeVector(), world_l, "World", None, False, 0)
        self.keep += [world_s, world_l, world_p]
        logicals = [world_l]
        centres = [np.zeros(3)]
        for n, solid in enumerate(self.job.get("solids", [])):
            parent = int(solid.get("parent", -1)) + 1
            centre = np.asarray(solid["centre_mm"], dtype=np.float64)
            rel = (centre - centres[parent]) * g4.mm
            name = f"solid{n}"
            if solid["shape"] == "box":
                s = g4.G4Box(name, *[float(h) * g4.mm for h in solid["half_mm"]])
                rot = None
            else:
                s = g4.G4Tubs(
                    name,
                    0.0,
                    float(solid["radius_mm"]) * g4.mm,
                    float(solid["half_length_mm"]) * g4.mm,
                    0.0,
                    2.0 * np.pi,
                )
                rot = self._cylinder_rotation(solid.get("axis", "z"))
            lv = g4.G4LogicalVolume(s, mats[int(solid["material"])], name)
            pv = g4.G4PVPlacement(
                rot, g4.G4ThreeVector(*rel), lv, name, logicals[parent], False, 0, True
            )
            self.keep += [s, lv, pv, rot]
            logicals.append(lv)
            centres.append(centre)
        if self.job.get("voxels"):
            self._voxels(self.job["voxels"], mats, logicals, centres)
        return world_p

    def _cylinder_rotation(self, axis: str) -> Any:
        g4 = self.g4
        if axis == "z":
            return None
        rot = g4.G4RotationMatrix()
        if axis == "x":
            rot.rotateY(np.pi / 2)
        elif axis == "y":
            rot.rotateX(np.pi / 2)
        return rot

    def _voxels(
        self, spec: dict[str, Any], mats: list[Any], logicals: list[Any], centres: list[Any]
    ) -> None:
        g4 = self.g4
        index = np.load(self.job_dir / spec["file"])  # (nz, ny, nx), x fastest
        nz, ny, nx = index.shape
        hx, hy, hz = (0.5 * float(s) * g4.mm for s in spec["spacing_mm"])
        parent = int(spec.get("parent", -1)) + 1
        rel = (np.asarray(spec["centre_mm"], dtype=np.float64) - centres[parent]) * g4.mm
        cont_s = g4.G4Box("phantom", nx * hx, ny * hy, nz * hz)
        used = np.unique(index)
        cont_l = g4.G4LogicalVolume(cont_s, mats[int(used[0])], "phantom")
        cont_p = g4.G4PVPlacement(
            None, g4.G4ThreeVector(*rel), cont_l, "phantom", logicals[parent], False, 0
        )
        param = g4.G4PhantomParameterisation()
        param.SetVoxelDimensions(hx, hy, hz)
        param.SetNoVoxels(nx, ny, nz)
        # the global material table (bound as an opaque vector): voxel indices refer to it
        table = g4.G4Material.GetMaterialTable()
        param.SetMaterials(table)
        to_global = np.array([m.GetIndex() for m in mats], dtype=np.uintp)
        flat = np.ascontiguousarray(to_global[index.reshape(-1)], dtype=np.uintp)
        attach_material_indices(param, flat)
        param.BuildContainerSolid(cont_p)
        param.CheckVoxelsFillContainer(
            cont_s.GetXHalfLength(), cont_s.GetYHalfLength(), cont_s.GetZHalfLength()
        )
        vox_s = g4.G4Box("voxel", hx, hy, hz)
        vox_l = g4.G4LogicalVolume(vox_s, mats[int(used[0])], "voxel")
        vox_p = g4.G4PVParameterised(
            "voxels", vox_l, cont_l, g4.EAxis.kUndefined, nx * ny * nz, param
        )
        vox_p.SetRegularStructureId(1)
        param.SetSkipEqualMaterials(True)
        self.keep += [cont_s, cont_l, cont_p, param, table, flat, vox_s, vox_l, vox_p]

    # ------------------------------------------------------------------ primaries
    def seed(self, seeds: list[int]) -> None:
        self.rng = np.random.default_rng(seeds)
        self.buffer = ()
        self.cursor = 0

    def next_photon(self) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        if not self.buffer or self.cursor >= self.buffer[0].size:
            self.buffer = self.source.sample(self.rng, _BUFFER)
            self.cursor = 0
        e, p, d = self.buffer
        i = self.cursor
        self.cursor += 1
        return float(e[i]), p[i], d[i]


def _make_classes(g4: Any, sim: _Simulation) -> tuple[Any, Any]:
    class Detector(g4.G4VUserDetectorConstruction):  # type: ignore[misc]
        def Construct(self) -> Any:
            return sim.construct()

    class Generator(g4.G4VUserPrimaryGeneratorAction):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.gun = g4.G4ParticleGun(1)
            self.gun.SetParticleDefinition(g4.G4Gamma.Definition())

        def GeneratePrimaries(self, event: Any) -> None:
            gun = self.gun
            for _ in range(sim.photons_per_event):
                e, p, d = sim.next_photon()
                gun.SetParticleEnergy(e * g4.MeV)
                gun.SetParticlePosition(g4.G4ThreeVector(p[0], p[1], p[2]))
                gun.SetParticleMomentumDirection(g4.G4ThreeVector(d[0], d[1], d[2]))
                gun.GeneratePrimaryVertex(event)

    class Actions(g4.G4VUserActionInitialization):  # type: ignore[misc]
        def Build(self) -> None:
            generator = Generator()
            sim.keep.append(generator)
            self.SetUserAction(generator)

    return Detector, Actions


def _remove_data_processes(g4: Any) -> list[str]:
    """Remove the processes that read data sets (data-less mode).

    Photons, electrons and positrons lose :data:`DATA_PROCESSES`; every other particle
    (none is produced by the electromagnetic physics of a megavoltage photon beam) keeps
    only its transportation, since the ion and hadron stopping models read G4EMLOW for
    materials outside their built-in tables.
    """
    removed = []
    table = g4.G4ParticleTable.GetParticleTable()
    for i in range(table.entries()):
        particle = table.GetParticle(i)
        pm = particle.GetProcessManager()
        if pm is None:
            continue
        name = particle.GetParticleName()
        lepton_or_photon = name in ("gamma", "e-", "e+")
        for proc in list(pm.GetProcessList()):
            pname = proc.GetProcessName()
            if pname in DATA_PROCESSES if lepton_or_photon else "Transportation" not in pname:
                pm.RemoveProcess(proc)
                if lepton_or_photon:
                    removed.append(f"{name}:{pname}")
    return removed


def _read_dump(path: Path, bins: list[int]) -> npt.NDArray[np.float64]:
    """Energy per bin from a ``/score/dumpQuantityToFile`` CSV (iX, iY, iZ, total, ...)."""
    data = np.loadtxt(path, delimiter=",", comments="#", ndmin=2, usecols=(0, 1, 2, 3))
    total = np.zeros(bins)
    if data.size:
        ix, iy, iz = (data[:, c].astype(np.intp) for c in range(3))
        total[ix, iy, iz] = data[:, 3]
    return total


def main(argv: list[str] | None = None) -> int:
    """Run the worker (see the module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    if int(job.get("nice", 0)) > 0:
        os.nice(int(job["nice"]))
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    log = open(job_dir / f"geant4-{os.getpid()}.log", "w")  # noqa: SIM115 (lives until exit)
    os.dup2(log.fileno(), 1)
    import geant4_pybind as g4  # after the environment is set by the parent

    sim = _Simulation(job_dir, job, g4)
    rm = g4.G4RunManagerFactory.CreateRunManager(g4.G4RunManagerType.Serial)
    lib = ctypes.CDLL(g4.__file__)
    scoring = lib._ZN16G4ScoringManager17GetScoringManagerEv
    scoring.restype = ctypes.c_void_p
    scoring()  # creates the scoring manager, which enables the /score/ commands
    detector_cls, actions_cls = _make_classes(g4, sim)
    detector, actions = detector_cls(), actions_cls()
    physics = g4.G4VModularPhysicsList()
    physics.RegisterPhysics(g4.G4EmStandardPhysics_option3())
    physics.SetDefaultCutValue(float(job["physics"]["cut_mm"]) * g4.mm)
    rm.SetUserInitialization(detector)
    rm.SetUserInitialization(physics)
    rm.SetUserInitialization(actions)
    ui = g4.G4UImanager.GetUIpointer()
    for cmd in ("/control/verbose 0", "/run/verbose 0", "/event/verbose 0", "/tracking/verbose 0"):
        ui.ApplyCommand(cmd)
    dataless = bool(job["physics"]["dataless"])
    if dataless:
        for cmd in (
            "/process/em/fluo false",
            "/process/em/auger false",
            "/process/em/pixe false",
            "/process/em/UseGeneralProcess false",
        ):
            ui.ApplyCommand(cmd)
    rm.Initialize()
    removed = _remove_data_processes(g4) if dataless else []
    for mesh in sim.meshes:
        hx, hy, hz = mesh["half_mm"]
        cx, cy, cz = mesh["centre_mm"]
        nx, ny, nz = mesh["bins"]
        for cmd in (
            f"/score/create/boxMesh {mesh['name']}",
            f"/score/mesh/boxSize {hx!r} {hy!r} {hz!r} mm",
            f"/score/mesh/nBin {nx} {ny} {nz}",
            f"/score/mesh/translate/xyz {cx!r} {cy!r} {cz!r} mm",
            "/score/quantity/energyDeposit edep",
            "/score/close",
        ):
            ui.ApplyCommand(cmd)  # the binding returns no status: the dump checks the mesh
    reply.write(json.dumps({"ready": True, "removed": removed}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("stop"):
            break
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        sim.seed([int(s) for s in cmd["seeds"]])
        s1, s2 = (int(s) % 2_000_000_000 + 1 for s in cmd["seeds"][-2:])
        ui.ApplyCommand(f"/random/setSeeds {s1} {s2}")
        rm.BeamOn(int(cmd["events"]))
        arrays: dict[str, npt.NDArray[np.float64]] = {}
        for mesh in sim.meshes:
            dump = job_dir / f"dump-{os.getpid()}-{mesh['name']}.csv"
            ui.ApplyCommand(f"/score/dumpQuantityToFile {mesh['name']} edep {dump}")
            if not dump.is_file():
                raise RuntimeError(f"Geant4 did not score the mesh {mesh['name']!r}")
            arrays[mesh["name"]] = _read_dump(dump, mesh["bins"])
            dump.unlink()
        cast(Any, np.savez)(cmd["out"], **arrays)  # keyword names are the meshes
        reply.write(
            json.dumps(
                {
                    "batch": cmd["batch"],
                    "seconds": time.perf_counter() - t0,
                    "cpu_seconds": time.process_time() - cpu0,
                }
            )
            + "\n"
        )
    reply.flush()
    log.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
