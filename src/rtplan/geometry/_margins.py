"""Margins: exact Euclidean expansion and contraction, isotropic or per patient direction.

Expanding a structure ``X`` by a margin is the Minkowski sum ``X + E`` with the margin
body ``E``: a ball of the margin radius when isotropic, else the *octant ellipsoid* whose
semi-axis in each of the six patient directions (left, right, anterior, posterior,
superior, inferior) is the margin in that direction. Each face of a box therefore moves
by exactly its margin, and an isotropic margin is the rolling-ball margin of every TPS.
Contraction is the Minkowski difference ``X - (-E)``, computed as the complement of
the expansion of the complement by the reflected body.

On the voxel lattice a voxel centre ``p`` is in ``X + E`` when some voxel centre ``x`` of
``X`` has ``p - x`` in ``E``, i.e. when the distance from ``p`` to ``X``, scaled by the
semi-axes of ``E``, is at most 1 (plus a documented sub-voxel correction, see
:func:`subvoxel_slack`). Distances are exact (mm, with the grid spacing), computed on the
bounding box plus the margin only:

* a ball or a centred ellipsoid (the same margin in opposite directions): the ball
  morphology of :func:`rtplan.geometry.dilate_mask` in the space scaled by the
  semi-axes (by rows for small margins, by the exact Euclidean distance transform of
  Felzenszwalb & Huttenlocher (2012) for large ones);
* different margins in opposite directions: the squared scaled distance is separable
  (Saito & Toriwaki 1994), so one min-plus pass per axis over the few voxels the margin
  spans, one-sided for each octant of displacements, gives the octant-ellipsoid sum.

Both routes give the same voxels on centred margins (tested). Never repeated one-voxel dilation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError
from rtplan.geometry import _lattice as lat
from rtplan.geometry._margin_kernels import pass3d
from rtplan.geometry._morphology import ball_dilate
from rtplan.grid import Grid

if TYPE_CHECKING:
    from rtplan.structures import Structure

__all__ = ["Margin", "MarginSpec", "contract", "crop", "crop_away", "expand"]

logger = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

#: Mean depth of the nearest voxel centre under a surface, in units of sqrt(V / r)
#: (see :func:`subvoxel_slack`).
LATTICE_GAP_FACTOR = 0.4

_DIRECTION_KEYS: dict[str, tuple[str, ...]] = {
    "l": ("left_mm",),
    "left": ("left_mm",),
    "r": ("right_mm",),
    "right": ("right_mm",),
    "a": ("anterior_mm",),
    "anterior": ("anterior_mm",),
    "p": ("posterior_mm",),
    "posterior": ("posterior_mm",),
    "s": ("superior_mm",),
    "superior": ("superior_mm",),
    "i": ("inferior_mm",),
    "inferior": ("inferior_mm",),
    "lr": ("left_mm", "right_mm"),
    "rl": ("left_mm", "right_mm"),
    "ap": ("anterior_mm", "posterior_mm"),
    "pa": ("anterior_mm", "posterior_mm"),
    "si": ("superior_mm", "inferior_mm"),
    "is": ("superior_mm", "inferior_mm"),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Margin:
    """A margin in the six patient directions, mm (LPS: left +x, posterior +y, superior +z).

    Parameters
    ----------
    left_mm, right_mm, anterior_mm, posterior_mm, superior_mm, inferior_mm : float
        How far the surface moves in each direction, >= 0.

    Raises
    ------
    GeometryError
        If a value is negative or not finite.

    Examples
    --------
    >>> Margin.parse({"LR": 5, "AP": 5, "S": 10, "I": 7}).superior_mm
    10.0
    """

    left_mm: float = 0.0
    right_mm: float = 0.0
    anterior_mm: float = 0.0
    posterior_mm: float = 0.0
    superior_mm: float = 0.0
    inferior_mm: float = 0.0

    def __post_init__(self) -> None:
        for f in (
            "left_mm",
            "right_mm",
            "anterior_mm",
            "posterior_mm",
            "superior_mm",
            "inferior_mm",
        ):
            v = float(getattr(self, f))
            if not math.isfinite(v) or v < 0:
                raise GeometryError(
                    f"margin {f} must be a finite number >= 0, got {getattr(self, f)!r} "
                    "(use contract() to shrink)"
                )
            object.__setattr__(self, f, v)

    @classmethod
    def isotropic(cls, margin_mm: float) -> Margin:
        """The same margin in every direction."""
        m = float(margin_mm)
        return cls(
            left_mm=m,
            right_mm=m,
            anterior_mm=m,
            posterior_mm=m,
            superior_mm=m,
            inferior_mm=m,
        )

    @classmethod
    def parse(cls, spec: MarginSpec) -> Margin:
        """Normalise a margin given in any of the accepted forms.

        Parameters
        ----------
        spec : float, sequence or mapping or Margin
            * a number: isotropic margin, mm;
            * 3 numbers: symmetric margins ``(left-right, anterior-posterior,
              superior-inferior)``, mm;
            * 6 numbers: ``(left, right, anterior, posterior, superior, inferior)``, mm;
            * a mapping from direction keys to mm: ``"L"``, ``"R"``, ``"A"``, ``"P"``,
              ``"S"``, ``"I"`` (or ``"left"``...), or pairs ``"LR"``, ``"AP"``, ``"SI"``;
              directions not named get 0.

        Returns
        -------
        Margin

        Raises
        ------
        GeometryError
            If the form is not one of those, a key is unknown or a value negative.
        """
        if isinstance(spec, Margin):
            return spec
        if isinstance(spec, int | float | np.integer | np.floating):
            return cls.isotropic(float(spec))
        if isinstance(spec, Mapping):
            values: dict[str, float] = {}
            for key, v in spec.items():
                fields = _DIRECTION_KEYS.get(str(key).strip().lower())
                if fields is None:
                    raise GeometryError(
                        f"unknown margin direction {key!r}; use L, R, A, P, S, I (or LR, AP, SI)"
                    )
                for f in fields:
                    values[f] = float(v)
            return cls(**values)
        vals = [float(v) for v in spec]
        if len(vals) == 3:
            return cls(
                left_mm=vals[0],
                right_mm=vals[0],
                anterior_mm=vals[1],
                posterior_mm=vals[1],
                superior_mm=vals[2],
                inferior_mm=vals[2],
            )
        if len(vals) == 6:
            return cls(
                left_mm=vals[0],
                right_mm=vals[1],
                anterior_mm=vals[2],
                posterior_mm=vals[3],
                superior_mm=vals[4],
                inferior_mm=vals[5],
            )
        raise GeometryError(
            "a margin sequence needs 3 (LR, AP, SI) or 6 (L, R, A, P, S, I) values, "
            f"got {len(vals)}"
        )

    @property
    def lps_pairs(self) -> FloatArray:
        """Margins as a (3, 2) array: rows x, y, z; columns towards -axis, towards +axis."""
        return np.array(
            [
                [self.right_mm, self.left_mm],
                [self.anterior_mm, self.posterior_mm],
                [self.inferior_mm, self.superior_mm],
            ]
        )

    @property
    def is_isotropic(self) -> bool:
        """True if all six margins are equal."""
        v = self.lps_pairs
        return bool(np.all(v == v[0, 0]))

    @property
    def max_mm(self) -> float:
        """The largest of the six margins."""
        return float(self.lps_pairs.max())

    def reflected(self) -> Margin:
        """The margin body mirrored through the origin (left <-> right, ...)."""
        return Margin(
            left_mm=self.right_mm,
            right_mm=self.left_mm,
            anterior_mm=self.posterior_mm,
            posterior_mm=self.anterior_mm,
            superior_mm=self.inferior_mm,
            inferior_mm=self.superior_mm,
        )

    def along_axes(self, grid: Grid) -> FloatArray:
        """Margins along the grid's array axes.

        Parameters
        ----------
        grid : Grid

        Returns
        -------
        numpy.ndarray, shape (3, 2)
            Row ``a`` is array axis ``a`` (0 = slice k, 1 = row j, 2 = column i); column
            0 is towards decreasing index, column 1 towards increasing index, mm.

        Raises
        ------
        GeometryError
            If the margin is not isotropic and the grid's axes are not along the patient
            axes (an oblique grid).
        """
        if self.is_isotropic:
            return np.full((3, 2), self.left_mm)
        d = grid.direction
        perm = np.argmax(np.abs(d), axis=0)  # LPS axis of each of i, j, k
        sign = np.sign(d[perm, np.arange(3)])
        if sorted(perm.tolist()) != [0, 1, 2] or not np.allclose(np.abs(d).max(axis=0), 1.0):
            raise GeometryError(
                "an anisotropic margin needs a grid whose axes run along the patient axes; "
                f"this grid is oblique ({np.round(d, 4).tolist()}): resample on an axial grid "
                "(grid=...) or use an isotropic margin"
            )
        pairs = self.lps_pairs
        out = np.empty((3, 2))
        for col in range(3):  # i, j, k
            axis = 2 - col
            row = pairs[perm[col]]
            out[axis] = row if sign[col] > 0 else row[::-1]
        return out


MarginSpec = float | Sequence[float] | Mapping[str, float] | Margin


def _window(spacing: float, m: float) -> int:
    """Voxels a margin ``m`` (plus the sub-voxel slack, <= h/2) can reach."""
    return math.floor(m / spacing + 0.5 + 1e-9)


def _axis_pass(
    f: FloatArray, axis: int, spacing: float, m_neg: float, m_pos: float, use_neg: bool
) -> FloatArray:
    """Pass along ``axis``: displacements towards +axis use ``m_pos``, towards -axis ``m_neg``.

    With ``use_neg`` False only displacements ``>= 0`` (towards +axis, margin ``m_pos``)
    are allowed; with True only ``<= 0`` (margin ``m_neg``). Scaled so that a unit of
    ``f`` is one margin.
    """
    m = m_neg if use_neg else m_pos
    if m <= 0:
        return f
    w = _window(spacing, m)
    return pass3d(f, axis, (spacing / m) ** 2, w if use_neg else 0, 0 if use_neg else w)


def _pass_symmetric(f: FloatArray, axis: int, spacing: float, m: float) -> FloatArray:
    if m <= 0:
        return f
    w = _window(spacing, m)
    return pass3d(f, axis, (spacing / m) ** 2, w, w)


def subvoxel_slack(spacing_mm: npt.ArrayLike, semi_axes_mm: npt.ArrayLike) -> float:
    """Threshold slack, in units of the margin, that corrects the lattice bias of a margin.

    The voxel centres inside a structure sit, on average, below the surface they sample.
    Seen from a point at distance ``r``, the nearest centre under a flat surface lies at
    a depth ``t`` such that the cap of the margin ball below the surface (volume
    ``pi r t**2``) holds a centre: ``c * sqrt(V / r)`` for voxels of volume ``V``, with
    ``c = 0.5`` for randomly placed points. Comparing exact centre-to-centre distances
    with the margin alone therefore makes margins of smooth shapes 2-4 % small in volume
    (and contractions as much too large); the threshold is raised by that depth. The
    regular lattice leaves smaller gaps than random points: ``c = 0.4`` was fitted on
    spheres (radius 15-30 mm, margins 3-10 mm, voxels 1 mm to 3 x 1 x 1 mm), bringing the
    mean volume error of expansions and contractions within 0.6 %. The slack is capped
    at half the finest spacing, so the faces of a box still move by the margin (rounded
    to the nearest voxel). It is computed in the space scaled by the semi-axes, with the
    2D analogue for a margin body flat along one axis (``c' (3 A / (4 sqrt 2))**(2/3)``,
    ``c' = 0.8 Gamma(5/3)``, for a pixel area ``A``) and 0 when flat along two.

    Parameters
    ----------
    spacing_mm : array_like, shape (3,)
        Grid spacing along the three axes, mm.
    semi_axes_mm : array_like, shape (3,)
        Margin along the same axes (0 where the margin body is flat), mm.

    Returns
    -------
    float
        Slack on the scaled distance (the margin is 1).
    """
    sp = np.asarray(spacing_mm, dtype=np.float64)
    m = np.asarray(semi_axes_mm, dtype=np.float64)
    live = m > 0
    if np.count_nonzero(live) < 2:
        return 0.0
    scaled = sp[live] / m[live]
    cell = float(np.prod(scaled))
    if scaled.size == 3:
        slack = LATTICE_GAP_FACTOR * math.sqrt(cell)
    else:
        slack = 0.8 * math.gamma(5.0 / 3.0) * (3.0 * cell / (4.0 * math.sqrt(2.0))) ** (2.0 / 3.0)
    return min(slack, 0.5 * float(scaled.min()))


def dilate_array(mask: BoolArray, spacing_mm: Sequence[float], margins: FloatArray) -> BoolArray:
    """Minkowski sum of a voxel set with the octant-ellipsoid margin body.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (nk, nj, ni)
        The set; the array must leave room for the growth (it is not enlarged).
    spacing_mm : sequence of 3 float
        ``(dk, dj, di)``, mm.
    margins : numpy.ndarray, shape (3, 2)
        Per array axis: margin towards decreasing index, towards increasing index (mm).

    Returns
    -------
    numpy.ndarray of bool, same shape
        Voxels whose scaled distance to the set is at most 1 plus
        :func:`subvoxel_slack`.
    """
    sp = np.asarray(spacing_mm, dtype=np.float64)
    m = np.asarray(margins, dtype=np.float64)
    if not mask.any() or np.all(m == 0):
        return mask.copy()
    if np.all(m[:, 0] == m[:, 1]) and np.all(m > 0):
        return _dilate_centred(mask, sp, m[:, 0])
    return _dilate_octants(mask, sp, m)


def _dilate_centred(mask: BoolArray, sp: FloatArray, semi: FloatArray) -> BoolArray:
    """Ball or centred ellipsoid: the ball morphology in the space scaled by the semi-axes."""
    limit = 1.0 + subvoxel_slack(sp, semi) + 1e-9
    return np.asarray(mask | ball_dilate(mask, sp / semi, limit), dtype=bool)


def _dilate_octants(mask: BoolArray, sp: FloatArray, m: FloatArray) -> BoolArray:
    """Any margin: squared scaled distance by min-plus passes, one octant at a time."""
    f0 = np.where(mask, 0.0, np.inf)
    out = mask.copy()
    sides = [[None] if m[a, 0] == m[a, 1] else [True, False] for a in range(3)]

    def run(f: FloatArray, axis: int, side: bool | None) -> FloatArray:
        if side is None:
            return _pass_symmetric(f, axis, sp[axis], m[axis, 0])
        return _axis_pass(f, axis, sp[axis], m[axis, 0], m[axis, 1], side)

    def semi(axis: int, side: bool | None) -> float:
        return float(m[axis, 0] if side is None or side else m[axis, 1])

    for s2 in sides[2]:
        f2 = run(f0, 2, s2)
        for s1 in sides[1]:
            f1 = run(f2, 1, s1)
            for s0 in sides[0]:
                fk = run(f1, 0, s0)
                slack = subvoxel_slack(sp, [semi(0, s0), semi(1, s1), semi(2, s2)])
                limit = (1.0 + slack) ** 2 + 1e-9
                out |= fk <= limit
    return out


def _margin_voxels(margins: FloatArray, spacing_mm: Sequence[float]) -> npt.NDArray[np.int64]:
    """Voxels needed on each side of each array axis, shape (3, 2)."""
    sp = np.asarray(spacing_mm, dtype=np.float64)[:, np.newaxis]
    return np.ceil(margins / sp + 0.5 - 1e-9).astype(np.int64)


# ----------------------------------------------------------------------------- operations
def _fmt(margin: Margin) -> str:
    if margin.is_isotropic:
        return f"{margin.left_mm:g}mm"
    return (
        f"L{margin.left_mm:g}R{margin.right_mm:g}A{margin.anterior_mm:g}"
        f"P{margin.posterior_mm:g}S{margin.superior_mm:g}I{margin.inferior_mm:g}"
    )


def _empty_like(structure: Structure, name: str) -> Structure:
    from dataclasses import replace

    return replace(structure, name=name[:64], contours=(), mask_image=None, number=0)


def expand(
    structure: Structure,
    margin_mm: MarginSpec,
    grid: Grid | None = None,
    *,
    name: str | None = None,
) -> Structure:
    """Grow a structure by a margin, isotropic or per patient direction.

    Parameters
    ----------
    structure : Structure
        Contours or a mask.
    margin_mm : float, sequence, mapping or Margin
        See :meth:`Margin.parse`: e.g. ``5.0``, ``(5, 5, 10)`` (LR, AP, SI) or
        ``{"L": 5, "R": 5, "A": 7, "P": 5, "S": 10, "I": 10}``; mm.
    grid : Grid, optional
        Grid to compute on; by default the structure's own
        (:attr:`~rtplan.Structure.grid`). The result is reported on it, extended where
        the margin reaches beyond it.
    name : str, optional
        Name of the result; default like ``"PTV+5mm"``.

    Returns
    -------
    Structure
        Mask on the grid plus contours regenerated from it (writable to RT-Struct),
        with the input's colour and interpreted type.

    Raises
    ------
    GeometryError
        For a negative margin, or an anisotropic margin on an oblique grid.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan import geometry
    >>> from rtplan.data import get_path
    >>> gtv = rtplan.load_study(get_path("thigh_sarcoma")).structures["GTV"]
    >>> ptv = geometry.expand(gtv, {"LR": 5, "AP": 5, "SI": 8})
    >>> ptv.name, round(gtv.volume_cc), round(ptv.volume_cc)
    ('GTV+L5R5A5P5S8I8', 63, 118)
    """
    m = Margin.parse(margin_mm)
    label = name if name is not None else f"{structure.name}+{_fmt(m)}"
    lattice = lat.working_lattice(structure, grid=grid)
    target = grid if grid is not None else structure.grid
    axes = m.along_axes(lattice)
    bounds = lat.index_bounds(structure, lattice)
    if bounds is None:
        return _empty_like(structure, label)
    pad = _margin_voxels(axes, lattice.spacing_mm) + 1  # (k, j, i) x (lo, hi)
    lo = bounds[0] - pad[::-1, 0]
    hi = bounds[1] + pad[::-1, 1]
    box = lat.lattice_box(lattice, lo, hi)
    mask = lat.mask_on(structure, box)
    out = dilate_array(mask, box.spacing_mm, axes)
    return lat.make_result(
        out, box, target, name=label, like=structure, description=f"expand {_fmt(m)}"
    )


def _contract_mask(mask: BoolArray, spacing_mm: Sequence[float], axes: FloatArray) -> BoolArray:
    """Erosion by the margin body; voxels beyond the array count as outside... of the box.

    The caller guarantees that every outside voxel within the margin of a kept voxel is
    in the array (a one-voxel frame suffices for a structure inside the box).
    """
    reflected = axes[:, ::-1]
    grown = dilate_array(~mask, spacing_mm, reflected)
    return np.asarray(mask & ~grown, dtype=bool)


def contract(
    structure: Structure,
    margin_mm: MarginSpec,
    grid: Grid | None = None,
    *,
    name: str | None = None,
) -> Structure:
    """Shrink a structure by a margin, isotropic or per patient direction.

    A voxel stays when the margin body centred on it (reflected) fits inside the
    structure: each face of a box moves inwards by exactly its margin.

    Parameters
    ----------
    structure : Structure
    margin_mm : float, sequence, mapping or Margin
        See :meth:`Margin.parse`, mm.
    grid : Grid, optional
        Grid to compute on; by default the structure's own.
    name : str, optional
        Default like ``"CTV-3mm"``.

    Returns
    -------
    Structure
        Possibly empty.

    Raises
    ------
    GeometryError
        For a negative margin, or an anisotropic margin on an oblique grid.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan import geometry
    >>> from rtplan.data import get_path
    >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
    >>> inner = geometry.contract(rois["CTV"], 3.0)
    >>> inner.name, round(rois["CTV"].volume_cc), round(inner.volume_cc)
    ('CTV-3mm', 175, 130)
    """
    m = Margin.parse(margin_mm)
    label = name if name is not None else f"{structure.name}-{_fmt(m)}"
    lattice = lat.working_lattice(structure, grid=grid)
    target = grid if grid is not None else structure.grid
    axes = m.along_axes(lattice)
    bounds = lat.index_bounds(structure, lattice)
    if bounds is None:
        return _empty_like(structure, label)
    box = lat.lattice_box(lattice, bounds[0] - 1, bounds[1] + 1)
    mask = lat.mask_on(structure, box)
    out = _contract_mask(mask, box.spacing_mm, axes)
    return lat.make_result(
        out, box, target, name=label, like=structure, description=f"contract {_fmt(m)}"
    )


def crop(
    structure: Structure,
    to: Structure,
    *,
    inset_mm: MarginSpec = 0.0,
    grid: Grid | None = None,
    name: str | None = None,
) -> Structure:
    """Keep the part of ``structure`` inside ``to`` shrunk by ``inset_mm``.

    ``crop(ptv, to=body, inset_mm=3)`` is the PTV kept at least 3 mm under the skin.
    Only the region around ``structure`` is computed, so cropping to a large outline is
    cheap.

    Parameters
    ----------
    structure : Structure
        What to crop.
    to : Structure
        The region to stay inside (e.g. the body outline).
    inset_mm : float, sequence, mapping or Margin
        Distance to keep from ``to``'s surface, mm (see :meth:`Margin.parse`).
    grid : Grid, optional
        Grid to compute on; by default ``structure``'s.
    name : str, optional
        Default like ``"PTV crop Body 3mm"``.

    Returns
    -------
    Structure

    Examples
    --------
    >>> import rtplan
    >>> from rtplan import geometry
    >>> from rtplan.data import get_path
    >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
    >>> kept = geometry.crop(rois["PTV"], to=rois["Body"], inset_mm=3.0)
    >>> kept.name
    'PTV crop Body 3mm'
    """
    m = Margin.parse(inset_mm)
    label = name if name is not None else f"{structure.name} crop {to.name} {_fmt(m)}"
    lattice = lat.working_lattice(structure, to, grid=grid)
    target = grid if grid is not None else structure.grid
    axes = m.along_axes(lattice)
    bounds = lat.index_bounds(structure, lattice)
    if bounds is None:
        return _empty_like(structure, label)
    pad = _margin_voxels(axes, lattice.spacing_mm).max(axis=1)[::-1] + 1
    box = lat.lattice_box(lattice, bounds[0] - pad, bounds[1] + pad)
    inner = _contract_mask(lat.mask_on(to, box), box.spacing_mm, axes)
    # voxels at the box edge cannot see beyond it: the box is padded by the inset, so
    # every voxel of the structure sees all the outside it needs
    out = lat.mask_on(structure, box) & inner
    return lat.make_result(
        out, box, target, name=label, like=structure, description=f"crop to {to.name}"
    )


def crop_away(
    structure: Structure,
    other: Structure,
    *,
    gap_mm: MarginSpec = 0.0,
    grid: Grid | None = None,
    name: str | None = None,
) -> Structure:
    """Remove from ``structure`` everything within ``gap_mm`` of ``other``.

    ``crop_away(ptv, rectum, gap_mm=2)`` is the PTV at least 2 mm from the rectum.

    Parameters
    ----------
    structure : Structure
        What to crop.
    other : Structure
        The structure to keep away from.
    gap_mm : float, sequence, mapping or Margin
        Gap to leave, mm (see :meth:`Margin.parse`).
    grid : Grid, optional
        Grid to compute on; by default ``structure``'s.
    name : str, optional
        Default like ``"PTV avoid Rectum 2mm"``.

    Returns
    -------
    Structure

    Examples
    --------
    >>> import rtplan
    >>> from rtplan import geometry
    >>> from rtplan.data import get_path
    >>> rois = rtplan.load_study(get_path("thigh_sarcoma")).structures
    >>> away = geometry.crop_away(rois["PTV"], rois["Femur"], gap_mm=2.0)
    >>> away.name, round(rois["PTV"].volume_cc), round(away.volume_cc)
    ('PTV avoid Femur 2mm', 283, 269)
    """
    m = Margin.parse(gap_mm)
    label = name if name is not None else f"{structure.name} avoid {other.name} {_fmt(m)}"
    lattice = lat.working_lattice(structure, other, grid=grid)
    target = grid if grid is not None else structure.grid
    axes = m.along_axes(lattice)
    bounds = lat.index_bounds(structure, lattice)
    if bounds is None:
        return _empty_like(structure, label)
    pad = _margin_voxels(axes, lattice.spacing_mm).max(axis=1)[::-1] + 1
    box = lat.lattice_box(lattice, bounds[0] - pad, bounds[1] + pad)
    grown = dilate_array(lat.mask_on(other, box), box.spacing_mm, axes)
    out = lat.mask_on(structure, box) & ~grown
    return lat.make_result(
        out, box, target, name=label, like=structure, description=f"crop away {other.name}"
    )
