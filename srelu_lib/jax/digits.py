"""The book's digit classifier in JAX, in MATLAB's layout: nothing to convert.

JAX lets a convolution name its layouts (``dimension_numbers``), so the
network of :mod:`srelu_lib.digits` runs here on the very same arrays: images
``(H, W, C, B)``, filters ``(KH, KW, C, F)``, SReLU with ``channel_axis=2``,
and a dense layer on the row-major flattening ``(H W F, B)``, exactly as
srelu_lib's ``fullyconnect``.  The parameters are a plain dict (a pytree) of
JAX arrays with srelu_lib's structure; :func:`adam_update` is MATLAB's
``adamupdate`` over that pytree.

Use float64 (``jax.config.update("jax_enable_x64", True)``) to compare with
srelu_lib digit for digit.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .operation import srelu

__all__ = ["from_srelu_lib", "model", "loss", "adam_update", "train_step"]


def from_srelu_lib(parameters: dict[str, Any]) -> dict[str, Any]:
    """srelu_lib's parameter dict as a pytree of JAX arrays (same layouts)."""
    return jax.tree.map(lambda a: jnp.asarray(np.asarray(a)), parameters)


def model(params: dict[str, Any], X: jax.Array) -> jax.Array:
    """Class probabilities ``(10, B)`` for images ``(8, 8, 1, B)``."""
    conv, dense, p = params["conv"], params["fc"], params["srelu"]
    Z = jax.lax.conv_general_dilated(
        X,
        conv["weights"],
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=("HWCN", "HWIO", "HWCN"),
    )
    Z = Z + conv["bias"].reshape(1, 1, -1, 1)
    A = srelu(Z, p["tl"], p["al"], p["tr"], p["ar"], channel_axis=2)
    features = A.reshape(-1, A.shape[-1])  # (H*W*F, B), row-major
    scores = dense["weights"] @ features + dense["bias"].reshape(-1, 1)
    return jax.nn.softmax(scores, axis=0)


def loss(params: dict[str, Any], X: jax.Array, T: jax.Array) -> jax.Array:
    """Cross-entropy with one-hot targets ``T`` ``(10, B)``, batch mean."""
    P = model(params, X)
    return -jnp.sum(T * jnp.log(P)) / X.shape[-1]


def adam_update(
    params: Any,
    grads: Any,
    avg_g: Any,
    avg_sq_g: Any,
    iteration: Any,
    learn_rate: float,
    grad_decay: float = 0.9,
    sq_grad_decay: float = 0.999,
    epsilon: float = 1e-8,
) -> tuple[Any, Any, Any]:
    """Adam as :func:`srelu_lib.adamupdate` computes it, over a pytree.

    ``iteration`` counts from 1.
    """
    b1, b2 = grad_decay, sq_grad_decay

    def step(p: Any, m: Any, v: Any) -> Any:
        m_hat = m / (1 - b1**iteration)
        v_hat = v / (1 - b2**iteration)
        return p - learn_rate * m_hat / (jnp.sqrt(v_hat) + epsilon)

    avg_g = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, avg_g, grads)
    avg_sq_g = jax.tree.map(
        lambda v, g: b2 * v + (1 - b2) * g * g, avg_sq_g, grads
    )
    params = jax.tree.map(step, params, avg_g, avg_sq_g)
    return params, avg_g, avg_sq_g


@jax.jit
def train_step(
    params: Any,
    avg_g: Any,
    avg_sq_g: Any,
    iteration: jax.Array,
    X: jax.Array,
    T: jax.Array,
    learn_rate: float = 0.003,
) -> tuple[Any, Any, Any, jax.Array]:
    """One Adam step on the batch ``(X, T)``; returns the state and the loss.

    The loss is the one before the step.  Compiled with ``jax.jit``: when
    ``X`` and ``T`` are sharded along their batch axis over several devices,
    XLA partitions the step and sums the gradients across the devices itself.
    """
    value, grads = jax.value_and_grad(loss)(params, X, T)
    params, avg_g, avg_sq_g = adam_update(
        params, grads, avg_g, avg_sq_g, iteration, learn_rate
    )
    return params, avg_g, avg_sq_g, value
