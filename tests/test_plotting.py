"""Smoke and value tests of srelu_lib.plotting (Agg backend, no display)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from srelu_lib import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def textbook_srelu(x, tl, al, tr, ar):
    """The three-region textbook definition, written independently for tl < tr."""
    x = np.asarray(x, dtype=float)
    return np.where(x <= tl, tl + al * (x - tl), np.where(x >= tr, tr + ar * (x - tr), x))


def test_import_srelu_lib_does_not_import_plotting_or_matplotlib():
    code = ("import sys, srelu_lib; "
            "print('srelu_lib.plotting' in sys.modules, 'matplotlib' in sys.modules, 'ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


def test_srelu_curve_values_and_slopes_match_textbook_definition():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.7, 1.0, 2.5])
    tl, al, tr, ar = -1.0, 0.2, 1.0, 2.0
    xs, y, dydx = plotting.srelu_curve(tl, al, tr, ar, x)
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_allclose(y, textbook_srelu(x, tl, al, tr, ar), rtol=1e-12)
    # x == tl belongs to the left region, x == tr to the right one.
    np.testing.assert_allclose(dydx, [0.2, 0.2, 1.0, 1.0, 1.0, 2.0, 2.0])


def test_plot_srelu_draws_one_curve_per_setting_with_library_values():
    settings = [(-1.0, 0.2, 1.0, 2.0), {"tl": -0.5, "al": 0.0, "tr": 0.5, "ar": 1.0}]
    x = np.linspace(-2, 2, 41)
    fig = plotting.plot_srelu(settings, x=x)
    lines = fig.axes[0].lines
    assert len(lines) == 2 * len(settings) + 1  # curves, threshold markers, identity
    for line, (tl, al, tr, ar) in zip(lines, [settings[0], (-0.5, 0.0, 0.5, 1.0)]):
        np.testing.assert_allclose(line.get_xdata(), x)
        np.testing.assert_allclose(line.get_ydata(), textbook_srelu(x, tl, al, tr, ar), rtol=1e-12)
    markers = lines[2]
    np.testing.assert_allclose(markers.get_xdata(), [-1.0, 1.0])
    np.testing.assert_allclose(markers.get_ydata(), [-1.0, 1.0])
    np.testing.assert_allclose(lines[-1].get_ydata(), x)  # identity


def test_plot_srelu_uses_given_axes_and_rejects_bad_settings():
    fig, ax = plt.subplots()
    assert plotting.plot_srelu([(-1, 0.1, 1, 1.5)], ax=ax) is fig
    with pytest.raises(ValueError, match="tl, al, tr, ar"):
        plotting.plot_srelu([(1, 2, 3)])
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_srelu([])
    with pytest.raises(TypeError, match="al must be a real number"):
        plotting.plot_srelu([(-1, "steep", 1, 2)])


def test_plot_srelu_and_derivative_panels_hold_value_and_slope():
    fig = plotting.plot_srelu_and_derivative(-1.0, 0.25, 1.0, 3.0)
    ax_y, ax_d = fig.axes
    x = ax_y.lines[0].get_xdata()
    np.testing.assert_allclose(ax_y.lines[0].get_ydata(), textbook_srelu(x, -1.0, 0.25, 1.0, 3.0), rtol=1e-12)
    slope = ax_d.lines[0].get_ydata()
    np.testing.assert_allclose(np.unique(slope), [0.25, 1.0, 3.0])
    np.testing.assert_allclose(slope[x < -1], 0.25)
    np.testing.assert_allclose(slope[x > 1], 3.0)
    assert len(ax_y.patches) == 2  # left and right regions shaded


def test_overlapping_thresholds_add_both_hinges():
    # tl > tr: on [tr, tl] both hinges act, so the slope there is al + ar - 1.
    tl, al, tr, ar = 1.0, 0.5, -1.0, 2.0
    x = np.array([-2.0, 0.0, 2.0])
    _, y, dydx = plotting.srelu_curve(tl, al, tr, ar, x)
    expected = x + (al - 1) * np.minimum(x - tl, 0) + (ar - 1) * np.maximum(x - tr, 0)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    np.testing.assert_allclose(dydx, [al, al + ar - 1, ar])


def test_srelu_explorer_returns_sliders_and_output():
    widgets = pytest.importorskip("ipywidgets")
    ui = plotting.srelu_explorer(tl=-0.5, al=0.1, tr=0.5, ar=1.5)
    assert isinstance(ui, widgets.Widget)
    sliders = [w for w in ui.children if isinstance(w, widgets.FloatSlider)]
    assert [s.description for s in sliders] == ["tl", "al", "tr", "ar"]
    assert [s.value for s in sliders] == [-0.5, 0.1, 0.5, 1.5]
    assert isinstance(ui.children[-1], widgets.Output)
    sliders[0].value = -1.0  # triggers a redraw without raising
    assert ui.kwargs["tl"] == -1.0
