"""Shared fixtures: sample studies, the sample-data generator, validators."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

# sample_data/ holds the generator of the sample studies, ``make_phantoms``, imported by tests
# for its ground truth; tests/ holds the shared test modules (factories, ct_factory, ...).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sample_data"))
sys.path.insert(0, str(Path(__file__).parent))

import factories


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """Fixture files are not doctest modules.

    ``--doctest-modules`` would import each ``conftest.py`` once more as a module named
    ``conftest``, and two of them in one run then collide ("import file mismatch").
    """
    return True if collection_path.name == "conftest.py" else None


@pytest.fixture(scope="session")
def thigh_path() -> Path:
    from rtplan.data import get_path

    return get_path("thigh_sarcoma")


@pytest.fixture(scope="session")
def spine_path() -> Path:
    from rtplan.data import get_path

    return get_path("spine_metastasis")


@pytest.fixture(scope="session")
def dciodvfy():  # type: ignore[no-untyped-def]
    """Function returning the dciodvfy error lines of a file."""
    return factories.dciodvfy


@pytest.fixture(scope="session")
def phantoms() -> ModuleType:
    """The sample-data generator module (ground truth: labels, analytic volumes)."""
    import make_phantoms

    return make_phantoms
