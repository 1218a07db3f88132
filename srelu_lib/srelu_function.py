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
three masked pieces *added together* (MATLAB's page does this) then double
counts: where ``tr <= x <= tl`` both outer pieces are added, which is the
hinge form's value plus ``x``.  So that sum jumps by ``+tr`` where ``x``
enters the overlap at ``x = tr`` and by ``-tl`` just after ``x = tl``, where
it leaves it, and a backward pass written from the masks no longer matches
that forward.  The hinge form counts each hinge once: it is continuous and
piecewise linear for every ``tl, tr`` (no jumps, also when ``tl > tr``), and
the backward below is its exact derivative away from the two kinks.  So
``tl > tr`` is allowed and never raises.

**How it is evaluated.**  With the masks ``in_left = (x <= tl)`` and
``in_right = (x >= tr)`` (the book's Iverson brackets :math:`[x \le t_l]` and
:math:`[x \ge t_r]`) an element lies in one of four regions:

===============  ==============================================
region           y
===============  ==============================================
only left        ``tl + al*(x - tl)``
only right       ``tr + ar*(x - tr)``
neither          ``x``
both             ``tl + al*(x - tl) + tr + ar*(x - tr) - x``
===============  ==============================================

("both" happens only when ``tr <= x <= tl``.)  The local derivatives, exact
zeros outside their region, are

.. math::

   \frac{\partial y}{\partial x} = 1 + (a_l - 1)[x \le t_l] + (a_r - 1)[x \ge t_r],\quad
   \frac{\partial y}{\partial t_l} = (1 - a_l)[x \le t_l],\quad
   \frac{\partial y}{\partial a_l} = (x - t_l)[x \le t_l],

.. math::

   \frac{\partial y}{\partial t_r} = (1 - a_r)[x \ge t_r],\quad
   \frac{\partial y}{\partial a_r} = (x - t_r)[x \ge t_r],

and a parameter's gradient is ``dLdY`` times its local derivative, summed over
every dimension except the channel dimension (over all of them for a scalar
parameter).  At the kinks ``x == tl`` and ``x == tr`` the masks pick the
one-sided derivative of the left and the right piece respectively.

**Non-finite data.**  NaN and infinities are data.  A NaN ``x`` gives a NaN
``y``, a NaN ``dLdX`` at that element and NaN gradients for its channel's parameters (for all of them
when the parameters are scalars); a NaN parameter makes its whole channel NaN.
``x = +inf`` gives ``+inf`` for every positive ``ar`` (including ``ar == 1``)
and ``x = -inf`` gives ``-inf`` for every positive ``al``; a zero slope at an
infinite ``x`` gives ``0 * inf = NaN`` as IEEE arithmetic says.  No kernel
forms a value as *mask times piece*, which would give ``0 * inf = NaN`` for
an infinite ``x`` outside a piece: the reference and the numba kernel select
each element's piece (``np.where``, or a select in the compiled loop), and
the blocked NumPy forward writes the hinges as ``min(x, tl) - tl`` and
``max(x, tr) - tr``, exact zeros outside their region also for an infinite ``x``.
In the backward a local derivative is an exact zero outside its region and
is multiplied by ``dLdY`` as IEEE says, so a NaN or infinite ``dLdY`` makes
every parameter gradient of its channel non-finite (NaN where that local
derivative is 0: ``0 * inf``).  The blocked and fused
backward kernels do multiply ``dLdY`` by 0/1 masks on their fast path; when
a block's sums or data (blocked) or the call's sums (fused) are not finite,
they recompute that block or call with the reference's region-wise formulas.

**Layout.**  The channel dimension is the one labelled ``"C"`` in the data
format.  Parameters of shape ``(C,)`` hold one value per channel; a parameter with a
single element (shape ``()``, ``(1,)``, ...) is shared by all channels.

The module reads in the order of the book's chapters: the class with its
constructor, ``forward`` and ``backward``, then the interface function
:func:`srelu`, and last the argument checks.  The arithmetic on plain arrays
lives in :mod:`srelu_lib.kernels`: ``forward`` and ``backward`` call
:func:`~srelu_lib.kernels.srelu_forward` and
:func:`~srelu_lib.kernels.srelu_backward`, which dispatch to the reference,
blocked-NumPy or fused-numba kernel (see :func:`~srelu_lib.kernels.set_backend`).
The region formulas in the table above are written once, in
:mod:`srelu_lib.kernels.formulas`, and every kernel uses them.

References:
    X. Jin, C. Xu, J. Feng, Y. Wei, J. Xiong, S. Yan. Deep Learning with
    S-shaped Rectified Linear Activation Units. AAAI 2016. arXiv:1512.07030.
    (MATLAB's documentation page cites Hu et al., IEEE Access 7, 2019, a later
    paper on dynamic rectified linear units; SReLU itself comes from Jin et al.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import LABELS, DLArray, as_float_array, dims, dlarray
from .function import DifferentiableFunction
from .kernels import srelu_backward, srelu_forward
from .kernels.args import PARAMETER_NAMES, check_parameter_shape

__all__ = [
    "SReLUFunction",
    "srelu",
]


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
        for name, p in zip(PARAMETER_NAMES, (tl, al, tr, ar), strict=True):
            _check_parameter(name, p, num_channels)
        return srelu_forward(X, tl, al, tr, ar, self.channel_axis)

    #: The backward below is differentiable (second derivatives for ``enable_higher_derivatives``).
    differentiable_backward = True

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
        (a list of bools works too).  See :func:`srelu_lib.kernels.srelu_backward`.

        In a recorded sweep (``enable_higher_derivatives=True``) the arguments
        are traced DLArrays, and the gradients come from the operation
        :class:`~srelu_lib.srelu_backward_op.SReLUBackward`: the same kernel
        as its forward, SReLU's second derivatives as its backward.
        """
        if any(isinstance(v, DLArray) for v in (dLdY, X, tl, al, tr, ar)):
            # a recorded sweep: the backward is itself an operation
            from .srelu_backward_op import srelu_backward_traced

            return srelu_backward_traced(dLdY, X, tl, al, tr, ar,
                                         self.channel_axis, compute_gradients)
        return srelu_backward(dLdY, X, tl, al, tr, ar, self.channel_axis,
                              compute_gradients)


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
    for name, p in zip(PARAMETER_NAMES, (tl, al, tr, ar), strict=True):
        _check_parameter(name, p, num_channels)
    fcn = SReLUFunction(fmt)
    Y = fcn(X, tl, al, tr, ar)
    return dlarray(Y, fmt)


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
    """Return parameter ``p`` as a float array, or raise an error naming it.

    The shape rule (one element, or one per channel) is the kernels' own
    (:func:`srelu_lib.kernels.args.check_parameter_shape`), so the operation and
    every kernel accept the same parameters.
    """
    data = as_float_array(p, name=name)  # TypeError naming the parameter for non-numeric data
    check_parameter_shape(name, data.shape, num_channels)
    return data
