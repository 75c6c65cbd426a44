import sys

import numpy as np
import pytest

from heads import Binary, Classes, SquaredError
from program import data, plots
from program.model import build

ROWS = [dict(epoch=e, loss=1 / e, data_loss=0.9 / e, reg_loss=0.1 / e, accuracy=0.5 + e / 10,
             learning_rate=0.1 / e, val_loss=1.1 / e, val_accuracy=0.4 + e / 10)
        for e in (1, 2, 3)]


def classes_dataset(n_classes=3, n=30, features=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    y = rng.integers(0, n_classes, n)
    return data.Dataset(x, y, x, y, "classes", "test", [str(k) for k in range(n_classes)])


@pytest.fixture
def plt():
    return plots._pyplot(False)


def test_writes_a_png_with_agg(tmp_path):
    d = classes_dataset()
    path = plots.plot_training(ROWS, build(2, [4], 3, Classes()), d, tmp_path / "a" / "f.png",
                               title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"


def test_curves_hold_the_logged_values(plt):
    d = classes_dataset()
    fig = plots.training_figure(plt, ROWS, build(2, [4], 3, Classes()), d, "title")
    ax_loss, ax_acc, ax_lr = fig.axes[:3]
    expected = {ax_loss: ("loss", "data_loss", "val_loss"), ax_acc: ("accuracy", "val_accuracy"),
                ax_lr: ("learning_rate",)}
    for ax, keys in expected.items():
        assert len(ax.lines) == len(keys)
        for line, key in zip(ax.lines, keys, strict=True):
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
            np.testing.assert_array_equal(line.get_ydata(), [row[key] for row in ROWS])
    assert fig._suptitle.get_text() == "title"
    plt.close(fig)


def test_regression_curves_add_r_squared(plt):
    rows = [dict(row, r2=0.5 + row["epoch"] / 10, val_r2=0.3) for row in ROWS]
    d = data.sine(samples=20)
    fig = plots.training_figure(plt, rows, build(1, [4], 1, SquaredError()), d)
    labels = [line.get_label() for line in fig.axes[1].lines]
    assert labels == ["training", "validation", "training R²", "validation R²"]
    np.testing.assert_array_equal(fig.axes[1].lines[2].get_ydata(), [0.6, 0.7, 0.8])
    plt.close(fig)


def test_regression_curves_of_a_single_epoch(plt):
    rows = [dict(ROWS[0], r2=0.25, val_r2=0.125)]
    fig = plots.training_figure(plt, rows, build(1, [4], 1, SquaredError()), data.sine(samples=8))
    assert [list(line.get_ydata()) for line in fig.axes[1].lines] == [
        [0.6], [0.5], [0.25], [0.125]]
    # R² dotted beside the accuracies it shares the panel with
    assert [line.get_linestyle() for line in fig.axes[1].lines] == ["-", "-", ":", ":"]
    plt.close(fig)


def test_region_values_are_the_predictions_at_each_grid_point():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (40, 2)) * [3.0, 1.0]  # a wide box: a transposed grid shows
    net = build(2, [8], 3, Classes(), weight_scale=1.0, rng=rng)
    grid_x, grid_y, values = plots.region_values(net, x, resolution=30)
    assert grid_x.shape == values.shape == (30, 30)
    assert np.ptp(grid_x) > np.ptp(grid_y)  # x runs along the columns
    for i, j in [(0, 0), (0, 29), (29, 0), (7, 19), (23, 4)]:
        point = np.array([[grid_x[i, j], grid_y[i, j]]])
        assert values[i, j] == net.predict(point)[0]
    assert len(np.unique(values)) > 1


def test_binary_regions_are_the_probability_of_class_one():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 2))
    net = build(2, [8], 1, Binary(), weight_scale=1.0, rng=rng)
    grid_x, grid_y, values = plots.region_values(net, x, resolution=20)
    point = np.array([[grid_x[3, 15], grid_y[3, 15]]])
    assert values[3, 15] == net.outputs(point)[0, 0]
    assert 0 < values.min() and values.max() < 1


def test_problem_panel_fits_data_and_head(plt):
    fig, axes = plt.subplots(1, 4)
    two = classes_dataset()
    plots.draw_problem(axes[0], build(2, [4], 3, Classes()), two)
    assert axes[0].get_title() == "decision regions (training points)"
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "class 0", "class 1", "class 2"]
    many = classes_dataset(features=5)
    plots.draw_problem(axes[1], build(5, [4], 3, Classes()), many)
    assert axes[1].get_title() == "confusion matrix (training data)"
    assert axes[1].images[0].get_array().sum() == len(many.y_train)
    sine = data.sine(samples=10)
    net = build(1, [4], 1, SquaredError())
    plots.draw_problem(axes[2], net, sine)
    curve = axes[2].lines[0]
    np.testing.assert_allclose(curve.get_ydata(), net.predict(np.sort(sine.x_train, axis=0))[:, 0])
    regression = data.Dataset(np.ones((5, 3)), np.ones((5, 1)), np.ones((5, 3)), np.ones((5, 1)),
                              "regression", "test")
    plots.draw_problem(axes[3], build(3, [4], 1, SquaredError()), regression)
    assert axes[3].get_title() == "predictions (training data)"
    plt.close(fig)


def test_confusion_matrix_counts_predictions_per_true_class(plt):
    d = classes_dataset(n_classes=3, n=60, features=4)
    net = build(4, [6], 3, Classes(), weight_scale=1.0, rng=np.random.default_rng(2))
    fig, ax = plt.subplots()
    plots.confusion_matrix(ax, net, d.x_train, d.y_train, d.class_names)
    counts = ax.images[0].get_array()
    predicted = net.predict(d.x_train)
    for true in range(3):
        for guess in range(3):
            assert counts[true, guess] == np.sum((d.y_train == true) & (predicted == guess))
    plt.close(fig)


def test_non_finite_network_still_plots(tmp_path):
    net = build(2, [4], 2, Classes())
    net.trainable[0].weights[:] = np.nan
    d = classes_dataset(n_classes=2, n=4)
    assert plots.plot_training(ROWS, net, d, tmp_path / "f.png").exists()


def test_importing_main_does_not_import_numpy_matplotlib_or_nnfs():
    import subprocess

    code = ("import main, sys; "
            "print(*(m in sys.modules for m in ('numpy', 'matplotlib', 'nnfs')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False", "False"]


# -- What each figure draws ------------------------------------------------------------------


def constrained(fig):
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    return isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)


@pytest.fixture
def no_files(monkeypatch):
    """Figures are drawn but not written: ``savefig`` records the figure instead."""
    from matplotlib.figure import Figure

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kwargs: saved.append(
        (fig, path, kwargs)))
    return saved


@pytest.fixture
def backend():
    """Restores the Agg backend after a test that switches it."""
    import matplotlib

    yield matplotlib
    matplotlib.use("Agg")


def rgba(colour):
    from matplotlib.colors import to_rgba

    return to_rgba(colour)


def not_finite(network):
    network.trainable[0].weights[0, 0] = np.nan
    return network


def test_without_show_the_agg_backend_is_selected_silently(backend, caplog):
    backend.use("svg")
    plots._pyplot(False)
    assert backend.get_backend() == "Agg"
    assert caplog.records == []


def test_show_keeps_the_backend_and_warns_when_it_cannot_open_a_window(backend, caplog):
    backend.use("svg")
    plots._pyplot(True)
    assert backend.get_backend().lower() == "svg"
    assert [r.getMessage() for r in caplog.records] == [
        "--show: no display to open a window on; the figure is only saved"]
    assert caplog.records[0].levelname == "WARNING"


