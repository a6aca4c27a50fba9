"""Beamlets (bixels) of a beam and the sparse dose-influence matrix of a plan.

Each beam's field is divided into bixels: one leaf pair high (the MLC's leaf width) and
``bixel_mm`` wide along ``X_b``, on columns aligned with the central axis, kept where the
bixel meets the target's divergent beam's-eye view grown by a margin
(:func:`rtplan.planning.aperture`). A bixel's weight is the MU it is opened for.

The dose of a bixel is the pencil-beam engine's (:mod:`rtplan.dose._pencil_beam`), from
the engine's own parts: its fluence model (:func:`rtplan.dose._fluence.beam_fluence` of
a field the size of the bixel: focal and extra-focal source blur; the flattening-filter
ramp taken at the bixel's centre), its singular-value pencil kernels integrated over
pixels of the isocentre plane and magnified to planes every 10 cm along the axis, the
radiological depth of every voxel from its fan of exactly traced rays, the inverse
square law, the dose-to-medium factor and the engine's calibration in Gy/MU::

    A[v, b] = c (SAD / z_v)^2 eta_v/rho_v sum_k w_k(d_v) [F_b * P_k^(z_v)](x_v, y_v)

The convolution ``F_b * P_k`` is the same table for every bixel of a width, shifted to
the bixel's centre, so a beam costs one ray trace, a few FFTs and one compiled pass over
(voxel, bixel) pairs. The kernels keep their water width (the engine's lateral stretch in
lung is left to the final dose calculation), and leaf transmission is not part of a bixel
(the sequenced plan's dose, computed by the engine, has it). Entries below
``threshold`` times the largest entry of their bixel are dropped; the share of the dose
they held is reported (:attr:`InfluenceMatrix.dropped_fraction`).

Matrices are computed per beam and can be cached on disk (``cache_dir``): a beam's
columns are stored under a hash of everything they depend on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange
from rtplan.errors import PlanError
from rtplan.plan import Beam

if TYPE_CHECKING:
    import scipy.sparse

    from rtplan.dose._deposition import PencilKernel
    from rtplan.dose._setup import DoseSetup
    from rtplan.dose.machines._model import BeamModel
    from rtplan.structures import Structure

__all__ = ["BeamBixels", "InfluenceMatrix", "beam_bixels", "influence_matrix"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_KERNEL_RADIUS_MM = 150.0  # as the pencil-beam engine
_PLANE_STEP_MM = 100.0
_CHUNK_BIXELS = 64


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BeamBixels:
    """The bixels of one beam.

    Attributes
    ----------
    beam : Beam
        Geometry (angles, isocentre, SAD, energy) and the MLC whose leaf pairs are the rows.
    rows : numpy.ndarray of int64, shape (n,)
        Leaf pair of each bixel.
    cols : numpy.ndarray of int64, shape (n,)
        Column of each bixel: it spans ``[cols * size_mm, (cols + 1) * size_mm]`` along
        ``X_b`` at the isocentre plane.
    size_mm : float
        Bixel width along ``X_b``, mm.
    """

    beam: Beam
    rows: IntArray
    cols: IntArray
    size_mm: float

    @property
    def n(self) -> int:
        """Number of bixels."""
        return int(self.rows.size)

    @property
    def x_mm(self) -> FloatArray:
        """Bixel centres along ``X_b`` at the isocentre plane, mm, shape (n,)."""
        return np.asarray((self.cols + 0.5) * self.size_mm, dtype=np.float64)

    @property
    def y_mm(self) -> FloatArray:
        """Bixel centres along ``Y_b`` (the leaf pairs' middles), mm, shape (n,)."""
        assert self.beam.mlc is not None
        b = np.asarray(self.beam.mlc.leaf_boundaries_mm)
        return np.asarray(0.5 * (b[self.rows] + b[self.rows + 1]))

    @property
    def heights_mm(self) -> FloatArray:
        """Bixel heights (the leaf widths), mm, shape (n,)."""
        assert self.beam.mlc is not None
        b = np.asarray(self.beam.mlc.leaf_boundaries_mm)
        return np.asarray(b[self.rows + 1] - b[self.rows])

    def fluence_map(self, weights: npt.ArrayLike) -> tuple[FloatArray, IntArray, int]:
        """The bixel weights as a map over leaf pairs and columns.

        Parameters
        ----------
        weights : array_like, shape (n,)

        Returns
        -------
        values : numpy.ndarray, shape (n_rows, n_cols)
            Row ``r`` is leaf pair ``first_pair + r``; column ``c`` is bixel column
            ``first_col + c``; zero where the beam has no bixel.
        pairs : numpy.ndarray of int64, shape (n_rows,)
            Leaf pair of each row.
        first_col : int
            Column index of the map's first column.
        """
        w = np.asarray(weights, dtype=np.float64)
        r0, r1 = int(self.rows.min()), int(self.rows.max())
        c0, c1 = int(self.cols.min()), int(self.cols.max())
        out = np.zeros((r1 - r0 + 1, c1 - c0 + 1))
        out[self.rows - r0, self.cols - c0] = w
        return out, np.arange(r0, r1 + 1, dtype=np.int64), c0


def beam_bixels(
    target: Structure,
    beam: Beam,
    *,
    bixel_mm: float = 5.0,
    margin_mm: float = 5.0,
    patient_position: str = "HFS",
) -> BeamBixels:
    """The bixels of a beam that meet the target's beam's-eye view plus a margin.

    Parameters
    ----------
    target : Structure
        The target (closed contours or a mask), LPS mm.
    beam : Beam
        Geometry and the MLC (its leaf pairs are the rows of bixels).
    bixel_mm : float
        Bixel width along the leaves, mm.
    margin_mm : float
        Margin around the target's projection at the isocentre plane, mm.
    patient_position : str
        Patient position of the CT.

    Returns
    -------
    BeamBixels

    Raises
    ------
    PlanError
        If the beam has no MLC, the bixel size is not positive, or no bixel meets the
        target.

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.planning import beam_bixels
    >>> from rtplan.testing import cube_grid, sphere_mask_structure
    >>> ptv = sphere_mask_structure(cube_grid(40), (0.0, 0.0, 0.0), 10.0, name="PTV")
    >>> bix = beam_bixels(ptv, rtplan.Beam(mlc=rtplan.Mlc.uniform(40, 5.0)), margin_mm=0.0)
    >>> bix.n > 12, float(np.abs(bix.x_mm).max()) <= 12.5
    (True, True)
    """
    import shapely

    from rtplan.planning._aperture import aperture

    if beam.mlc is None:
        raise PlanError(f"beam {beam.name!r} needs an MLC: its leaf pairs are the bixel rows")
    if not (math.isfinite(bixel_mm) and bixel_mm > 0):
        raise PlanError(f"bixel_mm must be positive, got {bixel_mm}")
    region = aperture(target, beam, margin_mm=margin_mm, patient_position=patient_position)
    minx, miny, maxx, maxy = region.bounds
    bounds = np.asarray(beam.mlc.leaf_boundaries_mm)
    pairs = np.flatnonzero((bounds[1:] > miny) & (bounds[:-1] < maxy))
    cols = np.arange(math.floor(minx / bixel_mm), math.ceil(maxx / bixel_mm))
    grid_r, grid_c = np.meshgrid(pairs, cols, indexing="ij")
    rr, cc = grid_r.ravel(), grid_c.ravel()
    boxes = shapely.box(cc * bixel_mm, bounds[rr], (cc + 1) * bixel_mm, bounds[rr + 1])
    inter = shapely.area(shapely.intersection(boxes, region))
    keep = inter > 1e-6 * bixel_mm * bixel_mm
    if not np.any(keep):
        raise PlanError(f"beam {beam.name!r}: no bixel meets the target {target.name!r}")
    return BeamBixels(
        beam=beam,
        rows=rr[keep].astype(np.int64),
        cols=cc[keep].astype(np.int64),
        size_mm=float(bixel_mm),
    )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class InfluenceMatrix:
    """Dose per MU of every bixel at the voxels that matter.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, float32, shape (n_voxels, n_bixels)
        Gy per MU (per fraction) of each bixel at each voxel; columns ordered beam by beam.
    voxels : numpy.ndarray of int64, shape (n_voxels,)
        Flat (C-order) indices of the rows' voxels in ``setup.grid``.
    setup : DoseSetup
        Dose grid and densities.
    bixels : tuple of BeamBixels
        The bixels, one entry per beam.
    dropped_fraction : float
        Share of the summed dose of all bixels (unit weights) held by the dropped entries.
    seconds : float
        Wall time of the computation (0 when every beam came from the cache).
    """

    matrix: scipy.sparse.csr_matrix
    voxels: IntArray
    setup: DoseSetup
    bixels: tuple[BeamBixels, ...]
    dropped_fraction: float
    seconds: float

    @property
    def offsets(self) -> IntArray:
        """First column of each beam, and the total, shape (n_beams + 1,)."""
        return np.concatenate([[0], np.cumsum([b.n for b in self.bixels])]).astype(np.int64)

    @property
    def nbytes(self) -> int:
        """Memory of the sparse matrix, bytes."""
        m = self.matrix
        return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)

    def dose(self, weights: npt.ArrayLike) -> FloatArray:
        """Dose per fraction at the voxels, Gy, for bixel weights in MU, shape (n_voxels,)."""
        return np.asarray(self.matrix @ np.asarray(weights, dtype=np.float64), dtype=np.float64)


