"""Property-based tests (hypothesis, derandomized): formats, permutations, gradients, second derivatives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import srelu_lib
from srelu_lib import dims, dlarray, dlfeval, dlgradient, extractdata, finddim, stripdims

CANONICAL = "SCBTU"
SETTINGS = settings(derandomize=True, max_examples=60, deadline=None, database=None)


@st.composite
def formats(draw, max_len: int = 5) -> str:
    """A valid format in random order: any number of S and U, at most one each of C, B, T."""
    n_s = draw(st.integers(0, 3))
    n_u = draw(st.integers(0, 2))
    singles = [lab for lab in "CBT" if draw(st.booleans())]
    labels = ["S"] * n_s + singles + ["U"] * n_u
    if not labels:
        labels = [draw(st.sampled_from(CANONICAL))]
    labels = labels[:max_len]
    return "".join(draw(st.permutations(labels)))


@st.composite
def formatted_data(draw):
    fmt = draw(formats())
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=len(fmt), max_size=len(fmt))))
    seed = draw(st.integers(0, 2**16))
    data = np.random.default_rng(seed).standard_normal(shape)
    return fmt, data


def stable_canonical_perm(fmt: str) -> list[int]:
    """Written independently of the library: bucket the positions label by label, in input order."""
    return [i for label in CANONICAL for i, lab in enumerate(fmt) if lab == label]


@SETTINGS
@given(formatted_data())
def test_dlarray_permutes_like_np_transpose(case):
    fmt, data = case
    X = dlarray(data, fmt)
    perm = stable_canonical_perm(fmt)
    assert dims(X) == "".join(fmt[i] for i in perm)
    assert X.shape == tuple(data.shape[i] for i in perm)
    np.testing.assert_array_equal(extractdata(X), np.transpose(data, perm))


@SETTINGS
@given(formatted_data())
def test_dims_are_sorted_canonically(case):
    fmt, data = case
    labels = dims(dlarray(data, fmt))
    assert sorted(labels) == sorted(fmt)
    ranks = [CANONICAL.index(lab) for lab in labels]
    assert ranks == sorted(ranks)


@SETTINGS
@given(formatted_data())
def test_finddim_consistent_with_dims(case):
    fmt, data = case
    X = dlarray(data, fmt)
    labels = dims(X)
    found = []
    for label in CANONICAL:
        positions = finddim(X, label)
        assert positions == tuple(i for i, lab in enumerate(labels) if lab == label)
        # the sizes at those positions are the sizes of the input's dims with that label, in input order
        assert tuple(X.shape[i] for i in positions) == tuple(
            n for n, lab in zip(data.shape, fmt, strict=True) if lab == label
        )
        found.extend(positions)
    assert sorted(found) == list(range(X.ndim))


@SETTINGS
@given(formatted_data())
def test_stripdims_relabel_round_trip(case):
    fmt, data = case
    X = dlarray(data, fmt)
    U = stripdims(X)
    assert dims(U) == ""
    np.testing.assert_array_equal(extractdata(U), extractdata(X))
    Y = dlarray(U, dims(X))  # already canonical: relabelling is the identity
    assert dims(Y) == dims(X)
    np.testing.assert_array_equal(extractdata(Y), extractdata(X))


@SETTINGS
@given(formatted_data(), st.integers(0, 2**16))
def test_traced_relabel_gradient_is_inverse_permutation(case, seed):
    fmt, data = case
    perm = stable_canonical_perm(fmt)
    W = np.random.default_rng(seed).standard_normal(tuple(data.shape[i] for i in perm))

    def f(x):
        X = dlarray(x, fmt)  # x is a traced unformatted array laid out as fmt says
        assert X.is_traced
        return dlgradient((X * W).sum(), x)

    g = dlfeval(f, dlarray(data))
    assert g.shape == data.shape and dims(g) == ""
    np.testing.assert_allclose(extractdata(g), np.transpose(W, np.argsort(perm)))


@SETTINGS
@given(formats(), st.data())
def test_padding_when_format_is_longer_than_ndim(fmt, data):
    n_missing = data.draw(st.integers(0, len(fmt)))
    kept = len(fmt) - n_missing
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=kept, max_size=kept)))
    values = np.random.default_rng(kept).standard_normal(shape)
    padded = values.reshape(shape + (1,) * n_missing)
    X, Y = dlarray(values, fmt), dlarray(padded, fmt)
    assert dims(X) == dims(Y)
    assert X.shape == Y.shape
    np.testing.assert_array_equal(extractdata(X), extractdata(Y))


# --- broadcasting gradients -----------------------------------------------------------------------------------
@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast together: dims set to 1 or dropped from the front at random."""
    full = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=4)))

    def operand_shape():
        drop = draw(st.integers(0, len(full)))
        return tuple(1 if draw(st.booleans()) else n for n in full[drop:])

    return operand_shape(), operand_shape(), draw(st.integers(0, 2**16))


