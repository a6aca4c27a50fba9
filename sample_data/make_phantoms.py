"""Generate rtplan's two synthetic musculoskeletal DICOM phantoms.

``python sample_data/make_phantoms.py`` rewrites ``sample_data/thigh_sarcoma/`` and
``sample_data/spine_metastasis/`` bit for bit: fixed noise seeds, UIDs derived from fixed
strings, fixed dates. The DICOM files are written with pydicom directly (not through rtplan),
so that the phantoms test rtplan's readers rather than mirror its writers.

The module is also importable: tests of other parts of rtplan use it to recompute the ground
truth on the CT grid (:func:`thigh_labels`, :func:`spine_labels`, :func:`roi_masks`) and the
closed-form volumes of the ROIs (:data:`ANALYTIC_VOLUMES_CC`). See ``sample_data/README.md``.

Geometry conventions
--------------------
* UIDs are name-based UUIDs (``2.25.<int>``) of fixed strings; dates are fixed.
* DICOM patient coordinates (LPS, mm): +x towards the patient's left, +y posterior, +z
  superior. Both phantoms are head-first supine, axial, ImageOrientationPatient
  ``[1, 0, 0, 0, 1, 0]``; ImagePositionPatient is the centre of the first pixel.
* Arrays are indexed ``(slice, row, column) = (k, j, i)``; voxel values are sampled at voxel
  centres; z increases with k. InstanceNumber and file names count the other way (instance 1
  is the most superior slice, as a scanner moving head to feet numbers them): readers must
  sort by ImagePositionPatient.
* Every structure is defined analytically (ellipses, ellipsoids, oblique/tapered elliptic
  cylinders, a flat-backed superellipse, an elliptic band). On each CT slice its exact
  cross-section is sampled into a closed polygon whose vertices lie on the exact curve
  (chord sagitta <= 0.1 mm), rounded to 0.1 mm. Those polygons are both written to the
  RTSTRUCT and rasterised (even-odd rule, voxel centres) to paint the CT, so the ground truth,
  the CT and the contours agree exactly.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from rtplan import testing

__all__ = [
    "ANALYTIC_VOLUMES_CC",
    "LANDMARKS_MM",
    "NOISE_SD_HU",
    "PHANTOM_NAMES",
    "ROI_TISSUES",
    "SLICE_STACK_VOLUMES_CC",
    "SPINE_GRID",
    "THIGH_GRID",
    "TISSUES",
    "GridSpec",
    "Phantom",
    "Roi",
    "Tissue",
    "build",
    "hu_volume",
    "main",
    "roi_masks",
    "spine_labels",
    "spine_metastasis",
    "thigh_labels",
    "thigh_sarcoma",
    "write_ct_series",
    "write_phantom",
    "write_rtstruct",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PHANTOM_NAMES = ("thigh_sarcoma", "spine_metastasis")
#: Where the studies ship: inside the package, found by ``rtplan.data.get_path(name)``.
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "src" / "rtplan" / "data"

#: Standard deviation of the Gaussian noise added to every voxel (HU).
NOISE_SD_HU = 8.0
#: Largest allowed distance between a polygon edge and the exact curve (mm).
CONTOUR_TOLERANCE_MM = 0.1
_N_MIN = 40  # a 40-gon inscribed in a circle lacks 0.41 % of its area
_N_MAX = 256
#: Contour vertices are rounded to this many decimals of a millimetre.
CONTOUR_DECIMALS = 1

_UID_ROOT = "rtplan sample_data phantoms v1"
_DATE = "20240102"
_TIME = "093000"
_RESCALE_INTERCEPT_HU = -1024
_BITS_STORED = 12


# --------------------------------------------------------------------------------------
# Tissues
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Tissue:
    """One tissue of the phantoms: its label value, nominal CT number and class.

    ``tissue_class`` is one of ``air``, ``skin``, ``fat``, ``muscle``, ``soft_tissue``,
    ``fluid``, ``cancellous_bone``, ``cortical_bone``. Ground-truth bone is the union of the
    two bone classes; ground-truth muscle is the ``muscle`` class.
    """

    label: int
    hu: float
    tissue_class: str


TISSUES: Mapping[str, Tissue] = MappingProxyType(
    {
        "air": Tissue(label=0, hu=-1000.0, tissue_class="air"),
        "bowel_gas": Tissue(label=1, hu=-1000.0, tissue_class="air"),
        # The 2 mm dermis is kept in the fat range on purpose (it is one voxel thick): a
        # threshold classifier should not count it as muscle.
        "skin": Tissue(label=2, hu=-70.0, tissue_class="skin"),
        "fat": Tissue(label=3, hu=-100.0, tissue_class="fat"),
        "muscle_quadriceps": Tissue(label=4, hu=40.0, tissue_class="muscle"),
        "muscle_hamstrings": Tissue(label=5, hu=40.0, tissue_class="muscle"),
        "muscle_adductors": Tissue(label=6, hu=40.0, tissue_class="muscle"),
        "muscle_psoas": Tissue(label=7, hu=40.0, tissue_class="muscle"),
        "muscle_erector_spinae": Tissue(label=8, hu=40.0, tissue_class="muscle"),
        "muscle_abdominal_wall": Tissue(label=9, hu=40.0, tissue_class="muscle"),
        "cortical_bone": Tissue(label=10, hu=1300.0, tissue_class="cortical_bone"),
        # Adult femoral marrow is partly fatty; 250 HU keeps it in the cancellous class.
        "marrow": Tissue(label=11, hu=250.0, tissue_class="cancellous_bone"),
        "cancellous_bone": Tissue(label=12, hu=250.0, tissue_class="cancellous_bone"),
        "sarcoma": Tissue(label=13, hu=55.0, tissue_class="soft_tissue"),
        "metastasis": Tissue(label=14, hu=50.0, tissue_class="soft_tissue"),
        "neurovascular_bundle": Tissue(label=15, hu=40.0, tissue_class="soft_tissue"),
        "vessel": Tissue(label=16, hu=40.0, tissue_class="soft_tissue"),
        "kidney": Tissue(label=17, hu=30.0, tissue_class="soft_tissue"),
        "bowel": Tissue(label=18, hu=20.0, tissue_class="soft_tissue"),
        "disc": Tissue(label=19, hu=80.0, tissue_class="soft_tissue"),
        "spinal_cord": Tissue(label=20, hu=35.0, tissue_class="soft_tissue"),
        "csf": Tissue(label=21, hu=10.0, tissue_class="fluid"),
    }
)
_LABEL_NAMES = {t.label: name for name, t in TISSUES.items()}


# --------------------------------------------------------------------------------------
# Grid
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class GridSpec:
    """The CT grid of a phantom.

    The grid is centred on ``centre_mm`` (LPS, mm). Pixels are square
    (``pixel_spacing_mm`` along rows and columns); slices are ``slice_spacing_mm`` apart and
    as thick. The in-plane centre is 0.005 mm off a round number, so voxel centres sit at odd
    multiples of 0.005 mm while contour vertices are rounded to 0.1 mm: no vertex and no
    horizontal or vertical contour edge ever passes through a voxel centre.
    """

    rows: int
    columns: int
    slices: int
    pixel_spacing_mm: float
    slice_spacing_mm: float
    centre_mm: tuple[float, float, float]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(slices, rows, columns)``."""
        return (self.slices, self.rows, self.columns)

    @property
    def first_voxel_mm(self) -> tuple[float, float, float]:
        """LPS position (mm) of the centre of voxel ``(k, j, i) = (0, 0, 0)``."""
        cx, cy, cz = self.centre_mm
        return (
            round(cx - 0.5 * (self.columns - 1) * self.pixel_spacing_mm, 6),
            round(cy - 0.5 * (self.rows - 1) * self.pixel_spacing_mm, 6),
            round(cz - 0.5 * (self.slices - 1) * self.slice_spacing_mm, 6),
        )

    def x_mm(self) -> FloatArray:
        """x (LPS, mm) of the voxel centres along a row, shape ``(columns,)``."""
        return self.first_voxel_mm[0] + self.pixel_spacing_mm * np.arange(
            self.columns, dtype=np.float64
        )

    def y_mm(self) -> FloatArray:
        """y (LPS, mm) of the voxel centres along a column, shape ``(rows,)``."""
        return self.first_voxel_mm[1] + self.pixel_spacing_mm * np.arange(
            self.rows, dtype=np.float64
        )

    def z_mm(self) -> FloatArray:
        """z (LPS, mm) of the slice centres, shape ``(slices,)``, increasing."""
        return self.first_voxel_mm[2] + self.slice_spacing_mm * np.arange(
            self.slices, dtype=np.float64
        )

    @property
    def slab_mm(self) -> tuple[float, float]:
        """z range (LPS, mm) covered by the slices: first centre - dz/2 to last + dz/2."""
        z = self.z_mm()
        half = 0.5 * self.slice_spacing_mm
        return (float(z[0] - half), float(z[-1] + half))


