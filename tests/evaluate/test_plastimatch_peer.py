"""DVH and gamma against plastimatch (1.9.4, the Debian package) on the same inputs.

The RT Structure Set and RT Dose files are written with pydicom alone
(``evaluate_helpers``); the gamma inputs are MetaImage files written here (a text header and
raw little-endian float32). Every figure quoted below was measured with plastimatch 1.9.4.

``plastimatch dvh --input DIR`` (DIR holding one RTSTRUCT and one RTDOSE)
    * Rasterises the contours on its own grid, found from the structure set alone (a CT in
      the folder is not used): 512 x 512 voxels across the union of all contours plus 5 %
      in-plane (0.25 mm and 0.18 mm here), and one slice per contour plane along z,
      starting at the lowest plane. A voxel is in a structure when its centre is inside
      the contour of its slice.
    * The dose is interpolated trilinearly at those voxel centres, which lie on the contour
      planes: each plane's slab takes the dose of its plane only (no integration across the
      slab, the "voxel-centre" convention). In a dose gradient across the planes the DVH is
      a staircase with one step per plane; the mean dose is unaffected (for a linear dose
      the slab mean is its mid-plane dose).
    * The number of slices is ``round((z_max - z_min) / spacing)``, one short of the number
      of planes: the highest contour plane of the whole set is dropped. Structures that do
      not reach that plane are unaffected; the one that does (the body outline, in a
      clinical set) loses its top slab. ``test_topmost_contour_plane_is_dropped`` measures
      it. The comparisons of structure DVHs below therefore include a body cylinder that
      spans further than every other structure, as in a clinical structure set.
    * Histogram: bin ``k`` holds doses in ``[(k - 1/2) w, (k + 1/2) w)`` (nearest bin
      centre ``k w``); ``--normalization vox`` gives voxel counts, the voxel size is read
      from the tool's log. Bins of 0.01 Gy are used here.

``plastimatch gamma REF EVAL``, mapped to :func:`rtplan.evaluate.gamma`:

    =============================================  ==================================
    plastimatch                                    rtplan
    =============================================  ==================================
    ``--dose-tolerance 0.03``                      ``dose_percent=3``
    ``--dta-tolerance 3``                          ``distance_mm=3``
    reference maximum (no ``--reference-dose``)    ``normalization_gy=None``
    ``--reference-dose 50``                        ``normalization_gy=50``
    ``--analysis-threshold 0.1``                   ``threshold_percent=10``
    ``--ref-only-threshold``                       (the threshold is on the reference)
    ``--gamma-max 2`` (default)                    ``max_gamma=2``
    ``--local-gamma``                              ``local=True``
    =============================================  ==================================

    * Both analyse points with reference dose >= the threshold; without
      ``--ref-only-threshold`` plastimatch also analyses points where only the evaluated
      dose at the same point reaches it (``test_threshold_convention``). Local gamma
      divides by the reference voxel's dose in both.
    * Gamma is computed at the reference voxels; the evaluated dose is first resampled
      (trilinearly) onto the reference grid, so both distributions here share one grid.
    * Without ``--interp-search`` the minimum is taken over the reference lattice's voxel
      centres only, within a box of ``ceil(max_gamma * dta / spacing)`` voxels: on a 2.5 mm
      grid that misses every sub-voxel minimum (pass rates 52 % and 26 % where the
      continuous minimum gives 99.3 % and 93.8 %). rtplan's continuous minimum is never
      larger (``test_gamma_without_interp_search_is_a_lattice_minimum``).
    * With ``--interp-search`` each lattice node is also joined to its 26 neighbours and the
      closest point of each segment (dose linear along it) is taken. That is exact in a
      dose gradient along a grid axis and too high elsewhere (points between the segments
      are never searched), and along diagonal segments the linear chord is not the
      trilinear dose, so plastimatch's gamma may also fall below the continuous minimum
      of the trilinear interpolant (``test_interp_search_is_a_segment_search``). The pass
      rates then agree within ``GAMMA_TOL_PP``.

Tolerances and measured figures:

* DVH, large structures (25-80 cm³): volume, mean dose and D95 within ``DVH_TOL_PERCENT``
  (0.5 %) of each other; measured at most 0.10 %, 0.007 Gy and 0.02 Gy apart.
* DVH, small spheres (0.5-5 cm³) against the contoured closed form: volumes both within
  0.2 % (rtplan -0.06 to +0.04 %, plastimatch -0.16 to +0.03 %); in a dose gradient
  across the planes rtplan's largest cumulative-DVH error is below 0.07 % of the volume
  and D95 within 0.002 Gy, plastimatch's staircase 8.8-18 % and D95 off by up to 1.03 Gy
  (half a plane's dose step is 1.125 Gy); in a gradient along the planes rtplan
  0.16-0.21 % and D95 within 0.014 Gy, plastimatch 0.67-1.5 % and 0.03-0.07 Gy. Mean
  doses: both within 0.005 Gy. rtplan is closer on every DVH error and D95.
* Gamma, 3D field (13 923 points above 10 % on a 2.5 mm grid), ``--interp-search``: pass
  rates within ``GAMMA_TOL_PP`` (0.5 points); measured 3 %/3 mm 99.310 % (rtplan) against
  99.296 %, 2 %/2 mm 93.845 % against 93.550 %, local 99.289 % against 99.260 % and
  93.055 % against 92.832 %, normalised to 50 Gy 98.614 % against 98.581 % (the
  segments' misses outweigh the chords' undershoots here). Against the closed form of a
  shifted linear dose: rtplan exact (1e-9), plastimatch exact along an axis (float32,
  1e-5), 0.004-0.006 too high obliquely.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from evaluate_helpers import (
    Cylinder,
    SphereStack,
    dose_grid,
    linear_dose,
    ngon_area,
    sphere_radius_mm,
    write_rtdose,
    write_rtstruct,
)
from scipy.special import erf

import rtplan
from plastimatch_helpers import (
    PmDvh,
    dvh_args,
    read_dvh,
    read_gamma_report,
    read_mha,
    run_plastimatch,
    write_mha,
)
from rtplan.evaluate import dvh, gamma

PLASTIMATCH = shutil.which("plastimatch")

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        PLASTIMATCH is None,
        reason="plastimatch is not installed (Debian/Ubuntu: apt-get install plastimatch)",
    ),
]

FloatArray = npt.NDArray[np.float64]

SLICE_MM = 2.5  # contour plane spacing (the CT slices)
PLANE_PHASE_MM = 1.25  # every contour plane lies at z = 1.25 + 2.5 k (mm)
BIN_GY = 0.01  # plastimatch DVH bin width
DVH_TOL_PERCENT = 0.5
GAMMA_TOL_PP = 0.5
GAMMA_SPACING_MM = 2.5


def _plastimatch(folder: Path, *args: str) -> str:
    """Run a plastimatch command in ``folder``; its log is returned."""
    assert PLASTIMATCH is not None
    return run_plastimatch(PLASTIMATCH, *args, cwd=folder)


def _on_planes(centre_z: float) -> float:
    """SphereStack phase that puts its planes on the common lattice of contour planes."""
    return (PLANE_PHASE_MM - centre_z) % SLICE_MM


# ----------------------------------------------------------------------------- DVH
def _plastimatch_dvh(
    folder: Path, structures: list[rtplan.Structure], dose: rtplan.Dose
) -> dict[str, PmDvh]:
    write_rtstruct(folder / "rs.dcm", structures)
    write_rtdose(folder / "rd.dcm", dose)
    args = dvh_args(folder, float(np.max(dose.array)), BIN_GY)
    dvhs, _ = read_dvh(folder, _plastimatch(folder, *args), BIN_GY)
    n_bins = int(args[args.index("--num-bins") + 1])
    assert all(pm.counts.shape[0] == n_bins for pm in dvhs.values())
    assert all(pm.counts[-1] == 0 for pm in dvhs.values()), "doses beyond the last bin"
    return dvhs


def _smooth_dose(g: rtplan.Grid) -> rtplan.Dose:
    xyz = g.centers_mm()
    r2 = ((xyz - np.array([5.0, -3.0, 2.0])) ** 2).sum(axis=-1)
    return rtplan.Dose(array=60.0 * np.exp(-r2 / (2 * 40.0**2)) + 0.2 * xyz[..., 0] + 10.0, grid=g)


def test_large_structures_agree_with_plastimatch(tmp_path: Path) -> None:
    body = Cylinder(62.0, -50.0, 40, SLICE_MM, name="Body")
    organs = [
        SphereStack(
            sphere_radius_mm(30.0), SLICE_MM, _on_planes(1.0), (4.0, -6.0, 1.0), "Sphere30"
        ).structure,
        Cylinder(15.0, -20.0, 14, SLICE_MM, cx=-10.0, cy=8.0, name="Cylinder25").structure,
        SphereStack(
            sphere_radius_mm(80.0), SLICE_MM, _on_planes(-4.0), (-3.0, 2.0, -4.0), "Sphere80"
        ).structure,
    ]
    dose = _smooth_dose(dose_grid(2.5, (-70, -70, -55), (70, 70, 55)))
    theirs = _plastimatch_dvh(tmp_path, [body.structure, *organs], dose)
    for s in organs:
        ours, pm = dvh(dose, s), theirs[s.name]
        assert ours.volume_cc > 20
        rel = DVH_TOL_PERCENT / 100
        assert pm.volume_cc == pytest.approx(ours.volume_cc, rel=rel), s.name
        assert pm.mean_gy == pytest.approx(ours.mean_gy, rel=rel), s.name
        assert pm.D(95) == pytest.approx(ours.D(95), rel=rel), s.name


def _slab_cc(s: SphereStack) -> FloatArray:
    """Volume of each contour plane's slab, cm³ (n-gon area times slab height)."""
    lo, hi = s.slabs()
    return np.array([ngon_area(r) * (h - b) for r, b, h in zip(s.r, lo, hi, strict=True)]) / 1e3


