"""Study features: a registry of functions, each giving columns with units.

A feature is a function of a :class:`StudyContext` returning ``{column: (value, unit)}``;
its columns are stored as ``<feature name>.<column>`` (``tissue.bone_cc``) with their unit
in the ``features`` table. Register one with the :func:`feature` decorator (or
:func:`register_feature`); packages register theirs under the entry-point group
``rtplan.library_features`` (a plugin that fails to load is reported with a
:class:`rtplan.plugins.PluginWarning` and skipped).

Built in:

* ``tissue`` -- inside the body (the EXTERNAL structure, else the automatic outline of
  :func:`rtplan.tissue.auto_structures`): volumes of bone, muscle and fat (cm³), their
  share of the body (%), mean CT number (HU) and mean mass density (g/cm³, Schneider
  calibration of :func:`rtplan.tissue.density`); cortical and cancellous bone volumes
  from :func:`rtplan.tissue.composition`; the same volume, mean HU and density over the
  contoured bones (``bone_structures_*``, marrow included). Bone and muscle are the
  automatic structures; fat is the adipose class (:func:`rtplan.tissue.classify`) inside
  the body and outside bone (yellow marrow counts as bone).
* ``target`` -- of the primary target (the largest PTV, else CTV, GTV, ITV): volume,
  equivalent-sphere diameter, distance to the nearest bone, offset of its centroid from
  that bone's centroid (LPS mm), number of targets.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rtplan.library._errors import LibraryError

if TYPE_CHECKING:
    from rtplan.image import Image
    from rtplan.io.study import Study
    from rtplan.structures import Structure

__all__ = [
    "FEATURE_GROUP",
    "FeatureFunction",
    "StudyContext",
    "available_features",
    "feature",
    "register_feature",
    "resolve_features",
    "unregister_feature",
]

logger = logging.getLogger(__name__)

#: Entry-point group of feature plugins.
FEATURE_GROUP = "rtplan.library_features"

FeatureValues = Mapping[str, tuple[float | None, str]]
FeatureFunction = Callable[["StudyContext"], FeatureValues]

_TARGET_TYPES = ("PTV", "CTV", "GTV", "ITV")
_ORGAN_TYPES = ("ORGAN", "OAR", "AVOIDANCE", "")
_BONE_NAME = re.compile(
    r"^(femur|femoral|humerus|humeral|tibia|fibula|radius|ulna|vertebra|spine_bone|pelvi|"
    r"sacrum|ilium|iliac|ischium|pubis|rib|sternum|scapula|clavicle|mandible|skull|bone|"
    r"patella|calcaneus|acetabulum)",
    re.IGNORECASE,
)
#: Mean CT number (HU) above which an organ ROI counts as bone whatever its name.
BONE_MEAN_HU = 200.0


@dataclass(eq=False)
class StudyContext:
    """A study and what features derive from it, computed once and shared.

    Parameters
    ----------
    study : rtplan.Study
        The study (CT in HU, structures, plans, doses).

    Attributes
    ----------
    auto : dict of str to numpy.ndarray of bool
        The automatic ``Body``, ``Bone`` and ``Muscle`` masks on the CT grid, as
        :func:`rtplan.tissue.auto_structures` segments them (:func:`rtplan.tissue.body_mask`,
        :func:`~rtplan.tissue.bone_mask`, :func:`~rtplan.tissue.muscle_mask`).
    body : numpy.ndarray of bool
        The mask of the EXTERNAL structure with the largest volume, else ``auto["Body"]``.
    density : Image
        Mass density, g/cm³.
    targets : list of Structure
        Target structures with volume, primary first.
    organs : list of Structure
        Organ structures with volume (organs at risk and bones; not targets, not the body).
    bones : list of Structure
        The organs that are bone (by name, or by a mean CT number of 200 HU or more).
    """

    study: Study
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _cached(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def auto(self) -> dict[str, np.ndarray[Any, np.dtype[np.bool_]]]:
        from rtplan.tissue import body_mask, bone_mask, muscle_mask

        def make() -> dict[str, np.ndarray[Any, np.dtype[np.bool_]]]:
            ct = self.study.ct
            body = body_mask(ct)
            bone = bone_mask(ct, body)
            return {"Body": body, "Bone": bone, "Muscle": muscle_mask(ct, body, bone)}

        return self._cached("auto", make)  # type: ignore[no-any-return]

    @property
    def body(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        externals = [s for s in self.study.structures.by_type("EXTERNAL") if s.has_volume]
        if externals:
            return self.mask(max(externals, key=lambda s: s.volume_cc))
        return self.auto["Body"]

    @property
    def auto_bone(self) -> Structure:
        """The automatic bone as a structure named ``"Bone (auto)"``."""
        from rtplan.structures import Structure

        return self._cached(  # type: ignore[no-any-return]
            "auto_bone",
            lambda: Structure.from_mask(
                self.auto["Bone"], self.study.ct.grid, name="Bone (auto)", interpreted_type="ORGAN"
            ),
        )

    @property
    def density(self) -> Image:
        from rtplan.tissue import density

        return self._cached("density", lambda: density(self.study.ct))  # type: ignore[no-any-return]

    def mask(self, structure: Structure) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """The structure's mask on the CT grid (cached by name)."""
        key = f"mask:{structure.name}:{id(structure)}"
        return self._cached(key, lambda: structure.mask(self.study.ct.grid))  # type: ignore[no-any-return]

    def mean_hu(self, structure: Structure) -> float | None:
        """Mean CT number inside a structure, HU (``None`` if it covers no voxel)."""
        m = self.mask(structure)
        return float(np.asarray(self.study.ct.array)[m].mean()) if m.any() else None

    @property
    def targets(self) -> list[Structure]:
        def make() -> list[Structure]:
            found = [
                s
                for s in self.study.structures
                if s.interpreted_type.upper() in _TARGET_TYPES and s.has_volume
            ]
            rank = {t: i for i, t in enumerate(_TARGET_TYPES)}
            return sorted(
                found, key=lambda s: (rank[s.interpreted_type.upper()], -s.volume_cc, s.name)
            )

        return self._cached("targets", make)  # type: ignore[no-any-return]

    @property
    def target(self) -> Structure | None:
        """The primary target: the largest PTV, else CTV, GTV, ITV; ``None`` without."""
        return self.targets[0] if self.targets else None

    @property
    def organs(self) -> list[Structure]:
        return self._cached(  # type: ignore[no-any-return]
            "organs",
            lambda: [
                s
                for s in self.study.structures
                if s.interpreted_type.upper() in _ORGAN_TYPES and s.has_volume
            ],
        )

    def is_bone(self, structure: Structure) -> bool:
        """True for a bone: named as one, or with a mean CT number of 200 HU or more."""
        if _BONE_NAME.match(structure.name.strip()):
            return True
        hu = self.mean_hu(structure)
        return hu is not None and hu >= BONE_MEAN_HU

    @property
    def bones(self) -> list[Structure]:
        return self._cached("bones", lambda: [s for s in self.organs if self.is_bone(s)])  # type: ignore[no-any-return]

    def nearest_bone(self, structure: Structure) -> tuple[str, float] | None:
        """Name of the bone nearest a structure and the minimum distance to it (mm).

        The bone structures of the study, else the automatic bone (``"Bone (auto)"``).
        ``None`` when there is no bone at all.
        """
        from rtplan.errors import StructureError
        from rtplan.geometry import min_distance

        def make() -> tuple[str, float] | None:
            bones = [b for b in self.bones if b is not structure] or [self.auto_bone]
            best: tuple[str, float] | None = None
            for b in bones:
                if b.is_empty:
                    continue
                try:
                    d = float(min_distance(structure, b))
                except StructureError as exc:
                    logger.info("distance %s -> %s skipped: %s", structure.name, b.name, exc)
                    continue
                if best is None or d < best[1]:
                    best = (b.name, d)
            return best

        return self._cached(f"nearest:{structure.name}:{id(structure)}", make)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- registry