#: Right thigh, 128 x 128 pixels of 1.6 mm, 40 slices of 3 mm (204.8 x 204.8 x 120 mm).
THIGH_GRID = GridSpec(
    rows=128,
    columns=128,
    slices=40,
    pixel_spacing_mm=1.6,
    slice_spacing_mm=3.0,
    centre_mm=(-79.995, 20.005, -650.5),
)
_THIGH_ORIGIN_MM = (-80.0, 20.0, -650.0)  # anatomy frame: the thigh axis at mid-scan
#: Lumbar abdomen, 144 x 144 pixels of 2.3 mm, 36 slices of 2.5 mm (331.2 x 331.2 x 90 mm).
#: Square on purpose: rt-utils 1.2.7 builds masks of shape (Columns, Rows) and clips
#: non-square images.
SPINE_GRID = GridSpec(
    rows=144,
    columns=144,
    slices=36,
    pixel_spacing_mm=2.3,
    slice_spacing_mm=2.5,
    centre_mm=(0.005, 10.005, -320.25),
)
_SPINE_ORIGIN_MM = (0.0, 10.0, -320.0)  # anatomy frame: midline, L3 mid-height


# --------------------------------------------------------------------------------------
# Shape primitives. Local coordinates: mm from the phantom's anatomy origin, LPS axes.
# --------------------------------------------------------------------------------------


def _max_sagitta_mm(p: FloatArray, q: FloatArray, mid: FloatArray) -> float:
    """Largest distance from the curve points ``mid`` to the chords ``p``-``q``."""
    chord = q - p
    cross = chord[:, 0] * (mid[:, 1] - p[:, 1]) - chord[:, 1] * (mid[:, 0] - p[:, 0])
    return float(np.max(np.abs(cross) / np.hypot(chord[:, 0], chord[:, 1])))


def _sample_curve(curve: Callable[[FloatArray], FloatArray], *, closed: bool) -> FloatArray:
    """Fewest vertices (a multiple of 8, >= 40) whose chords stay within the tolerance.

    ``curve`` maps parameters in [0, 1] to points ``(n, 2)``. A closed curve is sampled at
    half-step offsets (no vertex on an axis of symmetry); an open arc includes both ends.
    """
    n = _N_MIN
    while True:
        if closed:
            t = (np.arange(n) + 0.5) / n
            pts = curve(t)
            nxt, mid = np.roll(pts, -1, axis=0), curve((np.arange(n) + 1.0) / n)
            chords = (pts, nxt, mid)
        else:
            pts = curve(np.linspace(0.0, 1.0, n + 1))
            chords = (pts[:-1], pts[1:], curve((np.arange(n) + 0.5) / n))
        if n >= _N_MAX or _max_sagitta_mm(*chords) <= CONTOUR_TOLERANCE_MM:
            return pts
        n += 8


def _rotation(angle_deg: float) -> FloatArray:
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


@dataclass(frozen=True, kw_only=True, slots=True)
class Ellipse:
    """Ellipse in an axial plane.

    ``angle_deg`` rotates the first semi-axis from +x towards +y.
    """

    centre_mm: tuple[float, float]
    semi_axes_mm: tuple[float, float]
    angle_deg: float = 0.0

    def area_mm2(self) -> float:
        """Exact area, pi a b."""
        return math.pi * self.semi_axes_mm[0] * self.semi_axes_mm[1]

    def polygon(self) -> FloatArray:
        """Counter-clockwise polygon, shape ``(n, 2)``, vertices on the ellipse."""
        a, b = self.semi_axes_mm
        rot, centre = _rotation(self.angle_deg), np.asarray(self.centre_mm)

        def curve(u: FloatArray) -> FloatArray:
            t = 2.0 * np.pi * u
            return np.asarray(np.stack([a * np.cos(t), b * np.sin(t)], axis=1) @ rot.T + centre)

        return _sample_curve(curve, closed=True)

    def ray_points(self, apex_mm: tuple[float, float], angles_deg: FloatArray) -> FloatArray:
        """Points where rays from ``apex_mm`` (inside) at ``angles_deg`` leave the ellipse."""
        rot = _rotation(self.angle_deg)
        angles = np.radians(angles_deg)
        d = np.stack([np.cos(angles), np.sin(angles)], axis=1) @ rot  # into ellipse frame
        p = (np.asarray(apex_mm) - np.asarray(self.centre_mm)) @ rot
        a, b = self.semi_axes_mm
        qa = (d[:, 0] / a) ** 2 + (d[:, 1] / b) ** 2
        qb = 2.0 * (p[0] * d[:, 0] / a**2 + p[1] * d[:, 1] / b**2)
        qc = (p[0] / a) ** 2 + (p[1] / b) ** 2 - 1.0
        if qc >= 0.0:
            raise ValueError(f"ray apex {apex_mm} is not inside {self}")
        t = (-qb + np.sqrt(qb * qb - 4.0 * qa * qc)) / (2.0 * qa)
        direction = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return np.asarray(np.asarray(apex_mm) + t[:, None] * direction, dtype=np.float64)