def test_topmost_contour_plane_is_dropped(tmp_path: Path) -> None:
    """plastimatch rasterises one slice fewer than there are planes: the top one is lost."""
    s = SphereStack(sphere_radius_mm(30.0), SLICE_MM, _on_planes(1.0), (4.0, -6.0, 1.0), "S")
    a, b = 40.0, 0.3  # dose rising along z
    dose = linear_dose(dose_grid(2.5, (-30, -30, -30), (30, 30, 30)), a, (0.0, 0.0, b))
    pm = _plastimatch_dvh(tmp_path, [s.structure], dose)["S"]
    ours = dvh(dose, s.structure)
    contoured = s.volume_mm3() / 1000
    top_slab = float(_slab_cc(s)[-1])
    assert top_slab / contoured > 0.005  # a discriminating case
    assert ours.volume_cc == pytest.approx(contoured, rel=1e-3)
    assert pm.volume_cc == pytest.approx(contoured - top_slab, rel=1e-3)
    # the highest dose plastimatch sees is that of the second-highest plane
    assert pm.doses_present().max() == pytest.approx(a + b * s.z[-2], abs=BIN_GY)
    assert ours.max_gy > a + b * s.z[-1]


SMALL_SPHERES = [
    (0.5, (-20.0, 15.0)),
    (1.0, (15.0, 18.0)),
    (2.0, (-18.0, -16.0)),
    (5.0, (16.0, -15.0)),
]


