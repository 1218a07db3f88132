r"""SReLU, the S-shaped rectified linear unit, written as a :class:`~srelu_lib.DifferentiableFunction`.

SReLU was introduced by Jin, Xu, Feng, Wei, Xiong and Yan, *Deep Learning with
S-shaped Rectified Linear Activation Units*, AAAI 2016 (Jin et al. 2016,
arXiv:1512.07030).  It is an activation with four learnable parameters per
channel: a left threshold ``tl`` with a left slope ``al`` and a right threshold
``tr`` with a right slope ``ar``.  Between the thresholds it is the identity;
outside them it continues as a straight line with its own slope, so one unit
can learn shapes from ReLU-like to S-shaped (and, with a negative slope,
non-monotonic ones).

**Definition, for every tl and tr.**  For an element ``x`` on channel ``i``
with that channel's ``tl, al, tr, ar``:

.. math::

   y = x + (a_l - 1)\,\min(x - t_l, 0) + (a_r - 1)\,\max(x - t_r, 0)

*identity plus two hinges*.  When ``tl < tr`` this is exactly the textbook
three-piece function

.. math::

   y = \begin{cases}
       t_l + a_l (x - t_l) & x \le t_l \\
       x                   & t_l < x < t_r \\
       t_r + a_r (x - t_r) & x \ge t_r
       \end{cases}

with ``x == tl`` in the left piece and ``x == tr`` in the right piece.

Why the hinge form: the thresholds are learned, and nothing stops an
optimiser from pushing ``tl`` past ``tr``.  The textbook formula written as
three masked pieces *added together* then double counts: where
``tr <= x <= tl`` both outer pieces are added, so the value jumps by ``tl`` at
``x = tl`` and by ``tr`` at ``x = tr``, and a backward pass written from the
masks no longer matches that forward.  The hinge form counts each hinge once:
it is continuous and piecewise linear for every ``tl, tr``, and the backward
below is its exact derivative away from the two kinks.  So ``tl > tr`` is
allowed and never raises.

**How it is evaluated.**  With the masks ``L = (x <= tl)`` and
``R = (x >= tr)`` the value is chosen region by region (never as ``0 * inf``):

===============  ==============================================
region           y
===============  ==============================================
only ``L``       ``tl + al*(x - tl)``
only ``R``       ``tr + ar*(x - tr)``
neither          ``x``
both             ``tl + al*(x - tl) + tr + ar*(x - tr) - x``
===============  ==============================================

("both" happens only when ``tr <= x <= tl``.)  The local derivatives, exact
zeros outside their region, are

.. math::

   \frac{\partial y}{\partial x} = 1 + (a_l - 1)L + (a_r - 1)R,\quad
   \frac{\partial y}{\partial t_l} = (1 - a_l)L,\quad
   \frac{\partial y}{\partial a_l} = (x - t_l)L,\quad
   \frac{\partial y}{\partial t_r} = (1 - a_r)R,\quad
   \frac{\partial y}{\partial a_r} = (x - t_r)R,

and a parameter's gradient is ``dLdY`` times its local derivative, summed over
every dimension except the channel dimension (over all of them for a scalar
parameter).  At the kinks ``x == tl`` and ``x == tr`` the masks pick the
one-sided derivative of the left and the right piece respectively.

**Non-finite data.**  NaN and infinities are data.  A NaN ``x`` gives a NaN
``y``, a NaN ``dLdX`` at that element and NaN gradients for its channel's parameters (for all of them
when the parameters are scalars); a NaN parameter makes its whole channel NaN.
``x = +inf`` gives ``+inf`` for every positive ``ar`` (including ``ar == 1``)
and ``x = -inf`` gives ``-inf`` for every positive ``al``; a zero slope at an
infinite ``x`` gives ``0 * inf = NaN`` as IEEE arithmetic says.

**Layout.**  The channel dimension is the one labelled ``"C"`` in the data
format.  Parameters of shape ``(C,)`` hold one value per channel; a parameter with a
single element (shape ``()``, ``(1,)``, ...) is shared by all channels.

The module reads in the order of the book's chapters: the class with its
constructor, ``forward`` and ``backward``, then the interface function
:func:`srelu`.  The arithmetic follows in two plain NumPy functions,
:func:`srelu_forward_reference` and :func:`srelu_backward_reference` (the
straightforward, tested definitions), then :func:`srelu_forward` and
:func:`srelu_backward`, which the methods call: they dispatch to the fast
kernels of ``srelu_lib.kernels_numba`` or ``srelu_lib.kernels_numpy``
(see :func:`set_backend`), and last the argument checks.

References:
    X. Jin, C. Xu, J. Feng, Y. Wei, J. Xiong, S. Yan. Deep Learning with
    S-shaped Rectified Linear Activation Units. AAAI 2016. arXiv:1512.07030.
    (MATLAB's documentation page cites Hu et al., IEEE Access 7, 2019, a later
    paper on dynamic rectified linear units; SReLU itself comes from Jin et al.)
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, Sequence

import numpy as np

from .dlarray import LABELS, DLArray, as_float_array, dims, dlarray
from .function import DifferentiableFunction

__all__ = [
    "SReLUFunction",
    "srelu",
    "srelu_forward",
    "srelu_backward",
    "srelu_forward_reference",
    "srelu_backward_reference",
    "set_backend",
    "get_backend",
]

PARAMETER_NAMES = ("tl", "al", "tr", "ar")


# --- the operation -------------------------------------------------------------------------
class SReLUFunction(DifferentiableFunction):
    """SReLU as a differentiable function object: forward and hand-written backward.

    Use it as the book does: the interface function :func:`srelu` builds one
    per call from the input's format.  Build one yourself only to call
    ``forward``/``backward`` directly on NumPy arrays.

    Caveat: ``forward`` and ``backward`` receive plain arrays without labels,
    so the object remembers the format (``self.format``) to find the channel
    axis.  The format must describe the layout of the arrays it receives
    (``dims(X)``, which is in canonical order).

    Args:
        fmt: the data format, e.g. ``"SSCB"``; it must contain one ``"C"``.

    Example:
        >>> import numpy as np
        >>> fcn = SReLUFunction("CB")
        >>> X = np.array([[-2.0, 2.0], [-2.0, 2.0]])
        >>> fcn.forward(X, -1.0, 0.5, np.array([1.0, 3.0]), 2.0)
        array([[-1.5,  3. ],
               [-1.5,  2. ]])
    """

    def __init__(self, fmt: str) -> None:
        super().__init__(1, save_inputs_for_backward=True)
        self.format: str = _check_format(fmt)
        self.channel_axis: int = self.format.index("C")

    def forward(self, X: np.ndarray, tl: np.ndarray, al: np.ndarray, tr: np.ndarray, ar: np.ndarray) -> np.ndarray:
        """Return ``Y = SReLU(X)``; parameters have shape ``()``/``(1,)`` or ``(C,)``.

        Raises:
            ValueError: ``X`` does not have one dimension per label of the
                format, or a parameter's shape does not fit the channel count.
        """
        X = np.asarray(X)
        if X.ndim != len(self.format):
            raise ValueError(
                f"SReLUFunction with format {self.format!r} expects X with {len(self.format)} "
                f"dimension(s); got shape {X.shape}"
            )
        num_channels = X.shape[self.channel_axis]
        for name, p in zip(PARAMETER_NAMES, (tl, al, tr, ar)):
            _check_parameter(name, p, num_channels)
        return srelu_forward(X, tl, al, tr, ar, self.channel_axis)

    def backward(
        self,
        dLdY: np.ndarray,
        compute_gradients: Sequence[bool],
        X: np.ndarray,
        tl: np.ndarray,
        al: np.ndarray,
        tr: np.ndarray,
        ar: np.ndarray,
    ) -> tuple[np.ndarray | None, ...]:
        """Return ``(dLdX, dLdtl, dLdal, dLdtr, dLdar)`` in input order, ``None`` where not requested.

        ``compute_gradients`` holds five flags in the same order as the inputs
        (a list of bools works too).  See :func:`srelu_backward`.
        """
        return srelu_backward(dLdY, X, tl, al, tr, ar, self.channel_axis, compute_gradients)


# --- the interface function ---------------------------------------------------------------
def srelu(X: DLArray, tl: Any, al: Any, tr: Any, ar: Any) -> DLArray:
    """Apply SReLU to a formatted DLArray, differentiably (the function a model calls).

    Use it inside a model function evaluated by :func:`~srelu_lib.dlfeval`;
    :func:`~srelu_lib.dlgradient` then gives gradients with respect to ``X``
    and the four parameters.  Works outside ``dlfeval`` too (no tracing).

    Caveat: a parameter passed as a NumPy array or a number is a constant (no
    gradient); pass a DLArray to learn it.

    Args:
        X: a formatted DLArray with a ``"C"`` label, e.g. ``"SSCB"`` or ``"CB"``.
        tl, al, tr, ar: left threshold, left slope, right threshold, right
            slope: DLArray, ndarray or number, of shape ``()``/``(1,)`` (shared
            by all channels) or ``(C,)`` (one per channel).  ``tl > tr`` is
            allowed (see the module docstring).

    Returns:
        ``Y``, a DLArray with ``X``'s shape, dtype and format.

    Raises:
        TypeError: ``X`` is not a DLArray, or a parameter is not numeric.
        ValueError: ``X`` is unformatted or has no ``"C"`` label, or a
            parameter's shape is neither ``()``/``(1,)`` nor ``(C,)``.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import dlarray, dlfeval, dlgradient
        >>> X = dlarray(np.array([[-2.0, 0.0, 2.0]]), "CB")
        >>> srelu(X, -1.0, 0.5, 1.0, 2.0)
        DLArray([[-1.5,  0. ,  3. ]], fmt='CB', dtype=float64)
        >>> def grads(X, tl, al, tr, ar):
        ...     loss = srelu(X, tl, al, tr, ar).sum()
        ...     return dlgradient(loss, al, ar)
        >>> dlfeval(grads, X, *(dlarray(np.array([v])) for v in (-1.0, 0.5, 1.0, 2.0)))
        (DLArray([-1.], dtype=float64), DLArray([1.], dtype=float64))
    """
    if not isinstance(X, DLArray):
        raise TypeError(
            f"srelu needs a formatted DLArray with a 'C' label as X (e.g. dlarray(data, 'SSCB')); "
            f"got {type(X).__name__}"
        )
    fmt = dims(X)
    if not fmt:
        raise ValueError(
            "srelu needs a formatted DLArray with a 'C' label as X; X is unformatted "
            "(label it, e.g. dlarray(data, 'CB'))"
        )
    if "C" not in fmt:
        raise ValueError(f"srelu needs a formatted DLArray with a 'C' label as X; X has format {fmt!r}")
    num_channels = X.shape[fmt.index("C")]
    for name, p in zip(PARAMETER_NAMES, (tl, al, tr, ar)):
        _check_parameter(name, p, num_channels)
    fcn = SReLUFunction(fmt)
    Y = fcn(X, tl, al, tr, ar)
    return dlarray(Y, fmt)


# --- the arithmetic: plain NumPy functions the methods call -----------------------------
def srelu_forward_reference(
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int,
) -> np.ndarray:
    """SReLU of a plain array: the forward pass, region by region (the tested reference).

    The straightforward vectorized version, kept as the definition the fast
    kernels are tested against; :func:`srelu_forward` computes the same
    values faster.  :func:`srelu` is the differentiable version for DLArrays.  The computation is in ``X``'s dtype (parameters are
    cast to it).

    Args:
        X: the input, a float32 or float64 array.
        tl, al, tr, ar: thresholds and slopes, each with one element (shared by
            all channels) or ``X.shape[channel_axis]`` elements (one per channel).
            Shapes are not checked here; :class:`SReLUFunction` checks them.
        channel_axis: the axis of ``X`` holding the channels.

    Returns:
        ``Y``, an array of ``X``'s shape and dtype.

    Example:
        >>> import numpy as np
        >>> X = np.array([[-2.0, 0.0, 2.0], [-2.0, 0.0, 2.0]])   # (C=2, B=3)
        >>> srelu_forward_reference(X, np.array([-1.0, -1.0]), 0.5, 1.0, np.array([2.0, 3.0]), channel_axis=0)
        array([[-1.5,  0. ,  3. ],
               [-1.5,  0. ,  4. ]])
    """
    tl, al, tr, ar = (_per_channel(p, X.ndim, channel_axis, X.dtype) for p in (tl, al, tr, ar))
    L = X <= tl
    R = X >= tr
    with np.errstate(invalid="ignore"):  # 0*inf in a piece that np.where discards (or IEEE NaN by design)
        left = tl + al * (X - tl)
        right = tr + ar * (X - tr)
        Y = np.where(R, right, np.where(L, left, X))
        if np.any(tr <= tl):  # the hinges overlap on some channel: add both of them there
            Y = np.where(L & R, left + right - X, Y)
    bad = _nan_channels(tl, al, tr, ar)
    if bad is not None:
        Y = np.where(bad, X.dtype.type(np.nan), Y)
    return Y


def srelu_backward_reference(
    dLdY: np.ndarray,
    X: np.ndarray,
    tl: np.ndarray,
    al: np.ndarray,
    tr: np.ndarray,
    ar: np.ndarray,
    channel_axis: int,
    compute_gradients: Sequence[bool],
) -> tuple[np.ndarray | None, ...]:
    """Gradients of the loss with respect to the five SReLU inputs (the tested reference).

    The straightforward vectorized version, kept as the definition the fast
    kernels are tested against; :func:`srelu_backward` (which
    :meth:`SReLUFunction.backward` calls) computes the same values faster.
    Each gradient is computed only when requested.

    Args:
        dLdY: gradient of the loss with respect to ``Y``, shape of ``X``.
        X, tl, al, tr, ar: the forward inputs (parameters with one element or
            one per channel).
        channel_axis: the axis of ``X`` holding the channels.
        compute_gradients: five flags, in input order ``X, tl, al, tr, ar``.

    Returns:
        ``(dLdX, dLdtl, dLdal, dLdtr, dLdar)`` in input order, ``None`` where
        the flag is false.  ``dLdX`` has ``X``'s shape and dtype; each parameter
        gradient is summed in float64 and returned in that parameter's own
        shape and dtype.

    Example:
        >>> import numpy as np
        >>> X = np.array([[-2.0, 0.0, 2.0]])                    # (C=1, B=3)
        >>> dX, dtl, dal, dtr, dar = srelu_backward_reference(
        ...     np.ones_like(X), X, -1.0, 0.5, 1.0, 2.0, 0, [True] * 5)
        >>> dX, float(dtl), float(dal), float(dtr), float(dar)
        (array([[0.5, 1. , 2. ]]), 0.5, -1.0, -1.0, 1.0)
    """
    want = tuple(bool(c) for c in compute_gradients)
    if len(want) != 5:
        raise ValueError(f"compute_gradients must have 5 flags (X, tl, al, tr, ar); got {len(want)}")
    params = (tl, al, tr, ar)
    tl_, al_, tr_, ar_ = (_per_channel(p, X.ndim, channel_axis, X.dtype) for p in params)
    L = X <= tl_
    R = X >= tr_
    overlap = bool(np.any(tr_ <= tl_))

    # Where a local derivative is undefined (NaN x or a NaN parameter) it is NaN.
    undefined = np.isnan(X)
    bad = _nan_channels(tl_, al_, tr_, ar_)
    if bad is not None:
        undefined = undefined | bad
    if not undefined.any():
        undefined = None
    nan = X.dtype.type(np.nan)

    def times_dLdY(local: np.ndarray) -> np.ndarray:
        if undefined is not None:
            local = np.where(undefined, nan, local)
        return dLdY * local

    other_axes = tuple(a for a in range(X.ndim) if a != channel_axis)

    def channel_sum(product: np.ndarray, p: Any) -> np.ndarray:
        p = np.asarray(p)
        total = product.sum(axis=None if p.size == 1 else other_axes, dtype=np.float64)
        return np.asarray(total).reshape(p.shape).astype(p.dtype, copy=False)

    dLdX = dLdtl = dLdal = dLdtr = dLdar = None
    with np.errstate(invalid="ignore"):  # IEEE 0*inf from dLdY where a local derivative is 0
        if want[0]:
            dYdX = np.where(R, ar_, np.where(L, al_, 1))
            if overlap:
                dYdX = np.where(L & R, al_ + ar_ - 1, dYdX)
            dLdX = times_dLdY(dYdX).astype(X.dtype, copy=False)
        if want[1]:
            dLdtl = channel_sum(times_dLdY(np.where(L, 1 - al_, 0)), tl)
        if want[2]:
            dLdal = channel_sum(times_dLdY(np.where(L, X - tl_, 0)), al)
        if want[3]:
            dLdtr = channel_sum(times_dLdY(np.where(R, 1 - ar_, 0)), tr)
        if want[4]:
            dLdar = channel_sum(times_dLdY(np.where(R, X - tr_, 0)), ar)
    return dLdX, dLdtl, dLdal, dLdtr, dLdar


# --- the fast path: which kernel srelu_forward / srelu_backward use ------------------------
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
    :func:`srelu_forward_reference`; dispatches to ``srelu_lib.kernels_numba``
    or ``srelu_lib.kernels_numpy`` as :func:`set_backend` says.

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
        from .kernels_numba import srelu_forward_numba

        return srelu_forward_numba(X, tl, al, tr, ar, channel_axis)
    if kernel == "numpy":
        from .kernels_numpy import srelu_forward_numpy

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
    :func:`srelu_backward_reference`: ``(dLdX, dLdtl, dLdal, dLdtr, dLdar)`` in
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
        from .kernels_numba import srelu_backward_numba

        return srelu_backward_numba(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)
    if kernel == "numpy":
        from .kernels_numpy import srelu_backward_numpy

        return srelu_backward_numpy(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)
    return srelu_backward_reference(dLdY, X, tl, al, tr, ar, channel_axis, compute_gradients)


# --- argument checks and helpers ---------------------------------------------------------
def _check_format(fmt: Any) -> str:
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a str of dimension labels with one 'C'; got {type(fmt).__name__}")
    bad = sorted(set(fmt) - set(LABELS))
    if bad:
        raise ValueError(f"fmt {fmt!r} has invalid label(s) {''.join(bad)!r}; valid labels are S, C, B, T, U")
    if fmt.count("C") != 1:
        raise ValueError(
            f"SReLU needs a format with exactly one channel label 'C' (its parameters are per channel); "
            f"got fmt {fmt!r}"
        )
    return fmt


def _check_parameter(name: str, p: Any, num_channels: int) -> np.ndarray:
    """Return parameter ``p`` as a float array, or raise an error naming it."""
    data = as_float_array(p, name=name)  # TypeError naming the parameter for non-numeric data
    if data.size != 1 and data.shape != (num_channels,):
        raise ValueError(
            f"{name} must have shape () or (1,) (one value shared by all channels) or "
            f"(C,) = ({num_channels},) (one value per channel); got shape {data.shape}"
        )
    return data


def _per_channel(p: np.ndarray, ndim: int, channel_axis: int, dtype: np.dtype) -> np.ndarray:
    """``p`` in ``dtype``, shaped to broadcast along ``channel_axis`` of an ``ndim``-dimensional array."""
    p = np.asarray(p, dtype=dtype)
    if p.size == 1:
        return p.reshape(())
    shape = [1] * ndim
    shape[channel_axis] = p.size
    return p.reshape(shape)


def _nan_channels(tl: np.ndarray, al: np.ndarray, tr: np.ndarray, ar: np.ndarray) -> np.ndarray | None:
    """Channels (broadcastable mask) with a NaN parameter, or ``None`` when there are none."""
    bad = np.isnan(tl) | np.isnan(al) | np.isnan(tr) | np.isnan(ar)
    return bad if bad.any() else None
