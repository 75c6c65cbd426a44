"""A classifier assembled from the maths modules: a stack of Dense layers.

    X -> Dense -> ReLU [-> Dropout] -> ... -> Dense -> softmax-crossentropy

Every hidden Dense layer carries the L1/L2 penalties; the output layer
carries none (as in the book's chapter-14 network).

The parameters of all layers are views into one flat array, in layer order
(weights, then biases), so an optimizer can update them all with a few
vectorised calls (see ``optimizers.py``). Each layer still sees ordinary
``weights`` and ``biases`` arrays.
"""

import numpy as np

from activations import ReLU
from layers import Dense, Dropout
from losses import SoftmaxCategoricalCrossentropy, regularization_loss


class Network:
    """Hidden widths ``hidden`` between ``n_inputs`` features and ``n_classes`` scores."""

    def __init__(self, n_inputs, hidden, n_classes, *, dropout=0.0, l1=0.0, l2=0.0,
                 rng=None, dtype=np.float64):
        rng = np.random.default_rng(0) if rng is None else rng
        self.layers = []
        width = n_inputs
        for n_neurons in hidden:
            self.layers.append(Dense(width, n_neurons, l1, l2, l1, l2, rng=rng, dtype=dtype))
            self.layers.append(ReLU())
            if dropout:
                self.layers.append(Dropout(dropout, rng=rng))
            width = n_neurons
        self.layers.append(Dense(width, n_classes, rng=rng, dtype=dtype))
        self.dense_layers = [layer for layer in self.layers if isinstance(layer, Dense)]
        # The penalties are fixed here, so an unregularised network can skip
        # the penalty pass on every epoch.
        self.regularised = bool(l1 or l2)
        self.loss = SoftmaxCategoricalCrossentropy()
        # Nothing uses the gradient with respect to the input data.
        self.layers[0].input_gradient = False
        self.flat_parameters = self._pack_parameters()

    def _pack_parameters(self):
        """Move every parameter into one flat array and make the layers hold views of it."""
        arrays = [array for _, array in self.parameters()]
        flat = np.concatenate([array.reshape(-1) for array in arrays])
        offset = 0
        for layer in self.dense_layers:
            for name in ("weights", "biases"):
                array = getattr(layer, name)
                setattr(layer, name, flat[offset:offset + array.size].reshape(array.shape))
                offset += array.size
        return flat

    def forward(self, x, y, training=False):
        """Forward pass through the loss; returns the mean data loss.

        The class probabilities are left in ``self.loss.output``.
        """
        for layer in self.layers:
            x = layer.forward(x, training)
        return self.loss.forward(x, y)

    def backward(self, y):
        """Gradients of the mean data loss plus the penalties, into every layer."""
        grad = self.loss.backward(self.loss.output, y)
        for layer in reversed(self.layers):
            grad = layer.backward(grad)

    def regularization_loss(self):
        if not self.regularised:
            return 0.0
        return sum(regularization_loss(layer) for layer in self.dense_layers)

    def predict_proba(self, x):
        """Class probabilities with dropout off."""
        for layer in self.layers:
            x = layer.forward(x, False)
        return self.loss.activation.forward(x)

    def evaluate(self, x, y):
        """Data loss and accuracy on (x, y) with dropout off and no update."""
        data_loss = self.forward(x, y, training=False)
        return data_loss, accuracy(self.loss.output, y)

    def parameters(self):
        """(name, array) for every parameter, e.g. ('dense0.weights', W)."""
        for index, layer in enumerate(self.dense_layers):
            yield f"dense{index}.weights", layer.weights
            yield f"dense{index}.biases", layer.biases

    def is_finite(self):
        """True unless some parameter is NaN or infinite."""
        # The sum of an array is NaN or inf when any entry is (or when finite
        # entries overflow, which is divergence too). While every layer still
        # holds views of the flat array, one sum over it covers them all.
        flat = self.flat_parameters
        packed = all(layer.weights.base is flat and layer.biases.base is flat
                     for layer in self.dense_layers)
        arrays = [flat] if packed else [array for _, array in self.parameters()]
        with np.errstate(over="ignore", invalid="ignore"):  # inf + -inf is the point
            return all(np.isfinite(array.sum()) for array in arrays)


def accuracy(probabilities, y):
    """Fraction of rows whose most probable class is the label."""
    return np.count_nonzero(probabilities.argmax(axis=1) == y) / len(y)
