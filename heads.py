"""Output heads: the last activation and the loss that fits it, travelling together.

A head sits on the network's last layer. It turns the last layer's scores
into outputs (class probabilities, yes/no probabilities, values), gives the
loss and its gradient with respect to the scores, and says how outputs
become predictions and how predictions are scored. Everything downstream
(the training loop, the figures, the checkpoint) asks the head instead of
assuming softmax.

    task            head                          outputs per sample   accuracy
    "classes"       softmax + crossentropy        one per class        argmax == label
    "binary"        sigmoid + binary crossentr.   one per yes/no       (p > 0.5) == label
    "regression"    linear + squared/abs error    one per target       |Y - y| < std(y) / 250
"""

import numpy as np

import fast
from activations import Linear, Sigmoid
from losses import (
    BinaryCrossentropy,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCategoricalCrossentropy,
)


class Head:
    """An output activation followed by a loss, their gradients chained.

    Forward:   O = activation(S),  L = loss(O, y)       S: (N, k) scores of the last layer
    Backward:  dL/dS = activation.backward(loss.backward(O, y))
    """

    task = None  # "classes", "binary" or "regression"
    title = "output head"

    def __init__(self, activation, loss):
        self.activation = activation
        self.loss = loss

    def forward(self, scores, y):
        """The mean data loss; the outputs are kept in ``output``."""
        self.output = self.activation.forward(scores)
        return self.loss.calculate(self.output, y)

    def backward(self, y):
        """dL/dS, also kept in ``dinputs``."""
        self.dinputs = self.activation.backward(self.loss.backward(self.output, y))
        return self.dinputs

    def outputs(self, scores):
        """The outputs for ``scores`` alone, without a loss (for predictions)."""
        return self.activation.forward(scores)

    def predictions(self, outputs):
        return self.activation.predictions(outputs)

    def n_outputs(self, n_classes):
        """Outputs of the last layer for data with ``n_classes`` classes (or targets)."""
        return n_classes

    def accuracy(self, outputs, y):
        """Fraction of predictions equal to their labels."""
        predictions = self.predictions(outputs)
        return float(np.mean(predictions == np.reshape(y, predictions.shape)))

    def metrics(self, outputs, y):
        """The figures reported for ``outputs`` against ``y``, besides the loss."""
        return dict(accuracy=self.accuracy(outputs, y))


class Classes(Head):
    """Softmax and categorical crossentropy, as one fused step.

    Forward:   P = softmax(S),  L = (1/N) sum_i -log(clip(P_i,y_i))
    Backward:  dL/dS = (P - onehot(y)) / N

    The fused gradient is cheaper than the chained one and never divides by
    a tiny probability (``losses.SoftmaxCategoricalCrossentropy``). The
    softmax is ``fast.Softmax``: the same probabilities, in less time.
    """

    task = "classes"
    title = "Softmax and categorical crossentropy"

    def __init__(self):
        fused = SoftmaxCategoricalCrossentropy()
        fused.activation = fast.Softmax()
        super().__init__(fused.activation, fused)

    def forward(self, scores, y):
        loss = self.loss.forward(scores, y)
        self.output = self.loss.output
        return loss

    def backward(self, y):
        self.dinputs = self.loss.backward(self.output, y)
        return self.dinputs

    def accuracy(self, outputs, y):
        """Fraction of rows whose most probable class is the label (indices or one-hot)."""
        y = np.asarray(y)
        labels = y.argmax(axis=1) if y.ndim == 2 else y
        return float(np.mean(self.predictions(outputs) == labels))


class Binary(Head):
    """Sigmoid and binary crossentropy: independent yes/no outputs.

    Forward:   P = sigmoid(S),  L = mean of -(y log p + (1 - y) log(1 - p))
    Backward:  dL/dS = dL/dP * P * (1 - P)           (chained)

    Two classes need one output: its probability is that of class 1.
    """

    task = "binary"
    title = "Sigmoid and binary crossentropy"

    def __init__(self):
        super().__init__(Sigmoid(), BinaryCrossentropy())

    def n_outputs(self, n_classes):
        if n_classes != 2:
            raise ValueError(f"binary crossentropy needs 2 classes, got {n_classes}")
        return 1


class Regression(Head):
    """A linear output and a regression loss (squared or absolute error).

    Forward:   Y = S,  L = loss(Y, y)
    Backward:  dL/dS = dL/dY

    Accuracy, as the book defines it: the fraction of predictions within
    std(y) / 250 of their target. R^2 = 1 - sum (y - Y)^2 / sum (y - mean y)^2
    is reported beside it: 1 is a perfect fit, 0 no better than the mean.
    """

    task = "regression"
    title = "Linear output and a regression loss"

    def __init__(self, loss):
        super().__init__(Linear(), loss)

    def accuracy(self, outputs, y):
        y = np.reshape(y, outputs.shape)
        return float(np.mean(np.abs(outputs - y) < np.std(y) / 250))

    def metrics(self, outputs, y):
        return dict(accuracy=self.accuracy(outputs, y), r2=r_squared(outputs, y))

def r_squared(outputs, y):
    """Coefficient of determination, 1 - SS_res / SS_tot (NaN when y is constant)."""
    y = np.reshape(y, outputs.shape)
    total = float(((y - y.mean(axis=0)) ** 2).sum())
    residual = float(((y - outputs) ** 2).sum())
    return 1 - residual / total if total else float("nan")


class SquaredError(Regression):
    """Linear output and mean squared error.

    Forward:   Y = S,  L = (1/N) sum_i (1/k) sum_j (y_ij - Y_ij)^2
    Backward:  dL/dS = -2 (y - Y) / (k N)
    """

    title = "Linear output and mean squared error"

    def __init__(self):
        super().__init__(MeanSquaredError())


class AbsoluteError(Regression):
    """Linear output and mean absolute error.

    Forward:   Y = S,  L = (1/N) sum_i (1/k) sum_j |y_ij - Y_ij|
    Backward:  dL/dS = sign(Y - y) / (k N)
    """

    title = "Linear output and mean absolute error"

    def __init__(self):
        super().__init__(MeanAbsoluteError())
