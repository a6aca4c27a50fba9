"""Features against the synthetic anatomy's ground truth; the registry and its plugins."""

from __future__ import annotations

import math
from importlib.metadata import EntryPoint
from pathlib import Path

import duckdb
import pytest

from rtplan import library, plugins
from rtplan.library import StudyContext, SyntheticStudy


def _features(db: Path) -> dict[tuple[str, str], tuple[float, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT s.folder || '|' || s.patient_age_years, f.feature, f.value, f.unit "
            "FROM features f JOIN studies s USING (study_key)"
        ).fetchall()
    finally:
        con.close()
    return {(str(a), str(b)): (float(c), str(d)) for a, b, c, d in rows if c is not None}


def _key(s: SyntheticStudy) -> str:
    return f"{s.folder}|{float(s.age_years)}"


def test_tissue_features_match_the_painted_anatomy(
    synthetic: tuple[Path, list[SyntheticStudy]], indexed: tuple[Path, library.IndexSummary]
) -> None:
    _, studies = synthetic
    db, _ = indexed
    f = _features(db)
    for s in (s for s in studies if not s.broken):
        k = _key(s)
        # fat is painted at -100 HU and muscle at s.muscle_hu, with 12 HU noise
        assert f[k, "tissue.fat_mean_hu"][0] == pytest.approx(-100.0, abs=4.0)
        assert f[k, "tissue.muscle_mean_hu"][0] == pytest.approx(s.muscle_hu, abs=8.0)
        # bone mixes cortex and marrow: between the two painted values (noise: 12 HU)
        assert s.cancellous_hu - 10.0 < f[k, "tissue.bone_mean_hu"][0] < s.cortical_hu + 10.0
        assert f[k, "tissue.bone_mean_density_g_cm3"][1] == "g/cm3"
        # the contoured bone: cortex around marrow, so its mean lies between the two
        assert s.cancellous_hu - 10.0 < f[k, "tissue.bone_structures_mean_hu"][0] < s.cortical_hu
        parts = sum(f[k, f"tissue.{t}_fraction_percent"][0] for t in ("bone", "muscle", "fat"))
        assert 75.0 < parts <= 100.5  # the rest: other soft tissue, the outline's edge


def test_target_features_match_the_written_target(
    synthetic: tuple[Path, list[SyntheticStudy]], indexed: tuple[Path, library.IndexSummary]
) -> None:
    _, studies = synthetic
    db, _ = indexed
    f = _features(db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        gtv = {
            f"{folder}|{age}": (bone, float(d))
            for folder, age, bone, d in con.execute(
                "SELECT s.folder, s.patient_age_years, nearest_bone, nearest_bone_distance_mm "
                "FROM structures JOIN studies s USING (study_key) WHERE name = 'GTV'"
            ).fetchall()
        }
    finally:
        con.close()
    for s in (s for s in studies if not s.broken):
        k = _key(s)
        a = s.target_radius_mm + 5.0  # the PTV: an ellipsoid of semi-axes a, 0.9 a... + 5 mm
        semi = (a, s.target_radius_mm * 0.9 + 5.0, s.target_radius_mm * 1.1 + 5.0)
        volume, unit = f[k, "target.volume_cc"]
        assert unit == "cm3"
        assert volume == pytest.approx(4.0 / 3.0 * math.pi * math.prod(semi) / 1000.0, rel=0.08)
        bone, distance = gtv[k]
        assert bone == s.bone
        assert distance == pytest.approx(s.target_gap_mm, abs=3.0)


@pytest.fixture
def registry_guard():  # type: ignore[no-untyped-def]
    yield
    for name in ("ptv_share", "broken_feature"):
        library.unregister_feature(name)
    plugins.clear_cache()


@pytest.mark.usefixtures("registry_guard")
def test_user_features_plugins_and_broken_ones(
    small_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, db = small_copy

    @library.feature("ptv_share")
    def ptv_share(ctx: StudyContext) -> dict[str, tuple[float | None, str]]:
        body_cc = float(ctx.body.sum()) * ctx.study.ct.grid.voxel_volume_mm3 / 1000.0
        t = ctx.target
        return {"of_body_percent": (None if t is None else 100 * t.volume_cc / body_cc, "%")}

    def broken(ctx: StudyContext) -> dict[str, tuple[float | None, str]]:
        raise ValueError("no luck")

    library.register_feature("broken_feature", broken)
    eps = [
        EntryPoint(name="plugin_feature", value="rtplan.library._features:target_feature",
                   group=library.FEATURE_GROUP),
        EntryPoint(name="missing_plugin", value="rtplan_no_such_module:feature",
                   group=library.FEATURE_GROUP),
    ]  # fmt: skip
    monkeypatch.setattr(plugins, "entry_points", lambda group: [e for e in eps if e.group == group])
    plugins.clear_cache()
    assert {"ptv_share", "plugin_feature", "missing_plugin"} <= set(library.available_features())
    with pytest.warns(plugins.PluginWarning, match="missing_plugin.*failed to load"):
        summary = library.index(root, db, features=None)
    assert summary.failed == 0
    with library.open_library(db) as lib:
        rows = lib.query(
            "SELECT feature, unit, count(*) AS n FROM features WHERE feature "
            "LIKE 'ptv_share.%' OR feature LIKE 'plugin_feature.%' GROUP BY ALL"
        )
        warnings = lib.query("SELECT warnings FROM studies")
    found = {r["feature"]: (r["unit"], r["n"]) for r in rows}
    assert found["ptv_share.of_body_percent"] == ("%", 4)
    assert found["plugin_feature.volume_cc"] == ("cm3", 4)
    assert all("feature 'broken_feature' failed: ValueError: no luck" in w["warnings"]
               for w in warnings)  # fmt: skip


def test_registry_refuses_bad_names() -> None:
    with pytest.raises(library.LibraryError, match="must be letters"):
        library.register_feature("has space", lambda ctx: {})
    with pytest.raises(library.LibraryError, match="already registered"):
        library.register_feature("tissue", lambda ctx: {})
