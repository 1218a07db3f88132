"""Elementwise arithmetic as differentiable operations: what the DLArray operators call.

Each operation below is a :class:`~srelu_lib.DifferentiableFunction` subclass
with its forward and backward side by side - the library follows the lesson of
the book.  The operators of :class:`~srelu_lib.DLArray` (``+ - * / ** -x``)
call the functions at the end of this module.

**Backward rules are written with these same functions.**  Each function
accepts NumPy arrays as well as DLArrays: on NumPy arrays it simply computes
with NumPy and returns a NumPy array; on a DLArray it records the operation.
So one ``backward`` serves both kinds of reverse sweep - on NumPy arrays in an
ordinary sweep, on traced DLArrays when the sweep is recorded for higher
derivatives (see :mod:`srelu_lib.autodiff`).  Every class here sets
``differentiable_backward = True``.

Formats in binary operations follow MATLAB: two formatted operands are aligned
by label (``"CB"`` meets ``"SSCB"`` as a ``(1, 1, C, B)`` array), a formatted and
an unformatted operand broadcast as NumPy does and keep the formatted one's
labels.  Every check happens before anything is recorded, so a failing call
leaves the tape as it was.
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from ..arrays import LABELS, DLArray
from ..function import DifferentiableFunction

__all__ = [
    "unbroadcast",
    "add",
    "subtract",
    "multiply",
    "divide",
    "negative",
    "power",
    "where",
    "cast",
    "Add",
    "Subtract",
    "Multiply",
    "Divide",
    "Negative",
    "Power",
    "Where",
    "Cast",
]


def unbroadcast(grad: Any, shape: tuple[int, ...], dtype: np.dtype | None = None) -> Any:
    """Sum ``grad`` over the dimensions that broadcasting added or stretched, back to ``shape``.

    This is the single rule every broadcasting operation uses in its backward:
    if ``x`` of ``shape`` was broadcast to ``grad.shape`` in the forward pass,
    ``dL/dx`` is ``grad`` summed over the leading extra dimensions and over the
    dimensions where ``shape`` has a 1.  The result is cast to ``dtype`` if given.
    ``grad`` may be a NumPy array or a (traced) DLArray; the result is of the
    same kind.
    """
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"unbroadcast: gradient shape {grad.shape} has fewer dimensions than {shape}")
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = grad.reshape(shape)
    if dtype is not None and grad.dtype != dtype:
        grad = cast(grad, dtype)
    return grad


def _meta(*arrays: np.ndarray) -> tuple:
    return tuple((a.shape, a.dtype) for a in arrays)


# --- binary operations ---------------------------------------------------------
class Add(DifferentiableFunction):
    """``Y = A + B`` with NumPy broadcasting.

    (Like every built-in, it keeps the shapes and dtypes its backward needs on
    the instance - one instance per call - rather than as memory values.)
    """

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1)

    def forward(self, A, B):
        self.meta = _meta(A, B)
        return A + B

    def backward(self, dLdY, compute_gradients):
        return tuple(
            unbroadcast(dLdY, s, d) if c else None for c, (s, d) in zip(compute_gradients, self.meta, strict=True)
        )


class Subtract(DifferentiableFunction):
    """``Y = A - B`` with NumPy broadcasting."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1)

    def forward(self, A, B):
        self.meta = _meta(A, B)
        return A - B

    def backward(self, dLdY, compute_gradients):
        (sa, da), (sb, db) = self.meta
        dLdA = unbroadcast(dLdY, sa, da) if compute_gradients[0] else None
        dLdB = unbroadcast(-dLdY, sb, db) if compute_gradients[1] else None
        return dLdA, dLdB


class Multiply(DifferentiableFunction):
    """``Y = A * B`` (elementwise) with NumPy broadcasting."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, A, B):
        return A * B

    def backward(self, dLdY, compute_gradients, A, B):
        dLdA = dLdB = None
        if compute_gradients[0]:
            dLdA = unbroadcast(dLdY * B, A.shape, A.dtype)
        if compute_gradients[1]:
            dLdB = unbroadcast(dLdY * A, B.shape, B.dtype)
        return dLdA, dLdB


class Divide(DifferentiableFunction):
    """``Y = A / B`` (elementwise) with NumPy broadcasting."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, A, B):
        return A / B

    def backward(self, dLdY, compute_gradients, A, B):
        dLdA = unbroadcast(dLdY / B, A.shape, A.dtype) if compute_gradients[0] else None
        dLdB = unbroadcast(-dLdY * A / (B * B), B.shape, B.dtype) if compute_gradients[1] else None
        return dLdA, dLdB


