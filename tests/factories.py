"""Test helpers around :mod:`rtplan.testing`: validators, peer-tool shims, older signatures.

The synthetic DICOM builders live in :mod:`rtplan.testing` (written with pydicom alone,
never with rtplan's writers, so round-trip tests cannot hide a shared bug). What stays here
is what only the tests need: running dciodvfy, importing dicompyler-core under pydicom 3,
and :func:`write_ct_series` with the keywords the older tests use.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset

from rtplan import testing
from rtplan.testing import uid

__all__ = ["dciodvfy", "dicompyler_dvhcalc", "dicompyler_parser", "read", "uid", "write_ct_series"]


def write_ct_series(
    folder: Path,
    volume_hu: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    *,
    origin_mm: Sequence[float] = (0.0, 0.0, 0.0),
    spacing_mm: Sequence[float] = (2.0, 1.0, 1.0),
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    patient_position: str = "HFS",
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    shuffle_instance_numbers: bool = False,
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
) -> list[Path]:
    """:func:`rtplan.testing.write_ct_series` with ``spacing_mm = (slice, row, column)``.

    ``shuffle_instance_numbers`` numbers the slices in a seeded random order, so that a
    reader sorting by Instance Number fails.
    """
    n = volume_hu.shape[0]
    numbers = np.random.default_rng(0).permutation(n) + 1 if shuffle_instance_numbers else None
    geometry = testing.SeriesGeometry(
        origin_mm=tuple(float(v) for v in origin_mm),  # type: ignore[arg-type]
        spacing_mm=tuple(float(v) for v in spacing_mm),  # type: ignore[arg-type]
        orientation=tuple(orientation),
        patient_position=patient_position,
    )
    return testing.write_ct_series(
        folder,
        volume_hu,
        geometry,
        encoding=testing.PixelEncoding(rescale_slope=slope, rescale_intercept=intercept),
        instance_numbers=None if numbers is None else [int(v) for v in numbers],
        attributes={
            "StudyInstanceUID": study_uid,
            "SeriesInstanceUID": series_uid,
            "FrameOfReferenceUID": frame_uid,
        },
    )


def dciodvfy(path: Path) -> list[str]:
    """Run dciodvfy on a file and return its error lines (warnings excluded).

    Raises
    ------
    RuntimeError
        If dciodvfy is not installed (``apt-get install dicom3tools``).
    """
    exe = shutil.which("dciodvfy")
    if exe is None:
        raise RuntimeError("dciodvfy not found: apt-get install dicom3tools")
    proc = subprocess.run(
        [exe, "-new", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    out = proc.stdout + proc.stderr
    lines = out.splitlines()
    errors = [ln for ln in lines if ln.startswith("Error")]
    if proc.returncode not in (0, 1) or "Assertion" in out:
        # this dicom3tools build aborts on 32-bit pixel data: never count a crash as a pass
        errors.append(f"Error - dciodvfy crashed (exit {proc.returncode}) on {path}")
    return errors


def read(path: Path) -> Dataset:
    """pydicom read with the file meta enforced."""
    return pydicom.dcmread(path, force=False)


def dicompyler_parser():  # type: ignore[no-untyped-def]
    """dicompyler-core's DicomParser class, with the shim pydicom 3 needs.

    dicompyler-core 0.5.6 imports ``pydicom.dicomio.read_file``, which pydicom 3 removed
    (``pydicom.dcmread`` is the same function), and the deprecated
    ``pydicom.pixel_data_handlers``.
    """
    import pydicom.dicomio

    if not hasattr(pydicom.dicomio, "read_file"):
        pydicom.dicomio.read_file = pydicom.dcmread  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from dicompylercore import dicomparser

    return dicomparser.DicomParser


def dicompyler_dvhcalc():  # type: ignore[no-untyped-def]
    """dicompyler-core's ``dvhcalc`` module, with the pydicom 3 shim (see above)."""
    dicompyler_parser()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from dicompylercore import dvhcalc

    return dvhcalc
