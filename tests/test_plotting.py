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
    for line, (tl, al, tr, ar) in zip(lines[:2], [settings[0], (-0.5, 0.0, 0.5, 1.0)], strict=True):
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


# --- srelu_lib.plotting.figures ----------------------------------------------------------
def test_plot_lines_draws_each_curve_and_breaks_jumps():
    x = np.linspace(-1.0, 1.0, 5)
    step = np.where(x < 0, 0.0, 3.0)
    fig = plotting.plot_lines(x, {"identity": x, "step": step}, shade=(-0.5, 0.5), break_jumps=1.0)
    identity, broken = fig.axes[0].lines[:2]
    assert [identity.get_label(), broken.get_label()] == ["identity", "step"]
    np.testing.assert_allclose(identity.get_ydata(), x)
    np.testing.assert_array_equal(np.isnan(broken.get_ydata()), [False, False, True, False, False])
    assert len(fig.axes[0].patches) == 1  # the shaded interval
    with pytest.raises(ValueError, match="has 2 values"):
        plotting.plot_lines(x, {"short": [1.0, 2.0]})
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_lines(x, {})


def test_plot_gradcheck_errors_draws_one_bar_per_input_and_result():
    from srelu_lib import GradcheckResult

    results = {"CB": GradcheckResult(True, (1e-10, 0.0), (1e-9, 0.0), 0),
               "SCB": GradcheckResult(True, (2e-10, 3e-11), (1e-9, 1e-9), 0)}
    fig = plotting.plot_gradcheck_errors(results, ["X", "tl"], atol=1e-6)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [1e-10, 1e-17, 2e-10, 3e-11])  # an exact 0 drawn at 1e-17
    with pytest.raises(ValueError, match="names has 3"):
        plotting.plot_gradcheck_errors(results, ["X", "tl", "al"])


def test_show_images_draws_every_image_with_its_title():
    images = [np.full((8, 8), k / 10) for k in range(5)]
    fig = plotting.show_images(images, [str(k) for k in range(5)], ncols=4, title="digits")
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 8 and len(drawn) == 5
    assert [ax.get_title() for ax in drawn] == ["0", "1", "2", "3", "4"]
    np.testing.assert_allclose(drawn[3].images[0].get_array(), 0.3)
    with pytest.raises(ValueError, match="titles"):
        plotting.show_images(images, ["a"])


def test_plot_training_history_plots_losses_and_accuracy_in_percent():
    from srelu_lib.train import TrainingHistory

    history = TrainingHistory(iteration_loss=[2.0, 1.5, 1.0, 0.8], epoch_loss=[1.75, 0.9],
                              epoch_accuracy=[0.5, 0.75])
    fig = plotting.plot_training_history(history)
    ax_loss, ax_acc = fig.axes
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), [2.0, 1.5, 1.0, 0.8])
    np.testing.assert_allclose(ax_loss.lines[1].get_xdata(), [2, 4])  # epoch ends
    np.testing.assert_allclose(ax_acc.lines[0].get_ydata(), [50.0, 75.0])


def test_plot_confusion_writes_the_nonzero_counts():
    matrix = np.array([[3, 0], [1, 4]])
    fig = plotting.plot_confusion(matrix)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["1", "3", "4"]
    with pytest.raises(ValueError, match="square"):
        plotting.plot_confusion(np.zeros((2, 3)))


def test_plot_parameter_paths_one_panel_per_parameter():
    paths = {"tl": np.zeros((5, 3)), "al": np.ones((5, 3)), "tr": np.full((5, 3), 2.0)}
    fig = plotting.plot_parameter_paths(paths, start={"tl": 0.0}, titles={"tl": "left threshold"})
    panels = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in panels] == ["left threshold", "al", "tr"]
    assert len(panels[0].lines) == 3 + 1  # three channels and the dashed start value
    np.testing.assert_allclose(panels[2].lines[0].get_ydata(), 2.0)


def test_plot_channel_curves_one_panel_per_channel_with_thresholds_in_range():
    x = np.tile(np.linspace(-1, 1, 11), (2, 1))
    fig = plotting.plot_channel_curves(x, 2 * x, thresholds=[np.array([0.5, 5.0])], ncols=2)
    first, second = fig.axes
    np.testing.assert_allclose(first.lines[1].get_ydata(), 2 * x[0])
    assert len(first.lines) == 3 and len(second.lines) == 2  # 5.0 is outside channel 1's range
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_channel_curves(x, x[:1])


