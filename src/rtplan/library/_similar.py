r"""Comparable cases and knowledge-based planning goals.

**Comparable cases.** A study is described by its primary target's volume, its site (the
nearest bone), the distance from the target to that bone, and the geometry of each
organ at risk relative to the target through its overlap-volume histogram (OVH): the
distances within which 10 % and 50 % of the organ lie. Two studies are compared by a
standardised, weighted distance

.. math:: d = \sqrt{\sum_f w_f \delta_f^2 / \sum_f w_f},

where :math:`\delta_f` is the difference of feature :math:`f` divided by its standard
deviation over the library (the volume on a log scale), 0 or 2 for the site (same bone or
not), and 2 for an organ or a value one of the studies lacks. The weights are
:data:`SIMILARITY_WEIGHTS`: target volume 2, site 2, target-to-bone distance 1, OVH 2
shared equally by the query's organs and their two distances. Each feature's share of
:math:`\sum w \delta^2` is reported as what drove the match.

**Knowledge-based planning.** After Wu et al., "Patient geometry-driven information
retrieval for IMRT treatment plan quality control", Med. Phys. 36 (2009) 5497-5505: an
organ that lies farther from the target than in a prior plan can be spared at least as
well as it was there. For each organ of a new patient and each volume fraction ``v``, the
prior plans whose organ of the same name had its ``v`` within a distance ``r_v`` no
greater than the new patient's are found, and the lowest dose ``D_v`` they achieved (as a
percentage of their prescription) is the achievable dose, offered as a goal in rtplan's
goal syntax (``"SpinalCord Dmax <= 14.0 Gy"``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.library._errors import LibraryError
from rtplan.library._query import Library

if TYPE_CHECKING:
    from rtplan.evaluate import ClinicalGoal
    from rtplan.library._extract import StudyResult

__all__ = [
    "SIMILARITY_WEIGHTS",
    "CaseDescriptor",
    "Driver",
    "KnowledgeBasedGoals",
    "OrganPrediction",
    "SimilarCase",
    "describe",
    "predict_goals",
    "similar",
]

logger = logging.getLogger(__name__)

#: Weights of the similarity features (documented in the module docstring).
SIMILARITY_WEIGHTS: dict[str, float] = {
    "target_volume": 2.0,
    "site": 2.0,
    "bone_distance": 1.0,
    "ovh": 2.0,
}
_MISSING = 2.0  # delta of a value one study lacks, in standard deviations
_OVH_PERCENTS = (10.0, 50.0)


def normalise_name(name: str) -> str:
    """Organ names compared without case, spaces, ``_`` or ``-`` (``Spinal_Cord`` = ``spinalcord``).

    Examples
    --------
    >>> normalise_name("Spinal_Cord"), normalise_name("spinal cord")
    ('spinalcord', 'spinalcord')
    """
    return re.sub(r"[\s_\-]+", "", name).casefold()


@dataclass(frozen=True, kw_only=True, slots=True)
class CaseDescriptor:
    """What similarity looks at in one study.

    Attributes
    ----------
    study_key, folder : str
    target : str or None
        Primary target name.
    target_volume_cc : float or None
    site : str or None
        Nearest bone of the target.
    bone_distance_mm : float or None
        Minimum distance from the target to that bone.
    ovh_mm : dict of str to dict of float to float
        ``{organ (normalised): {percent: distance_mm}}`` relative to the target, with every
        stored percentage (0 is the nearest voxel).
    organ_names : dict of str to str
        Normalised -> name as drawn.
    """

    study_key: str
    folder: str
    target: str | None
    target_volume_cc: float | None
    site: str | None
    bone_distance_mm: float | None
    ovh_mm: dict[str, dict[float, float]] = field(default_factory=dict)
    organ_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Driver:
    """One feature's part in a match.

    Attributes
    ----------
    feature : str
        ``"target_volume_cc"``, ``"site"``, ``"bone_distance_mm"`` or
        ``"ovh_<organ>_r<percent>_mm"``.
    query, case : float, str or None
        The two values compared.
    delta : float
        Standardised difference.
    share : float
        Share of the squared distance, 0 to 1.
    """

    feature: str
    query: float | str | None
    case: float | str | None
    delta: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {
            "feature": self.feature,
            "query": self.query,
            "case": self.case,
            "delta": round(self.delta, 4),
            "share": round(self.share, 4),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class SimilarCase:
    """A comparable prior study.

    Attributes
    ----------
    study_key, folder : str
    distance : float
        Standardised distance (0: identical in every feature compared).
    drivers : tuple of Driver
        Features by decreasing share of the distance.
    site : str or None
    target_volume_cc : float or None
    has_dose : bool
    """

    study_key: str
    folder: str
    distance: float
    drivers: tuple[Driver, ...]
    site: str | None
    target_volume_cc: float | None
    has_dose: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (what ``rtplan library similar --json`` prints)."""
        return {
            "study_key": self.study_key,
            "path": self.folder,
            "distance": round(self.distance, 4),
            "site": self.site,
            "target_volume_cc": self.target_volume_cc,
            "has_dose": self.has_dose,
            "drivers": [d.to_dict() for d in self.drivers],
        }


