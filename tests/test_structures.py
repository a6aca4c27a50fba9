from __future__ import annotations

import numpy as np
import pytest

from rtplan import Contour, ContourType, Grid, Structure, StructureSet
from rtplan.errors import GeometryError, StructureError


def circle(r: float, z: float, cx: float = 0.0, cy: float = 0.0, n: int = 256) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.c_[cx + r * np.cos(t), cy + r * np.sin(t), np.full(n, z)]


def cylinder(r: float, z0: float, z1: float, dz: float, **kw: float) -> Structure:
    zs = np.arange(z0, z1 + dz / 2, dz)
    contours = tuple(Contour(points_mm=circle(r, z, **kw)) for z in zs)
    return Structure(name="cyl", contours=contours, slice_thickness_mm=dz)


def test_contour_validation() -> None:
    with pytest.raises(GeometryError, match="at least 3"):
        Contour(points_mm=np.zeros((2, 3)))
    with pytest.raises(GeometryError, match="exactly 1"):
        Contour(points_mm=np.zeros((2, 3)), geometric_type="POINT")
    with pytest.raises(GeometryError, match="finite"):
        Contour(points_mm=np.array([[0, 0, np.nan]] * 3))
    c = Contour(points_mm=[[1, 2, 3]], geometric_type="POINT")
    assert c.geometric_type is ContourType.POINT


def test_cylinder_volume_and_centroid_from_contours() -> None:
    # 11 planes at 2 mm, each standing for a 2 mm slab: height 22 mm
    s = cylinder(15.0, 0.0, 20.0, 2.0, cx=5.0, cy=-3.0)
    poly_area = 0.5 * 256 * 15.0**2 * np.sin(2 * np.pi / 256)  # inscribed polygon
    assert s.volume_cc == pytest.approx(poly_area * 22.0 / 1000.0, rel=1e-9)
    np.testing.assert_allclose(s.centroid_mm, [5.0, -3.0, 10.0], atol=1e-9)
    lo, hi = s.bounds_mm()
    np.testing.assert_allclose(lo, [-10.0, -18.0, 0.0], atol=1e-2)
    np.testing.assert_allclose(hi, [20.0, 12.0, 20.0], atol=1e-2)


def test_even_odd_annulus_and_islands() -> None:
    ring = [Contour(points_mm=circle(20.0, z)) for z in (0.0, 1.0)] + [
        Contour(points_mm=circle(10.0, z)) for z in (0.0, 1.0)
    ]
    islands = [Contour(points_mm=circle(3.0, z, cx=40.0)) for z in (0.0, 1.0)]
    s = Structure(name="annulus", contours=tuple(ring + islands), slice_thickness_mm=1.0)
    area = np.pi * (20.0**2 - 10.0**2 + 3.0**2)
    assert s.volume_cc == pytest.approx(2 * area / 1000.0, rel=2e-3)
    g = Grid(shape=(2, 120, 140), spacing_mm=(1.0, 0.5, 0.5), origin_mm=(-25.0, -30.0, 0.0))
    m = s.mask(g)
    assert not m[0, 60, 50]  # (0, 0), in the hole
    assert m[0, 60, 80]  # x = 15 mm, in the ring
    assert m[0, 60, 20]  # x = -15 mm, in the ring
    assert m[0, 60, 130]  # x = 40 mm, the island
    assert m.sum() * 0.25 / 2 == pytest.approx(area, rel=0.01)


def test_mask_and_from_mask_round_trip() -> None:
    s = cylinder(12.3, -6.0, 6.0, 3.0)
    g = Grid(shape=(5, 40, 40), spacing_mm=(3.0, 1.0, 1.0), origin_mm=(-19.5, -19.5, -6.0))
    m = s.mask(g)
    d = Structure.from_mask(m, g, name="derived")
    assert d.generation == "AUTOMATIC"
    assert d.grid is g
    np.testing.assert_array_equal(d.mask(g), m)
    again = Structure(name="c", contours=d.contours, slice_thickness_mm=3.0)
    np.testing.assert_array_equal(again.mask(g), m)
    assert d.volume_cc == pytest.approx(m.sum() * 3.0 / 1000.0)


def test_structure_set_lookup() -> None:
    a = Structure(name="PTV", number=3, interpreted_type="PTV")
    b = Structure(name="Femur", number=7, interpreted_type="ORGAN")
    ss = StructureSet(structures=(a, b))
    assert ss["PTV"] is a
    assert ss["femur"] is b  # case-insensitive when unique
    assert ss.by_number(7) is b
    assert ss.by_type("organ") == [b]
    assert "PTV" in ss
    assert "Cord" not in ss
    with pytest.raises(StructureError, match="available: PTV, Femur"):
        ss["Cord"]
    ss2 = ss.with_added(Structure(name="Ring"), Structure(name="Ring2", number=3))
    assert [s.number for s in ss2] == [3, 7, 8, 9]
    assert ss2.without("Ring").names == ["PTV", "Femur", "Ring2"]
    assert ss.names == ["PTV", "Femur"]  # a set never changes


