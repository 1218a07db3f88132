"""Tests of srelu_lib.train: minibatches, onehot, accuracy and a short training run."""

from __future__ import annotations

import io

import numpy as np
import pytest

from srelu_lib import crossentropy, dlarray, dlconv, dlgradient, fullyconnect, relu, softmax
from srelu_lib.train import IterationInfo, accuracy, minibatches, onehot, train


# --- minibatches ------------------------------------------------------------------------
def _indexed_data(n, features=3):
    """X[:, :, i] and T[i] both hold i, so a batch tells which observations it holds."""
    X = np.broadcast_to(np.arange(n, dtype=float), (2, features, n)).copy()
    return X, np.arange(n)


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8), (1, 1)])
def test_every_observation_appears_exactly_once_per_epoch(n, batch_size):
    X, T = _indexed_data(n)
    batches = list(minibatches(X, T, batch_size, seed=3))
    assert [len(t) for _, t in batches] == [min(batch_size, n - s) for s in range(0, n, batch_size)]
    seen = np.concatenate([t for _, t in batches])
    assert sorted(seen.tolist()) == list(range(n))
    for x, t in batches:  # X and T stay paired
        assert x.shape[:2] == (2, 3)
        np.testing.assert_array_equal(x[0, 0], t)


def test_shuffling_is_deterministic_given_the_seed():
    X, T = _indexed_data(50)
    order = lambda **kw: np.concatenate([t for _, t in minibatches(X, T, 7, **kw)]).tolist()  # noqa: E731
    assert order(seed=5) == order(seed=5)
    assert order(seed=5) != order(seed=6)
    assert order(shuffle=False) == list(range(50))
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    epochs_a = [order(seed=rng_a) for _ in range(3)]
    epochs_b = [order(seed=rng_b) for _ in range(3)]
    assert epochs_a == epochs_b and epochs_a[0] != epochs_a[1]  # a shared generator: new order per epoch


def test_drop_last_and_batch_axis_zero():
    X = np.arange(20).reshape(10, 2)  # observations first
    batches = list(minibatches(X, None, 4, shuffle=False, drop_last=True, batch_axis=0))
    assert len(batches) == 2 and all(t is None for _, t in batches)
    np.testing.assert_array_equal(batches[1][0], X[4:8])


def test_minibatches_errors():
    X, T = _indexed_data(6)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        next(minibatches(X, T, 0))
    with pytest.raises(ValueError, match="6 observations"):
        next(minibatches(X, T[:5], 2))
    with pytest.raises(TypeError, match="extractdata"):
        next(minibatches(dlarray(X), T, 2))


# --- onehot / accuracy --------------------------------------------------------------------
def test_onehot_layout_dtype_and_errors():
    T = onehot(np.array([1, 0, 2, 1]), 3)
    assert T.shape == (3, 4) and T.dtype == np.float32
    np.testing.assert_array_equal(T.argmax(axis=0), [1, 0, 2, 1])
    np.testing.assert_array_equal(T.sum(axis=0), 1)
    assert onehot([0], 2, np.float64).dtype == np.float64
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        onehot([0, 3], 3)
    with pytest.raises(ValueError, match="1-D"):
        onehot([[0]], 3)
    with pytest.raises(ValueError, match="integers"):
        onehot([0.5], 3)


def test_accuracy_with_labels_onehot_and_dlarray():
    scores = np.array([[0.9, 0.1, 0.3, 0.2], [0.1, 0.8, 0.3, 0.7], [0.0, 0.1, 0.4, 0.1]])
    labels = np.array([0, 1, 2, 0])
    assert accuracy(scores, labels) == pytest.approx(3 / 4)
    assert accuracy(scores, onehot(labels, 3)) == pytest.approx(3 / 4)
    assert accuracy(dlarray(scores.T, "BC"), labels) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="labels must have shape"):
        accuracy(scores, labels[:3])
    with pytest.raises(ValueError, match="'CB'"):
        accuracy(dlarray(scores[:, :, None], "SCB"), labels)


