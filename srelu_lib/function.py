"""``DifferentiableFunction``: an operation defined by a forward and a hand-written backward.

This is the Python counterpart of MATLAB's ``deep.DifferentiableFunction``.
Subclass it, call ``super().__init__(num_outputs, ...)`` in the constructor,
and define two methods:

``forward(self, X1, ..., XN)``
    receives plain NumPy arrays (formats stripped) and returns
    ``Y1, ..., YM, memory1, ..., memoryK`` - a bare value when that list has
    one element, otherwise a tuple.

``backward(self, dLdY1, ..., dLdYM, compute_gradients, X1..XN, Y1..YM, memory1..memoryK)``
    receives its arguments *positionally, in exactly this order*, where the
    inputs ``X`` are present only with ``save_inputs_for_backward=True``, the
    outputs ``Y`` only with ``save_outputs_for_backward=True``, and the memory
    values only with ``num_memory_values > 0``.  It returns one gradient per
    input, in input order (bare when N == 1, a 1-tuple is accepted too), with
    ``None`` for each input whose ``compute_gradients`` entry is false.

Calling the object, ``fcn(X1, ..., XN)``, runs ``forward`` and returns
unformatted :class:`~srelu_lib.DLArray` outputs (one, or a tuple).  Inside
:func:`~srelu_lib.dlfeval` the call is recorded on the tape, keeping only what
the flags ask for; the framework then checks every result of ``backward``
(count, ``None``-ness, shape, dtype) and names the operation and input position
in any error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import DLArray, as_float_array
from .tape import Node, current_tape

__all__ = ["DifferentiableFunction", "BackwardError"]


class BackwardError(ValueError):
    """``backward`` returned something that does not fit its operation's inputs."""


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


