"""Deep-learning layers as differentiable operations: the building blocks of a small network.

Each operation is a :class:`~srelu_lib.DifferentiableFunction` subclass with its
forward and backward side by side, followed by the MATLAB-named function you
call.  The function checks the format of its input, hands the plain data to
the operation (the framework strips the labels) and labels the result.

=====================  =========================  ====================
function               input format               output format
=====================  =========================  ====================
:func:`fullyconnect`   ``S…CB`` (``S`` optional)  ``"CB"``
:func:`dlconv`         ``"SSCB"``                 ``"SSCB"``
:func:`relu`           any                        same as input
:func:`leakyrelu`      any                        same as input
:func:`softmax`        any with ``C``             same as input
:func:`crossentropy`   any with ``C``             scalar, unformatted
=====================  =========================  ====================

Data are stored in canonical order (``S…, C, B``), so an image batch is an
``(H, W, C, B)`` array with the batch last, as in MATLAB.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import DLArray, as_float_array
from ..function import DifferentiableFunction
from .elementwise import _label, unbroadcast

__all__ = [
    "fullyconnect",
    "dlconv",
    "relu",
    "leakyrelu",
    "softmax",
    "crossentropy",
    "FullyConnect",
    "Conv2D",
    "ReLU",
    "LeakyReLU",
    "Softmax",
    "CrossEntropy",
    "conv_padding",
]


def _require_formatted(X: Any, name: str, function: str) -> DLArray:
    if not isinstance(X, DLArray):
        raise TypeError(f"{function}: {name} must be a formatted DLArray (see dlarray()); got {type(X).__name__}")
    if not X.fmt:
        raise ValueError(f"{function}: {name} must be formatted (e.g. dlarray(data, 'SSCB')); it has no labels")
    return X


def _common_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*arrays)


# --- fully connected ------------------------------------------------------------
class FullyConnect(DifferentiableFunction):
    """``Y = W @ flatten(X) + b``: one affine map per batch element.

    ``X`` has shape ``(*S, C, B)``; its first ``ndim - 1`` dimensions are
    flattened, in NumPy's row-major order, into a feature vector of length
    ``prod(S) * C``.  ``W`` is ``(F, features)`` and ``b`` holds ``F`` values.
    """

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, X, W, b):
        dtype = _common_dtype(X, W, b)
        features = X.reshape(-1, X.shape[-1])  # (features, B), a view
        return (W.astype(dtype, copy=False) @ features.astype(dtype, copy=False)
                + b.reshape(-1, 1).astype(dtype, copy=False))

    def backward(self, dLdY, compute_gradients, X, W, b):
        features = X.reshape(-1, X.shape[-1])
        dLdX = (W.T @ dLdY).reshape(X.shape).astype(X.dtype, copy=False) if compute_gradients[0] else None
        dLdW = (dLdY @ features.T).astype(W.dtype, copy=False) if compute_gradients[1] else None
        dLdb = unbroadcast(dLdY, (b.size, 1), b.dtype).reshape(b.shape) if compute_gradients[2] else None
        return dLdX, dLdW, dLdb


def fullyconnect(X: DLArray, weights: Any, bias: Any) -> DLArray:
    """Fully connected (dense) layer: ``Y = weights @ x + bias`` for every batch element ``x``.

    Use it as the last layers of a network, to map features to class scores.

    All ``S`` and ``C`` dimensions of one observation are flattened into one
    feature vector.  Caveat: the flattening follows the stored (canonical,
    row-major) order ``S…, C``: for ``"SSCB"`` data the feature index is
    ``(h * W + w) * C + c``.  MATLAB flattens column-major, so weights trained
    there must be permuted before use here.

    Args:
        X: formatted DLArray with a ``"C"`` and a ``"B"`` label and optionally
            ``"S"`` labels (``"CB"``, ``"SCB"``, ``"SSCB"``, …).  ``"T"`` and
            ``"U"`` dimensions are not supported.
        weights: ``(F, features)`` array (DLArray or ndarray), MATLAB's
            OutputSize-by-InputSize layout, ``features = prod(S) * C``.
        bias: ``F`` values, shaped ``(F,)`` or ``(F, 1)``.

    Returns:
        ``"CB"`` DLArray of shape ``(F, B)``.  Gradients flow to all three
        inputs; each gradient has its input's shape and dtype.

    Raises:
        TypeError: ``X`` is not a DLArray.
        ValueError: ``X`` lacks ``C`` or ``B`` or carries ``T``/``U``; the
            shapes of ``weights`` or ``bias`` do not fit.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, fullyconnect
        >>> X = dlarray(np.ones((2, 2, 3, 5)), "SSCB")      # 12 features, 5 observations
        >>> Y = fullyconnect(X, np.ones((4, 12)), np.zeros(4))
        >>> Y.fmt, Y.shape, float(Y.sum() / Y.size)
        ('CB', (4, 5), 12.0)
    """
    X = _require_formatted(X, "X", "fullyconnect")
    fmt = X.fmt
    if "C" not in fmt or "B" not in fmt:
        raise ValueError(f"fullyconnect: X must have a 'C' and a 'B' label (e.g. 'CB' or 'SSCB'); got {fmt!r}")
    if set(fmt) - set("SCB"):
        raise ValueError(
            f"fullyconnect: X has format {fmt!r}; only 'S', 'C' and 'B' dimensions are supported "
            f"(move 'T' into 'B' or remove 'U' dimensions first)"
        )
    features = int(np.prod(X.shape[:-1]))
    W = as_float_array(weights, name="fullyconnect weights")
    if W.ndim != 2 or W.shape[1] != features:
        raise ValueError(
            f"fullyconnect: weights must have shape (OutputSize, {features}) for X of format {fmt!r} "
            f"and shape {X.shape} ({features} features per observation); got {W.shape}"
        )
    b = as_float_array(bias, name="fullyconnect bias")
    if b.shape not in ((W.shape[0],), (W.shape[0], 1)):
        raise ValueError(
            f"fullyconnect: bias must have shape ({W.shape[0]},) or ({W.shape[0]}, 1) to match "
            f"weights of shape {W.shape}; got {b.shape}"
        )
    return _label(FullyConnect()(X, weights, bias), "CB")


# --- 2-D convolution --------------------------------------------------------------
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


class Conv2D(DifferentiableFunction):
    """2-D cross-correlation of ``(H, W, C, B)`` data with ``(KH, KW, C, F)`` filters plus a bias.

    ``Y[i, j, f, n] = b[f] + sum_{u, v, c} Xp[i*sh + u, j*sw + v, c, n] * K[u, v, c, f]``
    where ``Xp`` is the zero-padded input.  The forward builds every patch as a
    strided *view* (``sliding_window_view``) and contracts it with the filters
    in one ``tensordot`` (im2col).  The backward computes ``dL/dK`` the same way
    and scatters ``dL/dX`` back with one slice-add per kernel offset (col2im).
    """

    def __init__(self, pads: tuple[int, int, int, int], stride: tuple[int, int]) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.pads = tuple(int(p) for p in pads)
        self.stride = tuple(int(s) for s in stride)

    def _patches(self, X: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
        """Strided view of shape (H', W', C, B, KH, KW): the receptive field of every output pixel."""
        top, bottom, left, right = self.pads
        if any(self.pads):
            X = np.pad(X, ((top, bottom), (left, right), (0, 0), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(X, kernel, axis=(0, 1))
        sh, sw = self.stride
        return windows[::sh, ::sw]

    def forward(self, X, K, b):
        dtype = _common_dtype(X, K, b)
        X, K, b = (a.astype(dtype, copy=False) for a in (X, K, b))
        patches = self._patches(X, K.shape[:2])  # (H', W', C, B, KH, KW)
        Y = np.tensordot(patches, K, axes=([4, 5, 2], [0, 1, 2]))  # (H', W', B, F)
        Y = Y.transpose(0, 1, 3, 2) + b.reshape(1, 1, -1, 1)
        return np.ascontiguousarray(Y)

    def backward(self, dLdY, compute_gradients, X, K, b):
        KH, KW = K.shape[:2]
        dLdX = dLdK = dLdb = None
        if compute_gradients[1]:
            patches = self._patches(X.astype(dLdY.dtype, copy=False), (KH, KW))
            dLdK = np.tensordot(patches, dLdY, axes=([0, 1, 3], [0, 1, 3]))  # (C, KH, KW, F)
            dLdK = dLdK.transpose(1, 2, 0, 3).astype(K.dtype)
        if compute_gradients[2]:
            dLdb = unbroadcast(dLdY, (1, 1, b.size, 1), b.dtype).reshape(b.shape)
        if compute_gradients[0]:
            top, bottom, left, right = self.pads
            sh, sw = self.stride
            Ho, Wo = dLdY.shape[:2]
            H, W = X.shape[:2]
            # dL/d(patch) for every output pixel and kernel offset: (KH, KW, H', W', C, B)
            dLdP = np.einsum("ijfn,uvcf->uvijcn", dLdY, K.astype(dLdY.dtype, copy=False), optimize=True)
            dLdXp = np.zeros((H + top + bottom, W + left + right) + X.shape[2:], dLdY.dtype)
            for u in range(KH):
                for v in range(KW):
                    dLdXp[u : u + sh * (Ho - 1) + 1 : sh, v : v + sw * (Wo - 1) + 1 : sw] += dLdP[u, v]
            dLdX = np.ascontiguousarray(dLdXp[top : top + H, left : left + W]).astype(X.dtype, copy=False)
        return dLdX, dLdK, dLdb


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
        >>> from srelu_lib import dlarray, dlconv
        >>> X = dlarray(np.ones((8, 8, 1, 2)), "SSCB")
        >>> Y = dlconv(X, np.ones((3, 3, 1, 4)), np.zeros(4))
        >>> Y.fmt, Y.shape, float(Y[3, 3, 0, 0]), float(Y[0, 0, 0, 0])
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


# --- activations ------------------------------------------------------------------
def _nan_where(X: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Put NaN into ``G`` wherever ``X`` is NaN (the local derivative is undefined there)."""
    nan = np.isnan(X)
    if nan.any():
        G = np.where(nan, np.array(np.nan, G.dtype), G)
    return G