@dataclass(frozen=True, kw_only=True, slots=True)
class FlatBackOutline:
    """Body outline: an ellipse in front (y < cy) and a flatter superellipse behind.

    Posterior half: ``|x/a|**n + |y/b_posterior|**n <= 1``. Area (exact):
    ``pi a b_anterior / 2 + 2 a b_posterior Gamma(1 + 1/n)**2 / Gamma(1 + 2/n)``.
    """

    centre_mm: tuple[float, float]
    a_mm: float
    b_anterior_mm: float
    b_posterior_mm: float
    exponent: float

    def area_mm2(self) -> float:
        """Exact area (see class docstring)."""
        n = self.exponent
        posterior = (
            2.0
            * self.a_mm
            * self.b_posterior_mm
            * math.gamma(1 + 1 / n) ** 2
            / math.gamma(1 + 2 / n)
        )
        return 0.5 * math.pi * self.a_mm * self.b_anterior_mm + posterior

    def polygon(self) -> FloatArray:
        """Counter-clockwise polygon sampled uniformly in polar angle, vertices on the curve."""
        a, e, centre = self.a_mm, self.exponent, np.asarray(self.centre_mm)

        def curve(u: FloatArray) -> FloatArray:
            c, s = np.cos(2.0 * np.pi * u), np.sin(2.0 * np.pi * u)
            r_front = 1.0 / np.sqrt((c / a) ** 2 + (s / self.b_anterior_mm) ** 2)
            r_back = (np.abs(c / a) ** e + np.abs(s / self.b_posterior_mm) ** e) ** (-1 / e)
            r = np.where(s < 0.0, r_front, r_back)
            return np.asarray(np.stack([r * c, r * s], axis=1) + centre, dtype=np.float64)

        return _sample_curve(curve, closed=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class EllipticBand:
    """Region between two concentric axis-aligned ellipses, limited to ``y <= y_max_mm``.

    Area (exact): ``S(outer) - S(inner)`` with the elliptic segment
    ``S = a b [pi/2 + asin(h/b) + (h/b) sqrt(1 - (h/b)**2)]``, ``h = y_max - cy``.
    """

    outer: Ellipse
    inner: Ellipse
    y_max_mm: float

    @staticmethod
    def _segment_mm2(e: Ellipse, h: float) -> float:
        a, b = e.semi_axes_mm
        u = h / b
        return a * b * (0.5 * math.pi + math.asin(u) + u * math.sqrt(1.0 - u * u))

    def area_mm2(self) -> float:
        """Exact area (see class docstring)."""
        h = self.y_max_mm - self.outer.centre_mm[1]
        return self._segment_mm2(self.outer, h) - self._segment_mm2(self.inner, h)

    def polygon(self) -> FloatArray:
        """Counter-clockwise polygon: outer arc, then inner arc backwards."""
        arcs = []
        for e in (self.outer, self.inner):
            a, b = e.semi_axes_mm
            t1 = math.asin((self.y_max_mm - e.centre_mm[1]) / b)
            start, span = math.pi - t1, math.pi + 2.0 * t1

            def curve(
                u: FloatArray,
                a: float = a,
                b: float = b,
                t0: float = start,
                dt: float = span,
                c: tuple[float, float] = e.centre_mm,
            ) -> FloatArray:
                t = t0 + dt * u
                pts = np.stack([a * np.cos(t), b * np.sin(t)], axis=1) + np.asarray(c)
                return np.asarray(pts, dtype=np.float64)

            arcs.append(_sample_curve(curve, closed=False))
        return np.concatenate([arcs[0], arcs[1][::-1]])


class Section(Protocol):
    """A closed planar region with an exact area and a polygon."""

    def area_mm2(self) -> float: ...

    def polygon(self) -> FloatArray: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Ellipsoid:
    """Ellipsoid with its third axis along z, rotated by ``angle_deg`` about z.

    Cross-section at z: the ellipse scaled by ``sqrt(1 - ((z - cz)/c)**2)``. Volume within a
    slab (exact, as the section area is quadratic in z): ``pi a b int (1 - u**2/c**2) du``.
    """

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    angle_deg: float = 0.0

    def section(self, z_mm: float) -> Ellipse | None:
        """Axial cross-section at ``z_mm``, or None outside the ellipsoid."""
        a, b, c = self.semi_axes_mm
        u = (z_mm - self.centre_mm[2]) / c
        if abs(u) >= 1.0:
            return None
        s = math.sqrt(1.0 - u * u)
        return Ellipse(
            centre_mm=self.centre_mm[:2], semi_axes_mm=(a * s, b * s), angle_deg=self.angle_deg
        )

    def z_extent_mm(self) -> tuple[float, float]:
        """z range of the solid."""
        return (self.centre_mm[2] - self.semi_axes_mm[2], self.centre_mm[2] + self.semi_axes_mm[2])

    def area_at_mm2(self, z_mm: float) -> float:
        """Exact cross-section area at ``z_mm`` (0 outside)."""
        s = self.section(z_mm)
        return 0.0 if s is None else s.area_mm2()


@dataclass(frozen=True, kw_only=True, slots=True)
class Cylinder:
    """Elliptic cylinder, optionally oblique (sheared), tapered and inset, along z.

    Cross-section at z: centre ``(cx, cy) + shift_per_mm * (z - cz)``, semi-axes
    ``semi_axes * (1 + taper_per_mm * (z - cz)) - inset_mm``, for z in ``z_range_mm``.
    Volume (Cavalieri, exact; the area is quadratic in z):
    ``pi int (a s(z) - d)(b s(z) - d) dz``.
    """

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float]
    angle_deg: float = 0.0
    shift_per_mm: tuple[float, float] = (0.0, 0.0)
    taper_per_mm: float = 0.0
    inset_mm: float = 0.0
    z_range_mm: tuple[float, float] = (-math.inf, math.inf)

    def section(self, z_mm: float) -> Ellipse | None:
        """Axial cross-section at ``z_mm``, or None outside ``z_range_mm``."""
        lo, hi = self.z_range_mm
        if not lo < z_mm < hi:
            return None
        dz = z_mm - self.centre_mm[2]
        s = 1.0 + self.taper_per_mm * dz
        a, b = self.semi_axes_mm
        centre = (
            self.centre_mm[0] + self.shift_per_mm[0] * dz,
            self.centre_mm[1] + self.shift_per_mm[1] * dz,
        )
        return Ellipse(
            centre_mm=centre,
            semi_axes_mm=(a * s - self.inset_mm, b * s - self.inset_mm),
            angle_deg=self.angle_deg,
        )

    def z_extent_mm(self) -> tuple[float, float]:
        """z range of the solid."""
        return self.z_range_mm

    def area_at_mm2(self, z_mm: float) -> float:
        """Exact cross-section area at ``z_mm`` (0 outside)."""
        s = self.section(z_mm)
        return 0.0 if s is None else s.area_mm2()


@dataclass(frozen=True, kw_only=True, slots=True)
class Prism:
    """A constant planar section extruded along z over ``z_range_mm``."""

    shape: FlatBackOutline | EllipticBand
    z_range_mm: tuple[float, float] = (-math.inf, math.inf)

    def section(self, z_mm: float) -> FlatBackOutline | EllipticBand | None:
        """The section, or None outside ``z_range_mm``."""
        lo, hi = self.z_range_mm
        return self.shape if lo < z_mm < hi else None

    def z_extent_mm(self) -> tuple[float, float]:
        """z range of the solid."""
        return self.z_range_mm

    def area_at_mm2(self, z_mm: float) -> float:
        """Exact cross-section area at ``z_mm`` (0 outside)."""
        return 0.0 if self.section(z_mm) is None else self.shape.area_mm2()


Solid = Ellipsoid | Cylinder | Prism


def _volume_in_slab_mm3(solid: Solid, z_lo: float, z_hi: float) -> float:
    """Exact volume of ``solid`` between two z planes.

    Every solid here has a cross-section area that is a polynomial of degree <= 2 in z on its
    extent, so two-point Gauss-Legendre quadrature is exact.
    """
    lo, hi = solid.z_extent_mm()
    lo, hi = max(lo, z_lo), min(hi, z_hi)
    if hi <= lo:
        return 0.0
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    g = half / math.sqrt(3.0)
    return half * (solid.area_at_mm2(mid - g) + solid.area_at_mm2(mid + g))


# --------------------------------------------------------------------------------------
# Polygons on the grid
# --------------------------------------------------------------------------------------


