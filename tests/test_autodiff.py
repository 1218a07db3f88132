"""Unit tests for ``dlfeval`` and ``dlgradient``: structure, errors, accumulation, tracing."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np
import pytest

from srelu_lib import (
    DifferentiableFunction,
    DLArray,
    dims,
    dlarray,
    dlfeval,
    dlgradient,
    extractdata,
    saved_bytes,
)
from srelu_lib.tape import current_tape


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- structure of the result -------------------------------------------------------------------------------
def test_nested_wrt_structure_is_preserved():
    rng = _rng(1)
    w1, b1, w2 = rng.standard_normal((3, 2)), rng.standard_normal(3), rng.standard_normal(4)
    params = {"layer1": {"W": dlarray(w1), "b": dlarray(b1)}, "layer2": [dlarray(w2), (dlarray(b1),)]}

    def f(p):
        loss = (p["layer1"]["W"] * 2.0).sum() + (p["layer1"]["b"] ** 2).sum() + (p["layer2"][0] * 3.0).sum()
        return dlgradient(loss, p)

    g = dlfeval(f, params)
    assert isinstance(g, dict) and list(g) == ["layer1", "layer2"]
    assert isinstance(g["layer1"], dict) and list(g["layer1"]) == ["W", "b"]
    assert isinstance(g["layer2"], list) and isinstance(g["layer2"][1], tuple)
    np.testing.assert_allclose(extractdata(g["layer1"]["W"]), np.full((3, 2), 2.0))
    np.testing.assert_allclose(extractdata(g["layer1"]["b"]), 2.0 * b1)
    np.testing.assert_allclose(extractdata(g["layer2"][0]), np.full(4, 3.0))
    np.testing.assert_array_equal(extractdata(g["layer2"][1][0]), np.zeros(3))  # not used by the loss


def test_ordered_dict_and_namedtuple_kept():
    Params = namedtuple("Params", "w b")

    def f(p, q):
        loss = (p.w * p.b).sum() + q["x"].sum()
        return dlgradient(loss, p, q)

    p = Params(dlarray(np.array([1.0, 2.0])), dlarray(np.array([3.0, 4.0])))
    q = OrderedDict(x=dlarray(np.ones(2)))
    gp, gq = dlfeval(f, p, q)
    assert type(gp) is Params and type(gq) is OrderedDict
    np.testing.assert_allclose(extractdata(gp.w), [3.0, 4.0])
    np.testing.assert_allclose(extractdata(gp.b), [1.0, 2.0])
    np.testing.assert_allclose(extractdata(gq["x"]), [1.0, 1.0])


def test_several_wrt_give_a_tuple():
    def f(x, y, z):
        loss = (x * y).sum() + z.sum()
        return dlgradient(loss, x, y, z)

    x, y = np.array([1.0, 2.0]), np.array([5.0, -1.0])
    out = dlfeval(f, dlarray(x), dlarray(y), dlarray(np.zeros(3)))
    assert isinstance(out, tuple) and len(out) == 3
    np.testing.assert_allclose(extractdata(out[0]), y)
    np.testing.assert_allclose(extractdata(out[1]), x)
    np.testing.assert_allclose(extractdata(out[2]), np.ones(3))


def test_single_wrt_is_returned_bare():
    out = dlfeval(lambda x: dlgradient(x.sum(), x), dlarray(np.ones(2)))
    assert isinstance(out, DLArray)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wrt_not_reached_gets_zeros_with_its_shape_dtype_format(dtype):
    def f(x, unused):
        return dlgradient((x * x).sum(), unused)

    unused = dlarray(np.ones((2, 3, 4), dtype=dtype), "CBS")
    g = dlfeval(f, dlarray(np.ones(2)), unused)
    assert g.shape == unused.shape == (4, 2, 3)
    assert g.dtype == dtype
    assert dims(g) == "SCB"
    np.testing.assert_array_equal(extractdata(g), np.zeros((4, 2, 3)))


def test_loss_independent_of_every_wrt():
    def f(x, y):
        loss = (y * 2.0).sum()
        return dlgradient(loss, x)

    g = dlfeval(f, dlarray(np.ones(3)), dlarray(np.ones(3)))
    np.testing.assert_array_equal(extractdata(g), np.zeros(3))


def test_gradient_has_format_and_dtype_of_wrt():
    def f(X):
        return dlgradient((X * X).sum(), X)

    X = dlarray(np.ones((2, 3, 4), dtype=np.float32), "BSC")
    g = dlfeval(f, X)
    assert dims(g) == dims(X) == "SCB"
    assert g.shape == X.shape
    assert g.dtype == np.float32


# --- errors -------------------------------------------------------------------------------------------------
def test_dlgradient_outside_dlfeval_raises():
    x = dlarray(np.ones(2))
    with pytest.raises(RuntimeError, match="inside a function evaluated by dlfeval"):
        dlgradient(x.sum(), x)


def test_loss_created_outside_raises():
    outside = dlarray(np.array(3.0))

    def f(x):
        return dlgradient(outside, x)

    with pytest.raises(ValueError, match="not traced"):
        dlfeval(f, dlarray(np.ones(3)))



def test_result_of_ops_on_untraced_arrays_is_untraced():
    outside = dlarray(np.ones(3))

    def f():
        return (outside * 2.0).is_traced, (outside.sum()).is_traced

    assert dlfeval(f) == (False, False)


def test_loss_computed_only_from_untraced_arrays_raises():
    outside = dlarray(np.ones(3))

    def f(x):
        return dlgradient(outside.sum(), x)  # built only from an untraced array

    with pytest.raises(ValueError, match="not traced"):
        dlfeval(f, dlarray(np.ones(3)))


@pytest.mark.parametrize("loss", [3.0, np.float64(1.0), np.array(2.0)])
def test_loss_not_a_dlarray_raises(loss):
    with pytest.raises(ValueError, match="not traced"):
        dlfeval(lambda x: dlgradient(loss, x), dlarray(np.ones(2)))


def test_loss_not_scalar_raises():
    with pytest.raises(ValueError, match=r"scalar.*\(3,\)"):
        dlfeval(lambda x: dlgradient(x * 2.0, x), dlarray(np.ones(3)))


def test_loss_of_size_one_with_dims_is_accepted():
    def f(x):
        loss = (x * x).sum(axis=0, keepdims=True)  # shape (1,)
        return dlgradient(loss, x)

    np.testing.assert_allclose(extractdata(dlfeval(f, dlarray(np.array([1.0, 2.0])))), [2.0, 4.0])


def test_loss_not_real_raises():
    with pytest.raises(TypeError, match="float32 or float64"):
        DLArray(np.array(1.0 + 0.0j))  # complex data cannot even make a DLArray

    def f(x):
        tape = current_tape()
        fake = DLArray._make(np.array(1.0 + 0.0j), "", tape.new_trace())  # bypassing the check
        return dlgradient(fake, x)

    with pytest.raises(ValueError, match="real"):
        dlfeval(f, dlarray(np.ones(2)))


def test_wrt_captured_from_outside_is_not_traced():
    W = dlarray(np.ones(3))  # created outside dlfeval, used through the closure

    def f(x):
        loss = (x * W).sum()
        return dlgradient(loss, W)

    with pytest.raises(ValueError, match=r"argument 1 \(wrt\).*shape \(3,\).*not traced"):
        dlfeval(f, dlarray(np.ones(3)))


def test_wrt_untraced_in_second_argument_named():
    W = dlarray(np.ones(3))

    def f(x):
        return dlgradient((x * W).sum(), x, {"W": W})

    with pytest.raises(ValueError, match=r"argument 2 \(wrt\)"):
        dlfeval(f, dlarray(np.ones(3)))


@pytest.mark.parametrize("bad", [np.ones(3), 1.0, "x", [], {}, None, [np.ones(3)]])
def test_wrt_not_a_dlarray_raises_type_error(bad):
    def f(x):
        return dlgradient((x * x).sum(), bad)

    with pytest.raises(TypeError, match=r"wrt"):
        dlfeval(f, dlarray(np.ones(3)))


@pytest.mark.parametrize("extra", [np.zeros(3), 3.0])
def test_wrt_structure_with_a_non_dlarray_leaf_raises_type_error(extra):
    def f(x):
        return dlgradient((x * x).sum(), [x, extra])

    with pytest.raises(TypeError, match=r"wrt"):
        dlfeval(f, dlarray(np.ones(3)))


def test_dlfeval_requires_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        dlfeval(3.0)  # type: ignore[arg-type]


# --- accumulation ---------------------------------------------------------------------------------------------
def test_x_times_x_accumulates():
    x = np.array([1.0, -2.0, 3.5])
    g = dlfeval(lambda X: dlgradient((X * X).sum(), X), dlarray(x))
    np.testing.assert_allclose(extractdata(g), 2.0 * x)


def test_x_plus_x_accumulates():
    g = dlfeval(lambda X: dlgradient((X + X).sum(), X), dlarray(np.ones(4)))
    np.testing.assert_allclose(extractdata(g), np.full(4, 2.0))


def test_diamond_graph():
    # a = 2x; b = 3x; c = a * b = 6 x^2; L = sum(c + a) -> dL/dx = 12 x + 2
    x = np.array([0.5, -1.0, 2.0])

    def f(X):
        A = X * 2.0
        B = X * 3.0
        return dlgradient((A * B + A).sum(), X)

    np.testing.assert_allclose(extractdata(dlfeval(f, dlarray(x))), 12.0 * x + 2.0)


def test_value_used_by_several_later_nodes():
    # h = x^2 used three times: L = sum(h) + sum(h * h) + sum(2 h)
    x = np.array([0.3, -0.7, 1.1])

    def f(X):
        H = X * X
        return dlgradient(H.sum() + (H * H).sum() + (H * 2.0).sum(), X)

    # dL/dx = (1 + 2h + 2) * 2x
    h = x * x
    np.testing.assert_allclose(extractdata(dlfeval(f, dlarray(x))), (3.0 + 2.0 * h) * 2.0 * x)


def test_long_chain():
    # y = x * 1.01 repeated 200 times -> dy/dx = 1.01 ** 200
    n, factor = 200, 1.01

    def f(X):
        Y = X
        for _ in range(n):
            Y = Y * factor
        return dlgradient(Y.sum(), X)

    g = dlfeval(f, dlarray(np.array([2.0, 3.0])))
    np.testing.assert_allclose(extractdata(g), np.full(2, factor**n), rtol=1e-12)


def test_gradient_wrt_intermediate_and_input():
    # y = 2x, L = sum(y) + sum(x): dL/dy = 1, dL/dx = 3 (total derivative)
    def f(X):
        Y = X * 2.0
        loss = Y.sum() + X.sum()
        return dlgradient(loss, X, Y)

    gX, gY = dlfeval(f, dlarray(np.ones(3)))
    np.testing.assert_allclose(extractdata(gX), np.full(3, 3.0))
    np.testing.assert_allclose(extractdata(gY), np.ones(3))


def test_gradient_of_loss_wrt_itself_is_one():
    def f(X):
        loss = (X * X).sum()
        return dlgradient(loss, loss)

    np.testing.assert_array_equal(extractdata(dlfeval(f, dlarray(np.ones(2)))), 1.0)


def test_returned_gradients_do_not_alias_each_other():
    def f(x, y):
        return dlgradient((x + y).sum(), x, y)

    gx, gy = dlfeval(f, dlarray(np.ones(3)), dlarray(np.ones(3)))
    assert not np.shares_memory(extractdata(gx), extractdata(gy))


# --- calling dlgradient twice, tracing ------------------------------------------------------------------------
def test_dlgradient_twice_in_one_dlfeval_with_retain_data():
    x = np.array([1.0, 2.0])

    def f(X):
        L1 = (X * X).sum()
        g1 = dlgradient(L1, X, retain_data=True)
        L2 = (X * 3.0).sum()
        g2 = dlgradient(L2, X)
        g1_again = dlgradient(L1, X)
        return g1, g2, g1_again

    g1, g2, g1_again = dlfeval(f, dlarray(x))
    np.testing.assert_allclose(extractdata(g1), 2.0 * x)
    np.testing.assert_allclose(extractdata(g2), [3.0, 3.0])
    np.testing.assert_allclose(extractdata(g1_again), 2.0 * x)


def test_second_dlgradient_through_freed_data_raises_naming_the_option():
    def f(X):
        L1 = (X * X).sum()
        dlgradient(L1, X)  # retain_data=False: the sweep frees what Multiply saved
        return dlgradient(L1, X)

    with pytest.raises(RuntimeError, match=r"Sum saved for its backward were freed.*retain_data=True"):
        dlfeval(f, dlarray(np.ones(2)))


def test_sweep_frees_saved_data_as_it_goes():
    def f(X):
        H = X * 2.0
        L = (H * H).sum()
        before = saved_bytes()
        dlgradient(L, X)
        return before, saved_bytes()

    before, after = dlfeval(f, dlarray(np.ones(1000)))
    assert before >= 8000 and after == 0


def test_retain_data_keeps_saved_data():
    def f(X):
        L = ((X * 2.0) * X).sum()
        before = saved_bytes()
        dlgradient(L, X, retain_data=True)
        return before, saved_bytes()

    before, after = dlfeval(f, dlarray(np.ones(100)))
    assert before == after > 0


def test_other_losses_after_a_freeing_call_still_work():
    def f(X):
        g1 = dlgradient((X * X).sum(), X)
        g2 = dlgradient((X * X * X).sum(), X)  # new nodes: nothing freed on the way
        return g1, g2

    g1, g2 = dlfeval(f, dlarray(np.array([2.0])))
    assert float(g1) == 4.0 and float(g2) == 12.0


@pytest.mark.parametrize("option", ["enable_higher_derivatives", "retain_data"])
@pytest.mark.parametrize("bad", [1, "yes", None])
def test_options_must_be_bools(option, bad):
    with pytest.raises(TypeError, match=option):
        dlfeval(lambda x: dlgradient(x.sum(), x, **{option: bad}), dlarray(np.ones(2)))


def test_results_returned_from_dlfeval_are_untraced():
    def f(X, d):
        Y = X * 2.0
        assert Y.is_traced and X.is_traced and d["a"].is_traced
        return Y, {"X": X, "list": [Y, 1.0]}, (d["a"],)

    Y, nested, (a,) = dlfeval(f, dlarray(np.ones(2)), {"a": dlarray(np.ones(3))})
    for arr in (Y, nested["X"], nested["list"][0], a):
        assert isinstance(arr, DLArray)
        assert not arr.is_traced
        assert arr._trace is None
    assert nested["list"][1] == 1.0


def test_returned_arrays_usable_in_a_new_dlfeval():
    Y = dlfeval(lambda X: X * 2.0, dlarray(np.array([1.0, 2.0])))
    g = dlfeval(lambda Y: dlgradient((Y * Y).sum(), Y), Y)
    np.testing.assert_allclose(extractdata(g), [4.0, 8.0])


def test_arguments_passed_in_are_not_mutated_or_traced():
    X = dlarray(np.ones(2))
    dlfeval(lambda Z: dlgradient((Z * Z).sum(), Z), X)
    assert X._trace is None and not X.is_traced


def test_kwargs_are_traced():
    def f(x, *, scale, params):
        assert scale.is_traced and params["w"].is_traced
        loss = (x * scale).sum() + (params["w"] * params["w"]).sum()
        return dlgradient(loss, scale, params)

    x = np.array([1.0, 2.0, 3.0])
    gs, gp = dlfeval(f, dlarray(x), scale=dlarray(np.array(2.0)), params={"w": dlarray(np.array([1.5]))})
    np.testing.assert_allclose(extractdata(gs), x.sum())
    np.testing.assert_allclose(extractdata(gp["w"]), [3.0])


def test_arrays_created_inside_are_traced():
    def f():
        W = dlarray(np.array([1.0, 2.0]))
        return dlgradient((W * W).sum(), W)

    np.testing.assert_allclose(extractdata(dlfeval(f)), [2.0, 4.0])


def test_gradients_are_untraced_constants():
    def f(X):
        g = dlgradient((X * X).sum(), X)
        return g.is_traced

    assert dlfeval(f, dlarray(np.ones(2))) is False


def test_custom_function_gradient_flows_through_builtins():
    class Tanh(DifferentiableFunction):
        def __init__(self):
            super().__init__(1, save_outputs_for_backward=True)

        def forward(self, X):
            return np.tanh(X)

        def backward(self, dLdY, compute_gradients, Y):
            return dLdY * (1.0 - Y * Y)

    x = np.array([-0.5, 0.1, 0.9])

    def f(X):
        return dlgradient((Tanh()(X * 2.0) * 3.0).sum(), X)

    np.testing.assert_allclose(extractdata(dlfeval(f, dlarray(x))), 6.0 * (1.0 - np.tanh(2.0 * x) ** 2))


def test_dlfeval_nested_tape_restored():
    def inner(Y):
        return dlgradient((Y * Y).sum(), Y)

    def outer(X):
        tape = current_tape()
        g_inner = dlfeval(inner, dlarray(np.array([3.0])))
        assert current_tape() is tape
        return dlgradient((X * 5.0).sum(), X), g_inner

    g_outer, g_inner = dlfeval(outer, dlarray(np.array([1.0])))
    np.testing.assert_allclose(extractdata(g_outer), [5.0])
    np.testing.assert_allclose(extractdata(g_inner), [6.0])
    assert current_tape() is None
