"""plastimatch as a peer tool: running it, and the MetaImage files it reads and writes.

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
