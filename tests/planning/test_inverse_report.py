"""Inverse planning's review: gamma of the delivered dose against the optimiser's, report."""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import re
from typing import Any

import numpy as np
import pytest
from _cshape import c_shape, write_study

import rtplan.planning
from rtplan.cli import optimize as optimize_cli
from rtplan.cli.main import main
from rtplan.evaluate import gamma
from rtplan.image import Dose
from rtplan.planning import InversePlan
from rtplan.report import HtmlReport, add_imrt_section, fluence_figure

GOALS = ["PTV D95 >= 50 Gy", "PTV D10 <= 60 Gy", "Core D10 <= 35 Gy"]
OPTIONS = ["--prescription-gy", "50", "--fractions", "25", "--engine", "pencil-beam",
           "--grid-mm", "5", "--levels", "3", "--iterations", "40"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``rtplan optimize --json`` on the C-shape, with the InversePlan it made."""
    folder = tmp_path_factory.mktemp("cshape_report")
    study = write_study(folder / "study", c_shape(width_mm=120.0, length_mm=20.0, gap_mm=10.0))
    out = folder / "out"
    made: list[InversePlan] = []
    original = rtplan.planning.inverse_plan

    def recording(*args: Any, **kwargs: Any) -> InversePlan:
        result = original(*args, **kwargs)
        made.append(result)
        return result

    goals = itertools.chain.from_iterable(("--goal", g) for g in GOALS)
    argv = ["optimize", str(study), *goals, *OPTIONS, "--json", "-o", str(out)]
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buffer):
        mp.setattr(rtplan.planning, "inverse_plan", recording)
        status = main(argv)
    assert len(made) == 1
    return {"status": status, "doc": json.loads(buffer.getvalue()), "out": out, "plan": made[0]}


def _optimized_dose(result: InversePlan) -> Dose:
    inf = result.influence
    arr = np.zeros(inf.setup.grid.shape)
    arr.ravel()[inf.voxels] = inf.dose(result.fluence.weights) * result.plan.fractions
    return Dose(array=arr, grid=inf.setup.grid, fractions=result.plan.fractions)


def test_gamma_of_the_delivered_against_the_optimised_dose(run: dict[str, Any]) -> None:
    result: InversePlan = run["plan"]
    g33, g22 = result.gamma
    assert (g33.dose_percent, g33.distance_mm, g22.dose_percent, g22.distance_mm) == (3, 3, 2, 2)
    assert not g33.local
    assert g33.threshold_percent == g22.threshold_percent == 10.0
    optimized = _optimized_dose(result)
    # global of the optimiser's maximum; evaluated: its voxels at or above 10 % of it
    assert g33.normalization_gy == pytest.approx(float(optimized.array.max()))
    above = int(np.count_nonzero(optimized.array >= 0.1 * optimized.array.max()))
    assert g33.n_evaluated == g22.n_evaluated == pytest.approx(above, abs=2)
    assert g33.pass_rate >= 93.0  # 95.7 % on this phantom
    assert g22.pass_rate <= g33.pass_rate
    # the optimised dose against itself passes everywhere: the reference is consistent
    same = gamma(optimized, optimized, 2.0, 2.0, 10.0)
    assert same.pass_rate == 100.0
    # the JSON gives the same figures
    doc = run["doc"]["gamma"]
    assert [(d["dose_percent"], d["distance_mm"]) for d in doc] == [(3.0, 3.0), (2.0, 2.0)]
    assert doc[0]["pass_rate"] == pytest.approx(g33.pass_rate)
    assert doc[1]["n_evaluated"] == g22.n_evaluated
    assert run["doc"]["timings_s"]["gamma"] > 0


def test_summary_prints_the_gamma(run: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    optimize_cli._print_summary(run["plan"])
    text = capsys.readouterr().out
    lines = [ln for ln in text.splitlines() if ln.startswith("delivered against optimised dose")]
    assert len(lines) == 2
    assert "gamma 3 %/3 mm (global, threshold 10 %" in lines[0]
    assert "gamma 2 %/2 mm" in lines[1]


def test_report_has_fluence_maps_segments_mu_and_goals(run: dict[str, Any]) -> None:
    result: InversePlan = run["plan"]
    path = run["out"] / "report.html"
    assert str(path) in run["doc"]["files"]
    text = path.read_text(encoding="utf-8")
    # one figure per sequenced beam, each a PNG
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == len(result.sequenced) == len(result.plan.beams)
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    for beam in result.plan.beams:
        row = f"<td>{beam.name}</td><td>{beam.gantry_deg:g}</td><td>{beam.mu:.1f}</td>"
        assert f"{row}<td>{len(beam.segments)}</td>" in text
    for goal, row in zip(GOALS, run["doc"]["goals"]["goals"], strict=True):
        assert goal.replace(">", "&gt;").replace("<", "&lt;") in text
        assert row["result"] == "PASS"
    assert text.count('<td class="pass">PASS</td>') == len(GOALS)
    assert "3 %/3 mm" in text
    assert "2 %/2 mm" in text


def test_fluence_figure_shows_the_optimal_and_the_sequenced_map(run: dict[str, Any]) -> None:
    import matplotlib.image
    import matplotlib.pyplot as plt

    result: InversePlan = run["plan"]
    seq = result.sequenced[0]
    bix = next(b for b in result.influence.bixels if b.beam.number == seq.beam.number)
    fig = fluence_figure(seq, bix)
    meshes = [ax.collections[0] for ax in fig.axes[:2]]  # the third axes is the colour bar
    np.testing.assert_allclose(np.asarray(meshes[0].get_array()).ravel(), seq.target.ravel())
    np.testing.assert_allclose(np.asarray(meshes[1].get_array()).ravel(), seq.delivered.ravel())
    assert meshes[0].get_clim() == meshes[1].get_clim()
    # the map spans the bixels at the isocentre plane: columns of bixel width
    x0, x1 = fig.axes[0].get_xlim()
    assert x1 - x0 == pytest.approx(seq.target.shape[1] * bix.size_mm)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    rgb = matplotlib.image.imread(buf)
    assert rgb.shape[0] > 100
    assert rgb.shape[1] > 200
    assert len(np.unique(rgb.reshape(-1, rgb.shape[-1]), axis=0)) > 20
    shapes = {b.fluence_map(np.zeros(b.n))[0].shape: b for b in result.influence.bixels}
    other = next(b for shape, b in shapes.items() if shape != seq.target.shape)
    with pytest.raises(ValueError, match="not that of its bixels"):
        fluence_figure(seq, other)


def test_section_in_a_report_of_its_own(run: dict[str, Any]) -> None:
    report = HtmlReport(title="IMRT")
    add_imrt_section(report, run["plan"])
    html = report.render()
    assert "<h2>IMRT plan</h2>" in html
    assert "<h2>Fluence maps</h2>" in html
    assert f"{run['plan'].n_segments} segments" in html
