"""Fast SReLU forward and backward in pure NumPy: few passes, cache-sized blocks, no big temporaries.

These are the kernels behind :func:`srelu_lib.kernels.srelu_forward` and
:func:`~srelu_lib.kernels.srelu_backward` for the ``"numpy"`` backend, and for
``"auto"`` on large arrays when numba is not installed.  They compute the same
values as the straightforward reference functions in
:mod:`srelu_lib.kernels.reference` up to float rounding, including ``tl > tr``,
NaN and infinities, and are many times faster on large arrays (the
benchmark, ``python3 dev.py bench``, which runs ``benchmarks/bench_srelu.py``,
measures by how much) while needing only a few
cache-sized scratch buffers per thread instead of several array-sized
temporaries.  The book's chapter "Making it fast" explains each trick.

Caveat: on small arrays they are *slower* than the reference.  Each call
plans its blocks, tiles the parameters and allocates scratch blocks, a fixed
cost of some tens of microseconds; below about ``AUTO_MIN_SIZE`` elements
(16K) that costs more than the passes it saves.  That size is a rough
threshold: where the two cross depends on the layout, the machine and its
load.  In runs on the project's 2-core VM (float32, one thread)
the blocked kernels were sometimes slower at 16K-64K elements of ``"SSCB"``
data.  ``set_backend("numpy")``
uses them for every size all the same (a forced backend is never swapped for
another); ``"auto"`` without numba takes the reference below that size.

How they are fast
-----------------
*Closed form without masks.*  For ``tl <= tr`` the value is
``clip(x, tl, tr) + al*min(x - tl, 0) + ar*max(x - tr, 0)``.  Each piece is
computed exactly as the region-wise definition computes it (``min(x, tl) - tl``
*is* ``x - tl`` on the left region and exactly ``0`` elsewhere, also for
``x = +inf``), so there is no cancellation and no ``0 * inf``.  For channels
with ``tl > tr`` the constant part becomes ``tl + tr - clip(x, tr, tl)``.
The backward forms ``dLdY * in_left`` (the boolean mask ``in_left = x <= tl``
turned into 0.0/1.0), then ``(x - tl) * (dLdY * in_left)`` (an exact zero off
the region for finite data), the same with ``in_right = x >= tr``, and
``dLdX = dLdY - dLdY*in_left + al*dLdY*in_left - dLdY*in_right + ar*dLdY*in_right``
(every term exact):
fourteen passes for all five gradients, with two float scratch blocks.

*Blocks.*  The flattened array is processed in blocks of about
:data:`BLOCK_ELEMENTS` elements, so the scratch blocks are cache-sized and
every ufunc call runs over contiguous memory (the chapter "Making it fast"
times passes over one such block in the cache against passes through main
memory).  In the canonical layout
``S..., C, B, T, U...`` the channel of flat element ``i`` is
``(i // inner) % C`` with ``inner`` the product of the dimensions after ``C``:
per-channel parameters form a pattern of period ``P = C * inner``.  When
``P`` fits in a block and the array repeats it often enough
(:data:`~srelu_lib.kernels.blocks.PATTERN_MIN_REPEATS`), the pattern is tiled
once per call and reused by every block; otherwise each block is a stack of rows of one channel each, and the
parameters broadcast as columns (:mod:`srelu_lib.kernels.blocks` holds these
plans).

*Threads.*  NumPy's ufuncs release the GIL, and a block's passes run mostly
out of the cache, so the blocks are shared among
:func:`~srelu_lib.kernels.threads.default_workers` threads
(:mod:`srelu_lib.kernels.threads`; contiguous runs of blocks, one scratch set
per thread; ``workers=1`` or the environment variable ``SRELU_LIB_THREADS=1``
turns this off).  Whether that pays depends on the machine and on what else
runs on it: the benchmark measures it (rows ``numpy`` and ``numpy[1 thread]``)
and the chapter "Making it fast" reports the book's run.  When the other
cores are busy, more threads can be slower than one.  Values do not depend
on the number of threads; parameter sums are
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
region-wise formulas of the reference (:func:`~srelu_lib.kernels.reference.region_values`,
:class:`~srelu_lib.kernels.reference.LocalDerivatives`), so NaN and
infinities give the reference's results.

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
from collections.abc import Sequence
from typing import Any

import numpy as np

from .args import channel_parameters, gradient_flags, output_buffer, upstream_gradient
from .blocks import Block, BlockPlan, make_plan
from .formulas import left_dtl, right_dtr
from .reference import LocalDerivatives, region_values
from .threads import default_workers, map_groups

__all__ = ["BLOCK_ELEMENTS", "BACKWARD_BLOCK_ELEMENTS", "AUTO_MIN_SIZE", "default_workers", "srelu_forward_numpy",
           "srelu_backward_numpy"]

#: The number of elements per forward block.  A 64K-element float32 block is 256 KiB, so the one scratch block
#: fits in the 512 KiB L2 cache per core of the book's machine (lscpu; 32 MiB L3).  Of ``2**15`` to ``2**18`` it was the
#: fastest there: one thread, float32 of shape (100, 100, 32, 31), medians of 7 rounds, 22 ms against 23.5-36 ms.
BLOCK_ELEMENTS = 1 << 16
#: The number of elements per backward block.  It makes about 20 ufunc calls per block, so larger blocks amortise
#: Python's per-call overhead.  Its two float scratch blocks (512 KiB each in float32) no longer fit in the book's
#: machine's 512 KiB L2, yet ``2**17`` was the fastest of ``2**15`` to ``2**18`` there (same measurement as above: 47 ms
#: against 53-70 ms).
BACKWARD_BLOCK_ELEMENTS = 1 << 17
#: Below this many elements the reference kernels are usually faster than these (a rough threshold, as the
#: module's caveat says); the ``"auto"`` backend without numba uses the reference there.
AUTO_MIN_SIZE = 1 << 14


def _contiguous(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


# --- forward -------------------------------------------------------------------------------------
def srelu_forward_numpy(X: np.ndarray, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int | None, *,
                        out: np.ndarray | None = None, block: int = BLOCK_ELEMENTS,
                        workers: int | None = None) -> np.ndarray:
    """SReLU forward of a plain array, blocked and mask-free.

    Use it for large arrays when numba is unavailable.  Below about
    :data:`AUTO_MIN_SIZE` elements it is slower than the reference
    :func:`srelu_lib.kernels.srelu_forward_reference` (a fixed set-up cost per
    call), which is why the ``"auto"`` backend does not call it there.  Same
    contract as the reference: parameters with one element or shape ``(C,)``,
    computation in ``X``'s dtype (parameters are cast to it).

    Caveat: ``X`` must be C-contiguous to avoid a copy (a non-contiguous
    input is copied once).

    Args:
        X: float32 or float64 array.
        tl, al, tr, ar: thresholds and slopes, each with one element or shape ``(X.shape[channel_axis],)``.
        channel_axis: the channel axis of ``X`` (``None`` when every parameter has one element).
        out: optional C-contiguous array of ``X``'s shape and dtype to write ``Y`` into.
        block: elements per block (tuning knob; results do not depend on it beyond rounding).
        workers: threads sharing the blocks (``None``:
            :func:`~srelu_lib.kernels.threads.default_workers`); the values do not depend on it.

    Returns:
        ``Y`` (``out`` when given), with ``X``'s shape and dtype.

    Example:
        >>> import numpy as np
        >>> srelu_forward_numpy(np.array([-2.0, 0.0, 2.0]), -1.0, 0.5, 1.0, 2.0, None)
        array([-1.5,  0. ,  3. ])
    """
    X = _contiguous(np.asarray(X))
    params = channel_parameters(X, (tl, al, tr, ar), channel_axis)
    out = output_buffer(out, X)
    if X.size == 0:
        return out
    tl_, al_, tr_, ar_ = params.values
    finite = all(np.isfinite(p).all() for p in params.values)
    swapped = tl_ > tr_
    any_swapped = bool(swapped.any())
    if any_swapped:  # constant part c = sign*clip(x, lo, hi) + shift, shift = tl + tr on swapped channels
        lo, hi = np.minimum(tl_, tr_), np.maximum(tl_, tr_)
        sign = np.where(swapped, -1, 1).astype(X.dtype)
        shift = np.where(swapped, tl_ + tr_, 0).astype(X.dtype)
        plan_params = [tl_, al_, tr_, ar_, lo, hi, sign, shift]
    else:
        plan_params = [tl_, al_, tr_, ar_, tl_, tr_]
    plan = make_plan(X.shape, params.channel_axis, plan_params, block)
    x_flat, y_flat = X.reshape(-1), out.reshape(-1)

    def run(blocks: list[Block]) -> None:
        scratch = np.empty(plan.length, dtype=X.dtype)  # one per thread
        with np.errstate(invalid="ignore", over="ignore"):  # IEEE NaN/inf from non-finite data, as in the reference
            _forward_blocks(blocks, x_flat, y_flat, scratch, finite, any_swapped)

    map_groups(run, list(plan.blocks()), workers)
    return out


def _forward_blocks(blocks: list[Block], x_flat: np.ndarray, y_flat: np.ndarray, scratch: np.ndarray,
                    finite: bool, any_swapped: bool) -> None:
    for start, stop, shape, ops, _ in blocks:
        x = x_flat[start:stop].reshape(shape)
        y = y_flat[start:stop].reshape(shape)
        tl, al, tr, ar, lo, hi = ops[:6]
        if not finite:  # non-finite parameters: the reference's region-wise formulas
            y[...] = region_values(x, tl, al, tr, ar)
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

    Use it for large arrays when numba is unavailable; like the forward, it is
    slower than the reference below about :data:`AUTO_MIN_SIZE` elements.  Same
    contract as the reference :func:`srelu_lib.kernels.srelu_backward_reference`:
    gradients in input order, ``None`` where ``compute_gradients`` is false,
    ``dLdX`` in ``X``'s dtype, parameter gradients summed in float64 and
    returned with the parameter's shape and dtype.

    Caveat: the float64 sums run in a different order than the reference's,
    so parameter gradients agree to rounding, not bit for bit.

    Args:
        dLdY: gradient of the loss with respect to ``Y`` (``X``'s shape).
        X, tl, al, tr, ar: the forward inputs.
        channel_axis: the channel axis of ``X`` (``None`` when every parameter has one element).
        compute_gradients: five flags, in input order.
        out: optional C-contiguous array for ``dLdX``.
        block: elements per block.
        workers: threads sharing the blocks (``None``:
            :func:`~srelu_lib.kernels.threads.default_workers`); each sums its own contiguous run of
            blocks and the runs are added in order, so a given ``workers`` always gives the same bits.

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
    params = channel_parameters(X, (tl, al, tr, ar), channel_axis)
    dLdX = output_buffer(out, X) if want[0] else None
    plan = make_plan(X.shape, params.channel_axis, params.values, block)
    finite_params = all(np.isfinite(p).all() for p in params.values)
    x_flat, dy_flat = X.reshape(-1), dLdY.reshape(-1)
    dx_flat = dLdX.reshape(-1) if dLdX is not None else None

    def run(blocks: list[Block]) -> np.ndarray:
        return _backward_blocks(plan, blocks, x_flat, dy_flat, dx_flat, want, finite_params)

    # accumulators for: sum dY*in_left, sum dY*in_left*(x - tl), sum dY*in_right, sum dY*in_right*(x - tr);
    # one per group, added in order
    sums4 = np.zeros((4, plan.acc_width))
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf sums are IEEE results
        for part in map_groups(run, list(plan.blocks()), workers):
            sums4 += part
    gradients: list[np.ndarray | None] = []
    for k in range(4):
        if not want[k + 1]:
            gradients.append(None)
            continue
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf sums are IEEE results
            total = plan.fold(sums4[k])
            if k % 2 == 0:  # dLdtl = (1 - al) * sum(dY*in_left), dLdtr = (1 - ar) * sum(dY*in_right)
                slope = params.values[k + 1].astype(np.float64)
                factor = left_dtl(slope) if k == 0 else right_dtr(slope)
                total = (factor if factor.size != 1 else factor[0]) * total + 0.0  # -0.0 -> 0.0
        gradients.append(params.gradient(k, total))
    return (dLdX, *gradients)


def _backward_blocks(plan: BlockPlan, blocks: list[Block], x_flat: np.ndarray, dy_flat: np.ndarray,
                     dx_flat: np.ndarray | None, want: tuple[bool, ...], finite_params: bool) -> np.ndarray:
    """The backward over a run of blocks: writes their dLdX, returns their four float64 sums ``(4, acc_width)``."""
    need_left = want[0] or want[1] or want[2]
    need_right = want[0] or want[3] or want[4]
    dtype = x_flat.dtype
    # accumulators for: sum dY*in_left, sum dY*in_left*(x - tl), sum dY*in_right, sum dY*in_right*(x - tr)
    sums4 = np.zeros((4, plan.acc_width))
    sums = [sums4[k] if want[k + 1] else None for k in range(4)]
    # where the plan allows it, the four block sums land in one scratch array, checked and accumulated at once
    part_buf = plan.sum_buffer(dtype)
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
            part_out = part_buf if part_buf is not None and plan.fills_buffer(n) else None
            if fast:
                parts = _fast_backward_block(plan, key, x, dy, dx, ops, want, need_left, need_right,
                                             t[:n].reshape(shape), z[:n].reshape(shape), mask[:n].reshape(shape),
                                             part_out)
                if parts is not None and part_out is not None and all_sums:  # the common case
                    sums4 += part_out
                    continue
            if not fast or parts is None:  # non-finite data in this block: the reference's formulas
                parts = [None if p is None else plan.partial(p, key) for p in _exact_products(dy, x, ops, want, dx)]
            for acc, part in zip(sums, parts, strict=True):
                if acc is not None:
                    plan.accumulate(acc, part, key)
    return sums4


def _exact_products(dy: np.ndarray, x: np.ndarray, ops: list[Any], want: tuple[bool, ...],
                    dx: np.ndarray | None) -> list[np.ndarray | None]:
    """dLdX into ``dx`` and the products dY*in_left, dY*in_left*(x - tl), dY*in_right, dY*in_right*(x - tr).

    Region-wise, as in the reference.

    (The factors ``1 - al`` and ``1 - ar`` of the threshold derivatives are applied to the sums, as in the
    fast path.)
    """
    tl, al, tr, ar = ops
    local = LocalDerivatives(x, tl, al, tr, ar)
    if dx is not None:
        dx[...] = dy * local.dYdX()
    pieces = (local.left_mask, local.dYdal, local.right_mask, local.dYdar)
    return [dy * piece() if wanted else None for piece, wanted in zip(pieces, want[1:], strict=True)]


def _fast_backward_block(plan: BlockPlan, key: Any, x: np.ndarray, dy: np.ndarray, dx: np.ndarray | None,
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
        compare(x, threshold, out=m)  # in_left (x <= tl) or in_right (x >= tr)
        np.copyto(t, m)  # dLdY * in_left: exactly dLdY or 0 (bool to float, then a float product)
        t *= dy
        if want[1 + 2 * side]:
            parts[2 * side] = plan.partial(t, key, outs[2 * side])
        if want[2 + 2 * side]:  # dLdY * in_left * (x - tl): (x - tl) * 0 is an exact 0 for finite x
            np.subtract(x, threshold, out=z)
            z *= t
            parts[2 * side + 1] = plan.partial(z, key, outs[2 * side + 1])
        if dx is not None:  # dLdX = dY - dY*in_left + al*dY*in_left - dY*in_right + ar*dY*in_right: every term exact
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
