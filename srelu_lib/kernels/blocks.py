"""Walking a canonical-layout array in cache-sized blocks, and summing per channel on the way.

The blocked NumPy kernels (:mod:`srelu_lib.kernels.numpy_blocked`) see the data as flat memory.  In
the canonical layout ``S..., C, B, T, U...`` the channel of flat element ``i`` is
``(i // inner) % C``, with ``inner`` the product of the dimensions after ``C``, so per-channel
parameters form a pattern of period ``P = C * inner``.  A *plan* says how to cut the flat array into
blocks, which parameter values go with each block, and how to add a block's products into per-channel
sums.  :func:`make_plan` picks one of four:

- :class:`ScalarPlan`: every parameter has one element; blocks of equal length, scalar operands.
- :class:`PatternPlan`: the period fits twice in a block and the array holds it at least
  :data:`PATTERN_MIN_REPEATS` times; the parameters are tiled once per call into a
  block-long pattern that every block reuses, and sums are column sums of the block seen as
  ``(rows, width)`` with ``width`` a multiple of ``P``.
- :class:`RowsPlan`: each block is a stack of whole rows of ``inner`` elements, one channel per row;
  the parameters broadcast as columns.
- :class:`LongRowsPlan`: rows longer than a block are cut into pieces; each piece has one channel, so
  the parameters are scalars.

(An empty array gets an :class:`EmptyPlan`.)  Every plan has the same attributes and methods.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Block", "BlockPlan", "ScalarPlan", "PatternPlan", "RowsPlan", "LongRowsPlan", "EmptyPlan", "make_plan",
           "PATTERN_MIN_REPEATS"]

# Per-channel sums are first accumulated over a stretch of at least this many elements of the
# parameter pattern, so that the row-sum over a block runs over long contiguous rows.
_MIN_SUM_WIDTH = 1024

#: A pattern pays for its per-call set-up (tiling the parameters, period-wide float64 accumulators)
#: only when the array repeats it often.  Measured on one thread, float32, channel axis 1: a backward
#: of shape (1, 8, 4096) took 3.3 ms as a pattern and 0.33 ms as rows; (16, 8, 4096) took 2.4 ms as a
#: pattern and 3.0 ms as rows; (16, 32, 1024) 2.4 and 2.9 ms.
PATTERN_MIN_REPEATS = 16


class Block(NamedTuple):
    """One block: the flat range ``[start, stop)``, the shape its flat views take, one operand per
    parameter (broadcastable to ``shape``) and the key that tells the plan which channels it covers."""

    start: int
    stop: int
    shape: tuple[int, ...]
    operands: list[Any]
    key: Any


class BlockPlan:
    """How to walk an array of ``size`` elements in blocks of at most ``length`` elements.

    ``acc_width`` is the length of an accumulator (:meth:`BlockPlan.new_accumulator`): the plan adds
    each block's sums into it (:meth:`BlockPlan.partial`, :meth:`BlockPlan.accumulate`) and
    :meth:`BlockPlan.fold` turns it into one float64 sum per channel (or one in all when every
    parameter is shared).
    """

    def __init__(self, size: int, length: int, acc_width: int) -> None:
        self.size = size
        self.length = length
        self.acc_width = acc_width

    def blocks(self) -> Iterator[Block]:
        """The blocks, in the order of the flat array (contiguous, none overlapping)."""
        raise NotImplementedError

    def new_accumulator(self) -> np.ndarray:
        """A zeroed float64 accumulator of ``acc_width`` elements."""
        return np.zeros(self.acc_width, dtype=np.float64)

    def partial(self, product: np.ndarray, key: Any, out: np.ndarray | None = None) -> Any:
        """A block's sums of ``product`` (shaped like the block), before they are added per channel.

        ``out``: a buffer from :meth:`BlockPlan.sum_buffer` that receives them when
        :meth:`BlockPlan.fills_buffer` says so.
        """
        return float(product.sum())

    def accumulate(self, acc: np.ndarray, part: Any, key: Any) -> None:
        """Add a block's :meth:`partial` sums into the accumulator ``acc``."""
        acc[key] += part

    def fold(self, acc: np.ndarray) -> np.ndarray:
        """Per-channel (or total) float64 sums from an accumulator."""
        return acc

    def sum_buffer(self, dtype: np.dtype) -> np.ndarray | None:
        """A ``(4, acc_width)`` buffer that :meth:`partial` can fill without allocating, or ``None``."""
        return None

    def fills_buffer(self, n: int) -> bool:
        """Whether :meth:`partial` writes the sums of an ``n``-element block into its ``out`` buffer."""
        return False


class ScalarPlan(BlockPlan):
    """Every parameter has one element: equal blocks, scalar operands, one accumulator."""

    def __init__(self, size: int, params: Sequence[np.ndarray], block: int) -> None:
        super().__init__(size, min(block, size), 1)
        self.operands = [p.reshape(())[()] for p in params]  # NumPy scalars keep the dtype

    def blocks(self) -> Iterator[Block]:
        for start in range(0, self.size, self.length):
            stop = min(start + self.length, self.size)
            yield Block(start, stop, (stop - start,), self.operands, 0)


