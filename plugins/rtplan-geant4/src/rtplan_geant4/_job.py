"""Run a Geant4 simulation in worker processes and combine its independent batches.

:func:`simulate` writes the job (materials, solids, voxels, source, scoring meshes) to a
temporary folder, starts ``processes`` workers (:mod:`rtplan_geant4._worker`) and feeds
them batches. Batch ``b`` is seeded from ``(seed, b)`` alone (numpy for the primaries, the
Geant4 engine for the transport), and batches are run in rounds whose size depends only on
the results of the earlier rounds, so a result depends on the seed and the settings, not on
the number of processes or their timing.

The statistical uncertainty of each bin is that of the mean of the independent batches:
with ``n_b`` photons and ``x_b`` energy per photon in batch ``b`` (``N = sum n_b``),

``mean = sum n_b x_b / N``, ``var(mean) = B / (B - 1) * sum (n_b / N)^2 (x_b - mean)^2``,

the batch estimator of Walters, Kawrakow and Rogers (Med. Phys. 29 (2002) 2745-2752),
here with batches of unequal size.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from rtplan_geant4._data import DataMode, worker_environment
from rtplan_geant4._source import SourceSpec

__all__ = [
    "MaterialSpec",
    "MeshSpec",
    "MeshTally",
    "SimulationError",
    "SimulationResult",
    "SimulationSettings",
    "SolidSpec",
    "VoxelSpec",
    "simulate",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ProgressCallback = Callable[[float, str], None]


class SimulationError(RuntimeError):
    """The Geant4 worker failed; the message holds the end of its log."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MaterialSpec:
    """A material: a NIST base material at another density, or elemental mass fractions.

    Parameters
    ----------
    name : str
        Unique name.
    density_g_cm3 : float
        Mass density, g/cm³.
    nist : str, optional
        Geant4 NIST material whose composition and mean excitation energy are used
        (e.g. ``"G4_WATER"``).
    elements : mapping of str to float, optional
        Element symbol -> mass fraction (need not sum exactly to 1; Geant4 normalises).
    """

    name: str
    density_g_cm3: float
    nist: str | None = None
    elements: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if (self.nist is None) == (self.elements is None):
            raise ValueError(f"material {self.name!r}: give either nist or elements")
        if not self.density_g_cm3 > 0:
            raise ValueError(f"material {self.name!r}: density must be > 0")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "density_g_cm3": float(self.density_g_cm3)}
        if self.nist is not None:
            out["nist"] = self.nist
        else:
            assert self.elements is not None
            out["elements"] = {k: float(v) for k, v in self.elements.items() if v > 0}
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class SolidSpec:
    """A box or a cylinder of one material, placed in the world or in an earlier solid.

    Parameters
    ----------
    shape : {"box", "cylinder"}
    centre_mm : tuple of 3 float
        Centre in the simulation frame, mm.
    material : int
        Index into the job's materials.
    half_mm : tuple of 3 float, optional
        Half sizes of a box, mm.
    radius_mm, half_length_mm : float, optional
        Cylinder radius and half length, mm.
    axis : {"x", "y", "z"}
        Cylinder axis.
    parent : int
        Index of the enclosing solid (-1: the world). A solid must lie inside its parent.
    """

    shape: str
    centre_mm: tuple[float, float, float]
    material: int
    half_mm: tuple[float, float, float] | None = None
    radius_mm: float | None = None
    half_length_mm: float | None = None
    axis: str = "z"
    parent: int = -1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "shape": self.shape,
            "centre_mm": [float(c) for c in self.centre_mm],
            "material": int(self.material),
            "parent": int(self.parent),
        }
        if self.shape == "box":
            assert self.half_mm is not None
            out["half_mm"] = [float(h) for h in self.half_mm]
        elif self.shape == "cylinder":
            out.update(
                radius_mm=float(self.radius_mm or 0.0),
                half_length_mm=float(self.half_length_mm or 0.0),
                axis=self.axis,
            )
        else:
            raise ValueError(f"unknown solid shape {self.shape!r}")
        return out


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class VoxelSpec:
    """A voxelised phantom (regular navigation, one material index per voxel).

    Parameters
    ----------
    material_index : numpy.ndarray of int, shape (nz, ny, nx)
        Index into the job's materials; x varies fastest.
    spacing_mm : tuple of 3 float
        Voxel size along x, y, z, mm.
    centre_mm : tuple of 3 float
        Centre of the voxel box in the simulation frame, mm.
    parent : int
        Enclosing solid (-1: the world).
    """

    material_index: npt.NDArray[np.integer[Any]]
    spacing_mm: tuple[float, float, float]
    centre_mm: tuple[float, float, float]
    parent: int = -1


