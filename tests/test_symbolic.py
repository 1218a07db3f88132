"""Tests of srelu_lib.symbolic: the SymPy formulas agree with the NumPy library, and stay optional."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy

from srelu_lib.kernels import srelu_backward, srelu_forward
from srelu_lib.symbolic import derivatives, numeric, srelu_hinge, srelu_piecewise, symbols

NAMES = ("x", "tl", "al", "tr", "ar")


@pytest.fixture(scope="module")
def f():
    return numeric()


def random_data(seed: int, shape=(5, 3, 4), channel_axis=1, margin=1e-3):
    """x (uniform) with per-channel tl < tr, reshaped to broadcast; x kept `margin` away from the kinks."""
    rng = np.random.default_rng(seed)
    C = shape[channel_axis]
    view = [1] * len(shape)
    view[channel_axis] = C
    tl = rng.uniform(-1.0, -0.1, C)
    tr = rng.uniform(0.1, 1.0, C)
    al = rng.uniform(-0.5, 1.5, C)
    ar = rng.uniform(0.0, 2.5, C)
    x = rng.uniform(-2.0, 2.0, shape)
    near = (np.abs(x - tl.reshape(view)) < margin) | (np.abs(x - tr.reshape(view)) < margin)
    x[near] += 3 * margin
    return x, tl, al, tr, ar, view


def test_symbols_are_real_and_named():
    s = symbols()
    assert s._fields == ("x", "tl", "al", "tr", "ar")
    assert all(v.is_real for v in s)
    assert str(s.tl) == "t_l" and sympy.latex(s.ar) == "a_{r}"


def test_piecewise_equals_hinge_for_tl_below_tr():
    s = symbols()
    pw, hinge = srelu_piecewise(), srelu_hinge()
    rng = np.random.default_rng(0)
    for _ in range(30):
        tl, tr = sorted(rng.uniform(-2, 2, 2))
        values = {s.tl: tl, s.tr: tr, s.al: rng.uniform(-1, 2), s.ar: rng.uniform(-1, 2)}
        for x in (*rng.uniform(-3, 3, 5), tl, tr):
            values[s.x] = x
            assert float(pw.subs(values)) == pytest.approx(float(hinge.subs(values)), abs=1e-12)


def test_piecewise_and_hinge_differ_only_when_tl_above_tr(f):
    # For tl > tr the textbook Piecewise (only valid for tl < tr) is not the library's function.
    s = symbols()
    hinge = sympy.lambdify(tuple(s), srelu_hinge(), "numpy")
    x = np.linspace(-3, 3, 61)
    assert not np.allclose(f.value(x, 1.0, 0.5, -1.0, 2.0), hinge(x, 1.0, 0.5, -1.0, 2.0))
    np.testing.assert_allclose(srelu_forward(x[None], 1.0, 0.5, -1.0, 2.0, 0)[0], hinge(x, 1.0, 0.5, -1.0, 2.0))


def test_derivatives_are_sympys_diff_of_the_piecewise():
    s = symbols()
    pw = srelu_piecewise()
    d = derivatives()
    assert set(d) == set(NAMES)
    rng = np.random.default_rng(1)
    for name, var in zip(NAMES, s, strict=True):
        tidy = sympy.lambdify(tuple(s), d[name], "numpy")
        raw = sympy.lambdify(tuple(s), sympy.diff(pw, var), "numpy")
        x = rng.uniform(-2, 2, 200)
        args = (x, -0.4, 0.3, 0.6, 1.7)
        np.testing.assert_allclose(np.broadcast_to(tidy(*args), x.shape), np.broadcast_to(raw(*args), x.shape))
        assert isinstance(d[name], sympy.Piecewise)


def test_kinks_land_on_the_same_side_as_the_library_masks(f):
    # At x == tl SymPy's derivative uses the left branch, at x == tr the right one, as L = x <= tl, R = x >= tr.
    tl, al, tr, ar = -0.5, 0.25, 0.5, 3.0
    x = np.array([[tl, tr]])
    assert f.dx(x, tl, al, tr, ar).tolist() == [[al, ar]]
    dX, *_ = srelu_backward(np.ones_like(x), x, tl, al, tr, ar, 0, [True] * 5)
    assert dX.tolist() == [[al, ar]]


@pytest.mark.parametrize("seed", range(5))
def test_lambdified_derivatives_equal_numpy_backward_local_derivatives(f, seed):
    x, tl, al, tr, ar, view = random_data(seed)
    pc = [p.reshape(view) for p in (tl, al, tr, ar)]
    ones = np.ones_like(x)
    # Local derivatives, one element at a time: backward with dLdY = indicator of that element.
    dX, dtl, dal, dtr, dar = srelu_backward(ones, x, tl, al, tr, ar, 1, [True] * 5)
    np.testing.assert_allclose(dX, f.dx(x, *pc), rtol=1e-15)
    np.testing.assert_allclose(srelu_forward(x, tl, al, tr, ar, 1), f.value(x, *pc), rtol=1e-14, atol=1e-15)
    for grad, local in zip((dtl, dal, dtr, dar), (f.dtl, f.dal, f.dtr, f.dar), strict=True):
        np.testing.assert_allclose(grad, local(x, *pc).sum(axis=(0, 2)), rtol=1e-12, atol=1e-13)
    # And elementwise (no sums): a (C, B) layout where each channel has a single element.
    rng = np.random.default_rng(100 + seed)
    x1 = rng.uniform(-2, 2, (tl.size, 1))
    for k, local in enumerate((f.dtl, f.dal, f.dtr, f.dar)):
        flags = [False] * 5
        flags[k + 1] = True
        g = srelu_backward(np.ones_like(x1), x1, tl, al, tr, ar, 0, flags)[k + 1]
        np.testing.assert_allclose(g, local(x1, *(p[:, None] for p in (tl, al, tr, ar)))[:, 0], atol=1e-15)


def test_numeric_broadcasts_per_channel_parameters(f):
    x = np.zeros((2, 3, 4))
    tl = np.array([-1.0, 0.5, -0.5])[None, :, None]
    out = f.dtl(x, tl, 0.2, 2.0, 1.5)
    assert out.shape == x.shape
    np.testing.assert_array_equal(out[:, 1], 0.8)  # x = 0 <= tl = 0.5: 1 - al
    np.testing.assert_array_equal(out[:, 0], 0.0)
    assert f.dtr(0.0, -1.0, 0.2, 2.0, 1.5).shape == ()


def test_derivatives_render_cleanly():
    latex = sympy.latex(derivatives()["x"])
    assert r"x \leq t_{l}" in latex and r"x < t_{r}" in latex
    assert "otherwise" in latex


def test_import_srelu_lib_does_not_import_sympy_or_matplotlib():
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "import srelu_lib\n"
        "elapsed = time.perf_counter() - t\n"
        "print(sorted(m for m in ('sympy', 'matplotlib', 'numba', 'ipywidgets') if m in sys.modules))\n"
        "print(f'{elapsed:.3f}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    print(f"import srelu_lib took {out[-1]} s")  # informational only: no timed assertion
    assert out[0] == "[]", out


def test_symbolic_is_importable_as_a_submodule():
    code = "import srelu_lib.symbolic, sys; print('sympy' in sys.modules, hasattr(srelu_lib.symbolic, 'numeric'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