def _round_ring(p: FloatArray) -> FloatArray:
    """Round to 0.1 mm and drop repeated vertices."""
    p = np.round(p, CONTOUR_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    keep = np.any(p != np.roll(p, 1, axis=0), axis=1)
    return p[keep]


def _finish(poly_local: FloatArray, origin_mm: Sequence[float]) -> FloatArray:
    """Local polygon -> patient mm, rounded to 0.1 mm."""
    return _round_ring(poly_local + np.asarray(origin_mm[:2]))


def _polygon_mask(poly: FloatArray, x: FloatArray, y: FloatArray) -> BoolArray:
    """Even-odd rasterisation of one closed polygon at voxel centres.

    A centre is inside when a ray towards -x crosses the boundary an odd number of times;
    edges are half-open in y and crossings must lie strictly left of the centre, so polygons
    that share edges tile the plane without gaps or overlaps.

    Returns
    -------
    numpy.ndarray of bool, shape ``(len(y), len(x))``
    """
    mask = np.zeros((y.size, x.size), dtype=bool)
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    j0, j1 = np.searchsorted(y, [y0.min(), y0.max()], side="left")
    i0, i1 = np.searchsorted(x, [x0.min(), x0.max()], side="left")
    if j1 <= j0 or i1 <= i0:
        return mask
    yy = y[j0:j1, None]
    spans = (y0 <= yy) != (y1 <= yy)
    dy = np.where(y1 != y0, y1 - y0, 1.0)
    xc = np.where(spans, x0 + (yy - y0) * (x1 - x0) / dy, np.inf)
    crossings = (xc[:, :, None] < x[None, None, i0:i1]).sum(axis=1)
    mask[j0:j1, i0:i1] = (crossings % 2).astype(bool)
    return mask


def _contours_mask(contours: Iterable[FloatArray], x: FloatArray, y: FloatArray) -> BoolArray:
    """Even-odd union of several contours on one slice, shape ``(len(y), len(x))``."""
    mask = np.zeros((y.size, x.size), dtype=bool)
    for c in contours:
        mask ^= _polygon_mask(c, x, y)
    return mask


# --------------------------------------------------------------------------------------
# Phantom containers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Roi:
    """One ROI of a phantom: its contours on every slice, in patient mm.

    ``contours[k]`` holds the closed polygons (``(n, 2)`` arrays of x, y in LPS mm) on slice
    ``k``; the region is their even-odd union (outer contours counter-clockwise, holes
    clockwise).
    """

    name: str
    interpreted_type: str
    color: tuple[int, int, int]
    description: str
    contours: tuple[tuple[FloatArray, ...], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Phantom:
    """A generated phantom: grid, tissue labels and ROIs.

    ``origin_mm`` is the LPS position of the anatomy frame in which the solids are defined;
    ``labels`` has shape ``(slices, rows, columns)`` and holds :data:`TISSUES` label values.
    """

    name: str
    description: str
    body_part: str
    laterality: str
    patient_name: str
    patient_id: str
    window_center_hu: float
    window_width_hu: float
    seed: int
    grid: GridSpec
    origin_mm: tuple[float, float, float]
    labels: npt.NDArray[np.uint8] = field(repr=False)
    rois: tuple[Roi, ...] = field(repr=False)

    def roi(self, name: str) -> Roi:
        """The ROI called ``name``."""
        for r in self.rois:
            if r.name == name:
                return r
        raise KeyError(f"{self.name} has no ROI {name!r}; it has {[r.name for r in self.rois]}")


@dataclass(kw_only=True, slots=True)
class _Canvas:
    """Mutable helper that paints labels and gathers ROI contours slice by slice."""

    grid: GridSpec
    labels: npt.NDArray[np.uint8]
    contours: dict[str, list[list[FloatArray]]]
    k: int = 0

    @classmethod
    def empty(cls, grid: GridSpec, roi_names: Sequence[str]) -> _Canvas:
        return cls(
            grid=grid,
            labels=np.zeros(grid.shape, dtype=np.uint8),
            contours={n: [[] for _ in range(grid.slices)] for n in roi_names},
        )

    def paint(self, tissue: str, contours: Sequence[FloatArray]) -> None:
        m = _contours_mask(contours, self.grid.x_mm(), self.grid.y_mm())
        self.labels[self.k][m] = TISSUES[tissue].label

    def add(self, roi: str, contours: Sequence[FloatArray]) -> None:
        self.contours[roi][self.k].extend(contours)


def _make_rois(
    canvas: _Canvas, table: Sequence[tuple[str, str, tuple[int, int, int], str]]
) -> tuple[Roi, ...]:
    return tuple(
        Roi(
            name=name,
            interpreted_type=kind,
            color=color,
            description=desc,
            contours=tuple(tuple(c) for c in canvas.contours[name]),
        )
        for name, kind, color, desc in table
    )


# --------------------------------------------------------------------------------------
# Thigh sarcoma
# --------------------------------------------------------------------------------------

# Right thigh: medial is +x (towards the patient's left), anterior is -y.
_THIGH_TAPER_PER_MM = 0.001  # semi-axes grow 0.1 %/mm towards the hip (+z)
_FEMUR_SHIFT_PER_MM = (-0.08, 0.0)  # the shaft runs medially (+x) towards the knee (-z)
_RAY_STEP_DEG = 6.0  # fascia and femur are sampled on rays from the femur axis (60 rays)
_COMPARTMENTS_DEG = {  # angle ranges around the femur axis (0 = medial, 90 = posterior)
    "Quadriceps": (150.0, 300.0),
    "Adductors": (300.0, 420.0),
    "Hamstrings": (60.0, 150.0),
}
_COMPARTMENT_TISSUE = {
    "Quadriceps": "muscle_quadriceps",
    "Adductors": "muscle_adductors",
    "Hamstrings": "muscle_hamstrings",
}
_TUMOUR_Z_MM = 6.0


def _thigh_anatomy() -> dict[str, Solid]:
    """The thigh's solids in local coordinates (mm from the anatomy origin)."""
    body = Cylinder(
        centre_mm=(0.0, 0.0, 0.0), semi_axes_mm=(80.0, 70.0), taper_per_mm=_THIGH_TAPER_PER_MM
    )
    femur = Cylinder(
        centre_mm=(8.0, 5.0, 0.0), semi_axes_mm=(14.0, 14.0), shift_per_mm=_FEMUR_SHIFT_PER_MM
    )
    nvb_dir = math.radians(325.0)  # anteromedial, in the adductor canal
    nvb = replace(
        femur,
        centre_mm=(8.0 + 27.0 * math.cos(nvb_dir), 5.0 + 27.0 * math.sin(nvb_dir), 0.0),
        semi_axes_mm=(5.0, 5.0),
    )
    # Sarcoma anterolateral to the shaft, 3 mm from the cortex on its central slice.
    femur_at_tumour = femur.section(_TUMOUR_Z_MM)
    assert femur_at_tumour is not None
    u = math.radians(210.0)
    fx, fy = femur_at_tumour.centre_mm
    t_centre = (fx + 42.0 * math.cos(u), fy + 42.0 * math.sin(u), _TUMOUR_Z_MM)
    return {
        "body": body,
        "skin_inner": replace(body, inset_mm=2.0),
        "fascia": replace(body, inset_mm=15.0),
        "femur": femur,
        "marrow": replace(femur, semi_axes_mm=(9.0, 9.0)),
        "nvb": nvb,
        "gtv": Ellipsoid(centre_mm=t_centre, semi_axes_mm=(25.0, 20.0, 30.0), angle_deg=210.0),
        "ctv": Ellipsoid(centre_mm=t_centre, semi_axes_mm=(35.0, 30.0, 40.0), angle_deg=210.0),
        "ptv": Ellipsoid(centre_mm=t_centre, semi_axes_mm=(41.0, 36.0, 46.0), angle_deg=210.0),
    }


_THIGH_ROIS: tuple[tuple[str, str, tuple[int, int, int], str], ...] = (
    ("Body", "EXTERNAL", (0, 200, 0), "skin surface"),
    ("Femur", "ORGAN", (230, 210, 160), "outer cortical surface, marrow included"),
    ("FemurCortex", "ORGAN", (255, 250, 205), "cortical shell: outer and inner contour"),
    ("Muscle", "ORGAN", (190, 80, 80), "all muscle: fascia minus femur, NV bundle, sarcoma"),
    ("Quadriceps", "ORGAN", (205, 92, 92), "anterior compartment"),
    ("Hamstrings", "ORGAN", (160, 82, 45), "posterior compartment"),
    ("Adductors", "ORGAN", (210, 105, 30), "medial compartment"),
    ("NVBundle", "ORGAN", (255, 0, 255), "femoral neurovascular bundle"),
    ("GTV", "GTV", (255, 0, 0), "soft-tissue sarcoma, ellipsoid 50 x 40 x 60 mm"),
    ("CTV", "CTV", (255, 165, 0), "ellipsoid, semi-axes of the GTV + 10 mm"),
    ("PTV", "PTV", (0, 255, 255), "ellipsoid, semi-axes of the CTV + 6 mm"),
)


@functools.cache
def thigh_sarcoma() -> Phantom:
    """Build the thigh sarcoma phantom (grid :data:`THIGH_GRID`).

    Returns
    -------
    Phantom
        Labels ``(slice, row, column)`` uint8 (values of :data:`TISSUES`) and 11 ROIs.
    """
    grid = THIGH_GRID
    s = _thigh_anatomy()
    canvas = _Canvas.empty(grid, [r[0] for r in _THIGH_ROIS])
    ray_deg = np.arange(0.0, 360.0, _RAY_STEP_DEG)
    origin = _THIGH_ORIGIN_MM
    for k, z in enumerate(grid.z_mm()):
        canvas.k = k
        zl = float(z) - origin[2]

        def sec(name: str, zl: float = zl) -> Ellipse:
            e = s[name].section(zl)
            assert isinstance(e, Ellipse)
            return e

        def poly(e: Section | None) -> FloatArray:
            assert e is not None
            return _finish(e.polygon(), origin)

        femur = sec("femur")
        apex = femur.centre_mm
        fascia_ring = _finish(sec("fascia").ray_points(apex, ray_deg), origin)
        femur_ring = _finish(femur.ray_points(apex, ray_deg), origin)
        body, skin_inner = poly(sec("body")), poly(sec("skin_inner"))
        marrow, nvb = poly(sec("marrow")), poly(sec("nvb"))
        gtv_section = s["gtv"].section(zl)
        gtv = None if gtv_section is None else poly(gtv_section)

        canvas.paint("skin", [body])
        canvas.paint("fat", [skin_inner])
        for roi, (lo, hi) in _COMPARTMENTS_DEG.items():
            idx = np.arange(round(lo / _RAY_STEP_DEG), round(hi / _RAY_STEP_DEG) + 1) % ray_deg.size
            sector = np.concatenate([fascia_ring[idx], femur_ring[idx][::-1]])
            holes = {"Adductors": [nvb[::-1]], "Quadriceps": [] if gtv is None else [gtv[::-1]]}
            canvas.paint(_COMPARTMENT_TISSUE[roi], [sector])
            canvas.add(roi, [sector, *holes.get(roi, [])])
        canvas.paint("cortical_bone", [femur_ring])
        canvas.paint("marrow", [marrow])
        canvas.paint("neurovascular_bundle", [nvb])

        canvas.add("Body", [body])
        canvas.add("Femur", [femur_ring])
        canvas.add("FemurCortex", [femur_ring, marrow[::-1]])
        canvas.add("NVBundle", [nvb])
        muscle = [fascia_ring, femur_ring[::-1], nvb[::-1]]
        if gtv is not None:
            canvas.paint("sarcoma", [gtv])
            canvas.add("GTV", [gtv])
            muscle.append(gtv[::-1])
        canvas.add("Muscle", muscle)
        for roi in ("CTV", "PTV"):
            e = s[roi.lower()].section(zl)
            if e is not None:
                canvas.add(roi, [poly(e)])

    phantom = Phantom(
        name="thigh_sarcoma",
        description="Right thigh, soft-tissue sarcoma abutting the femur",
        body_part="THIGH",
        laterality="R",
        patient_name="Phantom^Thigh Sarcoma",
        patient_id="RTPLAN-PH-THIGH",
        window_center_hu=40.0,
        window_width_hu=400.0,
        seed=20240102,
        grid=grid,
        origin_mm=origin,
        labels=canvas.labels,
        rois=_make_rois(canvas, _THIGH_ROIS),
    )
    _freeze(phantom)
    _check_consistency(phantom)
    return phantom


# --------------------------------------------------------------------------------------
# Spine metastasis
# --------------------------------------------------------------------------------------

_LEVELS_MM = {"L4": -40.0, "L3": 0.0, "L2": 40.0}  # centres of the vertebral bodies (local z)
_BODY_HALF_HEIGHT_MM = 15.0  # 30 mm bodies, 10 mm discs
_ENDPLATE_MM = 2.5


def _vertebra_pieces(z_c: float) -> list[tuple[Cylinder, Cylinder | None]]:
    """(outer surface, cancellous core or None) of the parts of one lumbar vertebra.

    ``z_c`` is the local z of the middle of the vertebral body. Laminae, transverse and
    spinous processes are solid cortical bone; body and pedicles have a cancellous core.
    """

    def piece(
        centre: tuple[float, float],
        semi: tuple[float, float],
        z: tuple[float, float],
        *,
        angle: float = 0.0,
        slope: float = 0.0,
        core_semi: tuple[float, float] | None = None,
        core_z: tuple[float, float] = (0.0, 0.0),
    ) -> tuple[Cylinder, Cylinder | None]:
        outer = Cylinder(
            centre_mm=(*centre, z_c),
            semi_axes_mm=semi,
            angle_deg=angle,
            shift_per_mm=(0.0, slope),
            z_range_mm=(z_c + z[0], z_c + z[1]),
        )
        if core_semi is None:
            return outer, None
        return outer, replace(
            outer, semi_axes_mm=core_semi, z_range_mm=(z_c + core_z[0], z_c + core_z[1])
        )

    h, e = _BODY_HALF_HEIGHT_MM, _ENDPLATE_MM
    body = piece(
        (0.0, -10.0), (22.5, 17.5), (-h, h), core_semi=(19.5, 14.5), core_z=(-h + e, h - e)
    )
    pieces = [body]
    for side in (1.0, -1.0):
        pieces += [
            piece(
                (16.0 * side, 11.0),
                (5.0, 9.0),
                (-3.0, 12.0),
                core_semi=(3.0, 7.0),
                core_z=(-0.5, 9.5),
            ),
            piece(
                (9.0 * side, 29.0), (13.6, 3.5), (-10.0, 8.0), angle=90.0 + 36.0 * side
            ),  # lamina
            piece((33.0 * side, 15.0), (15.0, 4.0), (-1.0, 9.0)),  # transverse process
        ]
    # Spinous process, sloping down backwards: its section moves 0.5 mm back per mm down.
    pieces.append(piece((0.0, 47.0), (3.5, 14.0), (-14.0, 4.0), slope=-0.5))
    return pieces


def _spine_anatomy() -> dict[str, Solid]:
    """The spine phantom's solids in local coordinates (mm from the anatomy origin)."""
    vb = Cylinder(centre_mm=(0.0, -10.0, 0.0), semi_axes_mm=(22.5, 17.5))
    h = _BODY_HALF_HEIGHT_MM
    solids: dict[str, Solid] = {
        "body": Prism(
            shape=FlatBackOutline(
                centre_mm=(0.0, 0.0),
                a_mm=155.0,
                b_anterior_mm=120.0,
                b_posterior_mm=95.0,
                exponent=3.0,
            )
        ),
        "wall": Prism(
            shape=EllipticBand(
                outer=Ellipse(centre_mm=(0.0, 0.0), semi_axes_mm=(140.0, 105.0)),
                inner=Ellipse(centre_mm=(0.0, 0.0), semi_axes_mm=(128.0, 93.0)),
                y_max_mm=15.0,
            )
        ),
        "canal": Cylinder(centre_mm=(0.0, 17.0, 0.0), semi_axes_mm=(11.0, 8.5)),
        "cord": Cylinder(centre_mm=(0.0, 18.0, 0.0), semi_axes_mm=(5.0, 4.0)),
        "disc_upper": replace(vb, z_range_mm=(h, 40.0 - h)),
        "disc_lower": replace(vb, z_range_mm=(-40.0 + h, -h)),
        "aorta": Cylinder(centre_mm=(12.0, -40.0, 0.0), semi_axes_mm=(10.0, 10.0)),
        "ivc": Cylinder(centre_mm=(-20.0, -38.0, 0.0), semi_axes_mm=(12.0, 8.0)),
        "gtv": Ellipsoid(centre_mm=(6.0, -12.0, 2.0), semi_axes_mm=(10.0, 10.0, 10.0)),
        "ptv": Ellipsoid(centre_mm=(6.0, -12.0, 2.0), semi_axes_mm=(15.0, 15.0, 15.0)),
        "bowel_1": Ellipsoid(
            centre_mm=(-38.0, -66.0, 8.0), semi_axes_mm=(28.0, 16.0, 36.0), angle_deg=20.0
        ),
        "bowel_2": Ellipsoid(
            centre_mm=(40.0, -70.0, -12.0), semi_axes_mm=(26.0, 15.0, 32.0), angle_deg=-25.0
        ),
        "bowel_3": Ellipsoid(centre_mm=(0.0, -82.0, 22.0), semi_axes_mm=(22.0, 8.0, 20.0)),
        "colon_r": Ellipsoid(centre_mm=(-88.0, -22.0, 0.0), semi_axes_mm=(17.0, 17.0, 60.0)),
        "colon_l": Ellipsoid(centre_mm=(88.0, -16.0, 0.0), semi_axes_mm=(15.0, 15.0, 60.0)),
        "gas_1": Ellipsoid(centre_mm=(-90.0, -28.0, 5.0), semi_axes_mm=(7.0, 5.0, 12.0)),
        "gas_2": Ellipsoid(
            centre_mm=(-40.0, -70.0, 10.0), semi_axes_mm=(9.0, 5.0, 9.0), angle_deg=20.0
        ),
    }
    for side, sx in (("L", 1.0), ("R", -1.0)):
        solids[f"psoas_{side}"] = Cylinder(
            centre_mm=(44.0 * sx, -7.0, 0.0), semi_axes_mm=(15.0, 14.0), taper_per_mm=-0.004
        )
        solids[f"erector_{side}"] = Cylinder(
            centre_mm=(36.0 * sx, 55.0, 0.0), semi_axes_mm=(25.0, 22.0)
        )
    # Kidneys: long axis in the axial plane from posterolateral to anteromedial; the left
    # kidney (patient's left = +x) sits higher than the right.
    solids["kidney_L"] = Ellipsoid(
        centre_mm=(82.0, 25.0, 12.0), semi_axes_mm=(28.0, 17.0, 50.0), angle_deg=40.0
    )
    solids["kidney_R"] = Ellipsoid(
        centre_mm=(-82.0, 25.0, -3.0), semi_axes_mm=(28.0, 17.0, 50.0), angle_deg=140.0
    )
    return solids


_SPINE_ROIS: tuple[tuple[str, str, tuple[int, int, int], str], ...] = (
    ("Body", "EXTERNAL", (0, 200, 0), "skin surface"),
    (
        "Vertebra",
        "ORGAN",
        (230, 210, 160),
        "all vertebral bone (L2-L4), marrow and lesion included",
    ),
    ("SpinalCanal", "ORGAN", (0, 128, 255), "thecal sac"),
    ("SpinalCord", "ORGAN", (255, 255, 0), "conus / cauda equina bundle"),
    ("Kidney_L", "ORGAN", (153, 102, 255), "left kidney (+x)"),
    ("Kidney_R", "ORGAN", (255, 153, 51), "right kidney (-x)"),
    ("Psoas_L", "ORGAN", (205, 92, 92), "left psoas"),
    ("Psoas_R", "ORGAN", (205, 92, 92), "right psoas"),
    ("ErectorSpinae_L", "ORGAN", (160, 82, 45), "left erector spinae"),
    ("ErectorSpinae_R", "ORGAN", (160, 82, 45), "right erector spinae"),
    ("Muscle", "ORGAN", (190, 80, 80), "psoas, erector spinae and abdominal wall"),
    ("GTV", "GTV", (255, 0, 0), "lytic metastasis in the L3 body, sphere r = 10 mm"),
    ("PTV", "PTV", (0, 255, 255), "GTV + 5 mm (sphere r = 15 mm), not cropped"),
)


def _polygon_rings(geom: object) -> list[tuple[FloatArray, bool]]:
    """(ring, is_hole) of a shapely Polygon or MultiPolygon, exteriors first."""
    import shapely
    from shapely.geometry.polygon import orient

    polys = list(getattr(geom, "geoms", [geom]))
    rings: list[tuple[FloatArray, bool]] = []
    for p in sorted(polys, key=lambda g: g.bounds):
        p = orient(shapely.normalize(p), sign=1.0)
        rings.append((np.asarray(p.exterior.coords)[:-1], False))
        rings += [(np.asarray(r.coords)[:-1], True) for r in p.interiors]
    return rings


@functools.cache
def spine_metastasis() -> Phantom:
    """Build the lumbar spine metastasis phantom (grid :data:`SPINE_GRID`).

    Returns
    -------
    Phantom
        Labels ``(slice, row, column)`` uint8 (values of :data:`TISSUES`) and 13 ROIs.
    """
    import shapely

    grid = SPINE_GRID
    s = _spine_anatomy()
    pieces = [p for zc in _LEVELS_MM.values() for p in _vertebra_pieces(zc)]
    canvas = _Canvas.empty(grid, [r[0] for r in _SPINE_ROIS])
    origin = _SPINE_ORIGIN_MM
    for k, z in enumerate(grid.z_mm()):
        canvas.k = k
        zl = float(z) - origin[2]

        def poly(name: str, zl: float = zl) -> FloatArray | None:
            e = s[name].section(zl)
            return None if e is None else _finish(e.polygon(), origin)

        def present(*names: str) -> list[FloatArray]:
            return [p for p in map(poly, names) if p is not None]

        body, wall = present("body", "wall")
        canvas.paint("fat", [body])
        for name in ("bowel_1", "bowel_2", "bowel_3", "colon_r", "colon_l"):
            canvas.paint("bowel", present(name))
        for name in ("gas_1", "gas_2"):
            canvas.paint("bowel_gas", present(name))
        canvas.paint("muscle_abdominal_wall", [wall])
        muscle = [wall]
        for side in ("L", "R"):
            psoas, erector = present(f"psoas_{side}", f"erector_{side}")
            canvas.paint("muscle_psoas", [psoas])
            canvas.paint("muscle_erector_spinae", [erector])
            canvas.add(f"Psoas_{side}", [psoas])
            canvas.add(f"ErectorSpinae_{side}", [erector])
            muscle += [psoas, erector]
            kidney = present(f"kidney_{side}")
            canvas.paint("kidney", kidney)
            canvas.add(f"Kidney_{side}", kidney)
        canvas.add("Muscle", muscle)
        canvas.paint("vessel", present("aorta", "ivc"))
        canvas.paint("disc", present("disc_upper", "disc_lower"))

        outer = [e for e in (p.section(zl) for p, _ in pieces) if e is not None]
        if outer:
            union = shapely.union_all(
                [shapely.Polygon(_finish(e.polygon(), origin)) for e in outer]
            )
            rings = [_round_ring(r) for r, _ in _polygon_rings(union)]
            canvas.paint("cortical_bone", rings)
            canvas.add("Vertebra", rings)
            cores = [c.section(zl) for _, c in pieces if c is not None]
            core_polys = [_finish(c.polygon(), origin) for c in cores if c is not None]
            cancellous = np.zeros(grid.shape[1:], dtype=bool)
            for c in core_polys:
                cancellous |= _polygon_mask(c, grid.x_mm(), grid.y_mm())
            canvas.labels[k][cancellous] = TISSUES["cancellous_bone"].label
        gtv = present("gtv")
        canvas.paint("metastasis", gtv)
        canvas.add("GTV", gtv)
        canvas.add("PTV", present("ptv"))
        canal, cord = present("canal", "cord")
        canvas.paint("csf", [canal])
        canvas.paint("spinal_cord", [cord])
        canvas.add("SpinalCanal", [canal])
        canvas.add("SpinalCord", [cord])
        canvas.add("Body", [body])

    phantom = Phantom(
        name="spine_metastasis",
        description="Lumbar spine L2-L4, lytic metastasis in the L3 body",
        body_part="LSPINE",
        laterality="",
        patient_name="Phantom^Spine Metastasis",
        patient_id="RTPLAN-PH-SPINE",
        window_center_hu=40.0,
        window_width_hu=400.0,
        seed=20240103,
        grid=grid,
        origin_mm=origin,
        labels=canvas.labels,
        rois=_make_rois(canvas, _SPINE_ROIS),
    )
    _freeze(phantom)
    _check_consistency(phantom)
    return phantom


# --------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------

#: For each ROI, the tissues whose voxels it covers exactly, and the side of the midline
#: (``"L"``: local x > 0, ``"R"``: local x < 0, ``None``: both). ROIs that are not a union of
#: tissues (CTV, PTV) are absent.
ROI_TISSUES: Mapping[str, Mapping[str, tuple[tuple[str, ...], str | None]]] = MappingProxyType(
    {
        "thigh_sarcoma": MappingProxyType(
            {
                "Body": (tuple(t for t in TISSUES if t != "air"), None),
                "Femur": (("cortical_bone", "marrow"), None),
                "FemurCortex": (("cortical_bone",), None),
                "Muscle": (("muscle_quadriceps", "muscle_hamstrings", "muscle_adductors"), None),
                "Quadriceps": (("muscle_quadriceps",), None),
                "Hamstrings": (("muscle_hamstrings",), None),
                "Adductors": (("muscle_adductors",), None),
                "NVBundle": (("neurovascular_bundle",), None),
                "GTV": (("sarcoma",), None),
            }
        ),
        "spine_metastasis": MappingProxyType(
            {
                "Body": (tuple(t for t in TISSUES if t != "air"), None),
                "Vertebra": (("cortical_bone", "cancellous_bone", "metastasis"), None),
                "SpinalCanal": (("csf", "spinal_cord"), None),
                "SpinalCord": (("spinal_cord",), None),
                "Kidney_L": (("kidney",), "L"),
                "Kidney_R": (("kidney",), "R"),
                "Psoas_L": (("muscle_psoas",), "L"),
                "Psoas_R": (("muscle_psoas",), "R"),
                "ErectorSpinae_L": (("muscle_erector_spinae",), "L"),
                "ErectorSpinae_R": (("muscle_erector_spinae",), "R"),
                "Muscle": (
                    ("muscle_psoas", "muscle_erector_spinae", "muscle_abdominal_wall"),
                    None,
                ),
                "GTV": (("metastasis",), None),
            }
        ),
    }
)


def _freeze(phantom: Phantom) -> None:
    phantom.labels.flags.writeable = False
    for roi in phantom.rois:
        for slice_contours in roi.contours:
            for c in slice_contours:
                c.flags.writeable = False


def _tissue_mask(phantom: Phantom, tissues: Iterable[str], side: str | None) -> BoolArray:
    mask = np.isin(phantom.labels, [TISSUES[t].label for t in tissues])
    if side is not None:
        x_local = phantom.grid.x_mm() - phantom.origin_mm[0]
        mask &= (x_local > 0.0) if side == "L" else (x_local < 0.0)
    return mask


def _check_consistency(phantom: Phantom) -> None:
    """Refuse a phantom whose ROIs do not cover exactly their tissues."""
    masks = roi_masks(phantom)
    for roi, (tissues, side) in ROI_TISSUES[phantom.name].items():
        diff = int(np.count_nonzero(masks[roi] != _tissue_mask(phantom, tissues, side)))
        if diff:
            raise RuntimeError(
                f"{phantom.name}: ROI {roi} differs from its tissues in {diff} voxels"
            )


def roi_masks(phantom: Phantom | str) -> dict[str, BoolArray]:
    """Exact masks of every ROI on the phantom's CT grid.

    A voxel is in an ROI when its centre is inside the even-odd union of the ROI's polygons
    on that slice (the polygons written to the RTSTRUCT).

    Parameters
    ----------
    phantom : Phantom or str
        A phantom or its name (``"thigh_sarcoma"`` or ``"spine_metastasis"``).

    Returns
    -------
    dict of str to numpy.ndarray
        ROI name -> bool array of shape ``(slices, rows, columns)``.
    """
    p = build(phantom) if isinstance(phantom, str) else phantom
    x, y = p.grid.x_mm(), p.grid.y_mm()
    out: dict[str, BoolArray] = {}
    for roi in p.rois:
        m = np.zeros(p.grid.shape, dtype=bool)
        for k, contours in enumerate(roi.contours):
            if contours:
                m[k] = _contours_mask(contours, x, y)
        out[roi.name] = m
    return out


def _labels(phantom: Phantom) -> tuple[npt.NDArray[np.uint8], dict[int, str]]:
    present = np.unique(phantom.labels)
    return phantom.labels.copy(), {int(v): _LABEL_NAMES[int(v)] for v in present}


def thigh_labels() -> tuple[npt.NDArray[np.uint8], dict[int, str]]:
    """Tissue labels of the thigh phantom on its CT grid.

    Returns
    -------
    labels : numpy.ndarray of uint8, shape ``(slices, rows, columns)`` = ``(40, 128, 128)``
        Tissue label of every voxel centre, z increasing with the slice index.
    names : dict of int to str
        Label value -> tissue name (a key of :data:`TISSUES`), for the labels present.
    """
    return _labels(thigh_sarcoma())


def spine_labels() -> tuple[npt.NDArray[np.uint8], dict[int, str]]:
    """Tissue labels of the spine phantom on its CT grid.

    Returns
    -------
    labels : numpy.ndarray of uint8, shape ``(slices, rows, columns)`` = ``(36, 144, 144)``
        Tissue label of every voxel centre, z increasing with the slice index.
    names : dict of int to str
        Label value -> tissue name (a key of :data:`TISSUES`), for the labels present.
    """
    return _labels(spine_metastasis())


def build(name: str | Phantom) -> Phantom:
    """The phantom called ``name`` (built once, then cached).

    Parameters
    ----------
    name : str or Phantom
        One of :data:`PHANTOM_NAMES`; a Phantom is returned as it is.

    Returns
    -------
    Phantom

    Raises
    ------
    KeyError
        If ``name`` is not one of :data:`PHANTOM_NAMES`.
    """
    if isinstance(name, Phantom):
        return name
    builders: dict[str, Callable[[], Phantom]] = {
        "thigh_sarcoma": thigh_sarcoma,
        "spine_metastasis": spine_metastasis,
    }
    if name not in builders:
        raise KeyError(f"unknown phantom {name!r}; choose one of {', '.join(PHANTOM_NAMES)}")
    return builders[name]()


def hu_volume(phantom: Phantom | str) -> npt.NDArray[np.int16]:
    """The CT numbers written to the phantom's slices (HU, with the seeded noise).

    Returns
    -------
    numpy.ndarray of int16, shape ``(slices, rows, columns)``
        Nominal tissue HU plus Gaussian noise (SD :data:`NOISE_SD_HU`), rounded and clipped
        to the 12-bit stored range [-1024, 3071].
    """
    p = build(phantom)
    lut = np.zeros(256, dtype=np.float64)
    for t in TISSUES.values():
        lut[t.label] = t.hu
    rng = np.random.default_rng(p.seed)
    hu = lut[p.labels] + rng.normal(0.0, NOISE_SD_HU, size=p.labels.shape)
    lo = _RESCALE_INTERCEPT_HU
    hi = _RESCALE_INTERCEPT_HU + 2**_BITS_STORED - 1
    return np.clip(np.rint(hu), lo, hi).astype(np.int16)


# Analytic volumes -------------------------------------------------------------------------


def _volume_table(
    solids: Mapping[str, Solid],
    grid: GridSpec,
    origin_z_mm: float,
    recipe: Mapping[str, Sequence[tuple[float, str]]],
) -> tuple[dict[str, float], dict[str, float]]:
    """(continuous, slice-stack) volumes in cm3 of signed sums of solids, clipped to the slab."""
    z_lo, z_hi = (z - origin_z_mm for z in grid.slab_mm)
    z_local = grid.z_mm() - origin_z_mm
    exact: dict[str, float] = {}
    stack: dict[str, float] = {}
    for roi, terms in recipe.items():
        exact[roi] = sum(w * _volume_in_slab_mm3(solids[n], z_lo, z_hi) for w, n in terms) / 1000.0
        stack[roi] = (
            sum(w * solids[n].area_at_mm2(float(z)) for w, n in terms for z in z_local)
            * grid.slice_spacing_mm
            / 1000.0
        )
    return exact, stack


def _analytic_volumes() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    thigh = {
        "Body": [(1.0, "body")],
        "Femur": [(1.0, "femur")],
        "FemurCortex": [(1.0, "femur"), (-1.0, "marrow")],
        "NVBundle": [(1.0, "nvb")],
        "Muscle": [(1.0, "fascia"), (-1.0, "femur"), (-1.0, "nvb"), (-1.0, "gtv")],
        "GTV": [(1.0, "gtv")],
        "CTV": [(1.0, "ctv")],
        "PTV": [(1.0, "ptv")],
    }
    spine = {
        "Body": [(1.0, "body")],
        "SpinalCanal": [(1.0, "canal")],
        "SpinalCord": [(1.0, "cord")],
        "Kidney_L": [(1.0, "kidney_L")],
        "Kidney_R": [(1.0, "kidney_R")],
        "Psoas_L": [(1.0, "psoas_L")],
        "Psoas_R": [(1.0, "psoas_R")],
        "ErectorSpinae_L": [(1.0, "erector_L")],
        "ErectorSpinae_R": [(1.0, "erector_R")],
        "Muscle": [(1.0, "wall")] + [(1.0, f"{m}_{s}") for m in ("psoas", "erector") for s in "LR"],
        "GTV": [(1.0, "gtv")],
        "PTV": [(1.0, "ptv")],
    }
    te, ts = _volume_table(_thigh_anatomy(), THIGH_GRID, _THIGH_ORIGIN_MM[2], thigh)
    se, ss = _volume_table(_spine_anatomy(), SPINE_GRID, _SPINE_ORIGIN_MM[2], spine)
    return {"thigh_sarcoma": te, "spine_metastasis": se}, {
        "thigh_sarcoma": ts,
        "spine_metastasis": ss,
    }


_EXACT, _STACK = _analytic_volumes()
#: Closed-form volumes (cm3) of the ROIs whose shape has one, clipped to the scanned slab
#: (first slice centre - dz/2 to last slice centre + dz/2). Formulas: sample_data/README.md.
ANALYTIC_VOLUMES_CC: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {k: MappingProxyType(v) for k, v in _EXACT.items()}
)
#: Exact cross-section area on every slice times the slice spacing (cm3): what stacking the
#: contours slab by slab measures, before the polygon approximation (< 0.3 % smaller).
SLICE_STACK_VOLUMES_CC: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {k: MappingProxyType(v) for k, v in _STACK.items()}
)


