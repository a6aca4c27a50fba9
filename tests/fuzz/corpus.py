"""The clean files the fuzzer mutates: a small synthetic study and the sample studies.

The synthetic study (a 6-slice CT, an RT Structure Set with an outline, a target and a ring,
an RT Plan with an open and an MLC beam, and two RT Doses, a 32-bit whole-plan dose and a
16-bit per-fraction dose, both referencing the plan) is written with :mod:`rtplan.testing`
(CT, RT Struct) and rtplan's own writers (RT Plan, RT Dose). The sample studies
(``thigh_sarcoma``, ``spine_metastasis``) are copied from the package; the CT cases read a
run of 8 of their slices, so that a case stays fast.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import rtplan
from rtplan.testing import Roi, SeriesGeometry, ellipse_points_mm, write_ct_series, write_rtstruct

__all__ = ["Corpus", "Source", "Study", "build_corpus"]

KINDS = ("ct", "rtstruct", "rtdose", "rtplan", "study")


@dataclass(frozen=True, slots=True)
class Study:
    """One study folder of the corpus and its files by kind."""

    name: str
    folder: Path
    ct: tuple[Path, ...]
    ct_run: tuple[Path, ...]  # the slices a "ct" case reads (a run of the series)
    rtstruct: Path
    rtplan: Path | None = None
    rtdose: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file of the study folder."""
        rt = (self.rtstruct, *((self.rtplan,) if self.rtplan else ()), *self.rtdose)
        return (*self.ct, *rt)


@dataclass(frozen=True, slots=True)
class Source:
    """A clean input of a case: what kind of read, which study, which file is mutated."""

    kind: str
    study: str
    path: Path


@dataclass(frozen=True, slots=True)
class Corpus:
    """The clean studies, and the sources a case picks from."""

    root: Path
    studies: dict[str, Study]
    sources: dict[str, tuple[Source, ...]] = field(default_factory=dict)

    def study(self, name: str) -> Study:
        """The study called ``name``."""
        return self.studies[name]


