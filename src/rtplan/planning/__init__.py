"""Treatment planning: plans built from a target (today 3D-conformal).

* plans: :func:`conformal_plan` (one static beam per gantry angle, MLC apertures that
  follow the target's beam's-eye view), with :class:`BeamTemplate` for what every beam
  shares (collimator, couch, SAD, MLC);
* apertures: :func:`aperture` (the divergent beam's-eye-view silhouette of a target plus a
  margin), :func:`fit_mlc` (leaf positions that cover an aperture),
  :func:`open_area_mm2` (the field a beam's jaws and leaves open).

``rtplan.Plan.conformal`` is :func:`conformal_plan`, reached from the value type.

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

__all__ = ["BeamTemplate", "aperture", "conformal_plan", "fit_mlc", "open_area_mm2"]
