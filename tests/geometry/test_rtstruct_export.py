"""Derived structures (margins, crops, booleans) written to RT-Struct and read back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

import rtplan
from rtplan import Structure, geometry
from rtplan.errors import RtplanWarning
from rtplan.io import read_rtstruct, write_rtstruct


def layer_cc(s: Structure, grid: rtplan.Grid) -> float:
    """Volume of one voxel layer over the structure's surface (its boundary voxels), cm³."""
    from scipy import ndimage

    m = s.mask(grid)
    shell = m & ~ndimage.binary_erosion(m)
    return float(np.count_nonzero(shell)) * grid.voxel_volume_mm3 / 1000.0


@pytest.mark.parametrize("sample", ["thigh_sarcoma", "spine_metastasis"])
def test_derived_structures_write_validate_and_read_back(
    sample: str, tmp_path: Path, dciodvfy: Callable[[Path], list[str]]
) -> None:
    study = rtplan.load_study(rtplan.data.get_path(sample))
    ct, ss = study.ct, study.structures
    ptv, body = ss["PTV"], ss["Body"]
    derived = [
        ptv.expand(5.0),
        geometry.expand(ptv, {"LR": 3, "AP": 5, "SI": 7}),
        geometry.crop(ptv.expand(5.0), to=body, inset_mm=3.0, name="PTV eval"),
        ptv.expand(10.0) - ptv,
        geometry.contract(ptv, 3.0),
    ]
    out = write_rtstruct(derived, tmp_path / "RS.dcm", reference=ct)
    assert dciodvfy(out) == []
    ds = pydicom.dcmread(out)
    assert ds.Modality == "RTSTRUCT"
    assert ds.FrameOfReferenceUID == ct.series.frame_of_reference_uid  # type: ignore[union-attr]
    back = read_rtstruct(out, reference=ct)
    assert back.names == [s.name for s in derived]
    for s in derived:
        r = back[s.name]
        assert r.mask_image is None  # read back as contours
        assert r.generation == "AUTOMATIC"
        # the contours run midway between inside and outside voxel centres: the same voxels
        np.testing.assert_array_equal(r.mask(ct.grid), s.mask(ct.grid), err_msg=s.name)
        assert abs(r.volume_cc - s.volume_cc) < layer_cc(s, ct.grid), s.name


def test_margin_beyond_the_ct_is_written_and_kept(
    thigh_path: Path, tmp_path: Path, dciodvfy: Callable[[Path], list[str]]
) -> None:
    """A margin reaching past the last CT slice keeps its contours there (no data lost);
    the reader reports them."""
    study = rtplan.load_study(thigh_path)
    ct = study.ct
    grown = geometry.expand(study.structures["PTV"], {"S": 30.0})
    assert grown.mask_image is not None
    top_ct = ct.grid.corners_mm()[:, 2].max()
    assert grown.bounds_mm()[1][2] > top_ct + 20.0  # the result reaches past the CT
    out = write_rtstruct([grown], tmp_path / "RS.dcm", reference=ct)
    assert dciodvfy(out) == []
    with pytest.warns(RtplanWarning, match="outside the CT's slices"):
        back = read_rtstruct(out, reference=ct)[grown.name]
    assert len(back.contours) == len(grown.contours)
    assert back.volume_cc == pytest.approx(grown.volume_cc, abs=layer_cc(grown, grown.grid))
    np.testing.assert_array_equal(back.mask(ct.grid), grown.mask(ct.grid))
