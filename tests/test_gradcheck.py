import itertools
import types

import numpy as np
import pytest

import activations
from heads import AbsoluteError, Binary, Classes, Head, SquaredError
from layers import Dense, Dropout
from losses import EPS, BinaryCrossentropy, CategoricalCrossentropy
from program import gradcheck
from program.gradcheck import check_network, numerical_gradient, relative_error
from program.model import Network, build


def spiral_like(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)), rng.integers(0, 3, n)


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 0.5])
    grad = numerical_gradient(lambda: float((x**3).sum()), x)
    np.testing.assert_allclose(grad, 3 * np.array([1.0, 4.0, 0.25]), rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 0.5])  # restored


def test_relative_error_floor():
    a, n = np.array([1e-6]), np.array([1.1e-6])
    assert relative_error(a, n) == pytest.approx(0.1 / 2.1)
    assert relative_error(a, n, floor=1e-4) == pytest.approx(1e-7 / 1e-4)
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0


def test_correct_network_passes_with_everything_on():
    x, y = spiral_like()
    net = build(2, [6, 5], 3, Classes(), dropout=0.2, l1=1e-3, l2=1e-3,
                rng=np.random.default_rng(0), dtype=np.float32)
    for layer in net.trainable:  # weights away from the initial 0.01 scale
        layer.weights *= 50
        layer.biases += 0.1
    left_out, results = check_network(net, x, y)
    assert left_out == 0
    assert [name for name, *_ in results] == [name for name, _ in net.parameters()]
    for _, error, checked, _ in results:
        assert error < 1e-6 and checked > 0
    assert net.trainable[0].weights.dtype == np.float32  # the original is untouched


def test_broken_backward_is_caught(monkeypatch):
    x, y = spiral_like()
    net = build(2, [6], 3, Classes(), rng=np.random.default_rng(0))
    net.trainable[0].weights *= 50
    # A ReLU that forgets its mask: the classic bug.
    monkeypatch.setattr(activations.ReLU, "backward",
                        lambda self, dvalues: setattr(self, "dinputs", dvalues) or dvalues)
    _, results = check_network(net, x, y)
    errors = dict((name, error) for name, error, _, _ in results)
    assert errors["dense0.weights"] > 1e-2
    assert errors["dense1.weights"] < 1e-6  # the layer above the bug is still right


def test_points_on_a_kink_are_left_out():
    x, y = spiral_like()
    x[:4] = 0.0  # with zero biases, these put every ReLU input exactly at 0
    left_out, results = check_network(build(2, [6], 3, Classes()), x, y)
    assert left_out == 4
    assert all(error < 1e-5 for _, error, _, _ in results)


@pytest.mark.parametrize("head, n_out, targets", [
    (Binary(), 1, lambda rng, n: rng.integers(0, 2, n)),
    (SquaredError(), 1, lambda rng, n: rng.standard_normal((n, 1))),
    (AbsoluteError(), 2, lambda rng, n: rng.standard_normal((n, 2))),
])
def test_every_head_passes_and_a_broken_one_fails(monkeypatch, head, n_out, targets):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 2)), targets(rng, 40)
    net = build(2, [5], n_out, head, l2=1e-3, rng=rng, weight_scale=0.5)
    _, results = check_network(net, x, y)
    assert all(error < 1e-6 and checked > 0 for _, error, checked, _ in results)
    # The gradient of the loss with respect to the outputs, halved: a wrong head.
    backward = type(head.loss).backward
    monkeypatch.setattr(type(head.loss), "backward",
                        lambda self, dvalues, y_true: backward(self, dvalues, y_true) / 2)
    _, results = check_network(net, x, y)
    assert max(error for _, error, _, _ in results) > 1e-2


def _fake_clock(monkeypatch, start=100.0, tick=0.5):
    """A clock for gradcheck: ``start`` at the first reading, ``tick`` more at each next."""
    ticks = itertools.count()
    clock = types.SimpleNamespace(perf_counter=lambda: start + tick * next(ticks))
    monkeypatch.setattr(gradcheck, "time", clock)


def test_progress_comes_after_one_second_then_every_five(monkeypatch):
    _fake_clock(monkeypatch)  # each checked entry takes half a second
    x, y = spiral_like(10)
    net = build(2, [4], 2, Classes(), rng=np.random.default_rng(0))  # 8 + 4 + 8 + 2 entries
    calls = []
    check_network(net, x, y % 2,
                  progress=lambda done, total, seconds: calls.append((done, total, seconds)))
    assert calls == [(2, 22, 1.0), (12, 22, 6.0), (22, 22, 11.0)]


