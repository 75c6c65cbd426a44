"""Layers: fully connected, convolution, max pooling, batch normalisation, dropout, reshapes.

Shapes: N is the batch size; a batch is the first axis. Image batches are
(N, C, H, W), channels first. Gradients are taken of L, the loss averaged
over the batch (the losses in ``losses.py`` already divide by N, so the
layers never do).
"""

import math
from numbers import Integral, Real

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


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

    Weights start as ``init`` says (see ``_initial_weights``, fan_in = n_in,
    fan_out = n_out) and biases at zero. The default, "normal", is
    weight_scale * N(0, 1) with the scale 0.01 of the book *Neural Networks
    from Scratch in Python* whose results we reproduce (its regression
    network uses 0.1); weight_scale is read by "normal" only.
    ``rng`` is a ``numpy.random.Generator`` (``default_rng(0)`` when omitted,
    so two layers built without one start identical); ``dtype`` is the
    precision of the parameters (float64 unless asked otherwise).
    """

    # The parameter protocol (see ``parameter_names``): what an optimizer
    # trains, what weight decay shrinks, and what is saved but not trained.
    parameters = ("weights", "biases")
    decayed = ("weights",)
    state = ()

    def __init__(self, n_inputs, n_neurons, weight_regularizer_l1=0.0,
                 weight_regularizer_l2=0.0, bias_regularizer_l1=0.0,
                 bias_regularizer_l2=0.0, *, rng=None, weight_scale=0.01, init="normal",
                 dtype=np.float64):
        where = f"Dense({n_inputs!r}, {n_neurons!r})"
        _whole_number(where, "n_inputs", n_inputs)
        _whole_number(where, "n_neurons", n_neurons)
        _set_regularisers(self, weight_regularizer_l1, weight_regularizer_l2,
                          bias_regularizer_l1, bias_regularizer_l2)
        self.init = _known_init(init)
        weight_scale = _non_negative("weight_scale", weight_scale)
        rng = np.random.default_rng(0) if rng is None else rng
        self.weights = _initial_weights(init, (n_inputs, n_neurons), n_inputs, n_neurons,
                                        weight_scale, rng, dtype)
        self.biases = np.zeros((1, n_neurons), dtype=dtype)

    def __repr__(self):
        n_inputs, n_neurons = self.weights.shape
        init = "" if self.init == "normal" else f", init={self.init!r}"
        return f"Dense({n_inputs}, {n_neurons}{init})"

    def forward(self, inputs, training=False):
        n_inputs = self.weights.shape[0]
        if inputs.ndim != 2 or inputs.shape[1] != n_inputs:
            raise ValueError(f"{self!r} expects inputs of shape (N, {n_inputs}), "
                             f"got {inputs.shape}")
        # Kept by reference, not copied: backward needs X for dW.
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases
        return self.output

    def backward(self, dvalues, *, input_gradient=True):
        """dW, db and (unless ``input_gradient`` is False) dX; returns dX or None.

        A network skips dX for its first layer, whose input is the data.
        """
        self.dweights = self.inputs.T @ dvalues
        # 1^T G as a matrix product, as the formula reads: BLAS sums the rows
        # faster than dvalues.sum(axis=0) (2.6x on 300 x 64, 4.5x on 3000 x 64).
        self.dbiases = np.ones((1, len(dvalues)), dvalues.dtype) @ dvalues
        _add_penalty_gradients(self)
        self.dinputs = dvalues @ self.weights.T if input_gradient else None
        return self.dinputs


class Dropout:
    """Inverted dropout: each unit is dropped with probability ``rate``.

    Training:  Y = X * M,  M_ij = B_ij / (1 - rate),  B_ij ~ Bernoulli(1 - rate)
    Backward:  dX = G * M                               (the same mask M)
    Inference: Y = X

    Scaling the kept units by 1 / (1 - rate) keeps E[Y] = X, so nothing needs
    rescaling at inference. A new mask is drawn on every training forward,
    from ``rng`` (a ``numpy.random.Generator``; ``default_rng(0)`` when
    omitted). ``fast.Dropout`` draws the same masks faster.
    """

    def __init__(self, rate, *, rng=None):
        if not (isinstance(rate, Real) and not isinstance(rate, bool) and 0 <= rate < 1):
            raise ValueError(f"dropout rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng = np.random.default_rng(0) if rng is None else rng

    def __repr__(self):
        return f"Dropout({self.rate:g})"

    def forward(self, inputs, training=False):
        self.inputs = inputs
        if not training or self.rate == 0:
            self.mask = None
            self.output = inputs
            return inputs
        keep = 1.0 - self.rate
        kept = self.bernoulli(inputs.shape, keep)
        self.mask = np.divide(kept, keep, dtype=inputs.dtype)
        self.output = inputs * self.mask
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues if self.mask is None else dvalues * self.mask
        return self.dinputs

    def bernoulli(self, shape, p):
        """B ~ Bernoulli(p) of ``shape``, as booleans: B = [U < p], U ~ uniform[0, 1).

        U is drawn in float32: its 24 random bits give p to 2^-24, and one
        64-bit draw of the generator makes two of them.
        """
        return self.rng.random(shape, dtype=np.float32) < p


class Conv2D:
    """2-D convolution over image batches, with zero padding and L1/L2 penalties.

    Forward:   Y[n,o,i,j] = b[o] + sum_{c,u,v} W[o,c,u,v] Xp[n, c, i*s + u, j*s + v]
               with X: (N, C, H, W), W: (O, C, k, k), b: (O,), Y: (N, O, Ho, Wo),
               Xp = X with p zeros around each image, Ho = (H + 2p - k) // s + 1;
               as one matrix product, one row per output pixel (n, i, j):
               Y = P K + b  with P: (N Ho Wo, k k C) the patches (im2col)
                            and K: (k k C, O) the weights, rows in (u, v, c) order
    Backward:  G = dL/dY, one row per output pixel      G: (N Ho Wo, O)
               dW = P^T G + l1 sign(W) + 2 l2 W        (back in the (O, C, k, k) order)
               db = 1^T G + l1_b sign(b) + 2 l2_b b    (G summed over n, i, j)
               dP = G K^T, then for each of the k^2 offsets (u, v):
               dXp[n, c, i*s + u, j*s + v] += dP[(n, i, j), (u, v, c)]
               dX = dXp with the padding cut off
    Penalty:   l1 sum|W| + l2 sum W^2 + l1_b sum|b| + l2_b sum b^2, as Dense

    Cross-correlation, as every framework computes it: the kernel is not
    flipped. The patch matrix P (im2col) comes from a
    ``sliding_window_view`` of the padded batch, so a convolution is one
    matrix product; its backward undoes the patch extraction with k^2
    shifted additions, each over the whole batch and every channel.

    Inside the layer images are channels last, (N, H, W, C): the rows of P
    and G are then (n, i, j) with the channels contiguous, so G needs no
    reordering when it arrives in that memory order and each shifted addition
    moves whole image rows of W C numbers. The output is an (N, O, Ho, Wo)
    view of channels-last memory, which element-wise layers (ReLU, MaxPool2D)
    keep as it is. Measured on workload E (batch 128, float32, one BLAS
    thread, CPU time), forward + backward: its second convolution (16 -> 32
    channels on 14 x 14) takes 16 ms channels last against 21 ms with the
    same steps channels first, whose shifted additions move rows of only 14
    numbers (1.8 ms against 5.2); its first (one channel, dX skipped) pays
    4.7 ms against 2.5, its patch rows being copied 3 numbers at a time.
    ``as_strided`` windows instead of ``sliding_window_view`` change nothing
    (both are views; the copy into P is the cost), and ``einsum`` on the
    window view is slower than the reshape and one ``@`` (6.3 ms against 5.3).

    Weights start as ``init`` says (see ``_initial_weights``; fan_in = C k^2,
    fan_out = O k^2), He's by default; biases at zero.
    """

    parameters = ("weights", "biases")
    decayed = ("weights",)
    state = ()

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0,
                 weight_regularizer_l1=0.0, weight_regularizer_l2=0.0,
                 bias_regularizer_l1=0.0, bias_regularizer_l2=0.0, init="he",
                 weight_scale=0.01, rng=None, dtype=np.float64):
        where = f"Conv2D({in_channels!r}, {out_channels!r}, {kernel_size!r})"
        _whole_number(where, "in_channels", in_channels)
        _whole_number(where, "out_channels", out_channels)
        _whole_number(where, "kernel_size", kernel_size)
        self.stride = _whole_number(where, "stride", stride)
        self.padding = _whole_number(where, "padding", padding, minimum=0)
        _set_regularisers(self, weight_regularizer_l1, weight_regularizer_l2,
                          bias_regularizer_l1, bias_regularizer_l2)
        self.init = _known_init(init)
        weight_scale = _non_negative("weight_scale", weight_scale)
        rng = np.random.default_rng(0) if rng is None else rng
        area = kernel_size * kernel_size
        self.weights = _initial_weights(init, (out_channels, in_channels, kernel_size,
                                               kernel_size), in_channels * area,
                                        out_channels * area, weight_scale, rng, dtype)
        self.biases = np.zeros(out_channels, dtype=dtype)

    def __repr__(self):
        out_channels, in_channels, k, _ = self.weights.shape
        options = "".join(f", {name}={value!r}" for name, value, default in (
            ("stride", self.stride, 1), ("padding", self.padding, 0), ("init", self.init, "he"))
            if value != default)
        return f"Conv2D({in_channels}, {out_channels}, {k}{options})"

    def output_size(self, height, width):
        """(Ho, Wo) for (H, W) inputs: (H + 2 padding - k) // stride + 1, likewise W."""
        k, p, s = self.weights.shape[2], self.padding, self.stride
        return (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1

    def forward(self, inputs, training=False):
        n_out, n_in, k, _ = self.weights.shape
        p, s = self.padding, self.stride
        if inputs.ndim != 4 or inputs.shape[1] != n_in or min(inputs.shape[2:]) + 2 * p < k:
            raise ValueError(f"{self!r} expects inputs of shape (N, {n_in}, H, W) with H and "
                             f"W at least {max(k - 2 * p, 1)}, got {inputs.shape}")
        n, _, height, width = inputs.shape
        out_h, out_w = self.output_size(height, width)
        padded = np.zeros((n, height + 2 * p, width + 2 * p, n_in), dtype=inputs.dtype)
        padded[:, p:p + height, p:p + width, :] = inputs.transpose(0, 2, 3, 1)
        # (N, Ho, Wo, C, k, k): every window, as a view; reordered to (u, v, c)
        # and reshaped, it is copied into the patch matrix P.
        windows = sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::s, ::s]
        self.patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * out_h * out_w,
                                                                  k * k * n_in)
        kernel = self.weights.transpose(2, 3, 1, 0).reshape(k * k * n_in, n_out)
        output = self.patches @ kernel
        output += self.biases
        # Kept by reference, not copied: backward reads only its shape.
        self.inputs = inputs
        self.output = output.reshape(n, out_h, out_w, n_out).transpose(0, 3, 1, 2)
        return self.output

    def backward(self, dvalues, *, input_gradient=True):
        """dW, db and (unless ``input_gradient`` is False) dX; returns dX or None.

        A network skips dX for its first layer, whose input is the data: dP
        and the k^2 shifted additions are half of the backward's time (5 of
        10 ms in the second convolution of workload E).
        """
        n_out, n_in, k, _ = self.weights.shape
        p, s = self.padding, self.stride
        n, _, height, width = self.inputs.shape
        out_h, out_w = dvalues.shape[2:]
        # A view when dvalues is channels-last memory (as a ReLU after this
        # layer gives it back), else one reordering copy.
        grad = dvalues.transpose(0, 2, 3, 1).reshape(n * out_h * out_w, n_out)
        # 1^T G as a product, as in Dense: 0.05 ms against 0.4 for grad.sum(axis=0).
        self.dbiases = np.ones(len(grad), grad.dtype) @ grad
        self.dweights = np.ascontiguousarray(
            (self.patches.T @ grad).reshape(k, k, n_in, n_out).transpose(3, 2, 0, 1))
        _add_penalty_gradients(self)
        if not input_gradient:
            self.dinputs = None
            return None
        # dP for each offset (u, v) at once: (k, k, N Ho Wo, C), so that every
        # shifted addition below reads a contiguous block.
        by_offset = np.ascontiguousarray(self.weights.transpose(2, 3, 0, 1))
        dpatches = grad @ by_offset
        dpadded = np.zeros((n, height + 2 * p, width + 2 * p, n_in), dtype=dpatches.dtype)
        for u in range(k):
            for v in range(k):
                _shifted(dpadded, u, v, s, out_h, out_w, axes=(1, 2))[...] += \
                    dpatches[u, v].reshape(n, out_h, out_w, n_in)
        self.dinputs = dpadded[:, p:p + height, p:p + width, :].transpose(0, 3, 1, 2)
        return self.dinputs


