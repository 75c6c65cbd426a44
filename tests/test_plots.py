import sys

import numpy as np
import pytest

import data
import plots
from heads import Binary, Classes, SquaredError
from model import build

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
