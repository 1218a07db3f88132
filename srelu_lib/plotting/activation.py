"""SReLU's curves, its derivative and the interactive explorer (matplotlib, ipywidgets).

Every value drawn here is computed by the library itself: the forward pass
by :func:`srelu_lib.srelu` and the derivative by :func:`~srelu_lib.dlfeval`
with :func:`~srelu_lib.dlgradient`, that is by ``SReLUFunction.backward``.  A
figure shows what the code does, not what a second copy of the formula does.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from srelu_lib.plotting import plot_srelu
    >>> fig = plot_srelu([(-1.0, 0.2, 1.0, 2.0)])
    >>> len(fig.axes)
    1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import numpy as np

__all__ = ["srelu_curve", "plot_srelu", "plot_srelu_and_derivative", "srelu_explorer"]

_PARAM_NAMES = ("tl", "al", "tr", "ar")
_LEFT_COLOR = "tab:blue"
_RIGHT_COLOR = "tab:orange"


def _default_x(tl: float, tr: float, x: Any = None) -> np.ndarray:
    if x is not None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"x must be a non-empty 1-D array of sample points; got shape {x.shape}")
        return x
    lo, hi = min(tl, tr), max(tl, tr)
    margin = max(1.5, 0.75 * (hi - lo))
    return np.linspace(lo - margin, hi + margin, 401)


def _check_params(tl: Any, al: Any, tr: Any, ar: Any) -> tuple[float, float, float, float]:
    values = []
    for name, value in zip(_PARAM_NAMES, (tl, al, tr, ar), strict=True):
        try:
            values.append(float(value))
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number; got {value!r}") from None
    return tuple(values)  # type: ignore[return-value]


def srelu_curve(
    tl: float, al: float, tr: float, ar: float, x: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample SReLU and its derivative dy/dx on one channel, using the library.

    Use it to plot or tabulate the activation for scalar parameters.  The values
    come from :func:`srelu_lib.srelu` and the derivative from
    ``dlgradient(sum(srelu(X, ...)), X)``, i.e. from the hand-written backward.

    Caveat: at a kink (``x == tl`` or ``x == tr``) the derivative is the one the
    library chooses (``x == tl`` belongs to the left region, ``x == tr`` to the
    right one).

    Args:
        tl, al, tr, ar: the left threshold, left slope, right threshold and
            right slope (real numbers; ``tl > tr`` is allowed).
        x: 1-D sample points; default: 401 points around the thresholds.

    Returns:
        ``(x, y, dydx)``: three float64 arrays of the same length.

    Example:
        >>> x, y, dydx = srelu_curve(-1.0, 0.2, 1.0, 2.0, x=[-2.0, 0.0, 3.0])
        >>> y.tolist(), dydx.tolist()
        ([-1.2, 0.0, 5.0], [0.2, 1.0, 2.0])
    """
    from ..arrays import dlarray, extractdata
    from ..autodiff import dlfeval, dlgradient
    from ..srelu_function import srelu

    tl, al, tr, ar = _check_params(tl, al, tr, ar)
    x = _default_x(tl, tr, x)
    X = dlarray(x.reshape(1, -1), "CB")  # one channel, every sample point a batch element

    def value_and_slope(X):
        Y = srelu(X, tl, al, tr, ar)
        return Y, dlgradient(cast(Any, Y).sum(), X)  # sum() is attached to DLArray at run time

    Y, dYdX = dlfeval(value_and_slope, X)
    return x, np.asarray(extractdata(Y)).reshape(-1), np.asarray(extractdata(dYdX)).reshape(-1)


def _as_param_tuple(params: Any) -> tuple[float, float, float, float]:
    if isinstance(params, Mapping):
        missing = [k for k in _PARAM_NAMES if k not in params]
        if missing:
            raise ValueError(f"parameter setting {params!r} lacks {', '.join(missing)}")
        return _check_params(*(params[k] for k in _PARAM_NAMES))
    params = tuple(params)
    if len(params) != 4:
        raise ValueError(f"each parameter setting must be (tl, al, tr, ar); got {params!r}")
    return _check_params(*params)


def _label(tl: float, al: float, tr: float, ar: float) -> str:
    return f"tl={tl:g}, al={al:g}, tr={tr:g}, ar={ar:g}"


