"""Dose metrics: DVH summary table, homogeneity, conformity and gradient indices.

Definitions
-----------
* Homogeneity index (ICRU Report 83, 2010): ``HI = (D2 - D98) / D50`` of the target.
* RTOG conformity index (Shaw et al. 1993, IJROBP 27:1231): ``CI = PIV / TV``.
* Paddick conformity index (Paddick 2000, J Neurosurg 93 Suppl 3:219):
  ``CI = TV_PIV**2 / (TV * PIV)``.
* Gradient index (Paddick & Lippitz 2006, J Neurosurg 105 Suppl:194):
  ``GI = PIV_50 / PIV``.

``TV`` is the target volume, ``PIV`` the volume enclosed by the prescription isodose,
``PIV_50`` by half of it, ``TV_PIV`` the target volume inside the prescription isodose.
Isodose volumes are counted inside ``body`` when given (recommended: the patient outline),
else over the whole dose grid, with the same partial-volume sampling as the DVHs.
The indices are ratios of volumes (dimensionless); :func:`conformity_metrics` returns them
with the volumes (cm³) they come from.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan._atomic import atomic_open
from rtplan._format import csv_number
from rtplan.evaluate._common import check_dose, finite_positive
from rtplan.evaluate._dvh import dose_grid_dvh, dvh, isodose_volume_cc
from rtplan.evaluate._dvh_type import DVH
from rtplan.image import Image
from rtplan.structures import Structure

if TYPE_CHECKING:
    import pandas  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "conformity_index_paddick",
    "conformity_index_rtog",
    "conformity_metrics",
    "dose_metrics",
    "gradient_index",
    "homogeneity_index",
    "metrics_to_pandas",
    "write_metrics_csv",
]


def homogeneity_index(h: DVH) -> float:
    """ICRU 83 homogeneity index ``(D2 - D98) / D50`` of a target DVH (dimensionless).

    Parameters
    ----------
    h : DVH
        The target's DVH (:func:`rtplan.dvh`).

    Returns
    -------
    float
        0 for a perfectly uniform dose; ``nan`` when D50 is 0 (an empty DVH).
    """
    return h.homogeneity_index


def conformity_index_rtog(
    dose: Image, target: Structure, prescription_gy: float, *, body: Structure | None = None
) -> float:
    """RTOG conformity index ``PIV / TV`` (Shaw et al. 1993).

    Parameters
    ----------
    dose : rtplan.Dose
    target : rtplan.Structure
    prescription_gy : float
        Prescription isodose, Gy.
    body : rtplan.Structure, optional
        Count the isodose volume inside this outline only (default: whole dose grid).

    Returns
    -------
    float
        ``nan`` for an empty target.
    """
    rx = finite_positive(prescription_gy, "prescription_gy")
    tv = dvh(check_dose(dose), target).volume_cc
    piv = isodose_volume_cc(dose, rx, within=body)
    return piv / tv if tv > 0 else math.nan


def conformity_index_paddick(
    dose: Image, target: Structure, prescription_gy: float, *, body: Structure | None = None
) -> float:
    """Paddick conformity index ``TV_PIV**2 / (TV * PIV)`` (Paddick 2000), 0 to 1.

    Parameters
    ----------
    dose : rtplan.Dose
    target : rtplan.Structure
    prescription_gy : float
        Prescription isodose, Gy.
    body : rtplan.Structure, optional
        Count the isodose volume inside this outline only (default: whole dose grid).

    Returns
    -------
    float
        ``nan`` for an empty target or when no volume receives the prescription.
    """
    rx = finite_positive(prescription_gy, "prescription_gy")
    h = dvh(check_dose(dose), target)
    tv = h.volume_cc
    tv_piv = h.V(rx, volume_unit="cc") if tv > 0 else 0.0
    piv = isodose_volume_cc(dose, rx, within=body)
    return tv_piv**2 / (tv * piv) if tv > 0 and piv > 0 else math.nan


def gradient_index(dose: Image, prescription_gy: float, *, body: Structure | None = None) -> float:
    """Gradient index ``PIV_50% / PIV_100%`` (Paddick & Lippitz 2006).

    Parameters
    ----------
    dose : rtplan.Dose
    prescription_gy : float
    body : rtplan.Structure, optional
        Count isodose volumes inside this outline only (default: whole dose grid).

    Returns
    -------
    float
        ``nan`` when no volume receives the prescription.
    """
    rx = finite_positive(prescription_gy, "prescription_gy")
    dose = check_dose(dose)
    # one histogram gives both isodose volumes (as isodose_volume_cc reads them)
    h = dvh(dose, body) if body is not None else dose_grid_dvh(dose)
    piv = h.V(rx, volume_unit="cc") if not h.is_empty else 0.0
    piv50 = h.V(0.5 * rx, volume_unit="cc") if not h.is_empty else 0.0
    return piv50 / piv if piv > 0 else math.nan


def conformity_metrics(
    dose: Image,
    target: Structure,
    prescription_gy: float,
    *,
    body: Structure | None = None,
    dvhs: Mapping[str, DVH] | None = None,
    **dvh_options: Any,
) -> dict[str, float | str]:
    """Conformity and gradient indices of a target with the volumes they come from.

    One DVH of the target and one of ``body`` (or of the whole dose grid) give every
    volume, so this is cheaper than calling the three index functions.

    Parameters
    ----------
    dose : rtplan.Dose
    target : rtplan.Structure
    prescription_gy : float
        Prescription isodose, Gy.
    body : rtplan.Structure, optional
        Count isodose volumes inside this outline only (default: the whole dose grid).
    dvhs : mapping of str to DVH, optional
        Already computed DVHs by structure name (reused for ``target`` and ``body``).
    **dvh_options
        Passed to :func:`rtplan.evaluate.dvh` for the DVHs computed here.

    Returns
    -------
    dict
        ``structure``, ``prescription_gy``, the volumes ``tv_cc``, ``piv_cc``,
        ``tv_piv_cc``, ``piv50_cc`` (cm³) and the dimensionless ``ci_rtog`` (PIV / TV),
        ``ci_paddick`` (TV_PIV² / (TV PIV)) and ``gi`` (PIV50% / PIV); ``nan`` where
        undefined.

    Raises
    ------
    EvaluationError
        If the dose is not in Gy or the prescription is not positive.
    """
    rx = finite_positive(prescription_gy, "prescription_gy")
    dose = check_dose(dose)
    known = dict(dvhs or {})
    h = known.get(target.name) or dvh(dose, target, **dvh_options)
    tv = h.volume_cc if not h.is_empty else 0.0
    tv_piv = h.V(rx, volume_unit="cc") if tv > 0 else 0.0
    if body is not None:
        hb = known.get(body.name) or dvh(dose, body, **dvh_options)
    else:
        hb = dose_grid_dvh(dose)
    piv = hb.V(rx, volume_unit="cc") if not hb.is_empty else 0.0
    piv50 = hb.V(0.5 * rx, volume_unit="cc") if not hb.is_empty else 0.0
    return {
        "structure": target.name,
        "prescription_gy": rx,
        "tv_cc": tv,
        "piv_cc": piv,
        "tv_piv_cc": tv_piv,
        "piv50_cc": piv50,
        "ci_rtog": piv / tv if tv > 0 else math.nan,
        "ci_paddick": tv_piv**2 / (tv * piv) if tv > 0 and piv > 0 else math.nan,
        "gi": piv50 / piv if piv > 0 else math.nan,
    }


def dose_metrics(h: DVH, prescription_gy: float | None = None) -> dict[str, float | str]:
    """The standard summary of one DVH (keys carry their units).

    Parameters
    ----------
    h : DVH
    prescription_gy : float, optional
        Adds V95 %, V100 % and V107 % of the prescription (percent of the volume).

    Returns
    -------
    dict
        ``structure``, ``volume_cc``, ``coverage_percent``, ``min_gy``, ``mean_gy``,
        ``max_gy``, ``d0_03cc_gy``, ``d2_gy``, ``d50_gy``, ``d95_gy``, ``d98_gy``, ``hi``
        and, with a prescription, ``v95_percent``, ``v100_percent``, ``v107_percent``.
    """
    row: dict[str, float | str] = {
        "structure": h.name,
        "volume_cc": h.volume_cc,
        "coverage_percent": 100.0 * h.coverage,
        "min_gy": h.min_gy,
        "mean_gy": h.mean_gy,
        "max_gy": h.max_gy,
        "d0_03cc_gy": h.D0_03cc,
        "d2_gy": h.D2,
        "d50_gy": h.D50,
        "d95_gy": h.D95,
        "d98_gy": h.D98,
        "hi": h.homogeneity_index,
    }
    if prescription_gy is not None:
        rx = finite_positive(prescription_gy, "prescription_gy")
        for pct in (95, 100, 107):
            row[f"v{pct}_percent"] = h.V(pct, dose_unit="%", prescription_gy=rx)
    return row


def write_metrics_csv(rows: Iterable[Mapping[str, float | str]], path: str | Path) -> Path:
    """Write :func:`dose_metrics` or :func:`conformity_metrics` rows to CSV.

    The columns are the keys of the first row, which carry the units; numbers with the
    precision of their unit (:func:`rtplan._format.csv_number`: 0.01 Gy, 0.01 cm³, 0.1 %,
    0.1 mm, 4 significant figures for indices; zero as ``0``), non-finite values as empty
    cells. The file is written atomically.

    Parameters
    ----------
    rows : iterable of mapping
        One mapping per structure, the same keys in each.
    path : str or Path
        The CSV file.

    Returns
    -------
    Path
    """
    rows = list(rows)
    p = Path(path)
    keys = list(rows[0]) if rows else []
    with atomic_open(p, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(keys)
        for r in rows:
            w.writerow([csv_number(r[k], k) for k in keys])
    return p


def metrics_to_pandas(rows: Iterable[Mapping[str, float | str]]) -> pandas.DataFrame:
    """:func:`dose_metrics` or :func:`conformity_metrics` rows as a pandas DataFrame.

    Parameters
    ----------
    rows : iterable of mapping
        One mapping per structure, as those functions return (keys carry the units).

    Returns
    -------
    pandas.DataFrame
        One row per structure, indexed by ``structure``; the columns are the keys of the
        first row, numbers as float64 (NaN where undefined).

    Raises
    ------
    MissingDependencyError
        If pandas is not installed (the message says how to install it).

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.evaluate import DVH, dose_metrics
    >>> from rtplan.evaluate import metrics_to_pandas
    >>> h = DVH(name="PTV", bin_edges_gy=np.array([0.0, 1.0, 2.0]),
    ...         differential=np.array([0.25, 0.75]), volume_cc=8.0)
    >>> frame = metrics_to_pandas([dose_metrics(h, prescription_gy=2.0)])
    >>> frame.loc["PTV", "volume_cc"], list(frame.columns[:2])
    (np.float64(8.0), ['volume_cc', 'coverage_percent'])
    """
    from rtplan._deps import import_optional

    pd = import_optional("pandas", extra="pandas", purpose="a metrics table as a DataFrame")
    rows = list(rows)
    keys = list(rows[0]) if rows else ["structure"]
    frame = pd.DataFrame([[r.get(k) for k in keys] for r in rows], columns=keys)
    numeric = [k for k in keys if k != "structure"]
    frame[numeric] = frame[numeric].astype("float64")
    return frame.set_index("structure") if "structure" in keys else frame
