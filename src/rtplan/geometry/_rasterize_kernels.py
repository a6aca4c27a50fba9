"""Compiled kernels of the rasterisation (:mod:`rtplan.geometry.rasterize`).

Scan-line filling of the closed contours of each plane with an active edge table, in the
grid's continuous index space: pixel centres inside (masks) and the exact inside
fraction along sub-rows (fractional masks). The loops over slices are twins compiled
from one body (:func:`rtplan._jit.twin`), serial and threaded; the caller picks by the
work.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rtplan._jit import njit, prange, twin

__all__ = [
    "edge_table",
    "fill_fraction_parallel",
    "fill_fraction_serial",
    "fill_mask_parallel",
    "fill_mask_serial",
    "fill_plane_centres",
    "fill_plane_fraction",
    "fill_slice_fraction",
    "scan",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@njit()
def edge_table(
    xs: FloatArray, ys: FloatArray, ring_starts: IntArray, r0: int, r1: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:  # pragma: no cover - compiled
    """Non-horizontal edges of rings ``r0..r1-1``, lower end first, sorted by lower y.

    Each edge is stored from its lower end, so an edge run twice in opposite directions
    (a keyhole bridge) is stored twice identically and gives bit-identical crossings.
    """
    n = ring_starts[r1] - ring_starts[r0]
    xa = np.empty(n)
    ya = np.empty(n)
    xb = np.empty(n)
    yb = np.empty(n)
    m = 0
    for r in range(r0, r1):
        a = ring_starts[r]
        b = ring_starts[r + 1]
        for e in range(a, b):
            f = e + 1 if e + 1 < b else a
            if ys[e] == ys[f]:
                continue
            if ys[e] < ys[f]:
                xa[m], ya[m], xb[m], yb[m] = xs[e], ys[e], xs[f], ys[f]
            else:
                xa[m], ya[m], xb[m], yb[m] = xs[f], ys[f], xs[e], ys[e]
            m += 1
    order = np.argsort(ya[:m], kind="mergesort")
    return xa[order], ya[order], xb[order], yb[order]


@njit()
def scan(
    xa: FloatArray,
    ya: FloatArray,
    xb: FloatArray,
    yb: FloatArray,
    y: float,
    state: IntArray,
    active: IntArray,
    buf: FloatArray,
) -> int:  # pragma: no cover - compiled
    """Sorted crossings of the line at ``y`` with the edges (active edge table).

    Scan lines must come in increasing ``y``; ``state`` holds (next edge to enter, number
    of active edges). An edge counts on ``[y_low, y_high)``, so a vertex on the line is
    crossed once where the outline passes through it and zero or two times at an extremum.
    """
    p, na = state[0], state[1]
    n = ya.shape[0]
    while p < n and ya[p] <= y:
        active[na] = p
        na += 1
        p += 1
    cnt = 0
    keep = 0
    for q in range(na):
        e = active[q]
        if yb[e] <= y:
            continue
        active[keep] = e
        keep += 1
        x = xa[e] + (y - ya[e]) * (xb[e] - xa[e]) / (yb[e] - ya[e])
        i = cnt  # insertion sort: a scan line crosses few edges
        while i > 0 and buf[i - 1] > x:
            buf[i] = buf[i - 1]
            i -= 1
        buf[i] = x
        cnt += 1
    state[0], state[1] = p, keep
    return cnt


@njit()
def fill_plane_centres(
    xs: FloatArray,
    ys: FloatArray,
    ring_starts: IntArray,
    r0: int,
    r1: int,
    out: npt.NDArray[np.bool_],
) -> None:  # pragma: no cover - compiled
    """Set ``out[j, i]`` where pixel centre ``(i, j)`` is inside rings ``r0..r1-1``."""
    nj, ni = out.shape
    xa, ya, xb, yb = edge_table(xs, ys, ring_starts, r0, r1)
    n = ya.shape[0]
    if n < 2:
        return
    j0 = int(min(max(np.ceil(ya[0]), 0.0), float(nj)))
    j1 = int(min(max(np.floor(yb.max()), -1.0), float(nj - 1)))
    state = np.zeros(2, dtype=np.int64)
    active = np.empty(n, dtype=np.int64)
    buf = np.empty(n)
    for j in range(j0, j1 + 1):
        cnt = scan(xa, ya, xb, yb, float(j), state, active, buf)
        for q in range(0, cnt - 1, 2):
            # centres i with buf[q] <= i < buf[q + 1]
            i0 = int(min(max(np.ceil(buf[q]), 0.0), float(ni)))
            i1 = int(min(max(np.ceil(buf[q + 1]), 0.0), float(ni)))
            for i in range(i0, i1):
                out[j, i] = True


@njit()
def fill_plane_fraction(
    xs: FloatArray,
    ys: FloatArray,
    ring_starts: IntArray,
    r0: int,
    r1: int,
    nsub: int,
    weight: float,
    out: npt.NDArray[np.float32],
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Add ``weight`` times the inside fraction of each pixel to ``out[j, i]``.

    Returns the range of rows ``(j0, j1)`` (inclusive) that may have changed.
    """
    nj, ni = out.shape
    xa, ya, xb, yb = edge_table(xs, ys, ring_starts, r0, r1)
    n = ya.shape[0]
    if n < 2:
        return 0, -1
    j0 = int(min(max(np.floor(ya[0] + 0.5), 0.0), float(nj)))
    j1 = int(min(max(np.floor(yb.max() + 0.5), -1.0), float(nj - 1)))
    state = np.zeros(2, dtype=np.int64)
    active = np.empty(n, dtype=np.int64)
    buf = np.empty(n)
    w = weight / nsub
    lo, hi = -0.5, ni - 0.5
    for j in range(j0, j1 + 1):
        for s in range(nsub):
            y = j - 0.5 + (s + 0.5) / nsub
            cnt = scan(xa, ya, xb, yb, y, state, active, buf)
            for q in range(0, cnt - 1, 2):
                xl = max(lo, buf[q])
                xr = min(hi, buf[q + 1])
                if xr <= xl:
                    continue
                il = min(ni - 1, int(np.floor(xl + 0.5)))
                ir = min(ni - 1, int(np.floor(xr + 0.5)))
                if il == ir:
                    out[j, il] += (xr - xl) * w
                else:
                    out[j, il] += (il + 0.5 - xl) * w
                    for i in range(il + 1, ir):
                        out[j, i] += w
                    out[j, ir] += (xr - (ir - 0.5)) * w
    return j0, j1


