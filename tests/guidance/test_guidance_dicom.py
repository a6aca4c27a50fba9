"""DICOM for PACS and TPS: Secondary Capture, RT-Struct markers, presentation state."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pydicom
import pytest

from rtplan import ContourType, Image
from rtplan.errors import DicomWriteError
from rtplan.guidance import (
    Trajectory,
    avoidance_zone,
    overlay_view,
    render_overlay,
    slice_pieces,
    trajectory_structures,
    write_presentation_state,
)
from rtplan.io import read_rtstruct, write_rtstruct
from rtplan.io.capture import SECONDARY_CAPTURE_SOP_CLASS, write_secondary_capture


@pytest.fixture
def needle() -> Trajectory:
    # crosses several 2.5 mm slices: z from -8 to 6 mm
    return Trajectory(
        entry_mm=[-45.0, -20.0, -8.0],
        target_mm=[-2.0, 3.0, 6.0],
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0.0,
        out_of_plane_deg=0.0,
        tissue_fraction={},
    )


def test_secondary_capture(dicom_ct: Image, tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    view = overlay_view(dicom_ct, plane="coronal", at_mm=0.0)
    rgb = render_overlay(dicom_ct, view=view)
    path = write_secondary_capture(
        rgb,
        tmp_path / "sc" / "SC.dcm",
        reference=dicom_ct,
        patient_orientation=("L", "I"),
        source_slices=[0, 5],
        pixel_spacing_mm=view.pixel_mm,
        derivation_description="coronal overlay",
    )
    assert dciodvfy(path) == []
    ds = pydicom.dcmread(path)
    series = dicom_ct.series
    assert series is not None
    assert ds.SOPClassUID == SECONDARY_CAPTURE_SOP_CLASS
    assert ds.StudyInstanceUID == series.study_instance_uid
    assert ds.SeriesInstanceUID != series.series_instance_uid
    assert ds.PatientID == series.patient["PatientID"]
    assert ds.PatientName == series.patient["PatientName"]
    assert list(ds.PatientOrientation) == ["L", "F"]  # S/I are written H/F
    assert ds.BurnedInAnnotation == "NO"
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.SamplesPerPixel == 3
    np.testing.assert_array_equal(ds.pixel_array, rgb)
    refs = [item.ReferencedSOPInstanceUID for item in ds.SourceImageSequence]
    assert refs == [series.sop_instance_uids[0], series.sop_instance_uids[5]]
    flagged = write_secondary_capture(
        rgb,
        tmp_path / "SC2.dcm",
        reference=dicom_ct,
        patient_orientation=("L", "P"),
        burned_in_annotation=True,
    )
    assert pydicom.dcmread(flagged).BurnedInAnnotation == "YES"


def test_secondary_capture_errors(dicom_ct: Image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rgb = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(DicomWriteError, match="uint8 RGB"):
        write_secondary_capture(
            rgb.astype(float), tmp_path / "a.dcm", reference=dicom_ct, patient_orientation="LP"
        )
    with pytest.raises(DicomWriteError, match="patient_orientation"):
        write_secondary_capture(
            rgb, tmp_path / "a.dcm", reference=dicom_ct, patient_orientation=("X", "P")
        )
    with pytest.raises(DicomWriteError, match="source slices"):
        write_secondary_capture(
            rgb,
            tmp_path / "a.dcm",
            reference=dicom_ct,
            patient_orientation=("L", "P"),
            source_slices=[99],
        )
    with pytest.raises(DicomWriteError, match="no DICOM study"):
        write_secondary_capture(
            rgb,
            tmp_path / "a.dcm",
            reference=replace(dicom_ct, series=None),
            patient_orientation=("L", "P"),
        )


def test_slice_pieces_cover_the_needle(dicom_ct: Image, needle: Trajectory) -> None:
    pieces = slice_pieces(needle, dicom_ct)
    g = dicom_ct.grid
    ks = [p.k for p in pieces]
    k0, k1 = g.mm_to_index(np.stack([needle.entry_mm, needle.target_mm]))[:, 2]
    assert ks == list(range(round(k0), round(k1) + 1))
    total = 0.0
    for p in pieces:
        z = g.index_to_mm([0.0, 0.0, float(p.k)])[2]
        np.testing.assert_allclose(p.points_mm[:, 2], z)  # on the slice plane
        # in-plane, each piece lies on the needle's projection
        d = needle.direction[:2] / np.linalg.norm(needle.direction[:2])
        rel = p.points_mm[:, :2] - needle.entry_mm[:2]
        np.testing.assert_allclose(rel[:, 0] * d[1] - rel[:, 1] * d[0], 0.0, atol=1e-9)
        total += float(np.linalg.norm(p.points_mm[1, :2] - p.points_mm[0, :2]))
    # the pieces together span the needle's projection on the axial plane
    assert total == pytest.approx(float(np.linalg.norm((needle.target_mm - needle.entry_mm)[:2])))


def test_rtstruct_markers_round_trip(
    dicom_ct: Image, needle: Trajectory, tmp_path, dciodvfy
) -> None:  # type: ignore[no-untyped-def]
    entry, target, path = trajectory_structures(needle, dicom_ct)
    assert [c.geometric_type for c in entry.contours] == [ContourType.POINT]
    assert {c.geometric_type for c in path.contours} == {ContourType.OPEN_PLANAR}
    out = write_rtstruct([entry, target, path], tmp_path / "RS.dcm", reference=dicom_ct)
    assert dciodvfy(out) == []
    back = read_rtstruct(out, reference=dicom_ct)
    np.testing.assert_allclose(back["NeedleEntry"].points_mm[0], needle.entry_mm, atol=1e-6)
    np.testing.assert_allclose(back["NeedleTarget"].points_mm[0], needle.target_mm, atol=1e-6)
    assert back["NeedleEntry"].interpreted_type == "MARKER"
    read_path = back["NeedlePath"].contours
    assert len(read_path) == len(slice_pieces(needle, dicom_ct))
    assert all(c.geometric_type is ContourType.OPEN_PLANAR and c.n_points == 2 for c in read_path)
    ds = pydicom.dcmread(out)
    series = dicom_ct.series
    assert series is not None
    assert ds.FrameOfReferenceUID == series.frame_of_reference_uid
    for roi in ds.ROIContourSequence:
        for c in roi.ContourSequence:
            uid = c.ContourImageSequence[0].ReferencedSOPInstanceUID
            assert uid in series.sop_instance_uids
    # a needle along the slice normal: one OPEN_NONPLANAR contour
    vertical = Trajectory(
        entry_mm=[0.0, 0.0, -20.0],
        target_mm=[0.0, 0.0, 20.0],
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0,
        out_of_plane_deg=90,
        tissue_fraction={},
    )
    _, _, vpath = trajectory_structures(vertical, dicom_ct)
    assert [c.geometric_type for c in vpath.contours] == [ContourType.OPEN_NONPLANAR]


def test_presentation_state(dicom_ct: Image, needle: Trajectory, tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    out = write_presentation_state(needle, dicom_ct, tmp_path / "PR.dcm", window="bone")
    assert dciodvfy(out) == []
    ds = pydicom.dcmread(out)
    series = dicom_ct.series
    assert series is not None
    assert ds.Modality == "PR"
    assert ds.StudyInstanceUID == series.study_instance_uid
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == series.series_instance_uid
    assert len(ds.ReferencedSeriesSequence[0].ReferencedImageSequence) == dicom_ct.shape[0]
    voi = ds.SoftcopyVOILUTSequence[0]
    assert (float(voi.WindowWidth), float(voi.WindowCenter)) == (2000.0, 500.0)
    pieces = {p.k: p for p in slice_pieces(needle, dicom_ct)}
    uid_to_k = {u: k for k, u in enumerate(series.sop_instance_uids)}
    seen = set()
    for ann in ds.GraphicAnnotationSequence:
        k = uid_to_k[ann.ReferencedImageSequence[0].ReferencedSOPInstanceUID]
        for obj in ann.get("GraphicObjectSequence", []):
            if obj.GraphicType != "POLYLINE":
                continue
            data = np.asarray(obj.GraphicData, dtype=float).reshape(-1, 2)
            # PIXEL units: (column, row) from the top-left corner of the first pixel
            np.testing.assert_allclose(data, pieces[k].ijk[:, :2] + 0.5, atol=1e-3)
            seen.add(k)
    assert seen == set(pieces)
    # independently: every CT slice whose slab the needle crosses carries its piece
    z = np.array([dicom_ct.grid.index_to_mm([0.0, 0.0, float(k)])[2] for k in range(len(uid_to_k))])
    half = 0.5 * dicom_ct.grid.spacing_mm[0]
    lo, hi = sorted((needle.entry_mm[2], needle.target_mm[2]))
    crossed = {k for k in range(len(z)) if z[k] + half > lo and z[k] - half <= hi}
    assert len(crossed) == 7  # z -8 .. 6 mm on 2.5 mm slices centred at -8.75 .. 6.25
    assert seen == crossed
    with pytest.raises(DicomWriteError, match="read from DICOM"):
        write_presentation_state(needle, replace(dicom_ct, series=None), tmp_path / "x.dcm")


def test_presentation_state_marks_stay_on_the_image(dicom_ct: Image, tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    """An entry on the last column: the entry circle and labels are drawn inwards."""
    g = dicom_ct.grid
    edge = g.index_to_mm([g.shape_ijk[0] - 1.0, 40.0, 10.0])
    needle = Trajectory(
        entry_mm=edge,
        target_mm=[0.0, -4.5, edge[2]],
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0.0,
        out_of_plane_deg=0.0,
        tissue_fraction={},
    )
    out = write_presentation_state(needle, dicom_ct, tmp_path / "PR.dcm")
    assert dciodvfy(out) == []
    ds = pydicom.dcmread(out)
    cols, rows = g.shape_ijk[0], g.shape_ijk[1]
    n_points = 0
    for ann in ds.GraphicAnnotationSequence:
        for obj in ann.get("GraphicObjectSequence", []):
            data = np.asarray(obj.GraphicData, dtype=float).reshape(-1, 2)
            assert np.all((data >= 0) & (data <= [cols, rows]))
            n_points += len(data)
        for text in ann.get("TextObjectSequence", []):
            anchor = np.asarray(text.AnchorPoint, dtype=float)
            assert np.all((anchor >= 0) & (anchor <= [cols, rows]))
    assert n_points >= 4  # the path, the entry circle and the target point


def test_exports_of_a_limb_keep_its_laterality(thigh_path, spine_path, tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    """SC and GSPS of the right thigh say R (as its CT); of the spine they say nothing."""
    import rtplan

    for path, laterality, part in ((thigh_path, "R", "THIGH"), (spine_path, None, "LSPINE")):
        ct = rtplan.load_study(path).ct
        centre = ct.grid.index_to_mm((np.asarray(ct.grid.shape_ijk) - 1) / 2.0)
        needle = Trajectory(
            entry_mm=centre + np.array([30.0, 0.0, 0.0]),
            target_mm=centre,
            clearance_mm={},
            required_clearance_mm={},
            in_plane_deg=90.0,
            out_of_plane_deg=0.0,
            tissue_fraction={},
        )
        view = overlay_view(ct, plane="axial", trajectory=needle)
        sc = write_secondary_capture(
            render_overlay(ct, view=view, trajectory=needle),
            tmp_path / f"SC_{part}.dcm",
            reference=ct,
            patient_orientation=("L", "P"),
        )
        pr = write_presentation_state(needle, ct, tmp_path / f"PR_{part}.dcm")
        for out in (sc, pr):
            assert dciodvfy(out) == [], out.name
            ds = pydicom.dcmread(out)
            assert ds.get("Laterality") == laterality, out.name
            assert ds.BodyPartExamined == part


@pytest.mark.parametrize("clearance_mm", [0.0, 2.5, 4.0, 7.3])
def test_avoidance_zone_is_the_exact_euclidean_margin(phantom, clearance_mm: float) -> None:  # type: ignore[no-untyped-def]
    """Voxel centres within the clearance of the structure's voxel centres: the same set as
    scipy's Euclidean distance transform over the whole CT (the zone is computed on a box)."""
    from scipy import ndimage

    g = phantom.ct.grid
    for structure in (phantom.canal, phantom.gtv, phantom.body):  # the body touches the edges
        zone = avoidance_zone(structure, phantom.ct, clearance_mm)
        mask = structure.mask(g)
        dist = ndimage.distance_transform_edt(~mask, sampling=g.spacing_mm)
        expected = dist <= clearance_mm + 1e-6
        np.testing.assert_array_equal(zone.mask(g), expected)
        assert zone.interpreted_type == "AVOIDANCE"
        assert zone.name == f"{structure.name}_{clearance_mm:g}mm"


