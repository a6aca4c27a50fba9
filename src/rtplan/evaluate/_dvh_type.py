"""The DVH value type: a dose-volume histogram and what it answers (V, D, curves).

:func:`rtplan.dvh` computes one (:mod:`rtplan.evaluate._dvh`); files are written and read
through :mod:`rtplan.evaluate._dvh_io`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan.evaluate._common import EvaluationError, VolumeUnit, volume_unit
from rtplan.evaluate._dvh_io import dvhs_to_pandas, read_records, write_dvhs_csv, write_json

if TYPE_CHECKING:
    import pandas  # type: ignore[import-untyped, unused-ignore]

__all__ = ["DVH", "empty_dvh", "read_dvhs_json"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class DVH:
    """A dose-volume histogram of one structure.

    The histogram is stored as the fraction of the structure's volume in each dose bin; the
    dose is uniformly distributed inside each bin, so the cumulative DVH is linear between
    bin edges.

    Parameters
    ----------
    name : str
        Structure name.
    bin_edges_gy : numpy.ndarray, shape (N + 1,)
        Increasing dose bin edges, Gy.
    differential : numpy.ndarray, shape (N,)
        Fraction of the volume in each bin (sums to 1, or 0 for an empty DVH).
    volume_cc : float
        Volume the histogram describes (the part of the structure inside the dose grid),
        cm³; ``nan`` when unknown (a relative DVH read from RT-Dose).
    structure_volume_cc : float
        Volume of the whole structure, cm³ (``nan`` when unknown).
    min_gy, max_gy, mean_gy : float
        Lowest, highest and mean dose, Gy (``nan`` for an empty DVH).
    roi_number : int
        ROI Number, when known.
    source : str
        ``"computed"`` or ``"RTDOSE"`` (read from a DVH Sequence).
    end_cap : str
        End-capping convention used (``"slab"``, ``"none"``, ``""`` when not applicable).
    resolution_mm : float
        In-plane sampling used (``nan`` for stored DVHs).
    dose_meaning : str
        What the dose was (:attr:`rtplan.Dose.meaning`: dose type, summation type,
        fractions, conversions), e.g. ``"PHYSICAL dose, FRACTION (25 fractions)"``; empty
        when unknown.

    Examples
    --------
    >>> import numpy as np
    >>> h = DVH(name="PTV", bin_edges_gy=np.array([0.0, 1.0, 2.0]),
    ...         differential=np.array([0.25, 0.75]), volume_cc=8.0)
    >>> h.V(1.0), h.V(1.0, volume_unit="cc"), round(h.D(50), 3)
    (75.0, 6.0, 1.333)
    """

    name: str
    bin_edges_gy: FloatArray
    differential: FloatArray
    volume_cc: float
    structure_volume_cc: float = math.nan
    min_gy: float = math.nan
    max_gy: float = math.nan
    mean_gy: float = math.nan
    roi_number: int = 0
    source: str = "computed"
    end_cap: str = ""
    resolution_mm: float = math.nan
    dose_meaning: str = ""
    _cumulative: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        edges = np.array(self.bin_edges_gy, dtype=np.float64).ravel()
        diff = np.array(self.differential, dtype=np.float64).ravel()
        if edges.size != diff.size + 1 or edges.size < 2:
            raise EvaluationError(
                f"DVH {self.name!r}: {edges.size} bin edges for {diff.size} bins "
                "(need one more edge than bins, at least one bin)"
            )
        if np.any(np.diff(edges) <= 0) or not np.all(np.isfinite(edges)):
            raise EvaluationError(f"DVH {self.name!r}: bin edges must increase strictly")
        if np.any(diff < -1e-12) or not np.all(np.isfinite(diff)):
            raise EvaluationError(f"DVH {self.name!r}: bin volumes must be finite and >= 0")
        diff = np.clip(diff, 0.0, None)
        total = float(diff.sum())
        if total > 0:
            diff = diff / total
        cum = np.concatenate([np.cumsum(diff[::-1])[::-1], [0.0]])
        if total > 0:
            cum[0] = 1.0
        for a in (edges, diff, cum):
            a.setflags(write=False)
        object.__setattr__(self, "bin_edges_gy", edges)
        object.__setattr__(self, "differential", diff)
        object.__setattr__(self, "_cumulative", cum)
        vol = float(self.volume_cc)
        if total == 0:
            vol = 0.0 if math.isfinite(vol) else vol
        object.__setattr__(self, "volume_cc", vol)
        if math.isnan(self.structure_volume_cc):
            object.__setattr__(self, "structure_volume_cc", vol)
        if total > 0:
            lo = float(edges[np.argmax(diff > 0)])
            hi = float(edges[diff.size - np.argmax(diff[::-1] > 0)])
            centres = 0.5 * (edges[1:] + edges[:-1])
            if math.isnan(self.min_gy):
                object.__setattr__(self, "min_gy", lo)
            if math.isnan(self.max_gy):
                object.__setattr__(self, "max_gy", hi)
            if math.isnan(self.mean_gy):
                object.__setattr__(self, "mean_gy", float(np.dot(centres, diff)))

    # ------------------------------------------------------------------ basic views
    @property
    def is_empty(self) -> bool:
        """True when the histogram holds no volume."""
        return not bool(self._cumulative[0] > 0)

    @property
    def coverage(self) -> float:
        """Fraction of the structure's volume the histogram describes (inside the dose grid)."""
        if not (self.structure_volume_cc > 0):
            return math.nan if math.isnan(self.structure_volume_cc) else 0.0
        return float(self.volume_cc / self.structure_volume_cc)

    @property
    def cumulative(self) -> FloatArray:
        """Fraction of the volume receiving at least each bin edge, shape (N + 1,)."""
        return self._cumulative

    @property
    def cumulative_percent(self) -> FloatArray:
        """Percent of the volume receiving at least each bin edge, shape (N + 1,)."""
        return 100.0 * self._cumulative

    @property
    def cumulative_cc(self) -> FloatArray:
        """Volume receiving at least each bin edge, cm³, shape (N + 1,)."""
        return self.volume_cc * self._cumulative

    @property
    def differential_percent(self) -> FloatArray:
        """Percent of the volume in each bin, shape (N,)."""
        return 100.0 * self.differential

    @property
    def differential_cc(self) -> FloatArray:
        """Volume in each bin, cm³, shape (N,)."""
        return self.volume_cc * self.differential

    @property
    def bin_centers_gy(self) -> FloatArray:
        """Centre of each dose bin, Gy, shape (N,)."""
        e = self.bin_edges_gy
        return np.asarray(0.5 * (e[1:] + e[:-1]))

    def curve(
        self, kind: str = "cumulative", *, volume_unit: str = "%"
    ) -> tuple[FloatArray, FloatArray]:
        """The DVH as two arrays, ready to plot.

        Parameters
        ----------
        kind : {"cumulative", "differential"}
            Cumulative: volume receiving at least each bin edge. Differential: volume per Gy
            at each bin centre.
        volume_unit : {"%", "cc"}
            Relative (percent of the volume) or absolute (cm³).

        Returns
        -------
        dose_gy, volume : numpy.ndarray
            For ``"differential"`` the volume is per Gy (%/Gy or cm³/Gy).

        Raises
        ------
        EvaluationError
            For an unknown kind or unit.
        """
        scale = 100.0 if _vu(volume_unit) == "%" else self.volume_cc
        if kind == "cumulative":
            return self.bin_edges_gy.copy(), scale * self._cumulative
        if kind == "differential":
            widths = np.diff(self.bin_edges_gy)
            return self.bin_centers_gy, scale * self.differential / widths
        raise EvaluationError(f"DVH kind must be 'cumulative' or 'differential', got {kind!r}")

    # ------------------------------------------------------------------ metrics
    def V(
        self,
        dose: float,
        *,
        volume_unit: str = "%",
        dose_unit: str = "Gy",
        prescription_gy: float | None = None,
    ) -> float:
        """Volume receiving at least ``dose``.

        Parameters
        ----------
        dose : float
            Dose level, in Gy or (``dose_unit="%"``) percent of ``prescription_gy``.
        volume_unit : {"%", "cc"}
            Result in percent of the structure volume (default) or cm³.
        dose_unit : {"Gy", "%"}
            Unit of ``dose``.
        prescription_gy : float, optional
            Needed when ``dose_unit="%"``.

        Returns
        -------
        float
            ``nan`` for an empty DVH.

        Raises
        ------
        EvaluationError
            For a bad unit, or a relative dose without prescription.
        """
        level = _dose_level(dose, dose_unit, prescription_gy)
        if self.is_empty:
            return math.nan
        frac = float(np.interp(level, self.bin_edges_gy, self._cumulative))
        return 100.0 * frac if _vu(volume_unit) == "%" else frac * self.volume_cc

    def D(self, volume: float, *, volume_unit: str = "%") -> float:
        """Minimum dose received by the hottest ``volume`` of the structure, Gy.

        ``D(95)`` is the dose covering 95 % of the volume; ``D(0.03, volume_unit="cc")`` the
        near-maximum dose D0.03cc. The cumulative DVH is interpolated linearly inside bins.

        Parameters
        ----------
        volume : float
            Volume, in percent of the structure (default) or cm³.
        volume_unit : {"%", "cc"}

        Returns
        -------
        float
            Gy; ``nan`` for an empty DVH or a volume larger than the structure.

        Raises
        ------
        EvaluationError
            For a bad unit or a negative volume.
        """
        if volume < 0 or not math.isfinite(volume):
            raise EvaluationError(f"D(volume): volume must be finite and >= 0, got {volume}")
        if self.is_empty:
            return math.nan
        if _vu(volume_unit) == "%":
            frac = volume / 100.0
        else:
            if not (self.volume_cc > 0):
                return math.nan
            frac = volume / self.volume_cc
        if frac > 1.0 + 1e-9:
            return math.nan
        frac = min(frac, 1.0)
        if frac <= 0.0:
            return float(self.max_gy)
        cum = self._cumulative
        # last edge whose cumulative volume is still >= frac
        b = int(np.nonzero(cum >= frac - 1e-12)[0][-1])
        if b >= cum.size - 1:
            return float(self.bin_edges_gy[-1])
        c0, c1 = cum[b], cum[b + 1]
        e0, e1 = self.bin_edges_gy[b], self.bin_edges_gy[b + 1]
        t = 0.0 if c0 <= c1 else (c0 - frac) / (c0 - c1)
        return float(min(max(e0 + t * (e1 - e0), self.min_gy), self.max_gy))

    @property
    def D2(self) -> float:
        """Near-maximum dose D2 %, Gy (ICRU 83)."""
        return self.D(2.0)

    @property
    def D50(self) -> float:
        """Median dose D50 %, Gy."""
        return self.D(50.0)

    @property
    def D95(self) -> float:
        """Dose covering 95 % of the volume, Gy."""
        return self.D(95.0)

    @property
    def D98(self) -> float:
        """Near-minimum dose D98 %, Gy (ICRU 83)."""
        return self.D(98.0)

    @property
    def D0_03cc(self) -> float:
        """Near-maximum dose D0.03cc, Gy (``nan`` for structures under 0.03 cm³)."""
        return self.D(0.03, volume_unit="cc")

    @property
    def homogeneity_index(self) -> float:
        """ICRU Report 83 homogeneity index ``(D2 - D98) / D50`` (dimensionless)."""
        d50 = self.D50
        return (self.D2 - self.D98) / d50 if d50 > 0 else math.nan

    def max_difference(self, other: DVH, *, volume_unit: str = "%") -> float:
        """Largest difference between two cumulative DVHs over all dose levels.

        Parameters
        ----------
        other : DVH
        volume_unit : {"%", "cc"}
            Percentage points of each DVH's own volume, or cm³.

        Returns
        -------
        float
        """
        doses = np.union1d(self.bin_edges_gy, other.bin_edges_gy)
        rel = _vu(volume_unit) == "%"
        a = np.interp(doses, self.bin_edges_gy, self._cumulative)
        b = np.interp(doses, other.bin_edges_gy, other._cumulative)
        if rel:
            return float(100.0 * np.max(np.abs(a - b)))
        return float(np.max(np.abs(a * self.volume_cc - b * other.volume_cc)))

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (lists of floats; units in the keys)."""
        return {
            "name": self.name,
            "roi_number": self.roi_number,
            "source": self.source,
            "end_cap": self.end_cap,
            "resolution_mm": _json_float(self.resolution_mm),
            "dose_meaning": self.dose_meaning,
            "volume_cc": _json_float(self.volume_cc),
            "structure_volume_cc": _json_float(self.structure_volume_cc),
            "min_gy": _json_float(self.min_gy),
            "max_gy": _json_float(self.max_gy),
            "mean_gy": _json_float(self.mean_gy),
            "bin_edges_gy": self.bin_edges_gy.tolist(),
            "differential_fraction": self.differential.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DVH:
        """Rebuild a DVH written by :meth:`to_dict`.

        Raises
        ------
        EvaluationError
            If a key is missing.
        """
        try:
            return cls(
                name=str(data["name"]),
                roi_number=int(data.get("roi_number", 0)),
                source=str(data.get("source", "computed")),
                end_cap=str(data.get("end_cap", "")),
                dose_meaning=str(data.get("dose_meaning", "")),
                resolution_mm=_from_json_float(data.get("resolution_mm")),
                volume_cc=_from_json_float(data["volume_cc"]),
                structure_volume_cc=_from_json_float(data.get("structure_volume_cc")),
                min_gy=_from_json_float(data.get("min_gy")),
                max_gy=_from_json_float(data.get("max_gy")),
                mean_gy=_from_json_float(data.get("mean_gy")),
                bin_edges_gy=np.asarray(data["bin_edges_gy"], dtype=np.float64),
                differential=np.asarray(data["differential_fraction"], dtype=np.float64),
            )
        except KeyError as exc:
            raise EvaluationError(f"DVH dictionary lacks the key {exc.args[0]!r}") from exc

    def to_json(self, path: str | Path) -> Path:
        """Write the DVH as JSON (see :meth:`to_dict`); returns the path."""
        return write_json(self.to_dict(), path)

    @classmethod
    def from_json(cls, path: str | Path) -> DVH:
        """Read a DVH written by :meth:`to_json`.

        Raises
        ------
        EvaluationError
            If the file does not hold exactly one DVH.
        """
        records = read_records(path)
        if len(records) != 1:
            raise EvaluationError(
                f"{path} holds {len(records)} DVHs; read them with read_dvhs_json"
            )
        return cls.from_dict(records[0])

    def to_csv(self, path: str | Path) -> Path:
        """Write the DVH as CSV, one row per bin edge; returns the path.

        Columns: ``dose_gy`` (bin edge), ``cumulative_cc``, ``cumulative_percent``,
        ``differential_cc`` and ``differential_percent`` (volume of the bin starting at that
        edge; empty on the last edge).
        """
        return write_dvhs_csv([self], path)

    def to_pandas(self) -> pandas.DataFrame:
        """The DVH as a pandas DataFrame, one row per bin edge (the columns of :meth:`to_csv`).

        Several DVHs in one frame: :func:`rtplan.evaluate.dvhs_to_pandas`.

        Returns
        -------
        pandas.DataFrame
            Columns ``structure``, ``dose_gy``, ``cumulative_cc``, ``cumulative_percent``,
            ``differential_cc``, ``differential_percent`` (NaN on the last edge).

        Raises
        ------
        MissingDependencyError
            If pandas is not installed.

        Examples
        --------
        >>> import numpy as np
        >>> from rtplan.evaluate import DVH
        >>> h = DVH(name="PTV", bin_edges_gy=np.array([0.0, 1.0, 2.0]),
        ...         differential=np.array([0.25, 0.75]), volume_cc=8.0)
        >>> h.to_pandas()["cumulative_percent"].tolist()
        [100.0, 75.0, 0.0]
        """
        return dvhs_to_pandas([self])

    def __repr__(self) -> str:
        return (
            f"DVH(name={self.name!r}, volume_cc={self.volume_cc:.4g}, "
            f"mean_gy={self.mean_gy:.4g}, min_gy={self.min_gy:.4g}, max_gy={self.max_gy:.4g}, "
            f"bins={self.differential.size}, source={self.source!r})"
        )


def empty_dvh(name: str, structure_volume_cc: float, **kw: Any) -> DVH:
    """A DVH holding no volume (one bin from 0 to 0.01 Gy)."""
    return DVH(
        name=name,
        bin_edges_gy=np.array([0.0, 0.01]),
        differential=np.zeros(1),
        volume_cc=0.0,
        structure_volume_cc=structure_volume_cc,
        **kw,
    )


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _from_json_float(x: object) -> float:
    return math.nan if x is None else float(x)  # type: ignore[arg-type]


def _vu(unit: str) -> VolumeUnit:
    return volume_unit(unit)


def _dose_level(dose: float, dose_unit: str, prescription_gy: float | None) -> float:
    u = dose_unit.strip().lower()
    if u == "gy":
        return float(dose)
    if u == "cgy":
        return float(dose) / 100.0
    if u in ("%", "percent"):
        if prescription_gy is None or not prescription_gy > 0:
            raise EvaluationError(
                "a dose in % of the prescription needs prescription_gy (a positive dose)"
            )
        return float(dose) / 100.0 * float(prescription_gy)
    raise EvaluationError(f"dose unit must be 'Gy', 'cGy' or '%', got {dose_unit!r}")


def read_dvhs_json(path: str | Path) -> dict[str, DVH]:
    """Read DVHs written by :func:`write_dvhs_json` (or one written by :meth:`DVH.to_json`).

    Parameters
    ----------
    path : str or Path
        The JSON file.

    Returns
    -------
    dict of str to DVH
        Keyed by structure name, in file order.

    Raises
    ------
    EvaluationError
        If the file is not such a JSON file.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from rtplan.evaluate import DVH, read_dvhs_json, write_dvhs_json
    >>> h = DVH(name="PTV", bin_edges_gy=np.array([0.0, 1.0, 2.0]),
    ...         differential=np.array([0.25, 0.75]), volume_cc=8.0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = read_dvhs_json(write_dvhs_json([h], pathlib.Path(tmp, "dvhs.json")))
    >>> back["PTV"].V(1.0), back["PTV"].volume_cc
    (75.0, 8.0)
    """
    out = [DVH.from_dict(d) for d in read_records(path)]
    return {h.name: h for h in out}
