"""Fixtures of the file and privacy tests: the hostile study, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from files.hostile_study import HostileStudy, make_hostile_study


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> HostileStudy:
    return make_hostile_study(tmp_path_factory.mktemp("hostile") / "study")


@pytest.fixture(scope="session")
def hostile_path(hostile: HostileStudy) -> Path:
    return hostile.folder
