"""Write a trajectory plan for review and for PACS/TPS: table, overlays, DICOM, 3D scene.

:func:`export_plan` is what ``rtplan trajectory`` runs after the search. It writes into
one folder:

* ``trajectories.csv`` and ``trajectories.json``: the ranked table (and, in the JSON, the
  search settings and how many candidates each constraint rejected);
* ``overlays/rank<N>_<plane>.png`` for the best ``n_overlays`` trajectories: axial through
  the target, the two needle planes, coronal and sagittal through the target;
* ``overlays/accessibility.png``: the skin around the target unrolled, every entry
  candidate coloured by its score or grey where blocked, the returned paths ringed;
* ``dicom/``, when the CT was read from DICOM: an RT Structure Set (needle entry and
  target POINTs, the path as OPEN_PLANAR pieces per slice for each rendered rank, the
  target, the avoided structures and their clearance zones as AVOIDANCE ROIs), one
  Secondary Capture per overlay, and a GSPS drawing the best path on the CT slices;
* ``scene/``, on request: the 3D scene as PNG, VTK multiblock and glTF (and HTML when
  trame is installed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rtplan.errors import MissingDependencyError, RtplanError
from rtplan.guidance._overlay import (
    View,
    orientation_labels,
    overlay_view,
    render_overlay,
    save_png,
)
from rtplan.guidance._trajectory import Trajectory, TrajectoryResult
from rtplan.image import Image
from rtplan.structures import Structure

__all__ = ["OVERLAY_PLANES", "avoidance_zone", "export_plan", "source_slices"]

logger = logging.getLogger(__name__)

#: Planes rendered for each exported trajectory.
OVERLAY_PLANES = ("axial", "oblique", "oblique_orthogonal", "coronal", "sagittal")


def avoidance_zone(structure: Structure, ct: Image, clearance_mm: float) -> Structure:
    """The region within ``clearance_mm`` of a structure (its voxel centres), as AVOIDANCE.

    Parameters
    ----------
    structure : Structure
    ct : Image
        Grid of the zone.
    clearance_mm : float
        Margin, mm (exact Euclidean distance between voxel centres).

    Returns
    -------
    Structure
        Named ``<name>_<clearance>mm`` (at most 64 characters), type ``AVOIDANCE``.
    """
    from rtplan.geometry import dilate_mask

    mask = structure.mask(ct.grid)
    if clearance_mm > 0:
        # Exact distance transform on the structure's bounding box padded by the
        # clearance, not on the whole CT (seconds and gigabytes on a 512 x 512 x 200 CT).
        mask = dilate_mask(mask, clearance_mm, ct.grid.spacing_mm)
    suffix = f"_{clearance_mm:g}mm"
    name = structure.name[: 64 - len(suffix)] + suffix
    return Structure.from_mask(
        mask,
        ct.grid,
        name=name,
        color=structure.color,
        interpreted_type="AVOIDANCE",
        generation="AUTOMATIC",
        description=f"needle clearance zone: {structure.name} + {clearance_mm:g} mm",
    )


def source_slices(view: View, ct: Image) -> list[int]:
    """Indices of the CT slices a view's plane passes through (for Source Image Sequence).

    Parameters
    ----------
    view : View
    ct : Image

    Returns
    -------
    list of int
    """
    rows, cols = view.shape
    corners = view.to_mm([[0, 0], [cols - 1, 0], [0, rows - 1], [cols - 1, rows - 1]])
    k = ct.grid.mm_to_index(corners)[:, 2]
    lo = max(0, int(np.floor(k.min() + 0.5)))
    hi = min(ct.grid.shape[0] - 1, int(np.floor(k.max() + 0.5)))
    return list(range(lo, hi + 1))


def export_plan(
    result: TrajectoryResult,
    ct: Image,
    out_dir: str | Path,
    *,
    target: Structure | None = None,
    structures: Sequence[Structure] = (),
    avoided: Sequence[Structure] = (),
    dose: Image | None = None,
    prescription_gy: float | None = None,
    window: str | tuple[float, float] = "soft_tissue",
    n_overlays: int = 1,
    dicom: bool = True,
    scene: bool = False,
    show_patient: bool = False,
) -> dict[str, list[Path]]:
    """Write the ranked table, overlays, DICOM objects and optionally the 3D scene.

    Parameters
    ----------
    result : TrajectoryResult
        From :func:`rtplan.plan_trajectory`.
    ct : Image
        The CT searched.
    out_dir : str or Path
        Output folder (created).
    target : Structure, optional
        The target, drawn and written to the RT Structure Set.
    structures : sequence of Structure
        Other structures to draw (their contours).
    avoided : sequence of Structure
        The avoided structures: drawn, written with their clearance zones.
    dose : Image, optional
        Dose in Gy, drawn as isodose lines.
    prescription_gy : float, optional
        100 % isodose level.
    window : str or (float, float)
        CT window of the overlays and the GSPS.
    n_overlays : int
        Number of ranks to render (and to write as needle ROIs).
    dicom : bool
        Write the DICOM objects (needs a CT read from DICOM; skipped with a log message
        otherwise).
    scene : bool
        Write the 3D scene (PNG needs an OpenGL context, HTML needs trame: each is skipped
        with a log message when missing).
    show_patient : bool
        Burn the patient's name and ID into the overlays (and flag the Secondary
        Captures accordingly).

    Returns
    -------
    dict of str to list of Path
        Files written, by kind: ``"table"``, ``"overlays"``, ``"dicom"``, ``"scene"``.

    Raises
    ------
    RtplanError
        If the result is empty or ``n_overlays`` is out of range.
    """
    from rtplan.guidance._gsps import write_presentation_state
    from rtplan.guidance._markers import trajectory_structures
    from rtplan.io.capture import write_secondary_capture

    if len(result) == 0:
        raise RtplanError("nothing to export: the trajectory result is empty")
    if n_overlays < 1:
        raise RtplanError(f"n_overlays must be >= 1, got {n_overlays}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {"table": [], "overlays": [], "dicom": [], "scene": []}
    written["table"].append(result.to_csv(out / "trajectories.csv"))
    written["table"].append(result.to_json(out / "trajectories.json"))

    ranks: list[Trajectory] = list(result[: min(n_overlays, len(result))])
    drawn = [s for s in (target, *avoided, *structures) if s is not None]
    has_dicom = ct.series is not None and bool(ct.series.study_instance_uid)
    captures: list[tuple[Path, View]] = []
    for traj in ranks:
        for plane in OVERLAY_PLANES:
            view = overlay_view(ct, plane=plane, trajectory=traj, structures=drawn)
            rgb = render_overlay(
                ct,
                view=view,
                window=window,
                dose=dose,
                prescription_gy=prescription_gy,
                structures=drawn,
                trajectory=traj,
                accessibility=result.accessibility if plane == "axial" else None,
                show_patient=show_patient,
            )
            png = save_png(rgb, out / "overlays" / f"rank{traj.rank}_{plane}.png")
            written["overlays"].append(png)
            captures.append((png, view))

    from rtplan.guidance._access import render_accessibility_map

    written["overlays"].append(
        save_png(
            render_accessibility_map(
                result.accessibility, position=ct.patient_position, trajectories=list(result)
            ),
            out / "overlays" / "accessibility.png",
        )
    )

    if dicom and not has_dicom:
        logger.info("CT not read from DICOM: no DICOM objects written")
    if dicom and has_dicom:
        from rtplan.io import write_rtstruct

        dcm = out / "dicom"
        rois: list[Structure] = []
        for traj in ranks:
            prefix = "Needle" if len(ranks) == 1 else f"Needle{traj.rank}_"
            rois.extend(trajectory_structures(traj, ct, prefix=prefix))
        if target is not None:
            rois.append(target)
        required = dict(ranks[0].required_clearance_mm)
        for s in avoided:
            rois.append(s)
            if required.get(s.name, 0.0) > 0:
                rois.append(avoidance_zone(s, ct, required[s.name]))
        written["dicom"].append(
            write_rtstruct(rois, dcm / "RS_trajectory.dcm", reference=ct, label="NEEDLE PLAN")
        )
        from pydicom.uid import generate_uid

        series_uid = generate_uid()
        for n, (png, view) in enumerate(captures, start=1):
            from PIL import Image as PILImage

            rgb = np.asarray(PILImage.open(png).convert("RGB"))
            lab = orientation_labels(view)
            written["dicom"].append(
                write_secondary_capture(
                    rgb,
                    dcm / f"SC_{png.stem}.dcm",
                    reference=ct,
                    patient_orientation=(lab["right"], lab["bottom"]),
                    series_instance_uid=series_uid,
                    series_description="rtplan needle guidance",
                    instance_number=n,
                    source_slices=source_slices(view, ct),
                    derivation_description=f"rtplan overlay {png.stem}: CT {view.plane} plane "
                    "with structures and the planned needle path",
                    pixel_spacing_mm=view.pixel_mm,
                    burned_in_annotation=show_patient,
                )
            )
        if ct.series is not None and len(ct.series.files) == ct.grid.shape[0]:
            written["dicom"].append(
                write_presentation_state(ranks[0], ct, dcm / "PR_needle.dcm", window=window)
            )
        else:
            logger.info("CT files unknown: no presentation state written")

    if scene:
        from rtplan.guidance._scene import build_scene

        sc = build_scene(
            ct,
            trajectory=ranks[0],
            target=target,
            structures=list(avoided),
            dose=dose,
            prescription_gy=prescription_gy,
        )
        folder = out / "scene"
        written["scene"].append(sc.save_vtm(folder / "scene.vtm"))
        exports: list[tuple[str, Callable[[Path], Path]]] = [
            ("scene.png", sc.screenshot),
            ("scene.gltf", sc.save_gltf),
            ("scene.html", sc.save_html),
        ]
        for name, call in exports:
            try:
                written["scene"].append(call(folder / name))
            except MissingDependencyError as exc:
                logger.warning("3D scene: %s not written (%s)", name, exc)
    return written
