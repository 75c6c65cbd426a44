"""A network: any stack of layers followed by one output head.

    X -> layers[0] -> layers[1] -> ... -> layers[-1] -> head (activation + loss)

``Network`` runs the stack forward and backward and evaluates it; ``build``
assembles the usual one: Dense layers with ReLU (and optional dropout)
between them, the L1/L2 penalties on the hidden layers only (as in the
book's chapter-14 network).
"""

import math
from numbers import Integral

import numpy as np

from activations import ReLU
from layers import Dense, Dropout
from losses import regularization_loss


class Network:
    """A stack of layers and a head (see ``heads.py``).

    ``layers`` is a list of objects with ``forward(inputs, training)`` and
    ``backward(dvalues)``; those with ``weights`` and ``biases`` are the
    trainable ones an optimizer updates.
    """

    def __init__(self, layers, head):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        self.head = head
        self.trainable = [layer for layer in self.layers if hasattr(layer, "weights")]

    def forward(self, x, y, training=False):
        """The mean data loss of (x, y); the head keeps its outputs in ``head.output``."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return self.head.forward(x, y)

    def backward(self, y):
        """Gradients of the mean data loss plus the penalties, into every layer.

        The first layer's input is the data, whose gradient nobody uses: a
        Dense layer there computes its parameter gradients only, saving a
        matrix product as large as its forward one.
        """
        grad = self.head.backward(y)
        for layer in reversed(self.layers[1:]):
            grad = layer.backward(grad)
        first = self.layers[0]
        if isinstance(first, Dense):
            first.backward(grad, input_gradient=False)
        else:
            first.backward(grad)

    def outputs(self, x):
        """The head's outputs (probabilities or values) with dropout off."""
        for layer in self.layers:
            x = layer.forward(x, False)
        return self.head.outputs(x)

    def predict(self, x):
        """Predictions for x: classes, 0/1 decisions or values, as the head makes them."""
        return self.head.predictions(self.outputs(x))

    def evaluate(self, x, y):
        """Data loss and the head's figures on (x, y), dropout off, nothing updated.

        Returns a dict with ``loss`` and ``accuracy`` (and ``r2`` for a regression).
        """
        loss = self.forward(x, y, training=False)
        return dict(loss=loss, **self.head.metrics(self.head.output, y))

    def regularization_loss(self):
        return sum(regularization_loss(layer) for layer in self.trainable)

    def parameters(self):
        """(name, array) for every parameter, e.g. ('dense0.weights', W)."""
        for index, layer in enumerate(self.trainable):
            yield f"dense{index}.weights", layer.weights
            yield f"dense{index}.biases", layer.biases

    def is_finite(self):
        """True unless some parameter is NaN or infinite, or their sum overflows (divergence)."""
        # The sum of an array is NaN or inf when any entry is (or when its
        # finite entries overflow, which is divergence too), and so is the
        # sum of those sums: one reduction per array, one test in all.
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore"):  # inf + -inf is the point
            for layer in self.trainable:
                total += float(layer.weights.sum()) + float(layer.biases.sum())
        return math.isfinite(total)

    def widths(self):
        """[n_inputs, hidden widths..., n_outputs] of the Dense layers."""
        return [self.trainable[0].weights.shape[0],
                *(layer.weights.shape[1] for layer in self.trainable)]


def build(n_inputs, hidden, n_outputs, head, *, dropout=0.0, l1=0.0, l2=0.0,
          weight_scale=0.01, rng=None, dtype=np.float64):
    """The usual network: Dense, ReLU [, Dropout] per hidden width, then a Dense output.

        X -> Dense -> ReLU [-> Dropout] -> ... -> Dense -> head

    Every hidden Dense layer carries the L1/L2 penalties (on weights and
    biases); the output layer carries none. ``rng`` draws the initial
    weights and the dropout masks.
    """
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise ValueError(f"hidden must be a list of widths, e.g. [64], got {hidden!r}")
    hidden = list(hidden)
    for width in (n_inputs, *hidden, n_outputs):
        if not isinstance(width, Integral) or isinstance(width, bool) or width < 1:
            raise ValueError(f"every width must be a whole number >= 1: got {width!r} in "
                             f"{n_inputs!r}-{'-'.join(map(repr, hidden))}-{n_outputs!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    layers = []
    width = n_inputs
    for n_neurons in hidden:
        layers.append(Dense(width, n_neurons, l1, l2, l1, l2, rng=rng,
                            weight_scale=weight_scale, dtype=dtype))
        layers.append(ReLU())
        if dropout:
            layers.append(Dropout(dropout, rng=rng))
        width = n_neurons
    layers.append(Dense(width, n_outputs, rng=rng, weight_scale=weight_scale, dtype=dtype))
    return Network(layers, head)
