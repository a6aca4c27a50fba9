# ruff: noqa: E501
"""Kernel signatures compiled ahead of use by :mod:`rtplan._warmup` (generated file).

Written by ``benchmarks/startup/record_signatures.py`` from the signatures that the demo, a
pencil-beam dose and a 3D gamma compile: ``"module:qualname"`` of each kernel to its
signatures in numba's syntax.
"""

from __future__ import annotations

SIGNATURES: dict[str, list[str]] = {
    "rtplan.dose._collapsed_cone_kernels:transport_all": [
        "(float64[:, :, ::1], int32[:, :, ::1], float64[::1], float64[:, ::1], float64[:, ::1], float64[:, ::1], int64)",
    ],
    "rtplan.dose._pencil_beam_kernels:superpose": [
        "(float32[::1], float64[:, ::1], float64[::1], int64[::1], float64[:, :, :, ::1], int64, float64[::1], float64[::1], float64[:, ::1], float64, float64[:, :, ::1], float64[::1], float64[::1], float64[:, :, ::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, boolean[:, :, ::1])",
    ],
    "rtplan.dose._terma_kernels:beam_geometry": [
        "(float64[:, :, ::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, boolean[:, :, ::1])",
    ],
    "rtplan.dose._terma_kernels:projection_ranges": [
        "(float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, boolean[:, :, ::1])",
    ],
    "rtplan.dose._terma_kernels:terma": [
        "(float64[:, :, ::1], float64[:, :, ::1], float64[:, :, ::1], float64[:, :, ::1], float64, float64[:, ::1], float64, float64, float64, float64, float64[::1], float64[::1])",
    ],
    "rtplan.dose._terma_kernels:trace_fan": [
        "(float64[:, :, ::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, float64[::1], float64[::1], float64[::1])",
    ],
    "rtplan.evaluate._dvh_kernels:_accumulate_cells_serial": [
        "(float64[:, :, ::1], float32[:, :, ::1], int64[:, ::1], int64[::1], int64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, float64, float64, float64, float64[:, ::1], float64[:, ::1], float64[:, ::1])",
    ],
    "rtplan.evaluate._dvh_kernels:fill_spans": [
        "(float32[:, :, ::1], int64[:, ::1])",
    ],
    "rtplan.evaluate._dvh_kernels:min_max": [
        "(float64[:, :, ::1],)",
        "(float64[:, :, :],)",
    ],
    "rtplan.evaluate._gamma_kernels:gamma_points": [
        "(float64[:, :, ::1], float64[:, ::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], int64[::1], float64[:, ::1], float64[::1], float64[::1], float64[:, ::1], float64[::1], float64[::1], float64, float64, float64, boolean, float64[::1])",
    ],
    "rtplan.geometry._edt_kernels:squared_edt": [
        "(float64[:, :, ::1], float64[::1])",
    ],
    "rtplan.geometry._rasterize_kernels:fill_fraction_serial": [
        "(float64[::1], float64[::1], int64[::1], int64[::1], int64[:, ::1], float32[:, :, ::1])",
    ],
    "rtplan.geometry._rasterize_kernels:fill_mask": [
        "(float64[::1], float64[::1], int64[::1], int64[::1], int64[::1], boolean[:, :, ::1])",
    ],
    "rtplan.geometry._rasterize_kernels:fill_mask_serial": [
        "(float64[::1], float64[::1], int64[::1], int64[::1], int64[::1], boolean[:, :, ::1])",
    ],
    "rtplan.guidance._search_kernels:search_segments": [
        "(float64[:, ::1], float64[:, ::1], float64[::1], float64, uint8[:, :, ::1], float64, float64[::1], int64[::1], int64[:, ::1], float64[:, ::1], float64[::1], float64[::1], float64[::1], int64, int64, int64, int64[::1], float64[:, ::1], float64[::1])",
    ],
}
