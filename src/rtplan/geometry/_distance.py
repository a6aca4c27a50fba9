"""Distances between structures: minimum, directional, and the target-to-organ table.

Surfaces are the 0.5 level sets of the structures' voxel fields (exact partial volumes for
contours, midway between inside and outside voxel centres for masks), triangulated by
marching cubes. The minimum distance is the exact point-to-triangle distance between
the two triangulations (candidates from a k-d tree, refined with
``vtkImplicitPolyDataDistance``); two structures sharing a voxel centre are 0 apart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError, StructureError
from rtplan.geometry import _lattice as lat
from rtplan.geometry._mesh import triangulate
from rtplan.grid import Grid

if TYPE_CHECKING:
    from rtplan.structures import Structure, StructureSet

__all__ = [
    "DIRECTIONS_LPS",
    "TARGET_TYPES",
    "directional_distance",
    "directional_distances",
    "min_distance",
    "overlaps",
    "target_organ_distances",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Unit vectors (LPS) of the six patient directions.
DIRECTIONS_LPS: dict[str, tuple[float, float, float]] = {
    "L": (1.0, 0.0, 0.0),
    "R": (-1.0, 0.0, 0.0),
    "A": (0.0, -1.0, 0.0),
    "P": (0.0, 1.0, 0.0),
    "S": (0.0, 0.0, 1.0),
    "I": (0.0, 0.0, -1.0),
}
_DIRECTION_NAMES = {
    "left": "L",
    "right": "R",
    "anterior": "A",
    "posterior": "P",
    "superior": "S",
    "inferior": "I",
}

#: RT ROI Interpreted Types treated as targets by :func:`target_organ_distances`.
TARGET_TYPES = ("PTV", "CTV", "GTV", "ITV")
_ORGAN_TYPES = ("ORGAN", "AVOIDANCE", "OAR")


class _Surface:
    """A structure's field on a padded box, and its triangulation (built lazily)."""

    def __init__(self, structure: Structure, lattice: Grid) -> None:
        bounds = lat.index_bounds(structure, lattice)
        if bounds is None:
            raise StructureError(f"structure {structure.name!r} is empty: no distance to it")
        self.structure = structure
        self.lo, self.hi = bounds
        self.box = lat.lattice_box(lattice, self.lo - 2, self.hi + 2)
        self.field = lat.field_on(structure, self.box)
        if not np.any(self.field >= 0.5):
            raise StructureError(
                f"structure {structure.name!r} covers no voxel centre of its grid: "
                "no surface to measure from"
            )
        self._tri: tuple[FloatArray, npt.NDArray[np.int64]] | None = None

    @property
    def triangles(self) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        if self._tri is None:
            self._tri = triangulate(self.field, self.box)
        return self._tri

    def polydata(self) -> object:
        import pyvista as pv

        verts, faces = self.triangles
        cells = np.column_stack([np.full(len(faces), 3, dtype=np.int64), faces]).ravel()
        return pv.PolyData(verts, cells)


def overlaps(a: Structure, b: Structure, *, grid: Grid | None = None) -> bool:
    """Whether two structures share at least one voxel centre (on ``a``'s grid).

    Parameters
    ----------
    a, b : Structure
    grid : Grid, optional

    Returns
    -------
    bool
    """
    lattice = lat.working_lattice(a, b, grid=grid)
    ba = lat.index_bounds(a, lattice)
    bb = lat.index_bounds(b, lattice)
    if ba is None or bb is None:
        return False
    lo = np.maximum(ba[0], bb[0])
    hi = np.minimum(ba[1], bb[1])
    if np.any(hi <= lo):
        return False
    box = lat.lattice_box(lattice, lo, hi)
    return bool(np.any(lat.mask_on(a, box) & lat.mask_on(b, box)))


def _exact_min(points: FloatArray, surface: _Surface) -> FloatArray:
    """Unsigned distance from points to the triangulated surface (exact, VTK)."""
    import pyvista as pv

    cloud = pv.PolyData(points)
    result = cloud.compute_implicit_distance(surface.polydata())
    return np.abs(np.asarray(result["implicit_distance"], dtype=np.float64))


