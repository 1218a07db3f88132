"""Tests of srelu_lib.ops.nn: values against straightforward implementations, gradients against
central finite differences written here (float64), formats, dtypes and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srelu_lib import DLArray, dlarray, dlfeval, dlgradient, extractdata, stripdims
from srelu_lib.ops import conv_padding, crossentropy, dlconv, fullyconnect, leakyrelu, relu, softmax

RNG_SEED = 1234


# --- independent helpers ------------------------------------------------------------
def numerical_gradient(f, arrays, index, h=1e-6):
    """Central differences of the scalar f(*arrays) with respect to arrays[index] (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    x = arrays[index]
    grad = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        saved = x[j]
        x[j] = saved + h
        f_plus = f(*arrays)
        x[j] = saved - h
        f_minus = f(*arrays)
        x[j] = saved
        grad[j] = (f_plus - f_minus) / (2 * h)
    return grad


def analytic_gradients(op, inputs, weights):
    """Gradients of sum(weights * op(*inputs)) w.r.t. every DLArray input, via dlfeval/dlgradient."""
    positions = [i for i, x in enumerate(inputs) if isinstance(x, DLArray)]

    def loss_and_grads(*args):
        Y = op(*args)
        loss = (stripdims(Y) * weights).sum()
        return dlgradient(loss, [args[i] for i in positions])

    return dict(zip(positions, (extractdata(g) for g in dlfeval(loss_and_grads, *inputs)), strict=True))


def check_gradients(op, inputs, fmts, rtol=1e-6, atol=1e-7, seed=0):
    """Compare analytic and numerical gradients of sum(W * op(...)) for every array input.

    ``inputs`` are float64 ndarrays; ``fmts[i]`` is the format for input i (None: pass as
    ndarray constant but still differentiate it by wrapping as unformatted DLArray)."""
    rng = np.random.default_rng(seed)

    def wrap(arrays):
        return [dlarray(a, f) if f is not None else dlarray(a) for a, f in zip(arrays, fmts, strict=True)]

    Y = op(*wrap(inputs))
    weights = rng.standard_normal(Y.shape)

    def scalar(*arrays):
        return float(np.sum(weights * extractdata(op(*wrap(arrays)))))

    analytic = analytic_gradients(op, wrap(inputs), weights)
    for i in range(len(inputs)):
        numeric = numerical_gradient(scalar, inputs, i)
        np.testing.assert_allclose(analytic[i], numeric, rtol=rtol, atol=atol, err_msg=f"input {i}")


def conv_reference(X, K, b, pads, stride):
    """Explicit loop over output pixels: Y[i, j, :, n] = sum over the receptive field."""
    top, bottom, left, right = pads
    sh, sw = stride
    Xp = np.zeros((X.shape[0] + top + bottom, X.shape[1] + left + right) + X.shape[2:])
    Xp[top : top + X.shape[0], left : left + X.shape[1]] = X
    KH, KW, C, F = K.shape
    Ho = (Xp.shape[0] - KH) // sh + 1
    Wo = (Xp.shape[1] - KW) // sw + 1
    Y = np.zeros((Ho, Wo, F, X.shape[3]))
    for i in range(Ho):
        for j in range(Wo):
            patch = Xp[i * sh : i * sh + KH, j * sw : j * sw + KW]  # (KH, KW, C, B)
            for f in range(F):
                for n in range(X.shape[3]):
                    Y[i, j, f, n] = np.sum(patch[:, :, :, n] * K[:, :, :, f]) + b[f]
    return Y


def same_pads(size, kernel, stride):
    """MATLAB 'same': output ceil(size/stride); total padding split, the odd one at bottom/right."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


# --- fullyconnect ---------------------------------------------------------------------
def test_fullyconnect_matches_explicit_sum_over_flattened_features():
    rng = np.random.default_rng(RNG_SEED)
    H, W, C, B, F = 2, 3, 4, 5, 6
    x = rng.standard_normal((H, W, C, B))
    weights = rng.standard_normal((F, H * W * C))
    bias = rng.standard_normal(F)
    Y = fullyconnect(dlarray(x, "SSCB"), weights, bias)
    assert Y.fmt == "CB" and Y.shape == (F, B)
    expected = np.zeros((F, B))
    for n in range(B):
        for f in range(F):
            total = bias[f]
            for h in range(H):
                for w in range(W):
                    for c in range(C):
                        total += weights[f, (h * W + w) * C + c] * x[h, w, c, n]
            expected[f, n] = total
    np.testing.assert_allclose(extractdata(Y), expected, rtol=1e-12, atol=1e-12)


def test_fullyconnect_accepts_any_label_order_and_column_bias():
    rng = np.random.default_rng(RNG_SEED)
    x_bc = rng.standard_normal((5, 3))  # observations down, channels across
    weights, bias = rng.standard_normal((2, 3)), rng.standard_normal((2, 1))
    Y = fullyconnect(dlarray(x_bc, "BC"), weights, bias)
    np.testing.assert_allclose(extractdata(Y), weights @ x_bc.T + bias, rtol=1e-12)


@pytest.mark.parametrize("fmt, shape", [("CB", (4, 3)), ("SCB", (2, 3, 4)), ("SSCB", (2, 2, 2, 3))])
def test_fullyconnect_gradients(fmt, shape):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal(shape)
    features = int(np.prod(shape[:-1]))
    weights, bias = rng.standard_normal((3, features)), rng.standard_normal(3)
    check_gradients(fullyconnect, [x, weights, bias], [fmt, None, None])


def test_fullyconnect_errors_name_the_argument():
    X = dlarray(np.zeros((2, 2, 3, 4)), "SSCB")
    with pytest.raises(ValueError, match="weights must have shape \\(OutputSize, 12\\)"):
        fullyconnect(X, np.zeros((5, 11)), np.zeros(5))
    with pytest.raises(ValueError, match="bias must have shape \\(5,\\) or \\(5, 1\\)"):
        fullyconnect(X, np.zeros((5, 12)), np.zeros(4))
    with pytest.raises(ValueError, match="'T'"):
        fullyconnect(dlarray(np.zeros((3, 4, 2)), "CBT"), np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="'C' and a 'B'"):
        fullyconnect(dlarray(np.zeros((3, 4)), "SC"), np.zeros((5, 12)), np.zeros(5))
    with pytest.raises(ValueError, match="formatted"):
        fullyconnect(dlarray(np.zeros((3, 4))), np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(TypeError, match="DLArray"):
        fullyconnect(np.zeros((3, 4)), np.zeros((5, 3)), np.zeros(5))


# --- dlconv ---------------------------------------------------------------------------
CONV_CASES = [
    # (H, W, C, B, KH, KW, F, padding, stride)
    (6, 5, 2, 3, 3, 3, 4, "same", 1),
    (6, 5, 2, 2, 2, 2, 3, "same", 1),  # even kernel: asymmetric padding
    (7, 6, 1, 2, 4, 3, 2, "same", 1),
    (7, 8, 2, 2, 3, 3, 2, "same", 2),
    (7, 8, 2, 2, 2, 3, 2, "same", (2, 3)),
    (6, 5, 2, 2, 3, 2, 3, "valid", 1),
    (7, 7, 2, 2, 3, 3, 2, "valid", 2),
    (5, 6, 3, 2, 1, 1, 2, "valid", 1),
    (5, 6, 2, 2, 3, 3, 2, 1, 1),
    (5, 6, 2, 2, 3, 2, 2, (2, 1), (2, 2)),
    (5, 6, 2, 2, 3, 3, 2, (0, 2, 1, 0), 1),
]


def _conv_inputs(H, W, C, B, KH, KW, F, seed=RNG_SEED):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((H, W, C, B)), rng.standard_normal((KH, KW, C, F)), rng.standard_normal(F)


def _expected_pads(H, W, KH, KW, padding, stride):
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    if padding == "same":
        return same_pads(H, KH, sh) + same_pads(W, KW, sw)
    if padding == "valid":
        return (0, 0, 0, 0)
    if np.ndim(padding) == 0:
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(c) for c in CONV_CASES])
def test_dlconv_matches_loop_over_output_pixels(case):
    H, W, C, B, KH, KW, F, padding, stride = case
    x, k, b = _conv_inputs(H, W, C, B, KH, KW, F)
    Y = dlconv(dlarray(x, "SSCB"), k, b, padding=padding, stride=stride)
    assert Y.fmt == "SSCB"
    pads = _expected_pads(H, W, KH, KW, padding, stride)
    expected = conv_reference(x, k, b, pads, (stride, stride) if np.ndim(stride) == 0 else stride)
    assert Y.shape == expected.shape
    np.testing.assert_allclose(extractdata(Y), expected, rtol=1e-10, atol=1e-12)


def test_dlconv_same_keeps_size_for_stride_one_and_ceil_for_larger_strides():
    x, k, b = _conv_inputs(8, 7, 1, 2, 2, 4, 3)
    assert dlconv(dlarray(x, "SSCB"), k, b).shape == (8, 7, 3, 2)
    assert dlconv(dlarray(x, "SSCB"), k, b, stride=3).shape == (3, 3, 3, 2)
    assert conv_padding((8, 8), (2, 2)) == (0, 1, 0, 1)  # odd extra padding at bottom/right


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (0, 1, 3, 6, 9, 10)], ids=lambda c: str(c))
def test_dlconv_gradients(case):
    H, W, C, B, KH, KW, F, padding, stride = case
    x, k, b = _conv_inputs(min(H, 5), min(W, 5), C, B, KH, KW, F)

    def op(X, K, bias):
        return dlconv(X, K, bias, padding=padding, stride=stride)

    check_gradients(op, [x, k, b], ["SSCB", None, None])


def test_dlconv_errors():
    X = dlarray(np.zeros((5, 5, 2, 3)), "SSCB")
    with pytest.raises(ValueError, match="'SSCB'"):
        dlconv(dlarray(np.zeros((5, 2, 3)), "SCB"), np.zeros((3, 3, 2, 1)), np.zeros(1))
    with pytest.raises(ValueError, match="weights must have shape \\(KH, KW, 2, NumFilters\\)"):
        dlconv(X, np.zeros((3, 3, 3, 1)), np.zeros(1))
    with pytest.raises(ValueError, match="bias must hold one value per filter \\(4\\)"):
        dlconv(X, np.zeros((3, 3, 2, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="padding"):
        dlconv(X, np.zeros((3, 3, 2, 1)), np.zeros(1), padding="full")
    with pytest.raises(ValueError, match="padding"):
        dlconv(X, np.zeros((3, 3, 2, 1)), np.zeros(1), padding=-1)
    with pytest.raises(ValueError, match="stride"):
        dlconv(X, np.zeros((3, 3, 2, 1)), np.zeros(1), stride=0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        dlconv(X, np.zeros((6, 3, 2, 1)), np.zeros(1), padding="valid")


# --- activations ---------------------------------------------------------------------
def _away_from_zero(shape, seed=RNG_SEED):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.1, 0.5, x)


def test_relu_values_and_format():
    x = np.array([[-2.0, 0.0, 3.0], [np.inf, -np.inf, 1e-300]])
    Y = relu(dlarray(x, "CB"))
    assert Y.fmt == "CB"
    np.testing.assert_array_equal(extractdata(Y), [[0.0, 0.0, 3.0], [np.inf, 0.0, 1e-300]])


def test_relu_and_leakyrelu_gradients():
    x = _away_from_zero((3, 4))
    check_gradients(relu, [x], ["CB"])
    check_gradients(lambda X: leakyrelu(X, 0.2), [x], ["CB"])
    check_gradients(leakyrelu, [x], [None])


def test_activation_derivative_at_zero_is_left_slope():
    weights = np.ones(1)
    (g,) = analytic_gradients(relu, [dlarray(np.zeros(1))], weights).values()
    assert g[0] == 0.0
    (g,) = analytic_gradients(lambda X: leakyrelu(X, 0.3), [dlarray(np.zeros(1))], weights).values()
    assert g[0] == pytest.approx(0.3)


@pytest.mark.parametrize("op", [relu, lambda X: leakyrelu(X, 0.1), lambda X: leakyrelu(X, 0.0)])
def test_activations_propagate_nan_in_forward_and_backward(op):
    x = np.array([np.nan, -1.0, 2.0, -np.inf])
    Y = extractdata(op(dlarray(x)))
    assert np.isnan(Y[0]) and not np.isnan(Y[1:]).any()
    (g,) = analytic_gradients(op, [dlarray(x)], np.ones(4)).values()
    assert np.isnan(g[0]) and not np.isnan(g[1:]).any()


def test_leakyrelu_values_and_scale_errors():
    x = np.array([-2.0, 0.0, 3.0, -np.inf])
    np.testing.assert_array_equal(extractdata(leakyrelu(dlarray(x), 0.5)), [-1.0, 0.0, 3.0, -np.inf])
    np.testing.assert_array_equal(extractdata(leakyrelu(dlarray(x), 0.0)), [0.0, 0.0, 3.0, 0.0])
    np.testing.assert_allclose(extractdata(leakyrelu(dlarray(x[:3]))), [-0.02, 0.0, 3.0])
    for bad in (np.inf, np.nan, [0.1, 0.2], "x"):
        with pytest.raises((ValueError, TypeError)):
            leakyrelu(dlarray(x), bad)


def test_softmax_sums_to_one_and_is_shift_invariant():
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((2, 3, 5, 4))
    P = softmax(dlarray(x, "SSCB"))
    assert P.fmt == "SSCB"
    p = extractdata(P)
    np.testing.assert_allclose(p.sum(axis=2), 1.0, rtol=1e-12)
    np.testing.assert_allclose(extractdata(softmax(dlarray(x + 100.0, "SSCB"))), p, rtol=1e-10)
    expected = np.exp(x) / np.exp(x).sum(axis=2, keepdims=True)
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_softmax_is_stable_for_large_scores_and_propagates_nan_per_column():
    x = np.array([[1000.0, 1.0], [999.0, np.nan], [-1000.0, 2.0]])
    p = extractdata(softmax(dlarray(x, "CB")))
    np.testing.assert_allclose(p[:, 0], [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0.0], rtol=1e-12)
    assert np.isnan(p[:, 1]).all()


def test_softmax_gradients_over_channel_axis():
    rng = np.random.default_rng(RNG_SEED)
    check_gradients(softmax, [rng.standard_normal((4, 3))], ["CB"])
    check_gradients(softmax, [rng.standard_normal((2, 3, 2))], ["SCB"])  # channel axis in the middle


def test_softmax_needs_a_channel_label():
    with pytest.raises(ValueError, match="'C'"):
        softmax(dlarray(np.zeros((3, 4)), "SB"))
    with pytest.raises(ValueError, match="formatted"):
        softmax(dlarray(np.zeros((3, 4))))


# --- crossentropy -------------------------------------------------------------------
def _probabilities(shape, seed=RNG_SEED):
    rng = np.random.default_rng(seed)
    e = np.exp(rng.standard_normal(shape))
    return e / e.sum(axis=0, keepdims=True)


def _onehot(labels, C):
    T = np.zeros((C, len(labels)))
    T[labels, np.arange(len(labels))] = 1.0
    return T


def test_crossentropy_matches_formula_and_is_a_scalar():
    Y = _probabilities((4, 6))
    labels = np.array([0, 3, 1, 1, 2, 0])
    loss = crossentropy(dlarray(Y, "CB"), _onehot(labels, 4))
    assert loss.shape == () and loss.fmt == ""
    expected = -np.mean([np.log(Y[labels[n], n]) for n in range(6)])
    assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_crossentropy_with_zero_probability_is_finite():
    Y = np.array([[0.0, 0.5], [1.0, 0.5]])
    loss = float(crossentropy(dlarray(Y, "CB"), _onehot(np.array([0, 1]), 2)))
    assert np.isfinite(loss) and loss > 300  # -log(tiny)/2 ~ 354 in float64


def test_crossentropy_gradients_for_predictions_and_targets():
    Y = _probabilities((3, 4))
    T = _probabilities((3, 4), seed=7)  # soft targets exercise dL/dT everywhere
    check_gradients(crossentropy, [Y, T], ["CB", "CB"], rtol=1e-6, atol=1e-8)


def test_crossentropy_after_softmax_gives_p_minus_t_over_n():
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((5, 8))
    T = _onehot(rng.integers(0, 5, 8), 5)

    def loss_and_grad(X):
        loss = crossentropy(softmax(X), T)
        return dlgradient(loss, X)

    g = extractdata(dlfeval(loss_and_grad, dlarray(x, "CB")))
    p = np.exp(x) / np.exp(x).sum(axis=0)
    np.testing.assert_allclose(g, (p - T) / 8, rtol=1e-10, atol=1e-14)


def test_crossentropy_errors_name_the_arguments():
    Y = dlarray(_probabilities((3, 4)), "CB")
    with pytest.raises(ValueError, match="targets T have shape \\(4, 3\\) but predictions Y have shape \\(3, 4\\)"):
        crossentropy(Y, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="targets T are formatted 'SB'"):
        crossentropy(Y, dlarray(np.zeros((3, 4)), "SB"))
    with pytest.raises(ValueError, match="'C'"):
        crossentropy(dlarray(np.zeros((3, 4)), "SB"), np.zeros((3, 4)))


# --- dtypes ---------------------------------------------------------------------------
def _float32_cases():
    rng = np.random.default_rng(RNG_SEED)
    f32 = np.float32
    return [
        ("fullyconnect", fullyconnect,
         [dlarray(rng.standard_normal((2, 2, 3, 4)).astype(f32), "SSCB"),
          dlarray(rng.standard_normal((5, 12)).astype(f32)), dlarray(rng.standard_normal(5).astype(f32))]),
        ("dlconv", dlconv,
         [dlarray(rng.standard_normal((5, 5, 2, 3)).astype(f32), "SSCB"),
          dlarray(rng.standard_normal((3, 2, 2, 4)).astype(f32)), dlarray(rng.standard_normal(4).astype(f32))]),
        ("relu", relu, [dlarray(rng.standard_normal((3, 4)).astype(f32), "CB")]),
        ("leakyrelu", leakyrelu, [dlarray(rng.standard_normal((3, 4)).astype(f32), "CB")]),
        ("softmax", softmax, [dlarray(rng.standard_normal((3, 4)).astype(f32), "CB")]),
        ("crossentropy", crossentropy,
         [dlarray(_probabilities((3, 4)).astype(f32), "CB"), dlarray(_probabilities((3, 4), 5).astype(f32), "CB")]),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", range(6))
def test_dtype_is_preserved_in_values_and_gradients(dtype, index):
    name, op, inputs = _float32_cases()[index]
    inputs = [dlarray(extractdata(x).astype(dtype), x.fmt) for x in inputs]

    def run(*args):
        Y = op(*args)
        loss = stripdims(Y).sum()
        return Y, dlgradient(loss, list(args))

    Y, grads = dlfeval(run, *inputs)
    assert Y.dtype == dtype, name
    for x, g in zip(inputs, grads, strict=True):
        assert g.dtype == dtype and g.shape == x.shape, name
        assert np.all(np.isfinite(extractdata(g))), name


def test_float32_conv_agrees_with_float64():
    x, k, b = _conv_inputs(6, 6, 2, 3, 3, 3, 4)
    y64 = extractdata(dlconv(dlarray(x, "SSCB"), k, b))
    y32 = extractdata(dlconv(dlarray(x.astype(np.float32), "SSCB"), k.astype(np.float32), b.astype(np.float32)))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)


# --- the library's own gradcheck, as a second opinion --------------------------------
def test_library_gradcheck_agrees():
    gradcheck = pytest.importorskip("srelu_lib.checks").gradcheck
    rng = np.random.default_rng(RNG_SEED)
    X = dlarray(rng.standard_normal((4, 4, 2, 2)), "SSCB")
    K, b = dlarray(rng.standard_normal((2, 3, 2, 3))), dlarray(rng.standard_normal(3))
    assert gradcheck(lambda X, K, b: dlconv(X, K, b, padding="same", stride=(2, 1)), X, K, b).ok
    W, c = dlarray(rng.standard_normal((3, 32))), dlarray(rng.standard_normal(3))
    assert gradcheck(fullyconnect, X, W, c).ok
    assert gradcheck(softmax, dlarray(rng.standard_normal((4, 3)), "CB")).ok
    assert gradcheck(lambda X: leakyrelu(X, 0.2), dlarray(_away_from_zero((3, 3)), "CB")).ok
    Y = dlarray(_probabilities((3, 4)), "CB")
    assert gradcheck(lambda Y: crossentropy(Y, _onehot(np.array([0, 2, 1, 1]), 3)), Y).ok