class MaxPool2D:
    """Max pooling over size x size windows, channel by channel.

    Forward:   Y[n,c,i,j] = max_{u,v < size} X[n, c, i*s + u, j*s + v]
               with X: (N, C, H, W), Y: (N, C, Ho, Wo), Ho = (H - size) // s + 1;
               argmax[n,c,i,j] = u * size + v of the maximum (the first one
               in row-major order on a tie)
    Backward:  dX[n, c, i*s + u, j*s + v] += G[n,c,i,j] where (u, v) is the argmax
               (every other entry of the window gets nothing)

    The stride s defaults to ``size`` (windows side by side); no padding, so
    rows or columns past the last whole window are never read and get a zero
    gradient. ``argmax`` (integers, after forward) says which entry of each
    window won: a gradient check compares it before and after a perturbation
    to see whether the perturbation moved a maximum (a kink).

    Both directions run over the size^2 offsets of a window, each step over
    the whole batch at once (no loop over images or windows). The forward
    keeps a running maximum; the backward writes G where the offset won.
    """

    def __init__(self, size=2, stride=None):
        self.size = _whole_number(f"MaxPool2D({size!r}, stride={stride!r})", "size", size)
        self.stride = self.size if stride is None else _whole_number(
            f"MaxPool2D({size!r}, stride={stride!r})", "stride", stride)

    def __repr__(self):
        stride = "" if self.stride == self.size else f", stride={self.stride}"
        return f"MaxPool2D({self.size}{stride})"

    def forward(self, inputs, training=False):
        k, s = self.size, self.stride
        if inputs.ndim != 4 or min(inputs.shape[2:]) < k:
            raise ValueError(f"{self!r} expects inputs of shape (N, C, H, W) with H and W at "
                             f"least {k}, got {inputs.shape}")
        out_h, out_w = (inputs.shape[2] - k) // s + 1, (inputs.shape[3] - k) // s + 1
        self.inputs = inputs
        # The smallest unsigned type that holds size^2 - 1 (uint8 up to 16 x 16):
        # an eighth of the memory traffic of int64, forward 2.0 ms against 3.2
        # on the first pool of workload E (128 x 16 x 28 x 28, float32).
        self.argmax = np.zeros((*inputs.shape[:2], out_h, out_w),
                               dtype=np.min_scalar_type(k * k - 1))
        # order="K" keeps the memory order of the inputs (channels last after a Conv2D).
        output = _shifted(inputs, 0, 0, s, out_h, out_w).copy(order="K")
        for index in range(1, k * k):
            candidate = _shifted(inputs, index // k, index % k, s, out_h, out_w)
            # Strictly greater: on a tie the earlier offset keeps the window.
            better = candidate > output
            np.maximum(output, candidate, out=output)
            # argmax = index where better, as arithmetic on the booleans:
            # 2.0 ms against 4.2 with np.where and 5.1 with a masked
            # assignment (and 11.5 for argmax over reshaped windows). argmax
            # holds an earlier offset, so index - argmax > 0 and cannot wrap.
            self.argmax += better * (index - self.argmax)
        self.output = output
        return output

    def backward(self, dvalues):
        self.dinputs = _route_to_maxima(dvalues, self.argmax, self.inputs, self.size,
                                        self.stride, disjoint=self.stride >= self.size)
        return self.dinputs


class Flatten:
    """Each sample's array as one row, for a Dense layer after convolutions.

    Forward:   Y = X reshaped to (N, C H W)    X: (N, C, H, W), or any (N, ...)
    Backward:  dX = G reshaped to the shape of X

    Rows are read in C order (c, then h, then w), whatever the memory order
    of X: an input that is a view of channels-last memory is copied once.
    """

    def __repr__(self):
        return "Flatten()"

    def forward(self, inputs, training=False):
        self.inputs = inputs
        self.output = inputs.reshape(len(inputs), math.prod(inputs.shape[1:]))
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues.reshape(self.inputs.shape)
        return self.dinputs


class Reshape:
    """Flat rows back into arrays: images fed as rows start a network with this.

    Forward:   Y = X reshaped to (N, *shape)    X: (N, prod(shape)), e.g. (N, 784)
    Backward:  dX = G reshaped to (N, prod(shape))

    ``Reshape((1, 28, 28))`` turns MNIST rows into one-channel images (a
    list is taken as the tuple it spells, as a JSON file gives it back).
    """

    def __init__(self, shape):
        if not isinstance(shape, (tuple, list)) or not shape:
            raise ValueError(f"Reshape: shape must be a non-empty tuple of whole numbers "
                             f">= 1, got {shape!r}")
        for size in shape:
            _whole_number(f"Reshape({shape!r})", "every size in shape", size)
        self.shape = tuple(int(size) for size in shape)

    def __repr__(self):
        return f"Reshape({self.shape!r})"

    def forward(self, inputs, training=False):
        width = math.prod(self.shape)
        if inputs.ndim != 2 or inputs.shape[1] != width:
            raise ValueError(f"{self!r} expects inputs of shape (N, {width}), "
                             f"got {inputs.shape}")
        self.inputs = inputs
        self.output = inputs.reshape(len(inputs), *self.shape)
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues.reshape(self.inputs.shape)
        return self.dinputs


class BatchNorm:
    """Batch normalisation (Ioffe & Szegedy 2015), per feature or per channel.

    Forward:   mu = mean(X), var = mean((X - mu)^2) over the batch (biased)
               x_hat = (X - mu) / sigma,  sigma = sqrt(var + eps)
               Y = gamma x_hat + beta
    Running:   running_mean = (1 - momentum) running_mean + momentum mu
               running_var = (1 - momentum) running_var + momentum var m / (m - 1)
    Inference: Y = gamma (X - running_mean) / sqrt(running_var + eps) + beta
    Backward:  G = dL/dY,  m = the number of values averaged (N, or N H W)
               dbeta = sum(G),  dgamma = sum(G x_hat)
               dX = gamma / (m sigma) (m G - dbeta - x_hat dgamma)

    X is (N, F), normalised feature by feature over the N samples, or
    (N, C, H, W), channel by channel over N, H and W; gamma, beta and the
    running statistics are (F,) or (C,), and "sum" is over the same axes as
    the mean. gamma starts at ones, beta at zeros, running_mean at zeros,
    running_var at ones. As torch.nn.BatchNorm1d/2d: the batch is normalised
    with its biased variance, the running variance moves with the unbiased
    one (so a training batch needs m >= 2), and evaluation uses the running
    statistics.

    The backward line is the chain rule through x_hat, gathered: with
    dx_hat = gamma G, dvar = sum(dx_hat (X - mu)) (-1/2) sigma^-3 and
    dmu = -sum(dx_hat) / sigma, dX = dx_hat / sigma + dvar 2 (X - mu) / m + dmu / m,
    in which the dmu term's share through var is zero because sum(X - mu) = 0.
    After a forward that was not training, the statistics are constants and
    dX = gamma G / sqrt(running_var + eps).
    """

    parameters = ("gamma", "beta")
    decayed = ()
    state = ("running_mean", "running_var")
    # A batch of one sample has no batch statistics: training needs two or more
    # (``model.Network.min_batch``; the training loop folds a last batch of one in).
    min_batch = 2

    def __init__(self, n_features, *, momentum=0.1, epsilon=1e-5, dtype=np.float64):
        _whole_number(f"BatchNorm({n_features!r})", "n_features", n_features)
        if (not isinstance(momentum, Real) or isinstance(momentum, bool)
                or not 0 <= momentum <= 1):
            raise ValueError(f"BatchNorm momentum must be a number in [0, 1], got {momentum!r}")
        if (not isinstance(epsilon, Real) or isinstance(epsilon, bool)
                or not math.isfinite(epsilon) or epsilon <= 0):
            raise ValueError(f"BatchNorm epsilon must be a finite number > 0, got {epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.gamma = np.ones(n_features, dtype=dtype)
        self.beta = np.zeros(n_features, dtype=dtype)
        self.running_mean = np.zeros(n_features, dtype=dtype)
        self.running_var = np.ones(n_features, dtype=dtype)

    def __repr__(self):
        options = "".join(f", {name}={value!r}" for name, value, default in (
            ("momentum", self.momentum, 0.1), ("epsilon", self.epsilon, 1e-5))
            if value != default)
        return f"BatchNorm({len(self.gamma)}{options})"

    def forward(self, inputs, training=False):
        features = len(self.gamma)
        if inputs.ndim not in (2, 4) or inputs.shape[1] != features:
            raise ValueError(f"{self!r} expects inputs of shape (N, {features}) or "
                             f"(N, {features}, H, W), got {inputs.shape}")
        # Statistics over every axis but the feature axis; (1, F) or
        # (1, C, 1, 1) lets a per-feature vector broadcast against X.
        self.axes = (0,) if inputs.ndim == 2 else (0, 2, 3)
        self.column = (1, features) + (1,) * (inputs.ndim - 2)
        self.count = inputs.size // features
        self.inputs, self.training = inputs, bool(training)
        if training:
            if self.count < 2:
                raise ValueError(f"{self!r} cannot train on one value per feature (inputs of "
                                 f"shape {inputs.shape}): its variance is undefined")
            mean = inputs.mean(axis=self.axes)
            centred = inputs - mean.reshape(self.column)
            var = np.square(centred).mean(axis=self.axes)
            keep, dtype = 1 - self.momentum, self.running_mean.dtype
            unbiased = var * (self.count / (self.count - 1))
            self.running_mean = (keep * self.running_mean + self.momentum * mean).astype(dtype)
            self.running_var = (keep * self.running_var + self.momentum * unbiased).astype(dtype)
        else:
            centred = inputs - self.running_mean.reshape(self.column)
            var = self.running_var
        self.inverse_std = 1 / np.sqrt(var + self.epsilon)
        self.x_hat = centred * self.inverse_std.reshape(self.column)
        self.output = self.gamma.reshape(self.column) * self.x_hat + \
            self.beta.reshape(self.column)
        return self.output

    def backward(self, dvalues):
        self.dbeta = dvalues.sum(axis=self.axes)
        self.dgamma = (dvalues * self.x_hat).sum(axis=self.axes)
        scale = (self.gamma * self.inverse_std).reshape(self.column)
        if not self.training:
            self.dinputs = scale * dvalues
            return self.dinputs
        m = self.count
        self.dinputs = (scale / m) * (m * dvalues - self.dbeta.reshape(self.column)
                                      - self.x_hat * self.dgamma.reshape(self.column))
        return self.dinputs


# The parameter protocol: how generic code finds the arrays of any layer.


def parameter_names(layer):
    """The names of the arrays an optimizer trains on ``layer``; () for none.

    The parameter protocol: a trainable layer lists its parameter attributes
    in a class attribute ``parameters`` (Dense: ("weights", "biases")), and
    after ``backward`` the gradient of each is the attribute "d" + name
    (``dweights``). ``decayed`` lists those that weight decay shrinks (the
    weights, never the biases) and ``state`` the arrays that are saved and
    restored but not trained (BatchNorm's running statistics). Generic code,
    the optimizers, the gradient check and the checkpoint, reads these and
    never asks which kind of layer it holds. A layer that declares nothing
    but has ``weights`` (a layer written as the book writes them) is taken
    to train ``weights`` and ``biases``.
    """
    declared = getattr(layer, "parameters", None)
    if isinstance(declared, (tuple, list)):
        return tuple(declared)
    return ("weights", "biases") if hasattr(layer, "weights") else ()


def decayed_names(layer):
    """The parameters of ``layer`` that weight decay applies to (its weights)."""
    declared = getattr(layer, "decayed", None)
    if isinstance(declared, (tuple, list)):
        return tuple(declared)
    return tuple(name for name in parameter_names(layer) if name == "weights")


def state_names(layer):
    """The arrays of ``layer`` saved and restored with it but not trained; () for none."""
    declared = getattr(layer, "state", None)
    return tuple(declared) if isinstance(declared, (tuple, list)) else ()


# Helpers of the classes above.

# The weight initialisations that Dense and Conv2D accept as ``init``.
INITIALISATIONS = ("normal", "he", "glorot")


def _non_negative(name, value):
    """``value`` as a float if it is a finite number >= 0, else a ValueError naming it."""
    if (not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value)
            or value < 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _whole_number(where, name, value, minimum=1):
    """``value`` if it is a whole number >= ``minimum``, else a ValueError naming it."""
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{where}: {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _set_regularisers(layer, weight_l1, weight_l2, bias_l1, bias_l2):
    """Check and store the four penalty strengths under the names ``losses`` reads."""
    layer.weight_regularizer_l1 = _non_negative("weight_regularizer_l1", weight_l1)
    layer.weight_regularizer_l2 = _non_negative("weight_regularizer_l2", weight_l2)
    layer.bias_regularizer_l1 = _non_negative("bias_regularizer_l1", bias_l1)
    layer.bias_regularizer_l2 = _non_negative("bias_regularizer_l2", bias_l2)


def _add_penalty_gradients(layer):
    """Add l1 sign(W) + 2 l2 W to ``dweights``, and likewise for the biases, in place."""
    if layer.weight_regularizer_l1:
        layer.dweights += layer.weight_regularizer_l1 * np.sign(layer.weights)
    if layer.weight_regularizer_l2:
        layer.dweights += 2 * layer.weight_regularizer_l2 * layer.weights
    if layer.bias_regularizer_l1:
        layer.dbiases += layer.bias_regularizer_l1 * np.sign(layer.biases)
    if layer.bias_regularizer_l2:
        layer.dbiases += 2 * layer.bias_regularizer_l2 * layer.biases


def _known_init(init):
    """``init`` if it names an initialisation, else a ValueError naming it."""
    if not isinstance(init, str) or init not in INITIALISATIONS:
        raise ValueError(f"init must be one of {', '.join(map(repr, INITIALISATIONS))}, "
                         f"got {init!r}")
    return init


def _initial_weights(init, shape, fan_in, fan_out, weight_scale, rng, dtype):
    """Starting weights of ``shape`` for Dense and Conv2D, drawn from ``rng``.

    normal:  weight_scale * N(0, 1)          the book's setting
    he:      N(0, 2 / fan_in)                He et al. 2015, for ReLU networks
    glorot:  U(-a, a), a = sqrt(6 / (fan_in + fan_out))      Glorot & Bengio 2010

    fan_in and fan_out count the inputs and outputs of one neuron: n_in and
    n_out for Dense, in_channels k^2 and out_channels k^2 for Conv2D.
    Drawn in float64 and then cast, so a float32 layer starts from the same
    numbers (rounded) as a float64 one.
    """
    if init == "normal":
        weights = weight_scale * rng.standard_normal(shape)
    elif init == "he":
        weights = math.sqrt(2 / fan_in) * rng.standard_normal(shape)
    else:
        limit = math.sqrt(6 / (fan_in + fan_out))
        weights = rng.uniform(-limit, limit, shape)
    return weights.astype(dtype)


def _shifted(array, u, v, stride, out_h, out_w, axes=(2, 3)):
    """The entries of ``array`` at offset (u, v) of every window, as a view.

    Window (i, j) starts at row i * stride and column j * stride along
    ``axes``; the view holds entry (i * stride + u, j * stride + v) at (i, j),
    so it has out_h x out_w entries along those axes. Writing to the view
    writes into ``array``.
    """
    rows = slice(u, u + stride * (out_h - 1) + 1, stride)
    cols = slice(v, v + stride * (out_w - 1) + 1, stride)
    index = [slice(None)] * array.ndim
    index[axes[0]], index[axes[1]] = rows, cols
    return array[tuple(index)]


def _route_to_maxima(dvalues, argmax, inputs, size, stride, *, disjoint):
    """MaxPool2D's dX: each window's gradient at its argmax, zero elsewhere.

    Windows that overlap (stride < size) can send gradient to the same
    entry, so each offset adds its share. When they are ``disjoint`` every
    entry belongs to at most one window and the share is written instead of
    added: 2.2 ms against 3.3 on the first pool of workload E, and tested
    equal. ``dX`` has the memory order of ``inputs`` (``zeros_like``).
    """
    out_h, out_w = dvalues.shape[2:]
    dinputs = np.zeros_like(inputs, dtype=dvalues.dtype)
    for index in range(size * size):
        target = _shifted(dinputs, index // size, index % size, stride, out_h, out_w)
        if disjoint:
            np.multiply(dvalues, argmax == index, out=target)
        else:
            target += dvalues * (argmax == index)
    return dinputs
