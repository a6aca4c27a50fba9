"""An engine's predictions of the reference data, as a fast function of the source parameters.

The relative fluence of the beam model (:mod:`rtplan.dose._fluence`) is

    F = (1 - f_e) G(sigma_f) * [A (1 + c r)] + f_e G(sigma_e) * A,    A = T + (1 - T) open

(focal source of width ``sigma_f``, extra-focal source of share ``f_e`` and width
``sigma_e``, flattening-filter ramp ``c`` per cm off axis, jaw transmission ``T``), and
every engine's dose is linear in ``F`` (for a fixed spectrum). So the dose of any parameter
set is a combination of a few *basis* doses, each computed once by the engine and averaged
over the reference bins:

* ``open``: a point source, no ramp, opaque jaws;
* ``ramp``: the dose of ``open x r`` (per unit ``c``, from a run with ``c = 0.02``);
* ``uniform``: ``A = 1`` everywhere (the jaws' transmitted part);
* ``extra[s]``: ``G(s) * open`` for a ladder of ``s`` (linear between its rungs).

The focal blur acts on the lateral profiles, where it is a one-dimensional Gaussian of
``sigma_f (SSD + d) / SAD`` across the bins (its effect on the central axis of fields of
3 cm and more is below 10^-4); the ramp's transmitted part and the extra-focal source's
ramp are neglected (products of two small terms). :func:`predict` evaluates that model;
:func:`engine_bins` runs the engine itself (used to validate the model's result).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import rtplan
from rtplan import Grid, Image
from rtplan.dose import BeamModel, DoseSetup, get_engine, prepare_setup
from rtplan.image import PatientPosition
from tools.commission.reference import Bins, FieldData

__all__ = [
    "EXTRA_SIGMAS_MM",
    "PHANTOM_DEPTH_MM",
    "FieldBasis",
    "Parameters",
    "basis",
    "bin_average",
    "engine_bins",
    "line_average",
    "predict",
    "to_bins",
    "water_tank",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

PHANTOM_DEPTH_MM = 350.0
EXTRA_SIGMAS_MM = (10.0, 20.0, 35.0, 50.0, 70.0, 100.0)
_RAMP_PROBE_PER_CM = 0.02


@dataclass(frozen=True)
class Parameters:
    """The fitted source parameters (see the module notes)."""

    focal_sigma_mm: float = 0.0
    extra_focal_fraction: float = 0.0
    extra_focal_sigma_mm: float = 40.0
    radial_ramp_per_cm: float = 0.0
    jaw_transmission: float = 0.0

    def machine(self, base: BeamModel) -> BeamModel:
        """``base`` with these parameters."""
        return dataclasses.replace(base, **dataclasses.asdict(self))

    @classmethod
    def of(cls, machine: BeamModel) -> Parameters:
        """The parameters of a machine."""
        return cls(**{f.name: getattr(machine, f.name) for f in dataclasses.fields(cls)})


def water_tank(field: FieldData) -> Image:
    """The water phantom of a reference field: the Monte Carlo's (2.5 mm x 1 mm voxels).

    ``field.width_mm`` wide (x and z, centred on 0), 350 mm deep, surface ``y = 0``, HFS.
    """
    w = field.width_mm
    n_lat = round(w / 2.5)
    n_dep = round(PHANTOM_DEPTH_MM / 1.0)
    grid = Grid(
        shape=(n_lat, n_dep, n_lat),
        spacing_mm=(2.5, 1.0, 2.5),
        origin_mm=(-w / 2 + 1.25, 0.5, -w / 2 + 1.25),
    )
    return Image(
        array=np.ones(grid.shape, dtype=np.float32),
        grid=grid,
        units="g/cm3",
        name=f"water {field.name}",
        patient_position=PatientPosition.HFS,
    )


def _beam(field: FieldData, machine: BeamModel) -> rtplan.Beam:
    h = field.field_mm / 2.0
    return rtplan.Beam(
        energy="6X", gantry_deg=0.0, isocenter_mm=(0.0, 0.0, 0.0), sad_mm=machine.sad_mm,
        jaws_mm=(-h, h, -h, h), name=field.name,
    )  # fmt: skip


def _sub(edges: FloatArray, step: float) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Sub-points of each bin (at most ``step`` apart) and the bin each belongs to."""
    pts, owner = [], []
    for b in range(edges.size - 1):
        lo, hi = float(edges[b]), float(edges[b + 1])
        n = max(1, math.ceil((hi - lo) / step - 1e-9))
        pts.append(lo + (np.arange(n) + 0.5) * (hi - lo) / n)
        owner.append(np.full(n, b))
    return np.concatenate(pts), np.concatenate(owner)


