"""``python -m tools.commission``: fit a machine's source model to reference beam data."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtplan.dose import load_machine
from rtplan.dose.machines._model import MACHINE_DIR
from tools.commission.fit import (
    BOUNDS,
    FitResult,
    depth_slope,
    filtration_equivalent,
    fit,
    reference_value,
    summarise,
)
from tools.commission.model import FieldBasis, Parameters, basis, engine_bins
from tools.commission.reference import ReferenceSet, from_monte_carlo

__all__ = ["main"]

log = logging.getLogger("tools.commission")

REPOSITORY = Path(__file__).resolve().parents[2]
OUT = REPOSITORY / "benchmarks" / "dose" / "commissioning"
REFERENCE_FIELD = "10x10"
PARAMETER_DOC = {
    "focal_sigma_mm": "focal source, Gaussian sigma at the isocentre plane (mm)",
    "extra_focal_fraction": "extra-focal (head-scatter) share of the open-field fluence",
    "extra_focal_sigma_mm": "extra-focal source, Gaussian sigma at the isocentre plane (mm)",
    "radial_ramp_per_cm": "flattening-filter ramp: relative fluence rise per cm off axis",
    "jaw_transmission": "jaw transmission",
}


def _bases(
    ref: ReferenceSet,
    names: list[str],
    engine: str,
    machine: str,
    cache: Path | None,
    grid_mm: float,
) -> list[FieldBasis]:
    base = load_machine(machine)
    out = []
    for name in names:
        path = cache / f"basis2_{engine}_{machine}_{name}_{grid_mm:g}.pickle" if cache else None
        if path is not None and path.is_file():
            out.append(pickle.loads(path.read_bytes()))  # our own cache file
            continue
        fb = basis(ref[name], engine, base, grid_mm=grid_mm)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(fb))
        out.append(fb)
    return out


def _validate(
    ref: ReferenceSet, engine: str, machine: str, p: Parameters, grid_mm: float
) -> dict[str, dict[str, Any]]:
    """Full engine runs with the parameters on every reference field, summarised."""
    m = p.machine(load_machine(machine))
    bins = {f.name: engine_bins(f, engine, m, grid_mm=grid_mm) for f in ref.fields}
    ref_bins = ref[REFERENCE_FIELD].pdd
    i = int(np.argmin(np.abs(ref_bins.centres - 100.0)))
    eng_scale = float(bins[REFERENCE_FIELD][0][i])
    scale = reference_value(ref[REFERENCE_FIELD])
    out = {}
    for f in ref.fields:
        out[f.name] = summarise(
            f, bins[f.name], scale, eng_scale, is_reference=f.name == REFERENCE_FIELD
        )
        slope, sigma = depth_slope(f, bins[f.name][0])
        out[f.name]["depth_slope_per_cm"] = {"value": slope, "sigma": sigma}
    return out


def _spectrum_check(fields: dict[str, dict[str, Any]], machine: str) -> dict[str, float]:
    """The fields' depth slopes combined, and the filtration change they would ask for."""
    s = np.array([f["depth_slope_per_cm"]["value"] for f in fields.values()])
    e = np.array([f["depth_slope_per_cm"]["sigma"] for f in fields.values()])
    w = 1.0 / e**2
    mean = float(np.sum(w * s) / np.sum(w))
    sigma = float(max(1.0 / np.sqrt(np.sum(w)), np.std(s) / np.sqrt(s.size)))
    m = load_machine(machine)
    return {
        "slope_per_cm": mean,
        "slope_sigma_per_cm": sigma,
        "filtration_change_cm": filtration_equivalent(m, mean),
        "filtration_change_sigma_cm": abs(filtration_equivalent(m, sigma)),
    }


def _fmt(v: float, sig: float) -> str:
    if math.isnan(sig):
        return f"{v:.4g} (not determined)"
    return f"{v:.4g} ± {sig:.2g}"


def markdown(result: dict[str, Any]) -> str:
    """The fit's tables (parameters; depth doses; profiles; output factors)."""
    lines = [
        f"### {result['machine']} with {result['engine']}, {result['grid_mm']:g} mm grid",
        "",
        f"Fitted on {', '.join(result['fit_fields'])}; validated on "
        f"{', '.join(result['validation_fields'])}. Reduced chi-square of the fit "
        f"{result['chi2_per_dof']:.2f} over {result['n_values']} values.",
        "",
        "| parameter | fitted | machine file | reference beam |",
        "|---|---|---|---|",
    ]
    for name, doc in PARAMETER_DOC.items():
        v = result["parameters"][name]
        s = result["sigma"][name]
        bound = " (at bound)" if name in result["at_bound"] else ""
        lines.append(
            f"| {doc} | {_fmt(v, s)}{bound} | {result['machine_parameters'][name]:g} | "
            f"{result['reference_beam'][name]:g} |"
        )
    sc = result["spectrum_check"]
    lines += [
        "",
        f"Spectrum check: the engine-over-reference depth-dose ratio changes by "
        f"{100 * sc['slope_per_cm']:+.3f} ± {100 * sc['slope_sigma_per_cm']:.3f} % per cm "
        f"over 5-25 cm (all fields), which a filtration change of "
        f"{sc['filtration_change_cm']:+.2f} ± {sc['filtration_change_sigma_cm']:.2f} cm of "
        "water would undo.",
        "",
    ]
    for key, title in (("fields", "fitted parameters"), ("machine_fields", "machine file")):
        if key in result:
            lines += [
                f"#### Residuals with the {title} (full engine runs on every field)",
                "",
                *_residual_tables(result[key]),
            ]
    return "\n".join(lines) + "\n"


