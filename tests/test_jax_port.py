"""srelu_lib.jax against srelu_lib.srelu: values, VJPs, jit, vmap, grad-of-grad, check_grads, errors.

Float64 in JAX needs the global switch ``jax_enable_x64``; every test that uses it runs inside
``jax.enable_x64(True)`` (a context manager), so the switch never leaks into other tests.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from port_reference import LAYOUTS, NAMES, make_case, make_nonfinite_case, srelu_lib_answer, tolerances

import srelu_lib.jax as sj


def precision(dtype):
    """float64 needs jax_enable_x64; float32 runs in JAX's default mode."""
    return jax.enable_x64(True) if np.dtype(dtype) == np.float64 else contextlib.nullcontext()


def jax_answer(case):
    """``y`` and the gradients of ``sum(G * y)`` from srelu_lib.jax (one VJP), as NumPy arrays."""
    args = (jnp.asarray(case.x), *(jnp.asarray(p) for p in case.params))
    assert all(a.dtype == case.x.dtype for a in args)

    @jax.jit  # one compilation instead of one per operation (eager JAX is the slow part of these tests)
    def value_and_vjp(G, *a):
        y, vjp = jax.vjp(lambda *a: sj.srelu(*a, channel_axis=case.axis), *a)
        return y, vjp(G)

    y, grads = value_and_vjp(jnp.asarray(case.G), *args)
    assert y.dtype == case.x.dtype and all(g.dtype == a.dtype and g.shape == a.shape for g, a in zip(grads, args,
                                                                                                   strict=True))
    return np.asarray(y), tuple(np.asarray(g) for g in grads)


def assert_same(actual, expected, dtype):
    y, grads = actual
    y_ref, grads_ref = expected
    tol = tolerances(dtype)
    np.testing.assert_allclose(y, y_ref, **tol, err_msg="y")
    for name, g, g_ref in zip(("x", *NAMES), grads, grads_ref, strict=True):
        scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(g_ref), 0, g_ref)), initial=0)))
        np.testing.assert_allclose(g, g_ref, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=f"dL/d{name}")


# --- values and gradients against srelu_lib ------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_srelu_lib_per_channel(layout, dtype):
    case = make_case(layout, dtype, "(C,)", seed=1, crossed=True)
    with precision(dtype):
        assert_same(jax_answer(case), srelu_lib_answer(case), dtype)