def reduce_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Adjoint of broadcasting, written independently: sum leading axes, then keepdims-sum the 1-axes."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def central_difference(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


@SETTINGS
@given(broadcast_pair())
def test_broadcast_gradient_of_sum_a_times_b_plus_a(case):
    sa, sb, seed = case
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    full = np.broadcast_shapes(sa, sb)

    def f(A, B):
        loss = (A * B + A).sum()
        return loss, dlgradient(loss, A, B)

    loss, (gA, gB) = dlfeval(f, dlarray(a), dlarray(b))
    np.testing.assert_allclose(float(loss), np.sum(a * b + a), rtol=1e-12, atol=1e-12)
    assert gA.shape == sa and gB.shape == sb
    # analytic: dL/da = reduce(b + 1), dL/db = reduce(a)
    np.testing.assert_allclose(extractdata(gA), reduce_to(np.broadcast_to(b, full) + 1.0, sa), rtol=1e-12)
    np.testing.assert_allclose(extractdata(gB), reduce_to(np.broadcast_to(a, full).copy(), sb), rtol=1e-12)
    # and finite differences
    np.testing.assert_allclose(extractdata(gA), central_difference(lambda x: np.sum(x * b + x), a),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(extractdata(gB), central_difference(lambda y: np.sum(a * y + a), b),
                               rtol=1e-6, atol=1e-7)


@SETTINGS
@given(broadcast_pair())
def test_broadcast_division_gradient_matches_finite_differences(case):
    sa, sb, seed = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(sa)
    b = rng.uniform(0.5, 2.0, size=sb)
    W = rng.standard_normal(np.broadcast_shapes(sa, sb))

    def f(A, B):
        return dlgradient(((A / B - B) * W).sum(), A, B)

    gA, gB = dlfeval(f, dlarray(a), dlarray(b))
    assert gA.shape == sa and gB.shape == sb
    np.testing.assert_allclose(extractdata(gA), central_difference(lambda x: np.sum((x / b - b) * W), a),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(extractdata(gB), central_difference(lambda y: np.sum((a / y - y) * W), b),
                               rtol=1e-6, atol=1e-7)


# --- second derivatives of random compositions -------------------------------------------------------------------
# An expression is a tree over two leaves, A (2, 3) and B (2, 3); every operation is smooth on its domain and
# keeps values bounded (denominators 1 + b^2, exp of a tanh), so finite differences of the gradient are stable.
UNARY = {
    "tanh": lambda x: srelu_lib.tanh(x),
    "sigmoid": lambda x: srelu_lib.sigmoid(x),
    "exp_tanh": lambda x: srelu_lib.exp(srelu_lib.tanh(x)),
    "square": lambda x: x * x,
    "cube": lambda x: x**3,
    "neg": lambda x: -x,
    "log1p_sq": lambda x: srelu_lib.log(1.0 + x * x),
    "sqrt1p_sq": lambda x: srelu_lib.sqrt(1.0 + x * x),
    "softmax_rows": lambda x: srelu_lib.stripdims(srelu_lib.softmax(dlarray(x, "CB"))),
    "mean_keep": lambda x: x.mean(axis=1, keepdims=True) * x,
    "sum_bcast": lambda x: x.sum(axis=0) + x,
    "flip": lambda x: x[:, ::-1],
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "safe_div": lambda a, b: a / (1.0 + b * b),
    "matmul_T": lambda a, b: a @ b.T @ a,
}


@st.composite
def expressions(draw, depth: int = 3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["A", "B"]))
    if draw(st.booleans()):
        return (draw(st.sampled_from(sorted(UNARY))), draw(expressions(depth - 1)))
    return (draw(st.sampled_from(sorted(BINARY))), draw(expressions(depth - 1)), draw(expressions(depth - 1)))


def evaluate(expr, A, B):
    if expr == "A":
        return A
    if expr == "B":
        return B
    if len(expr) == 2:
        return UNARY[expr[0]](evaluate(expr[1], A, B))
    return BINARY[expr[0]](evaluate(expr[1], A, B), evaluate(expr[2], A, B))


def torch_evaluate(expr, A, B, torch):
    unary = {
        "tanh": torch.tanh, "sigmoid": torch.sigmoid, "exp_tanh": lambda x: torch.exp(torch.tanh(x)),
        "square": lambda x: x * x, "cube": lambda x: x**3, "neg": lambda x: -x,
        "log1p_sq": lambda x: torch.log(1.0 + x * x), "sqrt1p_sq": lambda x: torch.sqrt(1.0 + x * x),
        "softmax_rows": lambda x: torch.softmax(x, dim=0), "mean_keep": lambda x: x.mean(dim=1, keepdim=True) * x,
        "sum_bcast": lambda x: x.sum(dim=0) + x, "flip": lambda x: torch.flip(x, dims=(1,)),
    }
    binary = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
              "safe_div": lambda a, b: a / (1.0 + b * b), "matmul_T": lambda a, b: a @ b.T @ a}
    if expr == "A":
        return A
    if expr == "B":
        return B
    if len(expr) == 2:
        return unary[expr[0]](torch_evaluate(expr[1], A, B, torch))
    return binary[expr[0]](torch_evaluate(expr[1], A, B, torch), torch_evaluate(expr[2], A, B, torch))


