"""Argument checks of the JAX SReLU: errors name the argument at fault."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_srelu_args", "PARAMETER_NAMES"]

PARAMETER_NAMES = ("tl", "al", "tr", "ar")


def check_srelu_args(
    x: Any,
    tl: Any,
    al: Any,
    tr: Any,
    ar: Any,
    channel_axis: Any,
    function: str = "srelu",
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, int]:
    """Check SReLU's inputs; return them as JAX arrays, and the axis as an int.

    Only shapes and dtypes are inspected, so the checks work on traced
    values (inside ``jit``, ``vmap``, ``grad``).

    Args:
        x: a real floating-point array (JAX or NumPy) with at least one axis.
        tl, al, tr, ar: arrays of ``x``'s dtype with shape ``()`` or ``(1,)``
            (shared by all channels) or ``(C,)``,
            ``C = x.shape[channel_axis]`` (one per channel); or Python
            numbers (taken in ``x``'s dtype).
        channel_axis: the axis of ``x`` holding the channels, in
            ``[-x.ndim, x.ndim)``.

    Raises:
        TypeError: ``x`` or a parameter is not real floating-point, a
            parameter has another dtype than ``x``, ``channel_axis`` is not
            an int.
        IndexError: ``channel_axis`` is out of range for ``x``.
        ValueError: a parameter's shape is neither ``()``/``(1,)`` nor
            ``(C,)``.
    """
    x = _as_array(x, "x", function)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{function}: x must be a real floating-point array; "
            f"got dtype {x.dtype}"
        )
    integer = isinstance(channel_axis, (int, np.integer))
    if isinstance(channel_axis, bool) or not integer:
        raise TypeError(
            f"{function}: channel_axis must be an int; "
            f"got {type(channel_axis).__name__}"
        )
    channel_axis = int(channel_axis)
    if not -x.ndim <= channel_axis < x.ndim:
        raise IndexError(
            f"{function}: channel_axis={channel_axis} is out of range for x "
            f"with {x.ndim} axes (shape {tuple(x.shape)}); expected an int "
            f"in [{-x.ndim}, {x.ndim - 1}]"
        )
    num_channels = x.shape[channel_axis]
    params = []
    for name, p in zip(PARAMETER_NAMES, (tl, al, tr, ar), strict=True):
        if isinstance(p, (int, float)) and not isinstance(p, bool):
            p = jnp.asarray(p, dtype=x.dtype)
        p = _as_array(p, name, function)
        if not jnp.issubdtype(p.dtype, jnp.floating):
            raise TypeError(
                f"{function}: {name} must be a real floating-point array; "
                f"got dtype {p.dtype}"
            )
        if p.dtype != x.dtype:
            raise TypeError(
                f"{function}: {name} has dtype {p.dtype} but x has dtype "
                f"{x.dtype}; they must match (convert with "
                f"{name}.astype(x.dtype))"
            )
        if p.ndim > 1 or (p.ndim == 1 and p.shape[0] not in (1, num_channels)):
            raise ValueError(
                f"{function}: {name} must have shape () or (1,) (one value "
                f"shared by all channels) or (C,) = ({num_channels},) (one "
                f"value per channel, C = x.shape[{channel_axis}]); "
                f"got shape {tuple(p.shape)}"
            )
        params.append(p)
    return x, params[0], params[1], params[2], params[3], channel_axis


def _as_array(value: Any, name: str, function: str) -> jax.Array:
    if isinstance(value, jax.Array):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        return jnp.asarray(value)
    raise TypeError(
        f"{function}: {name} must be a JAX or NumPy array; "
        f"got {type(value).__name__}"
    )
