"""A small custom training loop, MATLAB style: minibatches, a model-loss function, Adam.

The pieces are usable on their own:

- :func:`minibatches` shuffles and slices data along its batch axis;
- :func:`onehot` and :func:`accuracy` convert between labels and scores;
- :func:`train` runs epochs of ``dlfeval(model_loss, ...)`` followed by
  :func:`~srelu_lib.adamupdate`, and returns the trained parameters and a
  :class:`TrainingHistory`.

The *model-loss convention* is MATLAB's: ``model_loss(params, X, T)`` returns
``(loss, gradients)`` with the gradients computed by
:func:`~srelu_lib.dlgradient` inside the function (extra return values are
ignored).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from .arrays import DLArray, dlarray, extractdata
from .autodiff import dlfeval
from .optim import adamupdate

__all__ = ["minibatches", "onehot", "accuracy", "train", "TrainingHistory", "IterationInfo"]


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def minibatches(
    X: np.ndarray,
    T: np.ndarray | None,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int | np.random.Generator = 0,
    drop_last: bool = False,
    batch_axis: int = -1,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Iterate over one epoch of ``(X_batch, T_batch)`` pairs.

    Use it to feed a training loop; call it once per epoch (with a shared
    ``numpy.random.Generator`` as ``seed`` to get a new order every epoch).

    Every observation appears exactly once per epoch (unless ``drop_last``
    drops the incomplete final batch).  Caveat: the batches are copies (fancy
    indexing), so modifying them does not touch ``X``/``T``.

    Args:
        X: ndarray with the observations along ``batch_axis`` (MATLAB's
            ``"SSCB"`` layout has them last, hence the default -1).
        T: targets with the observations along the same ``batch_axis``
            (labels ``(N,)`` or one-hot ``(C, N)``), or ``None``.
        batch_size: positive int.
        shuffle: visit the observations in a random order.
        seed: an int seed or a ``numpy.random.Generator`` (used only if ``shuffle``).
        drop_last: skip a final batch smaller than ``batch_size``.
        batch_axis: axis of ``X`` and ``T`` that indexes observations.

    Yields:
        ``(X_batch, T_batch)``, ``T_batch`` being ``None`` when ``T`` is ``None``.

    Raises:
        TypeError: ``X`` or ``T`` is a DLArray (pass ``extractdata(X)``).
        ValueError: ``batch_size`` not a positive int; ``X`` and ``T`` hold
            different numbers of observations.

    Example:
        >>> import numpy as np
        >>> X, T = np.arange(10).reshape(1, 10), np.arange(10)
        >>> [t.tolist() for _, t in minibatches(X, T, 4, shuffle=False)]
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    """
    for value, name in ((X, "X"), (T, "T")):
        if isinstance(value, DLArray):
            raise TypeError(f"minibatches: {name} must be a NumPy array; got a DLArray (pass extractdata({name}))")
    batch_size = _positive_int(batch_size, "minibatches: batch_size")
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError("minibatches: X must have at least one dimension")
    n = X.shape[batch_axis]
    if T is not None:
        T = np.asarray(T)
        if T.ndim == 0 or T.shape[batch_axis] != n:
            raise ValueError(
                f"minibatches: X has {n} observations along batch_axis={batch_axis} but T has shape {T.shape}"
            )
    if shuffle:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield (
            np.take(X, index, axis=batch_axis),
            None if T is None else np.take(T, index, axis=batch_axis),
        )


def onehot(labels: Any, num_classes: int, dtype: Any = np.float32) -> np.ndarray:
    """One-hot encode class labels as a ``(num_classes, N)`` array (classes down, observations across).

    Use it to build the targets of :func:`~srelu_lib.crossentropy` for ``"CB"``
    predictions.

    Args:
        labels: integer class indices in ``[0, num_classes)``, shape ``(N,)``.
        num_classes: positive int.
        dtype: a floating dtype (default float32).

    Returns:
        ndarray of shape ``(num_classes, N)`` with one 1 per column.

    Raises:
        ValueError: labels not 1-D integers in range.

    Example:
        >>> onehot([2, 0], 3)
        array([[0., 1.],
               [0., 0.],
               [1., 0.]], dtype=float32)
    """
    num_classes = _positive_int(num_classes, "onehot: num_classes")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"onehot: labels must be 1-D; got shape {labels.shape}")
    if labels.size and labels.dtype.kind not in "iu":
        if labels.dtype.kind != "f" or not np.all(labels == np.round(labels)):
            raise ValueError(f"onehot: labels must be integers; got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"onehot: labels must lie in [0, {num_classes}); got values from {labels.min()} to {labels.max()}"
        )
    out = np.zeros((num_classes, labels.size), dtype=dtype)
    out[labels.astype(np.intp), np.arange(labels.size)] = 1
    return out


