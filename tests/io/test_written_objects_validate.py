"""Every kind of DICOM object rtplan writes validates and reads back in peer tools.

One study (the thigh_sarcoma sample, read with rtplan) is written out once as each object
rtplan can write:

========  =====================================  ==================================
kind      writer                                 read back by (besides pydicom)
========  =====================================  ==================================
RS        ``rtplan.io.write_rtstruct``: the 11     rt-utils 1.2.7, dicompyler-core
          sample ROIs (holes: FemurCortex), a
          POINT marker, OPEN_PLANAR and
          OPEN_NONPLANAR contours, an empty ROI
RD32      ``rtplan.io.write_rtdose`` (32-bit)    dicompyler-core
RD16      ``rtplan.io.write_rtdose`` (16-bit)    dicompyler-core
RP        ``rtplan.io.write_rtplan`` (conformal  dicompyler-core
          3-field plan with MLC)
SC        ``rtplan.io.write_secondary_capture``  dcmtk ``dcm2pnm`` (pixels)
          (an axial overlay)
PR        ``rtplan.guidance.                     dcmtk ``dcmpschk`` (checker) and
          write_presentation_state`` (GSPS)      ``dcmp2pgm`` (renders a CT slice
                                                 through it)
========  =====================================  ==================================

Each file must pass ``dciodvfy`` with no error line, be read by ``pydicom.dcmread``
without ``force`` (preamble and file meta present, every element decodable, pixel data
decoding to what was written), carry the CT's patient, study and (for RT objects) frame of
reference, and be read by its peers.

Two limits of the peers are stated rather than hidden:

* rt-utils reads RT Structure Sets only; the RT Dose, RT Plan, Secondary Capture and
  presentation state are read back by the other tools of the table. rt-utils makes a mask
  of an ROI only when every contour has a Contour Image Sequence and the ROI has a
  Contour Sequence (both Type 3 in PS3.3 C.8.8.6): it cannot make one for the
  OPEN_NONPLANAR ROI (no single image holds it) nor for the empty ROI; it lists both.
* The Debian dicom3tools (1.00~20220618) aborts on 32-bit Pixel Data (assertion
  ``bitsallocated <= bytesinword*8u`` in attrothr.cc). rtplan writes RT Dose with 32-bit
  integers by default, so that file is validated with its pixels re-encoded as 16-bit
  (every module and attribute is still checked, only the pixel encoding is not); pydicom
  and dicompyler-core decode the 32-bit file itself, and the 16-bit RT Dose is validated
  as written.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from scipy import ndimage

import factories
import rtplan
from rtplan import Contour, ContourType, Image, Structure
from rtplan.errors import RtplanWarning
from rtplan.guidance import Trajectory, render_overlay, write_presentation_state
from rtplan.io.capture import write_secondary_capture

pytestmark = pytest.mark.peer

SOP_CLASSES = {
    "RS": "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set Storage
    "RD32": "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose Storage
    "RD16": "1.2.840.10008.5.1.4.1.1.481.2",
    "RP": "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan Storage
    "SC": "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "PR": "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State Storage
}
KINDS = list(SOP_CLASSES)
RT_KINDS = ("RS", "RD32", "RD16", "RP")
MU = (101.5, 87.25, 93.0)
CROSS = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool)  # in-plane neighbours
_DCIODVFY_32BIT_ABORT = "bitsallocated <= bytesinword"


@dataclass(frozen=True)
class Written:
    """The study, what was written from it, and the files."""

    ct: Image
    ct_folder: Path
    structures: list[Structure]
    dose: rtplan.Dose
    plan_uid: str
    rgb: np.ndarray
    trajectory: Trajectory
    files: dict[str, Path]


def _extra_structures(ct: Image, at_mm: np.ndarray) -> list[Structure]:
    """A POINT marker, an OPEN_PLANAR wire, an OPEN_NONPLANAR catheter, an empty ROI."""
    assert ct.series is not None
    g = ct.grid

    def z(k: int) -> float:
        return float(g.index_to_mm([0.0, 0.0, float(k)])[2])

    x, y = float(at_mm[0]), float(at_mm[1])
    marker = (
        Contour(  # drawn on slice 20
            points_mm=[[x, y, z(20)]],
            geometric_type="POINT",
            image_uid=ct.series.sop_instance_uids[20],
        ),
        Contour(points_mm=[[x + 5.25, y - 3.5, z(22) + 0.7]], geometric_type="POINT"),
    )
    wire = tuple(
        Contour(
            points_mm=[[x - 10.0, y, z(k)], [x + 10.0, y + 4.0, z(k)], [x + 12.0, y + 9.0, z(k)]],
            geometric_type="OPEN_PLANAR",
        )
        for k in (18, 19, 20)
    )
    catheter = (
        Contour(
            points_mm=[[x, y, z(15)], [x + 3.0, y + 1.0, z(20)], [x + 4.0, y + 3.0, z(25)]],
            geometric_type="OPEN_NONPLANAR",
        ),
    )
    return [
        Structure(name="Marker", number=20, color=(255, 255, 0), interpreted_type="MARKER",
                  contours=marker),
        Structure(name="Wire", number=21, color=(0, 255, 0), contours=wire),
        Structure(name="Catheter", number=22, color=(0, 0, 255), contours=catheter),
        Structure(name="Empty", number=23, color=(90, 90, 90), interpreted_type="ORGAN"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    from pydicom.uid import generate_uid

    folder = rtplan.data.get_path("thigh_sarcoma")
    study = rtplan.load_study(folder)
    ct = study.ct
    out = tmp_path_factory.mktemp("written")
    gtv = study.structures["GTV"]
    ptv = study.structures["PTV"]
    structures = [*study.structures, *_extra_structures(ct, gtv.centroid_mm)]
    files: dict[str, Path] = {}
    files["RS"] = rtplan.io.write_rtstruct(
        structures, out / "RS.dcm", reference=ct, label="ALL_KINDS"
    )

    plan = rtplan.Plan.conformal(
        ptv, gantry_angles_deg=[0, 120, 240], energy="6X", prescription_gy=30.0, fractions=10
    )
    plan = replace(plan, beams=[replace(b, mu=m) for b, m in zip(plan.beams, MU, strict=True)])
    plan_uid = str(generate_uid())
    files["RP"] = rtplan.io.write_rtplan(
        plan,
        out / "RP.dcm",
        reference=ct,
        structures_sop_uid=str(pydicom.dcmread(files["RS"]).SOPInstanceUID),
        sop_instance_uid=plan_uid,
    )

    # an analytic dose on a 4 mm grid: 33 Gy Gaussian about the PTV, 0.4 Gy floor
    grid = ct.grid.with_spacing(4.0)
    r2 = np.sum((grid.centers_mm() - ptv.centroid_mm) ** 2, axis=-1)
    dose = rtplan.Dose(array=0.4 + 32.6 * np.exp(-r2 / (2 * 35.0**2)), grid=grid)
    files["RD32"] = rtplan.io.write_rtdose(
        dose, out / "RD32.dcm", reference=ct, plan_sop_uid=plan_uid
    )
    files["RD16"] = rtplan.io.write_rtdose(
        dose, out / "RD16.dcm", reference=ct, plan_sop_uid=plan_uid, bits_allocated=16
    )

    k = 20
    z_mm = float(ct.grid.index_to_mm([0.0, 0.0, float(k)])[2])
    rgb = render_overlay(ct, plane="axial", at_mm=z_mm, dose=dose, structures=[ptv, gtv])
    files["SC"] = write_secondary_capture(
        rgb,
        out / "SC.dcm",
        reference=ct,
        patient_orientation=("L", "P"),
        source_slices=[k],
        derivation_description="axial overlay of the PTV, GTV and dose",
    )

    # a needle from the lateral skin to the GTV centre, across several 3 mm slices
    target = np.asarray(gtv.centroid_mm, dtype=np.float64)
    trajectory = Trajectory(
        entry_mm=target + np.array([-60.0, 5.0, 10.0]),
        target_mm=target,
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0.0,
        out_of_plane_deg=0.0,
        tissue_fraction={},
    )
    files["PR"] = write_presentation_state(trajectory, ct, out / "PR.dcm", window="bone")
    return Written(
        ct=ct,
        ct_folder=folder,
        structures=structures,
        dose=dose,
        plan_uid=plan_uid,
        rgb=np.asarray(rgb),
        trajectory=trajectory,
        files=files,
    )


# --------------------------------------------------------------------------- dciodvfy
def _dciodvfy_output(path: Path) -> tuple[int, str]:
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.fail("dciodvfy not found: apt-get install dicom3tools")
    proc = subprocess.run(
        [exe, "-new", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    return proc.returncode, proc.stdout + proc.stderr


def _recode_rtdose_16bit(path: Path, out: Path) -> Path:
    """The same RT Dose with its values stored as 16-bit integers (for dciodvfy only)."""
    ds = pydicom.dcmread(path)
    assert ds.BitsAllocated == 32
    values = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    scale = float(np.abs(values).max()) / 65535
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.DoseGridScaling = rtplan.io.rtdose.ds_str(scale * (1 + 1e-9))
    stored = np.rint(values / float(ds.DoseGridScaling))
    ds.PixelData = stored.astype("<u2").tobytes()
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_dciodvfy_reports_no_error(written: Written, kind: str, tmp_path: Path) -> None:
    path = written.files[kind]
    code, output = _dciodvfy_output(path)
    if kind == "RD32":
        # the validator's own limit (module docstring): it must abort on exactly that
        assert _DCIODVFY_32BIT_ABORT in output, output
        path = _recode_rtdose_16bit(path, tmp_path / "RD32_as_16bit.dcm")
        code, output = _dciodvfy_output(path)
    assert code in (0, 1), f"dciodvfy crashed (exit {code}) on {path}:\n{output}"
    assert "Assertion" not in output, output
    assert factories.dciodvfy(path) == []
    assert [ln for ln in output.splitlines() if ln.startswith("Error")] == []


# --------------------------------------------------------------------------- pydicom
def _decode_every_element(ds: Dataset) -> int:
    """Touch every element's value (raw elements are converted on access); count them."""
    n = 0
    for elem in ds.iterall():
        _ = elem.value
        n += 1
    return n


