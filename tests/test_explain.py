import numpy as np
import pytest

import optimizers
from activations import ReLU, Softmax
from explain import explain_step, formula
from heads import Binary, Classes, SquaredError
from layers import Dense, Dropout
from losses import SoftmaxCategoricalCrossentropy
from model import build
from optimizers import SGD, Adagrad, Adam, RMSProp


def test_formula_reads_the_docstring_blocks():
    assert formula(ReLU, "Forward") == ["Y = max(X, 0)                 X, Y: (N, D)"]
    assert formula(Dense, "Backward")[1].startswith("dW = X^T G + l1 sign(W) + 2 l2 W")
    assert formula(optimizers, "Decay") == ["lr_t = learning_rate / (1 + decay * t)"]
    for cls in (SGD, Adagrad, RMSProp, Adam):
        assert formula(cls, "Update")[0].strip()
    for cls, labels in ((Dense, ("Forward", "Backward")), (ReLU, ("Forward", "Backward")),
                        (Softmax, ("Forward", "Backward")), (Dropout, ("Training", "Backward")),
                        (SoftmaxCategoricalCrossentropy, ("Forward", "Backward")),
                        (Classes, ("Forward", "Backward")), (Binary, ("Forward", "Backward")),
                        (SquaredError, ("Forward", "Backward"))):
        for label in labels:
            assert formula(cls, label)
    with pytest.raises(LookupError):
        formula(ReLU, "Update")


def test_explain_prints_every_layer_and_takes_one_step():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 2)), np.arange(12) % 3
    net = build(2, [5], 3, Classes(), dropout=0.1, l2=1e-3, rng=rng)
    before = [array.copy() for _, array in net.parameters()]
    optimizer = Adam(0.01)
    text = explain_step(net, optimizer, x, y)
    assert optimizer.iterations == 1
    for (name, array), old in zip(net.parameters(), before, strict=True):
        assert not np.array_equal(array, old), name
    for cls, label in ((Dense, "Forward"), (Dense, "Backward"), (ReLU, "Forward"),
                       (Dropout, "Training"), (Classes, "Backward"), (Adam, "Update")):
        for line in formula(cls, label):
            assert line in text
    for shape in ("(12, 2)", "(2, 5)", "(1, 5)", "(12, 5)", "(5, 3)", "(12, 3)"):
        assert shape in text
    assert "dX not computed" in text and "dense1.biases (1, 3)" in text


@pytest.mark.parametrize("head, y", [(Binary(), np.arange(12) % 2),
                                     (SquaredError(), np.linspace(-1, 1, 12).reshape(-1, 1))])
def test_explain_works_for_other_heads(head, y):
    x = np.random.default_rng(0).standard_normal((12, 2))
    net = build(2, [5], 1, head)
    text = explain_step(net, Adam(0.01), x, y)
    assert head.title in text
    for line in formula(type(head), "Backward"):
        assert line in text