@pytest.mark.parametrize("axis", ["z", "x"])
def test_small_spheres_against_the_contoured_truth(tmp_path: Path, axis: str) -> None:
    """0.5-5 cm³ spheres in D = a + b z (across the planes) or a + b x (along them).

    Truth: the contoured closed form (each plane's n-gon extruded over its 2.5 mm slab).
    """
    body = Cylinder(45.0, -30.0, 24, SLICE_MM, name="Body")  # the set's top plane is its own
    cz = 0.4
    spheres = [
        SphereStack(sphere_radius_mm(v), SLICE_MM, _on_planes(cz), (cx, cy, cz), f"N{v:g}")
        for v, (cx, cy) in SMALL_SPHERES
    ]
    a, b = 40.0, 0.9
    gradient = (0.0, 0.0, b) if axis == "z" else (b, 0.0, 0.0)
    dose = linear_dose(dose_grid(2.5, (-50, -50, -35), (50, 50, 35)), a, gradient)
    theirs = _plastimatch_dvh(tmp_path, [body.structure] + [s.structure for s in spheres], dose)
    for s in spheres:
        name = s.structure.name
        centre = float(s.c[2] if axis == "z" else s.c[0])
        levels = np.linspace(a + b * (centre - s.R) - 1, a + b * (centre + s.R) + 1, 2001)
        above = s.above_z if axis == "z" else s.above_x
        truth_cc = above((levels - a) / b) / 1000.0
        total = s.volume_mm3() / 1000.0
        slabs = _slab_cc(s)
        mean = float(np.sum(slabs * (a + b * s.z)) / total) if axis == "z" else a + b * centre
        d95 = float(np.interp(0.95 * total, truth_cc[::-1], levels[::-1]))

        ours, pm = dvh(dose, s.structure), theirs[name]
        v_ours = np.array([ours.V(float(L), volume_unit="cc") for L in levels])
        err_ours = float(np.max(np.abs(v_ours - truth_cc))) / total * 100
        err_pm = float(np.max(np.abs(pm.V_cc(levels) - truth_cc))) / total * 100
        # volumes: both within 0.2 % (plastimatch's in-plane voxels are 0.18 mm here)
        assert ours.volume_cc == pytest.approx(total, rel=2e-3), name
        assert pm.volume_cc == pytest.approx(total, rel=2e-3), name
        # mean dose: the slab mean of a linear dose is its mid-plane dose, so the
        # plane-sampled staircase keeps it
        assert ours.mean_gy == pytest.approx(mean, abs=0.01), name
        assert pm.mean_gy == pytest.approx(mean, abs=0.01), name
        assert err_ours < 0.3, (name, err_ours)
        assert abs(ours.D(95) - d95) < 0.02, (name, ours.D(95), d95)
        if axis == "z":
            # every plastimatch voxel takes its plane's dose: a staircase, one step a plane
            plane_doses = a + b * s.z
            present = pm.doses_present()
            gap = np.min(np.abs(present[:, None] - plane_doses[None, :]), axis=1)
            assert np.all(gap <= 1.5 * BIN_GY), name
            assert err_pm > 5.0, (name, err_pm)
            assert abs(pm.D(95) - d95) <= b * SLICE_MM / 2 + BIN_GY, name
        else:
            # in-plane voxel-centre masks of 0.18 mm: within a tenth of a gray
            assert abs(pm.D(95) - d95) < 0.1, (name, pm.D(95), d95)
        assert err_ours < err_pm, (name, err_ours, err_pm)
        assert abs(ours.D(95) - d95) < abs(pm.D(95) - d95), name


