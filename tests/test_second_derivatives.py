"""Second derivatives of every built-in operation and of SReLU, checked with gradgradcheck.

gradgradcheck differentiates the gradient by a recorded sweep (through each
operation's backward) and compares with central differences of the gradient,
in float64 and kink-aware; see srelu_lib.checks.  Inputs are kept away from
kinks (|x| > 0.1 where an operation has one) so that every element is compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import srelu_lib
from srelu_lib import dlarray, extractdata, gradgradcheck, ops
from srelu_lib.ops import conv as conv_ops


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def away_from_zero(shape, seed=0, low=0.2, high=1.5) -> np.ndarray:
    r = rng(seed)
    return r.uniform(low, high, shape) * r.choice([-1.0, 1.0], shape)


def positive(shape, seed=0) -> np.ndarray:
    return rng(seed).uniform(0.3, 2.0, shape)


X34 = away_from_zero((3, 4), 1)
Y34 = away_from_zero((3, 4), 2)
COND = rng(3).random((3, 4)) > 0.5

CASES = {
    # arithmetic, with broadcasting and label alignment
    "add": (lambda a, b: a + b, [dlarray(X34), dlarray(away_from_zero((4,), 4))]),
    "subtract": (lambda a, b: a - b, [dlarray(away_from_zero((3, 1), 5)), dlarray(Y34)]),
    "multiply": (lambda a, b: a * b, [dlarray(X34), dlarray(Y34)]),
    "multiply broadcast": (lambda a, b: a * b, [dlarray(X34), dlarray(away_from_zero((1, 4), 6))]),
    "multiply formats": (lambda a, b: a * b, [dlarray(away_from_zero((2, 2, 3, 2), 7), "SSCB"),
                                              dlarray(away_from_zero((3, 2), 8), "CB")]),
    "divide": (lambda a, b: a / b, [dlarray(X34), dlarray(Y34)]),
    "negative": (lambda a: -a, [dlarray(X34)]),
    "power 3": (lambda a: a**3, [dlarray(X34)]),
    "power 0.5": (lambda a: a**0.5, [dlarray(positive((3, 4), 9))]),
    "power -1": (lambda a: a**-1, [dlarray(X34)]),
    "power 1": (lambda a: a**1, [dlarray(X34)]),
    "power 0": (lambda a: a**0, [dlarray(X34)]),
    "where": (lambda a, b: ops.where(COND, a * b, b), [dlarray(X34), dlarray(Y34)]),
    # reductions, shapes, indexing
    "sum": (lambda a: a.sum(axis=1) ** 2, [dlarray(X34)]),
    "mean keepdims": (lambda a: a.mean(axis=0, keepdims=True) * a, [dlarray(X34)]),
    "broadcast_to": (lambda a: ops.broadcast_to(a, (3, 4)) ** 2, [dlarray(away_from_zero((1, 4), 10))]),
    "reshape": (lambda a: a.reshape(4, 3) ** 2, [dlarray(X34)]),
    "permute": (lambda a: ops.permute(a * a, (1, 0)), [dlarray(X34)]),
    "transpose": (lambda a, b: a.T @ b, [dlarray(X34), dlarray(Y34)]),
    "getitem basic": (lambda a: a[1:, ::2] ** 2, [dlarray(X34)]),
    "getitem repeated": (lambda a: a[[0, 0, 2]] ** 2, [dlarray(X34)]),
    "getitem mask": (lambda a: a[COND] ** 2, [dlarray(X34)]),
    "scatter_add": (lambda a: ops.scatter_add(a * a, ([0, 0, 2],), (4,), np.float64),
                    [dlarray(away_from_zero((3,), 11))]),
    "relabel": (lambda a: ops.relabel(a * a, "BC"), [dlarray(X34)]),
    # deep-learning layers
    "matmul": (lambda a, b: (a @ b) ** 2, [dlarray(X34), dlarray(away_from_zero((4, 2), 12))]),
    "fullyconnect": (lambda x, w, b: srelu_lib.fullyconnect(x, w, b) ** 2,
                     [dlarray(away_from_zero((2, 2, 3, 2), 13), "SSCB"), dlarray(away_from_zero((3, 12), 14)),
                      dlarray(away_from_zero((3,), 15))]),
    "dlconv same": (lambda x, k, b: srelu_lib.dlconv(x, k, b) ** 2,
                    [dlarray(away_from_zero((4, 4, 2, 2), 16), "SSCB"), dlarray(away_from_zero((3, 3, 2, 2), 17)),
                     dlarray(away_from_zero((2,), 18))]),
    "dlconv stride 2 valid": (lambda x, k, b: srelu_lib.dlconv(x, k, b, padding="valid", stride=2) ** 2,
                              [dlarray(away_from_zero((5, 5, 1, 2), 19), "SSCB"),
                               dlarray(away_from_zero((3, 2, 1, 2), 20)), dlarray(away_from_zero((2,), 21))]),
    "conv_grad_input": (lambda dy, k: conv_ops.conv_grad_input(dy, k, (4, 4), (1, 1, 1, 1), (1, 1), np.float64) ** 2,
                        [dlarray(away_from_zero((4, 4, 2, 1), 22)), dlarray(away_from_zero((3, 3, 1, 2), 23))]),
    "conv_grad_kernel": (lambda x, dy: conv_ops.conv_grad_kernel(x, dy, (3, 3), (1, 1, 1, 1), (1, 1),
                                                                 np.float64) ** 2,
                         [dlarray(away_from_zero((4, 4, 1, 2), 24)), dlarray(away_from_zero((4, 4, 2, 2), 25))]),
    "relu": (lambda a: srelu_lib.relu(a) ** 2, [dlarray(X34)]),
    "leakyrelu": (lambda a: srelu_lib.leakyrelu(a, 0.3) ** 2, [dlarray(X34)]),
    "softmax": (lambda a: srelu_lib.softmax(a), [dlarray(X34, "CB")]),
    "crossentropy": (lambda a, t: srelu_lib.crossentropy(srelu_lib.softmax(a), t),
                     [dlarray(X34, "CB"), dlarray(rng(26).dirichlet(np.ones(3), 4).T, "CB")]),
    "mse": (lambda y, t: srelu_lib.mse(y * y, t), [dlarray(X34, "CB"), dlarray(Y34, "CB")]),
    # elementwise mathematics
    "exp": (srelu_lib.exp, [dlarray(X34)]),
    "log": (srelu_lib.log, [dlarray(positive((3, 4), 27))]),
    "sqrt": (srelu_lib.sqrt, [dlarray(positive((3, 4), 28))]),
    "tanh": (srelu_lib.tanh, [dlarray(X34)]),
    "sigmoid": (srelu_lib.sigmoid, [dlarray(X34 * 3)]),
    "abs": (lambda a: abs(a) ** 3, [dlarray(X34)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_second_derivatives_of_builtins(name):
    fn, inputs = CASES[name]
    result = gradgradcheck(fn, *inputs)
    assert result.ok, (name, result)
    assert result.kinks == 0, (name, result)
    # the check is not vacuous: some second derivative is nonzero (except for the linear maps)
    if name not in {"add", "subtract", "negative", "power 1", "power 0", "permute", "relabel"}:
        assert any(np.abs(a).max() > 1e-8 for a in result.analytic), name


def test_cast_between_float32_and_float64_differentiates_twice():
    # (finite differences through float32 are too coarse for gradgradcheck: compare with 6x directly)
    from srelu_lib import dlfeval, dlgradient

    def f(x32):
        y = ops.cast(x32, np.float64) ** 3
        d1 = dlgradient(y.sum(), x32, enable_higher_derivatives=True)
        return d1, dlgradient(d1.sum(), x32)

    x = np.array([0.5, -2.0], np.float32)
    d1, d2 = dlfeval(f, dlarray(x))
    assert d1.dtype == d2.dtype == np.float32
    np.testing.assert_allclose(np.asarray(extractdata(d1)), 3 * x.astype(np.float64) ** 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(extractdata(d2)), 6 * x.astype(np.float64), rtol=1e-6)


# --- SReLU -------------------------------------------------------------------------------------------------
def srelu_inputs(seed: int, crossed: bool = False, per_channel: bool = True, fmt: str = "CB"):
    """X (3 channels) and the four parameters, with X moved away from both kinks."""
    r = rng(seed)
    C = 3
    shape = (C, 6) if fmt == "CB" else (2, 3, C, 2)
    along_channels = (C, 1) if fmt == "CB" else (1, 1, C, 1)
    X = r.standard_normal(shape) * 1.5
    n = C if per_channel else 1
    tl, tr = r.uniform(-0.8, -0.2, n), r.uniform(0.2, 0.8, n)
    if crossed:
        tl, tr = tr + 0.3, tl - 0.3  # tl > tr: the hinges overlap
    al, ar = r.uniform(-0.5, 0.7, n), r.uniform(0.5, 2.0, n)
    for t in (tl, tr):
        X = np.where(np.abs(X - (t.reshape(along_channels) if per_channel else t)) < 0.05, X + 0.2, X)
    params = [dlarray(p if per_channel else p.reshape(())) for p in (tl, al, tr, ar)]
    return [dlarray(X, fmt), *params]


@pytest.mark.parametrize("crossed", [False, True])
@pytest.mark.parametrize("per_channel", [True, False])
def test_srelu_second_derivatives(crossed, per_channel):
    inputs = srelu_inputs(30 + crossed + 2 * per_channel, crossed, per_channel)
    result = gradgradcheck(srelu_lib.srelu, *inputs)
    assert result.ok, result
    assert result.kinks == 0
    assert np.abs(result.analytic[2]).max() > 0  # d/dal of the gradient: the [x <= tl] term


def test_srelu_second_derivatives_on_images():
    result = gradgradcheck(srelu_lib.srelu, *srelu_inputs(40, fmt="SSCB"))
    assert result.ok, result


def test_srelu_inside_a_composition():
    X, tl, al, tr, ar = srelu_inputs(41)
    result = gradgradcheck(lambda X, al, ar: srelu_lib.tanh(srelu_lib.srelu(X, tl, al, tr, ar) * X), X, al, ar)
    assert result.ok, result


def test_srelu_at_its_kinks_counts_kinks_instead_of_failing():
    X = dlarray(np.array([[-1.0, -0.5, 0.0, 0.5, 1.0]]), "CB")  # elements on tl = -0.5 and tr = 0.5
    result = gradgradcheck(srelu_lib.srelu, X, -0.5, dlarray(np.array([0.2])), 0.5, dlarray(np.array([2.0])))
    assert result.ok and result.kinks > 0


def test_srelu_second_derivative_values_match_the_formulas():
    # d2y/dx dal = [x <= tl], d2y/dtl dal = -[x <= tl], d2y/dx dar = [x >= tr], d2y/dtr dar = -[x >= tr]
    X, tl, al, tr, ar = srelu_inputs(42)
    x, tl_, tr_ = (np.asarray(extractdata(v)) for v in (X, tl, tr))
    L, R = x <= tl_[:, None], x >= tr_[:, None]
    from srelu_lib import dlfeval, dlgradient, srelu

    def f(X, tl, al, tr, ar):
        gX = dlgradient(srelu(X, tl, al, tr, ar).sum(), X, enable_higher_derivatives=True)
        return dlgradient(gX.sum(), tl, al, tr, ar, X)

    d_tl, d_al, d_tr, d_ar, d_X = (np.asarray(extractdata(g)) for g in dlfeval(f, X, tl, al, tr, ar))
    np.testing.assert_array_equal(d_tl, 0.0)  # d2y/dx dtl = 0 away from the kink
    np.testing.assert_array_equal(d_al, L.sum(axis=1))
    np.testing.assert_array_equal(d_tr, 0.0)
    np.testing.assert_array_equal(d_ar, R.sum(axis=1))
    np.testing.assert_array_equal(d_X, 0.0)


def test_checker_catches_a_wrong_second_derivative():
    from srelu_lib import srelu_backward_op

    original = srelu_backward_op.SReLUBackward.backward

    def wrong(self, *args):
        grads = list(original(self, *args))
        if grads[3] is not None:
            grads[3] = grads[3] * 1.01  # d/dal slightly off
        return tuple(grads)

    srelu_backward_op.SReLUBackward.backward = wrong
    try:
        assert not gradgradcheck(srelu_lib.srelu, *srelu_inputs(43)).ok
    finally:
        srelu_backward_op.SReLUBackward.backward = original