def plot_srelu(
    params_list: Iterable[Sequence[float] | Mapping[str, float]],
    x: Any = None,
    ax: Any = None,
):
    """Plot y = SReLU(x) for a few parameter settings, with the thresholds marked.

    Use it to compare shapes side by side.  Each curve is drawn as one line
    (in the order given) and its two threshold points ``(tl, y(tl))`` and
    ``(tr, y(tr))`` as markers; the identity ``y = x`` is drawn dashed for
    reference.

    Args:
        params_list: parameter settings, each ``(tl, al, tr, ar)`` or a mapping
            with those keys.
        x: 1-D sample points shared by all curves; default: a range covering
            every setting's thresholds.
        ax: a matplotlib Axes to draw on; default: a new (6, 3.5) figure.

    Returns:
        The matplotlib Figure. ``fig.axes[0].lines`` holds the curves first (one
        per setting), then one marker line per setting, then the identity.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> fig = plot_srelu([(-1, 0.2, 1, 2), {"tl": 1, "al": 0.5, "tr": -1, "ar": 1.5}])
        >>> len(fig.axes[0].lines)
        5
    """
    import matplotlib.pyplot as plt

    settings = [_as_param_tuple(p) for p in params_list]
    if not settings:
        raise ValueError("params_list must hold at least one (tl, al, tr, ar) setting")
    if x is None:
        lo = min(min(s[0], s[2]) for s in settings)
        hi = max(max(s[0], s[2]) for s in settings)
        x = _default_x(lo, hi)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure

    curves = []
    for tl, al, tr, ar in settings:
        xs, y, _ = srelu_curve(tl, al, tr, ar, x)
        (line,) = ax.plot(xs, y, label=_label(tl, al, tr, ar))
        curves.append((line, (tl, al, tr, ar)))
    for line, (tl, al, tr, ar) in curves:
        knots, y_knots, _ = srelu_curve(tl, al, tr, ar, [tl, tr])
        ax.plot(knots, y_knots, "o", color=line.get_color(), markersize=5)
    ax.plot(x, x, "--", color="0.6", linewidth=1, label="identity y = x")
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("x")
    ax.set_ylabel("SReLU(x)")
    ax.set_title("SReLU for several parameter settings (dots: thresholds)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _shade_regions(ax: Any, tl: float, tr: float, x: np.ndarray) -> None:
    lo, hi = float(np.min(x)), float(np.max(x))
    if tl > lo:
        ax.axvspan(lo, min(tl, hi), color=_LEFT_COLOR, alpha=0.12, linewidth=0)
    if tr < hi:
        ax.axvspan(max(tr, lo), hi, color=_RIGHT_COLOR, alpha=0.12, linewidth=0)
    ax.axvline(tl, color=_LEFT_COLOR, linestyle=":", linewidth=1)
    ax.axvline(tr, color=_RIGHT_COLOR, linestyle=":", linewidth=1)
    ax.set_xlim(lo, hi)


def plot_srelu_and_derivative(
    tl: float, al: float, tr: float, ar: float, x: Any = None, fig: Any = None
):
    """Plot SReLU (left panel) and its derivative dy/dx (right panel), regions shaded.

    The left region ``x <= tl`` is shaded blue, the right region ``x >= tr``
    orange; with ``tl > tr`` the two overlap on ``[tr, tl]``, where the
    library's definition adds both hinges (see the errata chapter).

    Args:
        tl, al, tr, ar: the four SReLU parameters (real numbers).
        x: 1-D sample points; default: 401 points around the thresholds.
        fig: an empty matplotlib Figure to draw into; default: a new (8, 3.2) one.

    Returns:
        The Figure, with ``fig.axes[0].lines[0]`` the curve y(x) and
        ``fig.axes[1].lines[0]`` the derivative dy/dx (both on the same x).

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> fig = plot_srelu_and_derivative(-1, 0.2, 1, 2)
        >>> [ax.get_title() for ax in fig.axes]
        ['y = SReLU(x)', 'dy/dx']
    """
    import matplotlib.pyplot as plt

    tl, al, tr, ar = _check_params(tl, al, tr, ar)
    xs, y, dydx = srelu_curve(tl, al, tr, ar, x)
    if fig is None:
        fig = plt.figure(figsize=(8, 3.2))
    ax_y, ax_d = fig.subplots(1, 2)
    ax_y.plot(xs, y, color="black")
    ax_y.set_title("y = SReLU(x)")
    ax_y.set_xlabel("x")
    ax_y.set_ylabel("y")
    # The derivative is piecewise constant: draw it as steps so the jumps stay visible.
    ax_d.plot(xs, dydx, color="black", drawstyle="steps-mid")
    ax_d.set_title("dy/dx")
    ax_d.set_xlabel("x")
    ax_d.set_ylabel("dy/dx")
    for ax in (ax_y, ax_d):
        _shade_regions(ax, tl, tr, xs)
    ax_y.text(0.02, 0.95, "left: x ≤ tl", transform=ax_y.transAxes, va="top", color=_LEFT_COLOR, fontsize="small")
    ax_y.text(0.98, 0.05, "right: x ≥ tr", transform=ax_y.transAxes, ha="right", color=_RIGHT_COLOR,
              fontsize="small")
    fig.suptitle(_label(tl, al, tr, ar), fontsize="medium")
    fig.tight_layout()
    return fig


def srelu_explorer(tl: float = -1.0, al: float = 0.2, tr: float = 1.0, ar: float = 2.0):
    """An interactive plot of SReLU and dy/dx with one slider per parameter.

    Use it in a live Jupyter kernel (local, Binder, Colab): moving a slider
    redraws :func:`plot_srelu_and_derivative`.  In a static HTML page the
    widget shows the state it was saved in and the sliders do nothing.

    Args:
        tl, al, tr, ar: the initial slider values (thresholds in [-3, 3],
            slopes in [-1, 3]).

    Returns:
        An ``ipywidgets.interactive`` (a VBox): four FloatSliders named
        ``tl, al, tr, ar`` followed by the Output widget holding the figure.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ui = srelu_explorer()                       # doctest: +SKIP
        >>> [w.description for w in ui.children[:4]]    # doctest: +SKIP
        ['tl', 'al', 'tr', 'ar']
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    tl, al, tr, ar = _check_params(tl, al, tr, ar)

    def slider(name: str, value: float, lo: float, hi: float) -> Any:
        return widgets.FloatSlider(value=value, min=lo, max=hi, step=0.05, description=name,
                                   continuous_update=False, readout_format=".2f")

    def redraw(tl: float, al: float, tr: float, ar: float) -> None:
        fig = plot_srelu_and_derivative(tl, al, tr, ar)
        display(fig)
        plt.close(fig)  # displayed once; do not leave it open for the inline backend

    return widgets.interactive(
        redraw,
        tl=slider("tl", tl, -3.0, 3.0),
        al=slider("al", al, -1.0, 3.0),
        tr=slider("tr", tr, -3.0, 3.0),
        ar=slider("ar", ar, -1.0, 3.0),
    )
