"""The fast SReLU kernels (blocked NumPy, fused numba) agree with the reference; the backend switch; the benchmark runs.

No timing is asserted here: speed is measured by ``benchmarks/bench_srelu.py``.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import itertools
import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from srelu_lib.kernels import (
    Backend,
    backend_names,
    backends,
    get_backend,
    register_backend,
    registered_backends,
    set_backend,
    srelu_backward,
    srelu_backward_reference,
    srelu_forward,
    srelu_forward_reference,
    use_backend,
)
from srelu_lib.kernels import numpy_blocked as kernels_numpy
from srelu_lib.kernels.literal import literal_backward, literal_forward

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
    from srelu_lib.kernels import numba_fused as kernels_numba

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
    for name, g, r, flag in zip(names, got, ref, flags, strict=True):
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


# One non-finite value at a time, in each region, with finite parameters and tl < tr everywhere: the case the
# numba kernel handles with its fast loop, which must notice the value and hand the call to the exact loop.
NON_FINITE_CASES = [(where, value, region)
                    for where in ("X", "dLdY") for value in (np.nan, np.inf, -np.inf)
                    for region in ("left", "middle", "right")]


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where, value, region", NON_FINITE_CASES)
def test_one_non_finite_value_with_ordinary_parameters(kernels, dtype, where, value, region):
    rng = np.random.default_rng(5)
    shape, ca = (3, 2, 600), 1  # rows longer than the numba kernel's segment
    X = rng.standard_normal(shape).astype(dtype)
    dY = rng.standard_normal(shape).astype(dtype)
    params = (np.array([-0.5, -0.3], dtype), np.array([0.25, 0.0], dtype),
              np.array([0.4, 0.6], dtype), np.array([1.0, 2.0], dtype))
    position = (1, 1, 517)
    if where == "X":
        X[position] = value
    else:
        X[position] = {"left": -2.0, "middle": 0.0, "right": 2.0}[region]
        dY[position] = value
    if where == "X" and region == "middle":
        dY[position] = 0.0  # and a zero upstream gradient: 0 * inf must still show up as NaN
    check_against_reference(kernels(), X, dY, params, ca)


@needs_numba
def test_numba_fast_loop_is_used_for_ordinary_data_and_left_for_non_finite_data(monkeypatch):
    from srelu_lib.kernels import numba_fused as kernels_numba

    calls = []
    for name in ("_backward_rows", "_backward_pattern"):
        original = getattr(kernels_numba, name)
        monkeypatch.setattr(kernels_numba, name,
                            lambda *args, _name=name, _f=original: (calls.append(_name), _f(*args))[1])
    rng = np.random.default_rng(6)
    X = rng.standard_normal((4, 3, 64)).astype(np.float32)
    dY = rng.standard_normal(X.shape).astype(np.float32)
    params = make_params(rng, 3, np.float32, "per-channel")
    check_against_reference(numba_kernels(), X, dY, params, 1)
    assert calls == []  # finite data, tl < tr: the fast loop only
    X[2, 1, 3] = np.nan
    check_against_reference(numba_kernels(), X, dY, params, 1)
    assert calls == ["_backward_rows"]  # the NaN sent the call to the exact loop
    calls.clear()
    check_against_reference(numba_kernels(), np.nan_to_num(X), dY, make_params(rng, 3, np.float32, "swapped"), 1)
    assert calls == ["_backward_rows"]  # tl >= tr on a channel: exact loop from the start


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("shape, ca", [((1, 2, 1 << 18), 1), ((512, 4, 32), 1)])
def test_float32_parameter_sums_stay_accurate_on_long_sums(kernels, shape, ca):
    """Sums of 2**18 same-sign float32 terms per channel: error within one eps times the sum of magnitudes.

    Returning the float32 result alone costs up to half of that.  A float32 sum running over a whole row, even
    spread over vector lanes, is off by about 3 eps at this length (and more for longer rows); the kernels add
    float32 partial sums of short segments or blocks into float64.
    """
    rng = np.random.default_rng(7)
    X = rng.uniform(-3.0, -1.0, shape).astype(np.float32)  # every element on the left piece
    X[:, 1] = rng.uniform(1.0, 3.0, X[:, 1].shape)  # channel 1: every element on the right piece
    dY = rng.uniform(0.5, 1.5, shape).astype(np.float32)  # same sign: no cancellation to hide errors
    tl, al, tr, ar = (np.array(v, np.float32) for v in ([-0.5] * shape[1], [0.3] * shape[1],
                                                        [0.5] * shape[1], [1.7] * shape[1]))
    _, dtl, dal, dtr, dar = kernels()[1](dY, X, tl, al, tr, ar, ca, ALL)
    x64, dy64 = X.astype(np.float64), dY.astype(np.float64)
    eps = np.finfo(np.float32).eps
    for c, (region, got_t, got_a) in enumerate([("left", dtl, dal), ("right", dtr, dar)]):
        xs, dys = np.moveaxis(x64, ca, 0)[c].ravel(), np.moveaxis(dy64, ca, 0)[c].ravel()
        if region == "left":
            terms_t, terms_a, slope = dys, dys * (xs - float(tl[c])), float(al[c])
        else:
            terms_t, terms_a, slope = dys, dys * (xs - float(tr[c])), float(ar[c])
        exact_t = (1 - slope) * math.fsum(terms_t)
        exact_a = math.fsum(terms_a)
        assert abs(float(got_t[c]) - exact_t) <= eps * abs(1 - slope) * np.sum(np.abs(terms_t)), region
        assert abs(float(got_a[c]) - exact_a) <= eps * np.sum(np.abs(terms_a)), region


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
@pytest.mark.parametrize("inner", [20, 300])  # short rows, rows summed in segments
@pytest.mark.parametrize("data", ["ordinary", "non-finite"])
def test_every_subset_of_compute_gradients(kernels, inner, data):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 3, inner)).astype(np.float32)
    dY = rng.standard_normal(X.shape).astype(np.float32)
    params = make_params(rng, 3, np.float32, "per-channel")
    if data == "non-finite":  # the exact loops must honour the flags too
        X[0, 0, 0] = np.nan
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


@pytest.mark.parametrize("kernels", [*KERNELS, pytest.param(lambda: (srelu_forward_reference,
                                                                    srelu_backward_reference), id="reference")])
def test_every_kernel_rejects_bad_arguments_with_the_same_messages(kernels):
    fwd, bwd = kernels()
    X = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"^tl must have shape \(\) or \(1,\) .* \(C,\) = \(3,\) .*got shape \(2,\)"):
        fwd(X, np.zeros(2), 0.5, 0.5, 2.0, 1)
    with pytest.raises(ValueError, match=r"^ar must have shape .*got shape \(3, 1\)"):
        fwd(X, 0.0, 0.5, 0.5, np.zeros((3, 1)), 1)
    with pytest.raises(ValueError, match="al must have one element when channel_axis is None"):
        fwd(X, 0.0, np.zeros(3), 0.5, 2.0, None)
    for axis in (5, -3, 1.0, True):
        with pytest.raises(ValueError, match="channel_axis must be an axis of X"):
            fwd(X, 0.0, 0.5, 0.5, 2.0, axis)
    with pytest.raises(TypeError, match="X must be a floating-point array"):
        fwd(np.zeros((2, 3), dtype=np.int64), 0.0, 0.5, 0.5, 2.0, 1)
    with pytest.raises(ValueError, match="compute_gradients must have 5"):
        bwd(X, X, 0.0, 0.5, 0.5, 2.0, 1, [True] * 4)
    with pytest.raises(ValueError, match="tr must have shape"):
        bwd(X, X, 0.0, 0.5, np.ones(4), 2.0, 1, ALL)
    with pytest.raises(ValueError, match=r"dLdY must have X's shape \(2, 3\); got \(3, 2\)"):
        bwd(np.zeros((3, 2)), X, 0.0, 0.5, 0.5, 2.0, 1, ALL)
    fwd(X, np.zeros((1, 1)), 0.5, np.zeros(1), 2.0, 1)  # any one-element shape is shared by all channels
    fwd(X, 0.0, 0.5, 0.5, 2.0, -1)  # a negative axis counts from the end


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
    assert backend_names() == ("auto", "reference", "numpy", "numba")
    assert get_backend() in backend_names()
    previous = set_backend("numpy")
    assert get_backend() == "numpy"
    assert set_backend("reference") == "numpy"  # the previous choice, as a str
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'reference', 'numpy', 'numba'; got 'fortran'"):
        set_backend("fortran")
    with pytest.raises(ValueError, match="backend must be one of"):
        set_backend(None)
    assert get_backend() == "reference"
    set_backend(previous)


@pytest.mark.parametrize("backend", ["reference", "numpy", pytest.param("numba", marks=needs_numba), "auto"])
@pytest.mark.parametrize("shape", [(20, 20, 4, 16), (2, 3, 4, 1)])  # above and below the "auto" size threshold
def test_every_backend_gives_the_reference_values(backend, shape, restore_backend):
    rng = np.random.default_rng(8)
    X = rng.standard_normal(shape).astype(np.float32)
    dY = rng.standard_normal(X.shape).astype(np.float32)
    params = make_params(rng, 4, np.float32, "swapped")
    set_backend(backend)
    check_against_reference((srelu_forward, srelu_backward), X, dY, params, 2)


def spy_on(monkeypatch, module, *names):
    """Count the calls of ``module``'s functions ``names`` (the dispatch looks them up at each call)."""
    calls = []
    for name in names:
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _name=name, _real=real, **k: calls.append(_name) or _real(*a, **k))
    return calls


