"""Volumes on a grid: CT in HU, masks, densities, and dose in Gy.

An :class:`Image` answers where its content lies (:meth:`Image.bounding_box`, an
:class:`~rtplan.grid.IndexBox` in array order) and gives itself cropped to a box
(:meth:`Image.crop_to`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from rtplan.errors import DoseError, GeometryError
from rtplan.grid import Grid, IndexBox

__all__ = [
    "Dose",
    "DoseMedium",
    "DoseSummationType",
    "DoseType",
    "Image",
    "PatientPosition",
    "SeriesInfo",
]


class PatientPosition(enum.StrEnum):
    """DICOM Patient Position (0018,5100): how the patient lies relative to the equipment."""

    HFS = "HFS"
    HFP = "HFP"
    FFS = "FFS"
    FFP = "FFP"
    HFDL = "HFDL"
    HFDR = "HFDR"
    FFDL = "FFDL"
    FFDR = "FFDR"

    @property
    def to_iec_fixed(self) -> npt.NDArray[np.float64]:
        """Rotation taking an LPS vector to IEC 61217 fixed coordinates (couch at 0°).

        IEC fixed: X to the right of an observer at the couch foot facing the gantry,
        Y towards the gantry, Z up. The columns are the patient's L, P and S unit
        vectors expressed in IEC fixed coordinates.

        Returns
        -------
        numpy.ndarray, shape (3, 3)
        """
        x, _, z = np.eye(3)
        table: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {
            # position: (L, P) in IEC fixed; S = L x P
            "HFS": (x, -z),
            "HFP": (-x, z),
            "FFS": (-x, -z),
            "FFP": (x, z),
            "HFDL": (-z, -x),
            "HFDR": (z, x),
            "FFDL": (-z, x),
            "FFDR": (z, -x),
        }
        left, post = table[self.value]
        sup = np.cross(left, post)
        return np.stack([left, post, sup], axis=1)


class DoseMedium(enum.StrEnum):
    """What a dose value refers to: dose to the local medium or to water in that medium."""

    MEDIUM = "medium"
    WATER = "water"


def _dicom_word(value: str) -> str:
    """A DICOM code string as written by hand: upper case, blanks and ``-`` as ``_``."""
    return "_".join(value.strip().upper().replace("-", " ").split())


class DoseType(enum.StrEnum):
    """DICOM Dose Type (3004,0004): what quantity a dose grid holds.

    The members are their DICOM values; lookup forgives case and separators
    (``DoseType("physical") is DoseType.PHYSICAL``).

    Examples
    --------
    >>> from rtplan.image import DoseType
    >>> DoseType("effective") is DoseType.EFFECTIVE, DoseType.PHYSICAL == "PHYSICAL"
    (True, True)
    """

    #: Absorbed dose, Gy.
    PHYSICAL = "PHYSICAL"
    #: A physical dose after a correction for biological effect (BED, EQD2), Gy.
    EFFECTIVE = "EFFECTIVE"
    #: The difference between a desired and a planned dose, Gy (may be negative).
    ERROR = "ERROR"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            word = _dicom_word(value)
            for member in cls:
                if member.value == word:
                    return member
        raise DoseError(
            f"unknown DICOM Dose Type {value!r}; choose one of {', '.join(m.value for m in cls)}"
        )


class DoseSummationType(enum.StrEnum):
    """DICOM Dose Summation Type (3004,000A): what part of a treatment a dose covers.

    =================== ==================================================================
    ``PLAN``            the whole plan: every fraction of every fraction group (a total)
    ``MULTI_PLAN``      several plans summed (a total)
    ``PLAN_OVERVIEW``   the whole plan, for an overview (a total)
    ``FRACTION``        one fraction of a fraction group
    ``BEAM``            one or more beams of a fraction group (part of a plan)
    ``BRACHY``          one or more brachytherapy application setups (part of a plan)
    ``FRACTION_SESSION`` one session of a fraction group (one fraction)
    ``BEAM_SESSION``    one session of one or more beams (part of a fraction)
    ``BRACHY_SESSION``  one session of brachytherapy application setups
    ``CONTROL_POINT``   one or more control points of a beam (part of a fraction)
    ``RECORD``          what a treatment record says was delivered (part of a course)
    =================== ==================================================================

    The members are their DICOM values; lookup forgives case and separators
    (``DoseSummationType("multi plan") is DoseSummationType.MULTI_PLAN``).

    Examples
    --------
    >>> from rtplan.image import DoseSummationType
    >>> DoseSummationType("fraction").is_per_fraction, DoseSummationType.PLAN.is_total
    (True, True)
    >>> [t.value for t in DoseSummationType if t.is_partial][:3]
    ['BEAM', 'BRACHY', 'BEAM_SESSION']
    """

    PLAN = "PLAN"
    MULTI_PLAN = "MULTI_PLAN"
    PLAN_OVERVIEW = "PLAN_OVERVIEW"
    FRACTION = "FRACTION"
    BEAM = "BEAM"
    BRACHY = "BRACHY"
    FRACTION_SESSION = "FRACTION_SESSION"
    BEAM_SESSION = "BEAM_SESSION"
    BRACHY_SESSION = "BRACHY_SESSION"
    CONTROL_POINT = "CONTROL_POINT"
    RECORD = "RECORD"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            word = _dicom_word(value)
            for member in cls:
                if member.value == word:
                    return member
        raise DoseError(
            f"unknown DICOM Dose Summation Type {value!r}; choose one of "
            f"{', '.join(m.value for m in cls)}"
        )

    @property
    def is_total(self) -> bool:
        """True for the dose of a whole course: ``PLAN``, ``MULTI_PLAN``, ``PLAN_OVERVIEW``."""
        return self in (
            DoseSummationType.PLAN,
            DoseSummationType.MULTI_PLAN,
            DoseSummationType.PLAN_OVERVIEW,
        )

    @property
    def is_per_fraction(self) -> bool:
        """True for the dose of one whole fraction: ``FRACTION``, ``FRACTION_SESSION``."""
        return self in (DoseSummationType.FRACTION, DoseSummationType.FRACTION_SESSION)

    @property
    def is_partial(self) -> bool:
        """True for part of a plan or fraction (beams, control points, records, brachy)."""
        return not (self.is_total or self.is_per_fraction)


@dataclass(frozen=True, kw_only=True, slots=True)
class SeriesInfo:
    """Where a volume came from in DICOM, kept so that writers can reference it.

    Parameters
    ----------
    study_instance_uid, series_instance_uid, frame_of_reference_uid : str
        UIDs of the source series.
    sop_class_uid : str
        SOP Class of the slices (CT Image Storage for CT).
    sop_instance_uids : tuple of str
        One per slice, in array (k) order.
    files : tuple of Path
        Source file of each slice, in array (k) order (empty for single-file objects).
    modality : str
        DICOM Modality.
    patient : dict
        Patient and study attributes copied to derived objects (PatientName, PatientID,
        PatientBirthDate, PatientSex, StudyDate, StudyTime, StudyID, AccessionNumber,
        ReferringPhysicianName, StudyDescription).
    """

    study_instance_uid: str = ""
    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    sop_class_uid: str = ""
    sop_instance_uids: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    modality: str = ""
    patient: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Image:
    """A scalar volume on a :class:`~rtplan.Grid`.

    Parameters
    ----------
    array : numpy.ndarray, shape grid.shape
        Values in ``(slice, row, column)`` order. Stored read-only.
    grid : Grid
        Placement of the voxels in LPS mm.
    units : str
        ``"HU"``, ``"g/cm3"``, ``"Gy"``, ``"1"`` (masks, relative values)...
    name : str
        Free label.
    patient_position : PatientPosition or None
        DICOM Patient Position of the acquisition, needed to place beams (IEC 61217).
    series : SeriesInfo or None
        DICOM provenance, when read from DICOM.

    Raises
    ------
    GeometryError
        If ``array.shape`` differs from ``grid.shape``.
    """

    array: npt.NDArray[Any]
    grid: Grid
    units: str = ""
    name: str = ""
    patient_position: PatientPosition | None = None
    series: SeriesInfo | None = None

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.shape != self.grid.shape:
            raise GeometryError(
                f"{type(self).__name__} array shape {arr.shape} differs from grid shape "
                f"{self.grid.shape} (axes are slice, row, column)"
            )
        if arr.flags.writeable:
            arr = arr.view()
            arr.setflags(write=False)
        object.__setattr__(self, "array", arr)
        if self.patient_position is not None and not isinstance(
            self.patient_position, PatientPosition
        ):
            object.__setattr__(self, "patient_position", PatientPosition(self.patient_position))

    def with_array(self, array: npt.ArrayLike, **changes: Any) -> Self:
        """Return a copy with another array (same grid) and optional field changes.

        Parameters
        ----------
        array : array_like, shape grid.shape
        **changes
            Other fields to replace (``units``, ``name``...).

        Returns
        -------
        Image
            Of the same class as ``self``.
        """
        return replace(self, array=np.asarray(array), **changes)

    def sample(
        self, points_mm: npt.ArrayLike, *, order: int = 1, fill_value: float = np.nan
    ) -> npt.NDArray[np.float64]:
        """Interpolate the image at LPS points.

        Parameters
        ----------
        points_mm : array_like, shape (N, 3) or (3,)
            LPS positions, mm.
        order : {0, 1, 3}
            0 nearest, 1 trilinear (default), 3 cubic spline.
        fill_value : float
            Value for points outside the voxel centres' hull (plus half a voxel, where
            the nearest edge value is used).

        Returns
        -------
        numpy.ndarray, shape (N,) or ()
        """
        from scipy import ndimage

        pts = np.asarray(points_mm, dtype=np.float64)
        single = pts.ndim == 1
        ijk = self.grid.mm_to_index(pts.reshape(-1, 3))
        inside = self.grid.contains_index(ijk)
        upper = np.asarray(self.grid.shape_ijk, dtype=np.float64) - 1.0
        clipped = np.clip(ijk, 0.0, upper)
        coords = clipped[:, ::-1].T  # (k, j, i) rows for map_coordinates
        data = np.asarray(self.array)
        if order in (0, 1) and coords.shape[1] > 0:
            # Nearest and trilinear values depend only on the voxels around each point:
            # convert just the block that holds the points, not a whole 512 x 512 x 200 CT
            # (hundreds of MiB as float64). Shifting by whole voxels is exact in float64,
            # so the values are the same as on the whole array.
            lo = np.floor(coords.min(axis=1)).astype(np.intp)
            hi = np.minimum(np.floor(coords.max(axis=1)).astype(np.intp) + 2, data.shape)
            data = data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
            coords = coords - lo[:, None]
        data = np.asarray(data, dtype=np.float64)
        if order == 0:
            idx = np.rint(coords).astype(np.intp)
            values = data[idx[0], idx[1], idx[2]]
        else:
            values = ndimage.map_coordinates(data, coords, order=order, mode="nearest")
        values = np.where(inside, values, fill_value)
        return values[0] if single else values

    def resample(self, grid: Grid, *, order: int = 1, fill_value: float = 0.0) -> Self:
        """Interpolate onto another grid.

        Parameters
        ----------
        grid : Grid
            Target grid.
        order : {0, 1, 3}
            Interpolation order (0 for masks and labels).
        fill_value : float
            Value outside this image.

        Returns
        -------
        Image
            Same class and metadata, new grid and array (float64 unless order 0).
        """
        if grid.isclose(self.grid):
            return replace(self, grid=grid)
        if np.allclose(grid.direction, self.grid.direction, atol=1e-6):
            return replace(self, array=self._resample_aligned(grid, order, fill_value), grid=grid)
        out = np.empty(grid.shape, dtype=np.float64 if order else self.array.dtype)
        ni, nj = grid.shape[2], grid.shape[1]
        jj, ii = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
        for k in range(grid.shape[0]):  # slice by slice keeps memory bounded
            ijk = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k)], axis=1)
            vals = self.sample(grid.index_to_mm(ijk), order=order, fill_value=fill_value)
            out[k] = vals.reshape(nj, ni)
        return replace(self, array=out, grid=grid)

    def _resample_aligned(self, grid: Grid, order: int, fill_value: float) -> npt.NDArray[Any]:
        """Resample onto a grid with the same axes: a separable, per-axis affine map."""
        from scipy import ndimage

        src = self.grid
        # source index of target index n along each array axis (k, j, i): offset + n * scale
        shift_ijk = src.direction.T @ (np.asarray(grid.origin_mm) - np.asarray(src.origin_mm))
        offset = shift_ijk[::-1] / np.asarray(src.spacing_mm)
        scale = np.asarray(grid.spacing_mm) / np.asarray(src.spacing_mm)
        if order == 0 and np.allclose(scale, 1.0) and np.allclose(offset, np.rint(offset)):
            # same lattice, whole-voxel shift: copy the overlapping block
            shift = np.rint(offset).astype(np.intp)
            dtype = np.asarray(self.array).dtype
            block = np.full(grid.shape, fill_value, dtype=dtype)
            dst = tuple(
                slice(max(0, -d), min(n, m - d))
                for d, n, m in zip(shift, grid.shape, src.shape, strict=True)
            )
            srcs = tuple(slice(sl.start + d, sl.stop + d) for sl, d in zip(dst, shift, strict=True))
            if all(sl.stop > sl.start for sl in dst):
                block[dst] = np.asarray(self.array)[srcs]
            return block
        coords = [offset[a] + np.arange(grid.shape[a]) * scale[a] for a in range(3)]
        valid = [(c >= -0.5) & (c <= src.shape[a] - 0.5) for a, c in enumerate(coords)]
        inside = valid[0][:, None, None] & valid[1][None, :, None] & valid[2][None, None, :]
        if order == 0:
            idx = [
                np.clip(np.rint(c), 0, src.shape[a] - 1).astype(np.intp)
                for a, c in enumerate(coords)
            ]
            out = np.asarray(self.array)[np.ix_(idx[0], idx[1], idx[2])]
            if not inside.all():
                out = np.where(inside, out, np.asarray(fill_value, dtype=out.dtype))
            return np.asarray(out)
        data = np.asarray(self.array, dtype=np.float64)
        vals = ndimage.affine_transform(
            data, scale, offset=offset, output_shape=grid.shape, order=order, mode="nearest"
        )
        return np.where(inside, vals, fill_value)

    def bounding_box(self, *, above: float | None = None) -> IndexBox | None:
        """The box of the voxels that are set (nonzero), or whose value exceeds ``above``.

        Parameters
        ----------
        above : float, optional
            Threshold in the image's units: the box of the voxels ``> above`` (e.g. the
            voxels of a CT above -400 HU). Without it, the box of the nonzero voxels (the
            True voxels of a mask).

        Returns
        -------
        IndexBox or None
            In array order ``(k, j, i)``, upper bound exclusive; ``None`` if no voxel
            qualifies. :meth:`crop_to` and :meth:`rtplan.Grid.crop_to` take it.

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> ct = rtplan.io.read_ct(get_path("thigh_sarcoma"))
        >>> box = ct.bounding_box(above=-400.0)     # the patient, without the air around
        >>> box.size < ct.grid.size
        True
        >>> body = ct.crop_to(box.padded(1, within=ct.shape))
        >>> body.shape == box.padded(1, within=ct.shape).shape
        True
        """
        data = np.asarray(self.array)
        if above is None:
            return IndexBox.from_mask(data)
        # slice by slice: no whole-volume temporary beyond one boolean array
        per_slice = np.empty(data.shape, dtype=bool)
        for k in range(data.shape[0]):
            np.greater(data[k], above, out=per_slice[k])
        return IndexBox.from_mask(per_slice)

    def crop_to(self, box: IndexBox) -> Self:
        """The image on the voxels of a box (same class, units and provenance).

        Parameters
        ----------
        box : IndexBox
            A non-empty box inside the grid (:meth:`bounding_box`, optionally
            :meth:`~rtplan.grid.IndexBox.padded`).

        Returns
        -------
        Image
            Its array is a read-only view of this one's; its grid
            :meth:`rtplan.Grid.crop_to` of this one's; the per-slice provenance
            (``series.sop_instance_uids``, ``series.files``) keeps the slices kept.

        Raises
        ------
        GeometryError
            If the box is empty or leaves the grid.

        Examples
        --------
        >>> import rtplan
        >>> from rtplan.data import get_path
        >>> ct = rtplan.io.read_ct(get_path("thigh_sarcoma"))
        >>> box = ct.bounding_box(above=150.0)     # the bone, by its HU
        >>> bone = ct.crop_to(box)
        >>> bone.shape == box.shape, bool(bone.array.max() == ct.array.max())
        (True, True)
        """
        grid = self.grid.crop_to(box)
        series = self.series
        if series is not None:
            # the per-slice provenance follows the slices kept
            k = box.slices[0]
            n = self.shape[0]
            series = replace(
                series,
                sop_instance_uids=series.sop_instance_uids[k]
                if len(series.sop_instance_uids) == n
                else series.sop_instance_uids,
                files=series.files[k] if len(series.files) == n else series.files,
            )
        return replace(self, array=np.asarray(self.array)[box.slices], grid=grid, series=series)

    def slab(self, axis: int, index: int) -> npt.NDArray[Any]:
        """One 2D slice of the array along an array axis (0 = axial for axial CT)."""
        return np.asarray(np.take(self.array, index, axis=axis))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(nk, nj, ni)``."""
        return self.grid.shape

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, units={self.units!r}, "
            f"dtype={self.array.dtype}, grid={self.grid!r})"
        )


