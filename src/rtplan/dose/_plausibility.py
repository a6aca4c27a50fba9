"""Plan plausibility at dose time: what a planner would question, with the numbers.

:func:`rtplan.dose.calculate` runs these checks; each finding is a
:class:`PlanPlausibilityWarning` (or a :class:`~rtplan.errors.PlanError` when the plan
cannot belong to the CT) and a line in :attr:`PlanDose.notes <rtplan.dose.PlanDose>`:

* an isocentre outside the CT: refused beyond :data:`ISOCENTER_REFUSE_MM` (100 mm) from the
  CT's box, warned closer; an isocentre within :data:`ISOCENTER_EDGE_MM` (10 mm) of the
  first or last slice is warned (the tissue beyond the scan is missing from the scatter);
* a beam whose field holds no part of the body is refused; one whose central axis misses
  the body is warned (its MU and any isocentre normalisation mean little);
* MU derived from a prescription above :data:`MU_PER_BEAM_WARN` (1000) per beam and
  fraction, or above :data:`MU_PER_GY_WARN` (600) per Gy of the fraction dose over the
  plan, are warned with the prescription and the normalisation (typically a normalisation
  point or target in a low-dose region);
* CT numbers beyond the HU calibration curve (metal above 3000 HU): the volume and the
  density they were computed with (the tissue calibration warns with the same numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rtplan._warn import warn
from rtplan.dose._aperture import aperture
from rtplan.dose._conversion import is_density_image
from rtplan.dose._setup import DoseSetup
from rtplan.errors import PlanError, RtplanWarning
from rtplan.image import Image
from rtplan.plan import Beam, Plan

__all__ = [
    "ISOCENTER_EDGE_MM",
    "ISOCENTER_REFUSE_MM",
    "MU_PER_BEAM_WARN",
    "MU_PER_GY_WARN",
    "PlanPlausibilityWarning",
    "check_derived_mu",
    "check_plan_on_ct",
]

#: An isocentre farther than this outside the CT's box is refused, mm.
ISOCENTER_REFUSE_MM = 100.0
#: An isocentre closer than this to the first or last CT slice is warned, mm.
ISOCENTER_EDGE_MM = 10.0
#: MU per beam and fraction above which MU derived from a prescription are warned.
MU_PER_BEAM_WARN = 1000.0
#: Plan MU per Gy of the fraction dose above which derived MU are warned.
MU_PER_GY_WARN = 600.0
#: Body voxels used to test whether a field meets the body (a regular subsample).
_MAX_BODY_POINTS = 200_000


class PlanPlausibilityWarning(RtplanWarning):
    """A plan looks implausible on its CT at dose time; the message gives the numbers."""


def _say(notes: list[str], message: str) -> None:
    notes.append(message)
    warn(message, PlanPlausibilityWarning, stacklevel=5)


def _beam_names(beams: Sequence[Beam]) -> str:
    names = [b.name or str(b.number) for b in beams]
    return ", ".join(repr(n) for n in names)


def _outside_mm(ct: Image, point: np.ndarray) -> tuple[float, float]:
    """Distance of a point outside the CT's box, and its distance to the nearer end slice."""
    ijk = ct.grid.mm_to_index(point)
    n = np.asarray(ct.grid.shape_ijk, dtype=np.float64)
    below = np.maximum(-0.5 - ijk, 0.0)
    above = np.maximum(ijk - (n - 0.5), 0.0)
    outside = float(np.linalg.norm((below + above) * ct.grid.spacing_ijk_mm))
    k = float(ijk[2])
    to_end = min(k + 0.5, n[2] - 0.5 - k) * float(ct.grid.spacing_ijk_mm[2])
    return outside, to_end


def _span(ct: Image) -> str:
    lo, hi = ct.grid.bounds_mm()
    return ", ".join(f"{a} {lo[i]:.0f} to {hi[i]:.0f}" for i, a in enumerate("xyz")) + " mm"


