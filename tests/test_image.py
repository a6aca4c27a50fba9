from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rtplan import Dose, Grid, Image
from rtplan.errors import DoseError, GeometryError
from rtplan.image import DoseSummationType, DoseType


@pytest.fixture
def linear_image() -> Image:
    g = Grid(shape=(6, 7, 8), spacing_mm=(2.0, 1.5, 1.0), origin_mm=(-3.0, 4.0, 10.0))
    xyz = g.centers_mm()
    values = 2.0 * xyz[..., 0] - 3.0 * xyz[..., 1] + 0.5 * xyz[..., 2]
    return Image(array=values, grid=g, units="1")


def test_shape_checked() -> None:
    g = Grid(shape=(2, 3, 4), spacing_mm=(1, 1, 1), origin_mm=(0, 0, 0))
    with pytest.raises(GeometryError, match=r"slice, row, column"):
        Image(array=np.zeros((4, 3, 2)), grid=g)


def test_array_is_read_only(linear_image: Image) -> None:
    with pytest.raises(ValueError, match="read-only"):
        linear_image.array[0, 0, 0] = 1.0


def test_trilinear_sample_exact_on_linear_field(linear_image: Image) -> None:
    rng = np.random.default_rng(3)
    g = linear_image.grid
    ijk = rng.uniform(0, np.asarray(g.shape_ijk) - 1, size=(40, 3))
    pts = g.index_to_mm(ijk)
    expected = 2.0 * pts[:, 0] - 3.0 * pts[:, 1] + 0.5 * pts[:, 2]
    np.testing.assert_allclose(linear_image.sample(pts), expected, atol=1e-9)


def test_sample_outside_is_fill(linear_image: Image) -> None:
    far = np.array([[1e4, 0, 0]])
    assert np.isnan(linear_image.sample(far)[0])
    assert linear_image.sample(far, fill_value=-1.0)[0] == -1.0


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.bool_])
def test_sample_of_a_few_points_matches_scipy_on_the_whole_array(order: int, dtype: type) -> None:
    """Sampling converts only the block around the points; values are scipy's, bit for bit."""
    from scipy import ndimage

    rng = np.random.default_rng(11)
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    g = Grid(
        shape=(9, 11, 13),
        spacing_mm=(2.5, 0.9, 0.8),
        origin_mm=(5.0, -3.0, 1.0),
        direction=direction,
    )
    raw = rng.normal(0.0, 300.0, size=g.shape)
    arr = (raw > 0) if dtype is np.bool_ else raw.astype(dtype)
    img = Image(array=arr, grid=g, units="1")
    upper = np.asarray(g.shape_ijk, dtype=np.float64) - 1.0
    clusters = [
        rng.uniform(0.0, upper, size=(30, 3)),  # anywhere
        rng.uniform([8.0, 6.0, 4.0], [9.5, 7.0, 5.0], size=(20, 3)),  # a corner of the grid
        np.array([[0.0, 0.0, 0.0], upper, [12.0, 10.0, 8.0], [11.5, 0.2, 3.0]]),  # edges
        rng.uniform(-0.5, upper + 0.5, size=(25, 3)),  # up to half a voxel outside
        np.array([[40.0, 2.0, 2.0], [3.0, 3.0, 3.0]]),  # one point far outside
    ]
    for ijk in clusters:
        pts = g.index_to_mm(ijk)
        got = img.sample(pts, order=order, fill_value=-7.0)
        # reference: the whole array as float64, indices clipped to the centres' hull
        back = g.mm_to_index(pts)
        coords = np.clip(back, 0.0, upper)[:, ::-1].T
        full = np.asarray(arr, dtype=np.float64)
        if order == 0:
            idx = np.rint(coords).astype(np.intp)
            ref = full[idx[0], idx[1], idx[2]]
        else:
            ref = ndimage.map_coordinates(full, coords, order=1, mode="nearest")
        ref = np.where(g.contains_index(back), ref, -7.0)
        np.testing.assert_array_equal(got, ref)


def test_resample_onto_finer_grid_keeps_linear_field(linear_image: Image) -> None:
    fine = linear_image.grid.with_spacing((1.0, 0.75, 0.5))
    out = linear_image.resample(fine, fill_value=np.nan)
    xyz = fine.centers_mm()
    expected = 2.0 * xyz[..., 0] - 3.0 * xyz[..., 1] + 0.5 * xyz[..., 2]
    src_ijk = linear_image.grid.mm_to_index(xyz.reshape(-1, 3)).reshape(xyz.shape)
    upper = np.asarray(linear_image.grid.shape_ijk) - 1
    ok = np.all((src_ijk >= 0) & (src_ijk <= upper), axis=-1)  # inside the centres' hull
    assert ok.mean() > 0.5
    np.testing.assert_allclose(out.array[ok], expected[ok], atol=1e-9)


