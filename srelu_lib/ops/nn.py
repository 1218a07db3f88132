"""Deep-learning layers as differentiable operations: the building blocks of a small network.

Each operation is a :class:`~srelu_lib.DifferentiableFunction` subclass with its
forward and backward side by side, followed by the MATLAB-named function you
call.  The function checks the format of its input, hands the plain data to
the operation (the framework strips the labels) and labels the result.  The
backward rules are written with srelu_lib operations (:func:`matmul`,
:func:`~srelu_lib.ops.where`, ...), so every layer differentiates to any order.

=====================  =========================  ====================
function               input format               output format
=====================  =========================  ====================
:func:`fullyconnect`   ``S…CB`` (``S`` optional)  ``"CB"``
:func:`relu`           any                        same as input
:func:`leakyrelu`      any                        same as input
:func:`softmax`        any with ``C``             same as input
=====================  =========================  ====================

Convolution is in :mod:`srelu_lib.ops.conv`, the losses in
:mod:`srelu_lib.ops.losses`.  Data are stored in canonical order (``S…, C, B``),
so an image batch is an ``(H, W, C, B)`` array with the batch last, as in MATLAB.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import DLArray, as_float_array, extractdata
from ..function import DifferentiableFunction
from .conv import _require_formatted
from .elementwise import _label, unbroadcast, where

__all__ = [
    "fullyconnect",
    "matmul",
    "relu",
    "leakyrelu",
    "softmax",
    "FullyConnect",
    "MatMul",
    "ReLU",
    "LeakyReLU",
    "Softmax",
]


# --- matrix product and fully connected layer ------------------------------------------------
class MatMul(DifferentiableFunction):
    """``Y = A @ B`` for 2-D ``A`` (m, k) and ``B`` (k, n); ``dL/dA = dL/dY @ B.T``, ``dL/dB = A.T @ dL/dY``."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, A, B):
        if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
            raise ValueError(f"matmul: needs 2-D operands (m, k) and (k, n); got {A.shape} and {B.shape}")
        return A @ B

    def backward(self, dLdY, compute_gradients, A, B):
        dLdA = (dLdY @ B.T).astype(A.dtype, copy=False) if compute_gradients[0] else None
        dLdB = (A.T @ dLdY).astype(B.dtype, copy=False) if compute_gradients[1] else None
        return dLdA, dLdB


def matmul(A: Any, B: Any) -> Any:
    """Matrix product ``A @ B`` of two 2-D arrays (differentiable; the result is unformatted).

    NumPy inputs give NumPy's ``A @ B``; ``X @ W`` on DLArrays calls this.
    """
    if isinstance(A, DLArray) or isinstance(B, DLArray):
        return MatMul()(A, B)
    return np.matmul(A, B)


class FullyConnect(DifferentiableFunction):
    """``Y = W @ flatten(X) + b``: one affine map per batch element.

    ``X`` has shape ``(*S, C, B)``; its first ``ndim - 1`` dimensions are
    flattened, in NumPy's row-major order, into a feature vector of length
    ``prod(S) * C``.  ``W`` is ``(F, features)`` and ``b`` holds ``F`` values.
    """

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, X, W, b):
        dtype = np.result_type(X, W, b)
        features = X.reshape(-1, X.shape[-1])  # (features, B), a view
        return (W.astype(dtype, copy=False) @ features.astype(dtype, copy=False)
                + b.reshape(-1, 1).astype(dtype, copy=False))

    def backward(self, dLdY, compute_gradients, X, W, b):
        dLdX = dLdW = dLdb = None
        # (@, .T, .reshape and .astype work alike on NumPy arrays and on traced DLArrays)
        if compute_gradients[0]:
            dLdX = (W.T @ dLdY).reshape(X.shape).astype(X.dtype, copy=False)
        if compute_gradients[1]:
            features = X.reshape(-1, X.shape[-1])
            dLdW = (dLdY @ features.T).astype(W.dtype, copy=False)
        if compute_gradients[2]:
            dLdb = unbroadcast(dLdY, (b.size, 1), b.dtype).reshape(b.shape)
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
        >>> from srelu_lib import dims, dlarray, fullyconnect
        >>> X = dlarray(np.ones((2, 2, 3, 5)), "SSCB")      # 12 features, 5 observations
        >>> Y = fullyconnect(X, np.ones((4, 12)), np.zeros(4))
        >>> dims(Y), Y.shape, float(Y.sum() / Y.size)
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


# --- activations ------------------------------------------------------------------
def _nan_where(X: Any, G: Any) -> Any:
    """Put NaN into ``G`` wherever ``X`` is NaN (the local derivative is undefined there)."""
    nan = np.isnan(extractdata(X))
    if nan.any():
        G = where(nan, G.dtype.type(np.nan), G)
    return G


class ReLU(DifferentiableFunction):
    """``Y = max(X, 0)``; ``dY/dX`` is 1 for ``X > 0`` and 0 for ``X <= 0`` (0 at the kink)."""

    differentiable_backward = True

    def __init__(self) -> None:
        super().__init__(1, save_outputs_for_backward=True)

    def forward(self, X):
        return np.maximum(X, X.dtype.type(0))  # NaN propagates through np.maximum

    def backward(self, dLdY, compute_gradients, Y):
        # Y > 0 exactly where X > 0, and Y is NaN exactly where X is, so Y suffices.
        return _nan_where(Y, where(Y > 0, dLdY, 0))


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

    differentiable_backward = True

    def __init__(self, scale: float) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.scale = float(scale)

    def _scaled(self, A: Any) -> Any:
        # scale == 0 must give exact zeros, never 0 * inf = NaN.
        return A * A.dtype.type(self.scale) if self.scale != 0 else np.zeros(A.shape, A.dtype)

    def forward(self, X):
        return _nan_where(X, np.where(X > 0, X, self._scaled(X)))

    def backward(self, dLdY, compute_gradients, X):
        return _nan_where(X, where(X > 0, dLdY, self._scaled(dLdY)))


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

    differentiable_backward = True

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


