"""Review reports (self-contained HTML), text tables of dose metrics, and the demonstration.

* HTML: :func:`review_report` (a study, its plan and dose evaluation, needle paths), built
  from :class:`HtmlReport` and its sections :func:`add_study_section`,
  :func:`add_dose_section`, :func:`add_mu_check_section`, :func:`add_trajectory_section`,
  for step-and-shoot (IMRT) beams :func:`add_segments_section` (the fluence their segments
  deliver, :func:`segment_fluence` and :func:`segment_fluence_figure`, segment count and
  MU), and for an inverse plan :func:`add_imrt_section` (optimal and delivered fluence
  maps per beam: :func:`fluence_figure`);
* the interactive review page :func:`review_page` (one self-contained HTML file: scroll
  through the CT with structures, isodoses and needle paths, read values under the cursor);
* plan-check and procedure measures: :func:`beam_geometry` (SSD, depth of the
  isocentre), :func:`couch_shift` (the isocentre as a table shift from a reference point,
  :class:`CouchShift`; :func:`couch_reference` reads the point as the command line
  gives it), :func:`beams_eye_view` and :func:`beams_eye_outline` (the jaws and MLC over
  the structures seen from the source), and :func:`needle_terms` (a needle path in a
  radiologist's terms);
* text: :func:`format_metrics_table`, :func:`format_conformity_table` (with their column
  titles :data:`METRIC_TITLES`, :data:`CONFORMITY_TITLES`) and :func:`text_table`;
* :func:`run_demo`, the whole flow on the bundled sample studies (``rtplan demo``).
"""

from __future__ import annotations

from rtplan.report._demo import DEMO_GOALS, THIGH_GANTRY_DEG, DemoResult, run_demo
from rtplan.report._html import HtmlReport
from rtplan.report._imrt import (
    SegmentFluence,
    add_imrt_section,
    add_segments_section,
    fluence_figure,
    segment_fluence,
    segment_fluence_figure,
)
from rtplan.report._page import review_page
from rtplan.report._plancheck import (
    NEEDLE_LENGTHS_MM,
    SKIN_HU,
    BeamGeometry,
    CouchShift,
    NeedleTerms,
    beam_geometry,
    beams_eye_outline,
    beams_eye_view,
    couch_reference,
    couch_shift,
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
    "SKIN_HU",
    "THIGH_GANTRY_DEG",
    "BeamGeometry",
    "CouchShift",
    "DemoResult",
    "HtmlReport",
    "NeedleTerms",
    "SegmentFluence",
    "add_dose_section",
    "add_imrt_section",
    "add_mu_check_section",
    "add_segments_section",
    "add_study_section",
    "add_trajectory_section",
    "beam_geometry",
    "beams_eye_outline",
    "beams_eye_view",
    "couch_reference",
    "couch_shift",
    "fluence_figure",
    "format_conformity_table",
    "format_metrics_table",
    "input_uids",
    "needle_terms",
    "review_page",
    "review_report",
    "run_demo",
    "segment_fluence",
    "segment_fluence_figure",
    "text_table",
]

__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