def _residual_tables(fields: dict[str, Any]) -> list[str]:
    """Depth-dose, profile and output-factor tables of validated fields."""
    lines = ["Depth doses (engine − reference, points of the maximum; reference ± 1σ):", ""]
    head = (
        "| field | set | "
        + " | ".join(f"{r['depth_mm']:g} mm" for r in next(iter(fields.values()))["pdd"])
        + " | max local (2 cm means) | rms local (σ) | 1.25 mm |"
    )
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for name, f in fields.items():
        cells = [f"{r['ref']:.1f}±{r['sigma_pt']:.1f}: {r['diff_pt']:+.1f}" for r in f["pdd"]]
        lines.append(
            f"| {name} | {f['set']} | " + " | ".join(cells)
            + f" | {f['pdd_max_local_percent']:+.1f} % | {f['pdd_rms_local_percent']:.1f} % "
            f"({f['pdd_rms_sigma_percent']:.1f} %) | {f['surface_ref']:.1f} → "
            f"{f['surface_eng']:.1f} % |"
        )  # fmt: skip
    lines += [
        "",
        "Profiles (in field: up to 5 mm or 20 % of the half width inside the edge, "
        "% of the central dose, mean and rms of the 2 mm bins against the reference's rms "
        "σ; penumbra 80-20 %; out of field: 2-4 cm outside the edge, % of the central dose):",
        "",
        "| field | depth | in field: mean, rms (σ) | penumbra ref ± σ → diff "
        "| out of field ref ± σ → diff |",
        "|---|---|---|---|---|",
    ]
    for name, f in fields.items():
        for p in f["profiles"]:
            lines.append(
                f"| {name} | {p['depth_mm']:.0f} mm | {p['in_field_mean_diff_percent']:+.1f} %, "
                f"{p['in_field_rms_diff_percent']:.1f} % ({p['in_field_sigma_percent']:.1f} %) "
                f"| {p['penumbra_ref_mm']:.1f} ± {p['penumbra_sigma_mm']:.1f} mm → "
                f"{p['penumbra_diff_mm']:+.1f} mm | {p['out_of_field_ref_percent']:.2f} ± "
                f"{p['out_of_field_sigma_pt']:.2f} % → {p['out_of_field_diff_pt']:+.2f} pt |"
            )  # fmt: skip
    lines += [
        "",
        "Output factors (central axis at 10 cm, per unit open-field fluence, relative to 10 x 10):",
        "",
        "| field | set | reference ± σ | engine − reference |",
        "|---|---|---|---|",
    ]
    for name, f in fields.items():
        o = f["output_factor"]
        lines.append(
            f"| {name} | {f['set']} | {o['ref']:.4f} ± {o['sigma']:.4f} | "
            f"{o['diff_percent']:+.2f} % |"
        )
    return [*lines, ""]


def _write_machine(
    machine: str, result: FitResult, summary_file: str, engine: str, *, parameters: bool = True
) -> Path:
    """Record the run in the machine file (``"source_fit"``), and its fitted values.

    With ``parameters`` False only the record is written: the machine file keeps its
    source parameters, which the run validated on every field (``machine_fields``).
    """
    path = MACHINE_DIR / f"{machine.upper()}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    if parameters:
        p = result.parameters
        src = raw.setdefault("source_model", {})
        src["focal_sigma_mm"] = round(p.focal_sigma_mm, 3)
        src["extra_focal_fraction"] = round(p.extra_focal_fraction, 4)
        src["extra_focal_sigma_mm"] = round(p.extra_focal_sigma_mm, 1)
        src["radial_ramp_per_cm"] = round(p.radial_ramp_per_cm, 5)
        raw.setdefault("transmission", {})["jaw"] = round(p.jaw_transmission, 5)
    raw["source_fit"] = {
        "engine": engine,
        "residuals": summary_file,
        "chi2_per_dof": round(result.chi2_per_dof, 3),
        "parameters_written": parameters,
        "date": time.strftime("%Y-%m-%d"),
    }
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return path


