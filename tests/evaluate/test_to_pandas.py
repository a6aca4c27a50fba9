"""DVHs, metrics and goal tables as pandas DataFrames, and the error without pandas."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from evaluate_helpers import Cylinder, dose_grid, linear_dose

import rtplan
from rtplan.errors import MissingDependencyError
from rtplan.evaluate import DVH, dose_metrics, evaluate_goals, write_dvhs_csv
from rtplan.evaluate._dvh_io import dvhs_to_pandas
from rtplan.evaluate._metrics import metrics_to_pandas

pd = pytest.importorskip("pandas")


def _two_dvhs() -> list[DVH]:
    a = DVH(
        name="PTV",
        bin_edges_gy=np.array([0.0, 1.0, 2.0]),
        differential=np.array([0.25, 0.75]),
        volume_cc=8.0,
    )
    b = DVH(
        name="Cord",
        bin_edges_gy=np.array([0.0, 0.5, 1.0, 1.5]),
        differential=np.array([0.5, 0.5, 0.0]),
        volume_cc=2.0,
    )
    return [a, b]


def test_dvh_frame_holds_the_csv_table(tmp_path: Path) -> None:
    dvhs = _two_dvhs()
    frame = dvhs_to_pandas(dvhs)
    with write_dvhs_csv(dvhs, tmp_path / "dvh.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(frame.columns) == list(rows[0])
    assert len(frame) == len(rows) == 3 + 4
    for (_, got), want in zip(frame.iterrows(), rows, strict=True):
        assert got["structure"] == want["structure"]
        for column in frame.columns[1:]:
            if want[column] == "":
                assert math.isnan(got[column])  # the last edge starts no bin
            else:
                assert got[column] == pytest.approx(float(want[column]), rel=1e-5)
    assert frame["dose_gy"].dtype == np.float64
    # the single-DVH method is the same table
    pd.testing.assert_frame_equal(dvhs[0].to_pandas(), frame.iloc[:3])


def test_metrics_frame_is_indexed_by_structure() -> None:
    rows = [dose_metrics(h, prescription_gy=1.0) for h in _two_dvhs()]
    frame = metrics_to_pandas(rows)
    assert list(frame.index) == ["PTV", "Cord"]
    assert list(frame.columns) == [k for k in rows[0] if k != "structure"]
    for row in rows:
        for key, value in row.items():
            if key != "structure":
                assert frame.loc[row["structure"], key] == pytest.approx(value, nan_ok=True)
    # closed form: the PTV's cumulative DVH falls from 75 % at 1 Gy to 0 at 2 Gy
    assert frame.loc["PTV", "v100_percent"] == pytest.approx(75.0)
    assert metrics_to_pandas([]).empty


def test_goal_table_frame() -> None:
    ptv = Cylinder(10.0, -10.0, 8, 2.5, name="PTV").structure
    g = dose_grid(2.5, (-25, -25, -25), (25, 25, 25))
    dose = linear_dose(g, 20.0, (0.0, 0.0, 0.5))
    table = evaluate_goals(
        ["PTV D50% >= 19.9 Gy", "PTV Dmax <= 24 Gy", "Lung Dmean <= 1 Gy"],
        dose,
        rtplan.StructureSet(structures=(ptv,)),
        missing="report",
    )
    frame = table.to_pandas()
    assert list(frame.columns) == [
        "structure",
        "goal",
        "measured",
        "unit",
        "result",
        "passed",
        "note",
    ]
    assert frame["result"].tolist() == ["PASS", "FAIL", "N/A"]
    assert frame["passed"].tolist() == [True, False, None]
    # the ramp 20 + 0.5 z Gy over z in [-10, 10] mm: median 20 Gy, maximum 25 Gy
    assert frame.loc[0, "measured"] == pytest.approx(20.0, abs=0.02)
    assert frame.loc[1, "measured"] == pytest.approx(25.0, abs=0.1)
    assert math.isnan(frame.loc[2, "measured"])
    assert frame.loc[2, "note"] == "no such structure"
    assert frame.attrs["dose"] == table.dose_basis


def test_without_pandas_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    h = _two_dvhs()[0]
    with pytest.raises(MissingDependencyError, match=r"pip install 'rtplan\[pandas\]'"):
        h.to_pandas()
    with pytest.raises(MissingDependencyError, match="metrics table"):
        metrics_to_pandas([dose_metrics(h)])
