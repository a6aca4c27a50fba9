"""The interactive review page: one self-contained HTML file to scroll through a study.

:func:`review_page` writes the CT (HU), the dose resampled on the CT voxels, the structure
masks and the needle paths into one HTML file with a small script (no server, no network,
no external library): three views (axial, coronal, sagittal) scrolled with the mouse wheel
or a slider, window/level presets, structures and isodose lines switched on and off, a
click that moves the other views through the point, and the CT number, the dose, the LPS
position and the structures under the cursor. The views follow the conventions of
:func:`rtplan.render_overlay`: axial as seen from the feet (patient's left on the image's
right for a supine patient), coronal from the front, sagittal from the patient's left.

Isodose colours are the report's (:data:`rtplan.guidance.ISODOSE_PALETTE`), and the
structure colours that clash with them or with each other are reassigned as in the
report (:func:`rtplan.guidance.distinct_structures`).
"""

from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan._version import __version__
from rtplan.errors import GeometryError

if TYPE_CHECKING:
    from rtplan.grid import Grid
    from rtplan.guidance import Trajectory
    from rtplan.image import Dose, Image
    from rtplan.io.study import Study
    from rtplan.plan import Plan

__all__ = ["review_page"]

logger = logging.getLogger(__name__)

RGB = tuple[int, int, int]

#: LPS letters of the positive and negative directions of x, y, z.
_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))


def _b64(array: npt.NDArray[Any]) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _canonical_axes(grid: Grid) -> tuple[list[int], list[bool]]:
    """How to reorder the (k, j, i) array so its axes run along +z, +y, +x (LPS).

    Returns the transpose order and, for each array axis, whether it is flipped first.

    Raises
    ------
    GeometryError
        If the grid's axes are not along the patient axes (an oblique CT).
    """
    d = np.asarray(grid.direction)
    lps_of_axis: list[int] = []
    flip: list[bool] = []
    for column in (2, 1, 0):  # array axes k, j, i
        v = d[:, column]
        axis = int(np.argmax(np.abs(v)))
        if abs(abs(float(v[axis])) - 1.0) > 1e-3:
            raise GeometryError(
                "the review page shows CTs whose rows, columns and slices run along the "
                f"patient axes; this CT's axes are oblique ({d.tolist()}): resample it first"
            )
        lps_of_axis.append(axis)
        flip.append(float(v[axis]) < 0)
    order = [lps_of_axis.index(2 - t) for t in range(3)]
    return order, flip


def _canonical(array: npt.NDArray[Any], grid: Grid) -> npt.NDArray[Any]:
    """``array`` (k, j, i) reordered to (z, y, x) with every axis increasing in LPS."""
    order, flip = _canonical_axes(grid)
    flipped = np.flip(array, axis=tuple(a for a in range(3) if flip[a])) if any(flip) else array
    return np.ascontiguousarray(np.transpose(flipped, order))


def _volume_geometry(grid: Grid) -> dict[str, list[float] | list[int]]:
    """Shape (z, y, x), spacing (x, y, z) and the LPS centre of the first canonical voxel."""
    order, _ = _canonical_axes(grid)
    shape_kji = grid.shape
    shape = [int(shape_kji[order[t]]) for t in range(3)]
    spacing_kji = np.asarray(grid.spacing_mm, dtype=np.float64)
    spacing_zyx = [float(spacing_kji[order[t]]) for t in range(3)]
    corners = np.array(
        [
            [i, j, k]
            for i in (0, shape_kji[2] - 1)
            for j in (0, shape_kji[1] - 1)
            for k in (0, shape_kji[0] - 1)
        ],
        dtype=np.float64,
    )
    origin = grid.index_to_mm(corners).min(axis=0)
    return {
        "shape": shape,
        "spacing_mm": spacing_zyx[::-1],
        "origin_mm": [float(v) for v in origin],
    }


def _letters(vector: npt.NDArray[np.float64]) -> str:
    axis = int(np.argmax(np.abs(vector)))
    return _LETTERS[axis][0 if vector[axis] > 0 else 1]


