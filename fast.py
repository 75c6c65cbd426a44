"""Fast paths: the same numbers as a plain class of the maths modules, in less time.

Each class here is a subclass of the plain class it speeds up, with the
same formulas, and computes the same numbers, bit for bit (tested against
the plain class); nothing uses one unless it asks for it by name. The
third fast path is an optimizer's ``fused=True`` (``stepping.FlatParameters``).

What each is worth, on bench.py's workloads A (``main.py --optimizer adam``)
and B (the book's chapter-15 run), with that path alone replaced by the
plain one: instructions per epoch (callgrind, one BLAS thread), then the
whole process's time, median and range of interleaved rounds (A: 11, B: 5,
one BLAS thread; a shared two-core machine):

    without            A: 1.23 M an epoch              B: 11.0 M an epoch
    fast.Softmax       +9.5%, time x1.26 (0.80-1.85)   +10.6%, time x1.09 (1.02-1.24)
    fast.Dropout       (no dropout in A)               +23.8%, time x1.09 (1.05-1.18)
    fused=True         +16.4%, time x1.16 (0.79-1.33)  +1.8%, time x1.02 (0.86-1.04)
"""

import math

import numpy as np

import activations
import layers


class Softmax(activations.Softmax):
    """``activations.Softmax``, its row maximum and row sum taken column by column.

    Forward:   P_ij = exp(X_ij - m_i) / sum_k exp(X_ik - m_i),  m_i = max_k X_ik
               X, P: (N, C)
    Backward:  dX_i = P_i * (G_i - sum_k G_ik P_ik)      G = dL/dP: (N, C)

    NumPy reduces a short last axis row by row, at a fixed cost per row:
    with the few classes of a classifier it is quicker to combine whole
    columns, C - 1 calls each over the batch. The maximum is the same in any
    order, and the columns are added from left to right, as NumPy adds fewer
    than 8 numbers (its pairwise summation starts at blocks of 8), so every
    probability is the one ``activations.Softmax`` gives. Inputs that are not
    (N, C) with 2 <= C <= 7 go to ``activations.Softmax``. A forward pass of
    300 x 3 float32 scores (workload A) takes 10 us against the plain one's
    25 us, whose np.max(X, axis=1) alone takes 13; of 3000 x 3 (B), 34 us
    against 183 (timeit, best of 7). ``heads.Classes`` uses this class.
    """

    def forward(self, inputs, training=False):
        if inputs.ndim != 2 or not 2 <= inputs.shape[1] <= 7:
            return super().forward(inputs, training)
        self.inputs = inputs
        exp = inputs - _column_by_column(np.maximum, inputs)
        np.exp(exp, out=exp)
        exp /= _column_by_column(np.add, exp)
        self.output = exp
        return exp


class Dropout(layers.Dropout):
    """``layers.Dropout``, its masks read from the generator's raw bits.

    Training:  Y = X * M,  M_ij = B_ij / (1 - rate),  B_ij ~ Bernoulli(1 - rate)
    Backward:  dX = G * M                               (the same mask M)
    Inference: Y = X

    ``layers.Dropout`` draws B = [U < p] with float32 uniforms U, which NumPy
    makes from 32 random bits u as U = (u >> 8) 2^-24, two u from each 64-bit
    output of the generator, its low half first. With p rounded to float32,

        U < p   <=>   (u >> 8) < p 2^24   <=>   u < 256 ceil(p 2^24)

    so comparing the generator's raw outputs, cut into 32-bit halves, with
    that bound gives the same booleans without making a float, and leaves
    the generator where the plain draw leaves it (tested). When that cannot
    hold it draws as ``layers.Dropout``: for a generator other than PCG64
    (``default_rng``'s), an odd number of units (the plain draw keeps the
    last 64-bit output's high half for its next draw), or such a half already
    kept. A training forward pass of 3000 x 64 float32 units (workload B)
    takes 0.30 ms against the plain one's 0.46 (timeit, best of 7).
    """

    def bernoulli(self, shape, p):
        """B ~ Bernoulli(p) of ``shape``: the booleans of ``layers.Dropout.bernoulli``."""
        n = math.prod(shape)
        generator = self.rng.bit_generator
        if n % 2 or not isinstance(generator, np.random.PCG64) or generator.state["has_uint32"]:
            return super().bernoulli(shape, p)
        u = generator.random_raw(n // 2).view(np.uint32).reshape(shape)
        # u <= bound - 1 rather than u < bound: for a p that rounds to 1.0 in
        # float32 the bound is 2^32, one past the largest uint32.
        return u <= np.uint32(256 * math.ceil(np.float32(p) * 2**24) - 1)


def _column_by_column(ufunc, x):
    """``ufunc.reduce(x, axis=1, keepdims=True)`` as C - 1 calls over columns of x: (N, C)."""
    out = ufunc(x[:, :1], x[:, 1:2])
    for column in range(2, x.shape[1]):
        ufunc(out, x[:, column:column + 1], out=out)
    return out
