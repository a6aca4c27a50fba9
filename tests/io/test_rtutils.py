"""rt-utils interchange (rtplan.io.to_rtutils / from_rtutils), checked with rt-utils itself.

rt-utils' boundary convention (its ``image_helper``): it draws a mask's contours through
the centres of the boundary pixels, and makes a mask of a contour by filling the polygon
of its vertices rounded to pixel centres, outline included. rtplan counts a voxel in when
its centre is inside the polygon. So, on the same contours, rt-utils' mask holds rtplan's
less at most its boundary ring and stays within a pixel of it (a vertex rounded outwards
can reach a second pixel); and rtplan's mask of rt-utils' contours of a mask holds that
mask less at most its boundary ring, never more.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

import factories
import rtplan
from rtplan import Image, RtplanWarning, Structure
from rtplan.errors import DicomReadError, DicomWriteError
from rtplan.io import from_rtutils, read_ct, read_rtstruct, to_rtutils

pytestmark = pytest.mark.peer

BoolArray = npt.NDArray[np.bool_]
IN_PLANE_CROSS = np.array([[[0, 0, 0], [0, 0, 0], [0, 0, 0]],
                           [[0, 1, 0], [1, 1, 1], [0, 1, 0]],
                           [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], dtype=bool)  # fmt: skip


@pytest.fixture(scope="module")
def study(thigh_path: Path) -> rtplan.Study:
    return rtplan.load_study(thigh_path)


def _theirs(rts: Any, name: str) -> BoolArray:
    """rt-utils' mask of an ROI in rtplan's (k, j, i) order."""
    return np.asarray(rts.get_roi_mask_by_name(name), dtype=bool).transpose(2, 0, 1)


def _new_rtstruct(folder: Path) -> Any:
    """``RTStructBuilder.create_new``, as pipelines start (pydicom warns about rt-utils)."""
    from rt_utils import RTStructBuilder

    with pytest.warns(DeprecationWarning, match=r"'FileDataset\.is_(little_endian|implicit_VR)'"):
        return RTStructBuilder.create_new(dicom_series_path=str(folder))


def _pixels_from(mask: BoolArray) -> npt.NDArray[np.float64]:
    """In-plane distance of every voxel to ``mask``, in pixels (0 inside)."""
    return np.asarray(ndimage.distance_transform_edt(~mask, sampling=(1e6, 1.0, 1.0)))


# ---------------------------------------------------------------------------- to rt-utils
def test_to_rtutils_keeps_the_rois_and_rtutils_masks_follow_its_convention(
    study: rtplan.Study,
) -> None:
    structures = study.structures
    rts = to_rtutils(structures, study.ct)
    assert rts.get_roi_names() == structures.names
    ds = rts.ds
    assert [int(r.ROINumber) for r in ds.StructureSetROISequence] == [s.number for s in structures]
    assert [tuple(int(v) for v in rc.ROIDisplayColor) for rc in ds.ROIContourSequence] == [
        s.color for s in structures
    ]
    assert [o.RTROIInterpretedType for o in ds.RTROIObservationsSequence] == [
        s.interpreted_type for s in structures
    ]
    assert len(rts.series_data) == study.ct.grid.shape[0]
    assert study.ct.series is not None
    assert [d.SOPInstanceUID for d in rts.series_data] == list(study.ct.series.sop_instance_uids)

    grid = study.ct.grid
    dice = {}
    for s in structures:
        if not s.has_volume:
            continue
        ours = s.mask(grid)
        theirs = _theirs(rts, s.name)
        inner = ndimage.binary_erosion(ours, IN_PLANE_CROSS)
        assert np.all(theirs[inner]), s.name  # all but our boundary ring
        reach = _pixels_from(ours)[theirs]
        assert reach.max() <= 2.0, s.name  # a rounded vertex reaches at most 2 pixels out
        assert np.count_nonzero(reach > 1.5) <= 1e-4 * ours.sum(), s.name
        dice[s.name] = 2 * np.count_nonzero(ours & theirs) / (ours.sum() + theirs.sum())
    assert len(dice) == 11
    # the boundary ring is all that differs: large structures agree closely
    assert dice["Body"] > 0.98
    assert dice["PTV"] > 0.97
    assert min(dice.values()) > 0.8  # the 1.2 cm3 neurovascular bundle


def test_to_rtutils_from_the_ct_folder_saves_what_rtplan_reads_back(
    study: rtplan.Study, thigh_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ptv, femur = study.structures["PTV"], study.structures["Femur"]
    rts = to_rtutils([ptv, femur], thigh_path, label="FROM RTPLAN")
    out = tmp_path / "RS.dcm"
    rts.save(str(out))  # rt-utils' own writer
    assert "Writing file to" in capsys.readouterr().out
    back = read_rtstruct(out, reference=study.ct)
    assert back.label == "FROM RTPLAN"
    for s in (ptv, femur):
        b = back[s.name]
        assert (b.number, b.color, b.interpreted_type) == (s.number, s.color, s.interpreted_type)
        assert len(b.contours) == len(s.contours)
        for c, d in zip(s.contours, b.contours, strict=True):
            np.testing.assert_allclose(d.points_mm, c.points_mm, rtol=0, atol=1e-5)
        assert b.volume_cc == pytest.approx(s.volume_cc, rel=1e-6)


def test_round_trip_through_rtutils_is_lossless(study: rtplan.Study) -> None:
    back = from_rtutils(to_rtutils(study.structures, study.ct), reference=study.ct)
    assert back.frame_of_reference_uid == study.structures.frame_of_reference_uid
    assert back.source is None
    for s in study.structures:
        b = back[s.name]
        assert (b.number, b.color, b.interpreted_type, b.generation, b.description) == (
            s.number,
            s.color,
            s.interpreted_type,
            s.generation,
            s.description,
        )
        assert [c.geometric_type for c in b.contours] == [c.geometric_type for c in s.contours]
        for c, d in zip(s.contours, b.contours, strict=True):
            np.testing.assert_allclose(d.points_mm, c.points_mm, rtol=0, atol=1e-5)
            assert d.image_uid == c.image_uid
    grid = study.ct.grid
    np.testing.assert_array_equal(back["GTV"].mask(grid), study.structures["GTV"].mask(grid))


def test_to_rtutils_needs_the_ct_files(study: rtplan.Study) -> None:
    assert study.ct.series is not None
    no_files = replace(study.ct, series=replace(study.ct.series, files=()))
    with pytest.raises(
        DicomWriteError,
        match=r"an rt-utils RTStruct: it references the CT files.* one file per slice",
    ):
        to_rtutils(study.structures, no_files)
    with pytest.raises(DicomWriteError, match=r"carries no DICOM study"):
        to_rtutils(study.structures, Image(array=study.ct.array, grid=study.ct.grid))


# ---------------------------------------------------------------------------- from rt-utils
def _blob(shape: tuple[int, ...], seed: int) -> BoolArray:
    """A smooth random blob with holes and islands (fixed seed), in 10 slices of 60 x 60."""
    rng = np.random.default_rng(seed)
    blob = ndimage.gaussian_filter(rng.random((10, 60, 60)), 2.0) > 0.52
    out = np.zeros(shape, dtype=bool)
    out[5:15, 30:90, 30:90] = ndimage.binary_opening(blob, iterations=1)
    return out


def test_rtutils_masks_become_structures(study: rtplan.Study, thigh_path: Path) -> None:
    grid = study.ct.grid
    blob = _blob(grid.shape, seed=3)
    ring = study.structures["PTV"].mask(grid) & ~study.structures["GTV"].mask(grid)  # a hole
    rts = _new_rtstruct(thigh_path)
    rts.add_roi(mask=blob.transpose(1, 2, 0), name="Blob", color=[10, 20, 30])
    rts.add_roi(mask=ring.transpose(1, 2, 0), name="Ring", color=[200, 100, 0])
    # rt-utils recovers its input from the contours it drew (its own convention)
    np.testing.assert_array_equal(_theirs(rts, "Blob"), blob)
    np.testing.assert_array_equal(_theirs(rts, "Ring"), ring)

    # voxel for voxel what rt-utils gives
    exact = from_rtutils(rts, reference=study.ct, from_masks=True)
    assert [(s.number, s.name, s.color) for s in exact] == [
        (1, "Blob", (10, 20, 30)),
        (2, "Ring", (200, 100, 0)),
    ]
    for name, mask in (("Blob", blob), ("Ring", ring)):
        np.testing.assert_array_equal(exact[name].mask(grid), mask)
        assert exact[name].generation == "AUTOMATIC"

    # the contours as drawn: rt-utils' mask less at most its boundary ring, never more
    with pytest.warns(
        RtplanWarning, match=r"ROI 'Blob': \d+ closed contour\(s\) with fewer than 3 points"
    ):
        drawn = from_rtutils(rts, reference=study.ct)
    for name, mask in (("Blob", blob), ("Ring", ring)):
        ours = drawn[name].mask(grid)
        assert not np.any(ours & ~mask), name
        assert np.all(ours[ndimage.binary_erosion(mask, IN_PLANE_CROSS)]), name
    ring_dice = (
        2
        * np.count_nonzero(drawn["Ring"].mask(grid) & ring)
        / (drawn["Ring"].mask(grid).sum() + ring.sum())
    )
    assert ring_dice > 0.97


def test_from_rtutils_reads_the_ct_rtutils_holds(study: rtplan.Study, thigh_path: Path) -> None:
    rts = _new_rtstruct(thigh_path)
    box = np.zeros(study.ct.grid.shape, dtype=bool)
    box[5:15, 30:70, 40:90] = True
    rts.add_roi(mask=box.transpose(1, 2, 0), name="Box")
    ss = from_rtutils(rts)  # the CT from rt-utils' files
    assert ss["Box"].reference_grid == study.ct.grid
    assert ss["Box"].color == (255, 0, 255)  # rt-utils' first palette colour
    np.testing.assert_array_equal(
        from_rtutils(rts, from_masks=True)["Box"].mask(study.ct.grid), box
    )
    # the box's contours run through its boundary pixel centres: rtplan keeps its inside
    inner = ndimage.binary_erosion(box, IN_PLANE_CROSS)
    ours = ss["Box"].mask(study.ct.grid)
    assert np.all(ours[inner])
    assert not np.any(ours & ~box)


def test_from_rtutils_checks_the_frame_of_reference(study: rtplan.Study, tmp_path: Path) -> None:
    other = tmp_path / "other_ct"
    factories.write_ct_series(other, np.zeros((4, 16, 16)), spacing_mm=(3.0, 2.0, 2.0))
    rts = _new_rtstruct(other)
    mask = np.zeros((16, 16, 4), dtype=bool)
    mask[4:10, 4:10, 1:3] = True
    rts.add_roi(mask=mask, name="Square")
    with pytest.raises(DicomReadError, match=r"rt-utils RTStruct: ROI 'Square' is in frame"):
        from_rtutils(rts, reference=study.ct)
    square = from_rtutils(rts, from_masks=True)["Square"]
    np.testing.assert_array_equal(square.mask(read_ct(other).grid), mask.transpose(2, 0, 1))


def test_from_masks_needs_square_images_and_planar_rois(tmp_path: Path) -> None:
    folder = tmp_path / "ct"
    factories.write_ct_series(folder, np.zeros((4, 12, 16)), spacing_mm=(3.0, 2.0, 2.0))
    ct = read_ct(folder)
    point = rtplan.Contour(points_mm=[ct.grid.index_to_mm([[5, 5, 1]])[0]], geometric_type="POINT")
    square = Structure.from_mask(
        np.pad(np.ones((2, 4, 4), dtype=bool), ((1, 1), (4, 4), (6, 6))), ct.grid, name="Sq"
    )
    rts = to_rtutils([square.renamed("Sq", number=1)], ct)
    with pytest.raises(DicomReadError, match=r"square images only, the CT is 12 x 16"):
        from_rtutils(rts, reference=ct, from_masks=True)
    # contours are read whatever the image shape
    np.testing.assert_array_equal(
        from_rtutils(rts, reference=ct)["Sq"].mask(ct.grid), square.mask(ct.grid)
    )

    folder2 = tmp_path / "ct2"
    factories.write_ct_series(folder2, np.zeros((4, 12, 12)), spacing_mm=(3.0, 2.0, 2.0))
    ct2 = read_ct(folder2)
    marker = Structure(name="Marker", number=1, interpreted_type="MARKER", contours=(point,))
    empty = Structure(name="Empty", number=2)
    rts2 = to_rtutils([marker, empty], ct2)
    with pytest.raises(DicomReadError, match=r"ROI 'Marker' holds contours rt-utils makes no"):
        from_rtutils(rts2, reference=ct2, from_masks=True)
    only_empty = from_rtutils(to_rtutils([empty], ct2), reference=ct2, from_masks=True)
    assert not only_empty["Empty"].mask(ct2.grid).any()
