"""Phantom images with known anatomy: water box, slabs, a limb-like cylinder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rtplan.grid import Grid
from rtplan.image import Image
from rtplan.structures import Structure


# --------------------------------------------------------------------------- phantoms
def water_phantom(
    *,
    width_mm: float = 240.0,
    depth_mm: float = 200.0,
    spacing_mm: float = 2.5,
    density: float = 1.0,
) -> Image:
    """A water box whose anterior surface is the plane ``y = 0`` (HFS, LPS mm).

    Parameters
    ----------
    width_mm : float
        Lateral (x) and longitudinal (z) size, centred on 0.
    depth_mm : float
        Size along ``+y`` (posterior) from the surface.
    spacing_mm : float
        Voxel size; an odd number of voxels puts a voxel centre on ``x = z = 0``.
    density : float
        Mass density, g/cm³ (water composition).

    Returns
    -------
    rtplan.Image
        Density image (``units="g/cm3"``), patient position HFS; the first row of voxel
        centres lies half a voxel below the surface.

    Examples
    --------
    >>> from rtplan.testing import water_phantom
    >>> ct = water_phantom(width_mm=100, depth_mm=50, spacing_mm=5.0)
    >>> ct.grid.shape, ct.units, float(ct.grid.axis_mm(1)[0])
    ((21, 10, 21), 'g/cm3', 2.5)
    """
    n_lat = round(width_mm / spacing_mm) // 2 * 2 + 1
    n_dep = round(depth_mm / spacing_mm)
    half = (n_lat - 1) / 2 * spacing_mm
    grid = Grid(
        shape=(n_lat, n_dep, n_lat),
        spacing_mm=(spacing_mm, spacing_mm, spacing_mm),
        origin_mm=(-half, 0.5 * spacing_mm, -half),
    )
    return Image(
        array=np.full(grid.shape, density, dtype=np.float64),
        grid=grid,
        units="g/cm3",
        name="water phantom",
        patient_position="HFS",  # type: ignore[arg-type]
    )


def slab_phantom(
    slabs: Sequence[tuple[float, float, float]] = (),
    *,
    width_mm: float = 200.0,
    depth_mm: float = 250.0,
    spacing_mm: float = 2.5,
    background_hu: float = 0.0,
) -> Image:
    """A CT of a water-like box with slabs of other tissue across the beam axis (HFS).

    The box is :func:`water_phantom`'s (surface at ``y = 0``, depth along ``+y``); each
    slab fills the voxels whose centres lie strictly between two depths.

    Parameters
    ----------
    slabs : sequence of (from_mm, to_mm, hu)
        Depth range (mm below the surface) and CT number of each slab; later ones are
        painted over earlier ones.
    width_mm, depth_mm, spacing_mm : float
        As :func:`water_phantom`.
    background_hu : float
        CT number of the rest of the box.

    Returns
    -------
    rtplan.Image
        CT numbers, HU (int16), patient position HFS.

    Examples
    --------
    A 3 cm cortical-bone slab from 3 to 6 cm depth:

    >>> from rtplan.testing import slab_phantom
    >>> ct = slab_phantom([(30.0, 60.0, 1400.0)], width_mm=50, depth_mm=100, spacing_mm=5.0)
    >>> ct.array[0, :, 0].tolist()
    [0, 0, 0, 0, 0, 0, 1400, 1400, 1400, 1400, 1400, 1400, 0, 0, 0, 0, 0, 0, 0, 0]
    """
    grid = water_phantom(width_mm=width_mm, depth_mm=depth_mm, spacing_mm=spacing_mm).grid
    arr = np.full(grid.shape, background_hu, dtype=np.int16)
    y = grid.axis_mm(1)
    for lo, hi, hu in slabs:
        arr[:, (y > lo) & (y < hi), :] = hu
    return Image(array=arr, grid=grid, units="HU", patient_position="HFS")  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True, slots=True)
class CylinderPhantom:
    """A CT of a limb-like cylinder with a bone, a canal and a target, and its structures.

    Attributes
    ----------
    ct : rtplan.Image
        CT numbers, HU (int16).
    body, bone, canal, gtv : rtplan.Structure
        Mask structures of the body outline, the bone (cortex and marrow), the canal and the
        target inside the bone.
    """

    ct: Image
    body: Structure
    bone: Structure
    canal: Structure
    gtv: Structure


def cylinder_phantom(patient_position: str = "HFS") -> CylinderPhantom:
    """An elliptic body, a round bone with cortex, a canal behind it and a target in the bone.

    On a grid of 24 x 90 x 110 voxels (2.5 x 1 x 1 mm) centred near the origin: body
    ``(x/52)² + (y/42)² <= 1`` at 40 HU, bone ``x² + (y-5)² <= 14²`` at 1200 HU with marrow of
    radius 11 mm at 300 HU, canal ``x² + (y-27)² <= 6²`` at 15 HU and a spherical target of
    radius 5 mm at (-2, 3, 0) at 50 HU; air elsewhere (LPS mm, axes along the grid).

    Parameters
    ----------
    patient_position : str
        Patient position of the image (the voxels do not move).

    Returns
    -------
    CylinderPhantom

    Examples
    --------
    >>> from rtplan.testing import cylinder_phantom
    >>> p = cylinder_phantom()
    >>> p.ct.grid.shape, int(p.ct.array.max())
    ((24, 90, 110), 1200)
    >>> round(p.gtv.volume_cc, 2)  # a sphere of radius 5 mm: 0.52 cm³ in 2.5 x 1 x 1 mm voxels
    0.54
    """
    g = Grid(shape=(24, 90, 110), spacing_mm=(2.5, 1.0, 1.0), origin_mm=(-54.5, -44.5, -28.75))
    c = g.centers_mm()
    x, y, z = c[..., 0], c[..., 1], c[..., 2]
    body = (x / 52) ** 2 + (y / 42) ** 2 <= 1
    hu = np.where(body, 40.0, -1000.0)
    bone = x**2 + (y - 5) ** 2 <= 14**2
    hu[bone] = 1200.0
    hu[x**2 + (y - 5) ** 2 <= 11**2] = 300.0
    canal = x**2 + (y - 27) ** 2 <= 6**2
    hu[canal] = 15.0
    gtv = (x + 2) ** 2 + (y - 3) ** 2 + z**2 <= 5**2
    hu[gtv] = 50.0
    ct = Image(
        array=hu.astype(np.int16),
        grid=g,
        units="HU",
        patient_position=patient_position,  # type: ignore[arg-type]
    )
    return CylinderPhantom(
        ct=ct,
        body=Structure.from_mask(body, g, name="Body", interpreted_type="EXTERNAL"),
        bone=Structure.from_mask(bone, g, name="Bone", color=(241, 214, 145)),
        canal=Structure.from_mask(canal, g, name="SpinalCanal", color=(0, 120, 255)),
        gtv=Structure.from_mask(gtv, g, name="GTV", color=(255, 0, 0)),
    )