# ----------------------------------------------------------------------------- gamma
def _write_mha(path: Path, arr: FloatArray, axes_mm: list[FloatArray]) -> Path:
    """A float32 MetaImage of ``arr`` (axes z, y, x; voxel-centre coordinates ``axes_mm``)."""
    z, y, x = (np.asarray(a, dtype=np.float64) for a in axes_mm)
    return write_mha(
        path,
        np.asarray(arr, dtype=np.float32),
        origin_mm=(x[0], y[0], z[0]),
        spacing_ijk_mm=(x[1] - x[0], y[1] - y[0], z[1] - z[0]),
    )


def _read_mha(path: Path, shape: tuple[int, ...]) -> FloatArray:
    image = read_mha(path)
    assert image.header["ElementType"] == "MET_FLOAT", image.header
    assert image.array.shape == shape, (image.array.shape, shape)
    return image.array.astype(np.float64)


@dataclass(frozen=True)
class PmGamma:
    values: FloatArray  # gamma map on the reference grid (0 where not analysed)
    n_analysed: int
    n_passed: int

    @property
    def pass_rate(self) -> float:
        return 100.0 * self.n_passed / self.n_analysed


def _plastimatch_gamma(
    folder: Path,
    ref: Path,
    ev: Path,
    shape: tuple[int, ...],
    dose_percent: float,
    distance_mm: float,
    *options: str,
) -> PmGamma:
    out, text = folder / "gamma.mha", folder / "gamma.txt"
    _plastimatch(
        folder,
        "gamma",
        "--dose-tolerance",
        f"{dose_percent / 100:g}",
        "--dta-tolerance",
        f"{distance_mm:g}",
        "--analysis-threshold",
        "0.1",
        "--gamma-max",
        "2",
        *options,
        "--output",
        str(out),
        "--output-text",
        str(text),
        str(ref),
        str(ev),
    )
    n_analysed, n_passed = read_gamma_report(text)
    return PmGamma(values=_read_mha(out, shape), n_analysed=n_analysed, n_passed=n_passed)


