"""The bone/muscle tissue model: HU calibration, tissue classes and automatic structures.

* :func:`density` and :func:`electron_density` map a CT in Hounsfield units to mass
  density (g/cm³) and to electron density relative to water through a
  :class:`CalibrationCurve` (piecewise linear in HU). The default,
  :data:`SCHNEIDER_2000`, is the stoichiometric calibration of Schneider, Bortfeld &
  Schlegel (2000); user curves come from a CSV file or Python sequences.
* :func:`classify` labels every voxel with a :class:`TissueClass` using the HU
  boundaries of a :class:`TissueThresholds` (documented defaults, user-overridable).
* :func:`auto_structures` segments the body outline, bone (cortical shell with its
  marrow) and muscle, as :class:`~rtplan.Structure` objects writable to RT-Struct
  (:func:`body_mask`, :func:`bone_mask` and :func:`muscle_mask` give the arrays, tuned
  by :class:`SegmentationParameters`).
* :func:`composition` gives the volume of each tissue class inside the body (cm³).

References
----------
.. [Schneider2000] W. Schneider, T. Bortfeld, W. Schlegel, "Correlation between CT numbers
   and tissue parameters needed for Monte Carlo simulations of clinical dose
   distributions", Phys. Med. Biol. 45 (2000) 459-478. The HU -> density nodes and the
   elemental compositions used here are those of its tables as distributed with the
   GATE Monte Carlo platform (``Schneider2000DensitiesTable.txt`` and
   ``Schneider2000MaterialsTable.txt``).
.. [Mitsiopoulos1998] N. Mitsiopoulos et al., "Cadaver validation of skeletal muscle
   measurement by magnetic resonance imaging and computerized tomography", J. Appl.
   Physiol. 85 (1998) 115-122: adipose tissue -190 to -30 HU, skeletal muscle -29 to
   +150 HU.
.. [Martin2013] L. Martin et al., "Cancer cachexia in the age of obesity: skeletal muscle
   depletion is a powerful prognostic factor, independent of body mass index", J. Clin.
   Oncol. 31 (2013) 1539-1547: mean muscle attenuation below 33 HU (BMI >= 25) is
   myosteatosis, the lower end of the muscle window used by :func:`muscle_mask`.
.. [Goodpaster2000] B. H. Goodpaster et al., "Skeletal muscle attenuation determined by
   computed tomography is associated with skeletal muscle lipid content", J. Appl.
   Physiol. 89 (2000) 104-110: normal-density muscle up to 100 HU.
.. [Misch1990] C. E. Misch, "Density of bone: effect on treatment plans, surgical approach,
   healing, and progressive bone loading", Int. J. Oral Implantol. 6 (1990) 23-31:
   trabecular bone from 150 HU, porous cortical bone from 850 HU.
"""

from __future__ import annotations

import csv
import enum
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.errors import RtplanError, RtplanWarning
from rtplan.grid import Grid
from rtplan.image import Image

if TYPE_CHECKING:
    from rtplan._segmentation import BoxMask
    from rtplan.structures import Structure

