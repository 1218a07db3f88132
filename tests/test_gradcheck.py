"""Tests of srelu_lib.checks: it passes correct backwards, catches wrong ones, and sets kinks aside."""

from __future__ import annotations

import re

import numpy as np
import pytest

from srelu_lib import DifferentiableFunction, GradcheckResult, dims, dlarray, extractdata, gradcheck, srelu


class ScaledSquare(DifferentiableFunction):
    """Y = A * B**2 with a correct backward, or a wrong dL/dB when ``wrong=True``."""

    def __init__(self, wrong: bool = False):
        super().__init__(1, save_inputs_for_backward=True)
        self.wrong = wrong

    def forward(self, A, B):
        return A * B**2

    def backward(self, dLdY, compute_gradients, A, B):
        dLdA = dLdY * B**2 if compute_gradients[0] else None
        dLdB = None
        if compute_gradients[1]:
            dLdB = dLdY * 2 * B if self.wrong else dLdY * 2 * A * B  # the wrong one forgets A
        return dLdA, dLdB


class Relu(DifferentiableFunction):
    def __init__(self):
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, X):
        return np.maximum(X, 0)

    def backward(self, dLdY, compute_gradients, X):
        return dLdY * (X > 0)


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def test_passes_on_correct_operations():
    A, B = dlarray(rand((3, 4), 1)), dlarray(rand((3, 4), 2) + 3.0)
    result = gradcheck(ScaledSquare(), A, B)
    assert result.ok and bool(result) and result.kinks == 0
    assert len(result.max_abs_error) == 2 and max(result.max_abs_error) < 1e-6


def test_passes_on_a_composition_of_builtins_and_custom_ops():
    X = dlarray(rand((2, 3, 4), 3), "SCB")

    def model_loss(X, w):
        Y = srelu(X * w, -0.4, 0.2, 0.5, 1.5)
        return (Y * Y).sum() / 2.0

    result = gradcheck(model_loss, X, dlarray(np.array(1.3)))
    assert result.ok, result
    assert len(result.max_abs_error) == 2


def test_fails_on_a_wrong_backward_at_the_right_input_position():
    A, B = dlarray(rand((3, 4), 4) + 2.0), dlarray(rand((3, 4), 5))
    result = gradcheck(ScaledSquare(wrong=True), A, B)
    assert not result.ok and not bool(result)
    assert result.max_abs_error[0] < 1e-6  # dL/dA is right
    assert result.max_abs_error[1] > 0.1  # dL/dB is wrong
    assert result.max_rel_error[1] > 0.1


def test_constants_are_not_checked():
    A, B = rand((3, 4), 6) + 2.0, dlarray(rand((3, 4), 7))
    result = gradcheck(ScaledSquare(wrong=True), A, B)  # A is a constant ndarray: only B is checked
    assert len(result.max_abs_error) == 1 and not result.ok


def test_kinks_are_detected_and_excluded():
    X = dlarray(np.array([-1.0, 0.0, 0.0, 2.0, 1e-9, -3.0]))
    result = gradcheck(Relu(), X)
    assert result.ok, result
    assert result.kinks == 3  # two exact zeros and one element within h of 0
    assert result.at_kink[0].tolist() == [False, True, True, False, True, False]


def test_kink_detection_does_not_hide_errors_away_from_kinks():
    class WrongRelu(Relu):
        def backward(self, dLdY, compute_gradients, X):
            return dLdY * (X > 0) * 2.0

    result = gradcheck(WrongRelu(), dlarray(np.array([-1.0, 0.0, 0.5, 2.0])))
    assert not result.ok and result.kinks == 1


def test_smooth_functions_have_no_kinks():
    X = dlarray(rand((50,), 8) * 3)
    result = gradcheck(lambda X: X * X * X, X)
    assert result.ok and result.kinks == 0, result


def test_srelu_on_its_thresholds_counts_kinks():
    X = dlarray(np.array([[-0.5, 0.5, 0.1, -2.0, 2.0]]), "CB")
    result = gradcheck(srelu, X, -0.5, 0.2, 0.5, 1.5)
    assert result.ok and result.kinks == 2


def test_user_dLdY_is_used_and_default_is_seeded():
    X = dlarray(rand((2, 3), 9))
    dLdY = rand((2, 3), 10)
    result = gradcheck(lambda X: X * 2.0, X, dLdY=dLdY)
    np.testing.assert_allclose(result.analytic[0], 2.0 * dLdY)
    np.testing.assert_allclose(result.numerical[0], 2.0 * dLdY, rtol=1e-8)
    same = gradcheck(lambda X: X * 2.0, X, seed=3)
    np.testing.assert_array_equal(same.analytic[0], gradcheck(lambda X: X * 2.0, X, seed=3).analytic[0])
    assert not np.array_equal(same.analytic[0], gradcheck(lambda X: X * 2.0, X, seed=4).analytic[0])


def test_inputs_are_checked_in_float64_with_formats_kept():
    seen = []

    def fn(X):
        seen.append((X.dtype, dims(X)))
        return srelu(X, -0.3, 0.5, 0.3, 2.0)

    X = dlarray(rand((3, 4), 11).astype(np.float32), "CB")
    result = gradcheck(fn, X)
    assert result.ok
    assert set(seen) == {(np.dtype(np.float64), "CB")}
    assert result.analytic[0].dtype == np.float64
    assert extractdata(X).dtype == np.float32  # the caller's array is untouched


def test_repr_and_fields():
    result = gradcheck(ScaledSquare(), dlarray(rand((2,), 12)), dlarray(rand((2,), 13)))
    assert isinstance(result, GradcheckResult)
    assert re.fullmatch(
        r"GradcheckResult\(ok=True, max_abs_error=\([^()]+, [^()]+\), max_rel_error=\([^()]+, [^()]+\), kinks=0\)",
        repr(result),
    ), repr(result)
    one = gradcheck(Relu(), dlarray(np.array([1.0, -2.0])))
    assert re.search(r"max_abs_error=\([^(),]+,\)", repr(one)), repr(one)


def test_bad_input_errors():
    X = dlarray(rand((2, 2), 14))
    with pytest.raises(ValueError, match="at least one DLArray"):
        gradcheck(Relu(), np.ones(3))
    with pytest.raises(TypeError, match="fn must be callable"):
        gradcheck("relu", X)
    with pytest.raises(TypeError, match="must return one DLArray"):
        gradcheck(lambda X: extractdata(X) * 2, X)
    with pytest.raises(ValueError, match=r"dLdY must have the output's shape \(2, 2\)"):
        gradcheck(Relu(), X, dLdY=np.ones(3))
    with pytest.raises(ValueError, match="step must be a finite positive number"):
        gradcheck(Relu(), X, step=0.0)
    with pytest.raises(ValueError, match="rtol must be"):
        gradcheck(Relu(), X, rtol=-1.0)
    with pytest.raises(ValueError, match="finite inputs; input 0 has NaN or Inf"):
        gradcheck(Relu(), dlarray(np.array([1.0, np.nan])))