def test_structure_set_with_structure_replaces_or_appends() -> None:
    a = Structure(name="PTV", number=3, interpreted_type="PTV")
    b = Structure(name="Femur", number=7, interpreted_type="ORGAN")
    ss = StructureSet(structures=(a, b), frame_of_reference_uid="1.2.3")
    new_ptv = Structure(name="whatever", interpreted_type="PTV")
    replaced = ss.with_structure(new_ptv, name="ptv")  # case-insensitive match: replaced
    assert replaced.names == ["ptv", "Femur"]
    assert replaced["ptv"].number == 3  # keeps the replaced ROI's number
    assert replaced.frame_of_reference_uid == "1.2.3"
    appended = ss.with_structure(Structure(name="Ring"))
    assert appended.names == ["PTV", "Femur", "Ring"]
    assert appended["Ring"].number == 8
    assert ss.names == ["PTV", "Femur"]
    with pytest.raises(StructureError, match="non-empty ROI name"):
        ss.with_structure(Structure(name="x"), name=" ")
    twice = StructureSet(structures=(a, a.renamed("PTV", number=4)))
    with pytest.raises(StructureError, match="2 structures named 'PTV'"):
        twice.with_structure(Structure(name="PTV"))


def test_structure_set_refuses_item_assignment_and_warns_on_old_names() -> None:
    ss = StructureSet(structures=(Structure(name="PTV", number=1),))
    with pytest.raises(TypeError, match=r"ss = ss.with_structure\(structure, name='PTV_5'\)"):
        ss["PTV_5"] = Structure(name="PTV_5")
    assert ss.names == ["PTV"]
    with pytest.warns(DeprecationWarning, match="returns a new set"):
        ss2 = ss.add(Structure(name="Ring"))
    assert ss2.names == ["PTV", "Ring"]
    with pytest.warns(DeprecationWarning, match="ss = ss.without"):
        assert ss2.remove("Ring").names == ["PTV"]


def test_empty_structure_measures_raise() -> None:
    s = Structure(name="Empty")
    assert s.is_empty
    assert not s.has_volume
    assert s.volume_cc == 0.0
    with pytest.raises(StructureError, match="empty"):
        _ = s.centroid_mm


def test_point_structure() -> None:
    p = Structure(
        name="Entry",
        interpreted_type="MARKER",
        contours=(Contour(points_mm=[[1.0, 2.0, 3.0]], geometric_type="POINT"),),
    )
    np.testing.assert_allclose(p.points_mm, [[1.0, 2.0, 3.0]])
    assert not p.has_volume
    np.testing.assert_allclose(p.centroid_mm, [1.0, 2.0, 3.0])


def test_geometry_methods_delegate_to_the_geometry_functions() -> None:
    """The Structure facade: each method is the rtplan.geometry function of the same job."""
    from rtplan import geometry, structures

    assert structures.geometry is geometry  # the one declared reference
    grid = Grid(shape=(14, 50, 50), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(-25.0, -25.0, -2.0))
    a = cylinder(10.0, 4.0, 18.0, 2.0)
    b = cylinder(6.0, 8.0, 14.0, 2.0, cx=9.0).renamed("b")
    pairs = [
        (a.expand(3.0, grid), geometry.expand(a, 3.0, grid=grid)),
        (a.contract(2.0, grid), geometry.contract(a, 2.0, grid=grid)),
        (a | b, geometry.union(a, b)),
        (a & b, geometry.intersection(a, b)),
        (a - b, geometry.difference(a, b)),
    ]
    for method, function in pairs:
        assert method.name == function.name
        np.testing.assert_array_equal(method.mask(grid), function.mask(grid), err_msg=method.name)
    np.testing.assert_array_equal(a.mask(grid), geometry.mask(a, grid))
    np.testing.assert_array_equal(a.fractional_mask(grid), geometry.fractional_mask(a, grid))
    far = cylinder(4.0, 4.0, 18.0, 2.0, cx=-17.0)
    assert a.distance_to(far) == pytest.approx(geometry.min_distance(a, far))


def test_plane_stacks_take_any_contour_shaped_object() -> None:
    """The plane stacks sit below the structures: they need points and a closed flag only."""
    from dataclasses import dataclass

    from rtplan import _planar

    @dataclass
    class Ring:
        points_mm: np.ndarray
        geometric_type: ContourType = ContourType.CLOSED_PLANAR

    rings = [Ring(circle(10.0, z, n=64)) for z in (0.0, 2.0, 4.0)]
    stack = _planar.plane_stack(rings)
    contours = cylinder(10.0, 0.0, 4.0, 2.0).closed_contours
    assert stack.volume_mm3() == pytest.approx(_planar.plane_stack(contours).volume_mm3(), rel=0.01)
    np.testing.assert_allclose(stack.centroid(), [0.0, 0.0, 2.0], atol=1e-9)
