"""The photon source: spectrum, aperture at the isocentre plane and source components.

A beam is described, as in rtplan's beam model, at the *isocentre plane* (the plane through
the isocentre perpendicular to the central axis, coordinates ``(x_b, y_b)`` along the
beam-limiting-device axes):

* the aperture is a piecewise-constant transmission map ``A(x_b, y_b)``: 1 in the jaw and
  MLC opening, the jaw or MLC transmission behind them (product of both behind both);
* each source component ``c`` (weight ``f_c``) aims its photons at points of the isocentre
  plane distributed as ``A (1 + k_c min(r, r_max))`` blurred by a Gaussian of
  ``sigma_c`` (the focal spot and the extra-focal head-scatter source projected to that
  plane, and the flattening filter's radial ramp);
* every photon starts at the source point and flies straight towards its aim point, so that
  the planar fluence at distance ``z`` along the axis is the isocentre-plane fluence times
  ``(SAD / z)^2``, the convention of rtplan's TERMA.

The relative fluence ``F = sum_c f_c G(sigma_c) * [A ramp_c]`` is 1 on the axis of a large
open field, so the open-field energy fluence on the axis at the isocentre plane per
simulated photon is ``<E> / integral(F)`` (:meth:`SourceSpec.energy_fluence_per_photon`).
Photon energies are the spectrum's bin energies with probabilities proportional to the
energy-fluence share divided by the energy (a photon-number spectrum).

This module only needs numpy: the Geant4 worker process imports it to sample primaries.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SourceComponent", "SourceSpec", "aperture_rectangles"]

FloatArray = npt.NDArray[np.float64]

#: Half width of the square of the isocentre plane over which transmitted (leakage) photons
#: are simulated, mm: the largest jaw opening of a C-arm linac (40 x 40 cm²).
TRANSMISSION_HALF_WIDTH_MM = 200.0


def _intervals(edges: Sequence[float], lo: float, hi: float) -> list[tuple[float, float]]:
    """Consecutive intervals between the sorted, clipped ``edges`` within ``[lo, hi]``."""
    cuts = sorted({lo, hi, *(min(max(e, lo), hi) for e in edges)})
    return [(a, b) for a, b in itertools.pairwise(cuts) if b - a > 1e-9]


def aperture_rectangles(
    jaws_mm: Sequence[float],
    *,
    leaf_boundaries_mm: Sequence[float] | None = None,
    leaf_positions_mm: npt.ArrayLike | None = None,
    jaw_transmission: float = 0.0,
    mlc_transmission: float = 0.0,
    half_width_mm: float = TRANSMISSION_HALF_WIDTH_MM,
) -> tuple[FloatArray, FloatArray]:
    """Tile the isocentre plane into rectangles of constant aperture transmission.

    Parameters
    ----------
    jaws_mm : sequence of 4 float
        ``(X1, X2, Y1, Y2)`` at the isocentre plane, mm.
    leaf_boundaries_mm : sequence of float, optional
        MLC leaf-pair edges along ``y_b`` (n + 1 values), mm.
    leaf_positions_mm : array_like, shape (2, n), optional
        Bank A (row 0) and bank B (row 1) leaf ends along ``x_b``, mm.
    jaw_transmission, mlc_transmission : float
        Transmitted fraction behind the jaws and behind the leaves. When both are zero only
        the opening is returned.
    half_width_mm : float
        Half width of the square of the plane tiled when a transmission is not zero.

    Returns
    -------
    rects : numpy.ndarray, shape (n, 4)
        ``(x0, x1, y0, y1)`` of each rectangle, mm.
    values : numpy.ndarray, shape (n,)
        Transmission of each rectangle (1 in the opening).
    """
    x1, x2, y1, y2 = (float(v) for v in jaws_mm)
    leaky = jaw_transmission > 0.0 or mlc_transmission > 0.0
    if leaky:
        lo = -max(half_width_mm, abs(x1), abs(x2), abs(y1), abs(y2))
        hi = -lo
        ylo, yhi, xlo, xhi = lo, hi, lo, hi
    else:
        ylo, yhi, xlo, xhi = y1, y2, x1, x2
    bounds: list[float] = (
        [] if leaf_boundaries_mm is None else [float(b) for b in leaf_boundaries_mm]
    )
    pos = None if leaf_positions_mm is None else np.asarray(leaf_positions_mm, dtype=np.float64)
    rects: list[tuple[float, float, float, float]] = []
    values: list[float] = []
    for ya, yb in _intervals([y1, y2, *bounds], ylo, yhi):
        ym = 0.5 * (ya + yb)
        in_y = y1 <= ym <= y2
        leaf_open: tuple[float, float] | None = None
        if pos is not None and bounds and bounds[0] <= ym <= bounds[-1]:
            n = int(np.searchsorted(bounds, ym, side="right")) - 1
            n = min(max(n, 0), pos.shape[1] - 1)
            leaf_open = (float(pos[0, n]), float(max(pos[1, n], pos[0, n])))
        edges = [x1, x2] if leaf_open is None else [x1, x2, *leaf_open]
        for xa, xb in _intervals(edges, xlo, xhi):
            xm = 0.5 * (xa + xb)
            t = 1.0 if (in_y and x1 <= xm <= x2) else jaw_transmission
            if leaf_open is not None and not (leaf_open[0] <= xm <= leaf_open[1]):
                t *= mlc_transmission
            if t > 0.0:
                rects.append((xa, xb, ya, yb))
                values.append(t)
    if not rects:
        raise ValueError(f"the aperture (jaws {tuple(jaws_mm)} and MLC) has no opening")
    return np.asarray(rects, dtype=np.float64), np.asarray(values, dtype=np.float64)


def _ramp(x: FloatArray, y: FloatArray, per_cm: float, max_cm: float) -> FloatArray:
    return np.asarray(1.0 + per_cm * np.minimum(np.hypot(x, y) / 10.0, max_cm))


def _ramp_integral(rect: FloatArray, per_cm: float, max_cm: float) -> tuple[float, float]:
    """Integral of the radial ramp over a rectangle (mm²) and the ramp's maximum there."""
    x0, x1, y0, y1 = (float(v) for v in rect)
    area = (x1 - x0) * (y1 - y0)
    if per_cm == 0.0:
        return area, 1.0
    nx = int(min(256, max(8, math.ceil((x1 - x0) / 0.5))))
    ny = int(min(256, max(8, math.ceil((y1 - y0) / 0.5))))
    xs = x0 + (np.arange(nx) + 0.5) * (x1 - x0) / nx
    ys = y0 + (np.arange(ny) + 0.5) * (y1 - y0) / ny
    values = _ramp(xs[np.newaxis, :], ys[:, np.newaxis], per_cm, max_cm)
    r_far = math.hypot(max(abs(x0), abs(x1)), max(abs(y0), abs(y1)))
    peak = 1.0 + max(per_cm, 0.0) * min(r_far / 10.0, max_cm) if per_cm > 0 else 1.0
    return float(values.mean()) * area, float(peak)


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceComponent:
    """One source of the beam, described at the isocentre plane.

    Parameters
    ----------
    weight : float
        Share ``f_c`` of the open-field fluence on the axis (the shares sum to 1).
    sigma_mm : float
        Gaussian blur of the aim points at the isocentre plane, mm (0: a point source).
    ramp_per_cm : float
        Relative rise of the fluence per cm off axis (flattening-filter horns).
    ramp_max_cm : float
        Off-axis distance beyond which the ramp stays constant, cm.
    """

    weight: float
    sigma_mm: float = 0.0
    ramp_per_cm: float = 0.0
    ramp_max_cm: float = 1e9


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SourceSpec:
    """A photon beam in the simulation frame.

    Parameters
    ----------
    position_mm : numpy.ndarray, shape (3,)
        The source point.
    axis : numpy.ndarray, shape (3,)
        Unit vector of the central axis, from the source towards the isocentre.
    ex, ey : numpy.ndarray, shape (3,)
        Unit vectors of the beam-limiting-device axes ``X_b`` and ``Y_b``.
    sad_mm : float
        Source-axis distance, mm.
    energies_mev : numpy.ndarray, shape (n,)
        Photon energies, MeV.
    energy_fluence_share : numpy.ndarray, shape (n,)
        Share of the energy fluence at each energy (sums to 1).
    rects : numpy.ndarray, shape (m, 4)
        Aperture rectangles ``(x0, x1, y0, y1)`` at the isocentre plane, mm.
    transmission : numpy.ndarray, shape (m,)
        Aperture value of each rectangle.
    components : tuple of SourceComponent
        The sources (weights sum to 1).
    """

    position_mm: FloatArray
    axis: FloatArray
    ex: FloatArray
    ey: FloatArray
    sad_mm: float
    energies_mev: FloatArray
    energy_fluence_share: FloatArray
    rects: FloatArray
    transmission: FloatArray
    components: tuple[SourceComponent, ...]
    _tables: list[tuple[float, FloatArray, FloatArray]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.components:
            raise ValueError("a source needs at least one component")
        object.__setattr__(self, "_tables", self._component_tables())

    # ------------------------------------------------------------------ derived
    @property
    def photon_probabilities(self) -> FloatArray:
        """Probability of each energy in photon number (share / energy, normalised)."""
        n = self.energy_fluence_share / self.energies_mev
        return np.asarray(n / n.sum())

    @property
    def mean_energy_mev(self) -> float:
        """Mean photon energy, MeV."""
        return float(np.sum(self.photon_probabilities * self.energies_mev))

    def _component_tables(self) -> list[tuple[float, FloatArray, FloatArray]]:
        """Per component: total weight ``f_c integral(A ramp_c)``, rect weights, rect peaks."""
        out = []
        for comp in self.components:
            integ = np.empty(len(self.rects))
            peak = np.empty(len(self.rects))
            for r, rect in enumerate(self.rects):
                integ[r], peak[r] = _ramp_integral(rect, comp.ramp_per_cm, comp.ramp_max_cm)
            w = self.transmission * integ
            out.append((comp.weight * float(w.sum()), w / w.sum(), peak))
        return out

    def fluence_integral_mm2(self) -> float:
        """Integral of the relative fluence ``F`` over the isocentre plane, mm²."""
        return float(sum(t[0] for t in self._tables))

    def energy_fluence_per_photon(self) -> float:
        """Open-field energy fluence on the axis at the isocentre plane per photon, MeV/cm².

        Returns
        -------
        float
            ``<E> / integral(F)`` with the integral in cm².
        """
        return self.mean_energy_mev / (self.fluence_integral_mm2() / 100.0)

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Draw ``n`` primary photons.

        Parameters
        ----------
        rng : numpy.random.Generator
        n : int

        Returns
        -------
        energy_mev : numpy.ndarray, shape (n,)
        position_mm : numpy.ndarray, shape (n, 3)
            All at the source point.
        direction : numpy.ndarray, shape (n, 3)
            Unit vectors towards the sampled aim points.
        """
        energy = rng.choice(self.energies_mev, size=n, p=self.photon_probabilities)
        tables = self._tables
        totals = np.array([t[0] for t in tables])
        which = rng.choice(len(tables), size=n, p=totals / totals.sum())
        xy = np.empty((n, 2))
        for c, (comp, (_, rect_p, peak)) in enumerate(zip(self.components, tables, strict=True)):
            idx = np.nonzero(which == c)[0]
            xy[idx] = self._aim_points(rng, idx.size, comp, rect_p, peak)
        aim = (
            self.sad_mm * self.axis[np.newaxis, :]
            + xy[:, :1] * self.ex[np.newaxis, :]
            + xy[:, 1:] * self.ey[np.newaxis, :]
        )
        direction = aim / np.linalg.norm(aim, axis=1)[:, np.newaxis]
        position = np.broadcast_to(self.position_mm, (n, 3)).copy()
        return np.asarray(energy, dtype=np.float64), position, direction

    def _aim_points(
        self,
        rng: np.random.Generator,
        n: int,
        comp: SourceComponent,
        rect_p: FloatArray,
        peak: FloatArray,
    ) -> FloatArray:
        out = np.empty((n, 2))
        filled = 0
        while filled < n:
            m = n - filled
            r = rng.choice(len(self.rects), size=m, p=rect_p)
            x0, x1, y0, y1 = (self.rects[r, i] for i in range(4))
            x = x0 + (x1 - x0) * rng.random(m)
            y = y0 + (y1 - y0) * rng.random(m)
            if comp.ramp_per_cm != 0.0:
                keep = rng.random(m) * peak[r] <= _ramp(x, y, comp.ramp_per_cm, comp.ramp_max_cm)
                x, y = x[keep], y[keep]
            k = x.size
            out[filled : filled + k, 0] = x
            out[filled : filled + k, 1] = y
            filled += k
        if comp.sigma_mm > 0.0:
            out += rng.normal(0.0, comp.sigma_mm, size=(n, 2))
        return out

    # ------------------------------------------------------------------ transport
    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable description (read back by :meth:`from_json`)."""
        return {
            "position_mm": self.position_mm.tolist(),
            "axis": self.axis.tolist(),
            "ex": self.ex.tolist(),
            "ey": self.ey.tolist(),
            "sad_mm": self.sad_mm,
            "energies_mev": self.energies_mev.tolist(),
            "energy_fluence_share": self.energy_fluence_share.tolist(),
            "rects": self.rects.tolist(),
            "transmission": self.transmission.tolist(),
            "components": [
                {
                    "weight": c.weight,
                    "sigma_mm": c.sigma_mm,
                    "ramp_per_cm": c.ramp_per_cm,
                    "ramp_max_cm": c.ramp_max_cm,
                }
                for c in self.components
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceSpec:
        """Rebuild a source from :meth:`to_json` output."""

        def arr(key: str) -> FloatArray:
            return np.asarray(data[key], dtype=np.float64)

        return cls(
            position_mm=arr("position_mm"),
            axis=arr("axis"),
            ex=arr("ex"),
            ey=arr("ey"),
            sad_mm=float(data["sad_mm"]),
            energies_mev=arr("energies_mev"),
            energy_fluence_share=arr("energy_fluence_share"),
            rects=arr("rects").reshape(-1, 4),
            transmission=arr("transmission"),
            components=tuple(SourceComponent(**c) for c in data["components"]),
        )
