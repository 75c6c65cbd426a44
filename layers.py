"""Trainable and stochastic layers: a fully connected layer and inverted dropout.

Shapes: N is the batch size; a batch is the first axis. Gradients are taken
of L, the loss averaged over the batch (the losses in ``losses.py`` already
divide by N, so the layers never do).
"""

import numpy as np


class Dense:
    """Fully connected layer with optional L1/L2 penalties on its parameters.

    Forward:   Y = X W + 1 b        X: (N, n_in)  W: (n_in, n_out)  b: (1, n_out)
                                    1: (N, 1) ones, so every row gets b
    Backward:  G = dL/dY            G: (N, n_out)
               dW = X^T G + l1 sign(W) + 2 l2 W
               db = 1^T G + l1_b sign(b) + 2 l2_b b      (1^T G: G summed over rows)
               dX = G W^T
    Penalty:   l1 sum|W| + l2 sum W^2 + l1_b sum|b| + l2_b sum b^2
               (added to the loss by ``losses.regularization_loss``)

    sign(0) = 0, so a weight at exactly zero gets no L1 push.

    Weights start at 0.01 * N(0, 1) and biases at zero, the setting of the book
    *Neural Networks from Scratch in Python* whose results we reproduce. ``rng``
    is a ``numpy.random.Generator`` (``default_rng(0)`` when omitted, so two
    layers built without one start identical); ``dtype`` is the precision of
    the parameters (float64 unless asked otherwise).
    """

    def __init__(self, n_inputs, n_neurons, weight_regularizer_l1=0.0,
                 weight_regularizer_l2=0.0, bias_regularizer_l1=0.0,
                 bias_regularizer_l2=0.0, *, rng=None, dtype=np.float64):
        rng = np.random.default_rng(0) if rng is None else rng
        self.weights = (0.01 * rng.standard_normal((n_inputs, n_neurons))).astype(dtype)
        self.biases = np.zeros((1, n_neurons), dtype=dtype)
        self.weight_regularizer_l1 = weight_regularizer_l1
        self.weight_regularizer_l2 = weight_regularizer_l2
        self.bias_regularizer_l1 = bias_regularizer_l1
        self.bias_regularizer_l2 = bias_regularizer_l2

    # A network may switch this off for its first layer, whose input is the
    # data: dX is then not computed and backward returns None.
    input_gradient = True

    def forward(self, inputs, training=False):
        # Kept by reference, not copied: backward needs X for dW.
        self.inputs = inputs
        output = inputs @ self.weights
        output += self.biases  # in place on the fresh product: one array, not two
        self.output = output
        return output

    def backward(self, dvalues):
        self.dweights = self.inputs.T @ dvalues
        # 1^T G as a matrix product: BLAS sums the rows several times faster
        # than dvalues.sum(axis=0).
        self.dbiases = self._ones(len(dvalues), dvalues.dtype) @ dvalues
        _add_penalty_gradient(self.dweights, self.weights,
                              self.weight_regularizer_l1, self.weight_regularizer_l2)
        _add_penalty_gradient(self.dbiases, self.biases,
                              self.bias_regularizer_l1, self.bias_regularizer_l2)
        self.dinputs = dvalues @ self.weights.T if self.input_gradient else None
        return self.dinputs

    def _ones(self, n, dtype):
        """A (1, n) row of ones, kept between calls: batches keep their size."""
        ones = getattr(self, "_ones_row", None)
        if ones is None or ones.shape[1] != n or ones.dtype != dtype:
            ones = self._ones_row = np.ones((1, n), dtype)
        return ones



def _add_penalty_gradient(grad, param, l1, l2):
    """grad += l1 sign(param) + 2 l2 param, in place on a gradient we own."""
    if l1:
        grad += l1 * np.sign(param)
    if l2:
        grad += (2 * l2) * param


class Dropout:
    """Inverted dropout: each unit is dropped with probability ``rate``.

    Training:  Y = X * M,  M_ij = B_ij / (1 - rate),  B_ij ~ Bernoulli(1 - rate)
    Backward:  dX = G * M                               (the same mask M)
    Inference: Y = X

    Scaling the kept units by 1 / (1 - rate) keeps E[Y] = X, so nothing needs
    rescaling at inference. A new mask is drawn on every training forward.
    """

    def __init__(self, rate, *, rng=None):
        if not (isinstance(rate, (int, float, np.floating, np.integer))
                and not isinstance(rate, bool) and 0 <= rate < 1):
            raise ValueError(f"dropout rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng = np.random.default_rng(0) if rng is None else rng

    def forward(self, inputs, training=False):
        self.inputs = inputs
        if not training or self.rate == 0:
            self.mask = None
            self.output = inputs
            return inputs
        keep = 1.0 - self.rate
        # B_ij = [U_ij < keep * 2^32] for U_ij uniform 32-bit integers, which
        # is Bernoulli(keep) to within 2^-32 (finer than a float32 uniform).
        # Raw bits come from the generator about twice as fast as floats, and
        # masks are drawn on every training step.
        n = inputs.size
        raw = self.rng.bit_generator.random_raw((n + 1) // 2)
        bits = raw.view(np.uint32)[:n].reshape(inputs.shape)
        kept = bits < np.uint32(min(round(keep * 2**32), 2**32 - 1))
        self.mask = np.multiply(kept, 1.0 / keep, dtype=inputs.dtype)
        self.output = inputs * self.mask
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues if self.mask is None else dvalues * self.mask
        return self.dinputs