@pytest.mark.parametrize("kind", KINDS)
def test_pydicom_reads_back_with_study_identity(written: Written, kind: str) -> None:
    ds = pydicom.dcmread(written.files[kind])  # no force: preamble and file meta required
    assert _decode_every_element(ds) > 20
    meta = ds.file_meta
    assert ds.SOPClassUID == SOP_CLASSES[kind]
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.TransferSyntaxUID in (pydicom.uid.ExplicitVRLittleEndian,
                                      pydicom.uid.ImplicitVRLittleEndian)  # fmt: skip
    series = written.ct.series
    assert series is not None
    assert ds.StudyInstanceUID == series.study_instance_uid
    assert ds.SeriesInstanceUID != series.series_instance_uid  # a new series
    assert ds.PatientID == series.patient["PatientID"]
    assert ds.PatientName == series.patient["PatientName"]
    if kind in RT_KINDS:
        assert ds.FrameOfReferenceUID == series.frame_of_reference_uid


def test_every_object_has_its_own_uids(written: Written) -> None:
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in written.files.values()]
    assert len({h.SOPInstanceUID for h in headers}) == len(KINDS)
    assert len({h.SeriesInstanceUID for h in headers}) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_object_carries_the_writer_stamp(written: Written, kind: str) -> None:
    """One writer shell: the same stamp, text encoding and study modules in every object."""
    ds = pydicom.dcmread(written.files[kind], stop_before_pixels=True)
    assert ds.Manufacturer == "rtplan"
    assert ds.ManufacturerModelName == "rtplan"
    assert ds.SoftwareVersions == rtplan.__version__ == importlib.metadata.version("rtplan")
    assert len(ds.InstanceCreationDate) == 8
    assert len(ds.InstanceCreationTime) >= 6
    series = written.ct.series
    assert series is not None
    for keyword in ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID",
                    "AccessionNumber", "ReferringPhysicianName"):  # fmt: skip
        assert str(ds.get(keyword, "")) == str(series.patient.get(keyword, "")), keyword
    if kind != "PR":  # highdicom builds the presentation state's own header
        assert ds.SpecificCharacterSet == "ISO_IR 192"


