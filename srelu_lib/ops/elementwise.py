"""Array arithmetic as differentiable operations: what the DLArray operators call.

Each operation below is a :class:`~srelu_lib.DifferentiableFunction` subclass
with its forward and backward side by side - the library follows the lesson of
the book.  The operators of :class:`~srelu_lib.DLArray` (``+ - * / ** -x``,
``sum``, ``mean``, indexing) call the functions at the end of this module.

Formats in binary operations follow MATLAB: two formatted operands are aligned
by label (``"CB"`` meets ``"SSCB"`` as a ``(1, 1, C, B)`` array), a formatted and
an unformatted operand broadcast as NumPy does and keep the formatted one's
labels.
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from ..arrays import LABELS, DLArray, canonical_permutation
from ..function import DifferentiableFunction

__all__ = [
    "unbroadcast",
    "add",
    "subtract",
    "multiply",
    "divide",
    "negative",
    "power",
    "sum",
    "mean",
    "reshape",
    "permute",
    "relabel",
    "Add",
    "Subtract",
    "Multiply",
    "Divide",
    "Negative",
    "Power",
    "Sum",
    "Mean",
    "Reshape",
    "Permute",
    "GetItem",
]


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...], dtype: np.dtype | None = None) -> np.ndarray:
    """Sum ``grad`` over the dimensions that broadcasting added or stretched, back to ``shape``.

    This is the single rule every broadcasting operation uses in its backward:
    if ``x`` of ``shape`` was broadcast to ``grad.shape`` in the forward pass,
    ``dL/dx`` is ``grad`` summed over the leading extra dimensions and over the
    dimensions where ``shape`` has a 1.  The result is cast to ``dtype`` if given.
    """
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"unbroadcast: gradient shape {grad.shape} has fewer dimensions than {shape}")
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    grad = grad.reshape(shape)
    if dtype is not None and grad.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


def _meta(*arrays: np.ndarray) -> tuple:
    return tuple((a.shape, a.dtype) for a in arrays)


# --- binary operations ---------------------------------------------------------
class Add(DifferentiableFunction):
    """``Y = A + B`` with NumPy broadcasting."""

    def __init__(self) -> None:
        super().__init__(1, num_memory_values=1)

    def forward(self, A, B):
        return A + B, _meta(A, B)

    def backward(self, dLdY, compute_gradients, meta):
        return tuple(unbroadcast(dLdY, s, d) if c else None for c, (s, d) in zip(compute_gradients, meta, strict=True))


class Subtract(DifferentiableFunction):
    """``Y = A - B`` with NumPy broadcasting."""

    def __init__(self) -> None:
        super().__init__(1, num_memory_values=1)

    def forward(self, A, B):
        return A - B, _meta(A, B)

    def backward(self, dLdY, compute_gradients, meta):
        (sa, da), (sb, db) = meta
        dLdA = unbroadcast(dLdY, sa, da) if compute_gradients[0] else None
        dLdB = unbroadcast(-dLdY, sb, db) if compute_gradients[1] else None
        return dLdA, dLdB


class Multiply(DifferentiableFunction):
    """``Y = A * B`` (elementwise) with NumPy broadcasting."""

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, A, B):
        return A * B

    def backward(self, dLdY, compute_gradients, A, B):
        dLdA = unbroadcast(dLdY * B, A.shape, A.dtype) if compute_gradients[0] else None
        dLdB = unbroadcast(dLdY * A, B.shape, B.dtype) if compute_gradients[1] else None
        return dLdA, dLdB


class Divide(DifferentiableFunction):
    """``Y = A / B`` (elementwise) with NumPy broadcasting."""

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, A, B):
        return A / B

    def backward(self, dLdY, compute_gradients, A, B):
        dLdA = unbroadcast(dLdY / B, A.shape, A.dtype) if compute_gradients[0] else None
        dLdB = unbroadcast(-dLdY * A / (B * B), B.shape, B.dtype) if compute_gradients[1] else None
        return dLdA, dLdB


# --- unary operations -----------------------------------------------------------
class Negative(DifferentiableFunction):
    """``Y = -X``."""

    def __init__(self) -> None:
        super().__init__(1)

    def forward(self, X):
        return -X

    def backward(self, dLdY, compute_gradients):
        return -dLdY


class Power(DifferentiableFunction):
    """``Y = X ** p`` for a fixed real scalar exponent ``p``."""

    def __init__(self, exponent: float) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        if isinstance(exponent, DLArray) or np.ndim(exponent) != 0:
            raise TypeError(f"Power: exponent must be a real scalar number; got {type(exponent).__name__}")
        self.exponent = float(exponent)

    def forward(self, X):
        return X ** X.dtype.type(self.exponent)

    def backward(self, dLdY, compute_gradients, X):
        p = X.dtype.type(self.exponent)
        return dLdY * p * X ** (p - 1)


class Sum(DifferentiableFunction):
    """Sum over ``axis`` (``None``: all), like ``numpy.sum``."""

    def __init__(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> None:
        super().__init__(1, num_memory_values=1)
        self.axis, self.keepdims = axis, keepdims

    def forward(self, X):
        return X.sum(axis=self.axis, keepdims=self.keepdims), X.shape

    def backward(self, dLdY, compute_gradients, shape):
        return np.broadcast_to(_restore_axes(dLdY, shape, self.axis, self.keepdims), shape).copy()


class Mean(DifferentiableFunction):
    """Mean over ``axis`` (``None``: all), like ``numpy.mean``."""

    def __init__(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> None:
        super().__init__(1, num_memory_values=1)
        self.axis, self.keepdims = axis, keepdims

    def forward(self, X):
        return X.mean(axis=self.axis, keepdims=self.keepdims), X.shape

    def backward(self, dLdY, compute_gradients, shape):
        count = int(np.prod(shape)) // max(int(np.prod(np.shape(dLdY))), 1)
        g = _restore_axes(dLdY, shape, self.axis, self.keepdims) / dLdY.dtype.type(count)
        return np.broadcast_to(g, shape).copy()


def _restore_axes(g: np.ndarray, shape: tuple[int, ...], axis, keepdims: bool) -> np.ndarray:
    if keepdims or axis is None:
        return g.reshape([1] * len(shape)) if axis is None else g
    axes = sorted(a % len(shape) for a in ((axis,) if np.ndim(axis) == 0 else axis))
    return np.expand_dims(g, tuple(axes))


# --- shape operations -----------------------------------------------------------
class Reshape(DifferentiableFunction):
    """``Y = X.reshape(shape)``."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(1, num_memory_values=1)
        self.shape = tuple(shape)

    def forward(self, X):
        return X.reshape(self.shape), X.shape

    def backward(self, dLdY, compute_gradients, shape):
        return dLdY.reshape(shape)


