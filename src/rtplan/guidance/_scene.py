"""The 3D guidance scene: skin, bone, target, organs at risk, an isodose surface, the needle.

Surfaces are extracted from voxel masks (and the dose) by VTK's flying edges in voxel
index space and mapped to patient LPS millimetres through the grid, so they sit exactly
where :meth:`rtplan.Structure.mask` puts the voxels; they are lightly smoothed (Taubin,
which does not shrink) for display only.

Outputs of :class:`Scene`:

* ``.png`` screenshot, rendered off screen (pyvista/VTK). Needs an OpenGL context: an X
  display, EGL (VTK's default wheels use it when no display is set) or OSMesa; when none
  can be made a :class:`~rtplan.errors.MissingDependencyError` says so.
* ``.vtm`` VTK multiblock (one ``.vtp`` per object, colour and opacity in field data),
  for ParaView or 3D Slicer. Needs no OpenGL.
* ``.gltf`` glTF 2.0 with inlined buffers (one file), an interactive 3D format opened by
  web glTF viewers, Blender and 3D Slicer (VTK's glTF exporter).
* ``.html`` self-contained interactive page (vtk.js), optional: it needs the
  ``trame-pyvista`` stack; its absence raises :class:`~rtplan.errors.MissingDependencyError`.

Each output is written atomically (:mod:`rtplan._atomic`): a temporary file renamed over
the target when complete, and the ``.vtm`` with its folder of ``.vtp`` files as one set.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan._atomic import atomic_folder, atomic_path
from rtplan.errors import GeometryError, MissingDependencyError
from rtplan.grid import Grid
from rtplan.guidance._orientation import direction_letters
from rtplan.guidance._trajectory import Trajectory
from rtplan.image import Image
from rtplan.structures import Structure

if TYPE_CHECKING:
    import pyvista

__all__ = ["VIEWS", "Scene", "SceneItem", "SceneStyle", "build_scene"]

logger = logging.getLogger(__name__)

RGB = tuple[int, int, int]

#: Camera directions: name -> (direction from the focal point to the camera, view up), LPS.
VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "anterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "left": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "inferior": ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),  # from the feet, as axial images
    "superior": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
}


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SceneItem:
    """One object of the scene.

    Parameters
    ----------
    name : str
    mesh : pyvista.PolyData
        Surface in LPS mm.
    color : tuple of 3 int
    opacity : float
        0 (invisible) to 1 (opaque).
    """

    name: str
    mesh: pyvista.PolyData
    color: RGB
    opacity: float = 1.0


def _pyvista() -> Any:
    from rtplan._deps import import_optional

    return import_optional("pyvista", extra="scene", purpose="the 3D guidance scene")


@contextlib.contextmanager
def _offscreen_window() -> Iterator[None]:
    """Prefer VTK's EGL window when no X display is set (scoped, restored after)."""
    key = "VTK_DEFAULT_OPENGL_WINDOW"
    headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    old = os.environ.get(key)
    if headless and old is None:
        os.environ[key] = "vtkEGLRenderWindow"
    try:
        yield
    finally:
        if headless and old is None:
            os.environ.pop(key, None)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Scene:
    """A 3D scene ready to render or export.

    Parameters
    ----------
    items : tuple of SceneItem
        Drawn in order.
    focus_mm : numpy.ndarray, shape (3,)
        Point the camera looks at (LPS mm); the camera is then moved along its direction
        so that every object is in view.
    needle_direction : numpy.ndarray, shape (3,), optional
        Unit LPS direction of the needle, for the ``"auto"`` view.
    """

    items: tuple[SceneItem, ...]
    focus_mm: npt.NDArray[np.float64]
    needle_direction: npt.NDArray[np.float64] | None = None

    @property
    def names(self) -> list[str]:
        """Names of the objects."""
        return [i.name for i in self.items]

    def __getitem__(self, name: str) -> SceneItem:
        for i in self.items:
            if i.name == name:
                return i
        raise KeyError(f"no scene object {name!r}; objects: {self.names}")

    def best_view(self) -> str:
        """The view of :data:`VIEWS` most perpendicular to the needle (anterior if none).

        Ties go to the first in :data:`VIEWS` order (anterior, posterior, left, right,
        inferior, superior), so a needle in an axial plane is seen from the feet, as
        radiological axial images show it.
        """
        if self.needle_direction is None:
            return "anterior"
        d = np.asarray(self.needle_direction, dtype=np.float64)
        return min(VIEWS, key=lambda v: abs(float(np.dot(VIEWS[v][0], d))) + 1e-9)

    def plotter(
        self,
        *,
        window_size: tuple[int, int] = (1024, 768),
        view: str = "auto",
        background: RGB = (0, 0, 0),
        legend: bool = True,
    ) -> pyvista.Plotter:
        """An off-screen pyvista Plotter holding the scene.

        Parameters
        ----------
        window_size : tuple of 2 int
            Width and height, px.
        view : str
            Camera direction: one of :data:`VIEWS`, or ``"auto"`` (default) for the one
            most perpendicular to the needle.
        background : tuple of 3 int
        legend : bool
            Name each object in its colour (upper right).

        Returns
        -------
        pyvista.Plotter
        """
        pv = _pyvista()
        view = self.best_view() if view == "auto" else view
        if view not in VIEWS:
            raise GeometryError(
                f"unknown view {view!r}; choose 'auto' or one of {', '.join(VIEWS)}"
            )
        with _offscreen_window():
            pl: pyvista.Plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
        pl.background_color = pv.Color([c / 255.0 for c in background])
        for item in self.items:
            pl.add_mesh(
                item.mesh,
                color=[c / 255.0 for c in item.color],
                opacity=float(item.opacity),
                smooth_shading=True,
                name=item.name,
            )
        if legend:
            shown = [i for i in self.items if i.mesh.n_points > 0 and i.name != "NeedleTip"]
            add_legend: Any = pl.add_legend  # pyvista's decorated signature confuses mypy
            add_legend(
                labels=[[i.name, [c / 255.0 for c in i.color], "rectangle"] for i in shown],
                bcolor=(0.1, 0.1, 0.1),
                border=False,
                size=(0.2, 0.04 * len(shown)),
                loc="upper right",
            )
        direction, up = VIEWS[view]
        focus = np.asarray(self.focus_mm, dtype=np.float64)
        pl.camera_position = [tuple(focus + 1000.0 * np.asarray(direction)), tuple(focus), up]
        pl.renderer.reset_camera()  # keep the direction, fit every object in the window
        right = np.cross(-np.asarray(direction), np.asarray(up))
        pl.add_text(
            f"view: {view}; screen right {direction_letters(right, most=1)}, "
            f"up {direction_letters(up, most=1)}",
            font_size=9,
            color="white",
        )
        return pl

    def screenshot(
        self,
        path: str | Path,
        *,
        window_size: tuple[int, int] = (1024, 768),
        view: str = "auto",
    ) -> Path:
        """Render the scene off screen and save a PNG.

        Parameters
        ----------
        path : str or Path
        window_size : tuple of 2 int
        view : str
            ``"auto"`` or one of :data:`VIEWS`.

        Returns
        -------
        Path

        Raises
        ------
        MissingDependencyError
            If VTK cannot create an OpenGL context here (no X display, no EGL, no OSMesa).
        """
        pl = self.plotter(window_size=window_size, view=view)
        try:
            ren_win = pl.ren_win
            if ren_win is None or not ren_win.SupportsOpenGL():
                raise MissingDependencyError(
                    "the 3D screenshot needs an OpenGL context and VTK could not create one: "
                    "run under an X display, or install EGL (libEGL, e.g. Debian libegl1 with "
                    "a Mesa or NVIDIA driver) or OSMesa (the 'vtk-osmesa' wheel); the .vtm "
                    "export does not need it"
                )
            out = Path(path)
            with atomic_path(out) as tmp:
                pl.screenshot(str(tmp))
        finally:
            pl.close()
        return out

    def save_vtm(self, path: str | Path) -> Path:
        """Save the surfaces as a VTK multiblock (``.vtm`` plus a folder of ``.vtp``).

        Each block carries ``color`` (0-255 RGB) and ``opacity`` in its field data.

        Parameters
        ----------
        path : str or Path
            The ``.vtm`` file.

        Returns
        -------
        Path
        """
        pv = _pyvista()
        out = Path(path)
        if out.suffix != ".vtm":
            raise GeometryError(f"a VTK multiblock file must end in .vtm, got {out.name}")
        blocks = pv.MultiBlock()
        for item in self.items:
            mesh = item.mesh.copy()
            mesh.field_data["color"] = np.asarray(item.color, dtype=np.uint8)
            mesh.field_data["opacity"] = np.asarray([item.opacity], dtype=np.float64)
            blocks.append(mesh, item.name)
        # the .vtm and its folder of .vtp files (named after the .vtm) replace an earlier
        # multiblock of that name together
        with atomic_folder(out.parent, replaces=(f"{out.stem}/*",)) as stage:
            blocks.save(str(stage.path / out.name))
        return out

    def save_gltf(self, path: str | Path, *, view: str = "auto") -> Path:
        """Save the scene as self-contained glTF 2.0 (``.gltf``, buffers inlined).

        Parameters
        ----------
        path : str or Path
        view : str
            Initial camera, one of :data:`VIEWS`.

        Returns
        -------
        Path
        """
        out = Path(path)
        if out.suffix != ".gltf":
            raise GeometryError(f"a glTF file must end in .gltf, got {out.name}")
        pl = self.plotter(view=view, window_size=(640, 480))
        try:
            with atomic_path(out) as tmp:
                pl.export_gltf(str(tmp), inline_data=True)
        finally:
            pl.close()
        return out

    def save_html(self, path: str | Path, *, view: str = "auto") -> Path:
        """Save a self-contained interactive HTML page (vtk.js).

        Parameters
        ----------
        path : str or Path
        view : str
            Initial camera.

        Returns
        -------
        Path

        Raises
        ------
        MissingDependencyError
            If the trame stack (``trame-pyvista``, ``trame-vtk``, ``nest_asyncio2``) that
            pyvista's HTML export needs is not installed.
        """
        from rtplan._deps import import_optional

        for module in ("trame_pyvista", "trame_vtk", "nest_asyncio2"):
            import_optional(module, extra="scene", purpose="the 3D scene's HTML export")
        out = Path(path)
        pl = self.plotter(view=view)
        try:
            with atomic_path(out) as tmp:
                pl.trame.export_html(str(tmp))
        finally:
            pl.close()
        return out


