"""Unit tests for the built-in differentiable operations (srelu_lib.ops.elementwise).

Values are compared with NumPy; gradients with central finite differences computed here in
float64 from the library's own forward pass (evaluated outside dlfeval, so no tape is involved).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from srelu_lib import DLArray, dims, dlarray, dlfeval, dlgradient, extractdata, ops
from srelu_lib.ops import permute, relabel, unbroadcast
from srelu_lib.tape import current_tape


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function of one float64 array."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        f_plus = f(x.copy())
        x[idx] = orig - eps
        f_minus = f(x.copy())
        x[idx] = orig
        g[idx] = (f_plus - f_minus) / (2.0 * eps)
    return g


def check_gradients(op: Callable, inputs: list[np.ndarray], fmts: list[str] | None = None, seed: int = 0,
                    rtol: float = 1e-6, atol: float = 1e-8) -> list[DLArray]:
    """L = sum(W * op(*inputs)) with random W: compare dlgradient with finite differences for every input."""
    fmts = fmts or [""] * len(inputs)
    out_shape = extractdata(op(*[dlarray(x, f) for x, f in zip(inputs, fmts, strict=True)])).shape
    W = _rng(seed).standard_normal(out_shape)

    def loss_of(*arrays: np.ndarray) -> float:
        Y = op(*[dlarray(a, f) for a, f in zip(arrays, fmts, strict=True)])
        return float(np.sum(W * extractdata(Y)))

    def model(*Xs):
        Y = op(*Xs)
        return dlgradient((Y * W).sum(), *Xs)

    grads = dlfeval(model, *[dlarray(x, f) for x, f in zip(inputs, fmts, strict=True)])
    grads = list(grads) if isinstance(grads, tuple) else [grads]
    for k, (x, g, f) in enumerate(zip(inputs, grads, fmts, strict=True)):

        def f_k(xk, k=k):
            arrays = list(inputs)
            arrays[k] = xk
            return loss_of(*arrays)

        expected = numeric_gradient(f_k, x)
        # compare in the gradient's (canonical) layout
        expected_dl = extractdata(dlarray(expected, f))
        assert g.shape == expected_dl.shape, f"input {k}"
        np.testing.assert_allclose(extractdata(g), expected_dl, rtol=rtol, atol=atol, err_msg=f"input {k}")
    return grads


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
}

SHAPE_PAIRS = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((2, 1), (1, 3)),
    ((4, 1, 3), (2, 3)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2, 1, 1), (3, 1)),
]


def _operand(shape, seed):
    # bounded away from zero so division is well conditioned
    x = _rng(seed).uniform(0.5, 2.0, size=shape) * _rng(seed + 100).choice([-1.0, 1.0], size=shape)
    return np.asarray(x, dtype=np.float64)


# --- binary operations: values and gradients -----------------------------------------------------------------
@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa, sb", SHAPE_PAIRS)
def test_binary_values_match_numpy(name, sa, sb):
    op, np_op = BINARY[name]
    a, b = _operand(sa, 1), _operand(sb, 2)
    Y = op(dlarray(a), dlarray(b))
    assert isinstance(Y, DLArray) and dims(Y) == ""
    np.testing.assert_array_equal(extractdata(Y), np_op(a, b))


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa, sb", SHAPE_PAIRS)
def test_binary_gradients_match_finite_differences(name, sa, sb):
    op, _ = BINARY[name]
    grads = check_gradients(op, [_operand(sa, 3), _operand(sb, 4)])
    assert grads[0].shape == sa and grads[1].shape == sb


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("kind", ["ndarray", "float", "int"])
def test_binary_with_constant_operand(name, side, kind):
    op, np_op = BINARY[name]
    x = _operand((2, 3), 5)
    const = {"ndarray": _operand((3,), 6), "float": 1.75, "int": 3}[kind]
    if side == "left":
        f = lambda X: op(const, X)  # noqa: E731
        expected = np_op(const, x)
    else:
        f = lambda X: op(X, const)  # noqa: E731
        expected = np_op(x, const)
    Y = f(dlarray(x))
    assert isinstance(Y, DLArray)
    np.testing.assert_allclose(extractdata(Y), expected, rtol=1e-15)
    (g,) = check_gradients(f, [x])
    assert g.shape == x.shape


# --- unary operations -------------------------------------------------------------------------------------------
def test_negative_value_and_gradient():
    x = _operand((3, 2), 7)
    np.testing.assert_array_equal(extractdata(-dlarray(x)), -x)
    check_gradients(lambda X: -X, [x])


def test_unary_plus_is_identity():
    X = dlarray(np.ones(2))
    assert +X is X


@pytest.mark.parametrize("p", [2, 3, 0.5, -1.0, 1.0, 0, 2.5])
def test_power_value_and_gradient(p):
    x = _rng(8).uniform(0.5, 2.0, size=(2, 3))  # positive base for fractional exponents
    np.testing.assert_allclose(extractdata(dlarray(x) ** p), x**p, rtol=1e-15)
    check_gradients(lambda X: X**p, [x], rtol=1e-6)


@pytest.mark.parametrize("exponent", [np.ones(2), [1.0, 2.0]])
def test_power_rejects_non_scalar_exponent(exponent):
    with pytest.raises(TypeError, match="exponent must be a real scalar"):
        dlarray(np.ones(2)) ** exponent


@pytest.mark.parametrize("x0", [0.0, 2.0])
def test_power_zero_has_zero_gradient_even_at_zero(x0):
    # X ** 0 is the constant 1: its derivative is 0, never 0 * 0 ** -1 = NaN
    g = dlfeval(lambda X: dlgradient((X**0).sum(), X), dlarray(np.array([x0, -x0])))
    np.testing.assert_array_equal(extractdata(g), [0.0, 0.0])


def test_power_rejects_dlarray_exponent():
    with pytest.raises(TypeError, match="exponent"):
        dlarray(np.ones(2)) ** dlarray(np.array(2.0))


# --- reductions -----------------------------------------------------------------------------------------------
AXES = [None, 0, 1, -1, (0, 2), (2, 0), (-1, 0, 1)]


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_values_and_gradients(reduce, axis, keepdims):
    x = _rng(9).standard_normal((2, 3, 4))
    np_fn = getattr(np, reduce)
    Y = getattr(dlarray(x), reduce)(axis=axis, keepdims=keepdims)
    expected = np_fn(x, axis=axis, keepdims=keepdims)
    assert Y.shape == np.shape(expected)
    np.testing.assert_allclose(extractdata(Y), expected, rtol=1e-14)
    (g,) = check_gradients(lambda X: getattr(X, reduce)(axis=axis, keepdims=keepdims), [x])
    assert g.shape == x.shape


def test_sum_and_mean_gradients_analytic():
    x = _rng(10).standard_normal((3, 4))
    gs, gm = dlfeval(lambda X: (dlgradient(X.sum(), X), dlgradient(X.mean(), X)), dlarray(x))
    np.testing.assert_array_equal(extractdata(gs), np.ones((3, 4)))
    np.testing.assert_allclose(extractdata(gm), np.full((3, 4), 1.0 / 12.0))


def test_module_level_sum_and_mean():
    x = _rng(11).standard_normal((2, 3))
    np.testing.assert_allclose(extractdata(ops.sum(dlarray(x), 1)), x.sum(axis=1))
    np.testing.assert_allclose(extractdata(ops.mean(dlarray(x), 0, keepdims=True)), x.mean(axis=0, keepdims=True))


@pytest.mark.parametrize("axis", [3, -4, 1.0, True, (0, 5)])
def test_reduction_invalid_axis_raises(axis):
    with pytest.raises(ValueError, match="axis"):
        dlarray(np.zeros((2, 3, 4))).sum(axis=axis)


def test_reduction_of_non_dlarray_raises():
    with pytest.raises(TypeError, match="DLArray"):
        ops.sum(np.zeros(3))


@pytest.mark.parametrize(
    "axis, keepdims, fmt",
    [(None, False, ""), ((0, 1), False, "CB"), (2, False, "SSB"), (3, False, "SSC"), ((0, 1), True, "SSCB"),
     (None, True, "SSCB")],
)
def test_reduction_formats(axis, keepdims, fmt):
    X = dlarray(np.ones((2, 3, 4, 5)), "SSCB")
    assert dims(X.sum(axis=axis, keepdims=keepdims)) == fmt
    assert dims(X.mean(axis=axis, keepdims=keepdims)) == fmt


# --- reshape and indexing ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("new_shape", [(6,), (3, 2), (1, 6, 1), (-1,), (2, -1)])
def test_reshape_values_and_gradient(new_shape):
    x = _rng(12).standard_normal((2, 3))
    Y = dlarray(x).reshape(new_shape)
    np.testing.assert_array_equal(extractdata(Y), x.reshape(new_shape))
    check_gradients(lambda X: X.reshape(new_shape), [x])


def test_reshape_varargs_form():
    x = np.arange(6.0)
    np.testing.assert_array_equal(extractdata(dlarray(x).reshape(2, 3)), x.reshape(2, 3))


def test_reshape_to_other_ndim_drops_format():
    X = dlarray(np.ones((2, 3)), "CB")
    assert dims(X.reshape(6)) == ""


INDICES = [
    0,
    -1,
    (slice(None), 1),
    (slice(0, 2), slice(None, None, 2)),
    ([0, 0, 2],),  # repeated index: gradients accumulate
    (np.array([2, 0]), np.array([1, 3])),
    (Ellipsis, np.newaxis),
]


@pytest.mark.parametrize("index", INDICES)
def test_indexing_values_and_gradients(index):
    x = _rng(13).standard_normal((3, 4))
    np.testing.assert_array_equal(extractdata(dlarray(x)[index]), np.array(x[index]))
    check_gradients(lambda X: X[index], [x])


def test_repeated_index_accumulates_exactly():
    g = dlfeval(lambda X: dlgradient(X[[0, 0, 2, 0]].sum(), X), dlarray(np.zeros(3)))
    np.testing.assert_array_equal(extractdata(g), [3.0, 0.0, 1.0])


def test_boolean_mask_index():
    x = np.array([-1.0, 2.0, -3.0, 4.0])

    def f(X):
        return dlgradient((X[X > 0] * 5.0).sum(), X)

    np.testing.assert_array_equal(extractdata(dlfeval(f, dlarray(x))), [0.0, 5.0, 0.0, 5.0])


def test_dlarray_boolean_mask_index():
    # dlarray(mask) stores the mask as 0.0/1.0: indexing reads it as a mask again
    x = np.array([[-1.0, 2.0], [-3.0, 4.0]])
    mask = dlarray(x > 0)

    def f(X):
        Y = X[mask]
        return Y, dlgradient((Y * 5.0).sum(), X)

    Y, g = dlfeval(f, dlarray(x))
    np.testing.assert_array_equal(extractdata(Y), [2.0, 4.0])
    np.testing.assert_array_equal(extractdata(g), [[0.0, 5.0], [0.0, 5.0]])
    np.testing.assert_array_equal(extractdata(dlarray(x)[dlarray(np.array([True, False]))]), [[-1.0, 2.0]])


def test_dlarray_integer_index_and_bad_dlarray_index():
    x = dlarray(np.array([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(extractdata(x[dlarray(np.array([2, 0, 2]))]), [30.0, 10.0, 30.0])
    with pytest.raises(IndexError, match="integers"):
        x[dlarray(np.array([0.5]))]


def test_scalar_index_returns_0d_dlarray():
    Y = dlarray(np.array([1.0, 2.0]))[1]
    assert isinstance(Y, DLArray) and Y.shape == () and float(Y) == 2.0


# --- permute and relabel ------------------------------------------------------------------------------------------
def test_permute_values_and_gradient():
    x = _rng(14).standard_normal((2, 3, 4))
    perm = (2, 0, 1)
    Y = permute(dlarray(x), perm)
    np.testing.assert_array_equal(extractdata(Y), np.transpose(x, perm))
    assert dims(Y) == ""
    check_gradients(lambda X: permute(X, perm), [x])


def test_relabel_values_and_gradient():
    x = _rng(15).standard_normal((2, 3, 4))  # laid out B, S, C
    Y = relabel(dlarray(x), "BSC")
    assert dims(Y) == "SCB"
    np.testing.assert_array_equal(extractdata(Y), np.transpose(x, (1, 2, 0)))
    (g,) = check_gradients(lambda X: stripped(relabel(X, "BSC")), [x])
    assert g.shape == x.shape


def stripped(X: DLArray) -> DLArray:
    from srelu_lib import stripdims

    return stripdims(X)


# --- dtypes ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr",
    [
        lambda X: X + 1.5, lambda X: 1.5 + X, lambda X: X - 2, lambda X: 2 - X, lambda X: X * 0.1,
        lambda X: 0.1 * X, lambda X: X / 3.0, lambda X: 3.0 / X, lambda X: X**2, lambda X: X**0.5,
        lambda X: -X, lambda X: X.sum(), lambda X: X.mean(axis=0), lambda X: X[0], lambda X: X.reshape(-1),
        lambda X: X * np.ones(3, np.float32), lambda X: np.ones(3, np.float32) + X,
        lambda X: X * X,
    ],
)
def test_float32_stays_float32(expr):
    x = _rng(16).uniform(0.5, 2.0, size=(2, 3)).astype(np.float32)

    def f(X):
        Y = expr(X)
        return Y, dlgradient((Y * 1.0).sum(), X)

    Y, g = dlfeval(f, dlarray(x))
    assert Y.dtype == np.float32
    assert g.dtype == np.float32


def test_float32_with_float64_array_promotes_like_numpy_but_gradient_keeps_float32():
    x = np.ones((2, 3), np.float32)
    c = np.full(3, 2.0)  # float64

    def f(X):
        Y = X * c
        return Y, dlgradient(Y.sum(), X)

    Y, g = dlfeval(f, dlarray(x))
    assert Y.dtype == (x * c).dtype == np.float64
    assert g.dtype == np.float32
    np.testing.assert_array_equal(extractdata(g), np.full((2, 3), 2.0, np.float32))


def test_float32_gradients_are_accurate():
    x32 = _rng(17).uniform(0.5, 2.0, size=(4,)).astype(np.float32)
    g = dlfeval(lambda X: dlgradient((X * X / 2.0).sum(), X), dlarray(x32))
    np.testing.assert_allclose(extractdata(g), x32, rtol=1e-6)


@pytest.mark.parametrize("bad", ["a", None, object()])
def test_unsupported_operand_raises_type_error(bad):
    with pytest.raises(TypeError, match="unsupported operand"):
        dlarray(np.ones(2)) + bad


def test_list_operand_is_converted():
    np.testing.assert_array_equal(extractdata(dlarray(np.ones(2)) + [1.0, 2.0]), [2.0, 3.0])


# --- formats in binary operations -------------------------------------------------------------------------------------
def test_CB_plus_SSCB_aligns_by_label():
    rng = _rng(18)
    xcb = rng.standard_normal((3, 2))  # C=3, B=2
    xs = rng.standard_normal((4, 5, 3, 2))
    for Y in (dlarray(xcb, "CB") + dlarray(xs, "SSCB"), dlarray(xs, "SSCB") + dlarray(xcb, "CB")):
        assert dims(Y) == "SSCB" and Y.shape == (4, 5, 3, 2)
        np.testing.assert_allclose(extractdata(Y), xs + xcb[np.newaxis, np.newaxis])
    g_cb, g_s = check_gradients(lambda A, B: A + B, [xcb, xs], fmts=["CB", "SSCB"])
    assert dims(g_cb) == "CB" and dims(g_s) == "SSCB"


def test_SSCB_times_C_aligns_by_label():
    rng = _rng(19)
    xs = rng.standard_normal((4, 5, 3, 2))
    c = rng.standard_normal(3)
    Y = dlarray(xs, "SSCB") * dlarray(c, "C")
    assert dims(Y) == "SSCB" and Y.shape == xs.shape
    np.testing.assert_allclose(extractdata(Y), xs * c[:, np.newaxis])
    g_s, g_c = check_gradients(lambda A, B: A * B, [xs, c], fmts=["SSCB", "C"])
    assert dims(g_c) == "C" and g_c.shape == (3,)
    np.testing.assert_allclose(extractdata(g_c), np.einsum("hwcb,hwcb->c", _rng(0).standard_normal(xs.shape), xs))


def test_label_alignment_with_permuted_input_format():
    rng = _rng(20)
    x_bc = rng.standard_normal((2, 3))  # laid out B, C
    xs = rng.standard_normal((4, 3, 2))  # S, C, B
    Y = dlarray(x_bc, "BC") - dlarray(xs, "SCB")
    assert dims(Y) == "SCB"
    np.testing.assert_allclose(extractdata(Y), x_bc.T[np.newaxis] - xs)
    check_gradients(lambda A, B: A - B, [x_bc, xs], fmts=["BC", "SCB"])


def test_disjoint_labels_union():
    a, b = _rng(21).standard_normal((3, 2)), _rng(22).standard_normal((2, 4))
    Y = dlarray(a, "CB") / dlarray(b + 3.0 * np.sign(b), "BT")
    assert dims(Y) == "CBT" and Y.shape == (3, 2, 4)
    np.testing.assert_allclose(extractdata(Y), a[:, :, None] / (b + 3.0 * np.sign(b))[None])


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X + np.ones(2),
        lambda X: np.ones(2) * X,
        lambda X: X - dlarray(np.ones(2)),
        lambda X: X / 2.0,
        lambda X: 2.0 - X,
        lambda X: -X,
        lambda X: X**2,
        lambda X: X * X,
    ],
)
def test_formatted_with_unformatted_keeps_format(make):
    X = dlarray(np.ones((3, 2)) * 2.0, "CB")
    Y = make(X)
    assert dims(Y) == "CB"
    assert Y.shape == (3, 2)


def test_formatted_result_gradient_keeps_format_of_each_input():
    x = _rng(23).standard_normal((3, 2))
    c = _rng(24).standard_normal(2)

    def f(X, C):
        return dlgradient((X * C).sum(), X, C)

    gX, gC = dlfeval(f, dlarray(x, "CB"), dlarray(c))
    assert dims(gX) == "CB" and dims(gC) == ""
    np.testing.assert_allclose(extractdata(gX), np.broadcast_to(c, (3, 2)))
    np.testing.assert_allclose(extractdata(gC), x.sum(axis=0))


# --- the unbroadcast helper -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "grad_shape, shape",
    [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 3), (1, 3)), ((4, 2, 3), (2, 1)), ((2, 3), ()), ((5, 1, 3), (1, 1, 3))],
)
def test_unbroadcast_sums_broadcast_dimensions(grad_shape, shape):
    grad = _rng(25).standard_normal(grad_shape)
    out = unbroadcast(grad, shape)
    assert out.shape == shape
    # reference: the adjoint of np.broadcast_to, i.e. <grad, broadcast(v)> == <unbroadcast(grad), v>
    v = _rng(26).standard_normal(shape)
    np.testing.assert_allclose(np.sum(grad * np.broadcast_to(v, grad_shape)), np.sum(out * v), rtol=1e-12)


def test_unbroadcast_casts_dtype_and_rejects_extra_dims():
    out = unbroadcast(np.ones((2, 3)), (3,), np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.full(3, 2.0))
    with pytest.raises(ValueError, match="unbroadcast"):
        unbroadcast(np.ones(3), (2, 3))


@pytest.mark.parametrize("expr", [lambda X: X + True, lambda X: False * X])
def test_float32_stays_float32_with_python_bool(expr):
    Y = expr(dlarray(np.ones(3, np.float32)))
    assert Y.dtype == np.float32 == (np.ones(3, np.float32) + True).dtype


@pytest.mark.parametrize(
    "a, b",
    [
        (lambda: dlarray(np.ones((2, 3, 4)), "SCB"), lambda: dlarray(np.ones((5, 4)), "CB")),  # C: 3 vs 5
        (lambda: dlarray(np.ones((3, 4)), "CB"), lambda: np.ones((2, 3, 4))),  # more dimensions than labels
        (lambda: dlarray(np.ones((3, 4)), "CB"), lambda: np.ones((3, 5))),  # plain broadcasting error
    ],
)
def test_failing_binary_operation_leaves_the_tape_unchanged(a, b):
    def f(A):
        tape = current_tape()
        before = len(tape.nodes)
        with pytest.raises(ValueError, match="broadcast"):
            A * b()
        return before, len(tape.nodes)

    before, after = dlfeval(f, a())
    assert before == after
