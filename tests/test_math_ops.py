"""The built-ins with MATLAB's names added for higher derivatives: exp, log, sqrt, tanh, sigmoid, abs, mse."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

import srelu_lib
from srelu_lib import (
    DLArray,
    abs,
    dims,
    dlarray,
    dlfeval,
    dlgradient,
    exp,
    extractdata,
    gradcheck,
    log,
    mse,
    sigmoid,
    sqrt,
    tanh,
)

X = np.array([[-2.0, -0.5, 0.25], [0.5, 1.0, 3.0]])

FUNCTIONS = [
    (exp, np.exp, lambda x: np.exp(x)),
    (log, np.log, lambda x: 1 / x),
    (sqrt, np.sqrt, lambda x: 0.5 / np.sqrt(x)),
    (tanh, np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    (sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    (abs, np.abs, np.sign),
]


@pytest.mark.parametrize("fn, value, derivative", FUNCTIONS, ids=lambda f: getattr(f, "__name__", ""))
def test_values_gradients_formats_and_dtypes(fn, value, derivative):
    data = np.abs(X) if fn in (log, sqrt) else X
    for dtype in (np.float32, np.float64):
        Y = fn(dlarray(data.astype(dtype), "CB"))
        assert isinstance(Y, DLArray) and dims(Y) == "CB" and Y.dtype == dtype
        np.testing.assert_allclose(extractdata(Y), value(data), rtol=1e-6 if dtype == np.float32 else 1e-14)
    g = dlfeval(lambda x: dlgradient(fn(x).sum(), x), dlarray(data))
    np.testing.assert_allclose(extractdata(g), derivative(data), rtol=1e-13)
    assert gradcheck(fn, dlarray(data)).ok


@pytest.mark.parametrize("fn, value, derivative", FUNCTIONS, ids=lambda f: getattr(f, "__name__", ""))
def test_plain_inputs_give_numpy_arrays(fn, value, derivative):
    data = np.abs(X) if fn in (log, sqrt) else X
    out = fn(data)
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, value(data), rtol=1e-14)
    assert fn(2).dtype == np.float64  # integers become float64, as dlarray does
    with pytest.raises(TypeError, match=fn.__name__):
        fn("x")


def test_builtin_abs_calls_the_differentiable_abs():
    g = dlfeval(lambda x: dlgradient(builtins.abs(x).sum(), x), dlarray(np.array([-2.0, 0.0, 3.0])))
    np.testing.assert_array_equal(extractdata(g), [-1.0, 0.0, 1.0])  # 0 at the kink


def test_sigmoid_does_not_overflow_and_keeps_tiny_values():
    x = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = sigmoid(x)
    np.testing.assert_allclose(y, [0.0, np.exp(-40.0) / (1 + np.exp(-40.0)), 0.5, 1.0, 1.0], rtol=1e-15)
    assert y[1] > 0  # relative accuracy kept, not rounded to 0


def test_nan_propagates_through_values_and_gradients():
    for fn in (exp, log, sqrt, tanh, sigmoid, abs):
        g = dlfeval(lambda x, fn=fn: dlgradient(fn(x).sum(), x), dlarray(np.array([np.nan, 1.0])))
        assert np.isnan(extractdata(g)[0]) and np.isfinite(extractdata(g)[1])


def test_mse_is_matlabs_half_mean_squared_error():
    rng = np.random.default_rng(0)
    Y, T = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))  # 3 responses, 5 observations
    loss = mse(dlarray(Y, "CB"), T)
    assert loss.shape == () and dims(loss) == ""
    # MATLAB: loss = 1/(2N) * sum over all M responses of (Y - T)^2, N = number of observations
    np.testing.assert_allclose(float(loss), np.sum((Y - T) ** 2) / (2 * 5), rtol=1e-14)
    gY, gT = dlfeval(lambda y, t: dlgradient(mse(y, t), y, t), dlarray(Y, "CB"), dlarray(T, "CB"))
    np.testing.assert_allclose(extractdata(gY), (Y - T) / 5, rtol=1e-14)
    np.testing.assert_allclose(extractdata(gT), -(Y - T) / 5, rtol=1e-14)


def test_mse_on_images_normalises_by_the_batch_only():
    Y = np.ones((6, 6, 1, 2))  # the example of MATLAB's page has one observation of 6x6
    loss = mse(dlarray(Y, "SSCB"), np.zeros_like(Y))
    assert float(loss) == pytest.approx(72 / (2 * 2))


def test_mse_without_batch_dimension_and_with_data_format():
    Y = np.arange(6.0).reshape(3, 2)
    assert float(mse(dlarray(Y, "CT"), np.zeros((3, 2)))) == pytest.approx(np.sum(Y**2) / 2)
    assert float(mse(dlarray(Y), np.zeros((3, 2)), data_format="CB")) == pytest.approx(np.sum(Y**2) / 4)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: mse(np.ones(3), np.ones(3)), TypeError, "DLArray"),
        (lambda: mse(dlarray(np.ones((2, 2))), np.ones((2, 2))), ValueError, "data_format"),
        (lambda: mse(dlarray(np.ones((2, 2))), np.ones((2, 2)), data_format="C"), ValueError, "one label"),
        (lambda: mse(dlarray(np.ones((2, 2)), "CB"), np.ones((2, 3))), ValueError, "shape"),
        (lambda: mse(dlarray(np.ones((2, 2)), "CB"), dlarray(np.ones((2, 2)), "SC")), ValueError, "formatted"),
        (lambda: mse(dlarray(np.ones((2, 2)), "CB"), np.ones((2, 2)), data_format="SC"), ValueError, "contradicts"),
    ],
)
def test_mse_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_matmul_transpose_and_astype_on_dlarrays():
    A, B = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    C = dlarray(A) @ B
    np.testing.assert_allclose(extractdata(C), A @ B)
    np.testing.assert_allclose(extractdata(A @ dlarray(B)), A @ B)
    np.testing.assert_allclose(extractdata(dlarray(A).T), A.T)
    assert dlarray(A).astype(np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="float32 or float64"):
        dlarray(A).astype(np.int64)
    with pytest.raises(ValueError, match="2-D"):
        dlarray(A) @ dlarray(np.ones(3))
    gA, gB = dlfeval(lambda a, b: dlgradient((a @ b).sum(), a, b), dlarray(A), dlarray(B))
    np.testing.assert_allclose(extractdata(gA), np.ones((2, 4)) @ B.T)
    np.testing.assert_allclose(extractdata(gB), A.T @ np.ones((2, 4)))


def test_top_level_exports():
    for name in ("exp", "log", "sqrt", "tanh", "sigmoid", "abs", "mse", "gradgradcheck", "NotDifferentiableError"):
        assert name in srelu_lib.__all__ and hasattr(srelu_lib, name)
