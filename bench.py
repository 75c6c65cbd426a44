"""Time the training loop on fixed workloads, beside PyTorch when it is installed.

    python bench.py                      # workloads A-E, median of 3
    python bench.py --workloads D --repeats 1
    python bench.py --workloads A --repeats 5 --no-torch
    python bench.py --quick --repeats 1  # a smoke test of the bench itself
    python bench.py --process "book=python ../nnfs_book/Chapter_10/Ch10_Final.py"
    python bench.py --workloads \\
        --against "A:book-ch10=python ../nnfs_book/Chapter_10/Ch10_Final.py" \\
        --against "B:book-ch15=python ../nnfs_book/Chapter_15/Ch15_Final.py"
    python bench.py --workloads --against \\
        "digits:sklearn-mlp=python bench.py --child sklearn digits 0 float64"

The book's own programs are not part of this repository: Ch10_Final.py and
Ch15_Final.py come from the book's repository, cloned beside this one
(git clone https://github.com/Sentdex/nnfs_book ../nnfs_book), and need its
package nnfs (pip install nnfs). Commands run in this folder, so a relative
path starts here. Each program trains for range(10001) epochs, one more
than workloads A and B (a 0.01% difference, left as it is).

Every measurement runs in a fresh child process (so peak memory is its own
and thread settings do not leak), and the table shows the median of the
repeats. A child times the training loop only, not the making of its data.
Workloads:

  A  spiral(100, 3),   2-64-3,          Adam lr 0.05 decay 5e-7, 10,000 full-batch epochs
  B  spiral(1000, 3),  2-64-3, L2 5e-4 on the hidden layer, Dropout 0.1,
                                         Adam lr 0.05 decay 5e-5, 10,000 full-batch epochs
  C  spiral(10000, 3), 2-128-128-3,     Adam lr 0.005, mini-batches of 128, 20 epochs
  D  MNIST's shape (the book's chapter 19): 60,000 synthetic float32 rows of 784
     N(0, 1) features, 10 classes from a random linear teacher plus noise,
     784-128-128-10,                    Adam lr 0.001 decay 1e-3, mini-batches of 128, 5 epochs
  E  D's 60,000 rows as 1x28x28 images, the teacher constant on 4x4 squares
     (so the classes are in the images' coarse sums, which pooling keeps),
     main.py's --conv 16 32 --hidden 128: Conv2D(1, 16, 3, padding 1) ReLU
     MaxPool(2), Conv2D(16, 32, 3, padding 1) ReLU MaxPool(2), 1568-128-10,
                                         Adam lr 0.001 decay 1e-3, mini-batches of 128, 1 epoch

Implementations: "ours" (this package, float32 and float64, with NumPy's BLAS
on its default threads; at D also float32 on 1 thread; at E float32 only, on
its default threads and on 1), "minimal" (A, and E on 1 thread: the same maths
as a bare loop written only for speed, in-place operations on one flat
parameter buffer, the floor a NumPy loop can reach) and "torch" (the same
network, data, initial weights, schedule and order of mini-batches, with 1
and 2 threads). Each child reports the dtype of every array its loop leaves
behind (parameters, gradients, outputs, optimizer state) and the threads of
its BLAS (of torch, for torch); the table's labels show them, and the bench
stops if they are not what it asked for. The whole processes `python main.py
--help` and `python main.py --optimizer adam --no-plot` are timed too.

--against W:NAME=COMMAND times COMMAND in alternation with this package's
whole process for W, after one uncounted pair, and reports the ratio of each
pair, and the validation accuracy of each process when its output shows one
(the last "validation accuracy X" of its output, or the "val_accuracy" of a
last line in JSON). This package's process for W:

  A       python main.py --optimizer adam --no-plot
  B       python bench.py --child ours B 0 float32
  digits  python main.py --dataset digits --no-plot (sklearn's 8x8 digits,
          data.digits' split); set it against `python bench.py --child sklearn
          digits SEED float64`, which fits scikit-learn's
          MLPClassifier(hidden_layer_sizes=(64,), random_state=SEED) on the same
          training part and prints, as JSON, its fit's seconds and accuracies.
"""

import argparse
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from program import cli  # the flag types of main.py; it imports no NumPy

HERE = Path(__file__).resolve().parent
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# data: "spiral" is nnfs's spiral(samples, classes), ``samples`` points per class;
# "teacher" is ``teacher_data``: ``samples`` rows of ``features`` inputs.
WORKLOADS = {
    "A": dict(data="spiral", classes=3, samples=100, hidden=[64], l2=0.0, dropout=0.0, lr=0.05,
              decay=5e-7, epochs=10000, batch_size=None),
    "B": dict(data="spiral", classes=3, samples=1000, hidden=[64], l2=5e-4, dropout=0.1, lr=0.05,
              decay=5e-5, epochs=10000, batch_size=None),
    "C": dict(data="spiral", classes=3, samples=10000, hidden=[128, 128], l2=0.0,
              dropout=0.0, lr=0.005, decay=0.0, epochs=20, batch_size=128),
    "D": dict(data="teacher", samples=60000, features=784, classes=10, hidden=[128, 128],
              l2=0.0, dropout=0.0, lr=0.001, decay=1e-3, epochs=5, batch_size=128),
    # image: (channels, height, width) of each row; conv: the channels of each
    # block Conv2D(kernel, padding kernel // 2) -> ReLU -> MaxPool2D(2), as main.py's --conv.
    "E": dict(data="teacher", samples=60000, features=784, classes=10, block=4,
              image=(1, 28, 28), conv=[16, 32], kernel=3, hidden=[128], l2=0.0, dropout=0.0,
              lr=0.001, decay=1e-3, epochs=1, batch_size=128),
}


