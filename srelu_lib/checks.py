"""Check hand-written backwards against finite differences: :func:`gradcheck` and :func:`gradgradcheck`.

A backward pass is code the framework trusts: it validates the *form* of the
gradients (count, shape, dtype), never their values.  ``gradcheck`` checks the
values.  It reduces the function's output to a scalar with a fixed random
weighting::

    L(inputs) = sum(dLdY * fn(*inputs)),

so that ``dL/dinput`` exercises every output element, gets the analytic
gradient of ``L`` by reverse-mode differentiation (:func:`~srelu_lib.dlfeval`
and :func:`~srelu_lib.dlgradient`, i.e. through the backward under test), and
compares it, element by element, with the central difference::

    (L(x + h) - L(x - h)) / (2h),   h = step * max(1, |x|).

Everything runs in float64, whatever the inputs' dtypes.

Kinks.  A piecewise-linear function such as SReLU has no derivative at its
kinks, and a central difference straddling a kink returns the average of the
two one-sided slopes, which no backward reproduces.  At every element
``gradcheck`` therefore also compares the one-sided differences
``(L(x+h) - L(x)) / h`` and ``(L(x) - L(x-h)) / h``.  For a smooth ``L`` they
differ by about ``h * |L''|``; across a kink they differ by the jump in slope.
An element where they differ by more than
``kink_tol * (|forward| + |backward|) + atol`` is at (or within ``h`` of) a
kink: it is left out of the comparison and counted in
:attr:`GradcheckResult.kinks`.  With random real-valued data, landing within
``h`` of a kink is rare; put inputs on a kink on purpose to see it counted.

Second derivatives.  :func:`gradgradcheck` checks a *differentiable* backward
(the one ``dlgradient(..., enable_higher_derivatives=True)`` records) the same
way, one order up: it reduces the gradients to the scalar ::

    S(inputs, dLdY) = sum_i sum(V_i * dL/dinput_i),   L = sum(dLdY * fn(*inputs)),

with fixed random weightings ``V_i``, differentiates ``S`` by a recorded sweep
(second-order reverse mode, through the backward of the backward under test)
with respect to every input *and* the output weighting ``dLdY``, and compares
with central differences of ``S``, each evaluation of ``S`` being an ordinary
first-order gradient.  Across a kink the gradient jumps, so the one-sided
differences of ``S`` disagree and the element is left out, as above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from .arrays import DLArray, extractdata, stripdims
from .autodiff import dlfeval, dlgradient

__all__ = ["gradcheck", "gradgradcheck", "GradcheckResult"]


@dataclass(frozen=True)
class GradcheckResult:
    """What :func:`gradcheck` found; true (``bool(result)``) when the check passed.

    Attributes:
        ok: every compared element satisfied ``|a - n| <= atol + rtol * |n|``
            (``a`` analytic, ``n`` numerical).
        max_abs_error: per checked input (the DLArray inputs, in order), the
            largest ``|a - n|`` over the compared elements (0.0 if none).
        max_rel_error: per checked input, the largest
            ``|a - n| / max(|a|, |n|, atol)``.
        kinks: the number of elements detected at a kink and left out.
        analytic: per checked input, the analytic gradient (float64, the
            input's stored shape).
        numerical: per checked input, the central-difference gradient.
        at_kink: per checked input, a boolean mask of the elements left out.
    """

    ok: bool
    max_abs_error: tuple[float, ...]
    max_rel_error: tuple[float, ...]
    kinks: int
    analytic: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)
    numerical: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)
    at_kink: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        def fmt(values: tuple[float, ...]) -> str:
            inner = ", ".join(f"{v:.3g}" for v in values)
            return f"({inner},)" if len(values) == 1 else f"({inner})"

        return (
            f"GradcheckResult(ok={self.ok}, max_abs_error={fmt(self.max_abs_error)}, "
            f"max_rel_error={fmt(self.max_rel_error)}, kinks={self.kinks})"
        )


def _as_float64(x: Any) -> Any:
    """Inputs in float64, formats kept; non-array inputs unchanged."""
    if isinstance(x, DLArray):
        return DLArray(np.array(extractdata(x), dtype=np.float64), x.fmt)
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x.astype(np.float64)
    return x


def gradcheck(
    fn: Callable[..., DLArray],
    *inputs: Any,
    dLdY: Any = None,
    step: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
    kink_tol: float = 1e-4,
) -> GradcheckResult:
    """Compare the gradients of ``fn`` with central finite differences.

    Use it on every hand-written backward (a :class:`~srelu_lib.DifferentiableFunction`
    instance), and on compositions - an interface function such as
    :func:`~srelu_lib.srelu` or a whole model loss - to check the chain of
    backwards.  Every DLArray input is checked; NumPy arrays and numbers are
    constants.

    Caveat: the numerical gradient costs two evaluations of ``fn`` per input
    element, so keep the inputs small (up to a few thousand elements in all).
    Elements at a kink are excluded, not checked (see the module docstring).

    Args:
        fn: a DifferentiableFunction instance, or any callable of the inputs
            returning one DLArray.
        *inputs: the arguments of ``fn``; at least one must be a DLArray, and
            DLArray inputs must be finite.  They are converted to float64
            (formats kept) for the check.
        dLdY: the output weighting, an array of the output's (stored) shape;
            by default standard-normal numbers from ``seed``.
        step: relative finite-difference step: ``h = step * max(1, |x|)``.  The
            default suits float64 central differences (truncation error
            ``~h**2``, rounding error ``~1e-16 * |L| / h``).
        rtol, atol: an element passes when ``|a - n| <= atol + rtol * |n|``.
            The defaults leave room for the ``~1e-9`` error of a central
            difference on values of order one.
        seed: seed of the random ``dLdY``.
        kink_tol: relative disagreement of the one-sided differences above
            which an element counts as a kink.

    Returns:
        A :class:`GradcheckResult`.

    Raises:
        TypeError: ``fn`` is not callable or does not return a DLArray.
        ValueError: no DLArray among the inputs, a non-finite DLArray input, a
            bad tolerance, or ``dLdY`` of the wrong shape.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, srelu
        >>> X = dlarray(np.random.default_rng(0).standard_normal((3, 4)), "CB")
        >>> result = gradcheck(srelu, X, dlarray(np.array([-0.5, 0.0, -1.0])), 0.2, 0.5, dlarray(np.array(1.5)))
        >>> result.ok, result.kinks, len(result.max_abs_error)   # checked: X, tl and ar
        (True, 0, 3)
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable (a DifferentiableFunction or a function); got {type(fn).__name__}")
    _check_settings(step, rtol, atol, kink_tol)
    inputs, checked = _checked_inputs(inputs)

    def evaluate(args: tuple) -> np.ndarray:
        Y = fn(*args)
        if not isinstance(Y, DLArray):
            raise TypeError(f"fn must return one DLArray; got {type(Y).__name__}")
        return extractdata(Y)

    Y0 = evaluate(inputs)
    if dLdY is None:
        weights = np.random.default_rng(seed).standard_normal(Y0.shape)
    else:
        weights = np.array(extractdata(dLdY), dtype=np.float64)
        if weights.shape != Y0.shape:
            raise ValueError(f"dLdY must have the output's shape {Y0.shape}; got {weights.shape}")

    def loss(args: tuple) -> float:
        return float(np.sum(weights * evaluate(args), dtype=np.float64))

    # Analytic gradients: reverse mode through the backward(s) under test.
    def loss_and_gradients(*args: Any) -> list:
        L = (stripdims(fn(*args)) * weights).sum()
        return dlgradient(L, [args[i] for i in checked])

    analytic = [np.array(extractdata(g), dtype=np.float64) for g in dlfeval(loss_and_gradients, *inputs)]

    # Numerical gradients: central differences, one element at a time.
    numerical, at_kink = _central_differences(loss, inputs, checked, step, kink_tol, atol)

    return _compare(analytic, numerical, at_kink, rtol, atol)


def _check_settings(step: Any, rtol: Any, atol: Any, kink_tol: Any) -> None:
    for name, value in (("step", step), ("rtol", rtol), ("atol", atol), ("kink_tol", kink_tol)):
        ok = isinstance(value, (Real, np.floating, np.integer)) and not isinstance(value, bool)
        if ok:
            v = float(value)
            ok = math.isfinite(v) and v >= 0 and (name != "step" or v > 0)
        if not ok:
            raise ValueError(f"{name} must be a finite {'positive' if name == 'step' else 'non-negative'} "
                             f"number; got {value!r}")


def _checked_inputs(inputs: tuple) -> tuple[tuple, list[int]]:
    inputs = tuple(_as_float64(x) for x in inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, DLArray)]
    if not checked:
        raise ValueError("gradcheck needs at least one DLArray input to differentiate; got none "
                         "(NumPy arrays and numbers are constants)")
    for i in checked:
        if not np.all(np.isfinite(extractdata(inputs[i]))):
            raise ValueError(f"gradcheck needs finite inputs; input {i} has NaN or Inf")
    return inputs, checked


