"""Image-guided procedure planning: needle trajectories, 2D overlays, 3D scenes, DICOM.

* :func:`plan_trajectory` searches straight needle paths from the skin to a target that
  keep a clearance from avoided structures and tissue classes, and ranks them.
* :func:`render_overlay` draws a CT plane (axial, coronal, sagittal or along the needle)
  with structures, isodoses and the trajectory as an RGB array; :func:`save_png` saves it.
* :func:`render_accessibility_map` unrolls the skin around the target: which entries are
  feasible and how well they score.
* :func:`build_scene` builds the 3D scene (skin, bone, target, organs, isodose, needle),
  saved as a PNG screenshot, a VTK multiblock, glTF, or (with trame) HTML.
* :func:`trajectory_structures`, :func:`write_presentation_state` and
  :func:`rtplan.io.write_secondary_capture` export the plan for PACS and treatment-planning
  systems; :func:`export_plan` writes all of it (what ``rtplan trajectory`` does).
"""

from __future__ import annotations

from rtplan.guidance._access import render_accessibility_map
from rtplan.guidance._draw import Canvas
from rtplan.guidance._export import OVERLAY_PLANES, avoidance_zone, export_plan
from rtplan.guidance._gsps import write_presentation_state
from rtplan.guidance._markers import SlicePiece, slice_pieces, trajectory_structures
from rtplan.guidance._overlay import (
    ISODOSE_COLORS,
    PLANES,
    WINDOWS,
    OverlayLayer,
    View,
    orientation_labels,
    overlay_layer,
    overlay_view,
    render_overlay,
    save_png,
)
from rtplan.guidance._scene import VIEWS, Scene, SceneItem, build_scene
from rtplan.guidance._trajectory import (
    APPROACHES,
    DEFAULT_WEIGHTS,
    AccessibilityMap,
    Trajectory,
    TrajectoryResult,
    plan_trajectory,
)

__all__ = [
    "APPROACHES",
    "DEFAULT_WEIGHTS",
    "ISODOSE_COLORS",
    "OVERLAY_PLANES",
    "PLANES",
    "VIEWS",
    "WINDOWS",
    "AccessibilityMap",
    "Canvas",
    "OverlayLayer",
    "Scene",
    "SceneItem",
    "SlicePiece",
    "Trajectory",
    "TrajectoryResult",
    "View",
    "avoidance_zone",
    "build_scene",
    "export_plan",
    "orientation_labels",
    "overlay_layer",
    "overlay_view",
    "plan_trajectory",
    "render_accessibility_map",
    "render_overlay",
    "save_png",
    "slice_pieces",
    "trajectory_structures",
    "write_presentation_state",
]
