"""SReLU's arithmetic on plain NumPy arrays: the kernels and the choice between them.

:class:`~srelu_lib.SReLUFunction` calls :func:`srelu_forward` and
:func:`srelu_backward`; they dispatch to one of the registered kernels, which
share one contract and compute the same values up to float rounding:

- ``"reference"``: :mod:`srelu_lib.kernels.reference`, the straightforward
  region-by-region definition the others are tested against;
- ``"numpy"``: :mod:`srelu_lib.kernels.numpy_blocked`, blocked and mask-free;
- ``"numba"``: :mod:`srelu_lib.kernels.numba_fused`, one fused pass (needs numba).

``"auto"`` (the default) takes numba when it is installed.  Choose with
:func:`~srelu_lib.kernels.backends.set_backend` (process-wide, or as a ``with``
block), :func:`~srelu_lib.kernels.backends.use_backend` (the calling thread
only) or the environment variable ``SRELU_LIB_BACKEND``.

How the package is laid out, one idea per module:

- :mod:`~srelu_lib.kernels.formulas`: the region formulas, written once;
- :mod:`~srelu_lib.kernels.args`: the arguments checked and normalised, the NaN-channel mask;
- :mod:`~srelu_lib.kernels.reference`, :mod:`~srelu_lib.kernels.numpy_blocked` (with
  :mod:`~srelu_lib.kernels.blocks` and :mod:`~srelu_lib.kernels.threads`),
  :mod:`~srelu_lib.kernels.numba_fused`: the kernels;
- :mod:`~srelu_lib.kernels.backends`: the registry of kernels and the choice between them;
- :mod:`~srelu_lib.kernels.literal`: the reference page's literal formula, a benchmark baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .backends import (
    Backend,
    backend_for,
    backend_names,
    get_backend,
    register_backend,
    registered_backends,
    set_backend,
    use_backend,
)
from .reference import srelu_backward_reference, srelu_forward_reference
from .threads import default_workers

__all__ = [
    "srelu_forward",
    "srelu_backward",
    "srelu_forward_reference",
    "srelu_backward_reference",
    "set_backend",
    "use_backend",
    "get_backend",
    "backend_names",
    "register_backend",
    "registered_backends",
    "Backend",
    "default_workers",
]


def srelu_forward(
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int,
) -> np.ndarray:
    """SReLU of a plain array, with the chosen kernel (what :class:`SReLUFunction` calls).

    The kernel is the one :func:`~srelu_lib.kernels.backends.set_backend` chose.

    Same contract and values (up to float rounding) as
    :func:`~srelu_lib.kernels.reference.srelu_forward_reference`.

    Example:
        >>> import numpy as np
        >>> X = np.array([[-2.0, 0.0, 2.0], [-2.0, 0.0, 2.0]])   # (C=2, B=3)
        >>> srelu_forward(X, np.array([-1.0, -1.0]), 0.5, 1.0, np.array([2.0, 3.0]), channel_axis=0)
        array([[-1.5,  0. ,  3. ],
               [-1.5,  0. ,  4. ]])
    """
    X = np.asarray(X)
    forward, _ = backend_for(X).functions()
    return forward(X, tl, al, tr, ar, channel_axis)


def srelu_backward(
    dLdY: np.ndarray,
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int,
    compute_gradients: Sequence[bool],
) -> tuple[np.ndarray | None, ...]:
    """Gradients of the loss with respect to the five SReLU inputs, with the chosen kernel.

    The kernel is the one :func:`~srelu_lib.kernels.backends.set_backend` chose.

    Same contract and values (up to float rounding) as
    :func:`~srelu_lib.kernels.reference.srelu_backward_reference`: ``(dLdX, dLdtl, dLdal, dLdtr, dLdar)`` in
    input order, ``None`` where ``compute_gradients`` is false.

    Example:
        >>> import numpy as np
        >>> X = np.array([[-2.0, 0.0, 2.0]])                    # (C=1, B=3)
        >>> dX, dtl, dal, dtr, dar = srelu_backward(np.ones_like(X), X, -1.0, 0.5, 1.0, 2.0, 0, [True] * 5)
        >>> dX, float(dtl), float(dal), float(dtr), float(dar)
        (array([[0.5, 1. , 2. ]]), 0.5, -1.0, -1.0, 1.0)
    """
    X = np.asarray(X)
    _, backward = backend_for(X).functions()
    return backward(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)
