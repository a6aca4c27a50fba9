"""Seeded mutations of one DICOM file: what broken exports, disks and hostile inputs do.

Byte-level: ``bitflip`` (1 to 3 bits, in the header half of the time), ``truncate``.
Dataset-level (pydicom reads the file, one element is changed, pydicom writes it back):
``delete`` (any element, in sequences too), ``wrong_vr`` (the value's bytes kept under
another VR of the same header form), ``bad_number`` (NaN, infinity, huge, zero, negative,
empty or non-numeric text in a numeric element), ``empty_sequence``, ``duplicate_item``,
``swap`` (the value of the same element in another file of the corpus). Elements that
carry meaning for the object (geometry, rescale, pixel module, dose meaning, beams,
contours) are picked more often than the others.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag, Tag

__all__ = ["OPERATORS", "Mutation", "mutate"]

OPERATORS = (
    "bitflip",
    "truncate",
    "delete",
    "wrong_vr",
    "bad_number",
    "empty_sequence",
    "duplicate_item",
    "swap",
)
_WEIGHTS = (0.16, 0.06, 0.16, 0.12, 0.22, 0.08, 0.08, 0.12)

SHORT_VRS = (
    *("AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO"),
    *("LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"),
)
LONG_VRS = ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")
NUMERIC_TEXT = ("DS", "IS")
NUMERIC_BINARY = {"US": "<H", "SS": "<h", "UL": "<I", "SL": "<i", "FL": "<f", "FD": "<d"}
BAD_TEXT = (
    b"NaN",
    b"inf",
    b"-inf",
    b"1e308",
    b"-1e308",
    b"1e30",
    b"99999999",
    b"0",
    b"-1",
    b"",
    b"abc",
    b"1.2.3",
    b"--5",
    b"1e-300",
    b"0\\0",
)
BAD_BINARY = (0, 1, -1, 65535, 2**31 - 1, 1e30, float("nan"), float("inf"))

_MEANINGFUL = {
    # geometry and pixels
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PixelData",
    "RescaleSlope",
    "RescaleIntercept",
    "PatientPosition",
    "FrameOfReferenceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
    "Modality",
    "TransferSyntaxUID",
    # dose
    "DoseGridScaling",
    "DoseUnits",
    "DoseType",
    "DoseSummationType",
    "GridFrameOffsetVector",
    "DoseComment",
    "ReferencedRTPlanSequence",
    "ReferencedSOPInstanceUID",
    "ReferencedFractionGroupSequence",
    # structures
    "StructureSetROISequence",
    "ROIContourSequence",
    "ContourSequence",
    "ContourData",
    "NumberOfContourPoints",
    "ContourGeometricType",
    "ROINumber",
    "ReferencedROINumber",
    "ROIName",
    "RTROIInterpretedType",
    "ReferencedFrameOfReferenceUID",
    # plans
    "BeamSequence",
    "BeamNumber",
    "ControlPointSequence",
    "GantryAngle",
    "BeamLimitingDeviceAngle",
    "PatientSupportAngle",
    "NominalBeamEnergy",
    "IsocenterPosition",
    "SourceAxisDistance",
    "LeafJawPositions",
    "LeafPositionBoundaries",
    "RTBeamLimitingDeviceType",
    "NumberOfLeafJawPairs",
    "CumulativeMetersetWeight",
    "FinalCumulativeMetersetWeight",
    "NumberOfControlPoints",
    "FractionGroupSequence",
    "NumberOfFractionsPlanned",
    "ReferencedBeamSequence",
    "ReferencedBeamNumber",
    "BeamMeterset",
    "DoseReferenceSequence",
    "TargetPrescriptionDose",
    "RadiationType",
    "TreatmentDeliveryType",
}


@dataclass(frozen=True, slots=True)
class Mutation:
    """A mutated file: its bytes, the operator and what it changed."""

    operator: str
    detail: str
    data: bytes


@dataclass(frozen=True, slots=True)
class _Element:
    """One element of a dataset tree: where it is and what it is."""

    container: Dataset
    tag: BaseTag
    vr: str
    label: str  # "BeamSequence[0] > GantryAngle" for messages
    keyword: str


def _elements(ds: Dataset, prefix: str = "") -> list[_Element]:
    out: list[_Element] = []
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        vr = str(getattr(raw, "VR", "") or "")
        keyword = pydicom.datadict.keyword_for_tag(tag) or f"{int(tag):08X}"
        label = f"{prefix}{keyword}"
        out.append(_Element(ds, Tag(tag), vr, label, keyword))
        if vr == "SQ":
            try:
                items = ds[tag].value
            except Exception:  # a sequence pydicom cannot parse: not walked
                continue
            for n, item in enumerate(items):
                out.extend(_elements(item, f"{label}[{n}] > "))
    return out


def _pick(rng: np.random.Generator, elements: Sequence[_Element]) -> _Element:
    weights = np.array([5.0 if e.keyword in _MEANINGFUL else 1.0 for e in elements])
    return elements[int(rng.choice(len(elements), p=weights / weights.sum()))]


def _save(ds: Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def _raw(elem: _Element, vr: str, value: bytes) -> RawDataElement:
    if len(value) % 2:
        value += b"\x00" if vr in ("UI", "OB") else b" "
    return RawDataElement(elem.tag, vr, len(value), value, 0, False, True)


def _pixel_data_offset(data: bytes) -> int:
    """Where the Pixel Data value starts (the file length if there is none)."""
    marker = b"\xe0\x7f\x10\x00"
    at = data.rfind(marker)
    return at + 12 if at >= 0 else len(data)


# ---------------------------------------------------------------------------- operators
def _bitflip(rng: np.random.Generator, data: bytes) -> Mutation:
    buf = bytearray(data)
    header_end = _pixel_data_offset(data)
    flips = []
    for _ in range(int(rng.integers(1, 4))):
        end = header_end if rng.random() < 0.5 else len(buf)
        pos = int(rng.integers(132, max(133, end)))
        bit = int(rng.integers(0, 8))
        buf[pos] ^= 1 << bit
        flips.append(f"{pos}:{bit}")
    return Mutation("bitflip", f"bits flipped at byte:bit {', '.join(flips)}", bytes(buf))


def _truncate(rng: np.random.Generator, data: bytes) -> Mutation:
    cut = int(rng.integers(0, len(data)))
    return Mutation("truncate", f"cut at byte {cut} of {len(data)}", data[:cut])


def _delete(rng: np.random.Generator, ds: Dataset, elements: list[_Element]) -> str:
    e = _pick(rng, elements)
    del e.container[e.tag]
    return f"deleted {e.label}"


def _wrong_vr(rng: np.random.Generator, ds: Dataset, elements: list[_Element]) -> str | None:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("TransferSyntaxUID", "")) == "1.2.840.10008.1.2":
        return None  # implicit VR: the file holds no VR to get wrong
    raws = [e for e in elements if isinstance(e.container.get_item(e.tag), RawDataElement)]
    raws = [e for e in raws if e.vr in SHORT_VRS or (e.vr in LONG_VRS and e.vr != "SQ")]
    if not raws:
        return None
    e = _pick(rng, raws)
    family = SHORT_VRS if e.vr in SHORT_VRS else [v for v in LONG_VRS if v != "SQ"]
    new_vr = str(rng.choice([v for v in family if v != e.vr]))
    raw = e.container.get_item(e.tag)
    e.container[e.tag] = raw._replace(VR=new_vr)
    return f"{e.label}: VR {e.vr} -> {new_vr}"


def _bad_number(rng: np.random.Generator, ds: Dataset, elements: list[_Element]) -> str | None:
    numeric = [e for e in elements if e.vr in NUMERIC_TEXT or e.vr in NUMERIC_BINARY]
    if not numeric:
        return None
    e = _pick(rng, numeric)
    if e.vr in NUMERIC_TEXT:
        value = BAD_TEXT[int(rng.integers(0, len(BAD_TEXT)))]
        old = e.container.get_item(e.tag)
        old_value = old.value if isinstance(old, RawDataElement) else None
        if isinstance(old_value, bytes) and b"\\" in old_value and rng.random() < 0.5:
            parts = old_value.rstrip(b" \x00").split(b"\\")  # one value of several
            parts[int(rng.integers(0, len(parts)))] = value
            value = b"\\".join(parts)
        e.container[e.tag] = _raw(e, e.vr, value)
        return f"{e.label} ({e.vr}) = {value[:40]!r}"
    fmt = NUMERIC_BINARY[e.vr]
    number = BAD_BINARY[int(rng.integers(0, len(BAD_BINARY)))]
    try:
        packed = struct.pack(fmt, number if fmt in ("<f", "<d") else int(number))
    except (struct.error, ValueError, OverflowError):
        packed = struct.pack(fmt, 0)
        number = 0
    e.container[e.tag] = _raw(e, e.vr, packed)
    return f"{e.label} ({e.vr}) = {number}"


def _empty_sequence(rng: np.random.Generator, ds: Dataset, elements: list[_Element]) -> str | None:
    seqs = [e for e in elements if e.vr == "SQ"]
    if not seqs:
        return None
    e = _pick(rng, seqs)
    e.container[e.tag] = DataElement(e.tag, "SQ", DicomSequence([]))
    return f"emptied {e.label}"


def _duplicate_item(rng: np.random.Generator, ds: Dataset, elements: list[_Element]) -> str | None:
    seqs = []
    for e in elements:
        if e.vr != "SQ":
            continue
        try:
            if len(e.container[e.tag].value):
                seqs.append(e)
        except Exception:  # an unparsable sequence: not a candidate
            continue
    if not seqs:
        return None
    e = _pick(rng, seqs)
    seq = e.container[e.tag].value
    n = int(rng.integers(0, len(seq)))
    at = int(rng.integers(0, len(seq) + 1))
    seq.insert(at, copy.deepcopy(seq[n]))
    return f"{e.label}: item {n} duplicated at {at}"


def _swap(
    rng: np.random.Generator, ds: Dataset, elements: list[_Element], donors: Sequence[Path]
) -> str | None:
    for _ in range(4):
        if not donors:
            return None
        donor_path = donors[int(rng.integers(0, len(donors)))]
        donor = pydicom.dcmread(donor_path, force=True)
        found = {(e.keyword, e.label.count(">")): e for e in _elements(donor)}
        shared = [e for e in elements if (e.keyword, e.label.count(">")) in found]
        if not shared:
            continue
        e = _pick(rng, shared)
        d = found[(e.keyword, e.label.count(">"))]
        item = d.container.get_item(d.tag)
        if isinstance(item, RawDataElement):
            e.container[e.tag] = item
        else:
            e.container[e.tag] = copy.deepcopy(d.container[d.tag])
        return f"{e.label} taken from {donor_path.parent.name}/{donor_path.name} ({d.label})"
    return None


# ---------------------------------------------------------------------------- entry
def mutate(data: bytes, rng: np.random.Generator, donors: Sequence[Path] = ()) -> Mutation:
    """One seeded mutation of a DICOM file's bytes.

    Parameters
    ----------
    data : bytes
        The clean file.
    rng : numpy.random.Generator
        Seeded: the same generator state gives the same mutation.
    donors : sequence of Path
        Other files of the corpus, whose values ``swap`` copies.

    Returns
    -------
    Mutation
    """
    for _ in range(8):
        op = str(rng.choice(OPERATORS, p=_WEIGHTS))
        if op == "bitflip":
            return _bitflip(rng, data)
        if op == "truncate":
            return _truncate(rng, data)
        ds = pydicom.dcmread(BytesIO(data), force=True)
        elements = _elements(ds)
        changed: Any
        if op == "delete":
            changed = _delete(rng, ds, elements)
        elif op == "wrong_vr":
            changed = _wrong_vr(rng, ds, elements)
        elif op == "bad_number":
            changed = _bad_number(rng, ds, elements)
        elif op == "empty_sequence":
            changed = _empty_sequence(rng, ds, elements)
        elif op == "duplicate_item":
            changed = _duplicate_item(rng, ds, elements)
        else:
            changed = _swap(rng, ds, elements, donors)
        if changed is None:
            continue
        try:
            return Mutation(op, changed, _save(ds))
        except Exception as exc:  # pydicom cannot write this change: try another
            changed = f"{changed} (not writable: {type(exc).__name__})"
            continue
    return _bitflip(rng, data)
