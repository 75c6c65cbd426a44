import numpy as np

import data


def test_spiral_shapes_and_labels():
    d = data.spiral(seed=0, samples=50, classes=4)
    assert d.x_train.shape == d.x_val.shape == (200, 2)
    assert np.array_equal(np.bincount(d.y_train), [50] * 4)
    assert np.array_equal(d.y_train, d.y_val)
    assert d.y_train.dtype == np.int64
    assert d.task == "classes" and d.n_classes == 4 and d.n_features == 2
    assert d.class_names == ["0", "1", "2", "3"]


def test_seed_zero_draws_the_books_training_data():
    from nnfs.datasets import spiral_data

    np.random.seed(0)
    x, y = spiral_data(100, 3)
    d = data.spiral(seed=0)
    np.testing.assert_array_equal(d.x_train, x)
    np.testing.assert_array_equal(d.y_train, y)


def test_validation_is_a_separate_draw_not_a_slice():
    d = data.spiral(seed=0, samples=100, classes=3)
    shared = set(map(tuple, d.x_train)) & set(map(tuple, d.x_val))
    assert shared <= {(0.0, 0.0)}  # each arm starts at the origin, radius 0


def test_same_seed_same_data_and_global_state_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = data.spiral(seed=7, samples=20)
    assert np.array_equal(np.random.get_state()[1], before)
    second = data.spiral(seed=7, samples=20)
    other = data.spiral(seed=8, samples=20)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.x_train, other.x_train)


def test_vertical_dataset():
    d = data.vertical(seed=0, samples=10, classes=2)
    assert d.x_train.shape == (20, 2) and d.n_classes == 2
    # Each class is a cluster around x = class / 3, y = 0.5.
    for label in (0, 1):
        centre = d.x_train[d.y_train == label].mean(axis=0)
        np.testing.assert_allclose(centre, [label / 3, 0.5], atol=0.1)


def test_sine_validation_is_the_midpoints():
    d = data.sine(samples=8)
    assert d.task == "regression" and d.n_classes == 1 and d.n_features == 1
    np.testing.assert_array_equal(d.x_train[:, 0], np.arange(8) / 8)
    np.testing.assert_allclose(d.x_val[:, 0], (np.arange(8) + 0.5) / 8)
    np.testing.assert_allclose(d.y_train, np.sin(2 * np.pi * d.x_train))
    np.testing.assert_allclose(d.y_val, np.sin(2 * np.pi * d.x_val))