GAMMA_AXES = [
    np.arange(-40.0, 40.1, GAMMA_SPACING_MM),
    np.arange(-50.0, 50.1, GAMMA_SPACING_MM),
    np.arange(-45.0, 45.1, GAMMA_SPACING_MM),
]  # z, y, x (mm)


def _field(shift_mm: tuple[float, float, float], scale: float, hot: float) -> FloatArray:
    """A flattened field with 5 mm erf penumbrae, a low-dose halo and a hot spot (Gy)."""
    z, y, x = np.meshgrid(*GAMMA_AXES, indexing="ij")
    c = [x - shift_mm[0], y - shift_mm[1], z - shift_mm[2]]
    prof = np.ones_like(x)
    for k, half in zip(c, (26.0, 30.0, 22.0), strict=True):
        prof = prof * 0.5 * (erf((half - np.abs(k)) / 5) + 1)
    r2 = sum(k * k for k in c)
    spot = hot * np.exp(-sum((k - 5) ** 2 for k in c) / 60)
    dose = (
        60 * scale * (prof * (0.92 + 0.08 * np.cos(c[0] / 12)) + 0.06 * np.exp(-r2 / 3000) + spot)
    )
    return dose.astype(np.float32).astype(np.float64)  # what plastimatch reads


@pytest.fixture(scope="module")
def fields(tmp_path_factory: pytest.TempPathFactory) -> tuple[FloatArray, FloatArray, Path, Path]:
    folder = tmp_path_factory.mktemp("gamma")
    ref = _field((0.0, 0.0, 0.0), 1.0, 0.0)
    ev = _field((0.8, -0.6, 0.5), 1.02, 0.03)
    return (
        ref,
        ev,
        _write_mha(folder / "ref.mha", ref, GAMMA_AXES),
        _write_mha(folder / "ev.mha", ev, GAMMA_AXES),
    )


def _rtplan_gamma(
    ref: FloatArray,
    ev: FloatArray,
    dp: float,
    dta: float,
    local: bool = False,
    normalization_gy: float | None = None,
) -> rtplan.evaluate.GammaResult:
    return gamma(
        ref,
        ev,
        dp,
        dta,
        10,
        local,
        normalization_gy=normalization_gy,
        reference_axes_mm=GAMMA_AXES,
        evaluated_axes_mm=GAMMA_AXES,
    )


