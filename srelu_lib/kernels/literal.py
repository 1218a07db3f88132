"""The reference page's SReLU formulas, transcribed literally to NumPy: a baseline, not a kernel.

MATLAB's page builds the forward from three masks, three full-size pieces
multiplied by their masks and added, and the backward from masked assignments
and masked sums.  These two functions do exactly that, so that the benchmark
(``benchmarks/bench_srelu.py``) and the chapter "Making it fast" can measure
what the literal formula costs.  They are *not* a backend: they are wrong for
``tl > tr`` and for infinite ``x`` (``0 * inf``); see the errata chapter.  The
pieces themselves are the library's (:mod:`srelu_lib.kernels.formulas`); what is
literal is the page's way of combining them: every piece over the whole array,
multiplied by its mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .args import channel_parameters
from .formulas import left, left_dal, left_dtl, right, right_dar, right_dtr

__all__ = ["literal_forward", "literal_backward"]


def literal_forward(X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int) -> np.ndarray:
    """LITERAL three-mask translation of the reference page's forward (a benchmark baseline, not the library).

    Three masks, three full-size pieces, each multiplied by its mask and added.  Wrong for ``tl > tr`` and
    for infinite ``x`` (``0 * inf``); kept only to measure what the literal formula costs.
    """
    tl, al, tr, ar = channel_parameters(X, (tl, al, tr, ar), channel_axis).along_axis(X.ndim)
    return ((X <= tl) * left(X, tl, al)
            + ((tl < X) & (X < tr)) * X
            + (tr <= X) * right(X, tr, ar))


def literal_backward(dLdY: np.ndarray, X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any,
                     channel_axis: int) -> tuple[np.ndarray, ...]:
    """LITERAL translation of the page's backward (masked assignment made per-channel-correct, input order)."""
    params = channel_parameters(X, (tl, al, tr, ar), channel_axis)
    tl, al, tr, ar = params.along_axis(X.ndim)
    dYdX = np.zeros_like(X)
    mask = X <= tl
    dYdX[mask] = np.broadcast_to(al, X.shape)[mask]  # the page assigns al directly: right for scalars only
    dYdX[(tl < X) & (X < tr)] = 1
    mask = tr <= X
    dYdX[mask] = np.broadcast_to(ar, X.shape)[mask]
    dLdX = dLdY * dYdX
    axes = tuple(a for a in range(X.ndim) if a != params.channel_axis)
    dLdtl = np.sum(dLdY * (X <= tl) * left_dtl(al), axis=axes)
    dLdtr = np.sum(dLdY * (tr <= X) * right_dtr(ar), axis=axes)
    dLdal = np.sum(dLdY * (X <= tl) * left_dal(X, tl), axis=axes)
    dLdar = np.sum(dLdY * (tr <= X) * right_dar(X, tr), axis=axes)
    return dLdX, dLdtl, dLdal, dLdtr, dLdar
