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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np

from rtplan._atomic import atomic_folder
from rtplan.enum import Plane, Window
from rtplan.errors import MissingDependencyError, RtplanError
from rtplan.guidance._overlay import render_overlay, save_png
from rtplan.guidance._trajectory import Trajectory, TrajectoryResult
from rtplan.guidance._view import View, orientation_labels, overlay_view
from rtplan.image import Image
from rtplan.structures import Structure

__all__ = [
    "EXPORT_FILES",
    "OVERLAY_PLANES",
    "ExportOptions",
    "ExportSettings",
    "avoidance_zone",
    "export_plan",
]

logger = logging.getLogger(__name__)

#: The files an export writes, as patterns relative to its folder: an export replaces
#: those of an earlier one (and removes the ones it does not write again).
EXPORT_FILES = (
    "trajectories.csv",
    "trajectories.json",
    "overlays/rank*_*.png",
    "overlays/accessibility.png",
    "dicom/RS_trajectory.dcm",
    "dicom/SC_rank*_*.dcm",
    "dicom/PR_needle.dcm",
    "scene/scene.*",
    "scene/scene/*",
)

#: Planes rendered for each exported trajectory.
OVERLAY_PLANES = (
    Plane.AXIAL,
    Plane.OBLIQUE,
    Plane.OBLIQUE_ORTHOGONAL,
    Plane.CORONAL,
    Plane.SAGITTAL,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportOptions:
    """What :func:`export_plan` writes, and the look of its overlays.

    Parameters
    ----------
    window : Window, str or (float, float)
        CT window of the overlays and the GSPS (see :class:`rtplan.enum.Window`).
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

    Raises
    ------
    RtplanError
        If ``n_overlays`` is below 1 or the window preset unknown.

    Examples
    --------
    >>> from rtplan.guidance import ExportOptions
    >>> ExportOptions(window="Bone", n_overlays=3).window
    <Window.BONE: 'bone'>
    """

    window: Window | str | tuple[float, float] = Window.SOFT_TISSUE
    n_overlays: int = 1
    dicom: bool = True
    scene: bool = False
    show_patient: bool = False

    def __post_init__(self) -> None:
        if self.n_overlays < 1:
            raise RtplanError(f"n_overlays must be >= 1, got {self.n_overlays}")
        if isinstance(self.window, str):
            object.__setattr__(self, "window", Window(self.window))


class ExportSettings(TypedDict, total=False):
    """The fields of :class:`ExportOptions` as keywords of :func:`export_plan`."""

    window: Window | str | tuple[float, float]
    n_overlays: int
    dicom: bool
    scene: bool
    show_patient: bool


_OPTION_FIELDS = frozenset(f.name for f in fields(ExportOptions))


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

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.guidance import avoidance_zone
    >>> study = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    >>> canal = study.structures["SpinalCanal"]
    >>> zone = avoidance_zone(canal, study.ct, 3.0)
    >>> zone.name, zone.interpreted_type, bool(zone.volume_cc > canal.volume_cc)
    ('SpinalCanal_3mm', 'AVOIDANCE', True)
    """
    from rtplan.geometry import dilate_mask

    mask = structure.mask(ct.grid)
    if clearance_mm > 0:
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


def _options(options: ExportOptions | None, settings: Mapping[str, Any]) -> ExportOptions:
    unknown = sorted(set(settings) - _OPTION_FIELDS)
    if unknown:
        raise TypeError(f"export_plan() got unexpected keyword argument(s) {unknown}")
    base = options if options is not None else ExportOptions()
    return replace(base, **settings) if settings else base


def _write_overlays(
    result: TrajectoryResult,
    ct: Image,
    out: Path,
    ranks: Sequence[Trajectory],
    drawn: Sequence[Structure],
    dose: tuple[Image | None, float | None],
    options: ExportOptions,
) -> tuple[list[tuple[Path, View]], Path]:
    """One PNG per rank and plane with its view, and the accessibility map's PNG."""
    from rtplan.guidance._access import render_accessibility_map

    captures: list[tuple[Path, View]] = []
    for traj in ranks:
        for plane in OVERLAY_PLANES:
            view = overlay_view(ct, plane=plane, trajectory=traj, structures=drawn)
            rgb = render_overlay(
                ct,
                view=view,
                window=options.window,
                dose=dose[0],
                prescription_gy=dose[1],
                structures=drawn,
                trajectory=traj,
                accessibility=result.accessibility if plane == Plane.AXIAL else None,
                show_patient=options.show_patient,
            )
            png = save_png(rgb, out / "overlays" / f"rank{traj.rank}_{plane.value}.png")
            captures.append((png, view))
    access = render_accessibility_map(
        result.accessibility, position=ct.patient_position, trajectories=list(result)
    )
    return captures, save_png(access, out / "overlays" / "accessibility.png")


def _write_dicom(
    ct: Image,
    dcm: Path,
    ranks: Sequence[Trajectory],
    structures: tuple[Structure | None, Sequence[Structure]],
    captures: Sequence[tuple[Path, View]],
    options: ExportOptions,
) -> list[Path]:
    """RT Structure Set, one Secondary Capture per overlay, and the GSPS of the best path."""
    from PIL import Image as PILImage
    from pydicom.uid import generate_uid

    from rtplan.guidance._gsps import write_presentation_state
    from rtplan.guidance._markers import trajectory_structures
    from rtplan.io import write_rtstruct
    from rtplan.io.capture import write_secondary_capture

    target, avoided = structures
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
    written = [write_rtstruct(rois, dcm / "RS_trajectory.dcm", reference=ct, label="NEEDLE PLAN")]
    series_uid = generate_uid()
    for n, (png, view) in enumerate(captures, start=1):
        rgb = np.asarray(PILImage.open(png).convert("RGB"))
        lab = orientation_labels(view)
        written.append(
            write_secondary_capture(
                rgb,
                dcm / f"SC_{png.stem}.dcm",
                reference=ct,
                patient_orientation=(lab["right"], lab["bottom"]),
                series_instance_uid=series_uid,
                series_description="rtplan needle guidance",
                instance_number=n,
                source_slices=view.source_slices(ct.grid),
                derivation_description=f"rtplan overlay {png.stem}: CT {view.plane.value} "
                "plane with structures and the planned needle path",
                pixel_spacing_mm=view.pixel_mm,
                burned_in_annotation=options.show_patient,
            )
        )
    if ct.series is not None and len(ct.series.files) == ct.grid.shape[0]:
        pr = dcm / "PR_needle.dcm"
        written.append(write_presentation_state(ranks[0], ct, pr, window=options.window))
    else:
        logger.info("CT files unknown: no presentation state written")
    return written


def _write_scene(
    ct: Image,
    folder: Path,
    best: Trajectory,
    structures: tuple[Structure | None, Sequence[Structure]],
    dose: tuple[Image | None, float | None],
) -> list[Path]:
    """The 3D scene as VTK multiblock, and PNG, glTF and HTML where they can be made."""
    from rtplan.guidance._scene import build_scene

    sc = build_scene(
        ct,
        trajectory=best,
        target=structures[0],
        structures=list(structures[1]),
        dose=dose[0],
        prescription_gy=dose[1],
    )
    written = [sc.save_vtm(folder / "scene.vtm")]
    exports: list[tuple[str, Callable[[Path], Path]]] = [
        ("scene.png", sc.screenshot),
        ("scene.gltf", sc.save_gltf),
        ("scene.html", sc.save_html),
    ]
    for name, call in exports:
        try:
            written.append(call(folder / name))
        except MissingDependencyError as exc:
            logger.warning("3D scene: %s not written (%s)", name, exc)
    return written


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
    options: ExportOptions | None = None,
    **settings: Unpack[ExportSettings],
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
    options : ExportOptions, optional
        What to write and the overlays' window; the defaults of :class:`ExportOptions`
        when omitted.
    **settings
        Any field of :class:`ExportOptions` (``window``, ``n_overlays``, ``dicom``,
        ``scene``, ``show_patient``) as a keyword, replacing that field of ``options``.

    Returns
    -------
    dict of str to list of Path
        Files written, by kind: ``"table"``, ``"overlays"``, ``"dicom"``, ``"scene"``.

    Raises
    ------
    RtplanError
        If the result is empty or ``n_overlays`` is out of range (nothing is written).
    OSError
        If a file cannot be written (naming it); nothing of the new set is then in place.
    TypeError
        If a keyword is neither a parameter nor an option.

    Notes
    -----
    The export is all or nothing (:func:`rtplan._atomic.atomic_folder`): the files are
    written into a staging folder inside ``out_dir`` and moved into place together once
    all are written. The files of an earlier export into the same folder
    (:data:`EXPORT_FILES`) are replaced, and those the new export does not write again
    (a higher rank, a scene not asked for this time) are removed, so the folder always
    holds one consistent set; other files of the folder are left alone.

    Examples
    --------
    >>> import tempfile
    >>> import rtplan
    >>> from rtplan.guidance import export_plan
    >>> spine = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    >>> s = spine.structures
    >>> paths = rtplan.plan_trajectory(
    ...     spine.ct, s["GTV"], avoid=[s["SpinalCanal"]], clearance_mm=3.0,
    ...     approach="posterior", n_best=1,
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     written = export_plan(paths, spine.ct, folder, target=s["GTV"], dicom=False)
    ...     sorted(p.name for p in written["table"])
    ['trajectories.csv', 'trajectories.json']
    """
    opts = _options(options, settings)
    if len(result) == 0:
        raise RtplanError("nothing to export: the trajectory result is empty")
    with atomic_folder(out_dir, replaces=EXPORT_FILES) as stage:
        out = stage.path
        written: dict[str, list[Path]] = {"table": [], "overlays": [], "dicom": [], "scene": []}
        written["table"].append(result.to_csv(out / "trajectories.csv"))
        written["table"].append(result.to_json(out / "trajectories.json"))
        ranks: list[Trajectory] = list(result[: min(opts.n_overlays, len(result))])
        drawn = [s for s in (target, *avoided, *structures) if s is not None]
        dose_rx = (dose, prescription_gy)
        captures, access = _write_overlays(result, ct, out, ranks, drawn, dose_rx, opts)
        written["overlays"] = [png for png, _ in captures] + [access]
        has_dicom = ct.series is not None and bool(ct.series.study_instance_uid)
        if opts.dicom and not has_dicom:
            logger.info("CT not read from DICOM: no DICOM objects written")
        if opts.dicom and has_dicom:
            dcm = out / "dicom"
            written["dicom"] = _write_dicom(ct, dcm, ranks, (target, avoided), captures, opts)
        if opts.scene:
            scene = out / "scene"
            written["scene"] = _write_scene(ct, scene, ranks[0], (target, avoided), dose_rx)
    return {kind: [stage.final(p) for p in files] for kind, files in written.items()}
