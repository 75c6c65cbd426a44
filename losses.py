"""Losses: crossentropy for classes, binary crossentropy, squared and absolute error.

Every loss has ``forward(y_pred, y_true)`` giving one loss per sample,
``calculate`` giving their mean L as a float, and ``backward(dvalues,
y_true)`` giving dL/dy_pred. Every gradient here is of the **mean** loss
over the batch, so it carries a factor 1/N and the layers below need none.
The L1/L2 penalty of a layer is ``regularization_loss``.
"""

import numpy as np

from activations import Softmax

# Probabilities are clipped to [EPS, 1 - EPS] before the log, so a zero
# probability on the true class gives a large but finite loss (-log 1e-7 = 16.1).
EPS = 1e-7


class Loss:
    """The mean loss L = (1/N) sum_i l_i of the per-sample losses l_i of ``forward``.

    Shared by every loss below: ``calculate`` returns L as a Python float.
    """

    def calculate(self, y_pred, y_true):
        """L = (1/N) sum_i l_i, as a Python float."""
        losses = self.forward(y_pred, y_true)
        return float(losses.sum()) / len(losses)


class CategoricalCrossentropy(Loss):
    """Negative log-likelihood of the true class.

    Forward:   l_i = -log(clip(P_i,y_i))         P: (N, C), y: (N,), l: (N,)
               L = (1/N) sum_i l_i                (``calculate``)
    Backward:  dL/dP_ij = -[j = y_i] / (N clip(P_ij))

    clip(p) = min(max(p, 1e-7), 1 - 1e-7). The backward divides by the clipped
    probability, so a probability of exactly 0 gives a large finite gradient
    instead of -inf (inside the clip range this is the exact gradient).
    """

    def forward(self, y_pred, y_true):
        _check_scores(y_pred)
        return _sample_losses(y_pred, _class_indices(y_true, *y_pred.shape))

    def backward(self, dvalues, y_true):
        _check_scores(dvalues)
        n = dvalues.shape[0]
        y = _class_indices(y_true, n, dvalues.shape[1])
        rows = np.arange(n)
        self.dinputs = np.zeros_like(dvalues)
        self.dinputs[rows, y] = -1 / (n * np.clip(dvalues[rows, y], EPS, 1 - EPS))
        return self.dinputs


class SoftmaxCategoricalCrossentropy:
    """Softmax followed by categorical crossentropy, as one step.

    Forward:   P = softmax(X),  L = (1/N) sum_i -log(clip(P_i,y_i))
               X, P: (N, C); the probabilities are kept in ``output``
    Backward:  dL/dX = (P - onehot(y)) / N

    Chaining the two backward passes gives the same result, but the fused
    form is one subtraction instead of a division by P and a Jacobian
    product, and it has no 1/P to blow up when a probability is tiny.
    """

    def __init__(self):
        self.activation = Softmax()

    def forward(self, inputs, y_true):
        _check_scores(inputs)
        y = _class_indices(y_true, *inputs.shape)
        self.output = self.activation.forward(inputs)
        losses = _sample_losses(self.output, y)
        return float(losses.sum()) / len(losses)

    def backward(self, dvalues, y_true):
        _check_scores(dvalues)
        n = dvalues.shape[0]
        y = _class_indices(y_true, n, dvalues.shape[1])
        self.dinputs = dvalues.copy()
        self.dinputs[np.arange(n), y] -= 1
        self.dinputs /= n
        return self.dinputs


class BinaryCrossentropy(Loss):
    """Crossentropy of independent yes/no outputs, each a probability.

    Forward:   l_i = (1/k) sum_j -(y_ij log p_ij + (1 - y_ij) log(1 - p_ij))
               p = clip(P), P, y: (N, k), l: (N,)
    Backward:  dL/dP = -(y / p - (1 - y) / (1 - p)) / (k N)

    Labels are 0 or 1. clip is the one of ``CategoricalCrossentropy``, so a
    confident wrong answer costs -log 1e-7 = 16.1, not infinity.
    """

    def forward(self, y_pred, y_true):
        y, p = self._labels(y_pred, y_true), np.clip(y_pred, EPS, 1 - EPS)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)

    def backward(self, dvalues, y_true):
        y, p = self._labels(dvalues, y_true), np.clip(dvalues, EPS, 1 - EPS)
        n, k = dvalues.shape
        self.dinputs = -(y / p - (1 - y) / (1 - p)) / (k * n)
        return self.dinputs

    @staticmethod
    def _labels(y_pred, y_true):
        y = _targets(y_pred, y_true)
        # Checked before any cast to y_pred's dtype could round a bad label to 0 or 1.
        given = np.asarray(y_true)
        bad = given[(given != 0) & (given != 1)]
        if bad.size:
            raise ValueError(f"binary labels must be 0 or 1, got {bad.flat[0].item()!r}")
        return y


