import numpy as np
import pytest

import fast
from activations import ReLU, Sigmoid
from heads import AbsoluteError, Binary, Classes, SquaredError
from layers import Dense, Dropout
from optimizers import Adam
from program.gradcheck import numerical_gradient
from program.model import Network, build

from checks import assert_gradient_matches


def test_build_places_layers_and_regularisation():
    net = build(2, [8, 4], 3, Classes(), dropout=0.1, l1=1e-3, l2=2e-3)
    kinds = [type(layer) for layer in net.layers]
    # The program's dropout is fast.Dropout, layers.Dropout's masks drawn from raw bits.
    assert kinds == [Dense, ReLU, fast.Dropout, Dense, ReLU, fast.Dropout, Dense]
    assert issubclass(fast.Dropout, Dropout)
    hidden, output = net.trainable[:-1], net.trainable[-1]
    assert all(layer.weight_regularizer_l1 == layer.bias_regularizer_l1 == 1e-3
               for layer in hidden)
    assert all(layer.weight_regularizer_l2 == layer.bias_regularizer_l2 == 2e-3
               for layer in hidden)
    assert output.weight_regularizer_l2 == 0 and output.weights.shape == (4, 3)
    assert net.widths() == [2, 8, 4, 3]


def test_build_draws_weights_at_the_given_scale_from_the_given_generator():
    net = build(1, [3], 1, SquaredError(), weight_scale=0.1, rng=np.random.default_rng(4))
    draws = np.random.default_rng(4)
    np.testing.assert_array_equal(net.trainable[0].weights, 0.1 * draws.standard_normal((1, 3)))
    np.testing.assert_array_equal(net.trainable[1].weights, 0.1 * draws.standard_normal((3, 1)))


@pytest.mark.parametrize("hidden, message", [
    (64, r"hidden must be a list of widths, e\.g\. \[64\], got 64"),
    ("64", "hidden must be a list of widths"),
    ([64, 0], r"every width must be a whole number >= 1: got 0 in 2-64-0-3"),
    ([2.5], r"got 2\.5"),
])
def test_build_refuses_bad_widths(hidden, message):
    with pytest.raises(ValueError, match=message):
        build(2, hidden, 3, Classes())


def test_any_stack_of_layers_and_a_head():
    rng = np.random.default_rng(0)
    net = Network([Dense(3, 4, rng=rng), Sigmoid(), Dense(4, 1, rng=rng)], Binary())
    x, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    loss = net.forward(x, y, training=True)
    assert 0 < loss < 1
    assert net.predict(x).shape == (10, 1) and set(np.unique(net.predict(x))) <= {0, 1}
    assert [name for name, _ in net.parameters()] == [
        "dense0.weights", "dense0.biases", "dense1.weights", "dense1.biases"]


@pytest.mark.parametrize("head, targets", [
    (Classes(), lambda rng, n: rng.integers(0, 3, n)),
    (Binary(), lambda rng, n: rng.integers(0, 2, (n, 3))),
    (SquaredError(), lambda rng, n: rng.standard_normal((n, 3))),
    (AbsoluteError(), lambda rng, n: rng.standard_normal((n, 3)) + 5),
])
def test_network_gradients_through_every_head(head, targets):
    rng = np.random.default_rng(1)
    net = build(4, [6], 3, head, l1=1e-3, l2=1e-3, rng=rng)
    for layer in net.trainable:  # weights away from 0, the kink of |w|
        layer.weights += np.sign(layer.weights) * 0.5
        layer.biases += 0.3
    x, y = rng.standard_normal((9, 4)), targets(rng, 9)

    def total_loss():
        return net.forward(x, y) + net.regularization_loss()

    total_loss()
    net.backward(y)
    for name, param in net.parameters():
        layer = net.trainable[int(name[5])]
        analytic = (layer.dweights if name.endswith("weights") else layer.dbiases).copy()
        assert_gradient_matches(analytic, numerical_gradient(total_loss, param))


def test_first_layer_skips_the_gradient_of_the_data():
    net = build(2, [4], 3, Classes())
    x, y = np.ones((5, 2)), np.zeros(5, dtype=int)
    net.forward(x, y)
    net.backward(y)
    assert net.trainable[0].dinputs is None and net.trainable[1].dinputs.shape == (5, 4)


def test_regression_network_learns_a_line_through_the_python_api():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 1))
    y = 3 * x - 1
    net = build(1, [16], 1, SquaredError(), weight_scale=0.1, rng=rng)
    optimizer = Adam(0.01)
    for _ in range(500):
        net.forward(x, y, training=True)
        net.backward(y)
        optimizer.step(net.trainable)
    figures = net.evaluate(x, y)
    assert figures["loss"] < 1e-3 and figures["r2"] > 0.999
    np.testing.assert_allclose(net.predict(np.array([[0.5]])), [[0.5]], atol=0.05)


