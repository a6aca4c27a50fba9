"""The fixed vocabularies: members are their strings, lookup forgives spelling, errors list."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from rtplan.enum import Approach, Engine, Normalization, Plane, Window
from rtplan.errors import DoseEngineError, GeometryError, PlanError, RtplanError

VOCABULARIES = {
    Plane: ("axial", "coronal", "sagittal", "oblique", "oblique_orthogonal"),
    Window: ("soft_tissue", "bone", "bone_narrow", "lung"),
    Approach: ("left", "right", "anterior", "posterior", "superior", "inferior"),
    Normalization: ("none", "mean", "d95", "isocenter"),
    Engine: ("collapsed-cone", "pencil-beam"),
}


@pytest.mark.parametrize("vocabulary", list(VOCABULARIES))
def test_values_and_round_trip(vocabulary):
    assert vocabulary.choices() == VOCABULARIES[vocabulary]
    for member in vocabulary:
        assert vocabulary(member.value) is member
        assert vocabulary(member) is member
        assert vocabulary.parse(member.value) is member
        assert member == member.value
        assert isinstance(member, str)
        assert f"{member}" == member.value
        assert pickle.loads(pickle.dumps(member)) is member


@pytest.mark.parametrize(
    ("vocabulary", "spelling", "member"),
    [
        (Plane, " Axial ", Plane.AXIAL),
        (Plane, "oblique-orthogonal", Plane.OBLIQUE_ORTHOGONAL),
        (Window, "Soft Tissue", Window.SOFT_TISSUE),
        (Window, "BONE_NARROW", Window.BONE_NARROW),
        (Approach, "Posterior", Approach.POSTERIOR),
        (Normalization, "D95", Normalization.D95),
        (Engine, "collapsed_cone", Engine.COLLAPSED_CONE),
        (Engine, "Pencil beam", Engine.PENCIL_BEAM),
    ],
)
def test_spelling_is_forgiven(vocabulary, spelling, member):
    assert vocabulary(spelling) is member


@pytest.mark.parametrize(
    ("vocabulary", "error", "message"),
    [
        (Plane, GeometryError, r"unknown plane 'nope'; choose one of axial, coronal, sagittal"),
        (Window, GeometryError, r"unknown window 'nope'; choose one of soft_tissue, bone"),
        (Approach, GeometryError, r"unknown approach 'nope'; choose one of left, right"),
        (Normalization, PlanError, r"unknown normalization 'nope'; choose one of none, mean"),
        (Engine, DoseEngineError, r"unknown dose engine 'nope'; choose one of collapsed-cone"),
    ],
)
def test_unknown_word_lists_the_choices(vocabulary, error, message):
    with pytest.raises(error, match=message):
        vocabulary("nope")
    with pytest.raises(RtplanError, match="choose one of"):
        vocabulary.parse(3)


def test_window_presets_in_hu():
    # customary CT presets (width, level): soft tissue W400/L40, lung W1500/L-600
    assert (Window.SOFT_TISSUE.width_hu, Window.SOFT_TISSUE.level_hu) == (400.0, 40.0)
    assert (Window.LUNG.width_hu, Window.LUNG.level_hu) == (1500.0, -600.0)
    assert (Window.BONE.width_hu, Window.BONE.level_hu) == (2000.0, 500.0)
    assert (Window.BONE_NARROW.width_hu, Window.BONE_NARROW.level_hu) == (1500.0, 300.0)


def test_approach_directions_follow_lps():
    # LPS: +x towards the patient's left, +y posterior, +z superior
    d = {a: np.asarray(a.direction) for a in Approach}
    np.testing.assert_array_equal(d[Approach.LEFT], [1, 0, 0])
    np.testing.assert_array_equal(d[Approach.POSTERIOR], [0, 1, 0])
    np.testing.assert_array_equal(d[Approach.SUPERIOR], [0, 0, 1])
    for a, b in [("left", "right"), ("anterior", "posterior"), ("superior", "inferior")]:
        np.testing.assert_array_equal(d[Approach(a)], -d[Approach(b)])


def test_oblique_planes():
    assert {p for p in Plane if p.is_oblique} == {Plane.OBLIQUE, Plane.OBLIQUE_ORTHOGONAL}


def test_engine_lookup_keeps_plugin_names():
    assert Engine.lookup(" Pencil-Beam") is Engine.PENCIL_BEAM
    assert Engine.lookup(Engine.COLLAPSED_CONE) is Engine.COLLAPSED_CONE
    assert Engine.lookup(" geant4 ") == "geant4"
    assert not isinstance(Engine.lookup("geant4"), Engine)