class ReLU(DifferentiableFunction):
    """``Y = max(X, 0)``; ``dY/dX`` is 1 for ``X > 0`` and 0 for ``X <= 0`` (0 at the kink)."""

    def __init__(self) -> None:
        super().__init__(1, save_outputs_for_backward=True)

    def forward(self, X):
        return np.maximum(X, X.dtype.type(0))  # NaN propagates through np.maximum

    def backward(self, dLdY, compute_gradients, Y):
        # Y > 0 exactly where X > 0, and Y is NaN exactly where X is, so Y suffices.
        return _nan_where(Y, np.where(Y > 0, dLdY, dLdY.dtype.type(0)))


def relu(X: DLArray) -> DLArray:
    """Rectified linear unit, ``max(x, 0)`` elementwise.

    Use it as the default activation between layers.

    Caveat: at ``x == 0`` the derivative is taken as 0 (the left one).  A NaN
    input gives a NaN output and a NaN gradient; ``-inf`` maps to 0.

    Args:
        X: DLArray, formatted or not.

    Returns:
        DLArray of the same shape, dtype and format.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, relu
        >>> relu(dlarray(np.array([-1.0, 0.0, 2.0]), "C"))
        DLArray([0., 0., 2.], fmt='C', dtype=float64)
    """
    if not isinstance(X, DLArray):
        raise TypeError(f"relu: X must be a DLArray; got {type(X).__name__}")
    return _label(ReLU()(X), X.fmt)