def _landmarks() -> dict[str, dict[str, tuple[float, float, float]]]:
    def to_patient(origin: Sequence[float], p: Sequence[float]) -> tuple[float, float, float]:
        return (
            round(p[0] + origin[0], 6),
            round(p[1] + origin[1], 6),
            round(p[2] + origin[2], 6),
        )

    def centre(solid: Solid) -> tuple[float, float, float]:
        if isinstance(solid, Prism):
            raise TypeError("a prism has no centre")
        return solid.centre_mm

    th, sp = _thigh_anatomy(), _spine_anatomy()
    return {
        "thigh_sarcoma": {
            "GTV_centre": to_patient(_THIGH_ORIGIN_MM, centre(th["gtv"])),
            "femur_axis_point": to_patient(_THIGH_ORIGIN_MM, centre(th["femur"])),
            "NVBundle_axis_point": to_patient(_THIGH_ORIGIN_MM, centre(th["nvb"])),
        },
        "spine_metastasis": {
            "GTV_centre": to_patient(_SPINE_ORIGIN_MM, centre(sp["gtv"])),
            "L3_body_centre": to_patient(_SPINE_ORIGIN_MM, (0.0, -10.0, _LEVELS_MM["L3"])),
            "SpinalCanal_axis_point": to_patient(_SPINE_ORIGIN_MM, centre(sp["canal"])),
            "Kidney_L_centre": to_patient(_SPINE_ORIGIN_MM, centre(sp["kidney_L"])),
            "Kidney_R_centre": to_patient(_SPINE_ORIGIN_MM, centre(sp["kidney_R"])),
        },
    }


