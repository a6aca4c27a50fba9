"""The public API as DESIGN.md writes it, run on the bundled sample study."""

from __future__ import annotations

import enum
import importlib
import inspect
import pickle
import pkgutil
import pydoc
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rtplan


def test_design_api_walkthrough(tmp_path: Path) -> None:
    study = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    ct = study.ct
    assert isinstance(ct, rtplan.Image)
    assert ct.array.shape == ct.grid.shape
    ijk = np.array([[3.0, 4.0, 5.0]])
    np.testing.assert_allclose(ct.grid.mm_to_index(ct.grid.index_to_mm(ijk)), ijk)
    assert ct.sample(ct.grid.index_to_mm(ijk)).shape == (1,)

    ptv = study.structures["PTV"]
    assert ptv.mask(ct.grid).any()
    assert ptv.volume_cc > 0
    assert ptv.centroid_mm.shape == (3,)
    ring = ptv.expand(10.0) - ptv
    assert ring.volume_cc > 0
    assert ptv.distance_to(study.structures["Femur"]) >= 0.0
    h_ovh = rtplan.ovh(study.structures["Femur"], ptv)
    assert h_ovh is not None
    assert ptv.mesh().n_points > 0

    assert float(np.nanmean(rtplan.tissue.density(ct).array)) > 0
    auto = rtplan.tissue.auto_structures(ct)
    assert {"Body", "Bone", "Muscle"} <= set(auto)

    beam = rtplan.Beam(
        energy="6X",
        gantry_deg=0.0,
        collimator_deg=0.0,
        couch_deg=0.0,
        isocenter_mm=tuple(ptv.centroid_mm),
        sad_mm=1000.0,
        jaws_mm=(-50.0, 50.0, -50.0, 50.0),
        mu=100.0,
    )
    plan = rtplan.Plan(beams=[beam], prescription_gy=30.0, fractions=10)
    dose = rtplan.compute_dose(plan, ct, engine="pencil-beam")
    assert isinstance(dose, rtplan.Dose)
    assert dose.max_gy > 0
    plan = rtplan.Plan.conformal(
        ptv, gantry_angles_deg=[0, 120, 240], energy="6X", prescription_gy=30.0, fractions=10
    )
    assert len(plan.beams) == 3

    h = rtplan.dvh(dose, ptv)
    assert h.volume_cc == pytest.approx(ptv.volume_cc, rel=0.02)
    assert 0 <= h.D(95) <= h.mean_gy <= dose.max_gy + 1e-9
    assert 0 <= h.V(20.0) <= 100
    g = rtplan.gamma(dose, dose, dose_percent=3, distance_mm=2, threshold_percent=10)
    assert g.pass_rate == pytest.approx(100.0)

    out = rtplan.io.write_rtdose(dose, tmp_path / "rtdose.dcm", reference=ct)
    assert rtplan.io.read_rtdose(out).max_gy == pytest.approx(dose.max_gy, rel=1e-6)
    rtplan.io.write_rtplan(plan, tmp_path / "rtplan.dcm", reference=ct)
    rtplan.io.write_rtstruct(study.structures, tmp_path / "rtstruct.dcm", reference=ct)


def test_design_api_guidance_walkthrough() -> None:
    study = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    ct, s = study.ct, study.structures
    gtv, cord, bone = s["GTV"], s["SpinalCord"], s["Kidney_L"]
    paths = rtplan.plan_trajectory(ct, target=gtv, avoid=[cord, bone], max_length_mm=150)
    assert paths[0].length_mm <= 150
    assert min(paths[0].clearance_mm.values()) >= 0
    assert paths[0].entry_mm.shape == (3,)
    assert paths[0].target_mm.shape == (3,)
    z = float(paths[0].target_mm[2])
    rgb = rtplan.render_overlay(ct, plane="axial", at_mm=z, structures=[gtv], trajectory=paths[0])
    assert rgb.dtype == np.uint8
    assert rgb.ndim == 3


# --- every public name documented where users import it ------------------------------------