def _check_isocentres(plan: Plan, ct: Image, notes: list[str]) -> None:
    groups: dict[tuple[float, float, float], list[Beam]] = {}
    for b in plan.beams:
        groups.setdefault(tuple(round(v, 3) for v in b.isocenter_mm), []).append(b)  # type: ignore[arg-type]
    for iso, beams in groups.items():
        outside, to_end = _outside_mm(ct, np.asarray(iso))
        point = f"({iso[0]:.1f}, {iso[1]:.1f}, {iso[2]:.1f}) mm"
        where = f"isocentre {point} of beam(s) {_beam_names(beams)}"
        if outside > ISOCENTER_REFUSE_MM:
            raise PlanError(
                f"plan {plan.name!r}: the {where} lies {outside:.0f} mm outside CT {ct.name!r} "
                f"({_span(ct)}); a plan for this CT has it within {ISOCENTER_REFUSE_MM:g} mm: "
                "check the plan's frame of reference and isocentre"
            )
        if outside > 0.0:
            _say(
                notes,
                f"plan {plan.name!r}: the {where} lies {outside:.0f} mm outside CT {ct.name!r} "
                f"({_span(ct)}); the dose is computed with the anatomy the CT holds",
            )
        elif to_end < ISOCENTER_EDGE_MM:
            _say(
                notes,
                f"plan {plan.name!r}: the {where} lies {to_end:.0f} mm from the end slice of CT "
                f"{ct.name!r} ({_span(ct)}); tissue beyond the scan is missing from the "
                "scatter: scan further past the target",
            )