@pytest.mark.parametrize(
    ("dp", "dta", "local", "norm_gy"),
    [
        (3, 3, False, None),
        (2, 2, False, None),
        (3, 3, True, None),
        (2, 2, True, None),
        (3, 3, False, 50.0),  # a prescription dose: --reference-dose
    ],
)
def test_gamma_pass_rate_agrees_with_interp_search(
    tmp_path: Path,
    fields: tuple[FloatArray, FloatArray, Path, Path],
    dp: float,
    dta: float,
    local: bool,
    norm_gy: float | None,
) -> None:
    ref, ev, ref_mha, ev_mha = fields
    ours = _rtplan_gamma(ref, ev, dp, dta, local, norm_gy)
    options = ["--interp-search", "--ref-only-threshold"]
    options += ["--local-gamma"] if local else []
    options += [] if norm_gy is None else ["--reference-dose", f"{norm_gy:g}"]
    pm = _plastimatch_gamma(tmp_path, ref_mha, ev_mha, ref.shape, dp, dta, *options)
    assert 80.0 < ours.pass_rate < 99.9  # a discriminating comparison
    assert pm.n_analysed == ours.n_evaluated  # same threshold, same normalisation
    assert abs(pm.pass_rate - ours.pass_rate) <= GAMMA_TOL_PP, (pm.pass_rate, ours.pass_rate)


def _lattice_gamma(ref: FloatArray, ev: FloatArray, dp: float, dta: float) -> FloatArray:
    """gamma over the voxel centres of the (common) grid only, within plastimatch's box."""
    dd = dp / 100 * float(ref.max())
    n = math.ceil(2.0 * dta / GAMMA_SPACING_MM)
    best = np.full(ref.shape, np.inf)
    nk, nj, ni = ref.shape
    for dk in range(-n, n + 1):
        for dj in range(-n, n + 1):
            for di in range(-n, n + 1):
                r2 = (dk * dk + dj * dj + di * di) * GAMMA_SPACING_MM**2 / dta**2
                moved = np.full(ref.shape, np.inf)
                moved[
                    max(0, -dk) : nk - max(0, dk),
                    max(0, -dj) : nj - max(0, dj),
                    max(0, -di) : ni - max(0, di),
                ] = ev[
                    max(0, dk) : nk - max(0, -dk),
                    max(0, dj) : nj - max(0, -dj),
                    max(0, di) : ni - max(0, -di),
                ]
                best = np.minimum(best, r2 + ((moved - ref) / dd) ** 2)
    return np.minimum(np.sqrt(best), 2.0)


@pytest.mark.parametrize(("dp", "dta"), [(3, 3), (2, 2)])
def test_gamma_without_interp_search_is_a_lattice_minimum(
    tmp_path: Path, fields: tuple[FloatArray, FloatArray, Path, Path], dp: float, dta: float
) -> None:
    ref, ev, ref_mha, ev_mha = fields
    ours = _rtplan_gamma(ref, ev, dp, dta)
    pm = _plastimatch_gamma(tmp_path, ref_mha, ev_mha, ref.shape, dp, dta, "--ref-only-threshold")
    sel = ~np.isnan(ours.values)
    assert pm.n_analysed == int(np.count_nonzero(sel))
    # plastimatch's map is the minimum over the voxel centres, computed independently here
    lattice = _lattice_gamma(ref, ev, dp, dta)
    assert np.max(np.abs(pm.values[sel] - lattice[sel])) < 1e-5
    # rtplan's continuous minimum is never above a lattice node's value ...
    assert np.all(ours.values[sel] <= pm.values[sel] + 1e-5)
    # ... and the lattice alone, 2.5 mm apart, misses most minima in the penumbrae
    assert pm.pass_rate < ours.pass_rate - 30.0, (pm.pass_rate, ours.pass_rate)


