"""Fused SReLU forward and backward kernels compiled with numba: one pass over memory.

Importing this module imports numba (``pip install numba`` or ``pip install srelu_lib[fast]``);
``import srelu_lib`` never does.  No module of the library imports it at import time: the backend
registry (:mod:`srelu_lib.kernels.backends`) imports it by name on the first call that uses the
``"numba"`` backend (the default when numba is installed, see :func:`srelu_lib.kernels.set_backend`).

The arithmetic is not rewritten here: the loops call the region formulas of
:mod:`srelu_lib.kernels.formulas`, compiled from their Python source with
``numba.njit(inline="always")``; the per-channel constants ``1 - al``, ``1 - ar``, ``al + ar - 1``
are the same formulas evaluated by NumPy.

Each kernel reads every input element once and writes every output element once: the forward reads
``X`` and writes ``Y``; the backward reads ``X`` and ``dLdY``, writes ``dLdX`` and sums the four
parameter products per channel.  Writing into a preallocated buffer (``out=``), the forward can run
at about the speed of ``np.copyto`` into one: it did on the benchmark's ``"SSCB"`` data, rows of
``B = 32`` elements (``python3 dev.py bench``, row ``numba[out]``; the chapter "Making it fast"
shows a stored run).  Without ``out=`` each call also pays for a fresh output's first touch (row
``numba``).  The row length matters: on shape ``(100, 100, 32, 31)`` the forward took about 4 times
as long as the copy, against 0.9 times on ``(99, 99, 32, 32)`` (float32, ``out=``, medians of 7
rounds on the project's 2-core VM).

The array is seen as ``(outer, C, inner)`` (canonical layout: the dimensions before ``C``, the
channels, the dimensions after ``C``), so every row ``(o, c, :)`` has one channel's parameters; the
innermost loop runs along a row with selects only (no branches, so it can vectorise).

The backward has two versions:

* *fast* (finite parameters with ``tl < tr`` on every channel, the case in training): five selects
  and products per element, no NaN bookkeeping.  Each row is summed in segments of at most
  ``SEGMENT`` elements in the data's dtype (vector lanes), and each segment's sum is added to a
  float64 accumulator.  Error of a parameter gradient's sum: at most about
  ``SEGMENT * eps * sum(|terms|)`` in the worst case (``eps`` of the data's dtype); on 2**18
  same-sign float32 terms it measures below ``eps * sum(|terms|)`` (a test checks that bound),
  whereas a float32 sum running over the whole row, even spread over vector lanes, was off by 0.6 to
  2.2 times ``eps * sum(|terms|)`` (three trials of 2**18 uniform same-sign terms, measured for this
  note), an error that grows with the row length.  Non-finite data is *detected*, not handled, in
  this loop: the comparison for the left piece is written ``not (x > tl)`` so that a NaN ``x`` lands
  in the sum of ``dLdY * (x - tl)``, an infinite ``x`` makes ``x - tl`` or ``x - tr`` infinite, and
  ``dLdY`` is multiplied by a 0/1 mask (never selected), so a NaN or infinite ``dLdY`` makes a sum
  NaN.  A non-finite sum sends the whole call to the exact version.
* *exact* (anything else: ``tl >= tr`` somewhere, NaN or infinite parameters
  or data): the region-wise semantics of the reference, with float64 sums.
  When ``inner`` is shorter than 8 (for example channel-last data,
  ``inner == 1``) it runs over a whole ``C * inner`` pattern with the
  parameters tiled and one float64 accumulator per position.

Semantics are the reference's (:mod:`srelu_lib.kernels.reference`): region-wise values
(selected, never a mask times a piece; the fast backward's 0/1-mask products
are only kept when every sum is finite), NaN ``x`` or a NaN parameter makes
every local derivative NaN, products ``dLdY * local derivative`` in the data's
dtype, sums in float64.  Results agree with the reference to float rounding.

Caveat: the first call for a dtype compiles the kernel (about a second);
``cache=True`` stores the machine code next to this file for later processes,
under names that include a hash of ``formulas.py`` (numba's cache checks only
this file, so editing the formulas must change the names to recompile).

Example:
    >>> import numpy as np
    >>> from srelu_lib.kernels.numba_fused import srelu_forward_numba
    >>> srelu_forward_numba(np.array([[-2.0, 0.0, 2.0]]), -1.0, 0.5, 1.0, 2.0, 0)
    array([[-1.5,  0. ,  3. ]])
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np

from . import formulas
from .args import channel_parameters, gradient_flags, output_buffer, upstream_gradient

__all__ = ["srelu_forward_numba", "srelu_backward_numba"]

# 'reassoc' lets LLVM vectorise the sums; no flag that assumes finite values (NaN and inf are data).
_SUM_FLAGS = {"reassoc"}
# The fast backward may also fuse a product into its sum (one rounding instead of two).
_FAST_FLAGS = {"reassoc", "contract"}
# A hash of formulas.py: the cached kernels inline it, so their cache entries are named after it.
_FORMULAS_HASH = hashlib.sha256(inspect.getsource(formulas).encode()).hexdigest()[:16]


def _kernel(**options: Any) -> Callable:
    """``numba.njit(cache=True, **options)`` for a loop called from Python, cached under the formulas' hash."""

    def compile_cached(function: Callable) -> Callable:
        function.__qualname__ = f"{function.__qualname__}_{_FORMULAS_HASH}"  # part of the cache file's name
        return numba.njit(cache=True, **options)(function)

    return compile_cached


