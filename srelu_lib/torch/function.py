"""SReLU as a ``torch.autograd.Function``: the first of the two PyTorch versions.

The class has the shape of MATLAB's ``deep.DifferentiableFunction`` subclass in
the book: ``forward`` computes ``y``, ``setup_context`` decides what the
backward needs (MATLAB's ``SaveInputsForBackward``), and ``backward`` returns
one gradient per input of ``forward``, in input order, ``None`` for the
non-tensor ``channel_dim`` (MATLAB's ``[]``) and for inputs that need no
gradient (``ctx.needs_input_grad``, MATLAB's ``computeGradients``).

Use :func:`srelu_lib.torch.srelu` in models: it is the same arithmetic
registered as a custom operator, which ``torch.compile`` can also trace.
"""

from __future__ import annotations

from typing import Any

import torch

from .args import check_srelu_args
from .formulas import srelu_backward, srelu_forward

__all__ = ["SReLUFunction", "srelu_function"]


class SReLUFunction(torch.autograd.Function):
    """SReLU with a hand-written backward, as a ``torch.autograd.Function``.

    Call it through :func:`srelu_function` (which checks the arguments) or as
    ``SReLUFunction.apply(x, tl, al, tr, ar, channel_dim)``.  The backward is
    built from differentiable PyTorch operations, so double backward works
    (``torch.autograd.gradgradcheck`` passes away from the kinks), and
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
        """``y = SReLU(x)`` (PyTorch runs it without recording: the backward below replaces it)."""
        return srelu_forward(x, tl, al, tr, ar, channel_dim)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        """Save what the backward needs: the five tensor inputs, and the channel dim as an attribute."""
        x, tl, al, tr, ar, channel_dim = inputs
        ctx.save_for_backward(x, tl, al, tr, ar)
        ctx.channel_dim = channel_dim

    @staticmethod
    def backward(ctx: Any, dLdY: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """One gradient per forward input, in input order; ``None`` for ``channel_dim`` and unneeded ones."""
        x, tl, al, tr, ar = ctx.saved_tensors
        grads = srelu_backward(dLdY, x, tl, al, tr, ar, ctx.channel_dim, ctx.needs_input_grad[:5])
        return (*grads, None)


def srelu_function(x: torch.Tensor, tl: Any, al: Any, tr: Any, ar: Any, channel_dim: int = 1) -> torch.Tensor:
    """SReLU through :class:`SReLUFunction`, with the argument checks of :func:`srelu_lib.torch.srelu`.

    Same contract as :func:`srelu_lib.torch.srelu`; use that one in models
    (it also works under ``torch.compile``).
    """
    tl, al, tr, ar, channel_dim = check_srelu_args(x, tl, al, tr, ar, channel_dim, "srelu_function")
    return SReLUFunction.apply(x, tl, al, tr, ar, channel_dim)
