r"""SReLU's forward and backward in ``jax.numpy``: the reference, ported.

Both are plain ``jax.numpy`` code (the port of
:mod:`srelu_lib.kernels.reference`), so JAX can differentiate the backward
again (reverse over reverse), batch it (``vmap``) and compile it (``jit``).
The semantics are those of :mod:`srelu_lib.srelu_function`: masks
``in_left = x <= tl`` and ``in_right = x >= tr``, identity plus two hinges (crossed
thresholds get both), NaN ``x`` or a NaN parameter gives NaN, infinities
follow IEEE arithmetic.  Parameter gradients are summed in float64 when
``jax_enable_x64`` is on (as :mod:`srelu_lib` does) and in ``x``'s dtype
otherwise, then cast to the parameter's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

__all__ = ["srelu_forward", "srelu_backward"]


def per_channel(p: jax.Array, ndim: int, axis: int) -> jax.Array:
    """``p`` shaped to broadcast along ``axis >= 0`` of ``ndim`` axes."""
    if p.size == 1:
        return p.reshape(())
    shape = [1] * ndim
    shape[axis] = p.size
    return p.reshape(shape)


def srelu_forward(
    x: jax.Array,
    tl: jax.Array,
    al: jax.Array,
    tr: jax.Array,
    ar: jax.Array,
    channel_axis: int,
) -> jax.Array:
    """``y = SReLU(x)``, region by region (no checks: see ``srelu``)."""
    axis = channel_axis % x.ndim
    tl, al, tr, ar = (per_channel(p, x.ndim, axis) for p in (tl, al, tr, ar))
    in_left = x <= tl
    in_right = x >= tr
    left = tl + al * (x - tl)
    right = tr + ar * (x - tr)
    y = jnp.where(in_right, right, jnp.where(in_left, left, x))
    y = jnp.where(in_left & in_right, left + right - x, y)  # crossed: both hinges
    bad = jnp.isnan(tl) | jnp.isnan(al) | jnp.isnan(tr) | jnp.isnan(ar)
    return jnp.where(bad, jnp.nan, y).astype(x.dtype)


def srelu_backward(
    dLdY: jax.Array,
    x: jax.Array,
    tl: jax.Array,
    al: jax.Array,
    tr: jax.Array,
    ar: jax.Array,
    channel_axis: int,
    needs_gradient: Sequence[bool] = (True,) * 5,
) -> tuple[jax.Array | None, ...]:
    """``(dLdX, dLdtl, dLdal, dLdtr, dLdar)``, ``None`` where not needed.

    The local derivatives are those of the book's backward chapter; a
    parameter's gradient is summed over every axis but ``channel_axis`` (all
    of them for a shared parameter).
    """
    axis = channel_axis % x.ndim
    p = [per_channel(q, x.ndim, axis) for q in (tl, al, tr, ar)]
    tl_, al_, tr_, ar_ = p
    in_left = x <= tl_
    in_right = x >= tr_
    # A local derivative is NaN where x or a parameter is NaN.
    undefined = jnp.isnan(x) | jnp.isnan(tl_) | jnp.isnan(al_)
    undefined = undefined | jnp.isnan(tr_) | jnp.isnan(ar_)
    other_axes = tuple(a for a in range(x.ndim) if a != axis)
    x64 = jax.config.read("jax_enable_x64")
    accumulate = jnp.float64 if x64 else x.dtype

    def times_dLdY(local: jax.Array) -> jax.Array:
        return (dLdY * jnp.where(undefined, jnp.nan, local)).astype(x.dtype)

    def channel_sum(product: jax.Array, q: jax.Array) -> jax.Array:
        axes = None if q.size == 1 else other_axes
        total = jnp.sum(product, axis=axes, dtype=accumulate)
        return total.reshape(q.shape).astype(q.dtype)

    want = [bool(flag) for flag in needs_gradient]
    dLdX = dLdtl = dLdal = dLdtr = dLdar = None
    if want[0]:
        dYdX = jnp.where(in_right, ar_, jnp.where(in_left, al_, 1.0))
        dLdX = times_dLdY(jnp.where(in_left & in_right, al_ + ar_ - 1, dYdX))
    if want[1]:
        dLdtl = channel_sum(times_dLdY(jnp.where(in_left, 1 - al_, 0.0)), tl)
    if want[2]:
        dLdal = channel_sum(times_dLdY(jnp.where(in_left, x - tl_, 0.0)), al)
    if want[3]:
        dLdtr = channel_sum(times_dLdY(jnp.where(in_right, 1 - ar_, 0.0)), tr)
    if want[4]:
        dLdar = channel_sum(times_dLdY(jnp.where(in_right, x - tr_, 0.0)), ar)
    return dLdX, dLdtl, dLdal, dLdtr, dLdar
