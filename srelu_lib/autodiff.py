"""Reverse-mode automatic differentiation: ``dlfeval`` and ``dlgradient``.

``dlfeval(fn, *args)`` starts a tape, runs ``fn`` with traced copies of its
arguments and closes the tape.  Inside, ``dlgradient(loss, wrt)`` reads the
tape backwards: it visits the recorded nodes in reverse order (the order of
recording is a topological order, so the reverse is a valid
reverse-topological order), calls each operation's ``backward`` through the
framework's validating wrapper, and adds up gradients of values that were
used more than once.

**Two kinds of sweep, one set of rules.**  Every built-in operation's
``backward`` is written with srelu_lib's own operations, which accept NumPy
arrays and DLArrays alike (as HIPS autograd writes its VJPs in
``autograd.numpy``):

- an ordinary sweep runs with recording switched off for this tape, and the
  rules receive NumPy arrays: NumPy speed, and the gradients are constants;
- with ``enable_higher_derivatives=True`` the sweep is itself recorded: the
  rules receive the traced values and every operation they perform lands on
  the tape, so the gradients are traced and can be differentiated again, to
  any order.

**Nesting.**  ``dlfeval`` inside ``dlfeval`` works as in autograd: the inner
tape's values stay traced by the outer tape (see :mod:`srelu_lib.tape`), so a
gradient computed by the inner function is a differentiable function of the
outer function's variables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .arrays import DLArray
from .tape import Tape, freeze, pause_above, pop, push, recording_tapes, resume, seen
from .tree import tree_map

__all__ = ["dlfeval", "dlgradient"]


def _map_arrays(structure: Any, fn: Callable[[DLArray], Any]) -> Any:
    """Apply ``fn`` to every DLArray in a nested dict/list/tuple, keeping the structure."""
    kind = type(structure)
    if kind is DLArray:
        return fn(structure)
    if kind is dict:  # the common containers directly; subclasses and namedtuples through tree_map
        return {k: _map_arrays(v, fn) for k, v in structure.items()}
    if kind is tuple:
        return tuple([_map_arrays(v, fn) for v in structure])
    if kind is list:
        return [_map_arrays(v, fn) for v in structure]
    if isinstance(structure, (dict, list, tuple)):
        return tree_map(lambda x: fn(x) if isinstance(x, DLArray) else x, structure)
    return fn(structure) if isinstance(structure, DLArray) else structure


def _leaves(structure: Any, found: list) -> list:
    """The leaves of a nested dict/list/tuple, in order (what :func:`~srelu_lib.tree.tree_leaves` gives)."""
    if isinstance(structure, dict):
        for v in structure.values():
            _leaves(v, found)
    elif isinstance(structure, (list, tuple)):
        for v in structure:
            _leaves(v, found)
    else:
        found.append(structure)
    return found



def dlfeval(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Evaluate ``fn(*args, **kwargs)`` with tracing on, like MATLAB's ``dlfeval``.

    Every :class:`DLArray` in ``args``/``kwargs`` (also inside nested dicts,
    lists and tuples) is replaced by a traced copy sharing the same data, and
    every DLArray created inside ``fn`` is traced too, so ``fn`` may call
    :func:`dlgradient`.  DLArrays in what ``fn`` returns come back untraced,
    and the tape (with everything saved for backward) is released.

    Calls nest: inside another ``dlfeval``, what ``fn`` returns stays traced by
    the enclosing tape wherever it depends on the enclosing function's traced
    values, so the outer function can differentiate through the inner one.

    Each thread has its own tapes: ``dlfeval`` in two threads at once is safe.

    Args:
        fn: the function to evaluate, typically a model-loss function that
            returns the loss and its gradients.
        *args: positional arguments passed to ``fn``.
        **kwargs: keyword arguments passed to ``fn``.

    Returns:
        Whatever ``fn`` returns, with its DLArrays untraced (traced by the
        enclosing ``dlfeval`` only, when nested).

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, dlfeval, dlgradient
        >>> def f(x):
        ...     y = (x * x).sum()
        ...     return y, dlgradient(y, x)
        >>> y, g = dlfeval(f, dlarray(np.array([1.0, -2.0])))
        >>> float(y), g
        (5.0, DLArray([ 2., -4.], dtype=float64))
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    outer = recording_tapes()
    tape = Tape(level=len(outer) + 1)
    token = push(tape)
    try:
        if outer:
            def traced_copy(x: DLArray) -> DLArray:
                return DLArray._make(x._data, x._fmt, tape.new_trace(seen(x._trace, outer)))

            def untraced(x: DLArray) -> DLArray:  # as the enclosing tapes see it
                return DLArray._make(x._data, x._fmt, seen(x._trace, outer))
        else:
            def traced_copy(x: DLArray) -> DLArray:
                return DLArray._make(x._data, x._fmt, tape.new_trace())

            def untraced(x: DLArray) -> DLArray:
                return DLArray._make(x._data, x._fmt, None)

        result = fn(*_map_arrays(args, traced_copy), **_map_arrays(kwargs, traced_copy))
        return _map_arrays(result, untraced)
    finally:
        pop(tape, token)


def dlgradient(
    loss: DLArray,
    wrt: Any,
    *more_wrt: Any,
    enable_higher_derivatives: bool = False,
    retain_data: bool = False,
) -> Any:
    """Gradient of a scalar ``loss`` with respect to traced arrays, like MATLAB's ``dlgradient``.

    Args:
        loss: a traced, real, scalar DLArray computed inside :func:`dlfeval`.
        wrt: a traced DLArray, or a nested dict/list/tuple of them (a parameter
            structure).
        *more_wrt: further such arguments.
        enable_higher_derivatives: MATLAB's ``EnableHigherDerivatives``.  If
            true, the reverse sweep is itself recorded: the gradients are
            traced DLArrays that may be used in further computation and
            differentiated again in the same ``dlfeval`` (to any order).  If
            false (the default) the gradients are constants, computed at NumPy
            speed with recording off.  Every operation on the way must then
            have a differentiable backward; a custom operation without one
            raises :class:`~srelu_lib.NotDifferentiableError`.
        retain_data: MATLAB's ``RetainData``.  If false (the default), what the
            sweep used (the values the operations saved for backward) is freed
            as the sweep goes, and a later ``dlgradient`` call that needs it
            raises :class:`RuntimeError`; if true, it is kept until ``dlfeval``
            returns, for further ``dlgradient`` calls through the same
            operations.  With ``enable_higher_derivatives=True`` the data is
            always kept (the recorded sweep refers to it), as in MATLAB.

    Returns:
        The gradient(s) in the same structure as ``wrt``: DLArrays of the same
        shape, dtype and format as the arrays they belong to.  A tuple, one
        entry per argument, when ``more_wrt`` is given.  An array the loss does
        not depend on gets zeros.

    Raises:
        RuntimeError: called outside ``dlfeval``, or the sweep needs data an
            earlier call freed (pass ``retain_data=True`` to that call).
        ValueError: ``loss`` is not a traced real scalar (for instance a
            function of gradients computed without
            ``enable_higher_derivatives=True``, which are constants), or a
            ``wrt`` array is not traced.
        TypeError: ``wrt`` holds something that is not a DLArray, or an option
            is not a bool.
        NotDifferentiableError: a recorded sweep reached a custom operation
            whose backward is plain NumPy.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, dlfeval, dlgradient
        >>> def second_derivative(x):
        ...     y = (x * x * x).sum()                       # y = x^3
        ...     dydx = dlgradient(y, x, enable_higher_derivatives=True)   # 3 x^2, traced
        ...     return dlgradient(dydx.sum(), x)            # 6 x
        >>> dlfeval(second_derivative, dlarray(np.array([1.0, 2.0])))
        DLArray([ 6., 12.], dtype=float64)
    """
    tape = _current_tape_or_raise()
    for name, flag in (("enable_higher_derivatives", enable_higher_derivatives), ("retain_data", retain_data)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"dlgradient: {name} must be True or False; got {flag!r}")
    if not isinstance(loss, DLArray) or loss._trace is None or loss._trace.tape is not tape:
        hint = ""
        if tape.constant_gradients:
            hint = (" If it was computed from a gradient that dlgradient returned, that gradient is a constant: "
                    "call that dlgradient with enable_higher_derivatives=True to get a traced gradient.")
        raise ValueError("Value to differentiate is not traced. It must be a traced real dlarray scalar "
                         "computed inside dlfeval." + hint)
    if loss.size != 1:
        raise ValueError(f"Value to differentiate must be a scalar (one element); got shape {loss.shape}")
    if loss.dtype.kind != "f":
        raise ValueError(f"Value to differentiate must be real floating point; got dtype {loss.dtype}")

    structures = (wrt, *more_wrt)
    targets: list[DLArray] = []
    for position, structure in enumerate(structures):
        leaves = _leaves(structure, [])
        bad = [leaf for leaf in leaves if not isinstance(leaf, DLArray)]
        if bad:
            raise TypeError(
                f"dlgradient argument {position + 1} (wrt) must hold only DLArrays; "
                f"found a {type(bad[0]).__name__}"
            )
        if not leaves:
            raise TypeError(
                f"dlgradient argument {position + 1} (wrt) must be a DLArray or a dict/list/tuple "
                f"of DLArrays; got {type(structure).__name__} with no DLArray in it"
            )
        for leaf in leaves:
            if leaf._trace is None or leaf._trace.tape is not tape:
                raise ValueError(
                    f"dlgradient argument {position + 1} (wrt) holds an array of shape {leaf.shape} that is "
                    f"not traced: pass it to dlfeval as an argument or create it inside the function"
                )
        targets.extend(leaves)

    wrt_ids = {t._trace.id for t in targets}
    if enable_higher_derivatives:
        grads = _reverse_sweep(tape, loss, wrt_ids, higher=True, free=False)
    else:
        tape.constant_gradients += 1
        token = pause_above(tape.level)  # backward runs with this tape (and any inner one) not recording
        try:
            grads = _reverse_sweep(tape, loss, wrt_ids, higher=False, free=not retain_data)
        finally:
            resume(token)

    stack = recording_tapes()

    def gradient_of(x: DLArray) -> DLArray:
        g = grads.get(x._trace.id)
        below = None
        if isinstance(g, DLArray):
            trace = seen(g._trace, stack)
            if trace is not None and trace.tape is tape:
                return DLArray._make(g._data, x._fmt, trace)
            below = trace  # traced by an outer tape only (nested dlfeval), or a constant
            data = g._data
        elif g is None:
            data = freeze(np.zeros(x.shape, x.dtype))
        else:  # a copy: backward results may be views of one array (Add returns dLdY twice)
            data = freeze(np.array(g, order="C"))
        if enable_higher_derivatives:
            return DLArray._make(data, x._fmt, tape.new_trace(below))  # a traced constant: derivative zero
        return DLArray._make(data, x._fmt, below)

    results = tuple(_map_arrays(s, gradient_of) for s in structures)
    return results[0] if not more_wrt else results


def _current_tape_or_raise() -> Tape:
    stack = recording_tapes()
    if not stack:
        raise RuntimeError("dlgradient must be called inside a function evaluated by dlfeval")
    return stack[-1]


def _reverse_sweep(tape: Tape, loss: DLArray, wrt_ids: set[int], *, higher: bool, free: bool) -> dict[int, Any]:
    """Propagate dL/dL = 1 back through the tape; return gradients by trace id.

    ``higher``: the sweep is recorded (the caller left recording on).  ``free``:
    release each node's saved values once its backward has run.
    """
    nodes = list(tape.nodes)  # a recorded sweep appends nodes while we walk
    # Which values depend on some wrt?  Only those inputs get compute_gradients=True.
    depends = set(wrt_ids)
    for node in nodes:
        for i in node.input_ids:
            if i is not None and i in depends:
                depends.update(node.output_ids)
                break
    if loss._trace.id not in depends:
        return {}

    grads: dict[int, Any] = {loss._trace.id: np.ones(loss.shape, loss.dtype)}
    for node in reversed(nodes):
        if not any(i in grads for i in node.output_ids):
            continue
        compute = tuple(i is not None and i in depends for i in node.input_ids)
        if not any(compute):
            continue
        if node.released:
            raise RuntimeError(
                f"dlgradient: the values that {type(node.function).__name__} saved for its backward were freed "
                f"by an earlier dlgradient call in this dlfeval (retain_data=False, the default). Pass "
                f"retain_data=True to the earlier dlgradient call to differentiate through the same "
                f"operations again."
            )
        dLdY = [
            grads[i] if i in grads else np.zeros(shape, dtype)
            for i, (shape, dtype) in zip(node.output_ids, node.output_meta, strict=True)
        ]
        for i in node.output_ids:  # outputs are done; keep only what the caller asked for
            if i not in wrt_ids:
                grads.pop(i, None)
        input_grads = node.function.backward_checked(node, dLdY, compute, higher=higher)
        if free:
            node.release()
        for input_id, g in zip(node.input_ids, input_grads, strict=True):
            if g is None or input_id is None:
                continue
            if input_id in grads:
                grads[input_id] = grads[input_id] + g
            else:
                grads[input_id] = g
    return grads
