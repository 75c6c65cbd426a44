"""Element-wise and row-wise activations: ReLU and Softmax.

Each ``backward(dvalues)`` takes G = dL/dY, the gradient of the loss with
respect to this activation's output, and returns dL/dX.
"""

import numpy as np


class ReLU:
    """Rectified linear unit.

    Forward:   Y = max(X, 0)                 X, Y: (N, D)
    Backward:  dX = G * [X > 0]              G = dL/dY: (N, D)

    At exactly X = 0 the gradient is taken as 0.
    """

    def forward(self, inputs, training=False):
        self.inputs = inputs
        self.output = np.maximum(inputs, 0)
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues * (self.inputs > 0)
        return self.dinputs


class Softmax:
    """Softmax over the last axis, turning scores into class probabilities.

    Forward:   P_ij = exp(X_ij - m_i) / sum_k exp(X_ik - m_i),  m_i = max_k X_ik
               X, P: (N, C)
    Backward:  dX_i = P_i * (G_i - sum_k G_ik P_ik)      G = dL/dP: (N, C)

    Subtracting the row maximum m_i changes nothing mathematically but keeps
    every exp() in (0, 1], so logits of any finite size give finite
    probabilities. The backward line is the Jacobian-vector product
    J_i^T G_i with J_i = diag(P_i) - P_i P_i^T, done for all rows at once
    without forming the (C, C) Jacobians.
    """

    def forward(self, inputs, training=False):
        self.inputs = inputs
        exp = inputs - _reduce_rows(np.maximum, inputs)
        np.exp(exp, out=exp)
        exp /= _reduce_rows(np.add, exp)
        self.output = exp
        return exp

    def backward(self, dvalues):
        p = self.output
        self.dinputs = p * (dvalues - (dvalues * p).sum(axis=-1, keepdims=True))
        return self.dinputs

    @staticmethod
    def predictions(outputs):
        """Class index of each row: argmax over the last axis."""
        return np.argmax(outputs, axis=-1)


def _reduce_rows(ufunc, x):
    """``ufunc.reduce(x, axis=-1, keepdims=True)``, fast for few columns.

    NumPy reduces a short last axis row by row, paying a fixed cost per row;
    with the handful of classes of a classifier it is quicker to combine
    whole columns, C - 1 vectorised calls over the batch.
    """
    if x.ndim != 2 or x.shape[1] > 8:
        return ufunc.reduce(x, axis=-1, keepdims=True)
    out = x[:, :1].copy()
    for column in range(1, x.shape[1]):
        ufunc(out, x[:, column:column + 1], out=out)
    return out
