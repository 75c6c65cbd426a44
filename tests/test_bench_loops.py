"""The bench's timed loops, run in-process on tiny workloads: each one trains the network it says.

A child process only prints a summary (seconds, accuracy, dtypes, threads);
these tests look at what each loop leaves behind when it stops its clock,
so that "ours", "minimal", "torch" and "sklearn" are known to train the same
data, from the same initial weights, with the same schedule.
"""

import itertools
import sys
import time

import numpy as np
import pytest

import bench
import optimizers
from heads import Classes
from program import data
from program import train as train_module
from program.model import build

# A's shape (full batch, spiral data, one hidden layer) at a size that runs in milliseconds.
TINY_A = dict(bench.settings("A"), samples=10, hidden=[6], epochs=4, lr=0.05, decay=0.1)
# With mini-batches, two hidden layers and the L2 penalty of B.
TINY_C = dict(bench.settings("C"), samples=12, hidden=[5, 4], epochs=3, batch_size=8,
              lr=0.02, decay=0.05, l2=0.01)
# E's shape (images through two convolution blocks, teacher blocks) on 8x8 images, with a
# last mini-batch shorter than the others.
TINY_E = dict(bench.settings("E"), samples=40, features=64, image=(1, 8, 8), block=4,
              conv=[3, 4], hidden=[5], batch_size=16, epochs=2, lr=0.01, decay=0.1)
# One block on two-channel images, with 5x5 kernels.
TINY_E5 = dict(TINY_E, features=128, image=(2, 8, 8), block=1, conv=[3], kernel=5)
F64 = np.dtype("float64")
F32 = np.dtype("float32")


@pytest.fixture
def clock(monkeypatch):
    """bench's clock reads 10.0, then 12.5, and again (each loop timed at 2.5 s).

    Returns the local variables of the bench function that read the clock
    last: at the second reading, what the timed loop left behind.
    """
    real = time.perf_counter
    readings = itertools.cycle([10.0, 12.5])
    held = {}

    def perf_counter():
        caller = sys._getframe(1)
        if caller.f_code.co_filename != bench.__file__:
            return real()
        held.clear()
        held.update(caller.f_locals)
        return next(readings)

    monkeypatch.setattr(time, "perf_counter", perf_counter)
    return held


def adam_reference(w, seed, dtype):
    """The network of ``initial_network`` after train() with the workload's Adam schedule."""
    x, y, network, rng = bench.initial_network(w, seed, dtype)
    optimizer = optimizers.Adam(learning_rate=w["lr"], decay=w["decay"])
    result = train_module.train(network, optimizer, x, y, x[:1], y[:1], epochs=w["epochs"],
                                batch_size=w["batch_size"], rng=rng)
    return network, optimizer, result


# -- the data and the initial network ---------------------------------------------------------

def test_spiral_workloads_train_on_the_seeds_spiral_in_the_dtype_asked():
    w = dict(TINY_A, samples=7, classes=4)
    x, y, _, _ = bench.initial_network(w, 5, F32)
    expected = data.spiral(5, 7, 4)
    assert x.dtype == F32 and x.shape == (28, 2)
    np.testing.assert_array_equal(x, expected.x_train.astype(np.float32))
    np.testing.assert_array_equal(y, expected.y_train)


def test_the_initial_network_and_the_shuffling_come_from_the_seeds_children():
    w = dict(TINY_C, dropout=0.25)
    x, _, network, rng = bench.initial_network(w, 3, F32)
    weights_seed, shuffle_seed, _ = np.random.SeedSequence(3).spawn(3)
    expected = build(2, [5, 4], 3, Classes(), dropout=0.25, l2=0.01,
                     rng=np.random.default_rng(weights_seed), dtype=np.float32)
    assert [type(layer) for layer in network.layers] == [type(layer) for layer in expected.layers]
    for got, want in zip(network.trainable, expected.trainable, strict=True):
        assert got.weights.dtype == np.float32
        np.testing.assert_array_equal(got.weights, want.weights)
        np.testing.assert_array_equal(got.biases, want.biases)
    assert [layer.weight_regularizer_l2 for layer in network.trainable] == [0.01, 0.01, 0.0]
    assert [layer.rate for layer in network.layers if hasattr(layer, "rate")] == [0.25, 0.25]
    # The dropout masks come from the weights' generator, after the weights.
    np.testing.assert_array_equal(network.layers[2].rng.random(3), expected.layers[2].rng.random(3))
    assert rng.integers(1 << 30) == np.random.default_rng(shuffle_seed).integers(1 << 30)


