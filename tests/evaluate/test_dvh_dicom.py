"""DVHs stored in RT Dose files: parsing, units, and comparison with computed DVHs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from evaluate_helpers import (
    Cylinder,
    dose_grid,
    dvh_item,
    import_dicompyler,
    linear_dose,
    rtdose_dataset,
)

import rtplan
from rtplan.errors import DicomReadError, RtplanWarning
from rtplan.evaluate import dvh, read_dvhs


@pytest.fixture(scope="module")
def small_dose() -> rtplan.Dose:
    g = rtplan.Grid(shape=(3, 3, 3), spacing_mm=(2.0, 2.0, 2.0), origin_mm=(0.0, 0.0, 0.0))
    return rtplan.Dose(array=np.full(g.shape, 2.0), grid=g)


def test_cumulative_cm3_matches_dicompyler(small_dose: rtplan.Dose) -> None:
    ds = rtdose_dataset(small_dose, dvh_items=[dvh_item(7, [1, 1, 1, 1], [10, 8, 4, 1])])
    out = read_dvhs(ds)
    h = out[7]
    assert (h.source, h.roi_number, h.name) == ("RTDOSE", 7, "ROI 7")
    assert h.volume_cc == pytest.approx(10.0)
    # V_n is the volume receiving at least the start of bin n
    assert h.V(1.0, volume_unit="cc") == pytest.approx(8.0)
    assert h.V(3.0, volume_unit="cc") == pytest.approx(1.0)
    assert h.V(2.5, volume_unit="cc") == pytest.approx(2.5)  # linear inside bins
    _, dvh_mod = import_dicompyler()
    theirs = dvh_mod.DVH.from_dicom_dvh(ds, 7)
    assert theirs.volume == pytest.approx(h.volume_cc)
    assert theirs.mean == pytest.approx(h.mean_gy)
    assert theirs.max == pytest.approx(h.max_gy)
    for level in (0.0, 1.0, 2.0, 3.0):
        assert theirs.volume_constraint(level, "Gy").value == pytest.approx(
            h.V(level, volume_unit="cc")
        )


def test_units_scaling_and_stored_statistics(small_dose: rtplan.Dose) -> None:
    items = [
        dvh_item(1, [50, 50, 50], [6, 3, 1], dose_units="CGY"),
        dvh_item(
            2,
            [2, 2],
            [5, 1],
            scaling=0.5,
            extra={"DVHMeanDose": 0.8, "DVHMinimumDose": 0.1, "DVHMaximumDose": 1.9},
        ),
        dvh_item(3, [1, 1, 1], [1.0, 2.0, 1.0], dvh_type="DIFFERENTIAL"),
        dvh_item(4, [2, 2], [0.5, 0.25], dvh_type="DIFFERENTIAL", volume_units="PER_U"),
        # cm³ per cGy, bins of 100 x 0.5 = 50 cGy: 1.0 and 0.5 cm³
        dvh_item(
            5,
            [100, 100],
            [0.02, 0.01],
            dvh_type="DIFFERENTIAL",
            volume_units="PER_U",
            dose_units="CGY",
            scaling=0.5,
        ),
    ]
    out = read_dvhs(rtdose_dataset(small_dose, dvh_items=items))
    np.testing.assert_allclose(out[1].bin_edges_gy, [0.0, 0.5, 1.0, 1.5])
    assert out[1].V(0.5, volume_unit="cc") == pytest.approx(3.0)
    np.testing.assert_allclose(out[2].bin_edges_gy, [0.0, 1.0, 2.0])
    assert (out[2].mean_gy, out[2].min_gy, out[2].max_gy) == (0.8, 0.1, 1.9)
    assert out[3].volume_cc == pytest.approx(4.0)
    assert out[3].V(1.0, volume_unit="cc") == pytest.approx(3.0)
    # PER_U: volume per Gy times the bin width
    assert out[4].volume_cc == pytest.approx(1.5)
    assert out[4].V(2.0, volume_unit="cc") == pytest.approx(0.5)
    # PER_U in the DoseUnits, times the scaled bin width
    np.testing.assert_allclose(out[5].bin_edges_gy, [0.0, 0.5, 1.0])
    assert out[5].volume_cc == pytest.approx(1.5)
    assert out[5].V(0.5, volume_unit="cc") == pytest.approx(0.5)


def test_percent_volumes_take_the_structure_volume(small_dose: rtplan.Dose) -> None:
    cyl = Cylinder(5.0, 0.0, 4, 2.5, name="Cyl").structure
    ss = rtplan.StructureSet(
        structures=(
            rtplan.Structure(name="Cyl", number=3, contours=cyl.contours, slice_thickness_mm=2.5),
        )
    )
    ds = rtdose_dataset(
        small_dose, dvh_items=[dvh_item(3, [1, 1], [100, 40], volume_units="PERCENT")]
    )
    h = read_dvhs(ds, structures=ss)[3]
    assert h.name == "Cyl"
    assert h.volume_cc == pytest.approx(ss["Cyl"].volume_cc)
    assert h.V(1.0) == pytest.approx(40.0)
    unknown = read_dvhs(ds)[3]  # no structure: relative volumes only
    assert np.isnan(unknown.volume_cc)
    assert unknown.V(1.0) == pytest.approx(40.0)


def test_bad_items_are_skipped_with_warnings(small_dose: rtplan.Dose) -> None:
    good = dvh_item(1, [1], [1])
    no_ref = dvh_item(2, [1], [1])
    del no_ref.DVHReferencedROISequence
    relative = dvh_item(3, [1], [1], dose_units="RELATIVE")
    odd = dvh_item(4, [1], [1])
    odd.DVHData = [1.0, 2.0, 3.0]
    ds = rtdose_dataset(small_dose, dvh_items=[good, no_ref, relative, odd])
    with pytest.warns(RtplanWarning) as rec:
        out = read_dvhs(ds)
    assert list(out) == [1]
    text = " | ".join(str(w.message) for w in rec)
    assert "item 2 names no ROI" in text
    assert "DoseUnits RELATIVE" in text
    assert "DVHData holds 3 values" in text


def test_files_and_errors(tmp_path: Path, small_dose: rtplan.Dose) -> None:
    p = tmp_path / "rd.dcm"
    rtdose_dataset(small_dose, dvh_items=[dvh_item(5, [1, 1], [2, 1])]).save_as(
        p, enforce_file_format=True
    )
    assert list(read_dvhs(p)) == [5]
    assert read_dvhs(rtdose_dataset(small_dose)) == {}
    with pytest.raises(DicomReadError, match="cannot read RT Dose"):
        read_dvhs(tmp_path / "missing.dcm")
    ct = rtdose_dataset(small_dose)
    ct.Modality = "CT"
    with pytest.raises(DicomReadError, match="is a CT object, not RTDOSE"):
        read_dvhs(ct)


def test_computed_dvh_compares_with_its_stored_copy() -> None:
    """A DVH written to a DVH Sequence (0.01 Gy bins) reads back within 0.1 % of volume."""
    cyl = Cylinder(8.0, -10.0, 8, 2.5, name="PTV").structure
    g = dose_grid(2.5, (-20, -20, -20), (20, 20, 20))
    dose = linear_dose(g, 30.0, (0.2, 0.0, 0.6))
    h = dvh(dose, cyl)
    edges = np.arange(0.0, h.max_gy + 0.02, 0.01)
    cum_cc = np.array([h.V(float(e), volume_unit="cc") for e in edges[:-1]])
    item = dvh_item(1, np.diff(edges).tolist(), cum_cc.tolist())
    stored = read_dvhs(rtdose_dataset(dose, dvh_items=[item]))[1]
    assert stored.max_difference(h) < 0.1
    assert stored.volume_cc == pytest.approx(h.volume_cc, rel=1e-9)
    assert stored.D(95) == pytest.approx(h.D(95), abs=0.01)