#: Key positions (LPS mm) for tests of geometry and guidance. The femur and NV bundle axes
#: run along (-0.08, 0, 1) (they move 0.08 mm towards +x per mm towards -z) through their
#: ``*_axis_point``; the spinal canal axis is parallel to z.
LANDMARKS_MM: Mapping[str, Mapping[str, tuple[float, float, float]]] = MappingProxyType(
    {k: MappingProxyType(v) for k, v in _landmarks().items()}
)


# --------------------------------------------------------------------------------------
# DICOM writers: the shared pydicom builders of rtplan.testing (not rtplan's own writers)
# --------------------------------------------------------------------------------------


def _uid(*parts: object) -> str:
    """A UID (``2.25.<int>``, name-based UUID) that depends only on ``parts`` and the root."""
    return str(testing.uid(_UID_ROOT, *parts))


def _header(phantom: Phantom) -> dict[str, object]:
    """Patient, study, series and equipment attributes shared by the CT and the RTSTRUCT."""
    return {
        "ImplementationClassUID": _uid("implementation"),
        "ImplementationVersionName": "RTPLAN_PHANTOM1",
        "InstanceCreationDate": _DATE,
        "InstanceCreationTime": _TIME,
        "StudyDate": _DATE,
        "StudyTime": _TIME,
        "StudyDescription": phantom.description,
        "PatientName": phantom.patient_name,
        "PatientID": phantom.patient_id,
        "StudyInstanceUID": _uid(phantom.name, "study"),
        "Manufacturer": "rtplan",
        "ManufacturerModelName": "make_phantoms.py",
        "SoftwareVersions": "1",
        "SeriesDate": _DATE,
        "SeriesTime": _TIME,
    }


