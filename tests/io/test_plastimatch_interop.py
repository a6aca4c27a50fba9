"""rtplan's DICOM readers and writers against plastimatch, an independent implementation.

plastimatch (Debian package ``plastimatch``; CI installs it) converts between ITK images
(MetaImage ``.mha``, written and parsed here with numpy alone, see ``plastimatch_helpers``)
and DICOM CT, RT Structure Set and RT Dose. Both directions are checked:

* plastimatch writes, rtplan reads: an analytic phantom (non-square pixels, an origin off
  the axes, every patient position, oblique and coronal axes) with a sphere and a hollow
  tube as label images and a dose image. rtplan must find the grid, the HU, the
  structures voxel for voxel and the dose of the ``.mha`` files.
* rtplan writes, plastimatch reads: an RT Dose on several grids (values known from a
  linear gradient) and the thigh sample's RT Structure Set plus a derived ring, which
  plastimatch rasterises on the CT.

Where the two tools differ, the difference is pinned by its own test, not absorbed in a
tolerance:

1. Voxel centres exactly on a contour edge (ties). Both tools fill by the centre and are
   half-open, so a tie goes to one side only: rtplan counts the centres on a shape's
   low-``i`` boundary and not those on its high-``i`` boundary, plastimatch the reverse.
   Same counts, one column apart (``test_tie_rule_one_column_apart``). On the thigh
   sample every voxel the two masks disagree on is such a tie.
2. Several contours in one plane (holes). rtplan fills with the even-odd rule;
   plastimatch's default ORs the contours, which fills holes, and ``--xor-contours``
   gives even-odd (``test_plastimatch_default_or_fills_holes``).
3. plastimatch 1.9.4's RT Dose reader builds the direction matrix from the
   ImageOrientationPatient triples transposed: axis-aligned grids are unaffected, oblique
   and coronal ones come out with the transposed axes, although plastimatch's own RT
   Dose writer encodes them exactly as rtplan does
   (``test_plastimatch_rtdose_reader_transposes_non_axial_axes``).
4. plastimatch 1.9.4's RT Dose writer fills GridFrameOffsetVector with the z component
   of each frame's displacement instead of the offset along row x column (PS3.3
   C.8.8.3.2): feet-first doses come back mirrored (in plastimatch's own reader as in
   rtplan's) and coronal ones with every offset 0
   (``test_plastimatch_rtdose_read_by_rtplan``).
5. plastimatch keeps geometry in float32 and prints DS values with ``%f``/``%g``: its
   positions carry up to 2e-5 mm of rounding (``22.7`` is written ``22.700001``) and its
   DoseGridScaling six significant digits. These set the tolerances below.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from scipy import ndimage

import factories
import rtplan
from plastimatch_helpers import (
    MetaImage,
    distance_to_edges_mm,
    read_mha,
    run_plastimatch,
    write_mha,
)
from rtplan import Contour, Dose, Grid, RtplanWarning, Structure
from rtplan.io import Study

pytestmark = pytest.mark.peer

Plastimatch = Callable[..., str]

#: plastimatch stores positions as float32 (|x| < 256 mm: ulp 1.5e-5 mm) and prints them
#: with ``%f`` (6 decimals).
POSITION_TOL_MM = 2e-5
#: A voxel centre closer than this to a contour edge is a tie (contour coordinates are
#: DS strings of at least 4 decimals, parsed by plastimatch as float32).
TIE_TOL_MM = 1e-3
FLOAT32_EPS = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="session")
def plastimatch() -> Plastimatch:
    """``run(*args, cwd=...)``: plastimatch on the command line; skips where it is missing."""
    exe = shutil.which("plastimatch")
    if exe is None:
        pytest.skip("plastimatch is not on PATH (apt-get install plastimatch; CI installs it)")
    return functools.partial(run_plastimatch, exe)


# ============================================================ plastimatch writes, rtplan reads
#: Phantom lattice: (k, j, i) shape; spacing along i, j, k (non-square pixels).
SHAPE = (18, 36, 48)
SPACING_IJK = np.array([0.8, 1.25, 2.5])
#: LPS centre of the volume, off every axis.
CENTRE_MM = np.array([-12.37, 31.41, -88.9])
SPHERE_CENTRE_MM = CENTRE_MM + np.array([2.13, -1.71, 1.9])
SPHERE_RADIUS_MM = 9.0
TUBE_AXIS_XY_MM = CENTRE_MM[:2] + np.array([-5.3, 4.7])
TUBE_RADII_MM = (4.0, 7.0)
#: The tube's ends lie halfway between HFS slices, so it spans exactly 10 of them.
TUBE_Z_MM = (-103.9, -78.9)
MARKER_IJK = (37, 8, 13)
MARKER_HU = 3071

R = np.array([[0.8, -0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])  # 36.87 deg about z
#: id -> (DICOM Patient Position, columns = LPS unit vectors of i, j, k). The axis-aligned
#: ones are what scanners write for each position (rows run to the patient's right when
#: feet first supine, etc.); the last two are an oblique and a coronal acquisition.
VARIANTS: dict[str, tuple[str, npt.NDArray[np.float64]]] = {
    "HFS": ("HFS", np.eye(3)),
    "HFP": ("HFP", np.diag([-1.0, -1.0, 1.0])),
    "FFS": ("FFS", np.diag([-1.0, 1.0, -1.0])),
    "FFP": ("FFP", np.diag([1.0, -1.0, -1.0])),
    "HFS-oblique": ("HFS", R),
    "HFS-coronal": ("HFS", np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])),
}


@dataclass(frozen=True)
class Phantom:
    """What was given to plastimatch: geometry, HU, label masks and dose (all (k, j, i))."""

    position: str
    origin_mm: npt.NDArray[np.float64]
    axes: npt.NDArray[np.float64]
    hu: npt.NDArray[np.int16]
    masks: dict[str, npt.NDArray[np.bool_]]
    dose_mha: MetaImage
    marker_mm: npt.NDArray[np.float64]


def make_phantom(position: str, axes: npt.NDArray[np.float64]) -> Phantom:
    """The analytic phantom on a lattice with the given axes, centred on CENTRE_MM."""
    n_ijk = np.array(SHAPE[::-1])
    origin = CENTRE_MM - axes @ (SPACING_IJK * (n_ijk - 1) / 2)
    k, j, i = np.indices(SHAPE)
    ijk = np.stack([i, j, k], axis=-1) * SPACING_IJK
    x, y, z = np.moveaxis(origin + ijk @ axes.T, -1, 0)
    body = (x - CENTRE_MM[0]) ** 2 + (y - CENTRE_MM[1]) ** 2 <= 18.0**2
    hu = np.where(body, np.rint(40 * np.sin(x / 9) + 2 * y - 3 * z), -1000).astype(np.int16)
    sphere = (x - SPHERE_CENTRE_MM[0]) ** 2 + (y - SPHERE_CENTRE_MM[1]) ** 2 + (
        z - SPHERE_CENTRE_MM[2]
    ) ** 2 <= SPHERE_RADIUS_MM**2
    rho2 = (x - TUBE_AXIS_XY_MM[0]) ** 2 + (y - TUBE_AXIS_XY_MM[1]) ** 2
    tube = (
        (rho2 > TUBE_RADII_MM[0] ** 2)
        & (rho2 <= TUBE_RADII_MM[1] ** 2)
        & (z > TUBE_Z_MM[0])
        & (z < TUBE_Z_MM[1])
    )
    hu[sphere] += 300
    i_m, j_m, k_m = MARKER_IJK
    hu[k_m, j_m, i_m] = MARKER_HU
    marker = origin + axes @ (SPACING_IJK * MARKER_IJK)
    # dose on its own, coarser lattice with the same axes: 20 Gy + a linear gradient
    d_spacing = np.array([2.0, 3.0, 4.0])
    d_shape = (8, 11, 13)
    d_origin = origin + axes @ [1.1, -0.7, 2.3]
    dk, dj, di = np.indices(d_shape)
    dxyz = d_origin + (np.stack([di, dj, dk], axis=-1) * d_spacing) @ axes.T
    dose = (20.0 + (dxyz - CENTRE_MM) @ [0.3, -0.2, 0.1]).astype(np.float32)
    dose_mha = MetaImage(array=dose, origin_mm=d_origin, spacing_ijk_mm=d_spacing, axes=axes)
    return Phantom(
        position=position,
        origin_mm=origin,
        axes=axes,
        hu=hu,
        masks={"Sphere": sphere, "Tube": tube},
        dose_mha=dose_mha,
        marker_mm=marker,
    )


@dataclass(frozen=True)
class Written:
    phantom: Phantom
    folder: Path
    study: Study


@pytest.fixture(scope="module", params=list(VARIANTS))
def by_plastimatch(
    request: pytest.FixtureRequest,
    plastimatch: Plastimatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Written:
    """The phantom written by plastimatch as DICOM (CT, RT Structure Set, RT Dose)."""
    position, axes = VARIANTS[request.param]
    phantom = make_phantom(position, axes)
    work = tmp_path_factory.mktemp(f"pm_{request.param}")
    geometry = {"origin_mm": phantom.origin_mm, "spacing_ijk_mm": SPACING_IJK, "axes": axes}
    write_mha(work / "ct.mha", phantom.hu, **geometry)
    for name, mask in phantom.masks.items():
        write_mha(work / "masks" / f"{name}.mha", mask.astype(np.uint8), **geometry)
    d = phantom.dose_mha
    write_mha(
        work / "dose.mha",
        d.array,
        origin_mm=d.origin_mm,
        spacing_ijk_mm=d.spacing_ijk_mm,
        axes=d.axes,
    )
    plastimatch(
        "convert",
        "--input", "ct.mha",
        "--input-prefix", "masks",
        "--input-dose-img", "dose.mha",
        "--patient-pos", position.lower(),
        "--output-dicom", "dicom",
        cwd=work,
    )  # fmt: skip
    if axes[2, 2] == 0:
        # coronal frames: plastimatch writes every GridFrameOffsetVector value 0 (see
        # test_plastimatch_rtdose_read_by_rtplan) and rtplan skips that dose, warning
        with pytest.warns(RtplanWarning, match="same offset"):
            study = rtplan.load_study(work / "dicom")
    else:
        study = rtplan.load_study(work / "dicom")
    return Written(phantom=phantom, folder=work / "dicom", study=study)


def test_ct_grid_and_hu(by_plastimatch: Written) -> None:
    p, ct = by_plastimatch.phantom, by_plastimatch.study.ct
    grid = ct.grid
    assert grid.shape == SHAPE
    np.testing.assert_allclose(grid.spacing_mm, SPACING_IJK[::-1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(grid.origin_mm, p.origin_mm, rtol=0, atol=POSITION_TOL_MM)
    np.testing.assert_allclose(grid.direction, p.axes, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ct.array, p.hu)
    assert ct.units == "HU"
    assert ct.patient_position == p.position


def test_ct_lps_positions(by_plastimatch: Written) -> None:
    """The marker is where the .mha put it in LPS, whatever the patient position."""
    p, ct = by_plastimatch.phantom, by_plastimatch.study.ct
    found = np.unravel_index(np.argmax(ct.array), ct.shape)  # (k, j, i)
    assert found[::-1] == MARKER_IJK
    np.testing.assert_allclose(
        ct.grid.index_to_mm(MARKER_IJK), p.marker_mm, rtol=0, atol=POSITION_TOL_MM
    )
    np.testing.assert_allclose(ct.grid.mm_to_index(p.marker_mm), MARKER_IJK, atol=1e-5)
    assert ct.sample(p.marker_mm, order=0) == MARKER_HU
    # every voxel centre, not just one: rtplan's grid maps indices as the .mha does
    k, j, i = np.indices(SHAPE).reshape(3, -1)
    ijk = np.stack([i, j, k], axis=1)
    expected = p.origin_mm + (ijk * SPACING_IJK) @ p.axes.T
    np.testing.assert_allclose(ct.grid.index_to_mm(ijk), expected, rtol=0, atol=POSITION_TOL_MM)


def test_structures_voxel_for_voxel(by_plastimatch: Written) -> None:
    """plastimatch's contours give back the label masks exactly.

    plastimatch contours a label image by marching squares: every vertex lies halfway
    between a voxel centre inside and one outside, so no centre is on a contour and any
    centre-inside rasterisation must reproduce the mask.
    """
    p, study = by_plastimatch.phantom, by_plastimatch.study
    assert sorted(study.structures.names) == sorted(p.masks)
    for name, expected in p.masks.items():
        s = study.structures[name]
        assert s.closed_contours, name
        mask = s.mask(study.ct.grid)
        assert np.count_nonzero(mask ^ expected) == 0, name
        # the centroid of the contours is that of the voxels (marching squares cuts
        # each corner by a small triangle; 0.003 mm measured)
        voxels = study.ct.grid.index_to_mm(np.argwhere(expected)[:, ::-1]).mean(axis=0)
        np.testing.assert_allclose(s.centroid_mm, voxels, atol=0.01, err_msg=name)


def test_structure_volumes_against_analytic(by_plastimatch: Written) -> None:
    """Contour volumes (``volume_cc``: plane areas x slab) against the analytic shapes.

    The contours follow a voxelised mask (0.8 x 1.25 mm pixels, 2.5 mm slices) and carry
    its sampling error. Measured: sphere (radius 9 mm) +0.09 % on the axial lattices,
    +0.17 % oblique, +0.58 % coronal; tube (radii 4 and 7 mm) -0.65 % axial, -1.61 %
    oblique. Hence 1 % for the sphere and 2 % for the tube, which still catch one slab
    more or less (10 % for the tube) or a lost hole (+48 % for the tube). On the coronal lattice
    the planes cut the tube along its axis every 2.5 mm: the voxelised tube itself is 8 %
    off, so there its contour volume is compared with its voxels (0.4 % measured).
    """
    p, structures = by_plastimatch.phantom, by_plastimatch.study.structures
    sphere = 4.0 / 3.0 * np.pi * SPHERE_RADIUS_MM**3 / 1000.0
    assert structures["Sphere"].volume_cc == pytest.approx(sphere, rel=0.01)
    r_in, r_out = TUBE_RADII_MM
    tube = np.pi * (r_out**2 - r_in**2) * (TUBE_Z_MM[1] - TUBE_Z_MM[0]) / 1000.0
    if abs(p.axes[2, 2]) == 1.0:  # axial planes
        assert structures["Tube"].volume_cc == pytest.approx(tube, rel=0.02)
    else:
        voxels = np.count_nonzero(p.masks["Tube"]) * float(np.prod(SPACING_IJK)) / 1000.0
        assert structures["Tube"].volume_cc == pytest.approx(voxels, rel=0.01)


def test_rtplan_contours_rasterised_by_plastimatch(
    by_plastimatch: Written, plastimatch: Plastimatch
) -> None:
    """rtplan contours the label masks and writes them on plastimatch's CT, in every
    orientation; plastimatch rasterises them back to the same voxels.

    ``Structure.from_mask`` draws its contours midway between inside and outside voxel
    centres, so no centre is a tie and the two tools must agree exactly.
    """
    p, ct = by_plastimatch.phantom, by_plastimatch.study.ct
    assert ct.series is not None
    work = by_plastimatch.folder.parent / "rtplan_rs"
    (work / "dicom").mkdir(parents=True)
    for f in ct.series.files:
        shutil.copy(f, work / "dicom" / f.name)
    rois = [Structure.from_mask(m, ct.grid, name=f"rt_{n}") for n, m in p.masks.items()]
    rtplan.io.write_rtstruct(rois, work / "dicom" / "RS.dcm", reference=ct)
    plastimatch(
        "convert", "--input", "dicom", "--xor-contours", "--output-prefix", "masks", cwd=work
    )
    for name, expected in p.masks.items():
        mha = read_mha(work / "masks" / f"rt_{name}.mha")
        np.testing.assert_allclose(mha.origin_mm, p.origin_mm, atol=POSITION_TOL_MM)
        np.testing.assert_allclose(mha.axes, p.axes, atol=1e-6)
        assert np.count_nonzero((mha.array > 0) ^ expected) == 0, name


def test_plastimatch_rtdose_read_by_rtplan(
    by_plastimatch: Written, plastimatch: Plastimatch
) -> None:
    """plastimatch's RT Dose reads as DICOM defines it, and as plastimatch reads it back.

    plastimatch 1.9.4 writes GridFrameOffsetVector as the *z component* of each frame's
    displacement, where DICOM (PS3.3 C.8.8.3.2, option a) wants the offset along
    row x column. The two agree when the frames advance towards +z (HFS, HFP, the oblique
    lattice): there rtplan gets the dose image back. Feet-first frames advance towards
    -z along a normal that points to -z, so plastimatch writes negative offsets where
    DICOM has positive ones: the frames come out mirrored about the first one, in rtplan
    and in plastimatch's own reader alike. Coronal frames advance along y: plastimatch
    writes all offsets 0, which rtplan refuses with a warning (in the fixture).
    """
    p, study = by_plastimatch.phantom, by_plastimatch.study
    d = p.dose_mha
    n = d.array.shape[0]
    (path,) = by_plastimatch.folder.glob("dose*.dcm")
    ds = pydicom.dcmread(path)
    offsets = np.array(ds.GridFrameOffsetVector, dtype=np.float64)
    np.testing.assert_allclose(
        offsets,
        np.arange(n) * d.steps[2, 2],
        atol=1e-4,
        err_msg=f"{plastimatch('--version', cwd=by_plastimatch.folder).strip()} no longer "
        "writes z steps as GridFrameOffsetVector: update this test",
    )
    if d.axes[2, 2] == 0:
        assert study.doses == ()
        return
    (dose,) = study.doses
    scaling = float(ds.DoseGridScaling)
    mirrored = d.axes[2, 2] < 0
    # six significant digits of DoseGridScaling: relative error <= 5e-6
    expected = d.array[::-1] if mirrored else d.array
    np.testing.assert_allclose(dose.array, expected, rtol=6e-6, atol=scaling)
    np.testing.assert_allclose(dose.grid.spacing_mm, d.spacing_ijk_mm[::-1], atol=1e-5)
    np.testing.assert_allclose(dose.grid.direction, d.axes, atol=1e-6)
    last_frame_z = d.origin_mm + np.array([0.0, 0.0, (n - 1) * d.spacing_ijk_mm[2]])
    origin = last_frame_z if mirrored else d.origin_mm
    np.testing.assert_allclose(dose.grid.origin_mm, origin, atol=POSITION_TOL_MM)
    if np.count_nonzero(np.abs(d.axes) > 1e-9) == 3:  # axis-aligned: reader vs reader
        plastimatch(
            "convert", "--input-dose-img", path, "--output-dose-img", "back.mha",
            cwd=by_plastimatch.folder.parent,
        )  # fmt: skip
        back = read_mha(by_plastimatch.folder.parent / "back.mha")
        k, j, i = np.indices(back.array.shape).reshape(3, -1)
        at = back.position_mm(np.stack([i, j, k], axis=1))
        np.testing.assert_allclose(
            dose.sample(at, order=0), back.array.ravel(), rtol=1e-6, atol=scaling
        )


# ============================================================ rtplan writes, plastimatch reads
@pytest.fixture(scope="module")
def thigh(thigh_path: Path) -> Study:
    return rtplan.load_study(thigh_path)


def linear_dose(grid: Grid) -> Dose:
    """5 Gy + a gradient of (0.1, 0.05, 0.2) Gy/mm along LPS x, y, z (5 to 18 Gy here)."""
    xyz = grid.centers_mm().reshape(-1, 3)
    gy = 5.0 + (xyz - xyz.min(axis=0)) @ [0.1, 0.05, 0.2]
    return Dose(array=gy.reshape(grid.shape), grid=grid)


DOSE_AXES = {
    "HFS": np.eye(3),
    "FFS": np.diag([-1.0, 1.0, -1.0]),
    "HFP": np.diag([-1.0, -1.0, 1.0]),
    # frames stacked against the row x column normal: negative GridFrameOffsetVector
    "frames-reversed": np.diag([1.0, 1.0, -1.0]),
}


def write_and_convert_dose(
    plastimatch: Plastimatch, reference: rtplan.Image, grid: Grid, bits: int, work: Path
) -> tuple[Dose, float, MetaImage]:
    dose = linear_dose(grid)
    path = rtplan.io.write_rtdose(
        dose, work / "RD.dcm", reference=reference, plan_sop_uid="1.2.3", bits_allocated=bits
    )
    plastimatch("convert", "--input-dose-img", path, "--output-dose-img", "dose.mha", cwd=work)
    scaling = float(pydicom.dcmread(path).DoseGridScaling)
    return dose, scaling, read_mha(work / "dose.mha")


@pytest.mark.parametrize("bits", [32, 16])
@pytest.mark.parametrize("axes", list(DOSE_AXES))
def test_rtplan_rtdose_read_by_plastimatch(
    plastimatch: Plastimatch, thigh: Study, tmp_path: Path, axes: str, bits: int
) -> None:
    """plastimatch reads rtplan's RT Dose: geometry and values within DoseGridScaling / 2."""
    grid = Grid(
        shape=(10, 14, 18),
        spacing_mm=(3.0, 2.5, 2.0),
        origin_mm=(-120.3, -20.7, -690.0),
        direction=DOSE_AXES[axes],
    )
    dose, scaling, mha = write_and_convert_dose(plastimatch, thigh.ct, grid, bits, tmp_path)
    assert mha.array.shape == grid.shape
    np.testing.assert_allclose(mha.origin_mm, grid.origin_mm, rtol=0, atol=POSITION_TOL_MM)
    # the voxel steps (axis x spacing): plastimatch writes a reversed frame order as a
    # negative ElementSpacing along +normal, the same positions as rtplan's -normal axis
    steps = grid.direction * grid.spacing_ijk_mm[np.newaxis, :]
    np.testing.assert_allclose(mha.steps, steps, rtol=0, atol=1e-6)
    # plastimatch scales the integers with a float32 DoseGridScaling, in float32
    tol = 0.5 * scaling + 4 * FLOAT32_EPS * np.abs(dose.array)
    assert np.all(np.abs(mha.array - dose.array) <= tol)


