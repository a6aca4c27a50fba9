"""Multi-file exports are all or nothing; their file names never come from DICOM values."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import rtplan
from files.hostile_study import HOSTILE_ROI, HostileStudy
from rtplan._atomic import is_temporary
from rtplan.cli.main import main
from rtplan.errors import DicomWriteError
from rtplan.guidance import export_plan
from rtplan.guidance._export import EXPORT_FILES


@pytest.fixture(scope="module")
def spine() -> tuple[rtplan.io.Study, rtplan.guidance.TrajectoryResult]:
    study = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    s = study.structures
    paths = rtplan.plan_trajectory(
        study.ct, s["GTV"], avoid=[s["SpinalCanal"]], clearance_mm=3.0, approach="posterior",
        n_best=3,
    )  # fmt: skip
    return study, paths


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _export(spine, out: Path, **options):  # type: ignore[no-untyped-def]
    study, paths = spine
    s = study.structures
    return export_plan(paths, study.ct, out, target=s["GTV"], avoided=[s["SpinalCanal"]], **options)


def test_an_export_that_fails_half_way_leaves_the_earlier_set(
    spine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "plan"
    written = _export(spine, out, n_overlays=2)
    assert all(p.is_relative_to(out) and p.is_file() for v in written.values() for p in v)
    before = _files(out)
    assert len([n for n in before if n.startswith("dicom/SC_")]) == 10

    import rtplan.io.capture

    real = rtplan.io.capture.write_secondary_capture
    calls = []

    def fail_on_the_third(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:
            raise DicomWriteError("cannot write SC: injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(rtplan.io.capture, "write_secondary_capture", fail_on_the_third)
    with pytest.raises(DicomWriteError, match="injected failure"):
        _export(spine, out, n_overlays=1, window="bone")
    assert len(calls) == 3
    assert _files(out) == before  # nothing of the new set, the old set whole
    assert not [p for p in out.rglob("*") if is_temporary(p)]


def test_a_new_export_replaces_the_whole_earlier_set(spine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "plan"
    _export(spine, out, n_overlays=2)
    (out / "my_notes.txt").write_text("kept")
    written = _export(spine, out, n_overlays=1)
    now = set(_files(out))
    expected = {str(p.relative_to(out)) for v in written.values() for p in v}
    assert now == expected | {"my_notes.txt"}  # rank 2 of the earlier export is gone
    assert not [n for n in now if "rank2" in n]
    for name in expected:  # every file belongs to the export's declared family
        assert any(Path(name).match(pattern) for pattern in EXPORT_FILES), name


def test_a_new_folder_is_not_left_behind_by_a_failed_export(
    spine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from rtplan.guidance import _export as export_module

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device", "overlays/rank1_axial.png")

    monkeypatch.setattr(export_module, "save_png", broken)
    with pytest.raises(OSError, match="No space left"):
        _export(spine, tmp_path / "a" / "b", dicom=False)
    assert list((tmp_path / "a" / "b").iterdir()) == []  # the folder asked for, empty


def _pair_then_fail(out: Path) -> None:
    from rtplan.cli._common import writing

    with writing(out / "RP.dcm", out / "RD.dcm") as (rp, _):
        rp.write_text("plan 2")
        raise OSError("disk full")


def test_the_dose_pair_is_written_together(tmp_path: Path) -> None:
    from rtplan.cli._common import writing

    out = tmp_path / "dose"
    with writing(out / "RP.dcm", out / "RD.dcm") as (rp, rd):
        rp.write_text("plan 1")
        rd.write_text("dose 1")
    with pytest.raises(OSError, match="disk full"):
        _pair_then_fail(out)
    assert _files(out) == {"RP.dcm": b"plan 1", "RD.dcm": b"dose 1"}


NAME_PATTERNS = [re.compile(p) for p in (
    r"^trajectories\.(csv|json)$",
    r"^overlays/(rank\d+_[a-z_]+|accessibility)\.png$",
    r"^dicom/(RS_trajectory|PR_needle|SC_rank\d+_[a-z_]+)\.dcm$",
)]  # fmt: skip


def test_output_names_never_come_from_dicom_values(
    hostile: HostileStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["trajectory", str(hostile.folder), "--target", "GTV", "--avoid", HOSTILE_ROI,
            "--clearance-mm", "2", "--n-best", "2", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    names = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()]
    assert names
    for name in names:
        assert any(p.match(name) for p in NAME_PATTERNS), name
    assert all(p.resolve().is_relative_to(out.resolve()) for p in out.rglob("*"))
    # the hostile ROI went into the RT Structure Set as a value, not a name
    rs = rtplan.io.read_rtstruct(out / "dicom" / "RS_trajectory.dcm")
    assert HOSTILE_ROI in rs.names
    done = rtplan.io.deidentify(hostile.folder, tmp_path / "anon")
    for p in done.files:
        assert re.fullmatch(r"(CT|RTSTRUCT|RTPLAN|RTDOSE|OT|PR)\.2\.25\.\d+\.dcm", p.name), p
    assert np.all([p.parent == tmp_path / "anon" for p in done.files])