def min_distance(a: Structure, b: Structure, *, grid: Grid | None = None) -> float:
    """Smallest surface-to-surface distance between two structures, mm.

    Parameters
    ----------
    a, b : Structure
        Contours or masks.
    grid : Grid, optional
        Grid to compute on; ``a``'s (or ``b``'s) by default.

    Returns
    -------
    float
        0.0 when they share a voxel centre; else the exact distance between their
        triangulated surfaces (the 0.5 level sets of their voxel fields), mm.

    Raises
    ------
    StructureError
        If either structure is empty.
    """
    from scipy.spatial import cKDTree

    lattice = lat.working_lattice(a, b, grid=grid)
    sa, sb = _Surface(a, lattice), _Surface(b, lattice)
    if overlaps(a, b, grid=lattice):
        return 0.0
    va, vb = sa.triangles[0], sb.triangles[0]
    dab, _ = cKDTree(vb).query(va)
    dba, _ = cKDTree(va).query(vb)
    coarse = float(min(dab.min(), dba.min()))
    # vertex-to-vertex distances exceed the true distance by less than one voxel
    slack = float(max(lattice.spacing_mm))
    best = coarse
    cand_a = va[dab <= coarse + slack]
    cand_b = vb[dba <= coarse + slack]
    if len(cand_a):
        best = min(best, float(_exact_min(cand_a, sb).min()))
    if len(cand_b):
        best = min(best, float(_exact_min(cand_b, sa).min()))
    return best


def _unit(direction: str | Sequence[float]) -> tuple[FloatArray, str]:
    if isinstance(direction, str):
        key = _DIRECTION_NAMES.get(direction.strip().lower(), direction.strip().upper())
        if key not in DIRECTIONS_LPS:
            raise GeometryError(
                f"unknown direction {direction!r}; use L, R, A, P, S, I or an LPS vector"
            )
        return np.asarray(DIRECTIONS_LPS[key], dtype=np.float64), key
    u = np.asarray(direction, dtype=np.float64).reshape(-1)
    n = float(np.linalg.norm(u)) if u.size == 3 else 0.0
    if n == 0 or not np.isfinite(n):
        raise GeometryError(f"direction must be a non-zero LPS vector, got {direction!r}")
    return u / n, np.array2string(u / n, precision=3)