class Permute(DifferentiableFunction):
    """``Y = numpy.transpose(X, perm)``; the backward applies the inverse permutation."""

    def __init__(self, perm: tuple[int, ...]) -> None:
        super().__init__(1)
        self.perm = tuple(perm)

    def forward(self, X):
        return np.ascontiguousarray(np.transpose(X, self.perm))

    def backward(self, dLdY, compute_gradients):
        return np.ascontiguousarray(np.transpose(dLdY, np.argsort(self.perm)))


class GetItem(DifferentiableFunction):
    """``Y = X[index]`` (basic or advanced NumPy indexing); the backward scatters ``dL/dY`` back."""

    def __init__(self, index: Any) -> None:
        super().__init__(1, num_memory_values=1)
        self.index = index

    def forward(self, X):
        return np.array(X[self.index]), _meta(X)[0]

    def backward(self, dLdY, compute_gradients, meta):
        shape, dtype = meta
        dLdX = np.zeros(shape, dtype)
        np.add.at(dLdX, self.index, dLdY)
        return dLdX


# --- the functions users call -----------------------------------------------------
def _label(Y: DLArray, fmt: str) -> DLArray:
    """Give an operation's (canonically laid out) output its labels; the trace is shared."""
    if fmt and Y.ndim != len(fmt):
        raise ValueError(f"result has {Y.ndim} dimension(s) but its format {fmt!r} has {len(fmt)} labels")
    return DLArray(Y._data, fmt, _trace=Y._trace) if fmt else Y


def _aligned_format(fa: str, fb: str) -> str:
    return "".join(label * max(fa.count(label), fb.count(label)) for label in LABELS)


def _expand_to(X: DLArray, fmt: str) -> DLArray:
    """Insert singleton dimensions so X (canonical, formatted) lines up with ``fmt`` label by label."""
    if X._fmt == fmt:
        return X
    shape, used = [], {label: 0 for label in LABELS}
    dims_of = {label: [n for n, lab in zip(X.shape, X._fmt, strict=True) if lab == label] for label in LABELS}
    for label in fmt:
        k = used[label]
        shape.append(dims_of[label][k] if k < len(dims_of[label]) else 1)
        used[label] += 1
    return reshape(X, tuple(shape))


