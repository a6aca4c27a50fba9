"""How :func:`rtplan.dvh` samples a structure: partial areas, trilinear dose, sub-voxel spread.

Contour structures
------------------
1. The closed contours are grouped into planes along their common normal. Each plane stands
   for a slab of the structure's ``slice_thickness_mm`` centred on it (the median gap
   between planes when the thickness is unknown), cut where it meets the slab of the next
   plane; this is the convention of :attr:`rtplan.Structure.volume_cc` and of
   :func:`rtplan.geometry.fractional_mask`.
2. Each plane is rasterised on an in-plane lattice with
   :func:`rtplan.geometry.fractional_mask`, exact along ``subsamples`` sub-rows per pixel
   row: every pixel carries the fraction of its area inside the contours. The lattice step
   is chosen from the structure's size (16 steps across its smallest extent, never coarser
   than the dose grid) unless ``resolution_mm`` is given. When the contour planes are
   parallel to the dose slices, the lattice is aligned with the dose grid (its step divides
   the dose spacing and pixel edges lie on dose nodes).
3. Along the normal, each slab is cut at the dose planes: between two dose planes the
   trilinear dose is linear along the normal, and the pieces of successive slabs that lie
   between the same two dose planes form a *cell*. In each cell, a pixel whose inside
   fraction is the same in consecutive pieces (the interior of a structure) is one box;
   otherwise each piece is a box. So no box straddles a kink of the trilinear
   interpolant. (For oblique contours on a dose grid of another orientation, slabs are cut
   into pieces no thicker than the in-plane step, nor than half the dose spacing.)
4. Each box is one sample: its volume is the inside fraction times the box volume, its dose
   the trilinear dose at its centre, or, for a pixel only partly inside, at the centroid
   of its inside part (estimated from the direction in which the fraction grows).
5. Instead of dropping the whole box volume into the histogram bin of that dose, the volume
   is spread uniformly over the dose range the box spans: the trilinear gradient, projected
   on the box edges (on the inside part's extent for a partial pixel), gives a width per
   edge, and the widths are combined in quadrature (the variance of a linear dose over the
   box; the exact distribution when the gradient runs along one box edge), clipped to the
   lowest and highest dose of the 8 grid nodes around the box (the range of the trilinear
   dose in its cell, so no spread reaches beyond the dose the grid holds, e.g. at a dose
   maximum). This removes the staircase that sampling alone leaves in cumulative DVHs of
   small structures in a dose gradient.

The boxes are histogrammed by the compiled kernels of :mod:`rtplan.evaluate._dvh_kernels`,
in parallel threads for large structures.

Mask structures
---------------
Structures defined by a voxel mask (margins, booleans) are sampled voxel by voxel, with
each voxel cut into sub-voxels.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan import _planar
from rtplan._jit import n_threads
from rtplan._warn import warn
from rtplan.errors import GeometryError, StructureError
from rtplan.evaluate._common import EvaluationError
from rtplan.evaluate._dvh_kernels import (
    accumulate_boxes,
    accumulate_cells,
    accumulate_cells_serial,
    fill_spans,
    min_max,
)
from rtplan.evaluate._dvh_type import DVH, empty_dvh
from rtplan.grid import Grid
from rtplan.image import Image
from rtplan.structures import Contour, Structure

__all__ = ["DoseFrame", "EndCap", "Histogram", "sample_contours", "sample_mask"]

FloatArray = npt.NDArray[np.float64]

#: In-plane samples across the smallest extent of a structure, when choosing the resolution.
SAMPLES_ACROSS = 16
#: Finest automatic in-plane sampling, mm.
MIN_RESOLUTION_MM = 0.1
#: Upper bound on the number of samples of one structure, when choosing the resolution.
MAX_SAMPLES = 6_000_000
_PLANE_TOL_MM = 0.05


class EndCap(enum.StrEnum):
    """How far a contour structure extends beyond its first and last planes."""

    SLAB = "slab"
    NONE = "none"


@dataclass(slots=True)
class Histogram:
    """Histogram accumulators on a fixed bin lattice."""

    e0: float
    bin_gy: float
    part: FloatArray
    stp: FloatArray
    stats: FloatArray

    @classmethod
    def for_dose(cls, arr: FloatArray, bin_width_gy: float | None) -> Histogram:
        """Empty accumulators whose bins span the doses ``arr`` (3D) around a structure.

        Bins of ``bin_width_gy``, or of a power of ten giving at least 2000 bins.

        Raises
        ------
        EvaluationError
            For a bin width that is not positive or would give more than 5 million bins.
        """
        dmin, dmax = min_max(arr) if arr.ndim == 3 else (0.0, 0.0)
        span = max(dmax - min(dmin, 0.0), 1e-6)
        if bin_width_gy is None:
            bin_gy = 10.0 ** math.floor(math.log10(span / 2000.0))
        else:
            bin_gy = float(bin_width_gy)
            if not (math.isfinite(bin_gy) and bin_gy > 0):
                raise EvaluationError(f"bin_width_gy must be positive, got {bin_width_gy}")
        e0 = math.floor(min(dmin, 0.0) / bin_gy) * bin_gy
        nb = math.ceil((dmax - e0) / bin_gy * 1.05) + 2
        if nb > 5_000_000:
            raise EvaluationError(
                f"{nb} dose bins of {bin_gy} Gy for a dose up to {dmax:.4g} Gy; "
                "choose a larger bin_width_gy"
            )
        stats = np.array([0.0, 0.0, 0.0, np.inf, -np.inf])
        return cls(e0, bin_gy, np.zeros(nb), np.zeros(nb + 1), stats)

    def merge(self, parts: FloatArray, stps: FloatArray, accs: FloatArray) -> None:
        """Add per-chunk accumulators (rows) into this histogram."""
        self.part += parts.sum(axis=0)
        self.stp += stps.sum(axis=0)
        self.stats[0] += float(accs[:, 0].sum())
        self.stats[1] += float(accs[:, 1].sum())
        self.stats[2] += float(accs[:, 2].sum())
        self.stats[3] = min(float(self.stats[3]), float(accs[:, 3].min()))
        self.stats[4] = max(float(self.stats[4]), float(accs[:, 4].max()))

    def to_dvh(self, name: str, total_mm3: float, **kw: Any) -> DVH:
        """The DVH of what was accumulated, for a structure of ``total_mm3`` (all of it).

        ``kw`` are further :class:`~rtplan.evaluate.DVH` fields (ROI number, end cap...).
        """
        vol = self.part + np.cumsum(self.stp)[: self.part.size]
        vol = np.clip(vol, 0.0, None)
        inside_mm3 = float(self.stats[0])
        if inside_mm3 <= 0 or not np.any(vol > 0):
            return empty_dvh(name, total_mm3 / 1000.0, **kw)
        last = int(np.nonzero(vol > 0)[0][-1]) + 1
        edges = np.asarray(self.e0 + self.bin_gy * np.arange(last + 1), dtype=np.float64)
        lo_clip = float(edges[0])
        hi_clip = float(edges[-1])
        return DVH(
            name=name,
            bin_edges_gy=edges,
            differential=vol[:last],
            volume_cc=inside_mm3 / 1000.0,
            structure_volume_cc=total_mm3 / 1000.0,
            min_gy=float(min(max(self.stats[3], lo_clip), hi_clip)),
            max_gy=float(min(max(self.stats[4], lo_clip), hi_clip)),
            mean_gy=float(self.stats[2] / inside_mm3),
            **kw,
        )


@dataclass(frozen=True, slots=True)
class DoseFrame:
    """The dose array with the map from LPS mm to its continuous (i, j, k) indices."""

    array: FloatArray
    grid: Grid
    m: FloatArray  # (3, 3): index displacement per mm, idx = m @ (xyz - origin)
    origin: FloatArray

    @classmethod
    def of(cls, dose: Image) -> DoseFrame:
        g = dose.grid
        arr = np.ascontiguousarray(dose.array, dtype=np.float64)
        m = (g.direction / g.spacing_ijk_mm[np.newaxis, :]).T
        return cls(arr, g, np.ascontiguousarray(m), np.asarray(g.origin_mm, dtype=np.float64))

    def index(self, xyz: FloatArray) -> FloatArray:
        """Continuous (i, j, k) indices of LPS points, shape (N, 3)."""
        return np.asarray((xyz - self.origin) @ self.m.T)

    def per_mm(self, axis: FloatArray) -> FloatArray:
        """Index displacement for 1 mm along a unit LPS vector."""
        return np.ascontiguousarray(self.m @ axis)

    def around(self, structure: Structure) -> FloatArray:
        """The dose values near a structure (its bounding box plus a margin), a view.

        Empty when the structure has no geometry or lies outside the grid.
        """
        try:
            lo, hi = structure.bounds_mm()
        except StructureError:
            return np.zeros(0)
        pad = 2.0 * float(structure.slice_thickness_mm or 0.0) + 2.0 * float(
            self.grid.spacing_mm[0]
        )
        corners = np.array(
            [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        corners = np.vstack([corners - pad, corners + pad])
        idx = self.index(corners)
        shape = np.asarray(self.grid.shape_ijk)
        i0 = np.clip(np.floor(idx.min(axis=0)).astype(int) - 1, 0, shape)
        i1 = np.clip(np.ceil(idx.max(axis=0)).astype(int) + 2, 0, shape)
        return np.asarray(self.array[i0[2] : i1[2], i0[1] : i1[1], i0[0] : i1[0]])

    def spacing_along(self, axis: FloatArray) -> float:
        """Grid spacing seen along a unit LPS vector (the largest component's spacing)."""
        comps = np.abs(self.grid.direction.T @ axis)
        return float(self.grid.spacing_ijk_mm[int(np.argmax(comps))])


def _stack_normal(contours: Sequence[Contour]) -> FloatArray:
    """Normal of the contour planes, from the contour with the largest bounding box.

    Raises
    ------
    GeometryError
        If that contour spans no area.
    """
    pts, starts = _packed(contours)
    ext = np.maximum.reduceat(pts, starts[:-1]) - np.minimum.reduceat(pts, starts[:-1])
    ext.sort(axis=1)
    best = contours[int(np.argmax(ext[:, 1] * ext[:, 2]))]
    n = _planar.newell_normal(best.points_mm)
    if not np.any(n):
        return _planar.stack_normal(contours)  # raises for degenerate contours
    k = int(np.argmax(np.abs(n)))
    return n if n[k] > 0 else -n


def _packed(contours: Sequence[Contour]) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """All contour points stacked, and the index where each contour starts (plus the end)."""
    pts = np.concatenate([c.points_mm for c in contours])
    starts = np.cumsum([0] + [c.n_points for c in contours]).astype(np.int64)
    return pts, starts


def _group_planes(
    contours: Sequence[Contour], normal: FloatArray, name: str
) -> tuple[FloatArray, list[list[Contour]]]:
    """Closed contours grouped by plane (offset along ``normal``), increasing."""
    pts, starts = _packed(contours)
    d = pts @ normal
    first = starts[:-1]
    spread = np.maximum.reduceat(d, first) - np.minimum.reduceat(d, first)
    if np.any(spread > 0.5):
        bad = float(spread.max())
        raise GeometryError(
            f"structure {name!r}: a contour is not planar or not parallel to the others "
            f"(it spans {bad:.2f} mm along the normal {np.round(normal, 3).tolist()})"
        )
    mean = np.add.reduceat(d, first) / np.diff(starts)
    offsets: list[float] = []
    groups: list[list[Contour]] = []
    for k in np.argsort(mean, kind="stable").tolist():
        off = float(mean[k])
        if offsets and abs(off - offsets[-1]) <= _PLANE_TOL_MM:
            groups[-1].append(contours[k])
        else:
            offsets.append(off)
            groups.append([contours[k]])
    return np.asarray(offsets, dtype=np.float64), groups


def _slabs(offsets: FloatArray, thickness: float, end_cap: EndCap) -> tuple[FloatArray, FloatArray]:
    """Lower and upper bound of each plane's slab along the normal, mm."""
    half = 0.5 * thickness
    lo = offsets - half
    hi = offsets + half
    if offsets.size > 1:
        mid = 0.5 * (offsets[1:] + offsets[:-1])
        lo[1:] = np.maximum(lo[1:], mid)
        hi[:-1] = np.minimum(hi[:-1], mid)
    if end_cap is EndCap.NONE:
        lo[0] = offsets[0]
        hi[-1] = offsets[-1]
    return lo, np.maximum(hi, lo)


def _auto_resolution(
    extents_mm: Sequence[float], bbox_volume_mm3: float, dose_spacing_mm: float
) -> float:
    """In-plane sampling step of a structure, mm.

    ``SAMPLES_ACROSS`` samples across the smallest extent, no coarser than the dose grid, no
    finer than ``MIN_RESOLUTION_MM``, and within ``MAX_SAMPLES`` samples.
    """
    positive = [e for e in extents_mm if e > 0]
    size = min(positive) if positive else dose_spacing_mm
    h = min(dose_spacing_mm, max(MIN_RESOLUTION_MM, size / SAMPLES_ACROSS))
    budget = (bbox_volume_mm3 / MAX_SAMPLES) ** (1.0 / 3.0)
    return float(max(h, budget))


def _frame_axes(
    frame: DoseFrame, normal: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
    """In-plane axes (u, v) and normal n of the sampling lattice.

    The fourth value tells whether they are the dose grid's own axes (contour planes
    parallel to the dose slices).
    """
    d = frame.grid.direction
    n_d = d[:, 2]
    if abs(float(np.dot(n_d, normal))) > 1.0 - 1e-6:
        return np.array(d[:, 0]), np.array(d[:, 1]), np.array(n_d), True
    u, v = _planar.plane_basis(normal)
    return u, v, normal / np.linalg.norm(normal), False


def sample_contours(
    frame: DoseFrame,
    hist: Histogram,
    structure: Structure,
    cap: EndCap,
    resolution_mm: float | None,
    subsamples: int | None,
) -> tuple[float, float]:
    """Sample a contour structure plane by plane; returns (resolution, total volume mm³)."""
    closed = structure.closed_contours
    normal = _stack_normal(closed)
    u, v, n, aligned = _frame_axes(frame, normal)
    offsets, groups = _group_planes(closed, n, structure.name)
    if structure.slice_thickness_mm is not None and structure.slice_thickness_mm > 0:
        thickness = float(structure.slice_thickness_mm)
    elif offsets.size > 1:
        thickness = float(np.median(np.diff(offsets)))
    else:
        ref = structure.reference_grid
        thickness = ref.spacing_mm[0] if ref is not None else frame.spacing_along(n)
        warn(
            f"structure {structure.name!r} has a single contour plane and no slice "
            f"thickness; using {thickness:.3g} mm",
            stacklevel=4,
        )
    lo, hi = _slabs(offsets, thickness, cap)
    pts = np.vstack([c.points_mm for c in closed])
    pu, pv = pts @ u, pts @ v
    ext = (float(np.ptp(pu)), float(np.ptp(pv)), float(hi[-1] - lo[0]))
    dose_sp_inplane = min(frame.spacing_along(u), frame.spacing_along(v))
    h = (
        float(resolution_mm)
        if resolution_mm is not None
        else _auto_resolution(ext, ext[0] * ext[1] * max(ext[2], 1e-3), dose_sp_inplane)
    )
    nsub = int(subsamples) if subsamples is not None else 4
    sp = frame.grid.spacing_ijk_mm
    if aligned:
        # pixel edges on dose-grid node lines and sub-slab ends on dose planes: no box
        # straddles a kink of the trilinear interpolant, whose dose is then (nearly) linear
        # inside every box
        hu = _aligned_step(float(sp[0]), h)
        hv = _aligned_step(float(sp[1]), h)
        node_u = float(np.dot(frame.origin, u))
        node_v = float(np.dot(frame.origin, v))
        u0 = node_u + (math.floor((float(pu.min()) - node_u) / hu) - 1 + 0.5) * hu
        v0 = node_v + (math.floor((float(pv.min()) - node_v) / hv) - 1 + 0.5) * hv
        node_n = float(np.dot(frame.origin, n))
        cuts = np.asarray(node_n + float(sp[2]) * np.arange(frame.grid.shape[0]), np.float64)
        hz_target = float(sp[2])
    else:
        hu = hv = h
        u0 = math.floor(float(pu.min()) / h) * h - 0.5 * h
        v0 = math.floor(float(pv.min()) / h) * h - 0.5 * h
        cuts = np.zeros(0)
        hz_target = max(h, 0.5 * frame.spacing_along(n))
    nu = math.ceil((float(pu.max()) - u0) / hu) + 2
    nv = math.ceil((float(pv.max()) - v0) / hv) + 2
    direction = np.column_stack([u, v, n])
    mu, mv, mn = frame.per_mm(u), frame.per_mm(v), frame.per_mm(n)
    origin0 = u * u0 + v * v0  # centre of pixel (0, 0) on the plane through the origin
    frac, slot = _plane_fractions(
        structure, groups, offsets, origin0, direction, (hu, hv), nu, nv, nsub
    )
    cell_start, piece_slot, piece_z0, piece_z1 = _pieces(lo, hi, slot, cuts, hz_target)
    span = _row_spans(frac)
    nv = frac.shape[1]
    per_plane = float(np.sum(span[:, nv:] - span[:, :nv])) / max(frac.shape[0], 1)
    samples = per_plane * max(cell_start.size - 1, 1)
    nchunk = _chunks(samples, hist.part.size)
    parts = np.zeros((nchunk, hist.part.size))
    stps = np.zeros((nchunk, hist.stp.size))
    accs = np.tile(np.array([0.0, 0.0, 0.0, np.inf, -np.inf]), (nchunk, 1))
    kernel = accumulate_cells if nchunk > 1 else accumulate_cells_serial
    kernel(
        frame.array,
        frac,
        span,
        cell_start,
        piece_slot,
        piece_z0,
        piece_z1,
        frame.index(origin0[np.newaxis, :])[0],
        mu,
        mv,
        mn,
        hu,
        hv,
        hist.e0,
        1.0 / hist.bin_gy,
        parts,
        stps,
        accs,
    )
    hist.merge(parts, stps, accs)
    total = float(accs[:, 0].sum() + accs[:, 1].sum())  # inside + outside the dose grid
    return min(hu, hv), total


def _row_spans(frac: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Columns ``[lo, hi)`` of each row holding any inside fraction, shape (S, 2 nv).

    ``out[q, j]`` is ``lo`` and ``out[q, nv + j]`` is ``hi`` of row ``j`` of plane ``q``
    (``lo = hi = 0`` for empty rows).
    """
    out = np.zeros((frac.shape[0], 2 * frac.shape[1]), dtype=np.int64)
    fill_spans(frac, out)
    return out


def _aligned_step(spacing: float, h: float) -> float:
    """A sampling step near ``h`` that puts pixel edges on dose-grid nodes.

    ``spacing / n`` (not above ``h``) when finer than the grid, else a multiple of it.
    """
    if h < spacing:
        return spacing / math.ceil(spacing / h - 1e-9)
    return spacing * max(1, round(h / spacing))


def _chunks(samples: float, nbins: int) -> int:
    """Parallel chunks for a histogram of ``samples`` boxes.

    One for small jobs (threads would cost more than they save), else two per thread, within
    64 MB of private histograms.
    """
    if samples < 200_000:
        return 1
    by_memory = max(1, int(4_000_000 // max(nbins, 1)))
    return int(max(1, min(2 * n_threads(), by_memory)))


def _pieces(
    lo: FloatArray,
    hi: FloatArray,
    slot: npt.NDArray[np.int64],
    cuts: FloatArray,
    hz_target: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Cut the planes' slabs into pieces grouped in cells along the normal.

    With dose planes given (``cuts``, increasing) a cell is the span between two dose planes
    (and the spans beyond the first and last), in which the trilinear dose is linear along
    the normal; each slab is cut at the dose planes. Without, every slab is cut into equal
    pieces no thicker than ``hz_target``, each its own cell.

    Returns
    -------
    cell_start : (C + 1,) int64
        CSR offsets of each cell's pieces, which are sorted along the normal.
    piece_slot : (N,) int64
        Fraction slot of the piece's plane.
    piece_z0, piece_z1 : (N,) float64
        Extent of each piece along the normal, mm.
    """
    keys: list[tuple[int, float]] = []
    rows: list[tuple[int, float, float]] = []
    cut = cuts.tolist()
    for p, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        q = int(slot[p])
        if q < 0 or b <= a:
            continue
        if cut:
            k0 = bisect.bisect_right(cut, a + 1e-9)
            k1 = bisect.bisect_left(cut, b - 1e-9)
            edges = [a, *cut[k0:k1], b]
            for m, (e0, e1) in enumerate(itertools.pairwise(edges)):
                keys.append((k0 + m, e0))  # cell k: between cut k - 1 and cut k
                rows.append((q, e0, e1))
        else:
            n = max(1, math.ceil((b - a) / hz_target - 1e-9))
            t = (b - a) / n
            for m in range(n):
                keys.append((len(keys), a + m * t))
                rows.append((q, a + m * t, a + (m + 1) * t))
    order = sorted(range(len(rows)), key=lambda r: keys[r])
    cells = [keys[r][0] for r in order]
    starts = [0] + [k + 1 for k in range(len(cells) - 1) if cells[k + 1] != cells[k]]
    starts.append(len(cells))
    return (
        np.asarray(starts if cells else [0], dtype=np.int64),
        np.asarray([rows[r][0] for r in order], dtype=np.int64),
        np.asarray([rows[r][1] for r in order], dtype=np.float64),
        np.asarray([rows[r][2] for r in order], dtype=np.float64),
    )


def _plane_fractions(
    structure: Structure,
    groups: list[list[Contour]],
    offsets: FloatArray,
    origin0: FloatArray,
    direction: FloatArray,
    spacing: tuple[float, float],
    nu: int,
    nv: int,
    nsub: int,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """In-plane inside fraction of every pixel of each contour plane.

    Returns ``frac`` of shape (S, nv, nu) and ``slot`` (P,): plane ``p``'s fractions are
    ``frac[slot[p]]``, pixel ``(j, i)`` centred at
    ``origin0 + i hu u + j hv v + offsets[p] n`` with ``(hu, hv) = spacing``. Regularly
    spaced planes (gaps multiples of the smallest) are rasterised in one call of
    :func:`rtplan.geometry.fractional_mask` on a grid whose slices are the planes; other
    stacks plane by plane.
    """
    normal = direction[:, 2]
    hu, hv = spacing
    gaps = np.diff(offsets)
    step = float(gaps.min()) if gaps.size else 1.0
    lattice = np.rint((offsets - offsets[0]) / step) if gaps.size else np.zeros(1)
    regular = bool(np.all(np.abs(offsets - offsets[0] - lattice * step) < 0.01))
    if regular and lattice[-1] + 1 <= 4 * offsets.size:
        origin = origin0 + offsets[0] * normal
        grid = Grid(
            shape=(int(lattice[-1]) + 1, nv, nu),
            spacing_mm=(step, hv, hu),
            origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
            direction=direction,
        )
        stack = replace(structure, slice_thickness_mm=step)
        frac = np.ascontiguousarray(stack.fractional_mask(grid, subsamples=nsub))
        return frac, lattice.astype(np.int64)
    out = np.zeros((len(groups), nv, nu), dtype=np.float32)
    for p, group in enumerate(groups):
        origin = origin0 + offsets[p] * normal
        grid = Grid(
            shape=(1, nv, nu),
            spacing_mm=(1.0, hv, hu),
            origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
            direction=direction,
        )
        plane = replace(structure, contours=tuple(group), slice_thickness_mm=1e3)
        out[p] = plane.fractional_mask(grid, subsamples=nsub)[0]
    return out, np.arange(len(groups), dtype=np.int64)


def sample_mask(
    frame: DoseFrame,
    hist: Histogram,
    mask: Image,
    resolution_mm: float | None,
    subsamples: int | None,
) -> tuple[float, float]:
    """Sample a voxel-mask structure voxel by voxel; returns (resolution, volume mm³)."""
    g = mask.grid
    arr = np.asarray(mask.array, dtype=bool)
    idx = np.argwhere(arr)
    ext = (
        (idx.max(axis=0) - idx.min(axis=0) + 1)[::-1].astype(np.float64) * g.spacing_ijk_mm
    ).tolist()
    sp = g.spacing_ijk_mm
    if subsamples is not None:
        r = int(subsamples)
    else:
        dose_sp = min(frame.grid.spacing_mm)
        h_target = resolution_mm or _auto_resolution(
            ext, float(np.prod(ext)), min(dose_sp, float(sp.min()))
        )
        r = int(min(8, max(1, math.ceil(float(sp.max()) / h_target - 1e-9))))
    u, v, n = (np.array(g.direction[:, a]) for a in range(3))
    mu, mv, mn = frame.per_mm(u), frame.per_mm(v), frame.per_mm(n)
    hu, hv, hn = float(sp[0]) / r, float(sp[1]) / r, float(sp[2]) / r
    offs = (np.arange(r) + 0.5) / r - 0.5
    ou, ov = np.meshgrid(offs * sp[0], offs * sp[1], indexing="xy")
    sub_u, sub_v = ou.ravel(), ov.ravel()
    sl_idx = np.ascontiguousarray((offs * sp[2])[:, np.newaxis] * mn[np.newaxis, :])
    sl_dz = np.full(r, hn)
    total = 0.0
    for k in np.unique(idx[:, 0]):
        jj, ii = np.nonzero(arr[k])
        centres = g.index_to_mm(np.column_stack([ii, jj, np.full(ii.size, k)]).astype(float))
        base = frame.index(centres)  # (P, 3)
        pix = (
            base[:, np.newaxis, :]
            + sub_u[np.newaxis, :, np.newaxis] * mu
            + sub_v[np.newaxis, :, np.newaxis] * mv
        ).reshape(-1, 3)
        w = np.full(pix.shape[0], hu * hv)
        total += float(w.sum()) * hn * r
        accumulate_boxes(
            frame.array,
            np.ascontiguousarray(pix),
            w,
            sl_idx,
            sl_dz,
            mu,
            mv,
            mn,
            hu,
            hv,
            hist.e0,
            1.0 / hist.bin_gy,
            hist.part,
            hist.stp,
            hist.stats,
        )
    return float(min(hu, hv)), total
