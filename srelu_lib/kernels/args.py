"""The arguments of the SReLU kernels, checked and normalised in one place.

Every kernel (:mod:`~srelu_lib.kernels.reference`, :mod:`~srelu_lib.kernels.numpy_blocked`,
:mod:`~srelu_lib.kernels.numba_fused`) starts with :func:`channel_parameters`: the four parameters
become 1-D arrays of the data's dtype with one element (shared by all channels) or ``C`` elements
(one per channel), with one rule and one error message for every kernel and for
:class:`~srelu_lib.SReLUFunction`.  :func:`nan_channels` is the one definition of the channels a
NaN parameter makes NaN.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PARAMETER_NAMES", "ChannelParameters", "channel_parameters", "check_parameter_shape", "nan_channels",
           "gradient_flags", "upstream_gradient", "output_buffer"]

PARAMETER_NAMES = ("tl", "al", "tr", "ar")


def check_parameter_shape(name: str, shape: tuple[int, ...], num_channels: int | None) -> None:
    """Raise a ValueError naming the parameter unless it has one element or shape ``(C,)``.

    ``num_channels`` is ``C``; ``None`` means the data has no channel axis, so only one element fits.
    """
    if math.prod(shape) == 1:
        return
    if num_channels is None:
        raise ValueError(f"{name} must have one element when channel_axis is None; got shape {shape}")
    if shape != (num_channels,):
        raise ValueError(
            f"{name} must have shape () or (1,) (one value shared by all channels) or "
            f"(C,) = ({num_channels},) (one value per channel); got shape {shape}"
        )


def nan_channels(tl: Any, al: Any, tr: Any, ar: Any) -> np.ndarray | None:
    """Where a parameter is NaN (the channels SReLU makes NaN), broadcast together; ``None`` when nowhere.

    Works on anything the four parameters are at hand as: per-channel vectors, arrays shaped to broadcast
    along the channel axis, or one block's operands.
    """
    bad = np.isnan(tl) | np.isnan(al) | np.isnan(tr) | np.isnan(ar)
    return bad if bad.any() else None


@dataclass(frozen=True)
class ChannelParameters:
    """The four parameters of one kernel call, normalised by :func:`channel_parameters`.

    Attributes:
        values: ``(tl, al, tr, ar)`` as 1-D arrays of the data's dtype, each with 1 or ``C`` elements.
        originals: the parameters as given (``np.asarray``); gradients take their shapes and dtypes.
        channel_axis: the channel axis of the data, in ``range(ndim)``, or ``None``.
        num_channels: ``C`` (1 when ``channel_axis`` is ``None``).
    """

    values: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    originals: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    channel_axis: int | None
    num_channels: int

    def along_axis(self, ndim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The parameters shaped to broadcast along the channel axis of ``ndim``-dimensional data."""
        shape = [1] * ndim
        if self.channel_axis is not None:
            shape[self.channel_axis] = -1
        tl, al, tr, ar = (p.reshape(()) if p.size == 1 else p.reshape(shape) for p in self.values)
        return tl, al, tr, ar

    @functools.cached_property
    def per_channel(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The parameters as contiguous arrays of ``C`` elements each (a shared value repeated)."""
        C = self.num_channels
        tl, al, tr, ar = (np.ascontiguousarray(p) if p.size == C else np.full(C, p[0], dtype=p.dtype)
                          for p in self.values)
        return tl, al, tr, ar

    @functools.cached_property
    def nan_mask(self) -> np.ndarray:
        """The channels a NaN parameter makes NaN, as ``C`` booleans (:func:`nan_channels` per channel)."""
        bad = nan_channels(*self.per_channel)
        return np.zeros(self.num_channels, dtype=bool) if bad is None else bad

    def layout(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """``(outer, C, inner)``: the data seen as the dimensions before the channel, the channels, those after."""
        if self.channel_axis is None:
            return 1, 1, math.prod(shape)
        ca = self.channel_axis
        return math.prod(shape[:ca]), shape[ca], math.prod(shape[ca + 1:])

    def gradient(self, k: int, sums: Any) -> np.ndarray:
        """Parameter ``k``'s gradient from its float64 sums: one per channel, or already one in all.

        A parameter shared by all channels gets the total; the result has the parameter's shape and dtype.
        """
        original = self.originals[k]
        total = np.asarray(sums)
        if original.size == 1 and total.size != 1:
            total = np.sum(total)
        return np.asarray(total).reshape(original.shape).astype(original.dtype, copy=False)


def channel_parameters(X: np.ndarray, params: Sequence[Any], channel_axis: int | None) -> ChannelParameters:
    """Check and normalise ``(tl, al, tr, ar)`` for data ``X`` with channels along ``channel_axis``.

    Raises:
        TypeError: ``X`` is not a floating-point array.
        ValueError: ``channel_axis`` is not an axis of ``X``, or a parameter has neither one element nor
            shape ``(C,)`` (:func:`check_parameter_shape`).
    """
    if X.dtype.kind != "f":
        raise TypeError(f"X must be a floating-point array (float32 or float64); got dtype {X.dtype}")
    if channel_axis is not None:
        if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)) \
                or not -X.ndim <= channel_axis < X.ndim:
            raise ValueError(f"channel_axis must be an axis of X (ndim {X.ndim}) or None; got {channel_axis!r}")
        channel_axis = int(channel_axis) % X.ndim
    num_channels = None if channel_axis is None else X.shape[channel_axis]
    tl, al, tr, ar = (np.asarray(p) for p in params)
    originals = (tl, al, tr, ar)
    for name, p in zip(PARAMETER_NAMES, originals, strict=True):
        check_parameter_shape(name, p.shape, num_channels)
    tl_, al_, tr_, ar_ = (np.asarray(p, dtype=X.dtype).reshape(-1) for p in originals)
    return ChannelParameters((tl_, al_, tr_, ar_), originals, channel_axis,
                             1 if num_channels is None else num_channels)


def gradient_flags(compute_gradients: Sequence[Any]) -> tuple[bool, ...]:
    """The five ``compute_gradients`` flags (X, tl, al, tr, ar) as bools."""
    want = tuple(bool(c) for c in compute_gradients)
    if len(want) != 5:
        raise ValueError(f"compute_gradients must have 5 flags (X, tl, al, tr, ar); got {len(want)}")
    return want


def upstream_gradient(dLdY: Any, X: np.ndarray, *, cast: bool = True) -> np.ndarray:
    """``dLdY`` checked to have ``X``'s shape; with ``cast``, as a C-contiguous array of ``X``'s dtype."""
    dLdY = np.ascontiguousarray(dLdY, dtype=X.dtype) if cast else np.asarray(dLdY)
    if dLdY.shape != X.shape:
        raise ValueError(f"dLdY must have X's shape {X.shape}; got {dLdY.shape}")
    return dLdY


def output_buffer(out: np.ndarray | None, X: np.ndarray) -> np.ndarray:
    """A new array like ``X``, or ``out`` once checked to be a C-contiguous array of ``X``'s shape and dtype."""
    if out is None:
        return np.empty_like(X)
    if out.shape != X.shape or out.dtype != X.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous with shape {X.shape} and dtype {X.dtype}")
    return out
