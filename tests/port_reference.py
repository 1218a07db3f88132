"""Test data and srelu_lib's own answers, shared by the tests of the PyTorch and JAX ports.

Every case is plain NumPy: ``x`` in some layout with its channel axis, the four
parameters, and an upstream gradient ``G``.  :func:`srelu_lib_answer` runs
:func:`srelu_lib.srelu` on it (the data moved into MATLAB's canonical order
``S..., C, B`` and labelled) and returns ``y`` and the five gradients of
``sum(G * y)``, back in the case's layout.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from srelu_lib import dlarray, dlfeval, dlgradient, extractdata, srelu

# name: (shape, channel axis)
LAYOUTS = {
    "NCHW": ((2, 3, 4, 5), 1),
    "NHWC": ((2, 4, 5, 3), -1),
    "HWCB": ((4, 5, 3, 2), 2),  # MATLAB's "SSCB"
    "NCL": ((2, 3, 6), -2),
    "NC": ((7, 3), 1),
    "C": ((3,), 0),
}
NAMES = ("tl", "al", "tr", "ar")


@dataclasses.dataclass
class Case:
    x: np.ndarray
    params: tuple[np.ndarray, ...]  # tl, al, tr, ar
    G: np.ndarray  # upstream gradient dL/dy
    axis: int


def make_case(layout: str, dtype, param_shape: str, seed: int, crossed: bool = False) -> Case:
    """Random data with some elements exactly on their channel's thresholds.

    ``param_shape``: ``"()"``, ``"(1,)"`` or ``"(C,)"``.  ``crossed``: tl > tr
    (on every channel for shared parameters, on channel 0 for per-channel ones).
    """
    shape, axis = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    C = shape[axis]
    n = C if param_shape == "(C,)" else 1
    tl = rng.uniform(-1.0, -0.2, n)
    tr = rng.uniform(0.2, 1.0, n)
    if crossed:
        tl[0], tr[0] = tr[0], tl[0]
    al = rng.uniform(-0.5, 1.0, n)
    ar = rng.uniform(0.5, 2.5, n)
    x = 1.5 * rng.standard_normal(shape)
    # thresholds hit exactly: the first elements of every channel sit on tl and on tr
    moved = np.moveaxis(x, axis, 0).reshape(C, -1)
    for c in range(C):
        k = c if n > 1 else 0
        moved[c, 0] = tl[k]
        if moved.shape[1] > 1:
            moved[c, 1] = tr[k]
    x = np.moveaxis(moved.reshape(np.moveaxis(x, axis, 0).shape), 0, axis)
    params = tuple(p.reshape(()) if param_shape == "()" else p for p in (tl, al, tr, ar))
    G = rng.standard_normal(shape)
    return Case(x.astype(dtype), tuple(p.astype(dtype) for p in params), G.astype(dtype), axis)


def make_nonfinite_case(dtype) -> Case:
    """NCHW data, 5 channels: NaN data (0), +-inf with ar == 1 and al > 0 (1), -inf with al == 0 (2),
    a NaN parameter (3), and a clean channel (4)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5, 3, 3))
    tl = np.full(5, -0.5)
    al = np.array([0.3, 0.5, 0.0, 0.3, 0.3])
    tr = np.full(5, 0.5)
    ar = np.array([1.5, 1.0, 1.5, 1.5, 1.5])
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 0, 0], x[1, 1, 2, 2] = np.inf, -np.inf
    x[1, 2, 0, 1] = -np.inf
    tl[3] = np.nan
    G = rng.standard_normal(x.shape)
    return Case(x.astype(dtype), tuple(p.astype(dtype) for p in (tl, al, tr, ar)), G.astype(dtype), 1)


def to_canonical(a: np.ndarray, axis: int) -> tuple[np.ndarray, str]:
    """``a`` with its channel axis moved to MATLAB's canonical place (S..., C, B), and the format."""
    if a.ndim == 1:
        return a, "C"
    return np.moveaxis(a, axis, -2), "S" * (a.ndim - 2) + "CB"


def from_canonical(a: np.ndarray, axis: int) -> np.ndarray:
    return a if a.ndim == 1 else np.moveaxis(a, -2, axis)


def srelu_lib_answer(case: Case) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """``y`` and the gradients of ``sum(G * y)`` wrt ``(x, tl, al, tr, ar)`` from srelu_lib.srelu."""
    X, fmt = to_canonical(case.x, case.axis)
    G, _ = to_canonical(case.G, case.axis)

    def loss_and_grads(X, *params):
        Y = srelu(X, *params)
        return Y, dlgradient((Y * G).sum(), X, *params)

    Y, grads = dlfeval(loss_and_grads, dlarray(X, fmt), *(dlarray(p) for p in case.params))
    grads = tuple(np.asarray(extractdata(g)) for g in grads)
    return (from_canonical(np.asarray(extractdata(Y)), case.axis),
            (from_canonical(grads[0], case.axis), *grads[1:]))


def tolerances(dtype) -> dict:
    return {"rtol": 1e-12, "atol": 1e-12} if np.dtype(dtype) == np.float64 else {"rtol": 2e-5, "atol": 2e-5}
