"""Shared fixtures: sample studies, synthetic DICOM factories, validators."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # make tests/factories.py importable

import factories


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
def phantoms():  # type: ignore[no-untyped-def]
    """The sample-data generator module (ground truth: labels, analytic volumes)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "sample_data" / "make_phantoms.py"
    spec = importlib.util.spec_from_file_location("make_phantoms", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_phantoms", module)
    spec.loader.exec_module(module)
    return module
