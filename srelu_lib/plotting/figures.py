"""The book's other figures: curves, gradient-check errors, training results, timings against a floor.

Each function takes the numbers a cell computed and draws them; none computes
anything a reader should see in the cell itself.  Every function returns the
matplotlib Figure (end the cell with ``plt.show()`` or ``;``).

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> x = np.linspace(-2, 2, 5)
    >>> fig = plot_lines(x, {"y = x": x, "y = |x|": np.abs(x)}, title="two lines")
    >>> [line.get_label() for line in fig.axes[0].lines[:2]]
    ['y = x', 'y = |x|']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "plot_lines",
    "plot_gradcheck_errors",
    "show_images",
    "plot_training_history",
    "plot_confusion",
    "plot_parameter_paths",
    "plot_channel_curves",
    "plot_against_floors",
]


def _axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _broken(y: np.ndarray, jump: float | None) -> np.ndarray:
    """``y`` as float with NaN where it jumps by more than ``jump`` (so no vertical line is drawn)."""
    y = np.asarray(y, dtype=np.float64)
    if jump is None or y.size < 2:
        return y
    y = y.copy()
    y[1:][np.abs(np.diff(y)) > jump] = np.nan
    return y


def plot_lines(
    x: Any,
    lines: Mapping[str, Any],
    *,
    title: str | None = None,
    xlabel: str = "x",
    ylabel: str = "y",
    shade: tuple[float, float] | None = None,
    shade_label: str | None = None,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
    break_jumps: float | None = None,
    ax: Any = None,
):
    """Plot one or more curves over the same ``x``, with a legend.

    Args:
        x: 1-D sample points.
        lines: label -> y values (same length as ``x``), drawn in this order.
        title, xlabel, ylabel: axis texts.
        shade: an interval ``(lo, hi)`` of x to shade grey, or None.
        shade_label: legend entry of the shaded interval.
        styles: label -> extra keyword arguments for ``Axes.plot``
            (``{"three masks": {"linestyle": ":"}}``).
        break_jumps: leave a gap where a curve jumps by more than this between
            neighbouring samples, so a discontinuity is not drawn as a steep line.
        ax: the Axes to draw on; default: a new (6, 3.5) figure.

    Returns:
        The Figure; ``fig.axes[0].lines`` holds the curves in the order given,
        then the horizontal line y = 0.

    Raises:
        ValueError: no lines, or a curve's length differs from ``x``'s.
    """
    x = np.asarray(x, dtype=np.float64)
    if not lines:
        raise ValueError("lines must hold at least one curve (label -> y values)")
    fig, ax = _axes(ax, (6, 3.5))
    if shade is not None:
        ax.axvspan(min(shade), max(shade), color="0.9", zorder=0, label=shade_label)
    styles = styles or {}
    for label, y in lines.items():
        y = np.asarray(y).reshape(-1)
        if y.shape != x.shape:
            raise ValueError(f"curve {label!r} has {y.size} values; x has {x.size}")
        ax.plot(x, _broken(y, break_jumps), label=label, **dict(styles.get(label, {})))
    ax.axhline(0.0, color="0.85", linewidth=0.8, zorder=0)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_gradcheck_errors(results: Mapping[str, Any], names: Sequence[str], atol: float | None = None):
    """Bar chart of the largest gradient-check error per input, one group of bars per result.

    Args:
        results: a label (e.g. a format) -> :class:`~srelu_lib.checks.GradcheckResult`.
        names: one name per checked input (the x-axis).
        atol: draw this absolute tolerance as a dashed line.

    Returns:
        The Figure (log y-axis; an exact zero error is drawn at 1e-17).
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results must hold at least one GradcheckResult")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / len(results)
    positions = np.arange(len(names))
    for k, (label, result) in enumerate(results.items()):
        errors = np.maximum(np.asarray(result.max_abs_error, dtype=np.float64), 1e-17)
        if errors.size != len(names):
            raise ValueError(f"result {label!r} has {errors.size} inputs; names has {len(names)}")
        ax.bar(positions + k * width, errors, width, label=str(label))
    if atol is not None:
        ax.axhline(atol, color="black", linestyle="--", linewidth=1, label=f"atol = {atol:g}")
    ax.set_yscale("log")
    ax.set_xticks(positions + 0.4 - width / 2, list(names))
    ax.set(xlabel="input", ylabel="max |analytic - numeric|", title="gradcheck errors, per input")
    ax.legend(fontsize="small", ncols=min(5, len(results) + 1), loc="upper center")
    fig.tight_layout()
    return fig


