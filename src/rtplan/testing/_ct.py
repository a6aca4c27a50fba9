"""Synthetic CT series written with pydicom: geometry, pixel encoding, the writer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage

from rtplan.testing._dicom import FloatArray, _apply, _new_dataset, _pop_uids, _save, format_ds, uid

#: ``edit(k, ds)``: a change made to slice ``k``'s dataset just before it is saved.
SliceEdit = Callable[[int, Dataset], None]

if TYPE_CHECKING:
    from os import PathLike


# --------------------------------------------------------------------------- geometry
#: Image Orientation (Patient) that a CT scanner writes for each Patient Position. The
#: scanner's image axes are fixed to the gantry (rows run horizontally, columns towards the
#: floor), so the patient directions they map to follow from the position definitions of
#: DICOM PS3.3 C.7.3.1.1.2 (head or feet first; supine: face up; prone: face down;
#: decubitus left or right: that side down). pymedphys holds the same table.
SCANNER_ORIENTATIONS: Mapping[str, tuple[int, int, int, int, int, int]] = MappingProxyType(
    {
        "HFS": (1, 0, 0, 0, 1, 0),
        "HFP": (-1, 0, 0, 0, -1, 0),
        "FFS": (-1, 0, 0, 0, 1, 0),
        "FFP": (1, 0, 0, 0, -1, 0),
        "HFDL": (0, -1, 0, 1, 0, 0),
        "HFDR": (0, 1, 0, -1, 0, 0),
        "FFDL": (0, 1, 0, 1, 0, 0),
        "FFDR": (0, -1, 0, -1, 0, 0),
    }
)


def slice_normal(orientation: Sequence[float]) -> FloatArray:
    """The slice normal (row cosine x column cosine) of an Image Orientation (Patient).

    Parameters
    ----------
    orientation : sequence of 6 float
        Row direction cosine then column direction cosine, LPS.

    Returns
    -------
    numpy.ndarray of float64, shape (3,)

    Examples
    --------
    >>> from rtplan.testing import SCANNER_ORIENTATIONS, slice_normal
    >>> slice_normal(SCANNER_ORIENTATIONS["HFS"]).tolist()
    [0.0, 0.0, 1.0]
    >>> slice_normal(SCANNER_ORIENTATIONS["FFS"]).tolist()
    [0.0, 0.0, -1.0]
    """
    o = np.asarray(orientation, dtype=np.float64)
    return np.asarray(np.cross(o[:3], o[3:]), dtype=np.float64)


def pixel_centre_mm(
    position_mm: Sequence[float],
    orientation: Sequence[float],
    pixel_spacing_mm: Sequence[float],
    i: float,
    j: float,
) -> FloatArray:
    """LPS centre of pixel (column ``i``, row ``j``) of a slice, by DICOM PS3.3 C.7.6.2.1.1.

    ``P = ImagePositionPatient + i * PixelSpacing[1] * row_cosine
    + j * PixelSpacing[0] * column_cosine``.

    Parameters
    ----------
    position_mm : sequence of 3 float
        Image Position (Patient) of the slice: the centre of its first pixel, LPS mm.
    orientation : sequence of 6 float
        Image Orientation (Patient).
    pixel_spacing_mm : sequence of 2 float
        Pixel Spacing ``(row spacing, column spacing)``: the distance between rows, then
        between columns.
    i, j : float
        Column and row index.

    Returns
    -------
    numpy.ndarray of float64, shape (3,)

    Examples
    --------
    >>> from rtplan.testing import pixel_centre_mm
    >>> pixel_centre_mm((10.0, 20.0, 30.0), (1, 0, 0, 0, 1, 0), (2.0, 0.5), 4, 1).tolist()
    [12.0, 22.0, 30.0]
    """
    o = np.asarray(orientation, dtype=np.float64)
    return np.asarray(
        np.asarray(position_mm, dtype=np.float64)
        + i * float(pixel_spacing_mm[1]) * o[:3]
        + j * float(pixel_spacing_mm[0]) * o[3:],
        dtype=np.float64,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class SeriesGeometry:
    """Where the slices of a synthetic image series lie.

    Parameters
    ----------
    origin_mm : tuple of 3 float
        LPS centre of the first pixel of the first slice (written slice ``k = 0``).
    spacing_mm : tuple of 3 float
        ``(slice, row, column)`` spacing: the step between slices along the normal (negative
        stacks them against it, as a scanner moving head to feet does for HFS), the distance
        between rows and the distance between columns.
    orientation : tuple of 6 float
        Image Orientation (Patient): row then column direction cosine. Written as given
        (not checked), so that tests can write a broken one.
    patient_position : str
        Patient Position (``"HFS"``, ``"FFP"``, ...; ``""`` writes an empty value).
    positions_mm : tuple of (3,) tuples, optional
        Image Position (Patient) of every slice, overriding the uniform stacking from
        ``origin_mm`` (gaps, shears, duplicates).

    Examples
    --------
    >>> from rtplan.testing import SCANNER_ORIENTATIONS, SeriesGeometry
    >>> g = SeriesGeometry(origin_mm=(0.0, 0.0, 10.0), spacing_mm=(-2.0, 1.0, 1.0))
    >>> g.slice_positions_mm(3)[:, 2].tolist()
    [10.0, 8.0, 6.0]
    >>> SeriesGeometry.for_patient_position("FFS").orientation
    (-1, 0, 0, 0, 1, 0)
    """

    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    spacing_mm: tuple[float, float, float] = (2.0, 1.0, 1.0)
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0)
    patient_position: str = "HFS"
    positions_mm: tuple[tuple[float, float, float], ...] | None = None

    def __post_init__(self) -> None:
        if len(self.origin_mm) != 3 or len(self.spacing_mm) != 3:
            raise ValueError(
                f"origin_mm and spacing_mm need 3 values each, got {self.origin_mm} and "
                f"{self.spacing_mm}"
            )
        if len(self.orientation) != 6:
            raise ValueError(f"orientation needs 6 direction cosines, got {self.orientation}")
        if self.positions_mm is not None and any(len(p) != 3 for p in self.positions_mm):
            raise ValueError("every entry of positions_mm needs 3 values (x, y, z in mm)")

    @classmethod
    def for_patient_position(cls, patient_position: str, **fields: object) -> SeriesGeometry:
        """The geometry a CT scanner writes for a patient position (see SCANNER_ORIENTATIONS).

        Parameters
        ----------
        patient_position : str
            A key of :data:`SCANNER_ORIENTATIONS`.
        **fields
            Other fields of the geometry.

        Returns
        -------
        SeriesGeometry
        """
        orientation = SCANNER_ORIENTATIONS[patient_position]
        return cls(orientation=orientation, patient_position=patient_position, **fields)  # type: ignore[arg-type]

    def slice_positions_mm(self, n_slices: int) -> FloatArray:
        """Image Position (Patient) of each slice, shape ``(n_slices, 3)``, LPS mm.

        Parameters
        ----------
        n_slices : int
            Number of slices (must match ``positions_mm`` when that is given).

        Returns
        -------
        numpy.ndarray of float64, shape (n_slices, 3)

        Raises
        ------
        ValueError
            If ``positions_mm`` holds another number of slices.
        """
        if self.positions_mm is not None:
            if len(self.positions_mm) != n_slices:
                raise ValueError(
                    f"positions_mm holds {len(self.positions_mm)} positions for {n_slices} slices"
                )
            return np.asarray(self.positions_mm, dtype=np.float64).reshape(n_slices, 3)
        normal = slice_normal(self.orientation)
        origin = np.asarray(self.origin_mm, dtype=np.float64)
        return np.asarray(
            [origin + k * float(self.spacing_mm[0]) * normal for k in range(n_slices)],
            dtype=np.float64,
        ).reshape(n_slices, 3)


@dataclass(frozen=True, kw_only=True, slots=True)
class PixelEncoding:
    """How CT numbers are stored: unsigned integers with a rescale to HU.

    ``stored = rint((HU - intercept) / slope)``, clipped to ``[0, 2**bits_stored - 1]``,
    in 16 allocated bits.

    Parameters
    ----------
    rescale_slope : float or None
        Rescale Slope; ``None`` leaves the attribute out (a slope of 1 is used to encode).
    rescale_intercept : float or None
        Rescale Intercept; ``None`` leaves the attribute out (-1024 is used to encode).
    bits_stored : int
        Bits Stored, 1 to 16 (High Bit is one less).

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.testing import PixelEncoding
    >>> PixelEncoding(bits_stored=12).encode(np.array([-2000.0, 0.0, 5000.0])).tolist()
    [0, 1024, 4095]
    """

    rescale_slope: float | None = 1.0
    rescale_intercept: float | None = -1024.0
    bits_stored: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.bits_stored <= 16:
            raise ValueError(f"bits_stored must be 1 to 16, got {self.bits_stored}")
        if self.rescale_slope is not None and self.rescale_slope == 0.0:
            raise ValueError("rescale_slope must not be 0")

    def encode(self, hu: npt.ArrayLike) -> npt.NDArray[np.uint16]:
        """Stored values of CT numbers (HU), rounded and clipped to the stored range.

        Parameters
        ----------
        hu : array_like
            CT numbers, HU.

        Returns
        -------
        numpy.ndarray of uint16, same shape as ``hu``
        """
        slope = 1.0 if self.rescale_slope is None else float(self.rescale_slope)
        intercept = -1024.0 if self.rescale_intercept is None else float(self.rescale_intercept)
        stored = np.rint((np.asarray(hu, dtype=np.float64) - intercept) / slope)
        return np.clip(stored, 0, 2**self.bits_stored - 1).astype(np.uint16)


# --------------------------------------------------------------------------- CT
def _ct_slice(
    pixels: npt.NDArray[np.uint16],
    position_mm: FloatArray,
    geometry: SeriesGeometry,
    encoding: PixelEncoding,
    ids: Mapping[str, str],
) -> Dataset:
    """One CT Image Storage dataset (Explicit VR Little Endian, unsigned pixels)."""
    ds = _new_dataset(CTImageStorage, ids["sop"], "CT")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.StudyInstanceUID = ids["study"]
    ds.SeriesInstanceUID = ids["series"]
    ds.SeriesNumber = 1
    ds.SeriesDescription = "Synthetic CT"
    ds.FrameOfReferenceUID = ids["frame"]
    ds.PositionReferenceIndicator = ""
    ds.Laterality = ""  # type 2C while Body Part Examined is absent
    ds.PatientPosition = geometry.patient_position
    ds.InstanceNumber = int(ids["instance"])
    ds.AcquisitionNumber = 1
    ds.KVP = "120"
    ds.SliceThickness = format_ds(abs(float(geometry.spacing_mm[0])))
    ds.ImagePositionPatient = [format_ds(v) for v in position_mm]
    ds.ImageOrientationPatient = [format_ds(v, 8) for v in geometry.orientation]
    ds.PixelSpacing = [format_ds(geometry.spacing_mm[1]), format_ds(geometry.spacing_mm[2])]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = encoding.bits_stored
    ds.HighBit = encoding.bits_stored - 1
    ds.PixelRepresentation = 0
    if encoding.rescale_intercept is not None:
        ds.RescaleIntercept = format_ds(encoding.rescale_intercept)
    if encoding.rescale_slope is not None:
        ds.RescaleSlope = format_ds(encoding.rescale_slope)
    ds.RescaleType = "HU"
    ds.PixelData = np.ascontiguousarray(pixels).astype("<u2").tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def write_ct_series(
    folder: str | PathLike[str],
    hu: npt.ArrayLike,
    geometry: SeriesGeometry | None = None,
    *,
    encoding: PixelEncoding | None = None,
    instance_numbers: Sequence[int] | None = None,
    file_names: Sequence[str] | None = None,
    sop_instance_uids: Sequence[str] | None = None,
    attributes: Mapping[str, object] | None = None,
    edit: SliceEdit | None = None,
) -> list[Path]:
    """Write a volume as a CT series, one CT Image Storage file per slice, with pydicom.

    Parameters
    ----------
    folder : path-like
        Output folder (created if needed).
    hu : array_like, shape (slices, rows, columns)
        CT numbers, HU; slice ``k`` is written at ``geometry``'s ``k``-th position.
    geometry : SeriesGeometry, optional
        Positions, spacing, orientation and patient position; default HFS axial slices of
        1 x 1 mm pixels, 2 mm apart, from the origin.
    encoding : PixelEncoding, optional
        Stored pixel values and rescale; default 16-bit unsigned, ``HU = stored - 1024``.
    instance_numbers : sequence of int, optional
        Instance Number of each slice; default ``1, 2, ...`` in slice order.
    file_names : sequence of str, optional
        File name of each slice; default ``CT_0000.dcm, CT_0001.dcm, ...``.
    sop_instance_uids : sequence of str, optional
        SOP Instance UID of each slice; default derived from the series UID, the instance
        number and the position.
    attributes : mapping of str to object, optional
        DICOM keywords and values set on every slice after the defaults (``None`` removes
        an attribute; file meta keywords such as ``ImplementationClassUID`` go to the file
        meta). ``StudyInstanceUID``, ``SeriesInstanceUID`` and ``FrameOfReferenceUID``
        (absent or ``None``) default to :func:`uid` of ``"study"``, ``"series"``,
        ``"frame"`` and the folder.
    edit : callable, optional
        ``edit(k, ds)`` changes slice ``k``'s dataset just before it is saved.

    Returns
    -------
    list of pathlib.Path
        The files, in slice order ``k``.

    Raises
    ------
    ValueError
        If ``hu`` is not 3D, a per-slice sequence has the wrong length or a keyword is not
        a DICOM keyword.

    Examples
    --------
    Feet-first supine, 2.5 mm slices, 0.8 x 1.25 mm pixels, written from head to feet:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pydicom
    >>> from rtplan.testing import SeriesGeometry, write_ct_series
    >>> tmp = tempfile.TemporaryDirectory()
    >>> geometry = SeriesGeometry.for_patient_position(
    ...     "FFS", origin_mm=(10.0, -20.0, 0.0), spacing_mm=(-2.5, 0.8, 1.25))
    >>> paths = write_ct_series(Path(tmp.name), np.full((4, 6, 5), 40.0), geometry)
    >>> ds = pydicom.dcmread(paths[1])
    >>> ds.PatientPosition, [float(v) for v in ds.ImagePositionPatient]
    ('FFS', [10.0, -20.0, 2.5])
    >>> float(ds.pixel_array[0, 0] * ds.RescaleSlope + ds.RescaleIntercept)
    40.0
    >>> tmp.cleanup()
    """
    folder = Path(folder)
    volume = np.asarray(hu)
    if volume.ndim != 3:
        raise ValueError(f"hu must have shape (slices, rows, columns), got {volume.shape}")
    n = volume.shape[0]
    for what, seq in (
        ("instance_numbers", instance_numbers),
        ("file_names", file_names),
        ("sop_instance_uids", sop_instance_uids),
    ):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{what} holds {len(seq)} values for {n} slices")
    geometry = geometry or SeriesGeometry()
    encoding = encoding or PixelEncoding()
    attributes = dict(attributes or {})
    uids = _pop_uids(
        attributes,
        {
            "StudyInstanceUID": uid("study", folder),
            "SeriesInstanceUID": uid("series", folder),
            "FrameOfReferenceUID": uid("frame", folder),
        },
    )
    ids = {
        "study": uids["StudyInstanceUID"],
        "series": uids["SeriesInstanceUID"],
        "frame": uids["FrameOfReferenceUID"],
    }
    positions = geometry.slice_positions_mm(n)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        instance = int(instance_numbers[k]) if instance_numbers is not None else k + 1
        sop = (
            str(sop_instance_uids[k])
            if sop_instance_uids is not None
            else str(uid(ids["series"], instance, *positions[k].tolist()))
        )
        ds = _ct_slice(
            encoding.encode(volume[k]),
            positions[k],
            geometry,
            encoding,
            {**ids, "sop": sop, "instance": str(instance)},
        )
        _apply(ds, attributes)
        if edit is not None:
            edit(k, ds)
        name = file_names[k] if file_names is not None else f"CT_{k:04d}.dcm"
        paths.append(_save(ds, folder / name))
    return paths