def directional_distance(
    a: Structure,
    b: Structure,
    direction: str | Sequence[float],
    *,
    grid: Grid | None = None,
) -> float:
    """How far ``a`` must move along ``direction`` to touch ``b``, mm.

    The smallest ``t >= 0`` such that a point of ``a`` moved by ``t`` along the
    direction enters ``b`` (the gap measured along that direction only).

    Parameters
    ----------
    a, b : Structure
    direction : str or sequence of 3 float
        ``"L"``, ``"R"``, ``"A"``, ``"P"``, ``"S"``, ``"I"`` (or ``"left"``...), or an
        LPS vector.
    grid : Grid, optional
        Grid to compute on; ``a``'s by default.

    Returns
    -------
    float
        mm; 0.0 if the structures overlap, ``inf`` if ``b`` is never reached.

    Raises
    ------
    GeometryError
        For an unknown direction.
    StructureError
        If either structure is empty.
    """
    from scipy import ndimage

    u, _ = _unit(direction)
    lattice = lat.working_lattice(a, b, grid=grid)
    sa, sb = _Surface(a, lattice), _Surface(b, lattice)
    if overlaps(a, b, grid=lattice):
        return 0.0
    verts, faces = sa.triangles
    # rays start on the part of a's surface facing the direction (the first contact is
    # there); face normals point outwards
    tri = verts[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    facing = faces[normals @ u >= 0.0]
    starts = verts[np.unique(facing)] if len(facing) else verts
    # ray / box of b, in b's index space
    box = sb.box
    o = box.mm_to_index(starts)
    du = box.mm_to_index(np.asarray(box.origin_mm) + u) - box.mm_to_index(np.asarray(box.origin_mm))
    upper = np.asarray(box.shape_ijk, dtype=np.float64) - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        t0 = np.where(du != 0, (0.0 - o) / du, -np.inf)
        t1 = np.where(du != 0, (upper - o) / du, np.inf)
    inside_slab = (du != 0) | ((o >= 0.0) & (o <= upper))
    tmin = np.max(np.minimum(t0, t1), axis=1)
    tmax = np.min(np.maximum(t0, t1), axis=1)
    hit_box = np.all(inside_slab, axis=1) & (tmax >= np.maximum(tmin, 0.0))
    if not np.any(hit_box):
        return float("inf")
    o, tmin, tmax = o[hit_box], np.maximum(tmin[hit_box], 0.0), tmax[hit_box]
    step = 0.25 * float(min(lattice.spacing_mm))  # mm along the ray (|u| = 1 mm per unit t)
    field = np.asarray(sb.field, dtype=np.float64)
    best = np.inf
    t = tmin.copy()
    prev_val = np.zeros(len(o))
    prev_t = t.copy()
    active = np.ones(len(o), dtype=bool)
    while np.any(active):
        idx = np.flatnonzero(active)
        pts = o[idx] + t[idx, np.newaxis] * du
        val = ndimage.map_coordinates(field, pts[:, ::-1].T, order=1, mode="nearest")
        hit = val >= 0.5
        if np.any(hit):
            h = idx[hit]
            v0, v1 = prev_val[h], val[hit]
            frac = np.where(v1 > v0, (0.5 - v0) / np.maximum(v1 - v0, 1e-12), 1.0)
            frac = np.clip(frac, 0.0, 1.0)
            first = np.where(t[h] == tmin[h], t[h], prev_t[h] + frac * (t[h] - prev_t[h]))
            best = min(best, float(first.min()))
            active[h] = False
        prev_val[idx] = val
        prev_t[idx] = t[idx]
        t[idx] += step
        active &= (t <= tmax + step) & (t <= best)
    return float(best)


def directional_distances(
    a: Structure, b: Structure, *, grid: Grid | None = None
) -> dict[str, float]:
    """Gap from ``a`` to ``b`` along each patient direction, mm.

    Parameters
    ----------
    a, b : Structure
    grid : Grid, optional

    Returns
    -------
    dict of str to float
        ``{"L": ..., "R": ..., "A": ..., "P": ..., "S": ..., "I": ...}``; ``inf`` where
        ``b`` is not met moving ``a`` that way.
    """
    return {k: directional_distance(a, b, k, grid=grid) for k in DIRECTIONS_LPS}


def target_organ_distances(
    structures: StructureSet | Iterable[Structure] | Mapping[str, Structure],
    *,
    targets: Iterable[str] | None = None,
    organs: Iterable[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Minimum distance from each target to each organ at risk, mm (for ``rtplan info``).

    Parameters
    ----------
    structures : StructureSet, iterable of Structure or mapping name -> Structure
    targets : iterable of str, optional
        Target names; by default the structures whose interpreted type is PTV, CTV, GTV
        or ITV.
    organs : iterable of str, optional
        Organ names; by default those of type ORGAN, AVOIDANCE or OAR.

    Returns
    -------
    dict of str to dict of str to float
        ``{target: {organ: mm}}``, 0.0 where they overlap; structures without volume are
        skipped.
    """
    items = list(structures.values()) if isinstance(structures, Mapping) else list(structures)
    by_name = {s.name: s for s in items}
    if targets is None:
        tlist = [s for s in items if s.interpreted_type.upper() in TARGET_TYPES]
    else:
        tlist = [by_name[n] for n in targets]
    if organs is None:
        olist = [s for s in items if s.interpreted_type.upper() in _ORGAN_TYPES]
    else:
        olist = [by_name[n] for n in organs]
    out: dict[str, dict[str, float]] = {}
    for t in tlist:
        if not t.has_volume:
            continue
        row: dict[str, float] = {}
        for o in olist:
            if o is t or not o.has_volume:
                continue
            try:
                row[o.name] = min_distance(t, o)
            except StructureError as exc:
                logger.info("distance %s -> %s skipped: %s", t.name, o.name, exc)
        out[t.name] = row
    return out
