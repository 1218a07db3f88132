"""SReLU's arithmetic on plain NumPy arrays: the kernels and the choice between them.

:class:`~srelu_lib.SReLUFunction` calls :func:`srelu_forward` and
:func:`srelu_backward`; they dispatch to one of three kernels with the same
contract and the same values up to float rounding:

- ``"reference"``: :mod:`srelu_lib.kernels.reference`, the straightforward
  region-by-region definition the others are tested against;
- ``"numpy"``: :mod:`srelu_lib.kernels.numpy_blocked`, blocked and mask-free;
- ``"numba"``: :mod:`srelu_lib.kernels.numba_fused`, one fused pass (needs numba).

``"auto"`` (the default) takes numba when it is installed.  Choose with
:func:`set_backend` or the environment variable ``SRELU_LIB_BACKEND``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .numpy_blocked import default_workers
from .reference import srelu_backward_reference, srelu_forward_reference

__all__ = [
    "srelu_forward",
    "srelu_backward",
    "srelu_forward_reference",
    "srelu_backward_reference",
    "set_backend",
    "get_backend",
    "default_workers",
    "BACKENDS",
]

BACKENDS = ("auto", "numba", "numpy", "reference")
_backend: str | None = None  # None: not chosen yet, read SRELU_LIB_BACKEND on first use
_SMALL = 1 << 14  # below this many elements the NumPy kernel's set-up costs more than it saves


@functools.cache
def _numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def _check_backend(name: Any, source: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{source} must be one of {', '.join(map(repr, BACKENDS))}; got {name!r}")
    if name == "numba" and not _numba_available():
        raise ImportError(f"{source} is 'numba' but numba is not installed (pip install numba)")
    return name


def set_backend(name: str) -> str:
    """Choose the kernel behind :func:`srelu_forward`/:func:`srelu_backward`; return the previous choice.

    ``"auto"`` (the default) uses the fused numba kernels when numba is
    installed and the blocked NumPy kernels otherwise; ``"numba"``,
    ``"numpy"`` and ``"reference"`` force one of them.  The environment
    variable ``SRELU_LIB_BACKEND`` sets the initial choice.  All backends
    compute the same values up to float rounding.

    Raises:
        ValueError: ``name`` is not one of the four names.
        ImportError: ``name`` is ``"numba"`` and numba is not installed.

    Example:
        >>> previous = set_backend("numpy")
        >>> get_backend()
        'numpy'
        >>> _ = set_backend(previous)
    """
    global _backend
    previous = get_backend()
    _backend = _check_backend(name, "backend")
    return previous


def get_backend() -> str:
    """The chosen backend name (``"auto"`` unless changed by :func:`set_backend` or ``SRELU_LIB_BACKEND``)."""
    global _backend
    if _backend is None:
        _backend = _check_backend(os.environ.get("SRELU_LIB_BACKEND", "auto") or "auto", "SRELU_LIB_BACKEND")
    return _backend


def _kernel_for(X: np.ndarray) -> str:
    """The kernel to use for ``X``: "numba", "numpy" or "reference"."""
    name = get_backend()
    if name == "reference" or X.dtype not in (np.float32, np.float64):
        return "reference"
    if name == "auto":
        name = "numba" if _numba_available() else "numpy"
    if name == "numpy" and X.size < _SMALL:
        return "reference"
    return name


def srelu_forward(
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int,
) -> np.ndarray:
    """SReLU of a plain array, with the fastest available kernel (what :class:`SReLUFunction` calls).

    Same contract and values (up to float rounding) as
    :func:`~srelu_lib.kernels.reference.srelu_forward_reference`; dispatches to ``srelu_lib.kernels.numba_fused``
    or ``srelu_lib.kernels.numpy_blocked`` as :func:`set_backend` says.

    Example:
        >>> import numpy as np
        >>> X = np.array([[-2.0, 0.0, 2.0], [-2.0, 0.0, 2.0]])   # (C=2, B=3)
        >>> srelu_forward(X, np.array([-1.0, -1.0]), 0.5, 1.0, np.array([2.0, 3.0]), channel_axis=0)
        array([[-1.5,  0. ,  3. ],
               [-1.5,  0. ,  4. ]])
    """
    X = np.asarray(X)
    kernel = _kernel_for(X)
    if kernel == "numba":
        from .numba_fused import srelu_forward_numba

        return srelu_forward_numba(X, tl, al, tr, ar, channel_axis)
    if kernel == "numpy":
        from .numpy_blocked import srelu_forward_numpy

        return srelu_forward_numpy(X, tl, al, tr, ar, channel_axis)
    return srelu_forward_reference(X, tl, al, tr, ar, channel_axis)


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
    """Gradients of the loss with respect to the five SReLU inputs, with the fastest available kernel.

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
    kernel = _kernel_for(X)
    if kernel == "numba":
        from .numba_fused import srelu_backward_numba

        return srelu_backward_numba(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)
    if kernel == "numpy":
        from .numpy_blocked import srelu_backward_numpy

        return srelu_backward_numpy(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)
    return srelu_backward_reference(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)