# The region formulas, compiled from srelu_lib.kernels.formulas (one definition, as minitorch compiles its
# scalar operators); inlined into the loops below.
_left = numba.njit(inline="always")(formulas.left)
_right = numba.njit(inline="always")(formulas.right)
_both = numba.njit(inline="always")(formulas.both)
_left_dal = numba.njit(inline="always")(formulas.left_dal)
_right_dar = numba.njit(inline="always")(formulas.right_dar)

#: The fast backward sums at most this many consecutive elements of a row in the data's dtype before adding the
#: partial sum to a float64 accumulator (bounds the float32 rounding error; long enough to vectorise well).
SEGMENT = 256


@numba.njit(inline="always")
def _value(x, tl, al, tr, ar):
    in_left = x <= tl
    in_right = x >= tr
    y_left = _left(x, tl, al)
    y_right = _right(x, tr, ar)
    if in_left and in_right:
        return _both(x, y_left, y_right)
    if in_right:
        return y_right
    if in_left:
        return y_left
    return x


@_kernel()
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


@numba.njit(inline="always")
def _locals(x, tl, al, tr, ar, both, left_tl, right_tr, zero, one, nan):
    """Local derivatives dY/dX, dY/dtl, dY/dal, dY/dtr, dY/dar at one element, in the data's dtype.

    Branch-free (selects only, so the loops vectorise).  ``both = al + ar - 1``, ``left_tl = 1 - al``
    and ``right_tr = 1 - ar`` are precomputed per channel (:func:`_constants`).  At NaN ``x`` every value
    is NaN; outside its region a derivative is an exact zero, selected (not a mask times a value).
    """
    in_left = x <= tl
    in_right = x >= tr
    undefined = x != x
    dx = al if in_left else one
    dx = ar if in_right else dx
    dx = both if (in_left & in_right) else dx
    dx = nan if undefined else dx
    dtl = left_tl if in_left else zero
    dtl = nan if undefined else dtl
    dal = _left_dal(x, tl) if in_left else zero
    dal = nan if undefined else dal
    dtr = right_tr if in_right else zero
    dtr = nan if undefined else dtr
    dar = _right_dar(x, tr) if in_right else zero
    dar = nan if undefined else dar
    return dx, dtl, dal, dtr, dar


@_kernel(fastmath=_SUM_FLAGS)
def _backward_rows(dY, X, tl, al, tr, ar, both, ldtl, rdtr, bad, want_dx, dX, acc, zero, one,
                   nan):  # pragma: no cover  (compiled)
    """The exact loop: X is (outer, C, inner); each row is summed in float64 registers into ``acc`` (4, C)."""
    outer, C, inner = X.shape
    for o in range(outer):
        for c in range(C):
            t0, a0, t1, a1 = tl[c], al[c], tr[c], ar[c]
            b2, l0, r0 = both[c], ldtl[c], rdtr[c]
            b = bad[c]
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            for i in range(inner):  # one loop for both cases: LLVM moves the loop-invariant test out
                dy = dY[o, c, i]
                d0, d1, d2, d3, d4 = _locals(X[o, c, i], t0, a0, t1, a1, b2, l0, r0, zero, one, nan)
                if b:
                    d0 = d1 = d2 = d3 = d4 = nan
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


