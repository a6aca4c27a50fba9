"""Automatic structures: the body outline, bone and muscle segmented from a CT.

Every step runs on the bounding box of the voxels it can change (a
:class:`~rtplan.tissue._boxmask.BoxMask`) with the exact morphology of
:mod:`rtplan.geometry` (radii in mm, the array edges told apart from the grid's), and
gives the voxels of the whole-volume definition documented in :func:`auto_structures`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan import geometry
from rtplan.grid import Grid
from rtplan.image import Image
from rtplan.structures import Structure
from rtplan.tissue._boxmask import BoxMask
from rtplan.tissue._calibration import CalibrationError, check_hu
from rtplan.tissue._classes import TissueThresholds

__all__ = [
    "AUTO_STYLE",
    "SegmentationParameters",
    "auto_structures",
    "body_mask",
    "bone_mask",
    "muscle_mask",
]

logger = logging.getLogger(__name__)


#: ROI display colours (RGB) and RT ROI Interpreted Types of the automatic structures.
AUTO_STYLE: dict[str, tuple[tuple[int, int, int], str]] = {
    "Body": ((177, 122, 101), "EXTERNAL"),
    "Bone": ((241, 214, 145), "ORGAN"),
    "Muscle": ((192, 104, 88), "ORGAN"),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmentationParameters:
    """Settings of :func:`auto_structures` (lengths in mm, areas in mm², volumes in cm³).

    Parameters
    ----------
    body_threshold_hu : float
        Voxels above it may belong to the body (default -400 HU: skin and fat pass,
        air and couch foam do not).
    couch_removal_mm : float
        Radius of the opening that detaches thin objects touching the body (couch top,
        immobilisation shells, cables) before keeping the largest component; 0 disables.
    couch_min_hu : float
        Where a couch top lies flat against the body, the opening leaves the layer under
        it attached; that layer is removed too when it is at least this dense (carbon
        fibre and its skin-side partial volume) and connected to the detached couch.
        Skin and fat (below 100 HU) are never removed this way.
    bone_closing_mm : float
        Radius of the closing that seals small gaps in the cortical shell before its
        holes are filled.
    marrow_small_hole_mm2 : float
        Holes in a bone slice smaller than this are filled whatever their HU.
    marrow_max_hole_mm2 : float
        Holes in a bone slice larger than this are never filled (the pelvic inlet, the
        thoracic outlet); the largest marrow cavities (tibial plateau, vertebral bodies of
        the sacrum) stay below the default 40 cm².
    canal_hu : tuple of float
        ``[low, high)`` HU window of the median of a slice hole that is *not* marrow
        (spinal canal, foramina: cord and CSF); such holes stay outside bone. Holes whose
        median is below it (fatty marrow) or above it (red marrow) are filled.
    max_cavity_cc : float
        Cavities enclosed by bone in 3D (marrow, a lytic lesion inside a vertebral body)
        up to this volume are bone whatever their HU; larger ones (the cranial cavity)
        are not.
    min_bone_cc : float
        Bone components smaller than this are dropped (calcifications, noise).
    muscle_smoothing_mm : float
        Standard deviation of the Gaussian that averages HU over neighbouring soft-tissue
        voxels (only) before the muscle attenuation window is applied; it suppresses CT
        noise without mixing in fat or bone across boundaries.
    muscle_hu : tuple of float
        ``[low, high]`` window of that local mean. The defaults, 33 to 100 HU, span
        normal-attenuation skeletal muscle: 33 HU is the lowest mean muscle attenuation
        of Martin et al. (J. Clin. Oncol. 31 (2013) 1539) that is not called
        myosteatosis, and 100 HU the upper bound of normal-density muscle of Goodpaster
        et al. (J. Appl. Physiol. 89 (2000) 104). Unenhanced kidney, bowel and fluid
        (<= 30 HU) and intervertebral discs fall outside; blood (~40 HU) does not, so
        large vessels may be included. Lower ``muscle_hu[0]`` for fatty-infiltrated
        muscle.
    joint_gap_mm : float
        Soft tissue with bone both above and below it within this distance along the
        slice axis (intervertebral discs, joint spaces) is not muscle.
    muscle_opening_mm : float
        Radius of the opening that removes thin soft-tissue shells from muscle.
    min_muscle_cc : float
        Muscle components smaller than this are dropped.
    thresholds : TissueThresholds
        Tissue class boundaries (soft tissue and bone HU ranges).
    """

    body_threshold_hu: float = -400.0
    couch_removal_mm: float = 3.0
    couch_min_hu: float = 100.0
    bone_closing_mm: float = 1.0
    marrow_small_hole_mm2: float = 20.0
    marrow_max_hole_mm2: float = 4000.0
    canal_hu: tuple[float, float] = (-10.0, 90.0)
    max_cavity_cc: float = 200.0
    min_bone_cc: float = 0.5
    muscle_smoothing_mm: float = 3.0
    muscle_hu: tuple[float, float] = (33.0, 100.0)
    joint_gap_mm: float = 15.0
    muscle_opening_mm: float = 1.5
    min_muscle_cc: float = 1.0
    thresholds: TissueThresholds = field(default_factory=TissueThresholds)


def _voxels(volume_cc: float, grid: Grid) -> int:
    return max(1, round(volume_cc * 1000.0 / grid.voxel_volume_mm3))


# Every step below works on the bounding box of the voxels it can change (a BoxMask) and
# gives the voxels of the whole-volume definition documented in auto_structures (the
# morphology of rtplan.geometry crops to the set's box itself, with the faces where the
# box meets the grid's edge told apart); tests/test_tissue.py compares them with a
# whole-volume implementation.


def _body_box(ct: Image, p: SegmentationParameters) -> BoxMask:
    """The body outline on its bounding box (see :func:`body_mask`)."""
    from scipy import ndimage

    hu = np.asarray(ct.array)
    # nothing below the threshold can become body except holes, which lie inside the
    # bounding box of the voxels above it
    box = BoxMask.from_full(hu > p.body_threshold_hu)
    if box.is_empty():
        return box
    above = box.array
    if p.couch_removal_mm > 0:
        r, sp = p.couch_removal_mm, ct.grid.spacing_mm
        # the body goes on beyond the scanned volume: do not erode from the grid edges
        core = geometry.erode_mask(above, r, sp, outside_is_set=box.at_edge())
        core = geometry.largest_component(core)
        # the opening of the kept core: thin objects touching the body fall off it
        body = geometry.dilate_mask(core, r, sp) & above
        detached = above & ~body
        if detached.any():
            # where a couch top lies flat against the back, the layer under the body
            # survives the opening; it is the dense, thin (outside the core) material
            # connected to the detached part of the couch
            thin_dense = above & ~core & (hu[box.slices] >= p.couch_min_hu)
            labels, _ = ndimage.label(thin_dense)
            ids = np.unique(labels[detached & thin_dense])
            body &= ~np.isin(labels, ids[ids > 0])
        body = geometry.largest_component(body)
    else:
        body = geometry.largest_component(above)
    # Holes are filled slice by slice, then in 3D. After the first, every background
    # voxel is connected within its slice to the slice's edge, which is on the grid's
    # border: no 3D cavity is left, and the second changes nothing, so it is not run.
    body = geometry.fill_holes(body, planar=True)
    return BoxMask(box.lo, body, box.full_shape).shrink()


def _close_bone(
    bone: BoxMask, body: BoxMask, radius_mm: float, spacing_mm: tuple[float, float, float]
) -> BoxMask:
    """Morphological closing of the bone by a ball, restricted to the body."""
    # the closing (in unbounded space) of a set lies within the set's bounding box
    closed = geometry.close_mask(bone.array, radius_mm, spacing_mm)
    inside = body.on(bone.lo, bone.array.shape)
    return BoxMask(bone.lo, closed & inside, bone.full_shape).shrink()


def _fill_marrow(
    bone: BoxMask, hu: npt.NDArray[Any], grid: Grid, p: SegmentationParameters
) -> BoxMask:
    """Fill the holes of each bone slice that hold marrow, keeping canal-like holes open."""
    from scipy import ndimage

    if bone.is_empty():
        return bone
    # the holes of every slice at once, numbered 1 .. n
    labels, n = geometry.label_holes(bone.array, planar=True)
    if n == 0:
        return bone
    in_hole = labels > 0
    hole_labels = labels[in_hole]
    values = np.asarray(hu[bone.slices][in_hole], dtype=np.float64)
    pixel_mm2 = grid.spacing_mm[1] * grid.spacing_mm[2]
    small = p.marrow_small_hole_mm2 / pixel_mm2
    large = p.marrow_max_hole_mm2 / pixel_mm2
    lo, hi = p.canal_hu
    ids = np.arange(1, n + 1)
    sizes = np.bincount(hole_labels, minlength=n + 1)[1:]
    medians = np.asarray(ndimage.median(values, hole_labels, ids), dtype=np.float64)
    marrow_like = (medians < lo) | (medians >= hi)
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = (sizes < small) | (marrow_like & (sizes <= large))
    return BoxMask(bone.lo, bone.array | keep[labels], bone.full_shape)


def _fill_cavities(bone: BoxMask, grid: Grid, p: SegmentationParameters) -> BoxMask:
    """Add the 3D cavities of the bone mask up to ``max_cavity_cc``, whatever their HU."""
    if bone.is_empty():
        return bone
    labels, n = geometry.label_holes(bone.array)
    if n == 0:
        return bone
    keep = np.bincount(labels.ravel(), minlength=n + 1) <= _voxels(p.max_cavity_cc, grid)
    keep[0] = False
    return BoxMask(bone.lo, bone.array | keep[labels], bone.full_shape)


def _bone_box(
    hu: npt.NDArray[Any], body: BoxMask, grid: Grid, p: SegmentationParameters
) -> BoxMask:
    """Bone on its bounding box (see :func:`bone_mask`)."""
    if body.is_empty():
        return BoxMask.empty(body.full_shape)
    t = p.thresholds
    h = hu[body.slices]
    bone = (h >= t.cancellous_bone_min_hu) & (h < t.metal_min_hu) & body.array
    box = BoxMask(body.lo, bone, body.full_shape).shrink()
    if box.is_empty():
        return box
    kept = geometry.remove_small_components(box.array, _voxels(p.min_bone_cc, grid))
    box = BoxMask(box.lo, kept, box.full_shape).shrink()
    if box.is_empty():
        return box
    if p.bone_closing_mm > 0:
        box = _close_bone(box, body, p.bone_closing_mm, grid.spacing_mm)
    box = _fill_marrow(box, hu, grid, p)
    return _fill_cavities(box, grid, p)


def _muscle_box(
    hu: npt.NDArray[Any], body: BoxMask, bone: BoxMask, grid: Grid, p: SegmentationParameters
) -> BoxMask:
    """Muscle on its bounding box (see :func:`muscle_mask`)."""
    if body.is_empty():
        return BoxMask.empty(body.full_shape)
    t = p.thresholds
    h = hu[body.slices]
    soft = (h >= t.soft_tissue_min_hu) & (h < t.cancellous_bone_min_hu) & body.array
    if not bone.is_empty():
        shape = soft.shape
        # tissue enclosed by bone in a slice (spinal canal) or lying between bones along
        # the slice axis (discs, joint spaces) is not muscle; both lie in the bone's box
        enclosed = geometry.fill_holes(bone.array, planar=True)  # the bone and its holes
        between = _between_along_slices(bone.array, p.joint_gap_mm, grid.spacing_mm[0])
        not_muscle = BoxMask(bone.lo, enclosed | between, bone.full_shape)
        soft &= ~not_muscle.on(body.lo, shape)
        soft &= ~bone.on(body.lo, shape)
    box = BoxMask(body.lo, soft, body.full_shape).shrink()
    if box.is_empty():
        return box
    local = _masked_mean(hu, box, p.muscle_smoothing_mm, grid)
    soft = box.array & (local >= p.muscle_hu[0]) & (local <= p.muscle_hu[1])
    if p.muscle_opening_mm > 0:
        soft = geometry.open_mask(soft, p.muscle_opening_mm, grid.spacing_mm)
    soft = geometry.remove_small_components(soft, _voxels(p.min_muscle_cc, grid))
    return BoxMask(box.lo, soft, box.full_shape).shrink()


def _boxed(mask: npt.ArrayLike | None, ct: Image, what: str) -> BoxMask | None:
    """A caller's whole-grid mask on its bounding box (None when not given)."""
    if mask is None:
        return None
    m = np.asarray(mask, dtype=bool)
    if m.shape != ct.shape:
        raise CalibrationError(
            f"{what} mask shape {m.shape} differs from the CT {ct.shape}; pass a mask on "
            "the CT grid (structure.mask(ct.grid))"
        )
    return BoxMask.from_full(m)