def _views(ct: Image) -> dict[str, dict[str, Any]]:
    """Screen right and down (LPS) and the LPS axis scrolled, for each view."""
    from rtplan.guidance._orientation import axial_screen_axes

    right, down = axial_screen_axes(ct.patient_position)
    axes = {
        "axial": (np.asarray(right, dtype=np.float64), np.asarray(down, dtype=np.float64), 2),
        "coronal": (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0]), 1),
        "sagittal": (np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]), 0),
    }
    out = {}
    for name, (r, d, axis) in axes.items():
        r = np.rint(r)
        d = np.rint(d)
        out[name] = {
            "right": r.tolist(),
            "down": d.tolist(),
            "axis": axis,
            "letters": {
                "right": _letters(r),
                "left": _letters(-r),
                "top": _letters(-d),
                "bottom": _letters(d),
            },
        }
    return out


def _trajectory_rows(
    trajectories: Sequence[Trajectory] | Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Rank, entry, target and length of each needle path (objects or JSON rows)."""
    rows: list[dict[str, Any]] = []
    for t in trajectories:
        if isinstance(t, Mapping):
            entry = [float(t[f"entry_{a}_mm"]) for a in "xyz"]
            target = [float(t[f"target_{a}_mm"]) for a in "xyz"]
            rank = int(t.get("rank", len(rows) + 1))
        else:
            entry = [float(v) for v in t.entry_mm]
            target = [float(v) for v in t.target_mm]
            rank = int(t.rank or len(rows) + 1)
        length = float(np.linalg.norm(np.subtract(target, entry)))
        rows.append({"rank": rank, "entry_mm": entry, "target_mm": target, "length_mm": length})
    return rows


def _focus(structures: Sequence[Any], trajectories: Sequence[Mapping[str, Any]]) -> Any:
    """Where the views open: the first needle's target, else the first target's centroid."""
    if trajectories:
        return list(trajectories[0]["target_mm"])
    for kind in ("PTV", "CTV", "GTV"):
        for s in structures:
            if s.interpreted_type.upper() == kind or s.name.upper().startswith(kind):
                return [float(v) for v in s.centroid_mm]
    return None


def _needle_words(rows: list[dict[str, Any]], study: Study) -> list[dict[str, Any]]:
    """Each path's description in a radiologist's terms (:func:`needle_terms`), as text."""
    from rtplan.guidance import Trajectory, orientation_labels, overlay_view
    from rtplan.report._plancheck import needle_terms

    body = next((s for s in study.structures if s.interpreted_type.upper() == "EXTERNAL"), None)
    for row in rows:
        t = Trajectory(
            entry_mm=np.asarray(row["entry_mm"]),
            target_mm=np.asarray(row["target_mm"]),
            clearance_mm={},
            required_clearance_mm={},
            in_plane_deg=0.0,
            out_of_plane_deg=0.0,
            tissue_fraction={},
        )
        view = overlay_view(study.ct, plane="oblique", trajectory=t)
        row["plane"] = {
            "right": [float(v) for v in view.right],
            "down": [float(v) for v in view.down],
            "normal": [float(v) for v in view.normal],
            "origin": [float(v) for v in t.target_mm],
            "letters": orientation_labels(view),
        }
        w = needle_terms(t, study.ct, body=body)
        row["words"] = (
            f"{w.angle_from_vertical_deg:.0f}° from vertical, from the patient's "
            f"{w.entry_side}; tilt {w.tilt_text}; skin entry on slice {w.entry_slice} (table "
            f"z {w.table_mm:.1f} mm), {w.midline_offset_mm:.0f} mm {w.midline_side} of the "
            f"midline; skin to target {w.depth_mm:.0f} mm: {w.needle_text} needle"
        )
    return rows


def _couch(study: Study, plan: Plan | None, reference: str | Sequence[float]) -> dict[str, Any]:
    """The couch coordinates' frame (for the cursor) and each beam's isocentre in it."""
    from rtplan.image import PatientPosition
    from rtplan.report._plancheck import couch_shift, resolve_couch_reference

    point, label = resolve_couch_reference(reference, plan=plan, structures=study.structures)
    position = (plan.patient_position if plan is not None else None) or (
        study.ct.patient_position or "HFS"
    )
    matrix = np.asarray(PatientPosition(position).to_iec_fixed, dtype=np.float64)
    out: dict[str, Any] = {
        "couch": {
            # rows: lateral, longitudinal, vertical (IEC 61217 fixed X, Y, Z) per LPS mm
            "matrix": matrix.tolist(),
            "reference_mm": list(point),
            "label": label,
            "position": str(position),
        }
    }
    if plan is not None:
        out["beams"] = []
        for b in plan.beams:
            shift = couch_shift(b.isocenter_mm, str(position), point)
            out["beams"].append(
                {
                    "name": b.name or str(b.number),
                    "gantry_deg": float(b.gantry_deg),
                    "isocenter_mm": [float(v) for v in b.isocenter_mm],
                    "couch": shift.text,
                    "couch_mm": [shift.lateral_mm, shift.vertical_mm, shift.longitudinal_mm],
                    "mu": None if b.mu is None else float(b.mu),
                    "segments": len(b.segments),
                }
            )
    return out


def _payload(
    study: Study,
    dose: Dose | None,
    plan: Plan | None,
    prescription_gy: float | None,
    trajectories: Sequence[Trajectory] | Sequence[Mapping[str, Any]],
    isodose_percent: Sequence[float],
    isodose_colors: Mapping[float, RGB] | None,
) -> dict[str, Any]:
    from rtplan import enum
    from rtplan.guidance import NEEDLE_COLOR, distinct_structures, isodose_color

    ct = study.ct
    grid = ct.grid
    hu = np.clip(np.rint(np.asarray(ct.array, dtype=np.float64)), -32768, 32767)
    data: dict[str, Any] = {
        "version": __version__,
        "ct": {**_volume_geometry(grid), "hu": _b64(_canonical(hu.astype("<i2"), grid))},
        "views": _views(ct),
        "windows": {w.value: [w.width_hu, w.level_hu] for w in enum.Window},
        "trajectories": _needle_words(_trajectory_rows(trajectories), study),
        "needle_color": list(NEEDLE_COLOR),
    }
    levels = [float(p) for p in isodose_percent]
    colors = [isodose_color(p, isodose_colors) for p in levels]
    reserved = list(colors) if dose is not None else []
    if data["trajectories"]:
        reserved.append(NEEDLE_COLOR)
    if dose is not None:
        pts = grid.centers_mm().reshape(-1, 3)
        gy = dose.sample(pts, order=1, fill_value=0.0).reshape(grid.shape)
        gy = np.where(np.isfinite(gy), np.maximum(gy, 0.0), 0.0)
        dmax = float(gy.max())
        scale = dmax / 65535.0 if dmax > 0 else 1.0
        rx = prescription_gy or (plan.prescription_gy if plan is not None else None)
        data["dose"] = {
            "data": _b64(_canonical(np.rint(gy / scale).astype("<u2"), grid)),
            "scale_gy": scale,
            "reference_gy": float(rx) if rx else float(np.max(dose.array)),
            "reference": "Rx" if rx else "Dmax",
            "levels": [
                {"percent": p, "color": list(c)} for p, c in zip(levels, colors, strict=True)
            ],
        }
    shown = [s for s in study.structures if s.has_volume]
    data["focus_mm"] = _focus(shown, data["trajectories"])
    recoloured = distinct_structures(shown, reserved=reserved)
    data["structures"] = [
        {
            "name": s.name,
            "color": list(s.color),
            "original_color": list(orig.color),
            "bits": _b64(np.packbits(_canonical(s.mask(grid), grid).ravel())),
        }
        for s, orig in zip(recoloured, shown, strict=True)
    ]
    return data


def review_page(
    path: str | Path,
    study: Study,
    *,
    dose: Dose | None = None,
    plan: Plan | None = None,
    prescription_gy: float | None = None,
    trajectories: Sequence[Trajectory] | Sequence[Mapping[str, Any]] = (),
    isodose_percent: Sequence[float] | None = None,
    isodose_colors: Mapping[float, RGB] | None = None,
    title: str | None = None,
    couch_reference: str | Sequence[float] = "origin",
) -> Path:
    """Write the interactive review page of a study (one self-contained HTML file).

    Parameters
    ----------
    path : str or Path
        Output ``.html`` file.
    study : Study
        The loaded study: its CT, and its structures with a volume.
    dose : Dose, optional
        Resampled (trilinear) on the CT voxels; isodose lines and the dose under the
        cursor. The page shows the whole plan's dose: a per-fraction dose is multiplied by
        the plan's number of fractions, and one whose fractions are unknown, a dose of
        part of a plan or an ``ERROR`` dose is refused
        (:func:`rtplan.evaluate.dose_for_evaluation`).
    plan : Plan, optional
        Its prescription is the 100 % isodose (else ``prescription_gy``, else the
        dose maximum).
    prescription_gy : float, optional
        The 100 % isodose, Gy.
    trajectories : sequence of Trajectory or of dict
        Needle paths, as objects or as the rows of ``trajectories.json`` written by
        ``rtplan trajectory`` (``entry_x_mm``... ``target_z_mm``, ``rank``).
    isodose_percent : sequence of float, optional
        Isodose levels, percent (:data:`rtplan.guidance.DEFAULT_ISODOSES` by default).
    isodose_colors : mapping of float to RGB, optional
        Colours by percent (:data:`rtplan.guidance.ISODOSE_PALETTE` by default).
    title : str, optional
        Page title.
    couch_reference : str or sequence of 3 float
        The reference point of the couch coordinates (IEC 61217 table axes,
        :func:`rtplan.report.couch_shift`) shown under the cursor and, with a plan, for
        each beam's isocentre: LPS mm, or a description read by
        :func:`rtplan.report.couch_reference` (``"origin"``, the default; ``"isocenter"``;
        a point structure's name; ``"X,Y,Z"``).

    Returns
    -------
    Path
        The file written (UTF-8, atomically). No patient identifiers are included.

    Raises
    ------
    GeometryError
        If the CT's axes are oblique to the patient axes.
    EvaluationError
        If the dose cannot stand for the whole plan (see ``dose``).
    RtplanError
        If ``couch_reference`` is not understood.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import rtplan
    >>> from rtplan.report import review_page
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     text = review_page(Path(tmp, "review.html"), study).read_text(encoding="utf-8")
    >>> "<script" in text, "http://" in text or "https://" in text
    (True, False)
    """
    from rtplan._atomic import atomic_open
    from rtplan.guidance import DEFAULT_ISODOSES
    from rtplan.report._review import input_uids

    levels = DEFAULT_ISODOSES if isodose_percent is None else tuple(isodose_percent)
    basis = None
    if dose is not None:  # the whole plan's dose, as the report shows it
        from rtplan.evaluate import dose_for_evaluation

        evaluated = dose_for_evaluation(
            dose, fractions=plan.fractions if plan is not None else None, purpose="the review page"
        )
        dose, basis = evaluated.dose, evaluated.basis  # type: ignore[assignment]
    data = _payload(study, dose, plan, prescription_gy, trajectories, levels, isodose_colors)
    page_title = title or "rtplan review"
    data["title"] = page_title
    data["study"] = study.path.name if study.path else "-"
    data["uids"] = input_uids(study, plan=plan, dose=dose)
    data.update(_couch(study, plan, couch_reference))
    if basis is not None:
        data["dose"]["basis"] = basis
    from rtplan.report._page_assets import PAGE_CSS, PAGE_SCRIPT

    blob = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    text = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(page_title)}</title><style>{PAGE_CSS}</style></head><body>"
        f'<script type="application/json" id="rtplan-data">{blob}</script>'
        f"<script>{PAGE_SCRIPT}</script></body></html>\n"
    )
    p = Path(path)
    with atomic_open(p) as fh:
        fh.write(text)
    logger.info("review page written to %s (%.1f MB)", p, len(text) / 1e6)
    return p
