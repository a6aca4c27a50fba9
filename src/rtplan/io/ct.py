"""Reading a CT series into an :class:`~rtplan.Image` in Hounsfield units.

The geometry comes from Image Position (Patient) and Image Orientation (Patient), which
are already patient (LPS) coordinates whatever the Patient Position; slices are sorted by
their position along the slice normal (row direction x column direction), never by
Instance Number. A series that does not form a regular volume (a missing slice, uneven
spacing, duplicated positions, gantry tilt, mixed orientations or image sizes) is refused
with a :class:`~rtplan.errors.SeriesGeometryError` that names the files at fault.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.datadict import tag_for_keyword
from pydicom.uid import UID

from rtplan._warn import warn
from rtplan.errors import (
    AmbiguousStudyError,
    DicomReadError,
    MissingDependencyError,
    SeriesGeometryError,
)
from rtplan.grid import Grid
from rtplan.image import Image, PatientPosition, SeriesInfo
from rtplan.io import _discovery
from rtplan.io._discovery import DicomHeader, PathSource, SeriesGroup
from rtplan.io._reader import (
    PATIENT_STUDY_KEYWORDS,
    check_array_bytes,
    integer,
    pixel_values,
    read_dataset,
)

__all__ = ["read_ct"]

logger = logging.getLogger(__name__)

POSITION_TOL_MM = 0.01
"""Absolute tolerance on slice positions, mm (DICOM DS values carry limited digits)."""
RELATIVE_SPACING_TOL = 0.01
"""Slice gaps may differ from the series' spacing by this fraction (plus POSITION_TOL_MM)."""
_UNIT_TOL = 1e-3  # orientation vectors: unit length and orthogonality
_SAME_ORIENTATION_TOL = 1e-4
_TILT_TOL_DEG = 0.01
_MAX_COORDINATE_MM = 1e6  # positions beyond a kilometre are corrupt values
_PIXEL_TAGS = [
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelData",
]
MIN_RESCALE_SLOPE, MAX_RESCALE_SLOPE = 1e-3, 1e3
"""Rescale Slopes outside this range are refused (a CT's is about 1)."""
MAX_ABS_INTERCEPT_HU = 1e5
"""Rescale Intercepts beyond +/- this are refused (a CT's is about -1024)."""
MAX_ABS_HU = 1e5
"""Slices whose Hounsfield units reach beyond +/- this are refused (metal reaches 30000)."""


# The packages to install, per transfer syntax, when pydicom has no decoder for it
# (all are in the ``compression`` extra).
_LIBJPEG = "pylibjpeg and pylibjpeg-libjpeg"
_OPENJPEG = "pylibjpeg and pylibjpeg-openjpeg"
_DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": _LIBJPEG,  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": _LIBJPEG,  # JPEG Extended
    "1.2.840.10008.1.2.4.57": _LIBJPEG,  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": _LIBJPEG,  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": _LIBJPEG,  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": _LIBJPEG,  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": _OPENJPEG,  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": _OPENJPEG,  # JPEG 2000
    "1.2.840.10008.1.2.4.201": _OPENJPEG,  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": _OPENJPEG,  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": _OPENJPEG,  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg and pylibjpeg-rle",  # RLE (pydicom decodes it natively)
}


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is None:  # pragma: no cover - keywords are fixed in this module
        return keyword
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