def bin_average(image: Image, bins: Bins) -> FloatArray:
    """Mean of the trilinear image over each bin of a depth dose or profile.

    Sub-points 0.25 mm apart along the long axis and at most 2.5 mm apart across.

    Returns
    -------
    numpy.ndarray, shape (n_bins,)
    """
    line, owner = line_average(image, bins)
    return to_bins(line, owner, bins.edges.size - 1)


def line_average(image: Image, bins: Bins) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """The image along a bin mesh's long axis, averaged across it (see :func:`bin_average`).

    Returns
    -------
    line : numpy.ndarray
        Values every 0.25 mm (evenly within each bin), averaged over the bins' other axes.
    owner : numpy.ndarray of intp
        The bin of each value.
    """
    long_axis = 1 if bins.kind == "pdd" else 0
    xs, ox = _sub(bins.x_edges_mm, 0.25 if long_axis == 0 else 2.5)
    ys, oy = _sub(bins.y_edges_mm, 0.25 if long_axis == 1 else 2.5)
    zs, _ = _sub(bins.z_edges_mm, 2.5)
    xx, yy, zz = np.meshgrid(xs, ys, zs, indexing="ij")
    vals = image.sample(np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1))
    vals = vals.reshape(xx.shape)
    if long_axis == 0:
        return np.asarray(vals.mean(axis=(1, 2))), ox
    return np.asarray(vals.mean(axis=(0, 2))), oy


def to_bins(line: FloatArray, owner: npt.NDArray[np.intp], n: int) -> FloatArray:
    """Bin means of line values (from :func:`line_average`)."""
    return np.asarray(
        np.bincount(owner, weights=line, minlength=n) / np.bincount(owner, minlength=n)
    )


@dataclass(frozen=True)
class _Setup:
    setup: DoseSetup
    beam: rtplan.Beam


def _run(
    field: FieldData, engine: str, machine: BeamModel, cache: dict[str, _Setup], grid_mm: float
) -> Image:
    key = f"{field.name} {grid_mm}"
    if key not in cache:
        ct = water_tank(field)
        cache[key] = _Setup(prepare_setup(ct, grid_mm=grid_mm), _beam(field, machine))
    s = cache[key]
    dose = get_engine(engine).beam_dose(s.beam, s.setup, machine)
    return Image(array=dose, grid=s.setup.grid)


def engine_bins(
    field: FieldData,
    engine: str,
    machine: BeamModel,
    cache: dict[str, _Setup] | None = None,
    *,
    grid_mm: float = 2.5,
) -> list[FloatArray]:
    """The engine's dose averaged over the field's bins: ``[pdd, profile_1, ...]``.

    Parameters
    ----------
    field : FieldData
        Reference field (geometry and bins).
    engine : str
        Dose engine name.
    machine : BeamModel
        Beam model the engine uses.
    cache : dict, optional
        Dose setups by field name, reused between calls.
    grid_mm : float
        Dose grid spacing, mm.

    Returns
    -------
    list of numpy.ndarray
        Dose per unit open-field energy fluence (MeV/g per MeV/cm²) in each bin.
    """
    img = _run(field, engine, machine, cache if cache is not None else {}, grid_mm)
    return [bin_average(img, b) for b in (field.pdd, *field.profiles)]


def _engine_lines(
    field: FieldData, engine: str, machine: BeamModel, cache: dict[str, _Setup], grid_mm: float
) -> list[FloatArray]:
    """As :func:`engine_bins`, but the profiles as their 0.25 mm lines."""
    img = _run(field, engine, machine, cache, grid_mm)
    return [bin_average(img, field.pdd), *(line_average(img, b)[0] for b in field.profiles)]


@dataclass(frozen=True)
class FieldBasis:
    """The basis doses of one field, each a list ``[pdd, profile_1, ...]``.

    ``open`` and ``ramp`` hold the profiles as 0.25 mm lines (the focal blur acts on them
    before they are binned; ``owner`` gives each line value's bin), the others as bins.
    """

    field: FieldData
    open: list[FloatArray]
    ramp: list[FloatArray]
    uniform: list[FloatArray]
    extra: dict[float, list[FloatArray]]
    owner: list[npt.NDArray[np.intp]]