@pytest.mark.parametrize("size", [1, 12, 1 << 15])
def test_a_forced_backend_runs_for_every_size(size, monkeypatch, restore_backend):
    """set_backend("numpy") really forces the NumPy kernels: no silent switch to the reference on small arrays."""
    X = np.linspace(-2.0, 2.0, size).reshape(1, -1)
    calls = spy_on(monkeypatch, kernels_numpy, "srelu_forward_numpy", "srelu_backward_numpy")
    set_backend("numpy")
    srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
    srelu_backward(np.ones_like(X), X, -0.5, 0.5, 0.5, 2.0, 0, ALL)
    assert calls == ["srelu_forward_numpy", "srelu_backward_numpy"]
    calls.clear()
    with set_backend("reference"):
        srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
    assert calls == []
    if HAVE_NUMBA:
        from srelu_lib.kernels import numba_fused

        numba_calls = spy_on(monkeypatch, numba_fused, "srelu_forward_numba", "srelu_backward_numba")
        with set_backend("numba"):
            srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
            srelu_backward(np.ones_like(X), X, -0.5, 0.5, 0.5, 2.0, 0, ALL)
        assert numba_calls == ["srelu_forward_numba", "srelu_backward_numba"] and calls == []


def test_a_forced_backend_refuses_a_dtype_it_does_not_compute_in(monkeypatch, restore_backend):
    X = np.linspace(-2.0, 2.0, 40, dtype=np.float16).reshape(4, 10)
    set_backend("numpy")
    with pytest.raises(TypeError, match=r"the 'numpy' backend computes in float32 or float64; got X of dtype float16"):
        srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
    set_backend("auto")  # "auto" picks the reference, which computes in any float dtype
    calls = spy_on(monkeypatch, kernels_numpy, "srelu_forward_numpy")
    Y = srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
    assert Y.dtype == np.float16 and calls == []
    np.testing.assert_allclose(Y, srelu_forward_reference(X.astype(np.float64), -0.5, 0.5, 0.5, 2.0, 0), rtol=1e-3)