def _update_readme(path: Path, key: str, text: str) -> None:
    """Replace the README's block between ``<!-- key:start -->`` and ``<!-- key:end -->``."""
    if not path.is_file():
        return
    readme = path.read_text(encoding="utf-8")
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    if start not in readme or end not in readme:
        return
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}{end}{tail}", encoding="utf-8")
    log.info("updated %s (%s)", path, key)


def _shown(path: Path) -> str:
    """A path relative to the repository when it lies inside it."""
    try:
        return str(path.resolve().relative_to(REPOSITORY))
    except ValueError:
        return str(path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.commission", description=__doc__)
    p.add_argument("machine", help="machine to commission (its base gives spectrum, kernels)")
    p.add_argument("--engine", default="pencil-beam")
    p.add_argument("--reference", type=Path, default=OUT / "reference_6X.json")
    p.add_argument(
        "--from-mc",
        type=Path,
        nargs="+",
        help="rebuild the reference set from these Monte Carlo results folders",
    )
    p.add_argument("--fit", default="5x5,10x10,20x20", help="fields fitted")
    p.add_argument("--validate", default="3x3,30x30", help="fields only validated")
    p.add_argument("--grid-mm", type=float, default=2.5, help="dose grid spacing (mm)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--cache", type=Path, help="folder keeping the basis doses between runs")
    p.add_argument("--write-machine", action="store_true", help="write the fitted parameters")
    p.add_argument(
        "--record",
        action="store_true",
        help="record the run in the machine file as its commissioning, keeping its parameters",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the package notes).

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        0 on success.
    """
    args = _parser().parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.from_mc is not None:
        ref = from_monte_carlo(args.from_mc)
        args.reference.parent.mkdir(parents=True, exist_ok=True)
        ref.write(args.reference)
        log.info("wrote %s (%s)", args.reference, ", ".join(ref.names))
    ref = ReferenceSet.read(args.reference)
    fit_fields = [n for n in args.fit.split(",") if n in ref.names]
    val_fields = [n for n in args.validate.split(",") if n in ref.names]
    if REFERENCE_FIELD not in fit_fields:
        raise SystemExit(f"the fit needs the {REFERENCE_FIELD} field (the reference point)")
    machine = load_machine(args.machine)
    t0 = time.time()
    bases = _bases(ref, fit_fields, args.engine, machine.name, args.cache, args.grid_mm)
    ref_point = (REFERENCE_FIELD, reference_value(ref[REFERENCE_FIELD])[0])
    result = fit(bases, Parameters.of(machine), ref_point)
    log.info("fit: %s (chi2/dof %.2f)", result.parameters, result.chi2_per_dof)
    stored = Parameters.of(machine)
    runs = {"fields": result.parameters}
    if not args.write_machine and stored != result.parameters:
        runs["machine_fields"] = stored
    validated = {}
    for key, params in runs.items():
        fields = _validate(ref, args.engine, machine.name, params, args.grid_mm)
        for name, f in fields.items():
            f["set"] = "fit" if name in fit_fields else "validation"
        validated[key] = {n: fields[n] for n in ref.names if n in fields}
    out = {
        "machine": machine.name,
        "engine": args.engine,
        "grid_mm": args.grid_mm,
        "reference": {"file": _shown(args.reference), "source": ref.source},
        "fit_fields": fit_fields,
        "validation_fields": val_fields,
        "parameters": dataclasses.asdict(result.parameters),
        "sigma": result.sigma,
        "at_bound": list(result.at_bound),
        "bounds": BOUNDS,
        "machine_parameters": dataclasses.asdict(
            result.parameters if args.write_machine else stored
        ),
        "reference_beam": dataclasses.asdict(Parameters(extra_focal_sigma_mm=0.0)),
        "chi2_per_dof": result.chi2_per_dof,
        "n_values": result.n_values,
        "spectrum_check": _spectrum_check(validated["fields"], machine.name),
        **validated,
        "seconds": time.time() - t0,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    grid = "" if args.grid_mm == 2.5 else f"_{args.grid_mm:g}mm"
    stem = args.out / f"fit_{machine.name}_{args.engine}{grid}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(markdown(out), encoding="utf-8")
    _update_readme(args.out / "README.md", stem.name, markdown(out))
    print(markdown(out))
    if args.write_machine:
        path = _write_machine(machine.name, result, stem.with_suffix(".json").name, args.engine)
        print(f"wrote {path}; now run: python -m tools.kernels.calibrate {machine.name}")
    elif args.record:
        path = _write_machine(
            machine.name, result, stem.with_suffix(".json").name, args.engine, parameters=False
        )
        print(f"recorded the commissioning in {path} (its parameters unchanged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
