"""What the SReLU benchmark times: srelu_lib's registered kernels, the literal baseline, and peers.

Each *provider* below returns the :class:`Implementation` objects it can offer on this machine, or raises
:class:`Unavailable` with the reason.  :func:`providers` lists them in the order the benchmark times them:

* ``reference``: the registered ``"reference"`` backend (the definition the others are checked against);
* ``literal``: the MATLAB page's three-mask formula (:mod:`srelu_lib.kernels.literal`), a baseline;
* every other backend in srelu_lib's registry (:func:`srelu_lib.kernels.registered_backends`), so a
  newly registered backend is benchmarked with no change here; a kernel that accepts ``out=`` also gets
  an ``[out]`` row (writing into a preallocated array) and one that accepts ``workers=`` a
  ``[1 thread]`` row;
* ``torch``: the same operation as a ``torch.autograd.Function`` on the CPU with PyTorch's default
  settings, when ``import torch`` works (srelu_lib does not depend on PyTorch).

Adding another implementation (for example a JAX port) is one more entry in :func:`providers`.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from srelu_lib.kernels import Backend, registered_backends
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
    tracemalloc cannot see the allocations (PyTorch's allocator).
    """

    name: str
    forward: Callable[[Problem], Any]
    backward: Callable[[Problem], Any]
    forward_backward: Callable[[Problem], Any] | None = None
    preallocated: bool = False
    traced_memory: bool = True

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


def literal_baseline() -> list[Implementation]:
    def forward(p: Problem) -> Any:
        tl, al, tr, ar = p["params"]
        return literal_forward(p["X"], tl, al, tr, ar, p["channel_axis"])

    def backward(p: Problem) -> Any:
        tl, al, tr, ar = p["params"]
        return literal_backward(p["dLdY"], p["X"], tl, al, tr, ar, p["channel_axis"])

    return [Implementation("literal", forward, backward)]


def torch_autograd() -> list[Implementation]:
    if importlib.util.find_spec("torch") is None:
        raise Unavailable("import torch failed: PyTorch is not installed")
    try:
        import torch
    except Exception as error:  # a broken installation counts as absent
        raise Unavailable(f"import torch failed: {error}") from error
    return [_torch_implementation(torch)]


def providers() -> dict[str, Callable[[], list[Implementation]]]:
    """The providers, in the order the benchmark times them: add a new implementation here.

    The reference comes first (the definition), then the literal baseline it is compared with, then every
    other backend in srelu_lib's registry, then the peers.
    """
    registered = {b.name: functools.partial(backend_rows, b) for b in registered_backends()}
    reference = registered.pop("reference")
    return {"reference": reference, "literal": literal_baseline, **registered, "torch": torch_autograd}


def implementations(skip: tuple[str, ...] = ()) -> tuple[list[Implementation], list[str]]:
    """Every available implementation, and notes on what was skipped and why."""
    impls: list[Implementation] = []
    notes: list[str] = []
    for name, make in providers().items():
        if name in skip:
            notes.append(f"{name}: skipped (--no-{name})")
            continue
        try:
            impls += make()
        except Unavailable as reason:
            notes.append(f"{name}: skipped ({reason})")
    return impls, notes


def _torch_implementation(torch: Any) -> Implementation:
    """SReLU as a ``torch.autograd.Function`` written with ``torch.where`` (PyTorch's default settings)."""

    class SReLUTorch(torch.autograd.Function):
        @staticmethod
        def forward(ctx, X, tl, al, tr, ar, channel_axis):
            shape = [1] * X.dim()
            shape[channel_axis] = -1
            tl_, al_, tr_, ar_ = (p.reshape(shape) for p in (tl, al, tr, ar))
            L, R = X <= tl_, X >= tr_
            left = tl_ + al_ * (X - tl_)
            right = tr_ + ar_ * (X - tr_)
            Y = torch.where(R, right, torch.where(L, left, X))
            if bool((tr <= tl).any()):
                Y = torch.where(L & R, left + right - X, Y)
            ctx.save_for_backward(X, tl, al, tr, ar)
            ctx.channel_axis = channel_axis
            return Y

        @staticmethod
        def backward(ctx, dY):
            X, tl, al, tr, ar = ctx.saved_tensors
            shape = [1] * X.dim()
            shape[ctx.channel_axis] = -1
            tl_, al_, tr_, ar_ = (p.reshape(shape) for p in (tl, al, tr, ar))
            L, R = X <= tl_, X >= tr_
            dims = [a for a in range(X.dim()) if a != ctx.channel_axis]
            zero = torch.zeros((), dtype=X.dtype)
            dYdX = torch.where(R, ar_, torch.where(L, al_, torch.ones((), dtype=X.dtype)))
            dX = dY * dYdX
            dtl = (dY * torch.where(L, 1 - al_, zero)).sum(dims)
            dal = (dY * torch.where(L, X - tl_, zero)).sum(dims)
            dtr = (dY * torch.where(R, 1 - ar_, zero)).sum(dims)
            dar = (dY * torch.where(R, X - tr_, zero)).sum(dims)
            return dX, dtl, dal, dtr, dar, None

    def tensors(problem: Problem) -> Any:
        if "torch" not in problem:
            X = torch.from_numpy(problem["X"]).requires_grad_(True)
            params = [torch.from_numpy(p).requires_grad_(True) for p in problem["params"]]
            problem["torch"] = (X, params, torch.from_numpy(problem["dLdY"]))
        return problem["torch"]

    def forward(problem: Problem) -> Any:
        X, params, _ = tensors(problem)
        return SReLUTorch.apply(X, *params, problem["channel_axis"])

    def backward(problem: Problem) -> Any:
        X, params, dY = tensors(problem)
        if "torch_Y" not in problem:
            problem["torch_Y"] = forward(problem)
        return torch.autograd.grad(problem["torch_Y"], [X, *params], dY, retain_graph=True)

    def forward_backward(problem: Problem) -> Any:
        X, params, dY = tensors(problem)
        return torch.autograd.grad(forward(problem), [X, *params], dY)

    return Implementation("torch", forward, backward, forward_backward, traced_memory=False)