@pytest.mark.parametrize(
    "axes",
    [R, np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])],
    ids=["oblique", "coronal"],
)
def test_plastimatch_rtdose_reader_transposes_non_axial_axes(
    plastimatch: Plastimatch, thigh: Study, tmp_path: Path, axes: npt.NDArray[np.float64]
) -> None:
    """plastimatch 1.9.4 reads an RT Dose's axes transposed (its bug, not rtplan's).

    rtplan writes ImageOrientationPatient exactly as plastimatch's own RT Dose writer
    does for the same geometry, and plastimatch's CT path (mha -> DICOM CT -> rtplan, in
    ``test_ct_grid_and_hu``) agrees with rtplan on these axes; plastimatch's RT Dose
    reader alone returns the transposed matrix. Values and origin are unaffected.
    """
    grid = Grid(
        shape=(6, 7, 8), spacing_mm=(3.0, 2.5, 2.0), origin_mm=(-120.3, -20.7, -690.0),
        direction=axes,
    )  # fmt: skip
    dose, scaling, mha = write_and_convert_dose(plastimatch, thigh.ct, grid, 32, tmp_path)
    np.testing.assert_allclose(mha.origin_mm, grid.origin_mm, rtol=0, atol=POSITION_TOL_MM)
    np.testing.assert_allclose(np.abs(mha.spacing_ijk_mm), grid.spacing_ijk_mm, atol=1e-6)
    tol = 0.5 * scaling + 4 * FLOAT32_EPS * np.abs(dose.array)
    assert np.all(np.abs(mha.array - dose.array) <= tol)
    version = plastimatch("--version", cwd=tmp_path).strip()
    assert not np.allclose(mha.axes, axes, atol=1e-6), f"{version} fixed: update this test"
    np.testing.assert_allclose(mha.axes, axes.T, atol=1e-6, err_msg=version)

    # plastimatch's own RT Dose writer encodes this geometry as rtplan did
    write_mha(
        tmp_path / "pm_in.mha",
        dose.array.astype(np.float32),
        origin_mm=grid.origin_mm,
        spacing_ijk_mm=grid.spacing_ijk_mm,
        axes=axes,
    )
    write_mha(
        tmp_path / "ct.mha",
        np.zeros((2, 2, 2), np.int16),
        origin_mm=grid.origin_mm,
        spacing_ijk_mm=(1.0, 1.0, 1.0),
    )
    plastimatch(
        "convert", "--input", "ct.mha", "--input-dose-img", "pm_in.mha",
        "--output-dicom", "pm_dicom", cwd=tmp_path,
    )  # fmt: skip
    (pm_dose,) = (tmp_path / "pm_dicom").glob("dose*.dcm")
    ours = pydicom.dcmread(tmp_path / "RD.dcm").ImageOrientationPatient
    theirs = pydicom.dcmread(pm_dose).ImageOrientationPatient
    np.testing.assert_allclose(np.array(ours, float), np.array(theirs, float), atol=1e-6)
    np.testing.assert_allclose(np.array(ours, float), [*axes[:, 0], *axes[:, 1]], atol=1e-9)


