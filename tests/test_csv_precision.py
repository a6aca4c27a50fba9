"""Numbers in every CSV file rtplan writes: the precision of their quantity, no exponents."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

import rtplan
from rtplan._format import csv_number, csv_quantity
from rtplan.evaluate import DVH, GoalTable, parse_goal, write_dvhs_csv, write_metrics_csv
from rtplan.evaluate._goals import GoalResult
from rtplan.library._stats import PopulationStats

EXPONENT = re.compile(r"\d[eE][+-]?\d")


def _rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    assert not EXPONENT.search(text), text
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    ("value", "quantity", "text"),
    [
        (47.123456, "gy", "47.12"),
        (0.0456789, "d95_gy", "0.04568"),
        (-3e-16, "gy", "0"),
        (1234.5678, "volume_cc", "1234.57"),
        (0.00123456, "cc", "0.00123"),
        (99.949, "v95_percent", "99.9"),
        (100.0, "%Rx", "100"),
        (0.012345, "%", "0.0123"),
        (12.3456, "length_mm", "12.3"),
        (271.25, "in_plane_deg", "271.2"),  # round half to even on the binary value
        (0.0812345, "hi", "0.0812"),  # number_text: at most 4 decimals
        (24843.78, None, "24844"),
        (7, "n", "7"),
        (True, None, "1"),
        (float("inf"), "gy", ""),
        (None, "gy", ""),
        ("PTV", "structure", "PTV"),
    ],
)
def test_csv_number_by_quantity(value: object, quantity: str | None, text: str) -> None:
    assert csv_number(value, quantity) == text


def test_quantity_from_names_and_units() -> None:
    names = ["mean_gy", "volume_cc", "v107_percent", "clearance_mm:SpinalCord",
             "cortex_incidence_deg", "Gy", "cm³", "%Rx", "score",
             "tissue_fraction:bone"]  # fmt: skip
    assert [csv_quantity(n) for n in names] == [
        "gy", "cc", "percent", "mm", "deg", "gy", "cc", "percent", None, None
    ]  # fmt: skip


def test_metrics_csv(tmp_path: Path) -> None:
    rows = [
        {"structure": "PTV", "volume_cc": 312.456789, "mean_gy": 50.1234567,
         "d95_gy": 47.9999999, "hi": 0.0812345, "v95_percent": 99.9500001,
         "v107_percent": 1e-15, "d2_gy": float("nan")},
    ]  # fmt: skip
    (row,) = _rows(write_metrics_csv(rows, tmp_path / "m.csv"))
    assert row == {
        "structure": "PTV", "volume_cc": "312.46", "mean_gy": "50.12", "d95_gy": "48",
        "hi": "0.0812", "v95_percent": "100", "v107_percent": "0", "d2_gy": "",
    }  # fmt: skip


def test_metrics_csv_of_a_dose(tmp_path: Path) -> None:
    """The rows dose_metrics computes, as written: every number has its unit's precision."""
    from rtplan.testing import cube_grid, sphere_contour_structure

    grid = cube_grid(16, spacing=5.0)
    r_mm = np.linalg.norm(grid.centers_mm(), axis=-1)
    gtv = sphere_contour_structure(grid, (0.0, 0.0, 0.0), 15.0, name="GTV")
    dose = rtplan.Dose(array=np.clip(60.0 - r_mm, 0.0, 50.0), grid=grid)
    metrics = rtplan.evaluate.dose_metrics(rtplan.dvh(dose, gtv), 50.0)
    (row,) = _rows(write_metrics_csv([metrics], tmp_path / "m.csv"))
    for key, text in row.items():
        if key.endswith("_gy") or key.endswith("_cc"):
            assert len(text.partition(".")[2]) <= 2 or abs(float(text)) < 1, (key, text)
        if key.endswith("_percent"):
            assert len(text.partition(".")[2]) <= 1 or abs(float(text)) < 1, (key, text)
        if isinstance(metrics[key], str):
            assert text == metrics[key]
        elif text:
            assert float(text) == pytest.approx(float(metrics[key]), abs=0.05), key


