"""Geant4 Monte Carlo dose engine for rtplan.

``rtplan.compute_dose(plan, ct, engine="geant4")`` simulates every beam with Geant4
(through geant4_pybind) on the patient's dose grid: the CT as a voxel phantom with rtplan's
tissue materials, the machine's spectrum and source model, energy scored on the dose grid,
dose to medium with a statistical uncertainty per voxel.

>>> from rtplan_geant4 import Geant4Engine
>>> Geant4Engine(histories=1_000_000, seed=7)
Geant4Engine(histories=1000000, seed=7, source_model='machine')

The building blocks (:func:`simulate`, :class:`SourceSpec`, the geometry and mesh
descriptions) also serve Monte Carlo references on analytic phantoms.
"""

from __future__ import annotations

from rtplan_geant4._data import DataMode, find_data_sets
from rtplan_geant4._engine import BeamDose, Geant4Engine, SourceModel, beam_source, simulate_beam
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
from rtplan_geant4._materials import (
    VoxelMaterials,
    hu_from_density,
    tissue_material,
    voxel_materials,
)
from rtplan_geant4._source import SourceComponent, SourceSpec, aperture_rectangles
from rtplan_geant4._version import __version__

__all__ = [
    "BeamDose",
    "DataMode",
    "Geant4Engine",
    "MaterialSpec",
    "MeshSpec",
    "MeshTally",
    "SimulationError",
    "SimulationResult",
    "SimulationSettings",
    "SolidSpec",
    "SourceComponent",
    "SourceModel",
    "SourceSpec",
    "VoxelMaterials",
    "VoxelSpec",
    "__version__",
    "aperture_rectangles",
    "beam_source",
    "find_data_sets",
    "hu_from_density",
    "simulate",
    "simulate_beam",
    "tissue_material",
    "voxel_materials",
]
