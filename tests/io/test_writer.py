"""The DICOM writer shell (rtplan.io.new_dataset / save_dataset / stamp_dataset)."""

from __future__ import annotations

import importlib.metadata
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

import rtplan
import rtplan.io
from rtplan import Image
from rtplan.errors import DicomWriteError
from rtplan.image import SeriesInfo

SC = "1.2.840.10008.5.1.4.1.1.7"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"


@pytest.fixture(scope="module")
def ct(thigh_path: Path) -> Image:
    return rtplan.io.read_ct(thigh_path)


def _series(ct: Image) -> SeriesInfo:
    assert ct.series is not None
    return ct.series


def test_version_lives_in_its_own_module() -> None:
    from rtplan._version import __version__

    assert rtplan.__version__ is __version__
    assert __version__ == importlib.metadata.version("rtplan")


def test_new_dataset_joins_the_reference_study(ct: Image) -> None:
    series = _series(ct)
    ds = rtplan.io.new_dataset(
        sop_class_uid=RT_DOSE, modality="RTDOSE", reference=ct, series_description="dose"
    )
    assert ds.file_meta.MediaStorageSOPClassUID == RT_DOSE
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.StudyInstanceUID == series.study_instance_uid
    assert ds.FrameOfReferenceUID == series.frame_of_reference_uid
    assert ds.PositionReferenceIndicator == ""
    assert ds.SeriesInstanceUID != series.series_instance_uid
    assert ds.SeriesDescription == "dose"
    assert ds.SeriesNumber == 1
    assert "InstanceNumber" not in ds
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):  # fmt: skip
        assert key in ds  # Type 2: present, empty when unknown
        assert str(ds.get(key)) == str(series.patient.get(key, "")), key
    assert ds.Manufacturer == ds.ManufacturerModelName == rtplan.io.MANUFACTURER == "rtplan"
    assert ds.SoftwareVersions == rtplan.__version__
    assert ds.SeriesDate == ds.InstanceCreationDate
    again = rtplan.io.new_dataset(sop_class_uid=RT_DOSE, modality="RTDOSE", reference=ct)
    assert again.SOPInstanceUID != ds.SOPInstanceUID
    assert again.SeriesInstanceUID != ds.SeriesInstanceUID
    assert "SeriesDescription" not in again


@pytest.mark.parametrize("kind", ["series", "dataset"])
def test_new_dataset_takes_a_series_or_a_dataset(ct: Image, kind: str) -> None:
    series = _series(ct)
    reference: Any = series
    if kind == "dataset":
        reference = pydicom.dcmread(series.files[0], stop_before_pixels=True)
    ds = rtplan.io.new_dataset(
        sop_class_uid=SC,
        modality="OT",
        reference=reference,
        frame_of_reference=False,
        series_instance_uid="1.2.826.0.1.3680043.10.77",
        series_number=900,
        instance_number=3,
        sop_instance_uid="1.2.826.0.1.3680043.10.78",
    )
    assert ds.StudyInstanceUID == series.study_instance_uid
    assert ds.PatientID == series.patient["PatientID"]
    assert ds.SeriesInstanceUID == "1.2.826.0.1.3680043.10.77"
    assert (ds.SeriesNumber, ds.InstanceNumber) == (900, 3)
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert "FrameOfReferenceUID" not in ds


def test_new_dataset_refuses_what_it_cannot_place(ct: Image) -> None:
    bare = Image(array=ct.array, grid=ct.grid)
    with pytest.raises(DicomWriteError, match=r"an RT Dose: the reference carries no DICOM study"):
        rtplan.io.new_dataset(sop_class_uid=RT_DOSE, modality="RTDOSE", reference=bare)
    no_frame = replace(_series(ct), frame_of_reference_uid="")
    with pytest.raises(DicomWriteError, match=r"no DICOM study and no frame of reference"):
        rtplan.io.new_dataset(sop_class_uid=RT_DOSE, modality="RTDOSE", reference=no_frame)
    # a capture needs no frame of reference
    ds = rtplan.io.new_dataset(
        sop_class_uid=SC, modality="OT", reference=no_frame, frame_of_reference=False
    )
    assert ds.Modality == "OT"
    with pytest.raises(DicomWriteError, match=r"series_description exceeds 64 characters \(65\)"):
        rtplan.io.new_dataset(
            sop_class_uid=SC, modality="OT", reference=ct, series_description="x" * 65
        )
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['series_colour'\]"):
        rtplan.io.new_dataset(
            sop_class_uid=SC,
            modality="OT",
            reference=ct,
            series_colour="red",  # type: ignore[call-arg]
        )


def test_stamp_dataset_marks_rtplan(ct: Image) -> None:
    import datetime

    ds = Dataset()
    rtplan.io.stamp_dataset(ds, now=datetime.datetime(2026, 1, 2, 3, 4, 5))
    assert (ds.InstanceCreationDate, ds.InstanceCreationTime) == ("20260102", "030405")
    assert (ds.Manufacturer, ds.SoftwareVersions) == ("rtplan", rtplan.__version__)