@pytest.mark.parametrize("numba_installed", [True, False])
def test_auto_picks_by_availability_size_and_dtype(numba_installed, monkeypatch, restore_backend):
    if numba_installed and not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(backends, "_importable", lambda module: numba_installed or module != "numba")
    if not numba_installed:
        with pytest.raises(ImportError, match="backend is 'numba' but numba is not installed"):
            set_backend("numba")
    set_backend("auto")
    big, small = np.zeros(kernels_numpy.AUTO_MIN_SIZE, np.float32), np.zeros(kernels_numpy.AUTO_MIN_SIZE - 1)
    chosen = {name: backends.backend_for(X).name for name, X in
              (("big", big), ("small", small), ("float16", big.astype(np.float16)))}
    if numba_installed:
        assert chosen == {"big": "numba", "small": "numba", "float16": "reference"}
    else:
        assert chosen == {"big": "numpy", "small": "reference", "float16": "reference"}


def test_set_backend_as_a_context_manager_restores_the_previous_choice(restore_backend):
    set_backend("numpy")
    with set_backend("reference") as previous:
        assert previous == "numpy" and get_backend() == "reference"
        with set_backend("auto"):
            assert get_backend() == "auto"
        assert get_backend() == "reference"
    assert get_backend() == "numpy"
    with pytest.raises(RuntimeError, match="inside"):
        with set_backend("reference"):
            raise RuntimeError("inside the block")
    assert get_backend() == "numpy"  # restored although the block raised


