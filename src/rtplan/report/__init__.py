"""Review reports (self-contained HTML), text tables of dose metrics, and the demonstration.

* HTML: :func:`review_report` (a study, its plan and dose evaluation, needle paths), built
  from :class:`HtmlReport` and its sections :func:`add_study_section`,
  :func:`add_dose_section`, :func:`add_mu_check_section`, :func:`add_trajectory_section`;
* text: :func:`format_metrics_table`, :func:`format_conformity_table` (with their column
  titles :data:`METRIC_TITLES`, :data:`CONFORMITY_TITLES`) and :func:`text_table`;
* :func:`run_demo`, the whole flow on the bundled sample studies (``rtplan demo``).
"""

from __future__ import annotations

from rtplan.report._demo import DEMO_GOALS, THIGH_GANTRY_DEG, DemoResult, run_demo
from rtplan.report._html import HtmlReport
from rtplan.report._review import (
    add_dose_section,
    add_mu_check_section,
    add_study_section,
    add_trajectory_section,
    review_report,
)
from rtplan.report._tables import (
    CONFORMITY_TITLES,
    METRIC_TITLES,
    format_conformity_table,
    format_metrics_table,
    text_table,
)

__all__ = [
    "CONFORMITY_TITLES",
    "DEMO_GOALS",
    "METRIC_TITLES",
    "THIGH_GANTRY_DEG",
    "DemoResult",
    "HtmlReport",
    "add_dose_section",
    "add_mu_check_section",
    "add_study_section",
    "add_trajectory_section",
    "format_conformity_table",
    "format_metrics_table",
    "review_report",
    "run_demo",
    "text_table",
]
