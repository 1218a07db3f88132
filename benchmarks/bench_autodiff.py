"""Benchmark the autodiff core against a baseline revision, in one run: training step and SReLU backward.

    .venv/bin/python benchmarks/bench_autodiff.py [--baseline REV] [--rounds N]

What it measures (median milliseconds; the ratio is this tree / baseline):

- **training step**: one ``dlfeval(model_loss, ...)`` plus ``adamupdate`` of the
  digits model of the training chapter (``dlconv`` 3x3x16 -> ``srelu`` ->
  ``fullyconnect`` -> ``softmax`` -> ``crossentropy``, batch 32 of 8x8 images);
- **SReLU backward**: the ``dlgradient`` call (the reverse sweep, through
  ``SReLUFunction.backward`` and the fused kernel) for a ``(32, 32, 16, 64)``
  float32 ``"SSCB"`` array, gradients for ``X`` and all four parameters;
- on this tree only: the memory ``retain_data=False`` frees on the training
  model (bytes the tape stops holding, and live NumPy memory measured with
  ``tracemalloc``), and the memory cost of protecting saved data from later
  changes (``Tape.snapshot_nbytes``).

How: the baseline revision is checked out into a temporary ``git worktree``.
One worker process per implementation imports ``srelu_lib`` from its tree
(``PYTHONPATH``), warms up, and then times short blocks on request; the driver
alternates the two workers block by block, so both run under the same machine
load, and reports the median of the per-block ratios with its quartiles, for
the CPU time of the timing thread (``time.thread_time``: what the code costs,
not counting the time other processes take the core away) and for wall-clock
time.  Timings on a shared machine are noisy: read the quartiles too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "bf31997"  # main before the autodiff-core work (issue 13)


# --- worker side: runs inside the tree under test ------------------------------------------
def _digits_batch(batch: int) -> tuple[Any, Any]:
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images[:batch] / 16.0
    X = np.ascontiguousarray(images.transpose(1, 2, 0)[:, :, np.newaxis, :])
    T = np.zeros((10, batch))
    T[digits.target[:batch], np.arange(batch)] = 1.0
    return X, T


def _training_model(num_filters: int = 16) -> tuple[dict, Any, Any]:
    import numpy as np

    from srelu_lib import crossentropy, dlarray, dlconv, dlgradient, fullyconnect, softmax, srelu

    rng = np.random.default_rng(0)
    params = {
        "conv": {"weights": dlarray(rng.normal(0.0, np.sqrt(2.0 / 9), (3, 3, 1, num_filters))),
                 "bias": dlarray(np.zeros(num_filters))},
        "fc": {"weights": dlarray(rng.uniform(-0.07, 0.07, (10, 64 * num_filters))), "bias": dlarray(np.zeros(10))},
        "srelu": {name: dlarray(np.full(num_filters, value))
                  for name, value in (("tl", 0.0), ("al", 0.0), ("tr", 1.0), ("ar", 1.0))},
    }

    def model(p: dict, X: Any) -> Any:
        Z = dlconv(X, p["conv"]["weights"], p["conv"]["bias"], padding="same")
        s = p["srelu"]
        A = srelu(Z, s["tl"], s["al"], s["tr"], s["ar"])
        return softmax(fullyconnect(A, p["fc"]["weights"], p["fc"]["bias"]))

    def model_loss(p: dict, X: Any, T: Any) -> Any:
        loss = crossentropy(model(p, X), T)
        return loss, dlgradient(loss, p)

    return params, model, model_loss


class _TrainingStep:
    """One training step of the digits model: dlfeval(model_loss) and adamupdate."""

    def __init__(self) -> None:
        from srelu_lib import adamupdate, dlarray, dlfeval

        self.params, _, self.model_loss = _training_model()
        self.X_np, self.T = _digits_batch(32)
        self.avg_g: Any = None
        self.avg_sq_g: Any = None
        self.k = 0
        self.adamupdate, self.dlarray, self.dlfeval = adamupdate, dlarray, dlfeval

    def __call__(self) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.thread_time()
        X = self.dlarray(self.X_np, "SSCB")
        _, grads = self.dlfeval(self.model_loss, self.params, X, self.T)
        self.k += 1
        self.params, self.avg_g, self.avg_sq_g = self.adamupdate(self.params, grads, self.avg_g, self.avg_sq_g,
                                                                 self.k, learn_rate=1e-3)
        return time.perf_counter() - start, time.thread_time() - cpu


class _SReLUBackward:
    """The dlgradient call through one SReLU layer of 1M float32 elements (gradients for all five inputs)."""

    def __init__(self) -> None:
        import numpy as np

        from srelu_lib import dlarray, dlfeval, dlgradient, srelu

        rng = np.random.default_rng(0)
        self.X = dlarray(rng.standard_normal((32, 32, 16, 64)).astype(np.float32), "SSCB")
        W = rng.standard_normal(self.X.shape).astype(np.float32)
        self.params = [dlarray(np.full(16, v, np.float32)) for v in (-0.5, 0.1, 0.5, 2.0)]
        self.dlfeval = dlfeval

        def f(X: Any, tl: Any, al: Any, tr: Any, ar: Any) -> tuple[float, float]:
            loss = (srelu(X, tl, al, tr, ar) * W).sum()
            start, cpu = time.perf_counter(), time.thread_time()
            dlgradient(loss, X, tl, al, tr, ar)
            return time.perf_counter() - start, time.thread_time() - cpu

        self.f = f

    def __call__(self) -> tuple[float, float]:
        return self.dlfeval(self.f, self.X, *self.params)


def _memory_report(batch: int) -> dict:
    """Memory that retain_data=False frees on the training model, and the cost of the mutation protection.

    The parameters come out of one ``adamupdate`` first, as in every training
    step but the first (they are then arrays the library owns).
    """
    import tracemalloc

    import numpy as np

    from srelu_lib import adamupdate, crossentropy, dlarray, dlfeval, dlgradient, saved_bytes
    from srelu_lib.tape import current_tape

    params, model, model_loss = _training_model()
    X_np, T = _digits_batch(batch)
    _, grads = dlfeval(model_loss, params, dlarray(X_np, "SSCB"), T)  # warm-up, and one step
    params, _, _ = adamupdate(params, grads, None, None, 1)
    out: dict = {"batch": batch}
    for retain in (False, True):
        def f(p: dict, X: Any, T: Any, retain: bool = retain) -> tuple:
            tracemalloc.start()  # NumPy reports its allocations to tracemalloc
            loss = crossentropy(model(p, X), T)  # the model function has returned: the tape holds the activations
            before, snapshots = saved_bytes(), current_tape().snapshot_nbytes  # type: ignore[union-attr]
            live_before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            grads = dlgradient(loss, p, retain_data=retain)
            live_after, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            del grads
            return before, saved_bytes(), live_before, live_after, peak, snapshots

        before, after, live_before, live_after, peak, snapshots = dlfeval(f, params, dlarray(X_np, "SSCB"), T)
        out["retain" if retain else "free"] = {"saved_before": before, "saved_after": after,
                                               "live_before": live_before, "live_after": live_after,
                                               "peak": peak - live_before}
        out["snapshot_nbytes"] = snapshots
        out["batch_nbytes"] = int(np.asarray(X_np).nbytes)
    return out


def worker(mode: str) -> None:
    """Serve timing requests on stdin ("<bench>\\t<count>" per line), answer with JSON lines."""
    import numpy as np

    import srelu_lib

    where = str(Path(srelu_lib.__file__).parent)
    if mode == "memory":
        print(json.dumps({"srelu_lib": where, "memory": [_memory_report(b) for b in (32, 256)]}))
        return
    benches: dict[str, Callable[[], tuple[float, float]]] = {
        "training step": _TrainingStep(),
        "SReLU backward": _SReLUBackward(),
    }
    for bench in benches.values():  # warm-up: numba compilation, caches
        for _ in range(20):
            bench()
    print(json.dumps({"srelu_lib": where}), flush=True)
    for line in sys.stdin:
        name, count = line.rstrip("\n").split("\t")
        times = np.array([benches[name]() for _ in range(int(count))])
        print(json.dumps({"wall": 1e3 * float(np.median(times[:, 0])), "cpu": 1e3 * float(np.median(times[:, 1]))}),
              flush=True)


# --- driver side ---------------------------------------------------------------------------------
class Worker:
    """A worker process importing srelu_lib from ``tree`` (through PYTHONPATH), timing on request."""

    def __init__(self, tree: Path, mode: str = "serve") -> None:
        env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        self.tree = tree
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", mode], env=env,
                                     cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.hello = self._read()
        expected = (tree / "srelu_lib").resolve()
        if Path(self.hello["srelu_lib"]).resolve() != expected:
            raise RuntimeError(f"worker imported {self.hello['srelu_lib']}, not {expected}: check PYTHONPATH")

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker in {self.tree} died (its error is printed above)")
        return json.loads(line)

    def time(self, bench: str, count: int) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{bench}\t{count}\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def compare(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-autodiff-") as tmp:
        base_tree = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.baseline], cwd=ROOT, check=True,
                       capture_output=True)
        workers: dict[str, Worker] = {}
        try:
            workers = {"baseline": Worker(base_tree), "this tree": Worker(ROOT)}
            print(f"baseline {args.baseline} vs this tree ({ROOT})\n{args.rounds} alternating blocks per "
                  f"benchmark, each implementation in its own process; medians in ms\n")
            for bench, count in (("training step", args.steps), ("SReLU backward", args.calls)):
                blocks: dict[str, list[dict]] = {name: [] for name in workers}
                for r in range(args.rounds):
                    order = list(workers) if r % 2 == 0 else list(workers)[::-1]
                    for name in order:
                        blocks[name].append(workers[name].time(bench, count))
                for clock in ("cpu", "wall"):
                    base = [b[clock] for b in blocks["baseline"]]
                    this = [b[clock] for b in blocks["this tree"]]
                    ratios = [t / b for t, b in zip(this, base, strict=True)]
                    q1, _, q3 = statistics.quantiles(ratios, n=4)
                    print(f"{bench:15s} {clock:4s}  baseline {statistics.median(base):7.3f}   "
                          f"this tree {statistics.median(this):7.3f}   "
                          f"ratio this/baseline: median {statistics.median(ratios):.3f} "
                          f"(quartiles {q1:.3f} to {q3:.3f}, {len(ratios)} blocks)")
        finally:
            for w in workers.values():
                w.close()
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, capture_output=True)


def memory() -> None:
    report = Worker(ROOT, "memory").hello["memory"]
    print("\nMemory on the training model (this tree), one dlgradient call; live NumPy memory by tracemalloc:")
    for m in report:
        free, keep = m["free"], m["retain"]
        print(f"  batch {m['batch']:4d}: the tape holds {free['saved_before']:,} bytes before the sweep; after it "
              f"{free['saved_after']:,} with retain_data=False, {keep['saved_after']:,} with True")
        print(f"              live NumPy memory after the sweep {free['live_after']:,} vs {keep['live_after']:,} "
              f"bytes: retain_data=False freed {keep['live_after'] - free['live_after']:,} bytes "
              f"(peak growth during the sweep {free['peak']:,} vs {keep['peak']:,})")
        print(f"              mutation protection: the tape copied {m['snapshot_nbytes']:,} bytes "
              f"({m['snapshot_nbytes'] / max(free['saved_before'], 1):.1%} of what it saves; the input batch "
              f"alone is {m['batch_nbytes']:,} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=40, help="alternating timing blocks per benchmark")
    parser.add_argument("--steps", type=int, default=40, help="training steps per block")
    parser.add_argument("--calls", type=int, default=4, help="SReLU backward calls per block")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory report")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    compare(args)
    if not args.no_memory:
        memory()


if __name__ == "__main__":
    main()
