"""Boolean operations on structures: union, intersection, difference, symmetric difference.

Both operands are rasterised (centre-inside, exact for contours) on a common lattice: the
first operand's grid, or ``grid=`` when given. A second operand on another grid is
rasterised from its contours on that lattice when it has contours, else its mask is
resampled (nearest voxel centre). The result is a mask structure with regenerated contours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rtplan.geometry import _lattice as lat
from rtplan.grid import Grid

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = ["difference", "intersection", "symmetric_difference", "union"]


def _combine(a: Structure, b: Structure, op: str, grid: Grid | None, name: str) -> Structure:
    lattice = lat.working_lattice(a, b, grid=grid)
    target = grid if grid is not None else (a.grid if a.grid is not None else b.grid)
    ba = lat.index_bounds(a, lattice)
    bb = lat.index_bounds(b, lattice)
    boxes = [x for x in (ba, bb) if x is not None]
    if op in ("union", "xor"):
        chosen = boxes
    elif op == "and":
        chosen = boxes if len(boxes) == 2 else []
    else:  # difference keeps a's box
        chosen = [ba] if ba is not None else []
    if chosen:
        lo = np.min([c[0] for c in chosen], axis=0)
        hi = np.max([c[1] for c in chosen], axis=0)
        if op == "and":
            lo = np.max([c[0] for c in chosen], axis=0)
            hi = np.min([c[1] for c in chosen], axis=0)
            hi = np.maximum(hi, lo + 1)
    else:
        lo = np.zeros(3, dtype=np.int64)
        hi = np.ones(3, dtype=np.int64)
    box = lat.lattice_box(lattice, lo, hi)
    ma = lat.mask_on(a, box) if ba is not None else np.zeros(box.shape, dtype=bool)
    mb = lat.mask_on(b, box) if bb is not None else np.zeros(box.shape, dtype=bool)
    if op == "union":
        out = ma | mb
    elif op == "and":
        out = ma & mb
    elif op == "xor":
        out = ma ^ mb
    else:
        out = ma & ~mb
    if target is not None and lat.offset_on(target, box) is None:
        target = None
    return lat.make_result(out, box, target, name=name, like=a, description=f"{op} {b.name}")


def union(a: Structure, b: Structure, *, grid: Grid | None = None, name: str = "") -> Structure:
    """Voxels inside ``a`` or ``b`` (also ``a | b``).

    Parameters
    ----------
    a, b : Structure
    grid : Grid, optional
        Grid to compute on; by default ``a``'s grid (or ``b``'s).
    name : str, optional
        Default ``"a|b"``.

    Returns
    -------
    Structure
        Mask on the common grid and regenerated contours; ``a``'s colour and type.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan import geometry
    >>> from rtplan.data import get_path
    >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
    >>> both = geometry.union(rois["GTV"], rois["Femur"])   # also rois["GTV"] | rois["Femur"]
    >>> both.name, round(both.volume_cc)
    ('GTV|Femur', 137)
    """
    return _combine(a, b, "union", grid, name or f"{a.name}|{b.name}")


def intersection(
    a: Structure, b: Structure, *, grid: Grid | None = None, name: str = ""
) -> Structure:
    """Voxels inside both ``a`` and ``b`` (also ``a & b``).

    Parameters
    ----------
    a, b : Structure
    grid : Grid, optional
    name : str, optional
        Default ``"a&b"``.

    Returns
    -------
    Structure
        Possibly empty.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan import geometry
    >>> from rtplan.data import get_path
    >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
    >>> shared = geometry.intersection(rois["PTV"], rois["Femur"])   # also PTV & Femur
    >>> shared.name, round(shared.volume_cc, 1)
    ('PTV&Femur', 10.6)
    """
    return _combine(a, b, "and", grid, name or f"{a.name}&{b.name}")


def difference(
    a: Structure, b: Structure, *, grid: Grid | None = None, name: str = ""
) -> Structure:
    """Voxels inside ``a`` but not ``b`` (also ``a - b``).

    Parameters
    ----------
    a, b : Structure
    grid : Grid, optional
    name : str, optional
        Default ``"a-b"``.

    Returns
    -------
    Structure

    Examples
    --------
    >>> import rtplan
    >>> from rtplan import geometry
    >>> from rtplan.data import get_path
    >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
    >>> soft = geometry.difference(rois["PTV"], rois["Femur"])   # also PTV - Femur
    >>> soft.name, round(soft.volume_cc)
    ('PTV-Femur', 273)
    """
    return _combine(a, b, "difference", grid, name or f"{a.name}-{b.name}")


def symmetric_difference(
    a: Structure, b: Structure, *, grid: Grid | None = None, name: str = ""
) -> Structure:
    """Voxels inside exactly one of ``a`` and ``b`` (also ``a ^ b`` on masks).

    Parameters
    ----------
    a, b : Structure
    grid : Grid, optional
    name : str, optional
        Default ``"a^b"``.

    Returns
    -------
    Structure

    Examples
    --------
    >>> import rtplan
    >>> from rtplan import geometry
    >>> from rtplan.data import get_path
    >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
    >>> shell = geometry.symmetric_difference(rois["PTV"], rois["CTV"])
    >>> shell.name, round(shell.volume_cc)
    ('PTV^CTV', 108)
    """
    return _combine(a, b, "xor", grid, name or f"{a.name}^{b.name}")
