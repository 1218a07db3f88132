"""SReLU as a ``jax.custom_vjp``: the forward, the residuals, the VJP.

The pieces map onto MATLAB's ``deep.DifferentiableFunction`` (and onto
:class:`srelu_lib.torch.SReLUFunction`):

- ``srelu_vjp`` is the primal function; ``channel_axis`` is a
  *non-differentiable* argument (``nondiff_argnums``), like the data format
  in MATLAB;
- ``srelu_fwd`` returns the output and the *residuals*, the values the
  backward needs (MATLAB's ``SaveInputsForBackward`` and memory values);
- ``srelu_bwd`` receives ``channel_axis``, the residuals and the output
  cotangent, and returns one cotangent per differentiable input, in input
  order.  With ``symbolic_zeros=True`` the forward learns which inputs are
  being differentiated (``perturbed``, MATLAB's ``computeGradients``); the
  backward skips the others and returns ``None`` for them (a symbolic zero).

The backward is ``jax.numpy`` code, so JAX differentiates it again for
grad-of-grad.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
from jax.custom_derivatives import SymbolicZero

from .args import check_srelu_args
from .formulas import srelu_backward, srelu_forward

__all__ = ["srelu", "srelu_vjp"]


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def srelu_vjp(x, tl, al, tr, ar, channel_axis):
    return srelu_forward(x, tl, al, tr, ar, channel_axis)


def srelu_fwd(x, tl, al, tr, ar, channel_axis):
    inputs = (x, tl, al, tr, ar)
    values = tuple(p.value for p in inputs)
    # Which inputs are differentiated, as pytree *structure* (() for yes,
    # None for no): it stays a Python value, also under jit.
    perturbed = tuple(() if p.perturbed else None for p in inputs)
    return srelu_vjp(*values, channel_axis), (values, perturbed)


def srelu_bwd(channel_axis, residuals, dLdY):
    (x, tl, al, tr, ar), perturbed = residuals
    if isinstance(dLdY, SymbolicZero):  # y is not used: all cotangents are 0
        return (None,) * 5
    needs = [flag is not None for flag in perturbed]
    return srelu_backward(dLdY, x, tl, al, tr, ar, channel_axis, needs)


srelu_vjp.defvjp(srelu_fwd, srelu_bwd, symbolic_zeros=True)


def srelu(
    x: Any, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int = -1
) -> jax.Array:
    """SReLU of an array, differentiable with respect to all five inputs (JAX).

    The same values and gradients as :func:`srelu_lib.srelu`: identity plus
    two hinges for every ``tl, tr`` (crossed thresholds included), masks
    ``x <= tl`` and ``x >= tr`` at the kinks, NaN and infinities propagated
    as data.  Correct under ``jax.jit``, ``jax.vmap``, ``jax.grad`` and
    grad-of-grad; ``jax.test_util.check_grads`` passes in reverse mode.
    Caveat: forward mode (``jax.jvp``, ``jax.jacfwd``) is not defined for a
    ``custom_vjp`` function, and JAX raises a ``TypeError`` for it.

    Args:
        x: a real floating-point array, e.g. ``(N, H, W, C)`` (channels
            last, JAX's usual layout) or MATLAB's ``(H, W, C, B)`` with
            ``channel_axis=2``.
        tl, al, tr, ar: left threshold, left slope, right threshold, right
            slope: arrays of ``x``'s dtype of shape ``()`` or ``(1,)``
            (shared) or ``(C,)`` (one per channel), or Python numbers.
        channel_axis: the axis of ``x`` holding the channels (static: not
            differentiated, and a change of it recompiles under ``jit``).

    Returns:
        ``y``, an array of ``x``'s shape and dtype.

    Raises:
        TypeError, IndexError, ValueError: see
            :func:`~srelu_lib.jax.check_srelu_args`; the message names the
            argument.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from srelu_lib.jax import srelu
        >>> x = jnp.array([[-2.0, 0.0, 2.0]])       # (N=1, C=3), channels last
        >>> ar = jnp.array([2.0, 2.0, 3.0])
        >>> srelu(x, -1.0, 0.5, 1.0, ar)
        Array([[-1.5,  0. ,  4. ]], dtype=float32)
        >>> jax.grad(lambda ar: srelu(x, -1.0, 0.5, 1.0, ar).sum())(ar)
        Array([0., 0., 1.], dtype=float32)
    """
    x, tl, al, tr, ar, channel_axis = check_srelu_args(
        x, tl, al, tr, ar, channel_axis, "srelu"
    )
    return srelu_vjp(x, tl, al, tr, ar, channel_axis)
