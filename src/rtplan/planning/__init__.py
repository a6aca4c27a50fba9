"""Treatment planning: plans built from a target, 3D-conformal or inverse (IMRT).

* plans: :func:`conformal_plan` (one static beam per gantry angle, MLC apertures that
  follow the target's beam's-eye view), with :class:`BeamTemplate` for what every beam
  shares (collimator, couch, SAD, MLC);
* apertures: :func:`aperture` (the divergent beam's-eye-view silhouette of a target plus a
  margin), :func:`fit_mlc` (leaf positions that cover an aperture),
  :func:`open_area_mm2` (the field a beam's jaws and leaves open).

``rtplan.Plan.conformal`` is :func:`conformal_plan`, reached from the value type.

Inverse planning (static-MLC, step-and-shoot IMRT): :func:`inverse_plan` runs the flow
from goals to a deliverable plan and its dose; its parts are public too:

* beamlets: :func:`beam_bixels` (:class:`BeamBixels`) and the sparse dose-influence
  matrix :func:`influence_matrix` (:class:`InfluenceMatrix`);
* objectives: :class:`Objective`, :func:`objectives_from_goals` (the goals' spelling);
* optimiser: :class:`DoseProblem`, :func:`optimize_weights` (L-BFGS-B, analytic
  gradients, hard constraints by the method of multipliers; :class:`OptimizationResult`,
  :class:`ConstraintResult`);
* leaf sequencing: :func:`sequence_beam` (:class:`SequencedBeam`), :func:`sweep_row`;
* options and results: :class:`InverseOptions`, :class:`InversePlan`,
  :class:`GoalComparison`.

>>> import rtplan
>>> from rtplan.planning import conformal_plan
>>> ptv = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma")).structures["PTV"]
>>> plan = conformal_plan(ptv, gantry_angles_deg=[0, 120, 240], prescription_gy=30.0)
>>> len(plan.beams), plan.target_name
(3, 'PTV')
"""

from __future__ import annotations

from rtplan.planning._aperture import aperture, fit_mlc, open_area_mm2
from rtplan.planning._conformal import BeamTemplate, conformal_plan
from rtplan.planning._influence import BeamBixels, InfluenceMatrix, beam_bixels, influence_matrix
from rtplan.planning._objectives import Objective, objectives_from_goals
from rtplan.planning._optimize import (
    ConstraintResult,
    DoseProblem,
    GoalComparison,
    InverseOptions,
    InversePlan,
    OptimizationResult,
    inverse_plan,
    optimize_weights,
)
from rtplan.planning._sequencing import SequencedBeam, sequence_beam, sweep_row

__all__ = [
    "BeamBixels",
    "BeamTemplate",
    "ConstraintResult",
    "DoseProblem",
    "GoalComparison",
    "InfluenceMatrix",
    "InverseOptions",
    "InversePlan",
    "Objective",
    "OptimizationResult",
    "SequencedBeam",
    "aperture",
    "beam_bixels",
    "conformal_plan",
    "fit_mlc",
    "influence_matrix",
    "inverse_plan",
    "objectives_from_goals",
    "open_area_mm2",
    "optimize_weights",
    "sequence_beam",
    "sweep_row",
]

__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
