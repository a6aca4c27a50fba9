"""The DVH object: units, interpolation, export, warnings and errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from evaluate_helpers import Cylinder, dose_grid, linear_dose

import rtplan
from rtplan.errors import GeometryError, RtplanWarning, StructureError
from rtplan.evaluate import (
    DVH,
    EvaluationError,
    compute_dvhs,
    dvh,
    isodose_volume_cc,
    read_dvhs_json,
    write_dvhs_csv,
    write_dvhs_json,
)


@pytest.fixture(scope="module")
def ramp() -> tuple[Cylinder, rtplan.Dose, float, float]:
    cyl = Cylinder(10.0, -10.0, 8, 2.5, name="Cyl")  # 20 mm tall, 6.28 cm³
    a, b = 20.0, 0.5
    g = dose_grid(2.5, (-20, -20, -20), (20, 20, 20))
    return cyl, linear_dose(g, a, (0.0, 0.0, b)), a, b


def test_top_level_names_are_lazy_reexports() -> None:
    assert rtplan.dvh is dvh
    assert rtplan.gamma is rtplan.evaluate.gamma
    assert set(rtplan.evaluate.__all__) >= {"dvh", "gamma", "DVH", "GammaResult", "plan_sum"}


def test_handmade_dvh_interpolation() -> None:
    h = DVH(
        name="x",
        bin_edges_gy=np.array([0.0, 1.0, 2.0, 3.0]),
        differential=np.array([0.0, 0.5, 0.5]),
        volume_cc=4.0,
    )
    # uniform density in each bin: cumulative linear between edges
    assert h.V(1.0) == pytest.approx(100.0)
    assert h.V(1.5) == pytest.approx(75.0)
    assert h.V(2.5, volume_unit="cc") == pytest.approx(1.0)
    assert h.V(3.5) == 0.0
    assert h.D(75) == pytest.approx(1.5)
    assert h.D(1.0, volume_unit="cc") == pytest.approx(2.5)
    assert h.D(100) == pytest.approx(1.0)
    assert h.D(0) == pytest.approx(3.0)
    assert math.isnan(h.D(5.0, volume_unit="cc"))  # more than the structure
    assert h.mean_gy == pytest.approx(2.0)
    assert h.min_gy == pytest.approx(1.0)
    assert h.max_gy == pytest.approx(3.0)
    d, v = h.curve("differential", volume_unit="cc")
    assert d.tolist() == [0.5, 1.5, 2.5]
    assert v.tolist() == pytest.approx([0.0, 2.0, 2.0])  # cm³ per Gy
    assert h.differential_cc.sum() == pytest.approx(4.0)
    assert h.cumulative_cc[0] == pytest.approx(4.0)


def test_relative_dose_needs_prescription(ramp: tuple[Cylinder, rtplan.Dose, float, float]) -> None:
    cyl, dose, _, _ = ramp
    h = dvh(dose, cyl.structure)
    rx = 25.0
    assert h.V(100, dose_unit="%", prescription_gy=rx) == pytest.approx(h.V(rx))
    assert h.V(2500, dose_unit="cGy") == pytest.approx(h.V(25.0))
    with pytest.raises(EvaluationError, match="prescription_gy"):
        h.V(100, dose_unit="%")
    with pytest.raises(EvaluationError, match="dose unit"):
        h.V(1, dose_unit="Sv")
    with pytest.raises(EvaluationError, match="volume unit"):
        h.V(1, volume_unit="litre")
    with pytest.raises(EvaluationError, match="volume must be finite"):
        h.D(-1)


def test_metric_properties_match_closed_form(
    ramp: tuple[Cylinder, rtplan.Dose, float, float],
) -> None:
    cyl, dose, a, b = ramp
    h = dvh(dose, cyl.structure)
    hgt = cyl.z1 - cyl.z0

    def dx(p: float) -> float:
        return a + b * (cyl.z1 - p / 100 * hgt)

    assert pytest.approx(dx(2), abs=0.02) == h.D2
    assert pytest.approx(dx(50), abs=0.02) == h.D50
    assert pytest.approx(dx(95), abs=0.02) == h.D95
    assert pytest.approx(dx(98), abs=0.02) == h.D98
    # D0.03cc: the hottest 0.03 cm³ is a 0.03/area thick layer at the top
    assert h.D0_03cc == pytest.approx(a + b * (cyl.z1 - 30.0 / cyl.area_mm2), abs=0.02)
    assert h.mean_gy == pytest.approx(a + b * 0.5 * (cyl.z0 + cyl.z1), abs=1e-6)
    assert h.min_gy == pytest.approx(a + b * cyl.z0, abs=0.02)
    assert h.max_gy == pytest.approx(a + b * cyl.z1, abs=0.02)
    assert h.coverage == pytest.approx(1.0)


def test_json_round_trip(tmp_path: Path, ramp: tuple[Cylinder, rtplan.Dose, float, float]) -> None:
    cyl, dose, _, _ = ramp
    h = dvh(dose, cyl.structure)
    p = h.to_json(tmp_path / "h.json")
    back = DVH.from_json(p)
    assert back.name == "Cyl"
    assert back.volume_cc == h.volume_cc
    np.testing.assert_array_equal(back.bin_edges_gy, h.bin_edges_gy)
    np.testing.assert_allclose(back.differential, h.differential, rtol=1e-12)
    assert back.max_difference(h) < 1e-9
    assert json.loads(p.read_text())["end_cap"] == "slab"
    with pytest.raises(EvaluationError, match="lacks the key 'bin_edges_gy'"):
        DVH.from_dict({"name": "x", "volume_cc": 1.0, "differential_fraction": [1.0]})
    # several DVHs in one file
    small = dvh(dose, Cylinder(5.0, -5, 4, 2.5, name="Small").structure)
    many = write_dvhs_json([h, small], tmp_path / "all.json")
    back_all = read_dvhs_json(many)
    assert list(back_all) == ["Cyl", "Small"]
    assert back_all["Small"].max_difference(small) < 1e-9
    assert back_all["Small"].volume_cc == small.volume_cc
    assert list(read_dvhs_json(p)) == ["Cyl"]  # a single DVH's file
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(EvaluationError, match="holds no DVH objects"):
        read_dvhs_json(tmp_path / "bad.json")
    with pytest.raises(EvaluationError, match="cannot read DVHs from"):
        read_dvhs_json(tmp_path / "missing.json")


def test_csv_export(tmp_path: Path, ramp: tuple[Cylinder, rtplan.Dose, float, float]) -> None:
    cyl, dose, _, _ = ramp
    h = dvh(dose, cyl.structure)
    other = dvh(dose, Cylinder(5.0, -5, 4, 2.5, name="Small").structure)
    p = write_dvhs_csv([h, other], tmp_path / "dvh.csv")
    with p.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["structure"] for r in rows} == {"Cyl", "Small"}
    first = next(r for r in rows if r["structure"] == "Cyl")
    assert float(first["cumulative_cc"]) == pytest.approx(h.volume_cc, abs=0.005)  # 0.01 cm³
    assert float(first["cumulative_percent"]) == pytest.approx(100.0)
    assert h.to_csv(tmp_path / "one.csv").read_text().startswith("structure,dose_gy")


def test_empty_structure_warns_and_gives_empty_dvh(
    ramp: tuple[Cylinder, rtplan.Dose, float, float],
) -> None:
    _, dose, _, _ = ramp
    empty = rtplan.Structure(name="Nothing")
    with pytest.warns(RtplanWarning, match="'Nothing': empty DVH because it has no closed"):
        h = dvh(dose, empty)
    assert h.is_empty
    assert h.volume_cc == 0.0
    assert math.isnan(h.D(95))
    assert math.isnan(h.V(10))
    assert math.isnan(h.mean_gy)


def test_structure_partly_outside_dose_grid_warns_with_fraction() -> None:
    cyl = Cylinder(10.0, -10.0, 8, 2.5, name="Half")
    # dose grid edges at x = 0: the half x > 0 of the cylinder is outside
    g = rtplan.Grid(
        shape=(20, 20, 10), spacing_mm=(2.5, 2.5, 2.5), origin_mm=(-23.75, -23.75, -23.75)
    )
    d = rtplan.Dose(array=np.full(g.shape, 3.0), grid=g)
    with pytest.warns(RtplanWarning, match=r"'Half': only 50\.\d % of its 6\.28\d cm³ lies inside"):
        h = dvh(d, cyl.structure)
    assert h.coverage == pytest.approx(0.5, abs=0.005)
    assert h.structure_volume_cc == pytest.approx(cyl.volume_mm3 / 1000, rel=1e-3)
    assert h.volume_cc == pytest.approx(0.5 * cyl.volume_mm3 / 1000, rel=0.01)
    assert h.D(95) == pytest.approx(3.0)


def test_structure_outside_dose_grid_gives_empty_dvh() -> None:
    cyl = Cylinder(5.0, 100.0, 4, 2.5, name="Far")
    g = rtplan.Grid(shape=(4, 4, 4), spacing_mm=(2.5, 2.5, 2.5), origin_mm=(0.0, 0.0, 0.0))
    with pytest.warns(RtplanWarning, match=r"'Far': only 0\.0 %.*the DVH is empty"):
        h = dvh(rtplan.Dose(array=np.ones(g.shape), grid=g), cyl.structure)
    assert h.is_empty


def test_bad_arguments_raise(ramp: tuple[Cylinder, rtplan.Dose, float, float]) -> None:
    cyl, dose, _, _ = ramp
    ct = rtplan.Image(array=np.zeros(dose.grid.shape), grid=dose.grid, units="HU")
    with pytest.raises(EvaluationError, match="a dose in Gy is needed"):
        dvh(ct, cyl.structure)
    with pytest.raises(EvaluationError, match=r"rtplan\.Dose"):
        dvh(np.zeros((3, 3, 3)), cyl.structure)  # type: ignore[arg-type]
    with pytest.raises(EvaluationError, match=r"rtplan\.Structure"):
        dvh(dose, "PTV")  # type: ignore[arg-type]
    with pytest.raises(EvaluationError, match="end_cap must be 'slab' or 'none', got 'flat'"):
        dvh(dose, cyl.structure, end_cap="flat")
    with pytest.raises(EvaluationError, match="resolution_mm"):
        dvh(dose, cyl.structure, resolution_mm=0.0)
    with pytest.raises(EvaluationError, match="bin_width_gy"):
        dvh(dose, cyl.structure, bin_width_gy=-1.0)
    tilted = rtplan.Structure(
        name="tilted",
        contours=(
            rtplan.Contour(points_mm=[[0, 0, 0], [10, 0, 0], [10, 10, 3.0]]),
            rtplan.Contour(points_mm=[[0, 0, 5], [10, 0, 5], [10, 10, 5]]),
        ),
    )
    with pytest.raises(GeometryError, match="'tilted': a contour is not planar"):
        dvh(dose, tilted)


def test_options_change_sampling_not_result(
    ramp: tuple[Cylinder, rtplan.Dose, float, float],
) -> None:
    cyl, dose, _, _ = ramp
    fine = dvh(dose, cyl.structure, resolution_mm=0.25, subsamples=8, bin_width_gy=0.001)
    coarse = dvh(dose, cyl.structure, resolution_mm=2.5, subsamples=2, bin_width_gy=0.05)
    assert fine.resolution_mm == 0.25
    assert coarse.resolution_mm == 2.5
    assert fine.max_difference(coarse) < 1.0
    assert fine.mean_gy == pytest.approx(coarse.mean_gy, abs=1e-3)


def test_compute_dvhs_by_name(ramp: tuple[Cylinder, rtplan.Dose, float, float]) -> None:
    cyl, dose, _, _ = ramp
    small = Cylinder(5.0, -5, 4, 2.5, name="Small")
    ss = rtplan.StructureSet(
        structures=(cyl.structure, small.structure, rtplan.Structure(name="Marker"))
    )
    out = compute_dvhs(dose, ss)
    assert list(out) == ["Cyl", "Small"]  # the marker has no volume: skipped
    assert list(compute_dvhs(dose, ss, names=["small"])) == ["Small"]
    with pytest.raises(StructureError, match="no structure named 'Lung'"):
        compute_dvhs(dose, ss, names=["Lung"])


def test_isodose_volume_of_linear_dose() -> None:
    g = rtplan.Grid(shape=(20, 8, 6), spacing_mm=(2.0, 2.5, 3.0), origin_mm=(0.0, 0.0, 0.0))
    a, b = 5.0, 1.0
    d = linear_dose(g, a, (0.0, 0.0, b))
    area = 8 * 2.5 * 6 * 3.0
    top = g.origin_mm[2] + (20 - 0.5) * 2.0  # upper voxel edge
    for level in (12.3, 20.0, 30.1):
        assert isodose_volume_cc(d, level) * 1000 == pytest.approx(
            area * (top - (level - a) / b), rel=1e-3
        )
    cyl = Cylinder(3.0, 10.0, 5, 2.0, cx=8.0, cy=9.0)
    inside = isodose_volume_cc(d, 20.0, within=cyl.structure) * 1000
    assert inside == pytest.approx(cyl.area_mm2 * (cyl.z1 - 15.0), rel=5e-3)


def test_single_plane_structure(ramp: tuple[Cylinder, rtplan.Dose, float, float]) -> None:
    _, dose, a, b = ramp
    plane = Cylinder(6.0, -1.25, 1, 2.5, name="Disc").structure  # one contour at z = 0
    h = dvh(dose, plane)
    assert h.volume_cc * 1000 == pytest.approx(math.pi * 36 * 2.5, rel=2e-3)
    assert h.min_gy == pytest.approx(a - b * 1.25, abs=0.02)
    assert h.max_gy == pytest.approx(a + b * 1.25, abs=0.02)
    with pytest.warns(RtplanWarning, match="encloses no volume with end_cap='none'"):
        flat = dvh(dose, plane, end_cap="none")
    assert flat.is_empty
    no_thickness = rtplan.Structure(name="Disc", contours=plane.contours)
    with pytest.warns(RtplanWarning, match="single contour plane and no slice thickness"):
        h2 = dvh(dose, no_thickness)
    assert h2.volume_cc == pytest.approx(h.volume_cc, rel=1e-3)  # the dose spacing, 2.5 mm


def test_dmax_never_exceeds_the_dose_grid() -> None:
    """A structure's Dmax never exceeds the highest dose the grid holds.

    Each box's dose is spread over the range its gradient spans, but the trilinear dose of
    the dose cell holding the box never leaves the cell's 8 node values; the spread is
    clipped to them. Without the clip, boxes on the steep side of the hot spot of this
    3-field plan spread 0.07 Gy above the grid's maximum (Muscle, Quadriceps).
    """
    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    ss = study.structures
    plan = rtplan.Plan.conformal(
        ss["PTV"],
        gantry_angles_deg=[300, 60, 180],
        energy="6X",
        prescription_gy=50.0,
        fractions=25,
        patient_position=study.ct.patient_position,
    )
    dose = rtplan.compute_dose(plan, study.ct, engine="pencil-beam")
    top = float(dose.array.max())
    for name in ss.names:
        h = dvh(dose, ss[name])
        assert h.max_gy <= top + 1e-6, name
    # the hot spot lies in the quadriceps: its Dmax reaches the grid's maximum closely
    assert dvh(dose, ss["Quadriceps"]).max_gy == pytest.approx(top, abs=0.15)
