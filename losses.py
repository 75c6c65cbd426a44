"""Categorical crossentropy, its fusion with softmax, and the L1/L2 penalty.

Labels ``y_true`` are either integer class indices of shape (N,) or one-hot
rows of shape (N, C). Every gradient here is of the **mean** loss over the
batch, so it carries a factor 1/N and the layers below need none.
"""

import numpy as np

from activations import Softmax

# Probabilities are clipped to [EPS, 1 - EPS] before the log, so a zero
# probability on the true class gives a large but finite loss (-log 1e-7 = 16.1).
EPS = 1e-7


def _class_indices(y_true, n_samples, n_classes):
    """Validate labels and return them as integer class indices of shape (N,)."""
    y_true = np.asarray(y_true)
    if y_true.ndim == 1:
        if y_true.shape[0] != n_samples:
            raise ValueError(f"y_true has {y_true.shape[0]} labels for {n_samples} samples")
        if not np.issubdtype(y_true.dtype, np.integer):
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


class CategoricalCrossentropy:
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

    def calculate(self, y_pred, y_true):
        """The mean loss over the batch, as a Python float."""
        return _mean(self.forward(y_pred, y_true))

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
        self._checked = (None, None)  # (labels as given to forward, their class indices)

    def forward(self, inputs, y_true):
        _check_scores(inputs)
        y = _class_indices(y_true, *inputs.shape)
        self.output = self.activation.forward(inputs)
        self._checked = (y_true, y)
        return _mean(_sample_losses(self.output, y))

    def backward(self, dvalues, y_true):
        _check_scores(dvalues)
        n = dvalues.shape[0]
        given, indices = self._checked
        if y_true is given and len(indices) == n and dvalues.shape == self.output.shape:
            y = indices  # the labels forward just validated: not again, every step
        else:
            y = _class_indices(y_true, n, dvalues.shape[1])
        self.dinputs = dvalues.copy()
        self.dinputs[np.arange(n), y] -= 1
        self.dinputs /= n
        return self.dinputs


def _sample_losses(probabilities, y):
    """-log(clip(P_i,y_i)) for validated class indices y."""
    confidence = np.clip(probabilities[np.arange(len(y)), y], EPS, 1 - EPS)
    np.log(confidence, out=confidence)
    return np.negative(confidence, out=confidence)


def _mean(values):
    return float(values.sum()) / len(values)


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
