"""Shared dose computations for the dose tests (computed once per session)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest

import rtplan
from rtplan.testing import water_phantom


@dataclass(frozen=True)
class WaterRun:
    """A square field on a water phantom (HFS, gantry 0, beam along +y)."""

    dose: rtplan.Dose
    mu: float

    def central_axis(self) -> tuple[np.ndarray, np.ndarray]:
        """Depth below the surface (mm) and dose per MU (Gy/MU) on the central axis."""
        g = self.dose.grid
        ijk = g.mm_to_index([0.0, 0.0, 0.0])
        i, k = round(float(ijk[0])), round(float(ijk[2]))
        return g.axis_mm(1), np.asarray(self.dose.array[k, :, i], dtype=float) / self.mu

    def profile(self, depth_mm: float) -> tuple[np.ndarray, np.ndarray]:
        """Lateral (x) profile at a depth, dose per MU."""
        g = self.dose.grid
        ijk = g.mm_to_index([0.0, depth_mm, 0.0])
        j, k = round(float(ijk[1])), round(float(ijk[2]))
        return g.axis_mm(2), np.asarray(self.dose.array[k, j, :], dtype=float) / self.mu

    def d_max(self) -> tuple[float, float]:
        """Depth (mm) and dose per MU of the maximum on the central axis (parabolic)."""
        depth, d = self.central_axis()
        i = int(np.argmax(d))
        y0, y1, y2 = d[i - 1], d[i], d[i + 1]
        off = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
        return float(depth[i] + off * (depth[1] - depth[0])), float(y1 - 0.25 * (y0 - y2) * off)

    def at_depth(self, depth_mm: float) -> float:
        """Central-axis dose per MU at a depth (linear interpolation)."""
        depth, d = self.central_axis()
        return float(np.interp(depth_mm, depth, d))

    def pdd(self, depth_mm: float) -> float:
        """Percentage depth dose."""
        return 100.0 * self.at_depth(depth_mm) / self.d_max()[1]


@functools.lru_cache(maxsize=32)
def _water_run(
    engine: str, field_mm: float, ssd_mm: float, width_mm: float, depth_mm: float
) -> WaterRun:
    ct = water_phantom(width_mm=width_mm, depth_mm=depth_mm, spacing_mm=2.5)
    # field size defined on the surface; isocentre at SAD from the source
    sad = 1000.0
    h = 0.5 * field_mm * sad / ssd_mm
    beam = rtplan.Beam(
        energy="6X",
        gantry_deg=0.0,
        isocenter_mm=(0.0, sad - ssd_mm, 0.0),
        sad_mm=sad,
        jaws_mm=(-h, h, -h, h),
        mu=100.0,
    )
    dose = rtplan.compute_dose(rtplan.Plan(beams=[beam]), ct, engine=engine, grid_mm=2.5)
    return WaterRun(dose=dose, mu=100.0)


@pytest.fixture(scope="session")
def water_run():  # type: ignore[no-untyped-def]
    """``water_run(engine, field_mm, ssd_mm=1000, width_mm=200, depth_mm=250)``, cached."""

    def run(
        engine: str,
        field_mm: float,
        ssd_mm: float = 1000.0,
        width_mm: float = 200.0,
        depth_mm: float = 250.0,
    ) -> WaterRun:
        return _water_run(engine, field_mm, ssd_mm, width_mm, depth_mm)

    return run
