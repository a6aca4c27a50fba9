"""The Geant4 dose engine: rtplan's :class:`~rtplan.dose.DoseEngine` protocol.

For one beam, :func:`simulate_beam` builds

* the patient: the dose grid of the :class:`~rtplan.dose.DoseSetup` as a voxel phantom
  (regular navigation), voxel materials from rtplan's tissue model
  (:mod:`rtplan_geant4._materials`);
* the source: the machine's spectrum (energy-fluence shares turned into a photon-number
  spectrum), a point source at the beam's source position, the jaw and MLC opening at the
  isocentre plane (:mod:`rtplan_geant4._source`); with ``source_model="machine"`` also
  the machine's focal and extra-focal sources, radial fluence ramp and jaw/MLC
  transmission, with ``"point"`` an ideal point source and aperture;
* the scoring: a mesh equal to the dose grid; dose to medium is the energy per voxel over
  the voxel's mass (density of its material times its volume), per unit open-field energy
  fluence on the axis at the isocentre plane (MeV/g per MeV/cm²), as the protocol asks.

The beam geometry (IEC 61217 gantry, collimator and couch angles, patient position) comes
from rtplan's own :meth:`rtplan.dose.DoseSetup.beam_frame`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan_geant4._data import DataMode
from rtplan_geant4._job import (
    MaterialSpec,
    MeshSpec,
    MeshTally,
    SimulationError,
    SimulationResult,
    SimulationSettings,
    SolidSpec,
    VoxelSpec,
    simulate,
)
from rtplan_geant4._materials import voxel_materials
from rtplan_geant4._source import SourceComponent, SourceSpec, aperture_rectangles

if TYPE_CHECKING:
    from rtplan.dose import BeamModel, DoseSetup
    from rtplan.plan import Beam

__all__ = ["BeamDose", "Geant4Engine", "SourceModel", "beam_source", "simulate_beam"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ProgressCallback = Callable[[float, str], None]


class SourceModel(enum.StrEnum):
    """How the beam leaves the head.

    ``MACHINE``: the beam model's focal and extra-focal Gaussian sources, radial fluence
    ramp and jaw/MLC transmission (as rtplan's engines use them). ``POINT``: an ideal
    point source and a perfectly absorbing aperture.
    """

    MACHINE = "machine"
    POINT = "point"


def beam_source(
    beam: Beam,
    machine: BeamModel,
    *,
    source_mm: npt.ArrayLike,
    axis: npt.ArrayLike,
    ex: npt.ArrayLike,
    ey: npt.ArrayLike,
    source_model: SourceModel | str = SourceModel.MACHINE,
) -> SourceSpec:
    """The Monte Carlo source of a beam, placed in a simulation frame.

    Parameters
    ----------
    beam : rtplan.Beam
        Jaws, MLC and SAD.
    machine : rtplan.dose.BeamModel
        Spectrum and source model.
    source_mm, axis, ex, ey : array_like, shape (3,)
        Source position, central axis (towards the isocentre) and beam-limiting-device
        axes in the simulation frame (e.g. from :meth:`rtplan.dose.DoseSetup.beam_frame`).
    source_model : SourceModel or str

    Returns
    -------
    SourceSpec
    """
    model = SourceModel(source_model)
    mlc = beam.mlc
    leaf_kw: dict[str, Any] = {}
    if mlc is not None:
        leaf_kw = {
            "leaf_boundaries_mm": mlc.leaf_boundaries_mm,
            "leaf_positions_mm": mlc.positions_mm,
        }
    if model is SourceModel.POINT:
        rects, values = aperture_rectangles(beam.jaws_mm, **leaf_kw)
        components: tuple[SourceComponent, ...] = (SourceComponent(weight=1.0),)
    else:
        rects, values = aperture_rectangles(
            beam.jaws_mm,
            jaw_transmission=machine.jaw_transmission,
            mlc_transmission=mlc.transmission if mlc is not None else 0.0,
            **leaf_kw,
        )
        f_e = machine.extra_focal_fraction
        components = (
            SourceComponent(
                weight=1.0 - f_e,
                sigma_mm=machine.focal_sigma_mm,
                ramp_per_cm=machine.radial_ramp_per_cm,
                ramp_max_cm=machine.radial_ramp_max_cm,
            ),
            SourceComponent(weight=f_e, sigma_mm=machine.extra_focal_sigma_mm),
        )
    return SourceSpec(
        position_mm=np.asarray(source_mm, dtype=np.float64),
        axis=np.asarray(axis, dtype=np.float64),
        ex=np.asarray(ex, dtype=np.float64),
        ey=np.asarray(ey, dtype=np.float64),
        sad_mm=float(beam.sad_mm),
        energies_mev=np.asarray(machine.energy_mev, dtype=np.float64),
        energy_fluence_share=np.asarray(machine.energy_fluence_share, dtype=np.float64),
        rects=rects,
        transmission=values,
        components=components,
    )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BeamDose:
    """Monte Carlo dose of one beam on a dose grid.

    Attributes
    ----------
    dose : numpy.ndarray, shape grid.shape (k, j, i), float64
        Dose to medium per unit open-field energy fluence on the axis at the isocentre
        plane, MeV/g per MeV/cm²; zero outside the body.
    sigma : numpy.ndarray, same shape
        Standard statistical uncertainty of ``dose`` (batch method), same unit.
    density_g_cm3 : numpy.ndarray, same shape
        Density of each voxel as simulated (its material's density).
    simulation : SimulationResult
        Histories, times, physics mode and the raw tallies.
    """

    dose: FloatArray
    sigma: FloatArray
    density_g_cm3: FloatArray
    simulation: SimulationResult

    @property
    def relative_uncertainty_percent(self) -> float:
        """Mean relative uncertainty of the voxels above half the maximum dose, percent."""
        return _high_dose_uncertainty(self.dose, self.sigma)


def _high_dose_uncertainty(dose: FloatArray, sigma: FloatArray) -> float:
    peak = float(dose.max())
    if peak <= 0:
        return float("inf")
    sel = dose > 0.5 * peak
    return float(100.0 * np.mean(sigma[sel] / dose[sel]))


def simulate_beam(
    beam: Beam,
    setup: DoseSetup,
    machine: BeamModel,
    *,
    settings: SimulationSettings | None = None,
    source_model: SourceModel | str = SourceModel.MACHINE,
    max_materials: int = 200,
    progress: ProgressCallback | None = None,
) -> BeamDose:
    """Monte Carlo dose of one beam on a dose setup, with its uncertainty.

    Parameters
    ----------
    beam : rtplan.Beam
    setup : rtplan.dose.DoseSetup
        Dose grid, densities and patient position (:func:`rtplan.dose.prepare_setup`).
    machine : rtplan.dose.BeamModel
    settings : SimulationSettings, optional
        Histories or uncertainty target, seed, processes, physics.
    source_model : SourceModel or str
    max_materials : int
        Most Geant4 materials for the voxels.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    BeamDose

    Raises
    ------
    rtplan.errors.DoseEngineError
        If the simulation fails.
    """
    from rtplan.errors import DoseEngineError

    grid = setup.grid
    nk, nj, ni = grid.shape
    spacing = np.asarray(setup.spacing_ijk_mm, dtype=np.float64)  # (di, dj, dk)
    centre = 0.5 * (np.array([ni, nj, nk]) - 1) * spacing  # box centre in the grid frame
    frame = setup.beam_frame(beam)
    source = beam_source(
        beam,
        machine,
        source_mm=frame.source - centre,
        axis=frame.axis,
        ex=frame.ex,
        ey=frame.ey,
        source_model=source_model,
    )
    mats = voxel_materials(
        setup.density_g_cm3,
        setup.electron_density,
        water_composition=setup.water_composition,
        max_materials=max_materials,
    )
    half = 0.5 * np.array([ni, nj, nk]) * spacing
    mesh = MeshSpec(
        name="dose",
        centre_mm=(0.0, 0.0, 0.0),
        half_mm=(float(half[0]), float(half[1]), float(half[2])),
        bins=(ni, nj, nk),
    )
    rho = mats.voxel_density_g_cm3
    mass_g = rho * float(np.prod(spacing)) / 1000.0
    body = np.asarray(setup.body, dtype=bool)

    def measure(tallies: dict[str, MeshTally]) -> float:
        t = tallies["dose"]
        mean = np.where(body, t.mean_mev.transpose(2, 1, 0) / mass_g, 0.0)
        sig = np.where(body, t.sigma_mev.transpose(2, 1, 0) / mass_g, 0.0)
        return _high_dose_uncertainty(mean, sig)

    try:
        result = simulate(
            source=source,
            materials=mats.materials,
            meshes=[mesh],
            voxels=VoxelSpec(
                material_index=mats.index,
                spacing_mm=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
                centre_mm=(0.0, 0.0, 0.0),
            ),
            settings=settings,
            uncertainty=measure,
            progress=progress,
        )
    except (SimulationError, FileNotFoundError) as exc:
        raise DoseEngineError(f"the Geant4 simulation of beam {beam.name!r} failed: {exc}") from exc
    tally = result.tallies["dose"]
    scale = 1.0 / (mass_g * result.energy_fluence_per_photon)
    dose = np.where(body, tally.mean_mev.transpose(2, 1, 0) * scale, 0.0)
    sigma = np.where(body, tally.sigma_mev.transpose(2, 1, 0) * scale, 0.0)
    logger.info(
        "beam %r: %d photons in %.0f s CPU (%s physics), %.2f %% mean uncertainty above "
        "half the maximum",
        beam.name,
        result.photons,
        result.cpu_seconds,
        "data-less" if result.dataless else "full",
        _high_dose_uncertainty(dose, sigma),
    )
    return BeamDose(dose=dose, sigma=sigma, density_g_cm3=rho, simulation=result)


def _parabola_peak_at(depth: FloatArray, values: FloatArray) -> tuple[float, float]:
    """Depth and value of a parabola fitted through the 11 bins around the maximum."""
    i = int(np.argmax(values))
    lo, hi = max(0, i - 5), min(values.size, i + 6)
    p = np.polyfit(depth[lo:hi], values[lo:hi], 2)
    if p[0] >= 0:
        return float(depth[i]), float(values[i])
    x0 = float(np.clip(-p[1] / (2.0 * p[0]), depth[lo], depth[hi - 1]))
    return x0, float(np.polyval(p, x0))


def _parabola_peak(depth: FloatArray, values: FloatArray) -> float:
    return _parabola_peak_at(depth, values)[1]


class Geant4Engine:
    """rtplan dose engine backed by a Geant4 Monte Carlo simulation.

    Registered as ``"geant4"`` (entry point group ``rtplan.dose_engines``), so
    ``rtplan.compute_dose(plan, ct, engine="geant4")`` uses it with the default settings.
    For other settings pass an instance (``engine=Geant4Engine(histories=...)``) or
    register one with :func:`rtplan.dose.register_engine`.

    Parameters
    ----------
    histories : int, optional
        Primary photons per beam; None (default) runs until ``uncertainty_percent``.
    uncertainty_percent : float
        Target of the mean relative uncertainty (1 sigma) of the voxels above half the
        maximum dose, percent.
    max_histories : int
        Upper bound on the photons per beam in target mode.
    seed : int
        Seed: equal settings and seed give identical doses.
    source_model : {"machine", "point"}
        Machine source model, or an ideal point source (engine name ``"geant4-point"``, so
        that the two are calibrated separately).
    processes : int
        Simulation processes run at once.
    cut_mm : float
        Geant4 production cut, mm.
    data_mode : {"auto", "full", "dataless"}
        Full physics when Geant4's data sets are found (``GEANT4_DATA_DIR``), otherwise
        the reduced data-less physics (see the package README).
    batches : int
        Independent batches of the first round (the uncertainty comes from their spread).
    max_materials : int
        Most Geant4 materials for the voxels.
    nice : int
        Niceness added to the simulation processes.

    Attributes
    ----------
    name : str
        ``"geant4"`` or ``"geant4-point"``.
    last_result : BeamDose or None
        The last beam simulated (its uncertainty per voxel and the run statistics).
    """

    def __init__(  # noqa: PLR0913 (keyword-only settings)
        self,
        *,
        histories: int | None = None,
        uncertainty_percent: float = 2.0,
        max_histories: int = 20_000_000,
        seed: int = 20250601,
        source_model: SourceModel | str = SourceModel.MACHINE,
        processes: int = 1,
        cut_mm: float = 0.5,
        data_mode: DataMode | str = DataMode.AUTO,
        batches: int = 10,
        max_materials: int = 200,
        nice: int = 0,
    ) -> None:
        self.source_model = SourceModel(source_model)
        self.name = "geant4" if self.source_model is SourceModel.MACHINE else "geant4-point"
        self.settings = SimulationSettings(
            histories=histories,
            uncertainty_percent=uncertainty_percent,
            max_histories=max_histories,
            seed=seed,
            processes=processes,
            cut_mm=cut_mm,
            data_mode=data_mode,
            batches=batches,
            photons_per_event=10,
            nice=nice,
        )
        self.max_materials = max_materials
        self.last_result: BeamDose | None = None

    def __repr__(self) -> str:
        s = self.settings
        amount = (
            f"histories={s.histories}"
            if s.histories is not None
            else f"uncertainty_percent={s.uncertainty_percent}"
        )
        return f"Geant4Engine({amount}, seed={s.seed}, source_model={self.source_model.value!r})"

    def reference_calibration(
        self, machine: BeamModel, *, histories: int = 10_000_000
    ) -> dict[str, float]:
        """Gy per MU per unit engine output, from a dedicated reference simulation.

        rtplan calibrates an engine that its machine files do not hold on the reference
        field (10 x 10 cm² at SSD 100 cm in water, 1 MU = 1 cGy at the depth of maximum
        dose) through :meth:`beam_dose` on 2.5 mm voxels, where a Monte Carlo needs about
        10⁹ photons for 1 %. This runs the same field scoring the central axis in
        20 x 20 mm² x 1 mm bins and fits a parabola over the 11 bins around the maximum,
        which reaches about 0.7 % with the default 10⁷ photons.

        Parameters
        ----------
        machine : rtplan.dose.BeamModel
        histories : int
            Primary photons.

        Returns
        -------
        dict
            ``gy_per_mu_per_fluence``, ``d_max_mm``, ``uncertainty_percent`` (1 sigma of
            the fitted maximum, batch method) and ``photons``.
        """
        from rtplan.plan import Beam

        beam = Beam(energy=machine.name, sad_mm=machine.sad_mm, jaws_mm=(-50, 50, -50, 50))
        source = beam_source(
            beam,
            machine,
            source_mm=(0.0, -machine.sad_mm, 0.0),
            axis=(0.0, 1.0, 0.0),
            ex=(1.0, 0.0, 0.0),
            ey=(0.0, 0.0, 1.0),
            source_model=self.source_model,
        )
        water = MaterialSpec(name="water", density_g_cm3=1.0, nist="G4_WATER")
        phantom = SolidSpec(
            shape="box", centre_mm=(0.0, 150.0, 0.0), half_mm=(150.0, 150.0, 150.0), material=0
        )
        mesh = MeshSpec(
            name="cax", centre_mm=(0.0, 20.0, 0.0), half_mm=(10.0, 20.0, 10.0), bins=(1, 40, 1)
        )
        s = self.settings
        settings = SimulationSettings(
            histories=histories,
            batches=max(s.batches, 10),
            seed=s.seed,
            processes=s.processes,
            photons_per_event=s.photons_per_event,
            cut_mm=s.cut_mm,
            data_mode=s.data_mode,
            nice=s.nice,
        )
        res = simulate(
            source=source, materials=[water], solids=[phantom], meshes=[mesh], settings=settings
        )
        mass_g = 2.0 * 2.0 * 0.1  # cm³ of water
        tally = res.tallies["cax"]
        depth = np.arange(40, dtype=np.float64) + 0.5
        per_batch = tally.batch_mev[:, 0, :, 0] / mass_g / res.energy_fluence_per_photon
        peaks = np.array([_parabola_peak(depth, b) for b in per_batch])
        w = res.batch_photons / res.batch_photons.sum()
        d_max, peak = _parabola_peak_at(depth, tally.mean_mev[0, :, 0])
        peak /= mass_g * res.energy_fluence_per_photon
        n = len(peaks)
        sigma = float(np.sqrt(n / (n - 1) * np.sum(w**2 * (peaks - np.sum(w * peaks)) ** 2)))
        return {
            "gy_per_mu_per_fluence": 0.01 / peak,
            "d_max_mm": d_max,
            "uncertainty_percent": 100.0 * sigma / peak,
            "photons": float(res.photons),
        }

    def beam_dose(
        self,
        beam: Beam,
        setup: DoseSetup,
        machine: BeamModel,
        *,
        progress: ProgressCallback | None = None,
    ) -> FloatArray:
        """Dose to medium of one beam per unit open-field energy fluence (Monte Carlo).

        Parameters
        ----------
        beam : rtplan.Beam
        setup : rtplan.dose.DoseSetup
        machine : rtplan.dose.BeamModel
        progress : callable, optional

        Returns
        -------
        numpy.ndarray, shape setup.grid.shape, float64
            MeV/g per MeV/cm²; zero outside ``setup.body``. Its uncertainty is in
            ``self.last_result.sigma``.
        """
        result = simulate_beam(
            beam,
            setup,
            machine,
            settings=self.settings,
            source_model=self.source_model,
            max_materials=self.max_materials,
            progress=progress,
        )
        self.last_result = result
        return result.dose
