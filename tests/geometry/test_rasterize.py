"""Contours <-> masks: analytic volumes, an independent point-in-polygon reference, exact
pixel areas (shapely), mask round trips, the slab rule, and rt-utils on the same data.

References used here are independent of the rasteriser: closed-form volumes, the
shoelace area of the polygons, matplotlib's point-in-polygon test at voxel centres
computed with :meth:`Grid.index_to_mm` (the rasteriser maps the other way, with
``mm_to_index``), shapely's exact polygon-pixel intersections, the sample phantoms'
own ground truth, and rt-utils.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from matplotlib.path import Path as MplPath
from scipy import ndimage

import factories
from rtplan import Contour, Grid, Image, Structure
from rtplan.errors import GeometryError
from rtplan.geometry import rasterize
from rtplan.image import SeriesInfo

FloatArray = npt.NDArray[np.float64]
AXIAL = np.eye(3)


# --------------------------------------------------------------------------- shapes
def ellipse2d(
    a: float, b: float, *, cx: float = 0.0, cy: float = 0.0, n: int = 720, phase: float = 0.0
) -> FloatArray:
    t = phase + np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.column_stack([cx + a * np.cos(t), cy + b * np.sin(t)])


def shoelace(ring: FloatArray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def lift(ring: FloatArray, offset_mm: float, basis: FloatArray = AXIAL) -> FloatArray:
    """2D ring in the plane spanned by basis columns 0, 1, at ``offset_mm`` along column 2."""
    return ring[:, :1] * basis[:, 0] + ring[:, 1:2] * basis[:, 1] + offset_mm * basis[:, 2]


def stack(
    planes: Sequence[tuple[float, Sequence[FloatArray]]],
    thickness_mm: float | None,
    basis: FloatArray = AXIAL,
    name: str = "S",
) -> Structure:
    contours = tuple(
        Contour(points_mm=lift(ring, off, basis)) for off, rings in planes for ring in rings
    )
    return Structure(name=name, contours=contours, slice_thickness_mm=thickness_mm)


def mask_volume_cc(m: npt.NDArray[np.generic], grid: Grid) -> float:
    return float(np.sum(m, dtype=np.float64)) * grid.voxel_volume_mm3 / 1000.0


def reference_mask(
    grid: Grid, planes: Sequence[tuple[float, Sequence[FloatArray]]], basis: FloatArray = AXIAL
) -> npt.NDArray[np.bool_]:
    """Even-odd point-in-polygon at voxel centres (matplotlib), slab = one slice per plane."""
    centres = grid.centers_mm().reshape(-1, 3)
    u, v, w = centres @ basis[:, 0], centres @ basis[:, 1], centres @ basis[:, 2]
    out = np.zeros(centres.shape[0], dtype=bool)
    half = grid.spacing_mm[0] / 2.0
    for off, rings in planes:
        in_slab = (w >= off - half) & (w < off + half)
        uv = np.column_stack([u[in_slab], v[in_slab]])
        inside = np.zeros(uv.shape[0], dtype=bool)
        for ring in rings:
            inside ^= MplPath(ring).contains_points(uv)
        out[in_slab] = inside
    return out.reshape(grid.shape)


def assert_matches_reference(
    m: npt.NDArray[np.bool_],
    grid: Grid,
    planes: Sequence[tuple[float, Sequence[FloatArray]]],
    basis: FloatArray = AXIAL,
) -> None:
    """``m`` equals the point-in-polygon reference except at ties, where a voxel centre
    lies on a contour edge (within 1e-6 mm) and the two half-open rules may differ."""
    import shapely

    ref = reference_mask(grid, planes, basis)
    differ = np.argwhere(m != ref)
    assert len(differ) <= 0.01 * max(1, int(ref.sum()))
    for k, j, i in differ:
        xyz = grid.index_to_mm([i, j, k])
        u, v, w = xyz @ basis[:, 0], xyz @ basis[:, 1], xyz @ basis[:, 2]
        _off, rings = min(planes, key=lambda p: abs(p[0] - w))
        gap = min(shapely.LinearRing(r).distance(shapely.Point(u, v)) for r in rings)
        assert gap < 1e-6, (k, j, i, gap)


def rotation(rx_deg: float, ry_deg: float, rz_deg: float) -> FloatArray:
    ax, ay, az = np.radians([rx_deg, ry_deg, rz_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


# --------------------------------------------------------------------------- analytic volumes
@pytest.mark.parametrize(
    ("spacing", "centre"),
    [
        ((2.0, 1.0, 1.0), (0.0, 0.0)),
        ((2.0, 1.0, 1.0), (0.37, -0.61)),  # contours at non-integer positions
        ((2.5, 0.7, 1.3), (0.21, 0.45)),  # non-square pixels
        ((3.0, 1.17, 1.17), (-3.3, 2.8)),
    ],
)
def test_elliptic_cylinder(
    spacing: tuple[float, float, float], centre: tuple[float, float]
) -> None:
    dk = spacing[0]
    grid = Grid.covering((-40, -30, 0), (40, 30, 20 * dk), spacing)
    z = grid.axis_mm(0)[3:17]  # 14 contour planes on the slices
    ring = ellipse2d(30.0, 20.0, cx=centre[0], cy=centre[1])
    s = stack([(zz, [ring]) for zz in z], dk)
    exact = np.pi * 30.0 * 20.0 * len(z) * dk / 1000.0  # cm3
    assert s.volume_cc == pytest.approx(exact, rel=1e-4)  # slab volume of the 720-gon
    assert mask_volume_cc(s.mask(grid), grid) == pytest.approx(exact, rel=0.01)
    assert mask_volume_cc(s.fractional_mask(grid), grid) == pytest.approx(exact, rel=1e-3)
    assert_matches_reference(s.mask(grid), grid, [(zz, [ring]) for zz in z])


@pytest.mark.parametrize("radius_mm", [12.0, 20.0])
def test_sphere(radius_mm: float) -> None:
    grid = Grid.covering((-25, -25, -25), (25, 25, 25), (2.0, 0.9, 0.9))
    planes = [
        (float(zz), [ellipse2d(r, r, cx=0.3, cy=-0.2)])
        for zz in grid.axis_mm(0)
        if (r := np.sqrt(max(radius_mm**2 - zz**2, 0.0))) > 0
    ]
    s = stack(planes, 2.0)
    exact = 4.0 / 3.0 * np.pi * radius_mm**3 / 1000.0
    assert exact > 5.0  # the rule applies to structures over 5 cm3
    assert s.volume_cc == pytest.approx(exact, rel=0.01)
    assert mask_volume_cc(s.mask(grid), grid) == pytest.approx(exact, rel=0.01)
    assert mask_volume_cc(s.fractional_mask(grid), grid) == pytest.approx(exact, rel=0.01)


def test_annulus_islands_and_keyhole() -> None:
    grid = Grid.covering((-40, -40, 0), (60, 40, 8), (2.0, 1.0, 1.0))
    z = grid.axis_mm(0)[1:4]
    outer = ellipse2d(25.0, 22.0, cx=0.3, cy=0.2)
    inner = ellipse2d(12.0, 10.0, cx=0.3, cy=0.2)[::-1]  # holes may run either way
    island = ellipse2d(6.0, 5.0, cx=45.4, cy=-20.7)
    annulus_planes = [(zz, [outer, inner, island]) for zz in z]
    annulus = stack(annulus_planes, 2.0)
    area = shoelace(outer) - shoelace(inner) + shoelace(island)
    exact = (np.pi * (25 * 22 - 12 * 10) + np.pi * 30) * 3 * 2.0 / 1000.0
    assert area * 3 * 2.0 / 1000.0 == pytest.approx(exact, rel=1e-4)
    assert annulus.volume_cc == pytest.approx(exact, rel=1e-4)
    m = annulus.mask(grid)
    assert_matches_reference(m, grid, annulus_planes)
    assert mask_volume_cc(m, grid) == pytest.approx(exact, rel=0.01)
    assert mask_volume_cc(annulus.fractional_mask(grid), grid) == pytest.approx(exact, rel=1e-3)
    # keyhole: one ring running around the outside, in along a zero-width bridge (here a
    # slanted one), around the hole the other way and back out along the same bridge
    phase = 0.3
    o = ellipse2d(25.0, 22.0, cx=0.3, cy=0.2, phase=phase)
    i = ellipse2d(12.0, 10.0, cx=0.3, cy=0.2, phase=phase)
    keyhole_ring = np.vstack([o, o[:1], i[:1], i[::-1]])
    keyhole = stack([(zz, [keyhole_ring, island]) for zz in z], 2.0)
    two_rings = stack([(zz, [o, i, island]) for zz in z], 2.0)
    np.testing.assert_array_equal(keyhole.mask(grid), two_rings.mask(grid))
    np.testing.assert_allclose(
        keyhole.fractional_mask(grid), two_rings.fractional_mask(grid), atol=1e-6
    )
    assert keyhole.volume_cc == pytest.approx(exact, rel=1e-3)


def test_random_polygons_match_point_in_polygon_reference() -> None:
    """Star-shaped polygons, partly outside the image, non-square pixels, several planes."""
    rng = np.random.default_rng(20260101)
    grid = Grid(shape=(6, 45, 37), spacing_mm=(2.5, 0.8, 1.1), origin_mm=(-20.0, -18.0, 0.0))
    planes = []
    for zz in grid.axis_mm(0):
        rings = []
        for _ in range(3):
            n = int(rng.integers(5, 40))
            t = np.sort(rng.uniform(0, 2 * np.pi, n))
            r = rng.uniform(4.0, 16.0, n)
            c = rng.uniform(-18.0, 22.0, 2)
            rings.append(np.column_stack([c[0] + r * np.cos(t), c[1] + r * np.sin(t)]))
        planes.append((float(zz), rings))
    s = stack(planes, 2.5)
    assert_matches_reference(s.mask(grid), grid, planes)


# --------------------------------------------------------------------------- fractional
def test_fractional_mask_matches_exact_pixel_areas() -> None:
    import shapely
    from shapely.geometry import Polygon

    grid = Grid(shape=(1, 30, 34), spacing_mm=(2.0, 0.9, 1.2), origin_mm=(-20.0, -13.0, 0.0))
    ring = np.array([[-14.3, -9.1], [9.7, -11.2], [13.9, 4.4], [1.3, 12.2], [-3.1, 0.7]])
    ring = np.vstack([ring, ellipse2d(4.0, 3.0, cx=-12.0, cy=6.0, n=40)])  # a concave bay
    s = stack([(0.0, [ring])], 2.0)
    poly = shapely.make_valid(Polygon(ring))
    jj, ii = np.meshgrid(np.arange(30), np.arange(34), indexing="ij")
    x = -20.0 + ii * 1.2
    y = -13.0 + jj * 0.9
    boxes = shapely.box(x - 0.6, y - 0.45, x + 0.6, y + 0.45)
    exact = shapely.area(shapely.intersection(boxes, poly)) / (1.2 * 0.9)
    coarse = s.fractional_mask(grid, subsamples=8)[0]
    fine = s.fractional_mask(grid, subsamples=64)[0]
    err8 = float(np.abs(coarse - exact).max())
    err64 = float(np.abs(fine - exact).max())
    assert err8 < 1.0 / 8
    assert err64 < err8 / 4  # converges with the number of sub-rows
    assert coarse.sum() * 1.2 * 0.9 == pytest.approx(poly.area, rel=2e-3)
    assert np.all((coarse >= 0) & (coarse <= 1))


def test_fractional_mask_is_more_accurate_for_small_structures() -> None:
    """A 0.09 cm3 elliptic cylinder at 30 sub-voxel positions: centre sampling misses by
    several percent, the fractional mask by a fraction of a percent."""
    rng = np.random.default_rng(7)
    grid = Grid(shape=(5, 40, 40), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-20.0, -20.0, -4.0))
    err_binary, err_fraction = [], []
    for _ in range(30):
        cx, cy = rng.uniform(-0.5, 0.5, 2)
        ring = ellipse2d(2.5, 2.0, cx=cx, cy=cy, n=360)
        s = stack([(zz, [ring]) for zz in (-2.0, 0.0, 2.0)], 2.0)
        exact = np.pi * 2.5 * 2.0 * 6.0 / 1000.0
        err_binary.append(mask_volume_cc(s.mask(grid), grid) / exact - 1.0)
        err_fraction.append(mask_volume_cc(s.fractional_mask(grid), grid) / exact - 1.0)
    eb, ef = np.abs(err_binary), np.abs(err_fraction)
    assert eb.mean() > 0.03
    assert eb.max() > 0.10
    assert ef.max() < 0.01
    assert eb.mean() > 10 * ef.mean()


def test_small_sphere_fractional_volume() -> None:
    grid = Grid.covering((-6, -6, -6), (6, 6, 6), (1.0, 0.8, 0.8))
    radius = 4.0
    planes = [
        (float(zz), [ellipse2d(r, r, cx=0.13, cy=0.29)])
        for zz in grid.axis_mm(0)
        if (r := np.sqrt(max(radius**2 - zz**2, 0.0))) > 0
    ]
    s = stack(planes, 1.0)
    exact = 4.0 / 3.0 * np.pi * radius**3 / 1000.0  # 0.27 cm3
    frac = mask_volume_cc(s.fractional_mask(grid), grid)
    assert frac == pytest.approx(s.volume_cc, rel=2e-3)  # what the contours enclose
    assert frac == pytest.approx(exact, rel=0.03)  # slab stacking of a small sphere


# --------------------------------------------------------------------------- orientations
def test_sagittal_grid_with_sagittal_contours() -> None:
    # DICOM sagittal: rows along +y (posterior), columns along -z (inferior), normal -x
    direction = np.column_stack([[0, 1, 0], [0, 0, -1], [-1, 0, 0]]).astype(float)
    grid = Grid(
        shape=(12, 50, 60), spacing_mm=(2.0, 1.1, 0.9), origin_mm=(5.0, -27.0, 30.0),
        direction=direction,
    )  # fmt: skip
    basis = direction  # in-plane u = +y, v = -z; planes along the normal
    offsets = grid.axis_mm(0)[2:10]
    ring = ellipse2d(18.0, 12.0, cx=0.4, cy=-2.3)  # (y, -z) coordinates
    planes = [(float(o), [ring]) for o in offsets]
    s = stack(planes, 2.0, basis)
    m = s.mask(grid)
    assert_matches_reference(m, grid, planes, basis)
    exact = np.pi * 18.0 * 12.0 * len(offsets) * 2.0 / 1000.0
    assert mask_volume_cc(m, grid) == pytest.approx(exact, rel=0.01)
    assert mask_volume_cc(s.fractional_mask(grid), grid) == pytest.approx(exact, rel=1e-3)
    centre = grid.index_to_mm(np.argwhere(m)[:, ::-1].astype(float)).mean(axis=0)
    expected = np.array([-float(np.mean(offsets)), 0.4, 2.3])  # x = -offset, y, z = -v
    np.testing.assert_allclose(centre, expected, atol=0.1)


def test_oblique_grid_with_contours_in_its_planes() -> None:
    direction = rotation(25.0, -15.0, 40.0)
    grid = Grid(
        shape=(10, 48, 52), spacing_mm=(2.5, 0.95, 1.05), origin_mm=(-3.0, 7.0, -11.0),
        direction=direction,
    )  # fmt: skip
    o_u, o_v = (
        float(np.dot(grid.origin_mm, direction[:, 0])),
        float(np.dot(grid.origin_mm, direction[:, 1])),
    )
    centre_uv = (o_u + 26.3, o_v + 23.8)  # near the middle of the image
    outer = ellipse2d(20.0, 14.0, cx=centre_uv[0], cy=centre_uv[1])
    hole = ellipse2d(7.0, 5.0, cx=centre_uv[0] + 3.0, cy=centre_uv[1])
    offsets = grid.axis_mm(0)[1:9]
    planes = [(float(o), [outer, hole]) for o in offsets]
    s = stack(planes, 2.5, direction)
    m = s.mask(grid)
    assert_matches_reference(m, grid, planes, direction)
    exact = np.pi * (20 * 14 - 7 * 5) * len(offsets) * 2.5 / 1000.0
    assert mask_volume_cc(m, grid) == pytest.approx(exact, rel=0.01)
    assert mask_volume_cc(s.fractional_mask(grid), grid) == pytest.approx(exact, rel=2e-3)
    with pytest.raises(GeometryError, match=r"'S': a contour is not parallel to the grid"):
        s.mask(Grid(shape=(10, 48, 52), spacing_mm=(2.5, 1.0, 1.0), origin_mm=(0, 0, 0)))


# --------------------------------------------------------------------------- slab rule
def test_planes_between_slices_and_beyond_the_grid() -> None:
    grid = Grid(shape=(8, 20, 20), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-10.0, -10.0, 0.0))
    ring = ellipse2d(5.0, 5.0, cx=0.2, cy=0.3)
    in_plane = reference_mask(grid, [(6.0, [ring])])[3]
    for z, expect in [
        (6.0, {3: 1.0}),  # on slice 3
        (6.8, {3: 1.0}),  # 0.4 slice above: nearest is slice 3
        (7.0, {3: 1.0}),  # halfway: the slab [6, 8) holds slice 3's centre, not slice 4's
        (7.2, {4: 1.0}),
        (-1.2, {}),  # more than half a slice before slice 0: left out
        (15.0, {7: 1.0}),  # halfway past the last slice, still on it
        (15.2, {}),
    ]:
        s = stack([(z, [ring])], 2.0)
        m = s.mask(grid)
        assert {int(k) for k in np.flatnonzero(m.any(axis=(1, 2)))} == set(expect), z
        for k in expect:
            np.testing.assert_array_equal(m[k], in_plane)
    # fractional: a plane 0.25 slice above slice 3 covers 3/4 of slice 3 and 1/4 of slice 4
    s = stack([(6.5, [ring])], 2.0)
    f = s.fractional_mask(grid, subsamples=8)
    per_slice = f.sum(axis=(1, 2)) / f.sum()
    np.testing.assert_allclose(per_slice[[3, 4]], [0.75, 0.25], atol=1e-6)
    assert per_slice.sum() == pytest.approx(per_slice[3] + per_slice[4])


def test_default_thickness_is_the_plane_gap() -> None:
    grid = Grid(shape=(12, 20, 20), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(-10.0, -10.0, 0.0))
    ring = ellipse2d(5.0, 5.0)
    s = stack([(2.0, [ring]), (5.0, [ring]), (8.0, [ring])], None)  # planes 3 mm apart
    assert s.volume_cc == pytest.approx(3 * 3.0 * shoelace(ring) / 1000.0)
    slices = np.flatnonzero(s.mask(grid).any(axis=(1, 2)))
    assert slices.tolist() == list(range(1, 10))  # each plane fills [z - 1.5, z + 1.5)


def test_closed_contours_only_and_empty_structures() -> None:
    grid = Grid(shape=(4, 10, 10), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    line = Contour(points_mm=[[1, 1, 1], [8, 1, 1], [8, 8, 1]], geometric_type="OPEN_PLANAR")
    point = Contour(points_mm=[[3, 3, 2]], geometric_type="POINT")
    s = Structure(name="NoVolume", contours=(line, point))
    assert not s.mask(grid).any()
    assert not s.fractional_mask(grid).any()
    assert not Structure(name="Empty").mask(grid).any()
    with pytest.raises(GeometryError, match="subsamples must be >= 1"):
        s.fractional_mask(grid, subsamples=0)


def test_threaded_and_serial_kernels_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    grid = Grid(shape=(16, 40, 44), spacing_mm=(2.0, 0.9, 1.1), origin_mm=(-20.0, -18.0, 0.0))
    planes = []
    for zz in grid.axis_mm(0)[1:15]:
        c = rng.uniform(-3, 3, 2)
        planes.append((float(zz), [ellipse2d(15, 11, cx=c[0], cy=c[1], n=90),
                                   ellipse2d(5, 4, cx=c[0] + 2, cy=c[1], n=40)]))  # fmt: skip
    s = stack(planes, 2.0)
    monkeypatch.setattr(rasterize, "PARALLEL_MIN_ROWS", 10**12)
    serial_mask, serial_frac = s.mask(grid), s.fractional_mask(grid)
    monkeypatch.setattr(rasterize, "PARALLEL_MIN_ROWS", 0)
    np.testing.assert_array_equal(s.mask(grid), serial_mask)
    np.testing.assert_array_equal(s.fractional_mask(grid), serial_frac)
    # the threaded kernels themselves, whatever the number of threads numba has
    from rtplan.geometry import _rasterize_kernels as kernels

    plane_k, rings, half = rasterize.slice_polygons(s.contours, grid, 2.0)
    packed = rasterize._pack(rings)
    slice_plane = rasterize._assign_planes(plane_k, half, np.arange(16, dtype=np.float64))
    out = np.zeros(grid.shape, dtype=bool)
    kernels.fill_mask_parallel(*packed, slice_plane, out)
    np.testing.assert_array_equal(out, serial_mask)
    sub = np.repeat(slice_plane[:, np.newaxis], 8, axis=1)
    frac = np.zeros(grid.shape, dtype=np.float32)
    kernels.fill_fraction_parallel(*packed, sub, frac)
    np.testing.assert_allclose(frac, serial_frac, atol=1e-6)


# --------------------------------------------------------------------------- masks <-> contours
def _blobs(shape: tuple[int, int, int], seed: int) -> npt.NDArray[np.bool_]:
    rng = np.random.default_rng(seed)
    m = ndimage.gaussian_filter(rng.random(shape), 1.2) > 0.53
    m[1, 2, 2] = True  # an isolated voxel
    m[1, 4, 4] = m[1, 5, 5] = True  # diagonal neighbours
    m[2, 0, :] = True  # touching the image border
    m[2, 10:15, 10:15] = True
    m[2, 12, 12] = False  # a one-voxel hole
    return m


@pytest.mark.parametrize(
    "grid",
    [
        Grid(shape=(4, 24, 30), spacing_mm=(2.5, 0.7, 1.3), origin_mm=(-10.0, 4.0, -3.0)),
        Grid(
            shape=(4, 24, 30), spacing_mm=(2.0, 1.1, 0.9), origin_mm=(1.0, 2.0, 3.0),
            direction=rotation(30.0, 10.0, -50.0),
        ),
    ],
    ids=["axial-nonsquare", "oblique"],
)  # fmt: skip
def test_from_mask_contours_give_the_mask_back(grid: Grid) -> None:
    m = _blobs(grid.shape, seed=3)
    s = Structure.from_mask(m, grid, name="Blob")
    assert s.contours
    contours_only = replace(s, mask_image=None)
    np.testing.assert_array_equal(contours_only.mask(grid), m)
    np.testing.assert_array_equal(s.mask(grid), m)  # the exact mask it holds
    again = Structure.from_mask(contours_only.mask(grid), grid, name="Blob")
    assert len(again.contours) == len(s.contours)


def test_mask_structure_on_other_grids() -> None:
    fine = Grid(shape=(4, 8, 8), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    coarse = Grid(shape=(2, 4, 4), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0.5, 0.5, 0.5))
    rng = np.random.default_rng(5)
    m = rng.random(fine.shape) > 0.5
    s = Structure(name="M", mask_image=Image(array=m, grid=fine))
    f = s.fractional_mask(coarse, subsamples=2)
    blocks = m.reshape(2, 2, 4, 2, 4, 2).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(f, blocks, atol=1e-6)
    np.testing.assert_array_equal(s.fractional_mask(fine), m.astype(np.float32))


# --------------------------------------------------------------------------- rt-utils
def _ct_image(paths: Sequence[Path], grid: Grid) -> Image:
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    h0 = headers[0]
    info = SeriesInfo(
        study_instance_uid=h0.StudyInstanceUID,
        series_instance_uid=h0.SeriesInstanceUID,
        frame_of_reference_uid=h0.FrameOfReferenceUID,
        sop_class_uid=h0.SOPClassUID,
        sop_instance_uids=tuple(h.SOPInstanceUID for h in headers),
        files=tuple(paths),
        modality="CT",
    )
    return Image(array=np.zeros(grid.shape), grid=grid, units="HU", series=info)


def _rt_utils_relation(
    ours: npt.NDArray[np.bool_], fraction: npt.NDArray[np.float32], theirs: npt.NDArray[np.bool_]
) -> None:
    """rt-utils rounds vertices to pixels and fills the outline inclusively, so its mask
    holds ours less our boundary ring and stays within one pixel of the pixels the
    contours touch."""
    cross = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool)
    assert np.all(theirs[ndimage.binary_erosion(ours, cross)])
    near = ndimage.binary_dilation(fraction > 0, np.ones((1, 3, 3), dtype=bool))
    assert not np.any(theirs & ~near)


def test_rt_utils_masks_on_the_same_file(tmp_path: Path) -> None:
    from rt_utils import RTStructBuilder

    from rtplan.io import read_rtstruct, write_rtstruct

    shape = (6, 96, 96)  # rt-utils needs Rows == Columns and square pixels
    spacing = (2.0, 1.0, 1.0)
    origin = (-48.0, -48.0, -5.0)
    files = factories.write_ct_series(tmp_path / "ct", np.zeros(shape), origin_mm=origin,
                                      spacing_mm=spacing)  # fmt: skip
    grid = Grid(shape=shape, spacing_mm=spacing, origin_mm=origin)
    ct = _ct_image(files, grid)
    rng = np.random.default_rng(3)
    structures = []
    for i, (a, b) in enumerate([(3, 3), (6, 4), (10, 10), (20, 15), (35, 30)]):
        c = rng.uniform(-0.5, 0.5, 2)
        ring = ellipse2d(a, b, cx=c[0], cy=c[1], n=360)
        structures.append(stack([(z, [ring]) for z in (-1.0, 1.0, 3.0)], 2.0, name=f"E{i}"))
    annulus = [ellipse2d(30, 30, cx=0.2, cy=0.1, n=360), ellipse2d(15, 12, cx=0.2, n=180)]
    structures.append(stack([(z, annulus) for z in (-1.0, 1.0)], 2.0, name="Annulus"))
    rs = write_rtstruct(structures, tmp_path / "RS.dcm", reference=ct)
    ss = read_rtstruct(rs, reference=ct)
    rtu = RTStructBuilder.create_from(str(tmp_path / "ct"), str(rs))
    for s in ss:
        ours = s.mask(grid)
        theirs = rtu.get_roi_mask_by_name(s.name).transpose(2, 0, 1)  # (row, col, k) -> (k, j, i)
        _rt_utils_relation(ours, s.fractional_mask(grid), theirs)
        # volume bias: rt-utils adds about half a pixel along the perimeter, per slice
        from rtplan._planar import plane_stack

        perimeter_px = sum(r.length for r in plane_stack(s.contours).regions)  # 1 mm pixels
        excess = int(theirs.sum()) - int(ours.sum())
        assert 0.3 * perimeter_px < excess < 1.0 * perimeter_px, s.name
        assert abs(ours.sum() - s.volume_cc * 1000 / 2.0) < 0.1 * perimeter_px


def test_rt_utils_swaps_pixel_spacing_on_non_square_pixels(tmp_path: Path) -> None:
    """rt-utils 1.2.7 divides x by PixelSpacing[0] (the row spacing) and y by
    PixelSpacing[1]: on non-square pixels its mask is ours on the grid with the two
    spacings swapped, not ours on the true grid."""
    from rt_utils import RTStructBuilder

    from rtplan.io import write_rtstruct

    shape, spacing, origin = (4, 48, 48), (2.0, 0.8, 1.25), (-30.0, -19.2, 0.0)
    files = factories.write_ct_series(tmp_path / "ct", np.zeros(shape), origin_mm=origin,
                                      spacing_mm=spacing)  # fmt: skip
    true_grid = Grid(shape=shape, spacing_mm=spacing, origin_mm=origin)
    swapped = Grid(shape=shape, spacing_mm=(2.0, 1.25, 0.8), origin_mm=origin)
    s = stack([(z, [ellipse2d(9.0, 7.0, cx=-3.1, cy=1.7, n=200)]) for z in (2.0, 4.0)], 2.0)
    rs = write_rtstruct([s], tmp_path / "RS.dcm", reference=_ct_image(files, true_grid))
    rtu = RTStructBuilder.create_from(str(tmp_path / "ct"), str(rs))
    theirs = rtu.get_roi_mask_by_name("S").transpose(2, 0, 1)
    _rt_utils_relation(s.mask(swapped), s.fractional_mask(swapped), theirs)
    near_true = ndimage.binary_dilation(s.fractional_mask(true_grid) > 0, np.ones((1, 3, 3), bool))
    assert np.any(theirs & ~near_true)


# --------------------------------------------------------------------------- sample data
@pytest.fixture(scope="module")
def phantoms() -> object:
    from rtplan.data import sample_data_root

    root = sample_data_root()
    sys.path.insert(0, str(root))
    try:
        import make_phantoms
    finally:
        sys.path.remove(str(root))
    return make_phantoms


# Sample ROIs over 5 cm3 whose centre-inside (binary) mask volume departs from the exact
# volume by more than 1 % (percent): small sections extruded along z, where the in-plane
# sampling error repeats on every slice. Their fractional masks are within 1 %.
BINARY_OVER_1_PERCENT: dict[str, dict[str, float]] = {
    "thigh_sarcoma": {"NVBundle": 1.04},
    "spine_metastasis": {
        "SpinalCanal": 4.45,
        "SpinalCord": 1.03,
        "ErectorSpinae_L": -2.64,
        "ErectorSpinae_R": -2.64,
    },
}


@pytest.mark.parametrize("name", ["thigh_sarcoma", "spine_metastasis"])
def test_sample_phantom_volumes_and_ground_truth(name: str, phantoms: object) -> None:
    """Every analytic ROI over 5 cm3: contour slab volume and fractional-mask volume
    within 1 % of the closed-form volume; the binary mask is the phantom's own ground
    truth voxel set, up to voxel centres lying exactly on a contour edge (ties).

    The binary mask volume is not held to 1 %: on these grids (1.6 and 2.3 mm pixels)
    the ROIs are extruded along z, so centre sampling errs the same way on every slice
    (e.g. the spinal canal, 58 pixels per slice, by +4 %); the phantom's ground truth,
    which it equals, has the same error. The fractional mask removes it. The ROIs over
    5 cm3 whose binary mask misses 1 % are listed (``BINARY_OVER_1_PERCENT``) and
    asserted, so that the documentation of :mod:`rtplan.geometry.rasterize` stays true.
    """
    import shapely
    from shapely.geometry import Point

    from rtplan.data import get_path
    from rtplan.io import read_ct, read_rtstruct

    folder = get_path(name)
    ct = read_ct(folder)
    ss = read_rtstruct(folder / "RS.dcm", reference=ct)
    analytic = phantoms.ANALYTIC_VOLUMES_CC[name]  # type: ignore[attr-defined]
    truth = phantoms.roi_masks(name)  # type: ignore[attr-defined]
    checked = 0
    binary_over: dict[str, float] = {}
    for roi, exact in analytic.items():
        s = ss[roi]
        if exact <= 5.0:
            continue
        checked += 1
        assert s.volume_cc == pytest.approx(exact, rel=0.01), roi
        frac = mask_volume_cc(s.fractional_mask(ct.grid), ct.grid)
        assert frac == pytest.approx(exact, rel=0.01), roi
        binary = mask_volume_cc(s.mask(ct.grid), ct.grid)
        if abs(binary / exact - 1.0) > 0.01:
            binary_over[roi] = 100.0 * (binary / exact - 1.0)
    assert checked >= 8
    assert binary_over.keys() == BINARY_OVER_1_PERCENT[name].keys()
    for roi, percent in binary_over.items():
        assert percent == pytest.approx(BINARY_OVER_1_PERCENT[name][roi], abs=0.05), roi
    for roi, expected in truth.items():
        m = ss[roi].mask(ct.grid)
        differ = np.argwhere(m != expected)
        assert len(differ) <= 0.005 * expected.sum(), roi
        for k, j, i in differ:  # each one a tie: the voxel centre lies on a contour edge
            xyz = ct.grid.index_to_mm([i, j, k])
            rings = [
                c.points_mm[:, :2]
                for c in ss[roi].contours
                if abs(c.points_mm[0, 2] - xyz[2]) < 0.01
            ]
            gap = min(shapely.LinearRing(r).distance(Point(xyz[:2])) for r in rings)
            assert gap < 1e-6, (roi, k, j, i, gap)


@pytest.mark.peer
def test_sample_phantom_against_rt_utils(thigh_path: Path) -> None:
    from rt_utils import RTStructBuilder

    from rtplan.io import read_ct, read_rtstruct

    ct = read_ct(thigh_path)
    ss = read_rtstruct(thigh_path / "RS.dcm", reference=ct)
    rtu = RTStructBuilder.create_from(str(thigh_path), str(thigh_path / "RS.dcm"))
    for s in ss:
        theirs = rtu.get_roi_mask_by_name(s.name).transpose(2, 0, 1)
        ours = s.mask(ct.grid)
        _rt_utils_relation(ours, s.fractional_mask(ct.grid), theirs)
        assert theirs.sum() > ours.sum(), s.name  # rt-utils' inclusive fill: larger masks
