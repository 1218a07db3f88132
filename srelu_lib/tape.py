"""The tape: what is recorded while tracing is on.

Inside :func:`~srelu_lib.dlfeval` one :class:`Tape` is *active*.  Every
:class:`~srelu_lib.DLArray` created or passed in while it is active gets a
:class:`Trace` (the tape plus a unique id), and every call of a
:class:`~srelu_lib.DifferentiableFunction` with traced inputs appends one
:class:`Node`: which arrays went in and came out, and exactly what the
function's constructor flags asked to keep for ``backward`` - nothing more.

This module is only the record.  Reading it backwards (the reverse sweep) is
done by :mod:`srelu_lib.autodiff`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Trace", "Node", "Tape", "current_tape", "saved_bytes"]

_ids = itertools.count(1)
_active: list[Tape] = []


@dataclass(frozen=True, slots=True)
class Trace:
    """Identity of a traced value: the tape it lives on and a unique id."""

    tape: Tape
    id: int


@dataclass(slots=True)
class Node:
    """One recorded call of a differentiable function.

    ``input_ids[i]`` is the trace id of input ``i`` or ``None`` when that input
    was a constant (a NumPy array, a number, or a DLArray from outside the
    tape).  ``input_meta``/``output_meta`` hold only ``(shape, dtype)`` pairs,
    so validating ``backward``'s results keeps no data alive.
    """

    function: Any
    input_ids: tuple[int | None, ...]
    input_meta: tuple[tuple[tuple[int, ...], np.dtype], ...]
    output_ids: tuple[int, ...]
    output_meta: tuple[tuple[tuple[int, ...], np.dtype], ...]
    saved_inputs: tuple[np.ndarray, ...] = ()
    saved_outputs: tuple[np.ndarray, ...] = ()
    memory: tuple[Any, ...] = ()

    def saved_arrays(self) -> Iterator[np.ndarray]:
        """Every NumPy array this node keeps alive for ``backward``."""
        stack = [*self.saved_inputs, *self.saved_outputs, *self.memory]
        while stack:  # memory values may be containers (tuple/list/dict) of arrays
            value = stack.pop()
            if isinstance(value, np.ndarray):
                yield value
            elif isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, (list, tuple)):
                stack.extend(value)


@dataclass(eq=False)
class Tape:
    """The list of nodes recorded by one ``dlfeval`` call."""

    nodes: list[Node] = field(default_factory=list)
    active: bool = False

    def new_trace(self) -> Trace:
        return Trace(self, next(_ids))

    def record(self, node: Node) -> None:
        self.nodes.append(node)

    def saved_nbytes(self) -> int:
        """Bytes of NumPy data the recorded nodes keep for their backward passes.

        An array saved by several nodes (or twice by one) is counted once.
        """
        seen: dict[int, int] = {}
        for node in self.nodes:
            for array in node.saved_arrays():
                seen[id(array)] = array.nbytes
        return sum(seen.values())

    def __enter__(self) -> Tape:
        self.active = True
        _active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _active.remove(self)
        self.active = False
        self.nodes.clear()  # release everything saved for backward


def current_tape() -> Tape | None:
    """The active tape (innermost ``dlfeval``), or ``None`` when tracing is off."""
    return _active[-1] if _active else None


def saved_bytes() -> int:
    """Bytes saved for backward on the active tape so far (call inside ``dlfeval``).

    Raises:
        RuntimeError: outside ``dlfeval``.
    """
    tape = current_tape()
    if tape is None:
        raise RuntimeError("saved_bytes() must be called inside dlfeval, where a tape is recording")
    return tape.saved_nbytes()