def test_teacher_workloads_train_on_the_teacher_data_of_the_seeds_third_child():
    w = dict(bench.settings("D"), samples=9, features=5, classes=4, hidden=[3])
    x, y, network, _ = bench.initial_network(w, 2, F32)
    want_x, want_y = bench.teacher_data(np.random.SeedSequence(2).spawn(3)[2], 9, 5, 4, F32)
    assert x.dtype == F32 and network.trainable[0].weights.shape == (5, 3)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)


def test_image_workloads_train_mains_conv_network_on_block_teacher_images():
    x, y, network, rng = bench.initial_network(TINY_E, 2, F32)
    weights_seed, shuffle_seed, data_seed = np.random.SeedSequence(2).spawn(3)
    want_x, want_y = bench.teacher_data(data_seed, 40, 64, 10, F32, block=4)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)
    expected = build(64, [5], 10, Classes(), conv=[3, 4], kernel=3, image_shape=(1, 8, 8),
                     rng=np.random.default_rng(weights_seed), dtype=np.float32)
    assert [type(layer) for layer in network.layers] == [type(layer) for layer in expected.layers]
    assert [layer.weights.shape for layer in network.trainable] == [
        (3, 1, 3, 3), (4, 3, 3, 3), (16, 5), (5, 10)]
    for got, want in zip(network.trainable, expected.trainable, strict=True):
        assert got.weights.dtype == np.float32
        np.testing.assert_array_equal(got.weights, want.weights)
        np.testing.assert_array_equal(got.biases, want.biases)
    assert rng.integers(1 << 30) == np.random.default_rng(shuffle_seed).integers(1 << 30)


def test_teacher_labels_are_the_argmax_of_the_scaled_teacher_plus_noise():
    samples, features, classes = 4100, 3, 4  # more rows than one block of 4096
    x, y = bench.teacher_data(np.random.SeedSequence(8), samples, features, classes, F64)
    teacher_seed, input_seed, noise_seed = np.random.SeedSequence(8).spawn(3)
    teacher = (np.random.default_rng(teacher_seed).standard_normal((features, classes))
               / np.sqrt(features))
    inputs, noises = np.random.default_rng(input_seed), np.random.default_rng(noise_seed)
    want_x = np.concatenate([inputs.standard_normal((4096, features), np.float32),
                             inputs.standard_normal((4, features), np.float32)])
    noise = np.concatenate([noises.standard_normal((4096, classes)),
                            noises.standard_normal((4, classes))])
    np.testing.assert_array_equal(x, want_x.astype(np.float64))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, (want_x.astype(np.float64) @ teacher
                                      + 0.2 * noise).argmax(axis=1))


def test_a_block_teacher_is_constant_on_the_squares_of_the_image():
    side, block, classes = 6, 3, 4
    x, y = bench.teacher_data(np.random.SeedSequence(5), 50, side * side, classes, F64,
                              block=block)
    teacher_seed, input_seed, noise_seed = np.random.SeedSequence(5).spawn(3)
    squares = np.random.default_rng(teacher_seed).standard_normal((2, 2, classes))
    rows, cols = np.divmod(np.arange(side * side), side)  # pixel p is (p // side, p % side)
    teacher = squares[rows // block, cols // block] / side  # 1 / sqrt(features)
    want_x = np.random.default_rng(input_seed).standard_normal((50, side * side), np.float32)
    noise = np.random.default_rng(noise_seed).standard_normal((50, classes))
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, (want_x.astype(np.float64) @ teacher
                                      + 0.2 * noise).argmax(axis=1))
    # Images whose 3x3 squares have the same sums have the same class (noise aside).
    image = want_x[0].reshape(2, 3, 2, 3).astype(np.float64)
    shuffled = image[:, ::-1, :, ::-1].reshape(-1)  # every pixel moved within its square
    np.testing.assert_allclose(shuffled @ teacher, want_x[0] @ teacher, rtol=1e-12)


def test_a_block_teacher_needs_a_square_image_whose_side_the_block_divides():
    for features, block in ((50, 5), (36, 4)):
        with pytest.raises(ValueError) as error:
            bench.teacher_data(np.random.SeedSequence(0), 3, features, 2, F32, block=block)
        assert str(error.value) == (f"teacher blocks of {block}: {features} features are not "
                                    "a square image whose side the block divides")


