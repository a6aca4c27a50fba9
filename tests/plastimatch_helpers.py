"""plastimatch as a peer tool: running it, the MetaImage files it reads and writes, and
the DVH and gamma reports it writes (used by the tests and ``benchmarks/evaluate``).

MetaImage (``.mha``) is ITK's format: a text header of ``Key = value`` lines ending with
``ElementDataFile = LOCAL``, then the raw voxels with the first image axis varying fastest,
so a ``(k, j, i)`` C-ordered numpy array is written as is. Its geometry is ITK's world
frame, which is DICOM's patient frame (LPS, mm):

* ``Offset`` is the position of the centre of voxel ``(0, 0, 0)``;
* ``ElementSpacing`` is the spacing along the image axes ``i, j, k``;
* ``TransformMatrix`` holds the unit vectors of the image axes one after the other:
  value ``3 * a + r`` is component ``r`` of axis ``a`` (ITK ``MetaImageIO`` reads it with
  ``SetDirection(a, ...)``).

So voxel ``(i, j, k)`` sits at ``Offset + sum_a spacing[a] * index[a] * axis[a]``. The
reader and writer here are written from that definition alone, without rtplan, so that
the geometry they report is an independent reference.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_ELEMENT_TYPES = {
    "MET_UCHAR": "u1",
    "MET_CHAR": "i1",
    "MET_USHORT": "<u2",
    "MET_SHORT": "<i2",
    "MET_UINT": "<u4",
    "MET_INT": "<i4",
    "MET_FLOAT": "<f4",
    "MET_DOUBLE": "<f8",
}
_TYPE_NAMES = {np.dtype(v): k for k, v in _ELEMENT_TYPES.items()}


@dataclass(frozen=True)
class MetaImage:
    """A MetaImage volume: voxels ``(k, j, i)`` and their LPS geometry.

    ``spacing_ijk_mm`` is the ``ElementSpacing`` as written (plastimatch may write a
    negative spacing); ``axes`` has the unit vectors of ``i, j, k`` as columns.
    """

    array: npt.NDArray[np.generic]
    origin_mm: FloatArray
    spacing_ijk_mm: FloatArray
    axes: FloatArray
    header: dict[str, str] = field(default_factory=dict)

    @property
    def steps(self) -> FloatArray:
        """LPS displacement of one voxel step along ``i, j, k`` (as columns), mm."""
        return np.asarray(self.axes * self.spacing_ijk_mm[np.newaxis, :], dtype=np.float64)

    def position_mm(self, ijk: npt.ArrayLike) -> FloatArray:
        """LPS centres (mm) of voxels given as ``(N, 3)`` indices ``(i, j, k)``."""
        idx = np.asarray(ijk, dtype=np.float64).reshape(-1, 3)
        return np.asarray(self.origin_mm + idx @ self.steps.T, dtype=np.float64)


def write_mha(
    path: Path,
    array: npt.NDArray[np.generic],
    *,
    origin_mm: Sequence[float],
    spacing_ijk_mm: Sequence[float],
    axes: npt.ArrayLike = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
) -> Path:
    """Write a ``(k, j, i)`` array as an uncompressed little-endian MetaImage.

    ``axes`` is a 3x3 matrix whose columns are the LPS unit vectors of ``i, j, k``.
    """
    data = np.ascontiguousarray(array)
    data = data.astype(data.dtype.newbyteorder("<"), copy=False)
    etype = _TYPE_NAMES[data.dtype]
    cols = np.asarray(axes, dtype=np.float64)
    nk, nj, ni = data.shape

    def fmt(values: npt.ArrayLike) -> str:
        return " ".join(f"{float(v):.17g}" for v in np.ravel(values))

    header = (
        "ObjectType = Image\n"
        "NDims = 3\n"
        "BinaryData = True\n"
        "BinaryDataByteOrderMSB = False\n"
        "CompressedData = False\n"
        f"TransformMatrix = {fmt(cols.T)}\n"  # axis i, then axis j, then axis k
        f"Offset = {fmt(origin_mm)}\n"
        f"ElementSpacing = {fmt(spacing_ijk_mm)}\n"
        f"DimSize = {ni} {nj} {nk}\n"
        f"ElementType = {etype}\n"
        "ElementDataFile = LOCAL\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode("ascii") + data.tobytes())
    return path


def read_mha(path: Path) -> MetaImage:
    """Read an uncompressed 3D MetaImage with its data in the same file (``LOCAL``)."""
    raw = path.read_bytes()
    header: dict[str, str] = {}
    pos = 0
    while "ElementDataFile" not in header:
        end = raw.index(b"\n", pos)
        key, _, value = raw[pos:end].decode("ascii").partition("=")
        header[key.strip()] = value.strip()
        pos = end + 1
    if header["ElementDataFile"] != "LOCAL" or header.get("CompressedData", "False") != "False":
        raise ValueError(f"{path}: only uncompressed LOCAL MetaImage data is supported")
    if header.get("NDims") != "3":
        raise ValueError(f"{path}: NDims is {header.get('NDims')}, expected 3")
    msb = header.get("BinaryDataByteOrderMSB", header.get("ElementByteOrderMSB", "False"))
    dtype = np.dtype(_ELEMENT_TYPES[header["ElementType"]])
    if msb == "True":
        dtype = dtype.newbyteorder(">")
    ni, nj, nk = (int(v) for v in header["DimSize"].split())
    array = np.frombuffer(raw, dtype=dtype, count=ni * nj * nk, offset=pos).reshape(nk, nj, ni)

    def floats(key: str, default: str) -> FloatArray:
        return np.array([float(v) for v in header.get(key, default).split()], dtype=np.float64)

    return MetaImage(
        array=array,
        origin_mm=floats("Offset", "0 0 0"),
        spacing_ijk_mm=floats("ElementSpacing", "1 1 1"),
        axes=floats("TransformMatrix", "1 0 0 0 1 0 0 0 1").reshape(3, 3).T,
        header=header,
    )


def run_plastimatch(exe: str, *args: str | Path, cwd: Path) -> str:
    """Run ``plastimatch ARGS`` and return its output; fail the test if it fails.

    plastimatch reports some failures (an unreadable input) only on stdout, with exit
    status 1, so the output is shown on failure.
    """
    proc = subprocess.run(
        [exe, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(
            f"plastimatch {' '.join(map(str, args))} exited {proc.returncode}:\n{out[-3000:]}"
        )
    return out


def distance_to_edges_mm(
    points_mm: npt.ArrayLike, contours_mm: Sequence[npt.ArrayLike], *, plane_tol_mm: float
) -> FloatArray:
    """Distance from each point to the nearest edge of the closed contours in its plane.

    Parameters
    ----------
    points_mm : array_like, shape (N, 3)
        LPS points, mm.
    contours_mm : sequence of array_like, each shape (M, 3)
        Closed planar contours (the last point joins the first), LPS mm.
    plane_tol_mm : float
        A contour counts for a point when all its vertices lie within this distance of
        the point's plane (measured along the contour's normal).

    Returns
    -------
    numpy.ndarray, shape (N,)
        Distances in mm (``inf`` where no contour shares the point's plane).
    """
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    best = np.full(pts.shape[0], np.inf)
    for contour in contours_mm:
        a = np.asarray(contour, dtype=np.float64).reshape(-1, 3)
        b = np.roll(a, -1, axis=0)
        centred = a - a.mean(axis=0)
        normal = np.linalg.svd(centred)[2][-1]
        for n, p in enumerate(pts):
            if np.max(np.abs((a - p) @ normal)) > plane_tol_mm:
                continue
            ab = b - a
            length2 = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-300)  # repeated vertices
            t = np.clip(np.einsum("ij,ij->i", p - a, ab) / length2, 0.0, 1.0)
            d = np.linalg.norm(a + t[:, np.newaxis] * ab - p, axis=1)
            best[n] = min(best[n], float(d.min()))
    return best


# ----------------------------------------------------------------------------- DVH, gamma
@dataclass(frozen=True)
class PmDvh:
    """One structure's cumulative DVH from ``plastimatch dvh --normalization vox``.

    Bin ``k`` is centred on ``k * bin_gy``: ``counts[k]`` voxels have a dose of at least
    ``(k - 1/2) * bin_gy``.
    """

    labels_gy: FloatArray  # bin centres k w
    counts: FloatArray  # voxels with dose >= (k - 1/2) w
    voxel_cc: float
    bin_gy: float

    @property
    def volume_cc(self) -> float:
        return float(self.counts[0]) * self.voxel_cc

    @property
    def mean_gy(self) -> float:
        diff = self.counts - np.append(self.counts[1:], 0.0)
        return float(np.sum(diff * self.labels_gy) / self.counts[0])

    def V_cc(self, level_gy: FloatArray) -> FloatArray:
        """Volume (cm³) with dose >= each level, linear between bin edges."""
        edges = self.labels_gy - self.bin_gy / 2
        return np.interp(level_gy, edges, self.counts * self.voxel_cc, right=0.0)

    def D(self, percent: float) -> float:
        """Dose received by ``percent`` of the volume (cumulative curve, linear)."""
        frac = self.counts[::-1] / self.counts[0]
        edges = (self.labels_gy - self.bin_gy / 2)[::-1]
        return float(np.interp(percent / 100.0, frac, edges))

    def doses_present(self) -> FloatArray:
        """Bin centres holding at least one voxel."""
        diff = self.counts - np.append(self.counts[1:], 0.0)
        return self.labels_gy[diff > 0]


def dvh_args(folder: Path, max_dose_gy: float, bin_gy: float) -> list[str]:
    """Arguments of ``plastimatch dvh`` on ``folder`` (one RTSTRUCT, one RTDOSE).

    Voxel counts in bins of ``bin_gy`` up to 3 bins beyond ``max_dose_gy``, written to
    ``folder / "dvh.csv"`` (read it with :func:`read_dvh`).
    """
    n_bins = math.ceil(max_dose_gy / bin_gy) + 3
    return [
        "dvh",
        "--input",
        str(folder),
        "--output-csv",
        str(folder / "dvh.csv"),
        "--num-bins",
        str(n_bins),
        "--bin-width",
        str(bin_gy),
        "--normalization",
        "vox",
    ]


def read_dvh(folder: Path, log: str, bin_gy: float) -> tuple[dict[str, PmDvh], list[float]]:
    """The DVHs of a :func:`dvh_args` run, and the raster spacing (mm) read from its log."""
    # the structure-set image's spacing (mm) follows "checking voxel size..." (dose, ss)
    found = re.search(r"checking voxel size\.\.\.\n[^\n]+\n([^\n]+)\n", log)
    if found is None:
        raise AssertionError(f"plastimatch dvh: no voxel size in its log:\n{log[-2000:]}")
    spacing = [float(v) for v in found.group(1).split()]
    voxel_cc = math.prod(spacing) / 1000.0
    csv = folder / "dvh.csv"
    names = csv.read_text().splitlines()[0].split(",")[1:]
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    dvhs = {
        n: PmDvh(labels_gy=data[:, 0], counts=data[:, c + 1], voxel_cc=voxel_cc, bin_gy=bin_gy)
        for c, n in enumerate(names)
    }
    return dvhs, spacing


def read_gamma_report(text: Path) -> tuple[int, int]:
    """Analysed and passing voxel counts of a ``plastimatch gamma --output-text`` report."""
    report = dict(
        line.split("\t", 1) for line in text.read_text().splitlines() if line.count("\t") == 1
    )
    return int(report["number_of_analysis_voxels"]), int(report["number_of_pass_voxels"])
