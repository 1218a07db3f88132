"""SReLU in JAX: the operation of :mod:`srelu_lib` as a ``jax.custom_vjp``.

Import it explicitly (``import srelu_lib.jax``); ``import srelu_lib`` never
imports JAX.  Install JAX with the package extra ``pip install
srelu_lib[jax]``.

- :func:`~srelu_lib.jax.operation.srelu`: SReLU with a hand-written VJP, correct under ``jax.jit``,
  ``jax.vmap``, ``jax.grad`` and grad-of-grad;
- :func:`~srelu_lib.jax.formulas.srelu_forward`, :func:`~srelu_lib.jax.formulas.srelu_backward`: its arithmetic in
  ``jax.numpy``;
- :mod:`srelu_lib.jax.digits`: the book's digit classifier in JAX, in
  MATLAB's ``(H, W, C, B)`` layout (imported on use).

Float64 needs ``jax.config.update("jax_enable_x64", True)`` (a global
switch) before arrays are created; without it JAX computes in float32.
"""

from __future__ import annotations

try:
    import jax  # noqa: F401
except ImportError as error:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        "srelu_lib.jax needs JAX, which is not installed. Install it with "
        "the package extra: pip install 'srelu_lib[jax]'"
    ) from error

from .args import check_srelu_args
from .formulas import srelu_backward, srelu_forward
from .operation import srelu

__all__ = ["check_srelu_args", "srelu", "srelu_backward", "srelu_forward"]