__all__ = [
    "SCHNEIDER_2000",
    "CalibrationCurve",
    "CalibrationError",
    "CalibrationRangeWarning",
    "MetalWarning",
    "SegmentationParameters",
    "TissueClass",
    "TissueThresholds",
    "auto_structures",
    "body_mask",
    "bone_mask",
    "classify",
    "composition",
    "density",
    "electron_density",
    "muscle_mask",
    "schneider_z_over_a_ratio",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


class CalibrationError(RtplanError, ValueError):
    """A calibration curve or its input is invalid (file, columns, values, CT units)."""


class CalibrationRangeWarning(RtplanWarning):
    """CT values outside a calibration curve's HU range were clipped to its ends."""


class MetalWarning(RtplanWarning):
    """The CT holds voxels in the metal range (implants, fixation, dental fillings)."""


# --------------------------------------------------------------------------- calibration
# Schneider et al. (2000) HU -> mass density, g/cm3 (GATE Schneider2000DensitiesTable.txt).
# The first node extends the air density of the -1000 HU node down to -1050 HU, the lower
# bound of the "Air" bin of the same paper's composition table, so that air voxels of
# ordinary CT (-1024 HU) are not reported as out of range.
_SCHNEIDER_HU = (-1050.0, -1000.0, -98.0, -97.0, 14.0, 23.0, 100.0, 101.0, 1600.0, 3000.0)
_SCHNEIDER_DENSITY = (
    0.00121,
    0.00121,
    0.93,
    0.930486,
    1.03,
    1.031,
    1.1199,
    1.0762,
    1.9642,
    2.8,
)

# Schneider et al. (2000) elemental mass fractions (percent) by HU bin (lower bound, HU),
# GATE Schneider2000MaterialsTable.txt. The dental-amalgam and titanium bins of that
# distribution (>= 1640 HU) are not used: bone composition is kept up to the metal range.
_ELEMENTS: tuple[tuple[str, int, float], ...] = (
    # symbol, Z, standard atomic weight (IUPAC)
    ("H", 1, 1.008),
    ("C", 6, 12.011),
    ("N", 7, 14.007),
    ("O", 8, 15.999),
    ("Na", 11, 22.990),
    ("Mg", 12, 24.305),
    ("P", 15, 30.974),
    ("S", 16, 32.06),
    ("Cl", 17, 35.45),
    ("Ar", 18, 39.948),
    ("K", 19, 39.098),
    ("Ca", 20, 40.078),
)
_SCHNEIDER_COMPOSITION: tuple[tuple[float, tuple[float, ...]], ...] = (
    #        H     C     N     O    Na   Mg    P    S   Cl   Ar    K    Ca
    (-1050, (0.0, 0.0, 75.5, 23.2, 0.0, 0.0, 0.0, 0.0, 0.0, 1.3, 0.0, 0.0)),  # air
    (-950, (10.3, 10.5, 3.1, 74.9, 0.2, 0.0, 0.2, 0.3, 0.3, 0.0, 0.2, 0.0)),  # lung
    (-120, (11.6, 68.1, 0.2, 19.8, 0.1, 0.0, 0.0, 0.1, 0.1, 0.0, 0.0, 0.0)),  # adipose 1
    (-82, (11.3, 56.7, 0.9, 30.8, 0.1, 0.0, 0.0, 0.1, 0.1, 0.0, 0.0, 0.0)),  # adipose 2
    (-52, (11.0, 45.8, 1.5, 41.1, 0.1, 0.0, 0.1, 0.2, 0.2, 0.0, 0.0, 0.0)),  # adipose 3
    (-22, (10.8, 35.6, 2.2, 50.9, 0.0, 0.0, 0.1, 0.2, 0.2, 0.0, 0.0, 0.0)),  # adipose 4
    (8, (10.6, 28.4, 2.6, 57.8, 0.0, 0.0, 0.1, 0.2, 0.2, 0.0, 0.1, 0.0)),  # adipose 5
    (19, (10.3, 13.4, 3.0, 72.3, 0.2, 0.0, 0.2, 0.2, 0.2, 0.0, 0.2, 0.0)),  # soft tissue
    (80, (9.4, 20.7, 6.2, 62.2, 0.6, 0.0, 0.0, 0.6, 0.3, 0.0, 0.0, 0.0)),  # connective
    (120, (9.5, 45.5, 2.5, 35.5, 0.1, 0.0, 2.1, 0.1, 0.1, 0.0, 0.1, 4.5)),  # marrow/bone 1
    (200, (8.9, 42.3, 2.7, 36.3, 0.1, 0.0, 3.0, 0.1, 0.1, 0.0, 0.1, 6.4)),
    (300, (8.2, 39.1, 2.9, 37.2, 0.1, 0.0, 3.9, 0.1, 0.1, 0.0, 0.1, 8.3)),
    (400, (7.6, 36.1, 3.0, 38.0, 0.1, 0.1, 4.7, 0.2, 0.1, 0.0, 0.0, 10.1)),
    (500, (7.1, 33.5, 3.2, 38.7, 0.1, 0.1, 5.4, 0.2, 0.0, 0.0, 0.0, 11.7)),
    (600, (6.6, 31.0, 3.3, 39.4, 0.1, 0.1, 6.1, 0.2, 0.0, 0.0, 0.0, 13.2)),
    (700, (6.1, 28.7, 3.5, 40.0, 0.1, 0.1, 6.7, 0.2, 0.0, 0.0, 0.0, 14.6)),
    (800, (5.6, 26.5, 3.6, 40.5, 0.1, 0.2, 7.3, 0.3, 0.0, 0.0, 0.0, 15.9)),
    (900, (5.2, 24.6, 3.7, 41.1, 0.1, 0.2, 7.8, 0.3, 0.0, 0.0, 0.0, 17.0)),
    (1000, (4.9, 22.7, 3.8, 41.6, 0.1, 0.2, 8.3, 0.3, 0.0, 0.0, 0.0, 18.1)),
    (1100, (4.5, 21.0, 3.9, 42.0, 0.1, 0.2, 8.8, 0.3, 0.0, 0.0, 0.0, 19.2)),
    (1200, (4.2, 19.4, 4.0, 42.5, 0.1, 0.2, 9.2, 0.3, 0.0, 0.0, 0.0, 20.1)),
    (1300, (3.9, 17.9, 4.1, 42.9, 0.1, 0.2, 9.6, 0.3, 0.0, 0.0, 0.0, 21.0)),
    (1400, (3.6, 16.5, 4.2, 43.2, 0.1, 0.2, 10.0, 0.3, 0.0, 0.0, 0.0, 21.9)),
    (1500, (3.4, 15.5, 4.2, 43.5, 0.1, 0.2, 10.3, 0.3, 0.0, 0.0, 0.0, 22.5)),  # bone 15
)


def _z_over_a(mass_percent: Sequence[float]) -> float:
    """Electrons per unit mass (mol e / g) of a mixture given its elemental mass percents."""
    w = np.asarray(mass_percent, dtype=np.float64)
    z = np.array([e[1] for e in _ELEMENTS], dtype=np.float64)
    a = np.array([e[2] for e in _ELEMENTS], dtype=np.float64)
    return float(np.sum(w / w.sum() * z / a))


#: Electrons per gram of water relative to Avogadro's number (Z/A of H2O), mol/g.
WATER_Z_OVER_A = (2 * 1 + 8) / (2 * 1.008 + 15.999)


@functools.cache
def _schneider_za_table() -> tuple[FloatArray, FloatArray]:
    """Lower HU bound of each composition bin and its Z/A relative to water."""
    bounds = np.array([b for b, _ in _SCHNEIDER_COMPOSITION], dtype=np.float64)
    ratio = np.array([_z_over_a(w) / WATER_Z_OVER_A for _, w in _SCHNEIDER_COMPOSITION])
    return bounds, ratio


def schneider_z_over_a_ratio(hu: npt.ArrayLike) -> FloatArray:
    """Electron-to-mass ratio ``(Z/A) / (Z/A)_water`` of tissue at the given HU.

    Uses the elemental compositions of [Schneider2000]_ (stepwise by HU bin), so that
    ``relative electron density = density / (1 g/cm³) * ratio``.

    Parameters
    ----------
    hu : array_like
        CT numbers, HU.

    Returns
    -------
    numpy.ndarray of float64, same shape
    """
    bounds, ratio = _schneider_za_table()
    h = np.asarray(hu, dtype=np.float64)
    idx = np.clip(np.searchsorted(bounds, h, side="right") - 1, 0, bounds.size - 1)
    return np.asarray(ratio[idx], dtype=np.float64)


def _tuple(values: npt.ArrayLike, what: str) -> tuple[float, ...]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"calibration curve {what} must be finite numbers")
    return tuple(float(v) for v in arr)