class PatternPlan(BlockPlan):
    """Per-channel parameters whose period ``C * inner`` fits twice in a block: a tiled pattern."""

    def __init__(self, size: int, C: int, inner: int, params: Sequence[np.ndarray], block: int) -> None:
        period = C * inner
        width = period * max(1, math.ceil(_MIN_SUM_WIDTH / period))  # sum width, a multiple of P
        width = min(width, period * (block // period))
        length = width * max(1, block // width)  # block length, a multiple of width
        length = min(length, width * math.ceil(size / width))  # small arrays
        super().__init__(size, length, width)
        self.C, self.inner, self.period, self.width = C, inner, period, width
        reps = length // period
        self.operands = [p.reshape(())[()] if p.size == 1 else _tiled(p, inner, reps) for p in params]
        self.ones = np.ones(length // width, dtype=params[0].dtype)

    def blocks(self) -> Iterator[Block]:
        step = self.length
        for start in range(0, self.size, step):
            stop = min(start + step, self.size)
            n = stop - start
            ops = self.operands if n == step else [o if np.ndim(o) == 0 else o[:n] for o in self.operands]
            yield Block(start, stop, (n,), ops, n)

    def partial(self, product: np.ndarray, key: Any, out: np.ndarray | None = None) -> Any:
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

    def accumulate(self, acc: np.ndarray, part: Any, key: Any) -> None:
        acc += part

    def fold(self, acc: np.ndarray) -> np.ndarray:
        return acc.reshape(-1, self.C, self.inner).sum(axis=(0, 2))

    def sum_buffer(self, dtype: np.dtype) -> np.ndarray | None:
        return np.empty((4, self.width), dtype=dtype)

    def fills_buffer(self, n: int) -> bool:
        return n % self.width == 0


class RowsPlan(BlockPlan):
    """Blocks of whole rows (``inner`` elements, one channel each); parameters broadcast as columns."""

    def __init__(self, size: int, C: int, inner: int, params: Sequence[np.ndarray], block: int) -> None:
        self.rows_per_block = max(1, block // inner)
        super().__init__(size, min(size, self.rows_per_block * inner), C)
        self.C, self.inner, self.params = C, inner, params

    def blocks(self) -> Iterator[Block]:
        nrows = self.size // self.inner
        for r0 in range(0, nrows, self.rows_per_block):
            r1 = min(r0 + self.rows_per_block, nrows)
            channels = np.arange(r0, r1) % self.C
            ops = [p[channels][:, None] if p.size > 1 else p[0] for p in self.params]
            yield Block(r0 * self.inner, r1 * self.inner, (r1 - r0, self.inner), ops, channels)

    def partial(self, product: np.ndarray, key: Any, out: np.ndarray | None = None) -> Any:
        return product.sum(axis=1, dtype=np.float64)

    def accumulate(self, acc: np.ndarray, part: Any, key: Any) -> None:
        acc += np.bincount(key, weights=part, minlength=self.C)


class LongRowsPlan(BlockPlan):
    """Rows longer than a block, cut into pieces of one channel each: scalar operands, key = channel."""

    def __init__(self, size: int, C: int, inner: int, params: Sequence[np.ndarray], block: int) -> None:
        super().__init__(size, min(size, block), C)
        self.C, self.inner, self.params, self.block = C, inner, params, block

    def blocks(self) -> Iterator[Block]:
        for row in range(self.size // self.inner):
            c = row % self.C
            ops = [p[c] if p.size > 1 else p[0] for p in self.params]
            base = row * self.inner
            for piece in range(0, self.inner, self.block):
                start = base + piece
                stop = base + min(piece + self.block, self.inner)
                yield Block(start, stop, (stop - start,), ops, c)


class EmptyPlan(BlockPlan):
    """No elements: no blocks, and sums that stay zero (one per channel)."""

    def __init__(self, C: int) -> None:
        super().__init__(0, 0, C)

    def blocks(self) -> Iterator[Block]:
        return iter(())


def make_plan(shape: tuple[int, ...], channel_axis: int | None, params: Sequence[np.ndarray],
              block: int) -> BlockPlan:
    """The plan for data of ``shape`` with per-channel or shared ``params`` (1-D, 1 or ``C`` elements)."""
    size = math.prod(shape)
    per_channel = channel_axis is not None and any(p.size != 1 for p in params)
    C = shape[channel_axis] if per_channel and channel_axis is not None else 1
    if size == 0:
        return EmptyPlan(C)
    if not per_channel or channel_axis is None:
        return ScalarPlan(size, params, block)
    inner = math.prod(shape[channel_axis + 1:])
    if C * inner <= block // 2 and size >= PATTERN_MIN_REPEATS * C * inner:
        return PatternPlan(size, C, inner, params, block)
    if inner > block:
        return LongRowsPlan(size, C, inner, params, block)
    return RowsPlan(size, C, inner, params, block)


def _tiled(p: np.ndarray, inner: int, reps: int) -> np.ndarray:
    """``np.tile(np.repeat(p, inner), reps)`` written in one broadcast pass (no intermediate arrays)."""
    pattern = np.empty((reps, p.size, inner), dtype=p.dtype)
    pattern[...] = p[:, None]
    return pattern.reshape(-1)
