"""Built-in operations, each written as a :class:`~srelu_lib.DifferentiableFunction` subclass.

- :mod:`srelu_lib.ops.elementwise`: arithmetic, reductions and reshapes (and the DLArray operators).
- :mod:`srelu_lib.ops.nn`: deep-learning layers (fullyconnect, dlconv, relu, leakyrelu, softmax, crossentropy).
"""

from .elementwise import (
    add,
    divide,
    mean,
    multiply,
    negative,
    permute,
    power,
    relabel,
    reshape,
    subtract,
    sum,
    unbroadcast,
)
from .nn import crossentropy, dlconv, fullyconnect, leakyrelu, relu, softmax

__all__ = [
    "add",
    "crossentropy",
    "divide",
    "dlconv",
    "fullyconnect",
    "leakyrelu",
    "mean",
    "multiply",
    "negative",
    "permute",
    "power",
    "relabel",
    "relu",
    "reshape",
    "softmax",
    "subtract",
    "sum",
    "unbroadcast",
]