def body_mask(ct: Image, params: SegmentationParameters | None = None) -> npt.NDArray[np.bool_]:
    """The body outline as a boolean array on the CT grid (see :func:`auto_structures`).

    Parameters
    ----------
    ct : Image
        CT in HU.
    params : SegmentationParameters, optional

    Returns
    -------
    numpy.ndarray of bool, shape ct.shape

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.data import get_path
    >>> ct = rtplan.io.read_ct(get_path("thigh_sarcoma"))
    >>> body = rtplan.tissue.body_mask(ct)
    >>> body.shape == ct.shape, round(float(body.sum() * ct.grid.voxel_volume_mm3 / 1000.0))
    (True, 2108)
    """
    p = SegmentationParameters() if params is None else params
    check_hu(ct, "body_mask()")
    return _body_box(ct, p).full()


def bone_mask(
    ct: Image,
    body: npt.NDArray[np.bool_] | None = None,
    params: SegmentationParameters | None = None,
) -> npt.NDArray[np.bool_]:
    """Bone (cortical and cancellous, with marrow) as a boolean array on the CT grid.

    Parameters
    ----------
    ct : Image
        CT in HU.
    body : numpy.ndarray of bool, optional
        Body mask restricting the search (computed when omitted).
    params : SegmentationParameters, optional

    Returns
    -------
    numpy.ndarray of bool, shape ct.shape

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU or ``body`` is not on its grid.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.data import get_path
    >>> ct = rtplan.io.read_ct(get_path("thigh_sarcoma"))
    >>> body = rtplan.tissue.body_mask(ct)
    >>> bone = rtplan.tissue.bone_mask(ct, body)
    >>> bool((bone & ~body).any()), round(float(bone.sum() * ct.grid.voxel_volume_mm3 / 1000.0))
    (False, 74)
    """
    p = SegmentationParameters() if params is None else params
    check_hu(ct, "bone_mask()")
    body_box = _boxed(body, ct, "bone_mask(): body")
    if body_box is None:
        body_box = _body_box(ct, p)
    return _bone_box(np.asarray(ct.array), body_box, ct.grid, p).full()


