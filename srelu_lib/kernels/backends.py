"""The registry of SReLU kernels ("backends"), and the choice between them.

A backend is a pair of functions with the contract of
:func:`~srelu_lib.kernels.reference.srelu_forward_reference` and
:func:`~srelu_lib.kernels.reference.srelu_backward_reference`, registered once with
:func:`register_backend`.  Everything else reads the registry: :func:`set_backend` and the
environment variable ``SRELU_LIB_BACKEND`` accept its names, ``"auto"`` picks from it, and the
benchmark (``benchmarks/bench_srelu.py``) times every registered backend.  The built-in ones are
registered at the end of this module.

The choice is process-wide (:func:`set_backend`), and may be overridden for the calling thread
(or asyncio task) only, for the duration of a ``with`` block (:func:`use_backend`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from .numpy_blocked import AUTO_MIN_SIZE

__all__ = ["Backend", "BackendChoice", "register_backend", "registered_backends", "backend_names", "get_backend",
           "set_backend", "use_backend", "backend_for"]


@dataclass(frozen=True)
class Backend:
    """One registered SReLU kernel: where its two functions are, and when it can and should run.

    Attributes:
        name: the name :func:`set_backend` accepts.
        module: the module defining the functions; imported on first use (so numba is imported only
            when its backend runs).
        forward, backward: the functions' names in ``module``, with the contracts of
            ``srelu_forward_reference`` and ``srelu_backward_reference``.
        summary: one line for the documentation and the benchmark.
        requires: modules that must be importable for the backend to be available.
        dtypes: the data dtypes it computes in; ``None`` for every floating-point dtype.
        auto_rank: ``"auto"`` tries the backends by increasing rank; ``None``: never chosen by ``"auto"``.
        auto_min_size: ``"auto"`` chooses it only for arrays of at least this many elements (where
            it is faster than the next one).
    """

    name: str
    module: str
    forward: str
    backward: str
    summary: str
    requires: tuple[str, ...] = ()
    dtypes: tuple[str, ...] | None = ("float32", "float64")
    auto_rank: int | None = None
    auto_min_size: int = 0

    def available(self) -> bool:
        """Whether every module in ``requires`` can be imported (checked without importing it)."""
        return all(_importable(m) for m in self.requires)

    def supports(self, dtype: np.dtype) -> bool:
        """Whether the backend computes in ``dtype``."""
        dtype = np.dtype(dtype)
        return dtype.kind == "f" if self.dtypes is None else dtype in _dtype_set(self.dtypes)

    def functions(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """The ``(forward, backward)`` functions, importing their module on first use.

        Raises:
            ImportError: a required module is missing.
        """
        module = self.__dict__.get("_module")  # every kernel call comes here: keep it to lookups
        if module is None:
            missing = [m for m in self.requires if not _importable(m)]
            if missing:
                raise ImportError(f"backend {self.name!r} needs {', '.join(missing)}, which is not installed "
                                  f"(pip install {' '.join(missing)})")
            module = importlib.import_module(self.module)
            object.__setattr__(self, "_module", module)  # a cache, not a field: the dataclass stays frozen
        return getattr(module, self.forward), getattr(module, self.backward)  # looked up by name at each call


@functools.cache
def _dtype_set(names: tuple[str, ...]) -> frozenset[np.dtype]:
    return frozenset(np.dtype(name) for name in names)


_registry: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Add ``backend`` to the registry (the one step that makes a new kernel selectable and benchmarked).

    Raises:
        ValueError: the name is ``"auto"`` or already registered.
    """
    if backend.name == "auto" or backend.name in _registry:
        raise ValueError(f"a backend named {backend.name!r} is already registered")
    _registry[backend.name] = backend
    return backend


def registered_backends() -> tuple[Backend, ...]:
    """Every registered backend, in registration order (available or not)."""
    return tuple(_registry.values())


def backend_names() -> tuple[str, ...]:
    """The names :func:`set_backend` accepts: ``"auto"`` and every registered backend."""
    return ("auto", *_registry)


@functools.cache
def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --- the choice ------------------------------------------------------------------------------------
_lock = threading.Lock()
_process_choice: str | None = None  # None: not chosen yet, read SRELU_LIB_BACKEND on first use
_local_choice: contextvars.ContextVar[str | None] = contextvars.ContextVar("srelu_lib_backend", default=None)


def _checked(name: Any, source: str) -> str:
    if not isinstance(name, str) or name not in backend_names():
        raise ValueError(f"{source} must be one of {', '.join(map(repr, backend_names()))}; got {name!r}")
    if name != "auto":
        if not _registry[name].available():
            missing = ", ".join(m for m in _registry[name].requires if not _importable(m))
            raise ImportError(f"{source} is {name!r} but {missing} is not installed (pip install {missing})")
    return name


def _process_backend() -> str:
    """The process-wide choice; reads ``SRELU_LIB_BACKEND`` the first time.  Call with ``_lock`` held."""
    global _process_choice
    if _process_choice is None:
        _process_choice = _checked(os.environ.get("SRELU_LIB_BACKEND", "auto") or "auto", "SRELU_LIB_BACKEND")
    return _process_choice


