import numpy as np
import pytest

import optimizers
from activations import ReLU, Softmax
from heads import AbsoluteError, Binary, Classes, SquaredError
from layers import Dense, Dropout
from losses import SoftmaxCategoricalCrossentropy
from optimizers import SGD, Adagrad, Adam, AdamW, RMSProp
from program.explain import _formula, explain_step, formula
from program.model import Network, build


def test_formula_reads_the_docstring_blocks():
    assert formula(ReLU, "Forward") == ["Y = max(X, 0)                 X, Y: (N, D)"]
    assert formula(Dense, "Backward")[1].startswith("dW = X^T G + l1 sign(W) + 2 l2 W")
    assert formula(optimizers, "Decay")[0] == "lr_t = learning_rate / (1 + decay * t)"
    for cls in (SGD, Adagrad, RMSProp, Adam, AdamW):
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


class Doubling:
    def forward(self, inputs, training):
        return 2 * inputs

    def backward(self, dvalues):
        return 2 * dvalues


def _indented(source, label):
    return [f"      {line}" for line in formula(source, label)]


def _small_network():
    """A layer of the reader's own (no docstring, no arrays), Dense, ReLU, Dropout, Dense."""
    first = Dense(2, 5)
    # 0.123456 shows the 4 decimals, 1e-7 next to 2.0 prints as 0.
    first.weights[:] = [[0.123456, -0.25, 1e-7, 2.0, 7.0], [1.0, 0.5, -1.0, 0.0, 3.0]]
    first.biases[:] = [[0.5, 0.0, 0.0, -1.0, 0.0]]
    second = Dense(5, 4)
    second.weights[:] = np.arange(20).reshape(5, 4) / 20 - 0.5
    layers = [Doubling(), first, ReLU(), Dropout(0.5, rng=np.random.default_rng(1)), second]
    return Network(layers, Classes())


def test_explain_narrates_one_sgd_step_line_by_line():
    # Row 1 is the sample farthest from the origin, so it is the one shown;
    # Doubling makes the first Dense layer's input 2 x[1] = [2, -1].
    x = np.array([[0.5, 0.0], [1.0, -0.5], [0.0, 0.5]])
    y = np.array([0, 3, 2])
    text = explain_step(_small_network(), SGD(0.5, decay=1.0), x, y)
    assert text.splitlines() == [
        "One training step of a 2-5-4 network on 3 samples (float64), optimizer SGD.",
        "N is the batch size; G is the gradient arriving from the layer above.",
        "Numbers shown: row 1 (one sample) of each batch array, row 0 of each parameter.",
        "",
        "FORWARD",
        "  [1] Doubling",
        "      (no 'Forward:' formula in the docstring of Doubling)",
        "  [2] Dense 2 -> 5",
        *_indented(Dense, "Forward"),
        "      X  (3, 2)       X[1, :4] = [ 2. -1.]",
        "      W  (2, 5)       W[0, :4] = [ 0.1235 -0.25    0.      2.     ...]",
        "      b  (1, 5)       b[0, :4] = [ 0.5  0.   0.  -1.  ...]",
        # 2 (0.123456) - 1 + 0.5, 2 (-0.25) - 0.5, 2e-7 + 1, 4 - 1 (and 14 - 3 = 11 next)
        "      Y  (3, 5)       Y[1, :4] = [-0.2531 -1.      1.      3.     ...]",
        "  [3] ReLU",
        *_indented(ReLU, "Forward"),
        "      X  (3, 5)       X[1, :4] = [-0.2531 -1.      1.      3.     ...]",
        "      Y  (3, 5)       Y[1, :4] = [0. 0. 1. 3. ...]",
        "  [4] Dropout, rate 0.5",
        *_indented(Dropout, "Training"),
        "      X  (3, 5)       X[1, :4] = [0. 0. 1. 3. ...]",
        # this seed's mask keeps units 3 and 4 of row 1, scaled by 1 / (1 - 0.5)
        "      Y  (3, 5)       Y[1, :4] = [0. 0. 0. 6. ...]",
        "  [5] Dense 5 -> 4",
        *_indented(Dense, "Forward"),
        "      X  (3, 5)       X[1, :4] = [0. 0. 0. 6. ...]",
        "      W  (5, 4)       W[0, :4] = [-0.5  -0.45 -0.4  -0.35]",
        "      b  (1, 4)       b[0, :4] = [0. 0. 0. 0.]",
        # 6 W[3] + 22 W[4] = 6 [0.1 0.15 0.2 0.25] + 22 [0.3 0.35 0.4 0.45]
        "      Y  (3, 4)       Y[1, :4] = [ 7.2  8.6 10.  11.4]",
        "  [6] Softmax and categorical crossentropy",
        *_indented(Classes, "Forward"),
        "      P  (3, 4)       P[1, :4] = [0.0113 0.046  0.1865 0.7562]",
        "      y[1] = 3",
        "      L = 1.477645  (mean over 3 samples; penalty 0.000000)",
        "",
        "BACKWARD (from the loss down)",
        "  [6] Softmax and categorical crossentropy",
        *_indented(Classes, "Backward"),
        # (P - onehot(3)) / 3
        "      dS (3, 4)       dS[1, :4] = [ 0.0038  0.0153  0.0622 -0.0813]",
        "  [5] Dense 5 -> 4",
        *_indented(Dense, "Backward"),
        "      dW (5, 4)       dW[0, :4] = [-0.392   0.0507  0.1086  0.2327]",
        "      db (1, 4)       db[0, :4] = [-0.2649  0.1208 -0.092   0.236 ]",
        "      dX (3, 5)       dX[1, :4] = [-0.0052 -0.0052 -0.0052 -0.0052 ...]",
        "  [4] Dropout, rate 0.5",
        *_indented(Dropout, "Backward"),
        "      dX (3, 5)       dX[1, :4] = [-0.0104 -0.     -0.     -0.0104 ...]",
        "  [3] ReLU",
        *_indented(ReLU, "Backward"),
        "      dX (3, 5)       dX[1, :4] = [-0.     -0.     -0.     -0.0104 ...]",
        "  [2] Dense 2 -> 5",
        *_indented(Dense, "Backward"),
        "      dW (2, 5)       dW[0, :4] = [ 0.0775  0.      0.     -0.0208 ...]",
        "      db (1, 5)       db[0, :4] = [ 0.0775 -0.0026  0.     -0.0104 ...]",
        "      dX (3, 2)       dX[1, :4] = [-0.0937 -0.0312]",
        "  [1] Doubling",
        "      (no 'Backward:' formula in the docstring of Doubling)",
        "      (dX not computed: the input is the data)",
        "",
        "UPDATE (SGD, step t = 0, lr_t = 0.5)",
        *_indented(optimizers, "Decay"),
        *_indented(SGD, "Update"),
        # after = before - 0.5 g, g the dW and db rows above
        "    dense0.weights (2, 5)",
        "      before  w[0, :4] = [ 0.1235 -0.25    0.      2.     ...]",
        "      after   w[0, :4] = [ 0.0847 -0.25    0.      2.0104 ...]",
        "    dense0.biases (1, 5)",
        "      before  b[0, :4] = [ 0.5  0.   0.  -1.  ...]",
        "      after   b[0, :4] = [ 0.4613  0.0013  0.     -0.9948 ...]",
        "    dense1.weights (5, 4)",
        "      before  w[0, :4] = [-0.5  -0.45 -0.4  -0.35]",
        "      after   w[0, :4] = [-0.304  -0.4753 -0.4543 -0.4664]",
        "    dense1.biases (1, 4)",
        "      before  b[0, :4] = [0. 0. 0. 0.]",
        "      after   b[0, :4] = [ 0.1324 -0.0604  0.046  -0.118 ]",
        "",
        "39 parameters updated once; training repeats this step.",
    ]


