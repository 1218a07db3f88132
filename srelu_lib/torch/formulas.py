r"""SReLU's forward and backward in PyTorch: the port of the reference kernels.

The two functions port :mod:`srelu_lib.kernels.reference` and are plain
compositions of differentiable PyTorch operations (comparisons,
``torch.where``, products and sums).  That is what makes the backward
*differentiable itself*: when autograd is asked for a second derivative
(``create_graph=True``), it records the operations of :func:`srelu_backward`
like any others.  They are shared by the ``autograd.Function``
(:mod:`srelu_lib.torch.function`) and the custom operator
(:mod:`srelu_lib.torch.library`).

The semantics are those of :mod:`srelu_lib.srelu_function`: masks
``in_left = x <= tl`` and ``in_right = x >= tr``; identity plus two hinges, so the region
``tr <= x <= tl`` of crossed thresholds gets both hinges; NaN ``x`` or a NaN
parameter gives NaN; infinities follow IEEE arithmetic; parameter gradients
are summed in float64 and cast to the parameter's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["srelu_forward", "srelu_backward"]


def per_channel(p: torch.Tensor, ndim: int, dim: int) -> torch.Tensor:
    """``p`` shaped to broadcast along dim ``dim >= 0`` of ``ndim`` dims."""
    if p.numel() == 1:
        return p.reshape(())
    shape = [1] * ndim
    shape[dim] = p.numel()
    return p.reshape(shape)


def srelu_forward(
    x: torch.Tensor,
    tl: torch.Tensor,
    al: torch.Tensor,
    tr: torch.Tensor,
    ar: torch.Tensor,
    channel_dim: int,
) -> torch.Tensor:
    """``y = SReLU(x)``, region by region (no checks: see ``srelu``).

    Example:
        >>> import torch
        >>> x = torch.tensor([[-2.0, 0.0, 2.0]])
        >>> tl, al, tr, ar = map(torch.tensor, (-1.0, 0.5, 1.0, 2.0))
        >>> srelu_forward(x, tl, al, tr, ar, channel_dim=0)
        tensor([[-1.5000,  0.0000,  3.0000]])
    """
    dim = channel_dim % x.ndim
    tl, al, tr, ar = (per_channel(p, x.ndim, dim) for p in (tl, al, tr, ar))
    in_left = x <= tl
    in_right = x >= tr
    left = tl + al * (x - tl)
    right = tr + ar * (x - tr)
    y = torch.where(in_right, right, torch.where(in_left, left, x))
    y = torch.where(in_left & in_right, left + right - x, y)  # crossed: both hinges
    bad = tl.isnan() | al.isnan() | tr.isnan() | ar.isnan()
    return torch.where(bad, torch.nan, y)


def srelu_backward(
    dLdY: torch.Tensor,
    x: torch.Tensor,
    tl: torch.Tensor,
    al: torch.Tensor,
    tr: torch.Tensor,
    ar: torch.Tensor,
    channel_dim: int,
    needs_input_grad: Sequence[bool] = (True,) * 5,
) -> tuple[torch.Tensor | None, ...]:
    """``(dLdX, dLdtl, dLdal, dLdtr, dLdar)``, ``None`` where not needed.

    ``needs_input_grad`` holds five flags in input order.  A parameter's
    gradient is summed over every dim but ``channel_dim`` (over all of them
    for a shared parameter) in float64, then cast to its shape and dtype.
    """
    dim = channel_dim % x.ndim
    p = [per_channel(q, x.ndim, dim) for q in (tl, al, tr, ar)]
    tl_, al_, tr_, ar_ = p
    in_left = x <= tl_
    in_right = x >= tr_
    # A local derivative is NaN where x or a parameter is NaN.
    undefined = x.isnan() | tl_.isnan() | al_.isnan() | tr_.isnan()
    undefined = undefined | ar_.isnan()
    other_dims = [d for d in range(x.ndim) if d != dim]

    def times_dLdY(local: torch.Tensor) -> torch.Tensor:
        return dLdY * torch.where(undefined, torch.nan, local)

    def channel_sum(product: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        if q.numel() == 1:
            total = product.sum(dtype=torch.float64)
        elif other_dims:
            total = product.sum(dim=other_dims, dtype=torch.float64)
        else:  # x is 1-D and its only dim holds the channels
            total = product.to(torch.float64)
        return total.reshape(q.shape).to(q.dtype)

    want = [bool(flag) for flag in needs_input_grad]
    dLdX = dLdtl = dLdal = dLdtr = dLdar = None
    if want[0]:
        dYdX = torch.where(in_right, ar_, torch.where(in_left, al_, 1.0))
        dLdX = times_dLdY(torch.where(in_left & in_right, al_ + ar_ - 1, dYdX))
    if want[1]:
        dLdtl = channel_sum(times_dLdY(torch.where(in_left, 1 - al_, 0.0)), tl)
    if want[2]:
        dLdal = channel_sum(times_dLdY(torch.where(in_left, x - tl_, 0.0)), al)
    if want[3]:
        dLdtr = channel_sum(times_dLdY(torch.where(in_right, 1 - ar_, 0.0)), tr)
    if want[4]:
        dLdar = channel_sum(times_dLdY(torch.where(in_right, x - tr_, 0.0)), ar)
    return dLdX, dLdtl, dLdal, dLdtr, dLdar