def test_set_backend_is_process_wide_and_use_backend_is_local_to_the_thread(restore_backend):
    set_backend("numpy")
    seen = {}

    def other_thread(key):
        seen[key] = get_backend()

    def run_other(key):
        thread = threading.Thread(target=other_thread, args=(key,))
        thread.start()
        thread.join()

    with use_backend("reference"):
        assert get_backend() == "reference"
        run_other("during use_backend")
        with use_backend("auto"):  # nests, and wins over set_backend in this thread
            set_backend("numpy")
            assert get_backend() == "auto"
        assert get_backend() == "reference"
        with set_backend("auto"):
            run_other("during set_backend")
    assert get_backend() == "numpy"
    assert seen == {"during use_backend": "numpy", "during set_backend": "auto"}
    with pytest.raises(ValueError, match="backend must be one of"):
        with use_backend("gpu"):
            pass
    assert get_backend() == "numpy"


def test_use_backend_blocks_in_concurrent_threads_do_not_interfere(restore_backend):
    set_backend("auto")
    barrier = threading.Barrier(2)
    results = {}

    def work(name):
        with use_backend(name):
            barrier.wait()  # both threads are inside their blocks now
            X = np.linspace(-2.0, 2.0, 64).reshape(4, 16)
            srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
            results[name] = get_backend()
            barrier.wait()
        results[name + " after"] = get_backend()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("numpy", "reference")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"numpy": "numpy", "reference": "reference", "numpy after": "auto", "reference after": "auto"}


def spy_forward(X, tl, al, tr, ar, channel_axis):
    """A registered test backend: the reference, marked."""
    SPY_CALLS.append("forward")
    return srelu_forward_reference(X, tl, al, tr, ar, channel_axis)


def spy_backward(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients):
    SPY_CALLS.append("backward")
    return srelu_backward_reference(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)


SPY_CALLS: list = []


@pytest.fixture
def spy_backend(monkeypatch, restore_backend):
    """A backend registered for one test (the registry is restored afterwards)."""
    monkeypatch.setattr(backends, "_registry", dict(backends._registry))
    SPY_CALLS.clear()
    return register_backend(Backend(name="spy", module=__name__, forward="spy_forward", backward="spy_backward",
                                    summary="the reference, counted"))


def test_registering_a_backend_is_all_it_takes_to_use_it(spy_backend):
    assert "spy" in backend_names() and spy_backend in registered_backends()
    X = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    with set_backend("spy"):
        srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
        srelu_backward(np.ones_like(X), X, -0.5, 0.5, 0.5, 2.0, 0, ALL)
    assert SPY_CALLS == ["forward", "backward"]
    set_backend("auto")  # auto_rank None: "auto" never picks it
    srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
    assert SPY_CALLS == ["forward", "backward"]
    with pytest.raises(ValueError, match="'spy' is already registered"):
        register_backend(spy_backend)
    with pytest.raises(ValueError, match="'auto' is already registered"):
        register_backend(Backend(name="auto", module=__name__, forward="spy_forward", backward="spy_backward",
                                 summary=""))


