"""The Monte Carlo kernel generator and the calibration writer (``tools/kernels``).

The repository's tools are not installed: the fixtures import them from the source tree.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import rtplan.dose.machines
from rtplan.dose import _physics as ph
from rtplan.dose._calibration import kernel_digest
from rtplan.dose.machines import load_machine

REPOSITORY = Path(__file__).resolve().parents[2]


def _tool(name: str) -> ModuleType:
    """Import ``tools.<name>`` from the repository root."""
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    return importlib.import_module(f"tools.{name}")


@pytest.fixture(scope="module")
def make_kernels() -> ModuleType:
    """``tools.kernels.make_kernels``: the Monte Carlo kernel generator."""
    return _tool("kernels.make_kernels")


@pytest.fixture(scope="module")
def montecarlo() -> ModuleType:
    """``tools.kernels._montecarlo``: the transport behind the generator."""
    return _tool("kernels._montecarlo")


@pytest.fixture(scope="module")
def calibrate_tool() -> ModuleType:
    """``tools.kernels.calibrate``: the writer of the machines' calibration files."""
    return _tool("kernels.calibrate")


@pytest.fixture(scope="module")
def small_point_run(make_kernels, montecarlo):  # type: ignore[no-untyped-def]
    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        r, th, tr = make_kernels.point_kernel_grid()
        return montecarlo.run_point_kernel(
            energy_lo_mev=np.array([1.25]),
            energy_hi_mev=np.array([1.25]),
            weights=np.array([1.0]),
            r_edges_cm=r,
            theta_edges_deg=th,
            track_edges_mev=tr,
            histories=3200,
            seed=seed,
        )

    return run


def test_monte_carlo_is_reproducible_and_seeded(small_point_run):
    a, ta = small_point_run(7)
    b, tb = small_point_run(7)
    c, _ = small_point_run(8)
    assert np.array_equal(a, b)
    assert np.array_equal(ta, tb)
    assert not np.array_equal(a, c)


def test_monte_carlo_energy_balance_at_cobalt_energy(small_point_run, make_kernels):
    k, _ = small_point_run(11)
    r, _, _ = make_kernels.point_kernel_grid()
    # energy is conserved: what is not tallied escaped beyond 60 cm (scattered photons)
    total = k.sum()
    assert 0.9 < total <= 1.0 + 1e-12
    # the primary (Compton electron) energy is imparted close to the interaction: within
    # 5 mm lies about mu_tr/mu = 0.47 of the energy at 1.25 MeV (Hubbell & Seltzer)
    within = k[r[1:] <= 0.5].sum()
    assert within == pytest.approx(ph.mu_en_rho_water(1.25) / ph.mu_rho_water(1.25), abs=0.05)


def test_generator_writes_identical_files_twice(tmp_path, make_kernels):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    fa = make_kernels.generate("6X", a, point_histories=640, pencil_histories=640)
    fb = make_kernels.generate("6X", b, point_histories=640, pencil_histories=640)
    assert [f.name for f in fa] == ["6X_point_kernel.txt", "6X_pencil_kernel.txt"]
    for x, y in zip(fa, fb, strict=True):
        assert x.read_bytes() == y.read_bytes()


def test_shipped_kernels_come_from_the_current_generator_and_calibration(make_kernels):
    m = load_machine("6X")
    raw = json.loads((m.directory / "6X.json").read_text(encoding="utf-8"))
    generator = f"generator tools.kernels.make_kernels version {make_kernels.GENERATOR_VERSION}"
    for name in (m.point_kernel_file, m.pencil_kernel_file):
        text = (m.directory / name).read_text(encoding="ascii")
        assert generator in text
        seed = raw["kernels"]["seed"]
        assert f"seed {seed}," in text or f"seed {seed + 1000}," in text
    cal = m.calibration()
    assert cal["kernels_sha256"] == kernel_digest(m)
    digest = hashlib.sha256((m.directory / m.point_kernel_file).read_bytes()).hexdigest()
    assert cal["kernels_sha256"][m.point_kernel_file] == digest


def test_the_installed_package_holds_no_generator():
    machines = Path(rtplan.dose.machines.__file__).parent
    sources = sorted(p.name for p in machines.glob("*.py"))
    assert sources == ["__init__.py", "_model.py", "_tables.py"]
    dose = machines.parent
    assert not list(dose.rglob("*montecarlo*.py"))
    assert not list(dose.rglob("make_kernels.py"))


def test_calibration_tool_writes_what_the_runtime_reads(calibrate_tool, monkeypatch):
    """The tool's content for the shipped kernels equals the shipped file (same digest)."""
    m = load_machine("6X")
    shipped = m.calibration()
    calls = []

    def fake(engine, machine):  # the reference field itself is tested in tests/dose
        calls.append(engine)
        return shipped["engines"][engine]

    monkeypatch.setattr(calibrate_tool, "calibrate_engine", fake)
    data = calibrate_tool.calibration("6X", ["collapsed-cone", "pencil-beam"])
    assert calls == ["collapsed-cone", "pencil-beam"]
    assert data == {k: shipped[k] for k in data}


def test_geant4_kernel_spectrum_hardens_with_depth() -> None:
    """The photons of the Geant4 kernel at depth: TERMA shares attenuated by exp(-mu d)."""
    tool = _tool("kernels.geant4_point_kernel")
    lo, hi, surface = tool._spectrum("6X")
    _, _, deep = tool._spectrum("6X", depth_cm=20.0)
    assert surface.sum() == pytest.approx(1.0)
    assert deep.sum() == pytest.approx(1.0)
    mid = 0.5 * (lo + hi)
    mu = ph.mu_rho_water_without_coherent(mid)
    expected = surface * np.exp(-mu * 20.0)
    np.testing.assert_allclose(deep, expected / expected.sum(), rtol=1e-12)
    # the mean energy released rises with depth (beam hardening), by a few percent at 20 cm
    e0, e20 = float(np.sum(surface * mid)), float(np.sum(deep * mid))
    assert 1.02 < e20 / e0 < 1.3
