"""End-to-end tests of a small convolutional classifier built on SReLU.

The chain dlconv -> srelu -> fullyconnect -> softmax -> crossentropy is what the
training chapter (book/training.ipynb) trains.  These tests use their own, smaller
model function (the chapter's lives in the notebook):

* every parameter's gradient, through the whole chain, against central differences;
* a short training run with ``srelu_lib.train.train`` on real digits lowers the loss
  and moves the SReLU parameters;
* the dtypes of the parameters survive training.
"""

from __future__ import annotations

import numpy as np
import pytest

from srelu_lib import (
    crossentropy,
    dlarray,
    dlconv,
    dlfeval,
    dlgradient,
    extractdata,
    fullyconnect,
    gradcheck,
    softmax,
    srelu,
)
from srelu_lib.train import onehot, train

PARAMETER_ORDER = ("conv_weights", "conv_bias", "tl", "al", "tr", "ar", "fc_weights", "fc_bias")


def model(params: dict, X):
    """A small classifier: 3x3 convolution, SReLU per channel, dense layer, softmax."""
    Z = dlconv(X, params["conv_weights"], params["conv_bias"], padding="same")
    A = srelu(Z, params["tl"], params["al"], params["tr"], params["ar"])
    return softmax(fullyconnect(A, params["fc_weights"], params["fc_bias"]))


def model_loss(params: dict, X, T):
    loss = crossentropy(model(params, X), T)
    return loss, dlgradient(loss, params)


def initial_parameters(rng: np.random.Generator, image_size: int, filters: int, classes: int, dtype=np.float64):
    fan_in = 3 * 3 * 1
    features = image_size * image_size * filters
    limit = np.sqrt(6.0 / (features + classes))
    return {
        "conv_weights": dlarray((rng.standard_normal((3, 3, 1, filters)) * np.sqrt(2.0 / fan_in)).astype(dtype)),
        "conv_bias": dlarray(np.zeros(filters, dtype)),
        "tl": dlarray(np.zeros(filters, dtype)),
        "al": dlarray(np.zeros(filters, dtype)),
        "tr": dlarray(np.full(filters, 0.5, dtype)),
        "ar": dlarray(np.ones(filters, dtype)),
        "fc_weights": dlarray(rng.uniform(-limit, limit, (classes, features)).astype(dtype)),
        "fc_bias": dlarray(np.zeros(classes, dtype)),
    }


def test_model_loss_gradient_matches_central_differences_for_every_parameter():
    rng = np.random.default_rng(7)
    size, filters, classes, batch = 5, 3, 4, 2
    X = dlarray(rng.uniform(0.0, 1.0, (size, size, 1, batch)), "SSCB")
    T = onehot(np.array([1, 3]), classes, np.float64)
    conv_weights = rng.standard_normal((3, 3, 1, filters)) * 0.5
    conv_bias = rng.standard_normal(filters) * 0.1
    Z = extractdata(dlconv(X, conv_weights, conv_bias))  # (5, 5, 3, 2): the SReLU inputs
    per_channel = Z.transpose(2, 0, 1, 3).reshape(filters, -1)
    # Thresholds between data values, so every channel has inputs in all three regions
    # and no input sits on (or within a finite-difference step of) a kink.
    tl = np.quantile(per_channel, 0.3, axis=1) + 1e-3
    tr = np.quantile(per_channel, 0.7, axis=1) - 1e-3
    for channel in range(filters):
        gaps = np.abs(per_channel[channel][:, None] - np.array([tl[channel], tr[channel]]))
        assert gaps.min() > 1e-5, "test setup: an SReLU input lies on a kink"
        assert np.any(per_channel[channel] < tl[channel]) and np.any(per_channel[channel] > tr[channel])
    params = {
        "conv_weights": conv_weights,
        "conv_bias": conv_bias,
        "tl": tl,
        "al": rng.uniform(0.1, 0.5, filters),
        "tr": tr,
        "ar": rng.uniform(1.5, 2.5, filters),
        "fc_weights": rng.standard_normal((classes, size * size * filters)) * 0.3,
        "fc_bias": rng.standard_normal(classes) * 0.1,
    }

    def loss_of(*values):
        named = dict(zip(PARAMETER_ORDER, values, strict=True))
        return crossentropy(model(named, X), T)

    inputs = [dlarray(params[name]) for name in PARAMETER_ORDER]
    result = gradcheck(loss_of, *inputs, rtol=1e-5, atol=1e-7)

    assert len(result.max_abs_error) == len(PARAMETER_ORDER)  # every parameter was checked
    assert result.kinks == 0, f"{result.kinks} sample point(s) were excluded as kinks: nothing may be skipped"
    for name, analytic, _error in zip(PARAMETER_ORDER, result.analytic, result.max_rel_error, strict=True):
        assert np.all(np.isfinite(analytic)), name
        assert np.any(analytic != 0), f"the gradient with respect to {name} is identically zero"
    assert result.ok, result


def test_model_loss_returns_gradients_shaped_like_the_parameters():
    rng = np.random.default_rng(1)
    params = initial_parameters(rng, image_size=6, filters=3, classes=5, dtype=np.float32)
    X = dlarray(rng.uniform(0.0, 1.0, (6, 6, 1, 4)).astype(np.float32), "SSCB")
    T = onehot(np.array([0, 1, 2, 4]), 5, np.float32)
    loss, grads = dlfeval(model_loss, params, X, T)
    assert loss.shape == () and loss.dtype == np.float32
    # At initialisation the network is close to uniform guessing: loss near log(classes).
    assert abs(float(loss) - np.log(5)) < 0.5
    assert set(grads) == set(params)
    for name, p in params.items():
        assert grads[name].shape == p.shape, name
        assert grads[name].dtype == np.float32, name


def _digits_subset(n: int, dtype):
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    digits = sklearn_datasets.load_digits()
    images = (digits.images[:n] / 16.0).astype(dtype)  # (n, 8, 8), values in [0, 1]
    X = images.transpose(1, 2, 0)[:, :, None, :]  # "SSCB": (8, 8, 1, n)
    return np.ascontiguousarray(X), digits.target[:n]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_short_training_run_lowers_the_loss_and_moves_the_srelu_parameters(dtype):
    X, labels = _digits_subset(240, dtype)
    T = onehot(labels, 10, dtype)
    params = initial_parameters(np.random.default_rng(0), image_size=8, filters=4, classes=10, dtype=dtype)

    def full_loss(p):
        return float(crossentropy(model(p, dlarray(X, "SSCB")), T))

    before = full_loss(params)
    trained, history = train(model_loss, params, X, T, epochs=3, batch_size=40, learn_rate=0.01, seed=0,
                             x_format="SSCB")
    after = full_loss(trained)

    assert history.iterations == 3 * 6
    assert after < 0.7 * before, (before, after)
    assert history.epoch_loss[-1] < history.epoch_loss[0]
    for name in ("tl", "al", "ar"):
        moved = np.abs(extractdata(trained[name]) - extractdata(params[name]))
        assert np.all(moved > 0), f"{name} did not move in some channel: {moved}"
    for name, p in trained.items():
        assert extractdata(p).dtype == dtype, name
        assert p.shape == params[name].shape, name