def muscle_mask(
    ct: Image,
    body: npt.NDArray[np.bool_] | None = None,
    bone: npt.NDArray[np.bool_] | None = None,
    params: SegmentationParameters | None = None,
) -> npt.NDArray[np.bool_]:
    """Muscle (soft-tissue HU inside the body, not bone, not fat) on the CT grid.

    Parameters
    ----------
    ct : Image
        CT in HU.
    body, bone : numpy.ndarray of bool, optional
        Masks from :func:`body_mask` and :func:`bone_mask` (computed when omitted).
    params : SegmentationParameters, optional

    Returns
    -------
    numpy.ndarray of bool, shape ct.shape

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU or a mask is not on its grid.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.data import get_path
    >>> ct = rtplan.io.read_ct(get_path("thigh_sarcoma"))
    >>> muscle = rtplan.tissue.muscle_mask(ct)
    >>> round(float(muscle.sum() * ct.grid.voxel_volume_mm3 / 1000.0))
    1272
    """
    p = SegmentationParameters() if params is None else params
    check_hu(ct, "muscle_mask()")
    hu = np.asarray(ct.array)
    body_box = _boxed(body, ct, "muscle_mask(): body")
    if body_box is None:
        body_box = _body_box(ct, p)
    bone_box = _boxed(bone, ct, "muscle_mask(): bone")
    if bone_box is None:
        bone_box = _bone_box(hu, body_box, ct.grid, p)
    return _muscle_box(hu, body_box, bone_box, ct.grid, p).full()