def show_images(images: Sequence[Any], titles: Sequence[str] | None = None, *, ncols: int = 8,
                title: str | None = None, vmax: float = 1.0):
    """Show grey images in a grid, each with a small title (white 0, black ``vmax``).

    Args:
        images: 2-D arrays, one per image.
        titles: one title per image (may contain newlines), or None.
        ncols: images per row.
        title: a title above the grid.
        vmax: the value drawn black.

    Returns:
        The Figure, with ``ncols`` axes per row and the unused ones blank.
    """
    import matplotlib.pyplot as plt

    images = [np.asarray(im) for im in images]
    if not images or any(im.ndim != 2 for im in images):
        raise ValueError("images must be a non-empty sequence of 2-D arrays")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols, 1.25 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_training_history(history: Any, *, title: str | None = None):
    """Training loss (per mini-batch and epoch mean, log scale) and accuracy after each epoch.

    Args:
        history: a :class:`~srelu_lib.train.TrainingHistory` (``iteration_loss``,
            ``epoch_loss``, ``epoch_accuracy``).
        title: a title above both panels.

    Returns:
        The Figure with the loss panel first and the accuracy panel (in %) second.
    """
    import matplotlib.pyplot as plt

    epochs = len(history.epoch_loss)
    iterations = len(history.iteration_loss)
    if epochs == 0:
        raise ValueError("history has no completed epoch")
    per_epoch = iterations // epochs
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.3))
    ax_loss.plot(np.arange(1, iterations + 1), history.iteration_loss, color="0.75", linewidth=0.8,
                 label="mini-batch")
    ax_loss.plot(per_epoch * np.arange(1, epochs + 1), history.epoch_loss, "o-", markersize=3, label="epoch mean")
    ax_loss.set(xlabel="iteration", ylabel="cross-entropy", yscale="log", title="Training loss")
    ax_loss.legend(fontsize="small")
    accuracy = [np.nan if a is None else 100 * a for a in history.epoch_accuracy]
    ax_acc.plot(np.arange(1, epochs + 1), accuracy, "o-", markersize=3)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy after each epoch")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_confusion(matrix: Any, *, title: str = "Confusion matrix", xlabel: str = "predicted",
                   ylabel: str = "true"):
    """Draw a confusion matrix (rows: true class, columns: predicted class) with its counts.

    Returns:
        The Figure; zero counts are left blank.
    """
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square; got shape {matrix.shape}")
    n = matrix.shape[0]
    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.imshow(matrix, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                dark = matrix[i, j] > matrix.max() / 2
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    ax.set(xticks=range(n), yticks=range(n), xlabel=xlabel, ylabel=ylabel, title=title)
    fig.tight_layout()
    return fig


def plot_parameter_paths(paths: Mapping[str, Any], start: Mapping[str, float] | None = None,
                         titles: Mapping[str, str] | None = None, *, title: str | None = None):
    """One panel per parameter: its value per channel (one line each) against the iteration.

    Args:
        paths: name -> array of shape ``(iterations, C)``.
        start: name -> initial value, drawn dashed.
        titles: name -> panel title (default: the name).
        title: a title above all panels.

    Returns:
        The Figure, panels in the order of ``paths`` (two per row).
    """
    import matplotlib.pyplot as plt

    if not paths:
        raise ValueError("paths must hold at least one parameter")
    nrows = math.ceil(len(paths) / 2)
    fig, axes = plt.subplots(nrows, 2, figsize=(9, 2.75 * nrows), sharex=True, squeeze=False)
    for ax, (name, values) in zip(axes.flat, paths.items(), strict=False):
        values = np.asarray(values)
        ax.plot(np.arange(1, values.shape[0] + 1), values, linewidth=0.8)
        if start is not None and name in start:
            ax.axhline(start[name], color="black", linestyle="--", linewidth=0.8)
        ax.set_title((titles or {}).get(name, name))
    for ax in axes.flat[len(paths):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_channel_curves(x: Any, y: Any, thresholds: Sequence[Any] = (), *, ncols: int = 4,
                        title: str | None = None):
    """One small panel per channel: ``y[c]`` against ``x[c]``, the identity dotted.

    Args:
        x, y: arrays of shape ``(C, n)``.
        thresholds: arrays of shape ``(C,)`` (e.g. ``tl`` and ``tr``), drawn as
            grey vertical lines where they fall inside a channel's x range.
        ncols: panels per row.
        title: a title above the panels.

    Returns:
        The Figure with one panel per channel, titled "channel c".
    """
    import matplotlib.pyplot as plt

    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape (C, n); got {x.shape} and {y.shape}")
    channels = x.shape[0]
    nrows = math.ceil(channels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2 * ncols, 1.6 * nrows), squeeze=False)
    for c, ax in enumerate(axes.flat):
        if c >= channels:
            ax.axis("off")
            continue
        ax.plot(x[c], x[c], ":", color="0.6", linewidth=0.8)
        ax.plot(x[c], y[c], linewidth=1.4)
        for t in thresholds:
            t_c = float(np.asarray(t).reshape(-1)[c])
            if x[c].min() <= t_c <= x[c].max():
                ax.axvline(t_c, color="0.8", linewidth=0.8, zorder=0)
        ax.set_title(f"channel {c}", fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_against_floors(times: Mapping[str, tuple[float, float]], forward_floors: tuple[float, float],
                        backward_floors: tuple[float, float], *, title: str | None = None):
    """Each version's time divided by the memory floor, forward and backward side by side.

    Args:
        times: version -> ``(forward ms, backward ms)``.
        forward_floors: ``(copy into an existing array, copy into a fresh one)`` in ms.
        backward_floors: ``(add into an existing array, add into a fresh one)`` in ms.
        title: a title above both panels.

    Returns:
        The Figure with two log-scale panels.  In each, the darker bar divides
        by the first floor and the lighter bar by the second; 1 is the floor.
    """
    import matplotlib.pyplot as plt

    if not times:
        raise ValueError("times must hold at least one version")
    names = list(times)
    positions = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    panels = (("forward / copy floor", forward_floors), ("backward / add floor", backward_floors))
    for k, (ax, (panel, floors)) in enumerate(zip(axes, panels, strict=True)):
        values = np.array([times[n][k] for n in names], dtype=np.float64)
        ax.bar(positions - 0.2, values / floors[0], 0.4, label="floor into an existing array", color="tab:blue")
        ax.bar(positions + 0.2, values / floors[1], 0.4, label="floor into a fresh array", color="tab:cyan")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(positions, names, rotation=20)
        ax.set_title(panel)
    axes[0].set_ylabel("time / floor (log scale)")
    axes[1].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
