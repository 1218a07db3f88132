"""Unit tests for ``DifferentiableFunction``: constructor, calling convention, backward validation, tape memory."""

from __future__ import annotations

import gc
import weakref
from itertools import product

import numpy as np
import pytest

from srelu_lib import (
    BackwardError,
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


# --- constructor validation ----------------------------------------------------------------------------
class Plain(DifferentiableFunction):
    def forward(self, X):
        return X

    def backward(self, dLdY, compute_gradients):
        return dLdY


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, "2", None])
def test_num_outputs_must_be_positive_int(bad):
    with pytest.raises(ValueError, match=r"Plain: num_outputs must be a positive integer"):
        Plain(bad)


@pytest.mark.parametrize("bad", [-1, 1.0, True, "1", None])
def test_num_memory_values_must_be_non_negative_int(bad):
    with pytest.raises(ValueError, match=r"Plain: num_memory_values must be a non-negative integer"):
        Plain(1, num_memory_values=bad)


def test_constructor_accepts_numpy_integers_and_stores_flags():
    f = Plain(np.int64(2), save_inputs_for_backward=True, num_memory_values=np.int32(3))
    assert (f.num_outputs, f.num_memory_values) == (2, 3)
    assert type(f.num_outputs) is int and type(f.num_memory_values) is int
    assert f.save_inputs_for_backward is True and f.save_outputs_for_backward is False


def test_flags_are_keyword_only():
    with pytest.raises(TypeError):
        Plain(1, True)  # type: ignore[misc]


def test_base_class_forward_and_backward_are_not_implemented():
    f = DifferentiableFunction(1)
    with pytest.raises(NotImplementedError, match="forward"):
        f(np.zeros(2))
    with pytest.raises(NotImplementedError, match="backward"):
        f.backward(np.zeros(2), (True,))


# --- the calling convention: 2 outputs, 2 memory values, every flag combination -------------------------
class TwoOutTwoMem(DifferentiableFunction):
    """Y1 = A * B, Y2 = A + 2 B; memory1 = a copy of A, memory2 = an arbitrary object."""

    def __init__(self, save_inputs: bool, save_outputs: bool) -> None:
        super().__init__(
            2,
            save_inputs_for_backward=save_inputs,
            save_outputs_for_backward=save_outputs,
            num_memory_values=2,
        )
        self.received: list[tuple] = []
        self.forward_inputs: tuple = ()
        self.forward_results: tuple = ()

    def forward(self, A, B):
        Y1, Y2 = A * B, A + 2.0 * B
        memory1, memory2 = A.copy(), {"tag": "memory2", "B": B.copy()}
        self.forward_inputs = (A, B)
        self.forward_results = (Y1, Y2, memory1, memory2)
        return Y1, Y2, memory1, memory2

    def backward(self, *args):  # varargin style: the convention is all positional
        self.received.append(args)
        dLdY1, dLdY2, compute_gradients = args[:3]
        memory1, memory2 = args[-2:]
        A, B = memory1, memory2["B"]
        dLdA = dLdY1 * B + dLdY2 if compute_gradients[0] else None
        dLdB = dLdY1 * A + 2.0 * dLdY2 if compute_gradients[1] else None
        return dLdA, dLdB


@pytest.mark.parametrize("save_inputs, save_outputs", list(product([False, True], repeat=2)))
def test_backward_receives_matlab_argument_order(save_inputs, save_outputs):
    rng = _rng(1)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    W1, W2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    fcn = TwoOutTwoMem(save_inputs, save_outputs)

    def loss_fn(A, B):
        Y1, Y2 = fcn(A, B)
        loss = (Y1 * W1).sum() + (Y2 * W2).sum()
        return dlgradient(loss, A, B)

    dA, dB = dlfeval(loss_fn, dlarray(a), dlarray(b))
    assert len(fcn.received) == 1
    args = fcn.received[0]
    expected_len = 2 + 1 + 2 * save_inputs + 2 * save_outputs + 2
    assert len(args) == expected_len

    # dLdY1, dLdY2 first, as plain arrays
    for got, want in zip(args[:2], (W1, W2), strict=True):
        assert type(got) is np.ndarray
        np.testing.assert_allclose(got, want)
    # then compute_gradients: a tuple of bools, one per input
    assert args[2] == (True, True)
    assert all(type(c) is bool for c in args[2])
    pos = 3
    if save_inputs:
        for got, want in zip(args[pos : pos + 2], (a, b), strict=True):
            assert type(got) is np.ndarray
            np.testing.assert_array_equal(got, want)
        pos += 2
    if save_outputs:
        for got, want in zip(args[pos : pos + 2], (a * b, a + 2.0 * b), strict=True):
            assert type(got) is np.ndarray
            np.testing.assert_array_equal(got, want)
        pos += 2
    # the memory values last, exactly the objects forward returned
    assert args[pos] is fcn.forward_results[2]
    assert args[pos + 1] is fcn.forward_results[3]
    # and the gradients are right
    np.testing.assert_allclose(extractdata(dA), W1 * b + W2)
    np.testing.assert_allclose(extractdata(dB), W1 * a + 2.0 * W2)


