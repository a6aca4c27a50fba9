"""Physical data for photon dose calculation in water and tissues, with their sources.

Tables here are transcriptions of public-domain NIST reference data:

* Photon mass attenuation ``mu/rho`` and mass energy-absorption ``mu_en/rho`` coefficients
  of liquid water: J. H. Hubbell and S. M. Seltzer, *Tables of X-Ray Mass Attenuation
  Coefficients and Mass Energy-Absorption Coefficients*, NISTIR 5632 (1995), NIST Standard
  Reference Database 126 (the same values XCOM gives for "Water, Liquid"; ``mu/rho``
  includes coherent scattering).
* Electron collision and radiative stopping powers and CSDA ranges: M. J. Berger,
  J. S. Coursey, M. A. Zucker and J. Chang, *ESTAR: stopping-power and range tables for
  electrons*, NIST Standard Reference Database 124 (materials "Water, Liquid", "Bone,
  Cortical (ICRP)" and "Tissue, Soft (ICRP)"; the latter stands for skeletal muscle, whose
  composition differs from it by less than 0.5 % in collision stopping power above 100 keV).
* Partial cross sections of water below 1 MeV (coherent, incoherent, photoelectric):
  M. J. Berger, J. H. Hubbell, S. M. Seltzer et al., *XCOM: Photon Cross Sections
  Database*, NIST Standard Reference Database 8 (XGAM).
* Klein-Nishina cross section for free electrons: O. Klein and Y. Nishina, Z. Phys. 52
  (1929) 853; the electron density of water, ``N_A Z/A = 3.3428e23 e/g``.

Everything is in MeV, cm and g (``cm2/g``, ``MeV cm2/g``, ``g/cm2``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "ELECTRON_MASS_MEV",
    "ESTAR_BONE_CORTICAL_ICRP",
    "ESTAR_SOFT_TISSUE_ICRP",
    "ESTAR_WATER",
    "NIST_WATER",
    "WATER_ELECTRONS_PER_GRAM",
    "XCOM_WATER_PARTIALS",
    "klein_nishina_per_electron_cm2",
    "loglog_interp",
    "mu_en_rho_water",
    "mu_rho_water",
    "mu_rho_water_without_coherent",
    "photon_partials_water",
]

FloatArray = npt.NDArray[np.float64]

ELECTRON_MASS_MEV = 0.51099895
"""Electron rest energy, MeV (CODATA 2018)."""

CLASSICAL_ELECTRON_RADIUS_CM = 2.8179403262e-13
"""Classical electron radius, cm (CODATA 2018)."""

WATER_ELECTRONS_PER_GRAM = 6.02214076e23 * 10.0 / 18.01528
"""Electrons per gram of water, ``N_A * Z / A`` (H2O: Z = 10, A = 18.015 g/mol)."""

# Hubbell & Seltzer (NISTIR 5632), Water, Liquid: energy (MeV), mu/rho, mu_en/rho (cm2/g)
NIST_WATER: FloatArray = np.array(
    [
        [1.0e-02, 5.329e00, 4.944e00],
        [1.5e-02, 1.673e00, 1.374e00],
        [2.0e-02, 8.096e-01, 5.503e-01],
        [3.0e-02, 3.756e-01, 1.557e-01],
        [4.0e-02, 2.683e-01, 6.947e-02],
        [5.0e-02, 2.269e-01, 4.223e-02],
        [6.0e-02, 2.059e-01, 3.190e-02],
        [8.0e-02, 1.837e-01, 2.597e-02],
        [1.0e-01, 1.707e-01, 2.546e-02],
        [1.5e-01, 1.505e-01, 2.764e-02],
        [2.0e-01, 1.370e-01, 2.967e-02],
        [3.0e-01, 1.186e-01, 3.192e-02],
        [4.0e-01, 1.061e-01, 3.279e-02],
        [5.0e-01, 9.687e-02, 3.299e-02],
        [6.0e-01, 8.956e-02, 3.284e-02],
        [8.0e-01, 7.865e-02, 3.206e-02],
        [1.0e00, 7.072e-02, 3.103e-02],
        [1.25e00, 6.323e-02, 2.965e-02],
        [1.5e00, 5.754e-02, 2.833e-02],
        [2.0e00, 4.942e-02, 2.608e-02],
        [3.0e00, 3.969e-02, 2.281e-02],
        [4.0e00, 3.403e-02, 2.066e-02],
        [5.0e00, 3.031e-02, 1.915e-02],
        [6.0e00, 2.770e-02, 1.806e-02],
        [8.0e00, 2.429e-02, 1.658e-02],
        [1.0e01, 2.219e-02, 1.566e-02],
        [1.5e01, 1.941e-02, 1.441e-02],
        [2.0e01, 1.813e-02, 1.382e-02],
    ]
)

# XCOM, Water, Liquid: energy (MeV), coherent, incoherent, photoelectric (cm2/g)
XCOM_WATER_PARTIALS: FloatArray = np.array(
    [
        [5.0e-02, 1.936e-02, 1.803e-01, 2.725e-02],
        [6.0e-02, 1.392e-02, 1.770e-01, 1.493e-02],
        [8.0e-02, 8.165e-03, 1.697e-01, 5.770e-03],
        [1.0e-01, 5.349e-03, 1.626e-01, 2.763e-03],
        [1.5e-01, 2.442e-03, 1.474e-01, 7.308e-04],
        [2.0e-01, 1.388e-03, 1.353e-01, 2.887e-04],
        [3.0e-01, 6.215e-04, 1.179e-01, 8.160e-05],
        [4.0e-01, 3.506e-04, 1.058e-01, 3.493e-05],
        [5.0e-01, 2.247e-04, 9.663e-02, 1.883e-05],
        [6.0e-01, 1.561e-04, 8.939e-02, 1.173e-05],
        [8.0e-01, 8.790e-05, 7.856e-02, 5.920e-06],
        [1.0e00, 5.627e-05, 7.066e-02, 3.681e-06],
    ]
)

# ESTAR, Water, Liquid: kinetic energy (MeV), collision and radiative stopping power
# (MeV cm2/g), CSDA range (g/cm2)
ESTAR_WATER: FloatArray = np.array(
    [
        [1.000e-02, 2.256e01, 3.898e-03, 2.515e-04],
        [1.250e-02, 1.897e01, 3.927e-03, 3.728e-04],
        [1.500e-02, 1.647e01, 3.944e-03, 5.147e-04],
        [1.750e-02, 1.461e01, 3.955e-03, 6.762e-04],
        [2.000e-02, 1.317e01, 3.963e-03, 8.566e-04],
        [2.500e-02, 1.109e01, 3.974e-03, 1.272e-03],
        [3.000e-02, 9.653e00, 3.984e-03, 1.756e-03],
        [3.500e-02, 8.592e00, 3.994e-03, 2.306e-03],
        [4.000e-02, 7.777e00, 4.005e-03, 2.919e-03],
        [4.500e-02, 7.130e00, 4.018e-03, 3.591e-03],
        [5.000e-02, 6.603e00, 4.031e-03, 4.320e-03],
        [5.500e-02, 6.166e00, 4.046e-03, 5.103e-03],
        [6.000e-02, 5.797e00, 4.062e-03, 5.940e-03],
        [7.000e-02, 5.207e00, 4.098e-03, 7.762e-03],
        [8.000e-02, 4.757e00, 4.138e-03, 9.773e-03],
        [9.000e-02, 4.402e00, 4.181e-03, 1.196e-02],
        [1.000e-01, 4.115e00, 4.228e-03, 1.431e-02],
        [1.250e-01, 3.591e00, 4.355e-03, 2.083e-02],
        [1.500e-01, 3.238e00, 4.494e-03, 2.817e-02],
        [1.750e-01, 2.984e00, 4.643e-03, 3.622e-02],
        [2.000e-01, 2.793e00, 4.801e-03, 4.488e-02],
        [2.500e-01, 2.528e00, 5.141e-03, 6.372e-02],
        [3.000e-01, 2.355e00, 5.514e-03, 8.421e-02],
        [3.500e-01, 2.235e00, 5.914e-03, 1.060e-01],
        [4.000e-01, 2.148e00, 6.339e-03, 1.288e-01],
        [4.500e-01, 2.083e00, 6.787e-03, 1.523e-01],
        [5.000e-01, 2.034e00, 7.257e-03, 1.766e-01],
        [5.500e-01, 1.995e00, 7.747e-03, 2.013e-01],
        [6.000e-01, 1.963e00, 8.254e-03, 2.265e-01],
        [7.000e-01, 1.917e00, 9.313e-03, 2.778e-01],
        [8.000e-01, 1.886e00, 1.042e-02, 3.302e-01],
        [9.000e-01, 1.864e00, 1.159e-02, 3.832e-01],
        [1.000e00, 1.849e00, 1.280e-02, 4.367e-01],
        [1.250e00, 1.829e00, 1.600e-02, 5.717e-01],
        [1.500e00, 1.822e00, 1.942e-02, 7.075e-01],
        [1.750e00, 1.821e00, 2.303e-02, 8.432e-01],
        [2.000e00, 1.824e00, 2.678e-02, 9.785e-01],
        [2.500e00, 1.834e00, 3.468e-02, 1.247e00],
        [3.000e00, 1.846e00, 4.299e-02, 1.514e00],
        [3.500e00, 1.858e00, 5.164e-02, 1.777e00],
        [4.000e00, 1.870e00, 6.058e-02, 2.037e00],
        [4.500e00, 1.882e00, 6.976e-02, 2.295e00],
        [5.000e00, 1.892e00, 7.917e-02, 2.550e00],
        [5.500e00, 1.902e00, 8.876e-02, 2.802e00],
        [6.000e00, 1.911e00, 9.854e-02, 3.052e00],
        [7.000e00, 1.928e00, 1.185e-01, 3.545e00],
        [8.000e00, 1.943e00, 1.391e-01, 4.030e00],
        [9.000e00, 1.956e00, 1.601e-01, 4.506e00],
        [1.000e01, 1.968e00, 1.814e-01, 4.975e00],
        [1.250e01, 1.993e00, 2.362e-01, 6.117e00],
        [1.500e01, 2.014e00, 2.926e-01, 7.219e00],
        [2.000e01, 2.046e00, 4.086e-01, 9.320e00],
    ]
)

# ESTAR, Bone, Cortical (ICRP), density 1.85 g/cm3: kinetic energy (MeV), collision
# stopping power (MeV cm2/g)
ESTAR_BONE_CORTICAL_ICRP: FloatArray = np.array(
    [
        [1.000e-02, 1.972e01],
        [1.500e-02, 1.447e01],
        [2.000e-02, 1.162e01],
        [3.000e-02, 8.546e00],
        [4.000e-02, 6.904e00],
        [5.000e-02, 5.873e00],
        [6.000e-02, 5.163e00],
        [8.000e-02, 4.246e00],
        [1.000e-01, 3.679e00],
        [1.500e-01, 2.901e00],
        [2.000e-01, 2.507e00],
        [3.000e-01, 2.119e00],
        [4.000e-01, 1.932e00],
        [5.000e-01, 1.825e00],
        [6.000e-01, 1.760e00],
        [8.000e-01, 1.690e00],
        [1.000e00, 1.659e00],
        [1.500e00, 1.638e00],
        [2.000e00, 1.643e00],
        [3.000e00, 1.670e00],
        [4.000e00, 1.697e00],
        [5.000e00, 1.720e00],
        [6.000e00, 1.740e00],
        [8.000e00, 1.773e00],
        [1.000e01, 1.799e00],
        [1.500e01, 1.844e00],
        [2.000e01, 1.874e00],
    ]
)

# ESTAR, Tissue, Soft (ICRP), density 1.03 g/cm3: kinetic energy (MeV), collision
# stopping power (MeV cm2/g)
ESTAR_SOFT_TISSUE_ICRP: FloatArray = np.array(
    [
        [1.000e-02, 2.257e01],
        [1.500e-02, 1.646e01],
        [2.000e-02, 1.317e01],
        [3.000e-02, 9.643e00],
        [4.000e-02, 7.767e00],
        [5.000e-02, 6.593e00],
        [6.000e-02, 5.787e00],
        [8.000e-02, 4.749e00],
        [1.000e-01, 4.107e00],
        [1.500e-01, 3.230e00],
        [2.000e-01, 2.786e00],
        [3.000e-01, 2.349e00],
        [4.000e-01, 2.142e00],
        [5.000e-01, 2.027e00],
        [6.000e-01, 1.955e00],
        [8.000e-01, 1.876e00],
        [1.000e00, 1.839e00],
        [1.500e00, 1.810e00],
        [2.000e00, 1.812e00],
        [3.000e00, 1.835e00],
        [4.000e00, 1.859e00],
        [5.000e00, 1.881e00],
        [6.000e00, 1.901e00],
        [8.000e00, 1.932e00],
        [1.000e01, 1.958e00],
        [1.500e01, 2.003e00],
        [2.000e01, 2.035e00],
    ]
)


def loglog_interp(x: npt.ArrayLike, xp: FloatArray, fp: FloatArray) -> FloatArray:
    """Interpolate a positive table linearly in log-log space (clamped at the ends).

    Parameters
    ----------
    x : array_like
        Abscissae (e.g. energies, MeV); must be positive.
    xp, fp : numpy.ndarray, shape (n,)
        Increasing positive table abscissae and positive values.

    Returns
    -------
    numpy.ndarray
        Interpolated values, same shape as ``x``.
    """
    xa = np.asarray(x, dtype=np.float64)
    return np.exp(np.interp(np.log(xa), np.log(xp), np.log(fp)))


def mu_rho_water(energy_mev: npt.ArrayLike) -> FloatArray:
    """Mass attenuation coefficient of water, cm2/g (Hubbell & Seltzer, NISTIR 5632).

    Parameters
    ----------
    energy_mev : array_like
        Photon energies, MeV, between 0.01 and 20.

    Returns
    -------
    numpy.ndarray
        ``mu/rho`` in cm2/g.
    """
    return loglog_interp(energy_mev, NIST_WATER[:, 0], NIST_WATER[:, 1])


def mu_en_rho_water(energy_mev: npt.ArrayLike) -> FloatArray:
    """Mass energy-absorption coefficient of water, cm2/g (Hubbell & Seltzer, NISTIR 5632).

    Parameters
    ----------
    energy_mev : array_like
        Photon energies, MeV, between 0.01 and 20.

    Returns
    -------
    numpy.ndarray
        ``mu_en/rho`` in cm2/g.
    """
    return loglog_interp(energy_mev, NIST_WATER[:, 0], NIST_WATER[:, 2])


def mu_rho_water_without_coherent(energy_mev: npt.ArrayLike) -> FloatArray:
    """Mass attenuation coefficient of water without coherent scattering, cm2/g.

    Coherent (Rayleigh) scattering neither deposits energy nor deflects MV photons
    appreciably; the kernels and TERMA of rtplan leave it out. Above 1 MeV its share is
    extrapolated as ``E^-2`` from the XCOM value at 1 MeV.

    Parameters
    ----------
    energy_mev : array_like
        Photon energies, MeV, between 0.01 and 20.

    Returns
    -------
    numpy.ndarray
        ``mu/rho`` without coherent scattering, cm2/g.
    """
    e = np.asarray(energy_mev, dtype=np.float64)
    return mu_rho_water(e) - _coherent(e)


def _coherent(e: FloatArray) -> FloatArray:
    t = XCOM_WATER_PARTIALS
    inside = loglog_interp(np.clip(e, t[0, 0], t[-1, 0]), t[:, 0], t[:, 1])
    high = t[-1, 1] * (np.maximum(e, t[-1, 0]) / t[-1, 0]) ** -2
    low = t[0, 1] * (np.minimum(e, t[0, 0]) / t[0, 0]) ** -1.5
    return np.asarray(np.where(e > t[-1, 0], high, np.where(e < t[0, 0], low, inside)))


def photon_partials_water(energy_mev: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Incoherent and photoelectric mass attenuation coefficients of water, cm2/g.

    XCOM values up to 1 MeV; above, incoherent is the Klein-Nishina value (binding
    corrections are below 0.1 %) and photoelectric absorption is extrapolated as ``E^-3``.
    Below 50 keV every non-coherent interaction is counted as photoelectric absorption.

    Parameters
    ----------
    energy_mev : array_like
        Photon energies, MeV.

    Returns
    -------
    incoherent, photoelectric : numpy.ndarray
        cm2/g.
    """
    e = np.asarray(energy_mev, dtype=np.float64)
    t = XCOM_WATER_PARTIALS
    ec = np.clip(e, t[0, 0], t[-1, 0])
    inc = loglog_interp(ec, t[:, 0], t[:, 2])
    pe = loglog_interp(ec, t[:, 0], t[:, 3])
    kn = klein_nishina_per_electron_cm2(np.maximum(e, 1e-3)) * WATER_ELECTRONS_PER_GRAM
    inc = np.where(e > t[-1, 0], kn, inc)
    pe = np.where(e > t[-1, 0], t[-1, 3] * (np.maximum(e, 1.0) / t[-1, 0]) ** -3, pe)
    low = e < t[0, 0]
    rest = mu_rho_water(np.clip(e, NIST_WATER[0, 0], None)) - _coherent(e)
    inc = np.where(low, 0.0, inc)
    pe = np.where(low, rest, pe)
    return np.asarray(inc), np.asarray(pe)


def klein_nishina_per_electron_cm2(energy_mev: npt.ArrayLike) -> FloatArray:
    """Total Klein-Nishina cross section per free electron, cm2.

    Parameters
    ----------
    energy_mev : array_like
        Photon energies, MeV.

    Returns
    -------
    numpy.ndarray
        ``sigma_KN`` in cm2 per electron (Klein & Nishina 1929).
    """
    k = np.asarray(energy_mev, dtype=np.float64) / ELECTRON_MASS_MEV
    a = 1.0 + 2.0 * k
    term1 = (1.0 + k) / k**2 * (2.0 * (1.0 + k) / a - np.log(a) / k)
    term2 = np.log(a) / (2.0 * k) - (1.0 + 3.0 * k) / a**2
    return np.asarray(2.0 * np.pi * CLASSICAL_ELECTRON_RADIUS_CM**2 * (term1 + term2))