def test_class_colours_are_tab10_up_to_ten_classes_then_spread_over_turbo():
    import matplotlib

    tab10, turbo = matplotlib.colormaps["tab10"], matplotlib.colormaps["turbo"]
    assert plots.class_colours(3) == [tab10(0), tab10(1), tab10(2)]
    assert plots.class_colours(10) == [tab10(i) for i in range(10)]
    assert plots.class_colours(11) == [turbo(i / 10) for i in range(11)]
    assert plots.class_colours(11)[-1] == turbo(1.0)


def test_run_colours_cycle_and_are_never_class_colours():
    assert [plots.run_colour(i) for i in range(7)] == [*plots.RUN_COLOURS, "black"]
    classes = {rgba(c) for c in plots.class_colours(10)}
    assert not classes & {rgba(c) for c in plots.RUN_COLOURS}


def test_grid_spans_the_points_box_padded_by_a_quarter():
    x = np.array([[0.0, 10.0], [2.0, 11.0], [1.0, 14.0]], dtype=np.float32)
    grid_x, grid_y, points = plots._grid(x, 3)
    np.testing.assert_allclose(grid_x, [[-0.25, 1.0, 2.25]] * 3, rtol=1e-6)
    np.testing.assert_allclose(grid_y, [[9.75] * 3, [12.0] * 3, [14.25] * 3], rtol=1e-6)
    np.testing.assert_array_equal(points, np.column_stack([grid_x.ravel(), grid_y.ravel()]))
    assert points.dtype == np.float32


def test_region_values_default_to_a_200_by_200_grid():
    x = np.random.default_rng(0).standard_normal((10, 2))
    grid_x, grid_y, values = plots.region_values(build(2, [3], 3, Classes()), x)
    assert grid_x.shape == grid_y.shape == values.shape == (200, 200)


