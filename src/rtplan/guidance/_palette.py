"""Colours a reviewer can tell apart: the isodose palette and distinct structure colours.

Distinctness is measured as the CIEDE2000 colour difference (ΔE00, Sharma, Wu and Dalal,
Color Res. Appl. 30, 21-30, 2005) between the sRGB colours converted to CIE L*a*b*
(D65). A ΔE00 of about 2 is a just-noticeable difference for large patches; thin lines on
a grey CT need far more: a structure drawn with isodose lines or the needle differs from
them by at least :data:`MIN_DELTA_E` (20; the default isodose lines differ from each
other by more than 23), and two structures by at least :data:`MIN_STRUCTURE_DELTA_E` (12;
the legend names them).

The isodose palette (:data:`ISODOSE_PALETTE`) runs from hot to cold as in Eclipse and
SlicerRT (magenta, pink, orange and yellow above the prescription, green at 95 %, then
sky blue, blue and violet below), with every default level more than 23 ΔE00 from the
others and bright enough (L* ≥ 40) to be seen on a dark CT. Isodose colours are fixed, so
a reviewer learns them once; structure colours that come too close to an isodose line shown
with them, to the needle, or to another structure are reassigned by
:func:`distinct_structure_colors` (each structure keeps its RT Structure Set colour when it
is distinct; otherwise it gets the nearest colour that is).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from rtplan.structures import Structure

__all__ = [
    "DEFAULT_ISODOSES",
    "ISODOSE_PALETTE",
    "MIN_DELTA_E",
    "MIN_STRUCTURE_DELTA_E",
    "NEEDLE_COLOR",
    "delta_e",
    "distinct_structure_colors",
    "distinct_structures",
    "isodose_color",
    "parse_color",
    "to_lab",
]

RGB = tuple[int, int, int]
FloatArray = npt.NDArray[np.float64]

#: Colour of the needle in overlays and on the review page (cyan).
NEEDLE_COLOR: RGB = (0, 255, 255)

#: Smallest CIEDE2000 difference between a structure and an isodose line or the needle.
MIN_DELTA_E = 20.0

#: Smallest CIEDE2000 difference between two structures (named in the legend beside).
MIN_STRUCTURE_DELTA_E = 12.0

#: Isodose levels drawn by default, percent of the prescription.
DEFAULT_ISODOSES: tuple[float, ...] = (107.0, 100.0, 95.0, 80.0, 50.0, 30.0)

#: Isodose line colours by percent of prescription (hot to cold, as Eclipse and SlicerRT).
ISODOSE_PALETTE: Mapping[float, RGB] = types.MappingProxyType(
    {
        110.0: (255, 0, 255),  # magenta
        107.0: (255, 120, 160),  # pink
        105.0: (255, 140, 0),  # dark orange
        100.0: (255, 255, 0),  # yellow
        95.0: (0, 255, 0),  # green
        90.0: (0, 200, 120),  # sea green
        80.0: (0, 200, 255),  # sky blue
        70.0: (0, 120, 255),  # azure
        50.0: (40, 70, 255),  # blue (lighter than pure blue, to be seen on CT)
        30.0: (210, 100, 255),  # violet
        20.0: (140, 90, 200),  # purple
        10.0: (120, 120, 170),  # slate
    }
)

_NAMED: Mapping[str, RGB] = types.MappingProxyType(
    {
        "red": (255, 0, 0),
        "pink": (255, 120, 160),
        "magenta": (255, 0, 255),
        "orange": (255, 140, 0),
        "yellow": (255, 255, 0),
        "green": (0, 255, 0),
        "cyan": (0, 255, 255),
        "sky": (0, 200, 255),
        "blue": (40, 70, 255),
        "violet": (210, 100, 255),
        "white": (255, 255, 255),
    }
)


def parse_color(text: str) -> RGB:
    """A colour from ``#rrggbb``, ``r,g,b`` (0-255) or a name (red, pink, magenta, ...).

    Parameters
    ----------
    text : str

    Returns
    -------
    tuple of 3 int
        0-255 RGB.

    Raises
    ------
    ValueError
        If the text is none of these forms.

    Examples
    --------
    >>> parse_color("#ff8000"), parse_color("0,200,255"), parse_color("violet")
    ((255, 128, 0), (0, 200, 255), (210, 100, 255))
    """
    t = text.strip().lower()
    if t in _NAMED:
        return _NAMED[t]
    if t.startswith("#") and len(t) == 7:
        try:
            return (int(t[1:3], 16), int(t[3:5], 16), int(t[5:7], 16))
        except ValueError:
            pass
    parts = t.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() for p in parts):
        rgb = tuple(int(p) for p in parts)
        if all(0 <= c <= 255 for c in rgb):
            return (rgb[0], rgb[1], rgb[2])
    raise ValueError(
        f"colour {text!r}: give #rrggbb, r,g,b with values 0-255, or one of {', '.join(_NAMED)}"
    )


def to_lab(rgb: npt.ArrayLike) -> FloatArray:
    """CIE L*a*b* (D65) of sRGB colours.

    Parameters
    ----------
    rgb : array_like, shape (..., 3)
        0-255 sRGB.

    Returns
    -------
    numpy.ndarray of float64, shape (..., 3)
        L* in [0, 100], a*, b*.

    Examples
    --------
    >>> [round(v) for v in to_lab((255, 255, 255))]
    [100, 0, 0]
    """
    from skimage.color import rgb2lab

    a = np.asarray(rgb, dtype=np.float64)
    flat = a.reshape(-1, 1, 3) / 255.0
    return np.asarray(rgb2lab(flat).reshape(a.shape), dtype=np.float64)


def delta_e(rgb_a: npt.ArrayLike, rgb_b: npt.ArrayLike) -> FloatArray:
    """CIEDE2000 colour difference of sRGB colours (broadcast against each other).

    Parameters
    ----------
    rgb_a, rgb_b : array_like, shape (..., 3)
        0-255 sRGB.

    Returns
    -------
    numpy.ndarray of float64
        ΔE00, shape of the broadcast leading dimensions.

    Examples
    --------
    >>> float(delta_e((255, 0, 0), (255, 0, 0)))
    0.0
    >>> bool(delta_e((255, 0, 0), ISODOSE_PALETTE[107.0]) > MIN_DELTA_E)  # GTV red, 107 %
    True
    """
    from skimage.color import deltaE_ciede2000

    la, lb = np.broadcast_arrays(to_lab(rgb_a), to_lab(rgb_b))
    return np.asarray(deltaE_ciede2000(la, lb), dtype=np.float64)  # type: ignore[no-untyped-call]


def isodose_color(percent: float, colors: Mapping[float, RGB] | None = None) -> RGB:
    """The colour of an isodose level: its own, else the nearest level's.

    Parameters
    ----------
    percent : float
        Percent of the prescription.
    colors : mapping of float to RGB, optional
        Colours by percent; :data:`ISODOSE_PALETTE` by default.

    Returns
    -------
    tuple of 3 int

    Examples
    --------
    >>> isodose_color(100.0), isodose_color(98.0)
    ((255, 255, 0), (255, 255, 0))
    """
    table = ISODOSE_PALETTE if colors is None else colors
    if percent in table:
        return table[percent]
    keys = np.array(sorted(table), dtype=np.float64)
    return table[float(keys[int(np.argmin(np.abs(keys - percent)))])]


@functools.cache
def _candidates() -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Replacement colours: an sRGB lattice, bright and saturated enough for a grey CT."""
    steps = np.arange(0, 256, 15)
    rgb = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = to_lab(rgb)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    keep = (lab[:, 0] >= 50.0) & (lab[:, 0] <= 92.0) & (chroma >= 35.0)
    return rgb[keep].astype(np.int64), lab[keep]


