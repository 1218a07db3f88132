"""Sharing a kernel's blocks among threads: how many, and in which reproducible grouping.

NumPy's ufuncs release the GIL, and a block's passes run mostly out of the cache, so the blocked
NumPy kernels (:mod:`srelu_lib.kernels.numpy_blocked`) hand contiguous runs of their blocks to a small
thread pool.  The grouping depends only on the number of blocks and workers, so results, including
the order in which float64 sums are added, are reproducible for a given number of threads.

Whether threads make a call faster depends on the machine and its load; the benchmark
(``python3 dev.py bench``, rows ``numpy`` and ``numpy[1 thread]``) measures it, and the chapter
"Making it fast" reports the book's run.  On a 2-core machine whose other core is busy, two threads
can be slower than one: set ``SRELU_LIB_THREADS=1`` there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["MIN_BLOCKS_PER_WORKER", "default_workers", "map_groups"]

#: Blocks per worker below which a call stays on the calling thread (a hand-off to the pool costs tens of
#: microseconds: about 40 for a no-op's submit and result on the project's 2-core VM).
MIN_BLOCKS_PER_WORKER = 4

_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


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


def map_groups(function: Callable[[list], Any], blocks: list, workers: int | None) -> list[Any]:
    """``function`` over ``workers`` contiguous groups of ``blocks``, in order; this thread runs the first.

    ``workers=None`` means :func:`default_workers`.  Fewer than :data:`MIN_BLOCKS_PER_WORKER` blocks per
    worker use fewer workers, down to the calling thread alone.
    """
    workers = default_workers() if workers is None else workers
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive integer or None; got {workers!r}")
    workers = min(workers, len(blocks) // MIN_BLOCKS_PER_WORKER)
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
