"""Higher-order derivatives: enable_higher_derivatives, custom operations, nested dlfeval, threads, mutation.

The second derivatives of every built-in and of SReLU are checked with
``gradgradcheck`` (finite differences of the gradient, float64) in
tests/test_second_derivatives.py; this file tests the machinery.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from srelu_lib import (
    DifferentiableFunction,
    DLArray,
    NotDifferentiableError,
    dlarray,
    dlfeval,
    dlgradient,
    exp,
    extractdata,
    gradgradcheck,
    saved_bytes,
    sigmoid,
    srelu,
    tanh,
)
from srelu_lib.tape import current_tape


def values(x) -> np.ndarray:
    return np.asarray(extractdata(x))


# --- the cube example and higher orders ----------------------------------------------------------------------
def test_cube_first_second_and_third_derivative():
    def f(x):
        y = (x * x * x).sum()
        d1 = dlgradient(y, x, enable_higher_derivatives=True)
        d2 = dlgradient(d1.sum(), x, enable_higher_derivatives=True)
        d3 = dlgradient(d2.sum(), x)
        return d1, d2, d3

    x = np.array([-1.5, 0.5, 2.0])
    d1, d2, d3 = dlfeval(f, dlarray(x))
    np.testing.assert_allclose(values(d1), 3 * x**2)
    np.testing.assert_allclose(values(d2), 6 * x)
    np.testing.assert_allclose(values(d3), np.full(3, 6.0))


def test_fifth_derivative_of_x_to_the_fifth_through_power():
    def f(x):
        g = x**5
        for _ in range(5):
            g = dlgradient(g.sum(), x, enable_higher_derivatives=True)
        return g

    np.testing.assert_allclose(values(dlfeval(f, dlarray(np.array([0.3, 1.7])))), [120.0, 120.0])


def test_gradients_are_traced_only_with_the_option():
    def f(x):
        y = (x * x).sum()
        traced = dlgradient(y, x, enable_higher_derivatives=True, retain_data=True)
        constant = dlgradient(y, x)
        return traced.is_traced, constant.is_traced

    assert dlfeval(f, dlarray(np.ones(2))) == (True, False)


def test_second_dlgradient_of_a_constant_gradient_raises_with_a_hint():
    def f(x):
        g = dlgradient((x * x * x).sum(), x)  # a constant
        return dlgradient(g.sum(), x)

    with pytest.raises(ValueError, match=r"not traced.*enable_higher_derivatives=True"):
        dlfeval(f, dlarray(np.array([1.0, 2.0])))


def test_no_hint_when_no_gradient_was_computed():
    outside = dlarray(np.ones(2))  # created outside dlfeval: a constant

    with pytest.raises(ValueError, match="not traced") as info:
        dlfeval(lambda x: dlgradient(outside.sum(), x), dlarray(np.ones(2)))
    assert "enable_higher_derivatives" not in str(info.value)


def test_gradient_that_does_not_depend_on_x_differentiates_to_zero():
    def f(x, w):
        g = dlgradient((x * w).sum(), x, enable_higher_derivatives=True)  # = w, independent of x
        return dlgradient((g * g).sum(), x), dlgradient((g * g).sum(), w)

    h_x, h_w = dlfeval(f, dlarray(np.array([1.0, 2.0])), dlarray(np.array([3.0, -1.0])))
    np.testing.assert_array_equal(values(h_x), [0.0, 0.0])
    np.testing.assert_allclose(values(h_w), [6.0, -2.0])


def test_unused_wrt_gives_traced_zeros_under_higher_derivatives():
    def f(x, unused):
        g = dlgradient((x * x).sum(), unused, enable_higher_derivatives=True)
        return g.is_traced, dlgradient(g.sum() + (x * x).sum(), x)

    traced, h = dlfeval(f, dlarray(np.array([2.0])), dlarray(np.zeros(3)))
    assert traced
    np.testing.assert_allclose(values(h), [4.0])


def test_hessian_vector_product_of_a_small_network_matches_differences_of_gradients():
    rng = np.random.default_rng(3)
    W1, W2, x = rng.standard_normal((4, 3)), rng.standard_normal((1, 4)), rng.standard_normal((3, 1))
    v = rng.standard_normal((4, 3))

    def loss(W1, W2):
        return (tanh(W2 @ tanh(W1 @ x)) ** 2).sum()

    def grad(W1):
        return values(dlfeval(lambda a, b: dlgradient(loss(a, b), a), dlarray(W1), dlarray(W2)))

    def hvp(W1, W2):
        g = dlgradient(loss(W1, W2), W1, enable_higher_derivatives=True)
        return dlgradient((g * v).sum(), W1)

    analytic = values(dlfeval(hvp, dlarray(W1), dlarray(W2)))
    h = 1e-6
    numerical = (grad(W1 + h * v) - grad(W1 - h * v)) / (2 * h)  # H v, by symmetry of H
    np.testing.assert_allclose(analytic, numerical, rtol=1e-6, atol=1e-8)


def test_gradient_penalty_gradient_matches_finite_differences():
    # WGAN-GP style: penalty = mean((|dD/dx| - 1)^2), differentiated with respect to the weights.
    from srelu_lib import fullyconnect

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5))
    W0 = rng.standard_normal((1, 3))

    def penalty(W, X, higher):
        D = sigmoid(fullyconnect(X, W, np.zeros(1))).sum()
        dDdx = dlgradient(D, X, enable_higher_derivatives=higher)
        return ((((dDdx * dDdx).sum(axis=0) + 1e-12) ** 0.5 - 1) ** 2).mean()

    def penalty_and_grad(W, X):
        p = penalty(W, X, True)
        return p, dlgradient(p, W)

    def penalty_value(W):
        return float(dlfeval(lambda W, X: penalty(W, X, False), dlarray(W), dlarray(x, "CB")))

    p, g = dlfeval(penalty_and_grad, dlarray(W0), dlarray(x, "CB"))
    assert float(p) == pytest.approx(penalty_value(W0))
    h = 1e-6
    numerical = np.zeros_like(W0)
    for j in np.ndindex(W0.shape):
        E = np.zeros_like(W0)
        E[j] = h
        numerical[j] = (penalty_value(W0 + E) - penalty_value(W0 - E)) / (2 * h)
    np.testing.assert_allclose(values(g), numerical, rtol=1e-6, atol=1e-9)


# --- retain_data and higher derivatives -----------------------------------------------------------------------
def test_higher_derivatives_keep_the_data_as_in_matlab():
    def f(x):
        y = (exp(x) * x).sum()
        before = saved_bytes()
        g = dlgradient(y, x, enable_higher_derivatives=True)  # retain_data has no effect: data kept
        assert saved_bytes() >= before
        again = dlgradient(y, x, retain_data=True)  # a second sweep over the same operations works
        return g, again, dlgradient(g.sum(), x)

    g, again, h = dlfeval(f, dlarray(np.array([0.5, -1.0])))
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(values(g), np.exp(x) * (1 + x))
    np.testing.assert_allclose(values(again), values(g))
    np.testing.assert_allclose(values(h), np.exp(x) * (2 + x))


# --- custom operations ----------------------------------------------------------------------------------------
class NumpyCube(DifferentiableFunction):
    """A backward in plain NumPy: fine for first derivatives, not differentiable."""

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, X):
        return X**3

    def backward(self, dLdY, compute_gradients, X):
        return dLdY * 3 * np.square(X)


class Cube(NumpyCube):
    """The same backward written with operators only, declared differentiable."""

    differentiable_backward = True

    def backward(self, dLdY, compute_gradients, X):
        return dLdY * 3 * X**2


class CubeGradient(DifferentiableFunction):
    """dLdX = 3 X^2 dLdY as an operation of its own (PyTorch's double-backward pattern)."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, dLdY, X):
        return 3 * np.square(X) * dLdY

    def backward(self, G, compute_gradients, dLdY, X):
        return G * 3 * X**2, G * 6 * X * dLdY


class CubeWithGradientOp(NumpyCube):
    differentiable_backward = True

    def backward(self, dLdY, compute_gradients, X):
        return CubeGradient()(dLdY, X)


def test_numpy_backward_works_for_first_derivatives():
    g = dlfeval(lambda x: dlgradient(NumpyCube()(x).sum(), x), dlarray(np.array([2.0])))
    np.testing.assert_allclose(values(g), [12.0])


def test_numpy_backward_under_higher_derivatives_raises_naming_the_operation():
    def f(x):
        return dlgradient(NumpyCube()(x).sum(), x, enable_higher_derivatives=True)

    with pytest.raises(NotDifferentiableError, match=r"NumpyCube\.backward cannot be differentiated") as info:
        dlfeval(f, dlarray(np.array([2.0])))
    message = str(info.value)
    assert "differentiable_backward = True" in message and "srelu_lib operations" in message


def test_numpy_backward_off_the_path_does_not_raise():
    def f(x, c):
        y = (x * x).sum() + NumpyCube()(c).sum()  # the NumPy op does not depend on x
        g = dlgradient(y, x, enable_higher_derivatives=True)
        return dlgradient(g.sum(), x)

    np.testing.assert_allclose(values(dlfeval(f, dlarray(np.array([1.0])), dlarray(np.array([5.0])))), [2.0])


@pytest.mark.parametrize("op", [Cube, CubeWithGradientOp])
def test_differentiable_custom_backwards_give_second_and_third_derivatives(op):
    def f(x):
        d1 = dlgradient(op()(x).sum(), x, enable_higher_derivatives=True)
        d2 = dlgradient(d1.sum(), x, enable_higher_derivatives=True)
        return d1, d2, dlgradient(d2.sum(), x)

    x = np.array([-2.0, 0.5])
    d1, d2, d3 = dlfeval(f, dlarray(x))
    np.testing.assert_allclose(values(d1), 3 * x**2)
    np.testing.assert_allclose(values(d2), 6 * x)
    np.testing.assert_allclose(values(d3), [6.0, 6.0])


@pytest.mark.parametrize("op", [Cube, CubeWithGradientOp])
def test_differentiable_custom_backwards_pass_gradgradcheck(op):
    result = gradgradcheck(op(), dlarray(np.random.default_rng(1).standard_normal(5)))
    assert result.ok, result


def test_backward_receives_numpy_in_an_ordinary_sweep_and_dlarrays_in_a_recorded_one():
    seen: list = []

    class Spy(Cube):
        def backward(self, dLdY, compute_gradients, X):
            seen.append((type(dLdY).__name__, type(X).__name__))
            return super().backward(dLdY, compute_gradients, X)

    def f(x):
        y = Spy()(x * 2.0).sum()
        dlgradient(y, x, retain_data=True)
        dlgradient(y, x, enable_higher_derivatives=True)

    dlfeval(f, dlarray(np.ones(2)))
    assert seen == [("ndarray", "ndarray"), ("ndarray", "DLArray")]  # dL/dY of a sum is a constant


def test_wrong_gradient_from_a_differentiable_backward_is_caught_by_gradgradcheck():
    class WrongSecond(Cube):
        def backward(self, dLdY, compute_gradients, X):
            return dLdY * 3 * extractdata(X) ** 2  # right values, but X's dependence is dropped

    assert gradcheck_ok(WrongSecond())
    assert not gradgradcheck(WrongSecond(), dlarray(np.array([0.5, 1.5]))).ok


def gradcheck_ok(op) -> bool:
    from srelu_lib import gradcheck

    return gradcheck(op, dlarray(np.array([0.5, 1.5]))).ok


# --- the ordinary sweep runs with recording off ---------------------------------------------------------------
def test_backward_that_creates_dlarrays_adds_nothing_to_the_tape():
    class MakesArrays(DifferentiableFunction):
        def __init__(self) -> None:
            super().__init__(1)

        def forward(self, X):
            return 2 * X

        def backward(self, dLdY, compute_gradients):
            scale = dlarray(np.full(dLdY.shape, 2.0))  # inside backward: not traced, not recorded
            assert not scale.is_traced
            return extractdata(scale * dLdY)

    def f(x):
        y = MakesArrays()(x).sum()
        before = len(current_tape().nodes)
        g = dlgradient(y, x)
        return before, len(current_tape().nodes), g

    before, after, g = dlfeval(f, dlarray(np.ones(3)))
    assert before == after == 2
    np.testing.assert_allclose(values(g), [2.0, 2.0, 2.0])


# --- nested dlfeval ---------------------------------------------------------------------------------------------
def test_nested_dlfeval_example_of_the_issue_gives_two():
    def inner(x):
        return dlgradient((x * x).sum(), x)

    def outer(x):
        g = dlfeval(inner, x)
        return dlgradient((x + 0.5 * g).sum(), x)

    np.testing.assert_allclose(values(dlfeval(outer, dlarray(np.array([3.0])))), [2.0])


def test_inner_result_is_traced_by_the_outer_tape_but_not_by_the_inner_one():
    def inner(x):
        g = dlgradient((x * x * x).sum(), x)
        return g, g.is_traced

    def outer(x):
        g, traced_inside = dlfeval(inner, x)
        return traced_inside, g.is_traced, dlgradient(g.sum(), x)

    traced_inside, traced_outside, h = dlfeval(outer, dlarray(np.array([2.0])))
    assert traced_inside and traced_outside  # traced by the outer tape, in both places
    np.testing.assert_allclose(values(h), [12.0])  # d/dx 3x^2


def test_closure_over_an_outer_variable_stays_differentiable():
    def outer(x):
        def inner():
            return (x * x).sum() * 3.0  # x comes from the enclosing function, not as an argument

        y = dlfeval(inner)
        return dlgradient(y, x)

    np.testing.assert_allclose(values(dlfeval(outer, dlarray(np.array([2.0])))), [12.0])


def test_nested_inner_values_untraced_when_outer_does_not_trace_them():
    y = dlfeval(lambda: dlfeval(lambda z: z * 2.0, dlarray(np.ones(2))))
    assert isinstance(y, DLArray) and not y.is_traced and y._trace is None


def test_numpy_backward_in_a_nested_sweep_with_an_outer_dependency_raises():
    def inner(x):
        return dlgradient(NumpyCube()(x).sum(), x)

    def outer(x):
        return dlgradient(dlfeval(inner, x).sum(), x)

    with pytest.raises(NotDifferentiableError, match=r"NumpyCube.*nested dlfeval"):
        dlfeval(outer, dlarray(np.array([1.0])))


CONSTANT = dlarray(np.array([2.0]))  # made outside every dlfeval: no tape traces it


def test_numpy_backward_in_a_nested_sweep_without_outer_dependency_works():
    def outer(x):
        g = dlfeval(lambda z: dlgradient(NumpyCube()(z).sum(), z), CONSTANT)
        return g, dlgradient((x * x).sum(), x)

    g, gx = dlfeval(outer, dlarray(np.array([1.0])))
    np.testing.assert_allclose(values(g), [12.0])
    np.testing.assert_allclose(values(gx), [2.0])


def test_arrays_made_inside_the_outer_function_are_traced_by_it():
    def outer(x):
        z = dlarray(np.array([2.0]))  # created inside dlfeval: traced by the outer tape
        return dlfeval(lambda z: dlgradient(NumpyCube()(z).sum(), z), z)

    with pytest.raises(NotDifferentiableError, match="NumpyCube"):
        dlfeval(outer, dlarray(np.array([1.0])))


def test_nested_higher_derivatives_inside_the_inner_function():
    def inner(x):
        d1 = dlgradient((x**4).sum(), x, enable_higher_derivatives=True)
        return dlgradient(d1.sum(), x)  # 12 x^2, traced by the outer tape

    def outer(x):
        return dlgradient(dlfeval(inner, x).sum(), x)  # 24 x

    np.testing.assert_allclose(values(dlfeval(outer, dlarray(np.array([0.5, 2.0])))), [12.0, 48.0])


def test_dlgradient_of_an_outer_value_inside_the_inner_function_raises():
    def outer(x):
        y = (x * x).sum()
        return dlfeval(lambda: dlgradient(y, x))

    with pytest.raises(ValueError, match="not traced"):
        dlfeval(outer, dlarray(np.ones(2)))


# --- data changed after the forward pass ----------------------------------------------------------------------
def test_changing_extracted_data_raises_instead_of_changing_the_gradient():
    def f(x):
        y = (x * x).sum()
        with pytest.raises(ValueError, match="read-only"):
            extractdata(x)[:] = 100
        return dlgradient(y, x)

    np.testing.assert_allclose(values(dlfeval(f, dlarray(np.array([1.0, 2.0])))), [2.0, 4.0])


def test_changing_the_wrapped_numpy_array_after_the_forward_does_not_change_the_gradient():
    a = np.array([1.0, 2.0])

    def f(x):
        y = (x * x).sum()
        a[:] = 100  # dlarray(a) shares a's memory, but the tape kept a copy of what it saved
        return dlgradient(y, x)

    np.testing.assert_allclose(values(dlfeval(f, dlarray(a))), [2.0, 4.0])


def test_changing_a_numpy_constant_after_the_forward_does_not_change_the_gradient():
    w = np.array([3.0, 4.0])

    def f(x):
        y = (x * w).sum()
        w[:] = -1.0
        return dlgradient(y, x)

    np.testing.assert_allclose(values(dlfeval(f, dlarray(np.ones(2)))), [3.0, 4.0])


def test_arrays_the_library_makes_are_not_copied_when_saved():
    def f(x):
        h = exp(x)  # made by the library, frozen in place: the Multiply below saves it without a copy
        (h * h).sum()
        copied_for_h = current_tape().snapshot_nbytes
        (x * x).sum()  # x wraps the caller's (writeable) array: saving it takes one copy
        (x * x).sum()  # ... one per tape, however often it is saved
        return copied_for_h, current_tape().snapshot_nbytes

    x = np.ones(1000)
    assert dlfeval(f, dlarray(x)) == (0, x.nbytes)


def test_outputs_and_gradients_are_read_only():
    def f(x):
        y = x * 2.0
        g = dlgradient(y.sum(), x)
        return y, g

    y, g = dlfeval(f, dlarray(np.ones(3)))
    for arr in (y, g):
        with pytest.raises(ValueError, match="read-only"):
            extractdata(arr)[0] = 5.0
    copy = np.array(y)
    copy[0] = 5.0  # a copy is yours to change


# --- threads ------------------------------------------------------------------------------------------------------
def test_two_threads_differentiating_at_once_each_see_their_own_tape():
    barrier = threading.Barrier(2)
    results: dict = {}
    errors: list = []

    def work(name: str, scale: float) -> None:
        try:
            def f(x):
                y = x * scale
                barrier.wait()  # both threads are inside dlfeval now
                z = (y * y).sum()
                barrier.wait()
                tape = current_tape()
                return dlgradient(z, x), tape, len(tape.nodes)

            g, tape, nodes = dlfeval(f, dlarray(np.array([1.0, 2.0])))
            results[name] = (values(g), tape, nodes)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(name, s)) for name, s in (("a", 2.0), ("b", 3.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    np.testing.assert_allclose(results["a"][0], 2 * 4.0 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(results["b"][0], 2 * 9.0 * np.array([1.0, 2.0]))
    assert results["a"][1] is not results["b"][1]
    assert results["a"][2] == results["b"][2] == 3  # each tape holds only its own thread's nodes


def test_a_thread_started_inside_dlfeval_does_not_record_on_it():
    def f(x):
        seen: list = []
        t = threading.Thread(target=lambda: seen.append((current_tape(), (x * 2.0).is_traced)))
        t.start()
        t.join()
        return seen[0]

    tape, traced = dlfeval(f, dlarray(np.ones(2)))
    assert tape is None and traced is False


# --- SReLU ------------------------------------------------------------------------------------------------------
def test_srelu_mixed_second_derivatives_are_the_region_indicators():
    x = np.array([[-2.0, -0.5, 0.0, 0.7, 3.0]])  # one channel: left, middle, middle, middle, right
    tl, al, tr, ar = -1.0, 0.25, 1.0, 2.0

    def f(X, al_, ar_):
        dYdX = dlgradient(srelu(X, tl, al_, tr, ar_).sum(), X, enable_higher_derivatives=True)
        # d/dal of sum(dy/dx) = number of elements with x <= tl; likewise ar with x >= tr
        return dYdX, dlgradient(dYdX.sum(), al_, ar_, X)

    dYdX, (d_al, d_ar, d_X) = dlfeval(f, dlarray(x, "CB"), dlarray(np.array([al])), dlarray(np.array([ar])))
    np.testing.assert_allclose(values(dYdX), [[al, 1, 1, 1, ar]])
    np.testing.assert_allclose(values(d_al), [1.0])
    np.testing.assert_allclose(values(d_ar), [1.0])
    np.testing.assert_array_equal(values(d_X), np.zeros((1, 5)))  # d2y/dx2 = 0 almost everywhere


def test_srelu_first_derivatives_identical_in_both_sweeps():
    rng = np.random.default_rng(4)
    X = dlarray(rng.standard_normal((2, 3, 4, 5)), "SSCB")
    params = [dlarray(rng.standard_normal(4) * 0.5 + c) for c in (-0.5, 0.3, 0.5, 1.5)]

    def f(X, *p):
        y = srelu(X, *p).sum()
        return dlgradient(y, X, *p, retain_data=True), dlgradient(y, X, *p, enable_higher_derivatives=True)

    plain, traced = dlfeval(f, X, *params)
    for a, b in zip(plain, traced, strict=True):
        np.testing.assert_array_equal(values(a), values(b))  # the same kernel computes both


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_srelu_second_derivatives_propagate_non_finite_data(bad):
    x = np.array([[bad, -2.0, 0.0, 2.0]])

    def f(X, al, ar):
        g = dlgradient(srelu(X, -1.0, al, 1.0, ar).sum(), X, al, ar, enable_higher_derivatives=True)
        return dlgradient((g[0] * g[0]).sum() + g[1].sum() + g[2].sum(), X, al, ar)

    out = dlfeval(f, dlarray(x, "CB"), dlarray(np.array([0.5])), dlarray(np.array([2.0])))
    d_X = values(out[0])
    # d/dx of dLdal + dLdar is L + R: 1 on the left (-2) and on the right (2), 0 in the middle (0)
    np.testing.assert_array_equal(d_X[0, 1:], [1.0, 0.0, 1.0])  # finite elements unaffected
    if np.isnan(bad):
        assert np.isnan(d_X[0, 0]) and all(np.isnan(values(o)).all() for o in out[1:])


def test_an_output_that_views_a_caller_array_is_saved_as_a_copy():
    class PassThrough(DifferentiableFunction):  # returns a view of its (constant) input as output
        differentiable_backward = True

        def __init__(self) -> None:
            super().__init__(1, save_outputs_for_backward=True)

        def forward(self, X, C):
            return C.reshape(C.shape)

        def backward(self, dLdY, compute_gradients, Y):
            return dLdY * Y, None

    c = np.array([1.0, 2.0])

    def f(x):
        y = (PassThrough()(x, c) * 1.0).sum()
        c[:] = 50.0  # changes the caller's array after the forward pass
        return dlgradient(y, x)

    np.testing.assert_allclose(values(dlfeval(f, dlarray(np.ones(2)))), [1.0, 2.0])


def test_numpy_function_on_a_traced_array_in_a_recorded_backward_raises():
    class Sneaky(NumpyCube):
        differentiable_backward = True  # ... but the backward uses a NumPy function on X

        def backward(self, dLdY, compute_gradients, X):
            return dLdY * 3 * np.where(extractdata(X) > 0, X, X) ** 2  # np.where drops X's trace

    with pytest.raises(TypeError, match=r"Sneaky\.backward passed a traced DLArray to a NumPy function"):
        dlfeval(lambda x: second_derivative(Sneaky(), x), dlarray(np.array([1.0, 2.0])))
    # the same backward is fine in an ordinary sweep, and np.asarray works on traced arrays elsewhere
    g = dlfeval(lambda x: (dlgradient(Sneaky()(x).sum(), x), np.asarray(x * 2.0)), dlarray(np.array([1.0])))
    np.testing.assert_allclose(values(g[0]), [3.0])


def second_derivative(op, x):
    d1 = dlgradient(op(x).sum(), x, enable_higher_derivatives=True)
    return dlgradient(d1.sum(), x)