@dataclass(frozen=True, kw_only=True, slots=True)
class CalibrationCurve:
    """A piecewise-linear HU -> density (and relative electron density) calibration.

    Parameters
    ----------
    hu : sequence of float
        CT numbers of the nodes, HU, strictly increasing, at least 2.
    density_g_cm3 : sequence of float
        Mass density at each node, g/cm³, >= 0.
    electron_density : sequence of float, optional
        Electron density relative to water at each node. When omitted it is derived from
        the mass density with the tissue compositions of [Schneider2000]_:
        ``rho_e = rho / (1 g/cm³) * (Z/A)(HU) / (Z/A)_water``.
    name : str
        Label for messages.
    source : str
        Where the curve comes from (paper, phantom measurement, file).

    Raises
    ------
    CalibrationError
        If the nodes are not increasing, lengths differ or values are negative.

    Examples
    --------
    >>> curve = CalibrationCurve(hu=[-1000, 0, 1000], density_g_cm3=[0.0012, 1.0, 1.6])
    >>> float(curve.density_at(500.0))
    1.3
    """

    hu: tuple[float, ...]
    density_g_cm3: tuple[float, ...]
    electron_density: tuple[float, ...] | None = None
    name: str = "user"
    source: str = ""

    def __post_init__(self) -> None:
        hu = _tuple(self.hu, "HU values")
        dens = _tuple(self.density_g_cm3, "densities")
        label = f"calibration curve {self.name!r}"
        if len(hu) < 2 or len(hu) != len(dens):
            raise CalibrationError(
                f"{label} needs at least 2 nodes and as many densities as HU values "
                f"(got {len(hu)} HU, {len(dens)} densities)"
            )
        if np.any(np.diff(hu) <= 0):
            raise CalibrationError(f"{label}: HU values must be strictly increasing, got {hu}")
        if min(dens) < 0:
            raise CalibrationError(f"{label}: densities must be >= 0")
        object.__setattr__(self, "hu", hu)
        object.__setattr__(self, "density_g_cm3", dens)
        if self.electron_density is not None:
            red = _tuple(self.electron_density, "electron densities")
            if len(red) != len(hu) or min(red) < 0:
                raise CalibrationError(
                    f"{label}: needs one electron density >= 0 per HU node "
                    f"(got {len(red)} for {len(hu)} nodes)"
                )
            object.__setattr__(self, "electron_density", red)

    @classmethod
    def from_csv(cls, path: str | Path, *, name: str | None = None) -> CalibrationCurve:
        """Read a curve from a CSV file with a header row.

        Columns (case-insensitive): ``hu`` and ``density`` (or ``density_g_cm3``), and
        optionally ``electron_density`` (or ``red``), relative to water. Lines starting
        with ``#`` are comments; rows are sorted by HU.

        Parameters
        ----------
        path : str or Path
            The CSV file.
        name : str, optional
            Curve label; defaults to the file name.

        Returns
        -------
        CalibrationCurve

        Raises
        ------
        CalibrationError
            If the file cannot be read, a column is missing or a value is not a number.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CalibrationError(f"cannot read calibration curve {p}: {exc}") from exc
        rows = list(csv.reader(ln for ln in text.splitlines() if not ln.startswith("#")))
        rows = [r for r in rows if any(c.strip() for c in r)]
        if not rows:
            raise CalibrationError(f"calibration curve {p} is empty")
        header = [c.strip().lower() for c in rows[0]]

        def column(*names: str, required: bool = True) -> int | None:
            for n in names:
                if n in header:
                    return header.index(n)
            if required:
                raise CalibrationError(
                    f"calibration curve {p}: no column {names[0]!r} in header {rows[0]}; "
                    "the first row must name the columns, e.g. 'hu,density'"
                )
            return None

        ih = column("hu")
        idn = column("density", "density_g_cm3", "mass_density")
        ie = column("electron_density", "red", "relative_electron_density", required=False)
        assert ih is not None
        assert idn is not None
        data: list[tuple[float, float, float]] = []
        for n, r in enumerate(rows[1:], start=2):
            try:
                h = float(r[ih])
                d = float(r[idn])
                e = float(r[ie]) if ie is not None else float("nan")
            except (ValueError, IndexError) as exc:
                raise CalibrationError(
                    f"calibration curve {p}, row {n}: {r} is not a row of numbers"
                ) from exc
            data.append((h, d, e))
        data.sort()
        arr = np.array(data, dtype=np.float64).reshape(-1, 3)
        return cls(
            hu=tuple(arr[:, 0]),
            density_g_cm3=tuple(arr[:, 1]),
            electron_density=tuple(arr[:, 2]) if ie is not None else None,
            name=name if name is not None else p.name,
            source=str(p),
        )

    @property
    def hu_range(self) -> tuple[float, float]:
        """Lowest and highest calibrated HU."""
        return self.hu[0], self.hu[-1]

    def density_at(self, hu: npt.ArrayLike) -> FloatArray:
        """Mass density (g/cm³) at the given HU; values outside the range take the end nodes.

        Parameters
        ----------
        hu : array_like
            CT numbers, HU.

        Returns
        -------
        numpy.ndarray of float64, same shape
        """
        h = np.asarray(hu, dtype=np.float64)
        return np.asarray(np.interp(h, self.hu, self.density_g_cm3), dtype=np.float64)

    def electron_density_at(self, hu: npt.ArrayLike) -> FloatArray:
        """Electron density relative to water at the given HU (clipped to the range).

        Parameters
        ----------
        hu : array_like
            CT numbers, HU.

        Returns
        -------
        numpy.ndarray of float64, same shape
        """
        h = np.clip(np.asarray(hu, dtype=np.float64), self.hu[0], self.hu[-1])
        if self.electron_density is not None:
            return np.asarray(np.interp(h, self.hu, self.electron_density), dtype=np.float64)
        return self.density_at(h) * schneider_z_over_a_ratio(h)


#: Default calibration: Schneider, Bortfeld & Schlegel, Phys. Med. Biol. 45 (2000) 459.
SCHNEIDER_2000 = CalibrationCurve(
    hu=_SCHNEIDER_HU,
    density_g_cm3=_SCHNEIDER_DENSITY,
    name="Schneider 2000",
    source=(
        "W. Schneider, T. Bortfeld, W. Schlegel, Phys. Med. Biol. 45 (2000) 459-478 "
        "(tables as distributed with GATE); electron density from its compositions"
    ),
)


def _check_hu(ct: Image, what: str) -> None:
    if ct.units not in ("HU", ""):
        raise CalibrationError(
            f"{what} needs a CT in HU; image {ct.name!r} has units {ct.units!r}. "
            "Pass the CT image (study.ct), not a derived volume"
        )


def _apply(ct: Image, curve: CalibrationCurve, which: str) -> npt.NDArray[np.float32]:
    lo, hi = curve.hu_range
    arr = ct.array
    out = np.empty(arr.shape, dtype=np.float32)
    below = above = 0
    for k in range(arr.shape[0]):  # slice by slice keeps temporaries small
        h = np.asarray(arr[k], dtype=np.float64)
        below += int(np.count_nonzero(h < lo))
        above += int(np.count_nonzero(h > hi))
        h = np.clip(h, lo, hi)
        out[k] = curve.density_at(h) if which == "density" else curve.electron_density_at(h)
    if below or above:
        n = arr.size
        warn(
            f"CT {ct.name!r}: {below + above} of {n} voxels "
            f"({100.0 * (below + above) / n:.3g} %) lie outside the HU range "
            f"[{lo:g}, {hi:g}] of calibration curve {curve.name!r} ({below} below, "
            f"{above} above) and were clipped to its ends; supply a curve covering them "
            "(CalibrationCurve.from_csv) if they are real tissue",
            CalibrationRangeWarning,
        )
    return out


def density(ct: Image, curve: CalibrationCurve | None = None) -> Image:
    """Mass density of each voxel from its HU.

    Parameters
    ----------
    ct : Image
        CT in HU, any dtype, axes ``(slice, row, column)``.
    curve : CalibrationCurve, optional
        Calibration; :data:`SCHNEIDER_2000` by default.

    Returns
    -------
    Image
        float32 mass density in g/cm³ (``units="g/cm3"``) on the CT grid.

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU.

    Warns
    -----
    CalibrationRangeWarning
        When voxels fall outside the curve's HU range (they are clipped; the count is
        reported).

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import Grid, Image
    >>> g = Grid(shape=(1, 1, 3), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0))
    >>> ct = Image(array=np.array([[[-1000, 14, 1600]]]), grid=g, units="HU")
    >>> np.round(density(ct).array.astype(float), 4).tolist()
    [[[0.0012, 1.03, 1.9642]]]
    """
    _check_hu(ct, "density()")
    c = SCHNEIDER_2000 if curve is None else curve
    return ct.with_array(_apply(ct, c, "density"), units="g/cm3", name="mass density")


def electron_density(ct: Image, curve: CalibrationCurve | None = None) -> Image:
    """Electron density relative to water of each voxel from its HU.

    Parameters
    ----------
    ct : Image
        CT in HU.
    curve : CalibrationCurve, optional
        Calibration; :data:`SCHNEIDER_2000` by default (density times the Z/A of the
        Schneider 2000 tissue compositions, relative to water).

    Returns
    -------
    Image
        float32 relative electron density (``units="1"``) on the CT grid.

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU.

    Warns
    -----
    CalibrationRangeWarning
        When voxels fall outside the curve's HU range (clipped and reported).
    """
    _check_hu(ct, "electron_density()")
    c = SCHNEIDER_2000 if curve is None else curve
    return ct.with_array(
        _apply(ct, c, "electron_density"), units="1", name="relative electron density"
    )


# --------------------------------------------------------------------------- classes
class TissueClass(enum.IntEnum):
    """Tissue classes of :func:`classify`; the values are the labels of its image."""

    AIR = 1
    LUNG = 2
    ADIPOSE = 3
    SOFT_TISSUE = 4
    CANCELLOUS_BONE = 5
    CORTICAL_BONE = 6
    METAL = 7

    @property
    def label(self) -> str:
        """Lower-case name used in reports (``"soft_tissue"``...)."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: TissueClass | str | int) -> TissueClass:
        """Normalise a class given as a member, its name (any case) or its label value."""
        if isinstance(value, TissueClass):
            return value
        if isinstance(value, str):
            key = value.strip().upper().replace(" ", "_")
            if key == "MUSCLE":
                return cls.SOFT_TISSUE
            try:
                return cls[key]
            except KeyError:
                raise CalibrationError(
                    f"unknown tissue class {value!r}; choose one of "
                    f"{', '.join(m.label for m in cls)}"
                ) from None
        return cls(int(value))


