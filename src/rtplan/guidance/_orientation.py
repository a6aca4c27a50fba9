"""Patient orientation on screen: axial screen axes, needle angles, direction letters.

* :func:`axial_screen_axes`: the LPS directions of the right and down of the radiological
  axial view for a Patient Position;
* :func:`direction_letters`: the patient direction letters (L, R, A, P, S, I) of a vector,
  as shown at the edges of an image;
* :func:`needle_angles`, the angles a CT console shows:

* ``out_of_plane_deg``: angle between the needle and the patient's axial plane (the
  gantry tilt needed to see the whole needle in one slice), positive when the tip heads
  superior.
* ``in_plane_deg``: in the axial plane, the angle from the table's vertical (downward,
  towards the table top, from the Patient Position) to the needle's projection, positive
  towards the right of the axial image as :func:`rtplan.render_overlay` shows it
  (radiological convention: viewed from the patient's feet, patient as lying).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rtplan.image import PatientPosition

__all__ = ["axial_screen_axes", "direction_letters", "needle_angles"]

FloatArray = npt.NDArray[np.float64]

_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) per LPS axis


def direction_letters(vector: npt.ArrayLike, *, most: int = 2) -> str:
    """Patient direction letters of an LPS vector, the larger component first.

    Parameters
    ----------
    vector : array_like, shape (3,)
        An LPS direction (need not be unit).
    most : int
        At most this many letters: the main component always, the next ones when they
        reach 0.3 of the vector's length (an oblique edge reads ``"LA"``).

    Returns
    -------
    str
        ``"L"``/``"R"`` (x), ``"P"``/``"A"`` (y), ``"S"``/``"I"`` (z).

    Examples
    --------
    >>> from rtplan.guidance import direction_letters
    >>> direction_letters([1.0, 0.0, 0.0]), direction_letters([0.8, -0.6, 0.0])
    ('L', 'LA')
    >>> direction_letters([0.8, -0.6, 0.0], most=1)
    'L'
    """
    v = np.asarray(vector, dtype=np.float64)
    comps = sorted(range(3), key=lambda a: -abs(float(v[a])))
    out = ""
    for a in comps[:most]:
        if abs(float(v[a])) >= 0.3 or not out:
            out += _LETTERS[a][1 if v[a] > 0 else 0]
    return out


def _vertical_down_lps(position: PatientPosition) -> FloatArray:
    """LPS unit vector pointing down towards the table top (minus IEC fixed Z)."""
    to_iec = position.to_iec_fixed  # columns: L, P, S in IEC fixed
    up = to_iec.T @ np.array([0.0, 0.0, 1.0])
    return np.asarray(-up)


def axial_screen_axes(position: PatientPosition | None) -> tuple[FloatArray, FloatArray]:
    """LPS directions of the image right and image down of the radiological axial view.

    The axial image is viewed from the patient's feet with the patient as lying on the
    table: up on the screen is up in the room (IEC fixed +Z); for head-first positions
    the screen right is IEC fixed +X (an observer at the foot of the couch facing the
    gantry), for feet-first positions -X. For HFS and FFS the patient's left is on the
    image's right and anterior is up; for HFP and FFP the left is on the image's left
    and posterior is up.

    Parameters
    ----------
    position : PatientPosition or None
        None is taken as HFS.

    Returns
    -------
    right, down : numpy.ndarray, shape (3,)
        LPS unit vectors.
    """
    pos = PatientPosition.HFS if position is None else PatientPosition(position)
    to_iec = pos.to_iec_fixed
    x_iec = to_iec.T @ np.array([1.0, 0.0, 0.0])
    right = x_iec if pos.value.startswith("HF") else -x_iec
    down = _vertical_down_lps(pos)
    return np.asarray(right), np.asarray(down)


def needle_angles(
    direction: npt.ArrayLike, position: PatientPosition | None
) -> tuple[FloatArray, FloatArray]:
    """In-plane and out-of-plane angles of needle directions (see the module docstring).

    Parameters
    ----------
    direction : array_like, shape (3,) or (N, 3)
        Unit LPS vectors from entry to tip.
    position : PatientPosition or None
        Patient Position (None = HFS).

    Returns
    -------
    in_plane_deg, out_of_plane_deg : numpy.ndarray, shape (N,)
        Degrees.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.guidance import needle_angles
    >>> ip, oop = needle_angles(np.array([1.0, 0.0, 1.0]) / np.sqrt(2.0), None)
    >>> round(float(ip[0]), 6), round(float(oop[0]), 6)  # to the left, heading superior
    (90.0, 45.0)
    """
    d = np.asarray(direction, dtype=np.float64).reshape(-1, 3)
    oop = np.degrees(np.arcsin(np.clip(d[:, 2], -1.0, 1.0)))
    right, down = axial_screen_axes(position)
    # both screen axes of an axial view lie in the axial plane
    ip = np.degrees(np.arctan2(d @ right, d @ down))
    return np.asarray(ip), np.asarray(oop)