class LeakyReLU(DifferentiableFunction):
    """``Y = X`` for ``X > 0`` and ``scale * X`` otherwise; ``dY/dX`` is 1 or ``scale`` (``scale`` at 0)."""

    def __init__(self, scale: float) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.scale = float(scale)

    def _scaled(self, A: np.ndarray) -> np.ndarray:
        # scale == 0 must give exact zeros, never 0 * inf = NaN.
        return A * A.dtype.type(self.scale) if self.scale != 0 else np.zeros_like(A)

    def forward(self, X):
        return _nan_where(X, np.where(X > 0, X, self._scaled(X)))

    def backward(self, dLdY, compute_gradients, X):
        return _nan_where(X, np.where(X > 0, dLdY, self._scaled(dLdY)))


def leakyrelu(X: DLArray, scale: float = 0.01) -> DLArray:
    """Leaky rectified linear unit: ``x`` for ``x > 0``, ``scale * x`` otherwise.

    Use it instead of :func:`relu` when units should keep a small gradient for
    negative inputs.

    Caveat: at ``x == 0`` the derivative is taken as ``scale``.  NaN
    propagates to the output and the gradient.

    Args:
        X: DLArray, formatted or not.
        scale: finite real scalar, the slope for ``x <= 0`` (MATLAB's default 0.01).

    Returns:
        DLArray of the same shape, dtype and format.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, leakyrelu
        >>> leakyrelu(dlarray(np.array([-2.0, 3.0])), scale=0.5)
        DLArray([-1.,  3.], dtype=float64)
    """
    if not isinstance(X, DLArray):
        raise TypeError(f"leakyrelu: X must be a DLArray; got {type(X).__name__}")
    if isinstance(scale, (bool, DLArray)) or np.ndim(scale) != 0 or not np.isfinite(scale):
        raise ValueError(f"leakyrelu: scale must be a finite real scalar; got {scale!r}")
    return _label(LeakyReLU(float(scale))(X), X.fmt)


