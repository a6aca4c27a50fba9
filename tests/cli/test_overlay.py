"""Tests of ``rtplan overlay``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage

from rtplan.cli.main import main


def test_overlay_command_renders_a_plane(
    thigh_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], dciodvfy
) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "axial.png"
    sc = tmp_path / "sc.dcm"
    status = main(
        [
            "overlay",
            str(thigh_path),
            "--plane",
            "axial",
            "--at-mm",
            "-644",
            "--structures",
            "GTV",
            "Femur",
            "NVBundle",
            "--window",
            "bone",
            "-o",
            str(png),
            "--dicom",
            str(sc),
        ]
    )
    assert status == 0
    assert "wrote" in capsys.readouterr().out
    img = np.asarray(PILImage.open(png).convert("RGB"))
    assert img.ndim == 3
    assert min(img.shape[:2]) >= 128
    assert dciodvfy(sc) == []
    ds = pydicom.dcmread(sc)
    assert list(ds.PatientOrientation) == ["L", "P"]
    np.testing.assert_array_equal(ds.pixel_array, img)


def test_overlay_command_draws_a_planned_trajectory(spine_path: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    assert (
        main(
            [
                "trajectory",
                str(spine_path),
                "--target",
                "GTV",
                "--avoid",
                "SpinalCanal",
                "--approach",
                "posterior",
                "--clearance-mm",
                "3",
                "--no-dicom",
                "-o",
                str(plan),
            ]
        )
        == 0
    )
    a = tmp_path / "with.png"
    b = tmp_path / "without.png"
    args = ["overlay", str(spine_path), "--plane", "oblique", "--structures", "GTV"]
    assert main([*args, "--trajectory", str(plan / "trajectories.json"), "-o", str(a)]) == 0
    assert main(["overlay", str(spine_path), "--structures", "GTV", "-o", str(b)]) == 0
    img = np.asarray(PILImage.open(a).convert("RGB"))
    cyan = np.all(img == [0, 255, 255], axis=-1)
    assert cyan.sum() > 100  # the needle is drawn


def test_overlay_command_errors(spine_path: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert (
        main(["overlay", str(spine_path), "--plane", "oblique", "-o", str(tmp_path / "x.png")]) == 2
    )
    assert "needs a trajectory" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    status = main(
        ["overlay", str(spine_path), "--trajectory", str(bad), "-o", str(tmp_path / "y.png")]
    )
    assert status == 2
    assert "not a trajectories.json" in capsys.readouterr().err


def _restage(src: Path, dst: Path, position: str) -> Path:
    """The study as scanned in another Patient Position: same anatomy in LPS, pixels stored
    as a scanner stores them (FFS: IOP -1,0,0,0,1,0; HFP: IOP -1,0,0,0,-1,0)."""
    import shutil

    dst.mkdir()
    for f in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        if ds.Modality != "CT":
            shutil.copy(f, dst / f.name)
            continue
        a = ds.pixel_array
        rows, cols = a.shape
        dr, dc = (float(v) for v in ds.PixelSpacing)
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        if position == "FFS":  # first pixel: the patient's far left, anterior
            a, iop = a[:, ::-1], [-1, 0, 0, 0, 1, 0]
            ipp = ipp + np.array([(cols - 1) * dc, 0.0, 0.0])
        else:  # HFP: first pixel at the far left, posterior
            a, iop = a[::-1, ::-1], [-1, 0, 0, 0, -1, 0]
            ipp = ipp + np.array([(cols - 1) * dc, (rows - 1) * dr, 0.0])
        ds.PixelData = np.ascontiguousarray(a).tobytes()
        ds.ImageOrientationPatient = iop
        ds.ImagePositionPatient = [f"{v:.4f}" for v in ipp]
        ds.PatientPosition = position
        ds.save_as(dst / f.name)
    return dst


@pytest.mark.parametrize(
    ("position", "kidney_side", "orientation"),
    [("HFS", "right", ["L", "P"]), ("FFS", "right", ["L", "P"]), ("HFP", "left", ["R", "A"])],
)
def test_overlay_orientation_through_dicom(  # type: ignore[no-untyped-def]
    spine_path: Path, tmp_path: Path, dciodvfy, position: str, kidney_side: str, orientation
) -> None:
    """Read from DICOM in each position, the left kidney is where a radiologist expects it:
    on the image's right for HFS and FFS (viewed from the feet), on its left for HFP."""
    study = spine_path if position == "HFS" else _restage(spine_path, tmp_path / position, position)
    png = tmp_path / f"{position}.png"
    sc = tmp_path / f"{position}.dcm"
    args = ["overlay", str(study), "--structures", "Kidney_L", "-o", str(png), "--dicom", str(sc)]
    assert main(args) == 0
    img = np.asarray(PILImage.open(png).convert("RGB")).astype(int)
    color = np.array(pydicom.dcmread(study / "RS.dcm").ROIContourSequence[4].ROIDisplayColor)
    assert pydicom.dcmread(study / "RS.dcm").StructureSetROISequence[4].ROIName == "Kidney_L"
    cc = np.nonzero(np.all(img == color, axis=-1))[1]
    assert cc.size > 50
    assert (cc.mean() > img.shape[1] / 2) == (kidney_side == "right")
    assert dciodvfy(sc) == []
    assert list(pydicom.dcmread(sc).PatientOrientation) == orientation