def test_plot_against_floors_divides_by_each_floor():
    fig = plotting.plot_against_floors({"a": (10.0, 20.0), "b": (4.0, 5.0)}, (2.0, 4.0), (5.0, 10.0))
    forward, backward = fig.axes
    np.testing.assert_allclose([p.get_height() for p in forward.patches], [5.0, 2.0, 2.5, 1.0])
    np.testing.assert_allclose([p.get_height() for p in backward.patches], [4.0, 1.0, 2.0, 0.5])


# --- srelu_lib.plotting.tables ----------------------------------------------------------
def _captured_display(monkeypatch, module, attribute):
    calls = []
    monkeypatch.setattr(module, attribute, lambda data, raw, metadata: calls.append((data, metadata)))
    return calls


def test_glue_stores_what_myst_nb_glue_stores(monkeypatch):
    IPython_display = pytest.importorskip("IPython.display")
    myst_glue = pytest.importorskip("myst_nb.ext.glue")
    ours = _captured_display(monkeypatch, IPython_display, "display")
    theirs = _captured_display(monkeypatch, myst_glue, "ipy_display")
    for display in (False, True):
        assert plotting.glue("ratio", 0.125, display=display) is None
        myst_glue.glue("ratio", 0.125, display=display)
    assert ours == theirs
    assert ours[0] == ({"application/papermill.record/text/plain": "0.125"},
                       {"scrapbook": {"name": "ratio", "mime_prefix": "application/papermill.record/"}})


def test_glue_turns_numpy_scalars_into_python_numbers(monkeypatch):
    IPython_display = pytest.importorskip("IPython.display")
    calls = _captured_display(monkeypatch, IPython_display, "display")
    plotting.glue("x", np.float32(0.5))
    plotting.glue("n", np.array(3))
    plotting.glue("ok", np.bool_(True))
    texts = [list(data.values())[0] for data, _ in calls]
    assert texts == ["0.5", "3", "True"]  # not "np.float32(0.5)": {glue:text} can format these


def test_glue_rejects_arrays_and_bad_names():
    with pytest.raises(TypeError, match="real number"):
        plotting.glue("v", np.zeros(3))
    with pytest.raises(TypeError, match="real number"):
        plotting.glue("v", 1 + 2j)
    for name in ("", "two words", "a:b"):
        with pytest.raises(ValueError, match="glue name"):
            plotting.glue(name, 1.0)


def test_print_table_aligns_numbers_right_and_text_left(capsys):
    plotting.print_table(["name", "bytes", "ok"], [("X", 2400, True), ("tl", 24, None)],
                         formats=[None, ",", None])
    assert capsys.readouterr().out.splitlines() == [
        "name  bytes    ok",
        "----  -----  ----",
        "X     2,400  True",
        "tl       24     -",
    ]
    with pytest.raises(ValueError, match="row 0 has 1 values"):
        plotting.print_table(["a", "b"], [(1,)])
    with pytest.raises(ValueError, match="formats has 1"):
        plotting.print_table(["a", "b"], [(1, 2)], formats=["d"])


def _documented(x):
    """Twice x."""

    def inner():
        """Nested docstring."""
        return x

    return 2 * inner()


def test_source_text_can_drop_every_docstring():
    with_docs = plotting.source_text(_documented)
    without = plotting.source_text(_documented, docstrings=False)
    assert '"""Twice x."""' in with_docs and '"""Nested docstring."""' in with_docs
    assert "Twice" not in without and "Nested" not in without
    assert without.splitlines()[0] == "def _documented(x):" and "return 2 * inner()" in without
    compile(without, "<source_text>", "exec")  # still valid Python


def test_read_benchmark_and_look_up_one_value():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "book" / "data" / "benchmark-2026-11-25.csv"
    machine, rows = plotting.read_benchmark(path)
    assert machine["cpu_count"] == ["2"] and machine["numpy"] == ["2.4.6"]
    chosen = plotting.benchmark_rows(rows, 10**7, "float32", layout="SSCB")
    assert {r["impl"] for r in chosen} >= {"floor:copy", "numba", "literal"}
    value = plotting.benchmark_value(rows, "fwd_ms", impl="numba", size=10**7, dtype="float32", layout="SSCB")
    row = next(r for r in chosen if r["impl"] == "numba")
    assert value == float(row["fwd_ms"])
    with pytest.raises(LookupError, match="0 rows"):
        plotting.benchmark_value(rows, "fwd_ms", impl="nonexistent", size=10**7, dtype="float32",
                                 layout="SSCB")
    with pytest.raises(LookupError, match="empty"):
        plotting.benchmark_value(rows, "bwd_ms", impl="floor:copy", size=10**7, dtype="float32",
                                 layout="SSCB")


def test_importing_srelu_lib_plotting_does_not_import_matplotlib_or_ipython():
    code = ("import sys, srelu_lib.plotting; "
            "print('matplotlib' in sys.modules, 'IPython' in sys.modules, 'ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
