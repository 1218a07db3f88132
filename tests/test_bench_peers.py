"""The SReLU benchmark's peer rows (srelu_lib's PyTorch and JAX ports, eager and compiled) and its auto ratios.

No timing is asserted: the benchmark measures speed, these tests check that what it times is right.
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from srelu_lib.kernels import srelu_backward_reference, srelu_forward_reference

ALL = (True, True, True, True, True)
HAVE = {"torch": importlib.util.find_spec("torch") is not None, "jax": importlib.util.find_spec("jax") is not None}
PEERS = ["torch", "torch.compile", "jax.jit"]


def load_benchmark(*names: str) -> list:
    """The benchmark's modules, loaded from their files in dependency order (each registered in sys.modules,
    where the next one's ``from srelu_implementations import ...`` finds it)."""
    modules = []
    for name in names:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


@pytest.fixture(scope="module")
def bench():
    saved = {name: sys.modules.get(name) for name in ("srelu_implementations", "peers", "report", "bench_srelu")}
    *_, bench_srelu = load_benchmark("srelu_implementations", "peers", "report", "bench_srelu")
    yield bench_srelu
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


def crossed_problem() -> dict:
    """A small float32 (H, W, C, B) problem where tl > tr on half the channels, with many x in [tr, tl]."""
    rng = np.random.default_rng(5)
    C = 4
    X = rng.standard_normal((3, 5, C, 2)).astype(np.float32)
    dLdY = rng.standard_normal(X.shape).astype(np.float32)
    tl = np.array([-0.5, 0.8, -0.3, 0.6], np.float32)
    tr = np.array([0.5, -0.7, 0.4, -0.2], np.float32)  # channels 1 and 3: tl > tr
    al = np.array([0.2, 0.3, -0.1, 0.5], np.float32)
    ar = np.array([1.5, 2.0, 0.7, 1.2], np.float32)
    return {"X": X, "dLdY": dLdY, "params": (tl, al, tr, ar), "channel_axis": 2, "out": np.empty_like(X)}


def as_float64(a) -> np.ndarray:
    """A PyTorch tensor, JAX array or NumPy array as a float64 NumPy array."""
    return np.asarray(a.detach() if hasattr(a, "detach") else a).astype(np.float64)


def expected(problem: dict) -> tuple:
    X, params, axis = problem["X"], problem["params"], problem["channel_axis"]
    Y = np.asarray(srelu_forward_reference(X, *params, axis), np.float64)
    grads = [np.asarray(g, np.float64) for g in srelu_backward_reference(problem["dLdY"], X, *params, axis, ALL)]
    return Y, grads


@pytest.mark.parametrize("name", PEERS)
def test_peer_rows_compute_the_reference_values_with_crossed_thresholds(bench, name):
    if not HAVE[name.split(".")[0]]:
        pytest.skip(f"{name.split('.')[0]} is not installed")
    peers = sys.modules["peers"]
    (impl,) = peers.peer_providers()[name]()
    problem = crossed_problem()
    tl, _, tr, _ = problem["params"]
    overlap = (problem["X"] <= tl[:, None]) & (problem["X"] >= tr[:, None])
    assert overlap.sum() >= 10  # the region the benchmark's former PyTorch class got wrong (dL/dx there)
    impl.prepare(problem)
    Y_ref, grads_ref = expected(problem)
    bench.check_agreement(impl, problem, (Y_ref, grads_ref))  # what the benchmark checks before timing
    np.testing.assert_allclose(as_float64(impl.forward(problem)), Y_ref, rtol=1e-6, atol=1e-6)
    grads = impl.backward(problem)
    assert len(grads) == 5
    for got, ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(as_float64(got), ref, rtol=1e-5, atol=1e-5)
    both = impl.both(problem)  # PyTorch: the five gradients of a fresh forward; JAX: (y, the five gradients)
    for got, ref in zip(both[1] if name == "jax.jit" else both, grads_ref, strict=True):
        np.testing.assert_allclose(as_float64(got), ref, rtol=1e-5, atol=1e-5)


def test_the_agreement_check_rejects_a_wrong_gradient(bench):
    """check_agreement is what keeps a wrong row out of the table: it must catch an error in one gradient."""
    problem = crossed_problem()
    Y_ref, grads_ref = expected(problem)
    wrong = [g.copy() for g in grads_ref]
    wrong[0][0, 0, 1, 0] += 0.01
    impl = sys.modules["srelu_implementations"].Implementation(
        "wrong", lambda p: Y_ref.astype(np.float32), lambda p: [g.astype(np.float32) for g in wrong])
    with pytest.raises(AssertionError, match="wrong disagrees with the reference"):
        bench.check_agreement(impl, problem, (Y_ref, grads_ref))


def test_a_missing_library_is_a_stated_reason(bench):
    peers, impls_module = sys.modules["peers"], sys.modules["srelu_implementations"]
    with pytest.raises(impls_module.Unavailable, match="import srelu_lib_no_such_module failed: X is not installed"):
        peers._import("srelu_lib_no_such_module", "X")
    impls, notes = impls_module.implementations(skip=("torch", "jax"), extra=peers.peer_providers())
    assert not {impl.name for impl in impls} & set(PEERS)
    assert notes[-3:] == ["torch: skipped (--no-torch)", "torch.compile: skipped (--no-torch)",
                          "jax.jit: skipped (--no-jax)"]


@pytest.mark.skipif(not (HAVE["torch"] and HAVE["jax"]), reason="needs PyTorch and JAX")
def test_benchmark_runs_with_the_peers_and_their_ratios_to_auto(tmp_path):
    out = tmp_path / "bench.csv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_srelu.py"), "--sizes", "1000", "--dtypes", "float32",
         "--layouts", "CB", "--repeats", "1", "--no-memory", "--impls", *PEERS, "--csv", str(out)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "fwd/auto" in proc.stdout and "bwd/auto" in proc.stdout
    assert "threads, default settings)" in proc.stdout and "jax: " in proc.stdout and "devices: " in proc.stdout
    assert "auto at 960 float32 CB: the " in proc.stdout
    with open(out, encoding="utf-8") as f:
        rows = {row["impl"]: row for row in csv.DictReader(line for line in f if not line.startswith("#"))}
    assert {"auto", "literal", *PEERS} <= set(rows)
    assert float(rows["auto"]["fwd_per_auto"]) == 1.0 and float(rows["auto"]["bwd_per_auto"]) == 1.0
    for name in PEERS:
        for key in ("fwd_ms", "bwd_ms", "fwdbwd_ms", "fwd_per_copy", "bwd_per_add", "fwd_per_auto", "bwd_per_auto"):
            assert float(rows[name][key]) > 0, (name, key)
        for pass_ in ("fwd", "bwd"):  # one round: the ratio is the quotient of that round's two times
            ratio = float(rows[name][f"{pass_}_ms"]) / float(rows["auto"][f"{pass_}_ms"])
            assert float(rows[name][f"{pass_}_per_auto"]) == pytest.approx(ratio, rel=0.01), (name, pass_)