def three_regions(seed=3):
    """A network whose regions cover several classes, and points in the plane."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (30, 2))
    net = build(2, [], 3, Classes())
    # class 0 right, class 1 left, class 2 above both
    net.trainable[0].weights[:] = [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    return net, x, rng.integers(0, 3, 30)


def test_decision_regions_fill_each_class_band_in_its_colour(plt):
    net, x, y = three_regions()
    fig, ax = plt.subplots()
    plots.decision_regions(ax, net, x, y, ["a", "b", "c"], resolution=40)
    regions = ax.collections[0]
    np.testing.assert_array_equal(regions.levels, [-0.5, 0.5, 1.5, 2.5])
    colours = plots.class_colours(3)
    np.testing.assert_allclose(regions.get_facecolor(), [(*c[:3], 0.25) for c in colours])
    grid_x, grid_y, classes = plots.region_values(net, x, 40)
    for i, j in [(2, 2), (20, 20), (37, 5), (5, 37), (30, 30)]:
        c = classes[i, j]
        if (classes[i - 1:i + 2, j - 1:j + 2] == c).all():  # away from a boundary
            assert regions.get_paths()[c].contains_point((grid_x[i, j], grid_y[i, j]))
    assert len(np.unique(classes)) == 3
    plt.close(fig)


def test_decision_regions_scatter_the_points_in_their_class_colours(plt):
    net, x, y = three_regions()
    fig, ax = plt.subplots()
    plots.decision_regions(ax, net, x, y, ["a", "b", "c"], resolution=10)
    points = ax.collections[-1]
    np.testing.assert_array_equal(points.get_offsets(), x)
    colours = plots.class_colours(3)
    np.testing.assert_allclose(points.get_facecolor(), [colours[label] for label in y])
    assert points.get_edgecolor().size == 0
    np.testing.assert_array_equal(points.get_sizes(), [8])
    (x_min, y_min), (x_max, y_max) = x.min(axis=0) - 0.25, x.max(axis=0) + 0.25
    assert ax.get_xlim() == pytest.approx((x_min, x_max))
    assert ax.get_ylim() == pytest.approx((y_min, y_max))
    assert ax.get_aspect() == 1.0
    assert ax.get_title() == "decision regions (training points)"
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["class a", "class b", "class c"]
    for handle, colour in zip(legend.legend_handles, colours, strict=True):
        assert handle.get_marker() == "o"
        assert handle.get_linestyle() == "None"
        assert rgba(handle.get_color()) == colour
    assert legend._loc == 1  # upper right
    assert legend.get_texts()[0].get_fontsize() == pytest.approx(
        plt.matplotlib.font_manager.FontProperties(size="small").get_size_in_points())
    plt.close(fig)


def test_decision_regions_leave_out_the_legend_beyond_twelve_classes(plt):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 2))
    fig, (ax12, ax13) = plt.subplots(1, 2)
    for ax, n in ((ax12, 12), (ax13, 13)):
        plots.decision_regions(ax, build(2, [4], n, Classes()), x, np.arange(30) % n,
                               [str(k) for k in range(n)], resolution=5)
    assert len(ax12.get_legend().get_texts()) == 12
    assert ax13.get_legend() is None
    plt.close(fig)


def test_binary_regions_shade_the_probability_and_draw_the_half_boundary(plt):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 2))
    net = build(2, [8], 1, Binary(), weight_scale=1.0, rng=rng)
    fig, ax = plt.subplots()
    plots.decision_regions(ax, net, x, np.arange(40) % 2, ["no", "yes"], resolution=30)
    shading, boundary, points = ax.collections
    np.testing.assert_allclose(shading.levels, np.linspace(0, 1, 11))
    assert shading.get_alpha() == 0.45
    colours = plots.class_colours(2)
    assert shading.cmap.name == "classes"
    assert shading.cmap(0.0) == colours[0]
    assert shading.cmap(0.5) == pytest.approx(rgba("white"), abs=0.01)
    assert shading.cmap(1.0) == colours[1]
    np.testing.assert_array_equal(boundary.levels, [0.5])
    assert rgba(boundary.get_edgecolor()[0]) == rgba("black")
    np.testing.assert_array_equal(boundary.get_linewidth(), [0.8])
    grid_x, grid_y, probability = plots.region_values(net, x, 30)
    assert (shading.zmin, shading.zmax) == (probability.min(), probability.max())
    assert (boundary.zmin, boundary.zmax) == (probability.min(), probability.max())
    # the boundary runs where the network is undecided, inside the grid's box
    ends = np.concatenate([path.vertices for path in boundary.get_paths()])
    assert len(ends) > 0
    assert ends[:, 0].min() >= grid_x.min() and ends[:, 0].max() <= grid_x.max()
    assert ends[:, 1].min() >= grid_y.min() and ends[:, 1].max() <= grid_y.max()
    np.testing.assert_allclose(net.outputs(ends)[:, 0], 0.5, atol=0.01)
    colorbar = fig.axes[1]
    assert shading.colorbar.ax is colorbar  # the scale of the shading, with its levels
    assert colorbar.get_ylabel() == "P(class yes)"
    assert colorbar.get_position(original=True).height == pytest.approx(
        0.6 * ax.get_position(original=True).height)
    assert ax.get_xlim() == pytest.approx((grid_x.min(), grid_x.max()))
    plt.close(fig)


def test_regions_of_a_network_that_is_not_finite_are_a_message(plt):
    net, x, y = three_regions()
    fig, ax = plt.subplots()
    plots.decision_regions(ax, not_finite(net), x, y, ["a", "b", "c"], resolution=10)
    (message,) = ax.texts
    assert message.get_text() == "weights are not finite:\nno regions to draw"
    assert message.get_position() == (0.5, 0.5)
    assert message.get_transform() == ax.transAxes
    assert (message.get_ha(), message.get_va()) == ("center", "center")
    assert len(ax.collections) == 1  # the points only
    (x_min, y_min), (x_max, y_max) = x.min(axis=0) - 0.25, x.max(axis=0) + 0.25
    assert ax.get_xlim() == pytest.approx((x_min, x_max))
    assert ax.get_ylim() == pytest.approx((y_min, y_max))
    plt.close(fig)


def sine_like(n=12, seed=0, one_dimensional=False):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 1))
    y = np.sin(2 * np.pi * x)
    return x, (y[:, 0] if one_dimensional else y)


def test_fitted_curve_draws_the_data_and_the_fit_in_order_of_x(plt):
    x, y = sine_like(one_dimensional=True)
    net = build(1, [4], 1, SquaredError(), weight_scale=1.0, rng=np.random.default_rng(0))
    fig, ax = plt.subplots()
    plots.fitted_curve(ax, net, x, y)
    order = np.argsort(x[:, 0])
    (points,) = ax.collections
    np.testing.assert_array_equal(points.get_offsets(), np.column_stack([x[order, 0], y[order]]))
    assert rgba(points.get_facecolor()[0]) == rgba("tab:blue")
    np.testing.assert_array_equal(points.get_sizes(), [6])
    (curve,) = ax.lines
    np.testing.assert_array_equal(curve.get_xdata(), x[order, 0])
    np.testing.assert_array_equal(curve.get_ydata(), net.predict(x[order])[:, 0])
    assert rgba(curve.get_color()) == rgba("tab:orange")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training data", "network"]
    assert ax.get_legend().get_texts()[0].get_fontsize() == pytest.approx(
        plt.matplotlib.font_manager.FontProperties(size="small").get_size_in_points())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert ax.get_title() == "fit (training data)"
    plt.close(fig)


def test_fitted_curve_keeps_its_colours_whatever_the_style(plt):
    from cycler import cycler

    x, y = sine_like()
    with plt.rc_context({"axes.prop_cycle": cycler(color=["red", "green"])}):
        fig, ax = plt.subplots()
        plots.fitted_curve(ax, build(1, [4], 1, SquaredError()), x, y)
    assert rgba(ax.collections[0].get_facecolor()[0]) == rgba("tab:blue")
    assert rgba(ax.lines[0].get_color()) == rgba("tab:orange")
    plt.close(fig)


def test_fitted_curve_of_several_targets_shows_the_first(plt):
    x, y = sine_like()
    y = np.column_stack([y[:, 0], -y[:, 0]])
    fig, ax = plt.subplots()
    plots.fitted_curve(ax, build(1, [4], 2, SquaredError()), x, y)
    order = np.argsort(x[:, 0])
    np.testing.assert_array_equal(ax.collections[0].get_offsets()[:, 1], y[order, 0])
    plt.close(fig)


def test_fitted_curve_of_a_network_that_is_not_finite_shows_the_data_only(plt):
    x, y = sine_like()
    fig, ax = plt.subplots()
    plots.fitted_curve(ax, not_finite(build(1, [4], 1, SquaredError())), x, y)
    assert len(ax.lines) == 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training data"]
    plt.close(fig)


def test_confusion_matrix_writes_each_count_in_its_cell(plt):
    d = classes_dataset(n_classes=3, n=60, features=4)
    net = build(4, [6], 3, Classes(), weight_scale=1.0, rng=np.random.default_rng(2))
    fig, ax = plt.subplots()
    plots.confusion_matrix(ax, net, d.x_train, d.y_train, ["a", "b", "c"], "held out")
    (image,) = ax.images
    predicted = net.predict(d.x_train)
    counts = [[np.sum((d.y_train == true) & (predicted == guess)) for guess in range(3)]
              for true in range(3)]
    np.testing.assert_array_equal(image.get_array(), counts)
    assert image.get_array().dtype.kind == "i"
    assert image.get_cmap().name == "Blues"
    assert [(t.get_position(), t.get_text()) for t in ax.texts] == [
        ((column, row), f"{counts[row][column]:d}") for row in range(3) for column in range(3)]
    assert {(t.get_ha(), t.get_va()) for t in ax.texts} == {("center", "center")}
    assert ax.texts[0].get_fontsize() == pytest.approx(
        plt.matplotlib.font_manager.FontProperties(size="x-small").get_size_in_points())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    np.testing.assert_array_equal(ax.get_xticks(), [0, 1, 2])
    np.testing.assert_array_equal(ax.get_yticks(), [0, 1, 2])
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {90}
    assert {t.get_rotation() for t in ax.get_yticklabels()} == {0}
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert ax.get_title() == "confusion matrix (held out)"
    plt.close(fig)


def test_confusion_matrix_of_a_binary_head_counts_its_decisions(plt):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    net = build(3, [5], 1, Binary(), weight_scale=1.0, rng=rng)
    predicted = net.predict(x)[:, 0]
    fig, ax = plt.subplots()
    plots.confusion_matrix(ax, net, x, y, ["no", "yes"])
    np.testing.assert_array_equal(ax.images[0].get_array(), [
        [np.sum((y == true) & (predicted == guess)) for guess in (0, 1)] for true in (0, 1)])
    assert ax.images[0].get_array().sum() == 40
    plt.close(fig)


def test_misclassified_images_of_a_binary_head(plt):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4))
    net = build(4, [5], 1, Binary(), weight_scale=1.0, rng=rng)
    y = net.predict(x)[:, 0].copy()
    y[[2, 5]] = 1 - y[[2, 5]]
    fig, axes = plt.subplots(1, 4)
    plots.misclassified(axes[0], list(axes[1:]), net, x, y, ["no", "yes"], (2, 2))
    assert axes[0].texts[0].get_text() == "misclassified (true -> predicted): 2 of 8"
    np.testing.assert_array_equal(axes[1].images[0].get_array(), x[2].reshape(2, 2))
    np.testing.assert_array_equal(axes[2].images[0].get_array(), x[5].reshape(2, 2))
    assert len(axes[3].images) == 0
    plt.close(fig)


def test_confusion_matrix_writes_no_numbers_beyond_twenty_classes(plt):
    fig, (ax20, ax21) = plt.subplots(1, 2)
    for ax, n in ((ax20, 20), (ax21, 21)):
        d = classes_dataset(n_classes=n, n=5, features=3)
        plots.confusion_matrix(ax, build(3, [4], n, Classes()), d.x_train, d.y_train,
                               d.class_names)
    assert len(ax20.texts) == 400
    assert len(ax21.texts) == 0
    assert ax21.get_title() == "confusion matrix (training data)"
    plt.close(fig)


def test_confusion_matrix_of_a_network_that_is_not_finite_is_empty(plt):
    d = classes_dataset(n_classes=2, n=6, features=3)
    fig, ax = plt.subplots()
    plots.confusion_matrix(ax, not_finite(build(3, [4], 2, Classes())), d.x_train, d.y_train,
                           d.class_names)
    np.testing.assert_array_equal(ax.images[0].get_array(), np.zeros((2, 2)))
    plt.close(fig)


def images_problem(seed=0):
    """Six 2x3 'images' and a network that gets some of them wrong."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 6))
    net = build(6, [5], 3, Classes(), weight_scale=1.0, rng=rng)
    predicted = net.predict(x)
    y = predicted.copy()
    y[[1, 4]] = (predicted[[1, 4]] + 1) % 3  # images 1 and 4 are misclassified
    return net, x, y, predicted


def test_misclassified_shows_the_first_wrong_images_titled_true_then_predicted(plt):
    net, x, y, predicted = images_problem()
    names = ["zero", "one", "two"]
    fig, axes = plt.subplots(1, 4)
    caption, cells = axes[0], list(axes[1:])
    plots.misclassified(caption, cells, net, x, y, names, (2, 3))
    for index, ax in zip([1, 4], cells, strict=False):
        np.testing.assert_array_equal(ax.images[0].get_array(), x[index].reshape(2, 3))
        assert ax.images[0].get_cmap().name == "gray"
        assert ax.get_title() == f"{names[y[index]]} -> {names[predicted[index]]}"
        assert rgba(ax.title.get_color()) == rgba("tab:red")
        assert ax.title.get_fontsize() == pytest.approx(
            plt.matplotlib.font_manager.FontProperties(size="x-small").get_size_in_points())
    assert len(cells[2].images) == 0 and cells[2].get_title() == ""
    assert not any(ax.axison for ax in axes)
    (text,) = caption.texts
    assert text.get_text() == "misclassified (true -> predicted): 2 of 6"
    assert text.get_position() == (0.5, 0.5)
    assert (text.get_ha(), text.get_va()) == ("center", "center")
    assert text.get_fontsize() == pytest.approx(
        plt.matplotlib.font_manager.FontProperties(size="small").get_size_in_points())
    plt.close(fig)