class Softmax(DifferentiableFunction):
    """``Y = exp(X) / sum(exp(X))`` along one axis, computed as ``exp(X - max X)`` for stability.

    Backward (with the saved output): ``dL/dX = Y * (dL/dY - sum(dL/dY * Y))``.
    """

    def __init__(self, axis: int) -> None:
        super().__init__(1, save_outputs_for_backward=True)
        self.axis = int(axis)

    def forward(self, X):
        E = np.exp(X - X.max(axis=self.axis, keepdims=True))
        E /= E.sum(axis=self.axis, keepdims=True)
        return E

    def backward(self, dLdY, compute_gradients, Y):
        return Y * (dLdY - (dLdY * Y).sum(axis=self.axis, keepdims=True))


def softmax(X: DLArray) -> DLArray:
    """Softmax over the channel dimension: turns class scores into probabilities.

    Use it after the last :func:`fullyconnect` of a classifier, before
    :func:`crossentropy`.

    Caveat: computed as ``exp(x - max(x))`` so large scores do not overflow; a
    NaN (or ``+inf``) score makes its whole column NaN.

    Args:
        X: formatted DLArray with a ``"C"`` label.

    Returns:
        DLArray of the same shape, dtype and format, positive and summing to 1
        along ``C``.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, softmax
        >>> P = softmax(dlarray(np.array([[1.0, 0.0], [1.0, 1000.0]]), "CB"))
        >>> np.round(np.asarray(P), 3)
        array([[0.5, 0. ],
               [0.5, 1. ]])
    """
    X = _require_formatted(X, "X", "softmax")
    if "C" not in X.fmt:
        raise ValueError(f"softmax: X must have a 'C' (channel) label to normalize over; got format {X.fmt!r}")
    return _label(Softmax(X.fmt.index("C"))(X), X.fmt)