def test_no_temporary_file_is_left(written: Written) -> None:
    folder = written.files["RS"].parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in written.files.values()
    )


def test_dciodvfy_check_catches_a_broken_object(written: Written, tmp_path: Path) -> None:
    """Negative control: the same check reports a Type 1 attribute removed."""
    ds = pydicom.dcmread(written.files["RS"])
    del ds.StructureSetLabel  # Type 1 in the Structure Set Module (PS3.3 C.8.8.5)
    broken = tmp_path / "RS_broken.dcm"
    ds.save_as(broken, enforce_file_format=True)
    errors = factories.dciodvfy(broken)
    assert any("StructureSetLabel" in e for e in errors), errors


@pytest.mark.parametrize("kind", ["RD32", "RD16"])
def test_pydicom_decodes_the_dose_within_scaling(written: Written, kind: str) -> None:
    ds = pydicom.dcmread(written.files[kind])
    assert ds.BitsAllocated == int(kind[2:])
    scaling = float(ds.DoseGridScaling)
    values = ds.pixel_array.astype(np.float64) * scaling
    assert values.shape == written.dose.grid.shape
    np.testing.assert_allclose(values, written.dose.array, rtol=0, atol=scaling / 2 + 1e-12)
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == written.plan_uid


def test_pydicom_decodes_the_capture_exactly(written: Written) -> None:
    ds = pydicom.dcmread(written.files["SC"])
    np.testing.assert_array_equal(ds.pixel_array, written.rgb)