def accuracy(Y: Any, labels: Any) -> float:
    """Fraction of observations whose highest score is the true class.

    Args:
        Y: scores or probabilities: a DLArray with ``"C"`` and ``"B"`` labels,
            or an array of shape ``(C, B)``.
        labels: true classes as integers ``(B,)``, or one-hot ``(C, B)``.

    Returns:
        A float in [0, 1].  Ties go to the lowest class index (``argmax``).

    Raises:
        ValueError: shapes that do not fit.

    Example:
        >>> import numpy as np
        >>> accuracy(np.array([[0.9, 0.2, 0.6], [0.1, 0.8, 0.4]]), [0, 1, 1])
        0.6666666666666666
    """
    if isinstance(Y, DLArray) and Y.fmt:
        if "C" not in Y.fmt or "B" not in Y.fmt or Y.ndim != 2:
            raise ValueError(f"accuracy: Y must be formatted 'CB'; got {Y.fmt!r}")
    scores = np.asarray(extractdata(Y))
    if scores.ndim != 2:
        raise ValueError(f"accuracy: Y must have shape (C, B); got {scores.shape}")
    labels = np.asarray(extractdata(labels))
    if labels.shape == scores.shape:
        labels = labels.argmax(axis=0)
    if labels.shape != (scores.shape[1],):
        raise ValueError(
            f"accuracy: labels must have shape ({scores.shape[1]},) or {scores.shape}; got {labels.shape}"
        )
    if scores.shape[1] == 0:
        raise ValueError("accuracy: no observations (B == 0)")
    return float(np.mean(scores.argmax(axis=0) == labels))


@dataclass
class IterationInfo:
    """What a :func:`train` callback receives after every iteration."""

    epoch: int  #: 1-based epoch
    iteration: int  #: 1-based iteration count over all epochs
    loss: float  #: loss of this minibatch
    params: Any  #: the parameters after this iteration's update


@dataclass
class TrainingHistory:
    """Record of a :func:`train` run.

    ``epoch_accuracy`` holds ``None`` entries when no ``predict`` function was
    given; ``epoch_seconds`` is wall-clock time and the only non-deterministic
    field.
    """

    iteration_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    epoch_accuracy: list[float | None] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def iterations(self) -> int:
        return len(self.iteration_loss)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.epoch_seconds))


def train(
    model_loss: Callable[..., Any],
    params: Any,
    X: np.ndarray,
    T: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learn_rate: float = 0.001,
    seed: int = 0,
    x_format: str = "",
    batch_axis: int = -1,
    predict: Callable[[Any, Any], Any] | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callback: Callable[[IterationInfo], Any] | None = None,
    progress: bool = False,
    stream: TextIO | None = None,
    blas_threads: int | None = 1,
) -> tuple[Any, TrainingHistory]:
    """Train ``params`` with Adam on shuffled minibatches: a MATLAB-style custom training loop.

    Each iteration evaluates ``dlfeval(model_loss, params, X_batch, T_batch)``
    and applies :func:`~srelu_lib.adamupdate` with the returned gradients.

    Use it when a network is a plain function of a parameter structure, as in
    MATLAB's ``dlnetwork``-free custom loops; write the loop yourself when you
    need more control (the body is short: read the source).

    Caveat: deterministic given ``seed`` (shuffling) and the initial
    parameters, except ``epoch_seconds``.  ``progress=True`` rewrites one line
    with a carriage return, which suits terminals better than stored notebook
    outputs.

    Args:
        model_loss: ``model_loss(params, X_batch, T_batch) -> (loss, grads, ...)``;
            ``grads`` has the structure of ``params``.
        params: nested dict/list/tuple of DLArrays (the learnables).
        X: ndarray of inputs, observations along ``batch_axis``.
        T: ndarray of targets (e.g. one-hot ``(C, N)``), observations along ``batch_axis``.
        epochs: positive int, passes over the data.
        batch_size: positive int.
        learn_rate: Adam's step size.
        seed: seeds the shuffling.
        x_format: if non-empty, each ``X_batch`` is passed as
            ``dlarray(X_batch, x_format)``, else as a plain ndarray.
        batch_axis: observation axis of ``X`` and ``T``.
        predict: optional ``predict(params, X) -> scores ("CB")``, used to
            record the accuracy after each epoch.
        validation: optional ``(X_val, labels_val)`` on which the accuracy is
            measured (default: the training data).
        callback: optional ``callback(IterationInfo)`` after every iteration;
            returning ``True`` stops training.
        progress: print one live-updating progress line.
        stream: where progress goes (default ``sys.stdout``).
        blas_threads: threads the BLAS library (behind ``@``/``tensordot``) may
            use during training, or ``None`` to leave its setting alone.  The
            default, one thread, keeps BLAS off the other cores: the matrices
            of a small network give threads little work, and on a busy
            machine they compete with everything else.  Applied with
            ``threadpoolctl`` when it is installed (it comes with
            scikit-learn); otherwise ignored.

    Returns:
        ``(params, history)``: the trained parameters (new arrays, same
        structure) and a :class:`TrainingHistory`.

    Example:
        >>> import numpy as np
        >>> from srelu_lib import crossentropy, dlarray, dlgradient, fullyconnect, softmax
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((2, 200)); labels = (X[0] > X[1]).astype(int)
        >>> def model(p, X):
        ...     return softmax(fullyconnect(X, p["W"], p["b"]))
        >>> def model_loss(p, X, T):
        ...     loss = crossentropy(model(p, X), T)
        ...     return loss, dlgradient(loss, p)
        >>> params = {"W": dlarray(np.zeros((2, 2))), "b": dlarray(np.zeros(2))}
        >>> params, history = train(model_loss, params, X, onehot(labels, 2, np.float64), epochs=20,
        ...                         batch_size=50, learn_rate=0.05, x_format="CB",
        ...                         predict=lambda p, X: model(p, dlarray(X, "CB")), validation=(X, labels))
        >>> history.epoch_loss[-1] < history.epoch_loss[0], history.epoch_accuracy[-1] > 0.95
        (True, True)
    """
    epochs = _positive_int(epochs, "train: epochs")
    batch_size = _positive_int(batch_size, "train: batch_size")
    if not callable(model_loss):
        raise TypeError(f"train: model_loss must be callable; got {type(model_loss).__name__}")
    if blas_threads is not None:
        blas_threads = _positive_int(blas_threads, "train: blas_threads")
    with _blas_limited(blas_threads):
        return _train_loop(
            model_loss, params, X, T, epochs, batch_size, learn_rate, seed, x_format, batch_axis,
            predict, validation, callback, progress, stream,
        )