def test_dose_units_and_sum() -> None:
    g = Grid(shape=(3, 3, 3), spacing_mm=(2, 2, 2), origin_mm=(0, 0, 0))
    d1 = Dose(array=np.full(g.shape, 2.0), grid=g, fractions=5)
    d2 = Dose(array=np.full(g.shape, 0.5), grid=g, fractions=5, name="boost")
    total = d1 + d2
    assert isinstance(total, Dose)
    np.testing.assert_allclose(total.array, 2.5)
    assert total.summation_type is DoseSummationType.MULTI_PLAN
    assert total.summation == "MULTI_PLAN"  # the name of rtplan 0.1 still reads
    assert total.fractions == 5
    assert total.history == ("sum with dose 'boost' (PLAN)",)
    tripled = d1.scaled(3.0)
    assert tripled.max_gy == pytest.approx(6.0)
    assert (tripled.summation_type, tripled.history) == ("PLAN", ("scaled by 3",))
    with pytest.raises(GeometryError, match="Gy"):
        Dose(array=np.zeros(g.shape), grid=g, units="cGy")


G1 = Grid(shape=(1, 2, 2), spacing_mm=(2, 2, 2), origin_mm=(0, 0, 0))


def test_dose_meaning_defaults_and_dicom_strings() -> None:
    d = Dose(array=np.ones(G1.shape), grid=G1)
    assert (d.summation_type, d.dose_type, d.fractions, d.history) == (
        DoseSummationType.PLAN,
        DoseType.PHYSICAL,
        None,
        (),
    )
    e = Dose(
        array=np.ones(G1.shape), grid=G1, summation_type="fraction session", dose_type="effective"
    )
    assert e.summation_type is DoseSummationType.FRACTION_SESSION
    assert e.dose_type is DoseType.EFFECTIVE
    assert e.meaning == "EFFECTIVE dose, FRACTION_SESSION (fractions unknown)"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"summation_type": "WEEKLY"}, r"unknown DICOM Dose Summation Type 'WEEKLY'; choose one"),
        ({"dose_type": "BIOLOGICAL"}, r"unknown DICOM Dose Type 'BIOLOGICAL'; choose one of"),
        ({"fractions": 0}, r"fractions must be a whole number >= 1, got 0"),
        ({"fractions": 2.5}, r"fractions must be a whole number >= 1, got 2\.5"),
        ({"fractions": True}, r"fractions must be a whole number >= 1, got True"),
    ],
)
def test_dose_meaning_is_validated(changes: dict[str, object], match: str) -> None:
    with pytest.raises(DoseError, match=match):
        Dose(array=np.ones(G1.shape), grid=G1, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "total", "per_fraction", "partial"),
    [
        ("PLAN", True, False, False),
        ("MULTI_PLAN", True, False, False),
        ("PLAN_OVERVIEW", True, False, False),
        ("FRACTION", False, True, False),
        ("FRACTION_SESSION", False, True, False),
        ("BEAM", False, False, True),
        ("BRACHY", False, False, True),
        ("BEAM_SESSION", False, False, True),
        ("BRACHY_SESSION", False, False, True),
        ("CONTROL_POINT", False, False, True),
        ("RECORD", False, False, True),
    ],
)
def test_summation_type_classes(kind: str, total: bool, per_fraction: bool, partial: bool) -> None:
    member = DoseSummationType(kind)
    assert (member.is_total, member.is_per_fraction, member.is_partial) == (
        total,
        per_fraction,
        partial,
    )


def test_per_fraction_and_total_convert_and_record() -> None:
    plan = Dose(array=np.full(G1.shape, 50.0), grid=G1, fractions=25, name="RD")
    one = plan.per_fraction()
    np.testing.assert_allclose(one.array, 2.0)
    assert (one.summation_type, one.fractions) == ("FRACTION", 25)
    assert one.history == ("per fraction: PLAN dose divided by 25 fractions",)
    back = one.total()
    np.testing.assert_allclose(back.array, 50.0)
    assert back.summation_type is DoseSummationType.PLAN
    assert back.history == (
        "per fraction: PLAN dose divided by 25 fractions",
        "total: FRACTION dose multiplied by 25 fractions",
    )
    assert "total: FRACTION dose multiplied by 25 fractions" in back.meaning
    # no change asked: the same object, nothing recorded
    assert plan.total() is plan
    assert one.per_fraction(25) is one
    # a dose without fractions converts when told how many
    unknown = Dose(array=np.full(G1.shape, 2.0), grid=G1, summation_type="FRACTION")
    np.testing.assert_allclose(unknown.total(30).array, 60.0)
    assert unknown.total(30).fractions == 30


