"""Tests of srelu_lib.optim.adamupdate (and the tree helper it walks parameter structures with)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from srelu_lib import DLArray, adamupdate, dlarray, extractdata
from srelu_lib.tree import tree_leaves, tree_map


def adam_by_hand(p, grads, lr, b1, b2, eps):
    """Textbook bias-corrected Adam, one iteration per gradient, written out independently."""
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p, m, v


@pytest.mark.parametrize("hyper", [{}, {"learn_rate": 0.05, "grad_decay": 0.5, "sq_grad_decay": 0.9, "epsilon": 1e-3}])
def test_three_iterations_match_hand_written_adam(hyper):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(3)]
    lr = hyper.get("learn_rate", 0.001)
    b1, b2 = hyper.get("grad_decay", 0.9), hyper.get("sq_grad_decay", 0.999)
    eps = hyper.get("epsilon", 1e-8)

    params, avg_g, avg_sq_g = dlarray(p0, "CB"), None, None
    for t, g in enumerate(grads, start=1):
        params, avg_g, avg_sq_g = adamupdate(params, dlarray(g, "CB"), avg_g, avg_sq_g, t, **hyper)
    p_ref, m_ref, v_ref = adam_by_hand(p0, grads, lr, b1, b2, eps)
    np.testing.assert_allclose(extractdata(params), p_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(extractdata(avg_g), m_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(extractdata(avg_sq_g), v_ref, rtol=1e-13, atol=1e-15)
    assert params.fmt == avg_g.fmt == avg_sq_g.fmt == "CB"


def test_nested_structures_keep_their_shape_types_formats_and_dtypes():
    rng = np.random.default_rng(1)
    Pair = collections.namedtuple("Pair", "weights bias")
    params = {
        "conv": Pair(dlarray(rng.standard_normal((3, 3, 1, 2)).astype(np.float32)), dlarray(np.zeros(2))),
        "fc": [dlarray(rng.standard_normal((4, 2)), "CB"), rng.standard_normal(4)],
    }
    grads = tree_map(lambda p: np.ones(np.shape(p)), params)  # float64 ndarrays, even for float32 params
    new, avg_g, avg_sq_g = adamupdate(params, grads, None, None, 1, learn_rate=0.1)
    for tree in (new, avg_g, avg_sq_g):
        assert isinstance(tree["conv"], Pair) and isinstance(tree["fc"], list)
        assert isinstance(tree["fc"][0], DLArray) and tree["fc"][0].fmt == "CB"
        assert isinstance(tree["fc"][1], np.ndarray) and not isinstance(tree["fc"][1], DLArray)
        assert tree["conv"].weights.dtype == np.float32
    # first Adam step with a constant gradient moves every entry by about learn_rate
    for old, updated in zip(tree_leaves(params), tree_leaves(new), strict=True):
        np.testing.assert_allclose(np.asarray(old) - np.asarray(updated), 0.1, rtol=1e-5)


def test_caller_arrays_are_not_mutated():
    p = np.array([1.0, 2.0])
    g = np.array([0.5, -0.5])
    m, v = np.array([0.1, 0.1]), np.array([0.2, 0.2])
    P, M, V = dlarray(p.copy()), m.copy(), v.copy()
    new, new_m, new_v = adamupdate(P, dlarray(g), M, V, 2)
    np.testing.assert_array_equal(extractdata(P), p)
    np.testing.assert_array_equal(M, m)
    np.testing.assert_array_equal(V, v)
    assert not np.shares_memory(extractdata(new), extractdata(P))


@pytest.mark.parametrize("iteration", [0, -1, 1.0, 2.5, True, None, "1"])
def test_iteration_must_be_a_positive_int(iteration):
    with pytest.raises(ValueError, match="iteration must be a positive int"):
        adamupdate(np.zeros(2), np.zeros(2), None, None, iteration)


def test_numpy_integer_iteration_is_accepted():
    new, _, _ = adamupdate(np.zeros(2), np.ones(2), None, None, np.int64(1), learn_rate=0.5)
    np.testing.assert_allclose(new, -0.5)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"learn_rate": 0.0}, "learn_rate"), ({"grad_decay": 1.0}, "grad_decay"),
     ({"sq_grad_decay": -0.1}, "sq_grad_decay"), ({"epsilon": 0}, "epsilon"), ({"learn_rate": np.nan}, "learn_rate")],
)
def test_bad_hyperparameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        adamupdate(np.zeros(2), np.zeros(2), None, None, 1, **kwargs)


def test_structure_mismatches_name_the_path():
    params = {"fc": {"W": np.zeros((2, 3)), "b": np.zeros(2)}}
    with pytest.raises(ValueError, match=r"grads\['fc'\] lacks key 'b'"):
        adamupdate(params, {"fc": {"W": np.zeros((2, 3))}}, None, None, 1)
    with pytest.raises(ValueError, match=r"grads\['fc'\] has extra key 'c'"):
        adamupdate(params, {"fc": {"W": np.zeros((2, 3)), "b": np.zeros(2), "c": np.zeros(1)}}, None, None, 1)
    with pytest.raises(ValueError, match=r"grads\['fc'\]\['W'\] has shape \(3, 2\) but params\['fc'\]\['W'\]"):
        adamupdate(params, {"fc": {"W": np.zeros((3, 2)), "b": np.zeros(2)}}, None, None, 1)
    nested = [np.zeros(1), [np.zeros(1), np.zeros(1)]]
    with pytest.raises(ValueError, match=r"avg_g\[1\] is a list of length 1"):
        adamupdate(nested, nested, [np.zeros(1), [np.zeros(1)]], None, 1)
    with pytest.raises(TypeError, match=r"grads\[0\] must be a DLArray or ndarray"):
        adamupdate([np.zeros(1)], [None], None, None, 1)


def test_tree_map_unzips_and_reports_container_mismatch():
    a, b = tree_map(lambda x: (x, 2 * x), {"k": [1, 2]}, num_outputs=2)
    assert a == {"k": [1, 2]} and b == {"k": [2, 4]}
    with pytest.raises(ValueError, match=r"right\['k'\] is a leaf \(int\) but left\['k'\] is a list"):
        tree_map(lambda x, y: x, {"k": [1]}, {"k": 1}, names=("left", "right"))


def test_defaultdict_parameters_work_in_tree_map_dlgradient_and_adamupdate():
    from collections import defaultdict

    from srelu_lib import dlfeval, dlgradient

    params = defaultdict(list, {"w": dlarray(np.array([1.0, -2.0])), "b": dlarray(np.array([0.5]))})
    doubled = tree_map(lambda x: 2 * x, defaultdict(int, {"a": 1}))
    assert type(doubled) is defaultdict and doubled.default_factory is int and doubled["a"] == 2
    grads = dlfeval(lambda p: dlgradient((p["w"] * p["w"]).sum() + p["b"].sum(), p), params)
    assert type(grads) is defaultdict and grads.default_factory is list
    np.testing.assert_allclose(extractdata(grads["w"]), [2.0, -4.0])
    new, m, v = adamupdate(params, grads, None, None, 1)
    for tree in (new, m, v):
        assert type(tree) is defaultdict and tree.default_factory is list and list(tree) == ["w", "b"]