def _central_differences(
    loss: Callable[[tuple], float], inputs: tuple, checked: list[int], step: float, kink_tol: float, atol: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Central differences of ``loss`` for every element of the checked inputs, and the kink masks."""
    L0 = loss(inputs)
    numerical, at_kink = [], []
    for i in checked:
        x = np.array(extractdata(inputs[i]), dtype=np.float64)
        fmt = inputs[i].fmt
        n = np.zeros_like(x)
        kink = np.zeros(x.shape, dtype=bool)
        for j in np.ndindex(x.shape):
            h = step * max(1.0, abs(float(x[j])))
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            h_plus, h_minus = xp[j] - x[j], x[j] - xm[j]  # the steps actually taken
            args_p = inputs[:i] + (DLArray(xp, fmt),) + inputs[i + 1:]
            args_m = inputs[:i] + (DLArray(xm, fmt),) + inputs[i + 1:]
            Lp, Lm = loss(args_p), loss(args_m)
            n[j] = (Lp - Lm) / (h_plus + h_minus)
            forward, backward = (Lp - L0) / h_plus, (L0 - Lm) / h_minus
            kink[j] = abs(forward - backward) > kink_tol * (abs(forward) + abs(backward)) + atol
        numerical.append(n)
        at_kink.append(kink)
    return numerical, at_kink


def _compare(analytic: list, numerical: list, at_kink: list, rtol: float, atol: float) -> GradcheckResult:
    ok = True
    max_abs, max_rel = [], []
    for a, n, kink in zip(analytic, numerical, at_kink, strict=True):
        keep = ~kink
        err = np.abs(a - n)[keep]
        if err.size:
            max_abs.append(float(err.max()))
            max_rel.append(float((err / np.maximum(np.maximum(np.abs(a[keep]), np.abs(n[keep])), atol)).max()))
            ok = ok and bool(np.all(err <= atol + rtol * np.abs(n[keep])))
        else:
            max_abs.append(0.0)
            max_rel.append(0.0)
    return GradcheckResult(
        ok=ok,
        max_abs_error=tuple(max_abs),
        max_rel_error=tuple(max_rel),
        kinks=int(sum(int(k.sum()) for k in at_kink)),
        analytic=tuple(analytic),
        numerical=tuple(numerical),
        at_kink=tuple(at_kink),
    )


def gradgradcheck(
    fn: Callable[..., DLArray],
    *inputs: Any,
    dLdY: Any = None,
    step: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
    kink_tol: float = 1e-4,
) -> GradcheckResult:
    """Compare second derivatives of ``fn`` (through its recorded backward) with differences of its gradient.

    Use it on every backward meant for higher derivatives: a
    :class:`~srelu_lib.DifferentiableFunction` with
    ``differentiable_backward = True``, or a composition of operations.
    Arguments and caveats are those of :func:`gradcheck` (small inputs: each
    element costs two first-order gradient evaluations; elements at a kink
    are left out), and the method is described in the module docstring.

    Returns:
        A :class:`GradcheckResult` with one entry per DLArray input, in order,
        and a last entry for the output weighting ``dLdY`` (the derivative of
        the gradients with respect to the upstream gradient).

    Raises:
        TypeError, ValueError: as :func:`gradcheck`.
        NotDifferentiableError: some backward on the way is plain NumPy.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, srelu
        >>> X = dlarray(np.random.default_rng(0).standard_normal((3, 4)), "CB")
        >>> tl, al = dlarray(np.array([-0.5, 0.0, -1.0])), dlarray(np.array(0.2))
        >>> result = gradgradcheck(srelu, X, tl, al, 0.5, dlarray(np.array(1.5)))
        >>> result.ok, len(result.max_abs_error)   # X, tl, al, ar, and dLdY
        (True, 5)
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable (a DifferentiableFunction or a function); got {type(fn).__name__}")
    _check_settings(step, rtol, atol, kink_tol)
    inputs, checked = _checked_inputs(inputs)
    Y0 = fn(*inputs)
    if not isinstance(Y0, DLArray):
        raise TypeError(f"fn must return one DLArray; got {type(Y0).__name__}")
    rng = np.random.default_rng(seed)
    if dLdY is None:
        weights = rng.standard_normal(Y0.shape)
    else:
        weights = np.array(extractdata(dLdY), dtype=np.float64)
        if weights.shape != Y0.shape:
            raise ValueError(f"dLdY must have the output's shape {Y0.shape}; got {weights.shape}")
    V = [rng.standard_normal(inputs[i].shape) for i in checked]
    everything = (*inputs, DLArray(weights))  # the output weighting is the last "input"
    positions = [*checked, len(inputs)]

    def gradients(args: tuple, higher: bool) -> Any:
        *xs, W = args
        L = (stripdims(fn(*xs)) * W).sum()
        return dlgradient(L, [xs[i] for i in checked], enable_higher_derivatives=higher)

    def S(args: tuple) -> float:  # the gradients reduced to a number, by an ordinary sweep
        G = dlfeval(lambda *a: gradients(a, False), *args)
        return float(sum(np.sum(v * np.asarray(extractdata(g), dtype=np.float64)) for v, g in zip(V, G, strict=True)))

    def second_order(*args: Any) -> list:
        G = gradients(args, True)
        total = (G[0] * V[0]).sum()
        for g, v in zip(G[1:], V[1:], strict=True):
            total = total + (g * v).sum()
        return dlgradient(total, [args[i] for i in positions])

    analytic = [np.array(extractdata(g), dtype=np.float64) for g in dlfeval(second_order, *everything)]
    numerical, at_kink = _central_differences(S, everything, positions, step, kink_tol, atol)
    return _compare(analytic, numerical, at_kink, rtol, atol)
