"""Argument checks of the PyTorch SReLU: errors name the argument at fault."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["check_srelu_args", "PARAMETER_NAMES"]

PARAMETER_NAMES = ("tl", "al", "tr", "ar")


def check_srelu_args(
    x: Any,
    tl: Any,
    al: Any,
    tr: Any,
    ar: Any,
    channel_dim: Any,
    function: str = "srelu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Check SReLU's inputs; return the parameters as tensors and the dim.

    Args:
        x: a real floating-point tensor (float16, bfloat16, float32,
            float64) with at least one dimension.
        tl, al, tr, ar: tensors of ``x``'s dtype and device, of shape ``()``
            or ``(1,)`` (shared by all channels) or ``(C,)`` with
            ``C = x.shape[channel_dim]`` (one per channel); or Python
            numbers, which become constant tensors of ``x``'s dtype and
            device.
        channel_dim: the dimension of ``x`` holding the channels, in
            ``[-x.ndim, x.ndim)``.
        function: the name used in the error messages.

    Returns:
        ``(tl, al, tr, ar, channel_dim)``, ``channel_dim`` as given
        (possibly negative).

    Raises:
        TypeError: ``x`` is not a tensor or not real floating-point; a
            parameter is neither a tensor nor a real number, is not
            floating-point, or has another dtype than ``x``;
            ``channel_dim`` is not an int.
        IndexError: ``channel_dim`` is out of range for ``x``.
        ValueError: a parameter's shape is neither ``()``/``(1,)`` nor
            ``(C,)``, or it lives on another device than ``x``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{function}: x must be a torch.Tensor; got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{function}: x must be a real floating-point tensor (float32, "
            f"float64, float16 or bfloat16); got dtype {x.dtype}"
        )
    if isinstance(channel_dim, bool) or not isinstance(channel_dim, int):
        raise TypeError(
            f"{function}: channel_dim must be an int; "
            f"got {type(channel_dim).__name__}"
        )
    if not -x.ndim <= channel_dim < x.ndim:
        raise IndexError(
            f"{function}: channel_dim={channel_dim} is out of range for x "
            f"with {x.ndim} dimension(s) (shape {tuple(x.shape)}); expected "
            f"an int in [{-x.ndim}, {x.ndim - 1}]"
        )
    num_channels = x.shape[channel_dim]
    params = tuple(
        _check_parameter(name, p, x, num_channels, channel_dim, function)
        for name, p in zip(PARAMETER_NAMES, (tl, al, tr, ar), strict=True)
    )
    return params[0], params[1], params[2], params[3], channel_dim


def _check_parameter(
    name: str,
    p: Any,
    x: torch.Tensor,
    num_channels: int,
    channel_dim: int,
    function: str,
) -> torch.Tensor:
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        return torch.tensor(float(p), dtype=x.dtype, device=x.device)
    if not isinstance(p, torch.Tensor):
        raise TypeError(
            f"{function}: {name} must be a torch.Tensor or a real number; "
            f"got {type(p).__name__}"
        )
    if not p.is_floating_point():
        raise TypeError(
            f"{function}: {name} must be a real floating-point tensor; "
            f"got dtype {p.dtype}"
        )
    if p.dtype != x.dtype:
        raise TypeError(
            f"{function}: {name} has dtype {p.dtype} but x has dtype "
            f"{x.dtype}; they must match (convert with {name}.to(x.dtype))"
        )
    if p.device != x.device:
        raise ValueError(
            f"{function}: {name} is on device {p.device} but x is on "
            f"{x.device}; they must match (move it with {name}.to(x.device))"
        )
    if p.dim() > 1 or (p.dim() == 1 and p.shape[0] not in (1, num_channels)):
        raise ValueError(
            f"{function}: {name} must have shape () or (1,) (one value shared "
            f"by all channels) or (C,) = ({num_channels},) (one value per "
            f"channel, C = x.shape[{channel_dim}]); got shape {tuple(p.shape)}"
        )
    return p