@_kernel(fastmath=_SUM_FLAGS)
def _backward_pattern(dY, X, tl, al, tr, ar, both, ldtl, rdtr, bad, want_dx, dX, acc, zero, one,
                      nan):  # pragma: no cover  (compiled)
    """Very short rows (e.g. channel last): X is (outer, P) with the parameters tiled to length P.

    Sums go to ``acc`` (4, P); the loop over P vectorises with the parameters loaded per position.
    """
    outer, P = X.shape
    for o in range(outer):
        for j in range(P):
            t0, a0, t1, a1 = tl[j], al[j], tr[j], ar[j]
            dy = dY[o, j]
            d0, d1, d2, d3, d4 = _locals(X[o, j], t0, a0, t1, a1, both[j], ldtl[j], rdtr[j], zero, one, nan)
            if bad[j]:
                d0 = d1 = d2 = d3 = d4 = nan
            if want_dx:
                dX[o, j] = dy * d0
            acc[0, j] += dy * d1
            acc[1, j] += dy * d2
            acc[2, j] += dy * d3
            acc[3, j] += dy * d4


@numba.njit(fastmath=_FAST_FLAGS, inline="always")
def _fast_terms(x, dy, tl, al, tr, ar, zero, one):
    """dLdX and the four summed terms at one element, for finite parameters with ``tl < tr``.

    Returns ``dy * dY/dX``, ``dy * in_left``, ``dy * in_left * (x - tl)``, ``dy * in_right``,
    ``dy * in_right * (x - tr)`` (masks as 0/1; ``dLdtl = (1 - al) * sum(dy * in_left)`` is formed at the
    end).  Exact region-wise values for finite data; non-finite data makes a sum non-finite (see the
    module docs).
    """
    in_left = not (x > tl)  # true for a NaN x, so the NaN reaches sum(dy * in_left * (x - tl))
    in_right = x >= tr
    slope = al if in_left else one
    slope = ar if in_right else slope
    dy_left = dy * (one if in_left else zero)  # a product, not a select: a NaN or infinite dy reaches the sums
    dy_right = dy * (one if in_right else zero)
    return dy * slope, dy_left, dy_left * _left_dal(x, tl), dy_right, dy_right * _right_dar(x, tr)


@numba.njit(fastmath=_FAST_FLAGS, inline="always")
def _fast_run(xs, ys, ds, tl, al, tr, ar, zero, one):  # pragma: no cover  (compiled)
    """Writes ``ds`` for one run of a row and returns its four sums, in the data's dtype (vector lanes)."""
    s0 = s1 = s2 = s3 = zero
    for i in range(xs.shape[0]):
        g, e0, e1, e2, e3 = _fast_terms(xs[i], ys[i], tl, al, tr, ar, zero, one)
        ds[i] = g
        s0 += e0
        s1 += e1
        s2 += e2
        s3 += e3
    return s0, s1, s2, s3


@_kernel(fastmath=_FAST_FLAGS)
def _backward_fast(dY, X, tl, al, tr, ar, C, dX, acc, zero, one):  # pragma: no cover  (compiled)
    """Rows of ``(outer * C, inner)`` arrays, ``inner <= SEGMENT``; row ``r`` has channel ``r % C``.

    Sums go to ``acc`` (4, C), float64.  ``dX`` has as many rows as ``X``, or one scratch row when dLdX is
    not wanted (every row is then written there: one loop body for both cases, which vectorises).
    """
    rows = X.shape[0]
    step = 1 if dX.shape[0] == rows else 0
    for r in range(rows):
        c = r % C
        s0, s1, s2, s3 = _fast_run(X[r], dY[r], dX[r * step], tl[c], al[c], tr[c], ar[c], zero, one)
        acc[0, c] += s0
        acc[1, c] += s1
        acc[2, c] += s2
        acc[3, c] += s3


@_kernel(fastmath=_FAST_FLAGS)
def _backward_fast_segments(dY, X, tl, al, tr, ar, C, dX, acc, zero, one):  # pragma: no cover  (compiled)
    """:func:`_backward_fast` for rows longer than SEGMENT: each row is summed run by run.

    (A separate function: slicing runs out of short rows too made the short-row loop much slower.)
    """
    rows, inner = X.shape
    step = 1 if dX.shape[0] == rows else 0
    for r in range(rows):
        c = r % C
        for start in range(0, inner, SEGMENT):
            stop = min(start + SEGMENT, inner)
            s0, s1, s2, s3 = _fast_run(X[r, start:stop], dY[r, start:stop], dX[r * step, start:stop],
                                       tl[c], al[c], tr[c], ar[c], zero, one)
            acc[0, c] += s0
            acc[1, c] += s1
            acc[2, c] += s2
            acc[3, c] += s3


#: Rows (the dimensions after the channel) shorter than this are handled as one pattern of period
#: C * inner per outer index (a per-row float64 reduction would cost more than the row itself).
_PATTERN_MAX_INNER = 8
#: ... as long as that period stays this small (its accumulators stay in the L1/L2 cache).
_PATTERN_MAX_PERIOD = 4096