@dataclass(frozen=True, kw_only=True, slots=True)
class MeshSpec:
    """A box scoring mesh aligned with the simulation axes.

    Parameters
    ----------
    name : str
        Unique name (letters, digits, underscores).
    centre_mm, half_mm : tuple of 3 float
        Centre and half sizes, mm.
    bins : tuple of 3 int
        Number of bins along x, y, z.
    """

    name: str
    centre_mm: tuple[float, float, float]
    half_mm: tuple[float, float, float]
    bins: tuple[int, int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "centre_mm": [float(c) for c in self.centre_mm],
            "half_mm": [float(h) for h in self.half_mm],
            "bins": [int(b) for b in self.bins],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class SimulationSettings:
    """How much to simulate and how.

    Parameters
    ----------
    histories : int, optional
        Primary photons to simulate. When None, the simulation runs until
        ``uncertainty_percent`` is reached (or ``max_histories``).
    uncertainty_percent : float
        Target of the uncertainty measure (see :func:`simulate`), percent (1 sigma).
    max_histories : int
        Upper bound on the primary photons in target mode.
    first_round_histories : int
        Photons of the first round in target mode (the estimate that sizes the rest).
    batches : int
        Number of batches of the first round (and of a run with fixed ``histories``); at
        least 4 (the uncertainty comes from their spread).
    seed : int
        Seed of every random number (primaries and transport).
    processes : int
        Worker processes run at once.
    photons_per_event : int
        Photons simulated per Geant4 event (one Python call per event).
    cut_mm : float
        Geant4 production cut (range), mm.
    data_mode : DataMode or str
        ``"auto"``, ``"full"`` or ``"dataless"`` (:mod:`rtplan_geant4._data`).
    nice : int
        Niceness added to the worker processes (0: as the caller).
    """

    histories: int | None = None
    uncertainty_percent: float = 2.0
    max_histories: int = 200_000_000
    first_round_histories: int = 200_000
    batches: int = 10
    seed: int = 20250601
    processes: int = 1
    photons_per_event: int = 1
    cut_mm: float = 0.5
    data_mode: DataMode | str = DataMode.AUTO
    nice: int = 0

    def __post_init__(self) -> None:
        if self.histories is not None and self.histories < self.batches:
            raise ValueError("histories must be at least the number of batches")
        if self.batches < 4:
            raise ValueError("at least 4 batches are needed for an uncertainty")
        if self.processes < 1 or self.photons_per_event < 1:
            raise ValueError("processes and photons_per_event must be >= 1")
        if not self.uncertainty_percent > 0 or not self.cut_mm > 0:
            raise ValueError("uncertainty_percent and cut_mm must be > 0")
        object.__setattr__(self, "data_mode", DataMode(self.data_mode))


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class MeshTally:
    """Energy deposited per primary photon in the bins of one mesh.

    Attributes
    ----------
    mean_mev : numpy.ndarray, shape bins (x, y, z)
        Mean energy per primary photon, MeV.
    sigma_mev : numpy.ndarray, same shape
        Standard uncertainty of the mean (batch method), MeV.
    batch_mev : numpy.ndarray, shape (B,) + bins
        Energy per photon of each batch, MeV.
    """

    mean_mev: FloatArray
    sigma_mev: FloatArray
    batch_mev: FloatArray


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SimulationResult:
    """The outcome of :func:`simulate`.

    Attributes
    ----------
    tallies : dict of str to MeshTally
    photons : int
        Primary photons simulated.
    batch_photons : numpy.ndarray of int, shape (B,)
    energy_fluence_per_photon : float
        Open-field energy fluence on the axis at the isocentre plane per photon, MeV/cm².
    cpu_seconds, wall_seconds : float
        CPU time of the workers' batches (summed) and wall time of the whole run.
    dataless : bool
        True when the data-less physics was used.
    uncertainty_percent : float
        The uncertainty measure reached (NaN when none was given).
    """

    tallies: dict[str, MeshTally]
    photons: int
    batch_photons: npt.NDArray[np.int64]
    energy_fluence_per_photon: float
    cpu_seconds: float
    wall_seconds: float
    dataless: bool
    uncertainty_percent: float = math.nan
    removed_processes: tuple[str, ...] = field(default=())


def _batch_seeds(seed: int, batch: int) -> list[int]:
    seq = np.random.SeedSequence([int(seed), int(batch)])
    return [int(s) for s in seq.generate_state(4, dtype=np.uint32)]


class _Worker:
    def __init__(self, job_dir: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtplan_geant4._worker", str(job_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.job_dir = job_dir
        first = self.read()
        self.removed = tuple(first.get("removed", ()))

    def _fail(self) -> SimulationError:
        self.proc.kill()
        _, err = self.proc.communicate()
        logs = sorted(self.job_dir.glob(f"geant4-{self.proc.pid}.log"))
        tail = logs[0].read_text(errors="replace")[-3000:] if logs else ""
        return SimulationError(
            f"the Geant4 worker stopped (exit code {self.proc.returncode}):\n{err[-3000:]}\n{tail}"
        )

    def send(self, message: dict[str, Any]) -> None:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
        except BrokenPipeError as exc:
            raise self._fail() from exc

    def read(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.proc.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise self._fail()
        data: dict[str, Any] = json.loads(line)
        return data

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"stop": True})
                self.proc.communicate(timeout=30)
            except (SimulationError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.communicate()


def _write_job(
    job_dir: Path,
    *,
    source: SourceSpec,
    materials: Sequence[MaterialSpec],
    meshes: Sequence[MeshSpec],
    solids: Sequence[SolidSpec],
    voxels: VoxelSpec | None,
    settings: SimulationSettings,
    dataless: bool,
) -> None:
    points = [np.asarray(source.position_mm)]
    for s in solids:
        extent = (
            np.asarray(s.half_mm)
            if s.half_mm is not None
            else np.full(3, max(s.radius_mm or 0.0, s.half_length_mm or 0.0))
        )
        points += [np.asarray(s.centre_mm) + extent, np.asarray(s.centre_mm) - extent]
    if voxels is not None:
        half = 0.5 * np.asarray(voxels.spacing_mm) * np.asarray(voxels.material_index.shape[::-1])
        points += [np.asarray(voxels.centre_mm) + half, np.asarray(voxels.centre_mm) - half]
    for m in meshes:
        points += [np.asarray(m.centre_mm) + m.half_mm, np.asarray(m.centre_mm) - m.half_mm]
    world_half = np.max(np.abs(np.asarray(points)), axis=0) + 100.0
    job: dict[str, Any] = {
        "world_half_mm": world_half.tolist(),
        "materials": [m.to_json() for m in materials],
        "solids": [s.to_json() for s in solids],
        "meshes": [m.to_json() for m in meshes],
        "source": source.to_json(),
        "photons_per_event": settings.photons_per_event,
        "physics": {"cut_mm": settings.cut_mm, "dataless": dataless},
        "nice": settings.nice,
    }
    if voxels is not None:
        np.save(job_dir / "voxels.npy", np.ascontiguousarray(voxels.material_index, np.uint16))
        job["voxels"] = {
            "file": "voxels.npy",
            "spacing_mm": [float(s) for s in voxels.spacing_mm],
            "centre_mm": [float(c) for c in voxels.centre_mm],
            "parent": int(voxels.parent),
        }
    (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")


def _combine(
    batches: list[dict[str, FloatArray]], photons: list[int], names: Sequence[str]
) -> dict[str, MeshTally]:
    n = np.asarray(photons, dtype=np.float64)
    w = n / n.sum()
    out = {}
    for name in names:
        per_photon = np.stack([b[name] / nb for b, nb in zip(batches, n, strict=True)])
        mean = np.tensordot(w, per_photon, axes=1)
        dev = per_photon - mean
        var = len(n) / (len(n) - 1) * np.tensordot(w**2, dev**2, axes=1)
        out[name] = MeshTally(mean_mev=mean, sigma_mev=np.sqrt(var), batch_mev=per_photon)
    return out


def _rounds_plan(settings: SimulationSettings) -> tuple[int, int]:
    """Photons per batch and batches of the first round."""
    total = settings.histories or settings.first_round_histories
    per_batch = max(1, total // settings.batches)
    return per_batch, settings.batches


def simulate(
    *,
    source: SourceSpec,
    materials: Sequence[MaterialSpec],
    meshes: Sequence[MeshSpec],
    solids: Sequence[SolidSpec] = (),
    voxels: VoxelSpec | None = None,
    settings: SimulationSettings | None = None,
    uncertainty: Callable[[dict[str, MeshTally]], float] | None = None,
    progress: ProgressCallback | None = None,
) -> SimulationResult:
    """Simulate a photon beam through a geometry and score energy on meshes.

    Parameters
    ----------
    source : SourceSpec
    materials : sequence of MaterialSpec
    meshes : sequence of MeshSpec
    solids : sequence of SolidSpec
        Placed in order (a parent before its daughters).
    voxels : VoxelSpec, optional
    settings : SimulationSettings, optional
    uncertainty : callable, optional
        ``uncertainty(tallies) -> percent``: the measure compared with
        ``settings.uncertainty_percent`` when ``settings.histories`` is None. By default the
        mean relative uncertainty of the bins of the first mesh above half its maximum.
    progress : callable, optional
        ``progress(fraction, message)`` after every batch.

    Returns
    -------
    SimulationResult

    Raises
    ------
    SimulationError
        If a worker fails.
    FileNotFoundError
        If full physics was asked for and no data sets are found.
    """
    settings = settings or SimulationSettings()
    measure = uncertainty or _default_uncertainty(meshes[0].name)
    env, dataless = worker_environment(settings.data_mode)
    src_path = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = src_path + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rtplan-geant4-") as tmp:
        job_dir = Path(tmp)
        _write_job(
            job_dir,
            source=source,
            materials=materials,
            meshes=meshes,
            solids=solids,
            voxels=voxels,
            settings=settings,
            dataless=dataless,
        )
        workers = [_Worker(job_dir, env) for _ in range(settings.processes)]
        try:
            result = _run_rounds(job_dir, workers, settings, meshes, measure, progress)
        finally:
            for w in workers:
                w.close()
    batches, photons, cpu, reached = result
    tallies = _combine(batches, photons, [m.name for m in meshes])
    return SimulationResult(
        tallies=tallies,
        photons=int(sum(photons)),
        batch_photons=np.asarray(photons, dtype=np.int64),
        energy_fluence_per_photon=source.energy_fluence_per_photon(),
        cpu_seconds=cpu,
        wall_seconds=time.perf_counter() - t0,
        dataless=dataless,
        uncertainty_percent=reached,
        removed_processes=workers[0].removed,
    )


def _default_uncertainty(name: str) -> Callable[[dict[str, MeshTally]], float]:
    def measure(tallies: dict[str, MeshTally]) -> float:
        t = tallies[name]
        peak = float(t.mean_mev.max())
        if peak <= 0:
            return math.inf
        sel = t.mean_mev > 0.5 * peak
        return float(100.0 * np.mean(t.sigma_mev[sel] / t.mean_mev[sel]))

    return measure


def _run_rounds(
    job_dir: Path,
    workers: list[_Worker],
    settings: SimulationSettings,
    meshes: Sequence[MeshSpec],
    measure: Callable[[dict[str, MeshTally]], float],
    progress: ProgressCallback | None,
) -> tuple[list[dict[str, FloatArray]], list[int], float, float]:
    per_batch, n_batches = _rounds_plan(settings)
    fixed = settings.histories
    planned = fixed if fixed is not None else settings.first_round_histories
    batches: list[dict[str, FloatArray]] = []
    photons: list[int] = []
    cpu = 0.0
    reached = math.nan
    names = [m.name for m in meshes]
    while True:
        sizes = [per_batch] * n_batches
        if fixed is not None:  # the last batch takes the remainder
            sizes[-1] += fixed - per_batch * n_batches
        cpu += _run_round(job_dir, workers, settings, sizes, batches, photons, planned, progress)
        reached = measure(_combine(batches, photons, names))
        done = int(sum(photons))
        if fixed is not None or reached <= settings.uncertainty_percent:
            break
        if done >= settings.max_histories:
            logger.warning(
                "stopped at max_histories=%d with %.2f %% uncertainty (target %.2f %%)",
                done,
                reached,
                settings.uncertainty_percent,
            )
            break
        need = done * (reached / settings.uncertainty_percent) ** 2 * 1.05
        more = int(min(need, settings.max_histories) - done)
        per_batch = max(per_batch, more // settings.batches)
        n_batches = max(1, math.ceil(more / per_batch))
        planned = done + per_batch * n_batches
        logger.info(
            "%.2f %% after %d photons; %d more batches of %d for %.2f %%",
            reached,
            done,
            n_batches,
            per_batch,
            settings.uncertainty_percent,
        )
    return batches, photons, cpu, reached


def _run_round(
    job_dir: Path,
    workers: list[_Worker],
    settings: SimulationSettings,
    sizes: list[int],
    batches: list[dict[str, FloatArray]],
    photons: list[int],
    planned: int,
    progress: ProgressCallback | None,
) -> float:
    """Run one round of batches on the workers; append their results in batch order."""
    first = len(batches)
    pending = list(enumerate(sizes, start=first))
    busy: dict[int, int] = {}
    results: dict[int, dict[str, FloatArray]] = {}
    cpu = 0.0
    done_photons = int(sum(photons))
    ppe = settings.photons_per_event
    while pending or busy:
        for w, worker in enumerate(workers):
            if w not in busy and pending:
                b, n = pending.pop(0)
                events = max(1, n // ppe)
                worker.send(
                    {
                        "batch": b,
                        "events": events,
                        "seeds": _batch_seeds(settings.seed, b),
                        "out": str(job_dir / f"batch-{b}.npz"),
                    }
                )
                busy[w] = b
        w = min(busy)  # answers come back in the order the workers were fed
        reply = workers[w].read()
        b = busy.pop(w)
        cpu += float(reply["cpu_seconds"])
        with np.load(job_dir / f"batch-{b}.npz") as data:
            results[b] = {k: np.asarray(data[k]) for k in data.files}
        done_photons += (sizes[b - first] // ppe) * ppe
        if progress is not None:
            progress(min(done_photons / max(planned, 1), 1.0), f"{done_photons} photons")
    for b in sorted(results):
        batches.append(results[b])
        photons.append((sizes[b - first] // ppe) * ppe)
    return cpu