# ---------------------------------------------------------------------------- descriptors
def _descriptors(lib: Library, keys: Sequence[str] | None = None) -> dict[str, CaseDescriptor]:
    where = "s.status = 'ok'"
    params: list[Any] = []
    if keys is not None:
        where += " AND s.study_key IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(keys))
    base = lib.query(
        "SELECT s.study_key, s.folder, s.target, s.target_site, "
        "max(f.value) FILTER (WHERE f.feature = 'target.volume_cc') AS volume, "
        "max(f.value) FILTER (WHERE f.feature = 'target.nearest_bone_distance_mm') AS dist "
        f"FROM studies s LEFT JOIN features f USING (study_key) WHERE {where} GROUP BY ALL",
        params,
    )
    ovh: dict[str, dict[str, dict[float, float]]] = {}
    names: dict[str, dict[str, str]] = {}
    for r in lib.query(
        "SELECT o.study_key, o.organ, o.percent, o.distance_mm FROM ovh o JOIN studies s "
        f"ON o.study_key = s.study_key AND o.target = s.target WHERE {where}",
        params,
    ):
        organ = normalise_name(r["organ"])
        ovh.setdefault(r["study_key"], {}).setdefault(organ, {})[float(r["percent"])] = r[
            "distance_mm"
        ]
        names.setdefault(r["study_key"], {})[organ] = r["organ"]
    return {
        r["study_key"]: CaseDescriptor(
            study_key=r["study_key"],
            folder=r["folder"],
            target=r["target"],
            target_volume_cc=r["volume"],
            site=r["target_site"],
            bone_distance_mm=r["dist"],
            ovh_mm=ovh.get(r["study_key"], {}),
            organ_names=names.get(r["study_key"], {}),
        )
        for r in base
    }


def _from_result(result: StudyResult) -> CaseDescriptor:
    if result.status != "ok":
        raise LibraryError(f"{result.folder}: the study cannot be read: {result.error}")
    target = result.study.get("target")
    features = {name: value for name, value, _ in result.rows.get("features", [])}
    ovh: dict[str, dict[float, float]] = {}
    names: dict[str, str] = {}
    for organ, t, percent, distance in result.rows.get("ovh", []):
        if t == target and distance is not None:
            ovh.setdefault(normalise_name(organ), {})[float(percent)] = distance
            names[normalise_name(organ)] = organ
    return CaseDescriptor(
        study_key=result.study_key,
        folder=result.folder,
        target=target,
        target_volume_cc=features.get("target.volume_cc"),
        site=result.study.get("target_site"),
        bone_distance_mm=features.get("target.nearest_bone_distance_mm"),
        ovh_mm=ovh,
        organ_names=names,
    )


