"""Distances between structures: minimum, directional, and the target-to-organ table.

Surfaces are the 0.5 level sets of the structures' voxel fields, triangulated by marching
cubes (minimum distance) or followed along rays (directional distance):

* contours: the exact partial-volume field (:func:`~rtplan.geometry.fractional_mask`),
  whose 0.5 level follows the contours within the sub-sampling;
* voxel masks (margins, booleans, automatic structures): the 0/1 field, whose 0.5 level is
  a staircase midway between inside and outside voxel centres, up to half a voxel from
  the smooth surface the mask samples on each side of a gap. The field is therefore
  smoothed first (:func:`subvoxel_field`): a Gaussian of about 0.7 voxel, then clamped so
  that every inside voxel centre stays inside and every outside one outside. Flat faces
  stay exactly midway between voxel centres and edges can only round inwards; on random
  pairs of 1 mm voxel spheres the gap comes out within half a voxel in 98 % of cases
  (95th percentile 0.29 mm), where the staircase alone is within it in 79 % (0.61 mm).

The minimum distance is the exact point-to-triangle distance between the two
triangulations (candidates from a k-d tree, refined with ``vtkImplicitPolyDataDistance``).
Two structures sharing a voxel centre are 0 apart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
    "subvoxel_field",
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


#: Standard deviation of the Gaussian of :func:`subvoxel_field`, in units of the geometric
#: mean of the voxel spacings (mm).
SUBVOXEL_SIGMA = 0.7
#: Clamp of :func:`subvoxel_field`: inside voxel centres keep at least ``0.5 + this``,
#: outside ones at most ``0.5 - this``.
SUBVOXEL_CLAMP = 0.1


def subvoxel_field(
    mask: npt.NDArray[np.bool_], spacing_mm: Sequence[float]
) -> npt.NDArray[np.float32]:
    """A field whose 0.5 level is a sub-voxel estimate of the surface a voxel mask samples.

    A mask only says between which voxel centres its surface runs; the 0.5 level of the
    0/1 field is the staircase midway between them, up to half a voxel from the smooth
    surface on each side of a gap. Here the mask is smoothed by an isotropic Gaussian
    (:data:`SUBVOXEL_SIGMA` times the geometric mean spacing, in mm), then clamped to at
    least ``0.5 + SUBVOXEL_CLAMP`` on the mask's voxels and at most ``0.5 -
    SUBVOXEL_CLAMP`` elsewhere, so that the level set still separates inside from outside
    voxel centres (the constraint of R. Whitaker, "Reducing aliasing artifacts in
    iso-surfaces of binary volumes", IEEE Symp. Volume Visualization 2000, 23-32) while
    the staircase between them is averaged out. A flat face stays exactly midway between
    voxel centres (the smoothed profile across it, and the clamp, are symmetric); near
    edges and corners the smoothed values only drop, so they round inwards, never out.

    On 100 random pairs of voxel spheres (radii 4-14 mm, gaps 1-8 mm, random direction
    and grid phase) the gap between these surfaces has mean error +0.02 mm and 95th
    percentile 0.29 mm on 1 mm voxels (98 % within half a voxel, worst 0.53 mm), and 95th
    percentile 0.51 mm on 2.5 x 0.98 x 0.98 mm voxels (worst 1.10 mm); the staircase
    alone: mean -0.30 mm, 95th percentile 0.61 mm (79 % within half a voxel) and 1.46 mm.
    The parameters were chosen on those trials; the tests use other ones.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (nk, nj, ni)
        The mask, with empty voxels around it (space beyond the array counts as outside).
    spacing_mm : sequence of 3 float
        ``(dk, dj, di)``, mm.

    Returns
    -------
    numpy.ndarray of float32, same shape
        In ``[0, 1]``; ``>= 0.5`` exactly on the mask's voxels.
    """
    from scipy import ndimage

    sp = np.asarray(spacing_mm, dtype=np.float64)
    sigma_mm = SUBVOXEL_SIGMA * float(np.prod(sp)) ** (1.0 / 3.0)
    smooth = ndimage.gaussian_filter(
        mask.astype(np.float32), sigma=tuple(sigma_mm / sp), mode="constant", truncate=3.0
    )
    out = np.where(
        mask,
        np.maximum(smooth, 0.5 + SUBVOXEL_CLAMP),
        np.minimum(smooth, 0.5 - SUBVOXEL_CLAMP),
    )
    return np.asarray(out, dtype=np.float32)


class _Surface:
    """A structure's field on a padded box, and its triangulation (built lazily).

    Mask structures get the sub-voxel field of :func:`subvoxel_field`, contour
    structures their partial-volume field.
    """

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
        if structure.mask_image is not None:
            self.field = subvoxel_field(self.field >= 0.5, self.box.spacing_mm)
        self._tri: tuple[FloatArray, npt.NDArray[np.int64]] | None = None
        self._poly: Any = None

    @property
    def triangles(self) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        if self._tri is None:
            self._tri = triangulate(self.field, self.box)
        return self._tri

    @property
    def max_edge_mm(self) -> float:
        """Longest triangle edge, mm: a surface point is this close to a vertex."""
        verts, faces = self.triangles
        tri = verts[faces]
        edges = tri - np.roll(tri, 1, axis=1)
        return float(np.sqrt(np.max(np.sum(edges * edges, axis=2)))) if len(faces) else 0.0

    def polydata(self) -> Any:
        if self._poly is None:
            import pyvista as pv

            verts, faces = self.triangles
            cells = np.column_stack([np.full(len(faces), 3, dtype=np.int64), faces]).ravel()
            self._poly = pv.PolyData(verts, cells)
        return self._poly


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
        triangulated surfaces (the 0.5 level sets of their voxel fields, made sub-voxel
        for voxel masks by :func:`subvoxel_field`), mm.

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
    # a vertex of a at distance d from b's surface is within d + (b's longest edge) of a
    # vertex of b, and d >= the true minimum <= coarse
    best = coarse
    cand_a = va[dab <= coarse + sb.max_edge_mm + 1e-9]
    cand_b = vb[dba <= coarse + sa.max_edge_mm + 1e-9]
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