# ============================================================================ surfaces
def _surface_from_volume(
    values: npt.NDArray[Any], grid: Grid, level: float, *, smooth: bool = True
) -> pyvista.PolyData:
    """Iso-surface of a volume at ``level``, in LPS mm."""
    pv = _pyvista()
    arr = np.asarray(values, dtype=np.float32)
    if arr.size == 0 or not np.any(arr >= level):
        nothing: pyvista.PolyData = pv.PolyData()
        return nothing
    # crop to the part above the level (plus a margin) to keep the contouring small
    idx = np.argwhere(arr >= level)
    lo = np.maximum(idx.min(axis=0) - 2, 0)
    hi = np.minimum(idx.max(axis=0) + 3, arr.shape)
    sub = np.pad(arr[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], 1, constant_values=-1e30)
    img = pv.ImageData(dimensions=(sub.shape[2], sub.shape[1], sub.shape[0]))
    img.point_data["v"] = sub.ravel(order="C")
    surf: pyvista.PolyData = img.contour([level], scalars="v", method="flying_edges")
    if surf.n_points == 0:
        empty: pyvista.PolyData = pv.PolyData()
        return empty
    ijk = np.asarray(surf.points, dtype=np.float64) - 1.0 + lo[::-1]
    surf.points = grid.index_to_mm(ijk)
    surf = surf.clean()
    if smooth and surf.n_points > 10:
        surf = surf.smooth_taubin(n_iter=20, pass_band=0.1)
    if surf.n_cells > 300_000:
        surf = surf.decimate(1.0 - 300_000 / surf.n_cells)
    out: pyvista.PolyData = surf.compute_normals(auto_orient_normals=False)
    return out


