import numpy as np

from activations import ReLU
from layers import Dense, Dropout
from model import Network


def test_architecture_and_regularisation_placement():
    net = Network(2, [8, 4], 3, dropout=0.1, l1=1e-3, l2=2e-3)
    kinds = [type(layer) for layer in net.layers]
    assert kinds == [Dense, ReLU, Dropout, Dense, ReLU, Dropout, Dense]
    hidden, output = net.dense_layers[:-1], net.dense_layers[-1]
    assert all(layer.weight_regularizer_l1 == layer.bias_regularizer_l1 == 1e-3
               for layer in hidden)
    assert all(layer.weight_regularizer_l2 == layer.bias_regularizer_l2 == 2e-3
               for layer in hidden)
    assert output.weight_regularizer_l2 == 0 and output.weights.shape == (4, 3)


def test_evaluate_has_dropout_off_and_changes_nothing():
    rng = np.random.default_rng(0)
    net = Network(2, [16], 3, dropout=0.5, rng=rng)
    x, y = rng.standard_normal((20, 2)), rng.integers(0, 3, 20)
    params = [p.copy() for _, p in net.parameters()]
    first, second = net.evaluate(x, y), net.evaluate(x, y)
    assert first == second
    assert all(np.array_equal(a, b) for a, b in
               zip(params, (p for _, p in net.parameters()), strict=True))


def test_is_finite_detects_nan_weights():
    net = Network(2, [4], 3)
    assert net.is_finite()
    net.dense_layers[0].weights[0, 0] = np.nan
    assert not net.is_finite()
