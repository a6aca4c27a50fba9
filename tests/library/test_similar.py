"""Comparable cases and knowledge-based planning goals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import rtplan
from rtplan import library
from rtplan.evaluate import evaluate_goals, parse_goal
from rtplan.library import CaseDescriptor, SyntheticStudy
from rtplan.library._similar import _compare, _predict_one, _Scales
from rtplan.planning import objectives_from_goals


def _case(
    key: str, volume: float, site: str, dist: float, r10: float, r50: float
) -> CaseDescriptor:
    return CaseDescriptor(study_key=key, folder=f"/{key}", target="PTV", target_volume_cc=volume,
                          site=site, bone_distance_mm=dist, ovh_mm={"cord": {10.0: r10, 50.0: r50}},
                          organ_names={"cord": "Cord"})  # fmt: skip


def test_standardised_distance_and_its_drivers() -> None:
    scales = _Scales(log_volume=1.0, bone_distance=10.0, ovh={10.0: 5.0, 50.0: 5.0})
    q = _case("q", 50.0, "Femur", 10.0, 20.0, 30.0)
    assert _compare(q, q, scales)[0] == 0.0
    # only the site differs: delta 2 on weight 2 of 7 in all
    d, drivers = _compare(q, _case("c", 50.0, "Tibia", 10.0, 20.0, 30.0), scales)
    assert d == pytest.approx(math.sqrt(2.0 * 4.0 / 7.0))
    assert drivers[0].feature == "site"
    assert drivers[0].share == pytest.approx(1.0)
    # a volume e times larger: delta 1 on weight 2; OVH 5 mm closer at 10 %: delta 1 on
    # weight 1 (the OVH weight 2 shared by one organ's two distances)
    d, drivers = _compare(q, _case("c", 50.0 * math.e, "Femur", 10.0, 15.0, 30.0), scales)
    assert d == pytest.approx(math.sqrt((2.0 * 1.0 + 1.0 * 1.0) / 7.0))
    assert [x.feature for x in drivers[:2]] == ["target_volume_cc", "ovh_Cord_r10_mm"]
    assert sum(x.share for x in drivers) == pytest.approx(1.0)


def test_similar_cases_of_an_indexed_study(
    synthetic: tuple[Path, list[SyntheticStudy]], indexed: tuple[Path, library.IndexSummary]
) -> None:
    _, studies = synthetic
    db, summary = indexed
    query = next(s for s in studies if s.folder.name.startswith("flat") and not s.broken)
    cases = library.similar(query.folder, db, k=3)
    assert len(cases) == 3
    assert all(str(c.folder) != str(query.folder) for c in cases)
    assert [c.distance for c in cases] == sorted(c.distance for c in cases)
    everything = library.similar(query.folder, db, k=100)
    assert len(everything) == summary.studies - 1
    # the nearest cases share the query's site before any other site comes
    sites = [c.site for c in everything]
    same = [i for i, s in enumerate(sites) if s == query.bone]
    assert same == list(range(len(same)))
    assert set(cases[0].to_dict()) >= {"path", "distance", "drivers"}


def test_prediction_takes_the_best_qualifying_prior_plan() -> None:
    priors = {
        "a": {"folder": "/a", "rx": 50.0, "organs": {"cord": {0.0: (5.0, 40.0)}}},   # 80 %Rx
        "b": {"folder": "/b", "rx": 30.0, "organs": {"cord": {0.0: (8.0, 15.0)}}},   # 50 %Rx
        "c": {"folder": "/c", "rx": 50.0, "organs": {"cord": {0.0: (20.0, 5.0)}}},   # farther
    }  # fmt: skip
    p = _predict_one("Cord", 0.0, 10.0, priors, 60.0)
    assert (p.dose_percent_rx, p.dose_gy, p.source_folder) == (50.0, 30.0, "/b")
    assert (p.n_priors, p.n_qualifying) == (3, 2)
    none = _predict_one("Cord", 0.0, 2.0, priors, 60.0)  # closer than any prior
    assert none.dose_gy is None
    assert none.n_qualifying == 0


def test_knowledge_based_goals_on_analytic_doses(
    planned: tuple[Path, Path, list[SyntheticStudy]],
) -> None:
    _, db, studies = planned
    new = studies[2]
    kbp = library.predict_goals(new.folder, db, prescription_gy=50.0)
    assert kbp.goals, kbp.predictions
    goals = kbp.clinical_goals()
    assert {g.structure for g in goals} <= {"Femur", "SciaticNerve"}
    # every prior's dose falls off as exp(-d / L) with L <= 16 mm beyond one voxel (2.5 mm):
    # a plan whose organ was no nearer than the new one's r gave it at least exp(-r / 8)
    for p in kbp.predictions:
        if p.dose_percent_rx is not None:
            floor = 100.0 * math.exp(-max(p.distance_mm - 2.5, 0.0) / 8.0)
            assert p.dose_percent_rx >= floor - 2.0, p
            assert p.source_folder != str(new.folder)
    # the goals evaluate on the new study's own dose
    s = rtplan.load_study(new.folder)
    table = evaluate_goals(goals, s.doses[0], s.structures, 50.0)
    assert all(math.isfinite(r.measured) for r in table)
    assert parse_goal(kbp.goals[0]).text == kbp.goals[0]
    # and they are the inverse planner's objectives: Dmax a maximum, D50% a DVH maximum
    objectives = objectives_from_goals(kbp.goals, prescription_gy=50.0)
    offered = [p for p in kbp.predictions if p.dose_gy is not None]
    assert [(o.structure, o.kind, o.volume_percent) for o in objectives] == [
        (p.organ, "max" if p.percent == 0.0 else "dvh_max", None if p.percent == 0.0 else 50.0)
        for p in offered
    ]
    for o, p in zip(objectives, offered, strict=True):
        assert p.dose_gy is not None
        assert o.dose_gy == pytest.approx(p.dose_gy, abs=0.1)  # rounded up to 0.1 Gy
        assert o.dose_gy >= p.dose_gy


def test_a_new_patient_outside_the_library(
    indexed: tuple[Path, library.IndexSummary],
    planned: tuple[Path, Path, list[SyntheticStudy]],
    tmp_path: Path,
) -> None:
    [new] = library.synthetic_library(
        tmp_path, 1, seed=99, plan_every=0, junk=False, sites=("thigh",)
    )
    db, summary = indexed
    cases = library.similar(new.folder, db, k=summary.studies)
    assert len(cases) == summary.studies  # nothing of the library is left out
    assert cases[0].site == "Femur"
    _, planned_db, _ = planned
    kbp = library.predict_goals(new.folder, planned_db, prescription_gy=60.0)
    assert {p.organ for p in kbp.predictions} == {"Femur", "SciaticNerve"}
    assert kbp.prescription_gy == 60.0
    for p in kbp.predictions:
        if p.dose_percent_rx is not None:
            assert p.dose_gy == pytest.approx(0.6 * p.dose_percent_rx)
