"""The book's digit classifier in srelu_lib: data, initial parameters, model.

The network of the chapter *Train a model using the custom backward
function*: a 3-by-3 convolution with 16 filters (``"same"`` padding), SReLU
with four parameters per filter, a fully connected layer to ten class
scores, softmax, cross-entropy.  The ports mirror it:
:mod:`srelu_lib.torch.digits` and :mod:`srelu_lib.jax.digits` build the same
network and take these parameters (converting the layouts), so that all
three can be trained from the same start on the same mini-batches.

Data are scikit-learn's 8-by-8 digits (shipped with scikit-learn, nothing is
downloaded), scaled to [0, 1], in MATLAB's ``"SSCB"`` layout
``(8, 8, 1, N)``, float64.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .arrays import DLArray, dlarray
from .autodiff import dlgradient
from .ops import crossentropy, dlconv, fullyconnect, relu, softmax
from .srelu_function import srelu

__all__ = [
    "DigitsSplit",
    "load_digits_split",
    "initialize_parameters",
    "model",
    "model_loss",
]


@dataclasses.dataclass
class DigitsSplit:
    """Training and test images (``"SSCB"``, float64) and labels (0..9)."""

    X_train: np.ndarray  #: (8, 8, 1, 1347)
    y_train: np.ndarray  #: (1347,)
    X_test: np.ndarray  #: (8, 8, 1, 450)
    y_test: np.ndarray  #: (450,)


def load_digits_split(
    test_size: float = 0.25, random_state: int = 0
) -> DigitsSplit:
    """scikit-learn's digits in [0, 1], split stratified into train and test.

    The split of the training chapter (a quarter held out,
    ``random_state=0``).  Needs scikit-learn.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images / 16.0  # (1797, 8, 8)
    images_train, images_test, y_train, y_test = train_test_split(
        images,
        digits.target,
        test_size=test_size,
        stratify=digits.target,
        random_state=random_state,
    )

    def to_sscb(images: np.ndarray) -> np.ndarray:  # (N, H, W) -> (H, W, 1, N)
        return np.ascontiguousarray(images.transpose(1, 2, 0)[:, :, None, :])

    return DigitsSplit(
        to_sscb(images_train), y_train, to_sscb(images_test), y_test
    )


def initialize_parameters(
    rng: np.random.Generator,
    num_filters: int = 16,
    num_classes: int = 10,
    activation: str = "srelu",
) -> dict[str, dict[str, DLArray]]:
    """The training chapter's parameters: He, Glorot, SReLU starting as ReLU.

    Draws from ``rng``, in this order, the filters ``(3, 3, 1, F)`` from a
    normal distribution with standard deviation ``sqrt(2 / 9)`` and the
    dense weights ``(10, 64 F)`` uniformly on ``+-sqrt(6 / (64 F + 10))``;
    biases are zero; SReLU starts at ``tl = 0, al = 0, tr = 1, ar = 1`` on
    every channel (``activation="relu"`` leaves the ``"srelu"`` entry out).
    """
    if activation not in ("srelu", "relu"):
        raise ValueError(
            "initialize_parameters: activation must be 'srelu' or 'relu'; "
            f"got {activation!r}"
        )
    F, fan_in = num_filters, 3 * 3 * 1
    features = 8 * 8 * F
    limit = np.sqrt(6.0 / (features + num_classes))
    K = rng.normal(0.0, np.sqrt(2.0 / fan_in), (3, 3, 1, F))
    W = rng.uniform(-limit, limit, (num_classes, features))
    parameters = {
        "conv": {"weights": dlarray(K), "bias": dlarray(np.zeros(F))},
        "fc": {"weights": dlarray(W), "bias": dlarray(np.zeros(num_classes))},
    }
    if activation == "srelu":
        parameters["srelu"] = {
            "tl": dlarray(np.zeros(F)),  # left threshold
            "al": dlarray(np.zeros(F)),  # left slope: ReLU's 0
            "tr": dlarray(np.ones(F)),  # right threshold
            "ar": dlarray(np.ones(F)),  # right slope: identity
        }
    return parameters


def model(parameters: dict[str, Any], X: DLArray) -> DLArray:
    """Class probabilities (``"CB"``, 10 x N) for ``"SSCB"`` images.

    Uses SReLU if ``parameters`` has an ``"srelu"`` entry, ReLU otherwise.
    """
    conv, dense = parameters["conv"], parameters["fc"]
    Z = dlconv(X, conv["weights"], conv["bias"], padding="same")
    if "srelu" in parameters:
        p = parameters["srelu"]
        A = srelu(Z, p["tl"], p["al"], p["tr"], p["ar"])
    else:
        A = relu(Z)
    return softmax(fullyconnect(A, dense["weights"], dense["bias"]))


def model_loss(
    parameters: dict[str, Any], X: DLArray, T: np.ndarray
) -> tuple[DLArray, Any]:
    """Cross-entropy on ``(X, T)`` (one-hot ``T``) and its gradients.

    Call it inside :func:`~srelu_lib.dlfeval` (``srelu_lib.train.train``
    does).
    """
    loss = crossentropy(model(parameters, X), T)
    return loss, dlgradient(loss, parameters)