@dataclass(frozen=True, kw_only=True, slots=True)
class TissueThresholds:
    """Lower HU bound of each tissue class (a voxel takes the highest class it reaches).

    ===============  ==============================  =================================
    class            HU range (defaults)             source
    ===============  ==============================  =================================
    AIR              HU < -950
    LUNG             -950 <= HU < -190
    ADIPOSE          -190 <= HU < -29                [Mitsiopoulos1998]_
    SOFT_TISSUE      -29 <= HU < 150 (muscle)        [Mitsiopoulos1998]_
    CANCELLOUS_BONE  150 <= HU < 850                 [Misch1990]_ (D4-D3 bone)
    CORTICAL_BONE    850 <= HU < 3000                [Misch1990]_ (D2-D1 bone)
    METAL            HU >= 3000                      above the densest bone and the
                                                     top of [Schneider2000]_
    ===============  ==============================  =================================

    Parameters
    ----------
    lung_min_hu, adipose_min_hu, soft_tissue_min_hu, cancellous_bone_min_hu,
    cortical_bone_min_hu, metal_min_hu : float
        Class boundaries, HU, strictly increasing.

    Raises
    ------
    CalibrationError
        If the boundaries are not strictly increasing.

    Examples
    --------
    >>> t = TissueThresholds(metal_min_hu=2500.0)   # a scanner with an extended HU scale
    """

    lung_min_hu: float = -950.0
    adipose_min_hu: float = -190.0
    soft_tissue_min_hu: float = -29.0
    cancellous_bone_min_hu: float = 150.0
    cortical_bone_min_hu: float = 850.0
    metal_min_hu: float = 3000.0

    def __post_init__(self) -> None:
        b = self.bounds
        if not np.all(np.isfinite(b)) or np.any(np.diff(b) <= 0):
            raise CalibrationError(
                f"tissue thresholds must increase strictly from lung to metal, got {b.tolist()}"
            )

    @property
    def bounds(self) -> FloatArray:
        """The six boundaries, HU, in class order (lung ... metal)."""
        return np.array(
            [
                self.lung_min_hu,
                self.adipose_min_hu,
                self.soft_tissue_min_hu,
                self.cancellous_bone_min_hu,
                self.cortical_bone_min_hu,
                self.metal_min_hu,
            ],
            dtype=np.float64,
        )

    def range_of(self, tissue: TissueClass | str) -> tuple[float, float]:
        """``[low, high)`` HU range of a class (``-inf`` / ``inf`` at the ends)."""
        t = TissueClass.parse(tissue)
        edges = np.concatenate([[-np.inf], self.bounds, [np.inf]])
        return float(edges[t.value - 1]), float(edges[t.value])


