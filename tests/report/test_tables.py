"""Text tables of dose metrics: the columns, units, alignment and undefined values."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rtplan
from rtplan.evaluate import conformity_metrics, dose_metrics, dvh
from rtplan.report import (
    CONFORMITY_TITLES,
    METRIC_TITLES,
    format_conformity_table,
    format_metrics_table,
    text_table,
)


@pytest.fixture(scope="module")
def slab_dose() -> tuple[rtplan.Dose, rtplan.Structure, rtplan.Structure]:
    """A dose of 10 Gy below z = 0 and 30 Gy above, a box across it and a box above it."""
    grid = rtplan.Grid(shape=(20, 20, 20), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(-19, -19, -19))
    z = grid.centers_mm()[..., 2]
    dose = rtplan.Dose(array=np.where(z < 0.0, 10.0, 30.0), grid=grid)
    across = np.zeros(grid.shape, dtype=bool)
    across[5:15, 5:15, 5:15] = True  # half below z = 0, half above
    above = np.zeros(grid.shape, dtype=bool)
    above[12:14, 2:4, 2:4] = True  # 8 voxels of 8 mm³: 0.064 cm³
    return (
        dose,
        rtplan.Structure.from_mask(across, grid, name="PTV"),
        rtplan.Structure.from_mask(above, grid, name="Tiny"),
    )


def test_text_table_aligns_numbers_right() -> None:
    text = text_table(["name", "value", "note"], [["a", "1.5", "x"], ["long", "10.25", ""]])
    assert text.splitlines() == [
        "name  value  note",
        "----  -----  ----",
        "a       1.5     x",
        "long  10.25",
    ]
    left = text_table(["name", "note"], [["a", "x"]], right=())
    assert left.splitlines()[-1] == "a     x"


def test_metrics_table_of_a_two_level_dose(slab_dose) -> None:  # type: ignore[no-untyped-def]
    dose, ptv, tiny = slab_dose
    rows = [dose_metrics(dvh(dose, s), 20.0) for s in (ptv, tiny)]
    lines = format_metrics_table(rows).splitlines()
    assert len(lines) == 4  # header, rule, two structures
    header = lines[0]
    titles = [METRIC_TITLES[k] for k in METRIC_TITLES if k in rows[0]]
    assert [t for t in titles if t in header] == titles
    assert header.index("Volume [cc]") < header.index("Dmean [Gy]") < header.index("V107%Rx [%]")
    assert set(lines[1]) == {"-", " "}

    def cell(line: str, title: str) -> str:
        """The cell right-aligned under ``title``."""
        end = header.index(title) + len(title)
        return line[:end].split()[-1]

    assert cell(lines[2], "Structure") == "PTV"
    # half the box receives 10 Gy, half 30 Gy: the mean is 20 Gy, half the volume >= 20 Gy
    assert cell(lines[2], "Dmean [Gy]") == "20.00"
    assert cell(lines[2], "Volume [cc]") == f"{ptv.volume_cc:.2f}"
    assert float(cell(lines[2], "V100%Rx [%]")) == pytest.approx(50.0, abs=5.0)
    # the tiny box lies wholly in the 30 Gy half
    assert lines[3].split()[0] == "Tiny"
    assert cell(lines[3], "Dmax [Gy]") == "30.00"
    assert cell(lines[3], "V107%Rx [%]") == "100.00"


def test_undefined_values_are_dashes_and_no_rows_say_so() -> None:
    row = {"structure": "Tiny", "volume_cc": 0.02, "d0_03cc_gy": math.nan, "mean_gy": 1e6}
    lines = format_metrics_table([row]).splitlines()
    assert lines[0].split("  ")[0] == "Structure"
    assert lines[2].split() == ["Tiny", "0.02", "1e+06", "-"]
    assert format_metrics_table([]) == "(no structures)"
    assert format_conformity_table([]) == "(no targets)"


def test_conformity_table_of_a_two_level_dose(slab_dose) -> None:  # type: ignore[no-untyped-def]
    dose, ptv, _ = slab_dose
    row = conformity_metrics(dose, ptv, 20.0)
    lines = format_conformity_table([row, row]).splitlines()
    assert lines[0].split() == " ".join(CONFORMITY_TITLES.values()).split()
    assert len(lines) == 4
    cells = lines[2].split()
    assert cells[:2] == ["PTV", "20.00"]
    # the 30 Gy half of the 40 mm cube of the grid receives the prescription: 32 cm³
    piv = float(row["piv_cc"])
    assert piv == pytest.approx(0.5 * 40.0**3 / 1000.0, rel=1e-6)
    assert f"{piv:.2f}" in cells