@dataclass(frozen=True)
class Rasterised:
    grid: Grid
    structures: rtplan.StructureSet  # as read back from the written file
    rtplan_masks: dict[str, npt.NDArray[np.bool_]]
    masks_xor: dict[str, MetaImage]
    masks_or: dict[str, MetaImage]


@pytest.fixture(scope="module")
def rasterised(
    plastimatch: Plastimatch, thigh: Study, tmp_path_factory: pytest.TempPathFactory
) -> Rasterised:
    """The thigh structures and a 10 mm ring around the PTV, written by rtplan and
    rasterised by plastimatch on the CT, with and without ``--xor-contours``."""
    work = tmp_path_factory.mktemp("pm_rtstruct")
    dicom = work / "dicom"
    dicom.mkdir()
    assert thigh.ct.series is not None
    for f in thigh.ct.series.files:
        shutil.copy(f, dicom / f.name)
    ptv = thigh.structures["PTV"]
    ring = (ptv.expand(10.0) - ptv).renamed("Ring")
    rs = rtplan.io.write_rtstruct([*thigh.structures, ring], dicom / "RS.dcm", reference=thigh.ct)
    plastimatch("convert", "--input", "dicom", "--xor-contours", "--output-prefix", "xor", cwd=work)
    plastimatch("convert", "--input", "dicom", "--output-prefix", "or", cwd=work)
    back = rtplan.io.read_rtstruct(rs, reference=thigh.ct)
    grid = thigh.ct.grid
    names = back.names
    return Rasterised(
        grid=grid,
        structures=back,
        rtplan_masks={n: back[n].mask(grid) for n in names},
        masks_xor={n: read_mha(work / "xor" / f"{n}.mha") for n in names},
        masks_or={n: read_mha(work / "or" / f"{n}.mha") for n in names},
    )


