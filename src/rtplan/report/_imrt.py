"""The IMRT section of a review report: fluence maps, segments and MU per beam, goals.

:func:`add_imrt_section` adds to an :class:`~rtplan.report.HtmlReport` what an inverse
plan (:func:`rtplan.planning.inverse_plan`) adds to a forward one: per beam, the optimal
fluence map beside the one its step-and-shoot segments deliver
(:func:`fluence_figure`), the segment count and MU; the clinical goals on the
optimiser's dose and on the delivered dose; the gamma of one against the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rtplan.planning import InversePlan
    from rtplan.planning._influence import BeamBixels
    from rtplan.planning._sequencing import SequencedBeam
    from rtplan.report._html import HtmlReport

__all__ = ["add_imrt_section", "fluence_figure"]


def _edges_mm(bixels: BeamBixels, shape: tuple[int, int]) -> tuple[Any, Any]:
    """Column edges along ``X_b`` and leaf-pair edges along ``Y_b`` of a map, mm."""
    _, pairs, first_col = bixels.fluence_map(np.zeros(bixels.n))
    if (len(pairs), int(bixels.cols.max()) - first_col + 1) != shape:
        raise ValueError(
            f"beam {bixels.beam.name!r}: the fluence map's shape {shape} is not that of its "
            "bixels; pass the bixels the map was sequenced from"
        )
    x = (first_col + np.arange(shape[1] + 1)) * bixels.size_mm
    assert bixels.beam.mlc is not None
    bounds = np.asarray(bixels.beam.mlc.leaf_boundaries_mm, dtype=np.float64)
    y = bounds[int(pairs[0]) : int(pairs[-1]) + 2]
    return x, y


def fluence_figure(sequenced: SequencedBeam, bixels: BeamBixels) -> Any:
    """One beam's optimal fluence map beside the map its segments deliver.

    Parameters
    ----------
    sequenced : rtplan.planning.SequencedBeam
        The beam as sequenced (``target``: the optimal map, ``delivered``: the segments'
        sum, MU per fraction, shape (n_rows, n_cols) over leaf pairs and bixel columns).
    bixels : rtplan.planning.BeamBixels
        The bixels the map was optimised on (their columns and leaf pairs place the map
        at the isocentre plane, mm).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels on one colour scale (MU per fraction), in beam's-eye-view
        coordinates at the isocentre plane (``X_b`` across, ``Y_b`` up), mm.

    Raises
    ------
    ValueError
        When the map's shape is not that of the bixels'.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    optimal = np.asarray(sequenced.target, dtype=np.float64)
    delivered = np.asarray(sequenced.delivered, dtype=np.float64)
    x, y = _edges_mm(bixels, optimal.shape)
    vmax = max(float(optimal.max()), float(delivered.max()), 1e-9)
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.9), sharey=True, layout="constrained")
    mesh: Any = None
    titles = ("optimal", f"sequenced: {sequenced.n_segments} segments")
    for ax, values, title in zip(axes, (optimal, delivered), titles, strict=True):
        mesh = ax.pcolormesh(x, y, values, cmap="viridis", vmin=0.0, vmax=vmax)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("X (mm, isocentre plane)", fontsize=8)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("Y (mm)", fontsize=8)
    bar = fig.colorbar(mesh, ax=list(axes), shrink=0.7)
    bar.set_label("MU per fraction", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    beam = sequenced.beam
    fig.suptitle(f"{beam.name}: gantry {beam.gantry_deg:g} deg", fontsize=10)
    return fig


def add_imrt_section(report: HtmlReport, inverse: InversePlan) -> None:
    """Add an inverse plan's fluence maps, segments, MU, goals and gamma to a report.

    Parameters
    ----------
    report : HtmlReport
        The report to add to (headings, tables and one figure per beam).
    inverse : rtplan.planning.InversePlan
        The result of :func:`rtplan.planning.inverse_plan`.

    Examples
    --------
    ``result`` from :func:`rtplan.planning.inverse_plan` (seconds to minutes: not run here):

    >>> from rtplan.report import HtmlReport, add_imrt_section
    >>> report = HtmlReport(title="IMRT plan", subtitle="C-shape")
    >>> add_imrt_section(report, result)  # doctest: +SKIP
    >>> report.save("report.html")  # doctest: +SKIP
    """
    plan = inverse.plan
    fx = plan.fractions
    rx_gy = plan.prescription_gy if plan.prescription_gy is not None else float("nan")
    report.heading("IMRT plan")
    report.paragraph(
        f"{len(plan.beams)} step-and-shoot beams, {inverse.n_segments} segments, "
        f"{plan.total_mu:.1f} MU per fraction ({fx} fractions of "
        f"{rx_gy / fx:.3g} Gy). Fluence optimisation: "
        f"{inverse.fluence.iterations} iterations; segment-MU refinement: "
        f"{inverse.refinement.iterations} iterations."
    )
    by_number = {seq.beam.number: seq for seq in inverse.sequenced}
    rows = []
    for beam in plan.beams:
        seq = by_number.get(beam.number)
        weights = np.array([s.weight for s in beam.segments], dtype=np.float64)
        seg_mu = (beam.mu or 0.0) * weights
        rows.append([
            beam.name, f"{beam.gantry_deg:g}", f"{beam.mu or 0.0:.1f}", str(len(beam.segments)),
            f"{seg_mu.min():.1f}" if seg_mu.size else "-",
            f"{seg_mu.max():.1f}" if seg_mu.size else "-",
            f"{seq.delta_mu:.2f}" if seq is not None else "-",
        ])  # fmt: skip
    report.table(
        ["beam", "gantry (deg)", "MU", "segments", "least segment MU", "largest segment MU",
         "intensity step (MU)"],
        rows,
    )  # fmt: skip

    report.heading("Clinical goals: optimised and delivered")
    goal_rows = [
        [c.goal, f"{c.optimized:.2f}", f"{c.delivered:.2f}", f"{c.difference_percent:+.2f}",
         r.status]
        for c, r in zip(inverse.comparison, inverse.goals, strict=True)
    ]  # fmt: skip
    report.table(
        ["goal", "optimised", "delivered", "difference (%)", "result"],
        goal_rows,
        status_column=4,
    )
    if inverse.gamma:
        report.paragraph(
            "Gamma of the delivered dose (sequenced segments, final engine) against the "
            "optimiser's dose of the optimal fluence, global, at the optimiser's voxels:"
        )
        report.table(
            ["criteria", "threshold (%)", "points", "pass rate (%)", "mean gamma"],
            [
                [f"{g.dose_percent:g} %/{g.distance_mm:g} mm", f"{g.threshold_percent:g}",
                 str(g.n_evaluated), f"{g.pass_rate:.2f}", f"{g.mean_gamma:.3f}"]
                for g in inverse.gamma
            ],
        )  # fmt: skip

    report.heading("Fluence maps")
    bixels = {bix.beam.number: bix for bix in inverse.influence.bixels}
    for seq in inverse.sequenced:
        bix = bixels[seq.beam.number]
        report.figure(
            fluence_figure(seq, bix),
            caption=f"{seq.beam.name}: optimal fluence (left) and the fluence its "
            f"{seq.n_segments} segments deliver (right), MU per fraction",
        )