def test_export_options() -> None:
    from rtplan.enum import Window
    from rtplan.errors import GeometryError, RtplanError
    from rtplan.guidance import ExportOptions

    assert ExportOptions(window="Bone").window is Window.BONE
    assert ExportOptions(window=(350.0, 50.0)).window == (350.0, 50.0)
    with pytest.raises(RtplanError, match="n_overlays must be >= 1"):
        ExportOptions(n_overlays=0)
    with pytest.raises(GeometryError, match="unknown window 'brain'"):
        ExportOptions(window="brain")


def test_export_plan_writes_tables_overlays_and_dicom(dicom_ct: Image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rtplan.guidance import ExportOptions, export_plan, plan_trajectory
    from rtplan.testing import cylinder_phantom

    p = cylinder_phantom()
    res = plan_trajectory(dicom_ct, p.gtv, avoid=[p.canal], clearance_mm=3.0, body=p.body, n_best=2)
    written = export_plan(
        res,
        dicom_ct,
        tmp_path,
        target=p.gtv,
        avoided=[p.canal],
        options=ExportOptions(window="bone", dicom=False),
        dicom=True,  # a keyword replaces that field of the options
        n_overlays=2,
    )
    planes = ("axial", "oblique", "oblique_orthogonal", "coronal", "sagittal")
    expected = [f"rank{r}_{plane}.png" for r in (1, 2) for plane in planes]
    assert [f.name for f in written["overlays"]] == [*expected, "accessibility.png"]
    assert [f.name for f in written["table"]] == ["trajectories.csv", "trajectories.json"]
    names = sorted(f.name for f in written["dicom"])
    assert names == sorted(
        ["RS_trajectory.dcm", "PR_needle.dcm"] + [f"SC_{n[:-4]}.dcm" for n in expected]
    )
    # each capture lists the CT slices its plane crosses
    view = overlay_view(dicom_ct, plane="axial", trajectory=res[0], structures=[p.gtv, p.canal])
    sc = pydicom.dcmread(tmp_path / "dicom" / "SC_rank1_axial.dcm")
    uids = [item.ReferencedSOPInstanceUID for item in sc.SourceImageSequence]
    assert uids == [dicom_ct.series.sop_instance_uids[k] for k in view.source_slices(dicom_ct.grid)]
    rois = {
        s.name for s in read_rtstruct(tmp_path / "dicom" / "RS_trajectory.dcm", reference=dicom_ct)
    }
    assert {"Needle1_Entry", "Needle2_Path", "GTV", "SpinalCanal", "SpinalCanal_3mm"} <= rois
    pr = pydicom.dcmread(tmp_path / "dicom" / "PR_needle.dcm")
    voi = pr.SoftcopyVOILUTSequence[0]
    assert (float(voi.WindowWidth), float(voi.WindowCenter)) == (2000.0, 500.0)
