"""Plan sums and linear-quadratic conversions against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from evaluate_helpers import Cylinder, linear_dose

import rtplan
from rtplan.errors import RtplanWarning
from rtplan.evaluate import (
    ALPHA_BETA_GY,
    EvaluationError,
    alpha_beta_map,
    bed,
    default_alpha_beta,
    eqd2,
    plan_sum,
)

GRID = rtplan.Grid(shape=(4, 5, 6), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(-5.0, -4.0, -3.0))


def _dose(value: float, fractions: int | None = None) -> rtplan.Dose:
    return rtplan.Dose(array=np.full(GRID.shape, value), grid=GRID, fractions=fractions)


@pytest.mark.parametrize(
    ("total", "n", "ab", "bed_gy", "eqd2_gy"),
    [
        (60.0, 30, 10.0, 72.0, 60.0),  # 30 x 2 Gy: EQD2 is the physical dose
        (30.0, 10, 10.0, 39.0, 32.5),  # 10 x 3 Gy, tumour
        (40.0, 5, 3.0, 40 * (1 + 8 / 3), 40 * 11 / 5),  # 5 x 8 Gy, late tissue: 88 Gy EQD2
        (24.0, 3, 2.0, 24 * 5, 24 * 10 / 4),  # 3 x 8 Gy to the cord: EQD2 60 Gy
    ],
)
def test_bed_and_eqd2_values(
    total: float, n: int, ab: float, bed_gy: float, eqd2_gy: float
) -> None:
    d = _dose(total, fractions=n)
    b = bed(d, ab)
    e = eqd2(d, ab)
    np.testing.assert_allclose(b.array, bed_gy, rtol=1e-12)
    np.testing.assert_allclose(e.array, eqd2_gy, rtol=1e-12)
    assert b.dose_type == "EFFECTIVE"
    assert e.fractions == n
    # EQD2 = BED / (1 + 2 / (alpha/beta))
    np.testing.assert_allclose(e.array, b.array / (1 + 2 / ab), rtol=1e-12)


def test_voxelwise_alpha_beta_from_structures() -> None:
    g = rtplan.Grid(shape=(6, 20, 20), spacing_mm=(2.5, 1.0, 1.0), origin_mm=(-9.5, -9.5, -6.0))
    ptv = Cylinder(4.0, -6.0, 4, 2.5, cx=-4.0, name="PTV").structure
    cord = Cylinder(3.0, -6.0, 4, 2.5, cx=4.0, name="SpinalCord").structure
    lung = Cylinder(9.0, -6.0, 4, 2.5, name="Lung").structure
    ab = alpha_beta_map(g, [lung, ptv, cord])
    assert ab.array[3, 10, 6] == ALPHA_BETA_GY["tumour"]  # x = -3.5: inside the PTV
    assert ab.array[3, 10, 14] == ALPHA_BETA_GY["spinal_cord"]  # x = 4.5: cord
    assert ab.array[3, 2, 10] == ALPHA_BETA_GY["late"]  # lung only
    assert ab.array[3, 0, 0] == ALPHA_BETA_GY["late"]  # outside everything: default
    custom = alpha_beta_map(g, [lung, ptv], alpha_beta_gy={"ptv": 4.0}, default_gy=2.5)
    assert custom.array[3, 10, 6] == 4.0
    assert custom.array[3, 0, 0] == 2.5
    d = rtplan.Dose(array=np.full(g.shape, 45.0), grid=g, fractions=15)
    e = eqd2(d, ab)
    assert e.array[3, 10, 6] == pytest.approx(45 * (3 + 10) / 12)
    assert e.array[3, 10, 14] == pytest.approx(45 * (3 + 2) / 4)
    with pytest.raises(EvaluationError, match="alpha/beta of 'PTV' must be a positive"):
        alpha_beta_map(g, [ptv], alpha_beta_gy={"PTV": 0.0})


def test_default_alpha_beta_by_type_and_name() -> None:
    assert default_alpha_beta(rtplan.Structure(name="GTV_primary")) == 10.0
    assert default_alpha_beta(rtplan.Structure(name="boost", interpreted_type="CTV")) == 10.0
    assert default_alpha_beta(rtplan.Structure(name="Spinal Cord")) == 2.0
    assert default_alpha_beta(rtplan.Structure(name="Femur_L")) == 3.0


def test_fractions_are_required() -> None:
    with pytest.raises(EvaluationError, match="number of fractions is unknown"):
        eqd2(_dose(30.0), 10.0)
    with pytest.raises(EvaluationError, match="fractions must be an integer"):
        bed(_dose(30.0), 10.0, fractions=0)
    with pytest.raises(EvaluationError, match="alpha_beta_gy must be a positive"):
        bed(_dose(30.0, 10), -3.0)


def test_plan_sum_on_common_grid() -> None:
    g1 = rtplan.Grid(shape=(10, 10, 10), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0.0, 0.0, 0.0))
    # a coarser grid reaching beyond the first: what lies outside is lost, with a warning
    g2 = rtplan.Grid(shape=(10, 11, 8), spacing_mm=(3.0, 2.5, 3.5), origin_mm=(-5.0, -3.0, -4.0))
    d1 = linear_dose(g1, 10.0, (0.1, 0.2, 0.3))
    d2 = linear_dose(g2, 5.0, (-0.05, 0.1, 0.0))
    with pytest.warns(RtplanWarning, match=r"dose 1 \(linear\) reaches .* Gy outside"):
        total = plan_sum([d1, d2])
    assert total.grid == g1
    assert total.summation == "MULTI_PLAN"
    xyz = g1.centers_mm()
    expected = 15.0 + xyz @ np.array([0.05, 0.3, 0.3])  # both linear: trilinear is exact
    np.testing.assert_allclose(total.array, expected, rtol=1e-9)
    # on another grid, and a single dose
    g3 = rtplan.Grid(shape=(5, 5, 5), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(4.0, 4.0, 4.0))
    with pytest.warns(RtplanWarning, match=r"dose 0 \(linear\) reaches"):
        one = plan_sum([d1], grid=g3)
    assert one.summation == "PLAN"
    np.testing.assert_allclose(
        one.array, d1.sample(g3.centers_mm().reshape(-1, 3)).reshape(g3.shape), rtol=1e-12
    )


def test_plan_sum_warns_when_dose_is_lost() -> None:
    g1 = rtplan.Grid(shape=(5, 5, 5), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0.0, 0.0, 0.0))
    g2 = rtplan.Grid(shape=(5, 5, 5), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(20.0, 0.0, 0.0))
    d1 = rtplan.Dose(array=np.ones(g1.shape), grid=g1, name="boost")
    d2 = rtplan.Dose(array=np.ones(g2.shape), grid=g2, name="nodes")
    with pytest.warns(RtplanWarning, match=r"dose 1 \(nodes\) reaches 1 Gy outside"):
        plan_sum([d1, d2])
    with pytest.raises(EvaluationError, match="at least one dose"):
        plan_sum([])
    assert plan_sum([d1, d1]).fractions is None