# ---------------------------------------------------------------------------- public API
def read_ct(
    path: PathSource,
    *,
    series_uid: str | None = None,
    allow_resample: bool = False,
) -> Image:
    """Read a CT series as a volume in Hounsfield units.

    Parameters
    ----------
    path : path or sequence of paths
        A folder, searched recursively (non-CT and non-DICOM files are skipped), a single
        file, or a list of files.
    series_uid : str, optional
        Series Instance UID of the series to read, needed when ``path`` holds several CT
        series (localizer series are ignored unless chosen here).
    allow_resample : bool
        If the slice spacing is not uniform (a missing slice, variable spacing), resample
        the volume to uniform spacing by linear interpolation along the slice normal, with
        a warning, instead of raising.

    Returns
    -------
    Image
        ``array`` float32 in HU, shape ``(n_slices, rows, columns)`` = ``(k, j, i)``, slices
        in increasing position along the slice normal; ``grid`` in LPS mm with direction
        ``[row cosine, column cosine, normal]`` and spacing ``(slice gap, PixelSpacing[0],
        PixelSpacing[1])``; ``units="HU"``; ``patient_position`` from Patient Position
        (0018,5100); ``series`` with UIDs, per-slice SOP Instance UIDs and files in array
        order (empty when resampled) and patient/study attributes.

    Raises
    ------
    DicomReadError
        If no CT image is found, a required attribute (e.g. Rescale Slope) is missing, or
        the pixel data cannot be decoded.
    AmbiguousStudyError
        If several CT series are found and ``series_uid`` is not given.
    SeriesGeometryError
        If the slices do not form a regular volume: mixed orientations, sizes or pixel
        spacings; duplicated positions; gantry tilt; missing slices or uneven spacing
        (unless ``allow_resample``).
    MissingDependencyError
        If the pixel data is compressed and no installed decoder handles it.

    Examples
    --------
    >>> import rtplan
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    >>> ct.array.dtype, ct.units
    (dtype('float32'), 'HU')
    >>> ct.grid.shape, ct.grid.spacing_mm  # (slice, row, column), mm
    ((40, 128, 128), (3.0, 1.6, 1.6))
    """
    headers = _discovery.scan(path)
    label = str(path) if isinstance(path, str | Path) else f"{len(headers)} listed file(s)"
    group = select_ct_series(headers, series_uid=series_uid, source=label)
    return read_ct_series(group, allow_resample=allow_resample)


def select_ct_series(
    headers: Sequence[DicomHeader], *, series_uid: str | None = None, source: str = ""
) -> SeriesGroup:
    """Pick the CT series to read among scanned headers.

    Parameters
    ----------
    headers : sequence of DicomHeader
        Output of :func:`rtplan.io._discovery.scan`.
    series_uid : str, optional
        The Series Instance UID to pick.
    source : str
        What was scanned, for messages.

    Returns
    -------
    SeriesGroup

    Raises
    ------
    DicomReadError
        If there is no CT image, or no CT series with ``series_uid``.
    AmbiguousStudyError
        If several non-localizer CT series exist and ``series_uid`` is not given.
    """
    ct = [h for h in headers if h.modality == "CT"]
    where = f" in {source}" if source else ""
    if not ct:
        if headers:
            counts = Counter(h.modality or "(no modality)" for h in headers)
            found = ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))
            raise DicomReadError(f"no CT image found{where}; found {found} DICOM file(s)")
        raise DicomReadError(f"no CT image found{where}: no DICOM file there")
    groups = list(_discovery.group_series(ct).values())
    if series_uid is not None:
        for g in groups:
            if g.series_uid == series_uid:
                return g
        raise DicomReadError(
            f"no CT series with series_uid={series_uid!r}{where}; CT series found: "
            + _discovery.format_series_table(groups)
        )
    candidates = [g for g in groups if not g.is_localizer] or groups
    if len(candidates) > 1:
        raise AmbiguousStudyError(
            f"{len(candidates)} CT series found{where}; choose one with series_uid=... "
            "(command line: --series-uid): " + _discovery.format_series_table(candidates)
        )
    skipped = [g for g in groups if g is not candidates[0]]
    for g in skipped:
        logger.info("ignoring localizer series %s (%d files)", g.series_uid, len(g))
    return candidates[0]


# ---------------------------------------------------------------------------- geometry
@dataclass(frozen=True, slots=True)
class _Slice:
    header: DicomHeader
    position: npt.NDArray[np.float64]  # IPP, LPS mm
    distance: float  # IPP . normal, mm