def test_auto_sees_a_backend_registered_after_it_last_chose(monkeypatch, restore_backend):
    # "auto" keeps its ranking between calls (dispatch is on every kernel call); registering must renew it
    monkeypatch.setattr(backends, "_registry", dict(backends._registry))
    SPY_CALLS.clear()
    X = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    set_backend("auto")
    before = backends.backend_for(X)
    assert before.name != "eager"
    eager = register_backend(Backend(name="eager", module=__name__, forward="spy_forward",
                                     backward="spy_backward", summary="ranked first", auto_rank=-1))
    assert backends.backend_for(X) is eager
    srelu_forward(X, -0.5, 0.5, 0.5, 2.0, 0)
    assert SPY_CALLS == ["forward"]
    monkeypatch.undo()  # the registry without it: "auto" chooses as before
    assert backends.backend_for(X) is before


def test_a_backend_with_a_missing_requirement_is_unavailable(monkeypatch, restore_backend):
    monkeypatch.setattr(backends, "_registry", dict(backends._registry))
    ghost = register_backend(Backend(name="ghost", module="srelu_lib_ghost", forward="f", backward="b",
                                     summary="needs a module that does not exist",
                                     requires=("srelu_lib_no_such_module",), auto_rank=-1))
    assert not ghost.available()
    with pytest.raises(ImportError, match="'ghost' but srelu_lib_no_such_module is not installed"):
        set_backend("ghost")
    with pytest.raises(ImportError, match="backend 'ghost' needs srelu_lib_no_such_module"):
        ghost.functions()
    assert backends.backend_for(np.zeros(3)).name != "ghost"  # "auto" skips it although it ranks first


def run_python(code, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          stdin=subprocess.DEVNULL, timeout=300)


