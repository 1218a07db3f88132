"""The reference SReLU kernels: the straightforward, region-by-region NumPy definition.

These two functions are the *definition* every other kernel is tested against
(:mod:`srelu_lib.kernels.numpy_blocked`, :mod:`srelu_lib.kernels.numba_fused`): masks
``L = x <= tl`` and ``R = x >= tr``, the pieces of :mod:`srelu_lib.kernels.formulas` picked region
by region with ``np.where``, NaN parameters making their channel NaN.  They are the
``"reference"`` backend of :func:`srelu_lib.kernels.set_backend`.

:func:`region_values` and :func:`local_derivatives` are the same arithmetic on arrays that are
already shaped to broadcast (whole arrays here, one block in the blocked kernel's exact path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .args import channel_parameters, gradient_flags, nan_channels, upstream_gradient
from .formulas import both, both_dx, left, left_dal, left_dtl, right, right_dar, right_dtr

__all__ = ["srelu_forward_reference", "srelu_backward_reference", "region_values", "local_derivatives"]


def srelu_forward_reference(
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int | None,
) -> np.ndarray:
    """SReLU of a plain array: the forward pass, region by region (the tested reference).

    The straightforward vectorized version, kept as the definition the fast
    kernels are tested against; :func:`srelu_lib.kernels.srelu_forward`
    computes the same values faster, and :func:`srelu_lib.srelu` is the
    differentiable version for DLArrays.  The computation is in ``X``'s dtype
    (parameters are cast to it).

    Args:
        X: the input, a floating-point array (float32 or float64).
        tl, al, tr, ar: thresholds and slopes, each with one element (shared by
            all channels) or shape ``(C,)`` with ``C = X.shape[channel_axis]``.
        channel_axis: the axis of ``X`` holding the channels (``None`` when
            every parameter has one element).

    Returns:
        ``Y``, an array of ``X``'s shape and dtype.

    Example:
        >>> import numpy as np
        >>> X = np.array([[-2.0, 0.0, 2.0], [-2.0, 0.0, 2.0]])   # (C=2, B=3)
        >>> srelu_forward_reference(X, np.array([-1.0, -1.0]), 0.5, 1.0, np.array([2.0, 3.0]), channel_axis=0)
        array([[-1.5,  0. ,  3. ],
               [-1.5,  0. ,  4. ]])
    """
    X = np.asarray(X)
    params = channel_parameters(X, (tl, al, tr, ar), channel_axis)
    return region_values(X, *params.along_axis(X.ndim))


def srelu_backward_reference(
    dLdY: np.ndarray,
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int | None,
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
    want = gradient_flags(compute_gradients)
    X = np.asarray(X)
    dLdY = upstream_gradient(dLdY, X, cast=False)  # products in the dtype NumPy gives dLdY * local
    params = channel_parameters(X, (tl, al, tr, ar), channel_axis)
    dYdX, dYdtl, dYdal, dYdtr, dYdar = local_derivatives(X, *params.along_axis(X.ndim), want)
    other_axes = tuple(a for a in range(X.ndim) if a != params.channel_axis)

    def channel_sum(k: int, local: np.ndarray | None) -> np.ndarray | None:
        """Parameter k's gradient: dLdY * local summed in float64 over every axis but the channel axis."""
        if local is None:
            return None
        shared = params.values[k].size == 1  # one value for all channels: one sum over everything
        return params.gradient(k, (dLdY * local).sum(axis=None if shared else other_axes, dtype=np.float64))

    with np.errstate(invalid="ignore"):  # IEEE 0*inf from dLdY where a local derivative is 0
        dLdX = None if dYdX is None else (dLdY * dYdX).astype(X.dtype, copy=False)
        dLdtl = channel_sum(0, dYdtl)
        dLdal = channel_sum(1, dYdal)
        dLdtr = channel_sum(2, dYdtr)
        dLdar = channel_sum(3, dYdar)
    return dLdX, dLdtl, dLdal, dLdtr, dLdar


def region_values(X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any) -> np.ndarray:
    """SReLU's value region by region, for parameters that broadcast against ``X``; NaN on NaN channels.

    The pieces are :func:`~srelu_lib.kernels.formulas.left`, :func:`~srelu_lib.kernels.formulas.right`
    and :func:`~srelu_lib.kernels.formulas.both`, each used only in its own region (never ``0 * inf``).
    """
    L = X <= tl
    R = X >= tr
    with np.errstate(invalid="ignore", over="ignore"):  # 0*inf in a piece np.where discards (or IEEE NaN)
        y_left = left(X, tl, al)
        y_right = right(X, tr, ar)
        Y = np.where(R, y_right, np.where(L, y_left, X))
        if np.any(tr <= tl):  # the hinges overlap on some channel: add both of them there
            Y = np.where(L & R, both(X, y_left, y_right), Y)
    bad = nan_channels(tl, al, tr, ar)
    if bad is not None:
        Y = np.where(bad, X.dtype.type(np.nan), Y)
    return Y


def local_derivatives(X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any, want: Sequence[bool], *,
                      threshold_factors: bool = True) -> list[np.ndarray | None]:
    """``dY/dX, dY/dtl, dY/dal, dY/dtr, dY/dar`` elementwise, ``None`` where ``want`` is false.

    Each is an exact zero outside its region and NaN where it is undefined (a NaN ``x`` or a NaN
    parameter).  With ``threshold_factors=False`` the threshold derivatives are returned without their
    constant factors ``1 - al`` and ``1 - ar`` (the masks ``L`` and ``R``), for a kernel that applies
    those factors to the sums.
    """
    L = X <= tl
    R = X >= tr
    undefined = np.isnan(X)
    bad = nan_channels(tl, al, tr, ar)
    if bad is not None:
        undefined = undefined | bad
    nan = X.dtype.type(np.nan)
    any_undefined = bool(undefined.any())

    def defined(values: Any) -> np.ndarray:
        values = np.where(undefined, nan, values) if any_undefined else np.asarray(values)
        return values.astype(X.dtype, copy=False)

    local: list[np.ndarray | None] = [None] * 5
    with np.errstate(invalid="ignore", over="ignore"):
        if want[0]:
            slope = np.where(R, ar, np.where(L, al, 1))
            if np.any(tr <= tl):  # the hinges overlap on some channel
                slope = np.where(L & R, both_dx(al, ar), slope)
            local[0] = defined(slope)
        if want[1]:
            local[1] = defined(np.where(L, left_dtl(al) if threshold_factors else 1, 0))
        if want[2]:
            local[2] = defined(np.where(L, left_dal(X, tl), 0))
        if want[3]:
            local[3] = defined(np.where(R, right_dtr(ar) if threshold_factors else 1, 0))
        if want[4]:
            local[4] = defined(np.where(R, right_dar(X, tr), 0))
    return local
