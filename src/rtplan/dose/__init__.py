"""Photon dose engines with bone, muscle, fat and lung heterogeneity.

>>> import rtplan
>>> from rtplan.testing import water_phantom
>>> ct = water_phantom(width_mm=100, depth_mm=100, spacing_mm=5.0)  # or a CT in HU
>>> plan = rtplan.Plan(beams=[rtplan.Beam(jaws_mm=(-25, 25, -25, 25), mu=100.0)])
>>> dose = rtplan.compute_dose(plan, ct, engine="collapsed-cone", grid_mm=5.0)
>>> dose.units, dose.medium.value, 0.9 < dose.max_gy < 1.0  # 100 MU of a 5 x 5 cm² field
('Gy', 'medium', True)

Engines (:func:`available_engines`, :class:`rtplan.enum.Engine`):

* ``"collapsed-cone"``: TERMA by exact ray tracing (Siddon) with inverse square and beam
  hardening, Monte Carlo polyenergetic point kernels collapsed into 96 cones, energy
  transported along each cone line with density scaling (Ahnesjö 1989). The reference
  for heterogeneity.
* ``"pencil-beam"``: radiological-depth-scaled Monte Carlo pencil kernels, decomposed by
  SVD and convolved by FFT, stretched laterally in lung: fast, for quick looks and
  optimisation. A beam that crosses lung warns (:class:`PencilBeamLungWarning`): there its
  dose is less accurate than the collapsed cone's (up to 8 % over 5 mm against Monte Carlo).

Both report **dose to medium** (``Dose.medium == DoseMedium.MEDIUM``): the energy
imparted per unit mass of the local tissue. :func:`dose_to_water` converts it with
Bragg-Gray stopping-power ratios (Siebers et al. 2000): about +1 % in muscle and other
soft tissue, +11 % in cortical bone for 6 MV. Density images in g/cm3 are treated as
water of that density (dose to medium = dose to water).

Monitor units come from the beam model: 1 MU gives 1 cGy at the depth of maximum dose of a
10 x 10 cm² field at SSD 100 cm in water (:mod:`rtplan.dose._calibration`).
:func:`mu_check` checks each beam's MU with an independent hand calculation (output
factors, TMR at the effective depth, inverse square), never calling an engine; and
:func:`calculate` warns about implausible plans (:class:`PlanPlausibilityWarning`).
Engines are extensible through the entry-point group ``rtplan.dose_engines``
(:mod:`rtplan.dose._engine`); the protocol they satisfy is :class:`DoseEngine`.
"""

from __future__ import annotations

from rtplan.dose._calibration import engine_calibration
from rtplan.dose._compute import PlanDose, calculate, compute_dose, monitor_units
from rtplan.dose._conversion import (
    dose_to_medium,
    dose_to_water,
    stopping_power_ratios,
    water_to_medium_ratio,
)
from rtplan.dose._engine import (
    ENTRY_POINT_GROUP,
    available_engines,
    get_engine,
    register_engine,
)
from rtplan.dose._mu_check import (
    BeamMuCheck,
    HandCalculation,
    MonitorUnitWarning,
    MuCheck,
    hand_calculation,
    mu_check,
)
from rtplan.dose._plausibility import PlanPlausibilityWarning
from rtplan.dose._protocol import DoseEngine, ProgressCallback
from rtplan.dose._setup import BeamFrame, DoseSetup, prepare_setup
from rtplan.dose._warnings import PencilBeamLungWarning
from rtplan.dose.machines import BeamModel, available_machines, load_machine

__all__ = [
    "ENTRY_POINT_GROUP",
    "BeamFrame",
    "BeamModel",
    "BeamMuCheck",
    "DoseEngine",
    "DoseSetup",
    "HandCalculation",
    "MonitorUnitWarning",
    "MuCheck",
    "PencilBeamLungWarning",
    "PlanDose",
    "PlanPlausibilityWarning",
    "ProgressCallback",
    "available_engines",
    "available_machines",
    "calculate",
    "compute_dose",
    "dose_to_medium",
    "dose_to_water",
    "engine_calibration",
    "get_engine",
    "hand_calculation",
    "load_machine",
    "monitor_units",
    "mu_check",
    "prepare_setup",
    "register_engine",
    "stopping_power_ratios",
    "water_to_medium_ratio",
]

__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
