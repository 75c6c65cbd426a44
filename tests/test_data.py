import numpy as np
import pytest

import data


def test_spiral_shapes_and_labels():
    x, y, x_val, y_val = data.load("spiral", samples=50, classes=4, seed=0)
    assert x.shape == x_val.shape == (200, 2)
    assert np.array_equal(np.bincount(y), [50] * 4) and np.array_equal(y, y_val)
    assert y.dtype == np.int64


def test_validation_is_a_separate_draw_not_a_slice():
    x, _, x_val, _ = data.load("spiral", 100, 3, seed=0)
    shared = set(map(tuple, x)) & set(map(tuple, x_val))
    assert shared <= {(0.0, 0.0)}  # each arm starts at the origin, radius 0


def test_same_seed_same_data_and_global_state_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = data.load("spiral", 20, 3, seed=7)
    assert np.array_equal(np.random.get_state()[1], before)
    second = data.load("spiral", 20, 3, seed=7)
    other = data.load("spiral", 20, 3, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_vertical_dataset_and_unknown_name():
    x, y, _, _ = data.load("vertical", 10, 2, seed=0)
    assert x.shape == (20, 2)
    with pytest.raises(ValueError, match="'moons'"):
        data.load("moons")
