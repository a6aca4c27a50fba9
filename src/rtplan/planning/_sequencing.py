"""Leaf sequencing: an optimal fluence map into step-and-shoot MLC segments.

The map (MU per bixel, rows = leaf pairs, columns = bixels along ``X_b``) is quantised to
whole multiples of a level ``delta`` (``levels`` levels up to its maximum, fewer when a
level would fall below ``min_mu``, so that every segment delivers at least ``min_mu``).
Each row's integer profile ``I`` is then decomposed by the unidirectional sweep of
Bortfeld et al. (Int. J. Radiat. Oncol. Biol. Phys. 28 (1994) 723-730) as step-and-shoot
uses it: list the columns where the profile rises, each as many times as it rises
(``L``), and those where it falls (``R``); the ``k``-th unit of the row opens
``[L_k, R_k)``, so ``sum_k 1[L_k <= c < R_k] = I_c`` exactly and the row's number of
units, ``sum max(0, I_c - I_{c-1})``, is the fewest any decomposition of the row can have.
Segment ``k`` of the beam opens unit ``k`` of every row (rows with fewer units closed);
identical segments are merged, their MU added.

Machine constraints: leaf positions lie on the bixel columns (an open pair opens at least
one bixel, wider than ``min_gap_mm``); closed pairs keep ``min_gap_mm`` between their
leaves and are parked under the X1 jaw. Leaves of neighbouring pairs may interdigitate
(as on Varian MLCs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.errors import PlanError
from rtplan.plan import Beam, Segment
from rtplan.planning._influence import BeamBixels

__all__ = ["SequencedBeam", "sequence_beam", "sweep_row"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def sweep_row(profile: npt.ArrayLike) -> list[tuple[int, int]]:
    """Unit openings ``[left, right)`` of one row whose sum is the integer profile.

    Parameters
    ----------
    profile : array_like of int, shape (n,)
        Non-negative integer intensities.

    Returns
    -------
    list of (int, int)
        ``sum_k 1[left_k <= c < right_k] == profile[c]`` for every column ``c``; as many
        openings as the profile's total rise (the fewest possible).

    Examples
    --------
    >>> from rtplan.planning import sweep_row
    >>> sweep_row([1, 3, 2, 0, 1])
    [(0, 2), (1, 3), (1, 3), (4, 5)]
    """
    p = np.asarray(profile, dtype=np.int64)
    if np.any(p < 0):
        raise PlanError("a fluence profile to sequence must be non-negative")
    padded = np.concatenate([[0], p, [0]])
    step = np.diff(padded)  # step[c]: change entering column c (c = n: leaving the row)
    lefts = np.repeat(np.arange(step.size), np.maximum(step, 0))
    rights = np.repeat(np.arange(step.size), np.maximum(-step, 0))
    return [(int(a), int(b)) for a, b in zip(lefts, rights, strict=True)]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SequencedBeam:
    """A beam's fluence map sequenced into segments.

    Attributes
    ----------
    beam : Beam
        The step-and-shoot beam: jaws around the segments, ``mlc`` at their envelope,
        ``segments`` with their shares, ``mu`` their total (per fraction).
    segment_mu : numpy.ndarray, shape (n_segments,)
        MU of each segment.
    openings : numpy.ndarray of bool, shape (n_segments, n_rows, n_cols)
        The bixels each segment opens (the map's rows and columns).
    delivered : numpy.ndarray, shape (n_rows, n_cols)
        The quantised map the segments deliver, MU: ``sum_s segment_mu[s] openings[s]``.
    target : numpy.ndarray, shape (n_rows, n_cols)
        The map that was sequenced, MU.
    delta_mu : float
        The intensity level, MU.
    """

    beam: Beam
    segment_mu: FloatArray
    openings: npt.NDArray[np.bool_]
    delivered: FloatArray
    target: FloatArray
    delta_mu: float

    @property
    def n_segments(self) -> int:
        """Number of segments."""
        return int(self.segment_mu.size)


def _levels(fmax: float, levels: int, min_mu: float) -> tuple[float, int]:
    """The level size and count: ``levels`` levels, fewer if a level is below ``min_mu``."""
    n = levels
    if min_mu > 0:
        n = max(1, min(levels, math.floor(fmax / min_mu)))
    return fmax / n, n


def sequence_beam(
    bixels: BeamBixels,
    weights_mu: npt.ArrayLike,
    *,
    levels: int = 5,
    min_mu: float = 2.0,
    min_gap_mm: float = 0.5,
) -> SequencedBeam | None:
    """Sequence one beam's optimal bixel weights into step-and-shoot segments.

    Parameters
    ----------
    bixels : BeamBixels
        The beam and its bixels.
    weights_mu : array_like, shape (bixels.n,)
        MU per fraction of each bixel.
    levels : int
        Intensity levels up to the map's maximum.
    min_mu : float
        Least MU of a segment (levels are coarsened to keep it).
    min_gap_mm : float
        Least gap between the leaves of a closed pair, mm.

    Returns
    -------
    SequencedBeam or None
        None when the map quantises to nothing (the beam is dropped).

    Raises
    ------
    PlanError
        If ``levels`` is below 1, a weight is negative, or ``min_mu`` or ``min_gap_mm``
        is negative.

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.planning import BeamBixels, sequence_beam
    >>> bix = BeamBixels(beam=rtplan.Beam(mlc=rtplan.Mlc.uniform(4, 5.0)),
    ...                  rows=np.array([1, 1, 1, 2, 2, 2]), cols=np.array([-1, 0, 1, -1, 0, 1]),
    ...                  size_mm=5.0)
    >>> seq = sequence_beam(bix, [10.0, 20.0, 10.0, 20.0, 10.0, 20.0], levels=2, min_mu=2.0)
    >>> seq.n_segments, seq.segment_mu.tolist(), seq.beam.mu
    (3, [10.0, 10.0, 10.0], 30.0)
    >>> bool(np.allclose(seq.delivered, seq.target))
    True
    """
    w = np.asarray(weights_mu, dtype=np.float64)
    if levels < 1:
        raise PlanError(f"levels must be at least 1, got {levels}")
    if min_mu < 0 or min_gap_mm < 0:
        raise PlanError("min_mu and min_gap_mm must be >= 0")
    if w.shape != (bixels.n,) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise PlanError(
            f"weights_mu must be {bixels.n} finite values >= 0 (one per bixel), got shape {w.shape}"
        )
    fmap, pairs, first_col = bixels.fluence_map(w)
    fmax = float(fmap.max())
    if fmax <= 0 or fmax < min_mu:
        return None
    delta, _ = _levels(fmax, levels, min_mu)
    units = np.rint(fmap / delta).astype(np.int64)
    rows = [sweep_row(units[r]) for r in range(units.shape[0])]
    n_seg = max(len(r) for r in rows)
    if n_seg == 0:
        return None
    shapes: dict[bytes, int] = {}
    openings: list[npt.NDArray[np.bool_]] = []
    counts: list[int] = []
    for k in range(n_seg):
        opened = np.zeros(units.shape, dtype=bool)
        for r, row in enumerate(rows):
            if k < len(row):
                opened[r, row[k][0] : row[k][1]] = True
        key = opened.tobytes()
        if key in shapes:
            counts[shapes[key]] += 1
        else:
            shapes[key] = len(openings)
            openings.append(opened)
            counts.append(1)
    seg_mu = np.asarray(counts, dtype=np.float64) * delta
    stack = np.stack(openings)
    beam = _segment_beam(bixels, stack, seg_mu, pairs, first_col, min_gap_mm)
    return SequencedBeam(
        beam=beam,
        segment_mu=seg_mu,
        openings=stack,
        delivered=np.tensordot(seg_mu, stack.astype(np.float64), axes=1),
        target=fmap,
        delta_mu=delta,
    )


def _segment_beam(
    bixels: BeamBixels,
    openings: npt.NDArray[np.bool_],
    seg_mu: FloatArray,
    pairs: IntArray,
    first_col: int,
    min_gap_mm: float,
) -> Beam:
    """The step-and-shoot beam of the openings: leaf positions, jaws, shares and MU."""
    beam = bixels.beam
    assert beam.mlc is not None
    size = bixels.size_mm
    bounds = np.asarray(beam.mlc.leaf_boundaries_mm)
    any_open = np.any(openings, axis=0)
    open_rows = np.flatnonzero(any_open.any(axis=1))
    open_cols = np.flatnonzero(any_open.any(axis=0))
    x1 = (first_col + open_cols[0]) * size
    x2 = (first_col + open_cols[-1] + 1) * size
    y1 = float(bounds[pairs[open_rows[0]]])
    y2 = float(bounds[pairs[open_rows[-1]] + 1])
    park = x1 - min_gap_mm  # closed pairs: the gap centred here, under the X1 jaw
    closed = np.array([park - 0.5 * min_gap_mm, park + 0.5 * min_gap_mm])
    segments = []
    total = float(seg_mu.sum())
    positions_all = []
    for opened, mu in zip(openings, seg_mu, strict=True):
        pos = np.repeat(closed[:, np.newaxis], beam.mlc.n_pairs, axis=1)
        for r in np.flatnonzero(opened.any(axis=1)):
            cols = np.flatnonzero(opened[r])
            pos[0, pairs[r]] = (first_col + cols[0]) * size
            pos[1, pairs[r]] = (first_col + cols[-1] + 1) * size
        positions_all.append(pos)
        segments.append(Segment(positions_mm=pos, weight=float(mu) / total))
    stack = np.stack(positions_all)
    open_any = stack[:, 1, :] - stack[:, 0, :] > min_gap_mm + 1e-9
    envelope = np.repeat(closed[:, np.newaxis], beam.mlc.n_pairs, axis=1)
    for p in np.flatnonzero(open_any.any(axis=0)):
        envelope[0, p] = stack[open_any[:, p], 0, p].min()
        envelope[1, p] = stack[open_any[:, p], 1, p].max()
    # shares rounded to floats may miss 1 by an ulp: the last takes the rest
    shares = [s.weight for s in segments]
    if len(segments) > 1:
        last = 1.0 - math.fsum(shares[:-1])
        segments[-1] = Segment(positions_mm=segments[-1].positions_mm, weight=last)
    return beam.replace(
        jaws_mm=(float(x1), float(x2), y1, y2),
        mlc=beam.mlc.with_positions(envelope),
        segments=tuple(segments),
        mu=total,
    )
