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

Calling the object runs ``forward`` and returns unformatted
:class:`~srelu_lib.DLArray` outputs; inside :func:`~srelu_lib.dlfeval` the call
is recorded, keeping only what the flags ask for, and every result of
``backward`` is checked (:class:`BackwardError`).  Higher derivatives need a
differentiable backward: see :attr:`DifferentiableFunction.differentiable_backward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import DLArray, as_float_array
from .tape import Node, Tape, Trace, _ids, recorded_backward, recording_tapes, seen

__all__ = ["DifferentiableFunction", "BackwardError", "NotDifferentiableError"]


class BackwardError(TypeError, ValueError):
    """``backward`` returned something that does not fit its operation's inputs.

    Raised for every form error: the wrong number of gradients, ``None`` where a
    gradient was requested, the wrong type, shape or dtype.  It subclasses
    both :class:`TypeError` and :class:`ValueError`, so code written for either
    still catches it.
    """


class NotDifferentiableError(RuntimeError):
    """A higher-order derivative needs the derivative of a backward written in plain NumPy.

    The message names the operation and says how to make its backward
    differentiable (see :attr:`DifferentiableFunction.differentiable_backward`).
    """


class DifferentiableFunction:
    """Base class for a custom operation with a hand-written backward.

    Use it when an operation cannot be composed from differentiable built-ins
    (it calls code the tape cannot see), or when a composition would work but
    costs too much: every built-in it is made of keeps its own inputs on the
    tape (memory) and runs its own passes over the data (speed), where one
    operation can keep just what its backward needs and do it in one pass.
    Use it also when you want a specific gradient algorithm - a cheaper
    formula, a chosen sub-gradient at a kink, a numerically stable rewrite.

    Caveat: the framework trusts ``backward`` mathematically.  It checks the
    *form* of what comes back (count, shape, dtype), not the values; check
    those with :func:`~srelu_lib.gradcheck` (and, for a differentiable
    backward, :func:`~srelu_lib.gradgradcheck`).  Outputs and memory values
    that ``forward`` returns become read-only, like all DLArray data: return
    fresh arrays, not buffers you write into again.

    **Higher derivatives.**  In an ordinary (first-order) reverse sweep,
    ``backward`` receives NumPy arrays, and its result is a constant.  A
    sweep with ``enable_higher_derivatives=True`` must also trace what
    ``backward`` computes, so that the gradient can be differentiated again.
    There are two ways to allow that; without either, such a sweep raises
    :class:`NotDifferentiableError` naming the operation (never a silent zero):

    1. Write ``backward`` with srelu_lib operations only - DLArray operators
       and methods (``+ - * / ** @``, ``.sum``, ``.reshape``, ``.astype``) and
       functions such as :func:`~srelu_lib.exp` or
       :func:`srelu_lib.ops.where` - all of which accept NumPy arrays too, and
       set the class attribute ``differentiable_backward = True``.  In a
       first-order sweep the same code then runs on NumPy arrays (at NumPy
       speed); in a higher-order sweep it receives unformatted, traced
       DLArrays for ``dLdY`` and the saved inputs and outputs, and every
       operation it calls is recorded.  Comparisons of DLArrays give NumPy
       masks, which are constants, as they should be; a NumPy function
       applied to a traced DLArray there raises :class:`TypeError` (its
       result would silently be a constant).
    2. Let ``backward`` call another ``DifferentiableFunction`` that computes
       the gradient (PyTorch's "double backward" pattern): its ``forward`` can
       be as fast as you like, and its own ``backward`` gives the second
       derivatives.  Also set ``differentiable_backward = True``.  See
       :class:`~srelu_lib.SReLUFunction`, whose backward is the operation
       :class:`~srelu_lib.srelu_backward_op.SReLUBackward`.

    Memory values are passed to ``backward`` as they are, as constants: a
    quantity whose derivative matters must come from the saved inputs or
    outputs, not from a memory value.

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
        ...     differentiable_backward = True      # backward below uses only operators
        ...     def __init__(self):
        ...         super().__init__(1, save_inputs_for_backward=True)
        ...     def forward(self, X):
        ...         return X**3
        ...     def backward(self, dLdY, compute_gradients, X):
        ...         return dLdY * 3 * X**2
        >>> def first_and_second(x):
        ...     dydx = dlgradient(Cube()(x).sum(), x, enable_higher_derivatives=True)
        ...     return dydx, dlgradient(dydx.sum(), x)
        >>> dlfeval(first_and_second, dlarray(np.array([1.0, 2.0])))
        (DLArray([ 3., 12.], dtype=float64), DLArray([ 6., 12.], dtype=float64))
    """

    #: True when ``backward`` accepts traced DLArrays (it uses only srelu_lib
    #: operations), so that higher-order sweeps can differentiate it.
    differentiable_backward: bool = False

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
        """Run ``forward`` on the inputs' data and record the call on every tape that traces an input.

        Returns:
            One unformatted :class:`~srelu_lib.DLArray` when ``num_outputs`` is 1,
            otherwise a tuple of ``num_outputs`` of them.
        """
        if not inputs:
            raise TypeError(f"{type(self).__name__}: called with no inputs")
        stack = recording_tapes()
        data = []
        levels: set[int] | None = None
        for i, x in enumerate(inputs):
            if isinstance(x, DLArray):
                data.append(x._data)
                trace = x._trace
                while trace is not None:  # every recording tape that traces x (nested dlfeval)
                    tape = trace.tape
                    level = tape.level
                    if level <= len(stack) and stack[level - 1] is tape:
                        if levels is None:
                            levels = {level}
                        else:
                            levels.add(level)
                    trace = trace.below
            else:
                data.append(as_float_array(x, name=f"{type(self).__name__} input {i}"))
        recorder = None
        if levels is not None:
            recorder = stack[min(levels) - 1]
            if self.save_inputs_for_backward or self.num_memory_values:
                for k, d in enumerate(data):  # what backward will see must not change behind the tape's back
                    if d.base is not None or d.flags.writeable:
                        data[k] = recorder.snapshot(d)
        results = self.forward(*data)
        if type(results) is not tuple:
            results = (results,)
        num_outputs = self.num_outputs
        if len(results) != num_outputs + self.num_memory_values:
            raise ValueError(
                f"{type(self).__name__}.forward returned {len(results)} value(s); expected {num_outputs} "
                f"output(s) + {self.num_memory_values} memory value(s) = {num_outputs + self.num_memory_values}"
            )
        outputs = []
        for j in range(num_outputs):
            y = results[j]
            if type(y) is not np.ndarray or y.dtype.char not in "fd":
                y = as_float_array(y, name=f"{type(self).__name__}.forward output {j}")
            if y.flags.writeable:  # outputs are immutable: freeze what forward made, view anything else
                if y.base is None and not any(y is d for d in data):
                    y.setflags(write=False)
                else:
                    y = y.view()
                    y.setflags(write=False)
            outputs.append(y)
        if recorder is None:
            # No traced input: the result is a constant, as in MATLAB (nothing to record).
            if num_outputs == 1:
                return DLArray._make(outputs[0], "", None)
            return tuple(DLArray._make(y, "", None) for y in outputs)
        memory = tuple(recorder.protect(m, data) for m in results[num_outputs:]) if self.num_memory_values else ()
        assert levels is not None
        wrapped = self._record(inputs, data, outputs, memory, sorted(levels) if len(levels) > 1 else list(levels),
                               stack)
        return wrapped[0] if num_outputs == 1 else wrapped

    def _record(
        self,
        inputs: tuple,
        data: list[np.ndarray],
        outputs: list[np.ndarray],
        memory: tuple,
        levels: list[int],
        stack: tuple[Tape, ...],
    ) -> tuple[DLArray, ...]:
        """Append one node per recording tape (outermost first); return the outputs as the innermost sees them."""
        input_meta = tuple([(d.shape, d.dtype) for d in data])
        output_meta = tuple([(y.shape, y.dtype) for y in outputs])
        out_traces: list[Trace | None] = [None] * len(outputs)
        for level in levels:
            tape = stack[level - 1]
            in_traces = [_trace_at(x, level, stack) for x in inputs]
            out_traces = [Trace(tape, next(_ids), t) for t in out_traces]
            save_inputs = self.save_inputs_for_backward
            save_outputs = self.save_outputs_for_backward
            tape.nodes.append(
                Node(
                    self,
                    tuple([t.id if t is not None and t.tape is tape else None for t in in_traces]),
                    input_meta,
                    tuple([t.id for t in out_traces]),  # type: ignore[union-attr]
                    output_meta,
                    tuple(data) if save_inputs else (),
                    tuple([y if y.base is None else tape.snapshot(y) for y in outputs]) if save_outputs else (),
                    memory,
                    tuple(in_traces) if save_inputs else (),
                    tuple(out_traces) if save_outputs else (),
                )
            )
        return tuple([DLArray._make(y, "", t) for y, t in zip(outputs, out_traces, strict=True)])

    def backward_checked(
        self,
        node: Node,
        dLdY: Sequence[Any],
        compute_gradients: Sequence[bool],
        *,
        higher: bool = False,
    ) -> tuple:
        """Call ``backward`` in MATLAB's argument order and validate what it returns.

        Used by the reverse sweep; public so a reader can see the convention in
        one place.  ``dLdY`` and the values the node saved are passed as the
        recording tapes see them: NumPy arrays in an ordinary sweep, traced
        DLArrays when the sweep itself is recorded (``higher``, or an
        enclosing ``dlfeval`` that traces them).  Returns a tuple with one entry
        per input (``None`` where no gradient was requested).

        Raises:
            BackwardError: a result of the wrong count, type, shape or dtype.
            NotDifferentiableError: the sweep is recorded but ``backward`` is not
                differentiable (``differentiable_backward`` is false).
        """
        compute_gradients = tuple([bool(c) for c in compute_gradients])
        stack = recording_tapes()
        if not stack:  # nothing records (an ordinary sweep of an outermost dlfeval): NumPy arrays only
            args = [g._data if isinstance(g, DLArray) else g for g in dLdY]
            args.append(compute_gradients)
            args.extend(node.saved_inputs)
            args.extend(node.saved_outputs)
        else:  # traced DLArrays wherever a recording tape knows the value
            args = [_visible(g, stack) for g in dLdY]
            args.append(compute_gradients)
            for d, t in zip(node.saved_inputs, node.saved_input_traces, strict=True):
                t = seen(t, stack)
                args.append(d if t is None else DLArray._make(d, "", t))
            for d, t in zip(node.saved_outputs, node.saved_output_traces, strict=True):
                t = seen(t, stack)
                args.append(d if t is None else DLArray._make(d, "", t))
            if not self.differentiable_backward and any(isinstance(a, DLArray) for a in args):
                raise NotDifferentiableError(_not_differentiable_message(type(self).__name__, higher))
        args.extend(node.memory)
        if stack:
            token = recorded_backward.set(type(self).__name__)
            try:
                grads = self.backward(*args)
            finally:
                recorded_backward.reset(token)
        else:
            grads = self.backward(*args)
        if type(grads) is not tuple:
            grads = (grads,)
        n = len(node.input_meta)
        if len(grads) != n:
            raise BackwardError(
                f"{type(self).__name__}.backward returned {len(grads)} value(s); expected {n}, one per input in "
                f"input order"
            )
        checked: list[Any] = []
        for i in range(n):
            if not compute_gradients[i]:
                checked.append(None)  # not requested: whatever came back is ignored
                continue
            g = grads[i]
            shape, dtype = node.input_meta[i]
            if type(g) is not np.ndarray:
                g = self._as_gradient(g, i, shape, dtype, stack)
            if g.shape != shape:
                raise BackwardError(
                    f"{type(self).__name__}.backward: gradient for input {i} has shape {g.shape}; expected {shape} "
                    f"(the shape of input {i})"
                )
            if g.dtype != dtype:
                raise BackwardError(
                    f"{type(self).__name__}.backward: gradient for input {i} has dtype {g.dtype}; expected {dtype} "
                    f"(the dtype of input {i})"
                )
            checked.append(g)
        return tuple(checked)

    def _as_gradient(self, g: Any, i: int, shape: tuple, dtype: np.dtype, stack: tuple) -> Any:
        """A gradient that ``backward`` returned as something other than an ndarray, or a ``BackwardError``."""
        if g is None:
            raise BackwardError(f"{type(self).__name__}.backward returned None for input {i}, but compute_gradients"
                                f"[{i}] is True; expected an array of shape {shape} and dtype {dtype}")
        if isinstance(g, DLArray):
            return _visible(g, stack)
        if isinstance(g, (np.ndarray, np.generic)):
            return np.asarray(g)
        raise BackwardError(f"{type(self).__name__}.backward: gradient for input {i} must be a NumPy array of "
                            f"shape {shape} and dtype {dtype}; got {type(g).__name__}")


# --- helpers: what is saved, and how a sweep sees it ------------------------------------------
def _trace_at(x: Any, level: int, stack: tuple[Tape, ...]) -> Trace | None:
    """How the tape at ``level`` sees input ``x``: its trace on a recording tape at or below ``level``."""
    if not isinstance(x, DLArray):
        return None
    trace = x._trace
    while trace is not None:
        tape = trace.tape
        if tape.level <= level and tape.level <= len(stack) and stack[tape.level - 1] is tape:
            return trace
        trace = trace.below
    return None


def _visible(value: Any, stack: tuple[Tape, ...]) -> Any:
    """``value`` as the recording tapes see it: an unformatted DLArray one of them traces, else its NumPy data."""
    if not isinstance(value, DLArray):
        return value
    trace = seen(value._trace, stack)
    return value._data if trace is None else DLArray._make(value._data, "", trace)


def _not_differentiable_message(name: str, higher: bool) -> str:
    why = (
        "dlgradient(..., enable_higher_derivatives=True) must differentiate what it computes"
        if higher
        else "this dlgradient runs inside a nested dlfeval, and the enclosing dlfeval traces the values it "
        "uses, so its result must stay differentiable"
    )
    return (
        f"{name}.backward cannot be differentiated: it is written for NumPy arrays "
        f"({name}.differentiable_backward is False), but {why}. To make it differentiable, write "
        f"{name}.backward with srelu_lib operations (DLArray operators and methods, srelu_lib.exp, "
        f"srelu_lib.ops.where, ...), which accept NumPy arrays and traced DLArrays alike, and set "
        f"differentiable_backward = True on the class; or let backward call another "
        f"DifferentiableFunction that computes the gradient (see help(srelu_lib.DifferentiableFunction))."
    )
