import numpy as np
import pytest

import activations
from gradcheck import check_network, numerical_gradient, relative_error
from heads import AbsoluteError, Binary, Classes, SquaredError
from model import build


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
