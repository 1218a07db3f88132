"""SReLU's region formulas are written once (srelu_lib.kernels.formulas) and serve every implementation.

SymPy differentiates the pieces and must find the derivative formulas; numba's compiled copies must give
the Python functions' bits; the formulas keep NumPy's dtypes; SymPy's Piecewise is built from them.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect

import numpy as np
import pytest
import sympy

from srelu_lib import symbolic
from srelu_lib.kernels import formulas
from srelu_lib.kernels.reference import region_values

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (pip install numba)")


def test_the_derivative_formulas_are_sympys_derivatives_of_the_pieces():
    x, tl, al, tr, ar = symbolic.symbols()
    left, right = formulas.left(x, tl, al), formulas.right(x, tr, ar)
    both = formulas.both(x, left, right)
    expected = {
        (left, tl): formulas.left_dtl(al), (left, al): formulas.left_dal(x, tl), (left, x): al,
        (right, tr): formulas.right_dtr(ar), (right, ar): formulas.right_dar(x, tr), (right, x): ar,
        (both, x): formulas.both_dx(al, ar), (both, tl): formulas.left_dtl(al), (both, ar): formulas.right_dar(x, tr),
    }
    for (piece, var), derivative in expected.items():
        assert sympy.simplify(sympy.diff(piece, var) - derivative) == 0, (piece, var)


def test_both_pieces_together_are_the_hinge_form():
    x, tl, al, tr, ar = symbolic.symbols()
    both = formulas.both(x, formulas.left(x, tl, al), formulas.right(x, tr, ar))
    # where tr <= x <= tl: Min(x - tl, 0) = x - tl and Max(x - tr, 0) = x - tr
    hinge_there = x + (al - 1) * (x - tl) + (ar - 1) * (x - tr)
    assert sympy.expand(both - hinge_there) == 0


def test_the_piecewise_is_built_from_the_formulas():
    x, tl, al, tr, ar = symbolic.symbols()
    (y_left, _), (y_middle, _), (y_right, _) = symbolic.srelu_piecewise().args
    assert y_left == formulas.left(x, tl, al) and y_middle == x and y_right == formulas.right(x, tr, ar)


def test_formulas_are_plain_python():
    """No NumPy, no SymPy, no numba inside: each caller brings its own numbers (arrays, symbols, compiled)."""
    tree = ast.parse(inspect.getsource(formulas))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(tree)
                                            if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"annotations", "__future__", "Any", "typing"}, imported
    for name in formulas.__all__:
        assert inspect.isfunction(getattr(formulas, name)), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_formulas_keep_the_arrays_dtype(dtype):
    x = np.linspace(-2, 2, 5, dtype=dtype)
    p = dtype(0.3)
    for name in formulas.__all__:
        f = getattr(formulas, name)
        args = (x, p, p)[: len(inspect.signature(f).parameters)]
        assert np.asarray(f(*args)).dtype == dtype, name


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_compiles_the_same_formulas(dtype):
    from srelu_lib.kernels import numba_fused

    rng = np.random.default_rng(0)
    values = rng.standard_normal((50, 5)).astype(dtype)
    for name in ("left", "right", "both", "left_dal", "right_dar"):
        compiled = getattr(numba_fused, f"_{name}")
        assert compiled.py_func is getattr(formulas, name)  # compiled from the formulas' own source
        for row in values:
            args = tuple(row[: len(inspect.signature(compiled.py_func).parameters)])
            assert compiled(*args) == getattr(formulas, name)(*args), name  # the same bits


@needs_numba
def test_numba_value_picks_the_regions_like_the_reference():
    from srelu_lib.kernels import numba_fused

    X = np.array([-3.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0, np.inf, -np.inf, np.nan])
    for tl, al, tr, ar in [(-1.0, 0.5, 1.0, 2.0), (0.5, 0.25, -0.5, 3.0), (0.25, 2.0, 0.25, 0.5)]:
        expected = region_values(X, tl, al, tr, ar)
        got = np.array([numba_fused._value(x, tl, al, tr, ar) for x in X])
        np.testing.assert_array_equal(got, expected)


@needs_numba
def test_numba_cache_entries_are_named_after_the_formulas_source():
    """numba's cache checks only the kernel's own file: a hash of formulas.py in the name keeps it fresh."""
    import hashlib

    from srelu_lib.kernels import numba_fused

    digest = hashlib.sha256(inspect.getsource(formulas).encode()).hexdigest()[:16]
    for kernel in (numba_fused._forward, numba_fused._backward_rows, numba_fused._backward_pattern,
                   numba_fused._backward_fast, numba_fused._backward_fast_segments):
        assert kernel.py_func.__qualname__.endswith(f"_{digest}"), kernel
