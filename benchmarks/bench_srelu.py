"""Benchmark SReLU: srelu_lib's kernels against the memory-bandwidth floor, the literal formula and compiled peers.

Run it from the repository (one process, one run; prints a table and the machine it ran on)::

    python benchmarks/bench_srelu.py                      # sizes 1e5 1e6 1e7, float32 and float64, layouts SSCB and CB
    python benchmarks/bench_srelu.py --quick              # a fast subset (1e5 and 1e6, float32, 3 rounds)
    python benchmarks/bench_srelu.py --large --csv out.csv  # adds 1e8 elements and writes every row to a CSV file
    python benchmarks/bench_srelu.py --sizes 1e7 --dtypes float32 --layouts SSCB   # one configuration
    python benchmarks/bench_srelu.py --no-torch --no-jax  # without the PyTorch and JAX rows
    python3 dev.py bench [ARGS]                    # the same, inside the project's .venv

How it is measured, for each size, dtype and layout: every measurement below is a callable, prepared
(the compiled peers compile here), checked against the reference (values converted to NumPy, in the
problem's dtype, within 1e-3 in float32 and 1e-7 in float64) and warmed up once; then ``--repeats``
rounds run, and in each round every measurement is timed once (``gc.collect()`` before each call) in a
fixed, interleaved order: for each implementation in turn, the two copy floors, its forward, the two
add floors, its backward, its forward+backward.  A measurement whose warm-up takes over 2 s runs only in
the first 3 rounds.
Reported times are medians over rounds.  Reported ratios are medians over rounds of the per-round ratio
(implementation time / the floor timed just before it, in the same round; for ``x lit``, the literal
forward+backward / the implementation's, same round), so a slow drift of the machine (a floor varying by
tens of per cent between minutes on a shared VM) cancels instead of skewing the ratios.  ``fwd/auto`` and
``bwd/auto`` are the same kind of median: implementation time / the ``auto`` row's time, same round.  Hence
a ratio is not exactly the quotient of the two median times printed.  A floor's own row pools all its
samples.  During the rounds, the objects that exist before them are frozen out of the garbage collector
(``gc.freeze``), so the ``gc.collect()`` before each timed call stays short after PyTorch is imported.

What is measured:

* floors: ``np.copyto(dst, X)`` into a preallocated ``dst`` (copy) and ``np.add(X, dLdY, out=D)`` (add),
  and the same two operations writing a freshly allocated array (``X.copy()``, ``X + dLdY``).  A forward
  pass cannot move fewer bytes than a copy, a backward pass fewer than an add.  On a VM, writing a fresh
  array costs page faults on first touch, about as much as the copy itself, and the library's functions
  return fresh arrays: compare ``numpy``/``numba`` with the ``*_alloc`` floors, and the ``[out]`` rows
  (kernels writing into preallocated outputs) with the preallocated floors.
* ``auto``: srelu_lib's default path, :func:`srelu_lib.kernels.srelu_forward` and
  :func:`srelu_lib.kernels.srelu_backward` with the default (``"auto"``) choice of kernel; the header says
  which kernel that was for each configuration.  Every row's ``fwd/auto`` and ``bwd/auto`` compare with it.
* every backend in srelu_lib's kernel registry (:func:`srelu_lib.kernels.registered_backends`; srelu_lib's
  rows are listed in ``benchmarks/srelu_implementations.py``, the peers' in ``benchmarks/peers.py``):
  ``reference``, the straightforward functions of :mod:`srelu_lib.kernels.reference` (the tested
  reference); ``numpy`` / ``numpy[out]``, :mod:`srelu_lib.kernels.numpy_blocked` (blocked, mask-free),
  its blocks shared by :func:`srelu_lib.kernels.default_workers` threads (``SRELU_LIB_THREADS``), and
  ``numpy[1 thread]``, the same on the calling thread only, like the floors; ``numba`` / ``numba[out]``,
  :mod:`srelu_lib.kernels.numba_fused` (fused, one pass, one thread), when numba is installed.
* ``literal``: the MATLAB documentation page's three-mask formulas transcribed to NumPy
  (:mod:`srelu_lib.kernels.literal`), with its per-channel masked assignment made correct and the
  gradients returned in input order.
* the peers (``benchmarks/peers.py``), srelu_lib's own ports: ``torch``, :func:`srelu_lib.torch.srelu` in
  eager mode; ``torch.compile``, the same under ``torch.compile(dynamic=False, fullgraph=True)``; ``jax.jit``,
  :func:`srelu_lib.jax.srelu` under ``jax.jit``, its backward a jitted VJP of all five inputs.  Their
  forward computes y only (PyTorch's under ``torch.no_grad()``), like srelu_lib's.  They run on
  the CPU with their libraries' default settings (the header gives PyTorch's thread count and JAX's
  devices), each when its library can be imported (otherwise the run says why it skipped it;
  ``--no-torch`` and ``--no-jax`` skip them on purpose).  srelu_lib depends on neither.
* The floors run on one thread.

Backward times compute all five gradients.  ``fwd+bwd`` is a forward followed by a backward (for
``jax.jit``, one jitted function returning y and the five gradients).  Peak extra
memory (``mem``) is measured after the timing, in a separate call with :mod:`tracemalloc` (NumPy reports
its allocations to it): the peak of traced memory during the call, minus the bytes of the outputs the call returns,
as a multiple of the input's bytes (``n/a`` for PyTorch and JAX, whose allocators tracemalloc does not see).
The table, its legend and the CSV file are written by ``benchmarks/report.py``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from peers import peer_info, peer_providers
from report import LEGEND, format_table, machine_info, write_csv
from srelu_implementations import Implementation, implementations

from srelu_lib.kernels import backend_for, srelu_backward_reference, srelu_forward_reference, use_backend

ALL = (True, True, True, True, True)
ALWAYS = ("literal", "auto")  # the rows every other is compared with: never filtered out by --impls


# --- the operands ----------------------------------------------------------------------------------
def make_problem(size: int, dtype: str, layout: str, seed: int = 0) -> dict[str, Any]:
    """X, dLdY and per-channel parameters of about ``size`` elements in ``layout`` ("SSCB" or "CB")."""
    rng = np.random.default_rng(seed)
    shape: tuple[int, ...]
    if layout == "SSCB":
        C, B = (32, 32) if size >= 4096 else (4, 4)
        side = max(1, round(math.sqrt(size / (C * B))))
        shape, channel_axis = (side, side, C, B), 2
    elif layout == "CB":
        C = 64 if size >= 256 else 4
        shape, channel_axis = (C, max(1, size // C)), 0
    else:
        raise ValueError(f"layout must be 'SSCB' or 'CB'; got {layout!r}")
    X = rng.standard_normal(shape).astype(dtype)
    dLdY = rng.standard_normal(shape).astype(dtype)
    params = tuple(rng.uniform(lo, hi, C).astype(dtype)
                   for lo, hi in ((-1.0, -0.2), (0.0, 0.5), (0.2, 1.0), (0.5, 2.0)))
    return {"X": X, "dLdY": dLdY, "params": params, "channel_axis": channel_axis, "out": np.empty_like(X)}


def floors(X: np.ndarray, dLdY: np.ndarray) -> dict[str, Callable[[], Any]]:
    """The four bandwidth floors on ``X`` and ``dLdY``: copy and add, into a preallocated array or a new one."""
    dst = np.empty_like(X)
    return {
        "copy": lambda: np.copyto(dst, X),
        "copy_alloc": lambda: X.copy(),
        "add": lambda: np.add(X, dLdY, out=dst),
        "add_alloc": lambda: np.add(X, dLdY),
    }


# --- measuring ---------------------------------------------------------------------------------------------
SLOW_SECONDS = 2.0   # a measurement whose warm-up call takes longer runs only in the first SLOW_ROUNDS rounds
SLOW_ROUNDS = 3
FLOOR_NAMES = ("copy", "copy_alloc", "add", "add_alloc")


def time_once(fn: Callable[[], Any]) -> float:
    """Wall time of one call ``fn()`` in seconds, after a ``gc.collect()`` (the result is dropped)."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_rounds(measurements: dict[str, Callable[[], Any]], order: list[tuple[str, str]],
                       repeats: int) -> dict[tuple[str, str], dict[int, float]]:
    """Time every measurement once per round, ``repeats`` rounds, in the fixed ``order``.

    ``measurements`` maps a name to a zero-argument callable; each is warmed up once (a warm-up over
    ``SLOW_SECONDS`` marks it slow: it then runs only in the first ``SLOW_ROUNDS`` rounds).  ``order`` is
    the list of ``(measurement name, slot)`` pairs timed in each round; the same measurement may appear
    in several slots (a floor timed right before each implementation's forward and backward).

    Returns ``{(name, slot): {round: seconds}}``: samples taken close in time share a round index, so
    ratios can be formed per round before taking a median, which cancels slow drifts of the machine.
    """
    slow = {name: time_once(fn) > SLOW_SECONDS for name, fn in measurements.items()}
    samples: dict[tuple[str, str], dict[int, float]] = {key: {} for key in order}
    for r in range(repeats):
        for name, slot in order:
            if slow[name] and r >= SLOW_ROUNDS:
                continue
            samples[(name, slot)][r] = time_once(measurements[name])
    return samples