def _constants(al: np.ndarray, ar: np.ndarray) -> list[np.ndarray]:
    """``al + ar - 1``, ``1 - al``, ``1 - ar`` per channel in the data's dtype, from the formulas (NumPy)."""
    return [formulas.both_dx(al, ar), formulas.left_dtl(al), formulas.right_dtr(ar)]


def srelu_forward_numba(X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int | None, *,
                        out: np.ndarray | None = None) -> np.ndarray:
    """SReLU forward in one fused pass (same contract as the reference ``srelu_forward``).

    Args:
        X: float32 or float64 array (made C-contiguous if it is not).
        tl, al, tr, ar: parameters with one element or shape ``(X.shape[channel_axis],)`` (cast to ``X``'s
            dtype).
        channel_axis: the channel axis (``None`` when all parameters have one element).
        out: optional C-contiguous array of ``X``'s shape and dtype for ``Y``.

    Returns:
        ``Y`` with ``X``'s shape and dtype.
    """
    X = np.ascontiguousarray(X)
    params = channel_parameters(X, (tl, al, tr, ar), channel_axis)
    _check_dtype(X)
    outer, C, inner = params.layout(X.shape)
    values, bad = params.per_channel, params.nan_mask
    out = output_buffer(out, X)
    if X.size:
        _forward(X.reshape(outer, C, inner), *values, bad, out.reshape(outer, C, inner), X.dtype.type(np.nan))
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
    want = gradient_flags(compute_gradients)
    X = np.ascontiguousarray(X)
    dLdY = upstream_gradient(dLdY, X)
    params = channel_parameters(X, (tl, al, tr, ar), channel_axis)
    _check_dtype(X)
    outer, C, inner = params.layout(X.shape)
    values, bad = params.per_channel, params.nan_mask
    tl_, al_, tr_, ar_ = values
    dLdX = output_buffer(out, X) if want[0] else None
    sums = np.zeros((4, C))
    t = X.dtype.type
    fast = X.size and inner >= _PATTERN_MAX_INNER and not bad.any() and bool(np.all(tl_ < tr_)) \
        and all(np.isfinite(p).all() for p in values)
    if fast:
        rows = outer * C
        dx2 = dLdX.reshape(rows, inner) if dLdX is not None else np.empty((1, inner), X.dtype)
        kernel = _backward_fast if inner <= SEGMENT else _backward_fast_segments
        kernel(dLdY.reshape(rows, inner), X.reshape(rows, inner), *values, C, dx2, sums, t(0), t(1))
        with np.errstate(invalid="ignore", over="ignore"):
            fast = bool(np.isfinite(sums).all())
        if fast:  # dLdtl = (1 - al) * sum(dy * in_left), dLdtr = (1 - ar) * sum(dy * in_right), in float64
            # (+ 0.0 turns a -0.0 into 0.0, as the reference's sum of exact-zero products gives)
            sums[0] = formulas.left_dtl(al_.astype(np.float64)) * sums[0] + 0.0
            sums[2] = formulas.right_dtr(ar_.astype(np.float64)) * sums[2] + 0.0
        else:  # non-finite data (or an overflow): the exact version redoes everything
            sums[...] = 0.0
    if X.size and not fast:
        constants = (t(0), t(1), t(np.nan))
        shape3 = (outer, C, inner)
        period = C * inner
        with np.errstate(invalid="ignore", over="ignore"):  # NaN or infinite parameters give IEEE results
            per_channel = [*values, *_constants(al_, ar_)]
        if inner < _PATTERN_MAX_INNER and period <= _PATTERN_MAX_PERIOD and outer > 1:
            tiled = [np.ascontiguousarray(np.repeat(p, inner)) for p in per_channel]
            acc = np.zeros((4, period))
            dx2 = dLdX.reshape(outer, period) if dLdX is not None else np.empty((0, period), X.dtype)
            _backward_pattern(dLdY.reshape(outer, period), X.reshape(outer, period), *tiled,
                              np.repeat(bad, inner), want[0], dx2, acc, *constants)
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is an IEEE NaN here
                sums = acc.reshape(4, C, inner).sum(axis=2)
        else:
            dx3 = dLdX.reshape(shape3) if dLdX is not None else np.empty((0, C, inner), X.dtype)
            _backward_rows(dLdY.reshape(shape3), X.reshape(shape3), *per_channel, bad, want[0], dx3, sums,
                           *constants)
    gradients = [params.gradient(k, sums[k]) if want[k + 1] else None for k in range(4)]
    return (dLdX, *gradients)


def _check_dtype(X: np.ndarray) -> None:
    if X.dtype not in (np.float32, np.float64):
        raise TypeError(f"the numba kernels compute in float32 or float64; got X of dtype {X.dtype}")