def test_overlay_burns_identifiers_only_when_asked(  # type: ignore[no-untyped-def]
    thigh_path: Path, tmp_path: Path, dciodvfy
) -> None:
    images = {}
    for flag in ([], ["--show-patient"]):
        name = "with" if flag else "without"
        png, sc = tmp_path / f"{name}.png", tmp_path / f"{name}.dcm"
        args = ["overlay", str(thigh_path), "--structures", "GTV", "-o", str(png)]
        assert main([*args, "--dicom", str(sc), *flag]) == 0
        images[name] = np.asarray(PILImage.open(png).convert("RGB"))
        ds = pydicom.dcmread(sc)
        assert ds.BurnedInAnnotation == ("YES" if flag else "NO")
        assert dciodvfy(sc) == []
    changed = np.any(images["with"] != images["without"], axis=2)
    rr, cc = np.nonzero(changed)
    assert rr.size > 100  # the name and ID are drawn when asked
    cols = images["with"].shape[1]
    assert cc.min() > cols / 2  # top right, nowhere else
    assert rr.max() < 80


def test_overlay_plugin_layer(  # type: ignore[no-untyped-def]
    thigh_path: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from importlib.metadata import EntryPoint

    from rtplan import plugins

    monkeypatch.syspath_prepend(
        str(Path(__file__).resolve().parents[2] / "plugins" / "rtplan-mmgrid" / "src")
    )
    ep = EntryPoint(
        name="mm-grid", value="rtplan_mmgrid:MillimetreGrid", group="rtplan.overlay_layers"
    )
    monkeypatch.setattr(plugins, "entry_points", lambda group: [ep] if group == ep.group else [])
    plugins.clear_cache()
    try:
        base = ["overlay", str(thigh_path), "--structures", "GTV"]
        assert main([*base, "-o", str(tmp_path / "a.png")]) == 0
        assert main([*base, "--layer", "mm-grid", "-o", str(tmp_path / "b.png")]) == 0
        a = np.asarray(PILImage.open(tmp_path / "a.png").convert("RGB"))
        b = np.asarray(PILImage.open(tmp_path / "b.png").convert("RGB"))
        grid_green = np.all(b == (90, 170, 90), axis=-1) & ~np.all(a == (90, 170, 90), axis=-1)
        assert grid_green.sum() > 1000  # the grid's lines
        assert main([*base, "--layer", "nope", "-o", str(tmp_path / "c.png")]) == 2
        assert "unknown overlay layer 'nope'" in capsys.readouterr().err
    finally:
        plugins.clear_cache()


def test_overlay_isodoses_use_the_prescription_of_the_referenced_plan(  # type: ignore[no-untyped-def]
    thigh_path: Path, tmp_path: Path, capsys
) -> None:
    """An RT Dose written by ``rtplan dose`` sits next to its RT Plan: the isodoses are in %
    of that plan's prescription, not of the dose maximum; without the plan, the output and
    the legend say that they are in % of the maximum."""
    import shutil

    import rtplan
    from rtplan.guidance._draw import Canvas

    study = rtplan.load_study(thigh_path)
    ct = study.ct
    ptv = study.structures["PTV"]
    grid = ct.grid.with_spacing(5.0)
    r2 = np.sum((grid.centers_mm() - np.asarray(ptv.centroid_mm)) ** 2, axis=-1)
    dose = rtplan.Dose(array=36.0 * np.exp(-r2 / 2000.0), grid=grid)
    uid = pydicom.uid.generate_uid()
    plan = rtplan.Plan(
        beams=[rtplan.Beam(energy="6X", gantry_deg=0.0, isocenter_mm=ptv.centroid_mm, mu=100.0)],
        prescription_gy=30.0,
        fractions=10,
    )
    out = tmp_path / "out"
    rtplan.io.write_rtplan(plan, out / "RP.dcm", reference=ct, sop_instance_uid=uid)
    rd = rtplan.io.write_rtdose(dose, out / "RD.dcm", reference=ct, plan_sop_uid=uid)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(rd, alone / "RD.dcm")
    dmax = float(np.max(rtplan.io.read_rtdose(rd).array))
    assert 30.0 < dmax <= 36.0

    def title(text: str) -> np.ndarray:
        ref = np.zeros((24, 120, 3), dtype=np.uint8)
        Canvas(ref).rect(0, 0, 120, 24, (24, 24, 24))
        Canvas(ref).text(text, 8, 8, (255, 255, 255), size_px=12)
        return ref

    for dose_file, stdout, legend in (
        (
            rd,
            f"isodoses in % of the prescription 30 Gy (from RT Plan {out / 'RP.dcm'})",
            "Rx 30 Gy",
        ),
        (alone / "RD.dcm", "no prescription found", f"Dmax {dmax:.3g} Gy"),
    ):
        png = tmp_path / "view.png"
        assert main(["overlay", str(thigh_path), "--dose", str(dose_file), "-o", str(png)]) == 0
        assert stdout in capsys.readouterr().out
        img = np.asarray(PILImage.open(png).convert("RGB"))
        np.testing.assert_array_equal(img[:24, -120:], title(legend))
    # an explicit --prescription-gy wins
    png = tmp_path / "rx.png"
    assert main(["overlay", str(thigh_path), "--dose", str(rd), "--prescription-gy", "25",
                 "-o", str(png)]) == 0  # fmt: skip
    assert "isodoses in %" not in capsys.readouterr().out
    img = np.asarray(PILImage.open(png).convert("RGB"))
    np.testing.assert_array_equal(img[:24, -120:], title("Rx 25 Gy"))


def test_overlay_default_plane_goes_through_the_target(thigh_path: Path) -> None:
    """Without --at-mm the planes go through the first PTV (else CTV, GTV), not through the
    first structure of the set (the body outline)."""
    import rtplan
    from rtplan.cli.overlay import target_first
    from rtplan.guidance import overlay_view

    study = rtplan.load_study(thigh_path)
    drawn = [s for s in study.structures if s.has_volume]
    assert drawn[0].name == "Body"
    ordered = target_first(drawn)
    assert ordered[0].name == "PTV"
    assert sorted(s.name for s in ordered) == sorted(s.name for s in drawn)
    centre = np.asarray(study.structures["PTV"].centroid_mm)
    for plane, axis in (("axial", 2), ("coronal", 1), ("sagittal", 0)):
        view = overlay_view(study.ct, plane=plane, structures=ordered)
        assert view.at_mm == pytest.approx(centre[axis])
    no_target = [s for s in drawn if s.interpreted_type not in ("PTV", "CTV", "GTV")]
    assert target_first(no_target) == no_target