class Where(DifferentiableFunction):
    """``Y = where(condition, A, B)``: ``A`` where the (constant, boolean) condition holds, else ``B``."""

    differentiable_backward = True

    def __init__(self, condition: np.ndarray) -> None:
        super().__init__(1)
        self.condition = condition

    def forward(self, A, B):
        self.meta = _meta(A, B)
        return np.where(self.condition, A, B)

    def backward(self, dLdY, compute_gradients):
        (sa, da), (sb, db) = self.meta
        dLdA = unbroadcast(where(self.condition, dLdY, 0), sa, da) if compute_gradients[0] else None
        dLdB = unbroadcast(where(self.condition, 0, dLdY), sb, db) if compute_gradients[1] else None
        return dLdA, dLdB


# --- unary operations -----------------------------------------------------------
class Negative(DifferentiableFunction):
    """``Y = -X``."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1)

    def forward(self, X):
        return -X

    def backward(self, dLdY, compute_gradients):
        return -dLdY


class Power(DifferentiableFunction):
    """``Y = X ** p`` for a fixed real scalar exponent ``p``.

    ``dY/dX = p * X ** (p - 1)``, and exactly 0 for ``p == 0`` (also at
    ``X == 0``, where the formula would give ``0 * inf``).
    """

    differentiable_backward = True

    def __init__(self, exponent: float) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        if isinstance(exponent, (DLArray, bool)) or np.ndim(exponent) != 0 or not np.isreal(exponent):
            raise TypeError(f"Power: exponent must be a real scalar number; got {type(exponent).__name__}")
        self.exponent = float(exponent)

    def forward(self, X):
        return X ** X.dtype.type(self.exponent)

    def backward(self, dLdY, compute_gradients, X):
        if self.exponent == 0.0:
            return np.zeros(X.shape, X.dtype)  # X ** 0 is constant: no 0 * inf at X == 0
        if self.exponent == 1.0:
            return dLdY
        p = X.dtype.type(self.exponent)
        return dLdY * p * X ** (p - 1)


class Cast(DifferentiableFunction):
    """``Y = X.astype(dtype)`` between float32 and float64; the gradient is cast back."""

    differentiable_backward = True

    def __init__(self, dtype: Any) -> None:
        super().__init__(1)
        self.dtype = _float_dtype(dtype)

    def forward(self, X):
        self.input_dtype = X.dtype
        return X.astype(self.dtype)

    def backward(self, dLdY, compute_gradients):
        return cast(dLdY, self.input_dtype)


def _float_dtype(dtype: Any) -> np.dtype:
    resolved = np.dtype(dtype)
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64 (DLArray data is floating point); got {resolved}")
    return resolved


# --- the functions users (and backward rules) call -----------------------------------
def _label(Y: DLArray, fmt: str) -> DLArray:
    """Give an operation's (canonically laid out) output its labels (a valid, canonical format); the trace is shared."""
    if not fmt:
        return Y
    if Y._data.ndim != len(fmt):
        raise ValueError(f"result has {Y.ndim} dimension(s) but its format {fmt!r} has {len(fmt)} labels")
    return DLArray._make(Y._data, fmt, Y._trace)


def _aligned_format(fa: str, fb: str) -> str:
    return "".join(label * max(fa.count(label), fb.count(label)) for label in LABELS)


def _expanded_shape(X: DLArray, fmt: str) -> tuple[int, ...]:
    """X's shape with singleton dimensions inserted so that it lines up with ``fmt`` label by label."""
    shape, used = [], {label: 0 for label in LABELS}
    dims_of = {label: [n for n, lab in zip(X.shape, X._fmt, strict=True) if lab == label] for label in LABELS}
    for label in fmt:
        k = used[label]
        shape.append(dims_of[label][k] if k < len(dims_of[label]) else 1)
        used[label] += 1
    return tuple(shape)


def _operand(x: Any, like: DLArray) -> Any:
    if isinstance(x, (DLArray, np.ndarray)):
        return x
    # Python numbers take the DLArray's dtype (NumPy's "weak scalar" rule).
    if isinstance(x, Number):  # bool too: NumPy treats Python bools as weak scalars
        return np.asarray(x, dtype=like.dtype)
    if isinstance(x, np.generic):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    raise TypeError(f"unsupported operand type for DLArray arithmetic: {type(x).__name__}")


