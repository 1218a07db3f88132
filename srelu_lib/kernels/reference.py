"""The reference SReLU kernels: the straightforward, region-by-region NumPy definition.

These two functions are the *definition* every other kernel is tested
against (:mod:`srelu_lib.kernels.numpy_blocked`,
:mod:`srelu_lib.kernels.numba_fused`): masks ``L = x <= tl`` and
``R = x >= tr``, one formula per region, NaN parameters making their channel
NaN.  They are the ``"reference"`` backend of :func:`srelu_lib.kernels.set_backend`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["srelu_forward_reference", "srelu_backward_reference", "per_channel", "nan_channels"]


def srelu_forward_reference(
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int,
) -> np.ndarray:
    """SReLU of a plain array: the forward pass, region by region (the tested reference).

    The straightforward vectorized version, kept as the definition the fast
    kernels are tested against; :func:`srelu_lib.kernels.srelu_forward`
    computes the same values faster, and :func:`srelu_lib.srelu` is the
    differentiable version for DLArrays.  The computation is in ``X``'s dtype
    (parameters are cast to it).

    Args:
        X: the input, a float32 or float64 array.
        tl, al, tr, ar: thresholds and slopes, each with one element (shared by
            all channels) or ``X.shape[channel_axis]`` elements (one per channel).
            Shapes are not checked here; :class:`SReLUFunction` checks them.
        channel_axis: the axis of ``X`` holding the channels.

    Returns:
        ``Y``, an array of ``X``'s shape and dtype.

    Example:
        >>> import numpy as np
        >>> X = np.array([[-2.0, 0.0, 2.0], [-2.0, 0.0, 2.0]])   # (C=2, B=3)
        >>> srelu_forward_reference(X, np.array([-1.0, -1.0]), 0.5, 1.0, np.array([2.0, 3.0]), channel_axis=0)
        array([[-1.5,  0. ,  3. ],
               [-1.5,  0. ,  4. ]])
    """
    tl, al, tr, ar = (per_channel(p, X.ndim, channel_axis, X.dtype) for p in (tl, al, tr, ar))
    L = X <= tl
    R = X >= tr
    with np.errstate(invalid="ignore"):  # 0*inf in a piece that np.where discards (or IEEE NaN by design)
        left = tl + al * (X - tl)
        right = tr + ar * (X - tr)
        Y = np.where(R, right, np.where(L, left, X))
        if np.any(tr <= tl):  # the hinges overlap on some channel: add both of them there
            Y = np.where(L & R, left + right - X, Y)
    bad = nan_channels(tl, al, tr, ar)
    if bad is not None:
        Y = np.where(bad, X.dtype.type(np.nan), Y)
    return Y


def srelu_backward_reference(
    dLdY: np.ndarray,
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int,
    compute_gradients: Sequence[bool],
) -> tuple[np.ndarray | None, ...]:
    """Gradients of the loss with respect to the five SReLU inputs (the tested reference).

    The straightforward vectorized version, kept as the definition the fast
    kernels are tested against; :func:`srelu_lib.kernels.srelu_backward` (which
    :meth:`srelu_lib.srelu_function.SReLUFunction.backward` calls) computes the same values faster.
    Each gradient is computed only when requested.

    Args:
        dLdY: gradient of the loss with respect to ``Y``, shape of ``X``.
        X, tl, al, tr, ar: the forward inputs (parameters with one element or
            one per channel).
        channel_axis: the axis of ``X`` holding the channels.
        compute_gradients: five flags, in input order ``X, tl, al, tr, ar``.

    Returns:
        ``(dLdX, dLdtl, dLdal, dLdtr, dLdar)`` in input order, ``None`` where
        the flag is false.  ``dLdX`` has ``X``'s shape and dtype; each parameter
        gradient is summed in float64 and returned in that parameter's own
        shape and dtype.

    Example:
        >>> import numpy as np
        >>> X = np.array([[-2.0, 0.0, 2.0]])                    # (C=1, B=3)
        >>> dX, dtl, dal, dtr, dar = srelu_backward_reference(
        ...     np.ones_like(X), X, -1.0, 0.5, 1.0, 2.0, 0, [True] * 5)
        >>> dX, float(dtl), float(dal), float(dtr), float(dar)
        (array([[0.5, 1. , 2. ]]), 0.5, -1.0, -1.0, 1.0)
    """
    want = tuple(bool(c) for c in compute_gradients)
    if len(want) != 5:
        raise ValueError(f"compute_gradients must have 5 flags (X, tl, al, tr, ar); got {len(want)}")
    params = (tl, al, tr, ar)
    tl_, al_, tr_, ar_ = (per_channel(p, X.ndim, channel_axis, X.dtype) for p in params)
    L = X <= tl_
    R = X >= tr_
    overlap = bool(np.any(tr_ <= tl_))

    # Where a local derivative is undefined (NaN x or a NaN parameter) it is NaN.
    undefined = np.isnan(X)
    bad = nan_channels(tl_, al_, tr_, ar_)
    if bad is not None:
        undefined = undefined | bad
    if not undefined.any():
        undefined = None
    nan = X.dtype.type(np.nan)

    def times_dLdY(local: np.ndarray) -> np.ndarray:
        if undefined is not None:
            local = np.where(undefined, nan, local)
        return dLdY * local

    other_axes = tuple(a for a in range(X.ndim) if a != channel_axis)

    def channel_sum(product: np.ndarray, p: Any) -> np.ndarray:
        p = np.asarray(p)
        total = product.sum(axis=None if p.size == 1 else other_axes, dtype=np.float64)
        return np.asarray(total).reshape(p.shape).astype(p.dtype, copy=False)

    dLdX = dLdtl = dLdal = dLdtr = dLdar = None
    with np.errstate(invalid="ignore"):  # IEEE 0*inf from dLdY where a local derivative is 0
        if want[0]:
            dYdX = np.where(R, ar_, np.where(L, al_, 1))
            if overlap:
                dYdX = np.where(L & R, al_ + ar_ - 1, dYdX)
            dLdX = times_dLdY(dYdX).astype(X.dtype, copy=False)
        if want[1]:
            dLdtl = channel_sum(times_dLdY(np.where(L, 1 - al_, 0)), tl)
        if want[2]:
            dLdal = channel_sum(times_dLdY(np.where(L, X - tl_, 0)), al)
        if want[3]:
            dLdtr = channel_sum(times_dLdY(np.where(R, 1 - ar_, 0)), tr)
        if want[4]:
            dLdar = channel_sum(times_dLdY(np.where(R, X - tr_, 0)), ar)
    return dLdX, dLdtl, dLdal, dLdtr, dLdar




def per_channel(p: np.ndarray, ndim: int, channel_axis: int, dtype: np.dtype) -> np.ndarray:
    """``p`` in ``dtype``, shaped to broadcast along ``channel_axis`` of an ``ndim``-dimensional array."""
    p = np.asarray(p, dtype=dtype)
    if p.size == 1:
        return p.reshape(())
    shape = [1] * ndim
    shape[channel_axis] = p.size
    return p.reshape(shape)


def nan_channels(tl: np.ndarray, al: np.ndarray, tr: np.ndarray, ar: np.ndarray) -> np.ndarray | None:
    """Channels (broadcastable mask) with a NaN parameter, or ``None`` when there are none."""
    bad = np.isnan(tl) | np.isnan(al) | np.isnan(tr) | np.isnan(ar)
    return bad if bad.any() else None
