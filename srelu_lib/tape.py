"""The tape: what is recorded while tracing is on, one tape per ``dlfeval``.

Inside :func:`~srelu_lib.dlfeval` a :class:`Tape` *records*.  Every
:class:`~srelu_lib.DLArray` passed in or created while it records gets a
:class:`Trace` (the tape plus a unique id), and every call of a
:class:`~srelu_lib.DifferentiableFunction` with traced inputs appends one
:class:`Node`: which arrays went in and came out, and exactly what the
function's constructor flags asked to keep for ``backward`` - nothing more.

**Levels.**  ``dlfeval`` calls nest.  The recording tapes of the running code
form a stack (``level`` 1 is the outermost), kept in a ``contextvars``
variable, so every thread (and every asyncio task) has its own stack and
never sees another thread's tape.  A value traced by an inner tape remembers
how the *outer* tapes see it (``Trace.below``), as in HIPS autograd's nested
boxes: an operation on it is recorded on every tape that traces one of its
inputs, so the result of an inner ``dlfeval`` stays traced by the outer one.

**Recording on and off.**  :func:`push`/:func:`pop` start and end a tape's
recording (``dlfeval``); :func:`pause_above`/:func:`resume` switch recording off
for every tape from a level upwards.  The reverse sweep of an ordinary
(first-order) :func:`~srelu_lib.dlgradient` runs the ``backward`` functions
that way, so nothing they compute lands on the tape being swept.

**Saved data is immutable.**  A DLArray's data is read-only.  When a node
keeps an array that someone else could still write to (a NumPy array passed
as a constant, or the caller's array that :func:`~srelu_lib.dlarray` wrapped
without copying), the tape keeps a private read-only copy instead
(:meth:`Tape.snapshot`), so changing data after the forward pass cannot change
the gradients.  :attr:`Tape.snapshot_nbytes` counts what these copies cost.

This module is only the record.  Reading it backwards (the reverse sweep) is
done by :mod:`srelu_lib.autodiff`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Trace",
    "Node",
    "Tape",
    "current_tape",
    "recording_tapes",
    "pause_above",
    "resume",
    "push",
    "pop",
    "seen",
    "saved_bytes",
    "writeable_somewhere",
    "freeze",
]

_ATOMS = (int, float, bool, str, type(None))  # memory values with no array inside
_ids = itertools.count(1)  # itertools.count is atomic under the GIL: ids are unique across threads
#: The recording tapes of the running context, outermost first.
_stack: ContextVar[tuple[Tape, ...]] = ContextVar("srelu_lib_tapes", default=())
# The name of the operation whose backward runs in a recorded sweep (None otherwise): a
# traced DLArray must not be turned into a NumPy array there (DLArray.__array__ refuses).
recorded_backward: ContextVar[str | None] = ContextVar("srelu_lib_recorded_backward", default=None)


@dataclass(frozen=True, slots=True)
class Trace:
    """Identity of a traced value: the tape it lives on, a unique id, and how outer tapes see it.

    ``below`` is ``None`` when no outer tape traces the value, otherwise the
    trace by which an outer tape knows the same data (a chain, outermost last).
    """

    tape: Tape
    id: int
    below: Trace | None = None


@dataclass(slots=True)
class Node:
    """One recorded call of a differentiable function.

    ``input_ids[i]`` is the trace id of input ``i`` on this node's tape, or
    ``None`` when that input was a constant for this tape (a NumPy array, a
    number, or a DLArray it does not trace).  ``input_meta``/``output_meta``
    hold only ``(shape, dtype)`` pairs, so validating ``backward``'s results
    keeps no data alive.

    ``saved_inputs``/``saved_outputs`` hold the (read-only) NumPy arrays that
    ``backward`` receives; ``saved_input_traces``/``saved_output_traces`` say
    which traced value each one is (``None`` for a constant), so that a
    recorded sweep can hand ``backward`` traced DLArrays instead.
    ``released`` becomes true when a reverse sweep without ``retain_data`` has
    freed them.
    """

    function: Any
    input_ids: tuple[int | None, ...]
    input_meta: tuple[tuple[tuple[int, ...], np.dtype], ...]
    output_ids: tuple[int, ...]
    output_meta: tuple[tuple[tuple[int, ...], np.dtype], ...]
    saved_inputs: tuple[np.ndarray, ...] = ()
    saved_outputs: tuple[np.ndarray, ...] = ()
    memory: tuple[Any, ...] = ()
    saved_input_traces: tuple[Trace | None, ...] = ()
    saved_output_traces: tuple[Trace | None, ...] = ()
    released: bool = False

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

    def release(self) -> None:
        """Drop everything saved for ``backward`` (after the sweep used it)."""
        self.saved_inputs = self.saved_outputs = self.memory = ()
        self.saved_input_traces = self.saved_output_traces = ()
        self.released = True


@dataclass(eq=False)
class Tape:
    """The nodes recorded by one ``dlfeval`` call, at nesting ``level`` (1 = outermost)."""

    level: int = 1
    nodes: list[Node] = field(default_factory=list)
    active: bool = False
    #: bytes of the private copies :meth:`snapshot` made (the cost of protecting saved data)
    snapshot_nbytes: int = 0
    #: how many first-order ``dlgradient`` calls (constant gradients) this tape has seen
    constant_gradients: int = 0
    _snapshots: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def new_trace(self, below: Trace | None = None) -> Trace:
        return Trace(self, next(_ids), below)

    def record(self, node: Node) -> None:
        self.nodes.append(node)

    def snapshot(self, array: np.ndarray) -> np.ndarray:
        """``array`` itself when nobody can write to it, else a read-only copy (one per array per tape)."""
        if not writeable_somewhere(array):
            return array
        hit = self._snapshots.get(id(array))
        if hit is not None and hit[0] is array:
            return hit[1]
        copy = freeze(array.copy())
        self._snapshots[id(array)] = (array, copy)  # keeps `array` alive, so its id stays unique
        self.snapshot_nbytes += copy.nbytes
        return copy

    def protect(self, value: Any, inputs: Sequence[np.ndarray] = ()) -> Any:
        """A memory value with every array in it immutable: frozen in place if new, else :meth:`snapshot`.

        An array counts as new when it views nothing and is none of ``inputs``
        (the arrays ``forward`` received): ``forward`` made it, nobody else
        holds it.  Containers (tuple, list, dict) are searched recursively.
        """
        kind = type(value)
        if kind is np.ndarray:
            if value.flags.writeable and value.base is None and not any(value is d for d in inputs):
                return freeze(value)
            return self.snapshot(value)
        if kind is tuple or kind is list:
            items = None
            for k, v in enumerate(value):
                if type(v) in _ATOMS:
                    continue
                protected = self.protect(v, inputs)
                if protected is not v:
                    if items is None:
                        items = list(value)
                    items[k] = protected
            return value if items is None else kind(items)
        if kind is dict:
            changed = {k: p for k, v in value.items() if (p := self.protect(v, inputs)) is not v}
            return value if not changed else {**value, **changed}
        return value

    def saved_nbytes(self) -> int:
        """Bytes of NumPy data the recorded nodes keep for their backward passes.

        An array saved by several nodes (or twice by one) is counted once.
        """
        seen: dict[int, int] = {}
        for node in self.nodes:
            for array in node.saved_arrays():
                seen[id(array)] = array.nbytes
        return sum(seen.values())

    def close(self) -> None:
        """Stop recording and release everything saved for backward."""
        self.active = False
        self.nodes.clear()
        self._snapshots.clear()


def current_tape() -> Tape | None:
    """The innermost recording tape (innermost ``dlfeval``), or ``None`` when tracing is off."""
    stack = _stack.get()
    return stack[-1] if stack else None


def recording_tapes() -> tuple[Tape, ...]:
    """The recording tapes of this thread/context, outermost first (``()`` outside ``dlfeval``)."""
    return _stack.get()


def seen(trace: Trace | None, stack: tuple[Tape, ...]) -> Trace | None:
    """The first trace in ``trace``'s chain whose tape records in ``stack`` (``None``: a constant there)."""
    while trace is not None:
        tape = trace.tape
        level = tape.level
        if level <= len(stack) and stack[level - 1] is tape:
            return trace
        trace = trace.below
    return None