def test_forward_receives_plain_arrays_with_format_stripped():
    fcn = TwoOutTwoMem(False, False)
    X = dlarray(np.ones((2, 3)), "BC")  # stored (3, 2)
    fcn(X, np.full((3, 2), 2.0))
    A, B = fcn.forward_inputs
    assert type(A) is np.ndarray and type(B) is np.ndarray
    assert A.shape == (3, 2)


def test_outputs_are_unformatted_dlarrays():
    fcn = TwoOutTwoMem(False, False)
    X = dlarray(np.ones((2, 3)), "CB")
    outs = fcn(X, X)
    assert isinstance(outs, tuple) and len(outs) == 2
    for Y in outs:
        assert isinstance(Y, DLArray)
        assert dims(Y) == ""
        assert not Y.is_traced
    single = Plain(1)(X)
    assert isinstance(single, DLArray) and dims(single) == ""


def test_outputs_traced_inside_dlfeval():
    def f(X):
        Y = Plain(1)(X)
        return Y.is_traced

    assert dlfeval(f, dlarray(np.ones(2))) is True


# --- saved outputs --------------------------------------------------------------------------------------
class Exp(DifferentiableFunction):
    def __init__(self) -> None:
        super().__init__(1, save_outputs_for_backward=True)

    def forward(self, X):
        return np.exp(X)

    def backward(self, dLdY, compute_gradients, Y):
        return dLdY * Y


def test_backward_using_saved_outputs():
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    fcn = Exp()

    def f(X):
        Y = fcn(X)
        loss = Y.sum()
        return Y, saved_bytes(), dlgradient(loss, X)

    Y, nbytes, g = dlfeval(f, dlarray(x))
    np.testing.assert_allclose(extractdata(Y), np.exp(x))
    np.testing.assert_allclose(extractdata(g), np.exp(x))
    assert nbytes == x.nbytes  # exactly Y, nothing else


# --- varargin backward -----------------------------------------------------------------------------------
class VarargScale(DifferentiableFunction):
    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, X, s):
        return X * s

    def backward(self, dLdY, *varargin):
        compute_gradients, X, s = varargin
        return (dLdY * s if compute_gradients[0] else None, np.sum(dLdY * X).reshape(s.shape)
                if compute_gradients[1] else None)


def test_backward_with_star_args_works():
    x, s = np.array([1.0, 2.0, 3.0]), np.array(4.0)

    def f(X, S):
        return dlgradient(VarargScale()(X, S).sum(), X, S)

    gX, gS = dlfeval(f, dlarray(x), dlarray(s))
    np.testing.assert_allclose(extractdata(gX), [4.0, 4.0, 4.0])
    np.testing.assert_allclose(extractdata(gS), x.sum())


# --- compute_gradients -------------------------------------------------------------------------------------
class SixInputs(DifferentiableFunction):
    def __init__(self) -> None:
        super().__init__(1)
        self.flags: list = []
        self.shapes: tuple = ()

    def forward(self, *Xs):
        self.shapes = tuple(x.shape for x in Xs)
        return sum(Xs)

    def backward(self, dLdY, compute_gradients):
        self.flags.append(compute_gradients)
        return tuple(dLdY.copy() if c else None for c in compute_gradients)


