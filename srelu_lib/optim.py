"""Optimizers: update learnable parameters from their gradients.

:func:`adamupdate` is MATLAB's ``adamupdate``: one step of Adam (adaptive
moment estimation) over a whole nested parameter structure.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from .arrays import DLArray, as_float_array
from .tape import freeze
from .tree import tree_map

__all__ = ["adamupdate"]


def _check_rate(value: Any, name: str, *, low: float, high: float | None = None, open_low: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)) or not math.isfinite(value):
        raise ValueError(f"adamupdate: {name} must be a finite real number; got {value!r}")
    value = float(value)
    too_low = value <= low if open_low else value < low
    if too_low or (high is not None and value >= high):
        interval = f"{'(' if open_low else '['}{low}, {high if high is not None else 'inf'})"
        raise ValueError(f"adamupdate: {name} must lie in {interval}; got {value!r}")
    return value


def _like(template: Any, values: np.ndarray) -> Any:
    """Wrap ``values`` the way ``template`` is wrapped: a DLArray with its format, or a plain ndarray."""
    if isinstance(template, DLArray):
        return DLArray._make(freeze(values), template.fmt, None)  # a fresh array: the DLArray owns it
    return values


def adamupdate(
    params: Any,
    grads: Any,
    avg_g: Any,
    avg_sq_g: Any,
    iteration: int,
    learn_rate: float = 0.001,
    grad_decay: float = 0.9,
    sq_grad_decay: float = 0.999,
    epsilon: float = 1e-8,
) -> tuple[Any, Any, Any]:
    """One Adam step for every parameter, like MATLAB's ``adamupdate``.

    For each parameter ``p`` with gradient ``g`` at (1-based) iteration ``t``::

        m = grad_decay * m + (1 - grad_decay) * g
        v = sq_grad_decay * v + (1 - sq_grad_decay) * g**2
        p = p - learn_rate * (m / (1 - grad_decay**t)) / (sqrt(v / (1 - sq_grad_decay**t)) + epsilon)

    Use it in a custom training loop after computing the gradients with
    :func:`~srelu_lib.dlfeval`/:func:`~srelu_lib.dlgradient`; feed the returned
    moving averages into the next call.

    Caveat: ``iteration`` must count calls from 1 and increase by one per
    call: the bias correction ``1 - decay**t`` depends on it.  Nothing is
    updated in place; new arrays are returned.

    Args:
        params: a DLArray or ndarray, or a nested dict/list/tuple of them.
        grads: gradients with exactly the structure and shapes of ``params``.
        avg_g: moving average of the gradients from the previous call, or
            ``None`` on the first call (treated as zeros).
        avg_sq_g: moving average of the squared gradients, or ``None``.
        iteration: positive int, the 1-based iteration number ``t``.
        learn_rate: step size, > 0.
        grad_decay: decay of ``avg_g``, in [0, 1).
        sq_grad_decay: decay of ``avg_sq_g``, in [0, 1).
        epsilon: denominator offset, > 0.

    Returns:
        ``(params, avg_g, avg_sq_g)``: new structures like ``params``; every
        leaf has its parameter's dtype and, for DLArrays, its format.  Leaves
        are DLArrays where the parameter is a DLArray, ndarrays otherwise.

    Raises:
        ValueError: bad ``iteration`` or hyperparameter; structures or shapes
            that do not match (the message names the first mismatching path).
        TypeError: a leaf that is not an array.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import adamupdate, dlarray
        >>> params = {"w": dlarray(np.array([1.0, -1.0]))}
        >>> grads = {"w": dlarray(np.array([0.5, -2.0]))}
        >>> params, m, v = adamupdate(params, grads, None, None, 1, learn_rate=0.1)
        >>> params["w"]        # the first step moves each entry by learn_rate against its gradient's sign
        DLArray([ 0.9, -0.9], dtype=float64)
    """
    if isinstance(iteration, bool) or not isinstance(iteration, (int, np.integer)) or iteration < 1:
        raise ValueError(f"adamupdate: iteration must be a positive int (1 on the first call); got {iteration!r}")
    t = int(iteration)
    lr = _check_rate(learn_rate, "learn_rate", low=0.0)
    b1 = _check_rate(grad_decay, "grad_decay", low=0.0, high=1.0, open_low=False)
    b2 = _check_rate(sq_grad_decay, "sq_grad_decay", low=0.0, high=1.0, open_low=False)
    eps = _check_rate(epsilon, "epsilon", low=0.0)
    correction1 = 1.0 - b1**t
    correction2 = 1.0 - b2**t

    # First call: averages are None; a structure of None leaves stands for zeros.
    if avg_g is None:
        avg_g = tree_map(lambda p: None, params)
    if avg_sq_g is None:
        avg_sq_g = tree_map(lambda p: None, params)

    def step(path: str, p: Any, g: Any, m: Any, v: Any) -> tuple[Any, Any, Any]:
        if not isinstance(p, (DLArray, np.ndarray)):
            raise TypeError(f"adamupdate: params{path} must be a DLArray or ndarray; got {type(p).__name__}")
        p_data = as_float_array(p, name=f"params{path}")
        dtype = p_data.dtype.type
        arrays = []
        for value, name in ((g, "grads"), (m, "avg_g"), (v, "avg_sq_g")):
            if value is None and name != "grads":
                arrays.append(np.zeros_like(p_data))
                continue
            if not isinstance(value, (DLArray, np.ndarray)):
                raise TypeError(f"adamupdate: {name}{path} must be a DLArray or ndarray; got {type(value).__name__}")
            data = as_float_array(value, name=f"{name}{path}")
            if data.shape != p_data.shape:
                raise ValueError(
                    f"adamupdate: {name}{path} has shape {data.shape} but params{path} has shape {p_data.shape}"
                )
            arrays.append(data.astype(p_data.dtype, copy=False))
        g_data, m_data, v_data = arrays
        m_new = dtype(b1) * m_data + dtype(1.0 - b1) * g_data
        v_new = dtype(b2) * v_data + dtype(1.0 - b2) * (g_data * g_data)
        m_hat = m_new / dtype(correction1)
        v_hat = v_new / dtype(correction2)
        p_new = p_data - dtype(lr) * m_hat / (np.sqrt(v_hat) + dtype(eps))
        return _like(p, p_new), _like(p, m_new), _like(p, v_new)

    return tree_map(
        step,
        params,
        grads,
        avg_g,
        avg_sq_g,
        names=("params", "grads", "avg_g", "avg_sq_g"),
        num_outputs=3,
        with_path=True,
    )