SECOND_ORDER = settings(derandomize=True, max_examples=25, deadline=None, database=None)


@SECOND_ORDER
@given(expressions(), st.integers(0, 2**16))
def test_second_derivatives_of_random_compositions_match_finite_differences(expr, seed):
    rng = np.random.default_rng(seed)
    A, B = dlarray(rng.uniform(-1.5, 1.5, (2, 3))), dlarray(rng.uniform(-1.5, 1.5, (2, 3)))
    result = srelu_lib.gradgradcheck(lambda A, B: evaluate(expr, A, B) * 1.0, A, B, rtol=1e-4, atol=1e-5)
    assert result.ok, (expr, result)


@SECOND_ORDER
@given(expressions(), st.integers(0, 2**16))
def test_hessian_vector_products_of_random_compositions_match_pytorch(expr, seed):
    import pytest

    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1.5, 1.5, (2, 3)), rng.uniform(-1.5, 1.5, (2, 3))
    out_shape = np.asarray(extractdata(evaluate(expr, dlarray(a), dlarray(b)))).shape
    W, Va, Vb = rng.standard_normal(out_shape), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))

    def second(A, B):
        gA, gB = dlgradient((evaluate(expr, A, B) * W).sum(), A, B, enable_higher_derivatives=True)
        return dlgradient((gA * Va).sum() + (gB * Vb).sum(), A, B)

    mine = [np.asarray(extractdata(h)) for h in dlfeval(second, dlarray(a), dlarray(b))]
    tA, tB = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    gA, gB = torch.autograd.grad((torch_evaluate(expr, tA, tB, torch) * torch.tensor(W)).sum(), (tA, tB),
                                 create_graph=True, allow_unused=True, materialize_grads=True)
    S = (gA * torch.tensor(Va)).sum() + (gB * torch.tensor(Vb)).sum()
    if not S.requires_grad:  # a linear expression: every second derivative is zero
        reference = [np.zeros((2, 3)), np.zeros((2, 3))]
    else:
        reference = [h.detach().numpy() for h in torch.autograd.grad(S, (tA, tB), allow_unused=True,
                                                                       materialize_grads=True)]
    for m, r in zip(mine, reference, strict=True):
        np.testing.assert_allclose(m, r, rtol=1e-9, atol=1e-10, err_msg=str(expr))
