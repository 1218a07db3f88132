"""SReLU and its derivatives in SymPy: the formulas the book derives, and numbers to test against.

This module needs SymPy and is never imported by ``import srelu_lib``; import
it when you want it (``import srelu_lib.symbolic`` or
``from srelu_lib.symbolic import derivatives``).

- :func:`symbols` - the real symbols ``x, tl, al, tr, ar``.
- :func:`srelu_piecewise` - the textbook three-region SReLU (valid for ``tl < tr``), built from
  the library's own region formulas (:mod:`srelu_lib.kernels.formulas`) called on symbols.
- :func:`srelu_hinge` - the library's definition for every ``tl, tr``:
  identity plus two hinges.
- :func:`derivatives` - the five partial derivatives of the Piecewise.
- :func:`numeric` - those formulas as elementwise NumPy functions.

Which side the kinks land on: SymPy differentiates a ``Piecewise`` branch by
branch and keeps each branch's condition, so the derivative at ``x == tl`` is
the *left* piece's (condition ``x <= tl``) and at ``x == tr`` the *right*
piece's (``x < tr`` is false there).  These are the same one-sided choices as
the masks ``in_left = x <= tl`` and ``in_right = x >= tr`` of :mod:`srelu_lib.srelu_function`.

Caveat: the lambdified functions follow the Piecewise literally: a NaN ``x``
fails every condition and lands in the last ("otherwise") branch, so the
derivative with respect to ``x`` at NaN is ``ar`` rather than NaN.  The library
returns NaN there; compare the two on finite data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import sympy

from .kernels import formulas

__all__ = ["SReLUSymbols", "SReLUNumeric", "symbols", "srelu_piecewise", "srelu_hinge", "derivatives", "numeric"]


class SReLUSymbols(NamedTuple):
    """The real symbols of SReLU: input ``x`` and parameters ``tl, al, tr, ar``."""

    x: sympy.Symbol
    tl: sympy.Symbol
    al: sympy.Symbol
    tr: sympy.Symbol
    ar: sympy.Symbol


class SReLUNumeric(NamedTuple):
    """Elementwise NumPy functions ``f(x, tl, al, tr, ar)`` made from the SymPy formulas.

    Arguments broadcast as NumPy arrays do; the result has the broadcast shape.
    """

    value: Callable[..., np.ndarray]
    dx: Callable[..., np.ndarray]
    dtl: Callable[..., np.ndarray]
    dal: Callable[..., np.ndarray]
    dtr: Callable[..., np.ndarray]
    dar: Callable[..., np.ndarray]


def symbols() -> SReLUSymbols:
    """Return the real symbols ``(x, tl, al, tr, ar)`` (rendered as x, t_l, a_l, t_r, a_r).

    Example:
        >>> s = symbols()
        >>> s.tl, s.tl.is_real
        (t_l, True)
    """
    x, tl, al, tr, ar = sympy.symbols("x t_l a_l t_r a_r", real=True)
    return SReLUSymbols(x, tl, al, tr, ar)


def srelu_piecewise():
    """The textbook SReLU as a SymPy ``Piecewise`` (valid when ``tl < tr``).

    The regions are ``x <= tl`` (left piece), ``x < tr`` (identity) and
    otherwise (right piece), so ``x == tl`` is in the left piece and
    ``x == tr`` in the right one.

    Returns:
        ``Piecewise((tl + al*(x - tl), x <= tl), (x, x < tr), (tr + ar*(x - tr), True))``.

    Example:
        >>> s = symbols()
        >>> srelu_piecewise().subs({s.x: -2, s.tl: -1, s.al: sympy.Rational(1, 2), s.tr: 1, s.ar: 2})
        -3/2
    """
    x, tl, al, tr, ar = symbols()
    # The pieces are the library's own (srelu_lib.kernels.formulas), called on symbols.
    # evaluate=False keeps the conditions as written (x <= t_l, not t_l >= x) for display.
    return sympy.Piecewise(
        (formulas.left(x, tl, al), x <= tl),
        (x, x < tr),
        (formulas.right(x, tr, ar), True),
        evaluate=False,
    )


def srelu_hinge():
    """The library's SReLU, identity plus two hinges, valid for every ``tl, tr``.

    Returns:
        ``x + (al - 1)*Min(x - tl, 0) + (ar - 1)*Max(x - tr, 0)``.  For
        ``tl < tr`` it equals :func:`srelu_piecewise`; for ``tl > tr`` it is
        still continuous (each hinge is counted once).

    Example:
        >>> s = symbols()
        >>> srelu_hinge().subs({s.x: 0, s.tl: 1, s.al: 2, s.tr: -1, s.ar: 3})   # tl > tr
        1
    """
    x, tl, al, tr, ar = symbols()
    return x + (al - 1) * sympy.Min(x - tl, 0) + (ar - 1) * sympy.Max(x - tr, 0)


def derivatives() -> dict:
    """The partial derivatives of :func:`srelu_piecewise`, one ``Piecewise`` per variable.

    ``sympy.diff`` of a Piecewise differentiates each branch and keeps its
    condition; that is done here branch by branch, and then tidied so the
    result renders cleanly: each branch is expanded, and neighbouring branches
    with equal values are merged into the *later* condition (the regions are
    nested, ``x <= tl`` inside ``x < tr``, when ``tl < tr``).  At ``x == tl``
    the left branch applies and at ``x == tr`` the right branch (see the
    module docstring).  The tests check these equal ``sympy.diff`` of
    :func:`srelu_piecewise`.

    Returns:
        A dict with keys ``"x", "tl", "al", "tr", "ar"``.

    Example:
        >>> d = derivatives()
        >>> d["x"]
        Piecewise((a_l, x <= t_l), (1, x < t_r), (a_r, True))
        >>> d["tr"]
        Piecewise((0, x < t_r), (1 - a_r, True))
    """
    s = symbols()
    y = srelu_piecewise()
    result = {}
    for name, var in zip(("x", "tl", "al", "tr", "ar"), tuple(s), strict=True):
        pieces: list = []
        for expr, cond in y.args:
            value = sympy.expand(sympy.diff(expr, var))
            if pieces and pieces[-1][0] == value:
                pieces[-1] = (value, cond)  # same value as the inner region: one branch
            else:
                pieces.append((value, cond))
        result[name] = sympy.Piecewise(*pieces, evaluate=False)
    return result


def _elementwise(expr, args: tuple) -> Callable[..., np.ndarray]:
    f = sympy.lambdify(args, expr, modules="numpy")

    def evaluate(*values: np.ndarray) -> np.ndarray:
        values = tuple(np.asarray(v, dtype=np.float64) for v in values)
        shape = np.broadcast_shapes(*(v.shape for v in values))
        with np.errstate(invalid="ignore"):
            out = np.asarray(f(*values), dtype=np.float64)
        return np.array(np.broadcast_to(out, shape))  # a constant branch must still fill the shape

    evaluate.__doc__ = f"Elementwise ``{sympy.sstr(expr)}`` of ``(x, tl, al, tr, ar)``."
    return evaluate


def numeric() -> SReLUNumeric:
    """NumPy functions of ``(x, tl, al, tr, ar)`` for the value and each derivative of the Piecewise.

    Made with ``sympy.lambdify(..., modules="numpy")``.  They work elementwise
    on arrays that broadcast together; for per-channel parameters reshape them
    to broadcast along the channel axis (e.g. ``tl[:, None]`` for ``"CB"`` data).

    Returns:
        :class:`SReLUNumeric` ``(value, dx, dtl, dal, dtr, dar)``; each returns a
        float64 array of the broadcast shape.

    Example:
        >>> import numpy as np
        >>> f = numeric()
        >>> x = np.array([[-2.0, 0.0, 2.0], [-2.0, 0.0, 2.0]])          # (C=2, B=3)
        >>> ar = np.array([2.0, 3.0])[:, None]
        >>> f.value(x, -1.0, 0.5, 1.0, ar)
        array([[-1.5,  0. ,  3. ],
               [-1.5,  0. ,  4. ]])
        >>> f.dx(x, -1.0, 0.5, 1.0, ar)
        array([[0.5, 1. , 2. ],
               [0.5, 1. , 3. ]])
    """
    s = symbols()
    d = derivatives()
    return SReLUNumeric(
        value=_elementwise(srelu_piecewise(), tuple(s)),
        dx=_elementwise(d["x"], tuple(s)),
        dtl=_elementwise(d["tl"], tuple(s)),
        dal=_elementwise(d["al"], tuple(s)),
        dtr=_elementwise(d["tr"], tuple(s)),
        dar=_elementwise(d["ar"], tuple(s)),
    )
