"""2-D convolution (cross-correlation) as three mutually adjoint differentiable operations.

``dlconv`` is :class:`Conv2D`.  Its backward needs two more bilinear maps,
and each of the three is the other two's derivative:

- :class:`Conv2D` computes ``Y = conv(X, K) + b``; its backward calls
  :func:`conv_grad_input` and :func:`conv_grad_kernel`;
- :class:`ConvGradInput` computes ``dL/dX`` from ``dL/dY`` and ``K``; its
  backward calls ``conv`` (without bias) and :func:`conv_grad_kernel`;
- :class:`ConvGradKernel` computes ``dL/dK`` from ``X`` and ``dL/dY``; its
  backward calls :func:`conv_grad_input` and ``conv`` (without bias).

So convolutions differentiate to any order.  The functions
:func:`conv_grad_input` and :func:`conv_grad_kernel` compute with NumPy on NumPy
arrays (what an ordinary reverse sweep does) and record on DLArrays.

The forward builds every receptive field as a strided *view*
(``sliding_window_view``) and contracts it with the filters in one
``tensordot`` (im2col); ``dL/dX`` scatters back with one slice-add per kernel
offset (col2im).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import DLArray, as_float_array
from ..function import DifferentiableFunction
from .elementwise import _label, cast, unbroadcast

__all__ = ["dlconv", "conv_padding", "conv_grad_input", "conv_grad_kernel", "Conv2D", "ConvGradInput",
           "ConvGradKernel"]


def _require_formatted(X: Any, name: str, function: str) -> DLArray:
    if not isinstance(X, DLArray):
        raise TypeError(f"{function}: {name} must be a formatted DLArray (see dlarray()); got {type(X).__name__}")
    if not X.fmt:
        raise ValueError(f"{function}: {name} must be formatted (e.g. dlarray(data, 'SSCB')); it has no labels")
    return X


# --- padding -----------------------------------------------------------------------------------
def _pair(value: Any, name: str) -> tuple[int, int]:
    values = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"dlconv: {name} must be an int or a pair of ints; got {value!r}")
    return int(values[0]), int(values[1])


def conv_padding(
    input_size: tuple[int, int],
    kernel_size: tuple[int, int],
    padding: Any = "same",
    stride: Any = 1,
) -> tuple[int, int, int, int]:
    """Resolve a padding specification to ``(top, bottom, left, right)`` pad widths.

    ``"same"`` pads so that the output has ``ceil(input / stride)`` rows and
    columns (the input size for stride 1), splitting the total padding evenly
    and putting the odd extra row or column at the bottom or right, as MATLAB
    does.  ``"valid"`` is no padding; an int pads all four sides; ``(ph, pw)``
    pads top and bottom by ``ph``, left and right by ``pw``; a 4-tuple is
    ``(top, bottom, left, right)``.

    Example:
        >>> conv_padding((8, 8), (3, 3)), conv_padding((8, 8), (2, 2)), conv_padding((8, 8), (3, 3), 1)
        ((1, 1, 1, 1), (0, 1, 0, 1), (1, 1, 1, 1))
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"dlconv: padding must be 'same', 'valid', an int or a tuple of ints; got {padding!r}")
        sh, sw = _pair(stride, "stride")
        pads = []
        for n, k, s in zip(input_size, kernel_size, (sh, sw), strict=True):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)  # type: ignore[return-value]
    values = (padding,) if np.ndim(padding) == 0 else tuple(padding)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError(f"dlconv: padding must hold non-negative ints; got {padding!r}")
    if len(values) == 1:
        return (int(values[0]),) * 4
    if len(values) == 2:
        return (int(values[0]), int(values[0]), int(values[1]), int(values[1]))
    if len(values) == 4:
        return tuple(int(v) for v in values)  # type: ignore[return-value]
    raise ValueError(f"dlconv: padding tuple must have 2 or 4 entries; got {padding!r}")



# --- the arithmetic on NumPy arrays ---------------------------------------------------------
Pads = tuple[int, int, int, int]
Stride = tuple[int, int]


