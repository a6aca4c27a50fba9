"""O'Connor's density-scaling theorem (J. E. O'Connor, Phys. Med. Biol. 1 (1957) 352-369).

In two media of the same composition and densities 1 and rho, with every length (phantom,
field, source distance, voxel size) scaled by 1/rho, the ratio of scattered to primary dose
is the same at corresponding points, and the primary dose there scales as the primary
fluence. The fluence of rtplan's beams is set per unit area at the isocentre plane, which
is itself a corresponding surface, so the doses at corresponding points are equal:
``D_rho(x / rho) = D_1(x)``.

The head model (extra-focal source, flattening-filter ramp) is switched off here: it is
defined in mm at the isocentre plane and would otherwise not scale with the geometry.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

import rtplan
from rtplan.dose import get_engine, load_machine, prepare_setup
from rtplan.testing import water_phantom


@functools.lru_cache(maxsize=8)
def _scaled_axis(engine: str, rho: float) -> tuple[np.ndarray, np.ndarray]:
    machine = dataclasses.replace(
        load_machine("6X"), extra_focal_fraction=0.0, radial_ramp_per_cm=0.0
    )
    ct = water_phantom(
        width_mm=200.0 / rho, depth_mm=250.0 / rho, spacing_mm=2.5 / rho, density=rho
    )
    setup = prepare_setup(ct, grid_mm=2.5 / rho)
    h = 50.0 / rho
    beam = rtplan.Beam(sad_mm=1000.0 / rho, jaws_mm=(-h, h, -h, h))
    dose = get_engine(engine).beam_dose(beam, setup, machine)
    ijk = setup.grid.mm_to_index([0.0, 0.0, 0.0])
    i, k = round(float(ijk[0])), round(float(ijk[2]))
    return setup.grid.axis_mm(1) * rho, dose[k, :, i]


@pytest.mark.parametrize("rho", [0.5, 1.5])
def test_collapsed_cone_obeys_oconnor(rho):
    z_ref, d_ref = _scaled_axis("collapsed-cone", 1.0)
    z, d = _scaled_axis("collapsed-cone", rho)
    depths = np.array([5.0, 15.0, 30.0, 50.0, 100.0, 150.0, 200.0])  # water-equivalent mm
    np.testing.assert_allclose(np.interp(depths, z, d), np.interp(depths, z_ref, d_ref), rtol=0.02)


def test_pencil_beam_does_not_compress_its_kernels_in_dense_media():
    # Denser than water the pencil beam scales only the depth: its kernels keep their
    # width in water, so too little scatter reaches the axis from the (scaled) field and
    # the deficit grows with depth as scatter does. Lighter media (lung) stretch the kernels
    # laterally and obey the theorem: tests/dose/test_pencil_beam.py.
    z_ref, d_ref = _scaled_axis("pencil-beam", 1.0)
    z, d = _scaled_axis("pencil-beam", 1.5)
    depths = np.array([50.0, 100.0, 200.0])
    ratio = np.interp(depths, z, d) / np.interp(depths, z_ref, d_ref)
    assert np.all(ratio < 1.0)
    assert np.all(np.diff(ratio) < 0.0)
    assert np.all(np.abs(ratio - 1.0) < 0.15)
