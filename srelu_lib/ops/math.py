"""Elementwise mathematical functions with MATLAB's names: ``exp``, ``log``, ``sqrt``, ``tanh``, ``sigmoid``, ``abs``.

Each is a :class:`~srelu_lib.DifferentiableFunction` whose backward is written
with srelu_lib operations, so it differentiates to any order.  As in MATLAB,
the functions take a DLArray (and keep its format) or plain numbers and NumPy
arrays (and return a NumPy array), which is what lets backward rules call them
on either.

======================  ===========================  ======================
function                derivative used              saved for backward
======================  ===========================  ======================
``exp(x)``              ``exp(x) = y``               the output
``log(x)``              ``1 / x``                    the input
``sqrt(x)``             ``1 / (2 y)``                the output
``tanh(x)``             ``1 - y**2``                 the output
``sigmoid(x)``          ``y (1 - y)``                the output
``abs(x)``              ``sign(x)`` (0 at x = 0)     the input
======================  ===========================  ======================

NaN propagates to the value and the gradient.  Outside a function's domain
the values are NumPy's (``log`` of a negative number is NaN, of 0 is
``-inf``; ``sqrt`` of a negative number is NaN), silently, as in MATLAB where
they would be complex.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import DLArray, as_float_array, extractdata
from ..function import DifferentiableFunction
from .elementwise import _label

__all__ = ["exp", "log", "sqrt", "tanh", "sigmoid", "abs", "Exp", "Log", "Sqrt", "Tanh", "Sigmoid", "Abs"]


class Exp(DifferentiableFunction):
    """``Y = exp(X)``; ``dY/dX = Y``."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_outputs_for_backward=True)

    def forward(self, X):
        return np.exp(X)

    def backward(self, dLdY, compute_gradients, Y):
        return dLdY * Y


class Log(DifferentiableFunction):
    """``Y = log(X)`` (natural logarithm); ``dY/dX = 1 / X``."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, X):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(X)

    def backward(self, dLdY, compute_gradients, X):
        return dLdY / X


class Sqrt(DifferentiableFunction):
    """``Y = sqrt(X)``; ``dY/dX = 1 / (2 Y)`` (``inf`` at 0)."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_outputs_for_backward=True)

    def forward(self, X):
        with np.errstate(invalid="ignore"):
            return np.sqrt(X)

    def backward(self, dLdY, compute_gradients, Y):
        return dLdY / (Y * 2)


class Tanh(DifferentiableFunction):
    """``Y = tanh(X)``; ``dY/dX = 1 - Y**2``."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_outputs_for_backward=True)

    def forward(self, X):
        return np.tanh(X)

    def backward(self, dLdY, compute_gradients, Y):
        return dLdY * (1 - Y * Y)


class Sigmoid(DifferentiableFunction):
    """``Y = 1 / (1 + exp(-X))``, computed without overflow; ``dY/dX = Y (1 - Y)``."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_outputs_for_backward=True)

    def forward(self, X):
        e = np.exp(-np.abs(X))  # in (0, 1]: never overflows
        with np.errstate(invalid="ignore"):
            return np.where(X >= 0, 1 / (1 + e), e / (1 + e)).astype(X.dtype, copy=False)

    def backward(self, dLdY, compute_gradients, Y):
        return dLdY * (Y * (1 - Y))


class Abs(DifferentiableFunction):
    """``Y = |X|``; ``dY/dX = sign(X)``, taken as 0 at ``X == 0``."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, X):
        return np.abs(X)

    def backward(self, dLdY, compute_gradients, X):
        return dLdY * np.sign(extractdata(X))  # sign is piecewise constant: its derivative is 0


def _unary(op_cls: Any, X: Any, name: str) -> Any:
    if isinstance(X, DLArray):
        return _label(op_cls()(X), X._fmt)
    if isinstance(X, (np.ndarray, np.generic, int, float, bool, list, tuple)):
        return op_cls().forward(as_float_array(X, name=f"{name}: X"))
    raise TypeError(f"{name}: X must be a DLArray, a NumPy array or a real number; got {type(X).__name__}")


def exp(X: Any) -> Any:
    """Exponential, elementwise: ``e ** x``.

    Args:
        X: DLArray (formatted or not), NumPy array or number.

    Returns:
        A DLArray with ``X``'s format for a DLArray (differentiable to any
        order), otherwise a NumPy array (float64 for integer input).

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, exp
        >>> exp(dlarray(np.array([0.0, 1.0]), "C"))
        DLArray([1.        , 2.71828183], fmt='C', dtype=float64)
    """
    return _unary(Exp, X, "exp")


def log(X: Any) -> Any:
    """Natural logarithm, elementwise (``-inf`` at 0, NaN below 0).  Same conventions as :func:`exp`."""
    return _unary(Log, X, "log")


def sqrt(X: Any) -> Any:
    """Square root, elementwise (NaN below 0; its derivative is ``inf`` at 0).  Same conventions as :func:`exp`."""
    return _unary(Sqrt, X, "sqrt")


def tanh(X: Any) -> Any:
    """Hyperbolic tangent, elementwise.  Same conventions as :func:`exp`."""
    return _unary(Tanh, X, "tanh")


def sigmoid(X: Any) -> Any:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, elementwise, as MATLAB's ``sigmoid``.

    Computed as ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` otherwise, with
    ``e = exp(-|x|)``, so no ``exp`` overflows and tiny values keep their
    relative accuracy.  Same conventions as :func:`exp`.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import sigmoid
        >>> sigmoid(np.array([-800.0, 0.0, 800.0]))
        array([0. , 0.5, 1. ])
    """
    return _unary(Sigmoid, X, "sigmoid")


def abs(X: Any) -> Any:  # noqa: A001  (MATLAB's name; the builtin abs(X) calls it for a DLArray)
    """Absolute value, elementwise; ``abs(X)`` on a DLArray calls it too.

    Caveat: the derivative at ``x == 0`` is taken as 0 (the mean of the two
    one-sided slopes).  Same conventions as :func:`exp`.
    """
    return _unary(Abs, X, "abs")
