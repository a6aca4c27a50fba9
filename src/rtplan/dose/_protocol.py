"""What a dose engine is: the :class:`DoseEngine` protocol and its progress callback.

An engine computes, for one beam, the dose to medium on the dose grid of a
:class:`~rtplan.dose.DoseSetup`, *per unit energy fluence* of the open field at the
isocentre plane (MeV/g per MeV/cm²); :func:`rtplan.compute_dose` turns that into Gy with
the machine's calibration of that engine. The built-in engines
(:mod:`rtplan.dose._collapsed_cone`, :mod:`rtplan.dose._pencil_beam`) and plugins satisfy
this protocol; the registry (:mod:`rtplan.dose._engine`) finds them by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from rtplan.dose._setup import DoseSetup
    from rtplan.dose.machines._model import BeamModel
    from rtplan.plan import Beam

__all__ = ["DoseEngine", "ProgressCallback"]

ProgressCallback = Callable[[float, str], None]
"""Called with the fraction done (0 to 1) and a short message."""


@runtime_checkable
class DoseEngine(Protocol):
    """What a dose engine provides.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"collapsed-cone"``.
    """

    name: str

    def beam_dose(
        self,
        beam: Beam,
        setup: DoseSetup,
        machine: BeamModel,
        *,
        progress: ProgressCallback | None = None,
    ) -> npt.NDArray[np.float64]:
        """Dose to medium of one beam per unit open-field energy fluence.

        Parameters
        ----------
        beam : Beam
            Geometry, jaws and MLC (its MU are ignored).
        setup : DoseSetup
            Dose grid, densities and patient position.
        machine : BeamModel
            Beam model of ``beam.energy``.
        progress : callable, optional
            Progress callback for this beam.

        Returns
        -------
        numpy.ndarray, shape setup.grid.shape, float64
            MeV/g per MeV/cm² of energy fluence at the isocentre plane; zero outside
            ``setup.body``.
        """
        ...
