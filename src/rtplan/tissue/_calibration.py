"""HU calibration: CT numbers to mass density and relative electron density.

A :class:`CalibrationCurve` is piecewise linear in HU; the default,
:data:`SCHNEIDER_2000`, is the stoichiometric calibration of Schneider, Bortfeld &
Schlegel (2000), its electron densities from the tissue compositions of the same paper
(see :mod:`rtplan.tissue` for the references).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rtplan._warn import warn
from rtplan.errors import RtplanError, RtplanWarning
from rtplan.image import Image

__all__ = [
    "SCHNEIDER_2000",
    "WATER_Z_OVER_A",
    "CalibrationCurve",
    "CalibrationError",
    "CalibrationRangeWarning",
    "check_hu",
    "density",
    "electron_density",
    "schneider_z_over_a_ratio",
]

FloatArray = npt.NDArray[np.float64]


class CalibrationError(RtplanError, ValueError):
    """A calibration curve or its input is invalid (file, columns, values, CT units)."""


class CalibrationRangeWarning(RtplanWarning):
    """CT values outside a calibration curve's HU range were clipped to its ends."""


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

    Examples
    --------
    >>> from rtplan import tissue
    >>> [round(float(v), 3) for v in tissue.schneider_z_over_a_ratio([-60.0, 40.0, 1200.0])]
    [1.0, 0.992, 0.935]
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


def check_hu(ct: Image, what: str) -> None:
    """Raise unless ``ct`` is a CT in HU (``what`` names the caller in the message)."""
    if ct.units not in ("HU", ""):
        raise CalibrationError(
            f"{what} needs a CT in HU; image {ct.name!r} has units {ct.units!r}. "
            "Pass the CT image (study.ct), not a derived volume"
        )


def _apply(ct: Image, curve: CalibrationCurve, which: str) -> npt.NDArray[np.float32]:
    lo, hi = curve.hu_range
    arr = ct.array
    at = curve.density_at if which == "density" else curve.electron_density_at
    out = np.empty(arr.shape, dtype=np.float32)
    below = above = 0
    if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2:
        # integer HU: the curve at every value of the type, looked up through the bits of
        # each voxel (the same numbers as interpolating each voxel, several times faster)
        unsigned = np.dtype(f"u{arr.dtype.itemsize}")
        values = np.arange(2 ** (8 * arr.dtype.itemsize)).astype(unsigned).view(arr.dtype)
        table = at(np.clip(values.astype(np.float64), lo, hi)).astype(np.float32)
        for k in range(arr.shape[0]):
            h = np.ascontiguousarray(arr[k])
            below += int(np.count_nonzero(h < lo))
            above += int(np.count_nonzero(h > hi))
            out[k] = table[h.view(unsigned)]
    else:
        for k in range(arr.shape[0]):  # slice by slice keeps temporaries small
            h = np.asarray(arr[k], dtype=np.float64)
            below += int(np.count_nonzero(h < lo))
            above += int(np.count_nonzero(h > hi))
            out[k] = at(np.clip(h, lo, hi))
    if below or above:
        n = arr.size
        warn(
            f"CT {ct.name!r}: {below + above} of {n} voxels "
            f"({100.0 * (below + above) / n:.3g} %) lie outside the HU range "
            f"[{lo:g}, {hi:g}] of calibration curve {curve.name!r} ({below} below, "
            f"{above} above) and were clipped to its ends: {_clipped(ct, curve, below, above)}; "
            "supply a curve covering them (CalibrationCurve.from_csv) if they are real tissue",
            CalibrationRangeWarning,
        )
    return out


def _clipped(ct: Image, curve: CalibrationCurve, below: int, above: int) -> str:
    """The volumes clipped at each end of a curve and the densities they were given."""
    lo, hi = curve.hu_range
    cc = ct.grid.voxel_volume_mm3 / 1000.0
    parts = []
    if above:
        parts.append(
            f"{above * cc:.3g} cm³ above {hi:g} HU (metal, implant or artefact) computed as "
            f"{float(curve.density_at(hi)):.3g} g/cm³, relative electron density "
            f"{float(curve.electron_density_at(hi)):.3g}"
        )
    if below:
        parts.append(
            f"{below * cc:.3g} cm³ below {lo:g} HU as {float(curve.density_at(lo)):.3g} g/cm³"
        )
    return "; ".join(parts)


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
    check_hu(ct, "density()")
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

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import Grid, Image, tissue
    >>> g = Grid(shape=(1, 1, 3), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0))
    >>> ct = Image(array=np.array([[[-1000, 0, 1000]]]), grid=g, units="HU")
    >>> np.round(tissue.electron_density(ct).array.astype(float), 3).tolist()
    [[[0.001, 1.013, 1.514]]]
    """
    check_hu(ct, "electron_density()")
    c = SCHNEIDER_2000 if curve is None else curve
    return ct.with_array(
        _apply(ct, c, "electron_density"), units="1", name="relative electron density"
    )
