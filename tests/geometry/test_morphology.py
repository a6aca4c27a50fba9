"""Array morphology with radii in mm: both methods, brute-force balls and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from rtplan import geometry
from rtplan.errors import GeometryError
from rtplan.geometry import _morphology as morph

SPACINGS = [(1.0, 1.0, 1.0), (2.5, 0.9766, 0.9766), (0.7, 1.3, 0.9), (3.0, 0.5, 0.5)]
# radii on exact lattice distances (ties), between them, and across the method switch
RADII = [0.0, 0.5, 1.0, 2.5, 3.0, 4.2, 5.0, 7.5]


def ball(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    """The structuring element ``|d|_mm <= r``, written out voxel by voxel."""
    n = [int(np.floor(radius_mm / s + 1e-9)) for s in spacing]
    k, j, i = np.meshgrid(*(np.arange(-m, m + 1) for m in n), indexing="ij")
    d = np.sqrt((k * spacing[0]) ** 2 + (j * spacing[1]) ** 2 + (i * spacing[2]) ** 2)
    return d <= radius_mm + 1e-6


def awkward_shapes() -> dict[str, np.ndarray]:
    """Shapes that stress edges, ties and thin parts (fixed seed)."""
    rng = np.random.default_rng(11)
    shape = (14, 23, 21)
    out: dict[str, np.ndarray] = {}
    noisy = np.zeros(shape, dtype=bool)
    noisy[3:11, 5:18, 4:17] = rng.random((8, 13, 13)) > 0.35
    out["noisy block"] = noisy
    edge = np.zeros(shape, dtype=bool)
    edge[0:5, 0:9, 12:21] = True  # touches three array faces
    edge[13, 22, 0] = True  # a lone corner voxel
    out["on the edges"] = edge
    wire = np.zeros(shape, dtype=bool)
    wire[7, 2:21, 10] = True  # one-voxel wire along rows
    wire[2:12, 11, 3] = True  # and one along slices
    out["wires"] = wire
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    shell = ((z - 7) / 6.0) ** 2 + ((y - 11) / 9.0) ** 2 + ((x - 10) / 8.0) ** 2
    out["shell with cavity"] = (shell <= 1.0) & (shell > 0.3)
    out["full"] = np.ones(shape, dtype=bool)
    out["empty"] = np.zeros(shape, dtype=bool)
    return out


SHAPES = awkward_shapes()


# ---------------------------------------------------------------------------- the methods
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_rows_and_distance_transform_give_the_same_voxels(
    name: str, spacing: tuple[float, float, float]
) -> None:
    m = SHAPES[name]
    sp = np.asarray(spacing)
    faces = [
        np.zeros((3, 2), dtype=bool),
        np.ones((3, 2), dtype=bool),
        np.array([[True, False], [False, True], [True, True]]),
    ]
    for r in RADII:
        limit = r + morph.DIST_EPS_MM
        rows = morph.ball_dilate(m, sp, limit, method="rows")
        edt = morph.ball_dilate(m, sp, limit, method="edt")
        np.testing.assert_array_equal(rows, edt, err_msg=f"dilate r={r}")
        for beyond in faces:
            rows = morph.ball_erode(m, sp, limit, beyond, method="rows")
            edt = morph.ball_erode(m, sp, limit, beyond, method="edt")
            np.testing.assert_array_equal(rows, edt, err_msg=f"erode r={r} {beyond.tolist()}")


@pytest.mark.parametrize("spacing", SPACINGS)
def test_dilate_and_erode_equal_the_brute_force_ball(spacing: tuple[float, float, float]) -> None:
    for name, r in itertools.product(["noisy block", "on the edges", "wires"], [1.0, 2.5, 4.2]):
        m = SHAPES[name]
        se = ball(r, spacing)
        np.testing.assert_array_equal(
            geometry.dilate_mask(m, r, spacing), ndimage.binary_dilation(m, se), err_msg=name
        )
        np.testing.assert_array_equal(
            geometry.erode_mask(m, r, spacing),
            ndimage.binary_erosion(m, se, border_value=0),
            err_msg=name,
        )
        np.testing.assert_array_equal(
            geometry.erode_mask(m, r, spacing, outside_is_set=True),
            ndimage.binary_erosion(m, se, border_value=1),
            err_msg=name,
        )


def test_the_method_switches_with_the_size_of_the_ball(monkeypatch: pytest.MonkeyPatch) -> None:
    sp = np.array([2.5, 0.9766, 0.9766])
    assert morph.uses_rows(3.0, sp)
    assert morph.uses_rows(10.0, sp)
    assert not morph.uses_rows(40.0, sp)
    # the public functions, forced down each route: the same ball either way
    m = SHAPES["wires"] | SHAPES["on the edges"]
    se = ball(3.0, (2.5, 0.9766, 0.9766))
    for cost in (0, 10**9):  # 0: every ball by the transform; 10**9: every ball by rows
        monkeypatch.setattr(morph, "EDT_COST_IN_ROWS", cost)
        assert morph.uses_rows(3.0, sp) == (cost > 0)
        np.testing.assert_array_equal(
            geometry.dilate_mask(m, 3.0, sp), ndimage.binary_dilation(m, se)
        )
        np.testing.assert_array_equal(
            geometry.erode_mask(m, 3.0, sp, outside_is_set=True),
            ndimage.binary_erosion(m, se, border_value=1),
        )


def test_per_face_outside_of_a_crop_equals_the_erosion_of_the_whole() -> None:
    """A crop eroded with the faces where it cuts the set marked set equals the whole."""
    m = SHAPES["noisy block"] | SHAPES["on the edges"]
    sp = (2.5, 0.9766, 0.9766)
    whole = geometry.erode_mask(m, 3.0, sp, outside_is_set=True)
    crop = (slice(0, 9), slice(4, 23), slice(0, 21))
    faces = np.array([[True, False], [False, True], [True, True]])
    part = geometry.erode_mask(m[crop], 3.0, sp, outside_is_set=faces)
    # away from the crop's inner faces (3 mm reach) the crop sees what the whole sees
    np.testing.assert_array_equal(part[:7, 4:], whole[crop][:7, 4:])


def test_two_dimensional_masks_use_the_in_plane_ball() -> None:
    m = np.zeros((15, 17), dtype=bool)
    m[4:11, 3:9] = True
    m[7, 9:16] = True
    sp = (0.8, 1.2)
    b = ball(2.5, (1.0, *sp))
    se = b[b.shape[0] // 2]  # the in-plane section of the ball
    np.testing.assert_array_equal(geometry.dilate_mask(m, 2.5, sp), ndimage.binary_dilation(m, se))
    np.testing.assert_array_equal(
        geometry.erode_mask(m, 2.5, sp), ndimage.binary_erosion(m, se, border_value=0)
    )


def test_invalid_arguments_are_refused() -> None:
    m = SHAPES["wires"]
    with pytest.raises(GeometryError, match=">= 0"):
        geometry.dilate_mask(m, -1.0, 1.0)
    with pytest.raises(GeometryError, match="positive"):
        geometry.erode_mask(m, 1.0, (1.0, 0.0, 1.0))
    with pytest.raises(GeometryError, match="one spacing per array axis"):
        geometry.dilate_mask(m, 1.0, (1.0, 1.0))
    with pytest.raises(GeometryError, match="2D or 3D"):
        geometry.dilate_mask(np.zeros(5, dtype=bool), 1.0, 1.0)
    with pytest.raises(GeometryError, match=r"\(3, 2\)"):
        geometry.erode_mask(m, 1.0, 1.0, outside_is_set=[True, False, True])
    with pytest.raises(GeometryError, match="'rows' or 'edt'"):
        morph.ball_dilate(m, np.ones(3), 1.0, method="fast")


# ---------------------------------------------------------------------------- built on them
@pytest.mark.parametrize("spacing", SPACINGS[:2])
def test_open_and_close_equal_their_definitions(spacing: tuple[float, float, float]) -> None:
    for name in ("noisy block", "on the edges", "shell with cavity"):
        m = SHAPES[name]
        se = ball(2.0, spacing)
        opened = ndimage.binary_dilation(ndimage.binary_erosion(m, se, border_value=0), se) & m
        np.testing.assert_array_equal(geometry.open_mask(m, 2.0, spacing), opened, err_msg=name)
        # closing in unbounded space: pad far enough that the array edges play no part
        pad = [(len(s) // 2 + 1,) * 2 for s in se.nonzero()]
        w = max(se.shape) // 2 + 1
        big = np.pad(m, w)
        closed = ndimage.binary_erosion(ndimage.binary_dilation(big, se), se, border_value=0)
        expected = closed[w:-w, w:-w, w:-w] | m
        assert pad  # the element is not empty
        np.testing.assert_array_equal(geometry.close_mask(m, 2.0, spacing), expected, err_msg=name)


def test_open_close_fill_and_components() -> None:
    m = np.zeros((20, 30, 30), dtype=bool)
    m[5:15, 5:25, 5:25] = True
    m[10, 10:20, 27] = True  # a thin wire off the block
    m[8:12, 12:18, 12:18] = False  # a closed cavity
    opened = geometry.open_mask(m, 1.5, (1, 1, 1))
    assert not opened[10, 15, 27]
    assert geometry.fill_holes_3d(m)[10, 15, 15]
    assert geometry.fill_holes_slicewise(m)[10, 15, 15]
    # the cavity is 4 voxels thick along k: a 2.5 mm closing bridges it, 1 mm does not
    assert geometry.close_mask(m, 2.5, (1, 1, 1))[10, 15, 15]
    assert not geometry.close_mask(m, 1.0, (1, 1, 1))[10, 15, 15]
    two = np.zeros((5, 20, 20), dtype=bool)
    two[1:4, 2:5, 2:5] = True
    two[1:4, 10:18, 10:18] = True
    big = geometry.largest_component(two)
    assert big[2, 12, 12]
    assert not big[2, 3, 3]
    assert geometry.remove_small_components(two, 30)[2, 12, 12]
    assert not geometry.remove_small_components(two, 30)[2, 3, 3]
    assert not geometry.largest_component(np.zeros((2, 2, 2), dtype=bool)).any()


def test_boundary_mask_is_the_face_neighbour_erosion() -> None:
    face = ndimage.generate_binary_structure(3, 1)
    for name in ("noisy block", "on the edges", "wires", "full"):
        m = SHAPES[name]
        np.testing.assert_array_equal(
            geometry.boundary_mask(m), m & ~ndimage.binary_erosion(m, face, border_value=0)
        )
        np.testing.assert_array_equal(
            geometry.boundary_mask(m, outside_is_set=True),
            m & ~ndimage.binary_erosion(m, face, border_value=1),
        )


# ---------------------------------------------------------------------------- holes
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_fill_holes_equals_scipy_in_3d_and_per_slice(name: str) -> None:
    rng = np.random.default_rng(5)
    m = SHAPES[name] | (rng.random(SHAPES[name].shape) > 0.8)
    np.testing.assert_array_equal(geometry.fill_holes(m), ndimage.binary_fill_holes(m))
    for axis in range(3):
        expected = np.stack(
            [ndimage.binary_fill_holes(s) for s in np.moveaxis(m, axis, 0)], axis=axis
        )
        np.testing.assert_array_equal(geometry.fill_holes(m, planar=True, axis=axis), expected)
    np.testing.assert_array_equal(geometry.fill_holes_3d(m), ndimage.binary_fill_holes(m))
    np.testing.assert_array_equal(
        geometry.fill_holes_slicewise(m, axis=1), geometry.fill_holes(m, planar=True, axis=1)
    )


def test_label_holes_numbers_the_holes_only() -> None:
    m = SHAPES["shell with cavity"].copy()
    m[0:2, 0:3, 0:3] = True
    m[0, 1, 1] = False  # a pit on the array's first slice: open in 3D, a hole in 2D
    labels, n = geometry.label_holes(m)
    filled = ndimage.binary_fill_holes(m)
    np.testing.assert_array_equal(labels > 0, filled & ~m)
    assert n == len(np.unique(labels[labels > 0]))
    assert set(np.unique(labels)) == set(range(n + 1))
    _, n2d = geometry.label_holes(m, planar=True)
    per_slice = sum(ndimage.label(ndimage.binary_fill_holes(s) & ~s)[1] for s in m)
    assert n2d == per_slice
    assert geometry.label_holes(np.zeros((3, 3, 3), dtype=bool))[1] == 0
    # a 2D mask
    ring = np.ones((5, 5), dtype=bool)
    ring[2, 2] = False
    lab, k = geometry.label_holes(ring)
    assert k == 1
    assert lab[2, 2] == 1
    assert lab.sum() == 1


# ---------------------------------------------------------------------------- distances
@pytest.mark.parametrize("spacing", SPACINGS)
def test_distance_map_equals_scipy(spacing: tuple[float, float, float]) -> None:
    m = SHAPES["noisy block"] | SHAPES["wires"]
    np.testing.assert_allclose(
        geometry.distance_map(m, spacing),
        ndimage.distance_transform_edt(~m, sampling=spacing),
        atol=1e-9,
    )
    signed = geometry.distance_map(m, spacing, signed=True)
    expected = ndimage.distance_transform_edt(~m, sampling=spacing) - (
        ndimage.distance_transform_edt(m, sampling=spacing)
    )
    np.testing.assert_allclose(signed, expected, atol=1e-9)
    assert np.all(signed[m] < 0)
    assert np.all(signed[~m] > 0)


def test_distance_map_without_a_set_and_in_2d() -> None:
    assert np.isinf(geometry.distance_map(np.zeros((2, 3, 4), dtype=bool), 1.0)).all()
    full = geometry.distance_map(np.ones((2, 3), dtype=bool), 1.0, signed=True)
    assert np.isneginf(full).all()
    m = np.zeros((4, 6), dtype=bool)
    m[1, 2] = True
    np.testing.assert_allclose(
        geometry.distance_map(m, (2.0, 0.5)),
        ndimage.distance_transform_edt(~m, sampling=(2.0, 0.5)),
        atol=1e-12,
    )
