"""Warnings of the dose engines (light: imported by ``rtplan.dose`` without the engines)."""

from __future__ import annotations

from rtplan.errors import RtplanWarning

__all__ = ["PencilBeamLungWarning"]


class PencilBeamLungWarning(RtplanWarning):
    """A pencil beam crosses lung, where its dose is less accurate than the collapsed cone's.

    Against the Geant4 reference (``benchmarks/dose/mc``: a 10 cm lung slab in tissue, 6 MV,
    3 x 3 and 10 x 10 cm² fields) the laterally scaled pencil beam's slab/homogeneous dose
    ratio is within 2 % on average inside the lung and 2-4 % high behind it, but up to 8 %
    off over 5 mm at the lung's entrance and exit; scaled in depth only, it is 5-17 % too
    high inside the lung. The collapsed cone stays within 2 % on average there.
    """
