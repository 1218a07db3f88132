"""Built-in operations, each written as a :class:`~srelu_lib.DifferentiableFunction` subclass.

- :mod:`srelu_lib.ops.elementwise`: arithmetic and ``where``/``cast`` (what the DLArray operators call);
- :mod:`srelu_lib.ops.shape`: reductions, reshapes and indexing;
- :mod:`srelu_lib.ops.math`: ``exp``, ``log``, ``sqrt``, ``tanh``, ``sigmoid``, ``abs``;
- :mod:`srelu_lib.ops.nn`: ``fullyconnect`` (and ``matmul``), ``relu``, ``leakyrelu``, ``softmax``;
- :mod:`srelu_lib.ops.conv`: ``dlconv`` and the two convolutions its backward needs;
- :mod:`srelu_lib.ops.losses`: ``crossentropy`` and ``mse``.

Every backward rule is written with these functions, which accept NumPy arrays
(computing with NumPy) as well as DLArrays (recording the operation): one rule
serves the ordinary reverse sweep and the recorded one that higher derivatives
need.
"""

from .conv import conv_grad_input, conv_grad_kernel, conv_padding, dlconv
from .elementwise import add, cast, divide, multiply, negative, power, subtract, unbroadcast, where
from .losses import crossentropy, mse
from .math import abs, exp, log, sigmoid, sqrt, tanh
from .nn import fullyconnect, leakyrelu, matmul, relu, softmax
from .shape import broadcast_to, getitem, mean, permute, relabel, reshape, scatter_add, sum

__all__ = [
    "abs",
    "add",
    "broadcast_to",
    "cast",
    "conv_grad_input",
    "conv_grad_kernel",
    "conv_padding",
    "crossentropy",
    "divide",
    "dlconv",
    "exp",
    "fullyconnect",
    "getitem",
    "leakyrelu",
    "log",
    "matmul",
    "mean",
    "mse",
    "multiply",
    "negative",
    "permute",
    "power",
    "relabel",
    "relu",
    "reshape",
    "scatter_add",
    "sigmoid",
    "softmax",
    "sqrt",
    "subtract",
    "sum",
    "tanh",
    "unbroadcast",
    "where",
]
