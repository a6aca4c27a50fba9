"""Population statistics: tissue features by sex, age band and site, with an HTML report."""

from __future__ import annotations

import base64
import csv
import html
import io
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtplan.library._errors import LibraryError
from rtplan.library._query import Library

__all__ = [
    "AGE_BANDS",
    "DEFAULT_STATS_FEATURES",
    "GROUPINGS",
    "PopulationStats",
    "population_stats",
    "write_population_report",
]

logger = logging.getLogger(__name__)

#: Features summarised by default: how bone, muscle and fat vary.
DEFAULT_STATS_FEATURES = (
    "tissue.bone_structures_mean_density_g_cm3",
    "tissue.bone_mean_hu",
    "tissue.muscle_mean_hu",
    "tissue.muscle_fraction_percent",
    "tissue.fat_fraction_percent",
    "tissue.bone_fraction_percent",
)

#: Lower bounds of the age bands (years); the last band is open.
AGE_BANDS = (0, 18, 30, 40, 50, 60, 70, 80)

_AGE_SQL = (
    "CASE WHEN patient_age_years IS NULL THEN 'unknown' "
    + " ".join(
        f"WHEN patient_age_years < {hi} THEN '{lo}-{hi - 1}'"
        for lo, hi in itertools.pairwise(AGE_BANDS)
    )
    + f" ELSE '{AGE_BANDS[-1]}+' END"
)

#: What ``by`` may name, and the SQL of each grouping.
GROUPINGS = {
    "sex": "coalesce(patient_sex, 'unknown')",
    "age": _AGE_SQL,
    "site": "coalesce(target_site, 'unknown')",
    "position": "coalesce(patient_position, 'unknown')",
}

_STATS = ("n", "mean", "sd", "median", "q1", "q3", "min", "max")