def test_threshold_convention(
    tmp_path: Path, fields: tuple[FloatArray, FloatArray, Path, Path]
) -> None:
    """By default plastimatch also analyses points where only the evaluated dose is high."""
    ref, ev, ref_mha, ev_mha = fields
    cutoff = 0.1 * float(ref.max())
    ours = _rtplan_gamma(ref, ev, 3, 3)
    default = _plastimatch_gamma(tmp_path, ref_mha, ev_mha, ref.shape, 3, 3)
    ref_only = _plastimatch_gamma(
        tmp_path, ref_mha, ev_mha, ref.shape, 3, 3, "--ref-only-threshold"
    )
    n_ref = int(np.count_nonzero(ref >= cutoff))
    n_either = int(np.count_nonzero((ref >= cutoff) | (ev >= cutoff)))
    assert n_either > n_ref  # the evaluated field reaches further: a discriminating case
    assert ours.n_evaluated == n_ref == ref_only.n_analysed
    assert default.n_analysed == n_either


def _segment_model(
    ref: FloatArray, ev: FloatArray, point: tuple[int, int, int], dp: float, dta: float
) -> tuple[float, FloatArray]:
    """plastimatch's --interp-search at one reference voxel: gamma and its minimiser (mm).

    The minimum over the lattice nodes in the box and over the segments from each node to
    each of its 26 neighbours, with the dose linear along each segment.
    """
    dd = dp / 100 * float(ref.max())
    h = GAMMA_SPACING_MM
    n = math.ceil(2.0 * dta / h)
    p = np.asarray(point)
    box = np.stack(np.meshgrid(*(np.arange(-n, n + 1),) * 3, indexing="ij"), -1).reshape(-1, 3)
    shape = np.asarray(ref.shape)
    nodes = p + box
    nodes = nodes[np.all((nodes >= 0) & (nodes < shape), axis=1)]
    step = np.stack(np.meshgrid(*(np.arange(-1, 2),) * 3, indexing="ij"), -1).reshape(-1, 3)
    step = step[np.any(step != 0, axis=1)]
    ends = nodes[:, None, :] + step[None, :, :]
    ok = np.all((ends >= 0) & (ends < shape), axis=2)

    def scaled(idx: npt.NDArray[np.int64]) -> FloatArray:  # (.., 4): mm / dta and dose / dD
        dose = ev[idx[..., 0], idx[..., 1], idx[..., 2]] / dd
        return np.concatenate([idx * h / dta, dose[..., None]], axis=-1)

    r1 = np.append(p * h / dta, ref[point] / dd)
    r2 = scaled(nodes)
    r3 = scaled(np.where(ok[..., None], ends, nodes[:, None, :]))
    g2 = np.sum((r2 - r1) ** 2, axis=1)
    best, where = float(g2.min()), r2[int(np.argmin(g2))]
    u = r2[:, None, :] - r3
    t = np.sum(u * (r2[:, None, :] - r1), axis=2) / np.maximum(np.sum(u * u, axis=2), 1e-300)
    inside = ok & (t > 0) & (t < 1)
    rn = r2[:, None, :] + t[..., None] * (r3 - r2[:, None, :])
    gs = np.where(inside, np.sum((r1 - rn) ** 2, axis=2), np.inf)
    if gs.min() < best:
        best, where = float(gs.min()), rn[np.unravel_index(int(np.argmin(gs)), gs.shape)]
    return min(math.sqrt(best), 2.0), where[:3] * dta  # (k, j, i) position in mm from index 0