def test_pydicom_reads_every_roi_and_contour_type(written: Written) -> None:
    ds = pydicom.dcmread(written.files["RS"])
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
    assert list(names.values()) == [s.name for s in written.structures]
    kinds: dict[str, set[str]] = {}
    for rc in ds.ROIContourSequence:
        name = names[int(rc.ReferencedROINumber)]
        kinds[name] = {str(c.ContourGeometricType) for c in rc.get("ContourSequence", [])}
    assert kinds["Marker"] == {"POINT"}
    assert kinds["Wire"] == {"OPEN_PLANAR"}
    assert kinds["Catheter"] == {"OPEN_NONPLANAR"}
    assert kinds["Empty"] == set()
    assert kinds["FemurCortex"] == {"CLOSED_PLANAR"}


# --------------------------------------------------------------------------- rt-utils
def test_rt_utils_reads_the_structure_set(written: Written) -> None:
    """rt-utils lists every ROI and rasterises every ROI whose contours reference images.

    rt-utils indexes its masks (row, column, slice) (it allocates them (Columns, Rows), so
    it needs Rows == Columns, as here) and fills the outline of the vertices rounded to
    pixels inclusively (``benchmarks/rasterize/README.md``). Its masks are therefore
    compared with rtplan's by that convention, not voxel for voxel: they hold rtplan's
    mask less its boundary ring and stay within one pixel of the pixels the contours
    touch (the relation ``tests/geometry/test_rasterize.py`` tests on analytic shapes).
    """
    from rt_utils import RTStructBuilder

    rt = RTStructBuilder.create_from(str(written.ct_folder), str(written.files["RS"]))
    assert rt.get_roi_names() == [s.name for s in written.structures]
    grid = written.ct.grid
    by_name = {s.name: s for s in written.structures}
    for s in written.structures:
        if s.name in ("Catheter", "Empty"):
            continue  # rt-utils needs image references and a Contour Sequence (docstring)
        theirs = np.transpose(rt.get_roi_mask_by_name(s.name), (2, 0, 1))  # -> (k, j, i)
        assert theirs.shape == grid.shape
        if s.name in ("Marker", "Wire"):
            assert theirs.any()
            continue
        # rt-utils holds our mask less its boundary ring, and stays within one pixel of
        # the pixels the contours touch (partial-volume fraction > 0)
        ours = by_name[s.name].mask(grid)
        assert np.all(theirs[ndimage.binary_erosion(ours, CROSS)]), s.name
        near = ndimage.binary_dilation(
            by_name[s.name].fractional_mask(grid) > 0, np.ones((1, 3, 3), dtype=bool)
        )
        assert not np.any(theirs & ~near), s.name
        assert theirs.sum() > ours.sum(), s.name  # the inclusive fill is larger
    # the POINT markers land on the voxels that hold them
    marker = rt.get_roi_mask_by_name("Marker")
    for c in by_name["Marker"].contours:
        i, j, k = np.rint(grid.mm_to_index(c.points_mm)[0]).astype(int)
        assert marker[j, i, k]
    assert int(marker.sum()) == 2


