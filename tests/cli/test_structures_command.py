"""Tests of ``rtplan structures``: expressions, edits and the RT Structure Set written."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import ct_factory
import rtplan
from rtplan.cli.main import main
from rtplan.cli.structures import Combine, Margin, Roi, parse_expression
from rtplan.errors import RtplanError

SLICES_Z = [2.0 * k for k in range(30)]  # 2 mm slices, z 0..58 mm


def _square(x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60 x 60 x 30 CT (1 x 1 x 2 mm) with boxes whose edges lie between voxel centres.

    A: x -10..10, y -10..10, 10 slices (z 20..38): 20 x 20 x 20 mm = 8 cm³.
    B: x 0..20, same y and slices: 8 cm³, half of it inside A.
    Body: x -25..25, y -25..25 on every slice: 50 x 50 x 60 mm = 150 cm³.
    """
    folder = tmp_path_factory.mktemp("structures_study")
    vol = np.full((30, 60, 60), -1000.0)
    vol[:, 5:55, 5:55] = 0.0
    paths = ct_factory.write_series(folder / "ct", vol, origin_mm=(-29.5, -29.5, 0.0))
    box = [z for z in SLICES_Z if 20.0 <= z <= 38.0]
    rois = [
        ("Body", "EXTERNAL", [_square(-25, 25, -25, 25, z) for z in SLICES_Z]),
        ("A", "PTV", [_square(-10, 10, -10, 10, z) for z in box]),
        ("B", "ORGAN", [_square(0, 20, -10, 10, z) for z in box]),
        ("Spinal Cord", "ORGAN", [_square(-2, 2, 15, 19, z) for z in box]),
    ]
    ct_factory.write_rtstruct(folder / "RS.dcm", paths, rois=rois, label="Contours")
    return folder


def _run(study: Path, out: Path, *options: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["structures", str(study), *options, "-o", str(out), "--json"]) == 0
    doc: dict = json.loads(capsys.readouterr().out)
    return doc


def _written(study: Path, out: Path) -> rtplan.StructureSet:
    ct = rtplan.load_study(study).ct
    return rtplan.io.read_rtstruct(out, reference=ct)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("PTV+5mm", Margin(Roi("PTV"), 5.0)),
        ("CTV - 3 mm", Margin(Roi("CTV"), -3.0)),
        ("PTV+0.5cm", Margin(Roi("PTV"), 5.0)),
        ("Body-PTV", Combine("-", Roi("Body"), Roi("PTV"))),
        # as in Python: - binds before &, & before |
        (
            "A|B&C-D",
            Combine("|", Roi("A"), Combine("&", Roi("B"), Combine("-", Roi("C"), Roi("D")))),
        ),
        ("(A|B)+5mm", Margin(Combine("|", Roi("A"), Roi("B")), 5.0)),
        ("'Spinal Cord'+3mm", Margin(Roi("Spinal Cord"), 3.0)),
        ('"PTV-High"-"PTV-Low"', Combine("-", Roi("PTV-High"), Roi("PTV-Low"))),
    ],
)
def test_parse_expression(text: str, tree: object) -> None:
    assert parse_expression(text) == tree


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PTV+", "cannot read '\\+'"),
        ("(PTV|CTV", "a '\\)' is missing"),
        ("PTV CTV", "unexpected 'CTV'"),
        ("|PTV", "a structure name is expected before '\\|'"),
        ("", "nothing to compute"),
    ],
)
def test_parse_expression_errors(text: str, message: str) -> None:
    with pytest.raises(RtplanError, match=message):
        parse_expression(text)


