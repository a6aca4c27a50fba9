"""What every DICOM reader repeats: reading a file with clear errors, checked values, pixels.

Every problem becomes a :class:`~rtplan.errors.DicomReadError` naming the file and the tag,
never another exception type:

* :func:`read_dataset` reads a file, refuses what pydicom reads silently (a file cut short
  inside its last element, a Transfer Syntax UID that is not a transfer syntax, a file
  larger than the read limit), decodes every element at once and leaves out, with a
  warning, the elements that cannot be decoded by their VR;
* :func:`number`, :func:`numbers`, :func:`integer` and :func:`text` read one value, checked:
  a decimal string that is not a number, a value of the wrong VR or multiplicity, NaN or
  infinity are refused naming the tag;
* :func:`pixel_values` checks the Image Pixel module against the Pixel Data it describes
  (sizes, bits, the number of bytes) and the read limit *before* decoding anything.

The read limit (:func:`read_limits`) caps the bytes of any array a reader allocates from a
file's declared sizes; it defaults to the environment variable ``RTPLAN_MAX_ARRAY_BYTES``
or 4 GiB.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.multival import MultiValue

from rtplan._warn import warn
from rtplan.errors import DicomReadError, RtplanError, RtplanWarning

__all__ = [
    "DEFAULT_MAX_ARRAY_BYTES",
    "PATIENT_STUDY_KEYWORDS",
    "check_array_bytes",
    "check_not_truncated",
    "check_transfer_syntax",
    "dataset_patient_study",
    "decode_elements",
    "integer",
    "max_array_bytes",
    "number",
    "numbers",
    "optional_integer",
    "optional_number",
    "optional_numbers",
    "pixel_values",
    "pydicom_warnings",
    "read_dataset",
    "read_limits",
    "tag_name",
    "text",
]

#: Patient and study attributes kept from a read object (``SeriesInfo.patient``) and
#: copied into the objects written from it.
PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)

DEFAULT_MAX_ARRAY_BYTES = 4 * 1024**3
"""The read limit when neither :func:`read_limits` nor ``RTPLAN_MAX_ARRAY_BYTES`` sets one."""
_ENV_LIMIT = "RTPLAN_MAX_ARRAY_BYTES"
_LIMIT: ContextVar[int | None] = ContextVar("rtplan_max_array_bytes", default=None)
_SKIP_DECODE = {0x30060050, 0x7FE00010}  # Contour Data (parsed by its reader), Pixel Data
_NATIVE_BITS = (8, 16, 32, 64)
_ALL_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
    | {"UR", "UT"}
)
# text VRs whose decoding cannot raise (DS and IS can: "-inf" as an integer string)
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)


# ---------------------------------------------------------------------------- the limit
def max_array_bytes() -> int:
    """The read limit in force: the most bytes a reader may allocate for one array.

    Returns
    -------
    int
        Set by :func:`read_limits`, else by the environment variable
        ``RTPLAN_MAX_ARRAY_BYTES`` (bytes), else :data:`DEFAULT_MAX_ARRAY_BYTES` (4 GiB).

    Raises
    ------
    RtplanError
        If ``RTPLAN_MAX_ARRAY_BYTES`` is set but is not a positive whole number.

    Examples
    --------
    >>> from rtplan.io import max_array_bytes, read_limits
    >>> with read_limits(max_array_bytes=2**20):
    ...     max_array_bytes()
    1048576
    """
    limit = _LIMIT.get()
    if limit is not None:
        return limit
    raw = os.environ.get(_ENV_LIMIT, "").strip()
    if not raw:
        return DEFAULT_MAX_ARRAY_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise RtplanError(
            f"the environment variable {_ENV_LIMIT}={raw!r} must be a positive number of "
            "bytes (e.g. 8589934592 for 8 GiB)"
        )
    return value


@contextlib.contextmanager
def read_limits(*, max_array_bytes: int) -> Iterator[None]:
    """Cap the arrays the readers allocate from a file's declared sizes, within a block.

    A reader compares the sizes a file declares (Rows, Columns, Number of Frames, slices)
    with the data the file holds before it allocates anything; this cap also refuses
    well-formed objects larger than wanted (a service reading untrusted uploads).

    Parameters
    ----------
    max_array_bytes : int
        The most bytes of one array (a CT volume as float32, a dose grid as float64).

    Raises
    ------
    RtplanError
        If ``max_array_bytes`` is not a positive whole number.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.errors import DicomReadError
    >>> try:
    ...     with rtplan.io.read_limits(max_array_bytes=1_000_000):  # 1 MB
    ...         rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    ... except DicomReadError as exc:
    ...     print(str(exc).split(": ", 1)[1][:60])
    the volume of 40 x 128 x 128 float32 values needs 2.5 MiB, a
    """
    if isinstance(max_array_bytes, bool) or not isinstance(max_array_bytes, int):
        raise RtplanError(f"max_array_bytes must be a whole number, got {max_array_bytes!r}")
    if max_array_bytes < 1:
        raise RtplanError(f"max_array_bytes must be positive, got {max_array_bytes}")
    token = _LIMIT.set(max_array_bytes)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def check_array_bytes(n_bytes: int, where: str, what: str) -> None:
    """Refuse an allocation above the read limit.

    Raises
    ------
    DicomReadError
        Naming ``where``, ``what`` and how to raise the limit.
    """
    limit = max_array_bytes()
    if n_bytes > limit:
        raise DicomReadError(
            f"{where}: {what} needs {_size(n_bytes)}, above the read limit of {_size(limit)}; "
            "if the object is genuine raise the limit with "
            f"rtplan.io.read_limits(max_array_bytes=...) or the environment variable "
            f"{_ENV_LIMIT}"
        )


def _size(n_bytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} bytes"


# ---------------------------------------------------------------------------- names
def tag_name(tag: int | str) -> str:
    """``"Keyword (gggg,eeee)"`` for a tag or keyword (the tag alone for private ones).

    Examples
    --------
    >>> from rtplan.io._reader import tag_name
    >>> tag_name("DoseGridScaling"), tag_name(0x00280010)
    ('DoseGridScaling (3004,000E)', 'Rows (0028,0010)')
    """
    from pydicom.datadict import keyword_for_tag, tag_for_keyword

    if isinstance(tag, str):
        number_ = tag_for_keyword(tag)
        if number_ is None:
            return tag
        return f"{tag} ({number_ >> 16:04X},{number_ & 0xFFFF:04X})"
    keyword = keyword_for_tag(tag)
    where = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{keyword} {where}" if keyword else where


def dataset_patient_study(ds: Any) -> dict[str, Any]:
    """Patient and study attributes of a read dataset, for :class:`SeriesInfo.patient`.

    Parameters
    ----------
    ds : pydicom.Dataset

    Returns
    -------
    dict of str to str
        Every :data:`PATIENT_STUDY_KEYWORDS` entry, ``""`` where absent or empty.
    """
    return {key: str(ds.get(key, "") or "") for key in PATIENT_STUDY_KEYWORDS}


# ---------------------------------------------------------------------------- reading
def decode_elements(ds: Any, path: Path) -> None:
    """Decode every element of a dataset now; leave out, with a warning, those that fail.

    pydicom decodes an element when it is first used, and raises then (a value whose
    length does not fit its VR, a wrong VR): decoding everything once, here, keeps those
    errors out of the readers.

    Warns
    -----
    RtplanWarning
        Naming each element left out and the file.
    """
    dropped: list[str] = []
    _decode_all(ds, path, dropped)
    for item in dropped:
        warn(f"{path}: element {item} cannot be decoded and was left out", stacklevel=4)


def _decode_all(
    ds: Any, path: Path, dropped: list[str], prefix: str = "", *, text: bool = False
) -> None:
    """Decode the elements that can fail now; leave out (and list) those that do.

    Text values (their conversion cannot fail; pydicom at most warns, which
    :func:`pydicom_warnings` turns into rtplan warnings) stay lazy; binary values,
    sequences and elements whose VR contradicts the standard's are decoded or dropped.
    """
    for tag in list(ds.keys()):
        number_ = int(tag)
        if number_ in _SKIP_DECODE:
            continue
        expected = _dictionary_vr(number_)
        vr = getattr(ds.get_item(tag), "VR", None) or expected or "UN"
        if not _vr_fits(vr, expected):
            dropped.append(
                f"{prefix}{tag_name(number_)} (VR {vr} where the standard has {expected})"
            )
            del ds[tag]
            continue
        if vr in _TEXT_VRS and not text:
            continue
        try:
            value = ds[tag].value
        except Exception as exc:  # pydicom raises many types for bytes its VR cannot decode
            if isinstance(exc, MemoryError):
                raise
            dropped.append(f"{prefix}{tag_name(number_)} ({exc})")
            del ds[tag]
            continue
        if vr == "SQ":
            for n, item in enumerate(value or []):
                where = f"{prefix}{tag_name(number_)} item {n + 1} > "
                _decode_all(item, path, dropped, where, text=text)


def _vr_fits(vr: str, expected: str | None) -> bool:
    """Whether a value of VR ``vr`` can stand where the standard puts ``expected``.

    Text for text is accepted (a decimal string in an IS element reads the same); binary
    values must have one of the standard's VRs (the same bytes under another VR are another
    number); a sequence must be a sequence. UN (unknown, from implicit VR) is accepted.
    """
    if expected is None or vr == "UN":
        return True
    allowed = set(expected.split(" or "))
    if vr in allowed:
        return True
    if vr == "SQ" or "SQ" in allowed:
        return False
    return vr in _ALL_TEXT_VRS and bool(allowed & _ALL_TEXT_VRS)


@functools.lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str | None:
    """The VR the standard gives a public tag, None for private or unknown tags."""
    from pydicom.datadict import dictionary_has_tag, dictionary_VR

    if tag >> 16 & 1 or not dictionary_has_tag(tag):
        return None
    return str(dictionary_VR(tag))


def check_transfer_syntax(ds: Any, path: Path, what: str) -> str:
    """The file's Transfer Syntax UID, refused when it names no transfer syntax.

    Raises
    ------
    DicomReadError
        Naming TransferSyntaxUID (0002,0010) and its value.
    """
    from pydicom.uid import AllTransferSyntaxes

    meta = getattr(ds, "file_meta", None)
    raw = meta.get("TransferSyntaxUID") if meta is not None else None
    tsuid = "" if raw is None else str(raw).strip()
    if tsuid and tsuid not in AllTransferSyntaxes:
        raise DicomReadError(
            f"{path}: TransferSyntaxUID (0002,0010) is {tsuid[:64]!r}, not a DICOM transfer "
            f"syntax; the {what} cannot be decoded: copy or export it again"
        )
    return tsuid


def read_dataset(
    path: Path,
    what: str,
    *,
    stop_before_pixels: bool = False,
    specific_tags: list[Any] | None = None,
    force: bool = False,
    decode_text: bool = False,
) -> Any:
    """Read a DICOM file with every problem turned into a :class:`DicomReadError`.

    Parameters
    ----------
    path : Path
    what : str
        What the file should hold (``"RT Dose"``), for messages.
    stop_before_pixels, specific_tags, force
        Passed to :func:`pydicom.dcmread`.
    decode_text : bool
        Decode text values now too (for headers used long after the read), rather than
        when first used (inside :func:`pydicom_warnings`).

    Returns
    -------
    pydicom.Dataset
        Every element decoded (Contour Data and Pixel Data excepted: their readers parse
        them); elements that cannot be decoded by their VR are left out with a warning.

    Raises
    ------
    DicomReadError
        If the file cannot be read as DICOM, is truncated, is larger than the read limit
        or names a Transfer Syntax UID that is not one.

    Warns
    -----
    RtplanWarning
        For each element left out, and for pydicom's own warnings (invalid values), with
        the file named.
    """
    import pydicom

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DicomReadError(f"{path}: cannot be read as DICOM {what} ({exc})") from exc
    check_array_bytes(size, str(path), "reading this file")
    dropped: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(
                path,
                stop_before_pixels=stop_before_pixels,
                specific_tags=specific_tags,
                force=force,
            )
            check_transfer_syntax(ds, path, what)
            check_not_truncated(ds, path, what)  # before decoding: it looks at raw bytes
            meta = getattr(ds, "file_meta", None)
            if meta is not None:
                _decode_all(meta, path, dropped, "file meta > ", text=True)
            _decode_all(ds, path, dropped, text=decode_text)
        except RtplanError:
            raise
        except Exception as exc:  # pydicom raises many types on malformed files
            if isinstance(exc, MemoryError):
                raise
            raise DicomReadError(
                f"{path}: cannot be read as DICOM {what} ({type(exc).__name__}: {exc})"
            ) from exc
    _reemit(caught, path)
    for item in dropped:
        warn(f"{path}: element {item} cannot be decoded and was left out", stacklevel=4)
    _check_file_meta(ds, path)
    return ds


def _check_file_meta(ds: Any, path: Path) -> None:
    """Report a dataset whose SOP Instance UID differs from its file meta's.

    The UID that RT objects reference each other by: a difference means the file was
    edited without care, or a bit of one of them is corrupt.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    in_meta, in_dataset = text(meta, "MediaStorageSOPInstanceUID"), text(ds, "SOPInstanceUID")
    if in_meta and in_dataset and in_meta != in_dataset:
        warn(
            f"{path}: {tag_name('SOPInstanceUID')} {in_dataset[:64]} differs from the file "
            f"meta's {tag_name('MediaStorageSOPInstanceUID')} {in_meta[:64]}: the file was "
            "edited or is corrupt; the dataset's SOPInstanceUID was used",
            stacklevel=4,
        )