def test_misclassified_images_are_shown_as_read_before_scaling(plt):
    net, x, y, _ = images_problem()
    mean, scale = np.full((1, 6), 10.0), np.full((1, 6), 2.0)
    fig, axes = plt.subplots(1, 2)
    plots.misclassified(axes[0], [axes[1]], net, x, y, ["a", "b", "c"], (3, 2), (mean, scale))
    np.testing.assert_array_equal(axes[1].images[0].get_array(), (x[1] * 2.0 + 10.0).reshape(3, 2))
    plt.close(fig)


def test_misclassified_of_a_network_that_is_not_finite_shows_none(plt):
    net, x, y, _ = images_problem()
    fig, axes = plt.subplots(1, 2)
    plots.misclassified(axes[0], [axes[1]], not_finite(net), x, y, ["a", "b", "c"], (2, 3))
    assert len(axes[1].images) == 0
    assert axes[0].texts[0].get_text() == "misclassified (true -> predicted): 0 of 6"
    assert not axes[0].axison and not axes[1].axison
    plt.close(fig)


def test_predicted_against_true_scatters_predictions_beside_the_perfect_line(plt):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal(8) * 3
    net = build(3, [4], 1, SquaredError(), weight_scale=1.0, rng=rng)
    fig, ax = plt.subplots()
    plots.predicted_against_true(ax, net, x, y)
    (points,) = ax.collections
    np.testing.assert_array_equal(points.get_offsets(), np.column_stack([y, net.predict(x)[:, 0]]))
    np.testing.assert_array_equal(points.get_sizes(), [6])
    (perfect,) = ax.lines
    np.testing.assert_array_equal(perfect.get_xydata(), [[y.min(), y.min()], [y.max(), y.max()]])
    assert rgba(perfect.get_color()) == rgba("black")
    assert perfect.get_linewidth() == 0.8
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["perfect"]
    assert ax.get_legend().get_texts()[0].get_fontsize() == pytest.approx(
        plt.matplotlib.font_manager.FontProperties(size="small").get_size_in_points())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("true value", "predicted value")
    assert ax.get_title() == "predictions (training data)"
    plt.close(fig)


def test_predicted_against_true_of_several_targets_shows_the_first(plt):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    net = build(3, [4], 2, SquaredError(), weight_scale=1.0, rng=rng)
    fig, ax = plt.subplots()
    plots.predicted_against_true(ax, net, x, y)
    np.testing.assert_array_equal(ax.collections[0].get_offsets(),
                                  np.column_stack([y[:, 0], net.predict(x)[:, 0]]))
    ends = [y[:, 0].min(), y[:, 0].max()]  # the perfect line spans the target shown
    np.testing.assert_array_equal(ax.lines[0].get_xydata(), np.column_stack([ends, ends]))
    plt.close(fig)


def test_predicted_against_true_of_a_network_that_is_not_finite_has_no_points(plt):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    fig, ax = plt.subplots()
    plots.predicted_against_true(ax, not_finite(build(3, [4], 1, SquaredError())), x, y)
    assert len(ax.collections) == 0
    assert len(ax.lines) == 1
    plt.close(fig)


def test_problem_panel_regions_follow_the_resolution(plt, monkeypatch):
    real, seen = plots.region_values, []
    monkeypatch.setattr(plots, "region_values",
                        lambda *args: seen.append(args[2]) or real(*args))
    d = classes_dataset()
    fig, axes = plt.subplots(1, 2)
    plots.draw_problem(axes[0], build(2, [4], 3, Classes()), d)
    plots.draw_problem(axes[1], build(2, [4], 3, Classes()), d, resolution=7)
    assert seen == [200, 7]
    plt.close(fig)


def test_problem_panel_of_classes_in_many_features_counts_the_training_data(plt):
    d = classes_dataset(n_classes=3, n=30, features=3)
    d = data.Dataset(d.x_train, d.y_train, d.x_train[:4], d.y_train[:4], "classes", "t",
                     d.class_names)
    fig, ax = plt.subplots()
    plots.draw_problem(ax, build(3, [4], 3, Classes()), d)
    assert ax.images[0].get_array().sum() == 30
    plt.close(fig)


def test_problem_panel_of_a_one_feature_regression_is_the_fitted_curve(plt):
    x, y = sine_like()
    d = data.Dataset(x, y, x[:3], y[:3], "regression", "t")
    fig, ax = plt.subplots()
    plots.draw_problem(ax, build(1, [4], 1, SquaredError()), d)
    assert ax.get_title() == "fit (training data)"
    assert len(ax.collections[0].get_offsets()) == 12
    plt.close(fig)


def test_training_figure_lays_curves_left_and_the_problem_right(plt):
    fig = plots.training_figure(plt, ROWS, build(2, [4], 3, Classes()), classes_dataset())
    ax_loss, ax_acc, ax_lr, ax_problem = fig.axes[:4]
    assert tuple(fig.get_size_inches()) == (13, 7.5)
    assert constrained(fig)
    gridspec = ax_loss.get_subplotspec().get_gridspec()
    assert (gridspec.nrows, gridspec.ncols) == (3, 2)
    assert tuple(gridspec.get_width_ratios()) == (1.2, 1)
    assert [ax.get_subplotspec().rowspan for ax in (ax_loss, ax_acc, ax_lr)] == [
        range(0, 1), range(1, 2), range(2, 3)]
    assert {ax.get_subplotspec().colspan for ax in (ax_loss, ax_acc, ax_lr)} == {range(0, 1)}
    assert ax_problem.get_subplotspec().rowspan == range(0, 3)
    assert ax_problem.get_subplotspec().colspan == range(1, 2)
    assert ax_problem.get_title() == "decision regions (training points)"
    assert fig._suptitle is None  # no title, no heading
    plt.close(fig)


def test_training_figure_labels_styles_and_scales_the_curves(plt):
    from matplotlib.font_manager import FontProperties

    fig = plots.training_figure(plt, ROWS, build(2, [4], 3, Classes()), classes_dataset(), "t")
    ax_loss, ax_acc, ax_lr = fig.axes[:3]
    assert [line.get_label() for line in ax_loss.lines] == [
        "training (data + reg.)", "training data loss", "validation"]
    assert [line.get_linestyle() for line in ax_loss.lines] == ["-", ":", "-"]
    assert [t.get_text() for t in ax_loss.get_legend().get_texts()] == [
        "training (data + reg.)", "training data loss", "validation"]
    assert [line.get_label() for line in ax_acc.lines] == ["training", "validation"]
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["training", "validation"]
    small = FontProperties(size="small").get_size_in_points()
    for ax in (ax_loss, ax_acc):
        assert ax.get_legend().get_texts()[0].get_fontsize() == pytest.approx(small)
    assert ax_lr.get_legend() is None
    assert rgba(ax_lr.lines[0].get_color()) == rgba("tab:green")
    assert [ax.get_ylabel() for ax in (ax_loss, ax_acc, ax_lr)] == [
        "loss", "accuracy", "learning rate"]
    assert ax_lr.get_xlabel() == "epoch"
    assert ax_acc.get_ylim() == (0, 1)
    for ax in (ax_loss, ax_acc, ax_lr):
        gridlines = ax.xaxis.get_gridlines() + ax.yaxis.get_gridlines()
        assert all(line.get_visible() and line.get_alpha() == 0.3 for line in gridlines)
    plt.close(fig)