def _mask_surface(mask: npt.NDArray[np.bool_], grid: Grid) -> pyvista.PolyData:
    return _surface_from_volume(mask.astype(np.float32), grid, 0.5)


@dataclass(frozen=True, kw_only=True, slots=True)
class SceneStyle:
    """How :func:`build_scene` draws: the isodose level, the needle, the skin.

    Parameters
    ----------
    isodose_percent : float
        Level of the isodose surface, percent of prescription.
    needle_radius_mm : float
        Radius of the needle tube (0.8 mm is about a 14-gauge needle).
    skin_opacity : float
        Opacity of the skin, in [0, 1].

    Raises
    ------
    GeometryError
        If a value is out of range.

    Examples
    --------
    >>> from rtplan.guidance import SceneStyle
    >>> SceneStyle(isodose_percent=50.0).needle_radius_mm
    0.8
    """

    isodose_percent: float = 100.0
    needle_radius_mm: float = 0.8
    skin_opacity: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.skin_opacity <= 1.0:
            raise GeometryError(f"skin_opacity must lie in [0, 1], got {self.skin_opacity}")
        if not self.needle_radius_mm > 0:
            raise GeometryError(f"needle_radius_mm must be positive, got {self.needle_radius_mm}")
        if not self.isodose_percent > 0:
            raise GeometryError(f"isodose_percent must be positive, got {self.isodose_percent}")