def test_progress_every_and_total_follow_the_arguments(monkeypatch):
    _fake_clock(monkeypatch, tick=1.0)
    x, y = spiral_like(10)
    net = build(2, [4], 2, Classes(), rng=np.random.default_rng(0))
    calls = []
    check_network(net, x, y % 2, sample=3, every=2.0,
                  progress=lambda *report: calls.append(report))
    # 3 + 3 + 3 + 2 entries; the first report after one second, then every two
    assert calls == [(1, 11, 1.0), (3, 11, 3.0), (5, 11, 5.0), (7, 11, 7.0), (9, 11, 9.0),
                     (11, 11, 11.0)]


def test_no_progress_function_means_no_report_however_long(monkeypatch):
    _fake_clock(monkeypatch, tick=10.0)
    x, y = spiral_like(10)
    left_out, results = check_network(build(2, [3], 3, Classes()), x, y)
    assert left_out == 0 and len(results) == 4


def _perturbed_entries(monkeypatch):
    """Record (name, index) of the entry raised by +h at each evaluation of the loss."""
    seen, base = [], {}

    forward = Network.forward

    def spy(self, x, y, training=False):
        params = dict((name, array.copy()) for name, array in self.parameters())
        base.setdefault(id(self), params)
        for name, array in params.items():
            for index in zip(*np.nonzero(array > base[id(self)][name]), strict=True):
                seen.append((name, tuple(int(i) for i in index)))
        return forward(self, x, y, training)

    monkeypatch.setattr(Network, "forward", spy)
    return seen


def test_sample_checks_that_many_distinct_entries_per_array_drawn_with_the_seed(monkeypatch):
    x, y = spiral_like(20)
    net = build(2, [3], 3, Classes(), rng=np.random.default_rng(0))
    seen = _perturbed_entries(monkeypatch)
    check_network(net, x, y, sample=3)
    # Arrays with more entries than the sample get that many, distinct, drawn in
    # turn from one generator seeded with ``seed`` (0 by default) and taken in
    # order; the 3 biases of each layer are all checked, drawing nothing.
    chooser = np.random.default_rng(0)
    expected = []
    for name, shape in (("dense0.weights", (2, 3)), ("dense0.biases", (1, 3)),
                        ("dense1.weights", (3, 3)), ("dense1.biases", (1, 3))):
        entries = list(np.ndindex(shape))
        if len(entries) > 3:
            entries = [entries[i] for i in sorted(chooser.choice(len(entries), 3, replace=False))]
        expected += [(name, index) for index in entries]
    assert seen == expected
    seen.clear()
    check_network(net, x, y, sample=3, seed=5)
    assert seen != expected and len(seen) == len(set(seen)) == 12


def test_at_most_100_samples_spread_from_the_first_to_the_last():
    x, y = spiral_like(200)
    # Points at the origin sit on the ReLU kink and are counted as left out:
    # of rows 0, 1, 2, 3 and 199, the 100 evenly spread samples take 0, 2 and 199.
    x[[0, 1, 2, 3, 199]] = 0.0
    left_out, _ = check_network(build(2, [3], 3, Classes()), x, y)
    assert left_out == 3
    left_out, _ = check_network(build(2, [3], 3, Classes()), x, y, max_samples=200)
    assert left_out == 5


def test_a_kink_in_any_relu_layer_leaves_the_sample_out():
    x, y = spiral_like(10)
    x[4] = 0.0
    net = build(2, [3, 3], 3, Classes(), rng=np.random.default_rng(0))
    # At the origin the first ReLU's inputs are its biases: one sits at 0, and
    # the second ReLU's inputs, 0.5 W, are away from it.
    net.trainable[0].biases[:] = [[0.0, 0.5, 0.5]]
    net.trainable[1].weights *= 100
    left_out, _ = check_network(net, x, y)
    assert left_out == 1


def test_a_relu_input_of_1e_12_is_not_a_kink():
    x, y = spiral_like(10)
    x[4] = 0.0
    net = build(2, [3], 3, Classes(), rng=np.random.default_rng(0))
    net.trainable[0].biases[:] = 1e-12  # the first layer's inputs at the origin
    assert check_network(net, x, y)[0] == 0
    net.trainable[0].biases[:] = 1e-13
    assert check_network(net, x, y)[0] == 1


def test_an_evaluation_exactly_on_a_relu_kink_counts_as_crossing_it():
    h = 1e-5
    net = build(2, [1], 1, SquaredError())
    net.trainable[0].weights[:] = [[1.0], [0.0]]
    net.trainable[0].biases[:] = h
    # The ReLU input is 0 x 1 + 1 x 0 + h = h: W[1, 0] - h and b - h both put it at exactly 0.
    _, results = check_network(net, np.array([[0.0, 1.0]]), np.array([[0.5]]), h=h)
    assert [skipped for *_, skipped in results] == [1, 1, 0, 0]