def test_explain_shows_the_step_count_and_decayed_rate_of_a_later_step():
    x = np.array([[0.5, 0.0], [1.0, -0.5], [0.0, 0.5]])
    y = np.array([0, 3, 2])
    network, optimizer = _small_network(), SGD(0.5, decay=1.0)
    explain_step(network, optimizer, x, y)
    text = explain_step(network, optimizer, x, y)
    assert "UPDATE (SGD, step t = 1, lr_t = 0.25)" in text.splitlines()
    assert optimizer.iterations == 2


@pytest.mark.parametrize("head, symbol", [(Binary, "P"), (SquaredError, "Y"),
                                          (AbsoluteError, "Y")])
def test_explain_calls_probabilities_p_and_predicted_values_y(head, symbol):
    head = head()
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    net = build(2, [3], 1, head, rng=np.random.default_rng(0))
    lines = explain_step(net, SGD(0.1), x, np.array([0, 1])).splitlines()
    at = lines.index(f"  [4] {head.title}")
    shown = len(formula(type(head), "Forward"))
    assert lines[at + 1 + shown].startswith(f"      {symbol}  (2, 1)       {symbol}[1, :4] = [")
    assert lines[at + 2 + shown] == "      y[1] = 1"


def test_formula_says_which_label_is_missing_and_where():
    with pytest.raises(LookupError, match=r"^no 'Update' formula in the docstring of "
                                          r"<class 'activations.ReLU'>$"):
        formula(ReLU, "Update")
    with pytest.raises(LookupError, match="no 'Forward' formula"):
        formula(Doubling, "Forward")  # no docstring at all


def test_a_missing_formula_is_named_by_class_or_by_repr():
    instance = Doubling()  # an instance has no __name__: its repr names it
    lines = []
    _formula(lines, Doubling, "Forward")
    _formula(lines, instance, "Backward")
    assert lines == ["      (no 'Forward:' formula in the docstring of Doubling)",
                     f"      (no 'Backward:' formula in the docstring of {instance!r})"]