def _capture(ct: Image) -> Dataset:
    return rtplan.io.new_dataset(
        sop_class_uid=SC, modality="OT", reference=ct, frame_of_reference=False
    )


def test_save_dataset_writes_and_replaces(ct: Image, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "OT.dcm"
    first = _capture(ct)
    assert rtplan.io.save_dataset(first, target) == target
    second = _capture(ct)
    rtplan.io.save_dataset(second, target)
    assert pydicom.dcmread(target).SOPInstanceUID == second.SOPInstanceUID
    assert [p.name for p in target.parent.iterdir()] == ["OT.dcm"]


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_failed_save_leaves_the_target_and_no_temporary_file(
    ct: Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    target = tmp_path / "OT.dcm"
    old = _capture(ct)
    rtplan.io.save_dataset(old, target)
    before = target.read_bytes()

    def fail_half_way(self: Dataset, fp: Any, *args: Any, **kwargs: Any) -> None:
        fp.write(b"\0" * 200)  # some bytes reach the temporary file, then it fails
        raise error

    monkeypatch.setattr(Dataset, "save_as", fail_half_way)
    new = _capture(ct)
    if isinstance(error, OSError):
        with pytest.raises(DicomWriteError, match=r"cannot write .*OT\.dcm: No space left"):
            rtplan.io.save_dataset(new, target)
    else:
        with pytest.raises(KeyboardInterrupt):
            rtplan.io.save_dataset(new, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["OT.dcm"]


def test_a_failed_writer_leaves_nothing(ct: Image, tmp_path: Path) -> None:
    """A writer whose dataset cannot be encoded writes no file at all."""
    dose = rtplan.Dose(array=np.ones(ct.grid.shape), grid=ct.grid)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "RD.dcm").mkdir()  # the target is a folder: the rename fails
    with pytest.raises(DicomWriteError, match=r"cannot write .*RD\.dcm"):
        rtplan.io.write_rtdose(dose, folder / "RD.dcm", reference=ct, plan_sop_uid="1.2.3")
    assert [p.name for p in folder.iterdir()] == ["RD.dcm"]
    assert (folder / "RD.dcm").is_dir()


def test_save_dataset_needs_file_meta(tmp_path: Path) -> None:
    ds = Dataset()
    ds.PatientID = "X"
    with pytest.raises(DicomWriteError, match=r"no file meta with a Transfer Syntax UID"):
        rtplan.io.save_dataset(ds, tmp_path / "x.dcm")
    assert not list(tmp_path.iterdir())


def test_laterality_follows_the_ct(ct: Image, spine_path: Path) -> None:
    assert rtplan.io.series_laterality(ct) == ("R", "THIGH")
    spine = rtplan.io.read_ct(spine_path)
    assert rtplan.io.series_laterality(spine) == (None, "LSPINE")
    ds = _capture(ct)
    rtplan.io.set_laterality(ds, ct)
    assert (ds.Laterality, ds.BodyPartExamined) == ("R", "THIGH")
    ds.Laterality = "L"
    rtplan.io.set_laterality(ds, spine)  # an unpaired part: no Laterality at all
    assert "Laterality" not in ds
    assert ds.BodyPartExamined == "LSPINE"
    unknown = replace(ct, series=replace(_series(ct), files=()))
    assert rtplan.io.series_laterality(unknown) == ("", "")


def test_io_lazy_names_are_all_public() -> None:
    import rtplan.io as rio

    assert sorted(rio._LAZY) == sorted(rio.__all__)
    for name in rio.__all__:
        assert getattr(rio, name) is not None, name


def test_ct_slice_datasets_are_the_slices_read(ct: Image, tmp_path: Path) -> None:
    series = _series(ct)
    slices = rtplan.io.ct_slice_datasets(ct, what="PR.dcm")
    assert [d.SOPInstanceUID for d in slices] == list(series.sop_instance_uids)
    assert "PixelData" not in slices[0]
    assert "PixelData" in rtplan.io.ct_slice_datasets(ct, what="PR.dcm", pixels=True)[0]
    files = list(series.files)
    swapped = replace(ct, series=replace(series, files=(files[1], files[0], *files[2:])))
    with pytest.raises(DicomWriteError, match=r"PR\.dcm: CT file .* no longer holds slice"):
        rtplan.io.ct_slice_datasets(swapped, what="PR.dcm")
    bad = tmp_path / "CT_bad.dcm"
    bad.write_text("not DICOM")
    broken = replace(ct, series=replace(series, files=(bad, *files[1:])))
    with pytest.raises(DicomWriteError, match=r"CT file .*CT_bad\.dcm is unreadable"):
        rtplan.io.ct_slice_datasets(broken, what="PR.dcm")
    with pytest.raises(DicomWriteError, match=r"read from DICOM .* one file per slice"):
        rtplan.io.ct_slice_datasets(replace(ct, series=None), what="PR.dcm")
