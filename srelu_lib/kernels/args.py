"""Argument handling shared by the SReLU kernels (``numpy_blocked``, ``numba_fused``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def gradient_flags(compute_gradients: Sequence[Any]) -> tuple[bool, ...]:
    """The five ``compute_gradients`` flags (X, tl, al, tr, ar) as bools."""
    want = tuple(bool(c) for c in compute_gradients)
    if len(want) != 5:
        raise ValueError(f"compute_gradients must have 5 flags (X, tl, al, tr, ar); got {len(want)}")
    return want


def upstream_gradient(dLdY: Any, X: np.ndarray) -> np.ndarray:
    """``dLdY`` as a C-contiguous array of ``X``'s dtype, checked to have ``X``'s shape."""
    dLdY = np.ascontiguousarray(dLdY, dtype=X.dtype)
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