def _labels(hu: npt.NDArray[Any], thresholds: TissueThresholds) -> npt.NDArray[np.uint8]:
    out = np.empty(hu.shape, dtype=np.uint8)
    bounds = thresholds.bounds
    for k in range(hu.shape[0]):
        out[k] = np.searchsorted(bounds, np.asarray(hu[k], np.float64), side="right") + 1
    return out


def classify(
    ct: Image, thresholds: TissueThresholds | None = None, *, warn_metal: bool = True
) -> Image:
    """Label every voxel with its :class:`TissueClass`.

    Parameters
    ----------
    ct : Image
        CT in HU.
    thresholds : TissueThresholds, optional
        HU boundaries; the documented defaults when omitted.
    warn_metal : bool
        Warn when metal voxels are found (default True).

    Returns
    -------
    Image
        uint8 labels (the :class:`TissueClass` values 1-7) on the CT grid, ``units="1"``.

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU.

    Warns
    -----
    MetalWarning
        When voxels reach the metal threshold: their number and volume are reported, and
        the dose near them should be reviewed (metal artefacts corrupt the HU nearby).
    """
    _check_hu(ct, "classify()")
    t = TissueThresholds() if thresholds is None else thresholds
    labels = _labels(ct.array, t)
    if warn_metal:
        n_metal = int(np.count_nonzero(labels == TissueClass.METAL))
        if n_metal:
            cc = n_metal * ct.grid.voxel_volume_mm3 / 1000.0
            warn(
                f"CT {ct.name!r}: {n_metal} voxels ({cc:.3g} cm³) at or above "
                f"{t.metal_min_hu:g} HU are classed as metal (implant or artefact); "
                "HU and densities near them are unreliable",
                MetalWarning,
            )
    return ct.with_array(labels, units="1", name="tissue classes")


