"""Voxel materials from rtplan's tissue model (Schneider, Bortfeld & Schlegel 2000).

rtplan turns CT numbers into mass density with :data:`rtplan.tissue.SCHNEIDER_2000` and
its engines see, per dose voxel, the mass density and the electron density
(:class:`rtplan.dose.DoseSetup`). The Monte Carlo needs an elemental composition as well:
each voxel's CT number is recovered by inverting the calibration curve (where two CT
numbers give the same density, the one whose electron-to-mass ratio ``Z/A`` matches the
voxel's ``electron density / density`` is taken) and the composition is that of the
Schneider tissue bin of that CT number. Voxels are then grouped into a bounded number of
Geant4 materials: one per (tissue bin, density bin), the density bins being logarithmic
with a relative width that doubles until the count fits; each material has the mean
density of its voxels, and that density is also the one used for the voxel's mass.

Density images (``DoseSetup.water_composition``) are water of the given density (the
Geant4 NIST water, mean excitation energy 78 eV), as in rtplan's own engines.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan_geant4._job import MaterialSpec

__all__ = [
    "VoxelMaterials",
    "hu_from_density",
    "schneider_compositions",
    "tissue_material",
    "voxel_materials",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Smallest density given to a voxel, g/cm³ (empty voxels become this thin air).
MIN_DENSITY_G_CM3 = 1e-4


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SchneiderTable:
    """Elemental compositions of the Schneider 2000 tissue bins.

    Attributes
    ----------
    lower_hu : numpy.ndarray, shape (n,)
        Lower CT-number bound of each bin, HU (increasing).
    symbols : tuple of str
        Element symbols (columns of ``mass_fraction``).
    mass_fraction : numpy.ndarray, shape (n, n_elements)
        Mass fraction of each element in each bin (rows sum to 1).
    """

    lower_hu: FloatArray
    symbols: tuple[str, ...]
    mass_fraction: FloatArray


def _find_private_table() -> tuple[Any, Any]:
    """The composition table of rtplan's tissue model (module attributes, not public API).

    Searched in ``rtplan.tissue`` and, if it is a package, its submodules.
    """
    tissue = importlib.import_module("rtplan.tissue")
    modules = [tissue]
    if hasattr(tissue, "__path__"):
        for info in pkgutil.iter_modules(tissue.__path__, "rtplan.tissue."):
            modules.append(importlib.import_module(info.name))
    for mod in modules:
        comp = getattr(mod, "_SCHNEIDER_COMPOSITION", None)
        elements = getattr(mod, "_ELEMENTS", None)
        if comp is not None and elements is not None:
            return comp, elements
    raise ImportError(
        "rtplan.tissue holds no Schneider composition table; this rtplan version is not "
        "supported by rtplan-geant4"
    )


def schneider_compositions() -> SchneiderTable:
    """The tissue compositions rtplan uses (Schneider et al. 2000, as distributed with GATE).

    Uses ``rtplan.tissue.schneider_compositions()`` when rtplan provides it, otherwise
    rtplan's internal table.

    Returns
    -------
    SchneiderTable
    """
    from rtplan import tissue

    public = getattr(tissue, "schneider_compositions", None)
    if callable(public):
        table: SchneiderTable = public()
        return table
    comp, elements = _find_private_table()
    lower = np.array([float(b) for b, _ in comp])
    frac = np.array([[float(v) for v in w] for _, w in comp])
    frac /= frac.sum(axis=1, keepdims=True)
    return SchneiderTable(
        lower_hu=lower, symbols=tuple(str(e[0]) for e in elements), mass_fraction=frac
    )


def hu_from_density(density_g_cm3: npt.ArrayLike, electron_density: npt.ArrayLike) -> FloatArray:
    """Invert rtplan's default HU -> density calibration.

    Parameters
    ----------
    density_g_cm3 : array_like
        Mass density, g/cm³.
    electron_density : array_like, same shape
        Electron density relative to water (selects between the CT numbers of equal
        density by their ``Z/A``).

    Returns
    -------
    numpy.ndarray of float64, same shape
        CT number, HU, clipped to the curve's range.
    """
    from rtplan.tissue import SCHNEIDER_2000, schneider_z_over_a_ratio

    rho = np.asarray(density_g_cm3, dtype=np.float64)
    eta = np.asarray(electron_density, dtype=np.float64)
    hu_n = np.asarray(SCHNEIDER_2000.hu, dtype=np.float64)
    d_n = np.asarray(SCHNEIDER_2000.density_g_cm3, dtype=np.float64)
    flat_rho = rho.reshape(-1)
    ratio = np.divide(eta.reshape(-1), flat_rho, out=np.ones_like(flat_rho), where=flat_rho > 0)
    best = np.where(flat_rho <= d_n[0], hu_n[0], hu_n[-1])
    best_err = np.full(flat_rho.shape, np.inf)
    for h0, h1, d0, d1 in zip(hu_n[:-1], hu_n[1:], d_n[:-1], d_n[1:], strict=True):
        lo, hi = min(d0, d1), max(d0, d1)
        inside = (flat_rho >= lo) & (flat_rho <= hi)
        if d1 == d0 or not np.any(inside):
            continue
        h = h0 + (flat_rho[inside] - d0) / (d1 - d0) * (h1 - h0)
        err = np.abs(schneider_z_over_a_ratio(h) - ratio[inside])
        idx = np.nonzero(inside)[0]
        better = err < best_err[idx] - 1e-12
        best[idx[better]] = h[better]
        best_err[idx[better]] = err[better]
    return np.asarray(best.reshape(rho.shape))


def tissue_material(hu: float, name: str | None = None) -> MaterialSpec:
    """The material rtplan's tissue model gives a CT number.

    Parameters
    ----------
    hu : float
        CT number, HU.
    name : str, optional
        Material name (default ``"hu<value>"``).

    Returns
    -------
    MaterialSpec
        Density from :data:`rtplan.tissue.SCHNEIDER_2000`, composition of its Schneider
        tissue bin.

    Examples
    --------
    >>> m = tissue_material(1525.0)
    >>> round(m.density_g_cm3, 3), round(m.elements["Ca"], 3)
    (1.92, 0.225)
    """
    from rtplan.tissue import SCHNEIDER_2000

    table = schneider_compositions()
    t = int(
        np.clip(np.searchsorted(table.lower_hu, hu, side="right") - 1, 0, len(table.lower_hu) - 1)
    )
    return MaterialSpec(
        name=name or f"hu{hu:g}",
        density_g_cm3=float(SCHNEIDER_2000.density_at(float(hu))),
        elements=dict(zip(table.symbols, table.mass_fraction[t].tolist(), strict=True)),
    )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class VoxelMaterials:
    """Materials of a voxel phantom.

    Attributes
    ----------
    index : numpy.ndarray of uint16, shape of the phantom
        Material of each voxel.
    materials : tuple of MaterialSpec
    density_g_cm3 : numpy.ndarray, shape (n_materials,)
        Density of each material (also the density of its voxels for their mass).
    relative_bin_width : float
        Relative width of the density bins used.
    """

    index: npt.NDArray[np.uint16]
    materials: tuple[MaterialSpec, ...]
    density_g_cm3: FloatArray
    relative_bin_width: float

    @property
    def voxel_density_g_cm3(self) -> FloatArray:
        """Density of every voxel as simulated, g/cm³."""
        return np.asarray(self.density_g_cm3[self.index])


def voxel_materials(
    density_g_cm3: npt.ArrayLike,
    electron_density: npt.ArrayLike,
    *,
    water_composition: bool,
    max_materials: int = 200,
    relative_bin_width: float = 0.005,
) -> VoxelMaterials:
    """Group voxels into Geant4 materials by tissue composition and density.

    Parameters
    ----------
    density_g_cm3 : array_like
        Mass density of every voxel, g/cm³.
    electron_density : array_like, same shape
        Electron density relative to water.
    water_composition : bool
        True for a density image (every voxel is water of its density).
    max_materials : int
        Most materials created (at most 65535).
    relative_bin_width : float
        Starting relative width of the density bins; doubled until the materials fit.

    Returns
    -------
    VoxelMaterials
    """
    rho = np.maximum(np.asarray(density_g_cm3, dtype=np.float64), MIN_DENSITY_G_CM3)
    if water_composition:
        tissue = np.zeros(rho.shape, dtype=np.int64)
        table = None
    else:
        table = schneider_compositions()
        hu = hu_from_density(rho, electron_density)
        tissue = np.clip(
            np.searchsorted(table.lower_hu, hu, side="right") - 1, 0, table.lower_hu.size - 1
        )
    width = float(relative_bin_width)
    while True:
        dbin = np.floor(np.log(rho) / np.log1p(width)).astype(np.int64)
        key = tissue * 1_000_000 + (dbin - dbin.min())
        keys, inverse = np.unique(key.reshape(-1), return_inverse=True)
        if keys.size <= min(max_materials, 65535):
            break
        width *= 2.0
    mean_rho = np.bincount(inverse, weights=rho.reshape(-1)) / np.bincount(inverse)
    specs = []
    for m, k in enumerate(keys):
        t = int(k // 1_000_000)
        name = f"m{m}_t{t}"
        if table is None:
            specs.append(MaterialSpec(name=name, density_g_cm3=float(mean_rho[m]), nist="G4_WATER"))
        else:
            elements = dict(zip(table.symbols, table.mass_fraction[t].tolist(), strict=True))
            specs.append(
                MaterialSpec(name=name, density_g_cm3=float(mean_rho[m]), elements=elements)
            )
    logger.info(
        "%d materials (density bins of %.1f %%) for %d voxels", len(specs), 100 * width, rho.size
    )
    return VoxelMaterials(
        index=inverse.reshape(rho.shape).astype(np.uint16),
        materials=tuple(specs),
        density_g_cm3=np.asarray(mean_rho, dtype=np.float64),
        relative_bin_width=width,
    )
