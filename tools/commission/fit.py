"""The commissioning fit: source parameters by weighted least squares, and its residuals.

Every reference value is taken relative to the reference point (the 10 x 10 cm² field's
central-axis bin at 10 cm depth), in the reference and in the engine alike: depth doses,
profiles and output factors then form one set of numbers whose absolute scale (the
engine's calibration, 1 MU = 1 cGy at d_max) drops out, as in a clinic's commissioning.
Each value is weighted by ``1 / sigma`` with

    sigma^2 = sigma_ref^2 + (0.5 % of the value)^2 + (0.3 mm x its gradient)^2

(the reference's own uncertainty; a floor for the engine's discretisation; a positioning
tolerance that keeps the steep build-up and penumbrae from dominating). Depth-dose bins
shallower than 10 mm are left out of the fit (the engines' 2.5 mm voxels cannot follow the
1 mm bins of the build-up) and reported apart.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.dose import BeamModel
from tools.commission.model import FieldBasis, Parameters, predict
from tools.commission.reference import Bins, FieldData

__all__ = [
    "BOUNDS",
    "FitResult",
    "depth_slope",
    "filtration_equivalent",
    "fit",
    "output_factor",
    "penumbra_80_20",
    "reference_value",
    "residual_vector",
    "summarise",
]

FloatArray = npt.NDArray[np.float64]

#: Fitted parameters and their bounds.
BOUNDS: dict[str, tuple[float, float]] = {
    "focal_sigma_mm": (0.0, 3.0),
    "extra_focal_fraction": (0.0, 0.15),
    "extra_focal_sigma_mm": (10.0, 100.0),
    "radial_ramp_per_cm": (-0.03, 0.05),
    "jaw_transmission": (0.0, 0.02),
}
MIN_FIT_DEPTH_MM = 10.0
FLOOR = 0.005
POSITION_MM = 0.3


def reference_value(ref: FieldData) -> tuple[float, float]:
    """Central-axis dose of the bin holding 10 cm depth, and its uncertainty."""
    c = ref.pdd.centres
    i = int(np.argmin(np.abs(c - 100.0)))
    return float(ref.pdd.dose[i]), float(ref.pdd.sigma[i])


def _weights(b: Bins, scale: float) -> FloatArray:
    v = b.dose / scale
    grad = np.gradient(v, b.centres)
    s2 = (b.sigma / scale) ** 2 + (FLOOR * v) ** 2 + (POSITION_MM * grad) ** 2
    w = 1.0 / np.sqrt(s2)
    if b.kind == "pdd":
        w = np.where(b.centres >= MIN_FIT_DEPTH_MM, w, 0.0)
    return np.asarray(w)


def residual_vector(
    bases: list[FieldBasis], p: Parameters, ref_point: tuple[str, float]
) -> FloatArray:
    """Weighted residuals of every bin of every field for parameters ``p``.

    Parameters
    ----------
    bases : list of FieldBasis
        The fields fitted (one must be the reference field).
    p : Parameters
    ref_point : (str, float)
        Name of the reference field and its reference dose (the reference data's).

    Returns
    -------
    numpy.ndarray
    """
    name, ref_dose = ref_point
    preds = {fb.field.name: predict(fb, p) for fb in bases}
    ref_fb = next(fb for fb in bases if fb.field.name == name)
    i = int(np.argmin(np.abs(ref_fb.field.pdd.centres - 100.0)))
    eng_ref = float(preds[name][0][i])
    out = []
    for fb in bases:
        for b, v in zip((fb.field.pdd, *fb.field.profiles), preds[fb.field.name], strict=True):
            w = _weights(b, ref_dose)
            out.append(w * (v / eng_ref - b.dose / ref_dose))
    return np.concatenate(out)


@dataclass(frozen=True)
class FitResult:
    """Fitted parameters, their 1-sigma uncertainties and the fit's quality.

    Attributes
    ----------
    parameters : Parameters
    sigma : dict of str to float
        1-sigma uncertainty of each parameter (from the Jacobian, scaled by the reduced
        chi-square); NaN where the data do not determine it (e.g. the width of an
        extra-focal source of zero share).
    at_bound : tuple of str
        Parameters that ended on a bound.
    chi2_per_dof : float
    n_values : int
    """

    parameters: Parameters
    sigma: dict[str, float]
    at_bound: tuple[str, ...]
    chi2_per_dof: float
    n_values: int


def fit(bases: list[FieldBasis], start: Parameters, ref_point: tuple[str, float]) -> FitResult:
    """Fit the source parameters to the reference data of ``bases``.

    Parameters
    ----------
    bases : list of FieldBasis
        Basis doses of the fitted fields.
    start : Parameters
        Starting point (clipped into :data:`BOUNDS`).
    ref_point : (str, float)
        Reference field name and its reference dose.

    Returns
    -------
    FitResult
    """
    from scipy.optimize import least_squares

    names = list(BOUNDS)
    # the focal blur changes the data by about sigma^2: it is fitted as a variance
    sq = np.array([n == "focal_sigma_mm" for n in names])
    lo = np.array([BOUNDS[n][0] for n in names])
    hi = np.array([BOUNDS[n][1] for n in names])
    lo, hi = np.where(sq, lo**2, lo), np.where(sq, hi**2, hi)
    x0 = np.array([getattr(start, n) for n in names])
    x0 = np.clip(np.where(sq, x0**2, x0), lo, hi)

    def params(x: FloatArray) -> Parameters:
        values = np.where(sq, np.sqrt(np.maximum(x, 0.0)), x)
        return Parameters(**{n: float(v) for n, v in zip(names, values, strict=True)})

    def fun(x: FloatArray) -> FloatArray:
        return residual_vector(bases, params(x), ref_point)

    res = least_squares(fun, x0, bounds=(lo, hi), x_scale=(hi - lo) / 10.0, diff_step=1e-3)
    dof = max(1, res.fun.size - len(names))
    chi2 = float(res.fun @ res.fun) / dof
    jac = res.jac
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.linalg.pinv(jac.T @ jac) * chi2
    fitted = params(res.x)
    sigma = {}
    for k, n in enumerate(names):
        col = float(np.linalg.norm(jac[:, k]))
        s = float(np.sqrt(cov[k, k])) if col > 1e-9 else float("nan")
        if sq[k]:  # from the variance's uncertainty; at zero, the variance's square root
            v = float(res.x[k])
            s = s / (2.0 * math.sqrt(v)) if v > s > 0 else math.sqrt(s)
        sigma[n] = s
    at_bound = tuple(
        n for n, x, a, b in zip(names, res.x, lo, hi, strict=True)
        if min(x - a, b - x) < 1e-4 * (b - a)
    )  # fmt: skip
    return FitResult(
        parameters=fitted,
        sigma=sigma,
        at_bound=at_bound,
        chi2_per_dof=chi2,
        n_values=int(np.count_nonzero(res.fun)),
    )


# ---------------------------------------------------------------------------- summaries
def penumbra_80_20(centres: FloatArray, values: FloatArray, field_mm: float) -> float:
    """Mean 80-20 % width of both edges of a profile normalised to its central third, mm."""
    inner = np.abs(centres) < field_mm / 6.0
    v = values / values[inner].mean()
    widths = []
    for side in (centres > 0, centres < 0):
        xs, vs = np.abs(centres[side]), v[side]
        order = np.argsort(xs)
        xs, vs = xs[order], vs[order]

        def crossing(level: float, xs: FloatArray = xs, vs: FloatArray = vs) -> float:
            i = int(np.argmax(vs < level))
            return float(np.interp(level, [vs[i], vs[i - 1]], [xs[i], xs[i - 1]]))

        widths.append(crossing(0.2) - crossing(0.8))
    return float(np.mean(widths))


def output_factor(values_pdd: FloatArray, ref_bins: Bins, ref_value: float) -> float:
    """Central-axis dose at 10 cm over the reference field's (output factor at 10 cm)."""
    i = int(np.argmin(np.abs(ref_bins.centres - 100.0)))
    return float(values_pdd[i] / ref_value)


def _peak(b: Bins, v: FloatArray) -> float:
    """Maximum of a depth dose: a parabola through the bins within 5 mm of the highest."""
    c = b.centres
    i = int(np.argmax(v))
    sel = np.abs(c - c[i]) <= 5.0
    p = np.polyfit(c[sel], v[sel], 2)
    if p[0] >= 0:
        return float(v[i])
    x0 = float(np.clip(-p[1] / (2 * p[0]), c[sel].min(), c[sel].max()))
    return float(np.polyval(p, x0))


def _penumbra_sigma(b: Bins, field_mm: float, n: int = 100) -> float:
    """Spread of the reference penumbra under its own noise (fixed seed)."""
    rng = np.random.default_rng(20250601)
    samples = [
        penumbra_80_20(b.centres, b.dose + rng.normal(0.0, 1.0, b.dose.size) * b.sigma, field_mm)
        for _ in range(n)
    ]
    return float(np.std(samples))


def _profile_summary(ref: FieldData, b: Bins, v: FloatArray) -> dict[str, float]:
    x = b.centres
    edge = ref.field_mm / 2 * (1000.0 + b.depth_mm) / 1000.0
    inner = np.abs(x) <= edge - max(5.0, 0.2 * edge)
    cax = np.abs(x) < ref.field_mm / 6.0
    rn = b.dose / b.dose[cax].mean()
    en = v / v[cax].mean()
    sig = b.sigma / b.dose[cax].mean()
    infield = 100 * (en[inner] - rn[inner])
    outside = (np.abs(x) > edge + 20.0) & (np.abs(x) < edge + 40.0)
    pen_ref = penumbra_80_20(x, b.dose, ref.field_mm)
    out = {
        "depth_mm": b.depth_mm,
        "in_field_rms_diff_percent": float(np.sqrt(np.mean(infield**2))),
        "in_field_mean_diff_percent": float(np.mean(infield)),
        "in_field_sigma_percent": float(100 * np.sqrt(np.mean(sig[inner] ** 2))),
        "penumbra_ref_mm": pen_ref,
        "penumbra_sigma_mm": _penumbra_sigma(b, ref.field_mm),
        "penumbra_diff_mm": penumbra_80_20(x, v, ref.field_mm) - pen_ref,
        "out_of_field_ref_percent": float("nan"),
        "out_of_field_diff_pt": float("nan"),
        "out_of_field_sigma_pt": float("nan"),
    }
    if outside.any():
        out["out_of_field_ref_percent"] = float(100 * rn[outside].mean())
        out["out_of_field_diff_pt"] = float(100 * (en[outside].mean() - rn[outside].mean()))
        out["out_of_field_sigma_pt"] = float(
            100 * np.sqrt(np.sum(sig[outside] ** 2)) / outside.sum()
        )
    return out


def summarise(
    ref: FieldData,
    eng: list[FloatArray],
    ref_scale: tuple[float, float],
    eng_scale: float,
    *,
    is_reference: bool = False,
) -> dict[str, object]:
    """The clinic's numbers for one field: PDD, profile, penumbra, out-of-field, output.

    Parameters
    ----------
    ref : FieldData
        Reference data of the field.
    eng : list of numpy.ndarray
        The engine's bin values ``[pdd, profile_1, ...]``.
    ref_scale : (float, float)
        Reference dose (and its sigma) of the reference point in the reference data.
    eng_scale : float
        The engine's dose at the reference point.
    is_reference : bool
        The field is the reference field (its output factor is 1 by definition).

    Returns
    -------
    dict
        Differences engine minus reference, with the reference's 1-sigma.
    """
    out: dict[str, object] = {"field": ref.name}
    pdd = ref.pdd
    c = pdd.centres
    mc_peak = _peak(pdd, pdd.dose)
    eng_peak = _peak(pdd, eng[0])
    rows = []
    for d in (5.0, 15.0, 50.0, 100.0, 200.0, 250.0):
        i = int(np.argmin(np.abs(c - d)))
        m = 100 * pdd.dose[i] / mc_peak
        e = 100 * eng[0][i] / eng_peak
        rows.append({"depth_mm": float(c[i]), "ref": m, "diff_pt": e - m,
                     "sigma_pt": 100 * pdd.sigma[i] / mc_peak})  # fmt: skip
    out["pdd"] = rows
    deep = c >= MIN_FIT_DEPTH_MM
    local = 100 * (eng[0][deep] / eng_peak / (pdd.dose[deep] / mc_peak) - 1)
    rel_sigma = 100 * pdd.sigma[deep] / pdd.dose[deep]
    # largest deviation of 2 cm running means (four 5 mm bins) beyond 3 cm: single bins
    # carry 1-1.5 % of noise
    deep5 = c[deep] >= 30.0
    run = np.convolve(local[deep5], np.ones(4) / 4.0, mode="valid")
    out["pdd_max_local_percent"] = float(run[np.argmax(np.abs(run))])
    out["pdd_rms_local_percent"] = float(np.sqrt(np.mean(local**2)))
    out["pdd_rms_sigma_percent"] = float(np.sqrt(np.mean(rel_sigma**2)))
    # the engines' first voxel centre lies 1.25 mm deep (2.5 mm voxels)
    out["surface_ref"] = float(100 * np.interp(1.25, c, pdd.dose) / mc_peak)
    out["surface_eng"] = float(100 * np.interp(1.25, c, eng[0]) / eng_peak)
    i10 = int(np.argmin(np.abs(c - 100.0)))
    of_ref = pdd.dose[i10] / ref_scale[0]
    of_sig = (
        0.0
        if is_reference
        else of_ref * np.hypot(pdd.sigma[i10] / pdd.dose[i10], ref_scale[1] / ref_scale[0])
    )
    of_eng = eng[0][i10] / eng_scale
    out["output_factor"] = {"ref": float(of_ref), "sigma": float(of_sig),
                            "diff_percent": float(100 * (of_eng / of_ref - 1))}  # fmt: skip
    out["profiles"] = [
        _profile_summary(ref, b, v) for b, v in zip(ref.profiles, eng[1:], strict=True)
    ]
    return out


def depth_slope(ref: FieldData, eng_pdd: FloatArray) -> tuple[float, float]:
    """Slope of ``ln(engine / reference)`` over 50-250 mm depth, per cm, and its sigma.

    A weighted straight-line fit through the depth-dose bins: a spectrum too hard for the
    engine shows as a positive slope (the engine's dose falls too slowly with depth).
    """
    b = ref.pdd
    sel = (b.centres >= 50.0) & (b.centres <= 250.0)
    x = b.centres[sel] / 10.0
    y = np.log(eng_pdd[sel] / b.dose[sel])
    w = (b.dose[sel] / b.sigma[sel]) ** 2
    xm = float(np.sum(w * x) / np.sum(w))
    sxx = float(np.sum(w * (x - xm) ** 2))
    slope = float(np.sum(w * (x - xm) * y) / sxx)
    resid = y - (np.sum(w * y) / np.sum(w) + slope * (x - xm))
    chi2 = float(np.sum(w * resid**2)) / max(1, x.size - 2)
    return slope, math.sqrt(max(chi2, 1.0) / sxx)


def filtration_equivalent(machine: BeamModel, slope_per_cm: float) -> float:
    """Extra water filtration (cm) that changes the TERMA's slope by ``slope_per_cm``.

    The effective attenuation of the TERMA of the machine's spectrum between 5 and 25 cm
    depth, ``mu_eff(f)``, falls as the spectrum is filtered by ``f`` cm of water; a depth
    slope ``s`` of engine over reference is undone by ``d mu_eff = s``, that is a filtration
    change of ``s / (d mu_eff / d f)`` (negative: a softer spectrum).
    """
    from rtplan.dose._physics import mu_rho_water_without_coherent

    mu = mu_rho_water_without_coherent(machine.energy_mev)

    def mu_eff(f_cm: float) -> float:
        share = machine.energy_fluence_share * np.exp(-mu * f_cm)
        t5, t25 = (float(np.sum(share * mu * np.exp(-mu * d))) for d in (5.0, 25.0))
        return math.log(t5 / t25) / 20.0

    dmu_df = (mu_eff(0.5) - mu_eff(-0.5)) / 1.0
    return slope_per_cm / dmu_df


def with_parameters(p: Parameters, **changes: float) -> Parameters:
    """``p`` with some parameters replaced."""
    return dataclasses.replace(p, **changes)
