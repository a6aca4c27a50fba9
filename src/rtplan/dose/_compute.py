"""Plan dose: run an engine per beam, calibrate to Gy per MU, derive MU, sum the fractions."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan.dose._calibration import engine_calibration
from rtplan.dose._engine import get_engine
from rtplan.dose._plausibility import check_derived_mu, check_plan_on_ct
from rtplan.dose._protocol import DoseEngine, ProgressCallback
from rtplan.dose._setup import DoseSetup, prepare_setup
from rtplan.dose.machines._model import load_machine
from rtplan.enum import Engine
from rtplan.errors import DoseEngineError, PlanError
from rtplan.grid import Grid, IndexBox
from rtplan.image import Dose, DoseMedium, Image
from rtplan.plan import Plan

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = ["PlanDose", "calculate", "compute_dose", "monitor_units"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class PlanDose:
    """The result of :func:`calculate`.

    Attributes
    ----------
    plan : Plan
        The plan with every beam's MU (per fraction) set.
    dose : Dose
        Total plan dose (all fractions), Gy, dose to medium.
    beam_gy_per_mu : tuple of numpy.ndarray
        Dose per MU of each beam on ``dose.grid``, Gy/MU.
    setup : DoseSetup
        Dose grid and densities used.
    engine : str
        Engine name.
    notes : tuple of str
        What the plausibility checks found (:mod:`rtplan.dose._plausibility`): isocentre
        near or outside the CT, a central axis missing the body, implausible derived MU,
        CT numbers beyond the calibration curve; each was also warned.
    """

    plan: Plan
    dose: Dose
    beam_gy_per_mu: tuple[FloatArray, ...]
    setup: DoseSetup
    engine: str
    notes: tuple[str, ...] = ()


def _normalisation_value(
    plan: Plan,
    per_fraction: FloatArray,
    setup: DoseSetup,
    target: Structure | None,
) -> float:
    norm = plan.normalization
    if norm == "isocenter":
        iso = np.asarray(plan.beams[0].isocenter_mm)
        img = Image(array=per_fraction, grid=setup.grid, units="Gy")
        value = float(img.sample(iso, fill_value=np.nan))
        if not np.isfinite(value):
            raise PlanError("the isocentre lies outside the dose grid; cannot normalise there")
        return value
    if target is None:
        raise PlanError(
            f"normalisation {norm!r} needs the target structure "
            f"({plan.target_name or 'target'}): pass target=... to compute_dose (plans from "
            "Plan.conformal carry their target)"
        )
    values = _target_samples(per_fraction, setup.grid, target)
    if norm == "mean":
        return float(values.mean())
    return float(np.percentile(values, 5.0))  # D95: dose received by 95 % of the volume


#: Largest number of points at which :func:`_target_samples` samples a target's dose.
_MAX_TARGET_SAMPLES = 4_000_000


def _target_samples(per_fraction: FloatArray, grid: Grid, target: Structure) -> FloatArray:
    """The dose at equal-volume points filling the target: trilinear, at sub-voxel spacing.

    Each dose voxel around the target is divided into ``s**3`` sub-voxels (``s`` up to 5, so
    0.5 mm on a 2.5 mm grid, fewer for big targets); the dose is interpolated at the centres
    of those inside the target. The dose voxel values alone (the value of a voxel for its
    whole volume) bias the D95 of a target with a steep dose gradient at its edge: 3 % low
    on a 31 cm3 PTV at 2.5 mm, and a D95-normalised plan would then show a D95 of 103 % in
    the DVH (which samples the same way as this).
    """
    mask = target.mask(grid)
    box = IndexBox.from_mask(mask)
    if box is None:
        raise PlanError(f"target {target.name!r} covers no voxel of the dose grid")
    box = box.padded(1, within=grid.shape)  # one voxel of margin
    lo = np.asarray(box.lower)  # (k, j, i)
    hi = np.asarray(box.upper)
    n_target = int(np.count_nonzero(mask))
    s = int(np.clip(np.floor(np.cbrt(_MAX_TARGET_SAMPLES / n_target)), 1, 5))
    dk, dj, di = (float(v) / s for v in grid.spacing_mm)
    x0, y0, z0 = (float(v) for v in grid.index_to_mm((lo - 0.5 + 0.5 / s)[::-1]))
    fine = Grid(
        shape=(int(hi[0] - lo[0]) * s, int(hi[1] - lo[1]) * s, int(hi[2] - lo[2]) * s),
        spacing_mm=(dk, dj, di),
        origin_mm=(x0, y0, z0),  # the first sub-voxel centre
        direction=grid.direction,
    )
    inside = target.mask(fine)
    if not np.any(inside):  # a target thinner than the sub-voxels: its voxels' centres
        return per_fraction[mask]
    kji = np.nonzero(inside)
    points = fine.index_to_mm(np.stack(kji[::-1], axis=1).astype(np.float64))
    return Image(array=per_fraction, grid=grid, units="Gy").sample(points)


def _mu_from_prescription(
    plan: Plan, gy_per_mu: Sequence[FloatArray], setup: DoseSetup, target: Structure | None
) -> Plan:
    if plan.normalization == "none" or plan.prescription_gy is None:
        raise PlanError(
            "beams without MU need a prescription and a normalisation ('mean', 'd95' or "
            "'isocenter') to derive them; set Beam.mu or Plan.prescription_gy/normalization"
        )
    weights = np.array([b.weight for b in plan.beams], dtype=np.float64)
    if weights.sum() <= 0:
        raise PlanError("all beam weights are zero; cannot derive MU")
    per_fraction = np.zeros(setup.grid.shape)
    for w, d in zip(weights, gy_per_mu, strict=True):
        per_fraction += w * d
    value = _normalisation_value(plan, per_fraction, setup, target)
    if value <= 0:
        raise PlanError(f"the plan gives no dose at its normalisation ({plan.normalization})")
    dpf = plan.prescription_gy / plan.fractions
    scale = dpf / value
    return plan.with_beams(
        [b.with_mu(float(scale * w)) for b, w in zip(plan.beams, weights, strict=True)]
    )


def calculate(
    plan: Plan,
    ct: Image,
    *,
    engine: Engine | str | DoseEngine = Engine.COLLAPSED_CONE,
    grid_mm: float | Sequence[float] = 2.5,
    target: Structure | None = None,
    progress: ProgressCallback | None = None,
) -> PlanDose:
    """Compute a plan's dose and monitor units.

    Parameters
    ----------
    plan : Plan
        Beams with MU, or with weights plus a prescription and normalisation.
    ct : Image
        CT in HU, or a mass-density image (g/cm3, water composition).
    engine : Engine, str or DoseEngine
        :attr:`Engine.COLLAPSED_CONE <rtplan.enum.Engine.COLLAPSED_CONE>` (default, the
        reference for heterogeneity) or :attr:`Engine.PENCIL_BEAM
        <rtplan.enum.Engine.PENCIL_BEAM>`, their names (``"collapsed-cone"``,
        ``"pencil-beam"``), a registered or plugin engine name, or an engine object.
    grid_mm : float or sequence of 3 float
        Dose grid spacing, mm.
    target : Structure, optional
        Target for the ``"mean"`` and ``"d95"`` normalisations.
    progress : callable, optional
        ``progress(fraction, message)`` during the computation (INFO logs are written too).

    Returns
    -------
    PlanDose
        The plan with MU, the total dose (dose to medium) and the per-beam dose per MU.

    Raises
    ------
    PlanError
        If the plan has no beams or its MU cannot be derived.
    DoseEngineError
        If the engine or a beam model is unknown.

    Examples
    --------
    A beam without MU, normalised so that the isocentre (5 cm deep) gets 2 Gy per fraction:

    >>> import rtplan
    >>> from rtplan.dose import calculate
    >>> from rtplan.testing import water_phantom
    >>> ct = water_phantom(width_mm=100, depth_mm=100, spacing_mm=5.0)
    >>> beam = rtplan.Beam(isocenter_mm=(0.0, 50.0, 0.0), jaws_mm=(-25, 25, -25, 25))
    >>> plan = rtplan.Plan(beams=[beam], prescription_gy=4.0, fractions=2,
    ...                    normalization="isocenter")
    >>> result = calculate(plan, ct, engine="pencil-beam", grid_mm=5.0)
    >>> round(float(result.dose.sample([0.0, 50.0, 0.0])), 3), result.engine
    (4.0, 'pencil-beam')
    >>> 200 < result.plan.beams[0].mu < 400  # per fraction
    True
    """
    if not plan.beams:
        raise PlanError(f"plan {plan.name!r} has no beams")
    eng = get_engine(engine)
    t0 = time.perf_counter()
    setup = prepare_setup(ct, grid_mm=grid_mm, patient_position=plan.patient_position)
    logger.info(
        "dose grid %s (%d voxels in the body) for %d beams with %s",
        setup.grid.shape, int(setup.body.sum()), len(plan.beams), eng.name,
    )  # fmt: skip
    notes = check_plan_on_ct(plan, ct, setup)
    n = len(plan.beams)
    per_mu: list[FloatArray] = []
    for b, beam in enumerate(plan.beams):
        machine = load_machine(beam.energy)

        def sub(frac: float, msg: str, b: int = b) -> None:
            if progress is not None:
                progress((b + min(max(frac, 0.0), 1.0)) / n, f"beam {b + 1}/{n}: {msg}")

        tb = time.perf_counter()
        raw = eng.beam_dose(beam, setup, machine, progress=sub)
        if raw.shape != setup.grid.shape:
            raise DoseEngineError(
                f"engine {eng.name!r} returned shape {raw.shape}, expected {setup.grid.shape}"
            )
        per_mu.append(np.asarray(raw, dtype=np.float64) * engine_calibration(eng, machine))
        logger.info(
            "beam %d/%d (%s, gantry %.1f) done in %.1f s",
            b + 1, n, beam.name or beam.energy, beam.gantry_deg, time.perf_counter() - tb,
        )  # fmt: skip
        sub(1.0, "done")
    if any(b.mu is None for b in plan.beams):
        plan = _mu_from_prescription(plan, per_mu, setup, target or plan.target)
        notes += check_derived_mu(plan)
    total = np.zeros(setup.grid.shape)
    for beam, d in zip(plan.beams, per_mu, strict=True):
        total += float(beam.mu or 0.0) * d
    total *= plan.fractions
    dose = Dose(
        array=total.astype(np.float32),
        grid=setup.grid,
        name=f"{plan.name} ({eng.name})",
        patient_position=setup.patient_position,
        medium=DoseMedium.MEDIUM,
        fractions=plan.fractions,
        plan_uid=plan.uid,
    )
    logger.info("plan dose done in %.1f s, max %.3f Gy", time.perf_counter() - t0, dose.max_gy)
    return PlanDose(plan=plan, dose=dose, beam_gy_per_mu=tuple(per_mu), setup=setup,
                    engine=eng.name, notes=notes)  # fmt: skip


def compute_dose(
    plan: Plan,
    ct: Image,
    *,
    engine: Engine | str | DoseEngine = Engine.COLLAPSED_CONE,
    grid_mm: float | Sequence[float] = 2.5,
    target: Structure | None = None,
    progress: ProgressCallback | None = None,
) -> Dose:
    """Dose of a plan on a CT, in Gy (all fractions), dose to medium.

    The dose grid has the CT's axes, ``grid_mm`` spacing, and covers the body. Beams with
    MU are delivered as given; otherwise MU are derived from the beam weights, the
    prescription and the plan's normalisation (see :func:`calculate`, which also returns
    the MU). Use :func:`rtplan.dose.dose_to_water` for dose to water.

    Parameters
    ----------
    plan : Plan
    ct : Image
        CT in HU (or a mass-density image in g/cm3 of water composition).
    engine : Engine, str or DoseEngine
        ``"collapsed-cone"`` (default) or ``"pencil-beam"`` (or their
        :class:`rtplan.enum.Engine` members), a registered or plugin engine's name, or an
        engine object.
    grid_mm : float or sequence of 3 float
        Dose grid spacing, mm (2.5 by default).
    target : Structure, optional
        Target for ``"mean"``/``"d95"`` normalisation.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    Dose
        Gy, ``medium=DoseMedium.MEDIUM``, ``fractions=plan.fractions``.

    Raises
    ------
    PlanError, DoseEngineError

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.testing import water_phantom
    >>> ct = water_phantom(width_mm=100, depth_mm=100, spacing_mm=5.0)
    >>> beam = rtplan.Beam(jaws_mm=(-25, 25, -25, 25), mu=100.0)
    >>> dose = rtplan.compute_dose(rtplan.Plan(beams=[beam]), ct, grid_mm=5.0)
    >>> 0.7 < dose.max_gy < 1.0
    True
    """
    return calculate(
        plan, ct, engine=engine, grid_mm=grid_mm, target=target, progress=progress
    ).dose


def monitor_units(
    plan: Plan,
    ct: Image,
    *,
    engine: Engine | str | DoseEngine = Engine.COLLAPSED_CONE,
    grid_mm: float | Sequence[float] = 2.5,
    target: Structure | None = None,
) -> Plan:
    """The plan with each beam's MU (per fraction) from the beam model.

    Parameters
    ----------
    plan : Plan
        Beams with weights; a prescription and normalisation.
    ct : Image
    engine : Engine, str or DoseEngine
        As for :func:`calculate`.
    grid_mm : float or sequence of 3 float
    target : Structure, optional

    Returns
    -------
    Plan

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.dose import monitor_units
    >>> from rtplan.testing import water_phantom
    >>> ct = water_phantom(width_mm=100, depth_mm=100, spacing_mm=5.0)
    >>> beam = rtplan.Beam(isocenter_mm=(0.0, 50.0, 0.0), jaws_mm=(-25, 25, -25, 25))
    >>> plan = rtplan.Plan(beams=[beam, beam.replace(gantry_deg=180.0)], prescription_gy=2.0,
    ...                    normalization="isocenter")
    >>> mu = [b.mu for b in monitor_units(plan, ct, engine="pencil-beam", grid_mm=5.0).beams]
    >>> abs(mu[0] - mu[1]) < 0.05 * mu[0]  # equal weights, symmetric phantom
    True
    """
    stripped = plan.with_beams([b.replace(mu=None) for b in plan.beams])
    return calculate(stripped, ct, engine=engine, grid_mm=grid_mm, target=target).plan