def test_importing_the_package_does_not_import_numba():
    proc = run_python("import sys, srelu_lib, srelu_lib.kernels, srelu_lib.kernels.numpy_blocked; "
                      "print('numba' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_environment_variable_sets_the_backend():
    proc = run_python("from srelu_lib.kernels import get_backend; print(get_backend())", SRELU_LIB_BACKEND="numpy")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "numpy"
    proc = run_python("import numpy as np; from srelu_lib.kernels import srelu_forward; "
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
    expected = srelu_backward_reference(dY, X, *params, 2, ALL)
    for got, ref in zip(literal_backward(dY, X, *params, 2), expected, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def load_benchmark_module(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_reads_the_kernel_registry(spy_backend):
    bench = load_benchmark_module("srelu_implementations")
    impls, notes = bench.implementations()
    names = [impl.name for impl in impls]
    expected = ["reference", "literal", "auto", "numpy", "numpy[out]", "numpy[1 thread]"]
    expected += ["numba", "numba[out]"] if HAVE_NUMBA else []
    assert names == [*expected, "spy"]  # registered once, benchmarked with no other change
    missing_numba = [] if HAVE_NUMBA else ["numba: skipped (not installed: needs numba)"]
    assert notes == missing_numba
    spy = impls[-1]
    problem = {"X": np.linspace(-2, 2, 12).reshape(3, 4), "dLdY": np.ones((3, 4)), "channel_axis": 0,
               "params": (np.full(3, -0.5), np.full(3, 0.5), np.full(3, 0.5), np.full(3, 2.0))}
    spy.both(problem)
    assert SPY_CALLS == ["forward", "backward"]
    assert not spy.preallocated and spy.traced_memory


def test_the_benchmark_says_which_registered_backend_it_could_not_run(monkeypatch, restore_backend):
    monkeypatch.setattr(backends, "_registry", dict(backends._registry))
    register_backend(Backend(name="ghost", module="srelu_lib_ghost", forward="f", backward="b", summary="",
                             requires=("srelu_lib_no_such_module",)))
    impls, notes = load_benchmark_module("srelu_implementations").implementations(skip=("torch",))
    assert "ghost" not in [impl.name for impl in impls]
    assert "ghost: skipped (not installed: needs srelu_lib_no_such_module)" in notes


def test_benchmark_runs_end_to_end(tmp_path):
    out = tmp_path / "bench.csv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_srelu.py"), "--quick", "--sizes", "1000", "--repeats", "2",
         "--no-torch", "--no-jax", "--csv", str(out)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "floor:copy" in proc.stdout and "literal" in proc.stdout and "numpy" in proc.stdout
    for note in ("torch: skipped (--no-torch)", "torch.compile: skipped (--no-torch)", "jax.jit: skipped (--no-jax)"):
        assert note in proc.stdout
    with open(out, encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    impls = {row["impl"] for row in rows}
    expected = {"floor:copy", "floor:add", "reference", "literal", "auto", "numpy", "numpy[out]"}
    if HAVE_NUMBA:
        expected |= {"numba", "numba[out]"}
    assert expected <= impls and not impls & {"torch", "torch.compile", "jax.jit"}
    for row in rows:
        if not row["impl"].startswith("floor"):
            assert float(row["fwd_ms"]) > 0 and float(row["bwd_ms"]) > 0 and float(row["mem_fwd"]) >= 0


# --- the NumPy kernels' threads ----------------------------------------------------------------------------
@pytest.mark.parametrize("data", ["ordinary", "non-finite"])
def test_numpy_kernels_give_the_same_values_on_any_number_of_threads(data):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((6, 3, 50)).astype(np.float32)
    dY = rng.standard_normal(X.shape).astype(np.float32)
    params = make_params(rng, 3, np.float32, "per-channel")
    if data == "non-finite":
        X[4, 2, 7] = np.nan
        dY[1, 0, 3] = np.inf
    results = {}
    for workers in (1, 2, 3):  # block=64: 14 blocks, enough for 3 threads
        Y = kernels_numpy.srelu_forward_numpy(X, *params, 1, block=64, workers=workers)
        grads = kernels_numpy.srelu_backward_numpy(dY, X, *params, 1, ALL, block=64, workers=workers)
        results[workers] = (Y, grads)
        check_against_reference(numpy_kernels(64), X, dY, params, 1)
    Y1, grads1 = results[1]
    for workers in (2, 3):
        Y, grads = results[workers]
        np.testing.assert_array_equal(Y, Y1)  # elementwise: the same bits
        np.testing.assert_array_equal(grads[0], grads1[0])
        for g, g1 in zip(grads[1:], grads1[1:], strict=True):  # sums added in another grouping: equal to rounding
            np.testing.assert_allclose(g, g1, rtol=1e-5, atol=1e-6, equal_nan=True)
    # a given number of threads always gives the same bits
    again = kernels_numpy.srelu_backward_numpy(dY, X, *params, 1, ALL, block=64, workers=3)
    for g, g0 in zip(again, results[3][1], strict=True):
        np.testing.assert_array_equal(g, g0)


def test_numpy_kernels_really_use_the_threads(monkeypatch):
    import threading

    seen = set()
    original = kernels_numpy._forward_blocks

    def spy(*args):
        seen.add(threading.get_ident())
        return original(*args)

    monkeypatch.setattr(kernels_numpy, "_forward_blocks", spy)
    X = np.linspace(-2, 2, 64 * 16).reshape(16, 64)
    kernels_numpy.srelu_forward_numpy(X, -1.0, 0.5, 1.0, 2.0, None, block=64, workers=2)
    assert len(seen) == 2
    seen.clear()
    kernels_numpy.srelu_forward_numpy(X, -1.0, 0.5, 1.0, 2.0, None, block=64, workers=1)
    assert seen == {threading.get_ident()}


def test_workers_argument_and_environment_variable_are_checked(monkeypatch):
    X = np.zeros((4, 3))
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="workers must be a positive integer"):
            kernels_numpy.srelu_forward_numpy(X, 0.0, 0.5, 1.0, 2.0, None, workers=bad)
    monkeypatch.setenv("SRELU_LIB_THREADS", "two")
    with pytest.raises(ValueError, match="SRELU_LIB_THREADS must be a positive integer; got 'two'"):
        kernels_numpy.default_workers()
    monkeypatch.setenv("SRELU_LIB_THREADS", "3")
    assert kernels_numpy.default_workers() == 3
    monkeypatch.delenv("SRELU_LIB_THREADS")
    assert 1 <= kernels_numpy.default_workers() <= 8


@pytest.mark.parametrize("kernels", KERNELS)
def test_zero_slope_factor_gives_positive_zero_like_the_reference(kernels):
    # dLdtr = (1 - ar) * sum(dY * R) with ar == 1 and a negative sum: the reference sums exact zeros (+0.0)
    X = np.full((2, 3, 16), 2.0)
    dY = -np.ones_like(X)
    params = (np.full(3, -1.0), np.full(3, 1.0), np.full(3, 1.0), np.ones(3))
    got = kernels()[1](dY, X, *params, 1, ALL)
    ref = srelu_backward_reference(dY, X, *params, 1, ALL)
    for g, r in zip(got[1:], ref[1:], strict=True):
        np.testing.assert_array_equal(np.signbit(g), np.signbit(r))
    assert not np.signbit(got[3]).any() and not np.signbit(got[1]).any()


# --- the block plans of the NumPy kernels ------------------------------------------------------------------
@pytest.mark.parametrize("shape, ca, per_channel, block, kind", [
    ((5, 6, 3, 4), 2, False, 64, "ScalarPlan"),
    ((5, 6, 3, 4), 2, True, 64, "PatternPlan"),  # period 12 fits twice in a block
    ((7, 33), 0, True, 64, "RowsPlan"),  # period 231 does not: rows of 33
    ((2, 3, 8), 1, True, 64, "RowsPlan"),  # period 24 fits, but the array holds it only twice
    ((3, 2, 700), 1, True, 64, "LongRowsPlan"),  # rows of 700 cut into pieces of 64
    ((3, 0, 4), 1, True, 64, "EmptyPlan"),
])
def test_each_block_plan_covers_the_array_once_and_sums_per_channel(shape, ca, per_channel, block, kind):
    from srelu_lib.kernels import blocks

    rng = np.random.default_rng(13)
    X = rng.standard_normal(shape)
    C = shape[ca]
    params = [np.arange(C, dtype=X.dtype) if per_channel else np.zeros(1, X.dtype) for _ in range(4)]
    plan = blocks.make_plan(X.shape, ca, params, block)
    assert type(plan).__name__ == kind
    assert {"size", "length", "acc_width"} <= set(vars(plan))  # the attributes every plan has
    acc, covered, flat = plan.new_accumulator(), 0, X.reshape(-1)
    for start, stop, block_shape, operands, key in plan.blocks():
        assert start == covered and stop - start <= plan.length  # in order, no gap, no overlap
        covered = stop
        x = flat[start:stop].reshape(block_shape)
        for op, p in zip(operands, params, strict=True):  # each element gets its own channel's parameter
            along = p.reshape([-1 if a == ca else 1 for a in range(X.ndim)]) if p.size > 1 else p[0]
            expected = np.broadcast_to(along, X.shape).reshape(-1)[start:stop]
            np.testing.assert_array_equal(np.broadcast_to(op, block_shape).reshape(-1), expected)
        plan.accumulate(acc, plan.partial(x, key), key)
    assert covered == X.size
    sums = plan.fold(acc)
    expected = X.sum(axis=tuple(a for a in range(X.ndim) if a != ca)) if per_channel else [X.sum()]
    np.testing.assert_allclose(sums, expected, atol=1e-12)
