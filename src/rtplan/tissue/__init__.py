"""The bone/muscle tissue model: HU calibration, tissue classes and automatic structures.

* :func:`density` and :func:`electron_density` map a CT in Hounsfield units to mass
  density (g/cm³) and to electron density relative to water through a
  :class:`CalibrationCurve` (piecewise linear in HU). The default,
  :data:`SCHNEIDER_2000`, is the stoichiometric calibration of Schneider, Bortfeld &
  Schlegel (2000); user curves come from a CSV file or Python sequences.
* :func:`classify` labels every voxel with a :class:`TissueClass` using the HU
  boundaries of a :class:`TissueThresholds` (documented defaults, user-overridable).
* :func:`auto_structures` segments the body outline, bone (cortical shell with its
  marrow) and muscle, as :class:`~rtplan.Structure` objects writable to RT-Struct
  (:func:`body_mask`, :func:`bone_mask` and :func:`muscle_mask` give the arrays, tuned
  by :class:`SegmentationParameters`).
* :func:`composition` gives the volume of each tissue class inside the body (cm³).

The package holds one module per job: ``_calibration`` (curves, densities),
``_classes`` (classes and their thresholds), ``_segmentation`` (the automatic
structures, built on the exact morphology of :mod:`rtplan.geometry`) and
``_composition``.

References
----------
.. [Schneider2000] W. Schneider, T. Bortfeld, W. Schlegel, "Correlation between CT numbers
   and tissue parameters needed for Monte Carlo simulations of clinical dose
   distributions", Phys. Med. Biol. 45 (2000) 459-478. The HU -> density nodes and the
   elemental compositions used here are those of its tables as distributed with the
   GATE Monte Carlo platform (``Schneider2000DensitiesTable.txt`` and
   ``Schneider2000MaterialsTable.txt``).
.. [Mitsiopoulos1998] N. Mitsiopoulos et al., "Cadaver validation of skeletal muscle
   measurement by magnetic resonance imaging and computerized tomography", J. Appl.
   Physiol. 85 (1998) 115-122: adipose tissue -190 to -30 HU, skeletal muscle -29 to
   +150 HU.
.. [Martin2013] L. Martin et al., "Cancer cachexia in the age of obesity: skeletal muscle
   depletion is a powerful prognostic factor, independent of body mass index", J. Clin.
   Oncol. 31 (2013) 1539-1547: mean muscle attenuation below 33 HU (BMI >= 25) is
   myosteatosis, the lower end of the muscle window used by :func:`muscle_mask`.
.. [Goodpaster2000] B. H. Goodpaster et al., "Skeletal muscle attenuation determined by
   computed tomography is associated with skeletal muscle lipid content", J. Appl.
   Physiol. 89 (2000) 104-110: normal-density muscle up to 100 HU.
.. [Misch1990] C. E. Misch, "Density of bone: effect on treatment plans, surgical approach,
   healing, and progressive bone loading", Int. J. Oral Implantol. 6 (1990) 23-31:
   trabecular bone from 150 HU, porous cortical bone from 850 HU.
"""

from __future__ import annotations

from rtplan.tissue._calibration import (
    SCHNEIDER_2000,
    WATER_Z_OVER_A,
    CalibrationCurve,
    CalibrationError,
    CalibrationRangeWarning,
    density,
    electron_density,
    schneider_z_over_a_ratio,
)
from rtplan.tissue._classes import MetalWarning, TissueClass, TissueThresholds, classify
from rtplan.tissue._composition import composition
from rtplan.tissue._segmentation import (
    SegmentationParameters,
    auto_structures,
    body_mask,
    bone_mask,
    muscle_mask,
)

__all__ = [
    "SCHNEIDER_2000",
    "WATER_Z_OVER_A",
    "CalibrationCurve",
    "CalibrationError",
    "CalibrationRangeWarning",
    "MetalWarning",
    "SegmentationParameters",
    "TissueClass",
    "TissueThresholds",
    "auto_structures",
    "body_mask",
    "bone_mask",
    "classify",
    "composition",
    "density",
    "electron_density",
    "muscle_mask",
    "schneider_z_over_a_ratio",
]

__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