def test_teacher_inputs_are_the_same_numbers_in_float32_and_float64():
    x32, y32 = bench.teacher_data(np.random.SeedSequence(1), 30, 4, 3, F32)
    x64, y64 = bench.teacher_data(np.random.SeedSequence(1), 30, 4, 3, F64)
    assert x64.dtype == F64
    np.testing.assert_array_equal(x64, x32.astype(np.float64))
    np.testing.assert_array_equal(y64, y32)


# -- ours -----------------------------------------------------------------------------------

@pytest.mark.parametrize("w", [TINY_A, TINY_C, TINY_E],
                         ids=["full-batch", "mini-batches", "convolution"])
def test_ours_times_train_with_the_workloads_adam_schedule(clock, w):
    result = bench.run_ours(w, 4, F64, None)
    network, optimizer, _ = adam_reference(w, 4, F64)
    for got, want in zip(clock["network"].trainable, network.trainable, strict=True):
        np.testing.assert_array_equal(got.weights, want.weights)
        np.testing.assert_array_equal(got.biases, want.biases)
    assert clock["optimizer"].current_learning_rate == optimizer.current_learning_rate
    assert result["seconds"] == 2.5
    x, y = clock["x"], clock["y"]
    assert result["accuracy"] == np.mean(network.predict(x) == y)
    assert result["dtypes"] == ["float64"] and result["threads"] == bench.blas_threads()


def test_ours_runs_the_fused_adam_and_evaluates_only_its_first_and_last_epochs(clock,
                                                                              monkeypatch):
    results = []

    def train(*args, **kwargs):
        results.append(real_train(*args, **kwargs))
        return results[-1]

    real_train = train_module.train
    monkeypatch.setattr(train_module, "train", train)
    bench.run_ours(dict(TINY_A, epochs=101), 0, F32, None)
    assert [row["epoch"] for row in results[0].rows] == [1, 101]
    # fused: every parameter is a view of the optimizer's one flat array
    flat = clock["network"].trainable[0].weights.base
    assert flat is not None and flat.ndim == 1
    assert all(array.base is flat for layer in clock["network"].trainable
               for array in (layer.weights, layer.biases))


def test_ours_checks_the_dtype_of_every_array_its_loop_leaves_behind(monkeypatch):
    checked = []

    def dtype_names(arrays):
        checked.extend(array.copy() for array in arrays)
        return real(arrays)

    real = bench.dtype_names
    monkeypatch.setattr(bench, "dtype_names", dtype_names)
    bench.run_ours(TINY_A, 0, F32, None)
    network, optimizer, _ = adam_reference(TINY_A, 0, F32)
    expected = [network.head.output, network.head.dinputs]
    for layer in network.layers:
        expected += [getattr(layer, name) for name in ("output", "dinputs", "weights", "biases",
                                                       "dweights", "dbiases")
                     if getattr(layer, name, None) is not None]
    for layer in network.trainable:
        expected += [*optimizer.state(layer.weights).values(),
                     *optimizer.state(layer.biases).values()]
    # the first layer computes no input gradient
    assert len(checked) == len(expected) == 2 + 5 + 2 + 6 + 8
    for got, want in zip(checked, expected, strict=True):
        np.testing.assert_array_equal(got, want)


# -- minimal --------------------------------------------------------------------------------

def minimal_parameters(held):
    """The minimal loop's parameters, as (weights, biases) per layer."""
    return [(held["w1"], held["b1"]), (held["w2"], held["b2"])]


