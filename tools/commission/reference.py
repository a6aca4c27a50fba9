"""Reference beam data for commissioning: depth doses, profiles and output factors in water.

A reference set is what a clinic measures in a water tank, here in one JSON file
(``benchmarks/dose/commissioning/reference_<machine>.json``): for each square field at
SSD 100 cm, the central-axis depth dose and lateral profiles at a few depths, as doses
averaged over scoring bins (mm, the phantom's LPS frame: surface at ``y = 0``, depth
``+y``, profiles along ``x``), with their 1-sigma uncertainty, all in one unit (dose per
unit open-field energy fluence on the axis at the isocentre plane), so that ratios
between fields are output factors.

:func:`from_monte_carlo` builds the set from the Geant4 reference of
``benchmarks/dose/mc`` (``results/water_<field>.json``, written by its
``run_reference.py``): rtplan's 6X spectrum, a point source 100 cm from the isocentre on
the water surface and perfectly absorbing jaws. Measured data of a clinic would go into
the same format (its uncertainties being those of the measurement).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Bins", "FieldData", "ReferenceSet", "from_monte_carlo"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Bins:
    """Scored values on an axis-aligned mesh whose only long axis is ``x`` or ``y``.

    Attributes
    ----------
    kind : str
        ``"pdd"`` (bins along depth ``y``) or ``"profile"`` (bins along ``x``).
    x_edges_mm, y_edges_mm, z_edges_mm : numpy.ndarray
        Bin edges (mm); the short axes have two edges.
    dose, sigma : numpy.ndarray, shape (n,)
        Mean dose over each bin and its 1-sigma uncertainty, along the long axis.
    """

    kind: str
    x_edges_mm: FloatArray
    y_edges_mm: FloatArray
    z_edges_mm: FloatArray
    dose: FloatArray
    sigma: FloatArray

    @property
    def edges(self) -> FloatArray:
        """Edges along the long axis."""
        return self.y_edges_mm if self.kind == "pdd" else self.x_edges_mm

    @property
    def centres(self) -> FloatArray:
        """Bin centres along the long axis, mm."""
        e = self.edges
        return np.asarray(0.5 * (e[1:] + e[:-1]))

    @property
    def depth_mm(self) -> float:
        """Depth of a profile (centre of its depth bin), mm."""
        return float(0.5 * (self.y_edges_mm[0] + self.y_edges_mm[-1]))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "x_edges_mm": self.x_edges_mm.tolist(),
            "y_edges_mm": self.y_edges_mm.tolist(),
            "z_edges_mm": self.z_edges_mm.tolist(),
            "dose": self.dose.tolist(),
            "sigma": self.sigma.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Bins:
        arr = {k: np.asarray(d[k], dtype=np.float64) for k in d if k != "kind"}
        return cls(kind=str(d["kind"]), **arr)


@dataclass(frozen=True)
class FieldData:
    """The measurements of one square field.

    Attributes
    ----------
    name : str
        E.g. ``"10x10"``.
    field_mm : float
        Side of the square field at the isocentre (on the surface: SSD = SAD), mm.
    width_mm : float
        Lateral size of the water phantom, mm (the Monte Carlo's).
    pdd : Bins
        Central-axis depth dose.
    profiles : tuple of Bins
        Lateral profiles at increasing depths.
    """

    name: str
    field_mm: float
    width_mm: float
    pdd: Bins
    profiles: tuple[Bins, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "field_mm": self.field_mm,
            "width_mm": self.width_mm,
            "pdd": self.pdd.to_json(),
            "profiles": [p.to_json() for p in self.profiles],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FieldData:
        return cls(
            name=str(d["name"]),
            field_mm=float(d["field_mm"]),
            width_mm=float(d["width_mm"]),
            pdd=Bins.from_json(d["pdd"]),
            profiles=tuple(Bins.from_json(p) for p in d["profiles"]),
        )


@dataclass(frozen=True)
class ReferenceSet:
    """Reference data of one machine: fields, their source and the beam they describe.

    Attributes
    ----------
    machine : str
        Machine whose spectrum the reference beam has (``"6X"``).
    source : str
        Where the data come from (free text, with the citation).
    unit : str
        Unit of every dose.
    fields : tuple of FieldData
        By increasing field size.
    meta : dict
        Anything else worth keeping (photons, uncertainty targets, versions).
    """

    machine: str
    source: str
    unit: str
    fields: tuple[FieldData, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> FieldData:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no field {name!r} in the reference set; it has {self.names}")

    @property
    def names(self) -> list[str]:
        """Field names, by increasing size."""
        return [f.name for f in self.fields]

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "source": self.source,
            "unit": self.unit,
            "meta": self.meta,
            "fields": [f.to_json() for f in self.fields],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ReferenceSet:
        return cls(
            machine=str(d["machine"]),
            source=str(d["source"]),
            unit=str(d["unit"]),
            fields=tuple(FieldData.from_json(f) for f in d["fields"]),
            meta=dict(d.get("meta", {})),
        )

    def write(self, path: Path) -> None:
        """Write the set as JSON (numbers rounded to 6 significant digits)."""
        text = json.dumps(_round(self.to_json()), indent=1)
        path.write_text(text + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> ReferenceSet:
        """Read a set written by :meth:`write`."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return float(f"{obj:.6g}")
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    return obj


def _mesh(mesh: dict[str, Any], kind: str) -> Bins:
    dose = np.asarray(mesh["dose"], dtype=np.float64)
    sigma = np.asarray(mesh["sigma"], dtype=np.float64)
    axis = (0, 2) if kind == "pdd" else (1, 2)
    return Bins(
        kind=kind,
        x_edges_mm=np.asarray(mesh["x_edges_mm"], dtype=np.float64),
        y_edges_mm=np.asarray(mesh["y_edges_mm"], dtype=np.float64),
        z_edges_mm=np.asarray(mesh["z_edges_mm"], dtype=np.float64),
        dose=dose.squeeze(axis=axis),
        sigma=sigma.squeeze(axis=axis),
    )


def _join_pdd(buildup: Bins, deep: Bins) -> Bins:
    """The 1 mm build-up bins followed by the deeper bins, as one depth dose."""
    return Bins(
        kind="pdd",
        x_edges_mm=buildup.x_edges_mm,
        y_edges_mm=np.concatenate([buildup.y_edges_mm[:-1], deep.y_edges_mm]),
        z_edges_mm=buildup.z_edges_mm,
        dose=np.concatenate([buildup.dose, deep.dose]),
        sigma=np.concatenate([buildup.sigma, deep.sigma]),
    )


def from_monte_carlo(
    results: Path | Sequence[Path], names: list[str] | None = None
) -> ReferenceSet:
    """The reference set of the Geant4 water cases in results folders.

    Parameters
    ----------
    results : pathlib.Path or sequence of pathlib.Path
        Folders such as ``benchmarks/dose/mc/results``: ``water_<a>x<a>.json`` files with
        the meshes ``pdd_buildup``, ``pdd`` and ``profile_<depth>``; a case found in an
        earlier folder is taken from there.
    names : list of str, optional
        Field names to take (e.g. ``["3x3", "10x10"]``); every water case by default.

    Returns
    -------
    ReferenceSet

    Raises
    ------
    FileNotFoundError
        If a named case has no result.
    """
    folders = [results] if isinstance(results, Path) else list(results)
    cases: dict[str, Path] = {}
    for folder in folders:
        for p in sorted(folder.glob("water_*x*.json")):
            name = p.stem.removeprefix("water_")
            if "_" in name:  # other source models (e.g. water_10x10_machine)
                continue
            cases.setdefault(name, p)
    wanted = names if names is not None else list(cases)
    missing = [n for n in wanted if n not in cases]
    if missing:
        raise FileNotFoundError(
            f"no Monte Carlo result for {missing} in {[str(f) for f in folders]}; run "
            "benchmarks/dose/mc/run_reference.py --case " + ",".join(f"water_{n}" for n in missing)
        )
    fields = []
    meta: dict[str, Any] = {}
    for name in wanted:
        raw = json.loads(cases[name].read_text(encoding="utf-8"))
        if raw["source"]["model"] != "point":
            raise ValueError(f"{cases[name]}: source model {raw['source']['model']!r}, not point")
        m = raw["meshes"]
        profiles = sorted(
            (_mesh(v, "profile") for k, v in m.items() if k.startswith("profile_")),
            key=lambda b: b.depth_mm,
        )
        fields.append(
            FieldData(
                name=name,
                field_mm=float(raw["case"]["field_mm"]),
                width_mm=float(raw["case"]["width_mm"]),
                pdd=_join_pdd(_mesh(m["pdd_buildup"], "pdd"), _mesh(m["pdd"], "pdd")),
                profiles=tuple(profiles),
            )
        )
        meta[name] = {
            "photons": raw["photons"],
            "uncertainty_percent": raw["uncertainty_percent"],
            "geant4": raw["geant4"],
            "finished": raw["finished"],
        }
        unit = str(raw["unit"])
    fields.sort(key=lambda f: f.field_mm)
    return ReferenceSet(
        machine="6X",
        source=(
            "Geant4 11.4 Monte Carlo through geant4_pybind (rtplan-geant4, "
            "benchmarks/dose/mc/run_reference.py): rtplan's 6X spectrum after its "
            "filtration, a point source at 100 cm, perfectly absorbing jaws, SSD 100 cm, "
            "dose to water averaged over each bin, 1-sigma from independent batches"
        ),
        unit=unit,
        fields=tuple(fields),
        meta=meta,
    )