def settings(workload, quick=False):
    """A workload's settings; ``quick``: a tenth of its samples and epochs (at least 1)."""
    w = dict(WORKLOADS[workload])
    if quick:
        w["samples"] = max(1, w["samples"] // 10)
        w["epochs"] = max(1, w["epochs"] // 10)
    return w


def teacher_data(seed_sequence, samples, features, classes, dtype, noise=0.2, block=1):
    """Inputs X ~ N(0, 1) drawn as float32, labels from a random linear teacher.

        X: (samples, features)   T: (features, classes) ~ N(0, 1)   E: (samples, classes) ~ N(0, 1)
        y = argmax over classes of (X T / sqrt(features) + noise E)

    Each teacher score is N(0, 1) and the noise blurs the classes' borders:
    the noiseless teacher itself is right on 0.83 of the rows (seed 0), so a
    training accuracy above that is the noise learnt by heart (D's 784-128-
    128-10 network reaches about 0.96 in its 5 epochs). X is made in
    blocks of rows straight into ``dtype`` (float64 gets the same values as
    float32), and the scores are summed in float64 whatever ``dtype``:
    the same seed gives the same labels in every implementation.

    ``block`` > 1 reads each row as a square image (features = side^2) and
    makes T constant on its block x block squares: T[(i, j), c] =
    S[i // block, j // block, c], S ~ N(0, 1), so a class depends on the
    image's sums over those squares, and the scores are still N(0, 1).
    That suits a convolution network, whose pooling keeps coarse sums but
    not single pixels: after one epoch of E, 0.63 of the rows are right
    with blocks of 4 and 0.21 with D's teacher (block 1, the default).
    """
    import numpy as np

    teacher_seed, input_seed, noise_seed = seed_sequence.spawn(3)
    draw = np.random.default_rng(teacher_seed).standard_normal
    if block == 1:
        teacher = draw((features, classes))
    else:
        side = math.isqrt(features)
        if side * side != features or side % block:
            raise ValueError(f"teacher blocks of {block}: {features} features are not a square "
                             "image whose side the block divides")
        squares = draw((side // block, side // block, classes))
        teacher = squares.repeat(block, axis=0).repeat(block, axis=1).reshape(features, classes)
    teacher /= math.sqrt(features)
    inputs, noises = np.random.default_rng(input_seed), np.random.default_rng(noise_seed)
    x = np.empty((samples, features), dtype)
    y = np.empty(samples, np.int64)
    for start in range(0, samples, 4096):  # blocks: no second copy of X in another dtype
        block = inputs.standard_normal((min(4096, samples - start), features), np.float32)
        x[start:start + len(block)] = block
        scores = block.astype(np.float64) @ teacher
        scores += noise * noises.standard_normal(scores.shape)
        y[start:start + len(block)] = scores.argmax(axis=1)
    return x, y


def initial_network(w, seed, dtype):
    """Data, a freshly initialised network and the shuffling generator, shared by all.

    ``w`` is the workload's ``settings``.
    """
    import numpy as np

    from heads import Classes
    from program import data
    from program.model import build

    seeds = np.random.SeedSequence(seed).spawn(3)
    if w["data"] == "spiral":
        d = data.spiral(seed, w["samples"], w["classes"])
        x, y = d.x_train.astype(dtype), d.y_train
    else:
        x, y = teacher_data(seeds[2], w["samples"], w["features"], w["classes"], dtype,
                            block=w.get("block", 1))
    images = (dict(conv=w["conv"], kernel=w["kernel"], image_shape=w["image"])
              if w.get("conv") else {})
    network = build(x.shape[1], w["hidden"], w["classes"], Classes(),
                    dropout=w["dropout"], l2=w["l2"], rng=np.random.default_rng(seeds[0]),
                    dtype=dtype, **images)
    return x, y, network, np.random.default_rng(seeds[1])


def blas_threads():
    """The most threads any BLAS loaded in this process may use (None without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [entry["num_threads"] for entry in threadpool_info() if entry["user_api"] == "blas"]
    return max(counts, default=None)


def dtype_names(arrays):
    """The distinct dtypes of ``arrays`` (NumPy or torch), by name: ['float32']."""
    return sorted({str(array.dtype).removeprefix("torch.") for array in arrays})


def accuracy_in_blocks(predict, x, y, rows=8192):
    """Fraction of rows whose prediction is their label, taken ``rows`` at a time.

    In blocks, so that a child's peak memory is its training loop's, not
    that of activations for every row at once (60,000 x 128 per layer at D).
    """
    right = sum(int((predict(x[start:start + rows]) == y[start:start + rows]).sum())
                for start in range(0, len(y), rows))
    return right / len(y)


def evaluation_rows(w):
    """Rows per block of ``accuracy_in_blocks``: fewer for images, whose patches take 144
    numbers a pixel in E's second convolution; in blocks of 1024 the evaluation, not the
    training, made ours' peak memory (633 MB against 254 at E --quick)."""
    return 256 if w.get("conv") else 8192


def run_ours(w, seed, dtype, threads):
    from optimizers import Adam
    from program.train import train

    x, y, network, rng = initial_network(w, seed, dtype)
    optimizer = Adam(learning_rate=w["lr"], decay=w["decay"], fused=True)
    started = time.perf_counter()
    train(network, optimizer, x, y, x[:1], y[:1], epochs=w["epochs"],
          log_every=w["epochs"], batch_size=w["batch_size"], rng=rng)
    seconds = time.perf_counter() - started
    # Every array the last step left behind, in the dtype asked for? (A float64
    # temporary written back in place into a float32 array would not show.)
    arrays = [network.head.output, network.head.dinputs]
    for layer in network.layers:
        arrays += [getattr(layer, name) for name in ("output", "dinputs", "weights", "biases",
                                                     "dweights", "dbiases")
                   if getattr(layer, name, None) is not None]
    for layer in network.trainable:
        arrays += [*optimizer.state(layer.weights).values(),
                   *optimizer.state(layer.biases).values()]
    return dict(seconds=seconds,
                accuracy=accuracy_in_blocks(network.predict, x, y, evaluation_rows(w)),
                dtypes=dtype_names(arrays), threads=blas_threads())


def _flat_adam(params, grads, m, v, tmp, lr, t, beta1, beta2, eps):
    """One Adam step in place over a flat parameter buffer, the floors' update.

    The rule of optimizers.Adam (m, v, bias corrections), in the fewest
    passes: ``tmp`` is scratch of the buffer's size.
    """
    import numpy as np  # here, as everywhere in this module: --help loads no NumPy

    m *= beta1
    m += (1 - beta1) * grads
    v *= beta2
    np.multiply(grads, grads, out=tmp)
    tmp *= 1 - beta2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp /= np.sqrt(1 - beta2 ** (t + 1))
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= lr / (1 - beta1 ** (t + 1))
    params -= tmp


def run_minimal(w, seed, dtype, threads):
    """Workload A as a bare loop: no classes, no checks, one flat buffer for Adam.

    A workload with convolutions (E) goes to ``run_minimal_conv``.
    """
    if w.get("conv"):
        return run_minimal_conv(w, seed, dtype, threads)
    import numpy as np

    x, y, network, _ = initial_network(w, seed, dtype)
    (w1, b1), (w2, b2) = ((d.weights, d.biases) for d in network.trainable)
    shapes = [w1.shape, b1.shape, w2.shape, b2.shape]
    sizes = [a * b for a, b in shapes]
    params = np.concatenate([w1.ravel(), b1.ravel(), w2.ravel(), b2.ravel()])
    grads, m, v, tmp = (np.zeros_like(params) for _ in range(4))
    views = []
    for buffer in (params, grads):
        parts, offset = [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            parts.append(buffer[offset:offset + size].reshape(shape))
            offset += size
        views.append(parts)
    (w1, b1, w2, b2), (dw1, db1, dw2, db2) = views
    n, rows = len(y), np.arange(len(y))
    hidden = np.empty((n, w1.shape[1]), dtype)
    scores = np.empty((n, w2.shape[1]), dtype)
    beta1, beta2, eps = 0.9, 0.999, 1e-7
    started = time.perf_counter()
    for t in range(w["epochs"]):
        np.matmul(x, w1, out=hidden)
        hidden += b1
        np.maximum(hidden, 0, out=hidden)
        np.matmul(hidden, w2, out=scores)
        scores += b2
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        scores[rows, y] -= 1
        scores /= n
        np.matmul(hidden.T, scores, out=dw2)
        scores.sum(axis=0, keepdims=True, out=db2)
        dhidden = scores @ w2.T
        dhidden *= hidden > 0
        np.matmul(x.T, dhidden, out=dw1)
        dhidden.sum(axis=0, keepdims=True, out=db1)
        _flat_adam(params, grads, m, v, tmp, w["lr"] / (1 + w["decay"] * t), t, beta1, beta2,
                   eps)
    seconds = time.perf_counter() - started
    arrays = [params, grads, m, v, hidden, scores, dhidden]
    hidden = np.maximum(x @ w1 + b1, 0)
    accuracy = float(np.mean((hidden @ w2 + b2).argmax(axis=1) == y))
    return dict(seconds=seconds, accuracy=accuracy, dtypes=dtype_names(arrays),
                threads=blas_threads())


# E's floor keeps images channels last, (N, H, W, C); these move parameters
# between this package's layouts and the floor's, which trains the same numbers.

def patch_matrix(weights):
    """Conv2D weights (O, C, k, k) as (k k C, O), rows in the patches' (u, v, c) order."""
    return weights.transpose(2, 3, 1, 0).reshape(-1, weights.shape[0])


def conv_weights(matrix, shape):
    """``patch_matrix`` undone: (k k C, O) back to Conv2D's ``shape`` (O, C, k, k)."""
    out_channels, channels, k, _ = shape
    return matrix.reshape(k, k, channels, out_channels).transpose(3, 2, 0, 1)


def channels_last_rows(weights, image):
    """The weights of a Dense after Flatten of (C, H, W) images, rows from (c, h, w) to
    (h, w, c) order: the same layer for images flattened channels last."""
    channels, height, width = image
    return (weights.reshape(channels, height, width, -1).transpose(1, 2, 0, 3)
            .reshape(channels * height * width, -1))


def channels_first_rows(weights, image):
    """``channels_last_rows`` undone."""
    channels, height, width = image
    return (weights.reshape(height, width, channels, -1).transpose(2, 0, 1, 3)
            .reshape(channels * height * width, -1))


def run_minimal_conv(w, seed, dtype, threads):
    """Workload E as a bare loop: the floor a NumPy convolution network can reach.

    The same maths as ours (convolution as patches times a matrix, ReLU, 2x2
    max pooling, Dense, softmax-crossentropy, Adam on one flat buffer),
    written only for speed, every choice measured on one thread against its
    alternatives (a batch of 128 in E, medians):

    - Channels last inside, (N, H, W, C): a window of a convolution or of a
      pooling is then rows of W*C contiguous numbers, where channels first
      has rows of W (28 or 14); the same loop channels first took 1.17x
      the CPU time.
    - Patches copied from one sliding_window_view in one call (0.9 ms for
      the second convolution, against 6.2 for k*k shifted copies); a
      one-channel image keeps its k*k patch planes apart, (k*k, N*H*W),
      and multiplies their transpose (0.2 ms against 0.5).
    - The patches' backward (col2im) as k*k products dZ W[u, v]^T, each
      added into its shifted window (4.5 ms, against 12.7 for one product
      dZ W^T and then k*k strided additions of its columns).
    - Pooling by pairs of rows, then pairs of columns (0.6 ms, against 3.9
      for a max over the window axes), and ReLU after it: ReLU and max
      commute, and the pooled images are a quarter of the numbers (ReLU
      took 0.6 ms before pooling). The backward sends each window's
      gradient where the window equals its maximum and that maximum is
      positive: a tie of two positive floats is left to chance (ours sends
      it to the first).
    - The bias added to rows of W*C numbers, the bias tiled W times (0.24
      ms against 0.65 for a bias of C numbers broadcast over N*H*W rows).
    - Bias gradients as ones @ G (0.09 ms against 2.1 for G.sum(axis=0)).

    Images need even sides at every pooling. Arrays are made once per
    batch size (the last batch may be shorter); the loop writes into them.
    """
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    from program.train import batches

    x, y, network, rng = initial_network(w, seed, dtype)
    k = w["kernel"]
    pad = k // 2
    convs = network.trainable[:len(w["conv"])]
    denses = network.trainable[len(w["conv"]):]
    # (C, H, W) of the images entering each convolution block, then of its output.
    shapes = [tuple(w["image"])]
    for layer in convs:
        _, height, width = shapes[-1]
        shapes.append((layer.weights.shape[0], height // 2, width // 2))
    arrays = [a for layer in convs for a in (patch_matrix(layer.weights), layer.biases)]
    arrays += [channels_last_rows(denses[0].weights, shapes[-1]), denses[0].biases.ravel()]
    arrays += [a for layer in denses[1:] for a in (layer.weights, layer.biases.ravel())]
    params = np.concatenate([a.ravel() for a in arrays])
    grads, m, v, tmp = (np.zeros_like(params) for _ in range(4))
    views = []
    for buffer in (params, grads):
        parts, offset = [], 0
        for a in arrays:
            parts.append(buffer[offset:offset + a.size].reshape(a.shape))
            offset += a.size
        views.append(parts)
    kernels, kernel_biases = views[0][:2 * len(convs):2], views[0][1:2 * len(convs):2]
    dkernels, dkernel_biases = views[1][:2 * len(convs):2], views[1][1:2 * len(convs):2]
    weights, biases = views[0][2 * len(convs)::2], views[0][2 * len(convs) + 1::2]
    dweights, dbiases = views[1][2 * len(convs)::2], views[1][2 * len(convs) + 1::2]
    made = {}

    def arrays_for(n):
        """Every array a batch of n images writes, made on its first batch of that size."""
        if n in made:
            return made[n]
        blocks = []
        for (channels, height, width), (filters, _, _) in zip(shapes[:-1], shapes[1:],
                                                                  strict=True):
            padded = (n, height + 2 * pad, width + 2 * pad, channels)
            blocks.append(dict(
                padded=np.zeros(padded, dtype), dpadded=np.zeros(padded, dtype),
                patches=np.empty((k, k, n, height, width) if channels == 1
                                 else (n, height, width, k, k, channels), dtype),
                z=np.empty((n, height, width, filters), dtype),
                dz=np.empty((n, height, width, filters), dtype),
                rows=np.empty((n, height // 2, width, filters), dtype),
                mask=np.empty((n, height // 2, 2, width // 2, 2, filters), bool),
                dpatch=np.empty((n * height * width, channels), dtype)))
        channels, height, width = shapes[-1]
        pooled = np.empty((n, height, width, channels), dtype)
        dpooled = np.empty_like(pooled)
        for i, block in enumerate(blocks):
            channels, height, width = shapes[i]
            # The patches as a matrix, (N H W, k k C): a one-channel image's is a transpose.
            block["matrix"] = (block["patches"].reshape(k * k, -1).T if channels == 1
                               else block["patches"].reshape(n * height * width, -1))
            # Where the block's pooled output goes, and where its gradient comes from:
            # inside the next block's padding, or the input of the Dense layers.
            if i + 1 < len(blocks):
                inside = (slice(None), slice(pad, pad + height // 2), slice(pad, pad + width // 2))
                block["out"] = blocks[i + 1]["padded"][inside]
                block["dout"] = blocks[i + 1]["dpadded"][inside]
            else:
                block["out"], block["dout"] = pooled, dpooled
        made[n] = dict(blocks=blocks, flat=pooled.reshape(n, -1), dflat=dpooled.reshape(n, -1),
                       dense=[np.empty((n, layer.weights.shape[1]), dtype) for layer in denses],
                       ones=np.ones(n * shapes[0][1] * shapes[0][2], dtype))
        return made[n]

    def forward(rows, a):
        """The scores of x[rows] (before softmax), every activation left in ``a``."""
        channels, height, width = shapes[0]
        images = x[rows].reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
        a["blocks"][0]["padded"][:, pad:pad + height, pad:pad + width] = images
        for i, block in enumerate(a["blocks"]):
            windows = sliding_window_view(block["padded"], (k, k), axis=(1, 2))
            if shapes[i][0] == 1:  # windows: (N, H, W, C, k, k)
                np.copyto(block["patches"], windows[:, :, :, 0].transpose(3, 4, 0, 1, 2))
            else:
                np.copyto(block["patches"], windows.transpose(0, 1, 2, 4, 5, 3))
            z = block["z"]
            n, height, width, filters = z.shape
            np.matmul(block["matrix"], kernels[i], out=z.reshape(-1, filters))
            z.reshape(n * height, width * filters)[...] += np.tile(kernel_biases[i], width)
            np.maximum(z[:, 0::2], z[:, 1::2], out=block["rows"])
            np.maximum(block["rows"][:, :, 0::2], block["rows"][:, :, 1::2], out=block["out"])
            np.maximum(block["out"], 0, out=block["out"])
        inputs = a["flat"]
        for j, out in enumerate(a["dense"]):
            np.matmul(inputs, weights[j], out=out)
            out += biases[j]
            if j + 1 < len(a["dense"]):
                np.maximum(out, 0, out=out)
            inputs = out
        return inputs

    def backward(a, labels):
        """Gradients of the batch's mean loss into ``grads``; the scores become dL/dscores."""
        n = len(labels)
        ones = a["ones"]
        scores = a["dense"][-1]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        scores[np.arange(n), labels] -= 1
        scores /= n
        grad = scores
        for j in reversed(range(len(denses))):
            inputs = a["dense"][j - 1] if j else a["flat"]
            np.matmul(inputs.T, grad, out=dweights[j])
            np.matmul(ones[:n], grad, out=dbiases[j])
            if j:
                grad = grad @ weights[j].T
                grad *= inputs > 0
            else:
                np.matmul(grad, weights[0].T, out=a["dflat"])
        for i in reversed(range(len(convs))):
            block = a["blocks"][i]
            channels, height, width = shapes[i]
            z, dz, out, dout = block["z"], block["dz"], block["out"], block["dout"]
            filters = z.shape[-1]
            dout *= out > 0  # ReLU, after pooling: out is each window's maximum, ReLU'd
            window = (n, height // 2, 2, width // 2, 2, filters)
            peak = (n, height // 2, 1, width // 2, 1, filters)
            np.equal(z.reshape(window), out.reshape(peak), out=block["mask"])
            np.multiply(block["mask"], dout.reshape(peak), out=dz.reshape(window))
            dz = dz.reshape(-1, filters)
            np.matmul(block["matrix"].T, dz, out=dkernels[i])
            np.matmul(ones[:len(dz)], dz, out=dkernel_biases[i])
            if i:  # the first block's input is the data: no gradient wanted
                dpadded = block["dpadded"]
                dpadded.fill(0)
                per_shift = kernels[i].reshape(k, k, channels, filters)
                for u in range(k):
                    for v in range(k):
                        np.matmul(dz, per_shift[u, v].T, out=block["dpatch"])
                        dpadded[:, u:u + height, v:v + width] += (
                            block["dpatch"].reshape(n, height, width, channels))

    beta1, beta2, eps = 0.9, 0.999, 1e-7
    t = 0
    started = time.perf_counter()
    for _ in range(w["epochs"]):
        for rows in batches(len(y), w["batch_size"], rng):
            labels = y[rows]
            a = arrays_for(len(labels))
            forward(rows, a)
            backward(a, labels)
            _flat_adam(params, grads, m, v, tmp, w["lr"] / (1 + w["decay"] * t), t, beta1,
                       beta2, eps)
            t += 1
    seconds = time.perf_counter() - started
    left = [params, grads, m, v, *(block[name] for a in made.values() for block in a["blocks"]
                                   for name in ("padded", "dpadded", "patches", "z", "dz"))]
    step, right = w["batch_size"] or len(y), 0
    for start in range(0, len(y), step):  # predictions batch by batch, in the same arrays
        part = slice(start, start + step)
        scores = forward(part, arrays_for(len(y[part])))
        right += int((scores.argmax(axis=1) == y[part]).sum())
    return dict(seconds=seconds, accuracy=right / len(y), dtypes=dtype_names(left),
                threads=blas_threads())


def run_torch(w, seed, dtype, threads):
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    x, y, network, rng = initial_network(w, seed, dtype)
    torch.manual_seed(seed)
    params = []
    for layer in network.trainable:
        params += [torch.tensor(layer.weights, requires_grad=True),
                   torch.tensor(layer.biases, requires_grad=True)]
    penalised = params[:-2] if w["l2"] else []
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(params, lr=w["lr"], betas=(0.9, 0.999), eps=1e-7)

    conv = w.get("conv", [])

    def scores(inputs, training):
        if conv:  # rows as images, each block Conv2D -> ReLU -> MaxPool2D(2), then flattened
            inputs = inputs.reshape(-1, *w["image"])
            for index in range(0, 2 * len(conv), 2):
                inputs = torch.nn.functional.conv2d(inputs, params[index], params[index + 1],
                                                    padding=w["kernel"] // 2)
                inputs = torch.nn.functional.max_pool2d(torch.relu(inputs), 2)
            inputs = inputs.flatten(1)
        for index in range(2 * len(conv), len(params) - 2, 2):
            inputs = torch.relu(inputs @ params[index] + params[index + 1])
            if w["dropout"]:
                inputs = torch.nn.functional.dropout(inputs, w["dropout"], training)
        return inputs @ params[-2] + params[-1]

    step = 0
    started = time.perf_counter()
    for _ in range(w["epochs"]):
        # The permutations of train.batches, drawn from the same generator.
        order = (torch.from_numpy(rng.permutation(len(y))) if w["batch_size"]
                 else None)
        starts = range(0, len(y), w["batch_size"]) if w["batch_size"] else [0]
        for start in starts:
            index = order[start:start + w["batch_size"]] if order is not None else slice(None)
            for group in optimizer.param_groups:
                group["lr"] = w["lr"] / (1 + w["decay"] * step)
            outputs = scores(xt[index], True)
            loss = torch.nn.functional.cross_entropy(outputs, yt[index])
            for p in penalised:
                loss = loss + w["l2"] * (p * p).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    seconds = time.perf_counter() - started
    arrays = [*params, *(p.grad for p in params), outputs,
              *(value for state in optimizer.state.values() for value in state.values()
                if value.dim())]  # Adam's moments; its step counter is a float32 scalar
    with torch.no_grad():
        accuracy = accuracy_in_blocks(lambda rows: scores(rows, False).argmax(dim=1).numpy(),
                                      xt, y, evaluation_rows(w))
    return dict(seconds=seconds, accuracy=accuracy, dtypes=dtype_names(arrays),
                threads=torch.get_num_threads())


def run_sklearn(w, seed, dtype, threads):
    """scikit-learn's MLPClassifier(hidden_layer_sizes=(64,)) fitted on data.digits(seed)."""
    from sklearn.neural_network import MLPClassifier

    from program import data

    d = data.digits(seed=seed)
    x, x_val = d.x_train.astype(dtype), d.x_val.astype(dtype)
    model = MLPClassifier(hidden_layer_sizes=(64,), random_state=seed)
    started = time.perf_counter()
    model.fit(x, d.y_train)
    seconds = time.perf_counter() - started
    return dict(seconds=seconds, accuracy=float(model.score(x, d.y_train)),
                val_accuracy=float(model.score(x_val, d.y_val)), epochs=model.n_iter_,
                dtypes=dtype_names(model.coefs_ + model.intercepts_), threads=blas_threads())


# implementation -> (runner, the workloads it runs)
RUNNERS = {
    "ours": (run_ours, tuple(WORKLOADS)),
    "minimal": (run_minimal, ("A", "E")),
    "torch": (run_torch, tuple(WORKLOADS)),
    "sklearn": (run_sklearn, ("digits",)),
}


def child(args):
    """Run one measurement and print it as JSON (called by the parent in a subprocess)."""
    impl, workload, seed, dtype = args.child
    if impl not in RUNNERS or workload not in RUNNERS[impl][1]:
        known = "; ".join(f"{name}: {', '.join(runs)}" for name, (_, runs) in RUNNERS.items())
        raise SystemExit(f"bench.py: no child {impl!r} for workload {workload!r} ({known})")
    if args.threads is not None:
        # Before NumPy, torch or a BLAS is loaded: they read these once, at load.
        for name in THREAD_VARIABLES:
            os.environ[name] = str(args.threads)
    import resource

    import numpy as np

    runner = RUNNERS[impl][0]
    w = settings(workload, args.quick) if workload in WORKLOADS else None
    result = runner(w, int(seed), np.dtype(dtype), args.threads)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run(command, env=None):
    """Run ``command`` in this folder: (seconds, standard output); a failure stops the bench."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"bench.py: {shlex.join(command)} exited with status "
                         f"{done.returncode}:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def measure(impl, workload, seed, dtype, threads=None, quick=False):
    """One child's measurement, checked: the dtype and threads it ran with are those asked."""
    env = dict(os.environ)
    command = [sys.executable, str(HERE / "bench.py"), "--child", impl, workload, str(seed),
               dtype]
    if threads is not None:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
        command += ["--threads", str(threads)]
    if quick:
        command.append("--quick")
    _, out = run(command, env)
    result = json.loads(out.strip().splitlines()[-1])
    asked = f"bench.py: child {impl} {workload} {dtype}" + (
        f" with {threads} thread(s)" if threads else "")
    if result["dtypes"] != [dtype]:
        raise SystemExit(f"{asked} left arrays of dtypes {result['dtypes']}")
    if threads is not None and result["threads"] != threads:
        raise SystemExit(f"{asked} ran with {result['threads']} thread(s)")
    return result


def validation_accuracy(output):
    """The validation accuracy a process printed, or None.

    The last "validation accuracy X" of its output (main.py's final line),
    else the "val_accuracy" of a last line in JSON (a ``--child`` of this bench).
    """
    found = re.findall(r"validation accuracy ([0-9]*\.?[0-9]+)", output)
    if found:
        return float(found[-1])
    lines = output.strip().splitlines()
    try:
        return float(json.loads(lines[-1])["val_accuracy"])
    except (IndexError, ValueError, TypeError, KeyError):
        return None


def time_process(command, repeats):
    return statistics.median(run(command)[0] for _ in range(repeats))


# The whole process of this package that stands for a workload in --against.
OUR_PROCESS = {
    "A": ("main.py --optimizer adam --no-plot",
          ["main.py", "--optimizer", "adam", "--no-plot", "--log-level", "WARNING"]),
    "B": ("bench.py --child ours B 0 float32",
          ["bench.py", "--child", "ours", "B", "0", "float32"]),
    "digits": ("main.py --dataset digits --no-plot",
               ["main.py", "--dataset", "digits", "--no-plot", "--log-level", "WARNING"]),
}


def time_against(workload, command, repeats):
    """Ours and ``command`` timed in turn, ours first.

    Returns (our seconds, their seconds, [ours / theirs per pair], our
    validation accuracies, theirs), the times medians over the pairs.
    Alternating the two puts both through the same moments of a shared,
    noisy machine, so the ratio of each pair holds when absolute times drift.
    """
    ours = [sys.executable, *OUR_PROCESS[workload][1]]
    run(ours), run(command)  # a first pair, not counted: warm caches
    pairs = [(run(ours), run(command)) for _ in range(repeats)]
    return (statistics.median(p[0][0] for p in pairs),
            statistics.median(p[1][0] for p in pairs),
            [p[0][0] / p[1][0] for p in pairs],
            [validation_accuracy(p[0][1]) for p in pairs],
            [validation_accuracy(p[1][1]) for p in pairs])


def shown_accuracy(values):
    """'0.976', '0.970-0.976' when runs differ, '?' when a process printed none."""
    values = [v for v in values if v is not None]
    if not values:
        return "?"
    low, high = min(values), max(values)
    return f"{low:.3f}" if low == high else f"{low:.3f}-{high:.3f}"


def parse_against(spec, parser):
    """'W:NAME=COMMAND' -> (W, NAME, [command words]), or a usage error."""
    workload, colon, rest = spec.partition(":")
    name, equals, command = rest.partition("=")
    if not (colon and equals and name and command.strip()):
        parser.error(f"argument --against: expected W:NAME=COMMAND, got {spec!r}")
    if workload not in OUR_PROCESS:
        parser.error(f"argument --against: workload {workload!r} has no process of ours "
                     f"(choose from {', '.join(OUR_PROCESS)})")
    return workload, name, shlex.split(command)


def torch_available():
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return probe.returncode == 0


def plan(workload, use_torch):
    """The rows of a workload: (implementation, dtype, threads or None for the default)."""
    if workload == "E":  # float32 only (one epoch of convolutions); the floor on one thread
        rows = [("ours", "float32", None), ("ours", "float32", 1), ("minimal", "float32", 1)]
    else:
        rows = [("ours", "float32", None), ("ours", "float64", None)]
    if workload == "A":
        rows.append(("minimal", "float64", None))
    if workload == "D":  # the target compares ours with torch on one thread: thread for thread
        rows.append(("ours", "float32", 1))
    if use_torch:
        rows += [("torch", "float32", 1), ("torch", "float32", 2)]
    return rows


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", choices=sorted(WORKLOADS),
                        default=sorted(WORKLOADS),
                        help="which workloads (default: all; the flag alone: none, e.g. to "
                             "run --against alone)")
    parser.add_argument("--repeats", type=cli.whole_number(1), default=3,
                        help="runs per figure (default: 3)")
    parser.add_argument("--seeds", type=cli.whole_number(0, cli.MAX_SEED), nargs="+", default=[0],
                        help="seeds: timing uses the first; this package's accuracy is "
                             "reported for each (default: 0)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch loops")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test of the bench: each workload with a tenth of its "
                             "samples and epochs (at least 1); not the workloads' figures")
    parser.add_argument("--process", action="append", default=[], metavar="NAME=COMMAND",
                        help="also time a whole process, e.g. a reference program kept "
                             "outside this repository (repeatable)")
    parser.add_argument("--against", action="append", default=[],
                        metavar="W:NAME=COMMAND",
                        help="time a whole process in alternation with this package's process "
                             f"for workload W ({', '.join(OUR_PROCESS)}; see above) and "
                             "report the ratio of each pair, e.g. 'A:book-ch10=python "
                             "../nnfs_book/Chapter_10/Ch10_Final.py' (repeatable)")
    # A child: --child IMPL WORKLOAD SEED DTYPE [--threads N] [--quick]
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    return parser


def parse_process(spec, parser):
    """'NAME=COMMAND' -> (NAME, [command words]), or a usage error."""
    name, equals, command = spec.partition("=")
    if not (equals and name and command.strip()):
        parser.error(f"argument --process: expected NAME=COMMAND, got {spec!r}")
    return name, shlex.split(command)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    against = [parse_against(spec, parser) for spec in args.against]
    extra = [parse_process(spec, parser) for spec in args.process]

    use_torch = not args.no_torch and torch_available()
    if not args.no_torch and not use_torch:
        print("torch is not installed: timing this package alone")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"median of {args.repeats}, seeds {args.seeds}"
          + (", QUICK: a tenth of each workload" if args.quick else "") + "\n")
    if args.workloads:
        print(f"{'workload':8} {'implementation':18} {'seconds':>8} {'epochs/s':>9} "
              f"{'peak MB':>8}  final training accuracy (per seed)")
    for workload in args.workloads:
        epochs = settings(workload, args.quick)["epochs"]
        for impl, dtype, threads in plan(workload, use_torch):
            # Timed on the first seed; ours also runs once on each further seed,
            # for the accuracy comparison of float32 with float64.
            timed = [measure(impl, workload, args.seeds[0], dtype, threads, args.quick)
                     for _ in range(args.repeats)]
            accuracies = [timed[0]["accuracy"]]
            if impl == "ours":
                accuracies += [measure(impl, workload, seed, dtype, threads,
                                       args.quick)["accuracy"]
                               for seed in args.seeds[1:]]
            seconds = statistics.median(r["seconds"] for r in timed)
            peak = statistics.median(r["peak_mb"] for r in timed)
            # What the child reports it ran with (checked against what was asked).
            ran = timed[0]["threads"]
            label = f"{impl} {timed[0]['dtypes'][0]} {ran or '?'}T"
            shown = " ".join(f"{a:.3f}" for a in accuracies)
            if len(accuracies) > 1:
                shown += f"  (mean {statistics.mean(accuracies):.3f})"
            rate = epochs / seconds
            print(f"{workload:8} {label:18} {seconds:8.2f} "
                  f"{rate:9.{0 if rate >= 100 else 2}f} {peak:8.0f}  {shown}", flush=True)
    if args.workloads:
        print()
    processes = [("main.py --help", [sys.executable, "main.py", "--help"]),
                 ("main.py --optimizer adam --no-plot",
                  [sys.executable, "main.py", "--optimizer", "adam", "--no-plot",
                   "--log-level", "WARNING"])]
    processes += extra
    for name, command in processes:
        print(f"process  {name:40} {time_process(command, args.repeats):8.2f} s", flush=True)
    for workload, name, command in against:
        ours, theirs, ratios, our_acc, their_acc = time_against(workload, command,
                                                                args.repeats)
        print(f"against  {workload}: {OUR_PROCESS[workload][0]} {ours:.2f} s, {name} "
              f"{theirs:.2f} s; ratio per pair: median {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})", flush=True)
        if any(a is not None for a in our_acc + their_acc):
            print(f"         validation accuracy: ours {shown_accuracy(our_acc)}, "
                  f"{name} {shown_accuracy(their_acc)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
