"""Loss functions: ``crossentropy`` (classification) and ``mse`` (regression), with MATLAB's definitions.

Both reduce to an unformatted scalar DLArray and are normalised by the number
of observations ``N``, the size of the ``"B"`` dimension (1 without one), as
MATLAB does by default.  Their backward rules are written with srelu_lib
operations, so they differentiate to any order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import DLArray, as_float_array, extractdata
from ..function import DifferentiableFunction
from .conv import _require_formatted
from .elementwise import where
from .math import log

__all__ = ["crossentropy", "mse", "CrossEntropy", "MSE"]


class CrossEntropy(DifferentiableFunction):
    """``L = -sum(T * log(max(Y, tiny))) / N`` with ``N`` the batch size.

    ``tiny`` is the smallest positive normal number of ``Y``'s dtype, so
    ``log`` stays finite for ``Y == 0``.  ``dL/dY = -T / (N * Y)`` where
    ``Y >= tiny`` and 0 where the clip is active (the derivative of what is
    computed); ``dL/dT = -log(max(Y, tiny)) / N``.
    """

    differentiable_backward = True

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
        scale = dLdL.astype(Y.dtype, copy=False) / Y.dtype.type(self.batch_size)
        tiny = np.finfo(Y.dtype).tiny
        clipped = extractdata(Y) < tiny  # the clip is active here: the derivative is 0
        clipping = bool(clipped.any())
        # where the clip acts, divide by `tiny` instead: no division by 0, no 0 * inf in higher derivatives
        Y_safe = where(clipped, tiny, Y) if clipping else Y
        dLdY = dLdT = None
        if compute_gradients[0]:
            dLdY = -T.astype(Y.dtype, copy=False) / Y_safe
            dLdY = (where(clipped, 0, dLdY) if clipping else dLdY) * scale
        if compute_gradients[1]:
            dLdT = (-log(Y_safe) * scale).astype(T.dtype, copy=False)
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


class MSE(DifferentiableFunction):
    """``L = sum((Y - T) ** 2) / (2 N)`` with ``N`` the number of observations.

    ``dL/dY = (Y - T) / N = -dL/dT``.
    """

    differentiable_backward = True

    def __init__(self, num_observations: int) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.num_observations = int(num_observations)

    def forward(self, Y, T):
        D = Y - T.astype(Y.dtype, copy=False)
        return (D * D).sum() / Y.dtype.type(2 * self.num_observations)

    def backward(self, dLdL, compute_gradients, Y, T):
        scale = dLdL.astype(Y.dtype, copy=False) / Y.dtype.type(self.num_observations)
        D = (Y - T.astype(Y.dtype, copy=False)) * scale
        dLdY = D if compute_gradients[0] else None
        dLdT = (-D).astype(T.dtype, copy=False) if compute_gradients[1] else None
        return dLdY, dLdT


def mse(Y: DLArray, targets: Any, *, data_format: str | None = None) -> DLArray:
    """Half mean squared error for regression, as MATLAB's ``mse``.

    ``loss = sum over all elements of (Y - T)**2 / (2 N)``, where ``N`` is the
    number of observations: the size of the ``"B"`` dimension, or 1 without
    one.  This is MATLAB's definition ("half mean squared error"): the sum runs
    over every response of every observation, and only the observation count
    divides, so for ``"CB"`` data with ``C`` responses the loss is ``C / 2``
    times the mean of the squared errors.  ``dloss/dY = (Y - T) / N``.

    Args:
        Y: predictions, a formatted DLArray; or an unformatted DLArray with
            ``data_format`` giving its labels (MATLAB's ``DataFormat``).
        targets: same shape as ``Y``: a DLArray with ``Y``'s format (or
            unformatted), or a NumPy array laid out like ``Y``'s stored data.
        data_format: the format of an unformatted ``Y`` (used only to find
            ``"B"``).

    Returns:
        Unformatted scalar DLArray of ``Y``'s dtype.  The gradient flows to
        ``Y`` and, if it is a traced DLArray, to ``targets``.

    Raises:
        ValueError: ``Y`` is unformatted without ``data_format``; the shapes or
            formats of ``Y`` and ``targets`` differ.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, mse
        >>> Y = dlarray(np.array([[1.0, 2.0], [3.0, 4.0]]), "CB")    # 2 responses, 2 observations
        >>> float(mse(Y, np.zeros((2, 2))))                        # (1 + 4 + 9 + 16) / (2 * 2)
        7.5
    """
    if not isinstance(Y, DLArray):
        raise TypeError(f"mse: Y must be a DLArray; got {type(Y).__name__}")
    fmt = Y.fmt
    if not fmt:
        if data_format is None:
            raise ValueError("mse: Y is unformatted; label it (dlarray(data, 'CB')) or pass data_format='CB'")
        if not isinstance(data_format, str) or len(data_format) != Y.ndim:
            raise ValueError(f"mse: data_format must give one label per dimension of Y {Y.shape}; "
                             f"got {data_format!r}")
        fmt = data_format
    elif data_format is not None and data_format != fmt:
        raise ValueError(f"mse: data_format {data_format!r} contradicts Y's format {fmt!r}")
    if isinstance(targets, DLArray):
        if targets.fmt and Y.fmt and targets.fmt != Y.fmt:
            raise ValueError(f"mse: targets are formatted {targets.fmt!r} but Y is {Y.fmt!r}; they must match")
        T: Any = targets
    else:
        T = as_float_array(targets, name="mse targets")
    if tuple(T.shape) != Y.shape:
        raise ValueError(f"mse: targets have shape {tuple(T.shape)} but Y has shape {Y.shape}; they must match")
    num_observations = Y.shape[fmt.index("B")] if "B" in fmt else 1
    return MSE(num_observations)(Y, T)
