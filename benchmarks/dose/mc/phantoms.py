"""The Monte Carlo reference cases: phantoms, beams and scoring bins.

Shared by ``run_reference.py`` (Geant4) and ``compare.py`` (rtplan's engines), so both see
the same phantom. Frame: DICOM patient coordinates (LPS, mm), head-first supine. Every
phantom's anterior surface is the plane ``y = 0``; depth is ``+y``. The beam is gantry 0
(source at ``y = -1000`` mm), isocentre ``(0, 0, 0)`` on the surface: SSD 100 cm.

Materials follow rtplan's tissue model, so the Monte Carlo and the engines see the same
medium: "water" is a mass-density image of 1 g/cm³ (water composition; Geant4 NIST water);
the slab and thigh phantoms are CT images in HU whose materials are rtplan's Schneider 2000
density and composition of that CT number (``rtplan_geant4.tissue_material``):

* background "HU 0": 1.017 g/cm³, Schneider adipose/soft-tissue bin (-22 to 8 HU);
* cortical bone "HU 1525": 1.920 g/cm³, Schneider bin >= 1500 HU, the ICRP cortical bone
  composition (Ca 22.5 %);
* lung "HU -749": 0.260 g/cm³, Schneider lung composition;
* muscle "HU 40": 1.043 g/cm³, Schneider soft-tissue bin.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

import rtplan
from rtplan import Grid, Image

HU_BACKGROUND = 0.0
HU_BONE = 1525.0
HU_LUNG = -749.0
HU_MUSCLE = 40.0
PHANTOM_DEPTH_MM = 350.0
PDD_MAX_MM = 300.0
BUILDUP_MM = 30.0
PROFILE_DEPTHS_MM = (50.0, 100.0, 200.0)


@dataclass(frozen=True)
class Case:
    """One reference case.

    kind: "water" (density image), "tissue" (HU 0 homogeneous), "bone" (3 cm of cortical
    bone at 50-80 mm), "lung" (10 cm of lung at 50-150 mm), "thigh" (voxelised CT).
    source: "point" (the reference) or "machine" (rtplan's source model).
    """

    name: str
    kind: str
    field_mm: float
    priority: int
    source: str = "point"

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode()) % 1_000_000_007

    @property
    def width_mm(self) -> float:
        """Lateral size of the phantom (x and z)."""
        return float(max(200.0, 20.0 * np.ceil((1.4 * self.field_mm + 100.0) / 20.0)))

    @property
    def cax_half_mm(self) -> float:
        """Half side of the central-axis scoring area: a third of the field width."""
        return self.field_mm / 6.0

    @property
    def pdd_step_mm(self) -> float:
        return 5.0 if self.kind == "water" else 2.5


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("water_10x10", "water", 100.0, 1),
        Case("water_3x3", "water", 30.0, 2),
        Case("tissue_10x10", "tissue", 100.0, 3),
        Case("bone_10x10", "bone", 100.0, 4),
        Case("tissue_3x3", "tissue", 30.0, 5),
        Case("lung_3x3", "lung", 30.0, 6),
        Case("lung_10x10", "lung", 100.0, 7),
        Case("water_5x5", "water", 50.0, 8),
        Case("water_20x20", "water", 200.0, 9),
        Case("bone_3x3", "bone", 30.0, 10),
        Case("thigh_10x10", "thigh", 100.0, 11),
        Case("water_30x30", "water", 300.0, 14),
        # rtplan's full source model (focal and extra-focal sources, horns, transmission),
        # to tell the source model from the transport in penumbra and out-of-field dose
        Case("water_10x10_machine", "water", 100.0, 12, source="machine"),
        Case("water_3x3_machine", "water", 30.0, 13, source="machine"),
    )
}

#: Slab of each heterogeneous kind: (first depth, last depth, HU), mm.
SLABS = {"bone": (50.0, 80.0, HU_BONE), "lung": (50.0, 150.0, HU_LUNG)}

#: Thigh: muscle cylinder along z (radius, centre y) and a solid cortical femur.
THIGH_RADIUS_MM = 80.0
THIGH_LENGTH_MM = 200.0
FEMUR_RADIUS_MM = 12.5
FEMUR_CENTRE_MM = (20.0, 85.0)  # (x, y): 20 mm off axis, near the thigh's centre
THIGH_GRID_MM = 4.0


def case_beam(case: Case) -> rtplan.Beam:
    h = case.field_mm / 2.0
    return rtplan.Beam(
        energy="6X",
        gantry_deg=0.0,
        isocenter_mm=(0.0, 0.0, 0.0),
        jaws_mm=(-h, h, -h, h),
        name=case.name,
    )


def _slab_grid(case: Case) -> Grid:
    """CT grid: 2.5 mm laterally, 1 mm in depth, voxel edges on y = 0 and on the slabs."""
    w = case.width_mm
    n_lat = round(w / 2.5)
    n_dep = round(PHANTOM_DEPTH_MM / 1.0)
    return Grid(
        shape=(n_lat, n_dep, n_lat),
        spacing_mm=(2.5, 1.0, 2.5),
        origin_mm=(-w / 2 + 1.25, 0.5, -w / 2 + 1.25),
    )


def _thigh_ct() -> Image:
    n_xy = round((2 * THIGH_RADIUS_MM + 40.0) / 2.0)
    n_z = round(THIGH_LENGTH_MM / 2.0)
    grid = Grid(
        shape=(n_z, n_xy, n_xy),
        spacing_mm=(2.0, 2.0, 2.0),
        origin_mm=(-(n_xy - 1), -19.0, -(n_z - 1)),
    )
    # sub-sampled partial volumes (4 x 4 per voxel in the axial plane) for smooth edges
    sub = 4
    off = (np.arange(sub) + 0.5) / sub - 0.5
    x = grid.origin_mm[0] + (np.arange(n_xy)[:, None] + off[None, :]).ravel() * 2.0
    y = grid.origin_mm[1] + (np.arange(n_xy)[:, None] + off[None, :]).ravel() * 2.0
    xx, yy = np.meshgrid(x, y)  # (y, x)
    muscle = np.hypot(xx, yy - THIGH_RADIUS_MM) <= THIGH_RADIUS_MM
    bone = np.hypot(xx - FEMUR_CENTRE_MM[0], yy - FEMUR_CENTRE_MM[1]) <= FEMUR_RADIUS_MM

    def frac(mask: np.ndarray) -> np.ndarray:
        return mask.reshape(n_xy, sub, n_xy, sub).mean(axis=(1, 3))

    f_bone = frac(bone)
    f_muscle = frac(muscle & ~bone)
    hu2d = -1000.0 * (1 - f_bone - f_muscle) + HU_MUSCLE * f_muscle + HU_BONE * f_bone
    hu = np.broadcast_to(hu2d, grid.shape).astype(np.float32)
    return Image(array=hu, grid=grid, units="HU", name="thigh phantom", patient_position="HFS")


def case_ct(case: Case) -> Image:
    """The image rtplan's engines compute on (and the thigh Monte Carlo)."""
    if case.kind == "thigh":
        return _thigh_ct()
    grid = _slab_grid(case)
    if case.kind == "water":
        return Image(
            array=np.ones(grid.shape, dtype=np.float32),
            grid=grid,
            units="g/cm3",
            name=case.name,
            patient_position="HFS",
        )
    hu = np.full(grid.shape, HU_BACKGROUND, dtype=np.float32)
    if case.kind in SLABS:
        y0, y1, slab_hu = SLABS[case.kind]
        depth = grid.origin_mm[1] + np.arange(grid.shape[1]) * grid.spacing_mm[1]
        hu[:, (depth > y0) & (depth < y1), :] = slab_hu
    return Image(array=hu, grid=grid, units="HU", name=case.name, patient_position="HFS")


def image_digest(image: Image) -> str:
    h = hashlib.sha256(np.ascontiguousarray(image.array, dtype=np.float32).tobytes())
    h.update(np.asarray(image.grid.shape).tobytes())
    h.update(np.asarray(image.grid.spacing_mm, dtype=np.float64).tobytes())
    h.update(np.asarray(image.grid.origin_mm, dtype=np.float64).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Bins:
    """An axis-aligned scoring mesh: bin edges along x, y (depth), z, mm."""

    name: str
    x_edges: np.ndarray
    y_edges: np.ndarray
    z_edges: np.ndarray

    @property
    def centres(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(0.5 * (e[1:] + e[:-1]) for e in (self.x_edges, self.y_edges, self.z_edges))


def _edges(lo: float, hi: float, step: float) -> np.ndarray:
    n = round((hi - lo) / step)
    return lo + step * np.arange(n + 1)


def case_bins(case: Case) -> list[Bins]:
    """The scoring meshes of a slab or water case (the thigh is scored on its dose grid)."""
    a = case.cax_half_mm
    cax = np.array([-a, a])
    out = [
        Bins("pdd_buildup", cax, _edges(0.0, BUILDUP_MM, 1.0), cax),
        Bins("pdd", cax, _edges(BUILDUP_MM, PDD_MAX_MM, case.pdd_step_mm), cax),
    ]
    if case.kind == "water":
        z_half = max(5.0, 0.3 * case.field_mm)
        for d in PROFILE_DEPTHS_MM:
            half = case.field_mm / 2.0 * (1000.0 + d) / 1000.0 + 40.0
            half = 2.0 * np.ceil(half / 2.0)
            out.append(
                Bins(
                    f"profile_{int(d)}",
                    _edges(-half, half, 2.0),
                    np.array([d - 2.5, d + 2.5]),
                    np.array([-z_half, z_half]),
                )
            )
    return out