def test_a_prediction_exactly_on_its_target_counts_as_crossing_it():
    h = 1e-5
    layer = Dense(1, 1)
    layer.weights[:], layer.biases[:] = 1.0, 0.5
    net = Network([layer], AbsoluteError())
    # The prediction at x = 0 is the bias: 0.5 - h is exactly the target.
    _, results = check_network(net, np.array([[0.0]]), np.array([[0.5 - h]]), h=h)
    assert [skipped for *_, skipped in results] == [0, 1]


def test_regression_targets_are_compared_in_float64_as_the_loss_sees_them():
    if np.finfo(np.longdouble).eps == np.finfo(np.float64).eps:
        pytest.skip("long double is float64 on this platform")
    h = 1e-5
    layer = Dense(1, 1)
    layer.weights[:], layer.biases[:] = 1.0, 0.5
    net = Network([layer], AbsoluteError())
    # A long double target just below 0.5 - h: the loss rounds it to 0.5 - h,
    # exactly the prediction of the bias's - h evaluation, a kink of |y - Y|.
    target = np.longdouble(0.5 - h) - np.finfo(np.longdouble).eps
    assert target < 0.5 - h and np.float64(target) == 0.5 - h
    _, results = check_network(net, np.array([[0.0]]), np.array([[target]]), h=h)
    assert [skipped for *_, skipped in results] == [0, 1]


def test_each_prediction_is_compared_with_its_own_target():
    layer = Dense(1, 1)
    layer.weights[:], layer.biases[:] = 1.0, 0.5
    net = Network([layer], AbsoluteError())
    # Predictions 0.5 and 1.5, targets 5 and 0.5 (a column given as (N,)):
    # the first prediction meets the second target, which is not its own.
    _, results = check_network(net, np.array([[0.0], [1.0]]), np.array([5.0, 0.5]))
    assert [skipped for *_, skipped in results] == [0, 0]


EDGE = np.log((1 - EPS) / EPS)  # the score difference at which a probability is 1 - EPS


@pytest.mark.parametrize("head, biases, target", [
    (Classes, [EDGE, 0.0], 0),   # the target's probability at 1 - EPS
    (Classes, [-EDGE, 0.0], 0),  # ... and at EPS
    (Binary, [EDGE], 1),
    (Binary, [-EDGE], 0),
])
def test_a_probability_crossing_a_clip_edge_is_skipped(head, biases, target):
    layer = Dense(1, len(biases))
    layer.biases[:] = biases
    net = Network([layer], head())
    # x = 0: the weights change nothing; every bias moves the probability across the edge.
    _, results = check_network(net, np.array([[0.0]]), np.array([target]))
    assert [(checked, skipped) for _, _, checked, skipped in results] == [
        (len(biases), 0), (0, len(biases))]


class Given:
    """An output activation that passes the last layer's scores through as probabilities."""

    def forward(self, inputs, training=False):
        self.output = inputs
        return inputs

    def backward(self, dvalues):
        self.dinputs = dvalues
        return dvalues


class GivenClasses(Head):
    task = "classes"

    def __init__(self):
        super().__init__(Given(), CategoricalCrossentropy())


class GivenBinary(Head):
    task = "binary"

    def __init__(self):
        super().__init__(Given(), BinaryCrossentropy())


@pytest.mark.parametrize("head, biases", [
    (GivenClasses, [1 - EPS - 2**-30, 0.5]),  # + h puts the target's probability at 1 - EPS
    (GivenClasses, [EPS + 2**-30, 0.5]),      # - h puts it at EPS
    (GivenBinary, [1 - EPS - 2**-30]),
    (GivenBinary, [EPS + 2**-30]),
])
def test_a_probability_landing_exactly_on_a_clip_edge_counts_as_crossing_it(head, biases):
    layer = Dense(1, len(biases))
    layer.biases[:] = biases
    net = Network([layer], head())
    # h = 2^-30 makes b + h and b - h exact; x = 0 makes the weights change nothing.
    _, results = check_network(net, np.array([[0.0]]), np.array([0]), h=2**-30)
    assert [(checked, skipped) for _, _, checked, skipped in results] == [
        (len(biases), 0), (len(biases) - 1, 1)]


