"""Beam models ("machines"): spectrum, source model, transmissions, kernels, calibration.

A machine is described by ``<name>.json`` in this folder (hand-written, every number with
its source), the kernel tables produced from it by Monte Carlo, and
``<name>_calibration.json`` (dose per MU of each engine, see :mod:`rtplan.dose._calibration`); the
tables and the calibration are written by the repository's ``tools/kernels``.

A machine file may name a ``"base"`` machine: it then holds only what differs from it
(sections are merged key by key), e.g. another source model on the same spectrum and
kernels. ``"kernels"`` of such a file usually names its own calibration file only.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan.dose._physics import mu_rho_water_without_coherent
from rtplan.errors import DoseEngineError

__all__ = ["BeamModel", "available_machines", "load_machine"]

MACHINE_DIR = Path(__file__).resolve().parent

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BeamModel:
    """A photon beam model.

    Parameters
    ----------
    name : str
        Machine / energy name as plans use it (``Beam.energy``), e.g. ``"6X"``.
    description : str
        Free text.
    sad_mm : float
        Nominal source-axis distance, mm.
    energy_mev : numpy.ndarray, shape (n,)
        Mid-energies of the spectrum bins, MeV.
    energy_fluence_share : numpy.ndarray, shape (n,)
        Fraction of the primary energy fluence carried by each bin (sums to 1), after the
        commissioning filtration of the machine file.
    spectrum_source : str
        Citation of the spectrum.
    focal_sigma_mm : float
        Standard deviation of the focal source, projected to the isocentre plane, mm.
    extra_focal_fraction : float
        Share of the open-field energy fluence coming from the extra-focal (head-scatter)
        source.
    extra_focal_sigma_mm : float
        Width of the extra-focal source projected to the isocentre plane, mm.
    radial_ramp_per_cm : float
        Relative rise of the primary fluence per cm off axis at the isocentre plane.
    radial_ramp_max_cm : float
        Off-axis distance beyond which the ramp stays constant.
    jaw_transmission : float
        Fraction of the open fluence transmitted through the jaws.
    mlc_transmission : float
        Default MLC transmission (a beam's :class:`~rtplan.Mlc` may override it).
    directory : pathlib.Path
        Folder of the data files.
    point_kernel_file, pencil_kernel_file, calibration_file : str
        Data file names in ``directory``.
    """

    name: str
    description: str
    sad_mm: float
    energy_mev: FloatArray
    energy_fluence_share: FloatArray
    spectrum_source: str
    focal_sigma_mm: float
    extra_focal_fraction: float
    extra_focal_sigma_mm: float
    radial_ramp_per_cm: float
    radial_ramp_max_cm: float
    jaw_transmission: float
    mlc_transmission: float
    directory: Path
    point_kernel_file: str
    pencil_kernel_file: str
    calibration_file: str

    @property
    def mean_energy_mev(self) -> float:
        """Mean photon energy of the spectrum (photon-number weighted), MeV."""
        number = self.energy_fluence_share / self.energy_mev
        return float(np.sum(number * self.energy_mev) / np.sum(number))

    def calibration(self) -> dict[str, Any]:
        """The engines' calibration (see :mod:`rtplan.dose._calibration`).

        Returns
        -------
        dict
            ``{"engines": {engine: {"gy_per_mu_per_fluence": float, ...}}, ...}``; empty
            ``engines`` when the machine has not been calibrated yet.
        """
        path = self.directory / self.calibration_file
        if not path.is_file():
            return {"engines": {}}
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``over``, sections (dicts) merged key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _raw(path: Path, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A machine file's content with its base machines merged in."""
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    base = raw.pop("base", None)
    if base is None:
        return raw
    key = str(base).strip().upper()
    if key in seen:
        raise ValueError(f"base machines form a loop: {' -> '.join((*seen, key))}")
    base_path = path.parent / f"{key}.json"
    if not base_path.is_file():
        raise ValueError(f"its base machine {base!r} has no file {base_path.name}")
    return _merge(_raw(base_path, (*seen, key)), raw)


def _build(name: str, path: Path) -> BeamModel:
    try:
        raw = _raw(path, (name,))
        spec = raw["spectrum"]
        mid = np.asarray(spec["energy_mev"], dtype=np.float64)
        phi = np.asarray(spec["fluence_per_mev"], dtype=np.float64)
        src = raw["source_model"]
        kern = raw["kernels"]
        filt = float(raw.get("commissioning", {}).get("extra_filtration_water_cm", 0.0))
        phi = phi * np.exp(-mu_rho_water_without_coherent(mid) * filt)
        share = phi * float(spec["bin_width_mev"]) * mid
        return BeamModel(
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            sad_mm=float(raw["sad_mm"]),
            energy_mev=mid,
            energy_fluence_share=share / share.sum(),
            spectrum_source=str(spec["source"]),
            focal_sigma_mm=float(src["focal_sigma_mm"]),
            extra_focal_fraction=float(src["extra_focal_fraction"]),
            extra_focal_sigma_mm=float(src["extra_focal_sigma_mm"]),
            radial_ramp_per_cm=float(src["radial_ramp_per_cm"]),
            radial_ramp_max_cm=float(src.get("radial_ramp_max_cm", 1e9)),
            jaw_transmission=float(raw["transmission"]["jaw"]),
            mlc_transmission=float(raw["transmission"]["mlc"]),
            directory=path.parent,
            point_kernel_file=str(kern["point_file"]),
            pencil_kernel_file=str(kern["pencil_file"]),
            calibration_file=str(kern["calibration_file"]),
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise DoseEngineError(f"machine file {path} is unreadable or incomplete: {exc}") from exc


def available_machines() -> tuple[str, ...]:
    """Names of the machines shipped with rtplan.

    Returns
    -------
    tuple of str
    """
    return tuple(sorted(p.stem for p in MACHINE_DIR.glob("*.json") if "_" not in p.stem))


@functools.lru_cache(maxsize=16)
def load_machine(name: str) -> BeamModel:
    """Load a beam model by name.

    Parameters
    ----------
    name : str
        E.g. ``"6X"`` (case-insensitive); a plan's ``Beam.energy``.

    Returns
    -------
    BeamModel

    Raises
    ------
    DoseEngineError
        If no machine of that name exists.

    Examples
    --------
    >>> from rtplan.dose.machines import load_machine
    >>> load_machine("6X").sad_mm
    1000.0
    """
    key = str(name).strip().upper()
    path = MACHINE_DIR / f"{key}.json"
    if not path.is_file():
        raise DoseEngineError(
            f"no beam model for energy {name!r}; available: {', '.join(available_machines())}"
        )
    return _build(key, path)
