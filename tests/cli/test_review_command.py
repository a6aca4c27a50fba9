"""`rtplan review`: the interactive page from a study, an RT Dose and a trajectory folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest

import rtplan
from rtplan.cli.main import main


def _data(page: Path) -> dict:  # type: ignore[type-arg]
    text = page.read_text(encoding="utf-8")
    found = re.search(r'id="rtplan-data">(.*?)</script>', text, re.S)
    assert found
    return json.loads(found.group(1))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def thigh_dose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40 Gy block around the thigh PTV, as an RT Dose on a 4 mm grid."""
    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    grid = study.ct.grid.with_spacing(4.0)
    r_mm = np.linalg.norm(grid.centers_mm() - study.structures["PTV"].centroid_mm, axis=-1)
    dose = rtplan.Dose(array=np.where(r_mm < 40.0, 40.0, 5.0), grid=grid)
    rd = tmp_path_factory.mktemp("rd") / "RD.dcm"
    rtplan.io.write_rtdose(dose, rd, reference=study.ct, plan_sop_uid=pydicom.uid.generate_uid())
    return rd


def test_review_with_dose_levels_and_colours(
    thigh_dose: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "review.html"
    argv = [
        "review", str(rtplan.data.get_path("thigh_sarcoma")), "--dose", str(thigh_dose),
        "--prescription-gy", "40", "--isodose-percent", "100", "50", "--isodose-color",
        "50=#00ffff", "-o", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    assert f"review page written to {out}" in capsys.readouterr().out
    data = _data(out)
    assert data["dose"]["reference_gy"] == 40.0
    assert data["dose"]["reference"] == "Rx"
    levels = {lev["percent"]: lev["color"] for lev in data["dose"]["levels"]}
    assert levels == {100.0: [255, 255, 0], 50.0: [0, 255, 255]}
    # the PTV is cyan in the RT Structure Set: it must give way to the cyan 50 % line
    ptv = next(s for s in data["structures"] if s["name"] == "PTV")
    assert ptv["original_color"] == [0, 255, 255]
    assert ptv["color"] != [0, 255, 255]
    # dose sampled on the CT: 40 Gy at the PTV centre, within the 16-bit step
    assert abs(65535 * data["dose"]["scale_gy"] - 40.0) < 1e-6


def test_review_draws_trajectory_table(tmp_path: Path) -> None:
    folder = tmp_path / "trj"
    folder.mkdir()
    row = {"rank": 1, "entry_x_mm": 10.0, "entry_y_mm": -80.0, "entry_z_mm": -316.0,
           "target_x_mm": 0.0, "target_y_mm": 0.0, "target_z_mm": -316.0}  # fmt: skip
    (folder / "trajectories.json").write_text(json.dumps({"trajectories": [row]}))
    out = tmp_path / "spine.html"
    spine = str(rtplan.data.get_path("spine_metastasis"))
    assert main(["review", spine, "--trajectory", str(folder), "-o", str(out)]) == 0
    data = _data(out)
    (t,) = data["trajectories"]
    assert t["entry_mm"] == [10.0, -80.0, -316.0]
    assert t["length_mm"] == pytest.approx(80.6226, 1e-4)
    assert data["focus_mm"] == [0.0, 0.0, -316.0]
    # 10 mm to the left over 80 mm down (supine: LPS +y is down): atan(10/80) = 7.1°
    assert t["words"].startswith("7° from vertical, from the patient's left; tilt none;")
    assert t["words"].endswith("skin to target 81 mm: 10 cm needle")
    # the needle plane: orthonormal screen axes, the needle in the plane
    plane = t["plane"]
    axes = np.array([plane["right"], plane["down"], plane["normal"]])
    np.testing.assert_allclose(axes @ axes.T, np.eye(3), atol=1e-12)
    needle = np.subtract(t["target_mm"], t["entry_mm"])
    assert abs(float(needle @ axes[2])) < 1e-9
    assert plane["origin"] == t["target_mm"]
    assert "dose" not in data


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--isodose-percent", "100", "-5"], "--isodose-percent must be a positive number"),
        (["--isodose-color", "95=purpleish"], "give PERCENT=COLOUR"),
        (["--trajectory", "{tmp}"], "no trajectories.json there"),
    ],
)
def test_review_bad_options(
    tmp_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    thigh = str(rtplan.data.get_path("thigh_sarcoma"))
    argv = ["review", thigh, *[e.replace("{tmp}", str(tmp_path)) for e in extra]]
    try:
        status = main([*argv, "-o", str(tmp_path / "r.html")])
    except SystemExit as exc:  # argparse refuses a bad option value
        status = int(exc.code or 0)
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