def _between_along_slices(
    mask: npt.NDArray[np.bool_], gap_mm: float, slice_mm: float
) -> npt.NDArray[np.bool_]:
    """Voxels with a mask voxel both before and after them within ``gap_mm`` along axis 0."""
    n = int(np.floor(gap_mm / slice_mm + 1e-9))
    if n < 1:
        return np.zeros_like(mask)
    c = np.concatenate([np.zeros((1, *mask.shape[1:]), np.int32), np.cumsum(mask, 0, np.int32)])
    nk = mask.shape[0]
    k = np.arange(nk)
    up_hi = np.minimum(k + 1 + n, nk)  # voxels k+1 .. k+n
    down_lo = np.maximum(k - n, 0)  # voxels k-n .. k-1
    above = (c[up_hi] - c[k + 1]) > 0
    below = (c[k] - c[down_lo]) > 0
    return np.asarray(above & below & ~mask, dtype=bool)


def _masked_mean(
    hu: npt.NDArray[Any], mask: BoxMask, sigma_mm: float, grid: Grid
) -> npt.NDArray[np.float32]:
    """Gaussian-weighted mean of HU over the mask's voxels only (normalised convolution).

    Returned on the mask's box, NaN outside the mask.
    """
    from scipy import ndimage

    m = mask.array
    if sigma_mm <= 0:
        return np.where(m, hu[mask.slices], np.nan).astype(np.float32)
    sigma = [sigma_mm / s for s in grid.spacing_mm]
    # The filtered values at the mask's voxels depend on the voxels within the kernel
    # radius only, and both filtered volumes are zero outside the mask: filtering the
    # mask's box grown by the radius (clipped to the grid, where the reflection at the
    # grid's edges is the same) gives the same float32 values there as the whole volume.
    radius = np.array([int(3.0 * s + 0.5) for s in sigma], dtype=np.intp)
    lo = np.maximum(np.asarray(mask.lo) - radius, 0)
    hi = np.minimum(np.asarray(mask.hi) + radius, np.asarray(mask.full_shape))
    region = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    shape = tuple(int(n) for n in hi - lo)
    w_mask = mask.on(tuple(int(a) for a in lo), shape)
    w = w_mask.astype(np.float32)
    num = ndimage.gaussian_filter(
        np.where(w_mask, hu[region], 0).astype(np.float32), sigma, truncate=3.0
    )
    den = ndimage.gaussian_filter(w, sigma, truncate=3.0)
    inner = tuple(
        slice(int(a - b), int(a - b) + n) for a, b, n in zip(mask.lo, lo, m.shape, strict=True)
    )
    num = num[inner]
    den = den[inner]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(m & (den > 1e-6), num / np.maximum(den, 1e-6), np.nan)
    return np.asarray(out, dtype=np.float32)