# --- a short training run on 8x8 digits -----------------------------------------------------
def _digits(n=600):
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    images = digits.images[:n].astype(np.float32) / 16.0  # (N, 8, 8)
    X = np.ascontiguousarray(images.transpose(1, 2, 0)[:, :, None, :])  # (8, 8, 1, N): "SSCB"
    return X, digits.target[:n]


def _init_params(seed=0, filters=8):
    rng = np.random.default_rng(seed)
    f32 = np.float32
    return {
        "conv": {"weights": dlarray((rng.standard_normal((3, 3, 1, filters)) * np.sqrt(2 / 9)).astype(f32)),
                 "bias": dlarray(np.zeros(filters, f32))},
        "fc": {"weights": dlarray((rng.standard_normal((10, 64 * filters)) * np.sqrt(1 / (64 * filters))).astype(f32)),
               "bias": dlarray(np.zeros(10, f32))},
    }


def _model(params, X):
    Y = relu(dlconv(X, params["conv"]["weights"], params["conv"]["bias"], padding="same"))
    return softmax(fullyconnect(Y, params["fc"]["weights"], params["fc"]["bias"]))


def _model_loss(params, X, T):
    loss = crossentropy(_model(params, X), T)
    return loss, dlgradient(loss, params)


def _run(epochs=4, **kwargs):
    X, labels = _digits()
    return train(_model_loss, _init_params(), X, onehot(labels, 10), epochs=epochs, batch_size=64,
                 learn_rate=0.01, seed=0, x_format="SSCB",
                 predict=lambda p, X: _model(p, dlarray(X, "SSCB")), validation=(X, labels), **kwargs)


def test_training_a_tiny_conv_net_reduces_the_loss():
    params, history = _run()
    assert history.iterations == 4 * 10  # 600 samples / 64 per batch -> 10 iterations per epoch
    assert len(history.epoch_loss) == len(history.epoch_accuracy) == len(history.epoch_seconds) == 4
    assert history.epoch_loss[-1] < 0.5 * history.epoch_loss[0]
    assert history.epoch_accuracy[-1] > history.epoch_accuracy[0]
    assert history.epoch_accuracy[-1] > 0.8  # 10 classes: chance is 0.1
    assert params["conv"]["weights"].dtype == np.float32 and params["fc"]["bias"].shape == (10,)


def test_training_is_deterministic_and_silent_without_progress(capsys):
    _, first = _run(epochs=1)
    _, second = _run(epochs=1)
    assert first.iteration_loss == second.iteration_loss
    assert first.epoch_accuracy == second.epoch_accuracy
    assert capsys.readouterr().out == ""


def test_progress_is_one_rewritten_line_and_callback_can_stop():
    stream = io.StringIO()
    seen: list[IterationInfo] = []

    def stop_after_three(info):
        seen.append(info)
        return info.iteration == 3

    _, history = _run(epochs=2, progress=True, stream=stream, callback=stop_after_three)
    assert history.stopped_early and history.iterations == 3 and len(history.epoch_loss) == 1
    assert [info.iteration for info in seen] == [1, 2, 3]
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and text.count("\r") >= 3
    assert "epoch 1/2" in text


def test_train_argument_errors():
    X, labels = _digits(64)
    T = onehot(labels, 10)
    for kwargs, match in [({"epochs": 0}, "epochs"), ({"batch_size": 1.5}, "batch_size"),
                          ({"blas_threads": 0}, "blas_threads")]:
        arguments = {"epochs": 1, "batch_size": 32, **kwargs}
        with pytest.raises(ValueError, match=match):
            train(_model_loss, _init_params(), X, T, x_format="SSCB", **arguments)
    with pytest.raises(ValueError, match=r"\(loss, gradients"):
        train(lambda p, X, T: 1.0, _init_params(), X, T, epochs=1, batch_size=32, x_format="SSCB")
