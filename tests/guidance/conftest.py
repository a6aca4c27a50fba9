"""Fixtures of the guidance tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtplan import Image
from rtplan.testing import CylinderPhantom as Phantom
from rtplan.testing import cylinder_phantom


@pytest.fixture(scope="session")
def phantom() -> Phantom:
    return cylinder_phantom()


@pytest.fixture(scope="session")
def dicom_ct(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The cylinder phantom written as a CT series and read back with rtplan.io.read_ct."""
    import factories
    from rtplan.io import read_ct

    p = cylinder_phantom()
    folder: Path = tmp_path_factory.mktemp("ct")
    g = p.ct.grid
    factories.write_ct_series(
        folder, np.asarray(p.ct.array), origin_mm=g.origin_mm, spacing_mm=g.spacing_mm
    )
    ct = read_ct(folder)
    assert ct.grid.isclose(g)
    return ct
