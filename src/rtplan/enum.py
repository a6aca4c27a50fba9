"""Fixed vocabularies of rtplan as Enums that also accept their string values.

Every function that takes one of these words accepts the member or its string value
(``plane=Plane.AXIAL`` or ``plane="axial"``) and normalises it once with ``Plane(value)``.
Case, surrounding blanks and the separators ``" "``, ``"_"`` and ``"-"`` do not matter
(``"Soft tissue"`` is :attr:`Window.SOFT_TISSUE`); an unknown word raises an
:class:`~rtplan.errors.RtplanError` subclass that lists the choices. The members are
:class:`str` subclasses, so they compare equal to their values and format as them.

========================  ==========================================================
:class:`Plane`            planes of a 2D overlay
:class:`Window`           CT window presets (width and level in HU)
:class:`Approach`         sides from which a needle may reach its target
:class:`Normalization`    how a plan's monitor units are scaled to its prescription
:class:`Engine`           the built-in dose engines (plugins add plain strings)
========================  ==========================================================

Examples
--------
>>> from rtplan.enum import Plane, Window
>>> Plane("Axial") is Plane.AXIAL
True
>>> Plane.AXIAL == "axial"
True
>>> Window("soft tissue").width_hu, Window.BONE.level_hu
(400.0, 500.0)
>>> Plane("transverse")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rtplan.errors.GeometryError: unknown plane 'transverse'; choose one of axial, coronal, ...
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Self

from rtplan.errors import DoseEngineError, GeometryError, PlanError, RtplanError

__all__ = ["Approach", "Engine", "Normalization", "Plane", "Window"]


def _key(word: str) -> str:
    """Spelling-insensitive key: lower case, blanks and ``_``/``-`` separators removed."""
    return re.sub(r"[\s_-]+", "", word.strip().lower())


class _Vocabulary(StrEnum):
    """A fixed vocabulary: members are their string values, lookup forgives spelling."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            key = _key(value)
            for member in cls:
                if _key(member.value) == key:
                    return member
        label, error = _DESCRIPTION[cls]
        raise error(f"unknown {label} {value!r}; choose one of {', '.join(cls.choices())}")

    @classmethod
    def choices(cls) -> tuple[str, ...]:
        """The string values, in declaration order."""
        return tuple(member.value for member in cls)

    @classmethod
    def parse(cls, value: Self | str) -> Self:
        """The member for ``value`` (a member or its string value, spelling forgiven).

        Raises
        ------
        RtplanError
            The subclass named for the vocabulary (:class:`~rtplan.errors.GeometryError`
            for planes, windows and approaches, :class:`~rtplan.errors.PlanError` for
            normalisations, :class:`~rtplan.errors.DoseEngineError` for engines) if
            ``value`` is not one of :meth:`choices`.
        """
        return cls(value)


class Plane(_Vocabulary):
    """Planes of a 2D overlay (:func:`rtplan.render_overlay`).

    Examples
    --------
    >>> from rtplan.enum import Plane
    >>> [p.value for p in Plane if p.is_oblique]
    ['oblique', 'oblique_orthogonal']
    """

    #: Transverse plane, normal to the patient's z axis (LPS), seen from the feet.
    AXIAL = "axial"
    #: Frontal plane, normal to y, seen from the front.
    CORONAL = "coronal"
    #: Plane normal to x, seen from the patient's left.
    SAGITTAL = "sagittal"
    #: Plane that contains the needle (the needle view of a CT console).
    OBLIQUE = "oblique"
    #: Plane that contains the needle, perpendicular to :attr:`OBLIQUE`.
    OBLIQUE_ORTHOGONAL = "oblique_orthogonal"

    @property
    def is_oblique(self) -> bool:
        """Whether the plane follows the needle rather than the patient axes."""
        return self in (Plane.OBLIQUE, Plane.OBLIQUE_ORTHOGONAL)