def basis(field: FieldData, engine: str, base: BeamModel, *, grid_mm: float = 2.5) -> FieldBasis:
    """Run the engine for the basis doses of one field (4 + len(EXTRA_SIGMAS_MM) runs).

    Parameters
    ----------
    field : FieldData
    engine : str
    base : BeamModel
        Spectrum, kernels and the ramp's cap; its source parameters are replaced.
    grid_mm : float
        Dose grid spacing, mm.

    Returns
    -------
    FieldBasis
    """
    cache: dict[str, _Setup] = {}
    point = Parameters(extra_focal_sigma_mm=base.extra_focal_sigma_mm).machine(base)
    log.info("%s with %s: basis doses", field.name, engine)

    def run(m: BeamModel) -> list[FloatArray]:
        return engine_bins(field, engine, m, cache, grid_mm=grid_mm)

    def lines(m: BeamModel) -> list[FloatArray]:
        return _engine_lines(field, engine, m, cache, grid_mm)

    open_ = lines(point)
    probe = lines(dataclasses.replace(point, radial_ramp_per_cm=_RAMP_PROBE_PER_CM))
    ramp = [(a - b) / _RAMP_PROBE_PER_CM for a, b in zip(probe, open_, strict=True)]
    uniform = run(dataclasses.replace(point, jaw_transmission=1.0))
    extra = {}
    for s in EXTRA_SIGMAS_MM:
        extra[s] = run(dataclasses.replace(point, extra_focal_fraction=1.0, extra_focal_sigma_mm=s))
    owner = [_sub(b.x_edges_mm, 0.25)[1] for b in field.profiles]
    return FieldBasis(field=field, open=open_, ramp=ramp, uniform=uniform, extra=extra, owner=owner)


def _blur(line: FloatArray, sigma_mm: float, step_mm: float = 0.25) -> FloatArray:
    """A line of values blurred by a Gaussian (by FFT, ends padded with their values).

    The transfer function ``exp(-(k sigma)^2 / 2)`` is smooth in ``sigma^2``, so the fit
    sees the blur's effect even from ``sigma = 0``.
    """
    if sigma_mm <= 0.0:
        return line
    pad = int(np.ceil(5.0 * sigma_mm / step_mm)) + 1
    ext = np.pad(line, pad, mode="edge")
    k = 2.0 * np.pi * np.fft.rfftfreq(ext.size, d=step_mm)
    out = np.fft.irfft(np.fft.rfft(ext) * np.exp(-0.5 * (k * sigma_mm) ** 2), n=ext.size)
    return np.asarray(out[pad:-pad])


def _extra_at(fb: FieldBasis, sigma_mm: float) -> list[FloatArray]:
    ladder = np.asarray(EXTRA_SIGMAS_MM)
    s = float(np.clip(sigma_mm, ladder[0], ladder[-1]))
    i = int(np.clip(np.searchsorted(ladder, s) - 1, 0, ladder.size - 2))
    t = (s - ladder[i]) / (ladder[i + 1] - ladder[i])
    lo, hi = fb.extra[float(ladder[i])], fb.extra[float(ladder[i + 1])]
    return [a * (1.0 - t) + b * t for a, b in zip(lo, hi, strict=True)]


def predict(fb: FieldBasis, p: Parameters, sad_mm: float = 1000.0) -> list[FloatArray]:
    """The engine's bin values for parameters ``p`` from the basis doses (see module notes).

    Parameters
    ----------
    fb : FieldBasis
    p : Parameters
    sad_mm : float
        Source-axis distance (the surface is at the isocentre).

    Returns
    -------
    list of numpy.ndarray
        ``[pdd, profile_1, ...]``, as :func:`engine_bins` gives them.
    """
    extra = _extra_at(fb, p.extra_focal_sigma_mm)
    bins = (fb.field.pdd, *fb.field.profiles)
    out = []
    for n, b in enumerate(bins):
        focal = fb.open[n] + p.radial_ramp_per_cm * fb.ramp[n]
        if b.kind == "profile":
            mag = (sad_mm + b.depth_mm) / sad_mm
            focal = to_bins(_blur(focal, p.focal_sigma_mm * mag), fb.owner[n - 1], b.dose.size)
        f_e = p.extra_focal_fraction
        value = (1.0 - f_e) * focal + f_e * extra[n]
        out.append((1.0 - p.jaw_transmission) * value + p.jaw_transmission * fb.uniform[n])
    return out