PUBLIC_PACKAGES = (
    "rtplan",
    "rtplan.data",
    "rtplan.dose",
    "rtplan.dose.machines",
    "rtplan.enum",
    "rtplan.errors",
    "rtplan.evaluate",
    "rtplan.geometry",
    "rtplan.geometry.rasterize",
    "rtplan.grid",
    "rtplan.guidance",
    "rtplan.image",
    "rtplan.io",
    "rtplan.io.study",
    "rtplan.library",
    "rtplan.plan",
    "rtplan.planning",
    "rtplan.plugins",
    "rtplan.report",
    "rtplan.structures",
    "rtplan.testing",
    "rtplan.tissue",
)


def _public_objects(package: str) -> list[tuple[str, Any]]:
    """The functions and classes a public package exports (its ``__all__``)."""
    module = importlib.import_module(package)
    out = []
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isroutine(value):
            out.append((name, value))
    return out


def test_every_public_package_is_audited() -> None:
    """A new public module is added to PUBLIC_PACKAGES (or made private)."""
    found = {
        m.name
        for m in pkgutil.walk_packages(rtplan.__path__, "rtplan.")
        if not any(part.startswith("_") for part in m.name.split("."))
        and not m.name.startswith("rtplan.cli")
        and hasattr(importlib.import_module(m.name), "__all__")
        and any(True for _ in _public_objects(m.name))
    }
    assert found - set(PUBLIC_PACKAGES) <= {
        "rtplan.io.capture",
        "rtplan.io.ct",
        "rtplan.io.deidentify",
        "rtplan.io.rtdose",
        "rtplan.io.rtplan",
        "rtplan.io.rtstruct",
        "rtplan.io.rtutils",
    }  # fmt: skip  (modules of their own: their names are defined there)


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_public_names_report_a_public_module(package: str) -> None:
    private = [
        f"{name}: {value.__module__}"
        for name, value in _public_objects(package)
        if any(part.startswith("_") for part in str(value.__module__).split("."))
    ]
    assert private == []


def test_top_level_names_report_their_subpackage() -> None:
    assert rtplan.compute_dose.__module__ == "rtplan.dose"
    assert rtplan.dvh.__module__ == "rtplan.evaluate"
    assert rtplan.ovh.__module__ == "rtplan.geometry"
    assert rtplan.render_overlay.__module__ == "rtplan.guidance"
    assert rtplan.io.atomic_open.__module__ == "rtplan.io"  # defined in rtplan._atomic


_SECTION = re.compile(r"^(Parameters|Returns|Yields|Attributes)\n-{3,}$", re.MULTILINE)


