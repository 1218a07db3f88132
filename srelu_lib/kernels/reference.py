"""The reference SReLU kernels: the straightforward, region-by-region NumPy definition.

These two functions are the *definition* every other kernel is tested against
(:mod:`srelu_lib.kernels.numpy_blocked`, :mod:`srelu_lib.kernels.numba_fused`): masks
``in_left = x <= tl`` and ``in_right = x >= tr``, the pieces of :mod:`srelu_lib.kernels.formulas` picked
region by region with ``np.where``, NaN parameters making their channel NaN.  They are the
``"reference"`` backend of :func:`srelu_lib.kernels.set_backend`.

:func:`region_values` and :class:`LocalDerivatives` are the same arithmetic on arrays that are
already shaped to broadcast (whole arrays here, one block in the blocked kernel's exact path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .args import channel_parameters, gradient_flags, nan_channels, upstream_gradient
from .formulas import both, both_dx, left, left_dal, left_dtl, right, right_dar, right_dtr

__all__ = ["srelu_forward_reference", "srelu_backward_reference", "region_values", "LocalDerivatives"]


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
    local = LocalDerivatives(X, *params.along_axis(X.ndim))
    other_axes = tuple(a for a in range(X.ndim) if a != params.channel_axis)

    def channel_sum(k: int, dYdp: np.ndarray) -> np.ndarray:
        """Parameter k's gradient: dLdY * dY/dp summed in float64 over every axis but the channel axis."""
        shared = params.values[k].size == 1  # one value for all channels: one sum over everything
        return params.gradient(k, (dLdY * dYdp).sum(axis=None if shared else other_axes, dtype=np.float64))

    # One local derivative at a time: each array-sized temporary is freed before the next is made.
    with np.errstate(invalid="ignore"):  # IEEE 0*inf from dLdY where a local derivative is 0
        dLdX = (dLdY * local.dYdX()).astype(X.dtype, copy=False) if want[0] else None
        dLdtl = channel_sum(0, local.dYdtl()) if want[1] else None
        dLdal = channel_sum(1, local.dYdal()) if want[2] else None
        dLdtr = channel_sum(2, local.dYdtr()) if want[3] else None
        dLdar = channel_sum(3, local.dYdar()) if want[4] else None
    return dLdX, dLdtl, dLdal, dLdtr, dLdar


def region_values(X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any) -> np.ndarray:
    """SReLU's value region by region, for parameters that broadcast against ``X``; NaN on NaN channels.

    The pieces are :func:`~srelu_lib.kernels.formulas.left`, :func:`~srelu_lib.kernels.formulas.right`
    and :func:`~srelu_lib.kernels.formulas.both`.  Each piece is computed over the whole array (a
    ``0 * inf`` or ``inf - inf`` there is harmless) and ``np.where`` keeps it only inside its own region,
    so no value is ever a mask times a piece.
    """
    in_left = X <= tl
    in_right = X >= tr
    with np.errstate(invalid="ignore", over="ignore"):  # 0*inf in a piece np.where discards (or IEEE NaN)
        y_left = left(X, tl, al)
        y_right = right(X, tr, ar)
        Y = np.where(in_right, y_right, np.where(in_left, y_left, X))
        if np.any(tr <= tl):  # the hinges overlap on some channel: add both of them there
            Y = np.where(in_left & in_right, both(X, y_left, y_right), Y)
    bad = nan_channels(tl, al, tr, ar)
    if bad is not None:
        Y = np.where(bad, X.dtype.type(np.nan), Y)
    return Y


class LocalDerivatives:
    """SReLU's local derivatives at every element of ``X``, each computed when it is asked for.

    The parameters broadcast against ``X``.  The masks ``in_left = X <= tl`` and ``in_right = X >= tr``
    are made once; each method returns one derivative with ``X``'s shape and dtype, selected with
    ``np.where`` (an exact zero outside its region, whatever ``x`` is there) and NaN where it is
    undefined (a NaN ``x`` or a NaN parameter).  One at a time, so that a caller keeps a single
    array-sized derivative alive.
    """

    def __init__(self, X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any) -> None:
        self.X, self.tl, self.al, self.tr, self.ar = X, tl, al, tr, ar
        self.in_left = X <= tl
        self.in_right = X >= tr
        undefined = np.isnan(X)
        bad = nan_channels(tl, al, tr, ar)
        if bad is not None:
            undefined = undefined | bad
        self.undefined = undefined if undefined.any() else None
        self.overlap = bool(np.any(tr <= tl))  # the hinges overlap on some channel

    def _defined(self, values: Any) -> np.ndarray:
        if self.undefined is not None:
            values = np.where(self.undefined, self.X.dtype.type(np.nan), values)
        return np.asarray(values).astype(self.X.dtype, copy=False)

    def dYdX(self) -> np.ndarray:
        slope = np.where(self.in_right, self.ar, np.where(self.in_left, self.al, 1))
        if self.overlap:
            slope = np.where(self.in_left & self.in_right, both_dx(self.al, self.ar), slope)
        return self._defined(slope)

    def dYdtl(self) -> np.ndarray:
        return self._defined(np.where(self.in_left, left_dtl(self.al), 0))

    def dYdal(self) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf where the mask discards it
            return self._defined(np.where(self.in_left, left_dal(self.X, self.tl), 0))

    def dYdtr(self) -> np.ndarray:
        return self._defined(np.where(self.in_right, right_dtr(self.ar), 0))

    def dYdar(self) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            return self._defined(np.where(self.in_right, right_dar(self.X, self.tr), 0))

    def left_mask(self) -> np.ndarray:
        """``in_left`` as 0.0/1.0 (NaN where undefined): ``dY/dtl`` without its factor ``1 - al``."""
        return self._defined(self.in_left)

    def right_mask(self) -> np.ndarray:
        """``in_right`` as 0.0/1.0 (NaN where undefined): ``dY/dtr`` without its factor ``1 - ar``."""
        return self._defined(self.in_right)