# --------------------------------------------------------------------------- dicompyler-core
def test_dicompyler_reads_the_rt_objects(written: Written) -> None:
    parser = factories.dicompyler_parser()
    rs = parser(str(written.files["RS"]))
    assert rs.GetSOPClassUID() == "rtss"
    found = {int(n): s["name"] for n, s in rs.GetStructures().items()}
    assert found == {s.number: s.name for s in written.structures}
    femur_cortex = next(s for s in written.structures if s.name == "FemurCortex")
    planes = rs.GetStructureCoordinates(femur_cortex.number)
    assert sum(len(v) for v in planes.values()) == len(femur_cortex.contours)

    rp = parser(str(written.files["RP"]))
    assert rp.GetSOPClassUID() == "rtplan"
    assert float(rp.GetPlan()["rxdose"]) == pytest.approx(30.0 * 100)  # cGy
    assert len(rp.GetReferencedBeamsInFraction()) == 3

    for kind in ("RD32", "RD16"):
        rd = parser(str(written.files[kind]))
        assert rd.GetSOPClassUID() == "rtdose"
        assert rd.GetReferencedRTPlan() == written.plan_uid
        data = rd.GetDoseData()
        scaling = float(data["dosegridscaling"])
        assert data["dosemax"] * scaling == pytest.approx(written.dose.max_gy, abs=scaling)
        g = written.dose.grid
        k = g.shape[0] // 2
        z = float(g.index_to_mm([0.0, 0.0, float(k)])[2])
        plane = rd.GetDoseGrid(z) * scaling
        np.testing.assert_allclose(plane, written.dose.array[k], atol=scaling)


