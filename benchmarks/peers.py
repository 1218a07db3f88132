"""The SReLU benchmark's peers: srelu_lib's PyTorch and JAX ports, eager and compiled.

Each provider returns its :class:`~srelu_implementations.Implementation` rows, or raises
:class:`~srelu_implementations.Unavailable` with the reason when PyTorch or JAX cannot be imported
(srelu_lib does not depend on either; ``import srelu_lib`` never imports them):

* ``torch``: :func:`srelu_lib.torch.srelu` in PyTorch's eager mode;
* ``torch.compile``: the same function under ``torch.compile(dynamic=False, fullgraph=True)``;
* ``jax.jit``: :func:`srelu_lib.jax.srelu` under ``jax.jit``; the backward is one jitted function computing
  the VJP for all five inputs.

All run on the CPU with their libraries' default settings (threads, allocators), as a user gets them.  The
PyTorch rows take the problem's arrays as tensors that require gradients.  Their forward runs under
``torch.no_grad()``: it computes y only, like the ``auto`` and ``jax.jit`` rows' forward (with gradients
recorded, ``torch.compile``'s forward also computes and stores what its backward will need, which made it
several times slower on the project's machine; that cost is timed in ``fwd+bwd``).  The backward row
calls ``torch.autograd.grad`` on a graph recorded once, with ``retain_graph=True``; ``fwd+bwd`` records
a new graph and differentiates it.  JAX's results are waited for with ``block_until_ready``.
Compilation happens in each row's ``prepare`` (once per problem shape), before any checking or timing.
For float64, the JAX provider turns on ``jax_enable_x64`` in this process (without it JAX computes in
float32).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from srelu_implementations import Implementation, Problem, Unavailable

__all__ = ["peer_providers", "torch_eager", "torch_compiled", "jax_jitted", "peer_info"]


def _import(module: str, what: str) -> Any:
    """``module`` imported, or :class:`Unavailable` saying why not (a broken installation counts as absent)."""
    top = module.split(".")[0]
    if importlib.util.find_spec(top) is None:
        raise Unavailable(f"import {top} failed: {what} is not installed")
    try:
        return importlib.import_module(module)
    except Exception as error:
        raise Unavailable(f"import {module} failed: {error}") from error


# --- PyTorch -------------------------------------------------------------------------------------------
def _torch_rows(name: str, compiled: bool) -> list[Implementation]:
    torch = _import("torch", "PyTorch")
    srelu = _import("srelu_lib.torch", "PyTorch").srelu
    fn = torch.compile(srelu, dynamic=False, fullgraph=True) if compiled else srelu

    def tensors(p: Problem) -> Any:
        if "torch" not in p:  # shared by both PyTorch rows: views of the problem's arrays (no copy)
            X = torch.from_numpy(p["X"]).requires_grad_(True)
            params = [torch.from_numpy(a).requires_grad_(True) for a in p["params"]]
            p["torch"] = (X, params, torch.from_numpy(p["dLdY"]))
        return p["torch"]

    def recorded(p: Problem) -> Any:  # y with its graph, for the backward
        X, params, _ = tensors(p)
        return fn(X, *params, channel_dim=p["channel_axis"])

    def forward(p: Problem) -> Any:  # y only, as the other rows' forward
        with torch.no_grad():
            return recorded(p)

    def backward(p: Problem) -> Any:
        X, params, dY = tensors(p)
        key = f"{name}:Y"
        if key not in p:
            p[key] = recorded(p)
        return torch.autograd.grad(p[key], [X, *params], dY, retain_graph=True)

    def forward_backward(p: Problem) -> Any:
        X, params, dY = tensors(p)
        return torch.autograd.grad(recorded(p), [X, *params], dY)

    def prepare(p: Problem) -> None:  # compiles the inference, forward and backward graphs for this shape
        forward(p)
        backward(p)
        forward_backward(p)

    return [Implementation(name, forward, backward, forward_backward, traced_memory=False, prepare=prepare)]


def torch_eager() -> list[Implementation]:
    """``srelu_lib.torch.srelu`` in eager mode (row ``torch``)."""
    return _torch_rows("torch", compiled=False)


def torch_compiled() -> list[Implementation]:
    """``srelu_lib.torch.srelu`` under ``torch.compile(dynamic=False, fullgraph=True)`` (row ``torch.compile``)."""
    return _torch_rows("torch.compile", compiled=True)


# --- JAX -----------------------------------------------------------------------------------------------------
def jax_jitted() -> list[Implementation]:
    """``srelu_lib.jax.srelu`` under ``jax.jit`` (row ``jax.jit``); backward: the jitted VJP of all five inputs."""
    jax = _import("jax", "JAX")
    srelu = _import("srelu_lib.jax", "JAX").srelu

    def vjp(X: Any, tl: Any, al: Any, tr: Any, ar: Any, dLdY: Any, channel_axis: int) -> Any:
        _, pullback = jax.vjp(lambda *a: srelu(*a, channel_axis=channel_axis), X, tl, al, tr, ar)
        return pullback(dLdY)

    def y_and_vjp(X: Any, tl: Any, al: Any, tr: Any, ar: Any, dLdY: Any, channel_axis: int) -> Any:
        Y, pullback = jax.vjp(lambda *a: srelu(*a, channel_axis=channel_axis), X, tl, al, tr, ar)
        return Y, pullback(dLdY)

    jit_forward = jax.jit(srelu, static_argnames="channel_axis")
    jit_backward = jax.jit(vjp, static_argnames="channel_axis")
    jit_both = jax.jit(y_and_vjp, static_argnames="channel_axis")

    def arrays(p: Problem) -> Any:
        if "jax" not in p:  # copied to JAX's device once, outside the timing
            p["jax"] = tuple(jax.device_put(a) for a in (p["X"], *p["params"], p["dLdY"]))
        return p["jax"]

    def forward(p: Problem) -> Any:
        return jit_forward(*arrays(p)[:5], channel_axis=p["channel_axis"]).block_until_ready()

    def backward(p: Problem) -> Any:
        return jax.block_until_ready(jit_backward(*arrays(p), channel_axis=p["channel_axis"]))

    def forward_backward(p: Problem) -> Any:
        return jax.block_until_ready(jit_both(*arrays(p), channel_axis=p["channel_axis"]))

    def prepare(p: Problem) -> None:  # compiles the three functions for this shape and dtype
        if str(p["X"].dtype) == "float64":
            jax.config.update("jax_enable_x64", True)
        forward(p)
        backward(p)
        forward_backward(p)

    return [Implementation("jax.jit", forward, backward, forward_backward, traced_memory=False, prepare=prepare)]


def peer_providers() -> dict[str, Callable[[], list[Implementation]]]:
    """The peers' providers, in the order the benchmark times them (after srelu_lib's own rows)."""
    return {"torch": torch_eager, "torch.compile": torch_compiled, "jax.jit": jax_jitted}


def peer_info() -> dict[str, str]:
    """How the imported peers ran: PyTorch's version and thread count, JAX's version and devices."""
    info: dict[str, str] = {}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads, default settings)"
    jax = sys.modules.get("jax")
    if jax is not None:
        devices = ", ".join(str(d) for d in jax.devices())
        info["jax"] = f"{jax.__version__} (devices: {devices}; x64 {'on' if jax.config.jax_enable_x64 else 'off'})"
    return info