def push(tape: Tape) -> Any:
    """Make ``tape`` the innermost recording tape; returns the token for :func:`pop`."""
    stack = _stack.get()
    if tape.level != len(stack) + 1:
        raise RuntimeError(f"a tape of level {tape.level} cannot record above {len(stack)} tape(s)")
    tape.active = True
    return _stack.set((*stack, tape))


def pop(tape: Tape, token: Any) -> None:
    """Undo :func:`push` and release everything ``tape`` saved."""
    _stack.reset(token)
    tape.close()


def pause_above(level: int) -> Any:
    """Switch recording off for the tapes of ``level`` and above; returns the token for :func:`resume`."""
    return _stack.set(_stack.get()[: max(level - 1, 0)])


def resume(token: Any) -> None:
    """Undo :func:`pause_above`."""
    _stack.reset(token)


def saved_bytes() -> int:
    """Bytes saved for backward on the active tape so far (call inside ``dlfeval``).

    Raises:
        RuntimeError: outside ``dlfeval``.
    """
    tape = current_tape()
    if tape is None:
        raise RuntimeError("saved_bytes() must be called inside dlfeval, where a tape is recording")
    return tape.saved_nbytes()


# --- immutability of saved data -----------------------------------------------------------------
def writeable_somewhere(array: np.ndarray) -> bool:
    """True when ``array``'s memory can be written through ``array`` or through an array it views."""
    base: Any = array
    while base is not None:
        if isinstance(base, np.ndarray):
            if base.flags.writeable:
                return True
            base = base.base
        else:  # a foreign buffer (bytes, mmap, ...): ask the buffer protocol
            try:
                return not memoryview(base).readonly
            except TypeError:
                return True
    return False


def freeze(array: np.ndarray) -> np.ndarray:
    """Make ``array`` read-only in place and return it (for arrays the caller owns)."""
    array.setflags(write=False)
    return array