@njit(parallel=True)
def _columns(  # noqa: PLR0913 (a compiled kernel takes its arrays one by one)
    xv: FloatArray,
    yv: FloatArray,
    p0: IntArray,
    fz: FloatArray,
    wk: FloatArray,
    bx: FloatArray,
    by: FloatArray,
    tables: npt.NDArray[np.float32],
    t0: FloatArray,
    h: float,
    out: npt.NDArray[np.float32],
) -> None:  # pragma: no cover - compiled
    """``out[b, v] = sum_k wk[v, k] T_k(x_v - bx_b, y_v - by_b)`` interpolated in z and xy."""
    n_vox = xv.size
    n_bix = bx.size
    n_planes, n_comp, ny, nx = tables.shape
    for v in prange(n_vox):
        pa = p0[v]
        pb = min(pa + 1, n_planes - 1)
        f = fz[v]
        for b in range(n_bix):
            fx = (xv[v] - bx[b] - t0[0]) / h
            fy = (yv[v] - by[b] - t0[1]) / h
            if fx < 0.0 or fy < 0.0 or fx >= nx - 1 or fy >= ny - 1:
                continue
            ix = int(fx)
            iy = int(fy)
            tx = fx - ix
            ty = fy - iy
            acc = 0.0
            for k in range(n_comp):
                a = (
                    tables[pa, k, iy, ix] * (1.0 - tx) * (1.0 - ty)
                    + tables[pa, k, iy, ix + 1] * tx * (1.0 - ty)
                    + tables[pa, k, iy + 1, ix] * (1.0 - tx) * ty
                    + tables[pa, k, iy + 1, ix + 1] * tx * ty
                )
                c = (
                    tables[pb, k, iy, ix] * (1.0 - tx) * (1.0 - ty)
                    + tables[pb, k, iy, ix + 1] * tx * (1.0 - ty)
                    + tables[pb, k, iy + 1, ix] * (1.0 - tx) * ty
                    + tables[pb, k, iy + 1, ix + 1] * tx * ty
                )
                acc += wk[v, k] * (a * (1.0 - f) + c * f)
            out[b, v] = acc