@pytest.mark.parametrize(
    ("dose", "call", "match"),
    [
        (
            Dose(array=np.ones(G1.shape), grid=G1, summation_type="FRACTION"),
            lambda d: d.total(),
            r"dose '': the number of fractions is unknown, so total\(\) cannot be made; pass "
            r"fractions=",
        ),
        (
            Dose(array=np.ones(G1.shape), grid=G1, fractions=25),
            lambda d: d.per_fraction(30),
            r"belongs to a plan of 25 fractions, but per_fraction\(\) was asked for 30",
        ),
        (
            Dose(array=np.ones(G1.shape), grid=G1, fractions=25),
            lambda d: d.total(30),
            r"belongs to a plan of 25 fractions, but total\(\) was asked for 30",
        ),
        (
            Dose(array=np.ones(G1.shape), grid=G1, summation_type="BEAM", fractions=5),
            lambda d: d.total(),
            r"is a BEAM dose \(part of a plan or of a fraction\); total\(\) needs the dose",
        ),
        (
            Dose(array=np.ones(G1.shape), grid=G1, summation_type="CONTROL_POINT", fractions=5),
            lambda d: d.per_fraction(),
            r"is a CONTROL_POINT dose .*; per_fraction\(\) needs",
        ),
        (
            Dose(array=np.ones(G1.shape), grid=G1, fractions=5),
            lambda d: d.per_fraction(0),
            r"fractions must be a whole number >= 1, got 0",
        ),
    ],
)
def test_conversions_refuse_what_the_dose_does_not_say(
    dose: Dose, call: Callable[[Dose], Dose], match: str
) -> None:
    with pytest.raises(DoseError, match=match):
        call(dose)


def test_sums_refuse_mixed_meanings() -> None:
    plan = Dose(array=np.ones(G1.shape), grid=G1, name="plan")
    fraction = Dose(array=np.ones(G1.shape), grid=G1, summation_type="FRACTION", name="fx")
    with pytest.raises(DoseError, match=r"cannot add a FRACTION dose 'fx' to a PLAN dose 'plan'"):
        plan + fraction
    error = Dose(array=np.ones(G1.shape), grid=G1, dose_type="ERROR", name="err")
    with pytest.raises(DoseError, match=r"cannot add a ERROR dose 'err' to a PHYSICAL dose"):
        plan + error
    beams = Dose(array=np.ones(G1.shape), grid=G1, summation_type="BEAM", fractions=3)
    both = beams + beams
    assert (both.summation_type, both.fractions) == ("BEAM", 3)
    assert (plan + Dose(array=np.ones(G1.shape), grid=G1, fractions=3)).fractions is None


def test_bounding_box_of_a_mask_and_of_a_threshold() -> None:
    from rtplan.grid import IndexBox

    g = Grid(shape=(5, 6, 7), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    hu = np.full(g.shape, -1000.0)
    hu[1:3, 2:5, 3:6] = 40.0
    hu[4, 0, 0] = -500.0  # below the threshold, above the air
    ct = Image(array=hu, grid=g, units="HU")
    assert ct.bounding_box(above=-400.0) == IndexBox((1, 2, 3), (3, 5, 6))
    assert ct.bounding_box(above=-600.0) == IndexBox((1, 0, 0), (5, 5, 6))
    assert ct.bounding_box(above=100.0) is None
    mask = Image(array=hu > 0, grid=g, units="1")
    assert mask.bounding_box() == IndexBox((1, 2, 3), (3, 5, 6))


def test_crop_to_keeps_values_positions_and_class(linear_image: Image) -> None:
    from rtplan.grid import IndexBox

    box = IndexBox((1, 2, 3), (4, 5, 8))
    sub = linear_image.crop_to(box)
    assert type(sub) is Image
    np.testing.assert_array_equal(sub.array, linear_image.array[1:4, 2:5, 3:8])
    # the same patient points give the same values
    pts = sub.grid.centers_mm().reshape(-1, 3)
    np.testing.assert_allclose(sub.sample(pts), linear_image.sample(pts), atol=1e-9)
    assert not sub.array.flags.writeable
    dose = Dose(array=np.ones((6, 7, 8)), grid=linear_image.grid, fractions=5)
    cropped = dose.crop_to(box)
    assert isinstance(cropped, Dose)
    assert cropped.fractions == 5
    with pytest.raises(GeometryError, match="outside grid"):
        linear_image.crop_to(IndexBox((0, 0, 0), (7, 1, 1)))


def test_crop_to_keeps_the_provenance_of_the_slices_kept() -> None:
    from pathlib import Path

    from rtplan.grid import IndexBox
    from rtplan.image import SeriesInfo

    g = Grid(shape=(4, 2, 2), spacing_mm=(1.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    uids = tuple(f"1.2.3.{k}" for k in range(4))
    files = tuple(Path(f"CT_{k}.dcm") for k in range(4))
    series = SeriesInfo(series_instance_uid="1.2.3", sop_instance_uids=uids, files=files)
    ct = Image(array=np.zeros(g.shape), grid=g, units="HU", series=series)
    sub = ct.crop_to(IndexBox((1, 0, 0), (3, 2, 2)))
    assert sub.series is not None
    assert sub.series.sop_instance_uids == uids[1:3]
    assert sub.series.files == files[1:3]
    assert sub.series.series_instance_uid == "1.2.3"