def test_the_minimal_loop_ends_where_ours_does(clock):
    w = dict(TINY_A, epochs=6)
    result = bench.run_minimal(w, 2, F64, None)
    network, _, _ = adam_reference(w, 2, F64)
    for (weights, biases), want in zip(minimal_parameters(clock), network.trainable,
                                       strict=True):
        np.testing.assert_allclose(weights, want.weights, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(biases, want.biases, rtol=1e-9, atol=1e-12)
    assert result["seconds"] == 2.5
    assert result["dtypes"] == ["float64"] and result["threads"] == bench.blas_threads()
    assert result["accuracy"] == np.mean(network.predict(clock["x"]) == clock["y"])


def test_the_minimal_loop_in_float32_leaves_only_float32_arrays():
    result = bench.run_minimal(TINY_A, 0, F32, None)
    assert result["dtypes"] == ["float32"]


def test_the_minimal_loops_parameters_are_views_of_one_flat_buffer(clock):
    bench.run_minimal(TINY_A, 0, F64, None)
    params, grads = clock["params"], clock["grads"]
    sizes = [2 * 6, 6, 6 * 3, 3]
    assert params.shape == grads.shape == (sum(sizes),)
    starts = np.cumsum([0, *sizes[:-1]])
    for view, start, size in zip(minimal_parameters(clock), starts[::2], sizes[::2], strict=True):
        assert np.shares_memory(view[0], params)
        np.testing.assert_array_equal(view[0].ravel(), params[start:start + size])
    np.testing.assert_array_equal(clock["b2"].ravel(), params[-3:])
    np.testing.assert_array_equal(clock["db2"].ravel(), grads[-3:])


def test_the_minimal_loop_predicts_with_its_output_biases(clock):
    result = bench.run_minimal(TINY_A, 2, F64, None)
    x, y, w1, b1, w2, b2 = (clock[name] for name in ("x", "y", "w1", "b1", "w2", "b2"))
    hidden = np.maximum(x @ w1 + b1, 0)
    assert result["accuracy"] == np.mean((hidden @ w2 + b2).argmax(axis=1) == y) == 0.4
    assert np.mean((hidden @ w2 - b2).argmax(axis=1) == y) != 0.4  # the biases count here


@pytest.mark.parametrize("runner", ["run_ours", "run_torch"])
def test_images_are_evaluated_in_small_blocks_so_the_peak_memory_is_the_trainings(
        monkeypatch, runner):
    if runner == "run_torch":
        pytest.importorskip("torch")
    blocks = []

    def accuracy_in_blocks(predict, x, y, rows=8192):
        blocks.append(rows)
        return 0.5

    monkeypatch.setattr(bench, "accuracy_in_blocks", accuracy_in_blocks)
    getattr(bench, runner)(dict(TINY_E, epochs=1), 0, F32, None)
    getattr(bench, runner)(dict(TINY_A, epochs=1), 0, F32, None)
    assert blocks == [256, 8192]


# -- minimal, with convolutions (E's floor) ---------------------------------------------------

def floor_parameters(held):
    """The conv floor's parameters, back in this package's layouts: (weights, biases) per layer."""
    image = held["shapes"][-1]
    layers = [(bench.conv_weights(kernel, layer.weights.shape), bias)
              for kernel, bias, layer in zip(held["kernels"], held["kernel_biases"],
                                             held["convs"], strict=True)]
    layers.append((bench.channels_first_rows(held["weights"][0], image), held["biases"][0]))
    return layers + list(zip(held["weights"][1:], held["biases"][1:], strict=True))


@pytest.mark.parametrize("w", [TINY_E, TINY_E5], ids=["two-blocks", "5x5-two-channels"])
def test_the_conv_floor_ends_where_ours_does(clock, w):
    result = bench.run_minimal(w, 3, F64, None)
    network, _, _ = adam_reference(w, 3, F64)
    for (weights, biases), want in zip(floor_parameters(clock), network.trainable, strict=True):
        np.testing.assert_allclose(weights, want.weights, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(biases, want.biases.ravel(), rtol=1e-9, atol=1e-12)
    assert result["seconds"] == 2.5
    assert result["dtypes"] == ["float64"] and result["threads"] == bench.blas_threads()
    assert result["accuracy"] == np.mean(network.predict(clock["x"]) == clock["y"])
    assert sorted(clock["made"]) == [8, 16]  # 40 images: two batches of 16, then 8


def test_the_conv_floor_in_float32_leaves_only_float32_arrays():
    assert bench.run_minimal(TINY_E, 0, F32, None)["dtypes"] == ["float32"]


def test_the_conv_floors_layouts_are_this_packages_read_channels_last():
    rng = np.random.default_rng(0)
    kernels = rng.standard_normal((4, 2, 3, 3))  # (O, C, k, k)
    matrix = bench.patch_matrix(kernels)
    assert matrix.shape == (18, 4)
    for o, c, u, v in itertools.product(range(4), range(2), range(3), range(3)):
        assert matrix[(u * 3 + v) * 2 + c, o] == kernels[o, c, u, v]
    np.testing.assert_array_equal(bench.conv_weights(matrix, kernels.shape), kernels)
    # A Dense after Flatten: the same outputs from an image flattened channels last.
    image = rng.standard_normal((3, 2, 5))  # (C, H, W)
    weights = rng.standard_normal((30, 7))
    last = bench.channels_last_rows(weights, (3, 2, 5))
    np.testing.assert_allclose(image.transpose(1, 2, 0).reshape(-1) @ last,
                               image.reshape(-1) @ weights, rtol=1e-12)
    np.testing.assert_array_equal(bench.channels_first_rows(last, (3, 2, 5)), weights)


# -- torch ----------------------------------------------------------------------------------

@pytest.mark.parametrize("w", [TINY_A, TINY_C, TINY_E, dict(TINY_E5, l2=0.01)],
                         ids=["full-batch", "mini-batches-l2", "convolution", "5x5-conv-l2"])
def test_the_torch_loop_ends_where_ours_does(clock, w):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        result = bench.run_torch(w, 6, F64, 1)
        assert torch.get_num_threads() == 1 and result["threads"] == 1
    finally:
        torch.set_num_threads(before)
    network, _, _ = adam_reference(w, 6, F64)
    params = clock["params"]
    assert len(params) == 2 * len(network.trainable)
    for index, layer in enumerate(network.trainable):
        np.testing.assert_allclose(params[2 * index].detach().numpy(), layer.weights,
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(params[2 * index + 1].detach().numpy(), layer.biases,
                                   rtol=1e-9, atol=1e-12)
    batches = -(-len(clock["y"]) // w["batch_size"]) if w["batch_size"] else 1
    assert clock["step"] == w["epochs"] * batches
    assert clock["optimizer"].param_groups[0]["lr"] == pytest.approx(
        w["lr"] / (1 + w["decay"] * (clock["step"] - 1)), rel=1e-15)
    assert result["seconds"] == 2.5 and result["dtypes"] == ["float64"]
    assert result["accuracy"] == np.mean(network.predict(clock["x"]) == clock["y"])


def test_the_torch_loop_checks_the_dtype_of_its_parameters_gradients_outputs_and_moments(
        clock, monkeypatch):
    pytest.importorskip("torch")
    checked = []

    def dtype_names(arrays):
        checked.extend(arrays)
        return real(arrays)

    real = bench.dtype_names
    monkeypatch.setattr(bench, "dtype_names", dtype_names)
    bench.run_torch(dict(TINY_A, epochs=2), 0, F64, None)
    params, optimizer = clock["params"], clock["optimizer"]
    moments = [optimizer.state[p][name] for p in params for name in ("exp_avg", "exp_avg_sq")]
    expected = [*params, *(p.grad for p in params), clock["outputs"], *moments]
    assert len(checked) == len(expected) == 4 + 4 + 1 + 8
    assert all(a is b for a, b in zip(checked, expected, strict=True))


def test_the_torch_loop_keeps_its_thread_count_unless_given_one(clock):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    result = bench.run_torch(dict(TINY_A, epochs=1), 0, F32, None)
    assert torch.get_num_threads() == before and result["threads"] == before
    assert result["dtypes"] == ["float32"]


def test_the_torch_loop_uses_dropout_while_training_only(clock):
    torch = pytest.importorskip("torch")
    w = dict(TINY_A, epochs=5, dropout=0.5)
    result = bench.run_torch(w, 2, F64, None)
    x = clock["xt"]
    with torch.no_grad():
        torch.manual_seed(1)
        train_scores = clock["scores"](x, True)
        test_scores = clock["scores"](x, False)
        hidden = torch.relu(x @ clock["params"][0] + clock["params"][1])
        plain = hidden @ clock["params"][2] + clock["params"][3]
        torch.manual_seed(1)
        dropped = torch.nn.functional.dropout(hidden, 0.5, True)
    torch.testing.assert_close(test_scores, plain)
    torch.testing.assert_close(train_scores, dropped @ clock["params"][2] + clock["params"][3])
    assert not torch.equal(train_scores, plain)
    assert result["accuracy"] == float((plain.argmax(dim=1).numpy() == clock["y"]).mean())


# -- scikit-learn ---------------------------------------------------------------------------

def test_the_sklearn_child_fits_mlpclassifier_on_the_digits_training_part(clock, monkeypatch):
    pytest.importorskip("sklearn")
    import sklearn.exceptions
    import sklearn.neural_network

    fitted, scored = [], []

    class Short(sklearn.neural_network.MLPClassifier):
        """The child's MLPClassifier, stopped after 3 iterations."""

        def __init__(self, hidden_layer_sizes, random_state):
            super().__init__(hidden_layer_sizes=hidden_layer_sizes, random_state=random_state,
                             max_iter=3)

        def fit(self, x, y):
            fitted.append((self, x, y))
            return super().fit(x, y)

        def score(self, x, y):
            scored.append(x.dtype)
            return super().score(x, y)

    monkeypatch.setattr(sklearn.neural_network, "MLPClassifier", Short)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        result = bench.run_sklearn(None, 7, F32, None)
    assert scored == [np.float32, np.float32]  # the training part, then the validation part
    (model, x, y), = fitted
    digits = data.digits(seed=7)
    assert model.hidden_layer_sizes == (64,) and model.random_state == 7
    np.testing.assert_array_equal(x, digits.x_train.astype(np.float32))
    np.testing.assert_array_equal(y, digits.y_train)
    assert result["seconds"] == 2.5 and result["epochs"] == 3
    assert result["accuracy"] == model.score(digits.x_train.astype(np.float32), digits.y_train)
    assert result["val_accuracy"] == model.score(digits.x_val.astype(np.float32), digits.y_val)
    assert result["accuracy"] != result["val_accuracy"]
    assert result["dtypes"] == ["float32"] and result["threads"] == bench.blas_threads()


# -- the pieces of a child's report -----------------------------------------------------------

def test_accuracy_in_blocks_counts_every_row_once():
    y = np.array([0, 1, 1, 0, 1])
    seen = []

    def predict(rows):
        seen.append(len(rows))
        return rows

    assert bench.accuracy_in_blocks(predict, np.array([0, 1, 0, 0, 0]), y, rows=2) == 3 / 5
    assert seen == [2, 2, 1]
    assert bench.accuracy_in_blocks(predict, np.ones(8193, int), np.ones(8193, int)) == 1.0
    assert seen[3:] == [8192, 1]
    assert bench.accuracy_in_blocks(predict, np.array([1, 0]), np.array([0, 0]), rows=1) == 0.5


def test_dtype_names_are_distinct_sorted_and_without_torchs_prefix():
    class Tensor:
        def __init__(self, dtype):
            self.dtype = dtype

    arrays = [np.zeros(1, np.float64), np.zeros(2, np.float32), np.zeros(3, np.float32),
              Tensor("torch.float16")]
    assert bench.dtype_names(arrays) == ["float16", "float32", "float64"]


def test_blas_threads_is_the_most_threads_of_any_blas(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    pools = [dict(user_api="blas", num_threads=3), dict(user_api="openmp", num_threads=9),
             dict(user_api="blas", num_threads=5)]
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: pools)
    assert bench.blas_threads() == 5
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: pools[1:2])
    assert bench.blas_threads() is None


def test_blas_threads_is_unknown_without_threadpoolctl(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    assert bench.blas_threads() is None


def test_the_minimal_loops_softmax_is_stable_for_scores_in_the_thousands(clock, monkeypatch):
    real = bench.initial_network

    def far_out(w, seed, dtype):  # inputs 10^7 times the spiral's: scores far beyond exp's range
        x, y, network, rng = real(w, seed, dtype)
        return x * 1e7, y, network, rng

    monkeypatch.setattr(bench, "initial_network", far_out)
    w = dict(TINY_A, epochs=2)
    bench.run_minimal(w, 2, F64, None)
    x, y, network, rng = far_out(w, 2, F64)
    scores = np.maximum(x @ network.trainable[0].weights, 0) @ network.trainable[1].weights
    assert np.ptp(scores.max(axis=1)) > 1000 and scores.max() > 1000
    train_module.train(network, optimizers.Adam(learning_rate=w["lr"], decay=w["decay"]), x, y,
                       x[:1], y[:1], epochs=2, rng=rng)
    for (weights, biases), want in zip(minimal_parameters(clock), network.trainable,
                                       strict=True):
        np.testing.assert_allclose(weights, want.weights, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(biases, want.biases, rtol=1e-9, atol=1e-12)


def test_the_torch_loop_trains_with_dropout_on(clock):
    pytest.importorskip("torch")
    finals = []
    for rate in (0.0, 0.25):
        bench.run_torch(dict(TINY_A, epochs=2, dropout=rate), 0, F64, None)
        finals.append([p.detach().numpy().copy() for p in clock["params"]])
        clock.clear()
    assert not np.array_equal(finals[0][0], finals[1][0])