def test_l1_penalised_entries_within_h_of_zero_are_skipped():
    h = 1e-5
    hidden = Dense(2, 4, weight_regularizer_l1=1e-3)  # no L1 on the biases, which are 0
    hidden.weights[:] = [[h, -h, 0.5 * h, 2 * h], [1.0, -1.0, 1.0, -1.0]]
    net = Network([hidden, activations.ReLU(), Dense(4, 1)], SquaredError())
    x, y = np.array([[0.3, 1.0], [-0.2, -1.0]]), np.array([[0.5], [-0.5]])
    _, results = check_network(net, x, y, h=h)
    # |w| <= h: w - h or w + h reaches the kink of |w| at 0; 2 h is safe
    assert [skipped for *_, skipped in results] == [3, 0, 0, 0]
    hidden.weight_regularizer_l1, hidden.bias_regularizer_l1 = 0.0, 1e-3
    _, results = check_network(net, x, y, h=h)
    assert [skipped for *_, skipped in results] == [0, 4, 0, 0]


def test_a_wrong_gradient_of_1e_6_per_entry_shows_as_1e_2(monkeypatch):
    # Every hidden unit is dead (biases of -10), so the loss does not depend on
    # the first layer or the output weights: their true gradients are exactly 0.
    net = build(2, [3], 3, Classes(), rng=np.random.default_rng(0))
    net.trainable[0].biases[:] = -10.0
    backward = Dense.backward

    def off_by_1e_6(self, dvalues, *, input_gradient=True):
        result = backward(self, dvalues, input_gradient=input_gradient)
        self.dweights = self.dweights + 1e-6
        return result

    monkeypatch.setattr(Dense, "backward", off_by_1e_6)
    x, y = spiral_like(10)
    _, results = check_network(net, x, y)
    errors = {name: error for name, error, _, _ in results}
    # ||1e-6 (1, ..., 1)|| / (1e-4 sqrt(n)): the floor of 1e-4 per entry
    assert errors["dense0.weights"] == pytest.approx(1e-2, rel=1e-12)
    assert errors["dense1.weights"] == pytest.approx(1e-2, rel=1e-12)
    assert errors["dense0.biases"] == 0.0


def test_a_backward_that_ignores_the_dropout_mask_is_caught(monkeypatch):
    x, y = spiral_like()
    net = build(2, [6], 3, Classes(), dropout=0.5, rng=np.random.default_rng(0))
    net.trainable[0].weights *= 50
    _, results = check_network(net, x, y)
    assert max(error for _, error, _, _ in results) < 1e-6
    monkeypatch.setattr(Dropout, "backward",
                        lambda self, dvalues: setattr(self, "dinputs", dvalues) or dvalues)
    _, results = check_network(net, x, y)
    assert dict((name, error) for name, error, _, _ in results)["dense0.weights"] > 1e-2


def test_the_check_computes_in_float64_from_float32_data():
    dtypes = []

    class Recording:
        def forward(self, inputs, training):
            dtypes.append(inputs.dtype)
            return inputs

        def backward(self, dvalues):
            return dvalues

    layers = [Recording(), Dense(2, 3, dtype=np.float32), activations.ReLU(),
              Dense(3, 3, dtype=np.float32)]
    x, y = spiral_like(10)
    check_network(Network(layers, Classes()), x.astype(np.float32), y)
    assert set(dtypes) == {np.dtype(np.float64)}


def test_a_perturbation_that_moves_a_pooling_windows_maximum_is_skipped():
    # conv: y = w0 x0 + w1 x1 per pixel; two pixels of the window are (1, 0) and (0, 1), so
    # with w0 == w1 they tie, and w0 +- h moves the maximum from one to the other: central
    # differences then average two slopes. The pool's winners exist only after a forward
    # pass, so a check that looked for them before one would miss this kink.
    from layers import Conv2D, Flatten, MaxPool2D, Reshape

    conv = Conv2D(2, 1, 1)
    conv.weights[...] = 0.5
    x = np.zeros((2, 2, 2, 2))  # two images of two channels, 2 x 2 pixels: one window
    x[:, 0, 0, 0] = 1.0
    x[:, 1, 1, 1] = 1.0
    x[1] *= 2.0
    net = Network([Reshape((2, 2, 2)), conv, MaxPool2D(2), Flatten(),
                   Dense(1, 2, weight_scale=1.0, rng=np.random.default_rng(0))], Classes())
    _, results = check_network(net, x.reshape(2, -1), np.array([0, 1]))
    errors = {name: (error, skipped) for name, error, _, skipped in results}
    assert errors["conv2d0.weights"][1] == 2  # both weights move the maximum
    assert all(error < 1e-6 for error, _ in errors.values())