def tie_distances(r: Rasterised, name: str, where: npt.NDArray[np.bool_]) -> np.ndarray:
    """Distance (mm) of the centres of the voxels ``where`` to the ROI's contour edges."""
    centres = r.grid.index_to_mm(np.argwhere(where)[:, ::-1])
    contours = [c.points_mm for c in r.structures[name].closed_contours]
    half_slice = r.grid.spacing_mm[0] / 2
    return distance_to_edges_mm(centres, contours, plane_tol_mm=half_slice)


def test_rtplan_rtstruct_rasterised_by_plastimatch(rasterised: Rasterised) -> None:
    """Per ROI, plastimatch's mask (even-odd) is rtplan's but for voxels on an edge.

    Figures on the thigh sample (voxels of 1.6 x 1.6 x 3 mm = 7.68 mm3): GTV, Quadriceps
    and the Ring agree exactly; the other ROIs differ by 1 to 6 voxels (Muscle 6 voxels,
    +0.004 %; NVBundle 2 voxels of 1240, -0.16 %), every one a centre lying on a contour
    edge (the sample's contours have 45 degree edges through voxel centres), where the
    two half-open rules pick opposite sides.
    """
    r = rasterised
    assert set(r.masks_xor) == set(r.structures.names)
    for name, ours in r.rtplan_masks.items():
        mha = r.masks_xor[name]
        assert mha.array.shape == r.grid.shape
        np.testing.assert_allclose(mha.origin_mm, r.grid.origin_mm, atol=POSITION_TOL_MM)
        np.testing.assert_allclose(mha.steps, r.grid.direction * r.grid.spacing_ijk_mm, atol=1e-6)
        theirs = mha.array > 0
        differ = ours ^ theirs
        assert np.all(tie_distances(r, name, differ) < TIE_TOL_MM), name
    # the ring is contoured by rtplan from a voxel mask: no vertex meets a voxel centre
    ring = r.structures["Ring"]
    planes = {round(float(c.points_mm[0, 2]), 3) for c in ring.closed_contours}
    assert len(ring.closed_contours) > len(planes)  # it has holes
    assert np.array_equal(r.masks_xor["Ring"].array > 0, r.rtplan_masks["Ring"])
    assert r.rtplan_masks["Ring"].sum() > 0