@contextlib.contextmanager
def pydicom_warnings(where: Path | str) -> Iterator[None]:
    """Within the block, turn pydicom's warnings into rtplan warnings naming the file.

    pydicom decodes values when they are first used and warns then (an invalid value for
    its VR); a reader wraps its work in this so that those warnings say which file they
    are about and are of the documented :class:`~rtplan.errors.RtplanWarning` class.
    rtplan's own warnings pass through unchanged, in order, also when the block raises.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                caught = list(record)
    finally:  # also when the read fails: the warnings may say why
        _reemit(caught, Path(where))


def _reemit(caught: Sequence[warnings.WarningMessage], path: Path) -> None:
    """Re-emit the warnings of a read: rtplan's as they are, pydicom's naming the file."""
    seen: set[str] = set()
    for w in caught:
        if issubclass(w.category, RtplanWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        message = f"{path}: pydicom: {str(w.message).split(' Please see')[0]}"
        if message not in seen:
            seen.add(message)
            warn(message, stacklevel=5)


def check_not_truncated(ds: Any, path: Path, what: str) -> None:
    """Raise if the file ends inside its last element (pydicom reads what is there).

    Raises
    ------
    DicomReadError
        Naming the element, the bytes it announces and the bytes the file holds.
    """
    from pydicom.dataelem import RawDataElement

    if not len(ds):
        return
    tag = list(ds.keys())[-1]
    raw = ds.get_item(tag)
    if (
        isinstance(raw, RawDataElement)
        and raw.length != 0xFFFFFFFF
        and isinstance(raw.value, bytes)
        and len(raw.value) < raw.length
    ):
        raise DicomReadError(
            f"{path}: the file is truncated, copy or export it again: its last element "
            f"{tag_name(int(tag))} announces {raw.length} bytes but the file holds "
            f"{len(raw.value)} (a {what})"
        )


# ---------------------------------------------------------------------------- values
def _raw(ds: Any, keyword: str) -> Any:
    """The value of an element, or the exception its decoding raised."""
    try:
        return ds.get(keyword)
    except Exception as exc:  # decoding a raw element on access: pydicom raises many types
        if isinstance(exc, MemoryError):
            raise
        return exc


def _is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str | bytes | bytearray | list | MultiValue):
        return len(raw) == 0 or (isinstance(raw, str) and not raw.strip())
    return False


def _as_floats(raw: Any) -> list[float] | None:
    """The numbers of a value (one or several), or None if it is not numbers."""
    items = list(raw) if isinstance(raw, list | tuple | MultiValue) else [raw]
    out: list[float] = []
    for v in items:
        if isinstance(v, bool | bytes | bytearray) or v is None:
            return None
        try:
            out.append(float(v))
        except (TypeError, ValueError, OverflowError):
            return None
    return out


def optional_numbers(
    ds: Any,
    keyword: str,
    where: str,
    *,
    count: int | None = None,
    finite: bool = True,
    why: str = "",
) -> npt.NDArray[np.float64] | None:
    """The values of a numeric element (DS, IS, FD, US...), checked; None when absent.

    Parameters
    ----------
    ds : pydicom.Dataset
    keyword : str
    where : str
        The file (and object) for messages: ``"RS.dcm: ROI 'PTV'"``.
    count : int, optional
        The number of values required.
    finite : bool
        Refuse NaN and infinity (default).
    why : str
        What the value is needed for, appended to messages.

    Returns
    -------
    numpy.ndarray of float64, or None
        None when the element is absent or empty.

    Raises
    ------
    DicomReadError
        Naming the file, the tag and the value found, if it is not ``count`` numbers or
        not finite.
    """
    raw = _raw(ds, keyword)
    suffix = f"; {why}" if why else ""
    if isinstance(raw, Exception):
        raise DicomReadError(f"{where}: {tag_name(keyword)} cannot be decoded ({raw}){suffix}")
    if _is_empty(raw):
        return None
    values = _as_floats(raw)
    shown = _shown(raw)
    if values is None:
        raise DicomReadError(f"{where}: {tag_name(keyword)} is {shown}, not a number{suffix}")
    if count is not None and len(values) != count:
        raise DicomReadError(
            f"{where}: {tag_name(keyword)} must hold {count} value(s), got {len(values)} "
            f"({shown}){suffix}"
        )
    arr = np.asarray(values, dtype=np.float64)
    if finite and not np.all(np.isfinite(arr)):
        raise DicomReadError(
            f"{where}: {tag_name(keyword)} holds non-finite values ({shown}){suffix}"
        )
    return arr


def numbers(
    ds: Any,
    keyword: str,
    where: str,
    *,
    count: int | None = None,
    finite: bool = True,
    why: str = "",
) -> npt.NDArray[np.float64]:
    """The values of a required numeric element (see :func:`optional_numbers`).

    Raises
    ------
    DicomReadError
        If the element is absent or empty, or as :func:`optional_numbers`.
    """
    arr = optional_numbers(ds, keyword, where, count=count, finite=finite, why=why)
    if arr is None:
        raise _missing(where, keyword, why)
    return arr


def optional_number(
    ds: Any,
    keyword: str,
    where: str,
    *,
    check: Callable[[float], bool] | None = None,
    expected: str = "",
    why: str = "",
) -> float | None:
    """One finite numeric value, or None when absent or empty.

    Parameters
    ----------
    check : callable, optional
        A test the value must pass, e.g. ``lambda v: v > 0``.
    expected : str
        What ``check`` asks, for messages (``"positive"``).

    Raises
    ------
    DicomReadError
        If the value is not one finite number, or fails ``check``.
    """
    arr = optional_numbers(ds, keyword, where, count=1, why=why)
    if arr is None:
        return None
    value = float(arr[0])
    if check is not None and not check(value):
        suffix = f"; {why}" if why else ""
        raise DicomReadError(
            f"{where}: {tag_name(keyword)} is {value:g}, which is not {expected or 'valid'}{suffix}"
        )
    return value


def number(
    ds: Any,
    keyword: str,
    where: str,
    *,
    check: Callable[[float], bool] | None = None,
    expected: str = "",
    why: str = "",
) -> float:
    """One required finite numeric value (see :func:`optional_number`).

    Raises
    ------
    DicomReadError
        If the element is absent or empty, or as :func:`optional_number`.
    """
    value = optional_number(ds, keyword, where, check=check, expected=expected, why=why)
    if value is None:
        raise _missing(where, keyword, why)
    return value


def optional_integer(
    ds: Any,
    keyword: str,
    where: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    why: str = "",
) -> int | None:
    """One whole number (IS, US, UL, SS or a whole DS) within a range, or None when absent.

    Raises
    ------
    DicomReadError
        If the value is not a whole number, or out of range.
    """
    value = optional_number(ds, keyword, where, why=why)
    if value is None:
        return None
    suffix = f"; {why}" if why else ""
    if value != math.floor(value):
        raise DicomReadError(
            f"{where}: {tag_name(keyword)} is {value:g}, not a whole number{suffix}"
        )
    result = int(value)
    if (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
        low = "-inf" if minimum is None else str(minimum)
        high = "inf" if maximum is None else str(maximum)
        raise DicomReadError(
            f"{where}: {tag_name(keyword)} is {result}, outside {low} to {high}{suffix}"
        )
    return result


def integer(
    ds: Any,
    keyword: str,
    where: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    why: str = "",
) -> int:
    """One whole number within a range; ``default`` when absent (else an error).

    Raises
    ------
    DicomReadError
        If the value is absent without a default, not a whole number, or out of range.
    """
    value = optional_integer(ds, keyword, where, minimum=minimum, maximum=maximum, why=why)
    if value is not None:
        return value
    if default is not None:
        return default
    raise _missing(where, keyword, why)


def _missing(where: str, keyword: str, why: str) -> DicomReadError:
    """The error for a required element that is absent or empty."""
    suffix = f"; {why}" if why else ""
    return DicomReadError(f"{where}: {tag_name(keyword)} is missing{suffix}")


def text(ds: Any, keyword: str, default: str = "") -> str:
    """A value as stripped text (``default`` when absent, empty or undecodable)."""
    raw = _raw(ds, keyword)
    if raw is None or isinstance(raw, Exception | bytes | bytearray):
        return default
    value = str(raw).strip()
    return value if value else default


def _shown(raw: Any) -> str:
    shown = repr(list(raw) if isinstance(raw, MultiValue) else raw)
    return shown if len(shown) <= 60 else shown[:57] + "..."


# ---------------------------------------------------------------------------- pixels
def pixel_values(
    ds: Any,
    path: Path,
    what: str,
    *,
    frames: int = 1,
    bits_allowed: Sequence[int] = _NATIVE_BITS,
) -> npt.NDArray[Any]:
    """The stored Pixel Data of a greyscale image as integers, shape ``(frames, rows, columns)``.

    The Image Pixel module is checked against the Pixel Data before anything is decoded:
    Rows, Columns and Number of Frames must be positive, Bits Allocated one of
    ``bits_allowed``, Bits Stored and High Bit consistent with it, Samples per Pixel 1,
    and for native (uncompressed) transfer syntaxes the Pixel Data must hold exactly
    ``rows x columns x frames x bits / 8`` bytes. The decoded array must fit the read limit.

    Parameters
    ----------
    ds : pydicom.Dataset
        Read with its Pixel Data.
    path : Path
    what : str
        ``"CT slice"``, ``"RT Dose"``... for messages.
    frames : int
        The number of frames expected (Number of Frames, checked by the caller).
    bits_allowed : sequence of int
        The Bits Allocated accepted.

    Returns
    -------
    numpy.ndarray
        The stored values (before any rescale), integer dtype.

    Raises
    ------
    DicomReadError
        Naming the tag at fault and the file.
    """
    where = f"{path}"
    rows = integer(ds, "Rows", where, minimum=1, maximum=65535, why=f"the {what} size is unknown")
    cols = integer(
        ds, "Columns", where, minimum=1, maximum=65535, why=f"the {what} size is unknown"
    )
    bits = integer(ds, "BitsAllocated", where, why="the pixel encoding is unknown")
    if bits not in bits_allowed:
        raise DicomReadError(
            f"{where}: {tag_name('BitsAllocated')} is {bits}; a {what} has "
            f"{' or '.join(map(str, bits_allowed))} bits per value"
        )
    stored = integer(ds, "BitsStored", where, why="the pixel encoding is unknown")
    if not 1 <= stored <= bits:
        raise DicomReadError(
            f"{where}: {tag_name('BitsStored')} is {stored}, inconsistent with "
            f"{tag_name('BitsAllocated')} {bits} (it must be 1 to {bits})"
        )
    high = integer(ds, "HighBit", where, why="the pixel encoding is unknown")
    if high != stored - 1:
        raise DicomReadError(
            f"{where}: {tag_name('HighBit')} is {high}, inconsistent with "
            f"{tag_name('BitsStored')} {stored} (it must be {stored - 1})"
        )
    samples = integer(ds, "SamplesPerPixel", where, default=1)
    if samples != 1:
        raise DicomReadError(
            f"{where}: {tag_name('SamplesPerPixel')} is {samples}; a {what} is greyscale (1)"
        )
    representation = integer(ds, "PixelRepresentation", where, default=0)
    if representation not in (0, 1):
        raise DicomReadError(
            f"{where}: {tag_name('PixelRepresentation')} is {representation}, not 0 (unsigned) "
            "or 1 (signed)"
        )
    check_array_bytes(rows * cols * frames * 8, where, f"a {frames} x {rows} x {cols} {what}")
    _check_pixel_bytes(ds, path, what, (frames, rows, cols), bits)
    try:
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises many types on undecodable pixel data
        if isinstance(exc, MemoryError):
            raise
        raise DicomReadError(
            f"{where}: the Pixel Data of this {what} cannot be decoded ({type(exc).__name__}: "
            f"{exc})"
        ) from exc
    if pixels.size != frames * rows * cols:
        raise DicomReadError(
            f"{where}: the Pixel Data decodes to {pixels.size} values, not Rows x Columns x "
            f"Number of Frames = {rows} x {cols} x {frames}"
        )
    return pixels.reshape(frames, rows, cols)


def _check_pixel_bytes(
    ds: Any, path: Path, what: str, shape: tuple[int, int, int], bits: int
) -> None:
    """Native Pixel Data must hold exactly the bytes the header announces."""
    from pydicom.uid import UID

    elem = ds.get_item(0x7FE00010)
    if elem is None:
        raise DicomReadError(
            f"{path}: the {what} has no Pixel Data (7FE0,0010): the file is truncated or "
            "incomplete, copy or export it again"
        )
    value = elem.value
    if not isinstance(value, bytes | bytearray) or len(value) == 0:
        raise DicomReadError(f"{path}: the Pixel Data (7FE0,0010) of this {what} is empty")
    tsuid = check_transfer_syntax(ds, path, what) or "1.2.840.10008.1.2"
    if UID(tsuid).is_compressed:
        return
    frames, rows, cols = shape
    expected = frames * rows * cols * bits // 8
    if len(value) not in (expected, expected + 1):
        raise DicomReadError(
            f"{path}: Rows x Columns x Number of Frames ({rows} x {cols} x {frames} at {bits} "
            f"bits) announce {expected} bytes of Pixel Data but the file holds {len(value)}; "
            f"the {what} is corrupt or truncated: copy or export it again"
        )
