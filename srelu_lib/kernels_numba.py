"""Fused SReLU forward and backward kernels compiled with numba: one pass over memory.

Importing this module imports numba (``pip install numba`` or
``pip install srelu_lib[fast]``); ``import srelu_lib`` never does.
:mod:`srelu_lib.srelu` imports it on the first call that uses the ``"numba"``
backend (the default when numba is installed, see
:func:`srelu_lib.srelu.set_backend`).

Each kernel reads every input element once and writes every output element
once: the forward reads ``X`` and writes ``Y`` (it runs at the speed of
``np.copyto``); the backward reads ``X`` and ``dLdY``, writes ``dLdX`` and
keeps the four parameter sums per channel in float64 registers (about twice
the time of ``np.add`` over the same arrays: the widening to float64 and the
four sums make it compute bound).  The array is
seen as ``(outer, C, inner)`` (canonical layout: the dimensions before ``C``,
the channels, the dimensions after ``C``); the innermost loop runs over
``inner`` with the channel's parameters fixed, or over the channels when
``inner == 1``.

Semantics are the reference's (:mod:`srelu_lib.srelu`): region-wise values
(never ``0 * inf`` outside the region), NaN ``x`` or a NaN parameter makes
every local derivative NaN, products ``dLdY * local derivative`` in the data's
dtype, sums in float64.  Results agree with the reference to float rounding.

Caveat: the first call for a dtype compiles the kernel (about a second);
``cache=True`` stores the machine code next to this file for later processes.

Example:
    >>> import numpy as np
    >>> from srelu_lib.kernels_numba import srelu_forward_numba
    >>> srelu_forward_numba(np.array([[-2.0, 0.0, 2.0]]), -1.0, 0.5, 1.0, 2.0, 0)
    array([[-1.5,  0. ,  3. ]])
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numba
import numpy as np

__all__ = ["srelu_forward_numba", "srelu_backward_numba"]

# 'reassoc' lets LLVM vectorise the float64 sums; no flag that assumes finite values (NaN and inf are data).
_SUM_FLAGS = {"reassoc"}


@numba.njit(cache=True, inline="always")
def _value(x, tl, al, tr, ar):
    L = x <= tl
    R = x >= tr
    left = tl + al * (x - tl)
    right = tr + ar * (x - tr)
    if L and R:
        return left + right - x
    if R:
        return right
    if L:
        return left
    return x


@numba.njit(cache=True)
def _forward(X, tl, al, tr, ar, bad, Y, nan):  # pragma: no cover  (compiled)
    outer, C, inner = X.shape
    if inner == 1:
        for o in range(outer):
            for c in range(C):
                y = _value(X[o, c, 0], tl[c], al[c], tr[c], ar[c])
                Y[o, c, 0] = nan if bad[c] else y
        return
    for o in range(outer):
        for c in range(C):
            t0, a0, t1, a1 = tl[c], al[c], tr[c], ar[c]
            if bad[c]:
                Y[o, c, :] = nan
                continue
            for i in range(inner):
                Y[o, c, i] = _value(X[o, c, i], t0, a0, t1, a1)


@numba.njit(cache=True, inline="always")
def _locals(x, tl, al, tr, ar, undefined, zero, one, nan):
    """Local derivatives dY/dX, dY/dtl, dY/dal, dY/dtr, dY/dar at one element (in the data's dtype)."""
    if undefined:
        return nan, nan, nan, nan, nan
    L = x <= tl
    R = x >= tr
    if L and R:
        dx = al + ar - one
    elif R:
        dx = ar
    elif L:
        dx = al
    else:
        dx = one
    dtl = one - al if L else zero
    dal = x - tl if L else zero
    dtr = one - ar if R else zero
    dar = x - tr if R else zero
    return dx, dtl, dal, dtr, dar


@numba.njit(cache=True, fastmath=_SUM_FLAGS)
def _backward(dY, X, tl, al, tr, ar, bad, want_dx, dX, acc, zero, one, nan):  # pragma: no cover  (compiled)
    """dLdX into dX (when want_dx) and per-channel sums into the float64 ``acc`` of shape (4, C).

    X is (outer, C, inner).  Each row's products ``dLdY * local derivative`` (in the data's dtype)
    are summed in float64 by a vectorised reduction.
    """
    outer, C, inner = X.shape
    for o in range(outer):
        for c in range(C):
            t0, a0, t1, a1, b = tl[c], al[c], tr[c], ar[c], bad[c]
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            for i in range(inner):
                x = X[o, c, i]
                dy = dY[o, c, i]
                d0, d1, d2, d3, d4 = _locals(x, t0, a0, t1, a1, b or x != x, zero, one, nan)
                if want_dx:
                    dX[o, c, i] = dy * d0
                s0 += dy * d1
                s1 += dy * d2
                s2 += dy * d3
                s3 += dy * d4
            acc[0, c] += s0
            acc[1, c] += s1
            acc[2, c] += s2
            acc[3, c] += s3


def _layout(X: np.ndarray, channel_axis: int | None) -> tuple[int, int, int]:
    if channel_axis is None:
        return 1, 1, X.size
    channel_axis %= X.ndim
    return (math.prod(X.shape[:channel_axis]), X.shape[channel_axis], math.prod(X.shape[channel_axis + 1:]))


def _channel_params(params: Sequence[Any], C: int, dtype: np.dtype) -> tuple[list[np.ndarray], np.ndarray]:
    names = ("tl", "al", "tr", "ar")
    out = []
    for name, p in zip(names, params):
        a = np.asarray(p, dtype=dtype).reshape(-1)
        if a.size not in (1, C):
            raise ValueError(f"{name} must have 1 or C = {C} elements; got {a.size}")
        out.append(np.ascontiguousarray(np.broadcast_to(a, (C,))))
    bad = np.isnan(out[0]) | np.isnan(out[1]) | np.isnan(out[2]) | np.isnan(out[3])
    return out, bad


def srelu_forward_numba(X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int | None, *,
                        out: np.ndarray | None = None) -> np.ndarray:
    """SReLU forward in one fused pass (same contract as the reference ``srelu_forward``).

    Args:
        X: float32 or float64 array (made C-contiguous if it is not).
        tl, al, tr, ar: parameters with 1 or ``X.shape[channel_axis]`` elements (cast to ``X``'s dtype).
        channel_axis: the channel axis (``None`` when all parameters have one element).
        out: optional C-contiguous array of ``X``'s shape and dtype for ``Y``.

    Returns:
        ``Y`` with ``X``'s shape and dtype.
    """
    X = np.ascontiguousarray(X)
    outer, C, inner = _layout(X, channel_axis)
    params, bad = _channel_params((tl, al, tr, ar), C, X.dtype)
    if out is None:
        out = np.empty_like(X)
    elif out.shape != X.shape or out.dtype != X.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous with shape {X.shape} and dtype {X.dtype}")
    if X.size:
        _forward(X.reshape(outer, C, inner), *params, bad, out.reshape(outer, C, inner), X.dtype.type(np.nan))
    return out


def srelu_backward_numba(dLdY: np.ndarray, X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any,
                         channel_axis: int | None, compute_gradients: Sequence[bool], *,
                         out: np.ndarray | None = None) -> tuple[np.ndarray | None, ...]:
    """SReLU backward in one fused pass (same contract as the reference ``srelu_backward``).

    Args:
        dLdY: gradient with respect to ``Y`` (``X``'s shape).
        X, tl, al, tr, ar: the forward inputs.
        channel_axis: the channel axis (``None`` when all parameters have one element).
        compute_gradients: five flags in input order.
        out: optional C-contiguous array for ``dLdX``.

    Returns:
        ``(dLdX, dLdtl, dLdal, dLdtr, dLdar)``, ``None`` where not requested; parameter
        gradients in the parameter's shape and dtype.
    """
    want = tuple(bool(c) for c in compute_gradients)
    if len(want) != 5:
        raise ValueError(f"compute_gradients must have 5 flags (X, tl, al, tr, ar); got {len(want)}")
    X = np.ascontiguousarray(X)
    dLdY = np.ascontiguousarray(dLdY, dtype=X.dtype)
    if dLdY.shape != X.shape:
        raise ValueError(f"dLdY must have X's shape {X.shape}; got {dLdY.shape}")
    outer, C, inner = _layout(X, channel_axis)
    originals = [np.asarray(p) for p in (tl, al, tr, ar)]
    params, bad = _channel_params(originals, C, X.dtype)
    dLdX = None
    if want[0]:
        if out is None:
            dLdX = np.empty_like(X)
        elif out.shape != X.shape or out.dtype != X.dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be C-contiguous with shape {X.shape} and dtype {X.dtype}")
        else:
            dLdX = out
    sums = np.zeros((4, C))
    if X.size:
        t = X.dtype.type
        constants = (t(0), t(1), t(np.nan))
        shape3 = (outer, C, inner)
        dx3 = dLdX.reshape(shape3) if dLdX is not None else np.empty((0, C, inner), X.dtype)
        _backward(dLdY.reshape(shape3), X.reshape(shape3), *params, bad, want[0], dx3, sums, *constants)
    gradients: list[np.ndarray | None] = []
    for k, original in enumerate(originals):
        if not want[k + 1]:
            gradients.append(None)
            continue
        total = sums[k] if original.size != 1 else sums[k].sum()
        gradients.append(np.asarray(total).reshape(original.shape).astype(original.dtype, copy=False))
    return (dLdX, *gradients)