def test_training_figure_marks_the_restored_epoch_on_every_curve(plt):
    fig = plots.training_figure(plt, ROWS, build(2, [4], 3, Classes()), classes_dataset(),
                                restored=2)
    for ax in fig.axes[:3]:
        marker = ax.lines[-1]
        np.testing.assert_array_equal(marker.get_xdata(), [2, 2])
        assert marker.get_label() == "restored: epoch 2"
        assert rgba(marker.get_color()) == rgba("grey")
        assert marker.get_linestyle() == "--"
        assert marker.get_linewidth() == 1
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1] == (
        "restored: epoch 2")
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()][-1] == (
        "restored: epoch 2")
    plt.close(fig)


def test_training_figure_without_early_stopping_marks_no_epoch(plt):
    fig = plots.training_figure(plt, ROWS, build(2, [4], 3, Classes()), classes_dataset())
    assert [len(ax.lines) for ax in fig.axes[:3]] == [3, 2, 1]
    plt.close(fig)


def images_dataset(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((20, 6))
    y = rng.integers(0, 3, 20)
    scaler = (np.zeros((1, 6)), np.ones((1, 6)))
    return data.Dataset(x, y, x[:15], y[:15], "classes", "images", ["a", "b", "c"],
                        scaler=scaler, image_shape=(2, 3))


def test_training_figure_of_images_shows_the_validation_errors(plt):
    d = images_dataset()
    net = build(6, [5], 3, Classes(), weight_scale=1.0, rng=np.random.default_rng(1))
    fig = plots.training_figure(plt, ROWS, net, d)
    matrix, caption, *cells = fig.axes[3:]
    assert matrix.get_title() == "confusion matrix (validation data)"
    assert matrix.images[0].get_array().sum() == 15
    right = matrix.get_subplotspec().get_gridspec()
    assert (right.nrows, right.ncols) == (2, 1) and right.get_height_ratios() == (1.4, 1)
    assert matrix.get_subplotspec().rowspan == range(0, 1)  # the matrix above the images
    assert len(cells) == 12
    cell_grid = caption.get_subplotspec().get_gridspec()
    assert (cell_grid.nrows, cell_grid.ncols) == (3, 6)
    assert cell_grid.get_height_ratios() == (0.3, 1, 1)
    assert caption.get_subplotspec().colspan == range(0, 6)
    assert caption.get_subplotspec().rowspan == range(0, 1)
    assert [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start)
            for ax in cells] == [(i, j) for i in (1, 2) for j in range(6)]
    wrong = np.flatnonzero(net.predict(d.x_val) != d.y_val)
    assert caption.texts[0].get_text() == (
        f"misclassified (true -> predicted): {len(wrong)} of 15")
    shown = [ax for ax in cells if ax.images]
    assert len(shown) == min(len(wrong), 12) > 0
    np.testing.assert_array_equal(shown[0].images[0].get_array(), d.x_val[wrong[0]].reshape(2, 3))
    plt.close(fig)


def test_images_with_scaler_are_unscaled_in_the_training_figure(plt):
    d = images_dataset()
    d.scaler = (np.full((1, 6), 5.0), np.full((1, 6), 3.0))
    net = build(6, [5], 3, Classes(), weight_scale=1.0, rng=np.random.default_rng(1))
    fig = plots.training_figure(plt, ROWS, net, d)
    wrong = np.flatnonzero(net.predict(d.x_val) != d.y_val)
    np.testing.assert_array_equal(fig.axes[5].images[0].get_array(),
                                  (d.x_val[wrong[0]] * 3.0 + 5.0).reshape(2, 3))
    plt.close(fig)


# -- Convolution networks: the first block's kernels and feature maps ------------------------


