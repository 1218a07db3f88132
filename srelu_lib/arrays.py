"""Formatted arrays: the Python counterpart of MATLAB's ``dlarray``.

A :class:`DLArray` is a NumPy array plus an optional *format*: one label per
dimension, ``S`` (spatial), ``C`` (channel), ``B`` (batch), ``T`` (time) or
``U`` (unspecified); ``C``, ``B`` and ``T`` appear at most once (the rules are
in :mod:`srelu_lib.labels`).  As in MATLAB, a formatted array is always stored in the *canonical order*
``S…, C, B, T, U…``: :func:`dlarray` permutes the data to match, so
``dims(dlarray(np.zeros((3, 4)), "TS"))`` is ``"ST"`` and the stored array has
shape ``(4, 3)``.

**Immutable data.**  As in MATLAB, a DLArray's values never change: its data
is read-only (``extractdata(X)[0] = 1`` raises ``ValueError: assignment
destination is read-only``).  :func:`dlarray` does not copy a float32/float64
array: it stores a read-only *view* of it, so the array you passed stays
writeable, and when a traced operation keeps such data for its backward pass
the tape keeps a private copy (see :mod:`srelu_lib.tape`).  To modify values,
copy them: ``np.array(X)``.

The arithmetic operators of a DLArray call the differentiable operations of
:mod:`srelu_lib.ops` (looked up when called, so this module does not import
them), and tracing for automatic differentiation is done by
:mod:`srelu_lib.tape`; a DLArray merely carries an opaque ``_trace`` slot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .labels import LABELS, canonical_permutation, check_format, stored_format_problem
from .tape import current_tape, freeze, recorded_backward, recording_tapes, seen

__all__ = [
    "DLArray",
    "LABELS",
    "dlarray",
    "dims",
    "finddim",
    "stripdims",
    "extractdata",
    "canonical_permutation",
    "as_float_array",
]

def as_float_array(data: Any, name: str = "data") -> np.ndarray:
    """Return ``data`` as a float32 or float64 NumPy array.

    float32 and float64 are kept as they are (no copy for an ndarray);
    ``bool`` and integer data become float64 (MATLAB's ``double``); float16
    becomes float32.  Complex, object, string and datetime data raise
    :class:`TypeError`.
    """
    if isinstance(data, DLArray):
        return data._data
    array = np.asarray(data)
    kind = array.dtype.kind
    if array.dtype in (np.float32, np.float64):
        return array
    if kind == "f":  # float16, longdouble
        return array.astype(np.float32 if array.dtype.itemsize < 4 else np.float64)
    if kind in "biu":
        return array.astype(np.float64)
    raise TypeError(f"{name} must be real numeric (float32, float64, integer or bool); got dtype {array.dtype}")


class DLArray:
    """A NumPy array with optional dimension labels, traceable for differentiation.

    Create one with :func:`dlarray`.  The stored data is float32 or float64, in
    canonical label order, and read-only.  ``np.asarray(X)`` and
    :func:`extractdata` return the stored array.  Arithmetic (``+ - * /``,
    unary ``-``, ``**`` with a scalar exponent, ``abs(X)``, ``@``),
    ``sum``/``mean``/``reshape``/``astype``/``T`` and indexing take part in automatic
    differentiation inside :func:`~srelu_lib.dlfeval`.  Comparisons return
    boolean NumPy arrays: constants, which multiply a DLArray differentiably
    (the gradient of ``(X > 0) * X`` is the mask), but which are not themselves
    differentiated.
    """

    __slots__ = ("_data", "_fmt", "_trace", "__weakref__")
    # Make NumPy defer to DLArray's reflected operators (ndarray + DLArray -> DLArray.__radd__).
    __array_ufunc__ = None

    def __init__(self, data: np.ndarray, fmt: str = "", *, _trace: Any = None) -> None:
        # Low-level constructor: ``data`` must already be a float32/float64
        # ndarray in canonical order with one label per dimension (or fmt "").
        # Use :func:`dlarray` instead.  A writeable ``data`` is stored as a
        # read-only view (``data`` itself stays writeable).
        if not isinstance(data, np.ndarray) or data.dtype.char not in "fd":
            got = f"ndarray of dtype {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
            raise TypeError(f"DLArray data must be a float32 or float64 NumPy array; got {got} (use dlarray())")
        if fmt:
            problem = stored_format_problem(fmt, data.ndim) if isinstance(fmt, str) else "fmt must be a str"
            if problem:
                raise ValueError(f"DLArray: {problem}")
        if data.flags.writeable:
            data = data.view()
            data.flags.writeable = False
        self._data, self._fmt, self._trace = data, fmt, _trace

    @classmethod
    def _make(cls, data: np.ndarray, fmt: str, trace: Any) -> DLArray:
        # Internal fast path: ``data`` is already read-only and fits ``fmt``.
        self = object.__new__(cls)
        self._data, self._fmt, self._trace = data, fmt, trace
        return self

    # -- read-only views of the contents ------------------------------------
    @property
    def fmt(self) -> str:
        """The dimension labels, one per dimension ("" when unformatted)."""
        return self._fmt

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    @property
    def is_traced(self) -> bool:
        """True while a tape of the running ``dlfeval`` (in this thread) records this array."""
        return seen(self._trace, recording_tapes()) is not None

    def __array__(self, dtype=None, copy=None):
        op = recorded_backward.get()
        if op is not None and self.is_traced:  # a NumPy function would drop the trace: never silently
            raise TypeError(f"{op}.backward passed a traced DLArray to a NumPy function in a recorded sweep: "
                            f"the higher derivative would be silently wrong. Use srelu_lib operations, or "
                            f"extractdata(X) where a constant is meant (a mask, a sign).")
        if dtype is not None and dtype != self._data.dtype:
            return self._data.astype(dtype)
        if copy:
            return self._data.copy()
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __float__(self) -> float:
        if self._data.size != 1:
            raise TypeError(f"only a DLArray with exactly one element converts to float; got shape {self.shape}")
        return float(self._data.reshape(()))

    def __repr__(self) -> str:
        traced = ", traced" if self.is_traced else ""
        body = np.array2string(self._data, prefix="DLArray(", separator=", ")
        fmt = f", fmt={self._fmt!r}" if self._fmt else ""
        return f"DLArray({body}{fmt}, dtype={self._data.dtype}{traced})"

    __hash__ = object.__hash__  # identity hashing, as == is elementwise

    # Comparisons return boolean NumPy arrays: constants (a mask times a DLArray is differentiable).
    def __lt__(self, other: Any) -> Any:
        return self._data < _value(other)

    def __le__(self, other: Any) -> Any:
        return self._data <= _value(other)

    def __gt__(self, other: Any) -> Any:
        return self._data > _value(other)

    def __ge__(self, other: Any) -> Any:
        return self._data >= _value(other)

    def __eq__(self, other: Any) -> Any:  # elementwise, as in NumPy
        return self._data == _value(other)

    def __ne__(self, other: Any) -> Any:
        return self._data != _value(other)

    # Arithmetic, reductions and indexing are differentiable operations of
    # srelu_lib.ops, looked up when called (those modules import this one).
    def __add__(self, other: Any) -> DLArray:
        return _ops().add(self, other)

    def __radd__(self, other: Any) -> DLArray:
        return _ops().add(other, self)

    def __sub__(self, other: Any) -> DLArray:
        return _ops().subtract(self, other)

    def __rsub__(self, other: Any) -> DLArray:
        return _ops().subtract(other, self)

    def __mul__(self, other: Any) -> DLArray:
        return _ops().multiply(self, other)

    def __rmul__(self, other: Any) -> DLArray:
        return _ops().multiply(other, self)

    def __truediv__(self, other: Any) -> DLArray:
        return _ops().divide(self, other)

    def __rtruediv__(self, other: Any) -> DLArray:
        return _ops().divide(other, self)

    def __matmul__(self, other: Any) -> DLArray:
        return _ops().matmul(self, other)

    def __rmatmul__(self, other: Any) -> DLArray:
        return _ops().matmul(other, self)

    def __neg__(self) -> DLArray:
        return _ops().negative(self)

    def __pos__(self) -> DLArray:
        return self

    def __abs__(self) -> DLArray:
        return _ops().abs(self)

    def __pow__(self, exponent: float) -> DLArray:
        return _ops().power(self, exponent)

    def __getitem__(self, index: Any) -> DLArray:
        return _ops().getitem(self, index)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> DLArray:
        """Sum over ``axis`` (all axes by default), differentiably; see :func:`srelu_lib.ops.sum`."""
        return _ops().sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> DLArray:
        """Mean over ``axis`` (all axes by default), differentiably; see :func:`srelu_lib.ops.mean`."""
        return _ops().mean(self, axis, keepdims)

    def reshape(self, *shape: Any) -> DLArray:
        """``X.reshape(2, 3)`` or ``X.reshape((2, 3))``, differentiably; see :func:`srelu_lib.ops.reshape`."""
        return _ops().reshape(self, shape[0] if len(shape) == 1 and np.ndim(shape[0]) else shape)

    @property
    def T(self) -> DLArray:
        """The array with its axes reversed (a matrix transposed), differentiably; unformatted."""
        return _ops().permute(self, tuple(range(self.ndim - 1, -1, -1)))

    def astype(self, dtype: Any, copy: bool = True) -> DLArray:
        """The values in float32 or float64, differentiably; see :func:`srelu_lib.ops.cast`.

        ``copy`` is accepted for NumPy compatibility; DLArrays are immutable,
        so the same array is returned when the dtype already matches.
        """
        return _ops().cast(self, dtype)


def _value(x: Any) -> Any:
    """The NumPy value of a comparison operand (a DLArray's data: comparisons give constants)."""
    return x._data if isinstance(x, DLArray) else np.asarray(x)


_OPS: Any = None


def _ops() -> Any:
    """The package :mod:`srelu_lib.ops` (imported on first use: it imports this module)."""
    global _OPS
    if _OPS is None:
        from . import ops

        _OPS = ops
    return _OPS


def dlarray(data: Any, fmt: str = "") -> DLArray:
    """Create a (formatted) deep-learning array, like MATLAB's ``dlarray(X, fmt)``.

    Args:
        data: array-like of real numbers, or a :class:`DLArray`.  float32 and
            float64 are kept; bool and integers become float64; float16 becomes
            float32; anything else raises :class:`TypeError`.
        fmt: one label per dimension of ``data`` (``"S"``, ``"C"``, ``"B"``,
            ``"T"``, ``"U"``), or ``""`` for an unformatted array.  If ``fmt``
            is longer than ``data.ndim`` the missing trailing dimensions are
            singletons (as MATLAB drops trailing singletons).

    Returns:
        A DLArray whose data is permuted into canonical order S…, C, B, T, U…
        and whose ``fmt`` is the correspondingly sorted format.  Its data is
        read-only; when no conversion or permutation was needed it is a view
        of ``data`` (no copy), and ``data`` itself stays writeable.

    Applied to an *unformatted, traced* DLArray (inside ``dlfeval``), the
    result is traced too, so gradients flow through the relabelling; this is
    what an interface function does with its operation's output.  Relabelling
    an already formatted array raises :class:`ValueError` (strip it first with
    :func:`stripdims`), except with the same format, which returns it unchanged.

    Example:
        >>> import numpy as np
        >>> X = dlarray(np.zeros((3, 4)), "TS")
        >>> dims(X), X.shape
        ('ST', (4, 3))
    """
    if isinstance(data, DLArray):
        if data._fmt:
            if fmt and fmt != data._fmt:
                raise ValueError(
                    f"data is already formatted as {data._fmt!r}; call stripdims(data) "
                    f"before labelling it {fmt!r}"
                )
            return data
        if not fmt:
            return data
        check_format(fmt, data.ndim)
        if data.is_traced:
            # Relabelling a traced array is a differentiable operation (a
            # permutation); it lives with the other operations.
            return _ops().relabel(data, fmt)
        values, canonical = _canonical(data._data, fmt)
        return DLArray(values, canonical)  # relabelling an untraced array gives an untraced array
    values = as_float_array(data)
    if values is not data and values.base is None:
        freeze(values)  # a conversion made here (from a list, ints, float16, ...): nobody else holds it
    check_format(fmt, values.ndim)
    if not fmt:
        return _new_array(values, "")
    values, canonical = _canonical(values, fmt)
    return _new_array(values, canonical)


def _canonical(values: np.ndarray, fmt: str) -> tuple[np.ndarray, str]:
    """``values`` (laid out as ``fmt`` says) padded with trailing singletons and permuted into canonical order."""
    if values.ndim < len(fmt):
        values = values.reshape(values.shape + (1,) * (len(fmt) - values.ndim))
    perm, canonical = canonical_permutation(fmt)
    if perm != tuple(range(len(perm))):
        permuted = np.ascontiguousarray(np.transpose(values, perm))
        if permuted.base is None:  # a fresh copy
            freeze(permuted)
        values = permuted
    return values, canonical


def _new_array(values: np.ndarray, fmt: str) -> DLArray:
    # Arrays created while a tape records are traced (as in MATLAB's dlfeval).
    tape = current_tape()
    return DLArray(values, fmt, _trace=None if tape is None else tape.new_trace())


def _require_dlarray(X: Any, name: str = "X") -> DLArray:
    if not isinstance(X, DLArray):
        raise TypeError(f"{name} must be a DLArray (see dlarray()); got {type(X).__name__}")
    return X


def dims(X: DLArray) -> str:
    """Return the format of ``X``: one label per dimension, ``""`` if unformatted."""
    return _require_dlarray(X)._fmt


def finddim(X: DLArray, label: str) -> tuple[int, ...]:
    """Return the 0-based positions of the dimensions of ``X`` labelled ``label``.

    A valid label that ``X`` does not carry gives ``()``; a string that is not
    one of ``S C B T U`` raises :class:`ValueError`.

    Example:
        >>> import numpy as np
        >>> X = dlarray(np.zeros((2, 2, 3, 5)), "SSCB")
        >>> finddim(X, "S"), finddim(X, "C"), finddim(X, "T")
        ((0, 1), (2,), ())
    """
    X = _require_dlarray(X)
    if not isinstance(label, str) or len(label) != 1 or label not in LABELS:
        raise ValueError(f"label must be one of 'S', 'C', 'B', 'T', 'U'; got {label!r}")
    return tuple(i for i, lab in enumerate(X._fmt) if lab == label)


def stripdims(X: DLArray) -> DLArray:
    """Remove the format of ``X``: same data (no copy), no labels, still traced."""
    X = _require_dlarray(X)
    return DLArray._make(X._data, "", X._trace)


def extractdata(X: Any) -> np.ndarray:
    """Return the NumPy array stored in ``X`` (in canonical order; not a copy, read-only).

    Plain arrays and numbers are returned as NumPy arrays, so code can call
    ``extractdata`` on whatever it holds.  The array of a DLArray is
    read-only, as DLArrays are immutable: copy it (``np.array(X)``) to change
    values.
    """
    if isinstance(X, DLArray):
        return X._data
    return np.asarray(X)
