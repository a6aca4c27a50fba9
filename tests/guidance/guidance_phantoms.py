"""Phantoms for the guidance tests, built directly from analytic shapes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtplan import Grid, Image, Structure


@dataclass
class Phantom:
    ct: Image
    body: Structure
    bone: Structure
    canal: Structure
    gtv: Structure


def cylinder_phantom(position: str = "HFS") -> Phantom:
    """Elliptic body, a round bone with cortex, a canal behind it, a target in the bone."""
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
    ct = Image(array=hu.astype(np.int16), grid=g, units="HU", patient_position=position)
    return Phantom(
        ct=ct,
        body=Structure.from_mask(body, g, name="Body", interpreted_type="EXTERNAL"),
        bone=Structure.from_mask(bone, g, name="Bone", color=(241, 214, 145)),
        canal=Structure.from_mask(canal, g, name="SpinalCanal", color=(0, 120, 255)),
        gtv=Structure.from_mask(gtv, g, name="GTV", color=(255, 0, 0)),
    )