def conv_images(seed=0):
    """6 x 6 grey images of 3 classes, standardised by a scaler that changes them."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((12, 36))
    y = rng.integers(0, 3, 12)
    scaler = (np.full((1, 36), 2.0), np.full((1, 36), 0.5))
    return data.Dataset(x, y, x[4:], y[4:], "classes", "images", ["a", "b", "c"],
                        scaler=scaler, image_shape=(6, 6))


def conv_network(norm=None):
    # weight_scale 1 and a seeded rng: kernels of both signs, maps that differ
    return build(36, [5], 3, Classes(), conv=[5], kernel=3, norm=norm, image_shape=(1, 6, 6),
                 weight_scale=1.0, rng=np.random.default_rng(4))


def titled(fig, start):
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith(start)]
    return ax


def cells(mosaic, height, width, columns, n):
    """The n (height, width) cells of a mosaic, row by row: what ``tile`` laid out."""
    return [mosaic[(i // columns) * height:(i // columns + 1) * height,
                   (i % columns) * width:(i % columns + 1) * width] for i in range(n)]


def test_tile_lays_images_out_row_by_row_and_leaves_the_spare_cells_blank():
    images = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    mosaic = plots.tile(images)  # 5 images: ceil(sqrt(5)) = 3 to a row, 2 rows
    assert mosaic.shape == (4, 9)
    for cell, image in zip(cells(mosaic, 2, 3, 3, 5), images, strict=True):
        np.testing.assert_array_equal(cell, image)
    assert np.isnan(mosaic[2:, 6:]).all()
    assert not np.isnan(mosaic[:, :6]).any() and not np.isnan(mosaic[:2]).any()
    wide = plots.tile(images, columns=5)
    assert wide.shape == (2, 15)
    np.testing.assert_array_equal(wide[:, 12:], images[4])


def test_first_conv_finds_the_first_conv2d_by_kind():
    assert plots.first_conv(conv_network()) == 1  # after the Reshape
    assert plots.first_conv(build(4, [3], 2, Classes())) is None


def test_conv_figure_adds_a_column_of_kernels_and_feature_maps(plt):
    d, net = conv_images(), conv_network()
    fig = plots.training_figure(plt, ROWS, net, d)
    assert tuple(fig.get_size_inches()) == (18.5, 7.5)
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    assert (grid.nrows, grid.ncols) == (3, 3)
    # the figure of images as it was, in the first two columns, its axes first
    assert fig.axes[3].get_title() == "confusion matrix (validation data)"
    assert len(fig.axes[3].get_subplotspec().get_gridspec().get_height_ratios()) == 2
    kernels = titled(fig, "conv2d0 kernels")
    image = titled(fig, "validation image")
    maps = titled(fig, "feature maps")
    assert fig.axes.index(kernels) > fig.axes.index(fig.axes[3]) + 12
    assert kernels.get_title() == "conv2d0 kernels (5, 3x3)"
    assert image.get_title() == f"validation image 0\n(class {d.class_names[d.y_val[0]]})"
    assert maps.get_title() == "feature maps after block 1 (maxpool2d0: 5, 3x3)"
    # the kernels above, the image beside its maps below, all in the third column
    for ax in (kernels, image, maps):
        outer = ax.get_subplotspec().get_topmost_subplotspec()
        assert outer.colspan == range(2, 3)
    assert kernels.get_position().y0 > maps.get_position().y1
    assert image.get_position().x1 <= maps.get_position().x0
    plt.close(fig)


def test_conv_kernels_are_the_first_conv2ds_weights_on_a_scale_centred_on_zero(plt):
    net = conv_network()
    weights = net.layers[1].weights  # (5, 1, 3, 3)
    weights[2, 0, 1, 1] = -3.0  # the largest in size is negative: the scale is still +-3
    fig = plots.training_figure(plt, ROWS, net, conv_images())
    shown = titled(fig, "conv2d0 kernels").images[0]
    mosaic = np.ma.filled(shown.get_array(), np.nan)
    assert mosaic.shape == (6, 9)  # 5 kernels, 3 to a row
    for cell, kernel in zip(cells(mosaic, 3, 3, 3, 5), weights[:, 0], strict=True):
        np.testing.assert_array_equal(cell, kernel)
    assert shown.get_clim() == (-3.0, 3.0)
    assert shown.get_cmap().name.startswith("RdBu_r")
    plt.close(fig)


def test_kernels_of_several_in_channels_are_their_mean(plt):
    from activations import ReLU
    from layers import Conv2D, Dense, Flatten, MaxPool2D, Reshape
    from program.model import Network

    rng = np.random.default_rng(5)
    conv = Conv2D(2, 3, 3, padding=1, rng=rng)
    net = Network([Reshape((2, 4, 4)), conv, ReLU(), MaxPool2D(2), Flatten(),
                   Dense(12, 2, rng=rng)], Classes())
    fig, ax = plt.subplots()
    plots.conv_kernels(ax, net)
    assert ax.get_title() == "conv2d0 kernels (3, 3x3, mean of 2 in-channels)"
    mosaic = np.ma.filled(ax.images[0].get_array(), np.nan)
    for cell, kernel in zip(cells(mosaic, 3, 3, 2, 3), conv.weights.mean(axis=1), strict=True):
        np.testing.assert_allclose(cell, kernel, rtol=1e-15)
    assert not np.allclose(conv.weights[:, 0], conv.weights.mean(axis=1))
    plt.close(fig)


@pytest.mark.parametrize("norm", [None, "batchnorm"])
def test_feature_maps_are_the_first_pooling_output_of_the_validation_image(plt, norm):
    d, net = conv_images(), conv_network(norm)
    fig = plots.training_figure(plt, ROWS, net, d)
    block = net.names.index("maxpool2d0")  # reshape, conv2d, [batchnorm], relu, maxpool2d
    expected = d.x_val[:1]
    for layer in net.layers[:block + 1]:
        expected = layer.forward(expected, False)
    expected = expected[0]  # (5, 3, 3)
    shown = titled(fig, "feature maps").images[0]
    mosaic = np.ma.filled(shown.get_array(), np.nan)
    for cell, channel in zip(cells(mosaic, 3, 3, 3, 5), expected, strict=True):
        np.testing.assert_array_equal(cell, channel)
    assert shown.get_clim() == (expected.min(), expected.max())
    assert expected.max() > expected.min() >= 0  # after a ReLU, not all dead
    image = titled(fig, "validation image").images[0]
    np.testing.assert_array_equal(image.get_array(), (d.x_val[0] * 0.5 + 2.0).reshape(6, 6))
    plt.close(fig)


def test_a_block_without_pooling_ends_before_the_next_conv_or_the_flatten():
    from activations import ReLU
    from layers import Conv2D, Dense, Flatten, Reshape
    from program.model import Network

    rng = np.random.default_rng(6)
    stack = [Reshape((1, 4, 4)), Conv2D(1, 2, 3, padding=1, rng=rng), ReLU()]
    x = rng.standard_normal((1, 16))
    for rest in ([Conv2D(2, 2, 3, rng=rng), Flatten(), Dense(8, 2, rng=rng)],
                 [Flatten(), Dense(32, 2, rng=rng)]):
        net = Network(stack + rest, Classes())
        maps, name = plots.first_block_maps(net, x)
        assert name == "relu0"
        np.testing.assert_array_equal(
            maps, np.maximum(stack[1].forward(x.reshape(1, 1, 4, 4))[0], 0))


def test_conv_panels_of_a_network_that_is_not_finite_are_messages(plt):
    net = conv_network()
    net.layers[1].weights[0, 0, 0, 0] = np.nan
    fig = plots.training_figure(plt, ROWS, net, conv_images())
    assert titled(fig, "conv2d0 kernels").texts[0].get_text() == (
        "weights are not finite:\nno kernels to draw")
    image = titled(fig, "validation image")
    maps = [ax for ax in fig.axes if ax.texts and "feature maps" in ax.texts[0].get_text()]
    assert maps and not maps[0].images
    assert image.images  # the image itself is still shown
    assert not titled(fig, "conv2d0 kernels").images
    plt.close(fig)


@pytest.mark.parametrize("dataset", [classes_dataset, images_dataset])
def test_figures_without_a_convolution_have_no_conv_panels(plt, dataset):
    d = dataset()
    net = build(d.n_features, [4], 3, Classes())
    fig = plots.training_figure(plt, ROWS, net, d)
    assert tuple(fig.get_size_inches()) == (13, 7.5)
    assert len(fig.axes) == (4 if d.image_shape is None else 17)
    titles = [ax.get_title() for ax in fig.axes]
    assert not [t for t in titles if "kernels" in t or "feature maps" in t or "validation image"
                in t]
    plt.close(fig)


def test_plot_training_saves_where_asked_at_100_dpi_and_closes_the_figure(no_files, tmp_path):
    import matplotlib.pyplot as pyplot

    path = plots.plot_training(ROWS, build(2, [4], 3, Classes()), classes_dataset(),
                               str(tmp_path / "a" / "b" / "f.svg"), title="run", restored=2)
    assert path == tmp_path / "a" / "b" / "f.svg"
    assert path.parent.is_dir()
    ((fig, saved_to, options),) = no_files
    assert (saved_to, options) == (path, {"dpi": 100})
    assert fig._suptitle.get_text() == "run"
    assert fig.axes[0].lines[-1].get_label() == "restored: epoch 2"
    assert not pyplot.fignum_exists(no_files[0][0].number)


def test_plot_training_with_show_opens_the_window_after_saving(no_files, tmp_path,
                                                              monkeypatch, backend, caplog):
    import matplotlib.pyplot as pyplot

    shown = []
    monkeypatch.setattr(pyplot, "show", lambda: shown.append(len(no_files)))
    plots.plot_training(ROWS, build(2, [4], 3, Classes()), classes_dataset(), tmp_path / "f.png",
                        show=True)
    assert shown == [1]
    assert [r.getMessage() for r in caplog.records] == [
        "--show: no display to open a window on; the figure is only saved"]
    assert not pyplot.fignum_exists(no_files[0][0].number)


def test_plot_training_without_show_opens_no_window(no_files, tmp_path, monkeypatch):
    import matplotlib.pyplot as pyplot

    monkeypatch.setattr(pyplot, "show", lambda: pytest.fail("a window was opened"))
    plots.plot_training(ROWS, build(2, [4], 3, Classes()), classes_dataset(), tmp_path / "f.png")
    ((fig, _, _),) = no_files
    assert fig._suptitle is None
    assert len(fig.axes[0].lines) == 3  # no restored epoch marked


def comparison(n_runs):
    """``n_runs`` optimizers' rows (each its own values) and networks."""
    runs = {}
    for index in range(n_runs):
        rows = [dict(row, loss=row["loss"] * (index + 1), val_loss=row["val_loss"] + index,
                     accuracy=row["accuracy"] / (index + 2),
                     val_accuracy=0.1 * index + row["epoch"] / 100 + 0.0934,
                     learning_rate=row["learning_rate"] * (index + 1)) for row in ROWS]
        runs[f"opt{index}"] = (rows, build(2, [4], 3, Classes(), rng=np.random.default_rng(index)))
    return runs


