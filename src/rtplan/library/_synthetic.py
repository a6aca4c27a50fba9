"""A synthetic image library: varied musculoskeletal studies with known anatomy.

Each study is a CT series with an RT Structure Set (body outline, one bone, one organ at
risk, GTV and PTV), written with :mod:`rtplan.testing` (pydicom, never rtplan's writers);
every ``plan_every``-th study also gets an RT Plan and an RT Dose (written with
:mod:`rtplan.io`). Patients vary in age, sex, height and weight; the anatomy follows
them (body size with weight, subcutaneous fat with sex, age and BMI, muscle attenuation
and bone density falling with age, faster for women after 50, the marrow of long bones
turning fattier), so population questions have a known answer. Folders follow several
layouts (patient/study/series nesting, flat, two studies sharing a folder) and junk is
added (a text file, an empty ``.dcm``, a truncated CT slice, a structure set without its
CT).

The synthetic dose of a planned study is the prescription inside the PTV and falls off
as ``exp(-d / falloff_mm)`` with the distance ``d`` (mm) from the PTV (less one voxel), so
that the dose an organ receives follows its overlap-volume histogram; ``falloff_mm`` varies from
plan to plan as plan quality does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["SITES", "SyntheticStudy", "synthetic_library"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Anatomical sites of the synthetic studies: (bone name, organ-at-risk name).
SITES: dict[str, tuple[str, str]] = {
    "thigh": ("Femur", "SciaticNerve"),
    "arm": ("Humerus", "RadialNerve"),
    "spine": ("Vertebra", "SpinalCord"),
}

_SLICE_MM = 3.0
_HU_FAT = -100.0
_HU_TUMOUR = 45.0
_HU_NERVE = 30.0
_HU_CORD = 20.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SyntheticStudy:
    """What one synthetic study is, as generated (the ground truth).

    Attributes
    ----------
    name : str
        Short name (``"study_0007"``).
    folder : pathlib.Path
        The folder that holds its CT series (other studies may share it).
    patient_id : str
        Patient ID written in the files (the library must not store it by default).
    age_years : int
    sex : {"M", "F"}
    height_m, weight_kg : float
    site : str
        A key of :data:`SITES`.
    bone, organ : str
        Names of the bone and organ-at-risk ROIs.
    target_radius_mm : float
        GTV radius; the PTV adds 5 mm.
    target_gap_mm : float
        Gap between the GTV and the bone surface, mm.
    cancellous_hu, cortical_hu, muscle_hu : float
        Mean CT numbers painted (before noise): the marrow (trabecular bone of a vertebra,
        yellow marrow of a long bone), the cortex, the muscle.
    planned : bool
        True if the study has an RT Plan and an RT Dose.
    prescription_gy : float or None
    falloff_mm : float or None
        Dose fall-off length of the synthetic dose.
    broken : bool
        True if a CT slice of the study was truncated (the study cannot be read).
    """

    name: str
    folder: Path
    patient_id: str
    age_years: int
    sex: str
    height_m: float
    weight_kg: float
    site: str
    bone: str
    organ: str
    target_radius_mm: float
    target_gap_mm: float
    cancellous_hu: float
    cortical_hu: float
    muscle_hu: float
    planned: bool = False
    prescription_gy: float | None = None
    falloff_mm: float | None = None
    broken: bool = False


@dataclass(frozen=True, slots=True)
class _Ellipse:
    """An axial elliptic cylinder or ellipsoid: centre (x, y, z), semi-axes (a, b, c) mm."""

    centre: tuple[float, float, float]
    axes: tuple[float, float, float]
    ellipsoid: bool = False

    def semi_axes_at(self, z: float) -> tuple[float, float] | None:
        dz = (z - self.centre[2]) / self.axes[2]
        if abs(dz) >= 1.0:
            return None
        s = math.sqrt(1.0 - dz * dz) if self.ellipsoid else 1.0
        if s * min(self.axes[:2]) < 0.75:
            return None
        return self.axes[0] * s, self.axes[1] * s

    def inside(self, x: FloatArray, y: FloatArray, z: FloatArray) -> npt.NDArray[np.bool_]:
        u = ((x - self.centre[0]) / self.axes[0]) ** 2 + ((y - self.centre[1]) / self.axes[1]) ** 2
        w = ((z - self.centre[2]) / self.axes[2]) ** 2
        if self.ellipsoid:
            return np.asarray(u + w <= 1.0)
        return np.asarray((u <= 1.0) & (w < 1.0))

    def contours(self, zs: Sequence[float]) -> list[FloatArray]:
        from rtplan.testing import ellipse_points_mm

        out = []
        for z in zs:
            ab = self.semi_axes_at(z)
            if ab is not None:
                out.append(ellipse_points_mm(ab, float(z), centre_mm=self.centre[:2], n=48))
        return out


@dataclass(frozen=True, slots=True)
class _Patient:
    age: int
    sex: str
    height_m: float
    weight_kg: float

    @property
    def bmi(self) -> float:
        return self.weight_kg / self.height_m**2


def _patient(rng: np.random.Generator) -> _Patient:
    sex = "F" if rng.random() < 0.5 else "M"
    age = int(rng.integers(18, 90))
    height = float(rng.normal(1.76 if sex == "M" else 1.63, 0.07))
    bmi = float(np.clip(rng.normal(25.5 + 0.04 * (age - 40), 3.5), 17.0, 42.0))
    return _Patient(
        age=age, sex=sex, height_m=round(height, 2), weight_kg=round(bmi * height**2, 1)
    )


def _tissue_hu(p: _Patient, site: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """Mean marrow, cortical and muscle HU of a patient (falling with age).

    The vertebral body holds trabecular bone (280 HU young, 120 HU at the greatest loss);
    the shaft of a long bone holds yellow marrow, fattier with age (-30 to -100 HU).
    Muscle attenuation falls with age and BMI but stays above the 33 HU at which
    :func:`rtplan.tissue.muscle_mask` stops calling it muscle.
    """
    post = max(0, p.age - 50)
    loss = min(0.012 * max(0, p.age - 30) + (0.010 * post if p.sex == "F" else 0.0), 0.7) / 0.7
    marrow = 280.0 - 160.0 * loss if site == "spine" else -30.0 - 70.0 * loss
    cancellous = marrow + rng.normal(0.0, 8.0)
    cortical = 1450.0 - 4.0 * max(0, p.age - 35) - (3.0 * post if p.sex == "F" else 0.0)
    cortical += rng.normal(0.0, 25.0)
    muscle = 55.0 - 0.30 * max(0, p.age - 30) - 0.6 * max(0.0, p.bmi - 25.0)
    muscle = max(muscle + rng.normal(0.0, 3.0), 36.0)
    return float(cancellous), float(cortical), float(muscle)


@dataclass(frozen=True, slots=True)
class _Anatomy:
    body: _Ellipse
    fat: float  # subcutaneous fat thickness, mm
    bone: _Ellipse
    marrow: _Ellipse
    organ: _Ellipse
    gtv: _Ellipse
    ptv: _Ellipse
    arch: _Ellipse | None  # vertebral arch around the canal (spine only)
    canal: _Ellipse | None


def _anatomy(site: str, p: _Patient, rng: np.random.Generator) -> tuple[_Anatomy, float]:
    """Shapes of one study and the GTV-to-bone gap (mm)."""
    scale = math.sqrt(p.weight_kg / 75.0)
    fat = (6.0 if p.sex == "M" else 11.0) * (1.0 + 0.01 * (p.age - 40)) * p.bmi / 25.0
    length = 66.0
    if site == "spine":
        body = _Ellipse((0.0, 0.0, 0.0), (150.0 * scale, 95.0 * scale, length))
        bone = _Ellipse((0.0, 15.0, 0.0), (20.0, 17.0, length))
        canal: _Ellipse | None = _Ellipse((0.0, 48.0, 0.0), (8.0, 8.0, length))
        arch: _Ellipse | None = _Ellipse((0.0, 50.0, 0.0), (16.0, 14.0, length))
        organ = _Ellipse((0.0, 48.0, 0.0), (5.0, 5.0, length))
        cortical = 3.0
    else:
        thigh = site == "thigh"
        body = _Ellipse((0.0, 0.0, 0.0), ((80.0 if thigh else 46.0) * scale,
                                          (74.0 if thigh else 42.0) * scale, length))  # fmt: skip
        r = (14.0 if thigh else 10.0) * (1.0 + 0.06 * (p.sex == "M"))
        bone = _Ellipse((8.0 if thigh else 0.0, 0.0, 0.0), (r, r * 0.95, length))
        canal = arch = None
        organ_y = (body.axes[1] - fat) * 0.6
        organ = _Ellipse((0.0, organ_y, 0.0), (4.0, 4.0, length) if thigh else (3.0, 3.0, length))
        cortical = (5.0 if thigh else 3.5) * (1.0 - 0.004 * max(0, p.age - 40))
    marrow = _Ellipse(bone.centre, (bone.axes[0] - cortical, bone.axes[1] - cortical, length))
    radius = float(rng.uniform(8.0, 20.0))
    gap = float(rng.uniform(2.0, 25.0))
    # the GTV sits in the muscle at `gap` mm from the bone, in a direction away from the organ
    for _ in range(50):
        angle = (
            float(rng.uniform(-math.pi, math.pi))
            if site != "spine"
            else float(
                rng.uniform(-2.6, -0.5) if rng.random() < 0.5 else rng.uniform(-2.6, -0.5) + math.pi
            )
        )
        reach = max(bone.axes[:2]) + gap + radius
        cx = bone.centre[0] + reach * math.cos(angle)
        cy = bone.centre[1] + reach * math.sin(angle)
        inner = (body.axes[0] - fat - radius - 8.0, body.axes[1] - fat - radius - 8.0)
        clear = math.hypot(cx - organ.centre[0], cy - organ.centre[1]) - radius - organ.axes[0]
        if (cx / inner[0]) ** 2 + (cy / inner[1]) ** 2 < 1.0 and clear > 3.0:
            break
        gap = max(2.0, gap * 0.8)
    else:  # a small body: put the target on the other side of the bone, touching it
        cx, cy, gap = bone.centre[0], bone.centre[1] - max(bone.axes[:2]) - radius - 2.0, 2.0
    cz = float(rng.uniform(-6.0, 6.0))
    gtv = _Ellipse((cx, cy, cz), (radius, radius * 0.9, radius * 1.1), ellipsoid=True)
    ptv = _Ellipse(gtv.centre, tuple(a + 5.0 for a in gtv.axes), ellipsoid=True)  # type: ignore[arg-type]
    anatomy = _Anatomy(body, fat, bone, marrow, organ, gtv, ptv, arch, canal)
    return anatomy, gap


def _hu_volume(
    a: _Anatomy,
    hu: tuple[float, float, float],
    xyz: tuple[FloatArray, FloatArray, FloatArray],
    rng: np.random.Generator,
) -> FloatArray:
    cancellous, cortical, muscle = hu
    x, y, z = xyz
    out = np.full(x.shape, -1000.0)
    body = a.body.inside(x, y, z)
    out[body] = _HU_FAT
    inner = _Ellipse(
        a.body.centre, (a.body.axes[0] - a.fat, a.body.axes[1] - a.fat, a.body.axes[2])
    )
    out[inner.inside(x, y, z)] = muscle
    if a.arch is not None and a.canal is not None:
        out[a.arch.inside(x, y, z)] = cortical
        out[a.canal.inside(x, y, z)] = 10.0
    out[a.bone.inside(x, y, z)] = cortical
    out[a.marrow.inside(x, y, z)] = cancellous
    out[a.organ.inside(x, y, z)] = _HU_CORD if a.canal is not None else _HU_NERVE
    out[a.gtv.inside(x, y, z)] = _HU_TUMOUR
    out += np.where(body, rng.normal(0.0, 12.0, x.shape), rng.normal(0.0, 4.0, x.shape))
    return np.asarray(out)


def _grid_axes(a: _Anatomy, site: str) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    pixel = 3.0 if site == "spine" else 2.5
    half_x = a.body.axes[0] + 10.0
    half_y = a.body.axes[1] + 10.0
    nx = math.ceil(2 * half_x / pixel)
    ny = math.ceil(2 * half_y / pixel)
    xs = (np.arange(nx) - (nx - 1) / 2.0) * pixel
    ys = (np.arange(ny) - (ny - 1) / 2.0) * pixel
    zc = a.ptv.centre[2]
    reach = a.ptv.axes[2] + 9.0
    nz = math.ceil(2 * reach / _SLICE_MM) + 1
    zs = np.round((zc - reach + np.arange(nz) * _SLICE_MM) / _SLICE_MM) * _SLICE_MM
    f64 = np.float64
    return xs.astype(f64), ys.astype(f64), np.asarray(zs, dtype=f64), pixel


def _rois(a: _Anatomy, bone: str, organ: str, zs: FloatArray) -> list[object]:
    from rtplan.testing import Roi

    z = [float(v) for v in zs]
    return [
        Roi(name="External", interpreted_type="EXTERNAL", color=(0, 255, 0),
            contours=tuple(a.body.contours(z))),
        Roi(name=bone, interpreted_type="ORGAN", color=(255, 255, 200),
            contours=tuple(a.bone.contours(z))),
        Roi(name=organ, interpreted_type="ORGAN", color=(255, 255, 0),
            contours=tuple(a.organ.contours(z))),
        Roi(name="GTV", interpreted_type="GTV", color=(255, 0, 0),
            contours=tuple(a.gtv.contours(z))),
        Roi(name="PTV", interpreted_type="PTV", color=(255, 0, 255),
            contours=tuple(a.ptv.contours(z))),
    ]  # fmt: skip


def _layout(root: Path, index: int, patient_id: str) -> Path:
    """The CT folder of study ``index``: four layouts in turn."""
    kind = index % 4
    if kind == 0:  # patient / study / series
        return root / patient_id / f"study_{index:05d}" / "CT"
    if kind == 1:  # one flat folder per study
        return root / f"flat_{index:05d}"
    if kind == 2:  # two studies share a folder
        return root / "shared" / f"pair_{index // 8:05d}"
    return root / "deep" / f"{index % 7}" / f"{index:05d}"  # nested without naming


def _write_plan_and_dose(
    folder: Path,
    a: _Anatomy,
    rx_gy: float,
    fractions: int,
    falloff_mm: float,
    tag: str,
    rs_uid: str,
) -> None:
    """An RT Plan and an analytic RT Dose of one study (rtplan's own writers)."""
    from scipy import ndimage

    import rtplan
    from rtplan.io import read_ct, write_rtdose, write_rtplan
    from rtplan.io.study import collect_warnings

    ct_files = sorted(folder.glob(f"{tag}_CT_*.dcm"))
    with collect_warnings():
        ct = read_ct(ct_files)
    grid = ct.grid
    idx = np.indices(grid.shape).reshape(3, -1).T[:, ::-1]  # (i, j, k)
    pts = grid.index_to_mm(idx.astype(np.float64))
    x, y, z = (pts[:, n].reshape(grid.shape) for n in range(3))
    ptv = a.ptv.inside(x, y, z)
    sampling = (grid.spacing_mm[0], grid.spacing_mm[1], grid.spacing_mm[2])
    d = np.asarray(ndimage.distance_transform_edt(~ptv, sampling=sampling))
    # the plateau reaches one voxel beyond the PTV's voxel centres (its contour's edge)
    dose = rx_gy * np.exp(-np.maximum(d - max(sampling), 0.0) / falloff_mm)
    dose[~a.body.inside(x, y, z)] = 0.0
    beam = rtplan.Beam(energy="6X", gantry_deg=0.0, isocenter_mm=a.ptv.centre, mu=100.0)
    plan = rtplan.Plan(beams=(beam,), prescription_gy=rx_gy, fractions=fractions, name="KBP")
    write_rtplan(plan, folder / f"{tag}_RP.dcm", reference=ct, structures_sop_uid=rs_uid)
    write_rtdose(
        rtplan.Dose(array=dose, grid=grid, fractions=fractions),
        folder / f"{tag}_RD.dcm",
        reference=ct,
        plan_sop_uid=plan.uid,
    )


def _write_study(
    root: Path, index: int, seed: int, plan_every: int, sites: Sequence[str]
) -> SyntheticStudy:
    from rtplan.testing import SeriesGeometry, uid, write_ct_series, write_rtstruct

    rng = np.random.default_rng([seed, index])
    p = _patient(rng)
    site = sites[int(rng.integers(0, len(sites)))]
    bone, organ = SITES[site]
    anatomy, gap = _anatomy(site, p, rng)
    hu = _tissue_hu(p, site, rng)
    xs, ys, zs, pixel = _grid_axes(anatomy, site)
    zz, yy, xx = np.meshgrid(zs, ys, xs, indexing="ij")
    volume = _hu_volume(anatomy, hu, (xx, yy, zz), rng)
    patient_id = f"SYN{index // 2:05d}"  # two studies per patient
    folder = _layout(root, index, patient_id)
    tag = f"s{index:05d}"
    study_uid = uid("synthetic study", seed, index)
    attributes = {
        "PatientID": patient_id,
        "PatientName": f"Synthetic^{index // 2:05d}",
        "PatientSex": p.sex,
        "PatientAge": f"{p.age:03d}Y",
        "PatientSize": f"{p.height_m:.2f}",
        "PatientWeight": f"{p.weight_kg:.1f}",
        "StudyInstanceUID": study_uid,
        "SeriesInstanceUID": uid("synthetic ct", seed, index),
        "FrameOfReferenceUID": uid("synthetic frame", seed, index),
        "StudyDescription": f"synthetic {site}",
    }
    geometry = SeriesGeometry(
        origin_mm=(float(xs[0]), float(ys[0]), float(zs[0])),
        spacing_mm=(_SLICE_MM, pixel, pixel),
    )
    names = [f"{tag}_CT_{k:03d}.dcm" for k in range(len(zs))]
    cts = write_ct_series(folder, volume, geometry, file_names=names, attributes=attributes)
    rs_uid = str(uid("synthetic rtstruct", seed, index))
    write_rtstruct(
        folder / f"{tag}_RS.dcm",
        cts,
        rois=_rois(anatomy, bone, organ, zs),  # type: ignore[arg-type]
        attributes={"SOPInstanceUID": rs_uid},
    )
    planned = plan_every > 0 and index % plan_every == 0
    rx, falloff = (None, None)
    if planned:
        rx = 50.0 if site != "spine" else 30.0
        falloff = float(rng.uniform(8.0, 16.0))
        _write_plan_and_dose(folder, anatomy, rx, 25 if rx == 50.0 else 10, falloff, tag, rs_uid)
    return SyntheticStudy(
        name=f"study_{index:05d}",
        folder=folder,
        patient_id=patient_id,
        age_years=p.age,
        sex=p.sex,
        height_m=p.height_m,
        weight_kg=p.weight_kg,
        site=site,
        bone=bone,
        organ=organ,
        target_radius_mm=anatomy.gtv.axes[0],
        target_gap_mm=gap,
        cancellous_hu=hu[0],
        cortical_hu=hu[1],
        muscle_hu=hu[2],
        planned=planned,
        prescription_gy=rx,
        falloff_mm=falloff,
    )


def _add_junk(root: Path, studies: list[SyntheticStudy], seed: int) -> list[SyntheticStudy]:
    """Junk files, a truncated CT slice (one study broken) and an orphan structure set."""
    from rtplan.testing import uid, write_rtstruct

    junk = root / "junk"
    junk.mkdir(parents=True, exist_ok=True)
    (junk / "README.txt").write_text("exported by a PACS; not DICOM\n", encoding="utf-8")
    (junk / "empty.dcm").write_bytes(b"")
    (junk / "notes.dcm").write_bytes(b"this is not a DICOM file at all" * 4)
    write_rtstruct(junk / "orphan_RS.dcm", None, frame_uid=str(uid("orphan frame", seed)))
    if len(studies) < 3:
        return studies
    victim = studies[len(studies) // 2 + 1]
    slices = sorted(victim.folder.glob(f"s{int(victim.name.split('_')[1]):05d}_CT_*.dcm"))
    middle = slices[len(slices) // 2]
    data = middle.read_bytes()
    middle.write_bytes(data[: len(data) // 2])  # pixel data cut short
    out = list(studies)
    out[out.index(victim)] = replace(victim, broken=True)
    return out


def synthetic_library(
    root: str | Path,
    n_studies: int,
    *,
    seed: int = 0,
    plan_every: int = 5,
    junk: bool = True,
    start: int = 0,
    sites: Sequence[str] = ("thigh", "thigh", "thigh", "spine", "spine", "arm"),
) -> list[SyntheticStudy]:
    """Write a library of varied synthetic studies (for tests, benchmarks and demos).

    Parameters
    ----------
    root : str or pathlib.Path
        Folder to write into (created).
    n_studies : int
        Number of studies (>= 1).
    seed : int
        Everything (patients, anatomy, noise, UIDs) derives from ``seed`` and the study
        number, so the same call writes the same files.
    plan_every : int
        Every ``plan_every``-th study (0, k, 2k, ...) gets an RT Plan and an RT Dose;
        0 for none.
    junk : bool
        Add non-DICOM files, an empty ``.dcm``, an orphan RT Structure Set and truncate
        one CT slice of one study (marked ``broken``).
    start : int
        Number of the first study (to grow a library in steps).
    sites : sequence of str
        Keys of :data:`SITES` drawn from with equal chance (repeat one to favour it).

    Returns
    -------
    list of SyntheticStudy
        The ground truth of each study, in order.

    Raises
    ------
    ValueError
        If ``n_studies`` < 1.

    Examples
    --------
    >>> import tempfile
    >>> from rtplan.library import synthetic_library
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     studies = synthetic_library(tmp, 1, junk=False)
    ...     s = studies[0]
    ...     print(s.site, s.planned, sorted(p.name[7:] for p in s.folder.glob("*_R?.dcm")))
    thigh True ['RD.dcm', 'RP.dcm', 'RS.dcm']
    """
    if n_studies < 1:
        raise ValueError(f"n_studies must be >= 1, got {n_studies}")
    unknown = [s for s in sites if s not in SITES]
    if unknown or not sites:
        raise ValueError(f"sites must be among {list(SITES)}, got {list(sites)}")
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    studies = [
        _write_study(base, i, seed, plan_every, tuple(sites))
        for i in range(start, start + n_studies)
    ]
    logger.info("wrote %d synthetic studies under %s", len(studies), base)
    return _add_junk(base, studies, seed) if junk else studies
