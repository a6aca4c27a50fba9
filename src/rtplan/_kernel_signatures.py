# ruff: noqa: E501
"""Kernel signatures compiled ahead of use by :mod:`rtplan._warmup` (generated file).

Written by ``benchmarks/startup/record_signatures.py`` from the signatures that the demo, a
pencil-beam dose and a 3D gamma compile: ``"module:qualname"`` of each kernel to its
signatures in numba's syntax.
"""

from __future__ import annotations

SIGNATURES: dict[str, list[str]] = {
    "rtplan.geometry._rasterize_kernels:fill_mask_serial": [
        "(float64[::1], float64[::1], int64[::1], int64[::1], int64[::1], boolean[:, :, ::1])",
    ],
    "rtplan.geometry._rasterize_kernels:fill_plane_centres": [
        "(float64[::1], float64[::1], int64[::1], int64, int64, boolean[:, ::1])",
    ],
    "rtplan.geometry._rasterize_kernels:edge_table": [
        "(float64[::1], float64[::1], int64[::1], int64, int64)",
    ],
    "rtplan.geometry._rasterize_kernels:scan": [
        "(float64[::1], float64[::1], float64[::1], float64[::1], float64, int64[::1], int64[::1], float64[::1])",
    ],
    "rtplan.geometry._rasterize_kernels:fill_mask": [
        "(float64[::1], float64[::1], int64[::1], int64[::1], int64[::1], boolean[:, :, ::1])",
    ],
    "rtplan.evaluate._dvh_kernels:min_max": [
        "(float64[:, :, ::1],)",
        "(float64[:, :, :],)",
    ],
    "rtplan.geometry._rasterize_kernels:fill_fraction_serial": [
        "(float64[::1], float64[::1], int64[::1], int64[::1], int64[:, ::1], float32[:, :, ::1])",
    ],
    "rtplan.geometry._rasterize_kernels:fill_slice_fraction": [
        "(float64[::1], float64[::1], int64[::1], int64[::1], int64[::1], float32[:, ::1])",
    ],
    "rtplan.geometry._rasterize_kernels:fill_plane_fraction": [
        "(float64[::1], float64[::1], int64[::1], int64, int64, int64, float64, float32[:, ::1])",
    ],
    "rtplan.evaluate._dvh_kernels:fill_spans": [
        "(float32[:, :, ::1], int64[:, ::1])",
    ],
    "rtplan.evaluate._dvh_kernels:_accumulate_cells_serial": [
        "(float64[:, :, ::1], float32[:, :, ::1], int64[:, ::1], int64[::1], int64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, float64, float64, float64, float64[:, ::1], float64[:, ::1], float64[:, ::1])",
    ],
    "rtplan.geometry._edt_kernels:squared_edt": [
        "(float64[:, :, ::1], float64[::1])",
    ],
    "rtplan.geometry._edt_kernels:_lines": [
        "(float64[:, :, ::1], float64, float64[::1], float64[::1], int64[::1], float64[::1])",
        "(float64[:, :, :], float64, float64[::1], float64[::1], int64[::1], float64[::1])",
    ],
    "rtplan.geometry._edt_kernels:_envelope": [
        "(float64[::1], float64, float64[::1], int64[::1], float64[::1])",
    ],
    "rtplan.guidance._search_kernels:search_segments": [
        "(float64[:, ::1], float64[:, ::1], float64[::1], float64, uint8[:, :, ::1], float64, float64[::1], int64[::1], int64[:, ::1], float64[:, ::1], float64[::1], float64[::1], float64[::1], int64, int64, int64, int64[::1], float64[:, ::1], float64[::1])",
    ],
    "rtplan.guidance._search_kernels:_body_limit": [
        "(uint8[:, :, ::1], float64, float64, float64, float64, float64, float64, int64, float64, float64)",
    ],
    "rtplan.guidance._search_kernels:_box": [
        "(float64[::1], int64, int64[::1])",
    ],
    "rtplan.guidance._search_kernels:_first_violation": [
        "(float64[:, :, ::1], float64, float64, float64, float64, float64, float64, float64[::1], float64, float64, float64, float64, float64, float64, int64, float64, int64)",
    ],
    "rtplan.guidance._search_kernels:_incidence": [
        "(float64[:, :, ::1], float64[::1], float64[:, :, ::1], float64[::1], float64[::1], float64[::1], float64[::1], int64)",
    ],
    "rtplan.guidance._search_kernels:_nearest_is_zero": [
        "(float64[:, :, ::1], float64, float64, float64, float64, float64, float64)",
    ],
    "rtplan.guidance._search_kernels:_central_difference": [
        "(float64[:, :, ::1], float64, float64, float64, float64[::1])",
    ],
    "rtplan.guidance._search_kernels:_sample": [
        "(float64[:, :, ::1], float64, float64, float64)",
    ],
    "rtplan.dose._terma_kernels:beam_geometry": [
        "(float64[:, :, ::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, boolean[:, :, ::1])",
    ],
    "rtplan.dose._terma_kernels:voxel_projection": [
        "(float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, int64, int64, int64)",
        "(float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, int64, int64, uint64)",
    ],
    "rtplan.dose._siddon_kernels:ray_sum": [
        "(float64[:, :, ::1], float64[::1], float64, float64, float64, float64, float64, float64)",
    ],
    "rtplan.dose._siddon_kernels:_grid_span": [
        "(UniTuple(int64, 3), float64[::1], float64, float64, float64, float64, float64, float64)",
    ],
    "rtplan.dose._siddon_kernels:_axis_start": [
        "(float64, float64, float64, int64, float64)",
    ],
    "rtplan.dose._terma_kernels:terma": [
        "(float64[:, :, ::1], float64[:, :, ::1], float64[:, :, ::1], float64[:, :, ::1], float64, float64[:, ::1], float64, float64, float64, float64, float64[::1], float64[::1], float64[::1])",
    ],
    "rtplan.dose._terma_kernels:sample_fluence": [
        "(float64[:, ::1], float64, float64, float64, float64, float64, float64)",
    ],
    "rtplan.dose._collapsed_cone_kernels:_sweep_group": [
        "(float64[:, :, ::1], float64[:, :, ::1], int32[:, :, ::1], int64, float64[::1], float64[::1], float64[::1], boolean[::1], float64[:, :, ::1], float64[:, ::1], boolean, float64[:, :, ::1], float64[:, ::1], float64[:, ::1], boolean, int64)",
    ],
    "rtplan.dose._collapsed_cone_kernels:_sweep_direction": [
        "(float64[:, :, ::1], float64[:, :, ::1], int32[:, :, ::1], float64[:, :, ::1], int64, float64, float64, float64, boolean, float64[:, ::1], float64[::1], boolean, float64[:, :, ::1], float64[::1], float64[::1], boolean)",
    ],
    "rtplan.dose._collapsed_cone_kernels:_tables": [
        "(int64, float64, float64[:, ::1], float64[::1])",
    ],
    "rtplan.dose._pencil_beam_kernels:superpose": [
        "(float32[::1], float64[:, ::1], float64[::1], int64[::1], float64[:, :, :, ::1], int64, float64[::1], float64[::1], float64[:, ::1], float64, float64[:, :, ::1], float64[::1], float64[::1], float64[:, :, ::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, boolean[:, :, ::1])",
    ],
    "rtplan.dose._siddon_kernels:ray_cumulative": [
        "(float64[:, :, ::1], float64[::1], float64, float64, float64, float64, float64, float64, float64[::1], float64[::1])",
    ],
    "rtplan.dose._terma_kernels:fan_depth_at": [
        "(float64[:, :, ::1], float64[:, :, ::1], float64[::1], float64[::1], float64, float64, float64, float64, float64, float64, float64, float64, int64, int64, int64)",
        "(float64[:, :, ::1], float64[:, :, ::1], float64[::1], float64[::1], float64, float64, float64, float64, float64, float64, float64, float64, int64, int64, uint64)",
    ],
    "rtplan.dose._terma_kernels:projection_ranges": [
        "(float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, boolean[:, :, ::1])",
    ],
    "rtplan.dose._terma_kernels:trace_fan": [
        "(float64[:, :, ::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64, float64[::1], float64[::1], float64[::1])",
    ],
    "rtplan.evaluate._gamma_kernels:_capped_at_once": [
        "(float64[:, :, ::1], float64, float64, float64, float64, float64, float64, int64[::1], float64)",
    ],
    "rtplan.evaluate._gamma_kernels:_one_point": [
        "(float64[:, :, ::1], float64, float64, float64, float64, float64, int64[::1], float64[:, ::1], float64[::1], float64[::1], float64[:, ::1], float64[::1], int64[::1], float64[::1], float64, float64, float64, boolean)",
    ],
    "rtplan.evaluate._gamma_kernels:_refine": [
        "(float64[:, :, ::1], float64, float64, float64, float64, float64, float64, float64[::1], float64, float64, float64, float64, float64)",
    ],
    "rtplan.evaluate._gamma_kernels:gamma_points": [
        "(float64[:, :, ::1], float64[:, :, ::1], int64[::1], float64[:, ::1], float64, float64, boolean, int64[::1], float64[:, ::1], float64[::1], float64[::1], float64[:, ::1], float64[::1], int64[::1], float64[::1], float64, float64, float64, boolean, int64, float64[::1])",
    ],
}
