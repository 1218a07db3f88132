"""The book's digit classifier in PyTorch, and exact layout conversions.

:class:`DigitsNet` is the network of :mod:`srelu_lib.digits` written the
usual PyTorch way: ``NCHW`` images, ``nn.Conv2d``,
:class:`~srelu_lib.torch.SReLU` with ``channel_dim=1``, ``flatten`` and
``nn.Linear`` (logits; the softmax lives in ``F.cross_entropy``).  Three
layouts differ from srelu_lib's, and are converted exactly, so that both
libraries compute the same numbers:

- images and feature maps: MATLAB's ``(H, W, C, B)`` against PyTorch's
  ``(B, C, H, W)``;
- the filters: ``(KH, KW, C, F)`` against ``(F, C, KH, KW)``;
- the dense layer's input: srelu_lib's ``fullyconnect`` flattens each
  ``(H, W, C)`` feature map in row-major order, feature ``(h W + w) C + c``;
  ``flatten(1)`` of an ``NCHW`` tensor gives feature ``(c H + h) W + w``.
  The columns of the weight matrix are permuted accordingly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .module import SReLU

__all__ = ["DigitsNet", "images_to_nchw", "train_step"]

SRELU_NAMES = ("tl", "al", "tr", "ar")


def images_to_nchw(X: np.ndarray) -> torch.Tensor:
    """MATLAB-layout images ``(H, W, C, B)`` as a ``(B, C, H, W)`` tensor."""
    # np.array copies: srelu_lib's arrays are read-only, torch tensors are writable.
    return torch.from_numpy(np.array(X.transpose(3, 2, 0, 1), order="C"))


def _tensor(array: Any) -> torch.Tensor:
    return torch.from_numpy(np.array(array, order="C"))  # a writable copy


class DigitsNet(nn.Module):
    """3 x 3 convolution, SReLU, and a dense layer to ``num_classes`` logits.

    Args:
        num_filters: ``F``, the convolution's output channels.
        num_classes: the number of classes.
        image_size: the images' height and width (8 for the digits).
        dtype, device: of every parameter.

    Example:
        >>> import numpy as np, torch
        >>> from srelu_lib.digits import initialize_parameters
        >>> initial = initialize_parameters(np.random.default_rng(0))
        >>> net = DigitsNet.from_srelu_lib(initial)
        >>> net(torch.zeros(5, 1, 8, 8, dtype=torch.float64)).shape
        torch.Size([5, 10])
    """

    def __init__(
        self,
        num_filters: int = 16,
        num_classes: int = 10,
        image_size: int = 8,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        kw: dict[str, Any] = {"dtype": dtype, "device": device}
        self.image_size = image_size
        self.conv = nn.Conv2d(1, num_filters, 3, padding=1, **kw)
        self.srelu = SReLU(num_filters, channel_dim=1, **kw)
        features = image_size * image_size * num_filters
        self.fc = nn.Linear(features, num_classes, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, 1, H, W)``."""
        return self.fc(self.srelu(self.conv(x)).flatten(1))

    @classmethod
    def from_srelu_lib(cls, parameters: dict[str, Any]) -> DigitsNet:
        """A float64 network holding srelu_lib's parameter dict.

        ``parameters`` has the structure of
        :func:`srelu_lib.digits.initialize_parameters`.
        """
        K = np.asarray(parameters["conv"]["weights"])
        W = np.asarray(parameters["fc"]["weights"])
        size = int(round((W.shape[1] / K.shape[3]) ** 0.5))
        net = cls(K.shape[3], W.shape[0], size, dtype=torch.float64)
        net.load_srelu_lib(parameters)
        return net

    @torch.no_grad()
    def load_srelu_lib(self, parameters: dict[str, Any]) -> None:
        """Copy srelu_lib's parameters in, converting the layouts."""
        conv, fc = parameters["conv"], parameters["fc"]
        K = np.asarray(conv["weights"])  # (KH, KW, C, F)
        W = np.asarray(fc["weights"])  # (classes, H*W*F): (h*W + w)*F + f
        F_, S = K.shape[3], self.image_size
        W_nchw = W.reshape(-1, S, S, F_).transpose(0, 3, 1, 2)  # f, h, w
        self.conv.weight.copy_(_tensor(K.transpose(3, 2, 0, 1)))
        self._conv_bias().copy_(_tensor(np.asarray(conv["bias"]).ravel()))
        self.fc.weight.copy_(_tensor(W_nchw.reshape(W.shape[0], -1)))
        self.fc.bias.copy_(_tensor(np.asarray(fc["bias"]).ravel()))
        for name in SRELU_NAMES:
            value = np.asarray(parameters["srelu"][name]).ravel()
            getattr(self.srelu, name).copy_(_tensor(value))

    def _conv_bias(self) -> torch.Tensor:
        bias = self.conv.bias
        assert bias is not None  # built with bias=True
        return bias

    @torch.no_grad()
    def srelu_lib_parameters(self) -> dict[str, dict[str, np.ndarray]]:
        """The parameters in srelu_lib's structure and layouts (copies)."""
        F_, S = self.conv.weight.shape[0], self.image_size

        def array(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().copy()

        W = array(self.fc.weight).reshape(-1, F_, S, S).transpose(0, 2, 3, 1)
        return {
            "conv": {
                "weights": array(self.conv.weight).transpose(2, 3, 1, 0),
                "bias": array(self._conv_bias()),
            },
            "fc": {
                "weights": W.reshape(W.shape[0], -1),
                "bias": array(self.fc.bias),
            },
            "srelu": {
                name: array(getattr(self.srelu, name)) for name in SRELU_NAMES
            },
        }


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    labels: torch.Tensor,
) -> float:
    """One step: mean cross-entropy of ``model(x)``, backward, optimizer step.

    Returns the loss before the step.  ``model`` may be wrapped in
    ``DistributedDataParallel``: its backward then averages the gradients
    over the processes.
    """
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    optimizer.step()
    return loss.item()
