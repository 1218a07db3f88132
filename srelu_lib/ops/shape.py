"""Reductions, reshapes and indexing as differentiable operations.

``sum``/``mean`` (and their adjoint ``broadcast_to``), ``reshape``,
``permute``, ``relabel`` and indexing (``getitem``, with its adjoint
``scatter_add``).  As in :mod:`srelu_lib.ops.elementwise`, every function
accepts NumPy arrays too (and then returns NumPy arrays), and every backward is
written with these functions, so the operations differentiate to any order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import DLArray, canonical_permutation
from ..function import DifferentiableFunction
from .elementwise import _label, unbroadcast

__all__ = [
    "sum",
    "mean",
    "broadcast_to",
    "reshape",
    "permute",
    "relabel",
    "getitem",
    "scatter_add",
    "Sum",
    "Mean",
    "BroadcastTo",
    "Reshape",
    "Permute",
    "GetItem",
    "ScatterAdd",
]


def _kept_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced axes set to 1 (the shape of a ``keepdims=True`` reduction)."""
    if axis is None:
        return (1,) * len(shape)
    axes = {int(a) % len(shape) for a in ((axis,) if np.ndim(axis) == 0 else axis)}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(DifferentiableFunction):
    """Sum over ``axis`` (``None``: all), like ``numpy.sum``; the backward broadcasts ``dL/dY`` back."""

    differentiable_backward = True

    def __init__(self, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> None:
        super().__init__(1, num_memory_values=1)
        self.axis, self.keepdims = axis, keepdims

    def forward(self, X):
        return X.sum(axis=self.axis, keepdims=self.keepdims), X.shape

    def backward(self, dLdY, compute_gradients, shape):
        return broadcast_to(dLdY.reshape(_kept_shape(shape, self.axis)), shape)


class Mean(DifferentiableFunction):
    """Mean over ``axis`` (``None``: all), like ``numpy.mean``."""

    differentiable_backward = True

    def __init__(self, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> None:
        super().__init__(1, num_memory_values=1)
        self.axis, self.keepdims = axis, keepdims

    def forward(self, X):
        return X.mean(axis=self.axis, keepdims=self.keepdims), X.shape

    def backward(self, dLdY, compute_gradients, shape):
        count = int(np.prod(shape)) // max(int(np.prod(dLdY.shape)), 1)
        g = dLdY.reshape(_kept_shape(shape, self.axis)) / dLdY.dtype.type(count)
        return broadcast_to(g, shape)


class BroadcastTo(DifferentiableFunction):
    """``Y = numpy.broadcast_to(X, shape)`` (a copy).

    The backward sums back with :func:`~srelu_lib.ops.elementwise.unbroadcast`.
    """

    differentiable_backward = True

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(1)
        self.shape = tuple(shape)

    def forward(self, X):
        self.meta = (X.shape, X.dtype)
        return np.array(np.broadcast_to(X, self.shape))

    def backward(self, dLdY, compute_gradients):
        return unbroadcast(dLdY, *self.meta)


class Reshape(DifferentiableFunction):
    """``Y = X.reshape(shape)``."""

    differentiable_backward = True

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(1)
        self.shape = tuple(shape)

    def forward(self, X):
        self.input_shape = X.shape
        return X.reshape(self.shape)

    def backward(self, dLdY, compute_gradients):
        return dLdY.reshape(self.input_shape)


class Permute(DifferentiableFunction):
    """``Y = numpy.transpose(X, perm)``; the backward applies the inverse permutation."""

    differentiable_backward = True

    def __init__(self, perm: tuple[int, ...]) -> None:
        super().__init__(1)
        self.perm = tuple(int(p) for p in perm)

    def forward(self, X):
        return np.ascontiguousarray(np.transpose(X, self.perm))

    def backward(self, dLdY, compute_gradients):
        return permute(dLdY, tuple(int(p) for p in np.argsort(self.perm)))


class GetItem(DifferentiableFunction):
    """``Y = X[index]`` (basic or advanced NumPy indexing); the backward scatters ``dL/dY`` back."""

    differentiable_backward = True

    def __init__(self, index: Any) -> None:
        super().__init__(1)
        self.index = index

    def forward(self, X):
        self.meta = (X.shape, X.dtype)
        return np.array(X[self.index])

    def backward(self, dLdY, compute_gradients):
        return scatter_add(dLdY, self.index, *self.meta)


class ScatterAdd(DifferentiableFunction):
    """``Y = zeros(shape); Y[index] += G`` (repeated indices add up): the adjoint of indexing."""

    differentiable_backward = True

    def __init__(self, index: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
        super().__init__(1)
        self.index, self.shape, self.dtype = index, tuple(shape), np.dtype(dtype)

    def forward(self, G):
        Y = np.zeros(self.shape, self.dtype)
        np.add.at(Y, self.index, G)
        return Y

    def backward(self, dLdY, compute_gradients):
        return getitem(dLdY, self.index)


# --- the functions ------------------------------------------------------------------------
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


def _reduce(op_cls: Any, X: DLArray, axis: Any, keepdims: bool) -> DLArray:
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


def broadcast_to(X: Any, shape: tuple[int, ...]) -> Any:
    """``X`` broadcast to ``shape`` (differentiable; unformatted).  A NumPy input gives a read-only NumPy view."""
    if isinstance(X, DLArray):
        return X if X.shape == tuple(shape) else BroadcastTo(shape)(X)
    return np.broadcast_to(X, shape)


def reshape(X: Any, shape: tuple[int, ...]) -> Any:
    """``X`` reshaped (differentiable).  The result keeps the format only if its length still fits."""
    if not isinstance(X, DLArray):
        return np.reshape(X, shape)
    Y = Reshape(shape)(X)
    return _label(Y, X._fmt if len(X._fmt) == Y.ndim else "")


def permute(X: Any, perm: tuple[int, ...]) -> Any:
    """``numpy.transpose(X, perm)`` (differentiable); the result is unformatted.

    For a NumPy input the result is NumPy's (non-contiguous) transposed view.
    """
    if not isinstance(X, DLArray):
        return np.transpose(X, perm)
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


def _index_of(index: Any, X: DLArray) -> Any:
    """A DLArray used as (part of) an index, as NumPy understands it.

    DLArray data is floating point, so ``dlarray(mask)`` stores a boolean mask
    as 0.0/1.0.  A DLArray index of zeros and ones with the shape of ``X`` (or
    of its leading dimensions) is therefore read as a boolean mask; any other
    DLArray index must hold integers, which index as integer arrays.
    """
    if isinstance(index, tuple):
        return tuple(_index_of(i, X) for i in index)
    if not isinstance(index, DLArray):
        return index
    values = index._data
    if values.shape == X.shape[: values.ndim] and np.all((values == 0) | (values == 1)):
        return values.astype(bool)
    if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        raise IndexError(
            "a DLArray index must hold integers, or zeros and ones with the shape of the indexed array "
            "(a boolean mask); got other values"
        )
    return values.astype(np.intp)


def getitem(X: Any, index: Any) -> Any:
    """``X[index]`` (differentiable).  A DLArray index is a mask or integer indices (see ``_index_of``)."""
    if not isinstance(X, DLArray):
        return np.array(np.asarray(X)[index])
    return GetItem(_index_of(index, X))(X)


def scatter_add(G: Any, index: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """Zeros of ``shape`` and ``dtype`` with ``G`` added at ``index`` (differentiable in ``G``)."""
    if isinstance(G, DLArray):
        return ScatterAdd(index, shape, dtype)(G)
    Y = np.zeros(shape, dtype)
    np.add.at(Y, index, G)
    return Y
