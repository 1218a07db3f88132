r"""SReLU's backward as an operation of its own, so that SReLU has second (and higher) derivatives.

This is the pattern of PyTorch's "double backward" tutorial: when a reverse
sweep is recorded (``dlgradient(..., enable_higher_derivatives=True)``),
:meth:`SReLUFunction.backward <srelu_lib.srelu_function.SReLUFunction.backward>` does not
compute the gradients itself but calls :class:`SReLUBackward`, a
:class:`~srelu_lib.DifferentiableFunction` whose

- ``forward`` is the fast kernel :func:`srelu_lib.kernels.srelu_backward`
  (the very code of the ordinary sweep, so first derivatives are the same
  numbers either way), and whose
- ``backward`` is the derivative of the first derivatives: the second
  derivatives of SReLU, written with srelu_lib operations so that third and
  higher derivatives follow by automatic differentiation.

**The second derivatives.**  The Iverson brackets :math:`[x \le t_l]` and
:math:`[x \ge t_r]` (the masks ``in_left`` and ``in_right`` in the code) are
constant away from the two kinks, and the first derivatives are

.. math::

   \frac{\partial y}{\partial x} = 1 + (a_l - 1)[x \le t_l] + (a_r - 1)[x \ge t_r],\quad
   \frac{\partial y}{\partial t_l} = (1 - a_l)[x \le t_l],\quad
   \frac{\partial y}{\partial a_l} = (x - t_l)[x \le t_l],

.. math::

   \frac{\partial y}{\partial t_r} = (1 - a_r)[x \ge t_r],\quad
   \frac{\partial y}{\partial a_r} = (x - t_r)[x \ge t_r],

so the nonzero second derivatives (almost everywhere) are

.. math::

   \frac{\partial^2 y}{\partial x\,\partial a_l} = [x \le t_l],\quad
   \frac{\partial^2 y}{\partial t_l\,\partial a_l} = -[x \le t_l],\quad
   \frac{\partial^2 y}{\partial x\,\partial a_r} = [x \ge t_r],\quad
   \frac{\partial^2 y}{\partial t_r\,\partial a_r} = -[x \ge t_r],

and :math:`\partial^2 y/\partial x^2 = 0`.  The backward of the gradient map
``(dLdY, x, tl, al, tr, ar) -> (dLdX, dLdtl, dLdal, dLdtr, dLdar)`` contracts
these with the upstream gradients ``G`` (``in_left``, ``in_right`` as 0/1):

- ``d/d dLdY = G_X * dy/dx + in_left * (G_tl (1 - al) + G_al (x - tl)) +
  in_right * (G_tr (1 - ar) + G_ar (x - tr))``
- ``d/dx = dLdY * (in_left * G_al + in_right * G_ar)``
- ``d/dtl = -sum(dLdY * in_left * G_al)``, ``d/dal = sum(dLdY * in_left * (G_X - G_tl))``
- ``d/dtr = -sum(dLdY * in_right * G_ar)``, ``d/dar = sum(dLdY * in_right * (G_X - G_tr))``

(sums over every dimension but the channel, ``G_tl`` etc. broadcast per
channel).  In the code each product with a mask is a ``where`` (a select, so
an infinite factor outside the region does not give ``0 * inf``), crossed thresholds ``tl > tr`` need nothing
special (both masks hold in the overlap), and a NaN ``x`` or parameter makes
the local derivatives, and so the results, NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import extractdata
from .function import DifferentiableFunction
from .kernels import srelu_backward
from .ops.elementwise import cast, where

__all__ = ["SReLUBackward", "srelu_backward_traced"]

_NAMES = ("X", "tl", "al", "tr", "ar")


class SReLUBackward(DifferentiableFunction):
    """The gradient map of SReLU, ``(dLdY, X, tl, al, tr, ar) -> requested gradients``, as an operation.

    Args:
        channel_axis: the axis of ``X`` holding the channels.
        compute_gradients: five flags (X, tl, al, tr, ar); the operation has one
            output per true flag, in that order.
    """

    differentiable_backward = True

    def __init__(self, channel_axis: int, compute_gradients: Sequence[bool]) -> None:
        self.flags = tuple(bool(c) for c in compute_gradients)
        if len(self.flags) != 5 or not any(self.flags):
            raise ValueError(f"compute_gradients must be 5 flags, at least one true; got {compute_gradients!r}")
        super().__init__(sum(self.flags), save_inputs_for_backward=True)
        self.channel_axis = int(channel_axis)
        self.requested = tuple(name for name, f in zip(_NAMES, self.flags, strict=True) if f)

    def forward(self, dLdY, X, tl, al, tr, ar):
        # the fused first-order kernel: the same numbers as an ordinary sweep
        grads = srelu_backward(dLdY, X, tl, al, tr, ar, self.channel_axis,
                               self.flags)
        wanted = tuple(g for g in grads if g is not None)
        return wanted[0] if len(wanted) == 1 else wanted

    def backward(self, *args: Any) -> tuple:
        k = self.num_outputs
        G = dict(zip(self.requested, args[:k], strict=True))
        want = args[k]
        dLdY, X, tl, al, tr, ar = args[k + 1 :]
        dtype = X.dtype
        ndim = X.ndim
        axis = self.channel_axis % ndim if ndim else 0
        other_axes = tuple(a for a in range(ndim) if a != axis)

        def per_channel(p: Any) -> Any:  # a parameter (or its gradient) broadcastable against X, in X's dtype
            p = cast(p, dtype)
            if p.size == 1:
                return p.reshape(())
            shape = [1] * ndim
            shape[axis] = p.size
            return p.reshape(tuple(shape))

        Xd = extractdata(X)
        tl_d, al_d, tr_d, ar_d = (extractdata(per_channel(np.asarray(extractdata(p)))) for p in (tl, al, tr, ar))
        in_left = Xd <= tl_d  # constant masks: their derivative is 0 away from the kinks
        in_right = Xd >= tr_d
        undefined = np.isnan(Xd) | np.isnan(tl_d) | np.isnan(al_d) | np.isnan(tr_d) | np.isnan(ar_d)
        nan = dtype.type(np.nan)

        def undefined_to_nan(E: Any) -> Any:
            return where(undefined, nan, E) if undefined.any() else E

        def channel_sum(E: Any, p: Any) -> Any:  # summed in float64, like the kernels
            E = cast(undefined_to_nan(E), np.float64)
            total = E.sum() if np.size(p) == 1 else E.sum(axis=other_axes)
            return cast(total.reshape(np.shape(p)), p.dtype)

        gX = G.get("X")
        g = {name: per_channel(G[name]) for name in ("tl", "al", "tr", "ar") if name in G}
        al_b, ar_b, tl_b, tr_b = per_channel(al), per_channel(ar), per_channel(tl), per_channel(tr)
        zeros = np.zeros(X.shape, dtype)

        def total(*terms: Any) -> Any:
            present = [t for t in terms if t is not None]
            if not present:
                return zeros
            out = present[0]
            for t in present[1:]:
                out = out + t
            return out

        def both(a: Any, b: Any, combine: Any) -> Any:  # combine(a, b) with a missing operand as absent
            if a is None and b is None:
                return None
            return combine(a, b)

        d_dLdY = d_X = d_tl = d_al = d_tr = d_ar = None
        if want[0]:
            dYdX = where(in_left & in_right, al_b + ar_b - 1, where(in_right, ar_b, where(in_left, al_b, 1)))
            left_terms = total(None if "tl" not in g else g["tl"] * (1 - al_b),
                         None if "al" not in g else g["al"] * (X - tl_b))
            right_terms = total(None if "tr" not in g else g["tr"] * (1 - ar_b),
                          None if "ar" not in g else g["ar"] * (X - tr_b))
            d_dLdY = total(None if gX is None else gX * dYdX,
                           where(in_left, left_terms, 0) if ("tl" in g or "al" in g) else None,
                           where(in_right, right_terms, 0) if ("tr" in g or "ar" in g) else None)
            d_dLdY = cast(undefined_to_nan(d_dLdY + zeros), dLdY.dtype)
        if want[1]:
            d_X = total(where(in_left, dLdY * g["al"], 0) if "al" in g else None,
                        where(in_right, dLdY * g["ar"], 0) if "ar" in g else None)
            d_X = cast(undefined_to_nan(d_X + zeros), dtype)
        left_g = both(gX, g.get("tl"), lambda a, b: (0 if a is None else a) - (0 if b is None else b))
        right_g = both(gX, g.get("tr"), lambda a, b: (0 if a is None else a) - (0 if b is None else b))
        if want[2]:
            d_tl = channel_sum(total(where(in_left, -(dLdY * g["al"]), 0) if "al" in g else None), tl)
        if want[3]:
            d_al = channel_sum(total(where(in_left, dLdY * left_g, 0) if left_g is not None else None), al)
        if want[4]:
            d_tr = channel_sum(total(where(in_right, -(dLdY * g["ar"]), 0) if "ar" in g else None), tr)
        if want[5]:
            d_ar = channel_sum(total(where(in_right, dLdY * right_g, 0) if right_g is not None else None), ar)
        return d_dLdY, d_X, d_tl, d_al, d_tr, d_ar


def srelu_backward_traced(
    dLdY: Any, X: Any, tl: Any, al: Any, tr: Any, ar: Any, channel_axis: int, compute_gradients: Sequence[bool]
) -> tuple:
    """``SReLUFunction.backward`` in a recorded sweep: the five gradients (``None`` where not requested)."""
    flags = tuple(bool(c) for c in compute_gradients)
    if not any(flags):
        return (None,) * 5
    outputs = SReLUBackward(channel_axis, flags)(dLdY, X, tl, al, tr, ar)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    it = iter(outputs)
    return tuple(next(it) if f else None for f in flags)
