"""Plan evaluation: dose-volume histograms, dose metrics, gamma index, radiobiology, goals.

>>> import numpy as np
>>> import rtplan
>>> from rtplan.testing import cube_grid, sphere_contour_structure
>>> grid = cube_grid(20, spacing=2.5)
>>> dose = rtplan.Dose(array=np.full(grid.shape, 2.0), grid=grid)
>>> ptv = sphere_contour_structure(grid, (0.0, 0.0, 0.0), 10.0, name="PTV")
>>> h = rtplan.dvh(dose, ptv)
>>> h.D(95), h.V(2.0), round(h.mean_gy, 6), round(h.volume_cc, 1)
(2.0, 100.0, 2.0, 4.2)
>>> g = rtplan.gamma(dose, dose, dose_percent=3, distance_mm=2, threshold_percent=10)
>>> g.pass_rate
100.0
"""

from __future__ import annotations

from rtplan.evaluate._biology import (
    ALPHA_BETA_GY,
    alpha_beta_map,
    bed,
    default_alpha_beta,
    eqd2,
    plan_sum,
)
from rtplan.evaluate._common import EvaluationError
from rtplan.evaluate._dicom_dvh import read_dvhs
from rtplan.evaluate._dvh import compute_dvhs, dvh, isodose_volume_cc
from rtplan.evaluate._dvh_io import dvhs_to_pandas, write_dvhs_csv, write_dvhs_json
from rtplan.evaluate._dvh_sampling import EndCap
from rtplan.evaluate._dvh_type import DVH, read_dvhs_json
from rtplan.evaluate._gamma import GammaResult, gamma
from rtplan.evaluate._goals import (
    ClinicalGoal,
    EvaluationDose,
    GoalResult,
    GoalTable,
    dose_for_evaluation,
    evaluate_goals,
    parse_goal,
)
from rtplan.evaluate._metrics import (
    conformity_index_paddick,
    conformity_index_rtog,
    conformity_metrics,
    dose_metrics,
    gradient_index,
    homogeneity_index,
    metrics_to_pandas,
    write_metrics_csv,
)

__all__ = [
    "ALPHA_BETA_GY",
    "DVH",
    "ClinicalGoal",
    "EndCap",
    "EvaluationDose",
    "EvaluationError",
    "GammaResult",
    "GoalResult",
    "GoalTable",
    "alpha_beta_map",
    "bed",
    "compute_dvhs",
    "conformity_index_paddick",
    "conformity_index_rtog",
    "conformity_metrics",
    "default_alpha_beta",
    "dose_for_evaluation",
    "dose_metrics",
    "dvh",
    "dvhs_to_pandas",
    "eqd2",
    "evaluate_goals",
    "gamma",
    "gradient_index",
    "homogeneity_index",
    "isodose_volume_cc",
    "metrics_to_pandas",
    "parse_goal",
    "plan_sum",
    "read_dvhs",
    "read_dvhs_json",
    "write_dvhs_csv",
    "write_dvhs_json",
    "write_metrics_csv",
]

__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