def test_booleans_have_the_exact_box_volumes(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RS_new.dcm"
    doc = _run(
        study,
        out,
        "--add",
        "U=A|B",
        "--add",
        "I=A&B",
        "--add",
        "D=A-B",
        "--add",
        "Ring=(A|B)-A",  # uses no name created before, but the grouping of a union
        capsys=capsys,
    )
    rows = {r["name"]: r for r in doc["structures"]}
    # 30 x 20 x 20 mm, 10 x 20 x 20 mm, 10 x 20 x 20 mm, 10 x 20 x 20 mm
    assert rows["U"]["volume_cc"] == pytest.approx(12.0, abs=1e-6)
    assert rows["I"]["volume_cc"] == pytest.approx(4.0, abs=1e-6)
    assert rows["D"]["volume_cc"] == pytest.approx(4.0, abs=1e-6)
    assert rows["Ring"]["volume_cc"] == pytest.approx(4.0, abs=1e-6)
    assert [r["change"] for r in doc["structures"]][-4:] == ["added"] * 4
    assert [r["number"] for r in doc["structures"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    # the file holds what was printed: read back through the RT Struct reader. Contours
    # traced from a voxel mask cut each corner by half a voxel diagonal (0.5 mm² per
    # slice of a 1 mm grid): at most 0.5 % of these boxes
    written = _written(study, out)
    assert written.names == ["Body", "A", "B", "Spinal Cord", "U", "I", "D", "Ring"]
    for s in written:
        assert s.volume_cc == pytest.approx(rows[s.name]["volume_cc"], rel=5e-3), s.name


def test_margin_matches_the_minkowski_volume(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RS.dcm"
    doc = _run(study, out, "--add", "A_4=A+4mm", "--add", "A_in=A-4mm", capsys=capsys)
    rows = {r["name"]: r for r in doc["structures"]}
    a, r = 20.0, 4.0  # a 20 mm cube grown by a 4 mm ball (Steiner's formula)
    steiner = a**3 + 6 * a * a * r + 3 * math.pi * a * r * r + 4 / 3 * math.pi * r**3
    assert rows["A_4"]["volume_cc"] == pytest.approx(steiner / 1000.0, rel=0.05)
    assert rows["A_in"]["volume_cc"] == pytest.approx((a - 2 * r) ** 3 / 1000.0, rel=0.05)


def test_crop_rename_remove_and_names_with_spaces(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RS.dcm"
    doc = _run(
        study,
        out,
        "--add",
        "Big=A+30mm",
        "--add",
        "Cord_PRV='Spinal Cord'+2mm",
        "--crop-to",
        "Body",
        "--remove",
        "B",
        "--rename",
        "A=PTV",
        capsys=capsys,
    )
    rows = {r["name"]: r for r in doc["structures"]}
    assert "B" not in rows
    assert doc["removed"] == ["B"]
    assert rows["PTV"]["change"] == "renamed from A"
    assert rows["PTV"]["number"] == 2
    assert rows["PTV"]["type"] == "PTV"
    # A grown by 30 mm covers the whole body (corner distance 21 mm): cropped, it is the body
    assert rows["Big"]["volume_cc"] == pytest.approx(rows["Body"]["volume_cc"], abs=1e-6)
    assert rows["Body"]["volume_cc"] == pytest.approx(150.0, abs=1e-6)
    assert rows["Cord_PRV"]["volume_cc"] > 4 * 4 * 20 / 1000.0
    assert _written(study, out).names == ["Body", "PTV", "Spinal Cord", "Big", "Cord_PRV"]


def test_text_output_lists_volumes(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RS.dcm"
    assert main(["structures", str(study), "--add", "I=A&B", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote 5 structures to {out}"
    assert lines[-1].split() == ["5", "I", "4.0", "cm³", "(added)"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--add", "X=PTVV+5mm"], "--add 'X=PTVV\\+5mm': no structure named 'PTVV'.*available: "),
        (["--add", "X=A", "--crop-to", "Bdy"], "--crop-to: no structure named 'Bdy'.*Body"),
        (["--rename", "C=D"], "--rename: no structure named 'C'"),
        (["--remove", "Nope"], "--remove: no structure named 'Nope'"),
        (["--rename", "A=B"], "'B' exists already"),
        (["--add", "X"], 'write it as "PTV_5=PTV\\+5mm"'),
        ([], "nothing to do"),
    ],
)
def test_errors_name_the_roi_and_write_nothing(
    study: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    message: str,
) -> None:
    out = tmp_path / "RS.dcm"
    out.write_bytes(b"previous")
    assert main(["structures", str(study), *options, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rtplan structures: error: ")
    assert re.search(message, err), err
    assert out.read_bytes() == b"previous"  # the output is written whole or not at all


def test_later_expressions_use_earlier_names(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RS.dcm"
    doc = _run(study, out, "--add", "U=A|B", "--add", "Rest=U-A", capsys=capsys)
    rows = {r["name"]: r for r in doc["structures"]}
    assert rows["Rest"]["volume_cc"] == pytest.approx(4.0, abs=1e-6)


def test_an_expression_may_replace_the_structure_it_names(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RS.dcm"
    doc = _run(study, out, "--add", "B=B-A", capsys=capsys)
    rows = {r["name"]: r for r in doc["structures"]}
    assert rows["B"]["change"] == "replaced"
    assert rows["B"]["number"] == 3  # the replaced ROI's number and place are kept
    assert [r["name"] for r in doc["structures"]] == ["Body", "A", "B", "Spinal Cord"]
    assert rows["B"]["volume_cc"] == pytest.approx(4.0, abs=1e-6)
