"""The dose grid and the patient densities the engines work on.

The dose grid has the CT's axes and an isotropic spacing (``grid_mm``); it covers the
body, found as the largest connected region of mass density above 0.05 g/cm³ (so lung is
in, air around the patient is out; a treatment couch separate from the patient is left
out of the grid and of the ray tracing). Densities are averaged over each dose voxel.

Engines work in the grid's own frame, in mm: voxel ``(i, j, k)`` has its centre at
``(i di, j dj, k dk)``; LPS points map to it by ``g = D^T (x - origin)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan.dose._conversion import is_density_image
from rtplan.errors import DoseEngineError
from rtplan.grid import Grid, IndexBox
from rtplan.image import Image, PatientPosition
from rtplan.plan import Beam

if TYPE_CHECKING:
    from rtplan.dose.machines._model import BeamModel

__all__ = ["BODY_DENSITY_G_CM3", "BeamFrame", "DoseSetup", "prepare_setup"]

FloatArray = npt.NDArray[np.float64]

BODY_DENSITY_G_CM3 = 0.05
"""Voxels denser than this (g/cm³) belong to the body; dose elsewhere is zero."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BeamFrame:
    """A beam's geometry in the dose grid's frame (mm, unit vectors).

    Attributes
    ----------
    source : numpy.ndarray, shape (3,)
        Source position.
    axis : numpy.ndarray, shape (3,)
        Central axis, from the source towards the isocentre.
    ex, ey : numpy.ndarray, shape (3,)
        Beam-limiting-device axes ``X_b`` and ``Y_b``.
    sad_mm : float
        Source-axis distance.
    """

    source: FloatArray
    axis: FloatArray
    ex: FloatArray
    ey: FloatArray
    sad_mm: float


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class DoseSetup:
    """Everything an engine needs about the patient, on the dose grid.

    Attributes
    ----------
    grid : Grid
        The dose grid (CT axes, isotropic spacing, covering the body).
    density_g_cm3 : numpy.ndarray, shape grid.shape, float64
        Mass density averaged over each dose voxel.
    electron_density : numpy.ndarray, shape grid.shape, float64
        Electron density relative to water.
    body : numpy.ndarray of bool, shape grid.shape
        Voxels where dose is reported.
    patient_position : PatientPosition
        Patient setup used to place the beams.
    water_composition : bool
        True when the densities describe water of varying density (a density image),
        False for tissue from a CT (electron and mass densities then differ in ratio).
    """

    grid: Grid
    density_g_cm3: FloatArray
    electron_density: FloatArray
    body: npt.NDArray[np.bool_]
    patient_position: PatientPosition
    water_composition: bool = False
    _medium_factors: dict[str, FloatArray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def medium_factor(self, machine: BeamModel | None = None) -> FloatArray:
        """``eta / rho`` per voxel: turns energy per water-equivalent mass into dose to medium.

        Density-scaled engines transport energy along radiological path lengths
        ``ds = eta dl``, so what they impart per unit radiological length is energy per
        unit mass of *water-equivalent* medium (``eta`` grams of water per cm³); the dose to
        the medium is that energy over the voxel's own mass, hence ``eta / rho`` (Ahnesjö
        1989, Med. Phys. 16 577-592; Mackie, Scrimger & Battista 1985, Med. Phys. 12
        188-196). It is the ratio of electrons per gram of the medium to those of water
        (0.93 in cortical bone, 1.00 in soft tissue and lung), and 1 for a density image of
        water composition. It does not depend on the beam: ``machine`` is accepted for the
        engines that pass it.

        Parameters
        ----------
        machine : BeamModel, optional
            Not used.

        Returns
        -------
        numpy.ndarray, shape grid.shape
            Zero outside the body.
        """
        del machine
        cached = self._medium_factors.get("eta/rho")
        if cached is None:
            body = self.body & (self.density_g_cm3 > 0)
            rho = np.where(body, self.density_g_cm3, 1.0)
            cached = np.where(body, self.electron_density / rho, 0.0)
            cached.setflags(write=False)
            self._medium_factors["eta/rho"] = cached
        return cached

    @property
    def spacing_ijk_mm(self) -> FloatArray:
        """Spacing ``(di, dj, dk)``, mm."""
        return self.grid.spacing_ijk_mm

    def to_frame(self, points_mm: npt.ArrayLike) -> FloatArray:
        """LPS points to grid-frame mm (shape (N, 3) or (3,))."""
        p = np.asarray(points_mm, dtype=np.float64)
        return np.asarray((p - np.asarray(self.grid.origin_mm)) @ self.grid.direction)

    def vector_to_frame(self, vectors: npt.ArrayLike) -> FloatArray:
        """LPS direction vectors to the grid frame."""
        return np.asarray(np.asarray(vectors, dtype=np.float64) @ self.grid.direction)

    def beam_frame(self, beam: Beam) -> BeamFrame:
        """Place a beam (IEC 61217 angles, patient position) in the grid frame.

        Parameters
        ----------
        beam : Beam

        Returns
        -------
        BeamFrame
        """
        r = beam.beam_to_patient(self.patient_position)
        return BeamFrame(
            source=self.to_frame(beam.source_mm(self.patient_position)),
            axis=self.vector_to_frame(-r[:, 2]),
            ex=self.vector_to_frame(r[:, 0]),
            ey=self.vector_to_frame(r[:, 1]),
            sad_mm=float(beam.sad_mm),
        )


def _mass_density(ct: Image) -> npt.NDArray[np.floating[Any]]:
    """Mass density of every CT voxel (float32 from HU, float64 from a density image)."""
    if is_density_image(ct):
        rho = np.asarray(ct.array, dtype=np.float64)
        if np.any(rho < 0) or not np.all(np.isfinite(rho)):
            raise DoseEngineError(
                f"density image {ct.name!r} has negative or non-finite values; "
                "mass densities must be >= 0 g/cm3"
            )
        return rho
    if ct.units.strip().lower() in ("hu", ""):
        from rtplan import tissue

        return np.asarray(tissue.density(ct).array)
    raise DoseEngineError(
        f"image {ct.name!r} has units {ct.units!r}; dose needs a CT in HU or a mass "
        "density image in g/cm3"
    )


def _electron_density(
    ct: Image, rho: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.floating[Any]]:
    if is_density_image(ct):
        return rho  # water composition: electron density equals mass density
    from rtplan import tissue

    return np.asarray(tissue.electron_density(ct).array)


def _axis_operator(
    n_src: int, size: int, coords: FloatArray
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """One axis of "box average, then linear interpolation" as gather indices and weights.

    The box of ``size`` voxels is the window of :func:`scipy.ndimage.uniform_filter1d`
    (``origin=0``, ``mode="nearest"``); the interpolation at the fractional source indices
    ``coords`` clamps at the ends (``mode="nearest"``), as the aligned resampling of
    :meth:`rtplan.Image.resample` does.

    Returns
    -------
    index : numpy.ndarray of intp, shape (len(coords), 2 * size)
    weight : numpy.ndarray of float64, same shape
    """
    c = np.clip(coords, 0.0, n_src - 1.0)
    i0 = np.minimum(np.floor(c).astype(np.intp), max(n_src - 2, 0))
    t = c - i0
    offsets = np.arange(size) - size // 2  # the window of uniform_filter1d
    lin_idx = np.stack([i0, np.minimum(i0 + 1, n_src - 1)], axis=1)  # (n, 2)
    lin_w = np.stack([1.0 - t, t], axis=1)
    index = np.clip(lin_idx[:, :, np.newaxis] + offsets, 0, n_src - 1).reshape(c.size, -1)
    weight = np.repeat(lin_w / size, size, axis=1)
    return index, weight


def _average_onto(values: npt.NDArray[Any], src: Grid, dst: Grid) -> FloatArray:
    """Average ``values`` over each ``dst`` voxel (``src`` and ``dst`` share their axes).

    A box filter of about one ``dst`` voxel (whole ``src`` voxels) followed by trilinear
    interpolation at the ``dst`` centres; both are separable, so the operator is applied
    axis by axis as weighted gathers, never building the filtered ``src`` volume. ``dst``
    centres outside ``src`` (beyond half a voxel) get 0.
    """
    ratio = np.asarray(dst.spacing_mm) / np.asarray(src.spacing_mm)
    size = np.maximum(1, np.round(ratio).astype(int))
    shift_ijk = src.direction.T @ (np.asarray(dst.origin_mm) - np.asarray(src.origin_mm))
    offset = shift_ijk[::-1] / np.asarray(src.spacing_mm)  # (k, j, i)
    out = np.asarray(values)  # any real or bool dtype: the weights make it float64
    inside = np.ones(dst.shape, dtype=bool)
    # reduce the axis that shrinks most first
    for a in sorted(range(3), key=lambda ax: dst.shape[ax] / src.shape[ax]):
        coords = offset[a] + np.arange(dst.shape[a]) * ratio[a]
        valid = (coords >= -0.5) & (coords <= src.shape[a] - 0.5)
        shape = [1, 1, 1]
        shape[a] = dst.shape[a]
        inside &= valid.reshape(shape)
        index, weight = _axis_operator(src.shape[a], int(size[a]), coords)
        acc = np.take(out, index[:, 0], axis=a) * weight[:, 0].reshape(shape)
        for m in range(1, index.shape[1]):
            acc += np.take(out, index[:, m], axis=a) * weight[:, m].reshape(shape)
        out = acc
    return np.where(inside, out, 0.0)


def _body_mask(rho: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    from scipy import ndimage

    dense = rho > BODY_DENSITY_G_CM3
    labels, n = ndimage.label(dense)
    if n == 0:
        raise DoseEngineError(
            f"no voxel denser than {BODY_DENSITY_G_CM3} g/cm3: the image holds no patient"
        )
    if n == 1:
        return dense
    # the size of each region, counted within its bounding box (a count over the whole
    # volume, np.bincount, costs a second on a 512 x 512 x 200 CT)
    sizes = [
        int(np.count_nonzero(labels[box] == m)) if box is not None else 0
        for m, box in enumerate(ndimage.find_objects(labels), start=1)
    ]
    return np.asarray(labels == 1 + int(np.argmax(sizes)))


def prepare_setup(
    ct: Image,
    *,
    grid_mm: float | Sequence[float] = 2.5,
    patient_position: PatientPosition | str | None = None,
) -> DoseSetup:
    """Build the dose grid over the body and average the densities onto it.

    Parameters
    ----------
    ct : Image
        CT in HU (densities from :func:`rtplan.tissue.density` and
        :func:`rtplan.tissue.electron_density`), or a mass-density image in g/cm3 of
        water composition (electron density = mass density).
    grid_mm : float or sequence of 3 float
        Dose grid spacing, isotropic or ``(dk, dj, di)``, mm.
    patient_position : PatientPosition or str, optional
        Overrides the CT's patient position; HFS when neither is known.

    Returns
    -------
    DoseSetup

    Raises
    ------
    DoseEngineError
        If the image has no body or unsupported units.

    Examples
    --------
    >>> from rtplan.dose import prepare_setup
    >>> from rtplan.testing import water_phantom
    >>> setup = prepare_setup(water_phantom(width_mm=100, depth_mm=50, spacing_mm=2.5), grid_mm=5.0)
    >>> setup.grid.shape, bool(setup.body.all()), setup.water_composition
    ((21, 10, 21), True, True)
    """
    spacing = np.broadcast_to(np.asarray(grid_mm, dtype=np.float64), (3,))
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise DoseEngineError(f"grid_mm must be positive, got {grid_mm!r}")
    rho_full = _mass_density(ct)
    body_full = _body_mask(rho_full)
    # bounding box of the body, (k, j, i); _body_mask never returns an empty mask
    body_box = IndexBox.from_mask(body_full)
    assert body_box is not None
    first = np.asarray(body_box.lower)
    last = np.asarray(body_box.upper) - 1
    # work on the CT cropped to the body (plus two voxels) from here on
    work = body_box.padded(2, within=ct.grid.shape)
    sub_ct = ct.crop_to(work)
    sub_grid = sub_ct.grid
    box = work.slices
    rho_ct = rho_full[box]
    body_ct = body_full[box]
    eta_ct = _electron_density(sub_ct, rho_ct)
    lo = first[::-1].astype(np.float64) - 0.5  # (i, j, k) voxel edges
    hi = last[::-1].astype(np.float64) + 0.5
    corners_lo = ct.grid.index_to_mm(lo)
    corners_hi = ct.grid.index_to_mm(hi)
    d = ct.grid.direction
    sp = tuple(float(s) for s in spacing)
    # voxel centres half a dose voxel inside the body box
    a = d.T @ corners_lo
    b = d.T @ corners_hi
    lo_ax = np.minimum(a, b) + 0.5 * spacing[::-1]
    hi_ax = np.maximum(a, b) - 0.5 * spacing[::-1]
    hi_ax = np.maximum(hi_ax, lo_ax)
    grid = Grid.covering(d @ lo_ax, d @ hi_ax, sp, direction=d)
    rho = _average_onto(rho_ct, sub_grid, grid)
    eta = _average_onto(eta_ct, sub_grid, grid)
    # at least half of the dose voxel in the body (ties, e.g. exactly half, count as in)
    inside = _average_onto(body_ct, sub_grid, grid) >= 0.5 - 1e-9
    pos = patient_position if patient_position is not None else ct.patient_position
    return DoseSetup(
        grid=grid,
        density_g_cm3=rho,
        electron_density=eta,
        body=np.asarray(inside & (rho > BODY_DENSITY_G_CM3)),
        patient_position=PatientPosition(pos if pos is not None else "HFS"),
        water_composition=is_density_image(ct),
    )