class CrossEntropy(DifferentiableFunction):
    """``L = -sum(T * log(max(Y, tiny))) / N`` with ``N`` the batch size.

    ``tiny`` is the smallest positive normal number of ``Y``'s dtype, so
    ``log`` stays finite for ``Y == 0``.  ``dL/dY = -T / (N * Y)`` where
    ``Y >= tiny`` and 0 where the clip is active (the derivative of what is
    computed); ``dL/dT = -log(max(Y, tiny)) / N``.
    """

    def __init__(self, batch_size: int) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.batch_size = int(batch_size)

    @staticmethod
    def _log(Y: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(Y, np.finfo(Y.dtype).tiny))

    def forward(self, Y, T):
        T = T.astype(Y.dtype, copy=False)
        return -(T * self._log(Y)).sum() / Y.dtype.type(self.batch_size)

    def backward(self, dLdL, compute_gradients, Y, T):
        scale = dLdL.astype(Y.dtype) / Y.dtype.type(self.batch_size)
        dLdY = dLdT = None
        if compute_gradients[0]:
            clipped = Y < np.finfo(Y.dtype).tiny
            with np.errstate(divide="ignore", invalid="ignore"):
                dLdY = np.where(clipped, Y.dtype.type(0), -T.astype(Y.dtype, copy=False) / Y) * scale
        if compute_gradients[1]:
            dLdT = (-self._log(Y) * scale).astype(T.dtype, copy=False)
        return dLdY, dLdT


def crossentropy(Y: DLArray, T: Any) -> DLArray:
    """Cross-entropy loss for classification, averaged over the batch (MATLAB's default).

    Use it on the output of :func:`softmax` with one-hot targets.

    ``loss = -(1/N) * sum over all elements of T * log(Y)``, where ``N`` is the
    size of the ``"B"`` dimension (1 without one).  Caveat: ``Y`` is clipped
    below at the smallest positive normal number of its dtype (``2.2e-308`` in
    float64, ``1.2e-38`` in float32) before the log, so ``Y == 0`` gives a large
    finite loss instead of ``inf``; the gradient is zero where the clip acts.

    Args:
        Y: formatted DLArray of probabilities with a ``"C"`` label (e.g. ``"CB"``).
        T: targets of the same shape as ``Y`` (one-hot, or any probability
            vectors): an ndarray laid out like ``Y``'s stored data, or a
            DLArray with the same format (or unformatted, with the same shape).

    Returns:
        Unformatted scalar DLArray (shape ``()``) of ``Y``'s dtype.  The
        gradient flows to ``Y`` and, if it is traced, to ``T``.

    Raises:
        ValueError: ``Y`` has no ``"C"`` label; ``T``'s shape or format differs from ``Y``'s.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import crossentropy, dlarray
        >>> Y = dlarray(np.array([[0.5, 0.25], [0.5, 0.75]]), "CB")
        >>> T = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> loss = crossentropy(Y, T)                  # -(log 0.5 + log 0.75) / 2
        >>> loss.shape, round(float(loss), 6)
        ((), 0.490415)
    """
    Y = _require_formatted(Y, "Y", "crossentropy")
    if "C" not in Y.fmt:
        raise ValueError(f"crossentropy: Y must have a 'C' (channel) label; got format {Y.fmt!r}")
    if isinstance(T, DLArray):
        if T.fmt and T.fmt != Y.fmt:
            raise ValueError(
                f"crossentropy: targets T are formatted {T.fmt!r} but predictions Y are {Y.fmt!r}; "
                f"they must have the same format"
            )
        targets: Any = T
    else:
        targets = as_float_array(T, name="crossentropy targets T").astype(Y.dtype, copy=False)
    if tuple(targets.shape) != Y.shape:
        raise ValueError(
            f"crossentropy: targets T have shape {tuple(targets.shape)} but predictions Y have shape {Y.shape} "
            f"(format {Y.fmt!r}); they must match"
        )
    batch_size = Y.shape[Y.fmt.index("B")] if "B" in Y.fmt else 1
    return CrossEntropy(batch_size)(Y, targets)
