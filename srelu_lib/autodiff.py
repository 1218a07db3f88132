"""Reverse-mode automatic differentiation: ``dlfeval`` and ``dlgradient``.

``dlfeval(fn, *args)`` turns tracing on, runs ``fn`` and turns it off again.
Inside, ``dlgradient(loss, wrt)`` reads the tape backwards: it visits the
recorded nodes in reverse order (the order of recording is a topological
order, so the reverse is a valid reverse-topological order), calls each
operation's ``backward`` through the framework's validating wrapper, and adds
up gradients of values that were used more than once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .arrays import DLArray
from .tape import Tape, current_tape
from .tree import tree_leaves, tree_map

__all__ = ["dlfeval", "dlgradient"]


def _map_arrays(structure: Any, fn: Callable[[DLArray], Any]) -> Any:
    """Apply ``fn`` to every DLArray in a nested dict/list/tuple, keeping the structure."""
    return tree_map(lambda x: fn(x) if isinstance(x, DLArray) else x, structure)


def dlfeval(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Evaluate ``fn(*args, **kwargs)`` with tracing on, like MATLAB's ``dlfeval``.

    Every :class:`DLArray` in ``args``/``kwargs`` (also inside nested dicts,
    lists and tuples) is replaced by a traced copy sharing the same data, and
    every DLArray created inside ``fn`` is traced too, so ``fn`` may call
    :func:`dlgradient`.  DLArrays in what ``fn`` returns come back untraced,
    and the tape (with everything saved for backward) is released.

    Args:
        fn: the function to evaluate, typically a model-loss function that
            returns the loss and its gradients.
        *args: positional arguments passed to ``fn``.
        **kwargs: keyword arguments passed to ``fn``.

    Returns:
        Whatever ``fn`` returns, with its DLArrays untraced.

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
    with Tape() as tape:

        def traced_copy(x: DLArray) -> DLArray:
            return DLArray(x._data, x._fmt, _trace=tape.new_trace())

        result = fn(*_map_arrays(args, traced_copy), **_map_arrays(kwargs, traced_copy))
        return _map_arrays(result, lambda x: DLArray(x._data, x._fmt) if x._trace is not None else x)


def dlgradient(loss: DLArray, wrt: Any, *more_wrt: Any) -> Any:
    """Gradient of a scalar ``loss`` with respect to traced arrays, like MATLAB's ``dlgradient``.

    Args:
        loss: a traced, real, scalar DLArray computed inside :func:`dlfeval`.
        wrt: a traced DLArray, or a nested dict/list/tuple of them (a parameter
            structure).
        *more_wrt: further such arguments.

    Returns:
        The gradient(s) in the same structure as ``wrt``: DLArrays of the same
        shape, dtype and format as the arrays they belong to.  A tuple, one
        entry per argument, when ``more_wrt`` is given.  An array the loss does
        not depend on gets zeros.

    Raises:
        RuntimeError: called outside ``dlfeval``.
        ValueError: ``loss`` is not a traced real scalar, or a ``wrt`` array is
            not traced (it was neither passed to ``dlfeval`` nor created inside).
        TypeError: ``wrt`` holds something that is not a DLArray.
    """
    tape = current_tape()
    if tape is None:
        raise RuntimeError("dlgradient must be called inside a function evaluated by dlfeval")
    if not isinstance(loss, DLArray) or loss._trace is None or loss._trace.tape is not tape:
        raise ValueError("Value to differentiate is not traced. It must be a traced real dlarray scalar "
                         "computed inside dlfeval.")
    if loss.size != 1:
        raise ValueError(f"Value to differentiate must be a scalar (one element); got shape {loss.shape}")
    if loss.dtype.kind != "f":
        raise ValueError(f"Value to differentiate must be real floating point; got dtype {loss.dtype}")

    structures = (wrt, *more_wrt)
    targets: list[DLArray] = []
    for position, structure in enumerate(structures):
        leaves = tree_leaves(structure)
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

    grads = _reverse_sweep(tape, loss, {t._trace.id for t in targets})

    def gradient_of(x: DLArray) -> DLArray:
        g = grads.get(x._trace.id)
        # a copy: backward results may be views of one array (Add returns dLdY twice)
        g = np.zeros(x.shape, x.dtype) if g is None else np.array(g, copy=True)
        return DLArray(g, x._fmt)

    results = tuple(_map_arrays(s, gradient_of) for s in structures)
    return results[0] if not more_wrt else results


def _reverse_sweep(tape: Tape, loss: DLArray, wrt_ids: set[int]) -> dict[int, np.ndarray]:
    """Propagate dL/dL = 1 back through the tape; return gradients by trace id."""
    # Which values depend on some wrt?  Only those inputs get compute_gradients=True.
    depends = set(wrt_ids)
    for node in tape.nodes:
        if any(i in depends for i in node.input_ids if i is not None):
            depends.update(node.output_ids)
    if loss._trace.id not in depends:
        return {}

    grads: dict[int, np.ndarray] = {loss._trace.id: np.ones(loss.shape, loss.dtype)}
    for node in reversed(tape.nodes):
        if not any(i in grads for i in node.output_ids):
            continue
        compute = tuple(i is not None and i in depends for i in node.input_ids)
        if not any(compute):
            continue
        dLdY = [
            grads[i] if i in grads else np.zeros(shape, dtype)
            for i, (shape, dtype) in zip(node.output_ids, node.output_meta, strict=True)
        ]
        for i in node.output_ids:  # outputs are done; keep only what the caller asked for
            if i not in wrt_ids:
                grads.pop(i, None)
        input_grads = node.function.backward_checked(node, dLdY, compute)
        for input_id, g in zip(node.input_ids, input_grads, strict=True):
            if g is None or input_id is None:
                continue
            if input_id in grads:
                grads[input_id] = grads[input_id] + g
            else:
                grads[input_id] = g
    return grads
