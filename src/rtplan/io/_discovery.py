"""Finding DICOM objects in a folder tree: one header-only pass, then grouping.

The scan reads each file once, without its pixel data and keeping only the attributes
rtplan needs to group files into series and to pick the objects of a study (UIDs,
geometry of CT slices, the references an RT Structure Set, RT Plan or RT Dose holds).
Files that are not DICOM are skipped quietly; DICOM files that cannot be read are
reported with a warning and skipped, so one broken file never stops a scan.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from rtplan._warn import warn
from rtplan.errors import DicomReadError
from rtplan.io._reader import read_dataset

__all__ = [
    "CT_IMAGE_STORAGE",
    "DicomHeader",
    "PathSource",
    "SeriesGroup",
    "format_series_table",
    "group_series",
    "read_header",
    "scan",
]

logger = logging.getLogger(__name__)

PathSource = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR
_MODALITY_OF_CLASS = {
    CT_IMAGE_STORAGE: "CT",
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.481.5": "RTPLAN",
    "1.2.840.10008.5.1.4.1.1.481.2": "RTDOSE",
}

# What the discovery pass keeps of each file (the rest is skipped while parsing).
_HEADER_KEYWORDS = (
    "SpecificCharacterSet",
    "ImageType",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "SeriesDate",
    "ContentDate",
    "StudyTime",
    "SeriesTime",
    "ContentTime",
    "AccessionNumber",
    "Modality",
    "ReferringPhysicianName",
    "StudyDescription",
    "SeriesDescription",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "SliceThickness",
    "SpacingBetweenSlices",
    "GantryDetectorTilt",
    "PatientPosition",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyID",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "FrameOfReferenceUID",
    "SamplesPerPixel",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "PixelSpacing",
    "BitsAllocated",
    "PixelRepresentation",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    # RT Structure Set
    "StructureSetLabel",
    "StructureSetName",
    "StructureSetDate",
    "StructureSetTime",
    "ReferencedFrameOfReferenceSequence",
    "StructureSetROISequence",
    # RT Plan
    "RTPlanLabel",
    "RTPlanName",
    "ReferencedStructureSetSequence",
    # RT Dose
    "DoseSummationType",
    "DoseType",
    "ReferencedRTPlanSequence",
)
_HEADER_TAGS: list[BaseTag | int] = [Tag(k) for k in _HEADER_KEYWORDS]
# Type 1 attributes without which a CT image cannot be placed in a series
_CT_IDENTITY = ("SOPClassUID", "SOPInstanceUID", "Modality", "StudyInstanceUID",
                "SeriesInstanceUID")  # fmt: skip


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


@dataclass(frozen=True, slots=True, eq=False)
class DicomHeader:
    """The header of one DICOM file, read without pixel data.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    dataset : pydicom.dataset.Dataset
        The attributes kept by the scan (no pixel data, no contour data).
    transfer_syntax_uid : str
        From the file meta information (empty if absent).
    """

    path: Path
    dataset: Dataset
    transfer_syntax_uid: str = ""

    @property
    def modality(self) -> str:
        """DICOM Modality, upper case (``"CT"``, ``"RTSTRUCT"``, ...)."""
        return _text(self.dataset, "Modality").upper()

    @property
    def sop_class_uid(self) -> str:
        """SOP Class UID."""
        return _text(self.dataset, "SOPClassUID")

    @property
    def sop_instance_uid(self) -> str:
        """SOP Instance UID."""
        return _text(self.dataset, "SOPInstanceUID")

    @property
    def study_uid(self) -> str:
        """Study Instance UID."""
        return _text(self.dataset, "StudyInstanceUID")

    @property
    def series_uid(self) -> str:
        """Series Instance UID."""
        return _text(self.dataset, "SeriesInstanceUID")

    @property
    def frame_uid(self) -> str:
        """Frame of Reference UID (for an RT Structure Set, that of its contours)."""
        uid = _text(self.dataset, "FrameOfReferenceUID")
        if uid:
            return uid
        refs = self.dataset.get("ReferencedFrameOfReferenceSequence") or []
        for item in refs:
            ref = _text(item, "FrameOfReferenceUID")
            if ref:
                return ref
        return ""

    def get(self, keyword: str, default: Any = None) -> Any:
        """An attribute of the header by keyword, or ``default``."""
        return self.dataset.get(keyword, default)

    def text(self, keyword: str) -> str:
        """An attribute as stripped text (empty if absent)."""
        return _text(self.dataset, keyword)

    @property
    def is_localizer(self) -> bool:
        """True for scout images (Image Type holds ``LOCALIZER``)."""
        image_type = self.dataset.get("ImageType") or []
        if isinstance(image_type, str):
            image_type = [image_type]
        return any(str(v).upper() == "LOCALIZER" for v in image_type)


@dataclass(frozen=True, slots=True, eq=False)
class SeriesGroup:
    """Files sharing one Series Instance UID and one modality.

    Parameters
    ----------
    series_uid, modality : str
        What the files share.
    headers : tuple of DicomHeader
        The files, sorted by path.
    """

    series_uid: str
    modality: str
    headers: tuple[DicomHeader, ...]

    @property
    def description(self) -> str:
        """Series Description of the first file."""
        return self.headers[0].text("SeriesDescription") if self.headers else ""

    @property
    def series_number(self) -> str:
        """Series Number of the first file, as text."""
        return self.headers[0].text("SeriesNumber") if self.headers else ""

    @property
    def frame_uids(self) -> tuple[str, ...]:
        """The distinct Frame of Reference UIDs of the files, in order of appearance."""
        return tuple(dict.fromkeys(h.frame_uid for h in self.headers))

    @property
    def is_localizer(self) -> bool:
        """True if every image of the series is a localizer (scout)."""
        return bool(self.headers) and all(h.is_localizer for h in self.headers)

    @property
    def paths(self) -> list[Path]:
        """The files of the series."""
        return [h.path for h in self.headers]

    def __len__(self) -> int:
        return len(self.headers)


def _looks_like_dicom_without_preamble(path: Path) -> bool:
    """True if a file starts with a group 0x0002 or 0x0008 tag (DICOM without preamble)."""
    try:
        with path.open("rb") as f:
            head = f.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return False
    return head[:2] in (b"\x02\x00", b"\x08\x00")


def _has_preamble(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _reconcile_modality(ds: Dataset, path: Path) -> None:
    """Give a file of a class rtplan reads the Modality of its SOP Class, saying so.

    A CT image, RT Structure Set, RT Plan or RT Dose whose Modality is missing or names
    another modality would otherwise be left out of a study without a word.
    """
    sop_class = _text(ds, "SOPClassUID")
    expected = _MODALITY_OF_CLASS.get(sop_class)
    modality = _text(ds, "Modality").upper()
    if expected is None or modality == expected:
        return
    warn(
        f"{path}: Modality (0008,0060) is {modality or 'missing'!r} but the SOP Class UID "
        f"{sop_class} is that of a {expected} object; the file was read as {expected}"
    )
    ds.Modality = expected


def read_header(path: Path) -> DicomHeader | None:
    """Read the header of one file, or ``None`` if it is not a DICOM file.

    Parameters
    ----------
    path : pathlib.Path
        File to read.

    Returns
    -------
    DicomHeader or None
        ``None`` for files that are not DICOM (skipped quietly) and for DICOM files that
        cannot be parsed (skipped with a warning).
    """
    if _has_preamble(path):
        force = False
    elif _looks_like_dicom_without_preamble(path):
        force = True
    else:
        if path.suffix.lower() == ".dcm":  # meant to be DICOM: say why it is left out
            size = path.stat().st_size if path.is_file() else 0
            what = "an empty file" if size == 0 else f"not a DICOM file ({size} bytes)"
            warn(f"skipping {path}: named .dcm but {what}; copy or export it again")
        else:
            logger.debug("skipping %s: not a DICOM file", path)
        return None
    try:
        ds = read_dataset(
            path,
            "file",
            stop_before_pixels=True,
            specific_tags=_HEADER_TAGS,
            force=force,
            decode_text=True,
        )
    except DicomReadError as exc:
        warn(f"skipping unreadable DICOM file {path}: {str(exc).removeprefix(f'{path}: ')}")
        return None
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == (
        _MEDIA_STORAGE_DIRECTORY
    ):
        logger.debug("skipping DICOMDIR %s", path)
        return None
    if "SOPClassUID" not in ds and "Modality" not in ds:
        warn(
            f"skipping {path}: a DICOM file without SOP Class UID or Modality (truncated or "
            "incomplete?)"
        )
        return None
    _reconcile_modality(ds, path)
    if _text(ds, "Modality").upper() == "CT" or _text(ds, "SOPClassUID") == CT_IMAGE_STORAGE:
        missing = [k for k in _CT_IDENTITY if not _text(ds, k)]
        if missing:  # a CT image cut short in its header: say so rather than misgroup it
            warn(
                f"skipping {path}: a CT image without {', '.join(missing)} (Type 1); the "
                "file is truncated or incomplete, copy or export it again"
            )
            return None
    tsuid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return DicomHeader(path=path, dataset=ds, transfer_syntax_uid=tsuid)


def _iter_files(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def scan(source: PathSource) -> list[DicomHeader]:
    """Read the headers of every DICOM file in a folder tree or in a list of files.

    Parameters
    ----------
    source : path or sequence of paths
        A folder (searched recursively; hidden files and folders are skipped), a single
        file, or a list of files.

    Returns
    -------
    list of DicomHeader
        In path order. Non-DICOM files are left out quietly; unreadable DICOM files are
        left out with an :class:`~rtplan.errors.RtplanWarning`.

    Raises
    ------
    DicomReadError
        If the folder or a listed file does not exist.
    """
    paths: list[Path]
    if isinstance(source, str | os.PathLike):
        root = Path(source)
        if root.is_dir():
            paths = list(_iter_files(root))
        elif root.is_file():
            paths = [root]
        else:
            raise DicomReadError(f"no such file or folder: {root}")
    else:
        paths = [Path(p) for p in source]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DicomReadError(
                f"{len(missing)} listed file(s) do not exist, e.g. {missing[0]}; "
                "pass existing DICOM files or a folder"
            )
    headers = [h for h in (read_header(p) for p in paths) if h is not None]
    logger.debug("scanned %d files, %d DICOM", len(paths), len(headers))
    return headers


def group_series(headers: Iterable[DicomHeader]) -> dict[str, SeriesGroup]:
    """Group headers by Series Instance UID (and modality).

    Parameters
    ----------
    headers : iterable of DicomHeader

    Returns
    -------
    dict
        ``{series_uid: SeriesGroup}`` in order of first appearance. A series UID shared
        by files of different modalities (invalid DICOM) gets one group per modality,
        keyed ``"<uid> (<modality>)"`` for the later ones.
    """
    buckets: dict[tuple[str, str], list[DicomHeader]] = {}
    for h in headers:
        buckets.setdefault((h.series_uid, h.modality), []).append(h)
    groups: dict[str, SeriesGroup] = {}
    for (uid, modality), hs in buckets.items():
        key = uid if uid not in groups else f"{uid} ({modality})"
        groups[key] = SeriesGroup(
            series_uid=uid, modality=modality, headers=tuple(sorted(hs, key=lambda h: h.path))
        )
    return groups


def format_series_table(groups: Iterable[SeriesGroup]) -> str:
    """Series on one line each: UID, number, description, files, folder (for error messages)."""
    lines = []
    for g in groups:
        desc = g.description or "(no description)"
        number = f"#{g.series_number} " if g.series_number else ""
        scout = ", localizer" if g.is_localizer else ""
        folders = sorted({str(h.path.parent) for h in g.headers})
        where = f" in {folders[0]}" if len(folders) == 1 else f" in {len(folders)} folders"
        lines.append(
            f"series_uid={g.series_uid!r} ({number}{desc!r}, {len(g)} file(s){where}{scout})"
        )
    return "; ".join(lines)
