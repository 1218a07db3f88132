"""SReLU in PyTorch: the operation of :mod:`srelu_lib`, same values, gradients.

Import it explicitly (``import srelu_lib.torch``); ``import srelu_lib`` never
imports PyTorch.  Install PyTorch with the package extra
``pip install srelu_lib[torch]`` (on a machine without a GPU, PyTorch's CPU
wheel is much smaller: see the README).

What it holds, in the order of the book's chapter *Porting the operation to
PyTorch and JAX*:

- :func:`~srelu_lib.torch.formulas.srelu_forward` and
  :func:`~srelu_lib.torch.formulas.srelu_backward`: the arithmetic, written
  with differentiable PyTorch operations (so the backward can itself be
  differentiated);
- :class:`~srelu_lib.torch.function.SReLUFunction`: the operation as a
  ``torch.autograd.Function`` (``forward``, ``setup_context``, ``backward``),
  and :func:`~srelu_lib.torch.function.srelu`, which checks the arguments and
  applies it: the one to use (``torch.compile`` traces and fuses it);
- :func:`~srelu_lib.torch.library.srelu_custom_op`: the same operation
  registered with ``torch.library.custom_op`` as ``torch.ops.srelu_lib.srelu``
  (``srelu_op``), with ``register_fake`` and ``register_autograd``: an
  opaque call for ``torch.compile``;
- :class:`~srelu_lib.torch.module.SReLU`: an ``nn.Module`` with learnable
  per-channel ``tl, al, tr, ar``;
- :mod:`srelu_lib.torch.digits`: the book's digit classifier in PyTorch
  (imported on use).

Both :func:`~srelu_lib.torch.function.srelu` and
:func:`~srelu_lib.torch.library.srelu_custom_op` check their arguments with
:func:`~srelu_lib.torch.args.check_srelu_args`: an error names the argument
at fault.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        "srelu_lib.torch needs PyTorch, which is not installed. Install it "
        "with the package extra: pip install 'srelu_lib[torch]' (on a machine "
        "without a GPU, take PyTorch's CPU wheel: pip install torch==2.13.0 "
        "--index-url https://download.pytorch.org/whl/cpu)"
    ) from error

from .args import check_srelu_args
from .formulas import srelu_backward, srelu_forward
from .function import SReLUFunction, srelu
from .library import srelu_custom_op, srelu_op
from .module import SReLU

__all__ = [
    "SReLU",
    "SReLUFunction",
    "check_srelu_args",
    "srelu",
    "srelu_backward",
    "srelu_custom_op",
    "srelu_forward",
    "srelu_op",
]
