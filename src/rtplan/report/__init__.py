"""Review reports (self-contained HTML) and the end-to-end demonstration."""

from __future__ import annotations

from rtplan.report._demo import DEMO_GOALS, THIGH_GANTRY_DEG, DemoResult, run_demo
from rtplan.report._html import HtmlReport
from rtplan.report._review import (
    add_dose_section,
    add_study_section,
    add_trajectory_section,
    review_report,
)

__all__ = [
    "DEMO_GOALS",
    "THIGH_GANTRY_DEG",
    "DemoResult",
    "HtmlReport",
    "add_dose_section",
    "add_study_section",
    "add_trajectory_section",
    "review_report",
    "run_demo",
]
