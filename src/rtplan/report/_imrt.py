"""The IMRT sections of a review report: fluence maps, segments and MU per beam, goals.

* :func:`add_segments_section`: any plan with step-and-shoot beams (as read from an RT
  Plan, e.g. the one ``rtplan optimize`` writes): per beam the fluence its segments
  deliver (:func:`segment_fluence`, drawn by :func:`segment_fluence_figure`), the
  segment count and MU;
* :func:`add_imrt_section`: what an inverse plan (:func:`rtplan.planning.inverse_plan`)
  adds to a forward one: per beam, the optimal fluence map beside the one its segments
  deliver (:func:`fluence_figure`), the segment count and MU; the clinical goals on the
  optimiser's dose and on the delivered dose; the gamma of one against the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from rtplan.plan import Beam, Plan
    from rtplan.planning import InversePlan
    from rtplan.planning._influence import BeamBixels
    from rtplan.planning._sequencing import SequencedBeam
    from rtplan.report._html import HtmlReport

__all__ = [
    "SegmentFluence",
    "add_imrt_section",
    "add_segments_section",
    "fluence_figure",
    "segment_fluence",
    "segment_fluence_figure",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SegmentFluence:
    """The fluence a step-and-shoot beam's segments deliver, MU per fraction.

    Parameters
    ----------
    beam : Beam
        The beam (its jaws, MLC and segments).
    mu : numpy.ndarray, shape (n_rows, n_cols), float64
        Sum over the segments of the segment's MU (beam MU x weight) times the open
        fraction of each cell: row ``r`` is a leaf pair within the Y jaws, column ``c`` a
        strip along ``X_b`` within the X jaws. Leaf and jaw transmission, the leaves'
        rounded ends and the source size are left out: this is the delivered intensity
        pattern, not the energy fluence of the dose engines.
    x_edges_mm : numpy.ndarray, shape (n_cols + 1,)
        Column edges along ``X_b``, mm at the isocentre plane.
    y_edges_mm : numpy.ndarray, shape (n_rows + 1,)
        Row edges along ``Y_b`` (the leaf boundaries, clipped to the Y jaws), mm.
    segment_mu : tuple of float
        Each segment's MU per fraction.
    """

    beam: Beam
    mu: FloatArray
    x_edges_mm: FloatArray
    y_edges_mm: FloatArray
    segment_mu: tuple[float, ...]


def segment_fluence(beam: Beam, *, spacing_mm: float = 1.0) -> SegmentFluence:
    """The MU-weighted sum of a step-and-shoot beam's segment apertures.

    Each segment opens, in each leaf pair, the interval between bank A and bank B,
    intersected with the X jaws; every cell receives the segment's MU times the
    fraction of its width that is open. A beam without segments counts as one segment
    of its MLC shape (or of its jaws, without an MLC).

    Parameters
    ----------
    beam : Beam
        Jaws ``(X1, X2, Y1, Y2)`` and MLC at the isocentre plane, mm; ``mu`` per fraction
        (0 when unknown).
    spacing_mm : float
        Column width along ``X_b``, mm (> 0); the last column ends at X2.

    Returns
    -------
    SegmentFluence

    Raises
    ------
    ValueError
        If ``spacing_mm`` is not positive.
    PlanError
        If no leaf pair of the MLC lies within the Y jaws.

    Examples
    --------
    Two segments of a 100 MU beam: the whole 20 x 20 mm field (60 %), then its central
    10 mm band of leaf pairs (40 %): 100 MU in the band, 60 MU outside it.

    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.plan import Mlc, Segment
    >>> from rtplan.report import segment_fluence
    >>> mlc = Mlc.uniform(4, 5.0)  # pairs at -10..-5, -5..0, 0..5, 5..10 mm
    >>> wide = np.array([[-10.0] * 4, [10.0] * 4])
    >>> band = np.array([[0.0, -5.0, -5.0, 0.0], [0.0, 5.0, 5.0, 0.0]])
    >>> beam = rtplan.Beam(jaws_mm=(-10.0, 10.0, -10.0, 10.0), mu=100.0, mlc=mlc,
    ...                    segments=(Segment(positions_mm=wide, weight=0.6),
    ...                              Segment(positions_mm=band, weight=0.4)))
    >>> f = segment_fluence(beam, spacing_mm=5.0)
    >>> f.mu.round(1)
    array([[ 60.,  60.,  60.,  60.],
           [ 60., 100., 100.,  60.],
           [ 60., 100., 100.,  60.],
           [ 60.,  60.,  60.,  60.]])
    >>> f.segment_mu
    (60.0, 40.0)
    """
    from rtplan.errors import PlanError

    if not (np.isfinite(spacing_mm) and spacing_mm > 0):
        raise ValueError(f"spacing_mm must be a positive number of mm, got {spacing_mm!r}")
    x1, x2, y1, y2 = (float(v) for v in beam.jaws_mm)  # open: Beam checks them
    mu = float(beam.mu or 0.0)
    n_cols = max(1, int(np.ceil((x2 - x1) / spacing_mm - 1e-9)))
    x_edges = np.minimum(x1 + spacing_mm * np.arange(n_cols + 1), x2)
    mlc = beam.mlc
    if mlc is None:
        y_edges = np.array([y1, y2])
        shapes = [(np.array([[x1], [x2]]), 1.0)]
        pairs = np.array([0])
    else:
        bounds = np.asarray(mlc.leaf_boundaries_mm, dtype=np.float64)
        pairs = np.flatnonzero((bounds[1:] > y1) & (bounds[:-1] < y2))
        if pairs.size == 0:
            raise PlanError(
                f"beam {beam.name!r}: no leaf pair lies within the Y jaws ({y1:g}, {y2:g}) mm; "
                "check the MLC's leaf boundaries"
            )
        y_edges = np.clip(np.append(bounds[pairs], bounds[pairs[-1] + 1]), y1, y2)
        shapes = [(np.asarray(s.positions_mm), float(s.weight)) for s in beam.segments] or [
            (np.asarray(mlc.positions_mm), 1.0)
        ]
    lo, hi = x_edges[:-1][np.newaxis, :], x_edges[1:][np.newaxis, :]
    width = hi - lo
    total = np.zeros((len(pairs), n_cols))
    for positions, weight in shapes:
        a = np.clip(positions[0, pairs], x1, x2)[:, np.newaxis]
        b = np.clip(positions[1, pairs], x1, x2)[:, np.newaxis]
        open_width = np.clip(np.minimum(b, hi) - np.maximum(a, lo), 0.0, None)
        total += mu * weight * open_width / width
    return SegmentFluence(
        beam=beam,
        mu=total,
        x_edges_mm=np.asarray(x_edges, dtype=np.float64),
        y_edges_mm=np.asarray(y_edges, dtype=np.float64),
        segment_mu=tuple(mu * w for _, w in shapes),
    )


def segment_fluence_figure(fluence: SegmentFluence) -> Any:
    """Draw a :class:`SegmentFluence`: MU per fraction over the beam's eye view.

    Parameters
    ----------
    fluence : SegmentFluence
        From :func:`segment_fluence`.

    Returns
    -------
    matplotlib.figure.Figure
        ``X_b`` across and ``Y_b`` up, mm at the isocentre plane, as seen from the source
        (as :func:`rtplan.report.beams_eye_view`); the jaws in yellow; a colour bar of MU
        per fraction.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.report import segment_fluence, segment_fluence_figure
    >>> fig = segment_fluence_figure(segment_fluence(rtplan.Beam(name="AP", mu=50.0)))
    >>> fig.axes[0].get_title()
    'AP: gantry 0°, 1 segment, 50.0 MU per fraction'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    beam = fluence.beam
    fig, ax = plt.subplots(figsize=(5.6, 4.4), layout="constrained")
    vmax = max(float(fluence.mu.max()), 1e-9)
    mesh = ax.pcolormesh(
        fluence.x_edges_mm, fluence.y_edges_mm, fluence.mu, cmap="viridis", vmin=0.0, vmax=vmax
    )
    x1, x2, y1, y2 = beam.jaws_mm
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="yellow", lw=1.4))
    pad = 0.05 * max(x2 - x1, y2 - y1)
    ax.set_xlim(x1 - pad, x2 + pad)
    ax.set_ylim(y1 - pad, y2 + pad)
    ax.set_facecolor("black")
    ax.set_aspect("equal")
    ax.set_xlabel("X_b (mm at isocentre)", fontsize=8)
    ax.set_ylabel("Y_b (mm at isocentre)", fontsize=8)
    ax.tick_params(labelsize=7)
    n = len(fluence.segment_mu)
    ax.set_title(
        f"{beam.name or beam.number}: gantry {beam.gantry_deg:g}°, {n} segment"
        f"{'s' if n != 1 else ''}, {float(beam.mu or 0.0):.1f} MU per fraction",
        fontsize=9,
    )
    bar = fig.colorbar(mesh, ax=ax, shrink=0.85)
    bar.set_label("MU per fraction", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


def _segment_rows(plan: Plan) -> list[list[str]]:
    """Per beam: name, gantry, MU per fraction and in all, segments, least/largest MU."""
    rows = []
    for beam in plan.beams:
        weights = np.array([s.weight for s in beam.segments], dtype=np.float64)
        seg_mu = (beam.mu or 0.0) * weights
        rows.append([
            beam.name or str(beam.number), f"{beam.gantry_deg:.1f}",
            f"{beam.mu or 0.0:.1f}", f"{(beam.mu or 0.0) * plan.fractions:.1f}",
            str(len(beam.segments)),
            f"{seg_mu.min():.1f}" if seg_mu.size else "-",
            f"{seg_mu.max():.1f}" if seg_mu.size else "-",
        ])  # fmt: skip
    return rows


_SEGMENT_HEAD = [
    "beam", "gantry (°)", "MU / fraction", "MU total", "segments", "least segment MU",
    "largest segment MU",
]  # fmt: skip


def add_segments_section(report: HtmlReport, plan: Plan, *, spacing_mm: float = 1.0) -> None:
    """Add a plan's step-and-shoot beams: segments and MU, and the fluence they deliver.

    Nothing is added when no beam has segments.

    Parameters
    ----------
    report : HtmlReport
        The report to add to (a heading, a table, one figure per step-and-shoot beam).
    plan : Plan
        The plan, e.g. read from the RT Plan that ``rtplan optimize`` writes.
    spacing_mm : float
        Column width of the fluence maps, mm.

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.plan import Mlc, Segment
    >>> from rtplan.report import HtmlReport, add_segments_section
    >>> mlc = Mlc.uniform(4, 5.0)
    >>> open_ = Segment(positions_mm=np.array([[-10.0] * 4, [10.0] * 4]), weight=1.0)
    >>> beam = rtplan.Beam(name="AP", jaws_mm=(-10.0, 10.0, -10.0, 10.0), mu=80.0, mlc=mlc,
    ...                    segments=(open_,))
    >>> report = HtmlReport(title="IMRT")
    >>> add_segments_section(report, rtplan.Plan(beams=[beam], fractions=2))
    >>> html = report.render()
    >>> "Step-and-shoot beams" in html, html.count("data:image/png")
    (True, 1)
    """
    segmented = [b for b in plan.beams if b.segments]
    if not segmented:
        return
    n_segments = sum(len(b.segments) for b in segmented)
    report.heading("Step-and-shoot beams (IMRT)")
    report.paragraph(
        f"{len(segmented)} of {len(plan.beams)} beam(s) deliver {n_segments} MLC segments; "
        f"{plan.total_mu:.1f} MU per fraction, {plan.total_mu * plan.fractions:.1f} MU in "
        f"{plan.fractions} fraction(s). A segment's MU is the beam's MU times its weight "
        "(the meterset between its control points). Fluence: the sum over the segments of "
        "their MU times their open aperture (leaves and jaws), per leaf pair and "
        f"{spacing_mm:g} mm column at the isocentre plane, seen from the source; leaf "
        "transmission, leaf ends and source size are left out."
    )
    report.table(_SEGMENT_HEAD, _segment_rows(plan))
    from rtplan.errors import PlanError

    for beam in segmented:
        try:
            fluence = segment_fluence(beam, spacing_mm=spacing_mm)
        except PlanError as exc:
            report.warnings([f"no fluence map: {exc}"])
            continue
        report.figure(
            segment_fluence_figure(fluence),
            f"{beam.name or beam.number}: fluence of its {len(beam.segments)} segments, MU "
            "per fraction (yellow: the jaws)",
        )


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
