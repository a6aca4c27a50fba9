"""Beam data of the independent monitor-unit check: Sc, Sp, TMR and off-axis ratios.

The hand calculation of :mod:`rtplan.dose._mu_check` reads a machine's
``<name>_mu_check.txt`` (written by the repository's ``tools/mu_check``): what a clinic
measures in a water tank to commission an MU-check program, made on rtplan's machine
model (its header says how). The file holds the central-axis dose per MU of square
fields at SSD 100 cm, the in-air output ratios (collimator scatter factors) and off-axis
ratios; this module turns them into the factors of the isocentric formalism of AAPM TG-71
(Gibbons et al. 2014), with the conversions of Khan and Gibbons (2014, chapter 10):

* total scatter factor ``Scp(s)``: dose per MU at the reference depth ``d0`` (the depth of
  maximum dose of the 10 x 10 cm² field) relative to 10 x 10 cm²;
* phantom scatter factor ``Sp(r) = Scp(s) / Sc(s)``, indexed by the field side ``r`` at
  the point (``r = s (SSD + d0) / SSD``);
* tissue-maximum ratio from the depth doses, at the field side ``r_d`` at depth::

      TMR(d, r_d) = D(d, s) / D(d0, s) * ((SSD + d) / (SSD + d0))**2 * Sp(r_0) / Sp(r_d)

* backscatter factor: dose at a point with only ``b`` of water behind it (a limb, a head)
  relative to the tank's full backscatter, from slabs 10 to 20 cm thick; 1 beyond the
  thickest ``b`` of the table.

The data are read once per machine and kept. Nothing here calls a dose engine.

References
----------
.. [TG71] J. P. Gibbons et al., "Monitor unit calculations for external photon and electron
   beams: Report of the AAPM Therapy Physics Committee Task Group No. 71", Med. Phys. 41
   (2014) 031501.
.. [Khan] F. M. Khan and J. P. Gibbons, The Physics of Radiation Therapy, 5th ed.,
   Lippincott Williams & Wilkins (2014), chapters 9 and 10.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.dose.machines._model import load_machine
from rtplan.dose.machines._tables import read_tables
from rtplan.errors import DoseEngineError

__all__ = ["HandCalcData", "load_hand_calc_data"]

FloatArray = npt.NDArray[np.float64]

#: Source-surface distance of the tank measurements, mm.
SSD_REF_MM = 1000.0

#: Dose per MU at d0 of the 10 x 10 cm² field at SSD 100 cm: the machine's calibration.
GY_PER_MU_REF = 0.01


def _peak_depth(depth: FloatArray, dose: FloatArray) -> float:
    """Depth of the maximum of a depth-dose curve (a parabola through the top 3 points)."""
    i = int(np.argmax(dose))
    if 0 < i < dose.size - 1:
        y0, y1, y2 = dose[i - 1], dose[i], dose[i + 1]
        den = y0 - 2.0 * y1 + y2
        if den < 0:
            return float(depth[i] + 0.5 * (y0 - y2) / den * (depth[1] - depth[0]))
    return float(depth[i])


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class HandCalcData:
    """The factors of the hand calculation for one machine, as look-up functions.

    Attributes
    ----------
    machine : str
        Machine name (``Beam.energy``).
    source : str
        Where the data come from (the header of the data file).
    d0_mm : float
        Reference depth: depth of maximum dose of the 10 x 10 cm² field, mm.
    depth_mm : numpy.ndarray, shape (n_d,)
        Depths of the TMR table, mm.
    tmr_field_mm, tmr_values : numpy.ndarray, shape (n_s, n_d)
        Field side at depth (mm) and TMR of each tank field at each depth.
    sp_field_mm, sp_values : numpy.ndarray, shape (n_s,)
        Phantom scatter factor by field side at ``d0``.
    sc_field_mm, sc_values : numpy.ndarray
        Collimator scatter factor by collimator side at the isocentre.
    oar_depth_mm, oar_radius_mm : numpy.ndarray
        Axes of the off-axis-ratio table (radius at the isocentre plane).
    oar_values : numpy.ndarray, shape (n_depth, n_radius)
    bs_field_mm, bs_thickness_mm : numpy.ndarray
        Axes of the backscatter table: field side and water thickness behind the point.
    bs_values : numpy.ndarray, shape (n_field, n_thickness)
        Dose relative to full backscatter.
    """

    machine: str
    source: str
    d0_mm: float
    depth_mm: FloatArray
    tmr_field_mm: FloatArray
    tmr_values: FloatArray
    sp_field_mm: FloatArray
    sp_values: FloatArray
    sc_field_mm: FloatArray
    sc_values: FloatArray
    oar_depth_mm: FloatArray
    oar_radius_mm: FloatArray
    oar_values: FloatArray
    bs_field_mm: FloatArray
    bs_thickness_mm: FloatArray
    bs_values: FloatArray

    def sc(self, collimator_mm: float) -> float:
        """Collimator (head) scatter factor of a square collimator opening at the isocentre."""
        return float(np.interp(collimator_mm, self.sc_field_mm, self.sc_values))

    def sp(self, field_mm: float) -> float:
        """Phantom scatter factor of a square field of side ``field_mm`` at the point."""
        return float(np.interp(field_mm, self.sp_field_mm, self.sp_values))

    def _tmr_column(self, j: int, field_mm: float) -> float:
        return float(np.interp(field_mm, self.tmr_field_mm[:, j], self.tmr_values[:, j]))

    def tmr(self, depth_mm: float, field_mm: float) -> float:
        """Tissue-maximum ratio at a (radiological) depth for a square field at that depth.

        Linear in depth and field side between the table's nodes; constant beyond the
        field range; beyond the deepest node, extrapolated exponentially with the slope of
        the last 25 mm.

        Parameters
        ----------
        depth_mm : float
            Depth (effective depth in a patient), mm.
        field_mm : float
            Side of the (equivalent) square field at that depth, mm.

        Returns
        -------
        float
        """
        d = self.depth_mm
        if depth_mm <= d[0]:
            return self._tmr_column(0, field_mm)
        if depth_mm >= d[-1]:
            last = self._tmr_column(d.size - 1, field_mm)
            back = int(np.searchsorted(d, d[-1] - 25.0))
            earlier = self._tmr_column(back, field_mm)
            mu_per_mm = np.log(earlier / last) / (d[-1] - d[back])
            return float(last * np.exp(-mu_per_mm * (depth_mm - d[-1])))
        j = int(np.searchsorted(d, depth_mm)) - 1
        t = (depth_mm - d[j]) / (d[j + 1] - d[j])
        return float(
            (1.0 - t) * self._tmr_column(j, field_mm) + t * self._tmr_column(j + 1, field_mm)
        )

    def oar(self, radius_mm: float, depth_mm: float) -> float:
        """Off-axis ratio at a radius (projected to the isocentre plane) and depth."""
        rows = [
            np.interp(radius_mm, self.oar_radius_mm, row) for row in np.asarray(self.oar_values)
        ]
        return float(np.interp(depth_mm, self.oar_depth_mm, np.asarray(rows)))

    def backscatter(self, behind_mm: float, field_mm: float) -> float:
        """Backscatter factor: the dose with ``behind_mm`` of tissue behind the point.

        Relative to full backscatter, for a square field of side ``field_mm`` at the
        point; ``behind_mm`` is a water-equivalent (radiological) thickness.
        """
        if behind_mm >= self.bs_thickness_mm[-1]:
            return 1.0
        rows = [np.interp(behind_mm, self.bs_thickness_mm, row) for row in self.bs_values]
        return float(np.interp(field_mm, self.bs_field_mm, np.asarray(rows)))

    @property
    def field_range_mm(self) -> tuple[float, float]:
        """Smallest and largest field sides of the tank data at ``d0``, mm."""
        return float(self.sp_field_mm[0]), float(self.sp_field_mm[-1])


def _build(name: str) -> HandCalcData:
    machine = load_machine(name)
    path = machine.directory / f"{machine.name}_mu_check.txt"
    if not path.is_file():
        raise DoseEngineError(
            f"machine {machine.name} has no beam data for the independent MU check ({path.name}); "
            "in a source checkout, python -m tools.mu_check.make_beam_data writes it"
        )
    t = read_tables(path)
    try:
        depth = t["depth_mm"][0]
        field = t["field_mm"][0]
        dose = t["dose_gy_per_mu"]
        sc_field, sc = t["sc_field_mm"][0], t["sc"][0]
        oar_depth, oar_radius, oar = t["oar_depth_mm"][0], t["oar_radius_mm"][0], t["oar"]
        bs_field, bs_b, bs = t["backscatter_field_mm"][0], t["backscatter_mm"][0], t["backscatter"]
    except KeyError as exc:
        raise DoseEngineError(f"{path}: section {exc} is missing") from exc
    ref = int(np.argmin(np.abs(field - 100.0)))
    d0 = _peak_depth(depth, dose[ref])
    at_d0 = np.array([np.interp(d0, depth, row) for row in dose])
    scp = at_d0 / at_d0[ref]
    sc_tank = np.interp(field, sc_field, sc)
    sp_field = field * (SSD_REF_MM + d0) / SSD_REF_MM
    sp = scp / sc_tank
    scale = (SSD_REF_MM + depth) / SSD_REF_MM  # field side at depth / at the surface
    tmr_field = field[:, np.newaxis] * scale[np.newaxis, :]
    isq = ((SSD_REF_MM + depth) / (SSD_REF_MM + d0)) ** 2
    sp_at_depth = np.interp(tmr_field, sp_field, sp)
    tmr = dose / at_d0[:, np.newaxis] * isq[np.newaxis, :] * sp[:, np.newaxis] / sp_at_depth
    header = [ln[1:].strip() for ln in path.read_text(encoding="ascii").splitlines()[:2]]
    return HandCalcData(
        machine=machine.name,
        source=f"{path.name}: " + " ".join(header),
        d0_mm=d0,
        depth_mm=depth,
        tmr_field_mm=tmr_field,
        tmr_values=tmr,
        sp_field_mm=sp_field,
        sp_values=sp,
        sc_field_mm=sc_field,
        sc_values=sc,
        oar_depth_mm=oar_depth,
        oar_radius_mm=oar_radius,
        oar_values=oar,
        bs_field_mm=bs_field,
        bs_thickness_mm=bs_b,
        bs_values=bs,
    )


@functools.lru_cache(maxsize=8)
def load_hand_calc_data(machine: str) -> HandCalcData:
    """The hand-calculation factors of a machine (read once, then kept).

    Parameters
    ----------
    machine : str
        Machine name, e.g. ``"6X"`` (a beam's :attr:`~rtplan.Beam.energy`).

    Returns
    -------
    HandCalcData

    Raises
    ------
    DoseEngineError
        If the machine is unknown or has no MU-check data.

    Examples
    --------
    >>> from rtplan.dose._mu_data import load_hand_calc_data
    >>> data = load_hand_calc_data("6X")
    >>> 12.0 < data.d0_mm < 18.0, round(data.sc(100.0), 3), round(data.sp(101.5), 2)
    (True, 1.0, 1.0)
    >>> 0.75 < data.tmr(100.0, 100.0) < 0.82  # 10 cm deep, 10 x 10 cm² at depth
    True
    """
    return _build(str(machine).strip().upper())