class Window(_Vocabulary):
    """CT window presets; :attr:`width_hu` and :attr:`level_hu` give their values.

    Examples
    --------
    >>> from rtplan.enum import Window
    >>> {w.value: (w.width_hu, w.level_hu) for w in Window}["lung"]
    (1500.0, -600.0)
    """

    SOFT_TISSUE = "soft_tissue"
    BONE = "bone"
    BONE_NARROW = "bone_narrow"
    LUNG = "lung"

    @property
    def width_hu(self) -> float:
        """Window width, HU."""
        return _WINDOW_HU[self.value][0]

    @property
    def level_hu(self) -> float:
        """Window level (centre), HU."""
        return _WINDOW_HU[self.value][1]


_WINDOW_HU: dict[str, tuple[float, float]] = {
    "soft_tissue": (400.0, 40.0),
    "bone": (2000.0, 500.0),
    "bone_narrow": (1500.0, 300.0),
    "lung": (1500.0, -600.0),
}


class Approach(_Vocabulary):
    """Sides from which a needle may enter, relative to its target point.

    :attr:`direction` is the LPS unit vector pointing to that side: an entry ``e`` is on the
    side of target point ``t`` when ``(e - t) . direction > 0``.

    Examples
    --------
    >>> from rtplan.enum import Approach
    >>> Approach("posterior").direction
    (0.0, 1.0, 0.0)
    """

    LEFT = "left"
    RIGHT = "right"
    ANTERIOR = "anterior"
    POSTERIOR = "posterior"
    SUPERIOR = "superior"
    INFERIOR = "inferior"

    @property
    def direction(self) -> tuple[float, float, float]:
        """LPS unit vector towards this side of the patient."""
        return _APPROACH_LPS[self.value]


_APPROACH_LPS: dict[str, tuple[float, float, float]] = {
    "left": (1.0, 0.0, 0.0),
    "right": (-1.0, 0.0, 0.0),
    "anterior": (0.0, -1.0, 0.0),
    "posterior": (0.0, 1.0, 0.0),
    "superior": (0.0, 0.0, 1.0),
    "inferior": (0.0, 0.0, -1.0),
}


class Normalization(_Vocabulary):
    """How a plan's monitor units are scaled so that its dose meets the prescription.

    Examples
    --------
    >>> from rtplan.enum import Normalization
    >>> Normalization("D95")
    <Normalization.D95: 'd95'>
    """

    #: Keep the monitor units as given.
    NONE = "none"
    #: Mean dose of the target structure equals the prescription.
    MEAN = "mean"
    #: 95 % of the target volume receives the prescription.
    D95 = "d95"
    #: Dose at the isocentre equals the prescription.
    ISOCENTER = "isocenter"


class Engine(_Vocabulary):
    """The built-in dose engines; plugins register further engines by plain name.

    Arguments that name an engine are ``Engine | str``: :meth:`lookup` turns a built-in's
    name into its member and leaves other names (plugins) as they are.

    Examples
    --------
    >>> from rtplan.enum import Engine
    >>> Engine.lookup("Collapsed cone"), Engine.lookup("geant4")
    (<Engine.COLLAPSED_CONE: 'collapsed-cone'>, 'geant4')
    """

    #: Collapsed-cone convolution/superposition (the heterogeneity reference).
    COLLAPSED_CONE = "collapsed-cone"
    #: Pencil-beam convolution with radiological depth scaling.
    PENCIL_BEAM = "pencil-beam"

    @classmethod
    def lookup(cls, name: Engine | str) -> Engine | str:
        """The member for a built-in engine's name, else the name itself, stripped.

        Parameters
        ----------
        name : Engine or str
            An engine member or name (spelling of built-ins forgiven).

        Returns
        -------
        Engine or str
            The member, or ``name.strip()`` for an engine that is not built in.
        """
        if isinstance(name, Engine):
            return name
        key = _key(name)
        for member in cls:
            if _key(member.value) == key:
                return member
        return name.strip()


#: What an unknown word is called in the error message, and the error raised.
_DESCRIPTION: dict[type[_Vocabulary], tuple[str, type[RtplanError]]] = {
    Plane: ("plane", GeometryError),
    Window: ("window", GeometryError),
    Approach: ("approach", GeometryError),
    Normalization: ("normalization", PlanError),
    Engine: ("dose engine", DoseEngineError),
}
