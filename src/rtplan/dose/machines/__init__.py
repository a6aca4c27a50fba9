"""Beam models (machines) and their data files.

Each machine ``<name>`` has a hand-written ``<name>.json`` (spectrum, source model,
transmissions, every number with its source), Monte Carlo kernel tables regenerated bit
for bit by ``python -m rtplan.dose.machines.make_kernels <name>``, and a calibration file
written by ``python -m rtplan.dose.machines.calibrate <name>``.
"""

from __future__ import annotations

from rtplan.dose.machines._model import BeamModel, available_machines, load_machine

__all__ = ["BeamModel", "available_machines", "load_machine"]
