"""Review reports (self-contained HTML), text tables of dose metrics, and the demonstration.

* HTML: :func:`review_report` (a study, its plan and dose evaluation, needle paths), built
  from :class:`HtmlReport` and its sections :func:`add_study_section`,
  :func:`add_dose_section`, :func:`add_mu_check_section`, :func:`add_trajectory_section`,
  and for an inverse (IMRT) plan :func:`add_imrt_section` (fluence maps per beam:
  :func:`fluence_figure`);
* the interactive review page :func:`review_page` (one self-contained HTML file: scroll
  through the CT with structures, isodoses and needle paths, read values under the cursor);
* plan-check and procedure measures: :func:`beam_geometry` (SSD, depth of the
  isocentre) and :func:`needle_terms` (a needle path in a radiologist's terms);
* text: :func:`format_metrics_table`, :func:`format_conformity_table` (with their column
  titles :data:`METRIC_TITLES`, :data:`CONFORMITY_TITLES`) and :func:`text_table`;
* :func:`run_demo`, the whole flow on the bundled sample studies (``rtplan demo``).
"""

from __future__ import annotations

from rtplan.report._demo import DEMO_GOALS, THIGH_GANTRY_DEG, DemoResult, run_demo
from rtplan.report._html import HtmlReport
from rtplan.report._imrt import add_imrt_section, fluence_figure
from rtplan.report._page import review_page
from rtplan.report._plancheck import (
    NEEDLE_LENGTHS_MM,
    BeamGeometry,
    NeedleTerms,
    beam_geometry,
    needle_terms,
)
from rtplan.report._review import (
    add_dose_section,
    add_mu_check_section,
    add_study_section,
    add_trajectory_section,
    input_uids,
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
    "NEEDLE_LENGTHS_MM",
    "THIGH_GANTRY_DEG",
    "BeamGeometry",
    "DemoResult",
    "HtmlReport",
    "NeedleTerms",
    "add_dose_section",
    "add_imrt_section",
    "add_mu_check_section",
    "add_study_section",
    "add_trajectory_section",
    "beam_geometry",
    "fluence_figure",
    "format_conformity_table",
    "format_metrics_table",
    "input_uids",
    "needle_terms",
    "review_page",
    "review_report",
    "run_demo",
    "text_table",
]