def _values(h: DicomHeader, keyword: str, n: int) -> npt.NDArray[np.float64]:
    raw = h.get(keyword)
    try:
        values = [float(v) for v in raw] if n > 1 else [float(raw)]
    except (TypeError, ValueError, OverflowError):
        values = []
    if raw is None or raw == "" or len(values) != n or not np.all(np.isfinite(values)):
        raise DicomReadError(
            f"CT slice {h.path} has no valid {_tag(keyword)} (got {_shown(raw)}); "
            "it is required to place the image in patient coordinates"
        )
    arr = np.asarray(values, dtype=np.float64)
    if keyword == "PixelSpacing" and not np.all((arr >= 1e-3) & (arr <= 1e3)):
        raise DicomReadError(
            f"CT slice {h.path} has {_tag(keyword)} {arr.tolist()} mm, outside 0.001 to "
            "1000 mm; the value is corrupt"
        )
    if keyword == "ImagePositionPatient" and np.any(np.abs(arr) > _MAX_COORDINATE_MM):
        raise DicomReadError(
            f"CT slice {h.path} has {_tag(keyword)} {arr.tolist()}, beyond "
            f"{_MAX_COORDINATE_MM:g} mm from the origin; the value is corrupt"
        )
    return arr


def _rescale(h: DicomHeader) -> tuple[float, float]:
    """Rescale Slope and Intercept of a slice, refused when missing or absurd."""
    out = []
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        raw = h.get(keyword)
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            raise DicomReadError(
                f"CT slice {h.path} has no valid {_tag(keyword)} (got {_shown(raw)}): "
                "Hounsfield units cannot be computed without Rescale Slope and Intercept, "
                "which a CT image must carry; rtplan does not guess them, fix the export"
            ) from None
        if not math.isfinite(value):
            raise DicomReadError(
                f"CT slice {h.path} has {_tag(keyword)} {value}: HU cannot be computed; the "
                "file is corrupt, copy or export it again"
            )
        out.append(value)
    slope, intercept = out
    if slope == 0.0:
        raise DicomReadError(f"CT slice {h.path} has RescaleSlope 0: HU cannot be computed")
    if not MIN_RESCALE_SLOPE <= slope <= MAX_RESCALE_SLOPE:
        raise DicomReadError(
            f"CT slice {h.path} has {_tag('RescaleSlope')} {slope:g}, outside "
            f"{MIN_RESCALE_SLOPE:g} to {MAX_RESCALE_SLOPE:g} (a CT's is about 1; a negative "
            "slope inverts densities): the value is corrupt, copy or export the slice again"
        )
    if abs(intercept) > MAX_ABS_INTERCEPT_HU:
        raise DicomReadError(
            f"CT slice {h.path} has {_tag('RescaleIntercept')} {intercept:g}, beyond "
            f"+/-{MAX_ABS_INTERCEPT_HU:g} HU (a CT's is about -1024): the value is corrupt, "
            "copy or export the slice again"
        )
    return slope, intercept


def _shown(raw: object) -> str:
    shown = repr(raw)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _check_rescales(label: str, rescale: Sequence[tuple[Path, tuple[float, float]]]) -> None:
    """Report slices whose Rescale Slope or Intercept differ from the rest of the series."""
    for n, keyword in enumerate(("RescaleSlope", "RescaleIntercept")):
        counts = Counter(v[n] for _, v in rescale)
        if len(counts) < 2:
            continue
        common, _ = counts.most_common(1)[0]
        odd = [(path.name, v[n]) for path, v in rescale if v[n] != common]
        shown = ", ".join(f"{name} ({value:g})" for name, value in odd[:5])
        warn(
            f"{label}: {_tag(keyword)} differs between slices: {common:g} on "
            f"{counts[common]} slice(s), other values on {len(odd)}: {shown}"
            f"{' ...' if len(odd) > 5 else ''}; each slice was rescaled with its own value, "
            "check those slices"
        )


def _orientation(h: DicomHeader) -> npt.NDArray[np.float64]:
    iop = _values(h, "ImageOrientationPatient", 6)
    row, col = iop[:3], iop[3:]
    if (
        abs(np.linalg.norm(row) - 1.0) > _UNIT_TOL
        or abs(np.linalg.norm(col) - 1.0) > _UNIT_TOL
        or abs(float(np.dot(row, col))) > _UNIT_TOL
    ):
        raise SeriesGeometryError(
            f"CT slice {h.path}: ImageOrientationPatient {iop.tolist()} is not two "
            "orthogonal unit vectors; the file is corrupt"
        )
    return iop