def auto_structures(
    ct: Image, params: SegmentationParameters | None = None
) -> dict[str, Structure]:
    """Segment the body outline, bone and muscle from a CT.

    * **Body**: voxels above ``body_threshold_hu``; thin attachments (couch top, shells)
      are cut by an opening of radius ``couch_removal_mm`` before the largest connected
      component is kept; holes are filled slice by slice and in 3D (lungs, bowel gas).
    * **Bone**: cancellous and cortical HU inside the body, small components dropped,
      small cortical gaps closed, then the holes of each slice inside the cortical shell
      are filled when they hold marrow: always when small, else when their median HU is
      outside the ``canal_hu`` window, so fatty marrow (adipose HU) and red marrow
      (bone HU) become bone while the spinal canal (cord and CSF) stays out.
    * **Muscle**: soft-tissue HU inside the body, minus bone and fat, minus tissue
      enclosed by bone in a slice (spinal canal) or lying between bones along the slice
      axis (discs, joint spaces); the HU averaged over neighbouring soft-tissue voxels
      must lie in the muscle attenuation window ``muscle_hu`` (which leaves out
      unenhanced kidney, bowel and fluid; blood cannot be told from muscle by HU, so
      large vessels stay in); cleaned by an opening of ``muscle_opening_mm`` and removal
      of small components.

    Each is a :class:`~rtplan.Structure` built with :meth:`~rtplan.Structure.from_mask`
    (exact mask plus contours, writable to RT-Struct).

    Parameters
    ----------
    ct : Image
        CT in HU.
    params : SegmentationParameters, optional
        Thresholds and radii; defaults documented in :class:`SegmentationParameters`.

    Returns
    -------
    dict of str to Structure
        Keys ``"Body"`` (type EXTERNAL), ``"Bone"`` and ``"Muscle"`` (type ORGAN).

    Raises
    ------
    CalibrationError
        If ``ct`` is not in HU.

    Examples
    --------
    >>> import rtplan
    >>> from rtplan.data import get_path
    >>> ct = rtplan.io.read_ct(get_path("thigh_sarcoma"))
    >>> auto = rtplan.tissue.auto_structures(ct)
    >>> {name: round(s.volume_cc) for name, s in auto.items()}
    {'Body': 2108, 'Bone': 74, 'Muscle': 1272}
    >>> auto["Body"].interpreted_type
    'EXTERNAL'
    """
    p = SegmentationParameters() if params is None else params
    check_hu(ct, "auto_structures()")
    hu = np.asarray(ct.array)
    body = _body_box(ct, p)
    bone = _bone_box(hu, body, ct.grid, p)
    muscle = _muscle_box(hu, body, bone, ct.grid, p)
    out: dict[str, Structure] = {}
    for name, box in (("Body", body), ("Bone", bone), ("Muscle", muscle)):
        m = box.full()
        color, kind = AUTO_STYLE[name]
        out[name] = Structure.from_mask(
            m,
            ct.grid,
            name=name,
            color=color,
            interpreted_type=kind,
            description="rtplan.tissue.auto_structures",
        )
        logger.info("auto %s: %.1f cm3", name, out[name].volume_cc)
    return out
