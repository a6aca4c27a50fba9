"""Population statistics: the table against the stored values, the report, the files."""

from __future__ import annotations

import statistics
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rtplan import library
from rtplan.library import LibraryError


def test_groups_and_moments_match_the_stored_values(
    indexed: tuple[Path, library.IndexSummary],
) -> None:
    db, summary = indexed
    stats = library.population_stats(db, by=["sex", "age"])
    name = "tissue.muscle_mean_hu"
    rows = [r for r in stats.rows if r["feature"] == name]
    assert sum(r["n"] for r in rows) == summary.studies
    assert {r["unit"] for r in rows} == {"HU"}
    with library.open_library(db) as lib:
        raw = lib.query(
            "SELECT patient_sex AS sex, patient_age_years AS age, value FROM features "
            "JOIN studies USING (study_key) WHERE feature = ? AND status = 'ok'",
            [name],
        )
    for r in rows:
        first, _, last = r["age"].partition("-")  # "30-39" or "80+"
        lo, hi = int(first.rstrip("+")), int(last) + 1 if last else 1000
        values = [v["value"] for v in raw if v["sex"] == r["sex"] and lo <= v["age"] < hi]
        assert r["n"] == len(values)
        assert r["mean"] == pytest.approx(statistics.fmean(values))
        assert r["median"] == pytest.approx(statistics.median(values))


def test_report_and_tables(indexed: tuple[Path, library.IndexSummary], tmp_path: Path) -> None:
    db, _ = indexed
    stats = library.population_stats(db, by=["sex"])
    html = library.write_population_report(stats, tmp_path / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 1
    assert "tissue.bone_structures_mean_density_g_cm3" in html
    back = pq.read_table(stats.to_parquet(tmp_path / "stats.parquet"))
    assert back.num_rows == len(stats.rows)
    csv = stats.to_csv(tmp_path / "stats.csv").read_text().splitlines()
    assert csv[0].startswith("sex,feature,unit,n,mean")
    assert len(csv) == len(stats.rows) + 1
    png = library.write_population_png(stats, tmp_path / "population.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "population.png", "report.html", "stats.csv", "stats.parquet"
    ]  # fmt: skip


def test_unknown_groupings_and_features_are_refused(
    indexed: tuple[Path, library.IndexSummary],
) -> None:
    db, _ = indexed
    with pytest.raises(LibraryError, match="cannot group by height"):
        library.population_stats(db, by=["height"])
    with pytest.raises(LibraryError, match=r"has no feature tissue\.nothing"):
        library.population_stats(db, features=["tissue.nothing"])
