import numpy as np
import pytest

import fast
from activations import Softmax
from heads import AbsoluteError, Binary, Classes, Head, Regression, SquaredError, r_squared
from losses import CategoricalCrossentropy, MeanSquaredError, SoftmaxCategoricalCrossentropy


def test_classes_head_is_softmax_and_crossentropy_fused():
    rng = np.random.default_rng(0)
    scores, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    fused, chained = Classes(), Head(Softmax(), CategoricalCrossentropy())
    assert fused.forward(scores, y) == pytest.approx(chained.forward(scores, y), rel=1e-15)
    np.testing.assert_allclose(fused.backward(y), chained.backward(y), rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(fused.dinputs, fused.backward(y))


def test_classes_head_opts_into_the_fast_softmax_with_the_plain_numbers():
    rng = np.random.default_rng(1)
    scores, y = rng.standard_normal((50, 3)).astype(np.float32), rng.integers(0, 3, 50)
    head, plain = Classes(), SoftmaxCategoricalCrossentropy()
    assert type(head.activation) is fast.Softmax and head.loss.activation is head.activation
    assert head.forward(scores, y) == plain.forward(scores, y)
    np.testing.assert_array_equal(head.output, plain.output)
    np.testing.assert_array_equal(head.backward(y), plain.backward(plain.output, y))


def test_classification_accuracy_is_argmax_against_labels_or_one_hot():
    outputs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    labels = np.array([1, 0, 1, 2])
    assert Classes().accuracy(outputs, labels) == 0.5
    assert Classes().accuracy(outputs, np.eye(3)[labels]) == 0.5


def test_binary_accuracy_thresholds_each_output_at_one_half():
    outputs = np.array([[0.9], [0.4], [0.6], [0.5]])
    assert Binary().accuracy(outputs, np.array([1, 0, 0, 1])) == 0.5
    two = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert Binary().accuracy(two, np.array([[1, 1], [0, 1]])) == 0.75


def test_regression_accuracy_is_the_books_std_over_250():
    y = np.array([[0.0], [1.0], [2.0], [3.0]])  # std 1.118, precision 0.00447
    outputs = y + np.array([[0.001], [-0.004], [0.005], [0.1]])
    assert SquaredError().accuracy(outputs, y) == 0.5
    assert SquaredError().accuracy(outputs, y.ravel()) == 0.5


def test_regression_reports_r_squared():
    y = np.array([[1.0], [2.0], [3.0], [4.0]])
    figures = SquaredError().metrics(y + 0.5, y)
    # SS_res = 4 * 0.25 = 1, SS_tot = 5: R^2 = 0.8
    assert figures["r2"] == pytest.approx(0.8, rel=1e-15) and set(figures) == {"accuracy", "r2"}
    assert r_squared(y, y) == 1.0
    assert r_squared(np.full_like(y, 2.5), y) == 0.0
    assert np.isnan(r_squared(y, np.ones_like(y)))


def test_outputs_per_head():
    assert Classes().n_outputs(5) == 5
    assert Binary().n_outputs(2) == 1
    assert SquaredError().n_outputs(3) == 3
    with pytest.raises(ValueError, match="binary crossentropy needs 2 classes, got 3"):
        Binary().n_outputs(3)


def test_regression_heads_carry_their_loss():
    assert isinstance(SquaredError().loss, MeanSquaredError)
    assert AbsoluteError().task == SquaredError().task == "regression"
    custom = Regression(MeanSquaredError())
    scores, y = np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])
    assert custom.forward(scores, y) == 2.5
    np.testing.assert_array_equal(custom.backward(y), [[1.0], [2.0]])
    np.testing.assert_array_equal(custom.outputs(scores), scores)


def test_predictions_per_head():
    np.testing.assert_array_equal(Classes().predictions(np.array([[0.2, 0.8]])), [1])
    np.testing.assert_array_equal(Binary().predictions(np.array([[0.2], [0.8]])), [[0], [1]])
    np.testing.assert_array_equal(SquaredError().predictions(np.array([[0.3]])), [[0.3]])


@pytest.mark.parametrize("head, y", [
    (Classes(), np.array([0, 2, 1])), (Binary(), np.array([[1], [0], [1]])),
    (SquaredError(), np.array([[0.5], [-1.0], [2.0]])),
    (AbsoluteError(), np.array([[0.5], [-1.0], [2.0]]))])
def test_heads_leave_their_arguments_unchanged(head, y):
    scores = np.array([[0.3, -0.2, 1.0], [1.5, 0.1, -0.4], [-0.7, 0.9, 0.2]])
    if head.task != "classes":
        scores = scores[:, :1]
    scores_copy, y_copy = scores.copy(), y.copy()
    head.forward(scores, y)
    head.backward(y)
    outputs = head.outputs(scores)
    outputs_copy = outputs.copy()
    head.metrics(outputs, y)
    head.predictions(outputs)
    np.testing.assert_array_equal(scores, scores_copy)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(outputs, outputs_copy)


def test_one_hot_labels_give_the_same_accuracy_as_indices():
    outputs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3],
                        [0.8, 0.1, 0.1]])
    labels = np.array([1, 1, 2, 2, 0])
    assert Classes().accuracy(outputs, labels) == Classes().accuracy(outputs, np.eye(3)[labels])
    assert Classes().accuracy(outputs, labels) == 0.6


def test_regression_accuracy_counts_strictly_within_std_over_250():
    y = np.array([[0.0], [2.0], [0.0], [2.0]])  # std 1: the precision is exactly 0.004
    inside, edge = 0.00399, 0.004
    outputs = y + np.array([[inside], [-inside], [edge], [0.00401]])
    assert SquaredError().accuracy(outputs, y) == 0.5  # the edge itself is not within


def test_r_squared_of_several_targets_and_of_flat_targets():
    y = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    outputs = y + np.array([[0.5, 0.0], [0.0, 0.0], [-0.5, 0.0]])
    # Each column against its own mean: SS_tot = 2 + 200, SS_res = 0.5.
    assert r_squared(outputs, y) == pytest.approx(1 - 0.5 / 202, rel=1e-15)
    flat = np.array([1.0, 2.0, 3.0])
    assert r_squared(flat.reshape(-1, 1) + 0.5, flat) == pytest.approx(1 - 0.75 / 2, rel=1e-15)
    assert np.isnan(r_squared(np.ones((2, 1)), np.array([[4.0], [4.0]])))


def test_the_absolute_error_head_has_the_absolute_error_loss():
    from losses import MeanAbsoluteError

    head = AbsoluteError()
    assert isinstance(head.loss, MeanAbsoluteError) and head.task == "regression"
    assert head.forward(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])) == 1.5
