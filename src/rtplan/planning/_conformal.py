"""3D-conformal plans: one static beam per gantry angle, MLC apertures that follow the target.

Each beam's aperture is the target's divergent beam's-eye-view silhouette grown by the
margin (:func:`rtplan.planning.aperture`); the jaws are set to its bounding box and the
leaves fitted to it (:func:`rtplan.planning.fit_mlc`). Monitor units are left to the dose
engine, which scales them to the prescription by the plan's normalisation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rtplan._warn import warn
from rtplan.enum import Normalization
from rtplan.errors import PlanError
from rtplan.image import PatientPosition
from rtplan.plan import Beam, Mlc, Plan
from rtplan.planning._aperture import fit_mlc, silhouette, target_slabs

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = ["BeamTemplate", "conformal_plan"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class BeamTemplate:
    """What every beam of a generated plan shares, besides its gantry angle and aperture.

    Parameters
    ----------
    collimator_deg, couch_deg : float
        IEC 61217 beam-limiting-device and patient-support angles, degrees.
    sad_mm : float
        Source-axis distance, mm.
    mlc : Mlc
        The multileaf collimator: its leaf boundaries are used, its positions replaced by
        the fitted ones (default: 60 pairs of 5 mm leaves centred on the axis).

    Raises
    ------
    PlanError
        If an angle is not finite or the SAD is not positive.

    Examples
    --------
    >>> from rtplan import Mlc
    >>> from rtplan.planning import BeamTemplate
    >>> template = BeamTemplate(couch_deg=270.0, mlc=Mlc.uniform(40, 10.0))
    >>> template.mlc.leaf_boundaries_mm[0], template.sad_mm
    (-200.0, 1000.0)
    """

    collimator_deg: float = 0.0
    couch_deg: float = 0.0
    sad_mm: float = 1000.0
    mlc: Mlc = field(default_factory=Mlc.uniform)

    def __post_init__(self) -> None:
        for name in ("collimator_deg", "couch_deg"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise PlanError(f"beam template: {name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        if not (math.isfinite(self.sad_mm) and self.sad_mm > 0):
            raise PlanError(f"beam template: sad_mm must be positive, got {self.sad_mm}")
        if not isinstance(self.mlc, Mlc):
            raise PlanError(f"beam template: mlc must be an rtplan.Mlc, got {self.mlc!r}")


def _beam_name(gantry_deg: float, couch_deg: float, used: set[str]) -> str:
    base = f"G{round(gantry_deg) % 360:03d}"
    if round(couch_deg) % 360 != 0:
        base += f"T{round(couch_deg) % 360:03d}"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def _isocenter(target: Structure, isocenter_mm: Sequence[float] | None) -> tuple[float, ...]:
    if isocenter_mm is None:
        iso = np.asarray(target.centroid_mm, dtype=np.float64)
    else:
        iso = np.asarray([float(v) for v in isocenter_mm], dtype=np.float64)
        if iso.shape != (3,):
            raise PlanError(f"isocenter_mm must be 3 numbers, got {isocenter_mm!r}")
    return tuple(float(v) for v in iso)


def conformal_plan(
    target: Structure,
    *,
    gantry_angles_deg: Sequence[float],
    energy: str = "6X",
    prescription_gy: float,
    fractions: int = 1,
    margin_mm: float = 7.0,
    isocenter_mm: Sequence[float] | None = None,
    patient_position: PatientPosition | str = "HFS",
    normalization: Normalization | str = Normalization.MEAN,
    template: BeamTemplate | None = None,
) -> Plan:
    """Build a 3D-conformal photon plan around a target.

    Parameters
    ----------
    target : Structure
        The planning target (closed contours or a mask), LPS mm.
    gantry_angles_deg : sequence of float
        One beam per gantry angle (IEC 61217, degrees).
    energy : str
        Beam energy label, e.g. ``"6X"``.
    prescription_gy : float
        Total prescribed dose, Gy.
    fractions : int
        Number of fractions.
    margin_mm : float
        Beam's-eye-view margin around the target's projection at the isocentre plane
        (covers the penumbra), mm.
    isocenter_mm : sequence of 3 float, optional
        Isocentre in LPS mm; the target's centroid by default.
    patient_position : PatientPosition or str
        Patient position of the CT.
    normalization : Normalization or str
        How the dose engine scales MU to the prescription: ``"mean"``, ``"d95"``,
        ``"isocenter"`` or ``"none"``.
    template : BeamTemplate, optional
        Collimator and couch angles, SAD and MLC leaves of every beam (default:
        ``BeamTemplate()``: angles 0, SAD 1000 mm, 60 pairs of 5 mm leaves).

    Returns
    -------
    Plan
        Beams named ``"G000"``, ``"G090"``... (``"G090T270"`` with a couch angle),
        numbered from 1, equal weights, MU not set (the dose engine computes them).

    Raises
    ------
    PlanError
        If no gantry angle is given, the target has no volume or its aperture is empty.

    Warns
    -----
    RtplanWarning
        If an aperture reaches beyond the MLC (the jaws then shape that part alone).

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.planning import conformal_plan
    >>> study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> plan = conformal_plan(study.structures["PTV"], gantry_angles_deg=[300, 60, 180],
    ...                       prescription_gy=50.0, fractions=25)
    >>> [b.name for b in plan.beams], plan.normalization
    (['G300', 'G060', 'G180'], <Normalization.MEAN: 'mean'>)
    >>> all(b.mu is None and b.mlc is not None for b in plan.beams)
    True
    """
    angles = [float(a) for a in gantry_angles_deg]
    if not angles:
        raise PlanError("a conformal plan needs at least one gantry angle")
    if not math.isfinite(margin_mm):
        raise PlanError(f"margin_mm must be finite, got {margin_mm}")
    setup = template if template is not None else BeamTemplate()
    position = PatientPosition(patient_position)
    iso = _isocenter(target, isocenter_mm)
    slabs = target_slabs(target)
    mlc_y = (setup.mlc.leaf_boundaries_mm[0], setup.mlc.leaf_boundaries_mm[-1])
    beams: list[Beam] = []
    used: set[str] = set()
    for number, gantry in enumerate(angles, start=1):
        name = _beam_name(gantry, setup.couch_deg, used)
        probe = Beam(
            energy=energy,
            gantry_deg=gantry,
            collimator_deg=setup.collimator_deg,
            couch_deg=setup.couch_deg,
            isocenter_mm=(iso[0], iso[1], iso[2]),
            sad_mm=setup.sad_mm,
            name=name,
            number=number,
        )
        region = silhouette(slabs, target.name, probe, margin_mm, position)
        minx, miny, maxx, maxy = region.bounds
        jaws = (float(minx), float(maxx), float(miny), float(maxy))
        if miny < mlc_y[0] or maxy > mlc_y[1]:
            warn(
                f"beam {name}: the aperture of {target.name!r} spans y {miny:.1f}..{maxy:.1f} mm, "
                f"beyond the MLC ({mlc_y[0]:.1f}..{mlc_y[1]:.1f} mm); the jaws alone shape the "
                "rest"
            )
        mlc, open_pairs = fit_mlc(region, setup.mlc, jaws)
        logger.debug(
            "beam %s: jaws %s, %d open leaf pairs", name, np.round(jaws, 2), len(open_pairs)
        )
        beams.append(probe.replace(jaws_mm=jaws, mlc=mlc, weight=1.0, mu=None))
    return Plan(
        beams=tuple(beams),
        prescription_gy=float(prescription_gy),
        fractions=int(fractions),
        normalization=normalization,
        target_name=target.name,
        target=target,
        name=f"3DCRT {target.name}"[:64],
        patient_position=position,
    )
