"""Dose to medium and dose to water: stopping-power ratios for bone and muscle.

The engines of rtplan transport energy through a water-equivalent medium scaled by the
electron density, which yields the dose that a small water cavity would receive at each
point (``D_w``). The dose they report is the dose to the local *medium* (``D_m``), related
by Bragg-Gray cavity theory (J. V. Siebers, P. J. Keall, A. E. Nahum and R. Mohan,
"Converting absorbed dose to medium to absorbed dose to water for Monte Carlo based photon
beam dose calculations", Phys. Med. Biol. 45 (2000) 983-995)::

    D_w = D_m * s_w,m,   s_w,m = int Phi_T (S/rho)_w dT / int Phi_T (S/rho)_m dT

with ``Phi_T`` the electron fluence spectrum in the beam (here the equilibrium track-length
spectrum of the machine's Monte Carlo kernel generator) and ``S/rho`` the unrestricted
collision stopping powers of ESTAR (NIST SRD 124) for water, "Tissue, Soft (ICRP)" (muscle
and other soft tissue, lung and fat) and "Bone, Cortical (ICRP)". Siebers et al. find
``D_w`` about 1 % above ``D_m`` in soft tissue and over 10 % above it in cortical bone for
6 MV, which is what these ratios give (about 1.01 and 1.11).

Voxels between soft tissue (1.03 g/cm³) and cortical bone (1.85 g/cm³) are treated as a
mixture of the two whose volume fractions reproduce their density (Bragg additivity of
mass stopping powers). Density images given in g/cm³ are of water composition: ``s = 1``.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from rtplan.dose._physics import (
    ESTAR_BONE_CORTICAL_ICRP,
    ESTAR_SOFT_TISSUE_ICRP,
    ESTAR_WATER,
    loglog_interp,
)
from rtplan.dose.machines._model import BeamModel, load_machine
from rtplan.errors import DoseEngineError
from rtplan.image import Dose, DoseMedium, Image

__all__ = [
    "CORTICAL_BONE_DENSITY",
    "SOFT_TISSUE_DENSITY",
    "dose_to_medium",
    "dose_to_water",
    "is_density_image",
    "stopping_power_ratios",
    "water_to_medium_ratio",
]

FloatArray = npt.NDArray[np.float64]

SOFT_TISSUE_DENSITY = 1.03
"""Density of ICRP soft tissue, g/cm³ (ESTAR)."""

CORTICAL_BONE_DENSITY = 1.85
"""Density of ICRP cortical bone, g/cm³ (ESTAR)."""


@functools.lru_cache(maxsize=8)
def _ratios(machine_name: str) -> tuple[float, float]:
    from rtplan.dose._deposition import electron_track_spectrum

    edges, track = electron_track_spectrum(load_machine(machine_name))
    t = np.sqrt(edges[1:] * edges[:-1])
    s_w = loglog_interp(t, ESTAR_WATER[:, 0], ESTAR_WATER[:, 1])
    s_soft = loglog_interp(t, ESTAR_SOFT_TISSUE_ICRP[:, 0], ESTAR_SOFT_TISSUE_ICRP[:, 1])
    s_bone = loglog_interp(t, ESTAR_BONE_CORTICAL_ICRP[:, 0], ESTAR_BONE_CORTICAL_ICRP[:, 1])
    w = float(np.sum(track * s_w))
    return w / float(np.sum(track * s_soft)), w / float(np.sum(track * s_bone))


def stopping_power_ratios(energy: str | BeamModel = "6X") -> dict[str, float]:
    """Water-to-medium stopping-power ratios ``s_w,m`` of a beam (Bragg-Gray, Siebers 2000).

    Parameters
    ----------
    energy : str or BeamModel
        Machine name (e.g. ``"6X"``) or beam model.

    Returns
    -------
    dict
        ``{"water": 1.0, "muscle": s, "soft_tissue": s, "cortical_bone": s}``; muscle uses
        the ESTAR "Tissue, Soft (ICRP)" composition.

    Examples
    --------
    >>> r = stopping_power_ratios("6X")
    >>> 1.0 < r["muscle"] < 1.03 and 1.08 < r["cortical_bone"] < 1.14
    True
    """
    name = energy.name if isinstance(energy, BeamModel) else str(energy).strip().upper()
    soft, bone = _ratios(name)
    return {"water": 1.0, "muscle": soft, "soft_tissue": soft, "cortical_bone": bone}


def water_to_medium_ratio(
    density_g_cm3: npt.ArrayLike, energy: str | BeamModel = "6X"
) -> FloatArray:
    """Per-voxel ``s_w,m`` for tissue of the given mass density.

    Parameters
    ----------
    density_g_cm3 : array_like
        Mass densities (any shape).
    energy : str or BeamModel
        Beam model.

    Returns
    -------
    numpy.ndarray
        Same shape as the input: the soft-tissue ratio up to 1.03 g/cm³ (lung, fat,
        muscle), the cortical-bone ratio from 1.85 g/cm³, mixtures in between.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.dose import stopping_power_ratios, water_to_medium_ratio
    >>> r = stopping_power_ratios("6X")
    >>> s = water_to_medium_ratio([0.3, 1.03, 1.4, 1.85, 2.0])
    >>> np.allclose(s[[0, 1]], r["soft_tissue"]), np.allclose(s[[3, 4]], r["cortical_bone"])
    (True, True)
    >>> bool(r["soft_tissue"] < s[2] < r["cortical_bone"])
    True
    """
    r = stopping_power_ratios(energy)
    rho = np.asarray(density_g_cm3, dtype=np.float64)
    v = np.clip(
        (rho - SOFT_TISSUE_DENSITY) / (CORTICAL_BONE_DENSITY - SOFT_TISSUE_DENSITY), 0.0, 1.0
    )
    mix = SOFT_TISSUE_DENSITY * (1.0 - v) + CORTICAL_BONE_DENSITY * v
    w_bone = CORTICAL_BONE_DENSITY * v / mix
    inv = (1.0 - w_bone) / r["soft_tissue"] + w_bone / r["cortical_bone"]
    return np.asarray(1.0 / inv)


def is_density_image(ct: Image) -> bool:
    """True for a mass-density image (units g/cm3, water composition) rather than a CT in HU.

    Examples
    --------
    >>> import numpy as np, rtplan
    >>> from rtplan.dose._conversion import is_density_image
    >>> g = rtplan.Grid(shape=(1, 1, 1), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    >>> is_density_image(rtplan.Image(array=np.ones((1, 1, 1)), grid=g, units="g/cm3"))
    True
    """
    return ct.units.strip().lower() in ("g/cm3", "g/cm^3", "g cm-3")


def _ratio_for(dose: Dose, ct: Image, energy: str) -> FloatArray:
    units = ct.units.strip().lower()
    if is_density_image(ct):
        return np.ones(dose.grid.shape)
    if units not in ("hu", ""):
        raise DoseEngineError(
            f"image {ct.name!r} has units {ct.units!r}; pass the CT (HU) the dose was computed on"
        )
    from rtplan import tissue

    rho = tissue.density(ct).resample(dose.grid, order=1, fill_value=0.0).array
    return water_to_medium_ratio(rho, energy)


def dose_to_water(dose: Dose, ct: Image, *, energy: str = "6X") -> Dose:
    """Convert a dose to medium into dose to water (``D_w = D_m s_w,m``).

    Parameters
    ----------
    dose : Dose
        Dose to medium, as :func:`rtplan.compute_dose` returns it.
    ct : Image
        The CT in HU (or density image) the dose was computed on.
    energy : str
        Beam model whose electron spectrum weights the stopping powers.

    Returns
    -------
    Dose
        With ``medium=DoseMedium.WATER``.

    Raises
    ------
    DoseEngineError
        If the dose is already dose to water.

    Examples
    --------
    >>> import numpy as np, rtplan
    >>> from rtplan.dose import dose_to_water, stopping_power_ratios
    >>> g = rtplan.Grid(shape=(1, 1, 2), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0.0, 0.0, 0.0))
    >>> ct = rtplan.Image(array=np.array([[[0.0, 1800.0]]]), grid=g, units="HU")  # water, bone
    >>> dw = dose_to_water(rtplan.Dose(array=np.full(g.shape, 2.0), grid=g), ct)
    >>> s_muscle = stopping_power_ratios()["muscle"]
    >>> dw.medium.value, bool(np.isclose(dw.array[0, 0, 0], 2.0 * s_muscle))
    ('water', True)
    >>> bool(dw.array[0, 0, 1] > dw.array[0, 0, 0])  # more in cortical bone
    True
    """
    if dose.medium is DoseMedium.WATER:
        raise DoseEngineError("this dose is already dose to water")
    ratio = _ratio_for(dose, ct, energy)
    return dose.with_array(
        np.asarray(dose.array, dtype=np.float64) * ratio, medium=DoseMedium.WATER
    )


def dose_to_medium(dose: Dose, ct: Image, *, energy: str = "6X") -> Dose:
    """Convert a dose to water into dose to medium (``D_m = D_w / s_w,m``).

    Parameters
    ----------
    dose : Dose
        Dose to water.
    ct : Image
        The CT in HU (or density image) the dose was computed on.
    energy : str
        Beam model.

    Returns
    -------
    Dose
        With ``medium=DoseMedium.MEDIUM``.

    Raises
    ------
    DoseEngineError
        If the dose is already dose to medium.

    Examples
    --------
    >>> import numpy as np, rtplan
    >>> from rtplan.dose import dose_to_medium, dose_to_water
    >>> from rtplan.image import DoseMedium
    >>> g = rtplan.Grid(shape=(1, 1, 2), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0.0, 0.0, 0.0))
    >>> ct = rtplan.Image(array=np.array([[[0.0, 1800.0]]]), grid=g, units="HU")
    >>> dm = rtplan.Dose(array=np.full(g.shape, 2.0), grid=g, medium=DoseMedium.MEDIUM)
    >>> back = dose_to_medium(dose_to_water(dm, ct), ct)
    >>> back.medium.value, bool(np.allclose(back.array, 2.0))
    ('medium', True)
    """
    if dose.medium is DoseMedium.MEDIUM:
        raise DoseEngineError("this dose is already dose to medium")
    ratio = _ratio_for(dose, ct, energy)
    return dose.with_array(
        np.asarray(dose.array, dtype=np.float64) / ratio, medium=DoseMedium.MEDIUM
    )
