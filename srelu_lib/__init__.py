"""srelu_lib: write a deep-learning operation with a hand-written backward, in NumPy.

A Python port of MATLAB's custom-operation framework (``deep.DifferentiableFunction``,
``dlarray``, ``dlfeval``/``dlgradient``) with the S-shaped rectified linear unit
(SReLU) as its worked example.  Quick tour:

>>> import numpy as np
>>> from srelu_lib import dlarray, dlfeval, dlgradient, srelu
>>> X = dlarray(np.random.default_rng(0).standard_normal((4, 4, 3, 2)), "SSCB")
>>> tl, al, tr, ar = (dlarray(np.full(3, v)) for v in (-0.5, 0.1, 0.5, 2.0))
>>> def loss_and_grads(X, tl, al, tr, ar):
...     loss = srelu(X, tl, al, tr, ar).sum()
...     return loss, dlgradient(loss, tl, al, tr, ar)
>>> loss, (dLdtl, dLdal, dLdtr, dLdar) = dlfeval(loss_and_grads, X, tl, al, tr, ar)
>>> dLdtr  # (1 - ar) = -1 for each of a channel's values at or above tr
DLArray([-14., -11.,  -8.], dtype=float64)

Second derivatives: ``dlgradient(loss, x, enable_higher_derivatives=True)``
returns a traced gradient that a second ``dlgradient`` differentiates again.

SymPy (``srelu_lib.symbolic``) and matplotlib are imported only when used.
"""

from .arrays import DLArray, dims, dlarray, extractdata, finddim, stripdims
from .autodiff import dlfeval, dlgradient
from .checks import GradcheckResult, gradcheck, gradgradcheck
from .function import BackwardError, DifferentiableFunction, NotDifferentiableError
from .ops import abs, crossentropy, dlconv, exp, fullyconnect, leakyrelu, log, mse, relu, sigmoid, softmax, sqrt, tanh
from .optim import adamupdate
from .srelu_function import SReLUFunction, srelu
from .tape import saved_bytes

__version__ = "0.1.0"

__all__ = [
    "BackwardError",
    "DLArray",
    "DifferentiableFunction",
    "GradcheckResult",
    "NotDifferentiableError",
    "SReLUFunction",
    "abs",
    "adamupdate",
    "crossentropy",
    "dims",
    "dlconv",
    "dlarray",
    "dlfeval",
    "dlgradient",
    "exp",
    "extractdata",
    "finddim",
    "gradcheck",
    "gradgradcheck",
    "fullyconnect",
    "leakyrelu",
    "log",
    "mse",
    "relu",
    "saved_bytes",
    "sigmoid",
    "sqrt",
    "srelu",
    "softmax",
    "stripdims",
    "tanh",
]