def _body_points(setup: DoseSetup) -> np.ndarray:
    ijk = np.argwhere(setup.body)[:, ::-1].astype(np.float64)  # (i, j, k)
    step = max(1, len(ijk) // _MAX_BODY_POINTS)
    return np.asarray(setup.grid.index_to_mm(ijk[::step]))


def _axis_meets_body(beam: Beam, setup: DoseSetup) -> bool:
    """Whether the central axis passes through a body voxel of the dose grid."""
    pos = setup.patient_position
    source = beam.source_mm(pos)
    axis = beam.direction(pos)
    step = 0.5 * float(min(setup.grid.spacing_mm))
    t = np.arange(0.0, 2.0 * beam.sad_mm, step)
    ijk = np.rint(setup.grid.mm_to_index(source + t[:, np.newaxis] * axis)).astype(np.intp)
    n = np.asarray(setup.grid.shape_ijk)
    ok = np.all((ijk >= 0) & (ijk < n), axis=1)
    i, j, k = ijk[ok].T
    return bool(np.any(setup.body[k, j, i]))


def _check_beams_meet_body(plan: Plan, setup: DoseSetup, notes: list[str]) -> None:
    points = _body_points(setup)
    cc_per_point = (
        setup.grid.voxel_volume_mm3 / 1000.0 * max(1, int(setup.body.sum()) // len(points))
    )
    pos = setup.patient_position
    for b in plan.beams:
        local = b.patient_to_beam(points, pos)
        depth = b.sad_mm - local[:, 2]
        front = depth > 1.0
        xy = local[front, :2] * (b.sad_mm / depth[front])[:, np.newaxis]
        covered = int(np.count_nonzero(aperture(b).contains(xy)))
        what = (
            f"beam {b.name or b.number!r} (gantry {b.gantry_deg:g}°, couch {b.couch_deg:g}°, "
            f"isocentre ({', '.join(f'{v:.1f}' for v in b.isocenter_mm)}) mm, field "
            f"{b.field_size_mm[0]:.0f} x {b.field_size_mm[1]:.0f} mm)"
        )
        if covered == 0:
            raise PlanError(
                f"plan {plan.name!r}: {what} misses the patient: no part of the body lies in "
                "its field; check the isocentre, the angles and the patient position"
            )
        if not _axis_meets_body(b, setup):
            _say(
                notes,
                f"plan {plan.name!r}: the central axis of {what} does not pass through the "
                f"body (its field covers {covered * cc_per_point:.0f} cm³ of it): its MU and "
                "an isocentre normalisation mean little",
            )


def _hu_beyond_curve(ct: Image, notes: list[str]) -> None:
    """Note the metal (HU above the calibration curve) the dose was computed with."""
    if is_density_image(ct):
        return
    from rtplan.tissue import SCHNEIDER_2000

    hi = SCHNEIDER_2000.hu_range[1]
    n = sum(int(np.count_nonzero(np.asarray(sl) > hi)) for sl in ct.array)
    if n:
        cc = n * ct.grid.voxel_volume_mm3 / 1000.0
        notes.append(
            f"CT {ct.name!r}: {cc:.3g} cm³ ({n} voxels) above {hi:g} HU, beyond calibration "
            f"curve {SCHNEIDER_2000.name!r} (metal, implant or artefact), computed as "
            f"{float(SCHNEIDER_2000.density_at(hi)):.3g} g/cm³ (relative electron density "
            f"{float(SCHNEIDER_2000.electron_density_at(hi)):.3g}); metal is denser "
            "(titanium 4.5, steel 8 g/cm³): review the dose behind it"
        )


def check_plan_on_ct(plan: Plan, ct: Image, setup: DoseSetup) -> tuple[str, ...]:
    """Check the plan's geometry against the CT and the dose grid's body.

    Parameters
    ----------
    plan : Plan
    ct : Image
        The CT (HU) or density image the dose is computed on.
    setup : DoseSetup
        Its dose grid and body.

    Returns
    -------
    tuple of str
        The findings (each also warned, except the HU note, which the tissue calibration
        warns).

    Warns
    -----
    PlanPlausibilityWarning
        Isocentre outside the CT or near its end slice; central axis missing the body.

    Raises
    ------
    PlanError
        If an isocentre lies more than :data:`ISOCENTER_REFUSE_MM` outside the CT, or a
        beam's field holds no part of the body.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.dose import prepare_setup
    >>> from rtplan.dose._plausibility import check_plan_on_ct
    >>> from rtplan.testing import water_phantom
    >>> ct = water_phantom(width_mm=100, depth_mm=100, spacing_mm=5.0)
    >>> plan = rtplan.Plan(beams=[rtplan.Beam(gantry_deg=90.0, isocenter_mm=(0, 300, 0))])
    >>> setup = prepare_setup(ct, grid_mm=5.0)
    >>> check_plan_on_ct(plan, ct, setup)  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    rtplan.errors.PlanError: plan 'rtplan': the isocentre (0.0, 300.0, 0.0) mm of beam(s) '0' lies
    200 mm outside CT ... within 100 mm: check the plan's frame of reference and isocentre
    """
    notes: list[str] = []
    _check_isocentres(plan, ct, notes)
    _check_beams_meet_body(plan, setup, notes)
    _hu_beyond_curve(ct, notes)
    return tuple(notes)


def check_derived_mu(plan: Plan) -> tuple[str, ...]:
    """Warn when MU derived from a prescription come out implausibly high.

    Parameters
    ----------
    plan : Plan
        The plan with the MU just derived from its prescription and normalisation.

    Returns
    -------
    tuple of str
        The finding, if any (also warned).

    Warns
    -----
    PlanPlausibilityWarning
        When a beam has more than :data:`MU_PER_BEAM_WARN` MU per fraction or the plan more
        than :data:`MU_PER_GY_WARN` MU per Gy of its fraction dose.

    Examples
    --------
    >>> import warnings
    >>> import rtplan
    >>> from rtplan.dose._plausibility import check_derived_mu
    >>> plan = rtplan.Plan(beams=[rtplan.Beam(name="AP", mu=4800.0)], prescription_gy=2.0,
    ...                    normalization="mean", target_name="PTV")
    >>> with warnings.catch_warnings(record=True):
    ...     warnings.simplefilter("always")
    ...     print(check_derived_mu(plan)[0])  # doctest: +NORMALIZE_WHITESPACE
    MU derived from the prescription look implausible: beam 'AP' 4800.0 MU per fraction;
    4800 MU for 2 Gy per fraction (2400 MU/Gy) with normalisation mean of 'PTV' (2 Gy in 1
    fractions): check the prescription and the normalisation (a target or point in a
    low-dose region, outside the fields?)
    """
    dpf = plan.dose_per_fraction_gy
    if dpf is None or dpf <= 0:
        return ()
    total = plan.total_mu
    high = [b for b in plan.beams if (b.mu or 0.0) > MU_PER_BEAM_WARN]
    if not high and total / dpf <= MU_PER_GY_WARN:
        return ()
    beams = "; ".join(f"beam {b.name or b.number!r} {b.mu:.1f} MU per fraction" for b in high)
    target = f" of {plan.target_name!r}" if plan.target_name else ""
    message = (
        "MU derived from the prescription look implausible: "
        + (beams + "; " if beams else "")
        + f"{total:.0f} MU for {dpf:.4g} Gy per fraction ({total / dpf:.0f} MU/Gy) with "
        f"normalisation {plan.normalization}{target} ({plan.prescription_gy:g} Gy in "
        f"{plan.fractions} fractions): check the prescription and the normalisation (a target "
        "or point in a low-dose region, outside the fields?)"
    )
    notes: list[str] = []
    _say(notes, message)
    return tuple(notes)
