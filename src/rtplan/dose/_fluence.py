"""Energy fluence of a beam at the isocentre plane, from its jaws and MLC and the beam model.

The open aperture (jaws times MLC, each with its transmission) is rasterised with exact
pixel coverage, multiplied by the radial fluence ramp of the flattening filter, and
blurred by the two sources of the beam model: the focal spot (Gaussian, ``sigma_f``) and
the extra-focal head-scatter source (Gaussian, ``sigma_e``, share ``f_e``)::

    F = (1 - f_e) G(sigma_f) * [A (1 + c min(r, r_max))] + f_e G(sigma_e) * A

``F`` is relative to the open-field fluence on the axis: a large open field gives 1 there.
Coordinates are the beam-limiting-device axes ``(x_b, y_b)`` at the isocentre plane, mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.dose.machines._model import BeamModel
from rtplan.plan import Beam

__all__ = ["FluenceMap", "beam_fluence"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class FluenceMap:
    """A relative energy-fluence map at the isocentre plane.

    Attributes
    ----------
    values : numpy.ndarray, shape (ny, nx)
        Relative fluence; row index along ``y_b``, column index along ``x_b``.
    x0_mm, y0_mm : float
        Position of the centre of pixel ``[0, 0]``.
    spacing_mm : float
        Pixel size.
    background : float
        Value used outside the map (transmission far from the field).
    """

    values: FloatArray
    x0_mm: float
    y0_mm: float
    spacing_mm: float
    background: float


def _coverage_1d(
    centres: FloatArray, lo: float | FloatArray, hi: float | FloatArray, width: float
) -> FloatArray:
    """Fraction of each cell ``[c - w/2, c + w/2]`` inside ``[lo, hi]`` (broadcast)."""
    a = np.clip(centres - 0.5 * width, lo, hi)
    b = np.clip(centres + 0.5 * width, lo, hi)
    return np.asarray((b - a) / width)


def _linear_along(values: FloatArray, coords: FloatArray, *, axis: int) -> FloatArray:
    """Linear interpolation of a 2D array at fractional indices along one axis.

    Indices are clamped to ``[0, n - 1]`` (edge values beyond the ends), as
    :func:`scipy.ndimage.map_coordinates` does with ``order=1`` and ``mode="nearest"``.
    """
    n = values.shape[axis]
    if n == 1:
        return np.asarray(np.repeat(values, coords.size, axis=axis))
    c = np.clip(coords, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(c).astype(np.intp), n - 2)
    t = c - i0
    shape = [1, 1]
    shape[axis] = c.size
    t = t.reshape(shape)
    a = np.take(values, i0, axis=axis)
    b = np.take(values, i0 + 1, axis=axis)
    return np.asarray(a * (1.0 - t) + b * t)


def beam_fluence(beam: Beam, machine: BeamModel, *, spacing_mm: float = 0.5) -> FluenceMap:
    """Rasterise a beam's relative energy fluence at the isocentre plane.

    Parameters
    ----------
    beam : Beam
        Jaws and optional MLC (positions at the isocentre plane).
    machine : BeamModel
        Source sizes, head scatter, fluence ramp and jaw transmission.
    spacing_mm : float
        Pixel size of the map.

    Returns
    -------
    FluenceMap
    """
    from scipy import ndimage

    x1, x2, y1, y2 = beam.jaws_mm
    margin = 4.0 * machine.extra_focal_sigma_mm + 4.0 * machine.focal_sigma_mm + 10.0
    nx = int(np.ceil((x2 - x1 + 2 * margin) / spacing_mm)) + 1
    ny = int(np.ceil((y2 - y1 + 2 * margin) / spacing_mm)) + 1
    x0 = 0.5 * (x1 + x2) - 0.5 * (nx - 1) * spacing_mm
    y0 = 0.5 * (y1 + y2) - 0.5 * (ny - 1) * spacing_mm
    xs = np.asarray(x0 + np.arange(nx) * spacing_mm, dtype=np.float64)
    ys = np.asarray(y0 + np.arange(ny) * spacing_mm, dtype=np.float64)
    t_jaw = machine.jaw_transmission
    # jaws: separable coverage of each pixel
    cx = _coverage_1d(xs, x1, x2, spacing_mm)
    cy = _coverage_1d(ys, y1, y2, spacing_mm)
    aperture = t_jaw + (1.0 - t_jaw) * np.outer(cy, cx)
    if beam.mlc is not None:
        # each pixel: sum over leaves of (share of the pixel row in the leaf's span) x
        # (transmission-weighted coverage of the leaf opening along x); a step-and-shoot
        # beam delivers the MU-weighted sum of its segments' shapes
        t_mlc = beam.mlc.transmission
        bounds = np.asarray(beam.mlc.leaf_boundaries_mm)
        lo = np.clip(ys[:, np.newaxis] - 0.5 * spacing_mm, bounds[np.newaxis, :-1], None)
        hi = np.clip(ys[:, np.newaxis] + 0.5 * spacing_mm, None, bounds[np.newaxis, 1:])
        wy = np.clip(hi - lo, 0.0, None) / spacing_mm  # (ny, n_leaves)
        shapes = [(s.positions_mm, s.weight) for s in beam.segments] or [
            (beam.mlc.positions_mm, 1.0)
        ]
        leaf_cov = np.zeros((len(bounds) - 1, nx))
        for pos, share in shapes:
            a_lo = pos[0][:, np.newaxis]  # (n_leaves, 1): the leaf pair's opening [a, b]
            b_hi = np.maximum(pos[1], pos[0])[:, np.newaxis]
            leaf_cov += share * _coverage_1d(xs, a_lo, b_hi, spacing_mm)  # (n_leaves, nx)
        mlc = wy @ (t_mlc + (1.0 - t_mlc) * leaf_cov) + (1.0 - wy.sum(axis=1))[:, np.newaxis]
        aperture = aperture * mlc
    r_cm = np.minimum(
        np.hypot(xs[np.newaxis, :], ys[:, np.newaxis]) / 10.0, machine.radial_ramp_max_cm
    )
    ramp = 1.0 + machine.radial_ramp_per_cm * r_cm
    f_e = machine.extra_focal_fraction
    primary = ndimage.gaussian_filter(
        aperture * ramp, machine.focal_sigma_mm / spacing_mm, mode="nearest", truncate=5.0
    )
    # the extra-focal source is broad: blur on a coarser grid, then interpolate back
    f = max(1, int(machine.extra_focal_sigma_mm / (4.0 * spacing_mm)))
    pad_y = (-ny) % f
    pad_x = (-nx) % f
    coarse = np.pad(aperture, ((0, pad_y), (0, pad_x)), mode="edge")
    coarse = coarse.reshape(coarse.shape[0] // f, f, coarse.shape[1] // f, f).mean(axis=(1, 3))
    coarse = ndimage.gaussian_filter(
        coarse, machine.extra_focal_sigma_mm / (spacing_mm * f), mode="nearest", truncate=4.0
    )
    # bilinear interpolation back to the fine pixels, separable (rows, then columns)
    extra = _linear_along(coarse, (np.arange(ny) + 0.5) / f - 0.5, axis=0)
    extra = _linear_along(extra, (np.arange(nx) + 0.5) / f - 0.5, axis=1)
    values = (1.0 - f_e) * primary + f_e * extra
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    return FluenceMap(
        values=np.ascontiguousarray(values),
        x0_mm=float(x0),
        y0_mm=float(y0),
        spacing_mm=float(spacing_mm),
        background=float(np.median(border)),
    )