def test_plastimatch_default_or_fills_holes(rasterised: Rasterised) -> None:
    """Without --xor-contours plastimatch ORs a plane's contours: holes are filled.

    The femoral cortex (an outer and an inner contour per slice) comes out as the whole
    femur; the same is rtplan's even-odd mask with its holes filled, slice by slice.
    """
    r = rasterised
    cortex_or = r.masks_or["FemurCortex"].array > 0
    cortex_xor = r.masks_xor["FemurCortex"].array > 0
    assert cortex_or.sum() > 1.5 * cortex_xor.sum()  # the marrow is filled in
    for name, ours in r.rtplan_masks.items():
        filled = np.stack([ndimage.binary_fill_holes(s) for s in ours])
        theirs = r.masks_or[name].array > 0
        assert np.all(tie_distances(r, name, filled ^ theirs) < TIE_TOL_MM), name


# ----------------------------------------------------------------- the tie rule, explicitly
@pytest.fixture(scope="module")
def tie_case(
    plastimatch: Plastimatch, tmp_path_factory: pytest.TempPathFactory
) -> tuple[rtplan.StructureSet, Grid, dict[str, MetaImage]]:
    """A square and a diamond whose edges run through voxel centres (1 mm pixels)."""
    work = tmp_path_factory.mktemp("pm_ties")
    factories.write_ct_series(
        work / "dicom", np.zeros((3, 12, 12), np.int16), origin_mm=(0.0, 0.0, 0.0),
        spacing_mm=(2.0, 1.0, 1.0),
    )  # fmt: skip
    ct = rtplan.io.read_ct(work / "dicom")
    square = [(2.0, 3.0), (6.0, 3.0), (6.0, 7.0), (2.0, 7.0)]
    diamond = [(8.0, 1.0), (10.0, 3.0), (8.0, 5.0), (6.0, 3.0)]

    def roi(name: str, xy: list[tuple[float, float]]) -> Structure:
        planes = [Contour(points_mm=[(x, y, z) for x, y in xy]) for z in (0.0, 2.0, 4.0)]
        return Structure(name=name, contours=tuple(planes))

    rs = rtplan.io.write_rtstruct(
        [roi("Square", square), roi("Diamond", diamond)], work / "dicom" / "RS.dcm",
        reference=ct,
    )  # fmt: skip
    plastimatch("convert", "--input", "dicom", "--output-prefix", "masks", cwd=work)
    back = rtplan.io.read_rtstruct(rs, reference=ct)
    return back, ct.grid, {n: read_mha(work / "masks" / f"{n}.mha") for n in back.names}