class BackendChoice(str):
    """The backend name that was chosen before a :func:`set_backend` call.

    It is a ``str`` (``set_backend`` has always returned the previous name), and also a context manager
    whose exit restores that choice, also when the block raises.
    """

    def __enter__(self) -> BackendChoice:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        set_backend(str(self))


def set_backend(name: str) -> BackendChoice:
    """Choose the kernel behind :func:`~srelu_lib.kernels.srelu_forward` and
    :func:`~srelu_lib.kernels.srelu_backward` for the whole process.

    ``"auto"`` (the default) uses the fused numba kernels when numba is
    installed, and otherwise the blocked NumPy kernels on arrays of at least
    16K elements and the reference kernels below (where they are faster).
    ``"numba"``, ``"numpy"`` and ``"reference"`` force that kernel for every
    call, whatever the size of the array; data in a dtype the forced kernel
    does not compute in (the numba and NumPy kernels compute in float32 and
    float64) raises a :class:`TypeError` rather than silently using another.
    The environment variable ``SRELU_LIB_BACKEND`` sets the initial choice.
    All backends compute the same values up to float rounding.

    Use it as a function, or as a context manager that restores the previous
    choice on exit (also when the block raises).  The choice is shared by all
    threads: a ``with set_backend(...)`` block changes it for every thread
    while it runs, and two such blocks overlapping in different threads
    restore in the order they exit.  To change the backend for the calling
    thread only, use :func:`use_backend`.

    Args:
        name: ``"auto"`` or a registered backend's name (see :func:`backend_names`).

    Returns:
        The previous choice, a ``str`` that also works as a context manager.

    Raises:
        ValueError: ``name`` is not a registered backend.
        ImportError: the backend needs a module that is not installed (``"numba"`` without numba).

    Example:
        >>> previous = set_backend("numpy")
        >>> get_backend()
        'numpy'
        >>> _ = set_backend(previous)
        >>> with set_backend("reference"):
        ...     get_backend()
        'reference'
        >>> get_backend() == previous
        True
    """
    global _process_choice
    name = _checked(name, "backend")
    with _lock:
        previous = _process_backend()
        _process_choice = name
    return BackendChoice(previous)


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Use backend ``name`` in the calling thread (or asyncio task) only, until the ``with`` block ends.

    It takes precedence over :func:`set_backend` in that thread; other threads keep the process-wide
    choice.  Blocks nest, and each restores what was in effect before it, also when it raises.

    Example:
        >>> with use_backend("reference"):
        ...     get_backend()
        'reference'
    """
    token = _local_choice.set(_checked(name, "backend"))
    try:
        yield name
    finally:
        _local_choice.reset(token)


def get_backend() -> str:
    """The backend in effect for the calling thread: a :func:`use_backend` block's, else the process-wide choice.

    That is ``"auto"`` unless changed by :func:`set_backend`, :func:`use_backend` or ``SRELU_LIB_BACKEND``.
    """
    local = _local_choice.get()
    if local is not None:
        return local
    choice = _process_choice
    if choice is None:
        with _lock:
            choice = _process_backend()
    return choice


_auto_cache: tuple[dict[str, Backend], int, tuple[Backend, ...]] | None = None


def _auto_order() -> tuple[Backend, ...]:
    """The backends ``"auto"`` tries, by increasing rank (sorted again when the registry changes)."""
    global _auto_cache
    cache = _auto_cache
    if cache is None or cache[0] is not _registry or cache[1] != len(_registry):
        ranked = sorted((b.auto_rank, i, b) for i, b in enumerate(_registry.values()) if b.auto_rank is not None)
        cache = _auto_cache = (_registry, len(_registry), tuple(b for _, _, b in ranked))
    return cache[2]


def backend_for(X: np.ndarray) -> Backend:
    """The backend that computes on ``X`` under the current choice (:func:`get_backend`).

    Raises:
        TypeError: the chosen backend does not compute in ``X``'s dtype (a forced backend is never
            swapped for another).
    """
    name = get_backend()
    if name == "auto":
        for backend in _auto_order():
            if X.size >= backend.auto_min_size and backend.supports(X.dtype) and backend.available():
                return backend
        return _registry["reference"]  # it raises the error that names what is wrong with X
    backend = _registry[name]
    if not backend.supports(X.dtype):
        raise TypeError(f"the {name!r} backend computes in {' or '.join(backend.dtypes or ('floats',))}; "
                        f"got X of dtype {X.dtype} (set_backend('auto') picks a kernel for it)")
    return backend


# --- the built-in backends (registration order: the order of the documentation and the benchmark) --------
register_backend(Backend(
    name="reference", module="srelu_lib.kernels.reference",
    forward="srelu_forward_reference", backward="srelu_backward_reference",
    summary="the straightforward region-by-region NumPy definition, which the others are tested against",
    dtypes=None, auto_rank=2))
register_backend(Backend(
    name="numpy", module="srelu_lib.kernels.numpy_blocked",
    forward="srelu_forward_numpy", backward="srelu_backward_numpy",
    summary="blocked, mask-free NumPy with threads; slower than the reference below 16K elements",
    auto_rank=1, auto_min_size=AUTO_MIN_SIZE))
register_backend(Backend(
    name="numba", module="srelu_lib.kernels.numba_fused",
    forward="srelu_forward_numba", backward="srelu_backward_numba",
    summary="one fused pass compiled by numba", requires=("numba",), auto_rank=0))
