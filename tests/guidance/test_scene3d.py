"""The 3D scene: surfaces in patient mm, exports, off-screen screenshot."""

from __future__ import annotations

import numpy as np
import pytest

from rtplan import Dose
from rtplan.errors import MissingDependencyError
from rtplan.guidance import SceneStyle, Trajectory, build_scene
from rtplan.testing import CylinderPhantom as Phantom


@pytest.fixture(scope="module")
def scene(phantom: Phantom):  # type: ignore[no-untyped-def]
    c = phantom.ct.grid.centers_mm()
    dose = Dose(
        array=30.0 * np.exp(-(c[..., 0] ** 2 + c[..., 1] ** 2) / 200.0), grid=phantom.ct.grid
    )
    needle = Trajectory(
        entry_mm=[-50.0, -10.0, 0.0],
        target_mm=[-2.0, 3.0, 0.0],
        clearance_mm={},
        required_clearance_mm={},
        in_plane_deg=0,
        out_of_plane_deg=0,
        tissue_fraction={},
    )
    return build_scene(
        phantom.ct,
        trajectory=needle,
        target=phantom.gtv,
        structures=[phantom.canal],
        body=phantom.body,
        bone=phantom.bone,
        dose=dose,
        prescription_gy=30.0,
        style=SceneStyle(isodose_percent=50.0),
    )


def test_surfaces_sit_where_the_masks_are(scene) -> None:  # type: ignore[no-untyped-def]
    assert scene.names == [
        "Skin",
        "Bone",
        "SpinalCanal",
        "GTV",
        "Isodose 50%",
        "Needle",
        "NeedleTip",
    ]
    bone = np.asarray(scene["Bone"].mesh.points)
    r = np.hypot(bone[:, 0], bone[:, 1] - 5.0)
    # the 14 mm bone cylinder's surface, within a voxel (and the Taubin smoothing)
    inner = np.abs(bone[:, 2]) < 20  # away from the image's end faces
    assert np.abs(r[inner] - 14.0).max() < 1.0
    iso = np.asarray(scene["Isodose 50%"].mesh.points)
    r50 = np.sqrt(200.0 * np.log(2.0))  # 30 exp(-r²/200) = 15 Gy
    ri = np.hypot(iso[:, 0], iso[:, 1])
    assert np.abs(ri[np.abs(iso[:, 2]) < 20] - r50).max() < 1.0
    needle = np.asarray(scene["Needle"].mesh.points)
    assert needle[:, 0].min() == pytest.approx(-50.0, abs=1.0)
    assert scene.best_view() == "inferior"  # needle in an axial plane: seen from the feet


def test_exports(scene, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyvista as pv

    vtm = scene.save_vtm(tmp_path / "scene.vtm")
    blocks = pv.read(vtm)
    assert blocks.keys() == scene.names
    assert list(blocks["GTV"].field_data["color"]) == [255, 40, 40]
    import json

    gltf = json.loads(scene.save_gltf(tmp_path / "scene.gltf").read_text())
    assert gltf["asset"]["version"] == "2.0"
    assert len(gltf["meshes"]) >= len(scene.names)
    assert all(b["uri"].startswith("data:") for b in gltf["buffers"])  # one self-contained file
    png = scene.screenshot(tmp_path / "scene.png", window_size=(320, 240))
    from PIL import Image as PILImage

    img = np.asarray(PILImage.open(png).convert("RGB"))
    assert img.shape == (240, 320, 3)
    assert (img.reshape(-1, 3).max(axis=1) > 40).mean() > 0.05  # something was drawn
    try:
        import trame_pyvista  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="trame"):
            scene.save_html(tmp_path / "scene.html")
    else:  # the `scene` extra is installed: the interactive page is written
        html = scene.save_html(tmp_path / "scene.html").read_text(encoding="utf-8")
        assert "<html" in html.lower()
        assert len(html) > 10_000