def _operand(x: Any, like: DLArray) -> Any:
    # Python numbers take the DLArray's dtype (NumPy's "weak scalar" rule).
    if isinstance(x, Number):  # bool too: NumPy treats Python bools as weak scalars
        return np.asarray(x, dtype=like.dtype)
    if isinstance(x, (DLArray, np.ndarray, np.generic, bool)):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    raise TypeError(f"unsupported operand type for DLArray arithmetic: {type(x).__name__}")


def _binary(op: DifferentiableFunction, a: Any, b: Any) -> DLArray:
    dl = a if isinstance(a, DLArray) else b
    a, b = _operand(a, dl), _operand(b, dl)
    fa = a._fmt if isinstance(a, DLArray) else ""
    fb = b._fmt if isinstance(b, DLArray) else ""
    if fa and fb and fa != fb:
        fmt = _aligned_format(fa, fb)
        a, b = _expand_to(a, fmt), _expand_to(b, fmt)
    else:
        fmt = fa or fb
    return _label(op(a, b), fmt)


def add(a: Any, b: Any) -> DLArray:
    """``a + b`` (differentiable, broadcasting, label-aligned)."""
    return _binary(Add(), a, b)


def subtract(a: Any, b: Any) -> DLArray:
    """``a - b`` (differentiable, broadcasting, label-aligned)."""
    return _binary(Subtract(), a, b)


def multiply(a: Any, b: Any) -> DLArray:
    """``a * b`` elementwise (differentiable, broadcasting, label-aligned)."""
    return _binary(Multiply(), a, b)


def divide(a: Any, b: Any) -> DLArray:
    """``a / b`` elementwise (differentiable, broadcasting, label-aligned)."""
    return _binary(Divide(), a, b)


def negative(X: DLArray) -> DLArray:
    """``-X``."""
    return _label(Negative()(X), X._fmt)


def power(X: DLArray, exponent: float) -> DLArray:
    """``X ** exponent`` for a real scalar exponent."""
    return _label(Power(exponent)(X), X._fmt)


def _normalize_axis(axis: Any, ndim: int) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ValueError(f"axis must be None or integer(s) in [{-ndim}, {ndim}); got {axis!r}")
        out.append(int(a) % ndim)
    return tuple(sorted(set(out)))


def _reduce(op_cls, X: DLArray, axis, keepdims: bool) -> DLArray:
    if not isinstance(X, DLArray):
        raise TypeError(f"X must be a DLArray; got {type(X).__name__}")
    axes = _normalize_axis(axis, X.ndim)
    Y = op_cls(axes, keepdims)(X)
    if keepdims:
        fmt = X._fmt
    elif axes is None:
        fmt = ""
    else:
        fmt = "".join(lab for i, lab in enumerate(X._fmt) if i not in axes)
    return _label(Y, fmt)


def sum(X: DLArray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> DLArray:  # noqa: A001
    """Sum of ``X`` over ``axis`` (all axes by default); reduced labels are dropped unless ``keepdims``."""
    return _reduce(Sum, X, axis, keepdims)


def mean(X: DLArray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> DLArray:
    """Mean of ``X`` over ``axis`` (all axes by default); reduced labels are dropped unless ``keepdims``."""
    return _reduce(Mean, X, axis, keepdims)


def reshape(X: DLArray, shape: tuple[int, ...]) -> DLArray:
    """``X`` reshaped (differentiable).  The result keeps the format only if its length still fits."""
    Y = Reshape(shape)(X)
    return _label(Y, X._fmt if len(X._fmt) == Y.ndim else "")


def permute(X: DLArray, perm: tuple[int, ...]) -> DLArray:
    """``numpy.transpose(X, perm)`` (differentiable); the result is unformatted."""
    return Permute(perm)(X)


def relabel(X: DLArray, fmt: str) -> DLArray:
    """Label an unformatted array whose dimensions are laid out as ``fmt`` says.

    The data is permuted into canonical order, differentiably.  This is what
    :func:`~srelu_lib.dlarray` does for a traced unformatted array.
    """
    if len(fmt) > X.ndim:
        X = reshape(X, X.shape + (1,) * (len(fmt) - X.ndim))
    perm, canonical = canonical_permutation(fmt)
    if perm != tuple(range(len(perm))):
        X = permute(X, perm)
    return _label(X, canonical)


def getitem(X: DLArray, index: Any) -> DLArray:
    """``X[index]`` (differentiable; a DLArray index is used as its data)."""
    if isinstance(index, DLArray):
        index = index._data
    return GetItem(index)(X)
