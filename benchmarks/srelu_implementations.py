"""What the SReLU benchmark times: srelu_lib's default path, its registered kernels, the literal baseline.

Each *provider* below returns the :class:`Implementation` objects it can offer on this machine, or raises
:class:`Unavailable` with the reason.  :func:`providers` lists them in the order the benchmark times them:

* ``reference``: the registered ``"reference"`` backend (the definition the others are checked against);
* ``literal``: the MATLAB page's three-mask formula (:mod:`srelu_lib.kernels.literal`), a baseline;
* ``auto``: srelu_lib's default path, :func:`srelu_lib.kernels.srelu_forward` and
  :func:`srelu_lib.kernels.srelu_backward` with the ``"auto"`` choice of kernel
  (:func:`srelu_lib.kernels.backends.backend_for`: numba when installed, else the blocked NumPy
  kernels from 16K elements and the reference below), whatever ``SRELU_LIB_BACKEND`` says;
* every other backend in srelu_lib's registry (:func:`srelu_lib.kernels.registered_backends`), so a
  newly registered backend is benchmarked with no change here; a kernel that accepts ``out=`` also gets
  an ``[out]`` row (writing into a preallocated array) and one that accepts ``workers=`` a
  ``[1 thread]`` row.

The peers, srelu_lib's PyTorch and JAX ports under PyTorch eager, ``torch.compile`` and ``jax.jit``, are
provided by ``benchmarks/peers.py`` and passed to :func:`implementations` as ``extra`` providers (this
module imports neither PyTorch nor JAX).  Adding another implementation is one more provider there or here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from srelu_lib.kernels import Backend, registered_backends, srelu_backward, srelu_forward, use_backend
from srelu_lib.kernels.literal import literal_backward, literal_forward

ALL = (True, True, True, True, True)
Problem = dict[str, Any]  # X, dLdY, params, channel_axis, out (see bench_srelu.make_problem)


class Unavailable(Exception):
    """A provider cannot run here; the message says why (it is printed with the results)."""


@dataclass(frozen=True)
class Implementation:
    """One row of the benchmark: callables on a problem dict.

    ``forward_backward`` defaults to a forward followed by a backward; ``preallocated`` rows write into
    ``problem["out"]`` (compare them with the preallocated floors); ``traced_memory`` is false where
    tracemalloc cannot see the allocations (PyTorch's and XLA's allocators); ``prepare``, when given, is
    called once per problem before anything is checked or timed (to compile: ``torch.compile``,
    ``jax.jit``), so compilation never counts as a warm-up call.
    """

    name: str
    forward: Callable[[Problem], Any]
    backward: Callable[[Problem], Any]
    forward_backward: Callable[[Problem], Any] | None = None
    preallocated: bool = False
    traced_memory: bool = True
    prepare: Callable[[Problem], None] | None = None

    def both(self, problem: Problem) -> Any:
        if self.forward_backward is not None:
            return self.forward_backward(problem)
        return self.forward(problem), self.backward(problem)


def kernel_rows(name: str, forward: Callable[..., Any], backward: Callable[..., Any]) -> list[Implementation]:
    """The rows of one kernel pair with srelu_lib's contract: plain, ``[out]`` and ``[1 thread]`` if it can."""

    def row(label: str, **options: Any) -> Implementation:
        uses_out = "out" in options

        def fwd(p: Problem) -> Any:
            return forward(p["X"], *p["params"], p["channel_axis"], **_resolved(options, p))

        def bwd(p: Problem) -> Any:
            return backward(p["dLdY"], p["X"], *p["params"], p["channel_axis"], ALL, **_resolved(options, p))

        return Implementation(label, fwd, bwd, preallocated=uses_out)

    accepts = inspect.signature(forward).parameters
    rows = [row(name)]
    if "out" in accepts:
        rows.append(row(f"{name}[out]", out="out"))
    if "workers" in accepts:
        rows.append(row(f"{name}[1 thread]", workers=1))
    return rows


def _resolved(options: dict[str, Any], problem: Problem) -> dict[str, Any]:
    """Keyword arguments with ``out="out"`` replaced by the problem's preallocated array."""
    return {k: problem[v] if k == "out" else v for k, v in options.items()}


def backend_rows(backend: Backend) -> list[Implementation]:
    """The rows of one registered backend."""
    if not backend.available():
        raise Unavailable(f"not installed: needs {', '.join(backend.requires)}")
    return kernel_rows(backend.name, *backend.functions())


def auto_default() -> list[Implementation]:
    """srelu_lib's default path: the kernels' dispatch with the ``"auto"`` choice (one row, ``auto``)."""

    def forward(X: Any, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int) -> Any:
        with use_backend("auto"):
            return srelu_forward(X, tl, al, tr, ar, channel_axis)

    def backward(dLdY: Any, X: Any, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int,
                 compute_gradients: Any) -> Any:
        with use_backend("auto"):
            return srelu_backward(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)

    return kernel_rows("auto", forward, backward)


def literal_baseline() -> list[Implementation]:
    def forward(p: Problem) -> Any:
        tl, al, tr, ar = p["params"]
        return literal_forward(p["X"], tl, al, tr, ar, p["channel_axis"])

    def backward(p: Problem) -> Any:
        tl, al, tr, ar = p["params"]
        return literal_backward(p["dLdY"], p["X"], tl, al, tr, ar, p["channel_axis"])

    return [Implementation("literal", forward, backward)]


def providers() -> dict[str, Callable[[], list[Implementation]]]:
    """srelu_lib's providers, in the order the benchmark times them.

    The reference comes first (the definition), then the literal baseline it is compared with, then the
    default path (``auto``), then every other backend in srelu_lib's registry.
    """
    registered = {b.name: functools.partial(backend_rows, b) for b in registered_backends()}
    reference = registered.pop("reference")
    return {"reference": reference, "literal": literal_baseline, "auto": auto_default, **registered}


def implementations(skip: tuple[str, ...] = (),
                    extra: dict[str, Callable[[], list[Implementation]]] | None = None,
                    ) -> tuple[list[Implementation], list[str]]:
    """Every available implementation of :func:`providers` then ``extra``, and notes on what was skipped.

    A provider is skipped when its name, or the part of it before the first dot, is in ``skip``
    (``skip=("torch",)`` skips ``torch`` and ``torch.compile``).
    """
    impls: list[Implementation] = []
    notes: list[str] = []
    for name, make in {**providers(), **(extra or {})}.items():
        group = name.split(".")[0]
        if name in skip or group in skip:
            notes.append(f"{name}: skipped (--no-{name if name in skip else group})")
            continue
        try:
            impls += make()
        except Unavailable as reason:
            notes.append(f"{name}: skipped ({reason})")
    return impls, notes