def distinct_structure_colors(
    colors: Mapping[str, RGB],
    *,
    reserved: Iterable[RGB] = (),
    min_delta_e: float = MIN_DELTA_E,
    min_structure_delta_e: float = MIN_STRUCTURE_DELTA_E,
) -> dict[str, RGB]:
    """Structure colours far enough from the reserved colours and from each other.

    Structures are taken in order: each keeps its colour when it is at least
    ``min_delta_e`` from the reserved colours (isodose lines, the needle) and
    ``min_structure_delta_e`` from the colours of the structures before it; otherwise it
    gets, among the colours of a lattice of sRGB colours bright and saturated enough to be
    seen on a grey CT (L* 50-92, chroma ≥ 35), the one nearest its own colour that is far
    enough from all those, or, when none is, the one that misses the limits least. Targets
    should come first: they keep their colours by preference.

    Parameters
    ----------
    colors : mapping of str to RGB
        Structure names to their colours (0-255), in priority order.
    reserved : iterable of RGB
        Colours the structures must stay away from.
    min_delta_e : float
        Smallest CIEDE2000 difference from a reserved colour.
    min_structure_delta_e : float
        Smallest CIEDE2000 difference between two structures.

    Returns
    -------
    dict of str to RGB
        The colours to draw, in the same order; a colour changes only when it clashes.

    Examples
    --------
    A red GTV and two muscles of the same brown, beside a yellow 100 % line:

    >>> distinct_structure_colors(
    ...     {"GTV": (255, 0, 0), "Psoas_L": (205, 92, 92), "Psoas_R": (205, 92, 92)},
    ...     reserved=[(255, 255, 0)])
    {'GTV': (255, 0, 0), 'Psoas_L': (205, 92, 92), 'Psoas_R': (255, 0, 105)}
    """
    from skimage.color import deltaE_ciede2000

    fixed = [to_lab(tuple(int(c) for c in rgb)) for rgb in reserved]
    placed: list[FloatArray] = []
    cand_rgb, cand_lab = _candidates()
    out: dict[str, RGB] = {}
    for name, rgb in colors.items():
        own = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
        own_lab = to_lab(own)
        if _margin(own_lab[np.newaxis], fixed, placed, min_delta_e, min_structure_delta_e)[0] >= 0:
            chosen = own
        else:
            margin = _margin(cand_lab, fixed, placed, min_delta_e, min_structure_delta_e)
            ok = margin >= 0
            if ok.any():
                near = deltaE_ciede2000(cand_lab, np.broadcast_to(own_lab, cand_lab.shape))  # type: ignore[no-untyped-call]
                i = int(np.argmin(np.where(ok, near, np.inf)))
            else:
                i = int(np.argmax(margin))
            c = cand_rgb[i]
            chosen = (int(c[0]), int(c[1]), int(c[2]))
        out[name] = chosen
        placed.append(to_lab(chosen))
    return out