@pytest.mark.parametrize("name", ["Square", "Diamond"])
def test_tie_rule_one_column_apart(
    tie_case: tuple[rtplan.StructureSet, Grid, dict[str, MetaImage]], name: str
) -> None:
    """On a tie rtplan keeps a shape's low-i boundary centres, plastimatch its high-i ones.

    Square [2, 6] x [3, 7] mm on 1 mm pixels centred on integers: both tools fill rows
    3 to 6 (half-open along y alike), rtplan columns 2 to 5, plastimatch 3 to 6. Both
    rules count 16 voxels for 16 mm2: neither is biased, they differ only on ties.
    """
    structures, grid, masks = tie_case
    ours = structures[name].mask(grid)
    theirs = masks[name].array > 0
    assert ours.sum() == theirs.sum() > 0
    assert not np.array_equal(ours, theirs)
    assert not ours[..., -1].any()  # the shift below wraps nothing round
    np.testing.assert_array_equal(np.roll(ours, 1, axis=2), theirs)
    if name == "Square":
        np.testing.assert_array_equal(np.nonzero(ours[1].any(axis=1))[0], [3, 4, 5, 6])
        np.testing.assert_array_equal(np.nonzero(ours[1].any(axis=0))[0], [2, 3, 4, 5])
        assert ours.sum() == 3 * 16
