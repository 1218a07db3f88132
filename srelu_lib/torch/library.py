"""SReLU registered as a PyTorch custom operator (``torch.ops.srelu_lib.srelu``): the version to use.

``torch.library.custom_op`` turns the forward into an operator that PyTorch's
compiler treats as one opaque call; ``register_fake`` tells the compiler the
shape and dtype of its output without running it; ``register_autograd``
attaches the same hand-written backward as :class:`~srelu_lib.torch.SReLUFunction`.
Because that backward is written with PyTorch operations, it can be traced by
``torch.compile`` and differentiated again.  ``torch.library.opcheck`` (PyTorch's
own test battery for custom operators) passes on it; the tests run it.
"""

from __future__ import annotations

from typing import Any

import torch

from .args import check_srelu_args
from .formulas import srelu_backward, srelu_forward

__all__ = ["srelu", "srelu_op"]


@torch.library.custom_op("srelu_lib::srelu", mutates_args=())
def srelu_op(
    x: torch.Tensor,
    tl: torch.Tensor,
    al: torch.Tensor,
    tr: torch.Tensor,
    ar: torch.Tensor,
    channel_dim: int,
) -> torch.Tensor:
    """The registered operator (no argument checks: call :func:`srelu`)."""
    return srelu_forward(x, tl, al, tr, ar, channel_dim)


@srelu_op.register_fake
def _srelu_fake(x, tl, al, tr, ar, channel_dim):
    return torch.empty_like(x)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, tl, al, tr, ar, channel_dim = inputs
    ctx.save_for_backward(x, tl, al, tr, ar)
    ctx.channel_dim = channel_dim


def _backward(ctx: Any, dLdY: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    x, tl, al, tr, ar = ctx.saved_tensors
    grads = srelu_backward(dLdY, x, tl, al, tr, ar, ctx.channel_dim, ctx.needs_input_grad[:5])
    return (*grads, None)


srelu_op.register_autograd(_backward, setup_context=_setup_context)


def srelu(x: torch.Tensor, tl: Any, al: Any, tr: Any, ar: Any, channel_dim: int = 1) -> torch.Tensor:
    """SReLU of a tensor, differentiable with respect to all five inputs (PyTorch).

    The same values and gradients as :func:`srelu_lib.srelu`: identity plus
    two hinges for every ``tl, tr`` (crossed thresholds included), masks
    ``x <= tl`` and ``x >= tr`` at the kinks, NaN and infinities propagated as
    data.  Works in eager mode, under ``torch.compile`` and for double
    backward (``create_graph=True``).

    Args:
        x: a real floating-point tensor, e.g. ``(N, C, H, W)``.
        tl, al, tr, ar: left threshold, left slope, right threshold, right
            slope: tensors of ``x``'s dtype and device, of shape ``()`` or
            ``(1,)`` (shared by all channels) or ``(C,)`` (one per channel), or
            Python numbers (constants).
        channel_dim: the dimension of ``x`` holding the channels: 1 for
            ``NCHW`` (the default), -1 for channels-last.

    Returns:
        ``y``, a new tensor of ``x``'s shape and dtype.

    Raises:
        TypeError, IndexError, ValueError: see
            :func:`~srelu_lib.torch.check_srelu_args`; the message names the
            argument.

    Example:
        >>> import torch
        >>> from srelu_lib.torch import srelu
        >>> x = torch.tensor([[-2.0, 0.0, 2.0]], requires_grad=True)   # (N=1, C=3)
        >>> ar = torch.tensor([2.0, 2.0, 3.0], requires_grad=True)
        >>> y = srelu(x, -1.0, 0.5, 1.0, ar)
        >>> y.detach()
        tensor([[-1.5000,  0.0000,  4.0000]])
        >>> y.sum().backward()
        >>> x.grad, ar.grad
        (tensor([[0.5000, 1.0000, 3.0000]]), tensor([0., 0., 1.]))
    """
    tl, al, tr, ar, channel_dim = check_srelu_args(x, tl, al, tr, ar, channel_dim, "srelu")
    return srelu_op(x, tl, al, tr, ar, channel_dim)