def _missing_sections(value: Any) -> list[str]:
    """What the numpydoc docstring of a public function or class lacks.

    The rule: a docstring; a function documents every named parameter in ``Parameters``
    and, unless it returns None (or is a context manager yielding None), has ``Returns``
    or ``Yields``; a class whose constructor takes arguments has ``Parameters`` or
    ``Attributes`` (enums, exceptions and protocols excepted).
    """
    from numpydoc.docscrape import FunctionDoc

    doc = inspect.getdoc(value) or ""
    if not doc.strip():
        return ["docstring"]
    found = set(_SECTION.findall(doc))
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return []
    named = [
        p.name
        for p in signature.parameters.values()
        if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if inspect.isclass(value):
        if issubclass(value, (enum.Enum, BaseException)) or getattr(value, "_is_protocol", False):
            return []
        return (
            ["Parameters or Attributes"]
            if named and not found & {"Parameters", "Attributes"}
            else []
        )
    missing = []
    documented = {
        part.strip().lstrip("*")
        for p in FunctionDoc(value)["Parameters"]
        for part in p.name.split(",")
    }
    missing += [f"parameter {n}" for n in named if n not in documented]
    returned = signature.return_annotation
    if returned not in ("None", None, inspect.Signature.empty, "Iterator[None]") and not (
        found & {"Returns", "Yields"}
    ):
        missing.append(f"Returns ({returned})")
    return missing


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_public_docstrings_are_complete(package: str) -> None:
    lacking = {
        name: missing
        for name, value in _public_objects(package)
        if (missing := _missing_sections(value))
    }
    assert lacking == {}


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_help_renders_without_private_modules(package: str) -> None:
    for name, value in _public_objects(package):
        text = pydoc.render_doc(value, renderer=pydoc.plaintext)
        title = text.splitlines()[0]  # "... function f in module rtplan.x"
        assert name in text
        assert "._" not in title, title
        if value.__module__ == package:
            assert f"in module {package}" in title


def test_pickled_public_objects_refer_to_public_modules() -> None:
    from rtplan.evaluate import DVH
    from rtplan.guidance import OverlayStyle
    from rtplan.report import BeamGeometry, CouchShift, couch_shift
    from rtplan.testing import PixelEncoding

    values = [
        couch_shift((10.0, 20.0, 30.0)),
        BeamGeometry(ssd_mm=900.0, depth_mm=100.0, entry_mm=(0.0, 0.0, 0.0)),
        OverlayStyle(isodose_percent=(95.0, 50.0)),
        PixelEncoding(),
        DVH(name="PTV", bin_edges_gy=np.array([0.0, 1.0, 2.0]),
            differential=np.array([0.25, 0.75]), volume_cc=8.0),
        rtplan.enum.Window.BONE,
        rtplan.compute_dose,
        CouchShift,
    ]  # fmt: skip
    for value in values:
        data = pickle.dumps(value)
        back = pickle.loads(data)
        kind = value if inspect.isclass(value) or inspect.isroutine(value) else type(value)
        assert f"{kind.__module__}".encode() in data
        assert b"._" not in data.split(b"numpy")[0]  # no private rtplan module named
        if isinstance(value, DVH):
            np.testing.assert_array_equal(back.cumulative_cc, value.cumulative_cc)
        elif inspect.isclass(value) or inspect.isroutine(value):
            assert back is value
        else:
            assert repr(back) == repr(value)
            assert type(back) is type(value)


def test_numba_kernels_behind_published_names_still_run() -> None:
    mask = np.zeros((5, 9, 9), dtype=bool)
    mask[2, 4, 4] = True
    grown = rtplan.geometry.dilate_mask(mask, 2.0, spacing_mm=(1.0, 1.0, 1.0))
    assert grown.sum() == 33  # the voxels within 2 mm of one voxel (a digital ball)
    distance = rtplan.geometry.distance_map(mask, spacing_mm=(1.0, 1.0, 1.0))
    assert distance[2, 4, 6] == pytest.approx(2.0)
    assert distance[0, 0, 0] == pytest.approx(float(np.sqrt(4 + 16 + 16)))


def test_publish_in_a_lazy_package_and_across_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    from rtplan._public import publish

    impl = types.ModuleType("fakepkg._impl")
    other = types.ModuleType("otherpkg._impl")
    exec(
        "def f(x):\n    '''F.'''\n    return x\nclass C:\n    def m(self):\n        '''M.'''\n",
        impl.__dict__,
    )
    exec("def g():\n    return 1\n", other.__dict__)
    pkg = types.ModuleType("fakepkg")

    def lazy(name: str) -> Any:
        if name in ("f", "C"):
            return getattr(impl, name)
        raise AttributeError(name)

    pkg.__dict__.update(__getattr__=lazy, g=other.g)
    for name, module in (("fakepkg", pkg), ("fakepkg._impl", impl), ("otherpkg._impl", other)):
        monkeypatch.setitem(sys.modules, name, module)
    publish("fakepkg", ["f", "C", "g"])
    assert other.g.__module__ == "otherpkg._impl"  # another package's: left alone
    assert impl.f.__module__ == "fakepkg._impl"  # not loaded yet
    assert pkg.f.__module__ == "fakepkg"  # published when loaded
    tests = pkg.__test__  # doctest's question loads every name, methods included
    assert impl.C.__module__ == "fakepkg"
    assert set(tests) == {"f", "C", "C.m"}