def test_compute_gradients_true_only_where_a_requested_gradient_depends():
    fcn = SixInputs()

    def f(X, W, P):
        H = W * 2.0  # depends on W (requested)
        Q = P * 3.0  # depends only on P (not requested)
        C = np.ones(3)  # constant
        loss = fcn(X, W, C, P, H, Q).sum() + 0.5
        return dlgradient(loss, W)

    ones = np.ones(3)
    gW = dlfeval(f, dlarray(ones), dlarray(ones), dlarray(ones))
    assert fcn.flags == [(False, True, False, False, True, False)]
    np.testing.assert_allclose(extractdata(gW), 3.0 * ones)  # 1 (direct) + 2 (through H)


def test_compute_gradients_with_python_float_constant_and_two_wrt():
    fcn = SixInputs()

    def f(X, W, P):
        loss = fcn(X, W, 1.5, P, np.zeros(3), X).sum()
        return dlgradient(loss, W, P)

    ones = np.ones(3)
    gW, gP = dlfeval(f, dlarray(ones), dlarray(ones), dlarray(ones))
    assert fcn.flags == [(False, True, False, True, False, False)]
    assert fcn.shapes[2] == ()  # a Python float becomes a 0-d array
    np.testing.assert_allclose(extractdata(gW), ones)
    np.testing.assert_allclose(extractdata(gP), ones)


def test_compute_gradients_is_tuple_of_bools():
    fcn = SixInputs()

    def f(X):
        return dlgradient(fcn(X, X, X, X, X, X).sum(), X)

    g = dlfeval(f, dlarray(np.ones(2)))
    flags = fcn.flags[0]
    assert isinstance(flags, tuple) and len(flags) == 6
    assert all(type(c) is bool and c for c in flags)
    np.testing.assert_allclose(extractdata(g), [6.0, 6.0])


# --- validation of backward's results -----------------------------------------------------------------------
class Bad(DifferentiableFunction):
    """Two inputs of shape (2, 3) float64; ``mode`` selects what backward returns."""

    def __init__(self, mode: str) -> None:
        super().__init__(1)
        self.mode = mode

    def forward(self, A, B):
        return A * B

    def backward(self, dLdY, compute_gradients):
        good = dLdY.copy()
        return {
            "one": (good,),
            "three": (good, good, good),
            "none": (good, None),
            "shape": (good, np.zeros((3, 2))),
            "dtype": (good, good.astype(np.float32)),
            "list": (good, good.tolist()),
            "float": (good, 1.0),
        }[self.mode]


def _run_bad(mode: str):
    def f(A, B):
        return dlgradient(Bad(mode)(A, B).sum(), A, B)

    return dlfeval(f, dlarray(np.ones((2, 3))), dlarray(np.ones((2, 3))))