def write_ct_series(phantom: Phantom, folder: Path | str) -> list[Path]:
    """Write the phantom's CT slices, one Explicit VR Little Endian file each.

    Files are ``CT_001.dcm`` ... numbered by InstanceNumber, which counts from the most
    superior slice (so it decreases as z increases).

    Parameters
    ----------
    phantom : Phantom
    folder : path-like
        Folder that receives the files.

    Returns
    -------
    list of pathlib.Path
        The written files, in slice order ``k`` (z increasing).
    """
    grid = phantom.grid
    z_mm = grid.z_mm()
    instances = [grid.slices - k for k in range(grid.slices)]
    attributes = {
        **_header(phantom),
        "ImageType": ["DERIVED", "SECONDARY", "AXIAL"],
        "ContentDate": _DATE,
        "ContentTime": _TIME,
        "AcquisitionDate": _DATE,
        "AcquisitionTime": _TIME,
        "SeriesDescription": "Synthetic CT phantom",
        "BodyPartExamined": phantom.body_part,
        "Laterality": phantom.laterality or None,
        "SeriesInstanceUID": _uid(phantom.name, "ct-series"),
        "FrameOfReferenceUID": _uid(phantom.name, "frame-of-reference"),
        "WindowCenter": testing.format_ds(phantom.window_center_hu),
        "WindowWidth": testing.format_ds(phantom.window_width_hu),
    }

    def slice_location(k: int, ds: Dataset) -> None:
        ds.SliceLocation = testing.format_ds(float(z_mm[k]))

    return testing.write_ct_series(
        folder,
        hu_volume(phantom),
        testing.SeriesGeometry(
            origin_mm=grid.first_voxel_mm,
            spacing_mm=(grid.slice_spacing_mm, grid.pixel_spacing_mm, grid.pixel_spacing_mm),
            patient_position="HFS",
        ),
        encoding=testing.PixelEncoding(
            rescale_intercept=_RESCALE_INTERCEPT_HU, bits_stored=_BITS_STORED
        ),
        instance_numbers=instances,
        file_names=[f"CT_{i:03d}.dcm" for i in instances],
        sop_instance_uids=[_uid(phantom.name, "ct", k) for k in range(grid.slices)],
        attributes=attributes,
        edit=slice_location,
    )


