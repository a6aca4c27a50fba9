"""Energy fluence of a beam at the isocentre plane, from its jaws and MLC and the beam model.

The open aperture (jaws times MLC, each with its transmission) is sampled on a fine grid
with 4x4 sub-pixels, multiplied by the radial fluence ramp of the flattening filter, and
blurred by the two sources of the beam model: the focal spot (Gaussian, ``sigma_f``) and
the extra-focal head-scatter source (Gaussian, ``sigma_e``, share ``f_e``)::

    F = (1 - f_e) G(sigma_f) * [A (1 + c r)] + f_e G(sigma_e) * A

``F`` is relative to the open-field fluence on the axis: a large open field gives 1 there.
Coordinates are the beam-limiting-device axes ``(x_b, y_b)`` at the isocentre plane, mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.dose._jit import njit
from rtplan.dose.machines._model import BeamModel
from rtplan.plan import Beam

__all__ = ["FluenceMap", "beam_fluence", "sample_fluence"]

FloatArray = npt.NDArray[np.float64]

_SUB = 4


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


def _coverage_1d(centres: FloatArray, lo: float, hi: float, width: float) -> FloatArray:
    """Fraction of each cell ``[c - w/2, c + w/2]`` inside ``[lo, hi]``."""
    a = np.clip(centres - 0.5 * width, lo, hi)
    b = np.clip(centres + 0.5 * width, lo, hi)
    return np.asarray((b - a) / width)


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
    xs = x0 + np.arange(nx) * spacing_mm
    ys = y0 + np.arange(ny) * spacing_mm
    t_jaw = machine.jaw_transmission
    # jaws: separable coverage
    cx = _coverage_1d(xs, x1, x2, spacing_mm)
    cy = _coverage_1d(ys, y1, y2, spacing_mm)
    open_jaw = np.outer(cy, cx)
    jaw = t_jaw + (1.0 - t_jaw) * open_jaw
    if beam.mlc is not None:
        t_mlc = beam.mlc.transmission
        sub = spacing_mm / _SUB
        xs_f = x0 - 0.5 * spacing_mm + (np.arange(nx * _SUB) + 0.5) * sub
        ys_f = y0 - 0.5 * spacing_mm + (np.arange(ny * _SUB) + 0.5) * sub
        bounds = np.asarray(beam.mlc.leaf_boundaries_mm)
        pos = np.asarray(beam.mlc.positions_mm)
        leaf = np.searchsorted(bounds, ys_f, side="right") - 1
        inside = (leaf >= 0) & (leaf < bounds.size - 1)
        fine = np.ones((ys_f.size, xs_f.size))
        rows = np.nonzero(inside)[0]
        a = pos[0, leaf[rows]][:, np.newaxis]
        b = pos[1, leaf[rows]][:, np.newaxis]
        is_open = (xs_f[np.newaxis, :] > a) & (xs_f[np.newaxis, :] < b)
        fine[rows] = np.where(is_open, 1.0, t_mlc)
        mlc = fine.reshape(ny, _SUB, nx, _SUB).mean(axis=(1, 3))
        aperture = jaw * mlc
    else:
        aperture = jaw
    gx, gy = np.meshgrid(xs, ys)
    ramp = 1.0 + machine.radial_ramp_per_cm * np.hypot(gx, gy) / 10.0
    f_e = machine.extra_focal_fraction
    primary = ndimage.gaussian_filter(
        aperture * ramp, machine.focal_sigma_mm / spacing_mm, mode="nearest", truncate=5.0
    )
    extra = ndimage.gaussian_filter(
        aperture, machine.extra_focal_sigma_mm / spacing_mm, mode="nearest", truncate=5.0
    )
    values = (1.0 - f_e) * primary + f_e * extra
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    return FluenceMap(
        values=np.ascontiguousarray(values),
        x0_mm=float(x0),
        y0_mm=float(y0),
        spacing_mm=float(spacing_mm),
        background=float(np.median(border)),
    )


@njit()
def sample_fluence(
    values: FloatArray, x0: float, y0: float, h: float, background: float, x: float, y: float
) -> float:
    """Bilinear value of a fluence map at ``(x, y)`` (``background`` outside)."""
    fx = (x - x0) / h
    fy = (y - y0) / h
    ny, nx = values.shape
    if fx < 0.0 or fy < 0.0 or fx > nx - 1 or fy > ny - 1:
        return background
    ix = min(int(fx), nx - 2)
    iy = min(int(fy), ny - 2)
    tx = fx - ix
    ty = fy - iy
    return float(
        (1.0 - ty) * ((1.0 - tx) * values[iy, ix] + tx * values[iy, ix + 1])
        + ty * ((1.0 - tx) * values[iy + 1, ix] + tx * values[iy + 1, ix + 1])
    )