def describe(study: str | Path, lib: Library) -> CaseDescriptor:
    """The descriptor of a study: read from the library, or computed from its folder.

    Parameters
    ----------
    study : str or pathlib.Path
        A study key of the library, or a folder holding one study (indexed or not).
    lib : Library

    Returns
    -------
    CaseDescriptor

    Raises
    ------
    LibraryError
        If ``study`` is neither a key nor a folder, or the folder holds no readable study
        or several.
    """
    text = str(study)
    found = _descriptors(lib, [text])
    if text in found:
        return found[text]
    folder = Path(study).resolve()
    if not folder.is_dir():
        raise LibraryError(
            f"{study} is neither a study key of {lib.path} nor a folder; give the folder of a study"
        )
    rows = lib.query(
        "SELECT study_key FROM studies WHERE folder = ? AND status = 'ok'", [str(folder)]
    )
    if len(rows) == 1:
        return _descriptors(lib, [rows[0]["study_key"]])[rows[0]["study_key"]]
    return _from_result(_extract_folder(folder, lib))


def _extract_folder(folder: Path, lib: Library) -> StudyResult:
    """Read and describe the one study of a folder that is not in the library."""
    from rtplan.library._extract import ExtractOptions, process_study
    from rtplan.library._features import resolve_features
    from rtplan.library._scan import group_studies, read_file_rows, walk
    from rtplan.library._schema import meta_value

    salt = meta_value(lib.con, "salt") or ""
    rows = read_file_rows(list(walk(folder)), salt)
    tasks = [t for t in group_studies(rows, salt) if t.series_key]
    if len(tasks) != 1:
        what = "no CT series" if not tasks else f"{len(tasks)} CT series"
        raise LibraryError(
            f"{folder} holds {what}; give the folder of one study (or its study key in {lib.path})"
        )
    options = ExtractOptions(salt=salt, features=resolve_features(["target"]), goals=())
    return process_study(tasks[0], options)


