"""Fast SReLU forward and backward in pure NumPy: few passes, cache-sized blocks, no big temporaries.

These are the kernels behind :func:`srelu_lib.kernels.srelu_forward` and
:func:`~srelu_lib.kernels.srelu_backward` when numba is not installed (or the
``"numpy"`` backend is chosen).  They compute the same values as the
straightforward reference functions in :mod:`srelu_lib.kernels.reference` up to float
rounding, including ``tl > tr``, NaN and infinities, and are many times
faster on large arrays (``python -m srelu_lib.bench`` measures by how much)
while needing only a few cache-sized scratch buffers per thread instead of
several array-sized temporaries.  The book's chapter "Making it fast"
explains each trick.

How they are fast
-----------------
*Closed form without masks.*  For ``tl <= tr`` the value is
``clip(x, tl, tr) + al*min(x - tl, 0) + ar*max(x - tr, 0)``.  Each piece is
computed exactly as the region-wise definition computes it (``min(x, tl) - tl``
*is* ``x - tl`` on the left region and exactly ``0`` elsewhere, also for
``x = +inf``), so there is no cancellation and no ``0 * inf``.  For channels
with ``tl > tr`` the constant part becomes ``tl + tr - clip(x, tr, tl)``.
The backward forms ``dLdY * L`` (a boolean mask turned into 0.0/1.0), then
``(x - tl) * (dLdY * L)`` (an exact zero off the region for finite data) and
``dLdX = dLdY - dLdY*L + al*dLdY*L - dLdY*R + ar*dLdY*R`` (every term exact):
fourteen passes for all five gradients, with two float scratch blocks.

*Blocks.*  The flattened array is processed in blocks of about
:data:`BLOCK_ELEMENTS` elements, so every temporary lives in the L2 cache and
every ufunc call runs over contiguous memory.  In the canonical layout
``S..., C, B, T, U...`` the channel of flat element ``i`` is
``(i // inner) % C`` with ``inner`` the product of the dimensions after ``C``:
per-channel parameters form a pattern of period ``P = C * inner``.  When
``P`` fits in a block, the pattern is tiled once per call and reused by every
block; otherwise each block is a stack of rows of one channel each, and the
parameters broadcast as columns.

*Threads.*  NumPy's ufuncs release the GIL, and a block's passes run out of
the L2 cache, so the blocks are shared among :func:`default_workers` threads
(contiguous runs of blocks, one scratch set per thread; ``workers=1`` or the
environment variable ``SRELU_LIB_THREADS=1`` turns this off).  On the book's
2-core machine this makes a large forward or backward about 1.3-1.6 times
faster.  Values do not depend on the number of threads; parameter sums are
added run by run in a fixed order, so a given number of threads always gives
the same bits.

*Sums.*  Parameter gradients are block sums of ``dLdY * local derivative``
(products in the data's dtype, as in the reference): the column sums of a
block seen as ``(rows, width)`` are one BLAS matrix-vector product each,
accumulated across blocks in float64 and folded to one value per channel at
the end.

*Non-finite data.*  The fast formulas match IEEE semantics whenever ``X``,
``dLdY`` and the parameters are finite.  A block whose partial sums (or, when
no sum is computed, whose data) are not finite is recomputed with the exact
region-wise formulas, so NaN and infinities give the reference's results.

Example:
    >>> import numpy as np
    >>> from srelu_lib.kernels.numpy_blocked import srelu_forward_numpy
    >>> X = np.array([[-2.0, 0.0, 2.0], [-2.0, 0.0, 2.0]])    # (C=2, B=3)
    >>> srelu_forward_numpy(X, np.array([-1.0, -1.0]), 0.5, 1.0, np.array([2.0, 3.0]), channel_axis=0)
    array([[-1.5,  0. ,  3. ],
           [-1.5,  0. ,  4. ]])
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from .args import gradient_flags, output_buffer, upstream_gradient

__all__ = ["BLOCK_ELEMENTS", "BACKWARD_BLOCK_ELEMENTS", "default_workers", "srelu_forward_numpy",
           "srelu_backward_numpy"]

#: The number of elements per forward block. 64K float32 is 256 KiB, so the scratch blocks fit in a 1 MiB L2 cache.
BLOCK_ELEMENTS = 1 << 16
#: The number of elements per backward block. It makes about 20 ufunc calls per block, so larger blocks amortise
#: Python's per-call overhead better than they lose to L2 misses (measured on a 1 MiB-L2 machine).
BACKWARD_BLOCK_ELEMENTS = 1 << 17

#: Blocks per worker below which a call stays on the calling thread (thread hand-off costs tens of microseconds).
_MIN_BLOCKS_PER_WORKER = 4


def default_workers() -> int:
    """Threads the kernels use by default: the CPUs this process may run on, at most 8.

    Set the environment variable ``SRELU_LIB_THREADS`` (a positive integer) to choose another number; ``1``
    keeps every call on the calling thread.
    """
    value = os.environ.get("SRELU_LIB_THREADS")
    if value is not None:
        try:
            workers = int(value)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"SRELU_LIB_THREADS must be a positive integer; got {value!r}")
        return workers
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


_T = TypeVar("_T")
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _map_groups(function: Callable[[list], _T], blocks: list, workers: int | None) -> list[_T]:
    """``function`` over ``workers`` contiguous groups of ``blocks``, in order; this thread runs the first.

    NumPy's ufuncs release the GIL, so the groups run in parallel.  The grouping depends only on the
    number of blocks and workers, so results (including the order of float64 sums) are reproducible.
    """
    workers = default_workers() if workers is None else workers
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive integer or None; got {workers!r}")
    workers = min(workers, len(blocks) // _MIN_BLOCKS_PER_WORKER)
    if workers <= 1:
        return [function(blocks)]
    k = len(blocks)
    groups = [blocks[i * k // workers:(i + 1) * k // workers] for i in range(workers)]
    key = (os.getpid(), workers - 1)  # a forked child cannot use its parent's threads: it gets its own pool
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ThreadPoolExecutor(workers - 1, thread_name_prefix="srelu_lib")
    futures = [pool.submit(function, group) for group in groups[1:]]
    first = function(groups[0])  # the calling thread takes the first group
    return [first, *(future.result() for future in futures)]


# Per-channel sums are first accumulated over a stretch of at least this many elements of the
# parameter pattern, so that the row-sum over a block runs over long contiguous rows.
_MIN_SUM_WIDTH = 1024


# --- layout: which parameter value goes with which element of a block ------------------------
class _Plan:
    """How to walk a canonical-layout array in blocks and sum per channel.

    ``params`` are 1-D arrays of the data's dtype with 1 or ``C`` elements.
    ``blocks()`` yields ``(start, stop, shape, operands, key)``: the flat range of
    the block, the shape its flat views take, one operand per parameter
    (broadcastable to ``shape``), and a key that :meth:`partial` and
    :meth:`accumulate` use to add a block's products into the right channels.
    """

    def __init__(self, shape: tuple[int, ...], channel_axis: int | None, params: Sequence[np.ndarray],
                 block: int) -> None:
        self.size = math.prod(shape)
        per_channel = any(p.size != 1 for p in params)
        if channel_axis is None or not per_channel:
            self.mode, self.C, self.inner, self.outer = "scalar", 1, self.size, 1
        else:
            self.C = shape[channel_axis]
            self.inner = math.prod(shape[channel_axis + 1:])
            self.outer = math.prod(shape[:channel_axis])
            period = self.C * self.inner
            self.mode = "pattern" if period <= block // 2 else "rows"
        self.params = params
        self.block = block
        if self.size == 0:  # nothing to walk; the sums stay zero (one per channel when per-channel)
            self.mode, self.length, self.acc_width = "rows", 0, self.C
            return
        if self.mode == "scalar":
            self.length = min(block, self.size)
            self.operands = [p.reshape(())[()] for p in params]  # NumPy scalars keep the dtype
            self.acc_width = 1
        elif self.mode == "pattern":
            period = self.C * self.inner
            self.period = period
            self.width = period * max(1, math.ceil(_MIN_SUM_WIDTH / period))  # sum width, multiple of P
            self.width = min(self.width, period * (block // period))
            self.length = self.width * max(1, block // self.width)  # block length, multiple of width
            self.length = min(self.length, self.width * math.ceil(self.size / self.width))  # small arrays
            reps = self.length // period
            self.operands = [
                p.reshape(())[()] if p.size == 1 else _tiled(p, self.inner, reps) for p in params
            ]
            self.acc_width = self.width
            self.ones = np.ones(self.length // self.width, dtype=params[0].dtype)
        else:  # rows: one row per (outer index, channel), `inner` elements long
            self.rows_per_block = max(1, block // self.inner)
            self.length = min(self.size, self.rows_per_block * self.inner if self.inner <= block else block)
            self.acc_width = self.C

    def new_accumulator(self) -> np.ndarray:
        return np.zeros(self.acc_width, dtype=np.float64)

    def blocks(self) -> Iterator[tuple[int, int, tuple[int, ...], list[Any], Any]]:
        size = self.size
        if size == 0:
            return
        if self.mode in ("scalar", "pattern"):
            step = self.length
            for start in range(0, size, step):
                stop = min(start + step, size)
                n = stop - start
                ops = self.operands if self.mode == "scalar" or n == step else [
                    o if np.ndim(o) == 0 else o[:n] for o in self.operands
                ]
                yield start, stop, (n,), ops, n
        elif self.inner > self.block:  # long rows: split each row; parameters are scalars per piece
            for row in range(self.outer * self.C):
                c = row % self.C
                ops = [p[c] if p.size > 1 else p[0] for p in self.params]
                base = row * self.inner
                for piece in range(0, self.inner, self.block):
                    start = base + piece
                    stop = base + min(piece + self.block, self.inner)
                    yield start, stop, (stop - start,), ops, c
        else:  # several whole rows per block; parameters broadcast as columns
            nrows = self.outer * self.C
            for r0 in range(0, nrows, self.rows_per_block):
                r1 = min(r0 + self.rows_per_block, nrows)
                channels = np.arange(r0, r1) % self.C
                ops = [p[channels][:, None] if p.size > 1 else p[0] for p in self.params]
                yield r0 * self.inner, r1 * self.inner, (r1 - r0, self.inner), ops, channels

    def partial(self, product: np.ndarray, key: Any, out: np.ndarray | None = None) -> Any:
        """A block's sums of ``product`` (shaped like the block), before they are added per channel.

        ``out`` (pattern mode only): a ``width``-long array of the data's dtype that receives the
        column sums of a block made of whole rows (one BLAS call, no allocation).
        """
        if self.mode == "scalar" or (self.mode == "rows" and not isinstance(key, np.ndarray)):
            return float(product.sum())
        if self.mode == "pattern":
            flat = product.reshape(-1)
            whole = flat.size - flat.size % self.width
            if out is not None and whole == flat.size:
                rows = flat.reshape(-1, self.width)
                ones = self.ones if self.ones.size == rows.shape[0] else np.ones(rows.shape[0], rows.dtype)
                return np.matmul(ones, rows, out=out)
            part = np.zeros(self.width)
            if whole:  # column sums of the (rows, width) block as one BLAS matrix-vector product
                rows = flat[:whole].reshape(-1, self.width)
                part += np.ones(rows.shape[0], dtype=rows.dtype) @ rows
            if whole < flat.size:
                part[: self.period] += flat[whole:].reshape(-1, self.period).sum(axis=0, dtype=np.float64)
            return part
        return product.sum(axis=1, dtype=np.float64)

    def accumulate(self, acc: np.ndarray, part: Any, key: Any) -> None:
        if self.mode == "scalar":
            acc[0] += part
        elif self.mode == "pattern":
            acc += part
        elif isinstance(key, np.ndarray):
            acc += np.bincount(key, weights=part, minlength=self.C)
        else:
            acc[key] += part

    def fold(self, acc: np.ndarray) -> np.ndarray:
        """Per-channel (or total) float64 sums from an accumulator."""
        if self.mode == "pattern":
            return acc.reshape(-1, self.C, self.inner).sum(axis=(0, 2))
        return acc


def _tiled(p: np.ndarray, inner: int, reps: int) -> np.ndarray:
    """``np.tile(np.repeat(p, inner), reps)`` written in one broadcast pass (no intermediate arrays)."""
    pattern = np.empty((reps, p.size, inner), dtype=p.dtype)
    pattern[...] = p[:, None]
    return pattern.reshape(-1)


def _as_params(params: Sequence[Any], dtype: np.dtype) -> list[np.ndarray]:
    return [np.asarray(p, dtype=dtype).reshape(-1) for p in params]


def _check_channel_axis(X: np.ndarray, channel_axis: int | None, params: Sequence[np.ndarray]) -> int | None:
    if channel_axis is None:
        for name, p in zip(("tl", "al", "tr", "ar"), params, strict=True):
            if p.size != 1:
                raise ValueError(f"{name} must have 1 element when channel_axis is None; got {p.size}")
        return None
    if not -X.ndim <= channel_axis < X.ndim:
        raise ValueError(f"channel_axis must be an axis of X (ndim {X.ndim}); got {channel_axis}")
    channel_axis %= X.ndim
    C = X.shape[channel_axis]
    for name, p in zip(("tl", "al", "tr", "ar"), params, strict=True):
        if p.size not in (1, C):
            raise ValueError(f"{name} must have 1 or C = {C} elements; got {p.size}")
    return channel_axis


def _contiguous(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


# --- exact region-wise formulas for one block (the fallback for non-finite data) ------------------
def _exact_forward(x: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any, y: np.ndarray) -> None:
    L = x <= tl
    R = x >= tr
    with np.errstate(invalid="ignore", over="ignore"):
        left = tl + al * (x - tl)
        right = tr + ar * (x - tr)
        value = np.where(R, right, np.where(L, left, x))
        value = np.where(L & R, left + right - x, value)
        bad = np.isnan(tl) | np.isnan(al) | np.isnan(tr) | np.isnan(ar)
        y[...] = np.where(bad, np.nan, value)


def _exact_backward(dy: np.ndarray, x: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any, want: tuple[bool, ...],
                    dx: np.ndarray | None) -> list[np.ndarray | None]:
    """dLdX into ``dx`` and the per-element products dY*L, dY*L*(x - tl), dY*R, dY*R*(x - tr)."""
    L = x <= tl
    R = x >= tr
    undefined = np.isnan(x) | np.isnan(tl) | np.isnan(al) | np.isnan(tr) | np.isnan(ar)
    nan = x.dtype.type(np.nan)
    products: list[np.ndarray | None] = [None] * 4
    with np.errstate(invalid="ignore", over="ignore"):
        if dx is not None:
            slope = np.where(L & R, al + ar - 1, np.where(R, ar, np.where(L, al, 1)))
            dx[...] = dy * np.where(undefined, nan, slope).astype(x.dtype, copy=False)
        locals_ = (
            lambda: np.where(L, 1, 0),  # the factor (1 - al) is applied to the sum, as in the fast path
            lambda: np.where(L, x - tl, 0),
            lambda: np.where(R, 1, 0),
            lambda: np.where(R, x - tr, 0),
        )
        for k in range(4):
            if want[k + 1]:
                local = np.where(undefined, nan, locals_[k]()).astype(x.dtype, copy=False)
                products[k] = dy * local
    return products


# --- forward -------------------------------------------------------------------------------------
def srelu_forward_numpy(X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int | None, *,
                        out: np.ndarray | None = None, block: int = BLOCK_ELEMENTS,
                        workers: int | None = None) -> np.ndarray:
    """SReLU forward of a plain array, blocked and mask-free.

    Use it for large arrays when numba is unavailable; for a few thousand
    elements the reference :func:`srelu_lib.kernels.srelu_forward_reference` is
    as fast.  Same contract as the reference: parameters with 1 or ``C``
    elements, computation in ``X``'s dtype (parameters are cast to it).

    Caveat: ``X`` must be C-contiguous to avoid a copy (a non-contiguous
    input is copied once).

    Args:
        X: float32 or float64 array.
        tl, al, tr, ar: thresholds and slopes, each with 1 or ``X.shape[channel_axis]`` elements.
        channel_axis: the channel axis of ``X`` (``None`` when every parameter has one element).
        out: optional C-contiguous array of ``X``'s shape and dtype to write ``Y`` into.
        block: elements per block (tuning knob; results do not depend on it beyond rounding).
        workers: threads sharing the blocks (``None``: :func:`default_workers`); the values do not
            depend on it.

    Returns:
        ``Y`` (``out`` when given), with ``X``'s shape and dtype.

    Example:
        >>> import numpy as np
        >>> srelu_forward_numpy(np.array([-2.0, 0.0, 2.0]), -1.0, 0.5, 1.0, 2.0, None)
        array([-1.5,  0. ,  3. ])
    """
    X = _contiguous(np.asarray(X))
    params = _as_params((tl, al, tr, ar), X.dtype)
    channel_axis = _check_channel_axis(X, channel_axis, params)
    out = output_buffer(out, X)
    if X.size == 0:
        return out
    tl_, al_, tr_, ar_ = params
    finite = all(np.isfinite(p).all() for p in params)
    swapped = tl_ > tr_
    any_swapped = bool(swapped.any())
    if any_swapped:  # constant part c = sign*clip(x, lo, hi) + shift, shift = tl + tr on swapped channels
        lo, hi = np.minimum(tl_, tr_), np.maximum(tl_, tr_)
        sign = np.where(swapped, -1, 1).astype(X.dtype)
        shift = np.where(swapped, tl_ + tr_, 0).astype(X.dtype)
        plan_params = [tl_, al_, tr_, ar_, lo, hi, sign, shift]
    else:
        plan_params = [tl_, al_, tr_, ar_, tl_, tr_]
    plan = _Plan(X.shape, channel_axis, plan_params, block)
    x_flat, y_flat = X.reshape(-1), out.reshape(-1)

    def run(blocks: list) -> None:
        scratch = np.empty(plan.length, dtype=X.dtype)  # one per thread
        with np.errstate(invalid="ignore", over="ignore"):  # IEEE NaN/inf from non-finite data, as in the reference
            _forward_blocks(blocks, x_flat, y_flat, scratch, finite, any_swapped)

    _map_groups(run, list(plan.blocks()), workers)
    return out


def _forward_blocks(blocks: list, x_flat: np.ndarray, y_flat: np.ndarray, scratch: np.ndarray, finite: bool,
                    any_swapped: bool) -> None:
    for start, stop, shape, ops, _ in blocks:
        x = x_flat[start:stop].reshape(shape)
        y = y_flat[start:stop].reshape(shape)
        tl, al, tr, ar, lo, hi = ops[:6]
        if not finite:
            _exact_forward(x, tl, al, tr, ar, y)
            continue
        t = scratch[: stop - start].reshape(shape)
        np.maximum(x, lo, out=y)  # clip(x, lo, hi): the constant part of each piece
        np.minimum(y, hi, out=y)
        if any_swapped:
            y *= ops[6]
            y += ops[7]
        np.minimum(x, tl, out=t)  # min(x - tl, 0), exactly x - tl on the left piece and 0 elsewhere
        t -= tl
        t *= al
        y += t
        np.maximum(x, tr, out=t)  # max(x - tr, 0)
        t -= tr
        t *= ar
        y += t


# --- backward ------------------------------------------------------------------------------------
def srelu_backward_numpy(dLdY: np.ndarray, X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any,
                         channel_axis: int | None, compute_gradients: Sequence[bool], *,
                         out: np.ndarray | None = None, block: int = BACKWARD_BLOCK_ELEMENTS,
                         workers: int | None = None) -> tuple[np.ndarray | None, ...]:
    """SReLU backward of plain arrays, blocked: ``(dLdX, dLdtl, dLdal, dLdtr, dLdar)``.

    Use it for large arrays when numba is unavailable.  Same contract as the
    reference :func:`srelu_lib.kernels.srelu_backward_reference`: gradients in
    input order, ``None`` where ``compute_gradients`` is false, ``dLdX`` in
    ``X``'s dtype, parameter gradients summed in float64 and returned with the
    parameter's shape and dtype.

    Caveat: the float64 sums run in a different order than the reference's,
    so parameter gradients agree to rounding, not bit for bit.

    Args:
        dLdY: gradient of the loss with respect to ``Y`` (``X``'s shape).
        X, tl, al, tr, ar: the forward inputs.
        channel_axis: the channel axis of ``X`` (``None`` when every parameter has one element).
        compute_gradients: five flags, in input order.
        out: optional C-contiguous array for ``dLdX``.
        block: elements per block.
        workers: threads sharing the blocks (``None``: :func:`default_workers`); each sums its own
            contiguous run of blocks and the runs are added in order, so a given ``workers`` always gives
            the same bits.

    Returns:
        The five gradients, ``None`` where not requested.

    Example:
        >>> import numpy as np
        >>> X = np.array([-2.0, 0.0, 2.0])
        >>> dX, dtl, dal, dtr, dar = srelu_backward_numpy(np.ones(3), X, -1.0, 0.5, 1.0, 2.0, None, [True] * 5)
        >>> dX, float(dtl), float(dal), float(dtr), float(dar)
        (array([0.5, 1. , 2. ]), 0.5, -1.0, -1.0, 1.0)
    """
    want = gradient_flags(compute_gradients)
    X = _contiguous(np.asarray(X))
    dLdY = upstream_gradient(dLdY, X)
    originals = [np.asarray(p) for p in (tl, al, tr, ar)]
    params = _as_params(originals, X.dtype)
    channel_axis = _check_channel_axis(X, channel_axis, params)
    dLdX = None
    if want[0]:
        dLdX = output_buffer(out, X)
    plan = _Plan(X.shape, channel_axis, params, block)
    finite_params = all(np.isfinite(p).all() for p in params)
    x_flat, dy_flat = X.reshape(-1), dLdY.reshape(-1)
    dx_flat = dLdX.reshape(-1) if dLdX is not None else None

    def run(blocks: list) -> np.ndarray:
        return _backward_blocks(plan, blocks, x_flat, dy_flat, dx_flat, want, finite_params)

    # accumulators for: sum dY*L, sum dY*L*(x - tl), sum dY*R, sum dY*R*(x - tr); one per group, added in order
    sums4 = np.zeros((4, plan.acc_width))
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf sums are IEEE results
        for part in _map_groups(run, list(plan.blocks()), workers):
            sums4 += part
    sums = [sums4[k] if want[k + 1] else None for k in range(4)]
    gradients: list[np.ndarray | None] = []
    for k, (acc, original) in enumerate(zip(sums, originals, strict=True)):
        if acc is None:
            gradients.append(None)
            continue
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf sums are IEEE results
            total = plan.fold(acc)
            if k % 2 == 0:  # dLdtl = (1 - al) * sum(dY*L), dLdtr = (1 - ar) * sum(dY*R)
                slope = params[k + 1].astype(np.float64)
                total = (1.0 - (slope if slope.size != 1 else slope[0])) * total + 0.0  # -0.0 -> 0.0
        if original.size == 1 and total.size != 1:  # one value shared by all channels
            total = np.sum(total)
        gradients.append(np.asarray(total).reshape(original.shape).astype(original.dtype, copy=False))
    return (dLdX, *gradients)


def _backward_blocks(plan: _Plan, blocks: list, x_flat: np.ndarray, dy_flat: np.ndarray,
                     dx_flat: np.ndarray | None, want: tuple[bool, ...], finite_params: bool) -> np.ndarray:
    """The backward over a run of blocks: writes their dLdX, returns their four float64 sums ``(4, acc_width)``."""
    need_left = want[0] or want[1] or want[2]
    need_right = want[0] or want[3] or want[4]
    dtype = x_flat.dtype
    # accumulators for: sum dY*L, sum dY*L*(x - tl), sum dY*R, sum dY*R*(x - tr)
    sums4 = np.zeros((4, plan.acc_width))
    sums = [sums4[k] if want[k + 1] else None for k in range(4)]
    # pattern mode: the four block sums land in one scratch array, checked and accumulated at once
    part_buf = np.empty((4, plan.acc_width), dtype=dtype) if plan.mode == "pattern" else None
    all_sums = all(want[1:])
    n_buf = plan.length
    t, z = (np.empty(n_buf, dtype=dtype) for _ in range(2))
    mask = np.empty(n_buf, dtype=bool)
    # An exact block-sum check sees every non-finite x and dLdY only when both products with
    # (x - t) are summed; otherwise test the data itself.
    sums_see_everything = want[2] and want[4]
    with np.errstate(invalid="ignore", over="ignore"):
        for start, stop, shape, ops, key in blocks:
            x = x_flat[start:stop].reshape(shape)
            dy = dy_flat[start:stop].reshape(shape)
            dx = dx_flat[start:stop].reshape(shape) if dx_flat is not None else None
            n = stop - start
            fast = finite_params
            if fast and not sums_see_everything:
                fast = math.isfinite(float(x.sum())) and math.isfinite(float(dy.sum()))
            part_out = part_buf if part_buf is not None and n % plan.width == 0 else None
            if fast:
                parts = _fast_backward_block(plan, key, x, dy, dx, ops, want, need_left, need_right,
                                             t[:n].reshape(shape), z[:n].reshape(shape), mask[:n].reshape(shape),
                                             part_out)
                if parts is not None and part_out is not None and all_sums:  # the common case
                    sums4 += part_out
                    continue
            if not fast or parts is None:  # non-finite data in this block: the exact formulas
                tl, al, tr, ar = ops
                products = _exact_backward(dy, x, tl, al, tr, ar, want, dx)
                parts = [plan.partial(p, key) if p is not None else None for p in products]
            for acc, part in zip(sums, parts, strict=True):
                if acc is not None:
                    plan.accumulate(acc, part, key)
    return sums4


def _fast_backward_block(plan: _Plan, key: Any, x: np.ndarray, dy: np.ndarray, dx: np.ndarray | None,
                         ops: list[Any], want: tuple[bool, ...], need_left: bool, need_right: bool,
                         t: np.ndarray, z: np.ndarray, m: np.ndarray,
                         part_out: np.ndarray | None) -> list[Any] | None:
    """One block with finite parameters; ``None`` when its sums reveal non-finite data.

    Fourteen elementwise passes for all five gradients, two float scratch blocks ``t`` and ``z`` and a
    boolean one ``m``.  ``part_out`` (optional, shape ``(4, width)``) receives the four block sums.
    ``dx`` may be written before non-finite data is detected; the caller then overwrites it.
    """
    tl, al, tr, ar = ops
    parts: list[Any] = [None] * 4
    outs: list[Any] = [None] * 4 if part_out is None else list(part_out)
    for side, (threshold, slope, compare) in enumerate(((tl, al, np.less_equal), (tr, ar, np.greater_equal))):
        if not (need_left if side == 0 else need_right):
            continue
        compare(x, threshold, out=m)  # L (x <= tl) or R (x >= tr)
        np.copyto(t, m)  # dLdY * L: exactly dLdY or 0 (bool to float, then a float product)
        t *= dy
        if want[1 + 2 * side]:
            parts[2 * side] = plan.partial(t, key, outs[2 * side])
        if want[2 + 2 * side]:  # dLdY * L * (x - tl): (x - tl) * 0 is an exact 0 for finite x
            np.subtract(x, threshold, out=z)
            z *= t
            parts[2 * side + 1] = plan.partial(z, key, outs[2 * side + 1])
        if dx is not None:  # dLdX = dY - dY*L + al*dY*L - dY*R + ar*dY*R: every term exact, no cancellation
            np.multiply(t, slope, out=z)
            if side == 0:
                np.subtract(dy, t, out=dx)
            else:
                dx -= t
            dx += z
    if part_out is not None and all(want[1:]):
        if not np.isfinite(part_out).all():
            return None
    elif not all(p is None or np.isfinite(p).all() for p in parts):
        return None
    return parts