def _bixel_tables(
    beam: Beam,
    machine: BeamModel,
    kern: PencilKernel,
    width_mm: float,
    height_mm: float,
    h: float,
    magnification: FloatArray,
) -> tuple[npt.NDArray[np.float32], FloatArray]:
    """Fluence of one bixel at the axis convolved with each kernel component, per plane.

    Returns
    -------
    tables : numpy.ndarray of float32, shape (n_planes, n_comp, ny, nx)
    t0 : numpy.ndarray, shape (2,)
        Offset ``(dx, dy)`` from the bixel centre of table pixel ``[0, 0]``, mm.
    """
    from scipy import signal

    from rtplan.dose._fluence import beam_fluence

    probe = Beam(
        energy=beam.energy,
        sad_mm=beam.sad_mm,
        jaws_mm=(-0.5 * width_mm, 0.5 * width_mm, -0.5 * height_mm, 0.5 * height_mm),
    )
    # the open bixel alone: no transmission, no ramp (applied per bixel by the caller)
    bare = dataclasses.replace(machine, jaw_transmission=0.0, radial_ramp_per_cm=0.0)
    fl = beam_fluence(probe, bare, spacing_mm=h)
    values = fl.values
    half = math.ceil(_KERNEL_RADIUS_MM / h)
    planes = []
    for g in magnification:
        kern2d = kern.pixel_kernels(h * float(g) / 10.0, half)
        planes.append(np.stack([signal.fftconvolve(values, kc, mode="full") for kc in kern2d]))
    tables = np.ascontiguousarray(np.stack(planes), dtype=np.float32)
    t0 = np.array([fl.x0_mm - half * h, fl.y0_mm - half * h])
    return tables, t0