def _fraction_count(value: object, what: str) -> int:
    """A number of fractions: a whole number >= 1 (bool and non-integral floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float | np.floating):
        raise DoseError(f"{what} must be a whole number >= 1, got {value!r}")
    number = float(value)
    if not (np.isfinite(number) and number == int(number) and number >= 1):
        raise DoseError(f"{what} must be a whole number >= 1, got {value!r}")
    return int(number)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Dose(Image):
    """Absorbed dose on a grid, in Gy, and what it means.

    A dose says what it covers (:attr:`summation_type`: the whole plan, one fraction, one
    beam...), what quantity it is (:attr:`dose_type`: physical, biologically effective, or
    a dose error) and, when known, in how many fractions the plan delivers it
    (:attr:`fractions`). Doses computed by rtplan are whole-plan physical doses with the
    plan's fractions; the RT Dose reader takes them from DoseSummationType (3004,000A),
    DoseType (3004,0004) and the referenced plan. The explicit conversions
    :meth:`per_fraction` and :meth:`total` change the summation type and say so in
    :attr:`history`.

    Parameters
    ----------
    units : str
        Always ``"Gy"``.
    dose_type : DoseType or str
        DICOM Dose Type: ``"PHYSICAL"`` (default), ``"EFFECTIVE"`` or ``"ERROR"``.
    summation_type : DoseSummationType or str
        DICOM Dose Summation Type: ``"PLAN"`` (default), ``"MULTI_PLAN"``,
        ``"FRACTION"``, ``"BEAM"``... (see :class:`DoseSummationType`).
    medium : DoseMedium
        Dose to medium (what the collapsed-cone engine computes) or to water.
    fractions : int or None
        Number of fractions of the plan the dose belongs to, when known (for a
        ``FRACTION`` dose: the number of such fractions the plan delivers).
    plan_uid : str
        SOP Instance UID of the RT Plan the dose belongs to (Referenced RT Plan), if known.
    history : tuple of str
        The conversions applied to the dose, oldest first (what :meth:`per_fraction`,
        :meth:`total`, :meth:`scaled` and sums did).

    Raises
    ------
    GeometryError
        If the units are not Gy or the array does not fit the grid.
    DoseError
        If the dose type or summation type is not a DICOM value, or ``fractions`` is not
        a whole number >= 1.

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> g = rtplan.Grid(shape=(1, 1, 1), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
    >>> plan_dose = rtplan.Dose(array=np.full(g.shape, 50.0), grid=g, fractions=25)
    >>> plan_dose.summation_type, plan_dose.dose_type, plan_dose.fractions
    (<DoseSummationType.PLAN: 'PLAN'>, <DoseType.PHYSICAL: 'PHYSICAL'>, 25)
    >>> one = plan_dose.per_fraction()
    >>> one.summation_type.value, float(one.array[0, 0, 0]), one.history
    ('FRACTION', 2.0, ('per fraction: PLAN dose divided by 25 fractions',))
    """

    units: str = "Gy"
    dose_type: DoseType | str = DoseType.PHYSICAL
    summation_type: DoseSummationType | str = DoseSummationType.PLAN
    medium: DoseMedium = DoseMedium.MEDIUM
    fractions: int | None = None
    plan_uid: str = ""
    history: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        Image.__post_init__(self)
        if self.units != "Gy":
            raise GeometryError(f"Dose units must be 'Gy', got {self.units!r}")
        if not isinstance(self.medium, DoseMedium):
            object.__setattr__(self, "medium", DoseMedium(self.medium))
        object.__setattr__(self, "dose_type", DoseType(self.dose_type))
        object.__setattr__(self, "summation_type", DoseSummationType(self.summation_type))
        if self.fractions is not None:
            object.__setattr__(
                self, "fractions", _fraction_count(self.fractions, f"dose {self.name!r} fractions")
            )
        object.__setattr__(self, "history", tuple(str(h) for h in self.history))

    @property
    def summation(self) -> DoseSummationType:
        """The same as :attr:`summation_type` (the name of rtplan 0.1)."""
        return DoseSummationType(self.summation_type)

    @property
    def max_gy(self) -> float:
        """Maximum dose, Gy."""
        return float(np.max(self.array)) if self.array.size else 0.0

    def _count(self, fractions: int | None, what: str) -> int:
        """The number of fractions a conversion uses: given, or the dose's own."""
        given = None if fractions is None else _fraction_count(fractions, "fractions")
        own = self.fractions
        if given is not None and own is not None and given != own:
            raise DoseError(
                f"dose {self.name!r} belongs to a plan of {own} fractions, but {what} was "
                f"asked for {given}; pass the plan's number of fractions (or none)"
            )
        count = given if given is not None else own
        if count is None:
            raise DoseError(
                f"dose {self.name!r}: the number of fractions is unknown, so {what} cannot be "
                "made; pass fractions=<the plan's NumberOfFractionsPlanned>"
            )
        return count

    def _refuse_partial(self, what: str) -> None:
        kind = DoseSummationType(self.summation_type)
        if kind.is_partial:
            raise DoseError(
                f"dose {self.name!r} is a {kind.value} dose (part of a plan or of a fraction); "
                f"{what} needs the dose of a whole plan or of a whole fraction"
            )

    def per_fraction(self, fractions: int | None = None) -> Dose:
        """The dose of one fraction: a whole-plan dose divided by its number of fractions.

        Parameters
        ----------
        fractions : int, optional
            The plan's number of fractions; by default :attr:`fractions`. Given while the
            dose knows another number, it is refused rather than chosen.

        Returns
        -------
        Dose
            ``summation_type="FRACTION"``, ``fractions`` kept, the conversion added to
            :attr:`history`. A dose that is already per fraction is returned as it is.

        Raises
        ------
        DoseError
            If the number of fractions is unknown or contradicts the dose's, or the dose
            covers part of a plan (``BEAM``, ``CONTROL_POINT``, ``RECORD``...).

        Examples
        --------
        >>> import numpy as np
        >>> import rtplan
        >>> g = rtplan.Grid(shape=(1, 1, 1), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
        >>> d = rtplan.Dose(array=np.full(g.shape, 30.0), grid=g)
        >>> float(d.per_fraction(10).array[0, 0, 0])
        3.0
        """
        kind = DoseSummationType(self.summation_type)
        self._refuse_partial("per_fraction()")
        if kind.is_per_fraction:
            if fractions is not None:
                self._count(fractions, "per_fraction()")
            return self
        n = self._count(fractions, "per_fraction()")
        return replace(
            self,
            array=np.asarray(self.array, dtype=np.float64) / n,
            summation_type=DoseSummationType.FRACTION,
            fractions=n,
            history=(*self.history, f"per fraction: {kind.value} dose divided by {n} fractions"),
        )

    def total(self, fractions: int | None = None) -> Dose:
        """The dose of the whole plan: a per-fraction dose times the number of fractions.

        Parameters
        ----------
        fractions : int, optional
            The plan's number of fractions; by default :attr:`fractions`. Given while the
            dose knows another number, it is refused rather than chosen.

        Returns
        -------
        Dose
            ``summation_type="PLAN"``, ``fractions`` kept, the conversion added to
            :attr:`history`. A dose that is already a total is returned as it is.

        Raises
        ------
        DoseError
            If the number of fractions is unknown or contradicts the dose's, or the dose
            covers part of a plan (``BEAM``, ``CONTROL_POINT``, ``RECORD``...).

        Examples
        --------
        >>> import numpy as np
        >>> import rtplan
        >>> g = rtplan.Grid(shape=(1, 1, 1), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
        >>> d = rtplan.Dose(array=np.full(g.shape, 2.0), grid=g, summation_type="FRACTION")
        >>> total = d.total(25)
        >>> total.summation_type.value, float(total.array[0, 0, 0]), total.fractions
        ('PLAN', 50.0, 25)
        >>> total.history
        ('total: FRACTION dose multiplied by 25 fractions',)
        """
        kind = DoseSummationType(self.summation_type)
        self._refuse_partial("total()")
        if kind.is_total:
            if fractions is not None:
                self._count(fractions, "total()")
            return self
        n = self._count(fractions, "total()")
        return replace(
            self,
            array=np.asarray(self.array, dtype=np.float64) * n,
            summation_type=DoseSummationType.PLAN,
            fractions=n,
            history=(*self.history, f"total: {kind.value} dose multiplied by {n} fractions"),
        )

    def scaled(self, factor: float) -> Dose:
        """Return the dose multiplied by ``factor``, recorded in :attr:`history`.

        The summation type is kept: to change it, use :meth:`per_fraction` or
        :meth:`total`.
        """
        return replace(
            self,
            array=np.asarray(self.array, dtype=np.float64) * factor,
            history=(*self.history, f"scaled by {factor:g}"),
        )

    def __add__(self, other: Dose) -> Dose:
        """Dose sum: ``other`` is resampled (trilinear) onto this dose's grid.

        Two whole-plan doses make a ``MULTI_PLAN`` dose; two doses of the same other
        summation type (two fractions, two beams) keep it. The fractions are kept when
        both agree.

        Raises
        ------
        DoseError
            If the dose types differ, or a whole-plan dose is added to a dose of another
            summation type (convert one with :meth:`total` or :meth:`per_fraction`).
        """
        if not isinstance(other, Dose):
            return NotImplemented
        mine = DoseSummationType(self.summation_type)
        theirs = DoseSummationType(other.summation_type)
        if self.dose_type != other.dose_type:
            raise DoseError(
                f"cannot add a {DoseType(other.dose_type).value} dose {other.name!r} to a "
                f"{DoseType(self.dose_type).value} dose {self.name!r}"
            )
        if mine.is_total and theirs.is_total:
            summation = DoseSummationType.MULTI_PLAN
        elif mine == theirs:
            summation = mine
        else:
            raise DoseError(
                f"cannot add a {theirs.value} dose {other.name!r} to a {mine.value} dose "
                f"{self.name!r}; convert one first (Dose.total(fractions) or "
                "Dose.per_fraction(fractions))"
            )
        b = other.resample(self.grid, order=1, fill_value=0.0).array
        return replace(
            self,
            array=np.asarray(self.array, dtype=np.float64) + b,
            summation_type=summation,
            fractions=self.fractions if self.fractions == other.fractions else None,
            history=(*self.history, f"sum with dose {other.name!r} ({theirs.value})"),
        )

    def __repr__(self) -> str:
        return (
            f"Dose(name={self.name!r}, {DoseType(self.dose_type).value}, "
            f"{DoseSummationType(self.summation_type).value}, fractions={self.fractions}, "
            f"max {self.max_gy:.4g} Gy, grid={self.grid!r})"
        )

    @property
    def meaning(self) -> str:
        """What the dose is, in words, for reports: type, coverage, fractions, conversions.

        Examples
        --------
        >>> import numpy as np
        >>> import rtplan
        >>> g = rtplan.Grid(shape=(1, 1, 1), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0, 0, 0))
        >>> rtplan.Dose(array=np.zeros(g.shape), grid=g, fractions=5).meaning
        'PHYSICAL dose, PLAN (5 fractions)'
        """
        fx = "fractions unknown" if self.fractions is None else f"{self.fractions} fractions"
        text = (
            f"{DoseType(self.dose_type).value} dose, "
            f"{DoseSummationType(self.summation_type).value} ({fx})"
        )
        return text + "".join(f"; {h}" for h in self.history)
