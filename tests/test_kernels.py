"""The fast SReLU kernels (blocked NumPy, fused numba) agree with the reference; the backend switch; the benchmark runs.

No timing is asserted here: speed is measured by ``python -m srelu_lib.bench``.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srelu_lib import kernels_numpy
from srelu_lib.bench import literal_backward, literal_forward
from srelu_lib.srelu import (
    get_backend,
    set_backend,
    srelu_backward,
    srelu_backward_reference,
    srelu_forward,
    srelu_forward_reference,
)

srelu_module = importlib.import_module("srelu_lib.srelu")  # (the package attribute `srelu` is the function)
HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (pip install numba)")
ALL = [True] * 5


def numpy_kernels(block):
    def fwd(X, tl, al, tr, ar, ca):
        return kernels_numpy.srelu_forward_numpy(X, tl, al, tr, ar, ca, block=block)

    def bwd(dY, X, tl, al, tr, ar, ca, cg):
        return kernels_numpy.srelu_backward_numpy(dY, X, tl, al, tr, ar, ca, cg, block=block)

    return fwd, bwd


def numba_kernels():
    from srelu_lib import kernels_numba

    return kernels_numba.srelu_forward_numba, kernels_numba.srelu_backward_numba


# Small blocks push every layout through many blocks, partial last blocks and every plan mode.
KERNELS = [
    pytest.param(lambda: numpy_kernels(kernels_numpy.BLOCK_ELEMENTS), id="numpy"),
    pytest.param(lambda: numpy_kernels(64), id="numpy-block64"),
    pytest.param(lambda: numpy_kernels(100), id="numpy-block100"),
    pytest.param(lambda: numpy_kernels(1000), id="numpy-block1000"),
    pytest.param(numba_kernels, id="numba", marks=needs_numba),
]

# (shape, channel_axis): SSCB, CB, channel last (inner == 1), long rows, C not dividing any block, tiny, empty,
# then rows of medium length and rows long enough for the numba kernel's per-row sums (inner >= 1024).
LAYOUTS = [
    ((5, 6, 3, 4), 2),
    ((7, 33), 0),
    ((4, 5, 3), 2),
    ((3, 2, 700), 1),
    ((2, 37, 3), 1),
    ((1, 1, 1, 1), 2),
    ((0, 3, 4), 1),
    ((3, 0, 4), 1),
    ((3, 2, 40), 2),
    ((2, 3, 1100), 1),
]


def make_params(rng, C, dtype, kind):
    tl = rng.uniform(-1.0, -0.1, C)
    al = rng.uniform(-0.5, 1.5, C)
    tr = rng.uniform(0.1, 1.0, C)
    ar = rng.uniform(0.0, 2.0, C)
    if kind == "swapped" and C:  # tl > tr on the first channel, tl == tr on the last
        tl[0], tr[0] = 0.7, -0.4
        tl[-1] = tr[-1] = 0.25
    params = [p.astype(dtype) for p in (tl, al, tr, ar)]
    if kind == "scalar":
        params = [dtype(p[0]) if C else dtype(0.5) for p in params]
    elif kind == "mixed":
        params[1] = float(params[1][0]) if C else 0.5  # a Python float slope shared by all channels
        params[2] = np.array([params[2][0] if C else 0.5], dtype=np.float64)  # shape (1,), other dtype
    return params


def tolerance(dtype, *arrays):
    eps = np.finfo(dtype).eps
    finite = [np.abs(a[np.isfinite(a)]) for a in arrays if np.size(a)]
    scale = 1.0 + sum(float(f.max()) if f.size else 0.0 for f in finite)
    return 16 * eps * scale


def assert_same(actual, expected, atol, what):
    assert actual.shape == expected.shape, what
    assert actual.dtype == expected.dtype, what
    np.testing.assert_allclose(actual, expected, rtol=atol, atol=atol, equal_nan=True, err_msg=what)


def check_against_reference(kernels, X, dY, params, ca, flags=ALL):
    fwd, bwd = kernels
    Y_ref = srelu_forward_reference(X, *params, ca)
    scale = [np.asarray(p, dtype=np.float64) for p in params]
    atol = tolerance(X.dtype, X, *scale)
    assert_same(fwd(X, *params, ca), Y_ref, atol * 4, "forward")
    got = bwd(dY, X, *params, ca, flags)
    ref = srelu_backward_reference(dY, X, *params, ca, flags)
    # A sum over n products can be off by about n * eps times the sum of their magnitudes.
    sum_atol = tolerance(X.dtype, dY) * (1 + np.nansum(np.abs(np.where(np.isfinite(X), X, 0)))) * 4
    names = ("dLdX", "dLdtl", "dLdal", "dLdtr", "dLdar")
    for name, g, r, flag in zip(names, got, ref, flags):
        if not flag:
            assert g is None and r is None, name
            continue
        assert_same(np.asarray(g), np.asarray(r), atol * tolerance(X.dtype, dY) / tolerance(X.dtype)
                    if name == "dLdX" else sum_atol, name)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("shape, ca", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["per-channel", "swapped", "scalar", "mixed"])
def test_kernels_match_reference_on_random_data(kernels, shape, ca, dtype, kind):
    rng = np.random.default_rng(abs(hash((shape, kind, np.dtype(dtype).name))) % 2**32)
    X = (2 * rng.standard_normal(shape)).astype(dtype)
    dY = rng.standard_normal(shape).astype(dtype)
    params = make_params(rng, shape[ca], dtype, kind)
    check_against_reference(kernels(), X, dY, params, ca)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_match_reference_on_nan_and_inf(kernels, dtype):
    rng = np.random.default_rng(1)
    shape, ca = (4, 3, 50), 1
    X = rng.standard_normal(shape).astype(dtype)
    dY = rng.standard_normal(shape).astype(dtype)
    X[0, 0, :4] = [np.nan, np.inf, -np.inf, 0.0]
    X[1, 1, 7] = np.inf
    X[2, 2, 9] = -np.inf
    dY[3, 1, 5] = np.inf
    dY[3, 2, 6] = np.nan
    tl = np.array([-0.5, -0.5, 0.5], dtype)
    al = np.array([0.0, 1.0, 0.5], dtype)
    tr = np.array([0.5, 0.5, -0.5], dtype)  # tl > tr on channel 2
    ar = np.array([1.0, 0.0, 2.0], dtype)  # ar == 1 exactly: +inf must stay +inf
    check_against_reference(kernels(), X, dY, (tl, al, tr, ar), ca)


@pytest.mark.parametrize("kernels", KERNELS)
def test_infinities_follow_the_regions(kernels):
    fwd, bwd = kernels()
    X = np.array([[np.inf, -np.inf, np.nan, 1.0]])
    Y = fwd(X, -1.0, 1.0, 1.0, 1.0, 0)  # identity slopes: never 0 * inf
    np.testing.assert_array_equal(Y, [[np.inf, -np.inf, np.nan, 1.0]])
    Y = fwd(X, -1.0, 0.5, 1.0, 0.0, 0)  # a zero right slope at +inf is IEEE 0 * inf = NaN
    np.testing.assert_array_equal(Y, [[np.nan, -np.inf, np.nan, 1.0]])
    dX, *_ = bwd(np.ones_like(X), X, -1.0, 0.5, 1.0, 2.0, 0, ALL)
    np.testing.assert_array_equal(dX, [[2.0, 0.5, np.nan, 2.0]])


@pytest.mark.parametrize("kernels", KERNELS)
def test_nan_parameter_poisons_its_channel_only(kernels):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2, 3, 40))
    tl = np.array([-0.5, np.nan, -0.5])
    check_against_reference(kernels(), X, rng.standard_normal(X.shape), (tl, 0.5, 0.5, 2.0), 1)
    Y = kernels()[0](X, tl, 0.5, 0.5, 2.0, 1)
    assert np.isnan(Y[:, 1]).all() and np.isfinite(Y[:, [0, 2]]).all()


@pytest.mark.parametrize("kernels", KERNELS)
def test_infinite_parameters_match_reference(kernels):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 2, 30))
    params = (np.array([-np.inf, -0.5]), 0.5, np.array([0.5, np.inf]), 2.0)  # one-sided SReLUs
    check_against_reference(kernels(), X, rng.standard_normal(X.shape), params, 1)


@pytest.mark.parametrize("kernels", KERNELS)
def test_every_subset_of_compute_gradients(kernels):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 3, 20)).astype(np.float32)
    dY = rng.standard_normal(X.shape).astype(np.float32)
    X[0, 0, 0] = np.nan  # the exact fallback must honour the flags too
    params = make_params(rng, 3, np.float32, "swapped")
    for flags in itertools.product([False, True], repeat=5):
        check_against_reference(kernels(), X, dY, params, 1, list(flags))


@pytest.mark.parametrize("kernels", KERNELS)
def test_kinks_are_one_sided_like_the_reference(kernels):
    X = np.array([[-1.0, 1.0, 0.0, 0.25]])  # exactly on tl, tr, and tl == tr on the last channel
    tl, al, tr, ar = -1.0, 0.5, 1.0, 2.0
    check_against_reference(kernels(), X, np.ones_like(X), (tl, al, tr, ar), 0)
    check_against_reference(kernels(), X.T.copy(), np.ones((4, 1)), (np.array([-1.0, -1.0, 0.0, 0.25]), al,
                                                                      np.array([1.0, 1.0, 0.0, 0.25]), ar), 0)


@pytest.mark.parametrize("kernels", KERNELS)
def test_outputs_are_new_arrays_or_out(kernels):
    fwd, bwd = kernels()
    X = np.random.default_rng(5).standard_normal((3, 4))
    X_before = X.copy()
    Y = fwd(X, -0.5, 0.1, 0.5, 2.0, 0)
    assert not np.shares_memory(Y, X)
    np.testing.assert_array_equal(X, X_before)
    dX, *_ = bwd(np.ones_like(X), X, -0.5, 0.1, 0.5, 2.0, 0, ALL)
    assert not np.shares_memory(dX, X)


@pytest.mark.parametrize("kernels", KERNELS)
def test_non_contiguous_input(kernels):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((8, 3, 10))[:, :, ::2]
    check_against_reference(kernels(), X, rng.standard_normal(X.shape), make_params(rng, 3, np.float64, "mixed"), 1)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dLdX_is_exact_on_single_regions_even_for_tiny_slopes(kernels, dtype):
    # dLdX = dLdY * al on the left piece and dLdY * ar on the right one, with no cancellation
    # (a form like dY + (al - 1)*dY loses about eps/al relative accuracy when al is tiny).
    rng = np.random.default_rng(11)
    C = 4
    X = rng.uniform(-3.0, 3.0, (64, C, 40)).astype(dtype)
    X[np.abs(X) < 1.5] = dtype(2.5)  # every element strictly left of tl or right of tr
    dY = rng.standard_normal(X.shape).astype(dtype)
    tl, tr = np.full(C, -1.0, dtype), np.full(C, 1.0, dtype)
    al = np.array([1e-3, 1e-5, 0.1, 0.3], dtype)
    ar = np.array([1e-4, 2.0, 1e-6, 0.7], dtype)
    _, bwd = kernels()
    dX = bwd(dY, X, tl, al, tr, ar, 1, ALL)[0]
    slope = np.where(X <= -1.0, al[:, None], ar[:, None]).astype(dtype)
    np.testing.assert_array_equal(dX, dY * slope)


@pytest.mark.parametrize("block", [64, kernels_numpy.BACKWARD_BLOCK_ELEMENTS])
def test_numpy_kernel_repeated_calls_with_new_parameters(block):
    # Nothing of one call's parameters (tiled patterns, scratch blocks) leaks into the next call.
    rng = np.random.default_rng(12)
    X = rng.standard_normal((9, 5, 3)).astype(np.float32)
    dY = rng.standard_normal(X.shape).astype(np.float32)
    for _ in range(3):
        params = make_params(rng, 5, np.float32, "per-channel")
        check_against_reference(numpy_kernels(block), X, dY, params, 1)


def test_numpy_kernel_writes_into_out():
    X = np.random.default_rng(7).standard_normal((4, 3, 5)).astype(np.float32)
    out = np.empty_like(X)
    Y = kernels_numpy.srelu_forward_numpy(X, -0.5, 0.1, 0.5, 2.0, 1, out=out)
    assert Y is out
    np.testing.assert_allclose(out, srelu_forward_reference(X, -0.5, 0.1, 0.5, 2.0, 1), rtol=1e-6)
    with pytest.raises(ValueError, match="out must be"):
        kernels_numpy.srelu_forward_numpy(X, -0.5, 0.1, 0.5, 2.0, 1, out=np.empty(X.shape))


def test_numpy_kernel_rejects_bad_arguments():
    X = np.zeros((2, 3))
    with pytest.raises(ValueError, match="tl must have 1 or C = 3"):
        kernels_numpy.srelu_forward_numpy(X, np.zeros(2), 0.5, 0.5, 2.0, 1)
    with pytest.raises(ValueError, match="channel_axis"):
        kernels_numpy.srelu_forward_numpy(X, 0.0, 0.5, 0.5, 2.0, 5)
    with pytest.raises(ValueError, match="compute_gradients must have 5"):
        kernels_numpy.srelu_backward_numpy(X, X, 0.0, 0.5, 0.5, 2.0, 1, [True] * 4)
    with pytest.raises(ValueError, match="dLdY must have"):
        kernels_numpy.srelu_backward_numpy(np.zeros((3, 2)), X, 0.0, 0.5, 0.5, 2.0, 1, ALL)


@settings(max_examples=60, deadline=None)
@given(
    dims=st.lists(st.integers(0, 6), min_size=1, max_size=4),
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
    block=st.sampled_from([16, 50, kernels_numpy.BLOCK_ELEMENTS]),
)
def test_numpy_kernel_matches_reference_property(dims, data, dtype, block):
    ca = data.draw(st.integers(0, len(dims) - 1))
    C = dims[ca]
    value = st.floats(-4, 4, allow_nan=False, width=32)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    X = rng.uniform(-3, 3, dims).astype(dtype)
    dY = rng.standard_normal(dims).astype(dtype)
    per_channel = data.draw(st.booleans())
    params = [np.array(data.draw(st.lists(value, min_size=C, max_size=C)), dtype) if per_channel
              else dtype(data.draw(value)) for _ in range(4)]
    check_against_reference(numpy_kernels(block), X, dY, params, ca)


# --- the backend switch ------------------------------------------------------------------------
@pytest.fixture
def restore_backend():
    previous = get_backend()
    yield
    set_backend(previous)


def test_backend_names_and_errors(restore_backend):
    assert get_backend() in ("auto", "numba", "numpy", "reference")
    previous = set_backend("numpy")
    assert get_backend() == "numpy"
    assert set_backend("reference") == "numpy"
    with pytest.raises(ValueError, match="backend must be one of"):
        set_backend("fortran")
    assert get_backend() == "reference"
    set_backend(previous)


@pytest.mark.parametrize("backend", ["reference", "numpy", pytest.param("numba", marks=needs_numba), "auto"])
def test_every_backend_gives_the_reference_values(backend, restore_backend):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((20, 20, 4, 16)).astype(np.float32)  # above the small-array threshold
    dY = rng.standard_normal(X.shape).astype(np.float32)
    params = make_params(rng, 4, np.float32, "swapped")
    set_backend(backend)
    check_against_reference((srelu_forward, srelu_backward), X, dY, params, 2)


def test_dispatch_uses_the_chosen_kernel(monkeypatch, restore_backend):
    calls = []
    real = kernels_numpy.srelu_forward_numpy
    monkeypatch.setattr(kernels_numpy, "srelu_forward_numpy", lambda *a, **k: calls.append(1) or real(*a, **k))
    big = np.zeros((4, 1 << 13))
    set_backend("numpy")
    srelu_forward(big, 0.0, 0.5, 0.5, 2.0, 0)
    assert calls == [1]
    srelu_forward(np.zeros((4, 3)), 0.0, 0.5, 0.5, 2.0, 0)  # small: the reference is faster
    srelu_forward(big.astype(np.float16), 0.0, 0.5, 0.5, 2.0, 0)  # not float32/64: the reference
    assert calls == [1]
    set_backend("reference")
    srelu_forward(big, 0.0, 0.5, 0.5, 2.0, 0)
    assert calls == [1]


def test_auto_without_numba_uses_numpy(monkeypatch, restore_backend):
    monkeypatch.setattr(srelu_module, "_numba_available", lambda: False)
    with pytest.raises(ImportError, match="numba is not installed"):
        set_backend("numba")
    set_backend("auto")
    assert srelu_module._kernel_for(np.zeros(1 << 15, np.float32)) == "numpy"


def run_python(code, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          stdin=subprocess.DEVNULL, timeout=300)


def test_importing_the_package_does_not_import_numba():
    proc = run_python("import sys, srelu_lib, srelu_lib.srelu, srelu_lib.kernels_numpy; "
                      "print('numba' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_environment_variable_sets_the_backend():
    proc = run_python("from srelu_lib.srelu import get_backend; print(get_backend())", SRELU_LIB_BACKEND="numpy")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "numpy"
    proc = run_python("import numpy as np; from srelu_lib.srelu import srelu_forward; "
                      "srelu_forward(np.zeros(3), 0.0, 0.5, 0.5, 2.0, 0)", SRELU_LIB_BACKEND="gpu")
    assert proc.returncode != 0
    assert "SRELU_LIB_BACKEND must be one of" in proc.stderr


# --- the benchmark's baselines and the benchmark itself ------------------------------------------------
def test_literal_translation_is_right_where_it_claims_to_be():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((5, 5, 3, 4))
    dY = rng.standard_normal(X.shape)
    params = make_params(rng, 3, np.float64, "per-channel")  # tl < tr, finite data
    np.testing.assert_allclose(literal_forward(X, *params, 2), srelu_forward_reference(X, *params, 2), rtol=1e-12)
    for got, ref in zip(literal_backward(dY, X, *params, 2), srelu_backward_reference(dY, X, *params, 2, ALL)):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_benchmark_runs_end_to_end(tmp_path):
    out = tmp_path / "bench.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "srelu_lib.bench", "--quick", "--sizes", "1000", "--repeats", "2", "--no-torch",
         "--csv", str(out)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "floor:copy" in proc.stdout and "literal" in proc.stdout and "numpy" in proc.stdout
    assert "torch: skipped" in proc.stdout
    with open(out, encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    impls = {row["impl"] for row in rows}
    expected = {"floor:copy", "floor:add", "reference", "literal", "numpy", "numpy[out]"}
    if HAVE_NUMBA:
        expected |= {"numba", "numba[out]"}
    assert expected <= impls
    for row in rows:
        if not row["impl"].startswith("floor"):
            assert float(row["fwd_ms"]) > 0 and float(row["bwd_ms"]) > 0 and float(row["mem_fwd"]) >= 0
