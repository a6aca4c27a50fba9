"""The modulation of a fluence: a penalty that keeps the monitor units of a plan down.

A step-and-shoot beam delivers each leaf pair's row of its fluence map with as many MU as
the row rises from left to right (the unidirectional sweep,
:mod:`rtplan.planning._sequencing`): for a row that starts and ends closed, that is half its
total variation, ``TV = sum_j |f_j - f_{j-1}|`` (with ``f = 0`` beyond its ends), and the
beam's MU are the largest of its rows'. A map with less variation along the leaves needs
fewer MU and fewer segments for the same dose.

:class:`Modulation` is ``weight * sum h(L x) / sum h(L x_ref)``, with ``L`` the sparse
difference operator along the leaves of every row of every beam (:func:`leaf_differences`),
``h(t) = sqrt(t^2 + eps^2) - eps`` a smooth absolute value (so that L-BFGS-B sees a
gradient everywhere) and ``x_ref`` a reference fluence (the uniform start): the modulation
index of the fluence (1 for open fields of uniform intensity), weighted. It is convex.
With ``L`` a row of ones it is the total MU of a set of segments (the refinement's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rtplan.errors import PlanError

if TYPE_CHECKING:
    import scipy.sparse

    from rtplan.planning._influence import BeamBixels

__all__ = ["Modulation", "leaf_differences"]

FloatArray = npt.NDArray[np.float64]


def leaf_differences(bixels: Sequence[BeamBixels]) -> scipy.sparse.csr_matrix:
    """The differences of neighbouring bixel weights along the leaves, every row of every beam.

    Each row (a leaf pair of a beam) gives its first weight, the differences of adjacent
    columns and minus its last weight (a gap in the row's columns closes and reopens it),
    so that the sum of absolute values is the row's total variation from closed to closed.

    Parameters
    ----------
    bixels : sequence of BeamBixels
        The beams' bixels, in the order of the variables (as in an influence matrix).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_differences, n_bixels)

    Examples
    --------
    >>> import numpy as np
    >>> import rtplan
    >>> from rtplan.planning import BeamBixels
    >>> from rtplan.planning._modulation import leaf_differences
    >>> bix = BeamBixels(beam=rtplan.Beam(mlc=rtplan.Mlc.uniform(4, 5.0)),
    ...                  rows=np.array([1, 1, 1]), cols=np.array([0, 1, 2]), size_mm=5.0)
    >>> (leaf_differences([bix]) @ np.array([1.0, 3.0, 2.0])).tolist()  # TV = 1 + 2 + 1 + 2
    [1.0, 2.0, -1.0, -2.0]
    """
    import scipy.sparse

    rows_i: list[int] = []
    cols_i: list[int] = []
    vals: list[float] = []
    n_diff = 0
    start = 0
    for bix in bixels:
        order = np.lexsort((bix.cols, bix.rows))
        r = bix.rows[order]
        c = bix.cols[order]
        var = start + order
        for k in range(order.size):
            opens = k == 0 or r[k] != r[k - 1] or c[k] != c[k - 1] + 1
            if opens:
                rows_i.append(n_diff)
                cols_i.append(int(var[k]))
                vals.append(1.0)
            else:
                rows_i += [n_diff, n_diff]
                cols_i += [int(var[k]), int(var[k - 1])]
                vals += [1.0, -1.0]
            n_diff += 1
            closes = k == order.size - 1 or r[k + 1] != r[k] or c[k + 1] != c[k] + 1
            if closes:
                rows_i.append(n_diff)
                cols_i.append(int(var[k]))
                vals.append(-1.0)
                n_diff += 1
        start += bix.n
    return scipy.sparse.csr_matrix(
        (np.asarray(vals), (np.asarray(rows_i), np.asarray(cols_i))), shape=(n_diff, start)
    )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Modulation:
    """A weighted modulation index of the variables (see the module notes).

    Parameters
    ----------
    operator : scipy.sparse matrix or numpy.ndarray, shape (m, n_variables)
        ``L``: differences along the leaves (:func:`leaf_differences`), or a row of ones
        (total MU).
    reference : numpy.ndarray, shape (n_variables,)
        ``x_ref``: the fluence whose index is 1.
    weight : float
        Weight, >= 0.

    Raises
    ------
    PlanError
        If the weight is negative or the reference has no variation.

    Examples
    --------
    >>> import numpy as np
    >>> from rtplan.planning._modulation import Modulation
    >>> m = Modulation(operator=np.ones((1, 3)), reference=np.ones(3), weight=0.5)
    >>> value, grad = m.value_and_gradient(np.array([2.0, 2.0, 2.0]))  # twice the MU
    >>> round(value, 3), np.round(grad, 3).tolist()  # h is |t| within eps = 1e-3 x_ref
    (1.0, [0.167, 0.167, 0.167])
    """

    operator: Any
    reference: FloatArray
    weight: float
    _total: float = field(init=False, default=0.0, repr=False)
    _eps: float = field(init=False, default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.weight) and self.weight >= 0):
            raise PlanError(f"modulation weight must be >= 0, got {self.weight}")
        ref = np.asarray(self.operator @ np.asarray(self.reference, dtype=np.float64))
        typical = float(np.max(np.abs(self.reference))) if self.reference.size else 0.0
        eps = 1e-3 * typical
        total = float(np.sum(np.sqrt(ref * ref + eps * eps) - eps))
        if not total > 0:
            raise PlanError("the reference fluence of the modulation penalty has no variation")
        object.__setattr__(self, "_eps", eps)
        object.__setattr__(self, "_total", total)

    def index(self, x: npt.ArrayLike) -> float:
        """The modulation index of ``x`` (the unweighted penalty; 1 at the reference)."""
        t = np.asarray(self.operator @ np.asarray(x, dtype=np.float64))
        h = np.sqrt(t * t + self._eps * self._eps) - self._eps
        return float(np.sum(h)) / self._total

    def value_and_gradient(self, x: npt.ArrayLike) -> tuple[float, FloatArray]:
        """The weighted penalty and its gradient with respect to the variables."""
        xs = np.asarray(x, dtype=np.float64)
        if self.weight == 0:
            return 0.0, np.zeros_like(xs)
        t = np.asarray(self.operator @ xs)
        root = np.sqrt(t * t + self._eps * self._eps)
        scale = self.weight / self._total
        value = scale * float(np.sum(root - self._eps))
        grad = np.asarray(self.operator.T @ (t / root)) * scale
        return value, np.asarray(grad, dtype=np.float64)
