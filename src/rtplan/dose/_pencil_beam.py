"""Pencil-beam engine: radiological-depth-scaled pencil kernels (fast, for quick looks).

The dose of a field is the superposition of the machine's Monte Carlo pencil kernels
(Mohan & Chui 1987, Med. Phys. 14 70-77; Bortfeld, Schlegel & Rhein 1993, Med. Phys. 20
311-318), each weighted by the fluence of its pencil::

    D(p) = (SAD / z)^2  sum_k w_k(d_rad(p)) [F * P_k^(z)](x_b, y_b)

with ``d_rad`` the radiological depth of ``p`` along its ray (exact Siddon rays through
the beam's-eye view, each traced once, interpolated to the voxels:
:func:`._terma.fan_table`), ``(x_b, y_b)`` its projection on the isocentre plane, ``z`` its
distance from the source along the axis, ``w_k`` and ``P_k`` the singular components of
the kernel (depth weights and radial profiles integrated over pixels whose size grows as
``z / SAD``; the 2D convolutions are done by FFT on a few planes of ``z``, every 10 cm,
and interpolated between them; the kernels' transforms are real, from a DCT-I of one
quadrant, as the kernels are even). Heterogeneities change
only the depth (the kernels are not scaled laterally), so in low-density media the
pencil-beam overestimates the dose of small fields, where lateral electron transport
matters: use the collapsed-cone engine there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan.dose._pencil_beam_kernels import superpose

if TYPE_CHECKING:
    from rtplan.dose._protocol import ProgressCallback
    from rtplan.dose._setup import DoseSetup
    from rtplan.dose.machines._model import BeamModel
    from rtplan.plan import Beam

__all__ = ["PencilBeamEngine"]

FloatArray = npt.NDArray[np.float64]

_KERNEL_RADIUS_MM = 150.0
_PLANE_STEP_MM = 100.0


def _pixel_span(lo_mm: float, hi_mm: float, origin_mm: float, h: float, n: int) -> tuple[int, int]:
    """Pixels ``[first, stop)`` of a row of ``n`` that bilinear lookups in ``[lo, hi]`` read.

    Lookups are clamped to the row (see :func:`._pencil_beam_kernels.superpose`), so a span
    reaching past an end keeps that end.
    """
    first = max(0, min(n - 1, math.floor((lo_mm - origin_mm) / h)))
    stop = min(n, max(first + 1, math.floor((hi_mm - origin_mm) / h) + 2))
    if stop - first < 2:  # bilinear lookups need two pixels
        first = max(0, min(first, n - 2))
        stop = min(n, first + 2)
    return first, stop


def _even_fast_len(n: int) -> int:
    """The smallest even length >= n that the FFT handles fast."""
    import scipy.fft as sfft

    m = int(sfft.next_fast_len(n, real=True))
    while m % 2:
        m = int(sfft.next_fast_len(m + 1, real=True))
    return m


class PencilBeamEngine:
    """Pencil-beam engine with radiological depth scaling (fast; see module notes).

    Parameters
    ----------
    n_components : int
        Singular components of the pencil kernel kept (6 reproduce the Monte Carlo table
        within 0.4 % of its maximum).
    """

    name = "pencil-beam"

    def __init__(self, n_components: int = 6) -> None:
        self.n_components = int(n_components)

    def beam_dose(
        self,
        beam: Beam,
        setup: DoseSetup,
        machine: BeamModel,
        *,
        progress: ProgressCallback | None = None,
    ) -> FloatArray:
        """Dose to medium of one beam per unit energy fluence (see :class:`DoseEngine`)."""
        import scipy.fft as sfft

        from rtplan.dose._deposition import pencil_kernel
        from rtplan.dose._fluence import beam_fluence
        from rtplan.dose._terma import fan_table
        from rtplan.dose._terma_kernels import projection_ranges

        bf = setup.beam_frame(beam)
        eta = np.ascontiguousarray(setup.electron_density)
        sp = setup.spacing_ijk_mm
        body = np.ascontiguousarray(setup.body)
        ranges = projection_ranges(sp, bf.source, bf.axis, bf.ex, bf.ey, bf.sad_mm, body)
        if ranges[0] == 0:  # no voxel in front of the source
            return np.zeros(setup.grid.shape)
        fan = fan_table(eta, sp, bf.source, bf.axis, bf.ex, bf.ey, bf.sad_mm, ranges)
        if progress is not None:
            progress(0.4, "pencil beam: ray tracing done")
        h_iso = 0.5 * float(min(setup.grid.spacing_mm))
        fine = beam_fluence(beam, machine, spacing_mm=0.5 * h_iso)
        ny2, nx2 = (s // 2 * 2 for s in fine.values.shape)
        # fluence on pixels of h_iso, as its departure from the constant transmission
        # background: the map's part is convolved by FFT, the background's convolution is
        # the background times each kernel's total (the background extends beyond the map)
        fl = fine.values[:ny2, :nx2].reshape(ny2 // 2, 2, nx2 // 2, 2).mean(axis=(1, 3))
        fl = fl - fine.background
        half = math.ceil(_KERNEL_RADIUS_MM / h_iso)
        out_shape = (fl.shape[0] + 2 * half, fl.shape[1] + 2 * half)
        x0 = fine.x0_mm + 0.25 * h_iso - half * h_iso
        y0 = fine.y0_mm + 0.25 * h_iso - half * h_iso
        z_lo = float(ranges[5])
        z_hi = float(ranges[6])
        n_planes = max(2, math.ceil((z_hi - z_lo) / _PLANE_STEP_MM) + 1)
        planes = np.linspace(z_lo, z_hi + 1e-6, n_planes)
        kern = pencil_kernel(machine, self.n_components)
        n_comp = kern.profiles.shape[0]
        # linear convolution by FFT on an even, fast length (single precision is ample for
        # kernels known to 0.4 %); the map sits ``half`` pixels in, so output pixel n is
        # map pixel n - half. The kernels are real and even (symmetric in x and y): their
        # transforms are real and come from a DCT-I of one quadrant, and their zero
        # frequency is their total (the background's convolution).
        shape = tuple(_even_fast_len(n) for n in out_shape)
        buf = np.zeros(shape, dtype=np.float32)
        buf[half : half + fl.shape[0], half : half + fl.shape[1]] = fl
        f_hat = sfft.rfft2(buf, workers=-1)
        # keep only the pixels the voxels' projections reach (and their bilinear
        # neighbours): the superposition then reads a compact array
        ix0, ix1 = _pixel_span(float(ranges[1]), float(ranges[2]), x0, h_iso, out_shape[1])
        iy0, iy1 = _pixel_span(float(ranges[3]), float(ranges[4]), y0, h_iso, out_shape[0])
        conv = np.empty((iy1 - iy0, ix1 - ix0, n_planes, n_comp), dtype=np.float32)
        quad = np.zeros((n_comp, shape[0] // 2 + 1, shape[1] // 2 + 1), dtype=np.float32)
        for p, zp in enumerate(planes):
            quad[:, : half + 1, : half + 1] = kern.pixel_kernel_quadrant(
                h_iso * zp / bf.sad_mm / 10.0, half
            )
            d = sfft.dctn(quad, type=1, axes=(1, 2), workers=-1)
            k_hat = np.concatenate([d, d[:, -2:0:-1]], axis=1)  # (n_comp, shape[0], ...)
            full = sfft.irfft2(f_hat[np.newaxis] * k_hat, s=shape, axes=(1, 2), workers=-1)
            block = full[:, iy0:iy1, ix0:ix1]
            block += (fine.background * d[:, 0, 0].astype(np.float64)).astype(np.float32)[
                :, np.newaxis, np.newaxis
            ]
            conv[:, :, p, :] = np.moveaxis(block, 0, -1)
        if progress is not None:
            progress(0.7, "pencil beam: convolutions done")
        dose = superpose(
            conv, planes, x0 + ix0 * h_iso, y0 + iy0 * h_iso, h_iso, kern.depth_cm,
            kern.weights, kern.attenuation_per_cm,
            fan.table, np.array([fan.x0_mm, fan.y0_mm, fan.z0_mm]),
            np.array([fan.pitch_mm, fan.hz_mm]), eta, sp, bf.source, bf.axis, bf.ex, bf.ey,
            bf.sad_mm, body,
        )  # fmt: skip
        if progress is not None:
            progress(1.0, "pencil beam: done")
        return np.maximum(dose, 0.0) * setup.medium_factor(machine)