@pytest.mark.parametrize(
    "mode, exc, pattern",
    [
        ("one", BackwardError, r"Bad\.backward returned 1 value\(s\); expected 2"),
        ("three", BackwardError, r"Bad\.backward returned 3 value\(s\); expected 2"),
        ("none", BackwardError, r"Bad\.backward returned None for input 1.*shape \(2, 3\) and dtype float64"),
        ("shape", BackwardError, r"Bad\.backward: gradient for input 1 has shape \(3, 2\); expected \(2, 3\)"),
        ("dtype", TypeError, r"Bad\.backward: gradient for input 1 has dtype float32; expected float64"),
        ("list", TypeError, r"Bad\.backward: gradient for input 1 must be a NumPy array of shape \(2, 3\).*got list"),
        ("float", TypeError, r"Bad\.backward: gradient for input 1 must be a NumPy array.*got float"),
    ],
)
def test_backward_results_are_validated(mode, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        _run_bad(mode)
    # every form error is one exception family, catchable as TypeError or ValueError alike
    assert isinstance(info.value, BackwardError)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_backward_error_is_a_value_error_and_a_type_error():
    assert issubclass(BackwardError, ValueError) and issubclass(BackwardError, TypeError)


def test_unrequested_gradient_may_be_anything():
    def f(A, B):
        return dlgradient(Bad("none")(A, B).sum(), A)  # input 1 not requested: None is fine

    g = dlfeval(f, dlarray(np.ones((2, 3))), dlarray(np.ones((2, 3))))
    np.testing.assert_allclose(extractdata(g), np.ones((2, 3)))


class Square(DifferentiableFunction):
    def __init__(self, as_tuple: bool) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.as_tuple = as_tuple

    def forward(self, X):
        return X * X

    def backward(self, dLdY, compute_gradients, X):
        g = 2.0 * X * dLdY
        return (g,) if self.as_tuple else g


@pytest.mark.parametrize("as_tuple", [False, True])
def test_one_input_backward_may_return_bare_or_one_tuple(as_tuple):
    x = np.array([1.0, -2.0, 3.0])

    def f(X):
        return dlgradient(Square(as_tuple)(X).sum(), X)

    np.testing.assert_allclose(extractdata(dlfeval(f, dlarray(x))), 2.0 * x)


def test_backward_may_return_a_dlarray():
    class AsDL(Square):
        def backward(self, dLdY, compute_gradients, X):
            return dlarray(2.0 * X * dLdY)

    x = np.array([1.0, 2.0])
    g = dlfeval(lambda X: dlgradient(AsDL(False)(X).sum(), X), dlarray(x))
    np.testing.assert_allclose(extractdata(g), 2.0 * x)


# --- forward validation ----------------------------------------------------------------------------------
class WrongCount(DifferentiableFunction):
    def __init__(self) -> None:
        super().__init__(2, num_memory_values=1)

    def forward(self, X):
        return X, X  # 2 values, but 2 outputs + 1 memory = 3 expected


def test_forward_returning_wrong_number_of_values():
    with pytest.raises(ValueError, match=r"WrongCount\.forward returned 2 value\(s\); expected 2 output\(s\) "
                                         r"\+ 1 memory value\(s\) = 3"):
        WrongCount()(np.zeros(2))


def test_forward_returning_complex_output_raises():
    class Cplx(Plain):
        def forward(self, X):
            return X + 1j

    with pytest.raises(TypeError, match=r"Cplx\.forward output 0"):
        Cplx(1)(np.zeros(2))


def test_call_with_no_inputs_or_bad_input():
    with pytest.raises(TypeError, match="Plain: called with no inputs"):
        Plain(1)()
    with pytest.raises(TypeError, match=r"Plain input 0"):
        Plain(1)(np.array([1j]))


# --- dLdY for an output that does not reach the loss ----------------------------------------------------------
class SplitShapes(DifferentiableFunction):
    """Y1 = X (shape of X), Y2 = column sums of X (a different shape)."""

    def __init__(self) -> None:
        super().__init__(2)
        self.received: list = []

    def forward(self, X):
        return X.copy(), X.sum(axis=0)

    def backward(self, dLdY1, dLdY2, compute_gradients):
        self.received.append((dLdY1, dLdY2))
        return dLdY1 + dLdY2[np.newaxis, :]


def test_unused_output_gets_zero_dLdY_of_its_shape():
    fcn = SplitShapes()
    x = np.arange(6.0).reshape(2, 3)

    def f(X):
        Y1, Y2 = fcn(X)
        return dlgradient((Y1 * 3.0).sum(), X)

    g = dlfeval(f, dlarray(x))
    (dLdY1, dLdY2), = fcn.received
    np.testing.assert_array_equal(dLdY1, np.full((2, 3), 3.0))
    assert dLdY2.shape == (3,) and dLdY2.dtype == np.float64
    np.testing.assert_array_equal(dLdY2, np.zeros(3))
    np.testing.assert_array_equal(extractdata(g), np.full((2, 3), 3.0))


def test_only_second_output_used():
    fcn = SplitShapes()

    def f(X):
        _, Y2 = fcn(X)
        return dlgradient(Y2.sum(), X)

    g = dlfeval(f, dlarray(np.ones((2, 3))))
    (dLdY1, dLdY2), = fcn.received
    np.testing.assert_array_equal(dLdY1, np.zeros((2, 3)))
    np.testing.assert_array_equal(dLdY2, np.ones(3))
    np.testing.assert_array_equal(extractdata(g), np.ones((2, 3)))


# --- tape memory: saved_bytes reflects exactly what the flags keep ----------------------------------------------
class Mul(DifferentiableFunction):
    """Y = A * B with configurable saving; with memory, keeps the boolean mask A > 0."""

    def __init__(self, save_inputs=False, save_outputs=False, memory=False) -> None:
        super().__init__(1, save_inputs_for_backward=save_inputs, save_outputs_for_backward=save_outputs,
                         num_memory_values=int(memory))
        self.memory = memory

    def forward(self, A, B):
        Y = A * B
        return (Y, A > 0) if self.memory else Y

    def backward(self, dLdY, compute_gradients, *saved):
        raise AssertionError("not called in these tests")


A_SHAPE = (3, 4)


def _bytes_for(**flags) -> int:
    rng = _rng(2)
    a = rng.standard_normal(A_SHAPE)  # float64
    b = rng.standard_normal(A_SHAPE).astype(np.float32)

    def f(A, B):
        assert saved_bytes() == 0
        Mul(**flags)(A, B)
        return saved_bytes()

    return dlfeval(f, dlarray(a), dlarray(b))


def test_saved_bytes_per_flag():
    n = int(np.prod(A_SHAPE))
    a_bytes, b_bytes, y_bytes, mask_bytes = 8 * n, 4 * n, 8 * n, 1 * n
    assert _bytes_for() == 0
    assert _bytes_for(save_inputs=True) == a_bytes + b_bytes
    assert _bytes_for(save_outputs=True) == y_bytes
    assert _bytes_for(memory=True) == mask_bytes
    assert _bytes_for(save_inputs=True, save_outputs=True, memory=True) == a_bytes + b_bytes + y_bytes + mask_bytes


def test_saved_bytes_counts_shared_arrays_once_and_grows_per_node():
    a = np.ones(10)

    def f(A):
        Mul(save_inputs=True)(A, A)  # the same array twice
        first = saved_bytes()
        Mul(save_inputs=True)(A, A)  # and again in another node
        second = saved_bytes()
        Y = Mul(save_outputs=True)(A, A)
        third = saved_bytes()
        return first, second, third, Y.nbytes

    first, second, third, y_bytes = dlfeval(f, dlarray(a))
    assert first == a.nbytes
    assert second == a.nbytes
    assert third == a.nbytes + y_bytes


def test_untraced_calls_save_nothing():
    def f():
        Mul(save_inputs=True, save_outputs=True)(np.ones(5), np.ones(5))  # constants only: no node
        outside = dlarray(np.ones(5))  # created inside: traced
        return saved_bytes(), current_tape().nodes.__len__(), outside

    nbytes, nodes, _ = dlfeval(f)
    assert nbytes == 0 and nodes == 0


def test_saved_bytes_counts_arrays_inside_container_memory_values():
    class TupleMemory(DifferentiableFunction):
        def __init__(self) -> None:
            super().__init__(1, num_memory_values=1)

        def forward(self, X):
            return X * 2.0, (X > 0, np.abs(X))

    x = np.ones(6)

    def f(X):
        TupleMemory()(X)
        return saved_bytes()

    assert dlfeval(f, dlarray(x)) == 6 * 1 + x.nbytes


def test_saved_bytes_outside_dlfeval_raises():
    with pytest.raises(RuntimeError, match="inside dlfeval"):
        saved_bytes()


def test_tape_released_after_dlfeval():
    refs: dict = {}

    def f(X):
        H = X * 2.0  # H's data is saved by the next Multiply (save_inputs)
        refs["H"] = weakref.ref(extractdata(H))
        refs["tape"] = current_tape()
        loss = (H * H).sum()
        assert saved_bytes() > 0
        return loss

    loss = dlfeval(f, dlarray(np.ones(1000)))
    gc.collect()
    assert float(loss) == 4000.0
    assert refs["H"]() is None
    assert refs["tape"].nodes == []
    assert refs["tape"].active is False
    assert current_tape() is None


def test_tape_released_when_fn_raises():
    refs: dict = {}

    def f(X):
        refs["tape"] = current_tape()
        (X * X).sum()
        raise KeyError("boom")

    with pytest.raises(KeyError):
        dlfeval(f, dlarray(np.ones(3)))
    assert current_tape() is None
    assert refs["tape"].nodes == []