def _synthetic(folder: Path) -> Study:
    """A small study whose every file reads without warning."""
    shape = (6, 24, 24)
    geometry = SeriesGeometry(origin_mm=(-23.0, -23.0, -7.5), spacing_mm=(3.0, 2.0, 2.0))
    z = -7.5 + 3.0 * np.arange(shape[0])
    yy, xx = np.mgrid[0 : shape[1], 0 : shape[2]]
    x, y = -23.0 + 2.0 * xx, -23.0 + 2.0 * yy
    r = np.hypot(x, y)
    hu = np.where(r < 20.0, 20.0, -1000.0) + np.where(np.hypot(x - 5.0, y) < 5.0, 680.0, 0.0)
    volume = np.repeat(hu[np.newaxis], shape[0], axis=0)
    volume += np.arange(shape[0])[:, np.newaxis, np.newaxis] * 3.0  # slices differ
    ct_paths = write_ct_series(folder, volume, geometry)
    rois = [
        Roi(
            name="Body",
            interpreted_type="EXTERNAL",
            contours=tuple(ellipse_points_mm((20.0, 20.0), zk, n=24) for zk in z),
        ),
        Roi(
            name="PTV",
            interpreted_type="PTV",
            color=(0, 0, 255),
            contours=tuple(
                ellipse_points_mm((6.0, 5.0), zk, centre_mm=(-4.0, 2.0), n=16) for zk in z[1:5]
            ),
        ),
        Roi(
            name="Ring",
            color=(0, 200, 0),
            contours=tuple(
                ring
                for zk in z[2:4]
                for ring in (
                    ellipse_points_mm((9.0, 9.0), zk, centre_mm=(5.0, 0.0), n=12),
                    ellipse_points_mm((5.0, 5.0), zk, centre_mm=(5.0, 0.0), n=12),
                )
            ),
        ),
    ]
    rs = write_rtstruct(folder / "RS.dcm", ct_paths, rois=rois)
    ct = rtplan.io.read_ct(folder)
    structures = rtplan.io.read_rtstruct(rs, reference=ct)
    iso = (-4.0, 2.0, 0.0)
    mlc = rtplan.Mlc.uniform(10, 5.0).with_positions(
        np.array([[-10.0] * 10, [12.0] * 10]) * np.r_[0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
    )
    plan = rtplan.Plan(
        beams=(
            rtplan.Beam(energy="6X", gantry_deg=0.0, isocenter_mm=iso, mu=112.5, name="AP"),
            rtplan.Beam(
                energy="10X",
                gantry_deg=90.0,
                collimator_deg=15.0,
                couch_deg=350.0,
                isocenter_mm=iso,
                jaws_mm=(-20.0, 25.0, -25.0, 20.0),
                mlc=mlc,
                mu=98.25,
                name="LAT",
            ),
        ),
        prescription_gy=50.0,
        fractions=25,
        target_name="PTV",
        name="fuzz",
    )
    rp = rtplan.io.write_rtplan(
        plan, folder / "RP.dcm", reference=ct, structures_sop_uid=structures.sop_instance_uid
    )
    grid = rtplan.Grid(
        shape=(4, 10, 12), spacing_mm=(3.0, 4.0, 4.0), origin_mm=(-22.0, -18.0, -6.0)
    )
    centres = grid.centers_mm()
    bump = np.exp(-np.sum((centres - np.asarray(iso)) ** 2, axis=-1) / (2 * 15.0**2))
    whole = rtplan.Dose(array=52.0 * bump, grid=grid, fractions=25)
    rd = rtplan.io.write_rtdose(whole, folder / "RD.dcm", reference=ct, plan_sop_uid=plan.uid)
    one = rtplan.Dose(array=2.08 * bump, grid=grid, summation_type="FRACTION", fractions=25)
    rd_fx = rtplan.io.write_rtdose(
        one, folder / "RD_fraction.dcm", reference=ct, plan_sop_uid=plan.uid, bits_allocated=16
    )
    return Study(
        name="synthetic",
        folder=folder,
        ct=tuple(ct_paths),
        ct_run=tuple(ct_paths),
        rtstruct=rs,
        rtplan=rp,
        rtdose=(rd, rd_fx),
    )


def _sample(name: str, folder: Path) -> Study:
    """A sample study copied from the package (CT and RT Struct)."""
    src = rtplan.data.get_path(name)
    shutil.copytree(src, folder)
    ct = tuple(sorted(folder.glob("CT_*.dcm")))
    middle = len(ct) // 2
    return Study(
        name=name,
        folder=folder,
        ct=ct,
        ct_run=ct[middle - 4 : middle + 4],
        rtstruct=folder / "RS.dcm",
    )


def build_corpus(root: Path, *, samples: bool = True) -> Corpus:
    """Write the clean studies under ``root``.

    Parameters
    ----------
    root : Path
        An empty folder.
    samples : bool
        Include the sample studies (the long run); without them only the synthetic study
        (the bounded run of the test suite).

    Returns
    -------
    Corpus
        ``sources[kind]`` lists the files a case of that kind mutates.
    """
    studies = {"synthetic": _synthetic(root / "synthetic")}
    if samples:
        for name in ("thigh_sarcoma", "spine_metastasis"):
            studies[name] = _sample(name, root / name)
    sources: dict[str, list[Source]] = {kind: [] for kind in KINDS}
    for st in studies.values():
        sources["ct"] += [Source("ct", st.name, p) for p in st.ct_run]
        sources["rtstruct"].append(Source("rtstruct", st.name, st.rtstruct))
        if st.rtplan is not None:
            sources["rtplan"].append(Source("rtplan", st.name, st.rtplan))
        sources["rtdose"] += [Source("rtdose", st.name, p) for p in st.rtdose]
        sources["study"] += [Source("study", st.name, p) for p in st.files]
    return Corpus(
        root=root,
        studies=studies,
        sources={kind: tuple(items) for kind, items in sources.items()},
    )
