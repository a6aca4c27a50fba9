"""Tests of study discovery (rtplan.io.study): selection, attachment, summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ct_factory
import rtplan
import rtplan.io
from rtplan.errors import AmbiguousStudyError, DicomReadError, RtplanWarning
from rtplan.io import _discovery
from rtplan.io.study import Study, load_study, select_study, summarize_file


def _ct(folder: Path, series_uid: str, *, frame_uid: str | None = None, n: int = 3) -> list[Path]:
    return ct_factory.write_series(
        folder,
        np.zeros((n, 4, 5)),
        series_uid=series_uid,
        frame_uid=frame_uid,
        study_uid="1.2.826.0.1.3680043.10.1",
        description=f"CT {series_uid[-1]}",
    )


def _select(folder: Path, **kwargs: Any) -> Any:
    return select_study(_discovery.scan(folder), source=str(folder), **kwargs)


# ---------------------------------------------------------------------------- selection
def test_structure_set_picks_its_ct_series(tmp_path: Path) -> None:
    _ct(tmp_path / "ct1", "1.2.826.0.1.1")
    ct2 = _ct(tmp_path / "ct2", "1.2.826.0.1.2")
    rs = ct_factory.write_rtstruct(tmp_path / "RS.dcm", ct2, label="Plan A")
    sel = _select(tmp_path)
    assert sel.ct.series_uid == "1.2.826.0.1.2"
    assert sel.structure_set is not None
    assert sel.structure_set.path == rs
    assert len(sel.ct) == 3


def test_several_ct_series_without_structure_set_is_ambiguous(tmp_path: Path) -> None:
    _ct(tmp_path / "ct1", "1.2.826.0.1.1")
    _ct(tmp_path / "ct2", "1.2.826.0.1.2", n=2)
    with pytest.raises(
        AmbiguousStudyError,
        match=r"2 CT series found.*series_uid=.*'1\.2\.826\.0\.1\.1' \(#1 'CT 1', 3 file"
        r".*'1\.2\.826\.0\.1\.2' \(#1 'CT 2', 2 file",
    ):
        _select(tmp_path)
    sel = _select(tmp_path, series_uid="1.2.826.0.1.2")
    assert sel.ct.series_uid == "1.2.826.0.1.2"
    assert sel.structure_set is None


def test_several_structure_sets_are_ambiguous(tmp_path: Path) -> None:
    ct = _ct(tmp_path / "ct", "1.2.826.0.1.1")
    ct_factory.write_rtstruct(tmp_path / "RS1.dcm", ct, label="Contours A", sop_uid="1.2.826.0.5.1")
    ct_factory.write_rtstruct(
        tmp_path / "RS2.dcm",
        ct,
        label="Contours B",
        sop_uid="1.2.826.0.5.2",
        series_uid="1.2.826.0.6.2",
        rois=[("PTV", "PTV", [])],
    )
    with pytest.raises(
        AmbiguousStudyError,
        match=r"2 RT Structure Sets found.*structure_set_uid=.*'1\.2\.826\.0\.5\.1' "
        r"\('Contours A', 20260101, 0 ROI.*'1\.2\.826\.0\.5\.2' \('Contours B', 20260101, 1 ROI",
    ):
        _select(tmp_path)
    with pytest.raises(AmbiguousStudyError, match=r"2 RT Structure Sets belong to CT series"):
        _select(tmp_path, series_uid="1.2.826.0.1.1")
    sel = _select(tmp_path, structure_set_uid="1.2.826.0.5.2")
    assert sel.structure_set is not None
    assert sel.structure_set.path.name == "RS2.dcm"
    assert sel.ct.series_uid == "1.2.826.0.1.1"
    by_series = _select(tmp_path, structure_set_uid="1.2.826.0.6.2")  # its Series Instance UID
    assert by_series.structure_set is not None
    assert by_series.structure_set.path.name == "RS2.dcm"
    with pytest.raises(DicomReadError, match=r"no RT Structure Set with structure_set_uid='9'"):
        _select(tmp_path, structure_set_uid="9")


def test_structure_set_referencing_a_missing_series_uses_the_same_frame(tmp_path: Path) -> None:
    ct = _ct(tmp_path / "ct", "1.2.826.0.1.1")
    ct_factory.write_rtstruct(tmp_path / "RS.dcm", ct, referenced_series_uid="1.2.826.0.1.99")
    with pytest.warns(
        RtplanWarning, match=r"references CT series 1\.2\.826\.0\.1\.99, which is not in"
    ):
        sel = _select(tmp_path)
    assert sel.ct.series_uid == "1.2.826.0.1.1"
    assert sel.structure_set is not None


def test_structure_set_of_another_frame_is_not_attached(tmp_path: Path) -> None:
    ct = _ct(tmp_path / "ct", "1.2.826.0.1.1")
    ct_factory.write_rtstruct(
        tmp_path / "RS.dcm",
        ct,
        referenced_series_uid="1.2.826.0.1.99",
        frame_uid="1.2.826.0.7.7",
        sop_uid="1.2.826.0.5.9",
    )
    with pytest.warns(RtplanWarning, match=r"ignoring the RT Structure Set .*RS\.dcm"):
        sel = _select(tmp_path)
    assert sel.structure_set is None
    with pytest.raises(
        DicomReadError, match=r"references CT series 1\.2\.826\.0\.1\.99 .*1\.2\.826\.0\.7\.7"
    ):
        _select(tmp_path, structure_set_uid="1.2.826.0.5.9")


def test_chosen_structure_set_and_series_must_match(tmp_path: Path) -> None:
    ct1 = _ct(tmp_path / "ct1", "1.2.826.0.1.1", frame_uid="1.2.826.0.8.1")
    _ct(tmp_path / "ct2", "1.2.826.0.1.2", frame_uid="1.2.826.0.8.2")
    ct_factory.write_rtstruct(tmp_path / "RS.dcm", ct1, sop_uid="1.2.826.0.5.1")
    with pytest.raises(
        DicomReadError,
        match=r"frame of reference 1\.2\.826\.0\.8\.1\) does not belong to CT series "
        r"1\.2\.826\.0\.1\.2 \(frame of reference 1\.2\.826\.0\.8\.2\)",
    ):
        _select(tmp_path, series_uid="1.2.826.0.1.2", structure_set_uid="1.2.826.0.5.1")


def test_plans_and_doses_attach_by_frame_of_reference(tmp_path: Path) -> None:
    ct = _ct(tmp_path / "ct", "1.2.826.0.1.1", frame_uid="1.2.826.0.8.1")
    study_uid = "1.2.826.0.1.3680043.10.1"
    ct_factory.write_rtstruct(tmp_path / "RS.dcm", ct, sop_uid="1.2.826.0.5.1")
    ct_factory.write_rtplan(tmp_path / "RP1.dcm", study_uid=study_uid, frame_uid="1.2.826.0.8.1")
    ct_factory.write_rtplan(
        tmp_path / "RP2.dcm", study_uid=study_uid, frame_uid=None, structure_set_uid="1.2.826.0.5.1"
    )
    ct_factory.write_rtplan(tmp_path / "RP3.dcm", study_uid=study_uid, frame_uid="1.2.826.0.8.3")
    ct_factory.write_rtdose(tmp_path / "RD1.dcm", study_uid=study_uid, frame_uid="1.2.826.0.8.1")
    ct_factory.write_rtdose(tmp_path / "RD2.dcm", study_uid=study_uid, frame_uid="1.2.826.0.8.3")
    with pytest.warns(RtplanWarning) as record:
        sel = _select(tmp_path)
    assert sorted(h.path.name for h in sel.plans) == ["RP1.dcm", "RP2.dcm"]
    assert [h.path.name for h in sel.doses] == ["RD1.dcm"]
    messages = [str(w.message) for w in record]
    assert any("not attaching the RT Plan" in m and "RP3.dcm" in m for m in messages)
    assert any("not attaching the RT Dose" in m and "RD2.dcm" in m for m in messages)


def test_localizer_series_does_not_make_it_ambiguous(tmp_path: Path) -> None:
    def scout(k: int, ds: Any) -> None:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]

    ct_factory.write_series(tmp_path / "scout", np.zeros((1, 4, 5)), series_uid="1.2.9", edit=scout)
    _ct(tmp_path / "ct", "1.2.826.0.1.1")
    assert _select(tmp_path).ct.series_uid == "1.2.826.0.1.1"


def test_no_ct(tmp_path: Path) -> None:
    ct = _ct(tmp_path / "ct", "1.2.826.0.1.1")
    ct_factory.write_rtstruct(tmp_path / "RS.dcm", ct)
    headers = [h for h in _discovery.scan(tmp_path) if h.modality != "CT"]
    with pytest.raises(DicomReadError, match=r"no CT image found.*1 RTSTRUCT"):
        select_study(headers)


# ---------------------------------------------------------------------------- loading
class _Readers:
    """Stand-ins for the RT readers, recording their calls."""

    def __init__(self, fail_dose: bool = False) -> None:
        self.calls: list[tuple[str, Path, Any]] = []
        self.fail_dose = fail_dose

    def rtstruct(self, path: Path, reference: Any = None) -> rtplan.StructureSet:
        self.calls.append(("rtstruct", Path(path), reference))
        square = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], dtype=float)
        contours = [
            rtplan.Contour(points_mm=np.add(square, (0.0, 0.0, z))) for z in (0.0, 2.0, 4.0)
        ]
        box = rtplan.Structure(
            name="Box",
            number=3,
            interpreted_type="PTV",
            contours=tuple(contours),
            slice_thickness_mm=2.0,
        )
        return rtplan.StructureSet(structures=(box,), label="RS", sop_instance_uid="1.2.3")

    def rtplan(self, path: Path) -> rtplan.Plan:
        self.calls.append(("rtplan", Path(path), None))
        return rtplan.Plan(name="P1", prescription_gy=30.0, fractions=10)

    def rtdose(self, path: Path, plan: rtplan.Plan | None = None) -> rtplan.Dose:
        self.calls.append(("rtdose", Path(path), plan))
        if self.fail_dose:
            raise rtplan.errors.DicomReadError(f"bad dose in {path}")
        grid = rtplan.Grid(shape=(2, 3, 4), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
        return rtplan.Dose(array=np.full(grid.shape, 1.5), grid=grid)


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> _Readers:
    r = _Readers()
    monkeypatch.setattr(rtplan.io, "read_rtstruct", r.rtstruct, raising=False)
    monkeypatch.setattr(rtplan.io, "read_rtplan", r.rtplan, raising=False)
    monkeypatch.setattr(rtplan.io, "read_rtdose", r.rtdose, raising=False)
    return r


def _full_study(folder: Path) -> None:
    ct = _ct(folder / "ct", "1.2.826.0.1.1", frame_uid="1.2.826.0.8.1")
    study_uid = "1.2.826.0.1.3680043.10.1"
    ct_factory.write_rtstruct(folder / "RS.dcm", ct)
    ct_factory.write_rtplan(folder / "RP.dcm", study_uid=study_uid, frame_uid="1.2.826.0.8.1")
    ct_factory.write_rtdose(folder / "RD.dcm", study_uid=study_uid, frame_uid="1.2.826.0.8.1")
    _ct(folder / "other", "1.2.826.0.1.2", frame_uid="1.2.826.0.8.2")


def test_load_study_attaches_objects(tmp_path: Path, readers: _Readers) -> None:
    _full_study(tmp_path)
    study = load_study(tmp_path)
    assert isinstance(study, Study)
    assert study.ct.series is not None
    assert study.ct.series.series_instance_uid == "1.2.826.0.1.1"
    assert study.ct.grid.shape == (3, 4, 5)
    kinds = [(k, p.name) for k, p, _ in readers.calls]
    assert kinds == [("rtstruct", "RS.dcm"), ("rtplan", "RP.dcm"), ("rtdose", "RD.dcm")]
    assert readers.calls[0][2] is study.ct  # the structure set is read against the CT
    assert study.structures.names == ["Box"]
    assert len(study.plans) == 1
    assert len(study.doses) == 1
    assert study.path == tmp_path
    assert study.warnings == ()


def test_load_study_without_structure_set_warns_and_collects(tmp_path: Path) -> None:
    _ct(tmp_path, "1.2.826.0.1.1")
    with pytest.warns(RtplanWarning, match=r"no RT Structure Set for CT series 1\.2\.826\.0\.1\.1"):
        study = load_study(tmp_path)
    assert len(study.structures) == 0
    assert study.structures.frame_of_reference_uid == study.ct.series.frame_of_reference_uid  # type: ignore[union-attr]
    assert len(study.warnings) == 1
    assert "no RT Structure Set" in study.warnings[0]


def test_unreadable_dose_is_skipped_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = _Readers(fail_dose=True)
    monkeypatch.setattr(rtplan.io, "read_rtstruct", r.rtstruct, raising=False)
    monkeypatch.setattr(rtplan.io, "read_rtplan", r.rtplan, raising=False)
    monkeypatch.setattr(rtplan.io, "read_rtdose", r.rtdose, raising=False)
    _full_study(tmp_path)
    with pytest.warns(RtplanWarning, match=r"skipping the RT Dose .*RD\.dcm: bad dose"):
        study = load_study(tmp_path)
    assert study.doses == ()
    assert any("bad dose" in w for w in study.warnings)


def test_load_study_errors(tmp_path: Path) -> None:
    with pytest.raises(DicomReadError, match=r"load_study needs a folder, .*nowhere is missing"):
        load_study(tmp_path / "nowhere")
    paths = _ct(tmp_path, "1.2.826.0.1.1")
    with pytest.raises(DicomReadError, match=r"needs a folder, .*CT_0000\.dcm is a file"):
        load_study(paths[0])
    _ct(tmp_path / "b", "1.2.826.0.1.2")
    with pytest.raises(AmbiguousStudyError, match=r"2 CT series found"):
        load_study(tmp_path)


def test_rtplan_top_level_names() -> None:
    assert rtplan.load_study is load_study
    assert rtplan.Study is Study


# ---------------------------------------------------------------------------- summary
def test_summary_is_json_and_measures(tmp_path: Path, readers: _Readers) -> None:
    _full_study(tmp_path)
    study = load_study(tmp_path)
    summary = json.loads(json.dumps(study.summary()))
    assert summary["patient_position"] == "HFS"
    assert summary["patient"] == {"id": "TEST001", "name": "Test^Phantom"}
    ct = summary["ct"]
    assert ct["size"] == {"column": 5, "row": 4, "slice": 3}
    assert ct["spacing_mm"] == {"column": 1.0, "row": 1.0, "slice": 2.0}
    assert ct["extent_mm"] == {"column": 5.0, "row": 4.0, "slice": 6.0}
    # voxel centres at x 0..4, y 0..3, z 0..4: edges half a voxel further out
    assert ct["bounds_mm"] == {"lower": [-0.5, -0.5, -1.0], "upper": [4.5, 3.5, 5.0]}
    assert ct["units"] == "HU"
    assert ct["value_range"] == [0.0, 0.0]
    (box,) = summary["structures"]
    # 3 planes of 10 x 10 mm, each standing for a 2 mm slab: 600 mm³
    assert box["volume_cc"] == pytest.approx(0.6)
    assert box["extent_mm"] == [10.0, 10.0, 4.0]
    assert box["contours"] == 3
    assert box["type"] == "PTV"
    assert box["number"] == 3
    assert summary["plans"][0]["prescription_gy"] == 30.0
    assert summary["doses"][0]["max_gy"] == 1.5
    assert summary["warnings"] == []


# ---------------------------------------------------------------------------- single files
def test_summarize_ct_file(tmp_path: Path) -> None:
    paths = _ct(tmp_path, "1.2.826.0.1.1")
    s = summarize_file(paths[1])
    assert s["modality"] == "CT"
    assert s["sop_class"] == "CT Image Storage"
    assert s["ct"]["size"] == {"column": 5, "row": 4, "slice": 1}
    assert s["ct"]["origin_mm"] == [0.0, 0.0, 2.0]
    assert s["patient_position"] == "HFS"
    json.dumps(s)


def test_summarize_other_file(tmp_path: Path) -> None:
    paths = _ct(tmp_path, "1.2.826.0.1.1")
    ct_factory.write_rtplan(tmp_path / "RP.dcm", study_uid="1.2", frame_uid="1.2.826.0.8.1")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DicomReadError, match=r"x\.txt is not a DICOM file"):
        summarize_file(tmp_path / "x.txt")
    with pytest.raises(DicomReadError, match=r"no such file: .*nothing"):
        summarize_file(tmp_path / "nothing")
    assert summarize_file(paths[0])["series_instance_uid"] == "1.2.826.0.1.1"


# ---------------------------------------------------------------------------- sample data
@pytest.mark.parametrize("name", ["thigh_sarcoma", "spine_metastasis"])
def test_sample_study(name: str) -> None:
    study = load_study(rtplan.data.get_path(name))
    assert len(study.structures) > 3
    assert study.ct.series is not None
    assert study.structures.referenced_series_uid in ("", study.ct.series.series_instance_uid)
    summary = json.loads(json.dumps(study.summary()))
    assert summary["patient_position"] is not None
    volumes = {s["name"]: s["volume_cc"] for s in summary["structures"]}
    assert all(v is None or v >= 0 for v in volumes.values())
    assert any(v is not None and v > 5.0 for v in volumes.values())


def test_load_study_with_the_rtstruct_reader(tmp_path: Path) -> None:
    paths = ct_factory.write_series(
        tmp_path / "ct", np.zeros((4, 20, 20)), origin_mm=(-9.5, -9.5, 0.0), slice_spacing_mm=2.0
    )
    square = np.array([[-5, -5, 0], [5, -5, 0], [5, 5, 0], [-5, 5, 0]], dtype=float)
    contours = [np.add(square, (0.0, 0.0, z)) for z in (2.0, 4.0)]
    ct_factory.write_rtstruct(tmp_path / "RS.dcm", paths, rois=[("GTV", "GTV", contours)])
    study = load_study(tmp_path)
    gtv = study.structures["GTV"]
    assert gtv.volume_cc == pytest.approx(0.4)
    mask = gtv.mask(study.ct.grid)
    # voxel centres at -9.5..9.5 mm: 10 x 10 of them inside the square on slices 1 and 2
    assert mask.sum() == 200
    assert mask[1:3].sum() == 200
    assert study.structures.frame_of_reference_uid == study.ct.series.frame_of_reference_uid  # type: ignore[union-attr]