@dataclass(frozen=True, kw_only=True, slots=True)
class PopulationStats:
    """Feature distributions by group.

    Attributes
    ----------
    by : tuple of str
        The groupings (:data:`GROUPINGS`), in order.
    features : tuple of str
    rows : tuple of dict
        One per group and feature: the group values, ``feature``, ``unit``, ``n``,
        ``mean``, ``sd``, ``median``, ``q1``, ``q3``, ``min``, ``max``.
    values : tuple of dict
        The per-study values behind them (``age_years``, group values, ``feature``,
        ``value``), for plots.
    db : str
    """

    by: tuple[str, ...]
    features: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    values: tuple[dict[str, Any], ...]
    db: str

    @property
    def columns(self) -> list[str]:
        """Column names of :attr:`rows`."""
        return [*self.by, "feature", "unit", *_STATS]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (what ``rtplan library stats --json`` prints)."""
        return {"db": self.db, "by": list(self.by), "features": list(self.features),
                "rows": [dict(r) for r in self.rows]}  # fmt: skip

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (one row per group and feature).

        The statistics have the precision of the feature's unit
        (:func:`rtplan._format.csv_number`: 0.01 Gy, 0.01 cm³, 0.1 %, 0.1 mm; 4
        significant figures otherwise), counts are integers, missing values empty.

        Parameters
        ----------
        path : str or Path
            The CSV file (written atomically).

        Returns
        -------
        Path
        """
        from rtplan._format import csv_number
        from rtplan.io import atomic_open

        p = Path(path)
        with atomic_open(p, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            for row in self.rows:
                unit = str(row.get("unit") or "")
                writer.writerow(
                    {k: csv_number(v, unit if k in _STATS else None) for k, v in row.items()}
                )
        return p

    def to_parquet(self, path: str | Path) -> Path:
        """Write the table as Parquet."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = Path(path)
        columns = {c: [r.get(c) for r in self.rows] for c in self.columns}
        pq.write_table(pa.table(columns), p)
        return p


def population_stats(
    db: str | Path | Library,
    *,
    by: Sequence[str] = ("sex", "age"),
    features: Sequence[str] = DEFAULT_STATS_FEATURES,
) -> PopulationStats:
    """Distributions of features over the library's readable studies, by group.

    Parameters
    ----------
    db : str, pathlib.Path or Library
    by : sequence of str
        Groupings from :data:`GROUPINGS`: ``"sex"``, ``"age"`` (bands of
        :data:`AGE_BANDS`), ``"site"`` (nearest bone of the target), ``"position"``.
    features : sequence of str
        Feature names as stored (``"tissue.bone_mean_hu"``).

    Returns
    -------
    PopulationStats

    Raises
    ------
    LibraryError
        If a grouping or a feature is unknown.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan import library
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = library.synthetic_library(tmp / "dicom", 1, junk=False, plan_every=0)
    >>> _ = library.index(tmp / "dicom", tmp / "lib.duckdb")
    >>> stats = library.population_stats(tmp / "lib.duckdb", by=["sex"],
    ...                                  features=["tissue.bone_mean_hu"])
    >>> [(r["sex"], r["n"], r["unit"]) for r in stats.rows]
    [('M', 1, 'HU')]
    >>> import shutil; shutil.rmtree(tmp)
    """
    unknown = [b for b in by if b not in GROUPINGS]
    if unknown or not by:
        raise LibraryError(
            f"cannot group by {', '.join(unknown) or 'nothing'}; choose from {', '.join(GROUPINGS)}"
        )
    lib = db if isinstance(db, Library) else Library(db)
    try:
        known = {r["feature"] for r in lib.query("SELECT DISTINCT feature FROM features")}
        missing = [f for f in features if f not in known]
        if missing:
            raise LibraryError(
                f"{lib.path} has no feature {', '.join(missing)}; it has: "
                f"{', '.join(sorted(known)) or 'none (index a folder first)'}"
            )
        groups = ", ".join(f"{GROUPINGS[b]} AS {b}" for b in by)
        names = ", ".join(by)
        base = (
            f"WITH s AS (SELECT study_key, patient_age_years AS age_years, {groups} "
            "FROM studies WHERE status = 'ok'), v AS (SELECT s.*, f.feature, f.unit, f.value "
            "FROM s JOIN features f USING (study_key) WHERE f.value IS NOT NULL AND "
            "f.feature IN (SELECT unnest(?::VARCHAR[])))"
        )
        rows = lib.query(
            f"{base} SELECT {names}, feature, any_value(unit) AS unit, count(*) AS n, "
            "avg(value) AS mean, stddev_samp(value) AS sd, median(value) AS median, "
            "quantile_cont(value, 0.25) AS q1, quantile_cont(value, 0.75) AS q3, "
            f"min(value) AS min, max(value) AS max FROM v GROUP BY {names}, feature "
            f"ORDER BY feature, {names}",
            [list(features)],
        )
        values = lib.query(
            f"{base} SELECT age_years, {names}, feature, value FROM v ORDER BY feature",
            [list(features)],
        )
    finally:
        if lib is not db:
            lib.close()
    return PopulationStats(
        by=tuple(by), features=tuple(features), rows=tuple(rows), values=tuple(values),
        db=str(lib.path),
    )  # fmt: skip


# ---------------------------------------------------------------------------- report
def _figure_png(stats: PopulationStats) -> bytes:
    """One panel per feature: values against age, one colour per sex, band means joined."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n = len(stats.features)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(4.6 * cols, 3.6 * rows), dpi=110, layout="constrained")
    colours = {"F": "#c0392b", "M": "#2471a3", "O": "#7d3c98", "unknown": "#7f8c8d"}
    for i, name in enumerate(stats.features):
        ax = fig.add_subplot(rows, cols, i + 1)
        points = [v for v in stats.values if v["feature"] == name and v["age_years"] is not None]
        sexes = sorted({str(v.get("sex", "all")) for v in points})
        for sex in sexes:
            mine = [v for v in points if str(v.get("sex", "all")) == sex]
            colour = colours.get(sex, "#555555")
            ax.scatter([v["age_years"] for v in mine], [v["value"] for v in mine], s=6,
                       alpha=0.35, color=colour, label=f"{sex} (n={len(mine)})")  # fmt: skip
            bands = sorted({int(v["age_years"] // 10 * 10) for v in mine})
            means = []
            for b in bands:
                vals = [v["value"] for v in mine if b <= v["age_years"] < b + 10]
                means.append(sum(vals) / len(vals))
            ax.plot([b + 5 for b in bands], means, "-o", ms=3, lw=1.6,
                    color=colours.get(sex, "#555555"))  # fmt: skip
        unit = next((r["unit"] for r in stats.rows if r["feature"] == name), "")
        ax.set_title(name.replace("tissue.", ""), fontsize=10)
        ax.set_xlabel("age (years)")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        if sexes:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle("Tissue features by age and sex (lines: decade means)", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def write_population_report(stats: PopulationStats, path: str | Path) -> Path:
    """Write a self-contained HTML report (plots embedded as PNG, tables).

    Parameters
    ----------
    stats : PopulationStats
    path : str or pathlib.Path
        The HTML file (written whole or not at all).

    Returns
    -------
    pathlib.Path
    """
    from rtplan.io import atomic_open

    if not stats.rows:
        raise LibraryError(f"{stats.db}: no study has the features asked; nothing to report")
    png = base64.b64encode(_figure_png(stats)).decode("ascii")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in stats.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in stats.columns) + "</tr>"
        for r in stats.rows
    )
    n_studies = len({(v.get("age_years"), *(v.get(b) for b in stats.by)) for v in stats.values})
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rtplan population statistics</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;
font-size:12px}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
th{{background:#eee}}img{{max-width:100%}}</style></head><body>
<h1>Population statistics</h1>
<p>Library <code>{html.escape(stats.db)}</code>; grouped by {html.escape(", ".join(stats.by))};
about {n_studies} studies. Tissue inside the body: bone and muscle from rtplan's automatic
segmentation, fat from the adipose HU class; densities from the Schneider (2000)
calibration.</p>
<img alt="tissue features by age and sex" src="data:image/png;base64,{png}">
<h2>Table</h2>
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table></body></html>
"""
    p = Path(path)
    with atomic_open(p, "w", encoding="utf-8") as fh:
        fh.write(page)
    return p


def write_population_png(stats: PopulationStats, path: str | Path) -> Path:
    """Write the population plot alone as a PNG file, atomically.

    Parameters
    ----------
    stats : PopulationStats
        From :func:`population_stats`.
    path : str or Path
        The PNG to write (replaced whole, or left as it was if the write fails).

    Returns
    -------
    Path
    """
    from rtplan.io import atomic_open

    p = Path(path)
    with atomic_open(p, "wb") as fh:
        fh.write(_figure_png(stats))
    return p