def _cache_key(
    bix: BeamBixels, setup: DoseSetup, voxels: IntArray, machine: BeamModel, h: float
) -> str:
    digest = hashlib.sha256()
    b = bix.beam
    assert b.mlc is not None
    digest.update(
        repr(
            (b.energy, b.gantry_deg, b.collimator_deg, b.couch_deg, b.isocenter_mm, b.sad_mm,
             b.mlc.leaf_boundaries_mm, bix.size_mm, machine.name, h, str(setup.patient_position),
             setup.grid.shape, setup.grid.spacing_mm, setup.grid.origin_mm)
        ).encode()
    )  # fmt: skip
    for arr in (bix.rows, bix.cols, voxels, setup.grid.direction, setup.electron_density,
                setup.density_g_cm3):  # fmt: skip
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()[:32]


def _beam_block(
    bix: BeamBixels,
    setup: DoseSetup,
    voxels: IntArray,
    machine: BeamModel,
    kern: PencilKernel,
    calibration: float,
) -> FloatArray:
    """Dense columns of one beam (n_bixels, n_voxels), Gy per MU."""
    from rtplan.dose._terma import fan_radiological_depth
    from rtplan.dose._terma_kernels import beam_projection

    bf = setup.beam_frame(bix.beam)
    sp = setup.spacing_ijk_mm
    eta = np.ascontiguousarray(setup.electron_density)
    mask = np.zeros(setup.grid.shape, dtype=bool)
    mask.ravel()[voxels] = True
    xi, yi, zz = beam_projection(sp, bf.source, bf.axis, bf.ex, bf.ey, bf.sad_mm, mask)
    depth = fan_radiological_depth(eta, sp, bf.source, bf.axis, bf.ex, bf.ey, bf.sad_mm,
                                   xi, yi, zz)  # fmt: skip
    xv, yv, z = xi.ravel()[voxels], yi.ravel()[voxels], zz.ravel()[voxels]
    d_cm = depth.ravel()[voxels]
    front = z > 1.0
    z_lo, z_hi = float(z[front].min(initial=bf.sad_mm)), float(z[front].max(initial=bf.sad_mm))
    n_planes = max(2, math.ceil((z_hi - z_lo) / _PLANE_STEP_MM) + 1)
    planes = np.linspace(z_lo, z_hi + 1e-6, n_planes)
    zc = np.clip(z, planes[0], planes[-1])
    p0 = np.clip(np.searchsorted(planes, zc) - 1, 0, n_planes - 2).astype(np.int64)
    fz = (zc - planes[p0]) / (planes[p0 + 1] - planes[p0])
    medium = setup.medium_factor(machine).ravel()[voxels]
    scale = np.where(front, (bf.sad_mm / np.maximum(z, 1.0)) ** 2 * medium * calibration, 0.0)
    wk = np.ascontiguousarray(kern.weights_at(d_cm) * scale[:, np.newaxis])
    h = 0.5 * float(min(setup.grid.spacing_mm))
    out = np.zeros((bix.n, voxels.size), dtype=np.float32)
    x_b, y_b, heights = bix.x_mm, bix.y_mm, bix.heights_mm
    f_e = machine.extra_focal_fraction
    r_cm = np.minimum(np.hypot(x_b, y_b) / 10.0, machine.radial_ramp_max_cm)
    ramp = (1.0 - f_e) * (1.0 + machine.radial_ramp_per_cm * r_cm) + f_e
    for height in np.unique(np.round(heights, 6)):
        sel = np.flatnonzero(np.abs(heights - height) < 1e-6)
        tables, t0 = _bixel_tables(bix.beam, machine, kern, bix.size_mm, float(height), h,
                                   planes / bf.sad_mm)  # fmt: skip
        for start in range(0, sel.size, _CHUNK_BIXELS):
            part = sel[start : start + _CHUNK_BIXELS]
            block = np.zeros((part.size, voxels.size), dtype=np.float32)
            _columns(xv, yv, p0, fz, wk, np.ascontiguousarray(x_b[part]),
                     np.ascontiguousarray(y_b[part]), tables, t0, h, block)  # fmt: skip
            out[part] = block * ramp[part, np.newaxis].astype(np.float32)
    return np.asarray(out, dtype=np.float64)


