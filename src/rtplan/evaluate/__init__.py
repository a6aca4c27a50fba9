"""Plan evaluation: dose-volume histograms, dose metrics, gamma index, radiobiology, goals."""

from __future__ import annotations

from rtplan.evaluate._common import EvaluationError
from rtplan.evaluate._dvh import DVH, EndCap, compute_dvhs, dvh, isodose_volume_cc, write_dvhs_csv
from rtplan.evaluate._gamma import GammaResult, gamma

__all__ = [
    "DVH",
    "EndCap",
    "EvaluationError",
    "GammaResult",
    "compute_dvhs",
    "dvh",
    "gamma",
    "isodose_volume_cc",
    "write_dvhs_csv",
]
