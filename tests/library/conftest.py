"""A small synthetic library, written and indexed once per session (never committed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rtplan import library
from rtplan.library import SyntheticStudy

N_STUDIES = 10
SEED = 7


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SyntheticStudy]]:
    """10 studies (thigh, spine, arm; every 4th planned), junk files and one broken study."""
    root = tmp_path_factory.mktemp("library") / "dicom"
    studies = library.synthetic_library(root, N_STUDIES, seed=SEED, plan_every=4)
    return root, studies


@pytest.fixture(scope="session")
def indexed(
    synthetic: tuple[Path, list[SyntheticStudy]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, library.IndexSummary]:
    """The library indexed serially; tests only read it."""
    root, _ = synthetic
    db = tmp_path_factory.mktemp("db") / "library.duckdb"
    summary = library.index(root, db)
    return db, summary


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SyntheticStudy]]:
    """Four studies without plans or junk, for the tests that change a library."""
    root = tmp_path_factory.mktemp("small") / "dicom"
    studies = library.synthetic_library(root, 4, seed=SEED + 1, plan_every=0, junk=False)
    return root, studies


@pytest.fixture
def small_copy(small: tuple[Path, list[SyntheticStudy]], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the small tree (modification times kept) and a database path."""
    root, _ = small
    copy = tmp_path / "dicom"
    shutil.copytree(root, copy)
    return copy, tmp_path / "library.duckdb"


@pytest.fixture(scope="session")
def planned(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, list[SyntheticStudy]]:
    """Five thigh studies, each with a plan and an analytic dose, indexed."""
    root = tmp_path_factory.mktemp("planned") / "dicom"
    studies = library.synthetic_library(
        root, 5, seed=SEED + 2, plan_every=1, junk=False, sites=("thigh",)
    )
    db = root.parent / "planned.duckdb"
    library.index(root, db, features=["target"])
    return root, db, studies
