"""SReLU as a ``torch.autograd.Function``: the first of two PyTorch versions.

The class has the shape of MATLAB's ``deep.DifferentiableFunction`` subclass
in the book: ``forward`` computes ``y``, ``setup_context`` decides what the
backward needs (MATLAB's ``SaveInputsForBackward``), and ``backward`` returns
one gradient per input of ``forward``, in input order, ``None`` for the
non-tensor ``channel_dim`` (MATLAB's ``[]``) and for inputs that need no
gradient (``ctx.needs_input_grad``, MATLAB's ``computeGradients``).

:func:`srelu_lib.torch.srelu` (checked arguments, then
``SReLUFunction.apply``) is the function to call in models.  ``torch.compile``
traces through it and fuses the forward's and the backward's operations.
"""

from __future__ import annotations

from typing import Any

import torch

from .args import check_srelu_args
from .formulas import srelu_backward, srelu_forward

__all__ = ["SReLUFunction", "srelu"]


class SReLUFunction(torch.autograd.Function):
    """SReLU with a hand-written backward, as a ``torch.autograd.Function``.

    Call it through :func:`srelu` (which checks the arguments) or as
    ``SReLUFunction.apply(x, tl, al, tr, ar, channel_dim)``.  The backward is
    made of differentiable operations, so double backward works, and
    ``generate_vmap_rule`` lets ``torch.func.vmap`` batch it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        x: torch.Tensor,
        tl: torch.Tensor,
        al: torch.Tensor,
        tr: torch.Tensor,
        ar: torch.Tensor,
        channel_dim: int,
    ) -> torch.Tensor:
        """``y = SReLU(x)``, computed without recording a graph."""
        return srelu_forward(x, tl, al, tr, ar, channel_dim)

    @staticmethod
    def setup_context(
        ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor
    ) -> None:
        """Keep the five tensors for the backward, and the channel dim."""
        x, tl, al, tr, ar, channel_dim = inputs
        ctx.save_for_backward(x, tl, al, tr, ar)
        ctx.channel_dim = channel_dim

    @staticmethod
    def backward(
        ctx: Any, dLdY: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        """One gradient per input of ``forward``, ``None`` for the dim."""
        x, tl, al, tr, ar = ctx.saved_tensors
        needs = ctx.needs_input_grad[:5]
        grads = srelu_backward(dLdY, x, tl, al, tr, ar, ctx.channel_dim, needs)
        return (*grads, None)


def srelu(
    x: torch.Tensor, tl: Any, al: Any, tr: Any, ar: Any, channel_dim: int = 1
) -> torch.Tensor:
    """SReLU of a tensor, differentiable with respect to all five inputs.

    The same values and gradients as :func:`srelu_lib.srelu`: identity plus
    two hinges for every ``tl, tr`` (crossed thresholds included), masks
    ``x <= tl`` and ``x >= tr`` at the kinks, NaN and infinities propagated
    as data.  Works in eager mode, under ``torch.compile`` (which fuses its
    operations), under ``torch.func.vmap``, and for double backward
    (``create_graph=True``).

    Args:
        x: a real floating-point tensor, e.g. ``(N, C, H, W)``.
        tl, al, tr, ar: left threshold, left slope, right threshold, right
            slope: tensors of ``x``'s dtype and device, of shape ``()`` or
            ``(1,)`` (shared by all channels) or ``(C,)`` (one per channel),
            or Python numbers (constants).
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
        >>> x = torch.tensor([[-2.0, 0.0, 2.0]], requires_grad=True)  # (1, 3)
        >>> ar = torch.tensor([2.0, 2.0, 3.0], requires_grad=True)
        >>> y = srelu(x, -1.0, 0.5, 1.0, ar)
        >>> y.detach()
        tensor([[-1.5000,  0.0000,  4.0000]])
        >>> y.sum().backward()
        >>> x.grad, ar.grad
        (tensor([[0.5000, 1.0000, 3.0000]]), tensor([0., 0., 1.]))
    """
    tl, al, tr, ar, channel_dim = check_srelu_args(
        x, tl, al, tr, ar, channel_dim, "srelu"
    )
    return SReLUFunction.apply(x, tl, al, tr, ar, channel_dim)
