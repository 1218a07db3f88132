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
  model (bytes the tape stops holding, and the drop in traced allocations
  measured by ``tracemalloc``), and the memory cost of protecting saved data
  from later changes (``Tape.snapshot_nbytes``).

How: the baseline revision is checked out into a temporary ``git worktree``;
for every round each implementation runs in its own subprocess (in
alternating order), with ``PYTHONPATH`` pointing at its tree, so both are
timed under the same machine load.  Timings on a shared machine are noisy:
read the medians over rounds, and the per-round ratios.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "bf31997"  # main before the autodiff-core work (issue 13)
BENCHES = ("training step", "SReLU backward")


# --- worker side: runs inside the tree under test ------------------------------------------
def _digits_batch(batch: int):
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images[:batch] / 16.0
    X = np.ascontiguousarray(images.transpose(1, 2, 0)[:, :, np.newaxis, :])
    T = np.zeros((10, batch))
    T[digits.target[:batch], np.arange(batch)] = 1.0
    return X, T


def _training_model(num_filters: int = 16):
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

    def model(p, X):
        Z = dlconv(X, p["conv"]["weights"], p["conv"]["bias"], padding="same")
        s = p["srelu"]
        A = srelu(Z, s["tl"], s["al"], s["tr"], s["ar"])
        return softmax(fullyconnect(A, p["fc"]["weights"], p["fc"]["bias"]))

    def model_loss(p, X, T, **options):
        loss = crossentropy(model(p, X), T)
        return loss, dlgradient(loss, p, **options)

    return params, model_loss


def _time_training_step(steps: int) -> float:
    import numpy as np
    from srelu_lib import adamupdate, dlarray, dlfeval

    params, model_loss = _training_model()
    X_np, T = _digits_batch(32)
    avg_g = avg_sq_g = None
    times = []
    for k in range(steps + 20):
        start = time.perf_counter()
        X = dlarray(X_np, "SSCB")
        _, grads = dlfeval(model_loss, params, X, T)
        params, avg_g, avg_sq_g = adamupdate(params, grads, avg_g, avg_sq_g, k + 1, learn_rate=1e-3)
        if k >= 20:  # warm-up: numba compilation, caches
            times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _time_srelu_backward(calls: int) -> float:
    import numpy as np
    from srelu_lib import dlarray, dlfeval, dlgradient, srelu

    rng = np.random.default_rng(0)
    X = dlarray(rng.standard_normal((32, 32, 16, 64)).astype(np.float32), "SSCB")
    W = rng.standard_normal(X.shape).astype(np.float32)
    params = [dlarray(np.full(16, v, np.float32)) for v in (-0.5, 0.1, 0.5, 2.0)]
    times: list[float] = []

    def f(X, tl, al, tr, ar):
        loss = (srelu(X, tl, al, tr, ar) * W).sum()
        start = time.perf_counter()
        grads = dlgradient(loss, X, tl, al, tr, ar)
        times.append(time.perf_counter() - start)
        return grads

    for _ in range(calls + 3):
        dlfeval(f, X, *params)
    return 1e3 * float(np.median(times[3:]))


def _memory_report(batch: int) -> dict:
    """Memory that retain_data=False frees on the training model, and the cost of the mutation protection."""
    import tracemalloc

    import numpy as np
    from srelu_lib import dlarray, dlfeval, dlgradient, saved_bytes
    from srelu_lib.tape import current_tape

    params, model_loss = _training_model()
    X_np, T = _digits_batch(batch)
    X_np = np.ascontiguousarray(X_np)
    out: dict = {"batch": batch}
    for retain in (False, True):
        def f(p, X, T, retain=retain):
            from srelu_lib import crossentropy, dlconv, fullyconnect, softmax, srelu

            tracemalloc.start()  # NumPy reports its allocations to tracemalloc
            Z = dlconv(X, p["conv"]["weights"], p["conv"]["bias"], padding="same")
            s = p["srelu"]
            loss = crossentropy(softmax(fullyconnect(srelu(Z, s["tl"], s["al"], s["tr"], s["ar"]),
                                                     p["fc"]["weights"], p["fc"]["bias"])), T)
            del Z  # as in a model function that has returned: the tape alone holds the activations
            tape = current_tape()
            before = saved_bytes()
            snapshots = tape.snapshot_nbytes
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
                                               "peak": peak}
        out["snapshot_nbytes"] = snapshots
    return out


def worker(args: argparse.Namespace) -> None:
    import srelu_lib

    result: dict = {"srelu_lib": str(Path(srelu_lib.__file__).parent)}
    if args.worker == "training step":
        result["ms"] = _time_training_step(args.steps)
    elif args.worker == "SReLU backward":
        result["ms"] = _time_srelu_backward(args.calls)
    elif args.worker == "memory":
        result["memory"] = [_memory_report(b) for b in (32, 256)]
    print(json.dumps(result))


# --- driver side ---------------------------------------------------------------------------------
def run_worker(tree: Path, what: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", what, "--steps", str(args.steps),
           "--calls", str(args.calls)]
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {what!r} in {tree} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = (tree / "srelu_lib").resolve()
    if Path(result["srelu_lib"]).resolve() != expected:
        raise RuntimeError(f"worker imported {result['srelu_lib']}, not {expected}: check PYTHONPATH handling")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per benchmark")
    parser.add_argument("--steps", type=int, default=300, help="training steps timed per worker")
    parser.add_argument("--calls", type=int, default=30, help="SReLU backward calls timed per worker")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    with tempfile.TemporaryDirectory(prefix="bench-autodiff-") as tmp:
        base_tree = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.baseline], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            trees = {"baseline": base_tree, "this tree": ROOT}
            print(f"baseline {args.baseline} vs this tree ({ROOT}); {args.rounds} alternating rounds; "
                  f"medians in ms\n")
            for bench in BENCHES:
                ms: dict[str, list[float]] = {name: [] for name in trees}
                ratios = []
                for r in range(args.rounds):
                    order = list(trees) if r % 2 == 0 else list(trees)[::-1]
                    for name in order:
                        ms[name].append(run_worker(trees[name], bench, args)["ms"])
                    ratios.append(ms["this tree"][-1] / ms["baseline"][-1])
                print(f"{bench:15s}  baseline {statistics.median(ms['baseline']):8.3f}   "
                      f"this tree {statistics.median(ms['this tree']):8.3f}   "
                      f"ratio (median of rounds) {statistics.median(ratios):.3f}   "
                      f"per round: {', '.join(f'{x:.2f}' for x in ratios)}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, capture_output=True)

    memory = run_worker(ROOT, "memory", args)["memory"]
    print("\nMemory on the training model (this tree), one dlgradient call (tracemalloc, from the forward on):")
    for m in memory:
        free, keep = m["free"], m["retain"]
        print(f"  batch {m['batch']:4d}: the tape holds {free['saved_before']:,} bytes before the sweep, "
              f"{free['saved_after']:,} after it with retain_data=False, {keep['saved_after']:,} with True")
        print(f"              live NumPy memory after the sweep: {free['live_after']:,} bytes (retain_data=False) "
              f"vs {keep['live_after']:,} (True): {keep['live_after'] - free['live_after']:,} bytes freed; "
              f"peak {free['peak']:,} vs {keep['peak']:,}")
        print(f"              protection copies (Tape.snapshot_nbytes): {m['snapshot_nbytes']:,} bytes "
              f"({m['snapshot_nbytes'] / max(free['saved_before'], 1):.1%} of the saved bytes)")

if __name__ == "__main__":
    main()