def build_scene(
    ct: Image,
    *,
    trajectory: Trajectory | None = None,
    target: Structure | None = None,
    structures: Sequence[Structure] = (),
    body: Structure | None = None,
    bone: Structure | None = None,
    dose: Image | None = None,
    prescription_gy: float | None = None,
    style: SceneStyle | None = None,
) -> Scene:
    """Assemble the 3D guidance scene.

    Parameters
    ----------
    ct : Image
        CT in HU (for the automatic skin and bone).
    trajectory : Trajectory, optional
        Drawn as a tube from entry to target, with a sphere at the tip.
    target : Structure, optional
        Drawn opaque red.
    structures : sequence of Structure
        Organs at risk, in their ROI colours, half transparent.
    body : Structure, optional
        Skin surface (semi-transparent); the automatic body outline when omitted.
    bone : Structure, optional
        Bone surface; the automatic bone (:func:`rtplan.tissue.bone_mask`) when omitted.
    dose : Image, optional
        Dose in Gy; its isodose surface at ``style.isodose_percent`` is drawn.
    prescription_gy : float, optional
        100 % level; the dose maximum by default.
    style : SceneStyle, optional
        Isodose level, needle radius and skin opacity; the defaults of
        :class:`SceneStyle` when omitted.

    Returns
    -------
    Scene

    Raises
    ------
    GeometryError
        If the prescription (or dose maximum) is not positive.
    MissingDependencyError
        If pyvista is not installed.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.guidance import build_scene
    >>> thigh = rtplan.load_study(rtplan.data.get_path("thigh_sarcoma"))
    >>> s = thigh.structures
    >>> scene = build_scene(thigh.ct, target=s["GTV"], body=s["Body"], bone=s["Femur"])
    >>> scene.names
    ['Skin', 'Bone', 'GTV']
    """
    from rtplan import tissue

    pv = _pyvista()
    style = style if style is not None else SceneStyle()
    grid = ct.grid
    items: list[SceneItem] = []
    body_mask = body.mask(grid) if body is not None else tissue.body_mask(ct)
    items.append(
        SceneItem(
            name="Skin",
            mesh=_mask_surface(body_mask, grid),
            color=(230, 190, 160),
            opacity=style.skin_opacity,
        )
    )
    if bone is not None:
        bone_mask = bone.mask(grid)
        bone_color = bone.color
    else:
        bone_mask = tissue.bone_mask(ct, body_mask)
        bone_color = (241, 214, 145)
    items.append(
        SceneItem(name="Bone", mesh=_mask_surface(bone_mask, grid), color=bone_color, opacity=0.5)
    )
    for s in structures:
        items.append(
            SceneItem(
                name=s.name, mesh=_mask_surface(s.mask(grid), grid), color=s.color, opacity=0.6
            )
        )
    if target is not None:
        items.append(
            SceneItem(
                name=target.name,
                mesh=_mask_surface(target.mask(grid), grid),
                color=(255, 40, 40),
                opacity=1.0,
            )
        )
    if dose is not None:
        dmax = float(np.max(dose.array)) if dose.array.size else 0.0
        rx = float(prescription_gy) if prescription_gy is not None else dmax
        if rx <= 0:
            raise GeometryError("the prescription (or dose maximum) must be positive")
        level = rx * style.isodose_percent / 100.0
        items.append(
            SceneItem(
                name=f"Isodose {style.isodose_percent:g}%",
                mesh=_surface_from_volume(np.asarray(dose.array), dose.grid, level),
                color=(255, 255, 0),
                opacity=0.35,
            )
        )
    if trajectory is not None:
        tube = pv.Tube(
            pointa=tuple(trajectory.entry_mm),
            pointb=tuple(trajectory.target_mm),
            radius=style.needle_radius_mm,
            n_sides=24,
            capping=True,
        )
        items.append(SceneItem(name="Needle", mesh=tube.triangulate(), color=(0, 255, 255)))
        tip = pv.Sphere(radius=2.5 * style.needle_radius_mm, center=tuple(trajectory.target_mm))
        items.append(SceneItem(name="NeedleTip", mesh=tip, color=(255, 60, 60)))
        focus = 0.5 * (trajectory.entry_mm + trajectory.target_mm)
    elif target is not None:
        focus = np.asarray(target.centroid_mm)
    else:
        focus = grid.index_to_mm((np.asarray(grid.shape_ijk) - 1) / 2.0)
    return Scene(
        items=tuple(items),
        focus_mm=np.asarray(focus, dtype=np.float64),
        needle_direction=None if trajectory is None else trajectory.direction,
    )