def test_dvh_csv_keeps_fine_bins_apart(tmp_path: Path) -> None:
    edges = 12.0 + 0.001 * np.arange(6)  # 1 mGy bins
    h = DVH(name="Cord", bin_edges_gy=edges, differential=np.full(5, 0.2), volume_cc=0.0123456)
    rows = _rows(write_dvhs_csv([h], tmp_path / "dvh.csv"))
    assert [r["dose_gy"] for r in rows] == ["12", "12.001", "12.002", "12.003", "12.004", "12.005"]
    assert rows[0]["cumulative_cc"] == "0.0123"
    assert rows[1]["cumulative_percent"] == "80"
    assert rows[0]["differential_cc"] == "0.00247"
    assert rows[-1]["cumulative_cc"] == "0"
    assert rows[-1]["differential_cc"] == ""


def test_goal_table_csv(tmp_path: Path) -> None:
    table = GoalTable(
        rows=(
            GoalResult(goal=parse_goal("PTV D95 >= 95 %"), measured=96.04999, passed=True),
            GoalResult(goal=parse_goal("Cord D0.03cc <= 14 Gy"), measured=13.98765, passed=True),
            GoalResult(goal=parse_goal("Lung V20Gy <= 30 %"), measured=0.0, passed=True),
            GoalResult(goal=parse_goal("Lung Dmean <= 20 Gy"), measured=float("nan"),
                       passed=None, note="not evaluated"),
        )
    )  # fmt: skip
    rows = _rows(table.to_csv(tmp_path / "goals.csv"))
    assert [r["measured"] for r in rows] == ["96", "13.99", "0", ""]
    assert [r["unit"] for r in rows] == ["%Rx", "Gy", "%", "Gy"]


def test_population_stats_csv(tmp_path: Path) -> None:
    stats = PopulationStats(
        by=("sex",),
        features=("muscle_volume_cc", "mean_hu"),
        rows=(
            {"sex": "F", "feature": "muscle_volume_cc", "unit": "cm³", "n": 12,
             "mean": 1234.56789, "sd": 98.7654321, "median": 1200.0, "q1": 1100.0,
             "q3": 1300.0, "min": 1000.0000001, "max": 1500.5},
            {"sex": "F", "feature": "mean_hu", "unit": "HU", "n": 12, "mean": 45.678912,
             "sd": 3.3333333, "median": 45.0, "q1": 44.0, "q3": 47.0, "min": 40.0,
             "max": None},
        ),
        values=(),
        db="lib.duckdb",
    )  # fmt: skip
    volume, hu = _rows(stats.to_csv(tmp_path / "stats.csv"))
    assert (volume["n"], volume["mean"], volume["sd"], volume["min"]) == (
        "12", "1234.57", "98.77", "1000"
    )  # fmt: skip
    assert (hu["mean"], hu["sd"], hu["max"]) == ("45.68", "3.333", "")


def test_trajectory_csv(tmp_path: Path) -> None:
    from rtplan.testing import cylinder_phantom

    limb = cylinder_phantom()
    paths = rtplan.plan_trajectory(
        limb.ct, target=limb.gtv, avoid=[limb.canal], body=limb.body, max_length_mm=80.0
    )
    rows = _rows(paths.to_csv(tmp_path / "paths.csv"))
    assert len(rows) == len(paths)
    first, best = rows[0], paths[0]
    expected = {
        "entry_x_mm": float(best.entry_mm[0]),
        "length_mm": best.length_mm,
        "min_clearance_mm": best.min_clearance_mm,
        "in_plane_deg": best.in_plane_deg,
    }
    for key, value in expected.items():
        assert len(first[key].partition(".")[2]) <= 1, key
        assert float(first[key]) == pytest.approx(value, abs=0.05), key
    assert first["rank"] == "1"
    assert float(first["score"]) == pytest.approx(best.score, rel=1e-3)
