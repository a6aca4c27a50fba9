"""Conformity, gradient and homogeneity indices against a radially symmetric dose."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from evaluate_helpers import SphereStack

import rtplan
from rtplan.evaluate import (
    conformity_index_paddick,
    conformity_index_rtog,
    conformity_metrics,
    dose_metrics,
    dvh,
    gradient_index,
    homogeneity_index,
    write_metrics_csv,
)

RX = 20.0
R0 = 15.0  # the prescription isodose is the sphere r = R0; half of it r = 1.5 R0


@pytest.fixture(scope="module")
def cone() -> rtplan.Dose:
    """D(r) = RX (2 - r / R0), clipped at 0: isodose surfaces are spheres."""
    g = rtplan.Grid.covering((-40, -40, -40), (40, 40, 40), 1.0)
    r = np.linalg.norm(g.centers_mm(), axis=-1)
    return rtplan.Dose(array=np.clip(RX * (2.0 - r / R0), 0.0, None), grid=g)


def _sphere_cc(radius_mm: float) -> float:
    return 4.0 / 3.0 * math.pi * radius_mm**3 / 1000.0


def test_indices_of_concentric_target(cone: rtplan.Dose) -> None:
    target = SphereStack(0.8 * R0, 1.0, 0.5, name="PTV").structure  # inside the Rx isodose
    tv = target.volume_cc
    piv = _sphere_cc(R0)
    assert conformity_index_rtog(cone, target, RX) == pytest.approx(piv / tv, rel=0.015)
    assert conformity_index_paddick(cone, target, RX) == pytest.approx(tv / piv, rel=0.015)
    assert gradient_index(cone, RX) == pytest.approx(1.5**3, rel=0.015)


def _circle_overlap(r1: np.ndarray, r2: np.ndarray, d: float) -> np.ndarray:
    """Area shared by two circles of radii r1, r2 whose centres are d apart."""
    r1, r2 = np.broadcast_arrays(np.asarray(r1, float), np.asarray(r2, float))
    out = np.zeros(r1.shape)
    inside = d <= np.abs(r1 - r2)
    out[inside] = np.pi * np.minimum(r1, r2)[inside] ** 2
    part = ~inside & (d < r1 + r2) & (r1 > 0) & (r2 > 0)
    a, b = r1[part], r2[part]
    c1 = np.clip((d * d + a * a - b * b) / (2 * d * a), -1, 1)
    c2 = np.clip((d * d + b * b - a * a) / (2 * d * b), -1, 1)
    k = np.sqrt(np.clip((-d + a + b) * (d + a - b) * (d - a + b) * (d + a + b), 0, None))
    out[part] = a * a * np.arccos(c1) + b * b * np.arccos(c2) - 0.5 * k
    return out


def _stack_in_sphere_cc(stack: SphereStack, shift_mm: float) -> float:
    """Volume of a contoured sphere (circular slabs) inside the sphere r <= R0 at the origin,
    integrated along z slab by slab (circle-circle overlap areas)."""
    total = 0.0
    for z, r in zip(stack.z, stack.r, strict=True):
        zz = np.linspace(z - 0.5 * stack.t, z + 0.5 * stack.t, 2001)
        rs = np.sqrt(np.clip(R0**2 - zz**2, 0, None))
        area = (
            _circle_overlap(np.full(zz.size, r), rs, shift_mm)
            if shift_mm
            else (np.pi * np.minimum(r, rs) ** 2)
        )
        total += float(np.trapezoid(area, zz))
    return total / 1000.0


@pytest.mark.parametrize("shift_mm", [0.0, 6.0])
def test_paddick_of_a_target_like_the_isodose(cone: rtplan.Dose, shift_mm: float) -> None:
    stack = SphereStack(R0, 1.0, 0.5, centre=(shift_mm, 0.0, 0.0), name="PTV")
    tv = stack.structure.volume_cc
    tv_piv = _stack_in_sphere_cc(stack, shift_mm)
    expected = tv_piv**2 / (tv * _sphere_cc(R0))
    assert conformity_index_paddick(cone, stack.structure, RX) == pytest.approx(expected, rel=0.015)
    # the RTOG index ignores where the isodose lies
    assert conformity_index_rtog(cone, stack.structure, RX) == pytest.approx(
        _sphere_cc(R0) / tv, rel=0.015
    )


def test_body_restricts_isodose_volumes(cone: rtplan.Dose) -> None:
    target = SphereStack(0.8 * R0, 1.0, 0.5, name="PTV").structure
    body = SphereStack(18.0, 1.0, 0.5, name="Body").structure  # cuts the 50 % isodose
    gi = gradient_index(cone, RX, body=body)
    assert gi == pytest.approx(body.volume_cc / _sphere_cc(R0), rel=0.02)
    assert conformity_index_rtog(cone, target, RX, body=body) == pytest.approx(
        _sphere_cc(R0) / target.volume_cc, rel=0.015
    )


@pytest.mark.parametrize("shift_mm", [0.0, 6.0])
def test_conformity_metrics_give_volumes_and_indices(
    cone: rtplan.Dose, shift_mm: float, tmp_path: Path
) -> None:
    stack = SphereStack(R0, 1.0, 0.5, centre=(shift_mm, 0.0, 0.0), name="PTV")
    target = stack.structure
    tv = target.volume_cc
    tv_piv = _stack_in_sphere_cc(stack, shift_mm)
    piv, piv50 = _sphere_cc(R0), _sphere_cc(1.5 * R0)
    row = conformity_metrics(cone, target, RX)
    assert row["structure"] == "PTV"
    assert row["prescription_gy"] == RX
    assert row["tv_cc"] == pytest.approx(tv, rel=2e-3)
    assert row["piv_cc"] == pytest.approx(piv, rel=0.015)
    assert row["tv_piv_cc"] == pytest.approx(tv_piv, rel=0.015)
    assert row["piv50_cc"] == pytest.approx(piv50, rel=0.015)
    assert row["ci_rtog"] == pytest.approx(piv / tv, rel=0.015)
    assert row["ci_paddick"] == pytest.approx(tv_piv**2 / (tv * piv), rel=0.015)
    assert row["gi"] == pytest.approx(1.5**3, rel=0.015)
    # the same numbers as the single-index functions
    assert row["ci_rtog"] == pytest.approx(conformity_index_rtog(cone, target, RX), rel=1e-9)
    assert row["ci_paddick"] == pytest.approx(conformity_index_paddick(cone, target, RX), rel=1e-9)
    assert row["gi"] == pytest.approx(gradient_index(cone, RX), rel=1e-9)
    # inside a body outline cutting the 50 % isodose (r = 22.5 mm), given DVHs reused
    body = SphereStack(18.0, 1.0, 0.5, name="Body").structure
    dvhs = {"PTV": dvh(cone, target), "Body": dvh(cone, body)}
    inside = conformity_metrics(cone, target, RX, body=body, dvhs=dvhs)
    assert inside["piv50_cc"] == pytest.approx(body.volume_cc, rel=0.01)
    assert inside["piv_cc"] == pytest.approx(piv, rel=0.015)
    assert inside["gi"] == pytest.approx(gradient_index(cone, RX, body=body), rel=1e-9)
    p = write_metrics_csv([row], tmp_path / "ci.csv")
    with p.open() as fh:
        back = next(csv.DictReader(fh))
    # written with 4 significant figures (an index) and to 0.01 cm³
    assert float(back["gi"]) == pytest.approx(float(row["gi"]), rel=5e-4)
    assert float(back["piv_cc"]) == pytest.approx(float(row["piv_cc"]), abs=0.005)


def test_homogeneity_index_matches_closed_form(cone: rtplan.Dose) -> None:
    target = SphereStack(0.8 * R0, 1.0, 0.5, name="PTV").structure
    h = dvh(cone, target)
    # volume of the target (radius Rt) receiving >= D is the sphere r <= R0 (2 - D/RX)
    rt = 0.8 * R0

    def d_at(percent: float) -> float:
        r = rt * (percent / 100.0) ** (1.0 / 3.0)
        return RX * (2.0 - r / R0)

    expected = (d_at(2) - d_at(98)) / d_at(50)
    assert homogeneity_index(h) == pytest.approx(expected, abs=0.01)


def test_dose_metrics_and_csv(tmp_path: Path, cone: rtplan.Dose) -> None:
    target = SphereStack(0.8 * R0, 1.0, 0.5, name="PTV").structure
    small = SphereStack(1.5, 1.0, 0.5, centre=(30.0, 30.0, 30.0), name="Tiny").structure
    rows = [dose_metrics(dvh(cone, s), RX) for s in (target, small)]
    assert rows[0]["structure"] == "PTV"
    assert rows[0]["v100_percent"] == pytest.approx(100.0)
    assert rows[0]["volume_cc"] == pytest.approx(target.volume_cc, rel=1e-3)
    assert math.isnan(float(rows[1]["d0_03cc_gy"]))  # 0.03 cm³ > the structure
    p = write_metrics_csv(rows, tmp_path / "m.csv")
    with p.open() as fh:
        back = list(csv.DictReader(fh))
    assert back[0]["structure"] == "PTV"
    assert float(back[0]["mean_gy"]) == pytest.approx(float(rows[0]["mean_gy"]), abs=0.005)
    assert back[1]["d0_03cc_gy"] == ""
    no_rx = dose_metrics(dvh(cone, target))
    assert "v100_percent" not in no_rx