@contextlib.contextmanager
def _blas_limited(threads: int | None) -> Iterator[None]:
    """Limit BLAS threads inside the block (a no-op without threadpoolctl or with ``None``)."""
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def _train_loop(
    model_loss, params, X, T, epochs, batch_size, learn_rate, seed, x_format, batch_axis,
    predict, validation, callback, progress, stream,
) -> tuple[Any, TrainingHistory]:
    """The body of :func:`train` (arguments already validated): epochs of minibatch Adam steps."""
    out = stream if stream is not None else sys.stdout
    rng = np.random.default_rng(seed)
    n = np.shape(X)[batch_axis]
    per_epoch = -(-n // batch_size)
    history = TrainingHistory()
    avg_g = avg_sq_g = None
    iteration = 0

    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        losses: list[float] = []
        for X_batch, T_batch in minibatches(X, T, batch_size, shuffle=True, seed=rng, batch_axis=batch_axis):
            X_in = dlarray(X_batch, x_format) if x_format else X_batch
            result = dlfeval(model_loss, params, X_in, T_batch)
            if not isinstance(result, tuple) or len(result) < 2:
                raise ValueError("train: model_loss must return (loss, gradients, ...)")
            loss, grads = result[0], result[1]
            iteration += 1
            params, avg_g, avg_sq_g = adamupdate(params, grads, avg_g, avg_sq_g, iteration, learn_rate=learn_rate)
            loss_value = float(extractdata(loss))
            losses.append(loss_value)
            history.iteration_loss.append(loss_value)
            if progress:
                done = len(losses)
                out.write(f"\repoch {epoch}/{epochs}  iteration {done}/{per_epoch}  loss {loss_value:.4f}   ")
                out.flush()
            if callback is not None and callback(IterationInfo(epoch, iteration, loss_value, params)) is True:
                history.stopped_early = True
                break
        history.epoch_loss.append(float(np.mean(losses)))
        acc = None
        if predict is not None:
            X_eval, labels_eval = validation if validation is not None else (X, T)
            acc = accuracy(predict(params, X_eval), labels_eval)
        history.epoch_accuracy.append(acc)
        history.epoch_seconds.append(time.perf_counter() - start)
        if progress:
            acc_text = f"  accuracy {acc:.3f}" if acc is not None else ""
            out.write(f"\repoch {epoch}/{epochs}  loss {history.epoch_loss[-1]:.4f}{acc_text}" + " " * 20)
            out.write("\n" if epoch == epochs or history.stopped_early else "")
            out.flush()
        if history.stopped_early:
            break
    return params, history