class DifferentiableFunction:
    """Base class for a custom operation with a hand-written backward.

    Use it when an operation cannot be composed from differentiable built-ins
    (it calls code the tape cannot see), or when you want a specific
    gradient algorithm - a cheaper formula, a chosen sub-gradient at a kink,
    a numerically stable rewrite.

    Caveat: the framework trusts ``backward`` mathematically.  It checks the
    *form* of what comes back (count, shape, dtype), not the values; check
    those with :func:`~srelu_lib.gradcheck`.

    Args:
        num_outputs: M, the number of outputs ``forward`` returns (>= 1).
        save_inputs_for_backward: pass the inputs ``X1..XN`` to ``backward``
            (they are kept on the tape until the reverse sweep).
        save_outputs_for_backward: pass the outputs ``Y1..YM`` to ``backward``.
        num_memory_values: K, the number of extra values ``forward`` returns
            after the outputs and that are passed to ``backward`` last.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import DifferentiableFunction, dlarray, dlfeval, dlgradient
        >>> class Cube(DifferentiableFunction):
        ...     def __init__(self):
        ...         super().__init__(1, save_inputs_for_backward=True)
        ...     def forward(self, X):
        ...         return X**3
        ...     def backward(self, dLdY, compute_gradients, X):
        ...         return dLdY * 3 * X**2
        >>> def loss_and_grad(x):
        ...     loss = Cube()(x).sum()
        ...     return dlgradient(loss, x)
        >>> dlfeval(loss_and_grad, dlarray(np.array([1.0, 2.0])))
        DLArray([ 3., 12.], dtype=float64)
    """

    def __init__(
        self,
        num_outputs: int,
        *,
        save_inputs_for_backward: bool = False,
        save_outputs_for_backward: bool = False,
        num_memory_values: int = 0,
    ) -> None:
        name = type(self).__name__
        if isinstance(num_outputs, bool) or not isinstance(num_outputs, (int, np.integer)) or num_outputs < 1:
            raise ValueError(f"{name}: num_outputs must be a positive integer; got {num_outputs!r}")
        if (
            isinstance(num_memory_values, bool)
            or not isinstance(num_memory_values, (int, np.integer))
            or num_memory_values < 0
        ):
            raise ValueError(
                f"{name}: num_memory_values must be a non-negative integer; got {num_memory_values!r}"
            )
        self.num_outputs = int(num_outputs)
        self.save_inputs_for_backward = bool(save_inputs_for_backward)
        self.save_outputs_for_backward = bool(save_outputs_for_backward)
        self.num_memory_values = int(num_memory_values)

    # -- the two methods a subclass writes ------------------------------------
    # (*args, **kwargs) signatures: each subclass declares its own arguments.
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, X1, ..., XN)")

    def backward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} must define backward(self, dLdY..., compute_gradients, ...)"
        )

    # -- what the framework does around them ----------------------------------
    def __call__(self, *inputs: Any) -> Any:
        """Run ``forward`` on the inputs' data and record the call on the active tape.

        Returns:
            One unformatted :class:`~srelu_lib.DLArray` when ``num_outputs`` is 1,
            otherwise a tuple of ``num_outputs`` of them.
        """
        name = type(self).__name__
        if not inputs:
            raise TypeError(f"{name}: called with no inputs")
        data = tuple(as_float_array(x, name=f"{name} input {i}") for i, x in enumerate(inputs))
        results = _as_tuple(self.forward(*data))
        expected = self.num_outputs + self.num_memory_values
        if len(results) != expected:
            raise ValueError(
                f"{name}.forward returned {len(results)} value(s); expected {self.num_outputs} "
                f"output(s) + {self.num_memory_values} memory value(s) = {expected}"
            )
        outputs = tuple(
            as_float_array(y, name=f"{name}.forward output {j}") for j, y in enumerate(results[: self.num_outputs])
        )
        memory = results[self.num_outputs :]

        tape = current_tape()
        traced_ids = tuple(
            x._trace.id if isinstance(x, DLArray) and x._trace is not None and x._trace.tape is tape else None
            for x in inputs
        )
        if tape is None or all(i is None for i in traced_ids):
            # No traced input: the result is a constant, as in MATLAB (nothing to record).
            wrapped = tuple(DLArray(y, "") for y in outputs)
        else:
            wrapped = tuple(DLArray(y, "", _trace=tape.new_trace()) for y in outputs)
            tape.record(
                Node(
                    function=self,
                    input_ids=traced_ids,
                    input_meta=tuple((x.shape, x.dtype) for x in data),
                    output_ids=tuple(w._trace.id for w in wrapped),
                    output_meta=tuple((y.shape, y.dtype) for y in outputs),
                    saved_inputs=data if self.save_inputs_for_backward else (),
                    saved_outputs=outputs if self.save_outputs_for_backward else (),
                    memory=tuple(memory),
                )
            )
        return wrapped[0] if self.num_outputs == 1 else wrapped

    def backward_checked(self, node: Node, dLdY: Sequence[np.ndarray], compute_gradients: Sequence[bool]) -> tuple:
        """Call ``backward`` in MATLAB's argument order and validate what it returns.

        Used by the reverse sweep; public so a reader can see the convention in
        one place.  Returns a tuple with one entry per input (``None`` where no
        gradient was requested).
        """
        name = type(self).__name__
        compute_gradients = tuple(bool(c) for c in compute_gradients)
        args = (
            *dLdY,
            compute_gradients,
            *node.saved_inputs,
            *node.saved_outputs,
            *node.memory,
        )
        grads = _as_tuple(self.backward(*args))
        n = len(node.input_meta)
        if len(grads) != n:
            raise BackwardError(
                f"{name}.backward returned {len(grads)} value(s); expected {n}, one per input in input order"
            )
        checked: list[np.ndarray | None] = []
        for i, (g, wanted, (shape, dtype)) in enumerate(zip(grads, compute_gradients, node.input_meta, strict=True)):
            if not wanted:
                checked.append(None)  # not requested: whatever came back is ignored
                continue
            if g is None:
                raise BackwardError(
                    f"{name}.backward returned None for input {i}, but compute_gradients[{i}] is True; "
                    f"expected an array of shape {shape} and dtype {dtype}"
                )
            if isinstance(g, DLArray):
                g = g._data
            if not isinstance(g, (np.ndarray, np.generic)):
                raise TypeError(
                    f"{name}.backward: gradient for input {i} must be a NumPy array of shape {shape} "
                    f"and dtype {dtype}; got {type(g).__name__}"
                )
            g = np.asarray(g)
            if g.shape != shape:
                raise BackwardError(
                    f"{name}.backward: gradient for input {i} has shape {g.shape}; expected {shape} "
                    f"(the shape of input {i})"
                )
            if g.dtype != dtype:
                raise TypeError(
                    f"{name}.backward: gradient for input {i} has dtype {g.dtype}; expected {dtype} "
                    f"(the dtype of input {i})"
                )
            checked.append(g)
        return tuple(checked)
