"""A clinical-size synthetic lumbar spine study for the end-to-end benchmark.

The anatomy is the spine metastasis phantom of ``sample_data/make_phantoms.py`` (imported,
not copied) on a clinical CT grid: 512 x 512 pixels of 0.977 mm (500 mm field of view),
180 slices of 2.5 mm (450 mm), head-first supine. Three changes make it a whole lumbar and
lower thoracic column rather than three vertebrae:

* eleven vertebrae 40 mm apart (bodies 30 mm high) instead of L2-L4, with a disc between
  every pair;
* psoas muscles that taper by 0.1 %/mm instead of 0.4 %/mm, so they stay anatomical over
  450 mm;
* a larger lytic metastasis in the middle vertebral body: GTV an ellipsoid of semi-axes
  17 x 13.5 x 13.5 mm (13.0 cm3), PTV the GTV + 5 mm (31.5 cm3).

Everything else (tissues, HU, noise, body outline, spinal canal and cord, kidneys, bowel,
contours with vertices on the exact surfaces, the check that every ROI covers exactly its
tissues) is the sample phantom's own code. The files are written with pydicom by the
phantom module's writers, so they test rtplan's readers. UIDs derive from the study name,
so they differ from the sample data's.

Run ``python benchmarks/e2e/make_study.py OUTDIR`` to write the study alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

__all__ = ["GRID_SPEC", "build_phantom", "load_phantom_module", "write_study"]

ROOT = Path(__file__).resolve().parents[2]
STUDY_NAME = "e2e_lumbar_spine"


def load_phantom_module() -> ModuleType:
    """Import ``sample_data/make_phantoms.py`` (it is a script, not part of the package)."""
    name = "rtplan_sample_make_phantoms"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "sample_data" / "make_phantoms.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot import sample_data/make_phantoms.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


mp = load_phantom_module()
_SAMPLE_ANATOMY = mp._spine_anatomy

#: 512 x 512 x 180, 0.977 mm pixels, 2.5 mm slices, centred like the sample spine phantom.
GRID_SPEC = mp.GridSpec(
    rows=512,
    columns=512,
    slices=180,
    pixel_spacing_mm=0.977,
    slice_spacing_mm=2.5,
    centre_mm=(0.005, 10.005, -320.25),
)
_LEVELS_MM = {f"V{i:+d}": 40.0 * i for i in range(-5, 6)}  # vertebral body centres (local z)


def _anatomy() -> dict[str, object]:
    solids: dict[str, object] = dict(_SAMPLE_ANATOMY())
    z_half = 0.5 * GRID_SPEC.slices * GRID_SPEC.slice_spacing_mm
    # One disc cylinder along the whole column: the vertebrae are painted over it.
    solids["disc_upper"] = dataclasses.replace(solids["disc_upper"], z_range_mm=(-z_half, z_half))
    solids["disc_lower"] = dataclasses.replace(solids["disc_lower"], z_range_mm=(0.0, 0.0))
    for side in "LR":
        solids[f"psoas_{side}"] = dataclasses.replace(solids[f"psoas_{side}"], taper_per_mm=-0.001)
    solids["gtv"] = mp.Ellipsoid(centre_mm=(3.0, -10.5, 0.0), semi_axes_mm=(17.0, 13.5, 13.5))
    solids["ptv"] = mp.Ellipsoid(centre_mm=(3.0, -10.5, 0.0), semi_axes_mm=(22.0, 18.5, 18.5))
    return solids


@contextlib.contextmanager
def _patched_phantom_module() -> Iterator[None]:
    """Swap the spine phantom's grid, levels and anatomy for the clinical-size ones."""
    saved = {name: getattr(mp, name) for name in ("SPINE_GRID", "_LEVELS_MM", "_spine_anatomy")}
    mp.SPINE_GRID = GRID_SPEC
    mp._LEVELS_MM = _LEVELS_MM
    mp._spine_anatomy = _anatomy
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(mp, name, value)


def build_phantom() -> object:
    """Build the clinical-size phantom (labels ``(180, 512, 512)`` and 13 ROIs).

    The phantom module's own consistency check runs: every ROI covers exactly its tissues.
    """
    with _patched_phantom_module():
        phantom = mp.spine_metastasis.__wrapped__()  # bypass the cache of the sample phantom
    return dataclasses.replace(
        phantom,
        name=STUDY_NAME,
        description="Lumbar and lower thoracic spine, lytic metastasis",
        patient_name="Phantom^E2E Spine",
        patient_id="RTPLAN-E2E-SPINE",
    )


def write_study(folder: Path) -> Path:
    """Write the CT slices and ``RS.dcm`` into ``folder`` (replacing its DICOM files)."""
    return Path(mp.write_phantom(build_phantom(), folder))


if __name__ == "__main__":
    start = time.perf_counter()
    out = write_study(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rtplan-e2e/study"))
    print(f"wrote {out} in {time.perf_counter() - start:.1f} s")
