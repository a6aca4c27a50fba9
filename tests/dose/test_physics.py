"""Physical data, the kernel table format and the kernels prepared for the engines.

The Monte Carlo generator of the tables is tested in ``tests/tools``.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtplan.dose import _physics as ph
from rtplan.dose._deposition import cone_kernel, pencil_kernel
from rtplan.dose.machines import load_machine
from rtplan.dose.machines._tables import read_tables, write_tables
from rtplan.errors import DoseEngineError


def test_nist_water_values_and_interpolation():
    # Hubbell & Seltzer, water: 1.25 MeV mu/rho = 0.06323, mu_en/rho = 0.02965 cm2/g
    assert ph.mu_rho_water(1.25) == pytest.approx(0.06323)
    assert ph.mu_en_rho_water(1.25) == pytest.approx(0.02965)
    # log-log interpolation between 1 and 1.25 MeV stays between the nodes
    assert ph.mu_rho_water(1.1) < ph.mu_rho_water(1.0)
    assert ph.mu_rho_water(1.1) > ph.mu_rho_water(1.25)


@pytest.mark.parametrize("energy", [0.5, 1.0])
def test_klein_nishina_matches_xcom_incoherent(energy):
    # XCOM incoherent scattering of water: 0.09663 (0.5 MeV), 0.07066 (1 MeV) cm2/g;
    # binding effects are below 0.5 % at these energies
    xcom = {0.5: 9.663e-2, 1.0: 7.066e-2}[energy]
    kn = ph.klein_nishina_per_electron_cm2(energy) * ph.WATER_ELECTRONS_PER_GRAM
    assert kn == pytest.approx(xcom, rel=0.005)


def test_partials_add_up_to_total_above_pair_threshold():
    e = np.array([2.0, 6.0, 10.0])
    inc, pe = ph.photon_partials_water(e)
    pair = ph.mu_rho_water_without_coherent(e) - inc - pe
    # pair production in water rises with energy and is a few % of mu at 6-10 MeV
    assert np.all(np.diff(pair) > 0)
    assert 0.05 < pair[1] / ph.mu_rho_water(6.0) < 0.2


def test_table_format_round_trip_and_errors(tmp_path):
    p = tmp_path / "t.txt"
    write_tables(p, ["header"], {"a": [1.0, 2.5], "b": np.eye(2)})
    t = read_tables(p)
    np.testing.assert_array_equal(t["a"], [[1.0, 2.5]])
    np.testing.assert_array_equal(t["b"], np.eye(2))
    p.write_text("1 2 3\n", encoding="ascii")
    with pytest.raises(DoseEngineError, match="before the first"):
        read_tables(p)
    with pytest.raises(DoseEngineError, match="make_kernels"):
        read_tables(tmp_path / "missing.txt")


def test_cone_kernel_fit_and_energy_shares():
    ck = cone_kernel(load_machine("6X"))
    assert ck.zenith_edges_deg.size - 1 == 12
    assert ck.fit_error < 0.005  # of all released energy, anywhere within 55 cm
    # nearly all released energy is imparted within 60 cm; most of it forward
    assert 0.93 < ck.fraction.sum() <= 1.0
    forward = ck.fraction[ck.zenith_axis_deg < 90].sum()
    assert forward > 0.7
    dirs, amp, _rate = ck.directions(8)
    assert dirs.shape == (96, 3)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)
    np.testing.assert_allclose(amp.sum(axis=1).sum(), ck.amplitude.sum(), rtol=1e-12)


def test_pencil_kernel_decomposition_reproduces_the_table():
    m = load_machine("6X")
    pk = pencil_kernel(m, 6)
    t = read_tables(m.directory / m.pencil_kernel_file)
    dz = np.diff(t["z_edges_cm"][0])
    cum = np.concatenate([np.zeros((dz.size, 1)), np.cumsum(t["kernel"], axis=1)], axis=1)
    cum /= dz[:, np.newaxis]
    approx = pk.weights @ pk.profiles
    assert np.max(np.abs(approx - cum)) < 0.005 * cum.max()
    # pixel kernels conserve the energy within the grid
    pix = pk.pixel_kernels(0.25, 80)
    depth = 10.0
    w = pk.weights_at(np.array([depth]))[0]
    inside = float((w[:, None, None] * pix).sum())
    ref = float(np.interp(depth, pk.depth_cm, cum[:, np.searchsorted(pk.rho_cm, 20.0)]))
    assert inside == pytest.approx(ref, rel=0.02)