@pytest.mark.parametrize("param_shape", ["()", "(1,)"])
@pytest.mark.parametrize("crossed", [False, True], ids=["tl<tr", "tl>tr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_srelu_lib_shared(param_shape, crossed, dtype):
    case = make_case("NHWC", dtype, param_shape, seed=2, crossed=crossed)
    with precision(dtype):
        assert_same(jax_answer(case), srelu_lib_answer(case), dtype)


def test_float32_sums_in_float64_when_x64_is_on():
    case = make_case("NCHW", np.float32, "(C,)", seed=3)
    with jax.enable_x64(True):
        assert_same(jax_answer(case), srelu_lib_answer(case), np.float32)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # srelu_lib's loss sums +-inf
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_match_srelu_lib(dtype):
    case = make_nonfinite_case(dtype)
    with precision(dtype):
        y, grads = jax_answer(case)
    assert_same((y, grads), srelu_lib_answer(case), dtype)
    assert y[0, 1, 0, 0] == np.inf and y[1, 1, 2, 2] == -np.inf and np.isnan(y[1, 2, 0, 1])
    assert np.isnan(y[:, 3]).all() and np.isfinite(y[:, 4]).all()
    assert all(np.isnan(g[0]) for g in grads[1:]) and all(np.isfinite(g[4]) for g in grads[1:])


# --- transformations -----------------------------------------------------------------------
def test_jit_matches_eager_values_and_gradients():
    case = make_case("HWCB", np.float32, "(C,)", seed=4, crossed=True)
    args = (case.x, *case.params)

    def loss(*a):
        return jnp.sum(jnp.asarray(case.G) * sj.srelu(*a, channel_axis=2))

    eager = jax.value_and_grad(loss, argnums=range(5))(*args)
    compiled = jax.jit(jax.value_and_grad(loss, argnums=range(5)))(*args)
    for e, c in zip(jax.tree.leaves(eager), jax.tree.leaves(compiled), strict=True):
        np.testing.assert_allclose(np.asarray(c), np.asarray(e), rtol=1e-5, atol=1e-5)


def test_vmap_over_the_batch_and_over_per_example_parameters():
    case = make_case("NHWC", np.float32, "(C,)", seed=5)
    x, params = jnp.asarray(case.x), [jnp.asarray(p) for p in case.params]
    per_example = jax.vmap(lambda xi: sj.srelu(xi, *params))(x)  # each xi is (H, W, C)
    np.testing.assert_array_equal(per_example, sj.srelu(x, *params))
    stacked = [jnp.stack([p, 2 * p]) for p in params]  # two parameter sets, mapped together with two inputs
    mapped = jax.vmap(lambda xi, *p: sj.srelu(xi, *p))(x, *stacked)
    for n in range(2):
        np.testing.assert_array_equal(mapped[n], sj.srelu(x[n], *(p[n] for p in stacked)))
    grad_per_example = jax.vmap(jax.grad(lambda xi, ar: sj.srelu(xi, *params[:3], ar).sum(), argnums=1),
                                in_axes=(0, None))(x, params[3])
    for n in range(2):
        expected = jax.grad(lambda ar, n=n: sj.srelu(x[n], *params[:3], ar).sum())(params[3])
        np.testing.assert_allclose(grad_per_example[n], expected, rtol=1e-6)


def away_from_kinks(shape, axis, param_shape, crossed, seed):
    rng = np.random.default_rng(seed)
    C = shape[axis]
    n = C if param_shape == "(C,)" else 1
    tl, tr = rng.uniform(-1.0, -0.2, n), rng.uniform(0.2, 1.0, n)
    if crossed:
        tl, tr = tr, tl
    al, ar = rng.uniform(-0.5, 0.5, n), rng.uniform(0.5, 2.5, n)
    x = 1.5 * rng.standard_normal(shape)
    bshape = [n if d == axis % len(shape) else 1 for d in range(len(shape))]
    for t in (tl, tr):
        x = np.where(np.abs(x - t.reshape(bshape)) < 1e-2, x + 2e-2, x)
    params = [p.reshape(()) if param_shape == "()" else p for p in (tl, al, tr, ar)]
    return [jnp.asarray(a) for a in (x, *params)]


@pytest.mark.parametrize(
    "shape, axis, param_shape, crossed",
    [((2, 4, 3), -1, "(C,)", False), ((2, 3, 4), 1, "(C,)", True), ((3, 5), 1, "()", True), ((4,), 0, "(C,)", False)],
)
def test_check_grads_reverse_mode_first_and_second_order(shape, axis, param_shape, crossed):
    with jax.enable_x64(True):
        args = away_from_kinks(shape, axis, param_shape, crossed, seed=6)
        assert args[0].dtype == jnp.float64
        check_grads(jax.jit(lambda *a: sj.srelu(*a, channel_axis=axis)), args, order=2, modes=["rev"])
        if len(shape) == 1:  # without jit too (op by op, slower)
            check_grads(lambda *a: sj.srelu(*a, channel_axis=axis), args, order=2, modes=["rev"])


def test_grad_of_grad_gives_the_mixed_partials():
    # d/dal of sum(v * dL/dx) with L = sum(y): dL/dx = al on x <= tl, so the result is sum(v) over that region.
    with jax.enable_x64(True):
        x = jnp.array([-2.0, -1.5, 0.0, 2.0])
        v = jnp.array([1.0, 10.0, 100.0, 1000.0])

        def inner(al, ar):
            dx = jax.grad(lambda x: sj.srelu(x, -1.0, al, 1.0, ar, channel_axis=0).sum())(x)
            return jnp.sum(v * dx)

        dal, dar = jax.grad(inner, argnums=(0, 1))(jnp.float64(0.3), jnp.float64(2.0))
        assert (float(dal), float(dar)) == (11.0, 1000.0)
        assert float(jax.jit(jax.grad(inner))(jnp.float64(0.3), jnp.float64(2.0))) == 11.0


def test_forward_mode_raises_instead_of_guessing():
    x = jnp.array([[-2.0, 0.0, 2.0]])
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda x: sj.srelu(x, -1.0, 0.5, 1.0, 2.0), (x,), (jnp.ones_like(x),))


def test_backward_computes_only_the_differentiated_inputs(monkeypatch):
    from srelu_lib.jax import operation

    seen = []
    original = operation.srelu_backward

    def spy(*args):
        seen.append(tuple(args[-1]))
        return original(*args)

    monkeypatch.setattr(operation, "srelu_backward", spy)
    x = jnp.ones((2, 3))
    params = [jnp.full(3, v) for v in (-0.5, 0.1, 0.5, 2.0)]
    grads = jax.grad(lambda x, tr: sj.srelu(x, params[0], params[1], tr, params[3]).sum(), argnums=(0, 1))(
        x, params[2])
    assert seen == [(True, False, False, True, False)]
    assert grads[1].shape == (3,)


# --- bad input -----------------------------------------------------------------------------
def test_bad_input_errors_name_the_argument():
    x = jnp.zeros((2, 4, 3))
    ok = [jnp.zeros(3) for _ in range(4)]
    with pytest.raises(ValueError, match=r"ar must have shape \(\) or \(1,\).*\(C,\) = \(3,\).*got shape \(4,\)"):
        sj.srelu(x, *ok[:3], jnp.zeros(4))
    with pytest.raises(ValueError, match=r"tl must have shape.*got shape \(3, 1\)"):
        sj.srelu(x, jnp.zeros((3, 1)), *ok[1:])
    with pytest.raises(IndexError, match=r"channel_axis=3 is out of range .* \[-3, 2\]"):
        sj.srelu(x, *ok, channel_axis=3)
    with pytest.raises(TypeError, match=r"x must be a real floating-point array; got dtype int32"):
        sj.srelu(jnp.zeros((2, 3), dtype=jnp.int32), *ok)
    with pytest.raises(TypeError, match=r"x must be a real floating-point array; got dtype complex64"):
        sj.srelu(jnp.zeros((2, 3), dtype=jnp.complex64), *ok)
    with pytest.raises(TypeError, match=r"al must be a real floating-point array; got dtype int32"):
        sj.srelu(x, ok[0], jnp.zeros(3, dtype=jnp.int32), *ok[2:])
    with pytest.raises(TypeError, match=r"tr has dtype float16 but x has dtype float32"):
        sj.srelu(x, *ok[:2], jnp.zeros(3, dtype=jnp.float16), ok[3])
    with pytest.raises(TypeError, match=r"tl must be a JAX or NumPy array; got list"):
        sj.srelu(x, [0.0, 0.0, 0.0], *ok[1:])
    with pytest.raises(TypeError, match=r"channel_axis must be an int; got float"):
        sj.srelu(x, *ok, channel_axis=1.0)
    np.testing.assert_array_equal(sj.srelu(jnp.array([[-2.0, 2.0]]), -1, 0.5, 1, 2.0), [[-1.5, 3.0]])


def test_missing_jax_gives_an_import_error_naming_the_extra():
    code = "import sys; sys.modules['jax'] = None\nimport srelu_lib.jax"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "ImportError: srelu_lib.jax needs JAX" in result.stderr
    assert "pip install 'srelu_lib[jax]'" in result.stderr


# --- the digits model ------------------------------------------------------------------------
def test_digits_model_trains_like_srelu_lib():
    from srelu_lib import extractdata
    from srelu_lib.digits import initialize_parameters, load_digits_split, model_loss
    from srelu_lib.jax import digits
    from srelu_lib.train import minibatches, onehot, train

    data = load_digits_split()
    T_train = onehot(data.y_train, 10, np.float64)
    initial = initialize_parameters(np.random.default_rng(1))
    reference = []

    def record(info):
        reference.append((info.loss, info.params))
        return info.iteration == 4

    train(model_loss, initial, data.X_train, T_train, epochs=1, batch_size=32, learn_rate=0.003, seed=1,
          x_format="SSCB", callback=record)
    with jax.enable_x64(True):
        params = digits.from_srelu_lib(initial)
        avg_g = jax.tree.map(jnp.zeros_like, params)
        avg_sq_g = jax.tree.map(jnp.zeros_like, params)
        batches = minibatches(data.X_train, T_train, 32, seed=np.random.default_rng(1))
        for t, ((loss_ref, params_ref), (X, T)) in enumerate(zip(reference, batches, strict=False), start=1):
            params, avg_g, avg_sq_g, loss = digits.train_step(params, avg_g, avg_sq_g, jnp.float64(t),
                                                              jnp.asarray(X), jnp.asarray(T))
            assert abs(float(loss) - loss_ref) < 1e-12
            for group, entries in params_ref.items():
                for name, value in entries.items():
                    np.testing.assert_allclose(params[group][name], extractdata(value), rtol=0, atol=1e-12)
    assert len(reference) == 4