def _margin(
    lab: FloatArray,
    fixed: Sequence[FloatArray],
    placed: Sequence[FloatArray],
    min_fixed: float,
    min_placed: float,
) -> FloatArray:
    """How far each row of ``lab`` (N, 3) clears both limits (negative: it clashes)."""
    big = np.full(lab.shape[0], np.inf)
    a = _min_delta(lab, fixed) - min_fixed if fixed else big
    b = _min_delta(lab, placed) - min_placed if placed else big
    return np.asarray(np.minimum(a, b), dtype=np.float64)


def _min_delta(lab: FloatArray, others: Sequence[FloatArray]) -> FloatArray:
    """Smallest ΔE00 from each row of ``lab`` (N, 3) to any of ``others``."""
    from skimage.color import deltaE_ciede2000

    d = [deltaE_ciede2000(lab, np.broadcast_to(o, lab.shape)) for o in others]  # type: ignore[no-untyped-call]
    return np.asarray(np.min(np.stack(d), axis=0), dtype=np.float64)


_TARGET_ORDER = ("GTV", "CTV", "ITV", "PTV")


def _priority(s: Structure) -> int:
    kind = (s.interpreted_type or "").upper()
    name = s.name.upper()
    for n, t in enumerate(_TARGET_ORDER):
        if kind == t or name.startswith(t):
            return n
    return len(_TARGET_ORDER)


def distinct_structures(
    structures: Sequence[Structure],
    *,
    reserved: Iterable[RGB] = (),
    min_delta_e: float = MIN_DELTA_E,
    min_structure_delta_e: float = MIN_STRUCTURE_DELTA_E,
) -> list[Structure]:
    """The structures, recoloured where they clash (see :func:`distinct_structure_colors`).

    Targets (GTV, CTV, ITV, PTV by type or name) keep their colours first, then the
    others in the given order; structures with the same name are treated as one.

    Parameters
    ----------
    structures : sequence of Structure
    reserved : iterable of RGB
        Colours drawn with them (isodose lines, the needle).
    min_delta_e : float
        Smallest CIEDE2000 difference from a reserved colour.
    min_structure_delta_e : float
        Smallest CIEDE2000 difference between two structures.

    Returns
    -------
    list of Structure
        In the given order; copies with another ``color`` where it clashed, the same
        objects otherwise.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.guidance import ISODOSE_PALETTE, distinct_structures
    >>> study = rtplan.load_study(rtplan.data.get_path("spine_metastasis"))
    >>> shown = distinct_structures(list(study.structures), reserved=ISODOSE_PALETTE.values())
    >>> [s.name for s in shown if s.color != study.structures[s.name].color][:3]
    ['Body', 'SpinalCanal', 'SpinalCord']
    """
    ordered = sorted(range(len(structures)), key=lambda i: _priority(structures[i]))
    colors = distinct_structure_colors(
        {structures[i].name: structures[i].color for i in ordered},
        reserved=reserved,
        min_delta_e=min_delta_e,
        min_structure_delta_e=min_structure_delta_e,
    )
    return [
        s if colors[s.name] == s.color else replace(s, color=colors[s.name]) for s in structures
    ]