def _broadcast_result(sa: tuple, sb: tuple, fa: str, fb: str) -> tuple[int, ...]:
    if sa == sb or not sb:
        return sa
    if not sa:
        return sb
    try:
        return np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(
            f"operands of shapes {sa} and {sb}"
            + (f" (formats {fa!r} and {fb!r}, aligned by label)" if fa and fb else "")
            + " do not broadcast together"
        ) from None


def _binary(op: DifferentiableFunction, a: Any, b: Any) -> DLArray:
    dl = a if isinstance(a, DLArray) else b
    a, b = _operand(a, dl), _operand(b, dl)
    fa = a._fmt if isinstance(a, DLArray) else ""
    fb = b._fmt if isinstance(b, DLArray) else ""
    sa, sb = a.shape, b.shape  # DLArray, ndarray or NumPy scalar
    if fa and fb and fa != fb:
        fmt = _aligned_format(fa, fb)
        sa, sb = _expanded_shape(a, fmt), _expanded_shape(b, fmt)
        _broadcast_result(sa, sb, fa, fb)  # check everything before recording a reshape
        a = a.reshape(sa) if a.shape != sa else a  # DLArray.reshape: differentiable
        b = b.reshape(sb) if b.shape != sb else b
    else:
        fmt = fa or fb
        out = _broadcast_result(sa, sb, fa, fb)
        if fmt and len(out) != len(fmt):
            raise ValueError(
                f"an operand of shape {sb if fa else sa} broadcasts the {fmt!r}-formatted operand of shape "
                f"{sa if fa else sb} to {len(out)} dimensions, more than its {len(fmt)} labels; label both "
                f"operands (dlarray(data, fmt)) or reshape the unformatted one"
            )
    return _label(op(a, b), fmt)


def add(a: Any, b: Any) -> Any:
    """``a + b`` (differentiable, broadcasting, label-aligned; plain NumPy for plain inputs)."""
    if isinstance(a, DLArray) or isinstance(b, DLArray):
        return _binary(Add(), a, b)
    return np.add(a, b)


def subtract(a: Any, b: Any) -> Any:
    """``a - b`` (differentiable, broadcasting, label-aligned; plain NumPy for plain inputs)."""
    if isinstance(a, DLArray) or isinstance(b, DLArray):
        return _binary(Subtract(), a, b)
    return np.subtract(a, b)


def multiply(a: Any, b: Any) -> Any:
    """``a * b`` elementwise (differentiable, broadcasting, label-aligned; plain NumPy for plain inputs)."""
    if isinstance(a, DLArray) or isinstance(b, DLArray):
        return _binary(Multiply(), a, b)
    return np.multiply(a, b)


def divide(a: Any, b: Any) -> Any:
    """``a / b`` elementwise (differentiable, broadcasting, label-aligned; plain NumPy for plain inputs)."""
    if isinstance(a, DLArray) or isinstance(b, DLArray):
        return _binary(Divide(), a, b)
    return np.divide(a, b)


def where(condition: Any, a: Any, b: Any) -> Any:
    """``a`` where ``condition`` holds, else ``b`` (differentiable in ``a`` and ``b``).

    The condition is a constant: a boolean NumPy array (a comparison of
    DLArrays gives one) that broadcasts against the stored data of ``a`` and
    ``b``.  Use it in backward rules to select by region without ``0 * inf``:
    ``where(X > 0, dLdY, 0)``.  Plain inputs give ``numpy.where``.
    """
    condition = np.asarray(condition._data if isinstance(condition, DLArray) else condition)
    if condition.dtype != bool:
        raise TypeError(f"where: condition must be boolean (e.g. X > 0); got dtype {condition.dtype}")
    if isinstance(a, DLArray) or isinstance(b, DLArray):
        return _binary(Where(condition), a, b)
    return np.where(condition, a, b)


def negative(X: Any) -> Any:
    """``-X``."""
    if isinstance(X, DLArray):
        return _label(Negative()(X), X._fmt)
    return np.negative(X)


def power(X: Any, exponent: float) -> Any:
    """``X ** exponent`` for a real scalar exponent."""
    if isinstance(X, DLArray):
        return _label(Power(exponent)(X), X._fmt)
    return np.power(X, exponent)


def cast(X: Any, dtype: Any) -> Any:
    """``X`` converted to float32 or float64 (differentiable: the gradient is converted back)."""
    if isinstance(X, DLArray):
        if X.dtype == np.dtype(dtype):
            return X
        return _label(Cast(dtype)(X), X._fmt)
    return np.asarray(X).astype(dtype, copy=False)
