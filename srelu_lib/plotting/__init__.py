"""The book's figures, tables and glued numbers: the plumbing its chapters call instead of repeating it.

- ``activation``: SReLU's curves, its derivative and the interactive
  explorer (values computed by the library itself);
- ``figures``: the other figures (curves, gradient-check errors, training
  results, timings against a floor);
- ``tables``: :func:`glue` (numbers for the prose), aligned text tables,
  source listings without docstrings, benchmark files.

All of them are importable from ``srelu_lib.plotting`` itself.

matplotlib, ipywidgets and IPython are imported inside the functions that
need them: ``import srelu_lib`` never imports this package, and importing
``srelu_lib.plotting`` alone requires none of them.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from srelu_lib.plotting import plot_srelu
    >>> fig = plot_srelu([(-1.0, 0.2, 1.0, 2.0)])
    >>> len(fig.axes)
    1
"""

from .activation import plot_srelu, plot_srelu_and_derivative, srelu_curve, srelu_explorer
from .figures import (
    plot_against_floors,
    plot_channel_curves,
    plot_confusion,
    plot_gradcheck_errors,
    plot_lines,
    plot_parameter_paths,
    plot_training_history,
    show_images,
)
from .tables import benchmark_rows, benchmark_value, glue, print_table, read_benchmark, source_text

__all__ = [
    "srelu_curve",
    "plot_srelu",
    "plot_srelu_and_derivative",
    "srelu_explorer",
    "plot_lines",
    "plot_gradcheck_errors",
    "show_images",
    "plot_training_history",
    "plot_confusion",
    "plot_parameter_paths",
    "plot_channel_curves",
    "plot_against_floors",
    "glue",
    "print_table",
    "source_text",
    "read_benchmark",
    "benchmark_rows",
    "benchmark_value",
]
