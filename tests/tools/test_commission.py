"""The commissioning tool (``tools/commission``) and the commissioned machine it wrote.

The tool is not installed: it is imported from the source tree. Its fit rests on the
linearity of every engine's dose in the relative fluence, tested here against full engine
runs; the fit itself must recover known parameters from data made with them; and the
stored result (``benchmarks/dose/commissioning``) must match the machine file and the
stored reference data.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from rtplan.dose import load_machine

REPOSITORY = Path(__file__).resolve().parents[2]
RESULTS = REPOSITORY / "benchmarks" / "dose" / "commissioning"


def _tool(name: str) -> ModuleType:
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    return importlib.import_module(f"tools.commission.{name}")


@pytest.fixture(scope="module")
def ref() -> ModuleType:
    return _tool("reference")


@pytest.fixture(scope="module")
def model() -> ModuleType:
    return _tool("model")


@pytest.fixture(scope="module")
def fitting() -> ModuleType:
    return _tool("fit")


def _mesh(x: np.ndarray, y: np.ndarray, z: np.ndarray, n: int, kind: str) -> dict:
    rng = np.random.default_rng(7)
    shape = {"pdd": (1, n, 1), "profile": (n, 1, 1)}[kind]
    dose = rng.uniform(0.5, 1.0, shape)
    return {"x_edges_mm": x.tolist(), "y_edges_mm": y.tolist(), "z_edges_mm": z.tolist(),
            "dose": dose.tolist(), "sigma": (0.01 * dose).tolist()}  # fmt: skip


@pytest.fixture(scope="module")
def small_field(ref: ModuleType) -> object:
    """A 4 x 4 cm² field on a 12 cm wide tank: depth dose and one profile at 5 cm."""
    b = ref.Bins
    c = np.array([-6.0, 6.0])
    pdd = b(kind="pdd", x_edges_mm=c, y_edges_mm=np.arange(0.0, 151.0, 5.0), z_edges_mm=c,
            dose=np.zeros(30), sigma=np.zeros(30))  # fmt: skip
    prof = b(kind="profile", x_edges_mm=np.arange(-50.0, 51.0, 2.0),
             y_edges_mm=np.array([47.5, 52.5]), z_edges_mm=np.array([-12.0, 12.0]),
             dose=np.zeros(50), sigma=np.zeros(50))  # fmt: skip
    return ref.FieldData(name="4x4", field_mm=40.0, width_mm=120.0, pdd=pdd, profiles=(prof,))


@pytest.fixture(scope="module")
def basis(model: ModuleType, small_field: object) -> object:
    return model.basis(small_field, "pencil-beam", load_machine("6X-MC"), grid_mm=2.5)


def test_reference_set_from_monte_carlo_results_round_trips(ref, tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    cax = np.array([-5.0, 5.0])
    for name, field in (("water_3x3", 30.0), ("water_10x10", 100.0), ("water_10x10_machine", 1)):
        meshes = {
            "pdd_buildup": _mesh(cax, np.arange(0.0, 31.0, 1.0), cax, 30, "pdd"),
            "pdd": _mesh(cax, np.arange(30.0, 301.0, 5.0), cax, 54, "pdd"),
            "profile_100": _mesh(
                np.arange(-60.0, 61.0, 2.0), np.array([97.5, 102.5]), cax, 60, "profile"
            ),
        }
        raw = {"case": {"field_mm": field, "width_mm": 200.0}, "meshes": meshes,
               "source": {"model": "point"}, "unit": "MeV/g per MeV/cm2", "photons": 10,
               "uncertainty_percent": 1.0, "geant4": {}, "finished": "now"}  # fmt: skip
        (res / f"{name}.json").write_text(json.dumps(raw))
    s = ref.from_monte_carlo(res)
    assert s.names == ["3x3", "10x10"]  # by size; other source models left out
    f = s["10x10"]
    assert f.pdd.dose.size == 84
    assert (f.pdd.edges[0], f.pdd.edges[-1]) == (0.0, 300.0)
    assert (f.profiles[0].depth_mm, f.profiles[0].dose.size) == (100.0, 60)
    s.write(tmp_path / "ref.json")
    back = ref.ReferenceSet.read(tmp_path / "ref.json")
    np.testing.assert_allclose(back["3x3"].pdd.dose, s["3x3"].pdd.dose, rtol=1e-5)
    with pytest.raises(KeyError, match="no field '5x5'"):
        back["5x5"]
    with pytest.raises(FileNotFoundError, match=r"run_reference\.py --case water_5x5"):
        ref.from_monte_carlo(res, ["5x5"])


def test_basis_model_matches_full_engine_runs(model, small_field, basis):
    # the clinical source model (finite focal spot, head scatter, horns, transmission)
    # predicted from the basis doses against the engine run with it
    clinical = load_machine("6X")
    p = model.Parameters.of(clinical)
    predicted = model.predict(basis, p)
    full = model.engine_bins(small_field, "pencil-beam", p.machine(load_machine("6X-MC")))
    ref = full[0][np.argmin(np.abs(small_field.pdd.centres - 100.0))]
    for bins, a, b in zip((small_field.pdd, *small_field.profiles), predicted, full, strict=True):
        # 0.4 % of the reference dose, or 0.3 mm in the penumbra (the engine blurs its
        # fluence before its 2.5 mm voxels, the model blurs the interpolated profile)
        tol = 0.004 + 0.3 * np.abs(np.gradient(b / ref, bins.centres))
        assert np.all(np.abs(a - b) / ref <= tol)


def test_fit_recovers_known_parameters(model, fitting, small_field, basis):
    truth = model.Parameters(focal_sigma_mm=1.5, extra_focal_fraction=0.06,
                             extra_focal_sigma_mm=30.0, radial_ramp_per_cm=0.01,
                             jaw_transmission=0.004)  # fmt: skip
    values = model.predict(basis, truth)
    bins = (small_field.pdd, *small_field.profiles)
    synthetic = dataclasses.replace(
        small_field,
        pdd=dataclasses.replace(small_field.pdd, dose=values[0], sigma=0.003 * values[0]),
        profiles=tuple(
            dataclasses.replace(b, dose=v, sigma=0.003 * v)
            for b, v in zip(bins[1:], values[1:], strict=True)
        ),
    )
    fb = dataclasses.replace(basis, field=synthetic)
    i = np.argmin(np.abs(synthetic.pdd.centres - 100.0))
    result = fitting.fit([fb], model.Parameters(), (synthetic.name, float(values[0][i])))
    got = dataclasses.asdict(result.parameters)
    for name, value in dataclasses.asdict(truth).items():
        assert got[name] == pytest.approx(value, rel=0.05, abs=2e-4), name
    assert result.chi2_per_dof < 1e-3


def test_stored_fit_matches_the_machine_file_and_reference():
    machine = load_machine("6X-MC")
    raw = json.loads((machine.directory / "6X-MC.json").read_text(encoding="utf-8"))
    record = raw["source_fit"]
    fit = json.loads((RESULTS / record["residuals"]).read_text(encoding="utf-8"))
    assert (fit["machine"], fit["engine"]) == ("6X-MC", record["engine"])
    assert set(fit["fit_fields"]) >= {"5x5", "10x10", "20x20"}
    assert set(fit["validation_fields"]) >= {"3x3", "30x30"}
    stored = fit["machine_parameters"]
    for name, value in stored.items():
        assert getattr(machine, name) == pytest.approx(value, abs=1e-6), name
    # the machine file's values were validated on every field of the stored reference
    reference = json.loads((RESULTS / "reference_6X.json").read_text(encoding="utf-8"))
    names = [f["name"] for f in reference["fields"]]
    runs = fit.get("machine_fields", fit["fields"])
    assert list(runs) == names
    for f in runs.values():
        o = f["output_factor"]
        assert abs(o["diff_percent"]) < 2.0 + 200.0 * o["sigma"] / o["ref"], f["field"]
        # depth doses beyond the build-up within 2 points of the maximum
        assert all(abs(r["diff_pt"]) < 2.0 for r in f["pdd"] if r["depth_mm"] > 10.0), f["field"]