def test_comparison_overlays_each_optimizers_curves_in_its_colour(no_files, tmp_path):
    from matplotlib.font_manager import FontProperties

    runs = comparison(3)
    path = plots.plot_comparison(runs, classes_dataset(), tmp_path / "c" / "all.png")
    assert path == tmp_path / "c" / "all.png" and path.parent.is_dir()
    ((fig, saved_to, options),) = no_files
    assert (saved_to, options) == (path, {"dpi": 100})
    assert tuple(fig.get_size_inches()) == (12, 8)
    assert constrained(fig)
    loss, accuracy, rate = fig.axes[:3]
    gridspec = loss.get_subplotspec().get_gridspec()
    assert (gridspec.nrows, gridspec.ncols) == (2, 3)
    assert [ax.get_subplotspec().rowspan for ax in (loss, accuracy, rate)] == [range(0, 1)] * 3
    assert [ax.get_subplotspec().colspan for ax in (loss, accuracy, rate)] == [
        range(0, 1), range(1, 2), range(2, 3)]
    for index, (name, (rows, _)) in enumerate(runs.items()):
        colour = rgba(plots.run_colour(index))
        expected = [(loss, "loss", "-", f"{name} training"),
                    (loss, "val_loss", "--", f"{name} validation"),
                    (accuracy, "accuracy", "-", f"{name} training"),
                    (accuracy, "val_accuracy", "--", f"{name} validation")]
        for position, (ax, key, style, label) in enumerate(expected):
            line = ax.lines[2 * index + position % 2]
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
            np.testing.assert_array_equal(line.get_ydata(), [r[key] for r in rows])
            assert (line.get_linestyle(), line.get_label()) == (style, label)
            assert rgba(line.get_color()) == colour
        line = rate.lines[index]
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(line.get_ydata(), [r["learning_rate"] for r in rows])
        assert (line.get_label(), rgba(line.get_color())) == (name, colour)
    assert [ax.get_ylabel() for ax in (loss, accuracy, rate)] == [
        "loss", "accuracy", "learning rate"]
    assert {ax.get_xlabel() for ax in (loss, accuracy, rate)} == {"epoch"}
    tiny = FontProperties(size="x-small").get_size_in_points()
    for ax in (loss, accuracy, rate):
        assert ax.get_legend().get_texts()[0].get_fontsize() == pytest.approx(tiny)
        assert all(line.get_visible() and line.get_alpha() == 0.3
                   for line in ax.yaxis.get_gridlines())
    assert [t.get_text() for t in rate.get_legend().get_texts()] == ["opt0", "opt1", "opt2"]
    assert (loss.get_yscale(), accuracy.get_yscale(), rate.get_yscale()) == (
        "log", "linear", "log")
    assert accuracy.get_ylim() == (0, 1)
    problems = fig.axes[3:]
    assert [ax.get_title() for ax in problems] == [
        "opt0: validation accuracy 0.123", "opt1: validation accuracy 0.223",
        "opt2: validation accuracy 0.323"]
    assert [rgba(ax.title.get_color()) for ax in problems] == [
        rgba(plots.run_colour(i)) for i in range(3)]
    assert [ax.get_subplotspec().rowspan.start for ax in problems] == [1, 1, 1]
    assert [ax.get_subplotspec().colspan.start for ax in problems] == [0, 1, 2]
    for ax, (_, network) in zip(problems, runs.values(), strict=True):
        grid_x, grid_y, classes = plots.region_values(network, classes_dataset().x_train)
        assert ax.collections[0].zmin == classes.min()
    assert ax.get_legend() is not None


def test_comparison_of_one_or_two_runs_has_no_learning_rate_panel(no_files, tmp_path,
                                                                 monkeypatch):
    import matplotlib.pyplot as pyplot

    monkeypatch.setattr(pyplot, "show", lambda: pytest.fail("a window was opened"))
    plots.plot_comparison(comparison(1), classes_dataset(), tmp_path / "one.png")
    plots.plot_comparison(comparison(2), classes_dataset(), tmp_path / "two.png")
    (one, _, _), (two, _, _) = no_files
    assert tuple(one.get_size_inches()) == tuple(two.get_size_inches()) == (8, 8)
    assert len(one.axes) == 3 and len(two.axes) == 4
    assert one.axes[0].get_subplotspec().get_gridspec().ncols == 2
    assert [ax.get_ylabel() for ax in two.axes[:2]] == ["loss", "accuracy"]
    assert two.axes[0].get_yscale() == "log"
    assert [ax.get_subplotspec().rowspan.start for ax in two.axes[2:]] == [1, 1]


def test_comparison_with_show_opens_the_window(no_files, tmp_path, monkeypatch, backend,
                                               caplog):
    import matplotlib.pyplot as pyplot

    shown = []
    monkeypatch.setattr(pyplot, "show", lambda: shown.append(len(no_files)))
    plots.plot_comparison(comparison(1), classes_dataset(), tmp_path / "f.png", show=True)
    assert shown == [1]
    assert [r.getMessage() for r in caplog.records] == [
        "--show: no display to open a window on; the figure is only saved"]
    assert not pyplot.fignum_exists(no_files[0][0].number)


def animation_run(n_rows=5):
    """Rows of ``n_rows`` epochs, a network and one distinct snapshot of it per row."""
    net = build(2, [3], 3, Classes(), weight_scale=1.0, rng=np.random.default_rng(0))
    rows = [dict(epoch=e, loss=2.0 / e, val_loss=3.0 / e, accuracy=e / 10, val_accuracy=e / 20)
            for e in range(1, n_rows + 1)]
    snapshots = [[array + k for _, array in net.parameters()] for k in range(n_rows)]
    return rows, snapshots, net