def test_evaluate_has_dropout_off_and_changes_nothing():
    rng = np.random.default_rng(0)
    net = build(2, [16], 3, Classes(), dropout=0.5, rng=rng)
    x, y = rng.standard_normal((20, 2)), rng.integers(0, 3, 20)
    params = [p.copy() for _, p in net.parameters()]
    first, second = net.evaluate(x, y), net.evaluate(x, y)
    assert first == second and set(first) == {"loss", "accuracy"}
    assert all(np.array_equal(a, b) for a, b in
               zip(params, (p for _, p in net.parameters()), strict=True))
    np.testing.assert_array_equal(net.outputs(x).argmax(axis=1), net.predict(x))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["weights", "biases"])
def test_is_finite_detects_every_non_finite_parameter(value, where):
    net = build(2, [4], 3, Classes())
    assert net.is_finite()
    getattr(net.trainable[1], where)[0, -1] = value
    assert not net.is_finite()


def test_a_network_needs_a_layer():
    with pytest.raises(ValueError, match="at least one layer"):
        Network([], Classes())


def test_forward_trains_with_dropout_only_when_asked():
    x, y = np.ones((50, 2)), np.zeros(50, dtype=int)
    net = build(2, [40], 3, Classes(), dropout=0.5, rng=np.random.default_rng(1), weight_scale=1)
    evaluated = net.forward(x, y)  # training defaults to False: dropout off
    assert net.forward(x, y, training=False) == evaluated
    assert net.forward(x, y, training=True) != evaluated


def test_build_without_a_generator_is_seed_0_and_dropout_shares_the_given_one():
    a, b = build(2, [4], 3, Classes()), build(2, [4], 3, Classes(), rng=np.random.default_rng(0))
    for (_, p), (_, q) in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p, q)
    rng = np.random.default_rng(9)
    net = build(2, [4], 3, Classes(), dropout=0.2, rng=rng)
    assert net.layers[2].rng is rng


def test_a_network_whose_first_layer_is_not_dense_backpropagates_through_it():
    rng = np.random.default_rng(3)
    net = Network([Sigmoid(), Dense(3, 2, rng=rng)], Classes())
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)

    def loss():
        return net.forward(x, y)

    loss()
    net.backward(y)
    assert_gradient_matches(net.layers[0].dinputs.copy(), numerical_gradient(loss, x))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_is_finite_looks_at_every_layer(index):
    net = build(2, [4, 4], 3, Classes())
    net.trainable[index].weights[0, 0] = np.nan
    assert not net.is_finite()


def test_is_finite_calls_overflowing_sums_divergence_without_a_warning():
    net = build(2, [4], 3, Classes(), dtype=np.float32)
    net.trainable[0].weights[...] = 3e38  # finite, but their float32 sum is not
    assert not net.is_finite()  # RuntimeWarnings are errors in this suite


def test_build_refuses_a_float_width_with_its_own_message():
    with pytest.raises(ValueError, match=r"^every width must be a whole number >= 1: got 2\.5"):
        build(2, [2.5], 3, Classes())


class Recorder:
    """A layer that passes its inputs on and notes the training flag it was given."""

    def __init__(self):
        self.flags = []

    def forward(self, inputs, training):
        self.flags.append(training)
        return inputs

    def backward(self, dvalues):
        return dvalues


def test_every_layer_is_told_whether_the_network_is_training():
    recorder = Recorder()
    net = Network([Dense(2, 3), recorder], Classes())
    x, y = np.ones((4, 2)), np.zeros(4, dtype=int)
    net.forward(x, y, training=True)
    net.forward(x, y, training=False)
    net.outputs(x)
    net.predict(x)
    net.evaluate(x, y)
    assert recorder.flags == [True, False, False, False, False]
    assert all(type(flag) is bool for flag in recorder.flags)


def test_a_network_without_layers_is_refused_word_for_word():
    with pytest.raises(ValueError, match="^a network needs at least one layer$"):
        Network([], Classes())


def test_is_finite_calls_weights_and_biases_whose_sums_overflow_together_divergence():
    net = build(2, [4], 3, Classes())
    net.trainable[0].weights[0, 0] = 1e308  # each sum is finite, together they are not
    net.trainable[0].biases[0, 0] = 1e308
    assert not net.is_finite()


def test_a_network_evaluated_in_chunks_gives_the_figures_of_one_pass():
    from heads import Classes

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 36)), np.arange(50) % 3
    whole = build(36, [5], 3, Classes(), conv=[2], image_shape=(1, 6, 6),
                  rng=np.random.default_rng(1), dtype=np.float64)
    assert whole.chunk == 1024  # a convolution network evaluates in smaller chunks
    whole.chunk = None
    chunked = build(36, [5], 3, Classes(), conv=[2], image_shape=(1, 6, 6),
                    rng=np.random.default_rng(1), dtype=np.float64)
    chunked.chunk = 16
    expected, got = whole.evaluate(x, y), chunked.evaluate(x, y)
    assert got["accuracy"] == expected["accuracy"]
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-12)
    np.testing.assert_allclose(chunked.head.output, whole.head.output, rtol=1e-12)
    np.testing.assert_allclose(chunked.outputs(x), whole.outputs(x), rtol=1e-12)
    assert build(2, [4], 3, Classes()).chunk == 4096  # a dense one, in larger ones
