"""Errors raised by rtplan.

Every error rtplan raises on bad input derives from :class:`RtplanError`, so a script can
catch them all at once. Messages name the file, tag or object at fault and say what to do.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousStudyError",
    "DicomReadError",
    "DicomWriteError",
    "DoseEngineError",
    "DoseError",
    "EvaluationError",
    "GeometryError",
    "MissingDependencyError",
    "PlanError",
    "RtplanError",
    "RtplanWarning",
    "SeriesGeometryError",
    "StructureError",
    "TrajectoryError",
]


class RtplanError(Exception):
    """Root of every error rtplan raises on bad input or unsupported data."""


class RtplanWarning(UserWarning):
    """Root of every warning rtplan emits (tolerant reading, clipping, partial coverage)."""


class GeometryError(RtplanError, ValueError):
    """Invalid geometry: a grid, a direction matrix, a point outside what is allowed."""


class DicomReadError(RtplanError):
    """A DICOM file or object cannot be read as asked (missing tag, wrong modality...)."""


class SeriesGeometryError(DicomReadError):
    """A CT series whose slices do not form a regular volume (gap, tilt, mixed orientation)."""


class AmbiguousStudyError(DicomReadError):
    """A folder holds several candidates (series, structure sets) and none was chosen."""


class DicomWriteError(RtplanError):
    """An object cannot be written as valid DICOM (values out of range, missing reference)."""


class StructureError(RtplanError, KeyError):
    """A structure is missing, empty, or cannot be used as asked."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PlanError(RtplanError, ValueError):
    """A treatment plan or beam is invalid (angles, jaws, MLC, prescription)."""


class DoseError(RtplanError, ValueError):
    """A dose whose meaning does not allow what was asked.

    Raised when a conversion or a sum needs what a :class:`~rtplan.Dose` does not say or
    contradicts: the number of fractions is unknown, the summation types or dose types
    differ, or the dose covers part of a plan (one beam, one control point).
    """


class DoseEngineError(RtplanError):
    """A dose engine is unknown, broken, or cannot compute the plan asked."""


class EvaluationError(RtplanError, ValueError):
    """A plan-evaluation request that cannot be honoured (bad criterion, unit, goal text)."""


class MissingDependencyError(RtplanError, ImportError):
    """An optional dependency is needed for this function; the message names the extra."""


class TrajectoryError(RtplanError):
    """No needle trajectory satisfies the constraints asked (clearance, length, tilt...)."""
