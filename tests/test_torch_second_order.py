"""Second derivatives of srelu_lib against PyTorch's ``torch.autograd.grad(..., create_graph=True)``.

For each operation ``f`` with inputs ``x_1..x_n`` (float64, the same data and
layout in both libraries), both compute the Hessian-vector products

    H_i = d/dx_i  sum_j <V_j, dL/dx_j>,   L = sum(W * f(x_1, ..., x_n)),

for fixed random ``W`` and ``V_j``: srelu_lib with
``dlgradient(..., enable_higher_derivatives=True)`` and a second ``dlgradient``,
PyTorch with ``create_graph=True`` and a second ``torch.autograd.grad``.
Inputs stay away from the kinks of relu, abs and SReLU, where the libraries
may pick different one-sided derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest

import srelu_lib
from srelu_lib import dlarray, dlfeval, dlgradient, extractdata, ops

torch = pytest.importorskip("torch")
F = torch.nn.functional


def away_from_zero(shape, seed, low=0.2, high=1.5) -> np.ndarray:
    r = np.random.default_rng(seed)
    return r.uniform(low, high, shape) * r.choice([-1.0, 1.0], shape)


def positive(shape, seed) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.3, 2.0, shape)


def nchw(x):  # (H, W, C, B) -> (B, C, H, W)
    return x.permute(3, 2, 0, 1)


def conv_torch(x, k, b, padding, stride):
    y = F.conv2d(nchw(x), k.permute(3, 2, 0, 1), b, stride=stride, padding=padding)
    return y.permute(2, 3, 1, 0)


COND = np.random.default_rng(99).random((3, 4)) > 0.5
T34 = np.random.default_rng(98).dirichlet(np.ones(3), 4).T  # (3, 4) probability columns


def srelu_torch(x, tl, al, tr, ar):
    tl, al, tr, ar = (p.reshape(-1, 1) for p in (tl, al, tr, ar))
    return x + (al - 1) * torch.clamp(x - tl, max=0) + (ar - 1) * torch.clamp(x - tr, min=0)


# name: (srelu_lib function, torch function, input arrays, formats)
CASES = {
    "add subtract": (lambda a, b: (a + b) ** 2 - b, lambda a, b: (a + b) ** 2 - b,
                     [away_from_zero((3, 4), 1), away_from_zero((4,), 2)], None),
    "multiply": (lambda a, b: a * b * a, lambda a, b: a * b * a, [away_from_zero((3, 4), 3), away_from_zero((3, 1), 4)],
                 None),
    "divide": (lambda a, b: a / b, lambda a, b: a / b, [away_from_zero((3, 4), 5), away_from_zero((3, 4), 6)], None),
    "power": (lambda a: a**3 - a**-2, lambda a: a**3 - a**-2, [away_from_zero((3, 4), 7)], None),
    "sum mean": (lambda a: a.sum(axis=0) ** 2 + a.mean() * a, lambda a: a.sum(dim=0) ** 2 + a.mean() * a,
                 [away_from_zero((3, 4), 8)], None),
    "reshape permute": (lambda a: ops.permute(a.reshape(2, 6), (1, 0)) ** 3,
                        lambda a: a.reshape(2, 6).permute(1, 0) ** 3, [away_from_zero((3, 4), 9)], None),
    "getitem": (lambda a: a[[0, 0, 2], 1:] ** 3, lambda a: a[[0, 0, 2], 1:] ** 3, [away_from_zero((3, 4), 10)], None),
    "where": (lambda a, b: ops.where(COND, a * a, a * b), lambda a, b: torch.where(torch.tensor(COND), a * a, a * b),
              [away_from_zero((3, 4), 11), away_from_zero((3, 4), 12)], None),
    "matmul": (lambda a, b: (a @ b) ** 2, lambda a, b: (a @ b) ** 2,
               [away_from_zero((3, 4), 13), away_from_zero((4, 2), 14)], None),
    "fullyconnect": (lambda x, w, b: srelu_lib.tanh(srelu_lib.fullyconnect(x, w, b)),
                     lambda x, w, b: torch.tanh(w @ x.reshape(-1, x.shape[-1]) + b.reshape(-1, 1)),
                     [away_from_zero((2, 2, 3, 2), 15), away_from_zero((3, 12), 16), away_from_zero((3,), 17)],
                     ["SSCB", "", ""]),
    "dlconv": (lambda x, k, b: srelu_lib.dlconv(x, k, b) ** 2, lambda x, k, b: conv_torch(x, k, b, 1, 1) ** 2,
               [away_from_zero((4, 4, 2, 2), 18), away_from_zero((3, 3, 2, 3), 19), away_from_zero((3,), 20)],
               ["SSCB", "", ""]),
    "dlconv stride": (lambda x, k, b: srelu_lib.dlconv(x, k, b, padding="valid", stride=2) ** 2,
                      lambda x, k, b: conv_torch(x, k, b, 0, 2) ** 2,
                      [away_from_zero((5, 5, 1, 2), 21), away_from_zero((3, 3, 1, 2), 22), away_from_zero((2,), 23)],
                      ["SSCB", "", ""]),
    "relu": (lambda a: srelu_lib.relu(a) ** 2, lambda a: torch.relu(a) ** 2, [away_from_zero((3, 4), 24)], None),
    "leakyrelu": (lambda a: srelu_lib.leakyrelu(a, 0.3) ** 3, lambda a: F.leaky_relu(a, 0.3) ** 3,
                  [away_from_zero((3, 4), 25)], None),
    "softmax": (lambda a: srelu_lib.softmax(a), lambda a: torch.softmax(a, dim=0), [away_from_zero((3, 4), 26)],
                ["CB"]),
    "crossentropy": (lambda a: srelu_lib.crossentropy(srelu_lib.softmax(a), T34),
                     lambda a: -(torch.tensor(T34) * torch.log(torch.softmax(a, dim=0))).sum() / 4,
                     [away_from_zero((3, 4), 27)], ["CB"]),
    "mse": (lambda y, t: srelu_lib.mse(y * y, t), lambda y, t: 0.5 * ((y * y - t) ** 2).sum() / 4,
            [away_from_zero((3, 4), 28), away_from_zero((3, 4), 29)], ["CB", "CB"]),
    "exp": (srelu_lib.exp, torch.exp, [away_from_zero((3, 4), 30)], None),
    "log": (srelu_lib.log, torch.log, [positive((3, 4), 31)], None),
    "sqrt": (srelu_lib.sqrt, torch.sqrt, [positive((3, 4), 32)], None),
    "tanh": (srelu_lib.tanh, torch.tanh, [away_from_zero((3, 4), 33)], None),
    "sigmoid": (srelu_lib.sigmoid, torch.sigmoid, [3 * away_from_zero((3, 4), 34)], None),
    "abs": (lambda a: abs(a) ** 3, lambda a: torch.abs(a) ** 3, [away_from_zero((3, 4), 35)], None),
    "srelu": (srelu_lib.srelu, srelu_torch,
              [np.array([[-2.0, -0.9, -0.2, 0.3, 0.9, 2.5], [-1.5, -0.3, 0.1, 0.4, 1.2, 3.0]]),
               np.array([-0.5, -0.6]), np.array([0.2, -0.4]), np.array([0.5, 0.6]), np.array([2.0, 0.7])],
              ["CB", "", "", "", ""]),
    "srelu crossed": (srelu_lib.srelu, srelu_torch,
                      [np.array([[-2.0, -0.9, -0.2, 0.3, 0.9, 2.5]]), np.array([0.6]), np.array([0.3]),
                       np.array([-0.4]), np.array([1.8])],
                      ["CB", "", "", "", ""]),
}


def hessian_vector_products(name):
    ours, theirs, arrays, formats = CASES[name]
    formats = formats or [""] * len(arrays)
    r = np.random.default_rng(1000)
    out_shape = extractdata(ours(*(dlarray(a, f) for a, f in zip(arrays, formats, strict=True)))).shape
    W = r.standard_normal(out_shape)
    V = [r.standard_normal(a.shape) for a in arrays]

    def second(*xs):
        G = dlgradient((ours(*xs) * W).sum(), list(xs), enable_higher_derivatives=True)
        S = sum(((g * v).sum() for g, v in zip(G[1:], V[1:], strict=True)), (G[0] * V[0]).sum())
        return dlgradient(S, list(xs))

    mine = [np.asarray(extractdata(h)) for h in dlfeval(second, *(dlarray(a, f) for a, f in
                                                                    zip(arrays, formats, strict=True)))]
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    L = (theirs(*xs) * torch.tensor(W)).sum()
    G = torch.autograd.grad(L, xs, create_graph=True)
    S = sum((g * torch.tensor(v)).sum() for g, v in zip(G, V, strict=True))
    reference = [h.detach().numpy() for h in torch.autograd.grad(S, xs, allow_unused=True, materialize_grads=True)]
    return mine, reference


@pytest.mark.parametrize("name", list(CASES))
def test_hessian_vector_products_match_pytorch(name):
    mine, reference = hessian_vector_products(name)
    for i, (a, b) in enumerate(zip(mine, reference, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=f"{name}: input {i}")