# --------------------------------------------------------------------------- dcmtk
def _dcmtk(*args: str) -> str:
    exe = shutil.which(args[0])
    if exe is None:
        pytest.fail(f"{args[0]} not found: apt-get install dcmtk")
    proc = subprocess.run(
        [exe, *args[1:]], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _read_pnm(path: Path) -> np.ndarray:
    """A binary PGM (P5) or PPM (P6) file with maxval 255 as (rows, columns[, 3]) uint8."""
    data = path.read_bytes()
    magic, width, height, maxval, pixels = data.split(maxsplit=4)
    assert magic in (b"P5", b"P6")
    assert maxval == b"255"
    channels = 3 if magic == b"P6" else 1
    w, h = int(width), int(height)
    arr = np.frombuffer(pixels[-w * h * channels :], dtype=np.uint8)
    return arr.reshape((h, w, 3) if channels == 3 else (h, w))


def test_dcmtk_renders_the_capture(written: Written, tmp_path: Path) -> None:
    ppm = tmp_path / "sc.ppm"
    _dcmtk("dcm2pnm", "--write-raw-pnm", str(written.files["SC"]), str(ppm))
    np.testing.assert_array_equal(_read_pnm(ppm), written.rgb)


def test_dcmtk_checks_and_applies_the_presentation_state(written: Written, tmp_path: Path) -> None:
    """dcmpschk accepts the GSPS; dcmp2pgm reads its graphics and applies its window."""
    pr = written.files["PR"]
    assert "Test passed" in _dcmtk("dcmpschk", "-v", str(pr))
    ds = pydicom.dcmread(pr)
    series = written.ct.series
    assert series is not None
    annotated = [a.ReferencedImageSequence[0].ReferencedSOPInstanceUID
                 for a in ds.GraphicAnnotationSequence]  # fmt: skip
    assert len(annotated) >= 3  # the needle crosses several slices
    k = series.sop_instance_uids.index(annotated[len(annotated) // 2])
    ct_file = series.files[k]
    pgm = tmp_path / "pr.pgm"
    log = _dcmtk("dcmp2pgm", "-v", "-p", str(pr), str(ct_file), str(pgm))
    assert "type=polyline" in log  # dcmtk found the needle on this slice
    # the bone window (width 2000, level 500 HU) by the linear VOI function, PS3.3 C.11.2.1.2
    voi = ds.SoftcopyVOILUTSequence[0]
    c, w = float(voi.WindowCenter), float(voi.WindowWidth)
    assert (w, c) == (2000.0, 500.0)
    hu = np.asarray(written.ct.array[k], dtype=np.float64)
    expected = np.clip(((hu - (c - 0.5)) / (w - 1) + 0.5) * 255.0, 0.0, 255.0)
    rendered = _read_pnm(pgm).astype(np.float64)
    assert rendered.shape == hu.shape
    assert float(np.abs(rendered - expected).max()) <= 1.0


# --------------------------------------------------------------------------- rtplan itself
def test_rtplan_reads_back_what_it_wrote(written: Written) -> None:
    """The complement of the peer checks: rtplan's own readers get the content back."""
    with pytest.warns(RtplanWarning, match="'Empty' have no contours"):
        back = rtplan.io.read_rtstruct(written.files["RS"], reference=written.ct)
    assert back.names == [s.name for s in written.structures]
    for a, b in zip(written.structures, back, strict=True):
        assert (a.number, a.name, a.color, a.interpreted_type) == (
            b.number, b.name, b.color, b.interpreted_type
        )  # fmt: skip
        assert [c.geometric_type for c in a.contours] == [c.geometric_type for c in b.contours]
        for ca, cb in zip(a.contours, b.contours, strict=True):
            np.testing.assert_allclose(cb.points_mm, ca.points_mm, rtol=0, atol=1e-5)
    assert back["Marker"].contours[0].geometric_type is ContourType.POINT
    for kind in ("RD32", "RD16"):
        dose = rtplan.io.read_rtdose(written.files[kind])
        scaling = float(pydicom.dcmread(written.files[kind]).DoseGridScaling)
        assert dose.grid.isclose(written.dose.grid)
        np.testing.assert_allclose(dose.array, written.dose.array, atol=scaling / 2 + 1e-12)
    plan = rtplan.io.read_rtplan(written.files["RP"])
    assert [b.gantry_deg for b in plan.beams] == [0.0, 120.0, 240.0]
    assert [b.mu for b in plan.beams] == pytest.approx(MU)
    assert plan.prescription_gy == pytest.approx(30.0)