def influence_matrix(
    setup: DoseSetup,
    bixels: Sequence[BeamBixels],
    voxel_mask: npt.NDArray[np.bool_],
    *,
    threshold: float = 1e-4,
    cache_dir: str | Path | None = None,
) -> InfluenceMatrix:
    """The sparse dose-influence matrix of the bixels at the voxels of a mask.

    Parameters
    ----------
    setup : DoseSetup
        Dose grid and densities (:func:`rtplan.dose.prepare_setup`).
    bixels : sequence of BeamBixels
        One entry per beam (:func:`beam_bixels`).
    voxel_mask : numpy.ndarray of bool, shape setup.grid.shape
        The voxels that matter (targets, organs, the normal tissue around the target);
        voxels outside the body are left out.
    threshold : float
        Entries below this share of their bixel's largest entry are dropped.
    cache_dir : str or path-like, optional
        Folder where each beam's columns are stored and looked up.

    Returns
    -------
    InfluenceMatrix
        CSR, float32, Gy per MU per fraction.

    Raises
    ------
    PlanError
        If the mask has no voxel in the body or the threshold is outside [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.dose import prepare_setup
    >>> from rtplan.planning import beam_bixels, influence_matrix
    >>> from rtplan.testing import sphere_mask_structure, water_phantom
    >>> ct = water_phantom(width_mm=100, depth_mm=100, spacing_mm=5.0)
    >>> ptv = sphere_mask_structure(ct.grid, (0.0, 50.0, 0.0), 10.0, name="PTV")
    >>> beam = rtplan.Beam(isocenter_mm=(0.0, 50.0, 0.0), mlc=rtplan.Mlc.uniform(40, 5.0))
    >>> setup = prepare_setup(ct, grid_mm=5.0)
    >>> inf = influence_matrix(setup, [beam_bixels(ptv, beam)], ptv.mask(setup.grid))
    >>> inf.matrix.dtype, inf.matrix.shape[1] == inf.bixels[0].n
    (dtype('float32'), True)
    """
    import scipy.sparse

    from rtplan.dose import engine_calibration, get_engine, load_machine
    from rtplan.dose._deposition import pencil_kernel

    if not 0.0 <= threshold < 1.0:
        raise PlanError(f"threshold must be in [0, 1), got {threshold}")
    mask = np.asarray(voxel_mask, dtype=bool) & setup.body
    voxels = np.flatnonzero(mask.ravel()).astype(np.int64)
    if voxels.size == 0:
        raise PlanError("no voxel of the structures lies in the body on the dose grid")
    engine = get_engine("pencil-beam")
    n_comp = int(getattr(engine, "n_components", 6))
    h = 0.5 * float(min(setup.grid.spacing_mm))
    cache = Path(cache_dir) if cache_dir is not None else None
    t_start = time.perf_counter()
    blocks: list[scipy.sparse.csr_matrix] = []
    kept_total = 0.0
    dropped_total = 0.0
    for n, bix in enumerate(bixels):
        machine = load_machine(bix.beam.energy)
        key = _cache_key(bix, setup, voxels, machine, h) if cache is not None else ""
        path = cache / f"influence-{key}.npz" if cache is not None else None
        if path is not None and path.is_file():
            with np.load(path) as z:
                csc = scipy.sparse.csc_matrix(
                    (z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"])
                )
                kept, dropped = float(z["kept"]), float(z["dropped"])
            logger.info("beam %d: influence columns read from %s", n + 1, path)
        else:
            tb = time.perf_counter()
            kern = pencil_kernel(machine, n_comp)
            dense = _beam_block(bix, setup, voxels, machine, kern,
                                engine_calibration(engine, machine))  # fmt: skip
            np.maximum(dense, 0.0, out=dense)  # as the engine: no negative dose
            col_max = dense.max(axis=1, keepdims=True)
            small = dense < threshold * col_max
            dropped = float(dense[small].sum())
            kept = float(dense.sum()) - dropped
            dense[small] = 0.0
            csc = scipy.sparse.csc_matrix(dense.T.astype(np.float32))
            logger.info(
                "beam %d (%s): %d bixels x %d voxels, %d entries, %.1f s",
                n + 1, bix.beam.name or f"gantry {bix.beam.gantry_deg:g}", bix.n, voxels.size,
                csc.nnz, time.perf_counter() - tb,
            )  # fmt: skip
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path, data=csc.data, indices=csc.indices, indptr=csc.indptr,
                         shape=np.array(csc.shape), kept=kept, dropped=dropped)  # fmt: skip
        kept_total += kept
        dropped_total += dropped
        blocks.append(csc)
    matrix = scipy.sparse.hstack(blocks, format="csr", dtype=np.float32)
    total = kept_total + dropped_total
    return InfluenceMatrix(
        matrix=matrix,
        voxels=voxels,
        setup=setup,
        bixels=tuple(bixels),
        dropped_fraction=dropped_total / total if total > 0 else 0.0,
        seconds=time.perf_counter() - t_start,
    )