# ---------------------------------------------------------------------------- similarity
def _sd(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return 1.0
    mean = sum(finite) / len(finite)
    var = sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    return math.sqrt(var) if var > 1e-12 else 1.0


def _log(v: float | None) -> float | None:
    return math.log(v) if v is not None and v > 0 else None


@dataclass(frozen=True, slots=True)
class _Scales:
    log_volume: float
    bone_distance: float
    ovh: dict[float, float]

    @classmethod
    def of(cls, cases: Sequence[CaseDescriptor]) -> _Scales:
        per = {
            p: _sd([o[p] for c in cases for o in c.ovh_mm.values() if p in o])
            for p in _OVH_PERCENTS
        }
        return cls(
            log_volume=_sd([v for c in cases if (v := _log(c.target_volume_cc)) is not None]),
            bone_distance=_sd(
                [c.bone_distance_mm for c in cases if c.bone_distance_mm is not None]
            ),
            ovh=per,
        )


def _delta(a: float | None, b: float | None, scale: float) -> float:
    if a is None or b is None:
        return _MISSING
    return (a - b) / scale


def _terms(q: CaseDescriptor, c: CaseDescriptor, s: _Scales) -> list[tuple[Driver, float]]:
    """(driver with its delta, weight) of every feature compared."""
    w = SIMILARITY_WEIGHTS
    terms = [
        (Driver(feature="target_volume_cc", query=q.target_volume_cc, case=c.target_volume_cc,
                delta=_delta(_log(q.target_volume_cc), _log(c.target_volume_cc), s.log_volume),
                share=0.0), w["target_volume"]),
        (Driver(feature="site", query=q.site, case=c.site,
                delta=0.0 if q.site is not None and q.site == c.site else _MISSING, share=0.0),
         w["site"]),
        (Driver(feature="bone_distance_mm", query=q.bone_distance_mm, case=c.bone_distance_mm,
                delta=_delta(q.bone_distance_mm, c.bone_distance_mm, s.bone_distance),
                share=0.0), w["bone_distance"]),
    ]  # fmt: skip
    organs = sorted(q.ovh_mm)
    for organ in organs:
        for p in _OVH_PERCENTS:
            a = q.ovh_mm[organ].get(p)
            b = c.ovh_mm.get(organ, {}).get(p)
            label = f"ovh_{q.organ_names.get(organ, organ)}_r{p:g}_mm"
            terms.append(
                (Driver(feature=label, query=a, case=b, delta=_delta(a, b, s.ovh[p]), share=0.0),
                 w["ovh"] / (len(organs) * len(_OVH_PERCENTS)))
            )  # fmt: skip
    return terms


def _compare(q: CaseDescriptor, c: CaseDescriptor, s: _Scales) -> tuple[float, tuple[Driver, ...]]:
    terms = _terms(q, c, s)
    parts = [w * d.delta**2 for d, w in terms]
    total = sum(parts)
    distance = math.sqrt(total / sum(w for _, w in terms))
    drivers = [
        Driver(feature=d.feature, query=d.query, case=d.case, delta=d.delta,
               share=p / total if total > 0 else 0.0)
        for (d, _), p in zip(terms, parts, strict=True)
    ]  # fmt: skip
    drivers.sort(key=lambda d: -d.share)
    return distance, tuple(drivers)


def _planned(lib: Library) -> set[str]:
    return {
        r["study_key"]
        for r in lib.query("SELECT DISTINCT study_key FROM dvh JOIN studies USING (study_key) "
                           "WHERE prescription_gy IS NOT NULL")
    }  # fmt: skip


def similar(
    study: str | Path, db: str | Path | Library, *, k: int = 5, with_dose: bool = False
) -> list[SimilarCase]:
    """The ``k`` library studies most similar to a study (see the module docstring).

    Parameters
    ----------
    study : str or pathlib.Path
        A folder holding one study (in the library or not), or a study key.
    db : str, pathlib.Path or Library
        The library.
    k : int
        Number of cases.
    with_dose : bool
        Only studies with a plan dose and a prescription (for knowledge-based planning).

    Returns
    -------
    list of SimilarCase
        Nearest first; the study itself is left out.

    Raises
    ------
    LibraryError
        If ``k`` < 1, or the study cannot be found or read.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan import library
    >>> tmp = Path(tempfile.mkdtemp())
    >>> studies = library.synthetic_library(tmp / "dicom", 2, junk=False, plan_every=0)
    >>> _ = library.index(tmp / "dicom", tmp / "lib.duckdb", features=["target"])
    >>> [case] = library.similar(studies[0].folder, tmp / "lib.duckdb", k=1)
    >>> case.folder == str(studies[1].folder), case.distance > 0
    (True, True)
    >>> import shutil; shutil.rmtree(tmp)
    """
    if k < 1:
        raise LibraryError(f"k must be 1 or more, got {k}")
    lib = db if isinstance(db, Library) else Library(db)
    try:
        query = describe(study, lib)
        cases = _descriptors(lib)
        planned = _planned(lib)
    finally:
        if lib is not db:
            lib.close()
    scales = _Scales.of(list(cases.values()))
    out = []
    for key, case in cases.items():
        if key == query.study_key or (with_dose and key not in planned):
            continue
        distance, drivers = _compare(query, case, scales)
        out.append(
            SimilarCase(study_key=key, folder=case.folder, distance=distance, drivers=drivers,
                        site=case.site, target_volume_cc=case.target_volume_cc,
                        has_dose=key in planned)
        )  # fmt: skip
    out.sort(key=lambda c: (c.distance, c.folder, c.study_key))
    return out[:k]


# ---------------------------------------------------------------------------- prediction
@dataclass(frozen=True, kw_only=True, slots=True)
class OrganPrediction:
    """The dose an organ can be held to, from prior plans (Wu et al. 2009).

    Attributes
    ----------
    organ : str
    percent : float
        Volume fraction ``v`` (0: the maximum dose).
    distance_mm : float
        The new patient's OVH distance ``r_v``.
    dose_percent_rx : float or None
        Lowest ``D_v`` (% of prescription) of the prior plans whose ``r_v`` was no greater;
        ``None`` when no prior plan qualifies.
    dose_gy : float or None
        The same in Gy, for the new patient's prescription.
    source_folder : str or None
        The prior study that achieved it.
    n_priors : int
        Prior plans with this organ; ``n_qualifying`` of them qualified.
    n_qualifying : int
    """

    organ: str
    percent: float
    distance_mm: float
    dose_percent_rx: float | None
    dose_gy: float | None
    source_folder: str | None
    n_priors: int
    n_qualifying: int


@dataclass(frozen=True, kw_only=True, slots=True)
class KnowledgeBasedGoals:
    """Goals for a new patient from what similar past plans achieved.

    Attributes
    ----------
    goals : tuple of str
        In rtplan's goal syntax (``"SpinalCord Dmax <= 14.0 Gy"``), for
        :func:`rtplan.evaluate.evaluate_goals`, the review report, or as the constraints
        of an inverse planner (:meth:`clinical_goals`).
    predictions : tuple of OrganPrediction
    prescription_gy : float or None
        The prescription the Gy values are for (``None``: goals in ``%Rx``).
    """

    goals: tuple[str, ...]
    predictions: tuple[OrganPrediction, ...]
    prescription_gy: float | None

    def clinical_goals(self) -> list[ClinicalGoal]:
        """The goals parsed (:func:`rtplan.evaluate.parse_goal`)."""
        from rtplan.evaluate import parse_goal

        return [parse_goal(g) for g in self.goals]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {
            "goals": list(self.goals),
            "prescription_gy": self.prescription_gy,
            "predictions": [
                {f: getattr(p, f) for f in OrganPrediction.__slots__} for p in self.predictions
            ],
        }


def _prior_table(lib: Library, keys: set[str] | None) -> dict[str, dict[str, Any]]:
    """Per prior plan: folder, prescription, organ OVH and DVH by normalised name."""
    priors: dict[str, dict[str, Any]] = {}
    for r in lib.query(
        "SELECT s.study_key, s.folder, s.prescription_gy, o.organ, o.percent, o.distance_mm, "
        "d.dose_gy FROM studies s JOIN ovh o ON o.study_key = s.study_key AND o.target = s.target "
        "JOIN dvh d ON d.study_key = s.study_key AND d.structure = o.organ "
        "AND d.percent = o.percent WHERE s.status = 'ok' AND s.prescription_gy > 0"
    ):
        if keys is not None and r["study_key"] not in keys:
            continue
        p = priors.setdefault(
            r["study_key"], {"folder": r["folder"], "rx": r["prescription_gy"], "organs": {}}
        )
        p["organs"].setdefault(normalise_name(r["organ"]), {})[float(r["percent"])] = (
            r["distance_mm"], r["dose_gy"],
        )  # fmt: skip
    return priors


def _predict_one(
    organ: str, percent: float, r_new: float, priors: dict[str, dict[str, Any]], rx: float | None
) -> OrganPrediction:
    best: tuple[float, str] | None = None
    n_priors = n_ok = 0
    for p in priors.values():
        entry = p["organs"].get(normalise_name(organ), {}).get(percent)
        if entry is None or entry[0] is None or entry[1] is None:
            continue
        n_priors += 1
        if entry[0] <= r_new:
            n_ok += 1
            pct = 100.0 * entry[1] / p["rx"]
            if best is None or pct < best[0]:
                best = (pct, p["folder"])
    return OrganPrediction(
        organ=organ, percent=percent, distance_mm=r_new,
        dose_percent_rx=None if best is None else best[0],
        dose_gy=None if best is None or rx is None else best[0] * rx / 100.0,
        source_folder=None if best is None else best[1], n_priors=n_priors, n_qualifying=n_ok,
    )  # fmt: skip


def _goal_text(p: OrganPrediction) -> str | None:
    if p.dose_percent_rx is None:
        return None
    metric = "Dmax" if p.percent == 0.0 else f"D{p.percent:g}%"
    if p.dose_gy is not None:
        return f"{p.organ} {metric} <= {math.ceil(p.dose_gy * 10.0) / 10.0:.1f} Gy"
    return f"{p.organ} {metric} <= {math.ceil(p.dose_percent_rx * 10.0) / 10.0:.1f} %Rx"


def predict_goals(
    study: str | Path,
    db: str | Path | Library,
    *,
    prescription_gy: float | None = None,
    k: int | None = None,
    percents: Sequence[float] = (0.0, 50.0),
) -> KnowledgeBasedGoals:
    """Organ goals for a new patient from the doses similar past plans achieved.

    OVH-based prediction after Wu et al. (2009): see the module docstring.

    Parameters
    ----------
    study : str or pathlib.Path
        The new patient's study folder (CT and structure set), or a study key.
    db : str, pathlib.Path or Library
        The library (its studies with a plan dose and a prescription are the priors).
    prescription_gy : float, optional
        The new plan's prescription; by default the study's own, else goals are given in
        percent of the prescription (``%Rx``).
    k : int, optional
        Use only the ``k`` most similar prior plans (:func:`similar`); all by default.
    percents : sequence of float
        Volume fractions ``v`` (%, 0 for the maximum dose) from :data:`PERCENTS`.

    Returns
    -------
    KnowledgeBasedGoals

    Raises
    ------
    LibraryError
        If the study cannot be read or a percentage is not stored.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from rtplan import library
    >>> tmp = Path(tempfile.mkdtemp())
    >>> studies = library.synthetic_library(tmp / "dicom", 2, junk=False, plan_every=1,
    ...                                     sites=["thigh"])
    >>> _ = library.index(tmp / "dicom", tmp / "lib.duckdb", features=["target"])
    >>> kbp = library.predict_goals(studies[1].folder, tmp / "lib.duckdb", prescription_gy=50)
    >>> sorted({p.organ for p in kbp.predictions}), all(" <= " in g for g in kbp.goals)
    (['Femur', 'SciaticNerve'], True)
    >>> import shutil; shutil.rmtree(tmp)
    """
    from rtplan.library._extract import PERCENTS

    bad = [p for p in percents if float(p) not in PERCENTS]
    if bad:
        raise LibraryError(f"percents {bad} are not stored; choose from {list(PERCENTS)}")
    lib = db if isinstance(db, Library) else Library(db)
    try:
        query = describe(study, lib)
        keys = None
        if k is not None:
            keys = {c.study_key for c in similar(study, lib, k=k, with_dose=True)}
        priors = _prior_table(lib, keys)
        priors.pop(query.study_key, None)
        if prescription_gy is None:
            own = lib.query(
                "SELECT prescription_gy FROM studies WHERE study_key = ?", [query.study_key]
            )
            prescription_gy = own[0]["prescription_gy"] if own else None
    finally:
        if lib is not db:
            lib.close()
    predictions = [
        _predict_one(query.organ_names.get(o, o), float(p), r[float(p)], priors, prescription_gy)
        for o, r in sorted(query.ovh_mm.items())
        for p in percents
        if r.get(float(p)) is not None
    ]
    goals = tuple(g for p in predictions if (g := _goal_text(p)) is not None)
    return KnowledgeBasedGoals(
        goals=goals, predictions=tuple(predictions), prescription_gy=prescription_gy
    )