# --------------------------------------------------------------------------- segmentation
#: ROI display colours (RGB) and RT ROI Interpreted Types of the automatic structures.
AUTO_STYLE: dict[str, tuple[tuple[int, int, int], str]] = {
    "Body": ((177, 122, 101), "EXTERNAL"),
    "Bone": ((241, 214, 145), "ORGAN"),
    "Muscle": ((192, 104, 88), "ORGAN"),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmentationParameters:
    """Settings of :func:`auto_structures` (lengths in mm, areas in mm², volumes in cm³).

    Parameters
    ----------
    body_threshold_hu : float
        Voxels above it may belong to the body (default -400 HU: skin and fat pass,
        air and couch foam do not).
    couch_removal_mm : float
        Radius of the opening that detaches thin objects touching the body (couch top,
        immobilisation shells, cables) before keeping the largest component; 0 disables.
    couch_min_hu : float
        Where a couch top lies flat against the body, the opening leaves the layer under
        it attached; that layer is removed too when it is at least this dense (carbon
        fibre and its skin-side partial volume) and connected to the detached couch.
        Skin and fat (below 100 HU) are never removed this way.
    bone_closing_mm : float
        Radius of the closing that seals small gaps in the cortical shell before its
        holes are filled.
    marrow_small_hole_mm2 : float
        Holes in a bone slice smaller than this are filled whatever their HU.
    marrow_max_hole_mm2 : float
        Holes in a bone slice larger than this are never filled (the pelvic inlet, the
        thoracic outlet); the largest marrow cavities (tibial plateau, vertebral bodies of
        the sacrum) stay below the default 40 cm².
    canal_hu : tuple of float
        ``[low, high)`` HU window of the median of a slice hole that is *not* marrow
        (spinal canal, foramina: cord and CSF); such holes stay outside bone. Holes whose
        median is below it (fatty marrow) or above it (red marrow) are filled.
    max_cavity_cc : float
        Cavities enclosed by bone in 3D (marrow, a lytic lesion inside a vertebral body)
        up to this volume are bone whatever their HU; larger ones (the cranial cavity)
        are not.
    min_bone_cc : float
        Bone components smaller than this are dropped (calcifications, noise).
    muscle_smoothing_mm : float
        Standard deviation of the Gaussian that averages HU over neighbouring soft-tissue
        voxels (only) before the muscle attenuation window is applied; it suppresses CT
        noise without mixing in fat or bone across boundaries.
    muscle_hu : tuple of float
        ``[low, high]`` window of that local mean. The defaults, 33 to 100 HU, span
        normal-attenuation skeletal muscle: 33 HU is the lowest mean muscle attenuation
        of Martin et al. (J. Clin. Oncol. 31 (2013) 1539) that is not called
        myosteatosis, and 100 HU the upper bound of normal-density muscle of Goodpaster
        et al. (J. Appl. Physiol. 89 (2000) 104). Unenhanced kidney, bowel and fluid
        (<= 30 HU) and intervertebral discs fall outside; blood (~40 HU) does not, so
        large vessels may be included. Lower ``muscle_hu[0]`` for fatty-infiltrated
        muscle.
    joint_gap_mm : float
        Soft tissue with bone both above and below it within this distance along the
        slice axis (intervertebral discs, joint spaces) is not muscle.
    muscle_opening_mm : float
        Radius of the opening that removes thin soft-tissue shells from muscle.
    min_muscle_cc : float
        Muscle components smaller than this are dropped.
    thresholds : TissueThresholds
        Tissue class boundaries (soft tissue and bone HU ranges).
    """

    body_threshold_hu: float = -400.0
    couch_removal_mm: float = 3.0
    couch_min_hu: float = 100.0
    bone_closing_mm: float = 1.0
    marrow_small_hole_mm2: float = 20.0
    marrow_max_hole_mm2: float = 4000.0
    canal_hu: tuple[float, float] = (-10.0, 90.0)
    max_cavity_cc: float = 200.0
    min_bone_cc: float = 0.5
    muscle_smoothing_mm: float = 3.0
    muscle_hu: tuple[float, float] = (33.0, 100.0)
    joint_gap_mm: float = 15.0
    muscle_opening_mm: float = 1.5
    min_muscle_cc: float = 1.0
    thresholds: TissueThresholds = field(default_factory=TissueThresholds)


def _voxels(volume_cc: float, grid: Grid) -> int:
    return max(1, round(volume_cc * 1000.0 / grid.voxel_volume_mm3))


# Every step below works on the bounding box of the voxels it can change (a BoxMask of
# rtplan._segmentation) and gives the voxels of the whole-volume definition documented in
# auto_structures; tests/test_tissue.py compares them with a whole-volume implementation.


def _body_box(ct: Image, p: SegmentationParameters) -> BoxMask:
    """The body outline on its bounding box (see :func:`body_mask`)."""
    from scipy import ndimage

    from rtplan import _segmentation as seg

    hu = np.asarray(ct.array)
    # nothing below the threshold can become body except holes, which lie inside the
    # bounding box of the voxels above it
    box = seg.BoxMask.from_full(hu > p.body_threshold_hu)
    if box.is_empty():
        return box
    above = box.array
    if p.couch_removal_mm > 0:
        rows = seg.ball_rows(p.couch_removal_mm, ct.grid.spacing_mm)
        # the body goes on beyond the scanned volume: do not erode from the grid edges
        core = seg.erode(above, rows, outside_set=True, at_edge=box.at_edge())
        core = seg.largest_component(core)
        # the opening of the kept core: thin objects touching the body fall off it
        body = seg.dilate(core, rows) & above
        detached = above & ~body
        if detached.any():
            # where a couch top lies flat against the back, the layer under the body
            # survives the opening; it is the dense, thin (outside the core) material
            # connected to the detached part of the couch
            thin_dense = above & ~core & (hu[box.slices] >= p.couch_min_hu)
            labels, _ = ndimage.label(thin_dense)
            ids = np.unique(labels[detached & thin_dense])
            body &= ~np.isin(labels, ids[ids > 0])
        body = seg.largest_component(body)
    else:
        body = seg.largest_component(above)
    # Holes are filled slice by slice, then in 3D. After the first, every background
    # voxel is connected within its slice to the slice's edge, which is on the grid's
    # border: no 3D cavity is left, and the second changes nothing, so it is not run.
    body = seg.fill_holes(body, planar=True)
    return seg.BoxMask(box.lo, body, box.full_shape).shrink()


def _close_bone(
    bone: BoxMask, body: BoxMask, radius_mm: float, spacing_mm: tuple[float, float, float]
) -> BoxMask:
    """Morphological closing of the bone by a ball, restricted to the body."""
    from rtplan import _segmentation as seg

    rows = seg.ball_rows(radius_mm, spacing_mm)
    w = np.ceil(radius_mm / np.asarray(spacing_mm, dtype=np.float64)).astype(np.intp)
    pad = w + 1
    x = np.pad(bone.array, [(int(a), int(a)) for a in pad])
    # dilation then erosion in unbounded space: the dilation reaches at most w voxels
    # beyond the bone's box, inside the padded box, and nothing beyond it is set
    closed = seg.erode(seg.dilate(x, rows), rows) | x
    lo = np.maximum(np.asarray(bone.lo) - w, np.asarray(body.lo))
    hi = np.minimum(np.asarray(bone.hi) + w, np.asarray(body.hi))
    if np.any(hi <= lo):
        return seg.BoxMask.empty(bone.full_shape)
    first = lo - (np.asarray(bone.lo) - pad)
    local = closed[tuple(slice(int(a), int(a + n)) for a, n in zip(first, hi - lo, strict=True))]
    shape = tuple(int(n) for n in hi - lo)
    region = (int(lo[0]), int(lo[1]), int(lo[2]))
    return seg.BoxMask(region, local & body.on(region, shape), bone.full_shape).shrink()


def _fill_marrow(
    bone: BoxMask, hu: npt.NDArray[Any], grid: Grid, p: SegmentationParameters
) -> BoxMask:
    """Fill the holes of each bone slice that hold marrow, keeping canal-like holes open."""
    from scipy import ndimage

    from rtplan import _segmentation as seg

    if bone.is_empty():
        return bone
    # the holes of every slice at once: background components of the slices that do
    # not reach the in-plane faces of the bone's box
    labels, outside = seg.background_components(bone.array, planar=True)
    ids = np.flatnonzero(~outside)
    if ids.size == 0:
        return bone
    in_hole = np.logical_not(outside)[labels]
    hole_labels = labels[in_hole]
    values = np.asarray(hu[bone.slices][in_hole], dtype=np.float64)
    pixel_mm2 = grid.spacing_mm[1] * grid.spacing_mm[2]
    small = p.marrow_small_hole_mm2 / pixel_mm2
    large = p.marrow_max_hole_mm2 / pixel_mm2
    lo, hi = p.canal_hu
    sizes = np.bincount(hole_labels, minlength=outside.size)[ids]
    medians = np.asarray(ndimage.median(values, hole_labels, ids), dtype=np.float64)
    marrow_like = (medians < lo) | (medians >= hi)
    fill = (sizes < small) | (marrow_like & (sizes <= large))
    keep = np.zeros(outside.size, dtype=bool)
    keep[ids[fill]] = True
    return seg.BoxMask(bone.lo, bone.array | keep[labels], bone.full_shape)


def _fill_cavities(bone: BoxMask, grid: Grid, p: SegmentationParameters) -> BoxMask:
    """Add the 3D cavities of the bone mask up to ``max_cavity_cc``, whatever their HU."""
    from rtplan import _segmentation as seg

    if bone.is_empty():
        return bone
    labels, outside = seg.background_components(bone.array, planar=False)
    if outside.all():
        return bone
    sizes = np.bincount(labels.ravel(), minlength=outside.size)
    keep = ~outside & (sizes <= _voxels(p.max_cavity_cc, grid))
    return seg.BoxMask(bone.lo, bone.array | keep[labels], bone.full_shape)


def _bone_box(
    hu: npt.NDArray[Any], body: BoxMask, grid: Grid, p: SegmentationParameters
) -> BoxMask:
    """Bone on its bounding box (see :func:`bone_mask`)."""
    from rtplan import _segmentation as seg

    if body.is_empty():
        return seg.BoxMask.empty(body.full_shape)
    t = p.thresholds
    h = hu[body.slices]
    bone = (h >= t.cancellous_bone_min_hu) & (h < t.metal_min_hu) & body.array
    box = seg.BoxMask(body.lo, bone, body.full_shape).shrink()
    if box.is_empty():
        return box
    kept = seg.remove_small_components(box.array, _voxels(p.min_bone_cc, grid))
    box = seg.BoxMask(box.lo, kept, box.full_shape).shrink()
    if box.is_empty():
        return box
    if p.bone_closing_mm > 0:
        box = _close_bone(box, body, p.bone_closing_mm, grid.spacing_mm)
    box = _fill_marrow(box, hu, grid, p)
    return _fill_cavities(box, grid, p)


def _muscle_box(
    hu: npt.NDArray[Any], body: BoxMask, bone: BoxMask, grid: Grid, p: SegmentationParameters
) -> BoxMask:
    """Muscle on its bounding box (see :func:`muscle_mask`)."""
    from rtplan import _segmentation as seg

    if body.is_empty():
        return seg.BoxMask.empty(body.full_shape)
    t = p.thresholds
    h = hu[body.slices]
    soft = (h >= t.soft_tissue_min_hu) & (h < t.cancellous_bone_min_hu) & body.array
    if not bone.is_empty():
        shape = soft.shape
        # tissue enclosed by bone in a slice (spinal canal) or lying between bones along
        # the slice axis (discs, joint spaces) is not muscle; both lie in the bone's box
        enclosed = seg.fill_holes(bone.array, planar=True)  # the bone and its holes
        between = _between_along_slices(bone.array, p.joint_gap_mm, grid.spacing_mm[0])
        not_muscle = seg.BoxMask(bone.lo, enclosed | between, bone.full_shape)
        soft &= ~not_muscle.on(body.lo, shape)
        soft &= ~bone.on(body.lo, shape)
    box = seg.BoxMask(body.lo, soft, body.full_shape).shrink()
    if box.is_empty():
        return box
    local = _masked_mean(hu, box, p.muscle_smoothing_mm, grid)
    soft = box.array & (local >= p.muscle_hu[0]) & (local <= p.muscle_hu[1])
    if p.muscle_opening_mm > 0:
        rows = seg.ball_rows(p.muscle_opening_mm, grid.spacing_mm)
        soft = seg.dilate(seg.erode(soft, rows), rows) & soft
    soft = seg.remove_small_components(soft, _voxels(p.min_muscle_cc, grid))
    return seg.BoxMask(box.lo, soft, box.full_shape).shrink()


def _boxed(mask: npt.ArrayLike | None, ct: Image, what: str) -> BoxMask | None:
    """A caller's whole-grid mask on its bounding box (None when not given)."""
    from rtplan import _segmentation as seg

    if mask is None:
        return None
    m = np.asarray(mask, dtype=bool)
    if m.shape != ct.shape:
        raise CalibrationError(
            f"{what} mask shape {m.shape} differs from the CT {ct.shape}; pass a mask on "
            "the CT grid (structure.mask(ct.grid))"
        )
    return seg.BoxMask.from_full(m)


def body_mask(ct: Image, params: SegmentationParameters | None = None) -> npt.NDArray[np.bool_]:
    """The body outline as a boolean array on the CT grid (see :func:`auto_structures`).

    Parameters
    ----------
    ct : Image
        CT in HU.
    params : SegmentationParameters, optional

    Returns
    -------
    numpy.ndarray of bool, shape ct.shape

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU.
    """
    p = SegmentationParameters() if params is None else params
    _check_hu(ct, "body_mask()")
    return _body_box(ct, p).full()


def bone_mask(
    ct: Image,
    body: npt.NDArray[np.bool_] | None = None,
    params: SegmentationParameters | None = None,
) -> npt.NDArray[np.bool_]:
    """Bone (cortical and cancellous, with marrow) as a boolean array on the CT grid.

    Parameters
    ----------
    ct : Image
        CT in HU.
    body : numpy.ndarray of bool, optional
        Body mask restricting the search (computed when omitted).
    params : SegmentationParameters, optional

    Returns
    -------
    numpy.ndarray of bool, shape ct.shape

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU or ``body`` is not on its grid.
    """
    p = SegmentationParameters() if params is None else params
    _check_hu(ct, "bone_mask()")
    body_box = _boxed(body, ct, "bone_mask(): body")
    if body_box is None:
        body_box = _body_box(ct, p)
    return _bone_box(np.asarray(ct.array), body_box, ct.grid, p).full()


def muscle_mask(
    ct: Image,
    body: npt.NDArray[np.bool_] | None = None,
    bone: npt.NDArray[np.bool_] | None = None,
    params: SegmentationParameters | None = None,
) -> npt.NDArray[np.bool_]:
    """Muscle (soft-tissue HU inside the body, not bone, not fat) on the CT grid.

    Parameters
    ----------
    ct : Image
        CT in HU.
    body, bone : numpy.ndarray of bool, optional
        Masks from :func:`body_mask` and :func:`bone_mask` (computed when omitted).
    params : SegmentationParameters, optional

    Returns
    -------
    numpy.ndarray of bool, shape ct.shape

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU or a mask is not on its grid.
    """
    p = SegmentationParameters() if params is None else params
    _check_hu(ct, "muscle_mask()")
    hu = np.asarray(ct.array)
    body_box = _boxed(body, ct, "muscle_mask(): body")
    if body_box is None:
        body_box = _body_box(ct, p)
    bone_box = _boxed(bone, ct, "muscle_mask(): bone")
    if bone_box is None:
        bone_box = _bone_box(hu, body_box, ct.grid, p)
    return _muscle_box(hu, body_box, bone_box, ct.grid, p).full()


def _between_along_slices(
    mask: npt.NDArray[np.bool_], gap_mm: float, slice_mm: float
) -> npt.NDArray[np.bool_]:
    """Voxels with a mask voxel both before and after them within ``gap_mm`` along axis 0."""
    n = int(np.floor(gap_mm / slice_mm + 1e-9))
    if n < 1:
        return np.zeros_like(mask)
    c = np.concatenate([np.zeros((1, *mask.shape[1:]), np.int32), np.cumsum(mask, 0, np.int32)])
    nk = mask.shape[0]
    k = np.arange(nk)
    up_hi = np.minimum(k + 1 + n, nk)  # voxels k+1 .. k+n
    down_lo = np.maximum(k - n, 0)  # voxels k-n .. k-1
    above = (c[up_hi] - c[k + 1]) > 0
    below = (c[k] - c[down_lo]) > 0
    return np.asarray(above & below & ~mask, dtype=bool)


def _masked_mean(
    hu: npt.NDArray[Any], mask: BoxMask, sigma_mm: float, grid: Grid
) -> npt.NDArray[np.float32]:
    """Gaussian-weighted mean of HU over the mask's voxels only (normalised convolution).

    Returned on the mask's box, NaN outside the mask.
    """
    from scipy import ndimage

    m = mask.array
    if sigma_mm <= 0:
        return np.where(m, hu[mask.slices], np.nan).astype(np.float32)
    sigma = [sigma_mm / s for s in grid.spacing_mm]
    # The filtered values at the mask's voxels depend on the voxels within the kernel
    # radius only, and both filtered volumes are zero outside the mask: filtering the
    # mask's box grown by the radius (clipped to the grid, where the reflection at the
    # grid's edges is the same) gives the same float32 values there as the whole volume.
    radius = np.array([int(3.0 * s + 0.5) for s in sigma], dtype=np.intp)
    lo = np.maximum(np.asarray(mask.lo) - radius, 0)
    hi = np.minimum(np.asarray(mask.hi) + radius, np.asarray(mask.full_shape))
    region = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    shape = tuple(int(n) for n in hi - lo)
    w_mask = mask.on(tuple(int(a) for a in lo), shape)
    w = w_mask.astype(np.float32)
    num = ndimage.gaussian_filter(
        np.where(w_mask, hu[region], 0).astype(np.float32), sigma, truncate=3.0
    )
    den = ndimage.gaussian_filter(w, sigma, truncate=3.0)
    inner = tuple(
        slice(int(a - b), int(a - b) + n) for a, b, n in zip(mask.lo, lo, m.shape, strict=True)
    )
    num = num[inner]
    den = den[inner]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(m & (den > 1e-6), num / np.maximum(den, 1e-6), np.nan)
    return np.asarray(out, dtype=np.float32)


def auto_structures(
    ct: Image, params: SegmentationParameters | None = None
) -> dict[str, Structure]:
    """Segment the body outline, bone and muscle from a CT.

    * **Body**: voxels above ``body_threshold_hu``; thin attachments (couch top, shells)
      are cut by an opening of radius ``couch_removal_mm`` before the largest connected
      component is kept; holes are filled slice by slice and in 3D (lungs, bowel gas).
    * **Bone**: cancellous and cortical HU inside the body, small components dropped,
      small cortical gaps closed, then the holes of each slice inside the cortical shell
      are filled when they hold marrow: always when small, else when their median HU is
      outside the ``canal_hu`` window, so fatty marrow (adipose HU) and red marrow
      (bone HU) become bone while the spinal canal (cord and CSF) stays out.
    * **Muscle**: soft-tissue HU inside the body, minus bone and fat, minus tissue
      enclosed by bone in a slice (spinal canal) or lying between bones along the slice
      axis (discs, joint spaces); the HU averaged over neighbouring soft-tissue voxels
      must lie in the muscle attenuation window ``muscle_hu`` (which leaves out
      unenhanced kidney, bowel and fluid; blood cannot be told from muscle by HU, so
      large vessels stay in); cleaned by an opening of ``muscle_opening_mm`` and removal
      of small components.

    Each is a :class:`~rtplan.Structure` built with :meth:`~rtplan.Structure.from_mask`
    (exact mask plus contours, writable to RT-Struct).

    Parameters
    ----------
    ct : Image
        CT in HU.
    params : SegmentationParameters, optional
        Thresholds and radii; defaults documented in :class:`SegmentationParameters`.

    Returns
    -------
    dict of str to Structure
        Keys ``"Body"`` (type EXTERNAL), ``"Bone"`` and ``"Muscle"`` (type ORGAN).

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU.
    """
    from rtplan.structures import Structure

    p = SegmentationParameters() if params is None else params
    _check_hu(ct, "auto_structures()")
    hu = np.asarray(ct.array)
    body = _body_box(ct, p)
    bone = _bone_box(hu, body, ct.grid, p)
    muscle = _muscle_box(hu, body, bone, ct.grid, p)
    out: dict[str, Structure] = {}
    for name, box in (("Body", body), ("Bone", bone), ("Muscle", muscle)):
        m = box.full()
        color, kind = AUTO_STYLE[name]
        out[name] = Structure.from_mask(
            m,
            ct.grid,
            name=name,
            color=color,
            interpreted_type=kind,
            description="rtplan.tissue.auto_structures",
        )
        logger.info("auto %s: %.1f cm3", name, out[name].volume_cc)
    return out


def composition(
    ct: Image,
    body: Structure | npt.NDArray[np.bool_] | None = None,
    thresholds: TissueThresholds | None = None,
) -> dict[str, float]:
    """Volume of each tissue class inside the body, cm³.

    Parameters
    ----------
    ct : Image
        CT in HU.
    body : Structure or numpy.ndarray of bool, optional
        The region to count in (an EXTERNAL structure or a mask on the CT grid); the
        automatic body outline when omitted.
    thresholds : TissueThresholds, optional
        Class boundaries.

    Returns
    -------
    dict of str to float
        ``{class label: cm³}`` for every :class:`TissueClass`, in class order
        (``"air"``, ``"lung"``, ``"adipose"``, ``"soft_tissue"``, ``"cancellous_bone"``,
        ``"cortical_bone"``, ``"metal"``).
    """
    _check_hu(ct, "composition()")
    t = TissueThresholds() if thresholds is None else thresholds
    if body is None:
        region = body_mask(ct, SegmentationParameters(thresholds=t))
    elif isinstance(body, np.ndarray):
        region = np.asarray(body, dtype=bool)
        if region.shape != ct.shape:
            raise CalibrationError(
                f"composition(): body mask shape {region.shape} differs from the CT {ct.shape}"
            )
    else:
        region = body.mask(ct.grid)
    labels = _labels(np.asarray(ct.array)[region][np.newaxis], t)
    counts = np.bincount(labels.ravel(), minlength=len(TissueClass) + 1)
    v = ct.grid.voxel_volume_mm3 / 1000.0
    return {c.label: float(counts[c.value]) * v for c in TissueClass}
