"""The independent monitor-unit check: a hand calculation of each beam's MU.

For each beam a point is chosen (the isocentre when it lies in the body, past the build-up
region and at least 15 mm inside the field; else the point of the aperture farthest from
its edges, at the isocentre's distance) and the dose per MU there is computed as a
physicist computes it by hand (AAPM TG-71 isocentric formalism, [TG71]_)::

    D/MU = D0 * Sc(c) * Sp(r_d) * TMR(d_eff, r_d) * ((SSD0 + d0) / SPD)**2 * OAR(r, d) * BS(b, r_d)

* ``D0`` = 1 cGy/MU at ``d0`` (depth of maximum dose) of a 10 x 10 cm² field at
  ``SSD0`` = 100 cm: the machine's calibration;
* ``c``: the equivalent square of the aperture (jaws and MLC) at the isocentre plane by the
  area/perimeter rule ``4 A / P`` of Sterling et al. [Sterling1964]_ (for a rectangle
  ``2 X Y / (X + Y)``), the MLC outline drawn through the middle of each leaf end;
  ``r_d = c SPD / SAD`` the field at the point;
* ``Sc``, ``Sp``, ``TMR``, ``OAR``: the machine's hand-calculation beam data
  (:mod:`rtplan.dose._mu_data`);
* ``d_eff``: the radiological depth along the ray from the source to the point, an
  independent ray sum through the CT (trilinear samples every 1 mm, relative electron
  density from the HU by the Schneider 2000 calibration), from the body surface; ``SPD``
  the source-point distance along the beam axis; ``r`` the point's distance from the axis
  projected to the isocentre plane;
* ``BS``: the backscatter deficit of a point with only ``b`` (radiological, along the ray)
  of tissue behind it before the exit surface -- a limb, a head -- relative to the full
  backscatter of the tank data: up to a few per cent that a full-scatter hand calculation
  overestimates there ([TG114]_ lists missing tissue among the causes of disagreement).

The check is independent of the dose engines: it never calls them, traces its own rays and
reads its own beam data. Its MU are those that deliver, at the point, the dose each beam
must deliver there (dose to water): from the engine's dose of the beam for the MU that meet
the prescription, or from the prescription at the isocentre, or from a given plan dose.
The check passes when the plan's MU are within ``tolerance_percent`` (5 %) of it, the
action level of AAPM TG-114 [TG114]_ for heterogeneous calculations with their
simplifications; a larger difference is reported with a :class:`MonitorUnitWarning`.

References
----------
.. [TG71] J. P. Gibbons et al., "Monitor unit calculations for external photon and electron
   beams: Report of the AAPM Therapy Physics Committee Task Group No. 71", Med. Phys. 41
   (2014) 031501.
.. [TG114] R. L. Stern et al., "Verification of monitor unit calculations for non-IMRT
   clinical radiotherapy: Report of AAPM Task Group 114", Med. Phys. 38 (2011) 504-530.
.. [Sterling1964] T. D. Sterling, H. Perry and L. Katz, "Automation of radiation treatment
   planning IV. Derivation of a mathematical expression for the per cent depth dose
   surface of cobalt 60 beams and visualisation of multiple field dose distributions",
   Br. J. Radiol. 37 (1964) 544-550.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.dose._aperture import Aperture, aperture
from rtplan.dose._compute import PlanDose, _normalisation_value, calculate
from rtplan.dose._conversion import is_density_image, water_to_medium_ratio
from rtplan.dose._mu_data import GY_PER_MU_REF, SSD_REF_MM, load_hand_calc_data
from rtplan.dose._setup import BODY_DENSITY_G_CM3
from rtplan.enum import Engine, Normalization
from rtplan.errors import DoseError, PlanError, RtplanWarning
from rtplan.image import Dose, DoseMedium, DoseSummationType, DoseType, Image, PatientPosition
from rtplan.plan import Beam, Plan

if TYPE_CHECKING:
    from rtplan.dose._protocol import DoseEngine
    from rtplan.structures import Structure

__all__ = [
    "TOLERANCE_PERCENT",
    "BeamMuCheck",
    "HandCalculation",
    "MonitorUnitWarning",
    "MuCheck",
    "hand_calculation",
    "mu_check",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Largest difference between the plan's MU and the check's that passes, percent.
TOLERANCE_PERCENT = 5.0
#: A calculation point must lie at least this far inside the field (the penumbra), mm.
MIN_EDGE_MM = 15.0
#: A calculation point shallower than this lies in the build-up region, mm.
MIN_DEPTH_MM = 20.0
#: Depth a calculation point is moved to when the isocentre is unusable, mm.
DEFAULT_DEPTH_MM = 50.0
#: Air along a ray longer than this separates the patient from other objects, mm.
AIR_GAP_MM = 20.0
#: Step of the ray sum, mm.
STEP_MM = 1.0


class MonitorUnitWarning(RtplanWarning):
    """A beam's MU differ from the independent check by more than its tolerance."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HandCalculation:
    """The hand calculation of one beam at one point: dose per MU and its factors.

    Attributes
    ----------
    point_mm : tuple of 3 float
        Calculation point, LPS mm.
    depth_mm, effective_depth_mm : float
        Geometric and radiological depth along the ray from the source, mm.
    spd_mm : float
        Source-point distance along the beam axis, mm.
    off_axis_mm : float
        Distance of the point from the central axis at the isocentre plane, mm.
    equivalent_square_mm : float
        Equivalent square of the aperture at the isocentre plane (``4 A / P``), mm.
    field_at_depth_mm : float
        That square projected to the point's distance, mm.
    backscatter_mm : float
        Radiological thickness of tissue behind the point, along the ray, mm.
    collimator_scatter, phantom_scatter, tmr, inverse_square, off_axis_ratio : float
        The factors ``Sc``, ``Sp``, ``TMR``, ``((SSD0 + d0) / SPD)**2`` and ``OAR``.
    backscatter : float
        The factor ``BS`` for that thickness.
    gy_per_mu : float
        Dose to water per MU at the point, Gy.
    note : str
        How the point was chosen when it is not the isocentre.
    """

    point_mm: tuple[float, float, float]
    depth_mm: float
    effective_depth_mm: float
    spd_mm: float
    off_axis_mm: float
    equivalent_square_mm: float
    field_at_depth_mm: float
    backscatter_mm: float
    collimator_scatter: float
    phantom_scatter: float
    tmr: float
    inverse_square: float
    off_axis_ratio: float
    backscatter: float
    gy_per_mu: float
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class BeamMuCheck:
    """One beam's MU against the independent check.

    Attributes
    ----------
    beam : str
        Beam name (or number).
    engine_mu : float
        The plan's MU per fraction (those the engine computed or the plan file holds).
    check_mu : float
        MU per fraction the hand calculation needs for the beam's dose at the point
        (``nan`` when the beam could not be checked).
    dose_gy : float
        Dose to water the beam must deliver at the point per fraction, Gy.
    difference_percent : float
        ``100 (engine_mu - check_mu) / check_mu``.
    tolerance_percent : float
        Largest difference that passes.
    calculation : HandCalculation or None
        The hand calculation (``None`` when no point could be used).
    note : str
        Why the beam was not checked, or how its point was chosen.
    """

    beam: str
    engine_mu: float
    check_mu: float
    dose_gy: float
    difference_percent: float
    tolerance_percent: float
    calculation: HandCalculation | None
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """Within tolerance; ``None`` when not checked."""
        if not math.isfinite(self.difference_percent):
            return None
        return abs(self.difference_percent) <= self.tolerance_percent

    @property
    def status(self) -> str:
        """``"PASS"``, ``"FAIL"`` or ``"N/A"``."""
        return "N/A" if self.passed is None else ("PASS" if self.passed else "FAIL")

    def to_dict(self) -> dict[str, Any]:
        """The row as plain JSON-ready values (``None`` for what is not known)."""

        def num(v: float, nd: int = 2) -> float | None:
            return round(float(v), nd) if math.isfinite(v) else None

        c = self.calculation
        out: dict[str, Any] = {
            "beam": self.beam,
            "engine_mu": num(self.engine_mu),
            "check_mu": num(self.check_mu),
            "difference_percent": num(self.difference_percent),
            "dose_gy": num(self.dose_gy, 4),
            "status": self.status,
            "note": self.note,
        }
        if c is not None:
            out.update(
                point_mm=[round(v, 1) for v in c.point_mm],
                depth_mm=num(c.depth_mm, 1),
                effective_depth_mm=num(c.effective_depth_mm, 1),
                spd_mm=num(c.spd_mm, 1),
                off_axis_mm=num(c.off_axis_mm, 1),
                equivalent_square_mm=num(c.equivalent_square_mm, 1),
                collimator_scatter=num(c.collimator_scatter, 4),
                phantom_scatter=num(c.phantom_scatter, 4),
                tmr=num(c.tmr, 4),
                inverse_square=num(c.inverse_square, 4),
                off_axis_ratio=num(c.off_axis_ratio, 4),
                backscatter_mm=num(c.backscatter_mm, 1),
                backscatter=num(c.backscatter, 4),
                check_gy_per_mu=num(c.gy_per_mu, 6),
            )
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class MuCheck:
    """The independent MU check of a plan, beam by beam.

    Attributes
    ----------
    beams : tuple of BeamMuCheck
        One row per beam, in plan order.
    basis : str
        Where the dose each beam must deliver at its point came from.
    tolerance_percent : float
        Largest difference that passes.
    data_source : str
        The hand-calculation beam data used.
    notes : tuple of str
        What the plausibility checks of the dose calculation found
        (:attr:`PlanDose.notes <rtplan.dose.PlanDose>`), when the check used one.
    """

    beams: tuple[BeamMuCheck, ...]
    basis: str
    tolerance_percent: float
    data_source: str
    notes: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[BeamMuCheck]:
        return iter(self.beams)

    def __len__(self) -> int:
        return len(self.beams)

    def __getitem__(self, index: int) -> BeamMuCheck:
        return self.beams[index]

    @property
    def passed(self) -> bool:
        """True when every beam was checked and passed."""
        return all(b.passed is True for b in self.beams)

    @property
    def max_abs_difference_percent(self) -> float:
        """Largest absolute difference over the checked beams (``nan`` if none)."""
        diffs = [abs(b.difference_percent) for b in self.beams if b.passed is not None]
        return max(diffs) if diffs else math.nan

    def format_table(self) -> str:
        """Fixed-width text: each beam's MU, the check's, the difference and the factors."""
        head = ["Beam", "MU", "check MU", "diff %", "d (mm)", "d_eff (mm)", "eq. sq. (mm)", ""]
        cells = [head]
        for b in self.beams:
            c = b.calculation
            cells.append(
                [
                    b.beam,
                    f"{b.engine_mu:.1f}" if math.isfinite(b.engine_mu) else "-",
                    f"{b.check_mu:.1f}" if math.isfinite(b.check_mu) else "-",
                    f"{b.difference_percent:+.1f}" if b.passed is not None else "-",
                    f"{c.depth_mm:.1f}" if c else "-",
                    f"{c.effective_depth_mm:.1f}" if c else "-",
                    f"{c.equivalent_square_mm:.1f}" if c else "-",
                    b.status + (f" ({b.note})" if b.note else ""),
                ]
            )
        widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
        lines = [
            f"Independent MU check (hand calculation; tolerance {self.tolerance_percent:g} %)",
        ]
        for n, row in enumerate(cells):
            lines.append(
                "  ".join(
                    v.ljust(widths[i]) if i in (0, 7) else v.rjust(widths[i])
                    for i, v in enumerate(row)
                ).rstrip()
            )
            if n == 0:
                lines.append("  ".join("-" * w for w in widths).rstrip())
        lines.append(f"dose at the points: {self.basis}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The check as plain JSON-ready values."""
        return {
            "tolerance_percent": self.tolerance_percent,
            "passed": self.passed,
            "basis": self.basis,
            "data": self.data_source,
            "beams": [b.to_dict() for b in self.beams],
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------- aperture
def _point_in_field(
    aperture: Aperture, xy: tuple[float, float] | None
) -> tuple[float, float, float]:
    """A point of the aperture (isocentre plane) and its distance to the field edge, mm.

    ``xy`` is kept when given; otherwise the axis when it lies at least ``MIN_EDGE_MM``
    inside, else the open point farthest from the edges (closest to the axis among ties).
    """
    from scipy import ndimage

    px = 1.0
    rects = np.asarray(aperture.rects)
    x0, y0 = rects[:, 0].min() - 2 * px, rects[:, 2].min() - 2 * px
    nx = int(np.ceil((rects[:, 1].max() + 2 * px - x0) / px)) + 1
    ny = int(np.ceil((rects[:, 3].max() + 2 * px - y0) / px)) + 1
    xs = x0 + (np.arange(nx) + 0.5) * px
    ys = y0 + (np.arange(ny) + 0.5) * px
    mask = np.zeros((ny, nx), dtype=bool)
    for a, b, c, d in aperture.rects:
        mask[np.ix_((ys >= c) & (ys <= d), (xs >= a) & (xs <= b))] = True
    dist = ndimage.distance_transform_edt(mask) * px

    def at(x: float, y: float) -> float:
        i = int(np.clip(np.floor((x - x0) / px), 0, nx - 1))
        j = int(np.clip(np.floor((y - y0) / px), 0, ny - 1))
        return float(dist[j, i])

    if xy is not None:
        return xy[0], xy[1], at(*xy)
    if at(0.0, 0.0) >= MIN_EDGE_MM:
        return 0.0, 0.0, at(0.0, 0.0)
    best = np.argwhere(dist >= dist.max() - 0.5 * px)
    r2 = xs[best[:, 1]] ** 2 + ys[best[:, 0]] ** 2
    j, i = best[int(np.argmin(r2))]
    return float(xs[i]), float(ys[j]), float(dist[j, i])


# ---------------------------------------------------------------------------- ray sum
def _box_interval(
    ct: Image, source: FloatArray, unit: FloatArray, length: float
) -> tuple[float, float]:
    """Parameters ``t`` where ``source + t unit`` lies in the CT's box (voxel edges)."""
    a = ct.grid.mm_to_index(source)
    b = ct.grid.mm_to_index(source + unit) - a
    lo, hi = 0.0, length
    for axis, n in enumerate(ct.grid.shape_ijk):
        if abs(b[axis]) < 1e-12:
            if not -0.5 <= a[axis] <= n - 0.5:
                return 0.0, -1.0
            continue
        t0, t1 = sorted(((-0.5 - a[axis]) / b[axis], (n - 0.5 - a[axis]) / b[axis]))
        lo, hi = max(lo, t0), min(hi, t1)
    return lo, hi


@dataclass(frozen=True, slots=True)
class _Ray:
    """Mass and relative electron density every ``STEP_MM`` along a ray from the source."""

    t: FloatArray
    rho: FloatArray
    rho_e: FloatArray

    def segments(self) -> list[tuple[float, float]]:
        """Stretches of body (gaps of air shorter than ``AIR_GAP_MM`` bridged), mm."""
        dense = self.rho > BODY_DENSITY_G_CM3
        if not np.any(dense):
            return []
        idx = np.flatnonzero(dense)
        breaks = np.flatnonzero(np.diff(self.t[idx]) > AIR_GAP_MM)
        starts = np.concatenate([[idx[0]], idx[breaks + 1]])
        ends = np.concatenate([idx[breaks], [idx[-1]]])
        return [(float(self.t[s]), float(self.t[e])) for s, e in zip(starts, ends, strict=True)]

    def surface(self, start: float) -> float:
        """Where the density first reaches 0.5 g/cm³ in the segment from ``start``."""
        inside = (self.t >= start) & (self.rho >= 0.5)
        return float(self.t[np.argmax(inside)]) if np.any(inside) else start

    def radiological(self, start: float, stop: float) -> float:
        """Integral of the relative electron density from ``start`` to ``stop``, mm."""
        fine = np.linspace(start, stop, max(2, int(np.ceil((stop - start) / 0.25)) + 1))
        values = np.interp(fine, self.t, self.rho_e, left=0.0, right=0.0)  # air beyond the CT
        return float(np.sum(0.5 * (values[1:] + values[:-1]) * np.diff(fine)))


def _densities(ct: Image, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mass and relative electron density of sampled CT values (HU or g/cm³)."""
    if is_density_image(ct):
        rho = np.nan_to_num(values, nan=0.0)
        return rho, rho
    from rtplan.tissue import SCHNEIDER_2000

    hu = np.nan_to_num(values, nan=-1000.0)
    return SCHNEIDER_2000.density_at(hu), SCHNEIDER_2000.electron_density_at(hu)


def _trace(ct: Image, source: FloatArray, unit: FloatArray, length: float) -> _Ray:
    t_in, t_out = _box_interval(ct, source, unit, length)
    if t_out <= t_in:
        empty = np.zeros(0)
        return _Ray(t=empty, rho=empty, rho_e=empty)
    t = np.arange(t_in, t_out + 0.5 * STEP_MM, STEP_MM)
    points = source[np.newaxis, :] + t[:, np.newaxis] * unit[np.newaxis, :]
    # in chunks: Image.sample converts the block of voxels around its points
    values = np.concatenate([ct.sample(points[i : i + 64]) for i in range(0, len(t), 64)])
    rho, rho_e = _densities(ct, np.asarray(values, dtype=np.float64))
    return _Ray(t=t, rho=rho, rho_e=rho_e)


# ---------------------------------------------------------------------------- the point
def _place(ray: _Ray, t_point: float, fixed: bool) -> tuple[float, tuple[float, float], str] | str:
    """Distance of the calculation point from the source, its body segment and a note."""
    segments = ray.segments()
    if not segments:
        return "no body along the ray to the calculation point: the beam misses the patient"
    for start, end in segments:
        if start - STEP_MM <= t_point <= end + STEP_MM:
            depth = t_point - ray.surface(start)
            if fixed or depth >= MIN_DEPTH_MM:
                return t_point, (start, end), ""
            new = min(ray.surface(start) + DEFAULT_DEPTH_MM, 0.5 * (start + end))
            why = f"the isocentre is {max(depth, 0.0):.0f} mm deep (build-up region)"
            return (
                new,
                (start, end),
                f"point moved to {new - ray.surface(start):.0f} mm deep: {why}",
            )
    if fixed:
        return "the calculation point lies outside the body"
    start, end = max(segments, key=lambda s: s[1] - s[0])
    new = min(ray.surface(start) + DEFAULT_DEPTH_MM, 0.5 * (start + end))
    gap = min(abs(t_point - start), abs(t_point - end))
    why = f"the isocentre lies outside the body ({gap:.0f} mm from it along the ray)"
    return new, (start, end), f"point moved to {new - ray.surface(start):.0f} mm deep: {why}"


def _hand_calc(
    beam: Beam, ct: Image, point_mm: npt.ArrayLike | None, position: PatientPosition
) -> HandCalculation | str:
    """The hand calculation of a beam, or why it cannot be made."""
    if len(beam.segments) > 1:
        # one open-field calculation on the segments' envelope overstates the output of a
        # modulated beam by several times: the check does not apply
        return (
            f"not applicable: {len(beam.segments)} step-and-shoot MLC segments (a modulated "
            "beam; the one-field hand calculation holds for an open field only)"
        )
    data = load_hand_calc_data(beam.energy)
    opening = aperture(beam)
    if opening.area_mm2 <= 0:
        return "the aperture is closed"
    r = beam.beam_to_patient(position)
    source = beam.source_mm(position)
    iso = np.asarray(beam.isocenter_mm)
    given = None if point_mm is None else np.asarray(point_mm, dtype=np.float64).reshape(3)
    xy = None
    if given is not None:
        xy = tuple(float(v) for v in beam.project_to_isocenter_plane(given, position)[0])
    x, y, edge = _point_in_field(opening, xy)  # type: ignore[arg-type]
    if edge <= 0.0:
        return "the calculation point lies outside the field"
    target = given if given is not None else iso + x * r[:, 0] + y * r[:, 1]
    unit = (target - source) / np.linalg.norm(target - source)
    ray = _trace(ct, source, unit, 2.5 * beam.sad_mm)
    placed = _place(ray, float(np.linalg.norm(target - source)), given is not None)
    if isinstance(placed, str):
        return placed
    t_point, (start, end), note = placed
    if edge < MIN_EDGE_MM:
        note = "; ".join(filter(None, [note, f"point {edge:.0f} mm inside the field edge"]))
    point = source + t_point * unit
    b = beam.patient_to_beam(point, position)[0]
    spd = beam.sad_mm - float(b[2])
    off_axis = float(np.hypot(b[0], b[1]) * beam.sad_mm / spd)
    depth = t_point - ray.surface(start)
    d_eff = ray.radiological(start - 5.0, t_point)
    behind = ray.radiological(t_point, end + 5.0)
    c = opening.equivalent_square_mm
    r_d = c * spd / beam.sad_mm
    factors = {
        "collimator_scatter": data.sc(c),
        "phantom_scatter": data.sp(r_d),
        "tmr": data.tmr(d_eff, r_d),
        "inverse_square": ((SSD_REF_MM + data.d0_mm) / spd) ** 2,
        "off_axis_ratio": data.oar(off_axis, depth),
        "backscatter": data.backscatter(behind, r_d),
    }
    return HandCalculation(
        point_mm=(float(point[0]), float(point[1]), float(point[2])),
        depth_mm=depth,
        effective_depth_mm=d_eff,
        spd_mm=spd,
        off_axis_mm=off_axis,
        equivalent_square_mm=c,
        field_at_depth_mm=r_d,
        backscatter_mm=behind,
        gy_per_mu=GY_PER_MU_REF * math.prod(factors.values()),
        note=note,
        **factors,
    )


def _position(plan: Plan | None, ct: Image) -> PatientPosition:
    pos = plan.patient_position if plan is not None else None
    pos = pos if pos is not None else ct.patient_position
    return PatientPosition(pos if pos is not None else "HFS")


def hand_calculation(
    beam: Beam,
    ct: Image,
    *,
    point_mm: npt.ArrayLike | None = None,
    patient_position: PatientPosition | str | None = None,
) -> HandCalculation:
    """The dose per MU of one beam at one point, computed by hand (TG-71 formalism).

    Parameters
    ----------
    beam : Beam
        Energy (its hand-calculation beam data), angles, isocentre, jaws and MLC.
    ct : Image
        CT in HU, or a mass-density image in g/cm³ of water composition.
    point_mm : array_like, shape (3,), optional
        Calculation point, LPS mm; by default the isocentre (or the point the module
        notes describe when the isocentre cannot be used).
    patient_position : PatientPosition or str, optional
        Overrides the CT's; HFS when neither is known.

    Returns
    -------
    HandCalculation
        Dose to water per MU and the factors it is made of.

    Raises
    ------
    PlanError
        If no point can be used: the beam misses the body, the aperture is closed, or
        the given point lies outside the field or the body.
    DoseEngineError
        If the beam's energy has no hand-calculation beam data.

    Examples
    --------
    A 10 x 10 cm² field, isocentre 10 cm deep in water (SSD 90 cm):

    >>> import rtplan
    >>> from rtplan.dose import hand_calculation
    >>> from rtplan.testing import water_phantom
    >>> ct = water_phantom(width_mm=200, depth_mm=200, spacing_mm=5.0)
    >>> calc = hand_calculation(rtplan.Beam(isocenter_mm=(0.0, 100.0, 0.0)), ct)
    >>> round(calc.depth_mm), round(calc.equivalent_square_mm), round(calc.spd_mm)
    (100, 100, 1000)
    >>> 0.75 < calc.tmr < 0.82, 0.0078 < calc.gy_per_mu < 0.0084
    (True, True)
    """
    pos = PatientPosition(patient_position) if patient_position is not None else _position(None, ct)
    calc = _hand_calc(beam, ct, point_mm, pos)
    if isinstance(calc, str):
        raise PlanError(f"beam {beam.name or beam.number!r}: no hand calculation: {calc}")
    return calc


# ---------------------------------------------------------------------------- the check
def _name(beam: Beam, index: int) -> str:
    return beam.name or (str(beam.number) if beam.number else str(index + 1))


def _water_per_medium(ct: Image, point: npt.ArrayLike, energy: str) -> float:
    """``s_w,m`` at a point: dose to water per dose to medium (1 for a density image)."""
    if is_density_image(ct):
        return 1.0
    rho, _ = _densities(ct, np.atleast_1d(ct.sample(np.asarray(point, dtype=np.float64))))
    return float(water_to_medium_ratio(rho, energy)[0])


def _row(
    name: str,
    engine_mu: float | None,
    dose_gy: float,
    calc: HandCalculation | str,
    tolerance: float,
) -> BeamMuCheck:
    mu = math.nan if engine_mu is None else float(engine_mu)
    if isinstance(calc, str):
        return BeamMuCheck(
            beam=name,
            engine_mu=mu,
            check_mu=math.nan,
            dose_gy=math.nan,
            difference_percent=math.nan,
            tolerance_percent=tolerance,
            calculation=None,
            note=calc,
        )
    check = dose_gy / calc.gy_per_mu
    diff = 100.0 * (mu - check) / check if check > 0 else math.nan
    return BeamMuCheck(
        beam=name,
        engine_mu=mu,
        check_mu=check,
        dose_gy=dose_gy,
        difference_percent=diff,
        tolerance_percent=tolerance,
        calculation=calc,
        note=calc.note,
    )


def _reference_mu(
    plan: Plan, result: PlanDose, target: Structure | None
) -> tuple[list[float], str]:
    """The MU that meet the prescription with the engine's beam doses, and how it was found."""
    mus = [
        float(b.mu if b.mu is not None else (result.plan.beams[i].mu or 0.0))
        for i, b in enumerate(plan.beams)
    ]
    norm = Normalization(plan.normalization)
    tgt = target if target is not None else plan.target
    what = f"{result.engine} engine's dose of each beam at its point"
    if plan.prescription_gy is None or norm is Normalization.NONE:
        return mus, f"{what}, for the plan's MU (no prescription and normalisation to check them)"
    if norm is not Normalization.ISOCENTER and tgt is None:
        return mus, (
            f"{what}, for the plan's MU (the {norm} normalisation needs its target "
            f"{plan.target_name or ''!r}: pass target= to check the MU against the prescription)"
        )
    total = np.zeros(result.setup.grid.shape)
    for mu, d in zip(mus, result.beam_gy_per_mu, strict=True):
        total += mu * d
    value = _normalisation_value(plan, total, result.setup, tgt)
    dpf = float(plan.prescription_gy) / plan.fractions
    if not value > 0:
        raise PlanError(f"plan {plan.name!r} gives no dose at its normalisation ({norm})")
    scale = dpf / value
    where = "at the isocentre" if norm is Normalization.ISOCENTER else f"{norm} of {tgt.name}"  # type: ignore[union-attr]
    return [scale * m for m in mus], (
        f"{what}, for the MU that give {dpf:.4g} Gy per fraction {where} "
        f"({plan.prescription_gy:g} Gy in {plan.fractions}) with the plan's beam weights"
    )


def _per_beam(
    plan: Plan,
    ct: Image,
    result: PlanDose,
    target: Structure | None,
    point_mm: npt.ArrayLike | None,
    tolerance: float,
) -> tuple[list[BeamMuCheck], str]:
    if len(result.beam_gy_per_mu) != len(plan.beams):
        raise PlanError(
            f"the dose holds {len(result.beam_gy_per_mu)} beams, plan {plan.name!r} "
            f"{len(plan.beams)}: pass the PlanDose of this plan"
        )
    reference, basis = _reference_mu(plan, result, target)
    pos = _position(plan, ct)
    rows = []
    for i, beam in enumerate(plan.beams):
        calc = _hand_calc(beam, ct, point_mm, pos)
        engine_mu = beam.mu if beam.mu is not None else result.plan.beams[i].mu
        dose = math.nan
        if not isinstance(calc, str):
            per_mu = Image(array=result.beam_gy_per_mu[i], grid=result.setup.grid, units="Gy")
            medium = float(per_mu.sample(np.asarray(calc.point_mm), fill_value=0.0))
            dose = reference[i] * medium * _water_per_medium(ct, calc.point_mm, beam.energy)
        rows.append(_row(_name(beam, i), engine_mu, dose, calc, tolerance))
    return rows, basis


def _plan_level(
    plan: Plan,
    ct: Image,
    point: FloatArray,
    dose_per_fraction_gy: float,
    tolerance: float,
) -> list[BeamMuCheck]:
    """Share a per-fraction dose (to water) at one point among the beams by the check."""
    pos = _position(plan, ct)
    calcs = [_hand_calc(b, ct, point, pos) for b in plan.beams]
    mus = [float(b.mu) if b.mu is not None else math.nan for b in plan.beams]
    usable = [
        (mu, c) for mu, c in zip(mus, calcs, strict=True) if not isinstance(c, str) and mu > 0
    ]
    if len(usable) != len(plan.beams):
        why = "; ".join(
            f"{_name(b, i)}: {c if isinstance(c, str) else 'no MU'}"
            for i, (b, c) in enumerate(zip(plan.beams, calcs, strict=True))
            if isinstance(c, str) or not mus[i] > 0
        )
        calcs = [f"the plan's dose at one point cannot be shared among its beams ({why})"] * len(
            calcs
        )
        return [
            _row(_name(b, i), mus[i], math.nan, calcs[i], tolerance)
            for i, b in enumerate(plan.beams)
        ]
    check_total = sum(mu * c.gy_per_mu for mu, c in usable if not isinstance(c, str))
    ratio = dose_per_fraction_gy / check_total
    return [
        _row(_name(b, i), mus[i], ratio * mus[i] * c.gy_per_mu, c, tolerance)  # type: ignore[union-attr]
        for i, (b, c) in enumerate(zip(plan.beams, calcs, strict=True))
    ]


def _dose_per_fraction_at(
    dose: Dose, plan: Plan, ct: Image, point: FloatArray
) -> tuple[float, str]:
    """A plan dose at a point, per fraction and to water; and its description."""
    kind = DoseSummationType(dose.summation_type)
    if DoseType(dose.dose_type) is not DoseType.PHYSICAL or kind.is_partial:
        raise DoseError(
            f"dose {dose.name!r} is a {dose.meaning}; the MU check needs the physical dose of "
            "the whole plan or of one fraction"
        )
    value = float(dose.sample(point, fill_value=math.nan))
    if not math.isfinite(value):
        raise DoseError(f"the isocentre {tuple(point)} lies outside dose {dose.name!r}")
    if kind.is_total:
        if dose.fractions is not None and dose.fractions != plan.fractions:
            raise DoseError(
                f"dose {dose.name!r} is of {dose.fractions} fractions, plan {plan.name!r} of "
                f"{plan.fractions}: they do not belong together"
            )
        value /= plan.fractions
    medium = DoseMedium(dose.medium) is DoseMedium.MEDIUM
    if medium:
        value *= _water_per_medium(ct, point, plan.beams[0].energy)
    return value, (
        f"dose {dose.name!r} at the isocentre, {value:.4g} Gy per fraction (to water), shared "
        "among the beams by the hand calculation"
    )


def _warn_failures(check: MuCheck) -> None:
    for b in check.beams:
        if b.passed is False:
            warn(
                f"beam {b.beam!r}: {b.engine_mu:.1f} MU per fraction in the plan, "
                f"{b.check_mu:.1f} MU by the independent check: {b.difference_percent:+.1f} % "
                f"(tolerance {check.tolerance_percent:g} %); dose at the points: {check.basis}",
                MonitorUnitWarning,
                stacklevel=4,
            )


def mu_check(
    plan: Plan,
    ct: Image,
    dose: PlanDose | Dose | None = None,
    *,
    engine: Engine | str | DoseEngine = Engine.COLLAPSED_CONE,
    grid_mm: float | Sequence[float] = 2.5,
    target: Structure | None = None,
    point_mm: npt.ArrayLike | None = None,
    tolerance_percent: float = TOLERANCE_PERCENT,
) -> MuCheck:
    """Check each beam's MU with an independent hand calculation (see the module notes).

    The dose each beam must deliver at its calculation point comes from, in order:

    * ``dose`` as a :class:`~rtplan.dose.PlanDose` (what :func:`~rtplan.dose.calculate`
      returns): the engine's dose of each beam at its point, for the MU that meet the
      plan's prescription and normalisation with the plan's relative MU (the plan's own MU
      when it has no prescription) -- so MU scaled by mistake, or derived from another
      prescription, show as the difference;
    * ``dose`` as a :class:`~rtplan.Dose` (the plan's dose, e.g. read from an RT Dose):
      its value at the first beam's isocentre, per fraction, shared among the beams by the
      hand calculation (every beam then shows the same difference);
    * nothing, for a plan with MU normalised to the isocentre: the prescription there,
      shared in the same way -- no engine is run;
    * otherwise the plan is computed with ``engine`` first, as for a ``PlanDose``.

    Parameters
    ----------
    plan : Plan
        The plan whose MU (per fraction) are checked.
    ct : Image
        CT in HU, or a mass-density image in g/cm³ (water composition).
    dose : PlanDose or Dose, optional
        The engine's result for this plan, or the plan's dose (see above).
    engine : Engine, str or DoseEngine
        Engine used when the plan must be computed (``dose`` not given).
    grid_mm : float or sequence of 3 float
        Dose grid of that computation, mm.
    target : Structure, optional
        Target of a ``"mean"`` or ``"d95"`` normalisation (the plan's own by default).
    point_mm : array_like, shape (3,), optional
        One calculation point (LPS mm) for every beam, instead of each beam's own.
    tolerance_percent : float
        Largest difference that passes (5 % by default).

    Returns
    -------
    MuCheck
        Per beam: the plan's MU, the check's, the difference, the point, depths, equivalent
        square and factors; beams that cannot be checked say why.

    Warns
    -----
    MonitorUnitWarning
        For each beam whose MU differ from the check by more than the tolerance, naming
        the beam, both MU and the difference.

    Raises
    ------
    PlanError
        If the plan has no beams or ``dose`` belongs to another plan.
    DoseError
        If a given :class:`~rtplan.Dose` is not a physical dose of the whole plan or of a
        fraction.

    Examples
    --------
    Two opposed 10 x 10 cm² fields normalised at the isocentre of a 20 cm water slab (no
    engine is run); then the same plan with its MU scaled by 1.2:

    >>> import warnings
    >>> import rtplan
    >>> from rtplan.dose import mu_check
    >>> from rtplan.testing import water_phantom
    >>> ct = water_phantom(width_mm=200, depth_mm=200, spacing_mm=5.0)
    >>> ap = rtplan.Beam(name="AP", isocenter_mm=(0.0, 100.0, 0.0), mu=124.0)
    >>> plan = rtplan.Plan(beams=[ap, ap.replace(name="PA", gantry_deg=180.0)],
    ...                    prescription_gy=2.0, normalization="isocenter")
    >>> check = mu_check(plan, ct)
    >>> [round(b.check_mu) for b in check], check.passed
    ([124, 124], True)
    >>> wrong = plan.with_beams([b.with_mu(1.2 * b.mu) for b in plan.beams])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     wrong_check = mu_check(wrong, ct)
    >>> [round(b.difference_percent, 1) for b in wrong_check], wrong_check.passed
    ([19.9, 19.9], False)
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    beam 'AP': 148.8 MU per fraction in the plan, 124.1 MU by the independent check: +19.9 % ...
    """
    if not plan.beams:
        raise PlanError(f"plan {plan.name!r} has no beams to check")
    tol = float(tolerance_percent)
    data = load_hand_calc_data(plan.beams[0].energy)
    iso = np.asarray(
        plan.beams[0].isocenter_mm if point_mm is None else point_mm, dtype=np.float64
    ).reshape(3)
    notes: tuple[str, ...] = ()
    if isinstance(dose, Dose):
        value, basis = _dose_per_fraction_at(dose, plan, ct, iso)
        rows = _plan_level(plan, ct, iso, value, tol)
    elif dose is None and _prescribed_at_isocentre(plan):
        dpf = float(plan.prescription_gy or 0.0) / plan.fractions
        value = dpf * _water_per_medium(ct, iso, plan.beams[0].energy)
        rows = _plan_level(plan, ct, iso, value, tol)
        basis = (
            f"the prescription at the isocentre, {dpf:.4g} Gy per fraction (dose to medium, "
            f"{value:.4g} Gy to water), shared among the beams by the hand calculation; no "
            "dose engine run"
        )
    else:
        result = dose if isinstance(dose, PlanDose) else None
        if result is None:
            result = calculate(plan, ct, engine=engine, grid_mm=grid_mm, target=target)
        rows, basis = _per_beam(plan, ct, result, target, point_mm, tol)
        notes = result.notes
    check = MuCheck(
        beams=tuple(rows), basis=basis, tolerance_percent=tol, data_source=data.source, notes=notes
    )
    for row in check.beams:
        logger.info("MU check %s: %s", row.beam, row.to_dict())
    _warn_failures(check)
    return check


def _prescribed_at_isocentre(plan: Plan) -> bool:
    """A plan with MU, normalised to its prescription at the (first) isocentre."""
    return (
        Normalization(plan.normalization) is Normalization.ISOCENTER
        and plan.prescription_gy is not None
        and all(b.mu is not None and b.mu > 0 for b in plan.beams)
    )
