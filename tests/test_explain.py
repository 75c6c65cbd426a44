import numpy as np
import pytest

import optimizers
from activations import ReLU, Softmax
from explain import explain_step, formula
from layers import Dense, Dropout
from losses import SoftmaxCategoricalCrossentropy
from model import Network
from optimizers import SGD, Adagrad, Adam, RMSProp


def test_formula_reads_the_docstring_blocks():
    assert formula(ReLU, "Forward") == ["Y = max(X, 0)                 X, Y: (N, D)"]
    assert formula(Dense, "Backward")[1].startswith("dW = X^T G + l1 sign(W) + 2 l2 W")
    assert formula(optimizers, "Decay") == ["lr_t = learning_rate / (1 + decay * t)"]
    for cls in (SGD, Adagrad, RMSProp, Adam):
        assert formula(cls, "Update")[0].strip()
    for cls, labels in ((Dense, ("Forward", "Backward")), (ReLU, ("Forward", "Backward")),
                        (Softmax, ("Forward", "Backward")), (Dropout, ("Training", "Backward")),
                        (SoftmaxCategoricalCrossentropy, ("Forward", "Backward"))):
        for label in labels:
            assert formula(cls, label)
    with pytest.raises(LookupError):
        formula(ReLU, "Update")


def test_explain_prints_every_layer_and_takes_one_step():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 2)), np.arange(12) % 3
    net = Network(2, [5], 3, dropout=0.1, l2=1e-3, rng=rng)
    before = net.flat_parameters.copy()
    optimizer = Adam(0.01)
    text = explain_step(net, optimizer, x, y)
    assert optimizer.iterations == 1 and not np.array_equal(before, net.flat_parameters)
    for cls, label in ((Dense, "Forward"), (Dense, "Backward"), (ReLU, "Forward"),
                       (Dropout, "Training"), (SoftmaxCategoricalCrossentropy, "Backward"),
                       (Adam, "Update")):
        for line in formula(cls, label):
            assert line in text
    for shape in ("(12, 2)", "(2, 5)", "(1, 5)", "(12, 5)", "(5, 3)", "(12, 3)"):
        assert shape in text
    assert "dX not computed" in text and "dense1.biases (1, 3)" in text
