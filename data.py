"""The datasets, drawn reproducibly: nnfs's spiral, vertical and sine data.

nnfs draws from NumPy's global generator, so a draw here seeds it, takes the
data and puts the generator's state back: the caller's random state is left
as it was, and the same seed gives the same points on every run.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Dataset:
    """Training and validation arrays, and what they hold.

    ``x_*`` are (N, features) floats. For ``task == "classes"``, ``y_*`` are
    integer labels (N,) in 0..len(class_names) - 1; for "regression" they
    are (N, k) float targets.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    task: str
    name: str
    class_names: list = None
    # (mean, scale), each (1, features) float64, when the features were
    # standardised: x = (raw - mean) / scale, with the training part's statistics.
    scaler: tuple = None
    # (height, width) when each row is a greyscale image, flattened row by row.
    image_shape: tuple = None

    @property
    def n_classes(self):
        """Classes (for a classification) or target columns (for a regression)."""
        if self.task == "classes":
            return len(self.class_names)
        return self.y_train.shape[1]

    @property
    def n_features(self):
        return self.x_train.shape[1]


def _nnfs_draws(create, seed, *args):
    """Two draws of ``create(*args)`` with NumPy's global generator seeded, then restored."""
    saved_state = np.random.get_state()
    try:
        np.random.seed(seed)
        first = create(*args)
        second = create(*args)
    finally:
        np.random.set_state(saved_state)
    return first, second


def _classes(create, name, samples, classes, seed):
    (x, y), (x_val, y_val) = _nnfs_draws(create, seed, samples, classes)
    return Dataset(x, y.astype(np.int64), x_val, y_val.astype(np.int64), "classes",
                   f"{name}({samples}, {classes})", [str(k) for k in range(classes)])


def spiral(seed=0, samples=100, classes=3):
    """nnfs spiral arms, ``samples`` points per class in each of training and validation.

    The validation set is a second, independent draw from the same
    distribution, never a slice of the training array (which is ordered by
    class). With seed 0 the training set is the book's.
    """
    from nnfs.datasets import spiral_data  # here, so that `main.py --help` does not pay for it

    return _classes(spiral_data, "spiral", samples, classes, seed)


def vertical(seed=0, samples=100, classes=3):
    """nnfs vertical data: a Gaussian cluster per class, side by side."""
    from nnfs.datasets import vertical_data

    return _classes(vertical_data, "vertical", samples, classes, seed)


def sine(seed=0, samples=1000):
    """nnfs sine data: x = i / samples for i < samples, y = sin(2 pi x).

    nnfs's sine data has no noise and no randomness (the seed changes
    nothing), so validation uses the midpoints between the training points,
    x = (i + 1/2) / samples: values the network has not seen.
    """
    from nnfs.datasets import sine_data

    x, y = sine_data(samples)
    x_val = (np.arange(samples).reshape(-1, 1) + 0.5) / samples
    return Dataset(x, y, x_val, np.sin(2 * np.pi * x_val), "regression", f"sine({samples})")