def median_ms(series: dict[int, float]) -> float:
    """Median of the per-round times, in ms (NaN for an empty series)."""
    return 1e3 * statistics.median(series.values()) if series else float("nan")


def median_ratio(numerator: dict[int, float], denominator: dict[int, float]) -> float:
    """Median over the rounds present in both series of ``numerator[r] / denominator[r]``."""
    ratios = [numerator[r] / denominator[r] for r in numerator if r in denominator and denominator[r] > 0]
    return statistics.median(ratios) if ratios else float("nan")


def result_nbytes(result: Any) -> int:
    if isinstance(result, np.ndarray):
        return result.nbytes
    if isinstance(result, (tuple, list)):
        return sum(result_nbytes(r) for r in result)
    return 0


def peak_extra(fn: Callable[[], Any], input_nbytes: int, preallocated: bool) -> float:
    """Peak traced memory during ``fn()`` beyond what it returns, as a multiple of ``input_nbytes``."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    kept = 0 if preallocated else result_nbytes(result)
    return max(0, peak - base - kept) / input_nbytes


def check_agreement(impl: Implementation, problem: dict[str, Any], expected: tuple) -> None:
    """Refuse to time an implementation that computes something else (or in another dtype).

    Values, converted to NumPy (PyTorch tensors and JAX arrays too), must match the reference's to a
    tolerance of 1e-3 (float32) or 1e-7 (float64), relative and absolute; the absolute tolerance of a
    gradient is scaled by its largest magnitude (per-channel sums of many terms).
    """
    Y_ref, grads_ref = expected
    dtype = problem["X"].dtype
    rtol = 1e-3 if dtype == np.float32 else 1e-7

    def as_numpy(a: Any) -> np.ndarray:
        a = np.asarray(a.detach().numpy() if hasattr(a, "detach") else a)
        if a.dtype != dtype:
            raise AssertionError(f"{impl.name} computes in {a.dtype}, not in the problem's {dtype}")
        return np.array(a, dtype=np.float64)  # a copy: [out] variants return one buffer from fwd and bwd

    Y = as_numpy(impl.forward(problem))
    grads = [as_numpy(g) for g in impl.backward(problem)]
    ok = np.allclose(Y, Y_ref, rtol=rtol, atol=rtol)
    for g, r in zip(grads, grads_ref, strict=True):
        scale = max(1.0, float(np.max(np.abs(r))))
        ok = ok and np.allclose(g, r, rtol=rtol, atol=rtol * scale)
    if not ok:
        raise AssertionError(f"{impl.name} disagrees with the reference at size {problem['X'].size}")


def run(sizes: list[int], dtypes: list[str], layouts: list[str], repeats: int, use_torch: bool,
        impl_filter: list[str] | None, memory: bool = True,
        use_jax: bool = True) -> tuple[list[dict[str, Any]], list[str]]:
    """Measure every configuration in interleaved rounds; one row per floor and per implementation.

    Returns the rows and notes for the header: what was skipped and why, and which kernel the ``auto``
    row ran for each size, dtype and layout.
    """
    skip = tuple(name for name, used in (("torch", use_torch), ("jax", use_jax)) if not used)
    impls, notes = implementations(skip=skip, extra=peer_providers())
    if impl_filter:
        impls = [impl for impl in impls if impl.name in impl_filter or impl.name in ALWAYS]
    rows = []
    for size in sizes:
        for dtype in dtypes:
            for layout in layouts:
                problem = make_problem(size, dtype, layout)
                with use_backend("auto"):  # as the auto row runs, whatever SRELU_LIB_BACKEND says
                    chosen = backend_for(problem["X"]).name
                notes.append(f"auto at {problem['X'].size:,} {dtype} {layout}: the {chosen!r} kernel")
                rows += measure(problem, impls, dtype, layout, repeats, memory)
                problem.clear()
                gc.collect()
    return rows, notes


def measure(problem: dict[str, Any], impls: list[Implementation], dtype: str, layout: str, repeats: int,
            memory: bool) -> list[dict[str, Any]]:
    """The rows of one configuration.

    Each round times, for every implementation in turn: copy floors, its forward, add floors, its backward,
    its forward+backward.  Times are medians over rounds; each ratio is the median over rounds of
    (implementation time / floor time taken just before it in the same round), and of (implementation
    time / the ``auto`` row's time in the same round) for ``fwd/auto`` and ``bwd/auto``.  Before that,
    every implementation is prepared (compiled) and checked against the reference.
    """
    X, n = problem["X"], problem["X"].size
    tl, al, tr, ar = problem["params"]
    expected = (np.asarray(srelu_forward_reference(X, tl, al, tr, ar, problem["channel_axis"]), np.float64),
                [np.asarray(g, np.float64) for g in srelu_backward_reference(
                    problem["dLdY"], X, tl, al, tr, ar, problem["channel_axis"], ALL)])
    measurements = floors(X, problem["dLdY"])
    order: list[tuple[str, str]] = []
    for impl in impls:
        if impl.prepare is not None:
            impl.prepare(problem)
        check_agreement(impl, problem, expected)
        name = impl.name
        measurements[f"{name}:fwd"] = functools.partial(impl.forward, problem)
        measurements[f"{name}:bwd"] = functools.partial(impl.backward, problem)
        measurements[f"{name}:fwdbwd"] = functools.partial(impl.both, problem)
        order += [("copy", name), ("copy_alloc", name), (f"{name}:fwd", name),
                  ("add", name), ("add_alloc", name), (f"{name}:bwd", name), (f"{name}:fwdbwd", name)]
    print(f"  measuring {n:>11,} {dtype} {layout:<4}: {repeats} interleaved rounds of "
          f"{len(order)} timed calls", file=sys.stderr, flush=True)
    # the long-lived objects (PyTorch's and JAX's modules, compiled code) move to gc's permanent generation:
    # each gc.collect() before a timed call then scans only new objects (0.2 s per call otherwise)
    gc.collect()
    gc.freeze()
    try:
        samples = interleaved_rounds(measurements, order, repeats)
    finally:
        gc.unfreeze()

    rows: list[dict[str, Any]] = []
    for floor in FLOOR_NAMES:  # every sample of the floor, from every slot and round
        pooled = [t for (m, _), series in samples.items() if m == floor for t in series.values()]
        ms = 1e3 * statistics.median(pooled)
        rows.append(dict(size=n, dtype=dtype, layout=layout, impl=f"floor:{floor}",
                         fwd_ms=ms if floor.startswith("copy") else "",
                         bwd_ms=ms if floor.startswith("add") else ""))
    literal_fb = samples.get(("literal:fwdbwd", "literal"))
    auto_fwd, auto_bwd = samples.get(("auto:fwd", "auto")), samples.get(("auto:bwd", "auto"))
    for impl in impls:
        name = impl.name
        t_fwd, t_bwd = samples[(f"{name}:fwd", name)], samples[(f"{name}:bwd", name)]
        t_fb = samples[(f"{name}:fwdbwd", name)]
        if memory and impl.traced_memory:
            m_fwd = peak_extra(functools.partial(impl.forward, problem), X.nbytes, impl.preallocated)
            m_bwd = peak_extra(functools.partial(impl.backward, problem), X.nbytes, impl.preallocated)
        else:
            m_fwd = m_bwd = float("nan")
        row = dict(size=n, dtype=dtype, layout=layout, impl=name, fwd_ms=median_ms(t_fwd),
                   bwd_ms=median_ms(t_bwd), fwdbwd_ms=median_ms(t_fb),
                   fwd_per_copy=median_ratio(t_fwd, samples[("copy", name)]),
                   fwd_per_copy_alloc=median_ratio(t_fwd, samples[("copy_alloc", name)]),
                   bwd_per_add=median_ratio(t_bwd, samples[("add", name)]),
                   bwd_per_add_alloc=median_ratio(t_bwd, samples[("add_alloc", name)]),
                   mem_fwd=m_fwd, mem_bwd=m_bwd)
        if literal_fb is not None:
            row["speedup_vs_literal"] = median_ratio(literal_fb, t_fb)
        if auto_fwd is not None and auto_bwd is not None:
            row["fwd_per_auto"] = median_ratio(t_fwd, auto_fwd)
            row["bwd_per_auto"] = median_ratio(t_bwd, auto_bwd)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/bench_srelu.py", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=lambda s: int(float(s)), help="element counts (e.g. 1e6)")
    parser.add_argument("--large", action="store_true", help="add 1e8 elements (needs ~10 GB of RAM)")
    parser.add_argument("--quick", action="store_true", help="fast subset: 1e5 and 1e6, float32, 3 rounds")
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "float64"])
    parser.add_argument("--layouts", nargs="+", choices=["SSCB", "CB"])
    parser.add_argument("--repeats", type=int, help="interleaved timing rounds (each measurement timed once "
                        "per round; medians over rounds); default 7, quick 3")
    parser.add_argument("--impls", nargs="+", help="only these implementations (literal and auto always run)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows even if it is installed")
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX row even if it is installed")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc measurements")
    parser.add_argument("--csv", metavar="PATH", help="also write the rows to a CSV file")
    args = parser.parse_args(argv)

    sizes = args.sizes or ([10**5, 10**6] if args.quick else [10**5, 10**6, 10**7])
    if args.large and 10**8 not in sizes:
        sizes = [*sizes, 10**8]
    dtypes = args.dtypes or (["float32"] if args.quick else ["float32", "float64"])
    layouts = args.layouts or ["SSCB", "CB"]
    repeats = args.repeats or (3 if args.quick else 7)
    if repeats < 1:
        parser.error("--repeats must be at least 1")

    rows, notes = run(sizes, dtypes, layouts, repeats, not args.no_torch, args.impls, memory=not args.no_memory,
                      use_jax=not args.no_jax)
    info = {**machine_info(), **peer_info()}
    print("SReLU benchmark (python benchmarks/bench_srelu.py)")
    for key, value in info.items():
        print(f"  {key}: {value}")
    for note in notes:
        print(f"  {note}")
    print(f"  {repeats} interleaved rounds after one warm-up each (a measurement whose warm-up takes "
          f"over {SLOW_SECONDS:g} s: first {SLOW_ROUNDS} rounds only);\n"
          "  each round times, per implementation: copy floors, fwd, add floors, bwd, fwd+bwd.\n"
          "  times: median over rounds; ratios: median over rounds of (time / floor timed just before it, "
          "same round)\n")
    print(format_table(rows))
    print()
    print(LEGEND)
    if args.csv:
        write_csv(args.csv, rows, info, notes)
        print(f"\nwrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
