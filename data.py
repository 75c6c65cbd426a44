"""The toy datasets from the ``nnfs`` package, drawn reproducibly.

nnfs draws from NumPy's global generator, so a draw here seeds it, takes the
data and puts the generator's state back: the caller's random state is left
as it was, and the same seed gives the same points on every run.
"""

import numpy as np

DATASETS = ("spiral", "vertical")


def load(dataset="spiral", samples=100, classes=3, seed=0):
    """Return ``(X_train, y_train, X_val, y_val)``.

    Both sets hold ``samples`` points of each of ``classes`` classes, X of
    shape (samples * classes, 2) and y integer labels. The validation set is a
    second, independent draw from the same distribution, never a slice of the
    training array (which is ordered by class).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    # Imported here so that `main.py --help` does not pay for it.
    from nnfs.datasets import spiral_data, vertical_data

    create = spiral_data if dataset == "spiral" else vertical_data
    saved_state = np.random.get_state()
    try:
        np.random.seed(seed)
        x_train, y_train = create(samples, classes)
        x_val, y_val = create(samples, classes)
    finally:
        np.random.set_state(saved_state)
    return x_train, y_train.astype(np.int64), x_val, y_val.astype(np.int64)