@pytest.fixture
def frames(monkeypatch):
    """What each frame of an animation shows, recorded as the frame is drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    drawn, real = [], FigureCanvasAgg.draw

    def draw(canvas):
        fig = canvas.figure
        drawn.append(dict(figure=fig, suptitle=fig._suptitle.get_text(),
                          axes=fig.axes, lines=[[(line.get_label(), list(line.get_xdata()),
                                                  list(line.get_ydata())) for line in ax.lines]
                                                for ax in fig.axes[1:3]],
                          xlim=[ax.get_xlim() for ax in fig.axes[1:3]],
                          ylim=[ax.get_ylim() for ax in fig.axes[1:3]]))
        real(canvas)
        drawn[-1]["pixels"] = np.asarray(canvas.buffer_rgba())[..., :3].copy()

    monkeypatch.setattr(FigureCanvasAgg, "draw", draw)
    return drawn


def gif_frames(path):
    from PIL import Image

    with Image.open(path) as gif:
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        return gif.size, durations, gif.info["loop"]


def gif_pictures(path):
    from PIL import Image

    with Image.open(path) as gif:
        pictures = []
        for index in range(gif.n_frames):
            gif.seek(index)
            pictures.append(np.asarray(gif.convert("RGB")))
        return pictures


def test_animation_shows_each_chosen_epoch_with_its_parameters(frames, tmp_path, monkeypatch):
    rows, snapshots, net = animation_run(3)
    final = [array.copy() for _, array in net.parameters()]
    seen, real = [], plots.region_values
    monkeypatch.setattr(plots, "region_values", lambda network, x, resolution: seen.append(
        (resolution, [array.copy() for _, array in network.parameters()]))
        or real(network, x, resolution))
    path = plots.animate_training(rows, snapshots, net, classes_dataset(),
                                  str(tmp_path / "g" / "h" / "a.gif"), title="adam",
                                  max_frames=2, frame_ms=40, last_ms=500)
    assert path == tmp_path / "g" / "h" / "a.gif"
    assert gif_frames(path) == ((910, 301), [40, 500], 0)
    for picture, frame in zip(gif_pictures(path), frames, strict=True):
        # each frame is the figure as drawn, up to the GIF's palette of 256 colours
        assert np.abs(picture.astype(int) - frame["pixels"]).mean() < 0.1
    # two frames of three epochs: the first and the last
    assert [frame["suptitle"] for frame in frames] == ["adam epoch 1", "adam epoch 3"]
    assert [resolution for resolution, _ in seen] == [100, 100]
    for (_, parameters), snapshot in zip(seen, snapshots[::2], strict=True):
        for array, saved in zip(parameters, snapshot, strict=True):
            np.testing.assert_array_equal(array, saved)
    for (_, array), saved in zip(net.parameters(), final, strict=True):
        np.testing.assert_array_equal(array, saved)  # the final parameters are put back
    for frame, upto in zip(frames, (1, 3), strict=True):
        shown = rows[:upto]
        epochs = [r["epoch"] for r in shown]
        assert frame["lines"] == [
            [("training", epochs, [r["loss"] for r in shown]),
             ("validation", epochs, [r["val_loss"] for r in shown])],
            [("training", epochs, [r["accuracy"] for r in shown]),
             ("validation", epochs, [r["val_accuracy"] for r in shown])]]
        assert frame["xlim"] == [(1, 3), (1, 3)]
        assert frame["ylim"] == [(0, pytest.approx(3.0 * 1.05)), (0, 1)]


def test_animation_axes_are_labelled_and_laid_out(frames, tmp_path, backend, caplog):
    from matplotlib.font_manager import FontProperties

    rows, snapshots, net = animation_run(1)
    backend.use("svg")
    plots.animate_training(rows, snapshots, net, classes_dataset(), tmp_path / "a.gif")
    assert backend.get_backend() == "Agg"  # never a window, so never a warning about one
    assert caplog.records == []
    assert frames[0]["suptitle"] == "epoch 1"
    assert gif_frames(tmp_path / "a.gif")[1:] == ([2000], 0)
    fig = frames[-1]["figure"]
    ax_problem, ax_loss, ax_acc = frames[-1]["axes"]
    assert ax_problem.get_title() == "decision regions (training points)"
    assert tuple(fig.get_size_inches()) == (13, 4.3) and fig.dpi == 70
    assert constrained(fig)
    assert tuple(ax_loss.get_subplotspec().get_gridspec().get_width_ratios()) == (1.1, 1, 1)
    for ax, label in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", label)
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["training", "validation"]
        assert legend._loc == 7  # center right
        assert legend.get_texts()[0].get_fontsize() == pytest.approx(
            FontProperties(size="small").get_size_in_points())
        assert all(line.get_visible() and line.get_alpha() == 0.3
                   for line in ax.yaxis.get_gridlines())
        assert len(ax.lines) == 2
    assert len(ax_problem.get_legend().get_texts()) == 3
    import matplotlib.pyplot as pyplot

    assert not pyplot.fignum_exists(fig.number)


def test_animation_of_one_epoch_spans_one_epoch_and_skips_unfinite_losses(frames, tmp_path):
    rows, snapshots, net = animation_run(1)
    rows[0]["val_loss"] = float("inf")
    plots.animate_training(rows, snapshots, net, classes_dataset(), tmp_path / "a.gif",
                           last_ms=300)
    (frame,) = frames
    assert frame["xlim"] == [(1, 2), (1, 2)]
    assert frame["ylim"][0] == (0, pytest.approx(2.0 * 1.05))
    assert gif_frames(tmp_path / "a.gif")[1] == [300]


def test_animation_of_losses_all_unfinite_scales_the_loss_to_one(frames, tmp_path):
    rows, snapshots, net = animation_run(1)
    rows[0]["loss"] = rows[0]["val_loss"] = float("nan")
    path = plots.animate_training(rows, snapshots, net, classes_dataset(), tmp_path / "anim.data")
    assert [frame["ylim"][0] for frame in frames] == [(0, 1.05)]
    assert path.read_bytes()[:6] == b"GIF89a"  # a GIF whatever the suffix


def test_animation_puts_the_final_parameters_back_when_a_frame_fails(tmp_path):
    import matplotlib.pyplot as pyplot

    rows, snapshots, net = animation_run(3)
    final = [array.copy() for _, array in net.parameters()]
    snapshots[0] = snapshots[0][:-1]  # one array short: the others are put in first
    before = pyplot.get_fignums()
    with pytest.raises(ValueError):
        plots.animate_training(rows, snapshots, net, classes_dataset(), tmp_path / "a.gif")
    for (_, array), saved in zip(net.parameters(), final, strict=True):
        np.testing.assert_array_equal(array, saved)
    assert pyplot.get_fignums() == before
    assert not (tmp_path / "a.gif").exists()


# A sweep's figures: one curve per value, or a heatmap of a grid


def test_sweep_curves_are_one_line_per_value_with_its_best_marked(plt):
    epochs = np.array([1, 10, 20])
    fig = plots.sweep_curves_figure(plt, [
        ("l2=0", epochs, np.array([1.0, 0.5, 0.6]), None, (10, 0.5)),
        ("l2=0.001", epochs, np.array([1.0, 0.7, 0.4]), None, (20, 0.4))], "title")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["l2=0", "l2=0.001"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [1.0, 0.7, 0.4])
    dots = [collection.get_offsets().tolist() for collection in ax.collections]
    assert dots == [[[10, 0.5]], [[20, 0.4]]]
    assert ax.get_yscale() == "linear" and ax.get_title() == "title"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["l2=0", "l2=0.001"]
    plt.close(fig)


def test_sweep_curves_over_seeds_are_shaded_between_the_lowest_and_highest(plt):
    epochs = np.array([1, 10])
    low, high = np.array([0.9, 0.01]), np.array([1.1, 0.5])
    fig = plots.sweep_curves_figure(plt, [("a", epochs, np.array([1.0, 0.2]), (low, high),
                                           None)])
    (ax,) = fig.axes
    (band,) = ax.collections  # and no dot
    vertices = band.get_paths()[0].vertices
    assert {tuple(v) for v in vertices} >= {(1, 0.9), (10, 0.01), (1, 1.1), (10, 0.5)}
    assert ax.get_yscale() == "log"  # 0.01 to 1.1: more than a factor of 10
    plt.close(fig)


def test_sweep_grid_is_a_heatmap_with_each_cells_loss_written_in_it(plt):
    values = np.array([[0.5, 0.3], [np.nan, 0.4], [0.9, 0.8]])
    fig = plots.sweep_grid_figure(plt, values, ("learning-rate", ("0.01", "0.1", "1")),
                                  ("l2", ("0", "0.001")), {(1, 0): "diverged",
                                                           (0, 0): "0.4-0.6"}, "best")
    ax, bar = fig.axes
    image = ax.images[0]
    np.testing.assert_array_equal(image.get_array().filled(np.nan), values)
    assert image.get_array().mask.tolist() == [[False, False], [True, False], [False, False]]
    texts = {(round(text.get_position()[1]), round(text.get_position()[0])): text
             for text in ax.texts}
    assert {at: text.get_text() for at, text in texts.items()} == {
        (0, 0): "0.5\n0.4-0.6", (0, 1): "0.3", (1, 0): "diverged", (1, 1): "0.4",
        (2, 0): "0.9", (2, 1): "0.8"}
    assert [at for at, text in texts.items() if text.get_fontweight() == "bold"] == [(0, 1)]
    # Lower is darker: the lowest loss's colour is the colour map's first.
    assert image.cmap(image.norm(0.3)) == image.cmap(0.0)
    assert texts[0, 1].get_color() == "white" and texts[2, 0].get_color() == "black"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.01", "0.1", "1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.001"]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("learning-rate", "l2")
    assert bar.get_ylabel() == "best validation loss"
    plt.close(fig)


def test_sweep_figures_are_written(tmp_path):
    curves = plots.plot_sweep_curves([("a", np.array([1, 2]), np.array([1.0, 0.5]), None,
                                       None)], tmp_path / "c.png")
    grid = plots.plot_sweep_grid(np.full((2, 2), np.nan), ("a", ("1", "2")), ("b", ("3", "4")),
                                 {}, tmp_path / "g.png")
    for path in (curves, grid):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