@njit()
def fill_slice_fraction(
    xs: FloatArray,
    ys: FloatArray,
    ring_starts: IntArray,
    plane_rings: IntArray,
    sub_plane: IntArray,
    out: npt.NDArray[np.float32],
) -> None:  # pragma: no cover - compiled
    """One slice: average the in-plane fractions of the planes its sub-slices take."""
    nsub = sub_plane.shape[0]
    s = 0
    lo_j, hi_j = out.shape[0], -1
    while s < nsub:
        p = sub_plane[s]
        run = 1
        while s + run < nsub and sub_plane[s + run] == p:
            run += 1
        s += run
        if p >= 0:
            j0, j1 = fill_plane_fraction(
                xs, ys, ring_starts, plane_rings[p], plane_rings[p + 1], nsub, run / nsub, out
            )
            lo_j, hi_j = min(lo_j, j0), max(hi_j, j1)
    for j in range(lo_j, hi_j + 1):  # sums of fractions may pass 1 by rounding
        for i in range(out.shape[1]):
            if out[j, i] > 1.0:
                out[j, i] = 1.0


# The loops over slices, compiled twice from one body: serial and threaded.
@twin()
def fill_mask(
    xs: FloatArray,
    ys: FloatArray,
    ring_starts: IntArray,
    plane_rings: IntArray,
    slice_plane: IntArray,
    out: npt.NDArray[np.bool_],
) -> None:  # pragma: no cover - compiled
    """Fill every slice ``k`` with the plane ``slice_plane[k]`` (none when negative)."""
    for k in prange(out.shape[0]):
        p = slice_plane[k]
        if p >= 0:
            fill_plane_centres(xs, ys, ring_starts, plane_rings[p], plane_rings[p + 1], out[k])


@twin()
def fill_fraction(
    xs: FloatArray,
    ys: FloatArray,
    ring_starts: IntArray,
    plane_rings: IntArray,
    sub_plane: IntArray,
    out: npt.NDArray[np.float32],
) -> None:  # pragma: no cover - compiled
    """Fractions of every slice; ``sub_plane[k, s]`` is the plane sub-slice ``s`` takes."""
    for k in prange(out.shape[0]):
        fill_slice_fraction(xs, ys, ring_starts, plane_rings, sub_plane[k], out[k])


fill_mask_serial, fill_mask_parallel = fill_mask
fill_fraction_serial, fill_fraction_parallel = fill_fraction
