"""``SReLU``: the PyTorch layer, with learnable per-channel parameters."""

from __future__ import annotations

import math

import torch
from torch import nn

from .function import srelu

__all__ = ["SReLU"]


class SReLU(nn.Module):
    r"""S-shaped rectified linear unit with learnable ``tl, al, tr, ar`` (C,).

    ``y = x + (al - 1) min(x - tl, 0) + (ar - 1) max(x - tr, 0)`` per
    channel (:func:`srelu_lib.torch.srelu`).

    **Initialisation.**  By default every channel starts as exactly ReLU on
    ``x < 1``: ``tl = 0, al = 0, tr = 1, ar = 1``, the choice of the book's
    training chapter (the right hinge is invisible while ``ar = 1``, and
    ``tr = 1`` lies inside the range of the first layer's outputs, so ``ar``
    and then ``tr`` get gradients from the first step).  Pass other starting
    values as ``tl, al, tr, ar``.  Jin et al.'s recipe (AAAI 2016) starts as
    a leaky ReLU (``al = 0.2`` say, ``ar = 1``), keeps the layer frozen for
    the first epochs (``layer.requires_grad_(False)``) and then places ``tr``
    at a high quantile of each channel's inputs: :meth:`init_right_threshold`.

    Args:
        num_channels: ``C``, the size of ``x``'s channel dimension.
        channel_dim: the channel dimension of the inputs: 1 for ``NCHW`` or
            ``(N, C)``, -1 for channels-last.
        tl, al, tr, ar: starting values, the same for every channel.
        device, dtype: of the parameters (they must match the inputs').

    Example:
        >>> import torch
        >>> from srelu_lib.torch import SReLU
        >>> layer = SReLU(3, dtype=torch.float64)
        >>> layer
        SReLU(3, channel_dim=1)
        >>> x = torch.tensor([[-1.0, 0.5, 2.0]], dtype=torch.float64)
        >>> layer(x).detach()
        tensor([[0.0000, 0.5000, 2.0000]], dtype=torch.float64)
    """

    def __init__(
        self,
        num_channels: int,
        channel_dim: int = 1,
        *,
        tl: float = 0.0,
        al: float = 0.0,
        tr: float = 1.0,
        ar: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if (
            isinstance(num_channels, bool)
            or not isinstance(num_channels, int)
            or num_channels < 1
        ):
            raise ValueError(
                "SReLU: num_channels must be a positive int; "
                f"got {num_channels!r}"
            )
        if isinstance(channel_dim, bool) or not isinstance(channel_dim, int):
            raise TypeError(
                "SReLU: channel_dim must be an int; "
                f"got {type(channel_dim).__name__}"
            )
        self.num_channels = num_channels
        self.channel_dim = channel_dim
        self.initial = {"tl": tl, "al": al, "tr": tr, "ar": ar}
        for name, value in self.initial.items():
            if math.isnan(value):
                raise ValueError(f"SReLU: the starting value {name} is NaN")

        def parameter() -> nn.Parameter:
            empty = torch.empty(num_channels, device=device, dtype=dtype)
            return nn.Parameter(empty)

        self.tl, self.al, self.tr, self.ar = (parameter() for _ in range(4))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set every channel's parameters to the constructor's values."""
        with torch.no_grad():
            for name, value in self.initial.items():
                getattr(self, name).fill_(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``SReLU(x)``; ``x`` has ``num_channels`` along ``channel_dim``."""
        dim, C = self.channel_dim, self.num_channels
        if isinstance(x, torch.Tensor) and -x.ndim <= dim < x.ndim:
            if x.shape[dim] != C:
                raise ValueError(
                    f"SReLU({C}, channel_dim={dim}): x must have {C} "
                    f"channels along dim {dim}; got shape {tuple(x.shape)}"
                )
        return srelu(x, self.tl, self.al, self.tr, self.ar, dim)

    @torch.no_grad()
    def init_right_threshold(
        self, x: torch.Tensor, quantile: float = 0.9
    ) -> torch.Tensor:
        """Set each channel's ``tr`` to a quantile of its inputs (Jin et al.).

        Use it after a few epochs with the layer frozen, on the inputs the
        layer receives (e.g. the previous layer's outputs on the training
        set).  Quantiles are interpolated linearly, as ``numpy.quantile``
        does.  Returns the new ``tr``.
        """
        dim, C = self.channel_dim, self.num_channels
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(
                "SReLU.init_right_threshold: quantile must lie in [0, 1]; "
                f"got {quantile!r}"
            )
        if not -x.ndim <= dim < x.ndim or x.shape[dim] != C:
            raise ValueError(
                f"SReLU.init_right_threshold: x must have {C} channels "
                f"along channel_dim={dim}; got shape {tuple(x.shape)}"
            )
        rows = x.detach().movedim(dim, 0).reshape(C, -1).to(self.tr.dtype)
        ordered = rows.sort(dim=1).values
        position = quantile * (ordered.shape[1] - 1)
        below = math.floor(position)
        above = min(below + 1, ordered.shape[1] - 1)
        low, high = ordered[:, below], ordered[:, above]
        self.tr.copy_(low + (position - below) * (high - low))
        return self.tr.detach().clone()

    def extra_repr(self) -> str:
        return f"{self.num_channels}, channel_dim={self.channel_dim}"
