"""Plan evaluation: dose-volume histograms, dose metrics, gamma index, radiobiology, goals.

>>> import rtplan
>>> h = rtplan.dvh(dose, ptv)  # doctest: +SKIP
>>> h.D(95), h.V(20.0), h.mean_gy, h.volume_cc  # doctest: +SKIP
>>> g = rtplan.gamma(reference, evaluated, dose_percent=3, distance_mm=2)  # doctest: +SKIP
>>> g.pass_rate  # doctest: +SKIP
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
from rtplan.evaluate._dvh import (
    DVH,
    EndCap,
    compute_dvhs,
    dvh,
    isodose_volume_cc,
    read_dvhs_json,
    write_dvhs_csv,
    write_dvhs_json,
)
from rtplan.evaluate._gamma import GammaResult, gamma
from rtplan.evaluate._goals import (
    ClinicalGoal,
    GoalResult,
    GoalTable,
    evaluate_goals,
    parse_goal,
)
from rtplan.evaluate._metrics import (
    conformity_index_paddick,
    conformity_index_rtog,
    conformity_metrics,
    dose_metrics,
    format_conformity_table,
    format_metrics_table,
    gradient_index,
    homogeneity_index,
    write_metrics_csv,
)

__all__ = [
    "ALPHA_BETA_GY",
    "DVH",
    "ClinicalGoal",
    "EndCap",
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
    "dose_metrics",
    "dvh",
    "eqd2",
    "evaluate_goals",
    "format_conformity_table",
    "format_metrics_table",
    "gamma",
    "gradient_index",
    "homogeneity_index",
    "isodose_volume_cc",
    "parse_goal",
    "plan_sum",
    "read_dvhs",
    "read_dvhs_json",
    "write_dvhs_csv",
    "write_dvhs_json",
    "write_metrics_csv",
]
