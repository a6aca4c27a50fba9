from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from rtplan import plugins


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    eps = [
        EntryPoint(name="good", value="math:sqrt", group="rtplan.dose_engines"),
        EntryPoint(
            name="broken", value="rtplan_no_such_module:Engine", group="rtplan.dose_engines"
        ),
    ]

    def fake(group: str) -> list[EntryPoint]:
        return [e for e in eps if e.group == group]

    monkeypatch.setattr(plugins, "entry_points", fake)
    plugins.clear_cache()
    yield
    plugins.clear_cache()


@pytest.mark.usefixtures("fake_entry_points")
def test_plugins_load_lazily_and_broken_ones_warn() -> None:
    import math

    assert plugins.available("rtplan.dose_engines") == ["broken", "good"]
    assert plugins.load("rtplan.dose_engines", "good") is math.sqrt
    with pytest.warns(plugins.PluginWarning, match="broken.*failed to load"):
        assert plugins.load("rtplan.dose_engines", "broken") is None
    assert plugins.load("rtplan.dose_engines", "absent") is None
    assert list(plugins.load_all("rtplan.dose_engines")) == ["good"]  # cached: no new warning