def test_interp_search_is_a_segment_search(
    tmp_path: Path, fields: tuple[FloatArray, FloatArray, Path, Path]
) -> None:
    """--interp-search searches segments between voxel centres, with a linear dose on each.

    Where plastimatch's gamma is below rtplan's, the point it found is off the trilinear
    interpolant: the trilinear dose there gives a gamma no lower than rtplan's minimum.
    """
    from scipy.interpolate import RegularGridInterpolator

    ref, ev, ref_mha, ev_mha = fields
    dp, dta = 2.0, 2.0
    ours = _rtplan_gamma(ref, ev, dp, dta).values
    pm = _plastimatch_gamma(
        tmp_path, ref_mha, ev_mha, ref.shape, dp, dta, "--interp-search", "--ref-only-threshold"
    ).values
    sel = np.argwhere(~np.isnan(ours))
    rng = np.random.default_rng(20260101)
    sample = sel[rng.choice(sel.shape[0], 200, replace=False)]
    lower = sel[pm[tuple(sel.T)] < ours[tuple(sel.T)] - 1e-3]
    assert lower.shape[0] > 0  # chords below the trilinear surface exist here
    trilinear = RegularGridInterpolator(
        tuple(np.arange(n) * GAMMA_SPACING_MM for n in ref.shape), ev
    )
    dd = dp / 100 * float(ref.max())
    for point in map(tuple, np.vstack([sample, lower[:60]])):
        model, at_mm = _segment_model(ref, ev, point, dp, dta)
        assert model == pytest.approx(pm[point], abs=1e-4), point
        if pm[point] < ours[point] - 1e-3:
            dist2 = np.sum((at_mm - np.asarray(point) * GAMMA_SPACING_MM) ** 2) / dta**2
            there = math.sqrt(dist2 + ((trilinear(at_mm)[0] - ref[point]) / dd) ** 2)
            assert there >= ours[point] - 1e-9, point
    # and overall plastimatch is higher on average (segments miss the space between them)
    assert float(np.mean(pm[tuple(sel.T)] - ours[tuple(sel.T)])) > 0


@pytest.mark.parametrize(
    ("gradient", "exact_for_plastimatch"), [((1.0, 0.0, 0.0), True), ((0.8, 0.5, -0.3), False)]
)
def test_shifted_linear_dose_against_the_closed_form(
    tmp_path: Path, gradient: tuple[float, float, float], exact_for_plastimatch: bool
) -> None:
    """D_r = a + g . x and D_e = a + g . (x - s): gamma = |g . s| / sqrt(dD² + |g|² dta²).

    Linear doses are their own trilinear interpolants, so rtplan's continuous minimum is
    exact. plastimatch's segments contain the minimiser only when the gradient lies along a
    grid axis (the minimiser is on the line through the point along the gradient).
    """
    axes = [np.arange(-30.0, 30.1, GAMMA_SPACING_MM)] * 3
    z, y, x = np.meshgrid(*axes, indexing="ij")
    g = np.asarray(gradient)
    shift = np.array([2.55, -1.65, 0.9])
    ref = 100.0 + g[0] * x + g[1] * y + g[2] * z
    ev = 100.0 + g[0] * (x - shift[0]) + g[1] * (y - shift[1]) + g[2] * (z - shift[2])
    ref_mha = _write_mha(tmp_path / "ref.mha", ref, axes)
    ev_mha = _write_mha(tmp_path / "ev.mha", ev, axes)
    inner = (slice(3, -3),) * 3  # minimisers within the grid
    for dp, dta in ((3, 3), (2, 2)):
        dd = dp / 100 * float(ref.max())
        closed = abs(float(g @ shift)) / math.sqrt(dd**2 + float(g @ g) * dta**2)
        assert 0.1 < closed < 1.0
        ours = gamma(ref, ev, dp, dta, 10, reference_axes_mm=axes, evaluated_axes_mm=axes)
        pm = _plastimatch_gamma(
            tmp_path,
            ref_mha,
            ev_mha,
            ref.shape,
            dp,
            dta,
            "--interp-search",
            "--ref-only-threshold",
        ).values[inner]
        assert np.max(np.abs(ours.values[inner] - closed)) < 1e-9
        if exact_for_plastimatch:
            assert np.max(np.abs(pm - closed)) < 1e-5
        else:
            assert np.min(pm - closed) > 1e-3
            assert np.max(pm - closed) < 0.01