class MeanSquaredError(Loss):
    """Squared error, for regression.

    Forward:   l_i = (1/k) sum_j (y_ij - Y_ij)^2       Y (predicted), y: (N, k)
    Backward:  dL/dY = -2 (y - Y) / (k N)
    """

    def forward(self, y_pred, y_true):
        y = _targets(y_pred, y_true)
        return ((y - y_pred) ** 2).mean(axis=1)

    def backward(self, dvalues, y_true):
        y = _targets(dvalues, y_true)
        n, k = dvalues.shape
        self.dinputs = -2 * (y - dvalues) / (k * n)
        return self.dinputs


class MeanAbsoluteError(Loss):
    """Absolute error, for regression: less pulled by outliers than squared error.

    Forward:   l_i = (1/k) sum_j |y_ij - Y_ij|          Y (predicted), y: (N, k)
    Backward:  dL/dY = sign(Y - y) / (k N)              (0 where Y = y)
    """

    def forward(self, y_pred, y_true):
        y = _targets(y_pred, y_true)
        return np.abs(y - y_pred).mean(axis=1)

    def backward(self, dvalues, y_true):
        y = _targets(dvalues, y_true)
        n, k = dvalues.shape
        self.dinputs = np.sign(dvalues - y) / (k * n)
        return self.dinputs


def regularization_loss(layer):
    """L1/L2 penalty of one layer, as a Python float.

    R = l1 sum|W| + l2 sum W^2 + l1_b sum|b| + l2_b sum b^2

    0.0 for a layer without parameters (an activation, dropout) or without
    regularisers. Its gradient is added by ``Dense.backward`` itself.
    """
    total = 0.0
    for param, l1_name, l2_name in (("weights", "weight_regularizer_l1", "weight_regularizer_l2"),
                                    ("biases", "bias_regularizer_l1", "bias_regularizer_l2")):
        values = getattr(layer, param, None)
        if values is None:
            continue
        l1 = getattr(layer, l1_name, 0.0)
        l2 = getattr(layer, l2_name, 0.0)
        if l1:
            total += l1 * float(np.abs(values).sum())
        if l2:
            total += l2 * float((values * values).sum())
    return total


# Helpers of the losses above.


def _class_indices(y_true, n_samples, n_classes):
    """Validate class labels and return them as integer indices of shape (N,)."""
    y_true = np.asarray(y_true)
    if y_true.ndim == 1:
        if y_true.shape[0] != n_samples:
            raise ValueError(f"y_true has {y_true.shape[0]} labels for {n_samples} samples")
        if y_true.dtype.kind not in "iu":  # signed or unsigned integers
            raise ValueError(f"class indices must be integers, got dtype {y_true.dtype}")
        if n_samples:
            low, high = y_true.min(), y_true.max()
            bad = low if low < 0 else high if high >= n_classes else None
            if bad is not None:
                raise ValueError(f"label {bad} is out of range for {n_classes} classes")
        return y_true
    if y_true.ndim == 2:
        if y_true.shape != (n_samples, n_classes):
            raise ValueError(f"one-hot y_true must have shape {(n_samples, n_classes)}, "
                             f"got {y_true.shape}")
        if not (np.isin(y_true, (0, 1)).all() and (y_true.sum(axis=1) == 1).all()):
            raise ValueError("one-hot y_true must hold a single 1 in each row and 0 elsewhere")
        return y_true.argmax(axis=1)
    raise ValueError(f"y_true must have shape (N,) or (N, C), got {y_true.shape}")


def _check_scores(y_pred):
    if y_pred.ndim != 2:
        raise ValueError(f"predictions must have shape (N, C), got {y_pred.shape}")


def _sample_losses(probabilities, y):
    """-log(clip(P_i,y_i)) for validated class indices y."""
    return -np.log(probabilities[np.arange(len(y)), y].clip(EPS, 1 - EPS))


def _targets(y_pred, y_true):
    """``y_true`` as an array of ``y_pred``'s shape (N, k), in its dtype.

    A (N,) y_true is read as a column when k = 1; any other mismatch is a
    ValueError naming both shapes.
    """
    y_true = np.asarray(y_true)
    if y_pred.ndim == 2 and y_pred.shape[1] == 1 and y_true.shape == y_pred.shape[:1]:
        y_true = y_true.reshape(-1, 1)
    if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred of shape {y_pred.shape} and y_true of shape "
                         f"{y_true.shape} do not match: both must be (N, k), or y_true "
                         "(N,) when k = 1")
    return y_true.astype(y_pred.dtype, copy=False)
