"""srelu_lib.torch against srelu_lib.srelu: values, gradients, double backward, opcheck, errors, SReLU."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from port_reference import LAYOUTS, NAMES, make_case, make_nonfinite_case, srelu_lib_answer, tolerances

import srelu_lib.torch as st

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

IMPLEMENTATIONS = {"autograd.Function": st.srelu, "custom_op": st.srelu_custom_op}


def torch_answer(fn, case, **kwargs):
    """``y`` and the gradients of ``sum(G * y)`` from a PyTorch implementation, as NumPy arrays."""
    x = torch.tensor(case.x, requires_grad=True)
    params = [torch.tensor(p, requires_grad=True) for p in case.params]
    y = fn(x, *params, channel_dim=case.axis, **kwargs)
    grads = torch.autograd.grad((y * torch.tensor(case.G)).sum(), [x, *params])
    assert y.dtype == x.dtype and all(g.dtype == p.dtype and g.shape == p.shape
                                      for g, p in zip(grads, [x, *params], strict=True))
    return y.detach().numpy(), tuple(g.numpy() for g in grads)


def assert_same(actual, expected, dtype):
    y, grads = actual
    y_ref, grads_ref = expected
    tol = tolerances(dtype)
    np.testing.assert_allclose(y, y_ref, **tol, err_msg="y")
    for name, g, g_ref in zip(("x", *NAMES), grads, grads_ref, strict=True):
        scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(g_ref), 0, g_ref)), initial=0)))
        np.testing.assert_allclose(g, g_ref, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=f"dL/d{name}")


# --- values and gradients against srelu_lib ------------------------------------------------
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_srelu_lib_per_channel(implementation, layout, dtype):
    case = make_case(layout, dtype, "(C,)", seed=1, crossed=True)
    assert_same(torch_answer(IMPLEMENTATIONS[implementation], case), srelu_lib_answer(case), dtype)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("param_shape", ["()", "(1,)"])
@pytest.mark.parametrize("crossed", [False, True], ids=["tl<tr", "tl>tr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_srelu_lib_shared(implementation, param_shape, crossed, dtype):
    case = make_case("NCHW", dtype, param_shape, seed=2, crossed=crossed)
    assert_same(torch_answer(IMPLEMENTATIONS[implementation], case), srelu_lib_answer(case), dtype)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # srelu_lib's loss sums +-inf
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_match_srelu_lib(implementation, dtype):
    case = make_nonfinite_case(dtype)
    y, grads = torch_answer(IMPLEMENTATIONS[implementation], case)
    assert_same((y, grads), srelu_lib_answer(case), dtype)
    assert y[0, 1, 0, 0] == np.inf and y[1, 1, 2, 2] == -np.inf  # slope 1 keeps +inf; al > 0 keeps -inf
    assert np.isnan(y[1, 2, 0, 1])  # al == 0 at -inf: 0 * inf
    assert np.isnan(y[:, 3]).all() and np.isfinite(y[:, 4]).all()
    assert all(np.isnan(g[0]) for g in grads[1:]) and all(np.isfinite(g[4]) for g in grads[1:])


def test_values_at_the_thresholds_take_the_outer_pieces():
    x = torch.tensor([[-1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (-1.0, 0.5, 1.0, 2.0)]
    y = st.srelu(x, *params, channel_dim=0)
    dx, dtl, dal, dtr, dar = torch.autograd.grad(y.sum(), [x, *params])
    assert y.tolist() == [[-1.0, 1.0]]
    assert dx.tolist() == [[0.5, 2.0]] and (dtl.item(), dtr.item()) == (0.5, -1.0)


# --- what autograd asks for ----------------------------------------------------------------
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_backward_computes_only_the_needed_gradients(implementation, monkeypatch):
    from srelu_lib.torch import function  # both versions run SReLUFunction.backward

    seen = []
    original = function.srelu_backward

    def spy(*args):
        seen.append(tuple(bool(f) for f in args[-1]))
        return original(*args)

    monkeypatch.setattr(function, "srelu_backward", spy)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    params = [torch.full((3,), v, dtype=torch.float64) for v in (-0.5, 0.1, 0.5, 2.0)]
    params[2].requires_grad_()
    grads = torch.autograd.grad(IMPLEMENTATIONS[implementation](x, *params).sum(), [x, params[2]])
    assert seen == [(True, False, False, True, False)]
    assert grads[1].shape == (3,)


# --- gradcheck and gradgradcheck (float64, away from the kinks) -------------------------------
def away_from_kinks(shape, channel_dim, param_shape, crossed, seed):
    g = torch.Generator().manual_seed(seed)
    C = shape[channel_dim]
    n = C if param_shape == "(C,)" else 1
    tl = -0.2 - 0.8 * torch.rand(n, generator=g, dtype=torch.float64)
    tr = 0.2 + 0.8 * torch.rand(n, generator=g, dtype=torch.float64)
    if crossed:
        tl, tr = tr, tl
    al = torch.rand(n, generator=g, dtype=torch.float64) - 0.5
    ar = 0.5 + 2 * torch.rand(n, generator=g, dtype=torch.float64)
    x = 1.5 * torch.randn(shape, generator=g, dtype=torch.float64)
    for t in (tl, tr):  # keep every element at least 1e-3 away from both thresholds
        tt = t.reshape([-1 if d == channel_dim % len(shape) and n > 1 else 1 for d in range(len(shape))])
        near = (x - tt).abs() < 1e-3
        x = torch.where(near, x + 2e-3, x)
    params = [p.reshape(()) if param_shape == "()" else p for p in (tl, al, tr, ar)]
    return [x.requires_grad_()] + [p.requires_grad_() for p in params]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "shape, channel_dim, param_shape, crossed",
    [((2, 3, 4), 1, "(C,)", False), ((2, 4, 3), -1, "(C,)", True), ((3, 5), 1, "()", True), ((4,), 0, "(C,)", False)],
)
def test_gradcheck_and_gradgradcheck(implementation, shape, channel_dim, param_shape, crossed):
    fn = IMPLEMENTATIONS[implementation]
    inputs = away_from_kinks(shape, channel_dim, param_shape, crossed, seed=3)

    def f(*args):
        return fn(*args, channel_dim=channel_dim)

    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_double_backward_gives_the_mixed_partials():
    # d/dal of sum(v * dL/dx) with L = sum(y): dL/dx = al on x <= tl, so the result is sum(v) over that region.
    x = torch.tensor([-2.0, -1.5, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    tl, al, tr, ar = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (-1.0, 0.3, 1.0, 2.0))
    (dx,) = torch.autograd.grad(st.srelu(x, tl, al, tr, ar, channel_dim=0).sum(), x, create_graph=True)
    v = torch.tensor([1.0, 10.0, 100.0, 1000.0], dtype=torch.float64)
    dal, dar = torch.autograd.grad((v * dx).sum(), [al, ar])
    assert (dal.item(), dar.item()) == (11.0, 1000.0)


# --- torch.library: opcheck and torch.compile ------------------------------------------------
@pytest.mark.parametrize("layout", ["NCHW per channel", "channels-last memory, shared", "transposed 2-D"])
def test_opcheck(layout):
    g = torch.Generator().manual_seed(4)
    if layout == "NCHW per channel":
        x, n, dim = torch.randn(2, 3, 4, 4, generator=g), 3, 1
    elif layout == "channels-last memory, shared":
        x, n, dim = torch.randn(2, 3, 4, 4, generator=g).to(memory_format=torch.channels_last), 1, 1
    else:
        x, n, dim = torch.randn(5, 3, generator=g).t(), 3, 0
    params = [torch.rand(n, generator=g) + shift for shift in (-1.0, 0.0, 0.2, 0.5)]
    args = (x.requires_grad_(), *(p.requires_grad_() for p in params), dim)
    result = torch.library.opcheck(st.srelu_op, args)
    assert all(status == "SUCCESS" for status in result.values()), result


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_torch_compile_matches_eager_without_graph_breaks(implementation):
    torch._dynamo.reset()
    fn = IMPLEMENTATIONS[implementation]

    def loss(x, tl, al, tr, ar):
        return fn(x, tl, al, tr, ar, channel_dim=-1).square().sum()

    compiled = torch.compile(loss, fullgraph=True)
    case = make_case("NHWC", np.float32, "(C,)", seed=5, crossed=True)
    inputs = [torch.tensor(a, requires_grad=True) for a in (case.x, *case.params)]
    eager_loss = loss(*inputs)
    eager = torch.autograd.grad(eager_loss, inputs)
    compiled_loss = compiled(*inputs)
    grads = torch.autograd.grad(compiled_loss, inputs)
    torch.testing.assert_close(compiled_loss, eager_loss)
    for g, e in zip(grads, eager, strict=True):
        torch.testing.assert_close(g, e)


def test_torch_compile_traces_the_function_and_keeps_the_custom_op_opaque():
    graphs = []

    def record(gm, example_inputs):
        graphs.append([str(node.target) for node in gm.graph.nodes if node.op == "call_function"])
        return gm.forward

    x = torch.randn(2, 3, 4)
    params = [torch.full((4,), v) for v in (-0.5, 0.1, 0.5, 2.0)]
    for fn in (st.srelu_custom_op, st.srelu):
        torch._dynamo.reset()
        torch.compile(lambda x, *p, fn=fn: fn(x, *p, channel_dim=-1), backend=record, fullgraph=True)(x, *params)
    opaque, traced = graphs
    assert opaque == ["srelu_lib.srelu.default"]
    assert "srelu_lib.srelu.default" not in traced and any("where" in target for target in traced)


def test_vmap_of_the_autograd_function():
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    params = [torch.full((3,), v, dtype=torch.float64) for v in (-0.5, 0.1, 0.5, 2.0)]
    batched = torch.func.vmap(lambda xi: st.srelu(xi, *params, channel_dim=-1))(x)
    torch.testing.assert_close(batched, st.srelu(x, *params, channel_dim=-1))


# --- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("fn", list(IMPLEMENTATIONS.values()), ids=list(IMPLEMENTATIONS))
def test_bad_input_errors_name_the_argument(fn):
    x = torch.zeros(2, 3, 4)
    ok = [torch.zeros(3) for _ in range(4)]
    with pytest.raises(ValueError, match=r"ar must have shape \(\) or \(1,\).*\(C,\) = \(3,\).*got shape \(4,\)"):
        fn(x, *ok[:3], torch.zeros(4))
    with pytest.raises(ValueError, match=r"tl must have shape.*got shape \(3, 1\)"):
        fn(x, torch.zeros(3, 1), *ok[1:])
    with pytest.raises(IndexError, match=r"channel_dim=3 is out of range .* \[-3, 2\]"):
        fn(x, *ok, channel_dim=3)
    with pytest.raises(IndexError, match=r"channel_dim=-4"):
        fn(x, *ok, channel_dim=-4)
    with pytest.raises(TypeError, match=r"x must be a real floating-point tensor.*torch.int64"):
        fn(torch.zeros(2, 3, dtype=torch.int64), *ok)
    with pytest.raises(TypeError, match=r"x must be a real floating-point tensor.*complex64"):
        fn(torch.zeros(2, 3, dtype=torch.complex64), *ok)
    with pytest.raises(TypeError, match=r"al must be a real floating-point tensor.*torch.int32"):
        fn(x, ok[0], torch.zeros(3, dtype=torch.int32), *ok[2:])
    with pytest.raises(TypeError, match=r"tr has dtype torch.float64 but x has dtype torch.float32"):
        fn(x, *ok[:2], torch.zeros(3, dtype=torch.float64), ok[3])
    with pytest.raises(ValueError, match=r"tl is on device meta but x is on cpu"):
        fn(x, torch.zeros(3, device="meta"), *ok[1:])
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor; got ndarray"):
        fn(np.zeros((2, 3)), *ok)
    with pytest.raises(TypeError, match=r"tl must be a torch.Tensor or a real number; got list"):
        fn(x, [0.0, 0.0, 0.0], *ok[1:])
    with pytest.raises(TypeError, match=r"channel_dim must be an int; got float"):
        fn(x, *ok, channel_dim=1.0)


def test_python_numbers_are_constant_parameters():
    x = torch.tensor([[-2.0, 2.0]], dtype=torch.float64)
    assert st.srelu(x, -1, 0.5, 1, 2.0).tolist() == [[-1.5, 3.0]]


# --- the SReLU module ----------------------------------------------------------------------
def test_module_parameters_initialisation_and_forward():
    layer = st.SReLU(4, dtype=torch.float64)
    assert [name for name, _ in layer.named_parameters()] == ["tl", "al", "tr", "ar"]
    assert all(p.shape == (4,) and p.dtype == torch.float64 for p in layer.parameters())
    assert [p.tolist() for p in layer.parameters()] == [[0.0] * 4, [0.0] * 4, [1.0] * 4, [1.0] * 4]
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(x), torch.where(x > 0, x, 0.0))  # starts as ReLU
    channels_last = st.SReLU(4, channel_dim=-1, al=0.2, ar=2.0, dtype=torch.float64)
    expected = st.srelu(x.transpose(1, 2), 0.0, 0.2, 1.0, 2.0, channel_dim=-1)
    torch.testing.assert_close(channels_last(x.transpose(1, 2)), expected)
    (channels_last(x.transpose(1, 2)).sum()).backward()
    assert all(p.grad is not None and p.grad.shape == (4,) for p in channels_last.parameters())


def test_module_init_right_threshold_takes_numpy_quantiles():
    layer = st.SReLU(3, dtype=torch.float64)
    x = torch.randn(10, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    tr = layer.init_right_threshold(x, quantile=0.9)
    expected = np.quantile(np.moveaxis(x.numpy(), 1, 0).reshape(3, -1), 0.9, axis=1)
    np.testing.assert_allclose(tr.numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(layer.tr.detach().numpy(), expected, rtol=1e-14)


def test_module_bad_arguments():
    with pytest.raises(ValueError, match="num_channels must be a positive int"):
        st.SReLU(0)
    with pytest.raises(ValueError, match=r"channel_dim=1.*got shape \(2, 3\)"):
        st.SReLU(4).init_right_threshold(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"SReLU\(4, channel_dim=1\): x must have 4 channels.*\(2, 5\)"):
        st.SReLU(4)(torch.zeros(2, 5))
    with pytest.raises(IndexError, match=r"channel_dim=2 is out of range"):
        st.SReLU(4, channel_dim=2)(torch.zeros(2, 4))


# --- imports -------------------------------------------------------------------------------
def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_srelu_lib_imports_neither_torch_nor_jax():
    code = ("import sys, srelu_lib, srelu_lib.train, srelu_lib.kernels, srelu_lib.digits; "
            "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_missing_torch_gives_an_import_error_naming_the_extra():
    result = run_python("import sys; sys.modules['torch'] = None\nimport srelu_lib.torch")
    assert result.returncode != 0
    assert "ImportError: srelu_lib.torch needs PyTorch" in result.stderr
    assert "pip install 'srelu_lib[torch]'" in result.stderr


# --- the digits model ------------------------------------------------------------------------
def test_digits_net_trains_like_srelu_lib():
    from srelu_lib import extractdata
    from srelu_lib.digits import initialize_parameters, load_digits_split, model_loss
    from srelu_lib.torch.digits import DigitsNet, images_to_nchw, train_step
    from srelu_lib.train import minibatches, onehot, train

    data = load_digits_split()
    initial = initialize_parameters(np.random.default_rng(1))
    net = DigitsNet.from_srelu_lib(initial)
    roundtrip = net.srelu_lib_parameters()
    for group, entries in initial.items():
        for name, value in entries.items():
            np.testing.assert_array_equal(roundtrip[group][name], extractdata(value))
    reference = []

    def record(info):
        reference.append((info.loss, info.params))
        return info.iteration == 4

    train(model_loss, initial, data.X_train, onehot(data.y_train, 10, np.float64), epochs=1, batch_size=32,
          learn_rate=0.003, seed=1, x_format="SSCB", callback=record)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.003)
    batches = minibatches(data.X_train, data.y_train, 32, seed=np.random.default_rng(1))
    for (loss_ref, params_ref), (X, y) in zip(reference, batches, strict=False):
        assert abs(train_step(net, optimizer, images_to_nchw(X), torch.from_numpy(y)) - loss_ref) < 1e-12
        params = net.srelu_lib_parameters()
        for group, entries in params_ref.items():
            for name, value in entries.items():
                np.testing.assert_allclose(params[group][name], extractdata(value), rtol=0, atol=1e-12)
    assert len(reference) == 4
