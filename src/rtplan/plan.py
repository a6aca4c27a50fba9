"""Treatment plans: static photon beams in IEC 61217 geometry, as DICOM RT Plan uses it.

Coordinate systems (IEC 61217; all rotations right-handed about the positive axis):

* **fixed** ``f``: origin at the isocentre, ``X_f`` to the right of an observer at the foot
  of the couch facing the gantry, ``Y_f`` towards the gantry, ``Z_f`` up;
* **gantry** ``g``: ``g = R_y(gantry) f`` -- at gantry 90° the source sits at ``+X_f``,
  which is the patient's left for a head-first-supine (HFS) patient;
* **beam limiting device** ``b``: rotated about ``Z_g`` (towards the source) by the
  collimator angle; jaws X1/X2 move along ``X_b``, Y1/Y2 along ``Y_b``;
* **patient support / table top** ``s``: rotated about ``Z_f`` by the couch angle;
* **patient** (DICOM LPS), attached to the table top through the Patient Position
  (see :attr:`rtplan.PatientPosition.to_iec_fixed`).

A vector in beam-limiting-device coordinates maps to LPS as
``v_lps = P^T R_z(couch)^T R_y(gantry) R_z(collimator) v_b``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan.enum import Normalization
from rtplan.errors import PlanError
from rtplan.image import PatientPosition

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = [
    "MAX_FRACTIONS",
    "MAX_PHOTON_MV",
    "Beam",
    "Mlc",
    "Plan",
    "Segment",
    "rotation_x",
    "rotation_y",
    "rotation_z",
]

FloatArray = npt.NDArray[np.float64]


def _new_uid() -> str:
    """A new DICOM UID (pydicom is imported when a plan is made, not with this module)."""
    from pydicom.uid import generate_uid

    return str(generate_uid())


def rotation_x(angle_deg: float) -> FloatArray:
    """Right-handed rotation matrix about +X by ``angle_deg``.

    Parameters
    ----------
    angle_deg : float
        Rotation angle, degrees (counter-clockwise seen from +X).

    Returns
    -------
    numpy.ndarray, shape (3, 3), float64
        The matrix that rotates column vectors: ``rotation_x(a) @ v``.
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(angle_deg: float) -> FloatArray:
    """Right-handed rotation matrix about +Y by ``angle_deg``.

    Parameters
    ----------
    angle_deg : float
        Rotation angle, degrees (counter-clockwise seen from +Y).

    Returns
    -------
    numpy.ndarray, shape (3, 3), float64
        The matrix that rotates column vectors: ``rotation_y(a) @ v``.
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle_deg: float) -> FloatArray:
    """Right-handed rotation matrix about +Z by ``angle_deg``.

    Parameters
    ----------
    angle_deg : float
        Rotation angle, degrees (counter-clockwise seen from +Z).

    Returns
    -------
    numpy.ndarray, shape (3, 3), float64
        The matrix that rotates column vectors: ``rotation_z(a) @ v``.
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Mlc:
    """A multileaf collimator setting (leaves moving along ``X_b``).

    Parameters
    ----------
    leaf_boundaries_mm : sequence of float, length n + 1
        Leaf pair edges along ``Y_b`` projected to the isocentre plane, increasing, mm
        (DICOM LeafPositionBoundaries).
    positions_mm : array_like, shape (2, n)
        Row 0: bank A (the X1 side, usually negative), row 1: bank B (X2 side), mm at
        the isocentre plane (DICOM LeafJawPositions, A values then B values).
    transmission : float
        Fraction of the open fluence transmitted through closed leaves.

    Raises
    ------
    PlanError
        If boundaries do not increase, shapes disagree, or a leaf pair overlaps.
    """

    leaf_boundaries_mm: tuple[float, ...]
    positions_mm: FloatArray
    transmission: float = 0.015

    def __post_init__(self) -> None:
        b = tuple(float(x) for x in self.leaf_boundaries_mm)
        if len(b) < 2 or any(b2 <= b1 for b1, b2 in itertools.pairwise(b)):
            raise PlanError("MLC leaf boundaries must be at least 2 strictly increasing values")
        pos = np.array(self.positions_mm, dtype=np.float64)
        if pos.shape != (2, len(b) - 1):
            raise PlanError(
                f"MLC positions must have shape (2, {len(b) - 1}) for {len(b) - 1} leaf pairs, "
                f"got {pos.shape}"
            )
        if np.any(pos[0] > pos[1] + 1e-6):
            bad = int(np.argmax(pos[0] > pos[1] + 1e-6))
            raise PlanError(
                f"MLC leaf pair {bad + 1}: bank A at {pos[0, bad]} mm is beyond bank B at "
                f"{pos[1, bad]} mm"
            )
        if not 0.0 <= self.transmission < 1.0:
            raise PlanError(f"MLC transmission must be in [0, 1), got {self.transmission}")
        pos.setflags(write=False)
        object.__setattr__(self, "leaf_boundaries_mm", b)
        object.__setattr__(self, "positions_mm", pos)

    @property
    def n_pairs(self) -> int:
        """Number of leaf pairs."""
        return len(self.leaf_boundaries_mm) - 1

    @classmethod
    def uniform(
        cls, n_pairs: int = 60, leaf_width_mm: float = 5.0, *, transmission: float = 0.015
    ) -> Mlc:
        """An MLC of equal-width leaves centred on the axis, all closed at 0 mm."""
        half = n_pairs * leaf_width_mm / 2.0
        bounds = tuple(-half + i * leaf_width_mm for i in range(n_pairs + 1))
        return cls(
            leaf_boundaries_mm=bounds,
            positions_mm=np.zeros((2, n_pairs)),
            transmission=transmission,
        )

    def with_positions(self, positions_mm: npt.ArrayLike) -> Mlc:
        """Same leaves at other positions."""
        return replace(self, positions_mm=np.asarray(positions_mm, dtype=np.float64))

    def __repr__(self) -> str:
        pos = self.positions_mm
        n_open = int(np.count_nonzero(pos[1] - pos[0] > 1e-6))
        return (
            f"Mlc({self.n_pairs} leaf pairs, {self.leaf_boundaries_mm[0]:g} to "
            f"{self.leaf_boundaries_mm[-1]:g} mm, {n_open} open, bank A {pos[0].min():.1f} to "
            f"{pos[0].max():.1f} mm, bank B {pos[1].min():.1f} to {pos[1].max():.1f} mm, "
            f"transmission={self.transmission:g})"
        )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Segment:
    """One static MLC shape of a step-and-shoot (IMRT) beam and its share of the beam's MU.

    Parameters
    ----------
    positions_mm : array_like, shape (2, n)
        Leaf positions of the segment, as :attr:`Mlc.positions_mm` (bank A, then bank B,
        mm at the isocentre plane); the beam's :class:`Mlc` gives the leaf boundaries.
    weight : float
        Fraction of the beam's MU delivered through this shape, in (0, 1]; a beam's
        segment weights sum to 1.

    Raises
    ------
    PlanError
        If a leaf pair overlaps or the weight is not in (0, 1].

    Examples
    --------
    >>> import rtplan
    >>> seg = rtplan.plan.Segment(positions_mm=[[-10.0, -5.0], [10.0, 5.0]], weight=0.25)
    >>> seg.positions_mm.shape, seg.weight
    ((2, 2), 0.25)
    """

    positions_mm: FloatArray
    weight: float

    def __post_init__(self) -> None:
        pos = np.array(self.positions_mm, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[0] != 2 or not np.all(np.isfinite(pos)):
            raise PlanError(
                f"segment leaf positions must be finite with shape (2, n), got {pos.shape}"
            )
        if np.any(pos[0] > pos[1] + 1e-6):
            bad = int(np.argmax(pos[0] > pos[1] + 1e-6))
            raise PlanError(
                f"segment leaf pair {bad + 1}: bank A at {pos[0, bad]} mm is beyond bank B at "
                f"{pos[1, bad]} mm"
            )
        w = float(self.weight)
        if not (math.isfinite(w) and 0.0 < w <= 1.0 + 1e-9):
            raise PlanError(f"segment weight must be in (0, 1] (a share of the MU), got {w}")
        pos.setflags(write=False)
        object.__setattr__(self, "positions_mm", pos)
        object.__setattr__(self, "weight", min(w, 1.0))


def _check_segments(segments: tuple[Segment, ...], mlc: Mlc | None, name: str) -> None:
    """Segments need the beam's MLC, one position per leaf, and weights summing to 1."""
    if not segments:
        return
    if not all(isinstance(s, Segment) for s in segments):
        raise PlanError(f"beam {name!r}: segments must be rtplan.plan.Segment objects")
    if mlc is None:
        raise PlanError(
            f"beam {name!r} has {len(segments)} MLC segments but no Mlc; give mlc=Mlc(...) "
            "with the leaf boundaries"
        )
    bad = [i for i, s in enumerate(segments) if s.positions_mm.shape != (2, mlc.n_pairs)]
    if bad:
        raise PlanError(
            f"beam {name!r}: segment {bad[0] + 1} has leaf positions of shape "
            f"{segments[bad[0]].positions_mm.shape}, the MLC has {mlc.n_pairs} pairs"
        )
    total = math.fsum(s.weight for s in segments)
    if abs(total - 1.0) > 1e-6:
        raise PlanError(
            f"beam {name!r}: the segment weights sum to {total:.6g}, not 1 (each is a share "
            "of the beam's MU)"
        )


MAX_PHOTON_MV = 50.0
"""The highest nominal photon energy a beam may have, MV."""

MAX_FRACTIONS = 100
"""The most fractions a plan may have (external beam courses stay below about 80)."""
_ENERGY_NUMBER = re.compile(r"^\s*(?P<mv>\d+(?:\.\d*)?|\.\d+)")


def _check_energy(energy: str, name: str) -> None:
    """Refuse an energy label whose leading number is not a photon energy in MV."""
    if not isinstance(energy, str):
        raise PlanError(f"beam {name!r}: energy must be a label such as '6X', got {energy!r}")
    m = _ENERGY_NUMBER.match(energy)
    if m is None:
        return  # a machine's own beam-model name: the dose engine decides
    mv = float(m.group("mv"))
    if not 0.0 < mv <= MAX_PHOTON_MV:
        raise PlanError(
            f"beam {name!r}: energy {energy!r} is not a photon beam energy (its nominal "
            f"energy must be above 0 and at most {MAX_PHOTON_MV:g} MV); write e.g. '6X' or "
            "'10FFF'"
        )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Beam:
    """A static photon beam.

    Parameters
    ----------
    energy : str
        Nominal energy / machine beam model, e.g. ``"6X"``; a label that starts with a
        number gives the nominal energy in MV, which must be above 0 and at most
        :data:`MAX_PHOTON_MV`.
    gantry_deg, collimator_deg, couch_deg : float
        IEC 61217 gantry, beam-limiting-device and patient-support angles, degrees, in
        [-360, 360], stored normalised to [0, 360): a negative angle counts back from 360
        (-30 is 330). Angles beyond one turn (400) are refused rather than wrapped: write
        the angle in [0, 360) that is meant.
    isocenter_mm : tuple of 3 float
        Isocentre in patient LPS, mm.
    sad_mm : float
        Source-axis distance, mm.
    jaws_mm : tuple of 4 float
        ``(X1, X2, Y1, Y2)`` jaw positions projected to the isocentre plane, mm, signed
        along ``X_b`` / ``Y_b`` (a symmetric 10 cm field is ``(-50, 50, -50, 50)``).
    mlc : Mlc or None
        Leaf positions, if the beam has an MLC.
    mu : float or None
        Monitor units; ``None`` until computed from the prescription.
    weight : float
        Relative weight used when MU are derived from a prescription.
    name : str
        Beam Name.
    number : int
        Beam Number (0 = assign on write).
    machine : str
        Treatment Machine Name.
    segments : tuple of Segment
        Step-and-shoot (static-MLC IMRT) delivery: the MLC shapes the beam's MU are
        delivered through, each with its share; ``mlc`` then gives the leaf boundaries and
        the segments' envelope. Empty for a beam with one static shape.

    Raises
    ------
    PlanError
        If an angle or position is not finite, an angle lies beyond one turn, the nominal
        energy is not a photon energy, jaws are inverted, SAD/MU/weight invalid, or the
        segments do not fit the MLC or their weights do not sum to 1.

    Examples
    --------
    >>> import rtplan
    >>> rtplan.Beam(gantry_deg=-90.0).gantry_deg
    270.0
    >>> rtplan.Beam(gantry_deg=400.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rtplan.errors.PlanError: beam '': gantry_deg 400 is beyond one turn ...; write 40 if ...
    """

    energy: str = "6X"
    gantry_deg: float = 0.0
    collimator_deg: float = 0.0
    couch_deg: float = 0.0
    isocenter_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sad_mm: float = 1000.0
    jaws_mm: tuple[float, float, float, float] = (-50.0, 50.0, -50.0, 50.0)
    mlc: Mlc | None = None
    mu: float | None = None
    weight: float = 1.0
    name: str = ""
    number: int = 0
    machine: str = ""
    segments: tuple[Segment, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.segments))
        _check_segments(self.segments, self.mlc, self.name)
        for attr in ("gantry_deg", "collimator_deg", "couch_deg"):
            v = float(getattr(self, attr))
            if not math.isfinite(v):
                raise PlanError(f"beam {self.name!r}: {attr} must be finite, got {v}")
            if abs(v) > 360.0:
                raise PlanError(
                    f"beam {self.name!r}: {attr} {v:g} is beyond one turn (IEC 61217 angles "
                    f"run from 0 to 360 degrees; -360 to 0 count back from 360); write "
                    f"{v % 360.0:g} if that angle is meant"
                )
            object.__setattr__(self, attr, v % 360.0)
        _check_energy(self.energy, self.name)
        iso = tuple(float(x) for x in self.isocenter_mm)
        if len(iso) != 3 or not all(math.isfinite(x) for x in iso):
            raise PlanError(f"beam {self.name!r}: isocenter_mm must be 3 finite numbers")
        object.__setattr__(self, "isocenter_mm", iso)
        jaws = tuple(float(x) for x in self.jaws_mm)
        if len(jaws) != 4 or not all(math.isfinite(x) for x in jaws):
            raise PlanError(f"beam {self.name!r}: jaws_mm must be (X1, X2, Y1, Y2)")
        if jaws[0] >= jaws[1] or jaws[2] >= jaws[3]:
            raise PlanError(
                f"beam {self.name!r}: jaws (X1, X2, Y1, Y2) = {jaws} leave no opening; "
                "X1 < X2 and Y1 < Y2 are required (X1 = -50 is 5 cm to the X1 side)"
            )
        object.__setattr__(self, "jaws_mm", jaws)
        if not (math.isfinite(self.sad_mm) and self.sad_mm > 0):
            raise PlanError(f"beam {self.name!r}: sad_mm must be positive, got {self.sad_mm}")
        if self.mu is not None and not (math.isfinite(self.mu) and self.mu >= 0):
            raise PlanError(f"beam {self.name!r}: mu must be >= 0, got {self.mu}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise PlanError(f"beam {self.name!r}: weight must be >= 0, got {self.weight}")

    # ------------------------------------------------------------------ geometry
    def beam_to_patient(self, patient_position: PatientPosition | str = "HFS") -> FloatArray:
        """Rotation taking beam-limiting-device vectors to patient LPS vectors.

        Parameters
        ----------
        patient_position : PatientPosition or str
            DICOM Patient Position of the CT the plan is placed on.

        Returns
        -------
        numpy.ndarray, shape (3, 3)
            Columns: LPS directions of ``X_b``, ``Y_b`` and ``Z_b`` (towards the source).
        """
        p = PatientPosition(patient_position).to_iec_fixed
        return np.asarray(
            p.T
            @ rotation_z(self.couch_deg).T
            @ rotation_y(self.gantry_deg)
            @ rotation_z(self.collimator_deg)
        )

    def source_mm(self, patient_position: PatientPosition | str = "HFS") -> FloatArray:
        """Position of the source in patient LPS, mm, shape (3,)."""
        r = self.beam_to_patient(patient_position)
        return np.asarray(self.isocenter_mm) + self.sad_mm * r[:, 2]

    def direction(self, patient_position: PatientPosition | str = "HFS") -> FloatArray:
        """Unit vector of the central axis, from the source towards the isocentre (LPS)."""
        return -self.beam_to_patient(patient_position)[:, 2]

    def patient_to_beam(
        self, points_mm: npt.ArrayLike, patient_position: PatientPosition | str = "HFS"
    ) -> FloatArray:
        """Express LPS points in beam-limiting-device coordinates relative to the isocentre.

        Parameters
        ----------
        points_mm : array_like, shape (N, 3)
            LPS points, mm.
        patient_position : PatientPosition or str

        Returns
        -------
        numpy.ndarray, shape (N, 3)
            ``(x_b, y_b, z_b)`` in mm; ``z_b`` is positive towards the source.
        """
        pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
        r = self.beam_to_patient(patient_position)
        return np.asarray((pts - np.asarray(self.isocenter_mm)) @ r)

    def project_to_isocenter_plane(
        self, points_mm: npt.ArrayLike, patient_position: PatientPosition | str = "HFS"
    ) -> FloatArray:
        """Divergent projection of LPS points onto the isocentre plane (beam's eye view).

        Parameters
        ----------
        points_mm : array_like, shape (N, 3)
        patient_position : PatientPosition or str

        Returns
        -------
        numpy.ndarray, shape (N, 2)
            ``(x_b, y_b)`` at the isocentre plane, mm, comparable with jaw and leaf positions.

        Raises
        ------
        PlanError
            If a point lies at or behind the source.
        """
        b = self.patient_to_beam(points_mm, patient_position)
        depth = self.sad_mm - b[:, 2]
        if np.any(depth <= 0):
            raise PlanError(f"beam {self.name!r}: a point lies at or behind the source")
        scale = self.sad_mm / depth
        return b[:, :2] * scale[:, np.newaxis]

    @property
    def field_size_mm(self) -> tuple[float, float]:
        """Jaw-defined field size ``(X, Y)`` at the isocentre, mm."""
        x1, x2, y1, y2 = self.jaws_mm
        return (x2 - x1, y2 - y1)

    def with_mu(self, mu: float) -> Beam:
        """A copy with monitor units set."""
        return replace(self, mu=float(mu))

    def replace(self, **changes: Any) -> Beam:
        """A copy with fields changed (validated again)."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        iso = ", ".join(f"{v:.1f}" for v in self.isocenter_mm)
        jaws = ", ".join(f"{v:.1f}" for v in self.jaws_mm)
        size = " x ".join(f"{v:.0f}" for v in self.field_size_mm)
        parts = [
            f"{self.name!r}" if self.name else f"number={self.number}",
            f"{self.energy}",
            f"gantry {self.gantry_deg:g}°, collimator {self.collimator_deg:g}°, "
            f"couch {self.couch_deg:g}°",
            f"isocenter ({iso}) mm",
            f"jaws ({jaws}) mm [{size} mm]",
        ]
        if self.mlc is not None:
            parts.append(f"MLC {self.mlc.n_pairs} pairs")
        if self.segments:
            parts.append(f"{len(self.segments)} segments")
        parts.append(f"MU {self.mu:.1f}" if self.mu is not None else f"weight {self.weight:g}")
        return f"Beam({', '.join(parts)})"


def _check_fractions(fractions: object) -> None:
    """Refuse a number of fractions that is not a whole number from 1 to MAX_FRACTIONS."""
    ok = isinstance(fractions, int | np.integer | float | np.floating) and not isinstance(
        fractions, bool
    )
    number = float(fractions) if ok else math.nan  # type: ignore[arg-type]
    if not (math.isfinite(number) and number == int(number)):
        raise PlanError(f"fractions must be a whole number, got {fractions!r}")
    if number < 1:
        raise PlanError(f"fractions must be >= 1, got {int(number)}")
    if number > MAX_FRACTIONS:
        raise PlanError(
            f"fractions must be at most {MAX_FRACTIONS}, got {int(number)}: no course of "
            "external beam radiotherapy has more; check the number"
        )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Plan:
    """A photon treatment plan: beams, prescription and normalisation.

    Parameters
    ----------
    beams : sequence of Beam
        Static beams.
    prescription_gy : float or None
        Total prescribed dose, Gy.
    fractions : int
        Number of fractions, 1 to :data:`MAX_FRACTIONS`.
    normalization : Normalization or str
        How the plan dose is scaled to the prescription (:class:`rtplan.enum.Normalization`):
        target mean dose (``"mean"``), target D95 % (``"d95"``) or dose at the (first)
        isocentre (``"isocenter"``) equals the prescription; ``"none"`` keeps MU.
    target_name : str
        Name of the target structure used by the normalisation.
    name : str
        RT Plan Label.
    patient_position : PatientPosition or None
        Patient setup position; the CT's is used when ``None``.
    uid : str
        SOP Instance UID the plan is (or will be) stored under; a new UID by default, the
        file's when read. Doses computed from the plan reference it.
    target : Structure or None
        The target structure itself (set by :meth:`conformal`), used by the ``"mean"`` and
        ``"d95"`` normalisations; RT Plan files keep only ``target_name``.
    extra : dict
        What a reader kept beside the fields (file, SOP Instance UID, frame of reference).

    Raises
    ------
    PlanError
        If a beam is not a :class:`Beam`, the prescription is not positive, the fractions
        are not a whole number from 1 to :data:`MAX_FRACTIONS`, or the normalisation is
        unknown.
    """

    beams: tuple[Beam, ...] = ()
    prescription_gy: float | None = None
    fractions: int = 1
    normalization: Normalization | str = Normalization.NONE
    target_name: str = ""
    name: str = "rtplan"
    patient_position: PatientPosition | None = None
    uid: str = field(default_factory=_new_uid)
    target: Structure | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        beams = tuple(self.beams)
        if not all(isinstance(b, Beam) for b in beams):
            raise PlanError("Plan.beams must hold Beam objects")
        object.__setattr__(self, "beams", beams)
        if self.prescription_gy is not None and not (
            math.isfinite(self.prescription_gy) and self.prescription_gy > 0
        ):
            raise PlanError(f"prescription_gy must be positive, got {self.prescription_gy}")
        _check_fractions(self.fractions)
        object.__setattr__(self, "fractions", int(self.fractions))
        object.__setattr__(self, "normalization", Normalization(self.normalization))
        if self.patient_position is not None:
            object.__setattr__(self, "patient_position", PatientPosition(self.patient_position))

    @property
    def dose_per_fraction_gy(self) -> float | None:
        """Prescription per fraction, Gy."""
        return None if self.prescription_gy is None else self.prescription_gy / self.fractions

    @property
    def total_mu(self) -> float:
        """Sum of the beams' MU (per fraction); 0 for beams without MU."""
        return float(sum(b.mu or 0.0 for b in self.beams))

    def with_beams(self, beams: Sequence[Beam]) -> Plan:
        """A copy with other beams."""
        return replace(self, beams=tuple(beams))

    def __repr__(self) -> str:
        rx = (
            f"{self.prescription_gy:g} Gy in {self.fractions} fraction"
            if self.prescription_gy is not None
            else f"no prescription, {self.fractions} fraction"
        ) + ("s" if self.fractions != 1 else "")
        target = f", normalisation {self.normalization} of {self.target_name}"
        n = len(self.beams)
        lines = [f"Plan({self.name!r}: {n} beam{'s' if n != 1 else ''}, {rx}"]
        lines[0] += (target if self.target_name else "") + ","
        lines += [f"  {b!r}," for b in self.beams]
        lines.append(")")
        return "\n".join(lines)

    # The value-type facade: Plan.conformal is rtplan.planning.conformal_plan, reached from
    # the value type as shapely's geometry methods reach its functions. planning sits above
    # plan, so this is its one import of a higher layer, made on use.
    @classmethod
    def conformal(cls, target: Structure, **options: Any) -> Plan:
        """Build a 3D-conformal plan: MLC apertures follow the target's beam's-eye view.

        The same as :func:`rtplan.planning.conformal_plan`, which documents the options.

        Parameters
        ----------
        target : Structure
            The planning target (closed contours or a mask), LPS mm.
        **options
            Keyword arguments of :func:`rtplan.planning.conformal_plan`:
            ``gantry_angles_deg`` and ``prescription_gy`` (required), ``energy``,
            ``fractions``, ``margin_mm``, ``isocenter_mm``, ``patient_position``,
            ``normalization``, ``template``.

        Returns
        -------
        Plan

        Examples
        --------
        >>> import rtplan
        >>> ptv = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma")).structures["PTV"]
        >>> plan = rtplan.Plan.conformal(ptv, gantry_angles_deg=[0, 120, 240], energy="6X",
        ...                              prescription_gy=30.0, fractions=10)
        >>> [b.name for b in plan.beams], plan.dose_per_fraction_gy
        (['G000', 'G120', 'G240'], 3.0)
        """
        from rtplan import planning

        return planning.conformal_plan(target, **options)
