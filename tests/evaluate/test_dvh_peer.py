"""DVHs against dicompyler-core 0.5.6 on the same RT Structure Set and RT Dose files.

Both files are written with pydicom alone (``evaluate_helpers``). dicompyler-core rasterises
each contour on the dose grid's own pixels (default mode), or on a finer in-plane grid with
copies of the contours between planes (interpolated mode); both weigh each plane by the
smallest plane gap (the "slab" end-capping rtplan uses by default).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from evaluate_helpers import (
    Cylinder,
    SphereStack,
    dose_grid,
    import_dicompyler,
    linear_dose,
    sphere_radius_mm,
    write_rtdose,
    write_rtstruct,
)

import rtplan
from rtplan.evaluate import dvh

pytestmark = pytest.mark.peer


def _dicompyler(rs: Path, rd: Path, roi: int, **kw: object):
    dvhcalc, _ = import_dicompyler()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dvhcalc.get_dvh(str(rs), str(rd), roi, **kw)


def _smooth_dose(g: rtplan.Grid) -> rtplan.Dose:
    xyz = g.centers_mm()
    r2 = ((xyz - np.array([5.0, -3.0, 2.0])) ** 2).sum(axis=-1)
    arr = 60.0 * np.exp(-r2 / (2 * 40.0**2)) + 0.2 * xyz[..., 0] + 10.0
    return rtplan.Dose(array=arr, grid=g)


def test_large_structures_agree_with_dicompyler(tmp_path: Path) -> None:
    structures = [
        SphereStack(
            sphere_radius_mm(30.0), 2.5, 0.8, centre=(4.0, -6.0, 1.0), name="Sphere30"
        ).structure,
        Cylinder(15.0, -20.0, 14, 2.5, cx=-10.0, cy=8.0, name="Cylinder35").structure,
        SphereStack(
            sphere_radius_mm(80.0), 2.5, 0.3, centre=(-3.0, 2.0, -4.0), name="Sphere80"
        ).structure,
    ]
    g = dose_grid(2.5, (-60, -60, -60), (60, 60, 60))
    dose = _smooth_dose(g)
    rs = write_rtstruct(tmp_path / "rs.dcm", structures)
    rd = write_rtdose(tmp_path / "rd.dcm", dose)
    for roi, s in enumerate(structures, start=1):
        assert s.volume_cc > 20
        ours = dvh(dose, s)
        theirs = _dicompyler(rs, rd, roi)
        assert ours.volume_cc == pytest.approx(theirs.volume, rel=0.01), s.name
        assert ours.mean_gy == pytest.approx(theirs.mean, rel=0.01), s.name
        assert ours.D(95) == pytest.approx(theirs.statistic("D95").value, rel=0.01), s.name


@pytest.mark.parametrize("volume_cc", [0.5, 1.0, 2.0, 5.0])
def test_small_spheres_rtplan_is_closer_to_the_truth(tmp_path: Path, volume_cc: float) -> None:
    """Spheres in D = a + b z on 2.5 mm slices and a 2.5 mm dose grid."""
    R = sphere_radius_mm(volume_cc)
    s = SphereStack(R, 2.5, 0.9, centre=(1.3, -0.6, 0.4), name="Node")
    a, b = 40.0, 0.9
    g = dose_grid(2.5, s.c - R - 10, s.c + R + 10)
    dose = linear_dose(g, a, (0.0, 0.0, b))
    rs = write_rtstruct(tmp_path / "rs.dcm", [s.structure])
    rd = write_rtdose(tmp_path / "rd.dcm", dose)
    levels = np.linspace(a + b * (s.c[2] - R) - 1, a + b * (s.c[2] + R) + 1, 301)
    contoured = s.above_z((levels - a) / b) / 1000.0  # cm³, slab convention
    sphere = s.sphere_above_z((levels - a) / b) / 1000.0  # cm³, the continuous sphere

    def errors(v_cc: np.ndarray, volume: float) -> tuple[float, float, float]:
        return (
            abs(volume / (s.volume_mm3() / 1000.0) - 1) * 100,
            float(np.max(np.abs(v_cc - contoured)) / contoured[0] * 100),
            float(np.max(np.abs(v_cc - sphere)) / sphere[0] * 100),
        )

    ours = dvh(dose, s.structure)
    e_ours = errors(np.array([ours.V(float(L), volume_unit="cc") for L in levels]), ours.volume_cc)
    for kw in (
        {},
        {"interpolation_resolution": 2.5 / 8, "interpolation_segments_between_planes": 2},
    ):
        d = _dicompyler(rs, rd, 1, **kw)
        v = np.interp(levels, d.bins[:-1], d.counts, right=0.0)
        e_theirs = errors(v, float(d.volume))
        # volume error, largest DVH error against the contours, and against the sphere
        assert e_ours[0] < 0.5
        assert e_ours[1] < 1.0
        assert e_ours[0] < e_theirs[0], (kw, e_ours, e_theirs)
        assert e_ours[1] < e_theirs[1], (kw, e_ours, e_theirs)
        assert e_ours[2] < e_theirs[2], (kw, e_ours, e_theirs)
        assert math.isfinite(e_theirs[2])