def _patches(X: np.ndarray, kernel: tuple[int, int], pads: Pads, stride: Stride) -> np.ndarray:
    """Strided view of shape (H', W', C, B, KH, KW): the receptive field of every output pixel."""
    top, bottom, left, right = pads
    if any(pads):
        X = np.pad(X, ((top, bottom), (left, right), (0, 0), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(X, kernel, axis=(0, 1))
    return windows[:: stride[0], :: stride[1]]


def _conv(X: np.ndarray, K: np.ndarray, pads: Pads, stride: Stride) -> np.ndarray:
    """``conv(X, K)`` of (H, W, C, B) data with (KH, KW, C, F) filters: (H', W', F, B)."""
    patches = _patches(X, K.shape[:2], pads, stride)  # (H', W', C, B, KH, KW)
    Y = np.tensordot(patches, K, axes=([4, 5, 2], [0, 1, 2]))  # (H', W', B, F)
    return Y.transpose(0, 1, 3, 2)


def _grad_kernel(X: np.ndarray, dY: np.ndarray, kernel: tuple[int, int], pads: Pads, stride: Stride) -> np.ndarray:
    """``dL/dK`` (KH, KW, C, F) of ``conv`` for input ``X`` and output gradient ``dY``."""
    patches = _patches(X, kernel, pads, stride)
    dK = np.tensordot(patches, dY, axes=([0, 1, 3], [0, 1, 3]))  # (C, KH, KW, F)
    return np.ascontiguousarray(dK.transpose(1, 2, 0, 3))


def _grad_input(dY: np.ndarray, K: np.ndarray, size: tuple[int, int], pads: Pads, stride: Stride) -> np.ndarray:
    """``dL/dX`` (H, W, C, B) of ``conv`` for output gradient ``dY`` and filters ``K``; ``size`` = (H, W)."""
    KH, KW = K.shape[:2]
    top, bottom, left, right = pads
    sh, sw = stride
    Ho, Wo = dY.shape[:2]
    H, W = size
    # dL/d(patch) for every output pixel and kernel offset: (KH, KW, H', W', C, B)
    dP = np.einsum("ijfn,uvcf->uvijcn", dY, K, optimize=True)
    dXp = np.zeros((H + top + bottom, W + left + right, K.shape[2], dY.shape[3]), dP.dtype)
    for u in range(KH):
        for v in range(KW):
            dXp[u : u + sh * (Ho - 1) + 1 : sh, v : v + sw * (Wo - 1) + 1 : sw] += dP[u, v]
    return np.ascontiguousarray(dXp[top : top + H, left : left + W])


def _common(*arrays: Any) -> np.dtype:
    return np.result_type(*(a.dtype for a in arrays))


# --- the operations -----------------------------------------------------------------------------
class Conv2D(DifferentiableFunction):
    """2-D cross-correlation of ``(H, W, C, B)`` data with ``(KH, KW, C, F)`` filters plus a bias.

    ``Y[i, j, f, n] = b[f] + sum_{u, v, c} Xp[i*sh + u, j*sw + v, c, n] * K[u, v, c, f]``
    where ``Xp`` is the zero-padded input.
    """

    differentiable_backward = True

    def __init__(self, pads: tuple[int, int, int, int], stride: tuple[int, int]) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.pads: Pads = tuple(int(p) for p in pads)  # type: ignore[assignment]
        self.stride: Stride = tuple(int(s) for s in stride)  # type: ignore[assignment]

    def forward(self, X, K, b):
        dtype = _common(X, K, b)
        X, K, b = (a.astype(dtype, copy=False) for a in (X, K, b))
        return np.ascontiguousarray(_conv(X, K, self.pads, self.stride) + b.reshape(1, 1, -1, 1))

    def backward(self, dLdY, compute_gradients, X, K, b):
        dLdX = dLdK = dLdb = None
        if compute_gradients[0]:
            dLdX = conv_grad_input(dLdY, K, X.shape[:2], self.pads, self.stride, X.dtype)
        if compute_gradients[1]:
            dLdK = conv_grad_kernel(X, dLdY, K.shape[:2], self.pads, self.stride, K.dtype)
        if compute_gradients[2]:
            dLdb = unbroadcast(dLdY, (1, 1, b.size, 1), b.dtype).reshape(b.shape)
        return dLdX, dLdK, dLdb


class ConvGradInput(DifferentiableFunction):
    """``dL/dX`` of :class:`Conv2D` from ``dL/dY`` and the filters ``K`` (linear in each)."""

    differentiable_backward = True

    def __init__(self, size: tuple[int, int], pads: tuple[int, int, int, int], stride: tuple[int, int]) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.pads, self.stride = pads, stride

    def forward(self, dY, K):
        dtype = _common(dY, K)
        return _grad_input(dY.astype(dtype, copy=False), K.astype(dtype, copy=False), self.size, self.pads,
                           self.stride)

    def backward(self, G, compute_gradients, dY, K):
        d_dY = _conv_nobias(G, K, self.pads, self.stride, dY.dtype) if compute_gradients[0] else None
        dK = conv_grad_kernel(G, dY, K.shape[:2], self.pads, self.stride, K.dtype) if compute_gradients[1] else None
        return d_dY, dK


class ConvGradKernel(DifferentiableFunction):
    """``dL/dK`` of :class:`Conv2D` from the input ``X`` and ``dL/dY`` (linear in each)."""

    differentiable_backward = True

    def __init__(self, kernel: tuple[int, int], pads: tuple[int, int, int, int], stride: tuple[int, int]) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.kernel: tuple[int, int] = (int(kernel[0]), int(kernel[1]))
        self.pads, self.stride = pads, stride

    def forward(self, X, dY):
        dtype = _common(X, dY)
        return _grad_kernel(X.astype(dtype, copy=False), dY.astype(dtype, copy=False), self.kernel, self.pads,
                            self.stride)

    def backward(self, G, compute_gradients, X, dY):
        dX = conv_grad_input(dY, G, X.shape[:2], self.pads, self.stride, X.dtype) if compute_gradients[0] else None
        d_dY = _conv_nobias(X, G, self.pads, self.stride, dY.dtype) if compute_gradients[1] else None
        return dX, d_dY


def _conv_nobias(X: Any, K: Any, pads: Pads, stride: Stride, dtype: np.dtype) -> Any:
    if isinstance(X, DLArray) or isinstance(K, DLArray):
        Y = Conv2D(pads, stride)(X, K, np.zeros(K.shape[3], _common(X, K)))
        return cast(Y, dtype)
    dt = _common(X, K)
    return _conv(X.astype(dt, copy=False), K.astype(dt, copy=False), pads, stride).astype(dtype, copy=False)


def conv_grad_input(
    dY: Any, K: Any, size: tuple[int, int], pads: tuple[int, int, int, int], stride: tuple[int, int], dtype: Any
) -> Any:
    """``dL/dX`` (shape ``(*size, C, B)``, ``dtype``) of a convolution, from ``dL/dY`` and the filters.

    NumPy arrays in, a NumPy array out; a DLArray input records
    :class:`~srelu_lib.ops.conv.ConvGradInput` (differentiable).
    """
    if isinstance(dY, DLArray) or isinstance(K, DLArray):
        return cast(ConvGradInput(size, pads, stride)(dY, K), dtype)
    dt = _common(dY, K)
    out = _grad_input(dY.astype(dt, copy=False), K.astype(dt, copy=False), (int(size[0]), int(size[1])), pads,
                      stride)
    return out.astype(dtype, copy=False)


def conv_grad_kernel(
    X: Any, dY: Any, kernel: tuple[int, int], pads: tuple[int, int, int, int], stride: tuple[int, int], dtype: Any
) -> Any:
    """``dL/dK`` (shape ``(*kernel, C, F)``, ``dtype``) of a convolution, from its input and ``dL/dY``.

    NumPy arrays in, a NumPy array out; a DLArray input records
    :class:`~srelu_lib.ops.conv.ConvGradKernel` (differentiable).
    """
    if isinstance(X, DLArray) or isinstance(dY, DLArray):
        return cast(ConvGradKernel(kernel, pads, stride)(X, dY), dtype)
    dt = _common(X, dY)
    out = _grad_kernel(X.astype(dt, copy=False), dY.astype(dt, copy=False), (int(kernel[0]), int(kernel[1])), pads,
                       stride)
    return out.astype(dtype, copy=False)


# --- the function a model calls ----------------------------------------------------------------
def dlconv(
    X: DLArray,
    weights: Any,
    bias: Any,
    padding: str | int | tuple[int, ...] = "same",
    stride: int | tuple[int, int] = 1,
) -> DLArray:
    """2-D convolution layer (cross-correlation, as deep-learning frameworks define it).

    Use it for image data: each of ``F`` filters slides over the image and
    produces one output channel.

    Caveat: like every deep-learning "convolution" the kernel is not flipped,
    and only 2-D convolution without dilation or groups is implemented.

    Args:
        X: ``"SSCB"`` DLArray of shape ``(H, W, C, B)``.
        weights: ``(KH, KW, C, F)`` filters (DLArray or ndarray).
        bias: ``F`` values (any shape with ``F`` elements, e.g. ``(F,)``).
        padding: ``"same"`` (output ``ceil(H / sh)`` by ``ceil(W / sw)``; the
            odd extra row/column of padding goes to the bottom/right, as in
            MATLAB), ``"valid"`` (no padding), an int, ``(ph, pw)``, or
            ``(top, bottom, left, right)``.  Padding values are zeros.
        stride: an int or ``(sh, sw)``, each >= 1.

    Returns:
        ``"SSCB"`` DLArray of shape ``(H', W', F, B)`` with
        ``H' = (H + top + bottom - KH) // sh + 1`` (likewise ``W'``).
        Gradients flow to ``X``, ``weights`` and ``bias``.

    Raises:
        TypeError: ``X`` is not a DLArray.
        ValueError: ``X`` is not ``"SSCB"``; ``weights``/``bias`` shapes do not
            fit; invalid padding or stride; kernel larger than the padded input.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dims, dlarray, dlconv
        >>> X = dlarray(np.ones((8, 8, 1, 2)), "SSCB")
        >>> Y = dlconv(X, np.ones((3, 3, 1, 4)), np.zeros(4))
        >>> dims(Y), Y.shape, float(Y[3, 3, 0, 0]), float(Y[0, 0, 0, 0])
        ('SSCB', (8, 8, 4, 2), 9.0, 4.0)
    """
    X = _require_formatted(X, "X", "dlconv")
    if X.fmt != "SSCB":
        raise ValueError(f"dlconv: X must be formatted 'SSCB' (height, width, channel, batch); got {X.fmt!r}")
    K = as_float_array(weights, name="dlconv weights")
    C = X.shape[2]
    if K.ndim != 4 or K.shape[2] != C:
        raise ValueError(
            f"dlconv: weights must have shape (KH, KW, {C}, NumFilters) for X with {C} channel(s); got {K.shape}"
        )
    b = as_float_array(bias, name="dlconv bias")
    if b.size != K.shape[3] or (b.ndim > 0 and max(b.shape) != b.size):
        raise ValueError(
            f"dlconv: bias must hold one value per filter ({K.shape[3]}), e.g. shape ({K.shape[3]},); got {b.shape}"
        )
    stride = _pair(stride, "stride")
    if min(stride) < 1:
        raise ValueError(f"dlconv: stride must be >= 1; got {stride}")
    pads = conv_padding((X.shape[0], X.shape[1]), (K.shape[0], K.shape[1]), padding, stride)
    Hp, Wp = X.shape[0] + pads[0] + pads[1], X.shape[1] + pads[2] + pads[3]
    if K.shape[0] > Hp or K.shape[1] > Wp:
        raise ValueError(
            f"dlconv: kernel {K.shape[:2]} is larger than the padded input ({Hp}, {Wp}); "
            f"use more padding or a smaller kernel"
        )
    return _label(Conv2D(pads, stride)(X, weights, bias), "SSCB")


