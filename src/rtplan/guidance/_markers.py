"""A needle trajectory as RT Structure Set ROIs, and its pieces on each CT slice.

The trajectory becomes three structures that :func:`rtplan.io.write_rtstruct` writes:

* ``<prefix>Entry`` and ``<prefix>Target``: one POINT contour each (RT ROI Interpreted
  Type ``MARKER``), referencing the CT slice nearest to the point;
* ``<prefix>Path``: one OPEN_PLANAR contour per CT slice the needle crosses, the part of
  the needle within that slice's thickness projected onto the slice plane (what a TPS or
  PACS viewer draws on that slice). A needle running along the slice normal has no
  extent within any slice; it is then written as a single OPEN_NONPLANAR contour.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtplan.errors import GeometryError
from rtplan.guidance._trajectory import Trajectory
from rtplan.image import Image
from rtplan.structures import Contour, ContourType, Structure

__all__ = ["SlicePiece", "slice_pieces", "trajectory_structures"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

_MIN_PIECE_MM = 1e-3


@dataclass(frozen=True, slots=True)
class SlicePiece:
    """The part of a needle within one CT slice's thickness.

    Attributes
    ----------
    k : int
        Slice index.
    points_mm : numpy.ndarray, shape (2, 3)
        Ends of the part, projected onto the slice plane, LPS mm.
    ijk : numpy.ndarray, shape (2, 3)
        The same ends as continuous voxel indices (their k equals ``k``).
    """

    k: int
    points_mm: FloatArray
    ijk: FloatArray


def slice_pieces(trajectory: Trajectory, ct: Image) -> list[SlicePiece]:
    """Cut a trajectory into the slabs of the CT slices it crosses.

    Slice ``k`` stands for the slab of indices ``k - 0.5 <= k' < k + 0.5``; each piece is
    projected onto its slice plane (``k' = k``). Pieces shorter than 1 µm are dropped.

    Parameters
    ----------
    trajectory : Trajectory
    ct : Image
        The CT whose slices are used.

    Returns
    -------
    list of SlicePiece
        In increasing slice order.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan import Grid, Image
    >>> from rtplan.guidance import Trajectory, slice_pieces
    >>> g = Grid(shape=(5, 20, 20), spacing_mm=(2.0, 1.0, 1.0), origin_mm=(0.0, 0.0, 0.0))
    >>> ct = Image(array=np.zeros(g.shape), grid=g, units="HU")
    >>> needle = Trajectory(
    ...     entry_mm=[2.0, 10.0, 0.0], target_mm=[14.0, 10.0, 6.0], clearance_mm={},
    ...     required_clearance_mm={}, in_plane_deg=90.0, out_of_plane_deg=26.6,
    ...     tissue_fraction={},
    ... )
    >>> pieces = slice_pieces(needle, ct)  # slices of 2 mm: z = 0, 2, 4, 6 mm
    >>> [(p.k, p.points_mm[:, 0].tolist()) for p in pieces]  # x of each piece's ends, mm
    [(0, [2.0, 4.0]), (1, [4.0, 8.0]), (2, [8.0, 12.0]), (3, [12.0, 14.0])]
    """
    grid = ct.grid
    ends = grid.mm_to_index(np.stack([trajectory.entry_mm, trajectory.target_mm]))
    k0, k1 = float(ends[0, 2]), float(ends[1, 2])
    lo, hi = min(k0, k1), max(k0, k1)
    first = max(0, int(np.floor(lo + 0.5)))
    last = min(grid.shape[0] - 1, int(np.floor(hi + 0.5)))
    pieces = []
    for k in range(first, last + 1):
        a, b = k - 0.5, k + 0.5
        if abs(k1 - k0) < 1e-12:
            t0, t1 = 0.0, 1.0
        else:
            ta, tb = (a - k0) / (k1 - k0), (b - k0) / (k1 - k0)
            t0, t1 = max(0.0, min(ta, tb)), min(1.0, max(ta, tb))
        if t1 <= t0:
            continue
        seg = ends[0] + np.array([[t0], [t1]]) * (ends[1] - ends[0])
        seg[:, 2] = float(k)
        mm = grid.index_to_mm(seg)
        if float(np.linalg.norm(mm[1] - mm[0])) < _MIN_PIECE_MM:
            continue
        pieces.append(SlicePiece(k=k, points_mm=mm, ijk=seg))
    return pieces


def _nearest_slice_uid(ct: Image, point_mm: FloatArray) -> str:
    if ct.series is None or not ct.series.sop_instance_uids:
        return ""
    k = int(np.clip(np.rint(ct.grid.mm_to_index(point_mm)[2]), 0, ct.grid.shape[0] - 1))
    uids = ct.series.sop_instance_uids
    return uids[k] if k < len(uids) else ""


def _marker(
    name: str, point_mm: FloatArray, ct: Image, color: tuple[int, int, int], what: str
) -> Structure:
    """A MARKER structure of one POINT contour on the CT slice nearest to it."""
    return Structure(
        name=name,
        color=color,
        interpreted_type="MARKER",
        contours=(
            Contour(
                points_mm=point_mm[np.newaxis],
                geometric_type=ContourType.POINT,
                image_uid=_nearest_slice_uid(ct, point_mm),
            ),
        ),
        generation="SEMIAUTOMATIC",
        description=f"{what} (rtplan.plan_trajectory)",
    )


def trajectory_structures(
    trajectory: Trajectory,
    ct: Image,
    *,
    prefix: str = "Needle",
    color: tuple[int, int, int] = (0, 255, 255),
) -> tuple[Structure, Structure, Structure]:
    """The entry, target and path of a needle as structures for an RT Structure Set.

    Parameters
    ----------
    trajectory : Trajectory
    ct : Image
        The CT the structure set refers to (slice planes and SOP Instance UIDs).
    prefix : str
        Start of the three ROI names (``<prefix>Entry``, ``<prefix>Target``,
        ``<prefix>Path``); at most 58 characters.
    color : tuple of 3 int
        ROI Display Color.

    Returns
    -------
    tuple of 3 Structure
        Entry (POINT), target (POINT) and path (OPEN_PLANAR per crossed slice, or one
        OPEN_NONPLANAR contour for a needle along the slice normal).

    Raises
    ------
    GeometryError
        If the prefix is empty or too long, or the needle lies outside the CT.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.guidance import Trajectory, trajectory_structures
    >>> ct = rtplan.io.read_ct(rtplan.data.get_path("spine_metastasis"))
    >>> needle = Trajectory(
    ...     entry_mm=[40.0, 90.0, -315.0], target_mm=[5.0, 15.0, -312.0], clearance_mm={},
    ...     required_clearance_mm={}, in_plane_deg=0.0, out_of_plane_deg=0.0,
    ...     tissue_fraction={},
    ... )
    >>> entry, target, path = trajectory_structures(needle, ct)
    >>> entry.name, target.interpreted_type, path.contours[0].geometric_type.value
    ('NeedleEntry', 'MARKER', 'OPEN_PLANAR')
    """
    if not prefix.strip() or len(prefix) > 58:
        raise GeometryError(f"ROI name prefix must have 1 to 58 characters, got {prefix!r}")
    if not np.all(ct.grid.contains_mm(np.stack([trajectory.entry_mm, trajectory.target_mm]))):
        raise GeometryError("the trajectory leaves the CT: its ends must lie in the CT's voxels")
    desc = (
        f"needle {trajectory.length_mm:.1f} mm, in-plane {trajectory.in_plane_deg:.1f} deg, "
        f"out-of-plane {trajectory.out_of_plane_deg:.1f} deg"
    )
    entry = _marker(f"{prefix}Entry", trajectory.entry_mm, ct, color, "needle skin entry")
    target = _marker(f"{prefix}Target", trajectory.target_mm, ct, color, "needle tip")
    uids = ct.series.sop_instance_uids if ct.series is not None else ()
    pieces = slice_pieces(trajectory, ct)
    contours: tuple[Contour, ...]
    if pieces:
        contours = tuple(
            Contour(
                points_mm=p.points_mm,
                geometric_type=ContourType.OPEN_PLANAR,
                image_uid=uids[p.k] if p.k < len(uids) else "",
            )
            for p in pieces
        )
    else:
        logger.info("needle along the slice normal: path written as one OPEN_NONPLANAR contour")
        contours = (
            Contour(
                points_mm=np.stack([trajectory.entry_mm, trajectory.target_mm]),
                geometric_type=ContourType.OPEN_NONPLANAR,
            ),
        )
    path = Structure(
        name=f"{prefix}Path",
        color=color,
        interpreted_type="",
        contours=contours,
        generation="SEMIAUTOMATIC",
        description=desc,
    )
    return entry, target, path
