"""SReLU registered as a PyTorch custom operator, ``torch.ops.srelu_lib.srelu``.

``torch.library.custom_op`` registers the forward as an operator that
PyTorch's compiler treats as one opaque call: ``torch.compile`` does not look
into it, and runs it as written.  ``register_fake`` tells the compiler the
shape and dtype of its output without running it; ``register_autograd``
attaches the backward of :class:`~srelu_lib.torch.SReLUFunction`, unchanged.
Because that backward is made of PyTorch operations, autograd can
differentiate it again.  ``torch.library.opcheck`` (PyTorch's test battery
for custom operators) passes on it; the tests run it.

A custom operator is the vehicle for a forward that PyTorch cannot trace (a
kernel from another library, say).  SReLU is a composition of PyTorch
operations, so :func:`srelu_lib.torch.srelu` (the ``autograd.Function``) is
the better default: ``torch.compile`` traces and fuses it.
"""

from __future__ import annotations

from typing import Any

import torch

from .args import check_srelu_args
from .formulas import srelu_forward
from .function import SReLUFunction

__all__ = ["srelu_custom_op", "srelu_op"]


@torch.library.custom_op("srelu_lib::srelu", mutates_args=())
def srelu_op(
    x: torch.Tensor,
    tl: torch.Tensor,
    al: torch.Tensor,
    tr: torch.Tensor,
    ar: torch.Tensor,
    channel_dim: int,
) -> torch.Tensor:
    """The registered operator (no argument checks: see below)."""
    return srelu_forward(x, tl, al, tr, ar, channel_dim)


@srelu_op.register_fake
def _(x, tl, al, tr, ar, channel_dim):
    return torch.empty_like(x)  # shape, dtype and strides of the output


srelu_op.register_autograd(
    SReLUFunction.backward, setup_context=SReLUFunction.setup_context
)


def srelu_custom_op(
    x: torch.Tensor, tl: Any, al: Any, tr: Any, ar: Any, channel_dim: int = 1
) -> torch.Tensor:
    """:func:`srelu_lib.torch.srelu` through the registered operator.

    Same arguments, checks, values and gradients as
    :func:`srelu_lib.torch.srelu`; under ``torch.compile`` the forward stays
    one opaque call.
    """
    tl, al, tr, ar, channel_dim = check_srelu_args(
        x, tl, al, tr, ar, channel_dim, "srelu_custom_op"
    )
    return srelu_op(x, tl, al, tr, ar, channel_dim)
