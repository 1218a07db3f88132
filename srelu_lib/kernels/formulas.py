r"""SReLU's region formulas, written once: the value of each piece and its exact partial derivatives.

With the masks ``in_left = x <= tl`` and ``in_right = x >= tr``, an element lies in one of four regions:

===============  ========================  ============================================
region           y                         nonzero local derivatives
===============  ========================  ============================================
only left        :func:`left`              dY/dX = al, :func:`left_dtl`, :func:`left_dal`
only right       :func:`right`             dY/dX = ar, :func:`right_dtr`, :func:`right_dar`
neither          ``x``                     dY/dX = 1
both             :func:`both`              dY/dX = :func:`both_dx`, and those of both pieces
===============  ========================  ============================================

("both" happens only when ``tr <= x <= tl``: each hinge is counted once.)

These are plain Python functions of their arguments and nothing else, so one definition serves every
implementation:

- :mod:`~srelu_lib.kernels.reference` calls them on NumPy arrays and picks the regions with ``np.where``;
- :mod:`~srelu_lib.kernels.numba_fused` compiles them with ``numba.njit(inline="always")`` (as minitorch
  compiles its scalar operators) and picks the regions with selects inside its fused loops;
- :mod:`srelu_lib.symbolic` calls them on SymPy symbols to build the ``Piecewise`` the book differentiates,
  and the tests check that SymPy's derivatives of :func:`left` and :func:`right` are the derivative
  functions below;
- :mod:`~srelu_lib.kernels.literal` (the reference page's three-mask formula) uses the same pieces.

The derivative constants ``1 - a`` and ``a + a' - 1`` contain the Python number 1: on NumPy data it takes
the data's dtype, but compiled by numba for float32 data it would widen the result to float64, so the
fused kernels evaluate those per channel with NumPy before their loops.

Example:
    >>> left(-2.0, -1.0, 0.5), right(2.0, 1.0, 2.0), both(0.0, left(0.0, 1.0, 0.5), right(0.0, -1.0, 2.0))
    (-1.5, 3.0, 1.5)
"""

from __future__ import annotations

from typing import Any

__all__ = ["left", "right", "both", "left_dtl", "left_dal", "right_dtr", "right_dar", "both_dx"]


def left(x: Any, tl: Any, al: Any) -> Any:
    """``y`` on the left piece (``x <= tl``): the line through ``(tl, tl)`` with slope ``al``."""
    return tl + al * (x - tl)


def right(x: Any, tr: Any, ar: Any) -> Any:
    """``y`` on the right piece (``x >= tr``): the line through ``(tr, tr)`` with slope ``ar``."""
    return tr + ar * (x - tr)


def both(x: Any, y_left: Any, y_right: Any) -> Any:
    """``y`` where both pieces apply (``tr <= x <= tl``): identity plus both hinges, ``y_left + y_right - x``."""
    return y_left + y_right - x


def left_dtl(al: Any) -> Any:
    """``d left / d tl``."""
    return 1 - al


def left_dal(x: Any, tl: Any) -> Any:
    """``d left / d al``."""
    return x - tl


def right_dtr(ar: Any) -> Any:
    """``d right / d tr``."""
    return 1 - ar


def right_dar(x: Any, tr: Any) -> Any:
    """``d right / d ar``."""
    return x - tr


def both_dx(al: Any, ar: Any) -> Any:
    """``d both / d x`` (``al + ar - 1``: each hinge adds its slope minus the identity's 1)."""
    return al + ar - 1
