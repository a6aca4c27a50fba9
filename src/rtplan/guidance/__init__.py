"""Image-guided procedure planning: needle trajectories, 2D overlays, 3D scenes, DICOM.

* :func:`plan_trajectory` searches straight needle paths from the skin to a target that
  keep a clearance from avoided structures and tissue classes, and ranks them; what it
  asks of the paths is a :class:`TrajectoryConstraints` and a :class:`TrajectoryRanking`.
  It returns a :class:`TrajectoryResult` of :class:`Trajectory` objects with an
  :class:`AccessibilityMap`.
* :func:`render_overlay` draws a CT plane (a :class:`rtplan.enum.Plane`: axial, coronal,
  sagittal or along the needle) with structures, isodoses and the trajectory as an RGB
  array, in an :class:`OverlayStyle`; :func:`overlay_view` gives its pixel grid and
  :func:`save_png` saves it. Extra layers are :class:`OverlayLayer` objects drawing on a
  :class:`Canvas`, or plugins (:func:`overlay_layer`).
* :data:`ISODOSE_PALETTE` is the isodose palette; :func:`distinct_structures` recolours
  structures whose colours clash (CIEDE2000 :func:`delta_e` below :data:`MIN_DELTA_E`)
  with the isodose lines, the needle or each other.
* :func:`render_accessibility_map` unrolls the skin around the target: which entries are
  feasible and how well they score.
* :func:`build_scene` builds the 3D scene (skin, bone, target, organs, isodose, needle),
  saved as a PNG screenshot, a VTK multiblock, glTF, or (with trame) HTML.
* :func:`trajectory_structures`, :func:`write_presentation_state` and
  :func:`rtplan.io.write_secondary_capture` export the plan for PACS and treatment-planning
  systems; :func:`export_plan` writes all of it (what ``rtplan trajectory`` does).
* :func:`needle_angles`, :func:`direction_letters` and :func:`exact_clearance_mm` are the
  measures the search and the overlays report.
"""

from __future__ import annotations

from rtplan.guidance._access import render_accessibility_map
from rtplan.guidance._clearance import exact_clearance_mm
from rtplan.guidance._criteria import TrajectoryConstraints, TrajectoryRanking
from rtplan.guidance._draw import Canvas
from rtplan.guidance._export import ExportOptions, avoidance_zone, export_plan
from rtplan.guidance._gsps import write_presentation_state
from rtplan.guidance._markers import SlicePiece, slice_pieces, trajectory_structures
from rtplan.guidance._orientation import direction_letters, needle_angles
from rtplan.guidance._overlay import (
    OverlayLayer,
    OverlayStyle,
    overlay_layer,
    plane_caption,
    render_overlay,
    save_png,
)
from rtplan.guidance._palette import (
    DEFAULT_ISODOSES,
    ISODOSE_PALETTE,
    MIN_DELTA_E,
    MIN_STRUCTURE_DELTA_E,
    NEEDLE_COLOR,
    delta_e,
    distinct_structure_colors,
    distinct_structures,
    isodose_color,
    parse_color,
)
from rtplan.guidance._scene import Scene, SceneItem, SceneStyle, build_scene
from rtplan.guidance._search import plan_trajectory
from rtplan.guidance._trajectory import AccessibilityMap, Trajectory, TrajectoryResult
from rtplan.guidance._view import View, orientation_labels, overlay_view

__all__ = [
    "DEFAULT_ISODOSES",
    "ISODOSE_PALETTE",
    "MIN_DELTA_E",
    "MIN_STRUCTURE_DELTA_E",
    "NEEDLE_COLOR",
    "AccessibilityMap",
    "Canvas",
    "ExportOptions",
    "OverlayLayer",
    "OverlayStyle",
    "Scene",
    "SceneItem",
    "SceneStyle",
    "SlicePiece",
    "Trajectory",
    "TrajectoryConstraints",
    "TrajectoryRanking",
    "TrajectoryResult",
    "View",
    "avoidance_zone",
    "build_scene",
    "delta_e",
    "direction_letters",
    "distinct_structure_colors",
    "distinct_structures",
    "exact_clearance_mm",
    "export_plan",
    "isodose_color",
    "needle_angles",
    "orientation_labels",
    "overlay_layer",
    "overlay_view",
    "parse_color",
    "plan_trajectory",
    "plane_caption",
    "render_accessibility_map",
    "render_overlay",
    "save_png",
    "slice_pieces",
    "trajectory_structures",
    "write_presentation_state",
]

__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