def _direction(iop: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Orthonormal (row, column, normal) columns from an orientation (Gram-Schmidt)."""
    row = iop[:3] / np.linalg.norm(iop[:3])
    col = iop[3:] - np.dot(iop[3:], row) * row
    col = col / np.linalg.norm(col)
    return np.stack([row, col, np.cross(row, col)], axis=1)


def _series_label(group: SeriesGroup) -> str:
    desc = f" ({group.description!r})" if group.description else ""
    return f"CT series {group.series_uid}{desc}"


def _check_uniform(group: SeriesGroup) -> npt.NDArray[np.float64]:
    """Check orientation, frame, size and pixel spacing agree; return the orientation."""
    label = _series_label(group)
    headers = group.headers
    iops = [_orientation(h) for h in headers]
    # group orientations within tolerance
    kinds: list[tuple[npt.NDArray[np.float64], list[DicomHeader]]] = []
    for h, iop in zip(headers, iops, strict=True):
        for ref, members in kinds:
            if np.allclose(ref, iop, atol=_SAME_ORIENTATION_TOL):
                members.append(h)
                break
        else:
            kinds.append((iop, [h]))
    if len(kinds) > 1:
        listing = "; ".join(
            f"{np.round(ref, 4).tolist()}: {len(m)} file(s), e.g. {m[0].path.name}"
            for ref, m in kinds
        )
        raise SeriesGeometryError(
            f"{label} mixes {len(kinds)} image orientations ({listing}); pass the files "
            "of one orientation as a list to read_ct([...])"
        )
    frames = group.frame_uids
    if len(frames) > 1:
        raise SeriesGeometryError(
            f"{label} mixes Frame of Reference UIDs {list(frames)}; its slices are not in "
            "one coordinate system"
        )
    first = headers[0]
    rows0, cols0 = _size(first)
    ps0 = _values(first, "PixelSpacing", 2)
    for h in headers[1:]:
        rows, cols = _size(h)
        if (rows, cols) != (rows0, cols0):
            raise SeriesGeometryError(
                f"{label} mixes image sizes: {first.path.name} has {rows0}x{cols0} pixels "
                f"(rows x columns), {h.path.name} has {rows}x{cols}; a volume needs one size"
            )
        ps = _values(h, "PixelSpacing", 2)
        if not np.allclose(ps, ps0, atol=1e-4, rtol=1e-5):
            raise SeriesGeometryError(
                f"{label} mixes pixel spacings: {first.path.name} has PixelSpacing "
                f"{ps0.tolist()} mm (row, column), {h.path.name} has {ps.tolist()} mm"
            )
    return iops[0]


def _size(h: DicomHeader) -> tuple[int, int]:
    out = []
    for keyword in ("Rows", "Columns"):
        raw = h.get(keyword)
        if not isinstance(raw, int) or raw < 1:
            raise DicomReadError(f"CT slice {h.path} has no valid {_tag(keyword)} (got {raw!r})")
        out.append(raw)
    return out[0], out[1]


def _check_tilt(label: str, slices: Sequence[_Slice], normal: npt.NDArray[np.float64]) -> None:
    for s in slices:
        raw = s.header.get("GantryDetectorTilt")
        try:
            tilt = float(raw) if raw not in (None, "") else 0.0
        except (TypeError, ValueError):
            tilt = 0.0
        if abs(tilt) > _TILT_TOL_DEG:
            raise SeriesGeometryError(
                f"{label} was acquired with a gantry tilt of {tilt:g} degrees "
                f"(GantryDetectorTilt in {s.header.path}); tilted series are refused because "
                "their voxels do not form an untilted regular grid in patient coordinates: "
                "reconstruct or resample the series without tilt before planning"
            )
    if len(slices) < 2:
        return
    p0 = slices[0].position
    for s in slices[1:]:
        v = s.position - p0
        along = float(np.dot(v, normal))
        across = float(np.linalg.norm(v - along * normal))
        if across > POSITION_TOL_MM + 1e-3 * abs(along):
            angle = float(np.degrees(np.arctan2(across, abs(along))))
            raise SeriesGeometryError(
                f"{label} is sheared (gantry tilt or table shift): the slice positions of "
                f"{slices[0].header.path.name} and {s.header.path.name} are {across:.3f} mm "
                f"apart across the image plane over {abs(along):.3f} mm along its normal "
                f"(about {angle:.2f} degrees); slices must be stacked along the normal, "
                "reconstruct or resample the series without tilt before planning"
            )


def _dedupe(label: str, slices: list[_Slice]) -> list[_Slice]:
    out = [slices[0]]
    for s in slices[1:]:
        prev = out[-1]
        if abs(s.distance - prev.distance) > POSITION_TOL_MM:
            out.append(s)
            continue
        if s.header.sop_instance_uid and s.header.sop_instance_uid == prev.header.sop_instance_uid:
            warn(
                f"{label}: {s.header.path} and {prev.header.path} hold the same image "
                f"(SOP Instance UID {s.header.sop_instance_uid}); the copy is ignored"
            )
            continue
        raise SeriesGeometryError(
            f"{label} has two slices at the same position ({s.distance:.3f} mm along the "
            f"slice normal): {prev.header.path} and {s.header.path}; remove the duplicate "
            "or pass the files of one acquisition as a list to read_ct([...])"
        )
    return out


def _gaps(
    slices: Sequence[_Slice],
) -> tuple[float, list[tuple[_Slice, _Slice, float]]]:
    """Nominal spacing (median gap) and the gaps that depart from it."""
    d = np.array([s.distance for s in slices])
    diffs = np.diff(d)
    nominal = float(np.median(diffs))
    tol = POSITION_TOL_MM + RELATIVE_SPACING_TOL * nominal
    bad = [
        (slices[k], slices[k + 1], float(diffs[k]))
        for k in range(len(diffs))
        if abs(diffs[k] - nominal) > tol
    ]
    if not bad:  # small jitter can add up: check positions against the uniform fit
        dz = (d[-1] - d[0]) / (len(d) - 1)
        resid = np.abs(d - (d[0] + dz * np.arange(len(d))))
        k = int(np.argmax(resid))
        if resid[k] > tol:
            k = max(k, 1)
            bad = [(slices[k - 1], slices[k], float(diffs[k - 1]))]
    return nominal, bad


def _gap_text(bad: Sequence[tuple[_Slice, _Slice, float]], nominal: float) -> str:
    shown = "; ".join(
        f"{g:.3f} mm between {a.header.path} and {b.header.path}" for a, b, g in bad[:3]
    )
    more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
    return (
        f"slice spacing is not uniform: {shown}{more}, where the series' spacing is "
        f"{nominal:.3f} mm (missing slices or variable spacing)"
    )


def _patient_position(label: str, headers: Sequence[DicomHeader]) -> PatientPosition | None:
    values = sorted({h.text("PatientPosition").upper() for h in headers})
    if len(values) > 1:
        warn(f"{label} has several Patient Positions {values}; using {values[0]!r}")
    value = values[0] if values else ""
    if not value:
        warn(
            f"{label} has no Patient Position (0018,5100); beam placement will need it "
            "(set Image.patient_position)"
        )
        return None
    try:
        return PatientPosition(value)
    except ValueError:
        warn(
            f"{label} has Patient Position {value!r}, which rtplan does not support for "
            f"beam placement (supported: {', '.join(p.value for p in PatientPosition)})"
        )
        return None


# ---------------------------------------------------------------------------- pixels
def _check_decoder(h: DicomHeader) -> None:
    tsuid = h.transfer_syntax_uid
    if not tsuid or not UID(tsuid).is_compressed:
        return
    from pydicom.pixels.decoders.base import get_decoder

    name = UID(tsuid).name
    try:
        decoder = get_decoder(tsuid)
    except NotImplementedError:
        raise DicomReadError(
            f"CT slice {h.path} uses transfer syntax {name} ({tsuid}), which pydicom cannot "
            "decode; convert the series to an uncompressed transfer syntax first"
        ) from None
    if decoder.is_available:
        return
    packages = _DECODER_PACKAGES.get(tsuid, "a decoder plugin for pydicom")
    missing = "; ".join(decoder.missing_dependencies)
    raise MissingDependencyError(
        f"CT slice {h.path} is compressed with {name} ({tsuid}) and no installed package "
        f"can decode it; install {packages}: pip install 'rtplan[compression]' "
        f"(pydicom's decoders for it: {missing})"
    )


def _read_pixels(h: DicomHeader, shape: tuple[int, int]) -> npt.NDArray[Any]:
    """The stored values of one slice, ``(rows, columns)``, checked against its header."""
    try:
        ds = read_dataset(h.path, "CT image", specific_tags=_PIXEL_TAGS)
        frames = integer(ds, "NumberOfFrames", str(h.path), default=1)
        if frames == 1 and (ds.get("Rows"), ds.get("Columns")) != shape:
            raise DicomReadError(
                f"{h.path}: Rows x Columns changed between two reads of the file; copy the "
                "series again"
            )
        arr = (
            None if frames != 1 else pixel_values(ds, h.path, "CT slice", bits_allowed=(8, 16, 32))
        )
    except DicomReadError as exc:
        reason = str(exc).removeprefix(f"{h.path}: ")
        raise DicomReadError(
            f"cannot decode the pixel data of CT slice {h.path}: {reason}"
        ) from exc
    if arr is None:
        raise DicomReadError(
            f"CT file {h.path} is multi-frame; rtplan reads single-frame CT Image Storage slices"
        )
    return np.asarray(arr[0])


def _resample_along_normal(
    volume: npt.NDArray[np.float32], distances: npt.NDArray[np.float64], spacing_mm: float
) -> tuple[npt.NDArray[np.float32], float]:
    """Linear interpolation of slices at uneven positions onto uniform positions."""
    span = float(distances[-1] - distances[0])
    n = max(2, round(span / spacing_mm) + 1)
    dz = span / (n - 1)
    targets = distances[0] + dz * np.arange(n)
    lo = np.clip(np.searchsorted(distances, targets, side="right") - 1, 0, len(distances) - 2)
    w = (targets - distances[lo]) / (distances[lo + 1] - distances[lo])
    w = np.clip(w, 0.0, 1.0).astype(np.float32)[:, np.newaxis, np.newaxis]
    out = volume[lo] * (1.0 - w) + volume[lo + 1] * w
    return out.astype(np.float32), dz


# ---------------------------------------------------------------------------- reader
def read_ct_series(group: SeriesGroup, *, allow_resample: bool = False) -> Image:
    """Build the HU volume of one CT series from its scanned headers.

    Parameters
    ----------
    group : SeriesGroup
        The series' files (as found by :func:`rtplan.io._discovery.scan`).
    allow_resample : bool
        Resample uneven slice spacing instead of raising (see :func:`read_ct`).

    Returns
    -------
    Image
        See :func:`read_ct`.

    Raises
    ------
    DicomReadError, SeriesGeometryError, MissingDependencyError
        See :func:`read_ct`.
    """
    label = _series_label(group)
    if group.modality != "CT":
        raise DicomReadError(f"series {group.series_uid} has modality {group.modality}, not CT")
    iop = _check_uniform(group)
    direction = _direction(iop)
    normal = direction[:, 2]
    rescale = {h.path: _rescale(h) for h in group.headers}
    slices = []
    for h in group.headers:
        pos = _values(h, "ImagePositionPatient", 3)
        slices.append(_Slice(header=h, position=pos, distance=float(np.dot(pos, normal))))
    slices.sort(key=lambda s: (s.distance, str(s.header.path)))
    _check_tilt(label, slices, normal)
    slices = _dedupe(label, slices)

    resample_to: float | None = None
    gap_text = ""
    if len(slices) >= 2:
        nominal, bad = _gaps(slices)
        if bad:
            gap_text = _gap_text(bad, nominal)
            if not allow_resample:
                raise SeriesGeometryError(
                    f"{label}: {gap_text}; pass allow_resample=True to interpolate the volume "
                    f"to {nominal:.3f} mm spacing"
                )
            resample_to = nominal
        d = np.array([s.distance for s in slices])
        dz = float((d[-1] - d[0]) / (len(d) - 1))
    else:
        dz = _single_slice_thickness(label, slices[0].header)

    checked: set[str] = set()
    for s in slices:  # one check per transfer syntax, before any decoding
        if s.header.transfer_syntax_uid not in checked:
            checked.add(s.header.transfer_syntax_uid)
            _check_decoder(s.header)

    shape = _size(slices[0].header)
    check_array_bytes(
        len(slices) * shape[0] * shape[1] * 4,
        label,
        f"the volume of {len(slices)} x {shape[0]} x {shape[1]} float32 values",
    )
    _check_rescales(label, [(s.header.path, rescale[s.header.path]) for s in slices])
    volume = np.empty((len(slices), *shape), dtype=np.float32)
    for k, s in enumerate(slices):
        slope, intercept = rescale[s.header.path]
        hu = _read_pixels(s.header, shape).astype(np.float64) * slope + intercept
        _check_hu(s.header, hu, slope, intercept)
        volume[k] = hu

    first = slices[0].header
    sop_uids = tuple(s.header.sop_instance_uid for s in slices)
    files = tuple(s.header.path for s in slices)
    if resample_to is not None:
        distances = np.array([s.distance for s in slices])
        n_before = len(slices)
        volume, dz = _resample_along_normal(volume, distances, resample_to)
        warn(
            f"{label}: {gap_text}; resampled by linear "
            f"interpolation along the slice normal to {dz:.3f} mm ({n_before} -> "
            f"{volume.shape[0]} slices); the resampled volume has no per-slice SOP "
            "Instance UIDs"
        )
        sop_uids, files = (), ()

    ps = _values(first, "PixelSpacing", 2)
    origin = slices[0].position
    grid = Grid(
        shape=(volume.shape[0], volume.shape[1], volume.shape[2]),
        spacing_mm=(dz, float(ps[0]), float(ps[1])),
        origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=direction,
    )
    rescale_types = {first.text("RescaleType").upper()} - {"", "HU"}
    if rescale_types:
        warn(f"{label} has Rescale Type {sorted(rescale_types)}, not HU; values kept as read")
    info = SeriesInfo(
        study_instance_uid=first.study_uid,
        series_instance_uid=first.series_uid,
        frame_of_reference_uid=first.frame_uid,
        sop_class_uid=first.sop_class_uid,
        sop_instance_uids=sop_uids,
        files=files,
        modality="CT",
        patient={k: str(first.get(k)) for k in PATIENT_STUDY_KEYWORDS if first.get(k) is not None},
    )
    logger.info("read %s: %d slices, grid %r", label, len(slices), grid)
    return Image(
        array=volume,
        grid=grid,
        units="HU",
        name=first.text("SeriesDescription") or "CT",
        patient_position=_patient_position(label, [s.header for s in slices]),
        series=info,
    )


def _check_hu(h: DicomHeader, hu: npt.NDArray[np.float64], slope: float, intercept: float) -> None:
    low, high = float(hu.min()), float(hu.max())
    if low < -MAX_ABS_HU or high > MAX_ABS_HU:
        raise DicomReadError(
            f"CT slice {h.path}: its values reach {low:g} to {high:g} HU (RescaleSlope "
            f"{slope:g}, RescaleIntercept {intercept:g}), beyond +/-{MAX_ABS_HU:g} HU; the "
            "rescale or the pixel data is corrupt, copy or export the slice again"
        )


def _single_slice_thickness(label: str, h: DicomHeader) -> float:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        raw = h.get(keyword)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if np.isfinite(value) and value > 0:
            return abs(value)
    warn(f"{label} has a single slice and no Slice Thickness; its thickness is taken as 1 mm")
    return 1.0