_REGISTRY: dict[str, FeatureFunction] = {}


def register_feature(name: str, function: FeatureFunction) -> None:
    """Add a feature to the registry.

    Parameters
    ----------
    name : str
        Prefix of its columns; letters, digits and ``_`` (``"my_feature"``).
    function : callable
        ``function(context: StudyContext) -> {column: (value, unit)}``; a value may be
        ``None`` (not applicable). Columns are stored as ``name.column``. Must be
        importable (a module-level function) to run on Dask workers in other processes.

    Raises
    ------
    LibraryError
        If the name is not a plain identifier or is taken by another function.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise LibraryError(
            f"feature name {name!r} must be letters, digits and '_' (it prefixes columns)"
        )
    if name in _REGISTRY and _REGISTRY[name] is not function:
        raise LibraryError(
            f"a feature {name!r} is already registered ({_REGISTRY[name].__qualname__}); "
            "unregister_feature() it first or choose another name"
        )
    _REGISTRY[name] = function


def unregister_feature(name: str) -> None:
    """Remove a feature from the registry (no error if absent).

    Parameters
    ----------
    name : str
        The name it was registered under (:func:`register_feature`, :func:`feature`).
    """
    _REGISTRY.pop(name, None)


def feature(name: str) -> Callable[[FeatureFunction], FeatureFunction]:
    """Decorator that registers a feature function under ``name``.

    Parameters
    ----------
    name : str
        Prefix of the columns.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Examples
    --------
    >>> from rtplan.library import feature, unregister_feature
    >>> @feature("body_shape")
    ... def body_shape(ctx):
    ...     return {"voxels_count": (float(ctx.body.sum()), "1")}
    >>> "body_shape" in available_features()
    True
    >>> unregister_feature("body_shape")
    """

    def register(function: FeatureFunction) -> FeatureFunction:
        register_feature(name, function)
        return function

    return register


def _plugins() -> dict[str, FeatureFunction]:
    from rtplan import plugins

    return {n: f for n, f in plugins.load_all(FEATURE_GROUP).items() if callable(f)}


def available_features() -> list[str]:
    """Names of the registered features and of the installed feature plugins.

    Returns
    -------
    list of str
        Built-in and registered first, then plugins, each sorted.
    """
    from rtplan import plugins

    own = sorted(_REGISTRY)
    return own + sorted(n for n in plugins.available(FEATURE_GROUP) if n not in _REGISTRY)


def resolve_features(names: list[str] | None = None) -> dict[str, FeatureFunction]:
    """The feature functions to run: by name, or every registered and plugin feature.

    Parameters
    ----------
    names : list of str, optional
        Features to run; all by default.

    Returns
    -------
    dict of str to callable

    Raises
    ------
    LibraryError
        If a name is neither registered nor an installed plugin.
    """
    found = dict(_REGISTRY)
    for name, function in _plugins().items():
        found.setdefault(name, function)
    if names is None:
        return found
    missing = [n for n in names if n not in found]
    if missing:
        raise LibraryError(
            f"unknown feature(s) {', '.join(missing)}; available: {', '.join(sorted(found))}"
        )
    return {n: found[n] for n in names}


# ---------------------------------------------------------------------------- built-ins
def _mean(values: np.ndarray[Any, Any], mask: np.ndarray[Any, Any]) -> float | None:
    return float(values[mask].mean()) if mask.any() else None


def tissue_feature(ctx: StudyContext) -> FeatureValues:
    """Bone, muscle and fat inside the body: cm³, % of the body, mean HU, g/cm³."""
    from rtplan.tissue import TissueClass, classify, composition

    ct = ctx.study.ct
    hu = np.asarray(ct.array)
    rho = np.asarray(ctx.density.array)
    body = ctx.body
    v_cc = ct.grid.voxel_volume_mm3 / 1000.0
    labels = np.asarray(classify(ct, warn_metal=False).array)
    masks = {
        "bone": ctx.auto["Bone"] & body,
        "muscle": ctx.auto["Muscle"] & body,
        "fat": (labels == TissueClass.ADIPOSE) & body & ~ctx.auto["Bone"],  # not marrow
    }
    body_cc = float(body.sum()) * v_cc
    out: dict[str, tuple[float | None, str]] = {"body_cc": (body_cc, "cm3")}
    for name, m in masks.items():
        cc = float(m.sum()) * v_cc
        out[f"{name}_cc"] = (cc, "cm3")
        out[f"{name}_fraction_percent"] = (100.0 * cc / body_cc if body_cc else None, "%")
        out[f"{name}_mean_hu"] = (_mean(hu, m), "HU")
        out[f"{name}_mean_density_g_cm3"] = (_mean(rho, m), "g/cm3")
    if ctx.bones:  # the contoured bones, marrow included (not only the HU-segmented bone)
        union = np.logical_or.reduce([ctx.mask(b) for b in ctx.bones])
        out["bone_structures_cc"] = (float(union.sum()) * v_cc, "cm3")
        out["bone_structures_mean_hu"] = (_mean(hu, union), "HU")
        out["bone_structures_mean_density_g_cm3"] = (_mean(rho, union), "g/cm3")
    classes = composition(ct, body=body)
    out["cortical_bone_cc"] = (classes["cortical_bone"], "cm3")
    out["cancellous_bone_cc"] = (classes["cancellous_bone"], "cm3")
    return out


def target_feature(ctx: StudyContext) -> FeatureValues:
    """Size of the primary target, its nearest bone and where it lies from that bone."""
    target = ctx.target
    out: dict[str, tuple[float | None, str]] = {"count": (float(len(ctx.targets)), "1")}
    if target is None:
        return out
    volume = float(target.volume_cc)
    out["volume_cc"] = (volume, "cm3")
    out["equivalent_diameter_mm"] = (10.0 * (6.0 * volume / math.pi) ** (1.0 / 3.0), "mm")
    near = ctx.nearest_bone(target)
    if near is not None:
        out["nearest_bone_distance_mm"] = (near[1], "mm")
        bone = next((b for b in ctx.bones if b.name == near[0]), None) or ctx.auto_bone
        offset = np.asarray(target.centroid_mm) - np.asarray(bone.centroid_mm)
        for axis, v in zip("xyz", offset, strict=True):
            out[f"offset_{axis}_mm"] = (float(v), "mm")
    return out


@functools.cache
def _register_builtins() -> None:
    register_feature("tissue", tissue_feature)
    register_feature("target", target_feature)


_register_builtins()