def write_rtstruct(phantom: Phantom, ct_files: Sequence[Path], path: Path | str) -> Path:
    """Write the phantom's RT Structure Set with its analytic contours.

    Parameters
    ----------
    phantom : Phantom
    ct_files : sequence of pathlib.Path
        The CT slices in slice order ``k`` (as returned by :func:`write_ct_series`).
    path : path-like
        Output file.

    Returns
    -------
    pathlib.Path
    """
    z_mm = phantom.grid.z_mm()
    rois = [
        testing.Roi(
            name=roi.name,
            interpreted_type=roi.interpreted_type,
            color=roi.color,
            description=roi.description,
            generation_algorithm="AUTOMATIC",
            contours=tuple(
                np.column_stack([poly, np.full(len(poly), z_mm[k])])
                for k, slice_contours in enumerate(roi.contours)
                for poly in slice_contours
            ),
        )
        for roi in phantom.rois
    ]
    return testing.write_rtstruct(
        path,
        ct_files,
        rois=rois,
        label=phantom.name,
        contour_decimals=CONTOUR_DECIMALS,
        attributes={
            **_header(phantom),
            "SOPInstanceUID": _uid(phantom.name, "rtstruct"),
            "SeriesDescription": "Analytic contours",
            "FrameOfReferenceUID": _uid(phantom.name, "frame-of-reference"),
            "PositionReferenceIndicator": "",
            "SeriesInstanceUID": _uid(phantom.name, "rtstruct-series"),
            "InstanceNumber": 1,
            "StructureSetName": phantom.name,
            "StructureSetDescription": "Analytic phantom contours (vertices on the exact surfaces)",
            "ApprovalStatus": "UNAPPROVED",
        },
    )


def write_phantom(phantom: Phantom | str, folder: Path | str) -> Path:
    """Write one phantom (CT slices + ``RS.dcm``) into ``folder``, replacing its DICOM files.

    Returns
    -------
    pathlib.Path
        The folder.
    """
    p = build(phantom)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.dcm"):
        old.unlink()
    cts = write_ct_series(p, folder)
    write_rtstruct(p, cts, folder / "RS.dcm")
    logger.info("wrote %s (%d CT slices + RTSTRUCT) to %s", p.name, len(cts), folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    """Regenerate the sample phantoms.

    Parameters
    ----------
    argv : list of str, optional
        ``[--output DIR] [--phantom NAME ...]``; defaults: this script's folder, both phantoms.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=PACKAGE_DATA)
    parser.add_argument("--phantom", action="append", choices=PHANTOM_NAMES)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.phantom or PHANTOM_NAMES:
        write_phantom(name, args.output / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
